/*
 * bench/gen_coco.c - writes a synthetic COCO instances file (see
 * coco_synth.h) in COCO's own key order: info, licenses, images,
 * annotations, categories (so a reader must reorder).
 *
 *   gen_coco OUT.json N_IMAGES N_ANNOTATIONS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "coco_synth.h"
#include "formats/internal.h"

static void flush(sbuf *b, FILE *f, int force)
{
    if (force || b->len > (1u << 20)) {
        fwrite(b->p, 1, b->len, f);
        sbuf_reset(b);
    }
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: gen_coco OUT.json N_IMAGES N_ANNOTATIONS\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "w");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    int64_t nimg = atoll(argv[2]), nann = atoll(argv[3]);
    sbuf b = SBUF_INIT;
    sbuf_puts(&b, "{\"info\":{\"description\":\"cvops synthetic benchmark\",\"year\":2024},"
                  "\"licenses\":[{\"id\":1,\"name\":\"none\",\"url\":\"\"}],\n\"images\":[");
    for (int64_t i = 0; i < nimg; i++) {
        char nm[32];
        fmt_image im;
        synth_image(i, nm, &im);
        sbuf_printf(&b, "%s\n{\"license\":1,\"file_name\":\"%s\",\"height\":%d,\"width\":%d,\"id\":%lld}",
                    i ? "," : "", im.file_name, im.height, im.width, (long long)im.id);
        flush(&b, f, 0);
    }
    sbuf_puts(&b, "],\n\"annotations\":[");
    double pts[32];
    int rings[1];
    for (int64_t k = 0; k < nann; k++) {
        fmt_shape s;
        synth_shape(k, nann, nimg, pts, rings, &s);
        sbuf_puts(&b, k ? ",\n{\"segmentation\":[" : "\n{\"segmentation\":[");
        if (s.npoints) {
            sbuf_putc(&b, '[');
            for (int i = 0; i < 2 * s.npoints; i++) {
                if (i)
                    sbuf_putc(&b, ',');
                fmt_put_dbl(&b, s.points[i]);
            }
            sbuf_putc(&b, ']');
        }
        sbuf_puts(&b, "],\"area\":");
        fmt_put_dbl(&b, s.area);
        sbuf_printf(&b, ",\"iscrowd\":0,\"image_id\":%lld,\"bbox\":[", (long long)s.image_id);
        for (int i = 0; i < 4; i++) {
            if (i)
                sbuf_putc(&b, ',');
            fmt_put_dbl(&b, s.bbox[i]);
        }
        sbuf_printf(&b, "],\"category_id\":%lld,\"id\":%lld}", (long long)s.category_id,
                    (long long)s.id);
        flush(&b, f, 0);
    }
    sbuf_puts(&b, "],\n\"categories\":[");
    for (int c = 1; c <= SYNTH_NCATS; c++)
        sbuf_printf(&b, "%s\n{\"supercategory\":\"thing\",\"id\":%d,\"name\":\"class%02d\"}",
                    c > 1 ? "," : "", c, c);
    sbuf_puts(&b, "]}\n");
    flush(&b, f, 1);
    sbuf_free(&b);
    return fclose(f) == 0 ? 0 : 1;
}
