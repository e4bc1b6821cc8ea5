// SPDX-License-Identifier: GPL-2.0
/*
 * fault_walk - makes every fault point of every /dev/copy_range ioctl path
 * fail, one at a time, and checks what the call did about it.
 *
 * A fault point is a place where the kernel asks the fault injection
 * framework whether to fail: a slab allocation (failslab), a page
 * allocation (fail_page_alloc) or a copy from or to user memory
 * (fail_usercopy).  For each path (COPY under each sharing policy on each
 * test filesystem, COPYV, SUBMIT, SUBMITV, and every operation on a job
 * descriptor: read, poll, STATUS, WAIT, CANCEL, close) the walk writes N to
 * /proc/thread-self/fail-nth, makes exactly one call, and reads fail-nth
 * back, for N = 1, 2, 3...  Reading 0 back means that the call reached its
 * Nth fault point and was failed there; a non-zero value means the call
 * had fewer than N fault points, and the walk of the path ends at that N.
 *
 * After every call, on fresh files: the call returned -1 with an errno it
 * may return for such a fault (ENOMEM, EFAULT), or a count; the bytes the
 * count promises are the source's, every byte the call was not asked to
 * touch is as it was, and a byte it was asked to copy but did not promise
 * is either as it was or the source's.  The source is unchanged.  No
 * descriptor is left behind.
 *
 * Jobs copy in a kernel worker, which fail-nth does not reach: they run
 * under a window of random failslab and fail_page_alloc failures limited
 * (task-filter, /proc/<pid>/make-it-fail) to the workers that run
 * copy_range jobs, and must end DONE with the data, FAILED with a
 * documented errno and an exact count, or CANCELLED with an exact count.
 *
 * At the end: every job slot is free again, every test file is closed and
 * removed, every test filesystem unmounts (no file reference leaked),
 * checks clean and mounts again, the kernel log since the start holds no
 * KASAN, WARN, BUG or lockdep report, and a kmemleak scan finds no leak
 * from copy_range.  Injection is disarmed at exit, also on a crash signal.
 *
 * TAP output.  Run as root in the debug-kernel VM (tools/vm/run-vm).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "copy_range_helpers.h"

#define SEED_SRC	0x5eedfa0175a5c0deULL
#define SEED_DST	0x5eedfa01d5d5beefULL

#define BLK		4096ULL
/* Pattern images kept in memory: every file of the walk fits. */
#define IMG_MAX		(10 * MIB)
#define IO_CHUNK	(1 * MIB)
#define MAX_SEGS	3
/* N for the probe that counts a call's fault points without failing any. */
#define PROBE_N		1000000000UL
/* No path has nearly this many fault points: a walk past it is stuck. */
#define WALK_CAP	200000U

/* The module's default; its parameter is not visible in sysfs. */
#define MAX_JOBS_PER_USER	64

#define DEBUGFS		"/sys/kernel/debug"
#define KMEMLEAK	DEBUGFS "/kmemleak"

/* A loop-mounted ext4 of our own, to prove that unmounting it works. */
#define OWN_IMG		FS_TMPFS "/fault_walk-ext4.img"
#define OWN_MNT		FS_TMPFS "/fault_walk-ext4"
#define OWN_SIZE	(64 * MIB)

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)	((a) < (b) ? (a) : (b))
#define MAX(a, b)	((a) > (b) ? (a) : (b))

static struct {
	double budget;			/* seconds for the whole run; 0: none */
	unsigned int exhaustive;	/* walk every N up to this many points */
	unsigned int head;		/* else every N up to this one, */
	unsigned int samples;		/* then this many spread over the rest */
	double window;			/* seconds of random failures for jobs */
	unsigned int probability;	/* percent, in that window */
	const char *only;		/* only paths whose name contains this */
	bool list;
	bool no_final;			/* skip unmount, fsck and kmemleak */
	bool verbose;			/* a line per step */
} opt = {
	.budget = 300,
	.exhaustive = 100,
	.head = 16,
	.samples = 12,
	.window = 20,
	.probability = 10,
};

/* TAP */

static unsigned int tap_count, tap_failed;

static void diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void tap(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s %u - ", ok ? "ok" : "not ok", ++tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!ok)
		tap_failed++;
}

static void tap_skip(const char *fmt, ...)
{
	va_list ap;

	printf("ok %u - ", ++tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	puts(" # SKIP");
}

static double t_start;

/* A diagnostic line with the time since the start, for each phase. */
static void phase(const char *what)
{
	diag("[%6.1f s] %s", now_s() - t_start, what);
}

/* Small file helpers */

static int write_str(const char *path, const char *val)
{
	size_t len = strlen(val);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t w;

	if (fd < 0)
		return -1;
	w = write(fd, val, len);
	close(fd);
	return w == (ssize_t)len ? 0 : -1;
}

static int read_str(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return -1;
	r = read(fd, buf, len - 1);
	close(fd);
	if (r < 0)
		return -1;
	buf[r] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/*
 * Runs a shell command with its output in a log; 0 when it exited 0.  On
 * failure the log's tail goes out as diagnostics.
 */
static int run_cmd(const char *fmt, ...)
{
	const char *log = "/tmp/fault_walk.cmd.log";
	char cmd[1024], full[1200], line[256];
	va_list ap;
	FILE *f;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "%s >%s 2>&1", cmd, log);
	fflush(stdout);
	st = system(full);
	if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	diag("'%s' failed (status %d):", cmd, st);
	f = fopen(log, "re");
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		diag("  %s", line);
	}
	if (f)
		fclose(f);
	return -1;
}

/*
 * The fault injection knobs.  Every value is saved before the first change
 * and written back at exit, from an atexit handler and from the handlers of
 * crash signals, so a run that dies leaves no injection armed.  The restore
 * uses only open/write/close on strings prepared in advance.
 */

static const char *const fault_attrs[] = {
	"failslab", "fail_page_alloc", "fail_usercopy",
};

static const char *const knob_names[] = {
	"probability", "interval", "times", "space", "verbose", "task-filter",
	"ignore-gfp-wait", "ignore-gfp-highmem", "min-order",
};

struct knob {
	char path[96];
	char saved[32];
	bool have;
};

static struct knob knobs[ARRAY_SIZE(fault_attrs) * ARRAY_SIZE(knob_names)];
static unsigned int nr_knobs;

/* Tasks whose make-it-fail this run set, to clear again. */
#define MAX_MARKED	512
static int marked[MAX_MARKED];
static volatile int nr_marked;
static pthread_mutex_t marked_lock = PTHREAD_MUTEX_INITIALIZER;

/* This thread's fail-nth; the walk runs on the main thread only. */
static int nth_fd = -1;

/* Where results nobody can act on go. */
static volatile ssize_t len_ignored;

static void raw_write(const char *path, const char *val, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	/* A failure here has no better answer than going on. */
	len_ignored = write(fd, val, len);
	close(fd);
}

static bool knob_is(const struct knob *k, const char *name)
{
	size_t pl = strlen(k->path), nl = strlen(name);

	return pl > nl && k->path[pl - nl - 1] == '/' &&
	       !strcmp(k->path + pl - nl, name);
}

/* Async-signal-safe: no injection stays armed after this. */
static void disarm_all(void)
{
	char path[64];
	unsigned int i;
	int n;

	for (i = 0; i < nr_knobs; i++)
		if (knob_is(&knobs[i], "probability"))
			raw_write(knobs[i].path, "0", 1);
	/* A first write that fails leaves fail-nth at 0 already. */
	if (nth_fd >= 0)
		len_ignored = write(nth_fd, "0", 1);
	n = nr_marked;
	for (int j = 0; j < n && j < MAX_MARKED; j++) {
		char num[16];
		int v = marked[j], len = 0;

		/* No snprintf here: build "/proc/<pid>/make-it-fail" by hand. */
		do {
			num[len++] = '0' + v % 10;
			v /= 10;
		} while (v && len < (int)sizeof(num));
		memcpy(path, "/proc/", 6);
		for (int d = 0; d < len; d++)
			path[6 + d] = num[len - 1 - d];
		memcpy(path + 6 + len, "/make-it-fail", 14);
		raw_write(path, "0", 1);
	}
	for (i = 0; i < nr_knobs; i++)
		if (knobs[i].have && !knob_is(&knobs[i], "probability"))
			raw_write(knobs[i].path, knobs[i].saved,
				  strlen(knobs[i].saved));
	for (i = 0; i < nr_knobs; i++)
		if (knobs[i].have && knob_is(&knobs[i], "probability"))
			raw_write(knobs[i].path, knobs[i].saved,
				  strlen(knobs[i].saved));
}

static void crash_handler(int sig)
{
	disarm_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Saves every knob that exists.  False when failslab is missing. */
static bool knobs_save(void)
{
	unsigned int a, k;

	for (a = 0; a < ARRAY_SIZE(fault_attrs); a++) {
		for (k = 0; k < ARRAY_SIZE(knob_names); k++) {
			struct knob *kn = &knobs[nr_knobs];

			snprintf(kn->path, sizeof(kn->path), DEBUGFS "/%s/%s",
				 fault_attrs[a], knob_names[k]);
			if (access(kn->path, F_OK))
				continue;
			if (read_str(kn->path, kn->saved, sizeof(kn->saved)))
				continue;
			kn->have = true;
			nr_knobs++;
		}
	}
	return !access(DEBUGFS "/failslab/probability", W_OK) &&
	       !access(DEBUGFS "/fail_page_alloc/probability", W_OK) &&
	       !access(DEBUGFS "/fail_usercopy/probability", W_OK);
}

static int knob_set(const char *attr, const char *name, const char *val)
{
	char path[96];

	snprintf(path, sizeof(path), DEBUGFS "/%s/%s", attr, name);
	if (write_str(path, val)) {
		diag("cannot write %s to %s: %s", val, path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * For the fail-nth walk.  fail-nth fails the Nth call of should_fail() in
 * this task whatever probability, interval, times and task-filter say
 * (lib/fault-inject.c checks it first), so probability 0 keeps every other
 * task free of failures while the walk fails exactly one point of ours.
 * The per-capability filters still apply before it, so: sleeping
 * allocations (GFP_KERNEL) count too (ignore-gfp-wait N), and so do page
 * allocations of any order (min-order 0) and user/page-cache pages
 * (ignore-gfp-highmem N).  verbose 0: no message and no stack dump for each
 * injected fault (the default, 2, would flood the console).
 */
static int fault_mode_walk(void)
{
	int ret = 0;

	for (unsigned int a = 0; a < ARRAY_SIZE(fault_attrs); a++) {
		ret |= knob_set(fault_attrs[a], "probability", "0");
		ret |= knob_set(fault_attrs[a], "verbose", "0");
		ret |= knob_set(fault_attrs[a], "interval", "1");
		ret |= knob_set(fault_attrs[a], "times", "-1");
		ret |= knob_set(fault_attrs[a], "space", "0");
		ret |= knob_set(fault_attrs[a], "task-filter", "N");
	}
	ret |= knob_set("failslab", "ignore-gfp-wait", "N");
	ret |= knob_set("fail_page_alloc", "ignore-gfp-wait", "N");
	ret |= knob_set("fail_page_alloc", "ignore-gfp-highmem", "N");
	ret |= knob_set("fail_page_alloc", "min-order", "0");
	return ret;
}

/* times for the random window: large, and read back to count failures. */
#define RANDOM_TIMES	1000000

/*
 * For the jobs: random failures of slab and page allocations, only in
 * tasks whose make-it-fail is set (task-filter Y): the workers that run
 * copy_range jobs.  Not fail_usercopy: a worker has no user memory.
 */
static int fault_mode_random(unsigned int pct)
{
	char p[16];
	int ret = 0;

	snprintf(p, sizeof(p), "%u", pct);
	for (unsigned int a = 0; a < 2; a++) {
		ret |= knob_set(fault_attrs[a], "probability", "0");
		ret |= knob_set(fault_attrs[a], "task-filter", "Y");
		ret |= knob_set(fault_attrs[a], "interval", "1");
		ret |= knob_set(fault_attrs[a], "times", "1000000");
		ret |= knob_set(fault_attrs[a], "space", "0");
		ret |= knob_set(fault_attrs[a], "verbose", "0");
	}
	for (unsigned int a = 0; a < 2; a++)
		ret |= knob_set(fault_attrs[a], "probability", p);
	return ret;
}

static void fault_mode_off(void)
{
	for (unsigned int a = 0; a < ARRAY_SIZE(fault_attrs); a++)
		knob_set(fault_attrs[a], "probability", "0");
}

/*
 * fail-nth.  The file is opened once: opening it again would allocate.
 * Between nth_arm() and nth_disarm() the walk makes exactly one system
 * call, and touches no memory that is not already mapped (mlockall), so a
 * page fault cannot take a fault point either.
 */
static char nth_buf[16];
static size_t nth_len;

static void nth_prepare(unsigned long n)
{
	nth_len = snprintf(nth_buf, sizeof(nth_buf), "%lu", n);
}

static bool nth_arm(void)
{
	return write(nth_fd, nth_buf, nth_len) == (ssize_t)nth_len;
}

/*
 * Reads fail-nth back after the call: 0 if the fault was injected, else
 * what was left of N.  The read copies to user memory, itself a fault
 * point: it consumes one more if any was left, and fails (EFAULT) if
 * exactly one was.  Writing 0 then clears what is left (a write that finds
 * one left fails, leaving 0 too).
 */
static unsigned long nth_disarm(void)
{
	unsigned long left;
	char b[24];
	ssize_t r;

	r = pread(nth_fd, b, sizeof(b) - 1, 0);
	if (r < 0) {
		left = errno == EFAULT ? 1 : ULONG_MAX;
	} else {
		b[r] = '\0';
		left = strtoul(b, NULL, 10);
	}
	if (write(nth_fd, "0", 1) != 1 && write(nth_fd, "0", 1) != 1)
		left = ULONG_MAX;
	return left;
}

/* The data: pattern images and file models */

static unsigned char *img_src, *img_dst;
static unsigned char *buf_file, *buf_old, *buf_src;

/*
 * A file's intended contents: the pattern from @seed over @size bytes,
 * except a hole of zeros in [@hole_lo, @hole_hi).
 */
struct fmodel {
	uint64_t seed;
	uint64_t size;
	uint64_t hole_lo, hole_hi;
};

/* Bytes [@off, +@len) of @m; past its end of file, zeros. */
static void model_fill(const struct fmodel *m, unsigned char *buf,
		       uint64_t off, size_t len)
{
	const unsigned char *img = m->seed == SEED_SRC ? img_src :
				   m->seed == SEED_DST ? img_dst : NULL;
	uint64_t end = off + len, lo, hi;

	if (img && end <= IMG_MAX)
		memcpy(buf, img + off, len);
	else
		pattern_fill(buf, len, m->seed, off);
	lo = MAX(off, m->hole_lo);
	hi = MIN(end, m->hole_hi);
	if (lo < hi)
		memset(buf + (lo - off), 0, hi - lo);
	if (end > m->size) {
		lo = MAX(off, m->size);
		memset(buf + (lo - off), 0, end - lo);
	}
}

static int pwrite_all(int fd, const unsigned char *buf, size_t len,
		      uint64_t off)
{
	while (len) {
		ssize_t w = pwrite(fd, buf, len, off);

		if (w <= 0)
			return -1;
		buf += w;
		len -= w;
		off += w;
	}
	return 0;
}

static int pread_all(int fd, unsigned char *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t r = pread(fd, buf, len, off);

		if (r <= 0)
			return -1;
		buf += r;
		len -= r;
		off += r;
	}
	return 0;
}

static int model_write(int fd, const struct fmodel *m)
{
	uint64_t pos = 0;

	while (pos < m->size) {
		uint64_t n = MIN(IO_CHUNK, m->size - pos);

		if (pos >= m->hole_lo && pos < m->hole_hi) {
			pos = m->hole_hi;
			continue;
		}
		if (pos < m->hole_lo)
			n = MIN(n, m->hole_lo - pos);
		model_fill(m, buf_file, pos, n);
		if (pwrite_all(fd, buf_file, n, pos))
			return -1;
		pos += n;
	}
	return ftruncate(fd, m->size);
}

/*
 * What a destination must hold after a call, as spans of destination
 * offsets; every byte outside them must be as it was (zero past the old end
 * of file).
 */
enum cls {
	CLS_SRC,	/* the source's byte at offset + delta */
	CLS_EITHER,	/* the old byte or the source's */
	CLS_PREFIX,	/* the source's up to some point, the old bytes after */
};

struct span {
	uint64_t lo, hi;
	int64_t delta;
	enum cls cls;
};

struct expect {
	struct span span[2 * MAX_SEGS];
	unsigned int n;
	uint64_t size_lo, size_hi;
};

static void expect_add(struct expect *ex, uint64_t lo, uint64_t hi,
		       int64_t delta, enum cls cls)
{
	if (lo < hi && ex->n < ARRAY_SIZE(ex->span))
		ex->span[ex->n++] = (struct span){ lo, hi, delta, cls };
}

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static const char *cls_name(int cls)
{
	switch (cls) {
	case CLS_SRC:
		return "the source's byte";
	case CLS_EITHER:
		return "the old or the source's byte";
	case CLS_PREFIX:
		return "a copied prefix, then the old bytes";
	}
	return "the old byte";
}

/*
 * Checks @fd against @ex, with @old its contents before the call and @src
 * the source's.  True if it matches; else false with the first difference
 * in @why.  *@beyond counts bytes of CLS_EITHER spans that were written
 * (hold the source's byte where the old one differs): data past a count.
 */
static bool check_file(int fd, const struct fmodel *old,
		       const struct fmodel *src, struct expect *ex,
		       char *why, size_t wlen, uint64_t *beyond)
{
	bool pfx_done[ARRAY_SIZE(ex->span)] = {};
	int64_t size = file_size(fd);
	uint64_t pos, n;

	if (beyond)
		*beyond = 0;
	if (size < 0) {
		snprintf(why, wlen, "fstat: %s", strerror(errno));
		return false;
	}
	if ((uint64_t)size < ex->size_lo || (uint64_t)size > ex->size_hi) {
		snprintf(why, wlen, "size %" PRId64 ", want %" PRIu64
			 "..%" PRIu64, size, ex->size_lo, ex->size_hi);
		return false;
	}
	qsort(ex->span, ex->n, sizeof(ex->span[0]), span_cmp);
	for (pos = 0; pos < (uint64_t)size; pos += n) {
		uint64_t cur, e;

		off_t data, hole;

		n = MIN(IO_CHUNK, (uint64_t)size - pos);
		/*
		 * A hole reads as zeros without reading it: reading holes
		 * costs btrfs seconds per MiB under emulation.  Dirty page
		 * cache counts as data for SEEK_DATA.
		 */
		data = lseek(fd, pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			data = size;
		if (data > (off_t)pos) {
			n = MIN(n, (uint64_t)data - pos);
			memset(buf_file, 0, n);
		} else {
			hole = lseek(fd, pos, SEEK_HOLE);
			if (hole > (off_t)pos)
				n = MIN(n, (uint64_t)hole - pos);
			if (pread_all(fd, buf_file, n, pos)) {
				snprintf(why, wlen, "read at %" PRIu64 ": %s",
					 pos, strerror(errno));
				return false;
			}
		}
		model_fill(old, buf_old, pos, n);
		for (cur = pos; cur < pos + n; cur = e) {
			const struct span *sp = NULL;
			unsigned int i;
			size_t o, len, j;
			int cls = -1;

			e = pos + n;
			for (i = 0; i < ex->n; i++) {
				if (ex->span[i].hi <= cur)
					continue;
				if (ex->span[i].lo <= cur) {
					sp = &ex->span[i];
					cls = sp->cls;
					e = MIN(e, sp->hi);
				} else {
					e = MIN(e, ex->span[i].lo);
				}
				break;
			}
			o = cur - pos;
			len = e - cur;
			if (!sp) {
				if (!memcmp(buf_file + o, buf_old + o, len))
					continue;
				for (j = 0; buf_file[o + j] == buf_old[o + j]; j++)
					;
				goto mismatch;
			}
			model_fill(src, buf_src + o, cur + sp->delta, len);
			if (cls == CLS_SRC) {
				if (!memcmp(buf_file + o, buf_src + o, len))
					continue;
				for (j = 0; buf_file[o + j] == buf_src[o + j]; j++)
					;
				goto mismatch;
			}
			for (j = 0; j < len; j++) {
				unsigned char got = buf_file[o + j];
				bool is_old = got == buf_old[o + j];
				bool is_src = got == buf_src[o + j];

				if (cls == CLS_EITHER) {
					if (!is_old && !is_src)
						goto mismatch;
					if (beyond && is_src && !is_old)
						(*beyond)++;
					continue;
				}
				/* CLS_PREFIX */
				if (!pfx_done[i] && is_src)
					continue;
				pfx_done[i] = true;
				if (!is_old)
					goto mismatch;
			}
			continue;
mismatch:
			snprintf(why, wlen,
				 "byte %" PRIu64 " is 0x%02x, want %s (old 0x%02x, source 0x%02x)",
				 cur + j, buf_file[o + j], cls_name(cls),
				 buf_old[o + j], sp ? buf_src[o + j] : 0);
			return false;
		}
	}
	return true;
}

/*
 * Every test directory made.  A directory is released (removed) when its
 * path or job is done; on a filesystem that went read-only the removal
 * fails, and is tried again once the filesystem is mounted again.
 */
struct made_dir {
	char path[80];
	bool released;
};

#define MAX_DIRS	256
static struct made_dir made_dirs[MAX_DIRS];
static unsigned int nr_made_dirs, late_removals;

static char *test_dir_new(const char *root, char *buf)
{
	if (!make_test_dir(root, buf))
		return NULL;
	if (nr_made_dirs < MAX_DIRS)
		snprintf(made_dirs[nr_made_dirs++].path,
			 sizeof(made_dirs[0].path), "%s", buf);
	return buf;
}

static void release_dir(const char *dir)
{
	remove_tree(dir);
	for (unsigned int i = 0; i < nr_made_dirs; i++)
		if (!strcmp(made_dirs[i].path, dir))
			made_dirs[i].released = true;
}

/* Removes again the released directories under @root that are still there. */
static void retry_released(const char *root)
{
	size_t len = strlen(root);

	for (unsigned int i = 0; i < nr_made_dirs; i++) {
		struct made_dir *d = &made_dirs[i];

		if (!d->released || strncmp(d->path, root, len) ||
		    d->path[len] != '/' || access(d->path, F_OK))
			continue;
		remove_tree(d->path);
		if (access(d->path, F_OK))
			late_removals++;
	}
}

/* Filesystems */

struct fsdesc {
	const char *name;
	const char *root;
	unsigned long magic;
	bool share;	/* can share extents (REQUIRE works) */
	bool own;	/* mounted by this program */
	bool present;
};

static struct fsdesc fs_btrfs = {
	.name = "btrfs", .root = FS_BTRFS, .magic = BTRFS_SUPER_MAGIC,
	.share = true,
};

static struct fsdesc fs_xfs = {
	.name = "xfs", .root = FS_XFS, .magic = XFS_SUPER_MAGIC, .share = true,
};

static struct fsdesc fs_ext4 = {
	.name = "ext4", .root = FS_EXT4, .magic = EXT4_SUPER_MAGIC,
};

static struct fsdesc fs_tmpfs = {
	.name = "tmpfs", .root = FS_TMPFS, .magic = TMPFS_MAGIC,
};

static struct fsdesc fs_own = {
	.name = "ext4loop", .root = OWN_MNT, .magic = EXT4_SUPER_MAGIC,
	.own = true,
};

static struct fsdesc *const all_fs[] = {
	&fs_btrfs, &fs_xfs, &fs_ext4, &fs_tmpfs, &fs_own,
};

/* Mounts */

struct mnt {
	char src[256];
	char type[32];
};

/* The filesystem mounted on @dir, from /proc/self/mountinfo. */
static bool find_mount(const char *dir, struct mnt *m)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[1024];
	bool found = false;

	while (f && fgets(line, sizeof(line), f)) {
		char point[PATH_MAX], *dash;

		if (sscanf(line, "%*d %*d %*s %*s %1023s", point) != 1 ||
		    strcmp(point, dir))
			continue;
		dash = strstr(line, " - ");
		if (dash && sscanf(dash, " - %31s %255s", m->type, m->src) == 2)
			found = true;
	}
	if (f)
		fclose(f);
	return found;
}


static unsigned int fs_recoveries;

/*
 * Unmounts and mounts again a filesystem that shut itself down or went
 * read-only (btrfs aborts a transaction on ENOMEM in some places, and then
 * refuses every write): the walk goes on from its last commit.  The
 * unmount also proves that no file reference of the walk was left.
 */
static bool fs_recover(struct fsdesc *fs)
{
	struct mnt m;

	fs_recoveries++;
	if (fs->own || !find_mount(fs->root, &m)) {
		diag("%s: cannot recover (%s)", fs->root,
		     fs->own ? "our own loop mount" : "not found in mountinfo");
		return false;
	}
	if (umount2(fs->root, 0)) {
		diag("%s: unmount to recover: %s", fs->root, strerror(errno));
		return false;
	}
	if (mount(m.src, fs->root, m.type, 0,
		  !strcmp(m.type, "tmpfs") ? "size=1G" : NULL) ||
	    chmod(fs->root, 01777)) {
		diag("%s: mount again: %s", fs->root, strerror(errno));
		fs->present = false;
		return false;
	}
	diag("%s (%s) went read-only; unmounted and mounted again", fs->root,
	     fs->name);
	retry_released(fs->root);
	return true;
}

/* Layouts: the two files of a case and the ranges it copies */

struct layout {
	const char *name;
	struct fmodel src, dst;
	struct copy_range_seg seg[MAX_SEGS];
	unsigned int nsegs;
	/*
	 * Megabytes per step, hundreds to thousands of fault points, most of
	 * them the same few allocations once per page or per 64 KiB pipe
	 * load: walked at every N up to opt.head, then sampled.
	 */
	bool heavy;
};

#define FILE_OF(s, n)	{ .seed = (s), .size = (n) }
#define SMALL_SRC	FILE_OF(SEED_SRC, 5 * BLK + 777)
#define SMALL_DST	FILE_OF(SEED_DST, 7 * BLK + 333)
#define LARGE_SRC	FILE_OF(SEED_SRC, 4 * MIB + 64 * KIB + 123)
#define LARGE_DST	FILE_OF(SEED_DST, 4 * MIB + 80 * KIB)
#define VEC_SRC		FILE_OF(SEED_SRC, 48 * KIB + 300)
#define VEC_DST		FILE_OF(SEED_DST, 64 * KIB + 500)

/* Unaligned, inside the destination. */
static const struct layout l_small = {
	"small", SMALL_SRC, SMALL_DST, { { 123, 4567, 3 * BLK + 1000 } }, 1, false,
};

/* Offsets equal modulo the block: a head, a shareable body, a tail. */
static const struct layout l_small_split = {
	"small", SMALL_SRC, SMALL_DST,
	{ { 1000, 1000 + 2 * BLK, 4 * BLK + 500 } }, 1, false,
};

static const struct layout l_small_aligned = {
	"small", SMALL_SRC, SMALL_DST, { { BLK, 2 * BLK, 3 * BLK } }, 1, false,
};

/*
 * Past the first 4 MiB chunk of the range, at odd offsets: the second chunk
 * starts 4 MiB + 333 bytes into the destination.  (Larger copies cost more
 * per step than the walk can afford under emulation.)
 */
static const struct layout l_large = {
	"large", LARGE_SRC, LARGE_DST, { { BLK + 1, 333, 4 * MIB + 40000 } }, 1,
	true,
};

static const struct layout l_large_split = {
	"large", LARGE_SRC, LARGE_DST,
	{ { 1000, 1000 + BLK, 4 * MIB + 50000 } }, 1, true,
};

static const struct layout l_large_aligned = {
	"large", LARGE_SRC, LARGE_DST, { { 0, BLK, 4 * MIB + 16 * BLK } }, 1,
	true,
};

/*
 * A source with a 4 MiB hole between 64 KiB and 5000 bytes of data, into
 * an empty destination: the copy runs past the destination's end of file,
 * where it looks the hole up (a second open of the source), skips it, and
 * copies the data after it in a chunk of its own.
 */
#define SPARSE_SIZE	(4 * MIB + 64 * KIB + 5000)
static const struct layout l_sparse = {
	"sparse",
	{ .seed = SEED_SRC, .size = SPARSE_SIZE, .hole_lo = 64 * KIB + 123,
	  .hole_hi = 4 * MIB + 64 * KIB },
	FILE_OF(SEED_DST, 0), { { 0, BLK, SPARSE_SIZE } }, 1, true,
};

static const struct layout l_vec = {
	"vec", VEC_SRC, VEC_DST,
	{ { 100, 40000, 5000 }, { 9000, 200, 12000 }, { 30000, 20000, 8000 } },
	3, false,
};

/*
 * Sharing vectors have two segments: each one is a clone with tens of fault
 * points, and two show a failure in the first leaving the second untouched.
 */
static const struct layout l_vec_split = {
	"vec", VEC_SRC, VEC_DST,
	{ { 1000, 1000 + 2 * BLK, 3 * BLK + 100 },
	  { 20000, 20000 + 6 * BLK, 2 * BLK + 1 } }, 2, false,
};

static const struct layout l_vec_aligned = {
	"vec", VEC_SRC, VEC_DST,
	{ { 0, 2 * BLK, 2 * BLK }, { 4 * BLK, 8 * BLK, 3 * BLK } }, 2, false,
};

/* Bytes segment @i copies when nothing fails: its length up to the source's EOF. */
static uint64_t seg_full(const struct layout *l, unsigned int i)
{
	const struct copy_range_seg *s = &l->seg[i];

	if (s->src_off >= l->src.size)
		return 0;
	return MIN(s->len, l->src.size - s->src_off);
}

static uint64_t layout_full(const struct layout *l)
{
	uint64_t sum = 0;

	for (unsigned int i = 0; i < l->nsegs; i++)
		sum += seg_full(l, i);
	return sum;
}

/*
 * What the destination holds after a call or a job that got @count bytes
 * of @l's segments (in order) done:
 */
enum outcome_kind {
	EX_UNTOUCHED,	/* nothing ran (a failed submit) */
	/*
	 * @count exact; the rest of the short segment either way, later
	 * segments untouched (a short count, a failed job)
	 */
	EX_COUNT,
	EX_CANCELLED,	/* @count exact, everything else untouched */
	/*
	 * A call that failed: every segment either way (a failed write-back
	 * of the count comes after the copy)
	 */
	EX_ERROR,
	EX_PREFIX,	/* unknown count: a prefix of each segment copied */
};

static void expect_build(const struct layout *l, enum outcome_kind kind,
			 uint64_t count, struct expect *ex)
{
	uint64_t left = count, written = 0, possible = 0;
	bool short_seen = false;

	memset(ex, 0, sizeof(*ex));
	for (unsigned int i = 0; i < l->nsegs && kind != EX_UNTOUCHED; i++) {
		const struct copy_range_seg *s = &l->seg[i];
		int64_t delta = (int64_t)(s->src_off - s->dst_off);
		uint64_t full = seg_full(l, i), p;

		if (kind == EX_ERROR || kind == EX_PREFIX) {
			expect_add(ex, s->dst_off, s->dst_off + full, delta,
				   kind == EX_ERROR ? CLS_EITHER : CLS_PREFIX);
			possible = MAX(possible, s->dst_off + full);
			continue;
		}
		if (short_seen)
			break;
		p = MIN(full, left);
		left -= p;
		expect_add(ex, s->dst_off, s->dst_off + p, delta, CLS_SRC);
		if (p)
			written = MAX(written, s->dst_off + p);
		possible = MAX(possible, s->dst_off + p);
		if (p < full) {
			short_seen = true;
			if (kind == EX_COUNT) {
				expect_add(ex, s->dst_off + p, s->dst_off + full,
					   delta, CLS_EITHER);
				possible = MAX(possible, s->dst_off + full);
			}
		}
	}
	ex->size_lo = MAX(l->dst.size, written);
	ex->size_hi = MAX(l->dst.size, possible);
}

/* The paths */

enum op {
	OP_COPY,
	OP_COPYV,
	OP_SUBMIT,
	OP_SUBMITV,
	OP_JOB_READ,
	OP_JOB_POLL,
	OP_JOB_STATUS,
	OP_JOB_WAIT,
	OP_JOB_CANCEL,
	OP_JOB_CLOSE_RUNNING,
	OP_JOB_CLOSE_DONE,
};

static const char *const op_names[] = {
	[OP_COPY] = "copy",
	[OP_COPYV] = "copyv",
	[OP_SUBMIT] = "submit",
	[OP_SUBMITV] = "submitv",
	[OP_JOB_READ] = "job-read",
	[OP_JOB_POLL] = "job-poll",
	[OP_JOB_STATUS] = "job-status",
	[OP_JOB_WAIT] = "job-wait",
	[OP_JOB_CANCEL] = "job-cancel",
	[OP_JOB_CLOSE_RUNNING] = "job-close-running",
	[OP_JOB_CLOSE_DONE] = "job-close-done",
};

static bool op_is_job(enum op op)
{
	return op >= OP_JOB_READ;
}

static bool op_is_vec(enum op op)
{
	return op == OP_COPYV || op == OP_SUBMITV;
}

/* Job operations that act on a job that has already ended. */
static bool op_on_ended_job(enum op op)
{
	return op == OP_JOB_READ || op == OP_JOB_POLL ||
	       op == OP_JOB_STATUS || op == OP_JOB_CLOSE_DONE;
}

static const char *policy_name(uint64_t flags)
{
	if (flags & COPY_RANGE_SHARE_REQUIRE)
		return "require";
	if (flags & COPY_RANGE_SHARE_ALLOW)
		return "allow";
	return "none";
}

#define MAX_FAIL_DETAIL	6
#define MAX_RUNS	48

struct run {
	unsigned long first, last;
	unsigned int count;
	char code;
};

struct wpath {
	char name[64];
	enum op op;
	struct fsdesc *fs;
	uint64_t flags;
	const struct layout *lay;
	/* Results */
	unsigned long probe_points;	/* fault points the probe counted */
	unsigned long end_n;		/* the N that was no longer reached */
	unsigned int steps, failures;
	unsigned int notes;		/* steps that wrote past their count */
	unsigned int recovered;		/* times its filesystem went read-only */
	unsigned long recovered_at;	/* the first: at the step of this N */
	char note[200];			/* the first of them */
	bool sampled, skipped;
	bool ready;			/* probed, to be walked */
	bool cut;			/* the budget ran out in its walk */
	double t_step;			/* seconds of the probe's step */
	unsigned long plan;		/* armed steps the budget gives it */
	unsigned int injected;		/* steps that injected their fault */
	double secs;
	struct run runs[MAX_RUNS];
	unsigned int nr_runs;
	char dir[PATH_MAX];
};

static struct wpath paths[80];
static unsigned int nr_paths;

/* Whether @name contains one of the comma-separated words of -p. */
static bool name_selected(const char *name)
{
	const char *w = opt.only;

	while (*w) {
		size_t len = strcspn(w, ",");
		char word[64];

		snprintf(word, sizeof(word), "%.*s", (int)len, w);
		if (len && strstr(name, word))
			return true;
		w += len + (w[len] == ',');
	}
	return false;
}

static void add_path(enum op op, struct fsdesc *fs, uint64_t flags,
		     const struct layout *lay)
{
	struct wpath *p = &paths[nr_paths];

	if (nr_paths >= ARRAY_SIZE(paths))
		return;
	memset(p, 0, sizeof(*p));
	p->op = op;
	p->fs = fs;
	p->flags = flags;
	p->lay = lay;
	snprintf(p->name, sizeof(p->name), "%s.%s.%s.%s", op_names[op],
		 policy_name(flags), fs->name, lay->name);
	if (opt.only && !name_selected(p->name))
		return;
	nr_paths++;
}

static void build_paths(void)
{
	const uint64_t A = COPY_RANGE_SHARE_ALLOW, R = COPY_RANGE_SHARE_REQUIRE;
	struct fsdesc *const four[] = { &fs_btrfs, &fs_xfs, &fs_ext4, &fs_tmpfs };

	for (unsigned int i = 0; i < ARRAY_SIZE(four); i++) {
		struct fsdesc *fs = four[i];

		add_path(OP_COPY, fs, 0, &l_small);
		/*
		 * A dense copy across a chunk boundary costs tens of
		 * thousands of fault points on btrfs (its extent state
		 * bookkeeping per page): the two cheaper filesystems do it,
		 * and every one does it sparse (past the destination's end of
		 * file, with a 4 MiB hole looked up and skipped between data).
		 */
		if (!fs->share)
			add_path(OP_COPY, fs, 0, &l_large);
		add_path(OP_COPY, fs, 0, &l_sparse);
		add_path(OP_COPY, fs, A, &l_small_split);
		if (fs->share)
			add_path(OP_COPY, fs, R, &l_small_aligned);
		add_path(OP_COPYV, fs, 0, &l_vec);
		if (fs->share) {
			add_path(OP_COPYV, fs, A, &l_vec_split);
			add_path(OP_COPYV, fs, R, &l_vec_aligned);
		}
	}
	add_path(OP_COPY, &fs_own, 0, &l_small);
	add_path(OP_SUBMIT, &fs_own, 0, &l_small);
	add_path(OP_SUBMIT, &fs_xfs, A, &l_small_split);
	add_path(OP_SUBMIT, &fs_btrfs, R, &l_small_aligned);
	add_path(OP_SUBMITV, &fs_own, 0, &l_vec);
	add_path(OP_SUBMITV, &fs_btrfs, A, &l_vec_split);
	add_path(OP_JOB_READ, &fs_own, 0, &l_small);
	add_path(OP_JOB_POLL, &fs_own, 0, &l_small);
	add_path(OP_JOB_STATUS, &fs_own, 0, &l_small);
	add_path(OP_JOB_CLOSE_DONE, &fs_own, 0, &l_small);
	add_path(OP_JOB_WAIT, &fs_tmpfs, 0, &l_large);
	add_path(OP_JOB_CANCEL, &fs_tmpfs, 0, &l_large);
	add_path(OP_JOB_CLOSE_RUNNING, &fs_tmpfs, 0, &l_large);
}

/* The kernel log, read from the start of the walk by a thread */

#define MAX_KLOG	40

static const char *const klog_bad[] = {
	"WARNING:", "BUG:", "KASAN", "kernel BUG", "Oops", "general protection",
	"UBSAN", "lockdep", "possible circular locking",
	"possible recursive locking", "inconsistent lock state",
	"blocked for more than", "rcu_preempt detected stall",
	"self-detected stall", "Kernel panic", "panicked", "refcount_t",
	"list_add corruption", "list_del corruption",
};

static const char *const klog_fs[] = {
	"BTRFS error", "BTRFS critical", "forced readonly", "Shutting down",
	"EXT4-fs error", "Aborting journal", "Corruption", "I/O error",
};

/*
 * A filesystem that gives up on an injected ENOMEM (btrfs aborts the
 * transaction and forces itself read-only): the filesystem's answer to the
 * fault, noted, not held against copy_range.  Any other filesystem error
 * fails the run.
 */
static const char *const klog_fs_enomem[] = {
	"errno=-12", "aborted (-12)", "forced readonly",
};

static struct {
	pthread_mutex_t lock;
	int fd;
	volatile bool stop;
	unsigned int nr_bad, nr_fs, nr_fs_enomem, nr_alloc_fail, nr_oom_leak;
	unsigned int lost;
	char bad[MAX_KLOG][200];
	unsigned int nr_stored;
} klog = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1 };

/* Where the walk is, to tie a kernel report to a path and an N. */
static const char *volatile cur_what = "start";
static volatile unsigned long cur_n;

static bool has_any(const char *text, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strstr(text, list[i]))
			return true;
	return false;
}

static void klog_record(const char *text)
{
	bool bad = has_any(text, klog_bad, ARRAY_SIZE(klog_bad));
	bool fs = has_any(text, klog_fs, ARRAY_SIZE(klog_fs));
	bool enomem;

	/*
	 * The report of a failed allocation (warn_alloc()) is the kernel's
	 * answer to an injected fault, not a WARN.
	 */
	if (strstr(text, "page allocation failure") ||
	    strstr(text, "vmalloc error: size")) {
		klog.nr_alloc_fail++;
		return;
	}
	if (strstr(text, "VM_FAULT_OOM leaked"))
		klog.nr_oom_leak++;
	if (!bad && !fs)
		return;
	enomem = !bad && has_any(text, klog_fs_enomem,
				 ARRAY_SIZE(klog_fs_enomem));
	pthread_mutex_lock(&klog.lock);
	if (bad)
		klog.nr_bad++;
	else if (enomem)
		klog.nr_fs_enomem++;
	else
		klog.nr_fs++;
	if (klog.nr_stored < MAX_KLOG)
		snprintf(klog.bad[klog.nr_stored++], sizeof(klog.bad[0]),
			 "%s [%s N=%lu] %.150s",
			 bad ? "REPORT" : enomem ? "fs-enomem" : "fs",
			 cur_what, cur_n, text);
	pthread_mutex_unlock(&klog.lock);
}

static void *klog_thread(void *arg)
{
	static char rec[8192];

	(void)arg;
	for (;;) {
		struct pollfd p = { .fd = klog.fd, .events = POLLIN };
		ssize_t r;
		char *text, *nl;

		r = read(klog.fd, rec, sizeof(rec) - 1);
		if (r < 0) {
			if (errno == EPIPE) {
				klog.lost++;
				continue;
			}
			if (errno != EAGAIN && errno != EINTR)
				break;
			if (klog.stop)
				break;
			poll(&p, 1, 100);
			continue;
		}
		rec[r] = '\0';
		text = strchr(rec, ';');
		if (!text)
			continue;
		text++;
		nl = strchr(text, '\n');
		if (nl)
			*nl = '\0';
		klog_record(text);
	}
	return NULL;
}

static pthread_t klog_tid;

static bool klog_start(void)
{
	klog.fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (klog.fd < 0)
		return false;
	lseek(klog.fd, 0, SEEK_END);
	return !pthread_create(&klog_tid, NULL, klog_thread, NULL);
}

static void klog_stop(void)
{
	if (klog.fd < 0)
		return;
	sleep(1);
	klog.stop = true;
	pthread_join(klog_tid, NULL);
	close(klog.fd);
	klog.fd = -1;
}

/* One step: fresh files, one call with fail-nth armed, the checks */

struct step {
	int src, dst, job;
	long ret;
	int err;
	unsigned long left;
	bool injected;
	struct copy_range_args args;
	struct copy_range_vec vec;
	struct copy_range_seg segs[MAX_SEGS];
	struct copy_range_status st;
	struct pollfd pfd;
};

struct outcome {
	bool ok;
	bool injected;
	unsigned long left;
	char code;	/* F full, S short, Z zero, M ENOMEM, E EFAULT, X other */
	char why[320];
	double t[4];	/* seconds: set-up, call, checks, clean-up */
};

static int lowest_free_fd(void)
{
	int fd = fcntl(nth_fd, F_DUPFD, 0);

	if (fd >= 0)
		close(fd);
	return fd;
}

static bool wants_settled_files(const struct wpath *p)
{
	/*
	 * Sharing flushes dirty ranges of both files first (btrfs and xfs
	 * write them back before cloning).  The write-back's own allocations
	 * belong to the filesystem, not to this call: settle the files
	 * beforehand so the walk covers the copy itself.
	 */
	return p->flags && p->fs->share;
}

static int files_make(const struct wpath *p, const struct layout *l,
		      const char *dir, int *src, int *dst, char *why,
		      size_t wlen)
{
	*src = open_new(dir, "src", O_RDWR);
	*dst = open_new(dir, "dst", O_RDWR);
	if (*src < 0 || *dst < 0 || model_write(*src, &l->src) ||
	    model_write(*dst, &l->dst)) {
		snprintf(why, wlen, "set-up of the files failed: %s",
			 strerror(errno));
		return -1;
	}
	if (wants_settled_files(p) && (fsync(*src) || fsync(*dst))) {
		snprintf(why, wlen, "fsync: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void files_drop(const char *dir, int *src, int *dst)
{
	if (*src >= 0)
		close(*src);
	if (*dst >= 0)
		close(*dst);
	*src = -1;
	*dst = -1;
	remove_file(dir, "src");
	remove_file(dir, "dst");
}

/*
 * files_make() for @p; if its filesystem shut down after an earlier fault
 * (EROFS, EIO), notes it on the path, mounts it again and tries once more.
 */
static int files_make_or_recover(struct wpath *p, unsigned long n, int *src,
				 int *dst, char *why, size_t wlen)
{
	int err;

	if (!files_make(p, p->lay, p->dir, src, dst, why, wlen))
		return 0;
	err = errno;
	files_drop(p->dir, src, dst);
	if ((err != EROFS && err != EIO) || !fs_recover(p->fs))
		return -1;
	release_dir(p->dir);
	if (!test_dir_new(p->fs->root, p->dir)) {
		snprintf(why, wlen, "mkdir after mounting again: %s",
			 strerror(errno));
		return -1;
	}
	if (!p->recovered++)
		p->recovered_at = n;
	return files_make(p, p->lay, p->dir, src, dst, why, wlen);
}

static void fill_args(const struct wpath *p, struct step *s)
{
	const struct layout *l = p->lay;

	memset(&s->args, 0, sizeof(s->args));
	s->args.src_fd = s->src;
	s->args.dst_fd = s->dst;
	s->args.src_off = l->seg[0].src_off;
	s->args.dst_off = l->seg[0].dst_off;
	s->args.len = l->seg[0].len;
	s->args.flags = p->flags;
	s->args.copied = 0xdeadbeefcafef00dULL;
	memcpy(s->segs, l->seg, sizeof(s->segs));
	s->vec = cr_vec(s->src, s->dst, p->flags, s->segs, l->nsegs);
	s->vec.done_segs = 0xdeadbeef;
	s->vec.copied = 0xdeadbeefcafef00dULL;
	memset(&s->st, 0xa5, sizeof(s->st));
	s->pfd = (struct pollfd){ .fd = s->job, .events = POLLIN };
}

/* Submits @p's copy as a job, unarmed: the descriptor or -1. */
static int submit_plain(const struct wpath *p, struct step *s)
{
	fill_args(p, s);
	if (op_is_vec(p->op) || p->lay->nsegs > 1)
		return cr_submitv(&s->vec);
	return cr_submit_dev(cr_dev(), s->src, s->args.src_off, s->dst,
			     s->args.dst_off, s->args.len, p->flags);
}

/*
 * The call.  Between the arming write and the read back there is exactly
 * one system call; everything it uses is prepared before.
 */
static void step_call(const struct wpath *p, struct step *s, unsigned long n)
{
	int dev = cr_dev();

	nth_prepare(n);
	if (n && !nth_arm()) {
		s->ret = -1;
		s->err = errno;
		s->left = ULONG_MAX;
		return;
	}
	switch (p->op) {
	case OP_COPY:
		s->ret = syscall(SYS_ioctl, dev, COPY_RANGE_IOC_COPY, &s->args);
		break;
	case OP_COPYV:
		s->ret = syscall(SYS_ioctl, dev, COPY_RANGE_IOC_COPYV, &s->vec);
		break;
	case OP_SUBMIT:
		s->ret = syscall(SYS_ioctl, dev, COPY_RANGE_IOC_SUBMIT, &s->args);
		break;
	case OP_SUBMITV:
		s->ret = syscall(SYS_ioctl, dev, COPY_RANGE_IOC_SUBMITV, &s->vec);
		break;
	case OP_JOB_READ:
		s->ret = read(s->job, &s->st, sizeof(s->st));
		break;
	case OP_JOB_POLL:
		s->ret = poll(&s->pfd, 1, 1000);
		break;
	case OP_JOB_STATUS:
		s->ret = syscall(SYS_ioctl, s->job, COPY_RANGE_JOB_IOC_STATUS,
				 &s->st);
		break;
	case OP_JOB_WAIT:
		s->ret = syscall(SYS_ioctl, s->job, COPY_RANGE_JOB_IOC_WAIT,
				 &s->st);
		break;
	case OP_JOB_CANCEL:
		s->ret = syscall(SYS_ioctl, s->job, COPY_RANGE_JOB_IOC_CANCEL, 0L);
		break;
	case OP_JOB_CLOSE_RUNNING:
	case OP_JOB_CLOSE_DONE:
		s->ret = close(s->job);
		break;
	}
	s->err = errno;
	s->left = n ? nth_disarm() : 1;
	s->injected = n && !s->left;
}

static char errno_code(int err)
{
	return err == ENOMEM ? 'M' : err == EFAULT ? 'E' : 'X';
}

/* The errnos a call may return when one of its fault points fails. */
static bool errno_allowed(enum op op, int err)
{
	switch (op) {
	case OP_COPY:
	case OP_COPYV:
	case OP_SUBMIT:
	case OP_SUBMITV:
		/* An allocation failed, or the argument block did not copy. */
		return err == ENOMEM || err == EFAULT;
	case OP_JOB_POLL:
		/* do_sys_poll() copies the pollfd array in; tables allocate. */
		return err == ENOMEM || err == EFAULT;
	case OP_JOB_READ:
	case OP_JOB_STATUS:
	case OP_JOB_WAIT:
		/* Only the status is copied out. */
		return err == EFAULT;
	case OP_JOB_CANCEL:
	case OP_JOB_CLOSE_RUNNING:
	case OP_JOB_CLOSE_DONE:
		/* Nothing there may fail. */
		return false;
	}
	return false;
}

static bool status_is_done(const struct copy_range_status *st, uint64_t full)
{
	return cr_status_sane(st) && st->state == COPY_RANGE_JOB_DONE &&
	       st->copied == full && st->total == full && !st->error;
}

/* Waits for the job, unarmed, into @st.  False if that failed. */
static bool job_wait(int job, struct copy_range_status *st, char *why,
		     size_t wlen)
{
	if (cr_job_wait(job, st)) {
		snprintf(why, wlen, "WAIT: %s", strerror(errno));
		return false;
	}
	if (!cr_status_sane(st) || st->state == COPY_RANGE_JOB_RUNNING) {
		snprintf(why, wlen, "WAIT returned %s", cr_status_str(st));
		return false;
	}
	return true;
}

/* The result check of a synchronous copy (COPY, COPYV). */
static bool check_sync(const struct wpath *p, struct step *s,
		       struct outcome *o, struct expect *ex)
{
	const struct layout *l = p->lay;
	uint64_t full = layout_full(l);

	if (s->ret < 0) {
		o->code = errno_code(s->err);
		expect_build(l, EX_ERROR, 0, ex);
		if (!errno_allowed(p->op, s->err)) {
			snprintf(o->why, sizeof(o->why),
				 "errno %d (%s) is not one this call may return for a fault",
				 s->err, strerror(s->err));
			return false;
		}
		if (!s->injected) {
			snprintf(o->why, sizeof(o->why),
				 "failed (%s) without an injected fault",
				 strerror(s->err));
			return false;
		}
		return true;
	}
	o->code = (uint64_t)s->ret == full ? 'F' : s->ret ? 'S' : 'Z';
	expect_build(l, EX_COUNT, s->ret, ex);
	if (p->op == OP_COPY && s->args.copied != (uint64_t)s->ret) {
		snprintf(o->why, sizeof(o->why), "returned %ld but copied = %llu",
			 s->ret, (unsigned long long)s->args.copied);
		return false;
	}
	if (p->op == OP_COPYV) {
		uint64_t left = s->ret;
		uint32_t done = 0;

		for (unsigned int i = 0; i < l->nsegs; i++) {
			if (left < seg_full(l, i))
				break;
			left -= seg_full(l, i);
			done++;
		}
		if (s->vec.copied != (uint64_t)s->ret || s->vec.done_segs != done) {
			snprintf(o->why, sizeof(o->why),
				 "returned %ld but copied = %llu, done_segs = %u (want %u)",
				 s->ret, (unsigned long long)s->vec.copied,
				 s->vec.done_segs, done);
			return false;
		}
	}
	if ((uint64_t)s->ret > full) {
		snprintf(o->why, sizeof(o->why),
			 "returned %ld, more than the %" PRIu64 " asked for",
			 s->ret, full);
		return false;
	}
	if (!s->ret && full) {
		snprintf(o->why, sizeof(o->why),
			 "returned 0 for a range of %" PRIu64 " bytes inside the source",
			 full);
		return false;
	}
	if ((uint64_t)s->ret < full && !s->injected) {
		snprintf(o->why, sizeof(o->why), "short count %ld of %" PRIu64
			 " without an injected fault", s->ret, full);
		return false;
	}
	return true;
}

/* The result check of a submit (SUBMIT, SUBMITV): waits for the job. */
static bool check_submit(const struct wpath *p, struct step *s,
			 struct outcome *o, struct expect *ex)
{
	const struct layout *l = p->lay;
	uint64_t full = layout_full(l);

	if (s->ret < 0) {
		o->code = errno_code(s->err);
		expect_build(l, EX_UNTOUCHED, 0, ex);
		if (!errno_allowed(p->op, s->err)) {
			snprintf(o->why, sizeof(o->why),
				 "errno %d (%s) is not one a submit may return for a fault",
				 s->err, strerror(s->err));
			return false;
		}
		if (!s->injected) {
			snprintf(o->why, sizeof(o->why),
				 "failed (%s) without an injected fault",
				 strerror(s->err));
			return false;
		}
		return true;
	}
	s->job = s->ret;
	expect_build(l, EX_COUNT, full, ex);
	if (!job_wait(s->job, &s->st, o->why, sizeof(o->why)))
		return false;
	if (!status_is_done(&s->st, full)) {
		snprintf(o->why, sizeof(o->why),
			 "job ended %s, want DONE %" PRIu64 "/%" PRIu64,
			 cr_status_str(&s->st), full, full);
		expect_build(l, EX_COUNT, s->st.copied, ex);
		return false;
	}
	o->code = 'F';
	return true;
}

/* The result check of an operation on a job descriptor. */
static bool check_job_op(const struct wpath *p, struct step *s,
			 struct outcome *o, struct expect *ex)
{
	const struct layout *l = p->lay;
	uint64_t full = layout_full(l);
	struct copy_range_status st;
	bool ok = true;

	o->code = s->ret < 0 ? errno_code(s->err) : 'F';
	if (s->ret < 0 && (!errno_allowed(p->op, s->err) || !s->injected)) {
		snprintf(o->why, sizeof(o->why), "%s failed: %s%s",
			 op_names[p->op], strerror(s->err),
			 s->injected ? "" : " (no fault injected)");
		ok = false;
	}
	if (p->op == OP_JOB_CLOSE_RUNNING || p->op == OP_JOB_CLOSE_DONE)
		s->job = -1;
	switch (p->op) {
	case OP_JOB_READ:
		if (s->ret >= 0 && (s->ret != sizeof(s->st) ||
				    !status_is_done(&s->st, full))) {
			snprintf(o->why, sizeof(o->why), "read returned %ld: %s",
				 s->ret, cr_status_str(&s->st));
			ok = false;
		}
		break;
	case OP_JOB_STATUS:
	case OP_JOB_WAIT:
		if (s->ret >= 0 && (s->ret || !status_is_done(&s->st, full))) {
			snprintf(o->why, sizeof(o->why), "%s returned %ld: %s",
				 op_names[p->op], s->ret, cr_status_str(&s->st));
			ok = false;
		}
		break;
	case OP_JOB_POLL:
		if (s->ret >= 0 && (s->ret != 1 ||
				    (s->pfd.revents & (POLLIN | POLLERR | POLLNVAL)) !=
				    POLLIN)) {
			snprintf(o->why, sizeof(o->why),
				 "poll returned %ld, revents 0x%x", s->ret,
				 s->pfd.revents);
			ok = false;
		}
		break;
	default:
		break;
	}
	/* Where the data stands now. */
	if (p->op == OP_JOB_CLOSE_RUNNING) {
		expect_build(l, EX_PREFIX, 0, ex);
		return ok;
	}
	if (p->op == OP_JOB_CLOSE_DONE) {
		expect_build(l, EX_COUNT, full, ex);
		return ok;
	}
	if (!job_wait(s->job, &st, o->why, sizeof(o->why))) {
		expect_build(l, EX_PREFIX, 0, ex);
		return false;
	}
	if (st.state == COPY_RANGE_JOB_CANCELLED && p->op == OP_JOB_CANCEL) {
		expect_build(l, EX_CANCELLED, st.copied, ex);
		if (st.copied > full) {
			snprintf(o->why, sizeof(o->why), "cancelled job: %s",
				 cr_status_str(&st));
			return false;
		}
		return ok;
	}
	expect_build(l, EX_COUNT, st.state == COPY_RANGE_JOB_DONE ? full :
		     st.copied, ex);
	if (!status_is_done(&st, full)) {
		snprintf(o->why, sizeof(o->why), "job ended %s, want DONE",
			 cr_status_str(&st));
		return false;
	}
	return ok;
}

/* One step of @p with fail-nth at @n (0: not armed). */
static void run_step(struct wpath *p, unsigned long n, struct outcome *o)
{
	const struct layout *l = p->lay;
	struct step s = { .src = -1, .dst = -1, .job = -1 };
	struct expect ex;
	uint64_t beyond = 0;
	struct expect none = { .size_lo = l->src.size, .size_hi = l->src.size };
	int fd_before = lowest_free_fd(), fd_after;
	char why[256];

	double t0 = now_s();

	memset(o, 0, sizeof(*o));
	o->ok = true;
	cur_n = n;
	if (files_make_or_recover(p, n, &s.src, &s.dst, o->why,
				  sizeof(o->why))) {
		o->ok = false;
		o->code = 'X';
		goto out;
	}
	if (op_is_job(p->op)) {
		s.job = submit_plain(p, &s);
		if (s.job < 0) {
			snprintf(o->why, sizeof(o->why), "unarmed submit: %s",
				 strerror(errno));
			o->ok = false;
			o->code = 'X';
			goto out;
		}
		if (op_on_ended_job(p->op) &&
		    !job_wait(s.job, &s.st, o->why, sizeof(o->why))) {
			o->ok = false;
			o->code = 'X';
			goto out;
		}
	}
	fill_args(p, &s);
	o->t[0] = now_s() - t0;
	t0 = now_s();
	step_call(p, &s, n);
	o->t[1] = now_s() - t0;
	t0 = now_s();
	o->injected = s.injected;
	o->left = s.left;
	if (n && s.left == ULONG_MAX) {
		snprintf(o->why, sizeof(o->why),
			 "fail-nth could not be armed or read back");
		o->ok = false;
	}
	if (op_is_job(p->op))
		o->ok &= check_job_op(p, &s, o, &ex);
	else if (p->op == OP_SUBMIT || p->op == OP_SUBMITV)
		o->ok &= check_submit(p, &s, o, &ex);
	else
		o->ok &= check_sync(p, &s, o, &ex);
	if (!check_file(s.dst, &l->dst, &l->src, &ex, why, sizeof(why),
			&beyond)) {
		if (o->ok)
			snprintf(o->why, sizeof(o->why),
				 "destination: %s (result %ld%s%s)", why, s.ret,
				 s.ret < 0 ? " " : "",
				 s.ret < 0 ? strerror(s.err) : "");
		o->ok = false;
	}
	if (!check_file(s.src, &l->src, &l->src, &none, why, sizeof(why),
			NULL)) {
		if (o->ok)
			snprintf(o->why, sizeof(o->why), "source changed: %s", why);
		o->ok = false;
	}
	/*
	 * Bytes past what the result promised that hold the source's data:
	 * allowed (either way), but a count is documented as exact, and a
	 * failed REQUIRE as having changed nothing; worth a note.  A COPY
	 * that fails to write its count back (EFAULT) copied, as documented.
	 */
	if (beyond && !(s.ret < 0 && s.err == EFAULT)) {
		if (!p->notes++)
			snprintf(p->note, sizeof(p->note),
				 "N=%lu: result %ld%s%s, yet %" PRIu64 " bytes past it hold the source's data",
				 n, s.ret, s.ret < 0 ? " " : "",
				 s.ret < 0 ? strerror(s.err) : "", beyond);
	}
out:
	o->t[2] = now_s() - t0;
	t0 = now_s();
	if (s.job >= 0)
		close(s.job);
	files_drop(p->dir, &s.src, &s.dst);
	o->t[3] = now_s() - t0;
	fd_after = lowest_free_fd();
	if (fd_after != fd_before && o->ok) {
		snprintf(o->why, sizeof(o->why),
			 "descriptor leaked: lowest free was %d, is %d",
			 fd_before, fd_after);
		o->ok = false;
	}
}

static void record_run(struct wpath *p, unsigned long n, char code)
{
	struct run *r = p->nr_runs ? &p->runs[p->nr_runs - 1] : NULL;

	if (r && r->code == code) {
		r->last = n;
		r->count++;
		return;
	}
	if (p->nr_runs == MAX_RUNS) {
		/* Fold the rest into the last entry, marked as mixed. */
		r->last = n;
		r->count++;
		r->code = '*';
		return;
	}
	p->runs[p->nr_runs++] = (struct run){ n, n, 1, code };
}

static void print_runs(const struct wpath *p)
{
	char line[1024];
	size_t at = 0;

	for (unsigned int i = 0; i < p->nr_runs && at < sizeof(line); i++) {
		const struct run *r = &p->runs[i];

		if (r->first == r->last)
			at += snprintf(line + at, sizeof(line) - at, " %lu:%c",
				       r->first, r->code);
		else
			at += snprintf(line + at, sizeof(line) - at,
				       " %lu-%lu:%c%s", r->first, r->last, r->code,
				       r->count != r->last - r->first + 1 ?
				       "(sampled)" : "");
	}
	diag("  %s N:%s", p->name, line);
}

static void step_failed(struct wpath *p, unsigned long n,
			const struct outcome *o)
{
	p->failures++;
	if (p->failures <= MAX_FAIL_DETAIL)
		diag("FAIL %s N=%lu%s: %s", p->name, n,
		     o->injected ? " (injected)" : "", o->why);
	else if (p->failures == MAX_FAIL_DETAIL + 1)
		diag("FAIL %s: more failures follow, not shown", p->name);
}

/*
 * The N of the walk after @n: every one up to the probe's count (or opt.head
 * when that is large), then opt.samples spread evenly, then every one again
 * from just below the probe's count until the call no longer reaches N.
 */
static unsigned long next_n(const struct wpath *p, unsigned long n)
{
	unsigned long pts = p->probe_points, step;

	if (!p->sampled || n < opt.head)
		return n + 1;
	if (n + 2 >= pts)
		return n + 1;
	step = (pts - opt.head) / (opt.samples + 1);
	if (step < 1)
		step = 1;
	return MIN(n + step, pts - 2);
}

/*
 * The checker against itself, on tmpfs: files it must pass, and files with
 * one wrong byte, or data past a count that must stay untouched, that it
 * must fail.  A walk is only as good as the check after each step.
 */
static void checker_self_test(void)
{
	const struct layout *l = &l_vec;
	const struct copy_range_seg *s0 = &l->seg[0], *s1 = &l->seg[1];
	unsigned int bad = 0;
	char dir[PATH_MAX], why[256];
	int src = -1, dst = -1;
	unsigned char b;
	uint64_t beyond;
	struct expect ex;

	if (!fs_tmpfs.present || !test_dir_new(FS_TMPFS, dir)) {
		tap_skip("checker self-test: no tmpfs");
		return;
	}
	src = open_new(dir, "src", O_RDWR);
	dst = open_new(dir, "dst", O_RDWR);
	if (src < 0 || dst < 0 || model_write(src, &l->src) ||
	    model_write(dst, &l->dst)) {
		tap(false, "checker self-test: set-up: %s", strerror(errno));
		goto out;
	}
	/* Untouched: passes; then one byte changed: fails. */
	expect_build(l, EX_UNTOUCHED, 0, &ex);
	bad += !check_file(dst, &l->dst, &l->src, &ex, why, sizeof(why), NULL);
	model_fill(&l->dst, &b, 777, 1);
	b ^= 1;
	bad += pwrite(dst, &b, 1, 777) != 1;
	bad += check_file(dst, &l->dst, &l->src, &ex, why, sizeof(why), NULL);
	b ^= 1;
	bad += pwrite(dst, &b, 1, 777) != 1;
	/* Segment 0 and 100 bytes of segment 1 copied: a count passes. */
	model_fill(&l->src, buf_src, s0->src_off, s0->len);
	bad += pwrite_all(dst, buf_src, s0->len, s0->dst_off) != 0;
	model_fill(&l->src, buf_src, s1->src_off, 100);
	bad += pwrite_all(dst, buf_src, 100, s1->dst_off) != 0;
	expect_build(l, EX_COUNT, s0->len + 100, &ex);
	bad += !check_file(dst, &l->dst, &l->src, &ex, why, sizeof(why), &beyond);
	bad += beyond != 0;
	/* A count one byte longer than what was copied fails. */
	expect_build(l, EX_COUNT, s0->len + 101, &ex);
	bad += check_file(dst, &l->dst, &l->src, &ex, why, sizeof(why), NULL);
	/* Copied past a count: allowed after a failure, counted, not after a cancel. */
	expect_build(l, EX_COUNT, s0->len + 50, &ex);
	bad += !check_file(dst, &l->dst, &l->src, &ex, why, sizeof(why), &beyond);
	bad += beyond < 40;
	expect_build(l, EX_CANCELLED, s0->len + 50, &ex);
	bad += check_file(dst, &l->dst, &l->src, &ex, why, sizeof(why), NULL);
	/* Segment 2 is untouched after a short segment 1: a byte there fails. */
	expect_build(l, EX_COUNT, s0->len + 100, &ex);
	model_fill(&l->dst, &b, l->seg[2].dst_off, 1);
	b ^= 1;
	bad += pwrite(dst, &b, 1, l->seg[2].dst_off) != 1;
	bad += check_file(dst, &l->dst, &l->src, &ex, why, sizeof(why), NULL);
	b ^= 1;
	bad += pwrite(dst, &b, 1, l->seg[2].dst_off) != 1;
	/* After an error, bytes either way pass. */
	expect_build(l, EX_ERROR, 0, &ex);
	bad += !check_file(dst, &l->dst, &l->src, &ex, why, sizeof(why), NULL);
	/* A longer file fails a size that must not change. */
	expect_build(l, EX_UNTOUCHED, 0, &ex);
	bad += ftruncate(dst, l->dst.size + 1) != 0;
	bad += check_file(dst, &l->dst, &l->src, &ex, why, sizeof(why), NULL);
	tap(!bad, "checker self-test: passes the right files, fails the wrong ones (%u wrong verdicts)",
	    bad);
out:
	if (src >= 0)
		close(src);
	if (dst >= 0)
		close(dst);
	release_dir(dir);
}

/*
 * The first two steps of @p: unarmed (the path works at all, and caches
 * are warm), then armed with an N no call reaches, which counts the fault
 * points and times a step that runs the call in full.
 */
static void walk_prepare(struct wpath *p)
{
	struct outcome o;
	double t0 = now_s(), ts;

	cur_what = p->name;
	if (!p->fs->present) {
		p->skipped = true;
		tap_skip("%s: %s is not mounted", p->name, p->fs->root);
		return;
	}
	if (!test_dir_new(p->fs->root, p->dir) &&
	    (errno != EROFS || !fs_recover(p->fs) ||
	     !test_dir_new(p->fs->root, p->dir))) {
		tap(false, "%s: cannot make a directory in %s: %s", p->name,
		    p->fs->root, strerror(errno));
		return;
	}
	run_step(p, 0, &o);
	if (!o.ok || o.code != 'F') {
		o.ok = false;
		step_failed(p, 0, &o);
	}
	ts = now_s();
	run_step(p, PROBE_N, &o);
	p->t_step = MAX(now_s() - ts, 0.01);
	if (!o.ok)
		step_failed(p, PROBE_N, &o);
	p->probe_points = o.left <= PROBE_N ? PROBE_N - o.left : 0;
	p->sampled = p->probe_points > (p->lay->heavy ?
					 opt.head + opt.samples + 8 :
					 opt.exhaustive);
	p->ready = true;
	p->secs = now_s() - t0;
	if (opt.verbose)
		diag("  %s: probe counted %lu fault points, %.1f s", p->name,
		     p->probe_points, p->secs);
}

/* Armed steps that walk every fault point of @p and the N after them. */
static unsigned long steps_all(const struct wpath *p)
{
	return p->probe_points + 1;
}

/*
 * --budget: seconds kept for what follows the walk besides the window of
 * random failures: two job slot checks, five unmounts, fscks and mounts,
 * the kmemleak scan and its 6 s wait.
 */
#define END_CHECKS_S	75.0

static double end_reserve(void)
{
	return opt.window + (opt.no_final ? 15.0 : END_CHECKS_S);
}

/*
 * The walk's armed steps so far: their time, and what the probes said
 * they would take.  Their ratio corrects the estimates of the paths left
 * (steps cost more than the probe's: failing steps, filesystems that
 * shut down and are mounted again, other load on the host).
 */
static double walked_secs, walked_est;

static double step_factor(void)
{
	if (walked_est < 1)
		return 1;
	return MIN(MAX(walked_secs / walked_est, 0.5), 4.0);
}

/*
 * --budget: the armed steps of the paths from @first on, in @secs.  Each
 * gets an equal share of the time, at the cost of its probe's step; a path
 * whose every fault point fits in less leaves the rest of its share to the
 * others.  A path gets one step at least, so every path is walked at N = 1
 * even when the time is gone.
 */
static void plan_steps(unsigned int first, double secs)
{
	unsigned int left = 0, i;
	double f = step_factor();
	bool fits = true;

	for (i = first; i < nr_paths; i++) {
		paths[i].plan = 0;
		left += paths[i].ready;
	}
	while (fits && left) {
		double share = MAX(secs, 0) / left;

		fits = false;
		for (i = first; i < nr_paths; i++) {
			struct wpath *p = &paths[i];
			double need = steps_all(p) * p->t_step * f;

			if (!p->ready || p->plan || need > share)
				continue;
			p->plan = steps_all(p);
			secs -= need;
			left--;
			fits = true;
		}
	}
	for (i = first; i < nr_paths; i++) {
		struct wpath *p = &paths[i];
		double share = MAX(secs, 0) / MAX(left, 1U);

		if (p->ready && !p->plan)
			p->plan = MAX(1UL,
				      (unsigned long)(share / (p->t_step * f)));
	}
}

/* With --budget, when the walk has to stop, whatever its plan says. */
static double walk_deadline;

/*
 * --budget: the N after @prev in @p's walk, with @k more steps affordable;
 * 0 when the walk is done.  Every N while the steps left cover every point
 * and the N after the last; else the @k steps spread evenly over the
 * points after @prev, the last one on the probe's last point.  The spread
 * is worked out again before each step, so a path whose steps cost more
 * than planned thins its samples rather than losing its last points.  A
 * path past its share still steps on its last point, once; past the walk's
 * deadline, walk_run() stops after N = 1.
 */
static unsigned long budget_next(const struct wpath *p, unsigned long prev,
				 unsigned long k)
{
	unsigned long pts = p->probe_points, left;

	if (prev >= pts)
		return k ? prev + 1 : 0;
	left = pts - prev;
	if (k > left)
		return prev + 1;
	if (!k)
		return pts;
	return MIN(prev + (left + k - 1) / k, pts);
}

static void walk_run(struct wpath *p)
{
	double t0 = now_s(), deadline = walk_deadline;
	struct outcome o = { .injected = false };
	unsigned long n = 1;
	unsigned int i;
	const char *mode;

	cur_what = p->name;
	/* Its share of the time, as plan_steps() worked it out. */
	if (opt.budget)
		deadline = MIN(deadline, t0 + p->plan * p->t_step * step_factor());
	for (i = 0; i < WALK_CAP; i++) {
		double ts = now_s();

		if (i && !opt.budget) {
			n = next_n(p, n);
		} else if (i) {
			/* A step costs what the probe said, or more. */
			double cost = MAX(p->t_step * step_factor(),
					  (ts - t0) / i);

			/* Out of the walk's time: N = 1 was all. */
			if (ts > walk_deadline) {
				p->cut = true;
				break;
			}
			n = budget_next(p, n, ts < deadline ?
					(unsigned long)((deadline - ts) / cost) : 0);
			if (!n)
				break;
		}
		run_step(p, n, &o);
		if (opt.verbose)
			diag("  %s N=%lu: %c%s, %.2f s (set-up %.2f, call %.2f, checks %.2f, clean-up %.2f)",
			     p->name, n, o.injected ? o.code : '.',
			     o.ok ? "" : " FAIL", now_s() - ts, o.t[0], o.t[1],
			     o.t[2], o.t[3]);
		p->steps++;
		p->injected += o.injected;
		record_run(p, n, o.injected ? o.code : '.');
		if (!o.ok)
			step_failed(p, n, &o);
		if (!o.injected)
			break;
	}
	/* The N no longer reached; 0 when the walk ended before it. */
	p->end_n = !o.injected ? n : 0;
	/* Every N up to the one no longer reached, or not. */
	p->sampled = !p->end_n || p->steps != p->end_n;
	walked_secs += now_s() - t0;
	walked_est += p->steps * p->t_step;
	release_dir(p->dir);
	p->secs += now_s() - t0;
	if (i >= WALK_CAP) {
		p->failures++;
		diag("FAIL %s: still failing at N=%lu", p->name, n);
	}
	print_runs(p);
	if (p->notes)
		diag("NOTE %s: %u steps wrote past their result; first: %s",
		     p->name, p->notes, p->note);
	if (p->recovered)
		diag("NOTE %s: %s went read-only %u times, first found at the step of N=%lu (after the fault of the step before)",
		     p->name, p->fs->name, p->recovered, p->recovered_at);
	mode = p->cut ? ", cut short by the budget" :
	       p->sampled ? ", sampled" : "";
	tap(!p->failures, "%s: %lu fault points, %u injected in %u steps%s, %.1f s",
	    p->name, p->end_n ? p->end_n - 1 : p->probe_points, p->injected,
	    p->steps, mode, p->secs);
}

/*
 * Jobs under random failures.  A job copies in a worker of the module's
 * unbound workqueue, which fail-nth cannot reach.  task-filter limits the
 * random failures to tasks with make-it-fail set; a thread marks every
 * kernel worker whose name shows it runs or ran a copy_range job ("+" or
 * "-copy_range_jobs", /proc/<pid>/comm).  Such a worker may run other
 * unbound work meanwhile, which then sees failures too: the window is short
 * and comes after the fail-nth walk.
 */

static volatile bool marker_stop;
static unsigned int marker_scans;

static bool is_marked(int pid)
{
	for (int i = 0; i < nr_marked; i++)
		if (marked[i] == pid)
			return true;
	return false;
}

/*
 * The workers of the unbound pools ("kworker/u..."), found in /proc every
 * 100 ms; between those scans only their names are read again.
 */
#define MAX_KWORKERS	512
static int kworkers[MAX_KWORKERS];
static unsigned int nr_kworkers, marks_total;
static double kworkers_at;

static void find_kworkers(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	nr_kworkers = 0;
	while (d && (e = readdir(d)) && nr_kworkers < MAX_KWORKERS) {
		char path[64], comm[64];
		int pid = atoi(e->d_name);

		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		if (pid > 0 && !read_str(path, comm, sizeof(comm)) &&
		    !strncmp(comm, "kworker/u", 9))
			kworkers[nr_kworkers++] = pid;
	}
	if (d)
		closedir(d);
	kworkers_at = now_s();
}

static void set_make_it_fail(int pid, bool on)
{
	char path[64];

	pthread_mutex_lock(&marked_lock);
	snprintf(path, sizeof(path), "/proc/%d/make-it-fail", pid);
	if (on && nr_marked < MAX_MARKED && !write_str(path, "1")) {
		marked[nr_marked++] = pid;
		marks_total++;
	}
	for (int i = 0; !on && i < nr_marked; i++) {
		if (marked[i] != pid)
			continue;
		write_str(path, "0");
		marked[i] = marked[--nr_marked];
	}
	pthread_mutex_unlock(&marked_lock);
}

/*
 * Marks the workers that run a copy_range job now (their name ends in
 * "+copy_range_jobs" while they do, "-copy_range_jobs" after) and unmarks
 * those that stopped, so that failures hit job work, and other unbound work
 * only in the few milliseconds before the next scan: earlier runs that kept
 * every such worker marked failed I/O of the loop device (ext4 on it
 * aborted its journal) and btrfs chunk allocations.
 */
static void mark_job_workers(void)
{
	if (now_s() - kworkers_at > 0.1)
		find_kworkers();
	for (unsigned int i = 0; i < nr_kworkers; i++) {
		char path[64], comm[64];
		bool running;

		snprintf(path, sizeof(path), "/proc/%d/comm", kworkers[i]);
		running = !read_str(path, comm, sizeof(comm)) &&
			  strstr(comm, "+copy_range_jobs");
		if (running != is_marked(kworkers[i]))
			set_make_it_fail(kworkers[i], running);
	}
	marker_scans++;
}

static void unmark_all(void)
{
	pthread_mutex_lock(&marked_lock);
	for (int i = 0; i < nr_marked; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/make-it-fail", marked[i]);
		write_str(path, "0");
	}
	nr_marked = 0;
	pthread_mutex_unlock(&marked_lock);
}

static void *marker_thread(void *arg)
{
	(void)arg;
	while (!marker_stop) {
		mark_job_workers();
		usleep(2000);
	}
	return NULL;
}

struct wjob {
	struct wpath p;		/* its files and ranges, as a path */
	int src, dst, job;
	bool cancel;
	struct copy_range_status st;
};

static const char *const state_names[] = {
	"RUNNING", "DONE", "FAILED", "CANCELLED",
};

/*
 * Not btrfs, not the loop-mounted ext4: a worker marked for a job may run
 * other unbound work before the next scan, and a failure there aborts a
 * btrfs transaction (do_chunk_alloc() gave EIO in one run) or fails a
 * write of the loop device (ext4 then aborted its journal, and the image
 * did not mount again), which leaves the filesystem read-only under jobs
 * still open on it.  btrfs clones got their faults from the walk.
 */
static void job_window(void)
{
	struct fsdesc *const four[] = { &fs_xfs, &fs_ext4, &fs_tmpfs };
	unsigned int counts[4] = {}, nr_jobs = 0, nr_bad = 0, rounds = 0;
	unsigned int enomem = 0, other_err = 0;
	char times_slab[32] = "", times_page[32] = "";
	struct wjob jobs[24];
	pthread_t marker;
	double t0, end;
	bool marker_ok;

	cur_what = "jobs under random failures";
	cur_n = 0;
	find_kworkers();
	if (fault_mode_random(opt.probability)) {
		fault_mode_off();
		tap(false, "jobs under random failures: cannot arm");
		return;
	}
	marker_stop = false;
	marker_ok = !pthread_create(&marker, NULL, marker_thread, NULL);
	t0 = now_s();
	end = t0 + opt.window;
	while (now_s() < end) {
		unsigned int n = 0;

		rounds++;
		for (unsigned int f = 0; f < ARRAY_SIZE(four); f++) {
			struct fsdesc *fs = four[f];
			struct {
				uint64_t flags;
				const struct layout *lay;
				enum op op;
			} kinds[] = {
				{ 0, &l_large, OP_SUBMIT },
				{ COPY_RANGE_SHARE_ALLOW, &l_large_split, OP_SUBMIT },
				{ 0, &l_vec, OP_SUBMITV },
				{ COPY_RANGE_SHARE_REQUIRE, &l_large_aligned, OP_SUBMIT },
			};

			if (!fs->present)
				continue;
			for (unsigned int k = 0; k < ARRAY_SIZE(kinds); k++) {
				struct wjob *j = &jobs[n];
				struct step s = { .job = -1 };
				char why[128];

				if (kinds[k].flags & COPY_RANGE_SHARE_REQUIRE &&
				    !fs->share)
					continue;
				memset(j, 0, sizeof(*j));
				j->src = -1;
				j->dst = -1;
				j->job = -1;
				j->p.op = kinds[k].op;
				j->p.fs = fs;
				j->p.flags = kinds[k].flags;
				j->p.lay = kinds[k].lay;
				snprintf(j->p.name, sizeof(j->p.name), "%s.%s.%s.%s",
					 op_names[j->p.op], policy_name(j->p.flags),
					 fs->name, j->p.lay->name);
				j->cancel = (nr_jobs + n) % 3 == 2;
				if (!test_dir_new(fs->root, j->p.dir) &&
				    (errno != EROFS || !fs_recover(fs) ||
				     !test_dir_new(fs->root, j->p.dir)))
					continue;
				n++;
				if (files_make_or_recover(&j->p, 0, &j->src,
							  &j->dst, why,
							  sizeof(why))) {
					diag("FAIL job %s: %s", j->p.name, why);
					nr_bad++;
					continue;
				}
				s.src = j->src;
				s.dst = j->dst;
				j->job = submit_plain(&j->p, &s);
				if (j->job < 0) {
					diag("FAIL job %s: submit: %s", j->p.name,
					     strerror(errno));
					nr_bad++;
				}
			}
		}
		usleep(50000);
		for (unsigned int i = 0; i < n; i++)
			if (jobs[i].job >= 0 && jobs[i].cancel)
				cr_job_cancel(jobs[i].job);
		for (unsigned int i = 0; i < n; i++) {
			struct wjob *j = &jobs[i];
			const struct layout *l = j->p.lay;
			uint64_t full = layout_full(l);
			char why[256] = "";
			struct expect ex;
			bool ok = true;

			if (j->job < 0)
				goto drop;
			nr_jobs++;
			if (!job_wait(j->job, &j->st, why, sizeof(why))) {
				ok = false;
				expect_build(l, EX_PREFIX, 0, &ex);
				goto verify;
			}
			counts[j->st.state & 3]++;
			switch (j->st.state) {
			case COPY_RANGE_JOB_DONE:
				expect_build(l, EX_COUNT, full, &ex);
				if (!status_is_done(&j->st, full)) {
					snprintf(why, sizeof(why), "%s",
						 cr_status_str(&j->st));
					ok = false;
				}
				break;
			case COPY_RANGE_JOB_FAILED:
				expect_build(l, EX_COUNT, j->st.copied, &ex);
				if (j->st.error == -ENOMEM) {
					enomem++;
				} else {
					other_err++;
					snprintf(why, sizeof(why), "failed with %s",
						 strerror(-j->st.error));
					ok = false;
				}
				if (j->st.copied >= full || j->st.total != full) {
					snprintf(why, sizeof(why), "%s",
						 cr_status_str(&j->st));
					ok = false;
				}
				break;
			case COPY_RANGE_JOB_CANCELLED:
				expect_build(l, EX_CANCELLED, j->st.copied, &ex);
				if (!j->cancel || j->st.copied > full) {
					snprintf(why, sizeof(why), "%s%s",
						 cr_status_str(&j->st), j->cancel ?
						 "" : " (never cancelled)");
					ok = false;
				}
				break;
			default:
				expect_build(l, EX_PREFIX, 0, &ex);
				ok = false;
			}
verify:
			if (!check_file(j->dst, &l->dst, &l->src, &ex, why +
					strlen(why), sizeof(why) - strlen(why), NULL))
				ok = false;
			if (!ok) {
				nr_bad++;
				diag("FAIL job %s: %s", j->p.name, why);
			}
drop:
			if (j->job >= 0)
				close(j->job);
			files_drop(j->p.dir, &j->src, &j->dst);
			release_dir(j->p.dir);
		}
	}
	read_str(DEBUGFS "/failslab/times", times_slab, sizeof(times_slab));
	read_str(DEBUGFS "/fail_page_alloc/times", times_page,
		 sizeof(times_page));
	fault_mode_off();
	marker_stop = true;
	if (marker_ok)
		pthread_join(marker, NULL);
	diag("jobs: %u in %u rounds over %.1f s at %u%%: %u %s, %u %s, %u %s, %u %s; ENOMEM %u, other errors %u",
	     nr_jobs, rounds,
	     now_s() - t0, opt.probability, counts[1], state_names[1], counts[2],
	     state_names[2], counts[3], state_names[3], counts[0],
	     state_names[0], enomem, other_err);
	diag("jobs: workers marked (make-it-fail) %u times in %u scans; failures injected: failslab %ld, fail_page_alloc %ld",
	     marks_total, marker_scans, RANDOM_TIMES - atol(times_slab),
	     RANDOM_TIMES - atol(times_page));
	unmark_all();
	tap(!nr_bad && nr_jobs,
	    "jobs under random failures: DONE with the data, FAILED with ENOMEM and an exact count, or CANCELLED");
}

/*
 * Job slots: the module lets a user have MAX_JOBS_PER_USER jobs in flight.
 * A fault path that forgets to give its slot back shows up as EAGAIN with
 * fewer jobs held; one that gives it back twice lets one job too many in.
 * The jobs copy 8 MiB of a hole over an 8 MiB destination (below its end of
 * file every byte is written, zeros too), all of them into the same file,
 * which keeps most of them running while the one too many is submitted;
 * if some have ended by then, the second half of the check says so and
 * proves nothing.
 */
#define SLOT_JOB_LEN	(8 * MIB)
static void slot_check(const char *when)
{
	int jobs[MAX_JOBS_PER_USER + 1], held = 0, src = -1, dst = -1, extra;
	char dir[PATH_MAX];
	unsigned int running = 0;
	bool ok = true;

	cur_what = "job slots";
	if (!fs_tmpfs.present || !test_dir_new(FS_TMPFS, dir)) {
		tap_skip("job slots %s: no tmpfs", when);
		return;
	}
	src = open_new(dir, "src", O_RDWR);
	dst = open_new(dir, "dst", O_RDWR);
	if (src < 0 || dst < 0 || ftruncate(src, SLOT_JOB_LEN) ||
	    ftruncate(dst, SLOT_JOB_LEN)) {
		tap(false, "job slots %s: set-up: %s", when, strerror(errno));
		goto out;
	}
	for (held = 0; held < MAX_JOBS_PER_USER; held++) {
		jobs[held] = cr_submit(src, 0, dst, 0, SLOT_JOB_LEN, 0);
		if (jobs[held] < 0)
			break;
	}
	if (held < MAX_JOBS_PER_USER) {
		diag("job slots %s: submit %d failed: %s (%d slots leaked?)", when,
		     held + 1, strerror(errno), MAX_JOBS_PER_USER - held);
		ok = false;
	} else {
		extra = cr_submit(src, 0, dst, 0, SLOT_JOB_LEN, 0);
		for (int i = 0; i < held; i++) {
			struct copy_range_status st;

			if (!cr_job_status(jobs[i], &st) &&
			    st.state == COPY_RANGE_JOB_RUNNING)
				running++;
		}
		if (extra >= 0) {
			close(extra);
			if (running == MAX_JOBS_PER_USER) {
				diag("job slots %s: job %d accepted with %d running",
				     when, MAX_JOBS_PER_USER + 1, MAX_JOBS_PER_USER);
				ok = false;
			} else {
				diag("job slots %s: only %u of %d still running; "
				     "over-count not tested", when, running,
				     MAX_JOBS_PER_USER);
			}
		} else if (errno != EAGAIN) {
			diag("job slots %s: submit %d: %s, want EAGAIN", when,
			     MAX_JOBS_PER_USER + 1, strerror(errno));
			ok = false;
		}
	}
	/* Cancel them all first: they stop together, not one by one. */
	for (int i = 0; i < held; i++)
		cr_job_cancel(jobs[i]);
	for (int i = 0; i < held; i++)
		close(jobs[i]);
	held = 0;
	/* Every slot is back once the descriptors are closed. */
	extra = cr_submit(src, 0, dst, 0, 4096, 0);
	if (extra < 0) {
		diag("job slots %s: submit after closing every job: %s", when,
		     strerror(errno));
		ok = false;
	} else {
		close(extra);
	}
	tap(ok, "job slots %s: %d jobs in flight, then EAGAIN, then free again",
	    when, MAX_JOBS_PER_USER);
out:
	if (src >= 0)
		close(src);
	if (dst >= 0)
		close(dst);
	release_dir(dir);
}

/* Descriptors open at the start, to find any left open at the end. */
static char fds_at_start[1024];

static void list_fds(char *buf, size_t len)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	size_t at = 0;
	int self = d ? dirfd(d) : -1;

	buf[0] = '\0';
	while (d && (e = readdir(d))) {
		char path[300], target[256];
		ssize_t r;

		if (e->d_name[0] == '.' || atoi(e->d_name) == self)
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		r = readlink(path, target, sizeof(target) - 1);
		target[r > 0 ? r : 0] = '\0';
		if (at < len)
			at += snprintf(buf + at, len - at, "%s%s=%s", at ? " " : "",
				       e->d_name, target);
	}
	if (d)
		closedir(d);
}

static void check_fds_closed(void)
{
	char now[1024];

	list_fds(now, sizeof(now));
	if (strcmp(now, fds_at_start))
		diag("descriptors at the start: %s; now: %s", fds_at_start, now);
	tap(!strcmp(now, fds_at_start),
	    "every test file closed: the descriptor table is as at the start");
}

/*
 * Every test directory removed.  One a read-only filesystem kept is
 * removed when the filesystem is mounted again (fs_recover(), and the
 * final remount); only one still there after that, or one never released,
 * fails.  What is on the tmpfs (the ext4 image too) is checked before
 * the final remounts, which wipe it; the rest after them.
 */
static unsigned int dirs_left(bool on_tmpfs)
{
	unsigned int left = 0;

	for (unsigned int i = 0; i < nr_made_dirs; i++) {
		struct made_dir *d = &made_dirs[i];
		bool tmp = !strncmp(d->path, FS_TMPFS "/", strlen(FS_TMPFS) + 1);

		if (tmp != on_tmpfs)
			continue;
		if (access(d->path, F_OK))
			continue;
		diag("left behind%s: %s", d->released ? "" : " (never released)",
		     d->path);
		left++;
	}
	return left;
}

static const char *fsck_cmd(const char *type)
{
	if (!strcmp(type, "btrfs"))
		return "btrfs check --readonly";
	if (!strcmp(type, "xfs"))
		return "xfs_repair -n";
	if (!strcmp(type, "ext4"))
		return "e2fsck -fn";
	return NULL;
}

/*
 * Unmounts @fs (EBUSY would mean a file reference outlived its close),
 * checks it with its fsck, and mounts it again as it was.
 */
static void remount_check(struct fsdesc *fs)
{
	const char *fsck;
	struct mnt m;
	bool ok = true;

	cur_what = fs->root;
	if (!fs->present || !find_mount(fs->root, &m)) {
		tap_skip("%s: not mounted", fs->root);
		return;
	}
	sync();
	if (umount2(fs->root, 0)) {
		diag("umount %s: %s", fs->root, strerror(errno));
		tap(false, "%s (%s) unmounts: a reference to one of its files was left",
		    fs->root, fs->name);
		return;
	}
	fsck = fsck_cmd(m.type);
	/* A loop device lets go of its image when it is unmounted. */
	if (fsck && run_cmd("%s %s", fsck, fs->own ? OWN_IMG : m.src))
		ok = false;
	if (fs->own) {
		if (run_cmd("mount -o loop %s %s", OWN_IMG, OWN_MNT) ||
		    umount2(OWN_MNT, 0))
			ok = false;
		unlink(OWN_IMG);
		rmdir(OWN_MNT);
	} else if (mount(m.src, fs->root, m.type, 0,
			 !strcmp(m.type, "tmpfs") ? "size=1G" : NULL) ||
		   chmod(fs->root, 01777)) {
		diag("mount %s again: %s", fs->root, strerror(errno));
		ok = false;
	}
	tap(ok, "%s (%s) unmounts, %s, mounts again", fs->root, fs->name,
	    fsck ? "checks clean" : "no fsck");
}

static bool own_fs_setup(void)
{
	int fd;

	if (!fs_tmpfs.present)
		return false;
	mkdir(OWN_MNT, 0755);
	fd = open(OWN_IMG, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, OWN_SIZE)) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	close(fd);
	if (run_cmd("mkfs.ext4 -q -F %s", OWN_IMG) ||
	    run_cmd("mount -o loop %s %s", OWN_IMG, OWN_MNT))
		return false;
	chmod(OWN_MNT, 01777);
	return fs_mounted(OWN_MNT, EXT4_SUPER_MAGIC);
}

/* The kernel log since the start */

static void check_klog(void)
{
	klog_stop();
	diag("kernel log: %u allocation failure reports (injected), %u VM_FAULT_OOM notes, %u records lost",
	     klog.nr_alloc_fail, klog.nr_oom_leak, klog.lost);
	for (unsigned int i = 0; i < klog.nr_stored; i++)
		diag("kernel: %s", klog.bad[i]);
	tap(!klog.nr_bad && !klog.lost,
	    "kernel log: no KASAN, WARN, BUG, lockdep or hung-task report (%u)",
	    klog.nr_bad);
	if (klog.nr_fs_enomem)
		diag("NOTE kernel log: %u lines of a filesystem giving up on an injected ENOMEM (%u times mounted again)",
		     klog.nr_fs_enomem, fs_recoveries);
	tap(!klog.nr_fs,
	    "kernel log: no filesystem error or shutdown but on an injected ENOMEM (%u)",
	    klog.nr_fs);
}

/* kmemleak: a scan now, and any leak whose allocation names copy_range */

static double last_activity;

static void check_kmemleak(void)
{
	unsigned int leaks = 0, ours = 0, lines = 0;
	bool in_ours = false, have = false;
	char line[512], block[4][160];
	double t;
	FILE *f;

	cur_what = "kmemleak";
	if (access(KMEMLEAK, W_OK)) {
		tap_skip("kmemleak: %s not available", KMEMLEAK);
		return;
	}
	/* kmemleak reports only objects older than 5 s. */
	while (now_s() - last_activity < 6)
		usleep(200000);
	t = now_s();
	if (write_str(KMEMLEAK, "scan")) {
		tap_skip("kmemleak: scan: %s", strerror(errno));
		return;
	}
	diag("kmemleak: scan took %.1f s", now_s() - t);
	f = fopen(KMEMLEAK, "re");
	while (f) {
		bool end = !fgets(line, sizeof(line), f);

		if (end || strstr(line, "unreferenced object")) {
			if (have && in_ours)
				for (unsigned int i = 0; i < MIN(lines, 4U); i++)
					diag("  %s", block[i]);
			if (end)
				break;
			have = true;
			in_ours = false;
			lines = 0;
			leaks++;
		}
		line[strcspn(line, "\n")] = '\0';
		if (lines < 4)
			snprintf(block[lines], sizeof(block[0]), "%.150s", line);
		lines++;
		if (strstr(line, "copy_range") && !in_ours) {
			in_ours = true;
			ours++;
			diag("kmemleak: leak naming copy_range: %s", line);
		}
	}
	if (f)
		fclose(f);
	tap(!ours, "kmemleak: %u suspected leaks, %u naming copy_range", leaks,
	    ours);
}

static void summary(void)
{
	unsigned long points = 0, injected = 0, steps = 0;
	unsigned int walked = 0, sampled = 0, cut = 0;

	for (unsigned int i = 0; i < nr_paths; i++) {
		const struct wpath *p = &paths[i];

		if (!p->ready)
			continue;
		walked++;
		sampled += p->sampled;
		cut += p->cut;
		points += p->end_n ? p->end_n - 1 : p->probe_points;
		injected += p->injected;
		steps += p->steps;
	}
	diag("walk: %u paths, %lu fault points, %lu injected in %lu steps; %u paths sampled, %u cut short by the budget",
	     walked, points, injected, steps, sampled, cut);
	diag("walk: armed steps took %.2f times what their probes took",
	     walked_est > 0 ? walked_secs / walked_est : 0);
	diag("%-34s %7s %7s %6s %6s %-10s %5s %5s %7s", "path", "points",
	     "probe", "plan", "steps", "mode", "fail", "notes", "time");
	for (unsigned int i = 0; i < nr_paths; i++) {
		const struct wpath *p = &paths[i];

		if (p->skipped) {
			diag("%-34s skipped", p->name);
			continue;
		}
		diag("%-34s %7lu %7lu %6lu %6u %-10s %5u %5u %6.1fs", p->name,
		     p->end_n ? p->end_n - 1 : p->probe_points, p->probe_points,
		     p->plan, p->steps, p->cut ? "cut" : p->sampled ? "sampled" :
		     "exhaustive", p->failures,
		     p->notes, p->secs);
	}
}

static void print_help(const char *prog)
{
	fprintf(stderr,
		"Usage: %s [-b SECS] [-x MAX] [-H HEAD] [-S SAMPLES] [-w SECS]\n"
		"          [-P PCT] [-p SUBSTRING] [-l] [-F] [-v]\n"
		"  -b, --budget  seconds for the whole run (%.0f); every path is\n"
		"      probed, then its fault points are sampled evenly in its share\n"
		"      of the time left; 0: no limit, -x, -H and -S decide\n"
		"  -x  walk every N when a small path has at most MAX fault points (%u)\n"
		"  -H  else, and for large paths, walk N = 1..HEAD (%u),\n"
		"  -S  then SAMPLES values spread over the rest (%u)\n"
		"  -w  seconds of random failures for jobs (%.0f, at most a tenth\n"
		"      of the budget; 0: none)\n"
		"  -P  their probability, percent (%u)\n"
		"  -p  only paths whose name contains SUBSTRING (or one of a,b,c)\n"
		"  -l  list the paths and exit\n"
		"  -F  skip the unmount/fsck/mount and kmemleak checks\n"
		"  -v  a line for every step\n",
		prog, opt.budget, opt.exhaustive, opt.head, opt.samples,
		opt.window,
		opt.probability);
	exit(2);
}

int main(int argc, char **argv)
{
	const int sigs[] = { SIGINT, SIGTERM, SIGSEGV, SIGBUS, SIGABRT, SIGFPE,
			     SIGILL, SIGHUP };
	static const struct option longopts[] = {
		{ "budget", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned int left;
	int c;

	t_start = now_s();

	while ((c = getopt_long(argc, argv, "b:x:H:S:w:P:p:lFv", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'b':
			opt.budget = strtod(optarg, NULL);
			if (!(opt.budget >= 0))
				print_help(argv[0]);
			break;
		case 'x':
			opt.exhaustive = strtoul(optarg, NULL, 0);
			break;
		case 'H':
			opt.head = strtoul(optarg, NULL, 0);
			break;
		case 'S':
			opt.samples = strtoul(optarg, NULL, 0);
			break;
		case 'w':
			opt.window = strtod(optarg, NULL);
			break;
		case 'P':
			opt.probability = strtoul(optarg, NULL, 0);
			break;
		case 'p':
			opt.only = optarg;
			break;
		case 'l':
			opt.list = true;
			break;
		case 'F':
			opt.no_final = true;
			break;
		case 'v':
			opt.verbose = true;
			break;
		default:
			print_help(argv[0]);
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (opt.budget && opt.window > opt.budget / 10)
		opt.window = opt.budget / 10;
	build_paths();
	if (opt.list) {
		for (unsigned int i = 0; i < nr_paths; i++)
			puts(paths[i].name);
		return 0;
	}
	if (geteuid()) {
		puts("1..0 # SKIP fault_walk needs root (run it in the VM)");
		return 4;
	}
	if (!knobs_save()) {
		puts("1..0 # SKIP no failslab/fail_page_alloc/fail_usercopy in debugfs");
		return 4;
	}
	atexit(disarm_all);
	for (unsigned int i = 0; i < ARRAY_SIZE(sigs); i++)
		signal(sigs[i], crash_handler);
	nth_fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (nth_fd < 0 || cr_dev() < 0) {
		printf("1..0 # SKIP %s: %s\n", nth_fd < 0 ?
		       "/proc/thread-self/fail-nth" : CR_DEVICE_PATH,
		       strerror(errno));
		return 4;
	}
	img_src = malloc(IMG_MAX);
	img_dst = malloc(IMG_MAX);
	buf_file = malloc(IO_CHUNK);
	buf_old = malloc(IO_CHUNK);
	buf_src = malloc(IO_CHUNK);
	if (!img_src || !img_dst || !buf_file || !buf_old || !buf_src) {
		puts("1..0 # SKIP out of memory");
		return 4;
	}
	phase("start");
	pattern_fill(img_src, IMG_MAX, SEED_SRC, 0);
	pattern_fill(img_dst, IMG_MAX, SEED_DST, 0);
	/* No page fault may take a fault point meant for a call. */
	if (mlockall(MCL_CURRENT | MCL_FUTURE))
		diag("mlockall: %s (page faults may take fault points)",
		     strerror(errno));
	for (unsigned int i = 0; i < ARRAY_SIZE(all_fs); i++)
		if (!all_fs[i]->own)
			all_fs[i]->present = fs_mounted(all_fs[i]->root,
							all_fs[i]->magic);
	phase("pattern images made, memory locked");
	fs_own.present = own_fs_setup();
	phase("loop-mounted ext4 set up");
	if (!klog_start())
		diag("/dev/kmsg: %s: the kernel log is not checked",
		     strerror(errno));
	list_fds(fds_at_start, sizeof(fds_at_start));
	if (fault_mode_walk()) {
		puts("1..0 # SKIP cannot configure fault injection");
		return 4;
	}
	diag("fault_walk: %u paths; fail-nth over failslab, fail_page_alloc (any order, highmem too) and fail_usercopy, sleeping allocations included",
	     nr_paths);
	checker_self_test();
	for (unsigned int i = 0; i < nr_paths; i++)
		walk_prepare(&paths[i]);
	walk_deadline = t_start + opt.budget - end_reserve();
	if (opt.budget)
		diag("[%6.1f s] every path probed; %.0f s left for the walk, %.0f s kept for the rest",
		     now_s() - t_start, walk_deadline - now_s(),
		     end_reserve());
	for (unsigned int i = 0; i < nr_paths; i++) {
		if (!paths[i].ready)
			continue;
		if (opt.budget)
			plan_steps(i, walk_deadline - now_s());
		walk_run(&paths[i]);
	}
	fault_mode_off();
	last_activity = now_s();
	phase("walk done");
	/* With -p, the words "slots" and "jobs" select these two. */
	if (!opt.only || name_selected("slots")) {
		slot_check("after the walk");
		phase("job slots checked");
	}
	if (opt.window > 0 && (!opt.only || name_selected("jobs"))) {
		job_window();
		phase("random failures done");
	}
	if (!opt.only || name_selected("slots"))
		slot_check("after the random failures");
	disarm_all();
	last_activity = now_s();
	phase("jobs done");
	check_fds_closed();
	left = dirs_left(true);
	if (!opt.no_final) {
		/* The loop-mounted ext4 sits on the tmpfs: it goes first. */
		remount_check(&fs_own);
		remount_check(&fs_btrfs);
		remount_check(&fs_xfs);
		remount_check(&fs_ext4);
		remount_check(&fs_tmpfs);
	} else if (fs_own.present) {
		umount2(OWN_MNT, 0);
		unlink(OWN_IMG);
		rmdir(OWN_MNT);
	}
	for (unsigned int i = 0; i < ARRAY_SIZE(all_fs); i++)
		if (all_fs[i]->present && !all_fs[i]->own)
			retry_released(all_fs[i]->root);
	left += dirs_left(false);
	tap(!left, "every test directory removed (%u removed late: their filesystem had gone read-only)",
	    late_removals);
	phase("filesystems checked");
	if (!opt.no_final)
		check_kmemleak();
	check_klog();
	summary();
	diag("fault_walk: %.1f s, %u tests, %u failed", now_s() - t_start,
	     tap_count, tap_failed);
	if (opt.budget) {
		double spare = opt.budget - (now_s() - t_start);

		diag("fault_walk: budget %.0f s, %s by %.1f s", opt.budget,
		     spare >= 0 ? "kept" : "overrun", spare >= 0 ? spare : -spare);
	}
	printf("1..%u\n", tap_count);
	return tap_failed ? 1 : 0;
}
