// SPDX-License-Identifier: GPL-2.0

//! The userspace ABI of `/dev/copy_range`.
//!
//! C header: [`include/uapi/linux/copy_range.h`](../include/uapi/linux/copy_range.h), the single
//! source of truth. Structures and flags come from bindgen output of that header
//! (`uapi_generated.rs`, written by the top-level `Makefile`); the ioctl numbers are computed
//! here with the kernel's `_IO*` helpers and checked against the C compiler's values by KUnit.

use kernel::{
    ioctl::_IOWR,
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

pub(crate) use generated::copy_range_args as CopyRangeArgs;

// SAFETY: `copy_range_args` is `repr(C)` and made only of integers, so every bit pattern is a
// valid value.
unsafe impl FromBytes for CopyRangeArgs {}
// SAFETY: `copy_range_args` is `repr(C)` with two `__s32` followed by five `__u64`: 48 bytes and
// no padding (checked against the C layout by the `uapi_matches_c_header` test), so every byte is
// initialised.
unsafe impl AsBytes for CopyRangeArgs {}

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

/// Layout and numbers as the C compiler computed them from the header (`uapi_c.c`).
mod c_abi {
    extern "C" {
        pub(super) static copy_range_c_ioc_copy: u32;
        pub(super) static copy_range_c_args_size: u32;
        pub(super) static copy_range_c_args_offsets: [u32; 7];
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
        // SAFETY: Immutable statics defined in `uapi_c.c`, initialised at compile time.
        let c_copy = unsafe { c_abi::copy_range_c_ioc_copy };
        assert_eq!(COPY_RANGE_IOC_COPY, c_copy);
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
