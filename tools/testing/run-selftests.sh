#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run-selftests.sh DIR... - runs inside the test VM: every executable
# *_test in each DIR, one after the other, each framed by
# "# selftest: NAME" and "# selftest-exit: NAME RC" for check-report.py.
# A program that runs longer than SELFTEST_TIMEOUT seconds is killed.

timeout_s=${SELFTEST_TIMEOUT:-300}
rc=0
for dir in "$@"; do
	for prog in "$dir"/*_test; do
		[ -x "$prog" ] || continue
		name=$(basename "$prog")
		echo "# selftest: $name"
		(cd /tmp && timeout --kill-after=5 "$timeout_s" "$prog")
		prc=$?
		echo "# selftest-exit: $name $prc"
		[ $prc = 0 ] || rc=1
	done
done
exit $rc
