/* The one clock every wait and deadline is measured against: monotonic,
 * so that a change of the wall clock neither ends a wait early nor makes
 * it last. */
#ifndef KH_CLOCK_H
#define KH_CLOCK_H

#include <stdint.h>

/* Now, on CLOCK_MONOTONIC, in milliseconds and in microseconds. */
int64_t clock_ms(void);
int64_t clock_us(void);

#endif
