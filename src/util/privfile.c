/* privfile.c -- see privfile.h. */
#include "util/privfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

/* The users whose files we may use: who we run as, who started us, and
 * the user sudo ran us for. */
static bool our_user(uid_t u)
{
	const char *sudo = getenv("SUDO_UID");

	if (u == geteuid() || u == getuid())
		return true;
	if (sudo && *sudo) {
		char *end;
		unsigned long v = strtoul(sudo, &end, 10);
		if (!*end && v == (unsigned long)u)
			return true;
	}
	return false;
}

/* 0, or -errno with the reason in err. */
static int check_stat(const struct stat *st, const char *path, const char *what, char *err, size_t errlen)
{
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "refusing %s %s: not a regular file; choose another path", what, path);
		return -EINVAL;
	}
	if (st->st_nlink > 1) {
		snprintf(err, errlen,
			 "refusing %s %s: it has %lu hard links, so writing it would change another file; remove it "
			 "or choose another path",
			 what, path, (unsigned long)st->st_nlink);
		return -EMLINK;
	}
	if (!our_user(st->st_uid)) {
		snprintf(err, errlen,
			 "refusing %s %s: it is owned by uid %u, not by you; whoever owns it can read and change what "
			 "is recorded; remove it, or choose another path",
			 what, path, (unsigned)st->st_uid);
		return -EPERM;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen,
			 "refusing %s %s: it is writable by %s (mode %04o); fix: chmod 600 %s, or remove it", what, path,
			 (st->st_mode & S_IWOTH) ? "anyone" : "its group", (unsigned)(st->st_mode & 07777), path);
		return -EPERM;
	}
	return 0;
}

int ws_privfile_open(const char *path, const char *what, bool *created, char *err, size_t errlen)
{
	struct stat st;
	int fd, rc;

	*created = false;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		*created = true;
		return fd;
	}
	if (errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "cannot open %s %s for writing: %s", what, path, strerror(errno));
		return rc;
	}
	fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		if (errno == ELOOP)
			snprintf(err, errlen,
				 "refusing %s %s: it is a symbolic link, which wirespan does not follow when it "
				 "writes; give the real path",
				 what, path);
		else
			snprintf(err, errlen, "cannot open %s %s for writing: %s", what, path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open %s %s: %s", what, path, strerror(errno));
		close(fd);
		return rc;
	}
	if ((rc = check_stat(&st, path, what, err, errlen)) < 0) {
		close(fd);
		return rc;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	return fd;
}

int ws_privfile_check(const char *path, const char *what, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISLNK(st.st_mode)) {
		snprintf(err, errlen, "refusing %s %s: it is a symbolic link; remove it", what, path);
		return -ELOOP;
	}
	return check_stat(&st, path, what, err, errlen);
}

const char *ws_privfile_dir_warning(const char *path, char *buf, size_t n)
{
	char copy[4096];
	struct stat st;

	buf[0] = 0;
	ws_strlcpy(copy, path, sizeof(copy));
	const char *dir = dirname(copy);
	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))
		snprintf(buf, n,
			 "%s is writable by anyone and has no sticky bit: anyone can replace %s while it is "
			 "written; record somewhere private",
			 dir, path);
	return buf;
}
