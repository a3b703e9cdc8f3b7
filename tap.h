/* Host side of a virtio NIC: the tap (one fd per queue), vhost-net fds,
 * bringing it up, putting it on a bridge, and the ifup/ifdown scripts.
 * The fds are handed to QEMU over the monitor (getfd). A tap opened here
 * is not persistent: it goes away when the last fd to it is closed, ours
 * and QEMU's, so closing ours undoes everything until QEMU holds one. */
#ifndef KH_TAP_H
#define KH_TAP_H

#include <stdbool.h>
#include <net/if.h>

#include "error.h"
/* TAP_MAX_QUEUES, and the names and their validators (tap_name_is_valid,
 * tap_name_is_kernels, tap_name_for_uuid, mac_is_valid): the model's */
#include "model.h"

struct tap {
	char name[IFNAMSIZ];
	int queues;
	int fds[TAP_MAX_QUEUES];	/* one per queue; -1 when closed */
	int vhostfds[TAP_MAX_QUEUES];	/* one per queue, or all -1 */
	bool vnet_hdr;			/* opened with IFF_VNET_HDR */
};

/* Sets every fd to -1. */
void tap_init(struct tap *t);

/* Whether taps can be made here: the tun device opens and tells its
 * features. KH_EFAIL naming the device and why not. */
int tap_usable(struct error *e);

/* Opens a new tap with queues fds (IFF_MULTI_QUEUE when queues > 1),
 * IFF_TAP|IFF_NO_PI, and IFF_VNET_HDR when the kernel offers it
 * (TUNGETFEATURES). name NULL lets the kernel choose ("tap%d"); an
 * interface that already exists under name is refused (KH_EFAIL): it
 * would not be ours to take away. */
int tap_open(struct tap *t, const char *name, int queues, struct error *e);

/* mode "on": one /dev/vhost-net fd per queue or KH_ENOHOTPLUG; "auto":
 * the same if /dev/vhost-net can be opened, else none (only when it is
 * missing or not permitted; other errors fail); "off": none. *used tells
 * whether vhostfds are set. A second call replaces the first one's fds. */
int tap_open_vhost(struct tap *t, const char *mode, bool *used,
		   struct error *e);

/* Sets the tap's link up. */
int tap_up(const struct tap *t, struct error *e);

/* KH_EUSAGE unless bridge names an existing Linux bridge (KH_EFAIL when
 * the kernel cannot be asked). */
int tap_check_bridge(const char *bridge, struct error *e);

/* Whether interface name exists, and the bridge it is a port of ("" for
 * none; from /sys/class/net/NAME/master) in master. */
bool tap_exists(const char *name, char *master, size_t size);

/* Makes the tap a port of bridge (SIOCBRADDIF). */
int tap_enslave(const struct tap *t, const char *bridge, struct error *e);

/* What an ifup/ifdown script gets in its environment, as Ganeti's
 * kvm-ifup does. NULL members are left out. */
struct tap_script_env {
	const char *instance;	/* INSTANCE */
	const char *mac;	/* MAC */
	const char *mode;	/* MODE */
	const char *link;	/* LINK */
	const char *uuid;	/* INTERFACE_UUID */
	const char *name;	/* INTERFACE_NAME */
	const char *bridge;	/* BRIDGE (bridged mode) */
};

/* Runs script with the tap's name as its only argument, INTERFACE=tap and
 * env (may be NULL) in an otherwise minimal environment (PATH), stdin from
 * /dev/null, in a process group of its own, and waits at most timeout_ms
 * for it to exit (then kills the group: KH_ETIMEOUT). Its exit status
 * decides: a child it leaves running, even one holding its output, is
 * not waited for. A non-zero exit is KH_EFAIL with the status and its
 * last line of output. SIGCHLD must not be ignored. */
int tap_run_script(const char *script, const char *tap,
		   const struct tap_script_env *env, int timeout_ms,
		   struct error *e);

/* Closes our fds (tap and vhost). */
void tap_close(struct tap *t);

#endif
