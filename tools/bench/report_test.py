#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host-side tests of report.py: the per-file report of an older run (no tree
rows) is what it was, and tree-bench.sh's rows become the "Tree copy" table
and ratios, with n/a where a filesystem cannot share; uring_cost's rows
become the "Many copies in flight" tables and the io_uring targets, met or
missed, without disturbing call_cost's table.

    python3 tools/bench/report_test.py -v
"""

import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPORT = os.path.join(HERE, "report.py")

PER_FILE = """\
fs,method,size,runs,iters,wall_med_ns,wall_min_ns,wall_max_ns,cpu_med_ns
btrfs,copy_file_range,4096,7,512,100000,90000,110000,120000
btrfs,copy_range,4096,7,512,150000,140000,160000,170000
btrfs,copy_file_range,1048576,5,8,2000000,1900000,2100000,2200000
btrfs,copy_range,1048576,5,8,2500000,2400000,2600000,2700000
"""

TREE_HEADER = ("tree,fs,method,files,bytes,runs,wall_med_ns,wall_min_ns,wall_max_ns,"
               "cpu_med_ns,nosync_wall_med_ns,nosync_cpu_med_ns\n")
TREE = TREE_HEADER + """\
tree,btrfs,cp,2000,16510421,5,1000000000,900000000,1100000000,1000000000,800000000,700000000
tree,btrfs,cp_reflink_always,2000,16510421,5,500000000,500000000,500000000,400000000,500000000,400000000
tree,btrfs,crcp_j1,2000,16510421,5,4000000000,4000000000,4000000000,3000000000,3900000000,2900000000
tree,btrfs,crcp_j16,2000,16510421,5,2000000000,1000000000,3000000000,3000000000,1600000000,2100000000
tree,btrfs,crcp_j16_reflink_always,2000,16510421,5,1500000000,1500000000,1500000000,1200000000,1500000000,1200000000
tree,ext4,cp_reflink_always,2000,16510421,0,,,,,,
tree,ext4,crcp_j16_reflink_always,2000,16510421,0,,,,,,
tree,ext4,cp,2000,16510421,5,700000000,700000000,700000000,600000000,500000000,400000000
tree,ext4,crcp_j16,2000,16510421,5,1400000000,1400000000,1400000000,1200000000,1400000000,1200000000
"""


CALL_HEADER = "call,fs,method,case,iters,runs,med_ns,min_ns,max_ns\n"
CALLS = CALL_HEADER + """\
call,ext4,copy_file_range,len0,4000,7,500,480,520
call,ext4,copy_range,len0,4000,7,1000,900,1100
call,ext4,copy_range_allow,len0,4000,7,1100,1100,1100
call,ext4,copy_file_range,4k_new,4000,7,30000,29000,31000
call,ext4,copy_range,4k_new,4000,7,33000,33000,33000
"""

# uring_cost: ext4 meets every target, xfs misses the job-path one and the
# 16 MiB one; btrfs has rows only for the 4 KiB ring and cfr (the rest n/a).
INFLIGHT = """\
call,ext4,cfr_1,inflight_4k,2048,7,30000,29000,31000
call,ext4,cfr_1,inflight_4k_cpu,2048,7,32000,30000,34000
call,ext4,jobs_64,inflight_4k,2048,7,200000,200000,200000
call,ext4,jobs_64,inflight_4k_cpu,2048,7,400000,400000,400000
call,ext4,ring_1,inflight_4k,2048,7,40000,38000,42000
call,ext4,ring_64,inflight_4k,2048,7,20000,19000,23000
call,ext4,ring_64,inflight_4k_cpu,2048,7,36000,35000,37000
call,ext4,ring_1,inflight_16m,16,5,60000000,59000000,61000000
call,ext4,ring_16,inflight_16m,16,5,30000000,30000000,30000000
call,ext4,ring_16,inflight_16m_cpu,16,5,50000000,50000000,50000000
call,xfs,cfr_1,inflight_4k,2048,7,70000,70000,70000
call,xfs,jobs_64,inflight_4k,2048,7,100000,100000,100000
call,xfs,ring_64,inflight_4k,2048,7,35000,35000,35000
call,xfs,ring_1,inflight_16m,16,5,40000000,40000000,40000000
call,xfs,ring_16,inflight_16m,16,5,32000000,32000000,32000000
call,btrfs,cfr_1,inflight_4k,2048,7,90000,90000,90000
call,btrfs,ring_64,inflight_4k,2048,7,99000,99000,99000
call,btrfs,ring_1,inflight_16m,16,5,100000000,100000000,100000000
call,btrfs,ring_16,inflight_16m,16,5,100000000,100000000,100000000
"""


def run(tmp, per_file, tree=None, *extra):
    raw = os.path.join(tmp, "raw.csv")
    with open(raw, "w") as f:
        f.write(per_file)
    args = [sys.executable, REPORT, raw, os.path.join(tmp, "out"), "Machine: test."]
    if tree is not None:
        with open(os.path.join(tmp, "tree.csv"), "w") as f:
            f.write(tree)
        args += ["--tree", os.path.join(tmp, "tree.csv")]
    p = subprocess.run(args + list(extra), capture_output=True, text=True)
    md = None
    if os.path.exists(os.path.join(tmp, "out", "bench.md")):
        with open(os.path.join(tmp, "out", "bench.md")) as f:
            md = f.read()
    return p, md


def row(md, first_cell):
    """The cells of the markdown table row that starts with first_cell."""
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == first_cell:
            return cells[1:]
    raise AssertionError(f"no row {first_cell!r} in:\n{md}")


class ReportTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.out = os.path.join(self.tmp.name, "out")

    def test_older_run_without_tree_rows(self):
        os.makedirs(self.out)
        stale = os.path.join(self.out, "bench-tree.csv")
        with open(stale, "w") as f:
            f.write(TREE)
        p, md = run(self.tmp.name, PER_FILE)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("## Ratios", md)
        self.assertIn("### btrfs: wall ms per file copied", md)
        self.assertNotIn("Tree copy", md)
        self.assertTrue(os.path.exists(os.path.join(self.out, "bench.svg")))
        self.assertFalse(os.path.exists(stale), "a tree CSV of another run was left")

    def test_one_size(self):
        # make bench BENCH_MAX=4096: one size, and the plot must not divide by zero.
        one = "\n".join(PER_FILE.splitlines()[:3]) + "\n"
        p, md = run(self.tmp.name, one)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("| 4 KiB |", md)
        self.assertTrue(os.path.exists(os.path.join(self.out, "bench.svg")))

    def test_empty_tree_file_is_an_older_run(self):
        p, md = run(self.tmp.name, PER_FILE, TREE_HEADER)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("Tree copy", md)
        self.assertFalse(os.path.exists(os.path.join(self.out, "bench-tree.csv")))

    def test_tree_table(self):
        p, md = run(self.tmp.name, PER_FILE, TREE)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("## Tree copy", md)
        self.assertLess(md.index("## Ratios"), md.index("## Tree copy"))
        self.assertLess(md.index("## Tree copy"), md.index("## Tables"))
        self.assertIn("2000 files", md)
        self.assertEqual(row(md, "method"), ["btrfs", "ext4"])
        # median wall (CPU), half the spread relative to the median
        self.assertEqual(row(md, "`cp -R`"), ["1.000 (1.000) ±10%", "0.700 (0.600) ±0%"])
        self.assertEqual(row(md, "`crcp -R -j 16`"), ["2.000 (3.000) ±50%", "1.400 (1.200) ±0%"])
        self.assertEqual(row(md, "`cp -R --reflink=always`"), ["0.500 (0.400) ±0%", "n/a"])
        # a method with no row at all on a filesystem
        self.assertEqual(row(md, "`crcp -R -j 1`"), ["4.000 (3.000) ±0%", "—"])
        with open(os.path.join(self.out, "bench-tree.csv")) as f:
            self.assertEqual(f.read(), TREE)

    def test_calls_table(self):
        calls = os.path.join(self.tmp.name, "calls.csv")
        with open(calls, "w") as f:
            f.write(CALLS)
        p, md = run(self.tmp.name, PER_FILE, None, "--calls", calls)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertLess(md.index("## Ratios"), md.index("## What one call costs"))
        self.assertIn("| ext4 | length 0: lookups and checks only | 500 ±4% | 1000 ±10% | "
                      "1100 ±0% | 2.00 | 2.20 |", md)
        self.assertIn("| ext4 | 4 KiB into a new file | 30000 ±3% | 33000 ±0% | — | 1.10 | n/a |",
                      md)
        # a case with no rows
        self.assertIn("| ext4 | 4 KiB over an existing range | — | — | — | n/a | n/a |", md)
        with open(os.path.join(self.out, "bench-calls.csv")) as f:
            self.assertEqual(f.read(), CALLS)
        # an older run leaves no calls CSV behind
        p, md = run(self.tmp.name, PER_FILE)
        self.assertNotIn("What one call costs", md)
        self.assertFalse(os.path.exists(os.path.join(self.out, "bench-calls.csv")))

    def calls_file(self, text):
        calls = os.path.join(self.tmp.name, "calls.csv")
        with open(calls, "w") as f:
            f.write(text)
        return calls

    def test_inflight_tables(self):
        p, md = run(self.tmp.name, PER_FILE, None, "--calls", self.calls_file(CALLS + INFLIGHT))
        self.assertEqual(p.returncode, 0, p.stderr)
        head = "## Many copies in flight: io_uring, jobs, threads"
        self.assertLess(md.index("## What one call costs"), md.index(head))
        self.assertLess(md.index(head), md.index("## Tables"))
        # call_cost's table has its own rows only
        self.assertIn("| ext4 | 4 KiB into a new file | 30000 ±3% | 33000 ±0% | — | 1.10 | n/a |",
                      md)
        self.assertNotIn("inflight", md.split(head)[0].split("## What one call costs")[1])
        section = md.split(head)[1]
        # µs per copy, wall (CPU), half the spread of the wall
        self.assertEqual(row(section, "ext4")[:4], ["io_uring `COPY_RANGE_URING_CMD_COPY`",
                                               "40.0 ±5%", "—", "20.0 (36.0) ±10%"])
        self.assertIn("| ext4 | job descriptors (`SUBMIT`, then `WAIT` at 1, poll otherwise) "
                      "| — | — | 200.0 (400.0) ±0% |", md)
        # 16 MiB: ms per copy, and throughput as the inverse of the time
        self.assertIn("| ext4 | io_uring `COPY_RANGE_URING_CMD_COPY` | 60.00 ±2% | "
                      "30.00 (50.00) ±0% | 2.00 |", md)
        self.assertIn("| xfs | io_uring `COPY_RANGE_URING_CMD_COPY` | 40.00 ±0% | "
                      "32.00 ±0% | 1.25 |", md)

    def test_inflight_targets(self):
        p, md = run(self.tmp.name, PER_FILE, None, "--calls", self.calls_file(CALL_HEADER + INFLIGHT))
        self.assertEqual(p.returncode, 0, p.stderr)
        # no call_cost rows: no table of them
        self.assertNotIn("What one call costs", md)
        section = md.split("## Many copies in flight")[1]
        self.assertEqual(row(section, "ratio"), ["btrfs", "xfs", "ext4"])
        self.assertEqual(
            row(section, "io_uring, 64 in flight / one `copy_file_range(2)` at a time, "
                "per 4 KiB copy (target ≤ 1.0)"),
            ["1.10 (**missed**)", "0.50 (met)", "0.67 (met)"])
        self.assertEqual(
            row(section, "io_uring / job descriptors, 64 in flight each, per 4 KiB copy "
                "(target ≤ 0.3)"),
            ["n/a", "0.35 (**missed**)", "0.10 (met)"])
        # the 16 MiB target is set for ext4 and xfs only
        self.assertEqual(
            row(section, "throughput, io_uring 16 MiB copies, 16 in flight / 1 at a time "
                "(target ≥ 1.5 on ext4 and xfs)"),
            ["1.00", "1.25 (**missed**)", "2.00 (met)"])
        self.assertEqual(
            row(section, "CPU, io_uring / job descriptors, 64 in flight each, per 4 KiB copy"),
            ["n/a", "n/a", "0.09"])
        self.assertIn("Targets met: 4 of 7 (3 without rows).", section)
        self.assertIn("Missed: io_uring, 64 in flight / one `copy_file_range(2)` at a time, "
                      "per 4 KiB copy on btrfs (1.10);", section)
        # the targets head the first ratio table too, over every filesystem
        top = md.split("## Ratios")[1].split("##")[0]
        self.assertEqual(
            row(top, "io_uring / job descriptors, 64 in flight each, per 4 KiB copy "
                "(target ≤ 0.3)"),
            ["n/a", "0.35 (**missed**)", "0.10 (met)", "n/a"])
        with open(os.path.join(self.out, "bench-calls.csv")) as f:
            self.assertEqual(f.read(), CALL_HEADER + INFLIGHT)

    def test_inflight_rows_only(self):
        p, md = run(self.tmp.name, "", None, "--calls", self.calls_file(CALL_HEADER + INFLIGHT))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("## Ratios", md)
        self.assertIn("## Many copies in flight", md)

    def test_tree_ratios(self):
        p, md = run(self.tmp.name, PER_FILE, TREE)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(row(md, "`crcp -j 16` / `cp -R`"), ["2.00 (3.00)", "2.00 (2.00)"])
        self.assertEqual(row(md, "`crcp -j 16` / `cp -R`, up to exit (no sync)"),
                         ["2.00 (3.00)", "2.80 (3.00)"])
        self.assertEqual(row(md, "`crcp -j 16` / `crcp -j 1`"), ["0.50 (1.00)", "n/a"])
        self.assertEqual(row(md, "`crcp -j 16 --reflink=always` / `cp --reflink=always`"),
                         ["3.00 (3.00)", "n/a"])
        self.assertEqual(row(md, "`crcp -j 16 --reflink=never` / `cp --reflink=never`"), ["n/a", "n/a"])

    def test_tree_rows_only(self):
        p, md = run(self.tmp.name, "", TREE)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("## Tree copy", md)
        self.assertNotIn("## Tables", md)
        self.assertFalse(os.path.exists(os.path.join(self.out, "bench.svg")))

    def test_no_rows_at_all_fails(self):
        p, _ = run(self.tmp.name, "", TREE_HEADER)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no benchmark rows", p.stderr)


if __name__ == "__main__":
    unittest.main()
