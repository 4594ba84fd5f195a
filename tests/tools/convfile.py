"""Write a tests/data conversation file (the format tests/unit/harness.h
reads): '>' client bytes, '<' server bytes, '-' between writes in one
direction, '.' the server closes, '=' the exchanges expected."""


def esc(b):
    return "".join(chr(c) if 32 <= c < 127 and c != 0x5c else "\\\\" if c == 0x5c else f"\\x{c:02x}" for c in b)


def write(path, title, segs, expect):
    """segs: (">" or "<", bytes) or (".", b""); expect: lines."""
    with open(path, "w") as f:
        f.write(f"# {title} (written by synth.py)\n")
        last = None
        for frm, data in segs:
            if frm == ".":
                f.write(".\n")
                last = None
                continue
            if last == frm:
                f.write("-\n")
            f.write(f"{frm} {esc(data)}\n")
            last = frm
        for e in expect:
            f.write(f"= {e}\n")
