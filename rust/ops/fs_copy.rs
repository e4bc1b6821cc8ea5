// SPDX-License-Identifier: GPL-2.0

//! Filesystems with their own `->copy_file_range`: NFS (server-side COPY), CIFS (copychunk),
//! FUSE, ceph, overlayfs. Under `COPY_RANGE_SHARE_ALLOW` the copy is theirs to do, sharing or
//! not; an independent copy (no flag) never reaches them. They share through
//! `->remap_file_range` where they have it (NFS CLONE, overlayfs).

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
    vfs::{
        fs_copy,
        CopyFile, //
    },
};

/// The implementation for filesystems with a copy of their own.
pub(super) struct FsCopy {
    /// Its row of /sys/kernel/debug/copy_range/stats.
    stats: Stats,
}

/// The one instance, in [`super::IMPLEMENTATIONS`] and chosen by [`super::select`].
pub(super) static FS_COPY: FsCopy = FsCopy {
    stats: Stats::new(),
};

impl CopyRangeOps for FsCopy {
    fn name(&self) -> &'static str {
        "fs_copy"
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

    fn can_offload(&self) -> bool {
        true
    }

    fn offload(&self, range: &Range<'_>) -> Result<u64> {
        fs_copy(range)
    }
}
