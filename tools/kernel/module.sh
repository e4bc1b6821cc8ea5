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

mo=$(module_dir "$kdir")
kmake=(make -C "$kdir" M="$top" MO="$mo" LLVM="$llvm" RUSTC=rustc -s)

# Rust declarations of the module's C helpers, from their header as the C
# compiler sees it: bindgen reads helpers.c preprocessed with the kernel's
# own flags (kbuild's %.i rule) and emits only the helpers' prototypes;
# the kernel types they use come from kernel::bindings.
gen=$top/rust/helpers_generated.rs
if [ ! -f "$gen" ] || [ "$top/rust/helpers.h" -nt "$gen" ] || [ "$top/rust/helpers.c" -nt "$gen" ]; then
	"${kmake[@]}" rust/helpers.i >&2
	bindgen "$mo/rust/helpers.i" --use-core --ctypes-prefix kernel::ffi --no-layout-tests \
		--no-recursive-allowlist --allowlist-function 'copy_range_.*|anon_inode_getfile' \
		--allowlist-type 'copy_range_.*' --allowlist-var 'COPY_RANGE_.*' \
		-o "$gen.tmp" -- -x c --target=x86_64-linux-gnu -std=gnu11 -fms-extensions -w >&2
	mv "$gen.tmp" "$gen"
fi

"${kmake[@]}" "$@" modules >&2
echo "$kdir"
