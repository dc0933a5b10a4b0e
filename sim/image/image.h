/*
 * image.h - otahil's synthetic firmware images.
 *
 * Layout (little-endian):
 *   header, 128 bytes:
 *     0   magic "OTAHIMG1"       8
 *     8   header_size = 128     u32
 *     12  flags                 u32  IMAGE_F_*
 *     16  payload_len           u32
 *     20  seed                  u32  payload generator seed
 *     24  version[64]           NUL-padded, e.g. "app-1.0.0-20180101.1000"
 *     88  board[24]             NUL-padded target board name, "" = any
 *     112 reserved[14]          0
 *     126 header_crc16          u16  CRC-16/XMODEM of bytes 0..125
 *   payload, payload_len bytes generated from seed (xorshift32 stream)
 *   AliOS footer, 28 bytes (shared/spec §6.2):
 *     magic 0xEFEFEFEF u32, image_size u32 (= 128 + payload_len),
 *     md5[16] of header+payload, reserved 0xFFFF u16, image_crc16 0xFFFF u16
 * The file served by the cloud is the whole thing; size, md5 and sign in a
 * push cover it all, footer included.
 */
#ifndef IMAGE_H
#define IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define IMAGE_MAGIC        "OTAHIMG1"
#define IMAGE_HEADER_SIZE  128u
#define IMAGE_FOOTER_SIZE  28u
#define IMAGE_FOOTER_MAGIC 0xEFEFEFEFu
#define IMAGE_VERSION_LEN  64
#define IMAGE_BOARD_LEN    24

#define IMAGE_F_CRASH_AT_BOOT 0x1u /* the image crashes before it reaches the network */
#define IMAGE_F_NEVER_CONFIRM 0x2u /* the image runs but never confirms its boot */
#define IMAGE_F_KNOWN         (IMAGE_F_CRASH_AT_BOOT | IMAGE_F_NEVER_CONFIRM)

#define IMAGE_OK        0
#define IMAGE_EMAGIC    (-1) /* header magic wrong: not an image */
#define IMAGE_EHEADER   (-2) /* header CRC, size or flags wrong */
#define IMAGE_ESIZE     (-3) /* buffer or slot too small for the declared size */
#define IMAGE_EFOOTER   (-4) /* footer magic or size wrong */
#define IMAGE_EMD5      (-5) /* footer MD5 does not match */
#define IMAGE_EIO       (-6) /* image_parse_reader: the read callback failed */

struct image_info {
    uint32_t flags;
    uint32_t payload_len;
    uint32_t seed;
    uint32_t image_size;   /* header + payload (the footer's image_size) */
    uint32_t total_size;   /* image_size + 28 */
    char     version[IMAGE_VERSION_LEN + 1];
    char     board[IMAGE_BOARD_LEN + 1];
};

/* What image_make builds. */
struct image_spec {
    const char *version;   /* required, 1..63 chars */
    const char *board;     /* NULL or "" for any */
    uint32_t    payload_len;
    uint32_t    seed;
    uint32_t    flags;
};

/* Bytes image_make writes for this spec (header + payload + footer); 0 when
 * payload_len is too large for the 32-bit image_size. */
size_t image_total_size(const struct image_spec *s);

/* Builds the image into out (at least image_total_size bytes).
 * IMAGE_OK, or IMAGE_EHEADER for a bad spec (version length, unknown flag). */
int image_build(const struct image_spec *s, uint8_t *out, size_t outlen);

/* Same, with a given payload of s->payload_len bytes in place of the
 * generated one (a real program: the QEMU target's application images,
 * docs/qemu.md); the header keeps s->seed as given. */
int image_wrap(const struct image_spec *s, const uint8_t *payload, uint8_t *out, size_t outlen);

/* Parses and fully verifies an image held in memory (header CRC, footer,
 * MD5). len may exceed the image (a slot); trailing bytes are ignored.
 * Checks run in this order: magic (IMAGE_EMAGIC), room for the header
 * (IMAGE_ESIZE), header_size, header CRC, flags, version (IMAGE_EHEADER),
 * room for header + payload + footer (IMAGE_ESIZE), footer magic and
 * image_size (IMAGE_EFOOTER), MD5 (IMAGE_EMD5). IMAGE_OK when all pass.
 * info (may be NULL) is filled once the header is valid, so it also
 * describes an image that fails a later check. */
int image_parse(const uint8_t *buf, size_t len, struct image_info *info);

/* Same, reading through a callback (a flash slot): read(ctx, off, buf, n)
 * returns 0 on success. slot_len bounds the declared size. Reads at most 512
 * bytes per call and only inside [0, slot_len). Same codes, plus IMAGE_EIO
 * when a read fails. */
int image_parse_reader(int (*read)(void *ctx, uint32_t off, void *buf, uint32_t n),
                       void *ctx, uint32_t slot_len, struct image_info *info);

/* Human message for an IMAGE_E* code. */
const char *image_strerror(int err);

#endif /* IMAGE_H */
