/* cmdline: the QEMU options that make the recorded devices again at
 * their slots, for a migration target's command line; each kind gives
 * its own (kind_ops.cmdline). */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "kind.h"
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

static int cmdline_exec(struct session *s, struct cmd_args *a, struct error *e)
{
	json_t *argv;

	/* --json is one object, as every command's: not lines or words */
	if (s->o->json && a->format != NULL && strcmp(a->format, "json") != 0)
		return error_set(e, KH_EUSAGE, "cmdline: --json prints JSON, "
				 "--format %s does not: not both", a->format);
	if ((argv = json_array()) == NULL)
		return error_nomem(e);
	for (size_t i = 0; i < s->rt.ndev; i++)
		if (kind_ops(s->rt.dev[i].kind)->cmdline(argv, &s->rt.dev[i]) != 0) {
			error_nomem(e);
			break;
		}
	/* released before printing: a slow reader must not hold it */
	runtime_unlock(&s->rt);
	if (e->code == KH_OK && s->o->json)
		print_verdict(s->o, json_pack("{s:s, s:O}", "runtime",
					      s->o->runtime, "argv", argv), e);
	else if (e->code == KH_OK)
		print_cmdline(a->format != NULL ? a->format : "lines", argv);
	json_decref(argv);
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
