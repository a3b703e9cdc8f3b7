/* The QMP steps every device kind uses: device_add checked against
 * the device's addr in QOM, device_del and the wait for the guest, HMP; and what QEMU's
 * error texts mean. */
#ifndef KH_QDEV_H
#define KH_QDEV_H

#include <stdbool.h>

#include <jansson.h>

#include "error.h"
#include "monitor.h"
#include "options.h"
#include "plan.h"
#include "runtime.h"

/* The steps every device kind's plan shares (plan.h), for p's device. */

/* device_add of args (taken), at the explicit bus and addr args name:
 * QEMU puts it there or refuses it. A refusal takes back what the steps
 * before made. */
void plan_device_add(struct plan *p, json_t *args);

/* The refusal of a removal whose device QEMU lacks where the plan does
 * not allow that (plan.gone_is_done): KH_EFAIL naming id. A dry run,
 * which sends no device_del, says it from the bus survey. */
int unplug_absent(const char *id, struct error *e);

/* device_del, and the wait until the guest has released the device. A
 * device QEMU no longer knows counts as released (STEP_GONE) when its
 * removal was asked for before (p->pending): an earlier run may have
 * timed out before the guest acknowledged. */
struct step *plan_unplug(struct plan *p);

/* What an HMP command prints when it succeeds. */
enum hmp_success { HMP_SILENT, HMP_SAYS_OK };

/* An HMP command line (human-monitor-command), which tells failure only
 * in its output: any output but what success prints is the error, with
 * the monitor's text as the message. The step is returned for its other
 * fields. */
struct step *plan_hmp(struct plan *p, enum hmp_success ok, const char *fmt,
		      ...) __attribute__((format(printf, 3, 4)));

/* An HMP answer ret judged as plan_hmp's step does, for a check of its
 * own: e set (class "HMP") if it is a failure. */
enum step_outcome hmp_outcome(json_t *ret, enum hmp_success ok,
			      struct error *e);

json_t *device_args(const struct rt_device *d);

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

/* A step that removes something (its check, or the start of one): done,
 * or gone already when QEMU's refusal says gone (e cleared), else
 * failed. */
enum step_outcome removal_outcome(struct error *e, enum qemu_said gone);

#endif
