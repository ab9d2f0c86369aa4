/*
 * internal.h - tokens, syntax tree and parser state shared by lex.c,
 * parse.c, compile.c and complete.c.
 */
#ifndef CVOPS_QUERY_INTERNAL_H
#define CVOPS_QUERY_INTERNAL_H

#include "query/query.h"

/* --- tokens (lex.c) --------------------------------------------------------- */

typedef enum tok_kind {
    T_EOF = 0,
    T_IDENT,  /* field names, keys, bare-word values, keywords */
    T_STRING, /* "..." or '...', unescaped into s/len */
    T_NUMBER, /* with an optional unit: 2MB */
    T_OP,     /* = == != <> < <= > >= ~ !~ */
    T_LPAREN,
    T_RPAREN,
    T_COMMA,
    T_DOT,
} tok_kind;

typedef enum kw {
    KW_NONE = 0,
    KW_AND,
    KW_OR,
    KW_NOT,
    KW_IN,
    KW_LIKE,
    KW_EXISTS,
    KW_TRUE,
    KW_FALSE,
    KW_NULL,
} kw;

typedef struct tok {
    tok_kind kind;
    kw kw;          /* T_IDENT that is a keyword */
    size_t pos;     /* byte offset in the text */
    size_t end;     /* one past the last byte */
    const char *s;  /* T_STRING: unescaped; T_IDENT: the text */
    size_t len;
    query_op op;    /* T_OP */
    bool is_float;  /* T_NUMBER */
    int64_t i;
    double f;
    bool open;      /* T_STRING without its closing quote (completion only) */
} tok;

typedef struct lexed {
    tok *t;
    size_t n;
} lexed;

/* Splits text into tokens (the last one T_EOF). tolerant: an unterminated
 * string becomes an open T_STRING instead of an error (autocomplete). */
int query_lex(arena *a, const char *text, size_t len, bool tolerant, lexed *out, err *e);
/* 1-based column of byte offset pos (UTF-8 code points). */
uint32_t query_col(const char *text, size_t pos);

/* --- syntax tree ------------------------------------------------------------- */

typedef enum qn_kind { QN_AND = 1, QN_OR, QN_NOT, QN_PRED } qn_kind;

typedef struct qnode qnode;
struct qnode {
    qn_kind kind;
    qnode **kids; /* AND, OR: n >= 2; NOT: 1 */
    size_t nkids;
    /* QN_PRED */
    const query_field *field;
    const char **keys; /* JSON: key path */
    size_t nkeys;
    query_op op;
    query_value *vals;
    size_t nvals;
    uint32_t col;
};

struct query {
    arena *mem;
    const query_schema *schema;
    qnode *root; /* NULL: empty query */
};

/* --- parser (parse.c), shared with complete.c ----------------------------------- */

typedef struct parser {
    arena *a;
    const char *text;
    const query_schema *schema;
    const tok *t;
    size_t n, i;
    int depth, terms, values;
    query_limits lim;
    err *e;
    /* completion mode: reaching T_EOF where something is expected records
     * it here and makes the parse return PARSE_STOP */
    query_completion *cmp;
} parser;

#define PARSE_STOP (-2)

void query_limits_fill(query_limits *l, const query_limits *in);
int query_parse_tokens(parser *p, qnode **root);

/* Operators valid for a field type, NULL-terminated. */
const char *const *query_ops_for(query_type t);

#endif
