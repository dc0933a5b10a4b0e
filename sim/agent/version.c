/*
 * version.c - the uOTA "is this newer?" test (spec §9.4). Lexicographic over
 * the new version's length: app-1.0.10 loses to app-1.0.9, "APP-" loses to
 * "app-", a new version that is a prefix of the current one is refused, an
 * empty current version accepts anything. Freestanding.
 */
#include <string.h>

#include "sim/agent/agent.h"

int agent_version_newer(const char *new_version, const char *current)
{
    if (!new_version || !*new_version)
        return 0;
    if (!current)
        current = "";
    return strncmp(new_version, current, strlen(new_version)) > 0;
}
