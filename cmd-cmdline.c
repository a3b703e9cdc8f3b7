/* cmdline: the QEMU options that make the recorded devices again at
 * their buses and slots, for a migration target's command line; each
 * kind gives its own (kind_ops.cmdline). The buses beyond pci.0 (root
 * ports, bridges) are the VM's base command line's, which the target
 * must have too: cmdline names them, since without a monitor it cannot
 * know the target's. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "kind.h"
#include "log.h"
#include "output.h"

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

/* The buses the recorded devices are on, each once, in the file's
 * order; NULL on ENOMEM. */
static json_t *buses_needed(const struct runtime *rt)
{
	json_t *buses = json_array(), *b;
	size_t i, j;

	for (i = 0; i < rt->ndev && buses != NULL; i++) {
		json_array_foreach(buses, j, b)
			if (strcmp(json_string_value(b), rt->dev[i].bus) == 0)
				break;
		if (j == json_array_size(buses) &&
		    json_array_append_new(buses, json_string(rt->dev[i].bus)) != 0) {
			json_decref(buses);
			buses = NULL;
		}
	}
	return buses;
}

/* The buses beyond pci.0 a target must make itself, on stderr. */
static void tell_buses(const struct options *o, json_t *buses)
{
	char list[256] = "";
	size_t i, len = 0;
	json_t *b;

	json_array_foreach(buses, i, b)
		if (strcmp(json_string_value(b), PCI_HOTPLUG_BUS) != 0 &&
		    len < sizeof(list))
			len += snprintf(list + len, sizeof(list) - len, "%s%s",
					len ? ", " : "", json_string_value(b));
	if (len > 0 && !o->quiet)
		notice("these devices go on %s: the target's own command line "
		       "must make %s before them, as the source's did", list,
		       strchr(list, ',') ? "those buses" : "that bus");
}

static int cmdline_exec(struct session *s, struct cmd_args *a, struct error *e)
{
	json_t *argv, *buses;

	/* --json is one object, as every command's: not lines or words */
	if (s->o->json && a->format != NULL && strcmp(a->format, "json") != 0)
		return error_set(e, KH_EUSAGE, "cmdline: --json prints JSON, "
				 "--format %s does not: not both", a->format);
	if ((buses = buses_needed(&s->rt)) == NULL)
		return error_nomem(e);
	if ((argv = json_array()) == NULL) {
		json_decref(buses);
		return error_nomem(e);
	}
	for (size_t i = 0; i < s->rt.ndev; i++)
		if (kind_ops(s->rt.dev[i].kind)->cmdline(argv, &s->rt.dev[i]) != 0) {
			error_nomem(e);
			break;
		}
	/* released before printing: a slow reader must not hold it */
	runtime_unlock(&s->rt);
	if (e->code == KH_OK && s->o->json)
		print_verdict(s->o, json_pack("{s:s, s:O, s:O}", "runtime",
					      s->o->runtime, "argv", argv,
					      "buses", buses), e);
	else if (e->code == KH_OK)
		print_cmdline(a->format != NULL ? a->format : "lines", argv);
	if (e->code == KH_OK && !s->o->json)
		tell_buses(s->o, buses);
	json_decref(argv);
	json_decref(buses);
	return e->code;
}

static int cmdline_option(int c, const char *arg, struct cmd_args *a,
			  struct error *e)
{
	static const char *const formats[] = { "lines", "shell", "json", NULL };

	(void)c;
	a->format = arg;
	return parse_choice("--format", arg, formats, e);
}

const struct cmd_entry cmd_cmdline_entry = {
	.object = "cmdline", .options = "f",
	.usage = "cmdline [--format lines|shell|json]",
	.summary = "QEMU options that make the recorded devices again (migration);\n"
		   "needs only -r",
	.needs = CMD_RUNTIME | CMD_READ,
	.option = cmdline_option, .exec = cmdline_exec,
};
