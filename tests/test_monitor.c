/* monitor.c against a scripted QMP peer: framing, events, errors,
 * timeouts, fd passing. */
#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/un.h>
#include <time.h>

#include "../clock.h"
#include "../monitor.h"
#include "check_run.h"
#include "qmp_peer.h"

static int64_t elapsed_ms(const int64_t *t0)
{
	return clock_ms() - *t0;
}

/* Attaches to a peer playing script; returns the monitor (NULL if the
 * attach failed, with *e set). */
static struct monitor *attach(const struct peer_step *script, size_t n,
			      struct peer **pid, int timeout_ms, struct error *e)
{
	struct monitor *m = NULL;
	int fd;

	*pid = peer_start(script, n, &fd);
	ck_assert_ptr_nonnull(*pid);
	monitor_attach(&m, fd, timeout_ms, e);
	return m;
}

#define ATTACH(script, pid, ms, e) \
	attach(script, sizeof(script) / sizeof(script[0]), pid, ms, e)

static bool device_is(json_t *data, void *id)
{
	const char *dev = json_string_value(json_object_get(data, "device"));

	return dev != NULL && strcmp(dev, id) == 0;
}

/* The version from the greeting; qmp_capabilities goes out at once and
 * the first command right behind it, before QEMU has answered it (the
 * peer answers neither until it has both): one round trip for both. */
START_TEST(greeting_and_version)
{
	struct peer_step script[] = {
		{ PEER_SEND, GREETING, 0, NULL },
		{ PEER_EXPECT, "{\"execute\":\"qmp_capabilities\",\"id\":\"kh-0\"}", 0, NULL },
		{ PEER_EXPECT, "{\"execute\":\"query-name\",\"id\":\"kh-1\"}", 0, NULL },
		{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-0\"}\r\n"
			     "{\"return\": {\"name\": \"vm1\"}, \"id\": \"kh-1\"}\r\n", 0, NULL },
	};
	struct error e = { 0 };
	int major, minor, micro;
	struct peer *pid;
	struct monitor *m = ATTACH(script, &pid, HANG_MS, &e);
	json_t *ret = NULL;

	ck_assert_msg(m != NULL, "%s", e.msg);
	monitor_version(m, &major, &minor, &micro);
	ck_assert_int_eq(major, 7);
	ck_assert_int_eq(minor, 2);
	ck_assert_int_eq(micro, 22);
	ck_assert_msg(monitor_execute(m, "query-name", NULL, &ret, &e) == KH_OK,
		      "%s", e.msg);
	ck_assert_str_eq(json_string_value(json_object_get(ret, "name")), "vm1");
	json_decref(ret);
	monitor_close(m);
	ck_assert_int_eq(peer_finish(pid), 0);
}
END_TEST

/* A refused qmp_capabilities is the error of the first wait after it,
 * said as its own, not as the refusal of the command behind it. */
START_TEST(capabilities_refused_is_said)
{
	struct peer_step script[] = {
		{ PEER_SEND, GREETING, 0, NULL },
		{ PEER_EXPECT, "qmp_capabilities", 0, NULL },
		{ PEER_EXPECT, "query-name", 0, NULL },
		{ PEER_SEND, "{\"error\": {\"class\": \"GenericError\", \"desc\": "
			     "\"Capability 'x' not available\"}, \"id\": \"kh-0\"}\r\n"
			     "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": "
			     "\"Expecting capabilities negotiation with "
			     "'qmp_capabilities'\"}, \"id\": \"kh-1\"}\r\n", 0, NULL },
	};
	struct error e = { 0 };
	struct peer *pid;
	struct monitor *m = ATTACH(script, &pid, HANG_MS, &e);

	ck_assert_msg(m != NULL, "%s", e.msg);
	ck_assert_int_eq(monitor_execute(m, "query-name", NULL, NULL, &e), KH_EFAIL);
	ck_assert_msg(strstr(e.msg, "qmp_capabilities") != NULL &&
		      strstr(e.msg, "Capability 'x' not available") != NULL, "%s", e.msg);
	monitor_close(m);
	ck_assert_int_eq(peer_finish(pid), 0);
}
END_TEST

/* One message over several reads, several messages in one read. */
START_TEST(split_and_merged_messages)
{
	struct peer_step script[] = {
		{ PEER_SEND, "{\"QMP\": {\"version\": {\"qemu\": {\"mic", 0, NULL },
		{ PEER_PAUSE, NULL, 30, NULL },
		{ PEER_SEND, "ro\": 1, \"minor\": 2, \"major\": 7}}, \"capab", 0, NULL },
		{ PEER_PAUSE, NULL, 30, NULL },
		{ PEER_SEND, "ilities\": []}}\r", 0, NULL },
		{ PEER_PAUSE, NULL, 30, NULL },
		{ PEER_SEND, "\n", 0, NULL },
		CAPS_OK,
		{ PEER_EXPECT, "\"query-status\"", 0, NULL },
		{ PEER_SEND, "{\"event\": \"STOP\", \"data\": {}}\r\n"
			     "{\"return\": {\"status\": \"paused\"}, \"id\": \"kh-1\"}\r\n"
			     "{\"event\": \"RESUME\", \"data\": {}}\r\n", 0, NULL },
	};
	struct error e = { 0 };
	json_t *ret = NULL;
	struct peer *pid;
	struct monitor *m = ATTACH(script, &pid, HANG_MS, &e);

	ck_assert_msg(m != NULL, "%s", e.msg);
	ck_assert_int_eq(monitor_execute(m, "query-status", NULL, &ret, &e), KH_OK);
	ck_assert_str_eq(json_string_value(json_object_get(ret, "status")), "paused");
	json_decref(ret);
	/* both events were kept, whichever side of the reply they came */
	ck_assert_int_eq(monitor_wait_event(m, "RESUME", NULL, NULL, HANG_MS, &e), KH_OK);
	ck_assert_int_eq(monitor_wait_event(m, "STOP", NULL, NULL, HANG_MS, &e), KH_OK);
	monitor_close(m);
	ck_assert_int_eq(peer_finish(pid), 0);
}
END_TEST

START_TEST(events_before_greeting)
{
	struct peer_step script[] = {
		{ PEER_SEND, "{\"event\": \"RESET\", \"data\": {}}\r\n", 0, NULL },
		HELLO,
	};
	struct error e = { 0 };
	struct peer *pid;
	struct monitor *m = ATTACH(script, &pid, HANG_MS, &e);

	ck_assert_msg(m != NULL, "%s", e.msg);
	ck_assert_int_eq(monitor_wait_event(m, "RESET", NULL, NULL, HANG_MS, &e), KH_OK);
	monitor_close(m);
	ck_assert_int_eq(peer_finish(pid), 0);
}
END_TEST

/* The virtio backend's DEVICE_DELETED has no "device": only the second
 * event is the one to wait for. */
START_TEST(wait_event_matches_data)
{
	struct peer_step script[] = {
		HELLO,
		{ PEER_EXPECT, "\"device_del\"", 0, NULL },
		{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-1\"}\r\n", 0, NULL },
		{ PEER_PAUSE, NULL, 20, NULL },
		{ PEER_SEND, "{\"event\": \"DEVICE_DELETED\", \"data\": {\"path\": "
			     "\"/machine/peripheral/vd1/virtio-backend\"}}\r\n", 0, NULL },
		{ PEER_SEND, "{\"event\": \"DEVICE_DELETED\", \"data\": {\"device\": "
			     "\"other\", \"path\": \"/machine/peripheral/other\"}}\r\n", 0, NULL },
		{ PEER_PAUSE, NULL, 20, NULL },
		{ PEER_SEND, "{\"event\": \"DEVICE_DELETED\", \"data\": {\"device\": "
			     "\"vd1\", \"path\": \"/machine/peripheral/vd1\"}}\r\n", 0, NULL },
	};
	struct error e = { 0 };
	struct peer *pid;
	struct monitor *m = ATTACH(script, &pid, HANG_MS, &e);

	ck_assert_msg(m != NULL, "%s", e.msg);
	ck_assert_int_eq(monitor_execute(m, "device_del",
					 json_pack("{s:s}", "id", "vd1"), NULL, &e), KH_OK);
	ck_assert_int_eq(monitor_wait_event(m, "DEVICE_DELETED", device_is, "vd1",
					    HANG_MS, &e), KH_OK);
	/* the event for the other device stayed queued */
	ck_assert_int_eq(monitor_wait_event(m, "DEVICE_DELETED", device_is, "other",
					    10, &e), KH_OK);
	ck_assert_int_eq(monitor_wait_event(m, "DEVICE_DELETED", device_is, "vd1",
					    50, &e), KH_ETIMEOUT);
	monitor_close(m);
	ck_assert_int_eq(peer_finish(pid), 0);
}
END_TEST

START_TEST(error_reply_carries_class_and_desc)
{
	struct peer_step script[] = {
		HELLO,
		{ PEER_EXPECT, "\"device_add\"", 0, NULL },
		{ PEER_SEND, "{\"id\": \"kh-1\", \"error\": {\"class\": \"GenericError\", "
			     "\"desc\": \"Duplicate device ID 'vdisk1'\"}}\r\n", 0, NULL },
		{ PEER_EXPECT, "\"device_del\"", 0, NULL },
		{ PEER_SEND, "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": "
			     "\"Device 'x' not found\"}, \"id\": \"kh-2\"}\r\n", 0, NULL },
	};
	struct error e = { 0 };
	struct peer *pid;
	struct monitor *m = ATTACH(script, &pid, HANG_MS, &e);

	ck_assert_msg(m != NULL, "%s", e.msg);
	ck_assert_int_eq(monitor_execute(m, "device_add", NULL, NULL, &e), KH_EFAIL);
	ck_assert_str_eq(e.qmp_class, "GenericError");
	ck_assert_str_eq(e.msg, "QEMU refused device_add: Duplicate device ID 'vdisk1'");
	ck_assert_int_eq(monitor_execute(m, "device_del", NULL, NULL, &e), KH_EFAIL);
	ck_assert_str_eq(e.qmp_class, "DeviceNotFound");
	monitor_close(m);
	ck_assert_int_eq(peer_finish(pid), 0);
}
END_TEST

/* A reply with another id (e.g. to a command of an earlier, timed-out
 * request) is not taken for ours; an error with no id is ours. */
START_TEST(stale_reply_and_idless_error)
{
	struct peer_step script[] = {
		HELLO,
		{ PEER_EXPECT, "\"query-pci\"", 0, NULL },
		{ PEER_SEND, "{\"return\": {\"stale\": true}, \"id\": \"kh-0\"}\r\n"
			     "{\"return\": [], \"id\": \"kh-1\"}\r\n", 0, NULL },
		{ PEER_EXPECT, "\"bogus\"", 0, NULL },
		{ PEER_SEND, "{\"error\": {\"class\": \"GenericError\", \"desc\": "
			     "\"JSON parse error, invalid keyword 'x'\"}}\r\n", 0, NULL },
	};
	struct error e = { 0 };
	json_t *ret = NULL;
	struct peer *pid;
	struct monitor *m = ATTACH(script, &pid, HANG_MS, &e);

	ck_assert_msg(m != NULL, "%s", e.msg);
	ck_assert_int_eq(monitor_execute(m, "query-pci", NULL, &ret, &e), KH_OK);
	ck_assert(json_is_array(ret));
	json_decref(ret);
	ck_assert_int_eq(monitor_execute(m, "bogus", NULL, NULL, &e), KH_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "JSON parse error"));
	monitor_close(m);
	ck_assert_int_eq(peer_finish(pid), 0);
}
END_TEST

START_TEST(reply_timeout)
{
	struct peer_step script[] = {
		HELLO,
		{ PEER_EXPECT, "\"query-pci\"", 0, NULL },
		{ PEER_HANG, NULL, 0, NULL },
	};
	struct error e = { 0 };
	int64_t t0;
	struct peer *pid;
	struct monitor *m = ATTACH(script, &pid, 200, &e);

	ck_assert_msg(m != NULL, "%s", e.msg);
	t0 = clock_ms();
	ck_assert_int_eq(monitor_execute(m, "query-pci", NULL, NULL, &e), KH_ETIMEOUT);
	/* not before its time; how late is the machine's business (the
	 * peer never answers: a wait that ignored the timeout would hang) */
	ck_assert_int_ge(elapsed_ms(&t0), 200);
	ck_assert_ptr_nonnull(strstr(e.msg, "query-pci"));
	monitor_close(m);
	ck_assert_int_eq(peer_finish(pid), 0);
}
END_TEST

/* Attaching to a peer playing script must fail with code and phrase. */
static void expect_refused(const struct peer_step *script, size_t n,
			   int timeout_ms, int code, const char *phrase)
{
	struct error e = { 0 };
	struct peer *peer;
	struct monitor *m = attach(script, n, &peer, timeout_ms, &e);

	ck_assert_ptr_null(m);
	ck_assert_int_eq(e.code, code);
	ck_assert_msg(strstr(e.msg, phrase) != NULL, "'%s' lacks '%s'", e.msg,
		      phrase);
	ck_assert_int_eq(peer_finish(peer), 0);
}

#define EXPECT_REFUSED(script, ms, code, phrase) \
	expect_refused(script, sizeof(script) / sizeof(script[0]), ms, code, \
		       phrase)

START_TEST(no_greeting_times_out)
{
	struct peer_step script[] = { { PEER_HANG, NULL, 0, NULL } };

	EXPECT_REFUSED(script, 150, KH_ETIMEOUT, "no greeting");
}
END_TEST

START_TEST(greeting_garbage_refused)
{
	struct peer_step script[] = {
		{ PEER_SEND, "SSH-2.0-OpenSSH_9.2\r\n", 0, NULL },
	};

	EXPECT_REFUSED(script, HANG_MS, KH_EUSAGE, "not a QMP monitor");
}
END_TEST

START_TEST(json_greeting_without_version_refused)
{
	struct peer_step script[] = {
		{ PEER_SEND, "{\"hello\": 1}\r\n", 0, NULL },
	};

	EXPECT_REFUSED(script, HANG_MS, KH_EUSAGE, "not a QMP monitor");
}
END_TEST

START_TEST(hmp_monitor_refused)
{
	struct peer_step script[] = {
		{ PEER_SEND, "QEMU 7.2.22 monitor - type 'help' for more "
			     "information\r\n(qemu) ", 0, NULL },
	};

	EXPECT_REFUSED(script, HANG_MS, KH_EUSAGE, "HMP");
}
END_TEST

START_TEST(eof_during_command)
{
	struct peer_step script[] = {
		HELLO,
		{ PEER_EXPECT, "\"query-pci\"", 0, NULL },
		{ PEER_SEND, "{\"return\": [", 0, NULL },
		{ PEER_END, NULL, 0, NULL },
	};
	struct error e = { 0 };
	struct peer *pid;
	struct monitor *m = ATTACH(script, &pid, HANG_MS, &e);

	ck_assert_msg(m != NULL, "%s", e.msg);
	ck_assert_int_eq(monitor_execute(m, "query-pci", NULL, NULL, &e), KH_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "closed the monitor connection"));
	monitor_close(m);
	ck_assert_int_eq(peer_finish(pid), 0);
}
END_TEST

START_TEST(malformed_json_after_greeting)
{
	struct peer_step script[] = {
		HELLO,
		{ PEER_EXPECT, "\"query-pci\"", 0, NULL },
		{ PEER_SEND, "{\"return\": [}\r\n", 0, NULL },
	};
	struct error e = { 0 };
	struct peer *pid;
	struct monitor *m = ATTACH(script, &pid, HANG_MS, &e);

	ck_assert_msg(m != NULL, "%s", e.msg);
	ck_assert_int_eq(monitor_execute(m, "query-pci", NULL, NULL, &e), KH_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "malformed JSON"));
	monitor_close(m);
	ck_assert_int_eq(peer_finish(pid), 0);
}
END_TEST

START_TEST(fd_travels_with_getfd)
{
	char path[] = "/tmp/kh-test-fd-XXXXXX";
	int fd = mkstemp(path);
	struct peer_step script[] = {
		HELLO,
		{ PEER_EXPECT_FD, "{\"execute\":\"getfd\",\"id\":\"kh-1\","
				  "\"arguments\":{\"fdname\":\"nic0\"}}", 0, path },
		{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-1\"}\r\n", 0, NULL },
		{ PEER_EXPECT, "\"closefd\"", 0, NULL },
		{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-2\"}\r\n", 0, NULL },
	};
	struct error e = { 0 };
	struct peer *pid;
	struct monitor *m;

	ck_assert_int_ge(fd, 0);
	m = ATTACH(script, &pid, HANG_MS, &e);
	ck_assert_msg(m != NULL, "%s", e.msg);
	ck_assert_int_eq(monitor_execute_fd(m, "getfd", json_pack("{s:s}", "fdname",
						"nic0"), fd, NULL, &e), KH_OK);
	ck_assert_int_eq(monitor_execute(m, "closefd", json_pack("{s:s}", "fdname",
					 "nic0"), NULL, &e), KH_OK);
	/* the caller's own copy stays open and usable */
	ck_assert_int_ne(fcntl(fd, F_GETFD), -1);
	monitor_close(m);
	ck_assert_int_eq(peer_finish(pid), 0);
	close(fd);
	unlink(path);
}
END_TEST

START_TEST(open_refuses_non_socket)
{
	struct monitor *m = NULL;
	struct error e = { 0 };

	ck_assert_int_eq(monitor_open(&m, "/dev/null", 100, &e), KH_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "not a socket"));
	ck_assert_int_eq(monitor_open(&m, "/nonexistent/qmp.sock", 100, &e), KH_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "No such file"));
	ck_assert_ptr_null(m);
}
END_TEST

/* A listening socket whose owner never accepts nor greets (QEMU with
 * another client connected behaves alike). */
START_TEST(open_times_out_without_greeting)
{
	char dir[] = "/tmp/kh-test-sock-XXXXXX", path[64];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct monitor *m = NULL;
	struct error e = { 0 };
	int64_t t0;
	int s;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/qmp", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(s, 1), 0);
	t0 = clock_ms();
	ck_assert_int_eq(monitor_open(&m, path, 200, &e), KH_ETIMEOUT);
	ck_assert_int_ge(elapsed_ms(&t0), 200);
	ck_assert_ptr_nonnull(strstr(e.msg, "no greeting"));
	ck_assert_ptr_nonnull(strstr(e.msg, path));
	close(s);
	unlink(path);
	rmdir(dir);
}
END_TEST

static Suite *monitor_suite(void)
{
	Suite *s = suite_create("monitor");
	TCase *tc = check_case("qmp");

	tcase_add_test(tc, greeting_and_version);
	tcase_add_test(tc, capabilities_refused_is_said);
	tcase_add_test(tc, split_and_merged_messages);
	tcase_add_test(tc, events_before_greeting);
	tcase_add_test(tc, wait_event_matches_data);
	tcase_add_test(tc, error_reply_carries_class_and_desc);
	tcase_add_test(tc, stale_reply_and_idless_error);
	tcase_add_test(tc, reply_timeout);
	tcase_add_test(tc, no_greeting_times_out);
	tcase_add_test(tc, greeting_garbage_refused);
	tcase_add_test(tc, json_greeting_without_version_refused);
	tcase_add_test(tc, hmp_monitor_refused);
	tcase_add_test(tc, eof_during_command);
	tcase_add_test(tc, malformed_json_after_greeting);
	tcase_add_test(tc, fd_travels_with_getfd);
	tcase_add_test(tc, open_refuses_non_socket);
	tcase_add_test(tc, open_times_out_without_greeting);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(monitor_suite());
}
