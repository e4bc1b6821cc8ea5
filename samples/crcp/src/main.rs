// SPDX-License-Identifier: GPL-2.0

//! `crcp`: cp with copy offload. See README.md beside this crate and `crcp --help`.
//!
//! This file holds the top-level flow: parse the command line ([`args::Options`]), open
//! `/dev/copy_range` if it can be, plan every source (making directories, symlinks and
//! special files on the way), copy the planned files, fix the directories' metadata, and
//! exit as cp does. Each step is given the options and the [`Outcome`] so far.

mod args;
mod dirs;
mod outcome;
mod plan;
mod progress;
mod report;
mod run;
mod signals;
mod special;
mod stats;
mod sys;

use args::{parse_args, Parsed};
use outcome::Outcome;
use plan::Planner;
use progress::{Bar, Counts};
use report::{errtext, quote};
use run::{run_module, run_threads};
use signals::{die_of_signal, install_signal_handlers, interrupted};
use std::{
    ffi::OsStr,
    fs,
    io::{self, IsTerminal},
    process::ExitCode,
    time::Instant,
};

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args_os().skip(1).collect()) {
        Parsed::Run(opts) => opts,
        Parsed::Exit(code) => return code,
    };
    let started = Instant::now();
    // Single-threaded here, as reading it requires.
    let umask = sys::umask();
    sys::raise_nofile_limit();
    let mut out = Outcome::new(Bar::new(io::stderr().is_terminal()));
    let target_is_dir = fs::metadata(&opts.target).is_ok_and(|m| m.is_dir());
    if opts.sources.len() > 1 && !target_is_dir {
        let target = quote(&opts.target);
        match fs::metadata(&opts.target) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                out.error(format!("target {target}: {}", errtext(&e)))
            }
            _ => out.error(format!("target {target} is not a directory")),
        }
        return ExitCode::FAILURE;
    }
    // The module before anything is made. It only speeds copies up: a node that is absent
    // (a stock kernel) or that cannot be opened (EACCES, EMFILE, ...) means the library's
    // other paths, as `--no-module` does; only `--stats` tells why.
    let dev = if opts.no_module {
        None
    } else {
        match copy_range::open_device() {
            Ok(d) => d,
            Err(e) => {
                out.stats.module_unavailable(format!(
                    "cannot open {}: {}",
                    copy_range::DEVICE_PATH,
                    errtext(&e)
                ));
                None
            }
        }
    };
    install_signal_handlers();
    let mut planner = Planner::new(&opts, umask, &mut out);
    for src in &opts.sources {
        let dst = if target_is_dir {
            let name = src
                .components()
                .next_back()
                .map(|c| c.as_os_str().to_os_string())
                .unwrap_or_else(|| OsStr::new(".").to_os_string());
            opts.target.join(name)
        } else {
            opts.target.clone()
        };
        planner.source(src, &dst);
        if interrupted() {
            break;
        }
    }
    let plan = planner.finish();
    // From here on, every way out goes through `fix_dirs`: the directories made with
    // working modes while planning get their final ones, also after a signal.
    out.counts = Counts {
        bytes_total: plan.files.iter().map(|t| t.size).sum(),
        files_total: plan.files.len() as u64,
        ..Counts::default()
    };
    if !interrupted() && !plan.files.is_empty() {
        match &dev {
            Some(dev) => run_module(dev, plan.files, &opts, &mut out),
            None => run_threads(plan.files, &opts, &mut out),
        }
    }
    dirs::fix_dirs(plan.dirs, opts.preserve, umask, &mut out);
    let sig = signals::signal();
    if sig != 0 {
        out.clear_progress();
        die_of_signal(sig);
    }
    out.end_progress();
    if opts.print_stats {
        out.stats.print(started.elapsed());
    }
    if out.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
