/* What a run says on standard error: see log.h. */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

static void say(const char *fmt, va_list ap)
{
	fputs("kvm-hotplug: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void verbose(const struct options *o, const char *fmt, ...)
{
	va_list ap;

	if (!o->verbose)
		return;
	va_start(ap, fmt);
	say(fmt, ap);
	va_end(ap);
}

void warning(const char *fmt, ...)
{
	va_list ap;

	fputs("kvm-hotplug: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void notice(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(fmt, ap);
	va_end(ap);
}
