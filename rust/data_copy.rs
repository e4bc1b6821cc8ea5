// SPDX-License-Identifier: GPL-2.0

//! The generic implementation's engine: a data copy inside the kernel, through the page cache
//! with `do_splice_direct()`, in bounded chunks, that keeps the source's holes.
//!
//! Every implementation falls back to it for what cannot be shared.

use kernel::prelude::*;

use crate::{
    range::{
        may_keep_a_hole,
        next_chunk, //
    },
    vfs::{
        splice_copy,
        CopyFile,
        HoleFinder, //
    },
};

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
/// `done` counts bytes whose final contents are in the destination: data written, and holes
/// left in place that the destination's size covers. It is exact after an interruption or an
/// error, which is what a caller resumes from.
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

/// Copies `count` bytes from `src` at `src_off` to `dst` at `dst_off`.
///
/// Where the destination range lies past the destination's end of file, holes of the source
/// are skipped and stay holes; below it, every byte is written, zeros included, since the old
/// contents must go. A range that ends in a hole gets its last byte written so that the
/// destination's size covers it.
pub(crate) fn copy_data(
    src: &CopyFile,
    src_off: i64,
    dst: &CopyFile,
    dst_off: i64,
    count: u64,
    ctl: &dyn CopyControl,
) -> Progress {
    let mut progress = Progress::default();
    let dst_eof = dst.size();
    // `count` is at most `MAX_RW_COUNT` and the offsets were checked not to wrap.
    let past_dst_eof = dst_off + count as i64 > dst_eof;
    // Without a hole finder the copy is simply dense: holes read as zeros.
    let mut holes = if past_dst_eof
        && may_keep_a_hole(dst_off as u64, count, dst.block_size())
        && src.may_have_holes()
    {
        HoleFinder::new(src).ok()
    } else {
        None
    };

    // Bytes of the range dealt with: written, or skipped as a hole.
    let mut pos = 0u64;
    while pos < count {
        if pos > 0 {
            if let Err(e) = ctl.keep_going() {
                progress.error = Some(e);
                return progress;
            }
        }
        let (s, d) = (src_off + pos as i64, dst_off + pos as i64);
        let mut len = next_chunk(count - pos);
        if d < dst_eof {
            // Stay dense up to the destination's EOF; the rest is handled past it.
            len = len.min((dst_eof - d) as u64);
        } else if let Some(finder) = &holes {
            match finder.next_data(s) {
                // Only a hole is left up to the source's EOF.
                Ok(None) => break,
                Ok(Some(data)) if data > s => {
                    pos = count.min(pos + (data - s) as u64);
                    continue;
                }
                Ok(Some(_)) => match finder.next_hole(s) {
                    Ok(hole) if hole > s => len = len.min((hole - s) as u64),
                    Ok(_) => {}
                    // Holes are an optimisation: a file that cannot say where they are (a FUSE
                    // file without seeking, say) is copied densely, never failed.
                    Err(_) => holes = None,
                },
                Err(_) => holes = None,
            }
        }
        match splice_copy(src, s, dst, d, len) {
            // The source was truncated under us: what is there is copied.
            Ok(0) => return progress,
            Ok(n) => {
                pos += n;
                progress.done = pos;
                ctl.progress(progress.done);
            }
            Err(e) => {
                progress.error = Some(e);
                return progress;
            }
        }
    }

    if progress.done < count {
        // The range ends in a hole that was skipped: give the destination its size by writing
        // the last byte (a zero, read from the hole).
        let last = count as i64 - 1;
        match splice_copy(src, src_off + last, dst, dst_off + last, 1) {
            Ok(1) => {
                progress.done = count;
                ctl.progress(progress.done);
            }
            Ok(_) => {}
            Err(e) => progress.error = Some(e),
        }
    }
    progress
}
