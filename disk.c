/* A disk: its checks on the host, its QMP steps (a backend made by
 * blockdev-add, or by add-fd and HMP drive_add in a Ganeti file, then a
 * virtio-blk-pci device), its release and its options for cmdline, as
 * the operations disk_ops (kind.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "kind.h"
#include "log.h"
#include "proc.h"
#include "qdev.h"

/* How QEMU names a file handed over in fd set N: FDSET_PATH "N". */
#define FDSET_PATH	"/dev/fdset/"

/* QEMU resolves relative paths against its own working directory, and a
 * migration target must find the same file: only absolute paths. */
static int check_disk_path(struct request *r, struct error *e)
{
	struct stat st;

	if (r->path[0] != '/')
		return error_set(e, KH_EUSAGE, "--path: '%.200s' is not absolute",
				 r->path);
	if (strlen(r->path) >= PATH_MAX)
		return error_set(e, KH_EUSAGE, "--path: too long");
	if (stat(r->path, &st) == -1)
		return error_set(e, KH_EUSAGE, "--path: %.200s: %s", r->path,
				 strerror(errno));
	if ((r->file_driver = rt_file_driver(st.st_mode)) == NULL)
		return error_set(e, KH_EUSAGE,
				 "--path: %.200s is not a regular file or block device",
				 r->path);
	return KH_OK;
}

/* An image whose content says qcow2 attached as raw would let the guest
 * see the container and overwrite its header: only when asked for by
 * name (--format raw). */
static int check_disk_content(const struct request *r, bool format_given,
			      struct error *e)
{
	unsigned char magic[4];
	ssize_t n = 0;
	int fd;

	if (format_given ||
	    (fd = open(r->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		return KH_OK;	/* what QEMU cannot open, it will say */
	n = read(fd, magic, sizeof(magic));
	close(fd);
	if (n == 4 && memcmp(magic, "QFI\xfb", 4) == 0)
		return error_set(e, KH_EUSAGE, "--path: %.200s holds a qcow2 image: "
				 "give --format qcow2, or --format raw to attach "
				 "the container itself", r->path);
	return KH_OK;
}

/* Cache modes as QEMU's -drive cache= spells them out per node. */
static json_t *disk_cache_options(const char *cache)
{
	bool direct = strcmp(cache, "none") == 0;
	bool no_flush = strcmp(cache, "unsafe") == 0;

	return json_pack("{s:b, s:b}", "direct", direct, "no-flush", no_flush);
}

/* Options shared by the format node and its file node. */
static int disk_node_options(json_t *node, const struct rt_device *d)
{
	int rc = 0;

	rc |= json_object_set_new(node, "cache", disk_cache_options(d->cache));
	rc |= json_object_set_new(node, "read-only",
				  json_boolean(strcmp(d->mode, "ro") == 0));
	rc |= json_object_set_new(node, "discard", json_string(d->discard));
	return rc;
}

/* A disk's blockdev-add arguments, its file node opening filename (its
 * path, or the fd set it is handed over in) with file_driver. */
static json_t *blockdev_args(const struct rt_device *d, const char *file_driver,
			     const char *filename)
{
	json_t *file = json_pack("{s:s, s:s}", "driver", file_driver,
				 "filename", filename);
	json_t *top = json_pack("{s:s, s:s}", "driver", d->format,
				"node-name", d->id);

	if (file == NULL || top == NULL || disk_node_options(file, d) ||
	    disk_node_options(top, d) ||
	    json_object_set_new(top, "file", json_incref(file))) {
		json_decref(file);
		json_decref(top);
		return NULL;
	}
	json_decref(file);
	return top;
}

static json_t *disk_device_args(const struct rt_device *d)
{
	json_t *args = device_args(d);

	if (args != NULL && json_object_set_new(args, "drive", json_string(d->id))) {
		json_decref(args);
		return NULL;
	}
	/* writethrough = no volatile write cache towards the guest */
	if (args != NULL && strcmp(d->cache, "writethrough") == 0)
		json_object_set_new(args, "write-cache", json_string("off"));
	return args;
}

/* blockdev-del of p's node: one already gone is fine. QEMU lets go of a
 * deleted device's node a moment after the device itself is gone, in a
 * deferred release that sends no event: "in use" then means "not yet",
 * and the step is sent again (plan.c). The usual path (right after
 * DEVICE_DELETED) succeeds at once. */
static enum step_outcome node_deleted(const struct plan *p,
				      const struct step *st, json_t *ret,
				      struct error *e)
{
	enum step_outcome out = removal_outcome(e, QEMU_NO_NODE);

	(void)p;
	(void)st;
	(void)ret;
	return out == STEP_FAILED && qemu_said(e, QEMU_NODE_IN_USE) ?
	       STEP_AGAIN : out;
}

static json_t *node_name(const struct rt_device *d)
{
	return json_pack("{s:s}", "node-name", d->id);
}

static void blockdev_release(struct plan *p, const struct rt_device *d)
{
	plan_add_args(p, "blockdev-del", node_name(d))->check = node_deleted;
}

/* HMP drive_del: a drive already gone (QEMU deletes a drive made by
 * drive_add with its device) is fine. */
static enum step_outcome drive_deleted(const struct plan *p,
				       const struct step *st, json_t *ret,
				       struct error *e)
{
	(void)p;
	(void)st;
	hmp_outcome(ret, HMP_SILENT, e);
	return removal_outcome(e, QEMU_NO_DRIVE);
}

/* The drive named by the id, made by -drive or drive_add, goes; where
 * there is none, a node made by blockdev-add under that name, which an
 * older kvm-hotplug made in Ganeti files, goes instead. */
static void drive_release(struct plan *p, const struct rt_device *d)
{
	struct step *st = plan_hmp(p, HMP_SILENT, "drive_del %s", d->id);

	st->check = drive_deleted;
	st = plan_add_args(p, "blockdev-del", node_name(d));
	st->check = node_deleted;
	st->flags = STEP_IF_GONE;
}

/* The fd set a disk's image is handed over in: numbered by the slot, far
 * above the lowest free numbers that QEMU gives when asked for none (as
 * Ganeti's own adds are), so that an intent record can name it before
 * QEMU answers. QEMU makes a set of a number it is given. A set stays
 * (empty) while the node made from it holds its copy, so another bus's
 * slots get sets of their own: a hash of the bus's name. */
#define FDSET_BASE 1000

static int fdset_of(const struct rt_device *d)
{
	if (strcmp(d->bus, PCI_HOTPLUG_BUS) == 0)
		return FDSET_BASE + d->slot;
	return FDSET_BASE + PCI_SLOTS * (int)(1 + rt_bus_hash(d->bus) % 100000) +
	       d->slot;
}

/* The image (host_up opened it) handed over in fd set set: add-fd with
 * the fd in the same message, taken back if what follows fails. */
static void plan_fd_set(struct plan *p, const struct rt_device *d,
			const struct host_side *h, int set)
{
	/* opaque names the device, for whoever reads query-fdsets */
	struct step *st = plan_add_args(p, "add-fd", json_pack("{s:i, s:s}",
					"fdset-id", set, "opaque", d->id));

	st->fd = &h->file_fd;
	snprintf(st->label, sizeof(st->label), "%.120s (%s)", d->path,
		 strcmp(d->mode, "ro") == 0 ? "read-only" : "read-write");
	st->fault = "after-add-fd";
	step_undo(st, "remove-fd", json_pack("{s:i}", "fdset-id", set));
}

/* The set given up again, whatever the backend's step said: the node or
 * drive made from it keeps its own copy. */
static void plan_fd_set_done(struct plan *p, int set)
{
	struct step *st = plan_add_args(p, "remove-fd",
					json_pack("{s:i}", "fdset-id", set));

	st->flags = STEP_ALWAYS;
	st->fault = "after-backend";
}

/* A disk's QEMU driver: as recorded, else as check_disk_path would find
 * it. The target may be another host, so a path missing here is a file
 * unless under /dev. */
static const char *file_driver_of(const struct rt_device *d)
{
	const char *path = d->path;
	struct stat st;

	if (d->file_driver[0] != '\0')
		return d->file_driver;
	if (stat(path, &st) == 0)
		return S_ISBLK(st.st_mode) ? RT_FILE_DRIVER_BLOCK : RT_FILE_DRIVER_FILE;
	return strncmp(path, "/dev/", 5) == 0 ? RT_FILE_DRIVER_BLOCK : RT_FILE_DRIVER_FILE;
}

/* Ganeti's way (hv_kvm HotAddDisk): the image opened here (host_up) and
 * handed over with add-fd, a drive on /dev/fdset/N made with HMP
 * drive_add, the set given up again whatever drive_add said (the drive
 * keeps its own copy). Options as Ganeti gives them at start: format raw,
 * aio threads, the file's cache and discard. */
static void drive_add(struct plan *p, const struct rt_device *d,
		      const struct host_side *h)
{
	static const char *const shared[] = { "sharedfile", "blockdev", "ext",
					      "gluster", NULL };
	const char *type = json_string_value(json_object_get(d->extra, "dev_type"));
	const char *cache = d->cache;
	int set = fdset_of(d);
	struct step *st;

	/* Ganeti's _GenerateDiskAioCacheParameters: shared storage gets no
	 * host cache, whatever disk_cache says, so that migration is safe */
	for (size_t i = 0; type != NULL && shared[i] != NULL; i++)
		if (strcmp(type, shared[i]) == 0)
			cache = "none";
	plan_fd_set(p, d, h, set);
	/* a block device (a blockdev disk's adopted device) needs QEMU's
	 * host_device protocol: its 'file' one takes regular files only */
	st = plan_hmp(p, HMP_SAYS_OK, "drive_add dummy file=" FDSET_PATH "%d,if=none,"
		      "id=%s,format=%s,auto-read-only=off,aio=threads%s%s%s%s%s",
		      set, d->id, d->format,
		      strcmp(file_driver_of(d), RT_FILE_DRIVER_BLOCK) ? "" :
		      ",file.driver=host_device",
		      strcmp(cache, "default") ? ",cache=" : "",
		      strcmp(cache, "default") ? cache : "",
		      strcmp(d->discard, "unmap") ? "" : ",discard=unmap",
		      strcmp(d->mode, "ro") ? "" : ",readonly=on");
	step_undo(st, "human-monitor-command",
		  json_pack("{s:s+}", "command-line", "drive_del ", d->id));
	plan_fd_set_done(p, set);
}

/* A native file's node: blockdev-add by path, or, where QEMU cannot open
 * the path itself (host_check: h->fd_pass), of the image handed over in
 * an fd set (/dev/fdset/N), which is given up again once the node holds
 * its copy. */
static void blockdev_add(struct plan *p, const struct rt_device *d,
			 const struct host_side *h)
{
	char set_path[32];
	int set = fdset_of(d);
	struct step *st;

	snprintf(set_path, sizeof(set_path), FDSET_PATH "%d", set);
	if (h->fd_pass)
		plan_fd_set(p, d, h, set);
	st = plan_add_args(p, "blockdev-add", blockdev_args(d, d->file_driver,
			   h->fd_pass ? set_path : d->path));
	st->fault = h->fd_pass ? "after-blockdev-add" : "after-backend";
	step_undo(st, "blockdev-del", node_name(d));
	if (h->fd_pass)
		plan_fd_set_done(p, set);
}

/* What a disk's device is attached to in QEMU: made before device_add,
 * released after the device is gone (or QEMU refused it). */
struct disk_backend {
	void (*add)(struct plan *p, const struct rt_device *d,
		    const struct host_side *h);
	void (*release)(struct plan *p, const struct rt_device *d);
	bool opens_image;	/* always here, to hand it to QEMU */
	const char *const *commands;	/* the QMP commands add and release send */
};

static const char *const blockdev_commands[] = { "blockdev-add", "blockdev-del",
						 "add-fd", "remove-fd", NULL };
/* HMP's drive_add and drive_del go through human-monitor-command */
static const char *const drive_commands[] = { "add-fd", "remove-fd",
	"human-monitor-command", "blockdev-del", NULL };

/* A native file's disks are blockdev-add nodes named by the id. A Ganeti
 * file's are drives (a BlockBackend named by the id) made as Ganeti makes
 * them, because Ganeti removes them its own way: device_del and at once
 * HMP drive_del, which leaves a blockdev-add node in QEMU for good. */
static const struct disk_backend blockdev_backend = {
	blockdev_add, blockdev_release, false, blockdev_commands
};
static const struct disk_backend drive_backend = {
	drive_add, drive_release, true, drive_commands
};

static const struct disk_backend *disk_backend(const struct runtime *rt)
{
	return runtime_disks_as_drives(rt) ? &drive_backend : &blockdev_backend;
}

static void disk_add_steps(const struct session *s, const struct rt_device *d,
			   const struct host_side *h, struct plan *p)
{
	disk_backend(&s->rt)->add(p, d, h);
	plan_device_add(p, disk_device_args(d));
}

/* Whether QEMU is handed the image as an fd rather than its path, and
 * why (for -v): --fd-pass, else the file's fd-pass, else whether QEMU,
 * by its user and its root, may open the path itself. A Ganeti file's
 * disks always are, as Ganeti's own. */
static bool wants_fd(const struct session *s, const struct request *r,
		     const struct rt_device *d, char *why, size_t size)
{
	const char *want = r->fd_pass != NULL ? r->fd_pass : s->rt.fd_pass;
	struct proc_creds c;

	if (disk_backend(&s->rt)->opens_image) {
		snprintf(why, size, "a Ganeti file's disk, as Ganeti hands it over");
		return true;
	}
	if (want[0] != '\0' && strcmp(want, "auto") != 0) {
		snprintf(why, size, "%s says %s", r->fd_pass != NULL ?
			 "--fd-pass" : "the runtime file's fd-pass", want);
		return strcmp(want, "always") == 0;
	}
	if (!session_qemu_creds(s, &c)) {
		snprintf(why, size, "QEMU's process cannot be looked at here "
			 "(another pid namespace's): it opens the path itself");
		return false;
	}
	if (strcmp(c.root, "/") != 0) {
		snprintf(why, size, "QEMU runs chrooted in %.200s", c.root);
		return true;
	}
	if (!proc_may_open(&c, d->path, strcmp(d->mode, "ro") != 0)) {
		snprintf(why, size, "QEMU runs as uid %u, which may not open "
			 "%.200s for %s", (unsigned)c.uid, d->path,
			 strcmp(d->mode, "ro") != 0 ? "writing" : "reading");
		return true;
	}
	snprintf(why, size, "QEMU (uid %u) may open %.200s itself",
		 (unsigned)c.uid, d->path);
	return false;
}

/* A qcow2 image's backing file, which QEMU opens by its own path: its
 * header's backing_file_offset is not 0 (big-endian, bytes 8-15). */
static bool has_backing_file(const char *path)
{
	unsigned char hdr[16];
	bool backed = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd == -1)
		return false;	/* what cannot be read, the add will say */
	if (read(fd, hdr, sizeof(hdr)) == (ssize_t)sizeof(hdr) &&
	    memcmp(hdr, "QFI\xfb", 4) == 0)
		for (int i = 8; i < 16; i++)
			backed |= hdr[i] != 0;
	close(fd);
	return backed;
}

/* How the image reaches QEMU (h->fd_pass), said with -v; an image
 * handed over whose backing file QEMU would still open by path cannot
 * work (exit 3). */
static int disk_host_check(const struct session *s, const struct request *r,
			   struct rt_device *d, struct host_side *h,
			   struct error *e)
{
	char why[320];

	h->fd_pass = wants_fd(s, r, d, why, sizeof(why));
	verbose(s->o, "%s: %s", h->fd_pass ? "the image goes to QEMU as an fd" :
		"QEMU opens the image by its path", why);
	if (h->fd_pass && !disk_backend(&s->rt)->opens_image &&
	    strcmp(d->format, "qcow2") == 0 && has_backing_file(d->path))
		return error_set(e, KH_ENOHOTPLUG, "%.200s has a backing file, "
				 "which QEMU would open by its path, and it cannot "
				 "(%s); attach it where QEMU can open paths, or "
				 "flatten it (qemu-img convert)", d->path, why);
	return KH_OK;
}

/* The image, where QEMU is handed it rather than opening it itself
 * (host_check): opened with the access QEMU will ask the fd set for
 * (read-only or read-write; the set matches on that alone), and with
 * O_DIRECT for cache none (QEMU sets it on its copy itself too). */
static int disk_host_up(const struct session *s, const struct request *r,
			struct rt_device *d, struct host_side *h, struct error *e)
{
	int flags = (strcmp(d->mode, "ro") == 0 ? O_RDONLY : O_RDWR) | O_CLOEXEC;

	if (!h->fd_pass)
		return KH_OK;
	if (!disk_backend(&s->rt)->opens_image && strcmp(d->cache, "none") == 0)
		flags |= O_DIRECT;
	(void)r;
	h->file_fd = open(d->path, flags);
	if (h->file_fd == -1)
		return error_set(e, KH_EFAIL, "%s: %s", d->path, strerror(errno));
	return KH_OK;
}

/* QEMU refuses a second writer of an image with only 'Failed to get
 * "write" lock': name the recorded disk that has it. */
static void name_image_user(const struct runtime *rt, const struct rt_device *d,
			    struct error *e)
{
	if (!qemu_said(e, QEMU_WRITE_LOCKED))
		return;
	for (size_t i = 0; i < rt->ndev; i++)
		if (&rt->dev[i] != d && rt->dev[i].kind == RT_DISK &&
		    strcmp(rt->dev[i].path, d->path) == 0) {
			error_prefix(e, "disk %s uses %.200s already: ",
				     rt->dev[i].uuid, d->path);
			return;
		}
}

/* What a new disk's entry starts from in a format that keeps more than
 * the model (a Ganeti file): what sync was told, or the type given. */
static int disk_extra(struct rt_device *d, const struct request *r,
		     struct error *e)
{
	if (r->extra != NULL)
		d->extra = json_incref(r->extra);
	else if (r->dev_type != NULL &&
		 (d->extra = json_pack("{s:s}", "dev_type", r->dev_type)) == NULL)
		return error_nomem(e);
	return KH_OK;
}


/* Whether QEMU has a disk backend named id: a node of that name
 * (blockdev-add, query-named-block-nodes) or a drive, a BlockBackend
 * with a medium (-drive or drive_add, query-block's "device"). */
static bool has_backend(json_t *nodes, json_t *blocks, const char *id)
{
	size_t i;
	json_t *n;

	json_array_foreach(nodes, i, n)
		if (strcmp(json_string_value(json_object_get(n, "node-name")), id) == 0)
			return true;
	json_array_foreach(blocks, i, n) {
		const char *device = json_string_value(json_object_get(n, "device"));
		if (device != NULL && strcmp(device, id) == 0 &&
		    json_object_get(n, "inserted") != NULL)
			return true;
	}
	return false;
}

/* ---- the operations ---- */

static int disk_complete(const struct request *r, struct error *e)
{
	if (r->path == NULL)
		return error_set(e, KH_EUSAGE, "disk add: --path is required");
	return KH_OK;
}

static int disk_check_add(struct request *r, bool format_given, struct error *e)
{
	if (check_disk_path(r, e) != KH_OK)
		return e->code;
	return check_disk_content(r, format_given, e);
}

static int disk_fill(const struct runtime *rt, struct rt_device *d,
		     const struct request *r, struct error *e)
{
	snprintf(d->driver, sizeof(d->driver), "%s", RT_DRIVER_DISK);
	snprintf(d->format, sizeof(d->format), "%s", r->format);
	snprintf(d->mode, sizeof(d->mode), "%s", r->mode);
	snprintf(d->file_driver, sizeof(d->file_driver), "%s", r->file_driver);
	runtime_device_defaults(rt, d);
	if (r->cache != NULL)
		snprintf(d->cache, sizeof(d->cache), "%s", r->cache);
	if (r->discard != NULL)
		snprintf(d->discard, sizeof(d->discard), "%s", r->discard);
	if ((d->path = strdup(r->path)) == NULL)
		return error_nomem(e);
	return disk_extra(d, r, e);
}

static bool disk_same(const struct rt_device *d, const struct request *r)
{
	return request_same_string(r->path, d->path) &&
	       request_gives_same(r->format, d->format) &&
	       request_gives_same(r->mode, d->mode) &&
	       request_gives_same(r->cache, d->cache) &&
	       request_gives_same(r->discard, d->discard);
}

static void disk_release_steps(const struct session *s,
			       const struct rt_device *d, struct plan *p)
{
	disk_backend(&s->rt)->release(p, d);
}

static int disk_cmdline(json_t *argv, const struct rt_device *d)
{
	return cmdline_append(argv, "-blockdev",
			      blockdev_args(d, file_driver_of(d), d->path)) ||
	       cmdline_append(argv, "-device", disk_device_args(d));
}

/* query-block's entry for d: its device's (a node attached to it), or
 * a drive of its id (Ganeti's way, or one not attached). */
static json_t *block_of(json_t *blocks, const char *id)
{
	char qdev[RT_ID_MAX + 48];
	size_t i;
	json_t *b;

	snprintf(qdev, sizeof(qdev), "/machine/peripheral/%s/virtio-backend", id);
	json_array_foreach(blocks, i, b) {
		const char *dev = json_string_value(json_object_get(b, "device"));
		const char *q = json_string_value(json_object_get(b, "qdev"));

		if ((dev != NULL && strcmp(dev, id) == 0) ||
		    (q != NULL && strcmp(q, qdev) == 0))
			return b;
	}
	return NULL;
}

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return strcmp(a, b) == 0 || (stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
				     sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino);
}

/* The path: the file QEMU opened, or one handed over in an fd set
 * (/dev/fdset/N, a Ganeti drive), which QEMU (pid) must have open. */
static void path_differs(const struct rt_device *d, const char *file,
			 pid_t pid, char *why, size_t size)
{
	if (strncmp(file, FDSET_PATH, strlen(FDSET_PATH)) != 0) {
		if (!same_file(file, d->path))
			differs_say(why, size, "path: recorded %.200s, QEMU has "
				    "%.200s", d->path, file);
	} else if (pid > 0 && !proc_has_open(pid, d->path))
		differs_say(why, size, "path: recorded %.200s, which QEMU does "
			    "not have open", d->path);
}

/* The cache as cmdline gives it (blockdev-add's, a native file's): a
 * Ganeti drive's is Ganeti's (disk_cache, disk_aio, the disk template),
 * which its file does not record per disk. */
static void cache_differs(const struct rt_device *d, json_t *cache,
			  char *why, size_t size)
{
	bool direct = json_is_true(json_object_get(cache, "direct"));
	bool no_flush = json_is_true(json_object_get(cache, "no-flush"));
	bool writeback = json_is_true(json_object_get(cache, "writeback"));

	if (direct != (strcmp(d->cache, "none") == 0) ||
	    no_flush != (strcmp(d->cache, "unsafe") == 0) ||
	    writeback != (strcmp(d->cache, "writethrough") != 0))
		differs_say(why, size, "cache: recorded %s, QEMU has direct=%s "
			    "no-flush=%s writeback=%s", d->cache,
			    direct ? "on" : "off", no_flush ? "on" : "off",
			    writeback ? "on" : "off");
}

/* Every field cmdline gives a disk, against what QEMU has. */
static bool disk_differs(const struct rt_device *d, const struct vm_view *v,
			 char *why, size_t size)
{
	json_t *b = block_of(v->blocks, d->id);
	json_t *in = json_object_get(b, "inserted");
	const char *drive = json_string_value(json_object_get(b, "device"));
	const char *drv = json_string_value(json_object_get(in, "drv"));
	const char *file = json_string_value(json_object_get(in, "file"));
	bool ro = json_is_true(json_object_get(in, "ro"));

	why[0] = '\0';
	if (!has_backend(v->nodes, v->blocks, d->id)) {
		differs_say(why, size, "QEMU has no block node or drive %s", d->id);
		return true;
	}
	if (in == NULL)
		return false;	/* a node not attached: the device is missing */
	if (drv != NULL && strcmp(drv, d->format) != 0)
		differs_say(why, size, "format: recorded %s, QEMU has %s",
			    d->format, drv);
	if (ro != (strcmp(d->mode, "ro") == 0))
		differs_say(why, size, "mode: recorded %s, QEMU has it %s",
			    d->mode, ro ? "read-only" : "read-write");
	if (file != NULL)
		path_differs(d, file, v->pid, why, size);
	if (drive == NULL || drive[0] == '\0')	/* a node, not a drive */
		cache_differs(d, json_object_get(in, "cache"), why, size);
	return why[0] != '\0';
}

static const char *const *disk_qmp_needs(const struct runtime *rt)
{
	return disk_backend(rt)->commands;
}

static void disk_identify(const struct rt_device *d, char *out, size_t size)
{
	snprintf(out, size, "%s %s %s", d->path, d->format, d->mode);
}

static void disk_to_request(const struct rt_device *d, struct request *r)
{
#define OR_NULL(s) ((s)[0] != '\0' ? (s) : NULL)
	r->path = d->path;
	r->format = OR_NULL(d->format);
	r->cache = OR_NULL(d->cache);
	r->mode = OR_NULL(d->mode);
	r->discard = OR_NULL(d->discard);
	r->extra = d->extra;
#undef OR_NULL
}

const struct kind_ops disk_ops = {
	.kind = RT_DISK,
	.complete = disk_complete,
	.check_add = disk_check_add,
	.fill = disk_fill,
	.same = disk_same,
	.host_check = disk_host_check,
	.host_up = disk_host_up,
	.add_steps = disk_add_steps,
	.release_steps = disk_release_steps,
	.explain = name_image_user,
	.cmdline = disk_cmdline,
	.differs = disk_differs,
	.qmp_needs = disk_qmp_needs,
	.to_request = disk_to_request,
	.identify = disk_identify,
};
