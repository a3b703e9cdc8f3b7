/* QMP commands every device kind uses: see qdev.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fault.h"
#include "output.h"
#include "pci.h"
#include "qdev.h"

/* Best effort: the undo must not hide the error that caused it. */
void undo(struct monitor *m, const char *cmd, json_t *args)
{
	struct error ignored = { 0 };

	monitor_execute(m, cmd, args, NULL, &ignored);
}

bool qemu_said(const struct error *e, enum qemu_said what)
{
	static const struct { const char *qmp_class, *text; } said[] = {
		[QEMU_NO_DEVICE] = { "DeviceNotFound", NULL },
		[QEMU_NO_HOTPLUG] = { NULL, "does not support hotplugging" },
		[QEMU_UNPLUG_PENDING] = { NULL, "already in the process of unplug" },
		[QEMU_NO_NODE] = { NULL, "Failed to find node" },
		[QEMU_NODE_IN_USE] = { NULL, "is in use" },
		[QEMU_NO_DRIVE] = { NULL, "not found" },
		[QEMU_WRITE_LOCKED] = { NULL, "\"write\" lock" },
	};

	if (said[what].qmp_class != NULL)
		return strcmp(e->qmp_class, said[what].qmp_class) == 0;
	return strstr(e->msg, said[what].text) != NULL;
}

/* QEMU's way of saying the bus takes no hotplug, whatever we checked. */
static int classify_plug_error(struct error *e)
{
	if (qemu_said(e, QEMU_NO_HOTPLUG))
		e->code = KH_ENOHOTPLUG;
	return e->code;
}

json_t *device_args(const struct rt_device *d)
{
	char addr[8];

	snprintf(addr, sizeof(addr), "0x%x", (unsigned)d->slot);
	return json_pack("{s:s, s:s, s:s, s:s}", "driver", d->driver, "id",
			 d->id, "bus", d->bus, "addr", addr);
}

/* Checks that QEMU shows the device where we put it; pci_id is a
 * query-pci already sent. */
static int verify_device(struct monitor *m, unsigned long pci_id,
			 const struct rt_device *d, struct error *e)
{
	json_t *pci = NULL;
	int bus = -1, slot = -1;
	bool found;

	if (monitor_reply(m, pci_id, "query-pci", &pci, e) != KH_OK)
		return e->code;
	found = pci_find_device(pci, d->id, &bus, &slot);
	json_decref(pci);
	if (!found || bus != 0 || slot != d->slot)
		return error_set(e, KH_EFAIL,
				 "QEMU accepted %s but does not show it at %s "
				 "slot %d", d->id, d->bus, d->slot);
	return KH_OK;
}

/* device_add, then the check that QEMU shows it at its slot. *refused
 * tells the caller to take back what it made for the device; a device
 * QEMU took but put elsewhere can only be asked back from the guest. */
int device_add_verified(const struct options *o, struct monitor *m,
			const struct rt_device *d, json_t *args,
			bool *refused, struct error *e)
{
	unsigned long add_id, pci_id;

	*refused = true;
	if (args == NULL)
		return error_set(e, KH_EFAIL, "out of memory");
	/* The read-only check goes out right behind device_add, before the
	 * guest starts probing the new device and keeps QEMU busy. */
	if (monitor_send(m, "device_add", args, -1, &add_id, e) != KH_OK ||
	    monitor_send(m, "query-pci", NULL, -1, &pci_id, e) != KH_OK ||
	    monitor_reply(m, add_id, "device_add", NULL, e) != KH_OK)
		return classify_plug_error(e);
	*refused = false;
	fault_point("after-device_add");
	verbose(o, "device_add %s at %s slot %d: done", d->id, d->bus, d->slot);
	if (verify_device(m, pci_id, d, e) != KH_OK) {
		undo(m, "device_del", json_pack("{s:s}", "id", d->id));
		return e->code;
	}
	return KH_OK;
}

static bool is_deleted_device(json_t *data, void *id)
{
	const char *dev = json_string_value(json_object_get(data, "device"));

	return dev != NULL && strcmp(dev, id) == 0;
}

/* Asks the guest to release the device and waits until it has. A device
 * QEMU no longer knows counts as released: an earlier run may have timed
 * out before the guest acknowledged. */
int unplug_device(const struct options *o, struct monitor *m,
		  const char *id, bool pending, struct error *e)
{
	int64_t asked_us = monitor_clock_us();

	if (monitor_execute(m, "device_del", json_pack("{s:s}", "id", id), NULL,
			    e) != KH_OK) {
		/* gone meanwhile: only a removal already asked for may be;
		 * else this QEMU is not the VM the file describes */
		if (qemu_said(e, QEMU_NO_DEVICE) && pending) {
			verbose(o, "%s is already gone from QEMU", id);
			error_clear(e);
			return KH_OK;
		}
		if (qemu_said(e, QEMU_NO_DEVICE))
			return error_set(e, KH_EFAIL, "QEMU has no device %s, which "
					 "the runtime file records as plugged: is "
					 "it this VM's? (see check); nothing changed",
					 id);
		/* asked before, still waiting for the guest: wait again */
		if (!qemu_said(e, QEMU_UNPLUG_PENDING))
			return classify_plug_error(e);
		error_clear(e);
	}
	verbose(o, "device_del %s: waiting for the guest", id);
	if (monitor_wait_event(m, "DEVICE_DELETED", is_deleted_device,
			       (void *)id, o->timeout_ms, e) != KH_OK) {
		if (e->code == KH_ETIMEOUT && strstr(e->msg, "interrupted") != NULL)
			error_prefix(e, "waiting for the guest to release %s: ", id);
		else if (e->code == KH_ETIMEOUT)
			error_set(e, KH_ETIMEOUT,
				  "the guest did not release %s within %.1f s", id,
				  o->timeout_ms / 1000.0);
		return e->code;
	}
	verbose(o, "%s released by the guest after %.2f ms", id,
		(monitor_clock_us() - asked_us) / 1000.0);
	return KH_OK;
}

int hmp(struct monitor *m, const char *ok, struct error *e,
	const char *fmt, ...)
{
	char line[1024];
	json_t *out = NULL;
	const char *text;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (monitor_execute(m, "human-monitor-command", json_pack("{s:s}",
			    "command-line", line), &out, e) != KH_OK)
		return e->code;
	text = json_string_value(out);
	if (text != NULL && text[0] != '\0' &&
	    (ok == NULL || strncmp(text, ok, strlen(ok)) != 0)) {
		error_set(e, KH_EFAIL, "%.*s", (int)strcspn(text, "\r\n"), text);
		snprintf(e->qmp_class, sizeof(e->qmp_class), "HMP");
	}
	json_decref(out);
	return e->code;
}

/* Appends "-OPTION" and args as JSON to argv (a JSON array of strings). */
int cmdline_append(json_t *argv, const char *option, json_t *args)
{
	char *text = args != NULL ? json_dumps(args, JSON_COMPACT) : NULL;
	int rc = text == NULL || json_array_append_new(argv, json_string(option)) ||
		 json_array_append_new(argv, json_string(text));

	free(text);
	json_decref(args);
	return rc ? -1 : 0;
}
