/* What differs between device kinds. Each kind exports one struct
 * kind_ops (disk.c, nic.c), in the manner of iproute2's link_util; the
 * generic flow (flow.c, settle.c, cmd-*.c) calls through it and has no
 * branch on the kind. */
#ifndef KH_KIND_H
#define KH_KIND_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "bus.h"
#include "error.h"
#include "plan.h"
#include "request.h"
#include "runtime.h"
#include "session.h"
#include "tap.h"

/* What an add made on the host before QEMU was asked, which closing takes
 * back until QEMU holds its own copies: a NIC's tap, and whether its ifup
 * script ran (its ifdown then undoes it); a disk's image, opened here
 * where QEMU is handed the file (a Ganeti file's drives). */
struct host_side {
	struct tap tap;
	bool script_ran;
	bool fd_pass;		/* a disk's image is handed over as an fd */
	int file_fd;		/* -1: none */
};

/* Nothing made yet. */
void host_side_init(struct host_side *h);

/* Closes our fds (QEMU holds its own copies). */
void host_side_close(struct host_side *h);

/* What check compares the file with: where each device is (the bus
 * survey), query-named-block-nodes, query-block, query-rx-filter, each
 * recorded device's QOM type by its id ({id: type}), and QEMU's pid (0
 * where it cannot be told). */
struct vm_view {
	struct bus_map map;	/* where each device is (bus.h) */
	json_t *nodes, *blocks, *rx, *types;
	pid_t pid;
};

struct kind_ops {
	enum rt_kind kind;
	/* The options an add cannot do without ("disk add: --path is
	 * required"), before anything else is looked at. */
	int (*complete)(const struct request *r, struct error *e);
	/* An add's request, its defaults applied, checked against the host
	 * before anything is made (a disk's path and content, a NIC's link
	 * or script). */
	int (*check_add)(struct request *r, bool format_given, struct error *e);
	/* d's fields of this kind from r; the common ones are set. */
	int (*fill)(const struct runtime *rt, struct rt_device *d,
		    const struct request *r, struct error *e);
	/* Whether r asks for what d already is: the same add again. */
	bool (*same)(const struct rt_device *d, const struct request *r);
	/* What a new device must share with no recorded one besides its
	 * uuid (a NIC's MAC); except is not looked at. */
	int (*conflicts)(const struct runtime *rt, const struct request *r,
			 const struct rt_device *except, struct error *e);
	/* What host_up would refuse, looked at without making anything: a
	 * dry run's host_up, and the first thing host_up does, so that both
	 * refuse alike; and what QEMU's confinement (its user, its root)
	 * decides for d and h: a disk handed over as an fd, a NIC without
	 * an option ROM. NULL where nothing can be told in advance. */
	int (*host_check)(const struct session *s, const struct request *r,
			  struct rt_device *d, struct host_side *h,
			  struct error *e);
	/* The host side of a new device, made before QEMU is asked, and
	 * what closing it does not take back after a failed add. */
	int (*host_up)(const struct session *s, const struct request *r,
		       struct rt_device *d, struct host_side *h, struct error *e);
	void (*host_down)(const struct session *s, const struct rt_device *d,
			  const struct host_side *h);
	/* Step 4 of an add, as steps of p (plan.h): the backend, each with
	 * its undo, and the device (plan_device_add). The fds they pass are
	 * h's, which may be made after the plan is built. */
	void (*add_steps)(const struct session *s, const struct rt_device *d,
			  const struct host_side *h, struct plan *p);
	/* After the guest let the device go: the steps that release its
	 * backend and host side. */
	void (*release_steps)(const struct session *s, const struct rt_device *d,
			      struct plan *p);
	/* A refused plug explained where QEMU's words do not (an image that
	 * another recorded disk has open). */
	void (*explain)(const struct runtime *rt, const struct rt_device *d,
			struct error *e);
	/* What the host must offer a new device of this kind in a file
	 * like rt's (a NIC's tun device, and vhost-net where the file gives
	 * every NIC vhost): KH_EFAIL or KH_ENOHOTPLUG saying what is
	 * missing. NULL: nothing. */
	int (*host_ready)(const struct runtime *rt, struct error *e);
	/* The QMP commands an add and a removal of this kind send in a
	 * file like rt's (NULL-terminated), besides every device's
	 * (device_add, device_del, query-pci, qom-get): supported asks
	 * QEMU for each. */
	const char *const *(*qmp_needs)(const struct runtime *rt);
	/* cmdline: the options that make d again, appended to argv. */
	int (*cmdline)(json_t *argv, const struct rt_device *d);
	/* check: whether QEMU (or the host) has d's own fields otherwise
	 * than recorded, besides its PCI place and driver (a disk's
	 * backend, format, mode, path, cache; a NIC's MAC, its tap on its
	 * bridge): each difference, naming its field, into why ("; "
	 * between them). */
	bool (*differs)(const struct rt_device *d, const struct vm_view *v,
			char *why, size_t size);
	/* What a result (and with list set, list) says of d beyond the
	 * fields every device has. */
	void (*describe)(json_t *obj, const struct rt_device *d, bool list);
	/* What an operator knows d by, for list's text (a disk's path,
	 * format and mode; a NIC's MAC, tap and link), into out. */
	void (*identify)(const struct rt_device *d, char *out, size_t size);
	/* d's fields of this kind into r, the request that makes d again. */
	void (*to_request)(const struct rt_device *d, struct request *r);
	/* A modify's new settings, checked before the old device is
	 * unplugged; NULL where the kind has no modify. */
	int (*check_modify)(const struct runtime *rt, const struct rt_device *old,
			    const struct request *want, struct error *e);
	/* sync: what of want (the configuration's) differs from had (the
	 * recorded device) that a modify applies, into r (its kind, uuid
	 * and op are the caller's); false when nothing does. NULL where the
	 * kind has no modify. */
	bool (*sync_changes)(const struct rt_device *had,
			     const struct rt_device *want, struct request *r);
};

extern const struct kind_ops disk_ops, nic_ops;

/* The operations of kind k; of the kind named name ("disk"), or NULL. */
const struct kind_ops *kind_ops(enum rt_kind k);
const struct kind_ops *kind_ops_named(const char *name);

/* Appends one difference to why (a kind's differs): "; " between them. */
void differs_say(char *why, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Runs d's kind's release steps (as a plan of their own: a removal the
 * guest acknowledged in an earlier run). */
int release_device(const struct session *s, const struct rt_device *d,
		   struct error *e);

/* Checks what only the whole command line can tell: a uuid, and what an
 * add of r's kind cannot do without. */
int check_request(const struct request *r, const char *sub,
		  struct error *e);

/* Whether r asks for what d already is: what r gives must match (what it
 * leaves out was the file's or the host's choice). */
bool same_add(const struct rt_device *d, const struct request *r);

/* The request that makes d again; its strings point into d. Empty values
 * are left to the add's defaults. */
void request_from_device(const struct rt_device *d, struct request *r);

#endif
