/* What an interrupted run left, settled: see settle.h. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "disk.h"
#include "flow.h"
#include "output.h"
#include "pci.h"
#include "qdev.h"
#include "session.h"
#include "settle.h"
#include "tap.h"

/* Takes back what a half-made add left in QEMU: its backend and the fds
 * it was handed. Each may be missing; that is fine. */
void undo_half_add(const struct options *o, struct monitor *m,
		   const struct runtime *rt, const char *kind,
		   const char *id, int queues)
{
	struct error ignored = { 0 };
	char name[RT_ID_MAX + 24];

	if (strcmp(kind, "disk") == 0) {
		disk_backend(rt)->release(o, m, id, &ignored);
		remove_fdsets(m, id);
		return;
	}
	undo(m, "netdev_del", json_pack("{s:s}", "id", id));
	for (int q = 0; q < queues && q < TAP_MAX_QUEUES; q++)
		for (int v = 0; v < 2; v++) {
			snprintf(name, sizeof(name), "%s-%s%d", id,
				 v ? "vhost" : "tap", q);
			undo(m, "closefd", json_pack("{s:s}", "fdname", name));
		}
}

/* The tap of a NIC whose add died after QEMU took it, where the file's
 * format keeps taps beside the file (Ganeti's nic files). */
static void record_tap(struct runtime *rt, const char *id, const char *tap)
{
	struct rt_device *d = runtime_find_id(rt, id);

	if (d == NULL || tap == NULL || d->tap[0] != '\0' ||
	    strlen(tap) >= sizeof(d->tap))
		return;
	memcpy(d->tap, tap, strlen(tap) + 1);
	write_side_files(rt);
}

/* An add that died: QEMU has the device (record it: the prepared file
 * says exactly that), or not (take back its leftovers). */
static int settle_add(const struct options *o, struct runtime *rt,
		      struct monitor *m, json_t *in, bool present,
		      struct error *e)
{
	const char *id = json_string_value(json_object_get(in, "id"));
	const char *prepared = json_string_value(json_object_get(in, "prepared"));

	if (present) {
		if (prepared != NULL && access(prepared, F_OK) == 0) {
			if (rename(prepared, rt->path) == -1)
				return error_set(e, KH_EFAIL, "%s: %s", prepared,
						 strerror(errno));
			if (runtime_load(rt, false, e) != KH_OK)
				return e->code;
			record_tap(rt, id, json_string_value(json_object_get(in, "tap")));
		}
		/* said only when the file says so */
		if (runtime_find_id(rt, id) != NULL)
			notice("an interrupted add of %s: QEMU has it, recorded", id);
		else
			notice("an interrupted add of %s: QEMU has it, but %s does "
			       "not record it and its prepared file is gone: "
			       "check lists it", id, rt->path);
		runtime_intent_clear(rt);
		return KH_OK;
	}
	undo_half_add(o, m, rt, json_string_value(json_object_get(in, "kind")), id,
		      (int)json_integer_value(json_object_get(in, "queues")));
	if (prepared != NULL)
		unlink(prepared);
	notice("an interrupted add of %s: QEMU does not have it, its "
	       "leftovers released", id);
	runtime_intent_clear(rt);
	return KH_OK;
}

/* A removal that died: while QEMU has the device it stays recorded; once
 * QEMU let it go, its backend goes and so does the entry. */
static int settle_remove(const struct options *o, struct runtime *rt,
			 struct monitor *m, json_t *in, bool present,
			 struct error *e)
{
	const char *id = json_string_value(json_object_get(in, "id"));
	struct rt_device *d = runtime_find_id(rt, id);

	if (present && !runtime_records_unplugging(rt)) {
		/* the record is the only mark of the pending removal */
		notice("a removal of %s is pending: QEMU still has it (remove it "
		       "again once the guest is up, or reboot the VM)", id);
		return KH_OK;
	}
	if (present) {
		notice("an interrupted removal of %s: QEMU still has it, it stays "
		       "recorded (remove it again)", id);
		runtime_intent_clear(rt);
		return KH_OK;
	}
	if (d != NULL && (release_backend(o, m, rt, d, e) != KH_OK ||
			  (runtime_remove_device(rt, (size_t)(d - rt->dev)),
			   runtime_prepare(rt, e)) != KH_OK ||
			  commit_file(rt, e) != KH_OK))
		return e->code;
	notice("an interrupted removal of %s: QEMU let it go, no longer "
	       "recorded", id);
	runtime_intent_clear(rt);
	return KH_OK;
}

/* Step 1 and a half: a run that died between its intent record and its
 * runtime file left the two telling different stories; the VM decides. */
int settle_intent(const struct options *o, struct runtime *rt,
		  struct monitor **m, struct error *e)
{
	json_t *in = NULL, *pci = NULL;
	const char *op, *id;
	int bus, slot;

	if (runtime_intent_read(rt, &in, e) != KH_OK || in == NULL)
		return e->code;
	op = json_string_value(json_object_get(in, "op"));
	id = json_string_value(json_object_get(in, "id"));
	if (op == NULL || id == NULL || !json_is_string(json_object_get(in, "kind")))
		error_set(e, KH_EUSAGE, "%s.intent: not an intent record",
			  rt->path);
	/* each settle clears the record once the file tells the outcome */
	else if ((*m != NULL || connect_monitor(o, rt, m, e) == KH_OK) &&
		 pci_query(*m, &pci, e) == KH_OK) {
		bool present = pci_find_device(pci, id, &bus, &slot);

		if (strcmp(op, "add") == 0)
			settle_add(o, rt, *m, in, present, e);
		else
			settle_remove(o, rt, *m, in, present, e);
	}
	json_decref(pci);
	json_decref(in);
	return e->code;
}

/* check --repair: pending removals whose device QEMU has let go are
 * finished. Nothing the file does not know is ever removed. */
int finish_removals(const struct options *o, struct runtime *rt,
		    struct monitor *m, struct error *e)
{
	json_t *pci = NULL;
	bool changed = false;
	int bus, slot;

	if (pci_query(m, &pci, e) != KH_OK)
		return e->code;
	for (size_t i = 0; i < rt->ndev && e->code == KH_OK;) {
		struct rt_device *d = &rt->dev[i];

		if (d->state != RT_UNPLUGGING ||
		    pci_find_device(pci, d->id, &bus, &slot)) {
			i++;
			continue;
		}
		if (release_backend(o, m, rt, d, e) != KH_OK)
			break;
		notice("the pending removal of %s is finished", d->id);
		runtime_remove_device(rt, i);
		changed = true;
	}
	json_decref(pci);
	if (e->code == KH_OK && changed && runtime_prepare(rt, e) == KH_OK)
		commit_file(rt, e);
	return e->code;
}
