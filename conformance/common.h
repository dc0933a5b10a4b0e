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

/* Opens an existing flash file for the board, partitions applied. */
int open_flash(struct flashfile *ff, const char *path, const struct board *b, char *err, size_t n);

/* The image in a slot; IMAGE_OK or an IMAGE_E* code. */
int slot_image(struct flashsim *fs, int part, struct image_info *info);

/* Partition id holding the image the bootloader will run next (reads the
 * newest boot record), APPLICATION by default. */
int active_slot(struct flashsim *fs, const struct board *b);

/* Parses an unsigned number (decimal, 0x hex, K/M suffix). 0 or -1. */
int parse_u32(const char *s, uint32_t *out);

#endif
