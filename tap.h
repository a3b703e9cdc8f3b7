/* Tap devices for virtio NICs: opened here, handed to QEMU over the
 * monitor (getfd). The NIC commands build on this. */
#ifndef KH_TAP_H
#define KH_TAP_H

#include <stdbool.h>
#include <net/if.h>

#include "error.h"

/* Linux interface names: 1 to IFNAMSIZ-1 bytes, no '/', ':' or space. */
bool tap_name_is_valid(const char *name);

/* Opens /dev/net/tun as a tap (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR) named
 * name, or a kernel-chosen name if name is NULL. The actual name goes to
 * ifname. The tap lives as long as an fd to it is open. */
int tap_open(const char *name, int *fd, char ifname[IFNAMSIZ],
	     struct error *e);

#endif
