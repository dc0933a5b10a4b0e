/*
 * ota_hal_os.h - the OS port layer the G1 OTA agent calls (AliOS rel_2.0.0
 * middleware/uagent/uota/hal/ota_hal_os.h). otahil implements it twice: for
 * the native device (POSIX threads, sockets, libmosquitto) and, later, for
 * firmware under QEMU. Behaviour required of each call: shared/spec §11.
 */
#ifndef OTA_HAL_OS_H
#define OTA_HAL_OS_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PRODUCT_KEY_MAXLEN    (20 + 1)
#define PRODUCT_SECRET_MAXLEN (64 + 1)
#define DEVICE_NAME_MAXLEN    (32 + 1)
#define DEVICE_SECRET_MAXLEN  (64 + 1)

#define OTA_SSL_TIMEOUT 5000 /* ms, per socket or TLS read and send */

typedef enum {
    os_thread_priority_idle = -3,
    os_thread_priority_low = -2,
    os_thread_priority_belowNormal = -1,
    os_thread_priority_normal = 0,
    os_thread_priority_aboveNormal = 1,
    os_thread_priority_high = 2,
    os_thread_priority_realtime = 3,
    os_thread_priority_error = 0x84,
} hal_os_thread_priority_t;

typedef struct {
    hal_os_thread_priority_t priority; /* initial priority */
    void *stack_addr;                  /* NULL: allocated by the OS */
    int   stack_size;                  /* bytes */
    int   detach_state;                /* 0 joinable, 1 detached */
    char *name;                        /* thread name */
} hal_os_thread_param_t;

/* Memory. */
void *ota_malloc(int size);
void *ota_realloc(void *ptr, int size);
void *ota_calloc(int n, int size);
void  ota_free(void *ptr);

/* Mutex: NULL on failure. */
void *ota_mutex_init(void);
void  ota_mutex_lock(void *mutex);
void  ota_mutex_unlock(void *mutex);
void  ota_mutex_destroy(void *mutex);

/* Semaphore: wait returns 0 when taken, -1 on timeout. */
void *ota_semaphore_init(void);
int   ota_semaphore_wait(void *sem, int timeout_ms);
void  ota_semaphore_post(void *sem);
void  ota_semaphore_destroy(void *sem);

/* Threads: 0 on success. */
int  ota_thread_create(void **thread_handle, void *(*work_routine)(void *), void *arg,
                       hal_os_thread_param_t *hal_os_thread_param, int *stack_used);
void ota_thread_exit(void *thread);
void ota_msleep(uint32_t ms);

/* Timers (used by ESP8266 builds to start the download later). */
void *ota_timer_create(const char *name, void (*func)(void *), void *user_data);
int   ota_timer_start(void *t, int ms);

/* Restarts the device. Never returns. */
void ota_reboot(void);

/* KV: 0 on success; get returns non-zero when absent. */
int ota_kv_set(const char *key, const void *val, int len, int sync);
int ota_kv_get(const char *key, void *buffer, int *buffer_len);
int ota_kv_del(const char *key);
int ota_kv_erase_all(void);

/* Device identity: 0 on success (the strings are NUL-terminated). */
int ota_HAL_GetProductKey(char pk[PRODUCT_KEY_MAXLEN]);
int ota_HAL_GetProductSecret(char ps[PRODUCT_SECRET_MAXLEN]);
int ota_HAL_GetDeviceName(char dn[DEVICE_NAME_MAXLEN]);
int ota_HAL_GetDeviceSecret(char ds[DEVICE_SECRET_MAXLEN]);

/* TCP: connect returns a descriptor > 0, or < 0 on failure. recv blocks until
 * len bytes arrived or OTA_SSL_TIMEOUT passed; returns the bytes read (> 0),
 * -1 when the peer closed with no data, -2 on timeout or error with no data. */
int  ota_socket_connect(char *host, int port);
int  ota_socket_send(int fd, char *buf, size_t len);
int  ota_socket_recv(int fd, char *buf, size_t len);
void ota_socket_close(int fd);

/* TLS: connect returns a handle or NULL (ca_crt_len counts the PEM's NUL). */
void   *ota_ssl_connect(const char *host, uint16_t port, const char *ca_crt, uint32_t ca_crt_len);
int32_t ota_ssl_send(void *ssl, char *buf, uint32_t len);
int32_t ota_ssl_recv(void *ssl, char *buf, uint32_t len);

/* MQTT. init returns 0 when a client was created, 1 when one exists, < 0 on
 * failure. publish and subscribe return 0, or < 0 on error. Callbacks run in
 * the MQTT client's thread. */
int ota_hal_mqtt_init_instance(char *productKey, char *deviceName, char *deviceSecret,
                               int maxMsgSize);
int ota_hal_mqtt_publish(char *topic, int qos, void *data, int len);
int ota_hal_mqtt_subscribe(char *topic,
                           void (*cb)(char *topic, int topic_len, void *payload,
                                      int payload_len, void *ctx),
                           void *ctx);
int ota_hal_mqtt_deinit_instance(void);

#ifdef __cplusplus
}
#endif

#endif /* OTA_HAL_OS_H */
