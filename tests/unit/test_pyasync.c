/* test_pyasync.c -- finding where CPython's _asyncio runs task steps and
 * creates tasks, checked against the interpreter itself: for each python3
 * on this machine, tests/data/py/asyncio_offsets.py reads the function
 * pointers from live objects (a task's step wrapper, its wakeup method,
 * the Task type) and the module is then read as the recorder reads it.
 * Then versions that are refused, and damaged copies of the module, which
 * must not crash the reader or make it report offsets outside the file. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "capture/pyasync.h"
#include "harness.h"

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* One interpreter: its module found and read, and the offsets the same as
 * its live objects say. Returns whether the interpreter could be asked. */
static bool check_interpreter(const char *python, char *module, size_t len, struct ws_pyasync *got)
{
	char cmd[512], line[1024];
	unsigned long long step, wakeup, init;
	FILE *p;
	int fd, rc;

	snprintf(cmd, sizeof(cmd), "%s tests/data/py/asyncio_offsets.py 2>/dev/null", python);
	if (!(p = popen(cmd, "r")))
		return false;
	bool ok =
	    fgets(line, sizeof(line), p) && sscanf(line, "%511s %llx %llx %llx", module, &step, &wakeup, &init) == 4;
	pclose(p);
	if (!ok) {
		printf("test_pyasync: %s cannot be asked (not CPython 3 with _asyncio, or absent)\n", python);
		return false;
	}
	(void)len;
	t_context = module;
	char err[256];
	fd = open(module, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0, "open %s", module);
	rc = ws_pyasync_inspect(fd, base(module), got, err, sizeof(err));
	close(fd);
	if (got->minor != 11) { /* only 3.11 is verified: others are refused with a reason */
		CHECK(rc == -ENOTSUP && strstr(err, "only 3.11"), "CPython 3.%d: rc %d (%s)", got->minor, rc, err);
		return true;
	}
	CHECK(rc == 0, "rc %d: %s", rc, err);
	CHECK(got->step == step, "TaskStepMethWrapper's call at %#llx, the interpreter says %#llx",
	      (unsigned long long)got->step, step);
	CHECK(got->wakeup == wakeup, "task_wakeup at %#llx, the interpreter says %#llx",
	      (unsigned long long)got->wakeup, wakeup);
	CHECK(got->init == init, "Task's tp_init at %#llx, the interpreter says %#llx", (unsigned long long)got->init,
	      init);
	return true;
}

/* A damaged copy: any answer but a crash, and offsets inside the copy. */
static void check_broken(const char *what, const uint8_t *d, size_t n, const char *name)
{
	struct ws_pyasync g;
	char err[256];
	uint8_t *copy = malloc(n ? n : 1);

	memcpy(copy, d, n);
	int rc = ws_pyasync_inspect_mem(copy, n, name, &g, err, sizeof(err));
	if (rc == 0)
		CHECK(g.step < n && g.wakeup < n && g.init < n, "%s: offsets %#llx %#llx %#llx outside %zu bytes", what,
		      (unsigned long long)g.step, (unsigned long long)g.wakeup, (unsigned long long)g.init, n);
	else
		CHECK(rc == -ENOEXEC || rc == -ENOTSUP, "%s: rc %d", what, rc);
	free(copy);
}

static void check_damaged(const char *module)
{
	size_t n;
	uint8_t *d = t_slurp(module, &n);
	char what[64];

	t_context = "damaged copies";
	if (!d)
		return;
	for (size_t len = 0; len < n; len += len < 4096 ? 61 : 997) {
		snprintf(what, sizeof(what), "cut at %zu", len);
		check_broken(what, d, len, base(module));
	}
	for (size_t i = 0; i < n; i += 7) { /* every 7th byte flipped, one at a time */
		uint8_t was = d[i];
		d[i] ^= 0x80;
		snprintf(what, sizeof(what), "byte %zu flipped", i);
		check_broken(what, d, n, base(module));
		d[i] = was;
	}
	free(d);
}

int main(void)
{
	static const char *const pythons[] = {"/usr/bin/python3", "python3"};
	char module[512] = "", first[512] = "";
	struct ws_pyasync g;
	char err[256];
	int asked = 0;

	for (size_t i = 0; i < sizeof(pythons) / sizeof(pythons[0]); i++)
		if (check_interpreter(pythons[i], module, sizeof(module), &g) && !asked++)
			snprintf(first, sizeof(first), "%s", module);
	CHECK(asked > 0, "no python3 with asyncio to check against");

	t_context = "versions and names";
	static const uint8_t elf[] = {0x7f, 'E', 'L', 'F'};
	CHECK(ws_pyasync_inspect_mem(elf, sizeof(elf), "_asyncio.cpython-312-x86_64-linux-gnu.so", &g, err,
				     sizeof(err)) == -ENOTSUP &&
		      strstr(err, "3.12") && strstr(err, "only 3.11"),
	      "3.12 refused: %s", err);
	CHECK(ws_pyasync_inspect_mem(elf, sizeof(elf), "libfoo.so", &g, err, sizeof(err)) == -ENOTSUP,
	      "not a CPython module: %s", err);
	CHECK(ws_pyasync_inspect_mem(elf, sizeof(elf), "_asyncio.cpython-311-x86_64-linux-gnu.so", &g, err,
				     sizeof(err)) == -ENOEXEC,
	      "4 bytes of ELF: %s", err);

	if (first[0])
		check_damaged(first);
	t_context = "";
	return t_summary("test_pyasync");
}
