/* A device change as asked for: see request.h. */
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

#include "pci.h"
#include "request.h"
#include "tap.h"

#define NAME_MAX_LEN 128

int parse_choice(const char *opt, const char *value,
		 const char *const *allowed, struct error *e)
{
	char list[128] = "";

	for (size_t i = 0; allowed[i] != NULL; i++) {
		if (strcmp(value, allowed[i]) == 0)
			return KH_OK;
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
			 "%s%s", i ? "|" : "", allowed[i]);
	}
	return error_set(e, KH_EUSAGE, "%s: '%.40s' is not one of %s", opt,
			 value, list);
}

static int parse_uuid(const char *value, char *out, struct error *e)
{
	if (!uuid_is_valid(value))
		return error_set(e, KH_EUSAGE,
				 "--uuid: '%.60s' is not a UUID "
				 "(8-4-4-4-12 hex digits)", value);
	rt_copy_lower(out, RT_UUID_LEN + 1, value);
	return KH_OK;
}

static int parse_name(const char *value, struct error *e)
{
	size_t n = strlen(value);

	if (n == 0 || n > NAME_MAX_LEN)
		return error_set(e, KH_EUSAGE, "--name: must be 1-%d characters",
				 NAME_MAX_LEN);
	for (size_t i = 0; i < n; i++)
		if (iscntrl((unsigned char)value[i]))
			return error_set(e, KH_EUSAGE,
					 "--name: control characters are not allowed");
	return KH_OK;
}

static int parse_int_option(const char *opt, const char *value, int min,
			    int max, int *out, struct error *e)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(value, &end, 10);
	if (errno || end == value || *end != '\0' || n < min || n > max)
		return error_set(e, KH_EUSAGE, "%s: '%.20s' is not a number %d-%d",
				 opt, value, min, max);
	*out = (int)n;
	return KH_OK;
}

static int parse_ifname(const char *opt, const char *value, struct error *e)
{
	if (!tap_name_is_valid(value))
		return error_set(e, KH_EUSAGE, "%s: '%.40s' is not an interface "
				 "name (1-%d characters, no '/', ':' or space)",
				 opt, value, IFNAMSIZ - 1);
	return KH_OK;
}

static int parse_mac(const char *value, char *out, struct error *e)
{
	if (!mac_is_valid(value))
		return error_set(e, KH_EUSAGE, "--mac: '%.40s' is not a unicast "
				 "MAC address like 52:54:00:12:34:56", value);
	rt_copy_lower(out, 18, value);
	return KH_OK;
}

int parse_device_option(int c, const char *arg, struct request *r,
			struct error *e)
{
	static const char *const vhosts[] = { "on", "off", "auto", NULL };
	/* Ganeti 3.0's disk types (constants.DTS_BLOCK and the rest) */
	static const char *const dev_types[] = { "plain", "drbd", "file",
		"sharedfile", "blockdev", "rbd", "ext", "gluster", NULL };
	bool disk = r->kind == RT_DISK;

	switch (c) {
	case 'u': return parse_uuid(arg, r->uuid, e);
	case 'n': r->name = arg; return parse_name(arg, e);
	case 's': return parse_int_option("--slot", arg, 1, PCI_SLOTS - 1, &r->slot, e);
	case 'p': r->path = arg; return KH_OK;
	case 'f': r->format = arg; return parse_choice("--format", arg, rt_disk_formats, e);
	case 'c': r->cache = arg; return parse_choice("--cache", arg, rt_disk_caches, e);
	case 'd': r->discard = arg; return parse_choice("--discard", arg, rt_disk_discards, e);
	case 'o':
		*(disk ? &r->mode : &r->nic_mode) = arg;
		return parse_choice("--mode", arg, disk ? rt_disk_modes : rt_nic_modes, e);
	case 'M': return parse_mac(arg, r->mac, e);
	case 'l': r->link = arg; return parse_ifname("--link", arg, e);
	case 'S': r->script = arg; return KH_OK;
	case 'T':
		r->tap = arg;
		if (tap_name_is_kernels(arg))
			return error_set(e, KH_EUSAGE, "--tap: '%s' is a name the "
					 "kernel hands out (tapN): on a migration "
					 "target it may be another VM's tap; choose "
					 "another or leave --tap out", arg);
		return parse_ifname("--tap", arg, e);
	case 'Q': return parse_int_option("--queues", arg, 1, TAP_MAX_QUEUES, &r->queues, e);
	case 'H': r->vhost = arg; return parse_choice("--vhost", arg, vhosts, e);
	case 'D': r->dev_type = arg; return parse_choice("--dev-type", arg, dev_types, e);
	}
	return error_set(e, KH_EUSAGE, "unknown option");
}

/* What add uses where the command line says nothing. */
void apply_defaults(struct request *r)
{
#define DEFAULT(f, v) if (r->f == NULL) r->f = v
	DEFAULT(format, "raw");
	DEFAULT(mode, "rw");
	DEFAULT(nic_mode, "bridged");
#undef DEFAULT
	/* cache, discard, queues, vhost: the runtime file's defaults */
}

/* Checks what only the whole command line can tell, and what the host
 * can tell without touching anything. */
int check_request(const struct request *r, const char *sub,
		  struct error *e)
{
	const char *kind = rt_kind_name(r->kind);

	if (r->uuid[0] == '\0')
		return error_set(e, KH_EUSAGE, "%s %s: --uuid is required", kind, sub);
	if (r->op != OP_ADD)
		return KH_OK;
	if (r->kind == RT_DISK && r->path == NULL)
		return error_set(e, KH_EUSAGE, "disk add: --path is required");
	if (r->kind == RT_NIC && r->mac[0] == '\0')
		return error_set(e, KH_EUSAGE, "nic add: --mac is required");
	return KH_OK;
}

/* A second device with the same uuid, or a second NIC with the same MAC,
 * would make the file ambiguous: refused before anything is sent. */
static bool same_string(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Whether r asks for what d already is: what r gives must match (what it
 * leaves out was the file's or the host's choice). */
bool same_add(const struct rt_device *d, const struct request *r)
{
#define GIVEN_SAME(field, recorded) (r->field == NULL || same_string(r->field, recorded))
	if (d->kind != r->kind || !GIVEN_SAME(name, d->name))
		return false;
	if (d->kind == RT_DISK)
		return same_string(r->path, d->path) && GIVEN_SAME(format, d->format) &&
		       GIVEN_SAME(mode, d->mode) && GIVEN_SAME(cache, d->cache) &&
		       GIVEN_SAME(discard, d->discard);
	return strcmp(r->mac, d->mac) == 0 && same_string(r->link, d->link) &&
	       GIVEN_SAME(nic_mode, d->nic_mode) && same_string(r->script, d->script) &&
	       GIVEN_SAME(tap, d->tap) && (r->queues == 0 || r->queues == d->queues) &&
	       (r->vhost == NULL || strcmp(r->vhost, "auto") == 0 ||
		strcmp(r->vhost, d->vhost) == 0);
#undef GIVEN_SAME
}

/* The request that makes d again; its strings point into d. Empty values
 * are left to the add's defaults. */
void request_from_device(const struct rt_device *d, struct request *r)
{
#define OR_NULL(s) ((s)[0] != '\0' ? (s) : NULL)
	memset(r, 0, sizeof(*r));
	r->kind = d->kind;
	r->op = OP_ADD;
	memcpy(r->uuid, d->uuid, sizeof(r->uuid));
	r->name = d->name;
	r->slot = d->slot;
	if (d->kind == RT_DISK) {
		r->path = d->path;
		r->format = OR_NULL(d->format);
		r->cache = OR_NULL(d->cache);
		r->mode = OR_NULL(d->mode);
		r->discard = OR_NULL(d->discard);
		r->gextra = d->gextra;
		return;
	}
	memcpy(r->mac, d->mac, sizeof(r->mac));
	r->nic_mode = d->nic_mode;
	r->link = d->link;
	r->script = d->script;
	r->tap = OR_NULL(d->tap);	/* "": not known */
	r->vhost = OR_NULL(d->vhost);
	r->queues = d->queues;
	r->gsource = d->gsource;
#undef OR_NULL
}

/* What modify was given replaces what the NIC had. */
void apply_changes(struct request *to, const struct request *given)
{
	if (given->mac[0] != '\0')
		memcpy(to->mac, given->mac, sizeof(to->mac));
	if (given->queues > 0)
		to->queues = given->queues;
#define TAKE(f) if (given->f != NULL) to->f = given->f
	TAKE(name);
	TAKE(nic_mode);
	TAKE(link);
	TAKE(script);
	TAKE(tap);
	TAKE(vhost);
#undef TAKE
	/* --script '' drops the recorded one */
	if (to->script != NULL && to->script[0] == '\0')
		to->script = NULL;
}
