/*
 * catalog.c - processing definitions: the built-ins (listed by code), the
 * custom ones (rows: org, name, version, manifest), manifests and their
 * checks, and parameter checking against a definition.
 *
 * A manifest is the same document for both kinds (docs/processings.md):
 *
 *   {"name", "description", "target", "parameters": [...], "resources": {...},
 *    "requires", "outputs": [...],                       (both)
 *    "command", "env", "files"}                          (custom only)
 *
 * Built-in manifests are written below with single quotes for
 * readability; they are turned into JSON once when first used.
 */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonv.h"
#include "base/util.h"
#include "files/files.h"
#include "processing/internal.h"

/* --- the built-ins ---------------------------------------------------------------- */

#define QUERY_PARAM(what)                                                                          \
    "{'name':'query','type':'string','max_length':4000,'description':'" what "'}"

static const char augment_manifest[] =
    "{'name':'augment','target':'dataset-version',"
    "'description':'Augmented copies of the images of a dataset version, in a new version: "
    "flips, rotations, crops, colour, noise and blur, with boxes, polygons, lines, points and "
    "keypoints transformed with the pixels (masks are left out of the copies).',"
    "'parameters':["
    "{'name':'name','type':'string','max_length':128,'description':'name of the new version "
    "(default: the input version name + -augmented-JOB)'},"
    "{'name':'copies','type':'integer','default':2,'min':1,'max':20,'description':'augmented "
    "copies per image'},"
    "{'name':'include_originals','type':'boolean','default':true,'description':'the new version "
    "also holds the original assets with their annotations'},"
    "{'name':'flip_horizontal','type':'number','default':0.5,'min':0,'max':1,'description':"
    "'probability of a left-right flip'},"
    "{'name':'flip_vertical','type':'number','default':0,'min':0,'max':1,'description':"
    "'probability of an upside-down flip'},"
    "{'name':'rotate','type':'number','default':10,'min':0,'max':180,'description':'largest "
    "rotation in degrees (uniform in -r..r; the corners are filled with grey)'},"
    "{'name':'crop','type':'number','default':0.8,'min':0.2,'max':1,'description':'smallest "
    "crop side as a fraction of the image side (1: no crop)'},"
    "{'name':'brightness','type':'number','default':0.2,'min':0,'max':1,'description':"
    "'brightness factor in 1-b..1+b'},"
    "{'name':'contrast','type':'number','default':0.2,'min':0,'max':1,'description':"
    "'contrast factor in 1-c..1+c'},"
    "{'name':'saturation','type':'number','default':0.2,'min':0,'max':1,'description':"
    "'saturation factor in 1-s..1+s'},"
    "{'name':'noise','type':'number','default':0,'min':0,'max':64,'description':'standard "
    "deviation of Gaussian pixel noise, in grey levels'},"
    "{'name':'blur','type':'number','default':0,'min':0,'max':10,'description':'largest "
    "Gaussian blur sigma in pixels (uniform in 0..b)'},"
    "{'name':'min_visibility','type':'number','default':0.3,'min':0,'max':1,'description':"
    "'a box or polygon keeps at least this fraction of its area inside the image, else it is "
    "dropped'},"
    "{'name':'quality','type':'integer','default':90,'min':40,'max':100,'description':'JPEG "
    "quality of the copies'},"
    "{'name':'seed','type':'integer','default':0,'min':0,'max':9007199254740991,'description':"
    "'random seed (0: the job id); the same seed gives the same copies'},"
    QUERY_PARAM("asset query: augment only these assets") "],"
    "'resources':{'threads':1,'timeout_s':86400},"
    "'outputs':['data','dataset-version']}";

static const char dedup_manifest[] =
    "{'name':'dedup','target':'dataset-version',"
    "'description':'Near-duplicate removal by perceptual hash distance: images whose 64-bit "
    "pHashes differ in at most max_distance bits are grouped (transitively); one per group is "
    "kept and the groups are reported. On a dataset version: a new version without the others "
    "(or asset tags); on a datalake: the others are tagged.',"
    "'targets':['dataset-version','datalake'],"
    "'parameters':["
    "{'name':'max_distance','type':'integer','default':6,'min':0,'max':32,'description':"
    "'largest Hamming distance between pHashes of near-duplicates (re-encoded or resized "
    "copies are usually within 2-6; unrelated images 20 or more apart)'},"
    "{'name':'keep','type':'enum','values':['largest','first','newest'],'default':'largest',"
    "'description':'which image of a group stays: the most pixels, the oldest or the newest "
    "item'},"
    "{'name':'action','type':'enum','values':['new-version','tag'],'default':'new-version',"
    "'description':'dataset versions: write a new version without the duplicates, or tag them "
    "in place (datalakes are always tagged)'},"
    "{'name':'tag','type':'string','max_length':128,'default':'duplicate','description':'the "
    "tag given to the images that are not kept'},"
    "{'name':'name','type':'string','max_length':128,'description':'name of the new version "
    "(default: the input version name + -dedup-JOB)'},"
    QUERY_PARAM("query: consider only these items or assets") "],"
    "'resources':{'threads':1,'timeout_s':86400},"
    "'outputs':['dataset-version','tags']}";

static const char split_manifest[] =
    "{'name':'split','target':'dataset-version',"
    "'description':'Stratified split into train/val/test (or any parts): iterative "
    "stratification over the labels, so each part gets its ratio of every label; stored as "
    "asset tags, in place or in a new version.',"
    "'parameters':["
    "{'name':'ratios','type':'object','default':{'train':0.8,'val':0.1,'test':0.1},"
    "'description':'part name -> ratio (normalised)'},"
    "{'name':'seed','type':'integer','default':42,'min':0,'max':9007199254740991},"
    "{'name':'new_version','type':'string','max_length':128,'description':'fork the input into "
    "a version of this name and split that (default: split the input in place)'},"
    QUERY_PARAM("asset query: split only these assets") "],"
    "'resources':{'threads':1,'timeout_s':3600},"
    "'outputs':['dataset-version','tags']}";

static const char tile_manifest[] =
    "{'name':'tile','target':'dataset-version',"
    "'description':'Large images cut into overlapping tiles in a new version, annotations "
    "clipped to each tile (boxes and polygons keeping less than min_visibility of their area "
    "are dropped).',"
    "'parameters':["
    "{'name':'tile_size','type':'integer','default':640,'min':32,'max':16384,'description':"
    "'tile side in pixels'},"
    "{'name':'overlap','type':'number','default':0.2,'min':0,'max':0.9,'description':"
    "'overlap between neighbouring tiles, as a fraction of the tile side'},"
    "{'name':'min_visibility','type':'number','default':0.3,'min':0,'max':1},"
    "{'name':'include_empty','type':'boolean','default':true,'description':'keep tiles without "
    "any shape'},"
    "{'name':'format','type':'enum','values':['jpeg','png'],'default':'jpeg'},"
    "{'name':'quality','type':'integer','default':92,'min':40,'max':100},"
    "{'name':'name','type':'string','max_length':128,'description':'name of the new version "
    "(default: the input version name + -tiles-JOB)'},"
    QUERY_PARAM("asset query: tile only these assets") "],"
    "'resources':{'threads':1,'timeout_s':86400},"
    "'outputs':['data','dataset-version']}";

static const char resize_manifest[] =
    "{'name':'resize','target':'dataset-version',"
    "'description':'Images resized (longest side) and/or converted to another format in a new "
    "version, annotations scaled with them. Images that already fit and have the format are "
    "reused as they are.',"
    "'parameters':["
    "{'name':'max_side','type':'integer','default':1024,'min':16,'max':16384,'description':"
    "'longest side after resizing'},"
    "{'name':'upscale','type':'boolean','default':false,'description':'also enlarge smaller "
    "images to max_side'},"
    "{'name':'format','type':'enum','values':['keep','jpeg','png','webp'],'default':'keep'},"
    "{'name':'quality','type':'integer','default':90,'min':40,'max':100},"
    "{'name':'name','type':'string','max_length':128,'description':'name of the new version "
    "(default: the input version name + -resized-JOB)'},"
    QUERY_PARAM("asset query: only these assets") "],"
    "'resources':{'threads':1,'timeout_s':86400},"
    "'outputs':['data','dataset-version']}";

static const char autotag_manifest[] =
    "{'name':'autotag','target':'datalake',"
    "'description':'Auto-tagging with a classification model of the registry (a cvops "
    "checkpoint): the top class of each image becomes a tag when its probability is at least "
    "threshold. On a datalake: datalake tags; on a dataset version: asset tags. Written in one "
    "transaction at the end.',"
    "'targets':['datalake','dataset-version'],"
    "'parameters':["
    "{'name':'model_version','type':'integer','required':true,'min':1,'description':'id of the "
    "model version (GET /api/v1/models/{id}/versions)'},"
    "{'name':'threshold','type':'number','default':0.5,'min':0,'max':1,'description':'smallest "
    "probability of the top class for its tag to be given'},"
    "{'name':'prefix','type':'string','max_length':64,'default':'','description':'put before "
    "each class name to make the tag (e.g. auto-)'},"
    "{'name':'file','type':'string','max_length':512,'description':'the checkpoint among the "
    "version files (default: its only .safetensors file)'},"
    QUERY_PARAM("query: tag only these items or assets") "],"
    "'resources':{'threads':1,'timeout_s':86400},"
    "'outputs':['tags']}";

static const char preannotate_manifest[] =
    "{'name':'pre-annotate','target':'dataset-version',"
    "'description':'Pre-annotation with a trained model: a detector checkpoint (of an experiment "
    "or a registry model version) predicts boxes on the version images, written as pending "
    "annotations with their scores (a classifier checkpoint gives its top class). Accepted, "
    "rejected and skipped annotations are never touched; missing labels are created. Also "
    "POST /api/v1/dataset-versions/{id}/pre-annotate.',"
    "'parameters':["
    "{'name':'experiment','type':'integer','min':1,'description':'id of the experiment whose "
    "checkpoint artifact predicts (model.safetensors, else checkpoints/best.safetensors, else "
    "checkpoints/last.safetensors)'},"
    "{'name':'model_version','type':'integer','min':1,'description':'id of the registry model "
    "version that predicts (instead of experiment)'},"
    "{'name':'file','type':'string','max_length':512,'description':'the checkpoint among the "
    "artifacts or version files (default: see above)'},"
    "{'name':'score_threshold','type':'number','default':0.25,'min':0,'max':1,'description':"
    "'smallest score of a prediction to be written'},"
    "{'name':'nms_threshold','type':'number','default':0.6,'min':0.05,'max':1,'description':"
    "'IoU above which a lower-scoring box of the same class is suppressed'},"
    "{'name':'max_detections','type':'integer','default':100,'min':1,'max':1000,'description':"
    "'most boxes per image'},"
    "{'name':'replace_pending','type':'boolean','default':false,'description':'also replace "
    "pending annotations that have shapes (default: only assets without shapes)'},"
    QUERY_PARAM("asset query: pre-annotate only these assets") "],"
    "'resources':{'threads':1,'timeout_s':86400},"
    "'outputs':['annotations']}";

const proc_builtin proc_builtins[] = {
    {"augment", augment_manifest, proc_augment},
    {"dedup", dedup_manifest, proc_dedup},
    {"split", split_manifest, proc_split},
    {"tile", tile_manifest, proc_tile},
    {"resize", resize_manifest, proc_resize},
    {"autotag", autotag_manifest, proc_autotag},
    {"pre-annotate", preannotate_manifest, proc_preannotate},
    {NULL, NULL, NULL},
};

const char *const proc_builtin_kinds[] = {"processing.augment", "processing.dedup",
                                          "processing.split", "processing.tile",
                                          "processing.resize", "processing.autotag",
                                          "processing.pre-annotate", NULL};

const proc_builtin *proc_builtin_find(const char *name)
{
    for (const proc_builtin *b = proc_builtins; b->name; b++)
        if (strcmp(b->name, name) == 0)
            return b;
    return NULL;
}

/* The built-in manifests as JSON, parsed once. */
static json_t *builtin_docs[16];
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

static void builtin_parse(void)
{
    for (int i = 0; proc_builtins[i].name; i++) {
        char *t = strdup(proc_builtins[i].manifest);
        for (char *p = t; *p; p++)
            if (*p == '\'')
                *p = '"';
        json_error_t je;
        builtin_docs[i] = json_loads(t, 0, &je);
        free(t);
    }
}

static json_t *builtin_doc(const proc_builtin *b)
{
    pthread_once(&builtin_once, builtin_parse);
    return builtin_docs[b - proc_builtins];
}

/* --- manifests --------------------------------------------------------------------- */

static const char *const targets[] = {"datalake", "dataset-version", "model-version", "experiment",
                                      NULL};
static const char *const output_types[] = {"data", "tags", "annotations", "dataset-version",
                                           "model-version", NULL};
static const char *const param_types[] = {"integer", "number", "boolean", "string", "enum",
                                          "string_list", "object", NULL};

static bool in_list(const char *s, const char *const *l)
{
    for (; s && *l; l++)
        if (strcmp(s, *l) == 0)
            return true;
    return false;
}

bool proc_target_valid(const char *t) { return in_list(t, targets); }

static int proc_name_check(const char *what, const char *s, size_t max, bool upper_ok, err *e)
{
    size_t n = strlen(s);
    bool ok = n >= 1 && n <= max && (islower((unsigned char)s[0]) || s[0] == '_' ||
                                     (upper_ok && isupper((unsigned char)s[0])));
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        ok = islower(ch) || isdigit(ch) || ch == '_' || (upper_ok && isupper(ch)) ||
             (!upper_ok && (ch == '-' || ch == '.'));
    }
    if (!ok)
        return err_set(e, ERR_INVALID,
                       "%s '%.80s' is not valid: 1 to %zu characters %s, starting with a %s", what,
                       s, max, upper_ok ? "A-Z, 0-9 or '_'" : "a-z, 0-9, '_', '-' or '.'",
                       upper_ok ? "letter or '_'" : "lowercase letter");
    return 0;
}

/* A value checked against one parameter definition; v may be converted
 * (text to number); *out gets the value to keep (a new reference). */
static int param_value(json_t *def, json_t *v, json_t **out, err *e)
{
    const char *name = json_string_value(json_object_get(def, "name"));
    const char *type = json_string_value(json_object_get(def, "type"));
    json_t *mn = json_object_get(def, "min"), *mx = json_object_get(def, "max");
    const char *text = json_string_value(v);
    *out = NULL;
    if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0) {
        bool integer = strcmp(type, "integer") == 0;
        double d;
        if (text) {
            char *end;
            d = strtod(text, &end);
            if (!*text || *end || !isfinite(d))
                return err_set(e, ERR_INVALID, "parameter '%s' must be %s, got '%.60s'", name,
                               integer ? "a whole number" : "a number", text);
        } else if (json_is_number(v)) {
            d = json_number_value(v);
        } else {
            return err_set(e, ERR_INVALID, "parameter '%s' must be %s", name,
                           integer ? "a whole number" : "a number");
        }
        if (integer && (d != floor(d) || fabs(d) > 9007199254740992.0))
            return err_set(e, ERR_INVALID, "parameter '%s' must be a whole number, got %g", name, d);
        if ((mn && d < json_number_value(mn)) || (mx && d > json_number_value(mx))) {
            char lo[32] = "-inf", hi[32] = "inf";
            if (mn)
                snprintf(lo, sizeof lo, "%.15g", json_number_value(mn));
            if (mx)
                snprintf(hi, sizeof hi, "%.15g", json_number_value(mx));
            return err_set(e, ERR_INVALID, "parameter '%s' must be between %s and %s, got %.15g",
                           name, lo, hi, d);
        }
        *out = integer ? json_integer((json_int_t)d) : json_real(d);
        return 0;
    }
    if (strcmp(type, "boolean") == 0) {
        if (json_is_boolean(v)) {
            *out = json_incref(v);
            return 0;
        }
        if (text) {
            if (!strcmp(text, "true") || !strcmp(text, "1") || !strcmp(text, "yes")) {
                *out = json_true();
                return 0;
            }
            if (!strcmp(text, "false") || !strcmp(text, "0") || !strcmp(text, "no")) {
                *out = json_false();
                return 0;
            }
        }
        return err_set(e, ERR_INVALID, "parameter '%s' must be true or false", name);
    }
    if (strcmp(type, "string") == 0 || strcmp(type, "enum") == 0) {
        if (!text)
            return err_set(e, ERR_INVALID, "parameter '%s' must be a string", name);
        if (!utf8_valid(text, strlen(text)))
            return err_set(e, ERR_INVALID, "parameter '%s' is not valid UTF-8", name);
        if (strcmp(type, "enum") == 0) {
            json_t *vals = json_object_get(def, "values"), *x;
            size_t i;
            json_array_foreach(vals, i, x) if (strcmp(json_string_value(x), text) == 0)
            {
                *out = json_incref(v);
                return 0;
            }
            char list[400] = "";
            size_t k = 0;
            json_array_foreach(vals, i, x)
            {
                int w = snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "",
                                 json_string_value(x));
                if (w < 0 || (size_t)w >= sizeof list - k)
                    break;
                k += (size_t)w;
            }
            return err_set(e, ERR_INVALID, "parameter '%s' must be one of %s; got '%.60s'", name,
                           list, text);
        }
        json_t *ml = json_object_get(def, "max_length");
        size_t max = ml ? (size_t)json_integer_value(ml) : 4096;
        if (strlen(text) > max)
            return err_set(e, ERR_INVALID, "parameter '%s' must be at most %zu bytes", name, max);
        *out = json_incref(v);
        return 0;
    }
    if (strcmp(type, "string_list") == 0) {
        json_t *arr = json_array();
        if (text) {
            const char *p = text;
            while (*p) {
                const char *c = strchr(p, ',');
                size_t n = c ? (size_t)(c - p) : strlen(p);
                if (n)
                    json_array_append_new(arr, json_stringn(p, n));
                p += n + (c ? 1 : 0);
            }
        } else if (json_is_array(v)) {
            size_t i;
            json_t *x;
            json_array_foreach(v, i, x)
            {
                if (!json_is_string(x)) {
                    json_decref(arr);
                    return err_set(e, ERR_INVALID, "parameter '%s' must be a list of strings", name);
                }
                json_array_append(arr, x);
            }
        } else {
            json_decref(arr);
            return err_set(e, ERR_INVALID, "parameter '%s' must be a list of strings", name);
        }
        if (json_array_size(arr) > 1000) {
            json_decref(arr);
            return err_set(e, ERR_INVALID, "parameter '%s' has more than 1000 items", name);
        }
        *out = arr;
        return 0;
    }
    /* object */
    json_t *o = v;
    json_t *parsed = NULL;
    if (text) {
        json_error_t je;
        parsed = json_loads(text, JSON_REJECT_DUPLICATES, &je);
        o = parsed;
    }
    if (!json_is_object(o)) {
        json_decref(parsed);
        return err_set(e, ERR_INVALID, "parameter '%s' must be a JSON object", name);
    }
    if (jv_size(o) > 65536) {
        json_decref(parsed);
        return err_set(e, ERR_TOO_LARGE, "parameter '%s' is larger than 64 KB", name);
    }
    *out = parsed ? parsed : json_incref(o);
    return 0;
}

static int param_def_check(json_t *p, size_t i, json_t *seen, err *e)
{
    static const char *const fields[] = {"name",       "type",     "description", "default", "min",
                                         "max",        "values",   "max_length",  "required",
                                         NULL};
    const char *name = NULL, *type = NULL, *desc = NULL;
    bool req = false;
    if (!json_is_object(p))
        return err_set(e, ERR_INVALID, "parameters[%zu] must be an object", i);
    if (jv_only(p, fields, e) || jv_str(p, "name", JV_REQUIRED, PROC_NAME_MAX, &name, e) ||
        jv_str(p, "type", JV_REQUIRED, 16, &type, e) ||
        jv_str(p, "description", JV_OPTIONAL, 1000, &desc, e) ||
        jv_bool(p, "required", JV_OPTIONAL, &req, e))
        return err_prefix(e, "parameters[%zu]: ", i);
    if (proc_name_check("parameter name", name, PROC_NAME_MAX, false, e) || strchr(name, '-') ||
        strchr(name, '.')) {
        err_set(e, ERR_INVALID, "parameter name '%.80s' must be a-z, 0-9 and '_', starting with "
                                "a letter", name);
        return err_prefix(e, "parameters[%zu]: ", i);
    }
    if (json_object_get(seen, name))
        return err_set(e, ERR_INVALID, "parameters[%zu]: '%s' is defined twice", i, name);
    json_object_set_new(seen, name, json_true());
    if (!in_list(type, param_types))
        return err_set(e, ERR_INVALID,
                       "parameters[%zu] '%s': type must be integer, number, boolean, string, "
                       "enum, string_list or object; got '%s'",
                       i, name, type);
    json_t *mn = json_object_get(p, "min"), *mx = json_object_get(p, "max");
    if ((mn && !json_is_number(mn)) || (mx && !json_is_number(mx)))
        return err_set(e, ERR_INVALID, "parameters[%zu] '%s': min and max must be numbers", i, name);
    if (mn && mx && json_number_value(mn) > json_number_value(mx))
        return err_set(e, ERR_INVALID, "parameters[%zu] '%s': min is larger than max", i, name);
    json_t *ml = json_object_get(p, "max_length");
    if (ml && (!json_is_integer(ml) || json_integer_value(ml) < 1 ||
               json_integer_value(ml) > 1000000))
        return err_set(e, ERR_INVALID, "parameters[%zu] '%s': max_length must be 1..1000000", i,
                       name);
    json_t *vals = json_object_get(p, "values");
    if (strcmp(type, "enum") == 0) {
        if (!json_is_array(vals) || json_array_size(vals) == 0 || json_array_size(vals) > 256)
            return err_set(e, ERR_INVALID, "parameters[%zu] '%s': an enum needs 'values', 1 to 256 "
                                           "strings", i, name);
        size_t k;
        json_t *x;
        json_array_foreach(vals, k, x) if (!json_is_string(x) || json_string_length(x) > 256) return err_set(
            e, ERR_INVALID, "parameters[%zu] '%s': values[%zu] must be a string", i, name, k);
    } else if (vals) {
        return err_set(e, ERR_INVALID, "parameters[%zu] '%s': 'values' is only for enums", i, name);
    }
    json_t *d = json_object_get(p, "default");
    if (d && !json_is_null(d)) {
        json_t *norm;
        if (param_value(p, d, &norm, e))
            return err_prefix(e, "parameters[%zu] default: ", i);
        json_object_set_new(p, "default", norm);
    }
    return 0;
}

static int resources_field(json_t *obj, const char *k, int64_t min, int64_t max, int64_t *v,
                           err *e)
{
    return jv_i64(obj, k, JV_OPTIONAL, min, max, v, e);
}

int proc_resources_parse(json_t *obj, proc_resources *r, err *e)
{
    if (!obj)
        return 0;
    static const char *const fields[] = {"threads", "memory_mb", "timeout_s", "output_mb",
                                         "kill_grace_s", NULL};
    if (!json_is_object(obj))
        return err_set(e, ERR_INVALID, "resources must be an object");
    int64_t threads = r->threads, grace = r->kill_grace_s;
    if (jv_only(obj, fields, e) || resources_field(obj, "threads", 1, PROC_THREADS_MAX, &threads, e) ||
        resources_field(obj, "memory_mb", 0, PROC_MEMORY_MB_MAX, &r->memory_mb, e) ||
        resources_field(obj, "timeout_s", 1, PROC_TIMEOUT_MAX, &r->timeout_s, e) ||
        resources_field(obj, "output_mb", 0, PROC_OUTPUT_MB_MAX, &r->output_mb, e) ||
        resources_field(obj, "kill_grace_s", 1, 600, &grace, e))
        return err_prefix(e, "resources: ");
    r->threads = (int)threads;
    r->kill_grace_s = (int)grace;
    return 0;
}

json_t *proc_resources_json(const proc_resources *r)
{
    return json_pack("{s:i, s:I, s:I, s:I, s:i}", "threads", r->threads, "memory_mb",
                     (json_int_t)r->memory_mb, "timeout_s", (json_int_t)r->timeout_s, "output_mb",
                     (json_int_t)r->output_mb, "kill_grace_s", r->kill_grace_s);
}

/* requires as a string or an array of strings -> "a,b=c" */
static int requires_norm(json_t *v, char *out, size_t n, err *e)
{
    out[0] = 0;
    if (!v || json_is_null(v))
        return 0;
    size_t k = 0;
    if (json_is_string(v)) {
        snprintf(out, n, "%s", json_string_value(v));
        k = strlen(out);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            if (!json_is_string(x))
                return err_set(e, ERR_INVALID, "requires[%zu] must be a string", i);
            int w = snprintf(out + k, n - k, "%s%s", k ? "," : "", json_string_value(x));
            if (w < 0 || (size_t)w >= n - k)
                return err_set(e, ERR_TOO_LARGE, "requires is longer than %d bytes",
                               JOBS_REQUIRES_MAX);
            k += (size_t)w;
        }
    } else {
        return err_set(e, ERR_INVALID, "requires must be a list of worker labels (\"gpu\", "
                                       "\"mem=16G\") or a comma-separated string");
    }
    jobs_label l[JOBS_LABELS_MAX];
    int nl;
    if (k >= JOBS_REQUIRES_MAX)
        return err_set(e, ERR_TOO_LARGE, "requires is longer than %d bytes", JOBS_REQUIRES_MAX);
    if (jobs_labels_parse(out, l, JOBS_LABELS_MAX, &nl, e))
        return err_prefix(e, "requires: ");
    return 0;
}

static bool safe_rel_path(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > 200 || p[0] == '/' || p[n - 1] == '/')
        return false;
    const char *seg = p;
    for (const char *c = p;; c++) {
        if (*c == '/' || *c == 0) {
            size_t len = (size_t)(c - seg);
            if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
                return false;
            if (*c == 0)
                break;
            seg = c + 1;
            continue;
        }
        unsigned char ch = (unsigned char)*c;
        if (!(isalnum(ch) || ch == '_' || ch == '-' || ch == '.'))
            return false;
    }
    return true;
}

static int custom_fields_check(json_t *doc, err *e)
{
    json_t *cmd = json_object_get(doc, "command");
    if (json_is_string(cmd)) {
        if (json_string_length(cmd) == 0 || json_string_length(cmd) > 8192)
            return err_set(e, ERR_INVALID, "command must be 1 to 8192 characters");
    } else if (json_is_array(cmd)) {
        if (json_array_size(cmd) == 0 || json_array_size(cmd) > 256)
            return err_set(e, ERR_INVALID, "command must have 1 to 256 arguments");
        size_t i;
        json_t *x;
        json_array_foreach(cmd, i, x) if (!json_is_string(x) || json_string_length(x) > 4096 ||
                                          (i == 0 && json_string_length(x) == 0)) return err_set(
            e, ERR_INVALID, "command[%zu] must be a string of at most 4096 bytes", i);
    } else {
        return err_set(e, ERR_INVALID,
                       "a custom processing needs a 'command': an argument list [\"python3\", "
                       "\"main.py\"] or a shell command line \"sh run.sh\"");
    }
    json_t *env = json_object_get(doc, "env");
    if (env) {
        if (!json_is_object(env) || json_object_size(env) > PROC_ENV_MAX)
            return err_set(e, ERR_INVALID, "env must be an object of at most %d strings",
                           PROC_ENV_MAX);
        const char *k;
        json_t *v;
        json_object_foreach(env, k, v)
        {
            if (proc_name_check("env name", k, 64, true, e))
                return -1;
            for (const char *c = k; *c; c++)
                if (islower((unsigned char)*c))
                    return err_set(e, ERR_INVALID, "env name '%s' must be upper case", k);
            if (str_has_prefix(k, "CVOPS_"))
                return err_set(e, ERR_INVALID, "env name '%s': CVOPS_ variables are set by the "
                                               "worker", k);
            if (!json_is_string(v) || json_string_length(v) > 4096)
                return err_set(e, ERR_INVALID, "env '%s' must be a string of at most 4096 bytes",
                               k);
        }
    }
    json_t *files = json_object_get(doc, "files");
    if (files) {
        if (!json_is_array(files) || json_array_size(files) > PROC_FILES_MAX)
            return err_set(e, ERR_INVALID, "files must be an array of at most %d files",
                           PROC_FILES_MAX);
        size_t i;
        json_t *f;
        json_array_foreach(files, i, f)
        {
            static const char *const ff[] = {"path", "sha256", "executable", NULL};
            const char *path = NULL, *sha = NULL;
            bool x = false;
            if (!json_is_object(f))
                return err_set(e, ERR_INVALID, "files[%zu] must be an object", i);
            if (jv_only(f, ff, e) || jv_str(f, "path", JV_REQUIRED, 200, &path, e) ||
                jv_str(f, "sha256", JV_REQUIRED, 64, &sha, e) ||
                jv_bool(f, "executable", JV_OPTIONAL, &x, e))
                return err_prefix(e, "files[%zu]: ", i);
            if (!safe_rel_path(path))
                return err_set(e, ERR_INVALID,
                               "files[%zu]: path '%.80s' must be relative, without '.' or '..' "
                               "segments, made of letters, digits, '_', '-', '.' and '/'",
                               i, path);
            if (!is_sha256_hex(sha))
                return err_set(e, ERR_INVALID, "files[%zu]: sha256 must be 64 lowercase hex "
                                               "digits (upload the file with PUT /api/v1/files)", i);
        }
    }
    return 0;
}

int proc_manifest_parse(json_t *doc, bool builtin, proc_def *def, err *e)
{
    static const char *const fields[] = {"name",     "description", "target",  "targets",
                                         "parameters", "resources", "requires", "outputs",
                                         "command",  "env",         "files",   "version",
                                         NULL};
    memset(def, 0, sizeof *def);
    if (!json_is_object(doc))
        return err_set(e, ERR_INVALID, "a manifest must be a JSON object");
    if (jv_size(doc) > PROC_MANIFEST_MAX)
        return err_set(e, ERR_TOO_LARGE, "a manifest must be at most %d bytes", PROC_MANIFEST_MAX);
    json_t *d = json_deep_copy(doc);
    def->doc = d;
    const char *name = NULL, *desc = NULL, *target = NULL;
    json_t *params = NULL, *outputs = NULL;
    if (jv_only(d, fields, e) || jv_str(d, "name", JV_REQUIRED, PROC_NAME_MAX, &name, e) ||
        jv_str(d, "description", JV_OPTIONAL, PROC_DESC_MAX, &desc, e) ||
        jv_str(d, "target", JV_REQUIRED, 32, &target, e) ||
        jv_arr(d, "parameters", JV_OPTIONAL, PROC_PARAMS_MAX, &params, e) ||
        jv_arr(d, "outputs", JV_OPTIONAL, 16, &outputs, e))
        goto fail;
    if (proc_name_check("processing name", name, PROC_NAME_MAX, false, e))
        goto fail;
    if (!proc_target_valid(target)) {
        err_set(e, ERR_INVALID,
                "target must be datalake, dataset-version, model-version or experiment; got "
                "'%.40s'",
                target);
        goto fail;
    }
    json_object_del(d, "version");
    if (!params) {
        params = json_array();
        json_object_set_new(d, "parameters", params);
    }
    json_t *seen = json_object();
    size_t i;
    json_t *p;
    int prc = 0;
    json_array_foreach(params, i, p) if ((prc = param_def_check(p, i, seen, e)) != 0) break;
    json_decref(seen);
    if (prc)
        goto fail;
    json_t *o;
    json_array_foreach(outputs, i, o) if (!in_list(json_string_value(o), output_types))
    {
        err_set(e, ERR_INVALID,
                "outputs[%zu] must be one of data, tags, annotations, dataset-version, "
                "model-version",
                i);
        goto fail;
    }
    proc_resources r = {.threads = 1,
                        .memory_mb = builtin ? 0 : 4096,
                        .timeout_s = 3600,
                        .output_mb = 1024,
                        .kill_grace_s = 5};
    if (proc_resources_parse(json_object_get(d, "resources"), &r, e))
        goto fail;
    json_object_set_new(d, "resources", proc_resources_json(&r));
    if (requires_norm(json_object_get(d, "requires"), def->requires, sizeof def->requires, e))
        goto fail;
    if (def->requires[0])
        json_object_set_new(d, "requires", json_string(def->requires));
    else
        json_object_del(d, "requires");
    if (!builtin) {
        if (json_object_get(d, "targets")) {
            err_set(e, ERR_INVALID, "unknown field 'targets'; a custom processing has one target");
            goto fail;
        }
        if (custom_fields_check(d, e))
            goto fail;
    } else if (json_object_get(d, "command")) {
        err_set(e, ERR_INTERNAL, "a built-in has no command");
        goto fail;
    }
    def->name = json_string_value(json_object_get(d, "name"));
    def->description = json_string_value(json_object_get(d, "description"));
    def->target = json_string_value(json_object_get(d, "target"));
    def->params = json_object_get(d, "parameters");
    def->res = r;
    return 0;
fail:
    proc_def_free(def);
    return -1;
}

void proc_def_free(proc_def *def)
{
    json_decref(def->doc);
    memset(def, 0, sizeof *def);
}

/* A built-in may accept several targets ("targets"); its "target" is the
 * first. */
static bool def_accepts(const proc_def *d, const char *kind)
{
    if (strcmp(d->target, kind) == 0)
        return true;
    json_t *ts = json_object_get(d->doc, "targets"), *t;
    size_t i;
    json_array_foreach(ts, i, t) if (strcmp(json_string_value(t), kind) == 0) return true;
    return false;
}

int proc_params_check(json_t *defs, json_t *given, json_t **out, err *e)
{
    *out = NULL;
    if (given && !json_is_object(given))
        return err_set(e, ERR_INVALID, "params must be an object of parameter values");
    const char *k;
    json_t *v;
    json_object_foreach(given, k, v)
    {
        bool known = false;
        size_t i;
        json_t *d;
        json_array_foreach(defs, i, d) if (strcmp(json_string_value(json_object_get(d, "name")), k) == 0) known = true;
        if (!known) {
            char names[400] = "";
            size_t n = 0;
            json_array_foreach(defs, i, d)
            {
                int w = snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "",
                                 json_string_value(json_object_get(d, "name")));
                if (w < 0 || (size_t)w >= sizeof names - n)
                    break;
                n += (size_t)w;
            }
            return err_set(e, ERR_INVALID, "unknown parameter '%.64s'; the parameters are: %s", k,
                           n ? names : "(none)");
        }
    }
    json_t *res = json_object();
    size_t i;
    json_t *d;
    json_array_foreach(defs, i, d)
    {
        const char *name = json_string_value(json_object_get(d, "name"));
        json_t *val = json_object_get(given, name);
        if (!val || json_is_null(val)) {
            json_t *dflt = json_object_get(d, "default");
            if (dflt && !json_is_null(dflt)) {
                json_object_set(res, name, dflt);
            } else if (json_is_true(json_object_get(d, "required"))) {
                json_decref(res);
                return err_set(e, ERR_INVALID, "parameter '%s' is required", name);
            }
            continue;
        }
        json_t *norm;
        if (param_value(d, val, &norm, e)) {
            json_decref(res);
            return -1;
        }
        json_object_set_new(res, name, norm);
    }
    *out = res;
    return 0;
}

/* --- storage ---------------------------------------------------------------------------- */

int proc_def_load(db_conn *c, int64_t org, const char *name, int64_t version, proc_def *def,
                  err *e)
{
    const proc_builtin *b = proc_builtin_find(name);
    if (b) {
        if (version > 1)
            return err_set(e, ERR_NOT_FOUND, "built-in processing '%s' has only version 1", name);
        if (proc_manifest_parse(builtin_doc(b), true, def, e))
            return err_prefix(e, "built-in %s: ", name);
        def->builtin = b;
        def->version = 1;
        return 0;
    }
    db_stmt *s = db_query(c, e,
                          version > 0
                              ? "SELECT version, manifest FROM processing WHERE org_id = $1 AND name = $2"
                                " AND version = $3 AND archived = 0"
                              : "SELECT version, manifest FROM processing WHERE org_id = $1 AND name = $2"
                                " AND archived = 0 AND $3 = 0 ORDER BY version DESC LIMIT 1",
                          DBI(org), DBT(name), DBI(version));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    json_t *doc = NULL;
    int64_t v = 0;
    if (rc == DB_ROW) {
        v = db_col_i64(s, 0);
        json_error_t je;
        doc = json_loads(db_col_text(s, 1), 0, &je);
    }
    db_done(s);
    if (rc < 0)
        return -1;
    if (rc == DB_DONE) {
        if (version > 0)
            return err_set(e, ERR_NOT_FOUND, "processing '%.64s' has no version %lld", name,
                           (long long)version);
        return err_set(e, ERR_NOT_FOUND,
                       "no processing named '%.64s'; list them with GET /api/v1/processings",
                       name);
    }
    rc = proc_manifest_parse(doc, false, def, e);
    json_decref(doc);
    if (rc)
        return -1;
    def->version = v;
    return 0;
}

int proc_define(db_conn *c, int64_t org, int64_t user, json_t *manifest, int64_t *version,
                err *e)
{
    proc_def def;
    if (proc_manifest_parse(manifest, false, &def, e))
        return -1;
    int rc = -1;
    if (proc_builtin_find(def.name)) {
        err_set(e, ERR_CONFLICT, "'%s' is the name of a built-in processing; choose another name",
                def.name);
        goto out;
    }
    json_t *files = json_object_get(def.doc, "files"), *f;
    size_t i;
    json_array_foreach(files, i, f)
    {
        int64_t size;
        if (files_check(c, org, json_string_value(json_object_get(f, "sha256")), &size, e)) {
            err_set(e, ERR_INVALID, "files[%zu]: this organization has no file with sha256 %s; "
                                    "upload it first (PUT /api/v1/files)",
                    i, json_string_value(json_object_get(f, "sha256")));
            goto out;
        }
    }
    char *text = json_dumps(def.doc, JSON_COMPACT | JSON_SORT_KEYS);
    for (int attempt = 0; attempt < 3; attempt++) {
        int64_t next = 0;
        if (db_one_i64(c, e, &next,
                       "SELECT COALESCE(MAX(version), 0) + 1 FROM processing WHERE org_id = $1 AND name = $2",
                       DBI(org), DBT(def.name)))
            break;
        int64_t n = db_run(c, e,
                           "INSERT INTO processing (org_id, name, version, description, target,"
                           " manifest, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                           DBI(org), DBT(def.name), DBI(next), DBT(def.description), DBT(def.target),
                           DBT(text), user ? DBI(user) : DBNULL, DBI(time_now_ms()));
        if (n == 1) {
            *version = next;
            rc = 0;
            break;
        }
        if (!db_err_is_unique(c))
            break; /* else someone took that number meanwhile: try the next */
    }
    free(text);
out:
    proc_def_free(&def);
    return rc;
}

int proc_archive(db_conn *c, int64_t org, const char *name, err *e)
{
    if (proc_builtin_find(name))
        return err_set(e, ERR_CONFLICT, "'%s' is a built-in processing; it cannot be deleted", name);
    int64_t n = db_run(c, e, "UPDATE processing SET archived = 1 WHERE org_id = $1 AND name = $2 AND archived = 0",
                       DBI(org), DBT(name));
    if (n < 0)
        return -1;
    if (n == 0)
        return err_set(e, ERR_NOT_FOUND, "no processing named '%.64s'", name);
    return 0;
}

/* One catalog entry: the manifest's fields plus where it comes from. */
static void write_entry(jw *w, json_t *doc, bool builtin, int64_t version, const char *created_at,
                        int64_t created_by)
{
    jw_obj(w);
    jw_kstr(w, "name", json_string_value(json_object_get(doc, "name")));
    jw_kint(w, "version", version);
    jw_kbool(w, "builtin", builtin);
    const char *k;
    json_t *v;
    json_object_foreach(doc, k, v)
    {
        if (!strcmp(k, "name"))
            continue;
        char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        jw_key(w, k);
        jw_raw(w, t, strlen(t));
        free(t);
    }
    if (!json_object_get(doc, "targets")) {
        jw_key(w, "targets");
        jw_arr(w);
        jw_str(w, json_string_value(json_object_get(doc, "target")));
        jw_arr_end(w);
    }
    jw_kstr(w, "kind", builtin ? "builtin" : "custom");
    if (created_at) {
        jw_kstr(w, "created_at", created_at);
        jw_key(w, "created_by");
        if (created_by)
            jw_int(w, created_by);
        else
            jw_null(w);
    }
    jw_obj_end(w);
}

static bool doc_targets(json_t *doc, const char *target)
{
    if (!target || !*target)
        return true;
    if (strcmp(json_string_value(json_object_get(doc, "target")), target) == 0)
        return true;
    json_t *ts = json_object_get(doc, "targets"), *t;
    size_t i;
    json_array_foreach(ts, i, t) if (strcmp(json_string_value(t), target) == 0) return true;
    return false;
}

int proc_catalog_list(db_conn *c, int64_t org, const char *target, jw *w, err *e)
{
    if (target && *target && !proc_target_valid(target))
        return err_set(e, ERR_INVALID, "target must be datalake, dataset-version, model-version "
                                       "or experiment");
    jw_obj(w);
    jw_key(w, "items");
    jw_arr(w);
    for (const proc_builtin *b = proc_builtins; b->name; b++) {
        proc_def d;
        if (proc_manifest_parse(builtin_doc(b), true, &d, e))
            return -1;
        if (doc_targets(d.doc, target))
            write_entry(w, d.doc, true, 1, NULL, 0);
        proc_def_free(&d);
    }
    db_stmt *s = db_query(c, e,
                          "SELECT p.version, p.manifest, p.created_at, p.created_by FROM processing p"
                          " WHERE p.org_id = $1 AND p.archived = 0 AND p.version = (SELECT"
                          " MAX(q.version) FROM processing q WHERE q.org_id = p.org_id AND"
                          " q.name = p.name AND q.archived = 0) ORDER BY p.name",
                          DBI(org));
    if (!s)
        return -1;
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW) {
        json_error_t je;
        json_t *doc = json_loads(db_col_text(s, 1), 0, &je);
        if (doc && doc_targets(doc, target)) {
            char ts[32];
            time_fmt_iso(db_col_i64(s, 2), ts, sizeof ts);
            write_entry(w, doc, false, db_col_i64(s, 0), ts,
                        db_col_null(s, 3) ? 0 : db_col_i64(s, 3));
        }
        json_decref(doc);
    }
    db_done(s);
    jw_arr_end(w);
    jw_obj_end(w);
    return rc < 0 ? -1 : 0;
}

int proc_catalog_get(db_conn *c, int64_t org, const char *name, int64_t version, jw *w, err *e)
{
    proc_def d;
    if (proc_def_load(c, org, name, version, &d, e))
        return -1;
    jw_obj(w);
    jw_key(w, "processing");
    if (d.builtin) {
        write_entry(w, d.doc, true, 1, NULL, 0);
    } else {
        int64_t created = 0, by = 0;
        db_stmt *s = db_query(c, e, "SELECT created_at, created_by FROM processing WHERE org_id = $1"
                                    " AND name = $2 AND version = $3",
                              DBI(org), DBT(name), DBI(d.version));
        if (s && db_step(s, e) == DB_ROW) {
            created = db_col_i64(s, 0);
            by = db_col_null(s, 1) ? 0 : db_col_i64(s, 1);
        }
        if (s)
            db_done(s);
        char ts[32];
        time_fmt_iso(created, ts, sizeof ts);
        write_entry(w, d.doc, false, d.version, ts, by);
    }
    jw_key(w, "versions");
    jw_arr(w);
    int rc = 0;
    if (d.builtin) {
        jw_int(w, 1);
    } else {
        db_stmt *s = db_query(c, e, "SELECT version FROM processing WHERE org_id = $1 AND name = $2"
                                    " AND archived = 0 ORDER BY version",
                              DBI(org), DBT(name));
        if (!s) {
            proc_def_free(&d);
            return -1;
        }
        while ((rc = db_step(s, e)) == DB_ROW)
            jw_int(w, db_col_i64(s, 0));
        db_done(s);
    }
    jw_arr_end(w);
    jw_obj_end(w);
    proc_def_free(&d);
    return rc < 0 ? -1 : 0;
}

bool proc_def_accepts(const proc_def *d, const char *kind) { return def_accepts(d, kind); }
