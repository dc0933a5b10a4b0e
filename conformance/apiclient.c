/*
 * apiclient.c - a small client of the fake cloud's REST API (see
 * apiclient.h). Each call opens a TCP connection, sends one HTTP/1.1 request
 * with Connection: close, reads the reply until the server closes, takes the
 * status from the status line and parses what follows the blank line as
 * JSON. The server never uses chunked encoding for the API, so the body
 * needs no decoding.
 */
#include "conformance/apiclient.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int api_client_init(struct api_client *api, const char *host_ipv4, int port)
{
    struct api_client a;

    if (!host_ipv4 || strlen(host_ipv4) >= 64 || port <= 0 || port > 65535)
        return -1;
    memset(&a, 0, sizeof a);
    a.addr.sin_family = AF_INET;
    a.addr.sin_port = htons((uint16_t)port);
    if (strcmp(host_ipv4, "localhost") == 0)
        a.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host_ipv4, &a.addr.sin_addr) != 1)
        return -1;
    snprintf(a.host, sizeof a.host, "%s:%u", host_ipv4, (unsigned)port);
    *api = a;
    return 0;
}

int api_parse_url(const char *url, struct api_client *api)
{
    char host[64];
    const char *p, *colon;
    unsigned long long port;
    char *end;

    if (strncmp(url, "http://", 7) != 0)
        return -1;
    p = url + 7;
    colon = strchr(p, ':');
    if (!colon || (size_t)(colon - p) >= sizeof host || colon == p)
        return -1;
    memcpy(host, p, (size_t)(colon - p));
    host[colon - p] = '\0';
    errno = 0;
    port = strtoull(colon + 1, &end, 10);
    if (errno || end == colon + 1 || port == 0 || port > 65535 || (*end && strcmp(end, "/") != 0))
        return -1;
    return api_client_init(api, host, (int)port);
}

int api_from_workdir(const char *workdir, struct api_client *api, char *err, size_t errlen)
{
    char path[PATH_MAX + 16], buf[4096];
    const cJSON *port;
    cJSON *root;
    size_t n;
    FILE *f;

    snprintf(path, sizeof path, "%s/cloud.json", workdir);
    f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "no cloud found: cannot read %.200s (%s); start one with `otahil "
                 "cloud --workdir %.200s` or give --api", path, strerror(errno), workdir);
        return -1;
    }
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    root = cJSON_Parse(buf);
    port = cJSON_GetObjectItemCaseSensitive(root, "http_port");
    if (!cJSON_IsNumber(port) || port->valueint <= 0 || port->valueint > 65535 ||
        api_client_init(api, "127.0.0.1", port->valueint) != 0) {
        snprintf(err, errlen, "%.400s has no http_port", path);
        cJSON_Delete(root);
        return -1;
    }
    cJSON_Delete(root);
    return 0;
}

int api_call(const struct api_client *api, const char *method, const char *path, const char *body,
             cJSON **out, char *err, size_t errlen)
{
    struct timeval tv = { API_TIMEOUT_S, 0 };
    char head[512], *resp = NULL, *sep;
    size_t blen = body ? strlen(body) : 0, len = 0, cap = 0;
    int s, status = -1, hn;

    *out = NULL;
    s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(s, (const struct sockaddr *)&api->addr, sizeof api->addr) != 0) {
        snprintf(err, errlen, "cannot reach the cloud's REST API at http://%s: %s", api->host,
                 strerror(errno));
        goto out;
    }
    hn = snprintf(head, sizeof head,
                  "%s %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n"
                  "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                  method, path, api->host, blen);
    if (hn < 0 || (size_t)hn >= sizeof head) {
        snprintf(err, errlen, "request line for http://%s%.100s too long", api->host, path);
        goto out;
    }
    if (send(s, head, (size_t)hn, MSG_NOSIGNAL) != hn ||
        (blen && send(s, body, blen, MSG_NOSIGNAL) != (ssize_t)blen)) {
        snprintf(err, errlen, "sending to http://%s failed: %s", api->host, strerror(errno));
        goto out;
    }
    for (;;) {
        ssize_t r;
        if (cap - len < 4096) {
            char *nb;
            if (cap >= API_REPLY_MAX) {
                snprintf(err, errlen, "reply from http://%s too large", api->host);
                goto out;
            }
            cap = cap ? cap * 2 : 8192;
            nb = realloc(resp, cap);
            if (!nb) {
                snprintf(err, errlen, "out of memory");
                goto out;
            }
            resp = nb;
        }
        r = recv(s, resp + len, cap - len - 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "reading from http://%s failed: %s", api->host, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (!resp || len < 12 || strncmp(resp, "HTTP/1.", 7) != 0) {
        snprintf(err, errlen, "http://%s sent no HTTP reply", api->host);
        goto out;
    }
    resp[len] = '\0';
    status = atoi(resp + 9);
    sep = strstr(resp, "\r\n\r\n");
    if (sep)
        *out = cJSON_Parse(sep + 4);
out:
    close(s);
    free(resp);
    return status;
}

const char *api_error_text(const cJSON *reply)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(reply, "error");

    return cJSON_IsString(e) ? e->valuestring : "no error text";
}
