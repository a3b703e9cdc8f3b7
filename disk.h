/* A disk: its checks on the host, its QMP sequence (a backend made by
 * blockdev-add, or by add-fd and HMP drive_add in a Ganeti file, then a
 * virtio-blk-pci device), and its options for cmdline. */
#ifndef KH_DISK_H
#define KH_DISK_H

#include <stdbool.h>

#include <jansson.h>

#include "error.h"
#include "monitor.h"
#include "options.h"
#include "request.h"
#include "runtime.h"

/* What a disk's device is attached to in QEMU: made before device_add,
 * released after the device is gone (or QEMU refused it). */
struct disk_backend {
	int (*make)(const struct options *o, struct monitor *m,
		    const struct rt_device *d, struct error *e);
	int (*release)(const struct options *o, struct monitor *m,
		       const char *id, struct error *e);
};

json_t *blockdev_args(const struct rt_device *d, const char *file_driver);

/* An image whose content says qcow2 attached as raw would let the guest
 * see the container and overwrite its header: only when asked for by
 * name (--format raw). */
int check_disk_content(const struct request *r, bool format_given,
		       struct error *e);

/* QEMU resolves relative paths against its own working directory, and a
 * migration target must find the same file: only absolute paths. */
int check_disk_path(struct request *r, struct error *e);

const struct disk_backend *disk_backend(const struct runtime *rt);

json_t *disk_device_args(const struct rt_device *d);

/* What a Ganeti file's entry says of a new disk beyond what every file
 * records: what sync was told, or the type given or guessed from the path
 * (a block device: plain, LVM's; else file). Ganeti reads the type when
 * it starts the VM: for shared types it forces cache=none. */
json_t *disk_gextra(const struct request *r);

int disk_plug(const struct options *o, struct monitor *m,
	      const struct runtime *rt, const struct rt_device *d,
	      struct error *e);

/* A disk's QEMU driver: as recorded, else as check_disk_path would find
 * it. The target may be another host, so a path missing here is a file
 * unless under /dev. */
const char *file_driver_of(const struct rt_device *d);

/* Whether QEMU has a disk backend named id: a node of that name
 * (blockdev-add, query-named-block-nodes) or a drive, a BlockBackend
 * with a medium (-drive or drive_add, query-block's "device"). */
bool has_backend(json_t *nodes, json_t *blocks, const char *id);

/* QEMU refuses a second writer of an image with only 'Failed to get
 * "write" lock': name the recorded disk that has it. */
void name_image_user(const struct runtime *rt, const struct rt_device *d,
		     struct error *e);

/* add-fd sets a run left behind it, found by their opaque (the id). */
void remove_fdsets(struct monitor *m, const char *id);

#endif
