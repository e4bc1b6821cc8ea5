#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check-host.sh KSFT - the host-side tests of "make check", one line each:
# the harness's own tests, the benchmark report's, the userspace crates'
# cargo tests, and the proof that any checkout path works (a private copy
# of the checkout under /tmp runs crcp's tests and boots the VM with its own
# module build).  KSFT is the kernel's tools/testing/selftests.

set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
ksft=${1:?usage: check-host.sh KSFT}
cd "$top"
. tools/testing/check-lib.sh

runner harness python3 tools/testing/check_report_test.py -v
runner bench-report python3 tools/bench/report_test.py -v
runner cargo cargo test --manifest-path samples/Cargo.toml -q -- --format=pretty

# Any checkout path works: a copy of this checkout made the way an unlucky
# user would have it (under /tmp, which the guest covers with a scratch
# tmpfs; inside a 0700 directory; every file private, umask 077) runs
# crcp's command-line tests, which drop to nobody, and boots the VM with
# its own module build to run a selftest from there.  The kernel is the
# one already built.
anypath() {
	local base clone out rc
	base=$(mktemp -d /tmp/copy_range-anypath.XXXXXX) || return 1
	clone=$base/private/copy_range
	(umask 077 && mkdir -p "$clone" &&
		git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$clone") || return 1
	echo "check: a private copy of the checkout in $clone" >&2
	runner anypath env -C "$clone" cargo test -q --manifest-path samples/Cargo.toml \
		-p crcp --test cli -- --format=pretty
	out=$(cd "$clone" && umask 077 &&
		make -s -C tools/testing/selftests/copy_range KSFT_DIR="$ksft" >/dev/null &&
		tools/vm/run-vm --kdir "$(tools/kernel/module.sh debug 2>/dev/null)" --timeout 900 -- \
			"$clone/tools/testing/selftests/copy_range/device_test" 2>&1)
	rc=$?
	if [ $rc = 0 ] && grep -q '^# PASSED' <<<"$out"; then
		echo "ok - anypath: the VM runs a selftest and the module from $clone"
	else
		echo "FAIL - anypath: the VM runs a selftest and the module from $clone (status $rc)"
		printf '%s\n' "$out" | tail -20
	fi
	rm -rf "$base"
}
anypath || echo "FAIL - anypath: could not make a private copy of the checkout"
