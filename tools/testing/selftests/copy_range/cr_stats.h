/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A reader of the module's counters in debugfs, for the tests that check
 * which implementation a call took and what it counted (copy_stats_test,
 * copy_overlay_test).  The code is in cr_stats.c.
 */
#ifndef CR_STATS_H
#define CR_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The module's counters, one row per implementation of copy_range under a
 * header line:
 *
 *   impl  calls  bytes_shared  bytes_copied  bytes_offloaded  errors
 *
 * calls counts the calls that passed the argument checks and reached the
 * implementation, errors those of them that failed without copying
 * anything; a byte a call completed is counted once, as shared, copied by
 * the module, or offloaded to the filesystem's own ->copy_file_range.
 * Every counter only grows, so a test reads the table before and after a
 * call and compares the difference with what it expects; the harness runs
 * one test at a time, so nothing else moves them meanwhile.
 */
#define CR_DEBUGFS	"/sys/kernel/debug"
#define CR_STATS_PATH	CR_DEBUGFS "/copy_range/stats"

enum cr_impl {
	CR_IMPL_BTRFS,
	CR_IMPL_REMAP,
	CR_IMPL_FS_COPY,
	CR_IMPL_GENERIC,
	/* The sum of any rows this file does not know, which must not move. */
	CR_IMPL_OTHER,
	CR_NR_IMPLS
};

struct cr_counters {
	uint64_t calls;
	uint64_t shared;
	uint64_t copied;
	uint64_t offloaded;
	uint64_t errors;
};

struct cr_stats {
	struct cr_counters impl[CR_NR_IMPLS];
};

const char *cr_impl_name(enum cr_impl impl);

/* The columns, in the header's order and with its names. */
#define CR_NR_COUNTERS	5

const char *cr_counter_name(unsigned int i);

/*
 * Reads the counters into @st.  0, or -1 with errno set: by fopen() or a
 * read, or EPROTO when the file is not the header followed by one row of
 * five unsigned numbers per implementation, every known one exactly once
 * (blank lines aside).  Rows with other names are summed into
 * CR_IMPL_OTHER.
 */
int cr_stats_read(struct cr_stats *st);

/*
 * True when every counter grew from @before to @after by exactly what
 * @want says, zero for every implementation and counter it leaves out.
 * Otherwise false, with each implementation that moved otherwise in @why
 * (@len bytes): "name: counter +seen (want +expected) ...".
 */
bool cr_stats_moved(const struct cr_stats *before, const struct cr_stats *after,
		    const struct cr_stats *want, char *why, size_t len);

#endif /* CR_STATS_H */
