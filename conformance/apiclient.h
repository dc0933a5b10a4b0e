/*
 * apiclient.h - a small client of the fake cloud's REST API
 * (docs/cloud.md, "REST API"): plain HTTP/1.1 over a TCP socket to an IPv4
 * address, one request per connection, Connection: close, the whole reply
 * read to EOF and its body parsed as JSON.
 */
#ifndef APICLIENT_H
#define APICLIENT_H

#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <stddef.h>

#define API_TIMEOUT_S  10          /* send and receive timeout of one call */
#define API_REPLY_MAX  (1u << 20)  /* largest reply read, in bytes */

/* Where the REST API listens. */
struct api_client {
    struct sockaddr_in addr;       /* IPv4 endpoint */
    char               host[72];   /* "HOST:PORT", sent as the Host header */
};

/* Points api at host_ipv4 (dotted quad, or "localhost" for 127.0.0.1) and
 * port (1..65535). 0, or -1 for a bad address or port (api untouched). */
int api_client_init(struct api_client *api, const char *host_ipv4, int port);

/* Parses "http://HOST:PORT" or "http://HOST:PORT/", HOST as for
 * api_client_init, into api. 0, or -1 for anything else (api untouched). */
int api_parse_url(const char *url, struct api_client *api);

/* Finds the API of an `otahil cloud` running with work directory workdir
 * through WORKDIR/cloud.json ("http_port"), on 127.0.0.1. 0, or -1 with a
 * one-line reason in err (no such file, no usable http_port). */
int api_from_workdir(const char *workdir, struct api_client *api, char *err, size_t errlen);

/* One call: method (e.g. "GET", "POST") on path (e.g. "/api/jobs"), with
 * body (JSON text, sent with Content-Type: application/json; NULL = empty).
 * Returns the HTTP status of the reply, and in *out its body parsed as JSON
 * (NULL when the body is not JSON; the caller frees it with cJSON_Delete).
 * -1 with a one-line reason in err and *out NULL when the API cannot be
 * reached, the exchange fails or times out (API_TIMEOUT_S), the reply is
 * over API_REPLY_MAX bytes or not HTTP. */
int api_call(const struct api_client *api, const char *method, const char *path, const char *body,
             cJSON **out, char *err, size_t errlen);

/* The "error" text of an API reply ({"error":"..."}), or "no error text".
 * reply may be NULL. */
const char *api_error_text(const cJSON *reply);

#endif /* APICLIENT_H */
