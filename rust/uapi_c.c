// SPDX-License-Identifier: GPL-2.0
/*
 * The ABI as the C compiler sees it in include/uapi/linux/copy_range.h.
 *
 * The Rust side of the module takes its structures and flags from bindgen
 * output of the same header, but bindgen cannot expand the _IO*() macros.
 * These constants let a KUnit test compare the ioctl numbers (and, as a
 * belt-and-braces check on bindgen, the structure layouts) that the Rust
 * code uses with what C callers compile against.
 */
#include <linux/copy_range.h>
#include <linux/stddef.h>

#include "uapi_c.h"

const u32 copy_range_c_ioc[] = {
	COPY_RANGE_IOC_COPY,
	COPY_RANGE_IOC_SUBMIT,
	COPY_RANGE_IOC_COPYV,
	COPY_RANGE_IOC_SUBMITV,
	COPY_RANGE_JOB_IOC_STATUS,
	COPY_RANGE_JOB_IOC_WAIT,
	COPY_RANGE_JOB_IOC_CANCEL,
	COPY_RANGE_URING_CMD_COPY,
	COPY_RANGE_URING_CMD_COPYV,
};

const u32 copy_range_c_args_size = sizeof(struct copy_range_args);
const u32 copy_range_c_args_offsets[] = {
	offsetof(struct copy_range_args, src_fd),
	offsetof(struct copy_range_args, dst_fd),
	offsetof(struct copy_range_args, src_off),
	offsetof(struct copy_range_args, dst_off),
	offsetof(struct copy_range_args, len),
	offsetof(struct copy_range_args, flags),
	offsetof(struct copy_range_args, copied),
};

const u32 copy_range_c_sizes[] = {
	sizeof(struct copy_range_status),
	sizeof(struct copy_range_seg),
	sizeof(struct copy_range_vec),
};
