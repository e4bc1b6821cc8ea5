// SPDX-License-Identifier: GPL-2.0

//! The btrfs reference implementation: forwards sharing to btrfs clone
//! (`btrfs_remap_file_range()`, through `vfs_clone_file_range()`).
//!
//! btrfs shares extents in units of its sector size, which is `s_blocksize`, and refuses to
//! share between a NOCOW file (`chattr +C`, no data checksums) and a checksummed one; saying so
//! before anything is copied is what it knows beyond any remap filesystem.

use kernel::prelude::*;

use super::{
    remap::{
        can_remap,
        remap, //
    },
    CopyRangeOps,
    Range, //
};
use crate::{
    progress::CopyControl,
    stats::Stats,
    vfs::CopyFile, //
};

/// The btrfs implementation.
pub(super) struct BtrfsClone {
    /// Its row of /sys/kernel/debug/copy_range/stats.
    stats: Stats,
}

/// The btrfs implementation's instance.
pub(super) static BTRFS: BtrfsClone = BtrfsClone {
    stats: Stats::new(),
};

impl CopyRangeOps for BtrfsClone {
    fn name(&self) -> &'static str {
        "btrfs"
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }

    fn can_share(&self, src: &CopyFile, dst: &CopyFile) -> Result {
        can_remap(src, dst)?;
        if src.nocow()? != dst.nocow()? {
            return Err(EOPNOTSUPP);
        }
        Ok(())
    }

    fn share(&self, range: &Range<'_>, ctl: &dyn CopyControl) -> Result<u64> {
        remap(range, ctl)
    }
}
