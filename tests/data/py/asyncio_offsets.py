#!/usr/bin/env python3
"""Where this interpreter's _asyncio module runs a task's step and creates
a task, read from live objects (ground truth for tests/unit/test_pyasync.c):
prints the module's path and the file offsets of TaskStepMethWrapper's
tp_call, task_wakeup and Task's tp_init, in hex."""
import asyncio
import ctypes
import sys

import _asyncio

TP_CALL, TP_INIT = 128, 296  # PyTypeObject (x86-64)
PYCFUNC_ML = 16              # PyCFunctionObject.m_ml, after PyObject_HEAD


def word(addr):
    return ctypes.c_uint64.from_address(addr).value


def file_offset(addr):
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if lo <= addr < hi and len(parts) >= 6:
                return parts[5], addr - lo + int(parts[2], 16)
    raise SystemExit(f"{addr:#x} is in no mapped file")


async def main():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    async def waiter():
        await fut

    task = asyncio.ensure_future(waiter())
    step = next(h._callback for h in loop._ready if type(h._callback).__name__ == "TaskStepMethWrapper")
    await asyncio.sleep(0)  # the task runs its first step and waits on fut
    wakeup = next(cb for cb, _ in fut._callbacks if getattr(cb, "__name__", "") == "task_wakeup")
    out = [file_offset(word(id(type(step)) + TP_CALL)),
           file_offset(word(word(id(wakeup) + PYCFUNC_ML) + 8)),  # PyMethodDef.ml_meth
           file_offset(word(id(_asyncio.Task) + TP_INIT))]
    fut.set_result(None)
    await task
    paths = {p for p, _ in out}
    if len(paths) != 1:
        raise SystemExit(f"not all in one module: {paths}")
    print(paths.pop(), *(f"{o:#x}" for _, o in out))


if sys.implementation.name != "cpython" or asyncio.Task is not _asyncio.Task:
    raise SystemExit("not CPython's C Task")
asyncio.run(main())
