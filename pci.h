/* query-pci, as QEMU shows the devices on its PCI buses. */
#ifndef KH_PCI_H
#define KH_PCI_H

#include <stdbool.h>

#include <jansson.h>

/* PCI_SLOTS, PCI_HOTPLUG_BUS, and the ids and their validators
 * (uuid_is_valid, qemu_id_is_valid, pci_device_id): the model's */
#include "model.h"

/* One device in a query-pci reply: on bus (root's name for bus 0, the
 * qdev id of the bridge it is behind, "" behind a bridge without one) at
 * slot, with its qdev id ("" for none). A bridge (bridge set) shows the
 * devices behind it only once the firmware has numbered its bus
 * (numbered); before that (-S, prelaunch) they are QOM's to tell. */
struct pci_seen {
	const char *bus, *id;
	int slot;
	bool bridge, numbered;
};

/* Whether bus 0's host bridge (slot 0, function 0) is an i440FX, pc's
 * (8086:1237; q35's MCH is 8086:29c0): QEMU names its root bus pci.0,
 * always (hw/pci-host/i440fx.c), so that need not be asked. */
#define I440FX_VENDOR 0x8086
#define I440FX_DEVICE 0x1237
bool pci_root_is_i440fx(json_t *query_pci);

/* Calls visit for every device of a query-pci reply, bridges walked. */
void pci_walk(json_t *query_pci, const char *root,
	      void (*visit)(const struct pci_seen *dev, void *arg), void *arg);

#endif
