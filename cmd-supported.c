/* supported [disk|nic]: whether hotplug can work for this VM, and why
 * not, each reason looked at on its own, nothing changed: the QMP
 * commands the tool sends, the bus it plugs into and its free slots,
 * QEMU's run state, what the host must offer. Exit 0, or 3 naming the
 * first reason. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "kind.h"
#include "output.h"
#include "flow.h"

/* What every device's add and removal send (qdev.c), whatever its kind. */
static const char *const device_commands[] = { "device_add", "device_del",
	"query-pci", "qom-get", "qom-list", "query-status", NULL };

struct verdict {
	const struct options *o;
	json_t *checks;
	struct error first;	/* the first reason it cannot work */
};

static void said(struct verdict *v, const char *check, int code,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* One check's outcome: a line (ok or no) or an entry of the JSON list. */
static void said(struct verdict *v, const char *check, int code,
		 const char *fmt, ...)
{
	char detail[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	json_array_append_new(v->checks, json_pack("{s:s, s:b, s:s}", "check",
						   check, "ok", code == KH_OK,
						   "detail", detail));
	if (code != KH_OK && v->first.code == KH_OK)
		error_set(&v->first, code, "%s: %s", check, detail);
	if (!v->o->json && !v->o->quiet)
		printf("%-3s %s: %s\n", code == KH_OK ? "ok" : "no", check, detail);
}

static bool wanted(const struct cmd_args *a, enum rt_kind k)
{
	return a->kinds == 0 || (a->kinds & (1u << k));
}

static bool has_command(json_t *commands, const char *name)
{
	size_t i;
	json_t *c;

	json_array_foreach(commands, i, c) {
		const char *n = json_string_value(json_object_get(c, "name"));

		if (n != NULL && strcmp(n, name) == 0)
			return true;
	}
	return false;
}

/* The first of list QEMU does not offer, or NULL. */
static const char *lacking(json_t *commands, const char *const *list)
{
	for (; list != NULL && *list != NULL; list++)
		if (!has_command(commands, *list))
			return *list;
	return NULL;
}

/* query-commands, not QEMU's version: a build may leave commands out. */
static int check_commands(struct verdict *v, struct session *s,
			  const struct cmd_args *a, struct error *e)
{
	json_t *commands = NULL;
	const char *missing = NULL, *by = "every device";
	size_t n = 0;

	if (monitor_execute(s->m, "query-commands", NULL, &commands, e) != KH_OK)
		return e->code;
	n = json_array_size(commands);
	missing = lacking(commands, device_commands);
	for (enum rt_kind k = 0; missing == NULL && k < RT_NKINDS; k++)
		if (wanted(a, k)) {
			missing = lacking(commands, kind_ops(k)->qmp_needs(&s->rt));
			by = rt_kind_name(k);
		}
	if (missing != NULL)
		said(v, "qmp", KH_ENOHOTPLUG, "QEMU does not offer %s, which %s "
		     "add or removal sends", missing, by);
	else
		said(v, "qmp", KH_OK, "QEMU offers every command the tool sends "
		     "(%zu commands)", n);
	json_decref(commands);
	return KH_OK;
}

/* The buses new devices may go to, as an add chooses (flow_survey,
 * bus_place): each one's free slots, and where the next add goes. A VM
 * without room is refused as an add would be, but with exit 3: no add
 * can work until a device goes. */
static int check_bus(struct verdict *v, struct session *s, struct error *e)
{
	struct request r = { .slot = -1 };
	struct error why = { 0 };
	struct bus_map map;
	struct bus_want w;
	const char **order = NULL;
	char bus[RT_BUS_MAX], room[300] = "";
	size_t n = 0, len = 0;
	int slot;

	if (flow_survey(s, &r, &map, &w, e) != KH_OK ||
	    (order = bus_order(&map, &w, &n, e)) == NULL ||
	    bus_ask_hotplug(s->m, &map, order, n, e) != KH_OK)
		goto out;
	for (size_t i = 0; i < n && len < sizeof(room); i++) {
		const struct bus *b = bus_find(&map, order[i]);

		if (b != NULL && b->asked && b->hotplug)
			len += snprintf(room + len, sizeof(room) - len, "%s%s %d",
					len > 0 ? ", " : "", b->name,
					__builtin_popcount(bus_room(b)));
	}
	if (bus_place(s->m, &map, &w, bus, sizeof(bus), &slot, &why) == KH_OK)
		said(v, "bus", KH_OK, "the next device goes to %s slot %d "
		     "(free slots: %s)", bus, slot, room);
	else if (why.qmp_class[0] == '\0' && why.code != KH_ENOHOTPLUG &&
		 why.code != KH_EFAIL)
		*e = why;	/* the monitor failed, not the bus */
	else
		said(v, "bus", KH_ENOHOTPLUG, "%s", why.msg);
out:
	free(order);
	bus_map_free(&map);
	return e->code;
}

/* The run state, for adds and for removals (which need a guest). */
static int check_state(struct verdict *v, struct session *s, struct error *e)
{
	static const struct { enum change change; const char *check; } asked[] = {
		{ CHANGE_ADD, "state (add)" }, { CHANGE_REMOVE, "state (remove)" },
	};

	for (size_t i = 0; i < sizeof(asked) / sizeof(asked[0]); i++) {
		struct error why = { 0 };

		if (session_connect(s, asked[i].change, &why) == KH_OK)
			said(v, asked[i].check, KH_OK, "QEMU's run state allows it");
		else if (why.qmp_class[0] == '\0' && why.code != KH_EFAIL) {
			*e = why;	/* the monitor failed */
			return e->code;
		} else
			said(v, asked[i].check, KH_ENOHOTPLUG, "%s", why.msg);
	}
	return KH_OK;
}

/* What QEMU may open (its user, its root) and what follows: how disks
 * reach it, whether NICs get an option ROM. Said, never a refusal. */
static void check_confinement(struct verdict *v, struct session *s)
{
	const char *pass = s->rt.fd_pass[0] != '\0' ? s->rt.fd_pass : "auto";
	bool chrooted = session_qemu_chrooted(s);
	const char *disks;
	struct proc_creds c;
	char who[300];

	if (!session_qemu_creds(s, &c))
		snprintf(who, sizeof(who), "QEMU's process cannot be looked at "
			 "here%s", s->rt.chrooted ? "; the file says it runs "
			 "chrooted" : "");
	else
		snprintf(who, sizeof(who), "QEMU runs as uid %u%s%.200s",
			 (unsigned)c.uid, chrooted ? ", chrooted in " : "",
			 chrooted ? c.root : "");
	if (runtime_disks_as_drives(&s->rt) || strcmp(pass, "always") == 0 ||
	    (chrooted && strcmp(pass, "never") != 0))
		disks = "as fds (a qcow2 image with a backing file cannot go)";
	else if (strcmp(pass, "never") == 0)
		disks = "by path";
	else
		disks = "by path where QEMU may open it, else as fds";
	said(v, "confinement", KH_OK, "%s; disks go %s (fd-pass %s); NICs "
	     "get %s", who, disks, pass, chrooted ? "no option ROM" :
	     "their option ROM");
}

static void check_host(struct verdict *v, struct session *s,
		       const struct cmd_args *a)
{
	for (enum rt_kind k = 0; k < RT_NKINDS; k++) {
		const struct kind_ops *ops = kind_ops(k);
		struct error why = { 0 };
		char check[32];

		if (!wanted(a, k) || ops->host_ready == NULL)
			continue;
		snprintf(check, sizeof(check), "host (%s)", rt_kind_name(k));
		if (ops->host_ready(&s->rt, &why) == KH_OK)
			said(v, check, KH_OK, "what a new %s needs is there",
			     rt_kind_name(k));
		else
			said(v, check, KH_ENOHOTPLUG, "%s", why.msg);
	}
}

static int supported_exec(struct session *s, struct cmd_args *a,
			  struct error *e)
{
	struct verdict v = { .o = s->o, .checks = json_array() };

	if (v.checks == NULL)
		return error_nomem(e);
	if (session_connect(s, CHANGE_NONE, e) == KH_OK &&
	    check_commands(&v, s, a, e) == KH_OK &&
	    check_bus(&v, s, e) == KH_OK &&
	    check_state(&v, s, e) == KH_OK) {
		check_confinement(&v, s);
		check_host(&v, s, a);
		if (v.first.code != KH_OK)
			error_set(e, v.first.code, "hotplug is not possible for "
				  "this VM: %s", v.first.msg);
		if (s->o->json)
			print_verdict(s->o, json_pack("{s:s, s:b, s:O}", "runtime",
						      s->o->runtime, "supported",
						      e->code == KH_OK, "checks",
						      v.checks), e);
	}
	json_decref(v.checks);
	return e->code;
}

static int supported_argument(const char *arg, struct cmd_args *a,
			      struct error *e)
{
	const struct kind_ops *ops = kind_ops_named(arg);

	if (ops == NULL)
		return error_set(e, KH_EUSAGE, "supported: '%.40s' is not disk or "
				 "nic", arg);
	a->kinds |= 1u << ops->kind;
	return KH_OK;
}

/* The file is read as an add would (it may not exist yet); nothing is
 * written. */
const struct cmd_entry cmd_supported_entry = {
	.object = "supported", .options = "",
	.usage = "supported [disk|nic]",
	.summary = "whether hotplug can work for this VM, and why not;\n"
		   "changes nothing (exit 0, or 3)",
	.needs = CMD_RUNTIME | CMD_MONITOR | CMD_CREATE,
	.argument = supported_argument, .exec = supported_exec,
};
