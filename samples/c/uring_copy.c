// SPDX-License-Identifier: GPL-2.0
/*
 * uring_copy - copies many files into one directory through io_uring, with
 * many copies in flight on one ring of /dev/copy_range commands.
 *
 *   uring_copy [-j N] [--allow] SRC... DSTDIR
 *
 * Each file is one IORING_OP_URING_CMD request with cmd_op
 * COPY_RANGE_URING_CMD_COPY, whose struct copy_range_args sits in the
 * command area of a 128-byte SQE (IORING_SETUP_SQE128).  The module copies
 * in an io-wq worker of this process; the CQE's res is what the ioctl would
 * return: the bytes copied, or -errno.  A short count is resumed from where
 * it stopped (the module copies just under 2 GiB per call at most); 0 means
 * the source ended.  At most N copies are in flight; one wait serves them
 * all, and each completion names its copy (the SQE's user_data).
 *
 * Unlike a job (pending_copies.c), a ring request refers to its files by
 * descriptor number, which the module looks up when the copy runs: both
 * descriptors stay open until the copy's completion is in.
 *
 * Ctrl-C cancels every copy in flight (IORING_OP_ASYNC_CANCEL: a copy stops
 * at its next chunk and completes with the count so far, or -ECANCELED),
 * waits for them and removes their partial destinations.
 *
 * The ring is probed first with a copy between two invalid descriptors: a
 * module with the io_uring commands answers -EBADF; a module without them
 * -EOPNOTSUPP (no ->uring_cmd), and an io_uring without IORING_OP_URING_CMD
 * -EINVAL.  Then use pending_copies instead.
 *
 * The exit status is 0 only if every file was copied completely.  liburing
 * 2.3 (Debian 12) has no io_uring_prep_cmd(), so the SQE is filled by hand.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>
#include <linux/copy_range.h>

#define DEFAULT_JOBS	16
#define MAX_JOBS	4096

/* One file being copied; its address is the user_data of its requests. */
struct copy {
	const char *name;	/* the source, as given on the command line */
	char dst[PATH_MAX];	/* the destination, removed if the copy fails */
	int src_fd;
	int dst_fd;
	uint64_t size;		/* the source's size when it was opened */
	uint64_t done;		/* bytes copied by the requests completed */
	bool cancelled;
};

struct totals {
	unsigned int files;
	unsigned int failed;
	unsigned int cancelled;
	uint64_t bytes;
};

static const char *prog = "uring_copy";
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void show_usage(FILE *out)
{
	fprintf(out,
		"usage: %s [-j N] [--allow] SRC... DSTDIR\n"
		"  -j N     keep at most N copies in flight (1-%d, default %d)\n"
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

/*
 * A free SQE, handing the queue to the kernel first if it is full.  The
 * ring has room for every copy in flight and a cancel for each, so this
 * only fails if io_uring_submit() does.
 */
static struct io_uring_sqe *get_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe && io_uring_submit(ring) >= 0)
		sqe = io_uring_get_sqe(ring);
	return sqe;
}

/*
 * Fills @sqe with COPY_RANGE_URING_CMD_COPY on @dev: @len bytes from @src at
 * @off to @dst at @off, with @flags.  The whole 128-byte SQE is cleared
 * first; the arguments go in its command area, at sqe->cmd.
 */
static void prep_copy(struct io_uring_sqe *sqe, int dev, int src, int dst,
		      uint64_t off, uint64_t len, uint64_t flags)
{
	struct copy_range_args args = {
		.src_fd = src,
		.dst_fd = dst,
		.src_off = off,
		.dst_off = off,
		.len = len,
		.flags = flags,
	};

	memset(sqe, 0, 2 * sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = dev;
	sqe->cmd_op = COPY_RANGE_URING_CMD_COPY;
	memcpy((char *)sqe + offsetof(struct io_uring_sqe, cmd), &args,
	       sizeof(args));
}

/* Queues the next request of @c: what is left of its file. */
static int queue_copy(struct io_uring *ring, int dev, struct copy *c,
		      uint64_t flags)
{
	struct io_uring_sqe *sqe = get_sqe(ring);

	if (!sqe)
		return -EBUSY;
	prep_copy(sqe, dev, c->src_fd, c->dst_fd, c->done, c->size - c->done,
		  flags);
	io_uring_sqe_set_data(sqe, c);
	return 0;
}

/*
 * Whether the module takes io_uring commands: a copy between two invalid
 * descriptors must come back -EBADF.  Returns 0, or the negative errno that
 * says why not.
 */
static int probe(struct io_uring *ring, int dev)
{
	struct io_uring_sqe *sqe = get_sqe(ring);
	struct io_uring_cqe *cqe;
	int ret;

	if (!sqe)
		return -EBUSY;
	prep_copy(sqe, dev, -1, -1, 0, 0, 0);
	io_uring_sqe_set_data(sqe, NULL);
	ret = io_uring_submit(ring);
	if (ret < 0)
		return ret;
	do {
		ret = io_uring_wait_cqe(ring, &cqe);
	} while (ret == -EINTR);
	if (ret < 0)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	if (ret == -EBADF)
		return 0;
	return ret < 0 ? ret : -EOPNOTSUPP;
}

/*
 * Opens @src and its destination in @dstdir into @c.  Returns 0, or -1
 * after reporting why not.
 */
static int open_copy(struct copy *c, const char *src, const char *dstdir)
{
	char *copy, *base;
	struct stat st;
	int n;

	memset(c, 0, sizeof(*c));
	c->name = src;
	c->src_fd = open(src, O_RDONLY | O_CLOEXEC);
	if (c->src_fd < 0) {
		report(src, "open", errno);
		return -1;
	}
	if (fstat(c->src_fd, &st)) {
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
	n = snprintf(c->dst, sizeof(c->dst), "%s/%s", dstdir, base);
	free(copy);
	if (n >= (int)sizeof(c->dst)) {
		report(src, "destination path", ENAMETOOLONG);
		goto out_src;
	}
	c->dst_fd = open(c->dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			 st.st_mode & 0777);
	if (c->dst_fd < 0) {
		report(c->dst, "open", errno);
		goto out_src;
	}
	c->size = st.st_size;
	return 0;
out_src:
	close(c->src_fd);
	return -1;
}

/*
 * Ends @c: accounts for it, closes its files, and removes the destination if
 * it failed.  The caller frees it.
 */
static void end_copy(struct copy *c, struct totals *t, int err)
{
	if (err == ECANCELED) {
		t->cancelled++;
	} else if (err) {
		report(c->name, "copy failed", err);
		t->failed++;
	} else if (c->done != c->size) {
		fprintf(stderr,
			"%s: %s: copied %llu of %llu bytes (source changed?)\n",
			prog, c->name, (unsigned long long)c->done,
			(unsigned long long)c->size);
		t->failed++;
	} else {
		t->bytes += c->done;
	}
	close(c->src_fd);
	close(c->dst_fd);
	if (err || c->done != c->size)
		unlink(c->dst);
}

/*
 * Takes the completion @res of a request of @c: resumes the copy after a
 * short count, or ends it.  Returns whether it ended.
 */
static bool complete(struct io_uring *ring, struct copy *c, int res, int dev,
		     uint64_t flags, struct totals *t)
{
	if (res < 0) {
		end_copy(c, t, -res);
		return true;
	}
	c->done += res;
	if (res == 0 || c->done >= c->size) {
		end_copy(c, t, 0);
		return true;
	}
	if (c->cancelled) {
		end_copy(c, t, ECANCELED);
		return true;
	}
	if (queue_copy(ring, dev, c, flags)) {
		end_copy(c, t, EBUSY);
		return true;
	}
	return false;
}

/* Cancels every copy in flight; they complete as they stop. */
static void cancel_all(struct io_uring *ring, struct copy **inflight,
		       unsigned int n)
{
	struct io_uring_sqe *sqe;
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (!inflight[i] || inflight[i]->cancelled)
			continue;
		sqe = get_sqe(ring);
		if (!sqe)
			break;
		inflight[i]->cancelled = true;
		io_uring_prep_cancel(sqe, inflight[i], 0);
		io_uring_sqe_set_data(sqe, NULL);
	}
	io_uring_submit(ring);
}

/* Forgets @c in the table of copies in flight. */
static void forget(struct copy **inflight, unsigned int n, struct copy *c)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (inflight[i] == c) {
			inflight[i] = NULL;
			return;
		}
	}
}

int main(int argc, char **argv)
{
	struct io_uring_params params = { .flags = IORING_SETUP_SQE128 };
	struct sigaction sa = { .sa_handler = on_signal };
	unsigned long jobs = DEFAULT_JOBS;
	unsigned int count = 0;
	struct totals t = { 0 };
	struct copy **inflight;
	struct io_uring ring;
	uint64_t flags = 0;
	const char *dstdir;
	double start, secs;
	int i, next, dev, ret;
	struct stat st;

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
	next = i;
	if (argc - next < 2) {
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
	/* Room for a request and a cancel per copy. */
	ret = io_uring_queue_init_params(2 * jobs, &ring, &params);
	if (ret < 0) {
		report("io_uring", "setup (128-byte SQEs)", -ret);
		return 1;
	}
	ret = probe(&ring, dev);
	if (ret) {
		report("/dev/" COPY_RANGE_DEVICE_NAME, "no io_uring commands",
		       -ret);
		return 1;
	}
	inflight = calloc(jobs, sizeof(*inflight));
	if (!inflight) {
		report(prog, "calloc", ENOMEM);
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	start = now();
	while (count || (next < argc - 1 && !interrupted)) {
		struct io_uring_cqe *cqe;
		struct copy *c;
		unsigned int slot;

		/* Fill the free slots. */
		for (slot = 0; slot < jobs && next < argc - 1 &&
		     !interrupted; slot++) {
			if (inflight[slot])
				continue;
			c = malloc(sizeof(*c));
			if (!c) {
				report(prog, "malloc", ENOMEM);
				return 1;
			}
			t.files++;
			if (open_copy(c, argv[next++], dstdir)) {
				free(c);
				t.failed++;
				continue;
			}
			if (queue_copy(&ring, dev, c, flags)) {
				end_copy(c, &t, EBUSY);
				free(c);
				continue;
			}
			inflight[slot] = c;
			count++;
		}
		if (!count)
			break;
		if (interrupted)
			cancel_all(&ring, inflight, jobs);
		ret = io_uring_submit_and_wait(&ring, 1);
		if (ret < 0 && ret != -EINTR) {
			report("io_uring", "submit", -ret);
			return 1;
		}
		/* Every completion posted; a cancel's has no copy. */
		while (io_uring_peek_cqe(&ring, &cqe) == 0) {
			int res = cqe->res;

			c = io_uring_cqe_get_data(cqe);
			io_uring_cqe_seen(&ring, cqe);
			if (c && complete(&ring, c, res, dev, flags, &t)) {
				forget(inflight, jobs, c);
				free(c);
				count--;
			}
		}
	}
	secs = now() - start;

	printf("%u files, %llu bytes in %.3f s (%.1f MiB/s), %u failed, %u cancelled\n",
	       t.files, (unsigned long long)t.bytes, secs,
	       secs > 0 ? t.bytes / secs / (1024 * 1024) : 0.0, t.failed,
	       t.cancelled);
	free(inflight);
	io_uring_queue_exit(&ring);
	close(dev);
	return t.failed || t.cancelled ? 1 : 0;
}
