/* Crash consistency: what an interrupted run left (its intent record, a
 * pending removal) settled by the VM's word. */
#ifndef KH_SETTLE_H
#define KH_SETTLE_H

#include "error.h"
#include "monitor.h"
#include "options.h"
#include "runtime.h"

/* check --repair: pending removals whose device QEMU has let go are
 * finished. Nothing the file does not know is ever removed. */
int finish_removals(const struct options *o, struct runtime *rt,
		    struct monitor *m, struct error *e);

/* Step 1 and a half: a run that died between its intent record and its
 * runtime file left the two telling different stories; the VM decides. */
int settle_intent(const struct options *o, struct runtime *rt,
		  struct monitor **m, struct error *e);

/* Takes back what a half-made add left in QEMU: its backend and the fds
 * it was handed. Each may be missing; that is fine. */
void undo_half_add(const struct options *o, struct monitor *m,
		   const struct runtime *rt, const char *kind,
		   const char *id, int queues);

#endif
