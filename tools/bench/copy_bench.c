// SPDX-License-Identifier: GPL-2.0
/*
 * copy_bench - times every way to copy a file on one filesystem, in one
 * boot, and prints one CSV row per (method, size):
 *
 *   fs,method,size,runs,iters,wall_med_ns,wall_min_ns,wall_max_ns,cpu_med_ns
 *
 * wall is per copy; cpu is the whole machine's busy time per copy from
 * /proc/stat (user+nice+system+irq+softirq), so the work of kernel workers
 * (asynchronous jobs) counts too.  Sources are in the page cache; the
 * destination is a new file for every copy, removed outside the timing.
 * Small copies are repeated until a sample lasts at least MIN_SAMPLE_NS,
 * and timed as a batch: under QEMU's TCG the guest's clock may tick only
 * every few milliseconds.
 *
 * usage: copy_bench DIR FSNAME [MAX_SIZE]
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/copy_range.h>
#include <linux/fs.h>

#define MIN_SAMPLE_NS	(200 * 1000 * 1000LL)
#define MAX_ITERS	512
#define RW_BUF		(128 * 1024)
#define MAX_RUNS	7
#define MAX_JOBS	16
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static int dev_fd = -1;
static const char *dir;
static char *rw_buf;

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Busy time of the whole machine, in ns, from /proc/stat's first line. */
static long long busy_ns(void)
{
	unsigned long long v[8] = {};
	FILE *f = fopen("/proc/stat", "r");
	long hz = sysconf(_SC_CLK_TCK);

	if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
			 &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 8) {
		perror("/proc/stat");
		exit(2);
	}
	fclose(f);
	/* user nice system (idle) (iowait) irq softirq steal */
	return (long long)(v[0] + v[1] + v[2] + v[5] + v[6]) * (1000000000LL / hz);
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

/* What one method does with one source file of `size` bytes into `dst`. */
typedef int (*copy_fn)(int src, int dst, size_t size);

static int by_read_write(int src, int dst, size_t size)
{
	off_t off = 0;

	while ((size_t)off < size) {
		ssize_t n = pread(src, rw_buf, RW_BUF, off);

		if (n <= 0)
			return -1;
		if (pwrite(dst, rw_buf, n, off) != n)
			return -1;
		off += n;
	}
	return 0;
}

static int by_copy_file_range(int src, int dst, size_t size)
{
	loff_t in = 0, out = 0;

	while ((size_t)in < size) {
		ssize_t n = copy_file_range(src, &in, dst, &out, size - in, 0);

		if (n <= 0)
			return -1;
	}
	return 0;
}

static int by_ficlonerange(int src, int dst, size_t size)
{
	struct file_clone_range r = { .src_fd = src, .src_length = size };

	return ioctl(dst, FICLONERANGE, &r);
}

static int by_copy_range(int src, int dst, size_t size, __u64 flags)
{
	size_t done = 0;

	while (done < size) {
		struct copy_range_args a = {
			.src_fd = src, .dst_fd = dst, .src_off = done,
			.dst_off = done, .len = size - done, .flags = flags,
		};
		long n = ioctl(dev_fd, COPY_RANGE_IOC_COPY, &a);

		if (n <= 0)
			return -1;
		done += a.copied;
	}
	return 0;
}

static int by_copy_range_0(int s, int d, size_t n) { return by_copy_range(s, d, n, 0); }
static int by_copy_range_allow(int s, int d, size_t n)
{
	return by_copy_range(s, d, n, COPY_RANGE_SHARE_ALLOW);
}
static int by_copy_range_require(int s, int d, size_t n)
{
	return by_copy_range(s, d, n, COPY_RANGE_SHARE_REQUIRE);
}

static int open_dst(int i)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/dst.%d", dir, i);
	return open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
}

static void remove_dsts(int n)
{
	char path[4096];

	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/dst.%d", dir, i);
		unlink(path);
	}
}

/*
 * `jobs` copies of the source at once, as asynchronous jobs with at most
 * `jobs` in flight, completion driven by one poll() loop.  Returns 0 when
 * every job ended DONE.
 */
static int by_jobs(int src, size_t size, int jobs)
{
	struct pollfd pfd[MAX_JOBS];
	int dst[MAX_JOBS], pending = 0, rc = 0;

	for (int i = 0; i < jobs; i++) {
		struct copy_range_args a = {
			.src_fd = src, .src_off = 0, .dst_off = 0, .len = size,
		};

		dst[i] = open_dst(i);
		a.dst_fd = dst[i];
		pfd[i].fd = ioctl(dev_fd, COPY_RANGE_IOC_SUBMIT, &a);
		pfd[i].events = POLLIN;
		if (pfd[i].fd < 0)
			return -1;
		pending++;
	}
	while (pending) {
		if (poll(pfd, jobs, -1) < 0)
			return -1;
		for (int i = 0; i < jobs; i++) {
			struct copy_range_status st;

			if (pfd[i].fd < 0 || !(pfd[i].revents & POLLIN))
				continue;
			if (read(pfd[i].fd, &st, sizeof(st)) != sizeof(st) ||
			    st.state != COPY_RANGE_JOB_DONE || st.copied != size)
				rc = -1;
			close(pfd[i].fd);
			pfd[i].fd = -1;
			pending--;
		}
	}
	for (int i = 0; i < jobs; i++)
		close(dst[i]);
	return rc;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

/* One timed sample: `iters` copies into fresh, pre-opened destinations. */
static int sample(copy_fn fn, int jobs, int src, size_t size, int iters,
		  long long *wall, long long *cpu)
{
	static int dst[MAX_ITERS];
	long long t0, c0;
	int rc = 0;

	for (int i = 0; fn && i < iters; i++) {
		dst[i] = open_dst(i);
		if (dst[i] < 0)
			die("open destination");
	}
	c0 = busy_ns();
	t0 = now_ns();
	for (int i = 0; i < iters && !rc; i++)
		rc = fn ? fn(src, dst[i], size) : by_jobs(src, size, jobs);
	*wall = (now_ns() - t0) / iters;
	*cpu = (busy_ns() - c0) / iters;
	for (int i = 0; fn && i < iters; i++)
		close(dst[i]);
	remove_dsts(fn ? iters : jobs);
	return rc;
}

/*
 * Times `fn` (or, with fn == NULL, `jobs` asynchronous jobs: then one "copy"
 * is all `jobs` of them) and prints the row.  Skips a method whose first
 * copy fails (FICLONERANGE or REQUIRE where the fs cannot share).
 */
static void bench(const char *fs, const char *method, copy_fn fn, int jobs,
		  int src, size_t size)
{
	long long wall[MAX_RUNS], cpu[MAX_RUNS];
	int runs = size >= (64 << 20) ? 3 : size >= (4 << 20) ? 5 : MAX_RUNS;
	int iters = 1;

	/* Calibrate: enough copies per sample to last MIN_SAMPLE_NS. */
	for (;;) {
		if (sample(fn, jobs, src, size, iters, &wall[0], &cpu[0])) {
			fprintf(stderr, "%s %s %zu: skipped (%s)\n", fs, method,
				size, strerror(errno));
			return;
		}
		if (wall[0] * iters >= MIN_SAMPLE_NS || iters >= MAX_ITERS)
			break;
		iters = iters * 4 > MAX_ITERS ? MAX_ITERS : iters * 4;
	}
	for (int r = 0; r < runs; r++)
		if (sample(fn, jobs, src, size, iters, &wall[r], &cpu[r]))
			die(method);
	qsort(wall, runs, sizeof(wall[0]), cmp_ll);
	qsort(cpu, runs, sizeof(cpu[0]), cmp_ll);
	printf("%s,%s,%zu,%d,%d,%lld,%lld,%lld,%lld\n", fs, method, size, runs,
	       iters, wall[runs / 2], wall[0], wall[runs - 1], cpu[runs / 2]);
	fflush(stdout);
}

static int make_source(size_t size)
{
	char path[4096];
	size_t off = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/src", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die(path);
	for (size_t i = 0; i < RW_BUF; i++)
		rw_buf[i] = (char)(i * 131 + 7);
	while (off < size) {
		size_t n = size - off < RW_BUF ? size - off : RW_BUF;

		if (pwrite(fd, rw_buf, n, off) != (ssize_t)n)
			die("write source");
		off += n;
	}
	/* On disk, and in the page cache: every method reads a cached source. */
	fsync(fd);
	while (off > 0 && pread(fd, rw_buf, RW_BUF, size - off) > 0)
		off = off > RW_BUF ? off - RW_BUF : 0;
	return fd;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		copy_fn fn;
		int jobs;
	} methods[] = {
		{ .name = "read_write", .fn = by_read_write },
		{ .name = "copy_file_range", .fn = by_copy_file_range },
		{ .name = "ficlonerange", .fn = by_ficlonerange },
		{ .name = "copy_range", .fn = by_copy_range_0 },
		{ .name = "copy_range_allow", .fn = by_copy_range_allow },
		{ .name = "copy_range_require", .fn = by_copy_range_require },
		{ .name = "jobs_1", .jobs = 1 },
		{ .name = "jobs_4", .jobs = 4 },
		{ .name = "jobs_16", .jobs = 16 },
	};
	size_t max = 256 << 20;

	if (argc < 3) {
		fprintf(stderr, "usage: copy_bench DIR FSNAME [MAX_SIZE]\n");
		return 2;
	}
	dir = argv[1];
	if (argc > 3)
		max = strtoull(argv[3], NULL, 0);
	rw_buf = malloc(RW_BUF);
	dev_fd = open("/dev/copy_range", O_RDWR | O_CLOEXEC);
	if (!rw_buf || dev_fd < 0)
		die("/dev/copy_range");

	for (size_t size = 4096; size <= max; size *= 4) {
		int src = make_source(size);

		for (size_t m = 0; m < ARRAY_SIZE(methods); m++) {
			/* 16 jobs of 256 MiB would not fit tmpfs; cap the bytes in flight. */
			if (!methods[m].fn && size * methods[m].jobs > (1ULL << 30))
				continue;
			bench(argv[2], methods[m].name, methods[m].fn,
			      methods[m].jobs, src, size);
		}
		close(src);
	}
	return 0;
}
