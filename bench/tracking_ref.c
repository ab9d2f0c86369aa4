/*
 * tracking_ref.c - the reference of the batched-logging benchmark: the
 * same metric points the server receives, inserted straight into SQLite as
 * one row each, the fastest plain way: a file database in WAL mode with
 * synchronous=NORMAL (the server's settings), one prepared INSERT, one
 * transaction per batch.
 *
 *   tracking_ref DB_PATH BATCHES METRICS STEPS_PER_BATCH
 * prints the rows per second.
 */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: tracking_ref DB BATCHES METRICS STEPS_PER_BATCH\n");
        return 2;
    }
    int batches = atoi(argv[2]), metrics = atoi(argv[3]), steps = atoi(argv[4]);
    sqlite3 *db;
    if (sqlite3_open(argv[1], &db) != SQLITE_OK)
        return 1;
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                 "CREATE TABLE metric_point (series_id INTEGER NOT NULL, step INTEGER NOT NULL,"
                 " value REAL NOT NULL, time INTEGER NOT NULL, PRIMARY KEY (series_id, step))"
                 " WITHOUT ROWID;",
                 NULL, NULL, NULL);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT INTO metric_point VALUES (?1, ?2, ?3, ?4)", -1, &st,
                           NULL) != SQLITE_OK) {
        fprintf(stderr, "%s\n", sqlite3_errmsg(db));
        return 1;
    }
    long long t = 1700000000000LL;
    double t0 = now();
    for (int b = 0; b < batches; b++) {
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        for (int m = 0; m < metrics; m++)
            for (int i = 0; i < steps; i++) {
                int step = b * steps + i;
                sqlite3_bind_int64(st, 1, m + 1);
                sqlite3_bind_int64(st, 2, step);
                sqlite3_bind_double(st, 3, sin(step * 0.001 + m) / (1 + step * 1e-4));
                sqlite3_bind_int64(st, 4, t + step);
                if (sqlite3_step(st) != SQLITE_DONE) {
                    fprintf(stderr, "%s\n", sqlite3_errmsg(db));
                    return 1;
                }
                sqlite3_reset(st);
            }
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    double secs = now() - t0;
    printf("%.0f\n", (double)batches * metrics * steps / secs);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return 0;
}
