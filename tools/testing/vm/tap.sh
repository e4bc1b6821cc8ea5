# SPDX-License-Identifier: GPL-2.0
#
# tap.sh - sourced by the VM-side test scripts: TAP test points and their
# counts.  ok/not_ok print one point; check DESC CMD... makes one from a
# command's status.  $n counts the points, $failed the failed ones.

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
