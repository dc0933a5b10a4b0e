/*
 * sentinel.h - the device's settings as a device in the field has them,
 * planted in its flash before an update and checked after it (spec §12 #10:
 * "after OTA the Wi-Fi SSID and password are lost"; the partitions
 * overlapped and the update erased the settings).
 *
 * What is planted, all drawn from the run's seed so the check can draw it
 * again:
 *   - KV entries wifi_ssid and wifi_passwd, written through the device's KV
 *     store (sim/kv) on the board's KV partitions, as netmgr keeps them;
 *   - a pattern over every writable partition an update has no business
 *     touching: not APPLICATION, OTA_TEMP, PARAMETER_1 (the boot record) or
 *     a KV partition, and overlapping none of them (PARAMETER_3 and
 *     PARAMETER_4 where they are not KV, RECOVERY, SPIFFS, a writable
 *     bootloader; the same set as the sweep's sentinels, docs/sweep.md).
 */
#ifndef OTAHIL_SENTINEL_H
#define OTAHIL_SENTINEL_H

#include <stddef.h>
#include <stdint.h>

#include "sim/board/board.h"

#define SENTINEL_KEY_SSID   "wifi_ssid"
#define SENTINEL_KEY_PASSWD "wifi_passwd"

/* Plants the sentinels into the flash file of board b (an existing file, as
 * otahil flash provision leaves it: the partitions to pattern erased). The
 * KV writes and the pattern's programs are flash ops of the model (numbered,
 * counted), made before the device's first boot. 0, or -1 with a one-line
 * reason in err (the file does not open, the KV store does not mount or
 * take the entries, a program fails). */
int sentinel_plant(const char *flash, const struct board *b, uint64_t seed, char *err, size_t n);

/* Checks what sentinel_plant(flash, b, seed) planted, on a private copy of
 * the file (a KV mount that repairs or formats never touches the file).
 * When an event log is open, emits "run.sentinel" {ok, kv, parts, lost,
 * why}. 0: all intact. 1: something was lost; why holds one line naming the
 * first loss, the KV keys first, e.g. "KV key wifi_ssid lost after the
 * update (spec §12 #10)" or "PARAMETER_4 changed after the update at offset
 * 0x0 (0xff, expected 0x3a) (spec §12 #10)". -1: the file cannot be read as
 * a flash file of b (why). */
int sentinel_check(const char *flash, const struct board *b, uint64_t seed, char *why, size_t n);

#endif
