#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns copy_bench's CSV into results/bench.csv, bench.md (tables and the
ratios a reviewer asks for first) and bench.svg (time against size, log-log,
one panel per filesystem)."""

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


def per_copy(rows, fs, method, size):
    """Wall and CPU ns per copied file (a jobs_N sample copies N files)."""
    r = rows.get((fs, method, size))
    if not r:
        return None
    n = int(method.split("_")[1]) if method.startswith("jobs_") else 1
    return r["wall_med_ns"] / n, r["cpu_med_ns"] / n, r


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "n/a"


def ratios(rows, sizes):
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

        def px(x):
            return ox + pad + (x - xs[0]) / (xs[-1] - xs[0]) * pw

        def py(y):
            return oy + pad + ph - (y - lo) / (hi - lo) * ph

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
    raw, outdir, machine = sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else ""
    rows = load(raw)
    if not rows:
        sys.exit("report: no benchmark rows")
    sizes = sorted({k[2] for k in rows})
    os.makedirs(outdir, exist_ok=True)
    with open(raw) as f, open(os.path.join(outdir, "bench.csv"), "w") as g:
        g.write(f.read())
    md = ["# copy_range benchmark", "",
          machine, "",
          "Every number comes from one boot of the plain kernel under QEMU's TCG "
          "(software emulation): absolute times mean little, ratios between methods in the "
          "same run do. Wall and CPU are per file copied (a `jobs_N` sample copies N files "
          "at once); CPU is the whole machine's busy time, so kernel workers count. "
          "`±` is half the spread (max − min) over the runs, relative to the median.", "",
          "## Ratios", ""]
    md += ratios(rows, sizes)
    md += ["", "## Tables"]
    md += tables(rows, sizes)
    with open(os.path.join(outdir, "bench.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    with open(os.path.join(outdir, "bench.svg"), "w") as f:
        f.write(svg(rows, sizes))
    print("\n".join(md))


if __name__ == "__main__":
    main()
