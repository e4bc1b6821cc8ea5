// SPDX-License-Identifier: GPL-2.0

//! `crcp`: cp with copy offload. See README.md beside this crate and `crcp --help`.
//!
//! This file holds the top-level flow: parse the command line, open `/dev/copy_range` if
//! it can be, plan every source (making directories, symlinks and special files on the
//! way), copy the planned files, fix the directories' metadata, and exit as cp does.

mod args;
mod dirs;
mod plan;
mod progress;
mod report;
mod run;
mod signals;
mod special;
mod stats;
mod sys;

use args::{parse_args, Opts, Parsed};
use plan::{DirFix, FileTask};
use progress::{Bar, Counts};
use report::{errtext, quote};
use run::{run_module, run_threads};
use signals::{die_of_signal, install_signal_handlers, interrupted};
use stats::Stats;
use std::{
    ffi::OsStr,
    fs,
    io::{self, IsTerminal},
    process::ExitCode,
    sync::Arc,
    time::Instant,
};

/// One run of crcp: its options, what the plan found, the bar, and the outcome so far.
/// Each module adds the methods for its part.
struct Crcp {
    o: Opts,
    umask: u32,
    failed: bool,
    files: Vec<FileTask>,
    dirs: Vec<DirFix>,
    bar: Arc<Bar>,
    stats: Stats,
}

impl Crcp {
    fn new(o: Opts, umask: u32, bar: Arc<Bar>) -> Crcp {
        Crcp {
            o,
            umask,
            failed: false,
            files: Vec::new(),
            dirs: Vec::new(),
            bar,
            stats: Stats::default(),
        }
    }

    /// A run of `crcp ARGS` (umask 022, no progress bar), for unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(args: &[&str]) -> Crcp {
        match parse_args(args.iter().map(std::ffi::OsString::from).collect()) {
            Parsed::Run(o) => Crcp::new(o, 0o022, Arc::new(Bar::new(false))),
            Parsed::Exit(_) => panic!("{args:?} did not parse"),
        }
    }
}

fn main() -> ExitCode {
    let o = match parse_args(std::env::args_os().skip(1).collect()) {
        Parsed::Run(o) => o,
        Parsed::Exit(code) => return code,
    };
    let started = Instant::now();
    // SAFETY: Reads the umask (single-threaded here).
    let umask = unsafe {
        let m = libc::umask(0);
        libc::umask(m);
        m
    };
    sys::raise_nofile_limit();
    let bar = Arc::new(Bar::new(io::stderr().is_terminal()));
    let mut c = Crcp::new(o, umask as u32, bar);
    let mut operands = c.o.operands.clone();
    let dst = operands.pop().expect("two operands");
    let dst_is_dir = fs::metadata(&dst).is_ok_and(|m| m.is_dir());
    if operands.len() > 1 && !dst_is_dir {
        match fs::metadata(&dst) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                c.error(format!("target {}: {}", quote(&dst), errtext(&e)))
            }
            _ => c.error(format!("target {} is not a directory", quote(&dst))),
        }
        return ExitCode::FAILURE;
    }
    // The module before anything is made. It only speeds copies up: a node that is absent
    // (a stock kernel) or that cannot be opened (EACCES, EMFILE, ...) means the library's
    // other paths, as `--no-module` does; only `--stats` tells why.
    let dev = if c.o.no_module {
        None
    } else {
        match copy_range::open_device() {
            Ok(d) => d,
            Err(e) => {
                c.stats.module_unavailable(format!(
                    "cannot open {}: {}",
                    copy_range::DEVICE_PATH,
                    errtext(&e)
                ));
                None
            }
        }
    };
    install_signal_handlers();
    for src in &operands {
        let target = if dst_is_dir {
            let name = src
                .components()
                .next_back()
                .map(|c| c.as_os_str().to_os_string())
                .unwrap_or_else(|| OsStr::new(".").to_os_string());
            dst.join(name)
        } else {
            dst.clone()
        };
        c.plan(src, &target);
        if interrupted() {
            break;
        }
    }
    // From here on, every way out goes through `fix_dirs`: the directories made with
    // working modes while planning get their final ones, also after a signal.
    let tasks = std::mem::take(&mut c.files);
    let mut counts = Counts {
        bytes_total: tasks.iter().map(|t| t.size).sum(),
        files_total: tasks.len() as u64,
        ..Counts::default()
    };
    if !interrupted() && !tasks.is_empty() {
        match &dev {
            Some(dev) => run_module(&mut c, dev, tasks, &mut counts),
            None => run_threads(&mut c, tasks, &mut counts),
        }
    }
    c.fix_dirs();
    let sig = signals::signal();
    if sig != 0 {
        c.bar.clear();
        die_of_signal(sig);
    }
    c.bar.draw(&counts, true);
    c.bar.clear();
    if c.o.stats {
        c.stats.print(started.elapsed());
    }
    if c.failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
