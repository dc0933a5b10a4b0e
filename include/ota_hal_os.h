/*
 * ota_hal_os.h - the OS port layer the G1 OTA agent calls (AliOS rel_2.0.0
 * middleware/uagent/uota/hal/ota_hal_os.h). otahil implements it twice: for
 * the native device (POSIX threads, sockets, libmosquitto, libcoap) and, later, for
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

/* CoAP (spec §3, §11): G1's wrappers of the iotkit CoAP client, used when
 * the signal channel is CoAP (OTA_SIGNAL_CHANNEL 2) and for the block
 * download (FOTA_DL_COAP). Every call returns 0 on success and < 0 on
 * failure unless said otherwise. */
#define IOTX_PRODUCT_KEY_LEN   20
#define IOTX_DEVICE_NAME_LEN   32
#define IOTX_DEVICE_SECRET_LEN 64
#define IOTX_DEVICE_ID_LEN     64

typedef struct {
    char product_key[IOTX_PRODUCT_KEY_LEN + 1];
    char device_name[IOTX_DEVICE_NAME_LEN + 1];
    char device_id[IOTX_DEVICE_ID_LEN + 1];      /* sent as /auth clientId; G1 copies the
                                                  * product secret here (spec §3.1) */
    char device_secret[IOTX_DEVICE_SECRET_LEN + 1];
} iotx_deviceinfo_t;

typedef struct {
    char              *p_url;        /* "coap://HOST:PORT" or "coaps://HOST:PORT" (DTLS, PSK
                                      * identity "PK&DN", key the device secret) */
    int                maxcount;     /* unused */
    iotx_deviceinfo_t *p_devinfo;
    void              *event_handle; /* unused */
} iotx_coap_config_t;

typedef enum { IOTX_CONTENT_TYPE_JSON = 0, IOTX_CONTENT_TYPE_CBOR = 1 } iotx_content_type_t;
typedef enum { IOTX_MESSAGE_CON = 0, IOTX_MESSAGE_NON = 1 } iotx_msg_type_t;
typedef enum {
    IOTX_COAP_RESP_CODE_CONTENT = 0x45,       /* 2.05 */
    IOTX_COAP_RESP_CODE_BAD_REQUEST = 0x80,   /* 4.00 */
    IOTX_COAP_RESP_CODE_UNAUTHORIZED = 0x81,  /* 4.01 */
    IOTX_COAP_RESP_CODE_NOT_FOUND = 0x84,     /* 4.04 */
} iotx_coap_resp_code_t;

/* Called with the response when one arrives, in the caller's thread or the
 * client's; p_message is valid only during the call. */
typedef void (*iotx_response_callback_t)(void *p_arg, void *p_message);

typedef struct {
    unsigned char           *p_payload;
    unsigned short           payload_len;
    iotx_content_type_t      content_type;
    iotx_msg_type_t          msg_type;
    void                    *user_data;     /* passed to resp_callback */
    iotx_response_callback_t resp_callback;
} iotx_message_t;

#define OTA_COAP_OPTION_BLOCK2 23
#define OTA_COAP_OPTION_ETAG   4   /* otahil: ota_IOT_CoAP_GetMessageOption */
#define OTA_COAP_OPTION_SIZE2  28
#define OTA_COAP_WAIT_MS       2000 /* the longest a send waits for its response */

/* A client for p_config (iotx_coap_config_t *); NULL on failure. */
void *ota_IOT_CoAP_Init(void *p_config);
/* POST /auth with the signature (HMAC-MD5 with the device secret); the
 * token of the reply goes into every later request. 0, or < 0 when the
 * server refuses or does not answer. */
int ota_IOT_CoAP_DeviceNameAuth(void *p_context);
/* A CON POST of p_message (iotx_message_t *) to p_path ("/a/b/c"). The
 * callback gets the response if it comes within OTA_COAP_WAIT_MS; then 0.
 * < 0 when nothing could be sent or no response came in time. */
int ota_IOT_CoAP_SendMessage(void *p_context, char *p_path, void *p_message);
/* The same with a Block2 (block_type 23) option: NUM num, M more, size a
 * power of two 16..1024 (the SZX). */
int ota_IOT_CoAP_SendMessage_block(void *p_context, char *p_path, void *p_message,
                                   unsigned char block_type, int num, unsigned char more,
                                   unsigned int size);
/* The block option `type` of a response: NUM, M and the block size (16 <<
 * SZX; SZX 7, which RFC 7959 reserves, gives 2048). 0; < 0 when absent;
 * 1 when present with a size above 512, as G1's parser does (its callers
 * ignore it, spec §3.3). */
int ota_IOT_CoAP_ParseOption_block(void *p_message, int type, unsigned int *num,
                                   unsigned int *more, unsigned int *size);
int ota_IOT_CoAP_GetMessagePayload(void *p_message, unsigned char **pp_payload, int *p_len);
/* *p_resp_code (iotx_coap_resp_code_t *): the response code, class << 5 | detail. */
int ota_IOT_CoAP_GetMessageCode(void *p_message, void *p_resp_code);
/* otahil addition, not in G1: the value of option `number` of a response
 * (ETag, Size2) into buf (*len in: its size, out: the value's length). 0, or
 * < 0 when the option is absent or longer than *len. */
int ota_IOT_CoAP_GetMessageOption(void *p_message, int number, unsigned char *buf, int *len);
int ota_IOT_CoAP_Deinit(void **pp_context);

#ifdef __cplusplus
}
#endif

#endif /* OTA_HAL_OS_H */
