// SPDX-License-Identifier: GPL-2.0
/*
 * Asynchronous copies: COPY_RANGE_IOC_SUBMIT and the job descriptor it
 * returns.
 *
 * A submit makes every check a synchronous copy makes, with the same
 * errno, and otherwise returns a new O_CLOEXEC descriptor, even for a job
 * with nothing to copy.  The descriptor gives the job's status through
 * read(2) and COPY_RANGE_JOB_IOC_STATUS (never blocking), POLLIN once the
 * job has ended, COPY_RANGE_JOB_IOC_WAIT (blocking, EINTR on a signal) and
 * COPY_RANGE_JOB_IOC_CANCEL (the job stops at its next chunk).  The count
 * in the status is exact: after a cancel, a failure, a close or the death
 * of the submitter, the destination holds exactly that many bytes of the
 * source and nothing else has changed.
 *
 * The job copies with the submitter's credentials and RLIMIT_FSIZE, taken
 * at submit time.  Last, the sample samples/c/pending_copies, which keeps
 * many jobs in flight, is run on a tree of files.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cr_fixture.h"

#define SEED_A		0x5eed0000a5a5c0deULL
#define SEED_B		0x5eed0000b4b4c0deULL

/* Three chunks and a bit, at an odd size. */
#define SMALL_SIZE	(9 * MIB + 4097)
/* File positions the setup leaves, which no job may move. */
#define SRC_POS		11
#define DST_POS		13

/* How long a test waits for a job it expects to end, at most. */
#define JOB_TIMEOUT_S	90

static bool job_cloexec(int job)
{
	int fl = fcntl(job, F_GETFD);

	return fl >= 0 && (fl & FD_CLOEXEC);
}

/*
 * Waits for @job to end and checks how: @state, and when @copied is not
 * -1, exactly that many bytes of @total.  The final status goes to @out.
 */
static void expect_end(struct __test_metadata *_metadata, int job,
		       int32_t state, int64_t copied, uint64_t total,
		       struct copy_range_status *out)
{
	struct copy_range_status st, again;

	ASSERT_EQ(0, cr_job_wait(job, &st)) TH_LOG("WAIT: %s", strerror(errno));
	ASSERT_TRUE(cr_status_sane(&st)) TH_LOG("%s",
						cr_status_str(&st));
	EXPECT_EQ(state, st.state) TH_LOG("%s", cr_status_str(&st));
	EXPECT_EQ(total, st.total) TH_LOG("%s", cr_status_str(&st));
	if (copied >= 0) {
		EXPECT_EQ((uint64_t)copied, st.copied)
			TH_LOG("%s", cr_status_str(&st));
	}
	/* Once ended, the status is final and the job is readable. */
	ASSERT_EQ(0, cr_job_status(job, &again));
	ASSERT_EQ(0, memcmp(&st, &again, sizeof(st)));
	ASSERT_EQ(POLLIN, poll_in(job, 0) & (POLLIN | POLLERR | POLLNVAL));
	if (out)
		*out = st;
}

/* ---- One job on every test filesystem ---- */

FIXTURE(job) {
	/* src: SMALL_SIZE bytes of SEED_A; dst: empty */
	struct cr_env e;
};

#define CR_FS_FIXTURE job
#include "cr_fs_variants.h"

FIXTURE_SETUP(job)
{
	if (!cr_env_setup_on(_metadata, &self->e, &variant->fs, SMALL_SIZE,
			     SEED_A))
		return;
	ASSERT_EQ(0, settle(self->e.src_fd));
	ASSERT_EQ(SRC_POS, lseek(self->e.src_fd, SRC_POS, SEEK_SET));
	ASSERT_EQ(DST_POS, lseek(self->e.dst_fd, DST_POS, SEEK_SET));
}

FIXTURE_TEARDOWN(job)
{
	cr_env_teardown(&self->e);
}

/* ext4's s_maxbytes (16 TiB with 4 KiB blocks) is far below 2^63. */
static bool small_maxbytes(const struct cr_fs *fs)
{
	return fs->magic == EXT4_SUPER_MAGIC;
}

/*
 * A job copies exactly what a synchronous copy would, at odd offsets,
 * with each policy that can work everywhere, and reports DONE with
 * copied == total == len.  Its descriptor is close-on-exec.
 */
TEST_F_TIMEOUT(job, done_with_exact_data, 120)
{
	static const uint64_t flags[] = { 0, COPY_RANGE_SHARE_ALLOW };
	const uint64_t src_off = 3, dst_off = 5, len = SMALL_SIZE - 3 - 4096;
	int dst[2], job[2];
	unsigned int i;

	dst[0] = self->e.dst_fd;
	dst[1] = open_new(self->e.src_dir, "dst_allow", O_RDWR);
	ASSERT_LE(0, dst[1]);
	/* Both in flight at once. */
	for (i = 0; i < 2; i++) {
		struct copy_range_status st;

		job[i] = cr_submit(self->e.src_fd, src_off, dst[i], dst_off,
				   len, flags[i]);
		ASSERT_LE(0, job[i]) TH_LOG("flags %ju: %s",
					    (uintmax_t)flags[i],
					    strerror(errno));
		ASSERT_NE(self->e.src_fd, job[i]);
		ASSERT_NE(self->e.dst_fd, job[i]);
		ASSERT_TRUE(job_cloexec(job[i]));
		ASSERT_EQ(0, cr_job_status(job[i], &st));
		ASSERT_TRUE(cr_status_sane(&st)) TH_LOG("%s",
							cr_status_str(&st));
		EXPECT_EQ(len, st.total);
	}
	for (i = 0; i < 2; i++) {
		expect_end(_metadata, job[i], COPY_RANGE_JOB_DONE, len, len,
			   NULL);
		ASSERT_EQ(0, close(job[i]));
		EXPECT_EQ((int64_t)(dst_off + len), file_size(dst[i]));
		EXPECT_EQ(-1, pattern_mismatch(dst[i], dst_off, len, SEED_A,
					       src_off));
		EXPECT_EQ(-1, pattern_mismatch(dst[i], 0, dst_off,
					       PATTERN_ZERO, 0));
	}
	close(dst[1]);
	EXPECT_EQ(SRC_POS, file_pos(self->e.src_fd));
	EXPECT_EQ(DST_POS, file_pos(self->e.dst_fd));
}

/*
 * The status read(2) returns: exactly sizeof(struct copy_range_status)
 * bytes for any count at least that large, the same on every read (there
 * is no position and no end of file), and EINVAL for a smaller count.
 */
TEST_F(job, status_by_read)
{
	const size_t sz = sizeof(struct copy_range_status);
	struct copy_range_status st;
	unsigned char buf[sizeof(struct copy_range_status) + 64];
	size_t small[] = { 0, 1, sz / 2, sz - 1 };
	unsigned int i;
	int job;

	job = cr_submit(self->e.src_fd, 0, self->e.dst_fd, 0, 64 * KIB, 0);
	ASSERT_LE(0, job) TH_LOG("SUBMIT: %s", strerror(errno));
	expect_end(_metadata, job, COPY_RANGE_JOB_DONE, 64 * KIB, 64 * KIB,
		   &st);

	for (i = 0; i < 3; i++) {
		size_t count = i == 2 ? sizeof(buf) : sz + i;

		size_t j;

		memset(buf, 0x5a, sizeof(buf));
		ASSERT_EQ((ssize_t)sz, read(job, buf, count))
			TH_LOG("read(%zu): %s", count, strerror(errno));
		ASSERT_EQ(0, memcmp(buf, &st, sz));
		/* Nothing past the structure is written. */
		for (j = sz; j < sizeof(buf); j++)
			ASSERT_EQ(0x5a, buf[j]) TH_LOG("read(%zu) wrote byte %zu",
						       count, j);
	}
	for (i = 0; i < ARRAY_SIZE(small); i++) {
		memset(buf, 0x5a, sizeof(buf));
		ASSERT_EQ(-1, read(job, buf, small[i]))
			TH_LOG("read(%zu) succeeded", small[i]);
		EXPECT_EQ(EINVAL, errno) TH_LOG("read(%zu): %s", small[i],
						strerror(errno));
		ASSERT_EQ(0x5a, buf[0]);
	}
	/* A job descriptor is read-only. */
	ASSERT_EQ(-1, write(job, buf, sz));
	EXPECT_EQ(EBADF, errno);
	ASSERT_EQ(0, close(job));
}

/* total is len clamped to the source's EOF at submit time. */
TEST_F(job, total_clamped_to_eof)
{
	const struct {
		uint64_t src_off, len, total;
	} cases[] = {
		{ 1000, 2 * SMALL_SIZE, SMALL_SIZE - 1000 },
		{ 0, UINT64_MAX, SMALL_SIZE },
		{ SMALL_SIZE - 1, 100, 1 },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		int job;

		ASSERT_EQ(0, ftruncate(self->e.dst_fd, 0));
		job = cr_submit(self->e.src_fd, cases[i].src_off,
				self->e.dst_fd, 0, cases[i].len, 0);
		ASSERT_LE(0, job) TH_LOG("case %u: %s", i, strerror(errno));
		expect_end(_metadata, job, COPY_RANGE_JOB_DONE, cases[i].total,
			   cases[i].total, NULL);
		close(job);
		EXPECT_EQ((int64_t)cases[i].total, file_size(self->e.dst_fd));
		EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0,
					       cases[i].total, SEED_A,
					       cases[i].src_off));
	}
}

/*
 * Nothing to copy is still a job: a descriptor, DONE at once (or soon),
 * with copied == total == 0, and the destination untouched.
 */
TEST_F(job, nothing_to_copy)
{
	const struct {
		uint64_t src_off, dst_off, len;
	} cases[] = {
		{ 0, 0, 0 },
		{ 4096, 1 * MIB, 0 },
		{ SMALL_SIZE, 0, 4096 },
		{ SMALL_SIZE + 12345, 77, 1 * MIB },
		{ SMALL_SIZE, 0, UINT64_MAX - SMALL_SIZE },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		int job = cr_submit(self->e.src_fd, cases[i].src_off,
				    self->e.dst_fd, cases[i].dst_off,
				    cases[i].len, 0);

		ASSERT_LE(0, job) TH_LOG("case %u: %s", i, strerror(errno));
		ASSERT_TRUE(job_cloexec(job));
		expect_end(_metadata, job, COPY_RANGE_JOB_DONE, 0, 0, NULL);
		ASSERT_EQ(0, close(job));
		EXPECT_EQ(0, file_size(self->e.dst_fd));
	}
}

/* One failing call: what COPY and SUBMIT must both say. */
struct ecase {
	const char *what;
	int src_fd;
	uint64_t src_off;
	int dst_fd;
	uint64_t dst_off;
	uint64_t len;
	uint64_t flags;
	int want;
};

#define MAX_ECASES	40U

/*
 * Each case fails the same way as a synchronous copy and as a submit, at
 * submit time: no descriptor, and nothing written.  Every case is tried
 * (EXPECT), so that one run shows every difference.
 */
static void check_ecases(struct __test_metadata *_metadata,
			 const struct ecase *c, unsigned int n, int src_fd,
			 int dst_fd)
{
	struct snapshot src_before;
	int64_t dst_size = file_size(dst_fd);
	unsigned int i;

	ASSERT_EQ(0, snapshot_take(src_fd, &src_before));
	for (i = 0; i < n; i++) {
		struct copy_range_status st = { 0 };
		int64_t ret;
		int job, err;

		errno = 0;
		ret = copy_range(c[i].src_fd, c[i].src_off, c[i].dst_fd,
				 c[i].dst_off, c[i].len, c[i].flags);
		err = errno;
		EXPECT_EQ(-1, ret) TH_LOG("%s: COPY returned %jd", c[i].what,
					  (intmax_t)ret);
		EXPECT_EQ(c[i].want, err) TH_LOG("%s: COPY: %s", c[i].what,
						 strerror(err));
		job = cr_submit(c[i].src_fd, c[i].src_off, c[i].dst_fd,
				c[i].dst_off, c[i].len, c[i].flags);
		/* 0 when SUBMIT accepted what it should have refused. */
		err = job < 0 ? errno : 0;
		if (job >= 0) {
			cr_job_wait(job, &st);
			close(job);
		}
		EXPECT_GT(0, job) TH_LOG("%s: SUBMIT accepted; the job ended %s",
					 c[i].what, cr_status_str(&st));
		EXPECT_EQ(c[i].want, err) TH_LOG("%s: SUBMIT: %s, COPY: %s",
						 c[i].what, strerror(err),
						 strerror(c[i].want));
		EXPECT_EQ(dst_size, file_size(dst_fd)) TH_LOG("%s", c[i].what);
	}
	EXPECT_TRUE(snapshot_same(src_fd, &src_before));
	snapshot_free(&src_before);
}

#define ECASE(w, s, so, d, doff, l, f, e) \
	((struct ecase){ .what = (w), .src_fd = (s), .src_off = (so), \
			 .dst_fd = (d), .dst_off = (doff), .len = (l), \
			 .flags = (f), .want = (e) })

TEST_F(job, errors_match_copy)
{
	struct ecase c[MAX_ECASES];
	int src = self->e.src_fd, dst = self->e.dst_fd;
	int closed, opath, wo, ro, app, dir, pfd[2], proc;
	unsigned int n = 0;

	closed = dup(src);
	ASSERT_LE(0, closed);
	ASSERT_EQ(0, close(closed));
	opath = open_at(self->e.src_dir, "src", O_PATH);
	wo = open_at(self->e.src_dir, "src", O_WRONLY);
	ro = open_at(self->e.src_dir, "dst", O_RDONLY);
	app = open_at(self->e.src_dir, "dst", O_WRONLY | O_APPEND);
	dir = open(self->e.src_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	proc = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, opath);
	ASSERT_LE(0, wo);
	ASSERT_LE(0, ro);
	ASSERT_LE(0, app);
	ASSERT_LE(0, dir);
	ASSERT_LE(0, proc);
	ASSERT_EQ(0, pipe2(pfd, O_CLOEXEC));

	c[n++] = ECASE("src -1", -1, 0, dst, 0, 4096, 0, EBADF);
	c[n++] = ECASE("dst -1", src, 0, -1, 0, 4096, 0, EBADF);
	c[n++] = ECASE("src closed", closed, 0, dst, 0, 4096, 0, EBADF);
	c[n++] = ECASE("dst closed", src, 0, closed, 0, 4096, 0, EBADF);
	c[n++] = ECASE("src O_PATH", opath, 0, dst, 0, 4096, 0, EBADF);
	c[n++] = ECASE("src write-only", wo, 0, dst, 0, 4096, 0, EBADF);
	c[n++] = ECASE("dst read-only", src, 0, ro, 0, 4096, 0, EBADF);
	c[n++] = ECASE("dst O_APPEND", src, 0, app, 0, 4096, 0, EBADF);
	c[n++] = ECASE("src directory", dir, 0, dst, 0, 4096, 0, EISDIR);
	c[n++] = ECASE("dst directory", src, 0, dir, 0, 4096, 0, EISDIR);
	c[n++] = ECASE("src pipe", pfd[0], 0, dst, 0, 4096, 0, EINVAL);
	c[n++] = ECASE("dst pipe", src, 0, pfd[1], 0, 4096, 0, EINVAL);
	c[n++] = ECASE("src procfs", proc, 0, dst, 0, 4096, 0, EINVAL);
	c[n++] = ECASE("both policies", src, 0, dst, 0, 4096,
		       COPY_RANGE_SHARE_ALLOW | COPY_RANGE_SHARE_REQUIRE,
		       EINVAL);
	c[n++] = ECASE("unknown flag", src, 0, dst, 0, 4096, 1ULL << 2, EINVAL);
	c[n++] = ECASE("all flags", src, 0, dst, 0, 4096, ~0ULL, EINVAL);
	c[n++] = ECASE("same file, overlap", src, 0, src, 4096, 8192, 0,
		       EINVAL);
	c[n++] = ECASE("same file, same range", src, 100, src, 100, 10, 0,
		       EINVAL);
	c[n++] = ECASE("negative src_off", src, (uint64_t)-4096, dst, 0, 10, 0,
		       EINVAL);
	c[n++] = ECASE("src wraps", src, 1, dst, 0, UINT64_MAX, 0, EOVERFLOW);
	c[n++] = ECASE("dst wraps", src, 0, dst, 1, UINT64_MAX, 0, EOVERFLOW);
	c[n++] = ECASE("src wraps, ALLOW", src, 4096, dst, 0, UINT64_MAX - 100,
		       COPY_RANGE_SHARE_ALLOW, EOVERFLOW);
	if (variant->fs.can_share) {
		c[n++] = ECASE("REQUIRE, unaligned offsets", src, 1, dst, 1,
			       64 * KIB, COPY_RANGE_SHARE_REQUIRE, EINVAL);
		c[n++] = ECASE("REQUIRE, partial block", src, 0, dst, 0,
			       64 * KIB + 1, COPY_RANGE_SHARE_REQUIRE, EINVAL);
	} else {
		c[n++] = ECASE("REQUIRE", src, 0, dst, 0, 64 * KIB,
			       COPY_RANGE_SHARE_REQUIRE, EOPNOTSUPP);
		c[n++] = ECASE("REQUIRE, len 0", src, 0, dst, 0, 0,
			       COPY_RANGE_SHARE_REQUIRE, EOPNOTSUPP);
	}
	if (small_maxbytes(&variant->fs))
		c[n++] = ECASE("dst past s_maxbytes", src, 0, dst, 1ULL << 50,
			       4096, 0, EFBIG);
	ASSERT_GE(MAX_ECASES, n);

	check_ecases(_metadata, c, n, src, dst);

	/* Whatever the errors, a good submit still works afterwards. */
	{
		int job = cr_submit(src, 0, dst, 0, 4096, 0);

		ASSERT_LE(0, job);
		expect_end(_metadata, job, COPY_RANGE_JOB_DONE, 4096, 4096,
			   NULL);
		close(job);
	}
	close(opath);
	close(wo);
	close(ro);
	close(app);
	close(dir);
	close(proc);
	close(pfd[0]);
	close(pfd[1]);
	EXPECT_EQ(SRC_POS, file_pos(src));
}

/*
 * A finished job ignores CANCEL: it stays DONE with the same count, and
 * cancelling twice is as harmless.
 */
TEST_F(job, cancel_after_done_changes_nothing)
{
	struct copy_range_status done, st;
	int job, i;

	job = cr_submit(self->e.src_fd, 0, self->e.dst_fd, 0, SMALL_SIZE, 0);
	ASSERT_LE(0, job);
	expect_end(_metadata, job, COPY_RANGE_JOB_DONE, SMALL_SIZE, SMALL_SIZE,
		   &done);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, cr_job_cancel(job)) TH_LOG("%s", strerror(errno));
		ASSERT_EQ(0, cr_job_status(job, &st));
		ASSERT_EQ(0, memcmp(&done, &st, sizeof(st)))
			TH_LOG("%s", cr_status_str(&st));
		ASSERT_EQ(0, cr_job_wait(job, &st));
		ASSERT_EQ(0, memcmp(&done, &st, sizeof(st)))
			TH_LOG("%s", cr_status_str(&st));
	}
	close(job);
	EXPECT_EQ(SMALL_SIZE, file_size(self->e.dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, SMALL_SIZE, SEED_A,
				       0));
}

/*
 * The job holds its own references to both files: closing the caller's
 * descriptors and unlinking the source changes nothing.
 */
TEST_F(job, job_keeps_its_files)
{
	int job, dst;

	job = cr_submit(self->e.src_fd, 0, self->e.dst_fd, 0, SMALL_SIZE, 0);
	ASSERT_LE(0, job);
	ASSERT_EQ(0, close(self->e.src_fd));
	ASSERT_EQ(0, close(self->e.dst_fd));
	self->e.src_fd = -1;
	self->e.dst_fd = -1;
	ASSERT_EQ(0, remove_file(self->e.src_dir, "src"));
	expect_end(_metadata, job, COPY_RANGE_JOB_DONE, SMALL_SIZE, SMALL_SIZE,
		   NULL);
	close(job);
	dst = open_at(self->e.src_dir, "dst", O_RDONLY);
	ASSERT_LE(0, dst);
	EXPECT_EQ(SMALL_SIZE, file_size(dst));
	EXPECT_EQ(-1, pattern_mismatch(dst, 0, SMALL_SIZE, SEED_A, 0));
	close(dst);
}

/* ---- The ioctls themselves ---- */

TEST(unknown_ioctls_are_enotty)
{
	const unsigned long on_job[] = {
		_IO(COPY_RANGE_IOC_MAGIC, 0x13),
		_IO(COPY_RANGE_IOC_MAGIC, 0x10),
		_IOR(COPY_RANGE_IOC_MAGIC, 0x10, __u32),
		_IOW(COPY_RANGE_IOC_MAGIC, 0x12, int),
		COPY_RANGE_IOC_COPY,
		COPY_RANGE_IOC_SUBMIT,
		COPY_RANGE_IOC_COPYV,
		_IO('T', 0x01),
	};
	const unsigned long on_dev[] = {
		COPY_RANGE_JOB_IOC_STATUS,
		COPY_RANGE_JOB_IOC_WAIT,
		COPY_RANGE_JOB_IOC_CANCEL,
	};
	const struct cr_fs tmpfs = CR_FS_TMPFS;
	struct copy_range_status st;
	unsigned char buf[256];
	struct cr_env e;
	unsigned int i;
	int job;

	if (!cr_env_setup_on(_metadata, &e, &tmpfs, 4096, SEED_A))
		return;
	job = cr_submit(e.src_fd, 0, e.dst_fd, 0, 4096, 0);
	ASSERT_LE(0, job);
	expect_end(_metadata, job, COPY_RANGE_JOB_DONE, 4096, 4096, &st);

	for (i = 0; i < ARRAY_SIZE(on_job); i++) {
		memset(buf, 0, sizeof(buf));
		ASSERT_EQ(-1, ioctl(job, on_job[i], buf))
			TH_LOG("job ioctl %#lx accepted", on_job[i]);
		EXPECT_EQ(ENOTTY, errno) TH_LOG("job ioctl %#lx: %s",
						on_job[i], strerror(errno));
	}
	for (i = 0; i < ARRAY_SIZE(on_dev); i++) {
		memset(buf, 0, sizeof(buf));
		ASSERT_EQ(-1, ioctl(cr_dev(), on_dev[i], buf))
			TH_LOG("device ioctl %#lx accepted", on_dev[i]);
		EXPECT_EQ(ENOTTY, errno) TH_LOG("device ioctl %#lx: %s",
						on_dev[i], strerror(errno));
	}
	/* None of that disturbed the job. */
	expect_end(_metadata, job, COPY_RANGE_JOB_DONE, 4096, 4096, NULL);
	close(job);
	cr_env_teardown(&e);
}

/* Argument pointers the kernel cannot use are EFAULT, on both sides. */
TEST(efault_bad_pointers)
{
	const struct cr_fs tmpfs = CR_FS_TMPFS;
	long page = sysconf(_SC_PAGESIZE);
	struct cr_env e;
	void *none;
	int job;

	if (!cr_env_setup_on(_metadata, &e, &tmpfs, 4096, SEED_A))
		return;
	none = mmap(NULL, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, none);
	ASSERT_EQ(-1, syscall(SYS_ioctl, cr_dev(), COPY_RANGE_IOC_SUBMIT, NULL));
	EXPECT_EQ(EFAULT, errno);
	ASSERT_EQ(-1, syscall(SYS_ioctl, cr_dev(), COPY_RANGE_IOC_SUBMIT, none));
	EXPECT_EQ(EFAULT, errno);

	job = cr_submit(e.src_fd, 0, e.dst_fd, 0, 4096, 0);
	ASSERT_LE(0, job);
	ASSERT_EQ(-1, syscall(SYS_ioctl, job, COPY_RANGE_JOB_IOC_STATUS, NULL));
	EXPECT_EQ(EFAULT, errno);
	ASSERT_EQ(-1, syscall(SYS_ioctl, job, COPY_RANGE_JOB_IOC_WAIT, none));
	EXPECT_EQ(EFAULT, errno);
	ASSERT_EQ(-1, read(job, none, sizeof(struct copy_range_status)));
	EXPECT_EQ(EFAULT, errno);
	/* The job itself went on. */
	expect_end(_metadata, job, COPY_RANGE_JOB_DONE, 4096, 4096, NULL);
	EXPECT_EQ(-1, pattern_mismatch(e.dst_fd, 0, 4096, SEED_A, 0));
	close(job);
	munmap(none, page);
	cr_env_teardown(&e);
}

/*
 * REQUIRE between two filesystems is EXDEV at submit time, as for COPY;
 * without it a job copies between them.
 */
TEST(across_filesystems)
{
	const struct cr_fs btrfs = CR_FS_BTRFS, xfs = CR_FS_XFS;
	struct cr_env e;
	int src, dst, job;

	if (!cr_env_setup(_metadata, &e, &btrfs, &xfs, 1 * MIB, SEED_A))
		return;
	src = e.src_fd;
	dst = e.dst_fd;
	ASSERT_EQ(0, settle(src));

	EXPECT_EQ(-1, copy_range(src, 0, dst, 0, 1 * MIB,
				 COPY_RANGE_SHARE_REQUIRE));
	EXPECT_EQ(EXDEV, errno);
	ASSERT_EQ(-1, cr_submit(src, 0, dst, 0, 1 * MIB,
				COPY_RANGE_SHARE_REQUIRE));
	EXPECT_EQ(EXDEV, errno);
	EXPECT_EQ(0, file_size(dst));

	job = cr_submit(src, 0, dst, 0, 1 * MIB, COPY_RANGE_SHARE_ALLOW);
	ASSERT_LE(0, job) TH_LOG("%s", strerror(errno));
	expect_end(_metadata, job, COPY_RANGE_JOB_DONE, 1 * MIB, 1 * MIB, NULL);
	close(job);
	EXPECT_EQ(-1, pattern_mismatch(dst, 0, 1 * MIB, SEED_A, 0));
	cr_env_teardown(&e);
}

/* ---- Limits and credentials, on two filesystems ---- */

FIXTURE(limits) {
	struct cr_env e;	/* src: SMALL_SIZE bytes of SEED_A */
};

FIXTURE_VARIANT(limits) {
	struct cr_fs fs;
};

FIXTURE_VARIANT_ADD(limits, tmpfs) { .fs = CR_FS_TMPFS };
FIXTURE_VARIANT_ADD(limits, ext4) { .fs = CR_FS_EXT4 };

FIXTURE_SETUP(limits)
{
	cr_env_setup_on(_metadata, &self->e, &variant->fs, SMALL_SIZE, SEED_A);
}

FIXTURE_TEARDOWN(limits)
{
	cr_env_teardown(&self->e);
}

/* RLIMIT_FSIZE for these tests, and where in the destination copies go. */
#define FSIZE_LIMIT	(6 * MIB + 12345)
#define FSIZE_DST_OFF	(1 * MIB + 7)

static volatile sig_atomic_t xfsz_count;

static void count_xfsz(int sig)
{
	(void)sig;
	xfsz_count++;
}

static int set_fsize(rlim_t cur)
{
	struct rlimit rl = { .rlim_cur = cur, .rlim_max = RLIM_INFINITY };

	return setrlimit(RLIMIT_FSIZE, &rl);
}

/*
 * A destination range that crosses RLIMIT_FSIZE: the synchronous loop
 * copies up to the limit and then gets EFBIG; the job does the same and
 * ends FAILED with -EFBIG and copied == limit - dst_off.  A destination
 * offset at or past the limit is EFBIG at submit time, with SIGXFSZ, as
 * for COPY.
 */
TEST_F(limits, rlimit_fsize_fails_with_efbig)
{
	struct sigaction sa = { .sa_handler = count_xfsz };
	const uint64_t want = FSIZE_LIMIT - FSIZE_DST_OFF;
	struct copy_range_status st;
	int64_t done = 0, n;
	int sync_dst, dst, job;

	sync_dst = open_new(self->e.src_dir, "dst_sync", O_RDWR);
	dst = open_new(self->e.src_dir, "dst_job", O_RDWR);
	ASSERT_LE(0, sync_dst);
	ASSERT_LE(0, dst);
	ASSERT_EQ(0, sigaction(SIGXFSZ, &sa, NULL));
	ASSERT_EQ(0, set_fsize(FSIZE_LIMIT));

	for (;;) {
		n = copy_range(self->e.src_fd, done, sync_dst,
			       FSIZE_DST_OFF + done, SMALL_SIZE - done, 0);
		if (n <= 0)
			break;
		done += n;
	}
	ASSERT_EQ(-1, n);
	EXPECT_EQ(EFBIG, errno);
	ASSERT_EQ((int64_t)want, done);
	EXPECT_EQ(FSIZE_LIMIT, file_size(sync_dst));

	xfsz_count = 0;
	job = cr_submit(self->e.src_fd, 0, dst, FSIZE_DST_OFF, SMALL_SIZE, 0);
	ASSERT_LE(0, job) TH_LOG("SUBMIT: %s", strerror(errno));
	expect_end(_metadata, job, COPY_RANGE_JOB_FAILED, want, SMALL_SIZE,
		   &st);
	EXPECT_EQ(-EFBIG, st.error);
	close(job);
	/* The worker must not signal anybody. */
	EXPECT_EQ(0, xfsz_count);
	EXPECT_EQ(FSIZE_LIMIT, file_size(dst));
	EXPECT_EQ(-1, pattern_mismatch(dst, FSIZE_DST_OFF, want, SEED_A, 0));
	EXPECT_EQ(-1, files_mismatch(dst, 0, sync_dst, 0, FSIZE_LIMIT));

	/* At or past the limit: nothing to start, at submit time. */
	ASSERT_EQ(0, ftruncate(dst, 0));
	xfsz_count = 0;
	EXPECT_EQ(-1, copy_range(self->e.src_fd, 0, dst, FSIZE_LIMIT, 4096, 0));
	EXPECT_EQ(EFBIG, errno);
	EXPECT_EQ(1, xfsz_count);
	ASSERT_EQ(-1, cr_submit(self->e.src_fd, 0, dst, FSIZE_LIMIT, 4096, 0));
	EXPECT_EQ(EFBIG, errno);
	EXPECT_EQ(2, xfsz_count) TH_LOG("SUBMIT must raise SIGXFSZ as COPY does");
	ASSERT_EQ(-1, cr_submit(self->e.src_fd, 0, dst, FSIZE_LIMIT + 1, 1, 0));
	EXPECT_EQ(EFBIG, errno);
	EXPECT_EQ(0, file_size(dst));
	close(dst);
	close(sync_dst);
}

/*
 * A range that ends exactly at the limit is no failure, even when len
 * runs past the source's EOF: the synchronous loop copies everything and
 * then reads EOF (0), and the job ends DONE.
 */
TEST_F(limits, rlimit_fsize_range_ending_at_limit)
{
	const uint64_t want = FSIZE_LIMIT - FSIZE_DST_OFF;
	const uint64_t src_off = SMALL_SIZE - want;
	struct sigaction sa = { .sa_handler = SIG_IGN };
	uint64_t lens[] = { want, want + 1, 2 * SMALL_SIZE };
	unsigned int i;

	ASSERT_EQ(0, sigaction(SIGXFSZ, &sa, NULL));
	ASSERT_EQ(0, set_fsize(FSIZE_LIMIT));
	for (i = 0; i < ARRAY_SIZE(lens); i++) {
		int dst = open_new(self->e.src_dir, "dst", O_RDWR);
		int job;

		ASSERT_LE(0, dst);
		EXPECT_EQ((int64_t)want, copy_range(self->e.src_fd, src_off,
						    dst, FSIZE_DST_OFF,
						    lens[i], 0));
		EXPECT_EQ(0, copy_range(self->e.src_fd, src_off + want, dst,
					FSIZE_LIMIT, lens[i] - want, 0));
		ASSERT_EQ(0, ftruncate(dst, 0));

		job = cr_submit(self->e.src_fd, src_off, dst, FSIZE_DST_OFF,
				lens[i], 0);
		ASSERT_LE(0, job) TH_LOG("len %ju: %s", (uintmax_t)lens[i],
					 strerror(errno));
		TH_LOG("len %ju, %ju bytes to the source's EOF and the limit",
		       (uintmax_t)lens[i], (uintmax_t)want);
		expect_end(_metadata, job, COPY_RANGE_JOB_DONE, want, want,
			   NULL);
		close(job);
		EXPECT_EQ(FSIZE_LIMIT, file_size(dst));
		EXPECT_EQ(-1, pattern_mismatch(dst, FSIZE_DST_OFF, want, SEED_A,
					       src_off));
		close(dst);
	}
}

/*
 * The limit that counts is the one at submit time: raising it afterwards
 * does not let the job past it, lowering it does not stop the job.
 */
TEST_F(limits, rlimit_fsize_taken_at_submit)
{
	struct sigaction sa = { .sa_handler = SIG_IGN };
	const uint64_t want = FSIZE_LIMIT - FSIZE_DST_OFF;
	struct copy_range_status st;
	int dst, job;

	ASSERT_EQ(0, sigaction(SIGXFSZ, &sa, NULL));
	dst = open_new(self->e.src_dir, "dst", O_RDWR);
	ASSERT_LE(0, dst);

	ASSERT_EQ(0, set_fsize(FSIZE_LIMIT));
	job = cr_submit(self->e.src_fd, 0, dst, FSIZE_DST_OFF, SMALL_SIZE, 0);
	ASSERT_LE(0, job);
	ASSERT_EQ(0, set_fsize(RLIM_INFINITY));
	expect_end(_metadata, job, COPY_RANGE_JOB_FAILED, want, SMALL_SIZE,
		   &st);
	EXPECT_EQ(-EFBIG, st.error);
	close(job);
	EXPECT_EQ(FSIZE_LIMIT, file_size(dst));

	ASSERT_EQ(0, ftruncate(dst, 0));
	job = cr_submit(self->e.src_fd, 0, dst, FSIZE_DST_OFF, SMALL_SIZE, 0);
	ASSERT_LE(0, job);
	ASSERT_EQ(0, set_fsize(FSIZE_LIMIT));
	expect_end(_metadata, job, COPY_RANGE_JOB_DONE, SMALL_SIZE, SMALL_SIZE,
		   NULL);
	close(job);
	EXPECT_EQ(FSIZE_DST_OFF + SMALL_SIZE, file_size(dst));
	EXPECT_EQ(-1, pattern_mismatch(dst, FSIZE_DST_OFF, SMALL_SIZE, SEED_A,
				       0));
	close(dst);
}

#define GIB		(1024 * MIB)
#define HUGE_SIZE	(3 * GIB + 4097)

/*
 * A job copies the whole range, where one synchronous call stops at
 * MAX_RW_COUNT (just under 2 GiB): a sparse source of more than 3 GiB,
 * with data at both ends and across the 2 GiB mark, into an empty
 * destination, where the holes stay holes and cost nothing to copy.
 */
TEST_F_TIMEOUT(limits, job_copies_past_max_rw_count, 120)
{
	const struct {
		uint64_t off, len;
	} data[] = {
		{ 0, 1 * MIB + 3 },
		{ 2 * GIB - 3 * MIB - 5, 6 * MIB },
		{ HUGE_SIZE - 12345, 12345 },
	};
	int src, dst, job;
	unsigned int i;
	int64_t n;

	src = open_new(self->e.src_dir, "sparse", O_RDWR);
	dst = open_new(self->e.src_dir, "dst", O_RDWR);
	ASSERT_LE(0, src);
	ASSERT_LE(0, dst);
	ASSERT_EQ(0, ftruncate(src, HUGE_SIZE));
	for (i = 0; i < ARRAY_SIZE(data); i++)
		ASSERT_EQ(0, pattern_write(src, data[i].off, data[i].len,
					   SEED_A, data[i].off));

	n = copy_range(src, 0, dst, 0, HUGE_SIZE, 0);
	ASSERT_LT(0, n) TH_LOG("COPY: %s", strerror(errno));
	ASSERT_GT((int64_t)HUGE_SIZE, n);
	ASSERT_GE((int64_t)INT_MAX, n);
	ASSERT_EQ(0, ftruncate(dst, 0));

	job = cr_submit(src, 0, dst, 0, HUGE_SIZE, 0);
	ASSERT_LE(0, job) TH_LOG("SUBMIT: %s", strerror(errno));
	expect_end(_metadata, job, COPY_RANGE_JOB_DONE, HUGE_SIZE, HUGE_SIZE,
		   NULL);
	close(job);
	EXPECT_EQ(HUGE_SIZE, file_size(dst));
	for (i = 0; i < ARRAY_SIZE(data); i++)
		EXPECT_EQ(-1, pattern_mismatch(dst, data[i].off, data[i].len,
					       SEED_A, data[i].off));
	EXPECT_EQ(-1, pattern_mismatch(dst, GIB, 64 * KIB, PATTERN_ZERO, 0));
	EXPECT_EQ(-1, pattern_mismatch(dst, 5 * GIB / 2, 64 * KIB,
				       PATTERN_ZERO, 0));
	close(src);
	close(dst);
}

/* A set-user-ID file: a write without CAP_FSETID clears the bit. */
static int make_suid_dst(const char *dir, const char *name)
{
	int fd = open_new(dir, name, O_RDWR);

	if (fd >= 0 && fchmod(fd, 04755)) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool is_suid(int fd)
{
	struct stat st;

	return !fstat(fd, &st) && (st.st_mode & S_ISUID);
}

/*
 * As nobody: a job on the user's own files runs and completes, and it
 * writes as the user, not as the kernel thread that runs it: writing
 * clears the destination's set-user-ID bit exactly as a synchronous copy
 * by the same user does (root, with CAP_FSETID, keeps it; see the caller).
 * Returns 0, or the number of the step that went wrong.
 */
static int nobody_steps(const char *dir)
{
	struct copy_range_status st;
	int dev, src, dst, sync_dst, job, ret;

	ret = cr_drop_to_nobody();
	if (ret)
		return ret;
	dev = open(CR_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return 3;
	src = open_new(dir, "user_src", O_RDWR);
	if (src < 0 || pattern_write(src, 0, SMALL_SIZE, SEED_B, 0))
		return 4;
	dst = make_suid_dst(dir, "user_dst");
	sync_dst = make_suid_dst(dir, "user_sync_dst");
	if (dst < 0 || sync_dst < 0 || !is_suid(dst) || !is_suid(sync_dst))
		return 5;
	job = cr_submit_dev(dev, src, 0, dst, 0, SMALL_SIZE, 0);
	if (job < 0)
		return 6;
	if (cr_job_wait(job, &st) || st.state != COPY_RANGE_JOB_DONE ||
	    st.copied != SMALL_SIZE || st.total != SMALL_SIZE)
		return 7;
	close(job);
	if (file_size(dst) != SMALL_SIZE ||
	    pattern_mismatch(dst, 0, SMALL_SIZE, SEED_B, 0) != -1)
		return 8;
	if (copy_range_dev(dev, src, 0, sync_dst, 0, 4096, 0) != 4096)
		return 9;
	if (is_suid(sync_dst))
		return 10;
	if (is_suid(dst))
		return 11;
	/* root's source, readable by all, is a source for nobody too. */
	job = cr_submit_dev(dev, open_at(dir, "src", O_RDONLY), 0, dst, 0,
			    SMALL_SIZE, 0);
	if (job < 0 || cr_job_wait(job, &st) ||
	    st.state != COPY_RANGE_JOB_DONE || st.copied != SMALL_SIZE)
		return 12;
	if (pattern_mismatch(dst, 0, SMALL_SIZE, SEED_A, 0) != -1)
		return 13;
	return 0;
}

TEST_F_TIMEOUT(limits, unprivileged_job_acts_as_submitter, 120)
{
	int root_dst, root_sync, job;

	if (geteuid())
		CR_SKIP_OR_FAIL(return, "dropping to another user needs root");
	ASSERT_EQ(0, chmod(self->e.src_dir, 01777));
	ASSERT_EQ(0, fchmod(self->e.src_fd, 0644));

	cr_expect_steps(nobody_steps, self->e.src_dir, NULL);

	/* The control: root's writes keep the bit, both ways. */
	root_dst = make_suid_dst(self->e.src_dir, "root_dst");
	root_sync = make_suid_dst(self->e.src_dir, "root_sync_dst");
	ASSERT_LE(0, root_dst);
	ASSERT_LE(0, root_sync);
	EXPECT_EQ(4096, copy_range(self->e.src_fd, 0, root_sync, 0, 4096, 0));
	ASSERT_TRUE(is_suid(root_sync));
	job = cr_submit(self->e.src_fd, 0, root_dst, 0, SMALL_SIZE, 0);
	ASSERT_LE(0, job);
	expect_end(_metadata, job, COPY_RANGE_JOB_DONE, SMALL_SIZE, SMALL_SIZE,
		   NULL);
	close(job);
	ASSERT_TRUE(is_suid(root_dst));
	EXPECT_EQ(-1, pattern_mismatch(root_dst, 0, SMALL_SIZE, SEED_A, 0));
	close(root_dst);
	close(root_sync);
}

/* ---- Long jobs: progress, cancel, signals, close, death ---- */

FIXTURE(long_job) {
	/* src: size bytes of SEED_A; dst: size of SEED_B */
	struct cr_env e;
};

FIXTURE_VARIANT(long_job) {
	struct cr_fs fs;
	int64_t size;
};

/*
 * Sizes that keep each job busy for a few seconds under the debug
 * kernel, so that it is caught running, yet keep the test short.
 */
FIXTURE_VARIANT_ADD(long_job, tmpfs) {
	.fs = CR_FS_TMPFS, .size = 64 * MIB + 4097,
};

FIXTURE_VARIANT_ADD(long_job, ext4) {
	.fs = CR_FS_EXT4, .size = 64 * MIB + 4097,
};

FIXTURE_SETUP(long_job)
{
	if (!cr_env_setup_on(_metadata, &self->e, &variant->fs, variant->size,
			     SEED_A))
		return;
	ASSERT_EQ(0, pattern_write(self->e.dst_fd, 0, variant->size, SEED_B,
				   0));
}

FIXTURE_TEARDOWN(long_job)
{
	cr_env_teardown(&self->e);
}

/*
 * Polls @job's status until it has copied at least @bytes (0: until it
 * has started) or has ended.  Returns the last status in @st; false if
 * the job ended first, or the status could not be read, or it took more
 * than JOB_TIMEOUT_S.
 */
static bool wait_copied(int job, uint64_t bytes, struct copy_range_status *st)
{
	double end = now_s() + JOB_TIMEOUT_S;

	while (now_s() < end) {
		if (cr_job_status(job, st))
			return false;
		if (st->state != COPY_RANGE_JOB_RUNNING)
			return false;
		if (st->copied >= bytes && st->copied > 0)
			return true;
		usleep(1000);
	}
	return false;
}

/*
 * The destination, which held SEED_B, now holds SEED_A up to some offset
 * and SEED_B after it, at its old size: it was written in one piece from
 * the start, and nothing else.  Returns that offset.
 */
static int64_t exact_prefix(struct __test_metadata *_metadata, int dst,
			    int64_t size)
{
	int64_t k;

	EXPECT_EQ(size, file_size(dst));
	k = pattern_mismatch(dst, 0, size, SEED_A, 0);
	ASSERT_NE(-2, k);
	if (k == -1)
		return size;
	EXPECT_EQ(-1, pattern_mismatch(dst, k, size - k, SEED_B, k))
		TH_LOG("SEED_A up to %jd, then neither", (intmax_t)k);
	return k;
}

/*
 * STATUS, polled through a long copy: never blocks, 0 <= copied <= total
 * and copied only grows, in several steps; poll(2) says POLLIN only once
 * the job has ended; WAIT's final status has copied == total.
 */
TEST_F_TIMEOUT(long_job, progress_until_done, 150)
{
	const uint64_t size = variant->size;
	struct copy_range_status st;
	uint64_t last = 0, steps = 0, samples = 0, not_ready = 0;
	double slowest = 0, end = now_s() + JOB_TIMEOUT_S;
	int job;

	job = cr_submit(self->e.src_fd, 0, self->e.dst_fd, 0, size, 0);
	ASSERT_LE(0, job);
	for (;;) {
		int revents = poll_in(job, 0);
		double t0 = now_s(), dt;

		ASSERT_LE(0, revents);
		ASSERT_EQ(0, cr_job_status(job, &st));
		dt = now_s() - t0;
		if (dt > slowest)
			slowest = dt;
		samples++;
		ASSERT_TRUE(cr_status_sane(&st)) TH_LOG("%s",
							cr_status_str(&st));
		EXPECT_EQ(size, st.total);
		ASSERT_LE(last, st.copied);
		if (revents & POLLIN) {
			/* Ended before the status was read: it says so. */
			ASSERT_NE(COPY_RANGE_JOB_RUNNING, st.state);
		} else {
			not_ready++;
		}
		if (st.copied > last && st.copied < size)
			steps++;
		last = st.copied;
		if (st.state != COPY_RANGE_JOB_RUNNING)
			break;
		ASSERT_GT(end, now_s()) TH_LOG("still running: %s",
					       cr_status_str(&st));
		usleep(2000);
	}
	TH_LOG("%ju samples, %ju steps, %ju not ready; slowest STATUS %.3f s",
	       (uintmax_t)samples, (uintmax_t)steps, (uintmax_t)not_ready,
	       slowest);
	EXPECT_EQ(COPY_RANGE_JOB_DONE, st.state);
	ASSERT_LE(3ULL, steps) TH_LOG("progress seen in %ju steps only",
				   (uintmax_t)steps);
	ASSERT_LE(1ULL, not_ready);
	/* STATUS does not wait for a chunk. */
	ASSERT_GT(0.5, slowest);
	expect_end(_metadata, job, COPY_RANGE_JOB_DONE, size, size, NULL);
	/* A blocking poll returns at once for an ended job. */
	ASSERT_EQ(POLLIN, poll_in(job, -1) & POLLIN);
	close(job);
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, size, SEED_A, 0));
}

/*
 * CANCEL returns at once; the job stops within a chunk of where it was,
 * CANCELLED, and the destination holds exactly copied bytes of the
 * source, the rest as it was.
 */
TEST_F_TIMEOUT(long_job, cancel_midway_keeps_exact_prefix, 120)
{
	const uint64_t size = variant->size;
	struct copy_range_status st, after;
	double t0, took;
	int64_t k;
	int job;

	job = cr_submit(self->e.src_fd, 0, self->e.dst_fd, 0, size, 0);
	ASSERT_LE(0, job);
	ASSERT_TRUE(wait_copied(job, 2 * CR_CHUNK, &st))
		TH_LOG("%s", cr_status_str(&st));
	t0 = now_s();
	ASSERT_EQ(0, cr_job_cancel(job)) TH_LOG("%s", strerror(errno));
	took = now_s() - t0;
	ASSERT_EQ(0, cr_job_status(job, &after));
	ASSERT_GT(0.5, took) TH_LOG("CANCEL took %.3f s", took);
	expect_end(_metadata, job, COPY_RANGE_JOB_CANCELLED, -1, size, &st);
	TH_LOG("cancelled at %ju, stopped at %ju of %ju",
	       (uintmax_t)after.copied, (uintmax_t)st.copied,
	       (uintmax_t)size);
	ASSERT_LE(after.copied, st.copied);
	ASSERT_GE(after.copied + CR_CHUNK, st.copied);
	ASSERT_GT(size, st.copied);
	close(job);
	k = exact_prefix(_metadata, self->e.dst_fd, size);
	ASSERT_LE(st.copied, (uint64_t)k);
	/* At k the two patterns may agree by chance, a byte or so. */
	ASSERT_GT(st.copied + 64, (uint64_t)k);
}

/* Cancelled before it had a chance to start: same promise. */
TEST_F_TIMEOUT(long_job, cancel_right_after_submit, 120)
{
	const uint64_t size = variant->size;
	struct copy_range_status st, after;
	int64_t k;
	int job;

	job = cr_submit(self->e.src_fd, 0, self->e.dst_fd, 0, size, 0);
	ASSERT_LE(0, job);
	ASSERT_EQ(0, cr_job_cancel(job));
	ASSERT_EQ(0, cr_job_status(job, &after));
	expect_end(_metadata, job, COPY_RANGE_JOB_CANCELLED, -1, size, &st);
	TH_LOG("cancelled at %ju, stopped at %ju", (uintmax_t)after.copied,
	       (uintmax_t)st.copied);
	ASSERT_GE(after.copied + CR_CHUNK, st.copied);
	close(job);
	k = exact_prefix(_metadata, self->e.dst_fd, size);
	ASSERT_LE(st.copied, (uint64_t)k);
	ASSERT_GT(st.copied + 64, (uint64_t)k);
}

static void on_alarm(int sig)
{
	(void)sig;
}

/*
 * A signal (handler without SA_RESTART) interrupts WAIT with EINTR and
 * nothing else: the job goes on, and a second WAIT sees it DONE.
 */
TEST_F_TIMEOUT(long_job, wait_interrupted_by_signal, 120)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	const struct itimerval once = { .it_value = { .tv_usec = 50000 } };
	const uint64_t size = variant->size;
	struct copy_range_status st;
	double t0, took;
	int job, ret, err;

	ASSERT_EQ(0, sigemptyset(&sa.sa_mask));
	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
	job = cr_submit(self->e.src_fd, 0, self->e.dst_fd, 0, size, 0);
	ASSERT_LE(0, job);
	ASSERT_TRUE(wait_copied(job, 0, &st));
	ASSERT_GT(size / 2, st.copied) TH_LOG("the job is too fast to catch");

	t0 = now_s();
	ASSERT_EQ(0, setitimer(ITIMER_REAL, &once, NULL));
	ret = cr_job_wait(job, &st);
	err = errno;
	took = now_s() - t0;
	EXPECT_EQ(-1, ret) TH_LOG("WAIT returned %s after %.3f s",
				  cr_status_str(&st), took);
	ASSERT_EQ(EINTR, err);
	ASSERT_EQ(0, cr_job_status(job, &st));
	ASSERT_TRUE(st.state == COPY_RANGE_JOB_RUNNING ||
		    st.state == COPY_RANGE_JOB_DONE)
		TH_LOG("%s", cr_status_str(&st));
	TH_LOG("EINTR after %.3f s at %s", took,
	       cr_status_str(&st));

	expect_end(_metadata, job, COPY_RANGE_JOB_DONE, size, size, NULL);
	close(job);
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, size, SEED_A, 0));
}

/* Size and modification time, to see that a file has stopped changing. */
struct file_state {
	int64_t size;
	struct timespec mtime;
	blkcnt_t blocks;
};

static int file_state(int fd, struct file_state *fs)
{
	struct stat st;

	if (fstat(fd, &st))
		return -1;
	fs->size = st.st_size;
	fs->mtime = st.st_mtim;
	fs->blocks = st.st_blocks;
	return 0;
}

static bool same_state(const struct file_state *a, const struct file_state *b)
{
	return a->size == b->size && a->blocks == b->blocks &&
	       a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/*
 * Closing the only descriptor of a running job cancels it and returns
 * once the worker has stopped: from then on the destination does not
 * change, and it holds an exact prefix of the source.
 */
TEST_F_TIMEOUT(long_job, close_stops_running_job, 120)
{
	const uint64_t size = variant->size;
	struct file_state s1, s2;
	struct copy_range_status st;
	double t0, took;
	int64_t k, k2;
	int job;

	job = cr_submit(self->e.src_fd, 0, self->e.dst_fd, 0, size, 0);
	ASSERT_LE(0, job);
	ASSERT_TRUE(wait_copied(job, CR_CHUNK, &st))
		TH_LOG("%s", cr_status_str(&st));
	t0 = now_s();
	ASSERT_EQ(0, close(job));
	took = now_s() - t0;
	ASSERT_EQ(0, file_state(self->e.dst_fd, &s1));
	k = exact_prefix(_metadata, self->e.dst_fd, size);
	usleep(300000);
	ASSERT_EQ(0, file_state(self->e.dst_fd, &s2));
	ASSERT_TRUE(same_state(&s1, &s2)) TH_LOG("the destination changed after close()");
	k2 = exact_prefix(_metadata, self->e.dst_fd, size);
	TH_LOG("close took %.3f s; stopped at %jd (last status %ju)", took,
	       (intmax_t)k, (uintmax_t)st.copied);
	ASSERT_EQ(k, k2);
	ASSERT_LE((int64_t)st.copied, k);
	ASSERT_GT((int64_t)size, k) TH_LOG("the job ran to the end");
}

/* The job lives as long as any descriptor of it: closing a dup is no cancel. */
TEST_F_TIMEOUT(long_job, closing_a_duplicate_is_no_cancel, 120)
{
	const uint64_t size = variant->size;
	struct copy_range_status st;
	int job, dup_fd;

	job = cr_submit(self->e.src_fd, 0, self->e.dst_fd, 0, size, 0);
	ASSERT_LE(0, job);
	dup_fd = dup(job);
	ASSERT_LE(0, dup_fd);
	ASSERT_TRUE(wait_copied(job, 0, &st));
	ASSERT_EQ(0, close(job));
	expect_end(_metadata, dup_fd, COPY_RANGE_JOB_DONE, size, size, NULL);
	close(dup_fd);
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, size, SEED_A, 0));
}

/*
 * The submitter dies by SIGKILL in the middle of its job: the job stops
 * with the process (its descriptor is closed on exit), leaving an exact
 * prefix that soon no longer changes.  An exiting task does not wait for
 * the worker (it could not be killed twice), so the chunk in flight may
 * still land after the exit: the destination settles within a few chunks'
 * time, well before the job's end.
 */
TEST_F_TIMEOUT(long_job, killed_submitter_leaves_prefix, 120)
{
	const uint64_t size = variant->size;
	struct file_state s1, s2;
	uint64_t seen = 0;
	int status, pfd[2], i;
	int64_t k, k2;
	pid_t pid;

	ASSERT_EQ(0, pipe2(pfd, O_CLOEXEC));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct copy_range_status st;
		int job;

		close(pfd[0]);
		job = cr_submit(self->e.src_fd, 0, self->e.dst_fd, 0, size, 0);
		if (job < 0 || !wait_copied(job, CR_CHUNK, &st))
			_exit(1);
		if (write(pfd[1], &st.copied, sizeof(st.copied)) !=
		    sizeof(st.copied))
			_exit(2);
		for (;;)
			pause();
	}
	close(pfd[1]);
	ASSERT_EQ((ssize_t)sizeof(seen), read(pfd[0], &seen, sizeof(seen)))
		TH_LOG("the child could not start its job");
	close(pfd[0]);
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status));
	ASSERT_EQ(SIGKILL, WTERMSIG(status));

	/* Settled: the same size and contents twice, 300 ms apart. */
	ASSERT_EQ(0, file_state(self->e.dst_fd, &s1));
	for (i = 0; i < 20; i++) {
		usleep(300000);
		ASSERT_EQ(0, file_state(self->e.dst_fd, &s2));
		if (same_state(&s1, &s2))
			break;
		s1 = s2;
	}
	ASSERT_TRUE(same_state(&s1, &s2))
		TH_LOG("the destination still changed 6 s after the exit");
	k = exact_prefix(_metadata, self->e.dst_fd, size);
	usleep(300000);
	k2 = exact_prefix(_metadata, self->e.dst_fd, size);
	TH_LOG("child saw %ju copied; the destination settled at %jd after %d polls",
	       (uintmax_t)seen, (intmax_t)k, i);
	ASSERT_EQ(k, k2);
	ASSERT_LE((int64_t)seen, k);
	ASSERT_GT((int64_t)size, k) TH_LOG("the job ran to the end");
}

/* ---- Many jobs at once ---- */

#define NR_MANY		16

FIXTURE(many) {
	char dir[PATH_MAX];
	int src[NR_MANY];
	int dst[NR_MANY];
};

FIXTURE_VARIANT(many) {
	struct cr_fs fs;
};

FIXTURE_VARIANT_ADD(many, btrfs) { .fs = CR_FS_BTRFS };
FIXTURE_VARIANT_ADD(many, ext4) { .fs = CR_FS_EXT4 };

/* Sizes from a byte to a few chunks, none alike. */
static uint64_t many_size(unsigned int i)
{
	return 1 + i * (613 * KIB + 4093) % (5 * MIB);
}

static uint64_t many_dst_off(unsigned int i)
{
	return (i % 4) * 4096 + (i % 3);
}

FIXTURE_SETUP(many)
{
	unsigned int i;

	for (i = 0; i < NR_MANY; i++) {
		self->src[i] = -1;
		self->dst[i] = -1;
	}
	if (!cr_need_fs(_metadata, &variant->fs) || !cr_need_dev(_metadata))
		return;
	ASSERT_NE(NULL, make_test_dir(variant->fs.root, self->dir));
	for (i = 0; i < NR_MANY; i++) {
		char name[32];

		snprintf(name, sizeof(name), "src%u", i);
		self->src[i] = open_new(self->dir, name, O_RDWR);
		ASSERT_LE(0, self->src[i]);
		ASSERT_EQ(0, pattern_write(self->src[i], 0, many_size(i),
					   SEED_A + i, 0));
		snprintf(name, sizeof(name), "dst%u", i);
		self->dst[i] = open_new(self->dir, name, O_RDWR);
		ASSERT_LE(0, self->dst[i]);
	}
}

FIXTURE_TEARDOWN(many)
{
	unsigned int i;

	for (i = 0; i < NR_MANY; i++) {
		if (self->src[i] >= 0)
			close(self->src[i]);
		if (self->dst[i] >= 0)
			close(self->dst[i]);
	}
	remove_tree(self->dir);
}

/*
 * 16 jobs in flight, driven by one poll() loop: each reports POLLIN once
 * it has ended, its status then says DONE with everything copied, and
 * every destination is right.
 */
TEST_F_TIMEOUT(many, sixteen_jobs_one_poll_loop, 150)
{
	struct pollfd pfd[NR_MANY];
	unsigned int i, left = NR_MANY, rounds = 0, most_pending = 0;
	double end = now_s() + 2 * JOB_TIMEOUT_S;
	int job_of[NR_MANY];

	for (i = 0; i < NR_MANY; i++) {
		job_of[i] = cr_submit(self->src[i], 0, self->dst[i],
				      many_dst_off(i), many_size(i), 0);
		ASSERT_LE(0, job_of[i]) TH_LOG("job %u: %s", i,
					       strerror(errno));
		pfd[i] = (struct pollfd){ .fd = job_of[i], .events = POLLIN };
	}
	while (left) {
		unsigned int pending = 0;
		int ready = poll(pfd, NR_MANY, 5000);

		ASSERT_LE(0, ready) TH_LOG("poll: %s", strerror(errno));
		ASSERT_GT(end, now_s()) TH_LOG("%u jobs never ended", left);
		rounds++;
		for (i = 0; i < NR_MANY; i++) {
			struct copy_range_status st;

			if (pfd[i].fd < 0)
				continue;
			ASSERT_EQ(0, pfd[i].revents & (POLLERR | POLLNVAL | POLLHUP));
			if (!(pfd[i].revents & POLLIN)) {
				pending++;
				continue;
			}
			ASSERT_EQ((ssize_t)sizeof(st), read(pfd[i].fd, &st,
							    sizeof(st)));
			EXPECT_EQ(COPY_RANGE_JOB_DONE, st.state)
				TH_LOG("job %u: %s", i,
				       cr_status_str(&st));
			EXPECT_EQ(many_size(i), st.total);
			EXPECT_EQ(many_size(i), st.copied);
			ASSERT_EQ(0, close(pfd[i].fd));
			pfd[i].fd = -1;
			left--;
		}
		if (pending > most_pending)
			most_pending = pending;
	}
	TH_LOG("%u poll rounds; up to %u jobs still pending after one",
	       rounds, most_pending);
	for (i = 0; i < NR_MANY; i++) {
		ASSERT_EQ((int64_t)(many_dst_off(i) + many_size(i)),
			  file_size(self->dst[i]));
		EXPECT_EQ(-1, pattern_mismatch(self->dst[i], many_dst_off(i),
					       many_size(i), SEED_A + i, 0))
			TH_LOG("job %u", i);
	}
}

/* ---- The sample that keeps many copies pending ---- */

#define NR_SAMPLE_FILES	40

FIXTURE(sample) {
	char dir[PATH_MAX];
	char src_dir[PATH_MAX];
	char dst_dir[PATH_MAX];
	char prog[PATH_MAX];
};

/* From a byte to a little over 2 MiB, with empty and block-sized files. */
static uint64_t sample_size(unsigned int i)
{
	switch (i % 10) {
	case 0:
		return i * 7;
	case 1:
		return 4096;
	case 2:
		return 4097;
	case 3:
		return 2 * MIB + i;
	default:
		return (i * 104729 + 17) % (1536 * KIB);
	}
}

/* samples/c/pending_copies, from the checkout this test was built in. */
static bool find_sample(char *path)
{
	char exe[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return false;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return false;
	*slash = '\0';
	return snprintf(path, PATH_MAX, "%s/../../../../samples/c/pending_copies",
			exe) < PATH_MAX;
}

FIXTURE_SETUP(sample)
{
	const struct cr_fs btrfs = CR_FS_BTRFS;
	unsigned int i;

	if (!cr_need_fs(_metadata, &btrfs))
		return;
	ASSERT_TRUE(find_sample(self->prog));
	if (access(self->prog, X_OK)) {
		TH_LOG("%s: %s", self->prog, strerror(errno));
		SKIP(return, "samples/c/pending_copies not built (make -C samples/c)");
	}
	if (!cr_need_dev(_metadata))
		return;
	ASSERT_NE(NULL, make_test_dir(FS_BTRFS, self->dir));
	ASSERT_EQ(0, path_join(self->src_dir, self->dir, "from"));
	ASSERT_EQ(0, path_join(self->dst_dir, self->dir, "to"));
	ASSERT_EQ(0, mkdir(self->src_dir, 0755));
	ASSERT_EQ(0, mkdir(self->dst_dir, 0755));
	for (i = 0; i < NR_SAMPLE_FILES; i++) {
		char name[32];
		int fd;

		snprintf(name, sizeof(name), "file%02u", i);
		fd = open_new(self->src_dir, name, O_RDWR);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, pattern_write(fd, 0, sample_size(i), SEED_A + i, 0));
		close(fd);
	}
}

FIXTURE_TEARDOWN(sample)
{
	remove_tree(self->dir);
}

/*
 * Runs the sample with @extra options on @srcs, output to @out in the test
 * directory.  Returns its wait status, or -1.
 */
static int run_sample(const char *prog, const char *const *opts,
		      char *const *srcs, unsigned int nr_srcs,
		      const char *dst_dir, const char *out)
{
	char *argv[NR_SAMPLE_FILES + 16];
	unsigned int n = 0, i;
	int status, fd;
	pid_t pid;

	argv[n++] = (char *)prog;
	for (i = 0; opts[i]; i++)
		argv[n++] = (char *)opts[i];
	for (i = 0; i < nr_srcs; i++)
		argv[n++] = srcs[i];
	argv[n++] = (char *)dst_dir;
	argv[n] = NULL;

	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(125);
		execv(prog, argv);
		_exit(126);
	}
	close(fd);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

/* Prints the sample's output into the test log. */
static void log_output(struct __test_metadata *_metadata, const char *out)
{
	char line[512];
	FILE *f = fopen(out, "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		TH_LOG("pending_copies: %s", line);
	}
	fclose(f);
}

static bool output_has(const char *out, const char *what)
{
	char line[PATH_MAX + 256];
	bool found = false;
	FILE *f = fopen(out, "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, what);
	fclose(f);
	return found;
}

TEST_F_TIMEOUT(sample, pending_copies_copies_a_tree, 150)
{
	static const char *const opts[][4] = {
		{ "-j", "16", NULL },
		{ "-j", "3", "--allow", NULL },
	};
	char *srcs[NR_SAMPLE_FILES], out[PATH_MAX];
	unsigned int i, o;

	ASSERT_EQ(0, path_join(out, self->dir, "output"));
	for (i = 0; i < NR_SAMPLE_FILES; i++) {
		srcs[i] = malloc(PATH_MAX);
		ASSERT_NE(NULL, srcs[i]);
		ASSERT_GT(PATH_MAX, snprintf(srcs[i], PATH_MAX, "%s/file%02u",
					     self->src_dir, i));
	}
	for (o = 0; o < ARRAY_SIZE(opts); o++) {
		int status = run_sample(self->prog, opts[o], srcs,
					NR_SAMPLE_FILES, self->dst_dir, out);

		log_output(_metadata, out);
		ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
		EXPECT_EQ(0, WEXITSTATUS(status));
		for (i = 0; i < NR_SAMPLE_FILES; i++) {
			char name[32];
			int s, d;

			snprintf(name, sizeof(name), "file%02u", i);
			s = open_at(self->src_dir, name, O_RDONLY);
			d = open_at(self->dst_dir, name, O_RDONLY);
			ASSERT_LE(0, s);
			ASSERT_LE(0, d) TH_LOG("%s was not created", name);
			EXPECT_EQ((int64_t)sample_size(i), file_size(d))
				TH_LOG("%s", name);
			EXPECT_EQ(-1, files_mismatch(s, 0, d, 0, sample_size(i)))
				TH_LOG("%s differs", name);
			close(s);
			close(d);
			ASSERT_EQ(0, remove_file(self->dst_dir, name));
		}
	}
	for (i = 0; i < NR_SAMPLE_FILES; i++)
		free(srcs[i]);
}

/*
 * A source that cannot be copied is reported by name and makes the exit
 * status non-zero; the other files are still copied.
 */
TEST_F_TIMEOUT(sample, pending_copies_reports_failures, 120)
{
	static const char *const opts[] = { "-j", "2", NULL };
	char missing[PATH_MAX], out[PATH_MAX], *srcs[5];
	unsigned int i;
	int status;

	ASSERT_EQ(0, path_join(out, self->dir, "output"));
	ASSERT_EQ(0, path_join(missing, self->src_dir, "no-such-file"));
	for (i = 0; i < 4; i++) {
		srcs[i] = malloc(PATH_MAX);
		ASSERT_NE(NULL, srcs[i]);
		ASSERT_GT(PATH_MAX, snprintf(srcs[i], PATH_MAX, "%s/file%02u",
					     self->src_dir, i + 3));
	}
	srcs[4] = srcs[3];
	srcs[3] = srcs[2];
	srcs[2] = missing;

	status = run_sample(self->prog, opts, srcs, 5, self->dst_dir, out);
	log_output(_metadata, out);
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	ASSERT_NE(0, WEXITSTATUS(status));
	ASSERT_TRUE(output_has(out, missing));
	for (i = 0; i < 5; i++) {
		char name[32];
		int s, d;

		if (i == 2)
			continue;
		snprintf(name, sizeof(name), "%s", strrchr(srcs[i], '/') + 1);
		s = open_at(self->src_dir, name, O_RDONLY);
		d = open_at(self->dst_dir, name, O_RDONLY);
		ASSERT_LE(0, s);
		ASSERT_LE(0, d) TH_LOG("%s was not created", name);
		EXPECT_EQ(file_size(s), file_size(d));
		EXPECT_EQ(-1, files_mismatch(s, 0, d, 0, file_size(s)));
		close(s);
		close(d);
	}
	ASSERT_NE(0, access(missing, F_OK));
	for (i = 0; i < 5; i++)
		if (i != 2)
			free(srcs[i]);
}

TEST_HARNESS_MAIN
