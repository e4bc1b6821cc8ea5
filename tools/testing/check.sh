#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check.sh - the test command behind "make check".
#
# Builds the debug kernel (cached) and the module, then runs the three
# parts, each printing one line per test:
#   check-lint.sh   style: the module's warnings, rustfmt, checkpatch, docs
#   check-host.sh   host-side tests, and a private copy of the checkout
#   check-vm.sh     one boot of the debug kernel: KUnit, every selftest
# and check-report.py counts them all (with the VM's kernel log: any oops,
# WARN, BUG, KASAN, lockdep, hung task or kmemleak report of the module,
# load or unload failure, filesystem left busy, or VM timeout fails the
# run) and ends with "N passed, N failed".  Exits 1 on any failure.

set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cache=${COPY_RANGE_CACHE:-$HOME/.cache/copy_range}
cd "$top"

fail() { echo "check: $*"; echo "0 passed, 1 failed"; exit 1; }

phase() { echo "# time: $1: $((SECONDS - phase_start)) s"; phase_start=$SECONDS; }
phase_start=$SECONDS
kdir=$(tools/kernel/build.sh debug) || fail "building the kernel failed"
phase "debug kernel (built or found in the cache)"
# Rebuild the crate every time, so that its warnings are seen (and counted) every time.
. tools/kernel/module-dir.sh
rm -f "$(module_dir "$kdir")/rust/copy_range_main.o"
tools/kernel/module.sh debug CLIPPY=1 >/dev/null 2>"$cache/module-build.log" || {
	cat "$cache/module-build.log"
	fail "building the module failed"
}

rundir=$cache/last-check
results=$cache/check-results
mkdir -p "$results"
phase "module"
tools/testing/check-lint.sh "$kdir/source" "$cache/module-build.log" | tee "$results/lint"
phase "lint"
tools/testing/check-host.sh "$kdir/source/tools/testing/selftests" | tee "$results/host"
phase "host tests"
tools/testing/check-vm.sh "$kdir" "$rundir" | tee "$results/vm-build"
phase "VM (build of the tests, boot, every test)"

suites=$(grep -rho --include=*.rs 'kunit_tests(\w*)' rust | sed 's/kunit_tests(\(.*\))/\1/')
args=()
for s in $suites; do args+=(--kunit-suite "$s"); done
# Every selftest program, plus crcp_tree_test, library_test, powercut_test,
# two fuzz runs and fault_walk.
nprogs=$(($(ls tools/testing/selftests/copy_range/*_test.c | wc -l) + 6))
python3 tools/testing/check-report.py "$rundir" "${args[@]}" --selftests "$nprogs" \
	--kmemleak --umount \
	--results "$results/lint" --results "$results/host" --results "$results/vm-build"
