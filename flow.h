/* Steps 3 to 5 of an add, a removal and a modify (the NIC's), on an open
 * session: the runtime file loaded (an add may create it) and what an
 * interrupted run left settled. Each connects to the monitor when it
 * first needs QEMU, and ends with the file telling what the VM has, or
 * with an intent record for the next run to settle. What differs by
 * kind comes from its kind_ops. */
#ifndef KH_FLOW_H
#define KH_FLOW_H

#include "bus.h"
#include "error.h"
#include "request.h"
#include "session.h"

/* An add's request with its defaults, checked against the host (a disk's
 * path and content, a NIC's link or script) before any session. */
int flow_check_add(struct request *r, struct error *e);

/* Step 3's survey for r (its --bus and --slot): the buses QEMU has,
 * each with the slots the file records or reserves there (and a dry
 * run's marks) taken, and into w what r, the file and its format allow
 * (bus_place decides from both). map is the caller's to free. */
int flow_survey(const struct session *s, const struct request *r,
		struct bus_map *map, struct bus_want *w, struct error *e);

/* Adds r's device: refused if its uuid is recorded with other settings
 * (the same add again succeeds, "unchanged", if QEMU has it), then the
 * slot, the host side, the prepared file and the intent record, the QMP
 * sequence, the commit. On failure the VM, the host and the file are as
 * they were, unless QEMU did not answer: then the intent record stays. */
int flow_add(struct session *s, const struct request *r, struct error *e);

/* Removes the recorded device r names: device_del, the wait for the
 * guest, its backend, the commit. A guest that does not answer in time
 * leaves the removal recorded as pending (exit 4). */
int flow_remove(struct session *s, const struct request *r, struct error *e);

/* Removes the recorded device and adds it again at its slot with what
 * given changes; the new settings are checked first, and if they cannot
 * be plugged the old device is put back. */
int flow_modify(struct session *s, const struct request *given,
		struct error *e);

#endif
