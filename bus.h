/* The bus model: the PCI buses a VM has (its root, and each bridge's and
 * PCIe port's bus), which take hotplug, where every device is, and where
 * a new one goes. Read from QEMU (query-pci, and QOM where query-pci
 * cannot see: behind bridges before the firmware has run). */
#ifndef KH_BUS_H
#define KH_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"

struct monitor;

/* What a bus holds, which decides the slots a device may take there. */
enum bus_shape {
	BUS_SHAPE_UNKNOWN,	/* QEMU did not tell (a bridge without an id) */
	BUS_SHAPE_ROOT,		/* the host bridge's: slots 1-31 (0 is its own) */
	BUS_SHAPE_PORT,		/* a PCIe port's link: one device, at slot 0 */
	BUS_SHAPE_BRIDGE,	/* a PCI bridge's: slots 1-31 (0 takes no hotplug) */
};

struct bus {
	char name[RT_BUS_MAX];	/* as device_add's "bus" takes it */
	enum bus_shape shape;
	bool asked;		/* QEMU was asked for its hotplug handler, */
	bool hotplug;		/* and named one */
	uint32_t used;		/* bit n: slot n is taken, by QEMU's word
				   (and the caller's: what the file records) */
	uint32_t reserved;	/* the caller's: slots not for new devices */
};

/* A device with an id, and where it is. */
struct bus_device {
	char id[RT_ID_MAX + 1];
	char bus[RT_BUS_MAX];
	int slot;
};

struct bus_map {
	struct bus *bus;
	size_t nbus;
	struct bus_device *dev;
	size_t ndev;
};

/* What a survey asks. */
#define BUS_WHERE	0x1	/* where each device is */
#define BUS_HOTPLUG	0x2	/* and each bus's shape and hotplug */

/* Fills map (empty) from QEMU: every bus and where each device is. With
 * BUS_HOTPLUG also each bus's shape (from its QOM type, asked once per
 * device type) and the root's hotplug; a bridge's or port's hotplug is
 * asked where a placement needs it (bus_place, bus_ask_hotplug), since
 * QEMU answers each qom-get at a cost of its own (~0.3 ms). One round
 * trip where query-pci shows no bridge, three with bridges, four before
 * the firmware has numbered them. With BUS_WHERE alone the root bus is
 * called pci.0 whatever it is. map is the caller's to free, after a
 * failure too. */
int bus_survey(struct monitor *m, unsigned what, struct bus_map *map,
	       struct error *e);

/* Asks QEMU, in one round trip, whether each bus of names (not asked
 * yet) takes hotplug. */
int bus_ask_hotplug(struct monitor *m, struct bus_map *map,
		    const char *const *names, size_t n, struct error *e);

void bus_map_free(struct bus_map *map);

/* The bus called name, NULL if the VM has none. */
struct bus *bus_find(const struct bus_map *map, const char *name);

/* Where the device with id is, NULL if QEMU has none. */
const struct bus_device *bus_device_find(const struct bus_map *map,
					 const char *id);

/* Whether QEMU has the device with id (a WHERE survey): *has set, or an
 * error. */
int bus_has_device(struct monitor *m, const char *id, bool *has,
		   struct error *e);

/* The slots a device may take on b (bit n: slot n). */
uint32_t bus_slots(const struct bus *b);

/* Those of them that are free: not used, not reserved. */
uint32_t bus_room(const struct bus *b);

/* Where a new device may go. */
struct bus_want {
	const char *bus;	/* --bus, or NULL: the first with room */
	int slot;		/* --slot, or -1: the lowest free */
	const struct rt_bus *allowed;	/* the file's buses, in order, */
	size_t nallowed;		/* or none: every one that takes hotplug */
	const char *only, *only_why;	/* the format's one bus, or NULL */
	const char *reserved_by;	/* who reserved slots, for messages */
	bool sure;		/* ask QEMU even where one bus alone could take
				   it (a dry run shows what would happen) */
};

/* The buses w allows, in the order they are filled: the format's one,
 * the file's list, or by default the root (if it takes hotplug), then
 * each PCIe port, then each PCI bridge, each group in the natural order
 * of names (rp2 before rp10). *n set; the array is the caller's to
 * free, NULL on ENOMEM (e set). Names point into w and map. */
const char **bus_order(const struct bus_map *map, const struct bus_want *w,
		       size_t *n, struct error *e);

/* Chooses the bus and slot for a new device: w's bus and slot if free
 * there (w's slot alone: on the first bus that takes hotplug), else the
 * lowest free slot of the first bus in bus_order with room that takes
 * hotplug, asking m (NULL where map knows every bus's hotplug) as far as
 * it must: where one bus alone could take it, not at all (unless
 * w->sure), as device_add refuses a bus without hotplug itself. KH_EFAIL when every allowed slot is taken (naming each bus
 * and its slots) or w's bus or slot is (or the VM lacks w's bus);
 * KH_EUSAGE for a slot the bus cannot have; KH_ENOHOTPLUG when no
 * allowed bus takes hotplug, with why. */
int bus_place(struct monitor *m, struct bus_map *map, const struct bus_want *w,
	      char *bus, size_t size, int *slot, struct error *e);

#endif
