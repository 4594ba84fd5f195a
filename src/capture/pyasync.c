/* pyasync.c -- see pyasync.h. The module is read from memory with libelf;
 * nothing in it is trusted: every offset is checked against the file. */
#include "capture/pyasync.h"

#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

#define PY_MODULE_MAX (64u << 20) /* _asyncio is ~100 KiB; anything this big is not it */
#define METH_O 0x0008

/* CPython structure layouts (x86-64, 3.11; unchanged since 3.8). */
#define TP_NAME 24  /* PyTypeObject.tp_name */
#define TP_CALL 128 /* .tp_call */
#define TP_INIT 296 /* .tp_init */
#define ML_NAME 0   /* PyMethodDef.ml_name */
#define ML_METH 8   /* .ml_meth */
#define ML_FLAGS 16 /* .ml_flags */

struct reloc {
	uint64_t off, addend;
};

struct mod {
	const uint8_t *d;
	size_t n;
	Elf *e;
	GElf_Phdr *ph;
	size_t nph;
	struct reloc *rel; /* R_X86_64_RELATIVE, by offset */
	size_t nrel;
	uint64_t ro_addr, ro_off, ro_size; /* .rodata */
	char *err;
	size_t errlen;
};

static int fail(struct mod *m, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->err, m->errlen, fmt, ap);
	va_end(ap);
	return rc;
}

static int cmp_reloc(const void *a, const void *b)
{
	const struct reloc *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* The addend of the relocation at vaddr off (0: none). */
static uint64_t reloc_at(const struct mod *m, uint64_t off)
{
	size_t lo = 0, hi = m->nrel;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->rel[mid].off == off)
			return m->rel[mid].addend;
		if (m->rel[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* The file offset of [vaddr, vaddr + len) in a loaded segment (exec:
 * an executable one); -1 when none holds it. */
static int64_t file_off(const struct mod *m, uint64_t vaddr, uint64_t len, bool exec)
{
	for (size_t i = 0; i < m->nph; i++) {
		const GElf_Phdr *p = &m->ph[i];
		if (p->p_type != PT_LOAD || (exec && !(p->p_flags & PF_X)))
			continue;
		if (vaddr < p->p_vaddr || vaddr - p->p_vaddr > p->p_filesz || len > p->p_filesz - (vaddr - p->p_vaddr))
			continue;
		uint64_t off = p->p_offset + (vaddr - p->p_vaddr);
		if (off > m->n || len > m->n - off)
			return -1;
		return (int64_t)off;
	}
	return -1;
}

static int read_tables(struct mod *m)
{
	GElf_Ehdr eh;
	size_t shstr, cap = 0;
	Elf_Scn *scn = NULL;

	if (!gelf_getehdr(m->e, &eh) || gelf_getclass(m->e) != ELFCLASS64 || eh.e_machine != EM_X86_64 ||
	    eh.e_type != ET_DYN)
		return fail(m, -ENOEXEC, "not an x86-64 ELF shared object");
	if (elf_getphdrnum(m->e, &m->nph) || m->nph > 64 || elf_getshdrstrndx(m->e, &shstr))
		return fail(m, -ENOEXEC, "unreadable ELF headers");
	m->ph = ws_calloc(m->nph + 1, sizeof(*m->ph));
	for (size_t i = 0; i < m->nph; i++)
		if (!gelf_getphdr(m->e, (int)i, &m->ph[i]))
			return fail(m, -ENOEXEC, "unreadable program header %zu", i);
	while ((scn = elf_nextscn(m->e, scn))) {
		GElf_Shdr sh;
		const char *name;
		if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(m->e, shstr, sh.sh_name)))
			continue;
		if (sh.sh_type == SHT_PROGBITS && strcmp(name, ".rodata") == 0) {
			if (sh.sh_offset > m->n || sh.sh_size > m->n - sh.sh_offset)
				return fail(m, -ENOEXEC, ".rodata lies outside the file");
			m->ro_addr = sh.sh_addr;
			m->ro_off = sh.sh_offset;
			m->ro_size = sh.sh_size;
		} else if (sh.sh_type == SHT_RELA && sh.sh_entsize == sizeof(Elf64_Rela)) {
			Elf_Data *d = elf_getdata(scn, NULL);
			size_t k = d ? d->d_size / sizeof(Elf64_Rela) : 0;
			for (size_t i = 0; i < k; i++) {
				GElf_Rela r;
				if (!gelf_getrela(d, (int)i, &r) || GELF_R_TYPE(r.r_info) != R_X86_64_RELATIVE)
					continue;
				if (m->nrel == cap) {
					cap = cap ? cap * 2 : 1024;
					m->rel = ws_realloc(m->rel, cap * sizeof(*m->rel));
				}
				m->rel[m->nrel++] = (struct reloc){r.r_offset, (uint64_t)r.r_addend};
			}
		}
	}
	if (!m->ro_size)
		return fail(m, -ENOTSUP, "no .rodata section");
	if (!m->nrel)
		return fail(m, -ENOTSUP, "no relative relocations");
	qsort(m->rel, m->nrel, sizeof(*m->rel), cmp_reloc);
	return 0;
}

/* The address of the string s (with its NUL, starting a string) in .rodata (0: none). */
static uint64_t rodata_string(const struct mod *m, const char *s)
{
	size_t len = strlen(s) + 1;
	const uint8_t *ro = m->d + m->ro_off, *p = ro;

	while (p + len <= ro + m->ro_size && (p = memmem(p, (size_t)(ro + m->ro_size - p), s, len))) {
		if (p == ro || p[-1] == 0)
			return m->ro_addr + (uint64_t)(p - ro);
		p++;
	}
	return 0;
}

/* The function a structure named name points to: the structure holds a
 * pointer to the string at name_off and the function at fn_off (and, if
 * flags_off is not negative, the int flags there). Returns its file
 * offset, or 0. */
static uint64_t find_function(struct mod *m, const char *name, unsigned name_off, unsigned fn_off, int flags_off,
			      int32_t flags)
{
	uint64_t s = rodata_string(m, name);

	for (size_t i = 0; s && i < m->nrel; i++) {
		if (m->rel[i].addend != s || m->rel[i].off < name_off)
			continue;
		uint64_t base = m->rel[i].off - name_off, fn = reloc_at(m, base + fn_off);
		if (!fn)
			continue;
		if (flags_off >= 0) {
			int64_t at = file_off(m, base + (uint64_t)flags_off, 4, false);
			int32_t f;
			if (at < 0)
				continue;
			memcpy(&f, m->d + at, 4);
			if (f != flags)
				continue;
		}
		int64_t off = file_off(m, fn, 16, true);
		if (off > 0)
			return (uint64_t)off;
	}
	return 0;
}

/* CPython 3.minor from "_asyncio.cpython-3XY-...". */
static int name_minor(const char *name)
{
	const char *p = strstr(name ? name : "", "cpython-3");
	int minor = 0;

	if (!p)
		return -1;
	for (p += 9; *p >= '0' && *p <= '9' && minor < 100; p++)
		minor = minor * 10 + (*p - '0');
	return *p == '-' && minor > 0 ? minor : -1;
}

int ws_pyasync_inspect_mem(const void *data, size_t len, const char *name, struct ws_pyasync *out, char *err,
			   size_t errlen)
{
	struct mod m = {.d = data, .n = len, .err = err, .errlen = errlen};
	int rc;

	memset(out, 0, sizeof(*out));
	err[0] = 0;
	out->minor = name_minor(name);
	if (out->minor < 0)
		return fail(&m, -ENOTSUP, "%s is not a CPython extension module", name ? name : "?");
	if (out->minor != 11)
		return fail(&m, -ENOTSUP, "CPython 3.%d's _asyncio: only 3.11's layout is verified", out->minor);
	if (elf_version(EV_CURRENT) == EV_NONE || !(m.e = elf_memory((char *)data, len)))
		return fail(&m, -ENOEXEC, "not an ELF file");
	rc = read_tables(&m);
	if (rc == 0) {
		out->step = find_function(&m, "TaskStepMethWrapper", TP_NAME, TP_CALL, -1, 0);
		out->wakeup = find_function(&m, "task_wakeup", ML_NAME, ML_METH, ML_FLAGS, METH_O);
		out->init = find_function(&m, "_asyncio.Task", TP_NAME, TP_INIT, -1, 0);
		if (!out->step)
			rc = fail(&m, -ENOTSUP, "TaskStepMethWrapper's call was not found");
		else if (!out->wakeup)
			rc = fail(&m, -ENOTSUP, "task_wakeup was not found");
		else if (!out->init)
			rc = fail(&m, -ENOTSUP, "Task's initializer was not found");
	}
	elf_end(m.e);
	free(m.ph);
	free(m.rel);
	return rc;
}

int ws_pyasync_inspect(int fd, const char *name, struct ws_pyasync *out, char *err, size_t errlen)
{
	struct stat st;
	uint8_t *d;
	size_t got = 0;
	int rc;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > PY_MODULE_MAX) {
		snprintf(err, errlen, "not a regular file of a plausible size");
		memset(out, 0, sizeof(*out));
		return -ENOEXEC;
	}
	/* a private copy: libelf reads it in place */
	d = ws_malloc((size_t)st.st_size);
	while (got < (size_t)st.st_size) {
		ssize_t r = pread(fd, d + got, (size_t)st.st_size - got, (off_t)got);
		if (r <= 0) {
			free(d);
			snprintf(err, errlen, "cannot read the module: %s", r ? strerror(errno) : "short file");
			memset(out, 0, sizeof(*out));
			return -EIO;
		}
		got += (size_t)r;
	}
	rc = ws_pyasync_inspect_mem(d, got, name, out, err, errlen);
	free(d);
	return rc;
}
