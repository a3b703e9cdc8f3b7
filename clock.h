/* The one clock every wait and deadline is measured against: monotonic,
 * so that a change of the wall clock neither ends a wait early nor makes
 * it last. Pauses go through it too, so that a unit test can link a
 * clock of its own (tests/fake_clock.c) and drive time instead of racing
 * it. */
#ifndef KH_CLOCK_H
#define KH_CLOCK_H

#include <stdint.h>

/* Now, on CLOCK_MONOTONIC, in milliseconds and in microseconds. */
int64_t clock_ms(void);
int64_t clock_us(void);

/* Pauses ms milliseconds; a signal may end it early (the caller's next
 * wait then sees the signal's flag). */
void clock_pause_ms(int64_t ms);

#endif
