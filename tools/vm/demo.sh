#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# demo.sh - runs inside the VM for "make run": shows copy_range at work.

set -e
echo "== kernel: $(uname -r), module:"
grep copy_range /proc/modules
echo "== device node:"
ls -l /dev/copy_range
grep ' copy_range$' /proc/misc | sed 's/^/misc minor /'
echo "== test filesystems:"
grep -E ' /mnt/(btrfs|xfs|ext4|tmpfs) ' /proc/mounts
