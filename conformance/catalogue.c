/*
 * catalogue.c - the certification suite's cases (catalogue.h). IDs are
 * stable: add new cases at the end of their group, never renumber.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/catalogue.h"
#include "conformance/plan.h"
#include "conformance/profile.h"

#define MH CAP_MQTT_HTTP

const struct cat_group cat_groups[] = {
    { "OTA-VER", "Version reporting and the version rule" },
    { "OTA-DL", "Download" },
    { "OTA-BRK", "Breakpoint resume" },
    { "OTA-INT", "Integrity: digests, CRC16, footer" },
    { "OTA-BOOT", "set_boot and the boot record" },
    { "OTA-RB", "Rollback and confirmation" },
    { "OTA-PWR", "Power cuts at every flash operation" },
    { "OTA-NET", "Network faults" },
    { "OTA-SEC", "Signatures and TLS" },
    { "OTA-PART", "Partition safety" },
    { "OTA-FIELD", "Field failures not covered above" },
};
const int cat_ngroups = (int)(sizeof(cat_groups) / sizeof(cat_groups[0]));

const struct cat_case cat_cases[] = {
    /* ---- OTA-VER ---- */
    { "OTA-VER-001", CAT_CASE, "version-same", NULL, MH, "§1.6, §9.4",
      "A push of the running version is refused",
      "The device compares the pushed version with its own and refuses an equal one with step -1, "
      "without downloading or rebooting; a port that reinstalls the same image wears the flash and "
      "loops on every push.", 0 },
    { "OTA-VER-002", CAT_PLAN, "version-downgrade", NULL, MH, "§9.4",
      "A downgrade is refused",
      "An older image pushed by mistake (or by an attacker replaying an old job) must not be "
      "installed.", 0 },
    { "OTA-VER-003", CAT_PLAN, "version-lexicographic", NULL, MH, "§9.4, §12 #9",
      "The version rule compares strings, as the cloud does",
      "The agents compare version strings byte by byte; a port that compares otherwise accepts "
      "pushes the cloud considers older, or refuses newer ones.", 0 },
    { "OTA-VER-004", CAT_PLAN, "version-uppercase", NULL, MH, "§9.4",
      "A version in another case is not taken as newer",
      "Case changes the string order; the device must apply the same rule as the cloud.", 0 },
    { "OTA-VER-005", CAT_PLAN, "reboot-after-finish", NULL, MH, "§9.2, §12 #15",
      "The new version is reported within 10 s of the hand-off",
      "The cloud decides success from the version the device reports after its reboot; a device "
      "that waits for a manual reset after set_boot(OTA_FINISH) never completes the job.", 0 },
    { "OTA-VER-006", CAT_CHECK, "OTA-DL-001", "version-reported", MH, "§9.3",
      "Every version reported is the version of the image that booted",
      "The cloud decides success from the reported version; a device that reports the pushed "
      "version before it runs it, or an old one after, misleads the fleet's records.", 0 },

    /* ---- OTA-DL ---- */
    { "OTA-DL-001", CAT_CASE, "update", NULL, MH, "§1, §4.1, §6, §7, §9",
      "An update from v1 to v2 completes end to end",
      "Push, download over HTTP, verify, hand off to the bootloader, reboot and report v2: the "
      "path every other case varies.", 0 },
    { "OTA-DL-002", CAT_PLAN, "expired-url-400", NULL, MH, "§4.1, §12 #2",
      "An expired URL (400 with an XML body) fails the download cleanly",
      "G1 wrote the error body to flash without checking the status; the body must never reach "
      "ota_write.", 0 },
    { "OTA-DL-003", CAT_PLAN, "status-403", NULL, MH, "§4.1",
      "403 AccessDenied fails the download cleanly",
      "An answer that is not 200 or 206 is not firmware.", 0 },
    { "OTA-DL-004", CAT_PLAN, "status-404", NULL, MH, "§4.1",
      "404 NoSuchKey fails the download cleanly",
      "An answer that is not 200 or 206 is not firmware.", 0 },
    { "OTA-DL-005", CAT_PLAN, "status-500", NULL, MH, "§4.1",
      "A 500 on the first request is survived",
      "A transient server error must not end the update for good when the device retries.", 0 },
    { "OTA-DL-006", CAT_PLAN, "status-503", NULL, MH, "§4.1",
      "A 503 on the first request is survived",
      "Object storage answers 503 under load; the device retries.", 0 },
    { "OTA-DL-007", CAT_PLAN, "chunked-no-length", NULL, MH, "§4.1, §12 #18",
      "A chunked answer without Content-Length fails cleanly",
      "G1 and G2 need Content-Length; chunk framing must never be written as firmware.", 0 },
    { "OTA-DL-008", CAT_PLAN, "long-headers", NULL, MH, "§4.1, §13.1",
      "A header block over 512 bytes is parsed",
      "Object storage adds metadata headers; a fixed 512-byte header buffer loses the body's "
      "start.", 0 },
    { "OTA-DL-009", CAT_PLAN, "headers-split", NULL, MH, "§13.1",
      "Headers that arrive one byte per segment are parsed",
      "TCP gives no message boundaries; a parser that expects the header block in one read "
      "fails behind proxies and slow links.", 0 },
    { "OTA-DL-010", CAT_PLAN, "truncated-length", NULL, MH, "§4.1",
      "A body shorter than its Content-Length is detected and completed",
      "A connection that ends early must not be taken for the whole file.", 0 },
    { "OTA-DL-011", CAT_PLAN, "push-long-url", NULL, MH, "§1.5, §13",
      "A push with a URL over 1023 characters is refused cleanly",
      "Signed URLs grow long; an agent that copies them into a fixed buffer must refuse, not "
      "overflow.", 0 },
    { "OTA-DL-012", CAT_PLAN, "push-size-string", NULL, MH, "§1.5, §13",
      "A push with \"size\" as a string is refused cleanly",
      "A malformed push must not start a download of unknown length.", 0 },
    { "OTA-DL-013", CAT_CHECK, "OTA-DL-001", "writes-are-file", MH, "§4.1, §5",
      "Every byte given to ota_write is the file's byte at that offset",
      "What the port writes is compared with the file served, offset by offset.", 0 },
    { "OTA-DL-014", CAT_CHECK, "OTA-DL-002", "writes-are-file", MH, "§4.1, §12 #2",
      "An error body never reaches ota_write",
      "The 400 body of OTA-DL-002 must not be written to the download partition.", 1 },
    { "OTA-DL-015", CAT_PLAN, "progress-paced", NULL, MH, "§1.6",
      "Progress is reported during a paced download",
      "The cloud's console shows progress from these reports; a device that never sends them "
      "looks hung.", 0 },
    { "OTA-DL-016", CAT_CHECK, "OTA-DL-015", "progress-reported", MH, "§1.6",
      "The cloud hears progress between 0 and 100",
      "Read from the cloud's side of the run of OTA-DL-015.", 0 },
    { "OTA-DL-017", CAT_PLAN, "coap-etag-change", NULL, CAP_COAP_COAP, "§3.3",
      "A CoAP download whose ETag changes mid-transfer stops cleanly",
      "Blocks of two files must never be joined into one image.", 0 },
    { "OTA-DL-018", CAT_PLAN, "coap-size2-lie", NULL, CAP_COAP_COAP, "§3.3",
      "A Size2 larger than the pushed size stops the CoAP download before writing",
      "The pushed size and the server's Size2 must agree before a block reaches flash.", 0 },
    { "OTA-DL-019", CAT_PLAN, "coap-absurd-block", NULL, CAP_COAP_COAP, "§3.3",
      "A reserved block size (SZX 7) is refused cleanly",
      "G1 logs a size above 512 as an error and uses it anyway.", 0 },
    { "OTA-DL-020", CAT_PLAN, "coap-block-code", NULL, CAP_COAP_COAP, "§3.3",
      "A block answered with 5.03 eleven times ends the download cleanly",
      "A non-2.05 answer must count against the retries, never be written as data.", 0 },

    /* ---- OTA-BRK ---- */
    { "OTA-BRK-001", CAT_PLAN, "resume-after-drop", NULL, MH | CAP_RESUME, "§5.1, §5.4",
      "A dropped download resumes from its breakpoint",
      "The device saves its breakpoint and running CRC16, reconnects, asks for the rest with a "
      "Range request and completes the same image.", 0 },
    { "OTA-BRK-002", CAT_PLAN, "cut-mid-header", NULL, MH | CAP_RESUME, "§4.1, §5.1",
      "A connection cut inside the header block is survived",
      "Nothing of the body has arrived: the device must start the body at offset 0 again, not "
      "write header bytes.", 0 },
    { "OTA-BRK-003", CAT_PLAN, "close-mid-body", NULL, MH | CAP_RESUME, "§5.1",
      "A server that closes mid-body is survived by a resume",
      "The server side of the same failure as OTA-BRK-001.", 0 },
    { "OTA-BRK-004", CAT_PLAN, "ignore-range-200", NULL, MH | CAP_RESUME, "§5.1, §12 #5",
      "A 200 with the whole file in answer to a Range request is not appended",
      "Proxies and some servers ignore Range; appending the whole file after the breakpoint "
      "corrupts the image.", 0 },
    { "OTA-BRK-005", CAT_PLAN, "etag-change", NULL, MH | CAP_RESUME, "§5",
      "A file whose ETag changes between requests still ends exact or is refused",
      "The object behind the URL may change between the first request and the resume.", 0 },
    { "OTA-BRK-006", CAT_PLAN, "stall-6s", NULL, MH | CAP_RESUME, "§4.1",
      "A stall longer than the 5 s read timeout is survived",
      "One timed-out read is within the retry budget of 7.", 0 },
    { "OTA-BRK-007", CAT_CHECK, "OTA-BRK-001", "resume-range", MH | CAP_RESUME, "§5.1",
      "The resume asks for Range: bytes=N- from the saved breakpoint",
      "A resume from the wrong offset leaves a gap or a repeat in the image.", 0 },
    { "OTA-BRK-008", CAT_CHECK, "OTA-BRK-001", "record-crc", MH | CAP_RESUME, "§5.4",
      "The CRC16 continued across the resume is the whole file's",
      "The running CRC16 saved at the breakpoint must be restored, not restarted.", 0 },
    { "OTA-BRK-009", CAT_PLAN, "resume-other-firmware", NULL, MH | CAP_RESUME, "§5.1, §5.2",
      "A retry that names other firmware starts afresh, not from the old breakpoint",
      "The breakpoint belongs to one file; resuming it for another digest splices two images.", 0 },
    { "OTA-BRK-010", CAT_PLAN, "coap-resume-after-drop", NULL, CAP_COAP_COAP | CAP_RESUME, "§3.3, §5",
      "A CoAP block download resumes at the breakpoint's block",
      "block_cur_num = breakpoint / block size: a resume from another block splices the image.", 0 },

    /* ---- OTA-INT ---- */
    { "OTA-INT-001", CAT_PLAN, "wrong-digest", NULL, MH | CAP_MD5, "§6.1",
      "A wrong digest fails the update before the hand-off",
      "The downloaded file must be verified against the push's digest before set_boot.", 0 },
    { "OTA-INT-002", CAT_PLAN, "wrong-digest-retry", NULL, MH | CAP_MD5, "§6.1",
      "After a wrong digest, the next push updates",
      "A failed verification must leave a state from which the next attempt succeeds.", 0 },
    { "OTA-INT-003", CAT_PLAN, "no-footer", NULL, MH | CAP_FOOTER, "§6.2, §12 #1",
      "An image without its footer is refused at the footer check",
      "The digest matches the file served, so only the footer check stops an image built for "
      "another bootloader.", 0 },
    { "OTA-INT-004", CAT_PLAN, "sign-method-sha-256", NULL, MH, "§1.5, §13.2",
      "signMethod \"SHA-256\" is verified or refused, never ignored",
      "An agent that skips verification for a method it does not know installs unverified "
      "images.", 0 },
    { "OTA-INT-005", CAT_CHECK, "OTA-DL-001", "image-exact", MH, "§6, §7",
      "After the update the running slot holds the file byte for byte",
      "The image the device runs is compared with the file the cloud served.", 0 },
    { "OTA-INT-006", CAT_CHECK, "OTA-INT-001", "keeps-image", MH | CAP_MD5, "§6.1, §7",
      "A digest mismatch never reaches set_boot(OTA_FINISH)",
      "Read from the port's own calls and the final flash of OTA-INT-001's run: no "
      "set_boot(OTA_FINISH), and the old image still runs.", 0 },
    { "OTA-INT-007", CAT_PLAN, "sign-method-sha256", NULL, MH | CAP_SHA256, "§1.5, §6.1",
      "signMethod \"Sha256\" is verified with SHA-256",
      "A port that claims SHA-256 must verify it, not fall back to MD5 or skip the check.", 0 },

    /* ---- OTA-BOOT ---- */
    { "OTA-BOOT-001", CAT_CHECK, "OTA-DL-001", "record-crc", MH, "§5.4, §7",
      "The boot record carries the CRC16-XMODEM of the whole file",
      "The copy bootloader checks the copied image against it; a wrong CRC16 bricks or loops.", 0 },
    { "OTA-BOOT-002", CAT_CHECK, "OTA-DL-001", "finish-after-whole-file", MH, "§4.1, §7",
      "set_boot(OTA_FINISH) comes only once the whole file is written",
      "A hand-off of a partial image boots garbage.", 0 },

    /* ---- OTA-RB ---- */
    { "OTA-RB-001", CAT_CASE, "rollback", NULL, MH | CAP_ROLLBACK | CAP_BOOT_PP, "§8",
      "A v2 that crashes at boot is rolled back",
      "The bootloader counts unconfirmed boots and returns to v1; the device reports v1 and the "
      "job fails.", 0 },
    { "OTA-RB-002", CAT_CHECK, "OTA-DL-001", "boot-confirmed", MH | CAP_ROLLBACK | CAP_BOOT_PP, "§8",
      "A good boot of the new image is confirmed",
      "An image left on trial is rolled back after a few ordinary resets.", 0 },

    /* ---- OTA-PWR ---- */
    { "OTA-PWR-001", CAT_SWEEP, "before", NULL, MH, "§5, §7, §10",
      "Power lost before any one flash operation",
      "At every numbered flash operation of an update, power goes before it happens; the device "
      "must boot a valid image and finish the update.", 0 },
    { "OTA-PWR-002", CAT_SWEEP, "after", NULL, MH, "§5, §7, §10",
      "Power lost right after any one flash operation",
      "The operation completes, then power goes.", 0 },
    { "OTA-PWR-003", CAT_SWEEP, "torn", NULL, MH, "§5, §7, §10",
      "A program torn by a power cut",
      "A prefix of the program lands and one program unit holds mixed bits.", 0 },
    { "OTA-PWR-004", CAT_SWEEP, "erase", NULL, MH, "§5, §7, §10",
      "An erase interrupted by a power cut",
      "The sector is left with bytes not yet erased.", 0 },

    /* ---- OTA-NET ---- */
    { "OTA-NET-001", CAT_PLAN, "drops-within-budget", NULL, MH | CAP_RESUME, "§4.1",
      "Connection drops within the retry budget are survived",
      "Flaky Wi-Fi drops the download several times; each drop resumes.", 0 },
    { "OTA-NET-002", CAT_PLAN, "drops-over-budget", NULL, MH, "§4.1",
      "Drops beyond the retry budget end the download cleanly",
      "After 7 failed reads the device gives up, reports a download failure and keeps its "
      "image.", 0 },
    { "OTA-NET-003", CAT_PLAN, "mqtt-reset-mid-download", NULL, MH, "§1.2",
      "An MQTT connection reset during the download does not corrupt it",
      "The signalling link and the data link fail independently.", 0 },
    { "OTA-NET-004", CAT_PLAN, "broker-restart", NULL, MH, "§1.2",
      "A broker restart during the download is survived",
      "The device reconnects, resubscribes and still reports its progress and version.", 0 },
    { "OTA-NET-005", CAT_PLAN, "offline-push", NULL, MH, "§1.2",
      "A push sent while the device is offline is recovered by the next push",
      "QoS 0 pushes to an absent device are lost; the job must still complete.", 0 },
    { "OTA-NET-006", CAT_PLAN, "duplicate-push", NULL, MH, "§12 #14",
      "A push repeated during a download does not start a second download",
      "Two downloads into one partition interleave their writes.", 0 },
    { "OTA-NET-007", CAT_CHECK, "OTA-NET-006", "single-download", MH, "§12 #14",
      "Exactly one download runs at a time",
      "Read from the firmware server's requests and the port's writes.", 0 },
    { "OTA-NET-008", CAT_PLAN, "stall-25s", NULL, MH, "§4.1",
      "A 24 s stall inside the retry budget is survived",
      "Slow mobile links stall; five timed-out reads are within the budget of 7.", 0 },
    { "OTA-NET-009", CAT_PLAN, "stall-45s", NULL, MH | CAP_RESUME, "§4.1",
      "A 45 s stall beyond the retry budget is recovered",
      "The read gives up after 7 timeouts; the update must still end in a valid image.", 0 },
    { "OTA-NET-010", CAT_PLAN, "coap-dup-reorder", NULL, CAP_COAP_COAP, "§3.3",
      "Duplicated, reordered and late blocks are survived",
      "UDP delivers blocks twice, out of order or late; only the block at the offset may be written.", 0 },
    { "OTA-NET-011", CAT_PLAN, "coap-udp-loss", NULL, CAP_COAP_COAP, "§3.1, §3.3",
      "Datagram loss, duplication and reordering on the CoAP path are survived",
      "CoAP's retransmissions, not luck, must carry the update through a lossy link.", 0 },

    /* ---- OTA-SEC ---- */
    { "OTA-SEC-001", CAT_PLAN, "https-download", NULL, CAP_MQTT_HTTPS, "§4, §12 #16",
      "An update over HTTPS, the server's certificate verified",
      "The download goes over TLS to a server whose certificate chains to the CA the device "
      "carries and names the URL's host.", 0 },
    { "OTA-SEC-002", CAT_PLAN, "https-untrusted-ca", NULL, CAP_MQTT_HTTPS, "§4, §12 #16",
      "A certificate from an unknown CA is refused",
      "A device that skips verification downloads from anyone who can answer its DNS query.", 0 },
    { "OTA-SEC-003", CAT_PLAN, "https-expired-cert", NULL, CAP_MQTT_HTTPS, "§4",
      "An expired certificate is refused",
      "Validity dates are part of verification.", 0 },
    { "OTA-SEC-004", CAT_PLAN, "https-wrong-host", NULL, CAP_MQTT_HTTPS, "§4",
      "A certificate for another host is refused",
      "A valid certificate for the wrong name is an impostor's.", 0 },
    { "OTA-SEC-005", CAT_PLAN, "mqtts-https", NULL, CAP_MQTT_HTTPS, "§2, §4",
      "MQTT over TLS and the download over HTTPS",
      "Both the signalling and the data link verified against the device's CA.", 0 },
    { "OTA-SEC-006", CAT_PLAN, "coaps-untrusted-ca", NULL, CAP_COAP_COAP, "§3.1, §12 #16",
      "Over DTLS, a certificate from an unknown CA is refused",
      "A device that accepts any DTLS certificate, or falls back to a pre-shared key, talks to "
      "whoever answers on its coaps port.", 0 },
    { "OTA-SEC-007", CAT_PLAN, "coaps-expired-cert", NULL, CAP_COAP_COAP, "§3.1, §12 #16",
      "Over DTLS, an expired certificate is refused",
      "Validity is part of verification, on DTLS as on TLS.", 0 },
    { "OTA-SEC-008", CAT_PLAN, "coaps-wrong-host", NULL, CAP_COAP_COAP, "§3.1, §12 #16",
      "Over DTLS, a certificate for another host is refused",
      "A chain check without the host check accepts any certificate the CA ever signed.", 0 },

    /* ---- OTA-PART ---- */
    { "OTA-PART-001", CAT_PLAN, "oversize-image", NULL, MH, "§10, §12 #3",
      "An image larger than the download partition is refused",
      "Writing past the partition's end overwrites whatever follows it.", 0 },
    { "OTA-PART-002", CAT_PLAN, "partition-minus-1", NULL, MH, "§10, §12 #3",
      "A file one byte shorter than the partition updates",
      "Off-by-one errors at the partition's end.", 0 },
    { "OTA-PART-003", CAT_PLAN, "partition-exact", NULL, MH, "§10, §12 #3",
      "A file exactly as long as the partition updates",
      "Off-by-one errors at the partition's end.", 0 },
    { "OTA-PART-004", CAT_PLAN, "partition-plus-1", NULL, MH, "§10, §12 #3",
      "A file one byte longer than the partition is refused",
      "Off-by-one errors at the partition's end.", 0 },
    { "OTA-PART-005", CAT_CHECK, "OTA-DL-001", "settings-kept", MH, "§10, §12 #10",
      "Settings and untouched partitions survive the update",
      "Wi-Fi credentials in the KV store and every partition the update has no business with "
      "are compared before and after.", 0 },

    /* ---- OTA-FIELD ---- */
    { "OTA-FIELD-001", CAT_PLAN, "slow-flash", NULL, MH, "§4.1, §12 #17",
      "Slow flash writes do not cause socket timeouts",
      "A 5 ms program or erase blocks the thread that reads the socket.", 0 },
    { "OTA-FIELD-002", CAT_PLAN, "https-low-memory", NULL, CAP_MQTT_HTTPS, "§12 #16",
      "HTTPS with small TLS records inside a one-session TLS heap",
      "Boards without RAM for a second TLS session switched to plain TCP in the field; the "
      "download must work within the budget, with 512-byte records.", 0 },
    { "OTA-FIELD-003", CAT_PLAN, "https-second-session", NULL, CAP_MQTT_HTTPS, "§12 #16",
      "No memory for a second TLS session fails the download cleanly",
      "MQTT over TLS holds the one session the heap allows; the download's handshake must fail "
      "as a download failure, not crash or install anything.", 0 },
};
const int cat_ncases = (int)(sizeof(cat_cases) / sizeof(cat_cases[0]));

/* The update, the version rule, the digest and the footer: what every transport must carry
 * the same way. The faults of the other cases act on one protocol's details. */
const char *const cat_matrix[] = { "OTA-DL-001", "OTA-VER-002", "OTA-INT-001", "OTA-INT-003", NULL };

const struct cat_transport cat_transports[] = {
    { "mqtt+https", "https", CAP_MQTT_HTTPS },
    { "coap+http", "coap+http", CAP_COAP_HTTP },
    { "coap+coap", "coap+coap", CAP_COAP_COAP },
};
const int cat_ntransports = (int)(sizeof(cat_transports) / sizeof(cat_transports[0]));

int cat_in_matrix(const char *id)
{
    for (int i = 0; cat_matrix[i]; i++)
        if (!strcmp(cat_matrix[i], id))
            return 1;
    return 0;
}

const struct cat_case *cat_find(const char *id)
{
    for (int i = 0; i < cat_ncases; i++)
        if (!strcmp(cat_cases[i].id, id))
            return &cat_cases[i];
    return NULL;
}

const char *cat_group_of(const char *id, char *buf, size_t n)
{
    const char *dash = strrchr(id, '-');
    size_t l = dash ? (size_t)(dash - id) : strlen(id);
    snprintf(buf, n, "%.*s", (int)l, id);
    return buf;
}

const struct cat_case *cat_base(const struct cat_case *c)
{
    if (c->kind != CAT_CHECK)
        return c;
    const struct cat_case *b = cat_find(c->what);
    return b ? b : c;
}

const char *cat_kind_name(enum cat_kind k)
{
    switch (k) {
    case CAT_CASE: return "case";
    case CAT_PLAN: return "plan";
    case CAT_SWEEP: return "sweep";
    default: return "check";
    }
}

/* ---- docs/conformance.md ------------------------------------------------ */

static int load_plan(const char *dir, const char *name, struct fault_plan *p, char *err, size_t n)
{
    char path[4400];
    snprintf(path, sizeof(path), "%s/%s.plan", dir, name);
    memset(p, 0, sizeof(*p));
    return plan_load(path, p, err, n);
}

/* A "Caught-by:" list of case IDs (ID or ID@BOARD; a case or plan name is
 * taken as the ID that runs it) as the text of the mutants table. */
static void ids_for(const char *names, char *out, size_t n)
{
    char buf[512];
    size_t l = 0;
    out[0] = '\0';
    snprintf(buf, sizeof(buf), "%s", names);
    for (char *save = NULL, *w = strtok_r(buf, ", ", &save); w; w = strtok_r(NULL, ", ", &save)) {
        char *at = strchr(w, '@');
        if (at)
            *at++ = '\0';
        const char *id = w;
        for (int i = 0; i < cat_ncases && !cat_find(w); i++)
            if (cat_cases[i].kind != CAT_CHECK && !strcmp(cat_cases[i].what, w))
                id = cat_cases[i].id;
        l += (size_t)snprintf(out + l, l < n ? n - l : 0, "%s%s%s%s", l ? ", " : "", id,
                              at ? " on " : "", at ? at : "");
    }
}

/* Mutant patches: the "Bug:" and "Caught-by:" lines of their header. */
static void write_mutants(FILE *out, const char *ports_dir)
{
    struct dirent **ents = NULL;
    int ne = ports_dir ? scandir(ports_dir, &ents, NULL, alphasort) : -1;
    int total = 0, caught = 0;
    char rows[64][3][512];
    for (int i = 0; i < ne; i++) {
        const char *nm = ents[i]->d_name;
        size_t l = strlen(nm);
        if (strncmp(nm, "mut-", 4) != 0 || l < 7 || strcmp(nm + l - 6, ".patch") != 0 || total >= 64)
            continue;
        char path[4400], line[1024];
        snprintf(path, sizeof(path), "%s/%s", ports_dir, nm);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        snprintf(rows[total][0], sizeof(rows[total][0]), "%.*s", (int)(l - 6), nm);
        rows[total][1][0] = rows[total][2][0] = '\0';
        while (fgets(line, sizeof(line), f) && strncmp(line, "--- ", 4) != 0) {
            line[strcspn(line, "\r\n")] = '\0';
            if (!strncmp(line, "Bug:", 4))
                snprintf(rows[total][1], sizeof(rows[total][1]), "%.500s", line + 4 + (line[4] == ' '));
            else if (!strncmp(line, "Caught-by:", 10))
                ids_for(line + 10, rows[total][2], sizeof(rows[total][2]));
        }
        fclose(f);
        caught += rows[total][2][0] != '\0';
        total++;
    }
    for (int i = 0; i < ne; i++)
        free(ents[i]);
    free(ents);
    fprintf(out, "## Self-test: protocol mutants\n\n"
                 "Each mutant is the reference port, agent or version rule with one realistic bug "
                 "(fixtures/ports/mut-*.patch, docs/fixtures.md). `make test` (tests/e2e/mutants.sh) "
                 "certifies each with `otahil certify --port NAME --only` the cases named here and "
                 "asserts that every one of them is FAIL, for the reason the patch's `Cause:` line "
                 "names, and that the reference port PASSes the same cases.\n\n");
    if (total == 0) {
        fprintf(out, "No mutants in fixtures/ports.\n\n");
        return;
    }
    fprintf(out, "**Mutation score: %d caught of %d.**\n\n| mutant | the bug | caught by |\n|---|---|---|\n",
            caught, total);
    for (int i = 0; i < total; i++)
        fprintf(out, "| %s | %s | %s |\n", rows[i][0], rows[i][1][0] ? rows[i][1] : "-",
                rows[i][2][0] ? rows[i][2] : "**not caught**");
    fprintf(out, "\n");
}

int cat_write_markdown(FILE *out, const char *faults_dir, const char *ports_dir, char *err,
                       size_t n)
{
    struct fault_plan *p = calloc(1, sizeof(*p));
    char caps[256], grp[32];
    if (!p) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    fprintf(out,
            "# Conformance catalogue\n\n"
            "<!-- Generated by `otahil catalogue --markdown` from conformance/catalogue.c and the "
            "fault plans; do not edit. `make test` fails when this file and the catalogue differ. -->\n\n"
            "Every case of the certification suite, with its stable ID. An ID keeps its meaning for "
            "good: a withdrawn case leaves its number unused. `otahil certify` runs them all, or "
            "those named with `--only`; a case whose needs fall outside the port's profile is SKIP "
            "with the reason.\n\n"
            "Verdicts: **PASS**; **FAIL** (the port is at fault); **SKIP** (outside the profile's "
            "claim, or the run gave the check nothing to look at); **ERROR** (the harness failed: "
            "never counted against the port).\n\n"
            "How a verdict is reached, by kind:\n\n"
            "- **case**: a built-in run (conformance/run.c): the event sequence, the job's end, the "
            "final flash, then every conformance check (docs/faults.md, \"Verdicts and conformance "
            "checks\").\n"
            "- **plan**: the update under a fault plan (fixtures/faults/NAME.plan). *Updates*: PASS "
            "when the update completes despite the faults and every check holds. *Fails cleanly*: "
            "PASS when the device refuses or abandons the update, reports the expected negative "
            "step, never calls set_boot(OTA_FINISH) and keeps running and reporting its old image.\n"
            "- **sweep**: a power-cut sweep (docs/sweep.md): PASS when every cut point keeps every "
            "invariant.\n"
            "- **check**: one conformance check of another case's run, reported on its own.\n\n"
            "## Certifying a port\n\n"
            "```\n"
            "otahil certify --port path/to/ota_port.c [bsp_stubs.c ...] --profile my-port.ini \\\n"
            "               --board mk3060 --out out/my-port --jobs 2\n"
            "```\n\n"
            "The sources are compiled unchanged against `include/` with the system C compiler (the "
            "Makefile's `vendor-port` target): compiler errors appear as the compiler gives them, and an "
            "undefined symbol gets a hint (a vendor's own board-support call goes in a small extra file "
            "passed with the port). The `hal_ota_module_t` variable is found in the sources, or named "
            "with `module =` in the profile. With `--target qemu` the same sources are compiled by "
            "arm-none-eabi-gcc with the firmware's flags and linked into the QEMU application programs "
            "(the Makefile's `vendor-port-qemu`; docs/qemu.md, \"A vendor's sources\"). `--port NAME` "
            "certifies a known-bad variant (fixtures/ports/NAME.patch) and `--port PATH` a device binary "
            "(without power-cut sweeps; native target only).\n\n"
            "Other options: `--only ID,GROUP,...`, `--shard I/N` (CI machines in parallel: the shards "
            "together run the whole catalogue once), `--seed S`, `--quick` (slow cases SKIP), "
            "`--target native` or `qemu` (each boot the port's firmware in qemu-system-arm, a power-cut "
            "sweep one run per cut point with a stride, the TLS-heap cases SKIP: "
            "docs/qemu.md, \"Certifying on QEMU\"). Exit 0 when every case is PASS or SKIP, 1 on any "
            "FAIL, 2 on any ERROR. "
            "The output folder holds report.html, junit.xml, results.json (docs/report.md), "
            "summary.txt, runs/ID/ (each run's event log and flash files) and, for every FAIL and ERROR, "
            "repro/ID/ with repro.ini, the plan, the flash before and after, the event log and "
            "command.sh; `otahil repro OUT/repro/ID [--until-fault]` replays it.\n\n"
            "The harness's own failures are **ERROR**, exit 2, with the reports written all the "
            "same: no broker binary (mosquitto along PATH or in /usr/sbin, or `$OTAHIL_MOSQUITTO`), a "
            "cloud port held by another program (`--mqtt-port P` and `--http-port P` fix the shared "
            "cloud's ports for a device whose firmware names them), a cloud that dies during a run, "
            "a run past its `--timeout`. tests/e2e/certify_errors.sh and broker_killed.sh show "
            "each.\n\n"
            "**One cloud for the whole certification.** `otahil certify` starts one cloud (an `otahil "
            "cloud` process: one Mosquitto broker, one firmware server with HTTP and HTTPS, one CoAP "
            "endpoint with DTLS, one device registry; its files in OUT/cloud) and every run's device "
            "joins it as a *tenant* (docs/cloud.md, \"Tenants\"), with a name of its own "
            "(`dut-OTA-DL-001`, `dut-OTA-DL-001.coap-coap`). Two runs at a time share it, as devices "
            "share a real cloud, yet neither sees the other's faults or events: the cloud appends "
            "everything about a tenant (its informs, progress, pushes, the GETs and blocks of its "
            "firmware) to that run's own event log, and the plan's cloud faults ([http], [mqtt], "
            "[coap]) are the tenant's alone, counted over its own requests. So a run's verdict and "
            "events stay a function of its seed, whatever runs beside it, and a repro folder replays "
            "the same verdict. Transport faults ([proxy.*]) sit on the run's own link, a proxy "
            "between its device and the shared cloud. Two kinds of plan need a cloud of their own, "
            "because their fault is the cloud itself: a broker restart (it would disconnect every "
            "other device) and a listener presenting a bad certificate. results.json says which "
            "cloud each run had (`\"cloud\": \"shared\"` or `\"own: why\"`) and report.html's "
            "summary counts them. `otahil run` and `otahil repro` run one case, with a cloud of its "
            "own.\n\n");
    fprintf(out, "## Transport matrix\n\n"
            "These cases run once as catalogued (MQTT signalling, HTTP download) and once more over "
            "each other transport the profile claims, each run a row of its own with its transport "
            "(`OTA-DL-001 [coap+coap]` in junit.xml; SKIP where the profile claims no such transport); "
            "report.html shows them as a matrix. The other cases act on one protocol's details "
            "(an HTTP status, a Block2 option, a TLS certificate) and carry the transport they need.\n\n"
            "| case | title | transports |\n|---|---|---|\n");
    for (int i = 0; cat_matrix[i]; i++) {
        const struct cat_case *c = cat_find(cat_matrix[i]);
        fprintf(out, "| %s | %s | mqtt+http", c ? c->id : cat_matrix[i], c ? c->title : "");
        for (int t = 0; t < cat_ntransports; t++)
            fprintf(out, ", %s", cat_transports[t].name);
        fprintf(out, " |\n");
    }
    fprintf(out, "\n"
            "## Port profiles\n\n"
            "A profile says what the port claims; cases that need more are SKIP with the reason, "
            "never dropped. The reference port's is boards/ports/reference/profile.ini:\n\n"
            "| key | values | default |\n|---|---|---|\n"
            "| name | the port's name (required) | |\n"
            "| vendor | free text | |\n"
            "| generation | g0 (four callbacks, no ota_rollback), g1 (five) | g1 |\n"
            "| bootloader | copy, pingpong, or both; the board's must be among them | copy |\n"
            "| board | the board certified when --board is not given | native |\n"
            "| module | the struct hal_ota_module_s variable | found in the sources |\n"
            "| resume | yes, no: breakpoint resume (§5) | yes |\n"
            "| hash | md5, sha256 | md5 |\n"
            "| rsa | yes, no (§6.3) | no |\n"
            "| footer | yes, no: the image footer check (§6.2) | yes |\n"
            "| transports | mqtt+http, mqtt+https, coap+http, coap+coap | mqtt+http |\n\n"
            "An unknown key or value is an error naming the file and line.\n\n"
            "## Groups\n\n"
            "| group | title | cases |\n|---|---|---|\n");
    for (int g = 0; g < cat_ngroups; g++) {
        int k = 0;
        for (int i = 0; i < cat_ncases; i++)
            k += !strcmp(cat_group_of(cat_cases[i].id, grp, sizeof(grp)), cat_groups[g].id);
        fprintf(out, "| %s | %s | %d |\n", cat_groups[g].id, cat_groups[g].title, k);
    }
    fprintf(out, "\n");
    for (int g = 0; g < cat_ngroups; g++) {
        fprintf(out, "## %s: %s\n\n", cat_groups[g].id, cat_groups[g].title);
        int any = 0;
        for (int i = 0; i < cat_ncases; i++) {
            const struct cat_case *c = &cat_cases[i];
            if (strcmp(cat_group_of(c->id, grp, sizeof(grp)), cat_groups[g].id) != 0)
                continue;
            any = 1;
            fprintf(out, "### %s %s\n\n%s\n\n- Spec: %s\n- Needs: %s\n", c->id, c->title, c->rationale,
                    c->spec, profile_caps_str(c->needs, caps, sizeof(caps)));
            switch (c->kind) {
            case CAT_CASE:
                fprintf(out, "- Runs: case `%s` (`otahil run %s`)\n", c->what, c->what);
                break;
            case CAT_SWEEP:
                fprintf(out, "- Runs: power-cut sweep, mode `%s` (`otahil sweep --mode %s`)\n", c->what,
                        c->what);
                break;
            case CAT_CHECK:
                fprintf(out, "- Verdict: check `%s` of %s's run%s\n", c->check, c->what,
                        c->vacuous ? " (when the run gave it nothing to look at, the property holds: PASS)" : "");
                break;
            case CAT_PLAN:
                if (load_plan(faults_dir, c->what, p, err, n) != 0) {
                    plan_free(p);
                    free(p);
                    return -1;
                }
                fprintf(out, "- Runs: plan `%s` (`otahil run update --plan fixtures/faults/%s.plan`)%s\n"
                             "- Expect: %s%s%s\n- Fault: %s\n- Field: %s\n",
                        c->what, c->what, p->slow ? "; slow (left out by `--quick`)" : "",
                        p->expect == PLAN_EXPECT_FAIL_CLEAN ? "fails cleanly" : "updates",
                        p->fail_step[0] ? ", negative step " : "", p->fail_step, p->description,
                        p->field[0] ? p->field : "-");
                plan_free(p);
                break;
            }
            fprintf(out, "\n");
        }
        if (!any)
            fprintf(out, "No case yet.\n\n");
    }
    free(p);
    write_mutants(out, ports_dir);
    return 0;
}
