// SPDX-License-Identifier: GPL-2.0
/*
 * Whose memory cgroup pays for a copy.
 *
 * A data copy fills the destination's page cache.  A synchronous call and
 * an io_uring command run in the caller's own task (the ring's in an io-wq
 * worker, a thread of the caller's process), so the pages are charged to
 * the caller's memory cgroup.  A job runs in a kernel worker, which is in
 * the root cgroup: unless the module charges the job's work to its
 * submitter, a user in a small cgroup could fill the page cache beyond its
 * limit by submitting instead of copying.  Each test copies LEN bytes as
 * data (flags 0) from a child placed in a fresh memory cgroup, then reads
 * what the cgroup was charged for file pages.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cr_fixture.h"
#include "cr_uring.h"

#define CGROUP_ROOT	"/sys/fs/cgroup"
#define CGROUP_TEST	CGROUP_ROOT "/copy_range_cgroup_test"
#define LEN		(16ULL << 20)

/* How a child copies. */
enum transport { BY_IOCTL, BY_JOB, BY_RING };

/* The "file" line of the test cgroup's memory.stat, or UINT64_MAX. */
static uint64_t cgroup_file_bytes(void)
{
	FILE *f = fopen(CGROUP_TEST "/memory.stat", "re");
	char line[128];
	uint64_t v = UINT64_MAX;

	if (!f)
		return v;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "file %" SCNu64, &v) == 1)
			break;
	fclose(f);
	return v;
}

/* Copies LEN bytes as one job, waiting for it: 0, or the failed step. */
static int copy_by_job(int src, int dst)
{
	struct copy_range_status st;
	int job = cr_submit(src, 0, dst, 0, LEN, 0);

	if (job < 0)
		return 10;
	if (cr_job_wait(job, &st))
		return 11;
	close(job);
	return st.state == COPY_RANGE_JOB_DONE && st.copied == LEN ? 0 : 12;
}

/* Copies LEN bytes through the ring, resuming short counts. */
static int copy_by_ring(int src, int dst)
{
	struct io_uring_sqe *sqe;
	struct cr_ring ring;
	uint64_t done = 0;
	int32_t res;
	int dev = cr_dev();

	if (dev < 0 || cr_ring_init(&ring, 4, IORING_SETUP_SQE128))
		return 20;
	while (done < LEN) {
		struct copy_range_args a = cr_args(src, done, dst, done,
						   LEN - done, 0);

		sqe = cr_ring_sqe(&ring, true);
		if (!sqe)
			return 21;
		cr_prep_copy(sqe, dev, &a, 1);
		if (cr_ring_run1(&ring, 1, 60000, &res) || res <= 0)
			return 22;
		done += res;
	}
	cr_ring_exit(&ring);
	return 0;
}

/* In the child: joins the test cgroup and copies src to dst by @how. */
static int copy_in_cgroup(const char *dir, enum transport how)
{
	uint64_t done = 0;
	int64_t n;
	int src, dst;

	if (write_file(CGROUP_TEST "/cgroup.procs", "0"))
		return 1;
	src = open_at(dir, "src", O_RDONLY);
	dst = open_at(dir, "dst", O_WRONLY);
	if (src < 0 || dst < 0)
		return 2;
	switch (how) {
	case BY_IOCTL:
		while (done < LEN) {
			n = copy_range(src, done, dst, done, LEN - done, 0);
			if (n <= 0)
				return 3;
			done += n;
		}
		return 0;
	case BY_JOB:
		return copy_by_job(src, dst);
	case BY_RING:
		return copy_by_ring(src, dst);
	}
	return 4;
}

FIXTURE(cgroup) {
	struct cr_env env;
	bool ready;
};

#define CR_FS_FIXTURE cgroup
#include "cr_fs_variants.h"

FIXTURE_SETUP(cgroup)
{
	if (access(CGROUP_ROOT "/cgroup.controllers", F_OK))
		ASSERT_EQ(0, mount("cgroup2", CGROUP_ROOT, "cgroup2", 0, NULL))
			TH_LOG("mount cgroup2: %s", strerror(errno));
	ASSERT_EQ(0, write_file(CGROUP_ROOT "/cgroup.subtree_control",
				"+memory"));
	rmdir(CGROUP_TEST);
	ASSERT_EQ(0, mkdir(CGROUP_TEST, 0755)) TH_LOG("%s", strerror(errno));
	/*
	 * The source is written here, in the root cgroup, and stays cached:
	 * only the destination's pages can be charged to the test cgroup.
	 */
	self->ready = cr_env_setup_on(_metadata, &self->env, &variant->fs,
				      LEN, 17);
}

FIXTURE_TEARDOWN(cgroup)
{
	cr_env_teardown(&self->env);
	rmdir(CGROUP_TEST);
}

/*
 * Runs the copy in a child in the test cgroup, checks the data, and
 * returns how many bytes of file pages the cgroup was charged.
 */
static uint64_t charged_copy(struct __test_metadata *_metadata,
			     struct cr_env *e, enum transport how)
{
	uint64_t before = cgroup_file_bytes(), after;
	int status;
	pid_t pid;

	EXPECT_NE(UINT64_MAX, before);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0)
		_exit(copy_in_cgroup(e->src_dir, how));
	EXPECT_LE(0, pid);
	EXPECT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("child status %#x", status);
	EXPECT_EQ(-1, pattern_mismatch(e->dst_fd, 0, LEN, 17, 0));
	after = cgroup_file_bytes();
	return after > before ? after - before : 0;
}

/* At least three quarters of the copy's page cache, charged to the copier. */
static void expect_charged(struct __test_metadata *_metadata, uint64_t n)
{
	TH_LOG("%" PRIu64 " KiB of %llu KiB charged to the copier", n >> 10,
	       LEN >> 10);
	EXPECT_LE(LEN * 3 / 4, n);
}

TEST_F_TIMEOUT(cgroup, ioctl_copy_charges_the_caller, 120)
{
	if (!self->ready)
		return;
	expect_charged(_metadata,
		       charged_copy(_metadata, &self->env, BY_IOCTL));
}

TEST_F_TIMEOUT(cgroup, ring_copy_charges_the_submitter, 120)
{
	if (!self->ready)
		return;
	expect_charged(_metadata,
		       charged_copy(_metadata, &self->env, BY_RING));
}

TEST_F_TIMEOUT(cgroup, job_copy_charges_the_submitter, 120)
{
	if (!self->ready)
		return;
	expect_charged(_metadata,
		       charged_copy(_metadata, &self->env, BY_JOB));
}

TEST_HARNESS_MAIN
