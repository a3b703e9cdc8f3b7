/* The command table and the one runner of every command: see cmd.h. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "output.h"
#include "settle.h"

static const struct cmd_entry *const cmd_table[] = {
	&cmd_disk_add_entry,
	&cmd_disk_remove_entry,
	&cmd_nic_add_entry,
	&cmd_nic_remove_entry,
	&cmd_nic_modify_entry,
	&cmd_list_entry,
	&cmd_check_entry,
	&cmd_cmdline_entry,
	&cmd_sync_entry,
	&cmd_supported_entry,
};
#define NCMDS (sizeof(cmd_table) / sizeof(cmd_table[0]))

/* Every long option of every command; an entry's options string says
 * which of them it takes. */
static const struct option longopts[] = {
	{ "uuid", required_argument, NULL, 'u' },
	{ "name", required_argument, NULL, 'N' },
	{ "slot", required_argument, NULL, 's' },
	{ "bus", required_argument, NULL, 'b' },
	{ "path", required_argument, NULL, 'p' },
	{ "format", required_argument, NULL, 'f' },
	{ "cache", required_argument, NULL, 'c' },
	{ "discard", required_argument, NULL, 'd' },
	{ "mode", required_argument, NULL, 'o' },
	{ "mac", required_argument, NULL, 'M' },
	{ "link", required_argument, NULL, 'l' },
	{ "script", required_argument, NULL, 'S' },
	{ "tap", required_argument, NULL, 'T' },
	{ "queues", required_argument, NULL, 'Q' },
	{ "vhost", required_argument, NULL, 'H' },
	{ "dev-type", required_argument, NULL, 'D' },
	{ "fd-pass", required_argument, NULL, 'x' },
	{ "repair", no_argument, NULL, 'R' },
	{ "prune", no_argument, NULL, 'P' },
	{ "from", required_argument, NULL, 'F' },
	{ "again", no_argument, NULL, 'A' },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "wait", required_argument, NULL, 'w' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* "disk add" or "list", for messages. */
static const char *cmd_name(const struct cmd_entry *c, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s", c->object, c->verb ? " " : "",
		 c->verb ? c->verb : "");
	return buf;
}

/* The usage of every command of object (every verb), as --help prints it;
 * --dry-run, which every command that changes something takes, once. */
static void print_usage(const char *object, FILE *f)
{
	const char *lead = "usage:";
	bool dry = false;

	for (size_t i = 0; i < NCMDS; i++)
		if (strcmp(cmd_table[i]->object, object) == 0) {
			fprintf(f, "%s kvm-hotplug [options] %s\n", lead,
				cmd_table[i]->usage);
			lead = "      ";
			dry |= strchr(cmd_table[i]->options, 'n') != NULL;
		}
	if (dry)
		fprintf(f, "%s -n, --dry-run: print the QMP commands and the "
			"file; change nothing\n", lead);
}

void cmd_print_overview(FILE *f)
{
	for (size_t i = 0; i < NCMDS; i++) {
		const struct cmd_entry *c = cmd_table[i];

		fprintf(f, "  %s\n", c->usage);
		for (const char *l = c->summary; l != NULL && *l != '\0';) {
			int n = (int)strcspn(l, "\n");

			fprintf(f, "      %.*s\n", n, l);
			l += n + (l[n] == '\n');
		}
	}
}

const struct cmd_entry *cmd_for_device(enum rt_kind kind, int op)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (cmd_table[i]->verb != NULL && cmd_table[i]->kind == kind &&
		    cmd_table[i]->op == op)
			return cmd_table[i];
	return NULL;
}

/* The command argv names: an object, and its verb if it has verbs. */
static int find_command(int argc, char **argv, const struct cmd_entry **found,
			struct error *e)
{
	bool object = false;

	for (size_t i = 0; i < NCMDS; i++) {
		const struct cmd_entry *c = cmd_table[i];

		if (strcmp(c->object, argv[0]) != 0)
			continue;
		object = true;
		if (c->verb == NULL ||
		    (argc > 1 && strcmp(c->verb, argv[1]) == 0)) {
			*found = c;
			return KH_OK;
		}
	}
	if (!object)
		return error_set(e, KH_EUSAGE, "unknown command '%.40s' (see "
				 "--help)", argv[0]);
	if (argc < 2)
		return error_set(e, KH_EUSAGE, "%s: add or remove? (see %s "
				 "--help)", argv[0], argv[0]);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		*found = NULL;	/* help for the object's commands */
		return KH_OK;
	}
	return error_set(e, KH_EUSAGE, "%s: unknown subcommand '%.40s'", argv[0],
			 argv[1]);
}

/* The command's options from argv (argv[0] its last word) into a; *help
 * when --help was asked for. */
static int parse_options(const struct cmd_entry *c, int argc, char **argv,
			 struct cmd_args *a, bool *help, struct error *e)
{
	bool seen[128] = { false };
	char name[32];
	int ch, li = 0;

	cmd_name(c, name, sizeof(name));
	optind = 0;	/* glibc: 0 restarts getopt from scratch */
	while ((ch = getopt_long(argc, argv, ":hn", longopts, &li)) != -1) {
		if (ch == 'h') {
			*help = true;
			return KH_OK;
		}
		if (ch == ':' || ch == '?')
			return error_set(e, KH_EUSAGE, "%s: %s '%.40s'", name,
					 ch == ':' ? "missing value for" :
					 "unknown option", argv[optind - 1]);
		if (strchr(c->options, ch) == NULL)
			return error_set(e, KH_EUSAGE, "%s does not take '--%s'",
					 name, ch == 'n' ? "dry-run" :
					 longopts[li].name);
		/* the second of two would win silently */
		if (seen[ch & 127])
			return error_set(e, KH_EUSAGE, "%s: '--%s' given twice",
					 name, ch == 'n' ? "dry-run" :
					 longopts[li].name);
		seen[ch & 127] = true;
		if (ch == 'n')
			a->dry_run = true;
		else if (ch == 'w') {
			static const char *const waits[] = { "plugged", "ready", NULL };

			if (parse_choice("--wait", optarg, waits, e) != KH_OK)
				return e->code;
			a->wait_ready = strcmp(optarg, "ready") == 0;
		} else if ((c->option != NULL ? c->option(ch, optarg, a, e) :
		     parse_device_option(ch, optarg, &a->r, e)) != KH_OK)
			return e->code;
	}
	for (; optind < argc && c->argument != NULL; optind++)
		if (c->argument(argv[optind], a, e) != KH_OK)
			return e->code;
	if (optind < argc)
		return error_set(e, KH_EUSAGE, "%s: unexpected argument '%.40s'",
				 name, argv[optind]);
	return KH_OK;
}

/* A dry run's plan and file: printed, or (sync) its result. */
static void show_dry_run(struct options *o, const struct runtime *rt,
			 struct error *e)
{
	json_t *res = dry_run_result(o, rt, e);

	if (res != NULL && o->results != NULL)
		json_array_append_new(o->results, res);
	else if (res != NULL)
		print_dry_run(o, res);
}

int cmd_execute(const struct cmd_entry *c, struct options *o,
		struct cmd_args *a, struct error *e)
{
	unsigned needs = c->needs;
	struct session s;
	json_t *outer;

	if ((c->check != NULL && c->check(a, &needs, e) != KH_OK) ||
	    ((needs & CMD_RUNTIME) && o->runtime == NULL &&
	     error_set(e, KH_EUSAGE, "--runtime FILE is required")) ||
	    ((needs & CMD_MONITOR) && need_paths(o, e) != KH_OK) ||
	    (c->ready != NULL && c->ready(a, e) != KH_OK))
		return e->code;
	session_init(&s, o);
	/* a dry run gathers its own plan, also inside a dry sync */
	o->dry_run |= a->dry_run;
	o->wait_ready |= a->wait_ready;
	outer = o->plan;
	if (o->dry_run && (o->plan = json_array()) == NULL) {
		o->plan = outer;
		return error_nomem(e);
	}
	if ((!(needs & (CMD_READ | CMD_CHANGE | CMD_CREATE)) ||
	     session_open(&s, needs & CMD_CREATE ? FILE_CREATE :
			  needs & CMD_CHANGE ? FILE_CHANGE : FILE_READ, e) == KH_OK) &&
	    (!(needs & CMD_SETTLE) || settle_intent(&s, e) == KH_OK) &&
	    c->exec(&s, a, e) == KH_OK && o->dry_run &&
	    (needs & (CMD_CHANGE | CMD_CREATE)))
		show_dry_run(o, &s.rt, e);
	session_close(&s);
	if (o->dry_run) {
		json_decref(o->plan);
		o->plan = outer;
	}
	return e->code;
}

int cmd_elsewhere(struct options *o, json_t *obj)
{
	if (o->json) {
		print_json(obj);
		o->reported = true;
		return KH_OK;
	}
	json_decref(obj);
	if (!o->quiet)
		printf("%s does not run on this node: nothing to do\n",
		       o->instance);
	return KH_OK;
}

/* -n before the command is the command's own --dry-run: where it takes
 * one, and once. */
static int dry_run_first(const struct cmd_entry *c, const struct options *o,
			 struct cmd_args *a, struct error *e)
{
	char name[32];

	if (!o->dry_run_first)
		return KH_OK;
	cmd_name(c, name, sizeof(name));
	if (strchr(c->options, 'n') == NULL)
		return error_set(e, KH_EUSAGE, "%s does not take '--dry-run'", name);
	if (a->dry_run)
		return error_set(e, KH_EUSAGE, "%s: '--dry-run' given twice "
				 "(before and after the command)", name);
	a->dry_run = true;
	return KH_OK;
}

int cmd_run(struct options *o, int argc, char **argv, struct error *e)
{
	const struct cmd_entry *c = NULL;
	struct cmd_args a = { .r.slot = -1 };
	bool help = false;
	int words;

	if (find_command(argc, argv, &c, e) != KH_OK)
		return e->code;
	if (c == NULL) {
		print_usage(argv[0], stdout);
		return KH_OK;
	}
	words = c->verb != NULL ? 2 : 1;
	a.r.kind = c->kind;
	a.r.op = c->op;
	/* an operator's own add: sync --prune leaves it to the operator */
	if (c->op == OP_ADD)
		a.r.added_by = "hand";
	if (parse_options(c, argc - words + 1, argv + words - 1, &a, &help, e)
	    != KH_OK || dry_run_first(c, o, &a, e) != KH_OK)
		return e->code;
	if (help) {
		print_usage(c->object, stdout);
		return KH_OK;
	}
	if ((c->needs & (CMD_READ | CMD_CHANGE | CMD_CREATE)) &&
	    getenv("GANETI_HOOKS_PHASE") != NULL && session_runs_elsewhere(o))
		return cmd_elsewhere(o, json_pack("{s:s, s:b}", "instance",
						  o->instance, "runs_here", false));
	return cmd_execute(c, o, &a, e);
}
