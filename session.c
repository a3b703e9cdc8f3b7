/* Steps 1 and 2 of every command, and the commit: see session.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "proc.h"
#include "session.h"

/* Oldest QEMU whose blockdev-add and DEVICE_DELETED we rely on. */
#define MIN_QEMU_MAJOR 2
#define MIN_QEMU_MINOR 12

bool session_runs_elsewhere(const struct options *o)
{
	/* A Ganeti instance that runs has its runtime file: none means it
	 * does not run here, and a file of ours there would be one Ganeti
	 * cannot read */
	return o->instance != NULL && access(o->runtime, F_OK) == -1 &&
	       errno == ENOENT;
}

static int load_runtime(const struct options *o, struct runtime *rt,
			enum file_use use, struct error *e)
{
	if (session_runs_elsewhere(o))
		return error_set(e, KH_EUSAGE, "instance %s has no runtime file "
				 "(%s): it does not run on this node", o->instance,
				 o->runtime);
	/* a dry run changes nothing: it reads as list does */
	if ((use == FILE_READ || o->dry_run ?
	     runtime_lock_shared(rt, o->runtime, o->timeout_ms, e) :
	     runtime_lock(rt, o->runtime, o->timeout_ms, e)) != KH_OK ||
	    runtime_load(rt, use == FILE_CREATE, e) != KH_OK)
		return e->code;
	verbose(o, "runtime file %s: %zu devices", o->runtime, rt->ndev);
	return KH_OK;
}

/* "VM 'vm1' (uuid 0b0c...)": how a VM is named in messages. */
static void describe_vm(const char *name, const char *uuid, char *out,
			size_t size)
{
	if (name != NULL && uuid != NULL)
		snprintf(out, size, "VM '%.64s' (uuid %s)", name, uuid);
	else if (name != NULL)
		snprintf(out, size, "VM '%.64s'", name);
	else if (uuid != NULL)
		snprintf(out, size, "VM uuid %s", uuid);
	else
		snprintf(out, size, "a VM with no name or uuid");
}

/* The file belongs to one VM: QEMU's -name and -uuid must be what it
 * records, or the monitor is another VM's and every change would be
 * recorded in the wrong file. A uuid the file records tells the VM
 * alone: then the name was not asked (name_reply NULL) unless the uuids
 * differ, and is asked for the message. A native file that names no VM
 * yet is bound to this one by its next write. */
static int check_identity(const struct options *o, struct runtime *rt,
			  struct monitor *m, json_t *name_reply,
			  json_t *uuid_reply, struct error *e)
{
	const char *uuid = json_string_value(json_object_get(uuid_reply, "UUID"));
	const char *name;
	char file_vm[160], qemu_vm[160];
	bool by_uuid = name_reply == NULL;

	if (uuid != NULL && strspn(uuid, "0-") == strlen(uuid))
		uuid = NULL;	/* QEMU's way of saying there is none */
	if (by_uuid && uuid != NULL && strcasecmp(uuid, rt->vm_uuid) == 0)
		return KH_OK;
	if (by_uuid &&
	    monitor_execute(m, "query-name", NULL, &name_reply, e) != KH_OK)
		return e->code;
	name = json_string_value(json_object_get(name_reply, "name"));
	if (!by_uuid &&
	    (rt->vm_name == NULL || (name != NULL && strcmp(name, rt->vm_name) == 0)) &&
	    (rt->vm_uuid[0] == '\0' || (uuid != NULL && strcasecmp(uuid, rt->vm_uuid) == 0))) {
		if (runtime_records_vm(rt) && rt->vm_name == NULL && name != NULL &&
		    (rt->vm_name = strdup(name)) == NULL)
			return error_nomem(e);
		if (runtime_records_vm(rt) && rt->vm_uuid[0] == '\0' && uuid != NULL)
			rt_copy_lower(rt->vm_uuid, sizeof(rt->vm_uuid), uuid);
		return KH_OK;
	}
	describe_vm(rt->vm_name, rt->vm_uuid[0] != '\0' ? rt->vm_uuid : NULL,
		    file_vm, sizeof(file_vm));
	describe_vm(name, uuid, qemu_vm, sizeof(qemu_vm));
	if (by_uuid)
		json_decref(name_reply);
	return error_set(e, KH_EUSAGE, "%s belongs to %s, but %s is the monitor "
			 "of %s: wrong --runtime or --monitor; nothing changed",
			 o->runtime, file_vm, o->monitor, qemu_vm);
}

/* Opens the monitor of a QEMU new enough for hotplug. */
static int open_monitor(const struct options *o, struct monitor **m,
			struct error *e)
{
	int major, minor, micro;

	if (monitor_open(m, o->monitor, o->timeout_ms, e) != KH_OK)
		return e->code;
	monitor_version(*m, &major, &minor, &micro);
	verbose(o, "connected to QEMU %d.%d.%d", major, minor, micro);
	if (major < MIN_QEMU_MAJOR ||
	    (major == MIN_QEMU_MAJOR && minor < MIN_QEMU_MINOR))
		return error_set(e, KH_ENOHOTPLUG,
				 "QEMU %d.%d is too old for hotplug (%d.%d or "
				 "newer needed)", major, minor, MIN_QEMU_MAJOR,
				 MIN_QEMU_MINOR);
	return KH_OK;
}

/* Sends the n queries cmds at once and reads their replies: one round
 * trip. */
static int ask(struct monitor *m, const char *const *cmds, json_t **replies,
	       size_t n, struct error *e)
{
	unsigned long id[4];

	for (size_t i = 0; i < n; i++)
		if (monitor_send(m, cmds[i], NULL, -1, &id[i], e) != KH_OK)
			return e->code;
	for (size_t i = 0; i < n; i++)
		if (monitor_reply(m, id[i], cmds[i], &replies[i], e) != KH_OK)
			return e->code;
	return KH_OK;
}

/* Whether this QEMU, by query-status (st) and query-migrate (mig), is the
 * VM's live copy and can carry out a change (a removal: and have it
 * acknowledged). A target waiting for its state (inmigrate, -incoming
 * defer) takes adds: that is how a target is built; it has no guest to
 * acknowledge a removal. */
static int run_state_verdict(json_t *st, json_t *mig, bool removal,
			     struct error *e)
{
	static const struct { const char *state, *why; bool removal_only; } refused[] = {
		{ "postmigrate", "the VM was migrated away and runs elsewhere", false },
		{ "finish-migrate", "a migration is finishing", false },
		{ "shutdown", "the guest has shut down", false },
		{ "internal-error", "QEMU stopped on an internal error", false },
		{ "save-vm", "a snapshot is being saved", false },
		{ "restore-vm", "a snapshot is being restored", false },
		{ "guest-panicked", "the guest panicked and cannot acknowledge a removal", true },
		{ "inmigrate", "a migration target has no guest yet to acknowledge a removal", true },
	};
	static const char *const migrating[] = { "setup", "active", "pre-switchover",
		"device", "postcopy-active", "postcopy-paused", "postcopy-recover",
		"cancelling", "wait-unplug", NULL };
	const char *state = json_string_value(json_object_get(st, "status"));
	const char *mstate = json_string_value(json_object_get(mig, "status"));

	for (size_t i = 0; state != NULL && i < sizeof(refused) / sizeof(refused[0]); i++)
		if (strcmp(state, refused[i].state) == 0 &&
		    (removal || !refused[i].removal_only))
			return error_set(e, KH_EFAIL, "QEMU is in state %s: %s; "
					 "nothing changed", state, refused[i].why);
	for (size_t i = 0; mstate != NULL && migrating[i] != NULL; i++)
		if (strcmp(mstate, migrating[i]) == 0)
			return error_set(e, KH_EFAIL, "a migration is under way "
					 "(%s): the VM must not change now; nothing "
					 "changed", mstate);
	return KH_OK;
}

/* Step 5: the new file in place, then what its format keeps beside it.
 * Those side files only tell Ganeti which tap is whose; the VM and the
 * file agree already, so failing them is a warning, not a failure. */
void write_side_files(const struct runtime *rt)
{
	struct error side = { 0 };

	if (runtime_commit_side_files(rt, &side) != KH_OK)
		warning("%s", side.msg);
}

static int commit_file(struct runtime *rt, struct error *e)
{
	if (runtime_commit(rt, e) != KH_OK)
		return e->code;
	write_side_files(rt);
	return KH_OK;
}

int need_paths(const struct options *o, struct error *e)
{
	if (o->runtime == NULL)
		return error_set(e, KH_EUSAGE, "--runtime FILE is required");
	if (o->monitor == NULL)
		return error_set(e, KH_EUSAGE, "--monitor SOCK is required");
	return KH_OK;
}

void session_init(struct session *s, struct options *o)
{
	memset(s, 0, sizeof(*s));
	s->o = o;
	runtime_init(&s->rt);
}

int session_open(struct session *s, enum file_use use, struct error *e)
{
	return load_runtime(s->o, &s->rt, use, e);
}

/* A new connection asks which VM this is (its uuid alone where the file
 * records one: each command costs QEMU 0.1-0.3 ms), and a change what
 * state it is in: all in one round trip. */
int session_connect(struct session *s, enum change change, struct error *e)
{
	static const char *const asked[] = { "query-name", "query-uuid",
					     "query-status", "query-migrate" };
	json_t *r[4] = { NULL, NULL, NULL, NULL };
	bool fresh = s->m == NULL;
	size_t first = !fresh ? 2 : s->rt.vm_uuid[0] != '\0' ? 1 : 0;
	size_t end = change == CHANGE_NONE ? 2 : 4;

	if (fresh && open_monitor(s->o, &s->m, e) != KH_OK)
		return e->code;
	if (first < end &&
	    ask(s->m, asked + first, r + first, end - first, e) == KH_OK &&
	    (!fresh || check_identity(s->o, &s->rt, s->m, r[0], r[1], e) == KH_OK) &&
	    change != CHANGE_NONE &&
	    run_state_verdict(r[2], r[3], change == CHANGE_REMOVE, e) == KH_OK) {
		const char *status = json_string_value(json_object_get(r[2], "status"));

		s->prelaunch = status != NULL && strcmp(status, "prelaunch") == 0;
	}
	for (size_t i = 0; i < 4; i++)
		json_decref(r[i]);
	return e->code;
}

const char *session_qemu(struct session *s)
{
	if (s->qemu[0] == '\0' && s->m != NULL)
		proc_identity(monitor_peer_pid(s->m), s->qemu, sizeof(s->qemu));
	return s->qemu;
}

bool session_qemu_creds(const struct session *s, struct proc_creds *c)
{
	return s->m != NULL && proc_creds(monitor_peer_pid(s->m), c);
}

bool session_qemu_chrooted(const struct session *s)
{
	struct proc_creds c;

	return s->rt.chrooted ||
	       (session_qemu_creds(s, &c) && strcmp(c.root, "/") != 0);
}

int session_commit(struct session *s, struct error *e)
{
	bool made = !s->rt.exists;

	if (commit_file(&s->rt, e) != KH_OK)
		return e->code;
	/* said once, as the file is made */
	if (made && runtime_records_vm(&s->rt) && !runtime_names_vm(&s->rt) &&
	    !s->o->quiet)
		warning("QEMU has no -name or -uuid: "
			"%s cannot name its VM, and the monitor of another VM "
			"would not be told apart", s->o->runtime);
	return KH_OK;
}

int session_save(struct session *s, struct error *e)
{
	if (s->o->dry_run)
		return KH_OK;
	if (runtime_prepare(&s->rt, e) != KH_OK)
		return e->code;
	return commit_file(&s->rt, e);
}

void session_close(struct session *s)
{
	monitor_close(s->m);
	s->m = NULL;
	s->qemu[0] = '\0';
	runtime_close(&s->rt);
	rt_device_release(&s->settled);
	memset(&s->settled, 0, sizeof(s->settled));
}
