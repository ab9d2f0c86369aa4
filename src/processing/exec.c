/*
 * exec.c - running a command the way a processing runs it: a fresh process
 * group, a clean environment, limits, its output read line by line, and
 * nothing left behind.
 *
 * The child (between fork and exec only async-signal-safe calls: the
 * worker is multi-threaded) makes its own session and process group
 * (setsid), unblocks every signal and restores default dispositions (the
 * server blocks SIGTERM and ignores SIGPIPE, which a child would inherit),
 * sets RLIMIT_AS (memory) and RLIMIT_CORE = 0, moves into its working
 * directory, gets /dev/null as stdin and two pipes as stdout and stderr,
 * marks every other descriptor close-on-exec, and execs. An exec failure
 * travels back through a close-on-exec pipe, so "command not found" is an
 * error of this function, not a mysterious exit status 127.
 *
 * The parent polls the pipes with a tick (200 ms): every tick it asks the
 * caller whether to stop (cancel, output limit), checks the wall-clock
 * deadline, and lets the caller relay what arrived meanwhile. Stopping is
 * SIGTERM to the whole group, then SIGKILL to the group after the grace.
 * When the command's main process exits, it is left unreaped (waitid
 * WNOWAIT) while the rest of its group is killed, so the group id cannot be
 * reused by another process between the two.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "processing/internal.h"

typedef struct linebuf {
    char buf[JOB_LOG_LINE_MAX + 1];
    size_t len;
    bool open;
    int fd;
} linebuf;

static void emit(const proc_exec_cb *cb, linebuf *b, bool out)
{
    b->buf[b->len] = 0;
    if (b->len && b->buf[b->len - 1] == '\r')
        b->buf[--b->len] = 0;
    if (cb->line)
        cb->line(cb->ctx, out, b->buf, b->len);
    b->len = 0;
}

static void feed(const proc_exec_cb *cb, linebuf *b, bool out, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            emit(cb, b, out);
            continue;
        }
        b->buf[b->len++] = p[i];
        if (b->len == JOB_LOG_LINE_MAX)
            emit(cb, b, out);
    }
}

/* Reads what is there; false at end of file. */
static bool drain(const proc_exec_cb *cb, linebuf *b, bool out)
{
    char tmp[65536];
    for (;;) {
        ssize_t r = read(b->fd, tmp, sizeof tmp);
        if (r > 0) {
            feed(cb, b, out, tmp, (size_t)r);
            if ((size_t)r < sizeof tmp)
                return true;
            continue;
        }
        if (r < 0 && (errno == EINTR))
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        if (b->len)
            emit(cb, b, out);
        close(b->fd);
        b->open = false;
        return false;
    }
}

/* The program to exec: a name with a '/' as given (relative to the working
 * directory), else the first executable in the PATH of envp. */
static int resolve(const char *name, char *const *envp, const char *workdir, char *out, size_t n,
                   err *e)
{
    if (strchr(name, '/')) {
        if (name[0] == '/')
            snprintf(out, n, "%s", name);
        else
            snprintf(out, n, "%s/%s", workdir, name);
        if (access(out, X_OK) != 0)
            return err_set(e, ERR_INVALID, "cannot run '%.200s': %s", name, strerror(errno));
        return 0;
    }
    const char *path = "/usr/local/bin:/usr/bin:/bin";
    for (char *const *v = envp; v && *v; v++)
        if (strncmp(*v, "PATH=", 5) == 0)
            path = *v + 5;
    const char *p = path;
    while (*p) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        if (len > 0 && len < n - 2 - strlen(name)) {
            snprintf(out, n, "%.*s/%s", (int)len, p, name);
            struct stat st;
            if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
                return 0;
        }
        p += len + (colon ? 1 : 0);
        if (!colon)
            break;
    }
    return err_set(e, ERR_INVALID, "cannot run '%.200s': not found in PATH (%.200s)", name, path);
}

static void child(const char *prog, const proc_exec_opts *o, int out, int errfd, int report,
                  int max_fd)
{
    /* async-signal-safe calls only until exec */
    setsid();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &dfl, NULL);
    struct rlimit core = {0, 0};
    setrlimit(RLIMIT_CORE, &core);
    if (o->memory_bytes > 0) {
        struct rlimit as = {(rlim_t)o->memory_bytes, (rlim_t)o->memory_bytes};
        setrlimit(RLIMIT_AS, &as);
    }
    int e;
    if (chdir(o->workdir) != 0)
        goto fail;
    int nul = open("/dev/null", O_RDONLY);
    if (nul < 0 || dup2(nul, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0)
        goto fail;
    /* everything else (the server's sockets, database files) stays behind */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
        for (int fd = 3; fd < max_fd; fd++) {
            int fl = fcntl(fd, F_GETFD);
            if (fl >= 0)
                fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
        }
    execve(prog, o->argv, o->envp);
fail:
    e = errno;
    if (write(report, &e, sizeof e) < 0) {
        /* nothing more to do */
    }
    _exit(127);
}

static void group_signal(pid_t pgid, int sig)
{
    if (pgid > 0)
        kill(-pgid, sig);
}

int proc_exec(const proc_exec_opts *o, const proc_exec_cb *cb, proc_exec_result *res, err *e)
{
    memset(res, 0, sizeof *res);
    if (!o->argv || !o->argv[0])
        return err_set(e, ERR_INVALID, "no command to run");
    char prog[4096];
    if (resolve(o->argv[0], o->envp, o->workdir, prog, sizeof prog, e))
        return -1;
    int outp[2], errp[2], rep[2];
    if (pipe2(outp, O_CLOEXEC) != 0)
        return err_set(e, ERR_IO, "pipe: %s", strerror(errno));
    if (pipe2(errp, O_CLOEXEC) != 0) {
        close(outp[0]);
        close(outp[1]);
        return err_set(e, ERR_IO, "pipe: %s", strerror(errno));
    }
    if (pipe2(rep, O_CLOEXEC) != 0) {
        close(outp[0]);
        close(outp[1]);
        close(errp[0]);
        close(errp[1]);
        return err_set(e, ERR_IO, "pipe: %s", strerror(errno));
    }
    struct rlimit nof;
    int max_fd = getrlimit(RLIMIT_NOFILE, &nof) == 0 && nof.rlim_cur < 1048576 ? (int)nof.rlim_cur
                                                                                : 1048576;
    int64_t t0 = time_mono_ns();
    pid_t pid = fork();
    if (pid < 0) {
        int x = errno;
        close(outp[0]);
        close(outp[1]);
        close(errp[0]);
        close(errp[1]);
        close(rep[0]);
        close(rep[1]);
        return err_set(e, ERR_UNAVAILABLE, "cannot start a process: %s", strerror(x));
    }
    if (pid == 0)
        child(prog, o, outp[1], errp[1], rep[1], max_fd);
    close(outp[1]);
    close(errp[1]);
    close(rep[1]);
    int child_errno = 0;
    ssize_t got;
    do
        got = read(rep[0], &child_errno, sizeof child_errno);
    while (got < 0 && errno == EINTR);
    close(rep[0]);
    if (got == (ssize_t)sizeof child_errno) {
        waitpid(pid, NULL, 0);
        close(outp[0]);
        close(errp[0]);
        return err_set(e, ERR_INVALID, "cannot run '%.200s': %s", o->argv[0],
                       strerror(child_errno));
    }
    res->pid = pid;
    linebuf *lb = calloc(2, sizeof *lb);
    if (!lb) {
        group_signal(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(outp[0]);
        close(errp[0]);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    lb[0] = (linebuf){.open = true, .fd = outp[0]};
    lb[1] = (linebuf){.open = true, .fd = errp[0]};
    fcntl(outp[0], F_SETFL, O_NONBLOCK);
    fcntl(errp[0], F_SETFL, O_NONBLOCK);
    int tick = o->tick_ms > 0 ? o->tick_ms : 200;
    int64_t grace_ns = (int64_t)(o->kill_grace_ms > 0 ? o->kill_grace_ms : 5000) * 1000000;
    int64_t deadline = o->timeout_ms > 0 ? t0 + o->timeout_ms * 1000000 : 0;
    int64_t term_at = 0, exited_at = 0, last_tick = t0;
    bool exited = false;
    int idle_ms = 1; /* both pipes closed, the process not gone yet: 1, 2, 4... ms up to tick */
    for (;;) {
        struct pollfd pf[2];
        int np = 0, map[2];
        for (int i = 0; i < 2; i++)
            if (lb[i].open) {
                pf[np] = (struct pollfd){.fd = lb[i].fd, .events = POLLIN};
                map[np++] = i;
            }
        if (np == 0 && exited)
            break;
        int wait_ms = tick;
        if (np == 0) {
            /* the pipes usually close just before the process becomes a
             * zombie: look again soon rather than a whole tick later */
            wait_ms = idle_ms < tick ? idle_ms : tick;
            idle_ms *= 2;
            struct timespec ts = {wait_ms / 1000, (long)(wait_ms % 1000) * 1000000};
            nanosleep(&ts, NULL);
        } else if (poll(pf, (nfds_t)np, wait_ms) > 0) {
            for (int k = 0; k < np; k++)
                if (pf[k].revents & (POLLIN | POLLHUP | POLLERR))
                    drain(cb, &lb[map[k]], map[k] == 0);
        }
        int64_t now = time_mono_ns();
        if (!exited) {
            siginfo_t si;
            memset(&si, 0, sizeof si);
            if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid) {
                /* the main process is done: end the rest of its group while
                 * its pid (the group id) is still held by the zombie */
                group_signal(pid, SIGKILL);
                int status = 0;
                struct rusage ru;
                memset(&ru, 0, sizeof ru);
                if (wait4(pid, &status, 0, &ru) == pid) {
                    res->max_rss_kb = ru.ru_maxrss;
                    if (WIFEXITED(status))
                        res->exit_code = WEXITSTATUS(status);
                    else if (WIFSIGNALED(status))
                        res->signal = WTERMSIG(status);
                }
                exited = true;
                exited_at = now;
                res->duration_ms = (now - t0) / 1000000;
            }
        }
        if (exited && now - exited_at > 2000000000LL) {
            /* something outside the group still holds the pipes */
            for (int i = 0; i < 2; i++)
                if (lb[i].open) {
                    if (lb[i].len)
                        emit(cb, &lb[i], i == 0);
                    close(lb[i].fd);
                    lb[i].open = false;
                }
            break;
        }
        if (now - last_tick >= (int64_t)tick * 1000000 || exited) {
            last_tick = now;
            if (cb->tick)
                cb->tick(cb->ctx);
        }
        if (exited)
            continue;
        if (!term_at) {
            if (cb->should_stop && cb->should_stop(cb->ctx)) {
                res->stopped = true;
            } else if (deadline && now >= deadline) {
                res->timed_out = true;
            }
            if (res->stopped || res->timed_out) {
                group_signal(pid, SIGTERM);
                term_at = now;
            }
        } else if (!res->killed && now - term_at >= grace_ns) {
            group_signal(pid, SIGKILL);
            res->killed = true;
        }
    }
    free(lb);
    return 0;
}
