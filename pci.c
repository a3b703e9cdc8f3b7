/* query-pci walked: see pci.h. */
#include "pci.h"

static int json_int(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? (int)json_integer_value(v) : -1;
}

/* devices: a query-pci "devices" array on bus; bridges nest more. */
static void walk_devices(json_t *devices, const char *bus,
			 void (*visit)(const struct pci_seen *, void *),
			 void *arg)
{
	size_t i;
	json_t *dev;

	json_array_foreach(devices, i, dev) {
		json_t *bridge = json_object_get(dev, "pci_bridge");
		const char *id = json_string_value(json_object_get(dev, "qdev_id"));
		json_t *num = json_object_get(json_object_get(bridge, "bus"),
					      "secondary");
		struct pci_seen seen = {
			.bus = bus, .id = id != NULL ? id : "",
			.slot = json_int(dev, "slot"), .bridge = bridge != NULL,
			.numbered = json_integer_value(num) != 0,
		};

		if (seen.slot < 0 || seen.slot >= PCI_SLOTS)
			continue;
		visit(&seen, arg);
		if (bridge != NULL)
			walk_devices(json_object_get(bridge, "devices"), seen.id,
				     visit, arg);
	}
}

bool pci_root_is_i440fx(json_t *query_pci)
{
	size_t i, k;
	json_t *b, *dev;

	json_array_foreach(query_pci, i, b) {
		if (json_int(b, "bus") != 0)
			continue;
		json_array_foreach(json_object_get(b, "devices"), k, dev) {
			json_t *id = json_object_get(dev, "id");

			if (json_int(dev, "slot") == 0 && json_int(dev, "function") == 0)
				return json_int(id, "vendor") == I440FX_VENDOR &&
				       json_int(id, "device") == I440FX_DEVICE;
		}
	}
	return false;
}

void pci_walk(json_t *query_pci, const char *root,
	      void (*visit)(const struct pci_seen *dev, void *arg), void *arg)
{
	size_t i;
	json_t *b;

	/* more than one root bus is a machine with extra host bridges
	 * (pxb), whose buses have no name here: theirs are not ours */
	json_array_foreach(query_pci, i, b)
		walk_devices(json_object_get(b, "devices"),
			     json_int(b, "bus") == 0 ? root : "", visit, arg);
}
