/* Slots on the hotplug bus: see pci.h. */
#include <string.h>

#include "monitor.h"
#include "pci.h"

static int json_int(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? (int)json_integer_value(v) : -1;
}

uint32_t pci_occupied_slots(json_t *query_pci)
{
	uint32_t used = 0;
	size_t i, j;
	json_t *bus, *dev;

	json_array_foreach(query_pci, i, bus) {
		if (json_int(bus, "bus") != 0)
			continue;
		json_array_foreach(json_object_get(bus, "devices"), j, dev) {
			int slot = json_int(dev, "slot");
			if (slot >= 0 && slot < PCI_SLOTS)
				used |= UINT32_C(1) << slot;
		}
	}
	return used;
}

/* devices: a query-pci "devices" array; bridges nest further arrays. */
static bool find_in_devices(json_t *devices, const char *id, int *bus,
			    int *slot)
{
	size_t i;
	json_t *dev;

	json_array_foreach(devices, i, dev) {
		const char *qdev = json_string_value(json_object_get(dev, "qdev_id"));
		json_t *bridge = json_object_get(dev, "pci_bridge");

		if (qdev != NULL && strcmp(qdev, id) == 0) {
			*bus = json_int(dev, "bus");
			*slot = json_int(dev, "slot");
			return true;
		}
		if (bridge != NULL &&
		    find_in_devices(json_object_get(bridge, "devices"), id, bus,
				    slot))
			return true;
	}
	return false;
}

bool pci_find_device(json_t *query_pci, const char *id, int *bus, int *slot)
{
	size_t i;
	json_t *b;

	if (id[0] == '\0')
		return false;
	json_array_foreach(query_pci, i, b)
		if (find_in_devices(json_object_get(b, "devices"), id, bus, slot))
			return true;
	return false;
}

int pci_find_free_slot(uint32_t occupied, int requested, int *slot,
		       struct error *e)
{
	if (requested >= 0) {
		if (requested < 1 || requested >= PCI_SLOTS)
			return error_set(e, KH_EUSAGE,
					 "slot %d is out of range 1-%d",
					 requested, PCI_SLOTS - 1);
		if (occupied & (UINT32_C(1) << requested))
			return error_set(e, KH_EFAIL,
					 "slot %d on %s is already in use",
					 requested, PCI_HOTPLUG_BUS);
		*slot = requested;
		return KH_OK;
	}
	/* Slot 0 is the host bridge's on every machine type. */
	for (int s = 1; s < PCI_SLOTS; s++) {
		if (!(occupied & (UINT32_C(1) << s))) {
			*slot = s;
			return KH_OK;
		}
	}
	return error_set(e, KH_EFAIL, "no free PCI slot left on %s",
			 PCI_HOTPLUG_BUS);
}

int pci_query(struct monitor *m, json_t **reply, struct error *e)
{
	return monitor_execute(m, "query-pci", NULL, reply, e);
}

/* What QEMU's answer to qom-get BUS hotplug-handler means. */
static int hotplug_verdict(int rc, json_t *handler, const char *bus,
			   struct error *e)
{
	if (rc != KH_OK) {
		if (strcmp(e->qmp_class, "DeviceNotFound") == 0)
			return error_set(e, KH_ENOHOTPLUG,
					 "this VM has no %s bus (q35?): hotplug "
					 "behind PCIe root ports is not supported yet",
					 bus);
		return rc;
	}
	if (!json_is_string(handler) || json_string_length(handler) == 0)
		return error_set(e, KH_ENOHOTPLUG,
				 "bus %s of this VM does not support hotplug "
				 "(ACPI PCI hotplug is off)", bus);
	return KH_OK;
}

int pci_survey(struct monitor *m, const char *bus, json_t **query_pci,
	       struct error *e)
{
	json_t *handler = NULL;
	unsigned long hid, pid;
	int rc;

	*query_pci = NULL;
	if (monitor_send(m, "qom-get", json_pack("{s:s, s:s}", "path", bus,
						 "property", "hotplug-handler"),
			 -1, &hid, e) != KH_OK ||
	    monitor_send(m, "query-pci", NULL, -1, &pid, e) != KH_OK)
		return e->code;
	rc = monitor_reply(m, hid, "qom-get", &handler, e);
	rc = hotplug_verdict(rc, handler, bus, e);
	json_decref(handler);
	if (rc != KH_OK)
		return rc;	/* the caller hangs up; query-pci's answer is moot */
	return monitor_reply(m, pid, "query-pci", query_pci, e);
}

int pci_has_device(struct monitor *m, const char *id, bool *has,
		   struct error *e)
{
	json_t *pci = NULL;
	int bus, slot;

	*has = false;
	if (pci_query(m, &pci, e) == KH_OK)
		*has = pci_find_device(pci, id, &bus, &slot);
	json_decref(pci);
	return e->code;
}
