// SPDX-License-Identifier: GPL-2.0
/*
 * Vectors of ranges between two files: COPY_RANGE_IOC_COPYV and
 * COPY_RANGE_IOC_SUBMITV.
 *
 * Every segment is checked as a single copy would be, and destination
 * ranges may not overlap each other, before anything is copied: a vector
 * that fails a check leaves the destination as it was.  Segments are
 * copied in order and the copy stops at the first one that comes up short,
 * such as one that reaches the source's EOF: done_segs is then its index
 * and copied counts its partial bytes.  The count is returned and stored
 * in copied.
 *
 * SUBMITV runs a vector as one job: total is the sum of the segments'
 * lengths, each clamped to the source's EOF.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cr_fixture.h"

#define SEED_A		0x5eed00000000ec01ULL
#define SEED_B		0x5eed00000000ec02ULL
#define SRC_SIZE	(2 * MIB + 333)
/* The destination starts out as this many bytes of SEED_B. */
#define DST_SIZE	(3 * MIB)

#define NR_MIXED	100

FIXTURE(vec) {
	/* src: SRC_SIZE bytes of SEED_A; dst: DST_SIZE of SEED_B */
	struct cr_env e;
	struct copy_range_seg segs[NR_MIXED];
};

#define CR_FS_FIXTURE vec
#include "cr_fs_variants.h"

FIXTURE_SETUP(vec)
{
	if (!cr_env_setup_on(_metadata, &self->e, &variant->fs, SRC_SIZE,
			     SEED_A))
		return;
	ASSERT_EQ(0, settle(self->e.src_fd));
	ASSERT_EQ(0, pattern_write(self->e.dst_fd, 0, DST_SIZE, SEED_B, 0));
}

FIXTURE_TEARDOWN(vec)
{
	cr_env_teardown(&self->e);
}

/* A small deterministic generator, so that every run sees the same vector. */
static uint64_t next_rand(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/*
 * NR_MIXED segments: lengths from 0 and 1 byte to a few hundred KiB,
 * unaligned and aligned, at destination offsets that never overlap (some
 * touch, most leave a gap, the last ones lie past the destination's EOF),
 * from source offsets anywhere (sources may overlap each other), in a
 * shuffled order.  Returns the sum of the lengths.
 */
static uint64_t mixed_segments(struct copy_range_seg *segs)
{
	static const uint64_t lens[] = {
		1, 7, 512, 4095, 4096, 4097, 65536, 65536 + 123, 100000,
		3, 8192, 12345, 0, 131072, 1000, 4096 * 3, 77, 250000,
	};
	uint64_t state = 0x9e3779b97f4a7c15ULL, cursor = 0, sum = 0;
	unsigned int i;

	for (i = 0; i < NR_MIXED; i++) {
		uint64_t len = lens[i % ARRAY_SIZE(lens)];
		uint64_t gap = i % 5 == 0 ? 0 : next_rand(&state) % 9000;

		/* Every seventh segment is block aligned on both sides. */
		if (i % 7 == 0) {
			cursor = (cursor + 4095) & ~4095ULL;
			gap = 4096;
		}
		segs[i].dst_off = cursor + gap;
		segs[i].len = len;
		if (i % 7 == 0)
			segs[i].src_off = (next_rand(&state) %
					   ((SRC_SIZE - len) / 4096)) * 4096;
		else
			segs[i].src_off = next_rand(&state) % (SRC_SIZE - len);
		cursor = segs[i].dst_off + len;
		sum += len;
	}
	/* Fisher-Yates: the order of the copy is not the order on disk. */
	for (i = NR_MIXED - 1; i > 0; i--) {
		unsigned int j = next_rand(&state) % (i + 1);
		struct copy_range_seg t = segs[i];

		segs[i] = segs[j];
		segs[j] = t;
	}
	return sum;
}

static int cmp_dst(const void *a, const void *b)
{
	const struct copy_range_seg *x = a, *y = b;

	return x->dst_off < y->dst_off ? -1 : x->dst_off > y->dst_off;
}

/*
 * The destination after the first @done of @segs were copied: each of
 * those holds its source bytes, everything else what was there before
 * (SEED_B up to DST_SIZE, zeros past it), and the size is right.
 */
static void check_dst(struct __test_metadata *_metadata, int dst,
		      const struct copy_range_seg *segs, unsigned int nr,
		      unsigned int done)
{
	struct copy_range_seg *sorted = calloc(nr ? nr : 1, sizeof(*sorted));
	uint64_t pos = 0, size = DST_SIZE;
	unsigned int i, n = 0;

	ASSERT_NE(NULL, sorted);
	for (i = 0; i < done; i++) {
		if (!segs[i].len)
			continue;
		sorted[n++] = segs[i];
		if (segs[i].dst_off + segs[i].len > size)
			size = segs[i].dst_off + segs[i].len;
	}
	qsort(sorted, n, sizeof(*sorted), cmp_dst);
	EXPECT_EQ((int64_t)size, file_size(dst));
	for (i = 0; i <= n; i++) {
		uint64_t gap_end = i < n ? sorted[i].dst_off : size;
		uint64_t b_end = gap_end < DST_SIZE ? gap_end : DST_SIZE;

		/* The gap before segment i: untouched. */
		if (pos < b_end)
			EXPECT_EQ(-1, pattern_mismatch(dst, pos, b_end - pos,
						       SEED_B, pos));
		if (b_end < gap_end && pos < gap_end) {
			uint64_t z = pos > DST_SIZE ? pos : DST_SIZE;

			EXPECT_EQ(-1, pattern_mismatch(dst, z, gap_end - z,
						       PATTERN_ZERO, 0));
		}
		if (i == n)
			break;
		EXPECT_EQ(-1, pattern_mismatch(dst, sorted[i].dst_off,
					       sorted[i].len, SEED_A,
					       sorted[i].src_off))
			TH_LOG("segment at dst %ju, len %ju",
			       (uintmax_t)sorted[i].dst_off,
			       (uintmax_t)sorted[i].len);
		pos = sorted[i].dst_off + sorted[i].len;
	}
	free(sorted);
}

/*
 * 100 segments in one call: every one copied, done_segs == nr_segs,
 * copied == the sum, and the return value is copied.
 */
TEST_F_TIMEOUT(vec, many_mixed_segments, 120)
{
	static const uint64_t flags[] = { 0, COPY_RANGE_SHARE_ALLOW };
	uint64_t sum = mixed_segments(self->segs);
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(flags); i++) {
		struct copy_range_vec v = cr_vec(self->e.src_fd, self->e.dst_fd,
						 flags[i], self->segs, NR_MIXED);
		int64_t ret;

		if (i) {
			ASSERT_EQ(0, ftruncate(self->e.dst_fd, 0));
			ASSERT_EQ(0, pattern_write(self->e.dst_fd, 0, DST_SIZE,
						   SEED_B, 0));
		}
		ret = cr_copyv(&v);
		ASSERT_EQ((int64_t)sum, ret) TH_LOG("flags %ju: %s",
						    (uintmax_t)flags[i],
						    strerror(errno));
		EXPECT_EQ(sum, v.copied);
		EXPECT_EQ((uint32_t)NR_MIXED, v.done_segs);
		/* The in fields are as they were. */
		EXPECT_EQ((uint32_t)NR_MIXED, v.nr_segs);
		EXPECT_EQ((uintptr_t)self->segs, v.segs);
		check_dst(_metadata, self->e.dst_fd, self->segs, NR_MIXED,
			  NR_MIXED);
	}
}

/* The most segments a vector may hold, and one more. */
TEST_F_TIMEOUT(vec, max_segs, 120)
{
	const unsigned int max = COPY_RANGE_VEC_MAX_SEGS;
	struct copy_range_seg *segs = calloc(max + 1, sizeof(*segs));
	struct copy_range_vec v;
	struct snapshot before;
	unsigned int i;

	ASSERT_NE(NULL, segs);
	for (i = 0; i <= max; i++) {
		segs[i].src_off = i * 5;
		segs[i].dst_off = i * 7 + 1;
		segs[i].len = 3;
	}
	ASSERT_EQ(0, snapshot_take(self->e.dst_fd, &before));
	v = cr_vec(self->e.src_fd, self->e.dst_fd, 0, segs, max + 1);
	EXPECT_EQ(-1, cr_copyv(&v));
	EXPECT_EQ(EINVAL, errno);
	v = cr_vec(self->e.src_fd, self->e.dst_fd, 0, segs, UINT32_MAX);
	EXPECT_EQ(-1, cr_copyv(&v));
	EXPECT_EQ(EINVAL, errno);
	v = cr_vec(self->e.src_fd, self->e.dst_fd, 0, segs, max + 1);
	ASSERT_EQ(-1, cr_submitv(&v));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_TRUE(snapshot_same(self->e.dst_fd, &before));
	snapshot_free(&before);

	v = cr_vec(self->e.src_fd, self->e.dst_fd, 0, segs, max);
	EXPECT_EQ((int64_t)(3 * max), cr_copyv(&v))
		TH_LOG("%s", strerror(errno));
	EXPECT_EQ(max, v.done_segs);
	check_dst(_metadata, self->e.dst_fd, segs, max, max);
	free(segs);
}

/*
 * The source's EOF in the middle of a vector: the copy stops in that
 * segment, done_segs is its index, copied includes its partial bytes,
 * and later segments are not copied.
 */
TEST_F(vec, stops_at_source_eof)
{
	const struct {
		const char *what;
		uint64_t src_off;	/* of segment 2 */
		uint64_t partial;	/* of it, before EOF */
	} cases[] = {
		{ "crossing EOF", SRC_SIZE - 100, 100 },
		{ "at EOF", SRC_SIZE, 0 },
		{ "past EOF", SRC_SIZE + 4096, 0 },
	};
	unsigned int c;

	for (c = 0; c < ARRAY_SIZE(cases); c++) {
		struct copy_range_seg segs[4] = {
			{ .src_off = 0, .dst_off = 10, .len = 10000 },
			{ .src_off = 5000, .dst_off = 20000, .len = 70000 },
			{ .src_off = cases[c].src_off, .dst_off = 100000,
			  .len = 1000 },
			{ .src_off = 7, .dst_off = 200000, .len = 4096 },
		};
		struct copy_range_vec v = cr_vec(self->e.src_fd, self->e.dst_fd,
						 0, segs, 4);
		const uint64_t want = 80000 + cases[c].partial;
		struct copy_range_seg copied[3];

		ASSERT_EQ(0, pattern_write(self->e.dst_fd, 0, DST_SIZE, SEED_B,
					   0));
		EXPECT_EQ((int64_t)want, cr_copyv(&v))
			TH_LOG("%s: %s", cases[c].what, strerror(errno));
		EXPECT_EQ(want, v.copied);
		EXPECT_EQ(2U, v.done_segs) TH_LOG("%s", cases[c].what);
		/* What is there: two segments and the part before EOF. */
		memcpy(copied, segs, sizeof(copied));
		copied[2].len = cases[c].partial;
		check_dst(_metadata, self->e.dst_fd, copied, 3, 3);
	}

	/* Nothing at all before EOF: 0, and the out fields say so. */
	{
		struct copy_range_seg seg = {
			.src_off = SRC_SIZE, .dst_off = 0, .len = 100,
		};
		struct copy_range_vec v = cr_vec(self->e.src_fd, self->e.dst_fd,
						 0, &seg, 1);

		ASSERT_EQ(0, pattern_write(self->e.dst_fd, 0, DST_SIZE, SEED_B,
					   0));
		EXPECT_EQ(0, cr_copyv(&v));
		EXPECT_EQ(0U, v.done_segs);
		EXPECT_EQ(0ULL, v.copied);
	}
	check_dst(_metadata, self->e.dst_fd, NULL, 0, 0);
}

/* An empty vector copies nothing, successfully, whatever segs points to. */
TEST_F(vec, no_segments)
{
	struct copy_range_vec v = cr_vec(self->e.src_fd, self->e.dst_fd, 0, NULL, 0);
	struct copy_range_status st;
	int job;

	EXPECT_EQ(0, cr_copyv(&v)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(0U, v.done_segs);
	EXPECT_EQ(0ULL, v.copied);
	v.segs = 16;
	EXPECT_EQ(0, cr_copyv(&v)) TH_LOG("%s", strerror(errno));

	job = cr_submitv(&v);
	ASSERT_LE(0, job) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, cr_job_wait(job, &st));
	EXPECT_EQ(COPY_RANGE_JOB_DONE, st.state);
	EXPECT_EQ(0ULL, st.total);
	EXPECT_EQ(0ULL, st.copied);
	close(job);
	check_dst(_metadata, self->e.dst_fd, NULL, 0, 0);
}

/*
 * Both COPYV and SUBMITV fail on @v with @want and change nothing; the
 * destination is compared with @before.
 */
static void expect_vec_error(struct __test_metadata *_metadata,
			     const char *what, struct copy_range_vec *v,
			     int want, int dst, const struct snapshot *before)
{
	struct copy_range_vec copy = *v;
	int64_t ret;
	int job, err;

	errno = 0;
	ret = cr_copyv(&copy);
	err = errno;
	EXPECT_EQ(-1, ret) TH_LOG("%s: COPYV returned %jd", what,
				  (intmax_t)ret);
	EXPECT_EQ(want, err) TH_LOG("%s: COPYV: %s", what, strerror(err));
	EXPECT_TRUE(snapshot_same(dst, before)) TH_LOG("%s: COPYV wrote", what);

	copy = *v;
	errno = 0;
	job = cr_submitv(&copy);
	err = errno;
	if (job >= 0) {
		struct copy_range_status st;

		cr_job_wait(job, &st);
		close(job);
		ASSERT_LT(job, 0) TH_LOG("%s: SUBMITV accepted; job ended %s",
					 what, cr_status_str(&st));
	}
	EXPECT_EQ(want, err) TH_LOG("%s: SUBMITV: %s", what, strerror(err));
	EXPECT_TRUE(snapshot_same(dst, before)) TH_LOG("%s: SUBMITV wrote",
						       what);
}

/* Three good segments, then (at index 3) the one a case breaks. */
#define NR_ERR_SEGS	5

static void good_segments(struct copy_range_seg *segs)
{
	unsigned int i;

	for (i = 0; i < NR_ERR_SEGS; i++) {
		segs[i].src_off = i * 8192 + 1;
		segs[i].dst_off = i * 10000 + 3;
		segs[i].len = 5000;
	}
}

TEST_F(vec, errors_copy_nothing)
{
	struct copy_range_seg segs[NR_ERR_SEGS];
	struct copy_range_vec v;
	struct snapshot before, src_before;
	int ro, app;

	ASSERT_EQ(0, snapshot_take(self->e.dst_fd, &before));
	ASSERT_EQ(0, snapshot_take(self->e.src_fd, &src_before));
	ro = open_at(self->e.src_dir, "dst", O_RDONLY);
	app = open_at(self->e.src_dir, "dst", O_WRONLY | O_APPEND);
	ASSERT_LE(0, ro);
	ASSERT_LE(0, app);

	good_segments(segs);
	v = cr_vec(-1, self->e.dst_fd, 0, segs, NR_ERR_SEGS);
	expect_vec_error(_metadata, "src -1", &v, EBADF, self->e.dst_fd,
			 &before);
	v = cr_vec(self->e.src_fd, -1, 0, segs, NR_ERR_SEGS);
	expect_vec_error(_metadata, "dst -1", &v, EBADF, self->e.dst_fd,
			 &before);
	v = cr_vec(self->e.src_fd, ro, 0, segs, NR_ERR_SEGS);
	expect_vec_error(_metadata, "dst read-only", &v, EBADF, self->e.dst_fd,
			 &before);
	v = cr_vec(self->e.src_fd, app, 0, segs, NR_ERR_SEGS);
	expect_vec_error(_metadata, "dst O_APPEND", &v, EBADF, self->e.dst_fd,
			 &before);

	v = cr_vec(self->e.src_fd, self->e.dst_fd, 1ULL << 2, segs,
		   NR_ERR_SEGS);
	expect_vec_error(_metadata, "unknown flag", &v, EINVAL, self->e.dst_fd,
			 &before);
	v = cr_vec(self->e.src_fd, self->e.dst_fd,
		   COPY_RANGE_SHARE_ALLOW | COPY_RANGE_SHARE_REQUIRE, segs,
		   NR_ERR_SEGS);
	expect_vec_error(_metadata, "both policies", &v, EINVAL, self->e.dst_fd,
			 &before);
	if (!variant->fs.can_share) {
		v = cr_vec(self->e.src_fd, self->e.dst_fd,
			   COPY_RANGE_SHARE_REQUIRE, segs, NR_ERR_SEGS);
		expect_vec_error(_metadata, "REQUIRE", &v, EOPNOTSUPP,
				 self->e.dst_fd, &before);
	}

	/* Two destination ranges overlap: by one byte, or one inside another. */
	segs[3].dst_off = segs[1].dst_off + segs[1].len - 1;
	v = cr_vec(self->e.src_fd, self->e.dst_fd, 0, segs, NR_ERR_SEGS);
	expect_vec_error(_metadata, "dst overlap by a byte", &v, EINVAL,
			 self->e.dst_fd, &before);
	good_segments(segs);
	segs[4].dst_off = segs[0].dst_off + 100;
	segs[4].len = 10;
	v = cr_vec(self->e.src_fd, self->e.dst_fd, 0, segs, NR_ERR_SEGS);
	expect_vec_error(_metadata, "dst inside another", &v, EINVAL,
			 self->e.dst_fd, &before);
	good_segments(segs);
	segs[3] = segs[1];
	v = cr_vec(self->e.src_fd, self->e.dst_fd, 0, segs, NR_ERR_SEGS);
	expect_vec_error(_metadata, "the same segment twice", &v, EINVAL,
			 self->e.dst_fd, &before);

	/* A segment wraps around 2^64 on either side. */
	good_segments(segs);
	segs[3].len = UINT64_MAX - 100;
	v = cr_vec(self->e.src_fd, self->e.dst_fd, 0, segs, NR_ERR_SEGS);
	expect_vec_error(_metadata, "src wraps", &v, EOVERFLOW, self->e.dst_fd,
			 &before);
	good_segments(segs);
	segs[3].src_off = 0;
	segs[3].dst_off = 1;
	segs[3].len = UINT64_MAX;
	v = cr_vec(self->e.src_fd, self->e.dst_fd, 0, segs, NR_ERR_SEGS);
	expect_vec_error(_metadata, "dst wraps", &v, EOVERFLOW, self->e.dst_fd,
			 &before);

	/* Within one file, a segment whose source and destination overlap. */
	good_segments(segs);
	segs[3].src_off = 1000;
	segs[3].dst_off = 3000;
	v = cr_vec(self->e.src_fd, self->e.src_fd, 0, segs, NR_ERR_SEGS);
	{
		struct copy_range_seg same[NR_ERR_SEGS];
		unsigned int i;

		/* The others copy the source onto itself past its end. */
		for (i = 0; i < NR_ERR_SEGS; i++) {
			same[i] = segs[i];
			if (i != 3)
				same[i].dst_off += 2 * SRC_SIZE;
		}
		v.segs = (uintptr_t)same;
		expect_vec_error(_metadata, "same file, overlap", &v, EINVAL,
				 self->e.src_fd, &src_before);
	}

	EXPECT_TRUE(snapshot_same(self->e.dst_fd, &before));
	EXPECT_TRUE(snapshot_same(self->e.src_fd, &src_before));
	snapshot_free(&before);
	snapshot_free(&src_before);
	close(ro);
	close(app);
}

/* Segment arrays and argument blocks the kernel cannot read: EFAULT. */
TEST_F(vec, efault)
{
	long page = sysconf(_SC_PAGESIZE);
	struct copy_range_seg segs[NR_ERR_SEGS];
	struct copy_range_vec v;
	struct snapshot before;
	char *area;

	ASSERT_EQ(0, snapshot_take(self->e.dst_fd, &before));
	good_segments(segs);
	area = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, area);
	ASSERT_EQ(0, mprotect(area + page, page, PROT_NONE));

	v = cr_vec(self->e.src_fd, self->e.dst_fd, 0, NULL, 1);
	expect_vec_error(_metadata, "segs NULL", &v, EFAULT, self->e.dst_fd,
			 &before);
	v = cr_vec(self->e.src_fd, self->e.dst_fd, 0,
		   (struct copy_range_seg *)(area + page), 1);
	expect_vec_error(_metadata, "segs unreadable", &v, EFAULT,
			 self->e.dst_fd, &before);
	/* Two good segments, then the array runs into the unreadable page. */
	memcpy(area + page - 2 * sizeof(segs[0]), segs, 2 * sizeof(segs[0]));
	v = cr_vec(self->e.src_fd, self->e.dst_fd, 0,
		   (struct copy_range_seg *)(area + page - 2 * sizeof(segs[0])),
		   3);
	expect_vec_error(_metadata, "segs run into a hole", &v, EFAULT,
			 self->e.dst_fd, &before);

	ASSERT_EQ(-1, syscall(SYS_ioctl, cr_dev(), COPY_RANGE_IOC_COPYV, NULL));
	EXPECT_EQ(EFAULT, errno);
	ASSERT_EQ(-1, syscall(SYS_ioctl, cr_dev(), COPY_RANGE_IOC_SUBMITV,
			      area + page));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_TRUE(snapshot_same(self->e.dst_fd, &before));
	snapshot_free(&before);
	munmap(area, 2 * page);
}

/*
 * What the checks allow: destination ranges that touch, and an empty
 * segment inside another's range (it covers nothing).
 */
TEST_F(vec, touching_and_empty_segments)
{
	struct copy_range_seg segs[] = {
		{ .src_off = 0, .dst_off = 4096, .len = 4096 },
		{ .src_off = 100, .dst_off = 4096 + 4096, .len = 1 },
		{ .src_off = 9000, .dst_off = 4096 + 100, .len = 0 },
		{ .src_off = 50000, .dst_off = 0, .len = 4096 },
	};
	struct copy_range_vec v = cr_vec(self->e.src_fd, self->e.dst_fd, 0,
					 segs, ARRAY_SIZE(segs));

	EXPECT_EQ(4096 + 1 + 4096, cr_copyv(&v)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(ARRAY_SIZE(segs), v.done_segs);
	check_dst(_metadata, self->e.dst_fd, segs, ARRAY_SIZE(segs),
		  ARRAY_SIZE(segs));
}

/*
 * SUBMITV: one job for the whole vector, total == the sum of the
 * lengths, DONE with everything copied.
 */
TEST_F_TIMEOUT(vec, submitv_job, 120)
{
	uint64_t sum = mixed_segments(self->segs);
	struct copy_range_vec v = cr_vec(self->e.src_fd, self->e.dst_fd, 0,
					 self->segs, NR_MIXED);
	struct copy_range_status st;
	int job, fl;

	job = cr_submitv(&v);
	ASSERT_LE(0, job) TH_LOG("%s", strerror(errno));
	fl = fcntl(job, F_GETFD);
	ASSERT_LE(0, fl);
	ASSERT_TRUE(fl & FD_CLOEXEC);
	ASSERT_EQ(0, cr_job_status(job, &st));
	ASSERT_TRUE(cr_status_sane(&st));
	EXPECT_EQ(sum, st.total);
	ASSERT_EQ(0, cr_job_wait(job, &st));
	EXPECT_EQ(COPY_RANGE_JOB_DONE, st.state) TH_LOG("%s",
							cr_status_str(&st));
	EXPECT_EQ(sum, st.total);
	EXPECT_EQ(sum, st.copied);
	close(job);
	check_dst(_metadata, self->e.dst_fd, self->segs, NR_MIXED, NR_MIXED);
}

/*
 * SUBMITV with a segment that crosses the source's EOF: total counts each
 * segment clamped to EOF, the job copies what COPYV copies (the vector
 * stops at that segment) and ends DONE.
 */
TEST_F(vec, submitv_clamped_to_eof)
{
	struct copy_range_seg segs[] = {
		{ .src_off = 0, .dst_off = 10, .len = 10000 },
		{ .src_off = SRC_SIZE - 100, .dst_off = 100000, .len = 1000 },
	};
	struct copy_range_vec v = cr_vec(self->e.src_fd, self->e.dst_fd, 0,
					 segs, ARRAY_SIZE(segs));
	struct copy_range_status st;
	int job;

	job = cr_submitv(&v);
	ASSERT_LE(0, job) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, cr_job_wait(job, &st));
	EXPECT_EQ(COPY_RANGE_JOB_DONE, st.state) TH_LOG("%s",
							cr_status_str(&st));
	EXPECT_EQ(10100ULL, st.total);
	EXPECT_EQ(10100ULL, st.copied);
	close(job);
	segs[1].len = 100;
	check_dst(_metadata, self->e.dst_fd, segs, 2, 2);
}

/*
 * A segment that comes up short at the source's EOF before the last one:
 * the job does what COPYV does and stops there, DONE (it copied all it
 * could), with total still the sum of the segments clamped to EOF.
 */
TEST_F(vec, submitv_stops_like_copyv)
{
	struct copy_range_seg segs[] = {
		{ .src_off = 0, .dst_off = 10, .len = 10000 },
		{ .src_off = SRC_SIZE - 100, .dst_off = 100000, .len = 1000 },
		{ .src_off = 7, .dst_off = 200000, .len = 4096 },
	};
	struct copy_range_vec v = cr_vec(self->e.src_fd, self->e.dst_fd, 0,
					 segs, ARRAY_SIZE(segs));
	struct copy_range_status st;
	struct snapshot by_copyv;
	int job;

	EXPECT_EQ(10100, cr_copyv(&v));
	EXPECT_EQ(1U, v.done_segs);
	ASSERT_EQ(0, snapshot_take(self->e.dst_fd, &by_copyv));
	ASSERT_EQ(0, ftruncate(self->e.dst_fd, 0));
	ASSERT_EQ(0, pattern_write(self->e.dst_fd, 0, DST_SIZE, SEED_B, 0));

	job = cr_submitv(&v);
	ASSERT_LE(0, job) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, cr_job_wait(job, &st));
	close(job);
	TH_LOG("job: %s", cr_status_str(&st));
	EXPECT_EQ(COPY_RANGE_JOB_DONE, st.state);
	EXPECT_TRUE(snapshot_same(self->e.dst_fd, &by_copyv))
		TH_LOG("the job copied other bytes than COPYV");
	EXPECT_EQ(10100ULL, st.copied);
	EXPECT_EQ(10000ULL + 100 + 4096, st.total);
	snapshot_free(&by_copyv);
}

/*
 * REQUIRE on btrfs and xfs: block-aligned segments are all shared,
 * through COPYV and through SUBMITV.  On ext4 and tmpfs the same vector
 * is EOPNOTSUPP, before anything is copied.
 */
TEST_F(vec, require_shares_aligned_segments)
{
	const uint64_t blk = 64 * KIB;
	struct copy_range_seg segs[] = {
		{ .src_off = 3 * blk, .dst_off = 0, .len = 2 * blk },
		{ .src_off = 0, .dst_off = 5 * blk, .len = blk },
		{ .src_off = 10 * blk, .dst_off = 2 * blk, .len = 3 * blk },
		{ .src_off = 3 * blk, .dst_off = 8 * blk, .len = 4 * blk },
	};
	const uint64_t sum = 10 * blk;
	struct copy_range_status st;
	struct copy_range_vec v;
	unsigned int pass, i;

	if (!variant->fs.can_share) {
		struct snapshot before;

		ASSERT_EQ(0, snapshot_take(self->e.dst_fd, &before));
		v = cr_vec(self->e.src_fd, self->e.dst_fd,
			   COPY_RANGE_SHARE_REQUIRE, segs, ARRAY_SIZE(segs));
		expect_vec_error(_metadata, "REQUIRE", &v, EOPNOTSUPP,
				 self->e.dst_fd, &before);
		snapshot_free(&before);
		return;
	}
	for (pass = 0; pass < 2; pass++) {
		int dst = open_new(self->e.src_dir,
				   pass ? "dst_job" : "dst_sync", O_RDWR);

		ASSERT_LE(0, dst);
		v = cr_vec(self->e.src_fd, dst, COPY_RANGE_SHARE_REQUIRE, segs,
			   ARRAY_SIZE(segs));
		if (!pass) {
			EXPECT_EQ((int64_t)sum, cr_copyv(&v))
				TH_LOG("%s", strerror(errno));
			EXPECT_EQ(ARRAY_SIZE(segs), v.done_segs);
		} else {
			int job = cr_submitv(&v);

			ASSERT_LE(0, job) TH_LOG("%s", strerror(errno));
			ASSERT_EQ(0, cr_job_wait(job, &st));
			close(job);
			EXPECT_EQ(COPY_RANGE_JOB_DONE, st.state)
				TH_LOG("%s", cr_status_str(&st));
			EXPECT_EQ(sum, st.total);
			EXPECT_EQ(sum, st.copied);
		}
		EXPECT_EQ((int64_t)(12 * blk), file_size(dst));
		ASSERT_EQ(0, settle(dst));
		for (i = 0; i < ARRAY_SIZE(segs); i++) {
			uint64_t mapped, shared;

			EXPECT_EQ(-1, pattern_mismatch(dst, segs[i].dst_off,
						       segs[i].len, SEED_A,
						       segs[i].src_off));
			ASSERT_EQ(0, fiemap_shared(dst, segs[i].dst_off,
						   segs[i].dst_off + segs[i].len,
						   &mapped, &shared));
			EXPECT_EQ(segs[i].len, shared)
				TH_LOG("segment %u: %ju of %ju bytes shared", i,
				       (uintmax_t)shared,
				       (uintmax_t)segs[i].len);
		}
		close(dst);
	}
}

/*
 * REQUIRE with one segment the filesystem cannot share (unaligned) after
 * one it can: a single copy of that segment is EINVAL, so the vector's
 * checks fail before anything is copied, for COPYV and SUBMITV alike.
 * (EOPNOTSUPP where nothing can be shared at all.)
 */
TEST_F(vec, require_unaligned_segment_copies_nothing)
{
	const uint64_t blk = 64 * KIB;
	const struct copy_range_seg segs[] = {
		{ .src_off = 0, .dst_off = 0, .len = 2 * blk },
		{ .src_off = 4 * blk + 1, .dst_off = 4 * blk + 1, .len = blk },
	};
	const int want = variant->fs.can_share ? EINVAL : EOPNOTSUPP;
	struct copy_range_vec v;
	struct snapshot before;
	int dst;

	dst = open_new(self->e.src_dir, "dst_require", O_RDWR);
	ASSERT_LE(0, dst);
	/* The unaligned segment alone, as a single copy. */
	EXPECT_EQ(-1, copy_range(self->e.src_fd, segs[1].src_off, dst,
				 segs[1].dst_off, segs[1].len,
				 COPY_RANGE_SHARE_REQUIRE));
	EXPECT_EQ(want, errno);
	ASSERT_EQ(0, snapshot_take(dst, &before));
	v = cr_vec(self->e.src_fd, dst, COPY_RANGE_SHARE_REQUIRE, segs,
		   ARRAY_SIZE(segs));
	expect_vec_error(_metadata, "REQUIRE, unaligned second segment", &v,
			 want, dst, &before);
	snapshot_free(&before);
	close(dst);
}

TEST_HARNESS_MAIN
