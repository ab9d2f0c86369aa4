/*
 * bench/evaluation_upload.c - the client side of `cvops evaluation
 * predictions --coco` without a server: the request bodies are built and
 * dropped. Two ways, each in its own child process (CPU time and peak RSS
 * from getrusage of the child):
 *
 *   stream     evaluation_stream (what the CLI does now: two streaming
 *              passes, 40 bytes per result, one body at a time)
 *   reference  the previous way, measured in the same run: the whole file
 *              loaded with jansson, evaluation_coco_items, then per request
 *              the items packed and serialized (cli_call's json_dumps)
 *
 *   evaluation_upload RESULTS.json
 *
 * Prints one line per way: "NAME wall_s cpu_s rss_mb bodies images shapes
 * bytes"; the counts must agree (exit 1 otherwise).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/evaluation_coco.h"
#include "cli/evaluation_stream.h"

#define CHUNK_IMAGES 5000
#define CHUNK_SHAPES 50000

typedef struct counts {
    long bodies, images, shapes, bytes;
} counts;

static int drop(void *ctx, const char *body, size_t len, size_t images, size_t shapes, size_t total)
{
    (void)body;
    (void)total;
    counts *c = ctx;
    c->bodies++;
    c->images += (long)images;
    c->shapes += (long)shapes;
    c->bytes += (long)len;
    return 0;
}

static int way_stream(const char *path, counts *c)
{
    ev_stream_opts o = {.coco = true,
                        .mode = "replace",
                        .max_images = CHUNK_IMAGES,
                        .max_shapes = CHUNK_SHAPES,
                        .send = drop,
                        .send_ctx = c};
    char why[300];
    if (evaluation_stream(path, &o, why, sizeof why)) {
        fprintf(stderr, "stream: %s\n", why);
        return 1;
    }
    return 0;
}

static int way_reference(const char *path, counts *c)
{
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    if (!doc) {
        fprintf(stderr, "reference: %s\n", je.text);
        return 1;
    }
    char why[200];
    json_t *items = evaluation_coco_items(doc, why, sizeof why);
    json_decref(doc);
    if (!items) {
        fprintf(stderr, "reference: %s\n", why);
        return 1;
    }
    size_t n = json_array_size(items), i = 0;
    while (i < n) {
        json_t *chunk = json_array();
        size_t shapes = 0;
        while (i < n && json_array_size(chunk) < CHUNK_IMAGES) {
            json_t *it = json_array_get(items, i);
            size_t k = json_array_size(json_object_get(it, "shapes"));
            if (json_array_size(chunk) && shapes + k > CHUNK_SHAPES) break;
            json_array_append(chunk, it);
            shapes += k;
            i++;
        }
        size_t ni = json_array_size(chunk);
        json_t *body = json_pack("{s:o, s:s}", "predictions", chunk, "mode", "replace");
        char *text = json_dumps(body, JSON_COMPACT);
        drop(c, text, strlen(text), ni, shapes, n);
        free(text);
        json_decref(body);
    }
    json_decref(items);
    return 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Runs one way in a child; prints its line; fills c. */
static int measure(const char *name, int (*way)(const char *, counts *), const char *path,
                   counts *c)
{
    int fds[2];
    if (pipe(fds)) return 1;
    double t0 = now();
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        counts k = {0};
        int rc = way(path, &k);
        if (write(fds[1], &k, sizeof k) != (ssize_t)sizeof k) rc = 1;
        _exit(rc);
    }
    close(fds[1]);
    memset(c, 0, sizeof *c);
    ssize_t got = read(fds[0], c, sizeof *c);
    close(fds[0]);
    int st;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) || WEXITSTATUS(st) || got != sizeof *c)
        return 1;
    double wall = now() - t0;
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
    printf("%s %.3f %.3f %.1f %ld %ld %ld %ld\n", name, wall, cpu, (double)ru.ru_maxrss / 1024,
           c->bodies, c->images, c->shapes, c->bytes);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: evaluation_upload RESULTS.json\n");
        return 2;
    }
    counts a, b;
    if (measure("stream", way_stream, argv[1], &a)) return 1;
    if (measure("reference", way_reference, argv[1], &b)) return 1;
    if (a.bodies != b.bodies || a.images != b.images || a.shapes != b.shapes) {
        fprintf(stderr, "the two ways disagree: %ld/%ld/%ld vs %ld/%ld/%ld bodies/images/shapes\n",
                a.bodies, a.images, a.shapes, b.bodies, b.images, b.shapes);
        return 1;
    }
    return 0;
}
