// SPDX-License-Identifier: GPL-2.0

//! The userspace ABI of `/dev/copy_range`.
//!
//! C header: [`include/uapi/linux/copy_range.h`](../include/uapi/linux/copy_range.h), the single
//! source of truth. Structures and flags come from bindgen output of that header
//! (`uapi_generated.rs`, written by `tools/kernel/module.sh`); the ioctl numbers are computed
//! here with the kernel's `_IO*` helpers and checked against the C compiler's values by KUnit.

use kernel::{
    ioctl::{
        _IO,
        _IOR,
        _IOW,
        _IOWR, //
    },
    prelude::*,
    transmute::{
        AsBytes,
        FromBytes, //
    }, //
};

/// Bindgen output for `include/uapi/linux/copy_range.h`.
#[allow(
    dead_code,
    missing_docs,
    non_camel_case_types,
    non_upper_case_globals,
    unreachable_pub,
    clippy::all
)]
mod generated {
    include!("uapi_generated.rs");
}

pub(crate) use generated::{
    copy_range_args as CopyRangeArgs,
    copy_range_seg as CopyRangeSeg,
    copy_range_status as CopyRangeStatus,
    copy_range_vec as CopyRangeVec, //
};

// SAFETY: `copy_range_args` is `repr(C)` and made only of integers, so every bit pattern is a
// valid value.
unsafe impl FromBytes for CopyRangeArgs {}
// SAFETY: `copy_range_args` is `repr(C)` with two `__s32` followed by five `__u64`: 48 bytes and
// no padding (asserted at compile time below), so every byte is initialised.
unsafe impl AsBytes for CopyRangeArgs {}
// SAFETY: `repr(C)`, three `__u64`: any bit pattern is valid.
unsafe impl FromBytes for CopyRangeSeg {}
// SAFETY: `repr(C)`, two `__u64` then two `__s32`: 24 bytes, no padding (checked below).
unsafe impl AsBytes for CopyRangeStatus {}
// SAFETY: `repr(C)` and only integers: any bit pattern is valid.
unsafe impl FromBytes for CopyRangeVec {}
// SAFETY: `repr(C)`, `__s32` ×2, `__u64` ×2, `__u32` ×2, `__u64`: 40 bytes, no padding
// (checked below).
unsafe impl AsBytes for CopyRangeVec {}

// No padding in anything copied to userspace, so no kernel memory leaks through it.
const _: () = assert!(core::mem::size_of::<CopyRangeArgs>() == 48);
const _: () = assert!(core::mem::size_of::<CopyRangeStatus>() == 24);
const _: () = assert!(core::mem::size_of::<CopyRangeVec>() == 40);

/// `COPY_RANGE_SHARE_ALLOW`: share extents where the filesystem can, copy the rest.
pub(crate) const COPY_RANGE_SHARE_ALLOW: u64 = generated::COPY_RANGE_SHARE_ALLOW as u64;
/// `COPY_RANGE_SHARE_REQUIRE`: share every byte or fail.
pub(crate) const COPY_RANGE_SHARE_REQUIRE: u64 = generated::COPY_RANGE_SHARE_REQUIRE as u64;
/// `COPY_RANGE_FLAGS_ALL`: every flag this version understands.
pub(crate) const COPY_RANGE_FLAGS_ALL: u64 = generated::COPY_RANGE_FLAGS_ALL as u64;

/// The ioctl type code (`COPY_RANGE_IOC_MAGIC`).
const MAGIC: u32 = generated::COPY_RANGE_IOC_MAGIC;

/// `COPY_RANGE_IOC_COPY`: a synchronous copy.
pub(crate) const COPY_RANGE_IOC_COPY: u32 = _IOWR::<CopyRangeArgs>(MAGIC, 0x01);
/// `COPY_RANGE_IOC_SUBMIT`: an asynchronous copy; returns a job descriptor.
pub(crate) const COPY_RANGE_IOC_SUBMIT: u32 = _IOW::<CopyRangeArgs>(MAGIC, 0x02);
/// `COPY_RANGE_IOC_COPYV`: a synchronous vector copy.
pub(crate) const COPY_RANGE_IOC_COPYV: u32 = _IOWR::<CopyRangeVec>(MAGIC, 0x03);
/// `COPY_RANGE_IOC_SUBMITV`: an asynchronous vector copy.
pub(crate) const COPY_RANGE_IOC_SUBMITV: u32 = _IOW::<CopyRangeVec>(MAGIC, 0x04);
/// `COPY_RANGE_JOB_IOC_STATUS`, on a job descriptor.
pub(crate) const COPY_RANGE_JOB_IOC_STATUS: u32 = _IOR::<CopyRangeStatus>(MAGIC, 0x10);
/// `COPY_RANGE_JOB_IOC_WAIT`, on a job descriptor.
pub(crate) const COPY_RANGE_JOB_IOC_WAIT: u32 = _IOR::<CopyRangeStatus>(MAGIC, 0x11);
/// `COPY_RANGE_JOB_IOC_CANCEL`, on a job descriptor.
pub(crate) const COPY_RANGE_JOB_IOC_CANCEL: u32 = _IO(MAGIC, 0x12);
/// io_uring `cmd_op`s, numbered as ioctls are.
pub(crate) const COPY_RANGE_URING_CMD_COPY: u32 = _IOW::<CopyRangeArgs>(MAGIC, 0x20);
/// See [`COPY_RANGE_URING_CMD_COPY`].
pub(crate) const COPY_RANGE_URING_CMD_COPYV: u32 = _IOWR::<CopyRangeVec>(MAGIC, 0x21);

/// `COPY_RANGE_JOB_RUNNING`.
pub(crate) const COPY_RANGE_JOB_RUNNING: u32 = generated::COPY_RANGE_JOB_RUNNING;
/// `COPY_RANGE_JOB_DONE`.
pub(crate) const COPY_RANGE_JOB_DONE: u32 = generated::COPY_RANGE_JOB_DONE;
/// `COPY_RANGE_JOB_FAILED`.
pub(crate) const COPY_RANGE_JOB_FAILED: u32 = generated::COPY_RANGE_JOB_FAILED;
/// `COPY_RANGE_JOB_CANCELLED`.
pub(crate) const COPY_RANGE_JOB_CANCELLED: u32 = generated::COPY_RANGE_JOB_CANCELLED;
/// `COPY_RANGE_VEC_MAX_SEGS`.
pub(crate) const COPY_RANGE_VEC_MAX_SEGS: u32 = generated::COPY_RANGE_VEC_MAX_SEGS;

/// Layout and numbers as the C compiler computed them from the header (`uapi_c.c`).
mod c_abi {
    extern "C" {
        pub(super) static copy_range_c_ioc: [u32; 9];
        pub(super) static copy_range_c_args_size: u32;
        pub(super) static copy_range_c_args_offsets: [u32; 7];
        pub(super) static copy_range_c_sizes: [u32; 3];
    }
}

#[kunit_tests(copy_range_uapi)]
mod tests {
    use super::*;
    use core::mem::{
        offset_of,
        size_of, //
    };

    #[test]
    fn ioctl_numbers_match_c_header() {
        // SAFETY: An immutable static defined in `uapi_c.c`, initialised at compile time.
        let c = unsafe { c_abi::copy_range_c_ioc };
        let rust = [
            COPY_RANGE_IOC_COPY,
            COPY_RANGE_IOC_SUBMIT,
            COPY_RANGE_IOC_COPYV,
            COPY_RANGE_IOC_SUBMITV,
            COPY_RANGE_JOB_IOC_STATUS,
            COPY_RANGE_JOB_IOC_WAIT,
            COPY_RANGE_JOB_IOC_CANCEL,
            COPY_RANGE_URING_CMD_COPY,
            COPY_RANGE_URING_CMD_COPYV,
        ];
        assert_eq!(rust, c);
    }

    #[test]
    fn job_and_vector_layouts_match_c_header() {
        // SAFETY: An immutable static defined in `uapi_c.c`, initialised at compile time.
        let c = unsafe { c_abi::copy_range_c_sizes };
        assert_eq!(size_of::<CopyRangeStatus>(), c[0] as usize);
        assert_eq!(size_of::<CopyRangeSeg>(), c[1] as usize);
        assert_eq!(size_of::<CopyRangeVec>(), c[2] as usize);
        // No padding anywhere, so 32- and 64-bit callers agree.
        assert_eq!(size_of::<CopyRangeStatus>(), 24);
        assert_eq!(size_of::<CopyRangeSeg>(), 24);
        assert_eq!(size_of::<CopyRangeVec>(), 40);
        assert_eq!(offset_of!(CopyRangeVec, nr_segs), 24);
        assert_eq!(offset_of!(CopyRangeVec, copied), 32);
    }

    #[test]
    fn args_layout_matches_c_header() {
        // SAFETY: Immutable statics defined in `uapi_c.c`, initialised at compile time.
        let (c_size, c_offsets) = unsafe {
            (
                c_abi::copy_range_c_args_size,
                c_abi::copy_range_c_args_offsets,
            )
        };
        let rust_offsets = [
            offset_of!(CopyRangeArgs, src_fd),
            offset_of!(CopyRangeArgs, dst_fd),
            offset_of!(CopyRangeArgs, src_off),
            offset_of!(CopyRangeArgs, dst_off),
            offset_of!(CopyRangeArgs, len),
            offset_of!(CopyRangeArgs, flags),
            offset_of!(CopyRangeArgs, copied),
        ];
        assert_eq!(size_of::<CopyRangeArgs>(), c_size as usize);
        // Two `__s32` and five `__u64`: no padding, the same on 32- and 64-bit callers.
        assert_eq!(size_of::<CopyRangeArgs>(), 48);
        for (rust, c) in rust_offsets.iter().zip(c_offsets.iter()) {
            assert_eq!(*rust, *c as usize);
        }
    }

    #[test]
    fn flags_are_distinct_bits() {
        assert_eq!(COPY_RANGE_SHARE_ALLOW & COPY_RANGE_SHARE_REQUIRE, 0);
        assert_eq!(
            COPY_RANGE_FLAGS_ALL,
            COPY_RANGE_SHARE_ALLOW | COPY_RANGE_SHARE_REQUIRE
        );
    }
}
