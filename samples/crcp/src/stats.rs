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
    /// Why `/dev/copy_range` is not used though it may be there (not for a plain absence).
    module_note: Option<String>,
    /// The engine that kept the copies in flight, and why a better one was not used.
    engine: Option<(&'static str, Option<String>)>,
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

    /// Records why the module could not be used (an error other than its absence).
    pub(crate) fn module_unavailable(&mut self, why: String) {
        self.module_note = Some(why);
    }

    /// Records the engine (`--engine`'s name for it) and why a better one was not used.
    pub(crate) fn engine(&mut self, name: &'static str, why_not_better: Option<String>) {
        self.engine = Some((name, why_not_better));
    }

    /// Prints the summary, three lines on standard output, one naming the engine (if any
    /// file was to be copied), and one saying why the module was not used if it could not
    /// be opened.
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
        if let Some((name, why)) = &self.engine {
            match why {
                Some(why) => println!("crcp: engine: {name} ({why})"),
                None => println!("crcp: engine: {name}"),
            }
        }
        if let Some(why) = &self.module_note {
            println!("crcp: module not used: {why}");
        }
    }
}
