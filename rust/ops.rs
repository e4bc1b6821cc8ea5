// SPDX-License-Identifier: GPL-2.0

//! The `copy_range` operation as a table of per-filesystem implementations.
//!
//! The RFC proposes `copy_range` as a new `file_operations` member. A module cannot add one, so
//! it models the member as this table: [`select`] picks the implementation by the destination's
//! filesystem, the way the VFS would call `file_out->f_op->copy_range`.
//!
//! An implementation states facts, not policy: whether these two files can share extents,
//! how to share a range, whether the filesystem copies ranges its own way and how. The sharing
//! policy is decided once, from those facts, in [`crate::policy`]. To add a filesystem, write a
//! [`CopyRangeOps`] implementation in a file of its own under `ops/`, give it a static and add it
//! to [`select`] and [`IMPLEMENTATIONS`].

use core::fmt;
use kernel::prelude::*;

use crate::{
    progress::CopyControl,
    stats::Stats,
    vfs::CopyFile, //
};

mod btrfs;
mod fs_copy;
mod generic;
mod remap;

/// A range of one copy: both files, the offsets in each and a length.
#[derive(Clone, Copy)]
pub(crate) struct Range<'a> {
    /// The source, open for reading.
    pub(crate) src: &'a CopyFile,
    /// The destination, open for writing.
    pub(crate) dst: &'a CopyFile,
    /// Offset in the source.
    pub(crate) src_off: i64,
    /// Offset in the destination.
    pub(crate) dst_off: i64,
    /// Bytes to copy from those offsets.
    pub(crate) len: u64,
}

impl<'a> Range<'a> {
    /// The `len` bytes that start `start` bytes into this range.
    pub(crate) fn part(&self, start: u64, len: u64) -> Range<'a> {
        Range {
            src_off: self.src_off + start as i64,
            dst_off: self.dst_off + start as i64,
            len,
            ..*self
        }
    }
}

/// What one filesystem can do for a copy beyond the data copy that every filesystem gets.
pub(crate) trait CopyRangeOps: Sync {
    /// Name in the counters table.
    fn name(&self) -> &'static str;

    /// The implementation's counters.
    fn stats(&self) -> &Stats;

    /// Whether these two files can share extents at all: `EXDEV` across filesystems,
    /// `EOPNOTSUPP` where they cannot. Asked before anything is copied.
    fn can_share(&self, _src: &CopyFile, _dst: &CopyFile) -> Result {
        Err(EOPNOTSUPP)
    }

    /// Shares up to `range.len` bytes, asking `ctl` between steps. Returns the bytes shared from
    /// the start of the range; an error only if none were.
    fn share(&self, _range: &Range<'_>, _ctl: &dyn CopyControl) -> Result<u64> {
        Err(EOPNOTSUPP)
    }

    /// Whether the filesystem copies ranges its own way (`->copy_file_range`: a server-side
    /// copy, or a stacked filesystem's), which `COPY_RANGE_SHARE_ALLOW` hands ranges to.
    fn can_offload(&self) -> bool {
        false
    }

    /// Lets the filesystem copy up to `range.len` bytes its own way, sharing or not. Returns the
    /// bytes done.
    fn offload(&self, _range: &Range<'_>) -> Result<u64> {
        Err(EOPNOTSUPP)
    }
}

/// Every implementation, for the counters.
pub(crate) static IMPLEMENTATIONS: [&dyn CopyRangeOps; 4] = [
    &btrfs::BTRFS,
    &remap::REMAP,
    &fs_copy::FS_COPY,
    &generic::GENERIC,
];

/// Picks the implementation for a copy from `src` to `dst`: the destination filesystem's own
/// (btrfs), else by what its file operations offer. A copy between two filesystems is generic,
/// unless both share one `->copy_file_range` (two NFS mounts), which the VFS allows.
pub(crate) fn select(src: &CopyFile, dst: &CopyFile) -> &'static dyn CopyRangeOps {
    if !src.same_sb(dst) {
        return if src.same_copy_file_range(dst) {
            &fs_copy::FS_COPY
        } else {
            &generic::GENERIC
        };
    }
    if dst.fs_name().to_bytes() == b"btrfs" {
        &btrfs::BTRFS
    } else if dst.has_copy_file_range() {
        &fs_copy::FS_COPY
    } else if dst.has_remap() {
        &remap::REMAP
    } else {
        &generic::GENERIC
    }
}

/// The contents of `/sys/kernel/debug/copy_range/stats`: one row per implementation.
pub(crate) struct StatsTable;

impl fmt::Debug for StatsTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Stats::write_header(f)?;
        for ops in IMPLEMENTATIONS {
            ops.stats().write_row(ops.name(), f)?;
        }
        Ok(())
    }
}
