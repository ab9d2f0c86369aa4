/*
 * util.h - small helpers every module needs: time, randomness, hashing,
 * hex, text checks, and a bounded integer parser.
 */
#ifndef CVOPS_BASE_UTIL_H
#define CVOPS_BASE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* --- time -------------------------------------------------------------- */
int64_t time_now_ms(void);        /* wall clock, ms since the Unix epoch */
int64_t time_mono_ns(void);       /* monotonic, for durations */
double time_thread_cpu_s(void);   /* CPU time of the calling thread, seconds */
/* "2026-11-26T07:28:39.123Z" into out (at least 25 bytes) */
void time_fmt_iso(int64_t ms, char *out, size_t n);
/* Parses "2026-01-01", "2026-01-01T10:00:00", "...Z", "...+02:00", with
 * optional fractional seconds. Returns 0 and ms since the epoch (UTC). */
int time_parse_iso(const char *s, int64_t *ms);

/* --- randomness (getrandom) ---------------------------------------------- */
int rand_bytes(void *buf, size_t n);
uint64_t rand_u64(void);
/* A random token of `nbytes` bytes of entropy, base32 lowercase, NUL-terminated. */
void rand_token(char *out, size_t out_size, size_t nbytes);

/* --- SHA-256 (OpenSSL) ------------------------------------------------- */
typedef struct sha256_ctx sha256_ctx;
sha256_ctx *sha256_new(void);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
void sha256_final(sha256_ctx *c, unsigned char out[32]); /* also frees c */
void sha256(const void *data, size_t n, unsigned char out[32]);
void sha256_hex(const void *data, size_t n, char out[65]);
void hmac_sha256(const void *key, size_t klen, const void *data, size_t n, unsigned char out[32]);

/* --- hex ------------------------------------------------------------------ */
void hex_encode(const unsigned char *in, size_t n, char *out); /* out: 2n+1 */
int hex_decode(const char *in, size_t n, unsigned char *out);  /* n even; -1 on bad digit */
bool is_sha256_hex(const char *s); /* exactly 64 lowercase hex digits */

/* --- text -------------------------------------------------------------- */
bool str_has_prefix(const char *s, const char *prefix);
bool utf8_valid(const char *s, size_t n);
/* Names of things users create: 1..max bytes, printable UTF-8, no control
 * characters, no leading/trailing space. */
int name_check(const char *what, const char *s, size_t max, err *e);
/* Parses a whole decimal integer in [min, max]; -1 with a message naming
 * `what` otherwise. */
int parse_i64(const char *what, const char *s, int64_t min, int64_t max, int64_t *out, err *e);
/* Constant-time comparison for secrets. */
bool ct_equal(const void *a, const void *b, size_t n);

#endif
