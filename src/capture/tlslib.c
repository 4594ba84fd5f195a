/* tlslib.c -- see tlslib.h. */
#include "capture/tlslib.h"

#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TLSLIB_MAX (512u << 20) /* Node's executable is ~100 MiB */

static const char *const SITE_NAMES[WS_TLS_SITE_MAX] = {
	[WS_TLS_SITE_READ] = "SSL_read",   [WS_TLS_SITE_READ_EX] = "SSL_read_ex",
	[WS_TLS_SITE_WRITE] = "SSL_write", [WS_TLS_SITE_WRITE_EX] = "SSL_write_ex",
	[WS_TLS_SITE_SET_FD] = "SSL_set_fd",
};

int ws_tlslib_name(const char *base)
{
	return strncmp(base, "libssl.so", 9) == 0 || strncmp(base, "libboringssl", 12) == 0;
}

/* The file offset of the function at vaddr: inside an executable loaded
 * segment and inside the file; 0 when not. */
static uint64_t text_offset(const GElf_Phdr *ph, size_t nph, uint64_t vaddr, size_t filelen)
{
	for (size_t i = 0; i < nph; i++) {
		const GElf_Phdr *p = &ph[i];
		if (p->p_type != PT_LOAD || !(p->p_flags & PF_X) || vaddr < p->p_vaddr ||
		    vaddr - p->p_vaddr >= p->p_filesz)
			continue;
		uint64_t off = p->p_offset + (vaddr - p->p_vaddr);
		return off && off < filelen ? off : 0;
	}
	return 0;
}

static void scan_symbols(Elf *e, Elf_Scn *scn, const GElf_Shdr *sh, const GElf_Phdr *ph, size_t nph, size_t len,
			 struct ws_tlslib *out)
{
	Elf_Data *d = elf_getdata(scn, NULL);

	if (!d || !sh->sh_entsize)
		return;
	size_t n = d->d_size / sh->sh_entsize;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym sym;
		if (!gelf_getsym(d, (int)i, &sym) || sym.st_shndx == SHN_UNDEF || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
		    !sym.st_value)
			continue;
		const char *name = elf_strptr(e, sh->sh_link, sym.st_name);
		if (!name || strncmp(name, "SSL_", 4) != 0)
			continue;
		for (int site = WS_TLS_SITE_READ; site < WS_TLS_SITE_MAX; site++) {
			if (out->off[site] || strcmp(name, SITE_NAMES[site]) != 0)
				continue;
			out->off[site] = text_offset(ph, nph, sym.st_value, len);
			out->nsites += out->off[site] != 0;
		}
	}
}

static int inspect(Elf *e, size_t len, struct ws_tlslib *out, char *err, size_t errlen)
{
	GElf_Ehdr eh;
	GElf_Phdr ph[64];
	size_t nph;
	Elf_Scn *scn = NULL;

	if (!gelf_getehdr(e, &eh) || gelf_getclass(e) != ELFCLASS64 || (eh.e_type != ET_DYN && eh.e_type != ET_EXEC)) {
		snprintf(err, errlen, "not a 64-bit ELF executable or shared object");
		return -ENOEXEC;
	}
	if (elf_getphdrnum(e, &nph) || nph > 64) {
		snprintf(err, errlen, "unreadable program headers");
		return -ENOEXEC;
	}
	for (size_t i = 0; i < nph; i++)
		if (!gelf_getphdr(e, (int)i, &ph[i])) {
			snprintf(err, errlen, "unreadable program header %zu", i);
			return -ENOEXEC;
		}
	/* the dynamic symbols first: a library's exports; then the full
	 * table, for a program that links OpenSSL without exporting it */
	for (int pass = 0; pass < 2; pass++) {
		scn = NULL;
		while ((scn = elf_nextscn(e, scn))) {
			GElf_Shdr sh;
			if (gelf_getshdr(scn, &sh) && sh.sh_type == (pass ? SHT_SYMTAB : SHT_DYNSYM))
				scan_symbols(e, scn, &sh, ph, nph, len, out);
		}
		if (out->off[WS_TLS_SITE_READ] && out->off[WS_TLS_SITE_WRITE])
			break;
	}
	if (!out->off[WS_TLS_SITE_READ] || !out->off[WS_TLS_SITE_WRITE]) {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	return 1;
}

int ws_tlslib_inspect_mem(const void *data, size_t len, struct ws_tlslib *out, char *err, size_t errlen)
{
	Elf *e = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	err[0] = 0;
	if (elf_version(EV_CURRENT) == EV_NONE || !(e = elf_memory((char *)data, len)) || elf_kind(e) != ELF_K_ELF) {
		snprintf(err, errlen, "not an ELF file");
		if (e)
			elf_end(e);
		return -ENOEXEC;
	}
	rc = inspect(e, len, out, err, errlen);
	elf_end(e);
	return rc;
}

int ws_tlslib_inspect(int fd, struct ws_tlslib *out, char *err, size_t errlen)
{
	struct stat st;
	Elf *e = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	err[0] = 0;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > TLSLIB_MAX) {
		snprintf(err, errlen, "not a regular file of a plausible size");
		return -ENOEXEC;
	}
	/* libelf reads what it needs from the descriptor (a private read, not
	 * a mapping another process could change under it) */
	if (elf_version(EV_CURRENT) == EV_NONE || !(e = elf_begin(fd, ELF_C_READ, NULL)) || elf_kind(e) != ELF_K_ELF) {
		snprintf(err, errlen, "not an ELF file");
		if (e)
			elf_end(e);
		return -ENOEXEC;
	}
	rc = inspect(e, (size_t)st.st_size, out, err, errlen);
	elf_end(e);
	return rc;
}
