// SPDX-License-Identifier: GPL-2.0

//! Counters per implementation, shown in `/sys/kernel/debug/copy_range/stats` so that a test or
//! a reviewer can see which path served a copy and how many bytes it shared or copied.

use core::fmt;
use kernel::sync::atomic::{
    Atomic,
    Relaxed, //
};

use crate::progress::Progress;

/// The counters of one implementation. All are monotonic and updated without locks.
pub(crate) struct Stats {
    /// Calls that reached this implementation (after argument checks).
    calls: Atomic<u64>,
    /// Bytes that ended up sharing extents with the source.
    shared: Atomic<u64>,
    /// Bytes copied as data by the module (splice through the page cache).
    copied: Atomic<u64>,
    /// Bytes handed to the filesystem's own `->copy_file_range` (which may share or copy).
    offloaded: Atomic<u64>,
    /// Calls that returned an error (a short count after progress is not an error).
    errors: Atomic<u64>,
}

impl Stats {
    /// All counters at zero.
    pub(crate) const fn new() -> Self {
        Self {
            calls: Atomic::new(0),
            shared: Atomic::new(0),
            copied: Atomic::new(0),
            offloaded: Atomic::new(0),
            errors: Atomic::new(0),
        }
    }

    /// Records one finished call. Counters that would grow by 0 are left alone: every atomic
    /// operation on these shared counters is paid by every copy.
    pub(crate) fn record(&self, progress: &Progress) {
        let add = |counter: &Atomic<u64>, n: u64| {
            if n > 0 {
                counter.fetch_add(n, Relaxed);
            }
        };
        add(&self.calls, 1);
        add(&self.shared, progress.shared);
        add(&self.offloaded, progress.offloaded);
        add(&self.copied, progress.copied());
        if progress.done == 0 && progress.error.is_some() {
            add(&self.errors, 1);
        }
    }

    /// Writes the table's header line.
    pub(crate) fn write_header(f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<10} {:>10} {:>16} {:>16} {:>16} {:>10}",
            "impl", "calls", "bytes_shared", "bytes_copied", "bytes_offloaded", "errors"
        )
    }

    /// Writes one table row.
    pub(crate) fn write_row(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<10} {:>10} {:>16} {:>16} {:>16} {:>10}",
            name,
            self.calls.load(Relaxed),
            self.shared.load(Relaxed),
            self.copied.load(Relaxed),
            self.offloaded.load(Relaxed),
            self.errors.load(Relaxed),
        )
    }
}
