/* aos/log.h - AliOS logging macros, routed to the device's event log. */
#ifndef AOS_LOG_H
#define AOS_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

/* printf-style line into the device log (event "port.log"). */
void otahil_port_log(const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#ifndef LOG
#define LOG(fmt, ...) otahil_port_log("LOG", fmt, ##__VA_ARGS__)
#endif
#define LOGD(mod, fmt, ...) otahil_port_log(mod, fmt, ##__VA_ARGS__)
#define LOGI(mod, fmt, ...) otahil_port_log(mod, fmt, ##__VA_ARGS__)
#define LOGW(mod, fmt, ...) otahil_port_log(mod, fmt, ##__VA_ARGS__)
#define LOGE(mod, fmt, ...) otahil_port_log(mod, fmt, ##__VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif /* AOS_LOG_H */
