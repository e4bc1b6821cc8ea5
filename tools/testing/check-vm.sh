#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check-vm.sh KDIR RUNDIR - the tests of "make check" that run in the VM:
# builds the selftests, the samples and the library's device tests on the
# host, then boots the debug kernel in KDIR once: KUnit runs when the module
# loads, then every selftest program, the crcp tree test, the library's
# tests, the power-cut test (within POWERCUT_BUDGET seconds), a short
# fixed-seed fuzz run as root and as nobody, and the fault injection walk
# (fault_walk, within FAULT_SECONDS), and the module is unloaded.  The run
# directory (kernel log, TAP)
# is kept in RUNDIR for check-report.py.  Prints a FAIL line for whatever
# could not be built; the VM's own results are in RUNDIR.

set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
kdir=${1:?usage: check-vm.sh KDIR RUNDIR}
rundir=${2:?usage: check-vm.sh KDIR RUNDIR}
cd "$top"

ksft=$kdir/source/tools/testing/selftests
make -s -C tools/testing/selftests/copy_range KSFT_DIR="$ksft" && make -s -C samples/c &&
	make -s -C tools/testing/fuzz && make -s -C tools/testing/fault ||
	echo "FAIL - selftests: build"
cargo build -q --release --manifest-path samples/Cargo.toml ||
	echo "FAIL - samples: release build"
# The library's example copy-range, for powercut_test.sh.
cargo build -q --release --examples --manifest-path samples/Cargo.toml ||
	echo "FAIL - samples: release build of the examples"
# The library's tests against the module (samples/copy_range/tests/device.rs),
# built here and run in the VM.  If the build fails, the VM gets a path that
# does not exist, and library_test.sh fails there too.
libtest=$(cargo test -q --release --no-run --manifest-path samples/Cargo.toml -p copy-range \
	--test device --message-format=json | python3 tools/testing/cargo-test-binary.py device) || {
	echo "FAIL - samples: build of the library's VM tests (cargo test --no-run --test device)"
	libtest=$top/samples/target/release/deps/device-not-built
}

# fault_walk and powercut_test keep to their budgets; the VM's time limit
# grows by as much.
fault_s=${FAULT_SECONDS:-300}
powercut_s=${POWERCUT_BUDGET:-300}
echo "check: booting the debug kernel (log: $rundir/console.log)" >&2
tools/vm/run-vm --kdir "$kdir" --keep "$rundir" \
	--timeout "${CHECK_TIMEOUT:-$((3000 + fault_s + powercut_s))}" -- \
	env SELFTEST_TIMEOUT=600 POWERCUT_BUDGET="$powercut_s" "$top/tools/testing/run-selftests.sh" \
	"$top/tools/testing/selftests/copy_range" \
	-- "$top/tools/testing/vm/crcp_tree_test.sh" "$top/samples/target/release/crcp" \
	-- "$top/tools/testing/vm/library_test.sh" "$libtest" \
	-- "$top/tools/testing/vm/powercut_test.sh" "$top/samples/target/release/examples/copy-range" "$top/samples/target/release/crcp" \
	-- "$top/tools/testing/fuzz/copy_range_fuzz" --seed 1 --seconds "${FUZZ_SECONDS:-60}" \
	-- "$top/tools/testing/fuzz/copy_range_fuzz" --seed 2 --seconds "${FUZZ_SECONDS:-60}" \
		--user nobody \
	-- "$top/tools/testing/fault/fault_walk" --budget "$fault_s" >&2
echo "check: VM exited with status $?" >&2
