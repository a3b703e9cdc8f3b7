#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

/* Messages are printed as one line: newlines from QEMU or from file
 * contents would break that contract, so they become spaces. */
static void flatten(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

int error_set(struct error *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return code;
	e->code = code;
	e->qmp_class[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	flatten(e->msg);
	return code;
}

int error_prefix(struct error *e, const char *fmt, ...)
{
	char prefix[256];
	size_t plen, keep;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	plen = strlen(prefix);
	/* Shift the old message right, cutting its tail if it must. */
	keep = strlen(e->msg);
	if (plen + keep >= sizeof(e->msg))
		keep = sizeof(e->msg) - plen - 1;
	memmove(e->msg + plen, e->msg, keep);
	memcpy(e->msg, prefix, plen);
	e->msg[plen + keep] = '\0';
	flatten(e->msg);
	return e->code;
}

void error_clear(struct error *e)
{
	e->code = KH_OK;
	e->qmp_class[0] = '\0';
	e->msg[0] = '\0';
}

int error_nomem(struct error *e)
{
	return error_set(e, KH_EFAIL, "out of memory");
}
