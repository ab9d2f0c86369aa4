/*
 * tracking_load.c - the load generator of the batched-logging benchmark.
 * Builds every batch body first (so the measurement is the server, not the
 * generator), then posts them from several keep-alive connections and
 * prints points per second.
 *
 *   tracking_load URL TOKEN EXPERIMENT BATCHES METRICS STEPS_PER_BATCH CONNS json|packed
 *
 * Batch b holds, for each of METRICS metrics, the steps b*STEPS .. +STEPS-1,
 * values as a training script would have them (full double precision):
 *   json    {"series": [{"name": "m0", "steps": [...], "values": [...], "times": [...]}]}
 *   packed  the same with base64 little-endian columns (what the Python client sends)
 */
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    char *p;
    size_t len, cap;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

/* A JSON string: base64 of the bytes. */
static void b64(buf *b, const unsigned char *in, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];
    put(b, "\"", 1);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        q[0] = t[(v >> 18) & 63];
        q[1] = t[(v >> 12) & 63];
        q[2] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        q[3] = i + 2 < n ? t[v & 63] : '=';
        put(b, q, 4);
    }
    put(b, "\"", 1);
}

static char **bodies;
static size_t *lens;
static int nbodies;
static atomic_int next_body;
static atomic_int failures;
static const char *url, *token;

/* Keeps the start of an answer (for the message of a failure). */
static size_t keep(char *p, size_t s, size_t n, void *u)
{
    char *out = u;
    size_t have = strlen(out), k = s * n < 511 - have ? s * n : 511 - have;
    memcpy(out + have, p, k);
    out[have + k] = 0;
    return s * n;
}

static void *worker(void *arg)
{
    (void)arg;
    CURL *h = curl_easy_init();
    char auth[300];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    struct curl_slist *hdr = curl_slist_append(NULL, auth);
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    char answer[512];
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, answer);
    for (;;) {
        int i = atomic_fetch_add(&next_body, 1);
        if (i >= nbodies)
            break;
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, bodies[i]);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)lens[i]);
        long status = 0;
        answer[0] = 0;
        CURLcode cc = curl_easy_perform(h);
        if (cc == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200) {
            if (atomic_fetch_add(&failures, 1) == 0)
                fprintf(stderr, "tracking_load: batch %d: %s, HTTP %ld %s\n", i,
                        cc == CURLE_OK ? "answered" : curl_easy_strerror(cc), status, answer);
        }
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return NULL;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr, "usage: tracking_load URL TOKEN EXPERIMENT BATCHES METRICS STEPS CONNS json|packed\n");
        return 2;
    }
    char u[400];
    snprintf(u, sizeof u, "%s/api/v1/experiments/%s/points", argv[1], argv[3]);
    url = u;
    token = argv[2];
    nbodies = atoi(argv[4]);
    int metrics = atoi(argv[5]), steps = atoi(argv[6]), conns = atoi(argv[7]);
    int packed = strcmp(argv[8], "packed") == 0;
    bodies = calloc((size_t)nbodies, sizeof *bodies);
    lens = calloc((size_t)nbodies, sizeof *lens);
    long long t = 1700000000000LL;
    int64_t *iv = malloc((size_t)steps * 8);
    double *dv = malloc((size_t)steps * 8);
    for (int b = 0; b < nbodies; b++) {
        buf x = {0};
        puts_(&x, "{\"series\":[");
        char tmp[64];
        for (int m = 0; m < metrics; m++) {
            snprintf(tmp, sizeof tmp, "%s{\"name\":\"m%d\",\"steps\":", m ? "," : "", m);
            puts_(&x, tmp);
            if (packed) {
                for (int i = 0; i < steps; i++)
                    iv[i] = (int64_t)b * steps + i;
                b64(&x, (unsigned char *)iv, (size_t)steps * 8);
                puts_(&x, ",\"values\":");
                for (int i = 0; i < steps; i++) {
                    int step = b * steps + i;
                    dv[i] = sin(step * 0.001 + m) / (1 + step * 1e-4);
                }
                b64(&x, (unsigned char *)dv, (size_t)steps * 8);
                puts_(&x, ",\"times\":");
                for (int i = 0; i < steps; i++)
                    iv[i] = t + (int64_t)b * steps + i;
                b64(&x, (unsigned char *)iv, (size_t)steps * 8);
                puts_(&x, "}");
                continue;
            }
            puts_(&x, "[");
            for (int i = 0; i < steps; i++) {
                snprintf(tmp, sizeof tmp, "%s%d", i ? "," : "", b * steps + i);
                puts_(&x, tmp);
            }
            puts_(&x, "],\"values\":[");
            for (int i = 0; i < steps; i++) {
                int step = b * steps + i;
                snprintf(tmp, sizeof tmp, "%s%.17g", i ? "," : "",
                         sin(step * 0.001 + m) / (1 + step * 1e-4));
                puts_(&x, tmp);
            }
            puts_(&x, "],\"times\":[");
            for (int i = 0; i < steps; i++) {
                snprintf(tmp, sizeof tmp, "%s%lld", i ? "," : "", t + (long long)b * steps + i);
                puts_(&x, tmp);
            }
            puts_(&x, "]}");
        }
        puts_(&x, "]}");
        bodies[b] = x.p;
        lens[b] = x.len;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_t *th = calloc((size_t)conns, sizeof *th);
    double t0 = now();
    for (int i = 0; i < conns; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (int i = 0; i < conns; i++)
        pthread_join(th[i], NULL);
    double secs = now() - t0;
    if (atomic_load(&failures)) {
        fprintf(stderr, "tracking_load: %d batches failed\n", atomic_load(&failures));
        return 1;
    }
    printf("%.0f %zu\n", (double)nbodies * metrics * steps / secs, lens[0]);
    return 0;
}
