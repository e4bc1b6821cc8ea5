// SPDX-License-Identifier: GPL-2.0
/*
 * The sharing policy, seen through FIEMAP's FIEMAP_EXTENT_SHARED on the
 * files afterwards:
 *
 *   0        an independent copy: nothing shared, even where the filesystem
 *            could have shared;
 *   ALLOW    shares what lines up with filesystem blocks, copies the rest,
 *            and returns the full count in one call;
 *   REQUIRE  shares every byte or fails without touching the destination:
 *            EOPNOTSUPP where the filesystem cannot share at all, whatever
 *            the range, even an empty one (so that a caller can probe);
 *            elsewhere EINVAL for a range that is not block aligned, unless
 *            its unaligned end is the source's EOF.
 *
 * btrfs and xfs (reflink=1) can share; ext4 and tmpfs cannot, and tmpfs
 * has no FIEMAP, so there only the data and the errors are checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cr_fixture.h"

#define SEED_A		0x5eed00000005a4edULL
#define SEED_B		0x5eed0000000b1a2bULL
#define SRC_SIZE	(2 * MIB)

/*
 * Block sizes up to 64 KiB: the "aligned body" of a range is checked at
 * this granularity so that the tests do not depend on the block size.
 */
#define BODY_ALIGN	(64 * KIB)

FIXTURE(share) {
	/* src: SRC_SIZE bytes of SEED_A, on disk; dst: empty */
	struct cr_env e;
};

#define CR_FS_FIXTURE share
#include "cr_fs_variants.h"

FIXTURE_SETUP(share)
{
	if (!cr_env_setup_on(_metadata, &self->e, &variant->fs, SRC_SIZE,
			     SEED_A))
		return;
	/* Cloning needs the source's blocks allocated and on disk. */
	ASSERT_EQ(0, settle(self->e.src_fd));
}

FIXTURE_TEARDOWN(share)
{
	cr_env_teardown(&self->e);
}

/* What FIEMAP must report for [start, end) of a file. */
enum sharing { SHARED_NONE, SHARED_ALL };

/*
 * In a TEST_F(share, ...): checks @fd with FIEMAP, where the variant's
 * filesystem has it.
 */
#define CHECK_SHARING(fd, start, end, want) do { \
	if (variant->fs.has_fiemap) \
		cr_expect_sharing(_metadata, fd, start, end, \
				  (want) == SHARED_ALL); \
} while (0)

/* Even where cloning would be free, flags 0 must not share. */
TEST_F(share, flags0_shares_nothing)
{
	EXPECT_EQ(SRC_SIZE, copy_range(self->e.src_fd, 0, self->e.dst_fd, 0,
				       SRC_SIZE, 0));
	EXPECT_EQ(SRC_SIZE, file_size(self->e.dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, SRC_SIZE, SEED_A, 0));
	CHECK_SHARING(self->e.dst_fd, 0, SRC_SIZE, SHARED_NONE);
	CHECK_SHARING(self->e.src_fd, 0, SRC_SIZE, SHARED_NONE);
}

/*
 * ALLOW with both offsets 100 bytes into a block: the partial blocks at
 * either end are copied, the blocks in between shared, and the call still
 * returns the whole count.
 */
TEST_F(share, allow_unaligned_shares_body)
{
	const int64_t off = 100, len = MIB;

	EXPECT_EQ(len, copy_range(self->e.src_fd, off, self->e.dst_fd, off, len,
				  COPY_RANGE_SHARE_ALLOW));
	EXPECT_EQ(off + len, file_size(self->e.dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, off, PATTERN_ZERO,
				       0));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, off, len, SEED_A, off));
	if (variant->fs.can_share)
		CHECK_SHARING(self->e.dst_fd, BODY_ALIGN, MIB, SHARED_ALL);
	else
		CHECK_SHARING(self->e.dst_fd, 0, off + len, SHARED_NONE);
}

/*
 * A shared copy is still a copy: writing to either file afterwards must
 * not show through in the other.
 */
TEST_F(share, allow_whole_file_then_write_both)
{
	EXPECT_EQ(SRC_SIZE, copy_range(self->e.src_fd, 0, self->e.dst_fd, 0,
				       SRC_SIZE, COPY_RANGE_SHARE_ALLOW));
	EXPECT_EQ(SRC_SIZE, file_size(self->e.dst_fd));
	CHECK_SHARING(self->e.dst_fd, 0, SRC_SIZE,
		      variant->fs.can_share ? SHARED_ALL : SHARED_NONE);

	ASSERT_EQ(0, pattern_write(self->e.src_fd, 0, MIB, SEED_B, 0));
	ASSERT_EQ(0, pattern_write(self->e.dst_fd, MIB, 4096, SEED_B, 0));
	ASSERT_EQ(0, settle(self->e.src_fd));
	ASSERT_EQ(0, settle(self->e.dst_fd));

	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, MIB, SEED_A, 0));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, MIB, 4096, SEED_B, 0));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, MIB + 4096,
				       SRC_SIZE - MIB - 4096, SEED_A,
				       MIB + 4096));
	EXPECT_EQ(-1, pattern_mismatch(self->e.src_fd, 0, MIB, SEED_B, 0));
	EXPECT_EQ(-1, pattern_mismatch(self->e.src_fd, MIB, SRC_SIZE - MIB,
				       SEED_A, MIB));
}

/*
 * REQUIRE on an aligned range: all of it shared, over what the destination
 * held before; where nothing can be shared, EOPNOTSUPP and no change.
 */
TEST_F(share, require_aligned)
{
	struct snapshot before;
	int64_t ret;

	ASSERT_EQ(0, pattern_write(self->e.dst_fd, 0, 256 * KIB, SEED_B, 0));
	ASSERT_EQ(0, snapshot_take(self->e.dst_fd, &before));

	ret = copy_range(self->e.src_fd, 0, self->e.dst_fd, 0, MIB,
			 COPY_RANGE_SHARE_REQUIRE);
	if (!variant->fs.can_share) {
		EXPECT_EQ(-1, ret);
		EXPECT_EQ(EOPNOTSUPP, errno) TH_LOG("%s", strerror(errno));
		EXPECT_TRUE(snapshot_same(self->e.dst_fd, &before));
		snapshot_free(&before);
		return;
	}
	snapshot_free(&before);
	ASSERT_EQ(MIB, ret) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(MIB, file_size(self->e.dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, MIB, SEED_A, 0));
	CHECK_SHARING(self->e.dst_fd, 0, MIB, SHARED_ALL);

	/* Aligned but different offsets, past the destination's EOF. */
	EXPECT_EQ(512 * KIB, copy_range(self->e.src_fd, BODY_ALIGN,
					self->e.dst_fd, 2 * MIB, 512 * KIB,
					COPY_RANGE_SHARE_REQUIRE));
	EXPECT_EQ(2 * MIB + 512 * KIB, file_size(self->e.dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, MIB, MIB, PATTERN_ZERO, 0));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 2 * MIB, 512 * KIB,
				       SEED_A, BODY_ALIGN));
	CHECK_SHARING(self->e.dst_fd, 2 * MIB, 2 * MIB + 512 * KIB, SHARED_ALL);
}

/*
 * REQUIRE on ranges that are not block aligned and do not end at the
 * source's EOF: EINVAL where the filesystem can share, EOPNOTSUPP where it
 * cannot (that is checked first), and the destination exactly as it was.
 */
TEST_F(share, require_unaligned_fails)
{
	static const struct {
		int64_t src, dst, len;
	} ranges[] = {
		{ 100, 100, MIB },	/* same misalignment: ALLOW would share */
		{ 0, 100, MIB },	/* destination offset */
		{ 100, 0, MIB },	/* source offset */
		{ 0, 0, MIB + 100 },	/* length, ending before EOF */
		{ 4096, 4096, 100 },	/* less than a block */
	};
	struct snapshot before;
	unsigned int i;

	ASSERT_EQ(0, pattern_write(self->e.dst_fd, 0, 2 * MIB + 3, SEED_B, 0));
	ASSERT_EQ(0, snapshot_take(self->e.dst_fd, &before));
	for (i = 0; i < ARRAY_SIZE(ranges); i++) {
		EXPECT_EQ(-1, copy_range(self->e.src_fd, ranges[i].src,
					 self->e.dst_fd, ranges[i].dst,
					 ranges[i].len,
					 COPY_RANGE_SHARE_REQUIRE))
			TH_LOG("range %u accepted", i);
		ASSERT_EQ(variant->fs.can_share ? EINVAL : EOPNOTSUPP, errno)
			TH_LOG("range %u: %s", i, strerror(errno));
		EXPECT_TRUE(snapshot_same(self->e.dst_fd, &before))
			TH_LOG("range %u changed the destination", i);
	}
	snapshot_free(&before);
}

/*
 * REQUIRE with nothing to copy, a length of 0 or a source offset at or
 * past EOF, is a probe: 0 where the filesystem can share, EOPNOTSUPP where
 * it cannot, whatever the offsets.  The destination is never touched.
 */
TEST_F(share, require_len0_probes)
{
	static const struct {
		int64_t src, dst, len;
	} ranges[] = {
		{ 0, 0, 0 },
		{ 100, 4097, 0 },		/* unaligned, still nothing */
		{ SRC_SIZE, 0, 0 },		/* at EOF */
		{ SRC_SIZE, 0, MIB },		/* at EOF: clamped to 0 */
		{ SRC_SIZE + 100, 100, 100 },	/* past EOF, unaligned */
	};
	struct snapshot before;
	unsigned int i;

	ASSERT_EQ(0, pattern_write(self->e.dst_fd, 0, 64 * KIB, SEED_B, 0));
	ASSERT_EQ(0, snapshot_take(self->e.dst_fd, &before));
	for (i = 0; i < ARRAY_SIZE(ranges); i++) {
		int64_t ret = copy_range(self->e.src_fd, ranges[i].src,
					 self->e.dst_fd, ranges[i].dst,
					 ranges[i].len,
					 COPY_RANGE_SHARE_REQUIRE);

		if (variant->fs.can_share) {
			ASSERT_EQ(0, ret)
				TH_LOG("range %u: %s", i, strerror(errno));
		} else {
			EXPECT_EQ(-1, ret) TH_LOG("range %u accepted", i);
			EXPECT_EQ(EOPNOTSUPP, errno)
				TH_LOG("range %u: %s", i, strerror(errno));
		}
		EXPECT_TRUE(snapshot_same(self->e.dst_fd, &before))
			TH_LOG("range %u changed the destination", i);
	}
	snapshot_free(&before);
}

/*
 * The one unaligned end REQUIRE accepts: the source's EOF, whose partial
 * last block the filesystem shares whole.  Into empty destinations, at
 * offset 0 and from the last aligned block alone.
 */
TEST_F(share, require_tail_at_eof)
{
	const int64_t size = MIB + 100;
	int64_t ret;
	int src, dst2;

	src = open_new(self->e.src_dir, "src_tail", O_RDWR);
	ASSERT_LE(0, src);
	ASSERT_EQ(0, pattern_write(src, 0, size, SEED_A, 0));
	ASSERT_EQ(0, settle(src));

	ret = copy_range(src, 0, self->e.dst_fd, 0, size,
			 COPY_RANGE_SHARE_REQUIRE);
	if (!variant->fs.can_share) {
		EXPECT_EQ(-1, ret);
		EXPECT_EQ(EOPNOTSUPP, errno) TH_LOG("%s", strerror(errno));
		EXPECT_EQ(0, file_size(self->e.dst_fd));
		close(src);
		return;
	}
	ASSERT_EQ(size, ret) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(size, file_size(self->e.dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, size, SEED_A, 0));
	CHECK_SHARING(self->e.dst_fd, 0, MIB, SHARED_ALL);

	dst2 = open_new(self->e.src_dir, "dst2", O_RDWR);
	ASSERT_LE(0, dst2);
	EXPECT_EQ(100, copy_range(src, MIB, dst2, MIB, 100,
				  COPY_RANGE_SHARE_REQUIRE))
		TH_LOG("%s", strerror(errno));
	EXPECT_EQ(size, file_size(dst2));
	EXPECT_EQ(-1, pattern_mismatch(dst2, 0, MIB, PATTERN_ZERO, 0));
	EXPECT_EQ(-1, pattern_mismatch(dst2, MIB, 100, SEED_A, MIB));
	close(dst2);
	close(src);
}

TEST_HARNESS_MAIN
