/*
 * types.ts - the shapes of the API's JSON documents the UI reads.
 * The source of truth is GET /api/v1/openapi.json; keep these in step.
 */

export type Role = 'viewer' | 'labeler' | 'member' | 'admin';
export const ROLES: Role[] = ['viewer', 'labeler', 'member', 'admin'];

export interface User {
  id: number;
  username: string;
  display_name: string | null;
  email: string | null;
  role: Role;
  disabled: boolean;
  created_at: string;
}

export interface OrgMembership {
  id: number;
  name: string;
  role: Role;
  created_at: string;
}

export interface Me {
  user: User;
  org: { id: number; name: string };
  role: Role;
  orgs: OrgMembership[];
  csrf_token?: string;
}

export interface Token {
  id: number;
  name: string;
  prefix: string;
  org_id: number;
  org: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface NewToken {
  id: number;
  name: string;
  token: string;
  org_id: number;
  expires_at: string | null;
  note?: string;
}

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';
export const JOB_STATES: JobState[] = ['queued', 'running', 'succeeded', 'failed', 'canceled'];

export interface Job {
  id: number;
  kind: string;
  state: JobState;
  progress: number;
  message: string | null;
  error: string | null;
  attempts: number;
  max_attempts: number;
  created_by: number | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  cancel_requested: boolean;
  payload: unknown;
  result: unknown;
  worker: string | null;
  run_after: string | null;
}

export interface LogLine {
  seq: number;
  at: string;
  line: string;
}

export interface LogPage {
  items: LogLine[];
  next_after: number;
  finished: boolean;
}

export function jobActive(j: Pick<Job, 'state'>): boolean {
  return j.state === 'queued' || j.state === 'running';
}
