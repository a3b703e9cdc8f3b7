#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tap.h"

bool tap_name_is_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= IFNAMSIZ || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (name[i] == '/' || name[i] == ':' || name[i] <= ' ' ||
		    name[i] == 0x7f)
			return false;
	return true;
}

int tap_open(const char *name, int *fd, char ifname[IFNAMSIZ],
	     struct error *e)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };

	if (name != NULL && !tap_name_is_valid(name))
		return error_set(e, KH_EUSAGE, "invalid tap name '%.40s'", name);
	if (name != NULL)
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if ((*fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)) == -1)
		return error_set(e, KH_EFAIL, "/dev/net/tun: %s", strerror(errno));
	if (ioctl(*fd, TUNSETIFF, &ifr) == -1) {
		error_set(e, KH_EFAIL, "tap %s: %s", name ? name : "(new)",
			  strerror(errno));
		close(*fd);
		*fd = -1;
		return e->code;
	}
	memcpy(ifname, ifr.ifr_name, IFNAMSIZ);
	ifname[IFNAMSIZ - 1] = '\0';
	return KH_OK;
}
