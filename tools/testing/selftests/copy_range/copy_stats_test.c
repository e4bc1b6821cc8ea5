// SPDX-License-Identifier: GPL-2.0
/*
 * Which implementation served a copy, and how, seen through the module's
 * counters in debugfs: the table is read before and after each call and
 * the difference must be exactly what the call did, in exactly one row.
 *
 * The implementation is chosen by the destination's filesystem: btrfs has
 * its own; xfs shares through ->remap_file_range ("remap"); ext4 and tmpfs
 * can only copy data ("generic"), and so can any copy across two
 * filesystems, whatever they are.  Filesystems with their own
 * ->copy_file_range ("fs_copy") are in copy_overlay_test.c.
 *
 * A call that fails its argument checks reaches no implementation and
 * moves no counter; one that reaches an implementation and fails without
 * copying anything counts as a call and as an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "copy_range_helpers.h"
#include "kselftest_harness.h"

#define SEED_A		0x5eed0000057a7501ULL
#define SEED_B		0x5eed0000057a7502ULL
/* Block aligned on every test filesystem. */
#define SRC_SIZE	MIB

/*
 * Asserts that the counters moved from @before by exactly @want, and
 * names every implementation that moved otherwise.
 */
static void check_moved(struct __test_metadata *_metadata,
			const struct cr_stats *before,
			const struct cr_stats *want)
{
	struct cr_stats after;
	char why[512];

	ASSERT_EQ(0, cr_stats_read(&after))
		TH_LOG("%s: %s", CR_STATS_PATH, strerror(errno));
	ASSERT_TRUE(cr_stats_moved(before, &after, want, why, sizeof(why)))
		TH_LOG("%s", why);
}

/* Asserts that no counter moved from @before. */
static void check_unmoved(struct __test_metadata *_metadata,
			  const struct cr_stats *before)
{
	const struct cr_stats none = {};

	check_moved(_metadata, before, &none);
}

static void read_stats(struct __test_metadata *_metadata, struct cr_stats *st)
{
	ASSERT_EQ(0, cr_stats_read(st))
		TH_LOG("%s: %s", CR_STATS_PATH, strerror(errno));
}

/* What one implementation's counters must have moved by. */
#define MOVED(st, which, ...) \
	((st)->impl[which] = (struct cr_counters){ __VA_ARGS__ })

/* The directory, the device and a readable table, or a SKIP. */
static bool stats_usable(struct __test_metadata *_metadata, const char *root,
			 unsigned long magic)
{
	struct cr_stats st;

	if (!fs_mounted(root, magic))
		SKIP(return false, "%s is not mounted", root);
	if (!fs_mounted(CR_DEBUGFS, DEBUGFS_MAGIC))
		SKIP(return false, "debugfs is not mounted on %s", CR_DEBUGFS);
	ASSERT_LE(0, cr_dev()) TH_LOG("open %s: %s", CR_DEVICE_PATH,
				      strerror(errno));
	read_stats(_metadata, &st);
	return true;
}

/* ---- Source and destination on one filesystem ---- */

FIXTURE(stats) {
	char dir[PATH_MAX];
	int src_fd;	/* SRC_SIZE bytes of SEED_A, on disk */
	int dst_fd;	/* empty */
};

FIXTURE_VARIANT(stats) {
	const char *root;
	unsigned long magic;
	enum cr_impl impl;
	bool can_share;
};

FIXTURE_VARIANT_ADD(stats, btrfs) {
	.root = FS_BTRFS, .magic = BTRFS_SUPER_MAGIC,
	.impl = CR_IMPL_BTRFS, .can_share = true,
};

FIXTURE_VARIANT_ADD(stats, xfs) {
	.root = FS_XFS, .magic = XFS_SUPER_MAGIC,
	.impl = CR_IMPL_REMAP, .can_share = true,
};

FIXTURE_VARIANT_ADD(stats, ext4) {
	.root = FS_EXT4, .magic = EXT4_SUPER_MAGIC,
	.impl = CR_IMPL_GENERIC, .can_share = false,
};

FIXTURE_VARIANT_ADD(stats, tmpfs) {
	.root = FS_TMPFS, .magic = TMPFS_MAGIC,
	.impl = CR_IMPL_GENERIC, .can_share = false,
};

FIXTURE_SETUP(stats)
{
	self->src_fd = -1;
	self->dst_fd = -1;
	if (!stats_usable(_metadata, variant->root, variant->magic))
		return;
	ASSERT_EQ(0, make_pair(variant->root, self->dir, SRC_SIZE, SEED_A,
			       &self->src_fd, &self->dst_fd))
		TH_LOG("%s: %s", self->dir, strerror(errno));
	ASSERT_EQ(0, settle(self->src_fd));
}

FIXTURE_TEARDOWN(stats)
{
	remove_pair(self->dir, self->src_fd, self->dst_fd);
}

/*
 * Flags 0: every byte copied by the module, whether or not the filesystem
 * could have shared it.  A request past the source's EOF counts what was
 * copied, not what was asked for.
 */
TEST_F(stats, flags0_copies)
{
	struct cr_stats before, want = {};

	read_stats(_metadata, &before);
	ASSERT_EQ(SRC_SIZE, copy_range(self->src_fd, 0, self->dst_fd, 0,
				       SRC_SIZE, 0));
	MOVED(&want, variant->impl, .calls = 1, .copied = SRC_SIZE);
	check_moved(_metadata, &before, &want);
	ASSERT_EQ(-1, pattern_mismatch(self->dst_fd, 0, SRC_SIZE, SEED_A, 0));

	read_stats(_metadata, &before);
	ASSERT_EQ(SRC_SIZE - 100, copy_range(self->src_fd, 100, self->dst_fd,
					     SRC_SIZE + 7, 4 * MIB, 0));
	MOVED(&want, variant->impl, .calls = 1, .copied = SRC_SIZE - 100);
	check_moved(_metadata, &before, &want);
	ASSERT_EQ(-1, pattern_mismatch(self->dst_fd, SRC_SIZE + 7,
				       SRC_SIZE - 100, SEED_A, 100));
}

/* This thread's I/O accounting (/proc/thread-self/io).  0, or -1. */
struct io_acct {
	uint64_t rchar, wchar, syscr, syscw;
};

static int io_acct_read(struct io_acct *io)
{
	char line[128];
	FILE *f = fopen("/proc/thread-self/io", "re");
	int found = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "rchar: %" SCNu64, &io->rchar) == 1 ||
		    sscanf(line, "wchar: %" SCNu64, &io->wchar) == 1 ||
		    sscanf(line, "syscr: %" SCNu64, &io->syscr) == 1 ||
		    sscanf(line, "syscw: %" SCNu64, &io->syscw) == 1)
			found++;
	}
	fclose(f);
	return found == 4 ? 0 : -1;
}

/*
 * What one copy of @len bytes adds to the accounting, less what reading
 * the accounting itself adds.  @use_cfr: copy_file_range(2) instead.
 */
static int io_acct_of_copy(int src, int dst, uint64_t len, bool use_cfr,
			   struct io_acct *delta)
{
	struct io_acct a, b;
	int64_t n;

	if (io_acct_read(&a))
		return -1;
	n = use_cfr ? cfr(src, 0, dst, 0, len) :
		      copy_range(src, 0, dst, 0, len, 0);
	if (io_acct_read(&b) || n != (int64_t)len)
		return -1;
	delta->rchar = b.rchar - a.rchar;
	delta->wchar = b.wchar - a.wchar;
	delta->syscr = b.syscr - a.syscr;
	delta->syscw = b.syscw - a.syscw;
	return 0;
}

/*
 * A copy over several of the module's chunks is accounted as
 * copy_file_range(2) accounts one call: one read and one write system call,
 * and the bytes once (and one fsnotify access and modify event with them,
 * which the same code emits).
 */
TEST_F(stats, io_accounting_is_once_per_call)
{
	const uint64_t len = 2 * CR_CHUNK + 12345;
	struct io_acct via_cr, via_cfr;
	int big, dst;

	big = open_new(self->dir, "big", O_RDWR);
	ASSERT_LE(0, big);
	ASSERT_EQ(0, pattern_write(big, 0, len, SEED_A, 0));
	dst = open_new(self->dir, "io_dst", O_RDWR);
	ASSERT_LE(0, dst);

	ASSERT_EQ(0, io_acct_of_copy(big, dst, len, false, &via_cr));
	ASSERT_EQ(0, ftruncate(dst, 0));
	ASSERT_EQ(0, io_acct_of_copy(big, dst, len, true, &via_cfr));
	EXPECT_EQ(via_cfr.syscr, via_cr.syscr);
	EXPECT_EQ(via_cfr.syscw, via_cr.syscw);
	EXPECT_EQ(via_cfr.wchar, via_cr.wchar);
	/* rchar also counts the read of the accounting file, a few digits. */
	EXPECT_GE((uint64_t)16, via_cr.rchar > via_cfr.rchar ?
		  via_cr.rchar - via_cfr.rchar : via_cfr.rchar - via_cr.rchar);
	EXPECT_LE(len, via_cr.wchar);
	close(big);
	close(dst);
}

/* ALLOW on a block-aligned whole file: all shared where possible. */
TEST_F(stats, allow_aligned)
{
	struct cr_stats before, want = {};

	read_stats(_metadata, &before);
	ASSERT_EQ(SRC_SIZE, copy_range(self->src_fd, 0, self->dst_fd, 0,
				       SRC_SIZE, COPY_RANGE_SHARE_ALLOW));
	if (variant->can_share)
		MOVED(&want, variant->impl, .calls = 1, .shared = SRC_SIZE);
	else
		MOVED(&want, variant->impl, .calls = 1, .copied = SRC_SIZE);
	check_moved(_metadata, &before, &want);
	ASSERT_EQ(-1, pattern_mismatch(self->dst_fd, 0, SRC_SIZE, SEED_A, 0));
}

/*
 * ALLOW with both offsets 100 bytes into a block and a length ending 100
 * bytes into one, before EOF: the head up to the first block boundary and
 * the 100-byte tail are copied, the blocks in between shared, so exactly
 * one block's worth is copied.
 */
TEST_F(stats, allow_unaligned_splits)
{
	const int64_t off = 100, len = SRC_SIZE / 2;
	struct cr_stats before, want = {};
	struct statfs sfs;
	int64_t block;

	ASSERT_EQ(0, fstatfs(self->dst_fd, &sfs));
	block = sfs.f_bsize;
	ASSERT_EQ(0, (SRC_SIZE / 2) % block) TH_LOG("block size %jd",
						    (intmax_t)block);

	read_stats(_metadata, &before);
	ASSERT_EQ(len, copy_range(self->src_fd, off, self->dst_fd, off, len,
				  COPY_RANGE_SHARE_ALLOW));
	if (variant->can_share)
		MOVED(&want, variant->impl, .calls = 1, .shared = len - block,
		      .copied = block);
	else
		MOVED(&want, variant->impl, .calls = 1, .copied = len);
	check_moved(_metadata, &before, &want);
	ASSERT_EQ(-1, pattern_mismatch(self->dst_fd, off, len, SEED_A, off));
}

/*
 * REQUIRE on a block-aligned range: all shared; where the filesystem
 * cannot share, EOPNOTSUPP from the argument checks, so no counter.
 */
TEST_F(stats, require_aligned)
{
	struct cr_stats before, want = {};
	int64_t ret;

	read_stats(_metadata, &before);
	ret = copy_range(self->src_fd, 0, self->dst_fd, 0, SRC_SIZE,
			 COPY_RANGE_SHARE_REQUIRE);
	if (!variant->can_share) {
		ASSERT_EQ(-1, ret);
		ASSERT_EQ(EOPNOTSUPP, errno) TH_LOG("%s", strerror(errno));
		check_unmoved(_metadata, &before);
		return;
	}
	ASSERT_EQ(SRC_SIZE, ret) TH_LOG("%s", strerror(errno));
	MOVED(&want, variant->impl, .calls = 1, .shared = SRC_SIZE);
	check_moved(_metadata, &before, &want);
	ASSERT_EQ(-1, pattern_mismatch(self->dst_fd, 0, SRC_SIZE, SEED_A, 0));
}

/*
 * REQUIRE on a range the filesystem refuses to share (a length ending
 * inside a block, before EOF): the call reached the implementation and
 * failed there with the filesystem's EINVAL, one call and one error.
 */
/*
 * An unaligned REQUIRE range is refused by the argument checks (so that a
 * job or a vector never starts on one): no implementation is reached.
 */
TEST_F(stats, require_unaligned_moves_nothing)
{
	struct cr_stats before;

	read_stats(_metadata, &before);
	ASSERT_EQ(-1, copy_range(self->src_fd, 0, self->dst_fd, 0,
				 SRC_SIZE / 2 + 100, COPY_RANGE_SHARE_REQUIRE));
	ASSERT_EQ(variant->can_share ? EINVAL : EOPNOTSUPP, errno)
		TH_LOG("%s", strerror(errno));
	check_unmoved(_metadata, &before);
	ASSERT_EQ(0, file_size(self->dst_fd));
}

/* Calls stopped by the argument checks reach no implementation. */
TEST_F(stats, failed_checks_move_nothing)
{
	struct cr_stats before;
	int closed, wo;

	/* In this order, so that wo cannot reuse closed's number. */
	wo = open_at(self->dir, "src", O_WRONLY);
	ASSERT_LE(0, wo);
	closed = dup(self->src_fd);
	ASSERT_LE(0, closed);
	ASSERT_EQ(0, close(closed));

	read_stats(_metadata, &before);
	ASSERT_EQ(-1, copy_range(closed, 0, self->dst_fd, 0, SRC_SIZE, 0));
	ASSERT_EQ(EBADF, errno);
	ASSERT_EQ(-1, copy_range(self->src_fd, 0, closed, 0, SRC_SIZE,
				 COPY_RANGE_SHARE_ALLOW));
	ASSERT_EQ(EBADF, errno);
	ASSERT_EQ(-1, copy_range(wo, 0, self->dst_fd, 0, SRC_SIZE,
				 COPY_RANGE_SHARE_REQUIRE));
	ASSERT_EQ(EBADF, errno);
	check_unmoved(_metadata, &before);

	read_stats(_metadata, &before);
	ASSERT_EQ(-1, copy_range(self->src_fd, 0, self->dst_fd, 0, SRC_SIZE,
				 COPY_RANGE_SHARE_ALLOW |
				 COPY_RANGE_SHARE_REQUIRE));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, copy_range(self->src_fd, 0, self->dst_fd, 0, SRC_SIZE,
				 1ULL << 63));
	ASSERT_EQ(EINVAL, errno);
	/* Overlapping ranges within one file. */
	ASSERT_EQ(-1, copy_range(self->src_fd, 0, self->src_fd, 4096,
				 SRC_SIZE, 0));
	ASSERT_EQ(EINVAL, errno);
	check_unmoved(_metadata, &before);

	close(wo);
	ASSERT_EQ(0, file_size(self->dst_fd));
}

/*
 * Nothing to copy (a length of 0, or a source offset at EOF) is 0 before
 * any implementation is called, with every flag; REQUIRE where nothing can
 * be shared is EOPNOTSUPP from the checks.
 */
TEST_F(stats, nothing_to_copy_moves_nothing)
{
	static const uint64_t flags[] = {
		0, COPY_RANGE_SHARE_ALLOW, COPY_RANGE_SHARE_REQUIRE,
	};
	struct cr_stats before;
	unsigned int i;

	read_stats(_metadata, &before);
	for (i = 0; i < ARRAY_SIZE(flags); i++) {
		bool probe_fails = flags[i] == COPY_RANGE_SHARE_REQUIRE &&
				   !variant->can_share;
		int64_t want = probe_fails ? -1 : 0;

		ASSERT_EQ(want, copy_range(self->src_fd, 0, self->dst_fd, 0,
					   0, flags[i]))
			TH_LOG("flags %ju: %s", (uintmax_t)flags[i],
			       strerror(errno));
		ASSERT_EQ(want, copy_range(self->src_fd, SRC_SIZE,
					   self->dst_fd, 0, MIB, flags[i]))
			TH_LOG("flags %ju: %s", (uintmax_t)flags[i],
			       strerror(errno));
		if (probe_fails)
			ASSERT_EQ(EOPNOTSUPP, errno);
	}
	check_unmoved(_metadata, &before);
	ASSERT_EQ(0, file_size(self->dst_fd));
}

/* ---- btrfs: a NOCOW file and a checksummed one cannot share ---- */

FIXTURE(nocow) {
	char dir[PATH_MAX];
	int src_fd;	/* SRC_SIZE bytes of SEED_A, NOCOW */
	int dst_fd;	/* empty, checksummed */
};

FIXTURE_SETUP(nocow)
{
	int attr;

	self->src_fd = -1;
	self->dst_fd = -1;
	if (!stats_usable(_metadata, FS_BTRFS, BTRFS_SUPER_MAGIC))
		return;
	ASSERT_NE(NULL, make_test_dir(FS_BTRFS, self->dir));
	self->src_fd = open_new(self->dir, "src", O_RDWR);
	ASSERT_LE(0, self->src_fd);
	/* Only while the file is empty does btrfs take the attribute. */
	ASSERT_EQ(0, ioctl(self->src_fd, FS_IOC_GETFLAGS, &attr));
	attr |= FS_NOCOW_FL;
	ASSERT_EQ(0, ioctl(self->src_fd, FS_IOC_SETFLAGS, &attr));
	ASSERT_EQ(0, pattern_write(self->src_fd, 0, SRC_SIZE, SEED_A, 0));
	ASSERT_EQ(0, settle(self->src_fd));
	self->dst_fd = open_new(self->dir, "dst", O_RDWR);
	ASSERT_LE(0, self->dst_fd);
	ASSERT_EQ(0, ioctl(self->dst_fd, FS_IOC_GETFLAGS, &attr));
	ASSERT_FALSE(attr & FS_NOCOW_FL) TH_LOG("%s inherits NOCOW",
						self->dir);
}

FIXTURE_TEARDOWN(nocow)
{
	remove_pair(self->dir, self->src_fd, self->dst_fd);
}

/* ALLOW still goes to the btrfs implementation, which copies it all. */
TEST_F(nocow, allow_copies)
{
	struct cr_stats before, want = {};

	read_stats(_metadata, &before);
	ASSERT_EQ(SRC_SIZE, copy_range(self->src_fd, 0, self->dst_fd, 0,
				       SRC_SIZE, COPY_RANGE_SHARE_ALLOW));
	MOVED(&want, CR_IMPL_BTRFS, .calls = 1, .copied = SRC_SIZE);
	check_moved(_metadata, &before, &want);
	ASSERT_EQ(-1, pattern_mismatch(self->dst_fd, 0, SRC_SIZE, SEED_A, 0));
}

/* REQUIRE is refused by the checks: EOPNOTSUPP, no counter. */
TEST_F(nocow, require_refused)
{
	struct cr_stats before;

	read_stats(_metadata, &before);
	ASSERT_EQ(-1, copy_range(self->src_fd, 0, self->dst_fd, 0, SRC_SIZE,
				 COPY_RANGE_SHARE_REQUIRE));
	ASSERT_EQ(EOPNOTSUPP, errno) TH_LOG("%s", strerror(errno));
	check_unmoved(_metadata, &before);
	ASSERT_EQ(0, file_size(self->dst_fd));
}

/* ---- Across two filesystems: always the generic data copy ---- */

FIXTURE(cross) {
	char src_dir[PATH_MAX];
	char dst_dir[PATH_MAX];
	int src_fd;	/* SRC_SIZE bytes of SEED_B, on disk */
	int dst_fd;	/* empty */
};

FIXTURE_VARIANT(cross) {
	const char *src_root;
	unsigned long src_magic;
	const char *dst_root;
	unsigned long dst_magic;
};

FIXTURE_VARIANT_ADD(cross, btrfs_to_ext4) {
	.src_root = FS_BTRFS, .src_magic = BTRFS_SUPER_MAGIC,
	.dst_root = FS_EXT4, .dst_magic = EXT4_SUPER_MAGIC,
};

/* The destination's own implementation is for copies within it only. */
FIXTURE_VARIANT_ADD(cross, xfs_to_btrfs) {
	.src_root = FS_XFS, .src_magic = XFS_SUPER_MAGIC,
	.dst_root = FS_BTRFS, .dst_magic = BTRFS_SUPER_MAGIC,
};

FIXTURE_VARIANT_ADD(cross, tmpfs_to_xfs) {
	.src_root = FS_TMPFS, .src_magic = TMPFS_MAGIC,
	.dst_root = FS_XFS, .dst_magic = XFS_SUPER_MAGIC,
};

FIXTURE_SETUP(cross)
{
	self->src_fd = -1;
	self->dst_fd = -1;
	if (!fs_mounted(variant->src_root, variant->src_magic))
		SKIP(return, "%s is not mounted", variant->src_root);
	if (!stats_usable(_metadata, variant->dst_root, variant->dst_magic))
		return;
	ASSERT_NE(NULL, make_test_dir(variant->src_root, self->src_dir));
	ASSERT_NE(NULL, make_test_dir(variant->dst_root, self->dst_dir));
	self->src_fd = open_new(self->src_dir, "src", O_RDWR);
	ASSERT_LE(0, self->src_fd);
	ASSERT_EQ(0, pattern_write(self->src_fd, 0, SRC_SIZE, SEED_B, 0));
	ASSERT_EQ(0, settle(self->src_fd));
	self->dst_fd = open_new(self->dst_dir, "dst", O_RDWR);
	ASSERT_LE(0, self->dst_fd);
}

FIXTURE_TEARDOWN(cross)
{
	if (self->src_fd >= 0)
		close(self->src_fd);
	if (self->dst_fd >= 0)
		close(self->dst_fd);
	remove_tree(self->src_dir);
	remove_tree(self->dst_dir);
}

TEST_F(cross, flags0_generic)
{
	struct cr_stats before, want = {};

	read_stats(_metadata, &before);
	ASSERT_EQ(SRC_SIZE, copy_range(self->src_fd, 0, self->dst_fd, 0,
				       SRC_SIZE, 0));
	MOVED(&want, CR_IMPL_GENERIC, .calls = 1, .copied = SRC_SIZE);
	check_moved(_metadata, &before, &want);
	ASSERT_EQ(-1, pattern_mismatch(self->dst_fd, 0, SRC_SIZE, SEED_B, 0));
}

/* Nothing can be shared across filesystems: ALLOW copies it all. */
TEST_F(cross, allow_generic)
{
	struct cr_stats before, want = {};

	read_stats(_metadata, &before);
	ASSERT_EQ(SRC_SIZE, copy_range(self->src_fd, 0, self->dst_fd, 0,
				       SRC_SIZE, COPY_RANGE_SHARE_ALLOW));
	MOVED(&want, CR_IMPL_GENERIC, .calls = 1, .copied = SRC_SIZE);
	check_moved(_metadata, &before, &want);
	ASSERT_EQ(-1, pattern_mismatch(self->dst_fd, 0, SRC_SIZE, SEED_B, 0));
}

/* REQUIRE across filesystems is EXDEV from the checks: no counter. */
TEST_F(cross, require_exdev)
{
	struct cr_stats before;

	read_stats(_metadata, &before);
	ASSERT_EQ(-1, copy_range(self->src_fd, 0, self->dst_fd, 0, SRC_SIZE,
				 COPY_RANGE_SHARE_REQUIRE));
	ASSERT_EQ(EXDEV, errno) TH_LOG("%s", strerror(errno));
	check_unmoved(_metadata, &before);
	ASSERT_EQ(0, file_size(self->dst_fd));
}

/* ---- The table itself ---- */

/* The table parses, and reading it moves nothing. */
TEST(table_is_stable_when_idle)
{
	struct cr_stats a;

	if (!fs_mounted(CR_DEBUGFS, DEBUGFS_MAGIC))
		SKIP(return, "debugfs is not mounted on %s", CR_DEBUGFS);
	ASSERT_LE(0, cr_dev()) TH_LOG("open %s: %s", CR_DEVICE_PATH,
				      strerror(errno));
	read_stats(_metadata, &a);
	check_unmoved(_metadata, &a);
}

TEST_HARNESS_MAIN
