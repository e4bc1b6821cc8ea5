// SPDX-License-Identifier: GPL-2.0
/*
 * call_cost - what one small copy_range call costs next to the same
 * copy_file_range(2) call, in one boot, and prints one CSV row per case:
 *
 *   call,fs,method,case,iters,runs,med_ns,min_ns,max_ns
 *
 * Three cases isolate the parts of a call: "len0" (a length of 0: the
 * lookups and checks, nothing copied), "4k_over" (4 KiB over an existing
 * range of the destination) and "4k_new" (4 KiB into a new, empty file,
 * as a cp of a small file does).  The methods take turns, round after
 * round, so that a drift of the machine hits all alike; each sample times
 * many calls, as the guest's clock may be coarse.
 *
 * usage: call_cost DIR FSNAME
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <linux/copy_range.h>

#define ROUNDS		7
#define CALLS		4000
#define SMALL		4096
#define SOURCE_SIZE	(64 * 1024)
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static int dev_fd = -1, src_fd = -1, over_fd = -1;
static int new_fds[CALLS];
static const char *dir;

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int open_in_dir(const char *name, int i, int flags)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s.%d", dir, name, i);
	if (flags & O_CREAT)
		unlink(path);
	return open(path, flags, 0644);
}

static void remove_in_dir(const char *name, int i)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s.%d", dir, name, i);
	unlink(path);
}

/* One call of a method: 0 if it copied exactly `len` bytes. */
static int by_copy_file_range(int dst, size_t len)
{
	loff_t in = 0, out = 0;

	return copy_file_range(src_fd, &in, dst, &out, len, 0) == (ssize_t)len ?
	       0 : -1;
}

static int copy_range(int dst, size_t len, __u64 flags)
{
	struct copy_range_args a = {
		.src_fd = src_fd, .dst_fd = dst, .len = len, .flags = flags,
	};

	return ioctl(dev_fd, COPY_RANGE_IOC_COPY, &a) == (long)len &&
	       a.copied == len ? 0 : -1;
}

static int by_copy_range(int dst, size_t len)
{
	return copy_range(dst, len, 0);
}

static int by_copy_range_allow(int dst, size_t len)
{
	return copy_range(dst, len, COPY_RANGE_SHARE_ALLOW);
}

/*
 * copy_file_range(2) shares extents where the filesystem can (btrfs, xfs
 * with reflink) and copies data elsewhere: copy_range ALLOW is its match on
 * the former, flags 0 on the latter.
 */
static const struct {
	const char *name;
	int (*fn)(int dst, size_t len);
} methods[] = {
	{ "copy_file_range", by_copy_file_range },
	{ "copy_range", by_copy_range },
	{ "copy_range_allow", by_copy_range_allow },
};

#define NMETHODS	ARRAY_SIZE(methods)
#define NCASES		ARRAY_SIZE(cases)

static const struct {
	const char *name;
	size_t len;
	int new_file;
} cases[] = {
	{ "len0", 0, 0 },
	{ "4k_over", SMALL, 0 },
	{ "4k_new", SMALL, 1 },
};

/* ns per call of `calls` calls; new destinations are made outside the timing. */
static long long sample(size_t m, size_t c, int calls)
{
	long long t0, t;
	int i;

	for (i = 0; cases[c].new_file && i < calls; i++) {
		new_fds[i] = open_in_dir("new", i, O_RDWR | O_CREAT | O_TRUNC);
		if (new_fds[i] < 0)
			die("new destination");
	}
	t0 = now_ns();
	for (i = 0; i < calls; i++) {
		int dst = over_fd;

		if (cases[c].new_file)
			dst = new_fds[i];
		if (methods[m].fn(dst, cases[c].len)) {
			fprintf(stderr, "%s %s: call %d failed: %s\n",
				methods[m].name, cases[c].name, i,
				strerror(errno));
			exit(1);
		}
	}
	t = (now_ns() - t0) / calls;
	for (i = 0; cases[c].new_file && i < calls; i++) {
		close(new_fds[i]);
		remove_in_dir("new", i);
	}
	return t;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static int make_file(const char *name, const char *buf)
{
	int fd = open_in_dir(name, 0, O_RDWR | O_CREAT | O_TRUNC);

	if (fd < 0 || write(fd, buf, SOURCE_SIZE) != SOURCE_SIZE || fsync(fd))
		die(name);
	return fd;
}

int main(int argc, char **argv)
{
	static long long t[NMETHODS][NCASES][ROUNDS];
	static char buf[SOURCE_SIZE];
	struct rlimit nofile;
	int calls = CALLS;

	if (argc != 3) {
		fprintf(stderr, "usage: call_cost DIR FSNAME\n");
		return 2;
	}
	dir = argv[1];
	/* One descriptor per new destination of a sample. */
	if (!getrlimit(RLIMIT_NOFILE, &nofile)) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
		getrlimit(RLIMIT_NOFILE, &nofile);
		if (nofile.rlim_cur < (rlim_t)calls + 16)
			calls = nofile.rlim_cur - 16;
	}
	dev_fd = open("/dev/copy_range", O_RDWR | O_CLOEXEC);
	if (dev_fd < 0)
		die("/dev/copy_range");
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 131 + 7);
	src_fd = make_file("src", buf);
	over_fd = make_file("over", buf);

	/* The methods take turns, starting with another one every round. */
	for (int r = 0; r < ROUNDS; r++)
		for (size_t c = 0; c < NCASES; c++)
			for (size_t k = 0; k < NMETHODS; k++) {
				size_t m = (k + r) % NMETHODS;

				t[m][c][r] = sample(m, c, calls);
			}

	for (size_t c = 0; c < NCASES; c++) {
		for (size_t m = 0; m < NMETHODS; m++) {
			long long *v = t[m][c];

			qsort(v, ROUNDS, sizeof(v[0]), cmp_ll);
			printf("call,%s,%s,%s,%d,%d,%lld,%lld,%lld\n", argv[2],
			       methods[m].name, cases[c].name, calls, ROUNDS,
			       v[ROUNDS / 2], v[0], v[ROUNDS - 1]);
		}
	}
	remove_in_dir("src", 0);
	remove_in_dir("over", 0);
	return 0;
}
