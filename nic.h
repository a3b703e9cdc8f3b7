/* A NIC: its host side (tap, vhost, bridge, ifup/ifdown scripts), its QMP
 * sequence (fds passed with getfd, a tap netdev, a virtio-net-pci
 * device), and its options for cmdline. */
#ifndef KH_NIC_H
#define KH_NIC_H

#include <stdbool.h>

#include <jansson.h>

#include "error.h"
#include "monitor.h"
#include "options.h"
#include "request.h"
#include "runtime.h"
#include "tap.h"

/* What the new settings of a modified NIC (old, recorded in rt) need,
 * checked before the old NIC is unplugged: what add would refuse, a tap
 * name another interface has, vhost the host cannot give. */
int check_nic_change(const struct runtime *rt, const struct rt_device *old,
		     const struct request *want, struct error *e);

/* What the host side of a NIC needs, checked before anything is made:
 * the tool sets up a bridged tap itself; other modes are the script's. */
int check_nic_link(const struct request *r, struct error *e);

/* The target's QEMU opens the tap by name; the caller puts it on its
 * link (or runs the ifup script) once QEMU is up. A name the source's
 * kernel handed out may be another VM's tap on the target, where QEMU
 * would take it (or its queues) over: such a NIC's tap there gets the
 * name made for it. */
json_t *netdev_cmdline_args(const struct rt_device *d);

json_t *nic_device_args(const struct rt_device *d);

/* Opens the tap (and vhost-net) and puts it on its link. Until QEMU has
 * its fds, closing ours undoes all of it but what a script did. */
int nic_host_up(const struct options *o, const struct request *r,
		struct rt_device *d, struct tap *tap, bool *script_ran,
		struct error *e);

int nic_plug(const struct options *o, struct monitor *m,
	     const struct rt_device *d, const struct tap *tap,
	     struct error *e);

/* Two NICs with one MAC: refused for any recorded NIC but except. */
int refuse_mac_in_use(const struct runtime *rt, const char *mac,
		      const struct rt_device *except, struct error *e);

/* Runs the NIC's ifup script, or with down set its ifdown counterpart. */
int run_nic_script(const struct options *o, const struct rt_device *d,
		   bool down, struct error *e);

#endif
