/* Steps 3 to 5 of an add, a removal and a NIC modify, on a locked runtime
 * file and an open monitor: each ends with the file telling what the VM
 * has, or with an intent record for the next run to settle. */
#ifndef KH_FLOW_H
#define KH_FLOW_H

#include "error.h"
#include "monitor.h"
#include "options.h"
#include "request.h"
#include "runtime.h"

/* An add as the command line or sync asks for it: defaults, what the
 * host can tell, then the operation. */
int add_checked(const struct options *o, struct request *r,
		struct error *e);

/* nic modify: the NIC removed and made again with the changes, at the
 * same slot, under one lock and one monitor connection. If the new NIC
 * cannot be made, the old one is put back. */
int modify_nic(const struct options *o, const struct request *given,
	       struct error *e);

/* After the guest let go: what the device was attached to in QEMU. */
int release_backend(const struct options *o, struct monitor *m,
		    const struct runtime *rt, const struct rt_device *d,
		    struct error *e);

int remove_device(const struct options *o, const struct request *r,
		  struct error *e);

int add_device(const struct options *o, const struct request *r,
	       struct error *e);

#endif
