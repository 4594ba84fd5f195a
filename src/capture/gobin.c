/* gobin.c -- see gobin.h.
 *
 * ws_gobin_inspect runs these steps, top to bottom:
 *
 *   ELF headers      our own reader (either class, either byte order, every
 *                    read checked against the file size): libelf is kept to
 *                    DWARF, where libdw needs it
 *   is it Go         a .go.buildinfo or pclntab section, or the build-info
 *                    magic at the start of the data segment
 *   version          from the build info (Go 1.18+: inline strings; before:
 *                    pointers to a string header)
 *   checks           amd64 and Go >= 1.17 (register ABI)
 *   functions        entry and extent from .symtab, else from the pclntab,
 *                    which every Go binary has: the runtime needs it
 *   RET sites        capstone, over the whole of runtime.newproc1
 *   CALL sites       capstone: the direct CALLs of runqput and mcall
 *   struct offsets   DWARF (libdw reads Go's compressed sections), else a
 *                    per-version table of offsets verified on real builds
 *
 * Addresses are converted to file offsets through the PT_LOAD headers. */
#include "capture/gobin.h"

#include <capstone/capstone.h>
#include <dwarf.h>
#include <elf.h>
#include <elfutils/libdw.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

#define MAX_PHDRS 256
#define MAX_SHDRS SHN_LORESERVE
#define MAX_LOAD (256u << 20)	  /* largest region read into memory (pclntab, symbols) */
#define MAX_FUNC (1u << 20)	  /* largest function body disassembled */
#define BUILDINFO_SCAN (64 << 10) /* as Go's debug/buildinfo: the first 64 KiB of the data */
#define SCAN_CHUNK (1u << 20)	  /* pclntab magic search, a piece at a time */

static const char BUILDINFO_MAGIC[14] = "\xff Go buildinf:";

/* The functions probed, and those that locate the CALL sites: newproc's
 * closure runs newproc1 on the system stack and queues the new g; a channel
 * send (plain, or a case of a select) calls send to hand the value to a
 * receiver parked on the channel, and to make it runnable. */
enum {
	F_NEWPROC1,
	F_GOEXIT1,
	F_SEND,
	F_NEWPROC_FUNC1,
	F_RUNQPUT,
	F_MCALL,
	F_CHANSEND,
	F_SELECTGO,
	F_RECV,
	F_CHANRECV,
	NFUNCS
};
static const char *const FUNC_NAMES[NFUNCS] = {
	"runtime.newproc1", "runtime.goexit1",  "runtime.send",	    "runtime.newproc.func1", "runtime.runqput",
	"runtime.mcall",    "runtime.chansend", "runtime.selectgo", "runtime.recv",	     "runtime.chanrecv"};

struct phdr {
	uint32_t type, flags;
	uint64_t off, vaddr, filesz;
};

struct shdr {
	uint32_t name, type, link;
	uint64_t flags, addr, off, size;
};

/* A function's virtual address range [start, end). */
struct gofunc {
	uint64_t start, end;
};

/* A parsed pclntab header (Go 1.16 and later). */
struct pcln {
	const uint8_t *tab;
	size_t len;
	uint64_t va; /* where tab is in memory, for its relocations */
	int era;     /* 116 (1.16-1.17), 118 (1.18-1.19), 120 (1.20+) */
	unsigned ptrsize;
	uint64_t nfunc, text_start, funcname, functab;
	size_t fent; /* bytes per functab entry */
};

struct gb {
	int fd;
	uint64_t fsize;
	bool is64, be;
	bool is_go; /* known to be Go: a failure from here on is -ENOTSUP */
	uint16_t machine;
	struct phdr *ph;
	size_t nph;
	struct shdr *sh;
	size_t nsh;
	char *shstr;
	size_t shstr_len;
	uint8_t *pcln_buf; /* holds the pclntab */
	struct pcln pc;
	char what[256]; /* the first failure, for the message */
	struct ws_gobin *out;
};

static int fail(struct gb *g, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Note why inspection stopped (the first reason wins: later failures are
 * usually its consequences) and return rc. */
static int fail(struct gb *g, int rc, const char *fmt, ...)
{
	va_list ap;

	if (!g->what[0]) {
		va_start(ap, fmt);
		vsnprintf(g->what, sizeof(g->what), fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Forget a failure that was not fatal after all; returns 0. */
static int forget(struct gb *g)
{
	g->what[0] = 0;
	return 0;
}

/* ---- bytes and the file ---- */

static uint16_t get16(const struct gb *g, const uint8_t *p)
{
	return g->be ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

static uint32_t get32(const struct gb *g, const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[g->be ? 3 - i : i] << (8 * i);
	return v;
}

static uint64_t get64(const struct gb *g, const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[g->be ? 7 - i : i] << (8 * i);
	return v;
}

static uint64_t getptr(const struct gb *g, const uint8_t *p, unsigned ptrsize)
{
	return ptrsize == 8 ? get64(g, p) : get32(g, p);
}

/* Whether [off, off+len) lies inside a buffer of size n. */
static bool in_bounds(uint64_t off, uint64_t len, uint64_t n)
{
	return off <= n && len <= n - off;
}

/* Exactly len bytes at off. A range past the end is a corrupt file
 * (-ENOEXEC); a failed read, -EIO. */
static int file_read(struct gb *g, uint64_t off, void *buf, size_t len)
{
	size_t done = 0;

	if (!in_bounds(off, len, g->fsize))
		return fail(g, -ENOEXEC, "the file is cut short (needs bytes up to %#llx, has %#llx)",
			    (unsigned long long)(off + len), (unsigned long long)g->fsize);
	while (done < len) {
		ssize_t n = pread(g->fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(g, -EIO, "cannot read the file: %s", strerror(errno));
		if (n == 0)
			return fail(g, -ENOEXEC, "the file shrank while it was read");
		done += (size_t)n;
	}
	return 0;
}

/* len bytes at off into a new buffer (freed by the caller). */
static int file_load(struct gb *g, uint64_t off, uint64_t len, uint8_t **out)
{
	uint8_t *b;
	int rc;

	if (len > MAX_LOAD)
		return fail(g, -ENOEXEC, "a %llu-byte region is too large to read", (unsigned long long)len);
	if (!in_bounds(off, len, g->fsize)) /* before allocating what a corrupt size asks for */
		return file_read(g, off, NULL, len);
	b = ws_malloc(len ? len : 1);
	rc = file_read(g, off, b, len);
	if (rc) {
		free(b);
		return rc;
	}
	*out = b;
	return 0;
}

/* The file offset of virtual address va, with len bytes behind it in the
 * same loaded segment (an executable one when exec). */
static int va_to_off(const struct gb *g, uint64_t va, uint64_t len, bool exec, uint64_t *off)
{
	for (size_t i = 0; i < g->nph; i++) {
		const struct phdr *p = &g->ph[i];
		if (p->type != PT_LOAD || (exec && !(p->flags & PF_X)) || va < p->vaddr)
			continue;
		if (in_bounds(va - p->vaddr, len, p->filesz)) {
			*off = p->off + (va - p->vaddr);
			return 0;
		}
	}
	return -ENOEXEC;
}

static int va_read(struct gb *g, uint64_t va, void *buf, size_t len)
{
	uint64_t off;

	if (va_to_off(g, va, len, false, &off))
		return fail(g, -ENOEXEC, "address %#llx is in no loaded segment", (unsigned long long)va);
	return file_read(g, off, buf, len);
}

/* ---- ELF headers ---- */

static void parse_phdr(const struct gb *g, const uint8_t *e, struct phdr *p)
{
	p->type = get32(g, e);
	if (g->is64) {
		p->flags = get32(g, e + 4);
		p->off = get64(g, e + 8);
		p->vaddr = get64(g, e + 16);
		p->filesz = get64(g, e + 32);
	} else {
		p->off = get32(g, e + 4);
		p->vaddr = get32(g, e + 8);
		p->filesz = get32(g, e + 16);
		p->flags = get32(g, e + 24);
	}
}

static void parse_shdr(const struct gb *g, const uint8_t *e, struct shdr *s)
{
	s->name = get32(g, e);
	s->type = get32(g, e + 4);
	if (g->is64) {
		s->flags = get64(g, e + 8);
		s->addr = get64(g, e + 16);
		s->off = get64(g, e + 24);
		s->size = get64(g, e + 32);
		s->link = get32(g, e + 40);
	} else {
		s->flags = get32(g, e + 8);
		s->addr = get32(g, e + 12);
		s->off = get32(g, e + 16);
		s->size = get32(g, e + 20);
		s->link = get32(g, e + 24);
	}
}

/* A table of n entries of entsize bytes (at least min) at off. */
static int read_table(struct gb *g, uint64_t off, size_t n, size_t entsize, size_t min, uint8_t **out)
{
	if (entsize < min)
		return fail(g, -ENOEXEC, "ELF header table entries of %zu bytes (need %zu)", entsize, min);
	return file_load(g, off, (uint64_t)n * entsize, out);
}

static int read_phdrs(struct gb *g, uint64_t off, size_t n, size_t entsize)
{
	uint8_t *t = NULL;
	int rc;

	if (n > MAX_PHDRS)
		return fail(g, -ENOEXEC, "%zu program headers", n);
	rc = read_table(g, off, n, entsize, g->is64 ? 56 : 32, &t);
	if (rc)
		return rc;
	g->ph = ws_calloc(n ? n : 1, sizeof(*g->ph));
	for (size_t i = 0; i < n; i++)
		parse_phdr(g, t + i * entsize, &g->ph[i]);
	g->nph = n;
	free(t);
	return 0;
}

/* Section headers and their names. A file without them (or with a table
 * cut off: they sit at the end of the file) is still read through its
 * program headers. */
static int read_shdrs(struct gb *g, uint64_t off, size_t n, size_t entsize, size_t strndx)
{
	uint8_t *t = NULL;
	int rc;

	if (off == 0 || n == 0 || n > MAX_SHDRS || strndx >= n)
		return 0;
	rc = read_table(g, off, n, entsize, g->is64 ? 64 : 40, &t);
	if (rc)
		return rc == -EIO ? rc : forget(g);
	g->sh = ws_calloc(n, sizeof(*g->sh));
	for (size_t i = 0; i < n; i++)
		parse_shdr(g, t + i * entsize, &g->sh[i]);
	g->nsh = n;
	free(t);
	const struct shdr *s = &g->sh[strndx];
	if (s->type == SHT_NOBITS || s->size > (1u << 20))
		return 0;
	rc = file_load(g, s->off, s->size, (uint8_t **)&g->shstr);
	if (rc)
		return rc == -EIO ? rc : forget(g);
	g->shstr_len = s->size;
	return 0;
}

static int elf_open(struct gb *g)
{
	uint8_t e[64] = {0};
	struct stat st;
	int rc;

	if (fstat(g->fd, &st) < 0)
		return fail(g, -EIO, "cannot stat the file: %s", strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_size < 52)
		return fail(g, -ENOEXEC, "not an ELF file");
	g->fsize = (uint64_t)st.st_size;
	if ((rc = file_read(g, 0, e, WS_MIN(sizeof(e), g->fsize))))
		return rc;
	if (memcmp(e, ELFMAG, SELFMAG) != 0 || (e[EI_CLASS] != ELFCLASS32 && e[EI_CLASS] != ELFCLASS64) ||
	    (e[EI_DATA] != ELFDATA2LSB && e[EI_DATA] != ELFDATA2MSB))
		return fail(g, -ENOEXEC, "not an ELF file");
	g->is64 = e[EI_CLASS] == ELFCLASS64;
	g->be = e[EI_DATA] == ELFDATA2MSB;
	if (g->is64 && g->fsize < 64)
		return fail(g, -ENOEXEC, "the ELF header is cut short");
	g->machine = get16(g, e + 18);
	if (g->is64) {
		rc = read_phdrs(g, get64(g, e + 32), get16(g, e + 56), get16(g, e + 54));
		if (!rc)
			rc = read_shdrs(g, get64(g, e + 40), get16(g, e + 60), get16(g, e + 58), get16(g, e + 62));
	} else {
		rc = read_phdrs(g, get32(g, e + 28), get16(g, e + 44), get16(g, e + 42));
		if (!rc)
			rc = read_shdrs(g, get32(g, e + 32), get16(g, e + 48), get16(g, e + 46), get16(g, e + 50));
	}
	return rc;
}

static const char *sec_name(const struct gb *g, const struct shdr *s)
{
	if (!g->shstr || s->name >= g->shstr_len)
		return "";
	const char *n = g->shstr + s->name;
	return memchr(n, 0, g->shstr_len - s->name) ? n : "";
}

static const struct shdr *find_sec(const struct gb *g, const char *name)
{
	for (size_t i = 0; i < g->nsh; i++)
		if (strcmp(sec_name(g, &g->sh[i]), name) == 0)
			return &g->sh[i];
	return NULL;
}

static const struct shdr *find_type(const struct gb *g, uint32_t type)
{
	for (size_t i = 0; i < g->nsh; i++)
		if (g->sh[i].type == type)
			return &g->sh[i];
	return NULL;
}

/* The section holding the pclntab: its own section when Go linked the
 * binary, .data.rel.ro.gopclntab in a PIE. (An external linker merges the
 * latter into .data.rel.ro: then the pclntab is found by its magic.) */
static const struct shdr *pcln_sec(const struct gb *g)
{
	const struct shdr *s = find_sec(g, ".gopclntab");

	if (!s)
		s = find_sec(g, ".data.rel.ro.gopclntab");
	return s && s->type != SHT_NOBITS ? s : NULL;
}

/* The GOARCH name of the ELF machine. */
static const char *goarch(const struct gb *g)
{
	switch (g->machine) {
	case EM_X86_64: return "amd64";
	case EM_386: return "386";
	case EM_AARCH64: return "arm64";
	case EM_ARM: return "arm";
	case EM_PPC64: return g->be ? "ppc64" : "ppc64le";
	case EM_S390: return "s390x";
	case EM_RISCV: return "riscv64";
	case EM_MIPS: return g->is64 ? (g->be ? "mips64" : "mips64le") : (g->be ? "mips" : "mipsle");
	case EM_LOONGARCH: return "loong64";
	default: return "an unknown architecture";
	}
}

/* ---- build info: the Go version ---- */

/* Go's unsigned varint; false when it runs past end or overflows. */
static bool uvarint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; *p < end && shift < 64; shift += 7) {
		uint8_t b = *(*p)++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

/* "go1.19.8", "go1.21rc2", "devel go1.23-1a2b3c Tue ..." -> 1, 19. */
static bool parse_version(const char *s, int *major, int *minor)
{
	const char *p = strstr(s, "go");
	char *end;

	if (!p || (p != s && p[-1] != ' ') || !isdigit((unsigned char)p[2]))
		return false;
	long ma = strtol(p + 2, &end, 10);
	if (*end != '.' || !isdigit((unsigned char)end[1]) || ma < 1 || ma > 99)
		return false;
	long mi = strtol(end + 1, &end, 10);
	if (mi > 999)
		return false;
	*major = (int)ma;
	*minor = (int)mi;
	return true;
}

static void set_version(struct gb *g, const uint8_t *s, size_t n)
{
	char full[128];

	ws_copy_text(full, sizeof(full), s, WS_MIN(n, sizeof(full) - 1));
	ws_strlcpy(g->out->version, full, sizeof(g->out->version));
	if (!parse_version(full, &g->out->major, &g->out->minor))
		g->out->major = g->out->minor = 0;
}

/* Before Go 1.18: a pointer to the version's string header {data, len}. */
static int buildinfo_pointers(struct gb *g, const uint8_t *hdr)
{
	unsigned ps = hdr[14];
	uint8_t sh[16], text[64];
	int rc;

	if (ps != 4 && ps != 8)
		return fail(g, -ENOEXEC, "build info with %u-byte pointers", ps);
	if ((rc = va_read(g, getptr(g, hdr + 16, ps), sh, 2 * ps)))
		return rc;
	uint64_t data = getptr(g, sh, ps), len = getptr(g, sh + ps, ps);
	if (len == 0 || len > sizeof(text))
		return fail(g, -ENOEXEC, "build info version of %llu bytes", (unsigned long long)len);
	if ((rc = va_read(g, data, text, len)))
		return rc;
	set_version(g, text, len);
	return 0;
}

/* Go 1.18 and later: the version inline, after the 32-byte header. */
static int buildinfo_inline(struct gb *g, const uint8_t *b, size_t len)
{
	const uint8_t *p = b + 32, *end = b + len;
	uint64_t n;

	if (!uvarint(&p, end, &n) || n == 0 || n > (uint64_t)(end - p))
		return fail(g, -ENOEXEC, "the build info's version string is cut short");
	set_version(g, p, n);
	return 0;
}

/* Where to look for the build info: its section, or as Go's own
 * debug/buildinfo does without one, the first writable, non-executable
 * segment. -ENOENT when there is neither. */
static int buildinfo_region(struct gb *g, uint64_t *off, uint64_t *len)
{
	const struct shdr *s = find_sec(g, ".go.buildinfo");

	if (s && s->type != SHT_NOBITS) {
		*off = s->off;
		*len = WS_MIN(s->size, BUILDINFO_SCAN);
		return 0;
	}
	for (size_t i = 0; i < g->nph; i++) {
		const struct phdr *p = &g->ph[i];
		if (p->type == PT_LOAD && (p->flags & (PF_X | PF_W)) == PF_W) {
			*off = p->off;
			*len = WS_MIN(p->filesz, WS_MIN(BUILDINFO_SCAN, g->fsize - WS_MIN(p->off, g->fsize)));
			return 0;
		}
	}
	return -ENOENT;
}

/* The Go version, from the build info. -ENOENT when there is no build
 * info (likely not Go); other errors when there is one but it is bad. */
static int read_buildinfo(struct gb *g)
{
	uint64_t off, len;
	uint8_t *b = NULL;
	int rc;

	if ((rc = buildinfo_region(g, &off, &len)))
		return rc;
	if ((rc = file_load(g, off, len, &b)))
		return rc;
	rc = -ENOENT;
	for (uint64_t i = 0; i + 32 <= len; i += 16) { /* the header is 16-byte aligned */
		if (memcmp(b + i, BUILDINFO_MAGIC, sizeof(BUILDINFO_MAGIC)) != 0)
			continue;
		if (b[i + 15] & 2)
			rc = buildinfo_inline(g, b + i, len - i);
		else
			rc = buildinfo_pointers(g, b + i);
		break;
	}
	free(b);
	return rc;
}

/* ---- pclntab ---- */

/* The era of a pclntab magic, 0 when it is none. */
static int pcln_era(uint32_t magic)
{
	switch (magic) {
	case 0xfffffffb: return 102; /* Go 1.2 - 1.15 */
	case 0xfffffffa: return 116; /* Go 1.16 - 1.17 */
	case 0xfffffff0: return 118; /* Go 1.18 - 1.19 */
	case 0xfffffff1: return 120; /* Go 1.20 and later */
	default: return 0;
	}
}

static const char *pcln_era_name(int era)
{
	switch (era) {
	case 102: return "Go 1.2 to 1.15";
	case 116: return "Go 1.16 or 1.17";
	case 118: return "Go 1.18 or 1.19";
	case 120: return "Go 1.20 or later";
	default: return "an unknown Go version";
	}
}

/* Parse and check the header of a pclntab of len bytes, of which the first
 * have bytes are at tab: the function table and the names it points to
 * must lie inside. */
static bool pcln_parse(const struct gb *g, const uint8_t *tab, size_t have, size_t len, struct pcln *p)
{
	memset(p, 0, sizeof(*p));
	if (have < 8 || have > len)
		return false;
	p->era = pcln_era(get32(g, tab));
	p->ptrsize = tab[7];
	if (p->era < 116 || tab[4] || tab[5] || (tab[6] != 1 && tab[6] != 2 && tab[6] != 4) ||
	    (p->ptrsize != 4 && p->ptrsize != 8))
		return false;
	unsigned ps = p->ptrsize, nfield = p->era == 116 ? 7 : 8;
	if (have < 8 + nfield * ps)
		return false;
	const uint8_t *h = tab + 8;
	p->nfunc = getptr(g, h, ps);
	if (p->era == 116) {
		p->funcname = getptr(g, h + 2 * ps, ps);
		p->functab = getptr(g, h + 6 * ps, ps);
		p->fent = 2 * ps;
	} else {
		p->text_start = getptr(g, h + 2 * ps, ps);
		p->funcname = getptr(g, h + 3 * ps, ps);
		p->functab = getptr(g, h + 7 * ps, ps);
		p->fent = 8;
	}
	p->tab = tab;
	p->len = len;
	/* nfunc entries and the end entry after them */
	return p->nfunc > 0 && p->nfunc < len && p->funcname < len && p->functab < len &&
	       in_bounds(p->functab, p->nfunc * p->fent + ps, len);
}

/* Entry address of function i (i == nfunc: the end of the last one). */
static uint64_t pcln_entry(const struct gb *g, const struct pcln *p, uint64_t i)
{
	const uint8_t *e = p->tab + p->functab + i * p->fent;

	if (p->era == 116)
		return getptr(g, e, p->ptrsize);
	return p->text_start + get32(g, e);
}

/* Whether function i is called name. */
static bool pcln_name_is(const struct gb *g, const struct pcln *p, uint64_t i, const char *name)
{
	const uint8_t *e = p->tab + p->functab + i * p->fent;
	uint64_t funcoff = p->era == 116 ? getptr(g, e + p->ptrsize, p->ptrsize) : get32(g, e + 4);
	uint64_t at = p->functab + funcoff, nameoff_at = at + (p->era == 116 ? p->ptrsize : 4);
	size_t want = strlen(name) + 1;

	if (funcoff >= p->len || !in_bounds(nameoff_at, 4, p->len))
		return false;
	uint64_t name_at = p->funcname + (uint64_t)get32(g, p->tab + nameoff_at);
	return in_bounds(name_at, want, p->len) && memcmp(p->tab + name_at, name, want) == 0;
}

/* In a PIE an external linker leaves the pclntab's text start to a
 * relative relocation (the field reads 0 in the file): take its addend. */
static int pcln_reloc_text(struct gb *g, struct pcln *p)
{
	uint64_t at = p->va + 8 + 2 * p->ptrsize;

	for (size_t i = 0; i < g->nsh; i++) {
		const struct shdr *s = &g->sh[i];
		uint8_t *r = NULL;
		if (s->type != SHT_RELA || !g->is64 || file_load(g, s->off, s->size, &r))
			continue;
		for (uint64_t k = 0; k + 24 <= s->size; k += 24) {
			if (get64(g, r + k) == at && ELF64_R_TYPE(get64(g, r + k + 8)) == R_X86_64_RELATIVE) {
				p->text_start = get64(g, r + k + 16);
				free(r);
				return 0;
			}
		}
		free(r);
	}
	return fail(g, -ENOTSUP, "the pclntab's text start is left to a relocation that was not found");
}

/* Search one non-executable segment for a pclntab by its magic and a
 * header that checks out. On success g->pcln_buf holds the segment from
 * the pclntab to its end. -ENOENT when there is none (or only what a file
 * cut short leaves of one). */
static int pcln_scan_segment(struct gb *g, const struct phdr *ph)
{
	uint8_t *buf = ws_malloc(SCAN_CHUNK);
	uint8_t hdr[8 + 8 * 8];
	uint64_t size = ph->off < g->fsize ? WS_MIN(ph->filesz, g->fsize - ph->off) : 0;
	int rc = -ENOENT;

	for (uint64_t pos = 0; rc == -ENOENT && pos < size; pos += SCAN_CHUNK) {
		size_t n = (size_t)WS_MIN(SCAN_CHUNK, size - pos);
		if ((rc = file_read(g, ph->off + pos, buf, n)))
			break;
		rc = -ENOENT;
		for (size_t i = 0; i + 4 <= n && rc == -ENOENT; i += 4) {
			if (pcln_era(get32(g, buf + i)) < 116)
				continue;
			uint64_t left = size - pos - i;
			struct pcln p;
			size_t have = (size_t)WS_MIN(sizeof(hdr), left), len = (size_t)WS_MIN(left, MAX_LOAD);
			if (file_read(g, ph->off + pos + i, hdr, have) || !pcln_parse(g, hdr, have, len, &p))
				continue;
			/* the header checks out: load the rest */
			if ((rc = file_load(g, ph->off + pos + i, len, &g->pcln_buf)))
				break;
			if (pcln_parse(g, g->pcln_buf, len, len, &g->pc)) {
				g->pc.va = ph->vaddr + pos + i;
				rc = 0;
			} else {
				free(g->pcln_buf);
				g->pcln_buf = NULL;
				rc = -ENOENT;
			}
		}
	}
	if (rc != -EIO)
		forget(g); /* candidates that did not check out are not the failure to report */
	if (rc && rc != -EIO)
		rc = -ENOENT;
	free(buf);
	return rc;
}

/* Find, load and check the pclntab. */
static int pcln_load(struct gb *g)
{
	const struct shdr *s = pcln_sec(g);
	int rc = -ENOENT;

	if (s) {
		if ((rc = file_load(g, s->off, s->size, &g->pcln_buf)))
			return rc;
		if (!pcln_parse(g, g->pcln_buf, s->size, s->size, &g->pc)) {
			uint32_t magic = s->size >= 4 ? get32(g, g->pcln_buf) : 0;
			if (pcln_era(magic) == 102)
				return fail(g, -ENOTSUP, "its pclntab is of %s", pcln_era_name(102));
			return fail(g, -ENOTSUP, "its pclntab (magic %#x) cannot be read", magic);
		}
		g->pc.va = s->addr;
	} else {
		for (size_t i = 0; i < g->nph && rc == -ENOENT; i++)
			if (g->ph[i].type == PT_LOAD && !(g->ph[i].flags & PF_X))
				rc = pcln_scan_segment(g, &g->ph[i]);
		if (rc)
			return rc == -ENOENT ? fail(g, -ENOTSUP, "no pclntab found") : rc;
	}
	uint64_t unused;
	if (g->pc.era >= 118 && va_to_off(g, g->pc.text_start, 1, true, &unused) != 0)
		return pcln_reloc_text(g, &g->pc);
	return 0;
}

/* Entries and extents of the functions we probe, from the pclntab. */
static int pcln_funcs(struct gb *g, struct gofunc f[NFUNCS])
{
	const struct pcln *p = &g->pc;
	int found = 0, rc;

	if (!g->pcln_buf && (rc = pcln_load(g)))
		return rc;
	for (uint64_t i = 0; i < p->nfunc && found < NFUNCS; i++) {
		for (int k = 0; k < NFUNCS; k++) {
			if (f[k].start || !pcln_name_is(g, p, i, FUNC_NAMES[k]))
				continue;
			f[k].start = pcln_entry(g, p, i);
			f[k].end = pcln_entry(g, p, i + 1);
			found++;
		}
	}
	return 0;
}

/* ---- symbols ---- */

/* Entries and extents from .symtab, for the functions it has with a size. */
static int symtab_funcs(struct gb *g, const struct shdr *sym, struct gofunc f[NFUNCS])
{
	size_t es = g->is64 ? 24 : 16;
	uint8_t *t = NULL, *str = NULL;
	int rc;

	if (sym->link >= g->nsh || g->sh[sym->link].type != SHT_STRTAB)
		return fail(g, -ENOTSUP, "its symbol table has no string table");
	const struct shdr *ss = &g->sh[sym->link];
	if ((rc = file_load(g, sym->off, sym->size, &t)) || (rc = file_load(g, ss->off, ss->size, &str)))
		goto cleanup;
	for (uint64_t k = 0; k + es <= sym->size; k += es) {
		const uint8_t *e = t + k;
		uint32_t name = get32(g, e);
		uint8_t info = g->is64 ? e[4] : e[12];
		uint64_t value = g->is64 ? get64(g, e + 8) : get32(g, e + 4);
		uint64_t size = g->is64 ? get64(g, e + 16) : get32(g, e + 8);
		if (ELF64_ST_TYPE(info) != STT_FUNC || name >= ss->size || size == 0)
			continue;
		for (int i = 0; i < NFUNCS; i++) {
			size_t want = strlen(FUNC_NAMES[i]) + 1;
			if (!f[i].start && in_bounds(name, want, ss->size) &&
			    memcmp(str + name, FUNC_NAMES[i], want) == 0) {
				f[i].start = value;
				f[i].end = value + size;
			}
		}
	}
cleanup:
	free(t);
	free(str);
	return rc;
}

/* ---- probe sites ---- */

/* What to collect from one function's instructions: its RETs (target 0),
 * or its direct CALLs of the function at file offset target. */
struct collect {
	int fn;		 /* F_*: the function disassembled */
	uint64_t target; /* 0, or a callee's entry */
	uint64_t *out;
	size_t max, n;
};

static bool wanted(const cs_insn *insn, const struct collect *c)
{
	if (!c->target)
		return insn->id == X86_INS_RET || insn->id == X86_INS_RETF || insn->id == X86_INS_RETFQ;
	if (insn->id != X86_INS_CALL || insn->size != 5 || insn->bytes[0] != 0xe8)
		return false;
	int32_t rel = (int32_t)((uint32_t)insn->bytes[1] | (uint32_t)insn->bytes[2] << 8 |
				(uint32_t)insn->bytes[3] << 16 | (uint32_t)insn->bytes[4] << 24);
	/* addresses here are file offsets: the same distance as in memory,
	 * both ends being in the text segment */
	return insn->address + 5 + (uint64_t)(int64_t)rel == c->target;
}

/* Disassemble the function at file offset off, size bytes long, and
 * collect what c asks for. Go puts no data in its text, so a linear sweep
 * from the entry sees every instruction; the INT3 padding up to the next
 * function decodes too. */
static int collect(struct gb *g, uint64_t off, uint64_t size, struct collect *c)
{
	const char *name = FUNC_NAMES[c->fn];
	uint8_t *code = NULL;
	csh cs = 0;
	cs_insn *insn = NULL;
	int rc;

	if (size == 0 || size > MAX_FUNC)
		return fail(g, -ENOTSUP, "%s is %llu bytes long", name, (unsigned long long)size);
	if ((rc = file_load(g, off, size, &code)))
		return rc;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK) {
		rc = fail(g, -ENOTSUP, "capstone has no x86-64 disassembler");
		goto cleanup;
	}
	insn = cs_malloc(cs);
	const uint8_t *p = code;
	size_t left = size;
	uint64_t at = off; /* instruction addresses are file offsets */
	while (rc == 0 && cs_disasm_iter(cs, &p, &left, &at, insn)) {
		if (!wanted(insn, c))
			continue;
		if (c->n == c->max)
			rc = fail(g, -ENOTSUP, "%s has more than %zu %s", name, c->max,
				  c->target ? "such calls" : "RETs");
		else
			c->out[c->n++] = insn->address;
	}
	if (rc == 0 && left > 0)
		rc = fail(g, -ENOTSUP, "%s does not disassemble at +%#llx", name, (unsigned long long)(size - left));
cleanup:
	if (insn)
		cs_free(insn, 1);
	if (cs)
		cs_close(&cs);
	free(code);
	return rc;
}

/* Functions a program may not have: the linker leaves out the channel
 * operations it never uses (no select statement: no selectgo), and their
 * probes are not needed there. */
static bool optional(int fn)
{
	return fn == F_CHANSEND || fn == F_SELECTGO || fn == F_CHANRECV || fn == F_SEND || fn == F_RECV;
}

/* The one CALL of callee in fn (0: fn is optional and not in the program). */
static int call_site(struct gb *g, const uint64_t off[NFUNCS], const uint64_t size[NFUNCS], int fn, int callee,
		     uint64_t *site)
{
	*site = 0;
	if (!off[fn] && optional(fn))
		return 0;
	if (!off[callee])
		return fail(g, -ENOTSUP, "%s was not found", FUNC_NAMES[callee]);
	struct collect c = {.fn = fn, .target = off[callee], .out = site, .max = 1};
	int rc = collect(g, off[fn], size[fn], &c);

	if (rc == 0 && c.n == 0)
		rc = fail(g, -ENOTSUP, "%s does not call %s", FUNC_NAMES[fn], FUNC_NAMES[callee]);
	return rc;
}

static bool all_found(const struct gofunc f[NFUNCS])
{
	for (int i = 0; i < NFUNCS; i++)
		if (!f[i].start && !optional(i))
			return false;
	return true;
}

/* File offsets and sizes of the functions. */
static int find_funcs(struct gb *g, uint64_t off[NFUNCS], uint64_t size[NFUNCS])
{
	struct gofunc f[NFUNCS] = {0};
	const struct shdr *sym = find_type(g, SHT_SYMTAB);
	int rc = sym ? symtab_funcs(g, sym, f) : 0;

	if (rc && rc != -EIO) /* a .symtab that cannot be read: the pclntab has the functions too */
		rc = forget(g);
	if (rc == 0 && !all_found(f)) /* not all in .symtab with a size */
		rc = pcln_funcs(g, f);
	for (int i = 0; rc == 0 && i < NFUNCS; i++) {
		off[i] = size[i] = 0;
		if (!f[i].start && optional(i))
			continue;
		size[i] = f[i].end - f[i].start;
		if (!f[i].start)
			rc = fail(g, -ENOTSUP, "%s was not found", FUNC_NAMES[i]);
		else if (f[i].end <= f[i].start || va_to_off(g, f[i].start, size[i], true, &off[i]))
			rc = fail(g, -ENOTSUP, "%s is not inside the executable segment", FUNC_NAMES[i]);
	}
	return rc;
}

/* The probe sites: entries, the RETs of newproc1, the CALL sites. */
static int probe_sites(struct gb *g)
{
	struct ws_gobin *o = g->out;
	uint64_t off[NFUNCS], size[NFUNCS];
	int rc = find_funcs(g, off, size);

	if (rc)
		return rc;
	o->newproc1 = off[F_NEWPROC1];
	o->newproc1_end = off[F_NEWPROC1] + size[F_NEWPROC1];
	o->goexit1 = off[F_GOEXIT1];
	struct collect rets = {.fn = F_NEWPROC1, .out = o->newproc1_ret, .max = WS_GOBIN_MAX_RETS};
	rc = collect(g, off[F_NEWPROC1], size[F_NEWPROC1], &rets);
	o->n_newproc1_ret = rets.n;
	if (rc == 0 && rets.n == 0)
		rc = fail(g, -ENOTSUP, "runtime.newproc1 has no RET instruction");
	if (rc == 0)
		rc = call_site(g, off, size, F_NEWPROC_FUNC1, F_RUNQPUT, &o->spawn_site);
	if (rc == 0)
		rc = call_site(g, off, size, F_CHANSEND, F_SEND, &o->send_sites[0]);
	if (rc == 0)
		rc = call_site(g, off, size, F_SELECTGO, F_SEND, &o->send_sites[1]);
	if (rc == 0)
		rc = call_site(g, off, size, F_CHANRECV, F_RECV, &o->recv_sites[0]);
	if (rc == 0)
		rc = call_site(g, off, size, F_SELECTGO, F_RECV, &o->recv_sites[1]);
	if (rc == 0)
		rc = call_site(g, off, size, F_GOEXIT1, F_MCALL, &o->exit_site);
	return rc;
}

/* ---- struct offsets ---- */

enum { O_G_GOID, O_G_M, O_M_PROCID, O_M_CURG, NOFFS };

/* runtime.g and runtime.m field offsets on amd64, by Go minor version.
 *
 * Only `verified` rows are used for a binary without DWARF: their values
 * were read from the DWARF of real builds of that version and are checked
 * by tests/unit/test_gobin.c. The other rows come from reading the
 * runtime's source (runtime2.go) and public goid tables; they are not
 * used until someone verifies them: build a program with that Go version
 * without -w, run test_gobin's DWARF comparison on it, then set verified.
 *   1.23 added g.syscallbp before goid (+8);
 *   1.25 dropped gobuf.ret (-8 for everything after g.sched and m.morebuf). */
static const struct go_offsets {
	int minor_lo, minor_hi;
	uint32_t off[NOFFS]; /* g.goid, g.m, m.procid, m.curg */
	bool verified;
} GO_OFFSETS[] = {
    {19, 19, {152, 48, 72, 192}, true},	 /* go1.19.8 (Debian golang-1.19), DWARF */
    {17, 18, {152, 48, 72, 192}, false}, /* source */
    {20, 22, {152, 48, 72, 192}, false}, /* source */
    {23, 24, {160, 48, 72, 192}, false}, /* source, public goid tables */
    {25, 26, {152, 48, 64, 184}, false}, /* source, public goid tables */
};

static const struct go_offsets *offsets_for(int major, int minor)
{
	for (size_t i = 0; major == 1 && i < WS_ARRAY_SIZE(GO_OFFSETS); i++)
		if (minor >= GO_OFFSETS[i].minor_lo && minor <= GO_OFFSETS[i].minor_hi)
			return &GO_OFFSETS[i];
	return NULL;
}

/* The offsets of the named members of a DWARF structure. */
static void dwarf_members(Dwarf_Die *st, const char *const names[2], int64_t off[2])
{
	Dwarf_Die m;
	Dwarf_Attribute a;
	Dwarf_Word w;

	if (dwarf_child(st, &m) != 0)
		return;
	do {
		const char *n = dwarf_tag(&m) == DW_TAG_member ? dwarf_diename(&m) : NULL;
		for (int i = 0; n && i < 2; i++)
			if (strcmp(n, names[i]) == 0 && dwarf_attr(&m, DW_AT_data_member_location, &a) &&
			    dwarf_formudata(&a, &w) == 0 && w < 65536)
				off[i] = (int64_t)w;
	} while (dwarf_siblingof(&m, &m) == 0);
}

/* runtime.g and runtime.m among the top-level entries of every unit. */
static void dwarf_scan(Dwarf *dw, int64_t off[NOFFS])
{
	static const char *const g_names[2] = {"goid", "m"}, *const m_names[2] = {"procid", "curg"};
	Dwarf_Off cu_off = 0, next;
	size_t hsize;
	int seen = 0;

	while (seen < 2 && dwarf_nextcu(dw, cu_off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu, d;
		if (dwarf_offdie(dw, cu_off + hsize, &cu) && dwarf_child(&cu, &d) == 0) {
			do {
				const char *n = dwarf_tag(&d) == DW_TAG_structure_type ? dwarf_diename(&d) : NULL;
				if (n && strcmp(n, "runtime.g") == 0 && off[O_G_GOID] < 0) {
					dwarf_members(&d, g_names, &off[O_G_GOID]);
					seen++;
				} else if (n && strcmp(n, "runtime.m") == 0 && off[O_M_PROCID] < 0) {
					dwarf_members(&d, m_names, &off[O_M_PROCID]);
					seen++;
				}
			} while (seen < 2 && dwarf_siblingof(&d, &d) == 0);
		}
		cu_off = next;
	}
}

/* Offsets from DWARF. Go compresses its DWARF (zlib: SHF_COMPRESSED
 * sections in Go 1.19, .zdebug_* ones in older releases); libdw
 * decompresses either itself. 0, or -ENOENT when a field is missing. */
static int dwarf_offsets(struct gb *g, uint32_t out[NOFFS])
{
	int64_t off[NOFFS] = {-1, -1, -1, -1};
	Elf *elf = NULL;
	Dwarf *dw = NULL;
	int rc = -ENOENT;

	if (!find_sec(g, ".debug_info") && !find_sec(g, ".zdebug_info"))
		return -ENOENT;
	elf_version(EV_CURRENT);
	/* ELF_C_READ reads with pread on demand: no mapping that a file cut
	 * short under us would turn into SIGBUS */
	elf = elf_begin(g->fd, ELF_C_READ, NULL);
	dw = elf ? dwarf_begin_elf(elf, DWARF_C_READ, NULL) : NULL;
	if (!dw)
		goto cleanup;
	dwarf_scan(dw, off);
	rc = 0;
	for (int i = 0; i < NOFFS; i++) {
		if (off[i] < 0)
			rc = -ENOENT;
		out[i] = (uint32_t)off[i];
	}
cleanup:
	if (dw)
		dwarf_end(dw);
	if (elf)
		elf_end(elf);
	return rc;
}

static int struct_offsets(struct gb *g)
{
	struct ws_gobin *o = g->out;
	uint32_t v[NOFFS];
	const struct go_offsets *t = offsets_for(o->major, o->minor);

	if (dwarf_offsets(g, v) == 0) {
		o->dwarf = true;
		if (t && t->verified && memcmp(v, t->off, sizeof(v)) != 0)
			ws_debug("%s: DWARF offsets differ from the table for Go 1.%d", o->version, o->minor);
	} else if (t && t->verified) {
		memcpy(v, t->off, sizeof(v));
	} else {
		return fail(g, -ENOTSUP, "no DWARF, and no verified runtime struct offsets for Go %d.%d", o->major,
			    o->minor);
	}
	o->g_goid = v[O_G_GOID];
	o->g_m = v[O_G_M];
	o->m_procid = v[O_M_PROCID];
	o->m_curg = v[O_M_CURG];
	return 0;
}

/* ---- the whole ---- */

/* Whether the file is Go, and its version. 0 with out->version set;
 * -ENOEXEC when not Go; -ENOTSUP when Go of an unknown version. */
static int identify(struct gb *g)
{
	const struct shdr *pc = pcln_sec(g);
	uint8_t magic[4];
	int rc = read_buildinfo(g);

	if (rc == -EIO)
		return rc;
	if (rc == -ENOENT && !pc)
		return fail(g, -ENOEXEC, "not a Go binary");
	g->is_go = true;
	g->out->stripped = !find_type(g, SHT_SYMTAB);
	if (strcmp(goarch(g), "amd64") != 0 || !g->is64 || g->be)
		return fail(g, -ENOTSUP, "built for %s, and only amd64 is supported (arm64 would need X28, not R14)",
			    goarch(g));
	if (rc == 0 && g->out->major == 0)
		return fail(g, -ENOTSUP, "Go version \"%s\" cannot be parsed", g->out->version);
	if (rc) {
		int era = pc && pc->size >= 4 && file_read(g, pc->off, magic, 4) == 0 ? pcln_era(get32(g, magic)) : 0;
		forget(g); /* the build info's own complaint: replaced by a clearer one */
		return fail(g, -ENOTSUP, "no readable Go build info, so no Go version (its pclntab is of %s)",
			    pcln_era_name(era));
	}
	if (g->out->major != 1 || g->out->minor < 17)
		return fail(g, -ENOTSUP, "Go %d.%d predates the register ABI of Go 1.17 the probes rely on",
			    g->out->major, g->out->minor);
	return 0;
}

int ws_gobin_inspect(int fd, struct ws_gobin *out, char *err, size_t errlen)
{
	struct gb g = {.fd = fd, .out = out};
	int rc;

	memset(out, 0, sizeof(*out));
	if (errlen)
		err[0] = 0;
	rc = elf_open(&g);
	if (!rc)
		rc = identify(&g);
	ws_strlcpy(out->arch, g.machine ? goarch(&g) : "", sizeof(out->arch));
	if (!rc)
		rc = probe_sites(&g);
	if (!rc)
		rc = struct_offsets(&g);
	if (rc == -ENOEXEC && g.is_go)
		rc = -ENOTSUP; /* a corrupt Go binary is still Go */
	if (rc == -ENOTSUP)
		snprintf(err, errlen, "%s binary: %s; wirespan falls back to kernel evidence for this process",
			 out->version[0] ? out->version : "Go", g.what);
	else if (rc)
		snprintf(err, errlen, "%s", g.what[0] ? g.what : strerror(-rc));
	free(g.ph);
	free(g.sh);
	free(g.shstr);
	free(g.pcln_buf);
	return rc;
}
