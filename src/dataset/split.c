/*
 * split.c - stratified splits of a version's assets into named parts
 * (train/val/test or any names and ratios), stored as asset tags.
 *
 * Iterative stratification (Sechidis, Tsoumakas, Vlahavas 2011), which
 * handles assets with several labels:
 *   - every part j wants ratio_j of the assets, and ratio_j of the assets
 *     of each label l ("desire" c_j and c_j^l);
 *   - repeatedly take the label with the fewest assets still unplaced and
 *     place each of those assets into the part that most wants that label
 *     (ties: the part that wants the most assets overall, then a seeded
 *     coin), lowering that part's desires for every label of the asset;
 *   - assets without labels go to the part that wants the most assets.
 * Rare labels are placed first, while every part still wants them, which
 * is what keeps each part's label distribution close to the whole's.
 *
 * Deterministic: the assets are shuffled by a seeded generator before the
 * loop, and every tie is broken by the same generator.
 */
#include <stdlib.h>
#include <string.h>

#include "dataset/internal.h"

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

typedef struct split_state {
    size_t n;          /* assets */
    int64_t *ids;      /* asset ids, shuffled */
    int *part;         /* part of each asset, -1 unplaced */
    size_t *lab_off;   /* CSR: labels of asset i are labs[lab_off[i] .. lab_off[i+1]) */
    int *labs;
    int nl;            /* labels */
    double *want;      /* nparts */
    double *want_l;    /* nparts * nl */
    int64_t *left;     /* per label: assets still unplaced */
    int nparts;
    uint64_t rng;
} split_state;

static int best_part(split_state *st, int label)
{
    int best = -1, ties = 0;
    for (int j = 0; j < st->nparts; j++) {
        double a = label >= 0 ? st->want_l[(size_t)j * (size_t)st->nl + (size_t)label] : st->want[j];
        double b = st->want[j];
        if (best < 0) {
            best = j;
            ties = 1;
            continue;
        }
        double ba = label >= 0 ? st->want_l[(size_t)best * (size_t)st->nl + (size_t)label] : st->want[best];
        double bb = st->want[best];
        if (a > ba || (a == ba && b > bb)) {
            best = j;
            ties = 1;
        } else if (a == ba && b == bb) {
            /* reservoir choice among equal parts */
            ties++;
            if (splitmix(&st->rng) % (uint64_t)ties == 0)
                best = j;
        }
    }
    return best;
}

static void place(split_state *st, size_t i, int j)
{
    st->part[i] = j;
    st->want[j] -= 1;
    for (size_t k = st->lab_off[i]; k < st->lab_off[i + 1]; k++) {
        int l = st->labs[k];
        st->want_l[(size_t)j * (size_t)st->nl + (size_t)l] -= 1;
        st->left[l]--;
    }
}

static void stratify(split_state *st, const double *ratios)
{
    /* label -> assets (in shuffled order) */
    size_t *cnt = calloc((size_t)st->nl + 1, sizeof *cnt);
    for (size_t k = 0; k < st->lab_off[st->n]; k++)
        cnt[st->labs[k] + 1]++;
    for (int l = 0; l < st->nl; l++)
        cnt[l + 1] += cnt[l];
    size_t *fill = malloc(((size_t)st->nl + 1) * sizeof *fill);
    size_t *members = malloc((st->lab_off[st->n] ? st->lab_off[st->n] : 1) * sizeof *members);
    memcpy(fill, cnt, ((size_t)st->nl + 1) * sizeof *fill);
    for (size_t i = 0; i < st->n; i++)
        for (size_t k = st->lab_off[i]; k < st->lab_off[i + 1]; k++)
            members[fill[st->labs[k]]++] = i;
    for (int l = 0; l < st->nl; l++) {
        st->left[l] = (int64_t)(cnt[l + 1] - cnt[l]);
        for (int j = 0; j < st->nparts; j++)
            st->want_l[(size_t)j * (size_t)st->nl + (size_t)l] = ratios[j] * (double)st->left[l];
    }
    for (int j = 0; j < st->nparts; j++)
        st->want[j] = ratios[j] * (double)st->n;
    for (;;) {
        int l = -1;
        for (int k = 0; k < st->nl; k++)
            if (st->left[k] > 0 && (l < 0 || st->left[k] < st->left[l]))
                l = k;
        if (l < 0)
            break;
        for (size_t m = cnt[l]; m < cnt[l + 1]; m++) {
            size_t i = members[m];
            if (st->part[i] < 0)
                place(st, i, best_part(st, l));
        }
    }
    for (size_t i = 0; i < st->n; i++)
        if (st->part[i] < 0)
            place(st, i, best_part(st, -1));
    free(cnt);
    free(fill);
    free(members);
}

int dataset_split(db_conn *c, int64_t org, int64_t version, const dataset_split_opts *o, jw *w,
                  err *e)
{
    if (o->n < 1 || o->n > DATASET_SPLITS_MAX)
        return err_set(e, ERR_INVALID, "give 1 to %d splits with their ratios", DATASET_SPLITS_MAX);
    double sum = 0, ratios[DATASET_SPLITS_MAX];
    for (int j = 0; j < o->n; j++) {
        if (name_check("split name", o->names[j], 128, e))
            return -1;
        for (int k = 0; k < j; k++)
            if (strcmp(o->names[k], o->names[j]) == 0)
                return err_set(e, ERR_INVALID, "split '%s' is named twice", o->names[j]);
        if (!(o->ratios[j] > 0) || !isfinite(o->ratios[j]))
            return err_set(e, ERR_INVALID, "the ratio of split '%s' must be a positive number",
                           o->names[j]);
        sum += o->ratios[j];
    }
    for (int j = 0; j < o->n; j++)
        ratios[j] = o->ratios[j] / sum;
    split_state st = {0};
    st.nparts = o->n;
    st.rng = o->seed ^ 0x5851f42d4c957f2dULL;
    ds_labels labels = {0};
    ds_imap pos = {0};
    sbuf where = SBUF_INIT, sql = SBUF_INIT;
    ds_sel sel = {0};
    ds_bulk tb = {0};
    bool tb_ok = false;
    int rc = -1;
    size_t cap = 0, lcap = 0, nlabs = 0;
    if (ds_sel_build(c, NULL, o->q ? o->q : "", 2, &where, &sel, e) < 0)
        goto out;
    if (db_begin(c, e))
        goto out;
    if (dataset_version_writable(c, org, version, e) || ds_labels_load(c, version, &labels, e))
        goto fail;
    st.nl = (int)labels.n;
    /* the assets to split */
    sbuf_printf(&sql, "SELECT a.id" DS_ASSET_FROM " WHERE a.version_id = $1 AND %s ORDER BY a.id",
                sbuf_cstr(&where));
    db_stmt *s = db_prepare(c, sbuf_cstr(&sql), e);
    if (!s)
        goto fail;
    db_bind(s, 1, DBI(version));
    ds_sel_bind(s, &sel, 2);
    int r;
    while ((r = db_step(s, e)) == DB_ROW) {
        if (st.n == cap) {
            cap = cap ? cap * 2 : 1024;
            int64_t *x = realloc(st.ids, cap * sizeof *x);
            if (!x) {
                r = err_set(e, ERR_INTERNAL, "out of memory");
                break;
            }
            st.ids = x;
        }
        st.ids[st.n++] = db_col_i64(s, 0);
    }
    db_done(s);
    if (r < 0)
        goto fail;
    /* shuffle, then index */
    for (size_t i = st.n; i > 1; i--) {
        size_t k = (size_t)(splitmix(&st.rng) % i);
        int64_t t = st.ids[i - 1];
        st.ids[i - 1] = st.ids[k];
        st.ids[k] = t;
    }
    for (size_t i = 0; i < st.n; i++)
        if (ds_imap_put(&pos, st.ids[i], (int64_t)i)) {
            err_set(e, ERR_INTERNAL, "out of memory");
            goto fail;
        }
    /* each asset's distinct labels, gathered per asset */
    int64_t *pairs = NULL; /* (asset position, label index) */
    s = db_query(c, e,
                 "SELECT DISTINCT s.asset_id, s.label_id FROM asset a JOIN shape s ON s.asset_id = a.id"
                 " WHERE a.version_id = $1",
                 DBI(version));
    if (!s)
        goto fail;
    while ((r = db_step(s, e)) == DB_ROW) {
        int64_t p, li;
        if (!ds_imap_get(&pos, db_col_i64(s, 0), &p) || !ds_imap_get(&labels.by_id, db_col_i64(s, 1), &li))
            continue;
        if (nlabs == lcap) {
            lcap = lcap ? lcap * 2 : 4096;
            int64_t *x = realloc(pairs, lcap * 2 * sizeof *x);
            if (!x) {
                r = err_set(e, ERR_INTERNAL, "out of memory");
                break;
            }
            pairs = x;
        }
        pairs[nlabs * 2] = p;
        pairs[nlabs * 2 + 1] = li - 1;
        nlabs++;
    }
    db_done(s);
    st.part = malloc((st.n ? st.n : 1) * sizeof *st.part);
    st.lab_off = calloc(st.n + 1, sizeof *st.lab_off);
    st.labs = malloc((nlabs ? nlabs : 1) * sizeof *st.labs);
    st.want = calloc((size_t)st.nparts, sizeof *st.want);
    st.want_l = calloc((size_t)st.nparts * ((size_t)st.nl + 1), sizeof *st.want_l);
    st.left = calloc((size_t)st.nl + 1, sizeof *st.left);
    if (r < 0 || !st.part || !st.lab_off || !st.labs || !st.want || !st.want_l || !st.left) {
        free(pairs);
        if (r >= 0)
            err_set(e, ERR_INTERNAL, "out of memory");
        goto fail;
    }
    for (size_t k = 0; k < nlabs; k++)
        st.lab_off[pairs[k * 2] + 1]++;
    for (size_t i = 0; i < st.n; i++)
        st.lab_off[i + 1] += st.lab_off[i];
    {
        size_t *fill = malloc((st.n + 1) * sizeof *fill);
        if (!fill) {
            free(pairs);
            err_set(e, ERR_INTERNAL, "out of memory");
            goto fail;
        }
        memcpy(fill, st.lab_off, (st.n + 1) * sizeof *fill);
        for (size_t k = 0; k < nlabs; k++)
            st.labs[fill[pairs[k * 2]]++] = (int)pairs[k * 2 + 1];
        free(fill);
        /* a fixed label order inside each asset, whatever order the rows came in */
        for (size_t i = 0; i < st.n; i++) {
            int *L = st.labs + st.lab_off[i];
            size_t m = st.lab_off[i + 1] - st.lab_off[i];
            for (size_t a = 1; a < m; a++)
                for (size_t b = a; b > 0 && L[b - 1] > L[b]; b--) {
                    int t = L[b];
                    L[b] = L[b - 1];
                    L[b - 1] = t;
                }
        }
    }
    free(pairs);
    for (size_t i = 0; i < st.n; i++)
        st.part[i] = -1;
    stratify(&st, ratios);
    /* store: the split tags of the chosen assets are replaced */
    sbuf_reset(&sql);
    sbuf_printf(&sql,
                "DELETE FROM asset_tag WHERE version_id = $1 AND name = $%d AND asset_id IN"
                " (SELECT a.id" DS_ASSET_FROM " WHERE a.version_id = $1 AND %s)",
                sel.next, sbuf_cstr(&where));
    for (int j = 0; j < o->n; j++) {
        s = db_prepare(c, sbuf_cstr(&sql), e);
        if (!s)
            goto fail;
        db_bind(s, 1, DBI(version));
        ds_sel_bind(s, &sel, 2);
        db_bind(s, sel.next, DBT(o->names[j]));
        while ((r = db_step(s, e)) == DB_ROW)
            ;
        db_done(s);
        if (r < 0)
            goto fail;
    }
    if (ds_bulk_init(&tb, c, "INSERT INTO asset_tag (asset_id, version_id, name) VALUES ",
                     " ON CONFLICT DO NOTHING", 3, 500, e))
        goto fail;
    tb_ok = true;
    for (size_t i = 0; i < st.n; i++)
        if (ds_bulk_val(&tb, DBI(st.ids[i]), e) || ds_bulk_val(&tb, DBI(version), e) ||
            ds_bulk_val(&tb, DBT(o->names[st.part[i]]), e))
            goto fail;
    if (ds_bulk_flush(&tb, e) || db_commit(c, e))
        goto fail;
    /* the report: per part, its assets and each label's asset count */
    int64_t *per = calloc((size_t)st.nparts * ((size_t)st.nl + 1), sizeof *per);
    int64_t *count = calloc((size_t)st.nparts, sizeof *count);
    int64_t *total = calloc((size_t)st.nl + 1, sizeof *total);
    if (per && count && total) {
        for (size_t i = 0; i < st.n; i++) {
            int j = st.part[i];
            count[j]++;
            for (size_t k = st.lab_off[i]; k < st.lab_off[i + 1]; k++) {
                per[(size_t)j * (size_t)st.nl + (size_t)st.labs[k]]++;
                total[st.labs[k]]++;
            }
        }
        jw_obj(w);
        jw_kint(w, "version_id", version);
        jw_kint(w, "seed", (int64_t)o->seed);
        jw_kint(w, "assets", (int64_t)st.n);
        jw_key(w, "labels");
        jw_obj(w);
        for (int l = 0; l < st.nl; l++)
            jw_kint(w, labels.items[l].name, total[l]);
        jw_obj_end(w);
        jw_key(w, "splits");
        jw_arr(w);
        for (int j = 0; j < st.nparts; j++) {
            jw_obj(w);
            jw_kstr(w, "name", o->names[j]);
            jw_kdbl(w, "ratio", ratios[j]);
            jw_kint(w, "assets", count[j]);
            jw_kdbl(w, "fraction", st.n ? (double)count[j] / (double)st.n : 0);
            jw_key(w, "labels");
            jw_obj(w);
            for (int l = 0; l < st.nl; l++)
                jw_kint(w, labels.items[l].name, per[(size_t)j * (size_t)st.nl + (size_t)l]);
            jw_obj_end(w);
            jw_obj_end(w);
        }
        jw_arr_end(w);
        jw_obj_end(w);
        rc = 0;
    } else {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
    }
    free(per);
    free(count);
    free(total);
    goto out;
fail:
    db_rollback(c);
out:
    if (tb_ok)
        ds_bulk_free(&tb);
    ds_sel_free(&sel);
    sbuf_free(&where);
    sbuf_free(&sql);
    ds_labels_free(&labels);
    ds_imap_free(&pos);
    free(st.ids);
    free(st.part);
    free(st.lab_off);
    free(st.labs);
    free(st.want);
    free(st.want_l);
    free(st.left);
    return rc;
}
