// SPDX-License-Identifier: GPL-2.0

//! `--stats`: the tally of copied files (bytes, extents shared and not, the path each
//! took) and the summary printed at the end.

use crate::progress::human;
use copy_range::{CopyPath, CopyReport};
use std::{collections::HashMap, time::Duration};

/// What the copied files add up to.
#[derive(Default)]
pub(crate) struct Stats {
    files: u64,
    bytes: u64,
    shared: u64,
    mapped: u64,
    unmeasured: u64,
    paths: HashMap<CopyPath, u64>,
}

impl Stats {
    /// Counts one file copied.
    pub(crate) fn record(&mut self, rep: CopyReport) {
        self.files += 1;
        self.bytes += rep.bytes;
        if rep.shared_measured {
            self.shared += rep.bytes_shared.unwrap_or(0);
            self.mapped += rep.bytes_mapped.unwrap_or(0);
        } else {
            self.unmeasured += 1;
        }
        *self.paths.entry(rep.path).or_default() += 1;
    }

    /// Prints the summary, three lines on standard output.
    pub(crate) fn print(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        println!(
            "crcp: {} files, {} in {:.2} s ({}/s)",
            self.files,
            human(self.bytes),
            secs,
            human((self.bytes as f64 / secs.max(1e-6)) as u64)
        );
        println!(
            "crcp: data extents {}: shared {}, not shared {} (FIEMAP on the destinations{})",
            human(self.mapped),
            human(self.shared),
            human(self.mapped.saturating_sub(self.shared)),
            if self.unmeasured > 0 {
                format!(
                    "; {} files on filesystems without FIEMAP not counted",
                    self.unmeasured
                )
            } else {
                String::new()
            }
        );
        let n = |p| self.paths.get(&p).copied().unwrap_or(0);
        println!(
            "crcp: paths: module {}, ficlone {}, copy_file_range {}, read/write {}",
            n(CopyPath::Module),
            n(CopyPath::Ficlone),
            n(CopyPath::CopyFileRange),
            n(CopyPath::ReadWrite)
        );
    }
}
