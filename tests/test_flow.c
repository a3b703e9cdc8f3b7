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
 * (kh-1, kh-2), pci.0 takes hotplug and is empty (kh-3, kh-4). */
#define RUNNING								\
	{ PEER_EXPECT, "\"query-status\"", 0, NULL },			\
	{ PEER_EXPECT, "\"query-migrate\"", 0, NULL },			\
	{ PEER_SEND, "{\"return\": {\"status\": \"running\", "		\
	  "\"running\": true}, \"id\": \"kh-1\"}\r\n", 0, NULL },	\
	{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-2\"}\r\n", 0, NULL }
#define EMPTY_BUS							\
	{ PEER_EXPECT, "\"hotplug-handler\"", 0, NULL },		\
	{ PEER_EXPECT, "\"query-pci\"", 0, NULL },			\
	{ PEER_SEND, "{\"return\": \"/machine/unattached/device[1]\", "	\
	  "\"id\": \"kh-3\"}\r\n", 0, NULL },				\
	{ PEER_SEND, "{\"return\": [{\"bus\": 0, \"devices\": []}], "	\
	  "\"id\": \"kh-4\"}\r\n", 0, NULL }

struct fixture {
	struct options o;
	struct session s;
	struct peer *peer;
	struct error e;
};

/* A session on the test's runtime file (made if missing) whose monitor is
 * the peer playing script. */
static void open_session(struct fixture *f, const struct peer_step *script,
			 size_t n)
{
	int fd;

	memset(f, 0, sizeof(*f));
	f->o.runtime = runtime_path;
	f->o.monitor = "peer";
	f->o.timeout_ms = 1000;
	f->o.quiet = true;
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

#define OPEN(f, script) open_session(f, script, sizeof(script) / sizeof(script[0]))

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
		{ PEER_EXPECT, "\"query-pci\"", 0, NULL },
		{ PEER_SEND, "{\"error\": {\"class\": \"GenericError\", \"desc\": "
		  "\"Bus 'pci.0' does not support hotplugging\"}, \"id\": \"kh-6\"}\r\n",
		  0, NULL },
		{ PEER_SEND, "{\"return\": [], \"id\": \"kh-7\"}\r\n", 0, NULL },
		{ PEER_EXPECT, "\"blockdev-del\",\"id\":\"kh-8\",\"arguments\":"
		  "{\"node-name\":\"hotdisk-f10e7e57-pci-4\"}", 0, NULL },
		{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-8\"}\r\n", 0, NULL },
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
		{ PEER_EXPECT, "\"query-pci\"", 0, NULL },
		{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-6\"}\r\n", 0, NULL },
		{ PEER_SEND, "{\"return\": [{\"bus\": 0, \"devices\": [{\"bus\": 0, "
		  "\"slot\": 4, \"qdev_id\": \"hotdisk-f10e7e57-pci-4\"}]}], "
		  "\"id\": \"kh-7\"}\r\n", 0, NULL },
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

	r.op = OP_REMOVE;
	OPEN(&f, removal);
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

static Suite *flow_suite(void)
{
	Suite *s = suite_create("flow");
	TCase *tc = tcase_create("qmp");

	tcase_add_checked_fixture(tc, make_tmpdir, remove_tmpdir);
	tcase_add_test(tc, disk_refused_device_add_deletes_node);
	tcase_add_test(tc, disk_removal_times_out_pending);
	tcase_add_test(tc, nic_refused_netdev_add_closes_fds);
	tcase_set_timeout(tc, 20);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(flow_suite());
}
