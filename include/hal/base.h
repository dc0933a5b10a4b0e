/*
 * hal/base.h - the module base every AliOS HAL module embeds.
 *
 * Layout as AliOS Things rel_2.0.0 declares it: ports embed it as the first
 * member of their hal_ota_module_t and usually leave it zeroed.
 */
#ifndef HAL_BASE_H
#define HAL_BASE_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Doubly linked list node (AliOS aos/list.h dlist_t). */
typedef struct dlist_s {
    struct dlist_s *prev;
    struct dlist_s *next;
} dlist_t;

typedef struct {
    dlist_t     list;     /* registry link, owned by the HAL */
    int         magic;    /* free for the port */
    const char *name;     /* module name, may be NULL */
    void       *priv_dev; /* port private data */
} hal_module_base_t;

typedef int hal_stat_t;

#ifdef __cplusplus
}
#endif

#endif /* HAL_BASE_H */
