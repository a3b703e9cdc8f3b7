/* The formats of a runtime file, behind one interface. A codec turns a
 * file's text into the model's contents (struct rt_file) and back, and
 * keeps for itself what the model does not hold (the entries as read,
 * with the keys nothing here interprets) as its data for the file.
 * runtime.c keeps the file's life (lock, load, write, read-back, merge,
 * intent records) and calls a codec without knowing any format; nothing
 * but the codec looks into its data.
 *
 * The codecs: native.h (kvm-hotplug-runtime(5), YAML), ganeti.h
 * (Ganeti's JSON); formats.h knows them all. The interface is this
 * header alone, so that the codecs below it and the registry above them
 * depend one way. */
#ifndef KH_CODEC_H
#define KH_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"

/* The native YAML file, or Ganeti's [kvm_cmd, nics, hvparams, disks]. */
enum rt_format { RT_NATIVE, RT_GANETI };

struct rt_codec {
	enum rt_format format;
	/* in messages: "this <what> file cannot record ..." */
	const char *what;
	/* whether the file can record a pending removal (state:
	 * unplugging); where it cannot, the intent record stands for it */
	bool records_unplugging;
	/* whether the tool records the VM's name and uuid in the file (a
	 * file that names none is bound by its next write); where it does
	 * not, the file names its VM its own way (Ganeti's kvm_cmd) */
	bool records_vm;
	/* whether disks are drives made as Ganeti makes them (add-fd, HMP
	 * drive_add), because Ganeti removes them its own way (drive_del);
	 * else blockdev-add nodes */
	bool disks_as_drives;
	/* Where the tool's own files about a file in this format are (its
	 * lock, the intent record, a failed hook's environment): NULL
	 * beside it (PATH.lock, ...: a file of ours in a directory of
	 * ours); else in this directory, for a file another program owns,
	 * whose directory would keep them for good (Ganeti's conf/ keeps
	 * whatever is put there through stop, rename, remove and cluster
	 * destroy): see runtime_aside_path. */
	const char *aside_dir;
	/* who reserved the reserved slots, for messages */
	const char *reserved_by;
	/* The one bus new devices may go on in a file of this format, and
	 * why, for the refusal (exit 3); NULL where the file's own list of
	 * buses, or every bus that takes hotplug, decides. */
	const char *only_bus, *only_bus_why;
	/* the fields (RT_FIELD_BIT) the file's text does not hold, which
	 * its read-back therefore does not compare */
	uint32_t unrecorded;

	/* Whether buf is in this format (formats.c asks in its order); NULL
	 * for the one asked last, which takes what the others leave. */
	bool (*recognise)(const char *buf, size_t len);

	/* Fills f (empty) from buf. *data is the codec's, set as soon as
	 * there is any, and freed with free_data, after a failure too (f
	 * then holds what was read so far, for the caller to clear). path
	 * is the file's, for what the format keeps beside it (NULL: none,
	 * as for a text that is not read from a file); name is for
	 * messages. A malformed file: KH_EUSAGE "NAME: ...". */
	int (*parse)(struct rt_file *f, void **data, const char *path,
		     const char *name, const char *buf, size_t len,
		     struct error *e);

	/* f as this format's text, into a malloc'd NUL-terminated *out:
	 * data's entries (NULL: none, a new file) where f's devices have
	 * them, with f's values. path is for messages (NULL: none). */
	int (*serialise)(const struct rt_file *f, const void *data,
			 const char *path, char **out, size_t *len,
			 struct error *e);

	/* Frees data; NULL is nothing. */
	void (*free_data)(void *data);

	/* What a new device of d's kind (its uuid set) gets in this file
	 * where its add says nothing: a disk's cache and discard, a NIC's
	 * queues, vhost ("" leaves it to the host) and tap name. data as
	 * for serialise. */
	void (*device_defaults)(const void *data, struct rt_device *d);

	/* How the file names a new device in QEMU. data as for serialise. */
	enum rt_id_scheme (*id_scheme)(const void *data);

	/* Whether the file as read (data) has an entry of uuid that the
	 * model does not hold (a Ganeti disk on a SCSI bus, which is left
	 * alone); NULL where every entry is the model's. */
	bool (*has_other_entry)(const void *data, const char *uuid);

	/* After the file at path was replaced with f: what the format
	 * keeps beside it, made to match. NULL for a format with nothing
	 * beside its file. */
	int (*commit_side_files)(const struct rt_file *f, const void *data,
				 const char *path, struct error *e);
};

#endif
