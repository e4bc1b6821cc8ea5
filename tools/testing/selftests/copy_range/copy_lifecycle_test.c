// SPDX-License-Identifier: GPL-2.0
/*
 * Jobs and the module's lifetime: the per-user limit on jobs in flight
 * (module parameter max_jobs_per_user, default 64, read at load time), and
 * unloading, which a job descriptor prevents for as long as it is open.
 *
 * These tests unload and reload the module (rmmod, insmod $COPY_RANGE_KO
 * with parameters), so they need root and COPY_RANGE_KO, which the test VM
 * sets.  Whatever happens, the module is loaded again with its defaults
 * when a test ends: in the fixture's teardown, which runs in the parent of
 * the test process, and as a last resort when this program exits.
 *
 * Jobs that stay busy long enough are copies of a large sparse source into
 * an equally large sparse destination: below the destination's EOF every
 * byte is copied, zeros included, so such a job takes many seconds, yet
 * nothing has to be written to set it up.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cr_fixture.h"

#define MODULE_NAME	"copy_range"
#define MODULE_SYSFS	"/sys/module/" MODULE_NAME

/* The source and destinations of jobs that run for a long time. */
#define LONG_SIZE	(1024 * MIB)

#define DEFAULT_MAX_JOBS	64

/*
 * Shared by every process of this program: whether the module may be
 * loaded with other parameters than its defaults, or not at all.
 */
struct module_state {
	bool dirty;
};

static struct module_state *mod_state;
static pid_t main_pid;

/* Runs @argv (looked up in PATH) quietly; its exit status, or -1. */
static int run_quiet(const char *const argv[])
{
	int status, null;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		null = open("/dev/null", O_WRONLY);
		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static const char *module_ko(void)
{
	const char *ko = getenv("COPY_RANGE_KO");

	return ko && ko[0] ? ko : NULL;
}

static bool module_loaded(void)
{
	return !access(MODULE_SYSFS, F_OK);
}

static int module_unload(void)
{
	const char *const argv[] = { "rmmod", MODULE_NAME, NULL };

	mod_state->dirty = true;
	return run_quiet(argv);
}

/* insmod with one parameter, or none. */
static int module_load(const char *param)
{
	const char *const argv[] = { "insmod", module_ko(), param, NULL };

	mod_state->dirty = true;
	return run_quiet(argv);
}

/*
 * Loads the module with its defaults, unloading it first if it is loaded:
 * what every test leaves behind.  Jobs that are still ending keep it
 * busy for a moment, hence the retries.  0, or -1.
 */
static int module_restore(void)
{
	int i, ret = -1;

	for (i = 0; i < 100 && module_loaded(); i++) {
		ret = module_unload();
		if (!ret)
			break;
		usleep(100000);
	}
	if (module_loaded()) {
		fprintf(stderr, "# rmmod %s: exit status %d, %d tries\n",
			MODULE_NAME, ret, i);
		return -1;
	}
	ret = module_load(NULL);
	if (ret || !module_loaded()) {
		fprintf(stderr, "# insmod %s: exit status %d\n", module_ko(),
			ret);
		return -1;
	}
	mod_state->dirty = false;
	return 0;
}

static void restore_at_exit(void)
{
	if (getpid() != main_pid || !mod_state || !module_ko())
		return;
	if (mod_state->dirty || !module_loaded()) {
		fprintf(stderr, "# restoring the module at exit\n");
		if (module_restore())
			fprintf(stderr, "# could not load %s again\n",
				module_ko());
	}
}

static void __attribute__((constructor)) lifecycle_init(void)
{
	main_pid = getpid();
	mod_state = mmap(NULL, sizeof(*mod_state), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mod_state == MAP_FAILED) {
		mod_state = NULL;
		return;
	}
	atexit(restore_at_exit);
}

FIXTURE(lifecycle) {
	char dir[PATH_MAX];
	pid_t child;
};

FIXTURE_VARIANT(lifecycle) {
	struct cr_fs fs;
};

FIXTURE_VARIANT_ADD(lifecycle, ext4) { .fs = CR_FS_EXT4 };

FIXTURE_SETUP(lifecycle)
{
	self->child = 0;
	if (geteuid())
		CR_SKIP_OR_FAIL(return, "loading modules needs root");
	if (!module_ko() || access(module_ko(), R_OK))
		CR_SKIP_OR_FAIL(return,
				"COPY_RANGE_KO does not name the module's .ko");
	if (!cr_need_fs(_metadata, &variant->fs))
		return;
	ASSERT_NE(NULL, mod_state);
	ASSERT_TRUE(module_loaded()) TH_LOG("the module is not loaded");
	ASSERT_NE(NULL, make_test_dir(variant->fs.root, self->dir));
	/* Like the filesystem roots: anyone may create files here. */
	ASSERT_EQ(0, chmod(self->dir, 01777));
}

FIXTURE_TEARDOWN_PARENT(lifecycle)
{
	if (self->child > 0) {
		kill(self->child, SIGKILL);
		waitpid(self->child, NULL, 0);
	}
	/* module_restore() says what failed, if anything. */
	if (mod_state && (mod_state->dirty || !module_loaded()))
		EXPECT_EQ(0, module_restore());
	remove_tree(self->dir);
}

/* A sparse file of LONG_SIZE bytes, @dir/@name, readable by everyone. */
static int make_long_file(const char *dir, const char *name)
{
	int fd = open_new(dir, name, O_RDWR);

	if (fd >= 0 && (fchmod(fd, 0644) || ftruncate(fd, LONG_SIZE))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A job that runs for a long time, from @src into a new destination. */
static int long_job(int dev, int src, const char *dir, const char *name)
{
	int dst = make_long_file(dir, name);
	int job;

	if (dst < 0)
		return -1;
	job = cr_submit_dev(dev, src, 0, dst, 0, LONG_SIZE, 0);
	close(dst);
	return job;
}

static bool is_running(int job)
{
	struct copy_range_status st;

	return !cr_job_status(job, &st) && cr_status_sane(&st) &&
	       st.state == COPY_RANGE_JOB_RUNNING;
}

/* Cancels @job and waits for it: true if it ended CANCELLED. */
static bool cancel_and_wait(int job)
{
	struct copy_range_status st;

	return !cr_job_cancel(job) && !cr_job_wait(job, &st) &&
	       st.state == COPY_RANGE_JOB_CANCELLED;
}

static void drop_to_nobody(void)
{
	int ret = cr_drop_to_nobody();

	if (ret)
		_exit(99 + ret);
}

#define LIMIT		4
#define LIMIT_PARAM	"max_jobs_per_user=4"

/*
 * As nobody, with max_jobs_per_user=LIMIT: LIMIT long jobs, then EAGAIN
 * (for SUBMIT and SUBMITV alike, while synchronous copies still work).
 * Tells the parent (@to_parent), which checks that root is not limited by
 * nobody's jobs, and waits for it (@from_parent).  Then a job that ended,
 * by a cancel or by closing its descriptor, frees its slot at once.
 * Returns 0, or the number of the step that went wrong.
 */
static int limit_steps(const char *dir, int to_parent, int from_parent)
{
	struct copy_range_seg seg = { .len = 4096 };
	struct copy_range_vec v;
	int dev, src, small, job[LIMIT], i;
	char c = 'A';

	drop_to_nobody();
	dev = open(CR_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return 1;
	src = open_at(dir, "src", O_RDONLY);
	if (src < 0)
		return 2;
	for (i = 0; i < LIMIT; i++) {
		char name[32];

		snprintf(name, sizeof(name), "nobody_dst%d", i);
		job[i] = long_job(dev, src, dir, name);
		if (job[i] < 0)
			return 3;
	}
	for (i = 0; i < LIMIT; i++)
		if (!is_running(job[i]))
			return 4;
	if (long_job(dev, src, dir, "nobody_extra") != -1 || errno != EAGAIN)
		return 5;
	small = open_new(dir, "nobody_small", O_RDWR);
	if (small < 0)
		return 6;
	v = cr_vec(src, small, 0, &seg, 1);
	if (syscall(SYS_ioctl, dev, COPY_RANGE_IOC_SUBMITV, &v) != -1 ||
	    errno != EAGAIN)
		return 7;
	if (copy_range_dev(dev, src, 0, small, 0, 4096, 0) != 4096)
		return 8;

	if (write(to_parent, &c, 1) != 1 || read(from_parent, &c, 1) != 1)
		return 9;

	/* A cancelled job that has ended holds no slot. */
	if (!cancel_and_wait(job[0]))
		return 10;
	close(job[0]);
	job[0] = long_job(dev, src, dir, "nobody_after_cancel");
	if (job[0] < 0)
		return 11;
	if (long_job(dev, src, dir, "nobody_extra") != -1 || errno != EAGAIN)
		return 12;
	/* Nor does one whose descriptor was closed (close waits for it). */
	if (close(job[1]))
		return 13;
	job[1] = long_job(dev, src, dir, "nobody_after_close");
	if (job[1] < 0)
		return 14;
	if (long_job(dev, src, dir, "nobody_extra") != -1 || errno != EAGAIN)
		return 15;

	for (i = 0; i < LIMIT; i++)
		if (!cancel_and_wait(job[i]))
			return 16;
	return 0;
}

TEST_F_TIMEOUT(lifecycle, per_user_limit, 180)
{
	int to_parent[2], to_child[2], status, src, dev, dst, job;
	pid_t pid;
	char c;

	ASSERT_EQ(0, module_unload());
	ASSERT_EQ(0, module_load(LIMIT_PARAM));
	src = make_long_file(self->dir, "src");
	ASSERT_LE(0, src);
	ASSERT_EQ(0, pipe2(to_parent, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(to_child, O_CLOEXEC));

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(to_parent[0]);
		close(to_child[1]);
		_exit(limit_steps(self->dir, to_parent[1], to_child[0]));
	}
	/* For the teardown (self is shared with it, and with the child). */
	self->child = pid;
	close(to_parent[1]);
	close(to_child[0]);

	/* nobody is at its limit; root is somebody else. */
	if (read(to_parent[0], &c, 1) == 1) {
		dev = open(CR_DEVICE_PATH, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, dev);
		dst = make_long_file(self->dir, "root_dst");
		ASSERT_LE(0, dst);
		job = cr_submit_dev(dev, src, 0, dst, 0, LONG_SIZE, 0);
		ASSERT_LE(0, job) TH_LOG("root's SUBMIT: %s", strerror(errno));
		ASSERT_TRUE(is_running(job));
		ASSERT_TRUE(cancel_and_wait(job));
		close(job);
		close(dst);
		close(dev);
		ASSERT_EQ(1, write(to_child[1], &c, 1));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	self->child = 0;
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("child status %#x", status);
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("as nobody, step %d failed (see limit_steps())",
		       WEXITSTATUS(status));
	close(to_parent[0]);
	close(to_child[1]);
	close(src);
}

/*
 * With max_jobs_per_user=1, the slot of a job is free again as soon as
 * the job is seen to have ended, by WAIT or by poll(2): a submit right
 * after that must never be EAGAIN.
 */
TEST_F_TIMEOUT(lifecycle, slot_free_once_job_ended, 180)
{
	const int rounds = 200;
	int dev, src, dst, i, ret, eagain = 0, first = -1;

	ASSERT_EQ(0, module_unload());
	ASSERT_EQ(0, module_load("max_jobs_per_user=1"));
	dev = open(CR_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dev);
	src = open_new(self->dir, "src", O_RDWR);
	dst = open_new(self->dir, "dst", O_RDWR);
	ASSERT_LE(0, src);
	ASSERT_LE(0, dst);
	ASSERT_EQ(0, pattern_write(src, 0, 4096, 0x5eed, 0));

	for (i = 0; i < rounds; i++) {
		struct copy_range_status st;
		int job = cr_submit_dev(dev, src, 0, dst, i % 4096, 1, 0);

		if (job < 0) {
			ASSERT_EQ(EAGAIN, errno) TH_LOG("round %d: %s", i,
							strerror(errno));
			if (first < 0)
				first = i;
			eagain++;
			/* Give the worker time to let go, and go on. */
			usleep(100000);
			continue;
		}
		/* Seen to end by poll(2) or by WAIT, alternately. */
		if (i % 2)
			ret = poll_in(job, 10000) == POLLIN ? 0 : -1;
		else
			ret = cr_job_wait(job, &st);
		ASSERT_EQ(0, ret) TH_LOG("round %d", i);
		ASSERT_EQ(0, cr_job_status(job, &st));
		EXPECT_EQ(COPY_RANGE_JOB_DONE, st.state);
		ASSERT_EQ(0, close(job));
	}
	ASSERT_EQ(0, eagain)
		TH_LOG("%d of %d submits right after the previous job ended were EAGAIN (first in round %d)",
		       eagain, rounds, first);
	close(src);
	close(dst);
	close(dev);
}

/*
 * A job descriptor holds the module: rmmod fails while one is open,
 * running or ended, and the jobs go on as if nothing happened; once the
 * last one is closed, rmmod succeeds.
 */
TEST_F_TIMEOUT(lifecycle, rmmod_busy_while_job_open, 180)
{
	struct copy_range_status st;
	int dev, src, small_src, small_dst, done_job, running_job;

	dev = open(CR_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dev);
	src = make_long_file(self->dir, "src");
	ASSERT_LE(0, src);
	small_src = open_new(self->dir, "small_src", O_RDWR);
	small_dst = open_new(self->dir, "small_dst", O_RDWR);
	ASSERT_LE(0, small_src);
	ASSERT_LE(0, small_dst);
	ASSERT_EQ(0, pattern_write(small_src, 0, 100000, 0x5eed, 0));
	done_job = cr_submit_dev(dev, small_src, 0, small_dst, 0, 100000, 0);
	ASSERT_LE(0, done_job);
	ASSERT_EQ(0, cr_job_wait(done_job, &st));
	EXPECT_EQ(COPY_RANGE_JOB_DONE, st.state);
	running_job = long_job(dev, src, self->dir, "dst");
	ASSERT_LE(0, running_job);
	/* Only the job descriptors are left. */
	close(dev);
	close(src);
	close(small_src);
	close(small_dst);

	ASSERT_NE(0, module_unload());
	ASSERT_TRUE(module_loaded());
	ASSERT_TRUE(is_running(running_job));
	ASSERT_EQ(0, cr_job_status(done_job, &st));
	EXPECT_EQ(COPY_RANGE_JOB_DONE, st.state);

	/* Closing a running job stops it; the ended one still holds on. */
	ASSERT_EQ(0, close(running_job));
	ASSERT_NE(0, module_unload());
	ASSERT_TRUE(module_loaded());

	ASSERT_EQ(0, close(done_job));
	ASSERT_EQ(0, module_unload());
	ASSERT_FALSE(module_loaded());
	ASSERT_EQ(-1, access(CR_DEVICE_PATH, F_OK));

	/* And back, usable. */
	ASSERT_EQ(0, module_restore());
	dev = open(CR_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dev);
	close(dev);
}

/*
 * The default limit: 64 jobs in flight for one user, the 65th is EAGAIN.
 * Returns 0, or the number of the step that went wrong.
 */
static int default_limit_steps(const char *dir)
{
	int dev, src, job[DEFAULT_MAX_JOBS], i;

	drop_to_nobody();
	dev = open(CR_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return 1;
	src = open_at(dir, "src", O_RDONLY);
	if (src < 0)
		return 2;
	for (i = 0; i < DEFAULT_MAX_JOBS; i++) {
		char name[32];

		snprintf(name, sizeof(name), "dst%d", i);
		job[i] = long_job(dev, src, dir, name);
		if (job[i] < 0)
			return 3;
	}
	if (long_job(dev, src, dir, "extra") != -1 || errno != EAGAIN)
		return 4;
	for (i = 0; i < DEFAULT_MAX_JOBS; i++)
		if (cr_job_cancel(job[i]))
			return 5;
	for (i = 0; i < DEFAULT_MAX_JOBS; i++)
		if (close(job[i]))
			return 6;
	/* All ended and closed: the user may submit again. */
	i = long_job(dev, src, dir, "again");
	if (i < 0)
		return 7;
	close(i);
	return 0;
}

TEST_F_TIMEOUT(lifecycle, default_limit, 180)
{
	int src;

	src = make_long_file(self->dir, "src");
	ASSERT_LE(0, src);
	close(src);
	cr_expect_steps(default_limit_steps, self->dir, &self->child);
}

/* The owner of the user namespace in the sub-uid test, and its ids. */
#define NS_OWNER	1000
#define SUBUID_BASE	100000
#define SUBUIDS		4

/*
 * One id of the namespace: becomes @uid there (kuid SUBUID_BASE + @uid)
 * and submits long jobs until EAGAIN.  Writes how many it got to @report,
 * then holds them until @hold closes.  Exits 0, or the step that failed.
 */
static int subuid_steps(const char *dir, uid_t uid, int report, int hold)
{
	int dev, src, jobs = 0, job;
	char name[32], c;

	if (setresgid(uid, uid, uid) || setresuid(uid, uid, uid))
		return 1;
	dev = open(CR_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	src = open_at(dir, "src", O_RDONLY);
	if (dev < 0 || src < 0)
		return 2;
	for (;;) {
		snprintf(name, sizeof(name), "sub%u_%d", uid, jobs);
		job = long_job(dev, src, dir, name);
		if (job < 0)
			break;
		jobs++;
	}
	if (errno != EAGAIN)
		return 3;
	if (write(report, &jobs, sizeof(jobs)) != sizeof(jobs))
		return 4;
	/* Hold the jobs until the namespace's creator is done. */
	if (read(hold, &c, 1) < 0)
		return 5;
	return 0;
}

/*
 * The namespace's creator: NS_OWNER in the initial namespace, then a new
 * user namespace whose ids 0..SUBUIDS-1 the parent maps to SUBUID_BASE...
 * One child per id, in turn, each submitting until EAGAIN.  The counts go
 * to @report.  0, or the step that failed.
 */
static int ns_owner_steps(const char *dir, int ready, int mapped, int report)
{
	int hold[2], i, status;
	pid_t kids[SUBUIDS];
	char c = 'u';

	if (setgroups(0, NULL) || setresgid(NS_OWNER, NS_OWNER, NS_OWNER) ||
	    setresuid(NS_OWNER, NS_OWNER, NS_OWNER))
		return 10;
	if (unshare(CLONE_NEWUSER))
		return 11;
	if (write(ready, &c, 1) != 1 || read(mapped, &c, 1) != 1)
		return 12;
	if (pipe(hold))
		return 13;
	for (i = 0; i < SUBUIDS; i++) {
		kids[i] = fork();
		if (kids[i] < 0)
			return 14;
		if (kids[i] == 0) {
			close(hold[1]);
			_exit(subuid_steps(dir, i, report, hold[0]));
		}
		/* One at a time: each finds what the ones before it left. */
		for (;;) {
			char name[16], path[PATH_MAX];
			struct stat st;

			if (waitpid(kids[i], &status, WNOHANG) == kids[i])
				return 15;
			snprintf(name, sizeof(name), ".sub%d", i);
			if (path_join(path, dir, name))
				return 15;
			if (!stat(path, &st))
				break;
			usleep(10000);
		}
	}
	close(hold[1]);
	for (i = 0; i < SUBUIDS; i++) {
		if (waitpid(kids[i], &status, 0) != kids[i] ||
		    !WIFEXITED(status) || WEXITSTATUS(status))
			return 16;
	}
	return 0;
}

/*
 * Ids a user maps in a user namespace of its own (subordinate ids) share
 * that user's budget: with max_jobs_per_user=LIMIT, all of them together
 * get LIMIT jobs, not LIMIT each.
 */
TEST_F_TIMEOUT(lifecycle, subuids_share_their_owners_limit, 180)
{
	int ready[2], mapped[2], report[2], counts[SUBUIDS], i, total = 0;
	int status, src;
	char path[64], map[64], c;
	pid_t pid;

	ASSERT_EQ(0, module_unload());
	ASSERT_EQ(0, module_load(LIMIT_PARAM));
	src = make_long_file(self->dir, "src");
	ASSERT_LE(0, src);
	close(src);
	ASSERT_EQ(0, pipe2(ready, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(mapped, O_CLOEXEC));
	ASSERT_EQ(0, pipe(report));

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(ns_owner_steps(self->dir, ready[1], mapped[0],
				     report[1]));
	self->child = pid;
	close(report[1]);
	ASSERT_EQ(1, read(ready[0], &c, 1)) TH_LOG("the child did not unshare");
	snprintf(map, sizeof(map), "0 %d %d\n", SUBUID_BASE, SUBUIDS);
	snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
	ASSERT_EQ(0, write_file(path, map)) TH_LOG("%s: %s", path,
						   strerror(errno));
	snprintf(path, sizeof(path), "/proc/%d/gid_map", pid);
	ASSERT_EQ(0, write_file(path, map)) TH_LOG("%s: %s", path,
						   strerror(errno));
	ASSERT_EQ(1, write(mapped[1], &c, 1));

	for (i = 0; i < SUBUIDS; i++) {
		char name[16];
		int fd;

		ASSERT_EQ((ssize_t)sizeof(int),
			  read(report[0], &counts[i], sizeof(int)))
			TH_LOG("no count from id %d", i);
		total += counts[i];
		/* Lets the next id go. */
		snprintf(name, sizeof(name), ".sub%d", i);
		fd = open_new(self->dir, name, O_WRONLY);
		ASSERT_LE(0, fd);
		close(fd);
	}
	EXPECT_EQ(LIMIT, total)
		TH_LOG("jobs per sub-uid: %d %d %d %d", counts[0], counts[1],
		       counts[2], counts[3]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	self->child = 0;
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("child status %#x (step %d)", status,
		       WEXITSTATUS(status));
}

/*
 * max_jobs bounds every user's jobs together: with max_jobs=6 and 4 per
 * user, root gets 4 and nobody 2.
 */
TEST_F_TIMEOUT(lifecycle, global_limit, 180)
{
	int dev, src, jobs[8], n = 0, i, status;
	pid_t pid;

	ASSERT_EQ(0, module_unload());
	ASSERT_EQ(0, module_load("max_jobs_per_user=4 max_jobs=6"));
	dev = open(CR_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dev);
	src = make_long_file(self->dir, "src");
	ASSERT_LE(0, src);
	for (n = 0; n < 8; n++) {
		char name[32];

		snprintf(name, sizeof(name), "root%d", n);
		jobs[n] = long_job(dev, src, self->dir, name);
		if (jobs[n] < 0)
			break;
	}
	EXPECT_EQ(4, n);
	EXPECT_EQ(EAGAIN, errno);

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int mine = 0, job;

		drop_to_nobody();
		for (;;) {
			char name[32];

			snprintf(name, sizeof(name), "nobody%d", mine);
			job = long_job(dev, src, self->dir, name);
			if (job < 0)
				break;
			mine++;
		}
		_exit(errno == EAGAIN ? mine : 100);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(2, WEXITSTATUS(status));
	for (i = 0; i < n; i++) {
		cr_job_cancel(jobs[i]);
		close(jobs[i]);
	}
	close(src);
	close(dev);
}

/*
 * How far a job may move across a freeze: the chunks (range.rs: CHUNK)
 * that ran while user space froze and before the workqueue did; a step
 * ends at its next chunk once the freezer is under way (job.rs).
 */
#define FROZEN_MOVE_MAX	(4 * CR_CHUNK)
#define FREEZE_MIN_S	10
#define FREEZE_MAX_S	60

/*
 * Jobs do not run while the system is frozen (the job queue is freezable
 * and a job ends its step at the next chunk when a freezer starts): across
 * a suspend-to-idle with pm_test=freezer, which holds everything frozen for
 * a while, a running job moves at most FROZEN_MOVE_MAX, whatever its step.
 * A queue the freezer ignored would copy at full speed meanwhile: the
 * freeze lasts long enough for a running job to copy two and a half times
 * that at the rate measured first (the debug kernel under TCG writes a few
 * MB/s), between FREEZE_MIN_S and FREEZE_MAX_S.  After the thaw the job
 * goes on.
 */
TEST_F_TIMEOUT(lifecycle, jobs_pause_while_frozen, 300)
{
	struct copy_range_status st0, st1, st;
	double t0, t1, rate;
	int dev, src, job, freeze_s;
	char delay[16];

	if (access("/sys/power/pm_test", W_OK))
		CR_SKIP_OR_FAIL(return,
				"no /sys/power/pm_test (CONFIG_PM_DEBUG)");
	dev = open(CR_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dev);
	src = make_long_file(self->dir, "src");
	ASSERT_LE(0, src);
	job = long_job(dev, src, self->dir, "dst");
	ASSERT_LE(0, job);

	/* How fast it goes when nothing stops it. */
	ASSERT_EQ(0, cr_job_status(job, &st0));
	t0 = now_s();
	sleep(2);
	ASSERT_EQ(0, cr_job_status(job, &st1));
	rate = (st1.copied - st0.copied) / (now_s() - t0);
	ASSERT_EQ(COPY_RANGE_JOB_RUNNING, st1.state)
		TH_LOG("the job ended before the test could freeze it");
	ASSERT_LT(0, rate);
	freeze_s = (int)(2.5 * FROZEN_MOVE_MAX / rate) + 1;
	if (freeze_s < FREEZE_MIN_S)
		freeze_s = FREEZE_MIN_S;
	/* It must be able to tell a paused job from a running one. */
	ASSERT_GE(FREEZE_MAX_S, freeze_s)
		TH_LOG("the job copies %.0f bytes/s: too slow to tell", rate);

	snprintf(delay, sizeof(delay), "%d", freeze_s);
	ASSERT_EQ(0, write_file("/sys/module/suspend/parameters/pm_test_delay",
				delay));
	ASSERT_EQ(0, write_file("/sys/power/pm_test", "freezer"));
	/*
	 * No sync before the freeze: the job would go on copying while the
	 * kernel wrote back what it had already copied.
	 */
	ASSERT_EQ(0, write_file("/sys/power/sync_on_suspend", "0"));
	ASSERT_EQ(0, cr_job_status(job, &st0));
	t0 = now_s();
	EXPECT_EQ(0, write_file("/sys/power/state", "freeze"))
		TH_LOG("the freeze failed: %s", strerror(errno));
	t1 = now_s();
	ASSERT_EQ(0, cr_job_status(job, &st1));
	write_file("/sys/power/pm_test", "none");
	write_file("/sys/power/sync_on_suspend", "1");
	TH_LOG("frozen for %.1f s: the job moved %ju bytes (%.0f bytes/s before)",
	       t1 - t0, (uintmax_t)(st1.copied - st0.copied), rate);
	EXPECT_LE(freeze_s, t1 - t0);
	EXPECT_GE((uint64_t)FROZEN_MOVE_MAX, st1.copied - st0.copied);

	/* And it goes on: more bytes within ten chunks' time. */
	t0 = now_s();
	do {
		usleep(200000);
		ASSERT_EQ(0, cr_job_status(job, &st));
	} while (st.copied == st1.copied && now_s() - t0 < 10.0 * CR_CHUNK / rate);
	EXPECT_LT(st1.copied, st.copied) TH_LOG("no progress after the thaw");
	if (st.state == COPY_RANGE_JOB_RUNNING)
		EXPECT_TRUE(cancel_and_wait(job));
	close(job);
	close(src);
	close(dev);
}

#define CGROUP_ROOT	"/sys/fs/cgroup"
#define CGROUP_TEST	CGROUP_ROOT "/copy_range_test"
#define PIN_JOBS	4000

static uint64_t meminfo_kib(const char *key)
{
	char line[128];
	uint64_t v = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			sscanf(line + strlen(key), ": %" SCNu64, &v);
	fclose(f);
	return v;
}

static uint64_t read_u64_file(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return UINT64_MAX;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtoull(buf, NULL, 10) : UINT64_MAX;
}

/*
 * In a memory cgroup: PIN_JOBS vectors of COPY_RANGE_VEC_MAX_SEGS empty
 * segments, each a job that ends at once, every descriptor kept.  Writes
 * how many it submitted and the errno that stopped it, then waits.
 */
static int pin_steps(const char *dir, int report, int hold)
{
	static struct copy_range_seg segs[COPY_RANGE_VEC_MAX_SEGS];
	struct rlimit nofile = { PIN_JOBS + 64, PIN_JOBS + 64 };
	int src, dst, i, result[2] = { 0, 0 };
	struct copy_range_vec v;
	char c;

	if (write_file(CGROUP_TEST "/cgroup.procs", "0"))
		return 1;
	if (setrlimit(RLIMIT_NOFILE, &nofile))
		return 2;
	src = open_new(dir, "pin_src", O_RDWR);
	dst = open_new(dir, "pin_dst", O_RDWR);
	if (src < 0 || dst < 0)
		return 3;
	v = cr_vec(src, dst, 0, segs, COPY_RANGE_VEC_MAX_SEGS);
	for (i = 0; i < PIN_JOBS; i++) {
		if (cr_submitv(&v) < 0) {
			result[1] = errno;
			break;
		}
	}
	result[0] = i;
	if (write(report, result, sizeof(result)) != sizeof(result))
		return 4;
	if (read(hold, &c, 1) < 0)
		return 5;
	return 0;
}

/*
 * What a job that has ended keeps until its descriptor is closed is
 * charged to the submitter's memory cgroup, and it is small: the segments
 * and the files are gone.  PIN_JOBS ended vector jobs must not pin memory
 * that the cgroup does not see (each vector alone is 32 KiB).
 */
TEST_F_TIMEOUT(lifecycle, ended_jobs_pin_only_charged_memory, 300)
{
	int report[2], hold[2], result[2], status;
	uint64_t avail_before, avail_after, charged, unaccounted;
	pid_t pid;

	if (access(CGROUP_ROOT "/cgroup.controllers", F_OK))
		ASSERT_EQ(0, mount("cgroup2", CGROUP_ROOT, "cgroup2", 0, NULL))
			TH_LOG("mount cgroup2: %s", strerror(errno));
	ASSERT_EQ(0, write_file(CGROUP_ROOT "/cgroup.subtree_control",
				"+memory"));
	rmdir(CGROUP_TEST);
	ASSERT_EQ(0, mkdir(CGROUP_TEST, 0755));
	ASSERT_EQ(0, write_file(CGROUP_TEST "/memory.max", "256M"));
	ASSERT_EQ(0, pipe(report));
	ASSERT_EQ(0, pipe(hold));

	avail_before = meminfo_kib("MemAvailable");
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(hold[1]);
		_exit(pin_steps(self->dir, report[1], hold[0]));
	}
	self->child = pid;
	close(hold[0]);
	ASSERT_EQ((ssize_t)sizeof(result), read(report[0], result, sizeof(result)));
	/* Let the last jobs end. */
	sleep(2);
	avail_after = meminfo_kib("MemAvailable");
	charged = read_u64_file(CGROUP_TEST "/memory.current") / 1024;
	unaccounted = avail_before > avail_after + charged ?
		      avail_before - avail_after - charged : 0;
	TH_LOG("%d jobs (stopped by: %s); %" PRIu64 " KiB charged, %" PRIu64
	       " KiB more used outside the cgroup", result[0],
	       result[1] ? strerror(result[1]) : "nothing", charged,
	       unaccounted);
	EXPECT_TRUE(result[1] == 0 || result[1] == ENOMEM ||
		    result[1] == EMFILE);
	/* Pinned outside the cgroup: noise, not 32 KiB a job. */
	EXPECT_GT((uint64_t)48 * 1024, unaccounted);
	close(hold[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	self->child = 0;
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("child status %#x", status);
	EXPECT_EQ(0, rmdir(CGROUP_TEST));
}

TEST_HARNESS_MAIN
