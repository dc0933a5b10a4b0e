/*
 * qboot.h - the QEMU target's boot chain (docs/qemu.md, "Boot chain"): the
 * bootloader program (sim/qemu/stage/boot.c, linked at 0x0 by boot.ld) runs
 * the bootloader model, copies the payload of the booted slot's image (the
 * application program, linked by app.ld for the execution area) from the
 * file-backed flash into RAM at QBOOT_EXEC_ADDR, leaves the hand-off record
 * below and jumps through the application's vector table. Guest only.
 *
 * RAM (0x20000000, 4 MiB):
 *   0x20000000  QBOOT_EXEC_SIZE   the application's code, rodata and .data image
 *   0x200F0000  4 KiB             the hand-off record (neither program's data)
 *   0x20100000  3 MiB             data, bss, heap, stack of the running program
 */
#ifndef OTAHIL_QBOOT_H
#define OTAHIL_QBOOT_H

#include <stdint.h>
#include "sim/image/image.h"

#define QBOOT_EXEC_ADDR    0x20000000u
#define QBOOT_EXEC_SIZE    0x000F0000u   /* 960 KiB: a slot's size on the QEMU boards */
#define QBOOT_HANDOFF_ADDR 0x200F0000u
#define QBOOT_RAM_ADDR     0x20100000u
#define QBOOT_RAM_END      0x20400000u
#define QBOOT_HANDOFF_MAGIC 0x46464F48u  /* "HOFF" */
#define QBOOT_APP_MAGIC    0x50504148u   /* "HAPP": vector table word 7 (reserved) of an application */
#define QBOOT_APP_VECTOR   7

/* What the bootloader tells the application it started. */
struct qboot_handoff {
    uint32_t magic;                       /* QBOOT_HANDOFF_MAGIC */
    int32_t  slot;                        /* partition id booted */
    uint32_t slot_addr;                   /* its address */
    struct image_info image;              /* the booted image's header */
};

#define QBOOT_HANDOFF ((volatile struct qboot_handoff *)QBOOT_HANDOFF_ADDR)

#endif
