/* disk add|remove, nic add|remove|modify: a device change, as the
 * command line asks for it (flow.c does it). */

#include "cmd.h"
#include "flow.h"
#include "kind.h"

static const char *const verbs[] = { [OP_REMOVE] = "remove", [OP_ADD] = "add",
				     [OP_MODIFY] = "modify" };

static int device_check(struct cmd_args *a, unsigned *needs, struct error *e)
{
	(void)needs;
	return check_request(&a->r, verbs[a->r.op], e);
}

static int device_ready(struct cmd_args *a, struct error *e)
{
	return flow_check_add(&a->r, e);
}

static int device_add(struct session *s, struct cmd_args *a, struct error *e)
{
	return flow_add(s, &a->r, e);
}

static int device_remove(struct session *s, struct cmd_args *a, struct error *e)
{
	return flow_remove(s, &a->r, e);
}

static int device_modify(struct session *s, struct cmd_args *a, struct error *e)
{
	return flow_modify(s, &a->r, e);
}

#define CHANGES	(CMD_RUNTIME | CMD_MONITOR | CMD_SETTLE)

const struct cmd_entry cmd_disk_add_entry = {
	.object = "disk", .verb = "add", .options = "uNsbpfcdoDxwn",
	.usage = "disk add --uuid UUID --path PATH [--format raw|qcow2]\n"
		 "           [--cache default|none|writeback|writethrough|unsafe]\n"
		 "           [--mode rw|ro] [--discard ignore|unmap] [--name NAME]\n"
		 "           [--bus BUS] [--slot N] [--fd-pass auto|always|never]\n"
		 "           [--wait plugged|ready]\n"
		 "           [--dev-type TYPE]  (Ganeti's disk type, for a Ganeti file)",
	.needs = CHANGES | CMD_CREATE, .kind = RT_DISK, .op = OP_ADD,
	.check = device_check, .ready = device_ready, .exec = device_add,
};

const struct cmd_entry cmd_disk_remove_entry = {
	.object = "disk", .verb = "remove", .options = "un",
	.usage = "disk remove --uuid UUID",
	.needs = CHANGES | CMD_CHANGE, .kind = RT_DISK, .op = OP_REMOVE,
	.check = device_check, .exec = device_remove,
};

const struct cmd_entry cmd_nic_add_entry = {
	.object = "nic", .verb = "add", .options = "uNsboMlSTQHwn",
	.usage = "nic add --uuid UUID --mac MAC [--link BRIDGE]\n"
		 "           [--mode bridged|routed|openvswitch] [--script PATH] [--tap NAME]\n"
		 "           [--queues N] [--vhost on|off|auto] [--name NAME]\n"
		 "           [--bus BUS] [--slot N] [--wait plugged|ready]",
	.needs = CHANGES | CMD_CREATE, .kind = RT_NIC, .op = OP_ADD,
	.check = device_check, .ready = device_ready, .exec = device_add,
};

const struct cmd_entry cmd_nic_remove_entry = {
	.object = "nic", .verb = "remove", .options = "un",
	.usage = "nic remove --uuid UUID",
	.needs = CHANGES | CMD_CHANGE, .kind = RT_NIC, .op = OP_REMOVE,
	.check = device_check, .exec = device_remove,
};

const struct cmd_entry cmd_nic_modify_entry = {
	.object = "nic", .verb = "modify", .options = "uNoMlSTQHwn",
	.usage = "nic modify --uuid UUID [any nic add option but --bus, --slot]",
	.summary = "remove and add again, same bus and slot (--script '' drops a script)",
	.needs = CHANGES | CMD_CHANGE, .kind = RT_NIC, .op = OP_MODIFY,
	.check = device_check, .exec = device_modify,
};
