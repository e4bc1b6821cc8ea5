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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "copy_range_helpers.h"
#include "kselftest_harness.h"

#define MODULE_NAME	"copy_range"
#define MODULE_SYSFS	"/sys/module/" MODULE_NAME
#define NOBODY		65534

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

FIXTURE(lc) {
	char dir[PATH_MAX];
	pid_t child;
};

FIXTURE_VARIANT(lc) {
	const char *root;
	unsigned long magic;
};

FIXTURE_VARIANT_ADD(lc, ext4) { .root = FS_EXT4, .magic = EXT4_SUPER_MAGIC };

FIXTURE_SETUP(lc)
{
	self->child = 0;
	if (geteuid())
		SKIP(return, "loading modules needs root");
	if (!module_ko() || access(module_ko(), R_OK))
		SKIP(return, "COPY_RANGE_KO does not name the module's .ko");
	if (!fs_mounted(variant->root, variant->magic))
		SKIP(return, "%s is not mounted", variant->root);
	ASSERT_NE(NULL, mod_state);
	ASSERT_TRUE(module_loaded()) TH_LOG("the module is not loaded");
	ASSERT_NE(NULL, make_test_dir(variant->root, self->dir));
	/* Like the filesystem roots: anyone may create files here. */
	ASSERT_EQ(0, chmod(self->dir, 01777));
}

FIXTURE_TEARDOWN_PARENT(lc)
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
	if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
		_exit(100);
	if (geteuid() != NOBODY || !setuid(0))
		_exit(101);
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

TEST_F_TIMEOUT(lc, per_user_limit, 180)
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
	ASSERT_EQ(0, WEXITSTATUS(status))
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
TEST_F_TIMEOUT(lc, slot_free_once_job_ended, 180)
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
		ASSERT_EQ(COPY_RANGE_JOB_DONE, st.state);
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
TEST_F_TIMEOUT(lc, rmmod_busy_while_job_open, 180)
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
	ASSERT_EQ(COPY_RANGE_JOB_DONE, st.state);
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
	ASSERT_EQ(COPY_RANGE_JOB_DONE, st.state);

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

TEST_F_TIMEOUT(lc, default_limit, 180)
{
	int status, src;
	pid_t pid;

	src = make_long_file(self->dir, "src");
	ASSERT_LE(0, src);
	close(src);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(default_limit_steps(self->dir));
	self->child = pid;
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	self->child = 0;
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("child status %#x", status);
	ASSERT_EQ(0, WEXITSTATUS(status))
		TH_LOG("as nobody, step %d failed (see default_limit_steps())",
		       WEXITSTATUS(status));
}

TEST_HARNESS_MAIN
