/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kselftest side of the copy_range tests: the test filesystems as
 * fixture variants (cr_fs_variants.h gives a fixture all four), the
 * preconditions every test has (a filesystem mounted, the device there),
 * the fixture skeleton most tests share (a source holding the data
 * pattern and an empty destination, in fresh directories on the
 * filesystems under test), and checks that several tests make.
 *
 * A missing precondition is a SKIP on a developer's machine, which may
 * lack a scratch filesystem or the module, and a FAIL in the test VM
 * (tools/vm/guest-init sets COPY_RANGE_VM=1), which promises all of them:
 * there a test that cannot run is a broken run, not a pass.
 *
 * Header-only, since everything here works through the harness's macros;
 * include it instead of kselftest_harness.h.
 */
#ifndef CR_FIXTURE_H
#define CR_FIXTURE_H

#include <grp.h>
#include <sys/wait.h>

#include "copy_range_helpers.h"
#include "kselftest_harness.h"

/* The unprivileged user some tests drop to. */
#define NOBODY		65534

/*
 * Makes this process NOBODY for good, supplementary groups dropped: 0, 1
 * when a step of that failed, 2 when it is not NOBODY afterwards or can
 * become root again.  For a child process, see cr_expect_steps().
 */
static inline int cr_drop_to_nobody(void)
{
	if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
		return 1;
	if (geteuid() != NOBODY || !setuid(0))
		return 2;
	return 0;
}

/* A test filesystem: where it is mounted, its f_type, and what it can do. */
struct cr_fs {
	const char *root;
	unsigned long magic;
	const char *name;
	bool can_share;		/* reflinks: btrfs, xfs with reflink=1 */
	bool has_fiemap;	/* all but tmpfs */
};

/* The scratch filesystems of the test VM, as initializers. */
#define CR_FS_BTRFS	{ FS_BTRFS, BTRFS_SUPER_MAGIC, "btrfs", true, true }
#define CR_FS_XFS	{ FS_XFS, XFS_SUPER_MAGIC, "xfs", true, true }
#define CR_FS_EXT4	{ FS_EXT4, EXT4_SUPER_MAGIC, "ext4", false, true }
#define CR_FS_TMPFS	{ FS_TMPFS, TMPFS_MAGIC, "tmpfs", false, false }

/*
 * The harness's FIXTURE_VARIANT() and FIXTURE_VARIANT_ADD() paste their
 * arguments as they are; these expand them first, so that the fixture's
 * name may come from a macro (cr_fs_variants.h).
 */
#define CR_FIXTURE_VARIANT(fixture) FIXTURE_VARIANT(fixture)
#define CR_FIXTURE_VARIANT_ADD(fixture, name) FIXTURE_VARIANT_ADD(fixture, name)

/* True in the test VM, where every precondition must hold. */
static inline bool cr_in_vm(void)
{
	const char *vm = getenv("COPY_RANGE_VM");

	return vm && !strcmp(vm, "1");
}

/*
 * Like SKIP(), for a precondition the test VM promises: there the test
 * fails instead, with the same reason in its log.
 */
#define CR_SKIP_OR_FAIL(statement, fmt, ...) do { \
	if (cr_in_vm()) { \
		TH_LOG("in the test VM, so a failure: " fmt, ##__VA_ARGS__); \
		_metadata->exit_code = KSFT_FAIL; \
		statement; \
	} \
	SKIP(statement, fmt, ##__VA_ARGS__); \
} while (0)

/*
 * The preconditions, each true when it holds; otherwise the test is
 * stopped (SKIP or FAIL, see above) and the caller returns at once.
 */
static inline bool cr_need_fs(struct __test_metadata *_metadata,
			      const struct cr_fs *fs)
{
	if (!fs_mounted(fs->root, fs->magic))
		CR_SKIP_OR_FAIL(return false, "no %s mounted on %s",
				fs->name, fs->root);
	return true;
}

static inline bool cr_need_dev(struct __test_metadata *_metadata)
{
	if (cr_dev() < 0)
		CR_SKIP_OR_FAIL(return false, "open %s: %s", CR_DEVICE_PATH,
				strerror(errno));
	return true;
}

#define CR_DEBUGFS_FS	{ CR_DEBUGFS, DEBUGFS_MAGIC, "debugfs", false, false }

/* debugfs, the device, and a counters table that parses. */
static inline bool cr_need_stats(struct __test_metadata *_metadata)
{
	const struct cr_fs debugfs = CR_DEBUGFS_FS;
	struct cr_stats st;

	if (!cr_need_fs(_metadata, &debugfs) || !cr_need_dev(_metadata))
		return false;
	ASSERT_EQ(0, cr_stats_read(&st))
		TH_LOG("%s: %s", CR_STATS_PATH, strerror(errno));
	return true;
}

/*
 * The fixture skeleton: a source and a destination in fresh directories,
 * one on each filesystem under test (the same directory when both are
 * the same filesystem).
 */
struct cr_env {
	char src_dir[PATH_MAX];
	char dst_dir[PATH_MAX];
	int src_fd;	/* src_dir/src, O_RDWR */
	int dst_fd;	/* dst_dir/dst, O_RDWR, empty */
};

/*
 * Checks that @src and @dst are mounted and the device opens, then makes
 * the directories and the files, the source holding @len bytes of the
 * pattern from @seed.  False when the test was stopped for a missing
 * precondition; anything else that goes wrong fails an ASSERT.
 */
static inline bool cr_env_setup(struct __test_metadata *_metadata,
				struct cr_env *e, const struct cr_fs *src,
				const struct cr_fs *dst, uint64_t len,
				uint64_t seed)
{
	memset(e, 0, sizeof(*e));
	e->src_fd = -1;
	e->dst_fd = -1;
	if (!cr_need_fs(_metadata, src) || !cr_need_fs(_metadata, dst) ||
	    !cr_need_dev(_metadata))
		return false;

	ASSERT_NE(NULL, make_test_dir(src->root, e->src_dir))
		TH_LOG("a directory in %s: %s", src->root, strerror(errno));
	memcpy(e->dst_dir, e->src_dir, sizeof(e->dst_dir));
	if (strcmp(src->root, dst->root))
		ASSERT_NE(NULL, make_test_dir(dst->root, e->dst_dir))
			TH_LOG("a directory in %s: %s", dst->root,
			       strerror(errno));
	e->src_fd = open_new(e->src_dir, "src", O_RDWR);
	ASSERT_LE(0, e->src_fd) TH_LOG("%s/src: %s", e->src_dir,
				       strerror(errno));
	ASSERT_EQ(0, pattern_write(e->src_fd, 0, len, seed, 0))
		TH_LOG("%s/src: %s", e->src_dir, strerror(errno));
	e->dst_fd = open_new(e->dst_dir, "dst", O_RDWR);
	ASSERT_LE(0, e->dst_fd) TH_LOG("%s/dst: %s", e->dst_dir,
				       strerror(errno));
	return true;
}

/* Both ends on @fs. */
static inline bool cr_env_setup_on(struct __test_metadata *_metadata,
				   struct cr_env *e, const struct cr_fs *fs,
				   uint64_t len, uint64_t seed)
{
	return cr_env_setup(_metadata, e, fs, fs, len, seed);
}

/* Closes the files and removes the directories: safe after any setup. */
static inline void cr_env_teardown(struct cr_env *e)
{
	if (e->src_fd >= 0)
		close(e->src_fd);
	if (e->dst_fd >= 0)
		close(e->dst_fd);
	e->src_fd = -1;
	e->dst_fd = -1;
	remove_tree(e->src_dir);
	if (e->dst_dir[0] && strcmp(e->src_dir, e->dst_dir))
		remove_tree(e->dst_dir);
}

/* Checks shared by several tests. */

/*
 * Runs @steps(@dir) in a child process and expects it to return 0, or
 * else the number of the step that failed: for what must not happen in
 * the test's own process, such as dropping privileges (an ASSERT in the
 * child would run the teardown there).  @child, when not NULL, holds the
 * child's pid while it runs, for a teardown that must kill it.
 */
#define cr_expect_steps(steps, dir, child) \
	__cr_expect_steps(_metadata, steps, #steps, dir, child)

static inline void __cr_expect_steps(struct __test_metadata *_metadata,
				     int (*steps)(const char *dir),
				     const char *name, const char *dir,
				     pid_t *child)
{
	int status;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(steps(dir));
	if (child)
		*child = pid;
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	if (child)
		*child = 0;
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("child status %#x", status);
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("step %d failed (see %s())", WEXITSTATUS(status), name);
}

static inline void cr_read_stats(struct __test_metadata *_metadata,
				 struct cr_stats *st)
{
	ASSERT_EQ(0, cr_stats_read(st))
		TH_LOG("%s: %s", CR_STATS_PATH, strerror(errno));
}

/*
 * Expects the counters to have moved from @before by exactly @want, and
 * names every implementation that moved otherwise.
 */
static inline void cr_expect_moved(struct __test_metadata *_metadata,
				   const struct cr_stats *before,
				   const struct cr_stats *want)
{
	struct cr_stats after;
	char why[512];

	cr_read_stats(_metadata, &after);
	EXPECT_TRUE(cr_stats_moved(before, &after, want, why, sizeof(why)))
		TH_LOG("%s", why);
}

/* What one implementation's counters must have moved by. */
#define MOVED(st, which, ...) \
	((st)->impl[which] = (struct cr_counters){ __VA_ARGS__ })

/*
 * Expects FIEMAP to say of [@start, @end) of @fd, once it is on disk:
 * none of it shared (and some of it mapped), or all of it shared.
 */
static inline void cr_expect_sharing(struct __test_metadata *_metadata,
				     int fd, int64_t start, int64_t end,
				     bool all)
{
	uint64_t mapped, shared;

	ASSERT_EQ(0, settle(fd));
	ASSERT_EQ(0, fiemap_shared(fd, start, end, &mapped, &shared));
	if (!all) {
		EXPECT_LT(0ULL, mapped) TH_LOG("FIEMAP shows no data at all");
		EXPECT_EQ(0ULL, shared)
			TH_LOG("%ju bytes of [%jd, %jd) shared",
			       (uintmax_t)shared, (intmax_t)start,
			       (intmax_t)end);
	} else {
		EXPECT_EQ((uint64_t)(end - start), shared)
			TH_LOG("only %ju bytes of [%jd, %jd) shared (%ju mapped)",
			       (uintmax_t)shared, (intmax_t)start,
			       (intmax_t)end, (uintmax_t)mapped);
	}
}

#endif /* CR_FIXTURE_H */
