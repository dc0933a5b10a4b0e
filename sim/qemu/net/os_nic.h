/*
 * os_nic.h - the network half of the firmware's host services when the
 * firmware brings its own IP stack (docs/qemu.md, "Own IP stack"): TCP
 * sockets over sim/qemu/net/ipstack.c on the LAN9118, and the device's MQTT
 * session over sim/util/mqttc.c with the signed credentials of
 * sim/util/mqttsign.c, instead of the mailbox relay. Built into the
 * nic-*.elf programs only (os_qemu.c compiled with OTAHIL_QEMU_NIC).
 */
#ifndef OTAHIL_OS_NIC_H
#define OTAHIL_OS_NIC_H

struct otahil_fw_ops;
struct qmbox_cfg;

/* Points ops' sockets, MQTT, idle and msleep at the firmware's own stack;
 * TLS and CoAP are left out (NULL: those calls fail). The LAN9118 and the
 * IP stack (guest 10.0.2.15/24, gateway 10.0.2.2: QEMU's user network) come
 * up at the first network call, so the bootloader program never touches
 * them. The broker is q->mqtt_host:q->mqtt_port. 0, or -1 (q is not for
 * this firmware: no nic, bad broker address). */
int qemu_nic_setup(struct otahil_fw_ops *ops, const struct qmbox_cfg *q);

#endif
