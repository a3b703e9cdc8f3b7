/* Whether the guest uses a device: its virtio status, which QEMU 7.2
 * shows with x-query-virtio-status, lists DRIVER_OK once the guest's
 * driver has set the device up. There is no event for it: a wait looks
 * again after a short, growing pause. The x- marks the command as
 * unstable; a QEMU without it cannot tell. */
#ifndef KH_READY_H
#define KH_READY_H

#include <stddef.h>

#include "error.h"

struct monitor;

enum ready_state {
	READY_YES,		/* DRIVER_OK */
	READY_NO,		/* no driver has set it up (yet) */
	READY_UNKNOWN,		/* QEMU cannot tell (no such command), or
				   has no such virtio device */
};

/* "ready", "not picked up", "unknown": as list says it. */
const char *ready_name(enum ready_state st);

/* The state of each device of ids (n of them) into states, asked in one
 * round trip. Fails only where the monitor does. */
int ready_survey(struct monitor *m, const char *const *ids, size_t n,
		 enum ready_state *states, struct error *e);

/* How a wait went, for -v and the benchmark. */
struct ready_wait {
	int looks;		/* questions asked */
	long waited_ms;		/* from the first question to the answer */
	long last_pause_ms;	/* the pause before the last look: DRIVER_OK
				   came at most this long before it was seen */
};

/* Waits, within timeout_ms, until the guest uses device id: KH_OK;
 * KH_ETIMEOUT when it has not in time; KH_ENOHOTPLUG when QEMU cannot
 * tell. Pauses 1 ms after the first look, doubling to 8 ms. */
int ready_wait(struct monitor *m, const char *id, int timeout_ms,
	       struct ready_wait *w, struct error *e);

#endif
