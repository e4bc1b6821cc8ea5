# SPDX-License-Identifier: GPL-2.0
#
# Sourced by module.sh and run-vm: where the module of this checkout is
# built against the kernel in $1.  Each checkout gets its own directory,
# keyed by its path, so two clones never pick up each other's objects
# (kbuild would call a module up to date against the other clone's sources).

module_dir() {
	local top
	top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	echo "$1/copy_range/$(printf '%s' "$top" | sha256sum | cut -c1-12)"
}
