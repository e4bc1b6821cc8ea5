// SPDX-License-Identifier: GPL-2.0
/*
 * pending_copies - copies many files into one directory with asynchronous
 * copy_range jobs, keeping a bounded number of them in flight.
 *
 *   pending_copies [-j N] [--allow] SRC... DSTDIR
 *
 * This is the usage pattern that motivated cookies for in-kernel copies:
 * a file manager or backup tool hands the kernel many copies at once and
 * only needs to hear back when they are done.  Each COPY_RANGE_IOC_SUBMIT
 * returns a job descriptor; at most N of them are pending at a time.  When
 * N are pending, the oldest half is waited for (COPY_RANGE_JOB_IOC_WAIT, in
 * the order they were submitted) before more are submitted, so the queue
 * drains in batches rather than one job at a time.  At the end every job
 * still pending is waited for.
 *
 * A job holds its own references to both files, so the source and
 * destination descriptors are closed as soon as the job is submitted:
 * only the job descriptor is kept.
 *
 * Every file that cannot be copied is reported with its name; the exit
 * status is 0 only if every file was copied completely.  A summary (files,
 * bytes, time) goes to standard output.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/copy_range.h>

#define DEFAULT_JOBS	8
#define MAX_JOBS	1024

struct pending {
	int job;		/* the job's descriptor */
	const char *name;	/* the source, as given on the command line */
	uint64_t size;		/* the source's size at submit time */
};

struct queue {
	struct pending *slot;	/* ring of @cap entries */
	unsigned int cap;
	unsigned int head;	/* the oldest pending job */
	unsigned int count;
};

struct totals {
	unsigned int files;
	unsigned int failed;
	uint64_t bytes;
};

static const char *prog = "pending_copies";

static void show_usage(FILE *out)
{
	fprintf(out,
		"usage: %s [-j N] [--allow] SRC... DSTDIR\n"
		"  -j N     keep at most N copies pending (1-%d, default %d)\n"
		"  --allow  let the filesystem share extents (reflink)\n",
		prog, MAX_JOBS, DEFAULT_JOBS);
}

static void report(const char *name, const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s: %s\n", prog, name, what, strerror(err));
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Waits for the oldest pending job and accounts for its outcome. */
static void wait_oldest(struct queue *q, struct totals *t)
{
	struct pending *p = &q->slot[q->head];
	struct copy_range_status st;
	int ret;

	do {
		ret = ioctl(p->job, COPY_RANGE_JOB_IOC_WAIT, &st);
	} while (ret < 0 && errno == EINTR);

	if (ret < 0) {
		report(p->name, "waiting for the copy", errno);
		t->failed++;
	} else if (st.state == COPY_RANGE_JOB_FAILED) {
		report(p->name, "copy failed", -st.error);
		t->failed++;
	} else if (st.state != COPY_RANGE_JOB_DONE) {
		fprintf(stderr, "%s: %s: copy ended in state %d\n", prog,
			p->name, st.state);
		t->failed++;
	} else if (st.copied != p->size) {
		fprintf(stderr,
			"%s: %s: copied %llu of %llu bytes (source changed?)\n",
			prog, p->name, (unsigned long long)st.copied,
			(unsigned long long)p->size);
		t->failed++;
	} else {
		t->bytes += st.copied;
	}
	close(p->job);
	q->head = (q->head + 1) % q->cap;
	q->count--;
}

/* Waits for the oldest half (at least one) of the pending jobs. */
static void wait_oldest_half(struct queue *q, struct totals *t)
{
	unsigned int n = (q->count + 1) / 2;

	while (n--)
		wait_oldest(q, t);
}

/*
 * Opens @src and its destination in @dstdir and submits the copy.  Returns
 * the job descriptor, or -1 after reporting why there is none.  A full
 * per-user quota (EAGAIN) makes room by waiting for pending jobs.
 */
static int submit(int dev, const char *src, const char *dstdir,
		  uint64_t flags, struct queue *q, struct totals *t,
		  uint64_t *size)
{
	struct copy_range_args args = { .flags = flags };
	char dst[PATH_MAX], *copy, *base;
	struct stat st;
	int job = -1;

	args.src_fd = open(src, O_RDONLY | O_CLOEXEC);
	if (args.src_fd < 0) {
		report(src, "open", errno);
		return -1;
	}
	if (fstat(args.src_fd, &st)) {
		report(src, "stat", errno);
		goto out_src;
	}
	if (!S_ISREG(st.st_mode)) {
		report(src, "not copied", S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
		goto out_src;
	}
	copy = strdup(src);
	if (!copy) {
		report(src, "strdup", ENOMEM);
		goto out_src;
	}
	base = basename(copy);
	if (snprintf(dst, sizeof(dst), "%s/%s", dstdir, base) >=
	    (int)sizeof(dst)) {
		free(copy);
		report(src, "destination path", ENAMETOOLONG);
		goto out_src;
	}
	free(copy);
	args.dst_fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			   st.st_mode & 0777);
	if (args.dst_fd < 0) {
		report(dst, "open", errno);
		goto out_src;
	}
	args.len = st.st_size;
	for (;;) {
		job = ioctl(dev, COPY_RANGE_IOC_SUBMIT, &args);
		if (job >= 0 || errno != EAGAIN || !q->count)
			break;
		wait_oldest_half(q, t);
	}
	if (job < 0)
		report(src, "submit", errno);
	*size = st.st_size;
	close(args.dst_fd);
out_src:
	close(args.src_fd);
	return job;
}

int main(int argc, char **argv)
{
	unsigned long jobs = DEFAULT_JOBS;
	struct totals t = { 0 };
	uint64_t flags = 0;
	struct queue q = { 0 };
	const char *dstdir;
	struct stat st;
	double start, secs;
	int i, first, dev;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		char *end;

		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "--allow")) {
			flags |= COPY_RANGE_SHARE_ALLOW;
			continue;
		}
		if (!strcmp(argv[i], "-j") && i + 1 < argc) {
			errno = 0;
			jobs = strtoul(argv[++i], &end, 10);
			if (errno || *end || !jobs || jobs > MAX_JOBS) {
				show_usage(stderr);
				return 2;
			}
			continue;
		}
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			show_usage(stdout);
			return 0;
		}
		show_usage(stderr);
		return 2;
	}
	first = i;
	if (argc - first < 2) {
		show_usage(stderr);
		return 2;
	}
	dstdir = argv[argc - 1];
	if (stat(dstdir, &st)) {
		report(dstdir, "destination", errno);
		return 2;
	}
	if (!S_ISDIR(st.st_mode)) {
		report(dstdir, "destination", ENOTDIR);
		return 2;
	}

	dev = open("/dev/" COPY_RANGE_DEVICE_NAME, O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		report("/dev/" COPY_RANGE_DEVICE_NAME, "open", errno);
		return 1;
	}
	q.cap = jobs;
	q.slot = calloc(q.cap, sizeof(*q.slot));
	if (!q.slot) {
		report(prog, "calloc", ENOMEM);
		return 1;
	}

	start = now();
	for (i = first; i < argc - 1; i++) {
		uint64_t size = 0;
		int job;

		t.files++;
		if (q.count == q.cap)
			wait_oldest_half(&q, &t);
		job = submit(dev, argv[i], dstdir, flags, &q, &t, &size);
		if (job < 0) {
			t.failed++;
			continue;
		}
		q.slot[(q.head + q.count) % q.cap] = (struct pending) {
			.job = job,
			.name = argv[i],
			.size = size,
		};
		q.count++;
	}
	while (q.count)
		wait_oldest(&q, &t);
	secs = now() - start;

	printf("%u files, %llu bytes in %.3f s (%.1f MiB/s), %u failed\n",
	       t.files, (unsigned long long)t.bytes, secs,
	       secs > 0 ? t.bytes / secs / (1024 * 1024) : 0.0, t.failed);
	free(q.slot);
	close(dev);
	return t.failed ? 1 : 0;
}
