/* Ganeti's instance runtime file (.../kvm-hypervisor/conf/NAME.runtime):
 * one line of JSON, [kvm_cmd, nics, hvparams, disks], read into the
 * model's contents like the native file and written back in its own
 * format, with Ganeti's nic files (DIR/nic/NAME/SEQ, a NIC's tap) made to
 * match after a commit. A codec (codec.h): it knows nothing of the
 * file's life. */
#ifndef KH_GANETI_H
#define KH_GANETI_H

#include <stdbool.h>

#include <jansson.h>

#include "codec.h"

/* The codec's data for a file it read. Entries without a uuid or a PCI
 * placement stay in root as they are, not managed; a managed device's
 * source is its entry in root (a json_t). */
struct ganeti_file {
	json_t *root;	/* the file as read */
	bool hvinfo;	/* devices placed with "hvinfo" (newer) or "pci" */
};

extern const struct rt_codec ganeti_codec;

#endif
