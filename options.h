/* What the command line gives every command: where the runtime file and
 * the monitor are, how long to wait, how to print. */
#ifndef KH_OPTIONS_H
#define KH_OPTIONS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct options {
	const char *runtime;
	const char *monitor;
	const char *instance;		/* --instance: the paths come from it */
	const char *ganeti_dir;
	char runtime_path[PATH_MAX], monitor_path[PATH_MAX];
	char runtime_abs[PATH_MAX];	/* a relative runtime path made absolute */
	int timeout_ms;
	bool json, quiet, verbose;
	/* --dry-run: everything is looked at, nothing changed; what a run
	 * would send and write is gathered here (cmd.c prints it) */
	bool dry_run;
	bool dry_run_first;	/* -n given before the command */
	json_t *plan;
	/* --dry-run: slots that the plans shown so far take or free, which
	 * neither QEMU nor the file shows yet (a modify's removal before its
	 * add, sync's changes one after another), per bus */
	struct dry_slots {
		struct dry_bus {
			char bus[32];
			uint32_t taken, freed;
		} at[64];
		size_t n;
	} dry;
	/* --wait ready: an add returns once the guest uses the device */
	bool wait_ready;
	/* sync: each operation's result goes here instead of stdout */
	json_t *results;
	bool reported;		/* the outcome is printed: main adds no JSON */
};

#endif
