/* The QMP steps every device kind uses: see qdev.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "log.h"
#include "qdev.h"

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

enum step_outcome removal_outcome(struct error *e, enum qemu_said gone)
{
	if (e->code == KH_OK)
		return STEP_DONE;
	if (!qemu_said(e, gone))
		return STEP_FAILED;
	error_clear(e);
	return STEP_GONE;
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

/* device_add: a bus that takes no hotplug is QEMU's way of saying so,
 * whatever we checked. */
static enum step_outcome device_add_outcome(const struct plan *p,
					    const struct step *st, json_t *ret,
					    struct error *e)
{
	(void)st;
	(void)ret;
	(void)p;
	if (e->code == KH_OK)
		return STEP_DONE;
	classify_plug_error(e);
	return STEP_FAILED;
}

void plan_device_add(struct plan *p, json_t *args)
{
	struct step *st = plan_add_args(p, "device_add", args);

	st->flags = STEP_GUEST;
	st->check = device_add_outcome;
	st->fault = "after-device_add";
	step_undo(st, "device_del", json_pack("{s:s}", "id", p->d->id));
	/* Nothing is asked after it: QEMU puts a device_add with an explicit
	 * bus and addr there or refuses it, so a read-back (query-pci, or
	 * qom-get of its addr) would tell nothing new and cost QEMU a command
	 * while the guest probes the device. */
}

int unplug_absent(const char *id, struct error *e)
{
	return error_set(e, KH_EFAIL, "QEMU has no device %s, which the runtime "
			 "file records as plugged, and the file names no VM to "
			 "tell whether this is its: is it? (see check); nothing "
			 "changed", id);
}

/* device_del: gone meanwhile is fine where the plan says it may be
 * (gone_is_done); asked before and still waiting for the guest is to
 * wait again. */
static enum step_outcome unplug_outcome(const struct plan *p,
					const struct step *st, json_t *ret,
					struct error *e)
{
	const char *id = p->d->id;

	(void)st;
	(void)ret;
	if (e->code == KH_OK)
		return STEP_DONE;
	if (qemu_said(e, QEMU_NO_DEVICE) && p->gone_is_done) {
		verbose(p->o, "%s is already gone from QEMU", id);
		error_clear(e);
		return STEP_GONE;
	}
	if (qemu_said(e, QEMU_NO_DEVICE)) {
		unplug_absent(id, e);
		return STEP_FAILED;
	}
	if (!qemu_said(e, QEMU_UNPLUG_PENDING)) {
		classify_plug_error(e);
		return STEP_FAILED;
	}
	error_clear(e);
	return STEP_DONE;
}

static bool is_deleted_device(json_t *data, void *id)
{
	const char *dev = json_string_value(json_object_get(data, "device"));

	return dev != NULL && strcmp(dev, id) == 0;
}

/* Until the guest has released the device: DEVICE_DELETED. */
static int wait_release(const struct plan *p, const struct step *st,
			struct error *e)
{
	const struct options *o = p->o;
	const char *id = p->d->id;
	int64_t asked_us = clock_us();

	(void)st;
	/* QEMU 7.2 dates an unplug request's expiry by the virtual clock:
	 * asked before the VM ever ran, it never expires, and a guest
	 * booting later clears the request, so that every later device_del
	 * is refused as "already in the process of unplug" until a reset.
	 * No guest has run since the last reset: one more finishes it. */
	if (p->reset_finishes) {
		verbose(o, "QEMU is in prelaunch: system_reset finishes the unplug");
		if (monitor_execute(p->m, "system_reset", NULL, NULL, e) != KH_OK)
			return e->code;
	}
	verbose(o, "device_del %s: waiting for the guest", id);
	if (monitor_wait_event(p->m, "DEVICE_DELETED", is_deleted_device,
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
		(clock_us() - asked_us) / 1000.0);
	return KH_OK;
}

struct step *plan_unplug(struct plan *p)
{
	struct step *st = plan_add_args(p, "device_del",
					json_pack("{s:s}", "id", p->d->id));

	st->check = unplug_outcome;
	st->wait = wait_release;
	return st;
}

enum step_outcome hmp_outcome(json_t *ret, enum hmp_success ok,
			      struct error *e)
{
	const char *text = json_string_value(ret);

	if (e->code != KH_OK)
		return STEP_FAILED;
	if (text != NULL && text[0] != '\0' &&
	    (ok == HMP_SILENT || strncmp(text, "OK", 2) != 0)) {
		error_set(e, KH_EFAIL, "%.*s", (int)strcspn(text, "\r\n"), text);
		snprintf(e->qmp_class, sizeof(e->qmp_class), "HMP");
		return STEP_FAILED;
	}
	return STEP_DONE;
}

static enum step_outcome hmp_silent(const struct plan *p, const struct step *st,
				    json_t *ret, struct error *e)
{
	(void)p;
	(void)st;
	return hmp_outcome(ret, HMP_SILENT, e);
}

static enum step_outcome hmp_says_ok(const struct plan *p, const struct step *st,
				     json_t *ret, struct error *e)
{
	(void)p;
	(void)st;
	return hmp_outcome(ret, HMP_SAYS_OK, e);
}

struct step *plan_hmp(struct plan *p, enum hmp_success ok, const char *fmt, ...)
{
	char line[1024];
	struct step *st;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	st = plan_add_args(p, "human-monitor-command",
			   json_pack("{s:s}", "command-line", line));
	st->check = ok == HMP_SILENT ? hmp_silent : hmp_says_ok;
	return st;
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
