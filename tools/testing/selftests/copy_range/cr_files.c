// SPDX-License-Identifier: GPL-2.0
/*
 * The helpers of cr_files.h that are too large to inline into every
 * program: comparing two files, snapshots of a file, and FIEMAP.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/fiemap.h>
#include <linux/fs.h>

#include "cr_files.h"

int64_t files_mismatch(int fd_a, uint64_t off_a, int fd_b, uint64_t off_b,
		       uint64_t len)
{
	unsigned char *a = malloc(PATTERN_BUF), *b = malloc(PATTERN_BUF);
	int64_t bad = -1;
	uint64_t done = 0;

	if (!a || !b) {
		bad = -2;
		goto out;
	}
	while (done < len) {
		size_t n = len - done < PATTERN_BUF ? len - done : PATTERN_BUF;
		ssize_t ra = pread(fd_a, a, n, off_a + done);
		ssize_t rb = pread(fd_b, b, n, off_b + done);
		ssize_t i, r = ra < rb ? ra : rb;

		if (ra < 0 || rb < 0) {
			bad = -2;
			break;
		}
		for (i = 0; i < r && a[i] == b[i]; i++)
			;
		if (i < r || r < (ssize_t)n) {
			bad = off_a + done + i;
			break;
		}
		done += n;
	}
out:
	free(a);
	free(b);
	return bad;
}

int snapshot_take(int fd, struct snapshot *s)
{
	s->size = file_size(fd);
	s->data = malloc(s->size > 0 ? s->size : 1);
	if (s->size < 0 || !s->data)
		return -1;
	if (s->size && pread(fd, s->data, s->size, 0) != s->size)
		return -1;
	return 0;
}

bool snapshot_same(int fd, const struct snapshot *s)
{
	unsigned char *now;
	bool same;

	if (file_size(fd) != s->size)
		return false;
	now = malloc(s->size > 0 ? s->size : 1);
	if (!now)
		return false;
	same = !s->size || (pread(fd, now, s->size, 0) == s->size &&
			    !memcmp(now, s->data, s->size));
	free(now);
	return same;
}

void snapshot_free(struct snapshot *s)
{
	free(s->data);
	s->data = NULL;
}

int fiemap_shared(int fd, uint64_t start, uint64_t end, uint64_t *mapped,
		  uint64_t *shared)
{
	const unsigned int n = 64;
	struct fiemap *fm;
	uint64_t pos = start;
	int ret = 0;

	*mapped = 0;
	*shared = 0;
	fm = calloc(1, sizeof(*fm) + n * sizeof(struct fiemap_extent));
	if (!fm)
		return -ENOMEM;
	while (pos < end) {
		struct fiemap_extent *last;
		unsigned int i;

		memset(fm, 0, sizeof(*fm));
		fm->fm_start = pos;
		fm->fm_length = end - pos;
		fm->fm_flags = FIEMAP_FLAG_SYNC;
		fm->fm_extent_count = n;
		if (ioctl(fd, FS_IOC_FIEMAP, fm)) {
			ret = -errno;
			break;
		}
		if (!fm->fm_mapped_extents)
			break;
		for (i = 0; i < fm->fm_mapped_extents; i++) {
			struct fiemap_extent *e = &fm->fm_extents[i];
			uint64_t lo = e->fe_logical, hi = lo + e->fe_length;

			/* Count each byte once, even if an extent comes twice. */
			if (lo < pos)
				lo = pos;
			if (hi > end)
				hi = end;
			if (hi <= lo)
				continue;
			*mapped += hi - lo;
			if (e->fe_flags & FIEMAP_EXTENT_SHARED)
				*shared += hi - lo;
		}
		last = &fm->fm_extents[fm->fm_mapped_extents - 1];
		if (last->fe_flags & FIEMAP_EXTENT_LAST ||
		    last->fe_logical + last->fe_length <= pos)
			break;
		pos = last->fe_logical + last->fe_length;
	}
	free(fm);
	return ret;
}
