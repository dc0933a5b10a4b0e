/*
 * catalogue.h - the certification suite's cases, with stable IDs in groups
 * (OTA-VER, OTA-DL, OTA-BRK, OTA-INT, OTA-BOOT, OTA-RB, OTA-PWR, OTA-NET,
 * OTA-SEC, OTA-PART, OTA-FIELD). An ID, once given, keeps its meaning for
 * good: a case that is withdrawn leaves its number unused.
 *
 * A case is one of:
 *   CAT_CASE   a built-in case of run.c (update, rollback, version-same);
 *   CAT_PLAN   the update case under a fault plan, fixtures/faults/NAME.plan;
 *   CAT_SWEEP  a power-cut sweep (sweep.h) in one fault mode;
 *   CAT_CHECK  one conformance check (checks.h) of another case's run: its
 *              verdict, with no run of its own.
 *
 * docs/conformance.md is generated from this table (otahil catalogue
 * --markdown), and a test fails when the two differ.
 */
#ifndef OTAHIL_CATALOGUE_H
#define OTAHIL_CATALOGUE_H

#include <stddef.h>
#include <stdio.h>

enum cat_kind { CAT_CASE, CAT_PLAN, CAT_SWEEP, CAT_CHECK };

struct cat_case {
    const char   *id;        /* "OTA-DL-001" */
    enum cat_kind kind;
    const char   *what;      /* case name, plan name, sweep mode, or (CAT_CHECK) the ID
                              * of the case whose run it reads */
    const char   *check;     /* CAT_CHECK: the check's ID (checks.h) */
    unsigned      needs;     /* CAP_* (profile.h) the case needs */
    const char   *spec;      /* spec sections it enforces */
    const char   *title;
    const char   *rationale; /* why a port must pass it */
    int           vacuous;   /* CAT_CHECK: the property holds when the check had nothing
                              * to look at (no write, no hand-off): its SKIP is a PASS */
};

extern const struct cat_case cat_cases[];
extern const int cat_ncases;

/* The transport matrix: cases run once more over every other transport the
 * profile claims (issue's mqtt+http, mqtt+https, coap+http, coap+coap), each
 * such run reported as a row of its own with its transport. */
struct cat_transport {
    const char *name;       /* "coap+coap": the row's transport, as profiles spell it */
    const char *plan;       /* the plan key's value: "https", "coap+coap", ... */
    unsigned    cap;        /* CAP_* */
};
extern const char *const cat_matrix[];          /* case IDs, NULL-terminated */
extern const struct cat_transport cat_transports[]; /* the other transports, in report order */
extern const int cat_ntransports;
/* 1 if the case with this ID runs over the matrix. */
int cat_in_matrix(const char *id);

struct cat_group {
    const char *id;          /* "OTA-DL" */
    const char *title;
};
extern const struct cat_group cat_groups[];
extern const int cat_ngroups;

/* The case with this ID, or NULL. */
const struct cat_case *cat_find(const char *id);
/* The group of a case ID ("OTA-DL" for "OTA-DL-001") into buf. */
const char *cat_group_of(const char *id, char *buf, size_t n);
/* The case a CAT_CHECK reads, or c itself. */
const struct cat_case *cat_base(const struct cat_case *c);
/* What a case runs, in words: "case update", "plan resume-after-drop", ... */
const char *cat_kind_name(enum cat_kind k);

/* Writes docs/conformance.md's text: the groups, every case with its spec
 * sections, needs, what runs and how the verdict is reached (plans are read
 * from faults_dir for their description and expectation), and the protocol
 * mutants of fixtures_ports_dir with the cases that catch them. 0 or -1
 * (err: a plan that does not load). */
int cat_write_markdown(FILE *out, const char *faults_dir, const char *ports_dir, char *err,
                       size_t n);

#endif
