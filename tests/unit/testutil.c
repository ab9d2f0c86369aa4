/*
 * testutil.c - see testutil.h.
 */
#include "testutil.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"

const char *test_tmpdir(void)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/cvops-test.XXXXXX");
    cr_assert_not_null(mkdtemp(path));
    return path;
}

db *test_db_open(db_driver_kind kind)
{
    char url[512];
    if (kind == DB_SQLITE) {
        snprintf(url, sizeof url, "sqlite:%s/test.db", test_tmpdir());
    } else {
        const char *base = getenv("CVOPS_TEST_PG_URL");
        cr_assert_not_null(base, "CVOPS_TEST_PG_URL is not set; run the tests through "
                                 "tests/with-services (make check-unit does)");
        char schema[40], tok[20];
        rand_token(tok, sizeof tok, 8);
        snprintf(schema, sizeof schema, "t_%s", tok);
        PGconn *pc = PQconnectdb(base);
        cr_assert_eq(PQstatus(pc), CONNECTION_OK, "%s", PQerrorMessage(pc));
        char sql[80];
        snprintf(sql, sizeof sql, "CREATE SCHEMA %s", schema);
        PGresult *r = PQexec(pc, sql);
        cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQerrorMessage(pc));
        PQclear(r);
        PQfinish(pc);
        snprintf(url, sizeof url, "%s%soptions=-csearch_path%%3D%s", base,
                 strchr(base, '?') ? "&" : "?", schema);
    }
    db *d = NULL;
    err e;
    cr_assert_eq(db_open(url, NULL, &d, &e), 0, "db_open(%s): %s", url, e.msg);
    return d;
}

struct criterion_test_params test_both_drivers(void)
{
    static db_driver_kind kinds[] = {DB_SQLITE, DB_POSTGRES};
    return cr_make_param_array(db_driver_kind, kinds, 2);
}
