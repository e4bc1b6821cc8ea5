/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the copy_range selftests: the ioctl and copy_file_range(2)
 * wrappers, the test filesystems, a position-addressable data pattern,
 * content checks and a FIEMAP summary.  Everything here returns plain
 * values so that the tests do the asserting, next to what they mean.
 * Then a reader of the module's counters in debugfs, and last the wrappers
 * of asynchronous jobs and vectors.
 */
#ifndef COPY_RANGE_HELPERS_H
#define COPY_RANGE_HELPERS_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
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

/*
 * The module's counters, one row per implementation of copy_range under a
 * header line:
 *
 *   impl  calls  bytes_shared  bytes_copied  bytes_offloaded  errors
 *
 * calls counts the calls that passed the argument checks and reached the
 * implementation, errors those of them that failed without copying
 * anything; a byte a call completed is counted once, as shared, copied by
 * the module, or offloaded to the filesystem's own ->copy_file_range.
 * Every counter only grows, so a test reads the table before and after a
 * call and compares the difference with what it expects; the harness runs
 * one test at a time, so nothing else moves them meanwhile.
 */
#define CR_DEBUGFS	"/sys/kernel/debug"
#define CR_STATS_PATH	CR_DEBUGFS "/copy_range/stats"

enum cr_impl {
	CR_IMPL_BTRFS,
	CR_IMPL_REMAP,
	CR_IMPL_FS_COPY,
	CR_IMPL_GENERIC,
	/* The sum of any rows this file does not know, which must not move. */
	CR_IMPL_OTHER,
	CR_NR_IMPLS
};

struct cr_counters {
	uint64_t calls;
	uint64_t shared;
	uint64_t copied;
	uint64_t offloaded;
	uint64_t errors;
};

struct cr_stats {
	struct cr_counters impl[CR_NR_IMPLS];
};

static inline const char *cr_impl_name(enum cr_impl impl)
{
	static const char *const names[CR_NR_IMPLS] = {
		[CR_IMPL_BTRFS] = "btrfs",
		[CR_IMPL_REMAP] = "remap",
		[CR_IMPL_FS_COPY] = "fs_copy",
		[CR_IMPL_GENERIC] = "generic",
		[CR_IMPL_OTHER] = "(other)",
	};

	return impl < CR_NR_IMPLS ? names[impl] : "?";
}

/* The columns, in the header's order and with its names. */
#define CR_NR_COUNTERS	5

static inline const char *cr_counter_name(unsigned int i)
{
	static const char *const names[CR_NR_COUNTERS] = {
		"calls", "bytes_shared", "bytes_copied", "bytes_offloaded",
		"errors",
	};

	return i < CR_NR_COUNTERS ? names[i] : "?";
}

static inline uint64_t *cr_counter(struct cr_counters *c, unsigned int i)
{
	uint64_t *const fields[CR_NR_COUNTERS] = {
		&c->calls, &c->shared, &c->copied, &c->offloaded, &c->errors,
	};

	return fields[i];
}

/* True when @line is exactly the header: "impl", then the columns. */
static inline bool cr_stats_header_ok(const char *line)
{
	char copy[256], *word, *save = NULL;
	unsigned int i = 0;

	if (snprintf(copy, sizeof(copy), "%s", line) >= (int)sizeof(copy))
		return false;
	word = strtok_r(copy, " \t\n", &save);
	if (!word || strcmp(word, "impl"))
		return false;
	while ((word = strtok_r(NULL, " \t\n", &save))) {
		if (i >= CR_NR_COUNTERS || strcmp(word, cr_counter_name(i)))
			return false;
		i++;
	}
	return i == CR_NR_COUNTERS;
}

/*
 * Reads the counters into @st.  0, or -1 with errno set: by fopen() or a
 * read, or EPROTO when the file is not the header followed by one row of
 * five unsigned numbers per implementation, every known one exactly once
 * (blank lines aside).  Rows with other names are summed into
 * CR_IMPL_OTHER.
 */
static inline int cr_stats_read(struct cr_stats *st)
{
	bool seen[CR_NR_IMPLS] = {};
	char line[256];
	int ret = 0;
	FILE *f;
	int i;

	memset(st, 0, sizeof(*st));
	f = fopen(CR_STATS_PATH, "re");
	if (!f)
		return -1;
	if (!fgets(line, sizeof(line), f) || !cr_stats_header_ok(line)) {
		ret = -1;
		errno = ferror(f) ? EIO : EPROTO;
		goto out;
	}
	while (fgets(line, sizeof(line), f)) {
		struct cr_counters c;
		char name[32], extra;
		enum cr_impl impl;

		/* The kernel's debugfs file ends the table with a blank line. */
		if (line[strspn(line, " \t\n")] == '\0')
			continue;
		/* The trailing %c matches only if something follows. */
		if (!strchr(line, '\n') ||
		    sscanf(line, "%31s %" SCNu64 " %" SCNu64 " %" SCNu64
			   " %" SCNu64 " %" SCNu64 " %c", name, &c.calls,
			   &c.shared, &c.copied, &c.offloaded, &c.errors,
			   &extra) != 6) {
			ret = -1;
			errno = EPROTO;
			goto out;
		}
		for (impl = 0; impl < CR_IMPL_OTHER; impl++)
			if (!strcmp(name, cr_impl_name(impl)))
				break;
		if (impl != CR_IMPL_OTHER && seen[impl]) {
			ret = -1;
			errno = EPROTO;
			goto out;
		}
		seen[impl] = true;
		for (i = 0; i < CR_NR_COUNTERS; i++)
			*cr_counter(&st->impl[impl], i) += *cr_counter(&c, i);
	}
	if (ferror(f)) {
		ret = -1;
		errno = EIO;
		goto out;
	}
	for (i = 0; i < CR_IMPL_OTHER; i++) {
		if (!seen[i]) {
			ret = -1;
			errno = EPROTO;
			goto out;
		}
	}
out:
	fclose(f);
	return ret;
}

/*
 * True when every counter grew from @before to @after by exactly what
 * @want says, zero for every implementation and counter it leaves out.
 * Otherwise false, with each implementation that moved otherwise in @why
 * (@len bytes): "name: counter +seen (want +expected) ...".
 */
static inline bool cr_stats_moved(const struct cr_stats *before,
				  const struct cr_stats *after,
				  const struct cr_stats *want,
				  char *why, size_t len)
{
	size_t at = 0;
	bool ok = true;
	int impl, i;

	why[0] = '\0';
	for (impl = 0; impl < CR_NR_IMPLS; impl++) {
		struct cr_counters b = before->impl[impl];
		struct cr_counters a = after->impl[impl];
		struct cr_counters w = want->impl[impl];
		bool named = false;

		for (i = 0; i < CR_NR_COUNTERS; i++) {
			uint64_t got = *cr_counter(&a, i) - *cr_counter(&b, i);

			if (got == *cr_counter(&w, i))
				continue;
			ok = false;
			if (!named && at < len)
				at += snprintf(why + at, len - at, "%s%s:",
					       at ? "; " : "",
					       cr_impl_name(impl));
			named = true;
			if (at < len)
				at += snprintf(why + at, len - at,
					       " %s +%" PRIu64 " (want +%" PRIu64 ")",
					       cr_counter_name(i), got,
					       *cr_counter(&w, i));
		}
	}
	return ok;
}

/*
 * Asynchronous copies: COPY_RANGE_IOC_SUBMIT and the job descriptor's
 * ioctls.  Like copy_range_dev(), raw syscalls, each returning -1 with
 * errno set on failure.
 */

/* COPY_RANGE_IOC_SUBMIT on @dev: the job's descriptor. */
static inline int cr_submit_dev(int dev, int src_fd, uint64_t src_off,
				int dst_fd, uint64_t dst_off, uint64_t len,
				uint64_t flags)
{
	struct copy_range_args args = {
		.src_fd = src_fd,
		.dst_fd = dst_fd,
		.src_off = src_off,
		.dst_off = dst_off,
		.len = len,
		.flags = flags,
	};

	if (dev < 0)
		return -1;
	return syscall(SYS_ioctl, dev, COPY_RANGE_IOC_SUBMIT, &args);
}

static inline int cr_submit(int src_fd, uint64_t src_off, int dst_fd,
			    uint64_t dst_off, uint64_t len, uint64_t flags)
{
	return cr_submit_dev(cr_dev(), src_fd, src_off, dst_fd, dst_off, len,
			     flags);
}

/*
 * A status ioctl (COPY_RANGE_JOB_IOC_STATUS or _WAIT) into @st, which is
 * poisoned first so that a kernel that does not fill it in is caught by
 * cr_status_sane().  0 on success, whatever non-negative count the ioctl
 * returned (the header does not say).
 */
static inline int cr_job_ioctl_status(int job, unsigned long cmd,
				      struct copy_range_status *st)
{
	memset(st, 0xa5, sizeof(*st));
	return syscall(SYS_ioctl, job, cmd, st) < 0 ? -1 : 0;
}

static inline int cr_job_status(int job, struct copy_range_status *st)
{
	return cr_job_ioctl_status(job, COPY_RANGE_JOB_IOC_STATUS, st);
}

/* Blocks until the job has ended; -1/EINTR on a signal. */
static inline int cr_job_wait(int job, struct copy_range_status *st)
{
	return cr_job_ioctl_status(job, COPY_RANGE_JOB_IOC_WAIT, st);
}

static inline int cr_job_cancel(int job)
{
	return syscall(SYS_ioctl, job, COPY_RANGE_JOB_IOC_CANCEL, 0L) < 0 ?
	       -1 : 0;
}

static inline const char *cr_job_state_name(int32_t state)
{
	switch (state) {
	case COPY_RANGE_JOB_RUNNING:
		return "RUNNING";
	case COPY_RANGE_JOB_DONE:
		return "DONE";
	case COPY_RANGE_JOB_FAILED:
		return "FAILED";
	case COPY_RANGE_JOB_CANCELLED:
		return "CANCELLED";
	}
	return "(unknown)";
}

/*
 * True when @st could be a job's status: a known state, copied <= total,
 * and an error exactly when the state is FAILED (a negative errno).
 */
static inline bool cr_status_sane(const struct copy_range_status *st)
{
	if (st->copied > st->total)
		return false;
	switch (st->state) {
	case COPY_RANGE_JOB_RUNNING:
	case COPY_RANGE_JOB_DONE:
	case COPY_RANGE_JOB_CANCELLED:
		return st->error == 0;
	case COPY_RANGE_JOB_FAILED:
		return st->error < 0 && st->error >= -4095;
	}
	return false;
}

/*
 * "STATE copied/total error N", for messages.  The string stays valid
 * until the fourth call after this one.
 */
static inline const char *cr_status_str(const struct copy_range_status *st)
{
	static char bufs[4][96];
	static unsigned int next;
	char *buf = bufs[next++ % 4];

	snprintf(buf, sizeof(bufs[0]), "%s %ju/%ju error %d",
		 cr_job_state_name(st->state), (uintmax_t)st->copied,
		 (uintmax_t)st->total, st->error);
	return buf;
}

/* poll(2) for POLLIN on one descriptor: its revents (0 on timeout), or -1. */
static inline int poll_in(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int ret = poll(&p, 1, timeout_ms);

	return ret < 0 ? -1 : p.revents;
}

/*
 * Vectors.  COPY_RANGE_IOC_COPYV: the count, also checked against @v's
 * copied as copy_range_dev() does; @v's out fields are poisoned first.
 */
static inline int64_t cr_copyv_dev(int dev, struct copy_range_vec *v)
{
	long ret;

	v->done_segs = 0xdeadbeef;
	v->copied = 0xdeadbeefcafef00dULL;
	if (dev < 0)
		return -1;
	ret = syscall(SYS_ioctl, dev, COPY_RANGE_IOC_COPYV, v);
	if (ret < 0)
		return -1;
	if (v->copied != (uint64_t)ret) {
		fprintf(stderr, "# COPYV returned %ld but copied = %llu\n",
			ret, (unsigned long long)v->copied);
		errno = EPROTO;
		return -1;
	}
	return ret;
}

static inline int64_t cr_copyv(struct copy_range_vec *v)
{
	return cr_copyv_dev(cr_dev(), v);
}

/* COPY_RANGE_IOC_SUBMITV: the job's descriptor. */
static inline int cr_submitv(struct copy_range_vec *v)
{
	if (cr_dev() < 0)
		return -1;
	return syscall(SYS_ioctl, cr_dev(), COPY_RANGE_IOC_SUBMITV, v);
}

static inline struct copy_range_vec cr_vec(int src_fd, int dst_fd,
					   uint64_t flags,
					   const struct copy_range_seg *segs,
					   uint32_t nr_segs)
{
	struct copy_range_vec v = {
		.src_fd = src_fd,
		.dst_fd = dst_fd,
		.flags = flags,
		.segs = (uintptr_t)segs,
		.nr_segs = nr_segs,
	};

	return v;
}

/* Seconds on CLOCK_MONOTONIC, for timing a call. */
static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif /* COPY_RANGE_HELPERS_H */
