// SPDX-License-Identifier: GPL-2.0

//! The command line: cp's options and operands parsed into [`Options`], `--help` and
//! `--version`, and cp's usage errors.

use crate::report::quote;
use copy_range::{Preserve, Reflink};
use std::{ffi::OsString, os::unix::ffi::OsStrExt, path::PathBuf, process::ExitCode};

const USAGE: &str = "\
Usage: crcp [OPTION]... SOURCE DEST
  or:  crcp [OPTION]... SOURCE... DIRECTORY
Copy SOURCE to DEST, or multiple SOURCEs to DIRECTORY, with copy offload
(/dev/copy_range through io_uring, or as jobs, when the module is loaded;
FICLONE, copy_file_range(2) or read/write otherwise). Every destination file
is written unnamed and linked in only when complete: an interrupted crcp
leaves no partial file.

  -R, -r, --recursive      copy directories recursively (symlinks are copied
                           as symlinks, not followed)
  -a, --archive            same as -R --preserve=all
      --reflink[=WHEN]     when to share extents: auto (default), always
                           (share or fail), never (an independent copy);
                           --reflink alone means always
  -p                       same as --preserve=mode,ownership,timestamps
      --preserve[=LIST]    keep attributes: mode, ownership, timestamps,
                           xattr, all (default: mode,ownership,timestamps)
  -n, --no-clobber         do not overwrite an existing file (skip it)
  -j, --jobs=N             copies in flight (default: 4 x CPUs, at most 16)
      --stats              print bytes shared and copied (measured with
                           FIEMAP on the destinations), paths and wall time
      --no-module          do not use /dev/copy_range even if present
      --engine=ENGINE      how to keep copies in flight: ring (io_uring),
                           jobs (module jobs), sync (threads making
                           synchronous calls); default: ring where the
                           kernel and module have it, else jobs, and sync
                           without the module
      --help               display this help and exit
      --version            output version information and exit
";

/// What the command line asks for.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// `-R`: copy directories and what is in them.
    pub(crate) recursive: bool,
    /// `--reflink`: the sharing policy of every file copy.
    pub(crate) reflink: Reflink,
    /// `-p`, `--preserve`, `-a`: the metadata to keep.
    pub(crate) preserve: Preserve,
    /// `-n`: an existing destination is kept, silently.
    pub(crate) no_clobber: bool,
    /// `-j`: how many files are being copied at once at most.
    pub(crate) copies_in_flight: usize,
    /// `--stats`: print the summary at the end.
    pub(crate) print_stats: bool,
    /// `--no-module`: never use `/dev/copy_range`.
    pub(crate) no_module: bool,
    /// `--engine`: how copies are kept in flight; `None` for the best there is.
    pub(crate) engine: Option<Engine>,
    /// The operands but the last: what to copy.
    pub(crate) sources: Vec<PathBuf>,
    /// The last operand: the destination, or the directory to copy into.
    pub(crate) target: PathBuf,
}

/// How copies are kept in flight (`--engine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Engine {
    /// One io_uring for every copy in flight: `IORING_OP_URING_CMD` to `/dev/copy_range`.
    Ring,
    /// A module job per copy, their descriptors in one poll(2) loop.
    Jobs,
    /// Worker threads, each copying a file at a time with synchronous calls: the module's
    /// `COPY_RANGE_IOC_COPY`, or without the module the library's fallback.
    Sync,
}

impl Engine {
    /// The name on the command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Engine::Ring => "ring",
            Engine::Jobs => "jobs",
            Engine::Sync => "sync",
        }
    }
}

/// The outcome of parsing: run with these options, or exit now (help, version, usage error).
pub(crate) enum Parsed {
    Run(Options),
    Exit(ExitCode),
}

fn default_copies_in_flight() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (4 * cpus).clamp(1, 16)
}

fn usage_error(msg: &str) -> Parsed {
    eprintln!("crcp: {msg}");
    eprintln!("Try 'crcp --help' for more information.");
    Parsed::Exit(ExitCode::FAILURE)
}

/// What `-p` and a bare `--preserve` stand for: `--preserve=mode,ownership,timestamps`.
const P_DEFAULT: Preserve = Preserve {
    mode: true,
    ownership: true,
    timestamps: true,
    xattr: false,
};

/// Adds `more` to the attributes already asked for: as in GNU cp, each `-p`, `-a` or
/// `--preserve` adds to the set, whatever their order.
fn add_preserve(p: &mut Preserve, more: Preserve) {
    p.mode |= more.mode;
    p.ownership |= more.ownership;
    p.timestamps |= more.timestamps;
    p.xattr |= more.xattr;
}

fn parse_preserve(list: &str, p: &mut Preserve) -> Result<(), String> {
    for item in list.split(',') {
        let more = match item {
            "mode" => Preserve {
                mode: true,
                ..Preserve::NONE
            },
            "ownership" => Preserve {
                ownership: true,
                ..Preserve::NONE
            },
            "timestamps" => Preserve {
                timestamps: true,
                ..Preserve::NONE
            },
            "xattr" => Preserve {
                xattr: true,
                ..Preserve::NONE
            },
            "all" => Preserve::ALL,
            _ => return Err(format!("invalid argument '{item}' for '--preserve'")),
        };
        add_preserve(p, more);
    }
    Ok(())
}

pub(crate) fn parse_args(args: Vec<OsString>) -> Parsed {
    let mut opts = Options {
        recursive: false,
        reflink: Reflink::Auto,
        preserve: Preserve::NONE,
        no_clobber: false,
        copies_in_flight: default_copies_in_flight(),
        print_stats: false,
        no_module: false,
        engine: None,
        sources: Vec::new(),
        target: PathBuf::new(),
    };
    let mut operands = Vec::new();
    let mut it = args.into_iter();
    let mut only_operands = false;
    let parse_jobs = |v: &str| -> Result<usize, String> {
        match v.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(format!("invalid number of jobs: '{v}'")),
        }
    };
    while let Some(arg) = it.next() {
        let bytes = arg.as_bytes();
        if only_operands || bytes.len() < 2 || bytes[0] != b'-' {
            operands.push(PathBuf::from(arg));
            continue;
        }
        let s = arg.to_string_lossy().into_owned();
        if s == "--" {
            only_operands = true;
            continue;
        }
        if let Some(long) = s.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            match (name, value) {
                ("recursive", None) => opts.recursive = true,
                // -dR --preserve=all (-d: crcp -R never follows symlinks anyway).
                ("archive", None) => {
                    opts.recursive = true;
                    add_preserve(&mut opts.preserve, Preserve::ALL);
                }
                ("reflink", None) => opts.reflink = Reflink::Always,
                ("reflink", Some(v)) => {
                    opts.reflink = match v.as_str() {
                        "auto" => Reflink::Auto,
                        "always" => Reflink::Always,
                        "never" => Reflink::Never,
                        _ => {
                            return usage_error(&format!("invalid argument '{v}' for '--reflink'"))
                        }
                    }
                }
                ("preserve", None) => add_preserve(&mut opts.preserve, P_DEFAULT),
                ("preserve", Some(v)) => {
                    if let Err(e) = parse_preserve(&v, &mut opts.preserve) {
                        return usage_error(&e);
                    }
                }
                ("no-clobber", None) => opts.no_clobber = true,
                ("jobs", v) => {
                    let v = match v.or_else(|| it.next().map(|a| a.to_string_lossy().into_owned()))
                    {
                        Some(v) => v,
                        None => return usage_error("option '--jobs' requires an argument"),
                    };
                    match parse_jobs(&v) {
                        Ok(n) => opts.copies_in_flight = n,
                        Err(e) => return usage_error(&e),
                    }
                }
                ("stats", None) => opts.print_stats = true,
                ("no-module", None) => opts.no_module = true,
                ("engine", v) => {
                    let v = match v.or_else(|| it.next().map(|a| a.to_string_lossy().into_owned()))
                    {
                        Some(v) => v,
                        None => return usage_error("option '--engine' requires an argument"),
                    };
                    opts.engine = Some(match v.as_str() {
                        "ring" => Engine::Ring,
                        "jobs" => Engine::Jobs,
                        "sync" => Engine::Sync,
                        _ => return usage_error(&format!("invalid argument '{v}' for '--engine'")),
                    });
                }
                ("help", None) => {
                    print!("{USAGE}");
                    return Parsed::Exit(ExitCode::SUCCESS);
                }
                ("version", None) => {
                    println!("crcp {}", env!("CARGO_PKG_VERSION"));
                    return Parsed::Exit(ExitCode::SUCCESS);
                }
                _ => return usage_error(&format!("unrecognized option '{s}'")),
            }
            continue;
        }
        // A cluster of short options: -Rp, -j16, -j 16.
        let chars: Vec<char> = s[1..].chars().collect();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                'R' | 'r' => opts.recursive = true,
                'a' => {
                    opts.recursive = true;
                    add_preserve(&mut opts.preserve, Preserve::ALL);
                }
                'p' => add_preserve(&mut opts.preserve, P_DEFAULT),
                'n' => opts.no_clobber = true,
                'j' => {
                    let rest: String = chars[i + 1..].iter().collect();
                    let v = if rest.is_empty() {
                        match it.next() {
                            Some(v) => v.to_string_lossy().into_owned(),
                            None => return usage_error("option requires an argument -- 'j'"),
                        }
                    } else {
                        rest
                    };
                    match parse_jobs(&v) {
                        Ok(n) => opts.copies_in_flight = n,
                        Err(e) => return usage_error(&e),
                    }
                    break;
                }
                c => return usage_error(&format!("invalid option -- '{c}'")),
            }
            i += 1;
        }
    }
    if let (true, Some(e @ (Engine::Ring | Engine::Jobs))) = (opts.no_module, opts.engine) {
        return usage_error(&format!(
            "--engine={} needs the module; --no-module forbids it",
            e.name()
        ));
    }
    match operands.len() {
        0 => usage_error("missing file operand"),
        1 => usage_error(&format!(
            "missing destination file operand after {}",
            quote(&operands[0])
        )),
        _ => {
            opts.target = operands.pop().expect("two operands");
            opts.sources = operands;
            Parsed::Run(opts)
        }
    }
}

#[cfg(test)]
impl Options {
    /// The options of `crcp ARGS`, for unit tests.
    pub(crate) fn for_tests(args: &[&str]) -> Options {
        match parse_args(args.iter().map(OsString::from).collect()) {
            Parsed::Run(opts) => opts,
            Parsed::Exit(_) => panic!("{args:?} did not parse"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Options {
        Options::for_tests(args)
    }

    #[test]
    fn options_parse_like_cp() {
        let o = parse(&["-Rp", "--reflink=never", "-j3", "a", "b"]);
        assert!(o.recursive);
        assert_eq!(o.reflink, Reflink::Never);
        assert!(o.preserve.mode && o.preserve.ownership && o.preserve.timestamps);
        assert!(!o.preserve.xattr);
        assert_eq!(o.copies_in_flight, 3);
        let o = parse(&["--preserve=mode,xattr", "-j", "7", "--", "-a", "b"]);
        assert!(o.preserve.mode && o.preserve.xattr && !o.preserve.timestamps);
        assert_eq!(o.copies_in_flight, 7);
        assert_eq!(o.sources, [PathBuf::from("-a")]);
        assert_eq!(o.target, PathBuf::from("b"));
        let o = parse(&["--reflink", "a", "b"]);
        assert_eq!(o.reflink, Reflink::Always);
        let o = parse(&["a", "b"]);
        assert_eq!(o.reflink, Reflink::Auto);
        assert!((1..=16).contains(&o.copies_in_flight));
        assert!(matches!(
            parse_args(vec!["--preserve=links".into(), "a".into(), "b".into()]),
            Parsed::Exit(_)
        ));
    }

    #[test]
    fn p_adds_to_the_preserve_set() {
        // GNU cp: -p and bare --preserve add mode,ownership,timestamps to what is already
        // asked for, before or after; -a is -R --preserve=all.
        let mot = Preserve {
            xattr: false,
            ..Preserve::ALL
        };
        for (args, want) in [
            (&["-a", "-p"][..], Preserve::ALL),
            (&["-ap"], Preserve::ALL),
            (&["-pa"], Preserve::ALL),
            (&["--archive", "--preserve"], Preserve::ALL),
            (&["--preserve=xattr", "-p"], Preserve::ALL),
            (&["-p", "--preserve=xattr"], Preserve::ALL),
            (&["--preserve=xattr", "--preserve"], Preserve::ALL),
            (&["--preserve=all", "-p"], Preserve::ALL),
            (&["-p"], mot),
            (&["--preserve"], mot),
        ] {
            let o = parse(&[args, &["a", "b"][..]].concat());
            assert_eq!(o.preserve, want, "{args:?}");
        }
        let a = parse(&["-a", "a", "b"]);
        let all = parse(&["-R", "--preserve=all", "a", "b"]);
        assert_eq!((a.recursive, a.preserve), (all.recursive, all.preserve));
    }

    #[test]
    fn engines_parse_and_need_the_module_but_sync() {
        assert_eq!(parse(&["a", "b"]).engine, None);
        assert_eq!(
            parse(&["--engine=ring", "a", "b"]).engine,
            Some(Engine::Ring)
        );
        assert_eq!(
            parse(&["--engine", "jobs", "a", "b"]).engine,
            Some(Engine::Jobs)
        );
        let o = parse(&["--no-module", "--engine=sync", "a", "b"]);
        assert_eq!((o.no_module, o.engine), (true, Some(Engine::Sync)));
        for bad in [
            &["--engine=uring", "a", "b"][..],
            &["--engine"],
            &["--no-module", "--engine=ring", "a", "b"],
            &["--engine=jobs", "--no-module", "a", "b"],
        ] {
            let args = bad.iter().map(OsString::from).collect();
            assert!(matches!(parse_args(args), Parsed::Exit(_)), "{bad:?}");
        }
    }
}
