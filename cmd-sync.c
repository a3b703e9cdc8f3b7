/* sync: the VM made to have what Ganeti's configuration (or a file)
 * lists, one add or removal at a time, each run as its command line
 * would run it. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd.h"
#include "kind.h"
#include "output.h"
#include "sync.h"

/* One change sync made or tried: its result, or why not, and its exit. */
static void sync_action(json_t *actions, const char *action,
			const struct rt_device *d, json_t *res,
			const struct error *e)
{
	json_t *a = res != NULL ? res : json_object();

	/* a dry run's result is its plan: it names no device */
	json_object_set_new(a, "kind", json_string(rt_kind_name(d->kind)));
	json_object_set_new(a, "uuid", json_string(d->uuid));
	json_object_set_new(a, "action", json_string(action));
	json_object_set_new(a, "exit", json_integer(e->code));
	if (e->code != KH_OK)
		json_object_set_new(a, "error", json_string(e->msg));
	json_array_append_new(actions, a);
}

/* Runs the change r to device d as its command line would (its own
 * lock, connection and intent record); its result joins actions as
 * action. A dry run's slots are carried over to the next change's. */
static void sync_run(struct options *o, json_t *actions, const char *action,
		     const struct request *r, const struct rt_device *d)
{
	struct options one = *o;
	struct error e = { 0 };
	struct cmd_args a = { .r = *r };

	one.results = json_array();
	cmd_execute(cmd_for_device(a.r.kind, a.r.op), &one, &a, &e);
	o->dry = one.dry;
	sync_action(actions, action, d,
		    json_incref(json_array_get(one.results, 0)), &e);
	json_decref(one.results);
}

/* Adds a wanted device, or removes a recorded one. */
static void sync_one(struct options *o, json_t *actions, bool add,
		     const struct rt_device *d)
{
	struct request r = { 0 };

	request_from_device(d, &r);
	r.slot = -1;		/* where the VM has room now */
	r.bus[0] = '\0';
	r.op = add ? OP_ADD : OP_REMOVE;
	sync_run(o, actions, add ? "add" : "remove", &r, d);
}

/* A recorded device whose settings the configuration changed (a NIC's
 * MAC or bridge) is modified to match, where its kind can. */
static void sync_changed(struct options *o, json_t *actions,
			 const struct rt_device *had, const struct rt_device *want)
{
	const struct kind_ops *ops = kind_ops(had->kind);
	struct request r = { .kind = had->kind, .op = OP_MODIFY, .slot = -1 };

	snprintf(r.uuid, sizeof(r.uuid), "%s", had->uuid);
	if (ops->sync_changes != NULL && ops->sync_changes(had, want, &r))
		sync_run(o, actions, "modify", &r, had);
}

/* The worst outcome decides: a failure (the first one's exit code), else
 * a change that waits for a reboot (3), else all live (0). */
static int sync_outcome(json_t *actions, struct error *e)
{
	size_t i, failed = 0, later = 0;
	int code = KH_OK;
	json_t *a;

	json_array_foreach(actions, i, a) {
		int c = (int)json_integer_value(json_object_get(a, "exit"));
		if (c == KH_ENOHOTPLUG)
			later++;
		else if (c != KH_OK && failed++ == 0)
			code = c;
	}
	if (failed > 0)
		return error_set(e, code, "sync: %zu of %zu changes failed", failed,
				 json_array_size(actions));
	if (later > 0)
		return error_set(e, KH_ENOHOTPLUG, "sync: %zu of %zu changes take "
				 "effect at the next reboot", later,
				 json_array_size(actions));
	return KH_OK;
}

static void print_sync(const struct options *o, json_t *actions)
{
	size_t i;
	json_t *a;

	if (o->json) {
		print_json(json_pack("{s:s, s:O}", "runtime", o->runtime,
				     "actions", actions));
		return;
	}
	if (o->quiet)
		return;
	if (json_array_size(actions) == 0)
		printf("%s: the VM has what the configuration says\n",
		       o->instance != NULL ? o->instance : o->runtime);
	json_array_foreach(actions, i, a) {
		const char *err = json_string_value(json_object_get(a, "error"));
		if (err == NULL && json_object_get(a, "plan") != NULL)
			print_dry_run(o, json_incref(a));
		else if (err == NULL)
			print_result(o, json_incref(a));
		else
			printf("not done: %s %s %s: %s\n",
			       json_string_value(json_object_get(a, "action")),
			       json_string_value(json_object_get(a, "kind")),
			       json_string_value(json_object_get(a, "uuid")), err);
	}
}

/* Whether list (objects with a "uuid") has uuid. */
static bool listed(json_t *list, const char *uuid)
{
	size_t i;
	json_t *r;

	json_array_foreach(list, i, r) {
		const char *u = json_string_value(json_object_get(r, "uuid"));
		if (u != NULL && strcasecmp(u, uuid) == 0)
			return true;
	}
	return false;
}

/* Whether prune removes the recorded device d: the configuration does
 * not list it at all (neither wanted nor refused: a device sync cannot
 * make here is still Ganeti's), and it was not added by hand: what an
 * operator added, the operator removes. (Ganeti's hook environment
 * cannot tell what a change removed: its GANETI_INSTANCE_* set, "before
 * the change", already has a modify's new NIC list.) */
static bool prunable(const struct rt_device *d, struct runtime *want,
		     json_t *refused)
{
	return runtime_find_uuid(want, d->uuid) == NULL &&
	       !listed(refused, d->uuid) && d->added_by[0] == '\0';
}

/* The devices to add (wanted, not recorded), to modify (recorded, with
 * settings the configuration changed) and, with prune, to remove
 * (prunable), each done in turn; then what could not be. */
static int sync_vm(struct options *o, const char *from, bool prune,
		   struct error *e)
{
	struct session snap;
	struct runtime *have = &snap.rt, want;
	json_t *actions = json_array(), *refused = json_array(), *r;
	struct options quiet = *o;
	size_t i;

	session_init(&snap, o);
	runtime_init(&want);
	if ((from != NULL ? sync_from_file(&want, from, e) :
			    sync_from_hook_env(&want, refused, e)) != KH_OK)
		goto out;
	/* A Ganeti instance without a runtime file does not run here (it is
	 * stopped, or this is not its node: hooks run on several) */
	if (session_runs_elsewhere(o)) {
		cmd_elsewhere(o, json_pack("{s:s, s:O}", "runtime", o->runtime,
					   "actions", actions));
		goto out;
	}
	/* a snapshot: each change below takes the lock for itself; no file
	 * yet is no device yet, as for an add */
	if (session_open(&snap, FILE_CREATE, e) != KH_OK)
		goto out;
	runtime_unlock(have);
	quiet.json = false;
	for (i = 0; i < want.ndev; i++) {
		struct rt_device *had = runtime_find_uuid(have, want.dev[i].uuid);

		if (had == NULL)
			sync_one(&quiet, actions, true, &want.dev[i]);
		else if (had->kind == want.dev[i].kind)
			sync_changed(&quiet, actions, had, &want.dev[i]);
	}
	for (i = 0; prune && i < have->ndev; i++)
		if (prunable(&have->dev[i], &want, refused))
			sync_one(&quiet, actions, false, &have->dev[i]);
	json_array_foreach(refused, i, r) {
		const char *uuid = json_string_value(json_object_get(r, "uuid"));
		/* what cannot be made here but is there already is no change */
		if (uuid != NULL && runtime_find_uuid(have, uuid) != NULL)
			continue;
		json_object_set_new(r, "action", json_string("add"));
		json_object_set_new(r, "exit", json_integer(KH_ENOHOTPLUG));
		json_object_set(r, "error", json_object_get(r, "reason"));
		json_object_del(r, "reason");
		json_array_append(actions, r);
	}
	print_sync(o, actions);
	o->reported = o->json;	/* one JSON object per run */
	sync_outcome(actions, e);
out:
	json_decref(actions);
	json_decref(refused);
	session_close(&snap);
	runtime_close(&want);
	return e->code;
}

/* How the operator repeats this run: the command line that finds the
 * same runtime file and monitor, and --again. */
static void again_command(const struct options *o, char *out, size_t size)
{
	if (o->instance != NULL)
		snprintf(out, size, "kvm-hotplug --instance %s%s%s sync --again",
			 o->instance, o->ganeti_dir != NULL ? " --ganeti-dir " : "",
			 o->ganeti_dir != NULL ? o->ganeti_dir : "");
	else
		snprintf(out, size, "kvm-hotplug -r %s -m %s sync --again",
			 o->runtime, o->monitor);
}

/* Where a failed hook's environment is kept: ASIDE.hook-env, beside the
 * runtime file's lock (runtime_aside_path), into a malloc'd *path. */
static int hook_env_path(const struct options *o, char **path, struct error *e)
{
	char *aside;

	*path = NULL;
	if (runtime_aside_path(o->runtime, &aside, e) != KH_OK)
		return e->code;
	if (asprintf(path, "%s.hook-env", aside) == -1)
		*path = NULL;
	free(aside);
	return *path == NULL ? error_nomem(e) : KH_OK;
}

/* A hook's run that failed (exit 1 or 4: exit 3 is a change no rerun
 * makes) keeps its environment beside the runtime file's other files
 * (runtime_aside_path), and its message says how to repeat it; one that
 * did what it could drops what an earlier one kept. Nothing of this
 * changes the run's outcome, and a dry run keeps nothing. */
static void remember_hook_run(const struct options *o, bool prune,
			      struct error *e)
{
	struct error side = { 0 };
	char *path = NULL, again[PATH_MAX + 200];
	bool failed = e->code == KH_EFAIL || e->code == KH_ETIMEOUT;

	if (o->dry_run || session_runs_elsewhere(o) ||
	    hook_env_path(o, &path, &side) != KH_OK)
		return;
	if (!failed)
		unlink(path);
	else if (sync_env_save(path, prune, &side) == KH_OK) {
		char was[sizeof(e->msg)];

		memcpy(was, e->msg, sizeof(was));
		again_command(o, again, sizeof(again));
		error_set(e, e->code, "%s; once the cause is fixed, run '%s' on "
			  "this node (the hook's environment is kept in %s)",
			  was, again, path);
	}
	free(path);
}

static int sync_exec(struct session *s, struct cmd_args *a, struct error *e)
{
	struct options *o = s->o;
	bool prune = a->prune;
	char *path = NULL;

	if (a->again && a->from != NULL)
		return error_set(e, KH_EUSAGE, "sync: --again repeats a hook's "
				 "run, --from does not need one: not both");
	if (a->again) {
		if (hook_env_path(o, &path, e) != KH_OK)
			return e->code;
		sync_env_load(path, &prune, e);
		free(path);
		if (e->code != KH_OK)
			return e->code;
	} else if (a->from == NULL && sync_pre_phase()) {
		if (!o->quiet && !o->json)
			puts("sync: the pre phase; the configuration has not changed yet");
		if (o->json)
			print_json(json_pack("{s:s, s:[]}", "runtime", o->runtime,
					     "actions"));
		return KH_OK;
	}
	sync_vm(o, a->from, prune, e);
	if (a->from == NULL)
		remember_hook_run(o, prune, e);
	return e->code;
}

static int sync_option(int c, const char *arg, struct cmd_args *a,
		       struct error *e)
{
	(void)e;
	if (c == 'P')
		a->prune = true;
	else if (c == 'A')
		a->again = true;
	else
		a->from = arg;
	return KH_OK;
}

/* Each change opens its own session (cmd_execute): this one opens none. */
const struct cmd_entry cmd_sync_entry = {
	.object = "sync", .options = "PFAwn",
	.usage = "sync [--prune] [--from FILE | --again] [--wait plugged|ready]",
	.summary = "make the VM have what Ganeti's hook environment (or FILE)\n"
		   "lists: add what is missing, change a NIC's MAC or bridge;\n"
		   "--prune removes what the change removed (FILE: what it\n"
		   "does not list); --again repeats a hook's failed run",
	.needs = CMD_RUNTIME | CMD_MONITOR,
	.option = sync_option, .exec = sync_exec,
};
