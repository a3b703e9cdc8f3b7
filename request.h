/* A device change as the command line (or sync) asks for it: its options
 * parsed and checked one by one, defaults, and the request that makes a
 * recorded device again. */
#ifndef KH_REQUEST_H
#define KH_REQUEST_H

#include <stdbool.h>

#include <jansson.h>

#include "error.h"
#include "runtime.h"

/* One add or remove, as the command line asked for it. */
struct request {
	enum rt_kind kind;
	enum { OP_REMOVE, OP_ADD, OP_MODIFY } op;
	char uuid[RT_UUID_LEN + 1];
	const char *name;
	int slot;			/* -1: choose one */
	char bus[RT_BUS_MAX];		/* "": the first with room */
	const char *mode;		/* a disk's rw|ro, a NIC's bridged|... */
	/* disk */
	const char *path, *format, *cache, *discard;
	const char *file_driver;	/* "file" or "host_device", from path */
	const char *dev_type;		/* Ganeti's disk type, for a Ganeti file */
	const char *fd_pass;		/* --fd-pass: auto|always|never, or NULL */
	json_t *extra;			/* a format's own keys (sync), or NULL */
	/* nic */
	char mac[18];
	const char *link, *script, *tap, *vhost;
	int queues;
	/* "hand" for an add an operator typed (rt_device.added_by); what
	 * the device had for a modify; NULL for sync's */
	const char *added_by;
	/* modify: the entry the device had in the file, kept for the new
	 * one so that what the format has in it (a Ganeti NIC's ip,
	 * network, ...) stays (rt_device.source) */
	const void *source;
};

/* What modify was given replaces what the NIC had. */
void apply_changes(struct request *to, const struct request *given);

/* What add uses where the command line says nothing. */
void apply_defaults(struct request *r);

/* value is one of allowed (NULL-terminated), else KH_EUSAGE with
 * "OPT: 'value' is not one of a|b|c". */
int parse_choice(const char *opt, const char *value,
		 const char *const *allowed, struct error *e);

/* The device option whose getopt letter is c, checked and stored in r
 * (r->kind set): KH_EUSAGE naming the option. */
int parse_device_option(int c, const char *arg, struct request *r,
			struct error *e);

/* Two optional strings equal (both NULL, or the same text). */
bool request_same_string(const char *a, const char *b);

/* Whether an option given (not NULL) says what is recorded; one not
 * given was the file's or the host's choice and matches anything. */
bool request_gives_same(const char *given, const char *recorded);

#endif
