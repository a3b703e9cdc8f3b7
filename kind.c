/* The device kinds' operations by kind: see kind.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kind.h"

const struct kind_ops *kind_ops(enum rt_kind k)
{
	static const struct kind_ops *const ops[] = {
		[RT_DISK] = &disk_ops,
		[RT_NIC] = &nic_ops,
	};

	return ops[k];
}

const struct kind_ops *kind_ops_named(const char *name)
{
	for (enum rt_kind k = 0; k < RT_NKINDS; k++)
		if (name != NULL && strcmp(name, rt_kind_name(k)) == 0)
			return kind_ops(k);
	return NULL;
}

/* Checks what only the whole command line can tell. */
int check_request(const struct request *r, const char *sub,
		  struct error *e)
{
	if (r->uuid[0] == '\0')
		return error_set(e, KH_EUSAGE, "%s %s: --uuid is required",
				 rt_kind_name(r->kind), sub);
	if (r->op != OP_ADD)
		return KH_OK;
	return kind_ops(r->kind)->complete(r, e);
}

bool same_add(const struct rt_device *d, const struct request *r)
{
	return d->kind == r->kind && request_gives_same(r->name, d->name) &&
	       kind_ops(d->kind)->same(d, r);
}

void request_from_device(const struct rt_device *d, struct request *r)
{
	memset(r, 0, sizeof(*r));
	r->kind = d->kind;
	r->op = OP_ADD;
	memcpy(r->uuid, d->uuid, sizeof(r->uuid));
	r->name = d->name;
	r->slot = d->slot;
	memcpy(r->bus, d->bus, sizeof(r->bus));
	r->source = d->source;
	r->added_by = d->added_by[0] != '\0' ? d->added_by : NULL;
	kind_ops(d->kind)->to_request(d, r);
}

void differs_say(char *why, size_t size, const char *fmt, ...)
{
	size_t len = strnlen(why, size);
	va_list ap;

	if (len > 0 && len + 2 < size) {
		memcpy(why + len, "; ", 3);
		len += 2;
	}
	va_start(ap, fmt);
	if (len < size)
		vsnprintf(why + len, size - len, fmt, ap);
	va_end(ap);
}

void host_side_init(struct host_side *h)
{
	tap_init(&h->tap);
	h->script_ran = false;
	h->file_fd = -1;
}

void host_side_close(struct host_side *h)
{
	tap_close(&h->tap);
	if (h->file_fd >= 0)
		close(h->file_fd);
	h->file_fd = -1;
}

int release_device(const struct session *s, const struct rt_device *d,
		   struct error *e)
{
	struct plan p;

	plan_init(&p, s->o, s->m, d, s->o->plan);
	kind_ops(d->kind)->release_steps(s, d, &p);
	plan_run(&p, NULL, e);
	plan_free(&p);
	return e->code;
}
