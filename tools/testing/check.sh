#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check.sh - the test command behind "make check".
#
# 1. host-side tests (the harness's own tests, cargo test of the userspace
#    crates), 2. the kselftest-style programs, built on the host, 3. one boot
#    of the debug kernel that loads the module (KUnit runs on load), runs
#    every selftest and unloads it, 4. one line per test and "N passed,
#    N failed".  Exits 1 on any failure, kernel report, load/unload failure
#    or VM timeout.

set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cache=${COPY_RANGE_CACHE:-$HOME/.cache/copy_range}
cd "$top"

ksrc=$(tools/kernel/build.sh debug)/source || { echo "check: building the kernel failed"; echo "0 passed, 1 failed"; exit 1; }
# Rebuild the crate every time, so that its warnings are seen (and counted) every time.
. tools/kernel/module-dir.sh
rm -f "$(module_dir "$(dirname "$ksrc")")/rust/copy_range_main.o"
kdir=$(tools/kernel/module.sh debug CLIPPY=1 2>"$cache/module-build.log") || {
	cat "$cache/module-build.log"
	echo "check: building the module failed"
	echo "0 passed, 1 failed"
	exit 1
}
host_passed=0
host_failed=0
count_host() {
	# $1: a label, then the command.  Lines "ok - ..." / "FAIL - ..." come
	# from the runners' own verbose output.
	local label=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	local p f
	p=$(grep -cE ' \.\.\. ok$|^test .* \.\.\. ok$' <<<"$out")
	f=$(grep -cE ' \.\.\. (FAIL|ERROR|FAILED)$' <<<"$out")
	grep -E ' \.\.\. (ok|FAIL|ERROR|FAILED)$' <<<"$out" |
		sed -E "s/^(test )?(.*) \.\.\. ok$/ok - $label: \2/; s/^(test )?(.*) \.\.\. (FAIL|ERROR|FAILED)$/FAIL - $label: \2/; s/ \(__main__\.[^)]*\)//"
	if [ $rc != 0 ] && [ "$f" = 0 ]; then
		echo "FAIL - $label: runner exited $rc"
		printf '%s\n' "$out" | tail -20
		f=1
	fi
	host_passed=$((host_passed + p))
	host_failed=$((host_failed + f))
}

count_host harness python3 tools/testing/check_report_test.py -v
count_host bench-report python3 tools/bench/report_test.py -v

count_host cargo cargo test --manifest-path samples/Cargo.toml -q -- --format=pretty

# Style: each check is one test line.
lint() {
	local label=$1 out
	shift
	if out=$("$@" 2>&1); then
		echo "ok - lint: $label"
		host_passed=$((host_passed + 1))
	else
		echo "FAIL - lint: $label"
		printf '%s\n' "$out" | tail -20
		host_failed=$((host_failed + 1))
	fi
}
no_warnings() { ! grep -E '^(warning|error)' "$cache/module-build.log"; }
checkpatch() {
	local f rc=0
	for f in rust/*.c rust/*.h include/uapi/linux/*.h tools/testing/selftests/copy_range/*.[ch]; do
		"$ksrc/scripts/checkpatch.pl" --no-tree --quiet --ignore VOLATILE,ENOSYS -f "$f" || rc=1
	done
	return $rc
}
lint "module builds without rustc or clippy warnings (CLIPPY=1)" no_warnings
lint "module is rustfmt-clean" rustfmt --check --edition 2021 --config-path "$ksrc/.rustfmt.toml" \
	$(ls rust/*.rs rust/*/*.rs | grep -v _generated)
lint "C is checkpatch-clean" checkpatch
rst_clean() {
	python3 -c 'import sys, docutils.core
for path in sys.argv[1:]:
    docutils.core.publish_file(source_path=path, destination_path="/dev/null",
                               writer_name="null", settings_overrides={"halt_level": 2})' Documentation/*.rst
}
lint "Documentation is valid reStructuredText (docutils, warnings are errors)" rst_clean
lint "userspace is rustfmt-clean" cargo fmt --manifest-path samples/Cargo.toml --all --check
lint "userspace is clippy-clean" cargo clippy --manifest-path samples/Cargo.toml -q --all-targets -- -D warnings

ksft=$kdir/source/tools/testing/selftests
make -s -C tools/testing/selftests/copy_range KSFT_DIR="$ksft" && make -s -C samples/c || {
	echo "FAIL - selftests: build"
	host_failed=$((host_failed + 1))
}

suites=$(grep -rho --include=*.rs 'kunit_tests(\w*)' rust | sed 's/kunit_tests(\(.*\))/\1/')
cargo build -q --release --manifest-path samples/Cargo.toml || {
	echo "FAIL - samples: release build"
	host_failed=$((host_failed + 1))
}
# The library's tests against the module (samples/copy_range/tests/device.rs),
# built here and run in the VM; the binary's name holds a hash, which cargo's
# JSON messages give.  If the build fails, the VM gets a path that does not
# exist, and library_test.sh fails there too.
libtest=$(
	cargo test -q --release --no-run --manifest-path samples/Cargo.toml -p copy-range --test device \
		--message-format=json | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "device" and m.get("executable"):
        print(m["executable"])') && [ -n "$libtest" ] || {
	echo "FAIL - samples: build of the library's VM tests (cargo test --no-run --test device)"
	host_failed=$((host_failed + 1))
	libtest=$top/samples/target/release/deps/device-not-built
}
# The selftest programs, the crcp tree copy and the library's tests.
nprogs=$(($(ls tools/testing/selftests/copy_range/*_test.c | wc -l) + 2))
rundir=$cache/last-check
echo "check: booting the debug kernel (log: $rundir/console.log)"
tools/vm/run-vm --kdir "$kdir" --keep "$rundir" --timeout "${CHECK_TIMEOUT:-2400}" -- \
	env SELFTEST_TIMEOUT=600 "$top/tools/testing/run-selftests.sh" "$top/tools/testing/selftests/copy_range" \
	-- "$top/tools/testing/vm/crcp_tree_test.sh" "$top/samples/target/release/crcp" \
	-- "$top/tools/testing/vm/library_test.sh" "$libtest"
echo "check: VM exited with status $?"

# Any checkout path works: a copy of this checkout made the way an
# unlucky user would have it (under /tmp, which the guest covers with a
# scratch tmpfs; inside a 0700 directory; every file private, umask 077)
# runs crcp's command-line tests, which drop to nobody, and boots the VM
# with its own module build to run a selftest from there.  The kernel is
# the one built above.
anypath() {
	local base clone out rc
	base=$(mktemp -d /tmp/copy_range-anypath.XXXXXX) || return 1
	clone=$base/private/copy_range
	(umask 077 && mkdir -p "$clone" &&
		git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$clone") || return 1
	echo "check: a private copy of the checkout in $clone"
	count_host anypath env -C "$clone" cargo test -q --manifest-path samples/Cargo.toml \
		-p crcp --test cli -- --format=pretty
	out=$(cd "$clone" && umask 077 &&
		make -s -C tools/testing/selftests/copy_range KSFT_DIR="$ksft" >/dev/null &&
		tools/vm/run-vm --kdir "$(tools/kernel/module.sh debug 2>/dev/null)" --timeout 900 -- \
			"$clone/tools/testing/selftests/copy_range/device_test" 2>&1)
	rc=$?
	if [ $rc = 0 ] && grep -q '^# PASSED' <<<"$out"; then
		echo "ok - anypath: the VM runs a selftest and the module from $clone"
		host_passed=$((host_passed + 1))
	else
		echo "FAIL - anypath: the VM runs a selftest and the module from $clone (status $rc)"
		printf '%s\n' "$out" | tail -20
		host_failed=$((host_failed + 1))
	fi
	rm -rf "$base"
}
anypath || {
	echo "FAIL - anypath: could not make a private copy of the checkout"
	host_failed=$((host_failed + 1))
}

args=()
for s in $suites; do args+=(--kunit-suite "$s"); done
python3 tools/testing/check-report.py "$rundir" "${args[@]}" --selftests "$nprogs" --kmemleak --umount \
	--host-passed "$host_passed" --host-failed "$host_failed"
