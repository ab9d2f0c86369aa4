/*
 * arena.h - a bump allocator for things that die together.
 *
 * An HTTP request, a parsed query or an import batch allocates from one arena
 * and frees everything with arena_free(). Blocks grow geometrically; large
 * allocations get a block of their own. Allocation failure returns NULL.
 */
#ifndef CVOPS_BASE_ARENA_H
#define CVOPS_BASE_ARENA_H

#include <stdarg.h>
#include <stddef.h>

typedef struct arena arena;

arena *arena_new(size_t first_block);
void arena_free(arena *a);
void arena_reset(arena *a); /* frees all but the first block */
void *arena_alloc(arena *a, size_t n);  /* 16-byte aligned, uninitialised */
void *arena_zalloc(arena *a, size_t n); /* zeroed */
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_printf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t arena_used(const arena *a); /* bytes handed out, for limits and tests */

#endif
