/*
 * common.c - numbers, hash tables, paths, directory walks and buffered
 * output shared by the format readers and writers (see internal.h).
 *
 * Numbers are the hot path of a COCO file: 25 million of them in a 220 MB
 * file. Parsing takes Clinger's fast path (at most 15 significant digits
 * and a power of ten up to 1e22: one exact integer, one correctly rounded
 * multiply or divide) and falls back to strtod for the rest, so the result
 * is always the correctly rounded double. Printing tries "integer m with k
 * decimals" for k = 0..9 and keeps it only if m / 10^k reads back to exactly
 * v; otherwise %.15g / %.16g / %.17g, the first that reads back. Both are
 * exact round trips; the fast paths only make them cheap.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/internal.h"
#include "image/image.h"

/* --- numbers ----------------------------------------------------------------------- */

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

int fmt_parse_dbl(const char *s, size_t n, double *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    /* digits go into m while there are at most 19 of them (leading zeros
     * included: they cost nothing but keep the loop free of branches);
     * more digits take the slow path */
    uint64_t m = 0;
    int nd = 0, frac = 0;
    size_t d0 = i;
    while (i < n && is_digit(s[i])) {
        m = m * 10 + (uint64_t)(s[i] - '0');
        i++;
    }
    nd = (int)(i - d0);
    if (i < n && s[i] == '.') {
        size_t f0 = ++i;
        while (i < n && is_digit(s[i])) {
            m = m * 10 + (uint64_t)(s[i] - '0');
            i++;
        }
        frac = (int)(i - f0);
        nd += frac;
    }
    if (nd == 0)
        return -1;
    int ex = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            eneg = s[i++] == '-';
        if (i >= n || !is_digit(s[i]))
            return -1;
        while (i < n && is_digit(s[i])) {
            if (ex < 100000)
                ex = ex * 10 + (s[i] - '0');
            i++;
        }
        if (eneg)
            ex = -ex;
    }
    if (i != n)
        return -1;
    int e10 = ex - frac;
    if (nd <= 19 && m < (1ull << 53)) {
        if (m == 0) {
            *out = neg ? -0.0 : 0.0;
            return 0;
        }
        double d = (double)m;
        if (e10 == 0) {
            *out = neg ? -d : d;
            return 0;
        }
        if (e10 > 0 && e10 <= 22) {
            d *= POW10[e10];
            *out = neg ? -d : d;
            return 0;
        }
        if (e10 < 0 && e10 >= -22) {
            d /= POW10[-e10];
            *out = neg ? -d : d;
            return 0;
        }
    }
    /* slow path: strtod on a NUL-terminated copy (the grammar was checked) */
    char tmp[128];
    char *p = n < sizeof tmp ? tmp : malloc(n + 1);
    if (!p)
        return -1;
    memcpy(p, s, n);
    p[n] = 0;
    *out = strtod(p, NULL);
    if (p != tmp)
        free(p);
    return 0;
}

int fmt_parse_i64(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && s[i] == '-')
        neg = true, i++;
    uint64_t v = 0;
    size_t d0 = i;
    while (i < n && is_digit(s[i])) {
        uint64_t dv = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - dv) / 10)
            return -1;
        v = v * 10 + dv;
        i++;
    }
    if (i == n && i > d0) {
        if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
            return -1;
        *out = neg ? (int64_t)(0 - v) : (int64_t)v;
        return 0;
    }
    /* 12.0, 1e3: integral values written as decimals */
    double d;
    if (fmt_parse_dbl(s, n, &d) < 0 || !isfinite(d) || d != floor(d) || fabs(d) > 9.0e15)
        return -1;
    *out = (int64_t)d;
    return 0;
}

static int put_u64(char *out, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* What the loop over snprintf("%.15g" / "%.16g" / "%.17g") and strtod at the
 * end of fmt_dbl_str prints (the fewest of 15, 16, 17 significant digits
 * that read back as v, trailing zeros dropped), in exact integer
 * arithmetic, for a non-integer 1e-4 <= |v| < 1e15 (fixed notation, not
 * %g's exponent form). That loop was most of an export's time: a bbox
 * computed from a polygon (x1 - x0) rarely has a short decimal form.
 * (Short forms, 123.45, are found faster by fmt_dbl_str's search first.)
 *
 * |v| = m 2^-q with 2^52 <= m < 2^53 and 0 < q <= 66. The digits for precision p
 * are N = round-half-even(m 10^s / 2^q), s = p - 1 - E, E the decimal
 * exponent; m 10^s < 2^53 10^21 < 2^123 fits 128 bits. N read back is v
 * iff N / 10^s lies inside v's rounding interval: with everything scaled
 * by 4 10^s 2^q (< 2^128), 4m 10^s - l < 4 N 2^q < 4m 10^s + 2 10^s
 * (l = 2 10^s, or 10^s when m is a power of two: the lower neighbour is
 * closer), with the ends included when m is even (ties go to even).
 * Returns 0 when v is outside this case. */
static int dbl_exact_g(double v, char out[40])
{
    typedef unsigned __int128 u128;
    double a = fabs(v);
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    int be = (int)(bits >> 52);
    if (be == 0)
        return 0; /* subnormal */
    uint64_t m = (bits & ((1ull << 52) - 1)) | (1ull << 52);
    int ex = be - 1022; /* a = m 2^(ex-53), 2^52 <= m < 2^53 */
    int q = 53 - ex;
    if (q <= 0 || q > 66)
        return 0;
    /* floor(log10(a)), or one less: a >= 2^(ex-1); corrected below */
    int E = (int)floor((ex - 1) * 0.30102999566398120);
    static const uint64_t P10[] = {1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull,
                                   1000000ull, 10000000ull, 100000000ull, 1000000000ull,
                                   10000000000ull, 100000000000ull, 1000000000000ull,
                                   10000000000000ull, 100000000000000ull, 1000000000000000ull,
                                   10000000000000000ull, 100000000000000000ull,
                                   1000000000000000000ull, 10000000000000000000ull};
    bool pow2 = (m & (m - 1)) == 0, even = (m & 1) == 0;
    for (int p = 15; p <= 17; p++) {
        uint64_t N = 0;
        int s = 0;
        for (int tries = 0; tries < 3; tries++) {
            s = p - 1 - E;
            if (s < 0 || s > 21)
                return 0;
            u128 ten = (u128)P10[s > 19 ? 19 : s] * (s > 19 ? P10[s - 19] : 1);
            u128 num = (u128)m * ten;
            u128 quo = num >> q, rem = num & (((u128)1 << q) - 1), half = (u128)1 << (q - 1);
            if (quo >= P10[p]) {
                E++;
                continue;
            }
            if (quo < P10[p - 1]) {
                E--;
                continue;
            }
            N = (uint64_t)quo;
            if (rem > half || (rem == half && (N & 1)))
                N++;
            break;
        }
        if (!N)
            return 0;
        if (N == P10[p]) { /* rounded up to the next power of ten */
            N /= 10;
            E++;
            s--;
        }
        if (s < 0)
            return 0;
        if (E < -4 || E >= p)
            return 0; /* %g would use its exponent form */
        if (p < 17) {
            u128 ten = (u128)P10[s > 19 ? 19 : s] * (s > 19 ? P10[s - 19] : 1);
            u128 d = ((u128)N << q) * 4, c = (u128)m * ten * 4;
            u128 lo = c - (pow2 ? ten : 2 * ten), hi = c + 2 * ten;
            bool in = even ? (d >= lo && d <= hi) : (d > lo && d < hi);
            if (!in)
                continue;
        }
        /* N with s decimals, trailing zeros dropped (as %g does) */
        while (s > 0 && N % 10 == 0)
            N /= 10, s--;
        char dig[24];
        int nd = put_u64(dig, N), n = 0;
        if (v < 0)
            out[n++] = '-';
        if (s == 0) {
            memcpy(out + n, dig, (size_t)nd);
            return n + nd;
        }
        if (nd <= s) {
            out[n++] = '0';
            out[n++] = '.';
            for (int z = 0; z < s - nd; z++)
                out[n++] = '0';
            memcpy(out + n, dig, (size_t)nd);
            return n + nd;
        }
        memcpy(out + n, dig, (size_t)(nd - s));
        n += nd - s;
        out[n++] = '.';
        memcpy(out + n, dig + nd - s, (size_t)s);
        return n + s;
    }
    return 0;
}

int fmt_dbl_str(double v, char out[40])
{
    if (v == 0) {
        out[0] = '0';
        return 1;
    }
    double a = fabs(v);
    if (a < 1e15 && a >= 1e-6) {
        for (int k = 0; k <= 9; k++) {
            double m = a * POW10[k];
            if (m >= 9007199254740992.0)
                break;
            if (m != floor(m) || m / POW10[k] != a)
                continue;
            uint64_t u = (uint64_t)m;
            int kk = k;
            while (kk > 0 && u % 10 == 0) /* same rational, same double */
                u /= 10, kk--;
            k = kk;
            char dig[24];
            int nd = put_u64(dig, u);
            int n = 0;
            if (v < 0)
                out[n++] = '-';
            if (k == 0) {
                memcpy(out + n, dig, (size_t)nd);
                return n + nd;
            }
            if (nd <= k) { /* 0.000ddd */
                out[n++] = '0';
                out[n++] = '.';
                for (int z = 0; z < k - nd; z++)
                    out[n++] = '0';
                memcpy(out + n, dig, (size_t)nd);
                n += nd;
            } else {
                memcpy(out + n, dig, (size_t)(nd - k));
                n += nd - k;
                out[n++] = '.';
                memcpy(out + n, dig + nd - k, (size_t)k);
                n += k;
            }
            return n;
        }
    }
    if (a < 1e15 && a >= 1e-4) {
        int n = dbl_exact_g(v, out);
        if (n > 0)
            return n;
    }
    for (int prec = 15; prec <= 17; prec++) {
        int n = snprintf(out, 40, "%.*g", prec, v);
        if (prec == 17 || strtod(out, NULL) == v)
            return n;
    }
    return 0; /* not reached */
}

void fmt_put_dbl(sbuf *b, double v)
{
    if (!sbuf_reserve(b, 40))
        return;
    b->len += (size_t)fmt_dbl_str(v, b->p + b->len);
    b->p[b->len] = 0;
}

void fmt_put_dbls(sbuf *b, const double *v, size_t n)
{
    if (!sbuf_reserve(b, n * 41 + 1))
        return;
    char *p = b->p + b->len;
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        p += fmt_dbl_str(v[i], p);
    }
    b->len = (size_t)(p - b->p);
    b->p[b->len] = 0;
}

/* --- hash tables ------------------------------------------------------------------- */

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* A full mix: with linear probing, any hash that keeps consecutive ids
 * together builds long runs that other keys then walk through. */
static inline size_t i64_slot(int64_t k, size_t cap)
{
    return (size_t)(mix64((uint64_t)k) & (cap - 1));
}

static int i64map_grow(fmt_i64map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    int64_t *keys = malloc(cap * sizeof *keys);
    int32_t *vals = malloc(cap * sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return -1;
    }
    memset(vals, 0xff, cap * sizeof *vals);
    for (size_t i = 0; i < m->cap; i++) {
        if (m->vals[i] < 0)
            continue;
        size_t j = i64_slot(m->keys[i], cap);
        while (vals[j] >= 0)
            j = (j + 1) & (cap - 1);
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

static int hashed_put(fmt_i64map *m, int64_t k, int32_t v, int32_t *old)
{
    if ((m->n + 1) * 4 > m->cap * 3 && i64map_grow(m) < 0)
        return -1;
    size_t j = i64_slot(k, m->cap);
    while (m->vals[j] >= 0) {
        if (m->keys[j] == k) {
            if (old)
                *old = m->vals[j];
            return 1;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->keys[j] = k;
    m->vals[j] = v;
    m->n++;
    return 0;
}

static int32_t hashed_get(const fmt_i64map *m, int64_t k)
{
    if (!m->n)
        return -1;
    size_t j = i64_slot(k, m->cap);
    while (m->vals[j] >= 0) {
        if (m->keys[j] == k)
            return m->vals[j];
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}

int fmt_i64map_put(fmt_i64map *m, int64_t k, int32_t v, int32_t *old)
{
    if (k >= 0 && (uint64_t)k >= m->ndense) {
        /* grow the direct array while it stays within 8 slots per key */
        uint64_t limit = 8 * (uint64_t)(m->count + 1);
        if (limit < 65536)
            limit = 65536;
        if ((uint64_t)k < limit) {
            size_t nd = m->ndense ? m->ndense : 1024;
            while (nd <= (uint64_t)k)
                nd *= 2;
            int32_t *p = realloc(m->dense, nd * sizeof *p);
            if (!p)
                return -1;
            memset(p + m->ndense, 0xff, (nd - m->ndense) * sizeof *p);
            m->dense = p;
            m->ndense = nd;
        }
    }
    if (k >= 0 && (uint64_t)k < m->ndense) {
        /* the key may be in the hashed part from before the array grew */
        int32_t h = hashed_get(m, k);
        if (m->dense[k] >= 0 || h >= 0) {
            if (old)
                *old = m->dense[k] >= 0 ? m->dense[k] : h;
            return 1;
        }
        m->dense[k] = v;
        m->count++;
        return 0;
    }
    int r = hashed_put(m, k, v, old);
    if (r == 0)
        m->count++;
    return r;
}

int32_t fmt_i64map_get(const fmt_i64map *m, int64_t k)
{
    if (k >= 0 && (uint64_t)k < m->ndense && m->dense[k] >= 0)
        return m->dense[k];
    return hashed_get(m, k);
}

void fmt_i64map_free(fmt_i64map *m)
{
    free(m->keys);
    free(m->vals);
    free(m->dense);
    memset(m, 0, sizeof *m);
}

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return mix64(h);
}

static int strmap_grow(fmt_strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    const char **keys = calloc(cap, sizeof *keys);
    int32_t *vals = malloc(cap * sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = str_hash(m->keys[i]) & (cap - 1);
        while (keys[j])
            j = (j + 1) & (cap - 1);
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

int fmt_strmap_put(fmt_strmap *m, const char *k, int32_t v, int32_t *old)
{
    if (!m->a && !(m->a = arena_new(4096)))
        return -1;
    if ((m->n + 1) * 4 > m->cap * 3 && strmap_grow(m) < 0)
        return -1;
    size_t j = str_hash(k) & (m->cap - 1);
    while (m->keys[j]) {
        if (strcmp(m->keys[j], k) == 0) {
            if (old)
                *old = m->vals[j];
            return 1;
        }
        j = (j + 1) & (m->cap - 1);
    }
    const char *copy = arena_strdup(m->a, k);
    if (!copy)
        return -1;
    m->keys[j] = copy;
    m->vals[j] = v;
    m->n++;
    return 0;
}

int32_t fmt_strmap_get(const fmt_strmap *m, const char *k)
{
    if (!m->cap)
        return -1;
    size_t j = str_hash(k) & (m->cap - 1);
    while (m->keys[j]) {
        if (strcmp(m->keys[j], k) == 0)
            return m->vals[j];
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}

void fmt_strmap_free(fmt_strmap *m)
{
    free(m->keys);
    free(m->vals);
    arena_free(m->a);
    memset(m, 0, sizeof *m);
}

/* --- paths and files ------------------------------------------------------------------ */

bool fmt_relpath_ok(const char *p)
{
    if (!p || !*p || *p == '/' || strlen(p) > FMT_MAX_NAME)
        return false;
    const char *c = p;
    for (;;) {
        const char *end = strchr(c, '/');
        size_t n = end ? (size_t)(end - c) : strlen(c);
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)c[i] < 0x20 || c[i] == '\\' || c[i] == 0x7f)
                return false;
        if (!end)
            return true;
        c = end + 1;
    }
}

int fmt_mkdir_p(const char *dir, err *e)
{
    char tmp[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof tmp)
        return err_set(e, ERR_INVALID, "directory path '%s' is empty or too long", dir);
    memcpy(tmp, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != 0)
            continue;
        char c = tmp[i];
        tmp[i] = 0;
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return err_set(e, ERR_IO, "cannot create directory %s: %s", tmp, strerror(errno));
        tmp[i] = c;
    }
    if (!fmt_is_dir(dir))
        return err_set(e, ERR_IO, "%s exists and is not a directory", dir);
    return 0;
}

int fmt_mkdirs_for(const char *root, const char *rel, err *e)
{
    const char *slash = strrchr(rel, '/');
    if (!slash)
        return 0;
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s/%.*s", root, (int)(slash - rel), rel);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return err_set(e, ERR_INVALID, "path %s/%s is too long", root, rel);
    return fmt_mkdir_p(tmp, e);
}

char *fmt_slurp(const char *path, size_t max, size_t *len, err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_set(e, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO, "cannot open %s: %s", path,
                strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        err_set(e, ERR_INVALID, "%s is not a regular file", path);
        return NULL;
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        err_set(e, ERR_TOO_LARGE, "%s has %lld bytes, more than the limit of %zu", path,
                (long long)st.st_size, max);
        return NULL;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        err_set(e, ERR_INTERNAL, "out of memory reading %s", path);
        return NULL;
    }
    for (;;) {
        if (n + 1 >= cap) { /* the file grew meanwhile */
            if (cap > max) {
                free(buf);
                close(fd);
                err_set(e, ERR_TOO_LARGE, "%s is larger than the limit of %zu bytes", path, max);
                return NULL;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                close(fd);
                err_set(e, ERR_INTERNAL, "out of memory reading %s", path);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            close(fd);
            err_set(e, ERR_IO, "cannot read %s: %s", path, strerror(errno));
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

bool fmt_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool fmt_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int list_add(fmt_list *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **p = realloc(l->items, cap * sizeof *p);
        if (!p)
            return -1;
        l->items = p;
        l->cap = cap;
    }
    if (!(l->items[l->n] = strdup(s)))
        return -1;
    l->n++;
    return 0;
}

void fmt_list_free(fmt_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walks root/rel; rel is "" at the top. Depth-bounded. */
static int walk(const char *root, const char *rel, int depth, bool recursive, bool dirs_only,
                fmt_name_filter ok, fmt_list *out, err *e)
{
    char dir[4096];
    int dn = snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel);
    if (dn < 0 || (size_t)dn >= sizeof dir)
        return err_set(e, ERR_INVALID, "path %s/%s is too long", root, rel);
    DIR *d = opendir(dir);
    if (!d)
        return err_set(e, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO, "cannot read directory %s: %s",
                       dir, strerror(errno));
    fmt_list sub = {0};
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        if (nm[0] == '.') /* ., .., hidden files (.DS_Store, ._x.jpg) */
            continue;
        char relp[4096];
        int rn = snprintf(relp, sizeof relp, "%s%s%s", rel, *rel ? "/" : "", nm);
        if (rn < 0 || (size_t)rn >= sizeof relp)
            continue;
        struct stat st;
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", dir, nm);
        if (lstat(full, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (dirs_only) {
                if (list_add(out, nm) < 0)
                    rc = err_set(e, ERR_INTERNAL, "out of memory listing %s", dir);
            } else if (recursive) {
                if (list_add(&sub, relp) < 0)
                    rc = err_set(e, ERR_INTERNAL, "out of memory listing %s", dir);
            }
        } else if (S_ISREG(st.st_mode) && !dirs_only && (!ok || ok(nm))) {
            if (list_add(out, relp) < 0)
                rc = err_set(e, ERR_INTERNAL, "out of memory listing %s", dir);
        }
        if (rc)
            break;
    }
    closedir(d);
    for (size_t i = 0; rc == 0 && i < sub.n; i++) {
        if (depth >= 16) {
            rc = err_set(e, ERR_INVALID, "%s/%s: directories nested deeper than 16 levels", root,
                         sub.items[i]);
            break;
        }
        rc = walk(root, sub.items[i], depth + 1, recursive, false, ok, out, e);
    }
    fmt_list_free(&sub);
    return rc;
}

int fmt_list_files(const char *dir, bool recursive, fmt_name_filter ok, fmt_list *out, err *e)
{
    size_t first = out->n;
    if (walk(dir, "", 0, recursive, false, ok, out, e) < 0)
        return -1;
    if (out->n > first)
        qsort(out->items + first, out->n - first, sizeof *out->items, cmp_str);
    return 0;
}

int fmt_list_dirs(const char *dir, fmt_list *out, err *e)
{
    size_t first = out->n;
    if (walk(dir, "", 0, false, true, NULL, out, e) < 0)
        return -1;
    if (out->n > first)
        qsort(out->items + first, out->n - first, sizeof *out->items, cmp_str);
    return 0;
}

bool fmt_is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return false;
    static const char *const exts[] = {"jpg", "jpeg", "png", "bmp", "webp", "tif", "tiff"};
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++)
        if (strcasecmp(dot + 1, exts[i]) == 0)
            return true;
    return false;
}

int fmt_image_size(const char *path, int *w, int *h, err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO, "cannot open: %s",
                       strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        close(fd);
        return err_set(e, ERR_UNPROCESSABLE, "empty or not a regular file");
    }
    /* mapped, not read: the probe touches the headers (and a JPEG's tail) only */
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return err_set(e, ERR_IO, "cannot map: %s", strerror(errno));
    image_info info;
    int rc = image_probe(p, (size_t)st.st_size, &info, e);
    munmap(p, (size_t)st.st_size);
    if (rc < 0)
        return -1;
    *w = (int)info.width;
    *h = (int)info.height;
    return 0;
}

const char *fmt_basename(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

void fmt_replace_ext(const char *p, const char *newext, char *out, size_t n)
{
    const char *base = fmt_basename(p);
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot != base ? (size_t)(dot - p) : strlen(p);
    snprintf(out, n, "%.*s%s", (int)stem, p, newext);
}

/* --- buffered output ------------------------------------------------------------------- */

int fmt_out_open(fmt_out *o, const char *path, err *e)
{
    memset(o, 0, sizeof *o);
    o->path = path;
    o->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (o->fd < 0)
        return err_set(e, ERR_IO, "cannot create %s: %s", path, strerror(errno));
    return 0;
}

int fmt_out_flush(fmt_out *o, bool force, err *e)
{
    if (sbuf_failed(&o->b))
        return err_set(e, ERR_INTERNAL, "out of memory writing %s", o->path);
    if (!force && o->b.len < (1u << 20))
        return 0;
    if (o->sink) {
        int rc = o->b.len ? o->sink(o->sink_ctx, o->b.p, o->b.len, e) : 0;
        sbuf_reset(&o->b);
        return rc ? -1 : 0;
    }
    size_t off = 0;
    while (off < o->b.len) {
        ssize_t n = write(o->fd, o->b.p + off, o->b.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_set(e, ERR_IO, "cannot write %s: %s", o->path, strerror(errno));
        off += (size_t)n;
    }
    sbuf_reset(&o->b);
    return 0;
}

int fmt_out_close(fmt_out *o, err *e)
{
    int rc = fmt_out_flush(o, true, e);
    if (o->fd >= 0 && close(o->fd) < 0 && rc == 0)
        rc = err_set(e, ERR_IO, "cannot write %s: %s", o->path, strerror(errno));
    o->fd = -1;
    sbuf_free(&o->b);
    return rc;
}

void fmt_out_abort(fmt_out *o)
{
    if (o->fd >= 0)
        close(o->fd);
    o->fd = -1;
    sbuf_free(&o->b);
}

int fmt_write_file(const char *path, const char *data, size_t n, err *e)
{
    fmt_out o;
    if (fmt_out_open(&o, path, e) < 0)
        return -1;
    sbuf_put(&o.b, data, n);
    return fmt_out_close(&o, e);
}
