/*
 * test_evlog.c - the event log: seq is global, gap-free and in file order
 * across processes and threads; every line is one JSON object; echo, no-op
 * when closed, long lines, reopen, otahil_event(); per-thread routes to
 * other files (shared with another process, more files than the cache).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sim/util/event.h"
#include "sim/util/evlog.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILDREN   4
#define THREADS    3
#define PER_THREAD 150
#define PARENT_EVS 100

static char tmpdir[64];
static char logpath[128];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/otahil-evlog-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    char cmd[160];

    (void)state;
    evlog_close();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void fresh_log(const char *name)
{
    char seq[160];

    snprintf(logpath, sizeof logpath, "%s/%s", tmpdir, name);
    snprintf(seq, sizeof seq, "%s.seq", logpath);
    unlink(logpath);
    unlink(seq);
}

/* Reads the log: an array of lines (caller frees each and the array). */
static char **read_lines(const char *path, int *n)
{
    FILE *f = fopen(path, "r");
    char **lines = NULL, *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int k = 0;

    assert_non_null(f);
    while ((len = getline(&line, &cap, f)) > 0) {
        lines = realloc(lines, sizeof *lines * (size_t)(k + 1));
        assert_non_null(lines);
        assert_int_equal(line[len - 1], '\n');
        line[len - 1] = '\0';
        lines[k++] = strdup(line);
    }
    free(line);
    fclose(f);
    *n = k;
    return lines;
}

static void free_lines(char **lines, int n)
{
    for (int i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

struct emitter {
    int child;
    int thread;
};

static void *emit_thread(void *arg)
{
    const struct emitter *e = arg;

    for (int i = 0; i < PER_THREAD; i++)
        evlog_emit("test", "tick", "\"child\":%d,\"thread\":%d,\"i\":%d", e->child, e->thread, i);
    return NULL;
}

static void run_child(int child, int reopen)
{
    struct emitter em[THREADS];
    pthread_t t[THREADS];

    /* Half the children keep the descriptors inherited from the parent,
     * half open the log themselves: both must share one sequence. */
    if (reopen && evlog_open(logpath) != 0)
        _exit(3);
    for (int k = 0; k < THREADS; k++) {
        em[k].child = child;
        em[k].thread = k;
        if (pthread_create(&t[k], NULL, emit_thread, &em[k]) != 0)
            _exit(4);
    }
    for (int k = 0; k < THREADS; k++)
        pthread_join(t[k], NULL);
    _exit(0);
}

static void test_seq_across_processes_and_threads(void **state)
{
    int last_i[CHILDREN + 1][THREADS];
    pid_t pids[CHILDREN];
    uint64_t last_t = 0, counter = 0;
    char **lines, seqpath[160];
    int n, fd, st;

    (void)state;
    fresh_log("multi.jsonl");
    assert_int_equal(evlog_open(logpath), 0);
    assert_string_equal(evlog_path(), logpath);
    fflush(stdout);
    fflush(stderr);
    for (int c = 0; c < CHILDREN; c++) {
        pids[c] = fork();
        assert_true(pids[c] >= 0);
        if (pids[c] == 0)
            run_child(c, c % 2);
    }
    for (int i = 0; i < PARENT_EVS; i++)
        evlog_emit("test", "tick", "\"child\":%d,\"thread\":0,\"i\":%d", CHILDREN, i);
    for (int c = 0; c < CHILDREN; c++) {
        assert_int_equal(waitpid(pids[c], &st, 0), pids[c]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }

    memset(last_i, -1, sizeof last_i);
    lines = read_lines(logpath, &n);
    assert_int_equal(n, CHILDREN * THREADS * PER_THREAD + PARENT_EVS);
    for (int k = 0; k < n; k++) {
        cJSON *o = cJSON_Parse(lines[k]);
        const cJSON *src, *ev;
        int child, thread, i;
        uint64_t t;

        if (!o)
            fail_msg("line %d is not JSON: %s", k + 1, lines[k]);
        /* seq is 1..N in file order, t_us never goes back */
        assert_int_equal((int)num(o, "seq"), k + 1);
        t = (uint64_t)num(o, "t_us");
        assert_true(t >= last_t);
        last_t = t;
        src = cJSON_GetObjectItemCaseSensitive(o, "src");
        ev = cJSON_GetObjectItemCaseSensitive(o, "ev");
        assert_true(cJSON_IsString(src) && strcmp(src->valuestring, "test") == 0);
        assert_true(cJSON_IsString(ev) && strcmp(ev->valuestring, "tick") == 0);
        /* each emitter's own events keep their program order */
        child = (int)num(o, "child");
        thread = (int)num(o, "thread");
        i = (int)num(o, "i");
        assert_in_range(child, 0, CHILDREN);
        assert_in_range(thread, 0, THREADS - 1);
        assert_int_equal(i, last_i[child][thread] + 1);
        last_i[child][thread] = i;
        cJSON_Delete(o);
    }
    for (int c = 0; c < CHILDREN; c++)
        for (int k = 0; k < THREADS; k++)
            assert_int_equal(last_i[c][k], PER_THREAD - 1);
    assert_int_equal(last_i[CHILDREN][0], PARENT_EVS - 1);
    free_lines(lines, n);

    /* the companion counter holds the last seq */
    snprintf(seqpath, sizeof seqpath, "%s.seq", logpath);
    fd = open(seqpath, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, &counter, sizeof counter), (ssize_t)sizeof counter);
    close(fd);
    assert_int_equal(counter, (uint64_t)n);
    evlog_close();
}

static void test_closed_log_is_a_noop(void **state)
{
    struct stat st;

    (void)state;
    evlog_close();
    assert_null(evlog_path());
    evlog_emit("test", "nowhere", "\"x\":%d", 1); /* must not crash or create anything */
    otahil_event("test", "nowhere", NULL);
    assert_int_equal(evlog_open(NULL), 0);
    assert_null(evlog_path());
    evlog_emit("test", "nowhere", NULL);
    fresh_log("never.jsonl");
    assert_int_equal(stat(logpath, &st), -1);
    /* a log that cannot be opened: -1, and the log stays closed */
    assert_int_equal(evlog_open("/nonexistent-dir/x/events.jsonl"), -1);
    assert_null(evlog_path());
}

static void test_fields_echo_and_long_lines(void **state)
{
    char big[6000], echoed[8192], **lines;
    char echopath[160];
    int n, saved, efd;
    ssize_t got;
    cJSON *o;

    (void)state;
    fresh_log("fields.jsonl");
    assert_int_equal(evlog_open(logpath), 0);

    /* no fields: exactly the four standard keys */
    evlog_emit("cloud", "cloud.started", NULL);
    /* a line longer than any stack buffer */
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    evlog_emit("test", "long", "\"blob\":\"%s\",\"n\":%d", big, 7);
    /* the device-side call forwards here */
    otahil_event("agent", "progress", "\"step\":%d,\"desc\":\"%s\"", 40, "downloading");

    /* echo copies the line to stderr */
    snprintf(echopath, sizeof echopath, "%s/echo.txt", tmpdir);
    efd = open(echopath, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(efd >= 0);
    fflush(stderr);
    saved = dup(2);
    dup2(efd, 2);
    evlog_set_echo(1);
    evlog_emit("test", "echoed", "\"k\":\"v\"");
    evlog_set_echo(0);
    evlog_emit("test", "quiet", NULL);
    dup2(saved, 2);
    close(saved);
    got = pread(efd, echoed, sizeof echoed - 1, 0);
    close(efd);
    assert_true(got > 0);
    echoed[got] = '\0';

    lines = read_lines(logpath, &n);
    assert_int_equal(n, 5);
    o = cJSON_Parse(lines[0]);
    assert_non_null(o);
    assert_int_equal(cJSON_GetArraySize(o), 4);
    cJSON_Delete(o);
    o = cJSON_Parse(lines[1]);
    assert_non_null(o);
    assert_int_equal(strlen(cJSON_GetObjectItemCaseSensitive(o, "blob")->valuestring), sizeof big - 1);
    assert_int_equal((int)num(o, "n"), 7);
    cJSON_Delete(o);
    o = cJSON_Parse(lines[2]);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "src")->valuestring, "agent");
    assert_int_equal((int)num(o, "step"), 40);
    cJSON_Delete(o);
    /* exactly the echoed event reached stderr, byte for byte */
    assert_int_equal(strlen(echoed), strlen(lines[3]) + 1);
    assert_memory_equal(echoed, lines[3], strlen(lines[3]));
    assert_non_null(strstr(lines[4], "\"ev\":\"quiet\""));
    free_lines(lines, n);
    evlog_close();
}

static void test_reopen_continues_sequence(void **state)
{
    char **lines;
    int n;

    (void)state;
    fresh_log("reopen.jsonl");
    assert_int_equal(evlog_open(logpath), 0);
    for (int i = 0; i < 3; i++)
        evlog_emit("a", "x", "\"i\":%d", i);
    evlog_close();
    assert_int_equal(evlog_open(logpath), 0);
    evlog_emit("b", "y", NULL);
    evlog_close();
    lines = read_lines(logpath, &n);
    assert_int_equal(n, 4);
    assert_non_null(strstr(lines[3], "{\"seq\":4,"));
    assert_non_null(strstr(lines[3], "\"src\":\"b\",\"ev\":\"y\"}"));
    free_lines(lines, n);
    assert_true(evlog_now_us() > 0);
}

/* ---- routes ---- */

struct router {
    const char *route;   /* this thread's routed file */
    int         id;
    int         n;
};

static void *route_thread(void *arg)
{
    const struct router *r = arg;

    evlog_route(r->route);
    assert_string_equal(evlog_route_get(), r->route);
    for (int i = 0; i < r->n; i++)
        evlog_emit("test", "routed", "\"thread\":%d,\"i\":%d", r->id, i);
    evlog_route(NULL);
    evlog_emit("test", "home", "\"thread\":%d", r->id);
    return NULL;
}

/* seq 1..n in file order; every line one object; each with ev and the
 * given source; returns the line count and how many carry "thread":id. */
static int check_file(const char *path, const char *ev, int id, int *of_id)
{
    char want[32];
    int n, k = 0;
    char **lines = read_lines(path, &n);

    snprintf(want, sizeof want, "\"thread\":%d,", id);
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_Parse(lines[i]);
        assert_non_null(o);
        assert_int_equal((int)num(o, "seq"), i + 1);
        if (ev)
            assert_string_equal(cJSON_GetObjectItem(o, "ev")->valuestring, ev);
        if (strstr(lines[i], want))
            k++;
        cJSON_Delete(o);
    }
    free_lines(lines, n);
    if (of_id)
        *of_id = k;
    return n;
}

static void test_routes(void **state)
{
    char ra[160], rb[160], many[160];
    struct router r[2];
    pthread_t t[2];
    pid_t pid;
    int st = 0, n, k;

    (void)state;
    fresh_log("home.jsonl");
    assert_int_equal(evlog_open(logpath), 0);
    snprintf(ra, sizeof ra, "%s/run-a.jsonl", tmpdir);
    snprintf(rb, sizeof rb, "%s/run-b.jsonl", tmpdir);
    assert_null(evlog_route_get());

    /* Another process (a run's own) appends to run-a.jsonl as its process
     * log while two threads here append to run-a and run-b by route. */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (evlog_open(ra) != 0)
            _exit(3);
        for (int i = 0; i < 300; i++)
            evlog_emit("test", "routed", "\"thread\":9,\"i\":%d", i);
        _exit(0);
    }
    r[0] = (struct router){ ra, 1, 300 };
    r[1] = (struct router){ rb, 2, 200 };
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, route_thread, &r[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    /* each routed event only in its file, seq gap-free in file order */
    n = check_file(ra, "routed", 1, &k);
    assert_int_equal(n, 600);
    assert_int_equal(k, 300);
    n = check_file(rb, "routed", 2, &k);
    assert_int_equal(n, 200);
    assert_int_equal(k, 200);
    n = check_file(logpath, "home", 1, &k); /* the process log: the two "home" events alone */
    assert_int_equal(n, 2);

    /* push/pop restores; a fault counts whatever the route */
    unsigned faults = evlog_fault_count();
    char *prev = evlog_route_push(rb);
    assert_null(prev);
    char *prev2 = evlog_route_push(ra);
    assert_string_equal(prev2, rb);
    evlog_emit("test", "routed", "\"thread\":5,\"x\":1");
    evlog_route_pop(prev2);
    assert_string_equal(evlog_route_get(), rb);
    evlog_emit("test", "cloud.fault", "\"thread\":6,\"x\":1");
    evlog_route_pop(prev);
    assert_null(evlog_route_get());
    assert_int_equal(evlog_fault_count(), faults + 1);
    assert_int_equal(check_file(ra, "routed", 5, &k), 601);
    assert_int_equal(k, 1);
    assert_int_equal(check_file(rb, NULL, 6, &k), 201);
    assert_int_equal(k, 1);

    /* more files than the cache holds: the least recently used are closed
     * and reopened later, the sequence of each file goes on */
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < EVLOG_ROUTE_CACHE + 8; i++) {
            snprintf(many, sizeof many, "%s/many-%d.jsonl", tmpdir, i);
            evlog_route(many);
            evlog_emit("test", "routed", "\"thread\":%d,\"round\":%d", i, round);
        }
    evlog_route(NULL);
    for (int i = 0; i < EVLOG_ROUTE_CACHE + 8; i++) {
        snprintf(many, sizeof many, "%s/many-%d.jsonl", tmpdir, i);
        assert_int_equal(check_file(many, "routed", i, &k), 2);
        assert_int_equal(k, 2);
    }

    /* forget closes; the next event reopens the file and goes on */
    evlog_forget(ra);
    evlog_route(ra);
    evlog_emit("test", "routed", "\"thread\":7,\"x\":1");
    evlog_route("");
    assert_null(evlog_route_get());
    assert_int_equal(check_file(ra, "routed", 7, &k), 602);

    /* a route works in a process with no log of its own */
    evlog_close();
    evlog_route(rb);
    evlog_emit("test", "routed", "\"thread\":8,\"x\":1");
    evlog_route(NULL);
    evlog_emit("test", "nowhere", NULL);
    assert_int_equal(check_file(rb, NULL, 8, &k), 202);
    assert_int_equal(k, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_seq_across_processes_and_threads),
        cmocka_unit_test(test_closed_log_is_a_noop),
        cmocka_unit_test(test_fields_echo_and_long_lines),
        cmocka_unit_test(test_reopen_continues_sequence),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
