#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run-selftests.sh DIR... [-- PROGRAM ARGS...]... - runs inside the test VM:
# every executable *_test in each DIR, then each PROGRAM with its ARGS (one
# "--" before each), one after the other, each framed by "# selftest: NAME"
# and "# selftest-exit: NAME RC" for check-report.py.  A program that runs
# longer than SELFTEST_TIMEOUT seconds is killed.

timeout_s=${SELFTEST_TIMEOUT:-300}
rc=0

run() {
	local name=$1 prc start=$SECONDS
	shift
	echo "# selftest: $name"
	(cd /tmp && timeout --kill-after=5 "$timeout_s" "$@")
	prc=$?
	echo "# selftest-time: $name $((SECONDS - start))"
	echo "# selftest-exit: $name $prc"
	[ $prc = 0 ] || rc=1
}

while [ $# -gt 0 ] && [ "$1" != -- ]; do
	for prog in "$1"/*_test; do
		[ -x "$prog" ] && run "$(basename "$prog")" "$prog"
	done
	shift
done
while [ "${1:-}" = -- ]; do
	shift
	cmd=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		cmd+=("$1")
		shift
	done
	[ ${#cmd[@]} -gt 0 ] && run "$(basename "${cmd[0]}" .sh)" "${cmd[@]}"
done
exit $rc
