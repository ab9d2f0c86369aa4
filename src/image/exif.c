/*
 * exif.c - EXIF metadata through libexif: a few decoded fields for columns
 * (orientation, camera, date taken, GPS, focal length) and every tag as a
 * bounded JSON object for `exif.*` queries.
 *
 * Input is the EXIF TIFF structure that probe located (JPEG APP1, PNG
 * eXIf, WebP EXIF chunk, or a TIFF file itself). libexif only takes it
 * behind an "Exif\0\0" header, so we copy it behind one; libexif reads at
 * most 64 KiB of it (the size of a JPEG APP1 segment), which is all an
 * EXIF blob can be in JPEG. A large TIFF file may keep its first directory
 * past that point: the decoded IFD0 fields (orientation, make, model,
 * date) then come from our own TIFF reader instead.
 *
 * libexif is created with FOLLOW_SPECIFICATION off, which would otherwise
 * "fix" the data by inventing the mandatory tags a file lacks, and with
 * maker notes left uninterpreted (they are vendor binary blobs).
 */
#include <libexif/exif-data.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "image/internal.h"

#define EXIF_COPY_MAX 0xFFF0

void image_exif_free(image_exif *x)
{
    if (!x)
        return;
    free(x->json);
    memset(x, 0, sizeof *x);
}

/* Copies an ASCII entry: up to the first NUL, spaces trimmed. */
static void ascii_value(const ExifEntry *en, char *out, size_t cap)
{
    out[0] = 0;
    if (!en || !en->data || en->format != EXIF_FORMAT_ASCII || cap == 0)
        return;
    size_t n = 0;
    while (n < en->size && en->data[n])
        n++;
    const unsigned char *s = en->data;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, s, n);
    out[n] = 0;
}

static bool rational(const ExifEntry *en, ExifByteOrder bo, unsigned i, double *v)
{
    if (!en || !en->data || i >= en->components)
        return false;
    if (en->format == EXIF_FORMAT_RATIONAL && en->size >= 8 * (i + 1)) {
        ExifRational r = exif_get_rational(en->data + 8 * i, bo);
        if (!r.denominator)
            return false;
        *v = (double)r.numerator / r.denominator;
        return true;
    }
    if (en->format == EXIF_FORMAT_SRATIONAL && en->size >= 8 * (i + 1)) {
        ExifSRational r = exif_get_srational(en->data + 8 * i, bo);
        if (!r.denominator)
            return false;
        *v = (double)r.numerator / r.denominator;
        return true;
    }
    return false;
}

static bool integer(const ExifEntry *en, ExifByteOrder bo, int64_t *v)
{
    if (!en || !en->data || en->components < 1)
        return false;
    switch (en->format) {
    case EXIF_FORMAT_BYTE: *v = en->data[0]; return en->size >= 1;
    case EXIF_FORMAT_SBYTE: *v = (int8_t)en->data[0]; return en->size >= 1;
    case EXIF_FORMAT_SHORT: *v = exif_get_short(en->data, bo); return en->size >= 2;
    case EXIF_FORMAT_SSHORT: *v = exif_get_sshort(en->data, bo); return en->size >= 2;
    case EXIF_FORMAT_LONG: *v = exif_get_long(en->data, bo); return en->size >= 4;
    case EXIF_FORMAT_SLONG: *v = exif_get_slong(en->data, bo); return en->size >= 4;
    default: return false;
    }
}

/* "2021:06:01 12:34:56" -> "2021-06-01T12:34:56"; false if not that shape. */
static bool exif_date_iso(const char *s, char *out, size_t cap)
{
    static const char shape[] = "dddd:dd:dd dd:dd:dd";
    if (strlen(s) < sizeof shape - 1 || cap < sizeof shape)
        return false;
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return false;
    }
    if (!memcmp(s, "0000", 4))
        return false; /* "0000:00:00 00:00:00" means unknown */
    memcpy(out, s, sizeof shape - 1);
    out[4] = out[7] = '-';
    out[10] = 'T';
    out[sizeof shape - 1] = 0;
    return true;
}

static bool gps_coord(ExifData *d, ExifTag tag, ExifTag ref_tag, ExifByteOrder bo, double *out)
{
    ExifContent *g = d->ifd[EXIF_IFD_GPS];
    ExifEntry *en = exif_content_get_entry(g, tag), *ref = exif_content_get_entry(g, ref_tag);
    double deg, min = 0, sec = 0;
    if (!en || !rational(en, bo, 0, &deg))
        return false;
    rational(en, bo, 1, &min);
    rational(en, bo, 2, &sec);
    double v = deg + min / 60 + sec / 3600;
    char r[4];
    ascii_value(ref, r, sizeof r);
    if (r[0] == 'S' || r[0] == 'W' || r[0] == 's' || r[0] == 'w')
        v = -v;
    if (!isfinite(v))
        return false;
    *out = v;
    return true;
}

static void lower_key(const char *name, char *out, size_t cap)
{
    size_t i = 0;
    for (; name[i] && i + 1 < cap; i++)
        out[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] + 32) : name[i];
    out[i] = 0;
}

/* Writes one entry as "key": value; false when skipped. */
static bool json_entry(jw *w, ExifEntry *en, ExifIfd ifd, ExifByteOrder bo, char keys[][48],
                       size_t nkeys)
{
    const char *name = exif_tag_get_name_in_ifd(en->tag, ifd);
    if (!name || !en->data)
        return false;
    if (en->tag == EXIF_TAG_MAKER_NOTE)
        return false;
    if ((en->format == EXIF_FORMAT_UNDEFINED || en->format == EXIF_FORMAT_BYTE) && en->size > 64)
        return false; /* binary blobs: print-image matching, thumbnails, ... */
    char key[48];
    lower_key(name, key, sizeof key);
    for (size_t i = 0; i < nkeys; i++)
        if (!strcmp(keys[i], key))
            return false;
    int64_t iv;
    double dv;
    if (en->format == EXIF_FORMAT_ASCII) {
        char s[IMAGE_EXIF_MAX_VALUE + 1];
        ascii_value(en, s, sizeof s);
        jw_kstr(w, key, s);
    } else if (en->components == 1 && integer(en, bo, &iv)) {
        jw_kint(w, key, iv);
    } else if (en->components == 1 && rational(en, bo, 0, &dv)) {
        jw_kdbl(w, key, dv);
    } else {
        char s[IMAGE_EXIF_MAX_VALUE + 1];
        s[0] = 0;
        exif_entry_get_value(en, s, sizeof s);
        size_t l = strlen(s);
        while (l && s[l - 1] == ' ')
            s[--l] = 0;
        jw_kstr(w, key, s);
    }
    memcpy(keys[nkeys], key, sizeof key);
    return true;
}

/* Fills the decoded IFD0 fields that are still empty from our own reader. */
static void tiff_fallback(const uint8_t *p, size_t n, image_exif *x)
{
    tiff_rd t;
    uint32_t ifd = tiff_open(&t, p, n);
    if (!ifd)
        return;
    if (!x->orientation)
        x->orientation = tiff_orientation(p, n);
    struct {
        uint16_t tag;
        char *out;
        size_t cap;
    } asc[] = {{0x010f, x->make, sizeof x->make}, {0x0110, x->model, sizeof x->model}};
    for (size_t i = 0; i < 2; i++) {
        tiff_entry en;
        if (asc[i].out[0] || !tiff_find(&t, ifd, asc[i].tag, &en) || en.type != TIFF_ASCII)
            continue;
        size_t l = en.count < asc[i].cap ? en.count : asc[i].cap - 1;
        memcpy(asc[i].out, p + en.value_pos, l);
        asc[i].out[l] = 0;
        l = strlen(asc[i].out); /* up to the first NUL */
        while (l && (asc[i].out[l - 1] == ' ' || asc[i].out[l - 1] == 0))
            asc[i].out[--l] = 0;
    }
    tiff_entry en;
    if (!x->date_taken[0] && tiff_find(&t, ifd, 0x0132, &en) && en.type == TIFF_ASCII &&
        en.count >= 19) {
        char s[20];
        memcpy(s, p + en.value_pos, 19);
        s[19] = 0;
        exif_date_iso(s, x->date_taken, sizeof x->date_taken);
    }
}

int image_exif_parse(const void *blob, size_t n, image_exif *x, err *e)
{
    memset(x, 0, sizeof *x);
    const uint8_t *p = blob;
    if (p && n >= 6 && !memcmp(p, "Exif\0\0", 6)) {
        p += 6;
        n -= 6;
    }
    sbuf b = SBUF_INIT;
    jw w;
    jw_init(&w, &b);
    jw_obj(&w);
    tiff_rd t;
    if (p && tiff_open(&t, p, n)) {
        size_t cn = n < EXIF_COPY_MAX ? n : EXIF_COPY_MAX;
        unsigned char *copy = malloc(cn + 6);
        ExifData *d = exif_data_new();
        if (!copy || !d) {
            free(copy);
            if (d)
                exif_data_unref(d);
            sbuf_free(&b);
            return err_set(e, ERR_INTERNAL, "out of memory reading EXIF");
        }
        memcpy(copy, "Exif\0\0", 6);
        memcpy(copy + 6, p, cn);
        exif_data_unset_option(d, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
        exif_data_set_option(d, EXIF_DATA_OPTION_DONT_CHANGE_MAKER_NOTE);
        exif_data_load_data(d, copy, (unsigned)(cn + 6));
        ExifByteOrder bo = exif_data_get_byte_order(d);

        int64_t iv;
        ExifEntry *en = exif_content_get_entry(d->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
        if (en && integer(en, bo, &iv) && iv >= 1 && iv <= 8)
            x->orientation = (uint8_t)iv;
        ascii_value(exif_content_get_entry(d->ifd[EXIF_IFD_0], EXIF_TAG_MAKE), x->make,
                    sizeof x->make);
        ascii_value(exif_content_get_entry(d->ifd[EXIF_IFD_0], EXIF_TAG_MODEL), x->model,
                    sizeof x->model);
        char s[64];
        ascii_value(exif_content_get_entry(d->ifd[EXIF_IFD_EXIF], EXIF_TAG_DATE_TIME_ORIGINAL),
                    s, sizeof s);
        if (!exif_date_iso(s, x->date_taken, sizeof x->date_taken)) {
            ascii_value(exif_content_get_entry(d->ifd[EXIF_IFD_0], EXIF_TAG_DATE_TIME), s,
                        sizeof s);
            exif_date_iso(s, x->date_taken, sizeof x->date_taken);
        } else {
            char off[16];
            ascii_value(exif_content_get_entry(d->ifd[EXIF_IFD_EXIF],
                                               EXIF_TAG_OFFSET_TIME_ORIGINAL),
                        off, sizeof off);
            /* "+02:00" / "-05:30" */
            if (strlen(off) == 6 && (off[0] == '+' || off[0] == '-') && off[3] == ':')
                strcat(x->date_taken, off);
        }
        x->has_gps = gps_coord(d, EXIF_TAG_GPS_LATITUDE, EXIF_TAG_GPS_LATITUDE_REF, bo,
                               &x->latitude) &&
                     gps_coord(d, EXIF_TAG_GPS_LONGITUDE, EXIF_TAG_GPS_LONGITUDE_REF, bo,
                               &x->longitude);
        if (!x->has_gps)
            x->latitude = x->longitude = 0;
        en = exif_content_get_entry(d->ifd[EXIF_IFD_GPS], EXIF_TAG_GPS_ALTITUDE);
        if (en && rational(en, bo, 0, &x->altitude)) {
            x->has_altitude = true;
            ExifEntry *ref = exif_content_get_entry(d->ifd[EXIF_IFD_GPS], EXIF_TAG_GPS_ALTITUDE_REF);
            if (ref && integer(ref, bo, &iv) && iv == 1)
                x->altitude = -x->altitude;
        }
        en = exif_content_get_entry(d->ifd[EXIF_IFD_EXIF], EXIF_TAG_FOCAL_LENGTH);
        if (!en || !rational(en, bo, 0, &x->focal_length))
            x->focal_length = 0;

        /* every tag of IFD0, EXIF and GPS (IFD1 describes the embedded
         * thumbnail, interoperability is noise) */
        static const ExifIfd ifds[] = {EXIF_IFD_0, EXIF_IFD_EXIF, EXIF_IFD_GPS};
        char(*seen)[48] = calloc(IMAGE_EXIF_MAX_TAGS, 48);
        size_t nkeys = 0;
        for (size_t k = 0; seen && k < sizeof ifds / sizeof ifds[0]; k++) {
            ExifContent *c = d->ifd[ifds[k]];
            for (unsigned i = 0; c && i < c->count && nkeys < IMAGE_EXIF_MAX_TAGS - 4; i++)
                if (json_entry(&w, c->entries[i], ifds[k], bo, seen, nkeys))
                    nkeys++;
        }
        free(seen);
        exif_data_unref(d);
        free(copy);
        tiff_fallback(p, n, x);
        if (x->has_gps) {
            jw_kdbl(&w, "latitude", x->latitude);
            jw_kdbl(&w, "longitude", x->longitude);
        }
        if (x->has_altitude)
            jw_kdbl(&w, "altitude", x->altitude);
        if (x->date_taken[0])
            jw_kstr(&w, "date_taken", x->date_taken);
    }
    jw_obj_end(&w);
    if (sbuf_failed(&b)) {
        sbuf_free(&b);
        return err_set(e, ERR_INTERNAL, "out of memory writing EXIF JSON");
    }
    x->json = sbuf_detach(&b, &x->json_len);
    return 0;
}

int image_exif_read(const void *data, size_t n, image_exif *out, err *e)
{
    image_limits any = {UINT64_MAX};
    image_info info;
    memset(out, 0, sizeof *out);
    if (image_probe_ex(data, n, &any, &info, e))
        return -1;
    return image_exif_parse(info.exif, info.exif_len, out, e);
}
