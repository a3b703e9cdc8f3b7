/* list: the recorded devices and where QEMU has them. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "kind.h"
#include "output.h"
#include "bus.h"
#include "ready.h"
#include "settle.h"

/* One row per recorded device, with whether QEMU has it, and where if
 * that is not where recorded (live_bus, live_slot); pending is the
 * device whose removal the intent record says is pending (NULL for
 * none). */
static json_t *list_entry(const struct rt_device *d,
			  const struct bus_map *map, const char *pending)
{
	const struct bus_device *at = bus_device_find(map, d->id);
	bool present = at != NULL;
	bool unplugging = d->state == RT_UNPLUGGING ||
			  (pending != NULL && strcmp(d->id, pending) == 0);
	json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:b}",
				"kind", rt_kind_name(d->kind), "uuid", d->uuid,
				"id", d->id, "bus", d->bus, "slot", d->slot,
				"driver", d->driver, "state",
				unplugging ? "unplugging" : "plugged",
				"present", present);

	if (row != NULL && present &&
	    (at->slot != d->slot || strcmp(at->bus, d->bus) != 0)) {
		json_object_set_new(row, "live_bus", json_string(at->bus));
		json_object_set_new(row, "live_slot", json_integer(at->slot));
	}
	if (row != NULL && d->name != NULL)
		json_object_set_new(row, "name", json_string(d->name));
	if (row != NULL && d->path != NULL)
		json_object_set_new(row, "path", json_string(d->path));
	if (row != NULL && kind_ops(d->kind)->describe != NULL)
		kind_ops(d->kind)->describe(row, d, true);
	return row;
}

/* One line per device, ip -br's way: fixed columns, then what an
 * operator knows the device by, however long (--json is the whole). */
static void print_list_text(json_t *devices, const struct runtime *rt)
{
	char what[PATH_MAX + 64];
	size_t i;
	json_t *row;

	printf("%-36s %-4s %-32s %-6s %4s %-10s %-8s %-13s %s\n", "UUID", "KIND",
	       "ID", "BUS", "SLOT", "STATE", "IN-QEMU", "GUEST", "WHAT");
	json_array_foreach(devices, i, row) {
		json_t *live = json_object_get(row, "live_slot");
		char present[32];

		if (!json_is_true(json_object_get(row, "present")))
			snprintf(present, sizeof(present), "no");
		else if (live != NULL)
			snprintf(present, sizeof(present), "at %s slot %d!",
				 json_string_value(json_object_get(row, "live_bus")),
				 (int)json_integer_value(live));
		else
			snprintf(present, sizeof(present), "yes");
		kind_ops(rt->dev[i].kind)->identify(&rt->dev[i], what, sizeof(what));
		printf("%-36s %-4s %-32s %-6s %4d %-10s %-8s %-13s %s\n",
		       json_string_value(json_object_get(row, "uuid")),
		       json_string_value(json_object_get(row, "kind")),
		       json_string_value(json_object_get(row, "id")),
		       json_string_value(json_object_get(row, "bus")),
		       (int)json_integer_value(json_object_get(row, "slot")),
		       json_string_value(json_object_get(row, "state")), present,
		       json_string_value(json_object_get(row, "guest")), what);
	}
}

/* What the guest does with each device QEMU has (ready.h), into each
 * row's "guest", asked in one round trip; "unknown" for one it lacks. */
static int guest_column(struct session *s, json_t *devices, struct error *e)
{
	size_t n = json_array_size(devices), k = 0, i;
	const char **ids = calloc(n + 1, sizeof(*ids));
	enum ready_state *states = calloc(n + 1, sizeof(*states));
	json_t *row;

	if (ids == NULL || states == NULL) {
		free(ids);
		free(states);
		return error_nomem(e);
	}
	json_array_foreach(devices, i, row)
		if (json_is_true(json_object_get(row, "present")))
			ids[k++] = json_string_value(json_object_get(row, "id"));
	if (ready_survey(s->m, ids, k, states, e) == KH_OK) {
		k = 0;
		json_array_foreach(devices, i, row)
			json_object_set_new(row, "guest", json_string(ready_name(
				json_is_true(json_object_get(row, "present")) ?
				states[k++] : READY_UNKNOWN)));
	}
	free(ids);
	free(states);
	return e->code;
}

static int list_exec(struct session *s, struct cmd_args *a, struct error *e)
{
	json_t *devices = NULL, *in = NULL;
	const char *pending, *stale;
	struct bus_map map = { 0 };

	(void)a;
	if (session_connect(s, CHANGE_NONE, e) != KH_OK ||
	    settle_read_intent(s, &in, &stale, e) != KH_OK ||
	    bus_survey(s->m, BUS_WHERE, &map, e) != KH_OK)
		goto out;
	if ((devices = json_array()) == NULL) {
		error_nomem(e);
		goto out;
	}
	/* a stale record's removal was another QEMU process's */
	pending = stale == NULL ? settle_pending_removal(in) : NULL;
	for (size_t i = 0; i < s->rt.ndev; i++)
		json_array_append_new(devices, list_entry(&s->rt.dev[i], &map,
							  pending));
	if (guest_column(s, devices, e) != KH_OK)
		goto out;
	if (s->o->json)
		print_json(json_pack("{s:s, s:O}", "runtime", s->o->runtime,
				     "devices", devices));
	else if (!s->o->quiet)	/* -q: the exit status alone */
		print_list_text(devices, &s->rt);
out:
	json_decref(devices);
	bus_map_free(&map);
	json_decref(in);
	return e->code;
}

const struct cmd_entry cmd_list_entry = {
	.object = "list", .options = "",
	.usage = "list",
	.summary = "devices in the runtime file and whether QEMU has them",
	.needs = CMD_RUNTIME | CMD_MONITOR | CMD_READ,
	.exec = list_exec,
};
