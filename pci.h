/* PCI slots on the hotplug bus and the QEMU device ids derived from them. */
#ifndef KH_PCI_H
#define KH_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "error.h"

#define PCI_SLOTS 32
#define PCI_HOTPLUG_BUS "pci.0"

struct monitor;

/* "003fc157-66a8-4e6d-8b7e-ec4f69751396": 8-4-4-4-12 hex digits. */
bool uuid_is_valid(const char *uuid);

/* QEMU's rule for ids: a letter first, then [A-Za-z0-9._-], 32 at most. */
bool qemu_id_is_valid(const char *id);

/* "hot<kind>-<first uuid group>-pci-<slot>", e.g. hotdisk-003fc157-pci-5. */
int pci_device_id(char *out, size_t size, const char *kind, const char *uuid,
		  int slot, struct error *e);

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

/* Runs query-pci on m; *reply is owned by the caller. */
int pci_query(struct monitor *m, json_t **reply, struct error *e);

#endif
