/* qmpcmd [-f FILE | -T TAP] SOCK COMMAND [ARGUMENTS-JSON]: runs one QMP
 * command and prints its "return" value as compact JSON. The integration
 * tests use it to look at QEMU apart from kvm-hotplug's own logic.
 * -f passes an fd of FILE with the command (SCM_RIGHTS), -T an fd of a
 * new tap named TAP. Exit 1 when QEMU refuses (its description and class
 * on stderr), 4 on a timeout: QMP_HANG_MS, a bound on a hang that a busy
 * machine never reaches (another client may hold the monitor a while). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QMP_HANG_MS 60000

#include "../monitor.h"
#include "../tap.h"

static int open_fd(const char *file, const char *tapname, struct tap *tap,
		   int *fd, struct error *e)
{
	*fd = -1;
	if (tapname != NULL) {
		if (tap_open(tap, tapname, 1, e) != KH_OK)
			return e->code;
		*fd = tap->fds[0];
		return KH_OK;
	}
	if (file != NULL && (*fd = open(file, O_RDWR | O_CLOEXEC)) == -1)
		return error_set(e, KH_EFAIL, "cannot open %s", file);
	return KH_OK;
}

int main(int argc, char **argv)
{
	const char *file = NULL, *tapname = NULL;
	struct monitor *m = NULL;
	struct error e = { 0 };
	struct tap tap;
	json_t *args = NULL, *ret = NULL;
	json_error_t jerr;
	char *text;
	int c, fd = -1;

	while ((c = getopt(argc, argv, "f:T:")) != -1) {
		if (c == 'f')
			file = optarg;
		else if (c == 'T')
			tapname = optarg;
		else
			return 2;
	}
	argc -= optind;
	argv += optind;
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: qmpcmd [-f FILE | -T TAP] SOCK COMMAND "
			"[ARGUMENTS-JSON]\n");
		return 2;
	}
	if (argc == 3 && (args = json_loads(argv[2], 0, &jerr)) == NULL) {
		fprintf(stderr, "qmpcmd: bad arguments: %s\n", jerr.text);
		return 2;
	}
	tap_init(&tap);
	if (open_fd(file, tapname, &tap, &fd, &e) != KH_OK ||
	    monitor_open(&m, argv[0], QMP_HANG_MS, &e) != KH_OK ||
	    monitor_execute_fd(m, argv[1], args, fd, &ret, &e) != KH_OK) {
		if (m == NULL)
			json_decref(args);
		fprintf(stderr, "qmpcmd: %s [%s]\n", e.msg, e.qmp_class);
		goto out;
	}
	text = json_dumps(ret, JSON_COMPACT | JSON_ENCODE_ANY);
	printf("%s\n", text ? text : "null");
	free(text);
out:
	json_decref(ret);
	monitor_close(m);
	if (tapname != NULL)
		tap_close(&tap);
	else if (fd >= 0)
		close(fd);
	return e.code;
}
