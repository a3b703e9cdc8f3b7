/* bus.c: the survey against a scripted QMP peer (QEMU 7.2's answers on pc
 * with a bridge, and on q35 before the firmware has run), and placement
 * on maps made by hand. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "../bus.h"
#include "../monitor.h"
#include "check_run.h"
#include "qmp_peer.h"

#define NSTEPS(script) (sizeof(script) / sizeof(script[0]))
#define REPLY(id, value) \
	{ PEER_SEND, "{\"return\": " value ", \"id\": \"kh-" #id "\"}\r\n", 0, NULL }
#define NOT_FOUND(id) \
	{ PEER_SEND, "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": " \
	  "\"not found\"}, \"id\": \"kh-" #id "\"}\r\n", 0, NULL }
#define EXPECT(text) { PEER_EXPECT, text, 0, NULL }

static int survey(const struct peer_step *script, size_t n, unsigned what,
		  struct bus_map *map, struct error *e)
{
	struct monitor *m = NULL;
	struct peer *p;
	int fd, rc;

	p = peer_start(script, n, &fd);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(monitor_attach(&m, fd, HANG_MS, e), KH_OK);
	rc = bus_survey(m, what, map, e);
	monitor_close(m);
	ck_assert_int_eq(peer_finish(p), 0);
	return rc;
}

/* pc's host bridge in query-pci: 8086:1237 at 00.0 */
#define I440FX_HOST "{\"bus\": 0, \"slot\": 0, \"function\": 0, " \
	"\"qdev_id\": \"\", \"id\": {\"vendor\": 32902, \"device\": 4663}},"

/* pc (an i440FX host bridge: its root is pci.0), running, a pci-bridge
 * br1 at slot 31 with a device at its slot 3: query-pci sees all; round
 * two asks pci.0's hotplug (a bridge could take the device instead) and
 * lists the devices (their QOM types), round three asks br1's bus's
 * type. br1's hotplug is left for placement to ask. */
START_TEST(survey_pc_with_bridge)
{
	struct peer_step script[] = {
		HELLO,
		EXPECT("{\"execute\":\"query-pci\",\"id\":\"kh-1\"}"),
		REPLY(1, "[{\"bus\": 0, \"devices\": ["
		      I440FX_HOST
		      "{\"bus\": 0, \"slot\": 4, \"qdev_id\": \"hotdisk-1-pci-4\"},"
		      "{\"bus\": 0, \"slot\": 31, \"qdev_id\": \"br1\", \"pci_bridge\": "
		      "{\"bus\": {\"secondary\": 1}, \"devices\": "
		      "[{\"bus\": 1, \"slot\": 3, \"qdev_id\": \"theirs\"}]}}]}]"),
		EXPECT("{\"execute\":\"qom-get\",\"id\":\"kh-2\",\"arguments\":"
		       "{\"path\":\"pci.0\",\"property\":\"hotplug-handler\"}}"),
		EXPECT("{\"execute\":\"qom-list\",\"id\":\"kh-3\",\"arguments\":"
		       "{\"path\":\"/machine/peripheral\"}}"),
		REPLY(2, "\"/machine/i440fx/piix4_pm\""),
		REPLY(3, "[{\"name\": \"type\", \"type\": \"string\"},"
		      "{\"name\": \"br1\", \"type\": \"child<pci-bridge>\"},"
		      "{\"name\": \"theirs\", \"type\": \"child<virtio-net-pci>\"}]"),
		EXPECT("{\"execute\":\"qom-get\",\"id\":\"kh-4\",\"arguments\":"
		       "{\"path\":\"/machine/peripheral/br1/br1\",\"property\":\"type\"}}"),
		REPLY(4, "\"PCI\""),
	};
	struct error e = { 0 };
	struct bus_map map;
	const struct bus *b;
	const struct bus_device *d;

	ck_assert_msg(survey(script, NSTEPS(script), BUS_WHERE | BUS_HOTPLUG,
			     &map, &e) == KH_OK, "%s", e.msg);
	ck_assert_uint_eq(map.nbus, 2);
	ck_assert_ptr_nonnull(b = bus_find(&map, "pci.0"));
	ck_assert_int_eq(b->shape, BUS_SHAPE_ROOT);
	ck_assert(b->asked && b->hotplug);
	ck_assert_uint_eq(b->used, (1u << 0) | (1u << 4) | (1u << 31));
	ck_assert_ptr_nonnull(b = bus_find(&map, "br1"));
	ck_assert_int_eq(b->shape, BUS_SHAPE_BRIDGE);
	ck_assert(!b->asked);
	ck_assert_uint_eq(b->used, 1u << 3);
	ck_assert_ptr_nonnull(d = bus_device_find(&map, "theirs"));
	ck_assert_str_eq(d->bus, "br1");
	ck_assert_int_eq(d->slot, 3);
	ck_assert_ptr_nonnull(d = bus_device_find(&map, "br1"));
	ck_assert_str_eq(d->bus, "pci.0");
	ck_assert_ptr_null(bus_device_find(&map, ""));
	bus_map_free(&map);
}
END_TEST

/* q35 before the firmware has run: no pci.0; query-pci shows root ports
 * rp1 and rp3 unnumbered and nothing behind them, so QOM is asked where
 * each device not seen is (a named one and one without an id); one
 * port's type shapes both. */
START_TEST(survey_q35_prelaunch_asks_qom)
{
	struct peer_step script[] = {
		HELLO,
		EXPECT("\"query-pci\""),
		REPLY(1, "[{\"bus\": 0, \"devices\": ["
		      "{\"bus\": 0, \"slot\": 0, \"qdev_id\": \"\"},"
		      "{\"bus\": 0, \"slot\": 4, \"qdev_id\": \"rp1\", \"pci_bridge\": "
		      "{\"bus\": {\"secondary\": 0}}},"
		      "{\"bus\": 0, \"slot\": 6, \"qdev_id\": \"rp3\", \"pci_bridge\": "
		      "{\"bus\": {\"secondary\": 0}}}]}]"),
		/* not an i440FX: which root is asked */
		EXPECT("\"path\":\"pci.0\",\"property\":\"hotplug-handler\""),
		NOT_FOUND(2),
		EXPECT("\"path\":\"pcie.0\",\"property\":\"hotplug-handler\""),
		EXPECT("{\"execute\":\"qom-list\",\"id\":\"kh-4\",\"arguments\":"
		       "{\"path\":\"/machine/peripheral\"}}"),
		EXPECT("{\"execute\":\"qom-list\",\"id\":\"kh-5\",\"arguments\":"
		       "{\"path\":\"/machine/peripheral-anon\"}}"),
		REPLY(3, "\"\""),
		REPLY(4, "[{\"name\": \"type\", \"type\": \"string\"},"
		      "{\"name\": \"rp1\", \"type\": \"child<pcie-root-port>\"},"
		      "{\"name\": \"rp3\", \"type\": \"child<pcie-root-port>\"},"
		      "{\"name\": \"d1\", \"type\": \"child<virtio-blk-pci>\"}]"),
		EXPECT("\"path\":\"/machine/peripheral/d1\",\"property\":\"parent_bus\""),
		EXPECT("\"path\":\"/machine/peripheral/d1\",\"property\":\"addr\""),
		EXPECT("\"path\":\"/machine/peripheral/d1/d1\",\"property\":\"type\""),
		REPLY(5, "[{\"name\": \"device[0]\", \"type\": \"child<virtio-net-pci>\"}]"),
		EXPECT("\"path\":\"/machine/peripheral-anon/device[0]\",\"property\":\"parent_bus\""),
		EXPECT("\"path\":\"/machine/peripheral-anon/device[0]\",\"property\":\"addr\""),
		REPLY(6, "\"/machine/peripheral/rp1/rp1\""),
		REPLY(7, "0"),
		NOT_FOUND(8),	/* d1 has no bus */
		REPLY(9, "\"/machine/q35/pcie.0\""),
		REPLY(10, "40"),
		EXPECT("{\"execute\":\"qom-get\",\"id\":\"kh-11\",\"arguments\":"
		       "{\"path\":\"/machine/peripheral/rp1/rp1\",\"property\":\"type\"}}"),
		REPLY(11, "\"PCIE\""),
	};
	struct error e = { 0 };
	struct bus_map map;
	const struct bus *b;
	const struct bus_device *d;

	ck_assert_msg(survey(script, NSTEPS(script), BUS_WHERE | BUS_HOTPLUG,
			     &map, &e) == KH_OK, "%s", e.msg);
	ck_assert_ptr_nonnull(b = bus_find(&map, "pcie.0"));
	ck_assert_int_eq(b->shape, BUS_SHAPE_ROOT);
	ck_assert(b->asked && !b->hotplug);
	ck_assert_uint_eq(b->used, (1u << 0) | (1u << 4) | (1u << 5) | (1u << 6));
	ck_assert_ptr_nonnull(b = bus_find(&map, "rp1"));
	ck_assert_int_eq(b->shape, BUS_SHAPE_PORT);
	ck_assert_uint_eq(b->used, 1u);
	ck_assert_ptr_nonnull(b = bus_find(&map, "rp3"));
	ck_assert_int_eq(b->shape, BUS_SHAPE_PORT);
	ck_assert_ptr_null(bus_find(&map, "d1"));	/* no bus of its own */
	ck_assert_ptr_nonnull(d = bus_device_find(&map, "d1"));
	ck_assert_str_eq(d->bus, "rp1");
	ck_assert_int_eq(d->slot, 0);
	bus_map_free(&map);
}
END_TEST

/* Placement asks QEMU whether a bus takes hotplug only as far as the
 * choice needs: the first port with room (rp2: rp1 is full); it takes
 * none (hotplug=off), so every other one with room, at once. */
START_TEST(place_asks_only_what_it_needs)
{
	struct peer_step script[] = {
		HELLO,
		EXPECT("{\"execute\":\"qom-get\",\"id\":\"kh-1\",\"arguments\":"
		       "{\"path\":\"/machine/peripheral/rp2/rp2\",\"property\":"
		       "\"hotplug-handler\"}}"),
		REPLY(1, "\"\""),
		EXPECT("\"path\":\"/machine/peripheral/rp10/rp10\",\"property\":\"hotplug-handler\""),
		EXPECT("\"path\":\"/machine/peripheral/pb1/pb1\",\"property\":\"hotplug-handler\""),
		REPLY(2, "\"/machine/unattached/device[2]\""),
		REPLY(3, "\"/machine/unattached/device[2]\""),
		EXPECT("\"fence\""),
	};
	struct bus_want w = { .slot = -1 };
	struct error e = { 0 };
	struct monitor *m = NULL;
	struct bus_map map = { 0 };
	struct bus v[] = {
		{ .name = "pcie.0", .shape = BUS_SHAPE_ROOT, .asked = true, .used = 1 },
		{ .name = "rp1", .shape = BUS_SHAPE_PORT, .used = 1 },
		{ .name = "rp2", .shape = BUS_SHAPE_PORT },
		{ .name = "rp10", .shape = BUS_SHAPE_PORT },
		{ .name = "pb1", .shape = BUS_SHAPE_BRIDGE },
		{ .name = "pci.3", .shape = BUS_SHAPE_UNKNOWN },
	};
	struct peer *p;
	char bus[RT_BUS_MAX];
	int fd, slot;

	map.bus = v;
	map.nbus = sizeof(v) / sizeof(v[0]);
	ck_assert_ptr_nonnull(p = peer_start(script, NSTEPS(script), &fd));
	ck_assert_int_eq(monitor_attach(&m, fd, HANG_MS, &e), KH_OK);
	ck_assert_msg(bus_place(m, &map, &w, bus, sizeof(bus), &slot, &e) == KH_OK,
		      "%s", e.msg);
	ck_assert_str_eq(bus, "rp10");
	ck_assert_int_eq(slot, 0);
	ck_assert(!v[1].asked);		/* full: not asked */
	ck_assert(v[2].asked && !v[2].hotplug);
	ck_assert(v[4].asked && v[4].hotplug);
	monitor_execute(m, "fence", NULL, NULL, &e);
	monitor_close(m);
	ck_assert_int_eq(peer_finish(p), 0);
}
END_TEST

/* pc with pci.0 alone: the survey is query-pci and nothing else, and
 * placement asks nothing either (pci.0 is the one bus that could take
 * the device, and device_add says a refusal itself); a dry run (sure)
 * asks, to show what would happen. */
START_TEST(lone_root_not_asked)
{
	struct peer_step script[] = {
		HELLO,
		EXPECT("{\"execute\":\"query-pci\",\"id\":\"kh-1\"}"),
		REPLY(1, "[{\"bus\": 0, \"devices\": ["
		      I440FX_HOST
		      "{\"bus\": 0, \"slot\": 4, \"qdev_id\": \"x\"}]}]"),
		EXPECT("{\"execute\":\"fence\",\"id\":\"kh-2\"}"),
		REPLY(2, "{}"),
		EXPECT("{\"execute\":\"qom-get\",\"id\":\"kh-3\",\"arguments\":"
		       "{\"path\":\"pci.0\",\"property\":\"hotplug-handler\"}}"),
		REPLY(3, "\"\""),
	};
	struct bus_want w = { .slot = -1 };
	struct error e = { 0 };
	struct monitor *m = NULL;
	struct bus_map map;
	struct peer *p;
	char bus[RT_BUS_MAX];
	int fd, slot;

	ck_assert_ptr_nonnull(p = peer_start(script, NSTEPS(script), &fd));
	ck_assert_int_eq(monitor_attach(&m, fd, HANG_MS, &e), KH_OK);
	ck_assert_msg(bus_survey(m, BUS_WHERE | BUS_HOTPLUG, &map, &e) == KH_OK,
		      "%s", e.msg);
	ck_assert_uint_eq(map.nbus, 1);
	ck_assert(!map.bus[0].asked);
	ck_assert_msg(bus_place(m, &map, &w, bus, sizeof(bus), &slot, &e) == KH_OK,
		      "%s", e.msg);
	ck_assert_str_eq(bus, "pci.0");
	ck_assert_int_eq(slot, 1);
	ck_assert(!map.bus[0].asked);
	ck_assert_int_eq(monitor_execute(m, "fence", NULL, NULL, &e), KH_OK);
	/* sure: QEMU's word, which here is no */
	w.sure = true;
	ck_assert_int_eq(bus_place(m, &map, &w, bus, sizeof(bus), &slot, &e),
			 KH_ENOHOTPLUG);
	ck_assert_str_eq(e.msg, "no bus of this VM takes hotplug: pci.0 (does not "
			 "support hotplug: is ACPI PCI hotplug off?)");
	bus_map_free(&map);
	monitor_close(m);
	ck_assert_int_eq(peer_finish(p), 0);
}
END_TEST

/* A survey of where devices are alone asks nothing about the buses; a
 * lost connection is an error, not a missing bus. */
START_TEST(survey_where_alone)
{
	struct peer_step script[] = {
		HELLO,
		EXPECT("{\"execute\":\"query-pci\",\"id\":\"kh-1\"}"),
		REPLY(1, "[{\"bus\": 0, \"devices\": "
		      "[{\"bus\": 0, \"slot\": 5, \"qdev_id\": \"x\"}]}]"),
		{ PEER_END, NULL, 0, NULL },
	};
	struct peer_step lost[] = {
		HELLO,
		EXPECT("\"query-pci\""),
		{ PEER_END, NULL, 0, NULL },
	};
	struct error e = { 0 };
	struct bus_map map;

	ck_assert_int_eq(survey(script, NSTEPS(script), BUS_WHERE, &map, &e),
			 KH_OK);
	ck_assert_str_eq(bus_device_find(&map, "x")->bus, "pci.0");
	bus_map_free(&map);
	ck_assert_int_ne(survey(lost, NSTEPS(lost), BUS_WHERE | BUS_HOTPLUG,
				&map, &e), KH_OK);
	ck_assert_str_eq(e.qmp_class, "");
	bus_map_free(&map);
}
END_TEST

/* --- placement, on maps made by hand --- */

static struct bus buses[8];
static struct bus_map hand_map;

static void add_bus(const char *name, enum bus_shape shape, bool hotplug,
		    uint32_t used)
{
	struct bus *b = &buses[hand_map.nbus++];

	snprintf(b->name, sizeof(b->name), "%s", name);
	b->shape = shape;
	b->asked = true;
	b->hotplug = hotplug;
	b->used = used;
	b->reserved = 0;
	hand_map.bus = buses;
}

static void pc_with_bridges(void)
{
	memset(&hand_map, 0, sizeof(hand_map));
	add_bus("pci.0", BUS_SHAPE_ROOT, true, 0x1);
	add_bus("br10", BUS_SHAPE_BRIDGE, true, 0);
	add_bus("br2", BUS_SHAPE_BRIDGE, true, 0);
	buses[0].reserved = 0xf;
}

static void q35_with_ports(void)
{
	memset(&hand_map, 0, sizeof(hand_map));
	add_bus("pcie.0", BUS_SHAPE_ROOT, false, 0x1);
	add_bus("pb1", BUS_SHAPE_BRIDGE, true, 0);
	add_bus("rp10", BUS_SHAPE_PORT, true, 0);
	add_bus("rp2", BUS_SHAPE_PORT, true, 0);
	add_bus("rp3", BUS_SHAPE_PORT, false, 0);
}

static int place(const struct bus_want *w, char *bus, int *slot,
		 struct error *e)
{
	memset(e, 0, sizeof(*e));
	return bus_place(NULL, &hand_map, w, bus, RT_BUS_MAX, slot, e);
}

/* pc: pci.0 first, then each bridge in the natural order of names. */
START_TEST(place_pc_fills_root_then_bridges)
{
	struct bus_want w = { .slot = -1, .reserved_by = "reserved-slots" };
	struct error e;
	char bus[RT_BUS_MAX];
	int slot;

	pc_with_bridges();
	ck_assert_int_eq(place(&w, bus, &slot, &e), KH_OK);
	ck_assert_str_eq(bus, "pci.0");
	ck_assert_int_eq(slot, 4);
	buses[0].used = 0xfffffff0;
	ck_assert_int_eq(place(&w, bus, &slot, &e), KH_OK);
	ck_assert_str_eq(bus, "br2");
	ck_assert_int_eq(slot, 1);	/* slot 0 of a bridge takes no hotplug */
	buses[2].used = 0xfffffffe;
	buses[1].used = 0xfffffffe;
	ck_assert_int_eq(place(&w, bus, &slot, &e), KH_EFAIL);
	ck_assert_str_eq(e.msg, "no free PCI slot left on pci.0 (28 slots, all "
			 "taken), br2 (31 slots, all taken), br10 (31 slots, "
			 "all taken)");
	/* a reserved slot asked for is refused as reserved */
	pc_with_bridges();
	w.slot = 2;
	ck_assert_int_eq(place(&w, bus, &slot, &e), KH_EFAIL);
	ck_assert_str_eq(e.msg, "slot 2 on pci.0 is reserved (reserved-slots)");
	w.slot = 0;
	ck_assert_int_eq(place(&w, bus, &slot, &e), KH_EUSAGE);
}
END_TEST

/* q35: every empty port that takes hotplug, at slot 0 only, then each
 * bridge; never pcie.0. */
START_TEST(place_q35_ports_then_bridges)
{
	struct bus_want w = { .slot = -1 };
	struct error e;
	char bus[RT_BUS_MAX];
	int slot;

	q35_with_ports();
	ck_assert_int_eq(place(&w, bus, &slot, &e), KH_OK);
	ck_assert_str_eq(bus, "rp2");
	ck_assert_int_eq(slot, 0);
	buses[3].used = 1;
	ck_assert_int_eq(place(&w, bus, &slot, &e), KH_OK);
	ck_assert_str_eq(bus, "rp10");
	buses[2].used = 1;
	ck_assert_int_eq(place(&w, bus, &slot, &e), KH_OK);
	ck_assert_str_eq(bus, "pb1");
	ck_assert_int_eq(slot, 1);
	/* --bus: a port's one slot; another slot there is a usage error */
	buses[2].used = buses[3].used = 0;
	w.bus = "rp10";
	ck_assert_int_eq(place(&w, bus, &slot, &e), KH_OK);
	ck_assert_str_eq(bus, "rp10");
	ck_assert_int_eq(slot, 0);
	w.slot = 3;
	ck_assert_int_eq(place(&w, bus, &slot, &e), KH_EUSAGE);
	ck_assert_str_eq(e.msg, "slot 3 is not possible on rp10 (a PCIe port "
			 "holds one device, at slot 0)");
	w.slot = -1;
	w.bus = "rp3";
	ck_assert_int_eq(place(&w, bus, &slot, &e), KH_ENOHOTPLUG);
	ck_assert_str_eq(e.msg, "bus rp3 of this VM does not support hotplug");
	w.bus = "pcie.0";
	ck_assert_int_eq(place(&w, bus, &slot, &e), KH_ENOHOTPLUG);
	w.bus = "rp9";
	ck_assert_int_eq(place(&w, bus, &slot, &e), KH_EFAIL);
	ck_assert_str_eq(e.msg, "this VM has no bus rp9");
}
END_TEST

/* No bus takes hotplug (q35 without ports): exit 3, and why. */
START_TEST(place_nothing_takes_hotplug)
{
	struct bus_want w = { .slot = -1 };
	struct error e;
	char bus[RT_BUS_MAX];
	int slot;

	memset(&hand_map, 0, sizeof(hand_map));
	add_bus("pcie.0", BUS_SHAPE_ROOT, false, 0x1);
	ck_assert_int_eq(place(&w, bus, &slot, &e), KH_ENOHOTPLUG);
	ck_assert_ptr_nonnull(strstr(e.msg, "pcie-root-port"));
	/* pc with ACPI hotplug off */
	memset(&hand_map, 0, sizeof(hand_map));
	add_bus("pci.0", BUS_SHAPE_ROOT, false, 0x1);
	ck_assert_int_eq(place(&w, bus, &slot, &e), KH_ENOHOTPLUG);
}
END_TEST

/* The file's buses, in its order, and a format's one bus. */
START_TEST(place_as_the_file_allows)
{
	struct rt_bus allowed[] = { { "br10", 0x2 }, { "rp9", 0 } };
	struct bus_want w = { .slot = -1, .allowed = allowed, .nallowed = 2 };
	struct error e;
	char bus[RT_BUS_MAX];
	int slot;

	pc_with_bridges();
	buses[1].reserved = 0x2;
	ck_assert_int_eq(place(&w, bus, &slot, &e), KH_OK);
	ck_assert_str_eq(bus, "br10");
	ck_assert_int_eq(slot, 2);
	w.bus = "br2";
	ck_assert_int_eq(place(&w, bus, &slot, &e), KH_EFAIL);
	ck_assert_str_eq(e.msg, "bus br2 is not among the buses the runtime "
			 "file allows");
	w.bus = NULL;
	buses[1].used = 0xfffffffc;
	ck_assert_int_eq(place(&w, bus, &slot, &e), KH_EFAIL);
	ck_assert_str_eq(e.msg, "no free PCI slot left on br10 (30 slots, all "
			 "taken), rp9 (not in this VM)");
	/* Ganeti's: pci.0 alone, whatever else the VM has */
	pc_with_bridges();
	w = (struct bus_want){ .slot = -1, .only = "pci.0", .only_why = "why" };
	buses[0].used = 0xfffffff0;
	ck_assert_int_eq(place(&w, bus, &slot, &e), KH_EFAIL);
	w.bus = "br2";
	ck_assert_int_eq(place(&w, bus, &slot, &e), KH_ENOHOTPLUG);
	ck_assert_str_eq(e.msg, "bus br2 is not possible here: why");
}
END_TEST

static Suite *bus_suite(void)
{
	Suite *s = suite_create("bus");
	TCase *tc = check_case("bus");

	tcase_add_test(tc, survey_pc_with_bridge);
	tcase_add_test(tc, lone_root_not_asked);
	tcase_add_test(tc, survey_q35_prelaunch_asks_qom);
	tcase_add_test(tc, survey_where_alone);
	tcase_add_test(tc, place_asks_only_what_it_needs);
	tcase_add_test(tc, place_pc_fills_root_then_bridges);
	tcase_add_test(tc, place_q35_ports_then_bridges);
	tcase_add_test(tc, place_nothing_takes_hotplug);
	tcase_add_test(tc, place_as_the_file_allows);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(bus_suite());
}
