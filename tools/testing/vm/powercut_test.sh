#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# powercut_test.sh COPY-RANGE CRCP - runs inside the copy_range test VM (module
# loaded).  Simulated power cuts under copy_range and crcp, on btrfs, xfs
# (reflink=1) and ext4, each on a loop device (a sparse file on /mnt/tmpfs)
# under device-mapper.  A cut: beside the dm device's linear table, a
# dm-flakey one that drops every write (flushes included) waits inactive;
# the device is suspended without freezing the filesystem (the cut) and
# resumed, which swaps the tables; the filesystem is unmounted (its last
# writes vanish too), the linear table loaded back and the filesystem
# mounted again, replaying its journal or log.  What was not on the device
# before the cut is lost, as in a power failure.
#
# (a) copy_range then fsync: for each sharing policy the filesystem takes
#     (flags 0, ALLOW, and REQUIRE on btrfs and xfs), a fsynced source with a
#     pattern and an empty, durable destination; COPY-RANGE (the library's
#     example, which fsyncs the destination; the test fsyncs it once more
#     with xfs_io).  Then, on the same filesystem, a second copy with the
#     same policy but without any fsync (an ioctl from powercut_helper.py),
#     and a cut at a seeded point during or after it.  After the cut the
#     fsynced destination must hold exactly the source's bytes, and the
#     other any part of its data, but nothing else (see "Without fsync"
#     below).  One cut per policy, so that no later fsync or commit can make
#     up for a missing one; the second copy comes after the fsync, so it
#     cannot either.
# (b) the durable tree copy: `crcp -R -j 8 --preserve=mode,timestamps`, on
#     the same filesystem (so btrfs and xfs clone under --reflink=auto; every
#     other round uses --reflink=never, a data copy).  First once uncut with
#     --reflink=never, the slower where they differ: the copy must be whole,
#     and its time sets the span for the cuts.  Then POWERCUT_ROUNDS times
#     with a cut at a seeded point, one in each ROUNDS-th of 1.2 times that
#     span, so that early, middle and late cuts all happen and the last may
#     find crcp done.  After each cut every name
#     under the destination must be a complete copy (bytes, size, permission
#     bits, mtime), no temporary name of the library (.#NAME.XXXXXX) may be
#     visible, and the source must be intact; names may be missing (crcp does
#     not fsync directories).  Directories' and symlinks' metadata is set by
#     crcp without a sync (directories' at the very end), so it is counted,
#     not checked.  Each filesystem ends with its fsck.
#
# TAP output; exits non-zero if any check fails.  Everything it sets up
# (mounts, dm devices, loop devices, sysctls) is undone on the way out,
# whatever happens.
#
#   cargo build --release --examples --manifest-path samples/Cargo.toml &&
#   cargo build --release --manifest-path samples/Cargo.toml &&
#   make vm CMD="$PWD/tools/testing/vm/powercut_test.sh \
#       $PWD/samples/target/release/examples/copy-range $PWD/samples/target/release/crcp"
#
# POWERCUT_ROUNDS (default 2): cuts per filesystem under crcp; with the
#   8 cuts of part (a), 14 cuts in all by default: 10 to 12 minutes in a
#   VM under TCG and KASAN sharing 2 host cores with another one or two.
# POWERCUT_BUDGET (default 300): seconds from the start after which no
#   further round under crcp starts: its two checks are reported as
#   "ok ... # SKIP", so that a loaded machine still finishes within
#   make check's limit of 600 s per program.
# POWERCUT_SEED (default 1): where the cuts land, as fractions of the span;
#   the same seed gives the same fractions (with the same bash).
# POWERCUT_FS (default "btrfs xfs ext4"): the filesystems to test.
#
# Without fsync: what may a cut leave?  Nothing forces the copy to disk, so
# the destination may be empty, complete, or anything between: a shorter
# size, ranges not yet written back (holes, or unwritten extents), all read
# as zeros.  What none of the three filesystems may do is show data that was
# never written to the file: ext4 (data=ordered) commits a block's
# allocation only after its data, xfs raises the on-disk size only at I/O
# completion and maps new blocks as unwritten until written, btrfs commits
# extent items only with their checksummed data.  So the check is: no longer
# than the source, and every byte the source's or zero (the source has no
# zero byte, and each case its own pattern, so that stale blocks of an
# earlier case would show).  To make partial states likely within seconds,
# this part runs with writeback every 0.2 s of pages dirty for 0.5 s; the
# filesystems' commit intervals stay as they are (shorter ones would commit
# what the fsync before is meant to).
#
# Processes start slowly in the VM (TCG, KASAN, the root over 9p): the
# loops use shell builtins where they can, and one Python start per check.

set -u
copy_range=${1:?usage: powercut_test.sh path/to/copy-range path/to/crcp}
crcp=${2:?usage: powercut_test.sh path/to/copy-range path/to/crcp}
here=$(cd "$(dirname "$0")" && pwd)
ROUNDS=${POWERCUT_ROUNDS:-2}
BUDGET=${POWERCUT_BUDGET:-300}
SEED=${POWERCUT_SEED:-1}
FILESYSTEMS=${POWERCUT_FS:-btrfs xfs ext4}
export DM_DISABLE_UDEV=1
work=/mnt/tmpfs/powercut
tmp=/tmp/powercut
helper() { python3 -S -X "pycache_prefix=$tmp/pycache" "$here/powercut_helper.py" "$@"; }

. "$here/tap.sh"
diag() { local l; while IFS= read -r l; do echo "# $l"; done; }
# Time in microseconds, and seconds from $1 to $2 (or now), without a process.
now() { echo $((${EPOCHREALTIME/./})); }
since() {
	local d=$((${2:-$(now)} - $1))
	printf '%d.%02d' $((d / 1000000)) $((d % 1000000 / 10000))
}
# Sleeps $1 microseconds, without a process: a read that times out.
pause() {
	local us=$1
	read -r -t "$((us / 1000000)).$(printf %06d $((us % 1000000)))" <> "$tmp/never" || :
}
# dmsetup, its complaint about System V semaphores kept out of the output.
dm() { dmsetup --noudevsync "$@" 2>> "$tmp/dmsetup.log"; }

policies() {
	case $1 in
	ext4) echo "forbid allow" ;;
	*) echo "forbid allow require" ;;
	esac
}
flag_of() { case $1 in forbid) echo 0 ;; allow) echo 1 ;; require) echo 2 ;; esac; }

# Per filesystem: the set-up, 3 per policy (copy and fsync, then after the
# cut the fsynced copy and the other), 2 for the uncut tree copy, 2 per
# round, fsck and teardown.  Then the kernel log.
checks_of() {
	set -- $(policies "$1")
	echo $((1 + 3 * $# + 2 + 2 * ROUNDS + 2))
}
plan=2
for fs in $FILESYSTEMS; do
	plan=$((plan + $(checks_of "$fs")))
done
echo "TAP version 13"
echo "1..$plan"
echo "# $(uname -r), $(nproc) CPUs; seed $SEED, $ROUNDS rounds per filesystem; $FILESYSTEMS"
t_start=$(now)
klog_start=$(dmesg | wc -l)
check "/dev/copy_range is present" [ -c /dev/copy_range ]
for bin in "$copy_range" "$crcp"; do
	[ -x "$bin" ] || { echo "Bail out! $bin is not executable"; exit 1; }
done

declare -A LOOP DMNAME DEV MNT SECTORS
bgpid=
saved_sysctls=()

# Writeback intervals for part (a); restore_sysctls puts the saved values
# back.
SYSCTLS=(vm/dirty_expire_centisecs=50 vm/dirty_writeback_centisecs=20)
fast_writeback() {
	local kv v
	for kv in "${SYSCTLS[@]}"; do
		read -r v < "/proc/sys/${kv%=*}" && saved_sysctls+=("${kv%=*}=$v")
		echo "${kv#*=}" > "/proc/sys/${kv%=*}"
	done
}
restore_sysctls() {
	local kv
	for kv in "${saved_sysctls[@]}"; do
		echo "${kv#*=}" > "/proc/sys/${kv%=*}"
	done
	saved_sysctls=()
}

teardown() {
	local fs=$1 i
	[ -n "${DMNAME[$fs]:-}" ] || return 0
	# A cut that failed half-way may have left the device suspended.
	dm resume "${DMNAME[$fs]}"
	if mountpoint -q "${MNT[$fs]}"; then
		umount "${MNT[$fs]}" || umount -l "${MNT[$fs]}"
	fi
	for i in 1 2 3 4 5; do
		dm remove "${DMNAME[$fs]}" && break
		pause 1000000
	done
	dm info "${DMNAME[$fs]}" > /dev/null && return 1
	losetup -d "${LOOP[$fs]}" || return 1
	rm -f "$work/$fs.img"
	unset 'DMNAME[$fs]'
}

cleanup() {
	local fs
	# Resumed first: a task waiting for I/O held by a suspended device
	# cannot be killed.
	for fs in "${!DMNAME[@]}"; do
		dm resume "${DMNAME[$fs]}"
	done
	if [ -n "$bgpid" ]; then
		kill -9 "$bgpid" 2>/dev/null
		wait "$bgpid" 2>/dev/null
	fi
	restore_sysctls
	for fs in "${!DMNAME[@]}"; do
		teardown "$fs"
	done
	rm -rf "$work" "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

mkdir -p "$work" "$tmp" && mkfifo "$tmp/never" "$tmp/go" || { echo "Bail out! no scratch space"; exit 1; }

# The loop device, the dm device over it (linear), the filesystem, mounted.
setup() {
	local fs=$1 minor
	truncate -s 512M "$work/$fs.img" &&
		LOOP[$fs]=$(losetup -f --show "$work/$fs.img") &&
		SECTORS[$fs]=$(blockdev --getsz "${LOOP[$fs]}") &&
		DMNAME[$fs]=powercut-$fs &&
		dm create "${DMNAME[$fs]}" --table "0 ${SECTORS[$fs]} linear ${LOOP[$fs]} 0" &&
		minor=$(dm info -c --noheadings -o minor "${DMNAME[$fs]}") &&
		DEV[$fs]=/dev/dm-$((minor)) && [ -b "${DEV[$fs]}" ] || return 1
	# No discard at mkfs (-K, nodiscard): on the sparse file it only costs
	# time.  mkfs.xfs and mkfs.ext4 still zero ranges: the loop device passes
	# WRITE_ZEROES to tmpfs, which has no FALLOC_FL_ZERO_RANGE, the kernel logs
	# "operation not supported error, dev loopN, ... op 0x9:(WRITE_ZEROES)"
	# once and the block layer writes the zeroes instead.  Expected.
	case $fs in
	btrfs) mkfs.btrfs -q -f -K "${DEV[$fs]}" ;;
	xfs) mkfs.xfs -q -f -K -m reflink=1 "${DEV[$fs]}" ;;
	ext4) mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0,nodiscard "${DEV[$fs]}" ;;
	esac > "$tmp/mkfs.log" 2>&1 || { diag < "$tmp/mkfs.log"; return 1; }
	MNT[$fs]=/mnt/powercut-$fs
	mkdir -p "${MNT[$fs]}" && mount "${DEV[$fs]}" "${MNT[$fs]}"
}

# The moment of a cut is one ioctl, not the three processes (seconds here)
# of suspend, load and resume: arm_cut loads the table that drops every
# write, inactive, beside the live linear one; cut_power suspends the device
# without freezing the filesystem, which is the cut (bios from then on are
# held), and resumes it, which swaps the tables: the held bios and every
# later one are dropped.  (A task in D state waiting for held I/O cannot be
# killed: the resume comes before anything else.)  The moment is between
# $cut_from and $cut_to, microseconds.
arm_cut() {
	dm load "${DMNAME[$1]}" --table "0 ${SECTORS[$1]} flakey ${LOOP[$1]} 0 0 180 1 drop_writes" ||
		{ diag < "$tmp/dmsetup.log"; return 1; }
}
cuts=0
cut_power() {
	cuts=$((cuts + 1))
	cut_from=$(now)
	dm suspend --nolockfs "${DMNAME[$1]}"
	local rc=$?
	cut_to=$(now)
	dm resume "${DMNAME[$1]}" && [ $rc = 0 ] || { diag < "$tmp/dmsetup.log"; return 1; }
}
# After a cut: unmount (its writes are dropped too), the linear table back,
# mounted again.  Fails if the filesystem does not mount.
power_on() {
	local fs=$1 i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		umount "${MNT[$fs]}" 2>/dev/null && break
		pause 500000
	done
	mountpoint -q "${MNT[$fs]}" && { echo "# cannot unmount ${MNT[$fs]}"; return 1; }
	dm load "${DMNAME[$fs]}" --table "0 ${SECTORS[$fs]} linear ${LOOP[$fs]} 0" &&
		dm resume "${DMNAME[$fs]}" || { diag < "$tmp/dmsetup.log"; return 1; }
	# No drop_caches: the filesystem's caches went with the unmount, the dm
	# device's with its last close, and dropping the 9p root's would make
	# every later process start slower still.
	mount "${DEV[$fs]}" "${MNT[$fs]}"
}

# Seeded cut points: N numbers of microseconds, one in each N-th of SPAN.
cut_points() {
	local name=$1 count=$2 span=$3 r out=()
	RANDOM=$((SEED * 1000 + $(cksum <<<"$name" | cut -d' ' -f1) % 1000))
	for r in $(seq 0 $((count - 1))); do
		out+=($(((r * 32768 + RANDOM) * span / (32768 * count))))
	done
	echo "${out[@]}"
}

# Part (a), per policy: copy_range and fsync; then a copy without fsync,
# cut during or after it.
copy_cases() {
	local fs=$1 m=${MNT[$1]} p rc good out t0 us opt lines
	fast_writeback
	set -- $(cut_points "copy-$fs" $(policies "$fs" | wc -w) 2000000)
	for p in $(policies "$fs"); do
		us=$1
		shift
		opt=--$p
		[ $p = forbid ] && opt=
		if ! helper prepare \
			"$m/fsync-$p.src" "$tmp/fsync.ref" "$m/fsync-$p.dst" $(((1 << 20) + 3000)) "fsync-$fs-$p" \
			"$m/nofsync-$p.src" "$tmp/nofsync.ref" "$m/nofsync-$p.dst" $(((2 << 20) + 5000)) "nofsync-$fs-$p"; then
			for good in 1 2 3; do
				not_ok "$fs: $p: the sources and destinations could not be made"
			done
			continue
		fi
		out=$("$copy_range" $opt "$m/fsync-$p.src" "$m/fsync-$p.dst" 2>&1) &&
			xfs_io -c fsync "$m/fsync-$p.dst"
		rc=$?
		[ -z "$out" ] || diag <<<"$out"
		check "$fs: copy-range $p of 1 MiB + 3000 bytes, then fsync" [ $rc = 0 ]
		arm_cut "$fs" || return 1
		helper copy "$m/nofsync-$p.src" "$m/nofsync-$p.dst" "$(flag_of "$p")" > "$tmp/go" 2> "$tmp/copy.out" &
		bgpid=$!
		# From its first ioctl on.
		read -r out < "$tmp/go"
		t0=$(now)
		pause "$us"
		cut_power "$fs" || return 1
		wait $bgpid
		rc=$?
		bgpid=
		diag < "$tmp/copy.out"
		power_on "$fs" || return 1
		out=$(helper after-cut "$tmp/fsync.ref" "$m/fsync-$p.dst" "$tmp/nofsync.ref" "$m/nofsync-$p.dst")
		good=$?
		mapfile -t lines <<<"$out"
		check "$fs: after a cut, the fsynced $p copy ${lines[0]}" [ $((good & 1)) = 0 ]
		check "$fs: ... and the $p copy of 2 MiB + 5000 bytes without fsync, cut $(since "$t0" "$cut_from")-$(since "$t0" "$cut_to") s into it (seeded $((us / 1000)) ms), is ${lines[1]}" \
			[ $((good & 2)) = 0 -a $rc = 0 ]
	done
	restore_sysctls
}

# Part (b): crcp under cuts.
tree_rounds() {
	local fs=$1 m=${MNT[$1]} out rc good t0 span us pol r ended at names=() lines
	cp -a "$tmp/tree" "$m/src" && sync -f "$m" || return 1
	# Uncut, with the slower policy where they differ (a data copy).
	t0=$(now)
	out=$("$crcp" -R -j 8 --preserve=mode,timestamps --reflink=never "$m/src" "$m/uncut" 2>&1)
	rc=$?
	span=$(($(now) - t0))
	[ -z "$out" ] || diag <<<"$out"
	check "$fs: crcp --reflink=never, uncut, exits 0 ($(since "$t0") s)" [ $rc = 0 ]
	out=$(helper check-round "$tmp/tree" "$m/src" "$m/uncut" --whole)
	rc=$?
	mapfile -t lines <<<"$out"
	check "$fs: ... and the copy is the tree: ${lines[1]#copy: }" [ $rc = 0 ]
	[ $rc = 0 ] || diag <<<"$out"
	span=$((span * 12 / 10))
	set -- $(cut_points "tree-$fs" "$ROUNDS" "$span")
	for r in $(seq 1 "$ROUNDS"); do
		us=$1
		shift
		if [ $((($(now) - t_start) / 1000000)) -ge "$BUDGET" ]; then
			ok "$fs: round $r: the source survived the cut # SKIP past the time budget (POWERCUT_BUDGET=$BUDGET s)"
			ok "$fs: round $r: every name complete, no temporary # SKIP past the time budget"
			continue
		fi
		pol=auto
		[ $((r % 2)) = 0 ] && pol=never
		arm_cut "$fs" || return 1
		t0=$(now)
		"$crcp" -R -j 8 --preserve=mode,timestamps --reflink=$pol "$m/src" "$m/dst$r" > "$tmp/crcp.out" 2>&1 &
		bgpid=$!
		pause "$us"
		ended=running
		kill -0 $bgpid 2>/dev/null || ended=done
		cut_power "$fs" || return 1
		at="$(since "$t0" "$cut_from") to $(since "$t0" "$cut_to")"
		kill -9 $bgpid 2>/dev/null
		wait $bgpid 2>/dev/null
		rc=$?
		bgpid=
		echo "# $fs round $r: --reflink=$pol, cut at $at s (seeded $((us / 1000)) ms of $((span / 1000))), crcp $ended, exit status $rc"
		[ $ended = done ] && [ $rc != 0 ] && diag < "$tmp/crcp.out"
		power_on "$fs" || return 1
		# crcp done before the cut must have succeeded.
		good=0
		[ $ended = done ] && [ $rc != 0 ] && good=1
		out=$(helper check-round "$tmp/tree" "$m/src" "$m/dst$r")
		rc=$?
		mapfile -t lines <<<"$out"
		check "$fs: round $r: the source survived the cut" [ $((rc & 1)) = 0 ]
		check "$fs: round $r: every name complete, no temporary: ${lines[1]#copy: }" \
			[ $((rc & 2)) = 0 -a $good = 0 ]
		[ $rc = 0 ] || diag <<<"$out"
		out=${lines[1]#copy: }
		names+=("${out%% *}")
		rm -rf "$m/dst$r"
	done
	echo "# $fs: ${#names[@]} of $ROUNDS cuts under crcp made; names found after each: ${names[*]}"
}

# The filesystem's own checker, unmounted.
fsck_fs() {
	local fs=$1
	umount "${MNT[$fs]}" || return 1
	case $fs in
	btrfs) btrfs check --readonly "${DEV[$fs]}" ;;
	xfs) xfs_repair -n "${DEV[$fs]}" ;;
	ext4) e2fsck -fn "${DEV[$fs]}" ;;
	esac > "$tmp/fsck.out" 2>&1
}

helper tree "$tmp/tree" || { echo "Bail out! cannot make the tree"; exit 1; }

for fs in $FILESYSTEMS; do
	t_fs=$(now)
	left=$(checks_of "$fs")
	first=$n
	# Fails the checks of this filesystem that will not run, but teardown.
	fail_rest() {
		while [ $((n - first)) -lt $((left - 1)) ]; do
			not_ok "$fs: not run: $1"
		done
	}
	if setup "$fs"; then
		ok "$fs: loop device, dm-linear, mkfs, mount (${DEV[$fs]} over ${LOOP[$fs]}, $(since "$t_fs") s)"
		t=$(now)
		if ! copy_cases "$fs"; then
			fail_rest "the filesystem did not come back after a cut"
		elif echo "# $fs: copy_range cases took $(since "$t") s" && t=$(now) && ! tree_rounds "$fs"; then
			fail_rest "the filesystem did not come back after a cut"
		elif echo "# $fs: crcp rounds took $(since "$t") s" && fsck_fs "$fs"; then
			ok "$fs: fsck finds nothing to repair"
		else
			not_ok "$fs: fsck finds nothing to repair"
			diag < "$tmp/fsck.out"
		fi
	else
		not_ok "$fs: loop device, dm-linear, mkfs, mount"
	fi
	fail_rest "earlier failure"
	check "$fs: teardown (umount, dmsetup remove, losetup -d)" teardown "$fs"
	echo "# $fs took $(since "$t_fs") s"
done

out=$(dmesg | tail -n +$((klog_start + 1)) |
	grep -E 'BUG:|WARNING:|Oops|Kernel panic|kernel BUG at|general protection fault|UBSAN:|Call Trace:|INFO: task .* blocked|rcu: INFO|Unable to handle kernel|KASAN')
check "kernel log has no BUG/WARNING/KASAN/lockdep/hung-task report" [ -z "$out" ]
[ -z "$out" ] || head -20 <<<"$out" | diag
echo "# $cuts power cuts; $failed of $n failed, in $(since "$t_start") s"
[ $failed = 0 ]
