// SPDX-License-Identifier: GPL-2.0

//! The ABI: what bindgen generates from `include/uapi/linux/copy_range.h`, and the ioctl
//! numbers computed from it (the header's `_IO*` macros are beyond bindgen). Tests in
//! `ioctl.rs` check every number against what the C compiler makes of the header.

include!(concat!(env!("OUT_DIR"), "/copy_range_uapi.rs"));

/// `_IOC(dir, type, nr, size)` of the asm-generic ioctl encoding used on x86, arm64, riscv.
pub const fn ioc(dir: u32, ty: u32, nr: u32, size: usize) -> u32 {
    (dir << 30) | ((size as u32) << 16) | (ty << 8) | nr
}
/// `_IOC_NONE`.
pub const IOC_NONE: u32 = 0;
/// `_IOC_WRITE`: the kernel reads the argument.
pub const IOC_WRITE: u32 = 1;
/// `_IOC_READ`: the kernel writes the argument.
pub const IOC_READ: u32 = 2;
/// `_IOC_READ | _IOC_WRITE`.
pub const IOC_READ_WRITE: u32 = IOC_READ | IOC_WRITE;

/// `COPY_RANGE_IOC_COPY`, checked against the C header by a test.
pub const COPY_RANGE_IOC_COPY: u32 = ioc(
    IOC_READ_WRITE,
    COPY_RANGE_IOC_MAGIC,
    0x01,
    core::mem::size_of::<copy_range_args>(),
);
/// `COPY_RANGE_IOC_SUBMIT`, checked against the C header by a test.
pub const COPY_RANGE_IOC_SUBMIT: u32 = ioc(
    IOC_WRITE,
    COPY_RANGE_IOC_MAGIC,
    0x02,
    core::mem::size_of::<copy_range_args>(),
);
/// `COPY_RANGE_IOC_COPYV`, checked against the C header by a test.
pub const COPY_RANGE_IOC_COPYV: u32 = ioc(
    IOC_READ_WRITE,
    COPY_RANGE_IOC_MAGIC,
    0x03,
    core::mem::size_of::<copy_range_vec>(),
);
/// `COPY_RANGE_IOC_SUBMITV`, checked against the C header by a test.
pub const COPY_RANGE_IOC_SUBMITV: u32 = ioc(
    IOC_WRITE,
    COPY_RANGE_IOC_MAGIC,
    0x04,
    core::mem::size_of::<copy_range_vec>(),
);
/// `COPY_RANGE_JOB_IOC_STATUS`, checked against the C header by a test.
pub const COPY_RANGE_JOB_IOC_STATUS: u32 = ioc(
    IOC_READ,
    COPY_RANGE_IOC_MAGIC,
    0x10,
    core::mem::size_of::<copy_range_status>(),
);
/// `COPY_RANGE_JOB_IOC_WAIT`, checked against the C header by a test.
pub const COPY_RANGE_JOB_IOC_WAIT: u32 = ioc(
    IOC_READ,
    COPY_RANGE_IOC_MAGIC,
    0x11,
    core::mem::size_of::<copy_range_status>(),
);
/// `COPY_RANGE_JOB_IOC_CANCEL`, checked against the C header by a test.
pub const COPY_RANGE_JOB_IOC_CANCEL: u32 = ioc(IOC_NONE, COPY_RANGE_IOC_MAGIC, 0x12, 0);
/// `COPY_RANGE_URING_CMD_COPY`, the `cmd_op` of a ranged copy through io_uring; checked
/// against the C header by a test.
pub const COPY_RANGE_URING_CMD_COPY: u32 = ioc(
    IOC_WRITE,
    COPY_RANGE_IOC_MAGIC,
    0x20,
    core::mem::size_of::<copy_range_args>(),
);
/// `COPY_RANGE_URING_CMD_COPYV`, the `cmd_op` of a vector copy through io_uring; checked
/// against the C header by a test.
pub const COPY_RANGE_URING_CMD_COPYV: u32 = ioc(
    IOC_READ_WRITE,
    COPY_RANGE_IOC_MAGIC,
    0x21,
    core::mem::size_of::<copy_range_vec>(),
);
