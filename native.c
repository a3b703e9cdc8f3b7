/*
 * The native runtime file, kvm-hotplug-runtime(5): see native.h. The
 * schema on top of the YAML tree: version, vm-name, vm-uuid,
 * reserved-slots, buses, fd-pass and devices, each device a mapping with
 * the model's fields (rt_fields) under their names. What is read is
 * checked with line numbers; keys this version does not know are kept in
 * the tree, and so are buses and fd-pass, which the tool reads and never
 * changes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "native.h"
#include "yamltree.h"

#define RT_VERSION	"1"
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

/* --- reading: the tree into the model --- */

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
		return yt_bad(p, v->line, "invalid %s '%.40s'%s%s%s", f->name,
			      v->value, f->rule != NULL ? " (must be " : "",
			      f->rule != NULL ? f->rule : "",
			      f->rule != NULL ? ")" : "");
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
			return error_nomem(p->e);
		break;
	}
	return KH_OK;
}

static int parse_device(const struct yt_source *p, struct rt_file *f,
			const struct yt_node *map)
{
	struct rt_device *d;
	int rc;

	if (map->type != YT_MAPPING)
		return yt_bad(p, map->line, "a device must be a mapping");
	if ((d = rt_file_add_device(f, p->e)) == NULL)
		return KH_EFAIL;
	d->source = map;
	/* kind comes first: which keys are ours depends on it */
	for (size_t i = 0; i < RT_NFIELDS; i++) {
		const struct rt_field *field = &rt_fields[i];
		const struct yt_node *v = yt_map_get(map, field->name);

		if (!rt_field_applies(field, d->kind))
			continue;
		if (v == NULL && (required & RT_FIELD_BIT(i)))
			return yt_bad(p, map->line, "device lacks required "
				      "key '%s'", field->name);
		if (v != NULL && (rc = parse_field(p, d, field, v)) != KH_OK)
			return rc;
	}
	if (rt_file_reserved(f, d->bus) & (UINT32_C(1) << d->slot))
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

static int duplicate(const struct yt_source *p,
		     int (*cmp)(const void *, const void *),
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

/* Sorted, like yamltree.c's keys, to stay n log n on a hostile file. */
static int check_unique(const struct yt_source *p, const struct rt_file *f)
{
	struct rt_device **v;
	int rc = KH_OK;

	if (f->ndev < 2)
		return KH_OK;
	if ((v = calloc(f->ndev, sizeof(*v))) == NULL)
		return error_nomem(p->e);
	for (size_t i = 0; i < f->ndev; i++)
		v[i] = &f->dev[i];
	for (size_t u = 0; u < sizeof(unique) / sizeof(unique[0]); u++) {
		qsort(v, f->ndev, sizeof(*v), unique[u]);
		for (size_t i = 1; i < f->ndev && rc == KH_OK; i++)
			if (unique[u](&v[i - 1], &v[i]) == 0)
				rc = duplicate(p, unique[u], v[i - 1], v[i]);
	}
	free(v);
	return rc;
}

/* A reserved-slots sequence into *mask. */
static int parse_slots(const struct yt_source *p, const struct yt_node *seq,
		       uint32_t *mask)
{
	int rc, slot;

	if (seq->type != YT_SEQUENCE)
		return yt_bad(p, seq->line, "reserved-slots must be a sequence");
	*mask = 0;
	for (size_t i = 0; i < seq->n; i++) {
		if ((rc = parse_int(p, "a reserved slot", seq->item[i], 0,
				    PCI_SLOTS - 1, &slot)) != KH_OK)
			return rc;
		*mask |= UINT32_C(1) << slot;
	}
	return KH_OK;
}

static int parse_reserved(const struct yt_source *p, struct rt_file *f,
			  const struct yt_node *seq)
{
	f->reserved = RT_RESERVED;
	return seq == NULL ? KH_OK : parse_slots(p, seq, &f->reserved);
}

/* One entry of buses: a bus's name, or a mapping of its name and its
 * reserved-slots (pci.0's are the file's reserved-slots). */
static int parse_bus(const struct yt_source *p, struct rt_file *f,
		     const struct yt_node *item)
{
	static const struct rt_field name_field = {
		.name = "a bus's name", .type = RT_T_CHARS, .size = RT_BUS_MAX,
		.valid = bus_is_valid, .rule = "letters, digits, '.', '_', '-'",
	};
	const struct yt_node *name = item, *slots = NULL;
	uint32_t reserved = 0;
	int rc, word;

	if (item->type == YT_MAPPING) {
		for (size_t k = 0; k < item->n; k += 2)
			if (!yt_key_is(item->item[k], "name") &&
			    !yt_key_is(item->item[k], "reserved-slots"))
				return yt_bad(p, item->item[k]->line, "a bus has "
					      "name and reserved-slots, not "
					      "'%.40s'", yt_show(item->item[k]));
		if ((name = yt_map_get(item, "name")) == NULL)
			return yt_bad(p, item->line, "a bus lacks its name");
		slots = yt_map_get(item, "reserved-slots");
	}
	if ((rc = check_string(p, &name_field, name, &word)) != KH_OK ||
	    (slots != NULL && (rc = parse_slots(p, slots, &reserved)) != KH_OK))
		return rc;
	if (slots != NULL && strcmp(name->value, PCI_HOTPLUG_BUS) == 0)
		return yt_bad(p, slots->line, "pci.0's reserved slots are the "
			      "file's reserved-slots");
	for (size_t i = 0; i < f->nbuses; i++)
		if (strcmp(f->buses[i].name, name->value) == 0)
			return yt_bad(p, name->line, "bus %s is listed twice",
				      name->value);
	return rt_file_add_bus(f, name->value, reserved, p->e);
}

static int parse_buses(const struct yt_source *p, struct rt_file *f,
		       const struct yt_node *seq)
{
	int rc;

	if (seq == NULL)
		return KH_OK;
	if (seq->type != YT_SEQUENCE || seq->n == 0)
		return yt_bad(p, seq->line, "buses must be a sequence of at "
			      "least one bus");
	for (size_t i = 0; i < seq->n; i++)
		if ((rc = parse_bus(p, f, seq->item[i])) != KH_OK)
			return rc;
	return KH_OK;
}

static int parse_devices(const struct yt_source *p, struct rt_file *f,
			 const struct yt_node *seq)
{
	int rc;

	if (seq == NULL)
		return KH_OK;
	if (seq->type != YT_SEQUENCE)
		return yt_bad(p, seq->line, "devices must be a sequence");
	for (size_t i = 0; i < seq->n; i++)
		if ((rc = parse_device(p, f, seq->item[i])) != KH_OK)
			return rc;
	return check_unique(p, f);
}

/* fd-pass, optional: how disks reach QEMU. */
static int parse_fd_pass(const struct yt_source *p, struct rt_file *f,
			 const struct yt_node *v)
{
	static const struct rt_field field = {
		.name = "fd-pass", .type = RT_T_CHARS, .size = 8,
		.words = rt_fd_passes,
	};
	int rc, word;

	if (v == NULL)
		return KH_OK;
	if ((rc = check_string(p, &field, v, &word)) != KH_OK)
		return rc;
	/* auto is what no key says */
	if (strcmp(v->value, "auto") != 0)
		snprintf(f->fd_pass, sizeof(f->fd_pass), "%s", v->value);
	return KH_OK;
}

/* vm-name and vm-uuid, each optional. */
static int parse_vm(const struct yt_source *p, struct rt_file *f,
		    const struct yt_node *doc)
{
	const struct yt_node *name = yt_map_get(doc, "vm-name");
	const struct yt_node *uuid = yt_map_get(doc, "vm-uuid");
	int rc, word;

	if (name != NULL) {
		if ((rc = check_string(p, &vm_fields[0], name, &word)) != KH_OK)
			return rc;
		if ((f->vm_name = strdup(name->value)) == NULL)
			return error_nomem(p->e);
	}
	if (uuid != NULL) {
		if ((rc = check_string(p, &vm_fields[1], uuid, &word)) != KH_OK)
			return rc;
		rt_copy_lower(f->vm_uuid, sizeof(f->vm_uuid), uuid->value);
	}
	return KH_OK;
}

static int parse_document(const struct yt_source *p, struct rt_file *f,
			  const struct yt_node *doc)
{
	const struct yt_node *v = yt_map_get(doc, "version");
	int rc;

	if (v == NULL)
		return yt_bad(p, doc->line, "missing key 'version'");
	if (v->type != YT_SCALAR || !v->plain || !yt_key_is(v, RT_VERSION))
		return yt_bad(p, v->line, "unsupported version '%.40s' (this "
			      "program reads the unquoted number %s)", yt_show(v),
			      RT_VERSION);
	if ((rc = parse_vm(p, f, doc)) != KH_OK ||
	    (rc = parse_reserved(p, f, yt_map_get(doc, "reserved-slots")))
	    != KH_OK ||
	    (rc = parse_buses(p, f, yt_map_get(doc, "buses"))) != KH_OK ||
	    (rc = parse_fd_pass(p, f, yt_map_get(doc, "fd-pass"))) != KH_OK)
		return rc;
	return parse_devices(p, f, yt_map_get(doc, "devices"));
}

/* --- writing --- */

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

static int emit_devices(struct yt_emitter *m, const struct rt_file *f)
{
	int rc = yt_emit_start(m, YT_SEQUENCE, false);

	for (size_t i = 0; i < f->ndev && rc == KH_OK; i++)
		rc = yt_emit_merged(m, f->dev[i].source, &device_keys,
				    &f->dev[i]);
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
	const struct rt_file *f = obj;
	int rc;

	if ((k == TOP_VM_NAME && f->vm_name == NULL) ||
	    (k == TOP_VM_UUID && f->vm_uuid[0] == '\0'))
		return KH_OK;	/* the file names no VM */
	if ((rc = yt_emit_key(m, top_keys[k])) != KH_OK)
		return rc;
	switch (k) {
	case TOP_VERSION:
		return yt_emit_plain(m, RT_VERSION);
	case TOP_VM_NAME:
		return yt_emit_string(m, f->vm_name);
	case TOP_VM_UUID:
		return yt_emit_string(m, f->vm_uuid);
	case TOP_RESERVED:
		return emit_reserved(m, f->reserved);
	default:
		return emit_devices(m, f);
	}
}

static const struct yt_keyset top_keyset = { NTOP, top_lookup, top_emit };

/* --- the codec --- */

static int native_parse(struct rt_file *f, void **data, const char *path,
			const char *name, const char *buf, size_t len,
			struct error *e)
{
	struct yt_source p = { .name = name, .buf = buf, .len = len, .e = e };
	struct yt_node *doc;
	int rc;

	(void)path;	/* nothing beside the file */
	rc = yt_parse(&p, &doc);
	*data = doc;
	return rc == KH_OK ? parse_document(&p, f, doc) : rc;
}

static int native_serialise(const struct rt_file *f, const void *data,
			    const char *path, char **out, size_t *len,
			    struct error *e)
{
	(void)path;
	return yt_write(data, &top_keyset, f, out, len, e);
}

static void native_free(void *data)
{
	yt_free(data);
}

static void native_device_defaults(const void *data, struct rt_device *d)
{
	(void)data;
	snprintf(d->cache, sizeof(d->cache), "default");
	snprintf(d->discard, sizeof(d->discard), "ignore");
	d->queues = 1;
	d->vhost[0] = '\0';
	if (d->kind == RT_NIC)
		tap_name_for_uuid(d->uuid, d->tap, sizeof(d->tap));
}

static enum rt_id_scheme native_id_scheme(const void *data)
{
	(void)data;
	return RT_ID_SLOT;
}

const struct rt_codec native_codec = {
	.format = RT_NATIVE,
	.what = "runtime",
	.records_unplugging = true,
	.records_vm = true,
	.disks_as_drives = false,
	.aside_dir = NULL,
	.reserved_by = "reserved-slots",
	.only_bus = NULL,
	.only_bus_why = NULL,
	.unrecorded = 0,
	.recognise = NULL,	/* the last asked: YAML is anything else */
	.parse = native_parse,
	.serialise = native_serialise,
	.free_data = native_free,
	.device_defaults = native_device_defaults,
	.id_scheme = native_id_scheme,
	.has_other_entry = NULL,
	.commit_side_files = NULL,
};
