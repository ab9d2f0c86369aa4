/*
 * detect_impl.h - what the files of src/detect share and nobody else sees.
 */
#ifndef CVOPS_DETECT_DETECT_IMPL_H
#define CVOPS_DETECT_DETECT_IMPL_H

#include <math.h>

#include "detect/detect.h"

/* Raw box outputs are clamped to this before exp(): distances up to
 * e^8 strides; the clamp also bounds the gradient. */
#define DET_REG_CLAMP 8.0f

/* The cells of every level for an input of H x W, level after level, row
 * major: centre (x, y) in input pixels, the level, and where the cell's
 * values sit in the output grid (stride 8): row gy, column gx. */
typedef struct det_cells {
    int n;
    int gh, gw; /* the output grid (H/8 x W/8) */
    float *xy;  /* n x 2 centres */
    int *level;
    int *gy, *gx;
    float *stride;
} det_cells;

int det_cells_init(det_cells *c, const det_head *h, int gh, int gw, err *e);
void det_cells_free(det_cells *c);

/* Cell k's decoded box (x1, y1, x2, y2) from output image b. */
static inline void det_cell_box(const det_cells *c, const det_head *h, const nn_tensor *y, int b,
                                int k, float box[4])
{
    int base = c->level[k] * (4 + h->classes);
    float s = c->stride[k];
    float d[4];
    for (int j = 0; j < 4; j++) {
        float r = *nn_tensor_at(y, b, base + j, c->gy[k], c->gx[k]);
        if (r > DET_REG_CLAMP) r = DET_REG_CLAMP;
        if (r < -DET_REG_CLAMP) r = -DET_REG_CLAMP;
        d[j] = expf(r) * s;
    }
    box[0] = c->xy[2 * k] - d[0];
    box[1] = c->xy[2 * k + 1] - d[1];
    box[2] = c->xy[2 * k] + d[2];
    box[3] = c->xy[2 * k + 1] + d[3];
}

static inline float det_sigmoid(float z)
{
    return 1.0f / (1.0f + expf(-z));
}

/* Draws the crop [x0, y0, x1, y1) of src (1, 3 or 4 channels) through the
 * map out_x = map[0] * x + map[1], out_y = map[2] * y + map[3] (negative
 * scales flip) into dst (dw x dh RGB): the pixels whose centres map inside
 * the crop, bilinear when enlarging, box-filtered when shrinking. rect (if
 * not NULL) receives the pixels written [x0, y0, x1, y1). -1: out of memory. */
int det_blit(const nn_image *src, const float crop[4], const double map[4], uint8_t *dst, int dw,
             int dh, int rect[4]);

/* The stroke font (draw.c): glyph ch as segments x0, y0, x1, y1 on its
 * 4 x 6 grid; 0 when there is no such glyph. */
int det_glyph_segments(char ch, float seg[][4], int max);
/* Squared distance from (x, y) to the segment s. */
float det_seg_dist2(float x, float y, const float s[4]);

/* Colour conversion on 0..255 values (h in [0, 360)). */
void det_rgb_to_hsv(float r, float g, float b, float *h, float *s, float *v);
void det_hsv_to_rgb(float h, float s, float v, float *r, float *g, float *b);

/* det_loss in two steps (the tests freeze the targets to check gradients):
 * the assignment of every image into tgt (n x cells) and S, the sum of the
 * weights (at least 1); then the loss and dy for those targets. */
int det_loss_targets(const det_loss_cfg *c, const det_head *h, const nn_tensor *y,
                     const det_box *boxes, const int *first, det_target *tgt, double *S,
                     int *positives, err *e);
int det_loss_eval(const det_loss_cfg *c, const det_head *h, const nn_tensor *y,
                  const det_box *boxes, const int *first, const det_target *tgt, double S,
                  nn_tensor *dy, det_loss_out *out, err *e);

/* det_evaluate on an existing session of m (the training loop's). */
int det_eval_session(nn_session *s, const nn_model *m, det_fetch_fn fetch, void *ud, int64_t count,
                     int batch, float conf, float iou, int max_det, int size, int workers,
                     det_metrics *out, struct eval_coco **eval_out, err *e);

#endif
