/*
 * Ganeti's runtime file. Each NIC is an object (mac, nicparams {mode,
 * link}, uuid, name, ...), each disk a triple [disk object, path, uri].
 * Where a device sits is either "pci": SLOT (older files, ids
 * hot<kind>-<uuid group 1>-pci-<slot>) or "hvinfo": {driver, id, bus,
 * addr} (newer files, ids <kind>-<uuid groups 1-3>).
 *
 * Ganeti builds its objects from these dicts and refuses keys it does not
 * know, so nothing of ours is added to them: a NIC's queues and vhost come
 * from hvparams (virtio_net_queues, vhost_net), a disk's cache and discard
 * from hvparams (disk_cache, disk_discard). What the file cannot hold is
 * refused before QEMU is touched (runtime_prepare reads its own output
 * back): the codec's unrecorded fields are the ones its text lacks.
 *
 * A NIC's tap is where Ganeti keeps it: in the nic file
 * DIR/nic/NAME/SEQ beside DIR/conf/NAME.runtime, SEQ being the NIC's
 * place in the file's list of NICs. It is read with the file and written
 * when the file is committed (commit_nic_files).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ganeti.h"

enum { G_KVM_CMD, G_NICS, G_HVPARAMS, G_DISKS };

/* A file being read. */
struct reader {
	struct rt_file *f;
	struct ganeti_file *g;
	const char *path;	/* the file's, for its nic files, or NULL */
	const char *name;	/* for messages */
	struct error *e;
};

/* A Ganeti file starts with '[' (after white space); a native one never. */
static bool ganeti_is_json(const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len && isspace((unsigned char)buf[i]))
		i++;
	return i < len && buf[i] == '[';
}

static int bad(struct error *e, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(struct error *e, const char *name, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return error_set(e, KH_EUSAGE, "%s: %s", name, msg);
}

static const char *str(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* The device object of an entry: a NIC is one, a disk is [obj, path, uri]. */
static json_t *entry_object(json_t *entry, enum rt_kind kind)
{
	return kind == RT_DISK ? json_array_get(entry, 0) : entry;
}

/* Entries the tool manages: a valid uuid and a PCI placement. A device
 * on another bus (a SCSI disk's hvinfo has bus scsi.0, channel, scsi-id
 * and lun) is kept as it is. */
static bool manageable(json_t *entry, enum rt_kind kind)
{
	json_t *obj = entry_object(entry, kind);
	json_t *hv = json_object_get(obj, "hvinfo");
	const char *uuid = str(obj, "uuid"), *bus = str(hv, "bus");

	return uuid != NULL && uuid_is_valid(uuid) &&
	       ((json_is_object(hv) && (bus == NULL || strncmp(bus, "pci", 3) == 0)) ||
		json_is_integer(json_object_get(obj, "pci")));
}

static bool has_other_entry(const void *data, const char *uuid)
{
	const struct ganeti_file *g = data;
	static const struct { int list; enum rt_kind kind; } lists[] = {
		{ G_NICS, RT_NIC }, { G_DISKS, RT_DISK },
	};
	size_t i, k;
	json_t *entry;

	for (k = 0; g != NULL && k < sizeof(lists) / sizeof(lists[0]); k++)
		json_array_foreach(json_array_get(g->root, lists[k].list), i, entry) {
			const char *u = str(entry_object(entry, lists[k].kind), "uuid");

			if (!manageable(entry, lists[k].kind) && u != NULL &&
			    strcasecmp(u, uuid) == 0)
				return true;
		}
	return false;
}

/* "0x8": what Ganeti writes, and nothing looser. */
static int parse_slot_addr(const char *addr, int *slot)
{
	size_t n;
	long v;

	if (addr == NULL || strncmp(addr, "0x", 2) != 0)
		return -1;
	n = strspn(addr + 2, "0123456789abcdefABCDEF");
	if (n == 0 || n > 2 || addr[2 + n] != '\0' ||
	    (v = strtol(addr + 2, NULL, 16)) >= PCI_SLOTS)
		return -1;
	*slot = (int)v;
	return 0;
}

/* Where the device sits, and its QEMU id and driver. */
static int read_placement(json_t *obj, struct rt_device *d, const char *name,
			  const char *where, struct error *e)
{
	json_t *hv = json_object_get(obj, "hvinfo");
	json_int_t pci;

	if (json_is_object(hv)) {
		const char *id = str(hv, "id"), *bus = str(hv, "bus");
		const char *driver = str(hv, "driver");

		if (id == NULL || !qemu_id_is_valid(id) || bus == NULL ||
		    !qemu_id_is_valid(bus) || strlen(bus) >= sizeof(d->bus) ||
		    driver == NULL ||
		    strlen(driver) >= sizeof(d->driver) ||
		    parse_slot_addr(str(hv, "addr"), &d->slot) != 0)
			return bad(e, name, "%s: hvinfo needs a valid id, bus, "
				   "driver and addr", where);
		snprintf(d->id, sizeof(d->id), "%s", id);
		snprintf(d->bus, sizeof(d->bus), "%s", bus);
		snprintf(d->driver, sizeof(d->driver), "%s", driver);
		/* hvinfo becomes -device options: romfile= is no ROM */
		if (d->kind == RT_NIC && str(hv, "romfile") != NULL &&
		    str(hv, "romfile")[0] == '\0')
			snprintf(d->rom, sizeof(d->rom), "off");
		return KH_OK;
	}
	pci = json_integer_value(json_object_get(obj, "pci"));
	if (pci < 0 || pci >= PCI_SLOTS)	/* before it is cut to an int */
		return bad(e, name, "%s: pci %" JSON_INTEGER_FORMAT " is not a "
			   "slot 0-%d", where, pci, PCI_SLOTS - 1);
	d->slot = (int)pci;
	snprintf(d->bus, sizeof(d->bus), "%s", PCI_HOTPLUG_BUS);
	snprintf(d->driver, sizeof(d->driver), "%s", rt_driver_name(d->kind));
	return rt_device_id(RT_ID_SLOT, d->kind, d->uuid, d->bus, d->slot,
			    d->id, sizeof(d->id), e);
}

static int copy_name(struct rt_device *d, json_t *obj, struct error *e)
{
	const char *name = str(obj, "name");

	if (name != NULL && (d->name = strdup(name)) == NULL)
		return error_nomem(e);
	return KH_OK;
}

/* A word from hvparams if it is one of words, else fallback. */
static const char *hv_word(json_t *hvparams, const char *key,
			   const char *const *words, const char *fallback)
{
	const char *v = str(hvparams, key);

	return v != NULL && rt_word_index(words, v) >= 0 ? v : fallback;
}

/* DIR/nic/NAME[/SEQ] for the runtime file DIR/conf/NAME.runtime; -1 when
 * the file is not named that way (then there is no nic file). */
static int nic_file(const char *runtime, long seq, char *out, size_t size)
{
	const char *base = strrchr(runtime, '/');
	size_t dirlen, n;
	int len;

	if (base == NULL || base - runtime < 5 ||
	    strncmp(base - 5, "/conf", 5) != 0 ||
	    (n = strlen(base + 1)) <= 8 || strcmp(base + 1 + n - 8, ".runtime"))
		return -1;
	dirlen = (size_t)(base - 5 - runtime);
	len = seq < 0 ? snprintf(out, size, "%.*s/nic/%.*s", (int)dirlen,
				 runtime, (int)(n - 8), base + 1) :
			snprintf(out, size, "%.*s/nic/%.*s/%ld", (int)dirlen,
				 runtime, (int)(n - 8), base + 1, seq);
	return len < 0 || (size_t)len >= size ? -1 : 0;
}

/* What the nic file at path says (its first line, "" when there is no
 * file or it is empty). */
static void read_nic_file(const char *path, char buf[IFNAMSIZ + 1])
{
	ssize_t n = -1;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) != -1) {
		n = read(fd, buf, IFNAMSIZ);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

/* The tap Ganeti's nic file names for NIC seq, or "" when there is none. */
static void read_tap(const char *runtime, size_t seq, char *tap, size_t size)
{
	char path[4096], buf[IFNAMSIZ + 1];

	tap[0] = '\0';
	if (runtime == NULL || nic_file(runtime, (long)seq, path, sizeof(path)))
		return;
	read_nic_file(path, buf);
	if (tap_name_is_valid(buf) && strlen(buf) < size)
		memcpy(tap, buf, strlen(buf) + 1);
}

static void device_defaults(const void *data, struct rt_device *d);

static int parse_nic(const struct reader *r, struct rt_device *d,
		     json_t *obj, const char *where)
{
	json_t *params = json_object_get(obj, "nicparams");
	const char *mac = str(obj, "mac");

	if (mac == NULL || !mac_is_valid(mac))
		return bad(r->e, r->name, "%s: invalid or missing mac", where);
	rt_copy_lower(d->mac, sizeof(d->mac), mac);
	snprintf(d->nic_mode, sizeof(d->nic_mode), "%s",
		 hv_word(params, "mode", rt_nic_modes, "bridged"));
	if (str(params, "link") != NULL &&
	    (d->link = strdup(str(params, "link"))) == NULL)
		return error_nomem(r->e);
	device_defaults(r->g, d);
	return copy_name(d, obj, r->e);
}

/* What hvparams give every device of d's kind, which is all this file can
 * record: a disk's cache and discard (disk_cache, disk_discard), a NIC's
 * queues and vhost (virtio_net_queues, vhost_net). */
static void device_defaults(const void *data, struct rt_device *d)
{
	const struct ganeti_file *g = data;
	json_t *hvparams = json_array_get(g != NULL ? g->root : NULL,
					  G_HVPARAMS);
	json_t *queues = json_object_get(hvparams, "virtio_net_queues");

	if (d->kind == RT_NIC) {
		d->queues = json_is_integer(queues) && json_integer_value(queues) > 1 &&
			    json_integer_value(queues) <= TAP_MAX_QUEUES ?
			    (int)json_integer_value(queues) : 1;
		snprintf(d->vhost, sizeof(d->vhost), "%s",
			 json_is_true(json_object_get(hvparams, "vhost_net")) ?
			 "on" : "off");
		return;
	}
	snprintf(d->cache, sizeof(d->cache), "%s",
		 hv_word(hvparams, "disk_cache", rt_disk_caches, "default"));
	snprintf(d->discard, sizeof(d->discard), "%s",
		 hv_word(hvparams, "disk_discard", rt_disk_discards, "ignore"));
}

static int parse_disk(const struct reader *r, struct rt_device *d,
		      json_t *entry, const char *where)
{
	json_t *obj = json_array_get(entry, 0);
	const char *path = json_string_value(json_array_get(entry, 1));

	if (path == NULL || path[0] != '/')
		return bad(r->e, r->name, "%s: the disk's path must be absolute",
			   where);
	if ((d->path = strdup(path)) == NULL)
		return error_nomem(r->e);
	snprintf(d->format, sizeof(d->format), "raw");
	snprintf(d->mode, sizeof(d->mode), "%s",
		 hv_word(obj, "mode", rt_disk_modes, "rw"));
	device_defaults(r->g, d);
	return copy_name(d, obj, r->e);
}

/* Where a device's added_by is kept: a key of ours in the entry's own
 * parameters (a NIC's nicparams, a disk's params), which Ganeti carries
 * along (soft reboot, migration) and reads only by the keys it knows;
 * anything else in the entry is a field of Ganeti's objects, and a key
 * in hvinfo would become a -device option. */
#define ADDED_BY_KEY	"kvm_hotplug_added_by"

static const char *params_key(enum rt_kind kind)
{
	return kind == RT_NIC ? "nicparams" : "params";
}

static void read_added_by(json_t *obj, struct rt_device *d)
{
	const char *by = str(json_object_get(obj, params_key(d->kind)), ADDED_BY_KEY);

	if (by != NULL && rt_word_index(rt_added_bys, by) >= 0)
		snprintf(d->added_by, sizeof(d->added_by), "%s", by);
}

static int parse_entry(const struct reader *r, json_t *entry,
		       enum rt_kind kind, size_t i)
{
	json_t *obj = entry_object(entry, kind);
	struct rt_device *d;
	char where[32];

	if (!manageable(entry, kind))
		return KH_OK;
	snprintf(where, sizeof(where), "%ss[%zu]", rt_kind_name(kind), i);
	if ((d = rt_file_add_device(r->f, r->e)) == NULL)
		return r->e->code;
	d->kind = kind;
	d->source = entry;
	rt_copy_lower(d->uuid, sizeof(d->uuid), str(obj, "uuid"));
	if (read_placement(obj, d, r->name, where, r->e) != KH_OK)
		return r->e->code;
	if (kind == RT_NIC)
		read_tap(r->path, i, d->tap, sizeof(d->tap));
	read_added_by(obj, d);
	return kind == RT_NIC ? parse_nic(r, d, obj, where) :
				parse_disk(r, d, entry, where);
}

/* Newer files place devices with hvinfo; an empty one is taken for newer
 * when it has the disks entry, which older ones lack. */
static bool uses_hvinfo(json_t *root)
{
	static const int lists[] = { G_NICS, G_DISKS };
	json_t *entry;
	size_t i;

	for (int l = 0; l < 2; l++) {
		json_array_foreach(json_array_get(root, lists[l]), i, entry) {
			json_t *obj = entry_object(entry, l == 0 ? RT_NIC : RT_DISK);
			if (json_is_object(json_object_get(obj, "hvinfo")))
				return true;
			if (json_is_integer(json_object_get(obj, "pci")))
				return false;
		}
	}
	return json_array_size(root) == 4;
}

/* The low slots hvparams reserve, or Ganeti's defaults. A value that is
 * not a slot count is refused: replaced by the default, it would place
 * devices inside the range meant to be reserved. */
static int reserved_slots(const struct reader *r, json_t *hvparams)
{
	json_t *n = json_object_get(hvparams, "kvm_pci_reservations");

	if (n == NULL || json_is_null(n)) {
		r->f->reserved = r->g->hvinfo ? 0xfff : 0xf;	/* as Ganeti */
		return KH_OK;
	}
	if (!json_is_integer(n) || json_integer_value(n) < 0 ||
	    json_integer_value(n) > PCI_SLOTS)
		return bad(r->e, r->name, "hvparams: kvm_pci_reservations is "
			   "not a whole number 0-%d", PCI_SLOTS);
	r->f->reserved = json_integer_value(n) == PCI_SLOTS ? UINT32_MAX :
		       (UINT32_C(1) << json_integer_value(n)) - 1;
	return KH_OK;
}

/* What hvparams say of QEMU's confinement: use_chroot (an empty root:
 * no ROM file for a NIC, no path for a disk) and security_model user or
 * pool (another user: no path it may not read). Ganeti's disks are
 * handed over as fds anyway. */
static void sandbox(struct rt_file *f, json_t *hvparams)
{
	const char *model = str(hvparams, "security_model");

	f->chrooted = json_is_true(json_object_get(hvparams, "use_chroot"));
	if (f->chrooted || (model != NULL && (strcmp(model, "user") == 0 ||
					      strcmp(model, "pool") == 0)))
		snprintf(f->fd_pass, sizeof(f->fd_pass), "always");
}

static int check_shape(json_t *root, const char *name, struct error *e)
{
	size_t n = json_array_size(root);

	if (n != 3 && n != 4)
		return bad(e, name, "not a Ganeti runtime file: expected "
			   "[kvm_cmd, nics, hvparams, disks], got %zu entries", n);
	if (!json_is_array(json_array_get(root, G_KVM_CMD)) ||
	    !json_is_array(json_array_get(root, G_NICS)) ||
	    !json_is_object(json_array_get(root, G_HVPARAMS)) ||
	    (n == 4 && !json_is_array(json_array_get(root, G_DISKS))))
		return bad(e, name, "not a Ganeti runtime file: kvm_cmd, nics "
			   "and disks must be lists, hvparams an object");
	return KH_OK;
}

/* The VM kvm_cmd starts: "-name NAME" (QEMU's [guest=]NAME[,opts]) and
 * "-uuid UUID", the last of each as QEMU takes it. */
static int vm_identity(struct rt_file *f, json_t *kvm_cmd, struct error *e)
{
	for (size_t i = 0; i + 1 < json_array_size(kvm_cmd); i++) {
		const char *opt = json_string_value(json_array_get(kvm_cmd, i));
		const char *v = json_string_value(json_array_get(kvm_cmd, i + 1));

		if (opt == NULL || v == NULL)
			continue;
		if (strcmp(opt, "-uuid") == 0)
			rt_copy_lower(f->vm_uuid, sizeof(f->vm_uuid), v);
		if (strcmp(opt, "-name") != 0)
			continue;
		if (strncmp(v, "guest=", 6) == 0)
			v += 6;
		free(f->vm_name);
		if ((f->vm_name = strndup(v, strcspn(v, ","))) == NULL)
			return error_nomem(e);
	}
	return KH_OK;
}

/* The file's entries, each kind in its list's order. */
static int parse_entries(const struct reader *r, json_t *root)
{
	json_t *entry;
	size_t i;

	json_array_foreach(json_array_get(root, G_NICS), i, entry)
		if (parse_entry(r, entry, RT_NIC, i) != KH_OK)
			return r->e->code;
	json_array_foreach(json_array_get(root, G_DISKS), i, entry) {
		json_t *uri = json_array_get(entry, 2);
		if (json_array_size(entry) != 3 || !json_is_object(json_array_get(entry, 0)) ||
		    !(json_is_string(uri) || json_is_null(uri)))
			return bad(r->e, r->name, "disks[%zu]: not [disk, path, uri]", i);
		if (parse_entry(r, entry, RT_DISK, i) != KH_OK)
			return r->e->code;
	}
	return KH_OK;
}

static int ganeti_parse(struct rt_file *f, void **data, const char *path,
			const char *name, const char *buf, size_t len,
			struct error *e)
{
	struct reader r = { .f = f, .path = path, .name = name, .e = e };
	json_error_t jerr;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);

	if (root == NULL)
		return bad(e, name, "line %d, column %d: %s", jerr.line,
			   jerr.column, jerr.text);
	if ((r.g = calloc(1, sizeof(*r.g))) == NULL) {
		json_decref(root);
		return error_nomem(e);
	}
	r.g->root = root;
	*data = r.g;
	if (check_shape(root, name, e) != KH_OK)
		return e->code;
	r.g->hvinfo = uses_hvinfo(root);
	if (vm_identity(f, json_array_get(root, G_KVM_CMD), e) != KH_OK ||
	    reserved_slots(&r, json_array_get(root, G_HVPARAMS)) != KH_OK)
		return e->code;
	sandbox(f, json_array_get(root, G_HVPARAMS));
	return parse_entries(&r, root);
}

/* --- writing --- */

static int set_placement(bool hvinfo, const struct rt_device *d, json_t *obj)
{
	char addr[8];
	json_t *hv;

	if (!hvinfo)
		return json_object_set_new(obj, "pci", json_integer(d->slot));
	if (!json_is_object(hv = json_object_get(obj, "hvinfo"))) {
		if (json_object_set_new(obj, "hvinfo", hv = json_object()) != 0)
			return -1;
	}
	snprintf(addr, sizeof(addr), "0x%x", (unsigned)d->slot);
	/* Ganeti starts a soft reboot's and a migration target's device
	 * with every hvinfo key as an option: "romfile=" is no ROM there
	 * too, as the source has */
	if (strcmp(d->rom, "off") == 0)
		json_object_set_new(hv, "romfile", json_string(""));
	else if (str(hv, "romfile") != NULL && str(hv, "romfile")[0] == '\0')
		json_object_del(hv, "romfile");
	return json_object_set_new(hv, "driver", json_string(d->driver)) |
	       json_object_set_new(hv, "id", json_string(d->id)) |
	       json_object_set_new(hv, "bus", json_string(d->bus)) |
	       json_object_set_new(hv, "addr", json_string(addr));
}

/* Sets obj[key] to value unless it already says that (MACs and uuids
 * are read in lower case: an unchanged one keeps its spelling). */
static void set_string(json_t *obj, const char *key, const char *value,
		       bool any_case)
{
	const char *now = str(obj, key);

	if (now == NULL || (any_case ? strcasecmp(now, value) : strcmp(now, value)))
		json_object_set_new(obj, key, json_string(value));
}

/* What the tool manages in an entry, set in place: keys already there
 * keep their position, and everything else in the entry stays. */
static void set_fields(const struct rt_device *d, json_t *entry)
{
	json_t *obj = entry_object(entry, d->kind), *params;

	if (d->kind == RT_NIC) {
		set_string(obj, "mac", d->mac, true);
		if (!json_is_object(params = json_object_get(obj, "nicparams")))
			json_object_set_new(obj, "nicparams", params = json_object());
		set_string(params, "mode", d->nic_mode, false);
		if (d->link != NULL)
			set_string(params, "link", d->link, false);
		else
			json_object_del(params, "link");
	}
	set_string(obj, "uuid", d->uuid, true);
	if (d->name != NULL)
		set_string(obj, "name", d->name, false);
	else if (json_object_get(obj, "name") != NULL)
		json_object_set_new(obj, "name", json_null());
	if (d->kind == RT_DISK) {
		set_string(obj, "mode", d->mode, false);
		const char *path = json_string_value(json_array_get(entry, 1));
		if (path == NULL || strcmp(path, d->path) != 0)
			json_array_set_new(entry, 1, json_string(d->path));
	}
	params = json_object_get(obj, params_key(d->kind));
	if (d->added_by[0] == '\0') {
		const char *by = str(params, ADDED_BY_KEY);

		/* a value this version does not know is not its to drop */
		if (by != NULL && rt_word_index(rt_added_bys, by) >= 0)
			json_object_del(params, ADDED_BY_KEY);
		return;
	}
	if (!json_is_object(params))
		json_object_set_new(obj, params_key(d->kind), params = json_object());
	set_string(params, ADDED_BY_KEY, d->added_by, false);
}

/* An entry shaped like Ganeti's own, for a device added in this run:
 * what the caller knows of Ganeti's object (d->extra: dev_type, size,
 * iv_name, ...) and what Ganeti reads whenever it starts the VM from the
 * file (soft reboot, migration target): a disk's params and mode, and
 * its type (which decides its cache mode), else guessed from the path: a
 * block device is plain, LVM's; anything else a file. */
static json_t *new_entry(const struct rt_device *d)
{
	json_t *obj = d->extra != NULL ? json_deep_copy(d->extra) : json_object();
	json_t *entry = obj;

	if (obj != NULL && d->kind == RT_DISK) {
		if (json_object_get(obj, "dev_type") == NULL)
			json_object_set_new(obj, "dev_type", json_string(
				strcmp(d->file_driver, RT_FILE_DRIVER_BLOCK) == 0 ?
				"plain" : "file"));
		if (!json_is_object(json_object_get(obj, "params")))
			json_object_set_new(obj, "params", json_object());
		entry = json_pack("[o, s, n]", obj, d->path);
	}
	if (entry != NULL)
		set_fields(d, entry);
	return entry;
}

static const struct rt_device *device_of(const struct rt_file *f,
					 json_t *entry)
{
	for (size_t i = 0; i < f->ndev; i++)
		if (f->dev[i].source == entry)
			return &f->dev[i];
	return NULL;
}

/* The list of one kind: kept entries in their order, updated where the
 * tool manages them, removed devices left out, new ones at the end. */
static json_t *rebuild(const struct rt_file *f, bool hvinfo, json_t *old,
		       enum rt_kind kind)
{
	json_t *list = json_array(), *entry, *copy;
	size_t i;

	json_array_foreach(old, i, entry) {
		const struct rt_device *d = device_of(f, entry);
		if (d == NULL) {
			if (!manageable(entry, kind))
				json_array_append(list, entry);
			continue;	/* a removed device */
		}
		copy = json_deep_copy(entry);
		set_fields(d, copy);
		set_placement(hvinfo, d, entry_object(copy, kind));
		json_array_append_new(list, copy);
	}
	for (i = 0; i < f->ndev; i++) {
		const struct rt_device *d = &f->dev[i];
		if (d->kind != kind || d->source != NULL)
			continue;
		copy = new_entry(d);
		set_placement(hvinfo, d, entry_object(copy, kind));
		json_array_append_new(list, copy);
	}
	return list;
}

/* What Ganeti would refuse when it starts the VM from the file, added
 * in this run (what the file had, Ganeti wrote). */
static int startable(const struct rt_file *f, const char *path,
		     struct error *e)
{
	for (size_t i = 0; i < f->ndev; i++)
		if (f->dev[i].kind == RT_DISK && f->dev[i].source == NULL &&
		    strcmp(f->dev[i].mode, "rw") != 0)
			return error_set(e, KH_EUSAGE, "%s: Ganeti starts no VM "
					 "with a read-only disk (mode %s of disk %s)",
					 path != NULL ? path : "runtime file",
					 f->dev[i].mode, f->dev[i].uuid);
	return KH_OK;
}

/* f as one line of JSON: what the file had, with managed entries
 * updated, removed ones dropped and new ones appended. Always four
 * entries. */
static int ganeti_serialise(const struct rt_file *f, const void *data,
			    const char *path, char **out, size_t *len,
			    struct error *e)
{
	const struct ganeti_file *g = data;
	json_t *root = g != NULL ? g->root : NULL;
	json_t *disks = json_array_get(root, G_DISKS), *empty, *file;
	bool hvinfo = g != NULL && g->hvinfo;
	char *text;

	if (startable(f, path, e) != KH_OK)
		return e->code;
	empty = json_array();
	file = json_pack("[O, o, O, o]",
				 json_array_get(root, G_KVM_CMD),
				 rebuild(f, hvinfo, json_array_get(root, G_NICS), RT_NIC),
				 json_array_get(root, G_HVPARAMS),
				 rebuild(f, hvinfo, disks != NULL ? disks : empty, RT_DISK));
	text = file != NULL ? json_dumps(file, JSON_ENSURE_ASCII) : NULL;

	json_decref(file);
	json_decref(empty);
	if (text == NULL)
		return error_set(e, KH_EFAIL, "cannot format the Ganeti runtime file");
	*len = strlen(text);
	/* one line, ended like Ganeti's own */
	if ((*out = realloc(text, *len + 2)) == NULL) {
		free(text);
		return error_nomem(e);
	}
	memcpy(*out + (*len)++, "\n", 2);
	return KH_OK;
}

/* --- the nic files --- */

/* Writes tap into path unless it says that already: a temporary file
 * renamed over it, as Ganeti writes its own. */
static int write_nic_file(const char *path, const char *tap, struct error *e)
{
	char tmp[4200], now[IFNAMSIZ + 1];
	int fd;

	read_nic_file(path, now);
	if (strcmp(now, tap) == 0)
		return KH_OK;
	snprintf(tmp, sizeof(tmp), "%s.kh-tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		       0644)) == -1 ||
	    write(fd, tap, strlen(tap)) != (ssize_t)strlen(tap) ||
	    close(fd) == -1 || rename(tmp, path) == -1) {
		int err = errno;
		if (fd != -1)
			unlink(tmp);
		return error_set(e, KH_EFAIL, "%s: %s", path, strerror(err));
	}
	return KH_OK;
}

/* The nic file at path names tap, or there is none when the tap is not
 * known: a file that may name another NIC's tap would mislead. */
static int nic_file_is(const char *path, const char *tap, struct error *e)
{
	if (tap[0] != '\0')
		return write_nic_file(path, tap, e);
	if (unlink(path) == -1 && errno != ENOENT)
		return error_set(e, KH_EFAIL, "%s: %s", path, strerror(errno));
	return KH_OK;
}

/* After the file was replaced: Ganeti's nic files (DIR/nic/NAME/SEQ)
 * name each NIC's tap at its place in the new list, and none is left for
 * a place the list no longer has. */
static int commit_nic_files(const struct rt_file *f, const void *data,
			    const char *runtime, struct error *e)
{
	const struct ganeti_file *g = data;
	json_t *nics = json_array_get(g != NULL ? g->root : NULL, G_NICS);
	json_t *entry;
	char dir[4096], path[4200];
	size_t i, seq = 0;

	if (runtime == NULL || nic_file(runtime, -1, dir, sizeof(dir)) != 0)
		return KH_OK;
	/* DIR/nic, then DIR/nic/NAME, as Ganeti makes them at start */
	*strrchr(dir, '/') = '\0';
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		return error_set(e, KH_EFAIL, "%s: %s", dir, strerror(errno));
	dir[strlen(dir)] = '/';
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		return error_set(e, KH_EFAIL, "%s: %s", dir, strerror(errno));
	/* the NICs in the order the file now lists them (see rebuild) */
	json_array_foreach(nics, i, entry) {
		const struct rt_device *d = device_of(f, entry);
		if (d == NULL && manageable(entry, RT_NIC))
			continue;	/* removed */
		snprintf(path, sizeof(path), "%s/%zu", dir, seq++);
		if (nic_file_is(path, d != NULL ? d->tap : "", e) != KH_OK)
			return e->code;
	}
	for (i = 0; i < f->ndev; i++) {
		const struct rt_device *d = &f->dev[i];
		if (d->kind != RT_NIC || d->source != NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%zu", dir, seq++);
		if (nic_file_is(path, d->tap, e) != KH_OK)
			return e->code;
	}
	/* NICs that are gone leave no file behind them, as Ganeti's own
	 * hot-remove does */
	for (i = seq; i < json_array_size(nics); i++) {
		snprintf(path, sizeof(path), "%s/%zu", dir, i);
		if (nic_file_is(path, "", e) != KH_OK)
			return e->code;
	}
	return KH_OK;
}

/* --- the codec --- */

static void ganeti_free(void *data)
{
	struct ganeti_file *g = data;

	if (g != NULL)
		json_decref(g->root);
	free(g);
}

static enum rt_id_scheme ganeti_id_scheme(const void *data)
{
	const struct ganeti_file *g = data;

	return g != NULL && g->hvinfo ? RT_ID_UUID : RT_ID_SLOT;
}

const struct rt_codec ganeti_codec = {
	.format = RT_GANETI,
	.what = "Ganeti runtime",
	.records_unplugging = false,
	.records_vm = false,
	.disks_as_drives = true,
	/* under /run: gone with the boot, never in Ganeti's conf/ */
	.aside_dir = "/run/kvm-hotplug",
	.reserved_by = "as Ganeti reserves it",
	.only_bus = PCI_HOTPLUG_BUS,
	.only_bus_why = "Ganeti 3.0 knows pci.0 alone: its own hotplug fails "
			"on an instance with a device on another bus, and its "
			"hard reboot puts every device back on pci.0 (see "
			"kvm-hotplug(8), BUSES)",
	/* Ganeti's -drive finds out how to open a path itself, and a
	 * NIC's tap is in its nic file, written after the commit */
	.unrecorded = RT_FIELD_BIT(RT_FIELD_FILE_DRIVER) |
		      RT_FIELD_BIT(RT_FIELD_TAP),
	.recognise = ganeti_is_json,
	.parse = ganeti_parse,
	.serialise = ganeti_serialise,
	.free_data = ganeti_free,
	.device_defaults = device_defaults,
	.id_scheme = ganeti_id_scheme,
	.has_other_entry = has_other_entry,
	.commit_side_files = commit_nic_files,
};
