/*
 * Unit tests for the parts of src/dataset/ that are engines rather than
 * endpoints: the hash maps, shape checks and boxes (COCO RLE decoding), the
 * asset query schema (data.* fields through the query compiler), the
 * multi-row inserter on both drivers at batch boundaries (and the importer's,
 * whose failed batches leave rows until the rollback), and archive
 * unpacking refusing hostile entries.
 */
#include <archive.h>
#include <archive_entry.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset/archive.h"
#include "dataset/internal.h"
#include "testutil.h"

Test(dataset_unit, maps)
{
    ds_imap m = {0};
    for (int64_t k = -500; k <= 5000; k++)
        cr_assert_eq(ds_imap_put(&m, k, k * 3), 0);
    int64_t v;
    for (int64_t k = -500; k <= 5000; k++) {
        cr_assert(ds_imap_get(&m, k, &v), "key %lld", (long long)k);
        cr_assert_eq(v, k * 3);
    }
    cr_assert_not(ds_imap_get(&m, 5001, &v));
    ds_imap_put(&m, 0, 42);
    cr_assert(ds_imap_get(&m, 0, &v) && v == 42, "key 0 is a key like the others");
    ds_imap_free(&m);
    cr_assert_not(ds_imap_get(&m, 1, &v));
    ds_smap s = {0};
    char k[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(k, sizeof k, "img%05d.jpg", i);
        cr_assert_eq(ds_smap_put(&s, k, i), 0);
    }
    cr_assert(ds_smap_get(&s, "img02999.jpg", &v) && v == 2999);
    cr_assert_not(ds_smap_get(&s, "img3000.jpg", &v));
    ds_smap_put(&s, "img00001.jpg", -1);
    cr_assert(ds_smap_get(&s, "img00001.jpg", &v) && v == -1, "a second put replaces");
    cr_assert_eq(s.n, 3000);
    ds_smap_free(&s);
}

static void check_msg(const ds_shape *s, int w, int h, int nk, const char *want)
{
    err e;
    int rc = ds_shape_check(s, "shapes[0]", w, h, "lbl", nk, &e);
    if (!want) {
        cr_assert_eq(rc, 0, "%s", e.msg);
        return;
    }
    cr_assert_eq(rc, -1, "expected: %s", want);
    cr_assert_str_eq(e.msg, want);
}

Test(dataset_unit, shape_checks)
{
    ds_shape s;
    ds_shape_init(&s);
    s.kind = DS_BOX;
    s.x = 600, s.y = 0, s.w = 100, s.h = 10;
    check_msg(&s, 640, 480, 0, "shapes[0]: box x+w = 700 exceeds image width 640");
    s.x = 540.3; /* half a pixel of slack at the border */
    check_msg(&s, 640, 480, 0, NULL);
    s.x = 0, s.y = 475, s.h = 10;
    check_msg(&s, 640, 480, 0, "shapes[0]: box y+h = 485 exceeds image height 480");
    s.y = 0, s.w = NAN;
    check_msg(&s, 640, 480, 0, "shapes[0]: box coordinates must be finite numbers");
    double tri[] = {0, 0, 10, 0, 10, 10, 50, 50, 60, 50};
    int32_t rings[] = {3, 2};
    ds_shape_init(&s);
    s.kind = DS_POLYGON;
    s.pts = tri;
    s.npts = 6;
    check_msg(&s, 640, 480, 0, NULL);
    s.npts = 4;
    check_msg(&s, 640, 480, 0, "shapes[0]: polygon with 2 points; a polygon needs at least 3");
    s.npts = 10;
    s.rings = rings;
    s.nrings = 2;
    check_msg(&s, 640, 480, 0, "shapes[0]: polygon ring 1 has 2 points; a polygon needs at least 3");
    double kp[] = {1, 1, 2, 5, 5, 0, 9, 3, 1};
    ds_shape_init(&s);
    s.kind = DS_KEYPOINTS;
    s.pts = kp;
    s.npts = 9;
    check_msg(&s, 640, 480, 3, NULL);
    check_msg(&s, 640, 480, 4, "shapes[0]: label 'lbl' has 4 keypoints; got 3");
    check_msg(&s, 640, 480, 0, "shapes[0]: label 'lbl' has no keypoints; keypoints need a label with a skeleton");
    /* the box of keypoints ignores the unlabelled ones (v = 0) */
    ds_shape_bbox(&s);
    cr_assert(s.x == 1 && s.y == 1 && s.w == 8 && s.h == 2, "%g %g %g %g", s.x, s.y, s.w, s.h);
}

Test(dataset_unit, mask_boxes)
{
    /* 4x3 mask (h = 4 rows, w = 3 columns), column-major: pixels 5..6 set
     * (column 1, rows 1..2) and 9 (column 2, row 1) */
    uint32_t counts[] = {5, 2, 2, 1, 2};
    ds_shape s;
    ds_shape_init(&s);
    s.kind = DS_MASK;
    s.mh = 4, s.mw = 3;
    s.rle = counts;
    s.nrle = 5;
    check_msg(&s, 3, 4, 0, NULL);
    ds_shape_bbox(&s);
    cr_assert(s.x == 1 && s.y == 1 && s.w == 2 && s.h == 2, "%g %g %g %g", s.x, s.y, s.w, s.h);
    counts[4] = 3;
    check_msg(&s, 3, 4, 0, "shapes[0]: mask counts add up to 13 pixels; the mask has 3 x 4 = 12");
    /* the same mask as COCO's compressed string (rleToString): counts
     * 5 2 2, then from the fourth on the difference with the count two
     * before: 1-2 = -1 ("O"), 2-2 = 0 */
    ds_shape_init(&s);
    s.kind = DS_MASK;
    s.mh = 4, s.mw = 3;
    s.rle_str = "522O0";
    ds_shape_bbox(&s);
    cr_assert(s.x == 1 && s.y == 1 && s.w == 2 && s.h == 2, "%g %g %g %g", s.x, s.y, s.w, s.h);
}

Test(dataset_unit, asset_query_schema)
{
    const query_schema *s = dataset_asset_schema();
    query_sql out;
    err e;
    const char *q = "data.width >= 640 and label = cat and tag = train and data.meta.weather = \"rain\""
                    " and data.tag = night and status = accepted and not annotated";
    for (int d = QUERY_SQLITE; d <= QUERY_POSTGRES; d++) {
        cr_assert_eq(query_to_sql(q, strlen(q), s, NULL, (query_dialect)d, 3, &out, &e), 0, "%s", e.msg);
        cr_assert_not_null(strstr(out.where, "data.width >= $3"), "%s", out.where);
        cr_assert_not_null(strstr(out.where, "FROM shape s JOIN label l"), "%s", out.where);
        cr_assert_not_null(strstr(out.where, "asset_tag t"), "%s", out.where);
        cr_assert_not_null(strstr(out.where, "data_tag dt"), "%s", out.where);
        query_sql_free(&out);
    }
    cr_assert_eq(query_to_sql("data.nope = 1", 13, s, NULL, QUERY_SQLITE, 1, &out, &e), -1);
    cr_assert_not_null(strstr(e.msg, "unknown field 'data'"), "%s", e.msg);
    cr_assert_eq(query_to_sql("widht > 3", 9, s, NULL, QUERY_SQLITE, 1, &out, &e), -1);
    cr_assert_str_eq(e.msg, "unknown field 'widht' at column 1; did you mean 'width'?");
}

/* --- the multi-row inserter on both drivers ----------------------------------------------------- */

ParameterizedTestParameters(dataset_unit, bulk_batches)
{
    return test_both_drivers();
}

ParameterizedTest(db_driver_kind *k, dataset_unit, bulk_batches)
{
    db *d = test_db_open(*k);
    err e;
    db_conn *c = db_get(d, &e);
    cr_assert_not_null(c, "%s", e.msg);
    cr_assert_eq(db_exec_schema(c, "CREATE TABLE t (a BIGINT, b TEXT, g {{BLOB}}, x DOUBLE PRECISION)", &e), 0,
                 "%s", e.msg);
    int sizes[] = {0, 1, 7, 8, 9, 300};
    int64_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        ds_bulk b;
        cr_assert_eq(ds_bulk_init(&b, c, "INSERT INTO t (a, b, g, x) VALUES ", NULL, 4, 8, &e), 0);
        for (int r = 0; r < sizes[i]; r++) {
            double pt[2] = {r + 0.125, -r};
            char txt[32];
            snprintf(txt, sizeof txt, "row %d", r);
            cr_assert_eq(ds_bulk_val(&b, DBI(total + r), &e), 0, "%s", e.msg);
            cr_assert_eq(ds_bulk_val(&b, DBT(txt), &e), 0, "%s", e.msg);
            cr_assert_eq(ds_bulk_val(&b, DBB(pt, sizeof pt), &e), 0, "%s", e.msg);
            cr_assert_eq(ds_bulk_val(&b, r % 2 ? DBNULL : DBD(r / 3.0), &e), 0, "%s", e.msg);
        }
        cr_assert_eq(ds_bulk_flush(&b, &e), 0, "%s", e.msg);
        cr_assert_eq(b.rows, sizes[i]);
        ds_bulk_free(&b);
        total += sizes[i];
    }
    int64_t n = 0;
    cr_assert_eq(db_one_i64(c, &e, &n, "SELECT COUNT(*) FROM t"), 0);
    cr_assert_eq(n, total);
    db_stmt *s = db_query(c, &e, "SELECT b, g, x FROM t WHERE a = $1", DBI(total - 300 + 299));
    cr_assert_eq(db_step(s, &e), DB_ROW);
    cr_assert_str_eq(db_col_text(s, 0), "row 299");
    size_t len;
    const double *g = db_col_blob(s, 1, &len);
    cr_assert_eq(len, 16);
    double gx;
    memcpy(&gx, g, sizeof gx);
    cr_assert_eq(gx, 299.125, "geometry comes back bit for bit");
    cr_assert(db_col_null(s, 2));
    db_done(s);
    db_put(c);
    db_close(d);
}

/* The importer's shape inserter (INSERT OR FAIL on SQLite): the statement
 * parses on both drivers, rows land as with the plain inserter, and a
 * flush that fails half-way leaves nothing once the transaction is rolled
 * back, the rows flushed before it included. */
ParameterizedTestParameters(dataset_unit, shape_rows_whole_transaction)
{
    return test_both_drivers();
}

ParameterizedTest(db_driver_kind *k, dataset_unit, shape_rows_whole_transaction)
{
    db *d = test_db_open(*k);
    err e;
    db_conn *c = db_get(d, &e);
    cr_assert_not_null(c, "%s", e.msg);
    /* the columns of the real table, without its foreign keys */
    cr_assert_eq(db_exec_schema(c,
                                "CREATE TABLE shape (id {{ID}}, asset_id BIGINT NOT NULL,"
                                " label_id BIGINT NOT NULL, kind INTEGER NOT NULL,"
                                " x DOUBLE PRECISION NOT NULL, y DOUBLE PRECISION NOT NULL,"
                                " w DOUBLE PRECISION NOT NULL, h DOUBLE PRECISION NOT NULL,"
                                " geom {{BLOB}}, aux {{BLOB}}, score DOUBLE PRECISION, text TEXT,"
                                " attrs {{JSON}}, iscrowd INTEGER NOT NULL DEFAULT 0,"
                                " area DOUBLE PRECISION)",
                                &e),
                 0, "%s", e.msg);
    int64_t n = -1;
    for (int round = 0; round < 2; round++) {
        cr_assert_eq(db_begin(c, &e), 0, "%s", e.msg);
        ds_bulk b;
        cr_assert_eq(ds_shapes_bulk_init_whole_tx(&b, c, &e), 0, "%s", e.msg);
        for (int i = 0; i < 100; i++) {
            ds_shape s;
            ds_shape_init(&s);
            s.kind = DS_BOX;
            s.label_id = 1 + i % 3;
            s.x = i, s.y = 2 * i, s.w = 10, s.h = 5.5;
            cr_assert_eq(ds_shapes_bulk_add(&b, 1 + i / 10, 0, &s, &e), 0, "%s", e.msg);
        }
        cr_assert_eq(ds_bulk_flush(&b, &e), 0, "%s", e.msg);
        cr_assert_eq(db_one_i64(c, &e, &n, "SELECT COUNT(*) FROM shape WHERE h = 5.5"), 0);
        cr_assert_eq(n, 100 * (round + 1));
        if (round == 0) { /* a good transaction */
            ds_bulk_free(&b);
            cr_assert_eq(db_commit(c, &e), 0, "%s", e.msg);
            continue;
        }
        /* five good rows, then one without its asset: the flush fails */
        for (int i = 0; i < 6; i++) {
            db_val v[14] = {i < 5 ? DBI(7) : DBNULL, DBI(1), DBI(DS_BOX), DBD(1), DBD(1), DBD(1),
                            DBD(1), DBNULL, DBNULL, DBNULL, DBNULL, DBNULL, DBI(0), DBNULL};
            for (int j = 0; j < 14; j++)
                cr_assert_eq(ds_bulk_val(&b, v[j], &e), 0, "%s", e.msg);
        }
        err fe;
        cr_assert_eq(ds_bulk_flush(&b, &fe), -1, "a NULL asset_id must be refused");
        ds_bulk_free(&b);
        db_rollback(c);
    }
    cr_assert_eq(db_in_tx(c), false);
    cr_assert_eq(db_one_i64(c, &e, &n, "SELECT COUNT(*) FROM shape"), 0, "%s", e.msg);
    cr_assert_eq(n, 100, "only the committed round's rows remain");
    db_stmt *s = db_query(c, &e, "SELECT asset_id, label_id, x, y, w, h FROM shape WHERE x = 42");
    cr_assert_not_null(s, "%s", e.msg);
    cr_assert_eq(db_step(s, &e), DB_ROW);
    cr_assert_eq(db_col_i64(s, 0), 5);
    cr_assert_eq(db_col_i64(s, 1), 1);
    cr_assert_eq(db_col_dbl(s, 3), 84);
    cr_assert_eq(db_col_dbl(s, 5), 5.5);
    db_done(s);
    db_put(c);
    db_close(d);
}

/* --- archives ---------------------------------------------------------------------------------- */

static void write_tar(const char *path, const char *const *names, int n, bool symlink_last)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    cr_assert_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (int i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, names[i]);
        if (symlink_last && i == n - 1) {
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_symlink(e, "/etc/passwd");
            archive_write_header(a, e);
        } else {
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_perm(e, 0644);
            archive_entry_set_size(e, 5);
            archive_write_header(a, e);
            archive_write_data(a, "hello", 5);
        }
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
}

Test(dataset_unit, archives_refuse_hostile_entries)
{
    const char *dir = test_tmpdir();
    char tar[300], out[300], p[400];
    snprintf(tar, sizeof tar, "%s/a.tar", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    err e;
    const char *good[] = {"./x/y.txt", "z.txt"};
    write_tar(tar, good, 2, false);
    cr_assert(ds_archive_sniff(tar));
    mkdir(out, 0755);
    cr_assert_eq(ds_archive_extract(tar, out, 1 << 20, 100, &e), 0, "%s", e.msg);
    snprintf(p, sizeof p, "%s/x/y.txt", out);
    cr_assert_eq(access(p, R_OK), 0);
    const char *dotdot[] = {"a/../../escape.txt"};
    write_tar(tar, dotdot, 1, false);
    cr_assert_eq(ds_archive_extract(tar, out, 1 << 20, 100, &e), -1);
    cr_assert_not_null(strstr(e.msg, "'..'"), "%s", e.msg);
    const char *abs[] = {"/tmp/abs.txt"};
    write_tar(tar, abs, 1, false);
    cr_assert_eq(ds_archive_extract(tar, out, 1 << 20, 100, &e), -1);
    /* links are skipped, never followed */
    const char *link[] = {"ok.txt", "passwd"};
    write_tar(tar, link, 2, true);
    cr_assert_eq(ds_archive_extract(tar, out, 1 << 20, 100, &e), 0, "%s", e.msg);
    snprintf(p, sizeof p, "%s/passwd", out);
    struct stat st;
    cr_assert_neq(lstat(p, &st), 0, "the link was not created");
    /* bounds */
    write_tar(tar, good, 2, false);
    cr_assert_eq(ds_archive_extract(tar, out, 7, 100, &e), -1);
    cr_assert_eq(e.code, ERR_TOO_LARGE);
    cr_assert_eq(ds_archive_extract(tar, out, 1 << 20, 1, &e), -1);
    /* a plain file is not an archive */
    snprintf(p, sizeof p, "%s/plain.json", dir);
    FILE *f = fopen(p, "w");
    fputs("{\"images\": []}", f);
    fclose(f);
    cr_assert_not(ds_archive_sniff(p));
    ds_rmtree(dir);
}
