/* kvm-hotplug: hot-add and hot-remove virtio devices in a running QEMU and
 * keep the instance runtime file in step with the VM. See kvm-hotplug(8).
 *
 * One invocation is one operation, in five steps:
 *   1. lock and load the runtime file      (runtime.c)
 *   2. connect to the QEMU monitor         (monitor.c)
 *   3. choose a PCI slot, or find the device by its UUID   (pci.c)
 *   4. plug or unplug it                   (QMP commands below)
 *   5. rewrite the runtime file atomically (runtime.c)
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "monitor.h"
#include "pci.h"
#include "runtime.h"

#ifndef KH_VERSION
#define KH_VERSION "unknown"
#endif

/* Oldest QEMU whose blockdev-add and DEVICE_DELETED we rely on. */
#define MIN_QEMU_MAJOR 2
#define MIN_QEMU_MINOR 12

#define NAME_MAX_LEN 128

struct options {
	const char *runtime;
	const char *monitor;
	int timeout_ms;
	bool json, quiet, verbose;
};

struct disk_args {
	char uuid[RT_UUID_LEN + 1];
	const char *path;
	const char *format;
	const char *cache;
	const char *mode;
	const char *discard;
	const char *name;
	int slot;		/* -1: choose one */
};

static void usage(FILE *f)
{
	fputs("usage: kvm-hotplug [-jqv] [-r FILE] [-m SOCK] [-t SEC] COMMAND ...\n"
	      "\n"
	      "commands:\n"
	      "  disk add --uuid UUID --path PATH [--format raw|qcow2]\n"
	      "           [--cache default|none|writeback|writethrough|unsafe]\n"
	      "           [--mode rw|ro] [--discard ignore|unmap] [--name NAME] [--slot N]\n"
	      "  disk remove --uuid UUID\n"
	      "  list        devices in the runtime file and whether QEMU has them\n"
	      "\n"
	      "options:\n"
	      "  -r, --runtime FILE  instance runtime file (created by add if missing)\n"
	      "  -m, --monitor SOCK  QEMU's QMP socket\n"
	      "  -t, --timeout SEC   bound on every wait (default 10)\n"
	      "  -j, --json          print the result as one JSON object\n"
	      "  -q, --quiet         print nothing on success\n"
	      "  -v, --verbose       print each step on stderr\n"
	      "  -h, --help          this text; COMMAND --help for a command's\n"
	      "  -V, --version       print the version\n"
	      "\n"
	      "exit status: 0 done; 1 failed, nothing changed; 2 bad usage or input;\n"
	      "3 hotplug not possible (takes effect at the next reboot); 4 timed out\n",
	      f);
}

static void disk_usage(FILE *f)
{
	fputs("usage: kvm-hotplug [options] disk add --uuid UUID --path PATH\n"
	      "           [--format raw|qcow2] [--cache default|none|writeback|writethrough|unsafe]\n"
	      "           [--mode rw|ro] [--discard ignore|unmap] [--name NAME] [--slot N]\n"
	      "       kvm-hotplug [options] disk remove --uuid UUID\n",
	      f);
}

static void list_usage(FILE *f)
{
	fputs("usage: kvm-hotplug [options] list\n", f);
}

/* Progress for -v, on stderr: stdout carries only the result. */
static void verbose(const struct options *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void verbose(const struct options *o, const char *fmt, ...)
{
	va_list ap;

	if (!o->verbose)
		return;
	fputs("kvm-hotplug: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Prints a JSON result on stdout; takes the reference. */
static void print_json(json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT);

	if (text != NULL)
		printf("%s\n", text);
	free(text);
	json_decref(obj);
}

/* ---- input validation ---- */

static int parse_choice(const char *opt, const char *value,
			const char *const *allowed, struct error *e)
{
	char list[128] = "";

	for (size_t i = 0; allowed[i] != NULL; i++) {
		if (strcmp(value, allowed[i]) == 0)
			return KH_OK;
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
			 "%s%s", i ? "|" : "", allowed[i]);
	}
	return error_set(e, KH_EUSAGE, "%s: '%.40s' is not one of %s", opt,
			 value, list);
}

static int parse_uuid(const char *value, char *out, struct error *e)
{
	if (!uuid_is_valid(value))
		return error_set(e, KH_EUSAGE,
				 "--uuid: '%.60s' is not a UUID "
				 "(8-4-4-4-12 hex digits)", value);
	for (size_t i = 0; i <= RT_UUID_LEN; i++)
		out[i] = (char)tolower((unsigned char)value[i]);
	return KH_OK;
}

static int parse_slot(const char *value, int *slot, struct error *e)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(value, &end, 10);
	if (errno || end == value || *end != '\0' || n < 1 || n >= PCI_SLOTS)
		return error_set(e, KH_EUSAGE,
				 "--slot: '%.20s' is not a slot number 1-%d",
				 value, PCI_SLOTS - 1);
	*slot = (int)n;
	return KH_OK;
}

static int parse_timeout(const char *value, int *ms, struct error *e)
{
	char *end;
	double s;

	errno = 0;
	s = strtod(value, &end);
	if (errno || end == value || *end != '\0' || !(s > 0) || s > 86400)
		return error_set(e, KH_EUSAGE,
				 "--timeout: '%.20s' is not a number of seconds",
				 value);
	*ms = (int)(s * 1000 + 0.5);
	if (*ms < 1)
		*ms = 1;
	return KH_OK;
}

static int parse_name(const char *value, struct error *e)
{
	size_t n = strlen(value);

	if (n == 0 || n > NAME_MAX_LEN)
		return error_set(e, KH_EUSAGE, "--name: must be 1-%d characters",
				 NAME_MAX_LEN);
	for (size_t i = 0; i < n; i++)
		if (iscntrl((unsigned char)value[i]))
			return error_set(e, KH_EUSAGE,
					 "--name: control characters are not allowed");
	return KH_OK;
}

/* QEMU resolves relative paths against its own working directory, and a
 * migration target must find the same file: only absolute paths. */
static int check_disk_path(const char *path, const char **file_driver,
			   struct error *e)
{
	struct stat st;

	if (path[0] != '/')
		return error_set(e, KH_EUSAGE, "--path: '%.200s' is not absolute",
				 path);
	if (strlen(path) >= PATH_MAX)
		return error_set(e, KH_EUSAGE, "--path: too long");
	if (stat(path, &st) == -1)
		return error_set(e, KH_EUSAGE, "--path: %.200s: %s", path,
				 strerror(errno));
	if (S_ISREG(st.st_mode))
		*file_driver = "file";
	else if (S_ISBLK(st.st_mode))
		*file_driver = "host_device";
	else
		return error_set(e, KH_EUSAGE,
				 "--path: %.200s is not a regular file or block device",
				 path);
	return KH_OK;
}

/* ---- step 2: the monitor, and whether hotplug can work at all ---- */

static int connect_monitor(const struct options *o, struct monitor **m,
			   struct error *e)
{
	int major, minor, micro;

	if (monitor_open(m, o->monitor, o->timeout_ms, e) != KH_OK)
		return e->code;
	monitor_version(*m, &major, &minor, &micro);
	verbose(o, "connected to QEMU %d.%d.%d", major, minor, micro);
	if (major < MIN_QEMU_MAJOR ||
	    (major == MIN_QEMU_MAJOR && minor < MIN_QEMU_MINOR))
		return error_set(e, KH_ENOHOTPLUG,
				 "QEMU %d.%d is too old for hotplug (%d.%d or "
				 "newer needed)", major, minor, MIN_QEMU_MAJOR,
				 MIN_QEMU_MINOR);
	return KH_OK;
}

/* ---- step 4: the QMP commands of one disk ---- */

/* Cache modes as QEMU's -drive cache= spells them out per node. */
static json_t *disk_cache_options(const char *cache)
{
	bool direct = strcmp(cache, "none") == 0;
	bool no_flush = strcmp(cache, "unsafe") == 0;

	return json_pack("{s:b, s:b}", "direct", direct, "no-flush", no_flush);
}

/* Options shared by the format node and its file node. */
static int disk_node_options(json_t *node, const struct rt_device *d)
{
	int rc = 0;

	rc |= json_object_set_new(node, "cache", disk_cache_options(d->cache));
	rc |= json_object_set_new(node, "read-only",
				  json_boolean(strcmp(d->mode, "ro") == 0));
	rc |= json_object_set_new(node, "discard", json_string(d->discard));
	return rc;
}

static json_t *blockdev_args(const struct rt_device *d, const char *file_driver)
{
	json_t *file = json_pack("{s:s, s:s}", "driver", file_driver,
				 "filename", d->path);
	json_t *top = json_pack("{s:s, s:s}", "driver", d->format,
				"node-name", d->id);

	if (file == NULL || top == NULL || disk_node_options(file, d) ||
	    disk_node_options(top, d) ||
	    json_object_set_new(top, "file", json_incref(file))) {
		json_decref(file);
		json_decref(top);
		return NULL;
	}
	json_decref(file);
	return top;
}

static json_t *device_add_args(const struct rt_device *d)
{
	char addr[8];
	json_t *args;

	snprintf(addr, sizeof(addr), "0x%x", (unsigned)d->slot);
	args = json_pack("{s:s, s:s, s:s, s:s, s:s}", "driver", d->driver,
			 "drive", d->id, "id", d->id, "bus", d->bus, "addr",
			 addr);
	/* writethrough = no volatile write cache towards the guest */
	if (args != NULL && strcmp(d->cache, "writethrough") == 0)
		json_object_set_new(args, "write-cache", json_string("off"));
	return args;
}

/* QEMU's way of saying the bus takes no hotplug, whatever we checked. */
static int classify_plug_error(struct error *e)
{
	if (strstr(e->msg, "does not support hotplugging") != NULL)
		e->code = KH_ENOHOTPLUG;
	return e->code;
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

/* Best effort: the undo must not hide the error that caused it. */
static void undo(struct monitor *m, const char *cmd, json_t *args)
{
	struct error ignored = { 0 };

	monitor_execute(m, cmd, args, NULL, &ignored);
}

static int disk_plug(const struct options *o, struct monitor *m,
		     const struct rt_device *d, const char *file_driver,
		     struct error *e)
{
	json_t *args = blockdev_args(d, file_driver);
	unsigned long add_id, pci_id;

	if (args == NULL)
		return error_set(e, KH_EFAIL, "out of memory");
	if (monitor_execute(m, "blockdev-add", args, NULL, e) != KH_OK)
		return e->code;
	verbose(o, "blockdev-add %s: done", d->id);
	/* The read-only check goes out right behind device_add, before the
	 * guest starts probing the new device and keeps QEMU busy. */
	if ((args = device_add_args(d)) == NULL)
		error_set(e, KH_EFAIL, "out of memory");
	if (args == NULL ||
	    monitor_send(m, "device_add", args, -1, &add_id, e) != KH_OK ||
	    monitor_send(m, "query-pci", NULL, -1, &pci_id, e) != KH_OK ||
	    monitor_reply(m, add_id, "device_add", NULL, e) != KH_OK) {
		undo(m, "blockdev-del", json_pack("{s:s}", "node-name", d->id));
		return classify_plug_error(e);
	}
	verbose(o, "device_add %s at %s slot %d: done", d->id, d->bus, d->slot);
	if (verify_device(m, pci_id, d, e) != KH_OK) {
		/* Only the guest can give it back; ask, do not wait. */
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
static int unplug_device(const struct options *o, struct monitor *m,
			 const char *id, struct error *e)
{
	int64_t asked_us = monitor_clock_us();

	if (monitor_execute(m, "device_del", json_pack("{s:s}", "id", id), NULL,
			    e) != KH_OK) {
		if (strcmp(e->qmp_class, "DeviceNotFound") == 0) {
			verbose(o, "%s is already gone from QEMU", id);
			error_clear(e);
			return KH_OK;
		}
		/* asked before, still waiting for the guest: wait again */
		if (strstr(e->msg, "already in the process of unplug") == NULL)
			return classify_plug_error(e);
		error_clear(e);
	}
	verbose(o, "device_del %s: waiting for the guest", id);
	if (monitor_wait_event(m, "DEVICE_DELETED", is_deleted_device,
			       (void *)id, o->timeout_ms, e) != KH_OK) {
		if (e->code == KH_ETIMEOUT)
			error_set(e, KH_ETIMEOUT,
				  "the guest did not release %s within %.1f s", id,
				  o->timeout_ms / 1000.0);
		return e->code;
	}
	verbose(o, "%s released by the guest after %.2f ms", id,
		(monitor_clock_us() - asked_us) / 1000.0);
	return KH_OK;
}

/* Drops the block node; one that is already gone is fine. QEMU lets go
 * of a deleted device's node a moment after the device itself is gone, in
 * a deferred release that sends no event: "in use" then means "not yet",
 * so that one answer is retried with a short backoff, within the timeout.
 * The usual path (right after DEVICE_DELETED) succeeds at once. */
static int blockdev_del(const struct options *o, struct monitor *m,
			const char *node, struct error *e)
{
	struct timespec pause = { 0, 5 * 1000000 };
	long waited_ms = 0;

	for (;;) {
		if (monitor_execute(m, "blockdev-del",
				    json_pack("{s:s}", "node-name", node), NULL,
				    e) == KH_OK ||
		    strstr(e->msg, "Failed to find node") != NULL) {
			error_clear(e);	/* an earlier "in use" is no error now */
			return KH_OK;
		}
		if (strstr(e->msg, "is in use") == NULL || waited_ms >= o->timeout_ms)
			return e->code;
		nanosleep(&pause, NULL);
		waited_ms += pause.tv_nsec / 1000000;
		if (pause.tv_nsec < 100 * 1000000)
			pause.tv_nsec *= 2;
	}
}

/* ---- results ---- */

static void print_change(const struct options *o, const char *what,
			 const struct rt_device *d)
{
	if (o->json)
		print_json(json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "result",
				     what, "kind", rt_kind_name(d->kind), "uuid",
				     d->uuid, "id", d->id, "bus", d->bus, "slot",
				     d->slot));
	else if (!o->quiet)
		printf("%s %s %s: %s at %s slot %d\n", what,
		       rt_kind_name(d->kind), d->uuid, d->id, d->bus, d->slot);
}

/* ---- the operations ---- */

static int load_runtime(const struct options *o, struct runtime *rt,
			bool create, struct error *e)
{
	if (runtime_lock(rt, o->runtime, o->timeout_ms, e) != KH_OK ||
	    runtime_load(rt, create, e) != KH_OK)
		return e->code;
	verbose(o, "runtime file %s: %zu devices", o->runtime, rt->ndev);
	return KH_OK;
}

static int fill_disk(struct rt_device *d, const struct disk_args *a, int slot,
		     struct error *e)
{
	d->kind = RT_DISK;
	d->state = RT_PLUGGED;
	d->slot = slot;
	memcpy(d->uuid, a->uuid, sizeof(d->uuid));
	snprintf(d->bus, sizeof(d->bus), "%s", PCI_HOTPLUG_BUS);
	snprintf(d->driver, sizeof(d->driver), "virtio-blk-pci");
	snprintf(d->format, sizeof(d->format), "%s", a->format);
	snprintf(d->cache, sizeof(d->cache), "%s", a->cache);
	snprintf(d->mode, sizeof(d->mode), "%s", a->mode);
	snprintf(d->discard, sizeof(d->discard), "%s", a->discard);
	if (pci_device_id(d->id, sizeof(d->id), "disk", d->uuid, slot, e) != KH_OK)
		return e->code;
	if ((d->path = strdup(a->path)) == NULL ||
	    (a->name != NULL && (d->name = strdup(a->name)) == NULL))
		return error_set(e, KH_EFAIL, "out of memory");
	return KH_OK;
}

/* Step 3 for an add: live query-pci, the file's slots and reserved ones;
 * refuses a bus that takes no hotplug (exit 3) before anything changes. */
static int choose_slot(const struct options *o, struct monitor *m,
		       const struct runtime *rt, int requested, int *slot,
		       struct error *e)
{
	json_t *pci = NULL;
	uint32_t occupied;

	if (pci_survey(m, PCI_HOTPLUG_BUS, &pci, e) != KH_OK)
		return e->code;
	occupied = pci_occupied_slots(pci) | runtime_used_slots(rt, PCI_HOTPLUG_BUS);
	json_decref(pci);
	if (pci_find_free_slot(occupied, requested, slot, e) != KH_OK)
		return e->code;
	verbose(o, "slot %d chosen (occupied: 0x%08x)", *slot, occupied);
	return KH_OK;
}

static int disk_add(const struct options *o, const struct disk_args *a,
		    struct error *e)
{
	struct runtime rt;
	struct monitor *m = NULL;
	struct rt_device *d;
	const char *file_driver = NULL;
	int slot = -1;

	runtime_init(&rt);
	if (check_disk_path(a->path, &file_driver, e) != KH_OK)
		goto out;
	/* 1 */
	if (load_runtime(o, &rt, true, e) != KH_OK)
		goto out;
	if (runtime_find_uuid(&rt, a->uuid) != NULL) {
		error_set(e, KH_EFAIL, "a device with uuid %s is already recorded "
			  "in %s", a->uuid, o->runtime);
		goto out;
	}
	/* 2 */
	if (connect_monitor(o, &m, e) != KH_OK)
		goto out;
	/* 3 */
	if (choose_slot(o, m, &rt, a->slot, &slot, e) != KH_OK)
		goto out;
	/* Everything that can fail locally happens before QEMU changes: a
	 * plugged device cannot be taken back without the guest. */
	if ((d = runtime_add_device(&rt, e)) == NULL ||
	    fill_disk(d, a, slot, e) != KH_OK ||
	    runtime_prepare(&rt, e) != KH_OK)
		goto out;
	/* 4 */
	if (disk_plug(o, m, d, file_driver, e) != KH_OK)
		goto out;
	/* 5 */
	if (runtime_commit(&rt, e) != KH_OK)
		goto out;
	print_change(o, "added", d);
out:
	monitor_close(m);
	runtime_close(&rt);
	return e->code;
}

/* The removal could not finish (the guest did not answer in time, or the
 * block node stayed): remember it as pending so that the next run
 * finishes it, and tell the operator what to do. Keeps e->code. */
static int mark_unplugging(struct runtime *rt, struct rt_device *d,
			   struct error *e)
{
	struct error werr = { 0 };
	char why[sizeof(e->msg)];
	int code = e->code;

	memcpy(why, e->msg, sizeof(why));
	d->state = RT_UNPLUGGING;
	if (runtime_prepare(rt, &werr) != KH_OK ||
	    runtime_commit(rt, &werr) != KH_OK)
		return error_set(e, code, "%s; recording that failed too: %s",
				 why, werr.msg);
	return error_set(e, code,
			 "%s; it stays recorded as unplugging: run 'disk remove "
			 "--uuid %s' again once the guest is up, or reboot the VM",
			 why, d->uuid);
}

static int disk_remove(const struct options *o, const char *uuid,
		       struct error *e)
{
	struct runtime rt;
	struct monitor *m = NULL;
	struct rt_device *d, gone;
	char id[RT_ID_MAX + 1];

	runtime_init(&rt);
	/* 1 */
	if (load_runtime(o, &rt, false, e) != KH_OK)
		goto out;
	if ((d = runtime_find_uuid(&rt, uuid)) == NULL || d->kind != RT_DISK) {
		error_set(e, KH_EFAIL, "no disk with uuid %s in %s", uuid,
			  o->runtime);
		goto out;
	}
	/* 2 */
	if (connect_monitor(o, &m, e) != KH_OK)
		goto out;
	/* 3: the id is the one recorded, whatever scheme made it */
	snprintf(id, sizeof(id), "%s", d->id);
	/* 4 */
	if (unplug_device(o, m, id, e) != KH_OK) {
		if (e->code == KH_ETIMEOUT)
			mark_unplugging(&rt, d, e);
		goto out;
	}
	if (blockdev_del(o, m, id, e) != KH_OK) {
		error_prefix(e, "%s is unplugged but its block node remains: ", id);
		mark_unplugging(&rt, d, e);
		goto out;
	}
	/* 5 */
	gone = *d;
	gone.name = gone.path = NULL;
	runtime_remove_device(&rt, (size_t)(d - rt.dev));
	if (runtime_prepare(&rt, e) != KH_OK || runtime_commit(&rt, e) != KH_OK)
		goto out;
	print_change(o, "removed", &gone);
out:
	monitor_close(m);
	runtime_close(&rt);
	return e->code;
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
	if (load_runtime(o, &rt, false, e) != KH_OK ||
	    connect_monitor(o, &m, e) != KH_OK || pci_query(m, &pci, e) != KH_OK)
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

/* ---- command line ---- */

static int need_paths(const struct options *o, struct error *e)
{
	if (o->runtime == NULL)
		return error_set(e, KH_EUSAGE, "--runtime FILE is required");
	if (o->monitor == NULL)
		return error_set(e, KH_EUSAGE, "--monitor SOCK is required");
	return KH_OK;
}

static int parse_disk_option(int c, const char *arg, struct disk_args *a,
			     struct error *e)
{
	switch (c) {
	case 'u': return parse_uuid(arg, a->uuid, e);
	case 'p': a->path = arg; return KH_OK;
	case 'f': a->format = arg; return parse_choice("--format", arg, rt_disk_formats, e);
	case 'c': a->cache = arg; return parse_choice("--cache", arg, rt_disk_caches, e);
	case 'o': a->mode = arg; return parse_choice("--mode", arg, rt_disk_modes, e);
	case 'd': a->discard = arg; return parse_choice("--discard", arg, rt_disk_discards, e);
	case 'n': a->name = arg; return parse_name(arg, e);
	case 's': return parse_slot(arg, &a->slot, e);
	}
	return error_set(e, KH_EUSAGE, "unknown option (see 'disk --help')");
}

/* argv[0] is "add" or "remove". */
static int cmd_disk(const struct options *o, int argc, char **argv,
		    struct error *e)
{
	static const struct option longopts[] = {
		{ "uuid", required_argument, NULL, 'u' },
		{ "path", required_argument, NULL, 'p' },
		{ "format", required_argument, NULL, 'f' },
		{ "cache", required_argument, NULL, 'c' },
		{ "mode", required_argument, NULL, 'o' },
		{ "discard", required_argument, NULL, 'd' },
		{ "name", required_argument, NULL, 'n' },
		{ "slot", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct disk_args a = { .format = "raw", .cache = "default",
			       .mode = "rw", .discard = "ignore", .slot = -1 };
	bool add;
	int c;

	if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
		disk_usage(argc < 1 ? stderr : stdout);
		return argc < 1 ? error_set(e, KH_EUSAGE, "disk: add or remove?") : KH_OK;
	}
	add = strcmp(argv[0], "add") == 0;
	if (!add && strcmp(argv[0], "remove") != 0)
		return error_set(e, KH_EUSAGE, "disk: unknown subcommand '%.40s'",
				 argv[0]);
	optind = 0;	/* glibc: 0 restarts getopt from scratch */
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c == 'h') {
			disk_usage(stdout);
			return KH_OK;
		}
		if (c == ':' || c == '?')
			return error_set(e, KH_EUSAGE, "disk %s: %s '%.40s'", argv[0],
					 c == ':' ? "missing value for" : "unknown option",
					 argv[optind - 1]);
		if (!add && c != 'u')
			return error_set(e, KH_EUSAGE,
					 "disk remove takes only --uuid");
		if (parse_disk_option(c, optarg, &a, e) != KH_OK)
			return e->code;
	}
	if (optind < argc)
		return error_set(e, KH_EUSAGE, "disk %s: unexpected argument '%.40s'",
				 argv[0], argv[optind]);
	if (a.uuid[0] == '\0')
		return error_set(e, KH_EUSAGE, "disk %s: --uuid is required", argv[0]);
	if (add && a.path == NULL)
		return error_set(e, KH_EUSAGE, "disk add: --path is required");
	if (need_paths(o, e) != KH_OK)
		return e->code;
	return add ? disk_add(o, &a, e) : disk_remove(o, a.uuid, e);
}

static int cmd_list(const struct options *o, int argc, char **argv,
		    struct error *e)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		list_usage(stdout);
		return KH_OK;
	}
	if (argc > 1)
		return error_set(e, KH_EUSAGE, "list: unexpected argument '%.40s'",
				 argv[1]);
	if (need_paths(o, e) != KH_OK)
		return e->code;
	return list_devices(o, e);
}

/* Parses the options before COMMAND; *next is COMMAND's index. */
static int parse_global(int argc, char **argv, struct options *o, int *next,
			struct error *e)
{
	static const struct option longopts[] = {
		{ "runtime", required_argument, NULL, 'r' },
		{ "monitor", required_argument, NULL, 'm' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "+:r:m:t:jqvhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': o->runtime = optarg; break;
		case 'm': o->monitor = optarg; break;
		case 't':
			if (parse_timeout(optarg, &o->timeout_ms, e) != KH_OK)
				return e->code;
			break;
		case 'j': o->json = true; break;
		case 'q': o->quiet = true; break;
		case 'v': o->verbose = true; break;
		case 'h': usage(stdout); *next = -1; return KH_OK;
		case 'V': printf("kvm-hotplug %s\n", KH_VERSION); *next = -1; return KH_OK;
		case ':':
			return error_set(e, KH_EUSAGE, "missing value for '%.40s'",
					 argv[optind - 1]);
		default:
			return error_set(e, KH_EUSAGE, "unknown option '%.40s'",
					 argv[optind - 1]);
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return error_set(e, KH_EUSAGE, "no command given");
	}
	*next = optind;
	return KH_OK;
}

static int run(int argc, char **argv, struct options *o, struct error *e)
{
	const char *cmd;
	int next = -1;

	if (parse_global(argc, argv, o, &next, e) != KH_OK || next < 0)
		return e->code;
	argc -= next;
	argv += next;
	cmd = argv[0];
	if (strcmp(cmd, "disk") == 0)
		return cmd_disk(o, argc - 1, argv + 1, e);
	if (strcmp(cmd, "list") == 0)
		return cmd_list(o, argc, argv, e);
	return error_set(e, KH_EUSAGE, "unknown command '%.40s' (see --help)", cmd);
}

int main(int argc, char **argv)
{
	struct options o = { .timeout_ms = 10000 };
	struct error e = { 0 };

	/* A monitor that goes away must give an error, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if (run(argc, argv, &o, &e) != KH_OK) {
		fprintf(stderr, "kvm-hotplug: %s\n", e.msg);
		if (o.json)
			print_json(json_pack("{s:s, s:i, s:s}", "error", e.msg,
					     "exit", e.code, "qmp_class",
					     e.qmp_class));
	}
	return e.code;
}
