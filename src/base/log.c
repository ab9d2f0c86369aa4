/*
 * log.c - one line per event on stderr. The line is formatted into a local
 * buffer and written with one write(2) so lines from threads never interleave.
 */
#include "base/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "base/util.h"

static _Atomic int min_level = LOG_INFO;

void log_set_level(log_level lv) { min_level = lv; }

void log_msg(log_level lv, const char *fmt, ...)
{
    if ((int)lv < min_level)
        return;
    static const char *names[] = {"debug", "info", "warn", "error"};
    char line[2048];
    char ts[32];
    time_fmt_iso(time_now_ms(), ts, sizeof ts);
    int n = snprintf(line, sizeof line, "%s %-5s ", ts, names[lv]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
