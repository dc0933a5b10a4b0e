/* defaults.h - identities and limits shared by the cloud, the device and the CLI. */
#ifndef OTAHIL_DEFAULTS_H
#define OTAHIL_DEFAULTS_H

#define OTAHIL_DEFAULT_PK     "a1OtaHilPK0"
#define OTAHIL_DEFAULT_DN     "dev-0001"
#define OTAHIL_DEFAULT_SECRET "otahil-device-secret-0001"
#define OTAHIL_VERSION        "0.5.0" /* printed in reports and by otahil --version */
#define OTAHIL_DEFAULT_BOARD  "native"

/* Exit codes of every otahil command and of the device under test's supervisor. */
#define OTAHIL_EXIT_PASS    0 /* success / PASS */
#define OTAHIL_EXIT_FAIL    1 /* the port failed a check */
#define OTAHIL_EXIT_HARNESS 2 /* harness error or bad invocation: never the port's fault */

#endif
