/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The calls under test, as thin wrappers: COPY_RANGE_IOC_COPY and
 * copy_file_range(2), SUBMIT and the job descriptor's ioctls, the vector
 * ioctls.  Each is a raw syscall returning -1 with errno set on failure, so
 * that the tests assert on what the kernel said.  Small and used by every
 * program, hence all static inline: a program that includes this header
 * needs nothing else to link.
 */
#ifndef CR_IOCTL_H
#define CR_IOCTL_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/copy_range.h>

#define CR_DEVICE_PATH	"/dev/" COPY_RANGE_DEVICE_NAME

/*
 * The module copies in chunks of this size (4 MiB); sizes a little past a
 * multiple of it make a copy cross chunk boundaries at odd offsets.
 */
#define CR_CHUNK	(4LL * 1024 * 1024)

/* Opened on first use and kept, like any other long-lived descriptor. */
static inline int cr_dev(void)
{
	static int fd = -1;

	if (fd < 0)
		fd = open(CR_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	return fd;
}

/* The argument block of COPY and SUBMIT. */
static inline struct copy_range_args cr_args(int src_fd, uint64_t src_off,
					     int dst_fd, uint64_t dst_off,
					     uint64_t len, uint64_t flags)
{
	struct copy_range_args args = {
		.src_fd = src_fd,
		.dst_fd = dst_fd,
		.src_off = src_off,
		.dst_off = dst_off,
		.len = len,
		.flags = flags,
	};

	return args;
}

/*
 * One COPY_RANGE_IOC_COPY on @dev.  Returns the count or -1 with errno set.
 * The raw syscall keeps the full long return value (glibc's ioctl() returns
 * int).  A success whose @copied disagrees with the return value is an ABI
 * bug; it comes back as -1/EPROTO so that no caller can take it for a pass.
 */
static inline int64_t copy_range_dev(int dev, int src_fd, uint64_t src_off,
				     int dst_fd, uint64_t dst_off,
				     uint64_t len, uint64_t flags)
{
	struct copy_range_args args = cr_args(src_fd, src_off, dst_fd,
					      dst_off, len, flags);
	long ret;

	/* Poisoned, so a kernel that never writes it back is caught. */
	args.copied = 0xdeadbeefcafef00dULL;
	if (dev < 0)
		return -1;
	ret = syscall(SYS_ioctl, dev, COPY_RANGE_IOC_COPY, &args);
	if (ret < 0)
		return -1;
	if (args.copied != (uint64_t)ret) {
		fprintf(stderr, "# copy_range returned %ld but copied = %llu\n",
			ret, (unsigned long long)args.copied);
		errno = EPROTO;
		return -1;
	}
	return ret;
}

static inline int64_t copy_range(int src_fd, uint64_t src_off, int dst_fd,
				 uint64_t dst_off, uint64_t len, uint64_t flags)
{
	return copy_range_dev(cr_dev(), src_fd, src_off, dst_fd, dst_off, len,
			      flags);
}

/*
 * copy_file_range(2) with explicit offsets, taken as loff_t like the ioctl
 * takes them.  The raw syscall, so that no libc emulation gets in the way of
 * comparing errnos.
 */
static inline int64_t cfr(int src_fd, uint64_t src_off, int dst_fd,
			  uint64_t dst_off, uint64_t len)
{
	int64_t in = (int64_t)src_off, out = (int64_t)dst_off;

	return syscall(SYS_copy_file_range, src_fd, &in, dst_fd, &out,
		       (size_t)len, 0U);
}

/*
 * Asynchronous copies: COPY_RANGE_IOC_SUBMIT and the job descriptor's
 * ioctls.
 */

/* COPY_RANGE_IOC_SUBMIT on @dev: the job's descriptor. */
static inline int cr_submit_dev(int dev, int src_fd, uint64_t src_off,
				int dst_fd, uint64_t dst_off, uint64_t len,
				uint64_t flags)
{
	struct copy_range_args args = cr_args(src_fd, src_off, dst_fd,
					      dst_off, len, flags);

	if (dev < 0)
		return -1;
	return syscall(SYS_ioctl, dev, COPY_RANGE_IOC_SUBMIT, &args);
}

static inline int cr_submit(int src_fd, uint64_t src_off, int dst_fd,
			    uint64_t dst_off, uint64_t len, uint64_t flags)
{
	return cr_submit_dev(cr_dev(), src_fd, src_off, dst_fd, dst_off, len,
			     flags);
}

/*
 * A status ioctl (COPY_RANGE_JOB_IOC_STATUS or _WAIT) into @st, which is
 * poisoned first so that a kernel that does not fill it in is caught by
 * cr_status_sane().  0 on success, whatever non-negative count the ioctl
 * returned (the header does not say).
 */
static inline int cr_job_ioctl_status(int job, unsigned long cmd,
				      struct copy_range_status *st)
{
	memset(st, 0xa5, sizeof(*st));
	return syscall(SYS_ioctl, job, cmd, st) < 0 ? -1 : 0;
}

static inline int cr_job_status(int job, struct copy_range_status *st)
{
	return cr_job_ioctl_status(job, COPY_RANGE_JOB_IOC_STATUS, st);
}

/* Blocks until the job has ended; -1/EINTR on a signal. */
static inline int cr_job_wait(int job, struct copy_range_status *st)
{
	return cr_job_ioctl_status(job, COPY_RANGE_JOB_IOC_WAIT, st);
}

static inline int cr_job_cancel(int job)
{
	return syscall(SYS_ioctl, job, COPY_RANGE_JOB_IOC_CANCEL, 0L) < 0 ?
	       -1 : 0;
}

static inline const char *cr_job_state_name(int32_t state)
{
	switch (state) {
	case COPY_RANGE_JOB_RUNNING:
		return "RUNNING";
	case COPY_RANGE_JOB_DONE:
		return "DONE";
	case COPY_RANGE_JOB_FAILED:
		return "FAILED";
	case COPY_RANGE_JOB_CANCELLED:
		return "CANCELLED";
	}
	return "(unknown)";
}

/*
 * True when @st could be a job's status: a known state, copied <= total,
 * and an error exactly when the state is FAILED (a negative errno).
 */
static inline bool cr_status_sane(const struct copy_range_status *st)
{
	if (st->copied > st->total)
		return false;
	switch (st->state) {
	case COPY_RANGE_JOB_RUNNING:
	case COPY_RANGE_JOB_DONE:
	case COPY_RANGE_JOB_CANCELLED:
		return st->error == 0;
	case COPY_RANGE_JOB_FAILED:
		return st->error < 0 && st->error >= -4095;
	}
	return false;
}

/*
 * "STATE copied/total error N", for messages.  The string stays valid
 * until the fourth call after this one.
 */
static inline const char *cr_status_str(const struct copy_range_status *st)
{
	static char bufs[4][96];
	static unsigned int next;
	char *buf = bufs[next++ % 4];

	snprintf(buf, sizeof(bufs[0]), "%s %ju/%ju error %d",
		 cr_job_state_name(st->state), (uintmax_t)st->copied,
		 (uintmax_t)st->total, st->error);
	return buf;
}

/* poll(2) for POLLIN on one descriptor: its revents (0 on timeout), or -1. */
static inline int poll_in(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int ret = poll(&p, 1, timeout_ms);

	return ret < 0 ? -1 : p.revents;
}

/* Seconds on CLOCK_MONOTONIC, for timing a call or a wait. */
static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Vectors.  COPY_RANGE_IOC_COPYV: the count, also checked against @v's
 * copied as copy_range_dev() does; @v's out fields are poisoned first.
 */
static inline int64_t cr_copyv_dev(int dev, struct copy_range_vec *v)
{
	long ret;

	v->done_segs = 0xdeadbeef;
	v->copied = 0xdeadbeefcafef00dULL;
	if (dev < 0)
		return -1;
	ret = syscall(SYS_ioctl, dev, COPY_RANGE_IOC_COPYV, v);
	if (ret < 0)
		return -1;
	if (v->copied != (uint64_t)ret) {
		fprintf(stderr, "# COPYV returned %ld but copied = %llu\n",
			ret, (unsigned long long)v->copied);
		errno = EPROTO;
		return -1;
	}
	return ret;
}

static inline int64_t cr_copyv(struct copy_range_vec *v)
{
	return cr_copyv_dev(cr_dev(), v);
}

/* COPY_RANGE_IOC_SUBMITV: the job's descriptor. */
static inline int cr_submitv(struct copy_range_vec *v)
{
	if (cr_dev() < 0)
		return -1;
	return syscall(SYS_ioctl, cr_dev(), COPY_RANGE_IOC_SUBMITV, v);
}

static inline struct copy_range_vec cr_vec(int src_fd, int dst_fd,
					   uint64_t flags,
					   const struct copy_range_seg *segs,
					   uint32_t nr_segs)
{
	struct copy_range_vec v = {
		.src_fd = src_fd,
		.dst_fd = dst_fd,
		.flags = flags,
		.segs = (uintptr_t)segs,
		.nr_segs = nr_segs,
	};

	return v;
}

#endif /* CR_IOCTL_H */
