/* netfault.c - see netfault.h. */
#include "conformance/netfault.h"

#include <stdio.h>
#include <string.h>

#include "conformance/plan.h"
#include "mock_cloud/cloud.h"
#include "mock_cloud/proxy.h"

/* Parses the specs and sorts them by direction. */
static int specs(char *const *spec, int n, int kind, struct proxy_fault up[PROXY_MAX_FAULTS],
                 int *nup, struct proxy_fault down[PROXY_MAX_FAULTS], int *ndown, const char *name,
                 char *err, size_t errlen)
{
    char e[256];
    *nup = *ndown = 0;
    for (int i = 0; i < n; i++) {
        struct proxy_fault f;
        int dir;
        if (proxy_fault_parse(spec[i], &f, &dir, e, sizeof(e)) != 0 ||
            proxy_fault_check(&f, kind, e, sizeof(e)) != 0) {
            snprintf(err, errlen, "[proxy.%s] fault = %s: %s", name, spec[i], e);
            return -1;
        }
        if ((dir != PROXY_DOWN && *nup == PROXY_MAX_FAULTS) ||
            (dir != PROXY_UP && *ndown == PROXY_MAX_FAULTS)) {
            snprintf(err, errlen, "[proxy.%s]: more than %d faults on one direction", name,
                     PROXY_MAX_FAULTS);
            return -1;
        }
        if (dir != PROXY_DOWN)
            up[(*nup)++] = f;
        if (dir != PROXY_UP)
            down[(*ndown)++] = f;
    }
    return 0;
}

static struct proxy *start_one(const char *name, int kind, int upstream, char *const *spec, int n,
                               uint64_t seed, char *err, size_t errlen)
{
    struct proxy_fault up[PROXY_MAX_FAULTS], down[PROXY_MAX_FAULTS];
    int nup, ndown;
    if (specs(spec, n, kind, up, &nup, down, &ndown, name, err, errlen) != 0)
        return NULL;
    struct proxy_opts o;
    memset(&o, 0, sizeof(o));
    o.name = name;
    o.kind = kind;
    o.upstream_host = "127.0.0.1";
    o.upstream_port = upstream;
    o.seed = seed;
    char e[256];
    struct proxy *p = proxy_start(&o, e, sizeof(e));
    if (!p) {
        snprintf(err, errlen, "proxy %s: %s", name, e);
        return NULL;
    }
    if ((nup && proxy_set_faults(p, PROXY_UP, up, nup) != 0) ||
        (ndown && proxy_set_faults(p, PROXY_DOWN, down, ndown) != 0)) {
        snprintf(err, errlen, "proxy %s: the faults were refused", name);
        proxy_stop(p);
        return NULL;
    }
    return p;
}

int netfault_start_to(struct netfault *nf, const struct fault_plan *p,
                      const struct netfault_upstream *u, uint64_t seed, char *err, size_t errlen)
{
    memset(nf, 0, sizeof(*nf));
    nf->up = *u;
    if (!p)
        return 0;
    nf->coaps = p->coap == 2;
    if (p->nproxy_mqtt &&
        !(nf->mqtt = start_one("mqtt", PROXY_TCP, u->mqtt, p->proxy_mqtt, p->nproxy_mqtt, seed, err,
                               errlen)))
        return -1;
    if (p->nproxy_http) {
        nf->http = start_one("http", PROXY_TCP, u->fw, p->proxy_http, p->nproxy_http,
                             seed ^ 0x48545450ull, err, errlen);
        if (!nf->http) {
            netfault_stop(nf);
            return -1;
        }
    }
    if (p->nproxy_coap) {
        nf->coap = start_one("coap", PROXY_UDP, p->coap == 2 ? u->coaps : u->coap,
                             p->proxy_coap, p->nproxy_coap,
                             seed ^ 0x434f4150ull, err, errlen);
        if (!nf->coap) {
            netfault_stop(nf);
            return -1;
        }
    }
    return 0;
}

int netfault_start(struct netfault *nf, const struct fault_plan *p, struct cloud *c, uint64_t seed,
                   char *err, size_t errlen)
{
    struct netfault_upstream u = { cloud_device_mqtt_port(c), cloud_fw_port(c), cloud_coap_port(c),
                                   cloud_coaps_port(c) };
    if (netfault_start_to(nf, p, &u, seed, err, errlen) != 0)
        return -1;
    if (nf->http)
        cloud_set_url_port(c, proxy_port(nf->http));
    return 0;
}

int netfault_http_port(const struct netfault *nf)
{
    return nf->http ? proxy_port(nf->http) : 0;
}

int netfault_coap_port(const struct netfault *nf, const struct cloud *c)
{
    if (nf->coap)
        return proxy_port(nf->coap);
    if (c && !nf->up.mqtt) /* never started: the cloud's own */
        return nf->coaps ? cloud_coaps_port(c) : cloud_coap_port(c);
    return nf->coaps ? nf->up.coaps : nf->up.coap;
}

int netfault_mqtt_port(const struct netfault *nf, const struct cloud *c)
{
    if (nf->mqtt)
        return proxy_port(nf->mqtt);
    return c && !nf->up.mqtt ? cloud_device_mqtt_port(c) : nf->up.mqtt;
}

void netfault_stop(struct netfault *nf)
{
    if (nf->mqtt)
        proxy_stop(nf->mqtt);
    if (nf->http)
        proxy_stop(nf->http);
    if (nf->coap)
        proxy_stop(nf->coap);
    nf->mqtt = nf->http = nf->coap = NULL;
}
