/* kvm-hotplug: hot-add and hot-remove virtio devices in a running QEMU and
 * keep the instance runtime file in step with the VM. See kvm-hotplug(8)
 * and docs/design.md for where each concern lives.
 *
 * This file is main: the global options and the commands (cmd-*.c).
 * One invocation is one operation, in five steps:
 *   1. lock and load the runtime file      (session.c, runtime.c)
 *   2. connect to the QEMU monitor         (session.c, monitor.c)
 *   3. choose a PCI slot, or find the device by its UUID (flow.c, pci.c)
 *   4. plug or unplug it                   (flow.c, disk.c, nic.c, qdev.c)
 *   5. rewrite the runtime file atomically (session.c, runtime.c)
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "log.h"
#include "monitor.h"
#include "options.h"
#include "output.h"

#ifndef KH_VERSION
#define KH_VERSION "unknown"
#endif

#define GANETI_DIR "/var/run/ganeti/kvm-hypervisor"

static void usage(FILE *f)
{
	fputs("usage: kvm-hotplug [-jqv] [-r FILE] [-m SOCK] [-t SEC] COMMAND ...\n"
	      "\n"
	      "commands:\n", f);
	cmd_print_overview(f);
	fputs("\n"
	      "options:\n"
	      "  -r, --runtime FILE  instance runtime file (created by add if missing)\n"
	      "  -m, --monitor SOCK  QEMU's QMP socket\n"
	      "  -i, --instance NAME Ganeti instance: FILE is DIR/conf/NAME.runtime,\n"
	      "                      SOCK is DIR/ctrl/NAME.qmp\n"
	      "      --ganeti-dir DIR  (default " GANETI_DIR ")\n"
	      "  -t, --timeout SEC   bound on every wait (default 10)\n"
	      "  -j, --json          print the result as one JSON object\n"
	      "  -q, --quiet         print nothing on success\n"
	      "  -v, --verbose       print each step on stderr (each QMP exchange)\n"
	      "  -n, --dry-run       with a command that changes something (before\n"
	      "                      or after it): print the QMP commands it would\n"
	      "                      send and the file it would write; change nothing\n"
	      "  -h, --help          this text; COMMAND --help for a command's\n"
	      "  -V, --version       print the version\n"
	      "\n"
	      "exit status: 0 done; 1 failed, nothing changed; 2 bad usage or input;\n"
	      "3 hotplug not possible (takes effect at the next reboot); 4 timed out\n",
	      f);
}

static int parse_timeout(const char *value, int *ms, struct error *e)
{
	char *end;
	double s;

	errno = 0;
	s = strtod(value, &end);
	if (errno || end == value || *end != '\0' || !(s > 0) || s > 86400)
		return error_set(e, KH_EUSAGE,
				 "--timeout: '%.20s' is not a number of seconds "
				 "above 0 and up to 86400",
				 value);
	*ms = (int)(s * 1000 + 0.5);
	if (*ms < 1)
		*ms = 1;
	return KH_OK;
}

/* ---- step 2: the monitor, and whether hotplug can work at all ---- */

/* ---- step 4: QMP commands shared by every kind ---- */

/* ---- step 4 for a disk: a block node and a virtio-blk-pci ---- */

/* ---- step 4 for a nic: a tap's fds, a netdev and a virtio-net-pci ---- */

/* ---- the host side of a nic ---- */

/* ---- results ---- */

/* ---- the operations ---- */

/* ---- crash consistency: the intent record ---- */

/* ---- cmdline: the options that make the recorded devices again ---- */

/* ---- check: the runtime file against the live VM ---- */

/* ---- command line ---- */

/* ---- sync: the VM made to have what the configuration says ---- */

/* --instance NAME: Ganeti's paths for NAME, unless -r or -m say otherwise. */
static int instance_paths(struct options *o, struct error *e)
{
	const char *dir = o->ganeti_dir != NULL ? o->ganeti_dir : GANETI_DIR;
	const char *n = o->instance;

	if (n == NULL)
		return o->ganeti_dir == NULL ? KH_OK :
		       error_set(e, KH_EUSAGE, "--ganeti-dir goes with --instance");
	if (n[0] == '\0' || n[0] == '.' || strchr(n, '/') != NULL ||
	    strlen(n) > 255)
		return error_set(e, KH_EUSAGE, "--instance: '%.60s' is not an "
				 "instance name", n);
	if (o->ganeti_dir != NULL && access(dir, F_OK) == -1)
		return error_set(e, KH_EUSAGE, "--ganeti-dir: %.200s: %s", dir,
				 strerror(errno));
	if ((size_t)snprintf(o->runtime_path, sizeof(o->runtime_path),
			     "%s/conf/%s.runtime", dir, n) >= sizeof(o->runtime_path) ||
	    (size_t)snprintf(o->monitor_path, sizeof(o->monitor_path),
			     "%s/ctrl/%s.qmp", dir, n) >= sizeof(o->monitor_path))
		return error_set(e, KH_EUSAGE, "--ganeti-dir: too long");
	if (o->runtime == NULL)
		o->runtime = o->runtime_path;
	if (o->monitor == NULL)
		o->monitor = o->monitor_path;
	return KH_OK;
}

/* The runtime file's path, once and for all: what a run records of it
 * (the prepared file the intent record names) must hold for a later run
 * started in another directory. */
static int absolute_runtime(struct options *o, struct error *e)
{
	char cwd[PATH_MAX];

	if (o->runtime == NULL || o->runtime[0] == '/')
		return KH_OK;
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return error_set(e, KH_EFAIL, "cannot tell the current directory: %s",
				 strerror(errno));
	if ((size_t)snprintf(o->runtime_abs, sizeof(o->runtime_abs), "%s/%s", cwd,
			     o->runtime) >= sizeof(o->runtime_abs))
		return error_set(e, KH_EUSAGE, "--runtime: too long");
	o->runtime = o->runtime_abs;
	return KH_OK;
}

/* Parses the options before COMMAND; *next is COMMAND's index. */
static int parse_global(int argc, char **argv, struct options *o, int *next,
			struct error *e)
{
	static const struct option longopts[] = {
		{ "runtime", required_argument, NULL, 'r' },
		{ "monitor", required_argument, NULL, 'm' },
		{ "instance", required_argument, NULL, 'i' },
		{ "ganeti-dir", required_argument, NULL, 'G' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "+:r:m:i:t:jqvnhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': o->runtime = optarg; break;
		case 'm': o->monitor = optarg; break;
		case 'i': o->instance = optarg; break;
		case 'G': o->ganeti_dir = optarg; break;
		case 't':
			if (parse_timeout(optarg, &o->timeout_ms, e) != KH_OK)
				return e->code;
			break;
		case 'j': o->json = true; break;
		case 'q': o->quiet = true; break;
		case 'v': o->verbose = true; break;
		/* as make -n and rsync -n are typed: the command checks it
		 * takes it (cmd_run) */
		case 'n': o->dry_run_first = true; break;
		case 'h': usage(stdout); *next = -1; return KH_OK;
		case 'V': printf("kvm-hotplug %s\n", KH_VERSION); *next = -1; return KH_OK;
		case ':':
			return error_set(e, KH_EUSAGE, "missing value for '%.40s'",
					 argv[optind - 1]);
		default:
			return error_set(e, KH_EUSAGE, "unknown option '%.40s'",
					 argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return error_set(e, KH_EUSAGE, "no command given (see --help)");
	*next = optind;
	if (instance_paths(o, e) != KH_OK)
		return e->code;
	return absolute_runtime(o, e);
}

static int run(int argc, char **argv, struct options *o, struct error *e)
{
	int next = -1;

	if (parse_global(argc, argv, o, &next, e) != KH_OK || next < 0)
		return e->code;
	return cmd_run(o, argc - next, argv + next, e);
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

int main(int argc, char **argv)
{
	struct options o = { .timeout_ms = 10000 };
	struct error e = { 0 };
	/* no SA_RESTART: a wait ends at the signal */
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t handled;

	/* A monitor that goes away must give an error, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	/* A hook's caller times it out with SIGTERM, an operator with ^C: the
	 * wait under way gives up and the run ends the way a timeout does,
	 * with what it did recorded (a removal as pending, an add whose
	 * outcome is unknown in its intent record) */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&handled);
	sigaddset(&handled, SIGTERM);
	sigaddset(&handled, SIGINT);
	sigaddset(&handled, SIGHUP);
	monitor_interrupt_on(&interrupted, &handled);
	if (run(argc, argv, &o, &e) != KH_OK) {
		notice("%s", e.msg);
		if (o.json && !o.reported)
			print_json(json_pack("{s:s, s:i, s:s}", "error", e.msg,
					     "exit", e.code, "qmp_class",
					     e.qmp_class));
	}
	return e.code;
}
