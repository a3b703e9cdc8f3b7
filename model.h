/* The model at the bottom: what a runtime file records, whatever its
 * format, and every rule about names and values. A device and its
 * fields, a file's contents (the device list, reserved slots, the VM),
 * the words each parameter may take, the validators, and the naming
 * rules: QEMU device ids, tap names, driver names.
 *
 * Depends on nothing of ours but error.h, so that everything else (the
 * codecs, runtime.c, pci.c, tap.c, sync.c, hotplug.c) can use it and
 * each unit test links only what it tests. */
#ifndef KH_MODEL_H
#define KH_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "error.h"

#define RT_UUID_LEN 36
#define RT_ID_MAX 32		/* QEMU's limit on device ids */
#define RT_BUS_MAX 32		/* a bus name's bytes with the NUL */
#define PCI_SLOTS 32		/* on one PCI bus */
#define PCI_HOTPLUG_BUS "pci.0"
#define RT_RESERVED 0xfu	/* slots 0-3: reserved where a file says nothing */
#define TAP_MAX_QUEUES 16	/* a NIC's queues, each a tap fd */

/* The virtio drivers hot-plugged devices get, as QEMU names them. */
#define RT_DRIVER_DISK "virtio-blk-pci"
#define RT_DRIVER_NIC "virtio-net-pci"

/* How QEMU opens a disk's path (its "file-driver"). */
#define RT_FILE_DRIVER_FILE "file"		/* a regular file */
#define RT_FILE_DRIVER_BLOCK "host_device"	/* a block device */

enum rt_kind { RT_DISK, RT_NIC, RT_NKINDS };
enum rt_state { RT_PLUGGED, RT_UNPLUGGING };

/* The values each disk parameter may take, NULL-terminated. */
extern const char *const rt_disk_formats[];
extern const char *const rt_disk_caches[];
extern const char *const rt_disk_modes[];
extern const char *const rt_disk_discards[];
extern const char *const rt_disk_file_drivers[];
/* And of nic parameters. */
extern const char *const rt_nic_modes[];
extern const char *const rt_nic_vhosts[];
/* Who added a device, where the file says (rt_device.added_by). */
extern const char *const rt_added_bys[];
/* How disks reach QEMU (rt_file.fd_pass, --fd-pass): auto, always, never. */
extern const char *const rt_fd_passes[];
/* A NIC's option ROM (rt_device.rom): "off" for none. */
extern const char *const rt_nic_roms[];

struct rt_device {
	enum rt_kind kind;
	enum rt_state state;
	char uuid[RT_UUID_LEN + 1];
	char id[RT_ID_MAX + 1];	/* QEMU device id, also the block node name */
	char bus[RT_BUS_MAX];	/* "pci.0", or a bridge's or port's id */
	int slot;
	char driver[32];	/* "virtio-blk-pci" */
	char *name;		/* optional user-given name, NULL if none */
	/* disk parameters */
	char *path;
	char format[8];		/* raw | qcow2 */
	char cache[16];		/* default | none | writeback | writethrough | unsafe */
	char mode[3];		/* rw | ro */
	char discard[8];	/* ignore | unmap */
	char file_driver[12];	/* file | host_device: how QEMU opened path;
				   "" when not recorded */
	/* nic parameters: all it takes to make the same NIC elsewhere */
	char mac[18];		/* 52:54:00:12:34:56 */
	char nic_mode[16];	/* bridged | routed | openvswitch ("mode") */
	char *link;		/* the bridge (bridged) or other link, or NULL */
	char tap[16];		/* the tap's name (IFNAMSIZ) */
	int queues;		/* 1 or more: multiqueue */
	char vhost[4];		/* on | off: what the NIC was given */
	char *script;		/* ifup script, NULL if none */
	char rom[4];		/* "off": no option ROM (a chrooted QEMU
				   cannot load one); "": QEMU's default */
	/* "hand": added by an operator's add, which sync --prune never
	 * removes (only what the configuration put there); "" for what a
	 * sync, Ganeti or the VM's start put there */
	char added_by[8];
	/* The entry as the file's codec read it, so that what this version
	 * does not interpret survives a rewrite in its place; its type is
	 * the codec's (codec.h), borrowed from the codec's data for the
	 * file, and stale once that data is replaced (runtime.h: generation).
	 * NULL for a device added in this run, but for the device a modify
	 * makes again: it takes the old one's entry. */
	const void *source;
	/* A format's own keys that a new entry starts from (a Ganeti disk's
	 * dev_type, size, ...: what sync was told), or NULL; a reference of
	 * its own. Only the codec reads it. */
	json_t *extra;
};

/* --- a device's fields, one table for every format --- */

/* In the order a native file writes them; kind first, since which
 * fields a device has depends on it. */
enum rt_field_id {
	RT_FIELD_KIND, RT_FIELD_UUID, RT_FIELD_ID, RT_FIELD_BUS,
	RT_FIELD_SLOT, RT_FIELD_DRIVER, RT_FIELD_NAME, RT_FIELD_STATE,
	RT_FIELD_PATH, RT_FIELD_FORMAT, RT_FIELD_CACHE, RT_FIELD_MODE,
	RT_FIELD_DISCARD, RT_FIELD_FILE_DRIVER, RT_FIELD_MAC,
	RT_FIELD_NIC_MODE, RT_FIELD_LINK, RT_FIELD_TAP, RT_FIELD_QUEUES,
	RT_FIELD_VHOST, RT_FIELD_SCRIPT, RT_FIELD_ROM, RT_FIELD_ADDED_BY,
	RT_NFIELDS
};
#define RT_FIELD_BIT(id)	(UINT32_C(1) << (id))

/* How a field is stored in struct rt_device. */
enum rt_field_type {
	RT_T_KIND,		/* enum rt_kind, the index in words */
	RT_T_STATE,		/* enum rt_state, the index in words */
	RT_T_INT,		/* an int at off, from min to max */
	RT_T_CHARS,		/* a char array at off ("" when unset) */
	RT_T_STRING,		/* a malloc'd string at off (NULL when unset) */
};

#define RT_FOR_DISK	0x1	/* only a disk has it */
#define RT_FOR_NIC	0x2	/* only a NIC has it */
#define RT_LOWER	0x4	/* stored in lower case */

struct rt_field {
	const char *name;	/* a native file's key, and in messages */
	enum rt_field_type type;
	int flags;
	size_t off, size;
	bool (*valid)(const char *);	/* NULL: any string */
	const char *rule;		/* what valid wants, for messages, or NULL */
	const char *const *words;	/* the values allowed, or NULL */
	int min, max;			/* RT_T_INT's range */
};

extern const struct rt_field rt_fields[RT_NFIELDS];

/* Whether a device of kind has field f. */
bool rt_field_applies(const struct rt_field *f, enum rt_kind kind);

/* The text of field f of d (a number into num, size bytes), NULL where
 * d has none: an unset optional field, or the state "plugged", which
 * is the default. */
const char *rt_field_text(const struct rt_device *d, const struct rt_field *f,
			  char *num, size_t size);

/* Whether a and b say the same in f. */
bool rt_field_same(const struct rt_device *a, const struct rt_device *b,
		   const struct rt_field *f);

/* Whether a and b are the same device in every field of theirs. */
bool rt_device_same(const struct rt_device *a, const struct rt_device *b);

/* --- a device --- */

const char *rt_kind_name(enum rt_kind k);

/* Copies in to out (size bytes with the NUL) in lower case: uuids and
 * MACs are kept and compared that way, whatever spelling came in. */
void rt_copy_lower(char *out, size_t size, const char *in);

/* A copy of src that owns its own strings (source, which the file's
 * codec data owns, is kept; extra is shared); release it with
 * rt_device_release. */
int rt_device_copy(struct rt_device *dst, const struct rt_device *src,
		   struct error *e);

/* Frees the strings d owns. */
void rt_device_release(struct rt_device *d);

/* c, a copy of a device of another file, is to stand in this file for
 * its entry t (NULL where this file has none): c takes t's entry
 * (source). Without a t, an entry c had from the other file as
 * it was read (was_there) is dropped, since it is that file's and not
 * this one's; a device added in this run keeps its own. */
void rt_device_take_entry(struct rt_device *c, const struct rt_device *t,
			  bool was_there);

/* --- a file's contents --- */

/* A bus a file allows the tool to use, and the slots on it that are not
 * the tool's to use. */
struct rt_bus {
	char name[RT_BUS_MAX];
	uint32_t reserved;	/* bit n set: slot n */
};

/* What a runtime file records, whatever its format. The members are a
 * macro so that struct runtime (runtime.h) has them by name too, in a
 * union with a struct rt_file: the idiom of Linux's struct_group(). */
#define RT_FILE_MEMBERS							\
	uint32_t reserved;	/* bit n set: slot n on pci.0 is not	\
				   ours to use */			\
	struct rt_device *dev;	/* in the file's order */		\
	size_t ndev, capdev;						\
	/* The VM the file belongs to, as QEMU names it (query-name,	\
	 * query-uuid): NULL / "" where the file records none. */	\
	char *vm_name;							\
	char vm_uuid[RT_UUID_LEN + 1];					\
	/* The buses new devices may go on, in the order they are	\
	 * filled, each with its reserved slots (pci.0's are reserved	\
	 * above); none: every bus of the VM that takes hotplug. */	\
	struct rt_bus *buses;						\
	size_t nbuses;							\
	/* How disks reach QEMU: "always" as fds, "never" (by path),	\
	 * or "" (auto: as QEMU's user and root allow); whether the file	\
	 * says QEMU runs chrooted (Ganeti's use_chroot) */		\
	char fd_pass[8];						\
	bool chrooted;

struct rt_file {
	RT_FILE_MEMBERS
};

/* Empty: no devices, no VM, the default reserved slots (RT_RESERVED). */
void rt_file_init(struct rt_file *f);

/* Frees what f holds and makes it empty again. */
void rt_file_clear(struct rt_file *f);

/* Appends a zeroed device (slot = -1) and returns it, NULL on ENOMEM. */
struct rt_device *rt_file_add_device(struct rt_file *f, struct error *e);

/* Drops the device at index i, freeing what it owns. */
void rt_file_remove_device(struct rt_file *f, size_t i);

/* The device with uuid (in any case) or with QEMU id, NULL if none. */
struct rt_device *rt_file_find_uuid(struct rt_file *f, const char *uuid);
struct rt_device *rt_file_find_id(struct rt_file *f, const char *id);

/* Appends bus name with its reserved slots to the buses f allows. */
int rt_file_add_bus(struct rt_file *f, const char *name, uint32_t reserved,
		    struct error *e);

/* The slots on bus that f reserves: pci.0's reserved, or those of the
 * bus in f's list; 0 for any other. */
uint32_t rt_file_reserved(const struct rt_file *f, const char *bus);

/* Slots on bus that f accounts for: reserved ones and recorded devices.
 * Bit n set means slot n. */
uint32_t rt_file_used_slots(const struct rt_file *f, const char *bus);

/* --- validators --- */

/* Any string but "". */
bool rt_nonempty(const char *s);
/* Starts with '/': a path that means the same from any directory. */
bool rt_absolute(const char *s);

/* "003fc157-66a8-4e6d-8b7e-ec4f69751396": 8-4-4-4-12 hex digits. */
bool uuid_is_valid(const char *uuid);

/* QEMU's rule for ids: a letter first, then [A-Za-z0-9._-], 32 at most. */
bool qemu_id_is_valid(const char *id);

/* A bus as a runtime file records it: [A-Za-z0-9._-], at least one. */
bool bus_is_valid(const char *bus);

/* "52:54:00:12:34:56": six two-digit hex groups separated by ':', a
 * unicast address (lowest bit of the first octet clear), not all zero. */
bool mac_is_valid(const char *mac);

/* Linux interface names: 1 to IFNAMSIZ-1 printable ASCII bytes, no '/',
 * ':', space, or '%' (which the kernel would take as a pattern). */
bool tap_name_is_valid(const char *name);

/* The index of s in words (NULL-terminated), -1 if it is none of them. */
int rt_word_index(const char *const *words, const char *s);

/* --- naming rules --- */

/* How a file names its devices in QEMU. */
enum rt_id_scheme {
	RT_ID_SLOT,	/* hot<kind>-<uuid group 1>-pci-<slot> */
	RT_ID_UUID,	/* <kind>-<uuid groups 1-3>: newer Ganeti files */
};

/* The QEMU id of a device of kind with uuid at slot on bus, by scheme.
 * An invalid uuid is KH_EUSAGE, and so is an id that would not fit. */
int rt_device_id(enum rt_id_scheme scheme, enum rt_kind kind,
		 const char *uuid, const char *bus, int slot, char *out,
		 size_t size, struct error *e);

/* A 32-bit hash of a bus's name (FNV-1a): what stands for a bus where
 * its name does not fit (pci_device_id) or a number must (an fd set). */
uint32_t rt_bus_hash(const char *bus);

/* RT_ID_SLOT's id, kind spelled out: "hot<kind>-<first uuid
 * group>-<bus>-<slot>". The bus is "pci" for pci.0 (the seed's ids:
 * hotdisk-003fc157-pci-5); any other bus its name where the id fits in
 * 32 characters and the name is not one the rule itself makes ("pci",
 * "b" and 8 hex digits), else "b" and 8 hex digits of a hash of the name
 * (hotnic-003fc157-b1f2e3d4c-0): unique on a VM, since no two devices
 * share a bus and slot, and made again from what the file records. */
int pci_device_id(char *out, size_t size, const char *kind, const char *uuid,
		  const char *bus, int slot, struct error *e);

/* Whether name is one the kernel hands out to whoever asks for none,
 * "tap" and digits: on another host it may be any VM's tap. */
bool tap_name_is_kernels(const char *name);

/* The name a NIC's tap is made under where none is given: "kh" and 13
 * hex digits of a hash of its whole uuid (uuids made in sequence share
 * most digits), made for this NIC on any host: a migration target must
 * never open another VM's tap by name. */
void tap_name_for_uuid(const char *uuid, char *out, size_t size);

/* The virtio driver a hot-plugged device of kind gets (RT_DRIVER_*). */
const char *rt_driver_name(enum rt_kind kind);

/* How QEMU opens a path of this file type (st_mode): RT_FILE_DRIVER_FILE
 * for a regular file, RT_FILE_DRIVER_BLOCK for a block device, NULL for
 * anything else. */
const char *rt_file_driver(mode_t mode);

#endif
