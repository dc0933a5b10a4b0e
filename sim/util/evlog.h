/*
 * evlog.h - the run's event log: one JSON object per line,
 *   {"seq":12,"t_us":1234567,"src":"cloud","ev":"job.pushed",...fields}
 * shared by every process of a run (cloud, supervisor, each device boot).
 * seq is global: each append takes an exclusive flock on the file, reads the
 * last seq from a companion counter, and appends, so file order == seq order.
 * t_us is CLOCK_MONOTONIC in microseconds (comparable across processes).
 */
#ifndef EVLOG_H
#define EVLOG_H
#include <stdarg.h>
#include <stdint.h>

/* Opens (creating) the log for appending by this process. With path NULL,
 * events go nowhere. 0 or -1 (errno set). */
int evlog_open(const char *path);
void evlog_close(void);
const char *evlog_path(void);
/* Also echo each event as one line on stderr (for interactive use). */
void evlog_set_echo(int on);

/* How many "*.fault" events this process has emitted (a fault that fired:
 * cloud.fault, http.fault, proxy.fault), for `otahil repro --until-fault`. */
unsigned evlog_fault_count(void);

/* Appends one event (thread-safe, process-safe). */
void evlog_emit(const char *src, const char *ev, const char *fields_fmt, ...)
    __attribute__((format(printf, 3, 4)));
void evlog_vemit(const char *src, const char *ev, const char *fields_fmt, va_list ap);

/* Per-thread routes: a process that serves several runs (the cloud with
 * tenants, docs/cloud.md) sends the events about one run to that run's log.
 * evlog_route() sets, for the calling thread only, the file its following
 * evlog_emit()/evlog_vemit() calls append to, with the same algorithm as
 * the process's log (flock on the file, PATH.seq counter, O_APPEND, one
 * write), so other processes may append to the same file and seq stays
 * gap-free and in file order. An event emitted with a route goes only to
 * the routed file. path NULL or "": back to the process's log
 * (evlog_open). Routed files stay open in a cache of EVLOG_ROUTE_CACHE
 * descriptors (the least recently used one is closed; a forked child
 * reopens them). A path that cannot be opened drops the event. */
#define EVLOG_ROUTE_CACHE 32
void evlog_route(const char *path);
/* The calling thread's route, NULL when none (valid until its next
 * evlog_route()). */
const char *evlog_route_get(void);
/* evlog_route(path), returning the previous route as a heap copy (NULL:
 * none) for evlog_route_pop(), which restores and frees it. */
char *evlog_route_push(const char *path);
void evlog_route_pop(char *prev);
/* Closes the cached descriptors of a routed file (a run that ended). */
void evlog_forget(const char *path);

/* Monotonic microseconds. */
uint64_t evlog_now_us(void);
#endif
