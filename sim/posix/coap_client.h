/*
 * coap_client.h - the host's CoAP client (coap_client.c): it provides the
 * ota_IOT_CoAP_* calls of ota_hal_os.h with libcoap, for the native device
 * (os_posix.c) and for the QEMU relay serving the firmware's CoAP requests
 * (conformance/qemu.c). Host code.
 */
#ifndef OTAHIL_COAP_CLIENT_H
#define OTAHIL_COAP_CLIENT_H

/* The CA file (PEM) coaps:// servers must chain to and that makes DTLS use
 * certificates; NULL: DTLS with the pre-shared key "PK&DN" / device secret.
 * The string must outlive every client made after the call. */
void coap_client_ca(const char *ca_file);

#endif
