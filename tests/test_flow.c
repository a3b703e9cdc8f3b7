/* The generic flow (flow.c) and each kind's operations (disk.c, nic.c)
 * against a scripted QMP peer: the QMP sequence an add or removal sends,
 * and what it takes back when QEMU refuses a step. Links the flow and
 * the layers below it, not the commands or main. */
#include <check.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../flow.h"
#include "../monitor.h"
#include "../session.h"
#include "../settle.h"
#include "../tap.h"
#include "check_run.h"
#include "qmp_peer.h"

#define U1	"f10e7e57-66a8-4e6d-8b7e-ec4f69751396"

static char tmpdir[64];
static char runtime_path[128], image_path[128];

static void make_tmpdir(void)
{
	FILE *f;

	scratch_dir_make(tmpdir, sizeof(tmpdir), "test_flow");
	snprintf(runtime_path, sizeof(runtime_path), "%s/vm.runtime", tmpdir);
	snprintf(image_path, sizeof(image_path), "%s/d1.img", tmpdir);
	if ((f = fopen(image_path, "w")) == NULL)
		abort();
	fclose(f);
}

static void remove_tmpdir(void)
{
	scratch_dir_remove(tmpdir);
}

/* QEMU's answers every change starts with: the run state allows it
 * (kh-1, kh-2), pci.0 is empty (kh-3) and takes hotplug (kh-4: asked,
 * as the bus is not an i440FX's). */
#define RUNNING								\
	{ PEER_EXPECT, "\"query-status\"", 0, NULL },			\
	{ PEER_EXPECT, "\"query-migrate\"", 0, NULL },			\
	{ PEER_SEND, "{\"return\": {\"status\": \"running\", "		\
	  "\"running\": true}, \"id\": \"kh-1\"}\r\n", 0, NULL },	\
	{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-2\"}\r\n", 0, NULL }
#define EMPTY_BUS							\
	{ PEER_EXPECT, "\"query-pci\"", 0, NULL },			\
	{ PEER_SEND, "{\"return\": [{\"bus\": 0, \"devices\": []}], "	\
	  "\"id\": \"kh-3\"}\r\n", 0, NULL },				\
	{ PEER_EXPECT, "\"hotplug-handler\"", 0, NULL },		\
	{ PEER_SEND, "{\"return\": \"/machine/unattached/device[1]\", "	\
	  "\"id\": \"kh-4\"}\r\n", 0, NULL }

struct fixture {
	struct options o;
	struct session s;
	struct peer *peer;
	struct error e;
};

/* A session on the test's runtime file (made if missing) whose monitor is
 * the peer playing script, with a timeout of timeout_ms; dry for a dry
 * run, whose plan is gathered in f->o.plan (the test frees it). */
static void open_session(struct fixture *f, const struct peer_step *script,
			 size_t n, int timeout_ms, bool dry)
{
	int fd;

	memset(f, 0, sizeof(*f));
	f->o.runtime = runtime_path;
	f->o.monitor = "peer";
	f->o.timeout_ms = timeout_ms;
	f->o.quiet = true;
	f->o.dry_run = dry;
	if (dry)
		ck_assert_ptr_nonnull(f->o.plan = json_array());
	session_init(&f->s, &f->o);
	ck_assert_msg(session_open(&f->s, FILE_CREATE, &f->e) == KH_OK, "%s",
		      f->e.msg);
	f->peer = peer_start(script, n, &fd);
	ck_assert_ptr_nonnull(f->peer);
	ck_assert_int_eq(monitor_attach(&f->s.m, fd, f->o.timeout_ms, &f->e), KH_OK);
}

/* Closes the session; 0 when the peer saw every command it expected. */
static int close_session(struct fixture *f)
{
	session_close(&f->s);
	return peer_finish(f->peer);
}

#define NSTEPS(script) (sizeof(script) / sizeof(script[0]))
#define OPEN(f, script) open_session(f, script, NSTEPS(script), HANG_MS, false)

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Nothing left beside the runtime file: no intent record, no prepared
 * temporary file. */
static void nothing_left(void)
{
	char intent[160], cmd[256];

	snprintf(intent, sizeof(intent), "%s.intent", runtime_path);
	ck_assert(!exists(intent));
	snprintf(cmd, sizeof(cmd), "ls -a %s | grep -q '\\.tmp\\.'", tmpdir);
	ck_assert_int_ne(system(cmd), 0);
}

/* The test's own last command, "fence" with the id that follows the
 * ones the flow used: where the peer expects it, nothing else was sent
 * after the steps it expected before (a command the flow sent and did
 * not wait for, an undo whose error it ignores, would come first). */
#define FENCE(id) { PEER_EXPECT, "{\"execute\":\"fence\",\"id\":\"kh-" #id "\"}", \
		    0, NULL }

static void fence(struct fixture *f)
{
	struct error e = { 0 };
	unsigned long id;

	ck_assert_int_eq(monitor_send(f->s.m, "fence", NULL, -1, &id, &e), KH_OK);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

/* The file's text (at most size - 1 bytes) in buf. */
static char *read_text(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* A newer Ganeti runtime file (four entries: devices placed by hvinfo,
 * ids disk-<uuid groups 1-3>) with no devices, slots 0-11 reserved. On
 * EMPTY_BUS's empty pci.0 the first free slot is then 12 (0xc), and a
 * disk's image goes in fd set 1000 + 12. */
#define GANETI_FILE "[[\"qemu-system-x86_64\", \"-name\", \"vm1\"], [], " \
	"{\"kvm_pci_reservations\": 12}, []]\n"
#define G_ID	"disk-f10e7e57-66a8-4e6d"
#define G_ADD_FD "{\"execute\":\"add-fd\",\"id\":\"kh-5\",\"arguments\":" \
	"{\"fdset-id\":1012,\"opaque\":\"" G_ID "\"}}"
#define G_DRIVE_ADD "{\"execute\":\"human-monitor-command\",\"id\":\"kh-6\"," \
	"\"arguments\":{\"command-line\":\"drive_add dummy " \
	"file=/dev/fdset/1012,if=none,id=" G_ID ",format=raw," \
	"auto-read-only=off,aio=threads\"}}"
#define G_REMOVE_FD(id) "{\"execute\":\"remove-fd\",\"id\":\"kh-" #id "\"," \
	"\"arguments\":{\"fdset-id\":1012}}"
/* The drive made: add-fd with the image, drive_add answered OK, the set
 * given up (kh-5 to kh-7). */
#define G_DRIVE_MADE							\
	{ PEER_EXPECT_FD, G_ADD_FD, 0, image_path },			\
	{ PEER_SEND, "{\"return\": {\"fdset-id\": 1012, \"fd\": 25}, "	\
	  "\"id\": \"kh-5\"}\r\n", 0, NULL },				\
	{ PEER_EXPECT, G_DRIVE_ADD, 0, NULL },				\
	{ PEER_SEND, "{\"return\": \"OK\\r\\n\", \"id\": \"kh-6\"}\r\n",	\
	  0, NULL },							\
	{ PEER_EXPECT, G_REMOVE_FD(7), 0, NULL },			\
	{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-7\"}\r\n", 0, NULL }

static struct request disk_request(void)
{
	struct request r = { .kind = RT_DISK, .op = OP_ADD, .slot = -1,
			     .path = image_path, .format = "raw" };
	struct error e = { 0 };

	memcpy(r.uuid, U1, sizeof(r.uuid));
	ck_assert_msg(flow_check_add(&r, &e) == KH_OK, "%s", e.msg);
	return r;
}

/* A refused device_add is followed by blockdev-del of the node just
 * made; the bus's refusal is exit 3; nothing is recorded. */
START_TEST(disk_refused_device_add_deletes_node)
{
	struct peer_step script[] = {
		HELLO, RUNNING, EMPTY_BUS,
		{ PEER_EXPECT, "\"blockdev-add\"", 0, NULL },
		{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-5\"}\r\n", 0, NULL },
		{ PEER_EXPECT, "\"device_add\"", 0, NULL },
		{ PEER_SEND, "{\"error\": {\"class\": \"GenericError\", \"desc\": "
		  "\"Bus 'pci.0' does not support hotplugging\"}, \"id\": \"kh-6\"}\r\n",
		  0, NULL },
		{ PEER_EXPECT, "\"blockdev-del\",\"id\":\"kh-7\",\"arguments\":"
		  "{\"node-name\":\"hotdisk-f10e7e57-pci-4\"}", 0, NULL },
		{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-7\"}\r\n", 0, NULL },
	};
	struct request r = disk_request();
	struct fixture f;

	OPEN(&f, script);
	ck_assert_int_eq(flow_add(&f.s, &r, &f.e), KH_ENOHOTPLUG);
	ck_assert_ptr_nonnull(strstr(f.e.msg, "does not support hotplugging"));
	ck_assert_uint_eq(f.s.rt.ndev, 0);
	ck_assert_int_eq(close_session(&f), 0);
	ck_assert(!exists(runtime_path));
	nothing_left();
}
END_TEST

/* A removal the guest does not acknowledge in time stays recorded as
 * pending, and the advice names the command that finishes it. */
START_TEST(disk_removal_times_out_pending)
{
	struct peer_step add[] = {
		HELLO, RUNNING, EMPTY_BUS,
		{ PEER_EXPECT, "\"blockdev-add\"", 0, NULL },
		{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-5\"}\r\n", 0, NULL },
		{ PEER_EXPECT, "\"device_add\"", 0, NULL },
		{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-6\"}\r\n", 0, NULL },
	};
	struct peer_step removal[] = {
		HELLO, RUNNING,
		{ PEER_EXPECT, "\"device_del\",\"id\":\"kh-3\",\"arguments\":"
		  "{\"id\":\"hotdisk-f10e7e57-pci-4\"}", 0, NULL },
		{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-3\"}\r\n", 0, NULL },
	};
	struct request r = disk_request();
	struct fixture f;
	char text[4096];
	FILE *file;
	size_t n;

	OPEN(&f, add);
	ck_assert_msg(flow_add(&f.s, &r, &f.e) == KH_OK, "%s", f.e.msg);
	ck_assert_int_eq(close_session(&f), 0);

	/* the peer never sends DEVICE_DELETED: a short timeout fires */
	r.op = OP_REMOVE;
	open_session(&f, removal, NSTEPS(removal), 300, false);
	ck_assert_int_eq(flow_remove(&f.s, &r, &f.e), KH_ETIMEOUT);
	ck_assert_ptr_nonnull(strstr(f.e.msg, "it stays recorded as unplugging: "
				     "run 'disk remove --uuid " U1 "' again"));
	ck_assert_int_eq(close_session(&f), 0);
	ck_assert_ptr_nonnull(file = fopen(runtime_path, "r"));
	n = fread(text, 1, sizeof(text) - 1, file);
	text[n] = '\0';
	fclose(file);
	ck_assert_ptr_nonnull(strstr(text, "state: unplugging"));
	nothing_left();
}
END_TEST

/* A refused netdev_add is followed by closefd of every fd name handed
 * over, and the tap goes with the tool's fds. Needs root (a real tap). */
START_TEST(nic_refused_netdev_add_closes_fds)
{
	struct peer_step script[] = {
		HELLO, RUNNING, EMPTY_BUS,
		{ PEER_EXPECT, "\"getfd\",\"id\":\"kh-5\",\"arguments\":"
		  "{\"fdname\":\"hotnic-f10e7e57-pci-4-tap0\"}", 0, NULL },
		{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-5\"}\r\n", 0, NULL },
		{ PEER_EXPECT, "\"netdev_add\"", 0, NULL },
		{ PEER_SEND, "{\"error\": {\"class\": \"GenericError\", \"desc\": "
		  "\"could not configure\"}, \"id\": \"kh-6\"}\r\n", 0, NULL },
		{ PEER_EXPECT, "\"closefd\",\"id\":\"kh-7\",\"arguments\":"
		  "{\"fdname\":\"hotnic-f10e7e57-pci-4-tap0\"}", 0, NULL },
		{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-7\"}\r\n", 0, NULL },
	};
	/* a script stands in for the bridge: the host side without one */
	struct request r = { .kind = RT_NIC, .op = OP_ADD, .slot = -1,
			     .mac = "52:54:00:12:34:56", .mode = "bridged",
			     .script = "/bin/true", .vhost = "off" };
	struct fixture f;
	char tap[IFNAMSIZ];

	ck_assert_msg(geteuid() == 0, "this test needs root (a real tap)");
	memcpy(r.uuid, U1, sizeof(r.uuid));
	OPEN(&f, script);
	ck_assert_int_eq(flow_add(&f.s, &r, &f.e), KH_EFAIL);
	ck_assert_ptr_nonnull(strstr(f.e.msg, "could not configure"));
	ck_assert_int_eq(close_session(&f), 0);
	tap_name_for_uuid(U1, tap, sizeof(tap));
	ck_assert_uint_eq(if_nametoindex(tap), 0);
	ck_assert(!exists(runtime_path));
	nothing_left();
}
END_TEST

/* Ganeti file, drive_add refused (HMP says so in its text, not as a QMP
 * error): the image's fd set is given up twice, once as the step that
 * always follows drive_add and once as add-fd's undo (its "not found"
 * ignored), and no device_add is sent. The caller gets exit 1 with
 * QEMU's line; the file is as it was, nothing left beside it. */
START_TEST(ganeti_disk_refused_drive_add_gives_up_fd_set)
{
	struct peer_step script[] = {
		HELLO, RUNNING, EMPTY_BUS,
		{ PEER_EXPECT_FD, G_ADD_FD, 0, image_path },
		{ PEER_SEND, "{\"return\": {\"fdset-id\": 1012, \"fd\": 25}, "
		  "\"id\": \"kh-5\"}\r\n", 0, NULL },
		{ PEER_EXPECT, G_DRIVE_ADD, 0, NULL },
		{ PEER_SEND, "{\"return\": \"Could not open '/dev/fdset/1012': "
		  "Permission denied\\r\\n\", \"id\": \"kh-6\"}\r\n", 0, NULL },
		{ PEER_EXPECT, G_REMOVE_FD(7), 0, NULL },
		{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-7\"}\r\n", 0, NULL },
		{ PEER_EXPECT, G_REMOVE_FD(8), 0, NULL },
		{ PEER_SEND, "{\"error\": {\"class\": \"GenericError\", \"desc\": "
		  "\"File descriptor named 'fdset-id:1012' not found\"}, "
		  "\"id\": \"kh-8\"}\r\n", 0, NULL },
		FENCE(9),
	};
	struct request r = disk_request();
	struct fixture f;
	char text[4096];

	write_text(runtime_path, GANETI_FILE);
	OPEN(&f, script);
	ck_assert_int_eq(flow_add(&f.s, &r, &f.e), KH_EFAIL);
	ck_assert_str_eq(f.e.msg, "Could not open '/dev/fdset/1012': "
			 "Permission denied");
	ck_assert_uint_eq(f.s.rt.ndev, 0);
	fence(&f);
	ck_assert_int_eq(close_session(&f), 0);
	ck_assert_str_eq(read_text(runtime_path, text, sizeof(text)), GANETI_FILE);
	nothing_left();
}
END_TEST

/* Ganeti file, a disk add that succeeds: add-fd with the image's fd,
 * HMP drive_add on /dev/fdset/N, remove-fd, then device_add with
 * nothing asked after it; the file then
 * records the disk under its id, as Ganeti's own entry for a file. */
START_TEST(ganeti_disk_add_records_drive)
{
	struct peer_step script[] = {
		HELLO, RUNNING, EMPTY_BUS,
		G_DRIVE_MADE,
		{ PEER_EXPECT, "{\"execute\":\"device_add\",\"id\":\"kh-8\","
		  "\"arguments\":{\"driver\":\"virtio-blk-pci\",\"id\":\"" G_ID
		  "\",\"bus\":\"pci.0\",\"addr\":\"0xc\",\"drive\":\"" G_ID "\"}}",
		  0, NULL },
		{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-8\"}\r\n", 0, NULL },
		FENCE(9),
	};
	struct request r = disk_request();
	struct fixture f;
	char text[4096];

	write_text(runtime_path, GANETI_FILE);
	OPEN(&f, script);
	ck_assert_msg(flow_add(&f.s, &r, &f.e) == KH_OK, "%s", f.e.msg);
	fence(&f);
	ck_assert_int_eq(close_session(&f), 0);
	read_text(runtime_path, text, sizeof(text));
	ck_assert_msg(strstr(text, "\"id\": \"" G_ID "\"") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "\"addr\": \"0xc\"") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "\"dev_type\": \"file\"") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "\"uuid\": \"" U1 "\"") != NULL, "%s", text);
	ck_assert_msg(strstr(text, image_path) != NULL, "%s", text);
	nothing_left();
}
END_TEST

/* A NIC with two queues: both getfds go out before either answer is
 * read; when netdev_add is refused, the names QEMU holds are closed in
 * reverse (tap1, then tap0), and neither netdev_del (nothing was made)
 * nor device_add is sent. Needs root (a real multiqueue tap). */
START_TEST(nic_two_queues_refused_netdev_add_closes_both_fds)
{
#define NIC_ID "hotnic-f10e7e57-pci-4"
	struct peer_step script[] = {
		HELLO, RUNNING, EMPTY_BUS,
		{ PEER_EXPECT_FD, "{\"execute\":\"getfd\",\"id\":\"kh-5\","
		  "\"arguments\":{\"fdname\":\"" NIC_ID "-tap0\"}}", 0,
		  "/dev/net/tun" },
		{ PEER_EXPECT_FD, "{\"execute\":\"getfd\",\"id\":\"kh-6\","
		  "\"arguments\":{\"fdname\":\"" NIC_ID "-tap1\"}}", 0,
		  "/dev/net/tun" },
		{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-5\"}\r\n", 0, NULL },
		{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-6\"}\r\n", 0, NULL },
		{ PEER_EXPECT, "{\"execute\":\"netdev_add\",\"id\":\"kh-7\","
		  "\"arguments\":{\"type\":\"tap\",\"id\":\"" NIC_ID "\","
		  "\"fds\":\"" NIC_ID "-tap0:" NIC_ID "-tap1\"}}", 0, NULL },
		{ PEER_SEND, "{\"error\": {\"class\": \"GenericError\", \"desc\": "
		  "\"could not configure\"}, \"id\": \"kh-7\"}\r\n", 0, NULL },
		{ PEER_EXPECT, "{\"execute\":\"closefd\",\"id\":\"kh-8\","
		  "\"arguments\":{\"fdname\":\"" NIC_ID "-tap1\"}}", 0, NULL },
		{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-8\"}\r\n", 0, NULL },
		{ PEER_EXPECT, "{\"execute\":\"closefd\",\"id\":\"kh-9\","
		  "\"arguments\":{\"fdname\":\"" NIC_ID "-tap0\"}}", 0, NULL },
		{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-9\"}\r\n", 0, NULL },
		FENCE(10),
	};
#undef NIC_ID
	/* a script stands in for the bridge: the host side without one */
	struct request r = { .kind = RT_NIC, .op = OP_ADD, .slot = -1,
			     .mac = "52:54:00:12:34:56", .mode = "bridged",
			     .script = "/bin/true", .vhost = "off", .queues = 2 };
	struct fixture f;
	char tap[IFNAMSIZ];

	ck_assert_msg(geteuid() == 0, "this test needs root (a real tap)");
	memcpy(r.uuid, U1, sizeof(r.uuid));
	OPEN(&f, script);
	ck_assert_int_eq(flow_add(&f.s, &r, &f.e), KH_EFAIL);
	ck_assert_str_eq(f.e.msg, "QEMU refused netdev_add: could not configure");
	ck_assert_uint_eq(f.s.rt.ndev, 0);
	fence(&f);
	ck_assert_int_eq(close_session(&f), 0);
	tap_name_for_uuid(U1, tap, sizeof(tap));
	ck_assert_uint_eq(if_nametoindex(tap), 0);
	ck_assert(!exists(runtime_path));
	nothing_left();
}
END_TEST

/* A dry run asks QEMU only what it reads (run state, the slot survey)
 * and changes nothing: the plan it shows is blockdev-add, device_add
 * for the chosen slot, the runtime file is not made,
 * the new device lives in memory alone (to show the file as it would
 * be), no intent record is written, and the slot counts as taken for
 * the plans that follow. */
START_TEST(dry_run_disk_add_sends_only_queries)
{
	struct peer_step script[] = { HELLO, RUNNING, EMPTY_BUS, FENCE(5) };
	static const char *const shown[] = { "blockdev-add", "device_add" };
	struct request r = disk_request();
	struct fixture f;
	json_t *step;
	size_t i;

	open_session(&f, script, NSTEPS(script), HANG_MS, true);
	ck_assert_msg(flow_add(&f.s, &r, &f.e) == KH_OK, "%s", f.e.msg);
	fence(&f);
	ck_assert_uint_eq(json_array_size(f.o.plan), 2);
	json_array_foreach(f.o.plan, i, step) {
		ck_assert(json_is_object(step));
		ck_assert_str_eq(json_string_value(json_object_get(step, "execute")),
				 shown[i]);
	}
	step = json_object_get(json_array_get(f.o.plan, 1), "arguments");
	ck_assert_str_eq(json_string_value(json_object_get(step, "addr")), "0x4");
	ck_assert_uint_eq(f.s.rt.ndev, 1);
	ck_assert_str_eq(f.s.rt.dev[0].id, "hotdisk-f10e7e57-pci-4");
	ck_assert_int_eq(f.s.rt.dev[0].slot, 4);
	ck_assert_uint_eq(f.o.dry.n, 1);
	ck_assert_str_eq(f.o.dry.at[0].bus, "pci.0");
	ck_assert_uint_eq(f.o.dry.at[0].taken, UINT32_C(1) << 4);
	ck_assert(!exists(runtime_path));
	nothing_left();
	ck_assert_int_eq(close_session(&f), 0);
	json_decref(f.o.plan);
	ck_assert(!exists(runtime_path));
	nothing_left();
}
END_TEST

/* An add whose device_add QEMU never answers has an unknown outcome: the
 * intent record stays, with the plan's undo (for a native disk, the
 * blockdev-del of its node) and the prepared file. The next run, finding
 * QEMU without the device, sends exactly that undo and leaves nothing. */
START_TEST(unanswered_device_add_keeps_intent_with_undo)
{
	struct peer_step add[] = {
		HELLO, RUNNING, EMPTY_BUS,
		{ PEER_EXPECT, "\"blockdev-add\",\"id\":\"kh-5\"", 0, NULL },
		{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-5\"}\r\n", 0, NULL },
		{ PEER_EXPECT, "\"device_add\",\"id\":\"kh-6\"", 0, NULL },
		{ PEER_HANG, NULL, 0, NULL },	/* no answer, whatever comes */
	};
	struct peer_step settle[] = {
		HELLO,
		{ PEER_EXPECT, "{\"execute\":\"query-pci\",\"id\":\"kh-1\"}", 0, NULL },
		{ PEER_SEND, "{\"return\": [{\"bus\": 0, \"devices\": []}], "
		  "\"id\": \"kh-1\"}\r\n", 0, NULL },
		{ PEER_EXPECT, "{\"execute\":\"blockdev-del\",\"id\":\"kh-2\","
		  "\"arguments\":{\"node-name\":\"hotdisk-f10e7e57-pci-4\"}}",
		  0, NULL },
		{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-2\"}\r\n", 0, NULL },
		FENCE(3),
	};
	struct request r = disk_request();
	struct fixture f;
	char intent[160];
	json_t *in, *undo;
	const char *prepared;

	open_session(&f, add, NSTEPS(add), 300, false);
	ck_assert_int_eq(flow_add(&f.s, &r, &f.e), KH_ETIMEOUT);
	ck_assert_msg(strstr(f.e.msg, "the outcome is unknown, the next run "
			     "settles it") != NULL, "%s", f.e.msg);
	ck_assert_uint_eq(f.s.rt.ndev, 0);
	ck_assert_int_eq(close_session(&f), 0);
	ck_assert(!exists(runtime_path));

	snprintf(intent, sizeof(intent), "%s.intent", runtime_path);
	ck_assert_ptr_nonnull(in = json_load_file(intent, 0, NULL));
	ck_assert_str_eq(json_string_value(json_object_get(in, "op")), "add");
	ck_assert_str_eq(json_string_value(json_object_get(in, "id")),
			 "hotdisk-f10e7e57-pci-4");
	undo = json_pack("[{s:s, s:{s:s}}]", "execute", "blockdev-del",
			 "arguments", "node-name", "hotdisk-f10e7e57-pci-4");
	ck_assert(json_equal(json_object_get(in, "undo"), undo));
	json_decref(undo);
	prepared = json_string_value(json_object_get(in, "prepared"));
	ck_assert_ptr_nonnull(prepared);
	ck_assert(exists(prepared));
	/* about the QEMU process behind the socket (here the peer's end,
	 * made by this process): the settle below is on the same one */
	snprintf(intent, sizeof(intent), "%d:", (int)getpid());
	ck_assert_msg(strncmp(json_string_value(json_object_get(in, "qemu")),
			      intent, strlen(intent)) == 0, "qemu: %s",
		      json_string_value(json_object_get(in, "qemu")));
	json_decref(in);

	OPEN(&f, settle);
	ck_assert_msg(settle_intent(&f.s, &f.e) == KH_OK, "%s", f.e.msg);
	fence(&f);
	ck_assert_int_eq(close_session(&f), 0);
	ck_assert(!exists(runtime_path));
	nothing_left();
}
END_TEST

/* A Ganeti disk add whose device_add QEMU has not answered (the outcome
 * is unknown: QEMU may still carry it out) takes nothing back at once: a
 * drive_del right behind a late device_add would pull the medium from
 * under the new device. The intent record's undo is for the next run,
 * once QEMU says what it has. */
START_TEST(unanswered_device_add_takes_nothing_back)
{
	struct peer_step script[] = {
		HELLO, RUNNING, EMPTY_BUS,
		G_DRIVE_MADE,
		{ PEER_EXPECT, "\"device_add\",\"id\":\"kh-8\"", 0, NULL },
		FENCE(9),
	};
	struct request r = disk_request();
	struct fixture f;

	write_text(runtime_path, GANETI_FILE);
	open_session(&f, script, NSTEPS(script), 300, false);
	ck_assert_int_eq(flow_add(&f.s, &r, &f.e), KH_ETIMEOUT);
	fence(&f);
	ck_assert_int_eq(close_session(&f), 0);
}
END_TEST

static Suite *flow_suite(void)
{
	Suite *s = suite_create("flow");
	TCase *tc = check_case("qmp");

	tcase_add_checked_fixture(tc, make_tmpdir, remove_tmpdir);
	tcase_add_test(tc, disk_refused_device_add_deletes_node);
	tcase_add_test(tc, disk_removal_times_out_pending);
	tcase_add_test(tc, nic_refused_netdev_add_closes_fds);
	tcase_add_test(tc, ganeti_disk_refused_drive_add_gives_up_fd_set);
	tcase_add_test(tc, ganeti_disk_add_records_drive);
	tcase_add_test(tc, nic_two_queues_refused_netdev_add_closes_both_fds);
	tcase_add_test(tc, dry_run_disk_add_sends_only_queries);
	tcase_add_test(tc, unanswered_device_add_keeps_intent_with_undo);
	tcase_add_test(tc, unanswered_device_add_takes_nothing_back);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(flow_suite());
}
