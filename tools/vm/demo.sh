#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# demo.sh TOOL - runs inside the VM for "make run": copies one file on btrfs
# with each sharing policy and shows the time, what got shared (FIEMAP via
# filefrag) and which implementation served each copy (debugfs counters).

set -e
tool=${1:?usage: demo.sh path/to/copy-range}
size_mib=${DEMO_MIB:-256}
dir=/mnt/btrfs/demo
mkdir -p "$dir"

echo "== $(uname -sr); $(grep copy_range /proc/modules | cut -d' ' -f1-2)"
ls -l /dev/copy_range
echo
echo "== a ${size_mib} MiB source on btrfs"
xfs_io -f -c "pwrite -q -b 4m -S 0x5a 0 ${size_mib}m" -c fsync "$dir/src"
echo

shared_extents() {
	# Extents of $1 whose FIEMAP flags include "shared", out of all of them.
	local total shared
	total=$(filefrag -v "$1" | grep -cE '^ +[0-9]+:')
	shared=$(filefrag -v "$1" | grep -E '^ +[0-9]+:' | grep -c shared || true)
	echo "$shared of $total extents shared"
}

echo "== copy_range(src, 0, dst, 0, ${size_mib} MiB, flags), then fsync"
for policy in "" --allow --require; do
	policy_name=${policy#--}
	name=dst-${policy_name:-none}
	"$tool" $policy "$dir/src" "$dir/$name" | sed 's/^/   /'
	cmp "$dir/src" "$dir/$name"
	printf '   %-10s identical to src; %s\n' "$name" "$(shared_extents "$dir/$name")"
done
echo
echo "== which implementation served them (/sys/kernel/debug/copy_range/stats)"
cat /sys/kernel/debug/copy_range/stats
echo
echo "== and on ext4, which cannot share: --require fails, nothing is copied"
cp "$dir/src" /mnt/ext4/src
if "$tool" --require /mnt/ext4/src /mnt/ext4/dst; then
	echo "unexpected success" >&2
	exit 1
fi
echo "   dst is $(stat -c %s /mnt/ext4/dst) bytes"
