// SPDX-License-Identifier: GPL-2.0

//! Everything else (ext4, tmpfs, ...), and every copy across filesystems that do not share a
//! copy method: nothing beyond the data copy.

use super::CopyRangeOps;
use crate::stats::Stats;

/// The data-copy implementation.
pub(super) struct Generic {
    /// Its row of /sys/kernel/debug/copy_range/stats.
    stats: Stats,
}

/// The one instance, in [`super::IMPLEMENTATIONS`] and chosen by [`super::select`].
pub(super) static GENERIC: Generic = Generic {
    stats: Stats::new(),
};

impl CopyRangeOps for Generic {
    fn name(&self) -> &'static str {
        "generic"
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }
}
