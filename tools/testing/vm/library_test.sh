#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# library_test.sh TEST-BINARY - runs inside the copy_range test VM (module
# loaded, scratch filesystems on /mnt/{btrfs,xfs,ext4,tmpfs}).  Runs the
# userspace library's tests against /dev/copy_range (the cargo test binary of
# samples/copy_range/tests/device.rs) one at a time and turns libtest's
# output into TAP: the plan, then "ok N - NAME" or "not ok N - NAME" per
# test, libtest's other output (failure messages) as "#" diagnostics.
# Exits non-zero if any test failed or did not report, or if the binary is
# missing or holds no test: a missing binary is a failure, never a skip.
#
#   cargo test --release --no-run --manifest-path samples/Cargo.toml \
#       -p copy-range --test device        # prints the binary's path
#   make vm CMD="$PWD/tools/testing/vm/library_test.sh $PWD/samples/target/release/deps/device-..."

set -u
shopt -s lastpipe # the parsing loop below runs in this shell and keeps its counts
bin=${1:?usage: library_test.sh path/to/test-binary}
# Libtest gets a little less than run-selftests.sh's SELFTEST_TIMEOUT (300
# unless set), so that a hang is reported test by test here instead of as a
# program killed in mid-output.
timeout_s=${LIBRARY_TEST_TIMEOUT:-$((${SELFTEST_TIMEOUT:-300} - 30))}

# The tests skip when the device or a scratch filesystem is missing, unless
# this is set: here that would be a broken VM, and must fail.
export COPY_RANGE_VM=1

bail() {
	echo "Bail out! $*"
	exit 1
}
if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
	bail "$bin is not an executable (did cargo test --no-run fail?)"
fi

# The plan comes first, from the list of tests: --include-ignored because
# the tests are #[ignore]d for the host's plain cargo test, which has no module.
list=$("$bin" --list --include-ignored 2>&1) || bail "$bin --list failed: $list"
names=()
while IFS= read -r line; do
	case $line in *': test') names+=("${line%: test}") ;; esac
done <<<"$list"
[ ${#names[@]} -gt 0 ] || bail "$bin holds no test"
echo "TAP version 13"
echo "1..${#names[@]}"
echo "# $(uname -r); $bin"

declare -A reported
n=0 failed=0
result() {
	# $1: ok or "not ok", $2: the test's name, $3: an optional note.
	n=$((n + 1))
	[ "$1" = ok ] || failed=$((failed + 1))
	echo "$1 $n - $2${3:+ ($3)}"
	reported[$2]=1
}

# One test at a time: they share the scratch filesystems, and a cancel test
# wants the machine to itself to catch its job running.  --show-output: what
# passing tests print (where a cancel stopped) goes to the log too.
timeout --kill-after=10 "$timeout_s" "$bin" --include-ignored --test-threads=1 --show-output 2>&1 |
	while IFS= read -r line || [ -n "$line" ]; do
		# (A killed binary leaves "test NAME ... " without a newline.)
		case $line in
		'test '*' ... ok')
			t=${line#test }
			result ok "${t% ... ok}"
			;;
		'test '*' ... FAILED')
			t=${line#test }
			result "not ok" "${t% ... FAILED}"
			;;
		'test '*' ... ignored'*)
			# --include-ignored runs everything: an ignored test here did not run.
			t=${line#test }
			result "not ok" "${t%% ... ignored*}" "ignored"
			;;
		'')
			;;
		*)
			# Two spaces after "#": nothing libtest prints can then pass for
			# run-selftests.sh's "# selftest: NAME" framing.
			echo "#  $line"
			;;
		esac
	done
rc=${PIPESTATUS[0]}
[ "$rc" = 124 ] && echo "#  the test binary timed out after $timeout_s s"

# A test that never reported (a crash, a timeout) is a failure too.
for t in "${names[@]}"; do
	[ -n "${reported[$t]:-}" ] || result "not ok" "$t" "no result: the test binary exited with status $rc"
done
echo "# $failed of $n failed; test binary exit status $rc"
[ "$failed" = 0 ] && [ "$rc" = 0 ]
