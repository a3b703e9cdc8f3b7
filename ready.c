/* Whether the guest uses a device: see ready.h. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "monitor.h"
#include "ready.h"

#define READY_STATUS	"VIRTIO_CONFIG_S_DRIVER_OK"
#define PAUSE_FIRST_MS	1
#define PAUSE_MAX_MS	8

const char *ready_name(enum ready_state st)
{
	static const char *const names[] = {
		[READY_YES] = "ready", [READY_NO] = "not picked up",
		[READY_UNKNOWN] = "unknown",
	};

	return names[st];
}

static json_t *status_args(const char *id)
{
	char path[96];

	snprintf(path, sizeof(path), "/machine/peripheral/%s/virtio-backend", id);
	return json_pack("{s:s}", "path", path);
}

/* What QEMU's answer (ret, or its refusal in e) says; e is cleared where
 * the refusal only means it cannot tell. */
static enum ready_state judged(json_t *ret, struct error *e)
{
	size_t i;
	json_t *s;

	if (e->code != KH_OK) {
		if (e->qmp_class[0] != '\0')
			error_clear(e);	/* no such command, or device */
		return READY_UNKNOWN;
	}
	json_array_foreach(json_object_get(json_object_get(ret, "status"),
					   "statuses"), i, s)
		if (json_is_string(s) && strncmp(json_string_value(s), READY_STATUS,
						 strlen(READY_STATUS)) == 0)
			return READY_YES;
	return READY_NO;
}

int ready_survey(struct monitor *m, const char *const *ids, size_t n,
		 enum ready_state *states, struct error *e)
{
	unsigned long qid[64];
	size_t sent = 0;

	for (size_t first = 0; first < n && e->code == KH_OK; first += sent) {
		/* in batches, each one round trip */
		for (sent = 0; first + sent < n && sent < 64; sent++)
			if (monitor_send(m, "x-query-virtio-status",
					 status_args(ids[first + sent]), -1,
					 &qid[sent], e) != KH_OK)
				return e->code;
		for (size_t i = 0; i < sent; i++) {
			json_t *ret = NULL;
			struct error one = { 0 };

			monitor_reply(m, qid[i], "x-query-virtio-status", &ret, &one);
			states[first + i] = judged(ret, &one);
			json_decref(ret);
			if (one.code != KH_OK && e->code == KH_OK)
				*e = one;	/* the monitor failed */
		}
	}
	return e->code;
}

/* One look at id: its state, or QEMU's refusal of the command itself. */
static int look(struct monitor *m, const char *id, enum ready_state *st,
		bool *no_command, struct error *e)
{
	json_t *ret = NULL;

	monitor_execute(m, "x-query-virtio-status", status_args(id), &ret, e);
	*no_command = e->code != KH_OK &&
		      strcmp(e->qmp_class, "CommandNotFound") == 0;
	*st = judged(ret, e);
	json_decref(ret);
	return e->code;
}

int ready_wait(struct monitor *m, const char *id, int timeout_ms,
	       struct ready_wait *w, struct error *e)
{
	int64_t start = clock_ms(), pause = 0;
	enum ready_state st;
	bool no_command;

	memset(w, 0, sizeof(*w));
	for (;;) {
		w->looks++;
		if (look(m, id, &st, &no_command, e) != KH_OK)
			return e->code;
		w->waited_ms = (long)(clock_ms() - start);
		w->last_pause_ms = (long)pause;
		if (st == READY_YES)
			return KH_OK;
		if (st == READY_UNKNOWN)
			return error_set(e, KH_ENOHOTPLUG, "QEMU cannot tell whether "
					 "the guest uses %s: %s", id, no_command ?
					 "it has no x-query-virtio-status" :
					 "it has no such virtio device");
		if (clock_ms() - start >= timeout_ms)
			return error_set(e, KH_ETIMEOUT, "the guest has not started "
					 "using %s within %.1f s", id,
					 timeout_ms / 1000.0);
		pause = pause == 0 ? PAUSE_FIRST_MS :
			pause * 2 > PAUSE_MAX_MS ? PAUSE_MAX_MS : pause * 2;
		clock_pause_ms(pause);
	}
}
