/* dut_exit.c - names of the device's exit statuses. */
#include "sim/device/dut.h"

const char *dut_exit_name(int code)
{
    switch (code) {
    case DUT_EXIT_OFF: return "off";
    case DUT_EXIT_HARNESS: return "harness-error";
    case DUT_EXIT_REBOOT: return "reboot";
    case DUT_EXIT_CRASH: return "crash";
    case DUT_EXIT_BRICKED: return "bricked";
    case DUT_EXIT_CUT: return "power-cut";
    default: return "unknown";
    }
}
