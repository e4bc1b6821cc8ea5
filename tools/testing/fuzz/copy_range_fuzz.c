// SPDX-License-Identifier: GPL-2.0
/*
 * copy_range_fuzz - random ioctls on /dev/copy_range and on its job
 * descriptors, every result checked.
 *
 *   copy_range_fuzz --seed N --seconds S [--iterations K] [--user nobody]
 *                   [--no-racer] [--verbose]
 *
 * (--verbose prints every call as it returns, with its iteration.)
 *
 * Every call gets random and boundary values in every field, descriptors of
 * every kind (regular files in every open mode on btrfs, xfs, ext4, tmpfs,
 * /tmp and memfd, directories, pipes, sockets, eventfd, procfs, sysfs,
 * debugfs, /dev/null, the device itself, job descriptors, O_PATH, closed
 * and absurd numbers) and good and bad memory (NULL, unmapped, kernel
 * addresses, a structure running into a PROT_NONE page, read-only memory
 * for structures the kernel writes to).
 *
 * A result must be a count in range, or -1 with an errno that
 * Documentation/copy_range.rst lists for that call; where the arguments
 * alone decide the errno (a closed descriptor, unknown flags, a directory,
 * an unreadable argument block, offsets that wrap...), exactly that errno.
 * Copies and jobs between private files, which nothing else touches, are
 * checked byte for byte against a model of every private file kept in
 * memory, outside the copied range too.
 *
 * Meanwhile a second thread truncates, punches holes in, writes, closes and
 * dup2()s over the shared descriptors; children are killed in the middle
 * of long copies and of COPY_RANGE_JOB_IOC_WAIT; as root, with
 * COPY_RANGE_KO set (the test VM sets it), rmmod must fail while the
 * device is open.  Nothing waits without a bound: a wait gets 60 s, and a
 * call that has not returned after 120 s ends the run as a failure.
 *
 * The calls of iteration I come from a generator seeded with (seed, I), so
 * that a failure's seed and iteration say which call it was; --no-racer
 * leaves out the second thread for a quieter replay.  Output is TAP: "#"
 * lines, then "ok 1 - ..." or "not ok 1 - ...".
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "../selftests/copy_range/copy_range_helpers.h"
#include "../selftests/copy_range/cr_uring.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* A private file's model holds this much; writes past it are kept aside. */
#define MODEL_CAP	(8 * MIB)
/* Private files are trimmed back below this after a call. */
#define MODEL_TRIM	(2 * MIB)
/* Past this destination offset a filesystem's size limit (EFBIG) may apply. */
#define FAR_OFF		(1ULL << 40)
/* MAX_RW_COUNT with 4 KiB pages: the most one call copies. */
#define MAX_RW		0x7ffff000ULL
#define PF_PER_LOC	3
/* Descriptor numbers the racing thread closes and dup2()s over. */
#define NR_SLOTS	8
#define SLOT_BASE	900
/* Descriptor numbers that are never open. */
#define NR_CLOSED	4
#define CLOSED_BASE	1000
/* Long copies to kill children in: a sparse source into a sparse destination. */
#define LONG_SIZE	(8 * MIB + 4096)
#define LONG_HEAD	(256 * KIB)
/*
 * A job that shares a hole this big runs for long (a clone of 64 MiB at a
 * time), writes nothing, and stops at once when cancelled.
 */
#define CLONE_SIZE	(1ULL << 40)
#define MAX_HELD_JOBS	80
#define WAIT_LIMIT	60
#define HANG_LIMIT	120
#define NOBODY		65534
#define MAX_FAR		(COPY_RANGE_VEC_MAX_SEGS + 16)
#define RACY_MAX	(2 * MIB)

/* Options. */
static uint64_t opt_seed = 1;
static double opt_seconds = 60;
static uint64_t opt_iterations = UINT64_MAX;
static bool opt_nobody, opt_no_racer, opt_verbose;

static bool in_vm, as_root;
static long page_size;

/* What the run did. */
static uint64_t iteration;
static unsigned long n_calls, n_verified, n_jobs, n_jobs_verified, n_short;
static unsigned long n_failures, n_skips, n_kills, n_rmmod, n_eagain, n_floods;
static unsigned long n_sig_timers, n_eintr, n_slow, n_copies_ok;
static unsigned long n_ring, n_ring_cancels, n_ring_cancelled;

/*
 * The io_uring transport: a COPY may go through COPY_RANGE_URING_CMD_COPY
 * on a ring of 128-byte SQEs instead of the ioctl, with the same oracle.
 */
static struct cr_ring ring = { .fd = -1 };
static bool ring_ok;
static volatile unsigned long n_racer_ops;

/* The call in progress, for failure reports and the watchdog. */
static char call_desc[4096];
static volatile double call_started;
static volatile sig_atomic_t alarms;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Time spent inside fuzzed calls in this iteration, to tell it from checking. */
static double iter_call_time;

static void call_begin(void)
{
	call_started = now();
}

static void diag(const char *fmt, ...);

static void call_end(void)
{
	int err = errno;

	iter_call_time += now() - call_started;
	call_started = 0;
	/* --verbose traces every call, for a replay. */
	if (opt_verbose)
		diag("%" PRIu64 ": %s", iteration, call_desc);
	errno = err;
}

static void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/*
 * A failure: the seed, the iteration and the call, so that it can be
 * replayed, then what was wrong.  The first 40 are printed in full.
 */
static void fail(const char *fmt, ...)
{
	va_list ap;

	n_failures++;
	if (n_failures > 40)
		return;
	printf("# FAIL: seed %" PRIu64 " iteration %" PRIu64 ": %s\n#   ",
	       opt_seed, iteration, call_desc);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void describe(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(call_desc, sizeof(call_desc), fmt, ap);
	va_end(ap);
}

/* Appends to the description of the call in progress. */
static void describe_more(const char *fmt, ...)
{
	size_t at = strlen(call_desc);
	va_list ap;

	if (at >= sizeof(call_desc) - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(call_desc + at, sizeof(call_desc) - at, fmt, ap);
	va_end(ap);
}

static const char *errname(int e)
{
	static char buf[16];

	switch (e) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EXDEV: return "EXDEV";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case ENOTTY: return "ENOTTY";
	case ETXTBSY: return "ETXTBSY";
	case EFBIG: return "EFBIG";
	case ENOSPC: return "ENOSPC";
	case EMFILE: return "EMFILE";
	case EOVERFLOW: return "EOVERFLOW";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EDQUOT: return "EDQUOT";
	case ECANCELED: return "ECANCELED";
	}
	snprintf(buf, sizeof(buf), "errno %d", e);
	return buf;
}

/* Sets of errnos. */
struct eset {
	uint64_t w[3];
};

static void es_add(struct eset *s, int e)
{
	if (e > 0 && e < 192)
		s->w[e / 64] |= 1ULL << (e % 64);
}

static bool es_has(const struct eset *s, int e)
{
	return e > 0 && e < 192 && (s->w[e / 64] >> (e % 64)) & 1;
}

static void es_union(struct eset *s, const struct eset *t)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(s->w); i++)
		s->w[i] |= t->w[i];
}

/* The set of the errnos given, up to a 0. */
static struct eset es_of(int first, ...)
{
	struct eset s = {};
	va_list ap;
	int e;

	va_start(ap, first);
	for (e = first; e; e = va_arg(ap, int))
		es_add(&s, e);
	va_end(ap);
	return s;
}

/* Documentation/copy_range.rst, "Errors", for a copy (COPY, COPYV). */
static struct eset es_copy(void)
{
	return es_of(EBADF, EINVAL, EISDIR, EXDEV, EPERM, ETXTBSY, EOVERFLOW,
		     EFBIG, EOPNOTSUPP, ENOSPC, EIO, EDQUOT, EINTR, EFAULT, 0);
}

/*
 * A submit makes the same checks, copies nothing, and fails with EAGAIN past
 * the user's limit of jobs in flight.
 */
static struct eset es_submit(void)
{
	return es_of(EBADF, EINVAL, EISDIR, EXDEV, EPERM, ETXTBSY, EOVERFLOW,
		     EFBIG, EOPNOTSUPP, EFAULT, EAGAIN, 0);
}

/* The errors a job may end with: those of a copy, less the caller's own. */
static struct eset es_job_error(void)
{
	return es_of(EINVAL, EFBIG, ENOSPC, EIO, EDQUOT, 0);
}

/*
 * The generator: splitmix64.  Each iteration starts from one seeded with
 * (seed, iteration), so that a call depends on the seed, the iteration and
 * the state of the files only.
 */
struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t below(struct rng *r, uint64_t n)
{
	return n ? rnd(r) % n : 0;
}

static bool chance(struct rng *r, unsigned int percent)
{
	return below(r, 100) < percent;
}

static struct rng rng_for(uint64_t stream, uint64_t i)
{
	struct rng r = { opt_seed * 0xd1342543de82ef95ULL + stream };

	r.s ^= i * 0xa0761d6478bd642fULL;
	rnd(&r);
	return r;
}

static const uint64_t edge_values[] = {
	0, 1, 2, 511, 512, 4095, 4096, 4097, 8191, 8192, 65535, 65536,
	1 * MIB, 4 * MIB - 1, 4 * MIB, 4 * MIB + 1,
	MAX_RW, MAX_RW + 1, 0x7fffffffULL, 0x80000000ULL, 0x80000001ULL,
	0xffffffffULL, 0x100000000ULL, 0x100000001ULL,
	1ULL << 40, 1ULL << 44, 1ULL << 62,
	INT64_MAX - 4095, INT64_MAX - 1, INT64_MAX,
	1ULL << 63, (1ULL << 63) + 1, UINT64_MAX - 4095, UINT64_MAX - 1,
	UINT64_MAX,
};

/* Any value, boundaries more often than chance would pick them. */
static uint64_t wild_u64(struct rng *r)
{
	switch (below(r, 7)) {
	case 0:
	case 1:
		return edge_values[below(r, ARRAY_SIZE(edge_values))];
	case 2:
		return below(r, 65536);
	case 3:
		return below(r, 1 << 20) * 4096;
	case 4:
		return -(below(r, 8192) + 1);
	case 5:
		return edge_values[below(r, ARRAY_SIZE(edge_values))] +
		       below(r, 3) - 1;
	default:
		return rnd(r) >> below(r, 64);
	}
}

/* An offset in or around a file of @size bytes. */
static uint64_t near_off(struct rng *r, uint64_t size)
{
	switch (below(r, 10)) {
	case 0:
	case 1:
		return 0;
	case 2:
		return size;
	case 3:
		return size ? size - 1 : 0;
	case 4:
		return size + 1 + below(r, 8192);
	case 5:
	case 6:
		return below(r, size / 4096 + 2) * 4096;
	case 7:
		return 4096 * below(r, 3) + below(r, 3) - 1 + (below(r, 2) ? 0 : 2);
	case 8:
		return wild_u64(r);
	default:
		return below(r, size + 1);
	}
}

/* A length for a copy at @off from a file of @size bytes. */
static uint64_t near_len(struct rng *r, uint64_t size, uint64_t off)
{
	switch (below(r, 12)) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return 4096 * (1 + below(r, 4));
	case 3:
	case 4:
		return off < size ? size - off : 1 + below(r, 4096);
	case 5:
		return INT64_MAX;
	case 6:
		return 4095 + below(r, 3);
	case 7:
		return wild_u64(r);
	case 8:
		return CR_CHUNK + below(r, 3) - 1;
	default:
		return below(r, size + 4097);
	}
}

/*
 * Where files live.  The four scratch filesystems must be there in the VM;
 * /tmp and memfd always are.
 */
enum { L_BTRFS, L_XFS, L_EXT4, L_TMPFS, L_TMP, L_MEMFD, NR_LOCS };

struct location {
	const char *name;
	const char *root;
	unsigned long magic;
	/* 1: can share extents; 0: cannot (REQUIRE is EOPNOTSUPP); -1: unknown. */
	int shares;
	bool present;
	char dir[PATH_MAX];
	/* A file the racing thread changes: O_RDWR, O_RDONLY, O_WRONLY, O_APPEND. */
	int racy[4];
	/* A sparse source with a pattern at its head, and a sparse destination. */
	int long_src, long_dst;
	/* Where extents can be shared: a sparse source of CLONE_SIZE, a destination. */
	int clone_src, clone_dst;
};

static struct location locs[NR_LOCS] = {
	[L_BTRFS] = { "btrfs", FS_BTRFS, BTRFS_SUPER_MAGIC, 1 },
	[L_XFS] = { "xfs", FS_XFS, XFS_SUPER_MAGIC, 1 },
	[L_EXT4] = { "ext4", FS_EXT4, EXT4_SUPER_MAGIC, 0 },
	[L_TMPFS] = { "tmpfs", FS_TMPFS, TMPFS_MAGIC, 0 },
	[L_TMP] = { "tmp", "/tmp", 0, -1 },
	[L_MEMFD] = { "memfd", NULL, 0, 0 },
};

/* Far writes: bytes a copy put past MODEL_CAP, until the file is trimmed. */
struct far {
	uint64_t off, len;
	unsigned char *buf;
};

/*
 * A private file: only the main thread's calls change it, so its model says
 * what every byte must be.  Bytes of data past size are zero.
 */
struct pfile {
	char name[32];
	int loc;
	/* O_RDWR: for checking and reshaping, never in a fuzzed call. */
	int fd;
	uint64_t size;
	unsigned char *data;
	struct far far[MAX_FAR];
	int nr_far;
	/* Written to by a job that has not been checked yet. */
	bool busy;
	/* FS_IMMUTABLE_FL is set: every copy into it is EPERM. */
	bool immutable;
	/* Zoo entries, one per open mode (-1: could not be opened). */
	int zi[8];
};

#define MAX_PFILES	(NR_LOCS * (PF_PER_LOC + 1))
static struct pfile pfiles[MAX_PFILES];
static int nr_pfiles;

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Model bytes [off, off + len) into @out. */
static void model_read(const struct pfile *p, uint64_t off, uint64_t len,
		       unsigned char *out)
{
	uint64_t end = off + len, lo, hi;
	int i;

	memset(out, 0, len);
	hi = min_u64(min_u64(end, p->size), MODEL_CAP);
	if (off < hi)
		memcpy(out, p->data + off, hi - off);
	for (i = 0; i < p->nr_far; i++) {
		const struct far *f = &p->far[i];

		lo = max_u64(off, f->off);
		hi = min_u64(min_u64(end, f->off + f->len), p->size);
		if (lo < hi)
			memcpy(out + (lo - off), f->buf + (lo - f->off), hi - lo);
	}
}

/* Writes @len bytes at @off into the model; false if it cannot hold them. */
static bool model_write(struct pfile *p, uint64_t off, const unsigned char *buf,
			uint64_t len)
{
	uint64_t end = off + len;
	struct far *f;

	if (!len)
		return true;
	if (off < MODEL_CAP) {
		uint64_t n = min_u64(end, MODEL_CAP) - off;

		memcpy(p->data + off, buf, n);
		off += n;
		buf += n;
		len -= n;
	}
	if (len) {
		if (p->nr_far == MAX_FAR)
			return false;
		f = &p->far[p->nr_far];
		f->buf = malloc(len);
		if (!f->buf)
			return false;
		memcpy(f->buf, buf, len);
		f->off = off;
		f->len = len;
		p->nr_far++;
	}
	if (end > p->size)
		p->size = end;
	return true;
}

/* Truncates the model to @size bytes, no more than MODEL_CAP. */
static void model_truncate(struct pfile *p, uint64_t size)
{
	int i;

	for (i = 0; i < p->nr_far; i++)
		free(p->far[i].buf);
	p->nr_far = 0;
	if (size < p->size && size < MODEL_CAP)
		memset(p->data + size, 0, min_u64(p->size, MODEL_CAP) - size);
	p->size = size;
}

static unsigned char *scratch_a, *scratch_b;

/*
 * Random bytes, none of them zero, made once: data for private files comes
 * from here, at a random offset, because computing it byte by byte costs
 * too much under emulation.
 */
#define POOL_SIZE	(4 * MIB)
static unsigned char *pool;

static void pool_setup(void)
{
	struct rng r = rng_for(5, 0);
	uint64_t w;
	size_t i;

	pool = malloc(POOL_SIZE);
	if (!pool)
		return;
	for (i = 0; i < POOL_SIZE; i += 8) {
		w = rnd(&r) | 0x0101010101010101ULL;
		memcpy(pool + i, &w, 8);
	}
}

static void fill_random(struct rng *r, unsigned char *buf, uint64_t len)
{
	uint64_t at = below(r, POOL_SIZE), n;

	while (len) {
		n = min_u64(len, POOL_SIZE - at);
		memcpy(buf, pool + at, n);
		buf += n;
		len -= n;
		at = 0;
	}
}

/* The file's bytes [off, off + len) against the model's; true if equal. */
static bool range_matches(struct pfile *p, uint64_t off, uint64_t len,
			  const char *what)
{
	while (len) {
		size_t n = min_u64(len, MODEL_CAP);
		ssize_t got = pread(p->fd, scratch_a, n, off);
		size_t i;

		if (got != (ssize_t)n) {
			fail("%s: %s: pread of %zu bytes at %" PRIu64 " returned %zd (%s)",
			     what, p->name, n, off, got, strerror(errno));
			return false;
		}
		model_read(p, off, n, scratch_b);
		if (memcmp(scratch_a, scratch_b, n)) {
			for (i = 0; scratch_a[i] == scratch_b[i]; i++)
				;
			fail("%s: %s: byte %" PRIu64 " is 0x%02x, want 0x%02x (size %" PRIu64 ")",
			     what, p->name, off + i, scratch_a[i], scratch_b[i], p->size);
			return false;
		}
		off += n;
		len -= n;
	}
	return true;
}

/*
 * The whole file against its model: the size, every byte below MODEL_CAP,
 * every far write and samples of the zeros around them.
 */
static bool model_check(struct pfile *p, const char *what)
{
	struct stat st;
	int i;

	if (fstat(p->fd, &st)) {
		fail("%s: fstat %s: %s", what, p->name, strerror(errno));
		return false;
	}
	if ((uint64_t)st.st_size != p->size) {
		fail("%s: %s is %lld bytes, want %" PRIu64, what, p->name,
		     (long long)st.st_size, p->size);
		return false;
	}
	if (!range_matches(p, 0, min_u64(p->size, MODEL_CAP), what))
		return false;
	for (i = 0; i < p->nr_far; i++) {
		const struct far *f = &p->far[i];
		uint64_t lo = f->off > 4096 ? f->off - 4096 : 0;
		uint64_t hi = min_u64(f->off + f->len + 4096, p->size);

		if (!range_matches(p, lo, hi - lo, what))
			return false;
	}
	if (p->size > MODEL_CAP) {
		uint64_t tail = max_u64(p->size - 4096, MODEL_CAP);

		if (!range_matches(p, MODEL_CAP, min_u64(4096, p->size - MODEL_CAP), what) ||
		    !range_matches(p, tail, p->size - tail, what))
			return false;
	}
	n_verified++;
	return true;
}

/*
 * After a check: a file that grew past MODEL_TRIM is cut back, so that
 * files stay small and far writes do not pile up.
 */
static void model_settle(struct pfile *p, struct rng *r)
{
	uint64_t size;

	if (p->size <= MODEL_TRIM && !p->nr_far)
		return;
	size = below(r, 512 * KIB);
	if (ftruncate(p->fd, size)) {
		fail("trim %s to %" PRIu64 ": %s", p->name, size, strerror(errno));
		return;
	}
	model_truncate(p, min_u64(size, p->size));
	if (p->size < size)
		p->size = size;
}

/* model_settle() outside a fuzzed call, with a generator of its own. */
static void settle_now(struct pfile *p)
{
	struct rng r = rng_for(6, iteration);

	model_settle(p, &r);
}

/*
 * A new shape for a private file: a size, pattern in some places, holes
 * punched in others.  Done with plain system calls, then checked.
 */
static void pfile_reshape(struct pfile *p, struct rng *r)
{
	static const uint64_t sizes[] = {
		0, 1, 100, 4095, 4096, 4097, 65536, 300 * KIB, 1 * MIB, CR_CHUNK + 4097,
	};
	unsigned char *buf = scratch_a;
	uint64_t size, off, len;
	int i, n;

	/* A file a job holds is the job's until its status has been checked. */
	if (p->immutable || p->busy)
		return;
	size = chance(r, 30) ? sizes[below(r, ARRAY_SIZE(sizes))] :
			       below(r, 256 * KIB + 1);
	if (ftruncate(p->fd, 0) || ftruncate(p->fd, size)) {
		fail("reshape %s: ftruncate %" PRIu64 ": %s", p->name, size,
		     strerror(errno));
		return;
	}
	model_truncate(p, 0);
	p->size = size;
	n = size ? 1 + below(r, 4) : 0;
	for (i = 0; i < n; i++) {
		off = below(r, size);
		len = min_u64(1 + below(r, size), size - off);
		if (chance(r, 70)) {
			fill_random(r, buf, len);
			if (pwrite(p->fd, buf, len, off) != (ssize_t)len) {
				fail("reshape %s: pwrite: %s", p->name, strerror(errno));
				return;
			}
			model_write(p, off, buf, len);
		} else if (!fallocate(p->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      off, len)) {
			memset(buf, 0, len);
			model_write(p, off, buf, len);
		}
	}
	model_check(p, "reshape");
}

/*
 * Descriptors.  The zoo holds every descriptor the fuzzer passes around,
 * with what the oracle knows about it.
 */
enum zkind {
	Z_REG,		/* a regular file on a real filesystem */
	Z_PSEUDO,	/* a regular file on procfs, sysfs, debugfs */
	Z_DIR,
	Z_OTHER,	/* pipe, socket, eventfd, character device */
	Z_DEV,		/* /dev/copy_range */
	Z_JOB,
	Z_NOTOPEN,	/* closed, absurd, or O_PATH */
	Z_SLOT,		/* the racing thread's: anything at any moment */
};

struct zfd {
	int fd;
	char name[40];
	enum zkind kind;
	bool rd, wr, append, direct;
	dev_t dev;
	/* Private file, or -1. */
	int pf;
	/* May be dup'd into a slot by the racing thread. */
	bool racer_ok;
};

#define MAX_ZOO		512
static struct zfd zoo[MAX_ZOO];
static int nr_zoo;
/* Indices into the zoo, by use. */
static int z_dev[4], nr_z_dev;
static int z_other[128], nr_z_other;
static int z_notopen[32], nr_z_notopen;
static int z_slot[NR_SLOTS];

enum pmode { PM_RW, PM_RO, PM_WO, PM_APPEND, PM_PATH, PM_DIRECT, PM_SYNC, NR_PMODES };

static const struct {
	const char *name;
	int flags;
} pmodes[NR_PMODES] = {
	[PM_RW] = { "rw", O_RDWR },
	[PM_RO] = { "ro", O_RDONLY },
	[PM_WO] = { "wo", O_WRONLY },
	[PM_APPEND] = { "append", O_RDWR | O_APPEND },
	[PM_PATH] = { "path", O_PATH },
	[PM_DIRECT] = { "direct", O_RDWR | O_DIRECT },
	[PM_SYNC] = { "sync", O_RDWR | O_SYNC },
};

/* Adds @fd to the zoo; its index.  Access modes come from @flags. */
static int zoo_add(int fd, enum zkind kind, int flags, const char *fmt, ...)
{
	struct zfd *z;
	struct stat st;
	va_list ap;

	if (nr_zoo == MAX_ZOO) {
		fail("setup: the zoo is full");
		exit(1);
	}
	z = &zoo[nr_zoo];
	memset(z, 0, sizeof(*z));
	z->fd = fd;
	z->kind = kind;
	z->pf = -1;
	va_start(ap, fmt);
	vsnprintf(z->name, sizeof(z->name), fmt, ap);
	va_end(ap);
	if (flags & O_PATH) {
		z->kind = Z_NOTOPEN;
	} else {
		z->rd = (flags & O_ACCMODE) != O_WRONLY;
		z->wr = (flags & O_ACCMODE) != O_RDONLY;
		z->append = flags & O_APPEND;
		z->direct = flags & O_DIRECT;
	}
	if (fd >= 0 && !fstat(fd, &st))
		z->dev = st.st_dev;
	return nr_zoo++;
}

static void zoo_other(int fd, enum zkind kind, int flags, const char *name)
{
	int i;

	if (fd < 0) {
		diag("setup: cannot open %s: %s", name, strerror(errno));
		return;
	}
	i = zoo_add(fd, kind, flags, "%s", name);
	if (zoo[i].kind == Z_NOTOPEN) {
		z_notopen[nr_z_notopen++] = i;
		zoo[i].racer_ok = true;
		return;
	}
	z_other[nr_z_other++] = i;
	zoo[i].racer_ok = kind != Z_DEV;
}

/* A zoo entry for a job descriptor, made when one is picked. */
static struct zfd job_zfd(int fd)
{
	struct zfd z = { .fd = fd, .kind = Z_JOB, .rd = true, .pf = -1 };

	snprintf(z.name, sizeof(z.name), "job");
	return z;
}

static const char *zdesc(const struct zfd *z)
{
	static char bufs[8][64];
	static unsigned int next;
	char *buf = bufs[next++ % 8];

	snprintf(buf, sizeof(bufs[0]), "%d (%s)", z->fd, z->name);
	return buf;
}

/* Calls by kind, with their results, for the summary. */
enum op {
	OP_COPY, OP_SUBMIT, OP_COPYV, OP_SUBMITV, OP_STATUS, OP_WAIT,
	OP_CANCEL, OP_READ, OP_POLL, OP_CLOSE, OP_UNKNOWN, NR_OPS
};

static const char *const op_names[NR_OPS] = {
	"COPY", "SUBMIT", "COPYV", "SUBMITV", "STATUS", "WAIT", "CANCEL",
	"read", "poll", "close", "unknown ioctl",
};

static struct {
	unsigned long calls, ok;
	unsigned long err[192];
} opstats[NR_OPS];

/* Where the time goes, by what the main loop does. */
enum activity {
	A_COPY, A_SUBMIT, A_COPYV, A_SUBMITV, A_JOB, A_UNKNOWN, A_RESHAPE,
	A_KILL, A_RMMOD, A_FLOOD, A_AUDIT, A_REAP, NR_ACTIVITIES
};

static const char *const activity_names[NR_ACTIVITIES] = {
	"COPY", "SUBMIT", "COPYV", "SUBMITV", "job calls", "unknown ioctls",
	"reshapes", "kill tests", "rmmod tests", "floods", "audits", "reaping",
};

static double activity_time[NR_ACTIVITIES];
static unsigned long activity_count[NR_ACTIVITIES];

static void count_call(enum op op, long ret, int err)
{
	n_calls++;
	opstats[op].calls++;
	if (ret >= 0)
		opstats[op].ok++;
	else if (err > 0 && err < 192)
		opstats[op].err[err]++;
}

/*
 * Memory for the structures passed: page 0 read-write, page 1 PROT_NONE,
 * page 2 read-only, page 3 read-write.  Segment arrays get their own
 * read-write pages ending at a PROT_NONE page, and read-only pages.
 */
enum memkind { M_OK, M_RO, M_NULL, M_UNMAPPED, M_KERNEL, M_STRADDLE, M_NONE, NR_MEMKINDS };

static const char *const mem_names[NR_MEMKINDS] = {
	"ok", "read-only", "NULL", "unmapped", "kernel address",
	"running into PROT_NONE", "PROT_NONE",
};

#define SEG_BYTES	((COPY_RANGE_VEC_MAX_SEGS + 1) * sizeof(struct copy_range_seg))
static unsigned char *arena, *seg_arena, *seg_ro;
static size_t seg_pages;

static const uint64_t kernel_ptrs[] = {
	0xffffffff81000000ULL, 0xffff888000000000ULL, 0xffffffffff600000ULL,
	0xffffc90000000000ULL, 0x8000000000000000ULL, 0x0000800000000000ULL,
	0xfffffffffffff000ULL, 0xffffffffffffffe0ULL,
};

static enum memkind pick_mem(struct rng *r, unsigned int bad_percent)
{
	if (!chance(r, bad_percent))
		return M_OK;
	return 1 + below(r, NR_MEMKINDS - 1);
}

/* A page-aligned user address with nothing mapped there, or 0. */
static uint64_t unmapped_addr(struct rng *r)
{
	int i;

	for (i = 0; i < 16; i++) {
		uint64_t a = (1ULL << 45) + below(r, 1 << 24) * page_size;

		if (msync((void *)a, page_size, MS_ASYNC) && errno == ENOMEM)
			return a;
	}
	return 0;
}

/* A bad address for @mk, for @len bytes; what an unreadable structure gets. */
static uint64_t bad_addr(struct rng *r, enum memkind mk, size_t len,
			 unsigned char *none_page, const void *obj)
{
	size_t k;

	switch (mk) {
	case M_NULL:
		return below(r, 4) ? 0 : below(r, 4096);
	case M_UNMAPPED:
		return unmapped_addr(r);
	case M_KERNEL:
		return kernel_ptrs[below(r, ARRAY_SIZE(kernel_ptrs))];
	case M_STRADDLE:
		/* k bytes readable, the rest in the PROT_NONE page. */
		k = 1 + below(r, len - 1);
		memcpy(none_page - k, obj, k);
		return (uintptr_t)(none_page - k);
	default:
		return (uintptr_t)(none_page + below(r, page_size - len));
	}
}

/*
 * Puts @len bytes of @obj where @mk says; returns the address to pass, and
 * in *@at where the kernel's writes can be read back (NULL if they cannot).
 */
static uint64_t place(struct rng *r, enum memkind mk, const void *obj, size_t len,
		      unsigned char **at)
{
	unsigned char *p;

	*at = NULL;
	switch (mk) {
	case M_OK:
		p = arena + 3 * page_size + below(r, page_size - len + 1);
		memcpy(p, obj, len);
		*at = p;
		return (uintptr_t)p;
	case M_RO:
		p = arena + 2 * page_size + below(r, page_size - len + 1);
		mprotect(arena + 2 * page_size, page_size, PROT_READ | PROT_WRITE);
		memcpy(p, obj, len);
		mprotect(arena + 2 * page_size, page_size, PROT_READ);
		*at = p;
		return (uintptr_t)p;
	default:
		return bad_addr(r, mk, len, arena + page_size, obj);
	}
}

/* The same for a segment array, which the kernel only reads. */
static uint64_t place_segs(struct rng *r, enum memkind mk,
			   const struct copy_range_seg *segs, size_t n)
{
	size_t len = n * sizeof(*segs);
	unsigned char *end = seg_arena + seg_pages * page_size, *p;

	if (!len)
		return mk == M_OK ? (uintptr_t)end : bad_addr(r, mk, 1, end, segs);
	switch (mk) {
	case M_OK:
		/* Ending right at the PROT_NONE page: reading one more faults. */
		p = end - len - (chance(r, 70) ? 0 : below(r, 64));
		memcpy(p, segs, len);
		return (uintptr_t)p;
	case M_RO:
		mprotect(seg_ro, seg_pages * page_size, PROT_READ | PROT_WRITE);
		memcpy(seg_ro, segs, len);
		mprotect(seg_ro, seg_pages * page_size, PROT_READ);
		return (uintptr_t)seg_ro;
	case M_STRADDLE:
		if (len < 2)
			return (uintptr_t)end;
		return bad_addr(r, mk, len, end, segs);
	default:
		return bad_addr(r, mk, len, end, segs);
	}
}

/* RLIMIT_FSIZE while the call runs, RLIM_INFINITY when not limited. */
static uint64_t cur_fsize = RLIM_INFINITY;

static void set_fsize(uint64_t limit)
{
	struct rlimit rl;

	getrlimit(RLIMIT_FSIZE, &rl);
	rl.rlim_cur = limit;
	if (setrlimit(RLIMIT_FSIZE, &rl))
		fail("setrlimit(RLIMIT_FSIZE, %" PRIu64 "): %s", limit, strerror(errno));
	cur_fsize = limit;
}

/* A timer signal a little after the call starts, to interrupt it. */
static void arm_timer(long usec)
{
	struct itimerval it = { .it_value = { .tv_sec = 0, .tv_usec = usec } };

	setitimer(ITIMER_REAL, &it, NULL);
	n_sig_timers++;
}

static void disarm_timer(void)
{
	struct itimerval it = {};

	setitimer(ITIMER_REAL, &it, NULL);
}

static bool is_regular(const struct zfd *z)
{
	return z->kind == Z_REG || z->kind == Z_PSEUDO;
}

#define OR_UNKNOWN	1
#define OR_PASS		0

static bool flags_invalid(uint64_t flags)
{
	return (flags & ~(uint64_t)COPY_RANGE_FLAGS_ALL) ||
	       (flags & COPY_RANGE_FLAGS_ALL) == COPY_RANGE_FLAGS_ALL;
}

/*
 * The error (-errno) the checks on the two descriptors and the flags must
 * give, in the order the documentation gives them (that of
 * copy_file_range(2)), or OR_PASS if they pass, or OR_UNKNOWN.
 */
static int oracle_files(const struct zfd *s, const struct zfd *d, uint64_t flags)
{
	if (s->kind == Z_NOTOPEN || d->kind == Z_NOTOPEN)
		return -EBADF;
	if (s->kind == Z_SLOT || d->kind == Z_SLOT)
		return OR_UNKNOWN;
	if (flags_invalid(flags))
		return -EINVAL;
	if (s->kind == Z_DIR || d->kind == Z_DIR)
		return -EISDIR;
	if (!is_regular(s) || !is_regular(d))
		return -EINVAL;
	if (!s->rd || !d->wr || d->append)
		return -EBADF;
	if (s->kind == Z_PSEUDO || d->kind == Z_PSEUDO)
		return -EINVAL;
	if ((flags & COPY_RANGE_SHARE_REQUIRE) && s->dev != d->dev)
		return -EXDEV;
	if (d->pf >= 0 && pfiles[d->pf].immutable)
		return -EPERM;
	return OR_PASS;
}

static bool ranges_overlap(uint64_t a, uint64_t b, uint64_t len)
{
	return len && a < b + len && b < a + len;
}

/*
 * After oracle_files() passed: the error the range must give, OR_PASS, or
 * OR_UNKNOWN.  *@amount gets what a copy covers (len clamped to the
 * source's end of file and to RLIMIT_FSIZE @limit) when both files are
 * private, else UINT64_MAX.
 */
static int oracle_range(const struct zfd *s, const struct zfd *d, uint64_t flags,
			uint64_t so, uint64_t doff, uint64_t len, uint64_t limit,
			uint64_t *amount)
{
	uint64_t ssize, amt;

	*amount = UINT64_MAX;
	if (so + len < so || doff + len < doff)
		return -EOVERFLOW;
	if (s->pf < 0 || d->pf < 0)
		return OR_UNKNOWN;
	if ((int64_t)so < 0 || (int64_t)doff < 0)
		return limit == RLIM_INFINITY &&
		       ((int64_t)doff < 0 || doff < FAR_OFF) ? -EINVAL : OR_UNKNOWN;
	ssize = pfiles[s->pf].size;
	amt = so >= ssize ? 0 : min_u64(len, ssize - so);
	if (amt && limit != RLIM_INFINITY) {
		if (doff >= limit)
			return -EFBIG;
		amt = min_u64(amt, limit - doff);
	}
	*amount = amt;
	if (doff >= FAR_OFF)
		return OR_UNKNOWN;
	if (s->pf == d->pf && ranges_overlap(so, doff, amt))
		return -EINVAL;
	if (flags & COPY_RANGE_SHARE_REQUIRE)
		return locs[pfiles[d->pf].loc].shares == 0 ? -EOPNOTSUPP : OR_UNKNOWN;
	return OR_PASS;
}

/* A segment of a copy, and what it may copy (UINT64_MAX: up to the source's EOF). */
struct seg {
	uint64_t src_off, dst_off, len, amount;
};

static unsigned char *scratch_c;

/*
 * Applies to @d's model what copying @segs from @s in order does, with each
 * segment's bytes read from @s's model as it is by then: @count bytes in
 * all, or with @count == UINT64_MAX as many as the file shows were copied
 * (a call that failed after copying), none past RLIMIT_FSIZE @limit.  A
 * segment that comes up short ends the copy.  Returns the bytes applied; *@done gets the segments done.
 */
static uint64_t apply_segs(struct pfile *s, struct pfile *d, const struct seg *segs,
			   int nr, uint64_t count, uint64_t limit, uint32_t *done)
{
	bool unknown = count == UINT64_MAX;
	uint64_t applied = 0;
	int i;

	*done = 0;
	for (i = 0; i < nr; i++) {
		const struct seg *g = &segs[i];
		uint64_t amt, take;

		amt = g->src_off >= s->size ? 0 : min_u64(g->len, s->size - g->src_off);
		amt = min_u64(amt, g->amount);
		if (amt && limit != RLIM_INFINITY)
			amt = g->dst_off >= limit ? 0 : min_u64(amt, limit - g->dst_off);
		take = unknown ? amt : min_u64(amt, count - applied);
		if (take > MODEL_CAP)
			take = MODEL_CAP;
		model_read(s, g->src_off, take, scratch_c);
		if (unknown && take) {
			ssize_t got = pread(d->fd, scratch_a, take, g->dst_off);
			uint64_t m = 0;

			if (got > 0)
				while (m < (uint64_t)got && scratch_a[m] == scratch_c[m])
					m++;
			take = m;
		}
		if (!model_write(d, g->dst_off, scratch_c, take)) {
			fail("the model of %s cannot hold a write at %" PRIu64,
			     d->name, g->dst_off);
			return applied;
		}
		applied += take;
		if (take != g->len)
			break;
		(*done)++;
	}
	return applied;
}

/* Rereads a private file into its model after a failure, trimming it first. */
static void pfile_resync(struct pfile *p)
{
	struct stat st;
	ssize_t got;

	if (fstat(p->fd, &st))
		return;
	if ((uint64_t)st.st_size > MODEL_TRIM) {
		if (ftruncate(p->fd, MODEL_TRIM))
			return;
		st.st_size = MODEL_TRIM;
	}
	model_truncate(p, 0);
	got = pread(p->fd, p->data, st.st_size, 0);
	p->size = got > 0 ? (uint64_t)got : 0;
}

/*
 * @d was the destination of a copy whose source is not private: bytes
 * outside the destination ranges must not have changed, the size must be
 * the old one or the end of one of them; then the model takes the file's
 * bytes.
 */
static void weak_check(struct pfile *d, const struct seg *segs, int nr, uint64_t old_size)
{
	struct stat st;
	uint64_t lo, hi, size;
	bool ok = true;
	int i;

	if (fstat(d->fd, &st))
		return;
	size = st.st_size;
	if (size != old_size) {
		ok = false;
		for (i = 0; i < nr; i++)
			if (size > old_size && size > segs[i].dst_off &&
			    size <= segs[i].dst_off + segs[i].len)
				ok = true;
		if (!ok)
			fail("%s is %" PRIu64 " bytes: neither its old size %" PRIu64
			     " nor inside a destination range", d->name, size, old_size);
	}
	/* Below the old size and MODEL_CAP, outside every destination range. */
	hi = min_u64(min_u64(old_size, size), MODEL_CAP);
	lo = 0;
	while (ok && lo < hi) {
		uint64_t next = hi, skip = lo;

		for (i = 0; i < nr; i++) {
			const struct seg *g = &segs[i];
			uint64_t end = g->dst_off + g->len < g->dst_off ? UINT64_MAX :
				       g->dst_off + g->len;

			if (g->dst_off <= lo && end > lo && end > skip)
				skip = end;
			else if (g->dst_off > lo && g->dst_off < next)
				next = g->dst_off;
		}
		if (skip > lo) {
			lo = skip;
			continue;
		}
		ok = range_matches(d, lo, next - lo, "outside the destination ranges");
		lo = next;
	}
	if (ok)
		n_verified++;
	pfile_resync(d);
}

/* Destinations whose model a failure left in doubt are reread. */
static bool check_dst(struct pfile *d, const char *what)
{
	if (model_check(d, what))
		return true;
	pfile_resync(d);
	return false;
}

/*
 * After a call that failed a check made before any data moves: the size,
 * and the bytes around where it would have written.  The whole file is
 * compared by the next audit.
 */
static void check_dst_near(struct pfile *d, uint64_t off, const char *what)
{
	struct stat st;
	uint64_t lo, hi;

	if (fstat(d->fd, &st) || (uint64_t)st.st_size != d->size) {
		fail("%s: %s is %lld bytes, want %" PRIu64, what, d->name,
		     (long long)st.st_size, d->size);
		pfile_resync(d);
		return;
	}
	lo = min_u64(off, min_u64(d->size, MODEL_CAP)) & ~4095ULL;
	hi = min_u64(min_u64(d->size, MODEL_CAP), lo + 64 * KIB);
	if (lo < hi && !range_matches(d, lo, hi - lo, what))
		pfile_resync(d);
	else
		n_verified++;
}

/*
 * Picking descriptors.  Private files in a running job's way are left
 * alone until the job is checked.
 */
static int pick_pfile(struct rng *r)
{
	int i, tries;

	for (tries = 0; tries < 8; tries++) {
		i = below(r, nr_pfiles);
		if (!pfiles[i].busy)
			return i;
	}
	return -1;
}

static struct zfd pick_notopen(struct rng *r)
{
	return zoo[z_notopen[below(r, nr_z_notopen)]];
}

static struct zfd pick_private(struct rng *r, bool as_src, int pf)
{
	static const enum pmode src_modes[] = {
		PM_RW, PM_RW, PM_RW, PM_RO, PM_RO, PM_RO, PM_SYNC, PM_DIRECT,
		PM_WO, PM_APPEND, PM_PATH,
	};
	static const enum pmode dst_modes[] = {
		PM_RW, PM_RW, PM_RW, PM_RW, PM_WO, PM_WO, PM_WO, PM_SYNC,
		PM_DIRECT, PM_RO, PM_APPEND, PM_PATH,
	};
	enum pmode m;
	int zi;

	if (pf < 0)
		pf = pick_pfile(r);
	if (pf < 0)
		return pick_notopen(r);
	m = as_src ? src_modes[below(r, ARRAY_SIZE(src_modes))] :
		     dst_modes[below(r, ARRAY_SIZE(dst_modes))];
	zi = pfiles[pf].zi[m];
	if (zi < 0)
		zi = pfiles[pf].zi[as_src ? PM_RO : PM_RW];
	return zoo[zi];
}

struct job;
static struct job *pick_job(struct rng *r);
static int job_fd(const struct job *j);

/* Any descriptor at all. */
static struct zfd pick_any(struct rng *r)
{
	struct job *j;

	switch (below(r, 20)) {
	case 0 ... 8:
		return pick_private(r, chance(r, 50), -1);
	case 9 ... 12:
		return zoo[z_other[below(r, nr_z_other)]];
	case 13:
	case 14:
		return zoo[z_slot[below(r, NR_SLOTS)]];
	case 15:
		j = pick_job(r);
		if (j)
			return job_zfd(job_fd(j));
		return zoo[z_dev[below(r, nr_z_dev)]];
	case 16:
	case 17:
		return pick_notopen(r);
	default:
		return zoo[z_dev[below(r, nr_z_dev)]];
	}
}

/* The descriptor a device ioctl is issued on: mostly the device. */
static struct zfd pick_target(struct rng *r)
{
	if (chance(r, 90))
		return zoo[z_dev[below(r, nr_z_dev)]];
	return pick_any(r);
}

static uint64_t pick_flags(struct rng *r)
{
	switch (below(r, 20)) {
	case 0 ... 7:
		return 0;
	case 8 ... 12:
		return COPY_RANGE_SHARE_ALLOW;
	case 13 ... 16:
		return COPY_RANGE_SHARE_REQUIRE;
	case 17:
		return COPY_RANGE_FLAGS_ALL;
	case 18:
		return 1ULL << below(r, 64);
	default:
		return wild_u64(r);
	}
}

static const char *flags_str(uint64_t flags)
{
	static char buf[32];

	if (flags == 0)
		return "0";
	if (flags == COPY_RANGE_SHARE_ALLOW)
		return "ALLOW";
	if (flags == COPY_RANGE_SHARE_REQUIRE)
		return "REQUIRE";
	snprintf(buf, sizeof(buf), "%#" PRIx64, flags);
	return buf;
}

/*
 * A device ioctl issued on something that is not the device: ENOTTY, or
 * EBADF when nothing is open there.  A slot may hold a finished job.
 */
static void check_not_device(const struct zfd *t, long ret, int err, bool job_cmd)
{
	if (t->kind == Z_SLOT) {
		if (ret >= 0 && !job_cmd)
			fail("returned %ld on the racing slot %d", ret, t->fd);
		else if (ret < 0 && err != EBADF && err != ENOTTY &&
			 !(job_cmd && err == EFAULT))
			/* A slot may hold an ended job, whose calls read memory. */
			fail("on the racing slot %d: %s, want EBADF or ENOTTY", t->fd,
			     errname(err));
		return;
	}
	if (ret >= 0)
		fail("returned %ld on %s", ret, zdesc(t));
	else if (t->kind == Z_NOTOPEN && err != EBADF)
		fail("on %s: %s, want EBADF", zdesc(t), errname(err));
	else if (t->kind != Z_NOTOPEN && err != ENOTTY)
		fail("on %s: %s, want ENOTTY", zdesc(t), errname(err));
}

/* One result of a copy-like call against what the oracle wants. */
static void check_result(long ret, int err, int want, bool must_succeed,
			 const struct eset *allowed, bool signalled)
{
	if (ret >= 0) {
		if (want < 0)
			fail("returned %ld, want %s", ret, errname(-want));
		return;
	}
	if (!es_has(allowed, err))
		fail("%s is not an errno this call may return", errname(err));
	else if (want < 0 && err != -want)
		fail("%s, want %s", errname(err), errname(-want));
	else if (must_succeed && err != EAGAIN && err != EINTR)
		fail("%s, though nothing in its arguments may fail", errname(err));
	if (err == EINTR) {
		n_eintr++;
		if (!signalled)
			fail("EINTR, but no signal came");
	}
}

/*
 * Jobs the fuzzer holds.  A job between private files has both files to
 * itself until its final status has been checked against the model.
 */
struct job {
	int fd;
	uint64_t born;
	enum op how;
	int src_pf, dst_pf;
	/* Both files private: what it copies is known to the byte. */
	bool exact;
	bool total_known;
	int nr;
	struct seg *segs;
	uint64_t total, natural, dst_old_size, limit;
	/* O_DIRECT on either side: the copy may fail with EINVAL. */
	bool direct;
	bool cancelled, ended, checked;
	/* A copy of the long files, which kill_test() and flood() check. */
	int long_loc;
	uint64_t copied_seen;
	struct copy_range_status final;
	char desc[200];
};

static struct job jobs[MAX_HELD_JOBS + 8];
static int nr_jobs;
static int max_jobs = 64;

static struct job *pick_job(struct rng *r)
{
	return nr_jobs ? &jobs[below(r, nr_jobs)] : NULL;
}

static int job_fd(const struct job *j)
{
	return j->fd;
}

static void lock_pfile(int pf, bool busy)
{
	if (pf >= 0)
		pfiles[pf].busy = busy;
}

/*
 * Gives back the files a job holds: its destination, and its source if the
 * job is exact (job_add() took no other).  Another job may hold that source
 * as its destination by now.
 */
static void job_unlock(const struct job *j)
{
	if (j->exact)
		lock_pfile(j->src_pf, false);
	lock_pfile(j->dst_pf, false);
}

/* A job's final status against what it was asked to do; then its data. */
static void job_check(struct job *j)
{
	const struct copy_range_status *st = &j->final;
	struct eset errors = es_job_error();
	uint64_t applied;
	uint32_t done;

	if (st->state == COPY_RANGE_JOB_CANCELLED && !j->cancelled)
		fail("job %s: CANCELLED, but nobody cancelled it", j->desc);
	if (st->state == COPY_RANGE_JOB_FAILED) {
		if (!es_has(&errors, -st->error))
			fail("job %s: FAILED with %s, not an error a job may end with",
			     j->desc, errname(-st->error));
		else if (j->exact && !j->direct && j->limit == RLIM_INFINITY)
			fail("job %s: FAILED with %s, though nothing could fail it",
			     j->desc, errname(-st->error));
	}
	if (j->exact && st->state == COPY_RANGE_JOB_DONE && st->copied != j->natural)
		fail("job %s: DONE with %llu bytes copied, want %" PRIu64, j->desc,
		     (unsigned long long)st->copied, j->natural);
	if (j->exact) {
		applied = apply_segs(&pfiles[j->src_pf], &pfiles[j->dst_pf], j->segs,
				     j->nr, st->copied, RLIM_INFINITY, &done);
		if (applied != st->copied)
			fail("job %s: copied %llu bytes, but only %" PRIu64 " could be",
			     j->desc, (unsigned long long)st->copied, applied);
		if (check_dst(&pfiles[j->dst_pf], "after the job") && st->copied)
			n_copies_ok++;
		settle_now(&pfiles[j->dst_pf]);
		n_jobs_verified++;
	} else if (j->dst_pf >= 0) {
		weak_check(&pfiles[j->dst_pf], j->segs, j->nr, j->dst_old_size);
	}
	job_unlock(j);
	j->checked = true;
}

/* A status the job reported, by STATUS, WAIT or read(2). */
static void job_seen(struct job *j, const struct copy_range_status *st, const char *what)
{
	if (!cr_status_sane(st)) {
		fail("%s: status %s is not a status", what, cr_status_str(st));
		return;
	}
	if (j->total_known && st->total != j->total)
		fail("%s: total %llu, want %" PRIu64, what,
		     (unsigned long long)st->total, j->total);
	if (st->copied < j->copied_seen)
		fail("%s: copied went back from %" PRIu64 " to %llu", what,
		     j->copied_seen, (unsigned long long)st->copied);
	j->copied_seen = st->copied;
	if (j->ended) {
		if (st->state != j->final.state || st->copied != j->final.copied ||
		    st->error != j->final.error)
			fail("%s: the job had ended as %s, now it says %s", what,
			     cr_status_str(&j->final), cr_status_str(st));
		return;
	}
	if (st->state == COPY_RANGE_JOB_RUNNING)
		return;
	j->ended = true;
	j->final = *st;
	job_check(j);
}

/* A new job descriptor must be one: close-on-exec, a copy_range job. */
static bool job_fd_ok(int fd)
{
	char path[64], link[128];
	ssize_t n;
	int fl;

	fl = fcntl(fd, F_GETFD);
	if (fl < 0 || !(fl & FD_CLOEXEC)) {
		fail("job descriptor %d: F_GETFD %d, want FD_CLOEXEC", fd, fl);
		return fl >= 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		if (!strstr(link, "copy_range"))
			fail("job descriptor %d is %s", fd, link);
	}
	return true;
}

static void job_add(int fd, enum op how, const struct zfd *s, const struct zfd *d,
		    const struct seg *segs, int nr, uint64_t limit, int long_loc)
{
	struct job *j;
	int i;

	n_jobs++;
	if (!job_fd_ok(fd))
		return;
	if (nr_jobs == (int)ARRAY_SIZE(jobs)) {
		fail("more jobs than the fuzzer can hold");
		close(fd);
		return;
	}
	j = &jobs[nr_jobs++];
	memset(j, 0, sizeof(*j));
	j->fd = fd;
	j->born = iteration;
	j->how = how;
	j->long_loc = long_loc;
	j->src_pf = s->pf;
	j->dst_pf = d->pf;
	j->limit = limit;
	j->direct = s->direct || d->direct;
	j->exact = s->pf >= 0 && d->pf >= 0;
	j->total_known = s->pf >= 0;
	j->nr = nr;
	j->segs = calloc(nr ? nr : 1, sizeof(*segs));
	if (!j->segs) {
		fail("out of memory");
		exit(1);
	}
	snprintf(j->desc, sizeof(j->desc), "fd %d (%s at iteration %" PRIu64 ", %s to %s, %d segments)",
		 fd, op_names[how], iteration, s->name, d->name, nr);
	if (d->pf >= 0)
		j->dst_old_size = pfiles[d->pf].size;
	for (i = 0; i < nr; i++) {
		struct seg *g = &j->segs[i];
		uint64_t to_eof;

		*g = segs[i];
		if (s->pf < 0)
			continue;
		to_eof = g->src_off >= pfiles[s->pf].size ? 0 :
			 min_u64(g->len, pfiles[s->pf].size - g->src_off);
		j->total = j->total + to_eof < j->total ? UINT64_MAX : j->total + to_eof;
		g->amount = to_eof;
		/*
		 * Past FAR_OFF the model keeps no size, and the filesystem's
		 * size limit may fail the job (EFBIG): only a weak check.
		 */
		if (g->dst_off + to_eof < g->dst_off || g->dst_off + to_eof > FAR_OFF)
			j->exact = false;
		if (limit != RLIM_INFINITY)
			g->amount = g->dst_off >= limit ? 0 : min_u64(to_eof, limit - g->dst_off);
	}
	for (i = 0; i < nr; i++) {
		j->natural += j->segs[i].amount;
		if (j->segs[i].amount < j->segs[i].len)
			break;
	}
	if (j->natural > MODEL_CAP)
		j->exact = false;
	if (j->exact)
		lock_pfile(s->pf, true);
	lock_pfile(d->pf, true);
}

static void job_forget(struct job *j)
{
	free(j->segs);
	*j = jobs[--nr_jobs];
}

static void check_long(int loc, const char *what);

/*
 * Closes a job's descriptor.  Closing cancels a running job and waits for
 * it to stop, so afterwards its destination holds some prefix of the copy.
 */
static void job_close(struct job *j)
{
	uint32_t done;
	uint64_t applied;
	long ret;

	describe_more(" [close job %s]", j->desc);
	call_begin();
	ret = close(j->fd);
	call_end();
	count_call(OP_CLOSE, ret, errno);
	if (ret)
		fail("close(job %d): %s", j->fd, strerror(errno));
	if (!j->checked) {
		if (j->exact) {
			applied = apply_segs(&pfiles[j->src_pf], &pfiles[j->dst_pf], j->segs,
					     j->nr, UINT64_MAX, j->limit, &done);
			if (applied > j->natural)
				fail("job %s: the destination shows %" PRIu64
				     " bytes copied, at most %" PRIu64 " could be",
				     j->desc, applied, j->natural);
			check_dst(&pfiles[j->dst_pf], "after closing the job");
			settle_now(&pfiles[j->dst_pf]);
		} else if (j->dst_pf >= 0) {
			weak_check(&pfiles[j->dst_pf], j->segs, j->nr, j->dst_old_size);
		}
		job_unlock(j);
	}
	if (j->long_loc >= 0)
		check_long(j->long_loc, "after closing a job on it");
	job_forget(j);
}

static void sigalrm(int sig)
{
	(void)sig;
	alarms++;
}

/*
 * COPY_RANGE_JOB_IOC_WAIT, bounded: WAIT_LIMIT seconds, then it is a
 * failure.  Returns the ioctl's result.
 */
static long wait_bounded(int fd, uint64_t ptr, int *err, bool *timed_out)
{
	int before = alarms;
	long ret;

	alarm(WAIT_LIMIT);
	call_begin();
	ret = syscall(SYS_ioctl, fd, COPY_RANGE_JOB_IOC_WAIT, ptr);
	*err = errno;
	call_end();
	alarm(0);
	*timed_out = alarms != before;
	return ret;
}

/* Waits for a job (good memory), checks its status, then closes it. */
static void job_reap(struct job *j)
{
	struct copy_range_status st;
	bool timed_out;
	long ret;
	int err;

	memset(&st, 0xa5, sizeof(st));
	ret = wait_bounded(j->fd, (uintptr_t)&st, &err, &timed_out);
	count_call(OP_WAIT, ret, err);
	if (ret) {
		if (timed_out && !syscall(SYS_ioctl, j->fd, COPY_RANGE_JOB_IOC_STATUS, &st))
			fail("WAIT on job %s: not ended after %d s; STATUS says %s (it had %" PRIu64 ")",
			     j->desc, WAIT_LIMIT, cr_status_str(&st), j->copied_seen);
		else
			fail("WAIT on job %s: %s", j->desc, errname(err));
	} else {
		if (st.state == COPY_RANGE_JOB_RUNNING)
			fail("WAIT on job %s returned while it runs", j->desc);
		job_seen(j, &st, j->desc);
	}
	job_close(j);
}

/* EAGAIN from a submit: only with max_jobs_per_user jobs in flight. */
static void check_eagain(void)
{
	int i, live = 0;

	n_eagain++;
	for (i = 0; i < nr_jobs; i++)
		if (!jobs[i].ended)
			live++;
	if (live < max_jobs)
		fail("EAGAIN with %d jobs in flight, and the limit is %d", live, max_jobs);
}

static uint64_t pick_limit(struct rng *r)
{
	switch (below(r, 4)) {
	case 0:
		return 0;
	case 1:
		return 4096 * below(r, 64);
	default:
		return below(r, 2 * MIB);
	}
}

static const char *target_str(const struct zfd *t)
{
	return t->kind == Z_DEV ? t->name : zdesc(t);
}

/*
 * COPY_RANGE_URING_CMD_COPY of @a on @fd through the ring, and with
 * @cancel an IORING_OP_ASYNC_CANCEL of it after @delay_us: the copy's CQE
 * res, or fails the run if a completion does not come within 60 s.
 */
static int32_t ring_copy(int fd, const struct copy_range_args *a, bool cancel,
			 long delay_us)
{
	struct io_uring_cqe cqes[2];
	struct io_uring_sqe *sqe;
	int32_t res = -EPROTO;
	int want = 1, got = 0, n, i;

	sqe = cr_ring_sqe(&ring, true);
	if (!sqe) {
		fail("ring: no free SQE");
		return -EPROTO;
	}
	cr_prep_copy(sqe, fd, a, 1);
	if (cr_ring_submit(&ring) < 0) {
		fail("ring: submit: %s", strerror(errno));
		return -EPROTO;
	}
	if (cancel) {
		usleep(delay_us);
		sqe = cr_ring_sqe(&ring, true);
		if (sqe) {
			cr_prep_cancel(sqe, 1, 2);
			if (cr_ring_submit(&ring) == 1)
				want = 2;
		}
	}
	while (got < want) {
		n = cr_ring_wait(&ring, cqes, want - got, 60000);
		if (n <= 0) {
			fail("ring: no completion within 60 s (%d)", n);
			return -EPROTO;
		}
		for (i = 0; i < n; i++)
			if (cqes[i].user_data == 1)
				res = cqes[i].res;
		got += n;
	}
	return res;
}

/* COPY_RANGE_IOC_COPY or COPY_RANGE_IOC_SUBMIT. */
static void op_copy(struct rng *r, bool submit)
{
	enum op op = submit ? OP_SUBMIT : OP_COPY;
	unsigned long cmd = submit ? COPY_RANGE_IOC_SUBMIT : COPY_RANGE_IOC_COPY;
	struct eset allowed = submit ? es_submit() : es_copy();
	uint64_t ptr, amount = UINT64_MAX, ssize, dsize, old_dsize = 0;
	uint64_t limit = RLIM_INFINITY;
	struct copy_range_args a = {}, back;
	bool sane = chance(r, 70), timer = false, signalled, must;
	bool by_ring = !submit && ring_ok && chance(r, 25), cancel = false;
	struct zfd t, s, d;
	int alarms0;
	enum memkind mk;
	unsigned char *at;
	struct seg g;
	uint32_t done;
	int err, want = OR_UNKNOWN;
	long ret;

	t = pick_target(r);
	if (sane) {
		s = pick_private(r, true, -1);
		d = s.pf >= 0 && chance(r, 20) ? pick_private(r, false, s.pf) :
						 pick_private(r, false, -1);
	} else {
		s = pick_any(r);
		d = pick_any(r);
	}
	ssize = s.pf >= 0 ? pfiles[s.pf].size : RACY_MAX / 2;
	dsize = d.pf >= 0 ? pfiles[d.pf].size : RACY_MAX / 2;
	a.src_fd = s.fd;
	a.dst_fd = d.fd;
	if (sane || chance(r, 50)) {
		a.src_off = near_off(r, ssize);
		a.dst_off = chance(r, 25) ? a.src_off : near_off(r, dsize);
		a.len = near_len(r, ssize, a.src_off);
	} else {
		a.src_off = wild_u64(r);
		a.dst_off = wild_u64(r);
		a.len = wild_u64(r);
	}
	a.flags = pick_flags(r);
	a.copied = 0xdeadbeefcafef00dULL;
	/* Through the ring the arguments are in the SQE, not in memory. */
	mk = by_ring ? M_OK : pick_mem(r, sane ? 4 : 15);
	if (chance(r, 3))
		limit = pick_limit(r);
	if (!submit && sane && chance(r, 4))
		timer = true;
	if (by_ring) {
		/* A cancel instead of a signal, and more often. */
		cancel = timer || (sane && chance(r, 15));
		timer = false;
	}
	ptr = place(r, mk, &a, sizeof(a), &at);
	describe("%s%s on %s: src_fd %s src_off %#" PRIx64 " dst_fd %s dst_off %#" PRIx64
		 " len %#" PRIx64 " flags %s, arguments %s at %#" PRIx64,
		 op_names[op], by_ring ? " by io_uring" : "", target_str(&t), zdesc(&s),
		 (uint64_t)a.src_off, zdesc(&d),
		 (uint64_t)a.dst_off, (uint64_t)a.len, flags_str(a.flags), mem_names[mk], ptr);
	if (limit != RLIM_INFINITY)
		describe_more(", RLIMIT_FSIZE %" PRIu64, limit);
	if (timer)
		describe_more(", a timer signal");
	if (cancel)
		describe_more(", a cancel");
	if (d.pf >= 0)
		old_dsize = pfiles[d.pf].size;

	if (limit != RLIM_INFINITY)
		set_fsize(limit);
	alarms0 = alarms;
	if (timer)
		arm_timer(200 + below(r, 3000));
	call_begin();
	if (by_ring) {
		int32_t res = ring_copy(t.fd, &a, cancel, below(r, 3000));

		ret = res < 0 ? -1 : res;
		err = res < 0 ? -res : 0;
		n_ring++;
		n_ring_cancels += cancel;
	} else {
		ret = syscall(SYS_ioctl, t.fd, cmd, ptr);
		err = errno;
	}
	call_end();
	if (timer)
		disarm_timer();
	signalled = alarms != alarms0;
	if (limit != RLIM_INFINITY)
		set_fsize(RLIM_INFINITY);
	count_call(op, ret, err);
	describe_more(" -> %ld%s%s", ret, ret < 0 ? " " : "", ret < 0 ? errname(err) : "");

	if (by_ring && t.kind != Z_DEV) {
		/*
		 * Not ours: EBADF, EOPNOTSUPP where there is no uring_cmd, and
		 * whatever a file's own uring_cmd makes of our cmd_op (btrfs:
		 * EINVAL; /dev/null: 0).  Never a count.
		 */
		if (ret > 0)
			fail("%ld on %s through the ring", ret, zdesc(&t));
		ret = -1;
		err = ENOTTY;
		want = -ENOTTY;
	} else if (t.kind != Z_DEV) {
		check_not_device(&t, ret, err, false);
		if (ret >= 0 && submit)
			close(ret);
		ret = -1;
		err = ENOTTY;
		want = -ENOTTY;
	} else if (mk >= M_NULL) {
		if (ret >= 0 || err != EFAULT)
			fail("%s, want EFAULT", ret >= 0 ? "success" : errname(err));
		if (ret >= 0 && submit)
			close(ret);
		ret = -1;
		err = 0;
		want = -EFAULT;
	} else {
		want = oracle_files(&s, &d, a.flags);
		if (want == OR_PASS)
			want = oracle_range(&s, &d, a.flags, a.src_off, a.dst_off, a.len,
					    limit, &amount);
		must = want == OR_PASS && !(a.flags & COPY_RANGE_SHARE_REQUIRE) &&
		       limit == RLIM_INFINITY && !cancel &&
		       (submit || (!s.direct && !d.direct && mk == M_OK && !timer));
		if (ret < 0 && err == ECANCELED && cancel) {
			/* Cancelled before anything was copied: as a count of 0. */
			n_ring_cancelled++;
			ret = 0;
		} else {
			check_result(ret, err, want, must, &allowed, signalled);
		}
		if (ret < 0 && err == EAGAIN)
			check_eagain();
	}

	g = (struct seg){ a.src_off, a.dst_off, a.len, UINT64_MAX };
	if (ret >= 0 && submit) {
		job_add(ret, op, &s, &d, &g, 1, limit, -1);
		return;
	}
	if (ret >= 0) {
		if ((uint64_t)ret > MAX_RW)
			fail("returned %ld, more than MAX_RW_COUNT", ret);
		if (by_ring) {
			/* The command area is not written back. */
		} else if (mk == M_RO) {
			fail("returned %ld, but copied is in read-only memory", ret);
		} else {
			memcpy(&back, at, sizeof(back));
			if (back.copied != (uint64_t)ret)
				fail("returned %ld but copied = %#llx", ret,
				     (unsigned long long)back.copied);
			back.copied = a.copied;
			if (memcmp(&back, &a, sizeof(a)))
				fail("a field other than copied changed");
		}
		if (amount != UINT64_MAX) {
			if ((uint64_t)ret > amount)
				fail("copied %ld bytes, at most %" PRIu64 " could be", ret, amount);
			else if (!ret && amount && !cancel)
				fail("returned 0, though %" PRIu64 " bytes could be copied", amount);
			else if ((uint64_t)ret < amount)
				n_short++;
		}
	}
	if (d.pf < 0 || pfiles[d.pf].busy)
		return;
	if (ret >= 0 && s.pf >= 0) {
		if (apply_segs(&pfiles[s.pf], &pfiles[d.pf], &g, 1, ret, limit, &done) !=
		    (uint64_t)ret)
			fail("returned %ld, more than the source has", ret);
		if (check_dst(&pfiles[d.pf], "after the copy") && ret)
			n_copies_ok++;
	} else if (ret >= 0) {
		weak_check(&pfiles[d.pf], &g, 1, old_dsize);
	} else if (err == EFAULT && mk == M_RO && s.pf >= 0) {
		apply_segs(&pfiles[s.pf], &pfiles[d.pf], &g, 1, UINT64_MAX, limit, &done);
		check_dst(&pfiles[d.pf], "after a copy that could not write copied back");
	} else if (err == EFAULT && mk == M_RO) {
		weak_check(&pfiles[d.pf], &g, 1, old_dsize);
	} else if (want < 0 && ret < 0) {
		check_dst_near(&pfiles[d.pf], a.dst_off, "after a failed call");
	} else {
		check_dst(&pfiles[d.pf], "after a failed call");
	}
	model_settle(&pfiles[d.pf], r);
}

/* How many segments a vector says it has. */
static uint32_t pick_nr_segs(struct rng *r)
{
	static const uint32_t edges[] = {
		COPY_RANGE_VEC_MAX_SEGS + 1, 1U << 31, UINT32_MAX, 4096, 65536,
		COPY_RANGE_VEC_MAX_SEGS * 2,
	};

	switch (below(r, 20)) {
	case 0:
		return 0;
	case 1 ... 12:
		return 1 + below(r, 8);
	case 13:
	case 14:
		return 9 + below(r, 56);
	case 15:
	case 16:
		return COPY_RANGE_VEC_MAX_SEGS - below(r, 2);
	case 17:
	case 18:
		return edges[below(r, ARRAY_SIZE(edges))];
	default:
		return 1 + below(r, 3);
	}
}

/* COPY_RANGE_IOC_COPYV or COPY_RANGE_IOC_SUBMITV. */
static void op_vec(struct rng *r, bool submit)
{
	static struct copy_range_seg raw[COPY_RANGE_VEC_MAX_SEGS + 1];
	static struct seg segs[COPY_RANGE_VEC_MAX_SEGS + 1];
	enum op op = submit ? OP_SUBMITV : OP_COPYV;
	unsigned long cmd = submit ? COPY_RANGE_IOC_SUBMITV : COPY_RANGE_IOC_COPYV;
	struct eset general = submit ? es_submit() : es_copy(), must = {}, optional = {};
	bool sane = chance(r, 65), timer = false, signalled, open = false, any_must = false;
	bool all_pass = true;
	uint64_t ptr, ssize, dsize, cursor, old_dsize = 0, limit = RLIM_INFINITY, amt;
	struct copy_range_vec v = {}, back;
	enum memkind mk, smk;
	struct zfd t, s, d;
	int alarms0;
	unsigned char *at;
	uint32_t nr, done, back_done = 0;
	size_t n, readable, i, k;
	int err, f;
	long ret;

	t = pick_target(r);
	if (sane) {
		s = pick_private(r, true, -1);
		d = s.pf >= 0 && chance(r, 20) ? pick_private(r, false, s.pf) :
						 pick_private(r, false, -1);
	} else {
		s = pick_any(r);
		d = pick_any(r);
	}
	ssize = s.pf >= 0 ? pfiles[s.pf].size : RACY_MAX / 2;
	dsize = d.pf >= 0 ? pfiles[d.pf].size : RACY_MAX / 2;
	nr = pick_nr_segs(r);
	n = min_u64(nr, COPY_RANGE_VEC_MAX_SEGS + 1);
	cursor = chance(r, 50) ? 0 : near_off(r, dsize);
	for (i = 0; i < n; i++) {
		struct copy_range_seg *q = &raw[i];

		if (sane || chance(r, 60)) {
			q->len = n > 64 ? below(r, 64) : chance(r, 10) ? 0 :
				 chance(r, 50) ? 1 + below(r, 4096) : near_len(r, ssize, 0);
			/* Whole vectors of a few MiB: writeback under TCG is slow. */
			if (q->len > 4 * MIB / n && chance(r, 90))
				q->len = below(r, 4 * MIB / n + 1);
			q->src_off = near_off(r, ssize);
			q->dst_off = cursor;
			cursor += q->len + (chance(r, 50) ? 0 : below(r, 8192));
		} else {
			q->src_off = wild_u64(r);
			q->dst_off = wild_u64(r);
			q->len = wild_u64(r);
		}
	}
	if (n > 1 && chance(r, 25)) {
		/* Shuffled: the order of the segments is the caller's. */
		for (i = n - 1; i > 0; i--) {
			struct copy_range_seg tmp = raw[i];

			k = below(r, i + 1);
			raw[i] = raw[k];
			raw[k] = tmp;
		}
	}
	if (n > 1 && chance(r, 6)) {
		/* Two destination ranges that overlap. */
		i = below(r, n);
		k = below(r, n);
		if (i != k && raw[i].len)
			raw[k].dst_off = raw[i].dst_off + below(r, raw[i].len);
	}
	for (i = 0; i < n; i++)
		segs[i] = (struct seg){ raw[i].src_off, raw[i].dst_off, raw[i].len, UINT64_MAX };

	v.src_fd = s.fd;
	v.dst_fd = d.fd;
	v.flags = pick_flags(r);
	v.nr_segs = nr;
	v.done_segs = 0xdeadbeef;
	v.copied = 0xdeadbeefcafef00dULL;
	back = v;
	smk = pick_mem(r, sane ? 3 : 12);
	v.segs = place_segs(r, smk, raw, n);
	mk = pick_mem(r, sane ? 3 : 12);
	if (chance(r, 3))
		limit = pick_limit(r);
	if (!submit && sane && chance(r, 4))
		timer = true;
	ptr = place(r, mk, &v, sizeof(v), &at);
	describe("%s on %s: src_fd %s dst_fd %s flags %s nr_segs %u, segments %s at %#llx, arguments %s at %#" PRIx64,
		 op_names[op], target_str(&t), zdesc(&s), zdesc(&d), flags_str(v.flags), nr,
		 mem_names[smk], (unsigned long long)v.segs, mem_names[mk], ptr);
	for (i = 0; i < n && i < 6; i++)
		describe_more("%s{%#llx, %#llx, %#llx}", i ? " " : "; ",
			      (unsigned long long)raw[i].src_off,
			      (unsigned long long)raw[i].dst_off, (unsigned long long)raw[i].len);
	if (n > 6)
		describe_more(" ...");
	if (limit != RLIM_INFINITY)
		describe_more(", RLIMIT_FSIZE %" PRIu64, limit);
	if (timer)
		describe_more(", a timer signal");
	if (d.pf >= 0)
		old_dsize = pfiles[d.pf].size;

	if (limit != RLIM_INFINITY)
		set_fsize(limit);
	alarms0 = alarms;
	if (timer)
		arm_timer(200 + below(r, 3000));
	call_begin();
	ret = syscall(SYS_ioctl, t.fd, cmd, ptr);
	err = errno;
	call_end();
	if (timer)
		disarm_timer();
	signalled = alarms != alarms0;
	if (limit != RLIM_INFINITY)
		set_fsize(RLIM_INFINITY);
	count_call(op, ret, err);
	describe_more(" -> %ld%s%s", ret, ret < 0 ? " " : "", ret < 0 ? errname(err) : "");

	if (t.kind != Z_DEV) {
		check_not_device(&t, ret, err, false);
		if (ret >= 0 && submit)
			close(ret);
		ret = -1;
		err = ENOTTY;
		any_must = true;
		goto data;
	}
	if (mk >= M_NULL) {
		if (ret >= 0 || err != EFAULT)
			fail("%s, want EFAULT", ret >= 0 ? "success" : errname(err));
		if (ret >= 0 && submit)
			close(ret);
		ret = -1;
		err = 0;
		any_must = true;
		goto data;
	}

	/*
	 * What must fail, in any order: descriptors, flags, the count, the
	 * array, each segment (the first certain error of each), overlapping
	 * destinations.  A segment the oracle cannot judge may fail with
	 * anything the call may return.
	 */
	if (s.kind == Z_NOTOPEN || d.kind == Z_NOTOPEN)
		es_add(&must, EBADF);
	if (s.kind == Z_SLOT || d.kind == Z_SLOT)
		open = true;
	if (flags_invalid(v.flags))
		es_add(&must, EINVAL);
	if (nr > COPY_RANGE_VEC_MAX_SEGS)
		es_add(&must, EINVAL);
	readable = nr > COPY_RANGE_VEC_MAX_SEGS ? 0 : n;
	if (nr && nr <= COPY_RANGE_VEC_MAX_SEGS && smk >= M_NULL) {
		es_add(&must, EFAULT);
		readable = 0;
		open = true;
	}
	f = oracle_files(&s, &d, v.flags);
	if (f == OR_UNKNOWN)
		open = true;
	if (f < 0 && nr == 0)
		es_add(&optional, -f);
	if (f < 0 && readable)
		es_add(&must, -f);
	for (i = 0; f == OR_PASS && i < readable; i++) {
		int e = oracle_range(&s, &d, v.flags, segs[i].src_off, segs[i].dst_off,
				     segs[i].len, limit, &amt);

		if (e != OR_PASS)
			all_pass = false;
		if (e == OR_UNKNOWN)
			open = true;
		else if (e < 0)
			es_add(&must, -e);
	}
	for (i = 0; i < readable; i++)
		for (k = i + 1; k < readable; k++)
			if (raw[i].len && raw[k].len &&
			    segs[i].dst_off + segs[i].len >= segs[i].dst_off &&
			    segs[k].dst_off + segs[k].len >= segs[k].dst_off &&
			    segs[i].dst_off < segs[k].dst_off + segs[k].len &&
			    segs[k].dst_off < segs[i].dst_off + segs[i].len)
				es_add(&must, EINVAL);
	for (i = 0; i < ARRAY_SIZE(must.w); i++)
		any_must |= must.w[i] != 0;
	if (any_must) {
		struct eset ok = must;

		es_union(&ok, &optional);
		if (open)
			es_union(&ok, &general);
		if (ret >= 0)
			fail("returned %ld, but it must fail", ret);
		else if (!es_has(&ok, err))
			fail("%s, not among the errors its arguments call for", errname(err));
	} else {
		es_union(&general, &optional);
		check_result(ret, err, OR_UNKNOWN,
			     !open && f == OR_PASS && all_pass &&
			     !(v.flags & COPY_RANGE_SHARE_REQUIRE) && limit == RLIM_INFINITY &&
			     smk <= M_RO &&
			     (submit || (!s.direct && !d.direct && mk == M_OK && !timer)),
			     &general, signalled);
	}
	if (ret < 0 && err == EAGAIN)
		check_eagain();

	if (ret >= 0 && submit) {
		if (any_must) {
			close(ret);
			return;
		}
		job_add(ret, op, &s, &d, segs, n, limit, -1);
		return;
	}
	if (ret >= 0 && !any_must) {
		if ((uint64_t)ret > MAX_RW)
			fail("returned %ld, more than MAX_RW_COUNT", ret);
		if (mk == M_RO) {
			fail("returned %ld, but the vector is in read-only memory", ret);
		} else {
			memcpy(&back, at, sizeof(back));
			if (back.copied != (uint64_t)ret)
				fail("returned %ld but copied = %#llx", ret,
				     (unsigned long long)back.copied);
			if (back.done_segs > nr)
				fail("done_segs %u of %u segments", back.done_segs, nr);
			back_done = back.done_segs;
			back.copied = v.copied;
			back.done_segs = v.done_segs;
			if (memcmp(&back, &v, sizeof(v)))
				fail("a field other than done_segs and copied changed");
		}
		if (s.pf >= 0 && d.pf >= 0 && !ret && nr) {
			/* 0 only if the first segment with bytes to copy has none. */
			for (i = 0; i < n && !segs[i].len; i++)
				;
			if (i < n && !(segs[i].src_off >= ssize) &&
			    (limit == RLIM_INFINITY || segs[i].dst_off < limit))
				fail("returned 0, though segment %zu has bytes to copy", i);
		}
	}
data:
	if (d.pf < 0 || pfiles[d.pf].busy)
		return;
	if (ret >= 0 && s.pf >= 0) {
		uint64_t applied = apply_segs(&pfiles[s.pf], &pfiles[d.pf], segs, n, ret,
					      limit, &done);

		if (applied != (uint64_t)ret)
			fail("returned %ld, more than the segments could copy (%" PRIu64 ")",
			     ret, applied);
		else if (mk == M_OK && !signalled && back_done != done)
			fail("done_segs %u, want %u", back_done, done);
		else if (mk == M_OK && back_done > done)
			fail("done_segs %u, at most %u", back_done, done);
		if (check_dst(&pfiles[d.pf], "after the vector copy") && ret)
			n_copies_ok++;
	} else if (ret >= 0) {
		weak_check(&pfiles[d.pf], segs, n, old_dsize);
	} else if (err == EFAULT && mk == M_RO && s.pf >= 0) {
		apply_segs(&pfiles[s.pf], &pfiles[d.pf], segs, n, UINT64_MAX, limit, &done);
		check_dst(&pfiles[d.pf], "after a vector copy that could not write back");
	} else if (err == EFAULT && mk == M_RO) {
		weak_check(&pfiles[d.pf], segs, n, old_dsize);
	} else if (any_must && ret < 0) {
		check_dst_near(&pfiles[d.pf], n ? segs[0].dst_off : 0, "after a failed vector call");
	} else {
		check_dst(&pfiles[d.pf], "after a failed vector call");
	}
	model_settle(&pfiles[d.pf], r);
}

/* STATUS, WAIT or read(2) into memory of kind @mk: fills *@st on success. */
static long job_status_call(struct rng *r, enum op kind, int fd, enum memkind mk,
			    size_t count, struct copy_range_status *st, int *err,
			    bool *timed_out)
{
	unsigned char *at;
	uint64_t ptr;
	long ret;

	memset(st, 0xa5, sizeof(*st));
	ptr = place(r, mk, st, sizeof(*st), &at);
	describe_more(", status %s at %#" PRIx64, mem_names[mk], ptr);
	*timed_out = false;
	if (kind == OP_WAIT) {
		ret = wait_bounded(fd, ptr, err, timed_out);
	} else {
		call_begin();
		if (kind == OP_STATUS)
			ret = syscall(SYS_ioctl, fd, COPY_RANGE_JOB_IOC_STATUS, ptr);
		else
			ret = syscall(SYS_read, fd, ptr, count);
		*err = errno;
		call_end();
	}
	if (at)
		memcpy(st, at, sizeof(*st));
	count_call(kind, ret, *err);
	return ret;
}

/* Something done to a job descriptor, or a job ioctl on anything else. */
static void op_job(struct rng *r)
{
	static const size_t counts[] = {
		0, 1, 23, 24, 25, 4096, 1 << 20, SIZE_MAX / 2, SIZE_MAX,
	};
	struct copy_range_status st;
	struct job *j = NULL;
	unsigned int action = below(r, 100);
	struct pollfd pfd;
	enum memkind mk;
	bool timed_out;
	struct zfd t;
	size_t count;
	uint64_t arg;
	long ret;
	int err;

	if (nr_jobs && chance(r, 85)) {
		j = pick_job(r);
		t = job_zfd(j->fd);
	} else {
		t = pick_any(r);
	}
	describe("job call on %s%s%s", j ? "job " : "", j ? j->desc : zdesc(&t), "");
	if (!j && action >= 45) {
		/* A job ioctl on something that is not a job: never one that blocks. */
		unsigned long cmd = chance(r, 50) ? COPY_RANGE_JOB_IOC_STATUS :
					       COPY_RANGE_JOB_IOC_CANCEL;

		if (t.kind == Z_JOB)
			return;
		arg = chance(r, 50) ? (uintptr_t)(arena + 3 * page_size) : wild_u64(r);
		describe_more(": %s, arg %#" PRIx64, cmd == COPY_RANGE_JOB_IOC_STATUS ?
			      "STATUS" : "CANCEL", arg);
		call_begin();
		ret = syscall(SYS_ioctl, t.fd, cmd, arg);
		err = errno;
		call_end();
		count_call(cmd == COPY_RANGE_JOB_IOC_STATUS ? OP_STATUS : OP_CANCEL, ret, err);
		check_not_device(&t, ret, err, true);
		return;
	}
	if (!j) {
		/* WAIT on what is not a job: it must not block. */
		if (t.kind == Z_JOB || t.kind == Z_SLOT)
			return;
		describe_more(": WAIT");
		ret = wait_bounded(t.fd, (uintptr_t)(arena + 3 * page_size), &err, &timed_out);
		count_call(OP_WAIT, ret, err);
		check_not_device(&t, ret, err, true);
		return;
	}
	mk = pick_mem(r, 12);
	if (action < 25) {
		describe_more(": STATUS");
		ret = job_status_call(r, OP_STATUS, j->fd, mk, 0, &st, &err, &timed_out);
		if (mk != M_OK) {
			if (ret >= 0 || err != EFAULT)
				fail("%s, want EFAULT", ret >= 0 ? "success" : errname(err));
		} else if (ret) {
			fail("STATUS: %s", errname(err));
		} else {
			job_seen(j, &st, "STATUS");
		}
	} else if (action < 40) {
		describe_more(": WAIT");
		ret = job_status_call(r, OP_WAIT, j->fd, mk, 0, &st, &err, &timed_out);
		if (ret < 0 && timed_out)
			fail("WAIT: the job has not ended after %d s", WAIT_LIMIT);
		else if (mk != M_OK && (ret >= 0 || err != EFAULT))
			fail("%s, want EFAULT", ret >= 0 ? "success" : errname(err));
		else if (mk == M_OK && ret)
			fail("WAIT: %s", errname(err));
		else if (mk == M_OK && st.state == COPY_RANGE_JOB_RUNNING)
			fail("WAIT returned while the job runs");
		else if (mk == M_OK)
			job_seen(j, &st, "WAIT");
	} else if (action < 55) {
		arg = chance(r, 50) ? 0 : wild_u64(r);
		describe_more(": CANCEL, arg %#" PRIx64, arg);
		call_begin();
		ret = syscall(SYS_ioctl, j->fd, COPY_RANGE_JOB_IOC_CANCEL, arg);
		err = errno;
		call_end();
		count_call(OP_CANCEL, ret, err);
		if (ret)
			fail("CANCEL: %s", ret < 0 ? errname(err) : "not 0");
		j->cancelled = true;
	} else if (action < 70) {
		count = counts[below(r, ARRAY_SIZE(counts))];
		describe_more(": read of %zu bytes", count);
		ret = job_status_call(r, OP_READ, j->fd, mk, count, &st, &err, &timed_out);
		if (ret >= 0) {
			if (ret != sizeof(st) || count < sizeof(st) || mk != M_OK)
				fail("read returned %ld", ret);
			else
				job_seen(j, &st, "read");
		} else if (err == EINVAL) {
			if (count >= sizeof(st))
				fail("read: EINVAL for a buffer of %zu bytes", count);
		} else if (err == EFAULT) {
			if (mk == M_OK && count <= 4096)
				fail("read: EFAULT into good memory");
		} else {
			fail("read: %s", errname(err));
		}
	} else if (action < 82) {
		pfd = (struct pollfd){ .fd = j->fd, .events = POLLIN | POLLOUT | POLLPRI };
		describe_more(": poll");
		call_begin();
		ret = poll(&pfd, 1, below(r, 3) ? 0 : 1 + below(r, 20));
		err = errno;
		call_end();
		count_call(OP_POLL, ret, err);
		if (ret < 0)
			fail("poll: %s", errname(err));
		else if (ret && (pfd.revents & ~(POLLIN | POLLRDNORM)))
			fail("poll: revents %#x", pfd.revents);
		else if (!ret && j->ended)
			fail("poll: not ready, but the job has ended");
		if (ret > 0) {
			/* Ready means ended, for good. */
			describe_more(", then STATUS");
			ret = job_status_call(r, OP_STATUS, j->fd, M_OK, 0, &st, &err, &timed_out);
			if (ret)
				fail("STATUS: %s", errname(err));
			else if (st.state == COPY_RANGE_JOB_RUNNING)
				fail("poll said POLLIN, STATUS says RUNNING");
			else
				job_seen(j, &st, "STATUS after poll");
		}
	} else if (action < 92) {
		job_close(j);
	} else if (j->checked) {
		/* An ended job into a slot, for the racing thread to pass around. */
		int slot = SLOT_BASE + below(r, NR_SLOTS);

		describe_more(": dup2 to %d", slot);
		if (dup2(j->fd, slot) < 0)
			fail("dup2(job %d, %d): %s", j->fd, slot, strerror(errno));
	}
}

/*
 * An ioctl number nobody defined, on the device or a job: ENOTTY.  Numbers
 * the VFS answers for every file (FIOCLEX, FIONREAD, FIFREEZE, FICLONE...)
 * are left out, and so are the device's and the jobs' own.
 */
static bool cmd_known(uint32_t cmd)
{
	static const uint32_t known[] = {
		COPY_RANGE_IOC_COPY, COPY_RANGE_IOC_SUBMIT, COPY_RANGE_IOC_COPYV,
		COPY_RANGE_IOC_SUBMITV, COPY_RANGE_JOB_IOC_STATUS,
		COPY_RANGE_JOB_IOC_WAIT, COPY_RANGE_JOB_IOC_CANCEL,
	};
	unsigned int type = _IOC_TYPE(cmd), i;

	if (type == 0 || type == 'T' || type == 'X' || type == 'f' || type == 0x94 ||
	    type == 0x15 || type == 'v')
		return true;
	for (i = 0; i < ARRAY_SIZE(known); i++)
		if (cmd == known[i])
			return true;
	return false;
}

static void op_unknown(struct rng *r)
{
	static const uint32_t near[] = {
		COPY_RANGE_IOC_COPY, COPY_RANGE_IOC_SUBMIT, COPY_RANGE_IOC_COPYV,
		COPY_RANGE_IOC_SUBMITV, COPY_RANGE_JOB_IOC_STATUS,
		COPY_RANGE_JOB_IOC_WAIT, COPY_RANGE_JOB_IOC_CANCEL,
	};
	struct job *j = NULL;
	struct zfd t;
	uint32_t cmd;
	uint64_t arg;
	long ret;
	int err, tries;

	if (nr_jobs && chance(r, 40)) {
		j = pick_job(r);
		t = job_zfd(j->fd);
	} else if (chance(r, 90)) {
		t = zoo[z_dev[below(r, nr_z_dev)]];
	} else {
		t = pick_notopen(r);
	}
	for (tries = 0; tries < 100; tries++) {
		switch (below(r, 3)) {
		case 0:
			cmd = _IOC(below(r, 4), COPY_RANGE_IOC_MAGIC, below(r, 256),
				   below(r, 4) ? below(r, 128) : below(r, 1 << 14));
			break;
		case 1:
			/* A defined number with another direction or size. */
			cmd = near[below(r, ARRAY_SIZE(near))];
			if (chance(r, 50))
				cmd ^= 1U << (_IOC_DIRSHIFT + below(r, 2));
			else
				cmd = _IOC(_IOC_DIR(cmd), _IOC_TYPE(cmd), _IOC_NR(cmd),
					   _IOC_SIZE(cmd) + below(r, 17) - 8);
			break;
		default:
			cmd = rnd(r);
			break;
		}
		if (!cmd_known(cmd))
			break;
	}
	if (tries == 100)
		return;
	arg = chance(r, 50) ? (uintptr_t)(arena + 3 * page_size) : wild_u64(r);
	describe("ioctl %#x on %s, arg %#" PRIx64, cmd, j ? j->desc : zdesc(&t), arg);
	call_begin();
	ret = syscall(SYS_ioctl, t.fd, (unsigned long)cmd, arg);
	err = errno;
	call_end();
	count_call(OP_UNKNOWN, ret, err);
	if (ret >= 0)
		fail("returned %ld", ret);
	else if (t.kind == Z_NOTOPEN ? err != EBADF : err != ENOTTY)
		fail("%s, want %s", errname(err), t.kind == Z_NOTOPEN ? "EBADF" : "ENOTTY");
}

/*
 * The long files: a source with LONG_HEAD bytes of pattern, then a hole up
 * to LONG_SIZE; a destination that is a hole of LONG_SIZE.  Below the
 * destination's end of file every byte is copied, zeros included, so a
 * copy takes long without anything to write at set-up.  Whatever stopped a
 * copy, the destination holds a prefix of the source, then zeros.
 */
#define LONG_SEED	0x10c0ffee

static void check_long(int loc, const char *what)
{
	struct location *l = &locs[loc];
	uint64_t i, m, size = LONG_HEAD + 4096;
	struct stat st;

	if (fstat(l->long_dst, &st) || st.st_size != LONG_SIZE) {
		fail("%s: the long destination on %s is %lld bytes, want %llu", what, l->name,
		     (long long)st.st_size, (unsigned long long)LONG_SIZE);
		return;
	}
	if (pread(l->long_dst, scratch_a, size, 0) != (ssize_t)size) {
		fail("%s: pread of the long destination on %s: %s", what, l->name,
		     strerror(errno));
		return;
	}
	pattern_fill(scratch_b, LONG_HEAD, LONG_SEED, 0);
	memset(scratch_b + LONG_HEAD, 0, 4096);
	for (m = 0; m < size && scratch_a[m] == scratch_b[m]; m++)
		;
	for (i = m; i < size; i++) {
		if (scratch_a[i]) {
			fail("%s: the long destination on %s holds the source's first %" PRIu64
			     " bytes, then byte %" PRIu64 " is 0x%02x", what, l->name, m, i,
			     scratch_a[i]);
			return;
		}
	}
	n_verified++;
}

static void reset_long(int loc)
{
	struct location *l = &locs[loc];

	if (ftruncate(l->long_dst, 0) || ftruncate(l->long_dst, LONG_SIZE))
		fail("reset the long destination on %s: %s", l->name, strerror(errno));
}

static int pick_long_loc(struct rng *r)
{
	int tries, loc;

	for (tries = 0; tries < 32; tries++) {
		loc = below(r, NR_LOCS);
		if (locs[loc].present && locs[loc].long_dst >= 0)
			return loc;
	}
	return -1;
}

/*
 * How much a job of a kill test copies.  A cancelled or released job stops
 * at the end of its current 4 MiB chunk, and on btrfs in the test VM (TCG,
 * KASAN) a chunk of zeros into a sparse file takes 14 to 17 s: there the
 * job is one chunk of 1 MiB, still far longer than the delay before the
 * kill.
 */
static uint64_t kill_job_len(int loc)
{
	return loc == L_BTRFS ? 1 * MIB : LONG_SIZE;
}

/* A child's long call: returns nothing, the parent kills it. */
static void child_call(int scenario, int dev, int loc, int job, int ready)
{
	struct location *l = &locs[loc];
	struct copy_range_args a = {
		.src_fd = l->long_src, .dst_fd = l->long_dst, .len = LONG_SIZE,
	};
	struct copy_range_seg segs[4];
	struct copy_range_vec v = {
		.src_fd = l->long_src, .dst_fd = l->long_dst, .nr_segs = 4,
		.segs = (uintptr_t)segs,
	};
	struct copy_range_status st;
	int i;

	for (i = 0; i < 4; i++)
		segs[i] = (struct copy_range_seg){ i * (LONG_SIZE / 4), i * (LONG_SIZE / 4),
						   LONG_SIZE / 4 };
	if (scenario == 1) {
		a.len = kill_job_len(loc);
		job = syscall(SYS_ioctl, dev, COPY_RANGE_IOC_SUBMIT, &a);
		if (job < 0)
			_exit(errno == EAGAIN ? 12 : 10);
	}
	if (write(ready, "x", 1) != 1)
		_exit(11);
	switch (scenario) {
	case 0:
		syscall(SYS_ioctl, dev, COPY_RANGE_IOC_COPY, &a);
		break;
	case 1:
	case 2:
		syscall(SYS_ioctl, job, COPY_RANGE_JOB_IOC_WAIT, &st);
		break;
	default:
		syscall(SYS_ioctl, dev, COPY_RANGE_IOC_COPYV, &v);
		break;
	}
	_exit(0);
}

/* Waits up to WAIT_LIMIT seconds for a child; its status, or -1. */
static int reap_child(pid_t pid)
{
	double end = now() + WAIT_LIMIT;
	int status;

	while (now() < end) {
		pid_t got = waitpid(pid, &status, WNOHANG);

		if (got == pid)
			return status;
		if (got < 0)
			return -1;
		usleep(5000);
	}
	return -1;
}

/*
 * A child in the middle of a long copy, a job's WAIT, or a vector, is
 * killed: it must die at once, its jobs must stop, and the destination
 * must hold a prefix of the source.  In one case the job is the parent's
 * and must go on to its end.
 */
static void kill_test(struct rng *r)
{
	int scenario = below(r, 4), loc = pick_long_loc(r), ready[2], status, dev;
	struct copy_range_args a = {};
	struct copy_range_status st;
	struct zfd s, d;
	struct job *j = NULL;
	struct seg g = { 0, 0, LONG_SIZE, UINT64_MAX };
	struct pollfd p;
	bool timed_out;
	double t;
	char c;
	pid_t pid;
	long ret;
	int err;

	if (loc < 0)
		return;
	dev = zoo[z_dev[0]].fd;
	describe("kill test %d on %s", scenario, locs[loc].name);
	reset_long(loc);
	if (scenario == 2) {
		a = (struct copy_range_args){ .src_fd = locs[loc].long_src,
					      .dst_fd = locs[loc].long_dst,
					      .len = kill_job_len(loc) };
		g.len = a.len;
		ret = syscall(SYS_ioctl, dev, COPY_RANGE_IOC_SUBMIT, &a);
		err = errno;
		count_call(OP_SUBMIT, ret, err);
		if (ret < 0) {
			if (err == EAGAIN)
				check_eagain();
			else
				fail("SUBMIT of the long copy: %s", errname(err));
			return;
		}
		s = (struct zfd){ .fd = a.src_fd, .pf = -1 };
		d = (struct zfd){ .fd = a.dst_fd, .pf = -1 };
		snprintf(s.name, sizeof(s.name), "long src");
		snprintf(d.name, sizeof(d.name), "long dst");
		job_add(ret, OP_SUBMIT, &s, &d, &g, 1, RLIM_INFINITY, loc);
		j = &jobs[nr_jobs - 1];
		j->total_known = true;
		j->total = a.len;
	}
	if (pipe2(ready, O_CLOEXEC)) {
		fail("pipe: %s", strerror(errno));
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		fail("fork: %s", strerror(errno));
		close(ready[0]);
		close(ready[1]);
		return;
	}
	if (!pid) {
		close(ready[0]);
		child_call(scenario, dev, loc, j ? j->fd : -1, ready[1]);
	}
	close(ready[1]);
	p = (struct pollfd){ .fd = ready[0], .events = POLLIN };
	if (poll(&p, 1, WAIT_LIMIT * 1000) != 1 || read(ready[0], &c, 1) != 1)
		describe_more(" (the child never got ready)");
	close(ready[0]);
	usleep(below(r, 40000));
	kill(pid, SIGKILL);
	t = now();
	status = reap_child(pid);
	n_kills++;
	describe_more(", the child took %.2f s to die", now() - t);
	if (status == -1) {
		fail("a child killed in a long call has not died after %d s", WAIT_LIMIT);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 12)
		check_eagain();
	else if (WIFEXITED(status) && WEXITSTATUS(status))
		fail("the child failed before its call (exit %d)", WEXITSTATUS(status));
	if (j) {
		/*
		 * The child's death must not have touched the parent's job: it
		 * runs on, or has copied everything.  Then it is cancelled.
		 */
		memset(&st, 0xa5, sizeof(st));
		ret = syscall(SYS_ioctl, j->fd, COPY_RANGE_JOB_IOC_STATUS, &st);
		count_call(OP_STATUS, ret, errno);
		if (ret)
			fail("STATUS of the long job after its waiter was killed: %s",
			     errname(errno));
		else if (st.state != COPY_RANGE_JOB_RUNNING &&
			 (st.state != COPY_RANGE_JOB_DONE || st.copied != a.len))
			fail("the long job ended as %s when its waiter was killed",
			     cr_status_str(&st));
		else
			job_seen(j, &st, "STATUS after the waiter was killed");
		ret = syscall(SYS_ioctl, j->fd, COPY_RANGE_JOB_IOC_CANCEL, 0L);
		count_call(OP_CANCEL, ret, errno);
		j->cancelled = true;
		memset(&st, 0xa5, sizeof(st));
		ret = wait_bounded(j->fd, (uintptr_t)&st, &err, &timed_out);
		count_call(OP_WAIT, ret, err);
		if (ret)
			fail("WAIT on the cancelled long job: %s%s", errname(err),
			     timed_out ? " (timed out)" : "");
		else
			job_seen(j, &st, "WAIT after the cancel");
		job_close(j);
		return;
	}
	check_long(loc, "after the child was killed");
}

/*
 * Long jobs until the user's limit: past max_jobs_per_user jobs in flight
 * SUBMIT must fail with EAGAIN, and not before.  Then they are cancelled
 * and closed.
 */
static void flood(struct rng *r)
{
	int loc = pick_long_loc(r), first = nr_jobs, i, live, long_loc = -1;
	struct copy_range_args a = {};
	struct copy_range_status st;
	struct seg g = { 0, 0, LONG_SIZE, UINT64_MAX };
	bool hit = false, timed_out;
	struct zfd s, d;
	int err, k, start = below(r, NR_LOCS);
	long ret;

	/* Sharing jobs where a filesystem can share, else long copies. */
	for (k = 0, i = NR_LOCS; k < NR_LOCS; k++) {
		if (locs[(start + k) % NR_LOCS].present &&
		    locs[(start + k) % NR_LOCS].clone_dst >= 0) {
			i = loc = (start + k) % NR_LOCS;
			break;
		}
	}
	if (loc < 0)
		return;
	n_floods++;
	s = (struct zfd){ .fd = locs[loc].long_src, .pf = -1 };
	d = (struct zfd){ .fd = locs[loc].long_dst, .pf = -1 };
	a = (struct copy_range_args){ .len = LONG_SIZE };
	if (i < NR_LOCS) {
		s.fd = locs[loc].clone_src;
		d.fd = locs[loc].clone_dst;
		a.len = CLONE_SIZE;
		a.flags = COPY_RANGE_SHARE_REQUIRE;
		g.len = CLONE_SIZE;
		if (ftruncate(d.fd, 0))
			fail("truncate the clone destination: %s", strerror(errno));
	} else {
		long_loc = loc;
		reset_long(loc);
	}
	describe("jobs up to the limit on %s, %s", locs[loc].name, flags_str(a.flags));
	snprintf(s.name, sizeof(s.name), "limit test src");
	snprintf(d.name, sizeof(d.name), "limit test dst");
	a.src_fd = s.fd;
	a.dst_fd = d.fd;
	while (nr_jobs < (int)ARRAY_SIZE(jobs)) {
		ret = syscall(SYS_ioctl, zoo[z_dev[0]].fd, COPY_RANGE_IOC_SUBMIT, &a);
		err = errno;
		count_call(OP_SUBMIT, ret, err);
		if (ret < 0) {
			if (err != EAGAIN)
				fail("SUBMIT of a long job: %s", errname(err));
			else
				check_eagain();
			hit = err == EAGAIN;
			break;
		}
		job_add(ret, OP_SUBMIT, &s, &d, &g, 1, RLIM_INFINITY, long_loc);
		jobs[nr_jobs - 1].total_known = true;
		jobs[nr_jobs - 1].total = a.len;
		if (nr_jobs - first > max_jobs)
			break;
	}
	if (!hit) {
		/* No EAGAIN: fine only if some of the jobs have ended meanwhile. */
		for (i = first, live = 0; i < nr_jobs; i++) {
			if (syscall(SYS_ioctl, jobs[i].fd, COPY_RANGE_JOB_IOC_STATUS, &st) == 0 &&
			    st.state == COPY_RANGE_JOB_RUNNING)
				live++;
		}
		if (live > max_jobs)
			fail("%d long jobs running at once, past max_jobs_per_user %d",
			     live, max_jobs);
		else
			diag("no EAGAIN after %d long jobs: %d of them still running",
			     nr_jobs - first, live);
	}
	for (i = first; i < nr_jobs; i++) {
		syscall(SYS_ioctl, jobs[i].fd, COPY_RANGE_JOB_IOC_CANCEL, 0L);
		jobs[i].cancelled = true;
	}
	/* Cancelled jobs end soon, closed ones at once: some of each. */
	for (i = first; i < nr_jobs; i++) {
		if (!chance(r, 50))
			continue;
		memset(&st, 0xa5, sizeof(st));
		ret = wait_bounded(jobs[i].fd, (uintptr_t)&st, &err, &timed_out);
		count_call(OP_WAIT, ret, err);
		if (ret)
			fail("WAIT on a cancelled long job: %s%s", errname(err),
			     timed_out ? " (timed out)" : "");
		else if (st.state != COPY_RANGE_JOB_CANCELLED && st.state != COPY_RANGE_JOB_DONE)
			fail("a cancelled long job ended as %s", cr_status_str(&st));
		else
			job_seen(&jobs[i], &st, "WAIT after a cancel");
	}
	while (nr_jobs > first)
		job_close(&jobs[nr_jobs - 1]);
}

/* Runs @argv with its output thrown away; its exit status, or -1. */
static int run_quiet(const char *const argv[])
{
	int status, null;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		null = open("/dev/null", O_WRONLY);
		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	status = reap_child(pid);
	if (status == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static bool module_gone;

/*
 * rmmod while the device (and maybe jobs) are open must fail, and leave
 * everything working.
 */
static void rmmod_test(void)
{
	const char *const argv[] = { "rmmod", "copy_range", NULL };
	const char *const insmod[] = { "insmod", getenv("COPY_RANGE_KO"), NULL };
	struct copy_range_args a = {};
	long ret;
	int rc, fd;

	if (!as_root || !getenv("COPY_RANGE_KO") || module_gone)
		return;
	describe("rmmod copy_range with the device and %d jobs open", nr_jobs);
	n_rmmod++;
	rc = run_quiet(argv);
	if (!rc || access("/sys/module/copy_range", F_OK)) {
		fail("rmmod succeeded while /dev/copy_range is open");
		module_gone = true;
		if (run_quiet(insmod))
			fail("insmod %s failed", insmod[1]);
		return;
	}
	ret = syscall(SYS_delete_module, "copy_range", O_NONBLOCK);
	if (!ret) {
		fail("delete_module succeeded while /dev/copy_range is open");
		module_gone = true;
		return;
	}
	if (errno != EAGAIN && errno != EBUSY)
		fail("delete_module: %s, want EAGAIN or EBUSY", errname(errno));
	/* Still working: a new open, and a copy of nothing between private files. */
	fd = open(CR_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fail("open %s after rmmod failed: %s", CR_DEVICE_PATH, strerror(errno));
		return;
	}
	a.src_fd = pfiles[0].fd;
	a.dst_fd = pfiles[0].fd;
	a.copied = 1;
	ret = syscall(SYS_ioctl, fd, COPY_RANGE_IOC_COPY, &a);
	count_call(OP_COPY, ret, errno);
	if (ret || a.copied)
		fail("a copy of 0 bytes after rmmod failed: %ld (%s), copied %llu", ret,
		     ret < 0 ? errname(errno) : "", (unsigned long long)a.copied);
	close(fd);
}

/*
 * The racing thread: truncates, punches holes in and writes the shared
 * files, and closes and dup2()s over the slots, while the main thread's
 * calls use them.  It never touches a private file.
 */
static volatile bool racer_stop;
static int racer_src[128], nr_racer_src;
static int racy_fds[NR_LOCS], nr_racy;

static void *racer_main(void *arg)
{
	struct rng r = rng_for(2, 0);
	unsigned char buf[65536];
	sigset_t set;
	uint64_t off, len;
	int fd;

	(void)arg;
	sigfillset(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	memset(buf, 0x5a, sizeof(buf));
	while (!racer_stop) {
		fd = racy_fds[below(&r, nr_racy)];
		off = below(&r, RACY_MAX);
		len = 1 + below(&r, sizeof(buf));
		switch (below(&r, 12)) {
		case 0:
		case 1:
			if (ftruncate(fd, below(&r, 2) ? off : 0))
				break;
			break;
		case 2:
		case 3:
			fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
				  below(&r, 256 * KIB));
			break;
		case 4:
		case 5:
			if (pwrite(fd, buf, len, off) < 0)
				break;
			break;
		case 6 ... 9:
			dup2(racer_src[below(&r, nr_racer_src)], SLOT_BASE + below(&r, NR_SLOTS));
			break;
		case 10:
			close(SLOT_BASE + below(&r, NR_SLOTS));
			break;
		default:
			sched_yield();
			break;
		}
		n_racer_ops++;
		usleep(20 + below(&r, 200));
	}
	return NULL;
}

/* Ends the run when a call has not returned for HANG_LIMIT seconds. */
static void *watchdog_main(void *arg)
{
	sigset_t set;
	double t;

	(void)arg;
	sigfillset(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (;;) {
		sleep(1);
		t = call_started;
		if (t && now() - t > HANG_LIMIT) {
			printf("# FAIL: seed %" PRIu64 " iteration %" PRIu64
			       ": no return after %d s from: %s\n",
			       opt_seed, iteration, HANG_LIMIT, call_desc);
			printf("not ok 1 - fuzz seed %" PRIu64 " as %s # a call hangs\n",
			       opt_seed, as_root ? "root" : "nobody");
			fflush(stdout);
			_exit(1);
		}
	}
	return NULL;
}

/* Set-up: a location is a directory of the fuzzer's own under a filesystem. */
static bool location_setup(struct location *l)
{
	struct statfs sfs;

	if (!l->root)
		return true;
	if (l->magic && !fs_mounted(l->root, l->magic)) {
		if (in_vm) {
			fail("%s is not mounted (COPY_RANGE_VM=1)", l->root);
		} else {
			diag("SKIP: %s is not mounted: no files there", l->root);
			n_skips++;
		}
		return false;
	}
	if (!l->magic && !statfs(l->root, &sfs)) {
		if (sfs.f_type == TMPFS_MAGIC || sfs.f_type == EXT4_SUPER_MAGIC)
			l->shares = 0;
	}
	snprintf(l->dir, sizeof(l->dir), "%s/copy_range_fuzz.XXXXXX", l->root);
	if (!mkdtemp(l->dir)) {
		if (in_vm && l->magic)
			fail("mkdtemp under %s: %s", l->root, strerror(errno));
		else
			diag("SKIP: cannot make a directory under %s: %s", l->root,
			     strerror(errno));
		n_skips++;
		return false;
	}
	return true;
}

static int open_mode(struct pfile *p, const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);

	if (fd < 0 && !(flags & O_DIRECT))
		fail("setup: open %s (%s): %s", p->name, path, strerror(errno));
	return fd;
}

static void pfile_setup(struct rng *r, int loc, int idx, bool immutable)
{
	struct location *l = &locs[loc];
	struct pfile *p = &pfiles[nr_pfiles];
	char path[PATH_MAX];
	int m, fd, fl;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s/%s%d", l->name, immutable ? "imm" : "p", idx);
	p->loc = loc;
	p->data = calloc(1, MODEL_CAP);
	if (!p->data) {
		fail("out of memory");
		exit(1);
	}
	if (loc == L_MEMFD) {
		p->fd = memfd_create(p->name, MFD_CLOEXEC);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", p->fd);
	} else {
		snprintf(path, sizeof(path), "%s/%s%d", l->dir, immutable ? "imm" : "p", idx);
		p->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	}
	if (p->fd < 0) {
		fail("setup: create %s: %s", p->name, strerror(errno));
		free(p->data);
		return;
	}
	pfile_reshape(p, r);
	for (m = 0; m < NR_PMODES; m++) {
		p->zi[m] = -1;
		if (immutable && m != PM_RW && m != PM_RO)
			continue;
		fd = open_mode(p, path, pmodes[m].flags);
		if (fd < 0) {
			if (opt_verbose)
				diag("setup: %s cannot be opened %s: %s", p->name,
				     pmodes[m].name, strerror(errno));
			continue;
		}
		p->zi[m] = zoo_add(fd, Z_REG, pmodes[m].flags, "%s %s", p->name, pmodes[m].name);
		zoo[p->zi[m]].pf = nr_pfiles;
	}
	if (immutable) {
		fl = 0;
		if (!ioctl(p->fd, FS_IOC_GETFLAGS, &fl))
			fl |= FS_IMMUTABLE_FL;
		if (!(fl & FS_IMMUTABLE_FL) || ioctl(p->fd, FS_IOC_SETFLAGS, &fl)) {
			diag("setup: %s: cannot set the immutable flag: %s", p->name,
			     strerror(errno));
			for (m = 0; m < NR_PMODES; m++)
				if (p->zi[m] >= 0)
					zoo[p->zi[m]].pf = -1;
			return;
		}
		p->immutable = true;
	}
	nr_pfiles++;
}

static void racy_setup(int loc)
{
	static const int flags[4] = { O_RDWR, O_RDONLY, O_WRONLY, O_RDWR | O_APPEND };
	static const char *const names[4] = { "rw", "ro", "wo", "append" };
	struct location *l = &locs[loc];
	char path[PATH_MAX];
	int i, zi;

	snprintf(path, sizeof(path), "%s/racy", l->dir);
	for (i = 0; i < 4; i++) {
		l->racy[i] = open(path, flags[i] | O_CREAT | O_CLOEXEC, 0600);
		if (l->racy[i] < 0) {
			fail("setup: open %s: %s", path, strerror(errno));
			return;
		}
		zi = zoo_add(l->racy[i], Z_REG, flags[i], "%s/racy %s", l->name, names[i]);
		z_other[nr_z_other++] = zi;
		zoo[zi].racer_ok = true;
	}
	if (pwrite(l->racy[0], pool, RACY_MAX / 2, 0) != RACY_MAX / 2)
		fail("setup: write %s: %s", path, strerror(errno));
	racy_fds[nr_racy++] = l->racy[0];
}

static void long_setup(int loc)
{
	struct location *l = &locs[loc];
	char path[PATH_MAX];

	l->long_src = l->long_dst = -1;
	l->clone_src = l->clone_dst = -1;
	if (l->shares == 1) {
		snprintf(path, sizeof(path), "%s/clone_src", l->dir);
		l->clone_src = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		snprintf(path, sizeof(path), "%s/clone_dst", l->dir);
		l->clone_dst = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (l->clone_src < 0 || l->clone_dst < 0 || ftruncate(l->clone_src, CLONE_SIZE)) {
			fail("setup: the clone files on %s: %s", l->name, strerror(errno));
			l->clone_dst = -1;
		}
	}
	if (loc == L_TMP && !in_vm)
		return;
	snprintf(path, sizeof(path), "%s/long_src", l->dir);
	l->long_src = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	snprintf(path, sizeof(path), "%s/long_dst", l->dir);
	l->long_dst = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (l->long_src < 0 || l->long_dst < 0 ||
	    pattern_write(l->long_src, 0, LONG_HEAD, LONG_SEED, 0) ||
	    ftruncate(l->long_src, LONG_SIZE) || ftruncate(l->long_dst, LONG_SIZE)) {
		fail("setup: the long files on %s: %s", l->name, strerror(errno));
		l->long_dst = -1;
	}
}

/* Descriptors that are not private files. */
static void zoo_setup(void)
{
	static const char *const sysfs_files[] = {
		"/sys/kernel/uevent_seqnum", "/sys/kernel/mm/transparent_hugepage/enabled",
		"/sys/devices/system/cpu/online",
	};
	int fds[2], i, loc, zi, fd;
	char name[40];
	struct zfd *z;

	for (i = 0; i < 3; i++) {
		static const int modes[3] = { O_RDWR, O_RDONLY, O_WRONLY };
		static const char *const names[3] = { "rw", "ro", "wo" };

		fd = open(CR_DEVICE_PATH, modes[i] | O_CLOEXEC);
		if (fd < 0) {
			fail("open %s %s: %s", CR_DEVICE_PATH, names[i], strerror(errno));
			continue;
		}
		zi = zoo_add(fd, Z_DEV, modes[i], "device %s", names[i]);
		z_dev[nr_z_dev++] = zi;
		z_other[nr_z_other++] = zi;
	}
	zoo_other(open(CR_DEVICE_PATH, O_PATH | O_CLOEXEC), Z_DEV, O_PATH, "device O_PATH");
	for (loc = 0; loc < NR_LOCS; loc++) {
		if (!locs[loc].present || !locs[loc].root)
			continue;
		snprintf(name, sizeof(name), "%s dir", locs[loc].name);
		zoo_other(open(locs[loc].dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), Z_DIR,
			  O_RDONLY, name);
		snprintf(name, sizeof(name), "%s dir O_PATH", locs[loc].name);
		zoo_other(open(locs[loc].dir, O_PATH | O_CLOEXEC), Z_DIR, O_PATH, name);
	}
	if (!pipe2(fds, O_CLOEXEC)) {
		zoo_other(fds[0], Z_OTHER, O_RDONLY, "pipe read end");
		zoo_other(fds[1], Z_OTHER, O_WRONLY, "pipe write end");
	}
	if (!socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds)) {
		zoo_other(fds[0], Z_OTHER, O_RDWR, "unix socket");
		close(fds[1]);
	}
	zoo_other(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), Z_OTHER, O_RDWR,
		  "unix datagram socket");
	zoo_other(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), Z_OTHER, O_RDWR,
		  "inet stream socket");
	zoo_other(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), Z_OTHER, O_RDWR,
		  "inet datagram socket");
	zoo_other(eventfd(0, EFD_CLOEXEC), Z_OTHER, O_RDWR, "eventfd");
	zoo_other(open("/dev/null", O_RDWR | O_CLOEXEC), Z_OTHER, O_RDWR, "/dev/null");
	zoo_other(open("/dev/zero", O_RDONLY | O_CLOEXEC), Z_OTHER, O_RDONLY, "/dev/zero");
	zoo_other(open("/proc/version", O_RDONLY | O_CLOEXEC), Z_PSEUDO, O_RDONLY,
		  "/proc/version");
	zoo_other(open("/proc/self/comm", O_RDWR | O_CLOEXEC), Z_PSEUDO, O_RDWR,
		  "/proc/self/comm");
	for (i = 0; i < (int)ARRAY_SIZE(sysfs_files); i++) {
		fd = open(sysfs_files[i], O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			zoo_other(fd, Z_PSEUDO, O_RDONLY, sysfs_files[i]);
			break;
		}
	}
	if (as_root)
		zoo_other(open(CR_STATS_PATH, O_RDONLY | O_CLOEXEC), Z_PSEUDO, O_RDONLY,
			  "debugfs stats");
	/* Never open: closed numbers below the limit, absurd ones above it. */
	for (i = 0; i < NR_CLOSED; i++) {
		close(CLOSED_BASE + i);
		zi = zoo_add(CLOSED_BASE + i, Z_NOTOPEN, 0, "closed");
		z_notopen[nr_z_notopen++] = zi;
	}
	{
		static const int absurd[] = { -1, -2, INT_MIN, INT_MAX, 1 << 30, 65536 };

		for (i = 0; i < (int)ARRAY_SIZE(absurd); i++) {
			zi = zoo_add(absurd[i], Z_NOTOPEN, 0, "absurd");
			z_notopen[nr_z_notopen++] = zi;
		}
	}
	for (i = 0; i < nr_zoo; i++) {
		z = &zoo[i];
		if (z->racer_ok && z->fd >= 0 && nr_racer_src < (int)ARRAY_SIZE(racer_src))
			racer_src[nr_racer_src++] = z->fd;
	}
	for (i = 0; i < NR_SLOTS; i++) {
		z_slot[i] = zoo_add(SLOT_BASE + i, Z_SLOT, O_RDWR, "racing slot");
		if (nr_racer_src)
			dup2(racer_src[i % nr_racer_src], SLOT_BASE + i);
	}
}

static void read_max_jobs(void)
{
	FILE *f = fopen("/sys/module/copy_range/parameters/max_jobs_per_user", "re");

	if (f) {
		if (fscanf(f, "%d", &max_jobs) != 1)
			max_jobs = 64;
		fclose(f);
	} else {
		diag("max_jobs_per_user is not readable; taking the default, 64");
	}
}

/* Every private file against its model, when no job writes it. */
static void audit(const char *what)
{
	int i;

	for (i = 0; i < nr_pfiles; i++)
		if (!pfiles[i].busy)
			check_dst(&pfiles[i], what);
}

static void print_usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s --seed N --seconds S [--iterations K] [--user nobody]\n"
		"          [--no-racer] [--verbose]\n", prog);
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 't' },
		{ "iterations", required_argument, NULL, 'i' },
		{ "user", required_argument, NULL, 'u' },
		{ "no-racer", no_argument, NULL, 'R' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			opt_seed = strtoull(optarg, NULL, 0);
			break;
		case 't':
			opt_seconds = strtod(optarg, NULL);
			break;
		case 'i':
			opt_iterations = strtoull(optarg, NULL, 0);
			break;
		case 'u':
			if (strcmp(optarg, "nobody"))
				print_usage(argv[0]);
			opt_nobody = true;
			break;
		case 'R':
			opt_no_racer = true;
			break;
		case 'v':
			opt_verbose = true;
			break;
		default:
			print_usage(argv[0]);
		}
	}
	if (optind != argc)
		print_usage(argv[0]);
}

/* --user nobody: become uid and gid 65534 before opening anything. */
static void drop_privileges(void)
{
	if (getuid() == NOBODY && geteuid() == NOBODY)
		return;
	if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY)) {
		printf("not ok 1 - fuzz seed %" PRIu64 " as nobody # cannot become uid %d: %s\n",
		       opt_seed, NOBODY, strerror(errno));
		exit(1);
	}
	/* A set-id change makes /proc/self root's; the fuzzer opens files there. */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	if (!setuid(0)) {
		printf("not ok 1 - fuzz seed %" PRIu64 " as nobody # could become root again\n",
		       opt_seed);
		exit(1);
	}
}

static void summary_table(void)
{
	char line[1024];
	int op, e, at;

	for (op = 0; op < NR_OPS; op++) {
		if (!opstats[op].calls)
			continue;
		at = snprintf(line, sizeof(line), "%s: %lu calls, %lu succeeded", op_names[op],
			      opstats[op].calls, opstats[op].ok);
		for (e = 1; e < 192 && at < (int)sizeof(line) - 40; e++)
			if (opstats[op].err[e])
				at += snprintf(line + at, sizeof(line) - at, ", %s %lu",
					       errname(e), opstats[op].err[e]);
		diag("%s", line);
	}
}

static void setup_memory(void)
{
	size_t n;

	scratch_a = malloc(MODEL_CAP + 4096);
	scratch_b = malloc(MODEL_CAP + 4096);
	scratch_c = malloc(MODEL_CAP + 4096);
	arena = mmap(NULL, 4 * page_size, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	seg_pages = (SEG_BYTES + page_size - 1) / page_size;
	n = (seg_pages + 1) * page_size;
	seg_arena = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	seg_ro = mmap(NULL, seg_pages * page_size, PROT_READ,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!scratch_a || !scratch_b || !scratch_c || !pool || arena == MAP_FAILED ||
	    seg_arena == MAP_FAILED || seg_ro == MAP_FAILED ||
	    mprotect(arena + page_size, page_size, PROT_NONE) ||
	    mprotect(arena + 2 * page_size, page_size, PROT_READ) ||
	    mprotect(seg_arena + seg_pages * page_size, page_size, PROT_NONE)) {
		printf("not ok 1 - fuzz seed %" PRIu64 " # out of memory\n", opt_seed);
		exit(1);
	}
}

static void setup_process(void)
{
	struct sigaction sa = { .sa_handler = sigalrm };
	struct rlimit rl;

	/* No SA_RESTART: a timer signal must interrupt the call it lands in. */
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < CLOSED_BASE + 64) {
		rl.rlim_cur = min_u64(rl.rlim_max, CLOSED_BASE + 64);
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void cleanup(void)
{
	int i, fl, loc;

	while (nr_jobs) {
		describe("reaping job %s at the end", jobs[nr_jobs - 1].desc);
		job_reap(&jobs[nr_jobs - 1]);
	}
	if (ring_ok)
		cr_ring_exit(&ring);
	describe("the final audit");
	audit("at the end");
	for (i = 0; i < nr_pfiles; i++) {
		if (pfiles[i].immutable && !ioctl(pfiles[i].fd, FS_IOC_GETFLAGS, &fl)) {
			fl &= ~FS_IMMUTABLE_FL;
			if (ioctl(pfiles[i].fd, FS_IOC_SETFLAGS, &fl))
				diag("cannot clear the immutable flag of %s", pfiles[i].name);
		}
	}
	for (i = 0; i < NR_SLOTS; i++)
		close(SLOT_BASE + i);
	for (loc = 0; loc < NR_LOCS; loc++)
		if (locs[loc].present && locs[loc].root)
			remove_tree(locs[loc].dir);
}

int main(int argc, char **argv)
{
	double start, t, next_progress, next_kill, next_rmmod, next_flood;
	pthread_t racer, watchdog;
	enum activity act;
	struct rng r;
	int loc, i, busy;
	unsigned int w;

	setvbuf(stdout, NULL, _IOLBF, 0);
	parse_args(argc, argv);
	in_vm = getenv("COPY_RANGE_VM") && !strcmp(getenv("COPY_RANGE_VM"), "1");
	if (opt_nobody)
		drop_privileges();
	as_root = geteuid() == 0;
	page_size = sysconf(_SC_PAGESIZE);
	printf("TAP version 13\n1..1\n");
	diag("copy_range_fuzz: seed %" PRIu64 ", %g s, at most %" PRIu64
	     " iterations, uid %d, %s, racer %s", opt_seed, opt_seconds, opt_iterations,
	     geteuid(), in_vm ? "in the VM" : "not in the VM", opt_no_racer ? "off" : "on");
	setup_process();
	pool_setup();
	setup_memory();
	if (access(CR_DEVICE_PATH, F_OK)) {
		if (in_vm) {
			printf("not ok 1 - fuzz seed %" PRIu64 " # no %s in the VM\n", opt_seed,
			       CR_DEVICE_PATH);
			return 1;
		}
		printf("ok 1 - fuzz seed %" PRIu64 " # SKIP no %s (module not loaded)\n",
		       opt_seed, CR_DEVICE_PATH);
		return 4;
	}

	describe("set-up");
	t = now();
	r = rng_for(1, 0);
	for (loc = 0; loc < NR_LOCS; loc++) {
		locs[loc].long_dst = -1;
		locs[loc].clone_dst = -1;
		locs[loc].present = location_setup(&locs[loc]);
		if (!locs[loc].present)
			continue;
		for (i = 0; i < PF_PER_LOC; i++)
			pfile_setup(&r, loc, i, false);
		if (as_root && (loc == L_BTRFS || loc == L_XFS || loc == L_EXT4))
			pfile_setup(&r, loc, 0, true);
		if (locs[loc].root) {
			racy_setup(loc);
			long_setup(loc);
		}
		if (opt_verbose)
			diag("set-up of %s: %.1f s so far", locs[loc].name, now() - t);
	}
	zoo_setup();
	read_max_jobs();
	i = cr_ring_init(&ring, 8, IORING_SETUP_SQE128);
	ring_ok = !i;
	if (!ring_ok && in_vm)
		fail("an io_uring ring of 128-byte SQEs: %s", strerror(-i));
	diag("set-up: %d private files, %d descriptors, max_jobs_per_user %d, %lu skipped, %.1f s",
	     nr_pfiles, nr_zoo, max_jobs, n_skips, now() - t);
	if (n_failures || !nr_pfiles || !nr_z_dev || !nr_racy) {
		printf("not ok 1 - fuzz seed %" PRIu64 " as %s # set-up failed\n", opt_seed,
		       as_root ? "root" : "nobody");
		cleanup();
		return 1;
	}
	pthread_create(&watchdog, NULL, watchdog_main, NULL);
	if (!opt_no_racer)
		pthread_create(&racer, NULL, racer_main, NULL);

	start = now();
	next_progress = start + 10;
	next_kill = start + 2;
	next_rmmod = start + 5;
	next_flood = start + opt_seconds / 3;
	for (iteration = 0; iteration < opt_iterations && n_failures < 200 && !module_gone;
	     iteration++) {
		t = now();
		if (t - start >= opt_seconds)
			break;
		r = rng_for(0, iteration);
		iter_call_time = 0;
		if (t >= next_progress) {
			diag("%.0f s: iteration %" PRIu64 ", %lu calls, %lu checks of data, %lu jobs, %d held, %lu racer operations, %lu failures",
			     t - start, iteration, n_calls, n_verified, n_jobs, nr_jobs,
			     n_racer_ops, n_failures);
			next_progress += 10;
		}
		/* Room for more jobs, and private files for them to use. */
		for (i = 0, busy = 0; i < nr_pfiles; i++)
			busy += pfiles[i].busy;
		if (nr_jobs >= MAX_HELD_JOBS - 4 || (busy > nr_pfiles / 2 && nr_jobs)) {
			describe("reaping a job to make room");
			act = A_REAP;
			job_reap(&jobs[below(&r, nr_jobs)]);
		} else if (t >= next_kill) {
			struct rng k = rng_for(3, iteration);

			act = A_KILL;
			kill_test(&k);
			next_kill = now() + max_u64(2, 4 * (now() - t)) + below(&r, 2);
		} else if (t >= next_rmmod) {
			act = A_RMMOD;
			rmmod_test();
			next_rmmod = now() + max_u64(20, 8 * (now() - t));
		} else if (t >= next_flood) {
			struct rng k = rng_for(4, iteration);

			act = A_FLOOD;
			describe("reaping jobs before a flood");
			while (nr_jobs)
				job_reap(&jobs[nr_jobs - 1]);
			flood(&k);
			next_flood = now() + max_u64(40, 8 * (now() - t));
		} else if (iteration % 100 == 99) {
			act = A_AUDIT;
			describe("audit at iteration %" PRIu64, iteration);
			audit("audit");
		} else {
			w = below(&r, 100);
			if (w < 30) {
				act = A_COPY;
				op_copy(&r, false);
			} else if (w < 40) {
				act = A_SUBMIT;
				op_copy(&r, true);
			} else if (w < 54) {
				act = A_COPYV;
				op_vec(&r, false);
			} else if (w < 61) {
				act = A_SUBMITV;
				op_vec(&r, true);
			} else if (w < 85) {
				act = A_JOB;
				op_job(&r);
			} else if (w < 91) {
				act = A_UNKNOWN;
				op_unknown(&r);
			} else if (w < 93) {
				act = A_RESHAPE;
				pfile_reshape(&pfiles[below(&r, nr_pfiles)], &r);
			} else {
				act = A_COPY;
				op_copy(&r, false);
			}
		}
		activity_time[act] += now() - t;
		activity_count[act]++;
		if (now() - t > 1 && n_slow++ < 30)
			diag("slow: %.1f s (%.1f s in calls) at iteration %" PRIu64 ": %s",
			     now() - t, iter_call_time, iteration, call_desc);
	}
	t = now() - start;
	racer_stop = true;
	if (!opt_no_racer)
		pthread_join(racer, NULL);
	start = now();
	cleanup();
	diag("clean-up: %.1f s", now() - start);
	summary_table();
	for (i = 0; i < NR_ACTIVITIES; i++)
		if (activity_count[i])
			diag("time: %s: %lu, %.2f s, %.1f ms each", activity_names[i],
			     activity_count[i], activity_time[i],
			     1000 * activity_time[i] / activity_count[i]);
	diag("%" PRIu64 " iterations in %.1f s; %lu calls with a timer signal (%lu EINTR), %lu short counts",
	     iteration, t, n_sig_timers, n_eintr, n_short);
	diag("%lu copies through io_uring, %lu with a cancel (%lu ECANCELED)", n_ring,
	     n_ring_cancels, n_ring_cancelled);
	diag("%lu children killed, %lu rmmod attempts, %lu floods to the job limit (%lu EAGAIN)",
	     n_kills, n_rmmod, n_floods, n_eagain);
	diag("%lu jobs checked to the byte, %lu racer operations, %lu skipped",
	     n_jobs_verified, n_racer_ops, n_skips);
	diag("%lu checks of files against their model", n_verified);
	diag("fuzz: seed %" PRIu64 ", %lu calls, %lu copies verified, %lu jobs, %lu failures",
	     opt_seed, n_calls, n_copies_ok, n_jobs, n_failures);
	printf("%sok 1 - fuzz seed %" PRIu64 " as %s\n", n_failures ? "not " : "", opt_seed,
	       as_root ? "root" : "nobody");
	return n_failures ? 1 : 0;
}
