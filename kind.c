/* The device kinds' operations by kind: see kind.h. */
#include <string.h>

#include "kind.h"

const struct kind_ops *kind_ops(enum rt_kind k)
{
	static const struct kind_ops *const ops[] = {
		[RT_DISK] = &disk_ops,
		[RT_NIC] = &nic_ops,
	};

	return ops[k];
}

const struct kind_ops *kind_ops_named(const char *name)
{
	for (enum rt_kind k = RT_DISK; k <= RT_NIC; k++)
		if (name != NULL && strcmp(name, rt_kind_name(k)) == 0)
			return kind_ops(k);
	return NULL;
}
