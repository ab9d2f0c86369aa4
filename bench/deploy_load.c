/*
 * deploy_load.c - the load generator of the monitoring-ingest benchmark.
 * Makes N distinct small JPEGs (64x64, libturbojpeg) and every request body
 * first (so the measurement is the server, not the generator), then sends
 * them from several keep-alive connections and prints requests per second.
 *
 *   deploy_load URL TOKEN DEPLOYMENT N CONNS SEED predictions|files
 *
 *   predictions  POST /api/v1/deployments/DEPLOYMENT/predictions, multipart:
 *                the image, the model's output (one or two boxes, labels of
 *                a small set, scores 0.3..1) and latency_ms (2..80 ms);
 *                every answer must be 201
 *   files        PUT /api/v1/files with the image as the raw body (the blob
 *                store alone; DEPLOYMENT is ignored); answers must be 201
 *
 * Image i of SEED s is a gradient with noise from (s, i): distinct for every
 * (s, i), so no upload is deduplicated and no prediction is a repeat.
 * Prints "REQUESTS_PER_S MEAN_BODY_BYTES P50_MS P99_MS".
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <turbojpeg.h>

#define SIDE 64

typedef struct {
    char *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) {
            fprintf(stderr, "deploy_load: out of memory\n");
            exit(1);
        }
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void puts_(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Image i of seed: a colour gradient whose direction and colours depend on
 * (seed, i), plus per-pixel noise; compressed at quality 85. */
static unsigned char *make_jpeg(tjhandle tj, uint64_t seed, int i, unsigned long *size)
{
    unsigned char px[SIDE * SIDE * 3];
    uint64_t s = (seed * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)i * 0xBF58476D1CE4E5B9ULL) ^ 1;
    for (int k = 0; k < 4; k++)
        rng(&s);
    int base[3], dx[3], dy[3];
    for (int c = 0; c < 3; c++) {
        base[c] = (int)(rng(&s) % 160);
        dx[c] = (int)(rng(&s) % 3);
        dy[c] = (int)(rng(&s) % 3);
    }
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++)
            for (int c = 0; c < 3; c++) {
                int v = base[c] + dx[c] * x / 2 + dy[c] * y / 2 + (int)(rng(&s) % 24);
                px[(y * SIDE + x) * 3 + c] = (unsigned char)(v > 255 ? 255 : v);
            }
    unsigned char *out = NULL;
    *size = 0;
    if (tjCompress2(tj, px, SIDE, 0, SIDE, TJPF_RGB, &out, size, TJSAMP_420, 85, 0) != 0) {
        fprintf(stderr, "deploy_load: JPEG compression failed: %s\n", tjGetErrorStr2(tj));
        exit(1);
    }
    return out;
}

static const char *labels[] = {"car", "person", "bicycle", "truck", "dog"};

static void field(buf *b, const char *name, const char *value)
{
    char h[160];
    snprintf(h, sizeof h, "--cvopsLoadB\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n",
             name);
    puts_(b, h);
    puts_(b, value);
    puts_(b, "\r\n");
}

/* The multipart body of prediction i. */
static void prediction_body(buf *b, const unsigned char *jpeg, unsigned long n, uint64_t seed,
                            int i)
{
    uint64_t s = seed * 1000003ULL + (uint64_t)i + 7;
    rng(&s);
    char pred[400], lat[32];
    int nbox = 1 + (int)(rng(&s) % 2);
    int k = snprintf(pred, sizeof pred, "{\"boxes\":[");
    for (int j = 0; j < nbox; j++)
        k += snprintf(pred + k, sizeof pred - (size_t)k,
                      "%s{\"x\":%d,\"y\":%d,\"w\":%d,\"h\":%d,\"label\":\"%s\",\"score\":%.3f}",
                      j ? "," : "", (int)(rng(&s) % 32), (int)(rng(&s) % 32),
                      4 + (int)(rng(&s) % 28), 4 + (int)(rng(&s) % 28), labels[rng(&s) % 5],
                      0.3 + (double)(rng(&s) % 700) / 1000);
    snprintf(pred + k, sizeof pred - (size_t)k, "]}");
    snprintf(lat, sizeof lat, "%.1f", 2 + (double)(rng(&s) % 780) / 10);
    field(b, "predictions", pred);
    field(b, "latency_ms", lat);
    char h[200];
    snprintf(
        h, sizeof h,
        "--cvopsLoadB\r\nContent-Disposition: form-data; name=\"image\"; filename=\"cam%d.jpg\"\r\n"
        "Content-Type: image/jpeg\r\n\r\n",
        i);
    puts_(b, h);
    put(b, jpeg, n);
    puts_(b, "\r\n--cvopsLoadB--\r\n");
}

static char **bodies;
static size_t *lens;
static double *took; /* seconds per request */
static int nbodies, files_mode;
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

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
    (void)arg;
    CURL *h = curl_easy_init();
    char auth[300];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    struct curl_slist *hdr = curl_slist_append(NULL, auth);
    hdr = curl_slist_append(hdr, files_mode
                                     ? "Content-Type: application/octet-stream"
                                     : "Content-Type: multipart/form-data; boundary=cvopsLoadB");
    hdr = curl_slist_append(hdr, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    if (files_mode) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
    char answer[512];
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, answer);
    for (;;) {
        int i = atomic_fetch_add(&next_body, 1);
        if (i >= nbodies) break;
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, bodies[i]);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)lens[i]);
        long status = 0;
        answer[0] = 0;
        double t0 = now();
        CURLcode cc = curl_easy_perform(h);
        took[i] = now() - t0;
        if (cc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status != 201) {
            if (atomic_fetch_add(&failures, 1) == 0)
                fprintf(stderr, "deploy_load: request %d: %s, HTTP %ld %s\n", i,
                        cc == CURLE_OK ? "answered" : curl_easy_strerror(cc), status, answer);
        }
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return NULL;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 8 || (strcmp(argv[7], "predictions") && strcmp(argv[7], "files"))) {
        fprintf(stderr, "usage: deploy_load URL TOKEN DEPLOYMENT N CONNS SEED predictions|files\n");
        return 2;
    }
    files_mode = strcmp(argv[7], "files") == 0;
    char u[400];
    if (files_mode)
        snprintf(u, sizeof u, "%s/api/v1/files", argv[1]);
    else
        snprintf(u, sizeof u, "%s/api/v1/deployments/%s/predictions", argv[1], argv[3]);
    url = u;
    token = argv[2];
    nbodies = atoi(argv[4]);
    int conns = atoi(argv[5]);
    uint64_t seed = strtoull(argv[6], NULL, 10);
    if (nbodies <= 0 || conns <= 0) {
        fprintf(stderr, "deploy_load: N and CONNS must be positive\n");
        return 2;
    }
    bodies = calloc((size_t)nbodies, sizeof *bodies);
    lens = calloc((size_t)nbodies, sizeof *lens);
    took = calloc((size_t)nbodies, sizeof *took);
    tjhandle tj = tjInitCompress();
    size_t total = 0;
    for (int i = 0; i < nbodies; i++) {
        unsigned long n;
        unsigned char *jpeg = make_jpeg(tj, seed, i, &n);
        buf b = {0};
        if (files_mode)
            put(&b, jpeg, n);
        else
            prediction_body(&b, jpeg, n, seed, i);
        tjFree(jpeg);
        bodies[i] = b.p;
        lens[i] = b.len;
        total += b.len;
    }
    tjDestroy(tj);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_t *th = calloc((size_t)conns, sizeof *th);
    double t0 = now();
    for (int i = 0; i < conns; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (int i = 0; i < conns; i++)
        pthread_join(th[i], NULL);
    double secs = now() - t0;
    if (atomic_load(&failures)) {
        fprintf(stderr, "deploy_load: %d of %d requests failed\n", atomic_load(&failures), nbodies);
        return 1;
    }
    qsort(took, (size_t)nbodies, sizeof *took, cmp_dbl);
    printf("%.0f %zu %.1f %.1f\n", (double)nbodies / secs, total / (size_t)nbodies,
           took[nbodies / 2] * 1000, took[(size_t)((double)nbodies * 0.99)] * 1000);
    for (int i = 0; i < nbodies; i++)
        free(bodies[i]);
    free(bodies);
    free(lens);
    free(took);
    free(th);
    curl_global_cleanup();
    return 0;
}
