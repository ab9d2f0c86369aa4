/*
 * auth.c - organizations, users, roles, tokens, sessions; see auth.h.
 */
#include "auth/auth.h"

#include <argon2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/util.h"

const char auth_schema_v1[] =
    "CREATE TABLE org (id {{ID}}, name TEXT NOT NULL UNIQUE, created_at BIGINT NOT NULL);"
    "CREATE TABLE app_user (id {{ID}}, username TEXT NOT NULL UNIQUE, display_name TEXT,"
    " email TEXT, password_hash TEXT, disabled INTEGER NOT NULL DEFAULT 0,"
    " created_at BIGINT NOT NULL);"
    "CREATE TABLE membership (org_id BIGINT NOT NULL REFERENCES org(id) ON DELETE CASCADE,"
    " user_id BIGINT NOT NULL REFERENCES app_user(id) ON DELETE CASCADE, role TEXT NOT NULL,"
    " created_at BIGINT NOT NULL, PRIMARY KEY (org_id, user_id));"
    "CREATE INDEX membership_user ON membership (user_id);"
    "CREATE TABLE api_token (id {{ID}},"
    " user_id BIGINT NOT NULL REFERENCES app_user(id) ON DELETE CASCADE,"
    " org_id BIGINT NOT NULL REFERENCES org(id) ON DELETE CASCADE, name TEXT NOT NULL,"
    " secret_hash TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL, created_at BIGINT NOT NULL,"
    " expires_at BIGINT, last_used_at BIGINT, revoked_at BIGINT);"
    "CREATE INDEX api_token_user ON api_token (user_id);"
    "CREATE TABLE web_session (id {{ID}},"
    " user_id BIGINT NOT NULL REFERENCES app_user(id) ON DELETE CASCADE,"
    " org_id BIGINT NOT NULL REFERENCES org(id) ON DELETE CASCADE,"
    " secret_hash TEXT NOT NULL UNIQUE, csrf TEXT NOT NULL, created_at BIGINT NOT NULL,"
    " expires_at BIGINT NOT NULL, ended_at BIGINT);";

const char auth_schema_v62[] =
    "ALTER TABLE api_token ADD COLUMN job_id BIGINT;"
    "CREATE INDEX api_token_job ON api_token (job_id);"
    "CREATE TABLE token_grant (token_id BIGINT NOT NULL REFERENCES api_token(id) ON DELETE CASCADE,"
    " kind TEXT NOT NULL, ref_id BIGINT NOT NULL, access INTEGER NOT NULL,"
    " PRIMARY KEY (token_id, kind, ref_id));";

/* --- roles ------------------------------------------------------------- */

static const bool role_table[ROLE__COUNT][PERM__COUNT] = {
    /*               PUBLIC AUTH  READ   ANNOT  WRITE  ADMIN */
    [ROLE_NONE] = {true, false, false, false, false, false},
    [ROLE_VIEWER] = {true, true, true, false, false, false},
    [ROLE_LABELER] = {true, true, true, true, false, false},
    [ROLE_MEMBER] = {true, true, true, true, true, false},
    [ROLE_ADMIN] = {true, true, true, true, true, true},
};

bool auth_role_allows(auth_role role, auth_perm perm)
{
    if ((unsigned)role >= ROLE__COUNT || (unsigned)perm >= PERM__COUNT)
        return false;
    return role_table[role][perm];
}

static const char *role_names[ROLE__COUNT] = {"none", "viewer", "labeler", "member", "admin"};

const char *auth_role_name(auth_role role)
{
    return (unsigned)role < ROLE__COUNT ? role_names[role] : "none";
}

auth_role auth_role_parse(const char *s)
{
    for (int i = 1; i < ROLE__COUNT; i++)
        if (s && strcmp(s, role_names[i]) == 0)
            return (auth_role)i;
    return ROLE_NONE;
}

const char *auth_perm_name(auth_perm p)
{
    static const char *n[PERM__COUNT] = {"public", "auth", "read", "annotate", "write", "admin"};
    return (unsigned)p < PERM__COUNT ? n[p] : "?";
}

/* --- passwords --------------------------------------------------------- */

#define PW_T_COST 2
#define PW_M_COST 19456 /* KiB */
#define PW_LANES 1

int auth_password_policy(const char *pw, err *e)
{
    size_t n = pw ? strlen(pw) : 0;
    if (n < 8)
        return err_set(e, ERR_INVALID, "the password must be at least 8 characters long");
    if (n > 256)
        return err_set(e, ERR_INVALID, "the password must be at most 256 bytes long");
    return 0;
}

int auth_password_hash(const char *pw, char *out, size_t out_size, err *e)
{
    unsigned char salt[16];
    rand_bytes(salt, sizeof salt);
    int rc = argon2id_hash_encoded(PW_T_COST, PW_M_COST, PW_LANES, pw, strlen(pw), salt,
                                   sizeof salt, 32, out, out_size);
    if (rc != ARGON2_OK)
        return err_set(e, ERR_INTERNAL, "cannot hash the password: %s", argon2_error_message(rc));
    return 0;
}

bool auth_password_verify(const char *encoded, const char *pw)
{
    if (!encoded || !pw)
        return false;
    return argon2id_verify(encoded, pw, strlen(pw)) == ARGON2_OK;
}

/* --- the identity cache ----------------------------------------------------- */

#define CACHE_SLOTS 4096

typedef struct {
    /* The secret itself: a cache hit costs a string compare, not a SHA-256
     * (the hash is only computed to look a credential up in the database). */
    char key[AUTH_TOKEN_MAX + 1];
    bool session;
    int64_t cached_at, expires_at, last_used_written;
    auth_identity id;
} cache_slot;

/* A token's last use, waiting to be written. */
typedef struct {
    int64_t token_id, at;
} use_rec;

#define USE_PENDING_MAX 256

struct auth_cache {
    pthread_mutex_t mu;
    int ttl_ms;
    cache_slot slots[CACHE_SLOTS];
    /* Last uses of tokens are written by a thread of their own (started at
     * the first one), at most one row update per token and second: a
     * request never waits for the database's writer to record them, and a
     * job's token (checked on every request) does not write on every one. */
    pthread_mutex_t umu;
    pthread_cond_t ucv;
    db *udb;
    use_rec pending[USE_PENDING_MAX];
    int npending;
    bool ustarted, ustop;
    pthread_t uthread;
};

auth_cache *auth_cache_new(int ttl_ms)
{
    auth_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->umu, NULL);
    pthread_cond_init(&c->ucv, NULL);
    c->ttl_ms = ttl_ms;
    return c;
}

static void write_uses(db *d, const use_rec *u, int n)
{
    err e;
    db_conn *conn = db_get(d, &e);
    if (!conn) {
        log_warn("cannot record the last use of %d token(s): %s", n, e.msg);
        return;
    }
    for (int i = 0; i < n; i++)
        if (db_run(conn, &e,
                   "UPDATE api_token SET last_used_at = $1 WHERE id = $2 AND"
                   " (last_used_at IS NULL OR last_used_at < $1)",
                   DBI(u[i].at), DBI(u[i].token_id)) < 0)
            log_warn("cannot record the last use of token %lld: %s", (long long)u[i].token_id,
                     e.msg);
    db_put(conn);
}

static void *use_main(void *arg)
{
    auth_cache *c = arg;
    use_rec batch[USE_PENDING_MAX];
    pthread_mutex_lock(&c->umu);
    for (;;) {
        while (c->npending == 0 && !c->ustop)
            pthread_cond_wait(&c->ucv, &c->umu);
        if (c->npending == 0)
            break; /* stopping, nothing left */
        int n = c->npending;
        memcpy(batch, c->pending, (size_t)n * sizeof *batch);
        c->npending = 0;
        db *d = c->udb;
        pthread_mutex_unlock(&c->umu);
        write_uses(d, batch, n);
        pthread_mutex_lock(&c->umu);
        /* gather what comes in the next second (a stop ends the wait) */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        while (!c->ustop && pthread_cond_timedwait(&c->ucv, &c->umu, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&c->umu);
    return NULL;
}

/* Records that a token was used now: written within about a second by the
 * cache's thread, or at once if there is no cache or thread (or it stopped). */
static void record_use(auth_cache *c, db *d, int64_t token_id)
{
    int64_t now = time_now_ms();
    if (c) {
        pthread_mutex_lock(&c->umu);
        if (!c->ustarted) {
            c->udb = d;
            c->ustarted = pthread_create(&c->uthread, NULL, use_main, c) == 0;
        }
        if (c->ustarted && !c->ustop) {
            int i = 0;
            while (i < c->npending && c->pending[i].token_id != token_id)
                i++;
            if (i < c->npending)
                c->pending[i].at = now;
            else if (c->npending < USE_PENDING_MAX)
                c->pending[c->npending++] = (use_rec){token_id, now};
            /* else: full; the token's next use records it */
            pthread_cond_signal(&c->ucv);
            pthread_mutex_unlock(&c->umu);
            return;
        }
        pthread_mutex_unlock(&c->umu);
    }
    use_rec u = {token_id, now};
    write_uses(d, &u, 1);
}

void auth_cache_free(auth_cache *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->umu);
    c->ustop = true;
    pthread_cond_signal(&c->ucv);
    bool started = c->ustarted;
    pthread_mutex_unlock(&c->umu);
    if (started)
        pthread_join(c->uthread, NULL); /* writes what is pending */
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->umu);
    pthread_cond_destroy(&c->ucv);
    free(c);
}

void auth_cache_clear(auth_cache *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    memset(c->slots, 0, sizeof c->slots);
    pthread_mutex_unlock(&c->mu);
}

static unsigned slot_of(const char *key)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return (unsigned)(h % CACHE_SLOTS);
}

static bool same_key(const char *a, const char *b)
{
    size_t n = strlen(a);
    return n == strlen(b) && ct_equal(a, b, n);
}

/* 1 = hit (out filled, *touch says the caller should record last use). */
static int cache_get(auth_cache *c, const char *key, bool session, auth_identity *out,
                     bool *touch)
{
    if (!c || c->ttl_ms <= 0)
        return 0;
    int64_t now = time_now_ms();
    int hit = 0;
    pthread_mutex_lock(&c->mu);
    cache_slot *s = &c->slots[slot_of(key)];
    if (s->session == session && same_key(s->key, key) && now - s->cached_at < c->ttl_ms &&
        (s->expires_at == 0 || s->expires_at > now)) {
        *out = s->id;
        hit = 1;
        *touch = now - s->last_used_written > 60000;
        if (*touch)
            s->last_used_written = now;
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

static void cache_put(auth_cache *c, const char *key, bool session, const auth_identity *id,
                      int64_t expires_at)
{
    if (!c || c->ttl_ms <= 0)
        return;
    int64_t now = time_now_ms();
    pthread_mutex_lock(&c->mu);
    cache_slot *s = &c->slots[slot_of(key)];
    snprintf(s->key, sizeof s->key, "%s", key);
    s->session = session;
    s->cached_at = now;
    s->expires_at = expires_at;
    s->last_used_written = now;
    s->id = *id;
    pthread_mutex_unlock(&c->mu);
}

static void secret_hash(const char *secret, unsigned char out[32], char hex[65])
{
    sha256(secret, strlen(secret), out);
    hex_encode(out, 32, hex);
}

/* The grants of a job-scoped token, only while its job runs. */
static int load_grants(db_conn *c, auth_identity *id, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT g.kind, g.ref_id, g.access FROM token_grant g"
                          " JOIN job j ON j.id = $2 AND j.state = 'running' AND j.org_id = $3"
                          " WHERE g.token_id = $1 ORDER BY g.kind, g.ref_id",
                          DBI(id->token_id), DBI(id->scope_job), DBI(id->org_id));
    if (!s)
        return -1;
    int rc;
    id->ngrants = 0;
    while ((rc = db_step(s, e)) == DB_ROW && id->ngrants < AUTH_GRANTS_MAX) {
        auth_grant *g = &id->grants[id->ngrants++];
        snprintf(g->kind, sizeof g->kind, "%s", db_col_text(s, 0));
        g->id = db_col_i64(s, 1);
        g->access = (int)db_col_i64(s, 2);
    }
    while (rc == DB_ROW)
        rc = db_step(s, e);
    db_done(s);
    if (rc < 0)
        return -1;
    if (id->ngrants == 0)
        return err_set(e, ERR_UNAUTHORIZED,
                       "this token belonged to job %lld, which is no longer running; job tokens "
                       "stop working when their job ends",
                       (long long)id->scope_job);
    return 0;
}

bool auth_scope_allows(const auth_identity *id, const char *kind, int64_t ref, int access)
{
    if (!id->scope_job)
        return true;
    for (int i = 0; i < id->ngrants; i++)
        if (id->grants[i].id == ref && id->grants[i].access >= access &&
            strcmp(id->grants[i].kind, kind) == 0)
            return true;
    return false;
}

bool auth_scope_has_kind(const auth_identity *id, const char *kind, int access)
{
    if (!id->scope_job)
        return true;
    for (int i = 0; i < id->ngrants; i++)
        if (id->grants[i].access >= access && strcmp(id->grants[i].kind, kind) == 0)
            return true;
    return false;
}

int auth_resolve_token(db *d, auth_cache *cache, const char *token, auth_identity *out, err *e)
{
    size_t n = token ? strlen(token) : 0;
    if (n < 16 || n > AUTH_TOKEN_MAX)
        return err_set(e, ERR_UNAUTHORIZED, "the API token is malformed; tokens look like cvops_...");
    bool touch = false;
    if (cache_get(cache, token, false, out, &touch)) {
        if (touch)
            record_use(cache, d, out->token_id);
        return 0;
    }
    unsigned char key[32];
    char hex[65];
    secret_hash(token, key, hex);
    db_conn *c = db_get(d, e);
    if (!c)
        return -1;
    db_stmt *s = db_query(c, e,
                          "SELECT t.id, t.user_id, t.org_id, t.expires_at, t.revoked_at, u.username,"
                          " u.disabled, m.role, t.job_id FROM api_token t JOIN app_user u ON u.id = t.user_id"
                          " LEFT JOIN membership m ON m.user_id = t.user_id AND m.org_id = t.org_id"
                          " WHERE t.secret_hash = $1",
                          DBT(hex));
    if (!s) {
        db_put(c);
        return -1;
    }
    int rc = db_step(s, e);
    if (rc < 0) {
        db_done(s);
        db_put(c);
        return -1;
    }
    if (rc == DB_DONE) {
        db_done(s);
        db_put(c);
        return err_set(e, ERR_UNAUTHORIZED, "the API token is not valid; create one with "
                                            "'cvops tokens create' or log in again");
    }
    int64_t now = time_now_ms();
    auth_identity id = {0};
    id.token_id = db_col_i64(s, 0);
    id.user_id = db_col_i64(s, 1);
    id.org_id = db_col_i64(s, 2);
    int64_t expires = db_col_null(s, 3) ? 0 : db_col_i64(s, 3);
    bool revoked = !db_col_null(s, 4);
    snprintf(id.username, sizeof id.username, "%s", db_col_text(s, 5));
    bool disabled = db_col_i64(s, 6) != 0;
    id.role = db_col_null(s, 7) ? ROLE_NONE : auth_role_parse(db_col_text(s, 7));
    id.scope_job = db_col_null(s, 8) ? 0 : db_col_i64(s, 8);
    db_done(s);
    int result = 0;
    if (revoked)
        result = err_set(e, ERR_UNAUTHORIZED, "the API token was revoked");
    else if (expires && expires <= now)
        result = err_set(e, ERR_UNAUTHORIZED, "the API token expired; create a new one");
    else if (disabled)
        result = err_set(e, ERR_UNAUTHORIZED, "user '%s' is disabled", id.username);
    else if (id.role == ROLE_NONE)
        result = err_set(e, ERR_UNAUTHORIZED,
                         "user '%s' is no longer a member of this token's organization",
                         id.username);
    if (result == 0 && id.scope_job)
        result = load_grants(c, &id, e);
    if (result == 0) {
        record_use(cache, d, id.token_id);
        /* a job's token is checked every time: it must stop with its job */
        if (!id.scope_job)
            cache_put(cache, token, false, &id, expires);
        *out = id;
    }
    db_put(c);
    return result;
}

int auth_resolve_session(db *d, auth_cache *cache, const char *cookie, auth_identity *out, err *e)
{
    size_t n = cookie ? strlen(cookie) : 0;
    if (n < 16 || n > AUTH_TOKEN_MAX)
        return err_set(e, ERR_UNAUTHORIZED, "the session cookie is malformed; log in again");
    bool touch;
    if (cache_get(cache, cookie, true, out, &touch))
        return 0;
    unsigned char key[32];
    char hex[65];
    secret_hash(cookie, key, hex);
    db_conn *c = db_get(d, e);
    if (!c)
        return -1;
    db_stmt *s = db_query(c, e,
                          "SELECT w.id, w.user_id, w.org_id, w.expires_at, w.ended_at, w.csrf,"
                          " u.username, u.disabled, m.role FROM web_session w"
                          " JOIN app_user u ON u.id = w.user_id"
                          " LEFT JOIN membership m ON m.user_id = w.user_id AND m.org_id = w.org_id"
                          " WHERE w.secret_hash = $1",
                          DBT(hex));
    if (!s) {
        db_put(c);
        return -1;
    }
    int rc = db_step(s, e);
    int result = 0;
    auth_identity id = {0};
    int64_t expires = 0;
    if (rc < 0) {
        result = -1;
    } else if (rc == DB_DONE) {
        result = err_set(e, ERR_UNAUTHORIZED, "the session is not valid; log in again");
    } else {
        id.session_id = db_col_i64(s, 0);
        id.user_id = db_col_i64(s, 1);
        id.org_id = db_col_i64(s, 2);
        expires = db_col_i64(s, 3);
        bool ended = !db_col_null(s, 4);
        snprintf(id.csrf, sizeof id.csrf, "%s", db_col_text(s, 5));
        snprintf(id.username, sizeof id.username, "%s", db_col_text(s, 6));
        bool disabled = db_col_i64(s, 7) != 0;
        id.role = db_col_null(s, 8) ? ROLE_NONE : auth_role_parse(db_col_text(s, 8));
        if (ended || expires <= time_now_ms())
            result = err_set(e, ERR_UNAUTHORIZED, "the session has ended; log in again");
        else if (disabled)
            result = err_set(e, ERR_UNAUTHORIZED, "user '%s' is disabled", id.username);
        else if (id.role == ROLE_NONE)
            result = err_set(e, ERR_UNAUTHORIZED, "you are no longer a member of this "
                                                  "organization; log in again");
    }
    db_done(s);
    db_put(c);
    if (result == 0) {
        cache_put(cache, cookie, true, &id, expires);
        *out = id;
    }
    return result;
}

/* --- organizations and users ----------------------------------------------------- */

int auth_org_create(db_conn *c, const char *name, int64_t owner_user, int64_t *org_id, err *e)
{
    if (name_check("organization name", name, AUTH_NAME_MAX, e))
        return -1;
    bool own_tx = !db_in_tx(c);
    if (own_tx && db_begin(c, e))
        return -1;
    int64_t id;
    if (db_one_i64(c, e, &id, "INSERT INTO org (name, created_at) VALUES ($1, $2) RETURNING id",
                   DBT(name), DBI(time_now_ms())) != 0) {
        if (db_err_is_unique(c))
            err_set(e, ERR_CONFLICT, "an organization named '%s' already exists", name);
        goto fail;
    }
    if (owner_user &&
        db_run(c, e, "INSERT INTO membership (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
               DBI(id), DBI(owner_user), DBT("admin"), DBI(time_now_ms())) < 0)
        goto fail;
    if (own_tx && db_commit(c, e))
        return -1;
    *org_id = id;
    return 0;
fail:
    if (own_tx)
        db_rollback(c);
    return -1;
}

static int username_check(const char *u, err *e)
{
    if (name_check("username", u, AUTH_NAME_MAX, e))
        return -1;
    for (const char *p = u; *p; p++) {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-' || ch == '@'))
            return err_set(e, ERR_INVALID,
                           "username '%s' may only contain letters, digits and . _ - @", u);
    }
    return 0;
}

int auth_user_create(db_conn *c, int64_t org_id, const char *username, const char *password,
                     auth_role role, const char *display_name, const char *email, int64_t *user_id,
                     err *e)
{
    if (username_check(username, e) || auth_password_policy(password, e))
        return -1;
    if (role == ROLE_NONE)
        return err_set(e, ERR_INVALID, "role must be one of admin, member, labeler, viewer");
    if (display_name && name_check("display_name", display_name, 128, e))
        return -1;
    if (email && name_check("email", email, 254, e))
        return -1;
    char hash[256];
    if (auth_password_hash(password, hash, sizeof hash, e))
        return -1;
    bool own_tx = !db_in_tx(c);
    if (own_tx && db_begin(c, e))
        return -1;
    int64_t id;
    if (db_one_i64(c, e, &id,
                   "INSERT INTO app_user (username, display_name, email, password_hash, created_at)"
                   " VALUES ($1, $2, $3, $4, $5) RETURNING id",
                   DBT(username), DBT(display_name), DBT(email), DBT(hash),
                   DBI(time_now_ms())) != 0) {
        if (db_err_is_unique(c))
            err_set(e, ERR_CONFLICT,
                    "username '%s' is taken; to add an existing user to this organization use "
                    "POST /api/v1/members",
                    username);
        goto fail;
    }
    if (org_id &&
        db_run(c, e, "INSERT INTO membership (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
               DBI(org_id), DBI(id), DBT(auth_role_name(role)), DBI(time_now_ms())) < 0)
        goto fail;
    if (own_tx && db_commit(c, e))
        return -1;
    if (user_id)
        *user_id = id;
    return 0;
fail:
    if (own_tx)
        db_rollback(c);
    return -1;
}

int auth_member_add(db_conn *c, int64_t org_id, const char *username, auth_role role,
                    int64_t *user_id, err *e)
{
    if (role == ROLE_NONE)
        return err_set(e, ERR_INVALID, "role must be one of admin, member, labeler, viewer");
    int64_t uid;
    if (db_one_i64(c, e, &uid, "SELECT id FROM app_user WHERE username = $1", DBT(username)) != 0) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "no user named '%s'; create it with POST /api/v1/users",
                    username);
        return -1;
    }
    if (db_run(c, e, "INSERT INTO membership (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
               DBI(org_id), DBI(uid), DBT(auth_role_name(role)), DBI(time_now_ms())) < 0) {
        if (db_err_is_unique(c))
            err_set(e, ERR_CONFLICT, "'%s' is already a member of this organization", username);
        return -1;
    }
    if (user_id)
        *user_id = uid;
    return 0;
}

auth_role auth_role_in(db_conn *c, int64_t user_id, int64_t org_id)
{
    err e;
    db_stmt *s = db_query(c, &e, "SELECT role FROM membership WHERE user_id = $1 AND org_id = $2",
                          DBI(user_id), DBI(org_id));
    if (!s)
        return ROLE_NONE;
    auth_role r = ROLE_NONE;
    if (db_step(s, &e) == DB_ROW)
        r = auth_role_parse(db_col_text(s, 0));
    db_done(s);
    return r;
}

/* Refuses a change that leaves org without an admin. Runs inside a transaction. */
static int keep_an_admin(db_conn *c, int64_t org_id, err *e)
{
    int64_t admins = 0;
    if (db_one_i64(c, e, &admins, "SELECT COUNT(*) FROM membership WHERE org_id = $1 AND role = $2",
                   DBI(org_id), DBT("admin")) != 0)
        return -1;
    if (admins == 0)
        return err_set(e, ERR_CONFLICT,
                       "this would leave the organization without an admin; make someone else "
                       "admin first");
    return 0;
}

int auth_member_set_role(db_conn *c, int64_t org_id, int64_t user_id, auth_role role, err *e)
{
    if (role == ROLE_NONE)
        return err_set(e, ERR_INVALID, "role must be one of admin, member, labeler, viewer");
    if (db_begin(c, e))
        return -1;
    int64_t n = db_run(c, e, "UPDATE membership SET role = $1 WHERE org_id = $2 AND user_id = $3",
                       DBT(auth_role_name(role)), DBI(org_id), DBI(user_id));
    if (n < 0)
        goto fail;
    if (n == 0) {
        err_set(e, ERR_NOT_FOUND, "user %lld is not a member of this organization",
                (long long)user_id);
        goto fail;
    }
    if (keep_an_admin(c, org_id, e))
        goto fail;
    return db_commit(c, e);
fail:
    db_rollback(c);
    return -1;
}

int auth_member_remove(db_conn *c, int64_t org_id, int64_t user_id, err *e)
{
    if (db_begin(c, e))
        return -1;
    int64_t n = db_run(c, e, "DELETE FROM membership WHERE org_id = $1 AND user_id = $2",
                       DBI(org_id), DBI(user_id));
    if (n < 0)
        goto fail;
    if (n == 0) {
        err_set(e, ERR_NOT_FOUND, "user %lld is not a member of this organization",
                (long long)user_id);
        goto fail;
    }
    if (keep_an_admin(c, org_id, e))
        goto fail;
    /* the user's tokens for this organization stop working */
    if (db_run(c, e, "UPDATE api_token SET revoked_at = $1 WHERE org_id = $2 AND user_id = $3 AND revoked_at IS NULL",
               DBI(time_now_ms()), DBI(org_id), DBI(user_id)) < 0)
        goto fail;
    return db_commit(c, e);
fail:
    db_rollback(c);
    return -1;
}

int auth_user_set_disabled(db_conn *c, int64_t user_id, bool disabled, err *e)
{
    int64_t n = db_run(c, e, "UPDATE app_user SET disabled = $1 WHERE id = $2", DBI(disabled ? 1 : 0),
                       DBI(user_id));
    if (n < 0)
        return -1;
    if (n == 0)
        return err_set(e, ERR_NOT_FOUND, "no user %lld", (long long)user_id);
    return 0;
}

int auth_password_change(db_conn *c, int64_t user_id, const char *old_pw, const char *new_pw,
                         err *e)
{
    if (auth_password_policy(new_pw, e))
        return -1;
    db_stmt *s = db_query(c, e, "SELECT password_hash FROM app_user WHERE id = $1", DBI(user_id));
    if (!s)
        return -1;
    bool ok = db_step(s, e) == DB_ROW && auth_password_verify(db_col_text(s, 0), old_pw);
    db_done(s);
    if (!ok)
        return err_set(e, ERR_FORBIDDEN, "the current password is wrong");
    char hash[256];
    if (auth_password_hash(new_pw, hash, sizeof hash, e))
        return -1;
    if (db_run(c, e, "UPDATE app_user SET password_hash = $1 WHERE id = $2", DBT(hash),
               DBI(user_id)) < 0)
        return -1;
    return 0;
}

static char dummy[128];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void make_dummy(void)
{
    char pw[24];
    err e;
    rand_token(pw, sizeof pw, 12);
    auth_password_hash(pw, dummy, sizeof dummy, &e);
}

int auth_login(db_conn *c, const char *username, const char *password, int64_t org_id,
               auth_identity *out, err *e)
{
    db_stmt *s = db_query(c, e, "SELECT id, password_hash, disabled, username FROM app_user WHERE username = $1",
                          DBT(username));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    auth_identity id = {0};
    char hash[256] = "";
    bool disabled = false;
    if (rc == DB_ROW) {
        id.user_id = db_col_i64(s, 0);
        snprintf(hash, sizeof hash, "%s", db_col_text(s, 1) ? db_col_text(s, 1) : "");
        disabled = db_col_i64(s, 2) != 0;
        snprintf(id.username, sizeof id.username, "%s", db_col_text(s, 3));
    }
    db_done(s);
    if (rc < 0)
        return -1;
    /* verify even for unknown users so timing does not tell which exist */
    pthread_once(&dummy_once, make_dummy);
    bool ok = auth_password_verify(rc == DB_ROW && hash[0] ? hash : dummy, password ? password : "");
    if (rc != DB_ROW || !ok)
        return err_set(e, ERR_UNAUTHORIZED, "wrong username or password");
    if (disabled)
        return err_set(e, ERR_UNAUTHORIZED, "user '%s' is disabled", username);
    const char *sql = org_id ? "SELECT org_id, role FROM membership WHERE user_id = $1 AND org_id = $2"
                             : "SELECT org_id, role FROM membership WHERE user_id = $1 AND org_id > $2 ORDER BY org_id LIMIT 1";
    s = db_query(c, e, sql, DBI(id.user_id), DBI(org_id));
    if (!s)
        return -1;
    rc = db_step(s, e);
    if (rc == DB_ROW) {
        id.org_id = db_col_i64(s, 0);
        id.role = auth_role_parse(db_col_text(s, 1));
    }
    db_done(s);
    if (rc < 0)
        return -1;
    if (rc != DB_ROW && org_id)
        return err_set(e, ERR_FORBIDDEN, "you are not a member of organization %lld",
                       (long long)org_id);
    if (rc != DB_ROW)
        return err_set(e, ERR_FORBIDDEN, "user '%s' is not a member of any organization",
                       username);
    *out = id;
    return 0;
}

/* --- tokens and sessions --------------------------------------------------- */

int auth_token_import(db_conn *c, int64_t user_id, int64_t org_id, const char *name,
                      const char *secret, err *e)
{
    size_t n = strlen(secret);
    if (n < 16 || n > AUTH_TOKEN_MAX)
        return err_set(e, ERR_INVALID, "a token must be 16 to %d characters long", AUTH_TOKEN_MAX);
    unsigned char key[32];
    char hex[65], prefix[16];
    secret_hash(secret, key, hex);
    snprintf(prefix, sizeof prefix, "%.10s", secret);
    if (db_run(c, e,
               "INSERT INTO api_token (user_id, org_id, name, secret_hash, prefix, created_at)"
               " VALUES ($1, $2, $3, $4, $5, $6)",
               DBI(user_id), DBI(org_id), DBT(name), DBT(hex), DBT(prefix), DBI(time_now_ms())) < 0)
        return -1;
    return 0;
}

int auth_token_create(db_conn *c, int64_t user_id, int64_t org_id, const char *name,
                      int64_t expires_at, char *token_out, size_t out_size, int64_t *token_id,
                      err *e)
{
    if (name_check("token name", name, AUTH_NAME_MAX, e))
        return -1;
    if (out_size < 40)
        return err_set(e, ERR_INTERNAL, "token buffer too small");
    char rnd[40];
    rand_token(rnd, sizeof rnd, 20);
    snprintf(token_out, out_size, "cvops_%s", rnd);
    unsigned char key[32];
    char hex[65], prefix[16];
    secret_hash(token_out, key, hex);
    snprintf(prefix, sizeof prefix, "%.10s", token_out);
    int64_t id;
    if (db_one_i64(c, e, &id,
                   "INSERT INTO api_token (user_id, org_id, name, secret_hash, prefix, created_at,"
                   " expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                   DBI(user_id), DBI(org_id), DBT(name), DBT(hex), DBT(prefix), DBI(time_now_ms()),
                   expires_at ? DBI(expires_at) : DBNULL) != 0)
        return -1;
    if (token_id)
        *token_id = id;
    return 0;
}

int auth_token_create_scoped(db_conn *c, int64_t user_id, int64_t org_id, int64_t job_id,
                             int64_t expires_at, const auth_grant *grants, int ngrants,
                             char *token_out, size_t out_size, int64_t *token_id, err *e)
{
    if (job_id <= 0 || ngrants <= 0 || ngrants > AUTH_GRANTS_MAX || expires_at <= 0)
        return err_set(e, ERR_INTERNAL, "a job token needs a job, 1 to %d grants and an expiry",
                       AUTH_GRANTS_MAX);
    char name[48];
    snprintf(name, sizeof name, "job %lld", (long long)job_id);
    bool own_tx = !db_in_tx(c);
    if (own_tx && db_begin(c, e))
        return -1;
    int64_t id;
    if (auth_token_create(c, user_id, org_id, name, expires_at, token_out, out_size, &id, e) ||
        db_run(c, e, "UPDATE api_token SET job_id = $1 WHERE id = $2", DBI(job_id), DBI(id)) < 0)
        goto fail;
    for (int i = 0; i < ngrants; i++) {
        if (grants[i].access != AUTH_ACCESS_READ && grants[i].access != AUTH_ACCESS_WRITE) {
            err_set(e, ERR_INTERNAL, "grant %d: unknown access %d", i, grants[i].access);
            goto fail;
        }
        if (db_run(c, e,
                   "INSERT INTO token_grant (token_id, kind, ref_id, access) VALUES ($1, $2, $3, $4)"
                   " ON CONFLICT (token_id, kind, ref_id) DO UPDATE SET access = excluded.access",
                   DBI(id), DBT(grants[i].kind), DBI(grants[i].id), DBI(grants[i].access)) < 0)
            goto fail;
    }
    if (own_tx && db_commit(c, e))
        return -1;
    if (token_id)
        *token_id = id;
    return 0;
fail:
    if (own_tx)
        db_rollback(c);
    return -1;
}

int auth_job_tokens_revoke(db_conn *c, int64_t job_id, err *e)
{
    return db_run(c, e,
                  "UPDATE api_token SET revoked_at = $1 WHERE job_id = $2 AND revoked_at IS NULL",
                  DBI(time_now_ms()), DBI(job_id)) < 0 ? -1 : 0;
}

int auth_token_revoke(db_conn *c, int64_t user_id, int64_t token_id, err *e)
{
    int64_t n = db_run(c, e,
                       "UPDATE api_token SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
                       DBI(time_now_ms()), DBI(token_id), DBI(user_id));
    if (n < 0)
        return -1;
    if (n == 0)
        return err_set(e, ERR_NOT_FOUND, "you have no active token %lld", (long long)token_id);
    return 0;
}

int auth_session_create(db_conn *c, int64_t user_id, int64_t org_id, int64_t ttl_ms,
                        char *cookie_out, size_t cookie_size, char *csrf_out, size_t csrf_size,
                        err *e)
{
    rand_token(cookie_out, cookie_size, 24);
    rand_token(csrf_out, csrf_size, 16);
    unsigned char key[32];
    char hex[65];
    secret_hash(cookie_out, key, hex);
    int64_t now = time_now_ms();
    if (db_run(c, e,
               "INSERT INTO web_session (user_id, org_id, secret_hash, csrf, created_at, expires_at)"
               " VALUES ($1, $2, $3, $4, $5, $6)",
               DBI(user_id), DBI(org_id), DBT(hex), DBT(csrf_out), DBI(now), DBI(now + ttl_ms)) < 0)
        return -1;
    return 0;
}

int auth_session_end(db_conn *c, int64_t session_id, err *e)
{
    return db_run(c, e, "UPDATE web_session SET ended_at = $1 WHERE id = $2", DBI(time_now_ms()),
                  DBI(session_id)) < 0
               ? -1
               : 0;
}

int auth_session_set_org(db_conn *c, int64_t session_id, int64_t user_id, int64_t org_id, err *e)
{
    if (auth_role_in(c, user_id, org_id) == ROLE_NONE)
        return err_set(e, ERR_NOT_FOUND, "you are not a member of organization %lld",
                       (long long)org_id);
    return db_run(c, e, "UPDATE web_session SET org_id = $1 WHERE id = $2", DBI(org_id),
                  DBI(session_id)) < 0
               ? -1
               : 0;
}

/* --- listings ----------------------------------------------------------------- */

static void kms(jw *w, const char *k, db_stmt *s, int col)
{
    jw_key(w, k);
    if (db_col_null(s, col)) {
        jw_null(w);
        return;
    }
    char ts[32];
    time_fmt_iso(db_col_i64(s, col), ts, sizeof ts);
    jw_str(w, ts);
}

int auth_list_members(db_conn *c, int64_t org_id, jw *w, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT u.id, u.username, u.display_name, u.email, m.role, u.disabled,"
                          " u.created_at FROM membership m JOIN app_user u ON u.id = m.user_id"
                          " WHERE m.org_id = $1 ORDER BY u.username",
                          DBI(org_id));
    if (!s)
        return -1;
    int rc;
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        jw_obj(w);
        jw_kint(w, "id", db_col_i64(s, 0));
        jw_kstr(w, "username", db_col_text(s, 1));
        jw_kstr(w, "display_name", db_col_text(s, 2));
        jw_kstr(w, "email", db_col_text(s, 3));
        jw_kstr(w, "role", db_col_text(s, 4));
        jw_kbool(w, "disabled", db_col_i64(s, 5) != 0);
        kms(w, "created_at", s, 6);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int auth_list_tokens(db_conn *c, int64_t user_id, jw *w, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT t.id, t.name, t.prefix, t.org_id, o.name, t.created_at,"
                          " t.expires_at, t.last_used_at, t.revoked_at FROM api_token t"
                          " JOIN org o ON o.id = t.org_id WHERE t.user_id = $1 AND t.job_id IS NULL"
                          " ORDER BY t.id",
                          DBI(user_id));
    if (!s)
        return -1;
    int rc;
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        jw_obj(w);
        jw_kint(w, "id", db_col_i64(s, 0));
        jw_kstr(w, "name", db_col_text(s, 1));
        jw_kstr(w, "prefix", db_col_text(s, 2));
        jw_kint(w, "org_id", db_col_i64(s, 3));
        jw_kstr(w, "org", db_col_text(s, 4));
        kms(w, "created_at", s, 5);
        kms(w, "expires_at", s, 6);
        kms(w, "last_used_at", s, 7);
        kms(w, "revoked_at", s, 8);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int auth_list_orgs(db_conn *c, int64_t user_id, jw *w, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT o.id, o.name, m.role, o.created_at FROM membership m"
                          " JOIN org o ON o.id = m.org_id WHERE m.user_id = $1 ORDER BY o.name",
                          DBI(user_id));
    if (!s)
        return -1;
    int rc;
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        jw_obj(w);
        jw_kint(w, "id", db_col_i64(s, 0));
        jw_kstr(w, "name", db_col_text(s, 1));
        jw_kstr(w, "role", db_col_text(s, 2));
        kms(w, "created_at", s, 3);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int auth_write_user(db_conn *c, int64_t user_id, int64_t org_id, jw *w, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT u.id, u.username, u.display_name, u.email, m.role, u.disabled,"
                          " u.created_at FROM app_user u LEFT JOIN membership m"
                          " ON m.user_id = u.id AND m.org_id = $2 WHERE u.id = $1",
                          DBI(user_id), DBI(org_id));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW) {
        jw_obj(w);
        jw_kint(w, "id", db_col_i64(s, 0));
        jw_kstr(w, "username", db_col_text(s, 1));
        jw_kstr(w, "display_name", db_col_text(s, 2));
        jw_kstr(w, "email", db_col_text(s, 3));
        jw_kstr(w, "role", db_col_text(s, 4));
        jw_kbool(w, "disabled", db_col_i64(s, 5) != 0);
        kms(w, "created_at", s, 6);
        jw_obj_end(w);
    }
    db_done(s);
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND, "no user %lld", (long long)user_id);
    return rc < 0 ? -1 : 0;
}

/* --- bootstrap ------------------------------------------------------------ */

int auth_bootstrap(db *d, const char *password, const char *token, auth_bootstrap_result *out,
                   err *e)
{
    memset(out, 0, sizeof *out);
    db_conn *c = db_get(d, e);
    if (!c)
        return -1;
    int rc = -1;
    if (db_begin(c, e))
        goto out;
    if (db_driver(d) == DB_POSTGRES &&
        db_run(c, e, "SELECT pg_advisory_xact_lock(7340002)") < 0)
        goto rollback;
    int64_t users = 0;
    if (db_one_i64(c, e, &users, "SELECT COUNT(*) FROM app_user"))
        goto rollback;
    if (users > 0) {
        db_rollback(c);
        rc = 0;
        goto out;
    }
    if (password && *password) {
        if (auth_password_policy(password, e)) {
            err_prefix(e, "CVOPS_ADMIN_PASSWORD: ");
            goto rollback;
        }
        snprintf(out->password, sizeof out->password, "%s", password);
    } else {
        rand_token(out->password, 21, 12);
        out->password_generated = true;
    }
    int64_t org, uid;
    if (auth_org_create(c, "default", 0, &org, e) ||
        auth_user_create(c, org, "admin", out->password, ROLE_ADMIN, "Administrator", NULL, &uid, e))
        goto rollback;
    if (token && *token) {
        if (auth_token_import(c, uid, org, "bootstrap", token, e)) {
            err_prefix(e, "CVOPS_BOOTSTRAP_TOKEN: ");
            goto rollback;
        }
        snprintf(out->token, sizeof out->token, "%s", token);
    } else {
        if (auth_token_create(c, uid, org, "bootstrap", 0, out->token, sizeof out->token, NULL, e))
            goto rollback;
        out->token_generated = true;
    }
    if (db_commit(c, e))
        goto out;
    out->created = true;
    rc = 0;
    goto out;
rollback:
    db_rollback(c);
out:
    db_put(c);
    return rc;
}
