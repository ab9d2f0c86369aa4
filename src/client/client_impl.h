/*
 * client_impl.h - what the files of the C client library share; not part
 * of the public API (include/cvops/client.h).
 */
#ifndef CVOPS_CLIENT_IMPL_H
#define CVOPS_CLIENT_IMPL_H

#include "cvops/client.h"

/* Sets the handle's error message for a failure found locally; returns code. */
cvops_code cvops__fail(cvops_client *c, cvops_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
