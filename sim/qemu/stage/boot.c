/*
 * boot.c - the QEMU target's bootloader program (build/qemu/otahil-boot.elf,
 * loaded by -kernel at 0x0, which QEMU reloads at every reset, as a boot ROM
 * is): the bootloader model of sim/boot (copy or pingpong, the same code as
 * every device) over the file-backed flash, then the application the booted
 * slot holds. The slot's image payload is the application program, linked
 * for the RAM execution area (sim/qemu/qboot.h): it is copied there from
 * the memory-mapped flash, checked to be a program (its vector table's
 * marker word, stack and entry inside the areas), and entered as a reset
 * would enter it: interrupts off, SysTick stopped, VTOR and MSP from its
 * table, a branch to its reset handler. A slot whose image is not a program
 * (an image made from a seed) crashes the boot, as a jump into garbage
 * would. docs/qemu.md, "Boot chain".
 */
#include <stdio.h>
#include <string.h>

#include "hal/soc/soc.h"
#include "sim/boot/boot.h"
#include "sim/fw/fw.h"
#include "sim/qemu/qboot.h"
#include "sim/qemu/qemu_fw.h"
#include "sim/util/event.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)
#define NVIC_ICER0 (*(volatile uint32_t *)0xE000E180u)
#define NVIC_ICPR0 (*(volatile uint32_t *)0xE000E280u)

static const char *slot_name(int part)
{
    return part == HAL_PARTITION_OTA_TEMP ? "OTA_TEMP" : "APPLICATION";
}

/* Why the payload is no program to run, or NULL. */
static const char *not_a_program(const uint32_t *vec, uint32_t len)
{
    if (len < 4u * 16u)
        return "payload shorter than a vector table";
    if (len > QBOOT_EXEC_SIZE)
        return "payload larger than the execution area";
    if (vec[QBOOT_APP_VECTOR] != QBOOT_APP_MAGIC)
        return "no application marker in the vector table";
    if (vec[0] <= QBOOT_RAM_ADDR || vec[0] > QBOOT_RAM_END || (vec[0] & 7u))
        return "initial stack pointer outside the application's RAM";
    if (!(vec[1] & 1u) || vec[1] < QBOOT_EXEC_ADDR || vec[1] >= QBOOT_EXEC_ADDR + len)
        return "reset vector outside the payload";
    return NULL;
}

static void enter(uint32_t sp, uint32_t pc) __attribute__((noreturn));
static void enter(uint32_t sp, uint32_t pc)
{
    __asm__ volatile("cpsid i" ::: "memory");
    SYST_CSR = 0;
    NVIC_ICER0 = 0xFFFFFFFFu;
    NVIC_ICPR0 = 0xFFFFFFFFu;
    SCB_VTOR = QBOOT_EXEC_ADDR;
    __asm__ volatile("dsb\n\tisb\n\tmsr msp, %0\n\tbx %1" : : "r"(sp), "r"(pc) : "memory");
    __builtin_unreachable();
}

int qemu_stage_run(const struct otahil_fw_config *cfg, const struct otahil_fw_ops *ops)
{
    struct boot_result br;
    int end = otahil_fw_boot_stage(cfg, ops, &br);
    if (end != OTAHIL_FW_IDLE)
        return end;
    const struct flashsim_part *p = NULL;
    for (int i = 0; i < cfg->nparts; i++)
        if (cfg->parts[i].id == br.slot)
            p = &cfg->parts[i];
    if (!p)
        return OTAHIL_FW_HARNESS;
    uint32_t addr = cfg->flash_base + p->start, len = br.image.payload_len;
    const uint8_t *payload = cfg->flash_mem + p->start + IMAGE_HEADER_SIZE;
    /* The slot's image verified (header, footer, MD5): its payload lies in the slot. */
    static uint32_t vec[16];
    memcpy(vec, payload, len < sizeof(vec) ? len : sizeof(vec));
    const char *why = not_a_program(vec, len);
    if (why) {
        otahil_event("boot", "boot.not_a_program", "\"slot\":\"%s\",\"why\":\"%s\"",
                     slot_name(br.slot), why);
        return OTAHIL_FW_CRASHED;
    }
    memcpy((void *)QBOOT_EXEC_ADDR, payload, len);
    volatile struct qboot_handoff *h = QBOOT_HANDOFF;
    h->slot = br.slot;
    h->slot_addr = addr;
    memcpy((void *)&h->image, &br.image, sizeof(br.image));
    h->magic = QBOOT_HANDOFF_MAGIC;
    otahil_event("boot", "boot.jump",
                 "\"slot\":\"%s\",\"from\":\"0x%08lx\",\"to\":\"0x%08lx\",\"len\":%lu,"
                 "\"entry\":\"0x%08lx\"",
                 slot_name(br.slot), (unsigned long)(addr + IMAGE_HEADER_SIZE),
                 (unsigned long)QBOOT_EXEC_ADDR, (unsigned long)len, (unsigned long)vec[1]);
    char line[160];
    int n = snprintf(line, sizeof(line), "otahil-boot: %s %s, %lu bytes to 0x%08lx\n",
                     slot_name(br.slot), br.image.version, (unsigned long)len,
                     (unsigned long)QBOOT_EXEC_ADDR);
    qemu_uart0_write(line, (size_t)n);
    enter(vec[0], vec[1]);
}
