#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run-bench.sh BENCH [MAX_SIZE [CRCP [TREE_FILES [TREE_RUNS]]]] - runs inside
# the VM for "make bench": the copy benchmark on each test filesystem, the
# cost of one small call (call_cost, beside BENCH), the cost of a copy with
# many in flight by io_uring, jobs and threads (uring_cost, beside BENCH; its
# rows are call rows too), then, given crcp, the tree copy (tree-bench.sh);
# CSV on standard output.

set -u
bench=${1:?usage: run-bench.sh path/to/copy_bench [max size [path/to/crcp [files [runs]]]]}
max=${2:-$((256 << 20))}
crcp=${3:-}
echo "fs,method,size,runs,iters,wall_med_ns,wall_min_ns,wall_max_ns,cpu_med_ns"
for fs in btrfs xfs ext4 tmpfs; do
	mkdir -p "/mnt/$fs/bench"
	"$bench" "/mnt/$fs/bench" "$fs" "$max" || exit 1
	rm -rf "/mnt/$fs/bench"
done
echo "call,fs,method,case,iters,runs,med_ns,min_ns,max_ns"
for fs in btrfs xfs ext4 tmpfs; do
	mkdir -p "/mnt/$fs/calls"
	"$(dirname "$bench")/call_cost" "/mnt/$fs/calls" "$fs" || exit 1
	rm -rf "/mnt/$fs/calls"
done
for fs in btrfs xfs ext4 tmpfs; do
	mkdir -p "/mnt/$fs/inflight"
	"$(dirname "$bench")/uring_cost" "/mnt/$fs/inflight" "$fs" || exit 1
	rm -rf "/mnt/$fs/inflight"
done
[ -n "$crcp" ] || exit 0
# An empty count leaves tree-bench.sh's default.
"$(dirname "$0")/tree-bench.sh" "$crcp" "${4:-}" "${5:-}"
