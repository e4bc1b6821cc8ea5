#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns one test VM run into one line per test and the closing tally.

Reads a run directory written by tools/vm/run-vm (--keep): the kernel's
console log (KUnit's KTAP, and any oops/WARN/BUG/KASAN/lockdep report), the
command's output (the selftests' TAP, framed by run-selftests.sh) and the
status files of guest-init; and the result lines of the host-side parts
(--results).  Prints one line per VM test and the tally of everything.
Exits 1 if anything failed.
"""

import argparse
import os
import re
import sys

TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")
RESULT = re.compile(r"^(not ok|ok) (\d+) (?:- )?([^#]*?)\s*(?:#\s*(.*))?$")

# Lines that mean the kernel found a bug in itself or in the module.  A clean
# run prints none of them.
KERNEL_PROBLEMS = re.compile(
    r"(BUG:|WARNING:|Oops|Kernel panic|kernel BUG at|general protection fault|"
    r"UBSAN:|Call Trace:|INFO: task .* blocked|rcu: INFO|panicked at|"
    r"Unable to handle kernel|double fault)"
)


class Tally:
    """Collects results in the order they are found."""

    def __init__(self):
        self.results = []

    def add(self, passed, name, detail=""):
        self.results.append((passed, name, detail))

    def fail_existing(self, index, detail="failed in a later run"):
        _, name, _ = self.results[index]
        self.results[index] = (False, name, detail)

    @property
    def passed(self):
        return sum(1 for r in self.results if r[0])

    @property
    def failed(self):
        return sum(1 for r in self.results if not r[0])


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return None


def parse_kunit(console, tally, prefix="copy_range"):
    """KTAP from the kernel log: one result per case of the module's suites
    (named PREFIX*; the kernel's own built-in suites run at boot too), plus
    suites that died before reporting their cases."""
    suite = None
    cases_seen = {}
    seen_cases = {}
    for raw in console.splitlines():
        line = TIMESTAMP.sub("", raw.rstrip("\r"))
        stripped = line.strip()
        m = re.match(r"#\s*Subtest:\s*(\S+)", stripped)
        if m and line.startswith("    "):
            suite = m.group(1) if m.group(1).startswith(prefix) else None
            if suite:
                cases_seen[suite] = 0
            continue
        m = RESULT.match(stripped)
        if not m or suite is None:
            continue
        status, _, name, directive = m.groups()
        name = name.strip()
        skipped = directive is not None and directive.upper().startswith("SKIP")
        if line.startswith("    ") and not line.startswith("        "):
            cases_seen[suite] += 1
            if skipped:
                continue
            # A test that reloads the module runs the suites again: one line per case, which
            # fails if any run of it failed.
            key = f"kunit: {suite}.{name}"
            if key in seen_cases:
                if status != "ok":
                    tally.fail_existing(seen_cases[key])
                continue
            seen_cases[key] = len(tally.results)
            tally.add(status == "ok", key)
        elif not line.startswith(" ") and name == suite:
            if status != "ok" and cases_seen.get(suite, 0) == 0:
                tally.add(False, f"kunit: {suite}", "suite failed before any case ran")
            suite = None
    return cases_seen


def parse_selftests(output, tally):
    """TAP from each selftest program, framed by run-selftests.sh with
    '# selftest: NAME' and '# selftest-exit: NAME RC'."""
    prog = None
    plan = None
    count = 0
    failed_in_prog = 0
    programs = 0
    for raw in output.splitlines():
        line = raw.rstrip("\r")
        m = re.match(r"^# selftest: (\S+)$", line)
        if m:
            prog, plan, count, failed_in_prog = m.group(1), None, 0, 0
            programs += 1
            continue
        if prog is None:
            continue
        m = re.match(r"^# selftest-time: (\S+) (\d+)$", line)
        if m:
            print(f"# time: selftest {m.group(1)}: {m.group(2)} s")
            continue
        m = re.match(r"^# selftest-exit: (\S+) (\d+)$", line)
        if m:
            rc = int(m.group(2))
            if plan is None:
                tally.add(False, f"selftest: {prog}", f"no TAP plan, exit status {rc}")
            elif count != plan:
                tally.add(False, f"selftest: {prog}", f"planned {plan} tests, ran {count}")
            elif rc != 0 and failed_in_prog == 0:
                tally.add(False, f"selftest: {prog}", f"exit status {rc} with every test ok")
            prog = None
            continue
        m = re.match(r"^1\.\.(\d+)", line)
        if m:
            plan = int(m.group(1))
            continue
        m = RESULT.match(line)
        if m:
            status, _, name, directive = m.groups()
            count += 1
            if directive is not None and directive.upper().startswith("SKIP"):
                print(f"skip - selftest: {prog}: {name.strip()} # {directive}")
                continue
            if status != "ok":
                failed_in_prog += 1
            tally.add(status == "ok", f"selftest: {prog}: {name.strip()}")
    if prog is not None:
        tally.add(False, f"selftest: {prog}", "did not finish")
    return programs


def parse_results(text, tally, path):
    """Lines 'ok - NAME' and 'FAIL - NAME' of a host-side part. A missing file is a failure: the
    part did not run."""
    if text is None:
        tally.add(False, f"check: results of {os.path.basename(path)}", "missing")
        return
    for line in text.splitlines():
        m = re.match(r"^(ok|FAIL) - (.*)$", line)
        if m:
            tally.add(m.group(1) == "ok", m.group(2))


def kmemleak_leaks(loaded, unloaded):
    """Leak reports that are the module's: from the scan made while it was loaded, those whose
    backtrace names it; from the scan after it was unloaded, those with a frame that no longer
    resolves to a symbol (its code is gone), or that name it."""
    leaks = []
    for text, bare_frames_count in ((loaded or "", False), (unloaded or "", True)):
        for block in re.split(r"(?m)^(?=unreferenced object )", text):
            if not block.startswith("unreferenced object"):
                continue
            frames = re.findall(r"\[<[0-9a-f]+>\]\s*(\S+)", block)
            ours = any("copy_range" in f for f in frames)
            if bare_frames_count:
                ours = ours or any(re.fullmatch(r"0x[0-9a-f]+", f) for f in frames)
            if ours:
                leaks.append(block.splitlines()[0])
    return leaks


def check_run(rundir, tally, expect_kunit, expect_selftests, kmemleak=False, umount=False):
    console = read(os.path.join(rundir, "console.log")) or ""
    output = read(os.path.join(rundir, "output.log")) or ""

    insmod = (read(os.path.join(rundir, "insmod.status")) or "").strip()
    tally.add(insmod == "0", "vm: copy_range.ko loads", f"insmod status {insmod or 'missing'}")

    suites = parse_kunit(console, tally)
    missing = [s for s in expect_kunit if s not in suites]
    tally.add(not missing, "kunit: every expected suite ran",
              "missing: " + ", ".join(missing) if missing else "")

    programs = parse_selftests(output, tally)
    tally.add(programs >= expect_selftests, "selftest: every program ran",
              f"{programs} of {expect_selftests}")

    status = (read(os.path.join(rundir, "status")) or "").strip()
    tally.add(status != "", "vm: test command finished before the timeout",
              "" if status else "no exit status: the VM hung or died")
    rmmod = (read(os.path.join(rundir, "rmmod.status")) or "").strip()
    tally.add(rmmod == "0", "vm: copy_range.ko unloads", f"rmmod status {rmmod or 'missing'}")
    if umount:
        unmounted = (read(os.path.join(rundir, "umount.status")) or "").strip()
        tally.add(unmounted == "0", "vm: every test filesystem unmounts at the end",
                  (read(os.path.join(rundir, "umount.failed")) or "no umount status").strip())

    if kmemleak:
        loaded = read(os.path.join(rundir, "kmemleak-loaded.txt"))
        unloaded = read(os.path.join(rundir, "kmemleak-unloaded.txt"))
        if loaded is None or unloaded is None:
            tally.add(False, "vm: kmemleak finds no leak of the module",
                      "no kmemleak scan (a kernel without CONFIG_DEBUG_KMEMLEAK?)")
        else:
            leaks = kmemleak_leaks(loaded, unloaded)
            tally.add(not leaks, "vm: kmemleak finds no leak of the module",
                      f"{len(leaks)} leaks: " + "; ".join(leaks[:3]))

    problems = [TIMESTAMP.sub("", l) for l in console.splitlines() if KERNEL_PROBLEMS.search(l)]
    tally.add(not problems, "vm: kernel log has no oops/WARN/BUG/KASAN/lockdep report",
              "; ".join(problems[:3]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rundir")
    ap.add_argument("--kunit-suite", action="append", default=[],
                    help="a KUnit suite that must have run")
    ap.add_argument("--selftests", type=int, default=0,
                    help="how many selftest programs must have run")
    ap.add_argument("--kmemleak", action="store_true",
                    help="the run scanned for leaks (kmemleak-*.txt): any of the module's fails")
    ap.add_argument("--umount", action="store_true",
                    help="the run unmounted its test filesystems at the end (umount.status)")
    ap.add_argument("--results", action="append", default=[],
                    help="a file of lines 'ok - NAME' / 'FAIL - NAME' from the host-side parts "
                         "(already printed as they ran): counted, and their failures listed again")
    args = ap.parse_args(argv)

    tally = Tally()
    check_run(args.rundir, tally, args.kunit_suite, args.selftests, args.kmemleak,
              args.umount)
    for passed, name, detail in tally.results:
        line = f"{'ok' if passed else 'FAIL'} - {name}"
        if detail and not passed:
            line += f" ({detail})"
        print(line)
    host = Tally()
    for path in args.results:
        parse_results(read(path), host, path)
    for passed, name, _ in host.results:
        if not passed:
            print(f"FAIL - {name} (reported above)")
    passed = tally.passed + host.passed
    failed = tally.failed + host.failed
    if tally.failed:
        print(f"check: kernel log and outputs kept in {args.rundir}", file=sys.stderr)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
