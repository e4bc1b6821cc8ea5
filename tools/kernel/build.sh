#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build.sh VARIANT - builds the Linux kernel the module runs on, in a cache
# outside the checkout, and prints the build directory (the module's KDIR).
#
# VARIANT is "debug" (KASAN, lockdep, ...; used by "make check") or "plain"
# (used by "make run" and the benchmarks).  The cache key is the kernel
# source version, the config fragments, rustc's and clang's versions, so a
# second run with the same inputs rebuilds nothing.

set -euo pipefail

variant=${1:?usage: build.sh debug|plain}
here=$(cd "$(dirname "$0")" && pwd)
cache=${COPY_RANGE_CACHE:-$HOME/.cache/copy_range}
ksrc_tar=/usr/src/linux-source-7.3.tar.xz
llvm=${LLVM:--19}
rust_lib_src=${RUST_LIB_SRC:-/usr/lib/rustlib/src/rust/library}
export LIBCLANG_PATH=${LIBCLANG_PATH:-/usr/lib/llvm-19/lib}

say() { printf 'kernel: %s\n' "$*" >&2; }
die() { printf 'kernel: error: %s\n' "$*" >&2; exit 1; }

case $variant in
debug) fragments=("$here/base.config" "$here/debug.config") ;;
plain) fragments=("$here/base.config") ;;
*) die "unknown variant '$variant' (debug or plain)" ;;
esac

[ -f "$ksrc_tar" ] || die "$ksrc_tar missing: run 'make deps'"
kpkg=$(dpkg-query -W -f='${Version}' linux-source-7.3)
key=$( { echo "$kpkg"; cat "${fragments[@]}"; rustc --version; "clang$llvm" --version | head -1; } |
	sha256sum | cut -c1-12)
src=$cache/src/linux-$(echo "$kpkg" | tr -c "A-Za-z0-9.\n" _)
out=$cache/kernel/$variant-$key

if [ -f "$out/.copy_range-built" ]; then
	echo "$out"
	exit 0
fi

mkdir -p "$cache/src" "$cache/kernel"
# One build of a variant at a time: a second caller (make vm while make
# check builds, two clones) waits for the first and then finds it built.
exec 9>"$cache/kernel/$variant.lock"
flock 9
if [ -f "$out/.copy_range-built" ]; then
	echo "$out"
	exit 0
fi
if [ ! -f "$src/.copy_range-extracted" ]; then
	say "extracting $ksrc_tar into $src"
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -xf "$ksrc_tar" -C "$src.tmp" --strip-components=1
	touch "$src.tmp/.copy_range-extracted"
	mv "$src.tmp" "$src"
fi

kmake=(make -C "$src" O="$out" ARCH=x86_64 LLVM="$llvm" RUSTC=rustc
	RUST_LIB_SRC="$rust_lib_src" -s)

rm -rf "$out"
mkdir -p "$out"
"${kmake[@]}" rustavailable >/dev/null 2>&1 || {
	"${kmake[@]}" rustavailable || true
	die "the kernel says Rust is not available with this toolchain (see above); run 'make deps'"
}
"${kmake[@]}" tinyconfig >/dev/null
"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${fragments[@]}" >/dev/null
"${kmake[@]}" olddefconfig >/dev/null

# Kconfig silently drops an option whose dependencies are not met; a dropped
# option here means a kernel that cannot run the tests, so stop early.
missing=()
while IFS= read -r line; do
	case $line in
	CONFIG_*=n) opt=${line%%=*}
		grep -q "^$opt=" "$out/.config" && missing+=("$line") ;;
	CONFIG_*=*) grep -qx "$line" "$out/.config" || missing+=("$line") ;;
	esac
done < <(cat "${fragments[@]}")
[ ${#missing[@]} = 0 ] || die "options dropped by Kconfig (unmet dependencies): ${missing[*]}"

say "building the $variant kernel in $out (first time here: about 19 (plain) or 27 (debug) minutes)"
start=$(date +%s)
"${kmake[@]}" -j"$(($(nproc) + 1))" >"$out/build.log" 2>&1 || {
	tail -30 "$out/build.log" >&2
	die "kernel build failed; full log in $out/build.log"
}
touch "$out/.copy_range-built"
say "built in $(($(date +%s) - start)) s"
echo "$out"
