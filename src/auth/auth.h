/*
 * auth.h - organizations, users, memberships and roles, API tokens and web
 * sessions, passwords.
 *
 * Roles and permissions. A user's role in an organization is one of
 * viewer < labeler < member < admin. An endpoint names the permission it
 * needs; auth_role_allows() is the single table that says which role has
 * which permission (tests check every cell):
 *
 *               AUTH  READ  ANNOTATE  WRITE  ADMIN
 *     viewer     x     x
 *     labeler    x     x      x
 *     member     x     x      x        x
 *     admin      x     x      x        x      x
 *
 *   AUTH      any signed-in user acting on themselves (profile, own tokens)
 *   READ      see the organization's data
 *   ANNOTATE  write annotations and reviews
 *   WRITE     create and change data, datasets, experiments, models, jobs
 *   ADMIN     members, roles, organization settings, webhooks
 *
 * Credentials. API tokens ("cvops_" + 32 base32 characters, 160 bits) and
 * session cookies are random; only their SHA-256 is stored. A token belongs
 * to one user in one organization. Sessions carry a CSRF token that every
 * write must echo in the X-CSRF-Token header. Passwords are hashed with
 * argon2id (19 MiB, 2 passes: the OWASP baseline).
 *
 * Job-scoped tokens. A processing's command gets a token that is a real
 * token row tied to its job (api_token.job_id) with a short list of grants:
 * (kind, id, access) such as ("job", 42, write), ("dataset-version", 12,
 * read). Such a token only works while its job is running and before it
 * expires, is never cached (every request checks the database, so it stops
 * the moment the job ends), and may only call the routes the HTTP hook
 * lists for scoped tokens, on resources its grants name
 * (auth_scope_allows); anything else answers 403.
 *
 * Resolving a credential costs a hash and, at most every few seconds per
 * credential, a database lookup: a small cache keeps recent identities.
 * Revoking a token or changing a role clears this process's cache at once;
 * other replicas see it within the cache lifetime (auth_cache_new's ttl).
 */
#ifndef CVOPS_AUTH_AUTH_H
#define CVOPS_AUTH_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "store/db.h"

typedef enum { ROLE_NONE = 0, ROLE_VIEWER, ROLE_LABELER, ROLE_MEMBER, ROLE_ADMIN, ROLE__COUNT } auth_role;
typedef enum { PERM_PUBLIC = 0, PERM_AUTH, PERM_READ, PERM_ANNOTATE, PERM_WRITE, PERM_ADMIN, PERM__COUNT } auth_perm;

bool auth_role_allows(auth_role role, auth_perm perm);
const char *auth_role_name(auth_role role);
auth_role auth_role_parse(const char *s); /* ROLE_NONE if unknown */
const char *auth_perm_name(auth_perm p);

#define AUTH_TOKEN_MAX 128
#define AUTH_NAME_MAX 64

/* --- passwords --------------------------------------------------------- */
int auth_password_policy(const char *pw, err *e); /* 8..256 bytes */
int auth_password_hash(const char *pw, char *out, size_t out_size, err *e);
bool auth_password_verify(const char *encoded, const char *pw);

/* --- identities and the cache ---------------------------------------------- */
#define AUTH_GRANTS_MAX 8
enum { AUTH_ACCESS_READ = 1, AUTH_ACCESS_WRITE = 2 };

/* One thing a job-scoped token may reach: kind is "job", "datalake",
 * "dataset-version", "model-version" or "experiment"; write implies read. */
typedef struct auth_grant {
    char kind[24];
    int64_t id;
    int access;
} auth_grant;

typedef struct auth_identity {
    int64_t user_id, org_id, token_id, session_id;
    auth_role role;
    char username[AUTH_NAME_MAX + 1];
    char csrf[48]; /* sessions only */
    int64_t scope_job; /* a job-scoped token: its job; 0 for a full credential */
    int ngrants;
    auth_grant grants[AUTH_GRANTS_MAX];
} auth_identity;

typedef struct auth_cache auth_cache;
auth_cache *auth_cache_new(int ttl_ms);
/* Also writes the token uses still pending (see auth_resolve_token): free
 * the cache before closing the database given to auth_resolve_token. */
void auth_cache_free(auth_cache *c);
void auth_cache_clear(auth_cache *c);

/* Bearer token -> identity. ERR_UNAUTHORIZED with a reason otherwise. The
 * token's last use is written by the cache's own thread within about a
 * second (at most once a minute per token on cache hits). */
int auth_resolve_token(db *d, auth_cache *cache, const char *token, auth_identity *out, err *e);
/* Session cookie value -> identity (with its CSRF token). */
int auth_resolve_session(db *d, auth_cache *cache, const char *cookie, auth_identity *out, err *e);

/* --- organizations, users, memberships --------------------------------------- */
int auth_org_create(db_conn *c, const char *name, int64_t owner_user, int64_t *org_id, err *e);
int auth_user_create(db_conn *c, int64_t org_id, const char *username, const char *password,
                     auth_role role, const char *display_name, const char *email, int64_t *user_id,
                     err *e);
int auth_member_add(db_conn *c, int64_t org_id, const char *username, auth_role role,
                    int64_t *user_id, err *e);
/* Changes a member's role / removes a member; refuses to leave an
 * organization without an admin. */
int auth_member_set_role(db_conn *c, int64_t org_id, int64_t user_id, auth_role role, err *e);
int auth_member_remove(db_conn *c, int64_t org_id, int64_t user_id, err *e);
int auth_user_set_disabled(db_conn *c, int64_t user_id, bool disabled, err *e);
int auth_password_change(db_conn *c, int64_t user_id, const char *old_pw, const char *new_pw,
                         err *e);

/* Checks a username/password; picks org_id (0: the user's first
 * organization). Fills user_id, org_id, role. */
int auth_login(db_conn *c, const char *username, const char *password, int64_t org_id,
               auth_identity *out, err *e);
/* The role of user in org, or ROLE_NONE. */
auth_role auth_role_in(db_conn *c, int64_t user_id, int64_t org_id);

/* --- tokens and sessions --------------------------------------------------- */
/* Creates a token; the secret goes to token_out (shown once). expires_at 0 =
 * never. */
int auth_token_create(db_conn *c, int64_t user_id, int64_t org_id, const char *name,
                      int64_t expires_at, char *token_out, size_t out_size, int64_t *token_id,
                      err *e);
/* Stores a given secret as a token (bootstrap); must be >= 16 bytes. */
int auth_token_import(db_conn *c, int64_t user_id, int64_t org_id, const char *name,
                      const char *secret, err *e);
int auth_token_revoke(db_conn *c, int64_t user_id, int64_t token_id, err *e);
/* A token for one job of org, acting as user, limited to grants, expiring
 * at expires_at (and anyway when the job stops running). */
int auth_token_create_scoped(db_conn *c, int64_t user_id, int64_t org_id, int64_t job_id,
                             int64_t expires_at, const auth_grant *grants, int ngrants,
                             char *token_out, size_t out_size, int64_t *token_id, err *e);
/* Revokes every token of a job (when it ends). */
int auth_job_tokens_revoke(db_conn *c, int64_t job_id, err *e);
/* Full credentials may reach anything of their organization; scoped ones
 * what a grant names with at least that access. */
bool auth_scope_allows(const auth_identity *id, const char *kind, int64_t ref, int access);
/* Any grant of this kind with at least that access. */
bool auth_scope_has_kind(const auth_identity *id, const char *kind, int access);
int auth_session_create(db_conn *c, int64_t user_id, int64_t org_id, int64_t ttl_ms,
                        char *cookie_out, size_t cookie_size, char *csrf_out, size_t csrf_size,
                        err *e);
int auth_session_end(db_conn *c, int64_t session_id, err *e);
int auth_session_set_org(db_conn *c, int64_t session_id, int64_t user_id, int64_t org_id, err *e);

/* --- listings (JSON) --------------------------------------------------------- */
int auth_list_members(db_conn *c, int64_t org_id, jw *w, err *e);
int auth_list_tokens(db_conn *c, int64_t user_id, jw *w, err *e);
int auth_list_orgs(db_conn *c, int64_t user_id, jw *w, err *e);
int auth_write_user(db_conn *c, int64_t user_id, int64_t org_id, jw *w, err *e);

/* --- first start ----------------------------------------------------------- */
typedef struct auth_bootstrap_result {
    bool created;
    char password[80]; /* generated or given */
    char token[AUTH_TOKEN_MAX];
    bool password_generated, token_generated;
} auth_bootstrap_result;

/* On a store without users: creates the organization "default" and the user
 * "admin" (role admin) with password/token from the arguments or random
 * ones. Does nothing on a store that has users. Safe against concurrent
 * starts. */
int auth_bootstrap(db *d, const char *password, const char *token, auth_bootstrap_result *out,
                   err *e);

/* Schema (migration text) for the tables this module owns. */
extern const char auth_schema_v1[];
extern const char auth_schema_v62[]; /* job-scoped tokens */

#endif
