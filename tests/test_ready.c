/* ready.c against a scripted QMP peer: a wait that looks again until the
 * guest's driver has set the device up, a QEMU that cannot tell, the
 * timeout, and list's survey in one round trip. */
#include <check.h>
#include <string.h>

#include "../monitor.h"
#include "../ready.h"
#include "check_run.h"
#include "qmp_peer.h"

#define NSTEPS(script) (sizeof(script) / sizeof(script[0]))
#define STATUS(id, statuses) \
	{ PEER_SEND, "{\"return\": {\"name\": \"virtio-blk\", \"status\": " \
	  "{\"statuses\": [" statuses "]}}, \"id\": \"kh-" #id "\"}\r\n", 0, NULL }
#define DRIVER_OK "\"VIRTIO_CONFIG_S_ACKNOWLEDGE: Valid virtio device found\", " \
	"\"VIRTIO_CONFIG_S_DRIVER_OK: Driver setup and ready\""
#define LOOK(id) { PEER_EXPECT, "{\"execute\":\"x-query-virtio-status\",\"id\":\"kh-" \
	#id "\",\"arguments\":{\"path\":\"/machine/peripheral/d1/virtio-backend\"}}", 0, NULL }

static struct peer *open_peer(const struct peer_step *script, size_t n,
			      struct monitor **m)
{
	struct error e = { 0 };
	struct peer *p;
	int fd;

	p = peer_start(script, n, &fd);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(monitor_attach(m, fd, HANG_MS, &e), KH_OK);
	return p;
}

/* Not set up, not yet, then DRIVER_OK: three looks, the pauses between
 * growing (1 ms, then 2 ms before the last). */
START_TEST(wait_looks_until_driver_ok)
{
	struct peer_step script[] = {
		HELLO,
		LOOK(1), STATUS(1, ""),
		LOOK(2), STATUS(2, "\"VIRTIO_CONFIG_S_ACKNOWLEDGE: Valid virtio device found\""),
		LOOK(3), STATUS(3, DRIVER_OK),
	};
	struct monitor *m = NULL;
	struct peer *p = open_peer(script, NSTEPS(script), &m);
	struct error e = { 0 };
	struct ready_wait w;

	ck_assert_msg(ready_wait(m, "d1", HANG_MS, &w, &e) == KH_OK, "%s", e.msg);
	ck_assert_int_eq(w.looks, 3);
	ck_assert_int_eq(w.last_pause_ms, 2);
	monitor_close(m);
	ck_assert_int_eq(peer_finish(p), 0);
}
END_TEST

/* A QEMU without the command: exit 3, with why, after one look. */
START_TEST(wait_cannot_tell)
{
	struct peer_step script[] = {
		HELLO, LOOK(1),
		{ PEER_SEND, "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": "
		  "\"The command x-query-virtio-status has not been found\"}, "
		  "\"id\": \"kh-1\"}\r\n", 0, NULL },
	};
	struct monitor *m = NULL;
	struct peer *p = open_peer(script, NSTEPS(script), &m);
	struct error e = { 0 };
	struct ready_wait w;

	ck_assert_int_eq(ready_wait(m, "d1", HANG_MS, &w, &e), KH_ENOHOTPLUG);
	ck_assert_str_eq(e.msg, "QEMU cannot tell whether the guest uses d1: it "
			 "has no x-query-virtio-status");
	monitor_close(m);
	ck_assert_int_eq(peer_finish(p), 0);
}
END_TEST

/* Never set up: the wait ends at its timeout (exit 4). Time moves only
 * in the pauses the wait asks for (tests/fake_clock.c): 1, 2, 4, 8, 8
 * and 8 ms pass 30 ms at the 7th look. */
START_TEST(wait_times_out)
{
	struct peer_step script[] = {
		HELLO,
		LOOK(1), STATUS(1, ""), LOOK(2), STATUS(2, ""), LOOK(3), STATUS(3, ""),
		LOOK(4), STATUS(4, ""), LOOK(5), STATUS(5, ""), LOOK(6), STATUS(6, ""),
		LOOK(7), STATUS(7, ""),
	};
	struct monitor *m = NULL;
	struct peer *p = open_peer(script, NSTEPS(script), &m);
	struct error e = { 0 };
	struct ready_wait w;

	ck_assert_int_eq(ready_wait(m, "d1", 30, &w, &e), KH_ETIMEOUT);
	ck_assert_str_eq(e.msg, "the guest has not started using d1 within 0.0 s");
	ck_assert_int_eq(w.looks, 7);
	ck_assert_int_eq(w.waited_ms, 31);
	ck_assert_int_eq(w.last_pause_ms, 8);
	monitor_close(m);
	ck_assert_int_eq(peer_finish(p), 0);
}
END_TEST

/* list: every device asked at once, each answer judged on its own. */
START_TEST(survey_in_one_round_trip)
{
	struct peer_step script[] = {
		HELLO,
		{ PEER_EXPECT, "\"path\":\"/machine/peripheral/a/virtio-backend\"", 0, NULL },
		{ PEER_EXPECT, "\"path\":\"/machine/peripheral/b/virtio-backend\"", 0, NULL },
		{ PEER_EXPECT, "\"path\":\"/machine/peripheral/c/virtio-backend\"", 0, NULL },
		STATUS(1, DRIVER_OK),
		STATUS(2, ""),
		{ PEER_SEND, "{\"error\": {\"class\": \"GenericError\", \"desc\": "
		  "\"Path /machine/peripheral/c/virtio-backend is not a VirtIODevice\"}, "
		  "\"id\": \"kh-3\"}\r\n", 0, NULL },
	};
	static const char *const ids[] = { "a", "b", "c" };
	enum ready_state st[3];
	struct monitor *m = NULL;
	struct peer *p = open_peer(script, NSTEPS(script), &m);
	struct error e = { 0 };

	ck_assert_int_eq(ready_survey(m, ids, 3, st, &e), KH_OK);
	ck_assert_int_eq(st[0], READY_YES);
	ck_assert_int_eq(st[1], READY_NO);
	ck_assert_int_eq(st[2], READY_UNKNOWN);
	ck_assert_str_eq(ready_name(st[1]), "not picked up");
	monitor_close(m);
	ck_assert_int_eq(peer_finish(p), 0);
}
END_TEST

static Suite *ready_suite(void)
{
	Suite *s = suite_create("ready");
	TCase *tc = check_case("ready");

	tcase_add_test(tc, wait_looks_until_driver_ok);
	tcase_add_test(tc, wait_cannot_tell);
	tcase_add_test(tc, wait_times_out);
	tcase_add_test(tc, survey_in_one_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(ready_suite());
}
