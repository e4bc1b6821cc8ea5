/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Everything the copy_range test programs share, for a program that wants
 * it all with one include:
 *
 *   cr_ioctl.h   the calls under test: COPY, copy_file_range(2), SUBMIT,
 *                the job's ioctls, the vector ioctls (all static inline)
 *   cr_files.h   scratch filesystems, files, the data pattern, content
 *                checks, snapshots, FIEMAP (larger helpers in cr_files.c)
 *   cr_stats.h   the reader of the module's counters (code in cr_stats.c)
 *
 * A program that calls only the static inline helpers links on its own;
 * one that calls files_mismatch(), the snapshot_*() helpers,
 * fiemap_shared() or the cr_stats_*() reader links cr_files.c and
 * cr_stats.c too, as this directory's Makefile does for every program.
 *
 * The kselftest side (fixtures over the scratch filesystems, SKIP outside
 * the test VM and FAIL inside it) is cr_fixture.h, which includes this
 * header and kselftest_harness.h, and cr_fs_variants.h, which gives a
 * fixture one variant per scratch filesystem.
 */
#ifndef COPY_RANGE_HELPERS_H
#define COPY_RANGE_HELPERS_H

/* What this header used to include itself, which its users may rely on. */
#include <inttypes.h>
#include <sys/ioctl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>

#include "cr_ioctl.h"
#include "cr_files.h"
#include "cr_stats.h"

#endif /* COPY_RANGE_HELPERS_H */
