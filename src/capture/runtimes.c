/* runtimes.c -- see runtimes.h. */
#include "capture/runtimes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture/gobin.h"
#include "capture/pyasync.h"
#include "capture/tlslib.h"
#include "util/hashmap.h"
#include "util/util.h"

/* One executable file, read once. */
struct exe {
	char runtime[32]; /* "" native */
	bool go;
	int go_result;    /* 0: probes attached */
	bool tls;         /* it carries OpenSSL, whose functions are probed */
	struct ws_goproc offsets;
	char detail[256];
};

/* One _asyncio module file, read once. */
struct pymod {
	int result; /* 0: probes attached */
	char detail[200];
};

/* One file looked at for OpenSSL's functions (a library, or an
 * executable that carries them), read once. */
struct tlsfile {
	int result; /* 1: probes attached; 0: no OpenSSL API; -errno: not probed */
	char detail[200];
};

struct ws_runtimes {
	struct live *l;
	bool go_probes, py_probes, tls_probes;
	struct ws_hashmap exes; /* device and inode -> struct exe */
	struct ws_hashmap pymods; /* device and inode -> struct pymod */
	struct ws_hashmap tlsfiles; /* device and inode -> struct tlsfile */
	unsigned tls_probed, tls_failed;
};

struct ws_runtimes *ws_runtimes_new(struct live *l, bool go_probes, bool py_probes, bool tls_probes)
{
	struct ws_runtimes *rt = ws_calloc(1, sizeof(*rt));

	rt->l = l;
	rt->go_probes = go_probes;
	rt->py_probes = py_probes;
	rt->tls_probes = tls_probes;
	ws_hashmap_init(&rt->exes);
	ws_hashmap_init(&rt->pymods);
	ws_hashmap_init(&rt->tlsfiles);
	return rt;
}

void ws_runtimes_free(struct ws_runtimes *rt)
{
	uint64_t k;
	void *v;

	if (!rt)
		return;
	for (size_t i = 0; ws_hashmap_next(&rt->exes, &i, &k, &v);)
		free(v);
	ws_hashmap_free(&rt->exes);
	for (size_t i = 0; ws_hashmap_next(&rt->pymods, &i, &k, &v);)
		free(v);
	ws_hashmap_free(&rt->pymods);
	for (size_t i = 0; ws_hashmap_next(&rt->tlsfiles, &i, &k, &v);)
		free(v);
	ws_hashmap_free(&rt->tlsfiles);
	free(rt);
}

/* Attach the Go runtime probes to the file (by path, see exe_path: the
 * kernel resolves it to the file, which every process running it shares). */
static void go_exe(struct ws_runtimes *rt, struct exe *x, const struct ws_gobin *b, int rc, const char *err,
		   const char *path)
{

	x->go = true;
	x->go_result = rc;
	ws_strlcpy(x->runtime, b->version[0] ? b->version : "go", sizeof(x->runtime));
	if (rc) {
		snprintf(x->detail, sizeof(x->detail), "%s", err[0] ? err : strerror(-rc));
		return;
	}
	if (!rt->go_probes) {
		x->go_result = -ECANCELED;
		snprintf(x->detail, sizeof(x->detail), "runtime probes off (--no-go-probes)");
		return;
	}
	const uint64_t sites[] = {b->spawn_site,   b->send_sites[0], b->send_sites[1],
				  b->recv_sites[0], b->recv_sites[1], b->exit_site};
	const uint8_t kinds[] = {WS_GO_SITE_SPAWN, WS_GO_SITE_SEND, WS_GO_SITE_SEND,
				 WS_GO_SITE_RECV,  WS_GO_SITE_RECV, WS_GO_SITE_EXIT};
	rc = live_go_attach(rt->l, path, sites, kinds, WS_ARRAY_SIZE(sites));
	if (rc) {
		x->go_result = rc;
		snprintf(x->detail, sizeof(x->detail), "cannot attach the runtime probes: %s", strerror(-rc));
		return;
	}
	x->offsets = (struct ws_goproc){b->g_goid, b->g_m, b->m_procid, b->m_curg};
	snprintf(x->detail, sizeof(x->detail), "goroutines traced (%s, %s, offsets from %s)", b->arch,
		 b->stripped ? "stripped" : "with symbols", b->dwarf ? "DWARF" : "the version table");
}

/* An event loop or interpreter the executable carries: a symbol it
 * exports tells (libuv's uv_run in node, Py_Initialize in python). */
static const char *exe_runtime(int fd)
{
	static const char *const symbols[] = {"uv_run", "Py_Initialize"}, *const runtimes[] = {"node", "python"};
	int i = ws_elf_exports(fd, symbols, 2);

	return i < 0 ? "" : runtimes[i];
}

/* The name uprobes on process pid's executable (open on fd) are to be
 * given: its path, in the process's root, when that is still the file
 * (a link in its last component is not followed); else /proc/PID/exe,
 * which a process still executing cannot always be resolved through. */
static void exe_path(uint32_t pid, int fd, char *path, size_t plen)
{
	char link[64], target[512], root[64];
	struct stat ours, theirs, mine;
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%u/exe", pid);
	snprintf(path, plen, "%s", link);
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0 || target[0] != '/' || fstat(fd, &mine))
		return;
	target[n] = 0;
	snprintf(root, sizeof(root), "/proc/%u/root", pid);
	bool same_root = stat("/", &ours) == 0 && stat(root, &theirs) == 0 && ours.st_dev == theirs.st_dev &&
			 ours.st_ino == theirs.st_ino;
	char cand[640];
	snprintf(cand, sizeof(cand), "%s%s", same_root ? "" : root, target);
	if (lstat(cand, &theirs) == 0 && S_ISREG(theirs.st_mode) && theirs.st_dev == mine.st_dev &&
	    theirs.st_ino == mine.st_ino && strlen(cand) < plen)
		snprintf(path, plen, "%s", cand);
}

static int tls_file(struct ws_runtimes *rt, int fd, const char *path, const char *name);

static struct exe *look_at_exe(struct ws_runtimes *rt, int fd, const char *path)
{
	struct exe *x = ws_calloc(1, sizeof(*x));
	struct ws_gobin b;
	char err[256] = "";
	int rc = ws_gobin_inspect(fd, &b, err, sizeof(err));

	if (rc != -ENOEXEC && rc != -EIO)
		go_exe(rt, x, &b, rc, err, path);
	else
		ws_strlcpy(x->runtime, exe_runtime(fd), sizeof(x->runtime));
	/* TLS: OpenSSL in the executable itself (Node) */
	x->tls = !x->go && tls_file(rt, fd, path, "executable") == 1;
	return x;
}

/* A runtime the process loaded as a library: the JVM (the java launcher
 * is a small C program), an embedded CPython, Node as libnode. */
static const char *mapped_runtime(uint32_t pid)
{
	static const struct {
		const char *lib, *runtime;
	} libs[] = {{"/libjvm.so", "java"}, {"/libpython3", "python"}, {"/libnode.so", "node"}};
	char path[64], line[512];
	const char *found = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/maps", pid);
	if (!(f = fopen(path, "re")))
		return "";
	while (!found[0] && fgets(line, sizeof(line), f))
		for (size_t i = 0; i < WS_ARRAY_SIZE(libs); i++)
			if (strstr(line, libs[i].lib)) {
				found = libs[i].runtime;
				break;
			}
	fclose(f);
	return found;
}

/* The first mapping of CPython's _asyncio module in the process: its
 * address range (as /proc/PID/map_files names it) and file name. */
static bool asyncio_mapping(uint32_t pid, char *range, size_t rlen, char *name, size_t nlen, char *file_out,
			    size_t flen, uint64_t *ino)
{
	char path[64], line[768];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/maps", pid);
	if (!(f = fopen(path, "re")))
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *file = strchr(line, '/'), *slash, *sp;
		if (!file)
			continue;
		file[strcspn(file, "\n")] = 0;
		slash = strrchr(file, '/');
		if (strncmp(slash + 1, "_asyncio.cpython-", 17) != 0 || !strstr(slash + 1, ".so") ||
		    !(sp = strchr(line, ' ')))
			continue;
		/* addresses perms offset dev inode path */
		unsigned long long inode = 0;
		if (sscanf(sp + 1, "%*s %*s %*s %llu", &inode) != 1)
			continue;
		*sp = 0;
		ws_strlcpy(range, line, rlen);
		ws_strlcpy(name, slash + 1, nlen);
		ws_strlcpy(file_out, file, flen);
		*ino = inode;
		found = true;
	}
	fclose(f);
	return found;
}

/* Open a file process pid maps (at address range, by path file, inode
 * ino); path gets the name the uprobes are to be given. */
static int open_mapped(uint32_t pid, const char *range, const char *file, uint64_t ino, char *path, size_t plen)
{
	struct stat sb;
	int fd;

	snprintf(path, plen, "/proc/%u/map_files/%s", pid, range);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 || errno != EPERM)
		return fd;
	/* map_files needs CAP_CHECKPOINT_RESTORE, which a recording does not
	 * keep (capture/sandbox.h): the same file by its path (the uprobes
	 * then name that path), in the process's root, if it is still the
	 * one mapped; a link in its last component is not followed */
	struct stat ours, theirs;
	char root[64];
	snprintf(root, sizeof(root), "/proc/%u/root", pid);
	bool same_root = stat("/", &ours) == 0 && stat(root, &theirs) == 0 && ours.st_dev == theirs.st_dev &&
			 ours.st_ino == theirs.st_ino;
	snprintf(path, plen, "%s%s", same_root ? "" : root, file);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 && (fstat(fd, &sb) || sb.st_ino != ino)) {
		close(fd);
		fd = -1;
		errno = ESTALE;
	}
	return fd;
}

/* CPython: the asyncio task probes on the _asyncio module it loaded (once
 * per module file, through the kernel's link to the mapped file). */
static void python_tasks(struct ws_runtimes *rt, uint32_t pid, struct ws_procinfo *info)
{
	char range[64], name[96], path[640], file[512];
	uint64_t ino = 0;
	struct stat sb;
	int fd;

	if (!asyncio_mapping(pid, range, sizeof(range), name, sizeof(name), file, sizeof(file), &ino)) {
		snprintf(info->detail, sizeof(info->detail),
			 "python runtime, asyncio not loaded: its event loops and thread pools are modelled");
		return;
	}
	info->asyncio = true;
	fd = open_mapped(pid, range, file, ino, path, sizeof(path));
	if (fd < 0 || fstat(fd, &sb)) {
		snprintf(info->detail, sizeof(info->detail), "cannot open its %s: %s", name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	uint64_t key = ws_mix64((uint64_t)sb.st_dev ^ ws_mix64((uint64_t)sb.st_ino ^ 0x7079)) | 1;
	struct pymod *m = ws_hashmap_get(&rt->pymods, key);
	if (!m) {
		struct ws_pyasync a;
		char err[96];
		m = ws_calloc(1, sizeof(*m));
		m->result = ws_pyasync_inspect(fd, name, &a, err, sizeof(err));
		if (m->result)
			snprintf(m->detail, sizeof(m->detail), "%s: %s", name, err);
		else if (!rt->py_probes)
			m->result = -ECANCELED;
		else
			m->result = live_py_attach(rt->l, path, a.step, a.wakeup, a.init);
		if (m->result == -ECANCELED)
			snprintf(m->detail, sizeof(m->detail), "asyncio probes off (--no-asyncio-probes)");
		else if (m->result && !m->detail[0])
			snprintf(m->detail, sizeof(m->detail), "cannot attach the asyncio probes: %s",
				 strerror(-m->result));
		else if (!m->result)
			snprintf(m->detail, sizeof(m->detail), "asyncio tasks traced (%s, CPython 3.%d)", name,
				 a.minor);
		ws_hashmap_put(&rt->pymods, key, m);
	}
	close(fd);
	info->traced = m->result == 0;
	snprintf(info->detail, sizeof(info->detail), "%s%s", m->detail,
		 m->result ? "; its event loops and thread pools are modelled" : "");
}

/* The TLS probes on a file that defines OpenSSL's functions (once per
 * file: the probes serve every process that maps it). fd is open on it,
 * path names it for the uprobes. Returns the file's result (struct
 * tlsfile). */
static int tls_file(struct ws_runtimes *rt, int fd, const char *path, const char *name)
{
	struct stat sb;

	if (fstat(fd, &sb))
		return -errno;
	uint64_t key = ws_mix64((uint64_t)sb.st_dev ^ ws_mix64((uint64_t)sb.st_ino ^ 0x746c73)) | 1;
	struct tlsfile *t = ws_hashmap_get(&rt->tlsfiles, key);
	if (t)
		return t->result;
	struct ws_tlslib lib;
	char err[96];
	t = ws_calloc(1, sizeof(*t));
	t->result = ws_tlslib_inspect(fd, &lib, err, sizeof(err));
	if (t->result < 0) {
		snprintf(t->detail, sizeof(t->detail), "%s: %s", name, err);
	} else if (t->result == 1 && !rt->tls_probes) {
		t->result = -ECANCELED;
		snprintf(t->detail, sizeof(t->detail), "%s: TLS probes off (--no-tls-probes)", name);
	} else if (t->result == 1) {
		int rc = live_tls_attach(rt->l, path, lib.off);
		if (rc) {
			t->result = rc;
			snprintf(t->detail, sizeof(t->detail), "%s: cannot attach the TLS probes: %s", name, strerror(-rc));
		} else {
			snprintf(t->detail, sizeof(t->detail), "%s (%s): TLS plaintext traced (OpenSSL API, %u functions)",
				 name, path, lib.nsites);
		}
	}
	rt->tls_probed += t->result == 1;
	rt->tls_failed += t->result < 0 && t->result != -ECANCELED;
	if (t->result && t->detail[0])
		ws_debug("%s", t->detail);
	ws_hashmap_put(&rt->tlsfiles, key, t);
	return t->result;
}

/* The shared TLS libraries process pid maps (libssl.so*): probed once
 * each. Returns how many are probed (or were already). */
static int tls_libraries(struct ws_runtimes *rt, uint32_t pid, char *detail, size_t dlen)
{
	char path[640], line[768];
	int probed = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/maps", pid);
	if (!(f = fopen(path, "re")))
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *file = strchr(line, '/'), *sp, range[64], name[96];
		unsigned long long inode = 0;
		if (!file || !(sp = strchr(line, ' ')) || !strstr(line, " r-xp "))
			continue;
		file[strcspn(file, "\n")] = 0;
		ws_strlcpy(name, strrchr(file, '/') + 1, sizeof(name));
		if (!ws_tlslib_name(name) || sscanf(sp + 1, "%*s %*s %*s %llu", &inode) != 1)
			continue;
		*sp = 0;
		ws_strlcpy(range, line, sizeof(range));
		int fd = open_mapped(pid, range, file, inode, path, sizeof(path));
		if (fd < 0)
			continue;
		int rc = tls_file(rt, fd, path, name);
		close(fd);
		if (rc == 1) {
			probed++;
			snprintf(detail, dlen, "%s", name);
		}
	}
	fclose(f);
	return probed;
}

int ws_runtimes_tls_system(struct ws_runtimes *rt)
{
	/* where Debian, Fedora and Arch keep OpenSSL 3 and 1.1 */
	static const char *const paths[] = {
		"/usr/lib/x86_64-linux-gnu/libssl.so.3", "/usr/lib/x86_64-linux-gnu/libssl.so.1.1",
		"/usr/lib64/libssl.so.3",		 "/usr/lib64/libssl.so.1.1",
		"/usr/lib/libssl.so.3",		 "/usr/lib/libssl.so.1.1",
	};
	int n = 0;

	for (size_t i = 0; i < WS_ARRAY_SIZE(paths); i++) {
		int fd = open(paths[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		n += tls_file(rt, fd, paths[i], strrchr(paths[i], '/') + 1) == 1;
		close(fd);
	}
	return n;
}

void ws_runtimes_tls_counts(const struct ws_runtimes *rt, unsigned *probed, unsigned *failed)
{
	*probed = rt->tls_probed;
	*failed = rt->tls_failed;
}

static void read_comm(uint32_t pid, char *comm, size_t n)
{
	char p[64];
	FILE *f;

	comm[0] = 0;
	snprintf(p, sizeof(p), "/proc/%u/comm", pid);
	if (!(f = fopen(p, "re")))
		return;
	if (fgets(comm, (int)n, f))
		comm[strcspn(comm, "\n")] = 0;
	fclose(f);
}

int ws_runtimes_process(struct ws_runtimes *rt, uint32_t pid, struct ws_procinfo *info)
{
	char path[64];
	struct stat sb;
	int fd;

	memset(info, 0, sizeof(*info));
	info->pid = pid;
	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno; /* gone, or a kernel thread */
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	uint64_t key = ws_mix64((uint64_t)sb.st_dev ^ ws_mix64((uint64_t)sb.st_ino)) | 1;
	struct exe *x = ws_hashmap_get(&rt->exes, key);
	if (!x) {
		char probe_path[512];
		exe_path(pid, fd, probe_path, sizeof(probe_path));
		x = look_at_exe(rt, fd, probe_path);
		ws_hashmap_put(&rt->exes, key, x);
	}
	/* TLS: OpenSSL in the executable, or in a library it maps */
	info->tls = x->tls;
	if (info->tls)
		ws_strlcpy(info->tls_lib, "executable", sizeof(info->tls_lib));
	info->tls += tls_libraries(rt, pid, info->tls_lib, sizeof(info->tls_lib));
	close(fd);
	if (!x->go)
		live_go_process(rt->l, pid, NULL); /* a pid reused by another program */
	ws_strlcpy(info->runtime, x->go || x->runtime[0] ? x->runtime : mapped_runtime(pid), sizeof(info->runtime));
	if (!info->runtime[0])
		return 0;
	read_comm(pid, info->comm, sizeof(info->comm));
	info->traced = x->go && x->go_result == 0 && live_go_process(rt->l, pid, &x->offsets) == 0;
	if (x->go)
		ws_strlcpy(info->detail, x->detail, sizeof(info->detail));
	else if (strcmp(info->runtime, "python") == 0)
		python_tasks(rt, pid, info);
	else
		snprintf(info->detail, sizeof(info->detail), "%s runtime: its event loop and thread pools are modelled",
			 info->runtime);
	return 1;
}
