// SPDX-License-Identifier: GPL-2.0

//! The system calls of the fallback paths and of the report: FICLONE, copy_file_range(2),
//! SEEK_DATA/SEEK_HOLE, pread/pwrite and FIEMAP.

use std::{
    fs::File,
    io,
    os::fd::{AsFd, AsRawFd},
};

/// `FICLONE`, `_IOW(0x94, 9, int)`; checked against `<linux/fs.h>` by a test.
pub(crate) const FICLONE: u32 = crate::sys::ioc(crate::sys::IOC_WRITE, 0x94, 9, 4);
/// `FS_IOC_FIEMAP`, `_IOWR('f', 11, struct fiemap)`; checked against `<linux/fs.h>`.
pub(crate) const FS_IOC_FIEMAP: u32 = crate::sys::ioc(
    crate::sys::IOC_READ_WRITE,
    b'f' as u32,
    11,
    std::mem::size_of::<Fiemap>(),
);
pub(crate) const FIEMAP_FLAG_SYNC: u32 = 0x1;
pub(crate) const FIEMAP_EXTENT_LAST: u32 = 0x1;
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

const EXTENTS_PER_CALL: usize = 128;

#[repr(C)]
struct FiemapBuf {
    head: Fiemap,
    extents: [FiemapExtent; EXTENTS_PER_CALL],
}

/// What FIEMAP says about a file's data extents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExtentSummary {
    /// Bytes in mapped extents (data, not holes; the last extent counts up to its block end).
    pub mapped: u64,
    /// Bytes of those extents flagged `FIEMAP_EXTENT_SHARED`: shared with another file.
    pub shared: u64,
}

/// Maps `file` with `FS_IOC_FIEMAP` (with `FIEMAP_FLAG_SYNC`, so delayed allocations count)
/// and adds up its mapped and shared bytes. `EOPNOTSUPP` on filesystems without FIEMAP (tmpfs).
pub fn fiemap_summary(file: &impl AsFd) -> io::Result<ExtentSummary> {
    let mut sum = ExtentSummary::default();
    let mut start = 0u64;
    loop {
        let mut buf = FiemapBuf {
            head: Fiemap {
                fm_start: start,
                fm_length: u64::MAX - start,
                fm_flags: FIEMAP_FLAG_SYNC,
                fm_extent_count: EXTENTS_PER_CALL as u32,
                ..Default::default()
            },
            extents: [FiemapExtent::default(); EXTENTS_PER_CALL],
        };
        // SAFETY: `buf` is a `struct fiemap` followed by room for `fm_extent_count` extents.
        let ret = unsafe {
            libc::ioctl(
                file.as_fd().as_raw_fd(),
                FS_IOC_FIEMAP as _,
                &mut buf as *mut FiemapBuf,
            )
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = (buf.head.fm_mapped_extents as usize).min(EXTENTS_PER_CALL);
        if n == 0 {
            return Ok(sum);
        }
        let mut last = false;
        for e in &buf.extents[..n] {
            sum.mapped += e.fe_length;
            if e.fe_flags & FIEMAP_EXTENT_SHARED != 0 {
                sum.shared += e.fe_length;
            }
            last |= e.fe_flags & FIEMAP_EXTENT_LAST != 0;
            start = e.fe_logical + e.fe_length;
        }
        if last || n < EXTENTS_PER_CALL {
            return Ok(sum);
        }
    }
}

pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `ioctl(dst, FICLONE, src)`: shares every extent of `src` with `dst`, or fails.
pub(crate) fn ficlone(dst: &File, src: &File) -> io::Result<()> {
    // SAFETY: FICLONE takes the source descriptor as its argument.
    cvt(unsafe { libc::ioctl(dst.as_raw_fd(), FICLONE as _, src.as_raw_fd()) }).map(drop)
}

/// One `copy_file_range(2)` call at explicit offsets (the files' positions are not used).
pub(crate) fn copy_file_range(
    src: &File,
    src_off: u64,
    dst: &File,
    dst_off: u64,
    len: usize,
) -> io::Result<usize> {
    let mut a = src_off as libc::loff_t;
    let mut b = dst_off as libc::loff_t;
    // SAFETY: Two valid descriptors and two offsets that live across the call.
    let n =
        unsafe { libc::copy_file_range(src.as_raw_fd(), &mut a, dst.as_raw_fd(), &mut b, len, 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `lseek(fd, off, whence)` for SEEK_DATA/SEEK_HOLE. `Ok(None)` for ENXIO: no data at or
/// after `off`.
pub(crate) fn seek(file: &File, off: u64, whence: libc::c_int) -> io::Result<Option<u64>> {
    // SAFETY: A plain system call on a valid descriptor.
    let r = unsafe { libc::lseek(file.as_raw_fd(), off as libc::off_t, whence) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENXIO) {
            return Ok(None);
        }
        return Err(e);
    }
    Ok(Some(r as u64))
}

/// Whether both files are on one filesystem of a type that cannot share extents at all, so
/// that `copy_file_range(2)` there is certainly an independent copy.
pub(crate) fn cannot_share(src: &File, dst: &File) -> bool {
    const EXT_SUPER_MAGIC: i64 = 0xEF53;
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    let fs_type = |f: &File| {
        // SAFETY: An all-zero `struct statfs` is a valid value of it.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: A valid descriptor and a `struct statfs` to fill in.
        (unsafe { libc::fstatfs(f.as_raw_fd(), &mut st) } == 0).then_some(st.f_type as i64)
    };
    match (fs_type(src), fs_type(dst)) {
        (Some(a), Some(b)) => a == b && [EXT_SUPER_MAGIC, TMPFS_MAGIC, RAMFS_MAGIC].contains(&a),
        _ => false,
    }
}

/// `pread(2)`, retried on EINTR.
pub(crate) fn pread(file: &File, buf: &mut [u8], off: u64) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is writable for its length.
        let n = unsafe {
            libc::pread(
                file.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                off as libc::off_t,
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// `pwrite(2)` of the whole buffer, retried on EINTR and short counts.
pub(crate) fn pwrite_all(file: &File, mut buf: &[u8], mut off: u64) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: `buf` is readable for its length.
        let n = unsafe {
            libc::pwrite(
                file.as_raw_fd(),
                buf.as_ptr() as *const libc::c_void,
                buf.len(),
                off as libc::off_t,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::WriteZero));
        }
        buf = &buf[n as usize..];
        off += n as u64;
    }
    Ok(())
}

/// Six characters for a temporary name, unpredictable enough to make collisions rare (a
/// collision is retried anyway: names are created with `O_EXCL`/`linkat` semantics).
pub(crate) fn random_suffix() -> String {
    let mut bytes = [0u8; 8];
    // SAFETY: `bytes` is 8 writable bytes.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr() as *mut libc::c_void, 8, 0) };
    let mut v = if n == 8 {
        u64::from_ne_bytes(bytes)
    } else {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        (t.as_nanos() as u64) ^ ((std::process::id() as u64) << 32)
    };
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..6)
        .map(|_| {
            let c = CHARS[(v % CHARS.len() as u64) as usize] as char;
            v /= CHARS.len() as u64;
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" {
        static copy_range_c_ficlone: u32;
        static copy_range_c_fs_ioc_fiemap: u32;
        static copy_range_c_sizeof_fiemap: u32;
        static copy_range_c_sizeof_fiemap_extent: u32;
        static copy_range_c_fiemap_extent_shared: u32;
        static copy_range_c_fiemap_extent_last: u32;
        static copy_range_c_fiemap_flag_sync: u32;
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

    #[test]
    fn random_suffixes_differ() {
        let a = random_suffix();
        assert_eq!(a.len(), 6);
        assert_ne!(a, random_suffix());
    }
}
