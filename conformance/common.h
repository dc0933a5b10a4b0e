/* common.h - helpers shared by the otahil commands. */
#ifndef OTAHIL_COMMON_H
#define OTAHIL_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include "sim/board/board.h"
#include "sim/flash/flashfile.h"
#include "sim/image/image.h"

/* Writes data to path through a temporary file and rename. 0 or -1 (err). */
int write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t n);
/* Reads a whole file (malloc'd). 0 or -1 (err). */
int read_file(const char *path, uint8_t **data, size_t *len, char *err, size_t n);
/* mkdir -p. 0 or -1. */
int mkdir_p(const char *path);

/* Builds an image file. 0 or -1 (err). */
int make_image_file(const char *path, const struct image_spec *s, char *err, size_t n);

/* Creates a fresh flash file for the board (erased) and writes the image
 * into APPLICATION as a factory programmer would (no flash ops counted). */
int provision_flash(const char *path, const struct board *b, const char *image_path, char *err,
                    size_t n);

/* factory_reset_flash() flags. */
#define FACTORY_APP_ONLY 0x1u /* write APPLICATION only and leave the boot record: what a
                               * serial flash of the application does (spec §12 #6) */
#define FACTORY_ERASE_KV 0x2u /* also erase the KV partitions (the device's settings) */

/* What a factory programmer does when it re-flashes the application of a
 * device whose flash file exists: erases APPLICATION and writes the image
 * into it, then erases the boot record partition, PARAMETER_1 (where both
 * bootloader models, copy and pingpong, keep their record: sim/boot/boot.h),
 * so the bootloader boots APPLICATION again; the KV partitions only with
 * FACTORY_ERASE_KV, the boot record not with FACTORY_APP_ONLY. Everything
 * else (the other partitions, the op counters, the recorded violations)
 * stays. The erases and programs go through the flash model, on a copy of
 * the file (numbered ops, erase counts and program-once marks as the chip
 * keeps them; the op log FILE.oplog is the device's and gets no line), and
 * the copy replaces the file by rename: on any error the file is unchanged.
 * 0, or -1 with a one-line reason in err (an image that is not a valid
 * otahil image or does not fit APPLICATION, a file that is not a flash file
 * of this board, a flash error). */
int factory_reset_flash(const char *path, const struct board *b, const char *image_path,
                        unsigned flags, char *err, size_t n);

/* Opens an existing flash file for the board, partitions applied. */
int open_flash(struct flashfile *ff, const char *path, const struct board *b, char *err, size_t n);

/* The image in a slot; IMAGE_OK or an IMAGE_E* code. */
int slot_image(struct flashsim *fs, int part, struct image_info *info);

/* Partition id holding the image the bootloader will run next (reads the
 * newest boot record), APPLICATION by default. */
int active_slot(struct flashsim *fs, const struct board *b);

/* A file or folder of the source tree the executable was built in: rel
 * under $OTAHIL_SRC, else under the folder two or three levels above the
 * executable (build/bin, build/san/bin), else under the current folder.
 * 0 when it exists (out holds its path), -1 when not (out holds the last
 * path tried). */
int otahil_source_path(const char *rel, char *out, size_t n);

/* The folder of the fault plans: $OTAHIL_FAULTS, else fixtures/faults of
 * the source tree (otahil_source_path). */
void otahil_faults_dir(char *out, size_t n);

/* Copies a file through a temporary name and rename. 0 or -1 (err). */
int copy_file_atomic(const char *from, const char *to, char *err, size_t n);

/* The event sequence of a run's log (JSON lines), as a SHA-256 in hex: for
 * each source ("src") in name order, its events ("ev") in log order. The
 * interleaving of the run's processes and every field but the names are left
 * out: they depend on the schedule, the ports and the clock, the sequence of
 * each component does not. 0, or -1 when the file cannot be read. */
int events_sequence_digest(const char *path, char out[65]);

/* Parses an unsigned number (decimal, 0x hex, K/M suffix). 0 or -1. */
int parse_u32(const char *s, uint32_t *out);

#endif
