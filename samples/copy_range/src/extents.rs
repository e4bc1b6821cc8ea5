// SPDX-License-Identifier: GPL-2.0

//! What FIEMAP says of a file's extents: how many bytes are mapped, and how many of those are
//! shared with another file.

use crate::ioctl::{
    self, EXTENTS_PER_CALL, FIEMAP_EXTENT_LAST, FIEMAP_EXTENT_SHARED, FIEMAP_FLAG_SYNC,
};
use std::{io, os::fd::AsFd};

/// What FIEMAP says about a file's data extents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExtentSummary {
    /// Bytes in mapped extents (data, not holes; the last extent counts up to its block end).
    pub mapped: u64,
    /// Bytes of those extents flagged `FIEMAP_EXTENT_SHARED`: shared with another file.
    pub shared: u64,
}

/// Maps `file` with `FS_IOC_FIEMAP` (with `FIEMAP_FLAG_SYNC`, so delayed allocations count)
/// and adds up its mapped and shared bytes. `EOPNOTSUPP` on filesystems without FIEMAP (tmpfs).
pub fn fiemap_summary(file: &impl AsFd) -> io::Result<ExtentSummary> {
    let mut sum = ExtentSummary::default();
    let mut start = 0u64;
    loop {
        let buf = ioctl::fiemap(file.as_fd(), start, FIEMAP_FLAG_SYNC)?;
        let n = (buf.head.fm_mapped_extents as usize).min(EXTENTS_PER_CALL);
        if n == 0 {
            return Ok(sum);
        }
        let mut last = false;
        for e in &buf.extents[..n] {
            sum.mapped += e.fe_length;
            if e.fe_flags & FIEMAP_EXTENT_SHARED != 0 {
                sum.shared += e.fe_length;
            }
            last |= e.fe_flags & FIEMAP_EXTENT_LAST != 0;
            start = e.fe_logical + e.fe_length;
        }
        if last || n < EXTENTS_PER_CALL {
            return Ok(sum);
        }
    }
}
