/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Files for the tests: the scratch filesystems, directories and files in
 * them, a position-addressable data pattern, content checks, snapshots and
 * a FIEMAP summary.  Everything returns plain values so that the tests do
 * the asserting, next to what they mean.
 *
 * What every program uses is static inline here; the larger helpers that
 * only some tests need (files_mismatch(), the snapshots, fiemap_shared())
 * are in cr_files.c, which the Makefile links into every program.
 */
#ifndef CR_FILES_H
#define CR_FILES_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <linux/magic.h>

#define KIB		(1024LL)
#define MIB		(1024LL * 1024)

/* The scratch filesystems the test VM mounts (tools/vm/guest-init). */
#define FS_BTRFS	"/mnt/btrfs"
#define FS_XFS		"/mnt/xfs"
#define FS_EXT4		"/mnt/ext4"
#define FS_TMPFS	"/mnt/tmpfs"

/* Seed 0 means "all zeroes": what a hole or a zero-filled gap reads as. */
#define PATTERN_ZERO	0ULL

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

/* Writes @text to the existing file @path (a sysfs or cgroup knob): 0 or -1. */
static inline int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
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
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		/* Whole words at once: the same bytes, in memory order. */
		if (!sh) {
			for (; i + 8 <= len; i += 8) {
				memcpy(p + i, &w, 8);
				w = pattern_word(seed, ++idx);
			}
			if (i == len)
				break;
		}
#endif
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

/* Takes @fd's size and bytes into @s.  0, or -1. */
int snapshot_take(int fd, struct snapshot *s);
/* True when @fd still has exactly the snapshot's size and bytes. */
bool snapshot_same(int fd, const struct snapshot *s);
void snapshot_free(struct snapshot *s);

/* Like pattern_mismatch(), against another file's bytes. */
int64_t files_mismatch(int fd_a, uint64_t off_a, int fd_b, uint64_t off_b,
		       uint64_t len);

/*
 * Bytes of [@start, @end) that FIEMAP maps, and how many of those it flags
 * FIEMAP_EXTENT_SHARED.  FIEMAP_FLAG_SYNC writes dirty data back first so
 * that delayed allocation cannot hide an extent.  0, or -errno from the
 * ioctl (tmpfs has no FIEMAP).
 */
int fiemap_shared(int fd, uint64_t start, uint64_t end, uint64_t *mapped,
		  uint64_t *shared);

/*
 * The usual files of a test: a fresh directory under @root (into @dir,
 * PATH_MAX) holding "src", @len bytes of the pattern from @seed, and an
 * empty "dst", both open read-write.  -1 with errno on failure; whatever
 * was made is left for remove_pair().
 */
static inline int make_pair(const char *root, char *dir, uint64_t len,
			    uint64_t seed, int *src_fd, int *dst_fd)
{
	*src_fd = -1;
	*dst_fd = -1;
	if (!make_test_dir(root, dir))
		return -1;
	*src_fd = open_new(dir, "src", O_RDWR);
	if (*src_fd < 0 || pattern_write(*src_fd, 0, len, seed, 0))
		return -1;
	*dst_fd = open_new(dir, "dst", O_RDWR);
	return *dst_fd < 0 ? -1 : 0;
}

/* Closes what make_pair() opened and removes its directory. */
static inline void remove_pair(const char *dir, int src_fd, int dst_fd)
{
	if (src_fd >= 0)
		close(src_fd);
	if (dst_fd >= 0)
		close(dst_fd);
	remove_tree(dir);
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

#endif /* CR_FILES_H */
