/* What an interrupted run left, settled by the VM's word: see settle.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "kind.h"
#include "log.h"
#include "bus.h"
#include "settle.h"

/* What settling did, always said: it is news to the caller. A dry run
 * says what a real run would do, and does none of it. */
static void told(const struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void told(const struct session *s, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	notice("%s%s", s->o->dry_run ? "dry run, not done: " : "", what);
}

/* The record cleared once the file tells the outcome; a dry run keeps it. */
static void clear_record(struct session *s)
{
	if (!s->o->dry_run)
		runtime_intent_clear(&s->rt);
}

/* An interrupted add's leftovers taken back: the undos of its plan, each
 * part of which may be missing; a dry run shows them. */
static int take_back(struct session *s, json_t *undo, struct error *e)
{
	if (!s->o->dry_run)
		plan_replay_undo(s->o, s->m, undo);
	else if (undo != NULL && json_array_extend(s->o->plan, undo) == -1)
		return error_nomem(e);
	return KH_OK;
}

/* The tap of a NIC whose add died after QEMU took it, where the file's
 * format keeps taps beside the file (Ganeti's nic files). */
static void record_tap(struct runtime *rt, const char *id, const char *tap)
{
	struct rt_device *d = runtime_find_id(rt, id);

	if (d == NULL || tap == NULL || d->tap[0] != '\0' ||
	    strlen(tap) >= sizeof(d->tap))
		return;
	memcpy(d->tap, tap, strlen(tap) + 1);
	write_side_files(rt);
}

/* The prepared file of an add QEMU carried out put in place (a dry run:
 * what rt would then hold), and its tap recorded. */
static int put_prepared(struct session *s, json_t *in, const char *prepared,
			struct error *e)
{
	struct runtime *rt = &s->rt;

	if (s->o->dry_run)
		return runtime_load_instead(rt, prepared, e);
	if (rename(prepared, rt->path) == -1)
		return error_set(e, KH_EFAIL, "%s: %s", prepared, strerror(errno));
	if (runtime_load(rt, false, e) != KH_OK)
		return e->code;
	record_tap(rt, json_string_value(json_object_get(in, "id")),
		   json_string_value(json_object_get(in, "tap")));
	return KH_OK;
}

/* An add that died: QEMU has the device (record it: the prepared file
 * says exactly that), or not (take back its leftovers). */
static int settle_add(struct session *s, json_t *in, bool present,
		      struct error *e)
{
	struct runtime *rt = &s->rt;
	const char *id = json_string_value(json_object_get(in, "id"));
	const char *prepared = json_string_value(json_object_get(in, "prepared"));

	if (present) {
		if (prepared != NULL && access(prepared, F_OK) == 0 &&
		    put_prepared(s, in, prepared, e) != KH_OK)
			return e->code;
		/* said only when the file says so */
		if (runtime_find_id(rt, id) != NULL)
			told(s, "an interrupted add of %s: QEMU has it, recorded", id);
		else
			told(s, "an interrupted add of %s: QEMU has it, but %s does "
			     "not record it and its prepared file is gone: check "
			     "lists it", id, rt->path);
		clear_record(s);
		return KH_OK;
	}
	if (take_back(s, json_object_get(in, "undo"), e) != KH_OK)
		return e->code;
	if (prepared != NULL && !s->o->dry_run)
		unlink(prepared);
	if (json_object_get(in, "undo") != NULL)
		told(s, "an interrupted add of %s: QEMU does not have it, its "
		     "leftovers released", id);
	else
		told(s, "an interrupted add of %s: QEMU does not have it; the "
		     "record names no undo (an older kvm-hotplug's): check "
		     "lists what it may have left", id);
	clear_record(s);
	return KH_OK;
}

/* A removal that died: while QEMU has the device it stays recorded; once
 * QEMU let it go, its backend goes and so does the entry. */
static int settle_remove(struct session *s, json_t *in, bool present,
			 struct error *e)
{
	const char *id = json_string_value(json_object_get(in, "id"));
	struct runtime *rt = &s->rt;
	struct rt_device *d = runtime_find_id(rt, id);

	if (present && !runtime_records_unplugging(rt)) {
		/* the record is the only mark of the pending removal */
		notice("a removal of %s is pending: QEMU still has it (remove it "
		       "again once the guest is up, or reboot the VM)", id);
		return KH_OK;
	}
	if (present) {
		told(s, "an interrupted removal of %s: QEMU still has it, it stays "
		     "recorded (remove it again)", id);
		clear_record(s);
		return KH_OK;
	}
	if (d != NULL) {
		rt_device_release(&s->settled);
		if (release_device(s, d, e) != KH_OK ||
		    rt_device_copy(&s->settled, d, e) != KH_OK)
			return e->code;
		runtime_remove_device(rt, (size_t)(d - rt->dev));
		if (session_save(s, e) != KH_OK)
			return e->code;
	}
	told(s, "the pending removal of %s is finished: QEMU let it go, no "
	     "longer recorded", id);
	clear_record(s);
	return KH_OK;
}

/* The QEMU process the record in names, where that is not the one s is
 * connected to: NULL for a record about this one, one that names none
 * (an older kvm-hotplug's), or where this one cannot be told. */
static const char *stale_qemu(struct session *s, json_t *in)
{
	const char *qemu = json_string_value(json_object_get(in, "qemu"));
	const char *now = session_qemu(s);

	return qemu == NULL || now[0] == '\0' || strcmp(qemu, now) == 0 ?
	       NULL : qemu;
}

int settle_read_intent(struct session *s, json_t **in, const char **stale,
		       struct error *e)
{
	*stale = NULL;
	if (runtime_intent_read(&s->rt, in, e) == KH_OK && *in != NULL)
		*stale = stale_qemu(s, *in);
	return e->code;
}

/* A record of another QEMU process: what it says was about a process
 * that no longer runs this VM (it was restarted from the file, or
 * migrated away and back), whose devices went with it. Replaying it
 * would act on devices of this one that have the same ids: it goes,
 * with the prepared file it names. */
static void drop_stale(struct session *s, json_t *in, const char *qemu)
{
	const char *prepared = json_string_value(json_object_get(in, "prepared"));

	told(s, "a stale intent record (%s.intent, of QEMU process %.*s, not "
	     "the one running the VM now) dropped: it is not replayed",
	     runtime_aside(&s->rt), (int)strcspn(qemu, ":"), qemu);
	if (s->o->dry_run)
		return;
	if (prepared != NULL)
		unlink(prepared);
	clear_record(s);
}

/* Step 1 and a half: a run that died between its intent record and its
 * runtime file left the two telling different stories; the VM decides. */
int settle_intent(struct session *s, struct error *e)
{
	json_t *in = NULL;
	const char *op, *id, *kind, *stale;
	bool present;

	/* which QEMU runs the VM tells a stale record */
	if (runtime_intent_read(&s->rt, &in, e) != KH_OK || in == NULL ||
	    session_connect(s, CHANGE_NONE, e) != KH_OK)
		goto out;
	stale = stale_qemu(s, in);
	op = json_string_value(json_object_get(in, "op"));
	id = json_string_value(json_object_get(in, "id"));
	kind = json_string_value(json_object_get(in, "kind"));
	if (stale != NULL)
		drop_stale(s, in, stale);
	else if (op == NULL || id == NULL || kind_ops_named(kind) == NULL)
		error_set(e, KH_EUSAGE, "%s.intent: not an intent record",
			  runtime_aside(&s->rt));
	/* each settle clears the record once the file tells the outcome */
	else if (bus_has_device(s->m, id, &present, e) == KH_OK) {
		if (strcmp(op, "add") == 0)
			settle_add(s, in, present, e);
		else
			settle_remove(s, in, present, e);
	}
out:
	json_decref(in);
	return e->code;
}

int settle_pending_removals(struct session *s, struct error *e)
{
	struct runtime *rt = &s->rt;
	struct bus_map map;
	bool changed = false;

	if (bus_survey(s->m, BUS_WHERE, &map, e) != KH_OK) {
		bus_map_free(&map);
		return e->code;
	}
	for (size_t i = 0; i < rt->ndev && e->code == KH_OK;) {
		struct rt_device *d = &rt->dev[i];

		if (d->state != RT_UNPLUGGING ||
		    bus_device_find(&map, d->id) != NULL) {
			i++;
			continue;
		}
		if (release_device(s, d, e) != KH_OK)
			break;
		told(s, "the pending removal of %s is finished", d->id);
		runtime_remove_device(rt, i);
		changed = true;
	}
	bus_map_free(&map);
	if (e->code == KH_OK && changed)
		session_save(s, e);
	return e->code;
}

const char *settle_pending_removal(json_t *in)
{
	const char *op = json_string_value(json_object_get(in, "op"));

	return op != NULL && strcmp(op, "remove") == 0 ?
	       json_string_value(json_object_get(in, "id")) : NULL;
}
