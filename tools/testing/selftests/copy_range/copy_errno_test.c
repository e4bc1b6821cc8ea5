// SPDX-License-Identifier: GPL-2.0
/*
 * Failures.  The ioctl promises copy_file_range(2)'s errno for the same
 * inputs, so most tests here make both calls on the same descriptors and
 * offsets and compare, rather than hard-coding what the kernel says today;
 * the errno copy_file_range gives is asserted too, so that each test is
 * known to provoke what its name says.  The ioctl runs with flags 0 and with
 * COPY_RANGE_SHARE_ALLOW, which promise the same errors.
 *
 * The documented differences get tests of their own: the sharing flags,
 * copies across filesystems (which succeed where copy_file_range gives
 * EXDEV) and pseudo-file sources (EINVAL, where an old copy_file_range
 * copied zero bytes and called it success).
 *
 * Also here: an unprivileged caller, since every permission check comes
 * from the descriptors passed in.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cr_fixture.h"

#define SEED_A		0x5eed0000000e1101ULL
#define SRC_SIZE	(64 * KIB + 5)

/*
 * What each fixture below sets up is a cr_env: a source holding SRC_SIZE
 * pattern bytes and an empty destination, both O_RDWR, in fresh
 * directories (the same one when both are on one filesystem).  Besides,
 * whatever a test turns on that its teardown must turn off again: an
 * immutable flag, swap, a mount.
 */
struct undo {
	int immutable_fd;
	char swap_path[PATH_MAX];
	bool swapped;
	char mnt[PATH_MAX];
	bool mounted;
};

static void undo_init(struct undo *u)
{
	memset(u, 0, sizeof(*u));
	u->immutable_fd = -1;
}

/* The source and destination of every test here, on @src and @dst. */
static bool env_setup(struct __test_metadata *_metadata, struct cr_env *e,
		      const struct cr_fs *src, const struct cr_fs *dst)
{
	return cr_env_setup(_metadata, e, src, dst, SRC_SIZE, SEED_A);
}

static void env_teardown(struct cr_env *e, struct undo *u)
{
	int flags;

	/* An immutable or active swap file cannot be removed. */
	if (u->immutable_fd >= 0 &&
	    !ioctl(u->immutable_fd, FS_IOC_GETFLAGS, &flags)) {
		flags &= ~FS_IMMUTABLE_FL;
		ioctl(u->immutable_fd, FS_IOC_SETFLAGS, &flags);
	}
	if (u->immutable_fd >= 0)
		close(u->immutable_fd);
	if (u->swapped)
		swapoff(u->swap_path);
	cr_env_teardown(e);
	if (u->mounted) {
		umount2(u->mnt, MNT_DETACH);
		rmdir(u->mnt);
	}
}

/*
 * copy_file_range, then the ioctl with flags 0 and with ALLOW, on the same
 * inputs, each result with the errno it left.
 */
#define N_IOCTL 2
static const uint64_t parity_flags[N_IOCTL] = { 0, COPY_RANGE_SHARE_ALLOW };

struct parity {
	int64_t cfr_ret;
	int cfr_errno;
	int64_t ret[N_IOCTL];
	int err[N_IOCTL];
	/* An ioctl moved a file position (-1 for what cannot seek). */
	bool moved;
};

static struct parity parity(int src_fd, uint64_t src_off, int dst_fd,
			    uint64_t dst_off, uint64_t len)
{
	struct parity p = {};
	int64_t src_pos, dst_pos;
	int i;

	errno = 0;
	p.cfr_ret = cfr(src_fd, src_off, dst_fd, dst_off, len);
	p.cfr_errno = errno;
	src_pos = file_pos(src_fd);
	dst_pos = file_pos(dst_fd);
	for (i = 0; i < N_IOCTL; i++) {
		errno = 0;
		p.ret[i] = copy_range(src_fd, src_off, dst_fd, dst_off, len,
				      parity_flags[i]);
		p.err[i] = errno;
		if (file_pos(src_fd) != src_pos || file_pos(dst_fd) != dst_pos)
			p.moved = true;
	}
	return p;
}

/*
 * The macros below take a struct parity by value, once, into __p: passing
 * parity(...) straight in must not make the calls again for each check.
 * What copy_file_range does is the precondition (ASSERT), that each ioctl
 * does the same is the property under test (EXPECT).
 */

/* copy_file_range fails with @want, and so does every ioctl. */
#define EXPECT_BOTH_FAIL(want, p) do { \
	const struct parity __p = (p); \
	int __i; \
	ASSERT_EQ(-1, __p.cfr_ret) \
		TH_LOG("copy_file_range returned %jd", (intmax_t)__p.cfr_ret); \
	ASSERT_EQ(want, __p.cfr_errno) \
		TH_LOG("copy_file_range: %s", strerror(__p.cfr_errno)); \
	for (__i = 0; __i < N_IOCTL; __i++) { \
		EXPECT_EQ(-1, __p.ret[__i]) \
			TH_LOG("flags %ju: returned %jd", \
			       (uintmax_t)parity_flags[__i], \
			       (intmax_t)__p.ret[__i]); \
		EXPECT_EQ(__p.cfr_errno, __p.err[__i]) \
			TH_LOG("flags %ju: %s, copy_file_range: %s", \
			       (uintmax_t)parity_flags[__i], \
			       strerror(__p.err[__i]), \
			       strerror(__p.cfr_errno)); \
	} \
	EXPECT_FALSE(__p.moved) TH_LOG("a file position moved"); \
} while (0)

/* copy_file_range returns @want, and so does every ioctl. */
#define EXPECT_BOTH_RETURN(want, p) do { \
	const struct parity __p = (p); \
	int __i; \
	ASSERT_EQ(want, __p.cfr_ret) \
		TH_LOG("copy_file_range: %jd, %s", (intmax_t)__p.cfr_ret, \
		       strerror(__p.cfr_errno)); \
	for (__i = 0; __i < N_IOCTL; __i++) { \
		EXPECT_EQ(__p.cfr_ret, __p.ret[__i]) \
			TH_LOG("flags %ju: %jd, %s", \
			       (uintmax_t)parity_flags[__i], \
			       (intmax_t)__p.ret[__i], strerror(__p.err[__i])); \
	} \
	EXPECT_FALSE(__p.moved) TH_LOG("a file position moved"); \
} while (0)

/* Whatever copy_file_range does, every ioctl does the same. */
#define EXPECT_SAME_AS_CFR(p) do { \
	const struct parity __p = (p); \
	int __i; \
	TH_LOG("copy_file_range: %jd, %s", (intmax_t)__p.cfr_ret, \
	       __p.cfr_ret < 0 ? strerror(__p.cfr_errno) : "ok"); \
	for (__i = 0; __i < N_IOCTL; __i++) { \
		EXPECT_EQ(__p.cfr_ret, __p.ret[__i]) \
			TH_LOG("flags %ju: %jd, %s", \
			       (uintmax_t)parity_flags[__i], \
			       (intmax_t)__p.ret[__i], strerror(__p.err[__i])); \
		if (__p.cfr_ret < 0) { \
			EXPECT_EQ(__p.cfr_errno, __p.err[__i]); \
		} \
	} \
	EXPECT_FALSE(__p.moved) TH_LOG("a file position moved"); \
} while (0)

/* ---- The argument block itself ---- */

/* An argument pointer the kernel cannot read is EFAULT, like any ioctl's. */
TEST(efault_bad_args_pointer)
{
	long page = sysconf(_SC_PAGESIZE);
	void *none;
	int dev;

	if (!cr_need_dev(_metadata))
		return;
	dev = cr_dev();
	ASSERT_EQ(-1, syscall(SYS_ioctl, dev, COPY_RANGE_IOC_COPY, NULL));
	EXPECT_EQ(EFAULT, errno);

	none = mmap(NULL, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, none);
	ASSERT_EQ(-1, syscall(SYS_ioctl, dev, COPY_RANGE_IOC_COPY, none));
	EXPECT_EQ(EFAULT, errno);
	/* The last bytes of the block run into the inaccessible page. */
	ASSERT_EQ(0, munmap(none, page));
	none = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, none);
	ASSERT_EQ(0, mprotect((char *)none + page, page, PROT_NONE));
	ASSERT_EQ(-1, syscall(SYS_ioctl, dev, COPY_RANGE_IOC_COPY,
			      (char *)none + page - 8));
	EXPECT_EQ(EFAULT, errno);
	ASSERT_EQ(0, munmap(none, 2 * page));
}

/* ---- Every test filesystem ---- */

FIXTURE(same_fs) {
	struct cr_env e;
	struct undo u;
};

#define CR_FS_FIXTURE same_fs
#include "cr_fs_variants.h"

FIXTURE_SETUP(same_fs)
{
	undo_init(&self->u);
	env_setup(_metadata, &self->e, &variant->fs, &variant->fs);
}

FIXTURE_TEARDOWN(same_fs)
{
	env_teardown(&self->e, &self->u);
}

TEST_F(same_fs, ebadf_not_an_open_fd)
{
	struct cr_env *e = &self->e;
	int closed, opath;

	EXPECT_BOTH_FAIL(EBADF, parity(-1, 0, e->dst_fd, 0, 4096));
	EXPECT_BOTH_FAIL(EBADF, parity(e->src_fd, 0, -1, 0, 4096));

	closed = dup(e->src_fd);
	ASSERT_LE(0, closed);
	ASSERT_EQ(0, close(closed));
	EXPECT_BOTH_FAIL(EBADF, parity(closed, 0, e->dst_fd, 0, 4096));
	EXPECT_BOTH_FAIL(EBADF, parity(e->src_fd, 0, closed, 0, 4096));

	/* O_PATH descriptors name a file but allow no I/O. */
	opath = open_at(e->src_dir, "src", O_PATH);
	ASSERT_LE(0, opath);
	EXPECT_BOTH_FAIL(EBADF, parity(opath, 0, e->dst_fd, 0, 4096));
	close(opath);
	opath = open_at(e->dst_dir, "dst", O_PATH);
	ASSERT_LE(0, opath);
	EXPECT_BOTH_FAIL(EBADF, parity(e->src_fd, 0, opath, 0, 4096));
	close(opath);
	EXPECT_EQ(0, file_size(e->dst_fd));
}

TEST_F(same_fs, ebadf_src_write_only)
{
	struct cr_env *e = &self->e;
	int wo = open_at(e->src_dir, "src", O_WRONLY);

	ASSERT_LE(0, wo);
	EXPECT_BOTH_FAIL(EBADF, parity(wo, 0, e->dst_fd, 0, 4096));
	close(wo);
	EXPECT_EQ(0, file_size(e->dst_fd));
}

TEST_F(same_fs, ebadf_dst_read_only)
{
	struct cr_env *e = &self->e;
	int ro = open_at(e->dst_dir, "dst", O_RDONLY);

	ASSERT_LE(0, ro);
	EXPECT_BOTH_FAIL(EBADF, parity(e->src_fd, 0, ro, 0, 4096));
	close(ro);
	EXPECT_EQ(0, file_size(e->dst_fd));
}

/* O_APPEND would make the destination offset meaningless. */
TEST_F(same_fs, ebadf_dst_append)
{
	struct cr_env *e = &self->e;
	int app = open_at(e->dst_dir, "dst", O_WRONLY | O_APPEND);

	ASSERT_LE(0, app);
	EXPECT_BOTH_FAIL(EBADF, parity(e->src_fd, 0, app, 0, 4096));
	close(app);
	EXPECT_EQ(0, file_size(e->dst_fd));
}

TEST_F(same_fs, einval_not_a_regular_file)
{
	struct cr_env *e = &self->e;
	int pfd[2], sfd[2], null_r, null_w;

	ASSERT_EQ(0, pipe2(pfd, O_CLOEXEC));
	EXPECT_BOTH_FAIL(EINVAL, parity(pfd[0], 0, e->dst_fd, 0, 4096));
	EXPECT_BOTH_FAIL(EINVAL, parity(e->src_fd, 0, pfd[1], 0, 4096));
	close(pfd[0]);
	close(pfd[1]);

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sfd));
	EXPECT_BOTH_FAIL(EINVAL, parity(sfd[0], 0, e->dst_fd, 0, 4096));
	EXPECT_BOTH_FAIL(EINVAL, parity(e->src_fd, 0, sfd[1], 0, 4096));
	close(sfd[0]);
	close(sfd[1]);

	null_r = open("/dev/null", O_RDONLY | O_CLOEXEC);
	null_w = open("/dev/null", O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, null_r);
	ASSERT_LE(0, null_w);
	EXPECT_BOTH_FAIL(EINVAL, parity(null_r, 0, e->dst_fd, 0, 4096));
	EXPECT_BOTH_FAIL(EINVAL, parity(e->src_fd, 0, null_w, 0, 4096));
	close(null_r);
	close(null_w);
	EXPECT_EQ(0, file_size(e->dst_fd));
}

/* A directory is EISDIR on either side, before any check on its mode. */
TEST_F(same_fs, eisdir)
{
	struct cr_env *e = &self->e;
	int dir = open(e->src_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	ASSERT_LE(0, dir);
	EXPECT_BOTH_FAIL(EISDIR, parity(dir, 0, e->dst_fd, 0, 4096));
	EXPECT_BOTH_FAIL(EISDIR, parity(e->src_fd, 0, dir, 0, 4096));
	close(dir);
}

/*
 * Overlap within one file is judged on the range after clamping to the
 * source's EOF, so the last two cases are not errors.
 */
TEST_F(same_fs, einval_same_file_overlap)
{
	struct cr_env *e = &self->e;
	int fd = e->src_fd;
	struct snapshot before;
	int i;

	ASSERT_EQ(0, snapshot_take(fd, &before));
	EXPECT_BOTH_FAIL(EINVAL, parity(fd, 0, fd, 4096, 8192));
	EXPECT_BOTH_FAIL(EINVAL, parity(fd, 4096, fd, 0, 8192));
	EXPECT_BOTH_FAIL(EINVAL, parity(fd, 100, fd, 100, 10));
	EXPECT_BOTH_FAIL(EINVAL, parity(fd, 0, fd, 1, SRC_SIZE));
	EXPECT_BOTH_FAIL(EINVAL, parity(fd, SRC_SIZE - 5, fd, SRC_SIZE - 3, 100));
	EXPECT_TRUE(snapshot_same(fd, &before));
	snapshot_free(&before);

	/* Nothing left to copy at EOF, so nothing overlaps. */
	EXPECT_BOTH_RETURN(0, parity(fd, SRC_SIZE, fd, SRC_SIZE - 10, 100));
	/*
	 * Clamped to [SRC_SIZE - 100, SRC_SIZE): disjoint from the target.
	 * The copy grows the file, so each call gets it back as it was.
	 */
	ASSERT_EQ(100, cfr(fd, SRC_SIZE - 100, fd, SRC_SIZE, 4096));
	for (i = 0; i < N_IOCTL; i++) {
		ASSERT_EQ(0, ftruncate(fd, SRC_SIZE));
		EXPECT_EQ(100, copy_range(fd, SRC_SIZE - 100, fd, SRC_SIZE, 4096,
					  parity_flags[i]))
			TH_LOG("flags %ju: %s", (uintmax_t)parity_flags[i],
			       strerror(errno));
		EXPECT_EQ(SRC_SIZE + 100, file_size(fd));
		EXPECT_EQ(-1, pattern_mismatch(fd, SRC_SIZE, 100, SEED_A,
					       SRC_SIZE - 100));
	}
}

/*
 * Offsets are loff_t: a u64 above INT64_MAX is negative.  Whatever
 * copy_file_range makes of each case, the ioctl must agree.
 */
TEST_F(same_fs, negative_offsets_match_copy_file_range)
{
	struct cr_env *e = &self->e;
	const uint64_t neg = (uint64_t)-4096;
	struct parity p;

	p = parity(e->src_fd, neg, e->dst_fd, 0, 10);
	ASSERT_EQ(-1, p.cfr_ret);
	EXPECT_SAME_AS_CFR(p);
	p = parity(e->src_fd, 0, e->dst_fd, neg, 10);
	ASSERT_EQ(-1, p.cfr_ret);
	EXPECT_SAME_AS_CFR(p);
	p = parity(e->src_fd, neg, e->dst_fd, 0, 0);
	EXPECT_SAME_AS_CFR(p);
	p = parity(e->src_fd, 1ULL << 63, e->dst_fd, 0, 10);
	EXPECT_SAME_AS_CFR(p);
	p = parity(e->src_fd, 0, e->dst_fd, 1ULL << 63, 10);
	EXPECT_SAME_AS_CFR(p);
	/* Negative and wrapping: which check wins is copy_file_range's call. */
	p = parity(e->src_fd, neg, e->dst_fd, 0, 8192);
	EXPECT_SAME_AS_CFR(p);
	EXPECT_EQ(0, file_size(e->dst_fd));
}

/* offset + len wrapping around 2^64, on either side. */
TEST_F(same_fs, eoverflow)
{
	struct cr_env *e = &self->e;

	EXPECT_BOTH_FAIL(EOVERFLOW, parity(e->src_fd, 4096, e->dst_fd, 0,
					   UINT64_MAX - 100));
	EXPECT_BOTH_FAIL(EOVERFLOW, parity(e->src_fd, 1, e->dst_fd, 0,
					   UINT64_MAX));
	EXPECT_BOTH_FAIL(EOVERFLOW, parity(e->src_fd, 0, e->dst_fd, 1,
					   UINT64_MAX));
	EXPECT_EQ(0, file_size(e->dst_fd));
}

/* Short counts and zero counts are the same as copy_file_range's too. */
TEST_F(same_fs, counts_match_copy_file_range)
{
	struct cr_env *e = &self->e;

	EXPECT_BOTH_RETURN(0, parity(e->src_fd, 0, e->dst_fd, 0, 0));
	EXPECT_BOTH_RETURN(0, parity(e->src_fd, SRC_SIZE, e->dst_fd, 0, 4096));
	EXPECT_BOTH_RETURN(0, parity(e->src_fd, SRC_SIZE + 1, e->dst_fd, 0, 1));
	EXPECT_EQ(0, file_size(e->dst_fd));
	EXPECT_BOTH_RETURN(100, parity(e->src_fd, SRC_SIZE - 100, e->dst_fd, 0,
				       4096));
	/* No wrap, so the largest length just means "to EOF". */
	EXPECT_BOTH_RETURN(SRC_SIZE, parity(e->src_fd, 0, e->dst_fd, 0,
					    UINT64_MAX));
	EXPECT_EQ(SRC_SIZE, file_size(e->dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(e->dst_fd, 0, SRC_SIZE, SEED_A, 0));
}

/*
 * An immutable destination, made so after it was opened for writing, which
 * is the only way to hold a writable descriptor to one.
 */
TEST_F(same_fs, eperm_immutable_dst)
{
	struct cr_env *e = &self->e;
	int flags;

	if (geteuid())
		CR_SKIP_OR_FAIL(return, "setting FS_IMMUTABLE_FL needs root");
	ASSERT_EQ(0, ioctl(e->dst_fd, FS_IOC_GETFLAGS, &flags));
	flags |= FS_IMMUTABLE_FL;
	self->u.immutable_fd = dup(e->dst_fd);
	ASSERT_LE(0, self->u.immutable_fd);
	ASSERT_EQ(0, ioctl(e->dst_fd, FS_IOC_SETFLAGS, &flags))
		TH_LOG("FS_IOC_SETFLAGS: %s", strerror(errno));

	EXPECT_BOTH_FAIL(EPERM, parity(e->src_fd, 0, e->dst_fd, 0, 4096));
	EXPECT_EQ(0, file_size(e->dst_fd));
}

/* volatile sig_atomic_t: what C promises a signal handler may write. */
static volatile sig_atomic_t xfsz_count;

static void count_xfsz(int sig)
{
	(void)sig;
	xfsz_count++;
}

/*
 * RLIMIT_FSIZE: a write that starts at or past the limit is EFBIG and
 * raises SIGXFSZ (counted here, so that it does not kill the test), and
 * one that straddles it is cut short at the limit without a signal.
 */
TEST_F(same_fs, efbig_rlimit_fsize)
{
	struct cr_env *e = &self->e;
	struct rlimit rl = { .rlim_cur = MIB, .rlim_max = RLIM_INFINITY };
	struct sigaction sa = { .sa_handler = count_xfsz };
	const uint64_t past[] = { MIB, MIB + 1, 2 * MIB };
	unsigned int i;

	ASSERT_EQ(0, sigaction(SIGXFSZ, &sa, NULL));
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &rl));

	for (i = 0; i < ARRAY_SIZE(past); i++) {
		xfsz_count = 0;
		EXPECT_BOTH_FAIL(EFBIG, parity(e->src_fd, 0, e->dst_fd, past[i],
					       4096));
		EXPECT_EQ(1 + N_IOCTL, xfsz_count)
			TH_LOG("every call must raise SIGXFSZ");
	}
	EXPECT_EQ(0, file_size(e->dst_fd));

	xfsz_count = 0;
	EXPECT_BOTH_RETURN(100, parity(e->src_fd, 0, e->dst_fd, MIB - 100,
				       4096));
	EXPECT_EQ(0, xfsz_count);
	EXPECT_EQ((int64_t)MIB, file_size(e->dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(e->dst_fd, MIB - 100, 100, SEED_A, 0));

	/*
	 * Nothing to copy, past the limit: copy_file_range of the 7.3 tree
	 * the VM runs returns 0 without looking at the limit, where 6.18
	 * said EFBIG.  The ioctl must do as the kernel under it does,
	 * signal included.
	 */
	for (i = 0; i < 2; i++) {
		struct parity p;

		xfsz_count = 0;
		p = i ? parity(e->src_fd, 0, e->dst_fd, 2 * MIB, 0) :
			parity(e->src_fd, SRC_SIZE, e->dst_fd, 2 * MIB, 4096);
		EXPECT_SAME_AS_CFR(p);
		EXPECT_EQ(p.cfr_ret < 0 ? 1 + N_IOCTL : 0, xfsz_count);
	}
	EXPECT_EQ((int64_t)MIB, file_size(e->dst_fd));
}

/* Not copy_file_range's business: the ioctl's own flag checks. */
TEST_F(same_fs, einval_flags)
{
	struct cr_env *e = &self->e;
	const uint64_t bad[] = {
		COPY_RANGE_SHARE_ALLOW | COPY_RANGE_SHARE_REQUIRE,
		1ULL << 2,
		COPY_RANGE_SHARE_ALLOW | (1ULL << 5),
		1ULL << 63,
		~0ULL,
		~COPY_RANGE_FLAGS_ALL,
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(-1, copy_range(e->src_fd, 0, e->dst_fd, 0, 4096,
					 bad[i]))
			TH_LOG("flags %#jx accepted", (uintmax_t)bad[i]);
		EXPECT_EQ(EINVAL, errno)
			TH_LOG("flags %#jx: %s", (uintmax_t)bad[i],
			       strerror(errno));
	}
	EXPECT_EQ(0, file_size(e->dst_fd));
}

/*
 * Pseudo-files report a size that has nothing to do with what reading them
 * returns (0 for procfs, a page for sysfs).  A copy from one must fail with
 * EINVAL rather than "succeed" with zero bytes or a page of junk; here
 * copy_file_range, seeing two superblocks, stops earlier with EXDEV.
 */
TEST_F(same_fs, einval_pseudo_file_source)
{
	static const char * const sources[] = {
		"/proc/self/status",
		"/sys/devices/system/cpu/online",
		"/sys/kernel/uevent_seqnum",
	};
	struct cr_env *e = &self->e;
	unsigned int i;
	int tried = 0;

	for (i = 0; i < ARRAY_SIZE(sources); i++) {
		int fd = open(sources[i], O_RDONLY | O_CLOEXEC);
		struct parity p;

		if (fd < 0) {
			TH_LOG("%s: %s, not tried", sources[i], strerror(errno));
			continue;
		}
		tried++;
		p = parity(fd, 0, e->dst_fd, 0, 4096);
		close(fd);
		ASSERT_EQ(-1, p.cfr_ret);
		ASSERT_EQ(EXDEV, p.cfr_errno);
		EXPECT_EQ(-1, p.ret[0]) TH_LOG("%s: copied %jd", sources[i],
					       (intmax_t)p.ret[0]);
		EXPECT_EQ(EINVAL, p.err[0]) TH_LOG("%s: %s", sources[i],
						   strerror(p.err[0]));
		EXPECT_EQ(-1, p.ret[1]) TH_LOG("%s: copied %jd", sources[i],
					       (intmax_t)p.ret[1]);
		EXPECT_EQ(EINVAL, p.err[1]) TH_LOG("%s: %s", sources[i],
						   strerror(p.err[1]));
		EXPECT_EQ(0, file_size(e->dst_fd));
	}
	/* /proc/self/status at least is always there. */
	ASSERT_LE(1, tried);
}

/* ---- ext4 only ---- */

FIXTURE(ext4) {
	struct cr_env e;
	struct undo u;
};

FIXTURE_SETUP(ext4)
{
	const struct cr_fs ext4 = CR_FS_EXT4;

	undo_init(&self->u);
	env_setup(_metadata, &self->e, &ext4, &ext4);
}

FIXTURE_TEARDOWN(ext4)
{
	env_teardown(&self->e, &self->u);
}

/*
 * ext4's s_maxbytes (16 TiB with 4 KiB blocks) is far below INT64_MAX, so a
 * destination offset between the two is EFBIG without any rlimit, and
 * without SIGXFSZ.
 */
TEST_F(ext4, efbig_past_s_maxbytes)
{
	struct cr_env *e = &self->e;

	EXPECT_BOTH_FAIL(EFBIG, parity(e->src_fd, 0, e->dst_fd, 1ULL << 50,
				       4096));
	EXPECT_EQ(0, file_size(e->dst_fd));
}

#define SWAP_SIZE	(1 * MIB)

/*
 * mkswap's job, for a VM without it: a version-1 header with no bad pages
 * and the signature in the last ten bytes of the first page.
 */
static int write_swap_header(int fd)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *hdr = calloc(1, page);
	uint32_t info[3] = { 1, SWAP_SIZE / page - 1, 0 };
	int ret;

	if (!hdr)
		return -1;
	memcpy(hdr + 1024, info, sizeof(info));
	memcpy(hdr + page - 10, "SWAPSPACE2", 10);
	ret = pwrite(fd, hdr, page, 0) == page ? fsync(fd) : -1;
	free(hdr);
	return ret;
}

/*
 * Makes @u->swap_path, in @dir, an active swap file, with @wr_fd opened
 * for writing
 * beforehand: an active swap file can still be opened that way, but doing
 * it first keeps the test independent of that.
 */
static void swap_setup(struct __test_metadata *_metadata, const char *dir,
		       struct undo *u, int *wr_fd)
{
	char cmd[PATH_MAX + 64];
	int status, err;

	if (geteuid())
		CR_SKIP_OR_FAIL(return, "swapon needs root");
	ASSERT_EQ(0, path_join(u->swap_path, dir, "swap"));
	*wr_fd = open(u->swap_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
		      0600);
	ASSERT_LE(0, *wr_fd);
	/* Real zeroes, not a hole: swapon refuses sparse files. */
	ASSERT_EQ(0, pattern_write(*wr_fd, 0, SWAP_SIZE, PATTERN_ZERO, 0));
	ASSERT_EQ(0, fsync(*wr_fd));

	ASSERT_GT((int)sizeof(cmd), snprintf(cmd, sizeof(cmd),
					     "mkswap '%s' >/dev/null 2>&1",
					     u->swap_path));
	status = system(cmd);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		TH_LOG("mkswap failed (status %#x), writing the header here",
		       status);
		ASSERT_EQ(0, write_swap_header(*wr_fd));
	}
	err = swapon(u->swap_path, 0) ? errno : 0;
	/* Without CONFIG_SWAP, swapon is not a system call at all. */
	if (err == ENOSYS)
		CR_SKIP_OR_FAIL(return, "kernel without CONFIG_SWAP");
	ASSERT_EQ(0, err) TH_LOG("swapon %s: %s", u->swap_path, strerror(err));
	u->swapped = true;
}

/* An active swap file is ETXTBSY as either end of a copy. */
TEST_F(ext4, etxtbsy_swap_file)
{
	struct cr_env *e = &self->e;
	int swap_wr = -1, swap_rd;

	swap_setup(_metadata, e->src_dir, &self->u, &swap_wr);
	if (!self->u.swapped) {
		close(swap_wr);
		return;
	}
	swap_rd = open(self->u.swap_path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, swap_rd);

	EXPECT_BOTH_FAIL(ETXTBSY, parity(swap_rd, 0, e->dst_fd, 0, 4096));
	EXPECT_EQ(0, file_size(e->dst_fd));
	EXPECT_BOTH_FAIL(ETXTBSY, parity(e->src_fd, 0, swap_wr, 4096, 4096));
	close(swap_rd);
	close(swap_wr);
}

/* ---- A filesystem that fills up ---- */

FIXTURE(small_tmpfs) {
	struct cr_env e;
	struct undo u;
};

#define SMALL_TMPFS_SIZE	"6m"

FIXTURE_SETUP(small_tmpfs)
{
	struct undo *u = &self->u;
	const struct cr_fs small = {
		.root = u->mnt, .magic = TMPFS_MAGIC, .name = "tmpfs",
	};

	undo_init(u);
	if (geteuid())
		CR_SKIP_OR_FAIL(return, "mount needs root");
	snprintf(u->mnt, sizeof(u->mnt), "/tmp/copy_range_enospc.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(u->mnt));
	ASSERT_EQ(0, mount("copy_range_test", u->mnt, "tmpfs", 0,
			   "size=" SMALL_TMPFS_SIZE ",mode=1777"))
		TH_LOG("mount tmpfs: %s", strerror(errno));
	u->mounted = true;
	env_setup(_metadata, &self->e, &small, &small);
}

FIXTURE_TEARDOWN(small_tmpfs)
{
	env_teardown(&self->e, &self->u);
}

/*
 * 4 MiB into the 2 MiB left: copy_file_range copies what fits, then
 * says ENOSPC on the next call; so must the ioctl.  Source and destination
 * share the filesystem, else copy_file_range would stop at EXDEV.
 */
TEST_F(small_tmpfs, enospc)
{
	struct cr_env *e = &self->e;
	const int64_t size = 4 * MIB;
	int pass;

	ASSERT_EQ(0, pattern_write(e->src_fd, 0, size, SEED_A, 0));
	for (pass = 0; pass < 1 + N_IOCTL; pass++) {
		const char *who = pass ? "ioctl" : "copy_file_range";
		int64_t n = 0, total = 0;
		int calls, err = 0, dst;

		dst = open_new(e->dst_dir, "fill", O_RDWR);
		ASSERT_LE(0, dst);
		for (calls = 0; calls < 64 && total < size; calls++) {
			if (pass)
				n = copy_range(e->src_fd, total, dst, total,
					       size - total,
					       parity_flags[pass - 1]);
			else
				n = cfr(e->src_fd, total, dst, total,
					size - total);
			err = errno;
			if (n <= 0)
				break;
			total += n;
		}
		TH_LOG("%s: %jd bytes, then %jd (%s)", who, (intmax_t)total,
		       (intmax_t)n, strerror(err));
		ASSERT_EQ(-1, n) TH_LOG("%s did not run out of space", who);
		ASSERT_EQ(ENOSPC, err) TH_LOG("%s: %s", who, strerror(err));
		ASSERT_GT(size, total);
		/* What was reported is what is there. */
		EXPECT_EQ(total, file_size(dst));
		EXPECT_EQ(-1, pattern_mismatch(dst, 0, total, SEED_A, 0));
		close(dst);
		ASSERT_EQ(0, remove_file(e->dst_dir, "fill"));
	}
}

/* ---- Across filesystems that can both share ---- */

FIXTURE(cross) {
	struct cr_env e;
	struct undo u;
};

FIXTURE_VARIANT(cross) {
	struct cr_fs src, dst;
};

FIXTURE_VARIANT_ADD(cross, btrfs_to_xfs) {
	.src = CR_FS_BTRFS, .dst = CR_FS_XFS,
};
FIXTURE_VARIANT_ADD(cross, xfs_to_btrfs) {
	.src = CR_FS_XFS, .dst = CR_FS_BTRFS,
};

FIXTURE_SETUP(cross)
{
	undo_init(&self->u);
	env_setup(_metadata, &self->e, &variant->src, &variant->dst);
}

FIXTURE_TEARDOWN(cross)
{
	env_teardown(&self->e, &self->u);
}

/*
 * Both filesystems can share, just not with each other: REQUIRE fails
 * with EXDEV, as copy_file_range does, and copies nothing.
 */
TEST_F(cross, exdev_require)
{
	struct cr_env *e = &self->e;
	int64_t ret;

	ASSERT_EQ(-1, cfr(e->src_fd, 0, e->dst_fd, 0, 64 * KIB));
	EXPECT_EQ(EXDEV, errno);
	ret = copy_range(e->src_fd, 0, e->dst_fd, 0, 64 * KIB,
			 COPY_RANGE_SHARE_REQUIRE);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EXDEV, errno);
	EXPECT_EQ(0, file_size(e->dst_fd));
}

/* The documented difference: without REQUIRE the ioctl just copies. */
TEST_F(cross, flags0_and_allow_copy)
{
	struct cr_env *e = &self->e;
	int i;

	ASSERT_EQ(-1, cfr(e->src_fd, 0, e->dst_fd, 0, SRC_SIZE));
	EXPECT_EQ(EXDEV, errno);
	for (i = 0; i < N_IOCTL; i++) {
		ASSERT_EQ(0, ftruncate(e->dst_fd, 0));
		EXPECT_EQ(SRC_SIZE, copy_range(e->src_fd, 0, e->dst_fd, 0,
					       SRC_SIZE, parity_flags[i]))
			TH_LOG("flags %ju: %s", (uintmax_t)parity_flags[i],
			       strerror(errno));
		EXPECT_EQ(SRC_SIZE, file_size(e->dst_fd));
		EXPECT_EQ(-1, pattern_mismatch(e->dst_fd, 0, SRC_SIZE, SEED_A, 0));
	}
}

/* ---- An unprivileged caller ---- */

FIXTURE(unpriv) {
	struct cr_env e;
	struct undo u;
};

FIXTURE_VARIANT(unpriv) {
	struct cr_fs fs;
};

FIXTURE_VARIANT_ADD(unpriv, btrfs) { .fs = CR_FS_BTRFS };
FIXTURE_VARIANT_ADD(unpriv, tmpfs) { .fs = CR_FS_TMPFS };

FIXTURE_SETUP(unpriv)
{
	undo_init(&self->u);
	if (geteuid())
		CR_SKIP_OR_FAIL(return, "dropping to another user needs root");
	if (!env_setup(_metadata, &self->e, &variant->fs, &variant->fs))
		return;
	/* Like the filesystem roots: anyone may create files here. */
	ASSERT_EQ(0, chmod(self->e.src_dir, 01777));
}

FIXTURE_TEARDOWN(unpriv)
{
	env_teardown(&self->e, &self->u);
}

#define USER_SIZE	(300 * KIB + 1)

/*
 * Runs as nobody.  Returns 0, or the number of the step that went wrong
 * (the harness's ASSERTs would run the teardown in this process).
 */
static int unpriv_steps(const char *dir)
{
	int dev, src, dst, ro, root_src, root_dst, ret;

	ret = cr_drop_to_nobody();
	if (ret)
		return ret;
	/* The node is 0666: no privilege needed to open it. */
	dev = open(CR_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return 3;
	src = open_new(dir, "user_src", O_RDWR);
	dst = open_new(dir, "user_dst", O_RDWR);
	if (src < 0 || dst < 0 || pattern_write(src, 0, USER_SIZE, SEED_A, 0))
		return 4;
	if (copy_range_dev(dev, src, 0, dst, 0, USER_SIZE, 0) != USER_SIZE)
		return 5;
	if (pattern_mismatch(dst, 0, USER_SIZE, SEED_A, 0) != -1)
		return 6;
	if (ftruncate(dst, 0) ||
	    copy_range_dev(dev, src, 0, dst, 0, USER_SIZE,
			   COPY_RANGE_SHARE_ALLOW) != USER_SIZE ||
	    pattern_mismatch(dst, 0, USER_SIZE, SEED_A, 0) != -1)
		return 7;

	/* The user's own file, opened read-only, is no destination. */
	ro = open_at(dir, "user_dst", O_RDONLY);
	if (ro < 0)
		return 8;
	if (copy_range_dev(dev, src, 0, ro, 0, 4096, 0) != -1 ||
	    errno != EBADF)
		return 9;
	if (cfr(src, 0, ro, 0, 4096) != -1 || errno != EBADF)
		return 10;

	/* root's 0644 files: readable, so a source; never a destination. */
	if (open_at(dir, "dst", O_WRONLY) != -1 || errno != EACCES)
		return 11;
	root_dst = open_at(dir, "dst", O_RDONLY);
	if (root_dst < 0)
		return 12;
	if (copy_range_dev(dev, src, 0, root_dst, 0, 4096, 0) != -1 ||
	    errno != EBADF)
		return 13;
	root_src = open_at(dir, "src", O_RDONLY);
	if (root_src < 0 || ftruncate(dst, 0))
		return 14;
	if (copy_range_dev(dev, root_src, 0, dst, 0, SRC_SIZE, 0) != SRC_SIZE ||
	    pattern_mismatch(dst, 0, SRC_SIZE, SEED_A, 0) != -1)
		return 15;
	return 0;
}

TEST_F(unpriv, copy_and_ebadf_as_nobody)
{
	struct cr_env *e = &self->e;

	cr_expect_steps(unpriv_steps, e->src_dir, NULL);
	/* root's files are as they were. */
	EXPECT_EQ(0, file_size(e->dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(e->src_fd, 0, SRC_SIZE, SEED_A, 0));
}

TEST_HARNESS_MAIN
