/*
 * http_ref.c - the reference for bench/foundation.sh: a bare libmicrohttpd
 * server answering a fixed small JSON body, configured like cvops (same
 * threading mode, response queued on the second call). Whatever cvops adds
 * on top (routing, authentication, database, JSON) shows as the ratio.
 *
 *   http_ref PORT THREADS    (THREADS 0: a thread per connection)
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char body[] = "{\"id\":1,\"kind\":\"system.sleep\",\"state\":\"succeeded\"}";

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    static int first;
    (void)cls, (void)url, (void)method, (void)version, (void)upload;
    if (*con_cls == NULL) {
        *con_cls = &first;
        return MHD_YES;
    }
    *upload_size = 0;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: http_ref PORT THREADS\n");
        return 2;
    }
    int port = atoi(argv[1]), threads = atoi(argv[2]);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
    struct MHD_Daemon *d;
    /* the connection memory cvops gives each connection (src/http/http.c) */
    const size_t mem = 16 * 1024;
    if (threads > 0)
        d = MHD_start_daemon(flags | MHD_USE_EPOLL, (uint16_t)port, NULL, NULL, handler, NULL,
                             MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
                             MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem, MHD_OPTION_END);
    else
        d = MHD_start_daemon(flags | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, (uint16_t)port,
                             NULL, NULL, handler, NULL, MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem,
                             MHD_OPTION_END);
    if (!d)
        return 1;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    sigaddset(&s, SIGINT);
    sigprocmask(SIG_BLOCK, &s, NULL);
    int sig;
    sigwait(&s, &sig);
    MHD_stop_daemon(d);
    return 0;
}
