/*
 * roles.ts - what a role may do, mirroring the server's table
 * (src/auth/auth.c, auth_role_allows). The UI uses it only to hide buttons a
 * user cannot use; the server decides, and its 403 message is shown if the
 * two ever disagree.
 */
import type { Role } from './types';

export type Permission = 'read' | 'annotate' | 'write' | 'admin';

const rank: Record<Role, number> = { viewer: 0, labeler: 1, member: 2, admin: 3 };
const needs: Record<Permission, number> = { read: 0, annotate: 1, write: 2, admin: 3 };

export function can(role: Role | undefined, perm: Permission): boolean {
  if (!role) return false;
  return rank[role] >= needs[perm];
}

export const roleHelp: Record<Role, string> = {
  viewer: 'reads everything',
  labeler: 'reads and annotates',
  member: 'reads, annotates and changes data, models and jobs',
  admin: 'everything, including members and roles',
};
