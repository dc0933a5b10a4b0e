/*
 * phase.h - device-side code names the phase its flash work belongs to, so a
 * fault plan can target "the boot-record write" instead of guessing op
 * numbers. Phases are enum flashsim_phase values; every flash op records the
 * phase current when it starts. The platform implements these.
 *
 *   unsigned prev = otahil_phase_enter(FLASHSIM_PH_BREAKPOINT);
 *   ... flash work ...
 *   otahil_phase_leave(prev);
 */
#ifndef OTAHIL_PHASE_H
#define OTAHIL_PHASE_H

/* Sets the current phase; returns the previous one. */
unsigned otahil_phase_enter(unsigned phase);
/* Sets the phase only when none is current (for layers such as KV that
 * nest inside others); returns the previous one. */
unsigned otahil_phase_enter_weak(unsigned phase);
void otahil_phase_leave(unsigned prev);

#endif
