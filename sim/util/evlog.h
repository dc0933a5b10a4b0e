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

/* Monotonic microseconds. */
uint64_t evlog_now_us(void);
#endif
