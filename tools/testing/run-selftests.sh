#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run-selftests.sh DIR... [-- PROGRAM ARGS...] - runs inside the test VM:
# every executable *_test in each DIR, then PROGRAM with ARGS if given, one
# after the other, each framed by "# selftest: NAME" and
# "# selftest-exit: NAME RC" for check-report.py.  A program that runs
# longer than SELFTEST_TIMEOUT seconds is killed.

timeout_s=${SELFTEST_TIMEOUT:-300}
rc=0

run() {
	local name=$1 prc
	shift
	echo "# selftest: $name"
	(cd /tmp && timeout --kill-after=5 "$timeout_s" "$@")
	prc=$?
	echo "# selftest-exit: $name $prc"
	[ $prc = 0 ] || rc=1
}

while [ $# -gt 0 ] && [ "$1" != -- ]; do
	for prog in "$1"/*_test; do
		[ -x "$prog" ] && run "$(basename "$prog")" "$prog"
	done
	shift
done
if [ "${1:-}" = -- ] && [ $# -gt 1 ]; then
	shift
	run "$(basename "$1" .sh)" "$@"
fi
exit $rc
