// SPDX-License-Identifier: GPL-2.0
/*
 * What the C compiler makes of the headers: every ioctl number and structure
 * size the crate uses, checked against the Rust definitions by tests.
 */
#include <linux/copy_range.h>
#include <linux/fiemap.h>
#include <linux/fs.h>

const unsigned int copy_range_c_ioc_copy = COPY_RANGE_IOC_COPY;
const unsigned int copy_range_c_ioc_submit = COPY_RANGE_IOC_SUBMIT;
const unsigned int copy_range_c_ioc_copyv = COPY_RANGE_IOC_COPYV;
const unsigned int copy_range_c_ioc_submitv = COPY_RANGE_IOC_SUBMITV;
const unsigned int copy_range_c_job_ioc_status = COPY_RANGE_JOB_IOC_STATUS;
const unsigned int copy_range_c_job_ioc_wait = COPY_RANGE_JOB_IOC_WAIT;
const unsigned int copy_range_c_job_ioc_cancel = COPY_RANGE_JOB_IOC_CANCEL;
const unsigned int copy_range_c_uring_cmd_copy = COPY_RANGE_URING_CMD_COPY;
const unsigned int copy_range_c_uring_cmd_copyv = COPY_RANGE_URING_CMD_COPYV;

const unsigned int copy_range_c_ficlone = FICLONE;
const unsigned int copy_range_c_fs_ioc_fiemap = FS_IOC_FIEMAP;
const unsigned int copy_range_c_sizeof_fiemap = sizeof(struct fiemap);
const unsigned int copy_range_c_sizeof_fiemap_extent = sizeof(struct fiemap_extent);
const unsigned int copy_range_c_fiemap_extent_shared = FIEMAP_EXTENT_SHARED;
const unsigned int copy_range_c_fiemap_extent_last = FIEMAP_EXTENT_LAST;
const unsigned int copy_range_c_fiemap_flag_sync = FIEMAP_FLAG_SYNC;
