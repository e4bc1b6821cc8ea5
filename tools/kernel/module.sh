#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# module.sh VARIANT [KBUILD ARGS...] - builds copy_range.ko against the
# VARIANT kernel (building that first if needed) and prints the kernel's
# build directory; the module lands in <that directory>/copy_range/<key of
# this checkout's path>/ (module-dir.sh).

set -euo pipefail

variant=${1:?usage: module.sh debug|plain [make args]}
shift
top=$(cd "$(dirname "$0")/../.." && pwd)
kdir=$("$top/tools/kernel/build.sh" "$variant")
. "$top/tools/kernel/module-dir.sh"
llvm=${LLVM:--19}
export LIBCLANG_PATH=${LIBCLANG_PATH:-/usr/lib/llvm-19/lib}

# Rust definitions of the ABI come from the C header.  bindgen reads it as a
# userspace program would, against the system's UAPI headers.
gen=$top/rust/uapi_generated.rs
hdr=$top/include/uapi/linux/copy_range.h
if [ ! -f "$gen" ] || [ "$hdr" -nt "$gen" ]; then
	bindgen "$hdr" --use-core --ctypes-prefix kernel::ffi --no-layout-tests \
		--allowlist-type 'copy_range_.*' --allowlist-var 'COPY_RANGE_.*' \
		--with-derive-default -o "$gen.tmp" -- -I"$top/include/uapi"
	mv "$gen.tmp" "$gen"
fi

make -C "$kdir" M="$top" MO="$(module_dir "$kdir")" LLVM="$llvm" RUSTC=rustc -s "$@" modules >&2
echo "$kdir"
