/* disk and nic: add, remove, modify. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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

#include "commands.h"
#include "flow.h"
#include "request.h"
#include "session.h"

static void device_usage(enum rt_kind kind, FILE *f)
{
	if (kind == RT_DISK)
		fputs("usage: kvm-hotplug [options] disk add --uuid UUID --path PATH\n"
		      "           [--format raw|qcow2] [--cache default|none|writeback|writethrough|unsafe]\n"
		      "           [--mode rw|ro] [--discard ignore|unmap] [--name NAME] [--slot N]\n"
		      "           [--dev-type TYPE]\n"
		      "       kvm-hotplug [options] disk remove --uuid UUID\n", f);
	else
		fputs("usage: kvm-hotplug [options] nic add --uuid UUID --mac MAC\n"
		      "           [--link BRIDGE] [--mode bridged|routed|openvswitch]\n"
		      "           [--script PATH] [--tap NAME] [--queues N] [--vhost on|off|auto]\n"
		      "           [--name NAME] [--slot N]\n"
		      "       kvm-hotplug [options] nic remove --uuid UUID\n"
		      "       kvm-hotplug [options] nic modify --uuid UUID [any add option but --slot]\n", f);
}

/* argv[0] is "add" or "remove". */
int cmd_device(const struct options *o, enum rt_kind kind, int argc,
	       char **argv, struct error *e)
{
	static const struct option longopts[] = {
		{ "uuid", required_argument, NULL, 'u' },
		{ "name", required_argument, NULL, 'n' },
		{ "slot", required_argument, NULL, 's' },
		{ "path", required_argument, NULL, 'p' },
		{ "format", required_argument, NULL, 'f' },
		{ "cache", required_argument, NULL, 'c' },
		{ "discard", required_argument, NULL, 'd' },
		{ "mode", required_argument, NULL, 'o' },
		{ "mac", required_argument, NULL, 'M' },
		{ "link", required_argument, NULL, 'l' },
		{ "script", required_argument, NULL, 'S' },
		{ "tap", required_argument, NULL, 'T' },
		{ "queues", required_argument, NULL, 'Q' },
		{ "vhost", required_argument, NULL, 'H' },
		{ "dev-type", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* which options each command takes; NULL: no such command */
	static const char *const takes[2][3] = {
		[RT_DISK] = { "u", "unspfcdoD", NULL },
		[RT_NIC] = { "u", "unsoMlSTQH", "unoMlSTQH" },
	};
	static const char *const ops[] = { "remove", "add", "modify" };
	struct request r = { .kind = kind, .slot = -1 };
	const char *name = rt_kind_name(kind);
	int c, li = 0;

	if (argc < 1)
		return error_set(e, KH_EUSAGE, "%s: add or remove? (see %s --help)",
				 name, name);
	if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
		device_usage(kind, stdout);
		return KH_OK;
	}
	for (r.op = OP_REMOVE; r.op <= OP_MODIFY; r.op++)
		if (strcmp(argv[0], ops[r.op]) == 0 && takes[kind][r.op] != NULL)
			break;
	if (r.op > OP_MODIFY)
		return error_set(e, KH_EUSAGE, "%s: unknown subcommand '%.40s'",
				 name, argv[0]);
	optind = 0;	/* glibc: 0 restarts getopt from scratch */
	while ((c = getopt_long(argc, argv, ":h", longopts, &li)) != -1) {
		if (c == 'h') {
			device_usage(kind, stdout);
			return KH_OK;
		}
		if (c == ':' || c == '?')
			return error_set(e, KH_EUSAGE, "%s %s: %s '%.40s'", name,
					 argv[0], c == ':' ? "missing value for" :
					 "unknown option", argv[optind - 1]);
		if (strchr(takes[kind][r.op], c) == NULL)
			return error_set(e, KH_EUSAGE, "%s %s does not take '--%s'",
					 name, argv[0], longopts[li].name);
		if (parse_device_option(c, optarg, &r, e) != KH_OK)
			return e->code;
	}
	if (optind < argc)
		return error_set(e, KH_EUSAGE, "%s %s: unexpected argument '%.40s'",
				 name, argv[0], argv[optind]);
	if (check_request(&r, argv[0], e) != KH_OK || need_paths(o, e) != KH_OK)
		return e->code;
	if (r.op == OP_REMOVE)
		return remove_device(o, &r, e);
	if (r.op == OP_MODIFY)
		return modify_nic(o, &r, e);
	return add_checked(o, &r, e);
}
