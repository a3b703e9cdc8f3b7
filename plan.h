/* A plan: what an add, a removal or a release asks of QEMU for one
 * device, built as a list of steps before anything is sent. One executor
 * runs every plan: it sends the steps (pipelining those marked so),
 * judges each answer, stops at the first refusal and takes back what the
 * steps done had made, in reverse; it prints each exchange (-v), or with
 * --dry-run only the steps; and a plan's undos are what an intent record
 * keeps, so that settling a killed run replays exactly them. A device
 * kind says which steps (kind.h: plan_add, plan_release); this file only
 * how steps run. */
#ifndef KH_PLAN_H
#define KH_PLAN_H

#include <stdbool.h>

#include <jansson.h>

#include "error.h"
#include "monitor.h"
#include "options.h"
#include "model.h"

/* How QEMU's answer to a step (or a host step's run) came out. */
enum step_outcome {
	STEP_NOT_RUN,	/* skipped: an earlier step failed, or no fallback needed */
	STEP_DONE,
	STEP_GONE,	/* nothing to do: what it removes is gone already */
	STEP_FAILED,
	STEP_AGAIN,	/* not yet: sent again after a pause, within the timeout */
};

/* Sent before the answer to the step before it is read: QEMU answers in
 * order, and a read-only check right behind device_add goes out before
 * the guest starts probing the new device. A host step or a fallback is
 * never pipelined (it depends on the answer before it). */
#define STEP_PIPELINED	0x01
/* Runs after a failure too, and its own failure is not the plan's
 * (remove-fd: the set goes whatever drive_add said). */
#define STEP_ALWAYS	0x02
/* Once done, its undo takes back the steps before it too (netdev_add
 * consumed the fds getfd handed over): theirs do not run. */
#define STEP_TAKES_OVER	0x04
/* Once done, only the guest can give back what it holds (device_add):
 * its undo asks, and the steps before it are not undone. */
#define STEP_GUEST	0x08
/* Runs only if the step before it found nothing to do (STEP_GONE): a
 * fallback for what an older kvm-hotplug made another way. */
#define STEP_IF_GONE	0x10

struct plan;

struct step {
	const char *cmd;	/* QMP command, or NULL for a host step */
	json_t *args;		/* its arguments (owned), or NULL */
	/* the fd sent with it: where it will be when the step runs (the
	 * host side is made after the plan is built), or NULL */
	const int *fd;
	/* what that fd is ("tap kh1 queue 0"), or what a host step does */
	char label[160];
	const char *undo_cmd;	/* the command that takes it back, or NULL */
	json_t *undo_args;	/* (owned) */
	unsigned flags;		/* STEP_* */
	const char *fault;	/* the fault point once it is done, or NULL */
	/* Judges the answer: ret on success, or e holding QEMU's refusal
	 * (e->code set). NULL: success is done, a refusal failed. May set
	 * or clear e to match what it returns. */
	enum step_outcome (*check)(const struct plan *p, const struct step *st,
				   json_t *ret, struct error *e);
	/* After it is done: what must follow before the next step (the
	 * guest's release of a device), or NULL. */
	int (*wait)(const struct plan *p, const struct step *st,
		    struct error *e);
	/* A host step: what it runs (label says what it is). */
	int (*run)(const struct plan *p, const struct step *st, struct error *e);
	enum step_outcome outcome;	/* the executor's */
	/* the executor's: sent but never answered (a timeout, a lost
	 * connection), or not sent at all: QEMU may still carry it out */
	bool unanswered;
};

#define PLAN_MAX_STEPS 40

struct plan {
	const struct options *o;
	struct monitor *m;
	const struct rt_device *d;	/* the device it is about */
	/* a removal whose device QEMU may lack already: one asked for
	 * before (state unplugging), or of a device the file records for
	 * the VM it names, which went outside the tool (a removal retried,
	 * an unplug by hand); else a device QEMU lacks means the monitor
	 * is not the file's VM */
	bool gone_is_done;
	/* the VM is in prelaunch: no guest has run since the last reset, to
	 * acknowledge an unplug; a reset finishes it, and changes nothing
	 * else there (plan_unplug) */
	bool reset_finishes;
	/* --dry-run: the steps are appended here as JSON, not run */
	json_t *shown;
	bool broken;	/* a step could not be made: run fails */
	int n;
	struct step step[PLAN_MAX_STEPS];
	struct step spare;	/* what plan_add gives when it cannot */
};

/* An empty plan for device d (which must outlive it) on monitor m; shown
 * as for struct plan. */
void plan_init(struct plan *p, const struct options *o, struct monitor *m,
	       const struct rt_device *d, json_t *shown);

/* Frees the steps' arguments. */
void plan_free(struct plan *p);

/* Appends a QMP step cmd without arguments, or with args (taken; NULL
 * from a failed json_pack), and returns it for its other fields to be
 * set. Out of memory or out of room, the step returned is a spare one that
 * never runs, and the plan fails when run: callers need not check. */
struct step *plan_add(struct plan *p, const char *cmd);
struct step *plan_add_args(struct plan *p, const char *cmd, json_t *args);

/* Appends a host step: run, described by the label fmt makes. */
struct step *plan_add_host(struct plan *p,
			   int (*run)(const struct plan *, const struct step *,
				      struct error *),
			   const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Sets the undo of st: cmd with args (taken). */
void step_undo(struct step *st, const char *cmd, json_t *args);

/* Runs p, or with --dry-run shows it. On failure e holds the first
 * refusal, what the steps done had made is taken back as far as the
 * flags allow, and *failed (if not NULL) is the index of the failed step;
 * -1 when none failed. A failure QEMU did not answer takes nothing back:
 * QEMU may still carry the step out (a device_add that comes late would
 * find its drive gone), so the outcome is left to the intent record's
 * journal, which the next run replays once QEMU says what it has. */
int plan_run(struct plan *p, int *failed, struct error *e);

/* What settling a killed run of p takes back while QEMU does not hold
 * the device: the undos of the steps before the first STEP_GUEST one, in
 * reverse order, as [{"execute": ..., "arguments": ...}, ...]; NULL on
 * ENOMEM. */
json_t *plan_undo_journal(const struct plan *p);

/* Replays a journal made by plan_undo_journal, each command best effort:
 * what a killed run may have left, where each part may be missing. */
void plan_replay_undo(const struct options *o, struct monitor *m,
		      json_t *journal);

/* A step as it is printed (--dry-run, -v): {"execute", "arguments",
 * "fd"} or {"run"}; NULL on ENOMEM. */
json_t *step_json(const struct step *st);

#endif
