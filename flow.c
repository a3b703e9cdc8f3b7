/* Steps 3 to 5 of an add, a removal and a NIC modify: see flow.h. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "fault.h"
#include "flow.h"
#include "kind.h"
#include "output.h"
#include "bus.h"
#include "qdev.h"
#include "ready.h"
#include "settle.h"

/* The new entry, as it will be recorded in rt: what every device has,
 * then what its kind has. */
static int fill_device(const struct runtime *rt, struct rt_device *d,
		       const struct request *r, const char *bus, int slot,
		       struct error *e)
{
	d->kind = r->kind;
	d->state = RT_PLUGGED;
	d->slot = slot;
	d->source = r->source;
	memcpy(d->uuid, r->uuid, sizeof(d->uuid));
	snprintf(d->bus, sizeof(d->bus), "%s", bus);
	if (runtime_device_id(rt, d->kind, d->uuid, d->bus, slot, d->id,
			      sizeof(d->id), e) != KH_OK)
		return e->code;
	if (r->name != NULL && (d->name = strdup(r->name)) == NULL)
		return error_nomem(e);
	snprintf(d->added_by, sizeof(d->added_by), "%s",
		 r->added_by != NULL ? r->added_by : "");
	return kind_ops(d->kind)->fill(rt, d, r, e);
}

/* The dry run's marks on bus (o->dry), NULL where its plans so far
 * took or freed nothing there. */
static struct dry_bus *dry_find(struct options *o, const char *bus)
{
	struct dry_slots *m = &o->dry;

	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->at[i].bus, bus) == 0)
			return &m->at[i];
	return NULL;
}

/* A dry run's plan takes (or frees) slot on bus; a bus beyond the room
 * for marks gets none. */
static void dry_mark(struct options *o, const char *bus, int slot, bool freed)
{
	struct dry_slots *m = &o->dry;
	struct dry_bus *b = dry_find(o, bus);

	if (b == NULL) {
		if (m->n == sizeof(m->at) / sizeof(m->at[0]))
			return;
		b = &m->at[m->n++];
		snprintf(b->bus, sizeof(b->bus), "%s", bus);
		b->taken = b->freed = 0;
	}
	*(freed ? &b->freed : &b->taken) |= UINT32_C(1) << slot;
}

int flow_survey(const struct session *s, const struct request *r,
		struct bus_map *map, struct bus_want *w, struct error *e)
{
	const struct runtime *rt = &s->rt;

	*w = (struct bus_want){
		.bus = r->bus[0] != '\0' ? r->bus : NULL, .slot = r->slot,
		.allowed = rt->buses, .nallowed = rt->nbuses,
		.reserved_by = runtime_reserved_by(rt),
		.sure = s->o->dry_run,
	};
	w->only = runtime_only_bus(rt, &w->only_why);
	if (bus_survey(s->m, BUS_WHERE | BUS_HOTPLUG, map, e) != KH_OK)
		return e->code;
	for (size_t i = 0; i < map->nbus; i++) {
		struct bus *b = &map->bus[i];
		const struct dry_bus *dry = dry_find(s->o, b->name);

		b->used |= runtime_used_slots(rt, b->name);
		if (dry != NULL)
			b->used = (b->used & ~dry->freed) | dry->taken;
		b->reserved = runtime_reserved(rt, b->name);
	}
	return KH_OK;
}

/* Step 3 for an add: where the survey (flow_survey) has room; a VM where
 * no allowed bus takes hotplug is refused (exit 3) before anything
 * changes. */
static int choose_place(const struct session *s, const struct request *r,
			char *bus, size_t size, int *slot, struct error *e)
{
	struct bus_map map;
	struct bus_want w;

	if (flow_survey(s, r, &map, &w, e) == KH_OK &&
	    bus_place(s->m, &map, &w, bus, size, slot, e) == KH_OK)
		verbose(s->o, "%s slot %d chosen (taken there: 0x%08x)", bus,
			*slot, bus_find(&map, bus)->used);
	bus_map_free(&map);
	return e->code;
}

/* A failure QEMU did not answer for (a timeout, a lost connection, a
 * device it took but put elsewhere) leaves the VM's state unknown. */
static bool outcome_unknown(const struct error *e)
{
	return e->code != KH_OK && e->qmp_class[0] == '\0';
}

/* Notes what was about to happen to d, before QEMU changes: the record a
 * killed run leaves for the next one to settle (settle.c), with what
 * taking back an add's plan p sends (NULL: a removal's). */
static int tell_intent(struct session *s, const char *op,
		       const struct rt_device *d, const struct plan *p,
		       struct error *e)
{
	json_t *in = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i}", "op", op,
			       "kind", rt_kind_name(d->kind), "uuid", d->uuid,
			       "id", d->id, "bus", d->bus, "slot", d->slot,
			       "queues", d->queues);
	struct runtime *rt = &s->rt;
	int rc;

	/* the record is about this QEMU process and no other (settle.h) */
	if (in != NULL && session_qemu(s)[0] != '\0')
		json_object_set_new(in, "qemu", json_string(session_qemu(s)));
	if (in != NULL && p != NULL &&
	    json_object_set_new(in, "undo", plan_undo_journal(p)) == -1) {
		json_decref(in);
		in = NULL;
	}
	if (in != NULL && rt->tmp_path != NULL)
		json_object_set_new(in, "prepared", json_string(rt->tmp_path));
	if (in != NULL && d->tap[0] != '\0')
		json_object_set_new(in, "tap", json_string(d->tap));
	rc = in == NULL ? error_nomem(e) :
			  runtime_intent_write(rt, in, e);
	json_decref(in);
	fault_point(op[0] == 'a' ? "add-intent" : "remove-intent");
	return rc;
}

/* The same add again: the device is recorded with what r asks for. If
 * QEMU has it where recorded, that is success with nothing to do; the
 * same uuid with other settings is refused by refuse_duplicate. */
static int add_again(struct session *s, const struct rt_device *d,
		     json_t **res, struct error *e)
{
	const struct bus_device *at;
	struct bus_map map;
	bool present;

	if (bus_survey(s->m, BUS_WHERE, &map, e) != KH_OK) {
		bus_map_free(&map);
		return e->code;
	}
	at = bus_device_find(&map, d->id);
	present = at != NULL && strcmp(at->bus, d->bus) == 0 &&
		  at->slot == d->slot;
	bus_map_free(&map);
	if (!present)
		return error_set(e, KH_EFAIL, "%s %s is recorded in %s but QEMU "
				 "does not have it at %s slot %d (see check)",
				 rt_kind_name(d->kind), d->uuid, s->o->runtime,
				 d->bus, d->slot);
	*res = change_result("unchanged", d);
	return KH_OK;
}

/* A second device with the same uuid, or what its kind must not share
 * (a second NIC with the same MAC), would make the file ambiguous:
 * refused before anything is sent. The same add again is no duplicate. */
static int refuse_duplicate(struct session *s, const struct request *r,
			    struct error *e)
{
	const struct rt_device *d = runtime_find_uuid(&s->rt, r->uuid);
	const struct kind_ops *k = kind_ops(r->kind);

	if (d != NULL && !same_add(d, r))
		return error_set(e, KH_EFAIL, "a device with uuid %s is already "
				 "recorded in %s, with other settings", r->uuid,
				 s->o->runtime);
	if (d != NULL || k->conflicts == NULL)
		return KH_OK;
	return k->conflicts(&s->rt, r, NULL, e);
}

/* After a failed add: the host side taken back, the new entry dropped.
 * A commit may have merged another writer's file: d is looked up. */
static void drop_new(struct session *s, const struct request *r,
		     struct host_side *h)
{
	const struct kind_ops *k = kind_ops(r->kind);
	struct rt_device *d = runtime_find_uuid(&s->rt, r->uuid);

	if (d != NULL) {
		if (k->host_down != NULL)
			k->host_down(s, d, h);
		runtime_discard(&s->rt);
		runtime_remove_device(&s->rt, (size_t)(d - s->rt.dev));
	}
}

/* An add's intent record once its plan ran: cleared where the file tells
 * the outcome (done, or all taken back); kept with the prepared file
 * where QEMU may still do what it was asked, for the next run to decide. */
static void end_add_intent(struct session *s, struct error *e)
{
	if (outcome_unknown(e)) {
		runtime_keep_prepared(&s->rt);
		error_prefix(e, "the outcome is unknown, the next run settles it: ");
	} else {
		runtime_intent_clear(&s->rt);
	}
}

/* Steps 3 to 5 of an add, on a locked runtime file and an open monitor.
 * On failure the file and rt are as they were (the new entry dropped).
 * A dry run shows the plan and keeps the new entry in rt alone, to show
 * the file as it would be. */
static int plug_new(struct session *s, const struct request *r, json_t **res,
		    struct error *e)
{
	const struct kind_ops *k = kind_ops(r->kind);
	const bool dry = s->o->dry_run;
	struct rt_device *d = NULL;
	struct host_side h;
	struct plan p;
	bool intent_told = false;
	char bus[RT_BUS_MAX];
	int slot = -1;

	host_side_init(&h);
	plan_init(&p, s->o, s->m, NULL, s->o->plan);
	/* 3 */
	if (choose_place(s, r, bus, sizeof(bus), &slot, e) != KH_OK)
		goto out;
	/* Everything that can fail here happens before QEMU changes: a
	 * plugged device cannot be taken back without the guest. */
	if ((d = runtime_add_device(&s->rt, e)) == NULL ||
	    fill_device(&s->rt, d, r, bus, slot, e) != KH_OK ||
	    (k->host_check != NULL && k->host_check(s, r, d, &h, e) != KH_OK) ||
	    (!dry && k->host_up != NULL && k->host_up(s, r, d, &h, e) != KH_OK))
		goto out;
	p.d = d;
	k->add_steps(s, d, &h, &p);
	if (dry) {
		if (plan_run(&p, NULL, e) == KH_OK)
			dry_mark(s->o, bus, slot, false);
		goto out;
	}
	if (runtime_prepare(&s->rt, e) != KH_OK ||
	    tell_intent(s, "add", d, &p, e) != KH_OK)
		goto out;
	intent_told = true;
	/* 4 */
	if (plan_run(&p, NULL, e) != KH_OK) {
		if (k->explain != NULL)
			k->explain(&s->rt, d, e);
		goto out;
	}
	/* 5 */
	fault_point("before-commit");
	*res = change_result("added", d);
	if (session_commit(s, e) != KH_OK) {
		json_decref(*res);
		*res = NULL;
	}
	fault_point("after-commit");
out:
	if (intent_told)
		end_add_intent(s, e);
	if (e->code != KH_OK && d != NULL)
		drop_new(s, r, &h);
	plan_free(&p);
	host_side_close(&h);	/* QEMU holds its own copies */
	return e->code;
}

/* --wait ready, once the device is in QEMU and recorded: until the guest
 * uses it (ready.h). The file stays as it is, whatever the wait says. */
static int wait_ready(struct session *s, const char *uuid, struct error *e)
{
	const struct rt_device *d = runtime_find_uuid(&s->rt, uuid);
	struct ready_wait w;

	if (!s->o->wait_ready || s->o->dry_run || d == NULL)
		return KH_OK;
	if (ready_wait(s->m, d->id, s->o->timeout_ms, &w, e) == KH_OK)
		verbose(s->o, "the guest uses %s: ready %ld ms after the first "
			"look (%d looks, the last %ld ms after the one before)",
			d->id, w.waited_ms, w.looks, w.last_pause_ms);
	else
		error_prefix(e, "%s %s is added and recorded but not ready: ",
			     rt_kind_name(d->kind), d->uuid);
	return e->code;
}

/* The result of a change that went through, printed once the guest uses
 * the device where --wait ready asks for that. */
static void finish(struct session *s, const char *uuid, json_t *res,
		   struct error *e)
{
	if (wait_ready(s, uuid, e) == KH_OK)
		print_result(s->o, res);
	else
		json_decref(res);
}

int flow_add(struct session *s, const struct request *r, struct error *e)
{
	struct rt_device *again;
	json_t *res = NULL;

	if (refuse_duplicate(s, r, e) == KH_OK &&
	    /* 2 */
	    session_connect(s, CHANGE_ADD, e) == KH_OK &&
	    /* 3 to 5, unless it is done already */
	    ((again = runtime_find_uuid(&s->rt, r->uuid)) != NULL ?
	     add_again(s, again, &res, e) : plug_new(s, r, &res, e)) == KH_OK)
		finish(s, r->uuid, res, e);
	return e->code;
}

/* The removal could not finish (the guest did not answer in time, or the
 * backend stayed): remember it as pending so that the next run finishes
 * it, and tell the operator what does: the same command again (a modify
 * then adds the NIC with its new settings; a remove would delete it).
 * Keeps e->code. A file that has no place for the mark keeps the
 * removal's intent record instead, which check reports and the next run
 * settles. */
static int mark_unplugging(struct session *s, struct rt_device *d,
			   const char *op, struct error *e)
{
	struct error werr = { 0 };
	char why[sizeof(e->msg)], again[RT_UUID_LEN + 64];
	struct runtime *rt = &s->rt;
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
				 "the VM", why, runtime_aside(rt), again);
	runtime_intent_clear(rt);
	d->state = RT_UNPLUGGING;
	if (session_save(s, &werr) != KH_OK)	/* d is gone after it */
		return error_set(e, code, "%s; recording that failed too: %s",
				 why, werr.msg);
	return error_set(e, code, "%s; it stays recorded as unplugging: %s once "
			 "the guest is up, or reboot the VM", why, again);
}

/* Steps 4 and 5 of a removal, for the recorded device d, as part of
 * command op ("remove", "modify"): one plan, the device's unplug and
 * then its release. A dry run shows it and drops d from rt alone. */
static int unplug_recorded(struct session *s, struct rt_device *d,
			   const char *op, json_t **res, struct error *e)
{
	struct plan p;
	json_t *done = NULL;
	int failed = -1;
	bool has;

	plan_init(&p, s->o, s->m, d, s->o->plan);
	/* the monitor is the VM the file names (session_connect): what
	 * it lacks went outside the tool, and its entry goes */
	p.gone_is_done = d->state == RT_UNPLUGGING ||
			 runtime_names_vm(&s->rt);
	p.reset_finishes = s->prelaunch;
	/* a dry run refuses what the real run's device_del would */
	if (s->o->dry_run && !p.gone_is_done &&
	    (bus_has_device(s->m, d->id, &has, e) != KH_OK ||
	     (!has && unplug_absent(d->id, e) != KH_OK)))
		goto out;
	plan_unplug(&p)->fault = "after-unplug";
	kind_ops(d->kind)->release_steps(s, d, &p);
	/* 4: the id is the one recorded, whatever scheme made it */
	if (!s->o->dry_run && tell_intent(s, "remove", d, NULL, e) != KH_OK)
		goto out;
	if (plan_run(&p, &failed, e) != KH_OK) {
		if (failed > 0) {
			error_prefix(e, "%s is unplugged but its backend "
				     "remains: ", d->id);
			mark_unplugging(s, d, op, e);
		} else if (e->code == KH_ETIMEOUT)
			mark_unplugging(s, d, op, e);
		else
			runtime_intent_clear(&s->rt);
		goto out;
	}
	fault_point("after-release");
	/* 5 */
	done = change_result("removed", d);
	if (s->o->dry_run)
		dry_mark(s->o, d->bus, d->slot, true);
	runtime_remove_device(&s->rt, (size_t)(d - s->rt.dev));
	if (session_save(s, e) != KH_OK)
		goto out;
	fault_point("after-commit-remove");
	if (!s->o->dry_run)
		runtime_intent_clear(&s->rt);
	*res = done;
	done = NULL;
out:
	json_decref(done);
	plan_free(&p);
	return e->code;
}

/* Step 3 of a removal: the device by its uuid, of the kind asked for. */
static struct rt_device *find_recorded(struct session *s,
				       const struct request *r, struct error *e)
{
	struct rt_device *d = runtime_find_uuid(&s->rt, r->uuid);

	if (d == NULL)
		error_set(e, KH_EFAIL, "no %s with uuid %s in %s",
			  rt_kind_name(r->kind), r->uuid, s->o->runtime);
	else if (d->kind != r->kind)
		error_set(e, KH_EFAIL, "uuid %s in %s is a %s's, not a %s's",
			  r->uuid, s->o->runtime, rt_kind_name(d->kind),
			  rt_kind_name(r->kind));
	return d != NULL && d->kind == r->kind ? d : NULL;
}

/* A removal of a uuid the model does not hold: the same removal again (a
 * retry) has nothing to do, said so; an entry the file keeps that the
 * tool leaves alone is refused. */
static int remove_unrecorded(struct session *s, const struct request *r,
			     struct error *e)
{
	char note[PATH_MAX + 64];

	if (runtime_has_other_entry(&s->rt, r->uuid))
		return error_set(e, KH_EFAIL, "%s %s is in %s on a bus kvm-hotplug "
				 "does not manage: it is left alone",
				 rt_kind_name(r->kind), r->uuid, s->o->runtime);
	snprintf(note, sizeof(note), "not recorded in %s, nothing to remove",
		 s->o->runtime);
	print_result(s->o, json_pack("{s:s, s:s, s:s, s:s}", "result", "absent",
				     "kind", rt_kind_name(r->kind), "uuid",
				     r->uuid, "note", note));
	return KH_OK;
}

int flow_remove(struct session *s, const struct request *r, struct error *e)
{
	struct rt_device *d;
	json_t *res = NULL;

	/* the settling finished a pending removal of this very device */
	if (s->settled.kind == r->kind && strcmp(s->settled.uuid, r->uuid) == 0) {
		print_result(s->o, change_result("removed", &s->settled));
		return KH_OK;
	}
	/* 3 (nothing to ask QEMU before the file knows the device), 2 */
	if (runtime_find_uuid(&s->rt, r->uuid) == NULL)
		return remove_unrecorded(s, r, e);
	if ((d = find_recorded(s, r, e)) != NULL &&
	    session_connect(s, CHANGE_REMOVE, e) == KH_OK &&
	    /* 4, 5 */
	    unplug_recorded(s, d, "remove", &res, e) == KH_OK)
		print_result(s->o, res);
	return e->code;
}

/* After a modify's new device could not be made: the old one, made
 * again from was; e tells how that went. */
static void put_back(struct session *s, const struct rt_device *old,
		     const struct request *was, struct error *e)
{
	struct error back = { 0 };
	char why[sizeof(e->msg)];
	const char *kind = rt_kind_name(old->kind);
	json_t *res = NULL;

	memcpy(why, e->msg, sizeof(why));
	if (plug_new(s, was, &res, &back) == KH_OK)
		error_prefix(e, "%s %s is back as it was: ", kind, old->uuid);
	else
		error_set(e, KH_EFAIL, "%s; putting %s %s back failed too, it is "
			  "removed: %s", why, kind, old->uuid, back.msg);
	json_decref(res);
}

/* The device removed and made again with the changes, at the same slot,
 * under one lock and one monitor connection. If the new one cannot be
 * made, the old one is put back. */
int flow_modify(struct session *s, const struct request *given,
		struct error *e)
{
	const struct kind_ops *k = kind_ops(given->kind);
	struct rt_device *d, old = { 0 };
	struct request was, want;
	json_t *gone = NULL, *res = NULL;
	unsigned generation;

	if ((d = find_recorded(s, given, e)) == NULL ||
	    rt_device_copy(&old, d, e) != KH_OK)
		goto out;
	request_from_device(&old, &was);
	want = was;
	want.op = OP_MODIFY;	/* the same device made again */
	apply_changes(&want, given);
	generation = s->rt.generation;
	if ((k->check_modify != NULL &&
	     k->check_modify(&s->rt, d, &want, e) != KH_OK) ||
	    session_connect(s, CHANGE_REMOVE, e) != KH_OK ||
	    unplug_recorded(s, d, "modify", &gone, e) != KH_OK)
		goto out;
	/* the old entry lived in the file as read: if the removal's commit
	 * merged another writer's file, the new device gets an entry of
	 * its own */
	if (s->rt.generation != generation)
		want.source = was.source = NULL;
	if (plug_new(s, &want, &res, e) != KH_OK) {
		if (s->rt.generation != generation)
			was.source = NULL;
		if (!s->o->dry_run)
			put_back(s, &old, &was, e);
		goto out;
	}
	json_object_set_new(res, "result", json_string("modified"));
	finish(s, want.uuid, res, e);
out:
	json_decref(gone);
	rt_device_release(&old);
	return e->code;
}

int flow_check_add(struct request *r, struct error *e)
{
	bool format_given = r->format != NULL;

	apply_defaults(r);
	return kind_ops(r->kind)->check_add(r, format_given, e);
}
