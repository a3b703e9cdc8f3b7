/* libFuzzer target: the QMP message reader. The input is what QEMU's end
 * of the socket says (greeting, replies, events, garbage); the client
 * attaches, runs a command and waits for an event, as the tool does. */
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../monitor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool any_device(json_t *data, void *arg)
{
	(void)arg;
	return json_object_get(data, "device") != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct monitor *m = NULL;
	struct error e = { 0 };
	json_t *ret = NULL;
	int sv[2];

	/* what fits in the socket's buffer; the rest would block */
	if (size > 65536 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return 0;
	if (write(sv[1], data, size) == (ssize_t)size) {
		shutdown(sv[1], SHUT_WR);	/* then EOF, never a hang */
		if (monitor_attach(&m, sv[0], 20, &e) == KH_OK) {
			if (monitor_execute(m, "query-pci", NULL, &ret, &e) == KH_OK)
				json_decref(ret);
			monitor_wait_event(m, "DEVICE_DELETED", any_device, NULL,
					   10, &e);
			monitor_close(m);
		}
	} else {
		close(sv[0]);
	}
	close(sv[1]);
	return 0;
}
