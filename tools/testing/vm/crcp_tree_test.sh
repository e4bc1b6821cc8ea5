#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# crcp_tree_test.sh CRCP - runs inside the copy_range test VM (module loaded,
# scratch filesystems on /mnt/{ext4,btrfs,xfs,tmpfs}).  Copies a tree of a few
# thousand files from ext4 to btrfs with module jobs and checks the result,
# then the sharing policies and interruption.  TAP output; exits non-zero if
# any check fails.
#
#   cd /work/main && cargo build --release --manifest-path samples/Cargo.toml &&
#   make vm CMD="$PWD/tools/testing/vm/crcp_tree_test.sh $PWD/samples/target/release/crcp"

set -u
crcp=${1:?usage: crcp_tree_test.sh path/to/crcp}
[ -x "$crcp" ] || { echo "Bail out! $crcp is not executable"; exit 1; }
NFILES=${CRCP_TEST_FILES:-2000}

. "$(dirname "$0")/tap.sh"
diag() { sed 's/^/# /'; }

# Extents of $1 flagged shared, and all of them, from FIEMAP (filefrag -v).
extents() { filefrag -v "$1" | grep -cE '^ +[0-9]+:'; }
shared_extents() { filefrag -v "$1" | grep -E '^ +[0-9]+:' | grep -c shared; }

echo "1..16"
echo "# $(uname -r), $(nproc) CPUs; $crcp"
[ -c /dev/copy_range ] && ok "/dev/copy_range is present" || not_ok "/dev/copy_range is present"

src=/mnt/ext4/tree
t0=$(date +%s)
# The tree: many small files, some of 1-10 MiB, one large sparse file, a
# symlink, a file with user.* attributes, varied modes and timestamps.
python3 - "$src" "$NFILES" <<'EOF'
import os, sys
root, nfiles = sys.argv[1], int(sys.argv[2])
modes = [0o644, 0o600, 0o755, 0o640, 0o444, 0o700]
for d in range(50):
    os.makedirs(f"{root}/small/d{d:02}", exist_ok=True)
for i in range(nfiles):
    p = f"{root}/small/d{i % 50:02}/f{i:05}"
    size = (i * 7919) % 16384
    block = f"file {i} ".encode() * 64
    with open(p, "wb") as f:
        f.write((block * (size // len(block) + 1))[:size])
    os.chmod(p, modes[i % len(modes)])
    os.utime(p, ns=(1_600_000_000_000_000_000 + i * 1_000_003, 1_500_000_000_123_456_789 + i * 999_999_937))
os.makedirs(f"{root}/data", exist_ok=True)
for i in range(20):
    size = (1 + i % 10) << 20
    pattern = bytes((j * (i + 3) + 11) % 251 for j in range(65536))
    with open(f"{root}/data/big{i:02}", "wb") as f:
        for _ in range(size // len(pattern)):
            f.write(pattern)
with open(f"{root}/data/sparse", "wb") as f:
    f.truncate(256 << 20)
    for off in (0, 100 << 20, (256 << 20) - 65536):
        f.seek(off)
        f.write(b"\x5a" * 65536)
os.symlink("data/big01", f"{root}/link")
os.symlink("nowhere", f"{root}/dangling")
with open(f"{root}/attrs", "wb") as f:
    f.write(b"with attributes\n")
os.setxattr(f"{root}/attrs", "user.crcp.test", b"value")
os.setxattr(f"{root}/attrs", "user.other", b"\x00\x01binary")
os.makedirs(f"{root}/private", mode=0o700)
os.chmod(f"{root}/private", 0o710)
os.utime(f"{root}/private", ns=(1_234_567_890_000_000_001, 1_234_567_890_000_000_002))
EOF
sync
echo "# built $(find "$src" -type f | wc -l) files, $(du -sm "$src" | cut -f1) MiB used, in $(($(date +%s) - t0)) s"

# 2: the tree copy, ext4 -> btrfs, 16 jobs in flight.
dst=/mnt/btrfs/tree
t0=$(date +%s.%N)
out=$("$crcp" -R -j 16 --preserve=mode,timestamps,xattr --stats "$src" "$dst" 2>&1)
rc=$?
t1=$(date +%s.%N)
echo "$out" | diag
echo "# crcp -R -j 16 took $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s"
check "crcp -R -j 16 --preserve=mode,timestamps,xattr ext4 -> btrfs exits 0" [ $rc = 0 ]
check "every file went through module jobs" grep -q "paths: module $(find "$src" -type f | wc -l), ficlone 0, copy_file_range 0, read/write 0" <<<"$out"

# 4-8: the copy is the tree.
d=$(diff -r --no-dereference "$src" "$dst" 2>&1)
check "diff -r finds no difference" [ -z "$d" ]
[ -z "$d" ] || echo "$d" | head -20 | diag
# same DESC FUNCTION: FUNCTION's output for the source and the copy are the same.
# (Files, not <(...): the VM has no /dev/fd.)
same() {
	local desc=$1 f=$2
	(cd "$src" && $f) > /tmp/crcp-src.txt
	(cd "$dst" && $f) > /tmp/crcp-dst.txt
	if diff /tmp/crcp-src.txt /tmp/crcp-dst.txt > /tmp/crcp-diff.txt; then
		ok "$desc ($(wc -l < /tmp/crcp-src.txt) lines)"
	else
		not_ok "$desc"
		head -20 /tmp/crcp-diff.txt | diag
	fi
}
listing() { find . -printf '%p %y %m %l\n' | sort; }
same "types, modes and symlink targets are the same (find -printf)" listing
times() { find . ! -type l ! -path . -printf '%p %T@\n' | sort; }
same "mtimes with nanoseconds are the same, files and directories" times
xattrs() { getfattr -R -d -m '^user\.' --absolute-names . 2>/dev/null; }
same "user.* attributes are the same (getfattr -d)" xattrs
sb=$(stat -c %b "$src/data/sparse") db=$(stat -c %b "$dst/data/sparse")
echo "# sparse file: $(stat -c %s "$dst/data/sparse") bytes, blocks $sb on ext4, $db on btrfs"
check "the 256 MiB sparse file is still sparse (< 4 MiB allocated)" [ "$db" -lt 8192 ]

# 9-10: --reflink=always where nothing can share fails cleanly.  (What
# else is in /mnt/ext4 belongs to earlier tests: compare with the listing.)
ext4_before=$(ls -A /mnt/ext4)
out=$("$crcp" --reflink=always "$src/data/big03" /mnt/ext4/clone 2>&1)
rc=$?
echo "$out" | diag
check "--reflink=always ext4 -> ext4 exits 1 with cp's message" \
	[ $rc = 1 -a "$out" = "crcp: failed to clone '/mnt/ext4/clone' from '$src/data/big03': Operation not supported" ]
check "... and leaves nothing behind" [ "$(ls -A /mnt/ext4)" = "$ext4_before" ]

# 11-12: --reflink=never on btrfs -> btrfs: an independent copy.
out=$("$crcp" --reflink=never --stats "$dst/data/big09" "$dst/data/big05" /mnt/btrfs/ 2>&1)
rc=$?
echo "$out" | diag
s=$(( $(shared_extents /mnt/btrfs/big09) + $(shared_extents /mnt/btrfs/big05) ))
good=0
[ $rc = 0 ] && cmp -s "$dst/data/big09" /mnt/btrfs/big09 && cmp -s "$dst/data/big05" /mnt/btrfs/big05 && good=1
check "--reflink=never btrfs -> btrfs copies" [ $good = 1 ]
good=0
[ "$s" = 0 ] && grep -q "shared 0 B," <<<"$out" && good=1
check "... and shares no extent (FIEMAP: $s shared; --stats: shared 0 B)" [ $good = 1 ]

# 13-14: --reflink=always on btrfs -> btrfs shares everything.
out=$("$crcp" --reflink=always --stats "$dst/data/big09" /mnt/btrfs/clone 2>&1)
rc=$?
echo "$out" | diag
e=$(extents /mnt/btrfs/clone) s=$(shared_extents /mnt/btrfs/clone)
good=0
[ $rc = 0 ] && cmp -s "$dst/data/big09" /mnt/btrfs/clone && good=1
check "--reflink=always btrfs -> btrfs copies" [ $good = 1 ]
good=0
[ "$e" -gt 0 ] && [ "$s" = "$e" ] && grep -q "not shared 0 B" <<<"$out" && good=1
check "... and every extent is shared ($s of $e; --stats: not shared 0 B)" [ $good = 1 ]

# 15-16: interrupted module copies leave no partial destination.
big=/mnt/xfs/big
python3 -c "
import sys
with open('$big', 'wb') as f:
    block = bytes(range(256)) * 4096
    for _ in range(128): f.write(block)
"
interrupt() {
	# $1 signal, $2 destination; the old content of $2, if any, must survive.
	local sig=$1 target=$2 pid i f size=0
	"$crcp" --reflink=never "$big" "$target" 2>/dev/null &
	pid=$!
	for i in $(seq 1 500); do
		# The unnamed destination, with some data in it: the job is under way.
		if ls -l /proc/$pid/fd 2>/dev/null | grep -q '(deleted)'; then
			for f in /proc/$pid/fd/*; do
				case $(readlink "$f") in *'(deleted)'*)
					size=$(stat -L -c %s "$f" 2>/dev/null || echo 0)
					[ "$size" -gt 0 ] && [ "$size" -lt $((128 << 20)) ] && break 2 ;;
				esac
			done
		fi
		sleep 0.01
	done
	kill -s "$sig" $pid
	wait $pid 2>/dev/null
	echo "# $sig after $i polls, with $size bytes copied: exit status $?"
}
interrupt INT /mnt/ext4/interrupted
check "SIGINT during a module job: no destination, no temporary" [ "$(ls -A /mnt/ext4)" = "$ext4_before" ]
echo old > /mnt/ext4/replaced
ext4_before=$(ls -A /mnt/ext4)
interrupt KILL /mnt/ext4/replaced
check "SIGKILL during a module job: the old destination is intact" \
	[ "$(cat /mnt/ext4/replaced)" = old -a "$(ls -A /mnt/ext4)" = "$ext4_before" ]

echo "# $failed of $n failed"
[ $failed = 0 ]
