/* QMP commands every device kind uses: device_add checked against
 * query-pci, device_del and the wait for the guest, undo, HMP, and what
 * QEMU's error texts mean. */
#ifndef KH_QDEV_H
#define KH_QDEV_H

#include <stdbool.h>

#include <jansson.h>

#include "error.h"
#include "monitor.h"
#include "options.h"
#include "runtime.h"

/* device_add, then the check that QEMU shows it at its slot. *refused
 * tells the caller to take back what it made for the device; a device
 * QEMU took but put elsewhere can only be asked back from the guest. */
int device_add_verified(const struct options *o, struct monitor *m,
			const struct rt_device *d, json_t *args,
			bool *refused, struct error *e);

json_t *device_args(const struct rt_device *d);

/* An HMP command through QMP. HMP tells failure only in its output, so
 * any output that does not start with ok (NULL: no output at all) is the
 * error, with the monitor's text as the message. */
int hmp(struct monitor *m, const char *ok, struct error *e,
	const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Best effort: the undo must not hide the error that caused it. */
void undo(struct monitor *m, const char *cmd, json_t *args);

/* Asks the guest to release the device and waits until it has. A device
 * QEMU no longer knows counts as released: an earlier run may have timed
 * out before the guest acknowledged. */
int unplug_device(const struct options *o, struct monitor *m,
		  const char *id, bool pending, struct error *e);

/* Appends "-OPTION" and args (taken) as its JSON text to argv, a JSON
 * array of strings: how cmdline gives a device's options. -1 on ENOMEM. */
int cmdline_append(json_t *argv, const char *option, json_t *args);

/* What QEMU's refusals mean, matched in this one place: QMP error
 * classes where QEMU has one, its texts (7.2's) where it has not. */
enum qemu_said {
	QEMU_NO_DEVICE,		/* DeviceNotFound */
	QEMU_NO_HOTPLUG,	/* the bus takes no hotplug */
	QEMU_UNPLUG_PENDING,	/* device_del asked before, still waiting */
	QEMU_NO_NODE,		/* blockdev-del of a node that is gone */
	QEMU_NODE_IN_USE,	/* blockdev-del before QEMU let the node go */
	QEMU_NO_DRIVE,		/* HMP drive_del of a drive that is gone */
	QEMU_WRITE_LOCKED,	/* another opener holds the image's write lock */
};

/* Whether the error e (from QEMU) says what. */
bool qemu_said(const struct error *e, enum qemu_said what);

#endif
