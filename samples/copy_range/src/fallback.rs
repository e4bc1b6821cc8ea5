// SPDX-License-Identifier: GPL-2.0

//! The data of a whole-file copy without the module: `FICLONE`, `copy_file_range(2)` or
//! `pread`/`pwrite` as the policy allows, segment by segment (SEEK_DATA/SEEK_HOLE) so that
//! holes stay holes.

use crate::{
    errors::{staged, Stage},
    options::{CopyOptions, Reflink},
    report::CopyPath,
    syscall,
};
use std::{
    fs::File,
    io,
    os::fd::{AsFd, BorrowedFd},
};

/// Bytes of one `copy_file_range(2)` call at most, between progress and cancel checks.
const CHUNK: u64 = 8 << 20;
/// The read/write buffer.
const RW_BUF: usize = 1 << 20;

/// What the data copy did.
pub(crate) struct Copied {
    /// The path the data took.
    pub(crate) path: CopyPath,
    /// Where the data stopped short of the size the source had when the copy began (it
    /// shrank), if it did.
    pub(crate) end: Option<u64>,
}

/// Copies the `len` bytes of `src` into `dst` by the paths `opts.reflink` allows, with
/// progress and cancel checks between chunks. Errors carry a [`Stage`].
pub(crate) fn copy(src: &File, dst: &File, len: u64, opts: &CopyOptions) -> io::Result<Copied> {
    let cloned = Copied {
        path: CopyPath::Ficlone,
        end: None,
    };
    match opts.reflink {
        Reflink::Always => {
            crate::ioctl::ficlone(dst.as_fd(), src.as_fd()).map_err(|e| staged(Stage::Clone, e))?;
            opts.report_progress(len, len);
            return Ok(cloned);
        }
        Reflink::Auto => {
            if crate::ioctl::ficlone(dst.as_fd(), src.as_fd()).is_ok() {
                opts.report_progress(len, len);
                return Ok(cloned);
            }
        }
        Reflink::Never => {}
    }
    // copy_file_range(2) may share extents on its own (btrfs, xfs, NFS, ...), so under
    // Never it is used only where the filesystem certainly cannot share.
    let cfr = match opts.reflink {
        Reflink::Auto => true,
        _ => cannot_share(src, dst),
    };
    copy_data(src.as_fd(), dst, len, cfr, opts).map_err(|e| staged(Stage::Copy, e))
}

/// Whether an error of `copy_file_range(2)` means it cannot do this here, and read/write
/// will: GNU cp's and Go's lists.
fn fallback_errno(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EXDEV)
            | Some(libc::EOPNOTSUPP)
            | Some(libc::EINVAL)
            | Some(libc::ENOSYS)
            | Some(libc::ENOTTY)
            | Some(libc::EBADF)
            | Some(libc::EPERM)
            | Some(libc::ETXTBSY)
    )
}

/// Whether both files are on one filesystem of a type that cannot share extents at all, so
/// that `copy_file_range(2)` there is certainly an independent copy.
fn cannot_share(src: &File, dst: &File) -> bool {
    const EXT_SUPER_MAGIC: i64 = 0xEF53;
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    match (syscall::fs_type(src.as_fd()), syscall::fs_type(dst.as_fd())) {
        (Ok(a), Ok(b)) => a == b && [EXT_SUPER_MAGIC, TMPFS_MAGIC, RAMFS_MAGIC].contains(&a),
        _ => false,
    }
}

/// `lseek(fd, off, whence)` for SEEK_DATA/SEEK_HOLE. `Ok(None)` for ENXIO: no data at or
/// after `off`.
fn seek(file: BorrowedFd<'_>, off: u64, whence: libc::c_int) -> io::Result<Option<u64>> {
    match syscall::lseek(file, off, whence) {
        Ok(r) => Ok(Some(r)),
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `pread(2)`, retried on EINTR.
fn pread(file: BorrowedFd<'_>, buf: &mut [u8], off: u64) -> io::Result<usize> {
    loop {
        match syscall::pread(file, buf, off) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// `pwrite(2)` of the whole buffer, retried on EINTR and short counts.
fn pwrite_all(file: BorrowedFd<'_>, mut buf: &[u8], mut off: u64) -> io::Result<()> {
    while !buf.is_empty() {
        let n = match syscall::pwrite(file, buf, off) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        buf = &buf[n..];
        off += n as u64;
    }
    Ok(())
}

/// Copies the data segments of the source (SEEK_DATA/SEEK_HOLE), leaving holes as holes:
/// with `copy_file_range(2)` while `cfr` holds and it works, else read/write.
fn copy_data(
    src: BorrowedFd<'_>,
    dst: &File,
    len: u64,
    mut cfr: bool,
    opts: &CopyOptions,
) -> io::Result<Copied> {
    let mut cfr_used = false;
    let mut end = None;
    let mut buf = Vec::new();
    let mut off = 0u64;
    'segments: while off < len {
        let data = match seek(src, off, libc::SEEK_DATA) {
            Ok(Some(d)) => d,
            Ok(None) => break,
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINVAL) | Some(libc::EOPNOTSUPP)
                ) =>
            {
                off
            }
            Err(e) => return Err(e),
        };
        if data >= len {
            break;
        }
        let hole = match seek(src, data, libc::SEEK_HOLE) {
            Ok(Some(h)) => h.min(len),
            _ => len,
        };
        let mut pos = data;
        while pos < hole {
            opts.check_cancel()?;
            let want = (hole - pos).min(CHUNK);
            if cfr {
                match syscall::copy_file_range(src, pos, dst.as_fd(), pos, want as usize) {
                    Ok(0) if !cfr_used => cfr = false,
                    Ok(0) => {
                        end = Some(pos);
                        break 'segments;
                    }
                    Ok(n) => {
                        cfr_used = true;
                        pos += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if fallback_errno(&e) => cfr = false,
                    Err(e) => return Err(e),
                }
            } else {
                if buf.is_empty() {
                    buf = vec![0u8; RW_BUF];
                }
                let want = (want as usize).min(buf.len());
                let n = pread(src, &mut buf[..want], pos)?;
                if n == 0 {
                    end = Some(pos);
                    break 'segments;
                }
                pwrite_all(dst.as_fd(), &buf[..n], pos)?;
                pos += n as u64;
            }
            opts.report_progress(pos, len);
        }
        off = hole;
    }
    let size = end.unwrap_or(len);
    dst.set_len(size)?;
    opts.report_progress(size, len);
    Ok(Copied {
        path: if cfr_used {
            CopyPath::CopyFileRange
        } else {
            CopyPath::ReadWrite
        },
        end,
    })
}
