/* The command table, in the manner of tmux's cmd.c: each command (one
 * file each, cmd-*.c) is a struct cmd_entry naming it, its options, its
 * usage, what it needs opened before it runs, and what it does. One
 * runner parses a command's options, opens its session and runs it. */
#ifndef KH_CMD_H
#define KH_CMD_H

#include <stdbool.h>
#include <stdio.h>

#include "error.h"
#include "options.h"
#include "request.h"
#include "session.h"

/* A command's arguments, as its options set them. */
struct cmd_args {
	struct request r;	/* disk and nic */
	bool repair;		/* check --repair */
	bool prune;		/* sync --prune */
	bool again;		/* sync --again */
	const char *from;	/* sync --from FILE */
	const char *format;	/* cmdline --format */
	bool dry_run;		/* --dry-run, any changing command */
	bool wait_ready;	/* --wait ready: adds, modify, sync */
	unsigned kinds;		/* supported: bit per enum rt_kind; 0: all */
};

/* What a command needs before it runs. */
#define CMD_RUNTIME	0x01	/* -r (or --instance) */
#define CMD_MONITOR	0x02	/* -m (or --instance) */
#define CMD_READ	0x04	/* the runtime file read (a shared lock) */
#define CMD_CHANGE	0x08	/* ... locked to be changed */
#define CMD_CREATE	0x10	/* ... locked, and made if missing */
#define CMD_SETTLE	0x20	/* an interrupted run's intent record settled */

struct cmd_entry {
	const char *object;	/* "disk", "list" */
	const char *verb;	/* "add"; NULL for a one-word command */
	/* the long options it takes, by their letters in cmd.c's table */
	const char *options;
	const char *usage;	/* what follows "kvm-hotplug [options] " */
	const char *summary;	/* one line for --help, or NULL */
	unsigned needs;		/* CMD_* */
	enum rt_kind kind;	/* a device command's kind */
	int op;			/* a device command's OP_* */
	/* One option (its letter) into a; NULL: the options are device
	 * options (parse_device_option). */
	int (*option)(int c, const char *arg, struct cmd_args *a,
		      struct error *e);
	/* Each word after the options; NULL: none is taken. */
	int (*argument)(const char *arg, struct cmd_args *a, struct error *e);
	/* The arguments as a whole, before the global paths are looked at;
	 * may change *needs (check --repair changes the file). NULL: any. */
	int (*check)(struct cmd_args *a, unsigned *needs, struct error *e);
	/* What the host can tell of them before any session (an add's path
	 * and link), or NULL. */
	int (*ready)(struct cmd_args *a, struct error *e);
	int (*exec)(struct session *s, struct cmd_args *a, struct error *e);
};

extern const struct cmd_entry cmd_disk_add_entry, cmd_disk_remove_entry,
	cmd_nic_add_entry, cmd_nic_remove_entry, cmd_nic_modify_entry,
	cmd_list_entry, cmd_check_entry, cmd_cmdline_entry, cmd_sync_entry,
	cmd_supported_entry;

/* Finds the command argv names (argv[0] the object, argv[1] its verb if
 * it has verbs), parses its options, checks them and the global paths it
 * needs, opens its session, runs it and closes it; or prints its usage
 * for --help. */
int cmd_run(struct options *o, int argc, char **argv, struct error *e);

/* Runs command c with arguments a already parsed: what sync does for each
 * change, as a command line would. */
int cmd_execute(const struct cmd_entry *c, struct options *o,
		struct cmd_args *a, struct error *e);

/* The command that makes a device change of kind and op (OP_*). */
const struct cmd_entry *cmd_for_device(enum rt_kind kind, int op);

/* A Ganeti instance that does not run on this node (session_runs_elsewhere):
 * Ganeti runs a hook on several nodes (the master, the instance's nodes,
 * a migration's target) and the VM on one, and on the others there is
 * nothing to do, which is no failure. Says so (with --json, obj, taken,
 * as the command's one object) and returns KH_OK. */
int cmd_elsewhere(struct options *o, json_t *obj);

/* Prints every command's usage and summary (kvm-hotplug --help). */
void cmd_print_overview(FILE *f);

#endif
