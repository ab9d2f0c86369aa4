/*
 * arena.c - bump allocator; see arena.h.
 */
#include "base/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct block {
    struct block *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
} block;

struct arena {
    block *head;  /* current block; its next chain holds the older ones */
    size_t next_size;
    size_t total;
};

static block *block_new(size_t size)
{
    block *b = malloc(sizeof *b + size);
    if (!b)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

arena *arena_new(size_t first_block)
{
    arena *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    if (first_block < 256)
        first_block = 256;
    a->head = block_new(first_block);
    if (!a->head) {
        free(a);
        return NULL;
    }
    a->next_size = first_block * 2;
    return a;
}

void arena_free(arena *a)
{
    if (!a)
        return;
    for (block *b = a->head, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    free(a);
}

void arena_reset(arena *a)
{
    block *b = a->head;
    while (b->next) {
        block *n = b->next;
        free(b);
        b = n;
    }
    /* b is now the oldest (first) block */
    b->used = 0;
    a->head = b;
    a->total = 0;
}

void *arena_alloc(arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    block *h = a->head;
    if (h->size - h->used < n) {
        size_t sz = a->next_size;
        if (sz < n)
            sz = n;
        block *b = block_new(sz);
        if (!b)
            return NULL;
        if (n * 2 > a->next_size) {
            /* big one-off: put it behind the current block so the current
             * block keeps serving small allocations */
            b->next = h->next;
            h->next = b;
            b->used = n;
            a->total += n;
            return b->data;
        }
        b->next = h;
        a->head = b;
        if (a->next_size < (64u << 20))
            a->next_size *= 2;
        h = b;
    }
    void *p = h->data + h->used;
    h->used += n;
    a->total += n;
    return p;
}

void *arena_zalloc(arena *a, size_t n)
{
    void *p = arena_alloc(a, n);
    if (p)
        memset(p, 0, n);
    return p;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *arena_strdup(arena *a, const char *s) { return arena_strndup(a, s, strlen(s)); }

char *arena_printf(arena *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = n < 0 ? NULL : arena_alloc(a, (size_t)n + 1);
    if (p)
        vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

size_t arena_used(const arena *a) { return a->total; }
