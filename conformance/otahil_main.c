/* otahil_main.c - the otahil command: one binary, one subcommand per job. */
#include <stdio.h>
#include <string.h>

#include "conformance/cmd_cloud.h"
#include "conformance/cmd_proxy.h"
#include "conformance/commands.h"
#include "sim/util/defaults.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} cmds[] = {
    { "cloud", cmd_cloud, "run the fake cloud (broker, firmware server) in the foreground" },
    { "device", cmd_device, "run a simulated device against a running cloud" },
    { "push", cmd_push, "ask a running cloud to push an image to a device" },
    { "proxy", cmd_proxy, "forward a cloud port with seeded transport faults (latency, resets, ...)" },
    { "image", cmd_image, "make or inspect a firmware image" },
    { "flash", cmd_flash, "inspect, dump, provision or factory-reset a flash file" },
    { "board", cmd_board, "check a board file: partition table, overlaps" },
    { "run", cmd_run, "run one case end to end and print PASS or FAIL" },
    { "certify", cmd_certify, "certify a port: the conformance catalogue, with an HTML/JUnit/JSON report" },
    { "catalogue", cmd_catalogue, "list the conformance cases (or write docs/conformance.md)" },
    { "repro", cmd_repro, "replay one case of a certification from its repro folder" },
    { "sweep", cmd_sweep, "cut power at every flash operation of an update and check recovery" },
};

static void help(FILE *f)
{
    fprintf(f, "usage: otahil <command> [options]   (otahil <command> --help)\n\n");
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        fprintf(f, "  %-9s %s\n", cmds[i].name, cmds[i].help);
    fprintf(f, "\nExit codes: 0 pass, 1 a check failed, 2 harness error or bad invocation.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        help(stderr);
        return OTAHIL_EXIT_HARNESS;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("otahil %s\n", OTAHIL_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        help(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (!strcmp(argv[1], cmds[i].name))
            return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "otahil: unknown command '%s' (otahil help)\n", argv[1]);
    return OTAHIL_EXIT_HARNESS;
}
