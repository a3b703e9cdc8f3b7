/* The plan executor (plan.c) alone, against a scripted QMP peer: plans
 * built by hand here, with hooks of the test's own, so that each rule of
 * the executor (pipelining, the undo and its flags, retries, --dry-run,
 * the undo journal) is pinned by what QEMU is sent and what the caller
 * is told, whatever the device kinds make of it. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "../monitor.h"
#include "../plan.h"
#include "check_run.h"
#include "fake_clock.h"
#include "qmp_peer.h"

/* The peer's side of a script, in short. */
#define EXPECT(text)	{ PEER_EXPECT, text, 0, NULL }
/* One command as the monitor sends it: compact, id before arguments. */
#define CMD(name, id, args) EXPECT("{\"execute\":\"" name "\",\"id\":\"" \
				   id "\",\"arguments\":" args "}")
#define CMD0(name, id)	EXPECT("{\"execute\":\"" name "\",\"id\":\"" id "\"}")
#define ANSWER(id)	{ PEER_SEND, "{\"return\": {}, \"id\": \"" id "\"}\r\n", \
			  0, NULL }
#define REFUSE(id, desc) { PEER_SEND, "{\"error\": {\"class\": " \
			   "\"GenericError\", \"desc\": \"" desc "\"}, " \
			   "\"id\": \"" id "\"}\r\n", 0, NULL }
/* The last thing the test sends (fence()): with the id it must have,
 * nothing else was sent before it that the script does not list. */
#define FENCE(id)	CMD0("query-status", id), ANSWER(id)
/* blockdev-del of node n, refused as "in use" (not yet) */
#define IN_USE(id)	CMD("blockdev-del", id, "{\"name\":\"n\"}"), \
			REFUSE(id, "in use")

struct fixture {
	struct options o;
	struct rt_device d;
	struct monitor *m;
	struct peer *peer;
	struct error e;
};

static void open_peer(struct fixture *f, const struct peer_step *script,
		      size_t n)
{
	int fd;

	memset(f, 0, sizeof(*f));
	fake_clock_reset();
	/* the fake clock stands still but in the executor's pauses:
	 * only a test that pauses can reach this */
	f->o.timeout_ms = HANG_MS;
	f->o.quiet = true;
	snprintf(f->d.id, sizeof(f->d.id), "hotdisk-test");
	f->peer = peer_start(script, n, &fd);
	ck_assert_ptr_nonnull(f->peer);
	ck_assert_msg(monitor_attach(&f->m, fd, f->o.timeout_ms, &f->e) == KH_OK,
		      "%s", f->e.msg);
}

#define OPEN(f, script) open_peer(f, script, sizeof(script) / sizeof(script[0]))

/* The fence: a query-status the script expects last. */
static void fence(struct fixture *f)
{
	struct error e = { 0 };

	ck_assert_msg(monitor_execute(f->m, "query-status", NULL, NULL, &e) ==
		      KH_OK, "%s", e.msg);
}

/* Closes the monitor; 0 when the peer saw every command it expected. */
static int close_peer(struct fixture *f)
{
	monitor_close(f->m);
	return peer_finish(f->peer);
}

static json_t *fdname(const char *name)
{
	return json_pack("{s:s}", "fdname", name);
}

static json_t *named(const char *name)
{
	return json_pack("{s:s}", "name", name);
}

/* A QMP step cmd {"name": arg} whose undo is undo {"name": arg}. */
static struct step *add_step(struct plan *p, const char *cmd,
			     const char *undo, const char *arg)
{
	struct step *st = plan_add_args(p, cmd, named(arg));

	if (undo != NULL)
		step_undo(st, undo, named(arg));
	return st;
}

/* The pauses the executor asked for, in ms, are want (n of them). */
static void assert_pauses(const int64_t *want, int n)
{
	ck_assert_int_eq(fake_clock_npauses(), n);
	for (int k = 0; k < n; k++)
		ck_assert_msg(fake_clock_pause(k) == want[k],
			      "pause %d: %lld ms, not %lld", k,
			      (long long)fake_clock_pause(k), (long long)want[k]);
}

/* Hooks: each counts its calls. */
static int calls;

/* Judges a successful answer a failure of its own making, as a check
 * behind device_add does when QEMU does not show the device. */
static enum step_outcome not_shown(const struct plan *p, const struct step *st,
				   json_t *ret, struct error *e)
{
	(void)p;
	(void)st;
	(void)ret;
	calls++;
	if (e->code != KH_OK)
		return STEP_FAILED;
	error_set(e, KH_EFAIL, "QEMU accepted it but does not show it");
	return STEP_FAILED;
}

/* A refusal means what it removes is gone already. */
static enum step_outcome gone_if_refused(const struct plan *p,
					 const struct step *st, json_t *ret,
					 struct error *e)
{
	(void)p;
	(void)st;
	(void)ret;
	calls++;
	if (e->code == KH_OK)
		return STEP_DONE;
	error_clear(e);
	return STEP_GONE;
}

/* "in use" means not yet. */
static enum step_outcome again_if_in_use(const struct plan *p,
					 const struct step *st, json_t *ret,
					 struct error *e)
{
	(void)p;
	(void)st;
	(void)ret;
	calls++;
	if (e->code == KH_OK)
		return STEP_DONE;
	return strstr(e->msg, "in use") != NULL ? STEP_AGAIN : STEP_FAILED;
}

/* Not yet, judged from a successful answer: e stays clear. */
static enum step_outcome never_ready(const struct plan *p,
				     const struct step *st, json_t *ret,
				     struct error *e)
{
	(void)p;
	(void)st;
	(void)ret;
	calls++;
	return e->code == KH_OK ? STEP_AGAIN : STEP_FAILED;
}

static int host_run(const struct plan *p, const struct step *st,
		    struct error *e)
{
	(void)p;
	(void)st;
	(void)e;
	calls++;
	return KH_OK;
}

/* A pipelined group is sent whole before any answer is read; the first
 * refusal is the plan's, with QEMU's words; the steps of the group that
 * QEMU did (before and after the refused one) are taken back in
 * reverse; a step after the group is never sent. */
START_TEST(pipelined_group_refused)
{
	struct peer_step script[] = {
		HELLO,
		CMD("getfd", "kh-1", "{\"fdname\":\"a\"}"),
		CMD("getfd", "kh-2", "{\"fdname\":\"b\"}"),
		CMD("getfd", "kh-3", "{\"fdname\":\"c\"}"),
		ANSWER("kh-1"),
		REFUSE("kh-2", "No file descriptor supplied via SCM_RIGHTS"),
		ANSWER("kh-3"),
		CMD("closefd", "kh-4", "{\"fdname\":\"c\"}"), ANSWER("kh-4"),
		CMD("closefd", "kh-5", "{\"fdname\":\"a\"}"), ANSWER("kh-5"),
		FENCE("kh-6"),
	};
	static const char *const names[] = { "a", "b", "c", "d" };
	struct fixture f;
	struct plan p;
	int failed = -7;

	OPEN(&f, script);
	f.o.verbose = true;	/* the exchanges printed, under the sanitizers */
	plan_init(&p, &f.o, f.m, &f.d, NULL);
	for (int i = 0; i < 4; i++) {
		struct step *st = plan_add_args(&p, "getfd", fdname(names[i]));

		st->flags = i == 1 || i == 2 ? STEP_PIPELINED : 0;
		step_undo(st, "closefd", fdname(names[i]));
	}
	ck_assert_int_eq(plan_run(&p, &failed, &f.e), KH_EFAIL);
	ck_assert_int_eq(failed, 1);
	ck_assert_str_eq(f.e.msg, "QEMU refused getfd: No file descriptor "
			 "supplied via SCM_RIGHTS");
	ck_assert_str_eq(f.e.qmp_class, "GenericError");
	ck_assert_int_eq(p.step[0].outcome, STEP_DONE);
	ck_assert_int_eq(p.step[1].outcome, STEP_FAILED);
	ck_assert_int_eq(p.step[2].outcome, STEP_DONE);
	ck_assert_int_eq(p.step[3].outcome, STEP_NOT_RUN);
	fence(&f);
	plan_free(&p);
	ck_assert_int_eq(close_peer(&f), 0);
}
END_TEST

/* A step that takes over (netdev_add consuming getfd's fds): once it is
 * done, a later refusal takes back only it, not the steps before it. */
START_TEST(takes_over_undoes_only_itself)
{
	struct peer_step script[] = {
		HELLO,
		CMD("A", "kh-1", "{\"name\":\"a\"}"), ANSWER("kh-1"),
		CMD("B", "kh-2", "{\"name\":\"b\"}"), ANSWER("kh-2"),
		CMD("C", "kh-3", "{\"name\":\"c\"}"), REFUSE("kh-3", "C refused"),
		CMD("uB", "kh-4", "{\"name\":\"b\"}"), ANSWER("kh-4"),
		FENCE("kh-5"),
	};
	struct fixture f;
	struct plan p;
	int failed;

	OPEN(&f, script);
	plan_init(&p, &f.o, f.m, &f.d, NULL);
	add_step(&p, "A", "uA", "a");
	add_step(&p, "B", "uB", "b")->flags = STEP_TAKES_OVER;
	add_step(&p, "C", "uC", "c");
	ck_assert_int_eq(plan_run(&p, &failed, &f.e), KH_EFAIL);
	ck_assert_int_eq(failed, 2);
	ck_assert_str_eq(f.e.msg, "QEMU refused C: C refused");
	fence(&f);
	plan_free(&p);
	ck_assert_int_eq(close_peer(&f), 0);
}
END_TEST

/* Once the guest holds the device (device_add done), a later failure
 * (here a check hook's own, behind it in the pipeline as query-pci is)
 * asks the guest to give it back, and takes back nothing before it. */
START_TEST(guest_step_undoes_only_itself)
{
	struct peer_step script[] = {
		HELLO,
		CMD("A", "kh-1", "{\"name\":\"a\"}"), ANSWER("kh-1"),
		CMD("G", "kh-2", "{\"name\":\"g\"}"),
		CMD0("K", "kh-3"),
		ANSWER("kh-2"), ANSWER("kh-3"),
		CMD("uG", "kh-4", "{\"name\":\"g\"}"), ANSWER("kh-4"),
		FENCE("kh-5"),
	};
	struct fixture f;
	struct plan p;
	struct step *st;
	int failed;

	calls = 0;
	OPEN(&f, script);
	plan_init(&p, &f.o, f.m, &f.d, NULL);
	add_step(&p, "A", "uA", "a");
	add_step(&p, "G", "uG", "g")->flags = STEP_GUEST;
	st = plan_add(&p, "K");
	st->flags = STEP_PIPELINED;
	st->check = not_shown;
	ck_assert_int_eq(plan_run(&p, &failed, &f.e), KH_EFAIL);
	ck_assert_int_eq(failed, 2);
	ck_assert_str_eq(f.e.msg, "QEMU accepted it but does not show it");
	ck_assert_int_eq(calls, 1);
	fence(&f);
	plan_free(&p);
	ck_assert_int_eq(close_peer(&f), 0);
}
END_TEST

/* A step that always runs (remove-fd) is sent after a refusal too, and
 * its own failure neither replaces the refusal the caller is told nor
 * is taken back; the steps done before the refusal are. */
START_TEST(always_runs_after_refusal)
{
	struct peer_step script[] = {
		HELLO,
		CMD("A", "kh-1", "{\"name\":\"a\"}"), ANSWER("kh-1"),
		CMD("B", "kh-2", "{\"name\":\"b\"}"), REFUSE("kh-2", "B refused"),
		CMD("C", "kh-3", "{\"name\":\"c\"}"), REFUSE("kh-3", "C refused"),
		CMD("uA", "kh-4", "{\"name\":\"a\"}"), ANSWER("kh-4"),
		FENCE("kh-5"),
	};
	struct fixture f;
	struct plan p;
	int failed;

	OPEN(&f, script);
	plan_init(&p, &f.o, f.m, &f.d, NULL);
	add_step(&p, "A", "uA", "a");
	add_step(&p, "B", "uB", "b");
	add_step(&p, "C", "uC", "c")->flags = STEP_ALWAYS;
	ck_assert_int_eq(plan_run(&p, &failed, &f.e), KH_EFAIL);
	ck_assert_int_eq(failed, 1);
	ck_assert_str_eq(f.e.msg, "QEMU refused B: B refused");
	ck_assert_int_eq(p.step[2].outcome, STEP_FAILED);
	fence(&f);
	plan_free(&p);
	ck_assert_int_eq(close_peer(&f), 0);
}
END_TEST

/* An always-run step's failure when nothing else failed is not the
 * plan's either: the plan succeeds and nothing is taken back. */
START_TEST(always_failure_alone_is_not_the_plans)
{
	struct peer_step script[] = {
		HELLO,
		CMD("A", "kh-1", "{\"name\":\"a\"}"), ANSWER("kh-1"),
		CMD("C", "kh-2", "{\"name\":\"c\"}"), REFUSE("kh-2", "C refused"),
		FENCE("kh-3"),
	};
	struct fixture f;
	struct plan p;
	int failed;

	OPEN(&f, script);
	plan_init(&p, &f.o, f.m, &f.d, NULL);
	add_step(&p, "A", "uA", "a");
	add_step(&p, "C", "uC", "c")->flags = STEP_ALWAYS;
	ck_assert_int_eq(plan_run(&p, &failed, &f.e), KH_OK);
	ck_assert_int_eq(failed, -1);
	fence(&f);
	plan_free(&p);
	ck_assert_int_eq(close_peer(&f), 0);
}
END_TEST

/* A fallback (STEP_IF_GONE) is sent only when the step before it found
 * nothing to do: after a refusal its check turned into "gone", the
 * fallback goes and the plan succeeds; after a success it is not sent. */
START_TEST(if_gone_only_after_gone)
{
	struct peer_step script[] = {
		HELLO,
		CMD("drive_del", "kh-1", "{\"name\":\"a\"}"),
		REFUSE("kh-1", "Device 'a' not found"),
		CMD("blockdev-del", "kh-2", "{\"name\":\"a\"}"), ANSWER("kh-2"),
		FENCE("kh-3"),
		CMD("drive_del", "kh-4", "{\"name\":\"a\"}"), ANSWER("kh-4"),
		FENCE("kh-5"),
	};
	struct fixture f;
	struct plan p;
	int failed;

	calls = 0;
	OPEN(&f, script);
	for (int round = 0; round < 2; round++) {
		plan_init(&p, &f.o, f.m, &f.d, NULL);
		add_step(&p, "drive_del", NULL, "a")->check = gone_if_refused;
		add_step(&p, "blockdev-del", NULL, "a")->flags = STEP_IF_GONE;
		ck_assert_msg(plan_run(&p, &failed, &f.e) == KH_OK, "%s", f.e.msg);
		ck_assert_int_eq(failed, -1);
		ck_assert_int_eq(p.step[0].outcome, round == 0 ? STEP_GONE : STEP_DONE);
		ck_assert_int_eq(p.step[1].outcome, round == 0 ? STEP_DONE :
				 STEP_NOT_RUN);
		fence(&f);
		plan_free(&p);
	}
	ck_assert_int_eq(calls, 2);
	ck_assert_int_eq(close_peer(&f), 0);
}
END_TEST

/* "Not yet" (a node QEMU lets go of a moment after its device): the
 * step is sent again after a pause, and its later success is the
 * plan's. */
START_TEST(again_is_sent_again)
{
	struct peer_step script[] = {
		HELLO,
		CMD("blockdev-del", "kh-1", "{\"name\":\"n\"}"),
		REFUSE("kh-1", "Node 'n' is in use"),
		CMD("blockdev-del", "kh-2", "{\"name\":\"n\"}"), ANSWER("kh-2"),
		FENCE("kh-3"),
	};
	struct fixture f;
	struct plan p;
	int failed;

	calls = 0;
	OPEN(&f, script);
	plan_init(&p, &f.o, f.m, &f.d, NULL);
	add_step(&p, "blockdev-del", NULL, "n")->check = again_if_in_use;
	ck_assert_msg(plan_run(&p, &failed, &f.e) == KH_OK, "%s", f.e.msg);
	ck_assert_int_eq(failed, -1);
	ck_assert_int_eq(f.e.code, KH_OK);
	ck_assert_int_eq(calls, 2);
	assert_pauses((const int64_t[]){ 5 }, 1);
	fence(&f);
	plan_free(&p);
	ck_assert_int_eq(close_peer(&f), 0);
}
END_TEST

/* Still "not yet" when the timeout is up: the step fails with QEMU's
 * last answer, and what was done before it is taken back. With a
 * timeout of 20 ms the pauses are 5, 10 and 20 ms (the clock is the
 * test's: time passes only in them): four sends. */
START_TEST(again_gives_up_at_timeout)
{
	struct peer_step script[] = {
		HELLO,
		CMD("A", "kh-1", "{\"name\":\"a\"}"), ANSWER("kh-1"),
		IN_USE("kh-2"), IN_USE("kh-3"), IN_USE("kh-4"),
		CMD("blockdev-del", "kh-5", "{\"name\":\"n\"}"), REFUSE("kh-5", "still in use"),
		CMD("uA", "kh-6", "{\"name\":\"a\"}"), ANSWER("kh-6"),
		FENCE("kh-7"),
	};
	struct fixture f;
	struct plan p;
	int failed;

	calls = 0;
	OPEN(&f, script);
	f.o.timeout_ms = 20;
	plan_init(&p, &f.o, f.m, &f.d, NULL);
	add_step(&p, "A", "uA", "a");
	add_step(&p, "blockdev-del", NULL, "n")->check = again_if_in_use;
	ck_assert_int_eq(plan_run(&p, &failed, &f.e), KH_EFAIL);
	ck_assert_int_eq(failed, 1);
	ck_assert_str_eq(f.e.msg, "QEMU refused blockdev-del: still in use");
	ck_assert_int_eq(calls, 4);
	assert_pauses((const int64_t[]){ 5, 10, 20 }, 3);
	fence(&f);
	plan_free(&p);
	ck_assert_int_eq(close_peer(&f), 0);
}
END_TEST

/* The pause doubles up to a ceiling (160 ms) and stays there: a step
 * QEMU keeps refusing for the whole timeout (here 500 ms) is sent at 0,
 * 5, 15, 35, 75, 155, 315, 475 and 635 ms, nine times, not hundreds. */
START_TEST(again_backs_off_to_a_ceiling)
{
	struct peer_step script[] = {
		HELLO,
		IN_USE("kh-1"), IN_USE("kh-2"), IN_USE("kh-3"), IN_USE("kh-4"),
		IN_USE("kh-5"), IN_USE("kh-6"), IN_USE("kh-7"), IN_USE("kh-8"),
		IN_USE("kh-9"),
		FENCE("kh-10"),
	};
	struct fixture f;
	struct plan p;
	int failed;

	calls = 0;
	OPEN(&f, script);
	f.o.timeout_ms = 500;
	plan_init(&p, &f.o, f.m, &f.d, NULL);
	add_step(&p, "blockdev-del", NULL, "n")->check = again_if_in_use;
	ck_assert_int_eq(plan_run(&p, &failed, &f.e), KH_EFAIL);
	ck_assert_int_eq(failed, 0);
	ck_assert_str_eq(f.e.msg, "QEMU refused blockdev-del: in use");
	ck_assert_int_eq(calls, 9);
	assert_pauses((const int64_t[]){ 5, 10, 20, 40, 80, 160, 160, 160 }, 8);
	fence(&f);
	plan_free(&p);
	ck_assert_int_eq(close_peer(&f), 0);
}
END_TEST

/* A step still "not yet" at the timeout fails the plan even when "not
 * yet" was judged from a successful answer (its check left e clear):
 * the caller must not be told KH_OK for a plan that failed and was
 * taken back. */
START_TEST(again_from_success_gives_up_as_failure)
{
	struct peer_step script[] = {
		HELLO,
		CMD("A", "kh-1", "{\"name\":\"a\"}"), ANSWER("kh-1"),
		CMD0("query-x", "kh-2"), ANSWER("kh-2"),
		CMD0("query-x", "kh-3"), ANSWER("kh-3"),
		CMD0("query-x", "kh-4"), ANSWER("kh-4"),
		CMD0("query-x", "kh-5"), ANSWER("kh-5"),
		CMD("uA", "kh-6", "{\"name\":\"a\"}"), ANSWER("kh-6"),
		FENCE("kh-7"),
	};
	struct fixture f;
	struct plan p;
	int failed;

	calls = 0;
	OPEN(&f, script);
	f.o.timeout_ms = 20;
	plan_init(&p, &f.o, f.m, &f.d, NULL);
	add_step(&p, "A", "uA", "a");
	plan_add(&p, "query-x")->check = never_ready;
	ck_assert_int_eq(calls, 0);
	ck_assert_int_ne(plan_run(&p, &failed, &f.e), KH_OK);
	ck_assert_int_eq(failed, 1);
	ck_assert_int_ne(f.e.code, KH_OK);
	ck_assert_int_eq(calls, 4);
	assert_pauses((const int64_t[]){ 5, 10, 20 }, 3);
	fence(&f);
	plan_free(&p);
	ck_assert_int_eq(close_peer(&f), 0);
}
END_TEST

/* A pipelined step has no second chance: "not yet" there is a failure
 * with QEMU's words, and it is sent once. */
START_TEST(again_in_pipeline_fails)
{
	struct peer_step script[] = {
		HELLO,
		CMD("A", "kh-1", "{\"name\":\"a\"}"),
		CMD("blockdev-del", "kh-2", "{\"name\":\"n\"}"),
		ANSWER("kh-1"), REFUSE("kh-2", "in use"),
		CMD("uA", "kh-3", "{\"name\":\"a\"}"), ANSWER("kh-3"),
		FENCE("kh-4"),
	};
	struct fixture f;
	struct plan p;
	struct step *st;
	int failed;

	calls = 0;
	OPEN(&f, script);
	plan_init(&p, &f.o, f.m, &f.d, NULL);
	add_step(&p, "A", "uA", "a");
	st = add_step(&p, "blockdev-del", NULL, "n");
	st->check = again_if_in_use;
	st->flags = STEP_PIPELINED;
	ck_assert_int_eq(plan_run(&p, &failed, &f.e), KH_EFAIL);
	ck_assert_int_eq(failed, 1);
	ck_assert_str_eq(f.e.msg, "QEMU refused blockdev-del: in use");
	ck_assert_int_eq(calls, 1);
	fence(&f);
	plan_free(&p);
	ck_assert_int_eq(close_peer(&f), 0);
}
END_TEST

/* The plan every --dry-run test builds: each kind of step once. */
static int dry_fd = 5;

static void dry_plan(struct plan *p)
{
	struct step *st;

	st = plan_add_args(p, "getfd", fdname("a"));
	st->fd = &dry_fd;
	snprintf(st->label, sizeof(st->label), "tap kh1 queue 0");
	step_undo(st, "closefd", fdname("a"));
	plan_add_host(p, host_run, "run the ifup script for %s", "kh1");
	st = plan_add(p, "query-pci");
	st->flags = STEP_PIPELINED;
	st->check = not_shown;
	add_step(p, "drive_del", NULL, "a")->check = gone_if_refused;
	add_step(p, "blockdev-del", NULL, "a")->flags = STEP_IF_GONE;
}

#define DRY_SHOWN "[{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"a\"}, " \
	"\"fd\": \"tap kh1 queue 0\"}, " \
	"{\"run\": \"run the ifup script for kh1\"}, " \
	"{\"execute\": \"query-pci\"}, " \
	"{\"execute\": \"drive_del\", \"arguments\": {\"name\": \"a\"}}, " \
	"{\"execute\": \"blockdev-del\", \"arguments\": {\"name\": \"a\"}, " \
	"\"fallback\": true}]"

static void check_shown(const struct plan *p, json_t *shown)
{
	json_t *want = json_loads(DRY_SHOWN, 0, NULL);

	ck_assert_ptr_nonnull(want);
	ck_assert_msg(json_equal(shown, want), "shown: %s",
		      json_dumps(shown, JSON_COMPACT));
	ck_assert_uint_eq(json_array_size(shown), (size_t)p->n);
	for (int k = 0; k < p->n; k++) {
		json_t *j = step_json(&p->step[k]);

		ck_assert(json_equal(json_array_get(shown, k), j));
		json_decref(j);
	}
	json_decref(want);
}

/* --dry-run sends nothing and runs nothing (no host step, no hook): the
 * steps go to the shown list as step_json gives them, the fd by what it
 * is, a host step as what it runs, a fallback marked. */
START_TEST(dry_run_shows_and_sends_nothing)
{
	struct peer_step script[] = {
		HELLO,
		FENCE("kh-1"),
	};
	struct fixture f;
	struct plan p;
	json_t *shown = json_array();
	int failed = -7;

	calls = 0;
	OPEN(&f, script);
	f.o.dry_run = true;
	plan_init(&p, &f.o, f.m, &f.d, shown);
	dry_plan(&p);
	ck_assert_msg(plan_run(&p, &failed, &f.e) == KH_OK, "%s", f.e.msg);
	ck_assert_int_eq(failed, -1);
	ck_assert_int_eq(calls, 0);
	check_shown(&p, shown);
	fence(&f);
	plan_free(&p);
	json_decref(shown);
	ck_assert_int_eq(close_peer(&f), 0);
}
END_TEST

/* --dry-run needs no monitor at all. */
START_TEST(dry_run_without_monitor)
{
	struct options o = { .timeout_ms = 1000, .dry_run = true };
	struct rt_device d = { .id = "hotdisk-test" };
	struct error e = { 0 };
	struct plan p;
	json_t *shown = json_array();

	calls = 0;
	plan_init(&p, &o, NULL, &d, shown);
	dry_plan(&p);
	ck_assert_msg(plan_run(&p, NULL, &e) == KH_OK, "%s", e.msg);
	ck_assert_int_eq(calls, 0);
	check_shown(&p, shown);
	plan_free(&p);
	json_decref(shown);
}
END_TEST

/* What an intent record keeps: the undos of the steps before the first
 * one the guest holds, last first, as QMP commands (no "arguments" for
 * an undo without); and a replay sends each, going on past refusals
 * (what a killed run left may be partly gone). */
START_TEST(undo_journal_and_replay)
{
	struct peer_step script[] = {
		HELLO,
		CMD("uC", "kh-1", "{\"name\":\"c\"}"), REFUSE("kh-1", "no c"),
		CMD0("uB", "kh-2"), ANSWER("kh-2"),
		CMD("uA", "kh-3", "{\"name\":\"a\"}"), REFUSE("kh-3", "no a"),
		FENCE("kh-4"),
	};
	static const char want_text[] =
		"[{\"execute\": \"uC\", \"arguments\": {\"name\": \"c\"}}, "
		"{\"execute\": \"uB\"}, "
		"{\"execute\": \"uA\", \"arguments\": {\"name\": \"a\"}}]";
	struct fixture f;
	struct plan p;
	json_t *journal, *want = json_loads(want_text, 0, NULL);

	ck_assert_ptr_nonnull(want);
	OPEN(&f, script);
	plan_init(&p, &f.o, f.m, &f.d, NULL);
	add_step(&p, "A", "uA", "a");
	plan_add(&p, "B")->undo_cmd = "uB";
	plan_add(&p, "X");	/* no undo */
	add_step(&p, "C", "uC", "c")->flags = STEP_TAKES_OVER;
	add_step(&p, "G", "uG", "g")->flags = STEP_GUEST;
	add_step(&p, "K", "uK", "k");
	ck_assert_ptr_nonnull(journal = plan_undo_journal(&p));
	ck_assert_msg(json_equal(journal, want), "journal: %s",
		      json_dumps(journal, JSON_COMPACT));
	plan_replay_undo(&f.o, f.m, journal);
	fence(&f);
	json_decref(journal);
	json_decref(want);
	plan_free(&p);
	ck_assert_int_eq(close_peer(&f), 0);
}
END_TEST

/* Without a guest step the journal holds every undo; an empty plan's is
 * empty, and replaying it sends nothing. */
START_TEST(undo_journal_without_guest_step)
{
	struct peer_step script[] = {
		HELLO,
		FENCE("kh-1"),
	};
	struct fixture f;
	struct plan p;
	json_t *journal, *want = json_loads("[{\"execute\": \"uB\", \"arguments\": "
					    "{\"name\": \"b\"}}, {\"execute\": "
					    "\"uA\", \"arguments\": {\"name\": "
					    "\"a\"}}]", 0, NULL);

	OPEN(&f, script);
	plan_init(&p, &f.o, f.m, &f.d, NULL);
	add_step(&p, "A", "uA", "a");
	add_step(&p, "B", "uB", "b");
	ck_assert_ptr_nonnull(journal = plan_undo_journal(&p));
	ck_assert(json_equal(journal, want));
	json_decref(journal);
	plan_free(&p);
	plan_init(&p, &f.o, f.m, &f.d, NULL);
	ck_assert_ptr_nonnull(journal = plan_undo_journal(&p));
	ck_assert_uint_eq(json_array_size(journal), 0);
	plan_replay_undo(&f.o, f.m, journal);
	fence(&f);
	json_decref(journal);
	json_decref(want);
	plan_free(&p);
	ck_assert_int_eq(close_peer(&f), 0);
}
END_TEST

/* A plan with more steps than it has room for fails as out of memory
 * when run, before anything is sent; everything given to it (arguments
 * and undos, the spare step's too) is freed by plan_free. */
START_TEST(overflow_fails_and_sends_nothing)
{
	struct peer_step script[] = {
		HELLO,
		FENCE("kh-1"),
	};
	struct fixture f;
	struct plan p;
	struct step *st;
	int failed = -7;

	OPEN(&f, script);
	plan_init(&p, &f.o, f.m, &f.d, NULL);
	for (int i = 0; i < PLAN_MAX_STEPS + 3; i++) {
		st = add_step(&p, "A", "uA", "a");
		ck_assert_ptr_nonnull(st);
		ck_assert(i < PLAN_MAX_STEPS ? st != &p.spare : st == &p.spare);
	}
	plan_add_host(&p, host_run, "host %d", 1);
	step_undo(plan_add(&p, "B"), "uB", named("b"));
	ck_assert_int_eq(p.n, PLAN_MAX_STEPS);
	ck_assert_int_eq(plan_run(&p, &failed, &f.e), KH_EFAIL);
	ck_assert_str_eq(f.e.msg, "out of memory");
	ck_assert_int_eq(failed, -1);
	fence(&f);
	plan_free(&p);
	ck_assert_int_eq(close_peer(&f), 0);
}
END_TEST

/* Arguments that could not be made (a failed json_pack) break the plan
 * the same way. */
START_TEST(missing_args_fail_and_send_nothing)
{
	struct peer_step script[] = {
		HELLO,
		FENCE("kh-1"),
	};
	struct fixture f;
	struct plan p;

	OPEN(&f, script);
	plan_init(&p, &f.o, f.m, &f.d, NULL);
	add_step(&p, "A", "uA", "a");
	plan_add_args(&p, "B", NULL);
	ck_assert_int_eq(plan_run(&p, NULL, &f.e), KH_EFAIL);
	ck_assert_str_eq(f.e.msg, "out of memory");
	fence(&f);
	plan_free(&p);
	ck_assert_int_eq(close_peer(&f), 0);
}
END_TEST

/* An fd step goes out with its fd in the same message. */
START_TEST(fd_step_sends_its_fd)
{
	struct peer_step script[] = {
		HELLO,
		{ PEER_EXPECT_FD, "{\"execute\":\"getfd\",\"id\":\"kh-1\","
		  "\"arguments\":{\"fdname\":\"a\"}}", 0, "/dev/null" },
		ANSWER("kh-1"),
		FENCE("kh-2"),
	};
	struct fixture f;
	struct plan p;
	struct step *st;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	OPEN(&f, script);
	plan_init(&p, &f.o, f.m, &f.d, NULL);
	st = plan_add_args(&p, "getfd", fdname("a"));
	st->fd = &fd;
	snprintf(st->label, sizeof(st->label), "/dev/null");
	ck_assert_msg(plan_run(&p, NULL, &f.e) == KH_OK, "%s", f.e.msg);
	fence(&f);
	plan_free(&p);
	close(fd);
	ck_assert_int_eq(close_peer(&f), 0);
}
END_TEST

/* An fd step whose host side was not made (its fd still -1 when it
 * runs) fails naming what is missing, sends nothing, and what was done
 * before it is taken back. */
START_TEST(fd_step_without_fd_fails)
{
	struct peer_step script[] = {
		HELLO,
		CMD("A", "kh-1", "{\"name\":\"a\"}"), ANSWER("kh-1"),
		CMD("uA", "kh-2", "{\"name\":\"a\"}"), ANSWER("kh-2"),
		FENCE("kh-3"),
	};
	struct fixture f;
	struct plan p;
	struct step *st;
	int fd = -1, failed;

	OPEN(&f, script);
	plan_init(&p, &f.o, f.m, &f.d, NULL);
	add_step(&p, "A", "uA", "a");
	st = plan_add_args(&p, "getfd", fdname("t"));
	st->fd = &fd;
	snprintf(st->label, sizeof(st->label), "tap kh1 queue 0");
	step_undo(st, "closefd", fdname("t"));
	add_step(&p, "C", "uC", "c");
	ck_assert_int_eq(plan_run(&p, &failed, &f.e), KH_EFAIL);
	ck_assert_int_eq(failed, 1);
	ck_assert_str_eq(f.e.msg, "getfd: no fd for tap kh1 queue 0");
	fence(&f);
	plan_free(&p);
	ck_assert_int_eq(close_peer(&f), 0);
}
END_TEST

/* The same inside a pipelined group: what was sent before it is
 * answered and taken back, nothing after it in the group is sent. */
START_TEST(fd_step_without_fd_in_pipeline)
{
	struct peer_step script[] = {
		HELLO,
		CMD("getfd", "kh-1", "{\"fdname\":\"a\"}"), ANSWER("kh-1"),
		CMD("closefd", "kh-2", "{\"fdname\":\"a\"}"), ANSWER("kh-2"),
		FENCE("kh-3"),
	};
	static const char *const names[] = { "a", "b", "c" };
	int fds[3];
	struct fixture f;
	struct plan p;
	int failed;

	fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fds[1] = -1;
	fds[2] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert(fds[0] >= 0 && fds[2] >= 0);
	OPEN(&f, script);
	plan_init(&p, &f.o, f.m, &f.d, NULL);
	for (int i = 0; i < 3; i++) {
		struct step *st = plan_add_args(&p, "getfd", fdname(names[i]));

		st->flags = i > 0 ? STEP_PIPELINED : 0;
		st->fd = &fds[i];
		snprintf(st->label, sizeof(st->label), "tap kh1 queue %d", i);
		step_undo(st, "closefd", fdname(names[i]));
	}
	ck_assert_int_eq(plan_run(&p, &failed, &f.e), KH_EFAIL);
	ck_assert_int_eq(failed, 1);
	ck_assert_str_eq(f.e.msg, "getfd: no fd for tap kh1 queue 1");
	ck_assert_int_eq(p.step[2].outcome, STEP_NOT_RUN);
	fence(&f);
	plan_free(&p);
	close(fds[0]);
	close(fds[2]);
	ck_assert_int_eq(close_peer(&f), 0);
}
END_TEST

static Suite *plan_suite(void)
{
	Suite *s = suite_create("plan");
	TCase *tc = check_case("executor");

	tcase_add_test(tc, pipelined_group_refused);
	tcase_add_test(tc, takes_over_undoes_only_itself);
	tcase_add_test(tc, guest_step_undoes_only_itself);
	tcase_add_test(tc, always_runs_after_refusal);
	tcase_add_test(tc, always_failure_alone_is_not_the_plans);
	tcase_add_test(tc, if_gone_only_after_gone);
	tcase_add_test(tc, again_is_sent_again);
	tcase_add_test(tc, again_gives_up_at_timeout);
	tcase_add_test(tc, again_backs_off_to_a_ceiling);
	tcase_add_test(tc, again_from_success_gives_up_as_failure);
	tcase_add_test(tc, again_in_pipeline_fails);
	tcase_add_test(tc, dry_run_shows_and_sends_nothing);
	tcase_add_test(tc, dry_run_without_monitor);
	tcase_add_test(tc, undo_journal_and_replay);
	tcase_add_test(tc, undo_journal_without_guest_step);
	tcase_add_test(tc, overflow_fails_and_sends_nothing);
	tcase_add_test(tc, missing_args_fail_and_send_nothing);
	tcase_add_test(tc, fd_step_sends_its_fd);
	tcase_add_test(tc, fd_step_without_fd_fails);
	tcase_add_test(tc, fd_step_without_fd_in_pipeline);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(plan_suite());
}
