/* qmpcmd [-f FILE | -T TAP] SOCK COMMAND [ARGUMENTS-JSON]: runs one QMP
 * command and prints its "return" value as compact JSON. The integration
 * tests use it to look at QEMU apart from kvm-hotplug's own logic.
 * -f passes an fd of FILE with the command (SCM_RIGHTS), -T an fd of a
 * new tap named TAP. Exit 1 when QEMU refuses (its description and class
 * on stderr), 4 on a timeout. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../monitor.h"
#include "../tap.h"

static int open_fd(const char *file, const char *tap, int *fd,
		   struct error *e)
{
	char ifname[IFNAMSIZ];

	*fd = -1;
	if (tap != NULL)
		return tap_open(tap, fd, ifname, e);
	if (file != NULL && (*fd = open(file, O_RDWR | O_CLOEXEC)) == -1)
		return error_set(e, KH_EFAIL, "cannot open %s", file);
	return KH_OK;
}

int main(int argc, char **argv)
{
	const char *file = NULL, *tap = NULL;
	struct monitor *m = NULL;
	struct error e = { 0 };
	json_t *args = NULL, *ret = NULL;
	json_error_t jerr;
	char *text;
	int c, fd = -1;

	while ((c = getopt(argc, argv, "f:T:")) != -1) {
		if (c == 'f')
			file = optarg;
		else if (c == 'T')
			tap = optarg;
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
	if (open_fd(file, tap, &fd, &e) != KH_OK ||
	    monitor_open(&m, argv[0], 5000, &e) != KH_OK ||
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
	if (fd >= 0)
		close(fd);
	return e.code;
}
