// SPDX-License-Identifier: GPL-2.0

//! Errors of the whole-file copies: each is an `io::Error` that wraps a [`StageError`], which
//! says at which [`Stage`] it happened, so that a tool can word its message the way cp does.

#[cfg(doc)]
use crate::{copyfile, Create, FileCopy};
use std::{fmt, io};

/// The step of a copy that failed, so that a tool can word its message the way cp does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Opening or examining the source (`cannot open 'a' for reading`).
    OpenSource,
    /// Source and destination are the same file.
    SameFile,
    /// Creating the destination's temporary file, or finding the destination existing under
    /// [`Create::Exclusive`] (`cannot create regular file 'b'`).
    CreateDestination,
    /// A required clone was refused (`failed to clone 'b' from 'a'`).
    Clone,
    /// Moving the data, or a cancel.
    Copy,
    /// Setting the permissions.
    Permissions,
    /// Setting the timestamps.
    Timestamps,
    /// Copying an extended attribute; [`StageError::detail`] names it.
    Xattr,
    /// Setting the owner.
    Ownership,
    /// `fsync(2)` of the destination (in a batch: `fsync(2)` after its filesystem's
    /// `syncfs(2)` failed, or the `fstat(2)` that finds its filesystem).
    Sync,
    /// Giving the complete copy its name (`EEXIST` under [`Create::Exclusive`]).
    Link,
}

/// An error with the [`Stage`] it happened in. Errors of this crate's whole-file functions are
/// `io::Error`s wrapping one: the kind is the underlying error's, the message is the
/// underlying error's; [`error_stage`] and [`error_errno`] get at the rest.
#[derive(Debug)]
pub struct StageError {
    /// Where it happened.
    pub stage: Stage,
    /// The error itself (usually an OS error).
    pub error: io::Error,
    /// More about where: the attribute's name for [`Stage::Xattr`].
    pub detail: Option<String>,
}

impl fmt::Display for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for StageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

pub(crate) fn staged(stage: Stage, error: io::Error) -> io::Error {
    if error.get_ref().is_some_and(|e| e.is::<StageError>()) {
        return error;
    }
    io::Error::new(
        error.kind(),
        StageError {
            stage,
            error,
            detail: None,
        },
    )
}

pub(crate) fn staged_detail(stage: Stage, error: io::Error, detail: &str) -> io::Error {
    io::Error::new(
        error.kind(),
        StageError {
            stage,
            error,
            detail: Some(detail.to_string()),
        },
    )
}

fn stage_error(e: &io::Error) -> Option<&StageError> {
    e.get_ref().and_then(|e| e.downcast_ref::<StageError>())
}

/// The [`Stage`] an error of [`copyfile`] or [`FileCopy`] happened in.
pub fn error_stage(e: &io::Error) -> Option<Stage> {
    stage_error(e).map(|s| s.stage)
}

/// The errno behind an error of this crate, looking through [`StageError`].
pub fn error_errno(e: &io::Error) -> Option<i32> {
    e.raw_os_error()
        .or_else(|| stage_error(e).and_then(|s| s.error.raw_os_error()))
}

pub(crate) fn errno(e: i32) -> io::Error {
    io::Error::from_raw_os_error(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_errors_keep_kind_errno_and_stage() {
        let e = staged(Stage::Clone, errno(libc::EOPNOTSUPP));
        assert_eq!(error_stage(&e), Some(Stage::Clone));
        assert_eq!(error_errno(&e), Some(libc::EOPNOTSUPP));
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        // Not wrapped twice.
        let e = staged(Stage::Copy, e);
        assert_eq!(error_stage(&e), Some(Stage::Clone));
        assert_eq!(e.to_string(), errno(libc::EOPNOTSUPP).to_string());
    }
}
