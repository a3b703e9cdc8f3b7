/* check [--repair]: the runtime file against the VM: every recorded
 * device where recorded with what its kind needs, nothing hot-plugged
 * that the file does not know, no interrupted run unsettled. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "kind.h"
#include "output.h"
#include "bus.h"
#include "settle.h"

struct differences {
	json_t *list;
	const struct options *o;
};

static void differ(struct differences *df, const struct rt_device *d,
		   const char *id, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void differ(struct differences *df, const struct rt_device *d,
		   const char *id, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	json_array_append_new(df->list, json_pack("{s:s?, s:s?, s:s, s:s}",
		"kind", d ? rt_kind_name(d->kind) : NULL, "uuid",
		d ? d->uuid : NULL, "id", id, "problem", what));
	if (!df->o->json)
		printf("%s %s: %s\n", d ? rt_kind_name(d->kind) : "device", id,
		       what);
}

/* Every recorded device at its recorded place, with what its kind needs
 * besides (a disk's backend, a NIC's tap on its bridge). */
static void check_recorded(struct differences *df, const struct runtime *rt,
			   const struct vm_view *v)
{
	char why[256];

	for (size_t i = 0; i < rt->ndev; i++) {
		const struct rt_device *d = &rt->dev[i];
		const char *type = json_string_value(json_object_get(v->types, d->id));
		const struct bus_device *at = bus_device_find(&v->map, d->id);

		if (at == NULL) {
			differ(df, d, d->id, "recorded at %s slot %d, QEMU does "
			       "not have it", d->bus, d->slot);
			continue;
		}
		/* a target built from the file would put it there */
		if (at->slot != d->slot || strcmp(at->bus, d->bus) != 0)
			differ(df, d, d->id, "recorded at %s slot %d, QEMU has it "
			       "at %s slot %d", d->bus, d->slot, at->bus[0] ?
			       at->bus : "a bus without a name", at->slot);
		if (type != NULL && strcmp(type, d->driver) != 0)
			differ(df, d, d->id, "driver: recorded %s, QEMU has %s",
			       d->driver, type);
		if (kind_ops(d->kind)->differs(d, v, why, sizeof(why)))
			differ(df, d, d->id, "%s", why);
		if (d->state == RT_UNPLUGGING)
			differ(df, d, d->id, "a removal is pending");
	}
}

/* Devices in a QOM container (/machine/peripheral: those with an id;
 * /machine/peripheral-anon: those without) that QEMU says were
 * hot-plugged and the file does not know. */
static int check_container(struct differences *df, struct monitor *m,
			   struct runtime *rt, const char *container,
			   struct error *e)
{
	bool anon = strstr(container, "-anon") != NULL;
	json_t *children = NULL, *p;
	unsigned long ids[256];
	char paths[256][96];
	size_t i, n = 0;

	if (monitor_execute(m, "qom-list", json_pack("{s:s}", "path", container),
			    &children, e) != KH_OK)
		return e->code;
	json_array_foreach(children, i, p) {
		const char *name = json_string_value(json_object_get(p, "name"));

		if (strncmp(json_string_value(json_object_get(p, "type")), "child<", 6) != 0 ||
		    n == 256 || (!anon && runtime_find_id(rt, name) != NULL))
			continue;
		snprintf(paths[n], sizeof(paths[n]), "%s/%s", container, name);
		if (monitor_send(m, "qom-get", json_pack("{s:s, s:s}", "path", paths[n],
				 "property", "hotplugged"), -1, &ids[n], e) != KH_OK)
			break;
		n++;
	}
	for (i = 0; i < n && e->code == KH_OK; i++) {
		json_t *hot = NULL;
		if (monitor_reply(m, ids[i], "qom-get", &hot, e) == KH_OK &&
		    json_is_true(hot))
			differ(df, NULL, anon ? paths[i] : strrchr(paths[i], '/') + 1,
			       anon ? "hot-plugged without an id, not recorded" :
			       "hot-plugged, but not recorded");
		json_decref(hot);
	}
	json_decref(children);
	return e->code;
}

/* Devices QEMU says were hot-plugged that the file does not know, with an
 * id or without one: a target built from the file would lack either. */
static int check_unrecorded(struct differences *df, struct monitor *m,
			    struct runtime *rt, struct error *e)
{
	if (check_container(df, m, rt, "/machine/peripheral", e) != KH_OK)
		return e->code;
	return check_container(df, m, rt, "/machine/peripheral-anon", e);
}

/* An intent record means a run was interrupted in the middle of a change
 * (killed, or a signal during a removal's wait): the file may not tell
 * what the VM has until it is settled. A removal's record while QEMU
 * still has the device (pci) stands for a pending removal, which only the
 * guest or a reboot ends: --repair cannot. */
static int check_intent(struct differences *df, struct session *s,
			const struct bus_map *map, struct error *e)
{
	struct runtime *rt = &s->rt;
	struct rt_device rec = { 0 }, *named = NULL;
	const struct kind_ops *ops;
	json_t *in = NULL;
	const char *id, *op, *pending, *stale, *uuid;

	if (settle_read_intent(s, &in, &stale, e) != KH_OK)
		return e->code;
	/* about a QEMU process gone: nothing this VM has or lacks */
	if (stale != NULL) {
		json_decref(in);
		in = NULL;
	}
	id = json_string_value(json_object_get(in, "id"));
	op = json_string_value(json_object_get(in, "op"));
	uuid = json_string_value(json_object_get(in, "uuid"));
	/* the device the record names, as far as it says */
	ops = kind_ops_named(json_string_value(json_object_get(in, "kind")));
	if (in != NULL && ops != NULL) {
		rec.kind = ops->kind;
		rt_copy_lower(rec.uuid, sizeof(rec.uuid), uuid != NULL ? uuid : "");
		named = &rec;
	}
	if ((pending = settle_pending_removal(in)) != NULL &&
	    bus_device_find(map, pending) != NULL)
		differ(df, named, pending, "a removal is pending (%s.intent): "
		       "remove it again once the guest is up, or reboot the VM",
		       runtime_aside(rt));
	else if (in != NULL)
		differ(df, named, id != NULL ? id : "?", "an interrupted %s is "
		       "not settled (%s.intent): run check --repair",
		       op != NULL ? op : "run", runtime_aside(rt));
	json_decref(in);
	return KH_OK;
}

/* The QOM type of each recorded device, by id, into v->types: asked all
 * at once. A device QEMU lacks has none (check_recorded says so). */
static int view_types(struct monitor *m, const struct runtime *rt,
		      struct vm_view *v, struct error *e)
{
	unsigned long *id = calloc(rt->ndev + 1, sizeof(*id));
	char path[RT_ID_MAX + 32];
	size_t i, sent = 0;

	if (id == NULL || (v->types = json_object()) == NULL) {
		free(id);
		return error_nomem(e);
	}
	for (; sent < rt->ndev; sent++) {
		snprintf(path, sizeof(path), "/machine/peripheral/%s",
			 rt->dev[sent].id);
		if (monitor_send(m, "qom-get", json_pack("{s:s, s:s}", "path", path,
				 "property", "type"), -1, &id[sent], e) != KH_OK)
			break;
	}
	/* every reply sent for is read, in order; QEMU's refusal (no such
	 * device) leaves a device without a type */
	for (i = 0; i < sent && e->code == KH_OK; i++) {
		json_t *type = NULL;
		struct error refused = { 0 };

		if (monitor_reply(m, id[i], "qom-get", &type, &refused) == KH_OK &&
		    json_is_string(type))
			json_object_set(v->types, rt->dev[i].id, type);
		json_decref(type);
		if (refused.code != KH_OK && refused.qmp_class[0] == '\0')
			*e = refused;	/* the monitor itself failed */
	}
	free(id);
	return e->code;
}

/* What check compares the file with: where each device is (bus.h), then
 * the rest in one round trip. */
static int view_vm(struct session *s, struct vm_view *v, struct error *e)
{
	static const char *const asked[] = {
		"query-named-block-nodes", "query-block", "query-rx-filter" };
	json_t **into[] = { &v->nodes, &v->blocks, &v->rx };
	unsigned long id[3];
	size_t i;

	v->pid = monitor_peer_pid(s->m);
	if (bus_survey(s->m, BUS_WHERE, &v->map, e) != KH_OK)
		return e->code;
	for (i = 0; i < 3; i++)
		if (monitor_send(s->m, asked[i], NULL, -1, &id[i], e) != KH_OK)
			return e->code;
	for (i = 0; i < 3; i++)
		if (monitor_reply(s->m, id[i], asked[i], into[i], e) != KH_OK)
			return e->code;
	return view_types(s->m, &s->rt, v, e);
}

/* One JSON object per run: the differences and the verdict. */
static void print_check(struct options *o, size_t ndev, json_t *list,
			const struct error *e)
{
	size_t n = json_array_size(list);

	if (o->json)
		print_verdict(o, json_pack("{s:s, s:b, s:O}", "runtime", o->runtime,
					   "match", n == 0, "differences", list), e);
	else if (n == 0 && !o->quiet)
		printf("%s matches the VM: %zu device%s\n", o->runtime, ndev,
		       ndev == 1 ? "" : "s");
}

static int check_exec(struct session *s, struct cmd_args *a, struct error *e)
{
	struct vm_view v = { 0 };
	struct differences df = { json_array(), s->o };
	size_t n;

	if (session_connect(s, CHANGE_NONE, e) != KH_OK ||
	    (a->repair && settle_pending_removals(s, e) != KH_OK) ||
	    /* a dry repair shows what it does; the verdict is check's */
	    (a->repair && s->o->dry_run) ||
	    view_vm(s, &v, e) != KH_OK)
		goto out;
	check_recorded(&df, &s->rt, &v);
	if (check_intent(&df, s, &v.map, e) != KH_OK ||
	    check_unrecorded(&df, s->m, &s->rt, e) != KH_OK)
		goto out;
	if ((n = json_array_size(df.list)) > 0)
		error_set(e, KH_EFAIL, "%zu difference%s between %s and the VM",
			  n, n > 1 ? "s" : "", s->o->runtime);
	print_check(s->o, s->rt.ndev, df.list, e);
out:
	json_decref(df.list);
	bus_map_free(&v.map);
	json_decref(v.nodes);
	json_decref(v.blocks);
	json_decref(v.rx);
	json_decref(v.types);
	return e->code;
}

static int check_option(int c, const char *arg, struct cmd_args *a,
			struct error *e)
{
	(void)arg;
	(void)e;
	a->repair = c == 'R';
	return KH_OK;
}

/* --repair settles and rewrites; the first add may have died before
 * there was a file. */
static int check_check(struct cmd_args *a, unsigned *needs, struct error *e)
{
	if (a->dry_run && !a->repair)
		return error_set(e, KH_EUSAGE, "check: --dry-run goes with "
				 "--repair (check alone changes nothing)");
	if (a->repair)
		*needs = (*needs & ~CMD_READ) | CMD_CREATE | CMD_SETTLE;
	return KH_OK;
}

const struct cmd_entry cmd_check_entry = {
	.object = "check", .options = "Rn",
	.usage = "check [--repair]",
	.summary = "exit 0 only if the runtime file and the VM agree;\n"
		   "--repair first settles what an interrupted run left",
	.needs = CMD_RUNTIME | CMD_MONITOR | CMD_READ,
	.option = check_option, .check = check_check, .exec = check_exec,
};
