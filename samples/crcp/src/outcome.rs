// SPDX-License-Identifier: GPL-2.0

//! How the run is going, passed to every step that can fail or finish a file: whether
//! anything failed (the exit status), the counts the progress bar shows, and the tally for
//! `--stats`. Error messages go out through it, past the progress bar.

use crate::{
    plan::FileTask,
    progress::{Bar, Counts},
    report::file_message,
    signals::interrupted,
    stats::Stats,
};
use copy_range::{error_errno, error_stage, CopyReport, Stage};
use std::io;

/// The outcome of the run so far.
pub(crate) struct Outcome {
    bar: Bar,
    failed: bool,
    /// Files and bytes done, of how many.
    pub(crate) counts: Counts,
    /// What the copied files add up to, for `--stats`.
    pub(crate) stats: Stats,
}

impl Outcome {
    /// Nothing done yet; progress drawn on `bar`.
    pub(crate) fn new(bar: Bar) -> Outcome {
        Outcome {
            bar,
            failed: false,
            counts: Counts::default(),
            stats: Stats::default(),
        }
    }

    /// An outcome without a progress bar, for unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests() -> Outcome {
        Outcome::new(Bar::new(false))
    }

    /// Prints `crcp: MSG` on standard error (clearing the progress bar first) and remembers
    /// the failure for the exit status.
    pub(crate) fn error(&mut self, msg: String) {
        self.bar.message(&format!("crcp: {msg}"));
        self.failed = true;
    }

    /// Whether anything failed: exit status 1.
    pub(crate) fn failed(&self) -> bool {
        self.failed
    }

    /// Counts one planned file as done, whatever became of it, and reports its outcome `r`:
    /// its report is tallied, its error printed in cp's words, but for a copy cancelled by a
    /// signal and, under `-n` (`no_clobber`), a destination that turned out to exist.
    pub(crate) fn file_done(
        &mut self,
        task: &FileTask,
        r: io::Result<CopyReport>,
        no_clobber: bool,
    ) {
        self.counts.files_done += 1;
        self.counts.bytes_done += task.size;
        match r {
            Ok(rep) => self.stats.record(rep),
            Err(e) => {
                let errno = error_errno(&e);
                if errno == Some(libc::ECANCELED) && interrupted() {
                    return;
                }
                let stage = error_stage(&e);
                if no_clobber
                    && errno == Some(libc::EEXIST)
                    && matches!(stage, Some(Stage::CreateDestination) | Some(Stage::Link))
                {
                    return;
                }
                self.error(file_message(&task.src, &task.dst, &e));
            }
        }
    }

    /// Redraws the progress bar (at most every 100 ms), with `in_flight` bytes copied by files
    /// not yet done.
    pub(crate) fn draw_progress(&self, in_flight: u64) {
        self.bar.draw(
            &Counts {
                bytes_done: self.counts.bytes_done + in_flight,
                ..self.counts
            },
            false,
        );
    }

    /// Draws the progress bar a last time, then removes it.
    pub(crate) fn end_progress(&self) {
        self.bar.draw(&self.counts, true);
        self.bar.clear();
    }

    /// Removes the progress bar from the screen.
    pub(crate) fn clear_progress(&self) {
        self.bar.clear();
    }
}
