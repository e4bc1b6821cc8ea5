// SPDX-License-Identifier: GPL-2.0
/*
 * What a copy writes: the same data checks on each test filesystem and
 * across two of them, since each path through the module (clone, server
 * copy, page-cache copy, cross-filesystem copy) has its own edge cases.
 * Whole files, heads, middles, tails, ranges past EOF, odd offsets around
 * page and block boundaries, copies larger than the module's chunk, copies
 * within one file, and holes.  Every source holds a non-zero pattern, so a
 * byte that was skipped or zero-filled by mistake cannot match.
 *
 * Without a signal, ENOSPC or RLIMIT_FSIZE in the way, one call copies the
 * whole range up to the source's EOF: these tests assert full counts.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cr_fixture.h"

#define SEED_A	0x5eed000000000a11ULL
#define SEED_B	0x5eed00000000b0b0ULL

/*
 * The fixture's descriptors start at these positions; a copy must neither
 * use nor move them.
 */
#define SRC_POS	11
#define DST_POS	22

FIXTURE(data) {
	struct cr_env e;	/* src and dst both empty */
};

FIXTURE_VARIANT(data) {
	struct cr_fs src, dst;
};

FIXTURE_VARIANT_ADD(data, btrfs) { .src = CR_FS_BTRFS, .dst = CR_FS_BTRFS };
FIXTURE_VARIANT_ADD(data, xfs) { .src = CR_FS_XFS, .dst = CR_FS_XFS };
FIXTURE_VARIANT_ADD(data, ext4) { .src = CR_FS_EXT4, .dst = CR_FS_EXT4 };
FIXTURE_VARIANT_ADD(data, tmpfs) { .src = CR_FS_TMPFS, .dst = CR_FS_TMPFS };
/* Block filesystem to block filesystem: no sharing possible. */
FIXTURE_VARIANT_ADD(data, btrfs_to_ext4) {
	.src = CR_FS_BTRFS, .dst = CR_FS_EXT4,
};
/* Page cache only to a reflink filesystem. */
FIXTURE_VARIANT_ADD(data, tmpfs_to_xfs) {
	.src = CR_FS_TMPFS, .dst = CR_FS_XFS,
};

FIXTURE_SETUP(data)
{
	if (!cr_env_setup(_metadata, &self->e, &variant->src, &variant->dst,
			  0, PATTERN_ZERO))
		return;
	ASSERT_EQ(SRC_POS, lseek(self->e.src_fd, SRC_POS, SEEK_SET));
	ASSERT_EQ(DST_POS, lseek(self->e.dst_fd, DST_POS, SEEK_SET));
}

FIXTURE_TEARDOWN(data)
{
	cr_env_teardown(&self->e);
}

#define EXPECT_POSITIONS_KEPT() do { \
	EXPECT_EQ(SRC_POS, file_pos(self->e.src_fd)); \
	EXPECT_EQ(DST_POS, file_pos(self->e.dst_fd)); \
} while (0)

/* Sizes, offsets and lengths are all int64_t below, as the checks compare. */

/*
 * Larger than two chunks and not a multiple of anything: whole-file copies
 * with each non-sharing flag, then one shifted by an odd amount so that no
 * chunk boundary lines up with a block or page boundary in either file.
 */
TEST_F_TIMEOUT(data, large_file, 180)
{
	const int64_t size = 2 * CR_CHUNK + MIB + 123;
	int dst2;

	ASSERT_EQ(0, pattern_write(self->e.src_fd, 0, size, SEED_A, 0));

	EXPECT_EQ(size, copy_range(self->e.src_fd, 0, self->e.dst_fd, 0, size,
				   0));
	EXPECT_EQ(size, file_size(self->e.dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, size, SEED_A, 0));

	dst2 = open_new(self->e.dst_dir, "dst2", O_RDWR);
	ASSERT_LE(0, dst2);
	EXPECT_EQ(size, copy_range(self->e.src_fd, 0, dst2, 0, size,
				   COPY_RANGE_SHARE_ALLOW));
	EXPECT_EQ(size, file_size(dst2));
	EXPECT_EQ(-1, pattern_mismatch(dst2, 0, size, SEED_A, 0));
	ASSERT_EQ(0, close(dst2));

	/* Asks for one byte past EOF, so this is also a short count. */
	ASSERT_EQ(0, ftruncate(self->e.dst_fd, 0));
	EXPECT_EQ(size - 1, copy_range(self->e.src_fd, 1, self->e.dst_fd, 4097,
				       size, 0));
	EXPECT_EQ(4097 + size - 1, file_size(self->e.dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, 4097, PATTERN_ZERO,
				       0));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 4097, size - 1, SEED_A, 1));

	EXPECT_POSITIONS_KEPT();
}

/*
 * The first bytes of a file, through descriptors opened read-only and
 * write-only: the modes the ioctl's caller is told it needs, and no more.
 */
TEST_F(data, head)
{
	const int64_t size = 256 * KIB + 7;
	int src_ro, dst_wo;

	ASSERT_EQ(0, pattern_write(self->e.src_fd, 0, size, SEED_A, 0));
	src_ro = open_at(self->e.src_dir, "src", O_RDONLY);
	ASSERT_LE(0, src_ro);
	dst_wo = open_at(self->e.dst_dir, "dst", O_WRONLY);
	ASSERT_LE(0, dst_wo);

	EXPECT_EQ(5000, copy_range(src_ro, 0, dst_wo, 0, 5000, 0));
	EXPECT_EQ(5000, file_size(self->e.dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, 5000, SEED_A, 0));

	EXPECT_EQ(0, file_pos(src_ro));
	EXPECT_EQ(0, file_pos(dst_wo));
	close(src_ro);
	close(dst_wo);
	EXPECT_POSITIONS_KEPT();
}

/* From the middle of the source to just past the start of the destination. */
TEST_F(data, middle)
{
	const int64_t size = 256 * KIB + 7;

	ASSERT_EQ(0, pattern_write(self->e.src_fd, 0, size, SEED_A, 0));
	EXPECT_EQ(65535, copy_range(self->e.src_fd, 4097, self->e.dst_fd, 1,
				    65535, 0));
	EXPECT_EQ(65536, file_size(self->e.dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, 1, PATTERN_ZERO, 0));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 1, 65535, SEED_A, 4097));
	EXPECT_POSITIONS_KEPT();
}

/* The last bytes of the source, landing past the destination's EOF. */
TEST_F(data, tail)
{
	const int64_t size = 256 * KIB + 7;

	ASSERT_EQ(0, pattern_write(self->e.src_fd, 0, size, SEED_A, 0));
	EXPECT_EQ(1000, copy_range(self->e.src_fd, size - 1000, self->e.dst_fd,
				   65536, 1000, 0));
	EXPECT_EQ(65536 + 1000, file_size(self->e.dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, 65536, PATTERN_ZERO, 0));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 65536, 1000, SEED_A,
				       size - 1000));
	EXPECT_POSITIONS_KEPT();
}

/*
 * Ranges that run past the source's EOF copy up to EOF; ranges that start
 * at or past it, and empty ranges, copy nothing and must not extend the
 * destination either.
 */
TEST_F(data, past_eof_short_counts)
{
	const int64_t size = 256 * KIB + 7;
	int empty;

	ASSERT_EQ(0, pattern_write(self->e.src_fd, 0, size, SEED_A, 0));

	EXPECT_EQ(100, copy_range(self->e.src_fd, size - 100, self->e.dst_fd, 0,
				  4096, 0));
	EXPECT_EQ(100, file_size(self->e.dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, 100, SEED_A,
				       size - 100));

	/* A huge length that does not wrap is clamped to EOF as well. */
	EXPECT_EQ(1, copy_range(self->e.src_fd, size - 1, self->e.dst_fd, 200,
				1ULL << 40, COPY_RANGE_SHARE_ALLOW));
	EXPECT_EQ(201, file_size(self->e.dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 200, 1, SEED_A,
				       size - 1));

	EXPECT_EQ(0, copy_range(self->e.src_fd, size, self->e.dst_fd, 300, 4096, 0));
	EXPECT_EQ(0, copy_range(self->e.src_fd, size + 1, self->e.dst_fd, 300,
				4096, 0));
	EXPECT_EQ(0, copy_range(self->e.src_fd, 1ULL << 40, self->e.dst_fd, 300,
				4096, COPY_RANGE_SHARE_ALLOW));
	EXPECT_EQ(0, copy_range(self->e.src_fd, 0, self->e.dst_fd, MIB, 0, 0));
	EXPECT_EQ(0, copy_range(self->e.src_fd, 0, self->e.dst_fd, MIB, 0,
				COPY_RANGE_SHARE_ALLOW));
	EXPECT_EQ(201, file_size(self->e.dst_fd));

	empty = open_new(self->e.src_dir, "empty", O_RDWR);
	ASSERT_LE(0, empty);
	EXPECT_EQ(0, copy_range(empty, 0, self->e.dst_fd, 0, 4096, 0));
	close(empty);

	/* Offset 0 and the largest length: the whole file, in one call. */
	ASSERT_EQ(0, ftruncate(self->e.dst_fd, 0));
	EXPECT_EQ(size, copy_range(self->e.src_fd, 0, self->e.dst_fd, 0,
				   UINT64_MAX, 0));
	EXPECT_EQ(size, file_size(self->e.dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, size, SEED_A, 0));
	EXPECT_POSITIONS_KEPT();
}

/*
 * Every pairing of offsets around page and 64 KiB boundaries, with lengths
 * below, just over and well over a page, into the middle of an existing
 * destination: the copied range must match and the bytes on either side
 * must be untouched.  Flags alternate between 0 and ALLOW, since ALLOW on
 * a reflink filesystem takes a different path for each alignment.
 */
TEST_F(data, offset_matrix)
{
	static const int64_t offs[] = { 0, 1, 4095, 4096, 4097, 65535, 65536 };
	static const int64_t lens[] = { 1, 4097, 65537 };
	const int64_t src_size = 128 * KIB + 64, dst_size = 192 * KIB;
	const int64_t margin = 4096;
	const unsigned int nl = ARRAY_SIZE(lens), no = ARRAY_SIZE(offs);
	unsigned int n;

	ASSERT_EQ(0, pattern_write(self->e.src_fd, 0, src_size, SEED_A, 0));
	ASSERT_EQ(0, pattern_write(self->e.dst_fd, 0, dst_size, SEED_B, 0));

	for (n = 0; n < no * no * nl; n++) {
		int64_t so = offs[n / (no * nl)], d = offs[n / nl % no];
		int64_t len = lens[n % nl];
		int64_t lo = d > margin ? d - margin : 0;
		int64_t hi = d + len + margin;
		uint64_t flags = n % 2 ? COPY_RANGE_SHARE_ALLOW : 0;

		EXPECT_EQ(len, copy_range(self->e.src_fd, so, self->e.dst_fd, d,
					  len, flags))
			TH_LOG("src_off %jd dst_off %jd len %jd flags %ju: %s",
			       (intmax_t)so, (intmax_t)d, (intmax_t)len,
			       (uintmax_t)flags, strerror(errno));
		EXPECT_EQ(dst_size, file_size(self->e.dst_fd));
		EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, d, len, SEED_A, so))
			TH_LOG("src_off %jd dst_off %jd len %jd flags %ju",
			       (intmax_t)so, (intmax_t)d, (intmax_t)len,
			       (uintmax_t)flags);
		EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, lo, d - lo,
					       SEED_B, lo));
		EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, d + len,
					       hi - d - len, SEED_B, d + len))
			TH_LOG("wrote past the range: src_off %jd dst_off %jd len %jd",
			       (intmax_t)so, (intmax_t)d, (intmax_t)len);
		/* Back to the plain destination for the next pairing. */
		ASSERT_EQ(0, pattern_write(self->e.dst_fd, d, len, SEED_B, d));
	}
	EXPECT_POSITIONS_KEPT();
}

/*
 * Copies within one file between ranges that do not overlap, including
 * ranges that touch and one that grows the file.  An in-memory model of the
 * file gets the same copies; the file must end up equal to it.
 */
TEST_F(data, same_file_disjoint)
{
	static const struct {
		int64_t src, dst, len;
	} ops[] = {
		{ 0, 128 * KIB, 64 * KIB },		/* forward */
		{ 132 * KIB, 4 * KIB, 8 * KIB },	/* backward */
		{ 4 * KIB, 8 * KIB, 4 * KIB },		/* touching, after */
		{ 8 * KIB, 4 * KIB, 4 * KIB },		/* touching, before */
		{ 100, 70000, 5000 },			/* unaligned */
		{ 1, 200 * KIB + 1, 50 * KIB },		/* same misalignment */
		{ 0, 256 * KIB + 10, 4097 },		/* past EOF: grows */
	};
	const int64_t size = 256 * KIB;
	int64_t model_size = size;
	unsigned char *model, *now;
	unsigned int i;
	int fd = self->e.src_fd;

	model = calloc(1, 2 * size);
	now = malloc(2 * size);
	ASSERT_NE(NULL, model);
	ASSERT_NE(NULL, now);
	pattern_fill(model, size, SEED_A, 0);
	ASSERT_EQ(0, pattern_write(fd, 0, size, SEED_A, 0));

	for (i = 0; i < ARRAY_SIZE(ops); i++) {
		uint64_t flags = i % 2 ? COPY_RANGE_SHARE_ALLOW : 0;

		EXPECT_EQ(ops[i].len, copy_range(fd, ops[i].src, fd,
						 ops[i].dst, ops[i].len, flags))
			TH_LOG("op %u: %s", i, strerror(errno));
		memmove(model + ops[i].dst, model + ops[i].src, ops[i].len);
		if (ops[i].dst + ops[i].len > model_size)
			model_size = ops[i].dst + ops[i].len;
		EXPECT_EQ(model_size, file_size(fd));
	}
	ASSERT_EQ(model_size, pread(fd, now, 2 * size, 0));
	ASSERT_EQ(0, memcmp(model, now, model_size));
	free(model);
	free(now);
	EXPECT_POSITIONS_KEPT();
}

/* A destination offset past EOF leaves a gap that reads as zeroes. */
TEST_F(data, dst_past_eof_reads_zero_gap)
{
	const int64_t gap = MIB + 3;

	ASSERT_EQ(0, pattern_write(self->e.src_fd, 0, 64 * KIB, SEED_A, 0));
	EXPECT_EQ(4096, copy_range(self->e.src_fd, 0, self->e.dst_fd, gap, 4096, 0));
	EXPECT_EQ(gap + 4096, file_size(self->e.dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, gap, PATTERN_ZERO,
				       0));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, gap, 4096, SEED_A, 0));
	EXPECT_POSITIONS_KEPT();
}

/* Overwriting inside a destination keeps its size and the bytes around. */
TEST_F(data, overwrite_inside_dst)
{
	const int64_t dst_size = 256 * KIB;

	ASSERT_EQ(0, pattern_write(self->e.src_fd, 0, 128 * KIB, SEED_A, 0));
	ASSERT_EQ(0, pattern_write(self->e.dst_fd, 0, dst_size, SEED_B, 0));
	EXPECT_EQ(70000, copy_range(self->e.src_fd, 1000, self->e.dst_fd, 5000,
				    70000, 0));
	EXPECT_EQ(dst_size, file_size(self->e.dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, 5000, SEED_B, 0));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 5000, 70000, SEED_A, 1000));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 75000, dst_size - 75000,
				       SEED_B, 75000));
	EXPECT_POSITIONS_KEPT();
}

/*
 * lseek(SEEK_HOLE/SEEK_DATA) on a descriptor of its own, so that probing
 * for holes does not move the positions the tests check.  -2 if @name
 * could not be opened.
 */
static int64_t seek_probe(const char *dir, const char *name, int64_t off,
			  int whence)
{
	int fd = open_at(dir, name, O_RDONLY);
	int64_t ret;

	if (fd < 0)
		return -2;
	ret = lseek(fd, off, whence);
	close(fd);
	return ret;
}

/*
 * A sparse source (data, a 1 MiB hole, data) copied with flags 0 into an
 * empty file: the hole must stay a hole rather than turn into written
 * zeroes, and the data on both sides must match.  Then the same with a
 * hole at the end, which only the file size describes.
 */
TEST_F(data, holes_preserved)
{
	const int64_t part = 64 * KIB, hole = MIB;
	const int64_t size = part + hole + part, mid = part + hole / 2;
	int dst2;

	ASSERT_EQ(0, pattern_write(self->e.src_fd, 0, part, SEED_A, 0));
	ASSERT_EQ(0, pattern_write(self->e.src_fd, part + hole, part, SEED_A,
				   part + hole));
	ASSERT_EQ(0, fsync(self->e.src_fd));
	/* Precondition: the source filesystem made a hole. */
	ASSERT_EQ(mid, seek_probe(self->e.src_dir, "src", mid, SEEK_HOLE));

	EXPECT_EQ(size, copy_range(self->e.src_fd, 0, self->e.dst_fd, 0, size,
				   0));
	EXPECT_EQ(size, file_size(self->e.dst_fd));
	ASSERT_EQ(0, fsync(self->e.dst_fd));
	ASSERT_EQ(mid, seek_probe(self->e.dst_dir, "dst", mid, SEEK_HOLE))
		TH_LOG("the middle of the source's hole is data in the copy");
	ASSERT_LT(mid, seek_probe(self->e.dst_dir, "dst", mid, SEEK_DATA));
	ASSERT_GE(part + hole, seek_probe(self->e.dst_dir, "dst", mid,
					     SEEK_DATA));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, part, SEED_A, 0));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, part, hole,
				       PATTERN_ZERO, 0));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, part + hole, part,
				       SEED_A, part + hole));

	/* A trailing hole: the count and size include it, it reads as 0s. */
	ASSERT_EQ(0, ftruncate(self->e.src_fd, size + hole));
	dst2 = open_new(self->e.dst_dir, "dst2", O_RDWR);
	ASSERT_LE(0, dst2);
	EXPECT_EQ(size + hole, copy_range(self->e.src_fd, 0, dst2, 0,
					  size + hole, 0));
	EXPECT_EQ(size + hole, file_size(dst2));
	ASSERT_EQ(0, fsync(dst2));
	ASSERT_EQ(size + hole / 2, seek_probe(self->e.dst_dir, "dst2",
						  size + hole / 2, SEEK_HOLE));
	EXPECT_EQ(-1, pattern_mismatch(dst2, size - part, part, SEED_A,
				       part + hole));
	EXPECT_EQ(-1, pattern_mismatch(dst2, size, hole, PATTERN_ZERO, 0));
	close(dst2);
	EXPECT_POSITIONS_KEPT();
}

/*
 * Bytes [@from, @size) of a destination prepared by direct_dst_prepare()
 * are as it left them: -1, or the offset of the first that is not.
 */
static int64_t direct_dst_kept(int fd, int64_t from, int64_t size)
{
	int64_t blk, start, end, bad;

	for (blk = from - from % 8192; blk < size; blk += 8192) {
		start = blk > from ? blk : from;
		end = blk + 4096 < size ? blk + 4096 : size;
		if (start < end) {
			bad = pattern_mismatch(fd, start, end - start, SEED_B, start);
			if (bad != -1)
				return bad;
		}
		start = blk + 4096 > from ? blk + 4096 : from;
		end = blk + 8192 < size ? blk + 8192 : size;
		if (start < end) {
			bad = pattern_mismatch(fd, start, end - start, PATTERN_ZERO, 0);
			if (bad != -1)
				return bad;
		}
	}
	return -1;
}

/* A destination of @size bytes: a block of data, a block of hole, and so on. */
static int direct_dst_prepare(int fd, int64_t size)
{
	int64_t blk;

	for (blk = 0; blk < size; blk += 8192)
		if (pattern_write(fd, blk, blk + 4096 < size ? 4096 : size - blk,
				  SEED_B, blk))
			return -1;
	return ftruncate(fd, size) || fsync(fd) ? -1 : 0;
}

/*
 * A destination opened with O_DIRECT refuses a piece of a write that ends
 * off a block boundary (EINVAL), after landing the pieces before it when
 * the write spans several extents (ext4, here with every other block a
 * hole).  Whatever the filesystem does, the count must say exactly what
 * changed: the bytes it names hold the source, the others are untouched,
 * and a failure changed nothing.
 */
TEST_F(data, direct_dst_count_is_exact)
{
	static const int64_t tails[] = { 5000, 70000, 163940 };
	const int64_t src_off = 0x25000, dst_size = 604098;
	int64_t ret, bad;
	unsigned int i;
	int dio, buffered;

	for (i = 0; i < ARRAY_SIZE(tails); i++) {
		ASSERT_EQ(0, ftruncate(self->e.src_fd, 0));
		ASSERT_EQ(0, pattern_write(self->e.src_fd, 0, src_off + tails[i],
					   SEED_A, 0));
		buffered = open_new(self->e.dst_dir, "direct", O_RDWR);
		ASSERT_LE(0, buffered);
		ASSERT_EQ(0, direct_dst_prepare(buffered, dst_size));
		dio = open_at(self->e.dst_dir, "direct", O_RDWR | O_DIRECT);
		if (dio < 0 && errno == EINVAL)
			SKIP(return, "no O_DIRECT on %s", variant->dst.name);
		ASSERT_LE(0, dio);

		ret = copy_range(self->e.src_fd, src_off, dio, 0, INT64_MAX, 0);
		if (ret < 0) {
			EXPECT_EQ(EINVAL, errno);
			ret = 0;
		}
		EXPECT_GE(tails[i], ret);
		EXPECT_EQ(-1, pattern_mismatch(buffered, 0, ret, SEED_A, src_off));
		bad = direct_dst_kept(buffered, ret, dst_size);
		EXPECT_EQ(-1, bad)
			TH_LOG("tail %lld: %lld bytes reported, byte %lld changed",
			       (long long)tails[i], (long long)ret, (long long)bad);
		EXPECT_EQ(dst_size, file_size(buffered));
		close(dio);
		close(buffered);
	}
	EXPECT_POSITIONS_KEPT();
}

TEST_HARNESS_MAIN
