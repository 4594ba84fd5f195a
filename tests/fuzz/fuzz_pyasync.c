/* fuzz_pyasync.c -- libFuzzer target for the _asyncio module reader: the
 * input is the module file (seed: the system's _asyncio, when there is
 * one). Whatever it returns, it must not crash, and the offsets it reports
 * must be inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capture/pyasync.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ws_pyasync g;
	char err[256];
	uint8_t *copy = malloc(size ? size : 1);

	memcpy(copy, data, size);
	if (ws_pyasync_inspect_mem(copy, size, "_asyncio.cpython-311-x86_64-linux-gnu.so", &g, err, sizeof(err)) == 0 &&
	    (g.step >= size || g.wakeup >= size || g.init >= size))
		abort();
	free(copy);
	return 0;
}
