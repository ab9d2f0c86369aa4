/*
 * protocol.c - the line protocol a command speaks on its standard output.
 *
 *   ::progress 0.4 reading images        fraction 0..1 (or 40%), then a message
 *   ::log some text                      a log line (same as a plain line)
 *   ::output {"type": "data", ...}       an output document (one line of JSON);
 *                                        "local" names a file of the working dir
 *   ::output data out/a.jpg cat dog      shorthand: an image file, then its tags
 *   ::result {"accuracy": 0.93}          merged into the job's result
 *
 * Every other line (and everything on stderr) goes to the job's log as is.
 * A line that starts with "::" but cannot be read is logged with the reason,
 * so a typo shows up in the log instead of vanishing.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "processing/internal.h"

static const char *word(const char *s, const char *w)
{
    size_t n = strlen(w);
    if (strncmp(s, w, n) != 0 || (s[n] != 0 && s[n] != ' ' && s[n] != '\t'))
        return NULL;
    s += n;
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static void bad(proto_msg *m, const char *why)
{
    m->kind = PROTO_BAD;
    snprintf(m->error, sizeof m->error, "%s", why);
    m->text = m->error;
}

void proto_parse(const char *line, proto_msg *m)
{
    memset(m, 0, sizeof *m);
    m->kind = PROTO_TEXT;
    m->text = line;
    if (line[0] != ':' || line[1] != ':')
        return;
    const char *p = line + 2, *rest;
    if ((rest = word(p, "log")) != NULL) {
        m->kind = PROTO_LOG;
        m->text = rest;
        return;
    }
    if ((rest = word(p, "progress")) != NULL) {
        char *end;
        double v = strtod(rest, &end);
        if (end == rest || !isfinite(v)) {
            bad(m, "::progress needs a fraction between 0 and 1 (or a percentage like 40%)");
            return;
        }
        if (*end == '%') {
            v /= 100;
            end++;
        }
        if (v < 0 || v > 1 || (*end && *end != ' ' && *end != '\t')) {
            bad(m, "::progress needs a fraction between 0 and 1 (or a percentage like 40%)");
            return;
        }
        while (*end == ' ' || *end == '\t')
            end++;
        m->kind = PROTO_PROGRESS;
        m->progress = v;
        m->text = end;
        return;
    }
    bool result = false;
    if ((rest = word(p, "output")) != NULL || (result = (rest = word(p, "result")) != NULL)) {
        if (*rest == '{') {
            json_error_t je;
            m->doc = json_loads(rest, JSON_REJECT_DUPLICATES, &je);
            if (!json_is_object(m->doc)) {
                json_decref(m->doc);
                m->doc = NULL;
                char why[160];
                snprintf(why, sizeof why, "::%s: the JSON object cannot be read: %s",
                         result ? "result" : "output", je.text);
                bad(m, why);
                return;
            }
            m->kind = result ? PROTO_RESULT : PROTO_OUTPUT;
            return;
        }
        const char *after;
        if (!result && (after = word(rest, "data")) != NULL && *after) {
            /* data PATH [TAG ...] */
            const char *pe = after;
            while (*pe && *pe != ' ' && *pe != '\t')
                pe++;
            json_t *doc = json_pack("{s:s, s:s%}", "type", "data", "local", after,
                                    (size_t)(pe - after));
            json_t *tags = json_array();
            const char *t = pe;
            while (*t) {
                while (*t == ' ' || *t == '\t')
                    t++;
                const char *te = t;
                while (*te && *te != ' ' && *te != '\t')
                    te++;
                if (te > t)
                    json_array_append_new(tags, json_stringn(t, (size_t)(te - t)));
                t = te;
            }
            if (json_array_size(tags))
                json_object_set_new(doc, "tags", tags);
            else
                json_decref(tags);
            m->doc = doc;
            m->kind = PROTO_OUTPUT;
            return;
        }
        bad(m, result ? "::result needs a JSON object"
                      : "::output needs a JSON object, or 'data PATH [TAG ...]'");
        return;
    }
    bad(m, "unknown :: command; the protocol knows ::progress, ::log, ::output and ::result");
}

void proto_msg_free(proto_msg *m)
{
    json_decref(m->doc);
    m->doc = NULL;
}
