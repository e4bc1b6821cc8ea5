// SPDX-License-Identifier: GPL-2.0
/*
 * The io_uring transport: IORING_OP_URING_CMD on /dev/copy_range with
 * COPY_RANGE_URING_CMD_COPY (the argument block in the command area of a
 * 128-byte SQE: an SQE128 ring, or IORING_OP_URING_CMD128 in a mixed one)
 * and COPY_RANGE_URING_CMD_COPYV (a pointer to a vector in the command
 * area of an SQE of any size).  A CQE's res is what the matching ioctl
 * returns, so most tests here make each request both ways, on the same
 * descriptors, and compare the results and the destinations' bytes: the
 * errors (each of which must leave the destination as it was), the
 * counts, the vector's out fields.
 *
 * Then what only the ring has: the SQE's own rules (a COPY needs a
 * 128-byte SQE, an unknown cmd_op is ENOTTY), 256 copies in flight at
 * once, IORING_OP_ASYNC_CANCEL (the copy's CQE says how far it got, and
 * the destination holds exactly that), the ring closed or its process
 * killed with copies in flight (the destinations stop changing), and what
 * a copy inherits from its submitter through the io-wq worker that runs
 * it: RLIMIT_FSIZE and the credentials it writes with (also those of a
 * registered personality).  No wait is unbounded: every one for a
 * completion has a timeout.
 *
 * Sizes are kept small where btrfs is involved, which writes about a MiB
 * a second in the debug VM; the long copies run on xfs and tmpfs.
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
#include <sys/wait.h>
#include <unistd.h>

#include "cr_fixture.h"
#include "cr_uring.h"

#define SEED_A		0x5eed0000041c0a01ULL
#define SEED_B		0x5eed0000041c0b02ULL
/* Small, at an odd size.  Copies of many chunks are the "big" fixture's. */
#define SRC_SIZE	(128 * KIB + 12345)
/* What every destination holds before a call: this many bytes of SEED_B. */
#define DST_FILL	(64 * KIB + 3)

/* The longest any one wait for a completion may take. */
#define RING_TIMEOUT_MS	60000
#define UD_ONE		0x0123456789abcdefULL
#define UD_CANCEL	0xcafe0000cafe0000ULL

/* An errno "the ioctl fails, with whatever errno" in the tables below. */
#define ANY_ERRNO	(-1)

/*
 * The calls, each giving what a CQE's res would: the count, or -errno.
 */

static int64_t ioctl_copy(const struct copy_range_args *a)
{
	int64_t n = copy_range(a->src_fd, a->src_off, a->dst_fd, a->dst_off,
			       a->len, a->flags);

	return n < 0 ? -errno : n;
}

static int64_t ioctl_copyv(struct copy_range_vec *v)
{
	int64_t n = cr_copyv(v);

	return n < 0 ? -errno : n;
}

/*
 * One COPY of @a through @r, with the IOSQE_* @sqe_flags; @cmd128 makes it
 * IORING_OP_URING_CMD128 (for a mixed ring).  The CQE's res goes to @res:
 * 0, or -errno when there was no CQE (-ETIMEDOUT after RING_TIMEOUT_MS).
 * No harness macros, so that a child process may use it.
 */
static int ring_copy_res(struct cr_ring *r, int dev,
			 const struct copy_range_args *a, uint8_t sqe_flags,
			 bool cmd128, int32_t *res)
{
	struct io_uring_sqe *sqe = cr_ring_sqe(r, true);

	if (!sqe)
		return -EBUSY;
	cr_prep_copy_room(sqe, dev, a, UD_ONE, cr_sqe_cmd_room(r, true));
	if (cmd128)
		sqe->opcode = CR_OP_URING_CMD128;
	sqe->flags = sqe_flags;
	return cr_ring_run1(r, UD_ONE, RING_TIMEOUT_MS, res);
}

/* The same for a COPYV of @v, whose out fields are poisoned first. */
static int ring_copyv_res(struct cr_ring *r, int dev, struct copy_range_vec *v,
			  uint8_t sqe_flags, int32_t *res)
{
	struct io_uring_sqe *sqe = cr_ring_sqe(r, false);

	if (!sqe)
		return -EBUSY;
	v->done_segs = 0xdeadbeef;
	v->copied = 0xdeadbeefcafef00dULL;
	cr_prep_copyv(sqe, dev, v, UD_ONE);
	sqe->flags = sqe_flags;
	return cr_ring_run1(r, UD_ONE, RING_TIMEOUT_MS, res);
}

static int64_t ring_copy(struct __test_metadata *_metadata, struct cr_ring *r,
			 const struct copy_range_args *a, uint8_t sqe_flags,
			 bool cmd128)
{
	int32_t res = 0;
	int ret = ring_copy_res(r, cr_dev(), a, sqe_flags, cmd128, &res);

	ASSERT_EQ(0, ret) TH_LOG("no CQE for the COPY: %s", strerror(-ret));
	return res;
}

/* COPYV through @r; a count comes with copied == the count. */
static int64_t ring_copyv(struct __test_metadata *_metadata, struct cr_ring *r,
			  struct copy_range_vec *v)
{
	int32_t res = 0;
	int ret = ring_copyv_res(r, cr_dev(), v, 0, &res);

	ASSERT_EQ(0, ret) TH_LOG("no CQE for the COPYV: %s", strerror(-ret));
	if (res >= 0)
		EXPECT_EQ((uint64_t)res, v->copied)
			TH_LOG("res %d but copied = %ju", res,
			       (uintmax_t)v->copied);
	return res;
}

static const char *res_str(int64_t res)
{
	static char buf[4][64];
	static unsigned int next;
	char *b = buf[next++ % 4];

	if (res < 0)
		snprintf(b, sizeof(buf[0]), "-%s", strerror(-res));
	else
		snprintf(b, sizeof(buf[0]), "%jd", (intmax_t)res);
	return b;
}

/* A ring, or a SKIP (a FAIL in the test VM) when io_uring is not there. */
static bool need_ring(struct __test_metadata *_metadata, struct cr_ring *r,
		      unsigned int entries, unsigned int cq_entries,
		      unsigned int flags)
{
	int ret = cr_ring_init_cq(r, entries, cq_entries, flags);

	if (ret == -ENOSYS || ret == -EPERM)
		CR_SKIP_OR_FAIL(return false, "io_uring_setup: %s",
				strerror(-ret));
	ASSERT_EQ(0, ret) TH_LOG("io_uring_setup(%u, %#x): %s", entries, flags,
				 strerror(-ret));
	return true;
}

/*
 * A fresh file @name in @dir holding DST_FILL bytes of SEED_B.  A new
 * inode rather than the old one truncated: ext4 and xfs write a file
 * that was truncated to 0 back when it is closed, which costs seconds
 * in the debug VM.
 */
static int fresh_dst(struct __test_metadata *_metadata, const char *dir,
		     const char *name)
{
	int fd;

	ASSERT_TRUE(!remove_file(dir, name) || errno == ENOENT);
	fd = open_new(dir, name, O_RDWR);

	ASSERT_LE(0, fd) TH_LOG("%s/%s: %s", dir, name, strerror(errno));
	ASSERT_EQ(0, pattern_write(fd, 0, DST_FILL, SEED_B, 0));
	return fd;
}

/* Size, mode and mtime: any write or size change moves one of them. */
static bool same_stat(int fd, const struct stat *before)
{
	struct stat now;

	return !fstat(fd, &now) && now.st_size == before->st_size &&
	       now.st_mode == before->st_mode &&
	       now.st_mtim.tv_sec == before->st_mtim.tv_sec &&
	       now.st_mtim.tv_nsec == before->st_mtim.tv_nsec;
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

/* ---- Parity with the ioctls, on every test filesystem ---- */

struct parity_env {
	/* src: SRC_SIZE bytes of SEED_A; dst: DST_FILL of SEED_B */
	struct cr_env e;
	struct cr_ring big;	/* IORING_SETUP_SQE128 */
	struct cr_ring small;	/* 64-byte SQEs */
	struct cr_ring mixed;	/* IORING_SETUP_SQE_MIXED */
	/* A directory on another test filesystem, and a file in it. */
	struct cr_fs other;
	char other_dir[PATH_MAX];
	int other_fd;
};

FIXTURE(parity) {
	struct parity_env p;
};

#define CR_FS_FIXTURE parity
#include "cr_fs_variants.h"

static void parity_env_setup(struct __test_metadata *_metadata,
			     struct parity_env *p, const struct cr_fs *fs)
{
	p->other_fd = -1;
	p->big.fd = -1;
	p->small.fd = -1;
	p->mixed.fd = -1;
	if (!cr_env_setup_on(_metadata, &p->e, fs, SRC_SIZE, SEED_A))
		return;
	ASSERT_EQ(0, pattern_write(p->e.dst_fd, 0, DST_FILL, SEED_B, 0));
	if (!need_ring(_metadata, &p->big, 8, 0, IORING_SETUP_SQE128) ||
	    !need_ring(_metadata, &p->small, 8, 0, 0))
		return;
	need_ring(_metadata, &p->mixed, 8, 0, IORING_SETUP_SQE_MIXED);
}

static void parity_env_teardown(struct parity_env *p)
{
	cr_ring_exit(&p->big);
	cr_ring_exit(&p->small);
	cr_ring_exit(&p->mixed);
	if (p->other_fd >= 0)
		close(p->other_fd);
	remove_tree(p->other_dir);
	cr_env_teardown(&p->e);
}

/*
 * The other test filesystem of a test that needs one, with a directory
 * and a file of DST_FILL bytes in it: btrfs and xfs can share, just not
 * with each other.  False if the test was stopped.
 */
static bool need_other(struct __test_metadata *_metadata,
		       struct parity_env *p, const struct cr_fs *fs)
{
	const struct cr_fs btrfs = CR_FS_BTRFS, xfs = CR_FS_XFS;

	p->other = fs->magic == BTRFS_SUPER_MAGIC ? xfs : btrfs;
	if (!cr_need_fs(_metadata, &p->other))
		return false;
	ASSERT_NE(NULL, make_test_dir(p->other.root, p->other_dir));
	p->other_fd = open_new(p->other_dir, "other", O_RDWR);
	ASSERT_LE(0, p->other_fd);
	ASSERT_EQ(0, pattern_write(p->other_fd, 0, DST_FILL, SEED_B, 0));
	return true;
}

FIXTURE_SETUP(parity)
{
	parity_env_setup(_metadata, &self->p, &variant->fs);
}

FIXTURE_TEARDOWN(parity)
{
	parity_env_teardown(&self->p);
}

/* A request that must fail, and the file it must leave alone. */
struct bad {
	const char *what;
	struct copy_range_args a;
	int want;	/* the ioctl's errno, or ANY_ERRNO */
	int watch;
};

#define MAX_BAD		32

static void add_bad(struct bad *t, unsigned int *n, const char *what,
		    struct copy_range_args a, int want, int watch)
{
	if (*n < MAX_BAD)
		t[(*n)++] = (struct bad){
			.what = what, .a = a, .want = want, .watch = watch,
		};
}

/*
 * Makes the request of @b through the ioctl and through every kind of
 * SQE, as COPY and as a COPYV of one segment: each ring's result must be
 * the ioctl's, and no call may change the watched file or the source.
 */
static void expect_same_failure(struct __test_metadata *_metadata,
				struct parity_env *p,
				const struct bad *b)
{
	const struct copy_range_args *a = &b->a;
	struct copy_range_seg seg = {
		.src_off = a->src_off, .dst_off = a->dst_off, .len = a->len,
	};
	struct copy_range_vec v = cr_vec(a->src_fd, a->dst_fd, a->flags, &seg, 1);
	struct {
		const char *how;
		struct cr_ring *r;
		uint8_t sqe_flags;
		bool cmd128;
	} rings[] = {
		{ "SQE128 ring", &p->big, 0, false },
		{ "SQE128 ring, IOSQE_ASYNC", &p->big, IOSQE_ASYNC, false },
		{ "mixed ring, URING_CMD128", &p->mixed, 0, true },
	};
	struct snapshot snap;
	struct stat src_st;
	int64_t want, got;
	unsigned int i;

	ASSERT_EQ(0, snapshot_take(b->watch, &snap));
	ASSERT_EQ(0, fstat(p->e.src_fd, &src_st));

	want = ioctl_copy(a);
	if (b->want == ANY_ERRNO) {
		ASSERT_GT(0, want) TH_LOG("%s: the ioctl copied %jd", b->what,
					  (intmax_t)want);
	} else {
		ASSERT_EQ(-b->want, want) TH_LOG("%s: the ioctl said %s, not %s",
						 b->what, res_str(want),
						 strerror(b->want));
	}
	ASSERT_TRUE(snapshot_same(b->watch, &snap));

	for (i = 0; i < ARRAY_SIZE(rings); i++) {
		got = ring_copy(_metadata, rings[i].r, a, rings[i].sqe_flags,
				rings[i].cmd128);
		EXPECT_EQ(want, got) TH_LOG("%s, COPY, %s: %s, the ioctl %s",
					    b->what, rings[i].how,
					    res_str(got), res_str(want));
		EXPECT_TRUE(snapshot_same(b->watch, &snap))
			TH_LOG("%s, COPY, %s: the file changed", b->what,
			       rings[i].how);
		EXPECT_TRUE(same_stat(p->e.src_fd, &src_st))
			TH_LOG("%s, COPY, %s: the source changed", b->what,
			       rings[i].how);
	}

	want = ioctl_copyv(&v);
	ASSERT_GT(0, want) TH_LOG("%s: COPYV copied %jd", b->what,
				  (intmax_t)want);
	ASSERT_TRUE(snapshot_same(b->watch, &snap));
	for (i = 0; i < 2; i++) {
		struct cr_ring *r = i ? &p->small : &p->big;

		got = ring_copyv(_metadata, r, &v);
		EXPECT_EQ(want, got) TH_LOG("%s, COPYV, %s ring: %s, the ioctl %s",
					    b->what, i ? "64-byte" : "SQE128",
					    res_str(got), res_str(want));
		EXPECT_TRUE(snapshot_same(b->watch, &snap))
			TH_LOG("%s, COPYV: the file changed", b->what);
		EXPECT_TRUE(same_stat(p->e.src_fd, &src_st))
			TH_LOG("%s, COPYV: the source changed", b->what);
	}
	snapshot_free(&snap);
}

/*
 * The errors COPY_RANGE_IOC_COPY gives (copy_errno_test.c provokes each
 * of them), through the ring: the same errno, and nothing written.
 */
TEST_F_TIMEOUT(parity, errors_match_ioctl, 120)
{
	struct parity_env *p = &self->p;
	struct cr_env *e = &p->e;
	const int src = e->src_fd, dst = e->dst_fd;
	const uint64_t neg = (uint64_t)-4096;
	const bool share = variant->fs.can_share;
	int closed, src_path, dst_path, src_wo, dst_ro, dst_app, dir, proc;
	int pfd[2];
	struct bad t[MAX_BAD];
	unsigned int n = 0, i;

	if (!need_other(_metadata, p, &variant->fs))
		return;
	closed = dup(src);
	ASSERT_LE(0, closed);
	ASSERT_EQ(0, close(closed));
	src_path = open_at(e->src_dir, "src", O_PATH);
	dst_path = open_at(e->dst_dir, "dst", O_PATH);
	src_wo = open_at(e->src_dir, "src", O_WRONLY);
	dst_ro = open_at(e->dst_dir, "dst", O_RDONLY);
	dst_app = open_at(e->dst_dir, "dst", O_WRONLY | O_APPEND);
	dir = open(e->src_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	proc = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ASSERT_EQ(0, pipe2(pfd, O_CLOEXEC));
	ASSERT_LE(0, src_path);
	ASSERT_LE(0, dst_path);
	ASSERT_LE(0, src_wo);
	ASSERT_LE(0, dst_ro);
	ASSERT_LE(0, dst_app);
	ASSERT_LE(0, dir);
	ASSERT_LE(0, proc);

	add_bad(t, &n, "src -1", cr_args(-1, 0, dst, 0, 4096, 0), EBADF, dst);
	add_bad(t, &n, "dst -1", cr_args(src, 0, -1, 0, 4096, 0), EBADF, dst);
	add_bad(t, &n, "src closed", cr_args(closed, 0, dst, 0, 4096, 0),
		EBADF, dst);
	add_bad(t, &n, "dst closed", cr_args(src, 0, closed, 0, 4096, 0),
		EBADF, dst);
	add_bad(t, &n, "src O_PATH", cr_args(src_path, 0, dst, 0, 4096, 0),
		EBADF, dst);
	add_bad(t, &n, "dst O_PATH", cr_args(src, 0, dst_path, 0, 4096, 0),
		EBADF, dst);
	add_bad(t, &n, "src O_WRONLY", cr_args(src_wo, 0, dst, 0, 4096, 0),
		EBADF, dst);
	add_bad(t, &n, "dst O_RDONLY", cr_args(src, 0, dst_ro, 0, 4096, 0),
		EBADF, dst);
	add_bad(t, &n, "dst O_APPEND", cr_args(src, 0, dst_app, 0, 4096, 0),
		EBADF, dst);
	add_bad(t, &n, "flags ALLOW | REQUIRE",
		cr_args(src, 0, dst, 0, 4096, COPY_RANGE_FLAGS_ALL), EINVAL,
		dst);
	add_bad(t, &n, "flags bit 2", cr_args(src, 0, dst, 0, 4096, 1ULL << 2),
		EINVAL, dst);
	add_bad(t, &n, "flags ~0", cr_args(src, 0, dst, 0, 4096, ~0ULL),
		EINVAL, dst);
	add_bad(t, &n, "src a directory", cr_args(dir, 0, dst, 0, 4096, 0),
		EISDIR, dst);
	add_bad(t, &n, "dst a directory", cr_args(src, 0, dir, 0, 4096, 0),
		EISDIR, dst);
	add_bad(t, &n, "src a pipe", cr_args(pfd[0], 0, dst, 0, 4096, 0),
		EINVAL, dst);
	add_bad(t, &n, "dst a pipe", cr_args(src, 0, pfd[1], 0, 4096, 0),
		EINVAL, dst);
	add_bad(t, &n, "src in procfs", cr_args(proc, 0, dst, 0, 4096, 0),
		EINVAL, dst);
	add_bad(t, &n, "same file, overlapping",
		cr_args(src, 0, src, 4096, 8192, 0), EINVAL, src);
	add_bad(t, &n, "same file, the same range",
		cr_args(src, 100, src, 100, 10, 0), EINVAL, src);
	add_bad(t, &n, "same file, overlapping, ALLOW",
		cr_args(src, 4096, src, 0, 8192, COPY_RANGE_SHARE_ALLOW), EINVAL,
		src);
	add_bad(t, &n, "src_off + len wraps",
		cr_args(src, 4096, dst, 0, UINT64_MAX - 100, 0), EOVERFLOW, dst);
	add_bad(t, &n, "dst_off + len wraps",
		cr_args(src, 0, dst, 1, UINT64_MAX, 0), EOVERFLOW, dst);
	add_bad(t, &n, "negative src_off", cr_args(src, neg, dst, 0, 10, 0),
		ANY_ERRNO, dst);
	add_bad(t, &n, "negative dst_off", cr_args(src, 0, dst, neg, 10, 0),
		ANY_ERRNO, dst);
	/* An unaligned range cannot be shared, where anything can. */
	add_bad(t, &n, "REQUIRE, unaligned",
		cr_args(src, 1, dst, 1, 3 * 4096, COPY_RANGE_SHARE_REQUIRE),
		share ? EINVAL : EOPNOTSUPP, dst);
	if (!share)
		add_bad(t, &n, "REQUIRE, aligned",
			cr_args(src, 0, dst, 0, 64 * KIB,
				COPY_RANGE_SHARE_REQUIRE), EOPNOTSUPP, dst);
	add_bad(t, &n, "REQUIRE to another filesystem",
		cr_args(src, 0, p->other_fd, 0, 64 * KIB,
			COPY_RANGE_SHARE_REQUIRE),
		share ? EXDEV : ANY_ERRNO, p->other_fd);
	if (variant->fs.magic == EXT4_SUPER_MAGIC)
		add_bad(t, &n, "dst_off past s_maxbytes",
			cr_args(src, 0, dst, 1ULL << 50, 4096, 0), EFBIG, dst);
	ASSERT_GT((unsigned int)MAX_BAD, n);

	for (i = 0; i < n; i++)
		expect_same_failure(_metadata, p, &t[i]);

	close(src_path);
	close(dst_path);
	close(src_wo);
	close(dst_ro);
	close(dst_app);
	close(dir);
	close(proc);
	close(pfd[0]);
	close(pfd[1]);
}

/* A request that copies, or copies nothing, successfully. */
struct good {
	const char *what;
	uint64_t src_off, dst_off, len, flags;
	bool other_fs;		/* the destination on p->other */
};

/*
 * Successful copies: the ring's count is the ioctl's, and the
 * destinations end up byte for byte the same, holding the source's bytes
 * where the count says.
 */
TEST_F_TIMEOUT(parity, counts_and_data_match_ioctl, 120)
{
	struct parity_env *p = &self->p;
	const struct good cases[] = {
		{ "whole file", 0, 0, SRC_SIZE, 0, false },
		{ "whole file, ALLOW", 0, 0, SRC_SIZE, COPY_RANGE_SHARE_ALLOW,
		  false },
		{ "len UINT64_MAX: to EOF", 0, 0, UINT64_MAX, 0, false },
		{ "unaligned, into the middle", 3, 1001, SRC_SIZE - 4100, 0,
		  false },
		{ "crossing the source's EOF", SRC_SIZE - 100, 7, 4096, 0,
		  false },
		{ "past the source's EOF", SRC_SIZE + 1, 0, 1, 0, false },
		{ "len 0", 0, 0, 0, 0, false },
		{ "past the destination's EOF", 12345, MIB + 3, 70000, 0,
		  false },
		{ "to another filesystem, ALLOW", 1, 2, SRC_SIZE,
		  COPY_RANGE_SHARE_ALLOW, true },
		{ "REQUIRE, aligned", 64 * KIB, 128 * KIB, 64 * KIB,
		  COPY_RANGE_SHARE_REQUIRE, false },
	};
	static const char * const names[] = { "by_ioctl", "by_ring" };
	struct cr_env *e = &p->e;
	unsigned int c, i;

	if (!need_other(_metadata, p, &variant->fs))
		return;
	for (c = 0; c < ARRAY_SIZE(cases); c++) {
		const struct good *g = &cases[c];
		const char *dir = g->other_fs ? p->other_dir : e->dst_dir;
		struct copy_range_args a;
		int64_t res[2], size;
		int dst[2];

		if (g->flags == COPY_RANGE_SHARE_REQUIRE && !variant->fs.can_share)
			continue;
		for (i = 0; i < 2; i++)
			dst[i] = fresh_dst(_metadata, dir, names[i]);
		a = cr_args(e->src_fd, g->src_off, dst[0], g->dst_off, g->len,
			    g->flags);
		res[0] = ioctl_copy(&a);
		ASSERT_LE(0, res[0]) TH_LOG("%s: the ioctl said %s", g->what,
					    res_str(res[0]));
		a.dst_fd = dst[1];
		res[1] = ring_copy(_metadata, &p->big, &a, 0, false);
		EXPECT_EQ(res[0], res[1]) TH_LOG("%s: %s, the ioctl %s", g->what,
						 res_str(res[1]),
						 res_str(res[0]));
		size = file_size(dst[0]);
		for (i = 0; i < 2; i++) {
			EXPECT_EQ(size, file_size(dst[i]))
				TH_LOG("%s, %s", g->what, names[i]);
			EXPECT_EQ(-1, files_mismatch(dst[i], 0, dst[0], 0, size))
				TH_LOG("%s, %s: not what the ioctl wrote",
				       g->what, names[i]);
			if (res[i] > 0)
				EXPECT_EQ(-1, pattern_mismatch(dst[i], g->dst_off,
							       res[i], SEED_A,
							       g->src_off))
					TH_LOG("%s, %s", g->what, names[i]);
		}
		for (i = 0; i < 2; i++)
			close(dst[i]);
	}
	EXPECT_EQ(-1, pattern_mismatch(e->src_fd, 0, SRC_SIZE, SEED_A, 0));
}

/*
 * A vector through the ioctl and through both sizes of SQE into three
 * destinations alike: the same count, the same out fields, the same
 * bytes.  When @v0's dst_fd is the fixture's destination, each call gets
 * a fresh one instead.  The ioctl must return @want (a count or -errno)
 * and, for a count, report @want_done segments done.
 */
static void expect_same_vec(struct __test_metadata *_metadata,
			    struct parity_env *p, const char *what,
			    const struct copy_range_vec *v0, int64_t want,
			    uint32_t want_done)
{
	static const char * const names[] = { "by_ioctl", "by_ring", "by_ring64" };
	struct copy_range_vec v[3];
	int64_t res[3], size;
	int dst[3];
	unsigned int i;

	for (i = 0; i < 3; i++) {
		dst[i] = fresh_dst(_metadata, p->e.dst_dir, names[i]);
		v[i] = *v0;
		if (v0->dst_fd == p->e.dst_fd)
			v[i].dst_fd = dst[i];
	}
	res[0] = ioctl_copyv(&v[0]);
	ASSERT_EQ(want, res[0]) TH_LOG("%s: the ioctl said %s", what,
				       res_str(res[0]));
	if (want >= 0)
		ASSERT_EQ(want_done, v[0].done_segs) TH_LOG("%s", what);
	res[1] = ring_copyv(_metadata, &p->big, &v[1]);
	res[2] = ring_copyv(_metadata, &p->small, &v[2]);
	size = file_size(dst[0]);
	for (i = 1; i < 3; i++) {
		EXPECT_EQ(res[0], res[i]) TH_LOG("%s, %s: %s, the ioctl %s",
						 what, names[i], res_str(res[i]),
						 res_str(res[0]));
		if (res[0] >= 0) {
			EXPECT_EQ(v[0].done_segs, v[i].done_segs)
				TH_LOG("%s, %s", what, names[i]);
			EXPECT_EQ(v[0].copied, v[i].copied)
				TH_LOG("%s, %s", what, names[i]);
		}
		/* The in fields are as they were. */
		EXPECT_EQ(v0->nr_segs, v[i].nr_segs);
		EXPECT_EQ(v0->segs, v[i].segs);
		EXPECT_EQ(size, file_size(dst[i])) TH_LOG("%s, %s", what,
							  names[i]);
		EXPECT_EQ(-1, files_mismatch(dst[i], 0, dst[0], 0, size))
			TH_LOG("%s, %s: not what the ioctl wrote", what,
			       names[i]);
	}
	if (res[0] < 0)
		EXPECT_EQ(-1, pattern_mismatch(dst[0], 0, DST_FILL, SEED_B, 0))
			TH_LOG("%s: the ioctl failed, yet wrote", what);
	for (i = 0; i < 3; i++)
		close(dst[i]);
}

#define NR_MIXED	24

/*
 * NR_MIXED segments of odd sizes and places, destinations disjoint.
 * Returns the sum of their lengths.
 */
static uint64_t mixed_segments(struct copy_range_seg *segs)
{
	static const uint64_t lens[] = {
		1, 7, 4095, 4096, 4097, 65536 + 123, 100000, 0, 3, 8192,
	};
	uint64_t cursor = 0, sum = 0;
	unsigned int i;

	for (i = 0; i < NR_MIXED; i++) {
		uint64_t len = lens[i % ARRAY_SIZE(lens)];

		sum += len;
		segs[i].dst_off = cursor + (i % 3) * 1000;
		segs[i].src_off = (i * 1234567ULL) % (SRC_SIZE - len);
		segs[i].len = len;
		cursor = segs[i].dst_off + len;
	}
	/* Not in the order of the destination. */
	for (i = 0; i + 5 < NR_MIXED; i += 5) {
		struct copy_range_seg s = segs[i];

		segs[i] = segs[i + 4];
		segs[i + 4] = s;
	}
	return sum;
}

TEST_F_TIMEOUT(parity, copyv_matches_ioctl, 120)
{
	struct parity_env *p = &self->p;
	const int src = p->e.src_fd, dst = p->e.dst_fd;
	struct copy_range_seg segs[NR_MIXED], many[COPY_RANGE_VEC_MAX_SEGS + 1];
	struct copy_range_seg eof[] = {
		{ .src_off = 0, .dst_off = 10, .len = 10000 },
		{ .src_off = 5000, .dst_off = 20000, .len = 70000 },
		{ .src_off = SRC_SIZE - 100, .dst_off = 100000, .len = 1000 },
		{ .src_off = 7, .dst_off = 200000, .len = 4096 },
	};
	struct copy_range_seg at_eof = { SRC_SIZE, 0, 100 };
	struct copy_range_seg overlap = { 100, 200, 1000 };
	const uint64_t blk = 64 * KIB;
	struct copy_range_seg aligned[] = {
		{ .src_off = blk, .dst_off = 0, .len = blk },
		{ .src_off = 0, .dst_off = 3 * blk, .len = blk },
	};
	struct copy_range_vec v;
	unsigned int i;
	uint64_t sum;

	sum = mixed_segments(segs);
	v = cr_vec(src, dst, 0, segs, NR_MIXED);
	expect_same_vec(_metadata, p, "mixed segments", &v, sum, NR_MIXED);
	v.flags = COPY_RANGE_SHARE_ALLOW;
	expect_same_vec(_metadata, p, "mixed segments, ALLOW", &v, sum,
			NR_MIXED);
	v = cr_vec(src, dst, 0, eof, ARRAY_SIZE(eof));
	expect_same_vec(_metadata, p, "stops at the source's EOF", &v,
			10000 + 70000 + 100, 2);
	v = cr_vec(src, dst, 0, &at_eof, 1);
	expect_same_vec(_metadata, p, "nothing before EOF", &v, 0, 0);
	v = cr_vec(src, dst, 0, NULL, 0);
	expect_same_vec(_metadata, p, "no segments", &v, 0, 0);
	v = cr_vec(src, dst, COPY_RANGE_SHARE_REQUIRE, aligned,
		   ARRAY_SIZE(aligned));
	expect_same_vec(_metadata, p, "REQUIRE, aligned", &v,
			variant->fs.can_share ? (int64_t)(2 * blk) : -EOPNOTSUPP,
			2);

	/* Errors the vector adds. */
	eof[3].dst_off = eof[1].dst_off + 5;
	v = cr_vec(src, dst, 0, eof, ARRAY_SIZE(eof));
	expect_same_vec(_metadata, p, "destinations overlap", &v, -EINVAL, 0);
	for (i = 0; i < ARRAY_SIZE(many); i++)
		many[i] = (struct copy_range_seg){ i * 5, i * 7 + 1, 3 };
	v = cr_vec(src, dst, 0, many, ARRAY_SIZE(many));
	expect_same_vec(_metadata, p, "one segment too many", &v, -EINVAL, 0);
	v = cr_vec(src, dst, 0, NULL, 1);
	expect_same_vec(_metadata, p, "segs NULL", &v, -EFAULT, 0);
	v = cr_vec(src, src, 0, &overlap, 1);
	expect_same_vec(_metadata, p, "same file, overlapping", &v, -EINVAL, 0);
	EXPECT_EQ(SRC_SIZE, file_size(src));
	EXPECT_EQ(-1, pattern_mismatch(src, 0, SRC_SIZE, SEED_A, 0));
}

/*
 * What does not depend on the filesystem, on tmpfs only: the same set-up
 * as the parity tests'.
 */
FIXTURE(rules) {
	struct parity_env p;
};

FIXTURE_SETUP(rules)
{
	const struct cr_fs tmpfs = CR_FS_TMPFS;

	parity_env_setup(_metadata, &self->p, &tmpfs);
}

FIXTURE_TEARDOWN(rules)
{
	parity_env_teardown(&self->p);
}

/*
 * A vector the kernel cannot read, or cannot write the out fields of:
 * the ring says what the ioctl says, and writes what it writes.
 */
TEST_F_TIMEOUT(rules, copyv_bad_pointers_match_ioctl, 120)
{
	struct parity_env *p = &self->p;
	long page = sysconf(_SC_PAGESIZE);
	struct copy_range_seg seg = { .src_off = 5, .dst_off = 3, .len = 5000 };
	static const char * const names[] = {
		"by_ioctl", "by_ring", "by_ring64",
	};
	unsigned char *area;
	unsigned int c, i;

	area = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, area);
	for (c = 0; c < 3; c++) {
		/* Where the vector is: nowhere, unreadable, read-only. */
		struct copy_range_vec *vp = c == 0 ? NULL :
			(struct copy_range_vec *)(area + page);
		int64_t res[3], size;
		int dst[3];

		for (i = 0; i < 3; i++) {
			struct copy_range_vec v;

			dst[i] = fresh_dst(_metadata, p->e.dst_dir, names[i]);
			v = cr_vec(p->e.src_fd, dst[i], 0, &seg, 1);
			ASSERT_EQ(0, mprotect(area + page, page,
					      PROT_READ | PROT_WRITE));
			memcpy(area + page, &v, sizeof(v));
			ASSERT_EQ(0, mprotect(area + page, page,
					      c == 1 ? PROT_NONE : PROT_READ));
			if (i == 0) {
				res[0] = syscall(SYS_ioctl, cr_dev(),
						 COPY_RANGE_IOC_COPYV, vp);
				if (res[0] < 0)
					res[0] = -errno;
			} else {
				struct cr_ring *r = i == 1 ? &p->big :
							     &p->small;
				struct io_uring_sqe *sqe = cr_ring_sqe(r, false);
				int32_t res32 = 0;
				int ret;

				ASSERT_NE(NULL, sqe);
				cr_prep_copyv(sqe, cr_dev(), vp, UD_ONE);
				ret = cr_ring_run1(r, UD_ONE, RING_TIMEOUT_MS,
						   &res32);
				ASSERT_EQ(0, ret);
				res[i] = res32;
			}
		}
		TH_LOG("vector %s: the ioctl said %s",
		       c == 0 ? "at NULL" : c == 1 ? "unreadable" : "read-only",
		       res_str(res[0]));
		if (c < 2)
			EXPECT_EQ(-EFAULT, res[0]);
		size = file_size(dst[0]);
		for (i = 1; i < 3; i++) {
			EXPECT_EQ(res[0], res[i]) TH_LOG("case %u, %s: %s", c,
							 names[i],
							 res_str(res[i]));
			EXPECT_EQ(size, file_size(dst[i]));
			EXPECT_EQ(-1, files_mismatch(dst[i], 0, dst[0], 0, size));
		}
		for (i = 0; i < 3; i++)
			close(dst[i]);
	}
	munmap(area, 2 * page);
}

/*
 * The argument block of a COPY does not fit in a 64-byte SQE: EINVAL,
 * in a plain ring and for IORING_OP_URING_CMD in a mixed one, and nothing
 * copied; the same SQE as IORING_OP_URING_CMD128 in the mixed ring copies.
 * The 16 bytes that do fit are the real ones, the slot after the SQE holds
 * the rest of another valid request, so that reading past the SQE would
 * copy.
 */
TEST_F(rules, copy_needs_a_128_byte_sqe)
{
	struct parity_env *p = &self->p;
	struct copy_range_args a = cr_args(p->e.src_fd, 0, p->e.dst_fd, 0,
					   SRC_SIZE, 0);
	struct snapshot snap;
	unsigned int pass;
	int64_t res;

	ASSERT_EQ(0, snapshot_take(p->e.dst_fd, &snap));
	for (pass = 0; pass < 2; pass++) {
		struct cr_ring *r = pass ? &p->mixed : &p->small;
		struct io_uring_sqe *sqe;
		int32_t res32 = 0;
		int ret;

		/* A fresh ring: this SQE is not in its last slot. */
		ASSERT_EQ(0U, r->sq_local_tail);
		sqe = cr_ring_sqe(r, false);
		ASSERT_NE(NULL, sqe);
		cr_prep_copy_room(sqe, cr_dev(), &a, UD_ONE, CR_SQE_CMD_SMALL);
		/* The next slot, not submitted, holds the rest. */
		memcpy((unsigned char *)sqe + sizeof(*sqe),
		       (const unsigned char *)&a + CR_SQE_CMD_SMALL,
		       sizeof(a) - CR_SQE_CMD_SMALL);
		ret = cr_ring_run1(r, UD_ONE, RING_TIMEOUT_MS, &res32);
		ASSERT_EQ(0, ret) TH_LOG("%s", strerror(-ret));
		EXPECT_EQ(-EINVAL, res32) TH_LOG("%s ring: %s",
						 pass ? "mixed" : "64-byte",
						 res_str(res32));
		EXPECT_TRUE(snapshot_same(p->e.dst_fd, &snap));
	}
	snapshot_free(&snap);

	res = ring_copy(_metadata, &p->mixed, &a, 0, true);
	EXPECT_EQ(SRC_SIZE, res) TH_LOG("URING_CMD128: %s", res_str(res));
	EXPECT_EQ(SRC_SIZE, file_size(p->e.dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(p->e.dst_fd, 0, SRC_SIZE, SEED_A, 0));
}

/*
 * cmd_op values the device does not know are ENOTTY, whatever the
 * command area holds (here a valid COPY): the ioctl numbers, the commands'
 * numbers with another size or direction, the next numbers, nonsense.
 */
TEST_F(rules, unknown_cmd_op_is_enotty)
{
	struct parity_env *p = &self->p;
	const uint32_t ops[] = {
		0, 1, 0xffffffff,
		COPY_RANGE_IOC_COPY, COPY_RANGE_IOC_COPYV, COPY_RANGE_IOC_SUBMIT,
		COPY_RANGE_URING_CMD_COPY + 1,
		_IOWR(COPY_RANGE_IOC_MAGIC, 0x20, struct copy_range_args),
		_IOW(COPY_RANGE_IOC_MAGIC, 0x20, struct copy_range_vec),
		_IOW(COPY_RANGE_IOC_MAGIC, 0x21, struct copy_range_vec),
		_IOWR(COPY_RANGE_IOC_MAGIC, 0x22, struct copy_range_vec),
		_IOW(0xBD, 0x20, struct copy_range_args),
	};
	struct copy_range_args a = cr_args(p->e.src_fd, 0, p->e.dst_fd, 0,
					   4096, 0);
	struct copy_range_vec v;
	struct copy_range_seg seg = { 0, 0, 4096 };
	struct snapshot snap;
	unsigned int i, pass;

	ASSERT_EQ(0, snapshot_take(p->e.dst_fd, &snap));
	for (i = 0; i < ARRAY_SIZE(ops); i++) {
		for (pass = 0; pass < 2; pass++) {
			struct io_uring_sqe *sqe = cr_ring_sqe(&p->big, true);
			int32_t res = 0;
			int ret;

			ASSERT_NE(NULL, sqe);
			if (pass) {
				/* The first 8 bytes: a valid vector. */
				v = cr_vec(p->e.src_fd, p->e.dst_fd, 0,
					   &seg, 1);
				cr_prep_copyv(sqe, cr_dev(), &v, UD_ONE);
			} else {
				cr_prep_copy(sqe, cr_dev(), &a, UD_ONE);
			}
			sqe->cmd_op = ops[i];
			ret = cr_ring_run1(&p->big, UD_ONE, RING_TIMEOUT_MS,
					   &res);
			ASSERT_EQ(0, ret);
			EXPECT_EQ(-ENOTTY, res) TH_LOG("cmd_op %#x: %s", ops[i],
						       res_str(res));
		}
	}
	EXPECT_TRUE(snapshot_same(p->e.dst_fd, &snap));
	snapshot_free(&snap);
}

/*
 * What io_uring itself defines for IORING_OP_URING_CMD: __pad1 must be 0,
 * uring_cmd_flags may only hold IORING_URING_CMD_MASK and MULTISHOT only
 * with a buffer group: EINVAL otherwise, before the device is asked.
 * And the device file must be the request's file: the same COPY on a
 * regular file's descriptor is not the device's.
 */
TEST_F(rules, sqe_fields_io_uring_checks)
{
	struct parity_env *p = &self->p;
	struct copy_range_args a = cr_args(p->e.src_fd, 0, p->e.dst_fd, 0,
					   4096, 0);
	struct snapshot snap;
	unsigned int i;

	ASSERT_EQ(0, snapshot_take(p->e.dst_fd, &snap));
	for (i = 0; i < 4; i++) {
		struct io_uring_sqe *sqe = cr_ring_sqe(&p->big, true);
		int32_t res = 0;
		int ret;

		ASSERT_NE(NULL, sqe);
		cr_prep_copy(sqe, cr_dev(), &a, UD_ONE);
		switch (i) {
		case 0:
			sqe->__pad1 = 1;
			break;
		case 1:
			sqe->uring_cmd_flags = 1U << 7;
			break;
		case 2:
			sqe->uring_cmd_flags = IORING_URING_CMD_MULTISHOT;
			break;
		case 3:
			sqe->fd = p->e.src_fd;
			break;
		}
		ret = cr_ring_run1(&p->big, UD_ONE, RING_TIMEOUT_MS, &res);
		ASSERT_EQ(0, ret);
		EXPECT_GT(0, res) TH_LOG("case %u: %s", i, res_str(res));
		if (i < 3)
			EXPECT_EQ(-EINVAL, res) TH_LOG("case %u: %s", i,
						       res_str(res));
		EXPECT_TRUE(snapshot_same(p->e.dst_fd, &snap));
	}
	snapshot_free(&snap);
	/* The ring still works. */
	EXPECT_EQ(4096, ring_copy(_metadata, &p->big, &a, 0, false));
}

/* ---- Many copies in flight ---- */

/*
 * NR_MANY copies, one for each pair of MANY_FILES sources and MANY_FILES
 * destinations: copy i reads region d = i % MANY_FILES of source
 * s = i / MANY_FILES and writes region s of destination d, where regions
 * are MANY_REGION bytes apart; each copy moves a length of its own, at
 * odd offsets inside its regions, from a source with a seed of its own.
 * (A pair of files for each copy would be 512 files: minutes of btrfs
 * metadata in the debug VM.)  The sources end inside their last region,
 * so that the copies from there cross EOF.
 */
#define MANY_FILES	16
#define NR_MANY		(MANY_FILES * MANY_FILES)
#define MANY_REGION	(8 * KIB)
#define MANY_SRC_SIZE	(MANY_FILES * MANY_REGION - 1000)
/* SQ slots: fewer than the copies, so slots are reused while they run. */
#define MANY_SQ		32
#define SEED_MANY	0x5eed0000041c3000ULL
#define UD_MANY		0x3a3a000000000000ULL

struct many_env {
	char dir[PATH_MAX];
	int src[MANY_FILES];
	int dst[MANY_FILES];
	struct copy_range_args args[NR_MANY];
	struct copy_range_vec vec[NR_MANY];
	struct copy_range_seg segs[NR_MANY][2];
	int64_t want[NR_MANY];
	struct cr_ring r;
};

FIXTURE(many) {
	struct many_env m;
};

#define CR_FS_FIXTURE many
#include "cr_fs_variants.h"

FIXTURE_SETUP(many)
{
	struct many_env *m = &self->m;
	unsigned int i;

	for (i = 0; i < MANY_FILES; i++) {
		m->src[i] = -1;
		m->dst[i] = -1;
	}
	m->r.fd = -1;
	if (!cr_need_fs(_metadata, &variant->fs) || !cr_need_dev(_metadata))
		return;
	ASSERT_NE(NULL, make_test_dir(variant->fs.root, m->dir));
	for (i = 0; i < MANY_FILES; i++) {
		char name[32];

		snprintf(name, sizeof(name), "src%u", i);
		m->src[i] = open_new(m->dir, name, O_RDWR);
		ASSERT_LE(0, m->src[i]);
		ASSERT_EQ(0, pattern_write(m->src[i], 0, MANY_SRC_SIZE,
					   SEED_MANY + i, 0));
		snprintf(name, sizeof(name), "dst%u", i);
		m->dst[i] = open_new(m->dir, name, O_RDWR);
		ASSERT_LE(0, m->dst[i]);
	}
	need_ring(_metadata, &m->r, MANY_SQ, 2 * NR_MANY,
		  IORING_SETUP_SQE128);
}

FIXTURE_TEARDOWN(many)
{
	struct many_env *m = &self->m;
	unsigned int i;

	cr_ring_exit(&m->r);
	for (i = 0; i < MANY_FILES; i++) {
		if (m->src[i] >= 0)
			close(m->src[i]);
		if (m->dst[i] >= 0)
			close(m->dst[i]);
	}
	remove_tree(m->dir);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/*
 * Copy i, one of four kinds: COPY, COPY with ALLOW, a COPYV of two pieces
 * with a gap between them in the destination, and a COPY from the
 * source's EOF (nothing).  Fills in its request and m->want[i].
 */
static void many_request(struct many_env *m, unsigned int i)
{
	const unsigned int s = i / MANY_FILES, d = i % MANY_FILES;
	/* 1 to 8128 bytes, no two alike (6425 is prime to 8128). */
	const uint64_t len = 1 + (i * 6425ULL) % (MANY_REGION - 64);
	uint64_t src_off = d * MANY_REGION + i % 7;
	const uint64_t dst_off = s * MANY_REGION + (i % 5) * 3 + i % 3;
	const uint64_t avail = src_off < MANY_SRC_SIZE ?
			       MANY_SRC_SIZE - src_off : 0;
	struct copy_range_args *a = &m->args[i];
	uint64_t flags = 0, half = len / 2;

	switch (i % 8) {
	case 5:
		if (d == MANY_FILES - 1)
			break;
		m->segs[i][0] = (struct copy_range_seg){ src_off, dst_off, half };
		m->segs[i][1] = (struct copy_range_seg){
			src_off + half, dst_off + half + 7, len - half,
		};
		m->vec[i] = cr_vec(m->src[s], m->dst[d], 0, m->segs[i], 2);
		m->vec[i].done_segs = 0xdeadbeef;
		m->vec[i].copied = 0xdeadbeefcafef00dULL;
		m->want[i] = len;
		return;
	case 7:
		if (d == MANY_FILES - 1)
			break;
		src_off = MANY_SRC_SIZE + i % 7;
		*a = cr_args(m->src[s], src_off, m->dst[d], dst_off, len, 0);
		m->want[i] = 0;
		return;
	case 1:
		flags = COPY_RANGE_SHARE_ALLOW;
		break;
	}
	*a = cr_args(m->src[s], src_off, m->dst[d], dst_off, len, flags);
	m->want[i] = min_u64(len, avail);
}

static bool many_is_vec(unsigned int i)
{
	return i % 8 == 5 && i % MANY_FILES != MANY_FILES - 1;
}

/*
 * Destination d, byte for byte: the pieces its copies wrote, zeros
 * between them, and its size where the last piece ends.
 */
static void check_many_dst(struct __test_metadata *_metadata,
			   struct many_env *m, unsigned int d)
{
	const size_t room = MANY_FILES * MANY_REGION;
	unsigned char *want = calloc(1, room), *got = malloc(room);
	uint64_t end = 0;
	unsigned int s, k;
	ssize_t n;

	ASSERT_TRUE(want && got);
	for (s = 0; s < MANY_FILES; s++) {
		const unsigned int i = s * MANY_FILES + d;
		struct copy_range_seg piece[2];
		unsigned int nr = 1;

		if (many_is_vec(i)) {
			piece[0] = m->segs[i][0];
			piece[1] = m->segs[i][1];
			nr = 2;
		} else {
			piece[0] = (struct copy_range_seg){
				m->args[i].src_off, m->args[i].dst_off, m->want[i],
			};
		}
		for (k = 0; k < nr; k++) {
			if (!piece[k].len)
				continue;
			pattern_fill(want + piece[k].dst_off, piece[k].len,
				     SEED_MANY + s, piece[k].src_off);
			if (piece[k].dst_off + piece[k].len > end)
				end = piece[k].dst_off + piece[k].len;
		}
	}
	EXPECT_EQ((int64_t)end, file_size(m->dst[d])) TH_LOG("destination %u", d);
	n = pread(m->dst[d], got, room, 0);
	ASSERT_EQ((ssize_t)end, n) TH_LOG("destination %u", d);
	for (k = 0; k < end && got[k] == want[k]; k++)
		;
	EXPECT_EQ(end, k) TH_LOG("destination %u differs at %u, in region %u",
				 d, k, k / (unsigned int)MANY_REGION);
	free(want);
	free(got);
}

/*
 * All NR_MANY copies submitted before any is reaped, through an SQ ring
 * of MANY_SQ slots, which are overwritten by the next requests while the
 * earlier ones are still in flight: every CQE comes once, with its
 * request's user_data and count, and every destination holds exactly what
 * its copies wrote.
 */
TEST_F_TIMEOUT(many, copies_in_flight, 150)
{
	struct many_env *m = &self->m;
	static struct io_uring_cqe cqes[NR_MANY + 1];
	bool seen[NR_MANY] = { false };
	unsigned int i, submitted = 0;
	double t0 = now_s();
	int ret, got;

	for (i = 0; i < NR_MANY; i++) {
		struct io_uring_sqe *sqe = cr_ring_sqe(&m->r, true);

		if (!sqe) {
			ret = cr_ring_submit(&m->r);
			ASSERT_LT(0, ret) TH_LOG("submit: %s", strerror(-ret));
			submitted += ret;
			/* What the kernel took, scribbled over. */
			ASSERT_EQ(m->r.sq_local_tail, *m->r.sq_head);
			memset(m->r.sqes, 0xa5,
			       m->r.sq_entries * m->r.sqe_size);
			sqe = cr_ring_sqe(&m->r, true);
			ASSERT_NE(NULL, sqe);
		}
		many_request(m, i);
		if (many_is_vec(i))
			cr_prep_copyv(sqe, cr_dev(), &m->vec[i], UD_MANY | i);
		else
			cr_prep_copy(sqe, cr_dev(), &m->args[i], UD_MANY | i);
	}
	ret = cr_ring_submit(&m->r);
	ASSERT_LE(0, ret) TH_LOG("submit: %s", strerror(-ret));
	submitted += ret;
	ASSERT_EQ((unsigned int)NR_MANY, submitted);

	got = cr_ring_wait(&m->r, cqes, NR_MANY, 120000);
	ASSERT_EQ(NR_MANY, got) TH_LOG("%d of %d CQEs", got, NR_MANY);
	TH_LOG("%d copies in %.2f s", NR_MANY, now_s() - t0);
	/* No more: nothing completes twice. */
	usleep(100000);
	EXPECT_EQ(0U, cr_ring_reap(&m->r, cqes + NR_MANY, 1));

	for (i = 0; i < NR_MANY; i++) {
		uint64_t ud = cqes[i].user_data;
		unsigned int k = ud & 0xffff;

		ASSERT_EQ(UD_MANY, ud & ~0xffffULL) TH_LOG("user_data %#jx",
							   (uintmax_t)ud);
		ASSERT_GT((unsigned int)NR_MANY, k);
		EXPECT_FALSE(seen[k]) TH_LOG("copy %u completed twice", k);
		seen[k] = true;
		EXPECT_EQ(m->want[k], cqes[i].res) TH_LOG("copy %u: %s", k,
							  res_str(cqes[i].res));
		if (many_is_vec(k)) {
			EXPECT_EQ(2U, m->vec[k].done_segs) TH_LOG("copy %u", k);
			EXPECT_EQ((uint64_t)m->want[k], m->vec[k].copied)
				TH_LOG("copy %u", k);
		}
	}
	for (i = 0; i < MANY_FILES; i++)
		check_many_dst(_metadata, m, i);
}

/* ---- Long copies: cancel, the ring closed, the submitter killed ---- */

/*
 * The big source repeats BIG_PERIOD bytes of the pattern, made once, up
 * to BIG_SIZE (cloned where the filesystem can, else written again from
 * memory): a data copy of it (flags 0) takes many seconds in the test VM.
 * The period is no multiple of a chunk, so a chunk in the wrong place
 * shows.  Not on btrfs, where the debug VM copies data at about a MiB a
 * second.
 */
#define BIG_PERIOD	(8 * MIB + 4096)
#define BIG_SIZE	(16 * BIG_PERIOD)
#define SEED_BIG	0x5eed0000041cb16bULL
#define NR_BIG		4
#define UD_BIG		0xb16b16b100000000ULL

/*
 * Like pattern_mismatch(): whether bytes [@off, @off + @len) of @fd hold
 * the big source's bytes from @src_off.
 */
static int64_t big_mismatch_at(int fd, uint64_t off, uint64_t src_off,
			       uint64_t len)
{
	while (len) {
		uint64_t p = src_off % BIG_PERIOD;
		uint64_t n = BIG_PERIOD - p < len ? BIG_PERIOD - p : len;
		int64_t bad = pattern_mismatch(fd, off, n, SEED_BIG, p);

		if (bad != -1)
			return bad;
		off += n;
		src_off += n;
		len -= n;
	}
	return -1;
}

/* The same, from the start of both. */
static int64_t big_mismatch(int fd, uint64_t off, uint64_t len)
{
	return big_mismatch_at(fd, off, off, len);
}

struct big_env {
	char dir[PATH_MAX];
	int src;		/* BIG_SIZE bytes */
	int dst[NR_BIG];	/* empty */
	struct cr_ring r;	/* SQE128 */
};

FIXTURE(big) {
	struct big_env b;
};

FIXTURE_VARIANT(big) {
	struct cr_fs fs;
};

FIXTURE_VARIANT_ADD(big, xfs) { .fs = CR_FS_XFS };
FIXTURE_VARIANT_ADD(big, tmpfs) { .fs = CR_FS_TMPFS };

/* The big source into @fd: 0, or -1 with errno. */
static int write_big(int fd, bool can_clone)
{
	unsigned char *buf = malloc(BIG_PERIOD);
	uint64_t have = BIG_PERIOD;
	int ret = -1;

	if (!buf)
		return -1;
	pattern_fill(buf, BIG_PERIOD, SEED_BIG, 0);
	if (pwrite(fd, buf, BIG_PERIOD, 0) != BIG_PERIOD)
		goto out;
	while (have < BIG_SIZE) {
		if (can_clone) {
			struct file_clone_range fcr = {
				.src_fd = fd, .src_length = have,
				.dest_offset = have,
			};

			if (ioctl(fd, FICLONERANGE, &fcr))
				goto out;
			have *= 2;
		} else {
			if (pwrite(fd, buf, BIG_PERIOD, have) != BIG_PERIOD)
				goto out;
			have += BIG_PERIOD;
		}
	}
	ret = 0;
out:
	free(buf);
	return ret;
}

FIXTURE_SETUP(big)
{
	struct big_env *b = &self->b;
	unsigned int i;

	b->src = -1;
	for (i = 0; i < NR_BIG; i++)
		b->dst[i] = -1;
	b->r.fd = -1;
	if (!cr_need_fs(_metadata, &variant->fs) || !cr_need_dev(_metadata))
		return;
	ASSERT_NE(NULL, make_test_dir(variant->fs.root, b->dir));
	b->src = open_new(b->dir, "src", O_RDWR);
	ASSERT_LE(0, b->src);
	ASSERT_EQ(0, write_big(b->src, variant->fs.can_share))
		TH_LOG("the big source: %s", strerror(errno));
	ASSERT_EQ(BIG_SIZE, file_size(b->src));
	for (i = 0; i < NR_BIG; i++) {
		char name[16];

		snprintf(name, sizeof(name), "dst%u", i);
		b->dst[i] = open_new(b->dir, name, O_RDWR);
		ASSERT_LE(0, b->dst[i]);
	}
	need_ring(_metadata, &b->r, 8, 0, IORING_SETUP_SQE128);
}

FIXTURE_TEARDOWN(big)
{
	struct big_env *b = &self->b;
	unsigned int i;

	cr_ring_exit(&b->r);
	if (b->src >= 0)
		close(b->src);
	for (i = 0; i < NR_BIG; i++)
		if (b->dst[i] >= 0)
			close(b->dst[i]);
	remove_tree(b->dir);
}

/*
 * Polls until @fd holds at least @bytes while a copy runs in @r: true;
 * false if a CQE came first (its res in @res) or after RING_TIMEOUT_MS.
 */
static bool wait_written(struct cr_ring *r, int fd, int64_t bytes,
			 int32_t *res)
{
	double t0 = now_s(), end = t0 + RING_TIMEOUT_MS / 1000.0;
	struct io_uring_cqe cqe;

	*res = INT32_MIN;
	while (now_s() < end) {
		if (cr_ring_reap(r, &cqe, 1)) {
			*res = cqe.res;
			return false;
		}
		if (file_size(fd) >= bytes) {
			fprintf(stderr, "# %jd bytes written after %.3f s\n",
				(intmax_t)file_size(fd), now_s() - t0);
			return true;
		}
		usleep(1000);
	}
	fprintf(stderr, "# only %jd bytes written after %.3f s\n",
		(intmax_t)file_size(fd), now_s() - t0);
	return false;
}

/* Size, blocks, mtime and a checksum of the bytes: whether a file changed. */
struct fstate {
	int64_t size;
	blkcnt_t blocks;
	struct timespec mtime;
	uint64_t sum;
};

static int fstate_take(int fd, struct fstate *s)
{
	static uint64_t buf[PATTERN_BUF / 8];
	struct stat st;
	off_t off = 0;
	ssize_t r;

	if (fstat(fd, &st))
		return -1;
	s->size = st.st_size;
	s->blocks = st.st_blocks;
	s->mtime = st.st_mtim;
	s->sum = 0xcbf29ce484222325ULL;
	while ((r = pread(fd, buf, sizeof(buf), off)) > 0) {
		ssize_t i;

		memset((char *)buf + r, 0, -r & 7);
		for (i = 0; i < (r + 7) / 8; i++)
			s->sum = (s->sum ^ buf[i]) * 0x100000001b3ULL;
		off += r;
	}
	return r < 0 ? -1 : 0;
}

static bool fstate_same(const struct fstate *a, const struct fstate *b)
{
	return a->size == b->size && a->blocks == b->blocks &&
	       a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec && a->sum == b->sum;
}

#define SETTLE_TRIES	20
#define SETTLE_GAP_US	300000

/*
 * Samples the @n files until two samples SETTLE_GAP_US apart agree (at
 * most SETTLE_TRIES times), into @st; then, a second later, checks that
 * they still do.
 */
static void expect_settled(struct __test_metadata *_metadata, const int *fds,
			   unsigned int n, struct fstate *st)
{
	struct fstate now[NR_BIG];
	unsigned int i, tries;
	bool same = false;

	ASSERT_GE((unsigned int)NR_BIG, n);
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, fstate_take(fds[i], &st[i]));
	for (tries = 0; tries < SETTLE_TRIES && !same; tries++) {
		usleep(SETTLE_GAP_US);
		same = true;
		for (i = 0; i < n; i++) {
			ASSERT_EQ(0, fstate_take(fds[i], &now[i]));
			if (!fstate_same(&st[i], &now[i]))
				same = false;
			st[i] = now[i];
		}
	}
	ASSERT_TRUE(same) TH_LOG("the destinations still changed after %.1f s",
				 SETTLE_TRIES * SETTLE_GAP_US / 1e6);
	TH_LOG("settled after %u samples", tries + 1);
	sleep(1);
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, fstate_take(fds[i], &now[i]));
		EXPECT_TRUE(fstate_same(&st[i], &now[i]))
			TH_LOG("destination %u changed again: %jd bytes, then %jd",
			       i, (intmax_t)st[i].size, (intmax_t)now[i].size);
	}
}

/*
 * The copy of the big source into @fd stopped part way: what is there is
 * an exact prefix of the source, of @bytes when that is not -1, short of
 * the end.  Returns its size.
 */
static int64_t expect_prefix(struct __test_metadata *_metadata, int fd,
			     int64_t bytes)
{
	int64_t size = file_size(fd);

	if (bytes != -1)
		EXPECT_EQ(bytes, size) TH_LOG("the count was %jd, the file has %jd",
					      (intmax_t)bytes, (intmax_t)size);
	EXPECT_GT((int64_t)BIG_SIZE, size) TH_LOG("the copy ran to its end");
	EXPECT_EQ(-1, big_mismatch(fd, 0, size)) TH_LOG("%jd bytes",
							(intmax_t)size);
	return size;
}

/*
 * The copy's CQE after a cancel, and how the destination must look: a
 * count N > 0 with the destination exactly N bytes of the source, or
 * -ECANCELED with the destination untouched.  @seen is what the
 * destination held when the cancel was asked for, @at what it held right
 * after: the copy stops at its next chunk.
 */
static void expect_cancelled(struct __test_metadata *_metadata, int dst,
			     int32_t res, int64_t seen, int64_t at)
{
	struct fstate s1, s2;

	TH_LOG("cancelled with %jd bytes there (%jd right after): %s",
	       (intmax_t)seen, (intmax_t)at, res_str(res));
	if (res == -ECANCELED) {
		EXPECT_EQ(0, seen) TH_LOG("-ECANCELED, but the copy had written");
		EXPECT_EQ(0, file_size(dst));
	} else {
		ASSERT_LT(0, res) TH_LOG("%s", res_str(res));
		EXPECT_LE(seen, res);
		EXPECT_GE(at + 2 * CR_CHUNK, res)
			TH_LOG("the copy went on long after the cancel");
		expect_prefix(_metadata, dst, res);
	}
	/* Nothing lands later. */
	ASSERT_EQ(0, fstate_take(dst, &s1));
	usleep(500000);
	ASSERT_EQ(0, fstate_take(dst, &s2));
	EXPECT_TRUE(fstate_same(&s1, &s2)) TH_LOG("the destination changed after the CQE");
}

/*
 * Reaps the copy's and the cancel's CQEs: the copy's res is returned,
 * the cancel's must be 0 (it was still queued) or -EALREADY (running).
 */
static int32_t reap_cancelled(struct __test_metadata *_metadata,
			      struct cr_ring *r, uint64_t copy_ud)
{
	struct io_uring_cqe cqe[2];
	int32_t copy_res = INT32_MIN;
	int got, i;

	got = cr_ring_wait(r, cqe, 2, RING_TIMEOUT_MS);
	ASSERT_EQ(2, got) TH_LOG("%d CQEs: the cancelled copy did not end", got);
	for (i = 0; i < 2; i++) {
		if (cqe[i].user_data == copy_ud) {
			copy_res = cqe[i].res;
			continue;
		}
		ASSERT_EQ(UD_CANCEL, cqe[i].user_data);
		EXPECT_TRUE(cqe[i].res == 0 || cqe[i].res == -EALREADY)
			TH_LOG("ASYNC_CANCEL: %s", res_str(cqe[i].res));
	}
	ASSERT_NE(INT32_MIN, copy_res) TH_LOG("no CQE for the copy");
	return copy_res;
}

static void submit_cancel(struct __test_metadata *_metadata,
			  struct cr_ring *r, uint64_t target)
{
	struct io_uring_sqe *sqe = cr_ring_sqe(r, false);

	ASSERT_NE(NULL, sqe);
	cr_prep_cancel(sqe, target, UD_CANCEL);
	ASSERT_EQ(1, cr_ring_submit(r));
}

static void submit_big_copy(struct __test_metadata *_metadata,
			    struct big_env *b, unsigned int i)
{
	struct copy_range_args a = cr_args(b->src, 0, b->dst[i], 0,
					   BIG_SIZE, 0);
	struct io_uring_sqe *sqe = cr_ring_sqe(&b->r, true);

	ASSERT_NE(NULL, sqe);
	cr_prep_copy(sqe, cr_dev(), &a, UD_BIG + i);
	ASSERT_EQ(1, cr_ring_submit(&b->r));
}

/*
 * Copies of many chunks, not cancelled: a COPY at odd offsets and a COPYV
 * of two segments of several chunks each, through the ioctl and through
 * the ring, give the same counts (all of it) and the same bytes.
 */
TEST_F_TIMEOUT(big, long_copies_match_ioctl, 120)
{
	struct big_env *b = &self->b;
	const uint64_t len = 3 * CR_CHUNK + 12345;
	struct copy_range_seg segs[] = {
		{ .src_off = 5 * MIB + 1, .dst_off = CR_CHUNK + 7, .len = len },
		{ .src_off = 3, .dst_off = 0, .len = CR_CHUNK + 5 },
	};
	struct copy_range_args a;
	struct copy_range_vec v[2];
	int64_t res[2];
	unsigned int i;

	for (i = 0; i < 2; i++) {
		a = cr_args(b->src, 3, b->dst[i], 5, len, 0);
		res[i] = i ? ring_copy(_metadata, &b->r, &a, 0, false) :
			     ioctl_copy(&a);
		EXPECT_EQ((int64_t)len, res[i]) TH_LOG("%s: %s",
						       i ? "ring" : "ioctl",
						       res_str(res[i]));
		EXPECT_EQ((int64_t)(5 + len), file_size(b->dst[i]));
		EXPECT_EQ(-1, big_mismatch_at(b->dst[i], 5, 3, len));
	}
	EXPECT_EQ(-1, files_mismatch(b->dst[1], 0, b->dst[0], 0, 5 + len));

	for (i = 0; i < 2; i++) {
		v[i] = cr_vec(b->src, b->dst[2 + i], 0, segs, ARRAY_SIZE(segs));
		res[i] = i ? ring_copyv(_metadata, &b->r, &v[i]) :
			     ioctl_copyv(&v[i]);
		EXPECT_EQ((int64_t)(segs[0].len + segs[1].len), res[i])
			TH_LOG("COPYV by %s: %s", i ? "ring" : "ioctl",
			       res_str(res[i]));
		EXPECT_EQ(2U, v[i].done_segs);
		EXPECT_EQ(-1, big_mismatch_at(b->dst[2 + i], segs[0].dst_off,
					      segs[0].src_off, segs[0].len));
		EXPECT_EQ(-1, big_mismatch_at(b->dst[2 + i], segs[1].dst_off,
					      segs[1].src_off, segs[1].len));
	}
	EXPECT_EQ(file_size(b->dst[2]), file_size(b->dst[3]));
	EXPECT_EQ(-1, files_mismatch(b->dst[3], 0, b->dst[2], 0,
				     file_size(b->dst[2])));
}

/*
 * IORING_OP_ASYNC_CANCEL of a running data copy: it ends at its next
 * chunk with the count so far, and the destination holds exactly that
 * many bytes of the source.
 */
TEST_F_TIMEOUT(big, cancel_copy_keeps_exact_prefix, 120)
{
	struct big_env *b = &self->b;
	int32_t res;
	int64_t seen, at;

	submit_big_copy(_metadata, b, 0);
	ASSERT_TRUE(wait_written(&b->r, b->dst[0], CR_CHUNK, &res))
		TH_LOG("the copy ended first: %s", res_str(res));
	seen = file_size(b->dst[0]);
	submit_cancel(_metadata, &b->r, UD_BIG);
	at = file_size(b->dst[0]);
	res = reap_cancelled(_metadata, &b->r, UD_BIG);
	expect_cancelled(_metadata, b->dst[0], res, seen, at);
}

/*
 * The cancel in the same submission as the copy: the copy may not have
 * started (-ECANCELED, nothing written) or just have (an exact prefix).
 */
TEST_F_TIMEOUT(big, cancel_right_after_submit, 120)
{
	struct big_env *b = &self->b;
	struct copy_range_args a = cr_args(b->src, 0, b->dst[0], 0,
					   BIG_SIZE, 0);
	struct io_uring_sqe *sqe;
	int32_t res;
	int64_t at;

	sqe = cr_ring_sqe(&b->r, true);
	ASSERT_NE(NULL, sqe);
	cr_prep_copy(sqe, cr_dev(), &a, UD_BIG);
	sqe = cr_ring_sqe(&b->r, false);
	ASSERT_NE(NULL, sqe);
	cr_prep_cancel(sqe, UD_BIG, UD_CANCEL);
	ASSERT_EQ(2, cr_ring_submit(&b->r));
	at = file_size(b->dst[0]);
	res = reap_cancelled(_metadata, &b->r, UD_BIG);
	expect_cancelled(_metadata, b->dst[0], res, 0, at);
}

/*
 * A cancelled COPYV of NR_VSEGS consecutive segments: the count is the
 * bytes copied over all segments, done_segs the segments completed, and
 * the destination holds exactly that much.  Cancelled in the second
 * segment, so that done_segs is not 0.
 */
#define NR_VSEGS	8
#define VSEG		(BIG_SIZE / NR_VSEGS)

TEST_F_TIMEOUT(big, cancel_copyv_keeps_exact_prefix, 120)
{
	struct big_env *b = &self->b;
	struct copy_range_seg segs[NR_VSEGS];
	struct copy_range_vec v;
	struct io_uring_sqe *sqe;
	int64_t seen, at;
	int32_t res;
	unsigned int i;

	for (i = 0; i < NR_VSEGS; i++)
		segs[i] = (struct copy_range_seg){ i * VSEG, i * VSEG, VSEG };
	v = cr_vec(b->src, b->dst[0], 0, segs, NR_VSEGS);
	v.done_segs = 0xdeadbeef;
	v.copied = 0xdeadbeefcafef00dULL;
	sqe = cr_ring_sqe(&b->r, false);
	ASSERT_NE(NULL, sqe);
	cr_prep_copyv(sqe, cr_dev(), &v, UD_BIG);
	ASSERT_EQ(1, cr_ring_submit(&b->r));
	ASSERT_TRUE(wait_written(&b->r, b->dst[0], VSEG + CR_CHUNK, &res))
		TH_LOG("the copy ended first: %s", res_str(res));
	seen = file_size(b->dst[0]);
	submit_cancel(_metadata, &b->r, UD_BIG);
	at = file_size(b->dst[0]);
	res = reap_cancelled(_metadata, &b->r, UD_BIG);
	expect_cancelled(_metadata, b->dst[0], res, seen, at);
	if (res > 0) {
		EXPECT_EQ((uint64_t)res, v.copied);
		EXPECT_EQ((uint32_t)(res / VSEG), v.done_segs)
			TH_LOG("%jd bytes copied", (intmax_t)res);
	}
}

/*
 * In a child: NR_BIG copies of the big source, each into its own
 * destination, through a ring on the child's own descriptor of the
 * device; returns once one of them has written a chunk.  (io-wq starts
 * another worker only when a running one sleeps, so a data copy from the
 * page cache tends to keep the others queued behind it.)  0, or the
 * number of the step that failed.
 */
static int start_big_copies(struct big_env *b, struct cr_ring *r,
			    int *dev)
{
	unsigned int i;
	double end;

	*dev = open(CR_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (*dev < 0)
		return 10;
	if (cr_ring_init(r, 8, IORING_SETUP_SQE128))
		return 11;
	for (i = 0; i < NR_BIG; i++) {
		struct copy_range_args a = cr_args(b->src, 0, b->dst[i],
						   0, BIG_SIZE, 0);
		struct io_uring_sqe *sqe = cr_ring_sqe(r, true);

		if (!sqe)
			return 12;
		cr_prep_copy(sqe, *dev, &a, UD_BIG + i);
	}
	if (cr_ring_submit(r) != NR_BIG)
		return 13;
	end = now_s() + RING_TIMEOUT_MS / 1000.0;
	for (;;) {
		struct io_uring_cqe cqe;

		for (i = 0; i < NR_BIG; i++)
			if (file_size(b->dst[i]) >= CR_CHUNK)
				return 0;
		if (cr_ring_reap(r, &cqe, 1))
			return 14;	/* one ended already */
		if (now_s() > end)
			return 15;
		usleep(1000);
	}
}

/*
 * After the ring went away: the destinations settle, each an exact prefix
 * of the source short of its end, and one copy had got going.
 */
static void expect_stopped(struct __test_metadata *_metadata,
			   struct big_env *b, struct fstate *st)
{
	int64_t most = 0, k;
	unsigned int i;

	expect_settled(_metadata, b->dst, NR_BIG, st);
	for (i = 0; i < NR_BIG; i++) {
		k = expect_prefix(_metadata, b->dst[i], -1);
		TH_LOG("destination %u stopped at %jd", i, (intmax_t)k);
		if (k > most)
			most = k;
	}
	EXPECT_LE(CR_CHUNK, most);
}

/* Reads one byte from @fd within @ms: 1, 0 at EOF, -1 on timeout. */
static int read_byte(int fd, int ms)
{
	char c;

	if (poll_in(fd, ms) <= 0)
		return -1;
	return read(fd, &c, 1) == 1 ? 1 : 0;
}

/* waitpid(@pid) within @ms: its status, or -1 if it did not end. */
static int wait_child(pid_t pid, int ms)
{
	double end = now_s() + ms / 1000.0;
	int status;

	while (now_s() < end) {
		pid_t p = waitpid(pid, &status, WNOHANG);

		if (p == pid)
			return status;
		if (p < 0)
			return -1;
		usleep(10000);
	}
	return -1;
}

/*
 * Closing the ring (munmap and close: the mappings hold the file too) and
 * the device with copies in flight stops them: a child starts NR_BIG
 * copies, closes both once one is running and stays alive while the
 * parent sees the destinations settle, each an exact prefix of the
 * source, short of the end; then the child exits, and nothing changes
 * after that either.
 */
TEST_F_TIMEOUT(big, ring_close_stops_copies, 120)
{
	struct big_env *b = &self->b;
	struct fstate st[NR_BIG], again[NR_BIG];
	int up[2], down[2], status;
	unsigned int i;
	pid_t pid;

	ASSERT_EQ(0, pipe2(up, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(down, O_CLOEXEC));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct cr_ring r;
		int dev, step;

		close(up[0]);
		close(down[1]);
		step = start_big_copies(b, &r, &dev);
		if (step)
			_exit(step);
		cr_ring_exit(&r);
		close(dev);
		if (write(up[1], "c", 1) != 1)
			_exit(20);
		/* Alive until the parent has looked. */
		_exit(read_byte(down[0], 100000) == 1 ? 0 : 21);
	}
	close(up[1]);
	close(down[0]);
	if (read_byte(up[0], 100000) != 1) {
		kill(pid, SIGKILL);
		status = wait_child(pid, 60000);
		ASSERT_TRUE(false) TH_LOG("the child failed: status %#x", status);
	}
	expect_stopped(_metadata, b, st);

	ASSERT_EQ(1, write(down[1], "x", 1));
	status = wait_child(pid, 60000);
	ASSERT_TRUE(status != -1 && WIFEXITED(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(0, WEXITSTATUS(status));
	usleep(500000);
	for (i = 0; i < NR_BIG; i++) {
		ASSERT_EQ(0, fstate_take(b->dst[i], &again[i]));
		EXPECT_TRUE(fstate_same(&st[i], &again[i]))
			TH_LOG("destination %u changed after the child's exit", i);
	}
	close(up[0]);
	close(down[1]);
}

/*
 * The submitter killed with NR_BIG copies in flight, one of them running:
 * once it is reaped, the destinations settle, each an exact prefix of the
 * source, short of the end.
 */
TEST_F_TIMEOUT(big, sigkill_stops_copies, 120)
{
	struct big_env *b = &self->b;
	struct fstate st[NR_BIG];
	int up[2], status;
	pid_t pid;

	ASSERT_EQ(0, pipe2(up, O_CLOEXEC));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct cr_ring r;
		int dev, step;

		close(up[0]);
		step = start_big_copies(b, &r, &dev);
		if (step)
			_exit(step);
		if (write(up[1], "k", 1) != 1)
			_exit(20);
		for (;;)
			pause();
	}
	close(up[1]);
	if (read_byte(up[0], 100000) != 1) {
		kill(pid, SIGKILL);
		status = wait_child(pid, 60000);
		ASSERT_TRUE(false) TH_LOG("the child failed: status %#x", status);
	}
	ASSERT_EQ(0, kill(pid, SIGKILL));
	status = wait_child(pid, 60000);
	ASSERT_NE(-1, status) TH_LOG("the killed child did not exit in 60 s");
	ASSERT_TRUE(WIFSIGNALED(status));
	ASSERT_EQ(SIGKILL, WTERMSIG(status));
	close(up[0]);
	expect_stopped(_metadata, b, st);
}

/* ---- What the worker inherits: RLIMIT_FSIZE, credentials ---- */

#define FSIZE_SRC	(8 * MIB + 4097)
#define FSIZE_LIMIT	(6 * MIB + 12345)

FIXTURE(fsize) {
	/* src: FSIZE_SRC bytes of SEED_A; dst: empty */
	struct cr_env e;
	struct cr_ring r;
};

FIXTURE_VARIANT(fsize) {
	struct cr_fs fs;
};

FIXTURE_VARIANT_ADD(fsize, ext4) { .fs = CR_FS_EXT4 };
FIXTURE_VARIANT_ADD(fsize, tmpfs) { .fs = CR_FS_TMPFS };

FIXTURE_SETUP(fsize)
{
	self->r.fd = -1;
	if (!cr_env_setup_on(_metadata, &self->e, &variant->fs, FSIZE_SRC,
			     SEED_A))
		return;
	need_ring(_metadata, &self->r, 8, 0, IORING_SETUP_SQE128);
}

FIXTURE_TEARDOWN(fsize)
{
	cr_ring_exit(&self->r);
	cr_env_teardown(&self->e);
}

/*
 * RLIMIT_FSIZE, which the worker shares with the process (SIGXFSZ is
 * ignored here): a copy across the limit stops at it, one that starts at
 * or past it is EFBIG; the ring says what the ioctl says and writes what
 * it writes.
 */
TEST_F_TIMEOUT(fsize, rlimit_fsize_matches_ioctl, 120)
{
	const struct good cases[] = {
		{ "across the limit", 0, MIB + 7, FSIZE_SRC, 0, false },
		{ "across the limit, ALLOW", 0, MIB + 7, FSIZE_SRC,
		  COPY_RANGE_SHARE_ALLOW, false },
		{ "ending at the limit", 3, FSIZE_LIMIT - 5000, 5000, 0, false },
		{ "a byte over", 3, FSIZE_LIMIT - 5000, 5001, 0, false },
		{ "at the limit", 0, FSIZE_LIMIT, 4096, 0, false },
		{ "past the limit", 0, FSIZE_LIMIT + 1, 1, 0, false },
		{ "at the limit, len 0", 0, FSIZE_LIMIT, 0, 0, false },
		{ "past the limit, nothing to copy", FSIZE_SRC,
		  FSIZE_LIMIT + 10, 4096, 0, false },
	};
	struct sigaction sa = { .sa_handler = SIG_IGN };
	struct rlimit rl = { .rlim_cur = FSIZE_LIMIT, .rlim_max = RLIM_INFINITY };
	struct copy_range_seg segs[] = {
		{ .src_off = 0, .dst_off = FSIZE_LIMIT - 3 * MIB, .len = MIB },
		{ .src_off = MIB, .dst_off = FSIZE_LIMIT - 1000, .len = 5000 },
		{ .src_off = 0, .dst_off = 0, .len = 4096 },
	};
	struct copy_range_vec v[2];
	int64_t res[2];
	unsigned int c, i;
	int dst[2];

	ASSERT_EQ(0, sigaction(SIGXFSZ, &sa, NULL));
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &rl));
	for (i = 0; i < 2; i++) {
		dst[i] = open_new(self->e.dst_dir, i ? "by_ring" : "by_ioctl",
				  O_RDWR);
		ASSERT_LE(0, dst[i]);
	}
	for (c = 0; c < ARRAY_SIZE(cases); c++) {
		const struct good *g = &cases[c];
		struct copy_range_args a;

		for (i = 0; i < 2; i++) {
			ASSERT_EQ(0, ftruncate(dst[i], 0));
			a = cr_args(self->e.src_fd, g->src_off, dst[i],
				    g->dst_off, g->len, g->flags);
			res[i] = i ? ring_copy(_metadata, &self->r, &a, 0, false) :
				     ioctl_copy(&a);
		}
		TH_LOG("%s: the ioctl said %s", g->what, res_str(res[0]));
		/* What the ioctl must say, for the cases that are sure. */
		if (!g->flags && g->dst_off >= FSIZE_LIMIT && g->len &&
		    g->src_off < FSIZE_SRC)
			ASSERT_EQ(-EFBIG, res[0]);
		if (!g->flags && g->dst_off < FSIZE_LIMIT)
			ASSERT_LE(0, res[0]);
		EXPECT_EQ(res[0], res[1]) TH_LOG("%s: the ring said %s", g->what,
						 res_str(res[1]));
		EXPECT_EQ(file_size(dst[0]), file_size(dst[1]))
			TH_LOG("%s", g->what);
		EXPECT_EQ(-1, files_mismatch(dst[1], 0, dst[0], 0,
					     file_size(dst[0])))
			TH_LOG("%s", g->what);
		EXPECT_GE(FSIZE_LIMIT, file_size(dst[1]));
	}

	/* A vector whose second segment crosses the limit stops in it. */
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, ftruncate(dst[i], 0));
		v[i] = cr_vec(self->e.src_fd, dst[i], 0, segs, ARRAY_SIZE(segs));
	}
	res[0] = ioctl_copyv(&v[0]);
	res[1] = ring_copyv(_metadata, &self->r, &v[1]);
	ASSERT_LE(0, res[0]) TH_LOG("COPYV: %s", res_str(res[0]));
	TH_LOG("COPYV: the ioctl said %s, done_segs %u", res_str(res[0]),
	       v[0].done_segs);
	EXPECT_EQ(res[0], res[1]) TH_LOG("the ring said %s", res_str(res[1]));
	EXPECT_EQ(v[0].done_segs, v[1].done_segs);
	EXPECT_EQ(v[0].copied, v[1].copied);
	EXPECT_EQ(file_size(dst[0]), file_size(dst[1]));
	EXPECT_EQ(-1, files_mismatch(dst[1], 0, dst[0], 0, file_size(dst[0])));
	close(dst[0]);
	close(dst[1]);
}

#define CRED_SIZE	(256 * KIB + 3)

FIXTURE(creds) {
	/* src: CRED_SIZE bytes of SEED_A; dst: empty */
	struct cr_env e;
	struct cr_ring r;
};

FIXTURE_VARIANT(creds) {
	struct cr_fs fs;
};

FIXTURE_VARIANT_ADD(creds, btrfs) { .fs = CR_FS_BTRFS };
FIXTURE_VARIANT_ADD(creds, tmpfs) { .fs = CR_FS_TMPFS };

FIXTURE_SETUP(creds)
{
	self->r.fd = -1;
	if (!cr_env_setup_on(_metadata, &self->e, &variant->fs, CRED_SIZE,
			     SEED_A))
		return;
	need_ring(_metadata, &self->r, 8, 0, IORING_SETUP_SQE128);
}

FIXTURE_TEARDOWN(creds)
{
	cr_ring_exit(&self->r);
	cr_env_teardown(&self->e);
}

/*
 * As nobody, on files of its own in a directory anyone may write to:
 * a COPY and a COPYV through the ring clear the destination's set-user-ID
 * bit, as the ioctl does (the worker writes with the submitter's
 * credentials); a destination opened read-only is EBADF, nobody's own
 * file or root's.  Returns 0, or the number of the step that failed.
 */
static int nobody_steps(const char *dir)
{
	struct copy_range_seg seg = { 0, 0, CRED_SIZE };
	struct copy_range_args a;
	struct copy_range_vec v;
	int dev, src, ring_dst, ringv_dst, ioctl_dst, ro;
	struct cr_ring r;
	int32_t res;
	int ret;

	ret = cr_drop_to_nobody();
	if (ret)
		return ret;
	dev = open(CR_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return 3;
	if (cr_ring_init(&r, 8, IORING_SETUP_SQE128))
		return 4;
	src = open_at(dir, "src", O_RDONLY);	/* root's, 0644 */
	ring_dst = make_suid_dst(dir, "nobody_ring");
	ringv_dst = make_suid_dst(dir, "nobody_ringv");
	ioctl_dst = make_suid_dst(dir, "nobody_ioctl");
	if (src < 0 || ring_dst < 0 || ringv_dst < 0 || ioctl_dst < 0)
		return 5;
	if (!is_suid(ring_dst) || !is_suid(ringv_dst) || !is_suid(ioctl_dst))
		return 6;

	a = cr_args(src, 0, ring_dst, 0, CRED_SIZE, 0);
	if (ring_copy_res(&r, dev, &a, 0, false, &res) || res != CRED_SIZE)
		return 7;
	if (is_suid(ring_dst))
		return 8;
	if (pattern_mismatch(ring_dst, 0, CRED_SIZE, SEED_A, 0) != -1)
		return 9;
	v = cr_vec(src, ringv_dst, 0, &seg, 1);
	if (ring_copyv_res(&r, dev, &v, 0, &res) || res != CRED_SIZE)
		return 10;
	if (is_suid(ringv_dst))
		return 11;
	/* The control: the ioctl clears it too. */
	if (copy_range_dev(dev, src, 0, ioctl_dst, 0, CRED_SIZE, 0) != CRED_SIZE)
		return 12;
	if (is_suid(ioctl_dst))
		return 13;

	ro = open_at(dir, "nobody_ring", O_RDONLY);
	if (ro < 0)
		return 14;
	a = cr_args(src, 0, ro, 0, 4096, 0);
	if (ring_copy_res(&r, dev, &a, 0, false, &res) || res != -EBADF)
		return 15;
	if (copy_range_dev(dev, src, 0, ro, 0, 4096, 0) != -1 || errno != EBADF)
		return 16;
	close(ro);
	/* root's empty destination, which nobody may only read. */
	ro = open_at(dir, "dst", O_RDONLY);
	if (ro < 0)
		return 17;
	a = cr_args(src, 0, ro, 0, 4096, 0);
	if (ring_copy_res(&r, dev, &a, 0, false, &res) || res != -EBADF)
		return 18;
	if (file_size(ro) != 0)
		return 19;
	cr_ring_exit(&r);
	return 0;
}

TEST_F_TIMEOUT(creds, unprivileged_copy_clears_suid_like_ioctl, 120)
{
	int root_ring, root_ioctl;
	struct copy_range_args a;

	if (geteuid())
		CR_SKIP_OR_FAIL(return, "dropping to another user needs root");
	ASSERT_EQ(0, chmod(self->e.src_dir, 01777));
	ASSERT_EQ(0, fchmod(self->e.src_fd, 0644));

	cr_expect_steps(nobody_steps, self->e.src_dir, NULL);

	/* The control: root's writes keep the bit, both ways. */
	root_ring = make_suid_dst(self->e.src_dir, "root_ring");
	root_ioctl = make_suid_dst(self->e.src_dir, "root_ioctl");
	ASSERT_LE(0, root_ring);
	ASSERT_LE(0, root_ioctl);
	a = cr_args(self->e.src_fd, 0, root_ring, 0, CRED_SIZE, 0);
	EXPECT_EQ(CRED_SIZE, ring_copy(_metadata, &self->r, &a, 0, false));
	EXPECT_TRUE(is_suid(root_ring)) TH_LOG("root's copy cleared S_ISUID");
	EXPECT_EQ(-1, pattern_mismatch(root_ring, 0, CRED_SIZE, SEED_A, 0));
	EXPECT_EQ(CRED_SIZE, copy_range(self->e.src_fd, 0, root_ioctl, 0,
					CRED_SIZE, 0));
	EXPECT_TRUE(is_suid(root_ioctl));
	EXPECT_EQ(0, file_size(self->e.dst_fd));
	close(root_ring);
	close(root_ioctl);
}

/*
 * A request with a registered personality writes with that personality's
 * credentials, not the process's: root registers nobody's (effective IDs
 * only, so that it can come back), then copies into two set-user-ID files
 * of its own, with the personality (the bit goes, nobody has no
 * CAP_FSETID) and without (it stays).
 */
static int personality_steps(const char *dir)
{
	int src, with, without, id;
	struct io_uring_sqe *sqe;
	struct copy_range_args a;
	struct cr_ring r;
	int32_t res;

	if (cr_ring_init(&r, 8, IORING_SETUP_SQE128))
		return 1;
	src = open_at(dir, "src", O_RDONLY);
	with = make_suid_dst(dir, "with_personality");
	without = make_suid_dst(dir, "without_personality");
	if (src < 0 || with < 0 || without < 0)
		return 2;
	if (setegid(NOBODY) || seteuid(NOBODY))
		return 3;
	id = cr_io_uring_register(r.fd, IORING_REGISTER_PERSONALITY, NULL, 0);
	if (seteuid(0) || setegid(0))
		return 4;
	if (id < 0)
		return 5;

	a = cr_args(src, 0, with, 0, CRED_SIZE, 0);
	sqe = cr_ring_sqe(&r, true);
	if (!sqe)
		return 6;
	cr_prep_copy(sqe, cr_dev(), &a, UD_ONE);
	sqe->personality = id;
	if (cr_ring_run1(&r, UD_ONE, RING_TIMEOUT_MS, &res) || res != CRED_SIZE)
		return 7;
	if (is_suid(with))
		return 8;
	a = cr_args(src, 0, without, 0, CRED_SIZE, 0);
	if (ring_copy_res(&r, cr_dev(), &a, 0, false, &res) || res != CRED_SIZE)
		return 9;
	if (!is_suid(without))
		return 10;
	if (pattern_mismatch(with, 0, CRED_SIZE, SEED_A, 0) != -1)
		return 11;
	cr_ring_exit(&r);
	return 0;
}

TEST_F_TIMEOUT(creds, personality_is_the_writer, 120)
{
	if (geteuid())
		CR_SKIP_OR_FAIL(return, "changing the effective user needs root");
	cr_expect_steps(personality_steps, self->e.src_dir, NULL);
}

TEST_HARNESS_MAIN
