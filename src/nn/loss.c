/*
 * loss.c - classification losses on plain N x K logits, with gradients.
 *
 * Computed in double per row (K is small next to the network) with the
 * usual stable forms: log-sum-exp for softmax, max(x,0) - x t +
 * log(1 + exp(-|x|)) for binary cross-entropy. All losses are the mean
 * over the batch, so the gradients carry a 1/N.
 */
#include <math.h>
#include <string.h>

#include "nn/nn_impl.h"

static int check(const nn_tensor *x, const nn_tensor *dx, err *e)
{
    if (x->n < 1 || x->c < 1 || x->h != 1 || x->w != 1)
        return err_set(e, ERR_INVALID, "logits must be N x K x 1 x 1, not %dx%dx%dx%d", x->n,
                       x->c, x->h, x->w);
    if (dx && (dx->n != x->n || dx->c != x->c || dx->h != 1 || dx->w != 1))
        return err_set(e, ERR_INVALID, "the gradient tensor must have the logits' shape");
    return 0;
}

int nn_loss_softmax_ce(const nn_tensor *logits, const int *labels, float smoothing,
                       nn_tensor *dlogits, double *loss, err *e)
{
    if (check(logits, dlogits, e) < 0)
        return -1;
    if (!(smoothing >= 0 && smoothing < 1))
        return err_set(e, ERR_INVALID, "label smoothing must be in [0, 1)");
    int n = logits->n, k = logits->c;
    double total = 0, off = smoothing / k, on = 1.0 - smoothing + off;
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= k)
            return err_set(e, ERR_INVALID, "label %d of sample %d is outside [0, %d)", labels[i],
                           i, k);
        const float *x = logits->data + (size_t)i * k;
        double mx = x[0];
        for (int j = 1; j < k; j++)
            mx = x[j] > mx ? x[j] : mx;
        double se = 0, qx = 0;
        for (int j = 0; j < k; j++) {
            se += exp(x[j] - mx);
            qx += (j == labels[i] ? on : off) * x[j];
        }
        double lse = mx + log(se);
        total += lse - qx;
        if (dlogits) {
            float *d = dlogits->data + (size_t)i * k;
            for (int j = 0; j < k; j++)
                d[j] = (float)((exp(x[j] - lse) - (j == labels[i] ? on : off)) / n);
        }
    }
    *loss = total / n;
    return 0;
}

static double sigmoid(double x)
{
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

int nn_loss_bce_logits(const nn_tensor *logits, const float *targets, nn_tensor *dlogits,
                       double *loss, err *e)
{
    if (check(logits, dlogits, e) < 0)
        return -1;
    size_t total = (size_t)logits->n * (size_t)logits->c;
    double sum = 0;
    for (size_t i = 0; i < total; i++) {
        double x = logits->data[i], t = targets[i];
        sum += (x > 0 ? x : 0) - x * t + log1p(exp(-fabs(x)));
        if (dlogits)
            dlogits->data[i] = (float)((sigmoid(x) - t) / logits->n);
    }
    *loss = sum / logits->n;
    return 0;
}

int nn_loss_focal(const nn_tensor *logits, const float *targets, float alpha, float gamma,
                  nn_tensor *dlogits, double *loss, err *e)
{
    if (check(logits, dlogits, e) < 0)
        return -1;
    if (!(gamma >= 0 && gamma <= 10))
        return err_set(e, ERR_INVALID, "focal gamma must be in [0, 10]");
    size_t total = (size_t)logits->n * (size_t)logits->c;
    double sum = 0;
    for (size_t i = 0; i < total; i++) {
        double x = logits->data[i], t = targets[i];
        double p = sigmoid(x);
        double ce = (x > 0 ? x : 0) - x * t + log1p(exp(-fabs(x)));
        double pt = p * t + (1 - p) * (1 - t);
        double q = 1 - pt;
        double at = alpha >= 0 ? alpha * t + (1 - alpha) * (1 - t) : 1.0;
        double mod = gamma == 0 ? 1.0 : pow(q, gamma);
        sum += at * ce * mod;
        if (dlogits) {
            /* d/dx [ce (1-pt)^g] = (p - t)(1-pt)^g - g ce (1-pt)^(g-1) dpt/dx,
             * dpt/dx = (2t - 1) p (1 - p) */
            double g = (p - t) * mod;
            if (gamma != 0 && q > 1e-30)
                g -= gamma * ce * pow(q, gamma - 1) * (2 * t - 1) * p * (1 - p);
            dlogits->data[i] = (float)(at * g / logits->n);
        }
    }
    *loss = sum / logits->n;
    return 0;
}

void nn_argmax(const nn_tensor *logits, int *pred)
{
    int k = logits->c * logits->h * logits->w;
    for (int i = 0; i < logits->n; i++) {
        const float *x = logits->data + (size_t)i * (size_t)k;
        int best = 0;
        for (int j = 1; j < k; j++)
            if (x[j] > x[best])
                best = j;
        pred[i] = best;
    }
}
