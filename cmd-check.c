/* check [--repair]: the runtime file against the VM. */
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

#include "commands.h"
#include "disk.h"
#include "output.h"
#include "pci.h"
#include "session.h"
#include "settle.h"
#include "tap.h"

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

/* A NIC's host side: its tap (where known) is there, and on its bridge
 * when the tool put it there (bridged, no script). */
static void check_nic_host(struct differences *df, const struct rt_device *d)
{
	char master[IFNAMSIZ + 1];

	if (d->tap[0] == '\0')
		return;
	if (!tap_exists(d->tap, master, sizeof(master)))
		differ(df, d, d->id, "its tap %s is gone", d->tap);
	else if (d->script == NULL && d->link != NULL &&
		 strcmp(d->nic_mode, "bridged") == 0 && strcmp(master, d->link) != 0)
		differ(df, d, d->id, "its tap %s is not on bridge %s%s%s", d->tap,
		       d->link, master[0] != '\0' ? " but on " : "", master);
}

/* Every recorded device at its recorded place, with its block node. */
static void check_recorded(struct differences *df, const struct runtime *rt,
			   json_t *pci, json_t *nodes, json_t *blocks)
{
	for (size_t i = 0; i < rt->ndev; i++) {
		const struct rt_device *d = &rt->dev[i];
		int bus = -1, slot = -1;

		if (!pci_find_device(pci, d->id, &bus, &slot))
			differ(df, d, d->id, "recorded at %s slot %d, QEMU does "
			       "not have it", d->bus, d->slot);
		else if (bus != 0 || slot != d->slot)
			differ(df, d, d->id, "recorded at %s slot %d, QEMU has it "
			       "at bus %d slot %d", d->bus, d->slot, bus, slot);
		if (d->kind == RT_DISK && !has_backend(nodes, blocks, d->id))
			differ(df, d, d->id, "QEMU has no block node or drive %s",
			       d->id);
		if (d->state == RT_UNPLUGGING)
			differ(df, d, d->id, "a removal is pending");
		if (d->kind == RT_NIC)
			check_nic_host(df, d);
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
 * what the VM has until it is settled. */
static int check_intent(struct differences *df, struct runtime *rt,
			struct error *e)
{
	json_t *in = NULL;
	const char *id, *op;

	if (runtime_intent_read(rt, &in, e) != KH_OK)
		return e->code;
	id = json_string_value(json_object_get(in, "id"));
	op = json_string_value(json_object_get(in, "op"));
	if (in != NULL)
		differ(df, NULL, id != NULL ? id : "?", "an interrupted %s is "
		       "not settled (%s.intent): run check --repair",
		       op != NULL ? op : "run", rt->path);
	json_decref(in);
	return KH_OK;
}

int check_vm(struct options *o, bool repair, struct error *e)
{
	struct runtime rt;
	struct monitor *m = NULL;
	json_t *pci = NULL, *nodes = NULL, *blocks = NULL;
	struct differences df = { json_array(), o };
	unsigned long nodes_id, blocks_id;
	size_t n;

	runtime_init(&rt);
	/* --repair: the first add may have died before there was a file */
	if (load_runtime(o, &rt, repair ? FILE_CREATE : FILE_READ, e) != KH_OK ||
	    (repair && settle_intent(o, &rt, &m, e) != KH_OK) ||
	    (m == NULL && connect_monitor(o, &rt, &m, e) != KH_OK) ||
	    (repair && finish_removals(o, &rt, m, e) != KH_OK) ||
	    pci_query(m, &pci, e) != KH_OK ||
	    monitor_send(m, "query-named-block-nodes", NULL, -1, &nodes_id, e) != KH_OK ||
	    monitor_send(m, "query-block", NULL, -1, &blocks_id, e) != KH_OK ||
	    monitor_reply(m, nodes_id, "query-named-block-nodes", &nodes, e) != KH_OK ||
	    monitor_reply(m, blocks_id, "query-block", &blocks, e) != KH_OK)
		goto out;
	check_recorded(&df, &rt, pci, nodes, blocks);
	if (check_intent(&df, &rt, e) != KH_OK ||
	    check_unrecorded(&df, m, &rt, e) != KH_OK)
		goto out;
	n = json_array_size(df.list);
	if (n > 0)
		error_set(e, KH_EFAIL, "%zu difference%s between %s and the VM",
			  n, n > 1 ? "s" : "", o->runtime);
	if (o->json) {
		/* one object per run: the differences and the verdict */
		json_t *res = json_pack("{s:s, s:b, s:O}", "runtime", o->runtime,
					"match", n == 0, "differences", df.list);
		if (res != NULL && n > 0) {
			json_object_set_new(res, "error", json_string(e->msg));
			json_object_set_new(res, "exit", json_integer(e->code));
		}
		print_json(res);
		o->reported = true;
	} else if (n == 0 && !o->quiet)
		printf("%s matches the VM: %zu device%s\n", o->runtime, rt.ndev,
		       rt.ndev == 1 ? "" : "s");
out:
	json_decref(df.list);
	json_decref(pci);
	json_decref(nodes);
	json_decref(blocks);
	monitor_close(m);
	runtime_close(&rt);
	return e->code;
}
