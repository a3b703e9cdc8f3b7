/* Tests for the instance runtime file (runtime.c). */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "../clock.h"
#include "../runtime.h"
#include "check_run.h"

#define U1	"003fc157-66a8-4e6d-8b7e-ec4f69751396"
#define U2	"113fc157-66a8-4e6d-8b7e-ec4f69751396"
#define U3	"223fc157-66a8-4e6d-8b7e-ec4f69751396"
#define U4	"443fc157-66a8-4e6d-8b7e-ec4f69751396"

/* A valid file with two disks: the first device starts on line 3, the
 * second on line 14 (each is 11 lines). */
#define HDR	"version: 1\ndevices:\n"
#define DISK(uuid, id, slot)						\
	"  - kind: disk\n"						\
	"    uuid: " uuid "\n"						\
	"    id: " id "\n"						\
	"    bus: pci.0\n"						\
	"    slot: " slot "\n"						\
	"    driver: virtio-blk-pci\n"					\
	"    path: /d.img\n"						\
	"    format: raw\n"						\
	"    cache: none\n"						\
	"    mode: rw\n"						\
	"    discard: unmap\n"

/* A nic's common keys, lines 3-8 after HDR. */
#define NIC_BASE "  - kind: nic\n    uuid: " U1 "\n    id: n1\n    bus: pci.0\n" \
	"    slot: 5\n    driver: virtio-net-pci\n"

/* A nic's own keys, as the input fixtures indent them. */
#define NIC_KEYS "    mac: '52:54:00:12:34:56'\n    mode: bridged\n" \
	"    link: br0\n    tap: tap0\n    queues: 1\n    vhost: 'off'\n"

/* Input in the style of kvm-hotplug-runtime(5)... */
static const char full[] =
    "version: 1\n"
    "reserved-slots: [0, 1, 2, 3, 31]\n"
    "devices:\n"
    "  - kind: disk\n"
    "    uuid: 003FC157-66A8-4E6D-8B7E-EC4F69751396\n"
    "    id: hotdisk-003fc157-pci-5\n"
    "    bus: pci.0\n"
    "    slot: 5\n"
    "    driver: virtio-blk-pci\n"
    "    name: data\n"
    "    state: unplugging\n"
    "    path: /srv/vm1/disk1.img\n"
    "    format: raw\n"
    "    cache: default\n"
    "    mode: rw\n"
    "    discard: ignore\n"
    "  - kind: nic\n"
    "    uuid: " U2 "\n"
    "    id: hotnic-113fc157-pci-6\n"
    "    bus: pci.0\n"
    "    slot: 6\n"
    "    driver: virtio-net-pci\n"
    "    state: plugged\n"
    NIC_KEYS
    "  - kind: disk\n"
    "    uuid: 223fc157-66a8-4e6d-8b7e-ec4f69751396\n"
    "    id: hotdisk-223fc157-pci-1\n"
    "    bus: bridge.1\n"
    "    slot: 1\n"
    "    driver: virtio-blk-pci\n"
    "    path: '/srv/vm1/disk: 2.qcow2'\n"
    "    format: qcow2\n"
    "    cache: writethrough\n"
    "    mode: ro\n"
    "    discard: unmap\n";

/* ... and how runtime_format writes it. */
static const char full_out[] =
    "version: 1\n"
    "reserved-slots: [0, 1, 2, 3, 31]\n"
    "devices:\n"
    "- kind: disk\n"
    "  uuid: " U1 "\n"
    "  id: hotdisk-003fc157-pci-5\n"
    "  bus: pci.0\n"
    "  slot: 5\n"
    "  driver: virtio-blk-pci\n"
    "  name: data\n"
    "  state: unplugging\n"
    "  path: /srv/vm1/disk1.img\n"
    "  format: raw\n"
    "  cache: default\n"
    "  mode: rw\n"
    "  discard: ignore\n"
    "- kind: nic\n"
    "  uuid: " U2 "\n"
    "  id: hotnic-113fc157-pci-6\n"
    "  bus: pci.0\n"
    "  slot: 6\n"
    "  driver: virtio-net-pci\n"
    "  mac: '52:54:00:12:34:56'\n"
    "  mode: bridged\n"
    "  link: br0\n"
    "  tap: tap0\n"
    "  queues: 1\n"
    "  vhost: 'off'\n"
    "- kind: disk\n"
    "  uuid: 223fc157-66a8-4e6d-8b7e-ec4f69751396\n"
    "  id: hotdisk-223fc157-pci-1\n"
    "  bus: bridge.1\n"
    "  slot: 1\n"
    "  driver: virtio-blk-pci\n"
    "  path: '/srv/vm1/disk: 2.qcow2'\n"
    "  format: qcow2\n"
    "  cache: writethrough\n"
    "  mode: ro\n"
    "  discard: unmap\n";

static char tmpdir[64];

static void parse_ok(struct runtime *rt, const char *text)
{
	struct error e = { 0 };
	int rc;

	runtime_init(rt);
	rc = runtime_parse(rt, "t.yaml", text, strlen(text), &e);
	ck_assert_msg(rc == KH_OK, "parse failed: %s", e.msg);
}

static char *format_ok(const struct runtime *rt)
{
	struct error e = { 0 };
	char *out;
	size_t len;

	ck_assert_msg(runtime_format(rt, &out, &len, &e) == KH_OK, "%s", e.msg);
	ck_assert_uint_eq(strlen(out), len);
	return out;
}

/* text, parsed and formatted */
static char *reformat(const char *text)
{
	struct runtime rt;
	char *out;

	parse_ok(&rt, text);
	out = format_ok(&rt);
	runtime_close(&rt);
	return out;
}

static void str_eq_or_null(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		ck_assert_ptr_eq(a, b);
	else
		ck_assert_str_eq(a, b);
}

static void devices_equal(const struct rt_device *a, const struct rt_device *b)
{
	ck_assert_int_eq(a->kind, b->kind);
	ck_assert_int_eq(a->state, b->state);
	ck_assert_str_eq(a->uuid, b->uuid);
	ck_assert_str_eq(a->id, b->id);
	ck_assert_str_eq(a->bus, b->bus);
	ck_assert_int_eq(a->slot, b->slot);
	ck_assert_str_eq(a->driver, b->driver);
	str_eq_or_null(a->name, b->name);
	str_eq_or_null(a->path, b->path);
	ck_assert_str_eq(a->format, b->format);
	ck_assert_str_eq(a->cache, b->cache);
	ck_assert_str_eq(a->mode, b->mode);
	ck_assert_str_eq(a->discard, b->discard);
	ck_assert_str_eq(a->mac, b->mac);
	ck_assert_str_eq(a->nic_mode, b->nic_mode);
	str_eq_or_null(a->link, b->link);
	ck_assert_str_eq(a->tap, b->tap);
	ck_assert_int_eq(a->queues, b->queues);
	ck_assert_str_eq(a->vhost, b->vhost);
	str_eq_or_null(a->script, b->script);
}

static void runtimes_equal(const struct runtime *a, const struct runtime *b)
{
	ck_assert_uint_eq(a->reserved, b->reserved);
	ck_assert_uint_eq(a->ndev, b->ndev);
	for (size_t i = 0; i < a->ndev; i++)
		devices_equal(&a->dev[i], &b->dev[i]);
}

/* A disk device filled in as the tool would for one added in this run. */
static struct rt_device *add_disk(struct runtime *rt, const char *uuid,
				  const char *id, int slot, const char *path)
{
	struct rt_device *d = runtime_add_device(rt, NULL);

	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(d->slot, -1);
	ck_assert_ptr_null(d->source);
	d->kind = RT_DISK;
	strcpy(d->uuid, uuid);
	strcpy(d->id, id);
	strcpy(d->bus, "pci.0");
	d->slot = slot;
	strcpy(d->driver, "virtio-blk-pci");
	d->path = strdup(path);
	strcpy(d->format, "raw");
	strcpy(d->cache, "none");
	strcpy(d->mode, "rw");
	strcpy(d->discard, "unmap");
	return d;
}

/* --- parsing and formatting --- */

START_TEST(test_round_trip)
{
	struct runtime a, b;
	char *once, *twice;

	parse_ok(&a, full);
	ck_assert_uint_eq(a.ndev, 3);
	ck_assert_str_eq(a.dev[0].uuid, U1);	/* stored in lower case */
	ck_assert_int_eq(a.dev[0].state, RT_UNPLUGGING);
	ck_assert_int_eq(a.dev[1].kind, RT_NIC);
	ck_assert_int_eq(a.dev[1].state, RT_PLUGGED);
	ck_assert_ptr_null(a.dev[1].name);
	ck_assert_ptr_null(a.dev[1].path);
	ck_assert_uint_eq(a.reserved, 0x8000000fu);
	once = format_ok(&a);
	ck_assert_str_eq(once, full_out);
	parse_ok(&b, once);
	runtimes_equal(&a, &b);
	twice = format_ok(&b);
	ck_assert_str_eq(once, twice);
	free(once);
	free(twice);
	runtime_close(&a);
	runtime_close(&b);
}
END_TEST

START_TEST(test_defaults)
{
	struct runtime rt;
	char *out;

	parse_ok(&rt, "version: 1\n");
	ck_assert_uint_eq(rt.reserved, 0xf);
	ck_assert_uint_eq(rt.ndev, 0);
	out = format_ok(&rt);
	ck_assert_str_eq(out,
	    "version: 1\nreserved-slots: [0, 1, 2, 3]\ndevices: []\n");
	free(out);
	runtime_close(&rt);

	parse_ok(&rt, "version: 1\nreserved-slots: []\ndevices: []\n");
	ck_assert_uint_eq(rt.reserved, 0);
	out = format_ok(&rt);
	ck_assert_str_eq(out, "version: 1\nreserved-slots: []\ndevices: []\n");
	free(out);
	runtime_close(&rt);

	/* a fresh runtime */
	runtime_init(&rt);
	out = format_ok(&rt);
	ck_assert_str_eq(out,
	    "version: 1\nreserved-slots: [0, 1, 2, 3]\ndevices: []\n");
	free(out);
	runtime_close(&rt);
}
END_TEST

START_TEST(test_unknown_keys)
{
	static const char in[] =
	    "x-first: 1\n"
	    "version: 1\n"
	    "x-top: {a: 1, b: [x, 'y', \"z\"]}\n"
	    "devices:\n"
	    "  - x-lead: lead\n"
	    "    kind: disk\n"
	    "    uuid: " U1 "\n"
	    "    id: d1\n"
	    "    x-note: \"123\"\n"
	    "    x-num: 123\n"
	    "    bus: pci.0\n"
	    "    slot: 5\n"
	    "    driver: virtio-blk-pci\n"
	    "    path: /d.img\n"
	    "    format: raw\n"
	    "    cache: none\n"
	    "    mode: rw\n"
	    "    discard: unmap\n"
	    "    x-list:\n"
	    "      - a\n"
	    "      - b: 1\n"
	    "        c: ~\n"
	    "        d: 'true'\n"
	    "    x-null:\n"
	    "  - kind: nic\n"
	    "    uuid: " U2 "\n"
	    "    id: n1\n"
	    "    bus: pci.0\n"
	    "    slot: 6\n"
	    "    driver: virtio-net-pci\n"
	    "    path: a nic's, kept as unknown\n"
	    "    mac: 'aa:bb:cc:dd:ee:ff'\n"
	    "    mode: routed\n"
	    "    tap: tap7\n"
	    "    queues: 4\n"
	    "    vhost: 'on'\n"
	    "    script: /etc/ganeti/kvm-ifup-custom\n"
	    "x-last:\n"
	    "  deep: {deeper: [1, [2, {k: v}]]}\n";
	static const char out_expected[] =
	    "x-first: 1\n"
	    "version: 1\n"
	    "x-top: {a: 1, b: [x, 'y', 'z']}\n"
	    "devices:\n"
	    "- x-lead: lead\n"
	    "  kind: disk\n"
	    "  uuid: " U1 "\n"
	    "  id: d1\n"
	    "  x-note: '123'\n"
	    "  x-num: 123\n"
	    "  bus: pci.0\n"
	    "  slot: 5\n"
	    "  driver: virtio-blk-pci\n"
	    "  path: /d.img\n"
	    "  format: raw\n"
	    "  cache: none\n"
	    "  mode: rw\n"
	    "  discard: unmap\n"
	    "  x-list:\n"
	    "  - a\n"
	    "  - b: 1\n"
	    "    c: ~\n"
	    "    d: 'true'\n"
	    "  x-null:\n"
	    "- kind: nic\n"
	    "  uuid: " U2 "\n"
	    "  id: n1\n"
	    "  bus: pci.0\n"
	    "  slot: 6\n"
	    "  driver: virtio-net-pci\n"
	    "  path: a nic's, kept as unknown\n"
	    "  mac: aa:bb:cc:dd:ee:ff\n"
	    "  mode: routed\n"
	    "  tap: tap7\n"
	    "  queues: 4\n"
	    "  vhost: 'on'\n"
	    "  script: /etc/ganeti/kvm-ifup-custom\n"
	    "x-last:\n"
	    "  deep: {deeper: [1, [2, {k: v}]]}\n"
	    "reserved-slots: [0, 1, 2, 3]\n";
	char *out = reformat(in), *again = reformat(out);

	ck_assert_str_eq(out, out_expected);
	ck_assert_str_eq(again, out);
	free(out);
	free(again);
}
END_TEST

START_TEST(test_add_remove)
{
	static const char expected[] =
	    "version: 1\n"
	    "x-top: kept\n"
	    "devices:\n"
	    "- kind: disk\n"
	    "  uuid: " U2 "\n"
	    "  x-mine: 1\n"
	    "  id: hotdisk-113fc157-pci-14\n"
	    "  bus: pci.0\n"
	    "  slot: 14\n"
	    "  driver: virtio-blk-pci\n"
	    "  path: /d.img\n"
	    "  format: raw\n"
	    "  cache: none\n"
	    "  mode: rw\n"
	    "  discard: unmap\n"
	    "- kind: disk\n"
	    "  uuid: 223fc157-66a8-4e6d-8b7e-ec4f69751396\n"
	    "  id: hotdisk-223fc157-pci-7\n"
	    "  bus: pci.0\n"
	    "  slot: 7\n"
	    "  driver: virtio-blk-pci\n"
	    "  name: new one\n"
	    "  path: /new.img\n"
	    "  format: raw\n"
	    "  cache: none\n"
	    "  mode: rw\n"
	    "  discard: unmap\n"
	    "- kind: nic\n"
	    "  uuid: 333fc157-66a8-4e6d-8b7e-ec4f69751396\n"
	    "  id: hotnic-333fc157-pci-8\n"
	    "  bus: pci.0\n"
	    "  slot: 8\n"
	    "  driver: virtio-net-pci\n"
	    "  mac: '52:54:00:00:00:08'\n"
	    "  mode: bridged\n"
	    "  link: br0\n"
	    "  tap: tap8\n"
	    "  queues: 2\n"
	    "  vhost: 'off'\n"
	    "reserved-slots: [0, 1, 2, 3]\n";
	struct runtime rt, back;
	struct rt_device *d;
	char *out;

	parse_ok(&rt, "version: 1\nx-top: kept\ndevices:\n"
	    DISK(U1, "hotdisk-003fc157-pci-5", "5")
	    "  - kind: disk\n    uuid: " U2 "\n    x-mine: 1\n"
	    "    id: hotdisk-113fc157-pci-14\n    bus: pci.0\n    slot: 14\n"
	    "    driver: virtio-blk-pci\n    path: /d.img\n    format: raw\n"
	    "    cache: none\n    mode: rw\n    discard: unmap\n");
	ck_assert_ptr_eq(runtime_find_uuid(&rt, U1), &rt.dev[0]);
	runtime_remove_device(&rt, 0);
	ck_assert_ptr_null(runtime_find_uuid(&rt, U1));
	ck_assert_uint_eq(rt.ndev, 1);

	d = add_disk(&rt, "223fc157-66a8-4e6d-8b7e-ec4f69751396",
		     "hotdisk-223fc157-pci-7", 7, "/new.img");
	d->name = strdup("new one");
	d = runtime_add_device(&rt, NULL);
	d->kind = RT_NIC;
	strcpy(d->uuid, "333fc157-66a8-4e6d-8b7e-ec4f69751396");
	strcpy(d->id, "hotnic-333fc157-pci-8");
	strcpy(d->bus, "pci.0");
	d->slot = 8;
	strcpy(d->driver, "virtio-net-pci");
	strcpy(d->mac, "52:54:00:00:00:08");
	strcpy(d->nic_mode, "bridged");
	d->link = strdup("br0");
	strcpy(d->tap, "tap8");
	d->queues = 2;
	strcpy(d->vhost, "off");
	ck_assert_ptr_eq(runtime_find_uuid(&rt,
	    "333FC157-66A8-4E6D-8B7E-EC4F69751396"), d);

	out = format_ok(&rt);
	ck_assert_str_eq(out, expected);
	parse_ok(&back, out);
	runtimes_equal(&rt, &back);
	free(out);
	runtime_close(&back);
	runtime_close(&rt);
}
END_TEST

START_TEST(test_state_and_name)
{
	struct runtime rt;
	char *out;

	parse_ok(&rt, HDR "  - name: first\n    state: unplugging\n"
	    "    kind: disk\n    uuid: " U1 "\n    id: d1\n    bus: pci.0\n"
	    "    slot: 5\n    driver: virtio-blk-pci\n    path: /d.img\n"
	    "    format: raw\n    cache: none\n    mode: rw\n"
	    "    discard: unmap\n"
	    DISK(U2, "d2", "6"));
	ck_assert_int_eq(rt.dev[0].state, RT_UNPLUGGING);
	ck_assert_str_eq(rt.dev[0].name, "first");

	/* back to plugged and nameless: the keys go; the other device
	 * gets a name and state, which go at the end of its entry */
	rt.dev[0].state = RT_PLUGGED;
	free(rt.dev[0].name);
	rt.dev[0].name = NULL;
	rt.dev[1].state = RT_UNPLUGGING;
	rt.dev[1].name = strdup("second");
	out = format_ok(&rt);
	ck_assert_ptr_null(strstr(out, "first"));
	ck_assert_ptr_nonnull(strstr(out, "  discard: unmap\n  name: second\n"
	    "  state: unplugging\n"));
	ck_assert_ptr_null(strstr(strstr(out, "state:") + 1, "state:"));
	runtime_close(&rt);

	parse_ok(&rt, out);
	free(out);
	ck_assert_int_eq(rt.dev[0].state, RT_PLUGGED);
	ck_assert_ptr_null(rt.dev[0].name);
	ck_assert_int_eq(rt.dev[1].state, RT_UNPLUGGING);
	ck_assert_str_eq(rt.dev[1].name, "second");
	runtime_close(&rt);
}
END_TEST

/* The VM the file belongs to: read in lower case, written after version
 * where the file had them, after everything else where it had not. */
START_TEST(test_vm_identity)
{
	struct runtime rt;
	char *out;

	parse_ok(&rt, "version: 1\nvm-name: 'vm 1'\nvm-uuid: 003FC157-66A8-4E6D-8B7E-EC4F69751396\ndevices: []\n");
	ck_assert_str_eq(rt.vm_name, "vm 1");
	ck_assert_str_eq(rt.vm_uuid, U1);
	out = format_ok(&rt);
	ck_assert_str_eq(out, "version: 1\nvm-name: vm 1\nvm-uuid: " U1
			 "\ndevices: []\nreserved-slots: [0, 1, 2, 3]\n");
	free(out);
	runtime_close(&rt);

	parse_ok(&rt, HDR DISK(U1, "d1", "5"));
	ck_assert_ptr_null(rt.vm_name);
	ck_assert_str_eq(rt.vm_uuid, "");
	out = format_ok(&rt);
	ck_assert_ptr_null(strstr(out, "vm-"));
	free(out);
	rt.vm_name = strdup("b");
	out = format_ok(&rt);
	ck_assert_ptr_nonnull(strstr(out, "  discard: unmap\nvm-name: b\n"));
	free(out);
	runtime_close(&rt);
}
END_TEST

/* Strings that YAML would take apart, retype or trim if written plain. */
static const char *const hostile[] = {
	"/srv/a: b", "/srv/#x", "/srv/x #y", "#start", "'single'",
	"\"double\"", "it's", "back\\slash", "line\nbreak", "\n\nbreaks\n\n",
	" leading", "trailing ", "  both  ", "\ttab", "tab\t", "cr\rcr",
	"crlf\r\n", "ctl\x01\x1f\x7f", "ünïcödé/日本語/😀", "\xef\xbb\xbf" "bom",
	"- dash", "-", "? q", ":", "[x]", "{y}", "*star", "&amp", "!bang",
	"%pct", "@at", "`tick", "|pipe", ">gt", ",comma", "---", "...",
	"null", "~", "true", "No", "OFF", "y", "123", "0x1F", "0o17", "1e3",
	"-1.5", ".inf", "-.Inf", ".NaN", "12:30:00", "2001-12-14", "1_000",
	"=", "<<", "", " ", "a  b", "x:y", "x: ", "\\x41", "\u2028sep",
	"\xc2\x85" "nel",
};

START_TEST(test_hostile_strings)
{
	const char *s = hostile[_i];
	struct runtime rt, back;
	char *out, *again;

	runtime_init(&rt);
	add_disk(&rt, U1, "d1", 5, "/x");
	/* a path must be absolute, a name may be anything */
	free(rt.dev[0].path);
	ck_assert_int_ne(asprintf(&rt.dev[0].path, "/%s", s), -1);
	rt.dev[0].name = strdup(s);
	out = format_ok(&rt);
	parse_ok(&back, out);
	ck_assert_str_eq(back.dev[0].name, s);
	ck_assert_str_eq(back.dev[0].path, rt.dev[0].path);
	again = format_ok(&back);
	ck_assert_str_eq(out, again);
	free(out);
	free(again);
	runtime_close(&back);
	runtime_close(&rt);
}
END_TEST

START_TEST(test_quoting)
{
	struct runtime rt;
	char *out;

	runtime_init(&rt);
	add_disk(&rt, U1, "d1", 5, "123");
	rt.dev[0].name = strdup("");
	out = format_ok(&rt);
	ck_assert_ptr_nonnull(strstr(out, "  name: ''\n"));
	ck_assert_ptr_nonnull(strstr(out, "  path: '123'\n"));
	ck_assert_ptr_nonnull(strstr(out, "  slot: 5\n"));
	free(out);
	free(rt.dev[0].path);
	rt.dev[0].path = strdup("/a\nb");
	free(rt.dev[0].name);
	rt.dev[0].name = strdup("\x01");
	out = format_ok(&rt);
	ck_assert_ptr_nonnull(strstr(out, "  name: \"\\x01\"\n"));
	free(out);

	/* long values are not folded over several lines */
	free(rt.dev[0].path);
	rt.dev[0].path = malloc(401);
	for (int i = 0; i < 400; i++)
		rt.dev[0].path[i] = i % 7 == 6 ? ' ' : 'a' + i % 7;
	rt.dev[0].path[400] = '\0';
	out = format_ok(&rt);
	ck_assert_ptr_nonnull(strstr(out, rt.dev[0].path));
	free(out);
	runtime_close(&rt);
}
END_TEST

START_TEST(test_format_bad_utf8)
{
	struct runtime rt;
	struct error e = { 0 };
	char *out = NULL;
	size_t len;

	runtime_init(&rt);
	add_disk(&rt, U1, "d1", 5, "/srv/latin1-\xe9t\xe9.img");
	ck_assert_int_eq(runtime_format(&rt, &out, &len, &e), KH_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "not valid UTF-8"));
	ck_assert_ptr_null(out);
	runtime_close(&rt);
}
END_TEST

struct bad_case {
	const char *text;
	int line;
	const char *phrase;
};

static const struct bad_case bad_cases[] = {
	/* syntax, as libyaml reports it */
	{ "version: 1\nfoo: bar: baz\n", 2, "mapping values are not allowed" },
	{ "version: 1\nreserved-slots: [0, 1", 2,
	  "did not find expected ',' or ']'" },
	{ "version: 1\ndevices:\n  - kind: \"dis", 3,
	  "found unexpected end of stream" },
	{ "version: 1\nx: \xff\n", 2, "invalid leading UTF-8 octet" },
	{ "version: 1\nx: a\x01z\n", 2, "control characters are not allowed" },
	/* a byte order mark, named as such */
	{ "\xef\xbb\xbfversion: 1\n", 1, "starts with a UTF-8 byte order mark" },
	{ "\xef\xbb\xbf[[], [], {}, []]\n", 1, "starts with a UTF-8 byte order mark" },
	/* documents */
	{ "", 1, "file is empty" },
	{ "  \n\n \n", 1, "file is empty" },
	{ "\n\n\tversion: 1\n", 3, "cannot start any token" },
	{ "# only a comment\n", 1, "file is empty" },
	{ "version: 1\n---\nversion: 1\n", 2, "more than one document" },
	{ "- version\n- 1\n", 1, "top level must be a mapping" },
	{ "\n\nversion 1\n", 3, "top level must be a mapping" },
	{ "---\n", 1, "top level must be a mapping" },
	/* YAML features refused */
	{ "version: 1\nx: &a 1\n", 2, "aliases are not supported" },
	{ "version: 1\nx: *a\n", 2, "aliases are not supported" },
	{ "version: !!int 1\n", 1, "tags are not supported" },
	{ "version: 1\nx: !local {}\n", 2, "tags are not supported" },
	{ "%TAG !e! tag:example.com,2000:\n---\nversion: 1\n", 1,
	  "tags are not supported" },
	{ "version: 1\n? [a]\n: b\n", 2, "mapping key must be a scalar" },
	{ "version: 1\nx: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	  "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
	  "]]]]]]]]]]]]]]]]]]]]]]]]]\n", 2, "nested more than 64 levels" },
	/* duplicate keys */
	{ "version: 1\nfoo: 1\nfoo: 2\n", 3, "duplicate key 'foo' (lines 2 and 3)" },
	{ "version: 1\nx: {a: 1, b: 2, a: 3}\n", 2, "duplicate key 'a'" },
	{ HDR DISK(U1, "d1", "5") "    slot: 6\n", 14, "duplicate key 'slot'" },
	{ "version: 1\n\"version\": 1\n", 2, "duplicate key 'version'" },
	/* version */
	{ "devices: []\n", 1, "missing key 'version'" },
	{ "version: 2\n", 1, "unsupported version '2'" },
	{ "version: \"1\"\n", 1, "unsupported version '1'" },
	{ "version: 1.0\n", 1, "unsupported version '1.0'" },
	{ "x: 1\nversion: [1]\n", 2, "unsupported version '[...]'" },
	/* the VM */
	{ "version: 1\nvm-name: 12\n", 2,
	  "vm-name must be a string, not '12' (quote it if it is one)" },
	{ "version: 1\nvm-name: ''\n", 2, "invalid vm-name ''" },
	{ "version: 1\nvm-name: [a]\n", 2, "vm-name must be a string" },
	{ "version: 1\nvm-uuid: 003fc157\n", 2, "invalid vm-uuid '003fc157'" },
	/* reserved-slots and devices */
	{ "version: 1\nreserved-slots: [0, x]\n", 2,
	  "reserved slot must be an unquoted number 0-31, not 'x'" },
	{ "version: 1\nreserved-slots:\n  - 1\n  - 32\n", 4,
	  "reserved slot must be an unquoted number 0-31, not '32'" },
	{ "version: 1\nreserved-slots: 3\n", 2, "must be a sequence" },
	{ "version: 1\ndevices: {}\n", 2, "devices must be a sequence" },
	{ "version: 1\ndevices:\n", 2, "devices must be a sequence" },
	{ "version: 1\ndevices:\n  - foo\n", 3, "a device must be a mapping" },
	{ "version: 1\ndevices:\n  - [kind, disk]\n", 3,
	  "a device must be a mapping" },
	/* slot */
	{ HDR DISK(U1, "d1", "abc"), 7, "slot must be an unquoted number 0-31" },
	{ HDR DISK(U1, "d1", "\"5\""), 7, "slot must be an unquoted number" },
	{ HDR DISK(U1, "d1", "40"), 7, "0-31, not '40'" },
	{ HDR DISK(U1, "d1", "-1"), 7, "0-31, not '-1'" },
	{ HDR DISK(U1, "d1", "05"), 7, "0-31, not '05'" },
	{ HDR DISK(U1, "d1", "5.0"), 7, "0-31, not '5.0'" },
	{ HDR DISK(U1, "d1", "{}"), 7, "0-31, not '{...}'" },
	/* missing keys: the line of the device */
	{ HDR "  - uuid: " U1 "\n", 3, "lacks required key 'kind'" },
	{ HDR "  - kind: nic\n    uuid: " U1 "\n    id: n1\n    bus: pci.0\n"
	  "    slot: 5\n", 3, "lacks required key 'driver'" },
	{ HDR "  - kind: disk\n    uuid: " U1 "\n    id: d1\n    bus: pci.0\n"
	  "    slot: 5\n    driver: virtio-blk-pci\n", 3,
	  "lacks required key 'path'" },
	{ HDR DISK(U1, "d1", "5") "  -\n    kind: disk\n    uuid: " U2 "\n",
	  15, "lacks required key 'id'" },
	/* values */
	{ HDR DISK("003fc157-66a8-4e6d-8b7e", "d1", "5"), 4,
	  "invalid uuid '003fc157-66a8-4e6d-8b7e'" },
	{ HDR DISK("003fc157-66a8-4e6d-8b7e-ec4f6975139x", "d1", "5"), 4,
	  "invalid uuid" },
	{ HDR DISK(U1, "1disk", "5"), 5, "invalid id '1disk'" },
	{ HDR DISK(U1, "d1-with-an-id-that-is-too-long-for-qemu", "5"), 5,
	  "invalid id" },
	{ HDR DISK(U1, "d/1", "5"), 5, "invalid id 'd/1'" },
	{ HDR "  - kind: router\n", 3,
	  "invalid kind 'router' (expected disk or nic)" },
	{ HDR "  - kind: Disk\n", 3, "invalid kind 'Disk'" },
	{ HDR "  - kind: disk\n    uuid: " U1 "\n    id: d1\n    bus: pci 0\n",
	  6, "invalid bus 'pci 0'" },
	{ HDR "  - kind: disk\n    uuid: " U1 "\n    id: d1\n    bus: ''\n",
	  6, "invalid bus ''" },
	{ HDR "  - kind: disk\n    uuid: " U1 "\n    id: d1\n"
	  "    bus: pci.0123456789012345678901234567890\n", 6,
	  "bus is longer than 31 bytes" },
	{ HDR "  - kind: nic\n    uuid: " U1 "\n    id: n1\n    bus: pci.0\n"
	  "    slot: 5\n    driver: 123\n", 8,
	  "driver must be a string, not '123' (quote it if it is one)" },
	{ HDR "  - kind: nic\n    uuid: " U1 "\n    id: n1\n    bus: pci.0\n"
	  "    slot: 5\n    driver: ''\n", 8, "invalid driver ''" },
	{ HDR "  - kind: nic\n    uuid: " U1 "\n    id: n1\n    bus: pci.0\n"
	  "    slot: 5\n    driver: [a]\n", 8, "driver must be a string" },
	{ HDR "  - kind: nic\n    uuid: " U1 "\n    id: n1\n    bus: pci.0\n"
	  "    slot: 5\n    driver: virtio-net-pci\n    name: true\n", 9,
	  "name must be a string, not 'true'" },
	{ HDR "  - kind: nic\n    uuid: " U1 "\n    id: n1\n    bus: pci.0\n"
	  "    slot: 5\n    driver: virtio-net-pci\n    name:\n", 9,
	  "name must be a string, not ''" },
	{ HDR "  - kind: nic\n    uuid: " U1 "\n    id: n1\n    bus: pci.0\n"
	  "    slot: 5\n    driver: virtio-net-pci\n    state: gone\n", 9,
	  "invalid state 'gone' (expected plugged or unplugging)" },
	{ HDR "  - kind: disk\n    uuid: " U1 "\n    id: d1\n    bus: pci.0\n"
	  "    slot: 5\n    driver: virtio-blk-pci\n    path: \"/a\\0b\"\n",
	  9, "path contains a NUL byte" },
	{ HDR "  - kind: disk\n    uuid: " U1 "\n    id: d1\n    bus: pci.0\n"
	  "    slot: 5\n    driver: virtio-blk-pci\n    path: ''\n", 9,
	  "invalid path '' (must be an absolute path)" },
	/* a relative path means another file from another directory */
	{ HDR "  - kind: disk\n    uuid: " U1 "\n    id: d1\n    bus: pci.0\n"
	  "    slot: 5\n    driver: virtio-blk-pci\n    path: d.img\n", 9,
	  "invalid path 'd.img' (must be an absolute path)" },
	{ HDR "  - kind: disk\n    uuid: " U1 "\n    id: d1\n    bus: pci.0\n"
	  "    slot: 5\n    driver: virtio-blk-pci\n    path: /d.img\n"
	  "    format: vmdk\n", 10,
	  "invalid format 'vmdk' (expected raw or qcow2)" },
	{ HDR "  - kind: disk\n    uuid: " U1 "\n    id: d1\n    bus: pci.0\n"
	  "    slot: 5\n    driver: virtio-blk-pci\n    path: /d.img\n"
	  "    format: raw\n    cache: always\n", 11, "invalid cache 'always' "
	  "(expected default, none, writeback, writethrough or unsafe)" },
	{ HDR "  - kind: disk\n    uuid: " U1 "\n    id: d1\n    bus: pci.0\n"
	  "    slot: 5\n    driver: virtio-blk-pci\n    path: /d.img\n"
	  "    format: raw\n    cache: none\n    mode: wo\n", 12,
	  "invalid mode 'wo' (expected rw or ro)" },
	{ HDR "  - kind: disk\n    uuid: " U1 "\n    id: d1\n    bus: pci.0\n"
	  "    slot: 5\n    driver: virtio-blk-pci\n    path: /d.img\n"
	  "    format: raw\n    cache: none\n    mode: rw\n    discard: on\n",
	  13, "discard must be a string, not 'on'" },
	/* between devices */
	{ HDR DISK(U1, "d1", "5") DISK(U1, "d2", "6"), 14,
	  "duplicate uuid " U1 " (lines 3 and 14)" },
	{ HDR DISK(U1, "d1", "5")
	  DISK("003FC157-66A8-4E6D-8B7E-EC4F69751396", "d2", "6"), 14,
	  "duplicate uuid" },
	{ HDR DISK(U1, "d1", "5") DISK(U2, "d1", "6"), 14,
	  "duplicate id d1 (lines 3 and 14)" },
	{ HDR DISK(U2, "d2", "5") DISK(U1, "d1", "5"), 14,
	  "two devices on pci.0 slot 5 (lines 3 and 14)" },
	{ HDR DISK(U1, "d1", "2"), 7, "slot 2 on pci.0 is reserved" },
	/* a nic's own keys (lines 9 on) */
	{ HDR NIC_BASE, 3, "lacks required key 'mac'" },
	{ HDR NIC_BASE "    mac: 01:00:5e:00:00:01\n", 9,
	  "invalid mac '01:00:5e:00:00:01'" },
	{ HDR NIC_BASE "    mac: 52-54-00-12-34-56\n", 9, "invalid mac" },
	{ HDR NIC_BASE "    mac: 52:54:00:12:34:56\n", 9,
	  "mac must be a string, not '52:54:00:12:34:56' (quote it" },
	{ HDR NIC_BASE "    mac: aa:bb:cc:dd:ee:ff\n    mode: bridge\n", 10,
	  "invalid mode 'bridge' (expected bridged, routed or openvswitch)" },
	{ HDR NIC_BASE "    mac: aa:bb:cc:dd:ee:ff\n    mode: routed\n"
	  "    tap: tap/0\n", 11, "invalid tap 'tap/0'" },
	{ HDR NIC_BASE "    mac: aa:bb:cc:dd:ee:ff\n    mode: routed\n"
	  "    tap: tap0\n    queues: 0\n", 12, "queues must be an unquoted "
	  "number 1-16, not '0'" },
	{ HDR NIC_BASE "    mac: aa:bb:cc:dd:ee:ff\n    mode: routed\n"
	  "    tap: tap0\n    queues: 17\n", 12, "1-16, not '17'" },
	{ HDR NIC_BASE "    mac: aa:bb:cc:dd:ee:ff\n    mode: routed\n"
	  "    tap: tap0\n    queues: 1\n    vhost: on\n", 13,
	  "vhost must be a string, not 'on'" },
	{ HDR NIC_BASE "    mac: aa:bb:cc:dd:ee:ff\n    mode: routed\n"
	  "    tap: tap0\n    queues: 1\n    vhost: auto\n", 13,
	  "invalid vhost 'auto' (expected on or off)" },
	{ "version: 1\nreserved-slots: [9]\ndevices:\n"
	  "  - kind: nic\n    uuid: " U1 "\n    id: n1\n    bus: pci.0\n"
	  "    slot: 9\n    driver: virtio-net-pci\n" NIC_KEYS, 8,
	  "slot 9 on pci.0 is reserved" },
	/* buses */
	{ "version: 1\nbuses: br1\n", 2, "buses must be a sequence of at "
	  "least one bus" },
	{ "version: 1\nbuses: []\n", 2, "buses must be a sequence" },
	{ "version: 1\nbuses: [br1, 'br/2']\n", 2, "invalid a bus's name "
	  "'br/2'" },
	{ "version: 1\nbuses: [br1, 12]\n", 2, "a bus's name must be a "
	  "string, not '12'" },
	{ "version: 1\nbuses: [br1, br1]\n", 2, "bus br1 is listed twice" },
	{ "version: 1\nfd-pass: sometimes\n", 2, "invalid fd-pass 'sometimes' "
	  "(expected auto, always or never)" },
	{ "version: 1\nfd-pass: [always]\n", 2, "fd-pass must be a string" },
	{ HDR NIC_BASE "    mac: aa:bb:cc:dd:ee:ff\n    mode: routed\n"
	  "    tap: tap0\n    queues: 1\n    vhost: 'on'\n    rom: none\n", 14,
	  "invalid rom 'none' (expected off)" },
	{ "version: 1\nbuses:\n  - reserved-slots: [1]\n", 3,
	  "a bus lacks its name" },
	{ "version: 1\nbuses:\n  - {name: br1, slots: [1]}\n", 3,
	  "a bus has name and reserved-slots, not 'slots'" },
	{ "version: 1\nbuses:\n  - {name: br1, reserved-slots: [32]}\n", 3,
	  "a reserved slot must be an unquoted number 0-31" },
	{ "version: 1\nbuses:\n  - {name: pci.0, reserved-slots: [5]}\n", 3,
	  "pci.0's reserved slots are the file's reserved-slots" },
	{ "version: 1\nbuses: [{name: br1, reserved-slots: [2]}]\ndevices:\n"
	  "  - kind: nic\n    uuid: " U1 "\n    id: n1\n    bus: br1\n"
	  "    slot: 2\n    driver: virtio-net-pci\n" NIC_KEYS, 8,
	  "slot 2 on br1 is reserved" },
};

START_TEST(test_validation)
{
	const struct bad_case *c = &bad_cases[_i];
	struct runtime rt;
	struct error e = { 0 };
	char prefix[64];

	runtime_init(&rt);
	ck_assert_int_eq(runtime_parse(&rt, "rt.yaml", c->text,
				       strlen(c->text), &e), KH_EUSAGE);
	ck_assert_int_eq(e.code, KH_EUSAGE);
	snprintf(prefix, sizeof(prefix), "rt.yaml: line %d: ", c->line);
	ck_assert_msg(strncmp(e.msg, prefix, strlen(prefix)) == 0,
		      "case %d: want line %d, got: %s", _i, c->line, e.msg);
	ck_assert_msg(strstr(e.msg, c->phrase) != NULL,
		      "case %d: want '%s', got: %s", _i, c->phrase, e.msg);
	ck_assert_ptr_null(strchr(e.msg, '\n'));
	/* a failed parse leaves nothing behind */
	ck_assert_uint_eq(rt.ndev, 0);
	ck_assert_ptr_null(rt.codec_data);
	runtime_close(&rt);
}
END_TEST

START_TEST(test_valid_edge_cases)
{
	struct runtime rt;

	/* slots free when not reserved; block style reserved-slots; quoted
	 * strings where strings are wanted; other buses ignore reserved */
	parse_ok(&rt, "version: 1\nreserved-slots:\n  - 0\n  - 31\ndevices:\n"
	    "  - {kind: 'nic', uuid: \"" U1 "\", id: n1, bus: pci.0, slot: 2,"
	    " driver: 'virtio-net-pci', state: 'plugged', mac: '52:54:00:00:00:01',"
	    " mode: bridged, tap: t1, queues: 1, vhost: 'off'}\n"
	    "  - kind: nic\n    uuid: " U2 "\n    id: n2\n    bus: pci.1\n"
	    "    slot: 0\n    driver: e1000\n" NIC_KEYS
	    "...\n");
	ck_assert_uint_eq(rt.reserved, 0x80000001u);
	ck_assert_uint_eq(runtime_used_slots(&rt, "pci.0"), 0x80000005u);
	ck_assert_uint_eq(runtime_used_slots(&rt, "pci.1"), 0x1u);
	ck_assert_uint_eq(runtime_used_slots(&rt, "pci.2"), 0);
	ck_assert_str_eq(rt_kind_name(rt.dev[0].kind), "nic");
	ck_assert_str_eq(rt_kind_name(RT_DISK), "disk");
	runtime_close(&rt);
}
END_TEST

/* The buses a file allows, in its order, each with its reserved slots;
 * the tool keeps the key as written (it never changes it). */
START_TEST(test_buses)
{
	static const char text[] = "version: 1\nreserved-slots: [0, 1]\n"
		"buses:\n  - rp2\n  - {name: br1, reserved-slots: [1, 31]}\n"
		"  - pci.0\n";
	struct runtime rt;
	char *out;

	parse_ok(&rt, text);
	ck_assert_uint_eq(rt.nbuses, 3);
	ck_assert_str_eq(rt.buses[0].name, "rp2");
	ck_assert_uint_eq(rt.buses[0].reserved, 0);
	ck_assert_str_eq(rt.buses[1].name, "br1");
	ck_assert_uint_eq(rt.buses[1].reserved, 0x80000002u);
	ck_assert_uint_eq(runtime_reserved(&rt, "br1"), 0x80000002u);
	ck_assert_uint_eq(runtime_reserved(&rt, "pci.0"), 0x3u);
	ck_assert_uint_eq(runtime_reserved(&rt, "rp9"), 0);
	ck_assert_uint_eq(runtime_used_slots(&rt, "br1"), 0x80000002u);
	ck_assert_str_eq(rt.fd_pass, "");
	out = format_ok(&rt);
	ck_assert_ptr_nonnull(strstr(out, "buses:\n- rp2\n- {name: br1, "
				     "reserved-slots: [1, 31]}\n- pci.0\n"));
	free(out);
	runtime_close(&rt);
}
END_TEST

/* fd-pass: how disks reach QEMU, kept as written; auto is no word of
 * its own. A NIC's rom: off. */
START_TEST(test_fd_pass_and_rom)
{
	struct runtime rt;
	char *out;

	parse_ok(&rt, "version: 1\nfd-pass: always\ndevices:\n"
		 "  - kind: nic\n    uuid: " U1 "\n    id: n1\n    bus: pci.0\n"
		 "    slot: 5\n    driver: virtio-net-pci\n" NIC_KEYS
		 "    rom: 'off'\n");
	ck_assert_str_eq(rt.fd_pass, "always");
	ck_assert_str_eq(rt.dev[0].rom, "off");
	out = format_ok(&rt);
	ck_assert_ptr_nonnull(strstr(out, "fd-pass: always\n"));
	ck_assert_ptr_nonnull(strstr(out, "  rom: 'off'\n"));
	free(out);
	runtime_close(&rt);
	parse_ok(&rt, "version: 1\nfd-pass: auto\n");
	ck_assert_str_eq(rt.fd_pass, "");
	runtime_close(&rt);
}
END_TEST

/* Every prefix of a valid file either parses or fails cleanly. */
START_TEST(test_truncations)
{
	size_t len = strlen(full);

	for (size_t n = 0; n <= len; n++) {
		struct runtime rt;
		struct error e = { 0 };
		int rc;

		runtime_init(&rt);
		rc = runtime_parse(&rt, "cut", full, n, &e);
		ck_assert_msg(rc == KH_OK || (rc == KH_EUSAGE &&
		    strncmp(e.msg, "cut: line ", 10) == 0),
		    "at %zu: %d %s", n, rc, e.msg);
		runtime_close(&rt);
	}
}
END_TEST

START_TEST(test_too_large)
{
	size_t len = 16 * 1024 * 1024 + 1;
	char *big = malloc(len);
	struct runtime rt;
	struct error e = { 0 };

	ck_assert_ptr_nonnull(big);
	memset(big, ' ', len);
	runtime_init(&rt);
	ck_assert_int_eq(runtime_parse(&rt, "big", big, len, &e), KH_EUSAGE);
	ck_assert_str_eq(e.msg, "big: larger than 16 MiB, refusing to read it");
	free(big);
	runtime_close(&rt);
}
END_TEST

START_TEST(test_parse_replaces)
{
	struct runtime rt;
	struct error e = { 0 };

	parse_ok(&rt, full);
	ck_assert_int_eq(runtime_parse(&rt, "t", "version: 1\n", 11, &e),
			 KH_OK);
	ck_assert_uint_eq(rt.ndev, 0);
	runtime_close(&rt);
	runtime_close(&rt);	/* twice is harmless */
}
END_TEST

/* --- files --- */

static void make_tmpdir(void)
{
	scratch_dir_make(tmpdir, sizeof(tmpdir), "test_runtime");
}

static void remove_tmpdir(void)
{
	scratch_dir_remove(tmpdir);
}

static char *in_tmp(const char *name)
{
	static char path[2][256];
	static int which;

	which = !which;
	snprintf(path[which], sizeof(path[which]), "%s/%s", tmpdir, name);
	return path[which];
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (int)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

static char *read_text(const char *path)
{
	static char buf[65536];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, sizeof(buf) - 1);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	close(fd);
	return buf;
}

/* Files in tmpdir whose names start with prefix. */
static int count_files(const char *prefix)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

/* Locks and loads path, which must exist unless create. */
static void open_runtime(struct runtime *rt, const char *path, bool create)
{
	struct error e = { 0 };

	runtime_init(rt);
	ck_assert_msg(runtime_lock(rt, path, HANG_MS, &e) == KH_OK, "%s", e.msg);
	ck_assert_msg(runtime_load(rt, create, &e) == KH_OK, "%s", e.msg);
}

START_TEST(test_prepare_commit)
{
	char *path = in_tmp("keep-mode");
	struct runtime rt;
	struct error e = { 0 };
	struct stat before, tmp, after;
	char *out;

	write_file(path, full, 0640);
	ck_assert_int_eq(stat(path, &before), 0);
	open_runtime(&rt, path, false);
	ck_assert(rt.exists);
	runtime_remove_device(&rt, 1);
	out = format_ok(&rt);

	ck_assert_msg(runtime_prepare(&rt, &e) == KH_OK, "%s", e.msg);
	ck_assert_ptr_nonnull(rt.tmp_path);
	ck_assert_ptr_nonnull(strstr(rt.tmp_path, "/.keep-mode.tmp."));
	ck_assert_int_eq(stat(rt.tmp_path, &tmp), 0);
	ck_assert_uint_eq(tmp.st_mode & 07777, 0640);
	ck_assert_str_eq(read_text(rt.tmp_path), out);
	ck_assert_str_eq(read_text(path), full);	/* nothing visible yet */

	ck_assert_msg(runtime_commit(&rt, &e) == KH_OK, "%s", e.msg);
	ck_assert_ptr_null(rt.tmp_path);
	ck_assert_int_eq(stat(path, &after), 0);
	ck_assert_uint_eq(after.st_mode & 07777, 0640);
	ck_assert_uint_eq(after.st_uid, before.st_uid);
	ck_assert(after.st_ino != before.st_ino);	/* replaced, not rewritten */
	ck_assert_str_eq(read_text(path), out);
	ck_assert_int_eq(count_files(".keep-mode"), 0);
	free(out);
	runtime_close(&rt);
}
END_TEST

START_TEST(test_new_file)
{
	char *path = in_tmp("new"), *text;
	struct runtime rt, back;
	struct error e = { 0 };
	struct stat st;
	mode_t old = umask(0);

	runtime_init(&rt);
	ck_assert_int_eq(runtime_load(&rt, true, &e), KH_EFAIL); /* no path */
	open_runtime(&rt, path, true);
	umask(old);
	ck_assert(!rt.exists);
	ck_assert_uint_eq(rt.ndev, 0);
	ck_assert_int_ne(access(path, F_OK), 0);
	add_disk(&rt, U1, "d1", 4, "/d.img");
	ck_assert_int_eq(runtime_prepare(&rt, &e), KH_OK);
	ck_assert_int_eq(runtime_commit(&rt, &e), KH_OK);
	ck_assert(rt.exists);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(stat(in_tmp("new.lock"), &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	text = read_text(path);
	parse_ok(&back, text);
	runtimes_equal(&rt, &back);
	runtime_close(&back);
	runtime_close(&rt);
}
END_TEST

START_TEST(test_discard)
{
	char *path = in_tmp("discard"), *tmp;
	struct runtime rt;
	struct error e = { 0 };

	write_file(path, full, 0600);
	open_runtime(&rt, path, false);
	runtime_remove_device(&rt, 0);
	ck_assert_int_eq(runtime_prepare(&rt, &e), KH_OK);
	tmp = strdup(rt.tmp_path);
	ck_assert_int_eq(access(tmp, F_OK), 0);
	runtime_discard(&rt);
	ck_assert_ptr_null(rt.tmp_path);
	ck_assert_int_ne(access(tmp, F_OK), 0);
	ck_assert_str_eq(read_text(path), full);
	runtime_discard(&rt);	/* again: nothing to do */
	ck_assert_int_eq(runtime_commit(&rt, &e), KH_EFAIL);

	/* runtime_close discards too */
	ck_assert_int_eq(runtime_prepare(&rt, &e), KH_OK);
	free(tmp);
	tmp = strdup(rt.tmp_path);
	runtime_close(&rt);
	ck_assert_int_ne(access(tmp, F_OK), 0);
	ck_assert_str_eq(read_text(path), full);
	ck_assert_int_eq(count_files(".discard"), 0);
	free(tmp);
}
END_TEST

/* Another writer replaced the file while this run held it: the commit
 * applies this run's changes (a removal, a new device, a changed one) to
 * the new file, keeping the other writer's (a device it added, a key),
 * and an intent record names the new prepared file. */
START_TEST(test_other_writer)
{
	char *path = in_tmp("shared"), *other = in_tmp("shared.new");
	struct runtime rt, back;
	struct error e = { 0 };
	json_t *in;

	write_file(path, HDR DISK(U1, "d1", "5") DISK(U2, "d2", "6"), 0600);
	open_runtime(&rt, path, false);
	/* this run: removes d1, marks d2 unplugging, adds d3 */
	runtime_remove_device(&rt, 0);
	rt.dev[0].state = RT_UNPLUGGING;
	add_disk(&rt, U3, "d3", 7, "/d3.img");
	ck_assert_int_eq(runtime_prepare(&rt, &e), KH_OK);
	in = json_pack("{s:s, s:s}", "op", "add", "prepared", rt.tmp_path);
	ck_assert_int_eq(runtime_intent_write(&rt, in, &e), KH_OK);
	json_decref(in);
	/* meanwhile: another writer adds d4 and a key of its own */
	write_file(other, "version: 1\nowner: other\ndevices:\n"
		   DISK(U1, "d1", "5") DISK(U2, "d2", "6") DISK(U4, "d4", "8"), 0600);
	ck_assert_int_eq(rename(other, path), 0);
	ck_assert_msg(runtime_commit(&rt, &e) == KH_OK, "%s", e.msg);
	ck_assert_int_eq(runtime_intent_read(&rt, &in, &e), KH_OK);
	ck_assert_str_ne(json_string_value(json_object_get(in, "prepared")), "");
	ck_assert_int_ne(access(json_string_value(json_object_get(in, "prepared")), F_OK), 0);
	json_decref(in);
	runtime_intent_clear(&rt);
	runtime_close(&rt);

	open_runtime(&back, path, false);
	ck_assert_uint_eq(back.ndev, 3);
	ck_assert_ptr_null(runtime_find_uuid(&back, U1));
	ck_assert_int_eq(runtime_find_uuid(&back, U2)->state, RT_UNPLUGGING);
	ck_assert_int_eq(runtime_find_uuid(&back, U3)->slot, 7);
	ck_assert_int_eq(runtime_find_uuid(&back, U4)->slot, 8);
	ck_assert_ptr_nonnull(strstr(read_text(path), "owner: other"));
	/* a second commit with nothing changed meanwhile just writes */
	runtime_remove_device(&back, 0);
	ck_assert_int_eq(runtime_prepare(&back, &e), KH_OK);
	ck_assert_int_eq(runtime_commit(&back, &e), KH_OK);
	runtime_close(&back);
	open_runtime(&back, path, false);
	ck_assert_uint_eq(back.ndev, 2);
	runtime_close(&back);

	/* the same slot taken by both: refused, the other file stays */
	write_file(path, HDR DISK(U1, "d1", "5"), 0600);
	open_runtime(&rt, path, false);
	add_disk(&rt, U3, "d3", 7, "/d3.img");
	ck_assert_int_eq(runtime_prepare(&rt, &e), KH_OK);
	write_file(other, HDR DISK(U1, "d1", "5") DISK(U4, "d4", "7"), 0600);
	ck_assert_int_eq(rename(other, path), 0);
	ck_assert_int_eq(runtime_commit(&rt, &e), KH_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "another writer changed"));
	ck_assert_ptr_nonnull(strstr(read_text(path), "id: d4"));
	ck_assert_int_eq(count_files(".shared"), 0);
	runtime_close(&rt);
}
END_TEST

START_TEST(test_commit_fails)
{
	char *path = in_tmp("onto-dir");
	struct runtime rt;
	struct error e = { 0 };
	struct stat st;

	open_runtime(&rt, path, true);
	ck_assert_int_eq(runtime_prepare(&rt, &e), KH_OK);
	ck_assert_int_eq(unlink(rt.tmp_path), 0);	/* now rename must fail */
	ck_assert_int_eq(runtime_commit(&rt, &e), KH_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "cannot replace"));
	ck_assert_ptr_null(rt.tmp_path);
	ck_assert_int_ne(access(path, F_OK), 0);
	runtime_close(&rt);

	/* what another writer put there is not replaced by this run's file */
	open_runtime(&rt, path, true);
	ck_assert_int_eq(runtime_prepare(&rt, &e), KH_OK);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	error_clear(&e);
	ck_assert_int_eq(runtime_commit(&rt, &e), KH_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "another writer changed"));
	ck_assert_ptr_nonnull(strstr(e.msg, "not a regular file"));
	ck_assert_ptr_null(rt.tmp_path);
	ck_assert_int_eq(count_files(".onto-dir"), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	runtime_close(&rt);
}
END_TEST

START_TEST(test_prepare_refuses_invalid)
{
	char *path = in_tmp("invalid");
	struct runtime rt;
	struct error e = { 0 };

	write_file(path, full, 0600);
	open_runtime(&rt, path, false);
	rt.dev[0].slot = 6;	/* where the nic is */
	ck_assert_int_eq(runtime_prepare(&rt, &e), KH_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "refusing to write"));
	ck_assert_ptr_nonnull(strstr(e.msg, "two devices on pci.0 slot 6"));
	ck_assert_ptr_null(rt.tmp_path);
	ck_assert_int_eq(count_files(".invalid"), 0);
	ck_assert_str_eq(read_text(path), full);
	runtime_close(&rt);
}
END_TEST

START_TEST(test_load_errors)
{
	char *path = in_tmp("load");
	struct runtime rt;
	struct error e = { 0 };
	int fd;

	runtime_init(&rt);
	rt.path = strdup(path);	/* as runtime_lock would */
	ck_assert_int_eq(runtime_load(&rt, false, &e), KH_EUSAGE);
	ck_assert_str_eq(strstr(e.msg, "load: "), "load: no such runtime file");

	write_file(path, "version: 1\ndevices: {}\n", 0600);
	ck_assert_int_eq(runtime_load(&rt, true, &e), KH_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "/load: line 2: devices must be"));
	ck_assert(!rt.exists);

	write_file(path, "", 0600);
	ck_assert_int_eq(runtime_load(&rt, true, &e), KH_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "line 1: file is empty"));

	/* over the size limit, and sparse: cheap to make */
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_eq(ftruncate(fd, 17 * 1024 * 1024), 0);
	close(fd);
	ck_assert_int_eq(runtime_load(&rt, false, &e), KH_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "larger than 16 MiB"));

	unlink(path);
	ck_assert_int_eq(symlink("/etc/hostname", path), 0);
	ck_assert_int_eq(runtime_load(&rt, false, &e), KH_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "a symlink, which the rewrite would "
				     "replace by a file"));
	unlink(path);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(runtime_load(&rt, false, &e), KH_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "not a regular file"));
	unlink(path);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(runtime_load(&rt, true, &e), KH_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "not a regular file"));

	write_file(in_tmp("load-ok"), full, 0600);
	free(rt.path);
	rt.path = strdup(in_tmp("load-ok"));
	ck_assert_int_eq(runtime_load(&rt, false, &e), KH_OK);
	ck_assert(rt.exists);
	ck_assert_uint_eq(rt.ndev, 3);
	runtime_close(&rt);
}
END_TEST

/* --- locking --- */

static volatile sig_atomic_t alarms;

static void count_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/* Another process that takes path's lock and runs the shell command
 * cmd, with stdin from in (if not -1). cmd writes a byte once it runs,
 * so once that is read the lock is taken. The child is flock(1), exec'd:
 * a copy of this test would, at exit, be reported by valgrind for the
 * memory check still holds. */
static pid_t lock_in_child(const char *path, const char *cmd, int in)
{
	char lock[300], c;
	int ready[2];
	pid_t pid;

	snprintf(lock, sizeof(lock), "%s.lock", path);
	ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
	if ((pid = fork()) == 0) {
		dup2(ready[1], STDOUT_FILENO);
		if (in != -1)
			dup2(in, STDIN_FILENO);
		execlp("flock", "flock", lock, "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_gt(pid, 0);
	close(ready[1]);
	ck_assert_msg(read(ready[0], &c, 1) == 1, "flock(1) did not run");
	close(ready[0]);
	return pid;
}

START_TEST(test_lock_timeout)
{
	char *path = in_tmp("locked");
	struct sigaction sa = { .sa_handler = count_alarm }, now;
	/* the caller's timer: far longer than this test could last */
	struct itimerval mine = { .it_value = { 3600, 0 } }, left;
	struct runtime rt;
	struct error e = { 0 };
	int64_t t0, waited_ms, left_ms;
	int hold[2], status, fd;
	pid_t pid;

	/* the caller's own handler and timer must survive */
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
	ck_assert_int_eq(setitimer(ITIMER_REAL, &mine, NULL), 0);

	/* the child holds the lock until hold is closed */
	ck_assert_int_eq(pipe2(hold, O_CLOEXEC), 0);
	pid = lock_in_child(path, "echo; exec cat", hold[0]);
	close(hold[0]);
	runtime_init(&rt);
	t0 = clock_ms();
	ck_assert_int_eq(runtime_lock(&rt, path, 300, &e), KH_ETIMEOUT);
	/* not before the timeout; how long after is the machine's business
	 * (the lock is held until the test lets go: a lock that ignored the
	 * timeout would hang) */
	waited_ms = clock_ms() - t0;
	ck_assert_msg(waited_ms >= 300, "gave up after %lld ms",
		      (long long)waited_ms);
	ck_assert_str_eq(strstr(e.msg, "locked"),
			 "locked is locked by another process (waited 0.3 s)");
	ck_assert_int_eq(rt.lock_fd, -1);
	ck_assert_ptr_null(rt.path);

	ck_assert_int_eq(sigaction(SIGALRM, NULL, &now), 0);
	ck_assert_ptr_eq((void *)now.sa_handler, (void *)count_alarm);
	/* put back less the time the lock took: at least the 300 ms it
	 * waited, and (a generous bound) not a minute more than the test
	 * took so far */
	ck_assert_int_eq(getitimer(ITIMER_REAL, &left), 0);
	left_ms = left.it_value.tv_sec * 1000 + left.it_value.tv_usec / 1000;
	ck_assert_msg(left_ms <= 3600 * 1000 - 300 &&
		      left_ms >= 3600 * 1000 - (clock_ms() - t0) - HANG_MS,
		      "the caller's timer has %lld ms left", (long long)left_ms);
	ck_assert_int_eq(alarms, 0);

	close(hold[1]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_msg(runtime_lock(&rt, path, 300, &e) == KH_OK, "%s", e.msg);
	ck_assert_int_ge(rt.lock_fd, 0);
	ck_assert_str_eq(rt.path, path);
	fd = open(in_tmp("locked.lock"), O_RDONLY);
	ck_assert_int_ne(flock(fd, LOCK_EX | LOCK_NB), 0);	/* held */
	close(fd);
	runtime_close(&rt);
	ck_assert_int_eq(rt.lock_fd, -1);

	memset(&mine, 0, sizeof(mine));
	setitimer(ITIMER_REAL, &mine, NULL);
	signal(SIGALRM, SIG_DFL);
}
END_TEST

START_TEST(test_lock_waits)
{
	char *path = in_tmp("waits"), cmd[400];
	struct runtime rt;
	struct error e = { 0 };
	int status;
	pid_t pid;

	/* the child lets go a moment later, having made a mark: we get the
	 * lock then, and not before (the mark is there), within a bound on
	 * a hang */
	snprintf(cmd, sizeof(cmd), "echo; sleep 0.2; : >'%s.done'", path);
	pid = lock_in_child(path, cmd, -1);
	runtime_init(&rt);
	ck_assert_msg(runtime_lock(&rt, path, HANG_MS, &e) == KH_OK, "%s", e.msg);
	ck_assert_msg(access(in_tmp("waits.done"), F_OK) == 0,
		      "got the lock while the child held it");
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	runtime_close(&rt);

	/* no lock file can be made: an error, not a wait */
	ck_assert_int_eq(runtime_lock(&rt, "/nonexistent/dir/rt", 300, &e),
			 KH_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent/dir/rt.lock: "));
	runtime_close(&rt);
}
END_TEST

/* A Ganeti file's lock (and intent record) is not beside it, where
 * Ganeti's conf/ would keep it for good, but under /run/kvm-hotplug,
 * named by the file's name and its directory's identity: one lock for
 * every path to the file. A native file's (or one not there yet) is
 * beside it. */
START_TEST(test_lock_path)
{
	char *path = strdup(in_tmp("inst1.runtime")), *lock, *other, want[400];
	char link[300];
	struct runtime rt;
	struct error e = { 0 };
	struct stat st;

	ck_assert_int_eq(runtime_aside_path(path, &lock, &e), KH_OK);
	ck_assert_str_eq(lock, path);	/* none yet */
	free(lock);
	write_file(path, HDR DISK(U1, "d1", "5"), 0600);
	ck_assert_int_eq(runtime_aside_path(path, &lock, &e), KH_OK);
	ck_assert_str_eq(lock, path);	/* native */
	free(lock);

	write_file(path, "[\"kvm\", [], {}, []]", 0600);
	ck_assert_int_eq(stat(tmpdir, &st), 0);
	snprintf(want, sizeof(want), "/run/kvm-hotplug/inst1.runtime.%ju-%ju",
		 (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
	ck_assert_int_eq(runtime_aside_path(path, &lock, &e), KH_OK);
	ck_assert_str_eq(lock, want);
	/* another path to the same directory: the same lock */
	snprintf(link, sizeof(link), "%s-link", tmpdir);
	ck_assert_int_eq(symlink(tmpdir, link), 0);
	snprintf(want, sizeof(want), "%s/inst1.runtime", link);
	ck_assert_int_eq(runtime_aside_path(want, &other, &e), KH_OK);
	ck_assert_str_eq(other, lock);
	free(other);
	unlink(link);

	/* taken there, and nothing made beside the file */
	runtime_init(&rt);
	ck_assert_msg(runtime_lock(&rt, path, 300, &e) == KH_OK, "%s", e.msg);
	ck_assert_str_eq(runtime_aside(&rt), lock);
	snprintf(want, sizeof(want), "%s.lock", lock);
	ck_assert_int_eq(stat(want, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_ne(access(in_tmp("inst1.runtime.lock"), F_OK), 0);
	runtime_close(&rt);
	unlink(want);
	free(lock);
	free(path);
}
END_TEST

static Suite *runtime_suite(void)
{
	Suite *s = suite_create("runtime");
	TCase *tc = check_case("format");

	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_buses);
	tcase_add_test(tc, test_fd_pass_and_rom);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_unknown_keys);
	tcase_add_test(tc, test_add_remove);
	tcase_add_test(tc, test_state_and_name);
	tcase_add_test(tc, test_vm_identity);
	tcase_add_loop_test(tc, test_hostile_strings, 0,
			    sizeof(hostile) / sizeof(hostile[0]));
	tcase_add_test(tc, test_quoting);
	tcase_add_test(tc, test_format_bad_utf8);
	suite_add_tcase(s, tc);

	tc = check_case("validation");
	tcase_add_loop_test(tc, test_validation, 0,
			    sizeof(bad_cases) / sizeof(bad_cases[0]));
	tcase_add_test(tc, test_valid_edge_cases);
	tcase_add_test(tc, test_truncations);
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_parse_replaces);
	suite_add_tcase(s, tc);

	/* unchecked: the directory goes even when a test fails */
	tc = check_case("files");
	tcase_add_unchecked_fixture(tc, make_tmpdir, remove_tmpdir);
	tcase_add_test(tc, test_prepare_commit);
	tcase_add_test(tc, test_new_file);
	tcase_add_test(tc, test_discard);
	tcase_add_test(tc, test_commit_fails);
	tcase_add_test(tc, test_other_writer);
	tcase_add_test(tc, test_prepare_refuses_invalid);
	tcase_add_test(tc, test_load_errors);
	tcase_add_test(tc, test_lock_timeout);
	tcase_add_test(tc, test_lock_waits);
	tcase_add_test(tc, test_lock_path);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(runtime_suite());
}
