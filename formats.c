/* The formats a runtime file may be in: see formats.h. */
#include <string.h>

#include "formats.h"
#include "ganeti.h"
#include "native.h"

/* By format; and in the order a text is offered to them, since the
 * native YAML takes whatever Ganeti's JSON does not. */
static const struct rt_codec *const codecs[] = {
	[RT_NATIVE] = &native_codec,
	[RT_GANETI] = &ganeti_codec,
};
static const enum rt_format asked[] = { RT_GANETI, RT_NATIVE };

const struct rt_codec *rt_codec_of(enum rt_format format)
{
	return codecs[format];
}

int rt_codec_for(const char *name, const char *buf, size_t len,
		 const struct rt_codec **c, struct error *e)
{
	size_t i;

	/* neither format has one, and a rewrite would not keep it */
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		return error_set(e, KH_EUSAGE, "%s: line 1: starts with a UTF-8 byte order "
				 "mark, which neither YAML here nor Ganeti's JSON "
				 "has: remove it (the first 3 bytes)", name);
	for (i = 0; i + 1 < sizeof(asked) / sizeof(asked[0]); i++)
		if (codecs[asked[i]]->recognise(buf, len))
			break;
	*c = codecs[asked[i]];	/* the last takes what the others leave */
	return KH_OK;
}
