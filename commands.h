/* The commands, one file each (cmd-*.c), called by main's table. */
#ifndef KH_COMMANDS_H
#define KH_COMMANDS_H

#include <stdbool.h>

#include "error.h"
#include "options.h"
#include "runtime.h"

/* argv[0] is "add" or "remove". */
int cmd_device(const struct options *o, enum rt_kind kind, int argc,
	       char **argv, struct error *e);

/* argv[0] is "list" or "check": both set the file beside QEMU. */
int cmd_list(struct options *o, int argc, char **argv,
	     struct error *e);

int check_vm(struct options *o, bool repair, struct error *e);

int cmd_cmdline(const struct options *o, int argc, char **argv,
		struct error *e);

int cmd_sync(struct options *o, int argc, char **argv, struct error *e);

#endif
