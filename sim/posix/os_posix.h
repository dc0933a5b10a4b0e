/* os_posix.h - configuration of the native device's OS port layer. */
#ifndef OS_POSIX_H
#define OS_POSIX_H

struct os_posix_cfg {
    const char *broker_host;
    int         broker_port;
    const char *pk, *dn, *ds;
    void      (*on_connected)(void); /* called on every MQTT (re)connect */
};

void os_posix_configure(const struct os_posix_cfg *cfg);
/* 1 while the MQTT session is up. */
int os_posix_mqtt_connected(void);

#endif
