#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Helpers of powercut_test.sh, which runs them in the copy_range test VM.

Python starts slowly there (TCG, KASAN, the root over 9p), so each command does
all it can in one start.

  prepare [SRC REF DST SIZE SEED]...
                                  for each group: SIZE bytes of a pattern (no
                                  zero byte, different for every SEED) to SRC
                                  and REF, SRC fsynced; DST created empty and
                                  fsynced; then the directory fsynced: every
                                  name is durable
  copy SRC DST FLAGS              COPY_RANGE_IOC_COPY from SRC into the existing
                                  DST, the whole file, FLAGS; no fsync.  Writes
                                  "go" to standard output (then closes it) just
                                  before the first call
  after-cut REF1 DST1 REF2 DST2    DST1 (copied and fsynced before the cut)
                                  must be REF1; DST2 (copied without fsync)
                                  may be absent, or no longer than REF2 with
                                  every byte REF2's or zero.  Prints what it
                                  found in each, one line each; the exit
                                  status has bit 0 set if DST1 is wrong, bit
                                  1 if DST2 is
  tree ROOT                       the tree for the crcp rounds
  check-round REF SRC DST [--whole]
                                  SRC must be REF (every name, see below); DST
                                  may lack names (unless --whole), but what it
                                  has must be REF's.  Prints "source: SUMMARY" and "copy:
                                  SUMMARY", then the problems; the exit status
                                  has bit 0 set if SRC is wrong, bit 1 if DST is

A tree matches REF when every name under it is in REF with the same type;
regular files have REF's size, bytes, permission bits and mtime (ns); symlinks
REF's target; and no name is a temporary of the library (.#NAME.XXXXXX).
Directories' mode and mtime, and symlinks' mtime, are counted but not checked:
crcp sets them without a sync (directories' only at the very end).
"""

import os
import stat
import struct
import sys

# _IOWR(0xBC, 0x01, struct copy_range_args), 48 bytes: include/uapi/linux/copy_range.h.
COPY_RANGE_IOC_COPY = (3 << 30) | (48 << 16) | (0xBC << 8) | 0x01
ARGS = struct.Struct("=iiQQQQQ")
assert ARGS.size == 48


def fsync_path(path, flags=os.O_RDONLY):
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pattern_bytes(size, seed):
    import random

    data = bytearray(random.Random(f"powercut-{seed}").randbytes(size))
    # No zero byte, so that a zero can only be a hole or an unwritten range.
    return bytes(data.replace(b"\0", b"\x01"))


def cmd_prepare(*groups):
    for i in range(0, len(groups), 5):
        src, ref, dst, size, seed = groups[i:i + 5]
        data = pattern_bytes(int(size), seed)
        for p in (src, ref):
            with open(p, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        with open(dst, "wb") as f:
            os.fsync(f.fileno())
        fsync_path(os.path.dirname(os.path.abspath(dst)))


def cmd_copy(src, dst, flags):
    import fcntl

    flags = int(flags)
    s = os.open(src, os.O_RDONLY)
    d = os.open(dst, os.O_WRONLY)
    dev = os.open("/dev/copy_range", os.O_RDONLY)
    size = os.fstat(s).st_size
    done = 0
    print("go", flush=True)
    os.close(1)
    while done < size:
        buf = bytearray(ARGS.pack(s, d, done, done, size - done, flags, 0))
        n = fcntl.ioctl(dev, COPY_RANGE_IOC_COPY, buf, True)
        if n == 0:
            break
        done += n
    print(f"copied {done} of {size} bytes", file=sys.stderr)
    return 0 if done == size else 1


def cmd_after_cut(ref1, dst1, ref2, dst2):
    rc = 0
    try:
        with open(ref1, "rb") as r, open(dst1, "rb") as d:
            want, got = r.read(), d.read()
        if got == want:
            print(f"holds the source's {len(want)} bytes")
        else:
            rc |= 1
            print(f"is wrong: {len(got)} bytes, the source has {len(want)}" +
                  ("" if len(got) != len(want) else
                   f", first difference at byte {next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)}"))
    except OSError as e:
        rc |= 1
        print(f"is wrong: {e}")
    if not not_garbage(ref2, dst2):
        rc |= 2
    return rc


def not_garbage(ref, dst):
    """Prints what dst holds; False if some byte is neither ref's nor zero."""
    want = open(ref, "rb").read()
    try:
        got = open(dst, "rb").read()
    except FileNotFoundError:
        print("absent")
        return True
    if len(got) > len(want):
        print(f"garbage: {len(got)} bytes, longer than the source's {len(want)}")
        return False
    block = 4096
    zeros = 0
    for off in range(0, len(got), block):
        g, w = got[off:off + block], want[off:off + block]
        if g == w:
            continue
        for i, (a, b) in enumerate(zip(g, w)):
            if a == b:
                continue
            if a != 0:
                print(f"garbage: byte {off + i} is {a:#04x}, the source's is {b:#04x}")
                return False
            zeros += 1
    if not got:
        print("empty")
    elif len(got) == len(want) and zeros == 0:
        print("complete")
    else:
        print(f"partial: {len(got)} of {len(want)} bytes, {zeros} of them zero")
    return True


def cmd_tree(root):
    import hashlib

    modes = [0o644, 0o600, 0o755, 0o640, 0o444, 0o700]
    base = 1_650_000_000_000_000_000
    dirs = []
    for d in range(4):
        dirs.append((f"{root}/d{d}", 0o750 if d == 2 else 0o755))
        os.makedirs(dirs[-1][0])
        for j in range(12):
            i = d * 12 + j
            p = f"{root}/d{d}/f{j:03}"
            size = (i * 7919) % 16384
            unit = hashlib.sha256(f"small {i}".encode()).digest()
            with open(p, "wb") as f:
                f.write((unit * (size // len(unit) + 1))[:size])
            os.chmod(p, modes[i % len(modes)])
            os.utime(p, ns=(base + i * 1_000_003, base + i * 999_999_937))
    dirs.append((f"{root}/big", 0o755))
    os.makedirs(dirs[-1][0])
    for i, size in enumerate([(1 << 20) + 1234, (1 << 20) + 4095]):
        p = f"{root}/big/b{i}"
        with open(p, "wb") as f:
            f.write(pattern_bytes(size, f"big {i}"))
        os.chmod(p, 0o640)
        os.utime(p, ns=(base + i, base + 7_000_000_123 + i))
    os.symlink("big/b1", f"{root}/link")
    os.symlink("../big", f"{root}/d0/up")
    for p, mode in dirs:
        os.chmod(p, mode)
        os.utime(p, ns=(base + 5, base + 6))


def walk(root):
    """Relative path -> lstat result, for everything under root (root excluded)."""
    out = {}
    if not os.path.lexists(root):
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            out[os.path.relpath(p, root)] = os.lstat(p)
    return out


def same_bytes(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def compare(ref, top, want, whole, tag):
    """Problems of the tree at top against ref (walked: want), and a summary."""
    got = walk(top)
    problems, notes = [], 0
    counts = {"files": 0, "symlinks": 0, "dirs": 0}
    for rel in sorted(got):
        st = got[rel]
        if os.path.basename(rel).startswith(".#"):
            problems.append(f"{rel}: a temporary name of the library is visible")
            continue
        if rel not in want:
            problems.append(f"{rel}: not in the source")
            continue
        ws = want[rel]
        if stat.S_IFMT(st.st_mode) != stat.S_IFMT(ws.st_mode):
            problems.append(f"{rel}: type {stat.S_IFMT(st.st_mode):o}, the source's is "
                            f"{stat.S_IFMT(ws.st_mode):o}")
            continue
        p, wp = os.path.join(top, rel), os.path.join(ref, rel)
        if stat.S_ISREG(st.st_mode):
            counts["files"] += 1
            if st.st_size != ws.st_size:
                problems.append(f"{rel}: {st.st_size} bytes, the source has {ws.st_size}")
            elif not same_bytes(p, wp):
                problems.append(f"{rel}: same size, different bytes")
            if stat.S_IMODE(st.st_mode) != stat.S_IMODE(ws.st_mode):
                problems.append(f"{rel}: mode {stat.S_IMODE(st.st_mode):o}, the source's is "
                                f"{stat.S_IMODE(ws.st_mode):o}")
            if st.st_mtime_ns != ws.st_mtime_ns:
                problems.append(f"{rel}: mtime {st.st_mtime_ns}, the source's is "
                                f"{ws.st_mtime_ns}")
        elif stat.S_ISLNK(st.st_mode):
            counts["symlinks"] += 1
            if os.readlink(p) != os.readlink(wp):
                problems.append(f"{rel}: points to {os.readlink(p)!r}, the source's to "
                                f"{os.readlink(wp)!r}")
            notes += st.st_mtime_ns != ws.st_mtime_ns
        elif stat.S_ISDIR(st.st_mode):
            counts["dirs"] += 1
            notes += (stat.S_IMODE(st.st_mode), st.st_mtime_ns) != (stat.S_IMODE(ws.st_mode),
                                                                   ws.st_mtime_ns)
    if whole:
        for rel in sorted(set(want) - set(got)):
            problems.append(f"{rel}: missing")
    total = {"files": 0, "symlinks": 0, "dirs": 0}
    for st in want.values():
        if stat.S_ISREG(st.st_mode):
            total["files"] += 1
        elif stat.S_ISLNK(st.st_mode):
            total["symlinks"] += 1
        elif stat.S_ISDIR(st.st_mode):
            total["dirs"] += 1
    summary = (f"{tag}: {sum(counts.values())} names ({counts['files']}/{total['files']} files, "
               f"{counts['symlinks']}/{total['symlinks']} symlinks, "
               f"{counts['dirs']}/{total['dirs']} directories), {len(problems)} problems, "
               f"{notes} directories or symlinks with metadata not yet final")
    return summary, [f"{tag}: {p}" for p in problems]


def cmd_check_round(ref, src, dst, *opts):
    want = walk(ref)
    s_sum, s_prob = compare(ref, src, want, True, "source")
    d_sum, d_prob = compare(ref, dst, want, "--whole" in opts, "copy")
    print(s_sum)
    print(d_sum)
    for probs in (s_prob, d_prob):
        for line in probs[:20]:
            print(f"problem: {line}")
        if len(probs) > 20:
            print(f"problem: ... and {len(probs) - 20} more")
    return (1 if s_prob else 0) | (2 if d_prob else 0)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = {
        "prepare": cmd_prepare,
        "copy": cmd_copy,
        "after-cut": cmd_after_cut,
        "tree": cmd_tree,
        "check-round": cmd_check_round,
    }[cmd]
    sys.exit(fn(*args) or 0)


if __name__ == "__main__":
    main()
