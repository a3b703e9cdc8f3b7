/* sync.c: the desired state read from Ganeti's hook environment. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime.h"
#include "../sync.h"
#include "check_run.h"

#define U1 "003fc157-66a8-4e6d-8b7e-ec4f69751396"
#define U2 "1b2c3d4e-0000-4000-8000-000000000002"
#define U3 "2c3d4e5f-0000-4000-8000-000000000003"

extern char **environ;

/* No GANETI_* variable left; the rest (valgrind's own) stays. */
static void clear_env(void)
{
	char name[256];

	for (size_t i = 0; environ[i] != NULL;) {
		if (strncmp(environ[i], "GANETI_", 7) != 0) {
			i++;
			continue;
		}
		snprintf(name, sizeof(name), "%.*s",
			 (int)strcspn(environ[i], "="), environ[i]);
		unsetenv(name);
	}
}

static void env(const char *name, const char *value)
{
	setenv(name, value, 1);
}

START_TEST(post_set_wins_and_paths_follow_the_disk_type)
{
	struct runtime want;
	struct error e = { 0 };
	json_t *refused = json_array();

	clear_env();
	env("GANETI_INSTANCE_NIC_COUNT", "0");	/* before the change */
	env("GANETI_POST_INSTANCE_NIC_COUNT", "1");
	env("GANETI_POST_INSTANCE_NIC0_UUID", U1);
	env("GANETI_POST_INSTANCE_NIC0_MAC", "AA:00:00:11:22:33");
	env("GANETI_POST_INSTANCE_NIC0_MODE", "bridged");
	env("GANETI_POST_INSTANCE_NIC0_LINK", "br0");
	env("GANETI_POST_INSTANCE_DISK_COUNT", "3");
	env("GANETI_POST_INSTANCE_DISK0_UUID", U2);
	env("GANETI_POST_INSTANCE_DISK0_DEV_TYPE", "plain");
	env("GANETI_POST_INSTANCE_DISK0_VG", "xenvg");
	env("GANETI_POST_INSTANCE_DISK0_ID", "lv0");
	env("GANETI_POST_INSTANCE_DISK0_SIZE", "1024");
	env("GANETI_POST_INSTANCE_DISK1_UUID", U3);
	env("GANETI_POST_INSTANCE_DISK1_DEV_TYPE", "sharedfile");
	env("GANETI_POST_INSTANCE_DISK1_DRIVER", "loop");
	env("GANETI_POST_INSTANCE_DISK1_ID", "/srv/shared/x.disk1");
	env("GANETI_POST_INSTANCE_DISK2_UUID", "4c3d4e5f-0000-4000-8000-000000000004");
	env("GANETI_POST_INSTANCE_DISK2_DEV_TYPE", "drbd");
	runtime_init(&want);
	ck_assert_int_eq(sync_from_hook_env(&want, refused, &e), KH_OK);
	ck_assert_uint_eq(want.ndev, 3);
	ck_assert_int_eq(want.dev[0].kind, RT_NIC);
	ck_assert_str_eq(want.dev[0].mac, "aa:00:00:11:22:33");
	ck_assert_str_eq(want.dev[0].link, "br0");
	ck_assert_str_eq(want.dev[1].path, "/dev/xenvg/lv0");
	ck_assert_str_eq(json_string_value(json_object_get(want.dev[1].extra, "iv_name")), "disk/0");
	ck_assert_int_eq(json_integer_value(json_object_get(want.dev[1].extra, "size")), 1024);
	ck_assert_str_eq(want.dev[2].path, "/srv/shared/x.disk1");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(
		want.dev[2].extra, "logical_id"), 0)), "loop");
	ck_assert_uint_eq(json_array_size(refused), 1);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(
		json_array_get(refused, 0), "reason")), "disk type drbd"));
	runtime_close(&want);
	json_decref(refused);
}
END_TEST

START_TEST(refusals_and_bad_counts)
{
	struct runtime want;
	struct error e = { 0 };
	json_t *refused = json_array();

	clear_env();
	runtime_init(&want);
	ck_assert_int_eq(sync_from_hook_env(&want, refused, &e), KH_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "no Ganeti hook environment"));
	error_clear(&e);
	env("GANETI_INSTANCE_NIC_COUNT", "2");
	env("GANETI_INSTANCE_NIC0_UUID", U1);
	env("GANETI_INSTANCE_NIC0_MAC", "52:54:00:12:34:56");
	env("GANETI_INSTANCE_NIC0_MODE", "routed");
	env("GANETI_INSTANCE_NIC1_UUID", "not-a-uuid");
	ck_assert_int_eq(sync_from_hook_env(&want, refused, &e), KH_OK);
	ck_assert_uint_eq(want.ndev, 0);
	ck_assert_uint_eq(json_array_size(refused), 2);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(
		json_array_get(refused, 0), "reason")), "mode routed"));
	/* a VLAN is Ganeti's kvm-ifup's to tag: refused, never untagged */
	env("GANETI_INSTANCE_NIC_COUNT", "1");
	env("GANETI_INSTANCE_NIC0_MODE", "bridged");
	env("GANETI_INSTANCE_NIC0_LINK", "br0");
	env("GANETI_INSTANCE_NIC0_VLAN", ".100");
	json_array_clear(refused);
	ck_assert_int_eq(sync_from_hook_env(&want, refused, &e), KH_OK);
	ck_assert_uint_eq(want.ndev, 0);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
		refused, 0), "reason")), "vlan .100: Ganeti's own kvm-ifup tags "
		"it, which kvm-hotplug does not run; hot-add it with "
		"'gnt-instance modify --hotplug'");
	env("GANETI_INSTANCE_NIC_COUNT", "-1");
	ck_assert_int_eq(sync_from_hook_env(&want, refused, &e), KH_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "NIC_COUNT: '-1' is not a number"));
	runtime_close(&want);
	json_decref(refused);
	env("GANETI_HOOKS_PHASE", "pre");
	ck_assert(sync_pre_phase());
	env("GANETI_HOOKS_PHASE", "post");
	ck_assert(!sync_pre_phase());
}
END_TEST

/* Disk n of the POST set: uuid, template and one more variable. */
static void disk_env(int n, const char *uuid, const char *type)
{
	char name[64];

	snprintf(name, sizeof(name), "GANETI_POST_INSTANCE_DISK%d_UUID", n);
	env(name, uuid);
	snprintf(name, sizeof(name), "GANETI_POST_INSTANCE_DISK%d_DEV_TYPE", n);
	env(name, type);
}

/* The refusal of uuid in refused, or NULL. */
static const char *reason_of(json_t *refused, const char *uuid)
{
	size_t i;
	json_t *r;

	json_array_foreach(refused, i, r)
		if (strcmp(json_string_value(json_object_get(r, "uuid")), uuid) == 0)
			return json_string_value(json_object_get(r, "reason"));
	return NULL;
}

/* Each template by what Ganeti 3.0's BuildDiskLogicalIDEnv gives it:
 * blockdev from the adopted path (ID), drbd from /dev/drbd<PMINOR>; rbd,
 * ext, gluster and a drbd without its minors refused with the reason. */
START_TEST(disk_templates)
{
	struct runtime want;
	struct error e = { 0 };
	json_t *refused = json_array(), *lid;
	const char *u[] = {
		"10000000-0000-4000-8000-000000000001",
		"10000000-0000-4000-8000-000000000002",
		"10000000-0000-4000-8000-000000000003",
		"10000000-0000-4000-8000-000000000004",
		"10000000-0000-4000-8000-000000000005",
		"10000000-0000-4000-8000-000000000006",
		"10000000-0000-4000-8000-000000000007",
	};

	clear_env();
	env("GANETI_POST_INSTANCE_DISK_COUNT", "7");
	disk_env(0, u[0], "blockdev");
	env("GANETI_POST_INSTANCE_DISK0_DRIVER", "manual");
	env("GANETI_POST_INSTANCE_DISK0_ID", "/dev/disk/by-test/bd0");
	disk_env(1, u[1], "drbd");
	env("GANETI_POST_INSTANCE_DISK1_PNODE", "node1.example.test");
	env("GANETI_POST_INSTANCE_DISK1_SNODE", "node2.example.test");
	env("GANETI_POST_INSTANCE_DISK1_PORT", "11000");
	env("GANETI_POST_INSTANCE_DISK1_PMINOR", "3");
	env("GANETI_POST_INSTANCE_DISK1_SMINOR", "5");
	disk_env(2, u[2], "drbd");
	env("GANETI_POST_INSTANCE_DISK2_PMINOR", "x");
	disk_env(3, u[3], "rbd");
	env("GANETI_POST_INSTANCE_DISK3_ID", "image-1");
	disk_env(4, u[4], "ext");
	env("GANETI_POST_INSTANCE_DISK4_PROVIDER", "pvdr");
	disk_env(5, u[5], "blockdev");	/* no path */
	disk_env(6, u[6], "floppy");
	runtime_init(&want);
	ck_assert_int_eq(sync_from_hook_env(&want, refused, &e), KH_OK);
	ck_assert_uint_eq(want.ndev, 2);
	ck_assert_str_eq(want.dev[0].uuid, u[0]);
	ck_assert_str_eq(want.dev[0].path, "/dev/disk/by-test/bd0");
	lid = json_object_get(want.dev[0].extra, "logical_id");
	ck_assert_str_eq(json_string_value(json_array_get(lid, 0)), "manual");
	ck_assert_str_eq(json_string_value(json_array_get(lid, 1)),
			 "/dev/disk/by-test/bd0");
	ck_assert_str_eq(json_string_value(json_object_get(want.dev[0].extra,
							   "dev_type")), "blockdev");
	ck_assert_str_eq(want.dev[1].path, "/dev/drbd3");
	lid = json_object_get(want.dev[1].extra, "logical_id");
	ck_assert_uint_eq(json_array_size(lid), 5);
	ck_assert_str_eq(json_string_value(json_array_get(lid, 0)), "node1.example.test");
	ck_assert_int_eq(json_integer_value(json_array_get(lid, 2)), 11000);
	ck_assert_int_eq(json_integer_value(json_array_get(lid, 3)), 3);
	ck_assert_int_eq(json_integer_value(json_array_get(lid, 4)), 5);
	ck_assert_uint_eq(json_array_size(refused), 5);
	ck_assert_ptr_nonnull(strstr(reason_of(refused, u[2]),
				     "disk type drbd: no DISKn_PMINOR"));
	ck_assert_ptr_nonnull(strstr(reason_of(refused, u[3]), "disk type rbd: "
				     "where it is on this node is what Ganeti's"));
	ck_assert_ptr_nonnull(strstr(reason_of(refused, u[3]),
				     "gnt-instance modify --hotplug"));
	ck_assert_ptr_nonnull(strstr(reason_of(refused, u[4]), "disk type ext: "));
	ck_assert_ptr_nonnull(strstr(reason_of(refused, u[5]),
				     "disk type blockdev: no DISKn_ID"));
	ck_assert_ptr_nonnull(strstr(reason_of(refused, u[6]), "disk type floppy: "
				     "not a Ganeti disk template"));
	runtime_close(&want);
	json_decref(refused);
}
END_TEST

static Suite *sync_suite(void)
{
	Suite *s = suite_create("sync");
	TCase *tc = check_case("hook environment");

	tcase_add_test(tc, post_set_wins_and_paths_follow_the_disk_type);
	tcase_add_test(tc, refusals_and_bad_counts);
	tcase_add_test(tc, disk_templates);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(sync_suite());
}
