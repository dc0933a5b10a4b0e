/*
 * aos/kv.h - the AliOS key-value store, as ports and the OTA agent call it.
 * Backed by otahil's log-structured KV on the board's KV partition(s).
 */
#ifndef AOS_KV_H
#define AOS_KV_H

#ifdef __cplusplus
extern "C" {
#endif

/* Stores len bytes under key (durable when it returns 0; sync is accepted
 * for compatibility, every set is synchronous). 0, or a negative error. */
int aos_kv_set(const char *key, const void *value, int len, int sync);

/* Copies the value into buffer. On entry *buffer_len is the buffer size; on
 * success it becomes the value's length. 0 if found, negative if absent or if
 * the buffer is too small (then *buffer_len is the length needed). */
int aos_kv_get(const char *key, void *buffer, int *buffer_len);

/* Removes key. 0, or a negative error if absent. */
int aos_kv_del(const char *key);

#ifdef __cplusplus
}
#endif

#endif /* AOS_KV_H */
