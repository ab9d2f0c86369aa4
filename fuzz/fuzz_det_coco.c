/*
 * Fuzz target: the detector's COCO dataset reader (src/detect/dataset.c,
 * det_dataset_open_coco) on a document from the fuzzer, through a memfd
 * (the reader takes a path). Beyond "no crash", whatever it accepts must be
 * usable by training without further checks: every box inside its image
 * with a positive size and a class in range.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "detect/detect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("coco", 0);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    err e;
    det_dataset *d = det_dataset_open_coco(path, "/nonexistent", &e);
    if (d) {
        const char *const *names;
        int K = det_dataset_classes(d, &names);
        for (int k = 0; k < K; k++)
            if (!names[k]) abort();
        for (int64_t i = 0; i < det_dataset_count(d); i++) {
            int64_t id;
            const char *file;
            int w, h, n;
            const det_box *b;
            det_dataset_image(d, i, &id, &file, &w, &h, &b, &n);
            if (!file || w < 1 || h < 1 || n < 0) abort();
            for (int j = 0; j < n; j++)
                if (b[j].cls < 0 || b[j].cls >= K || !(b[j].w > 0) || !(b[j].h > 0) || b[j].x < 0 ||
                    b[j].y < 0 || b[j].x + b[j].w > (float)w + 0.01f ||
                    b[j].y + b[j].h > (float)h + 0.01f)
                    abort();
        }
        det_dataset_free(d);
    } else if (!e.msg[0]) {
        abort(); /* a refusal says why */
    }
    close(fd);
    return 0;
}
