/* Crash consistency: what an interrupted run left, settled by the VM's
 * word. A run writes an intent record (FILE.intent) before it changes
 * the VM and clears it once the runtime file tells the outcome; a run
 * killed in between leaves it, and the next one (or check --repair)
 * looks at QEMU: a device it has is recorded (the prepared file put in
 * place), one it lacks has its leftovers released. */
#ifndef KH_SETTLE_H
#define KH_SETTLE_H

#include <jansson.h>

#include "error.h"
#include "session.h"

/* The intent record of s's runtime file (s connected) into *in, NULL
 * where there is none. A record names the QEMU process it is about
 * (s->qemu when written); one of another process is stale: *stale is
 * then the process it names, else NULL. */
int settle_read_intent(struct session *s, json_t **in, const char **stale,
		       struct error *e);

/* Settles the intent record of s's runtime file, if there is one; may
 * connect s to the monitor. A stale record is dropped, never replayed.
 * A pending removal it finishes is kept in s->settled. Says what it did
 * on stderr. */
int settle_intent(struct session *s, struct error *e);

/* check --repair: the pending removals (state: unplugging) whose device
 * QEMU has let go are finished, their backends released and the file
 * rewritten. Nothing the file does not know is ever removed. s must be
 * connected. */
int settle_pending_removals(struct session *s, struct error *e);

/* The id of the device whose removal an intent record (as read by
 * runtime_intent_read) says is pending: a removal that timed out or was
 * interrupted, which a Ganeti file cannot record (state: unplugging) and
 * the record stands for; NULL when it says none (or in is NULL). */
const char *settle_pending_removal(json_t *in);

#endif
