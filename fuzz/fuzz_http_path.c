/*
 * Fuzz target: the request-target decoder every HTTP request goes through.
 * Properties checked beyond "no crash": an accepted path starts with '/',
 * has no NUL/backslash/control bytes, no '.' or '..' segment, and is not
 * longer than its input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[4096];
    err e;
    if (http_path_decode((const char *)data, size, out, sizeof out, &e) != 0)
        return 0;
    size_t n = strlen(out);
    if (out[0] != '/' || n > size)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] < 0x20 || out[i] == '\\' || out[i] == 0x7f)
            abort();
    if (strstr(out, "/../") || strstr(out, "/./") ||
        (n >= 3 && strcmp(out + n - 3, "/..") == 0) || (n >= 2 && strcmp(out + n - 2, "/.") == 0))
        abort();
    return 0;
}
