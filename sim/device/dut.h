/*
 * dut.h - the simulated device under test: one process per boot. Exit
 * status tells the supervisor how the boot ended.
 */
#ifndef OTAHIL_DUT_H
#define OTAHIL_DUT_H

#define DUT_EXIT_OFF      0  /* powered off (SIGTERM from the supervisor) */
#define DUT_EXIT_HARNESS  2  /* the simulation itself failed (bad flash file, ...) */
#define DUT_EXIT_REBOOT   10 /* the firmware rebooted itself */
#define DUT_EXIT_CRASH    11 /* the image crashed at boot (watchdog reset) */
#define DUT_EXIT_BRICKED  12 /* the bootloader found no valid image: the device halts */
#define DUT_EXIT_CUT      13 /* power was cut at a flash operation */

const char *dut_exit_name(int code);

#endif
