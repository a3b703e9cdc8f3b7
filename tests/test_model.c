/* model.c: validators, naming rules (QEMU ids, tap names, drivers), a
 * device's fields, and a file's device list. Nothing here needs QEMU, the
 * kernel or a file. */
#include <sys/stat.h>

#include <check.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include "../model.h"
#include "check_run.h"

#define U1 "003fc157-66a8-4e6d-8b7e-ec4f69751396"
#define U2 "10000000-0000-4000-8000-000000000002"

START_TEST(uuid_validation)
{
	ck_assert(uuid_is_valid("003fc157-66a8-4e6d-8b7e-ec4f69751396"));
	ck_assert(uuid_is_valid("003FC157-66A8-4E6D-8B7E-EC4F69751396"));
	ck_assert(!uuid_is_valid(""));
	ck_assert(!uuid_is_valid("003fc157-66a8-4e6d-8b7e-ec4f6975139"));
	ck_assert(!uuid_is_valid("003fc157-66a8-4e6d-8b7e-ec4f697513961"));
	ck_assert(!uuid_is_valid("003fc15766a84e6d8b7eec4f69751396"));
	ck_assert(!uuid_is_valid("003fc157-66a8-4e6d-8b7e_ec4f69751396"));
	ck_assert(!uuid_is_valid("g03fc157-66a8-4e6d-8b7e-ec4f69751396"));
	ck_assert(!uuid_is_valid("003fc157-66a8-4e6d-8b7e-ec4f69751396\n"));
}
END_TEST

START_TEST(qemu_id_rules)
{
	ck_assert(qemu_id_is_valid("hotdisk-003fc157-pci-5"));
	ck_assert(qemu_id_is_valid("a"));
	ck_assert(qemu_id_is_valid("A.b_c-9"));
	ck_assert(qemu_id_is_valid("abcdefghijklmnopqrstuvwxyz012345"));	/* 32 */
	ck_assert(!qemu_id_is_valid("abcdefghijklmnopqrstuvwxyz0123456"));	/* 33 */
	ck_assert(!qemu_id_is_valid(""));
	ck_assert(!qemu_id_is_valid("9disk"));
	ck_assert(!qemu_id_is_valid("-disk"));
	ck_assert(!qemu_id_is_valid("disk 1"));
	ck_assert(!qemu_id_is_valid("disk,1"));
	ck_assert(!qemu_id_is_valid("disk/1"));
}
END_TEST

START_TEST(device_id_scheme)
{
	char id[33];
	struct error e = { 0 };

	ck_assert_int_eq(pci_device_id(id, sizeof(id), "disk",
				       "003fc157-66a8-4e6d-8b7e-ec4f69751396", "pci.0", 5, &e), KH_OK);
	ck_assert_str_eq(id, "hotdisk-003fc157-pci-5");
	ck_assert_int_eq(pci_device_id(id, sizeof(id), "nic",
				       "003fc157-66a8-4e6d-8b7e-ec4f69751396", "pci.0", 31, &e), KH_OK);
	ck_assert_str_eq(id, "hotnic-003fc157-pci-31");
	ck_assert_int_eq(pci_device_id(id, sizeof(id), "disk", "not-a-uuid", "pci.0", 5, &e),
			 KH_EUSAGE);
	/* an id that would not fit is refused, never cut */
	ck_assert_int_eq(pci_device_id(id, 10, "disk",
				       "003fc157-66a8-4e6d-8b7e-ec4f69751396", "pci.0", 5, &e), KH_EUSAGE);
}
END_TEST

START_TEST(names)
{
	static const struct { const char *name; bool ok; } cases[] = {
		{ "a", true }, { "tap0", true }, { "br-ext.100", true },
		{ "eth_0", true }, { "x23456789012345", true },
		{ "a..", true }, { "...", true },
		{ "", false }, { ".", false }, { "..", false },
		{ "x234567890123456", false }, { "a/b", false },
		{ "a:b", false }, { "a b", false }, { " a", false },
		{ "a\tb", false }, { "a\nb", false }, { "a\x7f", false },
		{ "a\x01", false }, { "caf\xc3\xa9", false },
		{ "kh%d", false }, { "%", false }, { "-x", false },
		{ "a-", true },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(tap_name_is_valid(cases[i].name) == cases[i].ok,
			      "'%s' should be %s", cases[i].name,
			      cases[i].ok ? "valid" : "invalid");
}
END_TEST

/* Kernel names are "tap" and digits; a NIC's own name comes from its
 * uuid, in lower case, within IFNAMSIZ. */
START_TEST(own_names)
{
	char name[IFNAMSIZ], other[IFNAMSIZ];

	ck_assert(tap_name_is_kernels("tap0"));
	ck_assert(tap_name_is_kernels("tap123"));
	ck_assert(!tap_name_is_kernels("tap"));
	ck_assert(!tap_name_is_kernels("tap0a"));
	ck_assert(!tap_name_is_kernels("ktap1"));
	ck_assert(!tap_name_is_kernels("kh003fc15766a8"));
	tap_name_for_uuid("003FC157-66a8-4e6d-8b7e-ec4f69751396", name, sizeof(name));
	ck_assert_uint_eq(strlen(name), IFNAMSIZ - 1);
	ck_assert_int_eq(strncmp(name, "kh", 2), 0);
	ck_assert(tap_name_is_valid(name) && !tap_name_is_kernels(name));
	/* any spelling of one uuid, one name; uuids in sequence, others */
	tap_name_for_uuid("003fc157-66a8-4e6d-8b7e-ec4f69751396", other, sizeof(other));
	ck_assert_str_eq(name, other);
	tap_name_for_uuid("00000000-0000-4000-8000-000000000010", name, sizeof(name));
	tap_name_for_uuid("00000000-0000-4000-8000-000000000011", other, sizeof(other));
	ck_assert_str_ne(name, other);
}
END_TEST

START_TEST(macs)
{
	static const struct { const char *mac; bool ok; } cases[] = {
		{ "52:54:00:12:34:56", true }, { "aa:bb:cc:dd:ee:ff", true },
		{ "AA:BB:CC:DD:EE:FF", true }, { "5A:54:00:aB:Cd:eF", true },
		{ "02:00:00:00:00:00", true }, { "00:00:00:00:00:01", true },
		{ "fe:ff:ff:ff:ff:ff", true }, { "0c:00:00:00:00:00", true },
		/* group addresses: odd first octet */
		{ "01:00:5e:00:00:01", false }, { "ff:ff:ff:ff:ff:ff", false },
		{ "33:33:00:00:00:01", false }, { "0B:00:00:00:00:01", false },
		{ "0d:00:00:00:00:01", false }, { "0F:00:00:00:00:01", false },
		{ "00:00:00:00:00:00", false },
		/* separators */
		{ "52-54-00-12-34-56", false }, { "52.54.00.12.34.56", false },
		{ "525400123456", false }, { "5254:0012:3456::", false },
		{ "52:5400:12:34:56:", false }, { "52::54:00:12:34:5", false },
		/* length */
		{ "", false }, { "52:54:00:12:34", false },
		{ "52:54:00:12:34:5", false }, { "52:54:00:12:34:567", false },
		{ "52:54:00:12:34:56:78", false }, { "52:54:00:12:34:56 ", false },
		{ " 52:54:00:12:34:56", false }, { "52:54:00:12:34:56\n", false },
		{ "2:54:00:12:34:56:", false },
		/* digits */
		{ "52:54:00:12:34:5g", false }, { "g2:54:00:12:34:56", false },
		{ "52:54:00:12:34:-1", false }, { "+2:54:00:12:34:56", false },
		{ "0x:54:00:12:34:56", false }, { "52:54: 0:12:34:56", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(mac_is_valid(cases[i].mac) == cases[i].ok,
			      "'%s' should be %s", cases[i].mac,
			      cases[i].ok ? "valid" : "invalid");
}
END_TEST

START_TEST(bus_names)
{
	ck_assert(bus_is_valid("pci.0"));
	ck_assert(bus_is_valid("pcie_root-1"));
	ck_assert(!bus_is_valid(""));
	ck_assert(!bus_is_valid("pci 0"));
	ck_assert(!bus_is_valid("pci/0"));
	ck_assert(!bus_is_valid("pci:0"));
}
END_TEST

START_TEST(words)
{
	ck_assert_int_eq(rt_word_index(rt_disk_caches, "default"), 0);
	ck_assert_int_eq(rt_word_index(rt_disk_caches, "unsafe"), 4);
	ck_assert_int_eq(rt_word_index(rt_disk_caches, "Unsafe"), -1);
	ck_assert_int_eq(rt_word_index(rt_nic_vhosts, ""), -1);
	ck_assert(rt_nonempty("x"));
	ck_assert(!rt_nonempty(""));
}
END_TEST

/* Both schemes: by slot (native and older Ganeti files), by uuid (newer
 * Ganeti files, as Ganeti names its own devices). */
START_TEST(id_schemes)
{
	struct error e = { 0 };
	char id[RT_ID_MAX + 1];

	ck_assert_int_eq(rt_device_id(RT_ID_SLOT, RT_DISK, U1, "pci.0", 5, id,
				      sizeof(id), &e), KH_OK);
	ck_assert_str_eq(id, "hotdisk-003fc157-pci-5");
	ck_assert_int_eq(rt_device_id(RT_ID_SLOT, RT_NIC, U1, "pci.0", 31, id,
				      sizeof(id), &e), KH_OK);
	ck_assert_str_eq(id, "hotnic-003fc157-pci-31");
	ck_assert_int_eq(rt_device_id(RT_ID_UUID, RT_DISK, U1, "pci.0", 5, id,
				      sizeof(id), &e), KH_OK);
	ck_assert_str_eq(id, "disk-003fc157-66a8-4e6d");
	ck_assert_int_eq(rt_device_id(RT_ID_UUID, RT_NIC, U1, "pci.0", -1, id,
				      sizeof(id), &e), KH_OK);
	ck_assert_str_eq(id, "nic-003fc157-66a8-4e6d");
	ck_assert(qemu_id_is_valid(id));
	ck_assert_int_eq(rt_device_id(RT_ID_UUID, RT_NIC, "not-a-uuid", "pci.0", 5, id,
				      sizeof(id), &e), KH_EUSAGE);
	ck_assert_str_eq(e.msg, "invalid uuid 'not-a-uuid'");
	/* never cut */
	ck_assert_int_eq(rt_device_id(RT_ID_UUID, RT_DISK, U1, "pci.0", 5, id, 10, &e),
			 KH_EUSAGE);
}
END_TEST

/* Beyond pci.0 the bus is in the id by name where it fits and is not a
 * name the rule makes itself; else by a hash of the name. Every id is
 * valid, at most 32 characters, and made again from the same bus. */
START_TEST(id_scheme_per_bus)
{
	static const struct { const char *bus; int slot; const char *id; } v[] = {
		{ "rp1", 0, "hotdisk-003fc157-rp1-0" },
		{ "br1", 31, "hotdisk-003fc157-br1-31" },
		{ "bridge.b_2-x", 7, "hotdisk-003fc157-bridge.b_2-x-7" },
		/* 34 with the name: hashed */
		{ "bridge.b_2-xyz1", 7, NULL },
		/* a name the rule makes for pci.0 or for a hashed one */
		{ "pci", 3, NULL },
		{ "b0123abcd", 3, NULL },
		{ "a-very-long-bus-name-of-31-char", 31, NULL },
	};
	struct error e = { 0 };
	char id[RT_ID_MAX + 1], again[RT_ID_MAX + 1], other[RT_ID_MAX + 1];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		ck_assert_int_eq(pci_device_id(id, sizeof(id), "disk", U1,
					       v[i].bus, v[i].slot, &e), KH_OK);
		ck_assert_msg(qemu_id_is_valid(id), "%s", id);
		ck_assert_uint_le(strlen(id), RT_ID_MAX);
		if (v[i].id != NULL)
			ck_assert_str_eq(id, v[i].id);
		else
			ck_assert_msg(strncmp(id, "hotdisk-003fc157-b", 18) == 0 &&
				      strlen(id) == 18 + 8 + 1 +
				      (v[i].slot > 9 ? 2 : 1), "%s", id);
		ck_assert_int_eq(pci_device_id(again, sizeof(again), "disk", U1,
					       v[i].bus, v[i].slot, &e), KH_OK);
		ck_assert_str_eq(id, again);
		/* and no other bus's id at the same slot */
		ck_assert_int_eq(pci_device_id(other, sizeof(other), "disk", U1,
					       "pci.0", v[i].slot, &e), KH_OK);
		ck_assert_str_ne(id, other);
	}
	/* nic, the longest kind, at slot 31 on a bus of 31: hashed */
	ck_assert_int_eq(pci_device_id(id, sizeof(id), "nic", U1,
				       "a-very-long-bus-name-of-31-char", 31, &e),
			 KH_OK);
	ck_assert_uint_le(strlen(id), RT_ID_MAX);
}
END_TEST

START_TEST(drivers)
{
	ck_assert_str_eq(rt_driver_name(RT_DISK), "virtio-blk-pci");
	ck_assert_str_eq(rt_driver_name(RT_NIC), "virtio-net-pci");
	ck_assert_str_eq(rt_file_driver(S_IFREG | 0644), "file");
	ck_assert_str_eq(rt_file_driver(S_IFBLK | 0660), "host_device");
	ck_assert_ptr_null(rt_file_driver(S_IFDIR | 0755));
	ck_assert_ptr_null(rt_file_driver(S_IFCHR | 0666));
	ck_assert_int_ge(rt_word_index(rt_disk_file_drivers, rt_file_driver(S_IFREG)), 0);
	ck_assert_int_ge(rt_word_index(rt_disk_file_drivers, rt_file_driver(S_IFBLK)), 0);
}
END_TEST

static struct rt_device *add(struct rt_file *f, enum rt_kind kind,
			     const char *uuid, const char *id, int slot)
{
	struct rt_device *d = rt_file_add_device(f, NULL);

	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(d->slot, -1);
	ck_assert_ptr_null(d->source);
	d->kind = kind;
	strcpy(d->uuid, uuid);
	strcpy(d->id, id);
	strcpy(d->bus, PCI_HOTPLUG_BUS);
	d->slot = slot;
	strcpy(d->driver, rt_driver_name(kind));
	return d;
}

START_TEST(device_list)
{
	struct rt_file f;

	rt_file_init(&f);
	ck_assert_uint_eq(f.reserved, RT_RESERVED);
	for (int i = 0; i < 9; i++) {	/* past the first growth */
		char uuid[RT_UUID_LEN + 1], id[RT_ID_MAX + 1];

		snprintf(uuid, sizeof(uuid), "10000000-0000-4000-8000-%012d", i);
		snprintf(id, sizeof(id), "d%d", i);
		add(&f, RT_DISK, uuid, id, 5 + i)->path = strdup("/x");
	}
	ck_assert_uint_eq(f.ndev, 9);
	ck_assert_ptr_eq(rt_file_find_uuid(&f, "10000000-0000-4000-8000-000000000003"),
			 &f.dev[3]);
	ck_assert_ptr_eq(rt_file_find_id(&f, "d8"), &f.dev[8]);
	ck_assert_ptr_null(rt_file_find_id(&f, "D8"));
	ck_assert_uint_eq(rt_file_used_slots(&f, PCI_HOTPLUG_BUS), 0x3fe0u | 0xf);
	ck_assert_uint_eq(rt_file_used_slots(&f, "pci.1"), 0);
	rt_file_remove_device(&f, 3);
	rt_file_remove_device(&f, 99);	/* none: nothing */
	ck_assert_uint_eq(f.ndev, 8);
	ck_assert_str_eq(f.dev[3].id, "d4");	/* the order is kept */
	ck_assert_ptr_null(rt_file_find_id(&f, "d3"));
	ck_assert_ptr_nonnull(f.vm_name = strdup("vm"));
	rt_file_clear(&f);
	ck_assert_uint_eq(f.ndev, 0);
	ck_assert_ptr_null(f.dev);
	ck_assert_ptr_null(f.vm_name);
	ck_assert_uint_eq(f.reserved, RT_RESERVED);
}
END_TEST

START_TEST(uuid_any_case)
{
	struct rt_file f;
	char upper[RT_UUID_LEN + 1];

	rt_file_init(&f);
	add(&f, RT_NIC, U1, "n1", 4);
	ck_assert_ptr_eq(rt_file_find_uuid(&f, "003FC157-66A8-4E6D-8B7E-EC4F69751396"),
			 &f.dev[0]);
	rt_copy_lower(upper, sizeof(upper), "003FC157-66A8-4E6D-8B7E-EC4F69751396");
	ck_assert_str_eq(upper, U1);
	rt_copy_lower(upper, 4, "ABCDEF");	/* cut, with its NUL */
	ck_assert_str_eq(upper, "abc");
	rt_file_clear(&f);
}
END_TEST

/* A copy owns its strings, shares extra and keeps its entry (source);
 * it stands for another file's entry only through rt_device_take_entry. */
START_TEST(device_copy)
{
	struct rt_file f;
	struct rt_device c, *d;
	json_t *extra = json_object();
	int there, theirs;

	rt_file_init(&f);
	d = add(&f, RT_NIC, U1, "n1", 4);
	d->name = strdup("eth");
	d->link = strdup("br0");
	d->source = &there;
	d->extra = json_incref(extra);
	ck_assert_int_eq(rt_device_copy(&c, d, NULL), KH_OK);
	ck_assert_ptr_ne(c.name, d->name);
	ck_assert_str_eq(c.name, "eth");
	ck_assert_str_eq(c.link, "br0");
	ck_assert_ptr_null(c.path);
	ck_assert_ptr_eq(c.source, &there);
	ck_assert_ptr_eq(c.extra, extra);
	ck_assert_int_eq(extra->refcount, 3);
	ck_assert(rt_device_same(&c, d));
	/* no entry of theirs: one from the old file goes, a new one stays */
	rt_device_take_entry(&c, NULL, false);
	ck_assert_ptr_eq(c.source, &there);
	rt_device_take_entry(&c, NULL, true);
	ck_assert_ptr_null(c.source);
	d->source = &theirs;
	rt_device_take_entry(&c, d, true);
	ck_assert_ptr_eq(c.source, &theirs);
	rt_device_release(&c);
	ck_assert_ptr_null(c.name);
	ck_assert_ptr_null(c.extra);
	ck_assert_int_eq(extra->refcount, 2);
	rt_file_clear(&f);
	ck_assert_int_eq(extra->refcount, 1);
	json_decref(extra);
}
END_TEST

/* What a device says, field by field, as the read-back and the merge
 * compare it. */
START_TEST(fields)
{
	struct rt_device a = { 0 }, b = { 0 };
	char num[16];

	a.kind = b.kind = RT_NIC;
	a.queues = 2;
	b.queues = 2;
	strcpy(a.mode, "ro");		/* a disk's field: not a NIC's */
	ck_assert(rt_device_same(&a, &b));
	ck_assert_str_eq(rt_field_text(&a, &rt_fields[RT_FIELD_KIND], num,
				       sizeof(num)), "nic");
	ck_assert_str_eq(rt_field_text(&a, &rt_fields[RT_FIELD_QUEUES], num,
				       sizeof(num)), "2");
	/* plugged is the default, unset optional fields have none */
	ck_assert_ptr_null(rt_field_text(&a, &rt_fields[RT_FIELD_STATE], num,
					 sizeof(num)));
	ck_assert_ptr_null(rt_field_text(&a, &rt_fields[RT_FIELD_TAP], num,
					 sizeof(num)));
	ck_assert_ptr_null(rt_field_text(&a, &rt_fields[RT_FIELD_SCRIPT], num,
					 sizeof(num)));
	a.state = RT_UNPLUGGING;
	ck_assert_str_eq(rt_field_text(&a, &rt_fields[RT_FIELD_STATE], num,
				       sizeof(num)), "unplugging");
	ck_assert(!rt_device_same(&a, &b));
	ck_assert(!rt_field_applies(&rt_fields[RT_FIELD_MODE], RT_NIC));
	ck_assert(rt_field_applies(&rt_fields[RT_FIELD_NIC_MODE], RT_NIC));
	ck_assert(rt_field_applies(&rt_fields[RT_FIELD_UUID], RT_DISK));
	ck_assert_str_eq(rt_fields[RT_FIELD_NIC_MODE].name, "mode");
	ck_assert_str_eq(rt_fields[RT_FIELD_FILE_DRIVER].name, "file-driver");
	b.kind = RT_DISK;
	ck_assert(!rt_device_same(&a, &b));
	/* every field has a name, and the kind comes first */
	ck_assert_int_eq(rt_fields[0].type, RT_T_KIND);
	for (size_t k = 0; k < RT_NFIELDS; k++)
		ck_assert_ptr_nonnull(rt_fields[k].name);
}
END_TEST

static Suite *model_suite(void)
{
	Suite *s = suite_create("model");
	TCase *tc = check_case("model");

	tcase_add_test(tc, uuid_validation);
	tcase_add_test(tc, qemu_id_rules);
	tcase_add_test(tc, device_id_scheme);
	tcase_add_test(tc, names);
	tcase_add_test(tc, own_names);
	tcase_add_test(tc, macs);
	tcase_add_test(tc, bus_names);
	tcase_add_test(tc, words);
	tcase_add_test(tc, id_schemes);
	tcase_add_test(tc, id_scheme_per_bus);
	tcase_add_test(tc, drivers);
	tcase_add_test(tc, device_list);
	tcase_add_test(tc, uuid_any_case);
	tcase_add_test(tc, device_copy);
	tcase_add_test(tc, fields);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(model_suite());
}
