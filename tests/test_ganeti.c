/* Tests for Ganeti's runtime file (ganeti.c), read and written through
 * runtime.c as the tool does. */
#include <sys/stat.h>

#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "../ganeti.h"
#include "../runtime.h"
#include "check_run.h"

#define N(a)	(sizeof(a) / sizeof((a)[0]))

#define U1	"003fc157-66a8-4e6d-8b7e-ec4f69751396"
#define U1_UP	"003FC157-66A8-4E6D-8B7E-EC4F69751396"
#define U2	"113fc157-66a8-4e6d-8b7e-ec4f69751396"
#define U3	"223fc157-66a8-4e6d-8b7e-ec4f69751396"
#define U4	"443fc157-66a8-4e6d-8b7e-ec4f69751396"
#define U5	"553fc157-66a8-4e6d-8b7e-ec4f69751396"
#define U6	"663fc157-66a8-4e6d-8b7e-ec4f69751396"
#define U7	"773fc157-66a8-4e6d-8b7e-ec4f69751396"
#define U8	"883fc157-66a8-4e6d-8b7e-ec4f69751396"

/*
 * The JSON below is written with ' where the file has " (and \' where it
 * has \"), so that it stays readable; json() swaps the two. Everything
 * else is byte for byte what json_dumps(JSON_ENSURE_ASCII) prints: ", "
 * and ": " between items, "\u00E9" for non-ASCII, one line.
 */
#define FILE3(cmd, nics, hv)	   "[" cmd ", [" nics "], " hv "]\n"
#define FILE4(cmd, nics, hv, disks) "[" cmd ", [" nics "], " hv ", [" disks "]]\n"

/* A newer file: placement as hvinfo. */
#define N_CMD	"['/usr/bin/kvm', '-name', 'vm1', '-m', 1024, '-smp', 2, '-S']"
/* managed: upper-case uuid and mac, unknown keys, nested values */
#define N_NIC_A	"{'mac': 'AA:00:00:3E:5F:01', 'ip': null, "			\
	"'nicparams': {'mode': 'bridged', 'link': 'br0', 'vlan': ''}, "	\
	"'netinfo': null, 'name': 'eth \\'0\\' \\u00E9t\\u00E9', "		\
	"'uuid': '" U1_UP "', 'hvinfo': {'driver': 'virtio-net-pci', "		\
	"'id': 'nic-003fc157-66a8-4e6d', 'bus': 'pci.0', 'addr': '0xc'}, "	\
	"'x-extra': {'nested': {'list': [1, 1.5, null, true, false]}, "	\
	"'big': 12345678901234}}"
/* not managed: no uuid */
#define N_NIC_B	"{'mac': 'aa:00:00:3e:5f:02', "				\
	"'nicparams': {'mode': 'routed', 'link': '100'}, "			\
	"'hvinfo': {'driver': 'virtio-net-pci', 'id': 'nic-manual', "		\
	"'bus': 'pci.0', 'addr': '0xd'}}"
/* not managed: no placement */
#define N_NIC_C	"{'mac': 'aa:00:00:3e:5f:03', "				\
	"'nicparams': {'mode': 'openvswitch', 'link': 'sw0'}, 'uuid': '" U3 "'}"
#define N_NIC_D	"{'mac': 'aa:00:00:3e:5f:04', "				\
	"'nicparams': {'mode': 'routed', 'link': 'rt1'}, 'uuid': '" U4 "', "	\
	"'hvinfo': {'driver': 'virtio-net-pci', 'id': 'nic-443fc157-66a8-4e6d', " \
	"'bus': 'pci.0', 'addr': '0x1f'}}"
#define N_HV	"{'kvm_pci_reservations': 12, 'virtio_net_queues': 4, "	\
	"'vhost_net': true, 'disk_cache': 'writeback', 'disk_discard': 'unmap', " \
	"'boot_order': 'disk', 'mem_path': null, 'cpu_ratio': 1.5, "		\
	"'big': 12345678901234, 'usb': {'list': [true, false, null], 'none': {}}}"
#define N_DISK_E "[{'dev_type': 'drbd', "					\
	"'logical_id': ['node1', 'node2', 11000, 0, 0, 'secret'], "		\
	"'size': 10240, 'mode': 'ro', 'name': 'data', 'uuid': '" U5 "', "	\
	"'params': {}, 'hvinfo': {'driver': 'virtio-blk-pci', "		\
	"'id': 'disk-553fc157-66a8-4e6d', 'bus': 'pci.0', 'addr': '0x5'}}, "	\
	"'/var/run/ganeti/instance-disks/vm1:1', null]"
/* not managed (no uuid), so its relative path is no concern of ours */
#define N_DISK_G "[{'size': 512, 'mode': 'rw', "				\
	"'hvinfo': {'driver': 'virtio-blk-pci', 'id': 'disk-manual', "		\
	"'bus': 'pci.0', 'addr': '0x7'}}, 'not/absolute', null]"
#define N_DISK_F "[{'uuid': '" U6 "', 'mode': 'rw', "				\
	"'hvinfo': {'driver': 'virtio-blk-pci', 'id': 'disk-663fc157-66a8-4e6d', " \
	"'bus': 'pci.0', 'addr': '0x6'}}, '/dev/xenvg/disk2', 'rbd:pool/disk2']"
#define N_NICS	N_NIC_A ", " N_NIC_B ", " N_NIC_C ", " N_NIC_D
#define N_DISKS	N_DISK_E ", " N_DISK_G ", " N_DISK_F

/* An older file: placement as "pci". */
#define O_CMD	"['kvm', '-m', 512, '-name', 'vm2']"
#define O_NIC_P	"{'mac': '52:54:00:AB:CD:EF', 'ip': '192.0.2.10', "		\
	"'nicparams': {'mode': 'routed', 'link': '100'}, 'uuid': '" U1 "', "	\
	"'pci': 5, 'name': null}"
/* not managed: not a uuid, no uuid */
#define O_NIC_Q	"{'mac': '52:54:00:00:00:01', 'uuid': 'eth1', 'pci': 7}"
#define O_NIC_R	"{'mac': '52:54:00:00:00:02', 'nicparams': {}, 'pci': 8}"
#define O_HV	"{'vhost_net': false, 'virtio_net_queues': 1, "		\
	"'disk_cache': 'none', 'security_model': 'none', 'kvm_extra': ''}"
#define O_DISK_S "[{'uuid': '" U2 "', 'mode': 'rw', 'pci': 6, "		\
	"'iv_name': 'disk/0', 'size': 1.5}, '/dev/drbd1', null]"
#define O_NICS	O_NIC_P ", " O_NIC_Q ", " O_NIC_R

/* The oldest: three entries, no disks. */
#define T_CMD	"['kvm', -1, 0]"
#define T_NIC	"{'mac': '52:54:00:12:34:56', "				\
	"'nicparams': {'mode': 'bridged', 'link': 'br0'}, 'uuid': '" U3 "', "	\
	"'pci': 9}"
#define T_HV	"{'kvm_pci_reservations': 6}"

/* Devices added to them, as Ganeti would have written them. */
#define NEW_NIC_HV "{'mac': '52:54:00:12:34:56', "				\
	"'nicparams': {'mode': 'bridged', 'link': 'br9'}, 'uuid': '" U7 "', "	\
	"'name': 'caf\\u00E9', 'hvinfo': {'driver': 'virtio-net-pci', "	\
	"'id': 'nic-773fc157-66a8-4e6d', 'bus': 'pci.0', 'addr': '0x10'}}"
#define NEW_DISK_HV "[{'dev_type': 'file', 'params': {}, 'uuid': '" U8 "', 'mode': 'rw', "	\
	"'hvinfo': {'driver': 'virtio-blk-pci', 'id': 'disk-883fc157-66a8-4e6d', " \
	"'bus': 'pci.0', 'addr': '0x11'}}, '/dev/vg/new disk', null]"
#define NEW_NIC_PCI "{'mac': '52:54:00:12:34:56', "			\
	"'nicparams': {'mode': 'routed'}, 'uuid': '" U7 "', 'pci': 16}"
#define NEW_DISK_PCI "[{'dev_type': 'file', 'params': {}, 'uuid': '" U8 "', " \
	"'name': 'scratch', " \
	"'mode': 'rw', " \
	"'pci': 17}, '/dev/vg/scratch', null]"

/* A device as the tests expect it read, or as they add it. Bus is pci.0,
 * the driver virtio-*-pci, the tap kh<uuid group 1>, a disk's format raw. */
struct want {
	enum rt_kind kind;
	const char *uuid, *id;
	int slot;
	const char *name;
	/* nic */
	const char *mac, *nic_mode, *link;
	int queues;
	const char *vhost;
	/* disk */
	const char *path, *mode, *cache, *discard;
};

#define NIC(uuid, id, slot, name, mac, mode, link, queues, vhost)	\
	{ RT_NIC, uuid, id, slot, name, mac, mode, link, queues, vhost,	\
	  NULL, NULL, NULL, NULL }
#define DISK(uuid, id, slot, name, path, mode, cache, discard)		\
	{ RT_DISK, uuid, id, slot, name, NULL, NULL, NULL, 0, NULL,	\
	  path, mode, cache, discard }

/* A sample file: what it holds, how it is written back, and what it
 * becomes with add[] added. */
struct sample {
	const char *what;
	const char *text, *written;
	const struct want *dev;
	size_t ndev;
	uint32_t reserved;
	bool hvinfo;
	struct want add[2];
	const char *added;
};

static const struct want newer_devs[] = {
	NIC(U1, "nic-003fc157-66a8-4e6d", 12, "eth \"0\" \xc3\xa9t\xc3\xa9",
	    "aa:00:00:3e:5f:01", "bridged", "br0", 4, "on"),
	NIC(U4, "nic-443fc157-66a8-4e6d", 31, NULL, "aa:00:00:3e:5f:04",
	    "routed", "rt1", 4, "on"),
	DISK(U5, "disk-553fc157-66a8-4e6d", 5, "data",
	     "/var/run/ganeti/instance-disks/vm1:1", "ro", "writeback", "unmap"),
	DISK(U6, "disk-663fc157-66a8-4e6d", 6, NULL, "/dev/xenvg/disk2", "rw",
	     "writeback", "unmap"),
};

static const struct want older_devs[] = {
	NIC(U1, "hotnic-003fc157-pci-5", 5, NULL, "52:54:00:ab:cd:ef",
	    "routed", "100", 1, "off"),
	DISK(U2, "hotdisk-113fc157-pci-6", 6, NULL, "/dev/drbd1", "rw", "none",
	     "ignore"),
};

static const struct want oldest_devs[] = {
	NIC(U3, "hotnic-223fc157-pci-9", 9, NULL, "52:54:00:12:34:56",
	    "bridged", "br0", 1, "off"),
};

static const struct sample samples[] = {
	{ "newer", FILE4(N_CMD, N_NICS, N_HV, N_DISKS),
	  FILE4(N_CMD, N_NICS, N_HV, N_DISKS), newer_devs, N(newer_devs),
	  0xfff, true,
	  { NIC(U7, "nic-773fc157-66a8-4e6d", 16, "caf\xc3\xa9",
		"52:54:00:12:34:56", "bridged", "br9", 4, "on"),
	    DISK(U8, "disk-883fc157-66a8-4e6d", 17, NULL, "/dev/vg/new disk",
		 "rw", "writeback", "unmap") },
	  FILE4(N_CMD, N_NICS ", " NEW_NIC_HV, N_HV, N_DISKS ", " NEW_DISK_HV) },
	{ "older", FILE4(O_CMD, O_NICS, O_HV, O_DISK_S),
	  FILE4(O_CMD, O_NICS, O_HV, O_DISK_S), older_devs, N(older_devs),
	  0xf, false,
	  { NIC(U7, "hotnic-773fc157-pci-16", 16, NULL, "52:54:00:12:34:56",
		"routed", NULL, 1, "off"),
	    DISK(U8, "hotdisk-883fc157-pci-17", 17, "scratch",
		 "/dev/vg/scratch", "rw", "none", "ignore") },
	  FILE4(O_CMD, O_NICS ", " NEW_NIC_PCI, O_HV, O_DISK_S ", " NEW_DISK_PCI) },
	{ "oldest", FILE3(T_CMD, T_NIC, T_HV), FILE4(T_CMD, T_NIC, T_HV, ""),
	  oldest_devs, N(oldest_devs), 0x3f, false,
	  { NIC(U7, "hotnic-773fc157-pci-16", 16, NULL, "52:54:00:12:34:56",
		"routed", NULL, 1, "off"),
	    DISK(U8, "hotdisk-883fc157-pci-17", 17, "scratch",
		 "/dev/vg/scratch", "rw", "default", "ignore") },
	  FILE4(T_CMD, T_NIC ", " NEW_NIC_PCI, T_HV, NEW_DISK_PCI) },
};

/* --- helpers --- */

/* The file that sq stands for: ' and " swapped (malloc'd). */
static char *json(const char *sq)
{
	char *s = strdup(sq);

	ck_assert_ptr_nonnull(s);
	for (char *p = s; *p != '\0'; p++)
		*p = *p == '\'' ? '"' : *p == '"' ? '\'' : *p;
	return s;
}

static int parse(struct runtime *rt, const char *sq, struct error *e)
{
	char *text = json(sq);
	int rc;

	runtime_init(rt);
	rc = runtime_parse(rt, "g.runtime", text, strlen(text), e);
	free(text);
	return rc;
}

/* What the Ganeti codec keeps of the file rt holds. */
static const struct ganeti_file *ganeti(const struct runtime *rt)
{
	ck_assert_int_eq(rt->format, RT_GANETI);
	ck_assert_ptr_nonnull(rt->codec_data);
	return rt->codec_data;
}

/* Whether its devices are placed with hvinfo (newer) or pci. */
static bool hvinfo(const struct runtime *rt)
{
	return ganeti(rt)->hvinfo;
}

static void parse_ok(struct runtime *rt, const char *sq)
{
	struct error e = { 0 };

	ck_assert_msg(parse(rt, sq, &e) == KH_OK, "parse failed: %s", e.msg);
	ck_assert_int_eq(rt->format, RT_GANETI);
}

/* got is want; if not, where they part (whole files would be more than
 * check can report). */
static void text_is(const char *got, const char *want)
{
	size_t at = 0;

	while (got[at] != '\0' && got[at] == want[at])
		at++;
	ck_assert_msg(got[at] == want[at], "at byte %zu: got '%.60s', want '%.60s'",
		      at, got + at, want + at);
}

/* rt is written as sq says. */
static void format_is(const struct runtime *rt, const char *sq)
{
	struct error e = { 0 };
	char *want = json(sq), *out;
	size_t len;

	ck_assert_msg(runtime_format(rt, &out, &len, &e) == KH_OK, "%s", e.msg);
	ck_assert_uint_eq(strlen(out), len);
	text_is(out, want);
	free(out);
	free(want);
}

static void str_eq_or_null(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		ck_assert_ptr_eq(a, b);
	else
		ck_assert_str_eq(a, b);
}

static void expect_device(const struct rt_device *d, const struct want *w)
{
	bool nic = w->kind == RT_NIC;
	char tap[16];

	snprintf(tap, sizeof(tap), "kh%.8s", w->uuid);
	ck_assert_int_eq(d->kind, w->kind);
	ck_assert_int_eq(d->state, RT_PLUGGED);
	ck_assert_str_eq(d->uuid, w->uuid);
	ck_assert_str_eq(d->id, w->id);
	ck_assert_str_eq(d->bus, "pci.0");
	ck_assert_int_eq(d->slot, w->slot);
	ck_assert_str_eq(d->driver, nic ? "virtio-net-pci" : "virtio-blk-pci");
	str_eq_or_null(d->name, w->name);
	ck_assert_ptr_null(d->script);
	if (nic) {
		ck_assert_str_eq(d->mac, w->mac);
		ck_assert_str_eq(d->nic_mode, w->nic_mode);
		str_eq_or_null(d->link, w->link);
		(void)tap;	/* no nic file beside a text in memory */
		ck_assert_str_eq(d->tap, "");
		ck_assert_int_eq(d->queues, w->queues);
		ck_assert_str_eq(d->vhost, w->vhost);
		ck_assert_ptr_null(d->path);
	} else {
		ck_assert_str_eq(d->path, w->path);
		ck_assert_str_eq(d->format, "raw");
		ck_assert_str_eq(d->mode, w->mode);
		ck_assert_str_eq(d->cache, w->cache);
		ck_assert_str_eq(d->discard, w->discard);
		ck_assert_ptr_null(d->link);
	}
}

static void expect_devices(const struct runtime *rt, const struct want *w,
			   size_t n)
{
	ck_assert_uint_eq(rt->ndev, n);
	for (size_t i = 0; i < n; i++)
		expect_device(&rt->dev[i], &w[i]);
}

static char *dup_or_null(const char *s)
{
	char *d = s != NULL ? strdup(s) : NULL;

	ck_assert(s == NULL || d != NULL);
	return d;
}

/* w added to rt and filled in as hotplug.c's fill_device() and
 * nic_host_up() do; its id is the one runtime_device_id() gives. */
static struct rt_device *add_device(struct runtime *rt, const struct want *w)
{
	struct error e = { 0 };
	struct rt_device *d = runtime_add_device(rt, &e);

	ck_assert_ptr_nonnull(d);
	d->kind = w->kind;
	d->state = RT_PLUGGED;
	d->slot = w->slot;
	snprintf(d->uuid, sizeof(d->uuid), "%s", w->uuid);
	snprintf(d->bus, sizeof(d->bus), "pci.0");
	ck_assert_msg(runtime_device_id(rt, d->kind, d->uuid, d->bus, d->slot, d->id,
					sizeof(d->id), &e) == KH_OK, "%s", e.msg);
	ck_assert_str_eq(d->id, w->id);
	d->name = dup_or_null(w->name);
	if (w->kind == RT_NIC) {
		snprintf(d->driver, sizeof(d->driver), "virtio-net-pci");
		snprintf(d->mac, sizeof(d->mac), "%s", w->mac);
		snprintf(d->nic_mode, sizeof(d->nic_mode), "%s", w->nic_mode);
		d->queues = w->queues;
		d->link = dup_or_null(w->link);
		snprintf(d->tap, sizeof(d->tap), "kh%.8s", d->uuid);
		snprintf(d->vhost, sizeof(d->vhost), "%s", w->vhost);
	} else {
		snprintf(d->driver, sizeof(d->driver), "virtio-blk-pci");
		snprintf(d->format, sizeof(d->format), "raw");
		snprintf(d->cache, sizeof(d->cache), "%s", w->cache);
		snprintf(d->mode, sizeof(d->mode), "%s", w->mode);
		snprintf(d->discard, sizeof(d->discard), "%s", w->discard);
		d->path = dup_or_null(w->path);
	}
	return d;
}

static void remove_uuid(struct runtime *rt, const char *uuid)
{
	struct rt_device *d = runtime_find_uuid(rt, uuid);

	ck_assert_ptr_nonnull(d);
	runtime_remove_device(rt, (size_t)(d - rt->dev));
}

/* --- reading and writing in memory --- */

START_TEST(test_round_trip)
{
	const struct sample *s = &samples[_i];
	struct runtime rt;

	parse_ok(&rt, s->text);
	format_is(&rt, s->written);
	runtime_close(&rt);
	/* and what was written reads and writes the same again */
	parse_ok(&rt, s->written);
	expect_devices(&rt, s->dev, s->ndev);
	format_is(&rt, s->written);
	runtime_close(&rt);
}
END_TEST

START_TEST(test_read)
{
	const struct sample *s = &samples[_i];
	struct runtime rt;

	parse_ok(&rt, s->text);
	expect_devices(&rt, s->dev, s->ndev);
	ck_assert_uint_eq(rt.reserved, s->reserved);
	ck_assert_int_eq(hvinfo(&rt), s->hvinfo);
	runtime_close(&rt);
}
END_TEST

/* Style and reserved slots, from small files. */
static const struct {
	const char *text;
	uint32_t reserved;
	bool hvinfo;
} styles[] = {
	{ "[[], [], {}, []]", 0xfff, true },
	{ "[[], [], {}]", 0xf, false },
	{ "\n [[], [], {}]\n", 0xf, false },
	{ "[[], [], {'kvm_pci_reservations': 5}, []]", 0x1f, true },
	{ "[[], [], {'kvm_pci_reservations': 0}]", 0, false },
	{ "[[], [], {'kvm_pci_reservations': 32}, []]", UINT32_MAX, true },
	/* any pci entry, managed or not, makes an older file */
	{ "[[], [{'mac': '52:54:00:00:00:01', 'pci': 8}], {}, []]", 0xf, false },
	{ "[[], [], {}, [[{'pci': 8}, '/d', null]]]", 0xf, false },
	/* any hvinfo entry a newer one, three entries or four */
	{ "[[], [{'hvinfo': {}}], {}]", 0xfff, true },
	{ "[[], [], {'kvm_pci_reservations': 2}, [[{'hvinfo': {}}, 'd', null]]]",
	  0x3, true },
};

START_TEST(test_style)
{
	struct runtime rt;

	parse_ok(&rt, styles[_i].text);
	ck_assert_uint_eq(rt.ndev, 0);
	ck_assert_uint_eq(rt.reserved, styles[_i].reserved);
	ck_assert_int_eq(hvinfo(&rt), styles[_i].hvinfo);
	runtime_close(&rt);
}
END_TEST

/* The VM is the one kvm_cmd names, as QEMU reads -name and -uuid. */
static const struct {
	const char *text, *name, *uuid;
} identities[] = {
	{ "[[], [], {}, []]", NULL, "" },
	{ FILE4(N_CMD, "", "{}", ""), "vm1", "" },
	{ "[['kvm', '-name', 'guest=vm2,debug-threads=on', '-uuid', '" U1_UP "'], [], {}, []]",
	  "vm2", U1 },
	{ "[['kvm', '-name', 'a', '-name', 'b', 7, '-uuid'], [], {}]", "b", "" },
};

START_TEST(test_identity)
{
	struct runtime rt;

	parse_ok(&rt, identities[_i].text);
	if (identities[_i].name == NULL)
		ck_assert_ptr_null(rt.vm_name);
	else
		ck_assert_str_eq(rt.vm_name, identities[_i].name);
	ck_assert_str_eq(rt.vm_uuid, identities[_i].uuid);
	runtime_close(&rt);
}
END_TEST

/* What comes from nicparams, hvparams and the disk object, defaults
 * included: one NIC and one disk in the file FILE_P(nicparams, hvparams,
 * disk keys). */
#define FILE_P(nicparams, hv, diskkeys)					\
	FILE4("[]", "{'mac': '52:54:00:12:34:56', 'nicparams': " nicparams	\
	      ", 'uuid': '" U1 "', 'pci': 5}", hv,				\
	      "[{'uuid': '" U2 "', " diskkeys "'pci': 6}, '/d', null]")
#define P_NIC(mode, link, queues, vhost)					\
	NIC(U1, "hotnic-003fc157-pci-5", 5, NULL, "52:54:00:12:34:56",	\
	    mode, link, queues, vhost)
#define P_DISK(mode, cache, discard)					\
	DISK(U2, "hotdisk-113fc157-pci-6", 6, NULL, "/d", mode, cache, discard)

static const struct {
	const char *text;
	struct want dev[2];
} params[] = {
	{ FILE_P("{}", "{}", ""),
	  { P_NIC("bridged", NULL, 1, "off"), P_DISK("rw", "default", "ignore") } },
	{ FILE_P("{'mode': 'openvswitch', 'link': 'sw0'}",
		 "{'virtio_net_queues': 8, 'vhost_net': true, "
		 "'disk_cache': 'writethrough', 'disk_discard': 'unmap'}",
		 "'mode': 'ro', "),
	  { P_NIC("openvswitch", "sw0", 8, "on"),
	    P_DISK("ro", "writethrough", "unmap") } },
	{ FILE_P("{'mode': 'routed', 'link': ''}",
		 "{'virtio_net_queues': 16, 'vhost_net': false, "
		 "'disk_cache': 'none', 'disk_discard': 'ignore'}",
		 "'mode': 'rw', "),
	  { P_NIC("routed", "", 16, "off"), P_DISK("rw", "none", "ignore") } },
	/* values the tool does not know fall back to the defaults */
	{ FILE_P("{'mode': 'macvtap', 'link': null}",
		 "{'virtio_net_queues': 17, 'vhost_net': null, "
		 "'disk_cache': 'directsync', 'disk_discard': 'on'}",
		 "'mode': 'wo', "),
	  { P_NIC("bridged", NULL, 1, "off"), P_DISK("rw", "default", "ignore") } },
	{ FILE_P("null", "{'virtio_net_queues': '2', 'disk_cache': 1}",
		 "'mode': null, "),
	  { P_NIC("bridged", NULL, 1, "off"), P_DISK("rw", "default", "ignore") } },
	{ FILE_P("{}", "{'virtio_net_queues': 0}", ""),
	  { P_NIC("bridged", NULL, 1, "off"), P_DISK("rw", "default", "ignore") } },
};

START_TEST(test_params)
{
	struct runtime rt;

	parse_ok(&rt, params[_i].text);
	expect_devices(&rt, params[_i].dev, 2);
	runtime_close(&rt);
}
END_TEST

/* A device added by hand is marked in its own parameters (a NIC's
 * nicparams, a disk's params), where Ganeti carries it along and looks
 * only for the keys it knows; a mark of another value is not ours. The
 * mark goes with the device's added_by, and nothing else moves. */
START_TEST(test_added_by)
{
	static const char text[] = "[['kvm'], "
		"[{'mac': 'aa:00:00:00:00:01', 'nicparams': {'mode': 'bridged', "
		"'link': 'br0', 'kvm_hotplug_added_by': 'hand'}, 'uuid': '" U1 "', "
		"'hvinfo': {'driver': 'virtio-net-pci', 'id': 'nic-003fc157-66a8-4e6d', "
		"'bus': 'pci.0', 'addr': '0xc'}}, "
		"{'mac': 'aa:00:00:00:00:02', 'nicparams': {'mode': 'bridged', "
		"'link': 'br0', 'kvm_hotplug_added_by': 'ghost'}, 'uuid': '" U2 "', "
		"'hvinfo': {'driver': 'virtio-net-pci', 'id': 'nic-113fc157-66a8-4e6d', "
		"'bus': 'pci.0', 'addr': '0xd'}}], {}, "
		"[[{'uuid': '" U3 "', 'dev_type': 'file', 'mode': 'rw', "
		"'hvinfo': {'driver': 'virtio-blk-pci', 'id': 'disk-223fc157-66a8-4e6d', "
		"'bus': 'pci.0', 'addr': '0xe'}}, '/d.img', null]]]";
	struct runtime rt;
	struct error e = { 0 };
	json_t *root, *nic_params = json_pack("{s:s, s:s}", "mode", "bridged",
					      "link", "br0");
	json_t *disk_params = json_pack("{s:s}", "kvm_hotplug_added_by", "hand");
	char *out;
	size_t len;

	parse_ok(&rt, text);
	ck_assert_uint_eq(rt.ndev, 3);
	ck_assert_str_eq(rt.dev[0].added_by, "hand");
	ck_assert_str_eq(rt.dev[1].added_by, "");	/* not a value of ours */
	ck_assert_str_eq(rt.dev[2].added_by, "");
	rt.dev[0].added_by[0] = '\0';
	snprintf(rt.dev[2].added_by, sizeof(rt.dev[2].added_by), "hand");
	ck_assert_msg(runtime_format(&rt, &out, &len, &e) == KH_OK, "%s", e.msg);
	ck_assert_ptr_nonnull(root = json_loads(out, 0, NULL));
	ck_assert(json_equal(json_object_get(json_array_get(json_array_get(root, 1), 0),
					     "nicparams"), nic_params));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
		json_array_get(json_array_get(root, 1), 1), "nicparams"),
		"kvm_hotplug_added_by")), "ghost");
	/* a disk without params gets them for the mark alone */
	ck_assert(json_equal(json_object_get(json_array_get(json_array_get(
		json_array_get(root, 3), 0), 0), "params"), disk_params));
	json_decref(root);
	json_decref(nic_params);
	json_decref(disk_params);
	free(out);
	runtime_close(&rt);
}
END_TEST

/* A NIC without an option ROM is recorded in its hvinfo as romfile ""
 * (Ganeti makes -device options of every hvinfo key); use_chroot says
 * QEMU runs chrooted, and it or security_model user/pool that disks
 * go to QEMU as fds. */
START_TEST(test_confinement)
{
	static const char text[] = "[['kvm'], "
		"[{'mac': 'aa:00:00:00:00:01', 'nicparams': {'mode': 'bridged', "
		"'link': 'br0'}, 'uuid': '" U1 "', "
		"'hvinfo': {'driver': 'virtio-net-pci', 'id': 'nic-003fc157-66a8-4e6d', "
		"'bus': 'pci.0', 'addr': '0xc', 'romfile': ''}}, "
		"{'mac': 'aa:00:00:00:00:02', 'nicparams': {'mode': 'bridged', "
		"'link': 'br0'}, 'uuid': '" U2 "', "
		"'hvinfo': {'driver': 'virtio-net-pci', 'id': 'nic-113fc157-66a8-4e6d', "
		"'bus': 'pci.0', 'addr': '0xd'}}], "
		"{'use_chroot': true}, []]";
	struct runtime rt;
	struct error e = { 0 };
	json_t *root;
	char *out;
	size_t len;

	parse_ok(&rt, text);
	ck_assert_str_eq(rt.dev[0].rom, "off");
	ck_assert_str_eq(rt.dev[1].rom, "");
	ck_assert(rt.chrooted);
	ck_assert_str_eq(rt.fd_pass, "always");
	rt.dev[0].rom[0] = '\0';
	snprintf(rt.dev[1].rom, sizeof(rt.dev[1].rom), "off");
	ck_assert_msg(runtime_format(&rt, &out, &len, &e) == KH_OK, "%s", e.msg);
	ck_assert_ptr_nonnull(root = json_loads(out, 0, NULL));
	ck_assert_ptr_null(json_object_get(json_object_get(json_array_get(
		json_array_get(root, 1), 0), "hvinfo"), "romfile"));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
		json_array_get(json_array_get(root, 1), 1), "hvinfo"), "romfile")), "");
	json_decref(root);
	free(out);
	runtime_close(&rt);
	parse_ok(&rt, "[['kvm'], [], {'security_model': 'pool'}, []]");
	ck_assert(!rt.chrooted);
	ck_assert_str_eq(rt.fd_pass, "always");
	runtime_close(&rt);
	parse_ok(&rt, "[['kvm'], [], {'security_model': 'none'}, []]");
	ck_assert_str_eq(rt.fd_pass, "");
	runtime_close(&rt);
}
END_TEST

/* Removing devices drops exactly their entries. */
static const struct {
	const char *text;
	const char *uuid[4];
	const char *written;
} removals[] = {
	{ FILE4(N_CMD, N_NICS, N_HV, N_DISKS), { U1 },
	  FILE4(N_CMD, N_NIC_B ", " N_NIC_C ", " N_NIC_D, N_HV, N_DISKS) },
	{ FILE4(N_CMD, N_NICS, N_HV, N_DISKS), { U5, U4 },
	  FILE4(N_CMD, N_NIC_A ", " N_NIC_B ", " N_NIC_C, N_HV,
		N_DISK_G ", " N_DISK_F) },
	{ FILE4(N_CMD, N_NICS, N_HV, N_DISKS), { U6, U1, U4, U5 },
	  FILE4(N_CMD, N_NIC_B ", " N_NIC_C, N_HV, N_DISK_G) },
	{ FILE4(O_CMD, O_NICS, O_HV, O_DISK_S), { U2 },
	  FILE4(O_CMD, O_NICS, O_HV, "") },
	{ FILE4(O_CMD, O_NICS, O_HV, O_DISK_S), { U1 },
	  FILE4(O_CMD, O_NIC_Q ", " O_NIC_R, O_HV, O_DISK_S) },
	{ FILE3(T_CMD, T_NIC, T_HV), { U3 }, FILE4(T_CMD, "", T_HV, "") },
};

START_TEST(test_remove)
{
	struct runtime rt;

	parse_ok(&rt, removals[_i].text);
	for (size_t k = 0; k < 4 && removals[_i].uuid[k] != NULL; k++)
		remove_uuid(&rt, removals[_i].uuid[k]);
	format_is(&rt, removals[_i].written);
	runtime_close(&rt);
}
END_TEST

START_TEST(test_add)
{
	static const enum rt_kind lists[] = { RT_NIC, RT_DISK };
	const struct sample *s = &samples[_i];
	struct want back[8];
	struct runtime rt;
	struct error e = { 0 };
	size_t len, n = 0;
	char *out;

	/* as read back: in each list the old devices, then the new one
	 * (add[0] is the nic, add[1] the disk) */
	ck_assert_uint_le(s->ndev + 2, N(back));
	for (size_t l = 0; l < N(lists); l++) {
		for (size_t i = 0; i < s->ndev; i++)
			if (s->dev[i].kind == lists[l])
				back[n++] = s->dev[i];
		back[n++] = s->add[l];
	}

	parse_ok(&rt, s->text);
	/* the disk first: each still goes to the end of its own list */
	add_device(&rt, &s->add[1]);
	add_device(&rt, &s->add[0]);
	format_is(&rt, s->added);
	ck_assert_int_eq(runtime_format(&rt, &out, &len, &e), KH_OK);
	runtime_close(&rt);

	ck_assert_int_eq(runtime_parse(&rt, "back", out, len, &e), KH_OK);
	free(out);
	expect_devices(&rt, back, n);
	format_is(&rt, s->added);
	runtime_close(&rt);
}
END_TEST

/* Removed and added in the same run: the entry goes, the new one is
 * appended. */
START_TEST(test_replace)
{
	const struct sample *s = &samples[1];
	struct runtime rt;

	parse_ok(&rt, s->text);
	remove_uuid(&rt, U2);
	add_device(&rt, &s->add[1]);
	remove_uuid(&rt, U1);
	format_is(&rt, FILE4(O_CMD, O_NIC_Q ", " O_NIC_R, O_HV, NEW_DISK_PCI));
	runtime_close(&rt);
}
END_TEST

/* The id a new device gets depends on the file's style. */
static const struct {
	const char *text;
	enum rt_kind kind;
	const char *uuid;
	int slot;
	const char *id;
} ids[] = {
	{ FILE4(N_CMD, N_NICS, N_HV, N_DISKS), RT_NIC, U1, 5,
	  "nic-003fc157-66a8-4e6d" },
	{ FILE4(O_CMD, O_NICS, O_HV, O_DISK_S), RT_NIC, U1, 5,
	  "hotnic-003fc157-pci-5" },
	{ "[[], [], {}, []]", RT_DISK, U2, 31, "disk-113fc157-66a8-4e6d" },
	{ "[[], [], {}]", RT_DISK, U2, 31, "hotdisk-113fc157-pci-31" },
};

START_TEST(test_device_id)
{
	struct runtime rt;
	struct error e = { 0 };
	char id[RT_ID_MAX + 1];

	parse_ok(&rt, ids[_i].text);
	ck_assert_int_eq(runtime_device_id(&rt, ids[_i].kind, ids[_i].uuid,
					   "pci.0", ids[_i].slot, id, sizeof(id), &e),
			 KH_OK);
	ck_assert_str_eq(id, ids[_i].id);
	ck_assert_int_eq(runtime_device_id(&rt, ids[_i].kind, "not-a-uuid",
					   "pci.0", ids[_i].slot, id, sizeof(id), &e),
			 KH_EUSAGE);
	runtime_close(&rt);
}
END_TEST

/* --- malformed files --- */

#define ONE_NIC(keys)	"[[], [{'mac': '52:54:00:12:34:56', " keys "}], {}, []]"
#define HVINFO_NIC(hvinfo) ONE_NIC("'uuid': '" U1 "', 'hvinfo': " hvinfo)
#define PCI_NIC(slot)	ONE_NIC("'uuid': '" U1 "', 'pci': " slot)
#define ONE_DISK(disk)	"[[], [], {}, [[{'uuid': '" U2 "', 'pci': 6}, '/d', null], " \
	disk "]]"
#define HV_ERR	"nics[0]: hvinfo needs a valid id, bus, driver and addr"

static const struct {
	const char *text;
	const char *phrase;
} malformed[] = {
	/* not JSON, with where jansson stopped */
	{ "[nonsense]\n", "line 1, column 9: invalid token near 'nonsense'" },
	{ "[[],\n [],\n {} oops]", "line 3, column 8: ']' expected near 'oops'" },
	{ "[[], [], {}, []", "line 1, column 15: ']' expected near end of file" },
	{ "[[], [], {}, []] []", "line 1, column 18: end of file expected" },
	{ "[[], [], {'a': 'x\\u0000y'}]", "\\u0000 is not allowed" },
	{ "[[], [], {'a': 1, 'a': 2}, []]", "duplicate object key near" },
	{ ONE_NIC("'uuid': '" U1 "', 'uuid': '" U2 "', 'pci': 5"),
	  "duplicate object key near" },
	/* not a Ganeti file */
	{ "[]", "expected [kvm_cmd, nics, hvparams, disks], got 0 entries" },
	{ "[[], []]", "got 2 entries" },
	{ "[[], [], {}, [], []]", "got 5 entries" },
	{ "[[], {}, {}, []]", "kvm_cmd, nics and disks must be lists, "
	  "hvparams an object" },
	{ "[[], [], [], []]", "hvparams an object" },
	{ "[[], [], null]", "hvparams an object" },
	{ "['kvm', [], {}, []]", "hvparams an object" },
	{ "[[], [], {}, {}]", "hvparams an object" },
	/* reservations that are no slot count (16.0 once became 12) */
	{ "[[], [], {'kvm_pci_reservations': 16.0}, []]",
	  "kvm_pci_reservations is not a whole number 0-32" },
	{ "[[], [], {'kvm_pci_reservations': '16'}, []]",
	  "kvm_pci_reservations is not a whole number 0-32" },
	{ "[[], [], {'kvm_pci_reservations': 33}, []]",
	  "kvm_pci_reservations is not a whole number 0-32" },
	{ "[[], [], {'kvm_pci_reservations': -1}]",
	  "kvm_pci_reservations is not a whole number 0-32" },
	/* disks */
	{ ONE_DISK("{'uuid': '" U3 "', 'pci': 7}"),
	  "disks[1]: not [disk, path, uri]" },
	{ ONE_DISK("'/d'"), "disks[1]: not [disk, path, uri]" },
	/* a pair or a quadruple is no disk (once taken for one) */
	{ ONE_DISK("[{'uuid': '" U3 "', 'pci': 7}, '/d']"),
	  "disks[1]: not [disk, path, uri]" },
	{ ONE_DISK("[{'uuid': '" U3 "', 'pci': 7}, '/d', null, null]"),
	  "disks[1]: not [disk, path, uri]" },
	{ ONE_DISK("[{'uuid': '" U3 "', 'pci': 7}, '/d', 5]"),
	  "disks[1]: not [disk, path, uri]" },
	{ ONE_DISK("[{'uuid': '" U3 "', 'pci': 7}, 'd.img', null]"),
	  "disks[1]: the disk's path must be absolute" },
	{ ONE_DISK("[{'uuid': '" U3 "', 'pci': 7}, null, null]"),
	  "disks[1]: the disk's path must be absolute" },
	{ ONE_DISK("[{'uuid': '" U3 "', 'pci': 7}, '', null]"),
	  "disks[1]: the disk's path must be absolute" },
	/* placement */
	{ HVINFO_NIC("{'driver': 'virtio-net-pci', 'bus': 'pci.0', 'addr': '0x5'}"),
	  HV_ERR },
	{ HVINFO_NIC("{'driver': 'virtio-net-pci', 'id': 'n1', 'addr': '0x5'}"),
	  HV_ERR },
	{ HVINFO_NIC("{'driver': 'virtio-net-pci', 'id': 'n1', 'bus': 'pci.0'}"),
	  HV_ERR },
	{ HVINFO_NIC("{'id': 'n1', 'bus': 'pci.0', 'addr': '0x5'}"), HV_ERR },
	{ HVINFO_NIC("{'driver': 'virtio-net-pci', 'id': 'n1', 'bus': 'pci.0', "
		     "'addr': '0x40'}"), HV_ERR },
	{ HVINFO_NIC("{'driver': 'virtio-net-pci', 'id': 'n1', 'bus': 'pci.0', "
		     "'addr': '0x20'}"), HV_ERR },
	{ HVINFO_NIC("{'driver': 'virtio-net-pci', 'id': 'n1', 'bus': 'pci.0', "
		     "'addr': '0x'}"), HV_ERR },
	{ HVINFO_NIC("{'driver': 'virtio-net-pci', 'id': 'n1', 'bus': 'pci.0', "
		     "'addr': 5}"), HV_ERR },
	/* only what Ganeti writes: "0x" and hex digits, a bus QEMU names */
	{ HVINFO_NIC("{'driver': 'virtio-net-pci', 'id': 'n1', 'bus': 'pci.0', "
		     "'addr': 'c'}"), HV_ERR },
	{ HVINFO_NIC("{'driver': 'virtio-net-pci', 'id': 'n1', 'bus': 'pci.0', "
		     "'addr': ' +0XC'}"), HV_ERR },
	{ HVINFO_NIC("{'driver': 'virtio-net-pci', 'id': 'n1', 'bus': 'pci.0', "
		     "'addr': '0x-1'}"), HV_ERR },
	{ HVINFO_NIC("{'driver': 'virtio-net-pci', 'id': 'n1', 'bus': 'pci 0!', "
		     "'addr': '0x5'}"), HV_ERR },
	{ HVINFO_NIC("{'driver': 'virtio-net-pci', 'id': '1n', 'bus': 'pci.0', "
		     "'addr': '0x5'}"), HV_ERR },
	{ HVINFO_NIC("{'driver': 'virtio-net-pci', "
		     "'id': 'n23456789012345678901234567890123', 'bus': 'pci.0', "
		     "'addr': '0x5'}"), HV_ERR },
	{ PCI_NIC("40"), "nics[0]: pci 40 is not a slot 0-31" },
	{ PCI_NIC("32"), "nics[0]: pci 32 is not a slot 0-31" },
	{ PCI_NIC("-1"), "nics[0]: pci -1 is not a slot 0-31" },
	/* 2^32 + 5 is no slot 5 (once cut to an int before the check) */
	{ PCI_NIC("4294967301"), "is not a slot 0-31" },
	/* nics */
	{ "[[], [{'mac': '52:54:00:12:34', 'uuid': '" U1 "', 'pci': 5}], {}]",
	  "nics[0]: invalid or missing mac" },
	{ "[[], [{'mac': '52-54-00-12-34-56', 'uuid': '" U1 "', 'pci': 5}], {}]",
	  "nics[0]: invalid or missing mac" },
	{ "[[], [{'mac': '01:00:5e:00:00:01', 'uuid': '" U1 "', 'pci': 5}], {}]",
	  "nics[0]: invalid or missing mac" },
	{ "[[], [{'mac': null, 'uuid': '" U1 "', 'pci': 5}], {}]",
	  "nics[0]: invalid or missing mac" },
	{ "[[], [{'uuid': '" U1 "', 'pci': 5}], {}]",
	  "nics[0]: invalid or missing mac" },
};

START_TEST(test_malformed)
{
	const char *phrase = malformed[_i].phrase;
	struct runtime rt;
	struct error e = { 0 };
	int rc = parse(&rt, malformed[_i].text, &e);
	/* a failed parse leaves nothing behind */
	bool empty = rt.ndev == 0 && rt.codec_data == NULL && rt.format == RT_NATIVE;

	runtime_close(&rt);	/* first: a failure here must not leak */
	ck_assert_msg(rc == KH_EUSAGE && e.code == KH_EUSAGE,
		      "case %d: accepted: %s", _i, malformed[_i].text);
	ck_assert_msg(strncmp(e.msg, "g.runtime: ", 11) == 0 &&
		      strstr(e.msg, phrase) != NULL,
		      "case %d: want '%s', got: %s", _i, phrase, e.msg);
	ck_assert_ptr_null(strchr(e.msg, '\n'));
	ck_assert(empty);
}
END_TEST

/* Every proper prefix of a sample is refused, as JSON, with the name. */
START_TEST(test_truncations)
{
	char *text = json(samples[_i].text);
	size_t len = strlen(text) - 1;		/* without "\n" */

	for (size_t n = 1; n < len; n++) {
		char *cut = malloc(n);		/* exactly: ASan sees over-reads */
		struct runtime rt;
		struct error e = { 0 };
		int rc;

		ck_assert_ptr_nonnull(cut);
		memcpy(cut, text, n);
		runtime_init(&rt);
		rc = runtime_parse(&rt, "cut", cut, n, &e);
		ck_assert_msg(rc == KH_EUSAGE &&
			      strncmp(e.msg, "cut: line 1, column ", 20) == 0,
			      "at %zu: %d %s", n, rc, e.msg);
		runtime_close(&rt);
		free(cut);
	}
	free(text);
}
END_TEST

/* --- the file on disk --- */

/* One directory for the test case, removed even when a test fails (a
 * checked teardown would not run then), and one in it for each test. */
static char topdir[64], tmpdir[80];

static void make_topdir(void)
{
	scratch_dir_make(topdir, sizeof(topdir), "test_ganeti");
}

static void remove_topdir(void)
{
	scratch_dir_remove(topdir);
}

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/XXXXXX", topdir);
	if (mkdtemp(tmpdir) == NULL)
		abort();
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t size = 0;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(getdelim(&buf, &size, '\0', f) > 0, 1);
	fclose(f);
	return buf;
}

/* The names in tmpdir, sorted, joined by ' '. */
static const char *dir_listing(void)
{
	static char list[512];
	struct dirent **names;
	int n = scandir(tmpdir, &names, NULL, alphasort);

	ck_assert_int_ge(n, 0);
	list[0] = '\0';
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;

		if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0)
			snprintf(list + strlen(list), sizeof(list) - strlen(list),
				 "%s%s", list[0] ? " " : "", name);
		free(names[i]);
	}
	free(names);
	return list;
}

/* rt loaded from tmpdir/g.runtime, which holds sq. */
static void load_file(struct runtime *rt, const char *sq)
{
	struct error e = { 0 };
	char *text = json(sq);
	FILE *f;

	runtime_init(rt);
	ck_assert_int_ne(asprintf(&rt->path, "%s/g.runtime", tmpdir), -1);
	ck_assert_ptr_nonnull(f = fopen(rt->path, "w"));
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	free(text);
	ck_assert_msg(runtime_load(rt, false, &e) == KH_OK, "%s", e.msg);
	ck_assert_int_eq(rt->format, RT_GANETI);
}

static void file_is(const char *path, const char *sq)
{
	char *want = json(sq), *got = read_file(path);

	text_is(got, want);
	free(got);
	free(want);
}

/* Ganeti changed the file while this run held it: this run's new disk is
 * added to Ganeti's file, whose own changes (a key, a NIC) stay. */
START_TEST(test_other_writer)
{
	static const struct want disk =
		DISK(U2, "hotdisk-113fc157-pci-6", 6, NULL, "/d", "rw", "default", "ignore");
	struct runtime rt, back;
	struct error e = { 0 };
	char *text, *tmp;
	FILE *f;

	load_file(&rt, FILE4("['kvm']", "{'mac': '52:54:00:00:00:01', 'uuid': '" U1 "', "
			     "'pci': 5, 'x': 1}", "{}", ""));
	add_device(&rt, &disk);
	ck_assert_msg(runtime_prepare(&rt, &e) == KH_OK, "%s", e.msg);
	text = json(FILE4("['kvm']", "{'mac': '52:54:00:00:00:01', 'uuid': '" U1 "', "
			  "'pci': 5, 'x': 2}, {'mac': '52:54:00:00:00:03', 'uuid': '" U3 "', "
			  "'pci': 7}", "{}", ""));
	ck_assert_int_ne(asprintf(&tmp, "%s.ganeti", rt.path), -1);
	ck_assert_ptr_nonnull(f = fopen(tmp, "w"));
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(rename(tmp, rt.path), 0);
	ck_assert_msg(runtime_commit(&rt, &e) == KH_OK, "%s", e.msg);
	free(text);
	free(tmp);

	runtime_init(&back);
	back.path = strdup(rt.path);
	ck_assert_msg(runtime_load(&back, false, &e) == KH_OK, "%s", e.msg);
	ck_assert_uint_eq(back.ndev, 3);
	ck_assert_int_eq(runtime_find_uuid(&back, U2)->slot, 6);
	ck_assert_int_eq(runtime_find_uuid(&back, U3)->slot, 7);
	ck_assert_ptr_nonnull(strstr(text = read_file(rt.path), "\"x\": 2"));
	free(text);
	ck_assert_str_eq(dir_listing(), "g.runtime");
	runtime_close(&back);
	runtime_close(&rt);
}
END_TEST

/* Each sample written back to disk through prepare and commit. */
START_TEST(test_file_round_trip)
{
	struct runtime rt;
	struct error e = { 0 };

	load_file(&rt, samples[_i].text);
	ck_assert_msg(runtime_prepare(&rt, &e) == KH_OK, "%s", e.msg);
	ck_assert_msg(runtime_commit(&rt, &e) == KH_OK, "%s", e.msg);
	file_is(rt.path, samples[_i].written);
	ck_assert_str_eq(dir_listing(), "g.runtime");
	runtime_close(&rt);
}
END_TEST

/* Ganeti's nic files, DIR/nic/NAME/SEQ beside DIR/conf/NAME.runtime:
 * read with the file, written at commit for new NICs, none left for a
 * place the NIC list no longer has or whose tap is not known. */
START_TEST(test_nic_files)
{
	struct runtime rt;
	struct error e = { 0 };
	struct rt_device *d;
	char path[200], *got;
	size_t nics = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/conf", tmpdir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/nic", tmpdir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/nic/vm1", tmpdir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/nic/vm1/0", tmpdir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("tap7", f);
	fclose(f);
	got = json(samples[0].text);
	snprintf(path, sizeof(path), "%s/conf/vm1.runtime", tmpdir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(got, f);
	fclose(f);
	free(got);
	runtime_init(&rt);
	ck_assert_ptr_nonnull(rt.path = strdup(path));
	ck_assert_msg(runtime_load(&rt, false, &e) == KH_OK, "%s", e.msg);
	for (size_t i = 0; i < rt.ndev; i++)
		if (rt.dev[i].kind == RT_NIC)
			ck_assert_str_eq(rt.dev[i].tap, nics++ == 0 ? "tap7" : "");
	ck_assert_uint_ge(nics, 2);
	/* places count every NIC of the file, managed or not */
	nics = json_array_size(json_array_get(ganeti(&rt)->root, 1));
	/* a new NIC's tap goes to the next place */
	d = add_device(&rt, &samples[0].add[0]);
	snprintf(d->tap, sizeof(d->tap), "tap9");
	ck_assert_msg(runtime_prepare(&rt, &e) == KH_OK &&
		      runtime_commit(&rt, &e) == KH_OK &&
		      runtime_commit_side_files(&rt, &e) == KH_OK, "%s", e.msg);
	snprintf(path, sizeof(path), "%s/nic/vm1/%zu", tmpdir, nics);
	file_is(path, "tap9");
	runtime_close(&rt);
	/* the first NIC removed: the places shift, the last one goes */
	runtime_init(&rt);
	snprintf(path, sizeof(path), "%s/conf/vm1.runtime", tmpdir);
	ck_assert_ptr_nonnull(rt.path = strdup(path));
	ck_assert_msg(runtime_load(&rt, false, &e) == KH_OK, "%s", e.msg);
	ck_assert_str_eq(rt.dev[0].tap, "tap7");
	runtime_remove_device(&rt, 0);
	ck_assert_msg(runtime_prepare(&rt, &e) == KH_OK &&
		      runtime_commit(&rt, &e) == KH_OK &&
		      runtime_commit_side_files(&rt, &e) == KH_OK, "%s", e.msg);
	snprintf(path, sizeof(path), "%s/nic/vm1/0", tmpdir);
	ck_assert_int_eq(access(path, F_OK), -1);	/* its tap is not known */
	snprintf(path, sizeof(path), "%s/nic/vm1/%zu", tmpdir, nics - 1);
	file_is(path, "tap9");
	snprintf(path, sizeof(path), "%s/nic/vm1/%zu", tmpdir, nics);
	ck_assert_int_eq(access(path, F_OK), -1);
	runtime_close(&rt);
}
END_TEST

static void no_change(struct rt_device *d)
{
	(void)d;
}

static void cache_none(struct rt_device *d)
{
	snprintf(d->cache, sizeof(d->cache), "none");
}

static void discard_unmap(struct rt_device *d)
{
	snprintf(d->discard, sizeof(d->discard), "unmap");
}

static void format_qcow2(struct rt_device *d)
{
	snprintf(d->format, sizeof(d->format), "qcow2");
}

static void queues_2(struct rt_device *d)
{
	d->queues = 2;
}

static void vhost_on(struct rt_device *d)
{
	snprintf(d->vhost, sizeof(d->vhost), "on");
}

static void with_script(struct rt_device *d)
{
	d->script = strdup("/etc/ganeti/kvm-ifup-custom");
	ck_assert_ptr_nonnull(d->script);
}

static void tap_other(struct rt_device *d)
{
	snprintf(d->tap, sizeof(d->tap), "tap0");
}

static void tap_long_uuid(struct rt_device *d)
{
	snprintf(d->tap, sizeof(d->tap), "kh%.9s", d->uuid);
}

/* A device the file can or cannot hold: one with the defaults of an
 * hvparams {} file, changed by how; refused over field. */
static const struct {
	const char *hvparams;
	enum rt_kind kind;
	void (*how)(struct rt_device *);
	const char *field;	/* NULL: accepted */
} holdable[] = {
	{ "{}", RT_NIC, no_change, NULL },
	{ "{}", RT_DISK, no_change, NULL },
	{ "{}", RT_DISK, cache_none, "cache 'none'" },
	{ "{'disk_cache': 'none'}", RT_DISK, cache_none, NULL },
	{ "{'disk_cache': 'none'}", RT_DISK, no_change, "cache 'default'" },
	{ "{}", RT_DISK, discard_unmap, "discard 'unmap'" },
	{ "{'disk_discard': 'unmap'}", RT_DISK, discard_unmap, NULL },
	{ "{}", RT_DISK, format_qcow2, "format 'qcow2'" },
	{ "{}", RT_NIC, queues_2, "queues '2'" },
	{ "{'virtio_net_queues': 2}", RT_NIC, queues_2, NULL },
	{ "{'virtio_net_queues': 2}", RT_NIC, no_change, "queues '1'" },
	{ "{}", RT_NIC, vhost_on, "vhost 'on'" },
	{ "{'vhost_net': true}", RT_NIC, vhost_on, NULL },
	{ "{}", RT_NIC, with_script, "script '/etc/ganeti/kvm-ifup-custom'" },
	/* any tap: Ganeti's nic file, not the runtime file, records it */
	{ "{}", RT_NIC, tap_other, NULL },
	{ "{}", RT_NIC, tap_long_uuid, NULL },
};

START_TEST(test_prepare_refuses)
{
	static const struct want nic = NIC(U1, "nic-003fc157-66a8-4e6d", 5,
					   NULL, "52:54:00:12:34:56", "bridged",
					   "br0", 1, "off");
	static const struct want disk = DISK(U1, "disk-003fc157-66a8-4e6d", 5,
					     "d", "/d", "rw", "default", "ignore");
	struct runtime rt;
	struct error e = { 0 };
	char *file;
	int rc;

	ck_assert_int_ne(asprintf(&file, FILE4("[]", "", "%s", ""),
				  holdable[_i].hvparams), -1);
	load_file(&rt, file);
	holdable[_i].how(add_device(&rt, holdable[_i].kind == RT_NIC ? &nic :
				    &disk));
	rc = runtime_prepare(&rt, &e);
	if (holdable[_i].field == NULL) {
		ck_assert_msg(rc == KH_OK, "case %d: %s", _i, e.msg);
		ck_assert_int_eq(access(rt.tmp_path, F_OK), 0);
		runtime_discard(&rt);
	} else {
		ck_assert_int_eq(rc, KH_EUSAGE);
		ck_assert_int_eq(e.code, KH_EUSAGE);
		ck_assert_msg(strncmp(e.msg, rt.path, strlen(rt.path)) == 0 &&
			      strstr(e.msg, "cannot record") != NULL &&
			      strstr(e.msg, holdable[_i].field) != NULL,
			      "case %d: want '%s', got: %s", _i,
			      holdable[_i].field, e.msg);
		ck_assert_ptr_null(rt.tmp_path);
	}
	/* the file as it was, and nothing beside it */
	file_is(rt.path, file);
	ck_assert_str_eq(dir_listing(), "g.runtime");
	free(file);
	runtime_close(&rt);
}
END_TEST

static Suite *ganeti_suite(void)
{
	Suite *s = suite_create("ganeti");
	TCase *tc = check_case("memory");

	tcase_add_loop_test(tc, test_round_trip, 0, N(samples));
	tcase_add_loop_test(tc, test_read, 0, N(samples));
	tcase_add_loop_test(tc, test_identity, 0, N(identities));
	tcase_add_loop_test(tc, test_style, 0, N(styles));
	tcase_add_loop_test(tc, test_params, 0, N(params));
	tcase_add_test(tc, test_added_by);
	tcase_add_test(tc, test_confinement);
	tcase_add_loop_test(tc, test_remove, 0, N(removals));
	tcase_add_loop_test(tc, test_add, 0, N(samples));
	tcase_add_test(tc, test_replace);
	tcase_add_loop_test(tc, test_device_id, 0, N(ids));
	suite_add_tcase(s, tc);

	tc = check_case("malformed");
	tcase_add_loop_test(tc, test_malformed, 0, N(malformed));
	tcase_add_loop_test(tc, test_truncations, 0, N(samples));
	suite_add_tcase(s, tc);

	tc = check_case("files");
	tcase_add_unchecked_fixture(tc, make_topdir, remove_topdir);
	tcase_add_checked_fixture(tc, make_tmpdir, NULL);
	tcase_add_test(tc, test_other_writer);
	tcase_add_loop_test(tc, test_file_round_trip, 0, N(samples));
	tcase_add_loop_test(tc, test_prepare_refuses, 0, N(holdable));
	tcase_add_test(tc, test_nic_files);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(ganeti_suite());
}
