/*
 * fuzz_image_probe - image_probe and the EXIF reader on arbitrary bytes;
 * files that probe accepts as small BMPs also go through our own BMP
 * decoder and the pixel pipeline (resample, orientation, gray).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    image_limits lim = {1u << 20};
    image_info info;
    err e;
    if (image_probe_ex(data, size, &lim, &info, &e) != 0) {
        if (e.msg[0] == 0)
            abort(); /* every refusal says why */
        return 0;
    }
    if (info.width == 0 || info.height == 0 || info.orientation < 1 || info.orientation > 8)
        abort();
    image_exif x;
    if (image_exif_read(data, size, &x, &e) == 0)
        image_exif_free(&x);
    if (info.exif) {
        if (image_exif_parse(info.exif, info.exif_len, &x, &e) == 0)
            image_exif_free(&x);
    }
    if (info.format == IMAGE_BMP && (uint64_t)info.width * info.height <= 65536) {
        image_decode_opts o = {.channels = (uint8_t)(size & 1 ? 1 : 3), .target_side = 17,
                               .exact = true, .limits = &lim};
        image_pixels px;
        if (image_decode(data, size, &o, &px, &e) == 0)
            image_pixels_free(&px);
    }
    return 0;
}
