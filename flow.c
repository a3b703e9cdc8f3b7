/* Steps 3 to 5 of an add, a removal and a modify: see flow.h. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "disk.h"
#include "fault.h"
#include "flow.h"
#include "nic.h"
#include "output.h"
#include "pci.h"
#include "qdev.h"
#include "session.h"
#include "settle.h"

static int copy_string(char **to, const char *from, struct error *e)
{
	if (from != NULL && (*to = strdup(from)) == NULL)
		return error_set(e, KH_EFAIL, "out of memory");
	return KH_OK;
}

/* The new entry, as it will be recorded in rt. */
static int fill_device(const struct runtime *rt, struct rt_device *d,
		       const struct request *r, int slot, struct error *e)
{
	d->kind = r->kind;
	d->state = RT_PLUGGED;
	d->slot = slot;
	d->gsource = r->gsource;
	memcpy(d->uuid, r->uuid, sizeof(d->uuid));
	snprintf(d->bus, sizeof(d->bus), "%s", PCI_HOTPLUG_BUS);
	if (runtime_device_id(rt, d->kind, d->uuid, slot, d->id, sizeof(d->id),
			      e) != KH_OK ||
	    copy_string(&d->name, r->name, e) != KH_OK)
		return e->code;
	if (r->kind == RT_DISK) {
		snprintf(d->driver, sizeof(d->driver), "virtio-blk-pci");
		snprintf(d->format, sizeof(d->format), "%s", r->format);
		snprintf(d->mode, sizeof(d->mode), "%s", r->mode);
		snprintf(d->file_driver, sizeof(d->file_driver), "%s", r->file_driver);
		runtime_device_defaults(rt, d);
		if (r->cache != NULL)
			snprintf(d->cache, sizeof(d->cache), "%s", r->cache);
		if (r->discard != NULL)
			snprintf(d->discard, sizeof(d->discard), "%s", r->discard);
		if ((d->gextra = disk_gextra(r)) == NULL)
			return error_set(e, KH_EFAIL, "out of memory");
		return copy_string(&d->path, r->path, e);
	}
	snprintf(d->driver, sizeof(d->driver), "virtio-net-pci");
	snprintf(d->mac, sizeof(d->mac), "%s", r->mac);
	snprintf(d->nic_mode, sizeof(d->nic_mode), "%s", r->nic_mode);
	runtime_device_defaults(rt, d);
	if (r->queues > 0)
		d->queues = r->queues;
	if (copy_string(&d->link, r->link, e) != KH_OK)
		return e->code;
	return copy_string(&d->script, r->script, e);
}

/* Step 3 for an add: live query-pci, the file's slots and reserved ones;
 * refuses a bus that takes no hotplug (exit 3) before anything changes. */
static int choose_slot(const struct options *o, struct monitor *m,
		       const struct runtime *rt, int requested, int *slot,
		       struct error *e)
{
	json_t *pci = NULL;
	uint32_t occupied;

	if (requested >= 0 && requested < PCI_SLOTS &&
	    (rt->reserved & (UINT32_C(1) << requested)))
		return error_set(e, KH_EFAIL, "slot %d on %s is reserved (%s)",
				 requested, PCI_HOTPLUG_BUS, rt->format == RT_GANETI ?
				 "as Ganeti reserves it" : "reserved-slots");
	if (pci_survey(m, PCI_HOTPLUG_BUS, &pci, e) != KH_OK)
		return e->code;
	occupied = pci_occupied_slots(pci) | runtime_used_slots(rt, PCI_HOTPLUG_BUS);
	json_decref(pci);
	if (pci_find_free_slot(occupied, requested, slot, e) != KH_OK)
		return e->code;
	verbose(o, "slot %d chosen (occupied: 0x%08x)", *slot, occupied);
	return KH_OK;
}

/* A failure QEMU did not answer for (a timeout, a lost connection, a
 * device it took but put elsewhere) leaves the VM's state unknown. */
static bool outcome_unknown(const struct error *e)
{
	return e->code != KH_OK && e->qmp_class[0] == '\0';
}

/* Notes what was about to happen to d, before QEMU changes. */
static int tell_intent(struct runtime *rt, const char *op,
		       const struct rt_device *d, struct error *e)
{
	json_t *in = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i}", "op", op,
			       "kind", rt_kind_name(d->kind), "uuid", d->uuid,
			       "id", d->id, "slot", d->slot, "queues", d->queues);
	int rc;

	if (in != NULL && rt->tmp_path != NULL)
		json_object_set_new(in, "prepared", json_string(rt->tmp_path));
	if (in != NULL && d->kind == RT_NIC)
		json_object_set_new(in, "tap", json_string(d->tap));
	rc = in == NULL ? error_set(e, KH_EFAIL, "out of memory") :
			  runtime_intent_write(rt, in, e);
	json_decref(in);
	fault_point(op[0] == 'a' ? "add-intent" : "remove-intent");
	return rc;
}

/* The same add again: the device is recorded with what r asks for. If
 * QEMU has it where recorded, that is success with nothing to do; the
 * same uuid with other settings is refused by refuse_duplicate. */
static int add_again(const struct options *o, struct monitor *m,
		     const struct rt_device *d, json_t **res, struct error *e)
{
	json_t *pci = NULL;
	int bus = -1, slot = -1;
	bool present;

	if (pci_query(m, &pci, e) != KH_OK)
		return e->code;
	present = pci_find_device(pci, d->id, &bus, &slot) && bus == 0 &&
		  slot == d->slot;
	json_decref(pci);
	if (!present)
		return error_set(e, KH_EFAIL, "%s %s is recorded in %s but QEMU "
				 "does not have it at %s slot %d (see check)",
				 rt_kind_name(d->kind), d->uuid, o->runtime, d->bus,
				 d->slot);
	*res = change_result("unchanged", d);
	return KH_OK;
}

static int refuse_duplicate(const struct options *o, struct runtime *rt,
			    const struct request *r, struct error *e)
{
	const struct rt_device *d = runtime_find_uuid(rt, r->uuid);

	if (d != NULL && !same_add(d, r))
		return error_set(e, KH_EFAIL, "a device with uuid %s is already "
				 "recorded in %s, with other settings", r->uuid,
				 o->runtime);
	if (d != NULL)
		return KH_OK;	/* the same add again */
	return r->kind == RT_NIC ? refuse_mac_in_use(rt, r->mac, NULL, e) : KH_OK;
}

/* Steps 3 to 5 of an add, on a locked runtime file and an open monitor.
 * On failure rt is as it was (the new entry is dropped again). */
static int plug_new(const struct options *o, struct runtime *rt,
		    struct monitor *m, const struct request *r, json_t **res,
		    struct error *e)
{
	struct rt_device *d = NULL;
	struct tap tap;
	bool script_ran = false, intent_told = false;
	int slot = -1;

	tap_init(&tap);
	/* 3 */
	if (choose_slot(o, m, rt, r->slot, &slot, e) != KH_OK)
		goto out;
	/* Everything that can fail here happens before QEMU changes: a
	 * plugged device cannot be taken back without the guest. */
	if ((d = runtime_add_device(rt, e)) == NULL ||
	    fill_device(rt, d, r, slot, e) != KH_OK ||
	    (r->kind == RT_NIC &&
	     nic_host_up(o, r, d, &tap, &script_ran, e) != KH_OK) ||
	    runtime_prepare(rt, e) != KH_OK ||
	    tell_intent(rt, "add", d, e) != KH_OK)
		goto out;
	intent_told = true;
	/* 4 */
	if ((r->kind == RT_DISK ? disk_plug(o, m, rt, d, e) :
				  nic_plug(o, m, d, &tap, e)) != KH_OK) {
		name_image_user(rt, d, e);
		goto out;
	}
	/* 5 */
	fault_point("before-commit");
	*res = change_result("added", d);
	if (commit_file(rt, e) != KH_OK) {
		json_decref(*res);
		*res = NULL;
	}
	fault_point("after-commit");
out:
	if (intent_told && outcome_unknown(e)) {
		/* QEMU may still do what it was asked: the next run decides,
		 * with the record and the prepared file */
		runtime_keep_prepared(rt);
		error_prefix(e, "the outcome is unknown, the next run settles it: ");
	} else {
		/* the file tells the outcome now: done, or all taken back */
		runtime_intent_clear(rt);
	}
	/* a commit may have merged another writer's file: d is looked up */
	if (e->code != KH_OK && d != NULL &&
	    (d = runtime_find_uuid(rt, r->uuid)) != NULL) {
		struct error ignored = { 0 };

		if (script_ran)
			run_nic_script(o, d, true, &ignored);
		runtime_discard(rt);
		runtime_remove_device(rt, (size_t)(d - rt->dev));
	}
	tap_close(&tap);	/* QEMU holds its own copies */
	return e->code;
}

int add_device(const struct options *o, const struct request *r,
	       struct error *e)
{
	struct runtime rt;
	struct monitor *m = NULL;
	struct rt_device *again;
	json_t *res = NULL;

	runtime_init(&rt);
	/* 1 */
	if (load_runtime(o, &rt, FILE_CREATE, e) == KH_OK &&
	    settle_intent(o, &rt, &m, e) == KH_OK &&
	    refuse_duplicate(o, &rt, r, e) == KH_OK &&
	    /* 2 */
	    (m != NULL || connect_monitor(o, &rt, &m, e) == KH_OK) &&
	    check_run_state(m, false, e) == KH_OK &&
	    /* 3 to 5, unless it is done already */
	    ((again = runtime_find_uuid(&rt, r->uuid)) != NULL ?
	     add_again(o, m, again, &res, e) : plug_new(o, &rt, m, r, &res, e)) == KH_OK)
		print_result(o, res);
	monitor_close(m);
	runtime_close(&rt);
	return e->code;
}

/* The removal could not finish (the guest did not answer in time, or the
 * backend stayed): remember it as pending so that the next run finishes
 * it, and tell the operator what does: the same command again (a modify
 * then adds the NIC with its new settings; a remove would delete it).
 * Keeps e->code. A file that has no place for the mark keeps the
 * removal's intent record instead, which check reports and the next run
 * settles. */
static int mark_unplugging(struct runtime *rt, struct rt_device *d,
			   const char *op, struct error *e)
{
	struct error werr = { 0 };
	char why[sizeof(e->msg)], again[RT_UUID_LEN + 64];
	int code = e->code;

	memcpy(why, e->msg, sizeof(why));
	if (strcmp(op, "remove") == 0)
		snprintf(again, sizeof(again), "run '%s remove --uuid %s' again",
			 rt_kind_name(d->kind), d->uuid);
	else
		snprintf(again, sizeof(again), "run the same '%s %s' again to "
			 "finish it", rt_kind_name(d->kind), op);
	if (!runtime_records_unplugging(rt))
		return error_set(e, code, "%s; the removal stays pending in "
				 "%s.intent: %s once the guest is up, or reboot "
				 "the VM", why, rt->path, again);
	runtime_intent_clear(rt);
	d->state = RT_UNPLUGGING;
	if (runtime_prepare(rt, &werr) != KH_OK ||
	    commit_file(rt, &werr) != KH_OK)	/* d is gone after it */
		return error_set(e, code, "%s; recording that failed too: %s",
				 why, werr.msg);
	return error_set(e, code, "%s; it stays recorded as unplugging: %s once "
			 "the guest is up, or reboot the VM", why, again);
}

/* After the guest let go: what the device was attached to in QEMU. */
int release_backend(const struct options *o, struct monitor *m,
		    const struct runtime *rt, const struct rt_device *d,
		    struct error *e)
{
	struct error down = { 0 };

	if (d->kind == RT_DISK)
		return disk_backend(rt)->release(o, m, d->id, e);
	/* closing QEMU's tap fds takes the tap away */
	if (monitor_execute(m, "netdev_del", json_pack("{s:s}", "id", d->id),
			    NULL, e) != KH_OK &&
	    strcmp(e->qmp_class, "DeviceNotFound") != 0)
		return e->code;
	error_clear(e);
	/* the NIC is gone whatever the script says: a warning, not a failure */
	if (run_nic_script(o, d, true, &down) != KH_OK)
		fprintf(stderr, "kvm-hotplug: warning: %s\n", down.msg);
	return KH_OK;
}

/* Steps 4 and 5 of a removal, for the recorded device d, as part of
 * command op ("remove", "modify"). */
static int unplug_recorded(const struct options *o, struct runtime *rt,
			   struct monitor *m, struct rt_device *d, const char *op,
			   json_t **res, struct error *e)
{
	json_t *done;

	/* 4: the id is the one recorded, whatever scheme made it */
	if (tell_intent(rt, "remove", d, e) != KH_OK)
		return e->code;
	if (unplug_device(o, m, d->id, d->state == RT_UNPLUGGING, e) != KH_OK) {
		if (e->code == KH_ETIMEOUT)
			mark_unplugging(rt, d, op, e);
		else
			runtime_intent_clear(rt);
		return e->code;
	}
	fault_point("after-unplug");
	if (release_backend(o, m, rt, d, e) != KH_OK) {
		error_prefix(e, "%s is unplugged but its backend remains: ", d->id);
		mark_unplugging(rt, d, op, e);
		return e->code;
	}
	fault_point("after-release");
	/* 5 */
	done = change_result("removed", d);
	runtime_remove_device(rt, (size_t)(d - rt->dev));
	if (runtime_prepare(rt, e) != KH_OK || commit_file(rt, e) != KH_OK) {
		json_decref(done);
		return e->code;
	}
	fault_point("after-commit-remove");
	runtime_intent_clear(rt);
	*res = done;
	return KH_OK;
}

/* Step 3 of a removal: the device by its uuid, of the kind asked for. */
static struct rt_device *find_recorded(const struct options *o,
				       struct runtime *rt,
				       const struct request *r, struct error *e)
{
	struct rt_device *d = runtime_find_uuid(rt, r->uuid);

	if (d == NULL || d->kind != r->kind)
		error_set(e, KH_EFAIL, "no %s with uuid %s in %s",
			  rt_kind_name(r->kind), r->uuid, o->runtime);
	return d != NULL && d->kind == r->kind ? d : NULL;
}

int remove_device(const struct options *o, const struct request *r,
		  struct error *e)
{
	struct runtime rt;
	struct monitor *m = NULL;
	struct rt_device *d, was = { 0 };
	json_t *res = NULL;

	runtime_init(&rt);
	/* 1 */
	if (load_runtime(o, &rt, FILE_CHANGE, e) != KH_OK ||
	    ((d = runtime_find_uuid(&rt, r->uuid)) != NULL &&
	     rt_device_copy(&was, d, e) != KH_OK) ||
	    settle_intent(o, &rt, &m, e) != KH_OK)
		goto out;
	/* the settling finished a pending removal of this very device */
	if (d != NULL && was.kind == r->kind && runtime_find_uuid(&rt, r->uuid) == NULL) {
		print_result(o, change_result("removed", &was));
		goto out;
	}
	/* 3 (nothing to ask QEMU before the file knows the device), 2 */
	if ((d = find_recorded(o, &rt, r, e)) != NULL &&
	    (m != NULL || connect_monitor(o, &rt, &m, e) == KH_OK) &&
	    check_run_state(m, true, e) == KH_OK &&
	    /* 4, 5 */
	    unplug_recorded(o, &rt, m, d, "remove", &res, e) == KH_OK)
		print_result(o, res);
out:
	rt_device_release(&was);
	monitor_close(m);
	runtime_close(&rt);
	return e->code;
}

/* nic modify: the NIC removed and made again with the changes, at the
 * same slot, under one lock and one monitor connection. If the new NIC
 * cannot be made, the old one is put back. */
int modify_nic(const struct options *o, const struct request *given,
	       struct error *e)
{
	struct runtime rt;
	struct monitor *m = NULL;
	struct rt_device *d, old = { 0 };
	struct request was, want;
	json_t *gone = NULL, *res = NULL;

	runtime_init(&rt);
	if (load_runtime(o, &rt, FILE_CHANGE, e) != KH_OK ||
	    settle_intent(o, &rt, &m, e) != KH_OK ||
	    (d = find_recorded(o, &rt, given, e)) == NULL ||
	    rt_device_copy(&old, d, e) != KH_OK)
		goto out;
	request_from_device(&old, &was);
	want = was;
	apply_changes(&want, given);
	if (check_nic_change(&rt, d, &want, e) != KH_OK ||
	    (m == NULL && connect_monitor(o, &rt, &m, e) != KH_OK) ||
	    check_run_state(m, true, e) != KH_OK ||
	    unplug_recorded(o, &rt, m, d, "modify", &gone, e) != KH_OK)
		goto out;
	if (plug_new(o, &rt, m, &want, &res, e) != KH_OK) {
		struct error back = { 0 };
		char why[sizeof(e->msg)];

		memcpy(why, e->msg, sizeof(why));
		if (plug_new(o, &rt, m, &was, &res, &back) == KH_OK)
			error_prefix(e, "nic %s is back as it was: ", old.uuid);
		else
			error_set(e, KH_EFAIL, "%s; putting nic %s back failed "
				  "too, it is removed: %s", why, old.uuid,
				  back.msg);
		json_decref(res);
		goto out;
	}
	json_object_set_new(res, "result", json_string("modified"));
	print_result(o, res);
out:
	json_decref(gone);
	rt_device_release(&old);
	monitor_close(m);
	runtime_close(&rt);
	return e->code;
}

/* An add as the command line or sync asks for it: defaults, what the
 * host can tell, then the operation. */
int add_checked(const struct options *o, struct request *r,
		struct error *e)
{
	bool format_given = r->format != NULL;

	apply_defaults(r);
	if ((r->kind == RT_DISK ? check_disk_path(r, e) : check_nic_link(r, e)) != KH_OK ||
	    (r->kind == RT_DISK && check_disk_content(r, format_given, e) != KH_OK))
		return e->code;
	return add_device(o, r, e);
}
