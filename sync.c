/*
 * The desired state for `sync`. Ganeti's hooks are told what the instance
 * has after a change, not what changed (GANETI_POST_INSTANCE_NICn_* and
 * ..._DISKn_*, built by cmdlib/instance_utils.py); this turns that into
 * devices, each as a runtime file would record it, for hotplug.c to
 * compare with the runtime file and the VM.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "model.h"
#include "sync.h"

#define MAX_DEVICES 64

/* GANETI_<set>NIC3_MAC and the like; NULL when unset or empty. */
static const char *hook_var(const char *set, const char *kind, int n,
			    const char *key)
{
	char name[128];
	const char *v;

	if (n >= 0)
		snprintf(name, sizeof(name), "GANETI_%s%s%d_%s", set, kind, n, key);
	else
		snprintf(name, sizeof(name), "GANETI_%s%s_%s", set, kind, key);
	v = getenv(name);
	return v != NULL && v[0] != '\0' ? v : NULL;
}

static int count(const char *set, const char *kind, int *n, struct error *e)
{
	const char *v = hook_var(set, kind, -1, "COUNT");
	char *end;
	long c;

	*n = 0;
	if (v == NULL)
		return KH_OK;
	c = strtol(v, &end, 10);
	if (*end != '\0' || c < 0 || c > MAX_DEVICES)
		return error_set(e, KH_EUSAGE, "GANETI_%s%s_COUNT: '%.20s' is not "
				 "a number 0-%d", set, kind, v, MAX_DEVICES);
	*n = (int)c;
	return KH_OK;
}

static int refuse(json_t *refused, const char *kind, const char *uuid,
		  const char *fmt, const char *arg, struct error *e)
{
	char reason[256];

	snprintf(reason, sizeof(reason), fmt, arg);
	if (json_array_append_new(refused, json_pack("{s:s, s:s?, s:s}", "kind",
				  kind, "uuid", uuid, "reason", reason)) != 0)
		return error_nomem(e);
	return KH_OK;
}

static int copy(char **to, const char *from, struct error *e)
{
	if (from != NULL && (*to = strdup(from)) == NULL)
		return error_nomem(e);
	return KH_OK;
}

/* The common part of a wanted device: kind, uuid, name. */
static struct rt_device *want_device(struct runtime *want, enum rt_kind kind,
				     const char *uuid, const char *name,
				     struct error *e)
{
	struct rt_device *d = runtime_add_device(want, e);

	if (d == NULL)
		return NULL;
	d->kind = kind;
	rt_copy_lower(d->uuid, sizeof(d->uuid), uuid);
	if (copy(&d->name, name, e) != KH_OK)
		return NULL;
	return d;
}

static int want_nic(struct runtime *want, json_t *refused, const char *set,
		    int n, struct error *e)
{
	const char *uuid = hook_var(set, "NIC", n, "UUID");
	const char *mac = hook_var(set, "NIC", n, "MAC");
	const char *mode = hook_var(set, "NIC", n, "MODE");
	const char *link = hook_var(set, "NIC", n, "LINK");
	struct rt_device *d;

	if (uuid == NULL || !uuid_is_valid(uuid))
		return refuse(refused, "nic", NULL, "NIC with mac %s has no "
			      "valid uuid", mac != NULL ? mac : "(none)", e);
	if (mac == NULL || !mac_is_valid(mac))
		return refuse(refused, "nic", uuid, "no valid mac (%.40s)",
			      mac != NULL ? mac : "none", e);
	if (mode != NULL && strcmp(mode, "bridged") != 0)
		return refuse(refused, "nic", uuid, "mode %.20s needs Ganeti's "
			      "own kvm-ifup, which kvm-hotplug does not run "
			      "for a Ganeti instance", mode, e);
	if (link == NULL || !tap_name_is_valid(link))
		return refuse(refused, "nic", uuid, "no bridge to put it on "
			      "(link %.40s)", link != NULL ? link : "none", e);
	/* Ganeti tags in its own kvm-ifup, which a hook cannot run: an
	 * untagged NIC would be wrong, and so would a file without it */
	if (hook_var(set, "NIC", n, "VLAN") != NULL)
		return refuse(refused, "nic", uuid, "vlan %.40s: Ganeti's own "
			      "kvm-ifup tags it, which kvm-hotplug does not run; "
			      "hot-add it with 'gnt-instance modify --hotplug'",
			      hook_var(set, "NIC", n, "VLAN"), e);
	if ((d = want_device(want, RT_NIC, uuid, hook_var(set, "NIC", n, "NAME"),
			     e)) == NULL)
		return e->code;
	rt_copy_lower(d->mac, sizeof(d->mac), mac);
	snprintf(d->nic_mode, sizeof(d->nic_mode), "bridged");
	d->queues = 1;
	return copy(&d->link, link, e);
}

/* Where a disk of one template is on this node, from its variables in
 * the hook environment (Ganeti 3.0's BuildDiskLogicalIDEnv), and the
 * logical_id its entry in a Ganeti file records: each template's own
 * place function. It returns 0, or -1 with why (a printf format taking
 * the template's name) when the hook environment cannot say. */
struct disk_template {
	const char *type;
	int (*place)(const struct disk_template *t, const char *set, int n,
		     char *path, size_t size, json_t **logical_id,
		     const char **why);
	const char *driver;	/* place_path's, when DISKn_DRIVER is unset */
};

/* file, sharedfile (the file), blockdev (the adopted device): the path
 * is DISKn_ID, recorded with its driver */
static int place_path(const struct disk_template *t, const char *set, int n,
		      char *path, size_t size, json_t **logical_id,
		      const char **why)
{
	const char *id = hook_var(set, "DISK", n, "ID");
	const char *driver = hook_var(set, "DISK", n, "DRIVER");

	*why = "disk type %.20s: no DISKn_ID (its path on the node)";
	if (id == NULL || id[0] != '/')
		return -1;
	snprintf(path, size, "%s", id);
	*logical_id = json_pack("[s, s]", driver ? driver : t->driver, id);
	return 0;
}

/* plain: the logical volume ID of the volume group VG */
static int place_plain(const struct disk_template *t, const char *set, int n,
		       char *path, size_t size, json_t **logical_id,
		       const char **why)
{
	const char *id = hook_var(set, "DISK", n, "ID");
	const char *vg = hook_var(set, "DISK", n, "VG");

	(void)t;
	*why = "disk type %.20s: no DISKn_VG and DISKn_ID (the volume)";
	if (id == NULL || vg == NULL)
		return -1;
	snprintf(path, size, "/dev/%s/%s", vg, id);
	*logical_id = json_pack("[s, s]", vg, id);
	return 0;
}

/* v is digits only. */
static bool all_digits(const char *v)
{
	return strspn(v, "0123456789") == strlen(v);
}

/* A number of at most 6 digits. */
static bool small_number(const char *v)
{
	return v != NULL && v[0] != '\0' && strlen(v) <= 6 && all_digits(v);
}

/* drbd: on the primary node (where the VM runs, and so its runtime
 * file) the device is /dev/drbd<PMINOR>. The shared secret of its
 * logical_id is not in the hook environment: the rest is recorded. */
static int place_drbd(const struct disk_template *t, const char *set, int n,
		      char *path, size_t size, json_t **logical_id,
		      const char **why)
{
	const char *pminor = hook_var(set, "DISK", n, "PMINOR");
	const char *sminor = hook_var(set, "DISK", n, "SMINOR");
	const char *port = hook_var(set, "DISK", n, "PORT");
	const char *pnode = hook_var(set, "DISK", n, "PNODE");
	const char *snode = hook_var(set, "DISK", n, "SNODE");

	(void)t;
	*why = "disk type %.20s: no DISKn_PMINOR (the minor on the primary "
	       "node), DISKn_SMINOR, DISKn_PORT, DISKn_PNODE and DISKn_SNODE";
	if (!small_number(pminor) || !small_number(sminor) ||
	    !small_number(port) || pnode == NULL || snode == NULL)
		return -1;
	snprintf(path, size, "/dev/drbd%s", pminor);
	*logical_id = json_pack("[s, s, I, I, I]", pnode, snode,
				(json_int_t)atoi(port), (json_int_t)atoi(pminor),
				(json_int_t)atoi(sminor));
	return 0;
}

/* rbd, ext, gluster: where the device is on the node is what Ganeti's
 * own attach step made of it (a mapping, a provider's script, a mount),
 * which the hook environment does not say. */
static int place_unknown(const struct disk_template *t, const char *set,
			 int n, char *path, size_t size, json_t **logical_id,
			 const char **why)
{
	(void)t;
	(void)set;
	(void)n;
	(void)path;
	(void)size;
	(void)logical_id;
	*why = "disk type %.20s: where it is on this node is what Ganeti's "
	       "own attach step made of it, which the hook environment does "
	       "not say; hot-add it with 'gnt-instance modify --hotplug'";
	return -1;
}

static const struct disk_template templates[] = {
	{ "file", place_path, "loop" },
	{ "sharedfile", place_path, "loop" },
	{ "blockdev", place_path, "manual" },
	{ "plain", place_plain, NULL },
	{ "drbd", place_drbd, NULL },
	{ "rbd", place_unknown, NULL },
	{ "ext", place_unknown, NULL },
	{ "gluster", place_unknown, NULL },
};

/* The disk's place by its template; why for one unknown too. */
static int disk_place(const char *set, int n, const char *type, char *path,
		      size_t size, json_t **logical_id, const char **why)
{
	for (size_t i = 0; i < sizeof(templates) / sizeof(templates[0]); i++)
		if (strcmp(templates[i].type, type) == 0)
			return templates[i].place(&templates[i], set, n, path,
						  size, logical_id, why);
	*why = "disk type %.20s: not a Ganeti disk template kvm-hotplug knows "
	       "(file, sharedfile, blockdev, plain, drbd)";
	return -1;
}

/* What Ganeti knows of the disk, for its entry in a Ganeti file. */
static json_t *disk_object(const char *set, int n, const char *type,
			   json_t *logical_id)
{
	const char *size = hook_var(set, "DISK", n, "SIZE");
	char iv_name[32];
	json_t *obj;

	snprintf(iv_name, sizeof(iv_name), "disk/%d", n);
	obj = json_pack("{s:s, s:o, s:[], s:s, s:{}}", "dev_type", type,
			"logical_id", logical_id, "children", "iv_name",
			iv_name, "params");
	if (obj != NULL && size != NULL && all_digits(size))
		json_object_set_new(obj, "size", json_integer(strtoll(size, NULL, 10)));
	return obj;
}

static int want_disk(struct runtime *want, json_t *refused, const char *set,
		     int n, struct error *e)
{
	const char *uuid = hook_var(set, "DISK", n, "UUID");
	const char *type = hook_var(set, "DISK", n, "DEV_TYPE");
	const char *mode = hook_var(set, "DISK", n, "MODE");
	json_t *logical_id = NULL;
	struct rt_device *d;
	const char *why;
	char path[4096];

	if (uuid == NULL || !uuid_is_valid(uuid))
		return refuse(refused, "disk", NULL, "disk/%s has no valid uuid",
			      hook_var(set, "DISK", n, "ID") != NULL ?
			      hook_var(set, "DISK", n, "ID") : "?", e);
	if (type == NULL)
		return refuse(refused, "disk", uuid, "no disk type (%s)",
			      "DISKn_DEV_TYPE", e);
	if (disk_place(set, n, type, path, sizeof(path), &logical_id, &why) != 0)
		return refuse(refused, "disk", uuid, why, type, e);
	if (logical_id == NULL)
		return error_nomem(e);
	if ((d = want_device(want, RT_DISK, uuid, hook_var(set, "DISK", n, "NAME"),
			     e)) == NULL) {
		json_decref(logical_id);
		return e->code;
	}
	snprintf(d->format, sizeof(d->format), "raw");
	snprintf(d->mode, sizeof(d->mode), "%s",
		 mode != NULL && strcmp(mode, "ro") == 0 ? "ro" : "rw");
	if ((d->extra = disk_object(set, n, type, logical_id)) == NULL)
		return error_nomem(e);
	return copy(&d->path, path, e);
}

bool sync_pre_phase(void)
{
	const char *phase = getenv("GANETI_HOOKS_PHASE");

	return phase != NULL && strcmp(phase, "pre") == 0;
}

int sync_from_hook_env(struct runtime *want, json_t *refused, struct error *e)
{
	const char *set = "POST_INSTANCE_";
	int nics, disks;

	if (hook_var(set, "NIC", -1, "COUNT") == NULL &&
	    hook_var(set, "DISK", -1, "COUNT") == NULL)
		set = "INSTANCE_";
	if (hook_var(set, "NIC", -1, "COUNT") == NULL &&
	    hook_var(set, "DISK", -1, "COUNT") == NULL)
		return error_set(e, KH_EUSAGE, "sync: no Ganeti hook environment "
				 "(GANETI_INSTANCE_NIC_COUNT, ..._DISK_COUNT); "
				 "run it from a hook, or use --from FILE");
	if (count(set, "NIC", &nics, e) != KH_OK ||
	    count(set, "DISK", &disks, e) != KH_OK)
		return e->code;
	for (int n = 0; n < nics; n++)
		if (want_nic(want, refused, set, n, e) != KH_OK)
			return e->code;
	for (int n = 0; n < disks; n++)
		if (want_disk(want, refused, set, n, e) != KH_OK)
			return e->code;
	return KH_OK;
}

extern char **environ;

/* The GANETI_* variables of the environment, by name. */
static json_t *hook_env(void)
{
	json_t *vars = json_object();

	for (size_t i = 0; vars != NULL && environ[i] != NULL; i++) {
		const char *eq = strchr(environ[i], '=');
		char name[256];

		if (strncmp(environ[i], "GANETI_", 7) != 0 || eq == NULL ||
		    (size_t)(eq - environ[i]) >= sizeof(name))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(eq - environ[i]), environ[i]);
		if (json_object_set_new(vars, name, json_string(eq + 1)) != 0) {
			json_decref(vars);
			vars = NULL;
		}
	}
	return vars;
}

int sync_env_save(const char *path, bool prune, struct error *e)
{
	json_t *saved = json_pack("{s:b, s:o}", "prune", prune, "env", hook_env());
	char *text = saved != NULL ? json_dumps(saved, JSON_COMPACT) : NULL;
	int rc = text == NULL ? error_nomem(e) : fio_replace_text(path, text, e);

	free(text);
	json_decref(saved);
	return rc;
}

int sync_env_load(const char *path, bool *prune, struct error *e)
{
	json_error_t jerr;
	json_t *saved = json_load_file(path, 0, &jerr), *vars, *v;
	const char *name;

	if (saved == NULL && access(path, F_OK) == -1)
		return error_set(e, KH_EUSAGE, "sync --again: no failed hook run to "
				 "repeat (%s): the last one succeeded, or none "
				 "ran on this node", path);
	vars = json_object_get(saved, "env");
	if (saved == NULL || !json_is_object(vars)) {
		json_decref(saved);
		return error_set(e, KH_EUSAGE, "sync --again: %s: not a saved hook "
				 "environment", path);
	}
	*prune = json_is_true(json_object_get(saved, "prune"));
	json_object_foreach(vars, name, v)
		if (strncmp(name, "GANETI_", 7) == 0 && json_is_string(v))
			setenv(name, json_string_value(v), 1);
	json_decref(saved);
	return KH_OK;
}

int sync_from_file(struct runtime *want, const char *path, struct error *e)
{
	if ((want->path = strdup(path)) == NULL)
		return error_nomem(e);
	if (runtime_load(want, false, e) != KH_OK)
		return error_prefix(e, "--from: ");
	return KH_OK;
}
