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

#endif /* _UAPI_LINUX_COPY_RANGE_H */
