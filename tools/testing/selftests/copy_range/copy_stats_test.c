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

#include "cr_fixture.h"

#define SEED_A		0x5eed0000057a7501ULL
#define SEED_B		0x5eed0000057a7502ULL
/* Block aligned on every test filesystem. */
#define SRC_SIZE	MIB

/* That no counter moved from @before. */
static void check_unmoved(struct __test_metadata *_metadata,
			  const struct cr_stats *before)
{
	const struct cr_stats none = {};

	cr_expect_moved(_metadata, before, &none);
}

/* ---- Source and destination on one filesystem ---- */

FIXTURE(stats) {
	/* src: SRC_SIZE bytes of SEED_A, on disk; dst: empty */
	struct cr_env e;
};

FIXTURE_VARIANT(stats) {
	struct cr_fs fs;
	enum cr_impl impl;
};

FIXTURE_VARIANT_ADD(stats, btrfs) {
	.fs = CR_FS_BTRFS, .impl = CR_IMPL_BTRFS,
};

FIXTURE_VARIANT_ADD(stats, xfs) {
	.fs = CR_FS_XFS, .impl = CR_IMPL_REMAP,
};

FIXTURE_VARIANT_ADD(stats, ext4) {
	.fs = CR_FS_EXT4, .impl = CR_IMPL_GENERIC,
};

FIXTURE_VARIANT_ADD(stats, tmpfs) {
	.fs = CR_FS_TMPFS, .impl = CR_IMPL_GENERIC,
};

FIXTURE_SETUP(stats)
{
	if (!cr_need_stats(_metadata) ||
	    !cr_env_setup_on(_metadata, &self->e, &variant->fs, SRC_SIZE,
			     SEED_A))
		return;
	ASSERT_EQ(0, settle(self->e.src_fd));
}

FIXTURE_TEARDOWN(stats)
{
	cr_env_teardown(&self->e);
}

/*
 * Flags 0: every byte copied by the module, whether or not the filesystem
 * could have shared it.  A request past the source's EOF counts what was
 * copied, not what was asked for.
 */
TEST_F(stats, flags0_copies)
{
	struct cr_stats before, want = {};

	cr_read_stats(_metadata, &before);
	EXPECT_EQ(SRC_SIZE, copy_range(self->e.src_fd, 0, self->e.dst_fd, 0,
				       SRC_SIZE, 0));
	MOVED(&want, variant->impl, .calls = 1, .copied = SRC_SIZE);
	cr_expect_moved(_metadata, &before, &want);
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, SRC_SIZE, SEED_A, 0));

	cr_read_stats(_metadata, &before);
	EXPECT_EQ(SRC_SIZE - 100, copy_range(self->e.src_fd, 100,
					     self->e.dst_fd, SRC_SIZE + 7,
					     4 * MIB, 0));
	MOVED(&want, variant->impl, .calls = 1, .copied = SRC_SIZE - 100);
	cr_expect_moved(_metadata, &before, &want);
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, SRC_SIZE + 7,
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

	big = open_new(self->e.src_dir, "big", O_RDWR);
	ASSERT_LE(0, big);
	ASSERT_EQ(0, pattern_write(big, 0, len, SEED_A, 0));
	dst = open_new(self->e.src_dir, "io_dst", O_RDWR);
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

	cr_read_stats(_metadata, &before);
	EXPECT_EQ(SRC_SIZE, copy_range(self->e.src_fd, 0, self->e.dst_fd, 0,
				       SRC_SIZE, COPY_RANGE_SHARE_ALLOW));
	if (variant->fs.can_share)
		MOVED(&want, variant->impl, .calls = 1, .shared = SRC_SIZE);
	else
		MOVED(&want, variant->impl, .calls = 1, .copied = SRC_SIZE);
	cr_expect_moved(_metadata, &before, &want);
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, SRC_SIZE, SEED_A, 0));
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

	ASSERT_EQ(0, fstatfs(self->e.dst_fd, &sfs));
	block = sfs.f_bsize;
	ASSERT_EQ(0, (SRC_SIZE / 2) % block) TH_LOG("block size %jd",
						    (intmax_t)block);

	cr_read_stats(_metadata, &before);
	EXPECT_EQ(len, copy_range(self->e.src_fd, off, self->e.dst_fd, off, len,
				  COPY_RANGE_SHARE_ALLOW));
	if (variant->fs.can_share)
		MOVED(&want, variant->impl, .calls = 1, .shared = len - block,
		      .copied = block);
	else
		MOVED(&want, variant->impl, .calls = 1, .copied = len);
	cr_expect_moved(_metadata, &before, &want);
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, off, len, SEED_A, off));
}

/*
 * REQUIRE on a block-aligned range: all shared; where the filesystem
 * cannot share, EOPNOTSUPP from the argument checks, so no counter.
 */
TEST_F(stats, require_aligned)
{
	struct cr_stats before, want = {};
	int64_t ret;

	cr_read_stats(_metadata, &before);
	ret = copy_range(self->e.src_fd, 0, self->e.dst_fd, 0, SRC_SIZE,
			 COPY_RANGE_SHARE_REQUIRE);
	if (!variant->fs.can_share) {
		EXPECT_EQ(-1, ret);
		EXPECT_EQ(EOPNOTSUPP, errno) TH_LOG("%s", strerror(errno));
		check_unmoved(_metadata, &before);
		return;
	}
	ASSERT_EQ(SRC_SIZE, ret) TH_LOG("%s", strerror(errno));
	MOVED(&want, variant->impl, .calls = 1, .shared = SRC_SIZE);
	cr_expect_moved(_metadata, &before, &want);
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, SRC_SIZE, SEED_A, 0));
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

	cr_read_stats(_metadata, &before);
	EXPECT_EQ(-1, copy_range(self->e.src_fd, 0, self->e.dst_fd, 0,
				 SRC_SIZE / 2 + 100, COPY_RANGE_SHARE_REQUIRE));
	ASSERT_EQ(variant->fs.can_share ? EINVAL : EOPNOTSUPP, errno)
		TH_LOG("%s", strerror(errno));
	check_unmoved(_metadata, &before);
	EXPECT_EQ(0, file_size(self->e.dst_fd));
}

/* Calls stopped by the argument checks reach no implementation. */
TEST_F(stats, failed_checks_move_nothing)
{
	struct cr_stats before;
	int closed, wo;

	/* In this order, so that wo cannot reuse closed's number. */
	wo = open_at(self->e.src_dir, "src", O_WRONLY);
	ASSERT_LE(0, wo);
	closed = dup(self->e.src_fd);
	ASSERT_LE(0, closed);
	ASSERT_EQ(0, close(closed));

	cr_read_stats(_metadata, &before);
	EXPECT_EQ(-1, copy_range(closed, 0, self->e.dst_fd, 0, SRC_SIZE, 0));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(-1, copy_range(self->e.src_fd, 0, closed, 0, SRC_SIZE,
				 COPY_RANGE_SHARE_ALLOW));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(-1, copy_range(wo, 0, self->e.dst_fd, 0, SRC_SIZE,
				 COPY_RANGE_SHARE_REQUIRE));
	EXPECT_EQ(EBADF, errno);
	check_unmoved(_metadata, &before);

	cr_read_stats(_metadata, &before);
	EXPECT_EQ(-1, copy_range(self->e.src_fd, 0, self->e.dst_fd, 0, SRC_SIZE,
				 COPY_RANGE_SHARE_ALLOW |
				 COPY_RANGE_SHARE_REQUIRE));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, copy_range(self->e.src_fd, 0, self->e.dst_fd, 0, SRC_SIZE,
				 1ULL << 63));
	EXPECT_EQ(EINVAL, errno);
	/* Overlapping ranges within one file. */
	EXPECT_EQ(-1, copy_range(self->e.src_fd, 0, self->e.src_fd, 4096,
				 SRC_SIZE, 0));
	EXPECT_EQ(EINVAL, errno);
	check_unmoved(_metadata, &before);

	close(wo);
	EXPECT_EQ(0, file_size(self->e.dst_fd));
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

	cr_read_stats(_metadata, &before);
	for (i = 0; i < ARRAY_SIZE(flags); i++) {
		bool probe_fails = flags[i] == COPY_RANGE_SHARE_REQUIRE &&
				   !variant->fs.can_share;
		int64_t want = probe_fails ? -1 : 0;

		EXPECT_EQ(want, copy_range(self->e.src_fd, 0, self->e.dst_fd, 0,
					   0, flags[i]))
			TH_LOG("flags %ju: %s", (uintmax_t)flags[i],
			       strerror(errno));
		EXPECT_EQ(want, copy_range(self->e.src_fd, SRC_SIZE,
					   self->e.dst_fd, 0, MIB, flags[i]))
			TH_LOG("flags %ju: %s", (uintmax_t)flags[i],
			       strerror(errno));
		if (probe_fails)
			EXPECT_EQ(EOPNOTSUPP, errno);
	}
	check_unmoved(_metadata, &before);
	EXPECT_EQ(0, file_size(self->e.dst_fd));
}

/* ---- btrfs: a NOCOW file and a checksummed one cannot share ---- */

FIXTURE(nocow) {
	/* src: SRC_SIZE bytes of SEED_A, NOCOW; dst: empty */
	struct cr_env e;
};

FIXTURE_SETUP(nocow)
{
	const struct cr_fs btrfs = CR_FS_BTRFS;
	int attr;

	if (!cr_need_stats(_metadata) ||
	    !cr_env_setup_on(_metadata, &self->e, &btrfs, 0, PATTERN_ZERO))
		return;
	/* Only while the file is empty does btrfs take the attribute. */
	ASSERT_EQ(0, ioctl(self->e.src_fd, FS_IOC_GETFLAGS, &attr));
	attr |= FS_NOCOW_FL;
	ASSERT_EQ(0, ioctl(self->e.src_fd, FS_IOC_SETFLAGS, &attr));
	ASSERT_EQ(0, pattern_write(self->e.src_fd, 0, SRC_SIZE, SEED_A, 0));
	ASSERT_EQ(0, settle(self->e.src_fd));
	ASSERT_EQ(0, ioctl(self->e.dst_fd, FS_IOC_GETFLAGS, &attr));
	ASSERT_FALSE(attr & FS_NOCOW_FL) TH_LOG("%s inherits NOCOW",
						self->e.dst_dir);
}

FIXTURE_TEARDOWN(nocow)
{
	cr_env_teardown(&self->e);
}

/* ALLOW still goes to the btrfs implementation, which copies it all. */
TEST_F(nocow, allow_copies)
{
	struct cr_stats before, want = {};

	cr_read_stats(_metadata, &before);
	EXPECT_EQ(SRC_SIZE, copy_range(self->e.src_fd, 0, self->e.dst_fd, 0,
				       SRC_SIZE, COPY_RANGE_SHARE_ALLOW));
	MOVED(&want, CR_IMPL_BTRFS, .calls = 1, .copied = SRC_SIZE);
	cr_expect_moved(_metadata, &before, &want);
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, SRC_SIZE, SEED_A, 0));
}

/* REQUIRE is refused by the checks: EOPNOTSUPP, no counter. */
TEST_F(nocow, require_refused)
{
	struct cr_stats before;

	cr_read_stats(_metadata, &before);
	EXPECT_EQ(-1, copy_range(self->e.src_fd, 0, self->e.dst_fd, 0, SRC_SIZE,
				 COPY_RANGE_SHARE_REQUIRE));
	EXPECT_EQ(EOPNOTSUPP, errno) TH_LOG("%s", strerror(errno));
	check_unmoved(_metadata, &before);
	EXPECT_EQ(0, file_size(self->e.dst_fd));
}

/* ---- Across two filesystems: always the generic data copy ---- */

FIXTURE(cross) {
	/* src: SRC_SIZE bytes of SEED_B, on disk; dst: empty */
	struct cr_env e;
};

FIXTURE_VARIANT(cross) {
	struct cr_fs src, dst;
};

FIXTURE_VARIANT_ADD(cross, btrfs_to_ext4) {
	.src = CR_FS_BTRFS, .dst = CR_FS_EXT4,
};
/* The destination's own implementation is for copies within it only. */
FIXTURE_VARIANT_ADD(cross, xfs_to_btrfs) {
	.src = CR_FS_XFS, .dst = CR_FS_BTRFS,
};
FIXTURE_VARIANT_ADD(cross, tmpfs_to_xfs) {
	.src = CR_FS_TMPFS, .dst = CR_FS_XFS,
};

FIXTURE_SETUP(cross)
{
	if (!cr_need_stats(_metadata) ||
	    !cr_env_setup(_metadata, &self->e, &variant->src, &variant->dst,
			  SRC_SIZE, SEED_B))
		return;
	ASSERT_EQ(0, settle(self->e.src_fd));
}

FIXTURE_TEARDOWN(cross)
{
	cr_env_teardown(&self->e);
}

TEST_F(cross, flags0_generic)
{
	struct cr_stats before, want = {};

	cr_read_stats(_metadata, &before);
	EXPECT_EQ(SRC_SIZE, copy_range(self->e.src_fd, 0, self->e.dst_fd, 0,
				       SRC_SIZE, 0));
	MOVED(&want, CR_IMPL_GENERIC, .calls = 1, .copied = SRC_SIZE);
	cr_expect_moved(_metadata, &before, &want);
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, SRC_SIZE, SEED_B, 0));
}

/* Nothing can be shared across filesystems: ALLOW copies it all. */
TEST_F(cross, allow_generic)
{
	struct cr_stats before, want = {};

	cr_read_stats(_metadata, &before);
	EXPECT_EQ(SRC_SIZE, copy_range(self->e.src_fd, 0, self->e.dst_fd, 0,
				       SRC_SIZE, COPY_RANGE_SHARE_ALLOW));
	MOVED(&want, CR_IMPL_GENERIC, .calls = 1, .copied = SRC_SIZE);
	cr_expect_moved(_metadata, &before, &want);
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, SRC_SIZE, SEED_B, 0));
}

/* REQUIRE across filesystems is EXDEV from the checks: no counter. */
TEST_F(cross, require_exdev)
{
	struct cr_stats before;

	cr_read_stats(_metadata, &before);
	EXPECT_EQ(-1, copy_range(self->e.src_fd, 0, self->e.dst_fd, 0, SRC_SIZE,
				 COPY_RANGE_SHARE_REQUIRE));
	EXPECT_EQ(EXDEV, errno) TH_LOG("%s", strerror(errno));
	check_unmoved(_metadata, &before);
	EXPECT_EQ(0, file_size(self->e.dst_fd));
}

/* ---- The table itself ---- */

/* The table parses, and reading it moves nothing. */
TEST(table_is_stable_when_idle)
{
	struct cr_stats a;

	if (!cr_need_stats(_metadata))
		return;
	cr_read_stats(_metadata, &a);
	check_unmoved(_metadata, &a);
}

TEST_HARNESS_MAIN
