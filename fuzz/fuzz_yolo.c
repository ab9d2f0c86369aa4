/*
 * Fuzz target: the YOLO text parsers (src/formats/yolo.c, yaml.c). The first
 * byte chooses: data.yaml (the YAML subset + the Ultralytics keys), or the
 * rest as label lines for a detect/segment dataset or a pose dataset.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    err e;
    switch (data[0] % 3) {
    case 0: {
        fmt_yolo_cfg cfg;
        if (fmt_yolo_cfg_parse(text, n, &cfg, &e) == 0) {
            size_t sum = 0;
            for (int i = 0; i < cfg.nc; i++)
                sum += strlen(cfg.names[i]);
            for (int k = 0; k < 3; k++)
                for (int i = 0; i < cfg.nsplit_dirs[k]; i++)
                    sum += strlen(cfg.split_dirs[k][i]);
            for (int i = 0; cfg.kpt_names && i < cfg.kpt_n; i++)
                sum += strlen(cfg.kpt_names[i]);
            (void)sum;
        }
        fmt_yolo_cfg_free(&cfg);
        break;
    }
    default: {
        fmt_yolo_line l = {0};
        int kpt = data[0] % 3 == 2 ? 17 : 0;
        for (size_t pos = 0; pos < n;) {
            const char *nl = memchr(text + pos, '\n', n - pos);
            size_t len = nl ? (size_t)(nl - text - pos) : n - pos;
            fmt_yolo_parse_line(text + pos, len, 80, kpt, 3, &l, &e);
            pos += len + 1;
        }
        free(l.vals);
    }
    }
    return 0;
}
