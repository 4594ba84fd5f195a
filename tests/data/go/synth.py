#!/usr/bin/env python3
"""Write small synthetic Go-like ELF files for test_gobin and fuzz_gobin.

usage: synth.py OUTDIR   (writes OUTDIR/synth-*.elf, each under 4 KiB)

Real Go binaries are megabytes and come in one Go version here (the
system's); these few-hundred-byte files have the parts capture/gobin.c
reads, laid out as other Go versions lay them out: the build info inline
(Go 1.18+) or behind pointers (before), and the pclntab of Go 1.16-1.17,
1.18-1.19 or 1.20+. No .symtab: functions come from the pclntab.

Every file has the same text at file offset 0x200 (virtual 0x400200):
  +0x00 runtime.newproc1       RETs at +0x0a (c3), +0x0c (c3), +0x0d (f3 c3), +0x0f (c2 08 00)
  +0x40 runtime.goexit1        CALL runtime.mcall at +0x41
  +0x60 runtime.chansend       CALL runtime.send at +0x62
  +0x80 runtime.newproc.func1  CALL runtime.newproc1 at +0x80, CALL runtime.runqput at +0x85
  +0xa0 runtime.runqput, +0xa8 runtime.send, +0xb0 runtime.mcall
  +0xc0 runtime.selectgo       CALL runtime.send at +0xc0, CALL runtime.recv at +0xc5
  +0xd0 runtime.recv, +0xd8 runtime.chanrecv (CALL runtime.recv at +0xd8)
  +0xe0 main.main, ending at +0xf0
test_gobin.c checks these numbers; keep the two in step.
"""
import os
import struct
import sys

MAGIC = {116: 0xFFFFFFFA, 118: 0xFFFFFFF0, 120: 0xFFFFFFF1}
TEXT_OFF, TEXT_VA = 0x200, 0x400200
FUNCS = [("runtime.newproc1", 0x00), ("runtime.goexit1", 0x40), ("runtime.chansend", 0x60),
         ("runtime.newproc.func1", 0x80), ("runtime.runqput", 0xA0), ("runtime.send", 0xA8), ("runtime.mcall", 0xB0),
         ("runtime.selectgo", 0xC0), ("runtime.recv", 0xD0), ("runtime.chanrecv", 0xD8), ("main.main", 0xE0)]
TEXT_END = 0xF0
EM_X86_64, EM_AARCH64 = 62, 183


def call(at, to):
    return b"\xe8" + struct.pack("<i", to - (at + 5))


def text():
    t = bytearray(b"\xcc" * TEXT_END)

    def put(at, code):
        t[at:at + len(code)] = code

    put(0x00, bytes.fromhex("55 4889e5 4885c0 7402 5d c3 5d c3 f3c3 c20800".replace(" ", "")))
    put(0x40, b"\x90" + call(0x41, 0xB0) + b"\xc3")
    put(0x60, b"\x90\x90" + call(0x62, 0xA8) + b"\xc3")
    put(0x80, call(0x80, 0x00) + call(0x85, 0xA0) + b"\xc3")
    put(0xC0, call(0xC0, 0xA8) + call(0xC5, 0xD0) + b"\xc3")
    put(0xD8, call(0xD8, 0xD0) + b"\xc3")
    for off in (0xA0, 0xA8, 0xB0, 0xD0, 0xE0):
        t[off] = 0xC3
    return bytes(t) + b"\xcc" * (0x100 - TEXT_END)


def align(b, n):
    return b + b"\0" * (-len(b) % n)


def pclntab(era):
    names, nameoff = b"", []
    for name, _ in FUNCS:
        nameoff.append(len(names))
        names += name.encode() + b"\0"
    n = len(FUNCS)
    hlen = 64 if era == 116 else 72
    funcname = hlen
    pcln = len(align(b"\0" * hlen + names, 8))
    if era == 116:
        tab_len = n * 16 + 8
        ftab = b"".join(struct.pack("<QQ", TEXT_VA + off, tab_len + 16 * i) for i, (_, off) in enumerate(FUNCS))
        ftab += struct.pack("<Q", TEXT_VA + TEXT_END)
        funcs = b"".join(struct.pack("<QiI", TEXT_VA + off, nameoff[i], 0) for i, (_, off) in enumerate(FUNCS))
        hdr = struct.pack("<IBBBBQQQQQQQ", MAGIC[era], 0, 0, 1, 8, n, 0, funcname, pcln, pcln, pcln, pcln)
    else:
        tab_len = len(align(b"\0" * (n * 8 + 4), 8))
        ftab = b"".join(struct.pack("<II", off, tab_len + 8 * i) for i, (_, off) in enumerate(FUNCS))
        ftab = align(ftab + struct.pack("<I", TEXT_END), 8)
        funcs = b"".join(struct.pack("<Ii", off, nameoff[i]) for i, (_, off) in enumerate(FUNCS))
        hdr = struct.pack("<IBBBBQQQQQQQQ", MAGIC[era], 0, 0, 1, 8, n, 0, TEXT_VA, funcname, pcln, pcln, pcln, pcln)
    return align(hdr + names, 8) + ftab + funcs


def uvarint(v):
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def buildinfo(version, inline, va):
    magic = b"\xff Go buildinf:"
    if inline:
        return magic + bytes([8, 2]) + b"\0" * 16 + uvarint(len(version)) + version.encode() + uvarint(0)
    # before Go 1.18: pointers to string headers {data, len}
    hdr = va + 32
    return magic + bytes([8, 0]) + struct.pack("<QQ", hdr, 0) + struct.pack("<QQ", va + 48, len(version)) + version.encode()


def elf(version, era, inline=True, machine=EM_X86_64):
    pcln = pclntab(era)
    pcln_off = TEXT_OFF + 0x100
    bi_off = pcln_off + len(align(pcln, 16))
    bi_va = 0x600000 + bi_off
    bi = buildinfo(version, inline, bi_va)
    names = [b"", b".text", b".gopclntab", b".go.buildinfo", b".shstrtab"]
    shstr = b"\0".join(names) + b"\0"
    shstr_off = bi_off + len(align(bi, 16))
    sh_off = shstr_off + len(align(shstr, 8))
    name_at = [sum(len(x) + 1 for x in names[:i]) for i in range(len(names))]

    phdrs = struct.pack("<IIQQQQQQ", 1, 5, 0, 0x400000, 0x400000, pcln_off, pcln_off, 0x1000)  # R E
    phdrs += struct.pack("<IIQQQQQQ", 1, 4, pcln_off, 0x500000 + pcln_off, 0, len(pcln), len(pcln), 0x1000)  # R
    phdrs += struct.pack("<IIQQQQQQ", 1, 6, bi_off, bi_va, 0, len(bi), len(bi), 0x1000)  # RW

    def shdr(i, typ, flags, addr, off, size):
        return struct.pack("<IIQQQQIIQQ", name_at[i], typ, flags, addr, off, size, 0, 0, 1, 0)

    shdrs = shdr(0, 0, 0, 0, 0, 0) + shdr(1, 1, 6, TEXT_VA, TEXT_OFF, 0x100)
    shdrs += shdr(2, 1, 2, 0x500000 + pcln_off, pcln_off, len(pcln)) + shdr(3, 1, 3, bi_va, bi_off, len(bi))
    shdrs += shdr(4, 3, 0, 0, shstr_off, len(shstr))

    ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    ehdr += struct.pack("<HHIQQQIHHHHHH", 2, machine, 1, 0x400200, 64, sh_off, 0, 64, 56, 3, 64, 5, 4)
    f = align(ehdr + phdrs, TEXT_OFF) + text() + align(pcln, 16) + align(bi, 16) + align(shstr, 8) + shdrs
    assert len(f) < 4096
    return f


FILES = {
    "go119": lambda: elf("go1.19.8", 118),  # supported: the verified offset table
    "go117": lambda: elf("go1.17.13", 116, inline=False),  # pointer build info, Go 1.16 pclntab
    "go121": lambda: elf("go1.21.0", 120),  # Go 1.20+ pclntab; no verified offsets
    "go116": lambda: elf("go1.16.15", 116, inline=False),  # before the register ABI
    "arm64": lambda: elf("go1.19.8", 118, machine=EM_AARCH64),
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, make in FILES.items():
        with open(os.path.join(out, "synth-%s.elf" % name), "wb") as f:
            f.write(make())


if __name__ == "__main__":
    main()
