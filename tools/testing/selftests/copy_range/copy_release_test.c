// SPDX-License-Identifier: GPL-2.0
/*
 * Closing a job's descriptor, against hostile timing and a filesystem that
 * never answers:
 *
 * - a task killed while close() waits for a job stuck on a stalled FUSE
 *   server returns at once (no unkillable D state);
 * - a job descriptor whose last reference is dropped by a kernel thread
 *   (the garbage collection of descriptors in flight over a unix socket)
 *   does not hold up the files closed after it;
 * - a FUSE daemon killed while it holds a job stuck on its own filesystem
 *   exits;
 * - a filesystem that reports more bytes copied than it was asked for gets
 *   EIO, not a count;
 * - close() then umount succeeds at once, for queued, running and sparse
 *   jobs, a thousand times (no file left to a delayed close), and SUBMIT
 *   racing close() ends every job once.
 *
 * The FUSE server is cr_fuse, built beside this program.
 */
#include <dirent.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "cr_fixture.h"

/* How long a task may take to die, or a close to finish, in seconds. */
#define BOUND_S		10

/* Path of cr_fuse: beside this program. */
static void cr_fuse_path(char *buf)
{
	ssize_t n = readlink("/proc/self/exe", buf, PATH_MAX - 16);
	char *slash;

	if (n < 0)
		n = 0;
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	memcpy(slash ? slash + 1 : buf, "cr_fuse", sizeof("cr_fuse"));
}

/*
 * Starts cr_fuse on a new directory in /tmp with @opt/@arg (or none), and
 * waits for its first line ("ready").  The daemon's pid, or -1.
 */
static pid_t fuse_start(char *mnt, const char *opt, const char *arg,
			FILE **out)
{
	char prog[PATH_MAX], line[64];
	int pipefd[2];
	pid_t pid;

	snprintf(mnt, PATH_MAX, "/tmp/cr_fuse.XXXXXX");
	if (!mkdtemp(mnt) || pipe2(pipefd, O_CLOEXEC))
		return -1;
	cr_fuse_path(prog);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		execl(prog, prog, mnt, opt, arg, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	*out = fdopen(pipefd[0], "r");
	if (!*out || !fgets(line, sizeof(line), *out) ||
	    strcmp(line, "ready\n")) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

/* Aborts every FUSE connection: whatever waits on a server gets ENOTCONN. */
static void fuse_abort_all(void)
{
	char path[PATH_MAX];
	struct dirent *d;
	DIR *dir = opendir("/sys/fs/fuse/connections");

	if (!dir)
		return;
	while ((d = readdir(dir))) {
		int fd;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/fs/fuse/connections/%s/abort",
			 d->d_name);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (write(fd, "1", 1) != 1)
				perror(path);
			close(fd);
		}
	}
	closedir(dir);
}

/* waitpid() for up to @secs seconds: the status, or -1 if still running. */
static int wait_bounded(pid_t pid, int secs, int *status)
{
	int i;

	for (i = 0; i < secs * 20; i++) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return 0;
		if (r < 0)
			return -1;
		usleep(50000);
	}
	return -1;
}

/* The state letter of @pid in /proc (R, S, D...), or '?'. */
static char task_state(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return '?';
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	return p && p[1] == ' ' ? p[2] : '?';
}

/* Waits up to @secs seconds for @pid to sleep uninterruptibly (D). */
static bool wait_for_d_state(pid_t pid, int secs)
{
	int i;

	for (i = 0; i < secs * 20; i++) {
		if (task_state(pid) == 'D')
			return true;
		usleep(50000);
	}
	return false;
}

FIXTURE(stalled) {
	char mnt[PATH_MAX];
	char dir[PATH_MAX];
	pid_t daemon;
	FILE *out;
};

FIXTURE_SETUP(stalled)
{
	const struct cr_fs ext4 = CR_FS_EXT4;

	if (!cr_need_fs(_metadata, &ext4) || !cr_need_dev(_metadata))
		return;
	self->daemon = fuse_start(self->mnt, NULL, NULL, &self->out);
	ASSERT_LT(0, self->daemon) TH_LOG("cr_fuse did not start");
	ASSERT_NE(NULL, make_test_dir(FS_EXT4, self->dir));
}

FIXTURE_TEARDOWN(stalled)
{
	/* Whatever still waits on the server gets ENOTCONN and ends. */
	fuse_abort_all();
	if (self->daemon > 0) {
		kill(self->daemon, SIGKILL);
		waitpid(self->daemon, NULL, 0);
	}
	if (self->out)
		fclose(self->out);
	umount2(self->mnt, MNT_DETACH);
	rmdir(self->mnt);
	remove_tree(self->dir);
}

/* A job from the stalled file into @dir/@name: its descriptor, or -1. */
static int stalled_job(const char *mnt, const char *dir, const char *name)
{
	char path[PATH_MAX];
	int src, dst, job;

	if (path_join(path, mnt, "stall"))
		return -1;
	src = open(path, O_RDONLY | O_CLOEXEC);
	dst = open_new(dir, name, O_WRONLY);
	if (src < 0 || dst < 0)
		return -1;
	job = cr_submit(src, 0, dst, 0, 64 * MIB, 0);
	close(src);
	close(dst);
	return job;
}

/*
 * A child submits a job that blocks on the server, and closes it: the close
 * waits for the worker.  SIGKILL must end that wait.
 */
TEST_F_TIMEOUT(stalled, kill_ends_a_close_that_waits_for_a_stalled_job, 60)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int job = stalled_job(self->mnt, self->dir, "dst");

		if (job < 0)
			_exit(2);
		close(job);
		_exit(0);
	}
	/* The close waits (killably) for a worker that waits for the server. */
	ASSERT_TRUE(wait_for_d_state(pid, BOUND_S))
		TH_LOG("the child never blocked in close() (state %c)",
		       task_state(pid));
	ASSERT_EQ(0, kill(pid, SIGKILL));
	EXPECT_EQ(0, wait_bounded(pid, BOUND_S, &status))
		TH_LOG("a killed task stayed in close() (state %c)",
		       task_state(pid));
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

/* Whether a unix socket with inode @ino is listed in /proc/net/unix. */
static bool unix_socket_exists(unsigned long ino)
{
	char line[512];
	bool found = false;
	FILE *f = fopen("/proc/net/unix", "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long i;

		/* Num RefCount Protocol Flags Type St Inode Path */
		if (sscanf(line, "%*s %*s %*s %*s %*s %*s %lu", &i) == 1)
			found = i == ino;
	}
	fclose(f);
	return found;
}

/* Releasing any unix socket makes the kernel schedule its collector. */
static void poke_unix_gc(void)
{
	int sv[2];

	if (!socketpair(AF_UNIX, SOCK_DGRAM, 0, sv)) {
		close(sv[0]);
		close(sv[1]);
	}
}

/*
 * Sends @fd over one end of a new socket pair together with the other end,
 * into that end's own queue, and closes both and @fd: a cycle only the
 * garbage collector frees, which it does in a kernel thread, dropping the
 * last references to everything in flight there (the caller's descriptor is
 * closed first, so that the collector's is the last).  Returns once the
 * collector has freed the cycle (the socket is gone from /proc/net/unix): 0,
 * or -1.
 */
static int drop_in_gc_cycle(int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 2)] = { 0 };
	struct iovec iov = { .iov_base = "x", .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
	int sv[2], fds[2], i;
	struct stat st;

	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) || fstat(sv[1], &st))
		return -1;
	fds[0] = sv[1];
	fds[1] = fd;
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cmsg), fds, sizeof(fds));
	/* Into sv[1]'s queue, carrying sv[1] itself. */
	if (sendmsg(sv[0], &msg, 0) != 1)
		return -1;
	close(fd);
	close(sv[1]);
	close(sv[0]);
	for (i = 0; i < BOUND_S * 20; i++) {
		poke_unix_gc();
		if (!unix_socket_exists(st.st_ino))
			return 0;
		usleep(50000);
	}
	return -1;
}

/*
 * The last reference to a job stuck on the server is dropped by the unix
 * garbage collector, in a kernel thread, which hands the final close to the
 * delayed fput worker.  A release that waited there would stall every file
 * closed that way after it: here, one on a private tmpfs, dropped the same
 * way once the job's release has had its chance to block, which then
 * could not be unmounted.
 */
TEST_F_TIMEOUT(stalled, job_released_in_a_kernel_thread_does_not_stall_others, 90)
{
	char tmp[PATH_MAX];
	int job, fd, i, ret = -1;

	job = stalled_job(self->mnt, self->dir, "dst");
	ASSERT_LE(0, job);
	/* Let the worker block on the server. */
	usleep(500000);
	ASSERT_EQ(0, drop_in_gc_cycle(job)) TH_LOG("the cycle was not collected");
	/* The delayed fput runs a jiffy later: let it reach the job. */
	usleep(500000);

	snprintf(tmp, sizeof(tmp), "/tmp/cr_gc.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(tmp));
	ASSERT_EQ(0, mount("cr_gc", tmp, "tmpfs", 0, NULL));
	fd = open_new(tmp, "f", O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, drop_in_gc_cycle(fd));
	for (i = 0; i < BOUND_S * 10; i++) {
		ret = umount(tmp);
		if (!ret || errno != EBUSY)
			break;
		usleep(100000);
	}
	/* A file closed after the job would still be open. */
	EXPECT_EQ(0, ret) TH_LOG("umount: %s after %d tries", strerror(errno),
				 i);
	if (ret)
		umount2(tmp, MNT_DETACH);
	rmdir(tmp);
}

/*
 * A FUSE daemon holds a job that reads from its own stalled file, as a
 * descriptor above its /dev/fuse one, so that the job's release runs before
 * the connection goes away (an exiting task runs its final closes last in,
 * first out).  Killed, it must exit: its release of the job may not wait
 * for a worker that waits for the daemon.
 */
TEST_F_TIMEOUT(stalled, daemon_killed_holding_its_own_job_exits, 60)
{
	char mnt[PATH_MAX], dst[PATH_MAX], line[64];
	FILE *out = NULL;
	int status;
	pid_t pid;

	ASSERT_EQ(0, path_join(dst, self->dir, "held"));
	pid = fuse_start(mnt, "--hold-job", dst, &out);
	ASSERT_LT(0, pid);
	ASSERT_NE(NULL, fgets(line, sizeof(line), out));
	ASSERT_STREQ("holding\n", line);
	/* Let the worker block on the daemon's own file. */
	usleep(500000);
	ASSERT_EQ(0, kill(pid, SIGKILL));
	EXPECT_EQ(0, wait_bounded(pid, BOUND_S, &status))
		TH_LOG("the killed daemon did not exit (state %c)",
		       task_state(pid));
	if (status == -1 || !WIFSIGNALED(status)) {
		fuse_abort_all();
		waitpid(pid, NULL, 0);
	}
	fclose(out);
	umount2(mnt, MNT_DETACH);
	rmdir(mnt);
}

/*
 * A FUSE server that answers COPY_FILE_RANGE with more bytes than were
 * asked for: copy_range reports EIO instead of the count, for a single copy,
 * a vector and a job.  The FUSE client already refuses such an answer
 * (fuse_copy_file_range() returns EIO), so this checks the errno end to
 * end; the module's own check of the count, for a filesystem that passes an
 * over-report through (the NFS client), is KUnit's copy_range_vfs.
 */
TEST(overreported_counts_are_eio)
{
	char mnt[PATH_MAX], path[PATH_MAX];
	struct copy_range_seg segs[2] = {
		{ .src_off = 0, .dst_off = 0, .len = 1 * MIB },
		{ .src_off = 1 * MIB, .dst_off = 1 * MIB, .len = 1 * MIB },
	};
	struct copy_range_vec v;
	struct copy_range_status st;
	FILE *out = NULL;
	int src, dst, job;
	pid_t pid;

	pid = fuse_start(mnt, "--overreport", "4096", &out);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, path_join(path, mnt, "data"));
	src = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_EQ(0, path_join(path, mnt, "sink"));
	dst = open(path, O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, src);
	ASSERT_LE(0, dst);

	EXPECT_EQ(-1, copy_range(src, 0, dst, 0, 1 * MIB,
				 COPY_RANGE_SHARE_ALLOW));
	EXPECT_EQ(EIO, errno);

	v = cr_vec(src, dst, COPY_RANGE_SHARE_ALLOW, segs, 2);
	EXPECT_EQ(-1, cr_copyv(&v));
	EXPECT_EQ(EIO, errno);

	job = cr_submit(src, 0, dst, 0, 2 * MIB, COPY_RANGE_SHARE_ALLOW);
	ASSERT_LE(0, job);
	ASSERT_EQ(0, cr_job_wait(job, &st));
	EXPECT_EQ(COPY_RANGE_JOB_FAILED, st.state) TH_LOG("%s", cr_status_str(&st));
	EXPECT_EQ(-EIO, st.error);
	EXPECT_EQ(0ULL, st.copied);
	close(job);

	close(src);
	close(dst);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	fclose(out);
	umount2(mnt, MNT_DETACH);
	rmdir(mnt);
}

enum close_kind { CLOSE_QUEUED, CLOSE_RUNNING, CLOSE_SPARSE };

FIXTURE(umount_after_close) {
	char dir[PATH_MAX];
};

FIXTURE_VARIANT(umount_after_close) {
	enum close_kind kind;
	int rounds;
};

/* Closed right after SUBMIT: the job is usually still queued. */
FIXTURE_VARIANT_ADD(umount_after_close, queued) {
	.kind = CLOSE_QUEUED, .rounds = 1000,
};

/* Closed once the job has copied something, in the middle of its copy. */
FIXTURE_VARIANT_ADD(umount_after_close, running) {
	.kind = CLOSE_RUNNING, .rounds = 100,
};

/* A sparse source: the worker opens a file of its own to find holes. */
FIXTURE_VARIANT_ADD(umount_after_close, sparse) {
	.kind = CLOSE_SPARSE, .rounds = 300,
};

FIXTURE_SETUP(umount_after_close)
{
	if (!cr_need_dev(_metadata))
		return;
	snprintf(self->dir, sizeof(self->dir), "/tmp/cr_umount.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
}

FIXTURE_TEARDOWN(umount_after_close)
{
	umount2(self->dir, MNT_DETACH);
	rmdir(self->dir);
}

/*
 * One round: a fresh tmpfs, a source and a job, every descriptor closed,
 * then umount, which must succeed at once.  0, or the step that failed.
 */
static int close_then_umount(const char *dir, enum close_kind kind)
{
	uint64_t size = kind == CLOSE_RUNNING ? 24 * MIB : 256 * KIB;
	struct copy_range_status st;
	int src, dst, job, i;

	if (mount("cr_umount", dir, "tmpfs", 0, "size=64m"))
		return 1;
	src = open_new(dir, "src", O_RDWR);
	dst = open_new(dir, "dst", O_WRONLY);
	if (src < 0 || dst < 0)
		return 2;
	/* Sparse: data at both ends, a hole between (the finder is used). */
	if (pattern_write(src, 0, 16 * KIB, 1, 0) ||
	    pattern_write(src, size - 16 * KIB, 16 * KIB, 1, 0))
		return 3;
	if (kind != CLOSE_SPARSE && pattern_write(src, 0, size, 1, 0))
		return 3;
	job = cr_submit(src, 0, dst, 0, size, 0);
	if (job < 0)
		return 4;
	close(src);
	close(dst);
	if (kind == CLOSE_RUNNING) {
		for (i = 0; i < 2000; i++) {
			if (cr_job_status(job, &st))
				return 5;
			if (st.copied > 0 || st.state != COPY_RANGE_JOB_RUNNING)
				break;
			usleep(1000);
		}
	}
	close(job);
	if (umount(dir))
		return 6;
	return 0;
}

TEST_F_TIMEOUT(umount_after_close, umount_succeeds_at_once, 600)
{
	int i, step = 0;

	for (i = 0; i < variant->rounds && !step; i++)
		step = close_then_umount(self->dir, variant->kind);
	EXPECT_EQ(0, step) TH_LOG("round %d: step %d failed: %s", i, step,
				  strerror(errno));
}

/*
 * SUBMIT and close() in a tight loop from two threads' worth of jobs: each
 * job ends once (its in-flight slot comes back once), so after all of them
 * a full set of slots is still there.
 */
FIXTURE(race) {
	char dir[PATH_MAX];
};

FIXTURE_SETUP(race)
{
	const struct cr_fs tmpfs = CR_FS_TMPFS;

	if (!cr_need_dev(_metadata) || !cr_need_fs(_metadata, &tmpfs))
		return;
	ASSERT_NE(NULL, make_test_dir(FS_TMPFS, self->dir));
}

FIXTURE_TEARDOWN(race)
{
	remove_tree(self->dir);
}

TEST_F_TIMEOUT(race, submit_close_race_ends_each_job_once, 300)
{
	const char *dir = self->dir;
	int src, dst, job, i, held[16], n = 0;

	src = open_new(dir, "src", O_RDWR);
	dst = open_new(dir, "dst", O_WRONLY);
	ASSERT_LE(0, src);
	ASSERT_LE(0, dst);
	ASSERT_EQ(0, pattern_write(src, 0, 64 * KIB, 1, 0));
	for (i = 0; i < 2000; i++) {
		job = cr_submit(src, 0, dst, 0, 64 * KIB, 0);
		ASSERT_LE(0, job) TH_LOG("round %d: %s", i, strerror(errno));
		close(job);
	}
	/*
	 * Every slot is back: 16 long-lived jobs fit (the default limit is
	 * 64 per user), which a double or a missing give-back would upset.
	 */
	ASSERT_EQ(0, pattern_write(src, 0, 64 * MIB, 1, 0));
	for (n = 0; n < 16; n++) {
		held[n] = cr_submit(src, 0, dst, 0, 64 * MIB, 0);
		ASSERT_LE(0, held[n]) TH_LOG("job %d: %s", n, strerror(errno));
	}
	for (i = 0; i < n; i++) {
		cr_job_cancel(held[i]);
		close(held[i]);
	}
	close(src);
	close(dst);
}

TEST_HARNESS_MAIN
