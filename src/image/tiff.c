/*
 * tiff.c - a bounded reader for TIFF structures: TIFF files and EXIF blobs.
 *
 * Only what probe needs: the header, finding a tag in one IFD, reading
 * integer values. Offsets come from the file and are never trusted: every
 * read checks it stays inside the buffer, using 64-bit arithmetic so that
 * offset + length cannot wrap. Nothing here allocates.
 */
#include "image/internal.h"

static uint16_t get16(const tiff_rd *t, size_t pos)
{
    const uint8_t *p = t->p + pos;
    return t->le ? (uint16_t)(p[0] | p[1] << 8) : (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const tiff_rd *t, size_t pos)
{
    const uint8_t *p = t->p + pos;
    if (t->le)
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static bool fits(const tiff_rd *t, uint64_t pos, uint64_t len) { return pos + len <= t->n; }

uint32_t tiff_open(tiff_rd *t, const uint8_t *p, size_t n)
{
    t->p = p;
    t->n = n;
    if (n < 8)
        return 0;
    if (p[0] == 'I' && p[1] == 'I')
        t->le = true;
    else if (p[0] == 'M' && p[1] == 'M')
        t->le = false;
    else
        return 0;
    if (get16(t, 2) != 42)
        return 0;
    uint32_t ifd = get32(t, 4);
    if (ifd < 8 || !fits(t, ifd, 2))
        return 0;
    return ifd;
}

static unsigned type_size(uint16_t type)
{
    switch (type) {
    case 1: case 2: case 6: case 7: return 1; /* BYTE ASCII SBYTE UNDEFINED */
    case 3: case 8: return 2;                 /* SHORT SSHORT */
    case 4: case 9: case 11: return 4;        /* LONG SLONG FLOAT */
    case 5: case 10: case 12: return 8;       /* RATIONAL SRATIONAL DOUBLE */
    default: return 0;
    }
}

int tiff_find(const tiff_rd *t, uint32_t ifd, uint16_t tag, tiff_entry *out)
{
    if (!fits(t, ifd, 2))
        return 0;
    unsigned count = get16(t, ifd);
    if (count > TIFF_MAX_ENTRIES)
        count = TIFF_MAX_ENTRIES;
    for (unsigned i = 0; i < count; i++) {
        uint64_t pos = (uint64_t)ifd + 2 + 12ull * i;
        if (!fits(t, pos, 12))
            return 0;
        if (get16(t, (size_t)pos) != tag)
            continue;
        out->tag = tag;
        out->type = get16(t, (size_t)pos + 2);
        out->count = get32(t, (size_t)pos + 4);
        unsigned sz = type_size(out->type);
        if (!sz)
            return 0;
        uint64_t total = (uint64_t)sz * out->count;
        if (total <= 4) {
            out->value_pos = (size_t)pos + 8;
        } else {
            uint32_t off = get32(t, (size_t)pos + 8);
            if (!fits(t, off, total))
                return 0;
            out->value_pos = off;
        }
        return 1;
    }
    return 0;
}

bool tiff_uint(const tiff_rd *t, const tiff_entry *en, uint32_t i, uint32_t *v)
{
    if (i >= en->count)
        return false;
    switch (en->type) {
    case TIFF_BYTE:
        *v = t->p[en->value_pos + i];
        return true;
    case TIFF_SHORT:
        *v = get16(t, en->value_pos + 2 * (size_t)i);
        return true;
    case TIFF_LONG:
        *v = get32(t, en->value_pos + 4 * (size_t)i);
        return true;
    default:
        return false;
    }
}

uint8_t tiff_orientation(const uint8_t *p, size_t n)
{
    tiff_rd t;
    uint32_t ifd = tiff_open(&t, p, n);
    tiff_entry en;
    uint32_t v;
    if (!ifd || !tiff_find(&t, ifd, 0x0112, &en) || !tiff_uint(&t, &en, 0, &v))
        return 0;
    return v >= 1 && v <= 8 ? (uint8_t)v : 0;
}
