/* privfile.h -- files wirespan writes while it runs as root, in directories
 * other users may write to: never through a link someone else planted,
 * never into a file someone else owns or can write, always private.
 *
 * A new file is created with O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600. An
 * existing one is opened with O_NOFOLLOW and checked on its descriptor: a
 * regular file with one link, owned by the effective or the real user (or
 * the user sudo ran us for), not writable by group or others. The caller
 * makes it 0600 once it knows the file is its own kind (it may hold spans;
 * another program's file is refused untouched). */
#ifndef WIRESPAN_UTIL_PRIVFILE_H
#define WIRESPAN_UTIL_PRIVFILE_H

#include <stdbool.h>
#include <stddef.h>

/* Open (or create) path for reading and writing. Returns the descriptor
 * (close-on-exec), or -errno with a message naming the file and the fix in
 * err. *created says whether this call made it. `what` names the file's
 * role in messages ("database", "event file"). */
int ws_privfile_open(const char *path, const char *what, bool *created, char *err, size_t errlen);

/* Check an existing path the same way without keeping it open (SQLite's
 * -wal and -shm beside a database): 0 when it is absent or acceptable,
 * else -errno and a message. */
int ws_privfile_check(const char *path, const char *what, char *err, size_t errlen);

/* A warning, or "", about the directory that holds path: writable by
 * others without the sticky bit, anyone there can replace the file. */
const char *ws_privfile_dir_warning(const char *path, char *buf, size_t n);

#endif
