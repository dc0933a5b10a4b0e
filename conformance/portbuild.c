/* portbuild.c - building a vendor's port for certification (portbuild.h):
 * the Makefile's vendor-port (the system compiler) or vendor-port-qemu
 * (arm-none-eabi-gcc) over the vendor's unchanged sources. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conformance/common.h"
#include "conformance/portbuild.h"

/* Skips blanks and comments. */
static const char *skip_ws(const char *p)
{
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e ? e + 2 : p + strlen(p);
        } else if (p[0] == '/' && p[1] == '/') {
            while (*p && *p != '\n')
                p++;
        } else {
            return p;
        }
    }
}

static int is_ident(int c) { return isalnum(c) || c == '_'; }

int portbuild_find_module(const char *const *srcs, int n, char *name, size_t namen, char *err,
                          size_t errn)
{
    char found[8][128];
    int nf = 0;
    for (int i = 0; i < n; i++) {
        uint8_t *text;
        size_t len;
        if (read_file(srcs[i], &text, &len, err, errn) != 0)
            return -1;
        char *t = realloc(text, len + 1);
        if (!t) {
            free(text);
            snprintf(err, errn, "out of memory");
            return -1;
        }
        t[len] = '\0';
        static const char *const types[] = { "struct hal_ota_module_s", "hal_ota_module_t" };
        for (int k = 0; k < 2; k++)
            for (const char *p = strstr(t, types[k]); p; p = strstr(p + 1, types[k])) {
                if (p > t && is_ident((unsigned char)p[-1]))
                    continue;
                const char *q = skip_ws(p + strlen(types[k]));
                if (!(isalpha((unsigned char)*q) || *q == '_'))
                    continue;
                const char *e = q;
                while (is_ident((unsigned char)*e))
                    e++;
                if (*skip_ws(e) != '=' || nf >= 8)
                    continue;
                snprintf(found[nf++], sizeof(found[0]), "%.*s", (int)(e - q), q);
            }
        free(t);
    }
    if (nf == 0) {
        snprintf(err, errn, "no hal_ota_module_t variable defined in the port's sources (a port defines "
                 "`struct hal_ota_module_s NAME = { .init = ..., ... };`); name it with `module = NAME` "
                 "in the profile");
        return -1;
    }
    for (int i = 1; i < nf; i++)
        if (strcmp(found[i], found[0]) != 0) {
            snprintf(err, errn, "the port's sources define more than one hal_ota_module_t (%s, %s): "
                     "choose one with `module = NAME` in the profile", found[0], found[i]);
            return -1;
        }
    snprintf(name, namen, "%s", found[0]);
    return 0;
}

/* The build folder this executable belongs to (build or build/san). */
static int build_dir(char *out, size_t n)
{
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (k <= 0)
        return -1;
    exe[k] = '\0';
    char *s = strrchr(exe, '/');
    if (!s)
        return -1;
    *s = '\0'; /* .../bin */
    s = strrchr(exe, '/');
    if (!s)
        return -1;
    *s = '\0';
    snprintf(out, n, "%s", exe);
    return 0;
}

/* The first of the compiler's lines that says where the build failed
 * ("FILE:LINE:COL: error: ...", the linker's "FILE:(...): undefined
 * reference ..."), kept for the one-line error. */
static void note_first_error(const char *line, char *first, size_t n)
{
    if (first[0] || !(strstr(line, "error:") || strstr(line, "undefined reference to `") ||
                      strstr(line, "referenced in expression")))
        return;
    const char *ld = strstr(line, "/ld:"); /* the linker's own path, before the file */
    if (ld && ld - line < (long)strcspn(line, " "))
        line = ld + strlen("/ld:") + (ld[strlen("/ld:")] == ' ');
    snprintf(first, n, "%.*s", (int)strcspn(line, "\n"), line);
}

/* Runs the Makefile's target (vendor-port or vendor-port-qemu) over srcs
 * with the module name; outdir is made absolute into out (PATH_MAX bytes). The compiler's
 * messages are copied to stderr; undefined symbols get hints. */
static int build_port(const char *const *srcs, int n, const char *module, const char *outdir,
                      const char *target, const char *what, char out[PATH_MAX], char *err,
                      size_t errn)
{
    char mod[128], mk[PATH_MAX], src[PATH_MAX], bdir[PATH_MAX];
    char *abs[64];
    if (n < 1 || n > 64) {
        snprintf(err, errn, "--port: between 1 and 64 source files");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        abs[i] = realpath(srcs[i], NULL);
        if (!abs[i]) {
            snprintf(err, errn, "--port %s: %s", srcs[i], strerror(errno));
            for (int j = 0; j < i; j++)
                free(abs[j]);
            return -1;
        }
    }
    int rc = -1;
    FILE *p = NULL;
    char *cmd = NULL;
    if (module)
        snprintf(mod, sizeof(mod), "%s", module);
    else if (portbuild_find_module((const char *const *)abs, n, mod, sizeof(mod), err, errn) != 0)
        goto out;
    for (const char *c = mod; *c; c++)
        if (!is_ident((unsigned char)*c)) {
            snprintf(err, errn, "module '%s': not a C identifier", mod);
            goto out;
        }
    if (otahil_source_path("Makefile", mk, sizeof(mk)) != 0 || build_dir(bdir, sizeof(bdir)) != 0) {
        snprintf(err, errn, "cannot find the otahil source tree (set OTAHIL_SRC)");
        goto out;
    }
    snprintf(src, sizeof(src), "%.*s", (int)(strrchr(mk, '/') ? strrchr(mk, '/') - mk : 1),
             strrchr(mk, '/') ? mk : ".");
    if (mkdir_p(outdir) != 0 || !realpath(outdir, out)) {
        snprintf(err, errn, "%s: %s", outdir, strerror(errno));
        goto out;
    }
    size_t cap = 4096 + (size_t)n * PATH_MAX, l;
    cmd = malloc(cap);
    if (!cmd) {
        snprintf(err, errn, "out of memory");
        goto out;
    }
    l = (size_t)snprintf(cmd, cap, "make -C '%s' --no-print-directory -s BUILD='%s' SAN=%d "
                         "VENDOR_MODULE=%s VENDOR_OUT='%s' VENDOR_SRCS='", src, bdir,
#if defined(__SANITIZE_ADDRESS__)
                         1,
#else
                         0,
#endif
                         mod, out);
    for (int i = 0; i < n; i++) {
        if (strchr(abs[i], '\'') || strchr(abs[i], ' ')) {
            snprintf(err, errn, "--port %s: a path with spaces or quotes cannot be built", abs[i]);
            goto out;
        }
        l += (size_t)snprintf(cmd + l, cap - l, "%s%s", i ? " " : "", abs[i]);
    }
    snprintf(cmd + l, cap - l, "' %s 2>&1", target);
    fprintf(stderr, "otahil: building the port (module %s)%s into %s\n", mod, what, out);
    p = popen(cmd, "r");
    if (!p) {
        snprintf(err, errn, "cannot run make: %s", strerror(errno));
        goto out;
    }
    char line[4096], undef[16][128], first[1024] = "";
    int nu = 0;
    while (fgets(line, sizeof(line), p)) {
        fputs(line, stderr);
        note_first_error(line, first, sizeof(first));
        /* ld's "undefined reference to `X'", or for a module bound by
         * --defsym (the QEMU link), "undefined symbol `X' referenced in expression" */
        const char *u = strstr(line, "undefined reference to `");
        if (u)
            u += strlen("undefined reference to `");
        else if ((u = strstr(line, "undefined symbol `")) != NULL && strstr(line, "in expression"))
            u += strlen("undefined symbol `");
        if (u && nu < 16) {
            size_t k = strcspn(u, "'");
            snprintf(undef[nu], sizeof(undef[0]), "%.*s", (int)k, u);
            int dup = 0;
            for (int j = 0; j < nu; j++)
                dup |= !strcmp(undef[j], undef[nu]);
            nu += !dup;
        }
    }
    int st = pclose(p);
    p = NULL;
    if (st != 0) {
        for (int j = 0; j < nu; j++)
            if (!strcmp(undef[j], mod))
                fprintf(stderr, "hint: the port's sources define no %s (the profile's module = names "
                        "the struct hal_ota_module_s variable; leave it out to find it)\n", mod);
            else
                fprintf(stderr, "hint: %s is not provided by otahil's porting API (include/): a "
                        "board-support call of the vendor's; define it in a small file and pass it "
                        "too (--port ota_port.c bsp_stubs.c)\n", undef[j]);
        if (strstr(first, "referenced in expression")) /* the module bound by --defsym */
            snprintf(err, errn, "the port does not build%s: module %s: the port's sources define "
                     "no such variable", what, mod);
        else if (first[0])
            snprintf(err, errn, "the port does not build%s: %s", what, first);
        else
            snprintf(err, errn, "the port does not build%s (the compiler's messages are above)", what);
        goto out;
    }
    rc = 0;
out:
    free(cmd);
    for (int i = 0; i < n; i++)
        free(abs[i]);
    return rc;
}

int portbuild(const char *const *srcs, int n, const char *module, const char *outdir, char *dut,
              size_t dutn, char *so, size_t son, char *err, size_t errn)
{
    char out[PATH_MAX];
    if (build_port(srcs, n, module, outdir, "vendor-port", "", out, err, errn) != 0)
        return -1;
    snprintf(dut, dutn, "%s/otahil-dut", out);
    snprintf(so, son, "%s/port.so", out);
    return 0;
}

int portbuild_qemu(const char *const *srcs, int n, const char *module, const char *outdir,
                   char *boot, size_t bootn, char *err, size_t errn)
{
    char out[PATH_MAX];
    if (build_port(srcs, n, module, outdir, "vendor-port-qemu", " for the QEMU target", out, err,
                   errn) != 0)
        return -1;
    snprintf(boot, bootn, "%s/port-boot.elf", out);
    return 0;
}
