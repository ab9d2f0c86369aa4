/*
 * Unit tests for src/store/db: the same behaviour checked on both drivers,
 * against a real SQLite file and a real PostgreSQL cluster.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/db.h"
#include "testutil.h"

static const db_migration migs[] = {
    {1, "t: items", "CREATE TABLE item (id {{ID}}, name TEXT NOT NULL UNIQUE, n BIGINT, x DOUBLE PRECISION, meta {{JSON}}, raw {{BLOB}})"},
    {2, "t: index", "CREATE INDEX item_n ON item (n)"},
};

ParameterizedTestParameters(db, basics)
{
    return test_both_drivers();
}

static db *open_migrated(db_driver_kind k)
{
    db *d = test_db_open(k);
    err e;
    int applied = -1;
    cr_assert_eq(db_migrate(d, migs, 2, &applied, &e), 0, "%s", e.msg);
    cr_assert_eq(applied, 2);
    cr_assert_eq(db_migrate(d, migs, 2, &applied, &e), 0, "%s", e.msg);
    cr_assert_eq(applied, 0, "a second run applies nothing");
    return d;
}

ParameterizedTest(db_driver_kind *k, db, basics)
{
    db *d = open_migrated(*k);
    err e;
    db_conn *c = db_get(d, &e);
    cr_assert_not_null(c);
    int64_t id = 0;
    cr_assert_eq(db_one_i64(c, &e, &id,
                            "INSERT INTO item (name, n, x, meta, raw) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                            DBT("a'b\"c"), DBI(INT64_MAX), DBD(0.25), DBT("{\"k\": 1}"),
                            DBB("\x00\x01\xff", 3)),
                 0, "%s", e.msg);
    cr_assert_gt(id, 0);
    /* parameters used out of order and twice */
    db_stmt *s = db_query(c, &e, "SELECT name, n, x, raw, meta FROM item WHERE n = $2 AND id = $1 AND id = $1",
                          DBI(id), DBI(INT64_MAX));
    cr_assert_not_null(s, "%s", e.msg);
    cr_assert_eq(db_step(s, &e), DB_ROW, "%s", e.msg);
    cr_assert_str_eq(db_col_text(s, 0), "a'b\"c");
    cr_assert_eq(db_col_i64(s, 1), INT64_MAX);
    cr_assert_eq(db_col_dbl(s, 2), 0.25);
    size_t len;
    const unsigned char *raw = db_col_blob(s, 3, &len);
    cr_assert_eq(len, 3);
    cr_assert(raw[0] == 0 && raw[1] == 1 && raw[2] == 0xff);
    cr_assert_not_null(strstr(db_col_text(s, 4), "\"k\""));
    cr_assert_eq(db_step(s, &e), DB_DONE);
    db_done(s);

    /* NULLs */
    cr_assert_eq(db_run(c, &e, "INSERT INTO item (name, n) VALUES ($1, $2)", DBT("z"), DBNULL), 1);
    s = db_query(c, &e, "SELECT n, meta FROM item WHERE name = $1", DBT("z"));
    cr_assert_eq(db_step(s, &e), DB_ROW);
    cr_assert(db_col_null(s, 0));
    cr_assert_null(db_col_text(s, 1));
    db_done(s);

    /* unique violation is a conflict and is recognisable */
    cr_assert_eq(db_run(c, &e, "INSERT INTO item (name) VALUES ($1)", DBT("z")), -1);
    cr_assert_eq(e.code, ERR_CONFLICT);
    cr_assert(db_err_is_unique(c));

    /* changes */
    cr_assert_eq(db_run(c, &e, "UPDATE item SET n = 5"), 2);
    cr_assert_eq(db_run(c, &e, "DELETE FROM item WHERE name = $1", DBT("nope")), 0);

    /* no row */
    int64_t v;
    cr_assert_eq(db_one_i64(c, &e, &v, "SELECT id FROM item WHERE name = $1", DBT("nope")), -1);
    cr_assert_eq(e.code, ERR_NOT_FOUND);

    /* SQL errors carry a message */
    cr_assert_null(db_query(c, &e, "SELECT nosuchcol FROM item"));
    cr_assert_neq(e.code, ERR_NONE);
    db_put(c);
    db_close(d);
}

ParameterizedTestParameters(db, transactions)
{
    return test_both_drivers();
}

ParameterizedTest(db_driver_kind *k, db, transactions)
{
    db *d = open_migrated(*k);
    err e;
    db_conn *c = db_get(d, &e);
    cr_assert_eq(db_begin(c, &e), 0, "%s", e.msg);
    cr_assert_eq(db_run(c, &e, "INSERT INTO item (name) VALUES ($1)", DBT("t1")), 1);
    db_rollback(c);
    int64_t n = -1;
    cr_assert_eq(db_one_i64(c, &e, &n, "SELECT COUNT(*) FROM item"), 0);
    cr_assert_eq(n, 0, "rolled back insert must not be visible");

    cr_assert_eq(db_begin(c, &e), 0);
    cr_assert_eq(db_run(c, &e, "INSERT INTO item (name) VALUES ($1)", DBT("t2")), 1);
    cr_assert_eq(db_commit(c, &e), 0);
    /* returning a connection with an open transaction rolls it back */
    cr_assert_eq(db_begin(c, &e), 0);
    cr_assert_eq(db_run(c, &e, "INSERT INTO item (name) VALUES ($1)", DBT("t3")), 1);
    db_put(c);
    c = db_get(d, &e);
    cr_assert_eq(db_one_i64(c, &e, &n, "SELECT COUNT(*) FROM item"), 0);
    cr_assert_eq(n, 1);
    db_put(c);
    db_close(d);
}

ParameterizedTestParameters(db, nested_transactions)
{
    return test_both_drivers();
}

/* db_begin inside a transaction is a savepoint: an inner rollback undoes
 * only the inner part (also after a failed statement), an inner commit is
 * not durable until the outer one, and db_put rolls back every level. */
ParameterizedTest(db_driver_kind *k, db, nested_transactions)
{
    db *d = open_migrated(*k);
    err e;
    db_conn *c = db_get(d, &e);
    int64_t n = -1;
    cr_assert_eq(db_begin(c, &e), 0, "%s", e.msg);
    cr_assert_eq(db_run(c, &e, "INSERT INTO item (name) VALUES ($1)", DBT("outer")), 1);
    cr_assert_eq(db_begin(c, &e), 0, "%s", e.msg);
    cr_assert_eq(db_run(c, &e, "INSERT INTO item (name) VALUES ($1)", DBT("inner1")), 1);
    cr_assert_eq(db_commit(c, &e), 0, "%s", e.msg);
    cr_assert(db_in_tx(c), "an inner commit leaves the outer transaction open");
    cr_assert_eq(db_begin(c, &e), 0, "%s", e.msg);
    cr_assert_eq(db_run(c, &e, "INSERT INTO item (name) VALUES ($1)", DBT("inner2")), 1);
    /* a failing statement (unique violation) inside the savepoint */
    cr_assert_lt(db_run(c, &e, "INSERT INTO item (name) VALUES ($1)", DBT("outer")), 0);
    db_rollback(c);
    cr_assert(db_in_tx(c), "an inner rollback leaves the outer transaction open");
    cr_assert_eq(db_run(c, &e, "INSERT INTO item (name) VALUES ($1)", DBT("after")), 1, "%s",
                 e.msg);
    /* not visible to another connection before the outer commit */
    db_conn *c2 = db_get(d, &e);
    cr_assert_eq(db_one_i64(c2, &e, &n, "SELECT COUNT(*) FROM item"), 0, "%s", e.msg);
    cr_assert_eq(n, 0);
    cr_assert_eq(db_commit(c, &e), 0, "%s", e.msg);
    cr_assert(!db_in_tx(c));
    cr_assert_eq(db_one_i64(c2, &e, &n, "SELECT COUNT(*) FROM item"), 0);
    cr_assert_eq(n, 3, "outer, inner1 and after are kept; inner2 was rolled back");
    cr_assert_eq(db_one_i64(c2, &e, &n, "SELECT COUNT(*) FROM item WHERE name = 'inner2'"), 0);
    cr_assert_eq(n, 0);
    db_put(c2);
    /* db_put with two levels open rolls back both */
    cr_assert_eq(db_begin(c, &e), 0);
    cr_assert_eq(db_begin(c, &e), 0);
    cr_assert_eq(db_run(c, &e, "INSERT INTO item (name) VALUES ($1)", DBT("dropped")), 1);
    db_put(c);
    c = db_get(d, &e);
    cr_assert(!db_in_tx(c));
    cr_assert_eq(db_one_i64(c, &e, &n, "SELECT COUNT(*) FROM item"), 0);
    cr_assert_eq(n, 3);
    db_put(c);
    db_close(d);
}

ParameterizedTestParameters(db, nested_statement_use)
{
    return test_both_drivers();
}

/* Iterating a statement while running the same SQL inside the loop. */
ParameterizedTest(db_driver_kind *k, db, nested_statement_use)
{
    db *d = open_migrated(*k);
    err e;
    db_conn *c = db_get(d, &e);
    for (int i = 0; i < 5; i++) {
        char name[2] = {(char)('a' + i), 0};
        cr_assert_eq(db_run(c, &e, "INSERT INTO item (name, n) VALUES ($1, $2)", DBT(name), DBI(i)), 1);
    }
    const char *q = "SELECT n FROM item WHERE n >= $1 ORDER BY n";
    db_stmt *outer = db_query(c, &e, q, DBI(0));
    int rows = 0, rc;
    while ((rc = db_step(outer, &e)) == DB_ROW) {
        int64_t base = db_col_i64(outer, 0);
        db_stmt *inner = db_query(c, &e, q, DBI(base));
        cr_assert_not_null(inner, "%s", e.msg);
        int inner_rows = 0;
        while (db_step(inner, &e) == DB_ROW)
            inner_rows++;
        db_done(inner);
        cr_assert_eq(inner_rows, 5 - base);
        rows++;
    }
    db_done(outer);
    cr_assert_eq(rows, 5);
    /* many distinct statements: the cache evicts without breaking anything */
    for (int i = 0; i < 600; i++) {
        char sql[64];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) + %d FROM item", i);
        int64_t v = 0;
        cr_assert_eq(db_one_i64(c, &e, &v, sql), 0, "%s", e.msg);
        cr_assert_eq(v, 5 + i);
    }
    db_put(c);
    db_close(d);
}

ParameterizedTestParameters(db, refuses_newer_schema)
{
    return test_both_drivers();
}

ParameterizedTest(db_driver_kind *k, db, refuses_newer_schema)
{
    db *d = open_migrated(*k);
    err e;
    cr_assert_eq(db_migrate(d, migs, 1, NULL, &e), -1);
    cr_assert_not_null(strstr(e.msg, "newer cvops"), "%s", e.msg);
    db_close(d);
}

ParameterizedTestParameters(db, failed_migration_changes_nothing)
{
    return test_both_drivers();
}

ParameterizedTest(db_driver_kind *k, db, failed_migration_changes_nothing)
{
    db *d = test_db_open(*k);
    const db_migration bad[] = {
        {1, "ok", "CREATE TABLE a (id {{ID}})"},
        {2, "half", "CREATE TABLE b (id {{ID}}); CREATE TABLE broken (x NOSUCHTYPE("},
    };
    err e;
    cr_assert_eq(db_migrate(d, bad, 2, NULL, &e), -1);
    cr_assert_not_null(strstr(e.msg, "migration 2 (half)"), "%s", e.msg);
    db_conn *c = db_get(d, &e);
    int64_t v = 0;
    cr_assert_eq(db_one_i64(c, &e, &v, "SELECT MAX(version) FROM schema_migrations"), 0);
    cr_assert_eq(v, 1);
    cr_assert_null(db_query(c, &e, "SELECT * FROM b"), "table b must have been rolled back");
    db_put(c);
    db_close(d);
}

struct worker_arg {
    db *d;
    int base;
};

static void *insert_many(void *p)
{
    struct worker_arg *a = p;
    err e;
    for (int i = 0; i < 50; i++) {
        db_conn *c = db_get(a->d, &e);
        if (!c)
            return (void *)1;
        char name[32];
        snprintf(name, sizeof name, "w%d-%d", a->base, i);
        if (db_begin(c, &e) != 0 ||
            db_run(c, &e, "INSERT INTO item (name, n) VALUES ($1, $2)", DBT(name), DBI(i)) != 1 ||
            db_commit(c, &e) != 0) {
            db_put(c);
            return (void *)1;
        }
        db_put(c);
    }
    return NULL;
}

ParameterizedTestParameters(db, concurrent_writers)
{
    return test_both_drivers();
}

ParameterizedTest(db_driver_kind *k, db, concurrent_writers)
{
    db *d = open_migrated(*k);
    pthread_t th[8];
    struct worker_arg args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (struct worker_arg){d, i};
        pthread_create(&th[i], NULL, insert_many, &args[i]);
    }
    for (int i = 0; i < 8; i++) {
        void *r;
        pthread_join(th[i], &r);
        cr_assert_null(r, "writer %d failed", i);
    }
    err e;
    db_conn *c = db_get(d, &e);
    int64_t n = 0;
    cr_assert_eq(db_one_i64(c, &e, &n, "SELECT COUNT(*) FROM item"), 0);
    cr_assert_eq(n, 400);
    db_put(c);
    db_close(d);
}

Test(db, bad_urls_are_explained)
{
    db *d;
    err e;
    cr_assert_eq(db_open("mysql://x", NULL, &d, &e), -1);
    cr_assert_not_null(strstr(e.msg, "sqlite:PATH"));
    cr_assert_eq(db_open("sqlite:", NULL, &d, &e), -1);
    cr_assert_eq(db_open("sqlite:/nonexistent-dir/x/y.db", NULL, &d, &e), -1);
    cr_assert_eq(e.code, ERR_UNAVAILABLE);
    cr_assert_eq(db_open("postgres://nobody@127.0.0.1:1/x?connect_timeout=2", NULL, &d, &e), -1);
    cr_assert_not_null(strstr(e.msg, "cannot connect to PostgreSQL"), "%s", e.msg);
}

/* db_options.mmap_bytes: SQLite connections map the file only when asked
 * (the server's scan pool); a second handle of the same file sees the
 * first's writes; an in-memory database is not shareable. */
Test(db, mmap_only_where_asked)
{
    char url[512];
    snprintf(url, sizeof url, "sqlite:%s/mmap.db", test_tmpdir());
    db *plain, *scan;
    err e;
    db_options so = {.pool_size = 2, .mmap_bytes = 1 << 20};
    cr_assert_eq(db_open(url, NULL, &plain, &e), 0, "%s", e.msg);
    cr_assert_eq(db_open(url, &so, &scan, &e), 0, "%s", e.msg);
    db_conn *a = db_get(plain, &e), *b = db_get(scan, &e);
    int64_t ma = -1, mb = -1, n = 0;
    cr_assert_eq(db_one_i64(a, &e, &ma, "PRAGMA mmap_size"), 0, "%s", e.msg);
    cr_assert_eq(db_one_i64(b, &e, &mb, "PRAGMA mmap_size"), 0, "%s", e.msg);
    cr_assert_eq(ma, 0);
    cr_assert_eq(mb, 1 << 20);
    cr_assert_eq(db_exec(a, "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2), (3);", &e), 0,
                 "%s", e.msg);
    cr_assert_eq(db_one_i64(b, &e, &n, "SELECT SUM(x) FROM t"), 0, "%s", e.msg);
    cr_assert_eq(n, 6);
    db_put(a);
    db_put(b);
    db_close(scan);
    db_close(plain);
    cr_assert(db_url_shareable(url));
    cr_assert(db_url_shareable("postgres://u@h/x"));
    cr_assert_not(db_url_shareable("sqlite::memory:"));
}

static int64_t sum_x(db_conn *c)
{
    err e;
    int64_t n = -1;
    cr_assert_eq(db_one_i64(c, &e, &n, "SELECT SUM(x) FROM t"), 0, "%s", e.msg);
    return n;
}

/* The busy column of PRAGMA wal_checkpoint(TRUNCATE) on a handle of its own:
 * 1 while a reader's snapshot stops the checkpoint from emptying the WAL. */
static int checkpoint_busy(const char *path)
{
    sqlite3 *h;
    cr_assert_eq(sqlite3_open(path, &h), SQLITE_OK);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(h, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &st, NULL), SQLITE_OK);
    int rc = sqlite3_step(st), busy = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(h);
    cr_assert_neq(busy, -1, "wal_checkpoint returned %d", rc);
    return busy;
}

/* A SQLite file NAME in the test directory (its path into path), opened
 * with a pool of 4, and two of its connections. */
static db *open_two(const char *name, char path[512], db_conn **a, db_conn **b)
{
    char url[540];
    snprintf(path, 512, "%s/%s", test_tmpdir(), name);
    snprintf(url, sizeof url, "sqlite:%s", path);
    db *d;
    err e;
    db_options o = {.pool_size = 4};
    cr_assert_eq(db_open(url, &o, &d, &e), 0, "%s", e.msg);
    *a = db_get(d, &e);
    *b = db_get(d, &e);
    cr_assert(*a && *b, "%s", e.msg);
    return d;
}

/* SQLite connections keep their read transaction open between statements
 * (db_sqlite.c); each read must still see every commit made before it: by
 * another connection (autocommit or a transaction), by another process, and
 * by its own writes. */
Test(db, kept_read_transactions_see_every_commit)
{
    char path[512];
    db_conn *a, *b;
    db *d = open_two("kept.db", path, &a, &b);
    err e;
    cr_assert_eq(db_exec(a, "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2), (3);", &e), 0,
                 "%s", e.msg);
    cr_assert_eq(sum_x(a), 6);
    cr_assert_eq(sum_x(a), 6, "a second read of the same snapshot");

    cr_assert_eq(db_run(b, &e, "INSERT INTO t VALUES (10)"), 1, "%s", e.msg);
    cr_assert_eq(sum_x(a), 16, "an autocommit write of another connection");

    cr_assert_eq(db_begin(b, &e), 0, "%s", e.msg);
    cr_assert_eq(db_run(b, &e, "INSERT INTO t VALUES (100)"), 1, "%s", e.msg);
    cr_assert_eq(sum_x(a), 16, "not before the commit");
    cr_assert_eq(db_commit(b, &e), 0, "%s", e.msg);
    cr_assert_eq(sum_x(a), 116, "a transaction of another connection");

    pid_t pid = fork();
    if (pid == 0) {
        sqlite3 *h;
        int ok = sqlite3_open(path, &h) == SQLITE_OK &&
                 sqlite3_exec(h, "INSERT INTO t VALUES (1000)", NULL, NULL, NULL) == SQLITE_OK;
        sqlite3_close(h);
        _exit(ok ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the other process could not write");
    cr_assert_eq(sum_x(a), 1116, "a write of another process");

    /* its own write while one of its reads is still being stepped */
    db_stmt *s = db_query(a, &e, "SELECT x FROM t ORDER BY x");
    cr_assert_not_null(s, "%s", e.msg);
    cr_assert_eq(db_step(s, &e), DB_ROW, "%s", e.msg);
    cr_assert_eq(db_run(a, &e, "INSERT INTO t VALUES (10000)"), 1, "%s", e.msg);
    db_done(s);
    cr_assert_eq(sum_x(a), 11116, "its own write");
    cr_assert_eq(sum_x(b), 11116, "committed for the others too");
    db_put(b);
    db_put(a);
    db_close(d);
}

/* A kept read transaction pins its snapshot, which stops a checkpoint from
 * emptying the WAL; an idle pooled connection gives it up within about
 * 100 ms, at the next db_get or db_put. */
Test(db, idle_connections_release_their_read_transactions)
{
    char path[512];
    db_conn *a, *b;
    db *d = open_two("idle.db", path, &a, &b);
    err e;
    cr_assert_eq(db_exec(a, "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);", &e), 0, "%s",
                 e.msg);
    cr_assert_eq(sum_x(a), 1);
    db_put(a); /* idle, its read transaction kept */
    cr_assert_eq(db_run(b, &e, "INSERT INTO t VALUES (2)"), 1, "%s", e.msg);
    cr_assert_eq(checkpoint_busy(path), 1, "the idle connection's snapshot holds the WAL");
    struct timespec ts = {0, 150 * 1000000L};
    nanosleep(&ts, NULL);
    db_put(b); /* the sweep */
    cr_assert_eq(checkpoint_busy(path), 0, "released by the sweep");
    a = db_get(d, &e);
    cr_assert_eq(sum_x(a), 3);
    db_put(a);
    db_close(d);
}

/* Kept read transactions must not keep the WAL from being started over: a
 * reader that reads between every two commits of a writer (each commit one
 * page or more) would otherwise hold a snapshot older than each commit when
 * SQLite checkpoints after it, and the WAL would grow with every commit.
 * Beyond 1000 frames reads go back to autocommit, so the WAL stays within a
 * few checkpoint intervals. */
Test(db, a_reader_between_every_commit_does_not_grow_the_wal)
{
    char path[512], wal[520];
    db_conn *a, *b;
    db *d = open_two("walgrow.db", path, &a, &b);
    err e;
    snprintf(wal, sizeof wal, "%s-wal", path);
    cr_assert_eq(db_exec(b, "CREATE TABLE t (x INTEGER, pad TEXT)", &e), 0, "%s", e.msg);
    char pad[4000];
    memset(pad, 'p', sizeof pad - 1);
    pad[sizeof pad - 1] = 0;
    int64_t n = 0;
    for (int i = 0; i < 3000; i++) {
        cr_assert_eq(db_run(b, &e, "INSERT INTO t VALUES ($1, $2)", DBI(i), DBT(pad)), 1, "%s", e.msg);
        cr_assert_eq(db_one_i64(a, &e, &n, "SELECT COUNT(*) FROM t"), 0, "%s", e.msg);
        cr_assert_eq(n, i + 1);
    }
    struct stat st;
    cr_assert_eq(stat(wal, &st), 0);
    /* 3000 commits of a 4 KB page and more: a WAL never started over would
     * hold over 12 MB */
    cr_assert_lt(st.st_size, 8 << 20, "the WAL grew to %lld bytes", (long long)st.st_size);
    db_put(b);
    db_put(a);
    db_close(d);
}

struct race {
    db *d;
    _Atomic int64_t committed; /* the writer's last committed value */
    _Atomic bool done;
};

static void *race_writer(void *p)
{
    struct race *rc = p;
    err e;
    db_conn *c = db_get(rc->d, &e);
    for (int64_t v = 1; v <= 3000; v++) {
        if (db_run(c, &e, "UPDATE t SET x = $1", DBI(v)) != 1)
            break;
        atomic_store(&rc->committed, v);
    }
    db_put(c);
    atomic_store(&rc->done, true);
    return NULL;
}

/* Across threads: a read that starts after a commit has returned must see
 * it, on a connection that keeps its read transaction between reads. */
Test(db, a_read_after_a_commit_of_another_thread_sees_it)
{
    char path[512];
    db_conn *a, *b;
    db *d = open_two("race.db", path, &a, &b);
    err e;
    cr_assert_eq(db_exec(b, "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (0);", &e), 0, "%s",
                 e.msg);
    db_put(b);
    struct race rc = {.d = d};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, race_writer, &rc), 0);
    int64_t reads = 0, x = -1;
    while (!atomic_load(&rc.done)) {
        int64_t seen = atomic_load(&rc.committed);
        cr_assert_eq(db_one_i64(a, &e, &x, "SELECT x FROM t"), 0, "%s", e.msg);
        cr_assert_geq(x, seen, "read %lld after the commit of %lld", (long long)x, (long long)seen);
        reads++;
    }
    pthread_join(th, NULL);
    cr_assert_eq(atomic_load(&rc.committed), 3000, "the writer stopped early");
    cr_assert_eq(db_one_i64(a, &e, &x, "SELECT x FROM t"), 0, "%s", e.msg);
    cr_assert_eq(x, 3000);
    cr_assert_gt(reads, 100);
    db_put(a);
    db_close(d);
}
