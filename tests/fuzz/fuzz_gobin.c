/* fuzz_gobin.c -- libFuzzer target for the Go executable reader: the input
 * is an executable file (seeds: tests/data/go/synth.py's small Go-like
 * ELFs), handed over as gobin.c gets it in production, an fd (a memfd
 * here). Whatever it returns, it must not crash, and what it reports as a
 * probe site must be inside the file, each RET inside newproc1 and on a
 * RET opcode, each CALL site on a CALL (send and receive sites may be 0:
 * the function left out of the program). */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "capture/gobin.h"

static int memfd_of(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz_gobin", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool is_prefix(uint8_t b)
{
	return b == 0xf2 || b == 0xf3 || b == 0x66 || b == 0x67 || b == 0xf0 || b == 0x2e || b == 0x3e || b == 0x26 ||
	       b == 0x64 || b == 0x65 || b == 0x36 || (b >= 0x40 && b <= 0x4f);
}

/* A RET opcode (near or far, with or without an immediate) after any
 * legacy or REX prefixes. */
static bool is_ret(const uint8_t *data, size_t size, uint64_t off)
{
	for (int i = 0; i < 15 && off < size; i++, off++) {
		uint8_t b = data[off];
		if (b == 0xc3 || b == 0xc2 || b == 0xcb || b == 0xca)
			return true;
		if (!is_prefix(b))
			return false;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ws_gobin g;
	char err[512];
	int fd = memfd_of(data, size);

	if (fd < 0)
		return 0;
	int rc = ws_gobin_inspect(fd, &g, err, sizeof(err));
	close(fd);
	if (rc != 0 && rc != -ENOEXEC && rc != -ENOTSUP && rc != -EIO)
		__builtin_trap();
	if (rc != 0 && (!err[0] || !memchr(err, 0, sizeof(err))))
		__builtin_trap();
	if (rc != 0)
		return 0;
	if (g.newproc1 >= size || g.goexit1 >= size || g.newproc1_end > size)
		__builtin_trap();
	if (g.n_newproc1_ret == 0 || g.n_newproc1_ret > WS_GOBIN_MAX_RETS)
		__builtin_trap();
	/* spawn and exit sites always; send and receive sites where the
	 * function is in the program (0: left out) */
	const uint64_t sites[6] = {g.spawn_site,   g.exit_site,	g.send_sites[0],
				   g.send_sites[1], g.recv_sites[0], g.recv_sites[1]};
	for (int i = 0; i < 6; i++)
		if ((sites[i] || i < 2) && (sites[i] + 5 > size || data[sites[i]] != 0xe8))
			__builtin_trap();
	for (size_t i = 0; i < g.n_newproc1_ret; i++)
		if (g.newproc1_ret[i] < g.newproc1 || g.newproc1_ret[i] >= g.newproc1_end ||
		    !is_ret(data, size, g.newproc1_ret[i]))
			__builtin_trap();
	return 0;
}
