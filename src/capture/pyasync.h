/* pyasync.h -- where CPython's asyncio runs a task's step and creates a
 * task, read from its _asyncio extension module, so that uprobes can tell
 * which task every syscall of the loop's thread is made for.
 *
 * The module is stripped (only PyInit__asyncio is exported), but its type
 * objects and method tables are data the dynamic linker relocates: a
 * pointer to a name string in .rodata sits at a known offset of the
 * structure, and the function pointers beside it are R_X86_64_RELATIVE
 * relocations whose addends are the functions' addresses:
 *   TaskStepMethWrapper (PyTypeObject, tp_name "TaskStepMethWrapper"):
 *     tp_call runs a task's first step (the task is the wrapper's first field);
 *   task_wakeup (PyMethodDef "task_wakeup", METH_O): each later step;
 *   _asyncio.Task (PyTypeObject): tp_init runs when a task is created.
 * Only the layout of CPython 3.11 on x86-64 is verified (Debian 12's
 * python3.11); other versions are refused with a message. */
#ifndef WIRESPAN_PYASYNC_H
#define WIRESPAN_PYASYNC_H

#include <stddef.h>
#include <stdint.h>

struct ws_pyasync {
	int minor;       /* CPython 3.minor, from the module's file name */
	uint64_t step;   /* file offsets: TaskStepMethWrapper's tp_call, */
	uint64_t wakeup; /* task_wakeup, */
	uint64_t init;   /* Task's tp_init */
};

/* Read the module open at fd; name is its file name
 * ("_asyncio.cpython-311-x86_64-linux-gnu.so"). Returns 0, -ENOEXEC (not
 * an ELF shared object of x86-64), -ENOTSUP (another version, or a
 * structure not found: err says which) or -EIO. */
int ws_pyasync_inspect(int fd, const char *name, struct ws_pyasync *out, char *err, size_t errlen);
/* The same on a copy in memory (tests, fuzzing). */
int ws_pyasync_inspect_mem(const void *data, size_t len, const char *name, struct ws_pyasync *out, char *err,
			   size_t errlen);

#endif
