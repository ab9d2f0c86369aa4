/*
 * predict_load.c - the load generator of the serving benchmark
 * (bench/predict.sh): CONNS clients on keep-alive connections send N
 * requests in all to POST /api/v1/deployments/DEP/predict, each an image
 * from the list (round robin) as the raw body, and time each one.
 *
 *   predict_load URL TOKEN DEP N CONNS IMAGE...
 *
 * Every answer must be 200 with a "boxes" array. The images are read into
 * memory first, so the measurement is the server. Prints
 * "REQUESTS_PER_S P50_MS P99_MS MEAN_BOXES".
 */
#include <curl/curl.h>
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

static char **imgs;
static size_t *img_len;
static int nimg;
static const char *url_s, *token;
static int64_t total;
static atomic_long next_req, failed, boxes_seen;
static double *lat_ms;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t keep(char *p, size_t s, size_t n, void *ctx)
{
    buf *b = ctx;
    size_t k = s * n;
    if (b->len + k + 1 > b->cap) {
        b->cap = (b->len + k + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            return 0;
    }
    memcpy(b->p + b->len, p, k);
    b->len += k;
    b->p[b->len] = 0;
    return k;
}

static int count_boxes(const char *s)
{
    const char *b = strstr(s, "\"boxes\":[");
    if (!b)
        return -1;
    int n = 0;
    for (const char *p = b + 9; *p && *p != ']'; p++)
        if (*p == '{')
            n++;
    return n;
}

static void *client(void *arg)
{
    (void)arg;
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = NULL;
    char auth[300];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    hdr = curl_slist_append(hdr, auth);
    hdr = curl_slist_append(hdr, "Content-Type: application/octet-stream");
    hdr = curl_slist_append(hdr, "Expect:");
    buf answer = {0};
    curl_easy_setopt(h, CURLOPT_URL, url_s);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
    for (;;) {
        long i = atomic_fetch_add(&next_req, 1);
        if (i >= total)
            break;
        int k = (int)(i % nimg);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, imgs[k]);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)img_len[k]);
        answer.len = 0;
        double t0 = now_s();
        CURLcode rc = curl_easy_perform(h);
        lat_ms[i] = (now_s() - t0) * 1000;
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        int nb = rc == CURLE_OK && answer.p ? count_boxes(answer.p) : -1;
        if (rc != CURLE_OK || status != 200 || nb < 0) {
            if (atomic_fetch_add(&failed, 1) < 3)
                fprintf(stderr, "predict_load: request %ld: %s %ld %s\n", i, curl_easy_strerror(rc),
                        status, answer.p ? answer.p : "");
        } else {
            atomic_fetch_add(&boxes_seen, nb);
        }
    }
    free(answer.p);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: predict_load URL TOKEN DEP N CONNS IMAGE...\n");
        return 2;
    }
    static char url[600];
    snprintf(url, sizeof url, "%s/api/v1/deployments/%s/predict", argv[1], argv[3]);
    url_s = url;
    token = argv[2];
    total = atol(argv[4]);
    int conns = atoi(argv[5]);
    nimg = argc - 6;
    imgs = calloc((size_t)nimg, sizeof *imgs);
    img_len = calloc((size_t)nimg, sizeof *img_len);
    for (int i = 0; i < nimg; i++) {
        FILE *f = fopen(argv[6 + i], "rb");
        if (!f) {
            fprintf(stderr, "predict_load: cannot read %s\n", argv[6 + i]);
            return 1;
        }
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        imgs[i] = malloc((size_t)n);
        img_len[i] = fread(imgs[i], 1, (size_t)n, f);
        fclose(f);
    }
    lat_ms = calloc((size_t)total, sizeof *lat_ms);
    curl_global_init(CURL_GLOBAL_ALL);
    pthread_t *th = calloc((size_t)conns, sizeof *th);
    double t0 = now_s();
    for (int i = 0; i < conns; i++)
        pthread_create(&th[i], NULL, client, NULL);
    for (int i = 0; i < conns; i++)
        pthread_join(th[i], NULL);
    double wall = now_s() - t0;
    if (failed) {
        fprintf(stderr, "predict_load: %ld of %lld requests failed\n", (long)failed, (long long)total);
        return 1;
    }
    qsort(lat_ms, (size_t)total, sizeof *lat_ms, cmp);
    double p50 = lat_ms[(total - 1) / 2];
    double p99 = lat_ms[(int64_t)((double)(total - 1) * 0.99 + 0.5)];
    printf("%.1f %.1f %.1f %.2f\n", (double)total / wall, p50, p99,
           (double)boxes_seen / (double)total);
    return 0;
}
