// SPDX-License-Identifier: GPL-2.0

//! Filesystems that share extents through `->remap_file_range` (xfs with reflink, ocfs2,
//! bcachefs...), and the sharing that every implementation with that method uses. The
//! filesystem itself refuses with `EOPNOTSUPP` where it cannot (xfs without reflink).

use kernel::prelude::*;

use super::{
    CopyRangeOps,
    Range, //
};
use crate::{
    progress::CopyControl,
    range::CLONE_STEP,
    stats::Stats,
    vfs::{
        clone_range,
        CopyFile, //
    },
};

/// The remap implementation.
pub(super) struct Remap {
    /// Its row of /sys/kernel/debug/copy_range/stats.
    stats: Stats,
}

/// The remap implementation's instance.
pub(super) static REMAP: Remap = Remap {
    stats: Stats::new(),
};

impl CopyRangeOps for Remap {
    fn name(&self) -> &'static str {
        "remap"
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }

    fn can_share(&self, src: &CopyFile, dst: &CopyFile) -> Result {
        can_remap(src, dst)
    }

    fn share(&self, range: &Range<'_>, ctl: &dyn CopyControl) -> Result<u64> {
        remap(range, ctl)
    }
}

/// Whether two files can share extents through `->remap_file_range`: same superblock, and the
/// destination's filesystem has the method (which may still refuse, see the RFC).
pub(super) fn can_remap(src: &CopyFile, dst: &CopyFile) -> Result {
    if !src.same_sb(dst) {
        return Err(EXDEV);
    }
    if !dst.has_remap() {
        return Err(EOPNOTSUPP);
    }
    Ok(())
}

/// Shares a range through `->remap_file_range`, [`CLONE_STEP`] at a time, asking `ctl` between
/// steps. Returns the bytes shared from the start of the range, exactly: each step reports how
/// far it got, or fails; an error is returned only if nothing was shared. When a step fails
/// after earlier ones succeeded, the count covers those, and the failed step's range may already
/// be partly shared (btrfs does not say how much): as with a short write, bytes past the count
/// hold either their old contents or the source's.
pub(super) fn remap(range: &Range<'_>, ctl: &dyn CopyControl) -> Result<u64> {
    let mut done = 0u64;
    while done < range.len {
        if done > 0 && ctl.keep_going().is_err() {
            break;
        }
        let step = range.part(done, (range.len - done).min(CLONE_STEP));
        match clone_range(&step) {
            Ok(n) => {
                done += n;
                ctl.progress(done);
                if n < step.len {
                    break;
                }
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}
