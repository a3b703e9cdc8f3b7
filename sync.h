/* What a VM should have, for `sync`: read from Ganeti's hook environment
 * or from a desired-state file, as devices shaped like the ones a runtime
 * file records. Knows nothing of QEMU; the reconcile is hotplug.c's. */
#ifndef KH_SYNC_H
#define KH_SYNC_H

#include <stdbool.h>

#include <jansson.h>

#include "error.h"
#include "runtime.h"

/* Fills want (initialised, empty) with the instance's NICs and disks as
 * Ganeti's hook environment gives them: the GANETI_POST_INSTANCE_* set
 * when there is one (the post phase), else GANETI_INSTANCE_*. A disk's
 * path comes from its template: file, sharedfile and blockdev from
 * DISKn_ID, plain from /dev/DISKn_VG/DISKn_ID, drbd from
 * /dev/drbd<DISKn_PMINOR>. A device that cannot be made from what the
 * environment says (rbd, ext, gluster, a NIC mode that needs Ganeti's
 * own ifup script) goes to refused as {kind, uuid, reason} instead: it
 * is still the configuration's, and sync must leave it alone.
 * KH_EUSAGE when there is no hook environment at all. */
int sync_from_hook_env(struct runtime *want, json_t *refused, struct error *e);

/* A failed hook run, kept so that the operator can repeat it once the
 * cause is fixed (sync --again): the hook's GANETI_* environment and
 * whether it pruned, written to path (0600, atomically). */
int sync_env_save(const char *path, bool prune, struct error *e);

/* That run's environment put back into this process's, and its prune.
 * KH_EUSAGE when there is none at path (the last run succeeded, or none
 * failed on this node) or it is not one. */
int sync_env_load(const char *path, bool *prune, struct error *e);

/* The same from a runtime file's device list (native YAML or Ganeti's
 * JSON); want->path is set to path. */
int sync_from_file(struct runtime *want, const char *path, struct error *e);

/* Whether the hook environment is a pre phase's, in which the
 * configuration has not changed yet: nothing to do then. */
bool sync_pre_phase(void);

#endif
