// SPDX-License-Identifier: GPL-2.0
/*
 * A filesystem with its own ->copy_file_range: overlayfs, which forwards
 * copies, clones and FIEMAP to the filesystem underneath (btrfs here), so
 * copy_range takes its "fs_copy" implementation for it.  The sharing
 * policy must hold there as everywhere:
 *
 *   0        the module copies the data itself and never calls the
 *            filesystem's copy: nothing shared, counted as copied;
 *   ALLOW    the filesystem's copy does it all (btrfs clones what it can):
 *            counted as offloaded;
 *   REQUIRE  a clone through overlayfs's ->remap_file_range: all shared or
 *            an error, counted as shared.
 *
 * The source is either created through the overlay (so it lives in the
 * upper layer) or in the lower layer before mounting, and is opened
 * read-only so that it stays there; the destination is always a new file
 * in the upper layer.  Both layers are on the same btrfs.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cr_fixture.h"

#define SEED_A		0x5eed0000000f1a11ULL
#define SEED_B		0x5eed0000000f1a12ULL
/* Block aligned; the copies below fit in one of the module's chunks. */
#define SRC_SIZE	MIB

/* What the fixture sets up, in a struct of its own for the helpers. */
struct ovl {
	char dir[PATH_MAX];	/* on btrfs: lower/, upper/, work/, merged/ */
	char merged[PATH_MAX];
	bool mounted;
	int src_fd;	/* merged/src: SRC_SIZE bytes of SEED_A, read-only */
	int dst_fd;	/* merged/dst: empty */
};

FIXTURE(overlay) {
	struct ovl o;
};

FIXTURE_VARIANT(overlay) {
	/* Where the source is: in the lower layer, or the upper one. */
	bool src_in_lower;
};

FIXTURE_VARIANT_ADD(overlay, upper_src) {
	.src_in_lower = false,
};

FIXTURE_VARIANT_ADD(overlay, lower_src) {
	.src_in_lower = true,
};

/* A source file of SEED_A in @dir, on disk.  0 or -1 with errno set. */
static int make_source(const char *dir)
{
	int fd = open_new(dir, "src", O_RDWR);
	int err;

	if (fd < 0)
		return -1;
	if (pattern_write(fd, 0, SRC_SIZE, SEED_A, 0) || settle(fd)) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return close(fd);
}

/* The files, once mounted.  0 or -1 with errno set. */
static int open_files(struct ovl *o, bool src_in_lower)
{
	if (!src_in_lower && make_source(o->merged))
		return -1;
	o->src_fd = open_at(o->merged, "src", O_RDONLY);
	if (o->src_fd < 0)
		return -1;
	o->dst_fd = open_new(o->merged, "dst", O_RDWR);
	if (o->dst_fd < 0)
		return -1;
	return 0;
}

/* Everything setup made, in reverse; for teardown and a failed setup. */
static void cleanup(struct ovl *o)
{
	if (o->src_fd >= 0)
		close(o->src_fd);
	if (o->dst_fd >= 0)
		close(o->dst_fd);
	o->src_fd = -1;
	o->dst_fd = -1;
	if (o->mounted && umount2(o->merged, 0))
		umount2(o->merged, MNT_DETACH);
	o->mounted = false;
	remove_tree(o->dir);
}

FIXTURE_SETUP(overlay)
{
	char lower[PATH_MAX], upper[PATH_MAX], work[PATH_MAX], opts[4 * PATH_MAX];
	const struct cr_fs btrfs = CR_FS_BTRFS;
	struct ovl *o = &self->o;
	int err;

	o->src_fd = -1;
	o->dst_fd = -1;
	o->mounted = false;
	if (geteuid())
		CR_SKIP_OR_FAIL(return, "mount needs root");
	if (!cr_need_fs(_metadata, &btrfs) || !cr_need_stats(_metadata))
		return;

	ASSERT_NE(NULL, make_test_dir(FS_BTRFS, o->dir));
	ASSERT_EQ(0, path_join(lower, o->dir, "lower"));
	ASSERT_EQ(0, path_join(upper, o->dir, "upper"));
	ASSERT_EQ(0, path_join(work, o->dir, "work"));
	ASSERT_EQ(0, path_join(o->merged, o->dir, "merged"));
	ASSERT_EQ(0, mkdir(lower, 0755));
	ASSERT_EQ(0, mkdir(upper, 0755));
	ASSERT_EQ(0, mkdir(work, 0755));
	ASSERT_EQ(0, mkdir(o->merged, 0755));
	if (variant->src_in_lower)
		ASSERT_EQ(0, make_source(lower)) TH_LOG("%s", strerror(errno));

	snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s",
		 lower, upper, work);
	if (mount("overlay", o->merged, "overlay", 0, opts)) {
		err = errno;
		cleanup(o);
		if (err == ENODEV)
			CR_SKIP_OR_FAIL(return, "no overlayfs in this kernel");
		ASSERT_EQ(0, err) TH_LOG("mount overlay on %s: %s",
					 o->merged, strerror(err));
	}
	o->mounted = true;

	/* The harness does not tear down after a failed setup: do it here. */
	if (open_files(o, variant->src_in_lower)) {
		err = errno;
		cleanup(o);
		ASSERT_EQ(0, err) TH_LOG("files in the overlay: %s",
					 strerror(err));
	}
}

FIXTURE_TEARDOWN(overlay)
{
	cleanup(&self->o);
}

/* Flags 0: the module's own data copy, never overlayfs's. */
TEST_F(overlay, flags0_copies_independently)
{
	struct cr_stats before, want = {};

	cr_read_stats(_metadata, &before);
	EXPECT_EQ(SRC_SIZE, copy_range(self->o.src_fd, 0, self->o.dst_fd, 0,
				       SRC_SIZE, 0))
		TH_LOG("%s", strerror(errno));
	MOVED(&want, CR_IMPL_FS_COPY, .calls = 1, .copied = SRC_SIZE);
	cr_expect_moved(_metadata, &before, &want);

	EXPECT_EQ(SRC_SIZE, file_size(self->o.dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(self->o.dst_fd, 0, SRC_SIZE, SEED_A, 0));
	EXPECT_EQ(-1, files_mismatch(self->o.src_fd, 0, self->o.dst_fd, 0,
				     SRC_SIZE));
	cr_expect_sharing(_metadata, self->o.dst_fd, 0, SRC_SIZE, false);
}

/*
 * ALLOW: handed to overlayfs, whose copy btrfs turns into a clone.  One
 * call, the full count, all of it offloaded and all of it shared.
 */
TEST_F(overlay, allow_offloads_and_shares)
{
	struct cr_stats before, want = {};

	cr_read_stats(_metadata, &before);
	EXPECT_EQ(SRC_SIZE, copy_range(self->o.src_fd, 0, self->o.dst_fd, 0,
				       SRC_SIZE, COPY_RANGE_SHARE_ALLOW))
		TH_LOG("%s", strerror(errno));
	MOVED(&want, CR_IMPL_FS_COPY, .calls = 1, .offloaded = SRC_SIZE);
	cr_expect_moved(_metadata, &before, &want);

	EXPECT_EQ(SRC_SIZE, file_size(self->o.dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(self->o.dst_fd, 0, SRC_SIZE, SEED_A, 0));
	cr_expect_sharing(_metadata, self->o.dst_fd, 0, SRC_SIZE, true);
}

/*
 * ALLOW with offsets inside a block: still one call, the full count and
 * the right bytes, all offloaded.  Whether the filesystem shared any of it
 * is its business, so only the data is checked.
 */
TEST_F(overlay, allow_unaligned_offloads)
{
	const int64_t off = 100, len = SRC_SIZE / 2;
	struct cr_stats before, want = {};

	cr_read_stats(_metadata, &before);
	EXPECT_EQ(len, copy_range(self->o.src_fd, off, self->o.dst_fd, off + 7,
				  len, COPY_RANGE_SHARE_ALLOW))
		TH_LOG("%s", strerror(errno));
	MOVED(&want, CR_IMPL_FS_COPY, .calls = 1, .offloaded = len);
	cr_expect_moved(_metadata, &before, &want);

	EXPECT_EQ(off + 7 + len, file_size(self->o.dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(self->o.dst_fd, 0, off + 7, PATTERN_ZERO,
				       0));
	EXPECT_EQ(-1, pattern_mismatch(self->o.dst_fd, off + 7, len, SEED_A,
				       off));
}

/* REQUIRE on an aligned range: overlayfs clones on btrfs, all shared. */
TEST_F(overlay, require_aligned_shares)
{
	struct cr_stats before, want = {};

	cr_read_stats(_metadata, &before);
	EXPECT_EQ(SRC_SIZE, copy_range(self->o.src_fd, 0, self->o.dst_fd, 0,
				       SRC_SIZE, COPY_RANGE_SHARE_REQUIRE))
		TH_LOG("%s", strerror(errno));
	MOVED(&want, CR_IMPL_FS_COPY, .calls = 1, .shared = SRC_SIZE);
	cr_expect_moved(_metadata, &before, &want);

	EXPECT_EQ(SRC_SIZE, file_size(self->o.dst_fd));
	EXPECT_EQ(-1, pattern_mismatch(self->o.dst_fd, 0, SRC_SIZE, SEED_A, 0));
	cr_expect_sharing(_metadata, self->o.dst_fd, 0, SRC_SIZE, true);
}

/*
 * REQUIRE on a range that cannot be shared (a length ending inside a block,
 * before EOF): EINVAL from the module's own checks, which know the block
 * size of the real filesystem below the overlay, so overlayfs is not even
 * called, and the destination is untouched.
 */
TEST_F(overlay, require_unaligned_fails)
{
	const struct cr_stats none = {};
	struct cr_stats before;
	struct snapshot snap;

	ASSERT_EQ(0, pattern_write(self->o.dst_fd, 0, 64 * KIB + 3, SEED_B, 0));
	ASSERT_EQ(0, snapshot_take(self->o.dst_fd, &snap));
	cr_read_stats(_metadata, &before);
	EXPECT_EQ(-1, copy_range(self->o.src_fd, 0, self->o.dst_fd, 0,
				 SRC_SIZE / 2 + 100, COPY_RANGE_SHARE_REQUIRE));
	EXPECT_EQ(EINVAL, errno) TH_LOG("%s", strerror(errno));
	cr_expect_moved(_metadata, &before, &none);
	EXPECT_TRUE(snapshot_same(self->o.dst_fd, &snap));
	snapshot_free(&snap);
}

/* overlayfs can share, so a REQUIRE probe with nothing to copy is 0. */
TEST_F(overlay, require_len0_probe)
{
	struct cr_stats before;
	const struct cr_stats none = {};

	cr_read_stats(_metadata, &before);
	EXPECT_EQ(0, copy_range(self->o.src_fd, 0, self->o.dst_fd, 0, 0,
				COPY_RANGE_SHARE_REQUIRE))
		TH_LOG("%s", strerror(errno));
	cr_expect_moved(_metadata, &before, &none);
	EXPECT_EQ(0, file_size(self->o.dst_fd));
}

/*
 * The same bytes through two superblocks: the overlay's file and the file
 * of the layer that holds its data (upper or lower).  A copy between
 * overlapping ranges of the two would read what it has just written, so it
 * is EINVAL, as between overlapping ranges of one file; ranges apart copy.
 */
TEST_F(overlay, overlap_through_the_layer_below_is_einval)
{
	static const uint64_t flags[] = {
		0, COPY_RANGE_SHARE_ALLOW, COPY_RANGE_SHARE_REQUIRE,
	};
	char layer[PATH_MAX];
	unsigned int i;
	int real_fd;

	ASSERT_EQ(0, path_join(layer, self->o.dir,
			       variant->src_in_lower ? "lower" : "upper"));
	real_fd = open_at(layer, "src", O_RDWR);
	ASSERT_LE(0, real_fd) TH_LOG("%s/src: %s", layer, strerror(errno));

	for (i = 0; i < ARRAY_SIZE(flags); i++) {
		/* Overlay to layer, then layer to overlay, shifted a block. */
		EXPECT_EQ(-1, copy_range(self->o.src_fd, 0, real_fd, 4096,
					 64 * KIB, flags[i]));
		/* REQUIRE stops earlier: two superblocks cannot share. */
		EXPECT_EQ(flags[i] == COPY_RANGE_SHARE_REQUIRE ? EXDEV : EINVAL,
			  errno) TH_LOG("flags %#jx: %s", (uintmax_t)flags[i],
					strerror(errno));
		EXPECT_EQ(-1, copy_range(real_fd, 4096, self->o.src_fd, 0,
					 64 * KIB, flags[i]));
		EXPECT_TRUE(errno == EINVAL || errno == EBADF)
			TH_LOG("flags %#jx: %s", (uintmax_t)flags[i],
			       strerror(errno));
	}
	EXPECT_EQ(-1, pattern_mismatch(real_fd, 0, SRC_SIZE, SEED_A, 0));
	/* Ranges that do not overlap are an ordinary copy. */
	EXPECT_EQ(64 * KIB, copy_range(self->o.src_fd, 0, real_fd,
				       SRC_SIZE / 2, 64 * KIB, 0));
	EXPECT_EQ(-1, pattern_mismatch(real_fd, SRC_SIZE / 2, 64 * KIB,
				       SEED_A, 0));
	close(real_fd);
}

TEST_HARNESS_MAIN
