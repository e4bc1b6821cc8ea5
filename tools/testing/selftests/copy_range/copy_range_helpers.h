/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the copy_range selftests: the ioctl and copy_file_range(2)
 * wrappers, the test filesystems, a position-addressable data pattern,
 * content checks and a FIEMAP summary.  Everything here returns plain
 * values so that the tests do the asserting, next to what they mean.
 */
#ifndef COPY_RANGE_HELPERS_H
#define COPY_RANGE_HELPERS_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/magic.h>

#include <linux/copy_range.h>

#define CR_DEVICE_PATH	"/dev/" COPY_RANGE_DEVICE_NAME

#define KIB		(1024LL)
#define MIB		(1024LL * 1024)

/*
 * The module copies in chunks of this size; sizes a little past a multiple
 * of it make a copy cross chunk boundaries at odd offsets.
 */
#define CR_CHUNK	(4 * MIB)

/* The scratch filesystems the test VM mounts (tools/vm/guest-init). */
#define FS_BTRFS	"/mnt/btrfs"
#define FS_XFS		"/mnt/xfs"
#define FS_EXT4		"/mnt/ext4"
#define FS_TMPFS	"/mnt/tmpfs"

/* Seed 0 means "all zeroes": what a hole or a zero-filled gap reads as. */
#define PATTERN_ZERO	0ULL

/* Opened on first use and kept, like any other long-lived descriptor. */
static inline int cr_dev(void)
{
	static int fd = -1;

	if (fd < 0)
		fd = open(CR_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	return fd;
}

/*
 * One COPY_RANGE_IOC_COPY on @dev.  Returns the count or -1 with errno set.
 * The raw syscall keeps the full long return value (glibc's ioctl() returns
 * int).  A success whose @copied disagrees with the return value is an ABI
 * bug; it comes back as -1/EPROTO so that no caller can take it for a pass.
 */
static inline int64_t copy_range_dev(int dev, int src_fd, uint64_t src_off,
				     int dst_fd, uint64_t dst_off,
				     uint64_t len, uint64_t flags)
{
	struct copy_range_args args = {
		.src_fd = src_fd,
		.dst_fd = dst_fd,
		.src_off = src_off,
		.dst_off = dst_off,
		.len = len,
		.flags = flags,
		/* Poisoned, so a kernel that never writes it back is caught. */
		.copied = 0xdeadbeefcafef00dULL,
	};
	long ret;

	if (dev < 0)
		return -1;
	ret = syscall(SYS_ioctl, dev, COPY_RANGE_IOC_COPY, &args);
	if (ret < 0)
		return -1;
	if (args.copied != (uint64_t)ret) {
		fprintf(stderr, "# copy_range returned %ld but copied = %llu\n",
			ret, (unsigned long long)args.copied);
		errno = EPROTO;
		return -1;
	}
	return ret;
}

static inline int64_t copy_range(int src_fd, uint64_t src_off, int dst_fd,
				 uint64_t dst_off, uint64_t len, uint64_t flags)
{
	return copy_range_dev(cr_dev(), src_fd, src_off, dst_fd, dst_off, len,
			      flags);
}

/*
 * copy_file_range(2) with explicit offsets, taken as loff_t like the ioctl
 * takes them.  The raw syscall, so that no libc emulation gets in the way of
 * comparing errnos.
 */
static inline int64_t cfr(int src_fd, uint64_t src_off, int dst_fd,
			  uint64_t dst_off, uint64_t len)
{
	int64_t in = (int64_t)src_off, out = (int64_t)dst_off;

	return syscall(SYS_copy_file_range, src_fd, &in, dst_fd, &out,
		       (size_t)len, 0U);
}

/*
 * True when @root is a mount of the filesystem with @magic.  The st_dev test
 * matters: /mnt itself is a tmpfs, so a failed mount leaves a plain tmpfs
 * directory behind that would otherwise pass for /mnt/tmpfs.
 */
static inline bool fs_mounted(const char *root, unsigned long magic)
{
	char parent[PATH_MAX];
	struct stat st, pst;
	struct statfs sfs;
	char *slash;

	if (statfs(root, &sfs) || (unsigned long)sfs.f_type != magic)
		return false;
	snprintf(parent, sizeof(parent), "%s", root);
	slash = strrchr(parent, '/');
	if (!slash)
		return false;
	if (slash == parent)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (stat(root, &st) || stat(parent, &pst))
		return false;
	return st.st_dev != pst.st_dev;
}

/* A fresh directory under @root, in @buf (PATH_MAX).  NULL on failure. */
static inline char *make_test_dir(const char *root, char *buf)
{
	snprintf(buf, PATH_MAX, "%s/copy_range.XXXXXX", root);
	return mkdtemp(buf);
}

static inline int rm_one(const char *path, const struct stat *st, int type,
			 struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* rm -rf; for teardown, so a missing directory is fine. */
static inline void remove_tree(const char *dir)
{
	if (dir && dir[0])
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* @dir/@name into @path (PATH_MAX); -1/ENAMETOOLONG if it does not fit. */
static inline int path_join(char *path, const char *dir, const char *name)
{
	if (snprintf(path, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Opens (creating and truncating) @dir/@name with @flags, mode 0644. */
static inline int open_new(const char *dir, const char *name, int flags)
{
	char path[PATH_MAX];

	if (path_join(path, dir, name))
		return -1;
	return open(path, flags | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

static inline int open_at(const char *dir, const char *name, int flags)
{
	char path[PATH_MAX];

	if (path_join(path, dir, name))
		return -1;
	return open(path, flags | O_CLOEXEC);
}

static inline int remove_file(const char *dir, const char *name)
{
	char path[PATH_MAX];

	if (path_join(path, dir, name))
		return -1;
	return unlink(path);
}

/*
 * The data pattern: 64-bit words from an xorshift64* step over the seed and
 * the word index, so the byte expected at any file offset can be computed
 * without reading from the start, and different seeds give different data.
 */
static inline uint64_t pattern_word(uint64_t seed, uint64_t idx)
{
	uint64_t x = seed ^ (idx * 0x9e3779b97f4a7c15ULL) ^ 0xa5a5a5a5a5a5a5a5ULL;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	return (x * 0x2545f4914f6cdd1dULL) | 0x0101010101010101ULL;
}

/*
 * Fills @buf with the pattern bytes at offsets [@off, @off + @len).  Every
 * byte is odd, hence never zero, so data can never pass for a hole.
 */
static inline void pattern_fill(void *buf, size_t len, uint64_t seed,
				uint64_t off)
{
	unsigned char *p = buf;
	uint64_t idx = off / 8;
	unsigned int sh = off % 8;
	uint64_t w;
	size_t i;

	if (seed == PATTERN_ZERO) {
		memset(buf, 0, len);
		return;
	}
	w = pattern_word(seed, idx);
	for (i = 0; i < len; i++) {
		p[i] = w >> (8 * sh);
		if (++sh == 8) {
			sh = 0;
			w = pattern_word(seed, ++idx);
		}
	}
}

#define PATTERN_BUF	(1 * MIB)

/* Writes pattern bytes [@pat_off, +@len) at file offset @off.  0 or -1. */
static inline int pattern_write(int fd, uint64_t off, uint64_t len,
				uint64_t seed, uint64_t pat_off)
{
	unsigned char *buf = malloc(PATTERN_BUF);
	uint64_t done = 0;
	int ret = 0;

	if (!buf)
		return -1;
	while (done < len) {
		size_t n = len - done < PATTERN_BUF ? len - done : PATTERN_BUF;
		ssize_t w;

		pattern_fill(buf, n, seed, pat_off + done);
		w = pwrite(fd, buf, n, off + done);
		if (w <= 0) {
			ret = -1;
			break;
		}
		done += w;
	}
	free(buf);
	return ret;
}

/*
 * Checks that file bytes [@off, +@len) hold pattern bytes [@pat_off, +@len).
 * Returns -1 when they all do, else the file offset of the first byte that
 * does not (a short file fails at its end), or -2 if reading failed.
 */
static inline int64_t pattern_mismatch(int fd, uint64_t off, uint64_t len,
				       uint64_t seed, uint64_t pat_off)
{
	unsigned char *buf = malloc(PATTERN_BUF), *want = malloc(PATTERN_BUF);
	int64_t bad = -1;
	uint64_t done = 0;

	if (!buf || !want) {
		bad = -2;
		goto out;
	}
	while (done < len) {
		size_t n = len - done < PATTERN_BUF ? len - done : PATTERN_BUF;
		ssize_t r = pread(fd, buf, n, off + done);
		ssize_t i;

		if (r < 0) {
			bad = -2;
			break;
		}
		if (r == 0) {
			bad = off + done;
			break;
		}
		pattern_fill(want, r, seed, pat_off + done);
		if (memcmp(buf, want, r)) {
			for (i = 0; buf[i] == want[i]; i++)
				;
			bad = off + done + i;
			break;
		}
		done += r;
	}
out:
	free(buf);
	free(want);
	return bad;
}

/* Like pattern_mismatch(), against another file's bytes. */
static inline int64_t files_mismatch(int fd_a, uint64_t off_a, int fd_b,
				     uint64_t off_b, uint64_t len)
{
	unsigned char *a = malloc(PATTERN_BUF), *b = malloc(PATTERN_BUF);
	int64_t bad = -1;
	uint64_t done = 0;

	if (!a || !b) {
		bad = -2;
		goto out;
	}
	while (done < len) {
		size_t n = len - done < PATTERN_BUF ? len - done : PATTERN_BUF;
		ssize_t ra = pread(fd_a, a, n, off_a + done);
		ssize_t rb = pread(fd_b, b, n, off_b + done);
		ssize_t i, r = ra < rb ? ra : rb;

		if (ra < 0 || rb < 0) {
			bad = -2;
			break;
		}
		for (i = 0; i < r && a[i] == b[i]; i++)
			;
		if (i < r || r < (ssize_t)n) {
			bad = off_a + done + i;
			break;
		}
		done += n;
	}
out:
	free(a);
	free(b);
	return bad;
}

static inline int64_t file_size(int fd)
{
	struct stat st;

	if (fstat(fd, &st))
		return -1;
	return st.st_size;
}

static inline int64_t file_pos(int fd)
{
	return lseek(fd, 0, SEEK_CUR);
}

/*
 * A whole small file in memory, to prove later that a failed call left it
 * exactly as it was.
 */
struct snapshot {
	int64_t size;
	unsigned char *data;
};

static inline int snapshot_take(int fd, struct snapshot *s)
{
	s->size = file_size(fd);
	s->data = malloc(s->size > 0 ? s->size : 1);
	if (s->size < 0 || !s->data)
		return -1;
	if (s->size && pread(fd, s->data, s->size, 0) != s->size)
		return -1;
	return 0;
}

/* True when @fd still has exactly the snapshot's size and bytes. */
static inline bool snapshot_same(int fd, const struct snapshot *s)
{
	unsigned char *now;
	bool same;

	if (file_size(fd) != s->size)
		return false;
	now = malloc(s->size > 0 ? s->size : 1);
	if (!now)
		return false;
	same = !s->size || (pread(fd, now, s->size, 0) == s->size &&
			    !memcmp(now, s->data, s->size));
	free(now);
	return same;
}

static inline void snapshot_free(struct snapshot *s)
{
	free(s->data);
	s->data = NULL;
}

/*
 * Bytes of [@start, @end) that FIEMAP maps, and how many of those it flags
 * FIEMAP_EXTENT_SHARED.  FIEMAP_FLAG_SYNC writes dirty data back first so
 * that delayed allocation cannot hide an extent.  0, or -errno from the
 * ioctl (tmpfs has no FIEMAP).
 */
static inline int fiemap_shared(int fd, uint64_t start, uint64_t end,
				uint64_t *mapped, uint64_t *shared)
{
	const unsigned int n = 64;
	struct fiemap *fm;
	uint64_t pos = start;
	int ret = 0;

	*mapped = 0;
	*shared = 0;
	fm = calloc(1, sizeof(*fm) + n * sizeof(struct fiemap_extent));
	if (!fm)
		return -ENOMEM;
	while (pos < end) {
		struct fiemap_extent *last;
		unsigned int i;

		memset(fm, 0, sizeof(*fm));
		fm->fm_start = pos;
		fm->fm_length = end - pos;
		fm->fm_flags = FIEMAP_FLAG_SYNC;
		fm->fm_extent_count = n;
		if (ioctl(fd, FS_IOC_FIEMAP, fm)) {
			ret = -errno;
			break;
		}
		if (!fm->fm_mapped_extents)
			break;
		for (i = 0; i < fm->fm_mapped_extents; i++) {
			struct fiemap_extent *e = &fm->fm_extents[i];
			uint64_t lo = e->fe_logical, hi = lo + e->fe_length;

			/* Count each byte once, even if an extent comes twice. */
			if (lo < pos)
				lo = pos;
			if (hi > end)
				hi = end;
			if (hi <= lo)
				continue;
			*mapped += hi - lo;
			if (e->fe_flags & FIEMAP_EXTENT_SHARED)
				*shared += hi - lo;
		}
		last = &fm->fm_extents[fm->fm_mapped_extents - 1];
		if (last->fe_flags & FIEMAP_EXTENT_LAST ||
		    last->fe_logical + last->fe_length <= pos)
			break;
		pos = last->fe_logical + last->fe_length;
	}
	free(fm);
	return ret;
}

/*
 * Gets written data and extent state onto disk: fsync for the file, syncfs
 * so that btrfs commits the transaction its shared-extent answer reads.
 */
static inline int settle(int fd)
{
	if (fsync(fd))
		return -1;
	return syncfs(fd);
}

#endif /* COPY_RANGE_HELPERS_H */
