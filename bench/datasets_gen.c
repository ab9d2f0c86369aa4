/*
 * datasets_gen.c - writes the benchmark's COCO file and the matching
 * datalake rows, deterministically.
 *
 *   datasets_gen coco OUT.json IMAGES ANNOTATIONS
 *       IMAGES images img0000001.jpg ... with sizes from 640x480 to
 *       1920x1080, 80 categories, ANNOTATIONS annotations spread evenly:
 *       boxes and polygons (8 to 16 points, every fourth one with two
 *       rings), coordinates with two decimals, areas, iscrowd
 *   datasets_gen sql IMAGES LAKE_ID
 *       SQL inserting the IMAGES data rows (same names and sizes) into
 *       datalake LAKE_ID, for the sqlite3 shell or psql
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static double unit(void) { return (double)(next() >> 11) / 9007199254740992.0; }

static void size_of(long i, int *w, int *h)
{
    static const int ws[] = {640, 800, 1024, 1280, 1920}, hs[] = {480, 600, 768, 720, 1080};
    int k = (int)((i * 2654435761UL) % 5);
    *w = ws[k];
    *h = hs[k];
}

static void coord(FILE *f, double v) { fprintf(f, "%.2f", v); }

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "sql") == 0) {
        long n = atol(argv[2]);
        long lake = atol(argv[3]);
        printf("BEGIN;\n");
        for (long i = 1; i <= n; i++) {
            int w, h;
            size_of(i, &w, &h);
            if ((i - 1) % 1000 == 0)
                printf("%sINSERT INTO data (datalake_id, sha256, filename, size, format, width, height,"
                       " channels, created_at) VALUES\n",
                       i > 1 ? ";\n" : "");
            else
                printf(",\n");
            printf("(%ld, '%064lx', 'img%07ld.jpg', 100000, 'jpeg', %d, %d, 3, %ld)", lake, i, i, w, h,
                   1700000000000L + i);
        }
        printf(";\nCOMMIT;\n");
        return 0;
    }
    if (argc != 5 || strcmp(argv[1], "coco") != 0) {
        fprintf(stderr, "usage: datasets_gen coco OUT.json IMAGES ANNOTATIONS | sql IMAGES LAKE_ID\n");
        return 2;
    }
    FILE *f = fopen(argv[2], "w");
    if (!f)
        return 1;
    long ni = atol(argv[3]), na = atol(argv[4]);
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    fputs("{\"info\":{\"description\":\"cvops benchmark\",\"version\":\"1.0\"},\"licenses\":[],\n\"images\":[", f);
    for (long i = 1; i <= ni; i++) {
        int w, h;
        size_of(i, &w, &h);
        fprintf(f, "%s\n{\"id\":%ld,\"file_name\":\"img%07ld.jpg\",\"width\":%d,\"height\":%d}", i > 1 ? "," : "",
                i, i, w, h);
    }
    fputs("],\n\"categories\":[", f);
    for (int c = 1; c <= 80; c++)
        fprintf(f, "%s\n{\"id\":%d,\"name\":\"class%02d\",\"supercategory\":\"group%d\"}", c > 1 ? "," : "", c, c,
                c % 8);
    fputs("],\n\"annotations\":[", f);
    for (long a = 1; a <= na; a++) {
        long img = 1 + (a - 1) % ni;
        int w, h;
        size_of(img, &w, &h);
        double bw = 10 + unit() * (w / 3.0), bh = 10 + unit() * (h / 3.0);
        double x = unit() * (w - bw), y = unit() * (h - bh);
        int cat = 1 + (int)(next() % 80);
        fprintf(f, "%s\n{\"id\":%ld,\"image_id\":%ld,\"category_id\":%d,\"segmentation\":", a > 1 ? "," : "", a,
                img, cat);
        double area = bw * bh;
        if (a % 2) {
            fputs("[]", f);
        } else {
            int rings = a % 8 == 0 ? 2 : 1;
            fputc('[', f);
            area = 0;
            for (int r = 0; r < rings; r++) {
                int np = 8 + (int)(next() % 9);
                fputs(r ? ",[" : "[", f);
                double cx = x + bw / 2, cy = y + bh / 2;
                for (int k = 0; k < np; k++) {
                    double t = 6.283185307179586 * k / np;
                    double rr = 0.5 + 0.5 * unit();
                    double px = cx + rr * bw / 2 * __builtin_cos(t), py = cy + rr * bh / 2 * __builtin_sin(t);
                    if (k)
                        fputc(',', f);
                    coord(f, px);
                    fputc(',', f);
                    coord(f, py);
                }
                fputc(']', f);
                area += bw * bh * 0.6 / rings;
            }
            fputc(']', f);
        }
        fputs(",\"bbox\":[", f);
        coord(f, x);
        fputc(',', f);
        coord(f, y);
        fputc(',', f);
        coord(f, bw);
        fputc(',', f);
        coord(f, bh);
        fprintf(f, "],\"area\":%.2f,\"iscrowd\":0}", area);
    }
    fputs("]}\n", f);
    return fclose(f) == 0 ? 0 : 1;
}
