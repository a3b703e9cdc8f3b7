/*
 * The instance runtime file, kvm-hotplug-runtime(5).
 *
 * The file is read into a small tree of our own (struct yt_node) and
 * from there into struct runtime. The tree is kept so that keys this
 * version does not know, written by a newer one or by hand, survive a
 * rewrite in their place. Comments do not survive: libyaml's parser does
 * not report them.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"
#include "ganeti.h"
#include "runtime.h"
#include "yamltree.h"

#define RT_VERSION	"1"
#define RT_MAX_SIZE	(16 * 1024 * 1024)
#define DIGITS		"0123456789"

/* The native schema: every field of the model's (rt_fields), written
 * under its name in the model's order; these a device entry must have. */
static const uint32_t required =
	RT_FIELD_BIT(RT_FIELD_KIND) | RT_FIELD_BIT(RT_FIELD_UUID) |
	RT_FIELD_BIT(RT_FIELD_ID) | RT_FIELD_BIT(RT_FIELD_BUS) |
	RT_FIELD_BIT(RT_FIELD_SLOT) | RT_FIELD_BIT(RT_FIELD_DRIVER) |
	RT_FIELD_BIT(RT_FIELD_PATH) | RT_FIELD_BIT(RT_FIELD_FORMAT) |
	RT_FIELD_BIT(RT_FIELD_CACHE) | RT_FIELD_BIT(RT_FIELD_MODE) |
	RT_FIELD_BIT(RT_FIELD_DISCARD) | RT_FIELD_BIT(RT_FIELD_MAC) |
	RT_FIELD_BIT(RT_FIELD_NIC_MODE) | RT_FIELD_BIT(RT_FIELD_TAP) |
	RT_FIELD_BIT(RT_FIELD_QUEUES) | RT_FIELD_BIT(RT_FIELD_VHOST);

/* Not in a Ganeti file: Ganeti's -drive finds out how to open a path
 * itself, and a Ganeti file's NICs have their taps in Ganeti's nic
 * files. */
static const uint32_t native_only =
	RT_FIELD_BIT(RT_FIELD_FILE_DRIVER) | RT_FIELD_BIT(RT_FIELD_TAP);

/* Top-level keys in the order they are written. */
enum { TOP_VERSION, TOP_VM_NAME, TOP_VM_UUID, TOP_RESERVED, TOP_DEVICES, NTOP };
static const char *const top_keys[NTOP] = {
	"version", "vm-name", "vm-uuid", "reserved-slots", "devices"
};

/* The VM's name and uuid, checked as a device's name and uuid are. */
static const struct rt_field vm_fields[] = {
	{ .name = "vm-name", .type = RT_T_STRING,
	  .valid = rt_nonempty },
	{ .name = "vm-uuid", .type = RT_T_CHARS, .flags = RT_LOWER,
	  .size = RT_UUID_LEN + 1, .valid = uuid_is_valid },
};

static int nomem(struct error *e)
{
	return error_set(e, KH_EFAIL, "out of memory");
}

/* "a, b or c" */
static const char *join_words(const char *const *words, char *buf,
			      size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; words[i] != NULL; i++) {
		const char *sep = i == 0 ? "" : words[i + 1] ? ", " : " or ";
		size_t n = strlen(buf);

		snprintf(buf + n, size - n, "%s%s", sep, words[i]);
	}
	return buf;
}

/* --- the tree into struct runtime --- */

/* A number from min to max: unquoted decimal, no sign or leading zero. */
static int parse_int(const struct yt_source *p, const char *what,
		     const struct yt_node *n, int min, int max, int *out)
{
	bool ok = n->type == YT_SCALAR && n->plain && n->len >= 1 &&
	    n->len <= 9 && strspn(n->value, DIGITS) == n->len &&
	    !(n->len > 1 && n->value[0] == '0');

	if (ok && (*out = atoi(n->value)) >= min && *out <= max)
		return KH_OK;
	return yt_bad(p, n->line, "%s must be an unquoted number %d-%d, not '%.40s'",
		      what, min, max, yt_show(n));
}

/* A string value for field f: a scalar that would not, written plain,
 * be a number, null or boolean; within the field's limits. *word is its
 * index in f->words if the field has such a list. */
static int check_string(const struct yt_source *p, const struct rt_field *f,
			const struct yt_node *v, int *word)
{
	char buf[128];

	if (v->type != YT_SCALAR)
		return yt_bad(p, v->line, "%s must be a string", f->name);
	if (v->plain && yt_needs_quotes(v->value))
		return yt_bad(p, v->line, "%s must be a string, not '%.40s' "
			      "(quote it if it is one)", f->name, v->value);
	if (strlen(v->value) != v->len)
		return yt_bad(p, v->line, "%s contains a NUL byte", f->name);
	if (f->valid != NULL && !f->valid(v->value))
		return yt_bad(p, v->line, "invalid %s '%.40s'", f->name, v->value);
	if (f->words != NULL && (*word = rt_word_index(f->words, v->value)) < 0)
		return yt_bad(p, v->line, "invalid %s '%.40s' (expected %s)",
			      f->name, v->value,
			      join_words(f->words, buf, sizeof(buf)));
	if (f->type == RT_T_CHARS && v->len >= f->size)
		return yt_bad(p, v->line, "%s is longer than %zu bytes", f->name,
			      f->size - 1);
	return KH_OK;
}

static int parse_field(const struct yt_source *p, struct rt_device *d,
		       const struct rt_field *f, const struct yt_node *v)
{
	char *at = (char *)d + f->off;
	int rc, word = 0;

	if (f->type == RT_T_INT)
		return parse_int(p, f->name, v, f->min, f->max, (int *)at);
	if ((rc = check_string(p, f, v, &word)) != KH_OK)
		return rc;
	switch (f->type) {
	case RT_T_KIND:
		d->kind = word;
		break;
	case RT_T_STATE:
		d->state = word;
		break;
	case RT_T_CHARS:
		memcpy(at, v->value, v->len + 1);
		if (f->flags & RT_LOWER)
			rt_copy_lower(at, f->size, at);
		break;
	default:
		if ((*(char **)at = strdup(v->value)) == NULL)
			return nomem(p->e);
		break;
	}
	return KH_OK;
}

static int parse_device(const struct yt_source *p, struct runtime *rt,
			const struct yt_node *map)
{
	struct rt_device *d;
	int rc;

	if (map->type != YT_MAPPING)
		return yt_bad(p, map->line, "a device must be a mapping");
	if ((d = runtime_add_device(rt, p->e)) == NULL)
		return KH_EFAIL;
	d->source = map;
	/* kind comes first: which keys are ours depends on it */
	for (size_t i = 0; i < RT_NFIELDS; i++) {
		const struct rt_field *f = &rt_fields[i];
		const struct yt_node *v = yt_map_get(map, f->name);

		if (!rt_field_applies(f, d->kind))
			continue;
		if (v == NULL && (required & RT_FIELD_BIT(i)))
			return yt_bad(p, map->line,
				      "device lacks required key '%s'", f->name);
		if (v != NULL && (rc = parse_field(p, d, f, v)) != KH_OK)
			return rc;
	}
	if (strcmp(d->bus, PCI_HOTPLUG_BUS) == 0 &&
	    (rt->reserved & (UINT32_C(1) << d->slot)))
		return yt_bad(p, yt_map_get(map, "slot")->line,
			      "slot %d on %s is reserved", d->slot, d->bus);
	return KH_OK;
}

#define DEV(a)	(*(struct rt_device *const *)(a))

static int source_line(const struct rt_device *d)
{
	return ((const struct yt_node *)d->source)->line;
}

static int cmp_uuid(const void *a, const void *b)
{
	return strcmp(DEV(a)->uuid, DEV(b)->uuid);
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(DEV(a)->id, DEV(b)->id);
}

static int cmp_place(const void *a, const void *b)
{
	int c = strcmp(DEV(a)->bus, DEV(b)->bus);

	return c != 0 ? c : DEV(a)->slot - DEV(b)->slot;
}

/* What two devices must not share, in the order it is checked. */
static int (*const unique[])(const void *, const void *) = {
	cmp_uuid, cmp_id, cmp_place
};

static int duplicate(const struct yt_source *p, int (*cmp)(const void *, const void *),
		     const struct rt_device *a, const struct rt_device *b)
{
	int first = source_line(a), line = source_line(b);

	if (first > line) {
		first = line;
		line = source_line(a);
	}
	if (cmp == cmp_uuid)
		return yt_bad(p, line, "duplicate uuid %s (lines %d and %d)",
			      a->uuid, first, line);
	if (cmp == cmp_id)
		return yt_bad(p, line, "duplicate id %s (lines %d and %d)", a->id,
			      first, line);
	return yt_bad(p, line, "two devices on %s slot %d (lines %d and %d)",
		      a->bus, a->slot, first, line);
}

/* Sorted, like check_keys(), to stay n log n on a hostile file. */
static int check_unique(const struct yt_source *p, const struct runtime *rt)
{
	struct rt_device **v;
	int rc = KH_OK;

	if (rt->ndev < 2)
		return KH_OK;
	if ((v = calloc(rt->ndev, sizeof(*v))) == NULL)
		return nomem(p->e);
	for (size_t i = 0; i < rt->ndev; i++)
		v[i] = &rt->dev[i];
	for (size_t u = 0; u < sizeof(unique) / sizeof(unique[0]); u++) {
		qsort(v, rt->ndev, sizeof(*v), unique[u]);
		for (size_t i = 1; i < rt->ndev && rc == KH_OK; i++)
			if (unique[u](&v[i - 1], &v[i]) == 0)
				rc = duplicate(p, unique[u], v[i - 1], v[i]);
	}
	free(v);
	return rc;
}

static int parse_reserved(const struct yt_source *p, struct runtime *rt,
			  const struct yt_node *seq)
{
	int rc, slot;

	rt->reserved = RT_RESERVED;
	if (seq == NULL)
		return KH_OK;
	if (seq->type != YT_SEQUENCE)
		return yt_bad(p, seq->line, "reserved-slots must be a sequence");
	rt->reserved = 0;
	for (size_t i = 0; i < seq->n; i++) {
		if ((rc = parse_int(p, "a reserved slot", seq->item[i], 0,
				    PCI_SLOTS - 1, &slot)) != KH_OK)
			return rc;
		rt->reserved |= UINT32_C(1) << slot;
	}
	return KH_OK;
}

static int parse_devices(const struct yt_source *p, struct runtime *rt,
			 const struct yt_node *seq)
{
	int rc;

	if (seq == NULL)
		return KH_OK;
	if (seq->type != YT_SEQUENCE)
		return yt_bad(p, seq->line, "devices must be a sequence");
	for (size_t i = 0; i < seq->n; i++)
		if ((rc = parse_device(p, rt, seq->item[i])) != KH_OK)
			return rc;
	return check_unique(p, rt);
}

/* vm-name and vm-uuid, each optional. */
static int parse_vm(const struct yt_source *p, struct runtime *rt)
{
	const struct yt_node *name = yt_map_get(rt->doc, "vm-name");
	const struct yt_node *uuid = yt_map_get(rt->doc, "vm-uuid");
	int rc, word;

	if (name != NULL) {
		if ((rc = check_string(p, &vm_fields[0], name, &word)) != KH_OK)
			return rc;
		if ((rt->vm_name = strdup(name->value)) == NULL)
			return nomem(p->e);
	}
	if (uuid != NULL) {
		if ((rc = check_string(p, &vm_fields[1], uuid, &word)) != KH_OK)
			return rc;
		rt_copy_lower(rt->vm_uuid, sizeof(rt->vm_uuid), uuid->value);
	}
	return KH_OK;
}

static int parse_runtime(const struct yt_source *p, struct runtime *rt)
{
	const struct yt_node *v = yt_map_get(rt->doc, "version");
	int rc;

	if (v == NULL)
		return yt_bad(p, rt->doc->line, "missing key 'version'");
	if (v->type != YT_SCALAR || !v->plain || !yt_key_is(v, RT_VERSION))
		return yt_bad(p, v->line, "unsupported version '%.40s' (this "
			      "program reads the unquoted number %s)", yt_show(v),
			      RT_VERSION);
	if ((rc = parse_vm(p, rt)) != KH_OK ||
	    (rc = parse_reserved(p, rt, yt_map_get(rt->doc, "reserved-slots")))
	    != KH_OK)
		return rc;
	return parse_devices(p, rt, yt_map_get(rt->doc, "devices"));
}

/* Forgets the devices and the parsed file; keeps path, lock, temp. */
static void clear_contents(struct runtime *rt)
{
	rt_file_clear(&rt->file);
	yt_free(rt->doc);
	rt->doc = NULL;
	json_decref(rt->ganeti);
	rt->ganeti = NULL;
	rt->format = RT_NATIVE;
}

/* Replaces what rt holds. On failure rt is left empty. */
int runtime_parse(struct runtime *rt, const char *name, const char *buf,
		  size_t len, struct error *e)
{
	struct yt_source p = { .name = name, .buf = buf, .len = len, .e = e };
	int rc;

	clear_contents(rt);
	if (len > RT_MAX_SIZE)
		return error_set(e, KH_EUSAGE, "%s: larger than %d MiB, "
				 "refusing to read it", name, RT_MAX_SIZE >> 20);
	/* neither format has one, and a rewrite would not keep it */
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		return error_set(e, KH_EUSAGE, "%s: line 1: starts with a UTF-8 byte order "
				 "mark, which neither YAML here nor Ganeti's JSON "
				 "has: remove it (the first 3 bytes)", name);
	if (ganeti_is_json(buf, len)) {
		if ((rc = ganeti_parse(rt, name, buf, len, e)) != KH_OK)
			clear_contents(rt);
		return rc;
	}
	rc = yt_parse(&p, &rt->doc);
	if (rc == KH_OK)
		rc = parse_runtime(&p, rt);
	if (rc != KH_OK)
		clear_contents(rt);
	return rc;
}

/* --- formatting --- */

static int device_lookup(const struct yt_node *key, const void *obj)
{
	const struct rt_device *d = obj;

	/* a key can mean different things to a disk and a nic ("mode") */
	for (size_t i = 0; i < RT_NFIELDS; i++)
		if (yt_key_is(key, rt_fields[i].name) &&
		    rt_field_applies(&rt_fields[i], d->kind))
			return (int)i;
	return -1;
}

static int device_emit(struct yt_emitter *m, const void *obj, size_t k)
{
	const struct rt_device *d = obj;
	const struct rt_field *f = &rt_fields[k];
	const char *v;
	char num[16];
	int rc;

	if (!rt_field_applies(f, d->kind) ||
	    (v = rt_field_text(d, f, num, sizeof(num))) == NULL)
		return KH_OK;
	if ((rc = yt_emit_key(m, f->name)) != KH_OK)
		return rc;
	if (f->type == RT_T_INT)
		return yt_emit_plain(m, v);
	return yt_emit_string(m, v);
}

static const struct yt_keyset device_keys = {
	RT_NFIELDS, device_lookup, device_emit
};

static int emit_reserved(struct yt_emitter *m, uint32_t reserved)
{
	char num[16];
	int rc = yt_emit_start(m, YT_SEQUENCE, true);

	for (int s = 0; s < PCI_SLOTS && rc == KH_OK; s++) {
		if (!(reserved & (UINT32_C(1) << s)))
			continue;
		snprintf(num, sizeof(num), "%d", s);
		rc = yt_emit_plain(m, num);
	}
	return rc == KH_OK ? yt_emit_end(m, YT_SEQUENCE) : rc;
}

static int emit_devices(struct yt_emitter *m, const struct runtime *rt)
{
	int rc = yt_emit_start(m, YT_SEQUENCE, false);

	for (size_t i = 0; i < rt->ndev && rc == KH_OK; i++)
		rc = yt_emit_merged(m, (const struct yt_node *)rt->dev[i].source, &device_keys,
				    &rt->dev[i]);
	return rc == KH_OK ? yt_emit_end(m, YT_SEQUENCE) : rc;
}

static int top_lookup(const struct yt_node *key, const void *obj)
{
	(void)obj;
	for (int k = 0; k < NTOP; k++)
		if (yt_key_is(key, top_keys[k]))
			return k;
	return -1;
}

static int top_emit(struct yt_emitter *m, const void *obj, size_t k)
{
	const struct runtime *rt = obj;
	int rc;

	if ((k == TOP_VM_NAME && rt->vm_name == NULL) ||
	    (k == TOP_VM_UUID && rt->vm_uuid[0] == '\0'))
		return KH_OK;	/* the file names no VM */
	if ((rc = yt_emit_key(m, top_keys[k])) != KH_OK)
		return rc;
	switch (k) {
	case TOP_VERSION:
		return yt_emit_plain(m, RT_VERSION);
	case TOP_VM_NAME:
		return yt_emit_string(m, rt->vm_name);
	case TOP_VM_UUID:
		return yt_emit_string(m, rt->vm_uuid);
	case TOP_RESERVED:
		return emit_reserved(m, rt->reserved);
	default:
		return emit_devices(m, rt);
	}
}

static const struct yt_keyset top_keyset = { NTOP, top_lookup, top_emit };

int runtime_format(const struct runtime *rt, char **out, size_t *len,
		   struct error *e)
{
	if (rt->format == RT_GANETI)
		return ganeti_format(rt, out, len, e);
	return yt_write(rt->doc, &top_keyset, rt, out, len, e);
}

/* --- another writer: what this run read, and merging into a newer file --- */

static struct rt_device *find_uuid_in(struct rt_device *v, size_t n,
				      const char *uuid)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].uuid, uuid) == 0)
			return &v[i];
	return NULL;
}

static void forget_seen(struct runtime *rt)
{
	while (rt->nbase > 0)
		rt_device_release(&rt->base[--rt->nbase]);
	free(rt->base);
	rt->base = NULL;
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
	forget_seen(rt);
	file_id(&rt->seen, st);
	if (rt->ndev > 0 && (rt->base = calloc(rt->ndev, sizeof(*rt->base))) == NULL)
		return nomem(e);
	for (; rt->nbase < rt->ndev; rt->nbase++)
		if (rt_device_copy(&rt->base[rt->nbase], &rt->dev[rt->nbase], e) != KH_OK)
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
 * run read it if was_there, and its Ganeti entry then lived in the old
 * file: a new entry is made for it if they have none. */
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
static int apply_mine(struct runtime *theirs, const struct runtime *mine,
			 struct error *e)
{
	struct rt_device *b, *t;

	for (size_t i = 0; i < mine->ndev; i++) {
		const struct rt_device *d = &mine->dev[i];

		b = find_uuid_in(mine->base, mine->nbase, d->uuid);
		if (b != NULL && rt_device_same(b, d))
			continue;
		t = runtime_find_uuid(theirs, d->uuid);
		if (put_device(theirs, t, d, b != NULL, e) != KH_OK)
			return e->code;
	}
	for (size_t i = 0; i < mine->nbase; i++)
		if (find_uuid_in(mine->dev, mine->ndev, mine->base[i].uuid) == NULL &&
		    (t = runtime_find_uuid(theirs, mine->base[i].uuid)) != NULL)
			runtime_remove_device(theirs, (size_t)(t - theirs->dev));
	if (theirs->vm_name == NULL && mine->vm_name != NULL &&
	    (theirs->vm_name = strdup(mine->vm_name)) == NULL)
		return nomem(e);
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
	rt->doc = theirs->doc;
	rt->format = theirs->format;
	rt->ganeti = theirs->ganeti;
	rt->ganeti_hvinfo = theirs->ganeti_hvinfo;
	rt->seen = theirs->seen;
	rt->base = theirs->base;
	rt->nbase = theirs->nbase;
	rt_file_init(&theirs->file);
	theirs->base = NULL;
	theirs->nbase = 0;
	theirs->doc = NULL;
	theirs->ganeti = NULL;
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
		return nomem(e);
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

/* Reads fd whole, but never more than one byte over RT_MAX_SIZE: that
 * is enough for runtime_parse() to refuse it. */
static int read_all(int fd, const char *path, char **out, size_t *len,
		    struct error *e)
{
	size_t n = 0, cap = 0;
	char *buf = NULL, *nbuf;
	ssize_t r;

	for (;;) {
		if (n == cap && cap > RT_MAX_SIZE)
			break;
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			cap = cap > RT_MAX_SIZE ? RT_MAX_SIZE + 1 : cap;
			if ((nbuf = realloc(buf, cap)) == NULL) {
				free(buf);
				return nomem(e);
			}
			buf = nbuf;
		}
		if ((r = read(fd, buf + n, cap - n)) == 0)
			break;
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			free(buf);
			return error_set(e, KH_EFAIL, "%s: %s", path,
					 strerror(errno));
		}
		n += r;
	}
	*out = buf;
	*len = n;
	return KH_OK;
}

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

int runtime_load(struct runtime *rt, bool create, struct error *e)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, rc;

	if (rt->path == NULL)
		return error_set(e, KH_EFAIL, "no runtime file to load");
	rt->exists = false;
	/* O_NONBLOCK: opening a FIFO must not hang */
	fd = open(rt->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd == -1 && errno == ENOENT && create) {
		clear_contents(rt);
		return remember_seen(rt, NULL, e);
	}
	if (fd == -1 && errno == ENOENT)
		return error_set(e, KH_EUSAGE, "%s: no such runtime file",
				 rt->path);
	if ((rc = check_regular(fd, rt->path, e)) != KH_OK)
		return rc;
	if (fstat(fd, &st) == -1)
		rc = error_set(e, KH_EFAIL, "%s: %s", rt->path, strerror(errno));
	else
		rc = read_all(fd, rt->path, &buf, &len, e);
	close(fd);
	if (rc != KH_OK)
		return rc;
	rc = runtime_parse(rt, rt->path, buf, len, e);
	free(buf);
	rt->exists = rc == KH_OK;
	return rc == KH_OK ? remember_seen(rt, &st, e) : rc;
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

static int write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
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
		return nomem(e);
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
	char a[16];

	for (size_t i = 0; i < rt->ndev; i++) {
		const struct rt_device *d = &rt->dev[i];
		struct rt_device *r = runtime_find_uuid((struct runtime *)back,
							d->uuid);

		for (size_t k = 0; k < RT_NFIELDS; k++) {
			const struct rt_field *f = &rt_fields[k];
			const char *want;

			if (f->type == RT_T_STATE || !rt_field_applies(f, d->kind) ||
			    (rt->format == RT_GANETI && (native_only & RT_FIELD_BIT(k))))
				continue;
			if (r != NULL && rt_field_same(d, r, f))
				continue;
			want = rt_field_text(d, f, a, sizeof(a));
			return error_set(e, KH_EUSAGE, "%s: this %s file "
					 "cannot record %s '%.60s' of %s %s",
					 rt->path, rt->format == RT_GANETI ?
					 "Ganeti runtime" : "runtime", f->name,
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
	if (write_all(fd, text, len) == -1)
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

/* Makes the rename durable. */
static int sync_dir(const char *path, struct error *e)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, rc = KH_OK;

	dir = slash == NULL ? strdup(".") : slash == path ? strdup("/") :
	    strndup(path, slash - path);
	if (dir == NULL)
		return nomem(e);
	if ((fd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC)) == -1 ||
	    fsync(fd) == -1)
		rc = error_set(e, KH_EFAIL, "%s: written, but syncing %s "
			       "failed: %s", path, dir, strerror(errno));
	if (fd != -1)
		close(fd);
	free(dir);
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
	if (sync_dir(rt->path, e) != KH_OK)
		return e->code;
	return remember_seen(rt, lstat(rt->path, &st) == 0 ? &st : NULL, e);
}

int runtime_commit_side_files(const struct runtime *rt, struct error *e)
{
	return rt->format == RT_GANETI ? ganeti_commit_nic_files(rt, e) : KH_OK;
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

static volatile sig_atomic_t lock_timed_out;

static void lock_alarm(int sig)
{
	(void)sig;
	lock_timed_out = 1;
}

static struct timeval ms_to_tv(long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	return tv;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	    (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Puts back the caller's timer, less the time we spent. */
static void restore_timer(struct itimerval *old, const struct timespec *t0)
{
	long left;

	if (!timerisset(&old->it_value))
		return;		/* there was none; ours is already off */
	left = old->it_value.tv_sec * 1000 + old->it_value.tv_usec / 1000 -
	    ms_since(t0);
	old->it_value = ms_to_tv(left > 0 ? left : 1);
	setitimer(ITIMER_REAL, old, NULL);
}

/* flock() with a deadline. SIGALRM, without SA_RESTART, interrupts it
 * with EINTR. The timer keeps firing every 10 ms after the deadline so
 * that a signal landing just before flock() is entered cannot leave us
 * blocked for good. Returns 0, ETIMEDOUT or an errno. */
static int flock_timeout(int fd, int op, int timeout_ms)
{
	struct sigaction sa = { .sa_handler = lock_alarm }, old_sa;
	struct itimerval it = {
		.it_value = ms_to_tv(timeout_ms), .it_interval = ms_to_tv(10)
	};
	struct itimerval off = { { 0, 0 }, { 0, 0 } }, old_it = off;
	struct timespec t0;
	int rc = 0;

	if (flock(fd, op | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK)
		return errno;
	if (timeout_ms <= 0)
		return ETIMEDOUT;
	sigemptyset(&sa.sa_mask);
	lock_timed_out = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (sigaction(SIGALRM, &sa, &old_sa) == -1)
		return errno;
	if (setitimer(ITIMER_REAL, &it, &old_it) == -1)
		rc = errno;
	while (rc == 0 && flock(fd, op) == -1)
		rc = errno != EINTR ? errno : lock_timed_out ? ETIMEDOUT : 0;
	/* ours off before the caller's handler is back, then theirs on */
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old_sa, NULL);
	restore_timer(&old_it, &t0);
	return rc;
}

/* The lock is on a file of its own, because the runtime file is replaced
 * on every write. It is never removed: that would let two processes lock
 * two different files. */
/* Opens PATH.lock: for a writer created if missing; a reader takes an
 * existing one read-only where it may not create or write (a read-only
 * filesystem), and none at all where there is none (-1 with err 0). */
static int open_lock(const char *lock_path, bool shared, int *err)
{
	int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	*err = fd == -1 ? errno : 0;
	if (fd != -1 || !shared || (errno != EROFS && errno != EACCES))
		return fd;
	fd = open(lock_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	*err = fd == -1 && errno != ENOENT ? errno : 0;
	return fd;
}

static int lock(struct runtime *rt, const char *path, int timeout_ms,
		bool shared, struct error *e)
{
	char *lock_path, *copy = NULL;
	int fd, err, rc = KH_OK;

	if (asprintf(&lock_path, "%s.lock", path) == -1)
		return nomem(e);
	fd = open_lock(lock_path, shared, &err);
	if (fd != -1)
		err = flock_timeout(fd, shared ? LOCK_SH : LOCK_EX, timeout_ms);
	if (err == ETIMEDOUT)
		rc = error_set(e, KH_ETIMEOUT, "%s is locked by another "
			       "process (waited %.1f s)", path,
			       timeout_ms / 1000.0);
	else if (err != 0)
		rc = error_set(e, KH_EFAIL, "%s: %s", lock_path, strerror(err));
	else if ((copy = strdup(path)) == NULL)
		rc = nomem(e);
	free(lock_path);
	if (rc != KH_OK) {
		if (fd != -1)
			close(fd);
		return rc;
	}
	free(rt->path);
	rt->path = copy;
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
}

void runtime_close(struct runtime *rt)
{
	runtime_discard(rt);
	clear_contents(rt);
	forget_seen(rt);
	free(rt->path);
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
		      const char *uuid, int slot, char *out, size_t size,
		      struct error *e)
{
	return rt_device_id(rt->format == RT_GANETI && rt->ganeti_hvinfo ?
			    RT_ID_UUID : RT_ID_SLOT, kind, uuid, slot, out,
			    size, e);
}

bool runtime_records_unplugging(const struct runtime *rt)
{
	return rt->format != RT_GANETI;
}

uint32_t runtime_used_slots(const struct runtime *rt, const char *bus)
{
	return rt_file_used_slots(&rt->file, bus);
}

void runtime_device_defaults(const struct runtime *rt, struct rt_device *d)
{
	if (rt->format == RT_GANETI) {
		ganeti_device_defaults(rt, d);
		return;
	}
	snprintf(d->cache, sizeof(d->cache), "default");
	snprintf(d->discard, sizeof(d->discard), "ignore");
	d->queues = 1;
	d->vhost[0] = '\0';
	if (d->kind == RT_NIC)
		tap_name_for_uuid(d->uuid, d->tap, sizeof(d->tap));
}

/* --- the intent record: what a run is about to do to the VM --- */

static char *intent_path(const struct runtime *rt)
{
	char *p;

	return asprintf(&p, "%s.intent", rt->path) == -1 ? NULL : p;
}

int runtime_intent_write(struct runtime *rt, json_t *intent, struct error *e)
{
	char *path = intent_path(rt), *tmp = NULL, *text = NULL;
	int fd = -1, rc = KH_OK;

	if (path == NULL || asprintf(&tmp, "%s.tmp", path) == -1 ||
	    (text = json_dumps(intent, JSON_COMPACT)) == NULL) {
		rc = nomem(e);
		goto out;
	}
	/* written and synced before QEMU changes, so a crash leaves it */
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		       0600)) == -1 || write_all(fd, text, strlen(text)) == -1 ||
	    fsync(fd) == -1 || rename(tmp, path) == -1)
		rc = error_set(e, KH_EFAIL, "%s: %s", path, strerror(errno));
	if (rc == KH_OK)
		rc = sync_dir(path, e);
out:
	if (fd != -1)
		close(fd);
	if (rc != KH_OK && tmp != NULL)
		unlink(tmp);
	free(text);
	free(tmp);
	free(path);
	return rc;
}

int runtime_intent_read(struct runtime *rt, json_t **intent, struct error *e)
{
	char *path = intent_path(rt);
	json_error_t jerr;

	*intent = NULL;
	if (path == NULL)
		return nomem(e);
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
	struct error ignored = { 0 };

	if (path != NULL && unlink(path) == 0)
		sync_dir(path, &ignored);
	free(path);
}
