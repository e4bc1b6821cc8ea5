// SPDX-License-Identifier: GPL-2.0
/*
 * uring_cost - what one copy costs when a program keeps many going, by
 * each way it can keep them going, in one boot; one CSV row per (method,
 * case) in call_cost's format:
 *
 *   call,fs,method,case,iters,runs,med_ns,min_ns,max_ns
 *
 * Case "inflight_4k": CALLS copies of 4 KiB with flags 0 (a data copy, or
 * copy_file_range(2)'s own choice), each from a distinct source offset to a
 * distinct destination range: copy i reads page i % SRC_PAGES of a cached
 * source and appends to destination file i % NDST, so that copies in flight
 * at once write different files (no queueing on one inode's lock) and every
 * method does exactly the same copies.  Case "inflight_16m": 16 copies of a
 * cached 16 MiB source, each into a file of its own.  med/min/max are wall
 * ns per copy over ROUNDS samples; the "_cpu" cases are the whole machine's
 * busy time per copy (/proc/stat, so io-wq and job workers count; the
 * guest's tick makes it coarse).  Destinations are made before and removed
 * after the timing, then the filesystem is synced.
 *
 * The methods, N being 1, 16 or 64 (1 or 16 for 16 MiB):
 *   ring_N     IORING_OP_URING_CMD COPY_RANGE_URING_CMD_COPY on one SQE128
 *              ring, N in flight: submit what is free, wait for one
 *              completion, reap every completion there is, refill
 *   jobs_N     COPY_RANGE_IOC_SUBMIT, N job descriptors in flight: WAIT for
 *              one, a poll() loop for more, reap, close, refill
 *   linkcp_N   io_uring IORING_OP_READ linked (IOSQE_IO_LINK) to
 *              IORING_OP_WRITE through a 4 KiB buffer, N in flight: what a
 *              program does today without the module (liburing's link-cp)
 *   ioctl_N    COPY_RANGE_IOC_COPY from N threads, each its share in turn
 *   cfr_N      copy_file_range(2) from N threads
 *
 * The methods take turns, starting with another one every round.  The
 * first sample of every method checks what it wrote against the source.
 *
 * usage: uring_cost DIR FSNAME [ROUNDS]   (fewer rounds: a quick look)
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/copy_range.h>

#define ROUNDS		7
#define CALLS		2048
#define SMALL		4096
#define SRC_PAGES	256
#define NDST		64
#define BIG		(16 << 20)
#define BIG_COPIES	16
#define BIG_ROUNDS	5
#define MAX_DEPTH	64
#define RING_ENTRIES	MAX_DEPTH
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* One sample's copies: copy i of `len` bytes, as copy_at() places it. */
struct work {
	int src;
	size_t len;
	int ncopies;
	int ndst;
	int src_slots;
	int dst[NDST];
};

struct method {
	const char *name;
	int (*run)(const struct method *m, const struct work *w,
		   long long *wall, long long *cpu);
	int depth;
	int (*one)(const struct work *w, int i);
};

static int dev_fd = -1;
static const char *dir, *fsname;
static char *src_data;

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

/* The whole machine's busy time, ns: user nice system irq softirq. */
static long long busy_ns(void)
{
	unsigned long long v[7] = {};
	FILE *f = fopen("/proc/stat", "r");
	long hz = sysconf(_SC_CLK_TCK);

	if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu",
			 &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]) != 7)
		die("/proc/stat");
	fclose(f);
	return (long long)(v[0] + v[1] + v[2] + v[5] + v[6]) *
	       (1000000000LL / hz);
}

struct span {
	long long t0, c0;
};

static void span_start(struct span *s)
{
	s->c0 = busy_ns();
	s->t0 = now_ns();
}

static void span_stop(const struct span *s, long long *wall, long long *cpu)
{
	*wall = now_ns() - s->t0;
	*cpu = busy_ns() - s->c0;
}

/* Where copy i reads and writes; `done` bytes of it already copied. */
static void copy_at(const struct work *w, int i, size_t done,
		    struct copy_range_args *a)
{
	memset(a, 0, sizeof(*a));
	a->src_fd = w->src;
	a->dst_fd = w->dst[i % w->ndst];
	a->src_off = (__u64)(i % w->src_slots) * w->len + done;
	a->dst_off = (__u64)(i / w->ndst) * w->len + done;
	a->len = w->len - done;
}

/* Page p of the source, as written. */
static void fill_page(char *page, int p)
{
	for (int j = 0; j < SMALL; j++)
		page[j] = (char)(j * 131 + p * 7 + 7);
}

/* --- one copy at a time, from one or more threads --- */

static int one_cfr(const struct work *w, int i)
{
	struct copy_range_args a;
	size_t done = 0;

	while (done < w->len) {
		loff_t in, out;
		ssize_t n;

		copy_at(w, i, done, &a);
		in = a.src_off;
		out = a.dst_off;
		n = copy_file_range(a.src_fd, &in, a.dst_fd, &out, a.len, 0);
		if (n <= 0)
			return -1;
		done += n;
	}
	return 0;
}

static int one_ioctl(const struct work *w, int i)
{
	struct copy_range_args a;
	size_t done = 0;

	while (done < w->len) {
		long n;

		copy_at(w, i, done, &a);
		n = ioctl(dev_fd, COPY_RANGE_IOC_COPY, &a);
		if (n <= 0 || a.copied != (__u64)n)
			return -1;
		done += n;
	}
	return 0;
}

struct thread {
	pthread_t id;
	const struct method *m;
	const struct work *w;
	pthread_barrier_t *go;
	int index, err;
};

static void *thread_main(void *arg)
{
	struct thread *t = arg;

	pthread_barrier_wait(t->go);
	for (int i = t->index; i < t->w->ncopies; i += t->m->depth)
		if (t->m->one(t->w, i)) {
			t->err = errno ? errno : EIO;
			break;
		}
	return NULL;
}

/*
 * Copy i goes to thread i % depth; as NDST is a multiple of the depth, no
 * two threads write the same file.  The threads are made outside the timing.
 */
static int run_threads(const struct method *m, const struct work *w,
		       long long *wall, long long *cpu)
{
	static struct thread t[MAX_DEPTH];
	pthread_barrier_t go;
	struct span s;
	int err = 0;

	if (m->depth == 1) {
		span_start(&s);
		for (int i = 0; i < w->ncopies; i++)
			if (m->one(w, i))
				return -1;
		span_stop(&s, wall, cpu);
		return 0;
	}
	pthread_barrier_init(&go, NULL, m->depth + 1);
	for (int k = 0; k < m->depth; k++) {
		t[k] = (struct thread){ .m = m, .w = w, .go = &go, .index = k };
		errno = pthread_create(&t[k].id, NULL, thread_main, &t[k]);
		if (errno)
			die("pthread_create");
	}
	span_start(&s);
	pthread_barrier_wait(&go);
	for (int k = 0; k < m->depth; k++) {
		pthread_join(t[k].id, NULL);
		if (t[k].err)
			err = t[k].err;
	}
	span_stop(&s, wall, cpu);
	pthread_barrier_destroy(&go);
	errno = err;
	return err ? -1 : 0;
}

/* --- job descriptors --- */

static int submit_job(const struct work *w, int i)
{
	struct copy_range_args a;

	copy_at(w, i, 0, &a);
	return ioctl(dev_fd, COPY_RANGE_IOC_SUBMIT, &a);
}

/* An ended job: DONE, everything copied; closes it. */
static int reap_job(const struct work *w, int fd, const struct copy_range_status *st)
{
	close(fd);
	if (st->state != COPY_RANGE_JOB_DONE || st->copied != w->len) {
		errno = st->error ? -st->error : EIO;
		return -1;
	}
	return 0;
}

static int run_jobs(const struct method *m, const struct work *w,
		    long long *wall, long long *cpu)
{
	struct pollfd pfd[MAX_DEPTH];
	struct copy_range_status st;
	int next = 0, finished = 0, pending = 0;
	struct span s;

	span_start(&s);
	if (m->depth == 1) {
		for (int i = 0; i < w->ncopies; i++) {
			int fd = submit_job(w, i);

			if (fd < 0 || ioctl(fd, COPY_RANGE_JOB_IOC_WAIT, &st) ||
			    reap_job(w, fd, &st))
				return -1;
		}
		span_stop(&s, wall, cpu);
		return 0;
	}
	for (int k = 0; k < m->depth; k++)
		pfd[k] = (struct pollfd){ .fd = -1, .events = POLLIN };
	while (finished < w->ncopies) {
		/* Refill; past the per-user cap, wait for one to end. */
		for (int k = 0; k < m->depth && next < w->ncopies; k++) {
			if (pfd[k].fd >= 0)
				continue;
			pfd[k].fd = submit_job(w, next);
			if (pfd[k].fd < 0) {
				if (errno == EAGAIN && pending)
					break;
				return -1;
			}
			next++;
			pending++;
		}
		if (poll(pfd, m->depth, -1) < 0)
			return -1;
		for (int k = 0; k < m->depth; k++) {
			if (pfd[k].fd < 0 || !(pfd[k].revents & POLLIN))
				continue;
			if (read(pfd[k].fd, &st, sizeof(st)) != sizeof(st) ||
			    reap_job(w, pfd[k].fd, &st))
				return -1;
			pfd[k].fd = -1;
			pending--;
			finished++;
		}
	}
	span_stop(&s, wall, cpu);
	return 0;
}

/* --- io_uring --- */

static struct io_uring_sqe *get_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe) {
		fprintf(stderr, "uring_cost: submission queue full\n");
		exit(2);
	}
	return sqe;
}

/* Copy i from `done` bytes on, as one COPY_RANGE_URING_CMD_COPY. */
static void queue_copy(struct io_uring *ring, const struct work *w, int i,
		       size_t done)
{
	struct io_uring_sqe *sqe = get_sqe(ring);
	struct copy_range_args a;

	copy_at(w, i, done, &a);
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, dev_fd, NULL, 0, 0);
	sqe->cmd_op = COPY_RANGE_URING_CMD_COPY;
	/* The command area: the 80 bytes from addr3 on, in a 128-byte SQE. */
	memcpy((char *)sqe + offsetof(struct io_uring_sqe, addr3), &a, sizeof(a));
	io_uring_sqe_set_data64(sqe, i);
}

static int ring_failed(struct io_uring *ring, int res)
{
	io_uring_queue_exit(ring);
	errno = res < 0 ? -res : EIO;
	return -1;
}

/*
 * Keeps depth copies in flight: submits what it queued and waits for one
 * completion in one call, reaps every completion there is, and refills.
 * A short count is submitted again for the rest.
 */
static int run_ring(const struct method *m, const struct work *w,
		    long long *wall, long long *cpu)
{
	static size_t done[CALLS];
	struct io_uring_cqe *cqes[RING_ENTRIES];
	int next = 0, finished = 0, inflight = 0, rc;
	struct io_uring ring;
	struct span s;

	rc = io_uring_queue_init(RING_ENTRIES, &ring, IORING_SETUP_SQE128);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	memset(done, 0, sizeof(done));
	span_start(&s);
	while (finished < w->ncopies) {
		unsigned int n;

		for (; inflight < m->depth && next < w->ncopies; next++, inflight++)
			queue_copy(&ring, w, next, 0);
		rc = io_uring_submit_and_wait(&ring, 1);
		if (rc < 0)
			return ring_failed(&ring, rc);
		n = io_uring_peek_batch_cqe(&ring, cqes, ARRAY_SIZE(cqes));
		for (unsigned int k = 0; k < n; k++) {
			int i = (int)cqes[k]->user_data;

			if (cqes[k]->res <= 0)
				return ring_failed(&ring, cqes[k]->res);
			done[i] += cqes[k]->res;
			if (done[i] < w->len) {
				queue_copy(&ring, w, i, done[i]);
				continue;
			}
			finished++;
			inflight--;
		}
		io_uring_cq_advance(&ring, n);
	}
	span_stop(&s, wall, cpu);
	io_uring_queue_exit(&ring);
	return 0;
}

/* user_data of linked read/write: copy index, buffer, which half. */
#define LINK_UD(i, buf, write)	(((__u64)(i) << 8 | (buf)) << 1 | (write))

/*
 * The copy a program writes today: read 4 KiB into a buffer, and a write
 * of it linked to the read, depth pairs in flight, each with its buffer.
 */
static int run_linkcp(const struct method *m, const struct work *w,
		      long long *wall, long long *cpu)
{
	static char bufs[MAX_DEPTH][SMALL];
	struct io_uring_cqe *cqes[2 * RING_ENTRIES];
	int free_buf[MAX_DEPTH], nfree = 0;
	int next = 0, finished = 0, rc;
	struct io_uring ring;
	struct span s;

	if (w->len != SMALL) {
		errno = EINVAL;
		return -1;
	}
	rc = io_uring_queue_init(2 * RING_ENTRIES, &ring, 0);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	for (int b = 0; b < m->depth; b++)
		free_buf[nfree++] = b;
	span_start(&s);
	while (finished < w->ncopies) {
		unsigned int n;

		for (; nfree && next < w->ncopies; next++) {
			struct io_uring_sqe *sqe;
			struct copy_range_args a;
			int b = free_buf[--nfree];

			copy_at(w, next, 0, &a);
			sqe = get_sqe(&ring);
			io_uring_prep_read(sqe, a.src_fd, bufs[b], SMALL, a.src_off);
			sqe->flags |= IOSQE_IO_LINK;
			io_uring_sqe_set_data64(sqe, LINK_UD(next, b, 0));
			sqe = get_sqe(&ring);
			io_uring_prep_write(sqe, a.dst_fd, bufs[b], SMALL, a.dst_off);
			io_uring_sqe_set_data64(sqe, LINK_UD(next, b, 1));
		}
		rc = io_uring_submit_and_wait(&ring, 1);
		if (rc < 0)
			return ring_failed(&ring, rc);
		n = io_uring_peek_batch_cqe(&ring, cqes, ARRAY_SIZE(cqes));
		for (unsigned int k = 0; k < n; k++) {
			__u64 ud = cqes[k]->user_data;

			if (cqes[k]->res != SMALL)
				return ring_failed(&ring, cqes[k]->res);
			if (!(ud & 1))
				continue;
			free_buf[nfree++] = (ud >> 1) & 0xff;
			finished++;
		}
		io_uring_cq_advance(&ring, n);
	}
	span_stop(&s, wall, cpu);
	io_uring_queue_exit(&ring);
	return 0;
}

/* --- samples --- */

static void dst_path(char *path, size_t size, int k)
{
	snprintf(path, size, "%s/dst.%d", dir, k);
}

static void bad_copy(const struct method *m, int k, const char *what)
{
	fprintf(stderr, "uring_cost: %s %s: dst.%d: %s\n", fsname, m->name, k, what);
	exit(1);
}

/* What the copies wrote is the source, each part where it belongs. */
static void verify(const struct method *m, const struct work *w)
{
	static char got[SMALL], want[SMALL];
	size_t per_file = (size_t)(w->ncopies / w->ndst) * w->len;

	for (int k = 0; k < w->ndst; k++) {
		struct stat st;

		if (fstat(w->dst[k], &st) || (size_t)st.st_size != per_file)
			bad_copy(m, k, "wrong size");
		for (size_t off = 0; off < per_file; off += SMALL) {
			/* The copy that wrote here, and the source page it read. */
			int i = (int)(off / w->len) * w->ndst + k;
			size_t src_off = (size_t)(i % w->src_slots) * w->len +
					 off % w->len;

			if (pread(w->dst[k], got, SMALL, off) != SMALL)
				bad_copy(m, k, "short read");
			fill_page(want, (int)(src_off / SMALL));
			if (memcmp(got, want, SMALL))
				bad_copy(m, k, "not the source's data");
		}
		/* Large copies: the first and the last file are enough. */
		if (w->len > SMALL && k == 0)
			k = w->ndst - 2;
	}
}

/* One timed run of a method: fresh destinations, then removed and synced. */
static void sample(const struct method *m, struct work *w, int check,
		   long long *wall, long long *cpu)
{
	char path[4096];
	int dfd;

	for (int k = 0; k < w->ndst; k++) {
		dst_path(path, sizeof(path), k);
		unlink(path);
		w->dst[k] = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (w->dst[k] < 0)
			die(path);
	}
	errno = 0;
	if (m->run(m, w, wall, cpu)) {
		fprintf(stderr, "uring_cost: %s %s, %zu bytes: %s\n", fsname,
			m->name, w->len, strerror(errno));
		exit(1);
	}
	*wall /= w->ncopies;
	*cpu /= w->ncopies;
	if (check)
		verify(m, w);
	for (int k = 0; k < w->ndst; k++) {
		close(w->dst[k]);
		dst_path(path, sizeof(path), k);
		unlink(path);
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0 || syncfs(dfd))
		die(dir);
	close(dfd);
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static void print_row(const char *method, const char *kase, int iters,
		      int runs, long long *v)
{
	qsort(v, runs, sizeof(v[0]), cmp_ll);
	printf("call,%s,%s,%s,%d,%d,%lld,%lld,%lld\n", fsname, method, kase,
	       iters, runs, v[runs / 2], v[0], v[runs - 1]);
}

/* Every method of a case, `runs` rounds, the methods taking turns. */
static void bench(const char *kase, const struct method *methods,
		  size_t nmethods, struct work *w, int runs)
{
	static long long wall[16][ROUNDS], cpu[16][ROUNDS];
	char cpu_case[64];

	for (int r = 0; r < runs; r++)
		for (size_t k = 0; k < nmethods; k++) {
			size_t i = (k + r) % nmethods;

			sample(&methods[i], w, r == 0, &wall[i][r], &cpu[i][r]);
		}
	snprintf(cpu_case, sizeof(cpu_case), "%s_cpu", kase);
	for (size_t i = 0; i < nmethods; i++) {
		print_row(methods[i].name, kase, w->ncopies, runs, wall[i]);
		print_row(methods[i].name, cpu_case, w->ncopies, runs, cpu[i]);
	}
	fflush(stdout);
}

static int make_source(void)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/src", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die(path);
	src_data = malloc(BIG);
	if (!src_data)
		die("malloc");
	for (int p = 0; p < BIG / SMALL; p++)
		fill_page(src_data + (size_t)p * SMALL, p);
	if (write(fd, src_data, BIG) != BIG || fsync(fd))
		die("write source");
	/* Cached: every method reads the source from the page cache. */
	if (pread(fd, src_data, BIG, 0) != BIG)
		die("read source");
	return fd;
}

static const struct method small_methods[] = {
	{ "cfr_1", run_threads, 1, one_cfr },
	{ "cfr_16", run_threads, 16, one_cfr },
	{ "cfr_64", run_threads, 64, one_cfr },
	{ "ioctl_1", run_threads, 1, one_ioctl },
	{ "ioctl_16", run_threads, 16, one_ioctl },
	{ "ioctl_64", run_threads, 64, one_ioctl },
	{ "jobs_1", run_jobs, 1, NULL },
	{ "jobs_16", run_jobs, 16, NULL },
	{ "jobs_64", run_jobs, 64, NULL },
	{ "ring_1", run_ring, 1, NULL },
	{ "ring_16", run_ring, 16, NULL },
	{ "ring_64", run_ring, 64, NULL },
	{ "linkcp_1", run_linkcp, 1, NULL },
	{ "linkcp_16", run_linkcp, 16, NULL },
	{ "linkcp_64", run_linkcp, 64, NULL },
};

static const struct method big_methods[] = {
	{ "ring_1", run_ring, 1, NULL },
	{ "ring_16", run_ring, 16, NULL },
	{ "ioctl_1", run_threads, 1, one_ioctl },
	{ "ioctl_16", run_threads, 16, one_ioctl },
};

int main(int argc, char **argv)
{
	int rounds = ROUNDS, big_rounds = BIG_ROUNDS;
	struct work w = {};
	char path[4096];

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: uring_cost DIR FSNAME [ROUNDS]\n");
		return 2;
	}
	dir = argv[1];
	fsname = argv[2];
	if (argc > 3) {
		rounds = atoi(argv[3]);
		if (rounds < 1 || rounds > ROUNDS) {
			fprintf(stderr, "uring_cost: 1 to %d rounds\n", ROUNDS);
			return 2;
		}
		if (rounds < big_rounds)
			big_rounds = rounds;
	}
	dev_fd = open("/dev/copy_range", O_RDWR | O_CLOEXEC);
	if (dev_fd < 0)
		die("/dev/copy_range");
	w.src = make_source();

	w.len = SMALL;
	w.ncopies = CALLS;
	w.ndst = NDST;
	w.src_slots = SRC_PAGES;
	bench("inflight_4k", small_methods, ARRAY_SIZE(small_methods), &w, rounds);

	w.len = BIG;
	w.ncopies = BIG_COPIES;
	w.ndst = BIG_COPIES;
	w.src_slots = 1;
	bench("inflight_16m", big_methods, ARRAY_SIZE(big_methods), &w, big_rounds);

	close(w.src);
	snprintf(path, sizeof(path), "%s/src", dir);
	unlink(path);
	return 0;
}
