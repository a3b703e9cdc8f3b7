/* Steps 1 and 2 of every command: the runtime file locked and loaded, the
 * monitor of the file's VM connected, whether that QEMU can take a
 * change now; and the commit that ends a change. */
#ifndef KH_SESSION_H
#define KH_SESSION_H

#include <stdbool.h>

#include "error.h"
#include "monitor.h"
#include "options.h"
#include "runtime.h"

/* What a command does with the runtime file: reads it (a shared lock,
 * none needed on a read-only filesystem), changes it, or may create it. */
enum file_use { FILE_READ, FILE_CHANGE, FILE_CREATE };

/* Whether this QEMU is the VM's live copy and can carry out a change
 * (removal: and have it acknowledged), asked in one round trip. A target
 * waiting for its state (inmigrate, -incoming defer) takes adds: that is
 * how a target is built; it has no guest to acknowledge a removal. */
int check_run_state(struct monitor *m, bool removal, struct error *e);

int commit_file(struct runtime *rt, struct error *e);

/* Connects to the VM rt belongs to, and to nothing else. */
int connect_monitor(const struct options *o, struct runtime *rt,
		    struct monitor **m, struct error *e);

int load_runtime(const struct options *o, struct runtime *rt,
		 enum file_use use, struct error *e);

/* Step 5: the new file in place, then what its format keeps beside it.
 * Those side files only tell Ganeti which tap is whose; the VM and the
 * file agree already, so failing them is a warning, not a failure. */
void write_side_files(const struct runtime *rt);

/* -r and -m given (or derived from --instance): KH_EUSAGE if not. */
int need_paths(const struct options *o, struct error *e);

#endif
