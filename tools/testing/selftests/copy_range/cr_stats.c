// SPDX-License-Identifier: GPL-2.0
/*
 * The counters' table in debugfs, parsed strictly: see cr_stats.h for its
 * shape.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cr_stats.h"

const char *cr_impl_name(enum cr_impl impl)
{
	static const char *const names[CR_NR_IMPLS] = {
		[CR_IMPL_BTRFS] = "btrfs",
		[CR_IMPL_REMAP] = "remap",
		[CR_IMPL_FS_COPY] = "fs_copy",
		[CR_IMPL_GENERIC] = "generic",
		[CR_IMPL_OTHER] = "(other)",
	};

	return impl < CR_NR_IMPLS ? names[impl] : "?";
}

/* The columns' names, as the header line spells them. */
const char *cr_counter_name(unsigned int i)
{
	static const char *const names[CR_NR_COUNTERS] = {
		"calls", "bytes_shared", "bytes_copied", "bytes_offloaded",
		"errors",
	};

	return i < CR_NR_COUNTERS ? names[i] : "?";
}

static uint64_t *cr_counter(struct cr_counters *c, unsigned int i)
{
	uint64_t *const fields[CR_NR_COUNTERS] = {
		&c->calls, &c->shared, &c->copied, &c->offloaded, &c->errors,
	};

	return fields[i];
}

/* True when @line is exactly the header: "impl", then the columns. */
static bool cr_stats_header_ok(const char *line)
{
	char copy[256], *word, *save = NULL;
	unsigned int i = 0;

	if (snprintf(copy, sizeof(copy), "%s", line) >= (int)sizeof(copy))
		return false;
	word = strtok_r(copy, " \t\n", &save);
	if (!word || strcmp(word, "impl"))
		return false;
	while ((word = strtok_r(NULL, " \t\n", &save))) {
		if (i >= CR_NR_COUNTERS || strcmp(word, cr_counter_name(i)))
			return false;
		i++;
	}
	return i == CR_NR_COUNTERS;
}

/* See cr_stats.h for what the table must look like. */
int cr_stats_read(struct cr_stats *st)
{
	bool seen[CR_NR_IMPLS] = {};
	char line[256];
	int ret = 0;
	FILE *f;
	int i;

	memset(st, 0, sizeof(*st));
	f = fopen(CR_STATS_PATH, "re");
	if (!f)
		return -1;
	if (!fgets(line, sizeof(line), f) || !cr_stats_header_ok(line)) {
		ret = -1;
		errno = ferror(f) ? EIO : EPROTO;
		goto out;
	}
	while (fgets(line, sizeof(line), f)) {
		struct cr_counters c;
		char name[32], extra;
		enum cr_impl impl;

		/* The kernel's debugfs file ends the table with a blank line. */
		if (line[strspn(line, " \t\n")] == '\0')
			continue;
		/* The trailing %c matches only if something follows. */
		if (!strchr(line, '\n') ||
		    sscanf(line, "%31s %" SCNu64 " %" SCNu64 " %" SCNu64
			   " %" SCNu64 " %" SCNu64 " %c", name, &c.calls,
			   &c.shared, &c.copied, &c.offloaded, &c.errors,
			   &extra) != 6) {
			ret = -1;
			errno = EPROTO;
			goto out;
		}
		for (impl = 0; impl < CR_IMPL_OTHER; impl++)
			if (!strcmp(name, cr_impl_name(impl)))
				break;
		if (impl != CR_IMPL_OTHER && seen[impl]) {
			ret = -1;
			errno = EPROTO;
			goto out;
		}
		seen[impl] = true;
		for (i = 0; i < CR_NR_COUNTERS; i++)
			*cr_counter(&st->impl[impl], i) += *cr_counter(&c, i);
	}
	if (ferror(f)) {
		ret = -1;
		errno = EIO;
		goto out;
	}
	for (i = 0; i < CR_IMPL_OTHER; i++) {
		if (!seen[i]) {
			ret = -1;
			errno = EPROTO;
			goto out;
		}
	}
out:
	fclose(f);
	return ret;
}

bool cr_stats_moved(const struct cr_stats *before, const struct cr_stats *after,
		    const struct cr_stats *want, char *why, size_t len)
{
	size_t at = 0;
	bool ok = true;
	int impl, i;

	why[0] = '\0';
	for (impl = 0; impl < CR_NR_IMPLS; impl++) {
		struct cr_counters b = before->impl[impl];
		struct cr_counters a = after->impl[impl];
		struct cr_counters w = want->impl[impl];
		bool named = false;

		for (i = 0; i < CR_NR_COUNTERS; i++) {
			uint64_t got = *cr_counter(&a, i) - *cr_counter(&b, i);

			if (got == *cr_counter(&w, i))
				continue;
			ok = false;
			if (!named && at < len)
				at += snprintf(why + at, len - at, "%s%s:",
					       at ? "; " : "",
					       cr_impl_name(impl));
			named = true;
			if (at < len)
				at += snprintf(why + at, len - at,
					       " %s +%" PRIu64 " (want +%" PRIu64 ")",
					       cr_counter_name(i), got,
					       *cr_counter(&w, i));
		}
	}
	return ok;
}

