/*
 * evlog.c - the run's event log (host side).
 *
 * Every process of a run appends to one JSON-lines file. An append is:
 *   thread mutex -> flock(LOCK_EX) on the log fd -> read the 8-byte counter
 *   in PATH.seq -> seq = counter + 1 -> write it back -> one write(2) of the
 *   whole line on an O_APPEND fd -> unlock.
 * Because the counter is read and advanced and the line appended inside the
 * same exclusive lock, file order is seq order and seq has no gaps, across
 * threads and processes. t_us is read inside the lock too, so it never goes
 * backwards in file order.
 *
 * flock() locks belong to the open file description, which a fork() shares
 * with the child; a child that inherited the descriptors would therefore not
 * exclude its parent. emit() notices a changed pid and reopens both files
 * before its first append in the new process.
 *
 * Routes (evlog_route): a thread may send its events to another file. The
 * route itself is thread-local; the routed files are opened on first use
 * and kept in a process-wide cache of EVLOG_ROUTE_CACHE entries under the
 * same mutex, the least recently used one closed to make room. An append
 * to a routed file is the same sequence on that file's own descriptors
 * and PATH.seq counter, so it interleaves correctly with other processes
 * appending to the same file. A cache entry opened before a fork() is
 * reopened in the child as the process log is.
 *
 * Also the host build of otahil_event() (sim/util/event.h), so device-side
 * code running natively reports into the same log.
 */
#include "sim/util/evlog.h"
#include "sim/util/event.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define EVLOG_LINE_STACK 2048 /* lines up to this size need no allocation */

static pthread_mutex_t evlog_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t evlog_once = PTHREAD_ONCE_INIT;
static int evlog_fd = -1;           /* the log, O_APPEND */
static int evlog_seqfd = -1;        /* PATH.seq, the 8-byte counter */
static pid_t evlog_pid;             /* process that opened the descriptors */
static int evlog_echo;              /* also copy each line to stderr */
static char evlog_file[PATH_MAX];   /* "" = closed */
static int evlog_active;            /* evlog_file[0] != 0, readable without the mutex */

/* A routed file, open for appending. */
struct evlog_sink {
    char     path[PATH_MAX]; /* "" = free entry */
    int      fd, seqfd;      /* the file (O_APPEND) and PATH.seq */
    pid_t    pid;            /* process that opened them */
    uint64_t used;           /* last use, for the LRU choice */
};

static struct evlog_sink evlog_cache[EVLOG_ROUTE_CACHE]; /* guarded by evlog_mu */
static uint64_t evlog_uses;                              /* guarded by evlog_mu */
static __thread char evlog_troute[PATH_MAX];             /* this thread's route, "" = none */

/* Keep the mutex consistent across fork(): nobody holds it in the child. */
static void evlog_prefork(void) { pthread_mutex_lock(&evlog_mu); }
static void evlog_postfork(void) { pthread_mutex_unlock(&evlog_mu); }
static void evlog_init_once(void)
{
    pthread_atfork(evlog_prefork, evlog_postfork, evlog_postfork);
}

static void evlog_close_fds(void)
{
    if (evlog_fd >= 0)
        close(evlog_fd);
    if (evlog_seqfd >= 0)
        close(evlog_seqfd);
    evlog_fd = evlog_seqfd = -1;
}

/* Opens a log file and its counter PATH.seq. 0 or -1 (errno set). */
static int evlog_open_pair(const char *path, int *fdp, int *seqfdp)
{
    char seqpath[PATH_MAX + 8];
    int fd, sfd, e;

    if ((size_t)snprintf(seqpath, sizeof seqpath, "%s.seq", path) >= sizeof seqpath) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    sfd = open(seqpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (sfd < 0) {
        e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    *fdp = fd;
    *seqfdp = sfd;
    return 0;
}

/* Opens the log and its counter for evlog_file. Caller holds evlog_mu. */
static int evlog_open_fds(void)
{
    if (evlog_open_pair(evlog_file, &evlog_fd, &evlog_seqfd) != 0)
        return -1;
    evlog_pid = getpid();
    return 0;
}

/* ---- routes ---- */

static void evlog_sink_close(struct evlog_sink *k)
{
    if (k->path[0]) {
        close(k->fd);
        close(k->seqfd);
    }
    k->path[0] = '\0';
}

/* The cache entry of path, opened (or reopened after a fork) if needed;
 * NULL when it cannot be opened. Caller holds evlog_mu. */
static struct evlog_sink *evlog_sink_get(const char *path)
{
    struct evlog_sink *k = NULL, *lru = &evlog_cache[0];

    for (int i = 0; i < EVLOG_ROUTE_CACHE; i++) {
        struct evlog_sink *e = &evlog_cache[i];
        if (e->path[0] && strcmp(e->path, path) == 0) {
            k = e;
            break;
        }
        if (!e->path[0] ? lru->path[0] != '\0' : lru->path[0] && e->used < lru->used)
            lru = e;
    }
    if (k && k->pid != getpid())
        evlog_sink_close(k); /* forked: descriptions (and flock locks) of our own */
    if (k && k->path[0]) {
        k->used = ++evlog_uses;
        return k;
    }
    k = k ? k : lru;
    evlog_sink_close(k);
    if (strlen(path) >= sizeof k->path || evlog_open_pair(path, &k->fd, &k->seqfd) != 0)
        return NULL;
    strcpy(k->path, path);
    k->pid = getpid();
    k->used = ++evlog_uses;
    return k;
}

void evlog_route(const char *path)
{
    if (path == evlog_troute)
        return; /* evlog_route(evlog_route_get()) */
    if (!path || strlen(path) >= sizeof evlog_troute)
        evlog_troute[0] = '\0';
    else
        strcpy(evlog_troute, path);
}

const char *evlog_route_get(void)
{
    return evlog_troute[0] ? evlog_troute : NULL;
}

char *evlog_route_push(const char *path)
{
    char *prev = evlog_troute[0] ? strdup(evlog_troute) : NULL;

    evlog_route(path);
    return prev;
}

void evlog_route_pop(char *prev)
{
    evlog_route(prev);
    free(prev);
}

void evlog_forget(const char *path)
{
    if (!path || !path[0])
        return;
    pthread_once(&evlog_once, evlog_init_once);
    pthread_mutex_lock(&evlog_mu);
    for (int i = 0; i < EVLOG_ROUTE_CACHE; i++)
        if (evlog_cache[i].path[0] && strcmp(evlog_cache[i].path, path) == 0)
            evlog_sink_close(&evlog_cache[i]);
    pthread_mutex_unlock(&evlog_mu);
}

int evlog_open(const char *path)
{
    int rc = 0;

    pthread_once(&evlog_once, evlog_init_once);
    pthread_mutex_lock(&evlog_mu);
    evlog_close_fds();
    evlog_file[0] = '\0';
    if (path) {
        if (strlen(path) >= sizeof evlog_file) {
            errno = ENAMETOOLONG;
            rc = -1;
        } else {
            strcpy(evlog_file, path);
            rc = evlog_open_fds();
            if (rc < 0)
                evlog_file[0] = '\0';
        }
    }
    __atomic_store_n(&evlog_active, evlog_file[0] != '\0', __ATOMIC_RELEASE);
    pthread_mutex_unlock(&evlog_mu);
    return rc;
}

void evlog_close(void)
{
    pthread_mutex_lock(&evlog_mu);
    evlog_close_fds();
    evlog_file[0] = '\0';
    __atomic_store_n(&evlog_active, 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&evlog_mu);
}

const char *evlog_path(void)
{
    return __atomic_load_n(&evlog_active, __ATOMIC_ACQUIRE) ? evlog_file : NULL;
}

void evlog_set_echo(int on)
{
    pthread_mutex_lock(&evlog_mu);
    evlog_echo = on != 0;
    pthread_mutex_unlock(&evlog_mu);
}

uint64_t evlog_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int evlog_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Next seq from the shared counter (a fresh counter starts at 1), or 0 if
 * the counter cannot be advanced: the event is then dropped rather than
 * written with a seq another writer will repeat. Caller holds the flock. */
static uint64_t evlog_next_seq(int seqfd)
{
    uint64_t seq = 0;

    if (pread(seqfd, &seq, sizeof seq, 0) != (ssize_t)sizeof seq)
        seq = 0;
    seq++;
    if (pwrite(seqfd, &seq, sizeof seq, 0) != (ssize_t)sizeof seq)
        return 0;
    return seq;
}

/* One append: flock, next seq, one write, unlock. Caller holds evlog_mu. */
static void evlog_append(int fd, int seqfd, char *line, size_t lcap, const char *src,
                         const char *ev, size_t flen, const char *fields)
{
    int n;

    while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
        ;
    uint64_t seq = evlog_next_seq(seqfd);
    n = snprintf(line, lcap, "{\"seq\":%llu,\"t_us\":%llu,\"src\":\"%s\",\"ev\":\"%s\"%s%s}\n",
                 (unsigned long long)seq, (unsigned long long)evlog_now_us(), src, ev,
                 flen ? "," : "", fields);
    if (seq && n > 0 && (size_t)n < lcap) {
        (void)evlog_write_all(fd, line, (size_t)n);
        flock(fd, LOCK_UN);
        if (evlog_echo)
            (void)evlog_write_all(STDERR_FILENO, line, (size_t)n);
    } else {
        flock(fd, LOCK_UN);
    }
}

void evlog_vemit(const char *src, const char *ev, const char *fields_fmt, va_list ap)
{
    char fstack[EVLOG_LINE_STACK], lstack[EVLOG_LINE_STACK + 256];
    char *fields = fstack, *line = lstack;
    size_t flen = 0, lcap = sizeof lstack;
    int n;

    if (!__atomic_load_n(&evlog_active, __ATOMIC_ACQUIRE) && !evlog_troute[0])
        return;
    if (!src)
        src = "";
    if (!ev)
        ev = "";

    /* The fields do not depend on seq: format them before taking the lock. */
    fstack[0] = '\0';
    if (fields_fmt && fields_fmt[0]) {
        va_list aq;
        va_copy(aq, ap);
        n = vsnprintf(fstack, sizeof fstack, fields_fmt, aq);
        va_end(aq);
        if (n < 0)
            return;
        flen = (size_t)n;
        if (flen >= sizeof fstack) {
            fields = malloc(flen + 1);
            if (!fields)
                return;
            vsnprintf(fields, flen + 1, fields_fmt, ap);
        }
    }
    if (flen + strlen(src) + strlen(ev) + 96 > lcap) {
        lcap = flen + strlen(src) + strlen(ev) + 96;
        line = malloc(lcap);
        if (!line)
            goto out;
    }

    if (evlog_troute[0]) {
        struct evlog_sink *k;

        pthread_once(&evlog_once, evlog_init_once);
        pthread_mutex_lock(&evlog_mu);
        k = evlog_sink_get(evlog_troute);
        if (k)
            evlog_append(k->fd, k->seqfd, line, lcap, src, ev, flen, fields);
        pthread_mutex_unlock(&evlog_mu);
        goto out;
    }
    pthread_mutex_lock(&evlog_mu);
    if (evlog_file[0] && evlog_pid != getpid()) {
        /* Forked: get descriptions (and so flock locks) of our own. */
        evlog_close_fds();
        if (evlog_open_fds() < 0) {
            evlog_file[0] = '\0';
            __atomic_store_n(&evlog_active, 0, __ATOMIC_RELEASE);
        }
    }
    if (evlog_file[0])
        evlog_append(evlog_fd, evlog_seqfd, line, lcap, src, ev, flen, fields);
    pthread_mutex_unlock(&evlog_mu);

out:
    if (line != lstack)
        free(line);
    if (fields != fstack)
        free(fields);
}

static unsigned evlog_faults;

unsigned evlog_fault_count(void)
{
    return __atomic_load_n(&evlog_faults, __ATOMIC_ACQUIRE);
}

void evlog_emit(const char *src, const char *ev, const char *fields_fmt, ...)
{
    size_t el = strlen(ev);
    if (el >= 6 && !strcmp(ev + el - 6, ".fault"))
        __atomic_add_fetch(&evlog_faults, 1, __ATOMIC_ACQ_REL);
    va_list ap;

    va_start(ap, fields_fmt);
    evlog_vemit(src, ev, fields_fmt, ap);
    va_end(ap);
}

void otahil_sync(void)
{
}

void otahil_event(const char *source, const char *event, const char *fields_fmt, ...)
{
    va_list ap;

    va_start(ap, fields_fmt);
    evlog_vemit(source, event, fields_fmt, ap);
    va_end(ap);
}
