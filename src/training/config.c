/*
 * config.c - the parameters of a training run: defaults, the launch body
 * and experiment parameters applied over them with exact error messages,
 * the JSON forms (the run's stored config, the experiment's flat
 * parameters), and the architecture they describe.
 *
 * Precedence at launch: defaults < the experiment's parameters (so an
 * experiment prepared with {"epochs": 5, "augmentation.hflip": true} is
 * launched by pressing a button) < the launch body. A resume starts from
 * the previous run's stored config instead of the defaults.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonv.h"
#include "training/training.h"

void training_cfg_init(training_cfg *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->arch, sizeof c->arch, "cnn");
    c->width = 1;
    snprintf(c->act, sizeof c->act, "relu");
    c->epochs = 10;
    c->batch_size = 64;
    snprintf(c->optimizer, sizeof c->optimizer, "adamw");
    c->lr = -1;
    c->weight_decay = -1;
    c->momentum = 0.9;
    snprintf(c->schedule, sizeof c->schedule, "cosine");
    c->seed = 1;
    c->auto_threads = true;
    c->loader_workers = 2;
    c->log_every = 1;
    c->cache_mb = TRAIN_DEFAULT_CACHE_MB;
    c->score_thr = 0.25;
    c->nms_iou = 0.7;
    c->mosaic = 1;
    c->close_mosaic = -1;
}

bool training_cfg_is_detection(const training_cfg *c)
{
    return strcmp(c->task, "detection") == 0 || strncmp(c->arch, "detector-", 9) == 0;
}

void training_cfg_free(training_cfg *c)
{
    free(c->arch_json);
    c->arch_json = NULL;
}

static const char *const top_fields[] = {
    "architecture", "depth",        "width",      "stem",         "activation",  "dropout",
    "input_size",   "channels",     "epochs",     "batch_size",   "optimizer",   "lr",
    "weight_decay", "momentum",     "nesterov",   "schedule",     "warmup_steps", "label_smoothing",
    "ema",          "clip_norm",    "augmentation", "seed",       "resume",      "max_seconds",
    "time_budget",  "base_model_version_id",
    "threads",      "auto_threads", "loader_workers", "log_every", "cache_mb",
    "task",         "score_thr",    "nms_iou",    "mosaic",       "close_mosaic",
    "val_input_size", NULL};
static const char *const aug_fields[] = {"hflip",    "vflip",      "pad",        "rotate",
                                         "crop",     "brightness", "contrast",   "saturation",
                                         NULL};

static int pick(const char *field, const char *v, const char *const *allowed, char *out,
                size_t n, err *e)
{
    for (const char *const *a = allowed; *a; a++)
        if (strcmp(*a, v) == 0) {
            snprintf(out, n, "%s", v);
            return 0;
        }
    sbuf s = SBUF_INIT;
    for (const char *const *a = allowed; *a; a++)
        sbuf_printf(&s, "%s%s", a == allowed ? "" : ", ", *a);
    err_set(e, ERR_INVALID, "field '%s' must be one of %s, got '%.40s'", field, sbuf_cstr(&s), v);
    sbuf_free(&s);
    return -1;
}

static int get_int(json_t *d, const char *k, int64_t min, int64_t max, int *out, err *e)
{
    int64_t v = *out;
    if (jv_i64(d, k, JV_OPTIONAL, min, max, &v, e))
        return -1;
    *out = (int)v;
    return 0;
}

static int apply_aug(training_aug *a, json_t *o, const char *prefix, err *e)
{
    if (jv_only(o, aug_fields, e))
        return err_prefix(e, "%s", prefix);
    if (jv_bool(o, "hflip", JV_OPTIONAL, &a->hflip, e) ||
        jv_bool(o, "vflip", JV_OPTIONAL, &a->vflip, e) ||
        jv_dbl(o, "pad", JV_OPTIONAL, 0, 256, &a->pad, e) ||
        jv_dbl(o, "rotate", JV_OPTIONAL, 0, 180, &a->rotate, e) ||
        jv_dbl(o, "crop", JV_OPTIONAL, 0, 1, &a->crop, e) ||
        jv_dbl(o, "brightness", JV_OPTIONAL, 0, 1, &a->brightness, e) ||
        jv_dbl(o, "contrast", JV_OPTIONAL, 0, 1, &a->contrast, e) ||
        jv_dbl(o, "saturation", JV_OPTIONAL, 0, 1, &a->saturation, e))
        return err_prefix(e, "%s", prefix);
    return 0;
}

int training_cfg_apply(training_cfg *c, json_t *d, err *e)
{
    static const char *const families[] = {"cnn",           "resnet",         "mobilenet",
                                           "detector-nano", "detector-small", "custom",
                                           NULL};
    static const char *const tasks[] = {"classification", "detection", "", NULL};
    static const char *const stems[] = {"imagenet", "small", "", NULL};
    static const char *const acts[] = {"relu", "silu", "leaky_relu", NULL};
    static const char *const optims[] = {"adamw", "sgd", NULL};
    static const char *const scheds[] = {"cosine", "step", "constant", NULL};
    if (!d)
        return 0;
    if (jv_is_obj(d, e) || jv_only(d, top_fields, e))
        return -1;
    json_t *arch = json_object_get(d, "architecture");
    if (json_is_object(arch)) {
        char *text = json_dumps(arch, JSON_COMPACT);
        if (!text)
            return err_set(e, ERR_INTERNAL, "out of memory");
        if (strlen(text) > NN_MAX_ARCH_BYTES) {
            free(text);
            return err_set(e, ERR_TOO_LARGE, "field 'architecture' is larger than %d bytes",
                           NN_MAX_ARCH_BYTES);
        }
        free(c->arch_json);
        c->arch_json = text;
        snprintf(c->arch, sizeof c->arch, "custom");
    } else if (arch && !json_is_null(arch)) {
        if (!json_is_string(arch))
            return err_set(e, ERR_INVALID,
                           "field 'architecture' must be cnn, resnet, mobilenet, detector-nano, "
                           "detector-small or an architecture object (docs/nn.md)");
        const char *v = json_string_value(arch);
        if (strcmp(v, "custom") == 0 && !c->arch_json)
            return err_set(e, ERR_INVALID,
                           "architecture 'custom' needs the architecture itself: send it as an "
                           "object in field 'architecture'");
        if (pick("architecture", v, families, c->arch, sizeof c->arch, e))
            return -1;
        if (strcmp(v, "custom") != 0) {
            free(c->arch_json);
            c->arch_json = NULL;
        }
    }
    const char *s = NULL;
    int64_t seed = c->seed;
    if (get_int(d, "depth", 0, 200, &c->depth, e) ||
        jv_dbl(d, "width", JV_OPTIONAL, 0.05, 16, &c->width, e) ||
        jv_str(d, "stem", JV_OPTIONAL, 16, &s, e) ||
        (s && pick("stem", s, stems, c->stem, sizeof c->stem, e)))
        return -1;
    s = NULL;
    if (jv_str(d, "activation", JV_OPTIONAL, 16, &s, e) ||
        (s && pick("activation", s, acts, c->act, sizeof c->act, e)) ||
        jv_dbl(d, "dropout", JV_OPTIONAL, 0, 0.95, &c->dropout, e) ||
        get_int(d, "input_size", 0, TRAIN_MAX_INPUT, &c->input_size, e) ||
        get_int(d, "channels", 0, 3, &c->channels, e) ||
        get_int(d, "epochs", 1, TRAIN_MAX_EPOCHS, &c->epochs, e) ||
        get_int(d, "batch_size", 1, TRAIN_MAX_BATCH, &c->batch_size, e))
        return -1;
    if (c->channels == 2)
        return err_set(e, ERR_INVALID, "field 'channels' must be 1 (gray) or 3 (colour)");
    if (c->input_size && c->input_size < 8)
        return err_set(e, ERR_INVALID, "field 'input_size' must be at least 8 pixels");
    s = NULL;
    if (jv_str(d, "optimizer", JV_OPTIONAL, 8, &s, e) ||
        (s && pick("optimizer", s, optims, c->optimizer, sizeof c->optimizer, e)) ||
        jv_dbl(d, "lr", JV_OPTIONAL, 1e-8, 10, &c->lr, e) ||
        jv_dbl(d, "weight_decay", JV_OPTIONAL, 0, 1, &c->weight_decay, e) ||
        jv_dbl(d, "momentum", JV_OPTIONAL, 0, 0.999, &c->momentum, e) ||
        jv_bool(d, "nesterov", JV_OPTIONAL, &c->nesterov, e))
        return -1;
    s = NULL;
    if (jv_str(d, "schedule", JV_OPTIONAL, 12, &s, e) ||
        (s && pick("schedule", s, scheds, c->schedule, sizeof c->schedule, e)) ||
        jv_i64(d, "warmup_steps", JV_OPTIONAL, 0, 10000000, &c->warmup_steps, e) ||
        jv_dbl(d, "label_smoothing", JV_OPTIONAL, 0, 0.5, &c->label_smoothing, e) ||
        jv_dbl(d, "ema", JV_OPTIONAL, 0, 0.99999, &c->ema, e) ||
        jv_dbl(d, "clip_norm", JV_OPTIONAL, 0, 1e6, &c->clip_norm, e) ||
        jv_i64(d, "seed", JV_OPTIONAL, 0, INT64_MAX, &seed, e) ||
        jv_bool(d, "resume", JV_OPTIONAL, &c->resume, e) ||
        jv_i64(d, "base_model_version_id", JV_OPTIONAL, 0, INT64_MAX, &c->base_model, e) ||
        jv_dbl(d, "max_seconds", JV_OPTIONAL, 0, 30 * 86400, &c->max_seconds, e) ||
        jv_dbl(d, "time_budget", JV_OPTIONAL, 0, 30 * 86400, &c->time_budget, e) ||
        get_int(d, "threads", 0, 256, &c->threads, e) ||
        jv_bool(d, "auto_threads", JV_OPTIONAL, &c->auto_threads, e) ||
        get_int(d, "loader_workers", 1, 32, &c->loader_workers, e) ||
        get_int(d, "log_every", 1, 100000, &c->log_every, e) ||
        jv_i64(d, "cache_mb", JV_OPTIONAL, 0, 1 << 20, &c->cache_mb, e))
        return -1;
    s = NULL;
    if (jv_str(d, "task", JV_OPTIONAL, 16, &s, e) ||
        (s && pick("task", s, tasks, c->task, sizeof c->task, e)) ||
        jv_dbl(d, "score_thr", JV_OPTIONAL, 0, 1, &c->score_thr, e) ||
        jv_dbl(d, "nms_iou", JV_OPTIONAL, 0.01, 1, &c->nms_iou, e) ||
        jv_dbl(d, "mosaic", JV_OPTIONAL, 0, 1, &c->mosaic, e) ||
        get_int(d, "close_mosaic", -1, TRAIN_MAX_EPOCHS, &c->close_mosaic, e) ||
        get_int(d, "val_input_size", 0, TRAIN_MAX_INPUT, &c->val_input_size, e))
        return -1;
    if (strcmp(c->task, "classification") == 0 && strncmp(c->arch, "detector-", 9) == 0)
        return err_set(e, ERR_INVALID,
                       "architecture '%s' is a detector but task is classification; use task "
                       "detection, or a classifier architecture (cnn, resnet, mobilenet)",
                       c->arch);
    if (training_cfg_is_detection(c) && c->input_size && c->input_size % 32 != 0)
        return err_set(e, ERR_INVALID,
                       "field 'input_size' is %d but a detector's input must be a multiple of "
                       "its stride 32 (e.g. %d or %d)",
                       c->input_size, c->input_size >= 32 ? c->input_size / 32 * 32 : 32,
                       (c->input_size / 32 + 1) * 32);
    int vs = c->val_input_size;
    if (vs % 32 != 0)
        return err_set(e, ERR_INVALID,
                       "field 'val_input_size' is %d but a detector's input must be a multiple "
                       "of its stride 32 (e.g. %d or %d)",
                       vs, vs >= 32 ? vs / 32 * 32 : 32, (vs / 32 + 1) * 32);
    c->seed = seed;
    json_t *aug = json_object_get(d, "augmentation");
    if (aug && !json_is_null(aug)) {
        if (!json_is_object(aug))
            return err_set(e, ERR_INVALID,
                           "field 'augmentation' must be an object like {\"hflip\": true, \"pad\": 2}");
        if (apply_aug(&c->aug, aug, "augmentation: ", e))
            return -1;
    }
    return 0;
}

int training_cfg_apply_params(training_cfg *c, json_t *params, err *e)
{
    if (!json_is_object(params))
        return 0;
    json_t *top = json_object(), *aug = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(params, k, v)
    {
        if (strncmp(k, "augmentation.", 13) == 0) {
            for (const char *const *f = aug_fields; *f; f++)
                if (strcmp(*f, k + 13) == 0)
                    json_object_set(aug, k + 13, v);
            continue;
        }
        for (const char *const *f = top_fields; *f; f++)
            if (strcmp(*f, k) == 0 && strcmp(k, "resume") != 0 && strcmp(k, "augmentation") != 0 &&
                !(strcmp(k, "architecture") == 0 && json_is_string(v) &&
                  strcmp(json_string_value(v), "custom") == 0))
                json_object_set(top, k, v);
    }
    if (json_object_size(aug))
        json_object_set(top, "augmentation", aug);
    int rc = training_cfg_apply(c, top, e);
    if (rc)
        err_prefix(e, "the experiment's parameters: ");
    json_decref(top);
    json_decref(aug);
    return rc;
}

void training_cfg_resolve(training_cfg *c)
{
    bool sgd = strcmp(c->optimizer, "sgd") == 0;
    if (c->lr <= 0)
        c->lr = sgd ? 0.1 : 0.002;
    if (c->weight_decay < 0)
        c->weight_decay = sgd ? 5e-4 : 0.05;
}

json_t *training_cfg_json(const training_cfg *c)
{
    json_t *arch = c->arch_json ? json_loads(c->arch_json, 0, NULL) : json_string(c->arch);
    json_t *aug = json_pack("{s:b, s:b, s:f, s:f, s:f, s:f, s:f, s:f}", "hflip", c->aug.hflip,
                            "vflip", c->aug.vflip, "pad", c->aug.pad, "rotate", c->aug.rotate,
                            "crop", c->aug.crop, "brightness", c->aug.brightness, "contrast",
                            c->aug.contrast, "saturation", c->aug.saturation);
    json_t *o = json_object();
    json_object_set_new(o, "architecture", arch ? arch : json_string("custom"));
    json_object_set_new(o, "depth", json_integer(c->depth));
    json_object_set_new(o, "width", json_real(c->width));
    json_object_set_new(o, "stem", json_string(c->stem));
    json_object_set_new(o, "activation", json_string(c->act));
    json_object_set_new(o, "dropout", json_real(c->dropout));
    json_object_set_new(o, "input_size", json_integer(c->input_size));
    json_object_set_new(o, "channels", json_integer(c->channels));
    json_object_set_new(o, "epochs", json_integer(c->epochs));
    json_object_set_new(o, "batch_size", json_integer(c->batch_size));
    json_object_set_new(o, "optimizer", json_string(c->optimizer));
    json_object_set_new(o, "lr", json_real(c->lr));
    json_object_set_new(o, "weight_decay", json_real(c->weight_decay));
    json_object_set_new(o, "momentum", json_real(c->momentum));
    json_object_set_new(o, "nesterov", json_boolean(c->nesterov));
    json_object_set_new(o, "schedule", json_string(c->schedule));
    json_object_set_new(o, "warmup_steps", json_integer(c->warmup_steps));
    json_object_set_new(o, "label_smoothing", json_real(c->label_smoothing));
    json_object_set_new(o, "ema", json_real(c->ema));
    json_object_set_new(o, "clip_norm", json_real(c->clip_norm));
    json_object_set_new(o, "augmentation", aug);
    json_object_set_new(o, "seed", json_integer(c->seed));
    json_object_set_new(o, "resume", json_boolean(c->resume));
    if (c->base_model)
        json_object_set_new(o, "base_model_version_id", json_integer(c->base_model));
    json_object_set_new(o, "max_seconds", json_real(c->max_seconds));
    json_object_set_new(o, "time_budget", json_real(c->time_budget));
    json_object_set_new(o, "threads", json_integer(c->threads));
    json_object_set_new(o, "auto_threads", json_boolean(c->auto_threads));
    json_object_set_new(o, "loader_workers", json_integer(c->loader_workers));
    json_object_set_new(o, "log_every", json_integer(c->log_every));
    json_object_set_new(o, "cache_mb", json_integer(c->cache_mb));
    json_object_set_new(o, "task", json_string(c->task));
    json_object_set_new(o, "score_thr", json_real(c->score_thr));
    json_object_set_new(o, "nms_iou", json_real(c->nms_iou));
    json_object_set_new(o, "mosaic", json_real(c->mosaic));
    json_object_set_new(o, "close_mosaic", json_integer(c->close_mosaic));
    json_object_set_new(o, "val_input_size", json_integer(c->val_input_size));
    return o;
}

json_t *training_cfg_params(const training_cfg *c)
{
    json_t *all = training_cfg_json(c), *p = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(all, k, v)
    {
        if (strcmp(k, "resume") == 0 || strcmp(k, "threads") == 0 ||
            strcmp(k, "loader_workers") == 0 || strcmp(k, "log_every") == 0 ||
            strcmp(k, "cache_mb") == 0 || strcmp(k, "auto_threads") == 0)
            continue;
        if (strcmp(k, "augmentation") == 0) {
            const char *ak;
            json_t *av;
            json_object_foreach(v, ak, av)
            {
                char name[64];
                snprintf(name, sizeof name, "augmentation.%s", ak);
                json_object_set(p, name, av);
            }
        } else if (strcmp(k, "architecture") == 0 && !json_is_string(v)) {
            json_object_set_new(p, k, json_string("custom"));
        } else {
            json_object_set(p, k, v);
        }
    }
    json_decref(all);
    return p;
}

char *training_cfg_arch(const training_cfg *c, int classes, const float mean[4],
                        const float std[4], err *e)
{
    if (c->arch_json) {
        /* a custom graph: its own input block decides; check it builds */
        nn_model *m = nn_model_new(c->arch_json, 1, e);
        if (!m)
            return err_prefix(e, "architecture: "), NULL;
        int k = nn_model_classes(m);
        nn_model_free(m);
        if (k != classes) {
            err_set(e, ERR_INVALID,
                    "the architecture ends with %d outputs but the train dataset has %d classes; "
                    "make its last layer output %d",
                    k, classes, classes);
            return NULL;
        }
        return strdup(c->arch_json);
    }
    nn_arch_opts o = {.in_c = c->channels,
                      .in_h = c->input_size,
                      .in_w = c->input_size,
                      .classes = classes,
                      .width = (float)c->width,
                      .depth = c->depth,
                      .act = c->act,
                      .dropout = (float)c->dropout};
    if (c->stem[0])
        o.stem = c->stem;
    else if (strcmp(c->arch, "cnn") != 0)
        o.stem = c->input_size <= 64 ? "small" : "imagenet";
    memcpy(o.mean, mean, sizeof o.mean);
    memcpy(o.std, std, sizeof o.std);
    sbuf out = SBUF_INIT;
    if (nn_arch_builtin(c->arch, &o, &out, e)) {
        sbuf_free(&out);
        return NULL;
    }
    return sbuf_detach(&out, NULL);
}
