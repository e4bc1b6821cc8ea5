/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * copy_range: copy a range of bytes between two open files inside the
 * kernel, letting the filesystem share extents (reflink, clone) or copy on
 * the server side where the caller's sharing policy allows it.
 *
 * The interface is the misc device /dev/copy_range.  Every permission check
 * comes from the file descriptors passed in, so any user may open it.
 *
 * This header is the single source of truth for the ABI: the module checks
 * its Rust definitions against it at build and test time.
 */
#ifndef _UAPI_LINUX_COPY_RANGE_H
#define _UAPI_LINUX_COPY_RANGE_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Path of the device node, relative to /dev. */
#define COPY_RANGE_DEVICE_NAME	"copy_range"

/*
 * Sharing policy, in copy_range_args.flags.  With neither flag the copy is
 * independent: no extent of the destination ends up shared with the source.
 */
/* Share extents where the filesystem can, copy the rest. */
#define COPY_RANGE_SHARE_ALLOW		(1ULL << 0)
/* Share every byte or fail; never fall back to copying data. */
#define COPY_RANGE_SHARE_REQUIRE	(1ULL << 1)
/* Every flag this version understands; any other bit is EINVAL. */
#define COPY_RANGE_FLAGS_ALL	(COPY_RANGE_SHARE_ALLOW | COPY_RANGE_SHARE_REQUIRE)

/**
 * struct copy_range_args - one ranged copy between two open files
 * @src_fd: file to read, opened for reading
 * @dst_fd: file to write, opened for writing and without O_APPEND
 * @src_off: byte offset in @src_fd, read as a signed loff_t
 * @dst_off: byte offset in @dst_fd, read as a signed loff_t
 * @len: number of bytes to copy
 * @flags: COPY_RANGE_SHARE_* bits
 * @copied: out: bytes copied, the same value the ioctl returns
 *
 * The file positions of both descriptors are neither used nor changed.
 * The layout is the same for 32- and 64-bit callers (no padding).
 */
struct copy_range_args {
	__s32 src_fd;
	__s32 dst_fd;
	__u64 src_off;
	__u64 dst_off;
	__u64 len;
	__u64 flags;
	__u64 copied;
};

/* ioctl code 0xBC, see Documentation/userspace-api/ioctl/ioctl-number.rst. */
#define COPY_RANGE_IOC_MAGIC	0xBC

/*
 * Copies synchronously.  Returns the number of bytes copied (short counts
 * mean "call again"; 0 means len == 0 or src_off at or past the source's
 * EOF) and stores it in @copied, or -1 with errno set.
 */
#define COPY_RANGE_IOC_COPY	_IOWR(COPY_RANGE_IOC_MAGIC, 0x01, struct copy_range_args)

/*
 * Asynchronous copies.  COPY_RANGE_IOC_SUBMIT makes every check that
 * COPY_RANGE_IOC_COPY makes, then returns a new file descriptor (O_CLOEXEC)
 * for the job, which copies the whole range (after clamping to the source's
 * EOF) in the background with the submitter's credentials and file-size
 * limit.  The descriptor is the job's cookie: read(2) or
 * COPY_RANGE_JOB_IOC_STATUS give its status, poll(2) reports POLLIN once
 * it has ended, COPY_RANGE_JOB_IOC_WAIT blocks until then and
 * COPY_RANGE_JOB_IOC_CANCEL stops it.  Closing the last reference cancels
 * the job and waits, killably, until its files are closed (a kernel thread
 * dropping the last reference does not wait).  EAGAIN: the user (counted
 * across user namespaces) or all users together already have the maximum
 * number of jobs in flight (module parameters max_jobs_per_user, max_jobs).
 */
#define COPY_RANGE_IOC_SUBMIT	_IOW(COPY_RANGE_IOC_MAGIC, 0x02, struct copy_range_args)

/* Job states, in copy_range_status.state. */
#define COPY_RANGE_JOB_RUNNING		0	/* queued or copying */
#define COPY_RANGE_JOB_DONE		1	/* copied everything it could */
#define COPY_RANGE_JOB_FAILED		2	/* stopped by an error */
#define COPY_RANGE_JOB_CANCELLED	3	/* stopped by a cancel */

/**
 * struct copy_range_status - where a job stands
 * @copied: bytes copied so far; exact, also after a failure or a cancel
 * @total: bytes requested, after clamping to the source's EOF at submit time
 * @state: COPY_RANGE_JOB_*
 * @error: 0, or the negative errno that stopped a failed job
 */
struct copy_range_status {
	__u64 copied;
	__u64 total;
	__s32 state;
	__s32 error;
};

/* On a job descriptor: the current status; never blocks. */
#define COPY_RANGE_JOB_IOC_STATUS	_IOR(COPY_RANGE_IOC_MAGIC, 0x10, struct copy_range_status)
/* On a job descriptor: blocks until the job ends (EINTR on a signal). */
#define COPY_RANGE_JOB_IOC_WAIT		_IOR(COPY_RANGE_IOC_MAGIC, 0x11, struct copy_range_status)
/* On a job descriptor: asks the job to stop at the next chunk; returns at once. */
#define COPY_RANGE_JOB_IOC_CANCEL	_IO(COPY_RANGE_IOC_MAGIC, 0x12)

/**
 * struct copy_range_seg - one range of a vector copy
 * @src_off: byte offset in the source
 * @dst_off: byte offset in the destination
 * @len: number of bytes
 */
struct copy_range_seg {
	__u64 src_off;
	__u64 dst_off;
	__u64 len;
};

/* Most segments one vector may hold. */
#define COPY_RANGE_VEC_MAX_SEGS	1024

/**
 * struct copy_range_vec - many ranges between the same two files
 * @src_fd: as in struct copy_range_args
 * @dst_fd: as in struct copy_range_args
 * @flags: as in struct copy_range_args
 * @segs: user pointer to struct copy_range_seg[@nr_segs]
 * @nr_segs: at most COPY_RANGE_VEC_MAX_SEGS
 * @done_segs: out: segments copied completely
 * @copied: out: bytes copied over all segments
 *
 * Every segment is checked as a single copy would be, and destination
 * ranges must not overlap each other (EINVAL), before anything is copied.
 * Segments are copied in order; the copy stops at the first segment that
 * comes up short (the source's EOF, an error, a signal).
 */
struct copy_range_vec {
	__s32 src_fd;
	__s32 dst_fd;
	__u64 flags;
	__u64 segs;
	__u32 nr_segs;
	__u32 done_segs;
	__u64 copied;
};

/* Copies a vector synchronously; returns (and stores) the bytes copied. */
#define COPY_RANGE_IOC_COPYV	_IOWR(COPY_RANGE_IOC_MAGIC, 0x03, struct copy_range_vec)
/* Submits a vector as one job; returns its descriptor. */
#define COPY_RANGE_IOC_SUBMITV	_IOW(COPY_RANGE_IOC_MAGIC, 0x04, struct copy_range_vec)

/*
 * io_uring: IORING_OP_URING_CMD (or IORING_OP_URING_CMD128) on an open
 * /dev/copy_range, with one of the cmd_op values below.  The CQE's res is
 * what the matching ioctl returns: the bytes copied, or -errno; the checks,
 * errnos and counts are those of the ioctl.  A copy runs in an io-wq
 * worker, a thread of the submitting process (its credentials, its
 * RLIMIT_FSIZE, its cgroups); only a request that fails its first checks
 * completes without one.  IORING_OP_ASYNC_CANCEL, closing the ring and the
 * process's exit stop a copy at its next chunk: it completes with the count
 * so far, or -ECANCELED if nothing was copied.
 *
 * COPY_RANGE_URING_CMD_COPY: the command area of a 128-byte SQE
 * (IORING_SETUP_SQE128 or IORING_OP_URING_CMD128) holds a struct
 * copy_range_args; its @copied is not written.  EINVAL in a 64-byte SQE.
 *
 * COPY_RANGE_URING_CMD_COPYV: the first 8 bytes of the command area hold a
 * user pointer (__u64) to a struct copy_range_vec; @done_segs and @copied
 * are written back there as COPY_RANGE_IOC_COPYV writes them.  Any SQE size.
 */
#define COPY_RANGE_URING_CMD_COPY	_IOW(COPY_RANGE_IOC_MAGIC, 0x20, struct copy_range_args)
#define COPY_RANGE_URING_CMD_COPYV	_IOWR(COPY_RANGE_IOC_MAGIC, 0x21, struct copy_range_vec)

#endif /* _UAPI_LINUX_COPY_RANGE_H */
