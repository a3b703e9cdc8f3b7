/* PCI slots on the hotplug bus, as QEMU shows and takes them. */
#ifndef KH_PCI_H
#define KH_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "error.h"
/* PCI_SLOTS, PCI_HOTPLUG_BUS, and the ids and their validators
 * (uuid_is_valid, qemu_id_is_valid, pci_device_id): the model's */
#include "model.h"

struct monitor;

/* Slots taken on bus 0 according to a query-pci reply (bit n: slot n). */
uint32_t pci_occupied_slots(json_t *query_pci);

/* Finds the device with qdev id in a query-pci reply, walking bridges.
 * Returns true and sets *bus and *slot when found. */
bool pci_find_device(json_t *query_pci, const char *id, int *bus, int *slot);

/* The lowest free slot in 1..31 not set in occupied, or the requested
 * one (requested >= 0) if it is free. KH_EFAIL when none is. */
int pci_find_free_slot(uint32_t occupied, int requested, int *slot,
		       struct error *e);

/* Asks QEMU, in one round trip, whether bus takes hotplug and what
 * query-pci shows (*query_pci, owned by the caller). KH_ENOHOTPLUG when
 * QEMU lacks the bus (q35 has no pci.0) or it has no hotplug handler
 * ("acpi-root-pci-hotplug=off"). */
int pci_survey(struct monitor *m, const char *bus, json_t **query_pci,
	       struct error *e);

/* Whether QEMU has the device with qdev id, on any bus (one query-pci):
 * *has set, or an error. */
int pci_has_device(struct monitor *m, const char *id, bool *has,
		   struct error *e);

/* Runs query-pci on m; *reply is owned by the caller. */
int pci_query(struct monitor *m, json_t **reply, struct error *e);

#endif
