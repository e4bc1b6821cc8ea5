// SPDX-License-Identifier: GPL-2.0

//! `crcp`: cp with copy offload. See README.md beside this crate and `crcp --help`.

mod progress;

use copy_range::{
    error_errno, error_stage, CancelToken, CopyOptions, CopyPath, CopyRange, CopyReport, Create,
    FileCopy, Preserve, Reflink, Stage, StageError,
};
use progress::{human, Bar, Counts};
use std::{
    collections::{HashMap, VecDeque},
    ffi::{CString, OsStr, OsString},
    fs,
    io::{self, IsTerminal},
    os::{fd::AsRawFd, unix::ffi::OsStrExt},
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{
        atomic::{AtomicI32, AtomicU64, Ordering},
        mpsc, Arc, Mutex,
    },
    time::{Duration, Instant},
};

const USAGE: &str = "\
Usage: crcp [OPTION]... SOURCE DEST
  or:  crcp [OPTION]... SOURCE... DIRECTORY
Copy SOURCE to DEST, or multiple SOURCEs to DIRECTORY, with copy offload
(/dev/copy_range jobs when the module is loaded; FICLONE, copy_file_range(2)
or read/write otherwise). Every destination file is written unnamed and
linked in only when complete: an interrupted crcp leaves no partial file.

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
      --help               display this help and exit
      --version            output version information and exit
";

/// The signal that interrupted us, or 0.
static INTERRUPTED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    INTERRUPTED.store(sig, Ordering::SeqCst);
}

fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst) != 0
}

fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: The handler only stores to an atomic; no SA_RESTART, so poll(2) and waits
        // return EINTR and the loops notice at once.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Dies of the signal that interrupted us, so that the caller (a shell) sees it.
fn die_of_signal(sig: i32) -> ! {
    // SAFETY: Restores the default action and raises the signal again.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
    std::process::exit(128 + sig);
}

#[derive(Debug, Clone)]
struct Opts {
    recursive: bool,
    reflink: Reflink,
    preserve: Preserve,
    no_clobber: bool,
    jobs: usize,
    stats: bool,
    no_module: bool,
    operands: Vec<PathBuf>,
}

enum Parsed {
    Run(Opts),
    Exit(ExitCode),
}

fn default_jobs() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (4 * cpus).clamp(1, 16)
}

fn usage_error(msg: &str) -> Parsed {
    eprintln!("crcp: {msg}");
    eprintln!("Try 'crcp --help' for more information.");
    Parsed::Exit(ExitCode::FAILURE)
}

fn parse_preserve(list: &str, p: &mut Preserve) -> Result<(), String> {
    for item in list.split(',') {
        match item {
            "mode" => p.mode = true,
            "ownership" => p.ownership = true,
            "timestamps" => p.timestamps = true,
            "xattr" => p.xattr = true,
            "all" => *p = Preserve::ALL,
            _ => return Err(format!("invalid argument '{item}' for '--preserve'")),
        }
    }
    Ok(())
}

fn parse_args(args: Vec<OsString>) -> Parsed {
    let mut o = Opts {
        recursive: false,
        reflink: Reflink::Auto,
        preserve: Preserve::NONE,
        no_clobber: false,
        jobs: default_jobs(),
        stats: false,
        no_module: false,
        operands: Vec::new(),
    };
    let p_default = Preserve {
        mode: true,
        ownership: true,
        timestamps: true,
        xattr: false,
    };
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
            o.operands.push(PathBuf::from(arg));
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
                ("recursive", None) => o.recursive = true,
                ("archive", None) => {
                    o.recursive = true;
                    o.preserve = Preserve::ALL;
                }
                ("reflink", None) => o.reflink = Reflink::Always,
                ("reflink", Some(v)) => {
                    o.reflink = match v.as_str() {
                        "auto" => Reflink::Auto,
                        "always" => Reflink::Always,
                        "never" => Reflink::Never,
                        _ => {
                            return usage_error(&format!("invalid argument '{v}' for '--reflink'"))
                        }
                    }
                }
                ("preserve", None) => o.preserve = p_default,
                ("preserve", Some(v)) => {
                    if let Err(e) = parse_preserve(&v, &mut o.preserve) {
                        return usage_error(&e);
                    }
                }
                ("no-clobber", None) => o.no_clobber = true,
                ("jobs", v) => {
                    let v = match v.or_else(|| it.next().map(|a| a.to_string_lossy().into_owned()))
                    {
                        Some(v) => v,
                        None => return usage_error("option '--jobs' requires an argument"),
                    };
                    match parse_jobs(&v) {
                        Ok(n) => o.jobs = n,
                        Err(e) => return usage_error(&e),
                    }
                }
                ("stats", None) => o.stats = true,
                ("no-module", None) => o.no_module = true,
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
                'R' | 'r' => o.recursive = true,
                'a' => {
                    o.recursive = true;
                    o.preserve = Preserve::ALL;
                }
                'p' => o.preserve = p_default,
                'n' => o.no_clobber = true,
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
                        Ok(n) => o.jobs = n,
                        Err(e) => return usage_error(&e),
                    }
                    break;
                }
                c => return usage_error(&format!("invalid option -- '{c}'")),
            }
            i += 1;
        }
    }
    match o.operands.len() {
        0 => usage_error("missing file operand"),
        1 => usage_error(&format!(
            "missing destination file operand after {}",
            quote(&o.operands[0])
        )),
        _ => Parsed::Run(o),
    }
}

fn quote(p: &Path) -> String {
    format!("'{}'", p.display())
}

/// strerror's text, without Rust's " (os error N)".
fn errtext(e: &io::Error) -> String {
    let inner = e
        .get_ref()
        .and_then(|i| i.downcast_ref::<StageError>())
        .map(|s| &s.error)
        .unwrap_or(e);
    let s = inner.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn lstat(p: &Path) -> io::Result<libc::stat> {
    let c = CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `st` is a valid `struct stat` to fill in.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::lstat(c.as_ptr(), &mut st) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap_or_default()
}

struct FileTask {
    src: PathBuf,
    dst: PathBuf,
    size: u64,
}

struct DirFix {
    src: PathBuf,
    dst: PathBuf,
    st: libc::stat,
    created: bool,
}

#[derive(Default)]
struct Stats {
    files: u64,
    bytes: u64,
    shared: u64,
    mapped: u64,
    unmeasured: u64,
    paths: HashMap<CopyPath, u64>,
}

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
    fn error(&mut self, msg: String) {
        self.bar.message(&format!("crcp: {msg}"));
        self.failed = true;
    }

    fn copy_options(&self) -> CopyOptions {
        CopyOptions {
            reflink: self.o.reflink,
            create: if self.o.no_clobber {
                Create::Exclusive
            } else {
                Create::Replace
            },
            preserve: self.o.preserve,
            use_module: !self.o.no_module,
            ..CopyOptions::default()
        }
    }

    /// Plans one command-line source.
    fn plan(&mut self, src: &Path, dst: &Path) {
        let st = if self.o.recursive {
            lstat(src)
        } else {
            fs::metadata(src).and_then(|_| {
                let c = cstr(src);
                // SAFETY: As in `lstat`, following symlinks.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                if unsafe { libc::stat(c.as_ptr(), &mut st) } < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(st)
            })
        };
        let st = match st {
            Ok(st) => st,
            Err(e) => return self.error(format!("cannot stat {}: {}", quote(src), errtext(&e))),
        };
        match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                if !self.o.recursive {
                    return self.error(format!(
                        "-r not specified; omitting directory {}",
                        quote(src)
                    ));
                }
                if let (Ok(s), Some(d)) = (fs::canonicalize(src), canonical_dest(dst)) {
                    if d.starts_with(&s) {
                        return self.error(format!(
                            "cannot copy a directory, {}, into itself, {}",
                            quote(src),
                            quote(dst)
                        ));
                    }
                }
                self.walk(src, dst, st);
            }
            _ => self.plan_entry(src, dst, st),
        }
    }

    /// Plans a non-directory.
    fn plan_entry(&mut self, src: &Path, dst: &Path, st: libc::stat) {
        let existing = lstat(dst).ok();
        if let Some(d) = existing {
            if d.st_mode & libc::S_IFMT == libc::S_IFDIR {
                return self.error(format!(
                    "cannot overwrite directory {} with non-directory",
                    quote(dst)
                ));
            }
            if self.o.no_clobber {
                return;
            }
            if d.st_dev == st.st_dev && d.st_ino == st.st_ino {
                return self.error(format!(
                    "{} and {} are the same file",
                    quote(src),
                    quote(dst)
                ));
            }
        }
        match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => self.files.push(FileTask {
                src: src.to_path_buf(),
                dst: dst.to_path_buf(),
                size: st.st_size as u64,
            }),
            libc::S_IFLNK => self.copy_symlink(src, dst, &st),
            _ if self.o.recursive => self.copy_special(src, dst, &st),
            _ => self.error(format!(
                "cannot copy special file {}: only regular files are copied without -R",
                quote(src)
            )),
        }
    }

    fn walk(&mut self, src: &Path, dst: &Path, st: libc::stat) {
        let created = match lstat(dst) {
            Ok(d) if d.st_mode & libc::S_IFMT == libc::S_IFDIR => false,
            Ok(_) => {
                return self.error(format!(
                    "cannot overwrite non-directory {} with directory {}",
                    quote(dst),
                    quote(src)
                ))
            }
            Err(_) => {
                let c = cstr(dst);
                // Owner rwx while we fill it; the final mode is set at the end.
                // SAFETY: A NUL-terminated path.
                if unsafe { libc::mkdir(c.as_ptr(), (st.st_mode & 0o777) | 0o700) } < 0 {
                    let e = io::Error::last_os_error();
                    return self.error(format!(
                        "cannot create directory {}: {}",
                        quote(dst),
                        errtext(&e)
                    ));
                }
                true
            }
        };
        let mut names: Vec<OsString> = match fs::read_dir(src) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.file_name())).collect(),
            Err(e) => {
                self.error(format!(
                    "cannot open directory {}: {}",
                    quote(src),
                    errtext(&e)
                ));
                Vec::new()
            }
        };
        names.sort();
        for name in names {
            let s = src.join(&name);
            let d = dst.join(&name);
            match lstat(&s) {
                Ok(cst) if cst.st_mode & libc::S_IFMT == libc::S_IFDIR => self.walk(&s, &d, cst),
                Ok(cst) => self.plan_entry(&s, &d, cst),
                Err(e) => self.error(format!("cannot stat {}: {}", quote(&s), errtext(&e))),
            }
        }
        self.dirs.push(DirFix {
            src: src.to_path_buf(),
            dst: dst.to_path_buf(),
            st,
            created,
        });
    }

    fn copy_symlink(&mut self, src: &Path, dst: &Path, st: &libc::stat) {
        let target = match fs::read_link(src) {
            Ok(t) => t,
            Err(e) => {
                return self.error(format!(
                    "cannot read symbolic link {}: {}",
                    quote(src),
                    errtext(&e)
                ))
            }
        };
        let made = match std::os::unix::fs::symlink(&target, dst) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) && !self.o.no_clobber => {
                // Replace atomically: a hidden symlink renamed over the old name.
                let name = dst.file_name().unwrap_or_default().to_string_lossy();
                let tmp = dst.with_file_name(format!(".#{name}.{}", std::process::id()));
                let _ = fs::remove_file(&tmp);
                std::os::unix::fs::symlink(&target, &tmp)
                    .and_then(|_| fs::rename(&tmp, dst))
                    .inspect_err(|_| {
                        let _ = fs::remove_file(&tmp);
                    })
            }
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => return,
            r => r,
        };
        if let Err(e) = made {
            return self.error(format!(
                "cannot create symbolic link {}: {}",
                quote(dst),
                errtext(&e)
            ));
        }
        let c = cstr(dst);
        if self.o.preserve.ownership {
            // SAFETY: A NUL-terminated path.
            if unsafe { libc::lchown(c.as_ptr(), st.st_uid, st.st_gid) } < 0 {
                let e = io::Error::last_os_error();
                // SAFETY: A plain system call.
                if unsafe { libc::geteuid() } == 0
                    || !matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EINVAL))
                {
                    self.error(format!(
                        "failed to preserve ownership for {}: {}",
                        quote(dst),
                        errtext(&e)
                    ));
                }
            }
        }
        if self.o.preserve.timestamps {
            if let Err(e) = set_times(&c, st, libc::AT_SYMLINK_NOFOLLOW) {
                self.error(format!(
                    "preserving times for {}: {}",
                    quote(dst),
                    errtext(&e)
                ));
            }
        }
    }

    fn copy_special(&mut self, src: &Path, dst: &Path, st: &libc::stat) {
        if lstat(dst).is_ok() {
            if self.o.no_clobber {
                return;
            }
            let _ = fs::remove_file(dst);
        }
        let c = cstr(dst);
        // SAFETY: A NUL-terminated path; FIFOs and sockets need no privilege, devices do.
        if unsafe { libc::mknod(c.as_ptr(), st.st_mode, st.st_rdev) } < 0 {
            let e = io::Error::last_os_error();
            return self.error(format!(
                "cannot create special file {}: {}",
                quote(dst),
                errtext(&e)
            ));
        }
        // Path-based metadata: opening a device could have side effects.
        let p = self.o.preserve;
        let mode = if p.mode {
            st.st_mode & 0o7777
        } else {
            st.st_mode & 0o777 & !self.umask
        };
        if p.ownership {
            // SAFETY: A NUL-terminated path.
            unsafe { libc::lchown(c.as_ptr(), st.st_uid, st.st_gid) };
        }
        // SAFETY: As above.
        unsafe { libc::chmod(c.as_ptr(), mode) };
        if p.timestamps {
            if let Err(e) = set_times(&c, st, 0) {
                self.error(format!(
                    "preserving times for {}: {}",
                    quote(dst),
                    errtext(&e)
                ));
            }
        }
        let _ = src;
    }

    /// Metadata of a directory we made (or of an existing directory when
    /// preserving).
    fn fix_metadata(
        &mut self,
        src: &Path,
        dst: &Path,
        d: &fs::File,
        st: &libc::stat,
        created: bool,
    ) {
        let p = self.o.preserve;
        if created && !p.mode {
            // SAFETY: A plain system call on an open descriptor.
            unsafe { libc::fchmod(d.as_raw_fd(), st.st_mode & 0o777 & !self.umask) };
        }
        if p == Preserve::NONE {
            return;
        }
        // Extended attributes need a real descriptor of the source (not O_PATH).
        let s = if p.xattr || p.mode {
            fs::File::open(src).ok()
        } else {
            None
        };
        let r = match &s {
            Some(s) => copy_range::apply_metadata(s, st, d, &p),
            None => copy_range::apply_metadata(d, st, d, &Preserve { xattr: false, ..p }),
        };
        if let Err(e) = r {
            self.error(meta_message(dst, &e));
        }
    }

    fn fix_dirs(&mut self) {
        let dirs = std::mem::take(&mut self.dirs);
        for fix in dirs.iter() {
            if !fix.created && self.o.preserve == Preserve::NONE {
                continue;
            }
            match fs::File::open(&fix.dst) {
                Ok(d) => self.fix_metadata(&fix.src, &fix.dst, &d, &fix.st, fix.created),
                Err(e) => self.error(format!(
                    "cannot open directory {}: {}",
                    quote(&fix.dst),
                    errtext(&e)
                )),
            }
        }
    }

    /// Reports one file's outcome.
    fn finish(&mut self, task: &FileTask, r: io::Result<CopyReport>) {
        match r {
            Ok(rep) => {
                self.stats.files += 1;
                self.stats.bytes += rep.bytes;
                if rep.shared_measured {
                    self.stats.shared += rep.bytes_shared.unwrap_or(0);
                    self.stats.mapped += rep.bytes_mapped.unwrap_or(0);
                } else {
                    self.stats.unmeasured += 1;
                }
                *self.stats.paths.entry(rep.path).or_default() += 1;
            }
            Err(e) => {
                let errno = error_errno(&e);
                if errno == Some(libc::ECANCELED) && interrupted() {
                    return;
                }
                let stage = error_stage(&e);
                if self.o.no_clobber
                    && errno == Some(libc::EEXIST)
                    && matches!(stage, Some(Stage::CreateDestination) | Some(Stage::Link))
                {
                    return;
                }
                self.error(file_message(&task.src, &task.dst, &e));
            }
        }
    }
}

fn canonical_dest(dst: &Path) -> Option<PathBuf> {
    if let Ok(c) = fs::canonicalize(dst) {
        return Some(c);
    }
    let parent = match dst.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(fs::canonicalize(parent).ok()?.join(dst.file_name()?))
}

fn set_times(c: &CString, st: &libc::stat, flags: i32) -> io::Result<()> {
    let times = [
        libc::timespec {
            tv_sec: st.st_atime,
            tv_nsec: st.st_atime_nsec,
        },
        libc::timespec {
            tv_sec: st.st_mtime,
            tv_nsec: st.st_mtime_nsec,
        },
    ];
    // SAFETY: A NUL-terminated path and two timespecs.
    if unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn meta_message(dst: &Path, e: &io::Error) -> String {
    let detail = e
        .get_ref()
        .and_then(|i| i.downcast_ref::<StageError>())
        .and_then(|s| s.detail.clone());
    match error_stage(e) {
        Some(Stage::Permissions) => {
            format!("preserving permissions for {}: {}", quote(dst), errtext(e))
        }
        Some(Stage::Timestamps) => format!("preserving times for {}: {}", quote(dst), errtext(e)),
        Some(Stage::Ownership) => format!(
            "failed to preserve ownership for {}: {}",
            quote(dst),
            errtext(e)
        ),
        Some(Stage::Xattr) => match detail {
            Some(name) => format!(
                "setting attribute '{name}' for {}: {}",
                quote(dst),
                errtext(e)
            ),
            None => format!("setting attributes for {}: {}", quote(dst), errtext(e)),
        },
        _ => format!("cannot copy metadata to {}: {}", quote(dst), errtext(e)),
    }
}

/// cp's wording for a failed file copy.
fn file_message(src: &Path, dst: &Path, e: &io::Error) -> String {
    let (s, d, t) = (quote(src), quote(dst), errtext(e));
    match error_stage(e) {
        Some(Stage::OpenSource) => format!("cannot open {s} for reading: {t}"),
        Some(Stage::SameFile) => format!("{s} and {d} are the same file"),
        Some(Stage::CreateDestination) | Some(Stage::Link) => {
            format!("cannot create regular file {d}: {t}")
        }
        Some(Stage::Clone) => format!("failed to clone {d} from {s}: {t}"),
        Some(Stage::Sync) => format!("error writing {d}: {t}"),
        Some(Stage::Permissions)
        | Some(Stage::Timestamps)
        | Some(Stage::Ownership)
        | Some(Stage::Xattr) => meta_message(dst, e),
        Some(Stage::Copy) | None => format!("cannot copy {s} to {d}: {t}"),
    }
}

/// Copies with module jobs: up to `jobs` in flight, one poll(2) loop over their descriptors.
fn run_module(c: &mut Crcp, dev: &CopyRange, tasks: Vec<FileTask>, counts: &mut Counts) {
    let opts = c.copy_options();
    let mut queue: VecDeque<FileTask> = tasks.into();
    let mut inflight: Vec<(FileTask, FileCopy)> = Vec::new();
    let mut backoff = false;
    loop {
        if interrupted() {
            // Cancel every job at once, then close them all (each close waits for its
            // worker to stop); the unnamed destinations vanish with their descriptors.
            for (_, fc) in &inflight {
                if let Some(j) = fc.job() {
                    let _ = j.cancel();
                }
            }
            inflight.clear();
            return;
        }
        while inflight.len() < c.o.jobs && !backoff {
            let Some(task) = queue.pop_front() else { break };
            let mut fc = match FileCopy::begin(&task.src, &task.dst, &opts) {
                Ok(fc) => fc,
                Err(e) => {
                    c.finish(&task, Err(e));
                    counts.files_done += 1;
                    counts.bytes_done += task.size;
                    continue;
                }
            };
            match fc.submit(dev) {
                Ok(_) => inflight.push((task, fc)),
                Err(e) if error_errno(&e) == Some(libc::EAGAIN) => {
                    // The user's job limit: wait for one of ours to end.
                    queue.push_front(task);
                    backoff = true;
                }
                Err(e) => {
                    c.finish(&task, Err(e));
                    counts.files_done += 1;
                    counts.bytes_done += task.size;
                }
            }
        }
        if inflight.is_empty() {
            if queue.is_empty() {
                return;
            }
            // Other processes hold every job slot.
            std::thread::sleep(Duration::from_millis(20));
            backoff = false;
            continue;
        }
        let mut fds: Vec<libc::pollfd> = inflight
            .iter()
            .map(|(_, fc)| libc::pollfd {
                fd: fc.job().map_or(-1, |j| j.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a valid array of pollfds.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
        for i in (0..fds.len()).rev() {
            if fds[i].revents != 0 {
                let (task, fc) = inflight.swap_remove(i);
                let r = fc.commit();
                c.finish(&task, r);
                counts.files_done += 1;
                counts.bytes_done += task.size;
                backoff = false;
            }
        }
        let running: u64 = inflight
            .iter()
            .filter_map(|(_, fc)| fc.job().and_then(|j| j.status().ok()).map(|s| s.copied))
            .sum();
        c.bar.draw(
            &Counts {
                bytes_done: counts.bytes_done + running,
                ..*counts
            },
            false,
        );
    }
}

/// Copies without the module: `jobs` threads, each running whole-file copies through the
/// library's fallback paths; results come back over a channel to this thread.
fn run_threads(c: &mut Crcp, tasks: Vec<FileTask>, counts: &mut Counts) {
    let cancel = CancelToken::new();
    let mut opts = c.copy_options();
    opts.use_module = false;
    opts.cancel = Some(cancel.clone());
    let nthreads = c.o.jobs.min(tasks.len()).max(1);
    let queue = Arc::new(Mutex::new(VecDeque::from(tasks)));
    let running = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::channel::<(FileTask, io::Result<CopyReport>)>();
    let mut workers = Vec::new();
    for _ in 0..nthreads {
        let (queue, running, tx, opts, cancel) = (
            queue.clone(),
            running.clone(),
            tx.clone(),
            opts.clone(),
            cancel.clone(),
        );
        workers.push(std::thread::spawn(move || loop {
            let Some(task) = queue.lock().unwrap().pop_front() else {
                break;
            };
            if cancel.is_cancelled() {
                break;
            }
            let last = Arc::new(AtomicU64::new(0));
            let mut o = opts.clone();
            let (l, r) = (last.clone(), running.clone());
            o.progress = Some(Arc::new(move |p: copy_range::Progress| {
                let prev = l.swap(p.copied, Ordering::Relaxed);
                if p.copied >= prev {
                    r.fetch_add(p.copied - prev, Ordering::Relaxed);
                } else {
                    r.fetch_sub(prev - p.copied, Ordering::Relaxed);
                }
            }));
            let res = FileCopy::begin(&task.src, &task.dst, &o).and_then(|mut fc| {
                fc.run(None)?;
                fc.commit()
            });
            running.fetch_sub(last.load(Ordering::Relaxed), Ordering::Relaxed);
            if tx.send((task, res)).is_err() {
                break;
            }
        }));
    }
    drop(tx);
    loop {
        if interrupted() {
            cancel.cancel();
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok((task, r)) => {
                c.finish(&task, r);
                counts.files_done += 1;
                counts.bytes_done += task.size;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        c.bar.draw(
            &Counts {
                bytes_done: counts.bytes_done + running.load(Ordering::Relaxed),
                ..*counts
            },
            false,
        );
    }
    for w in workers {
        let _ = w.join();
    }
}

fn print_stats(c: &Crcp, elapsed: Duration) {
    let s = &c.stats;
    let secs = elapsed.as_secs_f64();
    println!(
        "crcp: {} files, {} in {:.2} s ({}/s)",
        s.files,
        human(s.bytes),
        secs,
        human((s.bytes as f64 / secs.max(1e-6)) as u64)
    );
    println!(
        "crcp: data extents {}: shared {}, not shared {} (FIEMAP on the destinations{})",
        human(s.mapped),
        human(s.shared),
        human(s.mapped.saturating_sub(s.shared)),
        if s.unmeasured > 0 {
            format!(
                "; {} files on filesystems without FIEMAP not counted",
                s.unmeasured
            )
        } else {
            String::new()
        }
    );
    let n = |p| s.paths.get(&p).copied().unwrap_or(0);
    println!(
        "crcp: paths: module {}, ficlone {}, copy_file_range {}, read/write {}",
        n(CopyPath::Module),
        n(CopyPath::Ficlone),
        n(CopyPath::CopyFileRange),
        n(CopyPath::ReadWrite)
    );
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
    let bar = Arc::new(Bar::new(io::stderr().is_terminal()));
    let mut c = Crcp {
        o,
        umask: umask as u32,
        failed: false,
        files: Vec::new(),
        dirs: Vec::new(),
        bar,
        stats: Stats::default(),
    };
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
    let tasks = std::mem::take(&mut c.files);
    let mut counts = Counts {
        bytes_total: tasks.iter().map(|t| t.size).sum(),
        files_total: tasks.len() as u64,
        ..Counts::default()
    };
    let dev = if c.o.no_module {
        None
    } else {
        match copy_range::open_device() {
            Ok(d) => d,
            Err(e) => {
                c.error(format!(
                    "cannot open {}: {}",
                    copy_range::DEVICE_PATH,
                    errtext(&e)
                ));
                return ExitCode::FAILURE;
            }
        }
    };
    if !interrupted() && !tasks.is_empty() {
        match &dev {
            Some(dev) => run_module(&mut c, dev, tasks, &mut counts),
            None => run_threads(&mut c, tasks, &mut counts),
        }
    }
    let sig = INTERRUPTED.load(Ordering::SeqCst);
    if sig != 0 {
        c.bar.clear();
        die_of_signal(sig);
    }
    c.fix_dirs();
    c.bar.draw(&counts, true);
    c.bar.clear();
    if c.o.stats {
        print_stats(&c, started.elapsed());
    }
    if c.failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Opts {
        match parse_args(args.iter().map(OsString::from).collect()) {
            Parsed::Run(o) => o,
            Parsed::Exit(_) => panic!("{args:?} did not parse"),
        }
    }

    #[test]
    fn options_parse_like_cp() {
        let o = parse(&["-Rp", "--reflink=never", "-j3", "a", "b"]);
        assert!(o.recursive);
        assert_eq!(o.reflink, Reflink::Never);
        assert!(o.preserve.mode && o.preserve.ownership && o.preserve.timestamps);
        assert!(!o.preserve.xattr);
        assert_eq!(o.jobs, 3);
        let o = parse(&["--preserve=mode,xattr", "-j", "7", "--", "-a", "b"]);
        assert!(o.preserve.mode && o.preserve.xattr && !o.preserve.timestamps);
        assert_eq!(o.jobs, 7);
        assert_eq!(o.operands, [PathBuf::from("-a"), PathBuf::from("b")]);
        let o = parse(&["--reflink", "a", "b"]);
        assert_eq!(o.reflink, Reflink::Always);
        let o = parse(&["a", "b"]);
        assert_eq!(o.reflink, Reflink::Auto);
        assert!((1..=16).contains(&o.jobs));
        assert!(matches!(
            parse_args(vec!["--preserve=links".into(), "a".into(), "b".into()]),
            Parsed::Exit(_)
        ));
    }

    #[test]
    fn messages_use_strerror_text() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(errtext(&e), "No such file or directory");
    }
}
