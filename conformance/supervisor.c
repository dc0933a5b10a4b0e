/*
 * supervisor.c - the native device supervisor: each boot is a fresh
 * otahil-dut process, so a reboot really loses all RAM state and only what
 * reached the flash file survives.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conformance/supervisor.h"
#include "sim/device/dut.h"
#include "sim/util/evlog.h"

int otahil_sibling_exe(const char *name, char *out, size_t n)
{
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (len <= 0)
        return -1;
    self[len] = 0;
    char *slash = strrchr(self, '/');
    if (!slash)
        return -1;
    *slash = 0;
    if ((size_t)snprintf(out, n, "%s/%s", self, name) >= n)
        return -1;
    return access(out, X_OK) == 0 ? 0 : -1;
}

int supervisor_init(struct supervisor *s, const struct supervisor_opts *o, char *err, size_t n)
{
    memset(s, 0, sizeof(*s));
    s->o = *o;
    if (o->dut) {
        snprintf(s->dut, sizeof(s->dut), "%s", o->dut);
    } else if (otahil_sibling_exe("otahil-dut", s->dut, sizeof(s->dut)) != 0) {
        snprintf(err, n, "cannot find otahil-dut beside this executable (run make)");
        return -1;
    }
    return 0;
}

int supervisor_boot(struct supervisor *s, char *err, size_t n)
{
    char delay[32], fdelay[32], tfrag[32], theap[32];
    snprintf(delay, sizeof(delay), "%ld", s->o.reboot_delay_ms);
    snprintf(fdelay, sizeof(fdelay), "%u", s->o.flash_delay_us);
    snprintf(tfrag, sizeof(tfrag), "%u", s->o.tls_fragment);
    snprintf(theap, sizeof(theap), "%u", s->o.tls_heap);
    const char *argv[32];
    int k = 0;
    argv[k++] = s->dut;
    argv[k++] = "--board"; argv[k++] = s->o.board;
    argv[k++] = "--flash"; argv[k++] = s->o.flash;
    argv[k++] = "--broker"; argv[k++] = s->o.broker;
    argv[k++] = "--pk"; argv[k++] = s->o.pk;
    argv[k++] = "--dn"; argv[k++] = s->o.dn;
    argv[k++] = "--secret"; argv[k++] = s->o.secret;
    argv[k++] = "--reboot-delay-ms"; argv[k++] = delay;
    if (s->o.events) { argv[k++] = "--events"; argv[k++] = s->o.events; }
    if (!s->o.resume) argv[k++] = "--no-resume";
    if (s->o.flash_delay_us) { argv[k++] = "--flash-delay-us"; argv[k++] = fdelay; }
    if (s->o.ca) { argv[k++] = "--ca"; argv[k++] = s->o.ca; }
    if (s->o.mqtts) argv[k++] = "--mqtts";
    if (s->o.tls_fragment) { argv[k++] = "--tls-fragment"; argv[k++] = tfrag; }
    if (s->o.tls_heap) { argv[k++] = "--tls-heap"; argv[k++] = theap; }
    if (s->o.coap) { argv[k++] = "--coap"; argv[k++] = s->o.coap; }
    if (s->o.coap && s->o.coap_dl) argv[k++] = "--coap-dl";
    if (s->o.cut) { argv[k++] = "--cut-at"; argv[k++] = s->o.cut; }
    if (s->o.firmware) { argv[k++] = "--firmware"; argv[k++] = s->o.firmware; }
    if (s->o.nic) { argv[k++] = "--net"; argv[k++] = "user"; }
    argv[k] = NULL;

    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, n, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execv(s->dut, (char *const *)argv);
        fprintf(stderr, "otahil: exec %s: %s\n", s->dut, strerror(errno));
        _exit(DUT_EXIT_HARNESS);
    }
    s->pid = pid;
    s->boots++;
    return 0;
}

int supervisor_poll(struct supervisor *s, struct boot_end *e)
{
    if (!s->pid)
        return 0;
    int st;
    pid_t r = waitpid(s->pid, &st, WNOHANG);
    if (r != s->pid)
        return 0;
    s->pid = 0;
    if (WIFEXITED(st)) {
        e->code = WEXITSTATUS(st);
        e->signal = 0;
    } else {
        e->code = -1;
        e->signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    }
    return 1;
}

void supervisor_stop(struct supervisor *s)
{
    if (!s->pid)
        return;
    kill(s->pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            return;
        }
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}
