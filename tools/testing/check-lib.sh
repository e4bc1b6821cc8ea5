# SPDX-License-Identifier: GPL-2.0
#
# Sourced by the parts of "make check": how a part reports one test.  Each
# part prints lines "ok - LABEL: NAME" or "FAIL - LABEL: NAME" (with the
# failure's output after a FAIL) on its standard output, which check.sh
# keeps; check-report.py counts them with the VM's results.

# result PASSED LABEL: prints one line.
result() {
	if [ "$1" = 0 ]; then
		echo "ok - $2"
	else
		echo "FAIL - $2"
	fi
}

# runner LABEL CMD...: a test runner's verbose output (Python's unittest,
# cargo test --format=pretty) turned into one line per test.  A runner that
# fails without naming a failed test is a failure of its own.
runner() {
	local label=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	grep -E ' \.\.\. (ok|FAIL|ERROR|FAILED)$' <<<"$out" |
		sed -E "s/^(test )?(.*) \.\.\. ok$/ok - $label: \2/; s/^(test )?(.*) \.\.\. (FAIL|ERROR|FAILED)$/FAIL - $label: \2/; s/ \(__main__\.[^)]*\)//"
	if [ $rc != 0 ] && ! grep -qE ' \.\.\. (FAIL|ERROR|FAILED)$' <<<"$out"; then
		echo "FAIL - $label: runner exited $rc"
		printf '%s\n' "$out" | tail -20
	elif [ $rc != 0 ]; then
		printf '%s\n' "$out" | grep -vE ' \.\.\. ok$' | tail -40
	fi
}

# check LABEL CMD...: one test line from a command's status; its output
# after a failure.
check() {
	local label=$1 out
	shift
	if out=$("$@" 2>&1); then
		echo "ok - $label"
	else
		echo "FAIL - $label"
		printf '%s\n' "$out" | tail -20
	fi
}
