/* cmdline: the QEMU options that make the recorded devices again, for a
 * migration target. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "commands.h"
#include "disk.h"
#include "nic.h"
#include "output.h"
#include "session.h"

/* Appends "-OPTION" and args as JSON to argv (a JSON array of strings). */
static int append_option(json_t *argv, const char *option, json_t *args)
{
	char *text = args != NULL ? json_dumps(args, JSON_COMPACT) : NULL;
	int rc = text == NULL || json_array_append_new(argv, json_string(option)) ||
		 json_array_append_new(argv, json_string(text));

	free(text);
	json_decref(args);
	return rc ? -1 : 0;
}

static int device_options(json_t *argv, const struct rt_device *d)
{
	if (d->kind == RT_DISK)
		return append_option(argv, "-blockdev",
				     blockdev_args(d, file_driver_of(d))) ||
		       append_option(argv, "-device", disk_device_args(d));
	return append_option(argv, "-netdev", netdev_cmdline_args(d)) ||
	       append_option(argv, "-device", nic_device_args(d));
}

/* 'it'\''s': one shell word, whatever s holds. */
static void print_shell_word(const char *s)
{
	putchar('\'');
	for (; *s != '\0'; s++)
		fputs(*s == '\'' ? "'\\''" : (char[]){ *s, '\0' }, stdout);
	putchar('\'');
}

static int print_cmdline(const char *format, json_t *argv)
{
	size_t i;
	json_t *arg;

	if (strcmp(format, "json") == 0) {
		print_json(json_incref(argv));
		return KH_OK;
	}
	json_array_foreach(argv, i, arg) {
		const char *s = json_string_value(arg);

		if (strcmp(format, "lines") == 0)
			printf("%s\n", s);
		else if (s[0] == '-')
			printf("%s%s", i ? " " : "", s);
		else {
			putchar(' ');
			print_shell_word(s);
		}
	}
	if (strcmp(format, "shell") == 0 && json_array_size(argv) > 0)
		putchar('\n');
	return KH_OK;
}

static int cmdline(const struct options *o, const char *format, struct error *e)
{
	struct runtime rt;
	json_t *argv = json_array();

	runtime_init(&rt);
	if (argv == NULL)
		error_set(e, KH_EFAIL, "out of memory");
	else if (load_runtime(o, &rt, FILE_READ, e) == KH_OK) {
		for (size_t i = 0; i < rt.ndev; i++)
			if (device_options(argv, &rt.dev[i]) != 0) {
				error_set(e, KH_EFAIL, "out of memory");
				break;
			}
		/* released before printing: a slow reader must not hold it */
		runtime_close(&rt);
		if (e->code == KH_OK)
			print_cmdline(format, argv);
	}
	json_decref(argv);
	runtime_close(&rt);
	return e->code;
}

int cmd_cmdline(const struct options *o, int argc, char **argv,
		struct error *e)
{
	static const char *const formats[] = { "lines", "shell", "json", NULL };
	const char *format = "lines";

	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		puts("usage: kvm-hotplug -r FILE cmdline [--format lines|shell|json]");
		return KH_OK;
	}
	if (argc == 3 && strcmp(argv[1], "--format") == 0)
		format = argv[2];
	else if (argc != 1)
		return error_set(e, KH_EUSAGE, "cmdline takes only --format "
				 "lines|shell|json");
	if (parse_choice("--format", format, formats, e) != KH_OK)
		return e->code;
	if (o->runtime == NULL)
		return error_set(e, KH_EUSAGE, "--runtime FILE is required");
	return cmdline(o, format, e);
}
