/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The variants of a fixture over every scratch filesystem, one each,
 * named after it, with the filesystem in variant->fs (a struct cr_fs,
 * see cr_fixture.h).  After the fixture's FIXTURE(), define CR_FS_FIXTURE
 * to its name and include this header; it defines the fixture's
 * FIXTURE_VARIANT() and its four FIXTURE_VARIANT_ADD()s.
 *
 * Included once per such fixture, so there is no include guard; the list
 * of scratch filesystems is here only.
 */
#ifndef CR_FS_FIXTURE
#error "#define CR_FS_FIXTURE to the fixture's name before including this"
#endif

CR_FIXTURE_VARIANT(CR_FS_FIXTURE) {
	struct cr_fs fs;
};

CR_FIXTURE_VARIANT_ADD(CR_FS_FIXTURE, btrfs) { .fs = CR_FS_BTRFS };
CR_FIXTURE_VARIANT_ADD(CR_FS_FIXTURE, xfs) { .fs = CR_FS_XFS };
CR_FIXTURE_VARIANT_ADD(CR_FS_FIXTURE, ext4) { .fs = CR_FS_EXT4 };
CR_FIXTURE_VARIANT_ADD(CR_FS_FIXTURE, tmpfs) { .fs = CR_FS_TMPFS };

#undef CR_FS_FIXTURE
