/* Steps 1 and 2 of every command, and the commit that ends a change: the
 * runtime file locked and loaded, the monitor of the file's VM (and of no
 * other) connected, whether that QEMU can take a change now. One struct
 * session holds what a command holds and is closed once. */
#ifndef KH_SESSION_H
#define KH_SESSION_H

#include <stdbool.h>

#include "error.h"
#include "monitor.h"
#include "options.h"
#include "proc.h"
#include "runtime.h"

/* What a command does with the runtime file: reads it (a shared lock,
 * none needed on a read-only filesystem), changes it, or may create it. */
enum file_use { FILE_READ, FILE_CHANGE, FILE_CREATE };

/* What a command is about to ask of QEMU, which its run state must allow:
 * nothing (reading), an add, a removal (which the guest acknowledges). */
enum change { CHANGE_NONE, CHANGE_ADD, CHANGE_REMOVE };

struct session {
	struct options *o;
	struct runtime rt;
	struct monitor *m;		/* NULL until connected */
	/* the QEMU process behind m: see session_qemu */
	char qemu[128];
	/* QEMU's run state, asked for a change, is prelaunch: no guest has
	 * run since QEMU started or was last reset */
	bool prelaunch;
	/* a pending removal that settling the intent record finished, kept
	 * so that a removal of the same device can say it is done (kind
	 * and uuid set, else zero) */
	struct rt_device settled;
};

/* An empty session for options o: nothing opened yet. */
void session_init(struct session *s, struct options *o);

/* Whether o names a Ganeti instance (--instance) that does not run on
 * this node: it has no runtime file here. */
bool session_runs_elsewhere(const struct options *o);

/* Step 1: the runtime file, locked and loaded for use. A Ganeti instance
 * (--instance) without its runtime file does not run here: KH_EUSAGE,
 * and no file or lock file is made for it. */
int session_open(struct session *s, enum file_use use, struct error *e);

/* Step 2: the monitor, unless connected already: it must be the monitor
 * of the VM the file belongs to (query-name, query-uuid; KH_EUSAGE if
 * not) and QEMU new enough for hotplug (KH_ENOHOTPLUG). Then, for a
 * change, whether this QEMU is the VM's live copy and can carry it out
 * (KH_EFAIL naming its run state, or a migration under way). */
int session_connect(struct session *s, enum change change, struct error *e);

/* The QEMU process behind s's monitor (connected), which an intent
 * record names: proc_identity of its peer, "" where it cannot be told. */
const char *session_qemu(struct session *s);

/* What the QEMU process behind the monitor may open (proc.h): false
 * where it cannot be looked at (another pid namespace's). */
bool session_qemu_creds(const struct session *s, struct proc_creds *c);

/* Whether QEMU runs chrooted: its root is not ours, or the file says so
 * (Ganeti's use_chroot), which is all there is to go by where /proc
 * cannot tell. */
bool session_qemu_chrooted(const struct session *s);

/* Step 5: the prepared runtime file in place (runtime_commit), then what
 * its format keeps beside it, whose failure is only a warning. */
int session_commit(struct session *s, struct error *e);

/* rt as it is now written out: runtime_prepare and session_commit; with
 * --dry-run nothing (cmd.c shows the file as it would be written). */
int session_save(struct session *s, struct error *e);

/* The side files alone (a settled add's tap, named in a Ganeti nic file):
 * a warning on failure, the VM and the file agree already. */
void write_side_files(const struct runtime *rt);

/* Closes the monitor and the runtime file (lock and prepared file). */
void session_close(struct session *s);

/* -r and -m given (or derived from --instance): KH_EUSAGE if not. */
int need_paths(const struct options *o, struct error *e);

#endif
