// SPDX-License-Identifier: GPL-2.0

//! Every ioctl this crate makes, as safe functions: those of `/dev/copy_range` and of its job
//! descriptors (and the job's `read(2)`), `FICLONE` and `FS_IOC_FIEMAP`. With
//! [`crate::syscall`], the only module that calls libc; tests check the numbers and layouts
//! against what the C compiler makes of the headers (`abi.c`).

use crate::sys;
use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
};

/// `FICLONE`, `_IOW(0x94, 9, int)`.
const FICLONE: u32 = sys::ioc(sys::IOC_WRITE, 0x94, 9, 4);
/// `FS_IOC_FIEMAP`, `_IOWR('f', 11, struct fiemap)`.
const FS_IOC_FIEMAP: u32 = sys::ioc(
    sys::IOC_READ_WRITE,
    b'f' as u32,
    11,
    std::mem::size_of::<Fiemap>(),
);
/// `FIEMAP_FLAG_SYNC`: write back delayed allocations before mapping.
pub(crate) const FIEMAP_FLAG_SYNC: u32 = 0x1;
/// `FIEMAP_EXTENT_LAST`: the file's last extent.
pub(crate) const FIEMAP_EXTENT_LAST: u32 = 0x1;
/// `FIEMAP_EXTENT_SHARED`: an extent shared with another file.
pub(crate) const FIEMAP_EXTENT_SHARED: u32 = 0x2000;

/// `struct fiemap` without its flexible array.
#[repr(C)]
#[derive(Default)]
pub(crate) struct Fiemap {
    pub fm_start: u64,
    pub fm_length: u64,
    pub fm_flags: u32,
    pub fm_mapped_extents: u32,
    pub fm_extent_count: u32,
    pub fm_reserved: u32,
}

/// `struct fiemap_extent`.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(crate) struct FiemapExtent {
    pub fe_logical: u64,
    pub fe_physical: u64,
    pub fe_length: u64,
    pub fe_reserved64: [u64; 2],
    pub fe_flags: u32,
    pub fe_reserved: [u32; 3],
}

/// Extents one [`fiemap`] call maps at most.
pub(crate) const EXTENTS_PER_CALL: usize = 128;

/// A `struct fiemap` followed by room for [`EXTENTS_PER_CALL`] extents.
#[repr(C)]
pub(crate) struct FiemapBuf {
    pub head: Fiemap,
    pub extents: [FiemapExtent; EXTENTS_PER_CALL],
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A descriptor that an ioctl returned (a job's).
fn new_fd(ret: libc::c_int) -> io::Result<OwnedFd> {
    let fd = check(ret)?;
    // SAFETY: The ioctl returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `COPY_RANGE_IOC_COPY` on the device: copies, and sets `args.copied`.
pub(crate) fn copy(dev: BorrowedFd<'_>, args: &mut sys::copy_range_args) -> io::Result<()> {
    // SAFETY: `args` is a valid `struct copy_range_args` that lives across the call, and the
    // ioctl number says the kernel reads and writes exactly that structure.
    let ret = unsafe {
        libc::ioctl(
            dev.as_raw_fd(),
            sys::COPY_RANGE_IOC_COPY as _,
            args as *mut sys::copy_range_args,
        )
    };
    check(ret).map(drop)
}

/// `COPY_RANGE_IOC_SUBMIT` on the device: the new job's descriptor.
pub(crate) fn submit(dev: BorrowedFd<'_>, args: &sys::copy_range_args) -> io::Result<OwnedFd> {
    let mut args = *args;
    // SAFETY: `args` is a valid `struct copy_range_args` that lives across the call; the
    // kernel only reads it.
    let ret = unsafe {
        libc::ioctl(
            dev.as_raw_fd(),
            sys::COPY_RANGE_IOC_SUBMIT as _,
            &mut args as *mut sys::copy_range_args,
        )
    };
    new_fd(ret)
}

/// Points `args` at `segs`, which must not outlive the call that uses it.
fn vec_args(
    args: &sys::copy_range_vec,
    segs: &[sys::copy_range_seg],
) -> io::Result<sys::copy_range_vec> {
    let nr_segs =
        u32::try_from(segs.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    Ok(sys::copy_range_vec {
        segs: segs.as_ptr() as u64,
        nr_segs,
        ..*args
    })
}

/// `COPY_RANGE_IOC_COPYV` on the device with the segments `segs` (whatever `args.segs` and
/// `args.nr_segs` say): sets `args.done_segs` and `args.copied`.
pub(crate) fn copy_vec(
    dev: BorrowedFd<'_>,
    args: &mut sys::copy_range_vec,
    segs: &[sys::copy_range_seg],
) -> io::Result<()> {
    let mut raw = vec_args(args, segs)?;
    // SAFETY: `raw` and the segment array it points to (`segs`, `nr_segs` long) live across
    // the call; the kernel reads both and writes back `raw`.
    let ret = unsafe {
        libc::ioctl(
            dev.as_raw_fd(),
            sys::COPY_RANGE_IOC_COPYV as _,
            &mut raw as *mut sys::copy_range_vec,
        )
    };
    check(ret)?;
    args.done_segs = raw.done_segs;
    args.copied = raw.copied;
    Ok(())
}

/// `COPY_RANGE_IOC_SUBMITV` on the device with the segments `segs`: the new job's descriptor.
pub(crate) fn submit_vec(
    dev: BorrowedFd<'_>,
    args: &sys::copy_range_vec,
    segs: &[sys::copy_range_seg],
) -> io::Result<OwnedFd> {
    let mut raw = vec_args(args, segs)?;
    // SAFETY: As in `copy_vec`; the kernel copies the segments in before returning.
    let ret = unsafe {
        libc::ioctl(
            dev.as_raw_fd(),
            sys::COPY_RANGE_IOC_SUBMITV as _,
            &mut raw as *mut sys::copy_range_vec,
        )
    };
    new_fd(ret)
}

/// Which of a job's status ioctls to make.
#[derive(Clone, Copy)]
pub(crate) enum StatusCmd {
    /// `COPY_RANGE_JOB_IOC_STATUS`: now.
    Now,
    /// `COPY_RANGE_JOB_IOC_WAIT`: once the job has ended.
    Wait,
}

/// A job's status from `COPY_RANGE_JOB_IOC_STATUS` or `COPY_RANGE_JOB_IOC_WAIT`.
pub(crate) fn job_status(
    job: BorrowedFd<'_>,
    cmd: StatusCmd,
) -> io::Result<sys::copy_range_status> {
    let cmd = match cmd {
        StatusCmd::Now => sys::COPY_RANGE_JOB_IOC_STATUS,
        StatusCmd::Wait => sys::COPY_RANGE_JOB_IOC_WAIT,
    };
    let mut raw = sys::copy_range_status::default();
    // SAFETY: `raw` is a valid `struct copy_range_status` that lives across the call, and
    // both ioctl numbers say the kernel writes exactly that structure.
    let ret = unsafe {
        libc::ioctl(
            job.as_raw_fd(),
            cmd as _,
            &mut raw as *mut sys::copy_range_status,
        )
    };
    check(ret)?;
    Ok(raw)
}

/// A job's status through `read(2)` on its descriptor, and how many bytes the read returned
/// (a whole status is `size_of::<copy_range_status>()`).
pub(crate) fn job_read_status(job: BorrowedFd<'_>) -> io::Result<(sys::copy_range_status, usize)> {
    let mut raw = sys::copy_range_status::default();
    let size = std::mem::size_of::<sys::copy_range_status>();
    // SAFETY: `raw` is `size` writable bytes, and any bytes are a valid value of it (plain
    // integers).
    let n = unsafe {
        libc::read(
            job.as_raw_fd(),
            &mut raw as *mut sys::copy_range_status as *mut libc::c_void,
            size,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((raw, n as usize))
}

/// `COPY_RANGE_JOB_IOC_CANCEL`.
pub(crate) fn job_cancel(job: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: The ioctl takes no argument.
    let ret = unsafe { libc::ioctl(job.as_raw_fd(), sys::COPY_RANGE_JOB_IOC_CANCEL as _, 0) };
    check(ret).map(drop)
}

/// `ioctl(dst, FICLONE, src)`: shares every extent of `src` with `dst`, or fails.
pub(crate) fn ficlone(dst: BorrowedFd<'_>, src: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: FICLONE takes the source descriptor as its argument.
    check(unsafe { libc::ioctl(dst.as_raw_fd(), FICLONE as _, src.as_raw_fd()) }).map(drop)
}

/// One `FS_IOC_FIEMAP` of `file` from `start` to the largest offset, with `flags`, for as
/// many extents as a [`FiemapBuf`] holds.
pub(crate) fn fiemap(file: BorrowedFd<'_>, start: u64, flags: u32) -> io::Result<FiemapBuf> {
    let mut buf = FiemapBuf {
        head: Fiemap {
            fm_start: start,
            fm_length: u64::MAX - start,
            fm_flags: flags,
            fm_extent_count: EXTENTS_PER_CALL as u32,
            ..Default::default()
        },
        extents: [FiemapExtent::default(); EXTENTS_PER_CALL],
    };
    // SAFETY: `buf` is a `struct fiemap` followed by room for `fm_extent_count` extents.
    let ret = unsafe {
        libc::ioctl(
            file.as_raw_fd(),
            FS_IOC_FIEMAP as _,
            &mut buf as *mut FiemapBuf,
        )
    };
    check(ret)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" {
        static copy_range_c_ioc_copy: u32;
        static copy_range_c_ioc_submit: u32;
        static copy_range_c_ioc_copyv: u32;
        static copy_range_c_ioc_submitv: u32;
        static copy_range_c_job_ioc_status: u32;
        static copy_range_c_job_ioc_wait: u32;
        static copy_range_c_job_ioc_cancel: u32;
        static copy_range_c_ficlone: u32;
        static copy_range_c_fs_ioc_fiemap: u32;
        static copy_range_c_sizeof_fiemap: u32;
        static copy_range_c_sizeof_fiemap_extent: u32;
        static copy_range_c_fiemap_extent_shared: u32;
        static copy_range_c_fiemap_extent_last: u32;
        static copy_range_c_fiemap_flag_sync: u32;
    }

    #[test]
    fn ioctl_number_matches_c_header() {
        // SAFETY: An immutable C constant from `abi.c`.
        let c = unsafe { copy_range_c_ioc_copy };
        assert_eq!(sys::COPY_RANGE_IOC_COPY, c);
    }

    #[test]
    fn submit_ioctl_number_matches_c_header() {
        // SAFETY: An immutable C constant from `abi.c`.
        assert_eq!(sys::COPY_RANGE_IOC_SUBMIT, unsafe {
            copy_range_c_ioc_submit
        });
    }

    #[test]
    fn copyv_ioctl_number_matches_c_header() {
        // SAFETY: An immutable C constant from `abi.c`.
        assert_eq!(sys::COPY_RANGE_IOC_COPYV, unsafe { copy_range_c_ioc_copyv });
    }

    #[test]
    fn submitv_ioctl_number_matches_c_header() {
        // SAFETY: An immutable C constant from `abi.c`.
        assert_eq!(sys::COPY_RANGE_IOC_SUBMITV, unsafe {
            copy_range_c_ioc_submitv
        });
    }

    #[test]
    fn job_status_ioctl_number_matches_c_header() {
        // SAFETY: An immutable C constant from `abi.c`.
        assert_eq!(sys::COPY_RANGE_JOB_IOC_STATUS, unsafe {
            copy_range_c_job_ioc_status
        });
    }

    #[test]
    fn job_wait_ioctl_number_matches_c_header() {
        // SAFETY: An immutable C constant from `abi.c`.
        assert_eq!(sys::COPY_RANGE_JOB_IOC_WAIT, unsafe {
            copy_range_c_job_ioc_wait
        });
    }

    #[test]
    fn job_cancel_ioctl_number_matches_c_header() {
        // SAFETY: An immutable C constant from `abi.c`.
        assert_eq!(sys::COPY_RANGE_JOB_IOC_CANCEL, unsafe {
            copy_range_c_job_ioc_cancel
        });
    }

    #[test]
    fn status_and_vec_layouts_have_no_padding() {
        assert_eq!(std::mem::size_of::<sys::copy_range_status>(), 24);
        assert_eq!(std::mem::size_of::<sys::copy_range_seg>(), 24);
        assert_eq!(std::mem::size_of::<sys::copy_range_vec>(), 40);
    }

    #[test]
    fn args_have_no_padding() {
        assert_eq!(std::mem::size_of::<sys::copy_range_args>(), 48);
    }

    #[test]
    fn ficlone_number_matches_c_header() {
        // SAFETY: An immutable C constant from `abi.c`.
        assert_eq!(FICLONE, unsafe { copy_range_c_ficlone });
    }

    #[test]
    fn fiemap_definitions_match_c_header() {
        // SAFETY: Immutable C constants from `abi.c`.
        unsafe {
            assert_eq!(FS_IOC_FIEMAP, copy_range_c_fs_ioc_fiemap);
            assert_eq!(
                std::mem::size_of::<Fiemap>() as u32,
                copy_range_c_sizeof_fiemap
            );
            assert_eq!(
                std::mem::size_of::<FiemapExtent>() as u32,
                copy_range_c_sizeof_fiemap_extent
            );
            assert_eq!(FIEMAP_EXTENT_SHARED, copy_range_c_fiemap_extent_shared);
            assert_eq!(FIEMAP_EXTENT_LAST, copy_range_c_fiemap_extent_last);
            assert_eq!(FIEMAP_FLAG_SYNC, copy_range_c_fiemap_flag_sync);
        }
    }
}
