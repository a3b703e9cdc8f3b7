/* pci.c: query-pci walked (the survey and placement: test_bus.c; ids
 * and uuids: test_model.c). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "../pci.h"
#include "check_run.h"

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

struct seen_log {
	char text[512];
};

static void log_seen(const struct pci_seen *dev, void *arg)
{
	struct seen_log *l = arg;
	size_t n = strlen(l->text);

	snprintf(l->text + n, sizeof(l->text) - n, "%s:%d:%s%s%s;", dev->bus,
		 dev->slot, dev->id, dev->bridge ? ":bridge" : "",
		 dev->bridge && !dev->numbered ? ":unnumbered" : "");
}

/* Every device, each on its bus by name: the root's, or the bridge's id
 * it is behind. */
START_TEST(walk_names_buses)
{
	json_t *pci = json_loads(query_pci, 0, NULL);
	struct seen_log l = { "" };

	ck_assert_ptr_nonnull(pci);
	pci_walk(pci, "pci.0", log_seen, &l);
	ck_assert_str_eq(l.text, "pci.0:0:;pci.0:1:;pci.0:1:;"
			 "pci.0:5:hotdisk-003fc157-pci-5;pci.0:6:br1:bridge;"
			 "br1:3:behind;");
	json_decref(pci);
}
END_TEST

/* Before the firmware has run, a bridge's bus has number 0 and query-pci
 * shows nothing behind it: the walk says so. A bridge without an id
 * names its devices' bus "". A slot out of range is no device. */
START_TEST(walk_unnumbered_and_anonymous)
{
	json_t *pci = json_loads(
		"[{\"bus\": 0, \"devices\": ["
		"{\"bus\": 0, \"slot\": 4, \"qdev_id\": \"rp1\","
		" \"pci_bridge\": {\"bus\": {\"number\": 0, \"secondary\": 0}}},"
		"{\"bus\": 0, \"slot\": 5,"
		" \"pci_bridge\": {\"bus\": {\"number\": 0, \"secondary\": 2},"
		"  \"devices\": [{\"bus\": 2, \"slot\": 1, \"qdev_id\": \"x\"}]}},"
		"{\"bus\": 0, \"slot\": 40, \"qdev_id\": \"odd\"}"
		"]}]", 0, NULL);
	struct seen_log l = { "" };

	ck_assert_ptr_nonnull(pci);
	pci_walk(pci, "pcie.0", log_seen, &l);
	ck_assert_str_eq(l.text, "pcie.0:4:rp1:bridge:unnumbered;"
			 "pcie.0:5::bridge;:1:x;");
	json_decref(pci);
}
END_TEST

static Suite *pci_suite(void)
{
	Suite *s = suite_create("pci");
	TCase *tc = check_case("pci");

	tcase_add_test(tc, walk_names_buses);
	tcase_add_test(tc, walk_unnumbered_and_anonymous);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(pci_suite());
}
