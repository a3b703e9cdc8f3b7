/* A NIC: its host side (a tap with one fd per queue, vhost-net, a bridge
 * port or an ifup script), its QMP sequence (the fds passed with getfd, a
 * tap netdev, a virtio-net-pci device), its release and its options for
 * cmdline, as the operations nic_ops (kind.h). */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "fault.h"
#include "kind.h"
#include "log.h"
#include "qdev.h"

/* What the host side of a NIC needs, checked before anything is made:
 * the tool sets up a bridged tap itself; other modes are the script's. */
static int check_nic_link(const struct request *r, struct error *e)
{
	struct stat st;

	if (r->script != NULL) {
		/* a directory is "executable" to access(2) too */
		if (r->script[0] != '/' || access(r->script, X_OK) == -1 ||
		    stat(r->script, &st) == -1 || !S_ISREG(st.st_mode))
			return error_set(e, KH_EUSAGE, "--script: %.200s is not "
					 "an executable with an absolute path",
					 r->script);
		return r->link != NULL && strcmp(r->mode, "bridged") == 0 ?
		       tap_check_bridge(r->link, e) : KH_OK;
	}
	if (strcmp(r->mode, "bridged") != 0)
		return error_set(e, KH_EUSAGE, "--mode %s needs --script",
				 r->mode);
	if (r->link == NULL)
		return error_set(e, KH_EUSAGE,
				 "--mode bridged needs --link BRIDGE or --script");
	return tap_check_bridge(r->link, e);
}

/* The name under which QEMU holds a NIC's fd: its id, the fd's kind
 * and queue ("hotnic-...-tap0", "...-vhost1"). */
static void fd_name(char *out, size_t size, const char *id, bool vhost, int q)
{
	snprintf(out, size, "%s-%s%d", id, vhost ? "vhost" : "tap", q);
}

/* "a:b:c": the names of d's tap (or vhost) fds, queue by queue. */
static json_t *joined_names(const struct rt_device *d, bool vhost)
{
	char buf[TAP_MAX_QUEUES * (RT_ID_MAX + 24)];
	size_t len = 0;

	buf[0] = '\0';
	for (int q = 0; q < d->queues && q < TAP_MAX_QUEUES; q++) {
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s",
					q > 0 ? ":" : "");
		fd_name(buf + len, sizeof(buf) - len, d->id, vhost, q);
		len += strlen(buf + len);
	}
	return json_string(buf);
}

static json_t *netdev_args(const struct rt_device *d)
{
	json_t *args = json_pack("{s:s, s:s}", "type", "tap", "id", d->id);
	bool vhost = strcmp(d->vhost, "on") == 0;
	int q = d->queues;

	if (args == NULL)
		return NULL;
	/* one queue: fd/vhostfd; several: fds/vhostfds, names joined by ':' */
	json_object_set_new(args, q > 1 ? "fds" : "fd", joined_names(d, false));
	if (vhost) {
		json_object_set_new(args, "vhost", json_true());
		json_object_set_new(args, q > 1 ? "vhostfds" : "vhostfd",
				    joined_names(d, true));
	}
	return args;
}

static json_t *nic_device_args(const struct rt_device *d)
{
	json_t *args = device_args(d);

	if (args == NULL)
		return NULL;
	json_object_set_new(args, "netdev", json_string(d->id));
	json_object_set_new(args, "mac", json_string(d->mac));
	if (strcmp(d->rom, "off") == 0)
		json_object_set_new(args, "romfile", json_string(""));
	if (d->queues > 1) {
		json_object_set_new(args, "mq", json_true());
		json_object_set_new(args, "vectors", json_integer(2 * d->queues + 2));
	}
	return args;
}

/* Every fd of the tap (and vhost) handed to QEMU, each in the same
 * message as its getfd, all sent before the first answer is read; a tap
 * netdev on them, which consumes them; the device. */
static void nic_add_steps(const struct session *s, const struct rt_device *d,
			  const struct host_side *h, struct plan *p)
{
	bool vhost = strcmp(d->vhost, "on") == 0;
	struct step *st = NULL;

	(void)s;
	for (int v = 0; v < (vhost ? 2 : 1); v++)
		for (int q = 0; q < d->queues && q < TAP_MAX_QUEUES; q++) {
			char name[RT_ID_MAX + 24];

			fd_name(name, sizeof(name), d->id, v == 1, q);
			st = plan_add_args(p, "getfd", json_pack("{s:s}",
							  "fdname", name));
			st->flags = v + q > 0 ? STEP_PIPELINED : 0;
			st->fd = v == 1 ? &h->tap.vhostfds[q] : &h->tap.fds[q];
			if (v == 1)
				snprintf(st->label, sizeof(st->label),
					 "/dev/vhost-net for queue %d", q);
			else
				snprintf(st->label, sizeof(st->label),
					 "tap %s queue %d", d->tap[0] != '\0' ?
					 d->tap : "(the kernel's name)", q);
			step_undo(st, "closefd", json_pack("{s:s}", "fdname", name));
		}
	if (st != NULL)
		st->fault = "after-getfd";
	st = plan_add_args(p, "netdev_add", netdev_args(d));
	st->flags = STEP_TAKES_OVER;
	st->fault = "after-netdev_add";
	step_undo(st, "netdev_del", json_pack("{s:s}", "id", d->id));
	plan_device_add(p, nic_device_args(d));
}

/* Ganeti passes the instance's name; ours is the runtime file's. */
static void instance_name(const char *runtime, char *out, size_t size)
{
	const char *base = strrchr(runtime, '/');
	size_t n;

	base = base != NULL ? base + 1 : runtime;
	n = strlen(base);
	if (n > 8 && strcmp(base + n - 8, ".runtime") == 0)
		n -= 8;
	snprintf(out, size, "%.*s", (int)n, base);
}

/* kvm-ifup's counterpart is kvm-ifdown: "ifup" in the script's name
 * becomes "ifdown". No such name, or no such file: no counterpart. */
static bool down_script(const char *up, char *out, size_t size)
{
	const char *base = strrchr(up, '/'), *at;

	base = base != NULL ? base + 1 : up;
	if ((at = strstr(base, "ifup")) == NULL)
		return false;
	snprintf(out, size, "%.*sifdown%s", (int)(at - up), up, at + 4);
	return access(out, X_OK) == 0;
}

/* Runs the NIC's ifup script, or with down set its ifdown counterpart. */
static int run_nic_script(const struct options *o, const struct rt_device *d,
			  bool down, struct error *e)
{
	char instance[256], path[PATH_MAX];
	struct tap_script_env env = {
		.instance = instance, .mac = d->mac, .mode = d->nic_mode,
		.link = d->link, .uuid = d->uuid, .name = d->name,
		.bridge = strcmp(d->nic_mode, "bridged") == 0 ? d->link : NULL,
	};
	const char *script = d->script;

	if (script == NULL || (down && !down_script(script, path, sizeof(path))))
		return KH_OK;
	if (down)
		script = path;
	if (o->instance != NULL)
		snprintf(instance, sizeof(instance), "%s", o->instance);
	else
		instance_name(o->runtime, instance, sizeof(instance));
	verbose(o, "running %s %s", script, d->tap);
	return tap_run_script(script, d->tap, &env, o->timeout_ms, e);
}

/* Whether vhost-net is used for queues queues, as mode ("on", "auto",
 * "off") asks: /dev/vhost-net is opened and closed again to find out. */
static int vhost_decision(const char *mode, int queues, bool *used,
			  struct error *e)
{
	struct tap probe;
	int rc;

	tap_init(&probe);
	probe.queues = queues;
	rc = tap_open_vhost(&probe, mode, used, e);
	tap_close(&probe);
	return rc;
}

/* The tap's name, if the NIC has one before it is made (given, or made
 * from its uuid); NULL: the kernel's next tapN. */
static const char *tap_name(const struct request *r, const struct rt_device *d)
{
	return r->tap != NULL ? r->tap : d->tap[0] != '\0' ? d->tap : NULL;
}

/* A tap name another interface has: the add would fail at the tap. A
 * name made from the uuid that is taken is most likely another VM's NIC
 * of the same uuid on this host. */
static int nic_host_check(const struct session *s, const struct request *r,
			  struct rt_device *d, struct host_side *h,
			  struct error *e)
{
	const char *name = tap_name(r, d);

	(void)h;
	/* a chrooted QEMU finds no ROM file ("failed to find romfile
	 * efi-virtio.rom"): the NIC goes without, and is recorded so, for a
	 * target to make it the same */
	if (session_qemu_chrooted(s) && d->rom[0] == '\0') {
		snprintf(d->rom, sizeof(d->rom), "off");
		verbose(s->o, "QEMU runs chrooted: the NIC gets no option ROM");
	}
	/* a modify makes the NIC again under its own tap's name (in a dry
	 * run still there), or one check_modify looked at */
	if (r->op == OP_MODIFY || name == NULL || if_nametoindex(name) == 0)
		return KH_OK;
	return error_set(e, KH_EFAIL, "interface %s already exists%s", name,
			 r->tap != NULL ? "" : " (the tap name made from the "
			 "NIC's uuid: does a NIC of this uuid run on another VM "
			 "here? give --tap NAME)");
}

/* Opens the tap (and vhost-net, as fill decided) and puts it on its link.
 * Until QEMU has its fds, closing ours undoes all of it but what a script
 * did. */
static int nic_host_up(const struct session *s, const struct request *r,
		       struct rt_device *d, struct host_side *h, struct error *e)
{
	const struct options *o = s->o;
	struct tap *tap = &h->tap;
	bool vhost;

	if (tap_open(tap, tap_name(r, d), d->queues, e) != KH_OK ||
	    tap_open_vhost(tap, d->vhost, &vhost, e) != KH_OK)
		return e->code;
	snprintf(d->tap, sizeof(d->tap), "%s", tap->name);
	verbose(o, "tap %s open (%d queue%s, vhost %s)", tap->name, tap->queues,
		tap->queues > 1 ? "s" : "", d->vhost);
	if (d->script != NULL) {
		h->script_ran = true;
		return run_nic_script(o, d, false, e);
	}
	if (tap_up(tap, e) != KH_OK || tap_enslave(tap, d->link, e) != KH_OK)
		return e->code;
	verbose(o, "tap %s up on bridge %s", tap->name, d->link);
	return KH_OK;
}

/* The target's QEMU opens the tap by name; the caller puts it on its
 * link (or runs the ifup script) once QEMU is up. A name the source's
 * kernel handed out may be another VM's tap on the target, where QEMU
 * would take it (or its queues) over: such a NIC's tap there gets the
 * name made for it. */
static json_t *netdev_cmdline_args(const struct rt_device *d)
{
	char own[IFNAMSIZ];
	json_t *args;

	if (tap_name_is_kernels(d->tap))
		tap_name_for_uuid(d->uuid, own, sizeof(own));
	else
		snprintf(own, sizeof(own), "%s", d->tap);
	args = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "tap", "id", d->id,
			 "ifname", own, "script", "no", "downscript", "no");

	if (args != NULL && d->queues > 1)
		json_object_set_new(args, "queues", json_integer(d->queues));
	if (args != NULL && strcmp(d->vhost, "on") == 0)
		json_object_set_new(args, "vhost", json_true());
	return args;
}

/* Two NICs with one MAC: refused for any recorded NIC but except. */
static int refuse_mac_in_use(const struct runtime *rt, const char *mac,
			     const struct rt_device *except, struct error *e)
{
	for (size_t i = 0; i < rt->ndev; i++)
		if (rt->dev[i].kind == RT_NIC && &rt->dev[i] != except &&
		    strcmp(rt->dev[i].mac, mac) == 0)
			return error_set(e, KH_EFAIL, "mac %s is already used by "
					 "nic %s", mac, rt->dev[i].uuid);
	return KH_OK;
}

/* What the new settings of a modified NIC (old, recorded in rt) need,
 * checked before the old NIC is unplugged: what add would refuse, a tap
 * name another interface has, vhost the host cannot give. */
static int check_nic_change(const struct runtime *rt, const struct rt_device *old,
			    const struct request *want, struct error *e)
{
	bool used;

	if (refuse_mac_in_use(rt, want->mac, old, e) != KH_OK)
		return e->code;
	if (want->tap != NULL && strcmp(want->tap, old->tap) != 0 &&
	    if_nametoindex(want->tap) != 0)
		return error_set(e, KH_EFAIL, "interface %s already exists",
				 want->tap);
	if (check_nic_link(want, e) != KH_OK)
		return e->code;
	return vhost_decision(want->vhost != NULL ? want->vhost : "auto",
			      want->queues, &used, e);
}

/* ---- the operations ---- */

static int nic_complete(const struct request *r, struct error *e)
{
	if (r->mac[0] == '\0')
		return error_set(e, KH_EUSAGE, "nic add: --mac is required");
	return KH_OK;
}

static int nic_check_add(struct request *r, bool format_given, struct error *e)
{
	(void)format_given;
	return check_nic_link(r, e);
}

static int copy_string(char **to, const char *from, struct error *e)
{
	if (from != NULL && (*to = strdup(from)) == NULL)
		return error_nomem(e);
	return KH_OK;
}

static int nic_fill(const struct runtime *rt, struct rt_device *d,
		    const struct request *r, struct error *e)
{
	bool vhost;

	snprintf(d->driver, sizeof(d->driver), "%s", RT_DRIVER_NIC);
	snprintf(d->mac, sizeof(d->mac), "%s", r->mac);
	snprintf(d->nic_mode, sizeof(d->nic_mode), "%s", r->mode);
	runtime_device_defaults(rt, d);
	if (r->queues > 0)
		d->queues = r->queues;
	if (r->tap != NULL)	/* checked: it fits */
		snprintf(d->tap, sizeof(d->tap), "%s", r->tap);
	if (copy_string(&d->link, r->link, e) != KH_OK ||
	    copy_string(&d->script, r->script, e) != KH_OK)
		return e->code;
	/* vhost as asked for, else as the file gives every NIC, else as the
	 * host can: decided here, so that the plan knows its fds */
	if (vhost_decision(r->vhost != NULL ? r->vhost : d->vhost[0] != '\0' ?
			   d->vhost : "auto", d->queues, &vhost, e) != KH_OK)
		return e->code;
	snprintf(d->vhost, sizeof(d->vhost), "%s", vhost ? "on" : "off");
	return KH_OK;
}

static bool nic_same(const struct rt_device *d, const struct request *r)
{
	return strcmp(r->mac, d->mac) == 0 && request_same_string(r->link, d->link) &&
	       request_gives_same(r->mode, d->nic_mode) &&
	       request_same_string(r->script, d->script) &&
	       request_gives_same(r->tap, d->tap) &&
	       (r->queues == 0 || r->queues == d->queues) &&
	       (r->vhost == NULL || strcmp(r->vhost, "auto") == 0 ||
		strcmp(r->vhost, d->vhost) == 0);
}

static int nic_conflicts(const struct runtime *rt, const struct request *r,
			 const struct rt_device *except, struct error *e)
{
	return refuse_mac_in_use(rt, r->mac, except, e);
}

/* An ifup script's effects are undone by its ifdown counterpart; the tap
 * itself goes with the fds its host_side holds. */
static void nic_host_down(const struct session *s, const struct rt_device *d,
			  const struct host_side *h)
{
	struct error ignored = { 0 };

	if (h->script_ran)
		run_nic_script(s->o, d, true, &ignored);
}

/* netdev_del: a netdev already gone is fine. */
static enum step_outcome netdev_deleted(const struct plan *p,
					const struct step *st, json_t *ret,
					struct error *e)
{
	(void)p;
	(void)st;
	(void)ret;
	return removal_outcome(e, QEMU_NO_DEVICE);
}

/* The NIC is gone whatever its ifdown script says: a warning, not a
 * failure. */
static int run_ifdown(const struct plan *p, const struct step *st,
		      struct error *e)
{
	struct error down = { 0 };

	(void)st;
	(void)e;
	if (run_nic_script(p->o, p->d, true, &down) != KH_OK)
		warning("%s", down.msg);
	return KH_OK;
}

/* Closing QEMU's tap fds (netdev_del) takes the tap away; then the ifdown
 * counterpart of its ifup script, if it has one. */
static void nic_release_steps(const struct session *s,
			      const struct rt_device *d, struct plan *p)
{
	char down[PATH_MAX];

	(void)s;
	plan_add_args(p, "netdev_del", json_pack("{s:s}", "id", d->id))->check =
		netdev_deleted;
	if (d->script != NULL && down_script(d->script, down, sizeof(down)))
		plan_add_host(p, run_ifdown, "%.140s %s", down, d->tap);
}

static int nic_cmdline(json_t *argv, const struct rt_device *d)
{
	return cmdline_append(argv, "-netdev", netdev_cmdline_args(d)) ||
	       cmdline_append(argv, "-device", nic_device_args(d));
}

/* QEMU's MAC of the NIC: query-rx-filter names each by its id. */
static const char *qemu_mac(json_t *rx, const char *id)
{
	size_t i;
	json_t *f;

	json_array_foreach(rx, i, f) {
		const char *name = json_string_value(json_object_get(f, "name"));

		if (name != NULL && strcmp(name, id) == 0)
			return json_string_value(json_object_get(f, "main-mac"));
	}
	return NULL;
}

/* The MAC cmdline gives the NIC; its tap (where known) is there, and on
 * its bridge when the tool put it there (bridged, no script). */
static bool nic_differs(const struct rt_device *d, const struct vm_view *v,
			char *why, size_t size)
{
	const char *mac = qemu_mac(v->rx, d->id);
	char master[IFNAMSIZ + 1];

	why[0] = '\0';
	if (mac != NULL && strcasecmp(mac, d->mac) != 0)
		differs_say(why, size, "mac: recorded %s, QEMU has %s", d->mac, mac);
	if (d->tap[0] == '\0')
		return why[0] != '\0';
	if (!tap_exists(d->tap, master, sizeof(master)))
		differs_say(why, size, "its tap %s is gone", d->tap);
	else if (d->script == NULL && d->link != NULL &&
		 strcmp(d->nic_mode, "bridged") == 0 && strcmp(master, d->link) != 0)
		differs_say(why, size, "its tap %s is not on bridge %s%s%s", d->tap,
			    d->link, master[0] != '\0' ? " but on " : "", master);
	return why[0] != '\0';
}

static int nic_host_ready(const struct runtime *rt, struct error *e)
{
	struct rt_device d = { .kind = RT_NIC };
	bool used;

	if (tap_usable(e) != KH_OK)
		return e->code;
	runtime_device_defaults(rt, &d);
	if (strcmp(d.vhost, "on") != 0)
		return KH_OK;
	if (vhost_decision("on", d.queues > 0 ? d.queues : 1, &used, e) != KH_OK)
		return error_prefix(e, "every NIC of this file gets vhost: ");
	return KH_OK;
}

static const char *const *nic_qmp_needs(const struct runtime *rt)
{
	static const char *const commands[] = { "getfd", "closefd", "netdev_add",
						"netdev_del", NULL };

	(void)rt;
	return commands;
}

static void nic_describe(json_t *obj, const struct rt_device *d, bool list)
{
	json_object_set_new(obj, "mac", json_string(d->mac));
	json_object_set_new(obj, "tap", json_string(d->tap));
	if (list && d->link != NULL)
		json_object_set_new(obj, "link", json_string(d->link));
}

static void nic_identify(const struct rt_device *d, char *out, size_t size)
{
	snprintf(out, size, "%s %s %s", d->mac, d->tap[0] != '\0' ? d->tap : "-",
		 d->link != NULL ? d->link : "-");
}

static void nic_to_request(const struct rt_device *d, struct request *r)
{
	memcpy(r->mac, d->mac, sizeof(r->mac));
	r->mode = d->nic_mode;
	r->link = d->link;
	r->script = d->script;
	r->tap = d->tap[0] != '\0' ? d->tap : NULL;	/* "": not known */
	r->vhost = d->vhost[0] != '\0' ? d->vhost : NULL;
	r->queues = d->queues;
}

/* A bridged NIC's MAC and bridge, as the configuration has them now
 * (sync builds only bridged NICs: another mode is not its to change). */
static bool nic_sync_changes(const struct rt_device *had,
			     const struct rt_device *want, struct request *r)
{
	bool changed = false;

	if (strcmp(had->nic_mode, "bridged") != 0)
		return false;
	if (strcasecmp(had->mac, want->mac) != 0) {
		memcpy(r->mac, want->mac, sizeof(r->mac));
		changed = true;
	}
	if (!request_same_string(had->link, want->link)) {
		r->link = want->link;
		changed = true;
	}
	return changed;
}

const struct kind_ops nic_ops = {
	.kind = RT_NIC,
	.complete = nic_complete,
	.check_add = nic_check_add,
	.fill = nic_fill,
	.same = nic_same,
	.conflicts = nic_conflicts,
	.host_check = nic_host_check,
	.host_up = nic_host_up,
	.host_down = nic_host_down,
	.add_steps = nic_add_steps,
	.release_steps = nic_release_steps,
	.cmdline = nic_cmdline,
	.differs = nic_differs,
	.qmp_needs = nic_qmp_needs,
	.host_ready = nic_host_ready,
	.describe = nic_describe,
	.identify = nic_identify,
	.to_request = nic_to_request,
	.check_modify = check_nic_change,
	.sync_changes = nic_sync_changes,
};
