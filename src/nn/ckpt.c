/*
 * ckpt.c - checkpoints in the safetensors layout.
 *
 *   8 bytes   header length L, unsigned little-endian
 *   L bytes   JSON: {"__metadata__": {string: string, ...},
 *                    "<tensor>": {"dtype": "F32", "shape": [...],
 *                                 "data_offsets": [begin, end]}, ...}
 *             padded with spaces to a multiple of 8
 *   data      the tensors, offsets relative to the end of the header
 *
 * Tensors are stored plain, in PyTorch's order and names ("<node>.weight",
 * "<node>.running_mean", ...), whatever layout they have in memory. The
 * model file's metadata carries "format" ("cvops-nn/1"), "arch" (the
 * architecture JSON), "labels" (a JSON array) and optionally "extra". The
 * optimizer file carries "format" ("cvops-nn-optim/1"), "kind" and "step",
 * and the tensors "<param>.m1" / "<param>.m2".
 *
 * Files are written to a temporary name, flushed and renamed. Reading
 * checks the header against the file size and every tensor's dtype, shape
 * and byte range before copying anything.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn/nn_impl.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoints assume a little-endian host"
#endif

typedef struct st_entry {
    char name[NN_NAME_MAX + 32];
    nn_param *p;
    int which;
} st_entry;

typedef struct st_meta {
    const char *key, *value;
} st_meta;

static int st_save(const char *path, const st_entry *t, int n, const st_meta *meta, int nmeta,
                   err *e)
{
    sbuf h = SBUF_INIT;
    jw w;
    jw_init(&w, &h);
    jw_obj(&w);
    jw_key(&w, "__metadata__");
    jw_obj(&w);
    for (int i = 0; i < nmeta; i++)
        if (meta[i].value)
            jw_kstr(&w, meta[i].key, meta[i].value);
    jw_obj_end(&w);
    uint64_t off = 0;
    size_t maxn = 0;
    for (int i = 0; i < n; i++) {
        const nn_param *p = t[i].p;
        jw_key(&w, t[i].name);
        jw_obj(&w);
        jw_kstr(&w, "dtype", "F32");
        jw_key(&w, "shape");
        jw_arr(&w);
        for (int d = 0; d < p->ndim; d++)
            jw_int(&w, p->shape[d]);
        jw_arr_end(&w);
        jw_key(&w, "data_offsets");
        jw_arr(&w);
        jw_int(&w, (int64_t)off);
        off += p->numel * sizeof(float);
        jw_int(&w, (int64_t)off);
        jw_arr_end(&w);
        jw_obj_end(&w);
        if (p->numel > maxn)
            maxn = p->numel;
    }
    jw_obj_end(&w);
    while (h.len % 8 != 0)
        sbuf_putc(&h, ' ');
    if (sbuf_failed(&h)) {
        sbuf_free(&h);
        return err_set(e, ERR_INTERNAL, "out of memory for the checkpoint header");
    }

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    float *buf = malloc((maxn ? maxn : 1) * sizeof(float));
    if (!tmp || !buf) {
        free(tmp);
        free(buf);
        sbuf_free(&h);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    snprintf(tmp, plen + 16, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    int rc = 0;
    if (!f) {
        rc = err_set(e, ERR_IO, "cannot write %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        goto out;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    if (fwrite(len8, 1, 8, f) != 8 || fwrite(h.p, 1, h.len, f) != h.len)
        rc = err_set(e, ERR_IO, "writing %s: %s", path, strerror(errno));
    for (int i = 0; i < n && rc == 0; i++) {
        const nn_param *p = t[i].p;
        if (nn_param_to_plain(p, t[i].which, buf, e) < 0)
            rc = -1;
        else if (fwrite(buf, sizeof(float), p->numel, f) != p->numel)
            rc = err_set(e, ERR_IO, "writing %s: %s", path, strerror(errno));
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        if (rc == 0)
            rc = err_set(e, ERR_IO, "writing %s: %s", path, strerror(errno));
    }
    if (fclose(f) != 0 && rc == 0)
        rc = err_set(e, ERR_IO, "writing %s: %s", path, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = err_set(e, ERR_IO, "renaming to %s: %s", path, strerror(errno));
    if (rc != 0)
        unlink(tmp);
out:
    free(tmp);
    free(buf);
    sbuf_free(&h);
    return rc;
}

/* --- reading ------------------------------------------------------------------ */

typedef struct st_file {
    FILE *f;
    json_t *root;
    uint64_t data_start, data_len;
    const char *path;
} st_file;

static void st_close(st_file *s)
{
    if (s->f)
        fclose(s->f);
    json_decref(s->root);
    memset(s, 0, sizeof *s);
}

static int st_open(st_file *s, const char *path, err *e)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    s->f = fopen(path, "rb");
    if (!s->f)
        return err_set(e, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO, "cannot open %s: %s", path,
                       strerror(errno));
    struct stat sb;
    unsigned char len8[8];
    if (fstat(fileno(s->f), &sb) != 0 || fread(len8, 1, 8, s->f) != 8) {
        st_close(s);
        return err_set(e, ERR_UNPROCESSABLE, "%s is not a safetensors file (too short)", path);
    }
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++)
        hl |= (uint64_t)len8[i] << (8 * i);
    if (hl < 2 || hl > NN_MAX_HEADER_BYTES || hl > (uint64_t)sb.st_size - 8) {
        st_close(s);
        return err_set(e, ERR_UNPROCESSABLE,
                       "%s: header length %llu does not fit the file (or exceeds %d bytes)",
                       path, (unsigned long long)hl, NN_MAX_HEADER_BYTES);
    }
    char *hdr = malloc(hl);
    if (!hdr || fread(hdr, 1, hl, s->f) != hl) {
        free(hdr);
        st_close(s);
        return err_set(e, ERR_IO, "%s: cannot read the header", path);
    }
    json_error_t je;
    s->root = json_loadb(hdr, hl, JSON_REJECT_DUPLICATES, &je);
    free(hdr);
    if (!json_is_object(s->root)) {
        st_close(s);
        return err_set(e, ERR_UNPROCESSABLE, "%s: header is not a JSON object", path);
    }
    s->data_start = 8 + hl;
    s->data_len = (uint64_t)sb.st_size - s->data_start;
    const char *k;
    json_t *v;
    json_object_foreach(s->root, k, v)
    {
        if (strcmp(k, "__metadata__") == 0) {
            if (!json_is_object(v)) {
                st_close(s);
                return err_set(e, ERR_UNPROCESSABLE, "%s: __metadata__ must be an object", path);
            }
            continue;
        }
        json_t *off = json_object_get(v, "data_offsets");
        json_t *b = json_array_get(off, 0), *en = json_array_get(off, 1);
        if (!json_is_integer(b) || !json_is_integer(en) || json_integer_value(b) < 0 ||
            json_integer_value(en) < json_integer_value(b) ||
            (uint64_t)json_integer_value(en) > s->data_len) {
            err_set(e, ERR_UNPROCESSABLE, "%s: tensor %s has bad data_offsets", path, k);
            st_close(s); /* k belongs to the header: report first */
            return -1;
        }
    }
    return 0;
}

static const char *st_meta_get(const st_file *s, const char *key)
{
    return json_string_value(json_object_get(json_object_get(s->root, "__metadata__"), key));
}

static bool st_has(const st_file *s, const char *name)
{
    return json_object_get(s->root, name) != NULL;
}

/* Reads tensor `name` (must have p's logical shape) into buffer `which`. */
static int st_read(st_file *s, const char *name, nn_param *p, int which, float *tmp, err *e)
{
    json_t *v = json_object_get(s->root, name);
    if (!v)
        return err_set(e, ERR_UNPROCESSABLE, "%s has no tensor %s", s->path, name);
    const char *dt = json_string_value(json_object_get(v, "dtype"));
    json_t *shape = json_object_get(v, "shape");
    if (!dt || strcmp(dt, "F32") != 0)
        return err_set(e, ERR_UNSUPPORTED, "%s: tensor %s is %s, only F32 is supported", s->path,
                       name, dt ? dt : "untyped");
    bool ok = json_is_array(shape) && (int)json_array_size(shape) == p->ndim;
    for (int d = 0; ok && d < p->ndim; d++)
        ok = json_integer_value(json_array_get(shape, (size_t)d)) == p->shape[d];
    if (!ok)
        return err_set(e, ERR_UNPROCESSABLE,
                       "%s: tensor %s has another shape than the architecture says", s->path,
                       name);
    json_t *off = json_object_get(v, "data_offsets");
    uint64_t b = (uint64_t)json_integer_value(json_array_get(off, 0));
    uint64_t en = (uint64_t)json_integer_value(json_array_get(off, 1));
    if (en - b != p->numel * sizeof(float))
        return err_set(e, ERR_UNPROCESSABLE, "%s: tensor %s has %llu bytes, expected %zu",
                       s->path, name, (unsigned long long)(en - b), p->numel * sizeof(float));
    if (fseeko(s->f, (off_t)(s->data_start + b), SEEK_SET) != 0 ||
        fread(tmp, sizeof(float), p->numel, s->f) != p->numel)
        return err_set(e, ERR_IO, "%s: cannot read tensor %s", s->path, name);
    return nn_param_from_plain(p, which, tmp, e);
}

static float *max_tmp(const nn_model *m)
{
    size_t n = 1;
    for (int i = 0; i < m->nparams; i++)
        if (m->params[i].numel > n)
            n = m->params[i].numel;
    return malloc(n * sizeof(float));
}

/* --- models --------------------------------------------------------------------- */

int nn_model_save(const nn_model *m, const char *path, const char *extra_json, err *e)
{
    if (extra_json) {
        json_error_t je;
        json_t *x = json_loads(extra_json, JSON_DECODE_ANY, &je);
        if (!x)
            return err_set(e, ERR_INVALID, "extra metadata is not JSON: %s", je.text);
        json_decref(x);
    }
    st_entry *t = calloc((size_t)(m->nparams ? m->nparams : 1), sizeof *t);
    if (!t)
        return err_set(e, ERR_INTERNAL, "out of memory");
    for (int i = 0; i < m->nparams; i++) {
        snprintf(t[i].name, sizeof t[i].name, "%s", m->params[i].name);
        t[i].p = &m->params[i];
        t[i].which = PB_DATA;
    }
    sbuf lb = SBUF_INIT;
    jw w;
    jw_init(&w, &lb);
    jw_arr(&w);
    for (int i = 0; i < m->nlabels; i++)
        jw_str(&w, m->labels[i]);
    jw_arr_end(&w);
    st_meta meta[4] = {{"format", "cvops-nn/1"},
                       {"arch", m->arch},
                       {"labels", sbuf_cstr(&lb)},
                       {"extra", extra_json}};
    int rc = sbuf_failed(&lb) ? err_set(e, ERR_INTERNAL, "out of memory")
                              : st_save(path, t, m->nparams, meta, 4, e);
    sbuf_free(&lb);
    free(t);
    return rc;
}

nn_model *nn_model_load(const char *path, char **extra_json, err *e)
{
    if (extra_json)
        *extra_json = NULL;
    st_file s;
    if (st_open(&s, path, e) < 0)
        return NULL;
    nn_model *m = NULL;
    float *tmp = NULL;
    const char *fmt = st_meta_get(&s, "format");
    const char *arch = st_meta_get(&s, "arch");
    if (!fmt || strcmp(fmt, "cvops-nn/1") != 0 || !arch) {
        err_set(e, ERR_UNSUPPORTED,
                "%s is not a cvops model (its __metadata__ needs format \"cvops-nn/1\" and an "
                "arch)",
                path);
        goto fail;
    }
    m = nn_model_new(arch, 0, e);
    if (!m) {
        err_prefix(e, "%s: ", path);
        goto fail;
    }
    if (!(tmp = max_tmp(m))) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto fail;
    }
    for (int i = 0; i < m->nparams; i++)
        if (st_read(&s, m->params[i].name, &m->params[i], PB_DATA, tmp, e) < 0)
            goto fail;
    const char *labels = st_meta_get(&s, "labels");
    if (labels) {
        json_error_t je;
        json_t *a = json_loads(labels, 0, &je);
        int n = json_is_array(a) ? (int)json_array_size(a) : -1;
        const char **l = n > 0 ? calloc((size_t)n, sizeof *l) : NULL;
        for (int i = 0; l && i < n; i++)
            l[i] = json_string_value(json_array_get(a, (size_t)i));
        int rc = n < 0 ? err_set(e, ERR_UNPROCESSABLE, "%s: labels are not a JSON array", path)
                 : n == 0 ? 0
                 : l     ? nn_model_set_labels(m, l, n, e)
                         : err_set(e, ERR_INTERNAL, "out of memory");
        free(l);
        json_decref(a);
        if (rc < 0)
            goto fail;
    }
    const char *extra = st_meta_get(&s, "extra");
    if (extra && extra_json && !(*extra_json = strdup(extra))) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto fail;
    }
    free(tmp);
    st_close(&s);
    return m;
fail:
    free(tmp);
    nn_model_free(m);
    st_close(&s);
    return NULL;
}

/* --- optimizer state ---------------------------------------------------------------- */

int nn_optim_save(const nn_optim *o, const char *path, err *e)
{
    nn_model *m = nn_optim_model(o);
    st_entry *t = calloc((size_t)(2 * m->nparams + 1), sizeof *t);
    if (!t)
        return err_set(e, ERR_INTERNAL, "out of memory");
    int n = 0;
    for (int i = 0; i < m->nparams; i++) {
        static const char *const sfx[2] = {"m1", "m2"};
        for (int k = 0; k < 2; k++) {
            nn_param *p = &m->params[i];
            if (!p->buf[PB_M1 + k])
                continue;
            snprintf(t[n].name, sizeof t[n].name, "%s.%s", p->name, sfx[k]);
            t[n].p = p;
            t[n].which = PB_M1 + k;
            n++;
        }
    }
    char step[32];
    snprintf(step, sizeof step, "%lld", (long long)nn_optim_steps(o));
    st_meta meta[3] = {{"format", "cvops-nn-optim/1"},
                       {"kind", nn_optim_kind_of(o) == NN_SGD ? "sgd" : "adamw"},
                       {"step", step}};
    int rc = st_save(path, t, n, meta, 3, e);
    free(t);
    return rc;
}

int nn_optim_load(nn_optim *o, const char *path, err *e)
{
    nn_model *m = nn_optim_model(o);
    st_file s;
    if (st_open(&s, path, e) < 0)
        return -1;
    int rc = 0;
    const char *fmt = st_meta_get(&s, "format"), *kind = st_meta_get(&s, "kind");
    const char *step = st_meta_get(&s, "step");
    const char *want = nn_optim_kind_of(o) == NN_SGD ? "sgd" : "adamw";
    float *tmp = max_tmp(m);
    if (!tmp) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
    } else if (!fmt || strcmp(fmt, "cvops-nn-optim/1") != 0 || !kind || !step) {
        rc = err_set(e, ERR_UNSUPPORTED, "%s is not a cvops optimizer state", path);
    } else if (strcmp(kind, want) != 0) {
        rc = err_set(e, ERR_CONFLICT, "%s holds %s state, the optimizer is %s", path, kind, want);
    } else {
        for (int i = 0; i < m->nparams && rc == 0; i++) {
            char name[NN_NAME_MAX + 32];
            for (int k = 0; k < 2 && rc == 0; k++) {
                snprintf(name, sizeof name, "%s.%s", m->params[i].name, k ? "m2" : "m1");
                if (st_has(&s, name))
                    rc = st_read(&s, name, &m->params[i], PB_M1 + k, tmp, e);
            }
        }
        if (rc == 0)
            nn_optim_set_steps(o, strtoll(step, NULL, 10));
    }
    free(tmp);
    st_close(&s);
    return rc;
}
