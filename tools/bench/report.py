#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns copy_bench's CSV into results/bench.csv, bench.md (tables and the
ratios a reviewer asks for first) and bench.svg (time against size, log-log,
one panel per filesystem); with --tree, tree-bench.sh's CSV into
results/bench-tree.csv and the "Tree copy" section of bench.md; with
--calls, call_cost's and uring_cost's rows into results/bench-calls.csv and
the "What one call costs" and "Many copies in flight" sections.

    report.py RAW_CSV OUTDIR [MACHINE] [--tree TREE_CSV] [--calls CALLS_CSV]

Either CSV may be empty (a run without one part, or an older run without
tree rows); the report has what there is."""

import argparse
import csv
import math
import os
import sys
from collections import defaultdict

METHODS = ["read_write", "copy_file_range", "ficlonerange", "copy_range",
           "copy_range_allow", "copy_range_require", "jobs_1", "jobs_4", "jobs_16"]
COLORS = ["#444444", "#1f77b4", "#17becf", "#d62728", "#ff7f0e", "#9467bd",
          "#2ca02c", "#8c564b", "#e377c2"]
FILESYSTEMS = ["btrfs", "xfs", "ext4", "tmpfs"]
# tree-bench.sh's methods, in table order, and how a reader would type them.
TREE_METHODS = [
    ("cp", "cp -R"),
    ("cp_reflink_always", "cp -R --reflink=always"),
    ("cp_reflink_never", "cp -R --reflink=never"),
    ("crcp_j1", "crcp -R -j 1"),
    ("crcp_j16", "crcp -R -j 16"),
    ("crcp_j16_reflink_always", "crcp -R -j 16 --reflink=always"),
    ("crcp_j16_reflink_never", "crcp -R -j 16 --reflink=never"),
]


def size_name(n):
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n >> shift} {unit}"
    return f"{n} B"


def load(path):
    rows = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            key = (r["fs"], r["method"], int(r["size"]))
            rows[key] = {k: int(v) for k, v in r.items() if k not in ("fs", "method")}
    return rows


def load_tree(path):
    """(fs, method) -> row; times are None in the rows of methods that could
    not run (runs 0: --reflink=always where the filesystem cannot share)."""
    rows = {}
    if not path:
        return rows
    with open(path) as f:
        for r in csv.DictReader(f):
            if r.get("tree") != "tree":
                continue
            rows[(r["fs"], r["method"])] = {
                k: int(v) if v else None
                for k, v in r.items() if k not in ("tree", "fs", "method")}
    return rows


CALL_CASES = [("len0", "length 0: lookups and checks only"),
              ("4k_over", "4 KiB over an existing range"),
              ("4k_new", "4 KiB into a new file")]


def load_calls(path):
    """(fs, method, case) -> row of call_cost's CSV."""
    rows = {}
    if not path:
        return rows
    with open(path) as f:
        for r in csv.DictReader(f):
            if r.get("call") != "call":
                continue
            rows[(r["fs"], r["method"], r["case"])] = {
                k: int(v) for k, v in r.items() if k not in ("call", "fs", "method", "case")}
    return rows


def calls_section(rows):
    """copy_range against copy_file_range(2), call for call."""
    rows = {k: v for k, v in rows.items() if k[2] in dict(CALL_CASES)}
    if not rows:
        return []
    fss = [fs for fs in FILESYSTEMS if any(k[0] == fs for k in rows)]
    any_row = next(iter(rows.values()))
    out = [f"One call at a time, {any_row['iters']} calls per sample, "
           f"median of {any_row['runs']} samples, the methods taking turns "
           "(tools/bench/call_cost.c): what the shim adds to the system call it "
           "competes with, in ns per call (`±` half the spread). `copy_file_range(2)` "
           "shares extents where it can (btrfs, xfs with reflink): there, ALLOW is "
           "its match; elsewhere both copy data, and flags 0 is.", "",
           "| filesystem | call | copy_file_range | copy_range | copy_range ALLOW "
           "| flags 0 / cfr | ALLOW / cfr |",
           "|---|---|---|---|---|---|---|"]

    def med(r):
        return r and r["med_ns"]

    def cell(r):
        if not r:
            return "—"
        spread = (r["max_ns"] - r["min_ns"]) / 2 / r["med_ns"] * 100 if r["med_ns"] else 0
        return f"{r['med_ns']} ±{spread:.0f}%"

    for fs in fss:
        for case, label in CALL_CASES:
            cfr, flags0, allow = (rows.get((fs, m, case)) for m in
                                  ("copy_file_range", "copy_range", "copy_range_allow"))
            out.append(f"| {fs} | {label} | {cell(cfr)} | {cell(flags0)} | {cell(allow)} | "
                       f"{ratio(med(flags0), med(cfr))} | {ratio(med(allow), med(cfr))} |")
    return out


# uring_cost's rows: (method prefix, label) in table order; a method is
# PREFIX_N, N copies in flight (threads for the synchronous calls).
INFLIGHT_TRANSPORTS = [
    ("ring", "io_uring `COPY_RANGE_URING_CMD_COPY`"),
    ("jobs", "job descriptors (`SUBMIT`, then `WAIT` at 1, poll otherwise)"),
    ("linkcp", "io_uring `READ` linked to `WRITE` (4 KiB buffer)"),
    ("ioctl", "`COPY_RANGE_IOC_COPY`, N threads"),
    ("cfr", "`copy_file_range(2)`, N threads"),
]
INFLIGHT_SMALL, INFLIGHT_BIG = "inflight_4k", "inflight_16m"
INFLIGHT_DEPTHS = {INFLIGHT_SMALL: [1, 16, 64], INFLIGHT_BIG: [1, 16]}

# The targets of the io_uring transport: label, numerator, denominator (each
# (method, case); a ratio of wall ns per copy), comparison, bound, and the
# filesystems it is set for (None: all).  Throughput is the inverse of the
# time per copy, so "16 in flight / 1 at a time" divides 1's time by 16's.
INFLIGHT_TARGETS = [
    ("io_uring, 64 in flight / one `copy_file_range(2)` at a time, per 4 KiB copy",
     ("ring_64", INFLIGHT_SMALL), ("cfr_1", INFLIGHT_SMALL), "<=", 1.0, None),
    ("io_uring / job descriptors, 64 in flight each, per 4 KiB copy",
     ("ring_64", INFLIGHT_SMALL), ("jobs_64", INFLIGHT_SMALL), "<=", 0.3, None),
    ("throughput, io_uring 16 MiB copies, 16 in flight / 1 at a time",
     ("ring_1", INFLIGHT_BIG), ("ring_16", INFLIGHT_BIG), ">=", 1.5, ("ext4", "xfs")),
]
# What else the same rows answer, without a target.
INFLIGHT_OTHER = [
    ("io_uring / `copy_file_range(2)`, 64 in flight each (threads), per 4 KiB copy",
     ("ring_64", INFLIGHT_SMALL), ("cfr_64", INFLIGHT_SMALL)),
    ("io_uring / linked `READ`→`WRITE`, 64 in flight each, per 4 KiB copy",
     ("ring_64", INFLIGHT_SMALL), ("linkcp_64", INFLIGHT_SMALL)),
    ("io_uring, 1 in flight / `COPY_RANGE_IOC_COPY`, per 4 KiB copy (the trip through io-wq)",
     ("ring_1", INFLIGHT_SMALL), ("ioctl_1", INFLIGHT_SMALL)),
    ("io_uring, 64 in flight / 1, per 4 KiB copy",
     ("ring_64", INFLIGHT_SMALL), ("ring_1", INFLIGHT_SMALL)),
    ("CPU, io_uring 64 in flight / one `copy_file_range(2)` at a time, per 4 KiB copy",
     ("ring_64", INFLIGHT_SMALL + "_cpu"), ("cfr_1", INFLIGHT_SMALL + "_cpu")),
    ("CPU, io_uring / job descriptors, 64 in flight each, per 4 KiB copy",
     ("ring_64", INFLIGHT_SMALL + "_cpu"), ("jobs_64", INFLIGHT_SMALL + "_cpu")),
    ("throughput, 16 MiB copies, 16 threads of `COPY_RANGE_IOC_COPY` / 1",
     ("ioctl_1", INFLIGHT_BIG), ("ioctl_16", INFLIGHT_BIG)),
]


def inflight_rows(calls):
    """uring_cost's rows among the call rows."""
    return {k: v for k, v in calls.items() if k[2].startswith("inflight_")}


def inflight_med(rows, fs, method, case):
    r = rows.get((fs, method, case))
    return r["med_ns"] if r else None


def inflight_ratio(rows, fs, num, den):
    a, b = inflight_med(rows, fs, *num), inflight_med(rows, fs, *den)
    return a / b if a and b else None


def target_cell(value, op, bound, applies):
    """The ratio, and whether it meets its target where one is set."""
    if value is None:
        return "n/a"
    if not applies:
        return f"{value:.2f}"
    met = value <= bound if op == "<=" else value >= bound
    return f"{value:.2f} " + ("(met)" if met else "(**missed**)")


def target_verdicts(rows):
    """(label, fs, value, met) for each target and filesystem it is set for."""
    out = []
    for label, num, den, op, bound, fss in INFLIGHT_TARGETS:
        for fs in fss or FILESYSTEMS:
            v = inflight_ratio(rows, fs, num, den)
            met = None if v is None else (v <= bound if op == "<=" else v >= bound)
            out.append((label, fs, v, met))
    return out


def target_lines(rows, fss):
    """The targets as lines of a ratio table with one column per filesystem."""
    out = []
    for label, num, den, op, bound, applies in INFLIGHT_TARGETS:
        where = "" if applies is None else " on " + " and ".join(applies)
        cells = [target_cell(inflight_ratio(rows, fs, num, den), op, bound,
                             applies is None or fs in applies) for fs in fss]
        out.append(f"| {label} (target {'≤' if op == '<=' else '≥'} {bound}{where}) | "
                   + " | ".join(cells) + " |")
    return out


def inflight_cell(r, cpu, scale, digits):
    if not r:
        return "—"
    spread = (r["max_ns"] - r["min_ns"]) / 2 / r["med_ns"] * 100 if r["med_ns"] else 0
    c = f" ({cpu['med_ns'] / scale:.{digits}f})" if cpu else ""
    return f"{r['med_ns'] / scale:.{digits}f}{c} ±{spread:.0f}%"


def inflight_section(rows):
    fss = [fs for fs in FILESYSTEMS if any(k[0] == fs for k in rows)]
    fss += sorted({k[0] for k in rows} - set(fss))
    small = [r for k, r in rows.items() if k[2] == INFLIGHT_SMALL]
    big = [r for k, r in rows.items() if k[2] == INFLIGHT_BIG]
    out = []
    if small:
        out += [f"{small[0]['iters']} copies of 4 KiB per sample, flags 0, each from its own "
                "source page to its own range of one of 64 destination files (copies in flight "
                "write different files), median of "
                f"{'/'.join(map(str, sorted({r['runs'] for r in small})))} samples, the methods "
                "taking turns (tools/bench/uring_cost.c). N copies in flight: the ring and the "
                "jobs submit what is free, wait, reap every completion there is and refill; the "
                "synchronous calls run from N threads. One ring of 64 128-byte SQEs, default "
                "setup flags; io-wq runs at most min(64, 4 × CPUs) of its copies at once. "
                "µs per copy, wall (the whole machine's "
                "CPU), `±` half the spread of the wall time. `copy_file_range(2)` shares extents "
                "on btrfs and xfs (reflink) and copies data on ext4 and tmpfs; everything else "
                "here copies data.", ""]
        out.append("| filesystem | transport | " +
                   " | ".join(f"{n} in flight" for n in INFLIGHT_DEPTHS[INFLIGHT_SMALL]) + " |")
        out.append("|---|---|" + "---|" * len(INFLIGHT_DEPTHS[INFLIGHT_SMALL]))
        for fs in fss:
            for prefix, label in INFLIGHT_TRANSPORTS:
                cells = [inflight_cell(rows.get((fs, f"{prefix}_{n}", INFLIGHT_SMALL)),
                                       rows.get((fs, f"{prefix}_{n}", INFLIGHT_SMALL + "_cpu")),
                                       1e3, 1)
                         for n in INFLIGHT_DEPTHS[INFLIGHT_SMALL]]
                if any(c != "—" for c in cells):
                    out.append(f"| {fs} | {label} | " + " | ".join(cells) + " |")
    if big:
        out += ["", f"{big[0]['iters']} copies of a 16 MiB source per sample, each into a file "
                "of its own, median of "
                f"{'/'.join(map(str, sorted({r['runs'] for r in big})))} samples; ms per copy, "
                "wall (CPU), `±` half the spread; throughput is the inverse of the time per copy.",
                "", "| filesystem | transport | 1 at a time | 16 in flight | throughput, 16 / 1 |",
                "|---|---|---|---|---|"]
        for fs in fss:
            for prefix, label in INFLIGHT_TRANSPORTS:
                one, many = (rows.get((fs, f"{prefix}_{n}", INFLIGHT_BIG)) for n in (1, 16))
                if not one and not many:
                    continue
                cpu1, cpu16 = (rows.get((fs, f"{prefix}_{n}", INFLIGHT_BIG + "_cpu"))
                               for n in (1, 16))
                out.append(f"| {fs} | {label} | {inflight_cell(one, cpu1, 1e6, 2)} | "
                           f"{inflight_cell(many, cpu16, 1e6, 2)} | "
                           f"{ratio(one and one['med_ns'], many and many['med_ns'])} |")
    out += ["", "Ratios of wall time per copy (CPU where it says so), and the targets set for "
            "the io_uring transport:", ""]
    out.append("| ratio | " + " | ".join(fss) + " |")
    out.append("|---|" + "---|" * len(fss))
    out += target_lines(rows, fss)
    for label, num, den in INFLIGHT_OTHER:
        cells = [ratio(inflight_med(rows, fs, *num), inflight_med(rows, fs, *den)) for fs in fss]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    verdicts = target_verdicts(rows)
    known = [v for v in verdicts if v[3] is not None]
    missed = [f"{label} on {fs} ({v:.2f})"
              for label, fs, v, met in known if not met]
    out += ["", f"Targets met: {sum(1 for v in known if v[3])} of {len(known)}"
            + (f" ({len(verdicts) - len(known)} without rows)" if len(known) < len(verdicts)
               else "") + "."]
    if missed:
        out.append("Missed: " + "; ".join(missed) + ".")
    return out


def tree_time(r, key):
    return r[key] if r and r.get("runs") and r.get(key) is not None else None


def tree_section(rows):
    out = []
    fss = [fs for fs in FILESYSTEMS if any(k[0] == fs for k in rows)]
    fss += sorted({k[0] for k in rows} - set(fss))
    sample = next(iter(rows.values()))
    files, nbytes = sample["files"], sample["bytes"]
    runs = sorted({r["runs"] for r in rows.values() if r["runs"]})
    out += [f"A tree of {files} files of 0-16 KiB in 50 directories ({nbytes / (1 << 20):.1f} MiB), "
            "copied into a new directory on the same filesystem, source cached; "
            f"median of {'/'.join(map(str, runs)) or 0} runs; seconds for the whole tree, "
            "wall (CPU), `±` half the spread. "
            "A sample is the copy command and then `sync -f` (syncfs) of the filesystem: crcp "
            "makes files durable before linking them in (one syncfs per batch of up to 64), "
            "cp does not sync, so only \"the tree is on disk\" "
            "compares like with like (`nosync_` columns of bench-tree.csv: up to the command's "
            "exit). `auto` is both tools' default; `never` is read/write for cp and the "
            "module's in-kernel copy for crcp. n/a: the filesystem cannot share extents.", ""]

    out.append("| method | " + " | ".join(fss) + " |")
    out.append("|---|" + "---|" * len(fss))
    for m, label in TREE_METHODS + [(m, m) for m in sorted({k[1] for k in rows})
                                     if m not in dict(TREE_METHODS)]:
        if not any((fs, m) in rows for fs in fss):
            continue
        cells = []
        for fs in fss:
            r = rows.get((fs, m))
            if r is None:
                cells.append("—")
            elif tree_time(r, "wall_med_ns") is None:
                cells.append("n/a")
            else:
                spread = (r["wall_max_ns"] - r["wall_min_ns"]) / max(r["wall_med_ns"], 1)
                cells.append(f"{r['wall_med_ns'] / 1e9:.3f} ({r['cpu_med_ns'] / 1e9:.3f}) "
                             f"±{spread * 50:.0f}%")
        out.append(f"| `{label}` | " + " | ".join(cells) + " |")

    out += ["", "Ratios, wall (CPU):", ""]
    out.append("| ratio | " + " | ".join(fss) + " |")
    out.append("|---|" + "---|" * len(fss))

    def line(label, a, b, prefix=""):
        cells = []
        for fs in fss:
            ra, rb = rows.get((fs, a)), rows.get((fs, b))
            w = ratio(tree_time(ra, prefix + "wall_med_ns"), tree_time(rb, prefix + "wall_med_ns"))
            c = ratio(tree_time(ra, prefix + "cpu_med_ns"), tree_time(rb, prefix + "cpu_med_ns"))
            cells.append(w if w == "n/a" else f"{w} ({c})")
        out.append(f"| {label} | " + " | ".join(cells) + " |")

    line("`crcp -j 16` / `cp -R`", "crcp_j16", "cp")
    line("`crcp -j 16` / `cp -R`, up to exit (no sync)", "crcp_j16", "cp", "nosync_")
    line("`crcp -j 16` / `crcp -j 1`", "crcp_j16", "crcp_j1")
    line("`crcp -j 16 --reflink=always` / `cp --reflink=always`",
         "crcp_j16_reflink_always", "cp_reflink_always")
    line("`crcp -j 16 --reflink=never` / `cp --reflink=never`",
         "crcp_j16_reflink_never", "cp_reflink_never")
    return out


def per_copy(rows, fs, method, size):
    """Wall and CPU ns per copied file (a jobs_N sample copies N files)."""
    r = rows.get((fs, method, size))
    if not r:
        return None
    n = int(method.split("_")[1]) if method.startswith("jobs_") else 1
    return r["wall_med_ns"] / n, r["cpu_med_ns"] / n, r


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "n/a"


def ratios(rows, sizes, inflight=None):
    out = []
    small, large = sizes[0], sizes[-1]
    out.append("| ratio | " + " | ".join(FILESYSTEMS) + " |")
    out.append("|---|" + "---|" * len(FILESYSTEMS))

    def line(label, f):
        out.append(f"| {label} | " + " | ".join(f(fs) for fs in FILESYSTEMS) + " |")

    def wall(fs, m, s):
        v = per_copy(rows, fs, m, s)
        return v[0] if v else None

    def cpu(fs, m, s):
        v = per_copy(rows, fs, m, s)
        return v[1] if v else None

    line(f"copy_range / copy_file_range, wall, {size_name(small)}",
         lambda fs: ratio(wall(fs, "copy_range", small), wall(fs, "copy_file_range", small)))
    line(f"copy_range / copy_file_range, wall, {size_name(large)}",
         lambda fs: ratio(wall(fs, "copy_range", large), wall(fs, "copy_file_range", large)))
    # On btrfs and xfs copy_file_range(2) shares extents; the like-for-like shim cost there is
    # ALLOW against it.
    line(f"copy_range ALLOW / copy_file_range, wall, {size_name(small)}",
         lambda fs: ratio(wall(fs, "copy_range_allow", small), wall(fs, "copy_file_range", small)))
    line(f"copy_range ALLOW / copy_file_range, wall, {size_name(large)}",
         lambda fs: ratio(wall(fs, "copy_range_allow", large), wall(fs, "copy_file_range", large)))
    line(f"ALLOW / flags 0, wall, {size_name(large)}",
         lambda fs: ratio(wall(fs, "copy_range_allow", large), wall(fs, "copy_range", large)))
    line(f"REQUIRE {size_name(large)} / REQUIRE {size_name(small)}, wall",
         lambda fs: ratio(wall(fs, "copy_range_require", large),
                          wall(fs, "copy_range_require", small)))
    line(f"ALLOW {size_name(large)} / ALLOW {size_name(small)}, wall",
         lambda fs: ratio(wall(fs, "copy_range_allow", large),
                          wall(fs, "copy_range_allow", small)))

    def jobs_speedup(fs):
        common = [s for s in sizes if per_copy(rows, fs, "jobs_16", s) and per_copy(rows, fs, "jobs_1", s)]
        if not common:
            return "n/a"
        s = common[-1]
        return f"{wall(fs, 'jobs_1', s) / wall(fs, 'jobs_16', s):.2f} ({size_name(s)})"

    line("throughput, 16 jobs in flight / 1", jobs_speedup)

    def cpu_vs_rw(fs):
        worst = None
        for s in sizes:
            if s <= 64 << 10:
                continue
            a, b = cpu(fs, "copy_range", s), cpu(fs, "read_write", s)
            if a is None or not b:
                continue
            r = a / b
            if worst is None or r > worst[0]:
                worst = (r, s)
        return f"{worst[0]:.2f} ({size_name(worst[1])})" if worst else "n/a"

    line("CPU, copy_range flags 0 / read_write, worst size > 64 KiB", cpu_vs_rw)
    if inflight:
        out += target_lines(inflight, FILESYSTEMS)
    return out


def tables(rows, sizes):
    out = []
    for fs in FILESYSTEMS:
        methods = [m for m in METHODS if any((fs, m, s) in rows for s in sizes)]
        if not methods:
            continue
        out.append(f"\n### {fs}: wall ms per file copied (CPU ms), median\n")
        out.append("| size | " + " | ".join(methods) + " |")
        out.append("|---|" + "---|" * len(methods))
        for s in sizes:
            cells = []
            for m in methods:
                v = per_copy(rows, fs, m, s)
                if v:
                    r = v[2]
                    spread = (r["wall_max_ns"] - r["wall_min_ns"]) / max(r["wall_med_ns"], 1)
                    cells.append(f"{v[0] / 1e6:.3f} ({v[1] / 1e6:.3f}) ±{spread * 50:.0f}%")
                else:
                    cells.append("—")
            out.append(f"| {size_name(s)} | " + " | ".join(cells) + " |")
    return out


def svg(rows, sizes):
    w, h, pad = 460, 340, 50
    panels = [fs for fs in FILESYSTEMS if any(k[0] == fs for k in rows)]
    vals = [per_copy(rows, *k)[0] for k in rows]
    lo, hi = math.log10(max(min(vals), 1)), math.log10(max(vals))
    xs = [math.log10(s) for s in sizes]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w * 2}" '
           f'height="{h * math.ceil(len(panels) / 2) + 40}" font-family="sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>']
    for i, fs in enumerate(panels):
        ox, oy = (i % 2) * w, (i // 2) * h
        pw, ph = w - 2 * pad, h - 2 * pad

        # "or 1": one size or one time (a run with a small BENCH_MAX) still plots.
        def px(x):
            return ox + pad + (x - xs[0]) / ((xs[-1] - xs[0]) or 1) * pw

        def py(y):
            return oy + pad + ph - (y - lo) / ((hi - lo) or 1) * ph

        out.append(f'<text x="{ox + w / 2}" y="{oy + 20}" text-anchor="middle" '
                   f'font-size="14">{fs}: wall time per file copied</text>')
        out.append(f'<rect x="{ox + pad}" y="{oy + pad}" width="{pw}" height="{ph}" '
                   'fill="none" stroke="#999"/>')
        for s in sizes:
            out.append(f'<text x="{px(math.log10(s))}" y="{oy + pad + ph + 14}" '
                       f'text-anchor="middle">{size_name(s).replace(" ", "")}</text>')
        for e in range(math.ceil(lo), math.floor(hi) + 1):
            label = f"{10 ** e / 1e6:g} ms"
            out.append(f'<line x1="{ox + pad}" x2="{ox + pad + pw}" y1="{py(e)}" y2="{py(e)}" '
                       'stroke="#eee"/>')
            out.append(f'<text x="{ox + pad - 4}" y="{py(e) + 4}" text-anchor="end">{label}</text>')
        for m, color in zip(METHODS, COLORS):
            pts = [(px(math.log10(s)), py(math.log10(max(per_copy(rows, fs, m, s)[0], 1))))
                   for s in sizes if per_copy(rows, fs, m, s)]
            if len(pts) > 1:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
                out.append(f'<polyline points="{path}" fill="none" stroke="{color}" '
                           'stroke-width="1.5"/>')
    ly = h * math.ceil(len(panels) / 2) + 20
    for j, (m, color) in enumerate(zip(METHODS, COLORS)):
        lx = 20 + j * (w * 2 - 40) / len(METHODS)
        out.append(f'<line x1="{lx}" x2="{lx + 16}" y1="{ly}" y2="{ly}" stroke="{color}" '
                   'stroke-width="3"/>')
        out.append(f'<text x="{lx + 20}" y="{ly + 4}">{m}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("raw", help="copy_bench's rows (may be empty)")
    ap.add_argument("outdir")
    ap.add_argument("machine", nargs="?", default="")
    ap.add_argument("--tree", help="tree-bench.sh's rows")
    ap.add_argument("--calls", help="call_cost's rows")
    args = ap.parse_intermixed_args()
    rows = load(args.raw)
    tree = load_tree(args.tree)
    calls = load_calls(args.calls)
    inflight = inflight_rows(calls)
    if not rows and not tree and not calls:
        sys.exit("report: no benchmark rows")
    os.makedirs(args.outdir, exist_ok=True)
    with open(args.raw) as f, open(os.path.join(args.outdir, "bench.csv"), "w") as g:
        g.write(f.read())
    # The tree rows have columns of their own, so a file of their own; one
    # left from an older run would not match this bench.md.
    tree_csv = os.path.join(args.outdir, "bench-tree.csv")
    if tree:
        with open(args.tree) as f, open(tree_csv, "w") as g:
            g.write(f.read())
    elif os.path.exists(tree_csv):
        os.remove(tree_csv)
    calls_csv = os.path.join(args.outdir, "bench-calls.csv")
    if calls:
        with open(args.calls) as f, open(calls_csv, "w") as g:
            g.write(f.read())
    elif os.path.exists(calls_csv):
        os.remove(calls_csv)
    md = ["# copy_range benchmark", "",
          args.machine, "",
          "Every number comes from one boot of the plain kernel under QEMU's TCG "
          "(software emulation): absolute times mean little, ratios between methods in the "
          "same run do. Wall and CPU are per file copied (a `jobs_N` sample copies N files "
          "at once); CPU is the whole machine's busy time, so kernel workers count. "
          "`±` is half the spread (max − min) over the runs, relative to the median.", ""]
    if rows:
        sizes = sorted({k[2] for k in rows})
        md += ["## Ratios", ""]
        md += ratios(rows, sizes, inflight)
    call_lines = calls_section(calls) if calls else []
    if call_lines:
        md += ["", "## What one call costs", ""]
        md += call_lines
    if inflight:
        md += ["", "## Many copies in flight: io_uring, jobs, threads", ""]
        md += inflight_section(inflight)
    if tree:
        md += ["", "## Tree copy", ""]
        md += tree_section(tree)
    if rows:
        md += ["", "## Tables"]
        md += tables(rows, sizes)
        with open(os.path.join(args.outdir, "bench.svg"), "w") as f:
            f.write(svg(rows, sizes))
    with open(os.path.join(args.outdir, "bench.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
