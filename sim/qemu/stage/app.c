/*
 * app.c - the QEMU target's application program (build/qemu/app-*.elf,
 * linked by app.ld for the RAM execution area, wrapped as the payload of an
 * otahil image): the agent, the port, the KV store and the flash model over
 * the file-backed flash, started by the bootloader program (stage/boot.c)
 * with the hand-off record that names the slot and image it booted.
 * OTAHIL_APP_VERSION is the version the build was made for; the console line
 * shows it. docs/qemu.md, "Boot chain".
 */
#include <stdio.h>
#include <string.h>

#include "sim/boot/boot.h"
#include "sim/fw/fw.h"
#include "sim/qemu/qboot.h"
#include "sim/qemu/qemu_fw.h"

#ifndef OTAHIL_APP_VERSION
#error "OTAHIL_APP_VERSION: the application's version, as its image header says it"
#endif

int qemu_stage_run(const struct otahil_fw_config *cfg, const struct otahil_fw_ops *ops)
{
    volatile struct qboot_handoff *h = QBOOT_HANDOFF;
    char line[200];
    if (h->magic != QBOOT_HANDOFF_MAGIC) {
        static const char msg[] = "otahil-app: no hand-off record (start me through the bootloader)\n";
        qemu_uart0_write(msg, sizeof(msg) - 1);
        return OTAHIL_FW_HARNESS;
    }
    struct boot_result br;
    memset(&br, 0, sizeof(br));
    br.slot = h->slot;
    memcpy(&br.image, (const void *)&h->image, sizeof(br.image));
    br.image.version[IMAGE_VERSION_LEN] = 0;
    h->magic = 0;
    int n = snprintf(line, sizeof(line), "otahil-app: %s running from 0x%08lx (slot 0x%08lx)\n",
                     OTAHIL_APP_VERSION, (unsigned long)QBOOT_EXEC_ADDR,
                     (unsigned long)h->slot_addr);
    qemu_uart0_write(line, (size_t)n);
    return otahil_fw_app_stage(cfg, ops, &br);
}
