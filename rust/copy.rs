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
        CopyRangeOps,
        Request, //
    },
    range::{
        cap_per_call,
        check_wrap,
        clamp_to_eof,
        ranges_overlap,
        SharePolicy, //
    },
    uapi::CopyRangeArgs,
    vfs::{
        verify_area,
        write_check_limits,
        CopyFile,
        InodeKind, //
    },
};

/// Copies as `args` asks, stopping between chunks when `ctl` says so. Returns the bytes copied.
pub(crate) fn copy_range(args: &CopyRangeArgs, ctl: &dyn CopyControl) -> Result<u64> {
    let src = CopyFile::from_fd(args.src_fd)?;
    let dst = CopyFile::from_fd(args.dst_fd)?;
    let policy = SharePolicy::from_flags(args.flags)?;
    // `loff_t`, as `copy_file_range(2)` reads its offsets.
    let (src_off, dst_off) = (args.src_off as i64, args.dst_off as i64);

    let ops = select(&src, &dst);
    let Some(req) = check(&src, &dst, src_off, dst_off, args.len, policy, ops)? else {
        return Ok(0);
    };
    let progress = match policy {
        SharePolicy::Forbid => copy_data(&src, src_off, &dst, dst_off, req.count, ctl),
        SharePolicy::Allow => ops.copy_allowing_sharing(&req, ctl),
        SharePolicy::Require => match ops.share(&req, src_off, dst_off, req.count) {
            Ok(n) => Progress {
                done: n,
                shared: n,
                ..Progress::default()
            },
            Err(e) => Progress {
                error: Some(e),
                ..Progress::default()
            },
        },
    };
    ops.stats().record(&progress);
    progress.into_result()
}

/// The checks of `generic_copy_file_checks()` and `rw_verify_area()`, in their order, with the
/// differences `copy_range` makes on purpose (see `Documentation/`):
///
/// - copies across filesystems are allowed, except under `COPY_RANGE_SHARE_REQUIRE` (`EXDEV`);
/// - a file on a pseudo filesystem (procfs, sysfs...) is `EINVAL`, never a 0-byte success;
/// - under `COPY_RANGE_SHARE_REQUIRE`, a filesystem that cannot share is `EOPNOTSUPP`, even for
///   a length of 0, so that callers can probe.
///
/// Returns `None` when there is nothing to copy (length 0, or the source offset at or past EOF).
fn check<'a>(
    src: &'a CopyFile,
    dst: &'a CopyFile,
    src_off: i64,
    dst_off: i64,
    len: u64,
    policy: SharePolicy,
    ops: &dyn CopyRangeOps,
) -> Result<Option<Request<'a>>> {
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
    if policy == SharePolicy::Require && !src.same_sb(dst) {
        return Err(EXDEV);
    }
    if dst.immutable() {
        return Err(EPERM);
    }
    if src.swapfile() || dst.swapfile() {
        return Err(ETXTBSY);
    }
    check_wrap(src_off, dst_off, len)?;
    let mut count = clamp_to_eof(src_off, len, src.size());
    if count > 0 {
        write_check_limits(dst, dst_off, &mut count)?;
    }
    if src.same_inode(dst) && ranges_overlap(src_off, dst_off, count) {
        return Err(EINVAL);
    }
    verify_area(src, false, src_off, count)?;
    verify_area(dst, true, dst_off, count)?;
    if policy == SharePolicy::Require {
        ops.can_share(src, dst)?;
    }
    if count == 0 {
        return Ok(None);
    }

    let count = cap_per_call(count, dst.block_size());
    let ends_at_eof_past_dst_eof =
        src_off + count as i64 == src.size() && dst_off + count as i64 >= dst.size();
    Ok(Some(Request {
        src,
        dst,
        src_off,
        dst_off,
        count,
        ends_at_eof_past_dst_eof,
    }))
}
