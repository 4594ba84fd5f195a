/* test_tlslib.c -- finding OpenSSL's functions in a library as the
 * recorder does, checked against the dynamic loader: a stand-in library
 * built from tests/data/tls_symbols.c and the system's libssl are loaded,
 * and the file offset of each function, as the loader mapped it, must be
 * what the reader reports. Then files that hold no TLS library, and
 * damaged copies, which must not crash the reader or make it report
 * offsets outside the file. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "capture/tlslib.h"
#include "harness.h"

static const char *const NAMES[WS_TLS_SITE_MAX] = {
	[WS_TLS_SITE_READ] = "SSL_read",   [WS_TLS_SITE_READ_EX] = "SSL_read_ex",
	[WS_TLS_SITE_WRITE] = "SSL_write", [WS_TLS_SITE_WRITE_EX] = "SSL_write_ex",
	[WS_TLS_SITE_SET_FD] = "SSL_set_fd",
};

/* The file offset the loader mapped address a from (0: not found). */
static uint64_t mapped_offset(const void *a)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[1024];
	uint64_t off = 0;

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi, fo;
		if (sscanf(line, "%llx-%llx %*s %llx", &lo, &hi, &fo) == 3 && (uintptr_t)a >= lo && (uintptr_t)a < hi) {
			off = fo + ((uintptr_t)a - lo);
			break;
		}
	}
	if (f)
		fclose(f);
	return off;
}

/* Read the library at path as the recorder does, load it, and compare. */
static void check_library(const char *path, unsigned want_sites)
{
	struct ws_tlslib t;
	char err[256];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	t_context = path;
	CHECK(fd >= 0, "open: %s", strerror(errno));
	if (fd < 0)
		return;
	CHECK_INT(ws_tlslib_inspect(fd, &t, err, sizeof(err)), 1);
	close(fd);
	CHECK_INT(t.nsites, want_sites);
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	CHECK(h != NULL, "dlopen: %s", dlerror());
	if (!h)
		return;
	for (int i = WS_TLS_SITE_READ; i < WS_TLS_SITE_MAX; i++) {
		void *fn = dlsym(h, NAMES[i]);
		if (!fn) {
			CHECK(t.off[i] == 0, "%s: absent, but reported at %#llx", NAMES[i], (unsigned long long)t.off[i]);
			continue;
		}
		CHECK(t.off[i] == mapped_offset(fn), "%s: reported at %#llx, mapped from %#llx", NAMES[i],
		      (unsigned long long)t.off[i], (unsigned long long)mapped_offset(fn));
	}
	dlclose(h);
}

/* Damaged copies: cut at every 64 bytes, and bytes flipped across it. */
static void check_damage(const char *path)
{
	size_t n;
	uint8_t *d = t_slurp(path, &n), *copy;
	struct ws_tlslib t;
	char err[256];
	unsigned bad = 0, found = 0;

	t_context = "damaged copies";
	CHECK(d && n > 1024, "read %s", path);
	if (!d)
		return;
	copy = malloc(n);
	for (size_t cut = 0; cut < n; cut += 64) {
		memcpy(copy, d, cut);
		if (ws_tlslib_inspect_mem(copy, cut, &t, err, sizeof(err)) == 1)
			for (int i = 0; i < WS_TLS_SITE_MAX; i++)
				bad += t.off[i] >= cut;
	}
	for (size_t at = 0; at < n; at += 7) {
		memcpy(copy, d, n);
		copy[at] ^= 0x5a;
		if (ws_tlslib_inspect_mem(copy, n, &t, err, sizeof(err)) == 1) {
			found++;
			for (int i = 0; i < WS_TLS_SITE_MAX; i++)
				bad += t.off[i] >= n;
		}
	}
	CHECK_INT(bad, 0);
	CHECK(found > 0, "a flipped byte outside the tables still reads");
	free(copy);
	free(d);
}

int main(void)
{
	char dir[] = "/tmp/wirespan-tlslib-XXXXXX", so[128], cmd[512];
	struct ws_tlslib t;
	char err[256];

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(so, sizeof(so), "%s/libssl.so.99", dir);
	snprintf(cmd, sizeof(cmd), "cc -shared -fPIC -O1 -o %s tests/data/tls_symbols.c", so);
	t_context = "stand-in";
	CHECK(system(cmd) == 0, "building the stand-in library: %s", cmd);
	check_library(so, 5);
	check_damage(so);
	/* without a GNU hash table: every symbol is read */
	snprintf(so, sizeof(so), "%s/libssl.so.98", dir);
	snprintf(cmd, sizeof(cmd), "cc -shared -fPIC -O1 -Wl,--hash-style=sysv -o %s tests/data/tls_symbols.c", so);
	CHECK(system(cmd) == 0, "building the stand-in library: %s", cmd);
	check_library(so, 5);
	int hfd = open(so, O_RDONLY | O_CLOEXEC);
	t_context = "exports";
	static const char *const rd[] = {"SSL_read"}, *const wr[] = {"SSL_peek", "SSL_writ", "SSL_write", "SSL_set_fd"};
	CHECK_INT(ws_elf_exports(hfd, rd, 1), -1); /* no hash table: not looked up (the recorder reads the tables) */
	close(hfd);
	snprintf(so, sizeof(so), "%s/libssl.so.99", dir);
	hfd = open(so, O_RDONLY | O_CLOEXEC);
	CHECK_INT(ws_elf_exports(hfd, wr, 4), 2); /* the first exported: SSL_peek and SSL_writ are not */
	CHECK_INT(ws_elf_exports(hfd, wr + 3, 1), 0);
	CHECK_INT(ws_elf_exports(hfd, wr, 2), -1);
	close(hfd);

	/* the system's OpenSSL, where the distribution keeps it */
	static const char *const sys[] = {"/usr/lib/x86_64-linux-gnu/libssl.so.3", "/usr/lib64/libssl.so.3"};
	bool seen = false;
	for (size_t i = 0; i < WS_ARRAY_SIZE(sys) && !seen; i++)
		if (access(sys[i], R_OK) == 0) {
			check_library(sys[i], 5);
			seen = true;
		}
	if (!seen)
		printf("test_tlslib: no system libssl.so.3 here; only the stand-in was read\n");

	/* no TLS library: quietly 0; not ELF: an error */
	t_context = "not TLS";
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	CHECK_INT(ws_tlslib_inspect(fd, &t, err, sizeof(err)), 0);
	close(fd);
	CHECK_INT(t.nsites, 0);
	static const char junk[] = "#!/bin/sh\necho not an ELF file\n";
	CHECK_INT(ws_tlslib_inspect_mem(junk, sizeof(junk), &t, err, sizeof(err)), -ENOEXEC);
	CHECK(err[0] != 0, "says why");
	CHECK_INT(ws_tlslib_inspect_mem("", 0, &t, err, sizeof(err)), -ENOEXEC);

	t_context = "names";
	CHECK(ws_tlslib_name("libssl.so.3") && ws_tlslib_name("libssl.so.1.1") && ws_tlslib_name("libssl.so"),
	      "libssl");
	CHECK(!ws_tlslib_name("libcrypto.so.3") && !ws_tlslib_name("libssl3.so") && !ws_tlslib_name("ssl.so"),
	      "not libssl (libssl3.so is NSS's)");

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("test_tlslib: could not remove %s\n", dir);
	return t_summary("test_tlslib");
}
