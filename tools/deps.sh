#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Installs everything the kernel build, the module, the VM runner and the
# userspace crates need, on a fresh Debian 12 machine, as root.  Idempotent:
# once everything is present it only checks and returns in about a second.
#
# The Rust standard library source must be of exactly the version of the
# rustc that builds the kernel; Debian ships it in trixie-backports as
# rust-src.  The kernel source (linux-source-7.3) comes from the same suite.
# The suite is added with a low pin so that nothing else is upgraded from it.

set -euo pipefail

LLVM_VER=19
KSRC_PKG=linux-source-7.3
KSRC_TAR=/usr/src/linux-source-7.3.tar.xz
RUST_LIB_SRC_DIR=/usr/lib/rustlib/src/rust/library

say() { printf 'deps: %s\n' "$*" >&2; }
die() { printf 'deps: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (apt-get and cargo install need it)"
command -v rustc >/dev/null || die "no rustc on PATH; install a Rust toolchain (rustup) first"

rustc_ver=$(rustc --version | awk '{print $2}')

have_pkgs() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || return 1
	done
}

BASE_PKGS=(build-essential flex bison bc libelf-dev libssl-dev cpio kmod
	busybox-static btrfs-progs xfsprogs e2fsprogs attr
	"clang-$LLVM_VER" "lld-$LLVM_VER" "llvm-$LLVM_VER" "libclang-$LLVM_VER-dev"
	python3 python3-docutils rsync tmux
	libfuse3-dev fuse3 dmsetup util-linux
	liburing-dev)

apt_updated=0
apt_update() {
	if [ $apt_updated = 0 ]; then
		say "apt-get update"
		apt-get update -qq >/dev/null
		apt_updated=1
	fi
}

# 1. trixie-backports and bookworm-backports, pinned low.  The machine image
#    may carry qemu-utils from bookworm-backports, which breaks bookworm's
#    qemu-system-x86, so QEMU comes from bookworm-backports too.
SOURCES=/etc/apt/sources.list.d/copy-range-backports.sources
if [ ! -f $SOURCES ]; then
	say "adding trixie-backports and bookworm-backports (pin 100)"
	cat > $SOURCES <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie-backports bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	cat > /etc/apt/preferences.d/copy-range-backports <<'PIN'
Package: *
Pin: release n=trixie-backports
Pin-Priority: 100

Package: *
Pin: release n=bookworm-backports
Pin-Priority: 100
PIN
	apt_update
fi

# 2. Base packages from bookworm.
if ! have_pkgs "${BASE_PKGS[@]}"; then
	apt_update
	say "installing ${BASE_PKGS[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${BASE_PKGS[@]}" >/dev/null
fi

if ! have_pkgs qemu-system-x86; then
	apt_update
	say "installing qemu-system-x86 from bookworm-backports"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		-t bookworm-backports qemu-system-x86 >/dev/null
fi

# 3. Kernel source.
if [ ! -f "$KSRC_TAR" ]; then
	apt_update
	say "installing $KSRC_PKG from trixie-backports"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		-t trixie-backports "$KSRC_PKG" >/dev/null
fi
[ -f "$KSRC_TAR" ] || die "$KSRC_PKG did not install $KSRC_TAR"

# 4. rust-src of exactly this rustc's version.
src_ok() {
	[ -f "$RUST_LIB_SRC_DIR/core/src/lib.rs" ] &&
		dpkg-query -W -f='${Version}' rust-src 2>/dev/null | grep -q "^$rustc_ver+"
}
if ! src_ok; then
	apt_update
	cand=$(apt-cache madison rust-src | awk -v v="$rustc_ver+" 'index($3, v) == 1 {print $3; exit}')
	[ -n "$cand" ] || die "no Debian rust-src package matches rustc $rustc_ver.
  The kernel needs the standard library source of the exact rustc that builds it.
  Either install a rustc whose version has a rust-src in trixie-backports
  ('apt-cache madison rust-src' lists them), or use Debian's rustc-web +
  rust-web-src pair and pass RUSTC=/usr/bin/rustc RUST_LIB_SRC=/usr/src/rustc-<ver>/library."
	say "installing rust-src=$cand"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"rust-src=$cand" >/dev/null
	src_ok || die "rust-src=$cand did not provide $RUST_LIB_SRC_DIR for rustc $rustc_ver"
fi

# 5. bindgen (bookworm's is too old, trixie's wants a newer libc).
if ! command -v bindgen >/dev/null; then
	say "cargo install --locked bindgen-cli (about 2 minutes)"
	cargo install --locked -q bindgen-cli
fi

say "ok: rustc $rustc_ver, rust-src $(dpkg-query -W -f='${Version}' rust-src)," \
	"$(bindgen --version), clang-$LLVM_VER, $(qemu-system-x86_64 --version | head -1)"
