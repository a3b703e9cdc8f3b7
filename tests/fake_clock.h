/* A clock for unit tests, linked instead of clock.c: time stands still
 * until the code under test pauses, and each pause moves it on at once
 * by exactly what was asked. So a retry schedule is tested by the pauses
 * it asks for, whatever the machine's speed, and a deadline is reached
 * after a known number of tries. Waits on fds (poll) still take real
 * time: a test's timeouts there stay bounds on a hang. */
#ifndef KH_FAKE_CLOCK_H
#define KH_FAKE_CLOCK_H

#include <stdint.h>

#include "../clock.h"

#define FAKE_CLOCK_MAX_PAUSES 64

/* Back to time 0 with no pauses recorded. */
void fake_clock_reset(void);

/* How many pauses were asked for since the reset (all of them, even past
 * FAKE_CLOCK_MAX_PAUSES), and the k-th one's length in ms (k below both
 * that count and FAKE_CLOCK_MAX_PAUSES). */
int fake_clock_npauses(void);
int64_t fake_clock_pause(int k);

#endif
