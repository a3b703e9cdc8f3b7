/* A device change as asked for: see request.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pci.h"
#include "request.h"
#include "tap.h"

#define NAME_MAX_LEN 128

/* What --mode may say for a kind, the default first. */
static const char *const *modes_of(enum rt_kind kind)
{
	static const char *const *const modes[] = {
		[RT_DISK] = rt_disk_modes,
		[RT_NIC] = rt_nic_modes,
	};

	return modes[kind];
}

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

	/* digits only: no sign, space or leading zero (010 is no octal) */
	errno = 0;
	n = strtol(value, &end, 10);
	if (errno || end == value || *end != '\0' || n < min || n > max ||
	    strspn(value, "0123456789") != strlen(value) ||
	    (value[0] == '0' && value[1] != '\0'))
		return error_set(e, KH_EUSAGE, "%s: '%.20s' is not a number %d-%d",
				 opt, value, min, max);
	*out = (int)n;
	return KH_OK;
}

static int parse_bus(const char *value, char *out, struct error *e)
{
	if (!bus_is_valid(value) || strlen(value) >= RT_BUS_MAX)
		return error_set(e, KH_EUSAGE, "--bus: '%.40s' is not a bus name "
				 "(1-%d of A-Z a-z 0-9 . _ -)", value,
				 RT_BUS_MAX - 1);
	memcpy(out, value, strlen(value) + 1);
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

	switch (c) {
	case 'u': return parse_uuid(arg, r->uuid, e);
	case 'N': r->name = arg; return parse_name(arg, e);
	case 's': return parse_int_option("--slot", arg, 0, PCI_SLOTS - 1, &r->slot, e);
	case 'b': return parse_bus(arg, r->bus, e);
	case 'p': r->path = arg; return KH_OK;
	case 'f': r->format = arg; return parse_choice("--format", arg, rt_disk_formats, e);
	case 'c': r->cache = arg; return parse_choice("--cache", arg, rt_disk_caches, e);
	case 'd': r->discard = arg; return parse_choice("--discard", arg, rt_disk_discards, e);
	case 'o':
		r->mode = arg;
		return parse_choice("--mode", arg, modes_of(r->kind), e);
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
	case 'x': r->fd_pass = arg; return parse_choice("--fd-pass", arg, rt_fd_passes, e);
	}
	return error_set(e, KH_EUSAGE, "unknown option");
}

/* What add uses where the command line says nothing. */
void apply_defaults(struct request *r)
{
	if (r->format == NULL)
		r->format = "raw";
	if (r->mode == NULL)
		r->mode = modes_of(r->kind)[0];
	/* cache, discard, queues, vhost: the runtime file's defaults */
}

bool request_same_string(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

bool request_gives_same(const char *given, const char *recorded)
{
	return given == NULL || request_same_string(given, recorded);
}

void apply_changes(struct request *to, const struct request *given)
{
	if (given->mac[0] != '\0')
		memcpy(to->mac, given->mac, sizeof(to->mac));
	if (given->queues > 0)
		to->queues = given->queues;
#define TAKE(f) if (given->f != NULL) to->f = given->f
	TAKE(name);
	TAKE(mode);
	TAKE(link);
	TAKE(script);
	TAKE(tap);
	TAKE(vhost);
#undef TAKE
	/* --script '' drops the recorded one */
	if (to->script != NULL && to->script[0] == '\0')
		to->script = NULL;
}
