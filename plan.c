/* The one executor of plans: see plan.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "fault.h"
#include "log.h"
#include "plan.h"

void plan_init(struct plan *p, const struct options *o, struct monitor *m,
	       const struct rt_device *d, json_t *shown)
{
	memset(p, 0, sizeof(*p));
	p->o = o;
	p->m = m;
	p->d = d;
	p->shown = shown;
}

static void step_free(struct step *st)
{
	json_decref(st->args);
	json_decref(st->undo_args);
	memset(st, 0, sizeof(*st));
}

void plan_free(struct plan *p)
{
	for (int i = 0; i < p->n; i++)
		step_free(&p->step[i]);
	step_free(&p->spare);
	p->n = 0;
}

/* The next free step, or the spare one (and the plan broken). */
static struct step *next_step(struct plan *p)
{
	if (p->n == PLAN_MAX_STEPS) {
		p->broken = true;
		step_free(&p->spare);
		return &p->spare;
	}
	memset(&p->step[p->n], 0, sizeof(p->step[0]));
	return &p->step[p->n++];
}

struct step *plan_add(struct plan *p, const char *cmd)
{
	struct step *st = next_step(p);

	st->cmd = cmd;
	return st;
}

struct step *plan_add_args(struct plan *p, const char *cmd, json_t *args)
{
	struct step *st = plan_add(p, cmd);

	if (args == NULL || st == &p->spare) {
		p->broken = true;
		json_decref(args);
		return st;
	}
	st->args = args;
	return st;
}

struct step *plan_add_host(struct plan *p,
			   int (*run)(const struct plan *, const struct step *,
				      struct error *),
			   const char *fmt, ...)
{
	struct step *st = next_step(p);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->label, sizeof(st->label), fmt, ap);
	va_end(ap);
	st->run = run;
	return st;
}

void step_undo(struct step *st, const char *cmd, json_t *args)
{
	json_decref(st->undo_args);
	st->undo_cmd = cmd;
	st->undo_args = args;
}

/* {"execute": cmd, "arguments": args}: a command as QMP has it. */
static json_t *command_json(const char *cmd, json_t *args)
{
	json_t *j = json_pack("{s:s}", "execute", cmd);

	if (j != NULL && args != NULL)
		json_object_set(j, "arguments", args);
	return j;
}

json_t *step_json(const struct step *st)
{
	json_t *j;

	if (st->cmd == NULL)
		return json_pack("{s:s}", "run", st->label);
	if ((j = command_json(st->cmd, st->args)) == NULL)
		return NULL;
	if (st->fd != NULL)
		json_object_set_new(j, "fd", json_string(st->label));
	if (st->flags & STEP_IF_GONE)
		json_object_set_new(j, "fallback", json_true());
	return j;
}

/* -v: "-> what is sent" (sent is taken; built only when -v is given)
 * and "<- what came back". */
static void show_sent(const struct options *o, json_t *sent)
{
	char *text;

	if ((text = json_dumps(sent, JSON_COMPACT)) != NULL) {
		verbose(o, "-> %s", text);
		free(text);
	}
	json_decref(sent);
}

static void show_answer(const struct options *o, json_t *ret,
			const struct error *e)
{
	char *text;

	if (!o->verbose)
		return;
	if (e->code != KH_OK)
		verbose(o, "<- error %s: %s", e->qmp_class, e->msg);
	else if ((text = json_dumps(ret, JSON_COMPACT | JSON_ENCODE_ANY)) != NULL) {
		verbose(o, "<- %s", text);
		free(text);
	}
}

/* Sends st; a failure to send may have reached QEMU in part, and leaves
 * st unanswered; one found before (no fd) leaves nothing to doubt. */
static int send_step(const struct plan *p, struct step *st,
		     unsigned long *id, struct error *e)
{
	int fd = st->fd != NULL ? *st->fd : -1;

	if (st->fd != NULL && fd < 0)	/* its host side was not made */
		return error_set(e, KH_EFAIL, "%s: no fd for %s", st->cmd,
				 st->label);
	if (p->o->verbose)
		show_sent(p->o, step_json(st));
	if (monitor_send(p->m, st->cmd, json_incref(st->args), fd, id, e) != KH_OK)
		st->unanswered = true;
	return e->code;
}

/* QEMU's answer to st, sent as id, judged; or none (st->unanswered). */
static enum step_outcome answer(const struct plan *p, struct step *st,
				unsigned long id, struct error *e)
{
	json_t *ret = NULL;
	enum step_outcome out;

	st->unanswered = monitor_reply(p->m, id, st->cmd, &ret, e) != KH_OK &&
			 e->qmp_class[0] == '\0';
	show_answer(p->o, ret, e);
	if (st->check != NULL)
		out = st->check(p, st, ret, e);
	else
		out = e->code == KH_OK ? STEP_DONE : STEP_FAILED;
	json_decref(ret);
	return out;
}

/* A "not yet" that lasted: a failure, with QEMU's last word if it gave
 * one. */
static enum step_outcome not_done(const struct plan *p, const struct step *st,
				  struct error *e)
{
	if (e->code == KH_OK)
		error_set(e, KH_ETIMEOUT, "%s: QEMU was still not done after "
			  "%.1f s", st->cmd, p->o->timeout_ms / 1000.0);
	return STEP_FAILED;
}

/* A step sent alone, and sent again while QEMU says "not yet" (a block
 * node it lets go of a moment after its device), with a short backoff,
 * within the timeout. */
static enum step_outcome exchange(const struct plan *p, struct step *st,
				  struct error *e)
{
	int64_t pause_ms = 5, deadline = clock_ms() + p->o->timeout_ms;
	unsigned long id;
	enum step_outcome out;

	for (;;) {
		error_clear(e);
		if (send_step(p, st, &id, e) != KH_OK)
			return STEP_FAILED;
		out = answer(p, st, id, e);
		if (out != STEP_AGAIN)
			return out;
		if (clock_ms() >= deadline)
			return not_done(p, st, e);
		clock_pause_ms(pause_ms);
		if (pause_ms < 100)
			pause_ms *= 2;
	}
}

/* Whether step k runs, now that *first (or -1) failed. */
static bool runs(const struct plan *p, int k, int first)
{
	const struct step *st = &p->step[k];

	if (first >= 0 && !(st->flags & STEP_ALWAYS))
		return false;
	return !(st->flags & STEP_IF_GONE) ||
	       (k > 0 && p->step[k - 1].outcome == STEP_GONE);
}

/* Step k came out as its outcome says (err its error): the first failure
 * is the plan's; a step done goes on to its wait and its fault point. */
static void settle_step(struct plan *p, int k, struct error *err, int *first,
			struct error *e)
{
	struct step *st = &p->step[k];

	if (st->outcome == STEP_AGAIN)	/* pipelined: no second chance */
		st->outcome = not_done(p, st, err);
	if (st->outcome == STEP_DONE && *first < 0 && st->wait != NULL &&
	    st->wait(p, st, err) != KH_OK)
		st->outcome = STEP_FAILED;
	if (st->outcome == STEP_FAILED) {
		if (*first < 0 && !(st->flags & STEP_ALWAYS)) {
			*first = k;
			*e = *err;
		}
		return;
	}
	if (*first < 0 && st->fault != NULL)
		fault_point(st->fault);
}

/* One step that is not sent in a pipelined group: a host step, or one
 * sent alone (and again while QEMU says "not yet"). */
static void run_alone(struct plan *p, int k, int *first, struct error *e)
{
	struct step *st = &p->step[k];
	struct error err = { 0 };

	if (st->cmd == NULL)
		st->outcome = st->run(p, st, &err) == KH_OK ? STEP_DONE : STEP_FAILED;
	else
		st->outcome = exchange(p, st, &err);
	settle_step(p, k, &err, first, e);
}

/* A pipelined group, steps from to to: all sent, then every answer read
 * in order, so that each step's outcome is known for the undo. A step
 * that could not be sent ends the sending, and counts in its place:
 * after the answers to the steps before it. */
static void run_group(struct plan *p, int from, int to, int *first,
		      struct error *e)
{
	unsigned long id[PLAN_MAX_STEPS];
	bool sent[PLAN_MAX_STEPS] = { false };
	struct error err = { 0 }, unsent = { 0 };
	int end = to;

	for (int k = from; k < to && end == to; k++) {
		p->step[k].outcome = STEP_NOT_RUN;
		if (!runs(p, k, *first))
			continue;
		if (send_step(p, &p->step[k], &id[k], &unsent) != KH_OK)
			end = k;
		else
			sent[k] = true;
	}
	for (int k = from; k < end; k++) {
		if (!sent[k])
			continue;
		error_clear(&err);
		p->step[k].outcome = answer(p, &p->step[k], id[k], &err);
		settle_step(p, k, &err, first, e);
	}
	if (end < to) {
		p->step[end].outcome = STEP_FAILED;
		settle_step(p, end, &unsent, first, e);
	}
}

/* Best effort: an undo must not hide the error that caused it. */
static void undo_command(const struct options *o, struct monitor *m,
			 const char *cmd, json_t *args)
{
	struct error ignored = { 0 };
	json_t *ret = NULL;

	if (o->verbose)
		show_sent(o, command_json(cmd, args));
	monitor_execute(m, cmd, json_incref(args), &ret, &ignored);
	show_answer(o, ret, &ignored);
	json_decref(ret);
}

/* What the steps done made, taken back in reverse, as far as the flags
 * allow. */
static void undo_done(const struct plan *p)
{
	for (int k = p->n - 1; k >= 0; k--) {
		const struct step *st = &p->step[k];

		if (st->outcome != STEP_DONE)
			continue;
		if (st->undo_cmd != NULL)
			undo_command(p->o, p->m, st->undo_cmd, st->undo_args);
		if (st->flags & (STEP_TAKES_OVER | STEP_GUEST))
			return;
	}
}

/* --dry-run: the steps as they would be sent. */
static int show_plan(const struct plan *p, struct error *e)
{
	for (int k = 0; k < p->n; k++)
		if (json_array_append_new(p->shown, step_json(&p->step[k])) == -1)
			return error_nomem(e);
	return KH_OK;
}

int plan_run(struct plan *p, int *failed, struct error *e)
{
	int first = -1;

	if (failed != NULL)
		*failed = -1;
	if (p->broken)
		return error_nomem(e);
	if (p->o->dry_run)
		return show_plan(p, e);
	for (int i = 0; i < p->n;) {
		int end = i + 1;

		/* a fallback waits for the answer before it: never pipelined */
		while (end < p->n && (p->step[end].flags & STEP_PIPELINED) &&
		       !(p->step[end].flags & STEP_IF_GONE) &&
		       p->step[end].cmd != NULL)
			end++;
		if (end - i == 1) {
			p->step[i].outcome = STEP_NOT_RUN;
			if (runs(p, i, first))
				run_alone(p, i, &first, e);
		} else {
			run_group(p, i, end, &first, e);
		}
		i = end;
	}
	if (first >= 0 && !p->step[first].unanswered)
		undo_done(p);
	if (failed != NULL)
		*failed = first;
	return e->code;
}

json_t *plan_undo_journal(const struct plan *p)
{
	json_t *journal = json_array();
	int end = 0;

	while (end < p->n && !(p->step[end].flags & STEP_GUEST))
		end++;
	for (int k = end - 1; k >= 0 && journal != NULL; k--) {
		const struct step *st = &p->step[k];

		if (st->undo_cmd != NULL &&
		    json_array_append_new(journal, command_json(st->undo_cmd,
						st->undo_args)) == -1) {
			json_decref(journal);
			journal = NULL;
		}
	}
	return journal;
}

void plan_replay_undo(const struct options *o, struct monitor *m,
		      json_t *journal)
{
	size_t i;
	json_t *c;

	json_array_foreach(journal, i, c) {
		const char *cmd = json_string_value(json_object_get(c, "execute"));

		if (cmd != NULL)
			undo_command(o, m, cmd, json_object_get(c, "arguments"));
	}
}
