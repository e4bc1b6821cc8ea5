// SPDX-License-Identifier: GPL-2.0
/*
 * Copies whose files change under them, whose filesystem freezes, or fills
 * up.  A copy is not a point-in-time image: the guarantee is per chunk, and
 * what these tests check is that every byte that ends up in the destination
 * is one that was legitimately there to copy (the source's, old or new, a
 * zero where the source lost its data, or the destination's own), that the
 * count is exact where the call promises it, and that nothing hangs, leaks
 * or trips lockdep:
 *
 * - the source truncated, holes punched in it, or rewritten, during a copy
 *   and during a job;
 * - the destination truncated during a copy;
 * - two jobs copying in opposite directions between the same two files;
 * - fsfreeze during a copy and a job: they block, stay cancellable, and
 *   finish after the thaw;
 * - ENOSPC part way on small btrfs, xfs and ext4 filesystems: an exact
 *   count, and a destination that holds exactly those bytes.
 */
#include <linux/falloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "cr_fixture.h"

#define SEED_A		0x5eed00000000a11aULL
#define SEED_B		0x5eed00000000b22bULL
#define RACE_SIZE	(12 * MIB)

/*
 * Every byte of @fd in [0, @len) is the pattern byte of @seed_a or of
 * @seed_b at its offset, or zero where @zero_ok.  -1 when all are, else
 * the offset of the first that is not (-2 if reading failed).
 */
static int64_t bytes_from(int fd, uint64_t len, uint64_t seed_a,
			  uint64_t seed_b, bool zero_ok)
{
	unsigned char *buf = malloc(PATTERN_BUF), *a = malloc(PATTERN_BUF),
		      *b = malloc(PATTERN_BUF);
	int64_t bad = -1;
	uint64_t done = 0;

	if (!buf || !a || !b) {
		bad = -2;
		goto out;
	}
	while (done < len && bad == -1) {
		size_t n = len - done < PATTERN_BUF ? len - done : PATTERN_BUF;
		ssize_t r = pread(fd, buf, n, done);
		size_t i;

		if (r != (ssize_t)n) {
			bad = r < 0 ? -2 : (int64_t)(done + (r > 0 ? r : 0));
			break;
		}
		pattern_fill(a, n, seed_a, done);
		pattern_fill(b, n, seed_b, done);
		for (i = 0; i < n; i++) {
			if (buf[i] != a[i] && buf[i] != b[i] &&
			    !(zero_ok && !buf[i])) {
				bad = done + i;
				break;
			}
		}
		done += n;
	}
out:
	free(buf);
	free(a);
	free(b);
	return bad;
}

enum meddle { TRUNCATE_SRC, PUNCH_SRC, REWRITE_SRC, TRUNCATE_DST };

struct meddler {
	int fd;
	enum meddle what;
	volatile bool stop;
	int rounds;
};

/* Changes the file under the copy until told to stop. */
static void *meddle(void *arg)
{
	struct meddler *m = arg;
	uint64_t off = 0;

	while (!m->stop) {
		switch (m->what) {
		case TRUNCATE_SRC:
			/* Down in steps: the copy meets an ever nearer EOF. */
			off = RACE_SIZE - (uint64_t)(m->rounds + 1) * MIB;
			if ((int64_t)off < 0 || ftruncate(m->fd, off))
				return NULL;
			break;
		case PUNCH_SRC:
			off = ((uint64_t)m->rounds * 5 * MIB + 64 * KIB) %
			      RACE_SIZE;
			fallocate(m->fd, FALLOC_FL_PUNCH_HOLE |
				  FALLOC_FL_KEEP_SIZE, off, 1 * MIB);
			break;
		case REWRITE_SRC:
			off = ((uint64_t)m->rounds * 7 * MIB) % RACE_SIZE;
			pattern_write(m->fd, off, 1 * MIB, SEED_B, off);
			break;
		case TRUNCATE_DST:
			if (ftruncate(m->fd, (uint64_t)m->rounds * MIB %
					     RACE_SIZE))
				return NULL;
			break;
		}
		m->rounds++;
		/* Truncation in 1 MiB steps: slow enough to meet the copy. */
		usleep(m->what == TRUNCATE_SRC ? 20000 : 2000);
	}
	return NULL;
}

FIXTURE(race) {
	struct cr_env e;	/* src: RACE_SIZE bytes of SEED_A; dst: empty */
};

FIXTURE_VARIANT(race) {
	struct cr_fs fs;
	enum meddle what;
	bool job;
};

/*
 * Every kind of meddling on ext4, and each filesystem's own paths (btrfs
 * and xfs remap code, tmpfs's page cache) with a job and a synchronous copy
 * between them; more pairs cost minutes under emulation and found nothing
 * the ones here did not.
 */
FIXTURE_VARIANT_ADD(race, ext4_truncate_src_copy) {
	.fs = CR_FS_EXT4, .what = TRUNCATE_SRC, .job = false,
};

FIXTURE_VARIANT_ADD(race, ext4_punch_src_job) {
	.fs = CR_FS_EXT4, .what = PUNCH_SRC, .job = true,
};

FIXTURE_VARIANT_ADD(race, ext4_rewrite_src_copy) {
	.fs = CR_FS_EXT4, .what = REWRITE_SRC, .job = false,
};

FIXTURE_VARIANT_ADD(race, ext4_truncate_dst_copy) {
	.fs = CR_FS_EXT4, .what = TRUNCATE_DST, .job = false,
};

FIXTURE_VARIANT_ADD(race, btrfs_truncate_src_job) {
	.fs = CR_FS_BTRFS, .what = TRUNCATE_SRC, .job = true,
};

FIXTURE_VARIANT_ADD(race, btrfs_rewrite_src_job) {
	.fs = CR_FS_BTRFS, .what = REWRITE_SRC, .job = true,
};

FIXTURE_VARIANT_ADD(race, xfs_punch_src_job) {
	.fs = CR_FS_XFS, .what = PUNCH_SRC, .job = true,
};

FIXTURE_VARIANT_ADD(race, tmpfs_punch_src_job) {
	.fs = CR_FS_TMPFS, .what = PUNCH_SRC, .job = true,
};

FIXTURE_SETUP(race)
{
	cr_env_setup_on(_metadata, &self->e, &variant->fs, RACE_SIZE, SEED_A);
}

FIXTURE_TEARDOWN(race)
{
	cr_env_teardown(&self->e);
}

/*
 * One copy (or job) of the whole source while a second thread meddles;
 * then the count and every byte of the destination are checked against
 * what the meddling allows.
 */
TEST_F_TIMEOUT(race, bytes_stay_legitimate, 300)
{
	struct meddler m = {
		.fd = variant->what == TRUNCATE_DST ? self->e.dst_fd :
						      self->e.src_fd,
		.what = variant->what,
	};
	struct copy_range_status st;
	uint64_t total = 0;
	int64_t n, bad = -2, size;
	pthread_t t;
	int job;

	ASSERT_EQ(0, pthread_create(&t, NULL, meddle, &m));
	if (variant->job) {
		job = cr_submit(self->e.src_fd, 0, self->e.dst_fd, 0, RACE_SIZE,
				0);
		ASSERT_LE(0, job) TH_LOG("%s", strerror(errno));
		ASSERT_EQ(0, cr_job_wait(job, &st));
		ASSERT_TRUE(cr_status_sane(&st));
		EXPECT_EQ(COPY_RANGE_JOB_DONE, st.state)
			TH_LOG("%s", cr_status_str(&st));
		total = st.copied;
		close(job);
	} else {
		/* Synchronous: call again after short counts, as callers do. */
		while (total < RACE_SIZE) {
			n = copy_range(self->e.src_fd, total, self->e.dst_fd,
				       total, RACE_SIZE - total, 0);
			ASSERT_LE(0, n) TH_LOG("at %ju: %s", (uintmax_t)total,
					       strerror(errno));
			if (n == 0)
				break;
			total += n;
		}
	}
	m.stop = true;
	pthread_join(t, NULL);
	TH_LOG("%ju bytes copied while the other thread made %d changes",
	       (uintmax_t)total, m.rounds);
	EXPECT_GE((uint64_t)RACE_SIZE, total);

	size = file_size(self->e.dst_fd);
	ASSERT_LE(0, size);
	switch (variant->what) {
	case TRUNCATE_SRC:
		/* What was copied is the source's; nothing past it. */
		EXPECT_EQ((int64_t)total, size);
		bad = bytes_from(self->e.dst_fd, total, SEED_A, SEED_A, false);
		break;
	case PUNCH_SRC:
		EXPECT_EQ((uint64_t)RACE_SIZE, total);
		bad = bytes_from(self->e.dst_fd, total, SEED_A, SEED_A, true);
		break;
	case REWRITE_SRC:
		EXPECT_EQ((uint64_t)RACE_SIZE, total);
		bad = bytes_from(self->e.dst_fd, total, SEED_A, SEED_B, false);
		break;
	case TRUNCATE_DST:
		/* Truncated ranges read as zeros; what is there is ours. */
		EXPECT_EQ((uint64_t)RACE_SIZE, total);
		bad = bytes_from(self->e.dst_fd, size, SEED_A, SEED_A, true);
		break;
	}
	EXPECT_EQ(-1, bad) TH_LOG("destination byte %jd", (intmax_t)bad);
}

/* Two files on one filesystem, for the opposite jobs. */
FIXTURE(opposite) {
	struct cr_env e;	/* src: RACE_SIZE bytes of SEED_A; dst: empty */
};

#define CR_FS_FIXTURE opposite
#include "cr_fs_variants.h"

FIXTURE_SETUP(opposite)
{
	cr_env_setup_on(_metadata, &self->e, &variant->fs, RACE_SIZE, SEED_A);
}

FIXTURE_TEARDOWN(opposite)
{
	cr_env_teardown(&self->e);
}

/*
 * Two jobs at once, A to B and B to A over the same range: bytes only move
 * between equal offsets, so each ends up as A's or B's original byte.
 */
TEST_F_TIMEOUT(opposite, jobs_between_the_same_files, 300)
{
	struct copy_range_status st1, st2;
	int j1, j2;

	ASSERT_EQ(0, pattern_write(self->e.dst_fd, 0, RACE_SIZE, SEED_B, 0));
	j1 = cr_submit(self->e.src_fd, 0, self->e.dst_fd, 0, RACE_SIZE, 0);
	j2 = cr_submit(self->e.dst_fd, 0, self->e.src_fd, 0, RACE_SIZE, 0);
	ASSERT_LE(0, j1);
	ASSERT_LE(0, j2);
	ASSERT_EQ(0, cr_job_wait(j1, &st1));
	ASSERT_EQ(0, cr_job_wait(j2, &st2));
	EXPECT_EQ(COPY_RANGE_JOB_DONE, st1.state) TH_LOG("%s", cr_status_str(&st1));
	EXPECT_EQ(COPY_RANGE_JOB_DONE, st2.state) TH_LOG("%s", cr_status_str(&st2));
	EXPECT_EQ(-1, bytes_from(self->e.src_fd, RACE_SIZE, SEED_A, SEED_B,
				 false));
	EXPECT_EQ(-1, bytes_from(self->e.dst_fd, RACE_SIZE, SEED_A, SEED_B,
				 false));
	close(j1);
	close(j2);
}

/* A frozen filesystem: FIFREEZE on its root, thawed in any case. */
FIXTURE(frozen) {
	struct cr_env e;	/* src: 16 MiB of SEED_A, on ext4; dst: empty */
	int root;
	bool frozen;
};

FIXTURE_SETUP(frozen)
{
	const struct cr_fs ext4 = CR_FS_EXT4;

	self->root = -1;
	self->frozen = false;
	if (!cr_env_setup_on(_metadata, &self->e, &ext4, 16 * MIB, SEED_A))
		return;
	ASSERT_EQ(0, fsync(self->e.src_fd));
	self->root = open(FS_EXT4, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, self->root);
}

FIXTURE_TEARDOWN(frozen)
{
	if (self->frozen)
		ioctl(self->root, FITHAW, 0);
	if (self->root >= 0)
		close(self->root);
	cr_env_teardown(&self->e);
}

static int freeze(int root, bool *frozen)
{
	if (ioctl(root, FIFREEZE, 0))
		return -1;
	*frozen = true;
	return 0;
}

static int thaw(int root, bool *frozen)
{
	if (ioctl(root, FITHAW, 0))
		return -1;
	*frozen = false;
	return 0;
}

/*
 * A synchronous copy into a frozen filesystem waits for the thaw; a signal
 * meanwhile does not break anything (it is seen once the chunk completes),
 * and after the thaw the copy is exact.
 */
TEST_F_TIMEOUT(frozen, copy_waits_for_thaw, 120)
{
	int status, fds[2];
	int64_t n = -1;
	pid_t pid;

	ASSERT_EQ(0, freeze(self->root, &self->frozen));
	ASSERT_EQ(0, pipe(fds));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		signal(SIGUSR1, SIG_IGN);
		n = copy_range(self->e.src_fd, 0, self->e.dst_fd, 0, 16 * MIB,
			       0);
		_exit(write(fds[1], &n, sizeof(n)) == sizeof(n) ? 0 : 1);
	}
	close(fds[1]);
	sleep(1);
	/* Still blocked, and a signal changes nothing. */
	EXPECT_EQ(0, waitpid(pid, &status, WNOHANG));
	kill(pid, SIGUSR1);
	ASSERT_EQ(0, thaw(self->root, &self->frozen));
	ASSERT_EQ((ssize_t)sizeof(n), read(fds[0], &n, sizeof(n)));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_LT(0, n);
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, n, SEED_A, 0));
	EXPECT_EQ(n, file_size(self->e.dst_fd));
	close(fds[0]);
}

/*
 * A job into a frozen filesystem: it blocks, STATUS and CANCEL still
 * answer at once, and after the thaw it ends cancelled with an exact count.
 */
TEST_F_TIMEOUT(frozen, job_stays_cancellable, 120)
{
	struct copy_range_status st;
	int job;

	ASSERT_EQ(0, freeze(self->root, &self->frozen));
	job = cr_submit(self->e.src_fd, 0, self->e.dst_fd, 0, 16 * MIB, 0);
	ASSERT_LE(0, job);
	sleep(1);
	ASSERT_EQ(0, cr_job_status(job, &st));
	EXPECT_EQ(COPY_RANGE_JOB_RUNNING, st.state);
	EXPECT_EQ(0, poll_in(job, 100));
	ASSERT_EQ(0, cr_job_cancel(job));
	ASSERT_EQ(0, thaw(self->root, &self->frozen));
	ASSERT_EQ(0, cr_job_wait(job, &st));
	EXPECT_TRUE(st.state == COPY_RANGE_JOB_CANCELLED ||
		    st.state == COPY_RANGE_JOB_DONE)
		TH_LOG("%s", cr_status_str(&st));
	EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, st.copied, SEED_A,
				       0));
	EXPECT_EQ((int64_t)st.copied, file_size(self->e.dst_fd));
	close(job);
}

/*
 * A small filesystem of its own, on a loop device over a file in
 * /mnt/tmpfs, filled until about @free_mib MiB are left.
 */
FIXTURE(full) {
	char img[PATH_MAX], mnt[PATH_MAX], src_dir[PATH_MAX];
	bool mounted;
	int src;
};

FIXTURE_VARIANT(full) {
	const char *mkfs;
	unsigned int size_mib;
};

FIXTURE_VARIANT_ADD(full, btrfs) {
	.mkfs = "mkfs.btrfs -q -f", .size_mib = 192,
};

FIXTURE_VARIANT_ADD(full, xfs) {
	.mkfs = "mkfs.xfs -q -f -m reflink=1", .size_mib = 320,
};

FIXTURE_VARIANT_ADD(full, ext4) {
	.mkfs = "mkfs.ext4 -q -F", .size_mib = 64,
};

static int shell(const char *fmt, const char *a, const char *b)
{
	char cmd[3 * PATH_MAX];

	snprintf(cmd, sizeof(cmd), fmt, a, b);
	return system(cmd);
}

/* The room left on the full filesystem, and the source that does not fit. */
#define ROOM		(12 * MIB)
#define FULL_SRC	(48 * MIB)

FIXTURE_SETUP(full)
{
	const struct cr_fs tmpfs = CR_FS_TMPFS;
	char filler[PATH_MAX];
	off_t size;
	int fd;

	self->mounted = false;
	self->src = -1;
	if (!cr_need_fs(_metadata, &tmpfs) || !cr_need_dev(_metadata))
		return;
	ASSERT_NE(NULL, make_test_dir(FS_TMPFS, self->src_dir));
	ASSERT_EQ(0, path_join(self->img, self->src_dir, "fs.img"));
	ASSERT_EQ(0, path_join(self->mnt, self->src_dir, "mnt"));
	ASSERT_EQ(0, mkdir(self->mnt, 0755));
	fd = open(self->img, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, (off_t)variant->size_mib * MIB));
	close(fd);
	ASSERT_EQ(0, shell("%s %s >/dev/null 2>&1", variant->mkfs, self->img));
	ASSERT_EQ(0, shell("mount -o loop %s %s", self->img, self->mnt));
	self->mounted = true;
	/*
	 * Fill it with one file, preallocated 8 MiB at a time until ENOSPC
	 * (writing it would cost minutes under emulation), then give back
	 * ROOM bytes by truncation (which also frees what a failed
	 * fallocate left past the end).
	 */
	ASSERT_EQ(0, path_join(filler, self->mnt, "filler"));
	fd = open(filler, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd);
	for (size = 0; !fallocate(fd, 0, size, 8 * MIB); size += 8 * MIB)
		;
	ASSERT_EQ(ENOSPC, errno) TH_LOG("fallocate: %s", strerror(errno));
	ASSERT_LT((off_t)ROOM, size);
	ASSERT_EQ(0, ftruncate(fd, size - ROOM));
	ASSERT_EQ(0, fsync(fd));
	ASSERT_EQ(0, syncfs(fd));
	close(fd);
	self->src = open_new(self->src_dir, "src", O_RDWR);
	ASSERT_LE(0, self->src);
	ASSERT_EQ(0, pattern_write(self->src, 0, FULL_SRC, SEED_A, 0));
}

FIXTURE_TEARDOWN(full)
{
	if (self->src >= 0)
		close(self->src);
	if (self->mounted && umount(self->mnt))
		umount2(self->mnt, MNT_DETACH);
	remove_tree(self->src_dir);
}

/*
 * FULL_SRC (48 MiB) into ROOM (12 MiB) or a little more of room: the
 * copies stop with ENOSPC after an exact count (a short count first, ENOSPC
 * on the call after), and the destination holds exactly those bytes of the
 * source; a job fails with -ENOSPC and an exact count.  The filesystem
 * unmounts afterwards.
 */
TEST_F_TIMEOUT(full, enospc_part_way_is_exact, 300)
{
	struct copy_range_status st;
	uint64_t total = 0;
	int dst, job;
	int64_t n;

	dst = open_new(self->mnt, "dst", O_RDWR);
	ASSERT_LE(0, dst);
	for (;;) {
		n = copy_range(self->src, total, dst, total, FULL_SRC - total,
			       0);
		if (n <= 0)
			break;
		total += n;
	}
	EXPECT_EQ(-1, n);
	EXPECT_EQ(ENOSPC, errno) TH_LOG("%s after %ju bytes", strerror(errno),
					(uintmax_t)total);
	EXPECT_LT((uint64_t)0, total);
	EXPECT_GT((uint64_t)FULL_SRC, total);
	EXPECT_EQ((int64_t)total, file_size(dst));
	EXPECT_EQ(-1, pattern_mismatch(dst, 0, total, SEED_A, 0));
	/*
	 * On a full btrfs even a truncate needs metadata space, which only a
	 * transaction commit gives back (seen once, on a loaded host).
	 */
	if (ftruncate(dst, 0) && errno == ENOSPC)
		ASSERT_EQ(0, syncfs(dst));
	ASSERT_EQ(0, ftruncate(dst, 0)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, fsync(dst));
	ASSERT_EQ(0, syncfs(dst));

	job = cr_submit(self->src, 0, dst, 0, FULL_SRC, 0);
	ASSERT_LE(0, job);
	ASSERT_EQ(0, cr_job_wait(job, &st));
	EXPECT_EQ(COPY_RANGE_JOB_FAILED, st.state) TH_LOG("%s", cr_status_str(&st));
	EXPECT_EQ(-ENOSPC, st.error);
	EXPECT_EQ((int64_t)st.copied, file_size(dst));
	EXPECT_EQ(-1, pattern_mismatch(dst, 0, st.copied, SEED_A, 0));
	close(job);
	close(dst);
	EXPECT_EQ(0, umount(self->mnt)) TH_LOG("%s", strerror(errno));
	if (!umount(self->mnt) || errno == EINVAL)
		self->mounted = false;
}

TEST_HARNESS_MAIN
