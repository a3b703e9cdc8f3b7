/*
 * The runtime file's life, whatever its format: the lock, loading,
 * preparing a new version beside it and reading that back, the commit
 * (with the merge when another writer changed the file meanwhile), and
 * the intent record. Formats are codecs (codec.h): what a text says is
 * theirs; this file only hands texts and contents to them.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault.h"
#include "fileio.h"
#include "formats.h"
#include "runtime.h"

#define RT_MAX_SIZE	(16 * 1024 * 1024)

static const struct rt_codec *codec(const struct runtime *rt)
{
	return rt_codec_of(rt->format);
}

/* Forgets the devices and the parsed file; keeps path, lock, temp. */
static void clear_contents(struct runtime *rt)
{
	rt_file_clear(&rt->file);
	codec(rt)->free_data(rt->codec_data);
	rt->codec_data = NULL;
	rt->format = RT_FORMAT_NEW;
	rt->generation++;
}

/* Replaces what rt holds. On failure rt is left empty. */
int runtime_parse(struct runtime *rt, const char *name, const char *buf,
		  size_t len, struct error *e)
{
	const struct rt_codec *c;
	int rc;

	clear_contents(rt);
	if (len > RT_MAX_SIZE)
		return error_set(e, KH_EUSAGE, "%s: larger than %d MiB, "
				 "refusing to read it", name, RT_MAX_SIZE >> 20);
	if ((rc = rt_codec_for(name, buf, len, &c, e)) != KH_OK)
		return rc;
	rt->format = c->format;
	rc = c->parse(&rt->file, &rt->codec_data, rt->path, name, buf, len, e);
	if (rc != KH_OK)
		clear_contents(rt);
	return rc;
}

int runtime_format(const struct runtime *rt, char **out, size_t *len,
		   struct error *e)
{
	return codec(rt)->serialise(&rt->file, rt->codec_data, rt->path, out,
				    len, e);
}

/* --- another writer: what this run read, and merging into a newer file --- */

static void forget_seen(struct runtime *rt)
{
	rt_file_clear(&rt->base);
	memset(&rt->seen, 0, sizeof(rt->seen));
}

static void file_id(struct rt_file_id *id, const struct stat *st)
{
	id->exists = st != NULL;
	if (st == NULL)
		return;
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtime = st->st_mtim;
}

/* Remembers the file as it is now (st: its stat, NULL if there is none)
 * and the devices rt holds for it. */
static int remember_seen(struct runtime *rt, const struct stat *st,
			 struct error *e)
{
	struct rt_device *b;

	forget_seen(rt);
	file_id(&rt->seen, st);
	for (size_t i = 0; i < rt->ndev; i++)
		if ((b = rt_file_add_device(&rt->base, e)) == NULL ||
		    rt_device_copy(b, &rt->dev[i], e) != KH_OK)
			return e->code;
	return KH_OK;
}

/* Whether the file is no longer the one this run read or wrote. */
static bool file_changed(const struct runtime *rt)
{
	struct rt_file_id now;
	struct stat st;

	file_id(&now, lstat(rt->path, &st) == 0 ? &st : NULL);
	if (now.exists != rt->seen.exists)
		return true;
	return now.exists && (now.dev != rt->seen.dev || now.ino != rt->seen.ino ||
			      now.size != rt->seen.size ||
			      now.mtime.tv_sec != rt->seen.mtime.tv_sec ||
			      now.mtime.tv_nsec != rt->seen.mtime.tv_nsec);
}

/* d, a device of this run, into theirs in place of their entry t (or as
 * a new one): their entry's place is kept. d came from the file as this
 * run read it if was_there, and what its codec kept of its entry then
 * lived in the old file: a new entry is made for it if they have none. */
static int put_device(struct runtime *theirs, struct rt_device *t,
		      const struct rt_device *d, bool was_there, struct error *e)
{
	struct rt_device c;

	if (rt_device_copy(&c, d, e) != KH_OK)
		return e->code;
	rt_device_take_entry(&c, t, was_there);
	if (t == NULL && (t = runtime_add_device(theirs, e)) == NULL) {
		rt_device_release(&c);
		return e->code;
	}
	rt_device_release(t);
	*t = c;
	return KH_OK;
}

/* This run's changes since it last read or wrote the file, applied to
 * theirs: devices it added or changed, and removals. */
static int apply_mine(struct runtime *theirs, struct runtime *mine,
		      struct error *e)
{
	struct rt_device *b, *t;

	for (size_t i = 0; i < mine->ndev; i++) {
		const struct rt_device *d = &mine->dev[i];

		b = rt_file_find_uuid(&mine->base, d->uuid);
		if (b != NULL && rt_device_same(b, d))
			continue;
		t = runtime_find_uuid(theirs, d->uuid);
		if (put_device(theirs, t, d, b != NULL, e) != KH_OK)
			return e->code;
	}
	for (size_t i = 0; i < mine->base.ndev; i++)
		if (runtime_find_uuid(mine, mine->base.dev[i].uuid) == NULL &&
		    (t = runtime_find_uuid(theirs, mine->base.dev[i].uuid)) != NULL)
			runtime_remove_device(theirs, (size_t)(t - theirs->dev));
	if (theirs->vm_name == NULL && mine->vm_name != NULL &&
	    (theirs->vm_name = strdup(mine->vm_name)) == NULL)
		return error_nomem(e);
	if (theirs->vm_uuid[0] == '\0')
		memcpy(theirs->vm_uuid, mine->vm_uuid, sizeof(theirs->vm_uuid));
	return KH_OK;
}

/* rt takes what theirs read and holds; theirs keeps its path only. */
static void take_contents(struct runtime *rt, struct runtime *theirs)
{
	clear_contents(rt);
	forget_seen(rt);
	rt->exists = theirs->exists;
	rt->file = theirs->file;
	rt->format = theirs->format;
	rt->codec_data = theirs->codec_data;
	rt->seen = theirs->seen;
	rt->base = theirs->base;
	rt_file_init(&theirs->file);
	theirs->codec_data = NULL;
	rt_file_init(&theirs->base);
}

/* The intent record names the prepared file: the new one now. */
static int intent_names_prepared(struct runtime *rt, struct error *e)
{
	json_t *in = NULL;

	if (runtime_intent_read(rt, &in, e) != KH_OK || in == NULL ||
	    json_object_get(in, "prepared") == NULL) {
		json_decref(in);
		return e->code;
	}
	json_object_set_new(in, "prepared", json_string(rt->tmp_path));
	runtime_intent_write(rt, in, e);
	json_decref(in);
	return e->code;
}

/* Another writer replaced or changed the file: read it again, apply this
 * run's changes to it, and prepare that instead. rt's devices are new
 * ones then: a pointer into rt->dev does not survive a commit. */
static int merge_other_writer(struct runtime *rt, struct error *e)
{
	struct runtime theirs;

	runtime_init(&theirs);
	if ((theirs.path = strdup(rt->path)) == NULL)
		return error_nomem(e);
	if (runtime_load(&theirs, true, e) == KH_OK && theirs.format != rt->format)
		error_set(e, KH_EFAIL, "%s is now in another format", rt->path);
	/* rt changes only once the merged file is ready */
	if (e->code == KH_OK && apply_mine(&theirs, rt, e) == KH_OK &&
	    runtime_prepare(&theirs, e) == KH_OK) {
		runtime_discard(rt);
		take_contents(rt, &theirs);
		rt->tmp_path = theirs.tmp_path;
		theirs.tmp_path = NULL;
		if (intent_names_prepared(rt, e) == KH_OK)
			fault_point("after-merge");
	}
	runtime_close(&theirs);
	if (e->code != KH_OK) {
		error_prefix(e, "another writer changed %s meanwhile, and this "
			     "run's change could not be added to it: ", rt->path);
		e->code = KH_EFAIL;	/* not the caller's input */
	}
	return e->code;
}

/* --- reading and writing the file --- */

/* fd, just opened from path, must be a regular file. The runtime file
 * is replaced by rename(2), which would turn a symlink into a file: so
 * a symlink (ELOOP with O_NOFOLLOW) is refused like anything else. */
static int check_regular(int fd, const char *path, struct error *e)
{
	struct stat st;
	int rc = KH_OK;

	if (fd == -1 && errno != ELOOP)
		return error_set(e, KH_EFAIL, "%s: %s", path, strerror(errno));
	if (fd != -1 && fstat(fd, &st) == -1)
		rc = error_set(e, KH_EFAIL, "%s: %s", path, strerror(errno));
	else if (fd == -1)
		rc = error_set(e, KH_EUSAGE, "%s: a symlink, which the rewrite "
			       "would replace by a file: name the file itself", path);
	else if (!S_ISREG(st.st_mode))
		rc = error_set(e, KH_EUSAGE, "%s: not a regular file", path);
	if (rc != KH_OK && fd != -1)
		close(fd);
	return rc;
}

/* rt's contents from the file at path (rt->path, or one to take its
 * place). */
static int load_from(struct runtime *rt, const char *path, bool create,
		     struct error *e)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, rc;

	if (path == NULL)
		return error_set(e, KH_EFAIL, "no runtime file to load");
	rt->exists = false;
	/* O_NONBLOCK: opening a FIFO must not hang */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd == -1 && errno == ENOENT && create) {
		clear_contents(rt);
		return remember_seen(rt, NULL, e);
	}
	if (fd == -1 && errno == ENOENT)
		return error_set(e, KH_EUSAGE, "%s: no such runtime file", path);
	if ((rc = check_regular(fd, path, e)) != KH_OK)
		return rc;
	if (fstat(fd, &st) == -1)
		rc = error_set(e, KH_EFAIL, "%s: %s", path, strerror(errno));
	else
		rc = fio_read_all(fd, path, RT_MAX_SIZE, &buf, &len, e);
	close(fd);
	if (rc != KH_OK)
		return rc;
	rc = runtime_parse(rt, path, buf, len, e);
	free(buf);
	rt->exists = rc == KH_OK;
	return rc == KH_OK ? remember_seen(rt, &st, e) : rc;
}

int runtime_load(struct runtime *rt, bool create, struct error *e)
{
	return load_from(rt, rt->path, create, e);
}

int runtime_load_instead(struct runtime *rt, const char *other,
			 struct error *e)
{
	return load_from(rt, other, false, e);
}

/* Removes the temporary file after a failure, returning KH_EFAIL with
 * errno's text. */
static int temp_failed(struct runtime *rt, const char *what, struct error *e)
{
	int rc = error_set(e, KH_EFAIL, "%s: %s: %s", rt->tmp_path, what,
			   strerror(errno));

	runtime_discard(rt);
	return rc;
}

/* The old file's mode and owner, or 0600 and ours for a new one. */
static int copy_owner(struct runtime *rt, int fd, struct error *e)
{
	struct stat old, tmp;

	if (stat(rt->path, &old) == -1) {
		if (errno != ENOENT)
			return temp_failed(rt, "stat of the old file", e);
		return fchmod(fd, 0600) == -1 ? temp_failed(rt, "chmod", e) :
		    KH_OK;
	}
	if (fstat(fd, &tmp) == -1)
		return temp_failed(rt, "stat", e);
	/* only when needed: giving a file away takes privilege */
	if ((old.st_uid != tmp.st_uid || old.st_gid != tmp.st_gid) &&
	    fchown(fd, old.st_uid, old.st_gid) == -1)
		return temp_failed(rt, "chown", e);
	if (fchmod(fd, old.st_mode & 07777) == -1)
		return temp_failed(rt, "chmod", e);
	return KH_OK;
}

/* ".BASENAME.tmp.XXXXXX" beside path; mkostemp() creates it with O_EXCL,
 * which never follows a symlink. */
static int make_temp(struct runtime *rt, int *fd, struct error *e)
{
	const char *slash = strrchr(rt->path, '/');
	int dirlen = slash ? (int)(slash - rt->path + 1) : 0;

	if (asprintf(&rt->tmp_path, "%.*s.%s.tmp.XXXXXX", dirlen, rt->path,
		     rt->path + dirlen) == -1) {
		rt->tmp_path = NULL;
		return error_nomem(e);
	}
	if ((*fd = mkostemp(rt->tmp_path, O_CLOEXEC)) == -1) {
		error_set(e, KH_EFAIL, "%s: %s", rt->tmp_path, strerror(errno));
		free(rt->tmp_path);
		rt->tmp_path = NULL;
		return KH_EFAIL;
	}
	return KH_OK;
}

/* The file must say what the caller meant: a format that cannot hold a
 * value (a Ganeti file and a NIC's script, say) is caught here, before
 * QEMU is touched. A pending removal is the one thing allowed to be lost. */
static int devices_agree(const struct runtime *rt, const struct runtime *back,
			 struct error *e)
{
	const struct rt_codec *c = codec(rt);
	char a[16];

	for (size_t i = 0; i < rt->ndev; i++) {
		const struct rt_device *d = &rt->dev[i];
		struct rt_device *r = runtime_find_uuid((struct runtime *)back,
							d->uuid);

		for (size_t k = 0; k < RT_NFIELDS; k++) {
			const struct rt_field *f = &rt_fields[k];
			const char *want;

			if (f->type == RT_T_STATE || !rt_field_applies(f, d->kind) ||
			    (c->unrecorded & RT_FIELD_BIT(k)))
				continue;
			if (r != NULL && rt_field_same(d, r, f))
				continue;
			want = rt_field_text(d, f, a, sizeof(a));
			return error_set(e, KH_EUSAGE, "%s: this %s file "
					 "cannot record %s '%.60s' of %s %s",
					 rt->path, c->what, f->name,
					 want ? want : "(none)",
					 rt_kind_name(d->kind), d->uuid);
		}
	}
	return KH_OK;
}

/* Never write what could not be read back: that would lock every later
 * run out of the VM's runtime file. */
static int check_readable(const struct runtime *rt, const char *text,
			  size_t len, struct error *e)
{
	struct runtime back;
	int rc;

	runtime_init(&back);
	rc = runtime_parse(&back, "new contents", text, len, e);
	if (rc != KH_OK && e != NULL) {
		error_prefix(e, "refusing to write %s: ", rt->path);
		e->code = KH_EFAIL;	/* our data is wrong, not the user's file */
	}
	if (rc == KH_OK)
		rc = devices_agree(rt, &back, e);
	runtime_close(&back);
	return rc == KH_OK ? KH_OK : (e != NULL ? e->code : KH_EFAIL);
}

static int fill_temp(struct runtime *rt, int fd, const char *text,
		     size_t len, struct error *e)
{
	int rc;

	if ((rc = copy_owner(rt, fd, e)) != KH_OK)
		return rc;
	if (fio_write_all(fd, text, len) == -1)
		return temp_failed(rt, "write", e);
	if (fsync(fd) == -1)
		return temp_failed(rt, "fsync", e);
	return KH_OK;
}

int runtime_prepare(struct runtime *rt, struct error *e)
{
	char *text;
	size_t len;
	int fd = -1, rc;

	runtime_discard(rt);
	if (rt->path == NULL)
		return error_set(e, KH_EFAIL, "no runtime file to write");
	if ((rc = runtime_format(rt, &text, &len, e)) != KH_OK)
		return rc;
	if ((rc = check_readable(rt, text, len, e)) == KH_OK &&
	    (rc = make_temp(rt, &fd, e)) == KH_OK) {
		rc = fill_temp(rt, fd, text, len, e);
		if (close(fd) == -1 && rc == KH_OK)
			rc = temp_failed(rt, "close", e);
	}
	free(text);
	return rc;
}

int runtime_commit(struct runtime *rt, struct error *e)
{
	struct stat st;
	int rc;

	if (rt->tmp_path == NULL)
		return error_set(e, KH_EFAIL, "no runtime file prepared");
	for (int tries = 0; file_changed(rt); tries++)
		if (tries == 3)
			return error_set(e, KH_EFAIL, "%s keeps changing under "
					 "another writer; not replaced", rt->path);
		else if (merge_other_writer(rt, e) != KH_OK) {
			runtime_discard(rt);
			return e->code;
		}
	if (rename(rt->tmp_path, rt->path) == -1) {
		rc = error_set(e, KH_EFAIL, "cannot replace %s: %s", rt->path,
			       strerror(errno));
		runtime_discard(rt);
		return rc;
	}
	free(rt->tmp_path);
	rt->tmp_path = NULL;
	rt->exists = true;
	if (fio_sync_dir(rt->path, e) != KH_OK)
		return e->code;
	return remember_seen(rt, lstat(rt->path, &st) == 0 ? &st : NULL, e);
}

int runtime_commit_side_files(const struct runtime *rt, struct error *e)
{
	const struct rt_codec *c = codec(rt);

	if (c->commit_side_files == NULL)
		return KH_OK;
	return c->commit_side_files(&rt->file, rt->codec_data, rt->path, e);
}

void runtime_keep_prepared(struct runtime *rt)
{
	free(rt->tmp_path);
	rt->tmp_path = NULL;
}

void runtime_discard(struct runtime *rt)
{
	if (rt->tmp_path == NULL)
		return;
	unlink(rt->tmp_path);
	free(rt->tmp_path);
	rt->tmp_path = NULL;
}

/* --- locking --- */

/* The format of the file at path, from its first bytes, before it is
 * locked: a file never changes format (each writes its own back), and
 * one that is not there yet will be a native one. */
static const struct rt_codec *format_of(const char *path)
{
	const struct rt_codec *c = rt_codec_of(RT_FORMAT_NEW);
	struct error ignored = { 0 };
	char buf[512];
	ssize_t n = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd != -1) {
		n = read(fd, buf, sizeof(buf));
		close(fd);
	}
	if (n > 0)
		rt_codec_for(path, buf, n, &c, &ignored);
	return c;
}

/* The directory path is in: "." or "/" where that is all there is. */
static char *parent_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash == NULL ? strdup(".") :
	       slash == path ? strdup("/") : strndup(path, slash - path);
}

int runtime_aside_path(const char *path, char **out, struct error *e)
{
	const char *dir = format_of(path)->aside_dir, *slash = strrchr(path, '/');
	const char *base = slash != NULL ? slash + 1 : path;
	char *parent;
	struct stat st;
	int rc = KH_OK;

	*out = NULL;
	if (dir == NULL)
		return (*out = strdup(path)) == NULL ? error_nomem(e) : KH_OK;
	if ((parent = parent_of(path)) == NULL)
		return error_nomem(e);
	if (stat(parent, &st) == -1)
		rc = error_set(e, KH_EFAIL, "%s: %s", parent, strerror(errno));
	else if (asprintf(out, "%s/%s.%ju-%ju", dir, base,
			  (uintmax_t)st.st_dev, (uintmax_t)st.st_ino) == -1)
		rc = error_nomem(e);
	else if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		rc = error_set(e, KH_EFAIL, "%s: %s", dir, strerror(errno));
	free(parent);
	if (rc != KH_OK) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

/* The lock is on a file of its own because the runtime file is replaced
 * on every write. It is never removed: that would let two processes
 * lock two different files. */
static int lock(struct runtime *rt, const char *path, int timeout_ms,
		bool shared, struct error *e)
{
	char *aside, *lock_path = NULL, *copy = NULL;
	int fd = -1, err, rc = KH_OK;

	if (runtime_aside_path(path, &aside, e) != KH_OK)
		return e->code;
	if (asprintf(&lock_path, "%s.lock", aside) == -1) {
		lock_path = NULL;
		rc = error_nomem(e);
	} else if ((err = fio_lock(lock_path, shared, timeout_ms, &fd)) == ETIMEDOUT)
		rc = error_set(e, KH_ETIMEOUT, "%s is locked by another "
			       "process (waited %.1f s)", path,
			       timeout_ms / 1000.0);
	else if (err != 0)
		rc = error_set(e, KH_EFAIL, "%s: %s", lock_path, strerror(err));
	else if ((copy = strdup(path)) == NULL)
		rc = error_nomem(e);
	free(lock_path);
	if (rc != KH_OK) {
		if (fd != -1)	/* only when out of memory */
			close(fd);
		free(aside);
		return rc;
	}
	free(rt->path);
	rt->path = copy;
	free(rt->aside);
	rt->aside = aside;
	rt->lock_fd = fd;
	return KH_OK;
}

int runtime_lock(struct runtime *rt, const char *path, int timeout_ms,
		 struct error *e)
{
	return lock(rt, path, timeout_ms, false, e);
}

int runtime_lock_shared(struct runtime *rt, const char *path, int timeout_ms,
			struct error *e)
{
	return lock(rt, path, timeout_ms, true, e);
}

/* --- the rest of the interface --- */

void runtime_unlock(struct runtime *rt)
{
	if (rt->lock_fd != -1)
		close(rt->lock_fd);
	rt->lock_fd = -1;
}

void runtime_init(struct runtime *rt)
{
	memset(rt, 0, sizeof(*rt));
	rt->lock_fd = -1;
	rt_file_init(&rt->file);
	rt->format = RT_FORMAT_NEW;
}

void runtime_close(struct runtime *rt)
{
	runtime_discard(rt);
	clear_contents(rt);
	forget_seen(rt);
	free(rt->path);
	free(rt->aside);
	runtime_unlock(rt);
	runtime_init(rt);
}

struct rt_device *runtime_find_uuid(struct runtime *rt, const char *uuid)
{
	return rt_file_find_uuid(&rt->file, uuid);
}

struct rt_device *runtime_find_id(struct runtime *rt, const char *id)
{
	return rt_file_find_id(&rt->file, id);
}

struct rt_device *runtime_add_device(struct runtime *rt, struct error *e)
{
	return rt_file_add_device(&rt->file, e);
}

void runtime_remove_device(struct runtime *rt, size_t i)
{
	rt_file_remove_device(&rt->file, i);
}

int runtime_device_id(const struct runtime *rt, enum rt_kind kind,
		      const char *uuid, const char *bus, int slot, char *out,
		      size_t size, struct error *e)
{
	return rt_device_id(codec(rt)->id_scheme(rt->codec_data), kind, uuid,
			    bus, slot, out, size, e);
}

bool runtime_records_unplugging(const struct runtime *rt)
{
	return codec(rt)->records_unplugging;
}

bool runtime_records_vm(const struct runtime *rt)
{
	return codec(rt)->records_vm;
}

bool runtime_has_other_entry(const struct runtime *rt, const char *uuid)
{
	const struct rt_codec *c = codec(rt);

	return c->has_other_entry != NULL && c->has_other_entry(rt->codec_data, uuid);
}

bool runtime_names_vm(const struct runtime *rt)
{
	return rt->vm_name != NULL || rt->vm_uuid[0] != '\0';
}

bool runtime_disks_as_drives(const struct runtime *rt)
{
	return codec(rt)->disks_as_drives;
}

const char *runtime_reserved_by(const struct runtime *rt)
{
	return codec(rt)->reserved_by;
}

uint32_t runtime_used_slots(const struct runtime *rt, const char *bus)
{
	return rt_file_used_slots(&rt->file, bus);
}

uint32_t runtime_reserved(const struct runtime *rt, const char *bus)
{
	return rt_file_reserved(&rt->file, bus);
}

const char *runtime_only_bus(const struct runtime *rt, const char **why)
{
	*why = codec(rt)->only_bus_why;
	return codec(rt)->only_bus;
}

void runtime_device_defaults(const struct runtime *rt, struct rt_device *d)
{
	codec(rt)->device_defaults(rt->codec_data, d);
}

/* --- the intent record: what a run is about to do to the VM --- */

static char *intent_path(const struct runtime *rt)
{
	char *p;

	return asprintf(&p, "%s.intent", rt->aside) == -1 ? NULL : p;
}

const char *runtime_aside(const struct runtime *rt)
{
	return rt->aside;
}

int runtime_intent_write(struct runtime *rt, json_t *intent, struct error *e)
{
	char *path = intent_path(rt), *text = NULL;
	int rc;

	/* written and synced before QEMU changes, so a crash leaves it */
	if (path == NULL || (text = json_dumps(intent, JSON_COMPACT)) == NULL)
		rc = error_nomem(e);
	else
		rc = fio_replace_text(path, text, e);
	free(text);
	free(path);
	return rc;
}

int runtime_intent_read(struct runtime *rt, json_t **intent, struct error *e)
{
	char *path = intent_path(rt);
	json_error_t jerr;

	*intent = NULL;
	if (path == NULL)
		return error_nomem(e);
	if (access(path, F_OK) == 0 &&
	    (*intent = json_load_file(path, 0, &jerr)) == NULL)
		error_set(e, KH_EUSAGE, "%s: %s (remove it once the VM is "
			  "checked)", path, jerr.text);
	free(path);
	return e != NULL ? e->code : KH_OK;
}

void runtime_intent_clear(struct runtime *rt)
{
	char *path = intent_path(rt);

	/* not synced: see fio_replace_text */
	if (path != NULL)
		unlink(path);
	free(path);
}
