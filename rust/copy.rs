// SPDX-License-Identifier: GPL-2.0

//! One `copy_range` call, from the ioctl's arguments to the bytes copied: the checks, in the
//! order `copy_file_range(2)` makes them so that the same inputs get the same errno, then the
//! sharing policy ([`crate::policy`]) on the implementation the destination's filesystem
//! selects ([`crate::ops`]).

use kernel::prelude::*;

use crate::{
    ops::{
        select,
        CopyRangeOps,
        Range, //
    },
    policy,
    progress::CopyControl,
    range::{
        cap_per_call,
        check_wrap,
        clamp_to_eof,
        ends_at_eof_past_dst_eof,
        ranges_overlap,
        sharable_as_whole,
        SharePolicy, //
    },
    vfs::{
        notify_copied,
        verify_area,
        write_check_limits,
        CopyFile,
        InodeKind, //
    },
};

/// The two files of a copy, looked up in the caller's descriptor table, its policy and the
/// implementation that serves it.
pub(crate) struct Files {
    /// The file to read, open for reading (checked per range).
    pub(crate) src: CopyFile,
    /// The file to write, open for writing and without `O_APPEND` (checked per range).
    pub(crate) dst: CopyFile,
    /// What may happen to extents, from the call's flags.
    pub(crate) policy: SharePolicy,
    /// The implementation, selected once for the pair.
    ops: &'static dyn CopyRangeOps,
}

impl Files {
    /// Looks up both descriptors and decodes the flags, in `copy_file_range(2)`'s order:
    /// `EBADF` for the source, then the destination, then `EINVAL` for the flags.
    pub(crate) fn from_fds(src_fd: i32, dst_fd: i32, flags: u64) -> Result<Self> {
        let src = CopyFile::from_fd(src_fd)?;
        let dst = CopyFile::from_fd(dst_fd)?;
        let policy = SharePolicy::from_flags(flags)?;
        let ops = select(&src, &dst);
        Ok(Self {
            src,
            dst,
            policy,
            ops,
        })
    }

    /// The checks of one range that cannot block (see [`check_without_blocking`]): an error
    /// here is the error [`Files::copy`] would return.
    pub(crate) fn check_without_blocking(&self, src_off: i64, dst_off: i64, len: u64) -> Result {
        check_without_blocking(self, src_off, dst_off, len)
    }

    /// Checks one range without copying (see [`check`]). Returns the bytes a copy would cover:
    /// `len` clamped to the source's end of file.
    pub(crate) fn check(&self, src_off: i64, dst_off: i64, len: u64) -> Result<u64> {
        check(self, src_off, dst_off, len).map(|c| c.to_eof)
    }

    /// Checks and copies one range: at most `MAX_RW_COUNT` bytes, stopping between chunks when
    /// `ctl` says so. Returns the bytes copied.
    pub(crate) fn copy(
        &self,
        src_off: i64,
        dst_off: i64,
        len: u64,
        ctl: &dyn CopyControl,
    ) -> Result<u64> {
        let checked = check(self, src_off, dst_off, len)?;
        if checked.to_copy == 0 {
            return Ok(0);
        }
        let (src, dst) = (&self.src, &self.dst);
        let range = Range {
            src,
            dst,
            src_off,
            dst_off,
            len: cap_per_call(checked.to_copy, dst.block_size()),
        };
        let at_eof = ends_at_eof_past_dst_eof(src_off, dst_off, range.len, src.size(), dst.size());
        let progress = policy::copy(self.ops, self.policy, &range, at_eof, ctl);
        self.ops.stats().record(&progress);
        // Clones and a filesystem's own copies notify through the VFS calls that made them.
        if progress.copied() > 0 {
            notify_copied(src, dst, progress.copied());
        }
        progress.into_result()
    }
}

/// The first of [`check`]'s checks, in its order: those that read only the files' modes and
/// flags, so that they take no lock, do no I/O and call no security or fsnotify hook, and may
/// run where blocking is not allowed (an io_uring command's first issue).
fn check_without_blocking(files: &Files, src_off: i64, dst_off: i64, len: u64) -> Result {
    let (src, dst) = (&files.src, &files.dst);
    // generic_file_rw_checks()
    if src.kind() == InodeKind::Directory || dst.kind() == InodeKind::Directory {
        return Err(EISDIR);
    }
    if src.kind() != InodeKind::Regular || dst.kind() != InodeKind::Regular {
        return Err(EINVAL);
    }
    if !src.readable() || !dst.writable() || dst.append_only() {
        return Err(EBADF);
    }
    if src.on_pseudo_fs() || dst.on_pseudo_fs() {
        return Err(EINVAL);
    }
    if files.policy == SharePolicy::Require && !src.same_sb(dst) {
        return Err(EXDEV);
    }
    if dst.immutable() {
        return Err(EPERM);
    }
    if src.swapfile() || dst.swapfile() {
        return Err(ETXTBSY);
    }
    check_wrap(src_off, dst_off, len)
}

/// The counts a checked range yields.
struct Checked {
    /// `len` clamped to the source's end of file.
    to_eof: u64,
    /// That, shortened to the destination's file-size limits: what to copy now.
    to_copy: u64,
}

/// The checks of `generic_copy_file_checks()` and `rw_verify_area()`, in their order, with the
/// differences `copy_range` makes on purpose (see `Documentation/copy_range.rst`):
///
/// - copies across filesystems are allowed, except under `COPY_RANGE_SHARE_REQUIRE` (`EXDEV`);
/// - a file on a pseudo filesystem (procfs, sysfs...) is `EINVAL`, never a 0-byte success;
/// - overlapping ranges of the same data are `EINVAL` also through two superblocks (an
///   overlayfs file and the file below it);
/// - under `COPY_RANGE_SHARE_REQUIRE`, a filesystem that cannot share is `EOPNOTSUPP`, even for
///   a length of 0, so that callers can probe, and a range it could not share whole is `EINVAL`
///   before anything is copied.
fn check(files: &Files, src_off: i64, dst_off: i64, len: u64) -> Result<Checked> {
    check_without_blocking(files, src_off, dst_off, len)?;
    let (src, dst) = (&files.src, &files.dst);
    let to_eof = clamp_to_eof(src_off, len, src.size());
    let mut to_copy = to_eof;
    if to_copy > 0 {
        write_check_limits(dst, dst_off, &mut to_copy)?;
    }
    if ranges_overlap(src_off, dst_off, to_copy) && src.same_data(dst) {
        return Err(EINVAL);
    }
    verify_area(src, false, src_off, to_copy)?;
    verify_area(dst, true, dst_off, to_copy)?;
    if files.policy == SharePolicy::Require {
        files.ops.can_share(src, dst)?;
        // The filesystem would refuse an unaligned range too, but only once the copy runs:
        // a job or a vector must fail here, before anything is copied.
        let at_eof = ends_at_eof_past_dst_eof(src_off, dst_off, to_copy, src.size(), dst.size());
        let block = dst.block_size();
        if to_copy > 0
            && block > 0
            && !sharable_as_whole(src_off as u64, dst_off as u64, to_copy, block, at_eof)
        {
            return Err(EINVAL);
        }
    }
    Ok(Checked { to_eof, to_copy })
}
