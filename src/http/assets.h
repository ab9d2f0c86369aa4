/*
 * assets.h - the web UI's files, embedded in the binary at build time by
 * scripts/embed-assets. The table ends with an entry whose path is NULL.
 */
#ifndef CVOPS_HTTP_ASSETS_H
#define CVOPS_HTTP_ASSETS_H

#include <stddef.h>

typedef struct webui_asset {
    const char *path;           /* "/index.html" */
    const unsigned char *data;  /* NUL-terminated after size bytes */
    size_t size;
    const char *etag;           /* quoted, ready for the ETag header */
} webui_asset;

extern const webui_asset webui_assets[];

#endif
