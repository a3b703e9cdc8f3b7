/* pci.c: slot choice, query-pci walking, hotplug checks (ids and uuids:
 * test_model.c). */
#include <check.h>
#include <stdlib.h>

#include "../monitor.h"
#include "../pci.h"
#include "check_run.h"
#include "qmp_peer.h"

/* Shaped like QEMU 7.2's reply on pc with a pci-bridge at slot 6 holding
 * a disk, and a disk at slot 5 (trimmed to the fields that matter). */
static const char query_pci[] =
	"[{\"bus\": 0, \"devices\": ["
	"{\"bus\": 0, \"slot\": 0, \"function\": 0, \"qdev_id\": \"\"},"
	"{\"bus\": 0, \"slot\": 1, \"function\": 0, \"qdev_id\": \"\"},"
	"{\"bus\": 0, \"slot\": 1, \"function\": 3, \"qdev_id\": \"\"},"
	"{\"bus\": 0, \"slot\": 5, \"function\": 0, \"qdev_id\": \"hotdisk-003fc157-pci-5\"},"
	"{\"bus\": 0, \"slot\": 6, \"function\": 0, \"qdev_id\": \"br1\","
	" \"pci_bridge\": {\"bus\": {\"number\": 1, \"secondary\": 1},"
	"  \"devices\": [{\"bus\": 1, \"slot\": 3, \"function\": 0,"
	"   \"qdev_id\": \"behind\"}]}}"
	"]}]";

START_TEST(occupied_slots_from_query_pci)
{
	json_t *pci = json_loads(query_pci, 0, NULL);

	ck_assert_ptr_nonnull(pci);
	/* slots 0, 1, 5 and the bridge's 6; the device behind it is on bus 1 */
	ck_assert_uint_eq(pci_occupied_slots(pci), (1u << 0) | (1u << 1) |
						   (1u << 5) | (1u << 6));
	json_decref(pci);
}
END_TEST

START_TEST(find_device_walks_bridges)
{
	json_t *pci = json_loads(query_pci, 0, NULL);
	int bus = -1, slot = -1;

	ck_assert(pci_find_device(pci, "hotdisk-003fc157-pci-5", &bus, &slot));
	ck_assert_int_eq(bus, 0);
	ck_assert_int_eq(slot, 5);
	ck_assert(pci_find_device(pci, "behind", &bus, &slot));
	ck_assert_int_eq(bus, 1);
	ck_assert_int_eq(slot, 3);
	ck_assert(!pci_find_device(pci, "missing", &bus, &slot));
	/* devices without an id (host bridge, ...) are nobody's */
	ck_assert(!pci_find_device(pci, "", &bus, &slot));
	json_decref(pci);
}
END_TEST

START_TEST(free_slot_choice)
{
	struct error e = { 0 };
	int slot = -1;

	ck_assert_int_eq(pci_find_free_slot(0xf, -1, &slot, &e), KH_OK);
	ck_assert_int_eq(slot, 4);
	ck_assert_int_eq(pci_find_free_slot(0xf | (1u << 4) | (1u << 6), -1, &slot, &e), KH_OK);
	ck_assert_int_eq(slot, 5);
	/* slot 0 is never handed out, even if nothing claims it */
	ck_assert_int_eq(pci_find_free_slot(0, -1, &slot, &e), KH_OK);
	ck_assert_int_eq(slot, 1);
	ck_assert_int_eq(pci_find_free_slot(0xf, 9, &slot, &e), KH_OK);
	ck_assert_int_eq(slot, 9);
	ck_assert_int_eq(pci_find_free_slot(0xf | (1u << 9), 9, &slot, &e), KH_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "slot 9"));
	ck_assert_int_eq(pci_find_free_slot(0xf, 32, &slot, &e), KH_EUSAGE);
	ck_assert_int_eq(pci_find_free_slot(0xfffffffe, -1, &slot, &e), KH_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "no free PCI slot"));
	ck_assert_int_eq(pci_find_free_slot(0x7fffffff, -1, &slot, &e), KH_OK);
	ck_assert_int_eq(slot, 31);
}
END_TEST

/* pci_survey asks QEMU for pci.0's hotplug handler and query-pci at once. */
static int survey_with_reply(const char *reply, json_t **pci, struct error *e)
{
	char replies[512];
	struct peer_step script[] = {
		HELLO,
		{ PEER_EXPECT, "\"hotplug-handler\"", 0, NULL },
		{ PEER_EXPECT, "\"query-pci\"", 0, NULL },	/* before any reply */
		{ PEER_SEND, replies, 0, NULL },
	};
	struct monitor *m = NULL;
	struct peer *p;
	int fd, rc;

	snprintf(replies, sizeof(replies), "%s{\"return\": [{\"bus\": 0, "
		 "\"devices\": [{\"bus\": 0, \"slot\": 7, \"qdev_id\": \"x\"}]}], "
		 "\"id\": \"kh-2\"}\r\n", reply);

	p = peer_start(script, sizeof(script) / sizeof(script[0]), &fd);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(monitor_attach(&m, fd, HANG_MS, e), KH_OK);
	rc = pci_survey(m, "pci.0", pci, e);
	monitor_close(m);
	ck_assert_int_eq(peer_finish(p), 0);
	return rc;
}

START_TEST(survey_pipelines_and_judges_hotplug)
{
	struct error e = { 0 };
	json_t *pci = NULL;

	ck_assert_int_eq(survey_with_reply(
		"{\"return\": \"/machine/unattached/device[18]\", \"id\": \"kh-1\"}\r\n",
		&pci, &e), KH_OK);
	ck_assert_uint_eq(pci_occupied_slots(pci), 1u << 7);
	json_decref(pci);
	ck_assert_int_eq(survey_with_reply(
		"{\"return\": \"\", \"id\": \"kh-1\"}\r\n", &pci, &e), KH_ENOHOTPLUG);
	ck_assert_ptr_nonnull(strstr(e.msg, "does not support hotplug"));
	ck_assert_ptr_null(pci);
	ck_assert_int_eq(survey_with_reply(
		"{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device "
		"'pci.0' not found\"}, \"id\": \"kh-1\"}\r\n", &pci, &e), KH_ENOHOTPLUG);
	ck_assert_ptr_nonnull(strstr(e.msg, "no pci.0 bus"));
	ck_assert_int_eq(survey_with_reply(
		"{\"error\": {\"class\": \"GenericError\", \"desc\": \"boom\"}, "
		"\"id\": \"kh-1\"}\r\n", &pci, &e), KH_EFAIL);
	ck_assert_str_eq(e.msg, "QEMU refused qom-get: boom");
}
END_TEST

static Suite *pci_suite(void)
{
	Suite *s = suite_create("pci");
	TCase *tc = check_case("pci");

	tcase_add_test(tc, occupied_slots_from_query_pci);
	tcase_add_test(tc, find_device_walks_bridges);
	tcase_add_test(tc, free_slot_choice);
	tcase_add_test(tc, survey_pipelines_and_judges_hotplug);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(pci_suite());
}
