/* The instance runtime file: what was hot-plugged where, so that a VM
 * booted from it (a migration target) gets the same PCI layout. This is
 * the file's life (lock, load, prepare and read back, commit, the merge
 * with another writer, the intent record); what its text says is a
 * codec's (codec.h): the native kvm-hotplug-runtime(5) or Ganeti's. */
#ifndef KH_RUNTIME_H
#define KH_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

/* the formats: enum rt_format */
#include "codec.h"
#include "error.h"
/* the device, its lists and rules: enum rt_kind, struct rt_device, ... */
#include "model.h"

struct runtime {
	char *path;
	/* where the tool's own files about it are, set by the lock:
	 * ASIDE.lock, ASIDE.intent (runtime_aside_path) */
	char *aside;
	char *tmp_path;		/* written by runtime_prepare, not yet renamed */
	int lock_fd;		/* -1 when not locked */
	bool exists;		/* the file existed when loaded */
	/* What the file records (model.h): reserved, dev, ndev, capdev,
	 * vm_name, vm_uuid by name, and all of them as rt->file. One
	 * storage: a union, as Linux's struct_group() makes. A native file
	 * keeps the VM as vm-name and vm-uuid; a Ganeti file's kvm_cmd has
	 * -name and -uuid. */
	union {
		struct rt_file file;
		struct {
			RT_FILE_MEMBERS
		};
	};
	enum rt_format format;	/* which codec reads and writes the file */
	void *codec_data;	/* that codec's own of the file as loaded (its
				   entries as read), or NULL */
	/* Counts the times codec_data was let go (a load, a merge with
	 * another writer's file): a device's source kept from before
	 * another count points into freed data. */
	unsigned generation;
	/* The file as this run last read or wrote it, so that a commit
	 * notices another writer (Ganeti does not take our lock): its
	 * identity, and copies of its devices. */
	struct rt_file_id {
		bool exists;
		dev_t dev;
		ino_t ino;
		off_t size;
		struct timespec mtime;
	} seen;
	struct rt_file base;	/* its devices only */
};

/* Zeroes rt: no devices, default reserved slots 0-3, lock_fd = -1. */
void runtime_init(struct runtime *rt);

/* Frees everything, removes an uncommitted temporary file and releases
 * the lock. Safe to call on an initialised or partly loaded runtime. */
void runtime_close(struct runtime *rt);

/* Where the tool's own files about the runtime file at path are, as a
 * prefix for their suffixes (.lock, .intent), into a malloc'd *out: PATH
 * itself, beside a file of ours (native, or none yet); for a file another
 * program owns (Ganeti's), its codec's aside_dir/NAME.DEV-INO, DEV and INO
 * (decimal) those of the file's directory, so that every path to the file
 * (/var/run or /run) names the same files. That directory is made (0700)
 * if missing. KH_EFAIL when the file's directory cannot be looked at or
 * that directory made. */
int runtime_aside_path(const char *path, char **out, struct error *e);

/* rt->aside: the prefix runtime_aside_path gave the lock; NULL unlocked. */
const char *runtime_aside(const struct runtime *rt);

/* Takes an exclusive flock on ASIDE.lock (runtime_aside_path; made 0600
 * if missing), waiting at most timeout_ms: KH_ETIMEOUT when another
 * process holds it. */
int runtime_lock(struct runtime *rt, const char *path, int timeout_ms,
		 struct error *e);

/* The same for a run that only reads: a shared lock, which readers
 * hold together. Where the lock file cannot be created (a read-only
 * filesystem) an existing one is used, else none. */
int runtime_lock_shared(struct runtime *rt, const char *path, int timeout_ms,
			struct error *e);

/* Releases the lock taken by runtime_lock; what was loaded stays. */
void runtime_unlock(struct runtime *rt);

/* Reads rt->path. A missing file is an error unless create is set, in
 * which case rt stays empty and rt->exists is false. A malformed file
 * gives KH_EUSAGE with "PATH: line N: problem". */
int runtime_load(struct runtime *rt, bool create, struct error *e);

/* What rt would hold if the file other were renamed over rt->path (a
 * dry run of settling an interrupted add: its prepared file). */
int runtime_load_instead(struct runtime *rt, const char *other,
			 struct error *e);

/* Parses a runtime document from memory; name is used in messages. */
int runtime_parse(struct runtime *rt, const char *name, const char *buf,
		  size_t len, struct error *e);

/* Serialises rt into a malloc'd buffer (*out, *len). */
int runtime_format(const struct runtime *rt, char **out, size_t *len,
		   struct error *e);

/* Writes the new contents to a temporary file beside rt->path (same
 * mode and owner as the old file, 0600 for a new one) and fsyncs it.
 * Nothing visible changes until runtime_commit. */
int runtime_prepare(struct runtime *rt, struct error *e);

/* Renames the prepared file over rt->path and fsyncs the directory.
 * If another writer replaced or changed the file since this run read or
 * wrote it, that file is read again and this run's changes (devices
 * added, removed or changed since) are applied to it first, so that
 * neither change is lost; an intent record then names the new prepared
 * file. A device both changed is taken as this run has it: this run
 * knows what QEMU has. rt->dev may be another array afterwards: look
 * devices up again (runtime_find_uuid) rather than keep pointers. */
int runtime_commit(struct runtime *rt, struct error *e);

/* After a commit: what a format keeps beside the file (a Ganeti file's
 * nic files, naming each NIC's tap) made to match it. */
int runtime_commit_side_files(const struct runtime *rt, struct error *e);

/* Removes the prepared temporary file, if any. */
void runtime_discard(struct runtime *rt);

/* Leaves the prepared file on disk for a later run (the intent record
 * names it) and forgets it. */
void runtime_keep_prepared(struct runtime *rt);

struct rt_device *runtime_find_uuid(struct runtime *rt, const char *uuid);
struct rt_device *runtime_find_id(struct runtime *rt, const char *id);

/* Appends a zeroed device (slot = -1) and returns it, NULL on ENOMEM. */
struct rt_device *runtime_add_device(struct runtime *rt, struct error *e);

/* Drops the device at index i, freeing what it owns. */
void runtime_remove_device(struct runtime *rt, size_t i);

/* The QEMU id a new device gets in this file at slot on bus:
 * hot<kind>-<uuid group 1>-<bus>-<slot> (pci_device_id), or
 * <kind>-<uuid groups 1-3> in a newer Ganeti file. */
int runtime_device_id(const struct runtime *rt, enum rt_kind kind,
		      const char *uuid, const char *bus, int slot, char *out,
		      size_t size, struct error *e);

/* The intent record, ASIDE.intent (rt locked): what a run is about to do to the VM,
 * written durably before the first command that changes it and cleared
 * once the runtime file tells the outcome. A later run that finds one
 * settles it first (see kvm-hotplug(8), check --repair). */
int runtime_intent_write(struct runtime *rt, json_t *intent, struct error *e);
int runtime_intent_read(struct runtime *rt, json_t **intent, struct error *e);
void runtime_intent_clear(struct runtime *rt);

/* Whether the file can record a pending removal (state: unplugging); a
 * Ganeti file cannot, and the intent record stands for it there. */
bool runtime_records_unplugging(const struct runtime *rt);

/* Whether the tool records the VM the file belongs to (vm-name, vm-uuid);
 * a Ganeti file names it in its own kvm_cmd. */
bool runtime_records_vm(const struct runtime *rt);

/* Whether the file has an entry of uuid that it does not give the model
 * (codec.h: has_other_entry), which the tool leaves alone. */
bool runtime_has_other_entry(const struct runtime *rt, const char *uuid);

/* Whether the file names its VM (a name or a uuid), which the monitor
 * was checked against (session_connect; a native file naming none was
 * bound to the monitor's VM then, if that has a name or uuid). */
bool runtime_names_vm(const struct runtime *rt);

/* Whether the file's disks are drives made as Ganeti makes them (add-fd,
 * HMP drive_add; removed with drive_del), else blockdev-add nodes. */
bool runtime_disks_as_drives(const struct runtime *rt);

/* Who reserved the file's reserved slots, for messages. */
const char *runtime_reserved_by(const struct runtime *rt);

/* Slots on bus that the file accounts for: reserved ones and recorded
 * devices. Bit n set means slot n. */
uint32_t runtime_used_slots(const struct runtime *rt, const char *bus);

/* The slots on bus the file reserves (none on a bus it does not name). */
uint32_t runtime_reserved(const struct runtime *rt, const char *bus);

/* The one bus a file's format lets the tool use, with why (for the
 * refusal), or NULL where any is fine (codec.h: only_bus). */
const char *runtime_only_bus(const struct runtime *rt, const char **why);

/* What a new device of d's kind (its uuid set) gets in this file where
 * its add says nothing: a disk's cache and discard, a NIC's queues, vhost
 * ("" leaves it to the host) and tap name. A Ganeti file's are its
 * hvparams', and its taps the kernel's names, as Ganeti's own are. */
void runtime_device_defaults(const struct runtime *rt, struct rt_device *d);

#endif
