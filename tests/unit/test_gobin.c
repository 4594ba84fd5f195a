/* test_gobin.c -- the Go executable reader (capture/gobin.c) on real Go
 * binaries and on broken ones.
 *
 * The Makefile builds tests/data/go/httpd with the system's Go into
 * BUILD/go/ (beside this test's executable): as is (symbols and DWARF),
 * without DWARF, stripped, as a stripped PIE from the system linker, and for
 * arm64; plus `go tool objdump` of runtime.newproc1, the small synthetic
 * ELFs of tests/data/go/synth.py (other Go versions' layouts) and, when the
 * npm registry answered, esbuild's binaries (other Go versions, stripped).
 *
 * Checked: the version; every probe site inside the file and each RET
 * inside newproc1 on a RET byte; the entry's bytes and the RETs against
 * objdump; DWARF offsets against the per-version table (and Go 1.19's
 * known values); symbols from .symtab against symbols from the pclntab on
 * the same file and on the stripped build; refusals (arm64, versions
 * without verified offsets, no build info); non-Go files; and copies cut
 * short or with bytes changed, which must give an error or sane sites,
 * never a crash (the ASan build runs the same). */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "capture/gobin.h"

static char godir[PATH_MAX + 8]; /* BUILD/go */

/* The whole of a file (NULL when it is missing). */
static uint8_t *slurp(const char *path, size_t *n)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t *b = NULL;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0) {
		b = ws_malloc(st.st_size ? (size_t)st.st_size : 1);
		if (read(fd, b, (size_t)st.st_size) != st.st_size) {
			free(b);
			b = NULL;
		}
		*n = (size_t)st.st_size;
	}
	close(fd);
	return b;
}

static int inspect_mem(const uint8_t *d, size_t n, struct ws_gobin *g, char *err, size_t errlen)
{
	int fd = memfd_create("test_gobin", MFD_CLOEXEC), rc;

	if (fd < 0 || write(fd, d, n) != (ssize_t)n) {
		perror("memfd");
		exit(2);
	}
	rc = ws_gobin_inspect(fd, g, err, errlen);
	close(fd);
	return rc;
}

static const char *gopath(const char *name)
{
	static char p[sizeof(godir) + 64];

	if (strlen(name) >= 64)
		abort();
	strcpy(p, godir);
	strcat(p, "/");
	strcat(p, name);
	return p;
}

static int inspect_path(const char *path, struct ws_gobin *g, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0) {
		fprintf(stderr, "cannot open %s (built by the Makefile's test_gobin rule)\n", path);
		exit(2);
	}
	rc = ws_gobin_inspect(fd, g, err, errlen);
	close(fd);
	return rc;
}

/* Probe sites agree: the entries and the RETs. (The end of newproc1 may
 * differ by its padding: .symtab's size stops at the last instruction, the
 * pclntab at the next function.) */
static bool same_sites(const struct ws_gobin *a, const struct ws_gobin *b)
{
	return a->newproc1 == b->newproc1 && a->goexit1 == b->goexit1 && a->spawn_site == b->spawn_site &&
	       a->send_sites[0] == b->send_sites[0] && a->send_sites[1] == b->send_sites[1] &&
	       a->recv_sites[0] == b->recv_sites[0] && a->recv_sites[1] == b->recv_sites[1] &&
	       a->exit_site == b->exit_site && a->n_newproc1_ret == b->n_newproc1_ret &&
	       memcmp(a->newproc1_ret, b->newproc1_ret, a->n_newproc1_ret * sizeof(a->newproc1_ret[0])) == 0;
}

static bool same_offsets(const struct ws_gobin *a, const struct ws_gobin *b)
{
	return a->g_goid == b->g_goid && a->g_m == b->g_m && a->m_procid == b->m_procid && a->m_curg == b->m_curg;
}

static bool is_prefix(uint8_t b)
{
	return b == 0xf2 || b == 0xf3 || b == 0x66 || b == 0x67 || b == 0xf0 || b == 0x2e || b == 0x3e || b == 0x26 ||
	       b == 0x64 || b == 0x65 || b == 0x36 || (b >= 0x40 && b <= 0x4f);
}

/* A RET at off: Go's compiler writes a bare C3; a changed file may hold
 * any RET form behind prefixes. */
static bool is_ret(const uint8_t *d, size_t n, uint64_t off, bool strict)
{
	if (strict)
		return off < n && d[off] == 0xc3;
	for (int i = 0; i < 15 && off < n; i++, off++) {
		if (d[off] == 0xc3 || d[off] == 0xc2 || d[off] == 0xcb || d[off] == 0xca)
			return true;
		if (!is_prefix(d[off]))
			return false;
	}
	return false;
}

/* Sites of a successful inspection are inside the file, RETs inside
 * newproc1 and on a RET, CALL sites on a CALL. */
static void check_sites(const char *what, const struct ws_gobin *g, const uint8_t *d, size_t n, bool strict)
{
	CHECK(g->newproc1 > 0 && g->newproc1 < g->newproc1_end && g->newproc1_end <= n, "%s: newproc1 %#llx-%#llx",
	      what, (unsigned long long)g->newproc1, (unsigned long long)g->newproc1_end);
	CHECK(g->goexit1 > 0 && g->goexit1 < n, "%s: goexit1 %#llx", what, (unsigned long long)g->goexit1);
	CHECK(g->n_newproc1_ret >= 1 && g->n_newproc1_ret <= WS_GOBIN_MAX_RETS, "%s: %zu RETs", what,
	      g->n_newproc1_ret);
	for (size_t i = 0; i < g->n_newproc1_ret && i < WS_GOBIN_MAX_RETS; i++) {
		uint64_t r = g->newproc1_ret[i];
		CHECK(r >= g->newproc1 && r < g->newproc1_end, "%s: RET %#llx outside newproc1", what,
		      (unsigned long long)r);
		CHECK(is_ret(d, n, r, strict), "%s: no RET at %#llx", what, (unsigned long long)r);
	}
	const uint64_t calls[6] = {g->spawn_site,   g->send_sites[0], g->send_sites[1],
				   g->recv_sites[0], g->recv_sites[1], g->exit_site};
	for (int i = 0; i < 6; i++) /* send and receive sites: 0 where the function is left out */
		CHECK((calls[i] == 0 && i >= 1 && i <= 4) || (calls[i] > 0 && calls[i] + 5 <= n && d[calls[i]] == 0xe8),
		      "%s: no CALL at %#llx", what, (unsigned long long)calls[i]);
}

/* A program with no select statement: no runtime.selectgo, probed without. */
static void check_noselect(void)
{
	struct ws_gobin g;
	char err[512];
	size_t n;
	uint8_t *d = slurp(gopath("noselect"), &n);
	int rc = inspect_path(gopath("noselect"), &g, err, sizeof(err));

	t_context = "no select statement";
	CHECK(rc == 0, "rc %d: %s", rc, err);
	check_sites("noselect", &g, d, n, true);
	CHECK(g.send_sites[0] && g.recv_sites[0] && !g.send_sites[1] && !g.recv_sites[1],
	      "chansend %#llx chanrecv %#llx, none in selectgo: %#llx %#llx", (unsigned long long)g.send_sites[0],
	      (unsigned long long)g.recv_sites[0], (unsigned long long)g.send_sites[1],
	      (unsigned long long)g.recv_sites[1]);
	free(d);
}

/* An ELF64 section header by name (the test's own files: trusted). */
static Elf64_Shdr *section(uint8_t *d, size_t n, const char *name)
{
	Elf64_Ehdr *e = (Elf64_Ehdr *)d;

	if (n < sizeof(*e) || e->e_shoff + (uint64_t)e->e_shnum * sizeof(Elf64_Shdr) > n || e->e_shstrndx >= e->e_shnum)
		return NULL;
	Elf64_Shdr *sh = (Elf64_Shdr *)(d + e->e_shoff);
	const char *str = (const char *)d + sh[e->e_shstrndx].sh_offset;
	for (int i = 0; i < e->e_shnum; i++)
		if (strcmp(str + sh[i].sh_name, name) == 0)
			return &sh[i];
	return NULL;
}

/* ---- the system Go's builds ---- */

struct builds {
	struct ws_gobin full, nodwarf, stripped, extpie;
	int rc_nodwarf, rc_stripped, rc_extpie;
};

static void check_full(struct ws_gobin *g)
{
	char err[512];
	size_t n;
	uint8_t *d = slurp(gopath("httpd"), &n);
	int rc = inspect_path(gopath("httpd"), g, err, sizeof(err));

	t_context = "httpd";
	CHECK(rc == 0, "rc %d: %s", rc, err);
	CHECK(strncmp(g->version, "go1.", 4) == 0 && g->major == 1 && g->minor >= 17, "version '%s' (%d.%d)",
	      g->version, g->major, g->minor);
	CHECK_STR(g->arch, "amd64");
	CHECK(!g->stripped && g->dwarf, "stripped %d dwarf %d", g->stripped, g->dwarf);
	check_sites("httpd", g, d, n, true);
	/* what verifying a Go version for the table takes: this line */
	printf("%s amd64 DWARF: g.goid=%u g.m=%u m.procid=%u m.curg=%u\n", g->version, g->g_goid, g->g_m, g->m_procid,
	       g->m_curg);
	if (g->minor == 19) {
		CHECK_INT(g->g_goid, 152);
		CHECK_INT(g->g_m, 48);
		CHECK_INT(g->m_procid, 72);
		CHECK_INT(g->m_curg, 192);
	}
	free(d);
}

/* Another build of the same program: same version, same sites where the
 * layout is the same, and the table's offsets equal DWARF's (or, for a
 * version without verified offsets, the refusal that says so). */
static int check_variant(const char *name, const struct ws_gobin *full, struct ws_gobin *g, bool same_layout,
			 bool stripped)
{
	char err[512];
	size_t n;
	uint8_t *d = slurp(gopath(name), &n);
	int rc = inspect_path(gopath(name), g, err, sizeof(err));

	t_context = name;
	CHECK_STR(g->version, full->version);
	CHECK(g->stripped == stripped && !g->dwarf, "stripped %d dwarf %d", g->stripped, g->dwarf);
	check_sites(name, g, d, n, true); /* filled before the offsets are chosen, even when refused */
	if (same_layout)
		CHECK(same_sites(g, full), "probe sites differ from httpd's");
	if (rc == 0)
		CHECK(same_offsets(g, full), "table offsets %u/%u/%u/%u differ from DWARF's", g->g_goid, g->g_m,
		      g->m_procid, g->m_curg);
	else
		CHECK(rc == -ENOTSUP && strstr(err, "no verified runtime struct offsets"), "rc %d: %s", rc, err);
	free(d);
	return rc;
}

/* One instruction of `go tool objdump`. */
struct odline {
	char fn[48]; /* the TEXT it is in */
	unsigned long long addr;
	char hex[64], text[64];
};

static size_t objdump_load(const char *path, struct odline *v, size_t max)
{
	FILE *f = fopen(path, "r");
	char line[512], fn[48] = "";
	size_t n = 0;

	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		struct odline *o = &v[n];
		if (sscanf(line, "TEXT %47[^(]", fn) == 1)
			continue;
		if (sscanf(line, " %*s %llx %63s %63[^\t\n]", &o->addr, o->hex, o->text) == 3) {
			ws_strlcpy(o->fn, fn, sizeof(o->fn));
			n++;
		}
	}
	fclose(f);
	return n;
}

/* The one `CALL callee` in fn is at site (delta: memory minus file). */
static void check_od_call(const struct odline *v, size_t n, unsigned long long delta, const char *fn, const char *call,
			  uint64_t site)
{
	size_t hits = 0;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].fn, fn) != 0 || strncmp(v[i].text, call, strlen(call)) != 0)
			continue;
		CHECK(v[i].addr - delta == site, "%s: %s at %#llx, ours %#llx", fn, call, v[i].addr - delta,
		      (unsigned long long)site);
		hits++;
	}
	CHECK(hits == 1, "%s: %zu of %s", fn, hits, call);
}

/* Against `go tool objdump` of newproc1, newproc's closure, ready and
 * goexit1: newproc1's first bytes in the file, its RETs and its size, and
 * the CALL sites. */
static void check_objdump(const struct ws_gobin *g)
{
	static struct odline v[4096];
	size_t n, nv = objdump_load(gopath("httpd.objdump"), v, WS_ARRAY_SIZE(v)), rets = 0, i = 0;
	uint8_t *d = slurp(gopath("httpd"), &n), bytes[16];
	unsigned long long first, end = 0;

	t_context = "objdump";
	while (i < nv && strcmp(v[i].fn, "runtime.newproc1") != 0)
		i++;
	CHECK(d && i < nv, "no httpd, or no runtime.newproc1 in httpd.objdump");
	if (!d || i == nv)
		goto out;
	first = v[i].addr;
	size_t len = strlen(v[i].hex) / 2;
	CHECK(len <= sizeof(bytes) && ws_unhex(v[i].hex, bytes, len) == 0, "objdump bytes %s", v[i].hex);
	CHECK(g->newproc1 + len <= n && memcmp(d + g->newproc1, bytes, len) == 0, "file at %#llx does not hold %s",
	      (unsigned long long)g->newproc1, v[i].hex);
	for (; i < nv && strcmp(v[i].fn, "runtime.newproc1") == 0; i++) {
		if (strncmp(v[i].text, "RET", 3) == 0) {
			CHECK(rets < g->n_newproc1_ret && g->newproc1_ret[rets] == g->newproc1 + (v[i].addr - first),
			      "objdump RET at %#llx not found", v[i].addr);
			rets++;
		}
		end = v[i].addr + strlen(v[i].hex) / 2;
	}
	CHECK_INT(rets, g->n_newproc1_ret);
	CHECK(end - first == g->newproc1_end - g->newproc1, "objdump size %#llx, ours %#llx", end - first,
	      (unsigned long long)(g->newproc1_end - g->newproc1));
	unsigned long long delta = first - g->newproc1;
	check_od_call(v, nv, delta, "runtime.newproc.func1", "CALL runtime.runqput(SB)", g->spawn_site);
	check_od_call(v, nv, delta, "runtime.chansend", "CALL runtime.send(SB)", g->send_sites[0]);
	check_od_call(v, nv, delta, "runtime.selectgo", "CALL runtime.send(SB)", g->send_sites[1]);
	check_od_call(v, nv, delta, "runtime.chanrecv", "CALL runtime.recv(SB)", g->recv_sites[0]);
	check_od_call(v, nv, delta, "runtime.selectgo", "CALL runtime.recv(SB)", g->recv_sites[1]);
	check_od_call(v, nv, delta, "runtime.goexit1", "CALL runtime.mcall(SB)", g->exit_site);
out:
	free(d);
}

/* The same file with .symtab hidden: the pclntab must give the same sites. */
static void check_symtab_vs_pclntab(const struct ws_gobin *full)
{
	struct ws_gobin g;
	char err[512];
	size_t n;
	uint8_t *d = slurp(gopath("httpd"), &n);
	Elf64_Shdr *sym = d ? section(d, n, ".symtab") : NULL;

	t_context = "httpd without .symtab";
	CHECK(sym != NULL, "httpd has no .symtab");
	if (sym) {
		sym->sh_type = SHT_NULL;
		int rc = inspect_mem(d, n, &g, err, sizeof(err));
		CHECK(rc == 0, "rc %d: %s", rc, err);
		CHECK(g.stripped && g.dwarf, "stripped %d dwarf %d", g.stripped, g.dwarf);
		CHECK(same_sites(&g, full), "pclntab sites differ from .symtab's");
		CHECK(g.newproc1_end >= full->newproc1_end && g.newproc1_end < full->newproc1_end + 64,
		      "pclntab end %#llx, symtab end %#llx", (unsigned long long)g.newproc1_end,
		      (unsigned long long)full->newproc1_end);
	}
	free(d);
}

/* A PIE's pclntab text start read from its relocation: zero the field in
 * the file (as an external linker may leave it) and get the same sites. */
static void check_relocated_text(const struct ws_gobin *extpie)
{
	struct ws_gobin g;
	char err[512];
	size_t n, hits = 0;
	uint8_t *d = slurp(gopath("httpd-extpie-stripped"), &n);

	t_context = "PIE, text start zeroed";
	for (size_t i = 0; d && i + 72 <= n; i += 4) {
		uint32_t magic;
		uint64_t text;
		memcpy(&magic, d + i, 4);
		memcpy(&text, d + i + 24, 8);
		if ((magic == 0xfffffff0 || magic == 0xfffffff1) && !d[i + 4] && !d[i + 5] && d[i + 6] == 1 &&
		    d[i + 7] == 8 && text) {
			memset(d + i + 24, 0, 8);
			hits++;
		}
	}
	CHECK_INT(hits, 1);
	int rc = inspect_mem(d, n, &g, err, sizeof(err));
	CHECK(rc == 0 || rc == -ENOTSUP, "rc %d: %s", rc, err);
	CHECK(same_sites(&g, extpie), "sites differ with the text start from the relocation");
	free(d);
}

static void check_system_go(struct builds *b)
{
	struct ws_gobin g;
	char err[512];

	check_full(&b->full);
	b->rc_nodwarf = check_variant("httpd-nodwarf", &b->full, &b->nodwarf, true, false);
	b->rc_stripped = check_variant("httpd-stripped", &b->full, &b->stripped, true, true);
	b->rc_extpie = check_variant("httpd-extpie-stripped", &b->full, &b->extpie, false, true);
	CHECK(b->rc_nodwarf == b->rc_stripped && b->rc_stripped == b->rc_extpie, "rc %d %d %d", b->rc_nodwarf,
	      b->rc_stripped, b->rc_extpie);
	if (b->full.minor == 19)
		CHECK_INT(b->rc_stripped, 0); /* 1.19 is verified */
	check_objdump(&b->full);
	check_symtab_vs_pclntab(&b->full);
	check_relocated_text(&b->extpie);

	t_context = "httpd-arm64";
	int rc = inspect_path(gopath("httpd-arm64"), &g, err, sizeof(err));
	CHECK_INT(rc, -ENOTSUP);
	CHECK_STR(g.arch, "arm64");
	CHECK(strstr(err, "built for arm64, and only amd64 is supported") &&
		  strstr(err, "falls back to kernel evidence"),
	      "%s", err);
}

/* ---- synthetic files: other Go versions' layouts (see synth.py) ---- */

static void check_synth_one(const char *name, const char *version, int want_rc, const char *msg)
{
	struct ws_gobin g;
	char err[512], path[64];
	size_t n;

	snprintf(path, sizeof(path), "synth-%s.elf", name);
	uint8_t *d = slurp(gopath(path), &n);
	t_context = path;
	CHECK(d != NULL, "missing");
	if (!d)
		return;
	int rc = inspect_mem(d, n, &g, err, sizeof(err));
	CHECK(rc == want_rc, "rc %d, want %d: %s", rc, want_rc, err);
	CHECK_STR(g.version, version);
	CHECK(!msg || strstr(err, msg), "message '%s' lacks '%s'", err, msg);
	if (rc == 0 || (msg && strstr(msg, "no verified"))) { /* sites found */
		static const uint64_t rets[] = {0x20a, 0x20c, 0x20d, 0x20f};
		CHECK(g.newproc1 == 0x200 && g.newproc1_end == 0x240 && g.goexit1 == 0x240,
		      "sites %#llx-%#llx %#llx", (unsigned long long)g.newproc1,
		      (unsigned long long)g.newproc1_end, (unsigned long long)g.goexit1);
		CHECK(g.n_newproc1_ret == 4 && memcmp(g.newproc1_ret, rets, sizeof(rets)) == 0, "%zu RETs",
		      g.n_newproc1_ret);
		CHECK(g.spawn_site == 0x285 && g.send_sites[0] == 0x262 && g.send_sites[1] == 0x2c0 &&
			      g.recv_sites[0] == 0x2d8 && g.recv_sites[1] == 0x2c5 && g.exit_site == 0x241,
		      "calls %#llx %#llx %#llx %#llx %#llx %#llx", (unsigned long long)g.spawn_site,
		      (unsigned long long)g.send_sites[0], (unsigned long long)g.send_sites[1],
		      (unsigned long long)g.recv_sites[0], (unsigned long long)g.recv_sites[1],
		      (unsigned long long)g.exit_site);
		CHECK(g.stripped && !g.dwarf, "stripped %d dwarf %d", g.stripped, g.dwarf);
	}
	if (rc == 0)
		CHECK(g.g_goid == 152 && g.g_m == 48 && g.m_procid == 72 && g.m_curg == 192, "offsets");
	free(d);
}

static void check_synth(void)
{
	check_synth_one("go119", "go1.19.8", 0, NULL);
	check_synth_one("go117", "go1.17.13", -ENOTSUP, "no verified runtime struct offsets for Go 1.17");
	check_synth_one("go121", "go1.21.0", -ENOTSUP, "no verified runtime struct offsets for Go 1.21");
	check_synth_one("go116", "go1.16.15", -ENOTSUP, "predates the register ABI");
	check_synth_one("arm64", "go1.19.8", -ENOTSUP, "built for arm64");
}

/* ---- esbuild from npm: Go versions other than the system's ---- */

static void check_esbuild(void)
{
	struct ws_gobin g;
	char err[512];
	size_t n;
	uint8_t *d = slurp(gopath("esbuild-0.25.0"), &n);

	t_context = "esbuild 0.25.0";
	if (!d) {
		printf("test_gobin: esbuild not fetched from npm: its checks skipped\n");
		return;
	}
	Elf64_Shdr *pc = section(d, n, ".gopclntab");
	uint32_t magic = 0;
	if (pc && pc->sh_offset + 4 <= n)
		memcpy(&magic, d + pc->sh_offset, 4);
	CHECK(magic == 0xfffffff1, "pclntab magic %#x, want Go 1.20+'s", magic);
	int rc = inspect_mem(d, n, &g, err, sizeof(err));
	CHECK_INT(rc, -ENOTSUP);
	CHECK_STR(g.version, "go1.23.5");
	CHECK(g.major == 1 && g.minor == 23 && g.stripped && !g.dwarf, "%d.%d stripped %d", g.major, g.minor,
	      g.stripped);
	CHECK(strstr(err, "no verified runtime struct offsets for Go 1.23"), "%s", err);
	check_sites("esbuild 0.25.0", &g, d, n, true);
	free(d);

	/* its build info removed: Go, version unknown, refused */
	t_context = "esbuild 0.28.2";
	d = slurp(gopath("esbuild-0.28.2"), &n);
	if (!d)
		return;
	rc = inspect_mem(d, n, &g, err, sizeof(err));
	CHECK_INT(rc, -ENOTSUP);
	CHECK_STR(g.version, "");
	CHECK(strstr(err, "no readable Go build info") && strstr(err, "Go 1.20 or later"), "%s", err);
	free(d);
}

/* ---- not Go ---- */

static void check_not_go(void)
{
	struct ws_gobin g;
	char err[512];
	size_t n;
	uint8_t *d = slurp("/proc/self/exe", &n);

	t_context = "not Go";
	CHECK(d != NULL, "cannot read /proc/self/exe");
	if (d) {
		CHECK_INT(inspect_mem(d, n, &g, err, sizeof(err)), -ENOEXEC);
		CHECK_STR(err, "not a Go binary");
		free(d);
	}
	CHECK_INT(inspect_path("/bin/sh", &g, err, sizeof(err)), -ENOEXEC);
	CHECK_INT(inspect_path("tests/data/go/httpd/main.go", &g, err, sizeof(err)), -ENOEXEC);
	CHECK_STR(err, "not an ELF file");
	CHECK_INT(inspect_mem((const uint8_t *)"", 0, &g, err, sizeof(err)), -ENOEXEC);
	CHECK_INT(inspect_path("/dev/null", &g, err, sizeof(err)), -ENOEXEC);
}

/* ---- broken copies ---- */

/* One broken copy: any error with a message, or sites that hold up; when
 * sites_of is given, success must give its sites. */
static void check_broken(const char *what, const uint8_t *d, size_t n, const struct ws_gobin *sites_of)
{
	struct ws_gobin g;
	char err[512];
	int rc = inspect_mem(d, n, &g, err, sizeof(err));

	if (rc == 0) {
		check_sites(what, &g, d, n, false);
		if (sites_of)
			CHECK(same_sites(&g, sites_of), "%s: other sites than the whole file's", what);
	} else {
		CHECK(rc == -ENOEXEC || rc == -ENOTSUP, "%s: rc %d", what, rc);
		CHECK(err[0] != 0, "%s: rc %d without a message", what, rc);
	}
}

/* Cut short: every step-th length of the first KiB, 48 lengths spread
 * over the file, and inside the first bytes of every section. */
static void check_truncated(const char *name, const struct ws_gobin *whole, size_t step)
{
	size_t n;
	uint8_t *d = slurp(gopath(name), &n);
	char what[128];

	t_context = name;
	if (!d)
		return;
	for (size_t len = 0; len < n && len < 1024; len += step) {
		snprintf(what, sizeof(what), "cut at %zu", len);
		check_broken(what, d, len, whole);
	}
	for (size_t k = 1; k < 48; k++) {
		snprintf(what, sizeof(what), "cut at %zu", n / 48 * k);
		check_broken(what, d, n / 48 * k, whole);
	}
	Elf64_Ehdr *e = (Elf64_Ehdr *)d;
	Elf64_Shdr *sh = (Elf64_Shdr *)(d + e->e_shoff);
	for (int i = 1; i < e->e_shnum; i++) {
		for (size_t k = 1; k < 64 && sh[i].sh_offset + k < n; k += step * 8) {
			snprintf(what, sizeof(what), "cut in section %d at +%zu", i, k);
			check_broken(what, d, sh[i].sh_offset + k, whole);
		}
	}
	free(d);
}

/* Change every step-th byte of a range, one at a time, to 0, to 0xff or
 * with its top bit flipped (in turn; all three when step is 1). */
static void flip_range(const char *name, uint8_t *d, size_t n, size_t from, size_t len, size_t step)
{
	char what[128];

	for (size_t i = from; i < from + len && i < n; i += step) {
		uint8_t keep = d[i];
		const uint8_t to[3] = {0, 0xff, (uint8_t)(keep ^ 0x80)};
		for (size_t k = 0; k < 3; k++) {
			if (step > 1 && k != (i / step) % 3)
				continue;
			d[i] = to[k];
			snprintf(what, sizeof(what), "%s: byte %#zx = %#x", name, i, to[k]);
			check_broken(what, d, n, NULL);
		}
		d[i] = keep;
	}
}

/* Bytes changed over what the reader uses: the ELF and program headers,
 * the section table, every section's first bytes (the pclntab's header,
 * the build info, compressed DWARF's header, symbols), newproc1's code. */
static void check_flipped(const char *name, const struct ws_gobin *whole, size_t step)
{
	size_t n;
	uint8_t *d = slurp(gopath(name), &n);

	t_context = name;
	if (!d)
		return;
	Elf64_Ehdr *e = (Elf64_Ehdr *)d;
	flip_range(name, d, n, 0, e->e_phoff + (size_t)e->e_phnum * e->e_phentsize, step);
	flip_range(name, d, n, e->e_shoff, (size_t)e->e_shnum * e->e_shentsize, step * 3);
	Elf64_Shdr *sh = (Elf64_Shdr *)(d + e->e_shoff);
	for (int i = 1; i < e->e_shnum; i++)
		if (sh[i].sh_type != SHT_NOBITS)
			flip_range(name, d, n, sh[i].sh_offset, 96, step * 2);
	if (whole)
		flip_range(name, d, n, whole->newproc1, whole->newproc1_end - whole->newproc1, step * 8);
	free(d);
}

int main(void)
{
	char self[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	struct builds b;

	if (len <= 0)
		return 2;
	self[len] = 0;
	*strrchr(self, '/') = 0;
	snprintf(godir, sizeof(godir), "%s/go", self);

	check_system_go(&b);
	check_noselect();
	check_synth();
	check_esbuild();
	check_not_go();

	check_truncated("synth-go119.elf", NULL, 1);
	check_truncated("httpd-stripped", &b.stripped, 8);
	check_truncated("httpd", &b.full, 32);
	check_flipped("synth-go119.elf", NULL, 1);
	check_flipped("synth-go117.elf", NULL, 1);
	check_flipped("httpd-stripped", &b.stripped, 7);
	check_flipped("httpd", &b.full, 41);
	t_context = "";
	return t_summary("test_gobin");
}
