/*
 * draw.c - a stroke font and box drawing, for `--draw` images and for the
 * glyph classes of the synthetic dataset. No font files.
 *
 * Each glyph is a few polylines on a 4 x 6 grid (x right, y down), written
 * as digit pairs "xy" separated by spaces, strokes separated by ';'. Text
 * is drawn as round-capped thick segments; lower case is drawn as capitals.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "detect/detect_impl.h"

static const struct {
    char c;
    const char *s;
} glyphs[] = {
    {'0', "10 30 41 45 36 16 05 01 10;05 41"},
    {'1', "11 20 26;16 36"},
    {'2', "01 10 30 41 42 06 46"},
    {'3', "01 10 30 41 42 33 13;33 44 45 36 16 05"},
    {'4', "30 04 44;30 36"},
    {'5', "40 00 03 33 44 45 36 06"},
    {'6', "40 10 01 05 16 36 45 44 33 03"},
    {'7', "00 40 16"},
    {'8', "10 30 41 42 33 13 04 05 16 36 45 44 33;13 02 01 10"},
    {'9', "43 13 02 01 10 30 41 45 36 06"},
    {'A', "06 20 46;14 34"},
    {'B', "00 06 36 45 44 33 03;33 42 41 30 00"},
    {'C', "41 30 10 01 05 16 36 45"},
    {'D', "00 06 26 44 42 20 00"},
    {'E', "40 00 06 46;03 33"},
    {'F', "40 00 06;03 33"},
    {'G', "41 30 10 01 05 16 36 45 43 23"},
    {'H', "00 06;40 46;03 43"},
    {'I', "10 30;20 26;16 36"},
    {'J', "40 45 36 16 05"},
    {'K', "00 06;40 03 46"},
    {'L', "00 06 46"},
    {'M', "06 00 23 40 46"},
    {'N', "06 00 46 40"},
    {'O', "10 30 41 45 36 16 05 01 10"},
    {'P', "06 00 30 41 42 33 03"},
    {'Q', "10 30 41 45 36 16 05 01 10;24 46"},
    {'R', "06 00 30 41 42 33 03;23 46"},
    {'S', "41 30 10 01 02 13 33 44 45 36 16 05"},
    {'T', "00 40;20 26"},
    {'U', "00 05 16 36 45 40"},
    {'V', "00 26 40"},
    {'W', "00 16 23 36 40"},
    {'X', "00 46;40 06"},
    {'Y', "00 23 40;23 26"},
    {'Z', "00 40 06 46"},
    {'.', "26 26"},
    {',', "25 16"},
    {':', "22 22;25 25"},
    {'-', "13 33"},
    {'+', "13 33;22 24"},
    {'_', "06 46"},
    {'/', "40 06"},
    {'%', "00 01;45 46;40 06"},
    {'(', "30 12 14 36"},
    {')', "10 32 34 16"},
    {'=', "12 32;14 34"},
    {'#', "10 16;30 36;02 42;04 44"},
};

int det_glyph_segments(char ch, float seg[][4], int max)
{
    char c = (char)toupper((unsigned char)ch);
    const char *s = NULL;
    for (size_t i = 0; i < sizeof glyphs / sizeof glyphs[0]; i++)
        if (glyphs[i].c == c) s = glyphs[i].s;
    if (!s) return 0;
    int n = 0;
    float px = 0, py = 0;
    bool have = false;
    for (const char *p = s; *p;) {
        if (*p == ';') {
            have = false;
            p++;
            continue;
        }
        if (*p == ' ') {
            p++;
            continue;
        }
        float x = (float)(p[0] - '0'), y = (float)(p[1] - '0');
        p += 2;
        if (have && n < max) {
            seg[n][0] = px;
            seg[n][1] = py;
            seg[n][2] = x;
            seg[n][3] = y;
            n++;
        } else if (!have && (*p == ';' || *p == 0) && n < max) { /* a lone point: a dot */
            seg[n][0] = seg[n][2] = x;
            seg[n][1] = seg[n][3] = y;
            n++;
        }
        px = x;
        py = y;
        have = true;
    }
    return n;
}

float det_seg_dist2(float x, float y, const float s[4])
{
    float dx = s[2] - s[0], dy = s[3] - s[1];
    float l2 = dx * dx + dy * dy;
    float t = l2 > 0 ? ((x - s[0]) * dx + (y - s[1]) * dy) / l2 : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    float ex = s[0] + t * dx - x, ey = s[1] + t * dy - y;
    return ex * ex + ey * ey;
}

/* A thick segment in pixel coordinates, coverage by 2x2 supersampling. */
static void thick_line(uint8_t *rgb, int w, int h, size_t stride, float x0, float y0, float x1,
                       float y1, float r, const uint8_t col[3])
{
    float s[4] = {x0, y0, x1, y1};
    int bx0 = (int)floorf(fminf(x0, x1) - r - 1), bx1 = (int)ceilf(fmaxf(x0, x1) + r + 1);
    int by0 = (int)floorf(fminf(y0, y1) - r - 1), by1 = (int)ceilf(fmaxf(y0, y1) + r + 1);
    if (bx0 < 0) bx0 = 0;
    if (by0 < 0) by0 = 0;
    if (bx1 > w) bx1 = w;
    if (by1 > h) by1 = h;
    float r2 = r * r;
    for (int y = by0; y < by1; y++)
        for (int x = bx0; x < bx1; x++) {
            int cov = 0;
            for (int sy = 0; sy < 2; sy++)
                for (int sx = 0; sx < 2; sx++)
                    cov += det_seg_dist2((float)x + 0.25f + 0.5f * (float)sx,
                                         (float)y + 0.25f + 0.5f * (float)sy, s) <= r2;
            if (!cov) continue;
            uint8_t *p = rgb + (size_t)y * stride + (size_t)x * 3;
            for (int k = 0; k < 3; k++)
                p[k] = (uint8_t)((p[k] * (4 - cov) + col[k] * cov + 2) / 4);
        }
}

void det_draw_text(uint8_t *rgb, int w, int h, size_t stride, int x, int y, int px, const char *s,
                   const uint8_t color[3])
{
    float u = (float)px / 6.0f, r = fmaxf(0.6f, (float)px / 14.0f);
    float cx = (float)x + r;
    for (; *s; s++) {
        float seg[16][4];
        int n = det_glyph_segments(*s, seg, 16);
        for (int i = 0; i < n; i++)
            thick_line(rgb, w, h, stride, cx + seg[i][0] * u, (float)y + r + seg[i][1] * u,
                       cx + seg[i][2] * u, (float)y + r + seg[i][3] * u, r, color);
        cx += 5.5f * u;
    }
}

static void fill_rect(uint8_t *rgb, int w, int h, size_t stride, int x0, int y0, int x1, int y1,
                      const uint8_t c[3])
{
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > w) x1 = w;
    if (y1 > h) y1 = h;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            memcpy(rgb + (size_t)y * stride + (size_t)x * 3, c, 3);
}

/* A stable, saturated colour per class. */
static void class_color(int cls, uint8_t out[3])
{
    float hue = fmodf((float)cls * 137.508f, 360.0f), r, g, b;
    det_hsv_to_rgb(hue, 0.85f, 235.0f, &r, &g, &b);
    out[0] = (uint8_t)r;
    out[1] = (uint8_t)g;
    out[2] = (uint8_t)b;
}

void det_draw(uint8_t *rgb, int w, int h, size_t stride, const det_box *boxes, int n,
              const char *const *labels, int nlabels)
{
    int side = w < h ? w : h;
    int t = side >= 600 ? 3 : 2;
    int px = side >= 600 ? 14 : 9;
    for (int i = n - 1; i >= 0; i--) { /* best last, on top */
        const det_box *b = &boxes[i];
        uint8_t c[3];
        class_color(b->cls, c);
        int x0 = (int)lroundf(b->x), y0 = (int)lroundf(b->y);
        int x1 = (int)lroundf(b->x + b->w), y1 = (int)lroundf(b->y + b->h);
        fill_rect(rgb, w, h, stride, x0, y0, x1, y0 + t, c);
        fill_rect(rgb, w, h, stride, x0, y1 - t, x1, y1, c);
        fill_rect(rgb, w, h, stride, x0, y0, x0 + t, y1, c);
        fill_rect(rgb, w, h, stride, x1 - t, y0, x1, y1, c);
        char text[96];
        const char *name =
            b->cls >= 0 && b->cls < nlabels && labels && labels[b->cls] ? labels[b->cls] : NULL;
        if (name)
            snprintf(text, sizeof text, "%.60s %.2f", name, (double)b->score);
        else
            snprintf(text, sizeof text, "%d %.2f", b->cls, (double)b->score);
        int tw = (int)((float)strlen(text) * 5.5f * (float)px / 6.0f) + 4, th = px + 5;
        int ty = y0 - th >= 0 ? y0 - th : y0;
        fill_rect(rgb, w, h, stride, x0, ty, x0 + tw, ty + th, c);
        static const uint8_t black[3] = {0, 0, 0};
        det_draw_text(rgb, w, h, stride, x0 + 2, ty + 2, px, text, black);
    }
}
