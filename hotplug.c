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
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"
#include "monitor.h"
#include "pci.h"
#include "runtime.h"
#include "sync.h"
#include "tap.h"

#ifndef KH_VERSION
#define KH_VERSION "unknown"
#endif

/* Oldest QEMU whose blockdev-add and DEVICE_DELETED we rely on. */
#define MIN_QEMU_MAJOR 2
#define MIN_QEMU_MINOR 12

#define NAME_MAX_LEN 128

#define GANETI_DIR "/var/run/ganeti/kvm-hypervisor"

struct options {
	const char *runtime;
	const char *monitor;
	const char *instance;		/* --instance: the paths come from it */
	const char *ganeti_dir;
	char runtime_path[PATH_MAX], monitor_path[PATH_MAX];
	char runtime_abs[PATH_MAX];	/* a relative runtime path made absolute */
	int timeout_ms;
	bool json, quiet, verbose;
	/* sync: each operation's result goes here instead of stdout */
	json_t *results;
	bool reported;		/* the outcome is printed: main adds no JSON */
};

/* One add or remove, as the command line asked for it. */
struct request {
	enum rt_kind kind;
	enum { OP_REMOVE, OP_ADD, OP_MODIFY } op;
	char uuid[RT_UUID_LEN + 1];
	const char *name;
	int slot;			/* -1: choose one */
	/* disk */
	const char *path, *format, *cache, *mode, *discard;
	const char *file_driver;	/* "file" or "host_device", from path */
	const char *dev_type;		/* Ganeti's disk type, for a Ganeti file */
	json_t *gextra;			/* what Ganeti knows of it (sync), or NULL */
	/* nic */
	char mac[18];
	const char *nic_mode, *link, *script, *tap, *vhost;
	int queues;
	/* modify: the entry the NIC had in a Ganeti file, kept for the new
	 * one so that what Ganeti has in it (ip, network, ...) stays */
	json_t *gsource;
};

static void usage(FILE *f)
{
	fputs("usage: kvm-hotplug [-jqv] [-r FILE] [-m SOCK] [-t SEC] COMMAND ...\n"
	      "\n"
	      "commands:\n"
	      "  disk add --uuid UUID --path PATH [--format raw|qcow2]\n"
	      "           [--cache default|none|writeback|writethrough|unsafe]\n"
	      "           [--mode rw|ro] [--discard ignore|unmap] [--name NAME] [--slot N]\n"
	      "           [--dev-type TYPE]  (Ganeti's disk type, for a Ganeti file)\n"
	      "  disk remove --uuid UUID\n"
	      "  nic add --uuid UUID --mac MAC [--link BRIDGE]\n"
	      "          [--mode bridged|routed|openvswitch] [--script PATH] [--tap NAME]\n"
	      "          [--queues N] [--vhost on|off|auto] [--name NAME] [--slot N]\n"
	      "  nic remove --uuid UUID\n"
	      "  nic modify --uuid UUID [add options]  remove and add again, same slot\n"
	      "  list        devices in the runtime file and whether QEMU has them\n"
	      "  check [--repair]  exit 0 only if the runtime file and the VM agree;\n"
	      "              --repair first settles what an interrupted run left\n"
	      "  cmdline [--format lines|shell|json]\n"
	      "              QEMU options that make the recorded devices again (migration)\n"
	      "  sync [--prune] [--from FILE]\n"
	      "              make the VM have what Ganeti's hook environment (or FILE)\n"
	      "              lists: add what is missing; --prune removes the rest\n"
	      "\n"
	      "options:\n"
	      "  -r, --runtime FILE  instance runtime file (created by add if missing)\n"
	      "  -m, --monitor SOCK  QEMU's QMP socket\n"
	      "  -i, --instance NAME Ganeti instance: FILE is DIR/conf/NAME.runtime,\n"
	      "                      SOCK is DIR/ctrl/NAME.qmp\n"
	      "      --ganeti-dir DIR  (default " GANETI_DIR ")\n"
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

static void device_usage(enum rt_kind kind, FILE *f)
{
	if (kind == RT_DISK)
		fputs("usage: kvm-hotplug [options] disk add --uuid UUID --path PATH\n"
		      "           [--format raw|qcow2] [--cache default|none|writeback|writethrough|unsafe]\n"
		      "           [--mode rw|ro] [--discard ignore|unmap] [--name NAME] [--slot N]\n"
		      "           [--dev-type TYPE]\n"
		      "       kvm-hotplug [options] disk remove --uuid UUID\n", f);
	else
		fputs("usage: kvm-hotplug [options] nic add --uuid UUID --mac MAC\n"
		      "           [--link BRIDGE] [--mode bridged|routed|openvswitch]\n"
		      "           [--script PATH] [--tap NAME] [--queues N] [--vhost on|off|auto]\n"
		      "           [--name NAME] [--slot N]\n"
		      "       kvm-hotplug [options] nic remove --uuid UUID\n"
		      "       kvm-hotplug [options] nic modify --uuid UUID [any add option but --slot]\n", f);
}

static void list_usage(const char *cmd, FILE *f)
{
	fprintf(f, "usage: kvm-hotplug [options] %s%s\n", cmd,
		strcmp(cmd, "check") == 0 ? " [--repair]" : "");
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
	rt_copy_lower(out, RT_UUID_LEN + 1, value);
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
				 "--timeout: '%.20s' is not a number of seconds "
				 "above 0 and up to 86400",
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
static int check_disk_path(struct request *r, struct error *e)
{
	struct stat st;

	if (r->path[0] != '/')
		return error_set(e, KH_EUSAGE, "--path: '%.200s' is not absolute",
				 r->path);
	if (strlen(r->path) >= PATH_MAX)
		return error_set(e, KH_EUSAGE, "--path: too long");
	if (stat(r->path, &st) == -1)
		return error_set(e, KH_EUSAGE, "--path: %.200s: %s", r->path,
				 strerror(errno));
	if (S_ISREG(st.st_mode))
		r->file_driver = "file";
	else if (S_ISBLK(st.st_mode))
		r->file_driver = "host_device";
	else
		return error_set(e, KH_EUSAGE,
				 "--path: %.200s is not a regular file or block device",
				 r->path);
	return KH_OK;
}

/* An image whose content says qcow2 attached as raw would let the guest
 * see the container and overwrite its header: only when asked for by
 * name (--format raw). */
static int check_disk_content(const struct request *r, bool format_given,
			      struct error *e)
{
	unsigned char magic[4];
	ssize_t n = 0;
	int fd;

	if (format_given ||
	    (fd = open(r->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		return KH_OK;	/* what QEMU cannot open, it will say */
	n = read(fd, magic, sizeof(magic));
	close(fd);
	if (n == 4 && memcmp(magic, "QFI\xfb", 4) == 0)
		return error_set(e, KH_EUSAGE, "--path: %.200s holds a qcow2 image: "
				 "give --format qcow2, or --format raw to attach "
				 "the container itself", r->path);
	return KH_OK;
}

/* What the host side of a NIC needs, checked before anything is made:
 * the tool sets up a bridged tap itself; other modes are the script's. */
static int check_nic_link(const struct request *r, struct error *e)
{
	struct stat st;

	if (r->script != NULL) {
		/* a directory is "executable" to access(2) too */
		if (r->script[0] != '/' || access(r->script, X_OK) == -1 ||
		    stat(r->script, &st) == -1 || !S_ISREG(st.st_mode))
			return error_set(e, KH_EUSAGE, "--script: %.200s is not "
					 "an executable with an absolute path",
					 r->script);
		return r->link != NULL && strcmp(r->nic_mode, "bridged") == 0 ?
		       tap_check_bridge(r->link, e) : KH_OK;
	}
	if (strcmp(r->nic_mode, "bridged") != 0)
		return error_set(e, KH_EUSAGE, "--mode %s needs --script",
				 r->nic_mode);
	if (r->link == NULL)
		return error_set(e, KH_EUSAGE,
				 "--mode bridged needs --link BRIDGE or --script");
	return tap_check_bridge(r->link, e);
}

/* ---- step 2: the monitor, and whether hotplug can work at all ---- */

/* "VM 'vm1' (uuid 0b0c...)": how a VM is named in messages. */
static void describe_vm(const char *name, const char *uuid, char *out,
			size_t size)
{
	if (name != NULL && uuid != NULL)
		snprintf(out, size, "VM '%.64s' (uuid %s)", name, uuid);
	else if (name != NULL)
		snprintf(out, size, "VM '%.64s'", name);
	else if (uuid != NULL)
		snprintf(out, size, "VM uuid %s", uuid);
	else
		snprintf(out, size, "a VM with no name or uuid");
}

/* The file belongs to one VM: QEMU's -name and -uuid must be what it
 * records, or the monitor is another VM's and every change would be
 * recorded in the wrong file. A native file that names no VM yet is
 * bound to this one by its next write. */
static int check_identity(const struct options *o, struct runtime *rt,
			  json_t *name_reply, json_t *uuid_reply, struct error *e)
{
	const char *name = json_string_value(json_object_get(name_reply, "name"));
	const char *uuid = json_string_value(json_object_get(uuid_reply, "UUID"));
	char file_vm[160], qemu_vm[160];

	if (uuid != NULL && strspn(uuid, "0-") == strlen(uuid))
		uuid = NULL;	/* QEMU's way of saying there is none */
	if ((rt->vm_name == NULL || (name != NULL && strcmp(name, rt->vm_name) == 0)) &&
	    (rt->vm_uuid[0] == '\0' || (uuid != NULL && strcasecmp(uuid, rt->vm_uuid) == 0))) {
		if (rt->format == RT_NATIVE && rt->vm_name == NULL && name != NULL &&
		    (rt->vm_name = strdup(name)) == NULL)
			return error_set(e, KH_EFAIL, "out of memory");
		if (rt->format == RT_NATIVE && rt->vm_uuid[0] == '\0' && uuid != NULL)
			rt_copy_lower(rt->vm_uuid, sizeof(rt->vm_uuid), uuid);
		return KH_OK;
	}
	describe_vm(rt->vm_name, rt->vm_uuid[0] != '\0' ? rt->vm_uuid : NULL,
		    file_vm, sizeof(file_vm));
	describe_vm(name, uuid, qemu_vm, sizeof(qemu_vm));
	return error_set(e, KH_EUSAGE, "%s belongs to %s, but %s is the monitor "
			 "of %s: wrong --runtime or --monitor; nothing changed",
			 o->runtime, file_vm, o->monitor, qemu_vm);
}

/* Connects to the VM rt belongs to, and to nothing else. */
static int connect_monitor(const struct options *o, struct runtime *rt,
			   struct monitor **m, struct error *e)
{
	json_t *name = NULL, *uuid = NULL;
	unsigned long nid, uid;
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
	if (monitor_send(*m, "query-name", NULL, -1, &nid, e) == KH_OK &&
	    monitor_send(*m, "query-uuid", NULL, -1, &uid, e) == KH_OK &&
	    monitor_reply(*m, nid, "query-name", &name, e) == KH_OK &&
	    monitor_reply(*m, uid, "query-uuid", &uuid, e) == KH_OK)
		check_identity(o, rt, name, uuid, e);
	json_decref(name);
	json_decref(uuid);
	return e->code;
}

/* Whether this QEMU is the VM's live copy and can carry out a change
 * (removal: and have it acknowledged), asked in one round trip. A target
 * waiting for its state (inmigrate, -incoming defer) takes adds: that is
 * how a target is built; it has no guest to acknowledge a removal. */
static int check_run_state(struct monitor *m, bool removal, struct error *e)
{
	static const struct { const char *state, *why; bool removal_only; } refused[] = {
		{ "postmigrate", "the VM was migrated away and runs elsewhere", false },
		{ "finish-migrate", "a migration is finishing", false },
		{ "shutdown", "the guest has shut down", false },
		{ "internal-error", "QEMU stopped on an internal error", false },
		{ "save-vm", "a snapshot is being saved", false },
		{ "restore-vm", "a snapshot is being restored", false },
		{ "guest-panicked", "the guest panicked and cannot acknowledge a removal", true },
		{ "inmigrate", "a migration target has no guest yet to acknowledge a removal", true },
	};
	static const char *const migrating[] = { "setup", "active", "pre-switchover",
		"device", "postcopy-active", "postcopy-paused", "postcopy-recover",
		"cancelling", "wait-unplug", NULL };
	json_t *st = NULL, *mig = NULL;
	unsigned long sid, mid;
	const char *state, *mstate;

	if (monitor_send(m, "query-status", NULL, -1, &sid, e) != KH_OK ||
	    monitor_send(m, "query-migrate", NULL, -1, &mid, e) != KH_OK ||
	    monitor_reply(m, sid, "query-status", &st, e) != KH_OK ||
	    monitor_reply(m, mid, "query-migrate", &mig, e) != KH_OK)
		goto out;
	state = json_string_value(json_object_get(st, "status"));
	mstate = json_string_value(json_object_get(mig, "status"));
	for (size_t i = 0; state != NULL && i < sizeof(refused) / sizeof(refused[0]); i++)
		if (strcmp(state, refused[i].state) == 0 &&
		    (removal || !refused[i].removal_only)) {
			error_set(e, KH_EFAIL, "QEMU is in state %s: %s; nothing "
				  "changed", state, refused[i].why);
			goto out;
		}
	for (size_t i = 0; mstate != NULL && migrating[i] != NULL; i++)
		if (strcmp(mstate, migrating[i]) == 0)
			error_set(e, KH_EFAIL, "a migration is under way (%s): the "
				  "VM must not change now; nothing changed", mstate);
out:
	json_decref(st);
	json_decref(mig);
	return e->code;
}

/* ---- step 4: QMP commands shared by every kind ---- */

/* Best effort: the undo must not hide the error that caused it. */
static void undo(struct monitor *m, const char *cmd, json_t *args)
{
	struct error ignored = { 0 };

	monitor_execute(m, cmd, args, NULL, &ignored);
}

/* QEMU's way of saying the bus takes no hotplug, whatever we checked. */
static int classify_plug_error(struct error *e)
{
	if (strstr(e->msg, "does not support hotplugging") != NULL)
		e->code = KH_ENOHOTPLUG;
	return e->code;
}

static json_t *device_args(const struct rt_device *d)
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
static int device_add_verified(const struct options *o, struct monitor *m,
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
static int unplug_device(const struct options *o, struct monitor *m,
			 const char *id, bool pending, struct error *e)
{
	int64_t asked_us = monitor_clock_us();

	if (monitor_execute(m, "device_del", json_pack("{s:s}", "id", id), NULL,
			    e) != KH_OK) {
		/* gone meanwhile: only a removal already asked for may be;
		 * else this QEMU is not the VM the file describes */
		if (strcmp(e->qmp_class, "DeviceNotFound") == 0 && pending) {
			verbose(o, "%s is already gone from QEMU", id);
			error_clear(e);
			return KH_OK;
		}
		if (strcmp(e->qmp_class, "DeviceNotFound") == 0)
			return error_set(e, KH_EFAIL, "QEMU has no device %s, which "
					 "the runtime file records as plugged: is "
					 "it this VM's? (see check); nothing changed",
					 id);
		/* asked before, still waiting for the guest: wait again */
		if (strstr(e->msg, "already in the process of unplug") == NULL)
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

/* ---- step 4 for a disk: a block node and a virtio-blk-pci ---- */

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

static json_t *disk_device_args(const struct rt_device *d)
{
	json_t *args = device_args(d);

	if (args != NULL && json_object_set_new(args, "drive", json_string(d->id))) {
		json_decref(args);
		return NULL;
	}
	/* writethrough = no volatile write cache towards the guest */
	if (args != NULL && strcmp(d->cache, "writethrough") == 0)
		json_object_set_new(args, "write-cache", json_string("off"));
	return args;
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

/* An HMP command through QMP. HMP tells failure only in its output, so
 * any output that does not start with ok (NULL: no output at all) is the
 * error, with the monitor's text as the message. */
static int hmp(struct monitor *m, const char *ok, struct error *e,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int hmp(struct monitor *m, const char *ok, struct error *e,
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

/* The drive named id, made by -drive or drive_add, goes. One already gone
 * (QEMU deletes such a drive with its device) is fine; so is a node made
 * by blockdev-add under that name, which an older kvm-hotplug made in
 * Ganeti files: that goes too. */
static int drive_del(const struct options *o, struct monitor *m,
		     const char *id, struct error *e)
{
	if (hmp(m, NULL, e, "drive_del %s", id) == KH_OK)
		return KH_OK;
	if (strstr(e->msg, "not found") == NULL)
		return e->code;
	error_clear(e);
	return blockdev_del(o, m, id, e);
}

/* Ganeti's way (hv_kvm HotAddDisk): the file opened here and handed over
 * with add-fd, a drive on /dev/fdset/N made with HMP drive_add, the set
 * given up again (the drive keeps its own copy). Options as Ganeti gives
 * them at start: format raw, aio threads, the file's cache and discard. */
static int drive_add(const struct options *o, struct monitor *m,
		     const struct rt_device *d, struct error *e)
{
	static const char *const shared[] = { "sharedfile", "blockdev", "ext",
					      "gluster", NULL };
	const char *type = json_string_value(json_object_get(d->gextra, "dev_type"));
	const char *cache = d->cache;
	struct error ignored = { 0 };
	json_t *ret = NULL;
	json_int_t set;
	int fd;

	/* Ganeti's _GenerateDiskAioCacheParameters: shared storage gets no
	 * host cache, whatever disk_cache says, so that migration is safe */
	for (size_t i = 0; type != NULL && shared[i] != NULL; i++)
		if (strcmp(type, shared[i]) == 0)
			cache = "none";
	if ((fd = open(d->path, (strcmp(d->mode, "ro") == 0 ? O_RDONLY : O_RDWR) |
		       O_CLOEXEC)) == -1)
		return error_set(e, KH_EFAIL, "%s: %s", d->path, strerror(errno));
	/* opaque names the set, so that a run killed before remove-fd can be
	 * cleaned up after (undo_half_add) */
	if (monitor_execute_fd(m, "add-fd", json_pack("{s:s}", "opaque", d->id),
			       fd, &ret, e) != KH_OK) {
		close(fd);
		return e->code;
	}
	close(fd);
	set = json_integer_value(json_object_get(ret, "fdset-id"));
	json_decref(ret);
	fault_point("after-add-fd");
	hmp(m, "OK", e, "drive_add dummy file=/dev/fdset/%" JSON_INTEGER_FORMAT
	    ",if=none,id=%s,format=%s,auto-read-only=off,aio=threads%s%s%s%s",
	    set, d->id, d->format, strcmp(cache, "default") ? ",cache=" : "",
	    strcmp(cache, "default") ? cache : "",
	    strcmp(d->discard, "unmap") ? "" : ",discard=unmap",
	    strcmp(d->mode, "ro") ? "" : ",readonly=on");
	monitor_execute(m, "remove-fd", json_pack("{s:I}", "fdset-id", set),
			NULL, &ignored);
	if (e->code == KH_OK)
		verbose(o, "drive_add %s on fdset %" JSON_INTEGER_FORMAT ": done",
			d->id, set);
	return e->code;
}

static int blockdev_add(const struct options *o, struct monitor *m,
			const struct rt_device *d, struct error *e)
{
	json_t *args = blockdev_args(d, d->file_driver);

	if (args == NULL)
		return error_set(e, KH_EFAIL, "out of memory");
	if (monitor_execute(m, "blockdev-add", args, NULL, e) != KH_OK)
		return e->code;
	verbose(o, "blockdev-add %s: done", d->id);
	return KH_OK;
}

/* What a disk's device is attached to in QEMU: made before device_add,
 * released after the device is gone (or QEMU refused it). */
struct disk_backend {
	int (*make)(const struct options *o, struct monitor *m,
		    const struct rt_device *d, struct error *e);
	int (*release)(const struct options *o, struct monitor *m,
		       const char *id, struct error *e);
};

/* A native file's disks are blockdev-add nodes named by the id. A Ganeti
 * file's are drives (a BlockBackend named by the id) made as Ganeti makes
 * them, because Ganeti removes them its own way: device_del and at once
 * HMP drive_del, which leaves a blockdev-add node in QEMU for good. */
static const struct disk_backend blockdev_backend = { blockdev_add, blockdev_del };
static const struct disk_backend drive_backend = { drive_add, drive_del };

static const struct disk_backend *disk_backend(const struct runtime *rt)
{
	return rt->format == RT_GANETI ? &drive_backend : &blockdev_backend;
}

static int disk_plug(const struct options *o, struct monitor *m,
		     const struct runtime *rt, const struct rt_device *d,
		     struct error *e)
{
	const struct disk_backend *b = disk_backend(rt);
	bool refused;

	if (b->make(o, m, d, e) != KH_OK)
		return e->code;
	fault_point("after-backend");
	if (device_add_verified(o, m, d, disk_device_args(d), &refused, e) != KH_OK &&
	    refused) {
		struct error ignored = { 0 };
		b->release(o, m, d->id, &ignored);
	}
	return e->code;
}

/* ---- step 4 for a nic: a tap's fds, a netdev and a virtio-net-pci ---- */

/* Names of the fds handed to QEMU: unique per device and queue. */
struct fd_names {
	int n;
	char name[2 * TAP_MAX_QUEUES][RT_ID_MAX + 24];
};

/* Hands every fd of the tap (and vhost) to QEMU, each in the same message
 * as its getfd, all sent before the first reply is read. */
static int pass_fds(struct monitor *m, const struct rt_device *d,
		    const struct tap *tap, struct fd_names *fn, struct error *e)
{
	unsigned long id[2 * TAP_MAX_QUEUES];

	fn->n = 0;
	for (int i = 0; i < 2 * tap->queues; i++) {
		int q = i % tap->queues;
		int fd = i < tap->queues ? tap->fds[q] : tap->vhostfds[q];

		if (fd < 0)
			continue;
		snprintf(fn->name[fn->n], sizeof(fn->name[0]), "%s-%s%d", d->id,
			 i < tap->queues ? "tap" : "vhost", q);
		if (monitor_send(m, "getfd", json_pack("{s:s}", "fdname",
			fn->name[fn->n]), fd, &id[fn->n], e) != KH_OK)
			return e->code;
		fn->n++;
	}
	for (int i = 0; i < fn->n; i++)
		if (monitor_reply(m, id[i], "getfd", NULL, e) != KH_OK)
			return e->code;
	return KH_OK;
}

/* A named fd that netdev_add did not consume would stay open in QEMU. */
static void close_fds(struct monitor *m, const struct fd_names *fn)
{
	for (int i = 0; i < fn->n; i++)
		undo(m, "closefd", json_pack("{s:s}", "fdname", fn->name[i]));
}

/* "a:b:c" of names[first], names[first + 1], ... */
static json_t *joined_names(const struct fd_names *fn, int first, int count)
{
	char buf[sizeof(fn->name)];
	size_t len = 0;

	buf[0] = '\0';
	for (int i = first; i < first + count; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s",
					i > first ? ":" : "", fn->name[i]);
	return json_string(buf);
}

static json_t *netdev_args(const struct rt_device *d, const struct fd_names *fn)
{
	json_t *args = json_pack("{s:s, s:s}", "type", "tap", "id", d->id);
	bool vhost = strcmp(d->vhost, "on") == 0;
	int q = d->queues;

	if (args == NULL)
		return NULL;
	/* one queue: fd/vhostfd; several: fds/vhostfds, names joined by ':' */
	json_object_set_new(args, q > 1 ? "fds" : "fd", joined_names(fn, 0, q));
	if (vhost) {
		json_object_set_new(args, "vhost", json_true());
		json_object_set_new(args, q > 1 ? "vhostfds" : "vhostfd",
				    joined_names(fn, q, q));
	}
	return args;
}

static json_t *nic_device_args(const struct rt_device *d)
{
	json_t *args = device_args(d);

	if (args == NULL)
		return NULL;
	json_object_set_new(args, "netdev", json_string(d->id));
	json_object_set_new(args, "mac", json_string(d->mac));
	if (d->queues > 1) {
		json_object_set_new(args, "mq", json_true());
		json_object_set_new(args, "vectors", json_integer(2 * d->queues + 2));
	}
	return args;
}

static int nic_plug(const struct options *o, struct monitor *m,
		    const struct rt_device *d, const struct tap *tap,
		    struct error *e)
{
	struct fd_names fn;
	bool refused;

	if (pass_fds(m, d, tap, &fn, e) != KH_OK ||
	    (fault_point("after-getfd"),
	     monitor_execute(m, "netdev_add", netdev_args(d, &fn), NULL, e)) != KH_OK) {
		close_fds(m, &fn);
		return e->code;
	}
	fault_point("after-netdev_add");
	verbose(o, "netdev_add %s on tap %s (%d queue%s, vhost %s): done",
		d->id, d->tap, d->queues, d->queues > 1 ? "s" : "", d->vhost);
	if (device_add_verified(o, m, d, nic_device_args(d), &refused, e) != KH_OK &&
	    refused)
		undo(m, "netdev_del", json_pack("{s:s}", "id", d->id));
	return e->code;
}

/* ---- the host side of a nic ---- */

/* Ganeti passes the instance's name; ours is the runtime file's. */
static void instance_name(const char *runtime, char *out, size_t size)
{
	const char *base = strrchr(runtime, '/');
	size_t n;

	base = base != NULL ? base + 1 : runtime;
	n = strlen(base);
	if (n > 8 && strcmp(base + n - 8, ".runtime") == 0)
		n -= 8;
	snprintf(out, size, "%.*s", (int)n, base);
}

/* kvm-ifup's counterpart is kvm-ifdown: "ifup" in the script's name
 * becomes "ifdown". No such name, or no such file: no counterpart. */
static bool down_script(const char *up, char *out, size_t size)
{
	const char *base = strrchr(up, '/'), *at;

	base = base != NULL ? base + 1 : up;
	if ((at = strstr(base, "ifup")) == NULL)
		return false;
	snprintf(out, size, "%.*sifdown%s", (int)(at - up), up, at + 4);
	return access(out, X_OK) == 0;
}

/* Runs the NIC's ifup script, or with down set its ifdown counterpart. */
static int run_nic_script(const struct options *o, const struct rt_device *d,
			  bool down, struct error *e)
{
	char instance[256], path[PATH_MAX];
	struct tap_script_env env = {
		.instance = instance, .mac = d->mac, .mode = d->nic_mode,
		.link = d->link, .uuid = d->uuid, .name = d->name,
		.bridge = strcmp(d->nic_mode, "bridged") == 0 ? d->link : NULL,
	};
	const char *script = d->script;

	if (script == NULL || (down && !down_script(script, path, sizeof(path))))
		return KH_OK;
	if (down)
		script = path;
	if (o->instance != NULL)
		snprintf(instance, sizeof(instance), "%s", o->instance);
	else
		instance_name(o->runtime, instance, sizeof(instance));
	verbose(o, "running %s %s", script, d->tap);
	return tap_run_script(script, d->tap, &env, o->timeout_ms, e);
}

/* Opens the tap (and vhost-net) and puts it on its link. Until QEMU has
 * its fds, closing ours undoes all of it but what a script did. */
static int nic_host_up(const struct options *o, const struct request *r,
		       struct rt_device *d, struct tap *tap, bool *script_ran,
		       struct error *e)
{
	/* asked for, else what the file gives every NIC, else the host's */
	const char *mode = r->vhost != NULL ? r->vhost :
			   d->vhost[0] != '\0' ? d->vhost : "auto";
	const char *name = r->tap != NULL ? r->tap :
			   d->tap[0] != '\0' ? d->tap : NULL;
	bool vhost;

	if (tap_open(tap, name, d->queues, e) != KH_OK ||
	    tap_open_vhost(tap, mode, &vhost, e) != KH_OK)
		return e->code;
	snprintf(d->tap, sizeof(d->tap), "%s", tap->name);
	snprintf(d->vhost, sizeof(d->vhost), "%s", vhost ? "on" : "off");
	verbose(o, "tap %s open (%d queue%s, vhost %s)", tap->name, tap->queues,
		tap->queues > 1 ? "s" : "", d->vhost);
	if (d->script != NULL) {
		*script_ran = true;
		return run_nic_script(o, d, false, e);
	}
	if (tap_up(tap, e) != KH_OK || tap_enslave(tap, d->link, e) != KH_OK)
		return e->code;
	verbose(o, "tap %s up on bridge %s", tap->name, d->link);
	return KH_OK;
}

/* ---- results ---- */

/* What an add or remove did, for --json or as a line of text. */
static json_t *change_result(const char *what, const struct rt_device *d)
{
	json_t *res = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "result", what,
				"kind", rt_kind_name(d->kind), "uuid", d->uuid,
				"id", d->id, "bus", d->bus, "slot", d->slot);

	if (res != NULL && d->kind == RT_NIC) {
		json_object_set_new(res, "mac", json_string(d->mac));
		json_object_set_new(res, "tap", json_string(d->tap));
	}
	return res;
}

static void print_result(const struct options *o, json_t *res)
{
	if (o->results != NULL) {
		json_array_append_new(o->results, res);
		return;
	}
	if (o->json) {
		print_json(res);
		return;
	}
	if (!o->quiet && res != NULL)
		printf("%s %s %s: %s at %s slot %d\n",
		       json_string_value(json_object_get(res, "result")),
		       json_string_value(json_object_get(res, "kind")),
		       json_string_value(json_object_get(res, "uuid")),
		       json_string_value(json_object_get(res, "id")),
		       json_string_value(json_object_get(res, "bus")),
		       (int)json_integer_value(json_object_get(res, "slot")));
	json_decref(res);
}

/* ---- the operations ---- */

/* What a command does with the runtime file: reads it (a shared lock,
 * none needed on a read-only filesystem), changes it, or may create it. */
enum file_use { FILE_READ, FILE_CHANGE, FILE_CREATE };

static int load_runtime(const struct options *o, struct runtime *rt,
			enum file_use use, struct error *e)
{
	/* A Ganeti instance that runs has its runtime file: none means it
	 * does not run here, and a file of ours there would be one Ganeti
	 * cannot read (nor a lock file left for it) */
	if (o->instance != NULL && access(o->runtime, F_OK) == -1 && errno == ENOENT)
		return error_set(e, KH_EUSAGE, "instance %s has no runtime file "
				 "(%s): it does not run on this node", o->instance,
				 o->runtime);
	if ((use == FILE_READ ?
	     runtime_lock_shared(rt, o->runtime, o->timeout_ms, e) :
	     runtime_lock(rt, o->runtime, o->timeout_ms, e)) != KH_OK ||
	    runtime_load(rt, use == FILE_CREATE, e) != KH_OK)
		return e->code;
	verbose(o, "runtime file %s: %zu devices", o->runtime, rt->ndev);
	return KH_OK;
}

/* Step 5: the new file in place, then what its format keeps beside it.
 * Those side files only tell Ganeti which tap is whose; the VM and the
 * file agree already, so failing them is a warning, not a failure. */
static void write_side_files(const struct runtime *rt)
{
	struct error side = { 0 };

	if (runtime_commit_side_files(rt, &side) != KH_OK)
		fprintf(stderr, "kvm-hotplug: warning: %s\n", side.msg);
}

static int commit_file(struct runtime *rt, struct error *e)
{
	if (runtime_commit(rt, e) != KH_OK)
		return e->code;
	write_side_files(rt);
	return KH_OK;
}

/* A second device with the same uuid, or a second NIC with the same MAC,
 * would make the file ambiguous: refused before anything is sent. */
static bool same_string(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Whether r asks for what d already is: what r gives must match (what it
 * leaves out was the file's or the host's choice). */
static bool same_add(const struct rt_device *d, const struct request *r)
{
#define GIVEN_SAME(field, recorded) (r->field == NULL || same_string(r->field, recorded))
	if (d->kind != r->kind || !GIVEN_SAME(name, d->name))
		return false;
	if (d->kind == RT_DISK)
		return same_string(r->path, d->path) && GIVEN_SAME(format, d->format) &&
		       GIVEN_SAME(mode, d->mode) && GIVEN_SAME(cache, d->cache) &&
		       GIVEN_SAME(discard, d->discard);
	return strcmp(r->mac, d->mac) == 0 && same_string(r->link, d->link) &&
	       GIVEN_SAME(nic_mode, d->nic_mode) && same_string(r->script, d->script) &&
	       GIVEN_SAME(tap, d->tap) && (r->queues == 0 || r->queues == d->queues) &&
	       (r->vhost == NULL || strcmp(r->vhost, "auto") == 0 ||
		strcmp(r->vhost, d->vhost) == 0);
#undef GIVEN_SAME
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

/* Two NICs with one MAC: refused for any recorded NIC but except. */
static int refuse_mac_in_use(const struct runtime *rt, const char *mac,
			     const struct rt_device *except, struct error *e)
{
	for (size_t i = 0; i < rt->ndev; i++)
		if (rt->dev[i].kind == RT_NIC && &rt->dev[i] != except &&
		    strcmp(rt->dev[i].mac, mac) == 0)
			return error_set(e, KH_EFAIL, "mac %s is already used by "
					 "nic %s", mac, rt->dev[i].uuid);
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

static int copy_string(char **to, const char *from, struct error *e)
{
	if (from != NULL && (*to = strdup(from)) == NULL)
		return error_set(e, KH_EFAIL, "out of memory");
	return KH_OK;
}

/* What a Ganeti file's entry says of a new disk beyond what every file
 * records: what sync was told, or the type given or guessed from the path
 * (a block device: plain, LVM's; else file). Ganeti reads the type when
 * it starts the VM: for shared types it forces cache=none. */
static json_t *disk_gextra(const struct request *r)
{
	if (r->gextra != NULL)
		return json_incref(r->gextra);
	return json_pack("{s:s}", "dev_type", r->dev_type != NULL ? r->dev_type :
			 strcmp(r->file_driver, "host_device") == 0 ? "plain" : "file");
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

/* ---- crash consistency: the intent record ---- */

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

static void notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* What settling an intent did: always said, it is news to the caller. */
static void notice(const char *fmt, ...)
{
	va_list ap;

	fputs("kvm-hotplug: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* add-fd sets a run left behind it, found by their opaque (the id). */
static void remove_fdsets(struct monitor *m, const char *id)
{
	json_t *sets = NULL, *set;
	size_t i;

	if (monitor_execute(m, "query-fdsets", NULL, &sets, &(struct error){ 0 }) != KH_OK)
		return;
	json_array_foreach(sets, i, set) {
		json_t *fds = json_object_get(set, "fds"), *fd;
		size_t k;
		bool ours = false;

		json_array_foreach(fds, k, fd) {
			const char *opaque = json_string_value(json_object_get(fd, "opaque"));
			ours |= opaque != NULL && strcmp(opaque, id) == 0;
		}
		if (ours)
			undo(m, "remove-fd", json_pack("{s:O}", "fdset-id",
					json_object_get(set, "fdset-id")));
	}
	json_decref(sets);
}

/* Takes back what a half-made add left in QEMU: its backend and the fds
 * it was handed. Each may be missing; that is fine. */
static void undo_half_add(const struct options *o, struct monitor *m,
			  const struct runtime *rt, const char *kind,
			  const char *id, int queues)
{
	struct error ignored = { 0 };
	char name[RT_ID_MAX + 24];

	if (strcmp(kind, "disk") == 0) {
		disk_backend(rt)->release(o, m, id, &ignored);
		remove_fdsets(m, id);
		return;
	}
	undo(m, "netdev_del", json_pack("{s:s}", "id", id));
	for (int q = 0; q < queues && q < TAP_MAX_QUEUES; q++)
		for (int v = 0; v < 2; v++) {
			snprintf(name, sizeof(name), "%s-%s%d", id,
				 v ? "vhost" : "tap", q);
			undo(m, "closefd", json_pack("{s:s}", "fdname", name));
		}
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

/* An add that died: QEMU has the device (record it: the prepared file
 * says exactly that), or not (take back its leftovers). */
static int settle_add(const struct options *o, struct runtime *rt,
		      struct monitor *m, json_t *in, bool present,
		      struct error *e)
{
	const char *id = json_string_value(json_object_get(in, "id"));
	const char *prepared = json_string_value(json_object_get(in, "prepared"));

	if (present) {
		if (prepared != NULL && access(prepared, F_OK) == 0) {
			if (rename(prepared, rt->path) == -1)
				return error_set(e, KH_EFAIL, "%s: %s", prepared,
						 strerror(errno));
			if (runtime_load(rt, false, e) != KH_OK)
				return e->code;
			record_tap(rt, id, json_string_value(json_object_get(in, "tap")));
		}
		/* said only when the file says so */
		if (runtime_find_id(rt, id) != NULL)
			notice("an interrupted add of %s: QEMU has it, recorded", id);
		else
			notice("an interrupted add of %s: QEMU has it, but %s does "
			       "not record it and its prepared file is gone: "
			       "check lists it", id, rt->path);
		runtime_intent_clear(rt);
		return KH_OK;
	}
	undo_half_add(o, m, rt, json_string_value(json_object_get(in, "kind")), id,
		      (int)json_integer_value(json_object_get(in, "queues")));
	if (prepared != NULL)
		unlink(prepared);
	notice("an interrupted add of %s: QEMU does not have it, its "
	       "leftovers released", id);
	runtime_intent_clear(rt);
	return KH_OK;
}

static int release_backend(const struct options *o, struct monitor *m,
			   const struct runtime *rt, const struct rt_device *d,
			   struct error *e);

/* A removal that died: while QEMU has the device it stays recorded; once
 * QEMU let it go, its backend goes and so does the entry. */
static int settle_remove(const struct options *o, struct runtime *rt,
			 struct monitor *m, json_t *in, bool present,
			 struct error *e)
{
	const char *id = json_string_value(json_object_get(in, "id"));
	struct rt_device *d = runtime_find_id(rt, id);

	if (present && !runtime_records_unplugging(rt)) {
		/* the record is the only mark of the pending removal */
		notice("a removal of %s is pending: QEMU still has it (remove it "
		       "again once the guest is up, or reboot the VM)", id);
		return KH_OK;
	}
	if (present) {
		notice("an interrupted removal of %s: QEMU still has it, it stays "
		       "recorded (remove it again)", id);
		runtime_intent_clear(rt);
		return KH_OK;
	}
	if (d != NULL && (release_backend(o, m, rt, d, e) != KH_OK ||
			  (runtime_remove_device(rt, (size_t)(d - rt->dev)),
			   runtime_prepare(rt, e)) != KH_OK ||
			  commit_file(rt, e) != KH_OK))
		return e->code;
	notice("an interrupted removal of %s: QEMU let it go, no longer "
	       "recorded", id);
	runtime_intent_clear(rt);
	return KH_OK;
}

/* Step 1 and a half: a run that died between its intent record and its
 * runtime file left the two telling different stories; the VM decides. */
static int settle_intent(const struct options *o, struct runtime *rt,
			 struct monitor **m, struct error *e)
{
	json_t *in = NULL, *pci = NULL;
	const char *op, *id;
	int bus, slot;

	if (runtime_intent_read(rt, &in, e) != KH_OK || in == NULL)
		return e->code;
	op = json_string_value(json_object_get(in, "op"));
	id = json_string_value(json_object_get(in, "id"));
	if (op == NULL || id == NULL || !json_is_string(json_object_get(in, "kind")))
		error_set(e, KH_EUSAGE, "%s.intent: not an intent record",
			  rt->path);
	/* each settle clears the record once the file tells the outcome */
	else if ((*m != NULL || connect_monitor(o, rt, m, e) == KH_OK) &&
		 pci_query(*m, &pci, e) == KH_OK) {
		bool present = pci_find_device(pci, id, &bus, &slot);

		if (strcmp(op, "add") == 0)
			settle_add(o, rt, *m, in, present, e);
		else
			settle_remove(o, rt, *m, in, present, e);
	}
	json_decref(pci);
	json_decref(in);
	return e->code;
}

/* QEMU refuses a second writer of an image with only 'Failed to get
 * "write" lock': name the recorded disk that has it. */
static void name_image_user(const struct runtime *rt, const struct rt_device *d,
			    struct error *e)
{
	if (d->kind != RT_DISK || strstr(e->msg, "\"write\" lock") == NULL)
		return;
	for (size_t i = 0; i < rt->ndev; i++)
		if (&rt->dev[i] != d && rt->dev[i].kind == RT_DISK &&
		    strcmp(rt->dev[i].path, d->path) == 0) {
			error_prefix(e, "disk %s uses %.200s already: ",
				     rt->dev[i].uuid, d->path);
			return;
		}
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

static int add_device(const struct options *o, const struct request *r,
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
static int release_backend(const struct options *o, struct monitor *m,
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

static int remove_device(const struct options *o, const struct request *r,
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

/* The request that makes d again; its strings point into d. Empty values
 * are left to the add's defaults. */
static void request_from_device(const struct rt_device *d, struct request *r)
{
#define OR_NULL(s) ((s)[0] != '\0' ? (s) : NULL)
	memset(r, 0, sizeof(*r));
	r->kind = d->kind;
	r->op = OP_ADD;
	memcpy(r->uuid, d->uuid, sizeof(r->uuid));
	r->name = d->name;
	r->slot = d->slot;
	if (d->kind == RT_DISK) {
		r->path = d->path;
		r->format = OR_NULL(d->format);
		r->cache = OR_NULL(d->cache);
		r->mode = OR_NULL(d->mode);
		r->discard = OR_NULL(d->discard);
		r->gextra = d->gextra;
		return;
	}
	memcpy(r->mac, d->mac, sizeof(r->mac));
	r->nic_mode = d->nic_mode;
	r->link = d->link;
	r->script = d->script;
	r->tap = OR_NULL(d->tap);	/* "": not known */
	r->vhost = OR_NULL(d->vhost);
	r->queues = d->queues;
	r->gsource = d->gsource;
#undef OR_NULL
}

/* What modify was given replaces what the NIC had. */
static void apply_changes(struct request *to, const struct request *given)
{
	if (given->mac[0] != '\0')
		memcpy(to->mac, given->mac, sizeof(to->mac));
	if (given->queues > 0)
		to->queues = given->queues;
#define TAKE(f) if (given->f != NULL) to->f = given->f
	TAKE(name);
	TAKE(nic_mode);
	TAKE(link);
	TAKE(script);
	TAKE(tap);
	TAKE(vhost);
#undef TAKE
	/* --script '' drops the recorded one */
	if (to->script != NULL && to->script[0] == '\0')
		to->script = NULL;
}

/* What the new settings of a modified NIC (old, recorded in rt) need,
 * checked before the old NIC is unplugged: what add would refuse, a tap
 * name another interface has, vhost the host cannot give. */
static int check_nic_change(const struct runtime *rt, const struct rt_device *old,
			    const struct request *want, struct error *e)
{
	struct tap probe;
	bool used;
	int rc;

	if (refuse_mac_in_use(rt, want->mac, old, e) != KH_OK)
		return e->code;
	if (want->tap != NULL && strcmp(want->tap, old->tap) != 0 &&
	    if_nametoindex(want->tap) != 0)
		return error_set(e, KH_EFAIL, "interface %s already exists",
				 want->tap);
	if (check_nic_link(want, e) != KH_OK)
		return e->code;
	tap_init(&probe);
	probe.queues = want->queues;
	rc = tap_open_vhost(&probe, want->vhost != NULL ? want->vhost : "auto",
			    &used, e);
	tap_close(&probe);
	return rc;
}

/* nic modify: the NIC removed and made again with the changes, at the
 * same slot, under one lock and one monitor connection. If the new NIC
 * cannot be made, the old one is put back. */
static int modify_nic(const struct options *o, const struct request *given,
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

/* ---- cmdline: the options that make the recorded devices again ---- */

/* A disk's QEMU driver: as recorded, else as check_disk_path would find
 * it. The target may be another host, so a path missing here is a file
 * unless under /dev. */
static const char *file_driver_of(const struct rt_device *d)
{
	const char *path = d->path;
	struct stat st;

	if (d->file_driver[0] != '\0')
		return d->file_driver;
	if (stat(path, &st) == 0)
		return S_ISBLK(st.st_mode) ? "host_device" : "file";
	return strncmp(path, "/dev/", 5) == 0 ? "host_device" : "file";
}

/* The target's QEMU opens the tap by name; the caller puts it on its
 * link (or runs the ifup script) once QEMU is up. A name the source's
 * kernel handed out may be another VM's tap on the target, where QEMU
 * would take it (or its queues) over: such a NIC's tap there gets the
 * name made for it. */
static json_t *netdev_cmdline_args(const struct rt_device *d)
{
	char own[IFNAMSIZ];
	json_t *args;

	if (tap_name_is_kernels(d->tap))
		tap_name_for_uuid(d->uuid, own, sizeof(own));
	else
		snprintf(own, sizeof(own), "%s", d->tap);
	args = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "tap", "id", d->id,
			 "ifname", own, "script", "no", "downscript", "no");

	if (args != NULL && d->queues > 1)
		json_object_set_new(args, "queues", json_integer(d->queues));
	if (args != NULL && strcmp(d->vhost, "on") == 0)
		json_object_set_new(args, "vhost", json_true());
	return args;
}

/* Appends "-OPTION" and args as JSON to argv (a JSON array of strings). */
static int append_option(json_t *argv, const char *option, json_t *args)
{
	char *text = args != NULL ? json_dumps(args, JSON_COMPACT) : NULL;
	int rc = text == NULL || json_array_append_new(argv, json_string(option)) ||
		 json_array_append_new(argv, json_string(text));

	free(text);
	json_decref(args);
	return rc ? -1 : 0;
}

static int device_options(json_t *argv, const struct rt_device *d)
{
	if (d->kind == RT_DISK)
		return append_option(argv, "-blockdev",
				     blockdev_args(d, file_driver_of(d))) ||
		       append_option(argv, "-device", disk_device_args(d));
	return append_option(argv, "-netdev", netdev_cmdline_args(d)) ||
	       append_option(argv, "-device", nic_device_args(d));
}

/* 'it'\''s': one shell word, whatever s holds. */
static void print_shell_word(const char *s)
{
	putchar('\'');
	for (; *s != '\0'; s++)
		fputs(*s == '\'' ? "'\\''" : (char[]){ *s, '\0' }, stdout);
	putchar('\'');
}

static int print_cmdline(const char *format, json_t *argv)
{
	size_t i;
	json_t *arg;

	if (strcmp(format, "json") == 0) {
		print_json(json_incref(argv));
		return KH_OK;
	}
	json_array_foreach(argv, i, arg) {
		const char *s = json_string_value(arg);

		if (strcmp(format, "lines") == 0)
			printf("%s\n", s);
		else if (s[0] == '-')
			printf("%s%s", i ? " " : "", s);
		else {
			putchar(' ');
			print_shell_word(s);
		}
	}
	if (strcmp(format, "shell") == 0 && json_array_size(argv) > 0)
		putchar('\n');
	return KH_OK;
}

static int cmdline(const struct options *o, const char *format, struct error *e)
{
	struct runtime rt;
	json_t *argv = json_array();

	runtime_init(&rt);
	if (argv == NULL)
		error_set(e, KH_EFAIL, "out of memory");
	else if (load_runtime(o, &rt, FILE_READ, e) == KH_OK) {
		for (size_t i = 0; i < rt.ndev; i++)
			if (device_options(argv, &rt.dev[i]) != 0) {
				error_set(e, KH_EFAIL, "out of memory");
				break;
			}
		/* released before printing: a slow reader must not hold it */
		runtime_close(&rt);
		if (e->code == KH_OK)
			print_cmdline(format, argv);
	}
	json_decref(argv);
	runtime_close(&rt);
	return e->code;
}

/* ---- check: the runtime file against the live VM ---- */

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

/* Whether QEMU has a disk backend named id: a node of that name
 * (blockdev-add, query-named-block-nodes) or a drive, a BlockBackend
 * with a medium (-drive or drive_add, query-block's "device"). */
static bool has_backend(json_t *nodes, json_t *blocks, const char *id)
{
	size_t i;
	json_t *n;

	json_array_foreach(nodes, i, n)
		if (strcmp(json_string_value(json_object_get(n, "node-name")), id) == 0)
			return true;
	json_array_foreach(blocks, i, n) {
		const char *device = json_string_value(json_object_get(n, "device"));
		if (device != NULL && strcmp(device, id) == 0 &&
		    json_object_get(n, "inserted") != NULL)
			return true;
	}
	return false;
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

/* check --repair: pending removals whose device QEMU has let go are
 * finished. Nothing the file does not know is ever removed. */
static int finish_removals(const struct options *o, struct runtime *rt,
			   struct monitor *m, struct error *e)
{
	json_t *pci = NULL;
	bool changed = false;
	int bus, slot;

	if (pci_query(m, &pci, e) != KH_OK)
		return e->code;
	for (size_t i = 0; i < rt->ndev && e->code == KH_OK;) {
		struct rt_device *d = &rt->dev[i];

		if (d->state != RT_UNPLUGGING ||
		    pci_find_device(pci, d->id, &bus, &slot)) {
			i++;
			continue;
		}
		if (release_backend(o, m, rt, d, e) != KH_OK)
			break;
		notice("the pending removal of %s is finished", d->id);
		runtime_remove_device(rt, i);
		changed = true;
	}
	json_decref(pci);
	if (e->code == KH_OK && changed && runtime_prepare(rt, e) == KH_OK)
		commit_file(rt, e);
	return e->code;
}

static int check_vm(struct options *o, bool repair, struct error *e)
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

/* ---- command line ---- */

static int need_paths(const struct options *o, struct error *e)
{
	if (o->runtime == NULL)
		return error_set(e, KH_EUSAGE, "--runtime FILE is required");
	if (o->monitor == NULL)
		return error_set(e, KH_EUSAGE, "--monitor SOCK is required");
	return KH_OK;
}

static int parse_int_option(const char *opt, const char *value, int min,
			    int max, int *out, struct error *e)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(value, &end, 10);
	if (errno || end == value || *end != '\0' || n < min || n > max)
		return error_set(e, KH_EUSAGE, "%s: '%.20s' is not a number %d-%d",
				 opt, value, min, max);
	*out = (int)n;
	return KH_OK;
}

static int parse_ifname(const char *opt, const char *value, struct error *e)
{
	if (!tap_name_is_valid(value))
		return error_set(e, KH_EUSAGE, "%s: '%.40s' is not an interface "
				 "name (1-%d characters, no '/', ':' or space)",
				 opt, value, IFNAMSIZ - 1);
	return KH_OK;
}

static int parse_mac(const char *value, char *out, struct error *e)
{
	if (!mac_is_valid(value))
		return error_set(e, KH_EUSAGE, "--mac: '%.40s' is not a unicast "
				 "MAC address like 52:54:00:12:34:56", value);
	rt_copy_lower(out, 18, value);
	return KH_OK;
}

static int parse_device_option(int c, const char *arg, struct request *r,
			       struct error *e)
{
	static const char *const vhosts[] = { "on", "off", "auto", NULL };
	/* Ganeti 3.0's disk types (constants.DTS_BLOCK and the rest) */
	static const char *const dev_types[] = { "plain", "drbd", "file",
		"sharedfile", "blockdev", "rbd", "ext", "gluster", NULL };
	bool disk = r->kind == RT_DISK;

	switch (c) {
	case 'u': return parse_uuid(arg, r->uuid, e);
	case 'n': r->name = arg; return parse_name(arg, e);
	case 's': return parse_int_option("--slot", arg, 1, PCI_SLOTS - 1, &r->slot, e);
	case 'p': r->path = arg; return KH_OK;
	case 'f': r->format = arg; return parse_choice("--format", arg, rt_disk_formats, e);
	case 'c': r->cache = arg; return parse_choice("--cache", arg, rt_disk_caches, e);
	case 'd': r->discard = arg; return parse_choice("--discard", arg, rt_disk_discards, e);
	case 'o':
		*(disk ? &r->mode : &r->nic_mode) = arg;
		return parse_choice("--mode", arg, disk ? rt_disk_modes : rt_nic_modes, e);
	case 'M': return parse_mac(arg, r->mac, e);
	case 'l': r->link = arg; return parse_ifname("--link", arg, e);
	case 'S': r->script = arg; return KH_OK;
	case 'T':
		r->tap = arg;
		if (tap_name_is_kernels(arg))
			return error_set(e, KH_EUSAGE, "--tap: '%s' is a name the "
					 "kernel hands out (tapN): on a migration "
					 "target it may be another VM's tap; choose "
					 "another or leave --tap out", arg);
		return parse_ifname("--tap", arg, e);
	case 'Q': return parse_int_option("--queues", arg, 1, TAP_MAX_QUEUES, &r->queues, e);
	case 'H': r->vhost = arg; return parse_choice("--vhost", arg, vhosts, e);
	case 'D': r->dev_type = arg; return parse_choice("--dev-type", arg, dev_types, e);
	}
	return error_set(e, KH_EUSAGE, "unknown option");
}

/* What add uses where the command line says nothing. */
static void apply_defaults(struct request *r)
{
#define DEFAULT(f, v) if (r->f == NULL) r->f = v
	DEFAULT(format, "raw");
	DEFAULT(mode, "rw");
	DEFAULT(nic_mode, "bridged");
#undef DEFAULT
	/* cache, discard, queues, vhost: the runtime file's defaults */
}

/* Checks what only the whole command line can tell, and what the host
 * can tell without touching anything. */
static int check_request(const struct request *r, const char *sub,
			 struct error *e)
{
	const char *kind = rt_kind_name(r->kind);

	if (r->uuid[0] == '\0')
		return error_set(e, KH_EUSAGE, "%s %s: --uuid is required", kind, sub);
	if (r->op != OP_ADD)
		return KH_OK;
	if (r->kind == RT_DISK && r->path == NULL)
		return error_set(e, KH_EUSAGE, "disk add: --path is required");
	if (r->kind == RT_NIC && r->mac[0] == '\0')
		return error_set(e, KH_EUSAGE, "nic add: --mac is required");
	return KH_OK;
}

/* An add as the command line or sync asks for it: defaults, what the
 * host can tell, then the operation. */
static int add_checked(const struct options *o, struct request *r,
		       struct error *e)
{
	bool format_given = r->format != NULL;

	apply_defaults(r);
	if ((r->kind == RT_DISK ? check_disk_path(r, e) : check_nic_link(r, e)) != KH_OK ||
	    (r->kind == RT_DISK && check_disk_content(r, format_given, e) != KH_OK))
		return e->code;
	return add_device(o, r, e);
}

/* ---- sync: the VM made to have what the configuration says ---- */

/* One change sync made or tried: its result, or why not, and its exit. */
static void sync_action(json_t *actions, const char *action,
			const struct rt_device *d, json_t *res,
			const struct error *e)
{
	json_t *a = res != NULL ? res : json_pack("{s:s, s:s}", "kind",
			rt_kind_name(d->kind), "uuid", d->uuid);

	json_object_set_new(a, "action", json_string(action));
	json_object_set_new(a, "exit", json_integer(e->code));
	if (e->code != KH_OK)
		json_object_set_new(a, "error", json_string(e->msg));
	json_array_append_new(actions, a);
}

/* Does what one recorded or wanted device needs; its result joins
 * actions. The operation runs as on the command line: its own lock,
 * connection and intent record. */
static void sync_one(const struct options *o, json_t *actions, bool add,
		     const struct rt_device *d)
{
	struct options one = *o;
	struct error e = { 0 };
	struct request r;

	one.results = json_array();
	request_from_device(d, &r);
	r.slot = -1;		/* where the VM has room now */
	if (add)
		add_checked(&one, &r, &e);
	else {
		r.op = OP_REMOVE;
		remove_device(&one, &r, &e);
	}
	sync_action(actions, add ? "add" : "remove", d,
		    json_incref(json_array_get(one.results, 0)), &e);
	json_decref(one.results);
}

/* The worst outcome decides: a failure (the first one's exit code), else
 * a change that waits for a reboot (3), else all live (0). */
static int sync_outcome(json_t *actions, struct error *e)
{
	size_t i, failed = 0, later = 0;
	int code = KH_OK;
	json_t *a;

	json_array_foreach(actions, i, a) {
		int c = (int)json_integer_value(json_object_get(a, "exit"));
		if (c == KH_ENOHOTPLUG)
			later++;
		else if (c != KH_OK && failed++ == 0)
			code = c;
	}
	if (failed > 0)
		return error_set(e, code, "sync: %zu of %zu changes failed", failed,
				 json_array_size(actions));
	if (later > 0)
		return error_set(e, KH_ENOHOTPLUG, "sync: %zu of %zu changes take "
				 "effect at the next reboot", later,
				 json_array_size(actions));
	return KH_OK;
}

static void print_sync(const struct options *o, json_t *actions)
{
	size_t i;
	json_t *a;

	if (o->json) {
		print_json(json_pack("{s:s, s:O}", "runtime", o->runtime,
				     "actions", actions));
		return;
	}
	if (o->quiet)
		return;
	if (json_array_size(actions) == 0)
		printf("%s: the VM has what the configuration says\n",
		       o->instance != NULL ? o->instance : o->runtime);
	json_array_foreach(actions, i, a) {
		const char *err = json_string_value(json_object_get(a, "error"));
		if (err == NULL)
			print_result(o, json_incref(a));
		else
			printf("not done: %s %s %s: %s\n",
			       json_string_value(json_object_get(a, "action")),
			       json_string_value(json_object_get(a, "kind")),
			       json_string_value(json_object_get(a, "uuid")), err);
	}
}

/* The devices to add (wanted, not recorded) and, with prune, to remove
 * (recorded, not wanted), each done in turn; then what could not be. */
static int sync_vm(struct options *o, const char *from, bool prune,
		   struct error *e)
{
	struct runtime have, want;
	json_t *actions = json_array(), *refused = json_array(), *r;
	struct options quiet = *o;
	size_t i;

	runtime_init(&have);
	runtime_init(&want);
	if (from != NULL ? sync_from_file(&want, from, e) :
			   sync_from_hook_env(&want, refused, e))
		goto out;
	/* A Ganeti instance without a runtime file does not run here (it is
	 * stopped, or this is not its node: hooks run on several) */
	if (o->instance != NULL && access(o->runtime, F_OK) == -1 && errno == ENOENT) {
		if (o->json)
			print_sync(o, actions);
		else if (!o->quiet)
			printf("%s does not run on this node: nothing to do\n",
			       o->instance);
		o->reported = o->json;
		goto out;
	}
	/* a snapshot: each change below takes the lock for itself; no file
	 * yet is no device yet, as for an add */
	if (load_runtime(o, &have, FILE_CREATE, e) != KH_OK)
		goto out;
	runtime_unlock(&have);
	quiet.json = false;
	for (i = 0; i < want.ndev; i++)
		if (runtime_find_uuid(&have, want.dev[i].uuid) == NULL)
			sync_one(&quiet, actions, true, &want.dev[i]);
	for (i = 0; prune && i < have.ndev; i++)
		if (runtime_find_uuid(&want, have.dev[i].uuid) == NULL)
			sync_one(&quiet, actions, false, &have.dev[i]);
	json_array_foreach(refused, i, r) {
		const char *uuid = json_string_value(json_object_get(r, "uuid"));
		/* what cannot be made here but is there already is no change */
		if (uuid != NULL && runtime_find_uuid(&have, uuid) != NULL)
			continue;
		json_object_set_new(r, "action", json_string("add"));
		json_object_set_new(r, "exit", json_integer(KH_ENOHOTPLUG));
		json_object_set(r, "error", json_object_get(r, "reason"));
		json_object_del(r, "reason");
		json_array_append(actions, r);
	}
	print_sync(o, actions);
	o->reported = o->json;	/* one JSON object per run */
	sync_outcome(actions, e);
out:
	json_decref(actions);
	json_decref(refused);
	runtime_close(&have);
	runtime_close(&want);
	return e->code;
}

static int cmd_sync(struct options *o, int argc, char **argv, struct error *e)
{
	const char *from = NULL;
	bool prune = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			puts("usage: kvm-hotplug [options] sync [--prune] [--from FILE]");
			return KH_OK;
		}
		if (strcmp(argv[i], "--prune") == 0)
			prune = true;
		else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
			from = argv[++i];
		else
			return error_set(e, KH_EUSAGE, "sync: unexpected argument "
					 "'%.40s'", argv[i]);
	}
	if (need_paths(o, e) != KH_OK)
		return e->code;
	if (from == NULL && sync_pre_phase()) {
		if (!o->quiet && !o->json)
			puts("sync: the pre phase; the configuration has not changed yet");
		if (o->json)
			print_json(json_pack("{s:s, s:[]}", "runtime", o->runtime,
					     "actions"));
		return KH_OK;
	}
	return sync_vm(o, from, prune, e);
}

/* argv[0] is "add" or "remove". */
static int cmd_device(const struct options *o, enum rt_kind kind, int argc,
		      char **argv, struct error *e)
{
	static const struct option longopts[] = {
		{ "uuid", required_argument, NULL, 'u' },
		{ "name", required_argument, NULL, 'n' },
		{ "slot", required_argument, NULL, 's' },
		{ "path", required_argument, NULL, 'p' },
		{ "format", required_argument, NULL, 'f' },
		{ "cache", required_argument, NULL, 'c' },
		{ "discard", required_argument, NULL, 'd' },
		{ "mode", required_argument, NULL, 'o' },
		{ "mac", required_argument, NULL, 'M' },
		{ "link", required_argument, NULL, 'l' },
		{ "script", required_argument, NULL, 'S' },
		{ "tap", required_argument, NULL, 'T' },
		{ "queues", required_argument, NULL, 'Q' },
		{ "vhost", required_argument, NULL, 'H' },
		{ "dev-type", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* which options each command takes; NULL: no such command */
	static const char *const takes[2][3] = {
		[RT_DISK] = { "u", "unspfcdoD", NULL },
		[RT_NIC] = { "u", "unsoMlSTQH", "unoMlSTQH" },
	};
	static const char *const ops[] = { "remove", "add", "modify" };
	struct request r = { .kind = kind, .slot = -1 };
	const char *name = rt_kind_name(kind);
	int c, li = 0;

	if (argc < 1)
		return error_set(e, KH_EUSAGE, "%s: add or remove? (see %s --help)",
				 name, name);
	if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
		device_usage(kind, stdout);
		return KH_OK;
	}
	for (r.op = OP_REMOVE; r.op <= OP_MODIFY; r.op++)
		if (strcmp(argv[0], ops[r.op]) == 0 && takes[kind][r.op] != NULL)
			break;
	if (r.op > OP_MODIFY)
		return error_set(e, KH_EUSAGE, "%s: unknown subcommand '%.40s'",
				 name, argv[0]);
	optind = 0;	/* glibc: 0 restarts getopt from scratch */
	while ((c = getopt_long(argc, argv, ":h", longopts, &li)) != -1) {
		if (c == 'h') {
			device_usage(kind, stdout);
			return KH_OK;
		}
		if (c == ':' || c == '?')
			return error_set(e, KH_EUSAGE, "%s %s: %s '%.40s'", name,
					 argv[0], c == ':' ? "missing value for" :
					 "unknown option", argv[optind - 1]);
		if (strchr(takes[kind][r.op], c) == NULL)
			return error_set(e, KH_EUSAGE, "%s %s does not take '--%s'",
					 name, argv[0], longopts[li].name);
		if (parse_device_option(c, optarg, &r, e) != KH_OK)
			return e->code;
	}
	if (optind < argc)
		return error_set(e, KH_EUSAGE, "%s %s: unexpected argument '%.40s'",
				 name, argv[0], argv[optind]);
	if (check_request(&r, argv[0], e) != KH_OK || need_paths(o, e) != KH_OK)
		return e->code;
	if (r.op == OP_REMOVE)
		return remove_device(o, &r, e);
	if (r.op == OP_MODIFY)
		return modify_nic(o, &r, e);
	return add_checked(o, &r, e);
}

static int cmd_cmdline(const struct options *o, int argc, char **argv,
		       struct error *e)
{
	static const char *const formats[] = { "lines", "shell", "json", NULL };
	const char *format = "lines";

	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		puts("usage: kvm-hotplug -r FILE cmdline [--format lines|shell|json]");
		return KH_OK;
	}
	if (argc == 3 && strcmp(argv[1], "--format") == 0)
		format = argv[2];
	else if (argc != 1)
		return error_set(e, KH_EUSAGE, "cmdline takes only --format "
				 "lines|shell|json");
	if (parse_choice("--format", format, formats, e) != KH_OK)
		return e->code;
	if (o->runtime == NULL)
		return error_set(e, KH_EUSAGE, "--runtime FILE is required");
	return cmdline(o, format, e);
}

/* argv[0] is "list" or "check": both set the file beside QEMU. */
static int cmd_list(struct options *o, int argc, char **argv,
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

/* --instance NAME: Ganeti's paths for NAME, unless -r or -m say otherwise. */
static int instance_paths(struct options *o, struct error *e)
{
	const char *dir = o->ganeti_dir != NULL ? o->ganeti_dir : GANETI_DIR;
	const char *n = o->instance;

	if (n == NULL)
		return o->ganeti_dir == NULL ? KH_OK :
		       error_set(e, KH_EUSAGE, "--ganeti-dir goes with --instance");
	if (n[0] == '\0' || n[0] == '.' || strchr(n, '/') != NULL ||
	    strlen(n) > 255)
		return error_set(e, KH_EUSAGE, "--instance: '%.60s' is not an "
				 "instance name", n);
	if (o->ganeti_dir != NULL && access(dir, F_OK) == -1)
		return error_set(e, KH_EUSAGE, "--ganeti-dir: %.200s: %s", dir,
				 strerror(errno));
	if ((size_t)snprintf(o->runtime_path, sizeof(o->runtime_path),
			     "%s/conf/%s.runtime", dir, n) >= sizeof(o->runtime_path) ||
	    (size_t)snprintf(o->monitor_path, sizeof(o->monitor_path),
			     "%s/ctrl/%s.qmp", dir, n) >= sizeof(o->monitor_path))
		return error_set(e, KH_EUSAGE, "--ganeti-dir: too long");
	if (o->runtime == NULL)
		o->runtime = o->runtime_path;
	if (o->monitor == NULL)
		o->monitor = o->monitor_path;
	return KH_OK;
}

/* The runtime file's path, once and for all: what a run records of it
 * (the prepared file the intent record names) must hold for a later run
 * started in another directory. */
static int absolute_runtime(struct options *o, struct error *e)
{
	char cwd[PATH_MAX];

	if (o->runtime == NULL || o->runtime[0] == '/')
		return KH_OK;
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return error_set(e, KH_EFAIL, "cannot tell the current directory: %s",
				 strerror(errno));
	if ((size_t)snprintf(o->runtime_abs, sizeof(o->runtime_abs), "%s/%s", cwd,
			     o->runtime) >= sizeof(o->runtime_abs))
		return error_set(e, KH_EUSAGE, "--runtime: too long");
	o->runtime = o->runtime_abs;
	return KH_OK;
}

/* Parses the options before COMMAND; *next is COMMAND's index. */
static int parse_global(int argc, char **argv, struct options *o, int *next,
			struct error *e)
{
	static const struct option longopts[] = {
		{ "runtime", required_argument, NULL, 'r' },
		{ "monitor", required_argument, NULL, 'm' },
		{ "instance", required_argument, NULL, 'i' },
		{ "ganeti-dir", required_argument, NULL, 'G' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "+:r:m:i:t:jqvhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': o->runtime = optarg; break;
		case 'm': o->monitor = optarg; break;
		case 'i': o->instance = optarg; break;
		case 'G': o->ganeti_dir = optarg; break;
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
	if (optind >= argc)
		return error_set(e, KH_EUSAGE, "no command given (see --help)");
	*next = optind;
	if (instance_paths(o, e) != KH_OK)
		return e->code;
	return absolute_runtime(o, e);
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
		return cmd_device(o, RT_DISK, argc - 1, argv + 1, e);
	if (strcmp(cmd, "nic") == 0)
		return cmd_device(o, RT_NIC, argc - 1, argv + 1, e);
	if (strcmp(cmd, "list") == 0 || strcmp(cmd, "check") == 0)
		return cmd_list(o, argc, argv, e);
	if (strcmp(cmd, "cmdline") == 0)
		return cmd_cmdline(o, argc, argv, e);
	if (strcmp(cmd, "sync") == 0)
		return cmd_sync(o, argc, argv, e);
	return error_set(e, KH_EUSAGE, "unknown command '%.40s' (see --help)", cmd);
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

int main(int argc, char **argv)
{
	struct options o = { .timeout_ms = 10000 };
	struct error e = { 0 };
	/* no SA_RESTART: a wait ends at the signal */
	struct sigaction sa = { .sa_handler = on_signal };

	/* A monitor that goes away must give an error, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	/* A hook's caller times it out with SIGTERM, an operator with ^C: the
	 * wait under way gives up and the run ends the way a timeout does,
	 * with what it did recorded (a removal as pending, an add whose
	 * outcome is unknown in its intent record) */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	monitor_interrupt_on(&interrupted);
	if (run(argc, argv, &o, &e) != KH_OK) {
		fprintf(stderr, "kvm-hotplug: %s\n", e.msg);
		if (o.json && !o.reported)
			print_json(json_pack("{s:s, s:i, s:s}", "error", e.msg,
					     "exit", e.code, "qmp_class",
					     e.qmp_class));
	}
	return e.code;
}
