/*
 * one.c - the single-program QEMU firmware (build/qemu/otahil-fw.elf): the
 * bootloader model and the application in one ELF, as every firmware object
 * build/fw/PORT.so (sim/fw/fw_main.c's otahil_fw_boot). docs/qemu.md.
 */
#include "sim/fw/fw.h"
#include "sim/qemu/qemu_fw.h"

int otahil_fw_boot(const struct otahil_fw_config *cfg, const struct otahil_fw_ops *ops);

int qemu_stage_run(const struct otahil_fw_config *cfg, const struct otahil_fw_ops *ops)
{
    return otahil_fw_boot(cfg, ops);
}
