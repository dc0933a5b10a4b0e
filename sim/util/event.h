/*
 * event.h - how device-side (freestanding) code reports events. The platform
 * provides otahil_event(): on the native device it appends to the run's
 * JSON-lines event log (sim/util/evlog.c).
 *
 * fields_fmt formats the inside of a JSON object, for example
 *   otahil_event("agent", "progress", "\"step\":%d,\"desc\":\"%s\"", step, desc);
 * Strings that may hold quotes or control characters must go through
 * otahil_json_escape() first. "" means no fields.
 */
#ifndef OTAHIL_EVENT_H
#define OTAHIL_EVENT_H
#include <stddef.h>
void otahil_event(const char *source, const char *event, const char *fields_fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A quiescent point: the device has just made its progress durable (a
 * breakpoint saved, the copy's erase done). A host may compare device
 * states here (the sweep's memo); elsewhere it does nothing. */
void otahil_sync(void);
/* Escapes src as the inside of a JSON string into dst (always NUL-terminated,
 * truncated to dstlen). Returns dst. */
char *otahil_json_escape(char *dst, size_t dstlen, const char *src);
#endif
