/* The model: devices, their fields, a file's contents, validators and
 * naming rules. See model.h. */
#include <sys/stat.h>

#include <ctype.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model.h"

#define DIGITS		"0123456789"

static const char *const kinds[] = { "disk", "nic", NULL };
static const char *const states[] = { "plugged", "unplugging", NULL };
const char *const rt_disk_formats[] = { "raw", "qcow2", NULL };
const char *const rt_disk_caches[] = {
	"default", "none", "writeback", "writethrough", "unsafe", NULL
};
const char *const rt_disk_modes[] = { "rw", "ro", NULL };
const char *const rt_disk_discards[] = { "ignore", "unmap", NULL };
const char *const rt_disk_file_drivers[] = {
	RT_FILE_DRIVER_FILE, RT_FILE_DRIVER_BLOCK, NULL
};
const char *const rt_nic_modes[] = { "bridged", "routed", "openvswitch", NULL };
const char *const rt_nic_vhosts[] = { "on", "off", NULL };
const char *const rt_added_bys[] = { "hand", NULL };
const char *const rt_fd_passes[] = { "auto", "always", "never", NULL };
const char *const rt_nic_roms[] = { "off", NULL };

/* --- validators --- */

bool rt_nonempty(const char *s)
{
	return *s != '\0';
}

bool rt_absolute(const char *s)
{
	return s[0] == '/';
}

bool uuid_is_valid(const char *uuid)
{
	static const int group_len[] = { 8, 4, 4, 4, 12 };
	const char *p = uuid;

	for (size_t g = 0; g < sizeof(group_len) / sizeof(group_len[0]); g++) {
		for (int i = 0; i < group_len[g]; i++, p++)
			if (!isxdigit((unsigned char)*p))
				return false;
		if (g < 4 && *p++ != '-')
			return false;
	}
	return *p == '\0';
}

bool qemu_id_is_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > RT_ID_MAX || !isalpha((unsigned char)id[0]))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];
		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

bool bus_is_valid(const char *s)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ" DIGITS "._-";

	return *s != '\0' && s[strspn(s, ok)] == '\0';
}

bool mac_is_valid(const char *mac)
{
	if (strlen(mac) != 17)
		return false;
	for (size_t i = 0; i < 17; i++)
		if (i % 3 == 2 ? mac[i] != ':' :
		    !isxdigit((unsigned char)mac[i]))
			return false;
	/* The lowest bit of the first octet marks a group (multicast)
	 * address: its second digit must be even. */
	return strspn(mac, "0:") != 17 && strchr("02468aAcCeE", mac[1]);
}

bool tap_name_is_valid(const char *name)
{
	size_t n = strlen(name);

	/* '-' first would read as an option to ip(8) and to scripts */
	if (n == 0 || n >= IFNAMSIZ || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0 || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		/* unsigned, so that bytes above 0x7f are refused on every
		 * ABI, not only where char is signed */
		unsigned char c = name[i];

		/* '%' would be a pattern to the kernel: "kh%d" makes "kh0" */
		if (c == '/' || c == ':' || c == '%' || c <= ' ' || c >= 0x7f)
			return false;
	}
	return true;
}

int rt_word_index(const char *const *words, const char *s)
{
	for (int i = 0; words[i] != NULL; i++)
		if (strcmp(words[i], s) == 0)
			return i;
	return -1;
}

/* --- the fields --- */

#define AT(m)	.off = offsetof(struct rt_device, m), \
		.size = sizeof(((struct rt_device *)0)->m)

const struct rt_field rt_fields[RT_NFIELDS] = {
	[RT_FIELD_KIND] = { .name = "kind", .type = RT_T_KIND, .words = kinds },
	[RT_FIELD_UUID] = { .name = "uuid", .type = RT_T_CHARS,
	  .flags = RT_LOWER, AT(uuid), .valid = uuid_is_valid },
	[RT_FIELD_ID] = { .name = "id", .type = RT_T_CHARS, AT(id),
	  .valid = qemu_id_is_valid },
	[RT_FIELD_BUS] = { .name = "bus", .type = RT_T_CHARS, AT(bus),
	  .valid = bus_is_valid },
	[RT_FIELD_SLOT] = { .name = "slot", .type = RT_T_INT, AT(slot),
	  .min = 0, .max = PCI_SLOTS - 1 },
	[RT_FIELD_DRIVER] = { .name = "driver", .type = RT_T_CHARS,
	  AT(driver), .valid = rt_nonempty },
	[RT_FIELD_NAME] = { .name = "name", .type = RT_T_STRING, AT(name) },
	[RT_FIELD_STATE] = { .name = "state", .type = RT_T_STATE,
	  .words = states },
	[RT_FIELD_PATH] = { .name = "path", .type = RT_T_STRING,
	  .flags = RT_FOR_DISK, AT(path), .valid = rt_absolute,
	  .rule = "an absolute path" },
	[RT_FIELD_FORMAT] = { .name = "format", .type = RT_T_CHARS,
	  .flags = RT_FOR_DISK, AT(format), .words = rt_disk_formats },
	[RT_FIELD_CACHE] = { .name = "cache", .type = RT_T_CHARS,
	  .flags = RT_FOR_DISK, AT(cache), .words = rt_disk_caches },
	[RT_FIELD_MODE] = { .name = "mode", .type = RT_T_CHARS,
	  .flags = RT_FOR_DISK, AT(mode), .words = rt_disk_modes },
	[RT_FIELD_DISCARD] = { .name = "discard", .type = RT_T_CHARS,
	  .flags = RT_FOR_DISK, AT(discard), .words = rt_disk_discards },
	/* how QEMU opened the path, which the path may not tell later (a
	 * symlink to a block device that is gone) */
	[RT_FIELD_FILE_DRIVER] = { .name = "file-driver", .type = RT_T_CHARS,
	  .flags = RT_FOR_DISK, AT(file_driver),
	  .words = rt_disk_file_drivers },
	[RT_FIELD_MAC] = { .name = "mac", .type = RT_T_CHARS,
	  .flags = RT_FOR_NIC | RT_LOWER, AT(mac), .valid = mac_is_valid },
	[RT_FIELD_NIC_MODE] = { .name = "mode", .type = RT_T_CHARS,
	  .flags = RT_FOR_NIC, AT(nic_mode), .words = rt_nic_modes },
	[RT_FIELD_LINK] = { .name = "link", .type = RT_T_STRING,
	  .flags = RT_FOR_NIC, AT(link), .valid = rt_nonempty },
	[RT_FIELD_TAP] = { .name = "tap", .type = RT_T_CHARS,
	  .flags = RT_FOR_NIC, AT(tap), .valid = tap_name_is_valid },
	[RT_FIELD_QUEUES] = { .name = "queues", .type = RT_T_INT,
	  .flags = RT_FOR_NIC, AT(queues), .min = 1, .max = TAP_MAX_QUEUES },
	[RT_FIELD_VHOST] = { .name = "vhost", .type = RT_T_CHARS,
	  .flags = RT_FOR_NIC, AT(vhost), .words = rt_nic_vhosts },
	[RT_FIELD_SCRIPT] = { .name = "script", .type = RT_T_STRING,
	  .flags = RT_FOR_NIC, AT(script), .valid = rt_nonempty },
	/* a chrooted QEMU cannot load a ROM file; a target must have the
	 * same (no) ROM for the migration to load */
	[RT_FIELD_ROM] = { .name = "rom", .type = RT_T_CHARS,
	  .flags = RT_FOR_NIC, AT(rom), .words = rt_nic_roms },
	[RT_FIELD_ADDED_BY] = { .name = "added-by", .type = RT_T_CHARS,
	  AT(added_by), .words = rt_added_bys },
};

bool rt_field_applies(const struct rt_field *f, enum rt_kind kind)
{
	if (f->flags & RT_FOR_DISK)
		return kind == RT_DISK;
	return !(f->flags & RT_FOR_NIC) || kind == RT_NIC;
}

const char *rt_field_text(const struct rt_device *d, const struct rt_field *f,
			  char *num, size_t size)
{
	const char *at = (const char *)d + f->off;

	switch (f->type) {
	case RT_T_KIND:
		return rt_kind_name(d->kind);
	case RT_T_STATE:
		return d->state == RT_PLUGGED ? NULL : states[d->state];
	case RT_T_INT:
		snprintf(num, size, "%d", *(const int *)at);
		return num;
	case RT_T_CHARS:
		return *at != '\0' ? at : NULL;	/* an optional one unset */
	default:
		return *(char *const *)at;
	}
}

bool rt_field_same(const struct rt_device *a, const struct rt_device *b,
		   const struct rt_field *f)
{
	char x[16], y[16];
	const char *p = rt_field_text(a, f, x, sizeof(x));
	const char *q = rt_field_text(b, f, y, sizeof(y));

	return (p == NULL) == (q == NULL) && (p == NULL || strcmp(p, q) == 0);
}

bool rt_device_same(const struct rt_device *a, const struct rt_device *b)
{
	if (a->kind != b->kind)
		return false;
	for (size_t k = 0; k < RT_NFIELDS; k++)
		if (rt_field_applies(&rt_fields[k], a->kind) &&
		    !rt_field_same(a, b, &rt_fields[k]))
			return false;
	return true;
}

/* --- a device --- */

const char *rt_kind_name(enum rt_kind k)
{
	return kinds[k];
}

void rt_copy_lower(char *out, size_t size, const char *in)
{
	size_t i;

	for (i = 0; i + 1 < size && in[i] != '\0'; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[i] = '\0';
}

void rt_device_release(struct rt_device *d)
{
	free(d->name);
	free(d->path);
	free(d->link);
	free(d->script);
	json_decref(d->extra);
	d->name = d->path = d->link = d->script = NULL;
	d->extra = NULL;
}

int rt_device_copy(struct rt_device *dst, const struct rt_device *src,
		   struct error *e)
{
	char *const *from[] = { &src->name, &src->path, &src->link, &src->script };
	char **to[] = { &dst->name, &dst->path, &dst->link, &dst->script };

	*dst = *src;
	json_incref(dst->extra);
	for (size_t i = 0; i < sizeof(to) / sizeof(to[0]); i++)
		*to[i] = NULL;
	for (size_t i = 0; i < sizeof(to) / sizeof(to[0]); i++)
		if (*from[i] != NULL && (*to[i] = strdup(*from[i])) == NULL) {
			rt_device_release(dst);
			return error_nomem(e);
		}
	return KH_OK;
}

void rt_device_take_entry(struct rt_device *c, const struct rt_device *t,
			  bool was_there)
{
	if (t != NULL) {
		c->source = t->source;
	} else if (was_there) {
		c->source = NULL;
	}
}

/* --- a file's contents --- */

void rt_file_init(struct rt_file *f)
{
	memset(f, 0, sizeof(*f));
	f->reserved = RT_RESERVED;
}

void rt_file_clear(struct rt_file *f)
{
	while (f->ndev > 0)
		rt_file_remove_device(f, f->ndev - 1);
	free(f->dev);
	free(f->buses);
	free(f->vm_name);
	rt_file_init(f);
}

struct rt_device *rt_file_add_device(struct rt_file *f, struct error *e)
{
	struct rt_device *d;

	if (f->ndev == f->capdev) {
		size_t cap = f->capdev ? f->capdev * 2 : 4;

		if ((d = reallocarray(f->dev, cap, sizeof(*d))) == NULL) {
			error_nomem(e);
			return NULL;
		}
		f->dev = d;
		f->capdev = cap;
	}
	d = &f->dev[f->ndev++];
	memset(d, 0, sizeof(*d));
	d->slot = -1;
	return d;
}

void rt_file_remove_device(struct rt_file *f, size_t i)
{
	if (i >= f->ndev)
		return;
	rt_device_release(&f->dev[i]);
	memmove(&f->dev[i], &f->dev[i + 1],
		(f->ndev - i - 1) * sizeof(f->dev[0]));
	f->ndev--;
}

struct rt_device *rt_file_find_uuid(struct rt_file *f, const char *uuid)
{
	for (size_t i = 0; i < f->ndev; i++)
		if (strcasecmp(f->dev[i].uuid, uuid) == 0)
			return &f->dev[i];
	return NULL;
}

struct rt_device *rt_file_find_id(struct rt_file *f, const char *id)
{
	for (size_t i = 0; i < f->ndev; i++)
		if (strcmp(f->dev[i].id, id) == 0)
			return &f->dev[i];
	return NULL;
}

int rt_file_add_bus(struct rt_file *f, const char *name, uint32_t reserved,
		    struct error *e)
{
	struct rt_bus *b = reallocarray(f->buses, f->nbuses + 1, sizeof(*b));

	if (b == NULL)
		return error_nomem(e);
	f->buses = b;
	b = &f->buses[f->nbuses++];
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->reserved = reserved;
	return KH_OK;
}

uint32_t rt_file_reserved(const struct rt_file *f, const char *bus)
{
	if (strcmp(bus, PCI_HOTPLUG_BUS) == 0)
		return f->reserved;
	for (size_t i = 0; i < f->nbuses; i++)
		if (strcmp(f->buses[i].name, bus) == 0)
			return f->buses[i].reserved;
	return 0;
}

uint32_t rt_file_used_slots(const struct rt_file *f, const char *bus)
{
	uint32_t used = rt_file_reserved(f, bus);

	for (size_t i = 0; i < f->ndev; i++) {
		const struct rt_device *d = &f->dev[i];

		if (strcmp(d->bus, bus) == 0 && d->slot >= 0 &&
		    d->slot < PCI_SLOTS)
			used |= UINT32_C(1) << d->slot;
	}
	return used;
}

/* --- naming rules --- */

/* "b" and 8 hex digits: what pci_device_id writes for a bus whose name
 * does not fit, and so a name it never writes as it is. */
static bool bus_name_is_hashlike(const char *bus)
{
	return bus[0] == 'b' && strlen(bus) == 9 &&
	       strspn(bus + 1, "0123456789abcdef") == 8;
}

uint32_t rt_bus_hash(const char *bus)
{
	uint32_t h = 0x811c9dc5u;	/* FNV-1a */

	for (const char *p = bus; *p != '\0'; p++) {
		h ^= (unsigned char)*p;
		h *= 0x01000193u;
	}
	return h;
}

/* The bus as an id names it (see pci_device_id). */
static void bus_in_id(const char *kind, const char *bus, int slot,
		      char *out, size_t size)
{
	/* "hot" kind "-" uuid8 "-" bus "-" slot */
	size_t fixed = 3 + strlen(kind) + 1 + 8 + 1 + 1 + (slot > 9 ? 2 : 1);

	if (strcmp(bus, PCI_HOTPLUG_BUS) == 0) {
		snprintf(out, size, "pci");
		return;
	}
	if (strcmp(bus, "pci") != 0 && !bus_name_is_hashlike(bus) &&
	    fixed + strlen(bus) <= RT_ID_MAX && strlen(bus) < size) {
		snprintf(out, size, "%s", bus);
		return;
	}
	snprintf(out, size, "b%08" PRIx32, rt_bus_hash(bus));
}

int pci_device_id(char *out, size_t size, const char *kind, const char *uuid,
		  const char *bus, int slot, struct error *e)
{
	char b[RT_BUS_MAX];
	int n;

	if (!uuid_is_valid(uuid))
		return error_set(e, KH_EUSAGE, "invalid uuid '%s'", uuid);
	bus_in_id(kind, bus, slot, b, sizeof(b));
	n = snprintf(out, size, "hot%s-%.8s-%s-%d", kind, uuid, b, slot);
	if (n < 0 || (size_t)n >= size || !qemu_id_is_valid(out))
		return error_set(e, KH_EUSAGE,
				 "cannot make a valid QEMU id for %s %s", kind,
				 uuid);
	return KH_OK;
}

int rt_device_id(enum rt_id_scheme scheme, enum rt_kind kind,
		 const char *uuid, const char *bus, int slot, char *out,
		 size_t size, struct error *e)
{
	int n;

	if (scheme == RT_ID_SLOT)
		return pci_device_id(out, size, rt_kind_name(kind), uuid, bus,
				     slot, e);
	if (!uuid_is_valid(uuid))
		return error_set(e, KH_EUSAGE, "invalid uuid '%s'", uuid);
	/* "disk-003fc157-66a8-4e6d", as Ganeti names them */
	n = snprintf(out, size, "%s-%.18s", rt_kind_name(kind), uuid);
	if (n < 0 || (size_t)n >= size)
		return error_set(e, KH_EUSAGE,
				 "cannot make a valid QEMU id for %s %s",
				 rt_kind_name(kind), uuid);
	return KH_OK;
}

bool tap_name_is_kernels(const char *name)
{
	return strncmp(name, "tap", 3) == 0 && name[3] != '\0' &&
	       strspn(name + 3, DIGITS) == strlen(name + 3);
}

void tap_name_for_uuid(const char *uuid, char *out, size_t size)
{
	uint64_t h = 0xcbf29ce484222325u;	/* FNV-1a */

	for (; *uuid != '\0'; uuid++)
		if (*uuid != '-') {
			h ^= (unsigned char)tolower((unsigned char)*uuid);
			h *= 0x100000001b3u;
		}
	/* 13 of its 16 hex digits: "kh" and them fill IFNAMSIZ */
	snprintf(out, size, "kh%013" PRIx64, h >> 12);
}

const char *rt_driver_name(enum rt_kind kind)
{
	return kind == RT_DISK ? RT_DRIVER_DISK : RT_DRIVER_NIC;
}

const char *rt_file_driver(mode_t mode)
{
	if (S_ISREG(mode))
		return RT_FILE_DRIVER_FILE;
	return S_ISBLK(mode) ? RT_FILE_DRIVER_BLOCK : NULL;
}
