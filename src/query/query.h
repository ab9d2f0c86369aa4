/*
 * query.h - the search language of the datalake (and of dataset assets and
 * predictions), compiled to parameterised SQL. A library: no database
 * connection, no HTTP. The language is documented in docs/query.md.
 *
 *   width >= 1024 and (tag = "night" or meta.weather = "rain")
 *       and not tag = "blurry" and created > "2026-01-01" and size < 2MB
 *
 * The caller describes its fields in a schema: a name, a type and the SQL
 * expression that holds the value. So the same engine serves different
 * tables. Types:
 *   QUERY_INT, QUERY_FLOAT, QUERY_TEXT, QUERY_BOOL   a column
 *   QUERY_TIME   an int64 column of ms since the epoch; literals are ISO
 *                strings ("2026-01-01", "2026-01-01T10:00:00Z")
 *   QUERY_TAG    a set of names per row, tested with an EXISTS subquery:
 *                `sql` is its template with "{}" where the condition on
 *                `tag_column` goes
 *   QUERY_JSON   a JSON object column, queried as name.key (exif.make,
 *                meta.weather, meta.camera.iso); the key is a parameter
 *   QUERY_CUSTOM compiled by a callback (perceptual-hash similarity, ...)
 *                used as name(args) or name op value
 *
 * Pipeline: query_parse() lexes, parses and type-checks against the schema
 * (errors name the 1-based column: "unknown field 'widht' at column 1; did
 * you mean 'width'?"); query_compile() produces a WHERE fragment for
 * SQLite or PostgreSQL with $N placeholders numbered from a caller-given
 * index, and the typed parameters. User text never reaches the SQL text:
 * every literal and every JSON key is a parameter; the only SQL written is
 * the schema's and our own fixed keywords.
 *
 * NULLs: a comparison with a missing value is false, including !=; `not`
 * turns that into true (NOT COALESCE(x, FALSE)), so `not meta.x = 1`
 * matches rows without meta.x while `meta.x != 1` does not.
 *
 * Bounded: query length, nesting depth (parentheses and `not`), number of
 * terms and of literal values all have limits (QUERY_DEFAULT_*).
 * Memory: a parsed query lives in its own arena, a compiled one in another.
 */
#ifndef CVOPS_QUERY_QUERY_H
#define CVOPS_QUERY_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"

typedef enum query_type {
    QUERY_INT = 1,
    QUERY_FLOAT,
    QUERY_TEXT,
    QUERY_TIME,
    QUERY_BOOL,
    QUERY_TAG,
    QUERY_JSON,
    QUERY_CUSTOM,
} query_type;

typedef enum query_dialect {
    QUERY_SQLITE = 1,
    QUERY_POSTGRES,
} query_dialect;

typedef enum query_op {
    QOP_EQ = 1,   /* =  == */
    QOP_NE,       /* != <> */
    QOP_LT,
    QOP_LE,
    QOP_GT,
    QOP_GE,
    QOP_MATCH,    /* ~  glob with * and ?, case-insensitive */
    QOP_NMATCH,   /* !~ */
    QOP_LIKE,     /* like: SQL pattern with % and _, case-insensitive */
    QOP_NLIKE,    /* not like */
    QOP_IN,       /* in (...) */
    QOP_NIN,      /* not in (...) */
    QOP_EXISTS,   /* exists field: has a value (a tag, a JSON key) */
    QOP_CALL,     /* field(args): custom fields only */
} query_op;

const char *query_op_text(query_op op); /* "=", "!=", "in", ... */

typedef enum query_vtype {
    QV_NULL = 1,
    QV_INT,
    QV_FLOAT,
    QV_TEXT,
    QV_BOOL,
} query_vtype;

/* A literal as parsed. Time fields carry ms since the epoch in i. */
typedef struct query_value {
    query_vtype type;
    int64_t i;
    double f;
    bool b;
    const char *s; /* QV_TEXT: NUL-terminated, may contain NULs before len */
    size_t len;
    uint32_t col;  /* 1-based column of the literal */
    bool date_only; /* time literal without a time of day ("2026-01-01") */
} query_value;

/* --- schema --------------------------------------------------------------- */

typedef struct query_emit query_emit; /* SQL being built; see query_emit_* */
typedef struct query_field query_field;

/* What a custom field's callback is asked to compile. */
typedef struct query_pred {
    const query_field *field;
    query_op op;
    const query_value *values; /* operands: one for comparisons, the list for
                                  in, the arguments for a call */
    size_t nvalues;
    uint32_t col;              /* column of the field name */
} query_pred;

/* Writes one boolean SQL expression through em; on a usage error returns
 * err_set(e, ERR_INVALID, "... at column %u", ...). */
typedef int (*query_custom_fn)(query_emit *em, const query_pred *p, void *ud, err *e);

struct query_field {
    const char *name;       /* lower case; matched case-insensitively */
    query_type type;
    const char *sql;        /* column expression; TAG: EXISTS template with
                               one "{}"; JSON: the JSON column */
    const char *tag_column; /* TAG: the tag name inside the template */
    query_custom_fn compile; /* CUSTOM */
    void *ud;
    const char *help;       /* one line, for autocomplete; may be NULL */
};

typedef struct query_schema {
    const query_field *fields;
    size_t nfields;
} query_schema;

const query_field *query_schema_find(const query_schema *s, const char *name, size_t len);

/* --- limits ----------------------------------------------------------------- */

#define QUERY_DEFAULT_MAX_LEN 4096   /* bytes of query text */
#define QUERY_DEFAULT_MAX_DEPTH 32   /* nested parentheses and nots */
#define QUERY_DEFAULT_MAX_TERMS 100  /* comparisons */
#define QUERY_DEFAULT_MAX_VALUES 500 /* literals, list members included */

typedef struct query_limits {
    size_t max_len;  /* 0 = default, for every field */
    int max_depth;
    int max_terms;
    int max_values;
} query_limits;

/* --- parse and compile ------------------------------------------------------- */

typedef struct query query; /* a parsed, type-checked query */

/* Parses text (len bytes, need not be NUL-terminated) against schema, which
 * must outlive the query. lim may be NULL. An empty or blank query is valid
 * and matches everything. */
int query_parse(const char *text, size_t len, const query_schema *schema,
                const query_limits *lim, query **out, err *e);
void query_free(query *q);
bool query_is_empty(const query *q);
/* Takes out of q a condition every match must meet: `TAG = "text"` as the
 * whole query or as one operand of its top-level `and`. The caller then
 * drives the query from that tag's rows, a join on its index, instead of
 * testing membership item by item. False, and q untouched, when there is
 * none. *value (not NUL-terminated past *len) lives as long as q. */
bool query_take_tag_eq(query *q, const char **value, size_t *len);

typedef enum query_ptype {
    QUERY_P_NULL = 1,
    QUERY_P_INT,
    QUERY_P_FLOAT,
    QUERY_P_TEXT,
} query_ptype;

typedef struct query_param {
    query_ptype type;
    int64_t i;
    double f;
    const char *s; /* QUERY_P_TEXT: NUL-terminated (len excludes it) */
    size_t len;
} query_param;

typedef struct query_sql {
    const char *where;   /* a boolean SQL expression, "1=1" for an empty query */
    size_t where_len;
    query_param *params; /* params[k] is placeholder $(first_index + k) */
    size_t nparams;
    int next_index;      /* first_index + nparams */
    arena *mem;          /* owns all of the above */
} query_sql;

int query_compile(const query *q, query_dialect d, int first_index, query_sql *out, err *e);
void query_sql_free(query_sql *s);

/* parse + compile */
int query_to_sql(const char *text, size_t len, const query_schema *schema,
                 const query_limits *lim, query_dialect d, int first_index, query_sql *out,
                 err *e);

/* --- emitter, for custom fields -------------------------------------------------- */

query_dialect query_emit_dialect(const query_emit *em);
void query_emit_sql(query_emit *em, const char *sql); /* trusted SQL text only */
void query_emit_int(query_emit *em, int64_t v);       /* writes $N, adds a parameter */
void query_emit_float(query_emit *em, double v);
void query_emit_text(query_emit *em, const char *s, size_t len);

/* --- autocomplete ------------------------------------------------------------------ */

enum {
    QUERY_EXPECT_FIELD = 1,      /* a field name (or not, exists, "(") */
    QUERY_EXPECT_KEY = 2,        /* a key of the JSON field after "name." */
    QUERY_EXPECT_OPERATOR = 4,   /* an operator for `field` */
    QUERY_EXPECT_VALUE = 8,      /* a value for `field` (and `key`) */
    QUERY_EXPECT_CONNECTIVE = 16 /* and / or, or ")" when inside parentheses */
};

typedef struct query_completion {
    unsigned expect;             /* QUERY_EXPECT_* bits; 0 when nothing fits */
    const query_field *field;    /* KEY, OPERATOR, VALUE: the field concerned */
    char key[128];               /* VALUE on a JSON field: the key path ("camera.iso") */
    char prefix[128];            /* the part of the token already typed */
    size_t replace_from;         /* byte range of the text a suggestion replaces */
    size_t replace_to;
    bool in_string;              /* the prefix is inside an open string literal */
    const char *const *operators; /* OPERATOR: NULL-terminated operators for field */
    const char *others;          /* other tokens that fit here, e.g. ", )" */
} query_completion;

/* What is expected at byte offset `cursor` of a partial query. Fails only
 * on an error before the cursor (unknown field, bad literal, ...). */
int query_complete(const char *text, size_t len, size_t cursor, const query_schema *schema,
                   query_completion *out, err *e);

/* Field names starting with prefix (case-insensitive), in schema order:
 * fills up to max names, returns how many matched. */
size_t query_suggest_fields(const query_schema *s, const char *prefix, const char **names,
                            size_t max);

/* The autocomplete answer, shared by every module that searches with the
 * language: {"expect": [...], "replace_from", "replace_to", "suggestions":
 * [{"text", "kind", "help"}...]}. query_complete_json_begin completes q at
 * cursor (ERR_INVALID on an error before it), writes the object up to the
 * suggestions with the fields (and "not") that fit, and gives the typed
 * prefix as a LIKE pattern (%, _ and \ escaped, ESCAPE '\'). The module
 * then adds its keys, query_complete_json_operators, its values, and
 * query_complete_json_end closes with the connectives. */
int query_complete_json_begin(jw *w, const char *q, size_t cursor, const query_schema *schema,
                              query_completion *comp, char *like, size_t like_size, err *e);
void query_complete_json_suggest(jw *w, const char *text, const char *kind, const char *help);
void query_complete_json_operators(jw *w, const query_completion *comp);
void query_complete_json_end(jw *w, const query_completion *comp);

#endif
