/* cmd_sweep.c - `otahil sweep`: the port-level power-cut sweep. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/commands.h"
#include "conformance/common.h"
#include "conformance/sweep.h"
#include "sim/flash/flashsim.h"
#include "sim/util/defaults.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: otahil sweep [--board B] [--port P] [--mode before|after|torn|erase]\n"
            "                    [--phase P] [--stride K] [--first K] [--jobs N] [--seed S]\n"
            "                    [--image-size N] [--no-resume] [--max-boots N]\n"
            "                    [--point K [--events FILE|-] [--flash-out FILE]]\n"
            "                    [--expect INVARIANT] [--e2e] [--no-memo] [--fork] [--quiet]\n"
            "Runs the update once to number its flash operations, then once per cut point\n"
            "with power cut at that operation, from the same pre-update flash, rebooting\n"
            "until the update completes, and checks the invariants (docs/sweep.md).\n"
            "  --port P      firmware object: a port name (build/fw/P.so) or a path; default reference\n"
            "  --mode M      before: the op never happens; after: it completes, then power goes;\n"
            "                torn: a prefix lands and one program unit holds mixed bits;\n"
            "                erase: an interrupted erase leaves bytes not yet 0xFF\n"
            "  --phase P     only ops of this phase: init-erase, download-write, breakpoint-save,\n"
            "                boot-record, bootloader-copy, boot-counter, confirm, kv-write\n"
            "  --point K     replay cut point K alone, with its event log\n"
            "  --e2e         end to end: the device talks to a real Mosquitto broker, the civetweb\n"
            "                firmware server and the cloud service (slower; same verdicts)\n"
            "  --no-memo     run every recovery in full, even from a state already seen to pass\n"
            "  --fork        run each cut point in a child forked from the clean run instead of in\n"
            "                process from a snapshot (what sanitizer builds do; same verdicts)\n"
            "  --expect INV  self-test: exit 0 only when invariant INV fails at some point\n"
            "Exit 0 every point holds, 1 a failure, 2 harness error.\n");
}

int cmd_sweep(int argc, char **argv)
{
    struct sweep_opts o;
    sweep_defaults(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint32_t u;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--no-resume")) o.no_resume = 1;
        else if (!strcmp(a, "--quiet")) o.quiet = 1;
        else if (!strcmp(a, "--e2e")) o.e2e = 1;
        else if (!strcmp(a, "--no-memo")) o.no_memo = 1;
        else if (!strcmp(a, "--fork")) o.fork_points = 1;
        else if (!v) {
            fprintf(stderr, "otahil sweep: unknown or incomplete option '%s' (otahil sweep --help)\n", a);
            return OTAHIL_EXIT_HARNESS;
        } else if (!strcmp(a, "--board")) { o.board = v; i++; }
        else if (!strcmp(a, "--port")) { o.port = v; i++; }
        else if (!strcmp(a, "--mode")) {
            int m = flashsim_fault_parse(v);
            if (m != FLASHSIM_F_CUT_BEFORE && m != FLASHSIM_F_CUT_AFTER && m != FLASHSIM_F_TORN &&
                m != FLASHSIM_F_PARTIAL_ERASE) {
                fprintf(stderr, "otahil sweep: --mode '%s': expected before, after, torn or erase\n", v);
                return OTAHIL_EXIT_HARNESS;
            }
            o.mode = m;
            i++;
        } else if (!strcmp(a, "--phase")) {
            int p = flashsim_phase_parse(v);
            if (p <= 0) {
                fprintf(stderr, "otahil sweep: --phase '%s': unknown phase (otahil sweep --help)\n", v);
                return OTAHIL_EXIT_HARNESS;
            }
            o.phase = p;
            i++;
        } else if (!strcmp(a, "--expect")) {
            o.expect = sweep_inv_parse(v);
            if (o.expect <= 0) {
                fprintf(stderr, "otahil sweep: --expect '%s': unknown invariant\n", v);
                return OTAHIL_EXIT_HARNESS;
            }
            i++;
        } else if (!strcmp(a, "--events")) { o.events = v; i++; }
        else if (!strcmp(a, "--flash-out")) { o.flash_out = v; i++; }
        else if (!strcmp(a, "--seed")) { o.seed = strtoull(v, NULL, 0); i++; }
        else if (parse_u32(v, &u) != 0) {
            fprintf(stderr, "otahil sweep: %s '%s': expected a number\n", a, v);
            return OTAHIL_EXIT_HARNESS;
        } else if (!strcmp(a, "--stride") && u > 0) { o.stride = u; i++; }
        else if (!strcmp(a, "--first") && u > 0) { o.first = u; i++; }
        else if (!strcmp(a, "--jobs") && u > 0 && u <= 64) { o.jobs = (int)u; i++; }
        else if (!strcmp(a, "--image-size") && u > 0) { o.image_size = u; i++; }
        else if (!strcmp(a, "--max-boots") && u > 1) { o.max_boots = u; i++; }
        else if (!strcmp(a, "--point") && u > 0) { o.point = (long)u; i++; }
        else {
            fprintf(stderr, "otahil sweep: %s %s: out of range or unknown option\n", a, v);
            return OTAHIL_EXIT_HARNESS;
        }
    }
    struct sweep_summary s;
    char err[512];
    int rc = sweep_run(&o, &s, stdout, err, sizeof(err));
    if (rc == 2) {
        fprintf(stderr, "otahil sweep: %s\n", err);
        return OTAHIL_EXIT_HARNESS;
    }
    if (o.point <= 0)
        printf("sweep%s: board %s, port %s, mode %s%s%s: %u flash ops, %u cut points checked, %u failed"
               " (%.2f s, %.0f points/s)\n",
               o.e2e ? " (end to end)" : "", o.board, o.port, flashsim_fault_name(o.mode), o.phase ? ", phase " : "",
               o.phase ? flashsim_phase_name(o.phase) : "", s.ops, s.points, s.failures, s.seconds,
               s.seconds > 0 ? s.points / s.seconds : 0.0);
    if (o.point <= 0 && !o.quiet && s.memo_hits)
        printf("memo: %u of %u recoveries reached a state already seen to pass (--no-memo runs them all)\n",
               s.memo_hits, s.points);
    if (o.expect) {
        if (s.inv_fail[o.expect]) {
            printf("expected: invariant %s failed at %u point(s): caught\n", sweep_inv_name(o.expect),
                   s.inv_fail[o.expect]);
            return 0;
        }
        printf("expected invariant %s to fail, but it held at every point\n", sweep_inv_name(o.expect));
        return 1;
    }
    return rc;
}
