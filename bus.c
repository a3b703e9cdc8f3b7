/* The bus model: see bus.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "monitor.h"
#include "pci.h"

#define ROOT_PC		PCI_HOTPLUG_BUS	/* pc's root bus */
#define ROOT_PCIE	"pcie.0"	/* q35's, which takes no hotplug */
#define PERIPHERAL	"/machine/peripheral"
#define PERIPHERAL_ANON	"/machine/peripheral-anon"
#define SLOTS_ALL	UINT32_C(0xfffffffe)	/* 1-31 */
#define SLOT_ZERO	UINT32_C(0x1)
#define QOM_PATH_MAX	96	/* PERIPHERAL/ID/ID, ids of 31 at most */

/* --- the map --- */

void bus_map_free(struct bus_map *map)
{
	free(map->bus);
	free(map->dev);
	memset(map, 0, sizeof(*map));
}

struct bus *bus_find(const struct bus_map *map, const char *name)
{
	for (size_t i = 0; i < map->nbus; i++)
		if (strcmp(map->bus[i].name, name) == 0)
			return &map->bus[i];
	return NULL;
}

const struct bus_device *bus_device_find(const struct bus_map *map,
					 const char *id)
{
	for (size_t i = 0; i < map->ndev && id[0] != '\0'; i++)
		if (strcmp(map->dev[i].id, id) == 0)
			return &map->dev[i];
	return NULL;
}

/* The bus called name, added (its shape and hotplug unknown until QEMU
 * says) if the map lacks it; NULL on ENOMEM or for a name no bus can
 * have. */
static struct bus *bus_get(struct bus_map *map, const char *name,
			   struct error *e)
{
	struct bus *b = bus_find(map, name);

	if (b != NULL)
		return b;
	if (name[0] == '\0' || strlen(name) >= sizeof(b->name))
		return NULL;
	if ((b = reallocarray(map->bus, map->nbus + 1, sizeof(*b))) == NULL) {
		error_nomem(e);
		return NULL;
	}
	map->bus = b;
	b = &map->bus[map->nbus++];
	memset(b, 0, sizeof(*b));
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->shape = BUS_SHAPE_UNKNOWN;
	return b;
}

/* A device QEMU has at slot on bus: the slot is taken, and the device
 * (if it has an id) known to be there. */
static int located(struct bus_map *map, const char *id, const char *bus,
		   int slot, struct error *e)
{
	struct bus *b = bus_get(map, bus, e);
	struct bus_device *d;

	if (e->code != KH_OK)
		return e->code;
	if (b != NULL && slot >= 0 && slot < PCI_SLOTS)
		b->used |= UINT32_C(1) << slot;
	if (id[0] == '\0' || strlen(id) > RT_ID_MAX || bus_device_find(map, id))
		return KH_OK;
	if ((d = reallocarray(map->dev, map->ndev + 1, sizeof(*d))) == NULL)
		return error_nomem(e);
	map->dev = d;
	d = &map->dev[map->ndev++];
	snprintf(d->id, sizeof(d->id), "%s", id);
	snprintf(d->bus, sizeof(d->bus), "%s", bus);
	d->slot = slot;
	return KH_OK;
}

/* --- the survey: questions sent together, answers read in order --- */

enum ask_what {
	ASK_HANDLER,	/* a bus's hotplug-handler: "" for none */
	ASK_TYPE,	/* a bus's QOM type: PCIE (a port's link) or PCI */
	ASK_LIST,	/* a container's children (qom-list) */
	ASK_PARENT,	/* a device's parent_bus, */
	ASK_ADDR,	/* then its addr (devfn), asked right behind */
};

struct ask {
	enum ask_what what;
	char subject[QOM_PATH_MAX];	/* the bus, or a device's QOM path */
	unsigned long qid;
};

struct survey {
	struct monitor *m;
	unsigned what;
	struct bus_map *map;
	struct ask *ask;
	size_t nask;
	bool unnumbered;	/* a bridge query-pci cannot see behind */
	char parent[RT_BUS_MAX];	/* the last ASK_PARENT's bus */
	json_t *types;		/* each named device's QOM type: "child<...>" */
	struct error *e;
};

/* A bus's QOM path: the root's is its name, which QEMU resolves (it is
 * unique there); a bridge's or port's bus is the child of the device
 * that has its name (PERIPHERAL/br1/br1), where the short name would be
 * ambiguous. */
static void bus_path(const char *bus, char *out, size_t size)
{
	if (strcmp(bus, ROOT_PC) == 0 || strcmp(bus, ROOT_PCIE) == 0)
		snprintf(out, size, "%s", bus);
	else
		snprintf(out, size, PERIPHERAL "/%s/%s", bus, bus);
}

static int ask(struct survey *s, enum ask_what what, const char *subject)
{
	static const char *const property[] = {
		[ASK_HANDLER] = "hotplug-handler", [ASK_TYPE] = "type",
		[ASK_PARENT] = "parent_bus", [ASK_ADDR] = "addr",
	};
	struct ask *a = reallocarray(s->ask, s->nask + 1, sizeof(*a));
	char path[QOM_PATH_MAX];
	json_t *args;

	if (a == NULL)
		return error_nomem(s->e);
	s->ask = a;
	a = &s->ask[s->nask++];
	a->what = what;
	snprintf(a->subject, sizeof(a->subject), "%s", subject);
	if (what == ASK_LIST)
		return monitor_send(s->m, "qom-list", json_pack("{s:s}", "path",
				    subject), -1, &a->qid, s->e);
	if (what == ASK_HANDLER || what == ASK_TYPE)
		bus_path(subject, path, sizeof(path));
	else
		snprintf(path, sizeof(path), "%s", subject);
	args = json_pack("{s:s, s:s}", "path", path, "property", property[what]);
	return monitor_send(s->m, "qom-get", args, -1, &a->qid, s->e);
}

/* The last component of a QOM path: a bus's name. */
static const char *last_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? slash + 1 : path;
}

/* The id of the device at a QOM path of ours: its name under
 * PERIPHERAL, "" under PERIPHERAL_ANON (no id). */
static const char *device_name(const char *path)
{
	return strncmp(path, PERIPHERAL "/", strlen(PERIPHERAL "/")) == 0 ?
	       last_name(path) : "";
}

/* The QOM type of the device that has bus b ("child<pcie-root-port>"),
 * NULL where qom-list did not name it. */
static const char *device_type(const struct survey *s, const struct bus *b)
{
	return json_string_value(json_object_get(s->types, b->name));
}

/* A qom-list entry of container (PERIPHERAL or PERIPHERAL_ANON): its
 * type noted (a named one's), and where it is asked if query-pci could
 * not show it, and (a named one) whether it has a bus of its own: a
 * bridge behind a port, which query-pci shows only once the firmware
 * has run. */
static int list_entry(struct survey *s, const char *container, json_t *entry)
{
	const char *name = json_string_value(json_object_get(entry, "name"));
	const char *type = json_string_value(json_object_get(entry, "type"));
	char path[QOM_PATH_MAX];
	int n;

	if (name == NULL || type == NULL || strncmp(type, "child<", 6) != 0)
		return KH_OK;
	if (strcmp(container, PERIPHERAL) == 0 &&
	    json_object_set_new(s->types, name, json_string(type)) != 0)
		return error_nomem(s->e);
	if (!s->unnumbered || bus_device_find(s->map, name) != NULL)
		return KH_OK;
	n = snprintf(path, sizeof(path), "%s/%s", container, name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return KH_OK;	/* an id longer than QEMU allows */
	if (ask(s, ASK_PARENT, path) != KH_OK || ask(s, ASK_ADDR, path) != KH_OK)
		return s->e->code;
	if ((s->what & BUS_HOTPLUG) && strcmp(container, PERIPHERAL) == 0 &&
	    strlen(name) < RT_BUS_MAX)
		return ask(s, ASK_TYPE, name);
	return KH_OK;
}

/* Bus b's shape, and every other bus's whose device has the same QOM
 * type (a bus's type is its device class's: asked once per class). */
static void shape_all(struct survey *s, const struct bus *b, const char *type)
{
	const char *dev = device_type(s, b);
	enum bus_shape shape = type != NULL && strcmp(type, "PCIE") == 0 ?
			       BUS_SHAPE_PORT : BUS_SHAPE_BRIDGE;

	for (size_t i = 0; i < s->map->nbus; i++) {
		struct bus *o = &s->map->bus[i];
		const char *t = device_type(s, o);

		if (o->shape == BUS_SHAPE_UNKNOWN && t != NULL && dev != NULL &&
		    strcmp(t, dev) == 0)
			o->shape = shape;
	}
}

/* QEMU's answer ret to a (e: its refusal, cleared here where it only
 * means there is no such thing). */
static int answered(struct survey *s, const struct ask *a, json_t *ret)
{
	const char *str = json_string_value(ret);
	struct bus *b = bus_find(s->map, a->subject);
	size_t i;
	json_t *entry;

	if (s->e->code != KH_OK) {
		/* a refusal means: no such bus, or a device that is not on a
		 * PCI bus (no addr); a lost connection has no class */
		if (s->e->qmp_class[0] == '\0')
			return s->e->code;
		error_clear(s->e);
		if (a->what == ASK_PARENT)
			s->parent[0] = '\0';
		return KH_OK;
	}
	switch (a->what) {
	case ASK_HANDLER:
		if (b != NULL) {
			b->hotplug = str != NULL && str[0] != '\0';
			b->asked = true;
		}
		break;
	case ASK_TYPE:
		/* a device whose bus query-pci did not show has one */
		if (b == NULL && str != NULL)
			b = bus_get(s->map, a->subject, s->e);
		if (b != NULL)
			shape_all(s, b, str);
		break;
	case ASK_LIST:
		json_array_foreach(ret, i, entry)
			if (list_entry(s, a->subject, entry) != KH_OK)
				return s->e->code;
		break;
	case ASK_PARENT:
		snprintf(s->parent, sizeof(s->parent), "%s",
			 str != NULL ? last_name(str) : "");
		break;
	case ASK_ADDR:
		if (s->parent[0] != '\0' && json_is_integer(ret))
			return located(s->map, device_name(a->subject),
				       s->parent,
				       (int)(json_integer_value(ret) >> 3), s->e);
		break;
	}
	return s->e->code;
}

/* Reads the answers to every question asked, in order; answers may ask
 * more (a qom-list's entries), which are read too. */
static int read_answers(struct survey *s)
{
	static const char *const cmd[] = {
		[ASK_HANDLER] = "qom-get", [ASK_TYPE] = "qom-get",
		[ASK_LIST] = "qom-list", [ASK_PARENT] = "qom-get",
		[ASK_ADDR] = "qom-get",
	};

	for (size_t i = 0; i < s->nask && s->e->code == KH_OK; i++) {
		struct ask a = s->ask[i];	/* ask() may move the array */
		json_t *ret = NULL;

		monitor_reply(s->m, a.qid, cmd[a.what], &ret, s->e);
		answered(s, &a, ret);
		json_decref(ret);
	}
	s->nask = 0;
	return s->e->code;
}

static void seen_in_pci(const struct pci_seen *dev, void *arg)
{
	struct survey *s = arg;

	if (s->e->code != KH_OK)
		return;
	if (located(s->map, dev->id, dev->bus, dev->slot, s->e) != KH_OK)
		return;
	if (!dev->bridge)
		return;
	if (!dev->numbered)
		s->unnumbered = true;
	/* a bridge's bus is called by its id; one without has no name
	 * device_add could take */
	if (dev->id[0] != '\0')
		bus_get(s->map, dev->id, s->e);
}

/* Which root this is, where query-pci does not tell (a host bridge other
 * than i440FX): pci.0's hotplug handler, DeviceNotFound where there is
 * no pci.0 (q35's root is pcie.0, asked in round two). */
static int ask_root(struct survey *s, struct bus *b, const char **root)
{
	json_t *handler = NULL;
	struct ask a;

	if (ask(s, ASK_HANDLER, ROOT_PC) != KH_OK)
		return s->e->code;
	a = s->ask[0];
	s->nask = 0;
	monitor_reply(s->m, a.qid, "qom-get", &handler, s->e);
	if (s->e->code != KH_OK && s->e->qmp_class[0] != '\0' &&
	    strcmp(s->e->qmp_class, "DeviceNotFound") == 0) {
		error_clear(s->e);
		*root = ROOT_PCIE;
		snprintf(b->name, sizeof(b->name), "%s", ROOT_PCIE);
	} else {
		answered(s, &a, handler);
	}
	json_decref(handler);
	return s->e->code;
}

/* Round one: query-pci. pc's root (an i440FX host bridge) is pci.0 by
 * QEMU's own naming; whether it takes hotplug is asked in round two if
 * there are bridges (where the answer could change the choice), or by
 * placement as it needs (see bus_place). Any other machine is asked
 * which root it has now (ask_root): one more round. */
static int survey_pci(struct survey *s, const char **root)
{
	json_t *pci = NULL;
	struct bus *b;

	*root = ROOT_PC;
	if ((b = bus_get(s->map, ROOT_PC, s->e)) == NULL)
		return s->e->code;
	b->shape = BUS_SHAPE_ROOT;
	if (monitor_execute(s->m, "query-pci", NULL, &pci, s->e) == KH_OK &&
	    (!(s->what & BUS_HOTPLUG) || pci_root_is_i440fx(pci) ||
	     ask_root(s, b, root) == KH_OK))
		pci_walk(pci, *root, seen_in_pci, s);
	json_decref(pci);
	return s->e->code;
}

/* Round two: where query-pci could not see (qom-list of the containers,
 * and each device's place), and what devices the bridges and ports are;
 * pcie.0's hotplug. */
static int survey_qom(struct survey *s, const char *root)
{
	bool bridges = s->map->nbus > 1;
	const struct bus *r = bus_find(s->map, root);

	/* pcie.0's always (it decides q35's order); pci.0's where bridges
	 * could take the device instead */
	if ((s->what & BUS_HOTPLUG) && r != NULL && !r->asked &&
	    (strcmp(root, ROOT_PCIE) == 0 || bridges) &&
	    ask(s, ASK_HANDLER, root) != KH_OK)
		return s->e->code;
	if ((s->unnumbered || ((s->what & BUS_HOTPLUG) && bridges)) &&
	    ask(s, ASK_LIST, PERIPHERAL) != KH_OK)
		return s->e->code;
	if (s->unnumbered && ask(s, ASK_LIST, PERIPHERAL_ANON) != KH_OK)
		return s->e->code;
	return read_answers(s);
}

/* The last round: each bridge's or port's shape, from its bus's QOM type,
 * asked once per device type. */
static int survey_shapes(struct survey *s)
{
	if (!(s->what & BUS_HOTPLUG))
		return KH_OK;
	for (size_t i = 0; i < s->map->nbus; i++) {
		struct bus *b = &s->map->bus[i];
		bool asked = false;

		if (b->shape != BUS_SHAPE_UNKNOWN || device_type(s, b) == NULL)
			continue;
		/* one of its type asked already: its answer shapes this too */
		for (size_t k = 0; k < s->nask && !asked; k++) {
			const struct bus *o = bus_find(s->map, s->ask[k].subject);

			asked = o != NULL && strcmp(device_type(s, o),
						    device_type(s, b)) == 0;
		}
		if (!asked && ask(s, ASK_TYPE, b->name) != KH_OK)
			return s->e->code;
	}
	return read_answers(s);
}

int bus_survey(struct monitor *m, unsigned what, struct bus_map *map,
	       struct error *e)
{
	struct survey s = { .m = m, .what = what, .map = map, .e = e };
	const char *root;

	memset(map, 0, sizeof(*map));
	if ((s.types = json_object()) == NULL)
		return error_nomem(e);
	if (survey_pci(&s, &root) == KH_OK && survey_qom(&s, root) == KH_OK)
		survey_shapes(&s);
	json_decref(s.types);
	free(s.ask);
	return e->code;
}

int bus_ask_hotplug(struct monitor *m, struct bus_map *map,
		    const char *const *names, size_t n, struct error *e)
{
	struct survey s = { .m = m, .map = map, .e = e };

	for (size_t i = 0; i < n && e->code == KH_OK; i++) {
		const struct bus *b = bus_find(map, names[i]);

		if (b != NULL && !b->asked)
			ask(&s, ASK_HANDLER, b->name);
	}
	read_answers(&s);
	free(s.ask);
	return e->code;
}

int bus_has_device(struct monitor *m, const char *id, bool *has,
		   struct error *e)
{
	struct bus_map map;

	*has = bus_survey(m, BUS_WHERE, &map, e) == KH_OK &&
	       bus_device_find(&map, id) != NULL;
	bus_map_free(&map);
	return e->code;
}

/* --- placement --- */

uint32_t bus_slots(const struct bus *b)
{
	return b->shape == BUS_SHAPE_PORT ? SLOT_ZERO : SLOTS_ALL;
}

uint32_t bus_room(const struct bus *b)
{
	return bus_slots(b) & ~b->used & ~b->reserved;
}

static int cmp_names(const void *a, const void *b)
{
	return strverscmp(*(const char *const *)a, *(const char *const *)b);
}

/* What QEMU said of b's hotplug: asked, and no handler. A bus not asked
 * yet may take it. */
static bool no_hotplug(const struct bus *b)
{
	return b->asked && !b->hotplug;
}

/* The default order's group for b: the root, then ports, then bridges;
 * -1 for a bus that takes no hotplug, or one whose shape QEMU did not
 * tell (a bridge without an id, whose bus device_add cannot name). */
static int group(const struct bus *b)
{
	if (no_hotplug(b) || b->shape == BUS_SHAPE_UNKNOWN)
		return -1;
	return b->shape == BUS_SHAPE_ROOT ? 0 : b->shape == BUS_SHAPE_PORT ? 1 : 2;
}

const char **bus_order(const struct bus_map *map, const struct bus_want *w,
		       size_t *n, struct error *e)
{
	const char **v = calloc(map->nbus + w->nallowed + 1, sizeof(*v));

	*n = 0;
	if (v == NULL) {
		error_nomem(e);
		return NULL;
	}
	if (w->only != NULL) {
		v[(*n)++] = w->only;
	} else if (w->nallowed > 0) {
		for (size_t i = 0; i < w->nallowed; i++)
			v[(*n)++] = w->allowed[i].name;
	} else {
		for (int g = 0; g <= 2; g++) {
			size_t from = *n;

			for (size_t i = 0; i < map->nbus; i++)
				if (group(&map->bus[i]) == g)
					v[(*n)++] = map->bus[i].name;
			qsort(v + from, *n - from, sizeof(*v), cmp_names);
		}
	}
	return v;
}

static int count_slots(uint32_t mask)
{
	return __builtin_popcount(mask);
}

/* w's bus, refused where w does not allow it or it cannot take one. */
static int check_wanted(const struct bus_map *map, const struct bus_want *w,
			const char *const *order, size_t n, struct error *e)
{
	const struct bus *b = bus_find(map, w->bus);
	size_t i;

	if (w->only != NULL && strcmp(w->bus, w->only) != 0)
		return error_set(e, KH_ENOHOTPLUG, "bus %s is not possible here: "
				 "%s", w->bus, w->only_why);
	for (i = 0; i < n && strcmp(order[i], w->bus) != 0; i++)
		;
	if (i == n && w->nallowed > 0)
		return error_set(e, KH_EFAIL, "bus %s is not among the buses "
				 "the runtime file allows", w->bus);
	if (b == NULL || b->shape == BUS_SHAPE_UNKNOWN)
		return error_set(e, KH_EFAIL, "this VM has no bus %s", w->bus);
	if (no_hotplug(b))
		return error_set(e, KH_ENOHOTPLUG, "bus %s of this VM does not "
				 "support hotplug", w->bus);
	return KH_OK;
}

/* The slot on b: w's, if b can have it and it is free, else the lowest
 * free; -1 when b is full. */
static int slot_on(const struct bus *b, int wanted, const char *reserved_by,
		   struct error *e)
{
	uint32_t free_slots = bus_room(b);

	if (wanted >= 0) {
		if (wanted >= PCI_SLOTS ||
		    !(bus_slots(b) & (UINT32_C(1) << wanted)))
			return error_set(e, KH_EUSAGE, "slot %d is not possible on "
					 "%s (%s)", wanted, b->name,
					 b->shape == BUS_SHAPE_PORT ?
					 "a PCIe port holds one device, at slot 0" :
					 "slots 1-31");
		if (b->reserved & (UINT32_C(1) << wanted))
			return error_set(e, KH_EFAIL, "slot %d on %s is reserved "
					 "(%s)", wanted, b->name, reserved_by);
		if (!(free_slots & (UINT32_C(1) << wanted)))
			return error_set(e, KH_EFAIL, "slot %d on %s is already "
					 "in use", wanted, b->name);
		return wanted;
	}
	return free_slots != 0 ? __builtin_ctz(free_slots) : -1;
}

/* What b is, for a refusal: full, not there, or without hotplug (and
 * the likely why of the root's). */
static int say_bus(char *out, size_t size, const struct bus *b,
		   const char *name)
{
	uint32_t ours = b != NULL ? bus_slots(b) & ~b->reserved : 0;

	if (b == NULL)
		return snprintf(out, size, "%s (not in this VM)", name);
	if (!no_hotplug(b))
		return snprintf(out, size, "%s (%d slot%s, all taken)", name,
				count_slots(ours), count_slots(ours) == 1 ? "" : "s");
	if (strcmp(name, ROOT_PCIE) == 0)
		return snprintf(out, size, "%s (PCI Express's root takes none: "
				"a q35 VM needs pcie-root-port devices)", name);
	if (b->shape == BUS_SHAPE_ROOT)
		return snprintf(out, size, "%s (does not support hotplug: is "
				"ACPI PCI hotplug off?)", name);
	return snprintf(out, size, "%s (takes no hotplug)", name);
}

/* Why nothing in order takes a device: every bus is full (KH_EFAIL), or
 * none takes hotplug (KH_ENOHOTPLUG), naming each bus (order's, or the
 * VM's where order is empty) and its slots. */
static int no_room(const struct bus_map *map, const struct bus_want *w,
		   const char *const *order, size_t n, struct error *e)
{
	char what[sizeof(e->msg) - 64] = "";
	bool any_hotplug = false;
	size_t len = 0, all = n > 0 ? n : map->nbus;

	for (size_t i = 0; i < all && len < sizeof(what); i++) {
		const char *name = n > 0 ? order[i] : map->bus[i].name;
		const struct bus *b = bus_find(map, name);

		if (i > 0)
			len += snprintf(what + len, sizeof(what) - len, ", ");
		if (len < sizeof(what))
			len += say_bus(what + len, sizeof(what) - len, b, name);
		any_hotplug |= b != NULL && !no_hotplug(b);
	}
	if (any_hotplug)
		return error_set(e, KH_EFAIL, "no free PCI slot left on %s", what);
	if (w->only != NULL)
		return error_set(e, KH_ENOHOTPLUG, "%s, the one bus possible here, "
				 "takes no hotplug: %s; %s", w->only, what,
				 w->only_why);
	return error_set(e, KH_ENOHOTPLUG, "no bus of this VM takes hotplug: %s",
			 all > 0 ? what : "it has no PCI bus");
}

/* Whether QEMU says b takes hotplug, asked now if not yet (m). */
static int ask_one(struct monitor *m, struct bus_map *map, const struct bus *b,
		   struct error *e)
{
	const char *name = b->name;

	return b->asked ? KH_OK : bus_ask_hotplug(m, map, &name, 1, e);
}

/* Whether b could take the device: there, with room, and not known to
 * refuse hotplug. */
static bool candidate(const struct bus *b)
{
	return b != NULL && !no_hotplug(b) && b->shape != BUS_SHAPE_UNKNOWN &&
	       bus_room(b) != 0;
}

/* Which buses with room take hotplug, asked of QEMU only as far as the
 * choice needs: the first one in order, and only if it takes none, every
 * other one at once; none where the first is the only one (unless sure):
 * its answer could not change the choice, and device_add says a refusal
 * itself (exit 3, as the answer would have made it). */
static int ask_with_room(struct monitor *m, struct bus_map *map,
			 const char **order, size_t n, bool sure,
			 struct error *e)
{
	const char **rest = calloc(n + 1, sizeof(*rest));
	size_t k = 0, lone = 0;

	if (rest == NULL)
		return error_nomem(e);
	for (size_t i = 0; i < n; i++)
		lone += candidate(bus_find(map, order[i]));
	for (size_t i = 0; i < n && e->code == KH_OK; i++) {
		struct bus *b = bus_find(map, order[i]);

		if (!candidate(b))
			continue;
		if (k == 0 && lone == 1 && !sure)
			break;
		if (k == 0 && ask_one(m, map, b, e) == KH_OK && b->hotplug)
			break;
		rest[k++] = b->name;
	}
	if (e->code == KH_OK && k > 1)
		bus_ask_hotplug(m, map, rest + 1, k - 1, e);
	free(rest);
	return e->code;
}

/* --slot without --bus: the first bus in order that takes hotplug. */
static const char *first_taking(struct monitor *m, struct bus_map *map,
				const char **order, size_t n, struct error *e)
{
	for (size_t i = 0; i < n && e->code == KH_OK; i++) {
		struct bus *b = bus_find(map, order[i]);

		if (b != NULL && b->shape != BUS_SHAPE_UNKNOWN &&
		    ask_one(m, map, b, e) == KH_OK && b->hotplug)
			return b->name;
	}
	return NULL;
}

int bus_place(struct monitor *m, struct bus_map *map, const struct bus_want *w,
	      char *bus, size_t size, int *slot, struct error *e)
{
	struct bus_want want = *w;
	const char **order;
	struct bus *b;
	size_t n;
	int s = -1;

	if ((order = bus_order(map, w, &n, e)) == NULL)
		return e->code;
	if (want.bus == NULL && want.slot >= 0)
		want.bus = first_taking(m, map, order, n, e);
	if (want.bus != NULL) {
		if ((b = bus_find(map, want.bus)) != NULL && want.only == NULL &&
		    b->shape != BUS_SHAPE_UNKNOWN)
			ask_one(m, map, b, e);
		if (e->code == KH_OK &&
		    check_wanted(map, &want, order, n, e) == KH_OK &&
		    (s = slot_on(bus_find(map, want.bus), want.slot,
				 want.reserved_by, e)) == -1)
			error_set(e, KH_EFAIL, "no free PCI slot left on %s",
				  want.bus);
		if (e->code == KH_OK)
			snprintf(bus, size, "%s", want.bus);
	} else if (w->slot < 0 &&
		   ask_with_room(m, map, order, n, w->sure, e) == KH_OK) {
		/* the first in order that takes hotplug, or may (not asked:
		 * the lone candidate) */
		for (size_t i = 0; i < n && s < 0; i++) {
			b = bus_find(map, order[i]);
			if (b != NULL && !no_hotplug(b) &&
			    b->shape != BUS_SHAPE_UNKNOWN &&
			    (s = slot_on(b, -1, w->reserved_by, e)) >= 0)
				snprintf(bus, size, "%s", b->name);
		}
		if (s < 0)
			no_room(map, w, order, n, e);
	} else if (e->code == KH_OK) {
		no_room(map, w, order, n, e);
	}
	free(order);
	if (e->code == KH_OK)
		*slot = s;
	return e->code;
}
