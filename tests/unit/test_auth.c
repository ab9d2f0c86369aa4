/*
 * Unit tests for src/auth: the role table (one assertion per cell), role
 * names, passwords, and bootstrap on a real database.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "app/schema.h"
#include "auth/auth.h"
#include "testutil.h"

/* The table as documented in auth.h, written out independently. */
static const char *expected[] = {
    /*          AUTH READ ANNOTATE WRITE ADMIN */
    [ROLE_VIEWER] = "11000",
    [ROLE_LABELER] = "11100",
    [ROLE_MEMBER] = "11110",
    [ROLE_ADMIN] = "11111",
};

struct cell {
    auth_role role;
    auth_perm perm;
};

ParameterizedTestParameters(auth_roles, every_cell)
{
    static struct cell cells[4 * 5];
    int n = 0;
    for (int r = ROLE_VIEWER; r <= ROLE_ADMIN; r++)
        for (int p = PERM_AUTH; p <= PERM_ADMIN; p++)
            cells[n++] = (struct cell){(auth_role)r, (auth_perm)p};
    return cr_make_param_array(struct cell, cells, (size_t)n);
}

ParameterizedTest(struct cell *c, auth_roles, every_cell)
{
    bool want = expected[c->role][c->perm - PERM_AUTH] == '1';
    cr_assert_eq(auth_role_allows(c->role, c->perm), want, "role %s, permission %s",
                 auth_role_name(c->role), auth_perm_name(c->perm));
}

Test(auth_roles, no_role_gets_nothing_but_public)
{
    cr_assert(auth_role_allows(ROLE_NONE, PERM_PUBLIC));
    for (int p = PERM_AUTH; p < PERM__COUNT; p++)
        cr_assert(!auth_role_allows(ROLE_NONE, (auth_perm)p));
    cr_assert(!auth_role_allows((auth_role)99, PERM_READ));
    cr_assert(!auth_role_allows(ROLE_ADMIN, (auth_perm)99));
}

Test(auth_roles, names_round_trip)
{
    for (int r = ROLE_VIEWER; r <= ROLE_ADMIN; r++)
        cr_assert_eq(auth_role_parse(auth_role_name((auth_role)r)), r);
    cr_assert_eq(auth_role_parse("Admin"), ROLE_NONE);
    cr_assert_eq(auth_role_parse(NULL), ROLE_NONE);
}

Test(auth_passwords, hash_and_verify)
{
    err e;
    char h1[256], h2[256];
    cr_assert_eq(auth_password_hash("correct horse", h1, sizeof h1, &e), 0);
    cr_assert_eq(auth_password_hash("correct horse", h2, sizeof h2, &e), 0);
    cr_assert(strncmp(h1, "$argon2id$", 10) == 0);
    cr_assert_str_neq(h1, h2, "salts must differ");
    cr_assert(auth_password_verify(h1, "correct horse"));
    cr_assert(!auth_password_verify(h1, "correct horse "));
    cr_assert(!auth_password_verify("garbage", "x"));
    cr_assert_eq(auth_password_policy("1234567", &e), -1);
    cr_assert_eq(auth_password_policy("12345678", &e), 0);
}

ParameterizedTestParameters(auth_store, bootstrap_once)
{
    return test_both_drivers();
}

ParameterizedTest(db_driver_kind *k, auth_store, bootstrap_once)
{
    db *d = test_db_open(*k);
    err e;
    cr_assert_eq(db_migrate(d, app_migrations, app_migration_count, NULL, &e), 0, "%s", e.msg);
    auth_bootstrap_result b;
    cr_assert_eq(auth_bootstrap(d, NULL, "cvops_given_bootstrap_token", &b, &e), 0, "%s", e.msg);
    cr_assert(b.created);
    cr_assert(b.password_generated);
    cr_assert(!b.token_generated);
    auth_cache *cache = auth_cache_new(5000);
    auth_identity id;
    cr_assert_eq(auth_resolve_token(d, cache, "cvops_given_bootstrap_token", &id, &e), 0, "%s",
                 e.msg);
    cr_assert_eq(id.role, ROLE_ADMIN);
    cr_assert_str_eq(id.username, "admin");
    /* the cached answer is the same */
    auth_identity again;
    cr_assert_eq(auth_resolve_token(d, cache, "cvops_given_bootstrap_token", &again, &e), 0);
    cr_assert_eq(again.user_id, id.user_id);
    /* a second bootstrap does nothing */
    cr_assert_eq(auth_bootstrap(d, "another-password", NULL, &b, &e), 0);
    cr_assert(!b.created);
    db_conn *c = db_get(d, &e);
    auth_identity who;
    cr_assert_eq(auth_login(c, "admin", b.password, 0, &who, &e), -1, "nothing was changed");
    /* a weak CVOPS_ADMIN_PASSWORD is refused on an empty store */
    db_put(c);
    auth_cache_free(cache);
    db_close(d);
    db *d2 = test_db_open(*k);
    cr_assert_eq(db_migrate(d2, app_migrations, app_migration_count, NULL, &e), 0);
    cr_assert_eq(auth_bootstrap(d2, "short", NULL, &b, &e), -1);
    cr_assert_not_null(strstr(e.msg, "CVOPS_ADMIN_PASSWORD"));
    db_close(d2);
}
