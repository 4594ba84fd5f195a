/* tlslib.c -- see tlslib.h. Only the ELF headers and the symbol tables
 * are read, with pread (a program such as Node is 100 MiB and exports some
 * hundred thousand symbols, and it is read while its process starts:
 * reading or mapping it whole costs tens of milliseconds, in which the
 * process makes its first TLS calls). Every offset and size is checked
 * against the file. */
#include "capture/tlslib.h"

#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TLSLIB_MAX (1ull << 32)  /* files beyond are not libraries */
#define TABLE_MAX (256u << 20)   /* one symbol or string table */

static const char *const SITE_NAMES[WS_TLS_SITE_MAX] = {
	[WS_TLS_SITE_READ] = "SSL_read",   [WS_TLS_SITE_READ_EX] = "SSL_read_ex",
	[WS_TLS_SITE_WRITE] = "SSL_write", [WS_TLS_SITE_WRITE_EX] = "SSL_write_ex",
	[WS_TLS_SITE_SET_FD] = "SSL_set_fd",
};

int ws_tlslib_name(const char *base)
{
	return strncmp(base, "libssl.so", 9) == 0 || strncmp(base, "libboringssl", 12) == 0;
}

/* The file: a descriptor, or bytes in memory. */
struct src {
	int fd;
	const uint8_t *mem;
	uint64_t len;
};

static int src_read(const struct src *s, uint64_t off, void *buf, uint64_t n)
{
	if (off > s->len || n > s->len - off)
		return -1;
	if (s->mem) {
		memcpy(buf, s->mem + off, n);
		return 0;
	}
	for (uint64_t done = 0; done < n;) {
		ssize_t r = pread(s->fd, (char *)buf + done, n - done, (off_t)(off + done));
		if (r <= 0)
			return -1;
		done += (uint64_t)r;
	}
	return 0;
}

/* A table of the file, read whole into memory (NULL: outside the file,
 * or too large). */
static void *src_table(const struct src *s, uint64_t off, uint64_t n)
{
	void *p;

	if (n == 0 || n > TABLE_MAX || !(p = malloc(n)))
		return NULL;
	if (src_read(s, off, p, n) == 0)
		return p;
	free(p);
	return NULL;
}

/* The file offset of the function at vaddr: inside an executable loaded
 * segment and inside the file; 0 when not. */
static uint64_t text_offset(const Elf64_Phdr *ph, unsigned nph, uint64_t vaddr, uint64_t filelen)
{
	for (unsigned i = 0; i < nph; i++) {
		const Elf64_Phdr *p = &ph[i];
		if (p->p_type != PT_LOAD || !(p->p_flags & PF_X) || vaddr < p->p_vaddr ||
		    vaddr - p->p_vaddr >= p->p_filesz || p->p_offset > filelen)
			continue;
		uint64_t off = p->p_offset + (vaddr - p->p_vaddr);
		return off && off < filelen ? off : 0;
	}
	return 0;
}

/* Look the probed functions up in one symbol table (section i). */
static void scan_table(const struct src *s, const Elf64_Shdr *sh, unsigned nsh, unsigned i, const Elf64_Phdr *ph,
		       unsigned nph, struct ws_tlslib *out)
{
	const Elf64_Shdr *t = &sh[i];

	if (t->sh_entsize != sizeof(Elf64_Sym) || t->sh_link >= nsh || sh[t->sh_link].sh_type != SHT_STRTAB)
		return;
	const Elf64_Shdr *st = &sh[t->sh_link];
	Elf64_Sym *syms = src_table(s, t->sh_offset, t->sh_size);
	char *str = syms ? src_table(s, st->sh_offset, st->sh_size) : NULL;
	uint64_t n = t->sh_size / sizeof(Elf64_Sym), slen = st->sh_size;

	for (uint64_t k = 0; str && k < n; k++) {
		const Elf64_Sym *sym = &syms[k];
		if (sym->st_shndx == SHN_UNDEF || ELF64_ST_TYPE(sym->st_info) != STT_FUNC || !sym->st_value ||
		    sym->st_name >= slen || slen - sym->st_name < 9)
			continue;
		const char *name = str + sym->st_name;
		if (memcmp(name, "SSL_", 4) != 0)
			continue;
		for (int site = WS_TLS_SITE_READ; site < WS_TLS_SITE_MAX; site++) {
			size_t l = strlen(SITE_NAMES[site]) + 1;
			if (out->off[site] || slen - sym->st_name < l || memcmp(name, SITE_NAMES[site], l) != 0)
				continue;
			out->off[site] = text_offset(ph, nph, sym->st_value, s->len);
			out->nsites += out->off[site] != 0;
		}
	}
	free(syms);
	free(str);
}

/* Look one defined function up in the dynamic symbols through the GNU
 * hash table (section h), reading only the words the lookup visits: true
 * and *sym when found. */
static bool gnu_lookup(const struct src *s, const Elf64_Shdr *sh, unsigned nsh, const Elf64_Shdr *h, const char *name,
		       Elf64_Sym *sym)
{
	uint32_t hdr[4], hash = 5381, idx, word;

	if (h->sh_link >= nsh || sh[h->sh_link].sh_type != SHT_DYNSYM || sh[h->sh_link].sh_link >= nsh ||
	    sh[h->sh_link].sh_entsize != sizeof(Elf64_Sym) || src_read(s, h->sh_offset, hdr, sizeof(hdr)) || !hdr[0])
		return false;
	const Elf64_Shdr *ds = &sh[h->sh_link], *str = &sh[ds->sh_link];
	uint64_t nbuckets = hdr[0], symoff = hdr[1], buckets = h->sh_offset + 16 + (uint64_t)hdr[2] * 8;
	uint64_t chain = buckets + nbuckets * 4, nsyms = ds->sh_size / sizeof(Elf64_Sym);
	size_t len = strlen(name) + 1;
	char got[64];

	for (const char *c = name; *c; c++)
		hash = hash * 33 + (uint8_t)*c;
	if (src_read(s, buckets + (hash % nbuckets) * 4, &idx, 4) || idx < symoff)
		return false;
	for (unsigned steps = 0; steps < 4096 && idx < nsyms; steps++, idx++) {
		if (src_read(s, chain + (uint64_t)(idx - symoff) * 4, &word, 4))
			return false;
		if ((word | 1) == (hash | 1) && src_read(s, ds->sh_offset + (uint64_t)idx * sizeof(*sym), sym, sizeof(*sym)) == 0 &&
		    sym->st_name < str->sh_size && str->sh_size - sym->st_name >= len && len <= sizeof(got) &&
		    src_read(s, str->sh_offset + sym->st_name, got, len) == 0 && memcmp(got, name, len) == 0)
			return sym->st_shndx != SHN_UNDEF && sym->st_value;
		if (word & 1)
			break;
	}
	return false;
}

/* An ELF file's headers: what every lookup here starts from. */
struct elf {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[64];
	Elf64_Shdr *sh;          /* e_shnum of them (malloc'd) */
	const Elf64_Shdr *gnu_hash; /* the GNU hash table's section, NULL none */
};

static int elf_read(const struct src *s, struct elf *e, char *err, size_t errlen)
{
	Elf64_Ehdr *eh = &e->eh;

	e->sh = NULL;
	e->gnu_hash = NULL;
	if (src_read(s, 0, eh, sizeof(*eh)) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0) {
		snprintf(err, errlen, "not an ELF file");
		return -ENOEXEC;
	}
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    (eh->e_type != ET_DYN && eh->e_type != ET_EXEC)) {
		snprintf(err, errlen, "not a 64-bit little-endian ELF executable or shared object");
		return -ENOEXEC;
	}
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum > 64 ||
	    src_read(s, eh->e_phoff, e->ph, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr))) {
		snprintf(err, errlen, "unreadable program headers");
		return -ENOEXEC;
	}
	if (eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shnum == 0 ||
	    !(e->sh = src_table(s, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)))) {
		snprintf(err, errlen, "unreadable section headers");
		return -ENOEXEC;
	}
	for (unsigned i = 0; i < eh->e_shnum && !e->gnu_hash; i++)
		if (e->sh[i].sh_type == SHT_GNU_HASH)
			e->gnu_hash = &e->sh[i];
	return 0;
}

/* The file open on fd, when it is a regular file of a plausible size. */
static bool src_fd(int fd, struct src *s)
{
	struct stat st;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > TLSLIB_MAX)
		return false;
	*s = (struct src){.fd = fd, .len = (uint64_t)st.st_size};
	return true;
}

static int inspect(const struct src *s, struct ws_tlslib *out, char *err, size_t errlen)
{
	struct elf e;
	int rc;

	memset(out, 0, sizeof(*out));
	err[0] = 0;
	if ((rc = elf_read(s, &e, err, errlen)))
		return rc;
	unsigned nsh = e.eh.e_shnum, nph = e.eh.e_phnum;
	/* the dynamic symbols first, looked up by their hash table: a
	 * library's exports */
	for (int site = WS_TLS_SITE_READ; site < WS_TLS_SITE_MAX && e.gnu_hash; site++) {
		Elf64_Sym sym;
		if (gnu_lookup(s, e.sh, nsh, e.gnu_hash, SITE_NAMES[site], &sym) && ELF64_ST_TYPE(sym.st_info) == STT_FUNC) {
			out->off[site] = text_offset(e.ph, nph, sym.st_value, s->len);
			out->nsites += out->off[site] != 0;
		}
	}
	/* then every dynamic symbol (no hash table), and the full table, for
	 * a program that links OpenSSL without exporting it */
	for (int pass = 0; pass < 2 && !(out->off[WS_TLS_SITE_READ] && out->off[WS_TLS_SITE_WRITE]); pass++)
		for (unsigned i = 0; i < nsh; i++)
			if (e.sh[i].sh_type == (pass ? SHT_SYMTAB : SHT_DYNSYM))
				scan_table(s, e.sh, nsh, i, e.ph, nph, out);
	free(e.sh);
	if (!out->off[WS_TLS_SITE_READ] || !out->off[WS_TLS_SITE_WRITE]) {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	return 1;
}

int ws_tlslib_inspect_mem(const void *data, size_t len, struct ws_tlslib *out, char *err, size_t errlen)
{
	struct src s = {.fd = -1, .mem = data, .len = len};

	return inspect(&s, out, err, errlen);
}

int ws_tlslib_inspect(int fd, struct ws_tlslib *out, char *err, size_t errlen)
{
	struct src s;

	if (!src_fd(fd, &s)) {
		memset(out, 0, sizeof(*out));
		snprintf(err, errlen, "not a regular file of a plausible size");
		return -ENOEXEC;
	}
	return inspect(&s, out, err, errlen);
}

int ws_elf_exports(int fd, const char *const *names, int n)
{
	struct src s;
	struct elf e;
	char err[96];
	int found = -1;

	if (!src_fd(fd, &s) || elf_read(&s, &e, err, sizeof(err)))
		return -1;
	for (int i = 0; i < n && found < 0 && e.gnu_hash; i++) {
		Elf64_Sym sym;
		if (gnu_lookup(&s, e.sh, e.eh.e_shnum, e.gnu_hash, names[i], &sym))
			found = i;
	}
	free(e.sh);
	return found;
}
