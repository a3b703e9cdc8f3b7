/* Ganeti's instance runtime file (.../kvm-hypervisor/conf/NAME.runtime):
 * one line of JSON, [kvm_cmd, nics, hvparams, disks], read into the same
 * struct runtime as the native file and written back in its own format.
 * Used by runtime.c only. */
#ifndef KH_GANETI_H
#define KH_GANETI_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime.h"

/* A Ganeti file starts with '[' (after white space); a native one never. */
bool ganeti_is_json(const char *buf, size_t len);

/* Fills rt (empty) from a Ganeti file; KH_EUSAGE "NAME: ..." if it is not
 * one. Entries without a uuid or a PCI placement are kept but not managed. */
int ganeti_parse(struct runtime *rt, const char *name, const char *buf,
		 size_t len, struct error *e);

/* rt as one line of JSON: what the file had, with managed entries updated,
 * removed ones dropped and new ones appended. Always four entries. */
int ganeti_format(const struct runtime *rt, char **out, size_t *len,
		  struct error *e);

/* What hvparams give every device of d's kind, which is all this file can
 * record: a disk's cache and discard (disk_cache, disk_discard), a NIC's
 * queues and vhost (virtio_net_queues, vhost_net). */
void ganeti_device_defaults(const struct runtime *rt, struct rt_device *d);

/* After the file was replaced: Ganeti's nic files (DIR/nic/NAME/SEQ)
 * name each NIC's tap at its place in the new list, and none is left for
 * a place the list no longer has. Nothing for a native file. */
int ganeti_commit_nic_files(const struct runtime *rt, struct error *e);

#endif
