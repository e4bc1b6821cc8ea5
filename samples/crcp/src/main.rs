// SPDX-License-Identifier: GPL-2.0

//! `crcp`: cp with copy offload. See README.md beside this crate and `crcp --help`.
//!
//! This file holds the top-level flow: parse the command line ([`args::Options`]), open
//! `/dev/copy_range` if it can be and pick the engine that keeps copies in flight, plan every
//! source (making directories, symlinks and special files on the way), copy the planned
//! files, fix the directories' metadata, and exit as cp does. Each step is given the options
//! and the [`Outcome`] so far.

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

use args::{parse_args, Engine, Options, Parsed};
use copy_range::{CopyRange, CopyRing};
use outcome::Outcome;
use plan::Planner;
use progress::{Bar, Counts};
use report::{errtext, quote};
use run::{run_module, run_ring, run_threads};
use signals::{die_of_signal, install_signal_handlers, interrupted};
use std::{
    ffi::OsStr,
    fs,
    io::{self, IsTerminal},
    process::ExitCode,
    time::Instant,
};

/// The engine picked, with what it runs on.
enum Running {
    Ring(Box<CopyRing>),
    Jobs(CopyRange),
    /// With the module's synchronous copies, or the library's fallback.
    Sync(Option<CopyRange>),
}

/// Bytes one io_uring request copies at most: progress moves in steps of this (a cancel
/// stops a copy at the module's next chunk whatever it is).
const RING_REQUEST: u64 = 64 << 20;

/// The engine `--engine` asks for, or the best there is: the ring where the kernel and the
/// module have io_uring commands, else jobs, and synchronous copies (the fallback's) without
/// the module. `None` after saying why an engine asked for cannot be had.
fn pick_engine(opts: &Options, dev: Option<CopyRange>, out: &mut Outcome) -> Option<Running> {
    let ring = |dev: &CopyRange| {
        let cap = u32::try_from(opts.copies_in_flight).unwrap_or(u32::MAX);
        CopyRing::new(dev, cap).map(|mut r| {
            r.set_max_request(RING_REQUEST);
            r
        })
    };
    let running = match (opts.engine, dev) {
        (Some(Engine::Sync), dev) => Running::Sync(dev),
        (Some(Engine::Jobs), Some(dev)) => Running::Jobs(dev),
        (Some(Engine::Ring), Some(dev)) => match ring(&dev) {
            Ok(r) => Running::Ring(Box::new(r)),
            Err(e) => {
                out.error(format!(
                    "--engine=ring: cannot use io_uring: {}",
                    errtext(&e)
                ));
                return None;
            }
        },
        (Some(e), None) => {
            out.error(format!(
                "--engine={}: {} is not available",
                e.name(),
                copy_range::DEVICE_PATH
            ));
            return None;
        }
        (None, Some(dev)) => match ring(&dev) {
            Ok(r) => Running::Ring(Box::new(r)),
            Err(e) => {
                out.stats
                    .engine("jobs", Some(format!("io_uring: {}", errtext(&e))));
                return Some(Running::Jobs(dev));
            }
        },
        (None, None) => Running::Sync(None),
    };
    match &running {
        Running::Ring(_) => out.stats.engine("ring", None),
        Running::Jobs(_) => out.stats.engine("jobs", None),
        Running::Sync(Some(_)) => out.stats.engine("sync", None),
        Running::Sync(None) => out
            .stats
            .engine("sync", Some("without the module".to_string())),
    }
    Some(running)
}

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
    let Some(mut engine) = pick_engine(&opts, dev, &mut out) else {
        return ExitCode::FAILURE;
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
        match &mut engine {
            Running::Ring(ring) => run_ring(ring, plan.files, &opts, &mut out),
            Running::Jobs(dev) => run_module(dev, plan.files, &opts, &mut out),
            Running::Sync(dev) => run_threads(dev.as_ref(), plan.files, &opts, &mut out),
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
