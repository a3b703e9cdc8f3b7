/* libFuzzer target: the runtime file loader, native YAML and Ganeti JSON.
 * Anything it accepts must also format and read back: a file the tool
 * could not write again would lock every later run out of the VM. */
#include <stdint.h>
#include <stdlib.h>

#include "../runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct runtime rt, back;
	struct error e = { 0 };
	char *text;
	size_t len;

	runtime_init(&rt);
	runtime_init(&back);
	if (runtime_parse(&rt, "fuzz", (const char *)data, size, &e) == KH_OK &&
	    runtime_format(&rt, &text, &len, &e) == KH_OK) {
		if (runtime_parse(&back, "again", text, len, &e) != KH_OK ||
		    back.ndev != rt.ndev)
			abort();
		free(text);
	}
	runtime_close(&back);
	runtime_close(&rt);
	return 0;
}
