/* fuzz_tlslib.c -- libFuzzer target for the TLS library reader (a
 * process's libssl or executable, read as root): the input is the file
 * (seed: a small shared object that defines OpenSSL's functions, built by
 * tests/run.sh). Whatever it returns, it must not crash, and the offsets
 * it reports must be inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capture/tlslib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ws_tlslib t;
	char err[256];
	uint8_t *copy = malloc(size ? size : 1);

	memcpy(copy, data, size);
	if (ws_tlslib_inspect_mem(copy, size, &t, err, sizeof(err)) == 1) {
		if (!t.off[WS_TLS_SITE_READ] || !t.off[WS_TLS_SITE_WRITE])
			abort();
		for (int i = 0; i < WS_TLS_SITE_MAX; i++)
			if (t.off[i] >= size)
				abort();
	}
	free(copy);
	return 0;
}
