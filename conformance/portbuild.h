/*
 * portbuild.h - a vendor's port, built for certification: the device under
 * test (a device process, as otahil-dut) and the firmware object the sweeps
 * boot in process, from the vendor's unchanged sources compiled against
 * include/ with the system C compiler (the Makefile's vendor-port target);
 * or, for the QEMU target, its boot chain built with arm-none-eabi-gcc
 * (vendor-port-qemu).
 */
#ifndef OTAHIL_PORTBUILD_H
#define OTAHIL_PORTBUILD_H

#include <stddef.h>

/* Finds the hal_ota_module_t variable the sources define ("struct
 * hal_ota_module_s NAME =" or "hal_ota_module_t NAME ="). 0 with the name,
 * or -1 with one line in err (none, or more than one). */
int portbuild_find_module(const char *const *srcs, int n, char *name, size_t namen, char *err,
                          size_t errn);

/* Builds srcs into outdir: outdir/otahil-dut and outdir/port.so. module
 * NULL: found in the sources. The compiler's messages go to stderr as it
 * gives them; an undefined symbol gets a hint. 0, or -1 with one line in err
 * (the compiler's first error line, FILE:LINE: error: ..., when it gave one). */
int portbuild(const char *const *srcs, int n, const char *module, const char *outdir, char *dut,
              size_t dutn, char *so, size_t son, char *err, size_t errn);

/* The same for the QEMU target (the Makefile's vendor-port-qemu, docs/qemu.md):
 * srcs compiled by arm-none-eabi-gcc with the firmware's flags and linked
 * with the firmware's fixed part (build/qemu/libotahil-fw.a) into
 * outdir/port-boot.elf (the bootloader program) and outdir/port-app-v1.bin,
 * port-app-v2.bin (the application programs). boot gets the bootloader
 * program's absolute path, the --port value that runs this chain
 * (run_opts.port). Returns as portbuild. */
int portbuild_qemu(const char *const *srcs, int n, const char *module, const char *outdir,
                   char *boot, size_t bootn, char *err, size_t errn);

#endif
