// SPDX-License-Identifier: GPL-2.0

//! One `copy_range` call, from the ioctl's arguments to the bytes copied: the checks, in the
//! order `copy_file_range(2)` makes them so that the same inputs get the same errno, then the
//! implementation the destination's filesystem selects.

use kernel::prelude::*;

use crate::{
    data_copy::{
        copy_data,
        CopyControl,
        Progress, //
    },
    ops::{
        select,
        Request, //
    },
    range::{
        cap_per_call,
        check_wrap,
        clamp_to_eof,
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

/// The two files of a copy, looked up in the caller's descriptor table, and its policy.
pub(crate) struct Files {
    /// The source.
    pub(crate) src: CopyFile,
    /// The destination.
    pub(crate) dst: CopyFile,
    /// The sharing policy.
    pub(crate) policy: SharePolicy,
}

impl Files {
    /// Looks up both descriptors and decodes the flags, in `copy_file_range(2)`'s order:
    /// `EBADF` for the source, then the destination, then `EINVAL` for the flags.
    pub(crate) fn from_fds(src_fd: i32, dst_fd: i32, flags: u64) -> Result<Self> {
        let src = CopyFile::from_fd(src_fd)?;
        let dst = CopyFile::from_fd(dst_fd)?;
        let policy = SharePolicy::from_flags(flags)?;
        Ok(Self { src, dst, policy })
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
        let count = cap_per_call(checked.to_copy, dst.block_size());
        let ops = select(src, dst);
        let progress = match self.policy {
            SharePolicy::Forbid => copy_data(src, src_off, dst, dst_off, count, ctl),
            policy => {
                let req = Request {
                    src,
                    dst,
                    src_off,
                    dst_off,
                    count,
                    ends_at_eof_past_dst_eof: src_off + count as i64 == src.size()
                        && dst_off + count as i64 >= dst.size(),
                };
                if policy == SharePolicy::Allow {
                    ops.copy_allowing_sharing(&req, ctl)
                } else {
                    match ops.share(&req, src_off, dst_off, count, ctl) {
                        Ok(n) => Progress {
                            done: n,
                            shared: n,
                            ..Progress::default()
                        },
                        Err(e) => Progress {
                            error: Some(e),
                            ..Progress::default()
                        },
                    }
                }
            }
        };
        ops.stats().record(&progress);
        // Clones and a filesystem's own copies notify through the VFS calls that made them.
        let data = progress.done - progress.shared - progress.offloaded;
        if data > 0 {
            notify_copied(src, dst, data);
        }
        progress.into_result()
    }
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
/// - under `COPY_RANGE_SHARE_REQUIRE`, a filesystem that cannot share is `EOPNOTSUPP`, even for
///   a length of 0, so that callers can probe.
fn check(files: &Files, src_off: i64, dst_off: i64, len: u64) -> Result<Checked> {
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
    check_wrap(src_off, dst_off, len)?;
    let to_eof = clamp_to_eof(src_off, len, src.size());
    let mut to_copy = to_eof;
    if to_copy > 0 {
        write_check_limits(dst, dst_off, &mut to_copy)?;
    }
    if src.same_data(dst) && ranges_overlap(src_off, dst_off, to_copy) {
        return Err(EINVAL);
    }
    verify_area(src, false, src_off, to_copy)?;
    verify_area(dst, true, dst_off, to_copy)?;
    if files.policy == SharePolicy::Require {
        select(src, dst).can_share(src, dst)?;
        // The filesystem would refuse an unaligned range too, but only once the copy runs:
        // a job or a vector must fail here, before anything is copied.
        let ends_at_eof_past_dst_eof = src_off.wrapping_add(to_copy as i64) == src.size()
            && dst_off.wrapping_add(to_copy as i64) >= dst.size();
        let block = dst.block_size();
        if to_copy > 0
            && block > 0
            && !sharable_as_whole(
                src_off as u64,
                dst_off as u64,
                to_copy,
                block,
                ends_at_eof_past_dst_eof,
            )
        {
            return Err(EINVAL);
        }
    }
    Ok(Checked { to_eof, to_copy })
}
