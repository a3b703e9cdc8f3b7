/* The native runtime file, kvm-hotplug-runtime(5): YAML (yamltree.h)
 * with the schema of version 1, every device field of the model's under
 * its name. A codec (codec.h); its data for a file is the YAML tree as
 * read, so that keys this version does not know, written by a newer one
 * or by hand, survive a rewrite in their place. */
#ifndef KH_NATIVE_H
#define KH_NATIVE_H

#include "codec.h"

extern const struct rt_codec native_codec;

#endif
