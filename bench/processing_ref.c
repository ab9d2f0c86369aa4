/*
 * processing_ref.c - the reference of dedup's comparison in
 * bench/processing.sh: the same 64-bit pHashes compared all pairs (n^2/2
 * XOR + popcount, the same -O2 and the same __builtin_popcountll as
 * image_hamming), counting the pairs within MAX_DISTANCE bits. No store, no
 * grouping, no output: the floor the built-in's whole job is compared with.
 *
 *   processing_ref HASH_FILE MAX_DISTANCE
 * HASH_FILE holds one hash a line (signed decimal, as the store keeps them).
 * Prints "MILLISECONDS PAIRS_WITHIN".
 */
#include <stdint.h>
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
    if (argc != 3) {
        fprintf(stderr, "usage: processing_ref HASH_FILE MAX_DISTANCE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    int maxd = atoi(argv[2]);
    size_t n = 0, cap = 1024;
    uint64_t *h = malloc(cap * sizeof *h);
    long long v;
    while (h && fscanf(f, "%lld", &v) == 1) {
        if (n == cap) {
            cap *= 2;
            uint64_t *p = realloc(h, cap * sizeof *h);
            if (!p) {
                free(h);
                h = NULL;
                break;
            }
            h = p;
        }
        h[n++] = (uint64_t)v;
    }
    fclose(f);
    if (!h) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    double t0 = now();
    long long within = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            within += __builtin_popcountll(h[i] ^ h[j]) <= maxd;
    double t1 = now();
    printf("%.0f %lld\n", (t1 - t0) * 1000, within);
    free(h);
    return 0;
}
