/* The unit tests' clock: see fake_clock.h. */
#include "fake_clock.h"

static int64_t now_us;
static int npauses;
static int64_t pauses[FAKE_CLOCK_MAX_PAUSES];

void fake_clock_reset(void)
{
	now_us = 0;
	npauses = 0;
}

int fake_clock_npauses(void)
{
	return npauses;
}

int64_t fake_clock_pause(int k)
{
	return pauses[k];
}

int64_t clock_us(void)
{
	return now_us;
}

int64_t clock_ms(void)
{
	return now_us / 1000;
}

void clock_pause_ms(int64_t ms)
{
	if (npauses < FAKE_CLOCK_MAX_PAUSES)
		pauses[npauses] = ms;
	npauses++;
	if (ms > 0)
		now_us += ms * 1000;
}
