#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tree-bench.sh CRCP [FILES] [RUNS] - runs inside the VM for "make bench",
# after copy_bench: copies a tree of FILES small files (default 2000, 0-16 KiB
# each, in 50 directories) with cp -R and crcp -R, on each test filesystem,
# RUNS times per method (default 3).  No large files: the point is the cost
# per file, which is what a tool with jobs in flight is meant to hide.
#
# CSV on standard output, one row per filesystem and method:
#
#   tree,fs,method,files,bytes,runs,wall_med_ns,wall_min_ns,wall_max_ns,
#       cpu_med_ns,nosync_wall_med_ns,nosync_cpu_med_ns
#
# A sample is the copy command and then syncfs(2) of the filesystem ("sync
# -f"): crcp makes files durable before linking them in (a syncfs per batch
# of up to 64) and cp does not sync, so only "the tree is on disk" compares
# like with like.  The nosync_ columns
# stop at the command's exit, for reference.  cpu is the whole machine's
# busy time from /proc/stat, as in copy_bench: the module's jobs run in
# kernel workers, which no "user+sys of the children" would count.
# A method that cannot work on a filesystem (--reflink=always where it
# cannot share) gets a row with runs 0 and empty times.
#
# Every copy is checked (file count and bytes; diff -r on the first run of
# each method) outside the timing; any failure ends the script with status 1.
# TREE_BENCH_VERBOSE=1 prints every sample on standard error.

set -u
crcp=${1:?usage: tree-bench.sh path/to/crcp [files] [runs]}
nfiles=${2:-2000}
runs=${3:-3}
[ -x "$crcp" ] || { echo "tree-bench: $crcp is not executable" >&2; exit 1; }

methods="cp cp_reflink_always cp_reflink_never crcp_j1 crcp_j16 crcp_j16_reflink_always crcp_j16_reflink_never"
hz=$(getconf CLK_TCK)
ncpus=$(nproc)
log=/tmp/tree-bench.log

# copy METHOD SRC DST.  Standard output and error go to a file: on the VM's
# serial console crcp would draw its progress bar, and we would time it.
copy() {
	local m=$1 src=$2 dst=$3
	case $m in
	cp) cp -R "$src" "$dst" ;;
	cp_reflink_always) cp -R --reflink=always "$src" "$dst" ;;
	cp_reflink_never) cp -R --reflink=never "$src" "$dst" ;;
	crcp_j1) "$crcp" -R -j 1 "$src" "$dst" ;;
	crcp_j16) "$crcp" -R -j 16 "$src" "$dst" ;;
	crcp_j16_reflink_always) "$crcp" -R -j 16 --reflink=always "$src" "$dst" ;;
	crcp_j16_reflink_never) "$crcp" -R -j 16 --reflink=never "$src" "$dst" ;;
	*) echo "tree-bench: unknown method $m" >&2; return 2 ;;
	esac >"$log" 2>&1
}

# The clocks, read without forking: a fork costs milliseconds under TCG.
# now_ns: wall clock ($EPOCHREALTIME has microseconds).  busy_ns: the whole
# machine's busy time, user+nice+system+irq+softirq (copy_bench's busy_ns).
now_ns() {
	local t=$EPOCHREALTIME
	NOW=$((10#${t//[!0-9]/} * 1000))
}
busy_ns() {
	local _ user nice system irq softirq
	# cpu user nice system idle iowait irq softirq steal ...
	read -r _ user nice system _ _ irq softirq _ </proc/stat
	BUSY=$(((user + nice + system + irq + softirq) * (1000000000 / hz)))
}

# Waits (2 s at most) for a fifth of a second in which the machine is all
# but idle (under 10% busy), so that background work left by the previous
# sample's clean-up (btrfs discards, say) is not charged to the next one.
settle() {
	local c
	for _ in $(seq 10); do
		busy_ns; c=$BUSY
		sleep 0.2
		busy_ns
		[ $((BUSY - c)) -lt $((ncpus * 20000000)) ] && return
	done
	echo "# tree-bench: the machine did not settle ($(((BUSY - c) / 1000000)) ms busy in 0.2 s)" >&2
}

# Files and bytes under $1, to check a copy quickly.
summary() {
	find "$1" -type f -printf '%s\n' | awk '{ n++; b += $1 } END { printf "%d %.0f\n", n, b }'
}

fail() {
	echo "tree-bench: FAIL: $*" >&2
	[ -s "$log" ] && sed 's/^/tree-bench:   /' "$log" | tail -20 >&2
	exit 1
}

# median FILE: the middle of the numbers in FILE (the upper one of an even
# count, as copy_bench does), then min and max.
stats() {
	sort -n "$1" | awk '{ v[NR] = $1 } END { printf "%s,%s,%s", v[int(NR / 2) + 1], v[1], v[NR] }'
}
median() { stats "$1" | cut -d, -f1; }

echo "tree,fs,method,files,bytes,runs,wall_med_ns,wall_min_ns,wall_max_ns,cpu_med_ns,nosync_wall_med_ns,nosync_cpu_med_ns"
echo "# tree-bench: $(uname -r), $ncpus CPUs, $nfiles files, $runs runs; $crcp" >&2
for fs in btrfs xfs ext4 tmpfs; do
	top=/mnt/$fs/tree-bench
	src=$top/src dst=$top/dst
	rm -rf "$top"
	mkdir -p "$top"
	t0=$SECONDS
	# The tree: sizes uniform in 0..16 KiB, random content (a fixed seed, so
	# every run and filesystem copies the same bytes).
	bytes=$(python3 - "$src" "$nfiles" <<'EOF'
import os, random, sys
root, nfiles = sys.argv[1], int(sys.argv[2])
rng = random.Random(6)
for d in range(50):
    os.makedirs(f"{root}/d{d:02}")
total = 0
for i in range(nfiles):
    size = rng.randrange(16 * 1024 + 1)
    with open(f"{root}/d{i % 50:02}/f{i:05}", "wb") as f:
        f.write(rng.randbytes(size))
    total += size
print(total)
EOF
	) || fail "$fs: making the tree"
	# Written back now, so that no sample pays for the source's writeback;
	# the pages stay cached (a cached source, as in copy_bench), and reading
	# the tree once makes sure of it.
	sync
	want=$(summary "$src")
	[ "$want" = "$nfiles $bytes" ] || fail "$fs: the tree has $want files and bytes, not $nfiles $bytes"
	cat "$src"/*/* >/dev/null

	# Can this filesystem share extents at all?  Decided by cp, so a crcp
	# --reflink=always that fails where cp's succeeds is a failure.
	head -c 4096 /dev/zero >"$top/probe"
	can_share=0
	cp --reflink=always "$top/probe" "$top/probe.clone" 2>/dev/null && can_share=1
	rm -f "$top/probe" "$top/probe.clone"
	echo "# tree-bench: $fs: $nfiles files, $bytes bytes, made in $((SECONDS - t0)) s; can share extents: $can_share" >&2

	todo=
	for m in $methods; do
		rm -f "/tmp/tree-$m".*
		if [ $can_share = 0 ] && [[ $m == *reflink_always ]]; then
			echo "tree,$fs,$m,$nfiles,$bytes,0,,,,,,"
		else
			todo="$todo $m"
		fi
	done
	# Runs interleave the methods, so that a slow drift (the filesystem
	# filling up, a background flush) spreads over all of them.
	t0=$SECONDS
	for r in $(seq 1 "$runs"); do
		for m in $todo; do
			settle
			busy_ns; c0=$BUSY
			now_ns; w0=$NOW
			copy "$m" "$src" "$dst" || fail "$fs: $m, run $r: exit status $?"
			now_ns; w1=$NOW
			busy_ns; c1=$BUSY
			sync -f "$dst" || fail "$fs: $m, run $r: sync -f"
			now_ns; w2=$NOW
			busy_ns; c2=$BUSY
			echo $((w2 - w0)) >>"/tmp/tree-$m.wall"
			echo $((c2 - c0)) >>"/tmp/tree-$m.cpu"
			echo $((w1 - w0)) >>"/tmp/tree-$m.nosync_wall"
			echo $((c1 - c0)) >>"/tmp/tree-$m.nosync_cpu"
			[ -n "${TREE_BENCH_VERBOSE:-}" ] &&
				echo "# tree-bench: $fs $m run $r: wall $(((w2 - w0) / 1000000)) ms, cpu $(((c2 - c0) / 1000000)) ms; to exit $(((w1 - w0) / 1000000)) ms, cpu $(((c1 - c0) / 1000000)) ms" >&2
			got=$(summary "$dst")
			[ "$got" = "$want" ] || fail "$fs: $m, run $r: the copy has $got files and bytes, not $want"
			if [ "$r" = 1 ]; then
				diff -r "$src" "$dst" >"$log" 2>&1 || fail "$fs: $m: diff -r finds differences"
			fi
			rm -rf "$dst"
			sync
			now_ns
			[ -n "${TREE_BENCH_VERBOSE:-}" ] &&
				echo "# tree-bench: $fs $m run $r: check and clean-up $(((NOW - w2) / 1000000)) ms" >&2
		done
	done
	for m in $todo; do
		echo "tree,$fs,$m,$nfiles,$bytes,$runs,$(stats "/tmp/tree-$m.wall"),$(median "/tmp/tree-$m.cpu"),$(median "/tmp/tree-$m.nosync_wall"),$(median "/tmp/tree-$m.nosync_cpu")"
	done
	echo "# tree-bench: $fs: done in $((SECONDS - t0)) s" >&2
	rm -rf "$top"
	sync
done
