#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check-lint.sh KSRC BUILD_LOG - the style checks of "make check", one test
# line each: the module's build (rustc and clippy warnings, from BUILD_LOG),
# rustfmt, checkpatch, the documentation, the userspace crates' fmt and
# clippy.  KSRC is the kernel source (its checkpatch and .rustfmt.toml).

set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
ksrc=${1:?usage: check-lint.sh KSRC BUILD_LOG}
build_log=${2:?usage: check-lint.sh KSRC BUILD_LOG}
cd "$top"
. tools/testing/check-lib.sh

no_warnings() { ! grep -E '^(warning|error)' "$build_log"; }
checkpatch() {
	local f rc=0
	for f in rust/*.c rust/*.h include/uapi/linux/*.h tools/testing/selftests/copy_range/*.[ch] \
		$(ls tools/testing/*/*.c 2>/dev/null); do
		"$ksrc/scripts/checkpatch.pl" --no-tree --quiet --ignore VOLATILE,ENOSYS -f "$f" || rc=1
	done
	return $rc
}
check "lint: module builds without rustc or clippy warnings (CLIPPY=1)" no_warnings
check "lint: module is rustfmt-clean" rustfmt --check --edition 2021 \
	--config-path "$ksrc/.rustfmt.toml" $(ls rust/*.rs rust/*/*.rs | grep -v _generated)
check "lint: C is checkpatch-clean" checkpatch
check "lint: Documentation is valid reStructuredText (docutils, warnings are errors)" \
	python3 tools/testing/rst-check.py Documentation/*.rst
check "lint: userspace is rustfmt-clean" cargo fmt --manifest-path samples/Cargo.toml --all --check
check "lint: userspace is clippy-clean" \
	cargo clippy --manifest-path samples/Cargo.toml -q --all-targets -- -D warnings
