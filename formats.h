/* The formats a runtime file may be in: the one place that knows every
 * codec (codec.h), for runtime.c, which knows none of them. */
#ifndef KH_FORMATS_H
#define KH_FORMATS_H

#include <stddef.h>

#include "codec.h"
#include "error.h"

/* The codec of format. */
const struct rt_codec *rt_codec_of(enum rt_format format);

/* The format of a file that does not exist yet, and of an empty
 * struct runtime. */
#define RT_FORMAT_NEW RT_NATIVE

/* The codec that reads buf into *c. KH_EUSAGE "NAME: line 1: ..." for
 * what no format has at its start (a UTF-8 byte order mark, which a
 * rewrite would not keep either). */
int rt_codec_for(const char *name, const char *buf, size_t len,
		 const struct rt_codec **c, struct error *e);

#endif
