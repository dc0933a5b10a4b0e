/*
 * fwhead.h - the header block of a firmware response, byte for byte as the
 * fake cloud's firmware server sends it (docs/cloud.md, "Firmware server"),
 * so that any other HTTP peer standing in for that server sends exactly the
 * same bytes. Freestanding: it needs no C library.
 */
#ifndef FWHEAD_H
#define FWHEAD_H

#include <stddef.h>
#include <stdint.h>

#define FW_HEAD_MAX 512   /* room for any block fw_response_head writes with a 64-character etag */

/* Writes the status line and headers of a firmware response, up to and
 * including the blank line, and a NUL after them:
 *
 *   200  "HTTP/1.1 200 OK", Content-Type: application/octet-stream,
 *        Content-Length: total, Accept-Ranges: bytes, ETag, Connection: close.
 *        first and last are ignored.
 *   206  "HTTP/1.1 206 Partial Content", the same headers with
 *        Content-Length: last - first + 1 and, before Accept-Ranges,
 *        "Content-Range: bytes first-last/total". Needs first <= last < total.
 *   416  "HTTP/1.1 416 Range Not Satisfiable", Content-Length: 0, a
 *        Content-Range of the unsatisfied form ("bytes ", a star, a slash,
 *        total), Accept-Ranges, ETag, Connection: close; no Content-Type.
 *        first and last are ignored.
 *
 * buf, n: where to write and its size in bytes.
 * etag:   the entity tag without quotes (the server uses the file's lowercase
 *         hex MD5), sent as ETag: "etag"; printable ASCII without '"' or
 *         '\'. NULL leaves the ETag line out.
 *
 * Returns the length of the block (without the NUL), or -1 when it does not
 * fit in n bytes with its NUL, status is none of 200, 206 and 416, the 206
 * range is impossible, or etag holds a character it may not; buf then holds
 * "" (if n > 0). */
int fw_response_head(char *buf, size_t n, int status, uint64_t first, uint64_t last,
                     uint64_t total, const char *etag);

#endif /* FWHEAD_H */
