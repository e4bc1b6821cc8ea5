// SPDX-License-Identifier: GPL-2.0

//! The vocabulary every part of a copy shares: how far it got ([`Progress`]) and how its caller
//! steers it ([`CopyControl`]): a synchronous call stops for signals, a job for a cancel.

use kernel::prelude::*;

/// Lets the caller of a copy stop it between chunks and watch it progress.
pub(crate) trait CopyControl {
    /// Called before every chunk but the first: an error stops the copy (`EINTR` for a pending
    /// signal, `ECANCELED` for a cancelled job).
    fn keep_going(&self) -> Result;

    /// Called with the bytes completed so far, each time that number grows.
    fn progress(&self, _done: u64) {}
}

/// The control of a piece of a larger copy that starts `base` bytes into it: progress is
/// reported to the outer control counted from the start of the whole copy.
pub(crate) struct Offset<'a> {
    /// The control of the whole copy.
    pub(crate) outer: &'a dyn CopyControl,
    /// Bytes of the whole copy before this piece.
    pub(crate) base: u64,
}

impl CopyControl for Offset<'_> {
    fn keep_going(&self) -> Result {
        self.outer.keep_going()
    }

    fn progress(&self, done: u64) {
        self.outer.progress(self.base + done);
    }
}

/// A synchronous copy on behalf of the calling task: stops when a signal is pending.
pub(crate) struct Interruptible;

impl CopyControl for Interruptible {
    fn keep_going(&self) -> Result {
        if crate::vfs::signal_pending() {
            Err(EINTR)
        } else {
            Ok(())
        }
    }
}

/// How far a copy got.
///
/// `done` counts bytes whose final contents are in the destination: data written, extents
/// shared, and holes left in place that the destination's size covers. It is exact after an
/// interruption or an error, which is what a caller resumes from.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Progress {
    /// Bytes of the range completed, from its start.
    pub(crate) done: u64,
    /// Of those, bytes that share extents with the source.
    pub(crate) shared: u64,
    /// Of those, bytes the filesystem's own `->copy_file_range` did (sharing or not).
    pub(crate) offloaded: u64,
    /// Why the copy stopped before the end, if it did.
    pub(crate) error: Option<Error>,
}

impl Progress {
    /// The progress of a range shared all at once: `shared` bytes, or the error.
    pub(crate) fn shared(result: Result<u64>) -> Self {
        match result {
            Ok(n) => Self {
                done: n,
                shared: n,
                ..Self::default()
            },
            Err(e) => Self {
                error: Some(e),
                ..Self::default()
            },
        }
    }

    /// Bytes the module copied as data: what was neither shared nor done by the filesystem.
    pub(crate) fn copied(&self) -> u64 {
        self.done - self.shared - self.offloaded
    }

    /// The result a caller sees: the count if anything was done, else the error (or 0).
    pub(crate) fn into_result(self) -> Result<u64> {
        match (self.done, self.error) {
            (0, Some(e)) => Err(e),
            (done, _) => Ok(done),
        }
    }

    /// Adds the progress of a later piece of the same range.
    pub(crate) fn extend(&mut self, next: Progress) {
        self.done += next.done;
        self.shared += next.shared;
        self.offloaded += next.offloaded;
        self.error = next.error;
    }
}
