/*
 * fwserver.h - the fake cloud's HTTP face: a civetweb server on 127.0.0.1
 * that serves the firmware store (GET/HEAD /fw/<id>/<name>, with Range) and
 * the REST API (/api/...). Every firmware response is written by us byte for
 * byte (status line, headers, body), never by civetweb. See docs/cloud.md;
 * its faults (cloudfault.h) are in docs/faults.md.
 */
#ifndef FWSERVER_H
#define FWSERVER_H

#include <stddef.h>
#include <stdint.h>

struct cloud;
struct cloud_http_rule;
struct fwserver;

/* Starts the server for cloud c on 127.0.0.1:port (0 = a free port chosen
 * by the kernel). throttle_bps > 0 limits each firmware body to that many
 * bytes per second, sent in small pieces. NULL with a one-line reason in err
 * (port in use, civetweb start failure, out of memory). */
struct fwserver *fwserver_start(struct cloud *c, int port, uint32_t throttle_bps,
                                char *err, size_t errlen);

/* fwserver_start with a second, HTTPS listener on a free 127.0.0.1 port
 * when tls_pem is non-NULL: the server's certificate and key in one PEM
 * file (testca.h). Same handlers, same faults. NULL with a one-line reason
 * in err also when civetweb cannot initialise TLS (mg_init_library without
 * MG_FEATURES_TLS: the libssl.so shim is not found; docs/cloud.md) or the
 * certificate does not load. */
struct fwserver *fwserver_start_tls(struct cloud *c, int port, uint32_t throttle_bps,
                                    const char *tls_pem, char *err, size_t errlen);

/* Replaces the fault rules (append 0) or adds to them (append 1); each
 * firmware GET is then answered as docs/faults.md, "Cloud faults: firmware
 * server", describes. Rules are copied; the GET counters are not reset. Safe
 * while requests are being served: a request uses the rules in force when
 * it arrived. 0, or -1 when the rules would number more than
 * CF_HTTP_RULES_MAX (nothing changes then). */
int fwserver_set_faults(struct fwserver *s, const struct cloud_http_rule *rules, int n, int append);

/* Gives the firmware of owner (>= 1: a tenant of the cloud,
 * cloud_fw_info.owner) rules and a download rate of its own: replaces
 * its rules with rules[0..n) (copied), sets its rate (0: the server's)
 * and starts its GET counters again. A GET of that owner's firmware uses
 * only these rules and counts only among that owner's GETs; firmware
 * without an owner keeps the server-wide rules and counters. n 0 clears
 * them. 0, or -1 for an owner out of 1..CLOUD_MAX_DEVICES, more than
 * CF_HTTP_RULES_MAX rules or no memory. */
int fwserver_set_owner_faults(struct fwserver *s, int owner, const struct cloud_http_rule *rules,
                              int n, uint32_t throttle_bps);

/* The port it listens on. */
int fwserver_port(const struct fwserver *s);

/* The HTTPS port; 0 when started without TLS. */
int fwserver_tls_port(const struct fwserver *s);

/* Stops the server: aborts throttled transfers, waits for the workers, frees
 * s. NULL is a no-op. */
void fwserver_stop(struct fwserver *s);

#endif /* FWSERVER_H */
