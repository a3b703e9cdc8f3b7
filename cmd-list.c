/* list: the recorded devices and where QEMU has them. */
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
#include "output.h"
#include "pci.h"
#include "session.h"

static void list_usage(const char *cmd, FILE *f)
{
	fprintf(f, "usage: kvm-hotplug [options] %s%s\n", cmd,
		strcmp(cmd, "check") == 0 ? " [--repair]" : "");
}

/* One row per recorded device, with where QEMU has it (slot -1: absent). */
static json_t *list_entry(const struct rt_device *d, json_t *pci)
{
	int bus = -1, slot = -1;
	bool present = pci_find_device(pci, d->id, &bus, &slot);
	json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:b}",
				"kind", rt_kind_name(d->kind), "uuid", d->uuid,
				"id", d->id, "bus", d->bus, "slot", d->slot,
				"driver", d->driver, "state",
				d->state == RT_UNPLUGGING ? "unplugging" : "plugged",
				"present", present);

	if (row != NULL && present && slot != d->slot)
		json_object_set_new(row, "live_slot", json_integer(slot));
	if (row != NULL && d->name != NULL)
		json_object_set_new(row, "name", json_string(d->name));
	if (row != NULL && d->path != NULL)
		json_object_set_new(row, "path", json_string(d->path));
	if (row != NULL && d->kind == RT_NIC) {
		json_object_set_new(row, "mac", json_string(d->mac));
		json_object_set_new(row, "tap", json_string(d->tap));
		if (d->link != NULL)
			json_object_set_new(row, "link", json_string(d->link));
	}
	return row;
}

static void print_list_text(json_t *devices)
{
	size_t i;
	json_t *row;

	printf("%-36s %-4s %-32s %-6s %4s %-10s %s\n", "UUID", "KIND", "ID",
	       "BUS", "SLOT", "STATE", "IN-QEMU");
	json_array_foreach(devices, i, row) {
		json_t *live = json_object_get(row, "live_slot");
		char present[32];

		if (!json_is_true(json_object_get(row, "present")))
			snprintf(present, sizeof(present), "no");
		else if (live != NULL)
			snprintf(present, sizeof(present), "at slot %d!",
				 (int)json_integer_value(live));
		else
			snprintf(present, sizeof(present), "yes");
		printf("%-36s %-4s %-32s %-6s %4d %-10s %s\n",
		       json_string_value(json_object_get(row, "uuid")),
		       json_string_value(json_object_get(row, "kind")),
		       json_string_value(json_object_get(row, "id")),
		       json_string_value(json_object_get(row, "bus")),
		       (int)json_integer_value(json_object_get(row, "slot")),
		       json_string_value(json_object_get(row, "state")), present);
	}
}

static int list_devices(const struct options *o, struct error *e)
{
	struct runtime rt;
	struct monitor *m = NULL;
	json_t *pci = NULL, *devices = NULL;

	runtime_init(&rt);
	if (load_runtime(o, &rt, FILE_READ, e) != KH_OK ||
	    connect_monitor(o, &rt, &m, e) != KH_OK || pci_query(m, &pci, e) != KH_OK)
		goto out;
	if ((devices = json_array()) == NULL) {
		error_set(e, KH_EFAIL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < rt.ndev; i++)
		json_array_append_new(devices, list_entry(&rt.dev[i], pci));
	if (o->json)
		print_json(json_pack("{s:s, s:O}", "runtime", o->runtime,
				     "devices", devices));
	else
		print_list_text(devices);
out:
	json_decref(devices);
	json_decref(pci);
	monitor_close(m);
	runtime_close(&rt);
	return e->code;
}

/* argv[0] is "list" or "check": both set the file beside QEMU. */
int cmd_list(struct options *o, int argc, char **argv,
	     struct error *e)
{
	bool repair;

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		list_usage(argv[0], stdout);
		return KH_OK;
	}
	repair = argc == 2 && strcmp(argv[0], "check") == 0 &&
		 strcmp(argv[1], "--repair") == 0;
	if (argc > 1 && !repair)
		return error_set(e, KH_EUSAGE, "%s: unexpected argument '%.40s'",
				 argv[0], argv[1]);
	if (need_paths(o, e) != KH_OK)
		return e->code;
	return strcmp(argv[0], "check") == 0 ? check_vm(o, repair, e) :
	       list_devices(o, e);
}
