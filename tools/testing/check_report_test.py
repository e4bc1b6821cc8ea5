#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host-side tests of check-report.py: the harness must turn every kind of
failure (a failing KUnit case, a failing selftest, a kernel WARN, a hung VM,
a module that does not load or unload) into a failed count and exit 1."""

import contextlib
import importlib.util
import io
import os
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("check_report", os.path.join(HERE, "check-report.py"))
check_report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_report)

GOOD_KTAP = """\
[    3.100000] KTAP version 1
[    3.100001] 1..1
[    3.100002]     KTAP version 1
[    3.100003]     # Subtest: copy_range_uapi
[    3.100004]     # speed: normal
[    3.100005]     1..2
[    3.100006]     ok 1 ioctl_numbers_match_c_header
[    3.100007]     ok 2 args_layout_matches_c_header
[    3.100008] # copy_range_uapi: pass:2 fail:0 skip:0 total:2
[    3.100009] ok 1 copy_range_uapi
"""

BUILTIN_KTAP = """\
[    1.000000] KTAP version 1
[    1.000001] 1..1
[    1.000002]     KTAP version 1
[    1.000003]     # Subtest: rust_kernel_fmt
[    1.000004]     1..1
[    1.000005]     not ok 1 test_ptr_formatting
[    1.000006] not ok 1 rust_kernel_fmt
"""

GOOD_TAP = """\
# selftest: device_test
TAP version 13
1..2
# Starting 2 tests from 1 test cases.
ok 1 global.node_is_a_misc_char_device
ok 2 global.unknown_ioctl_is_enotty
# PASSED: 2 / 2 tests passed.
# selftest-exit: device_test 0
"""


def make_run(console=GOOD_KTAP, output=GOOD_TAP, insmod="0", status="0", rmmod="0"):
    d = tempfile.mkdtemp(prefix="check-report-test.")
    files = {"console.log": console, "output.log": output, "insmod.status": insmod,
             "status": status, "rmmod.status": rmmod}
    for name, text in files.items():
        if text is not None:
            with open(os.path.join(d, name), "w") as f:
                f.write(text + ("\n" if name.endswith(".status") else ""))
    return d


def report(rundir, *extra):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        rc = check_report.main([rundir, "--kunit-suite", "copy_range_uapi",
                                "--selftests", "1", *extra])
    return rc, out.getvalue()


LEAK_OF_THE_MODULE = """\
unreferenced object 0xffff888004a2c000 (size 32768):
  comm "vec_test", pid 321, jiffies 4294990000
  hex dump (first 32 bytes):
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  ................
  backtrace (crc 0):
    [<ffffffff8134a2b1>] __kvmalloc_node_noprof+0x51/0x120
    [<ffffffffc0012a40>] _RNvNtCs_15copy_range_main3vec10VecRequest9from_user+0x80/0x300 [copy_range]
    [<ffffffff81c0a1b2>] __x64_sys_ioctl+0x92/0xd0
"""

LEAK_AFTER_UNLOAD = """\
unreferenced object 0xffff888004a2d000 (size 64):
  comm "insmod", pid 100, jiffies 4294900000
  backtrace (crc 0):
    [<ffffffff8134a2b1>] __kmalloc_noprof+0x51/0x120
    [<ffffffffc0013b00>] 0xffffffffc0013b00
    [<ffffffff81102030>] do_one_initcall+0x50/0x300
"""

LEAK_OF_SOMETHING_ELSE = """\
unreferenced object 0xffff888003000000 (size 128):
  comm "swapper/0", pid 1, jiffies 4294667296
  backtrace (crc 0):
    [<ffffffff8134a2b1>] __kmalloc_noprof+0x51/0x120
    [<ffffffff81500000>] acpi_os_allocate_zeroed+0x20/0x40
"""


def add_kmemleak(rundir, loaded, unloaded):
    for name, text in (("kmemleak-loaded.txt", loaded), ("kmemleak-unloaded.txt", unloaded)):
        if text is not None:
            with open(os.path.join(rundir, name), "w") as f:
                f.write(text)
    return rundir


class CheckReportTest(unittest.TestCase):
    def test_kmemleak_clean_or_foreign_reports_pass(self):
        rc, out = report(add_kmemleak(make_run(), "", LEAK_OF_SOMETHING_ELSE), "--kmemleak")
        self.assertEqual(rc, 0, out)
        self.assertIn("ok - vm: kmemleak finds no leak of the module", out)

    def test_kmemleak_report_of_the_module_fails(self):
        rc, out = report(add_kmemleak(make_run(), LEAK_OF_THE_MODULE, ""), "--kmemleak")
        self.assertEqual(rc, 1, out)
        self.assertIn("FAIL - vm: kmemleak finds no leak of the module", out)

    def test_kmemleak_report_with_unloaded_code_fails(self):
        rc, out = report(add_kmemleak(make_run(), "", LEAK_AFTER_UNLOAD), "--kmemleak")
        self.assertEqual(rc, 1, out)

    def test_filesystem_that_does_not_unmount_fails(self):
        run = make_run()
        with open(os.path.join(run, "umount.status"), "w") as f:
            f.write("1\n")
        with open(os.path.join(run, "umount.failed"), "w") as f:
            f.write("/mnt/ext4: target is busy\n")
        rc, out = report(run, "--umount")
        self.assertEqual(rc, 1, out)
        self.assertIn("FAIL - vm: every test filesystem unmounts at the end", out)
        with open(os.path.join(run, "umount.status"), "w") as f:
            f.write("0\n")
        rc, out = report(run, "--umount")
        self.assertEqual(rc, 0, out)

    def test_host_results_are_counted(self):
        d = tempfile.mkdtemp(prefix="check-report-results.")
        good, bad = os.path.join(d, "good"), os.path.join(d, "bad")
        with open(good, "w") as f:
            f.write("ok - lint: a\nok - cargo: b\nsome output\n")
        with open(bad, "w") as f:
            f.write("ok - cargo: c\nFAIL - cargo: d\n")
        rc, out = report(make_run(), "--results", good)
        self.assertEqual(rc, 0, out)
        self.assertTrue(out.rstrip().endswith("12 passed, 0 failed"), out)
        rc, out = report(make_run(), "--results", good, "--results", bad)
        self.assertEqual(rc, 1, out)
        self.assertIn("FAIL - cargo: d (reported above)", out)
        self.assertTrue(out.rstrip().endswith("13 passed, 1 failed"), out)

    def test_missing_host_results_fail(self):
        rc, out = report(make_run(), "--results", "/nonexistent/lint.results")
        self.assertEqual(rc, 1, out)

    def test_missing_kmemleak_scan_fails(self):
        rc, out = report(make_run(), "--kmemleak")
        self.assertEqual(rc, 1, out)

    def test_clean_run_passes(self):
        rc, out = report(make_run())
        self.assertEqual(rc, 0, out)
        self.assertIn("ok - kunit: copy_range_uapi.ioctl_numbers_match_c_header", out)
        self.assertIn("ok - selftest: device_test: global.unknown_ioctl_is_enotty", out)
        self.assertTrue(out.rstrip().endswith("10 passed, 0 failed"), out)

    def test_builtin_kernel_suites_are_not_counted(self):
        rc, out = report(make_run(console=BUILTIN_KTAP + GOOD_KTAP))
        self.assertEqual(rc, 0, out)
        self.assertNotIn("rust_kernel_fmt", out)

    def test_reloaded_module_counts_each_case_once(self):
        rc, out = report(make_run(console=GOOD_KTAP + GOOD_KTAP))
        self.assertEqual(rc, 0, out)
        self.assertEqual(out.count("kunit: copy_range_uapi.ioctl_numbers_match_c_header"), 1)
        failing_again = GOOD_KTAP.replace("    ok 2 args_layout", "    not ok 2 args_layout")
        rc, out = report(make_run(console=GOOD_KTAP + failing_again))
        self.assertEqual(rc, 1)
        self.assertIn("FAIL - kunit: copy_range_uapi.args_layout_matches_c_header", out)

    def test_failing_kunit_case_fails(self):
        console = GOOD_KTAP.replace("    ok 2 args_layout", "    not ok 2 args_layout")
        console = console.replace("ok 1 copy_range_uapi", "not ok 1 copy_range_uapi")
        rc, out = report(make_run(console=console))
        self.assertEqual(rc, 1)
        self.assertIn("FAIL - kunit: copy_range_uapi.args_layout_matches_c_header", out)
        self.assertTrue(out.rstrip().endswith("9 passed, 1 failed"), out)

    def test_missing_kunit_suite_fails(self):
        rc, out = report(make_run(console="[    1.0] nothing here\n"))
        self.assertEqual(rc, 1)
        self.assertIn("FAIL - kunit: every expected suite ran", out)

    def test_failing_selftest_fails(self):
        output = GOOD_TAP.replace("ok 2 global.unknown", "not ok 2 global.unknown")
        output = output.replace("device_test 0", "device_test 1")
        rc, out = report(make_run(output=output))
        self.assertEqual(rc, 1)
        self.assertIn("FAIL - selftest: device_test: global.unknown_ioctl_is_enotty", out)

    def test_crashed_selftest_fails(self):
        output = "# selftest: device_test\nTAP version 13\n1..2\nok 1 global.a\n" \
                 "# selftest-exit: device_test 139\n"
        rc, out = report(make_run(output=output))
        self.assertEqual(rc, 1)
        self.assertIn("planned 2 tests, ran 1", out)

    def test_kernel_warn_fails(self):
        console = GOOD_KTAP + "[    4.0] ------------[ cut here ]------------\n" \
                              "[    4.1] WARNING: CPU: 0 PID: 1 at fs/remap_range.c:382\n"
        rc, out = report(make_run(console=console))
        self.assertEqual(rc, 1)
        self.assertIn("FAIL - vm: kernel log has no oops/WARN/BUG/KASAN/lockdep report", out)

    def test_kasan_and_lockdep_fail(self):
        for line in ("BUG: KASAN: slab-use-after-free in copy_range_job_run",
                     "WARNING: possible circular locking dependency detected",
                     "BUG: sleeping function called from invalid context at mm/slub.c:1"):
            rc, out = report(make_run(console=GOOD_KTAP + f"[    5.0] {line}\n"))
            self.assertEqual(rc, 1, line)

    def test_hung_vm_fails(self):
        rc, out = report(make_run(status=None, rmmod=None))
        self.assertEqual(rc, 1)
        self.assertIn("FAIL - vm: test command finished before the timeout", out)

    def test_module_load_and_unload_failures_fail(self):
        rc, out = report(make_run(insmod="1"))
        self.assertEqual(rc, 1)
        self.assertIn("FAIL - vm: copy_range.ko loads", out)
        rc, out = report(make_run(rmmod="1"))
        self.assertEqual(rc, 1)
        self.assertIn("FAIL - vm: copy_range.ko unloads", out)



if __name__ == "__main__":
    unittest.main()
