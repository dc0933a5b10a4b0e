/*
 * fwcheck.h - is a file fit to be served as an OTA image? The cloud makes the
 * check a device makes after its download (spec §6.2, `ota_check_image`)
 * before it serves the file (spec §12 #8 and #11: a serial image, or an OTA
 * bin the vendor tool generated badly, served for OTA):
 *
 *   1. the last 28 bytes are the AliOS footer: its magic is 0xEFEFEFEF (app),
 *      0xABABABAB (single) or 0xCDCDCDCD (kernel);
 *   2. its image_size is the file's size less the 28 bytes of the footer;
 *   3. its MD5 is the MD5 of those image_size bytes.
 *
 * The checks run in that order and the first that fails decides. Nothing
 * here knows otahil's own image header: a vendor's `*.ota.bin` passes as
 * well as an otahil image does.
 */
#ifndef FWCHECK_H
#define FWCHECK_H

#include <stddef.h>
#include <stdint.h>

#define FWCHECK_FOOTER_SIZE 28u
#define FWCHECK_MAGIC_APP    0xEFEFEFEFu /* AOS_APP_TAG: what ota_gen_md5_bin.py writes */
#define FWCHECK_MAGIC_SINGLE 0xABABABABu /* AOS_SINGLE_TAG */
#define FWCHECK_MAGIC_KERNEL 0xCDCDCDCDu /* AOS_KERNEL_TAG */

enum fwcheck_result {
    FWCHECK_OK = 0,
    FWCHECK_ESHORT,  /* the file is no longer than a footer */
    FWCHECK_EMAGIC,  /* no AliOS footer: the magic is none of the three */
    FWCHECK_ESIZE,   /* the footer's image_size is not the file's size - 28 */
    FWCHECK_EMD5,    /* the footer's MD5 is not the MD5 of the bytes before it */
    FWCHECK_EIO,     /* the file could not be read (errno in sys_errno) */
};

/* What the check found. Fields past the step that failed are left 0 / "". */
struct fwcheck_report {
    int      result;          /* enum fwcheck_result */
    uint64_t file_size;       /* bytes of the whole file */
    uint32_t magic;           /* footer magic, as read (little-endian) */
    uint32_t image_size;      /* footer image_size */
    char     md5_footer[33];  /* footer MD5, lowercase hex */
    char     md5_image[33];   /* MD5 of the first file_size - 28 bytes, lowercase hex */
    int      sys_errno;       /* FWCHECK_EIO: the errno of the failed read */
};

/* Checks len bytes held in memory. Returns r->result (FWCHECK_EIO only when
 * the hash cannot be computed: out of memory). r must not be NULL. */
int fwcheck_buf(const uint8_t *buf, size_t len, struct fwcheck_report *r);

/* Checks the whole file open on fd (a regular file), reading it with pread
 * from offset 0, so the file offset is not moved. Returns r->result. */
int fwcheck_fd(int fd, struct fwcheck_report *r);

/* "app", "single", "kernel", or NULL for any other magic. */
const char *fwcheck_magic_name(uint32_t magic);

/* One line (no newline) saying what the check found, naming the file as
 * name: for a failure, what is wrong and what to serve instead, e.g.
 * "fw.bin: no AliOS OTA footer (last 28 bytes: magic 0x3ffe8c18, not
 * 0xefefefef, 0xabababab or 0xcdcdcdcd); serve the *.ota.bin, not the serial
 * image". Returns buf. */
char *fwcheck_describe(const struct fwcheck_report *r, const char *name, char *buf, size_t n);

#endif /* FWCHECK_H */
