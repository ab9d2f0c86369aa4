/*
 * map.c - the two small hash maps of the dataset module (see internal.h):
 * int64 -> int64 and string -> int64, open addressing with linear probing,
 * grown at 50 % load. Imports map 100k file names and image ids with them,
 * which is why they are not a tree of malloc'd nodes.
 */
#include <stdlib.h>
#include <string.h>

#include "dataset/internal.h"

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return mix64(h);
}

static int imap_grow(ds_imap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    int64_t *k = calloc(cap, sizeof *k), *v = malloc(cap * sizeof *v);
    if (!k || !v) {
        free(k);
        free(v);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = mix64((uint64_t)m->keys[i]) & (cap - 1);
        while (k[j])
            j = (j + 1) & (cap - 1);
        k[j] = m->keys[i];
        v[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = k;
    m->vals = v;
    m->cap = cap;
    return 0;
}

int ds_imap_put(ds_imap *m, int64_t key, int64_t val)
{
    if (key == 0) {
        m->has_zero = true;
        m->zero_val = val;
        return 0;
    }
    if ((m->n + 1) * 2 > m->cap && imap_grow(m) != 0)
        return -1;
    size_t j = mix64((uint64_t)key) & (m->cap - 1);
    while (m->keys[j] && m->keys[j] != key)
        j = (j + 1) & (m->cap - 1);
    if (!m->keys[j]) {
        m->keys[j] = key;
        m->n++;
    }
    m->vals[j] = val;
    return 0;
}

bool ds_imap_get(const ds_imap *m, int64_t key, int64_t *val)
{
    if (key == 0) {
        if (m->has_zero && val)
            *val = m->zero_val;
        return m->has_zero;
    }
    if (!m->cap)
        return false;
    size_t j = mix64((uint64_t)key) & (m->cap - 1);
    while (m->keys[j]) {
        if (m->keys[j] == key) {
            if (val)
                *val = m->vals[j];
            return true;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return false;
}

void ds_imap_free(ds_imap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static int smap_grow(ds_smap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    const char **k = calloc(cap, sizeof *k);
    int64_t *v = malloc(cap * sizeof *v);
    if (!k || !v) {
        free(k);
        free(v);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = str_hash(m->keys[i]) & (cap - 1);
        while (k[j])
            j = (j + 1) & (cap - 1);
        k[j] = m->keys[i];
        v[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = k;
    m->vals = v;
    m->cap = cap;
    return 0;
}

int ds_smap_put(ds_smap *m, const char *key, int64_t val)
{
    if (!m->mem && !(m->mem = arena_new(64 * 1024)))
        return -1;
    if ((m->n + 1) * 2 > m->cap && smap_grow(m) != 0)
        return -1;
    size_t j = str_hash(key) & (m->cap - 1);
    while (m->keys[j] && strcmp(m->keys[j], key) != 0)
        j = (j + 1) & (m->cap - 1);
    if (!m->keys[j]) {
        char *k = arena_strdup(m->mem, key);
        if (!k)
            return -1;
        m->keys[j] = k;
        m->n++;
    }
    m->vals[j] = val;
    return 0;
}

bool ds_smap_get(const ds_smap *m, const char *key, int64_t *val)
{
    if (!m->cap)
        return false;
    size_t j = str_hash(key) & (m->cap - 1);
    while (m->keys[j]) {
        if (strcmp(m->keys[j], key) == 0) {
            if (val)
                *val = m->vals[j];
            return true;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return false;
}

void ds_smap_free(ds_smap *m)
{
    free(m->keys);
    free(m->vals);
    arena_free(m->mem);
    memset(m, 0, sizeof *m);
}
