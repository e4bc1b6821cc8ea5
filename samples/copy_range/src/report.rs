// SPDX-License-Identifier: GPL-2.0

//! What a finished whole-file copy did: [`CopyReport`], and the [`CopyPath`] its data took.

#[cfg(doc)]
use crate::{CopyOptions, FileCopy, Reflink};
use std::time::Duration;

/// How the data got there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CopyPath {
    /// A `/dev/copy_range` job (or synchronous copies when no job could be submitted).
    Module,
    /// One `FICLONE`: every extent shared.
    Ficlone,
    /// `copy_file_range(2)` moved at least part of the data.
    CopyFileRange,
    /// `pread`/`pwrite` in this process (or nothing to move: an empty or all-hole file).
    ReadWrite,
}

/// What a finished copy did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyReport {
    /// The file's size.
    pub bytes: u64,
    /// Bytes of the destination's data extents (FIEMAP), where measured.
    pub bytes_mapped: Option<u64>,
    /// Bytes of the destination shared with another file. Measured with FIEMAP
    /// (`FIEMAP_EXTENT_SHARED`) on the destination when the filesystem supports it and
    /// [`CopyOptions::measure_sharing`] asks for it
    /// ([`shared_measured`](Self::shared_measured)); otherwise what the policy guarantees:
    /// `Some(0)` under [`Reflink::Never`], `None` (unknown) under the others.
    pub bytes_shared: Option<u64>,
    /// Whether `bytes_shared` was measured rather than inferred from the policy.
    pub shared_measured: bool,
    /// The path taken.
    pub path: CopyPath,
    /// Wall time from [`FileCopy::begin`] to the end of its [`FileCopy::commit`] (or of its
    /// part of [`FileCopy::commit_batch`]: up to its link).
    pub elapsed: Duration,
    /// Whether the destination was created as an unnamed `O_TMPFILE` (else a hidden name).
    pub unnamed_temp: bool,
}
