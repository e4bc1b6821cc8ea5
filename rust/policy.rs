// SPDX-License-Identifier: GPL-2.0

//! The sharing policy: what one checked call does with its range, decided here and only here
//! from the facts the destination's implementation states ([`CopyRangeOps`]).
//!
//! - No flag: an independent copy, always the module's own data copy; a filesystem's sharing or
//!   copy method is never called, since it might share.
//! - `COPY_RANGE_SHARE_ALLOW`: a filesystem with a copy of its own does the range (in chunks,
//!   falling back to the data copy if it declines before any progress); one that can share
//!   these two files shares the block-aligned body and the module copies the unaligned head and
//!   tail, so the caller gets the whole count in one call; anything else is a data copy.
//! - `COPY_RANGE_SHARE_REQUIRE`: the range is shared, or nothing happens (the checks made sure
//!   that the files can share and the range is aligned before this runs).

use kernel::prelude::*;

use crate::{
    data_copy::copy_data,
    ops::{
        CopyRangeOps,
        Range, //
    },
    progress::{
        CopyControl,
        Offset,
        Progress, //
    },
    range::{
        split_for_sharing,
        SharePolicy,
        OFFLOAD_CHUNK, //
    },
};

/// Copies `range` (checked, capped, not empty) as `policy` says, on `ops`' filesystem.
/// `ends_at_eof_past_dst_eof`: the range ends at the source's end of file and at or past the
/// destination's, so its partial last block may be shared.
pub(crate) fn copy(
    ops: &dyn CopyRangeOps,
    policy: SharePolicy,
    range: &Range<'_>,
    ends_at_eof_past_dst_eof: bool,
    ctl: &dyn CopyControl,
) -> Progress {
    match policy {
        SharePolicy::Forbid => copy_data(range, ctl),
        SharePolicy::Require => Progress::shared(ops.share(range, ctl)),
        SharePolicy::Allow if ops.can_offload() => offload(ops, range, ctl),
        SharePolicy::Allow if ops.can_share(range.src, range.dst).is_ok() => {
            share_body(ops, range, ends_at_eof_past_dst_eof, ctl)
        }
        SharePolicy::Allow => copy_data(range, ctl),
    }
}

/// Hands the range to the filesystem's own copy, [`OFFLOAD_CHUNK`] at a time, asking `ctl`
/// between chunks. A filesystem that declines (`EOPNOTSUPP`, `EXDEV`) before any progress gets
/// the module's data copy instead.
fn offload(ops: &dyn CopyRangeOps, range: &Range<'_>, ctl: &dyn CopyControl) -> Progress {
    let mut progress = Progress::default();
    while progress.done < range.len {
        if progress.done > 0 {
            if let Err(e) = ctl.keep_going() {
                progress.error = Some(e);
                break;
            }
        }
        let chunk = range.part(
            progress.done,
            (range.len - progress.done).min(OFFLOAD_CHUNK),
        );
        match ops.offload(&chunk) {
            Ok(0) => break,
            Ok(n) => {
                progress.done += n;
                ctl.progress(progress.done);
            }
            Err(e) if progress.done == 0 && (e == EOPNOTSUPP || e == EXDEV) => {
                return copy_data(range, ctl);
            }
            Err(e) => {
                progress.error = Some(e);
                break;
            }
        }
    }
    progress.offloaded = progress.done;
    progress
}

/// Shares the block-aligned body of the range and copies the unaligned head and tail. A body the
/// filesystem declines to share (btrfs for inline extents, say) is copied: "share where you can".
fn share_body(
    ops: &dyn CopyRangeOps,
    range: &Range<'_>,
    ends_at_eof_past_dst_eof: bool,
    ctl: &dyn CopyControl,
) -> Progress {
    let split = split_for_sharing(
        range.src_off as u64,
        range.dst_off as u64,
        range.len,
        range.dst.block_size(),
        ends_at_eof_past_dst_eof,
    );
    let mut progress = copy_data(&range.part(0, split.head), ctl);
    if progress.done < split.head {
        return progress;
    }
    if split.body > 0 {
        let body = range.part(split.head, split.body);
        let body_ctl = Offset {
            outer: ctl,
            base: split.head,
        };
        match ops.share(&body, &body_ctl) {
            Ok(n) => progress.extend(Progress::shared(Ok(n))),
            Err(e) if e == EOPNOTSUPP || e == EINVAL || e == EXDEV => {
                progress.extend(copy_data(&body, &body_ctl))
            }
            Err(e) => {
                progress.error = Some(e);
                return progress;
            }
        }
        if progress.done < split.head + split.body {
            return progress;
        }
    }
    if split.tail > 0 {
        let at = split.head + split.body;
        let tail_ctl = Offset {
            outer: ctl,
            base: at,
        };
        progress.extend(copy_data(&range.part(at, split.tail), &tail_ctl));
    }
    progress
}
