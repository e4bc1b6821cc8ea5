// SPDX-License-Identifier: GPL-2.0

//! Whole-file copies with atomic creation of the destination, a sharing policy that holds on
//! every path, metadata on request, progress and cancellation.

use crate::{fsops, meta, CopyRange, Job, JobState, Sharing};
use std::{
    ffi::{CString, OsStr, OsString},
    fmt,
    fs::File,
    io,
    os::{
        fd::{AsRawFd, FromRawFd},
        unix::ffi::OsStrExt,
    },
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

/// The sharing policy of a whole-file copy, with GNU cp's names (`--reflink=never|auto|always`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reflink {
    /// An independent copy: no extent of the destination is shared with the source
    /// (module flags 0). The default, as in the module: it is the only result that cannot
    /// surprise later (an overwrite of a shared extent allocates, and can fail with `ENOSPC`).
    #[default]
    Never,
    /// Share where the filesystem can, copy the rest (`COPY_RANGE_SHARE_ALLOW`); GNU cp's
    /// default since 9.0.
    Auto,
    /// Share everything or fail before any data moves (`COPY_RANGE_SHARE_REQUIRE`):
    /// `EOPNOTSUPP` where the filesystem cannot share, `EXDEV` across filesystems.
    Always,
}

impl Reflink {
    /// The module's policy for this one.
    pub fn sharing(self) -> Sharing {
        match self {
            Reflink::Never => Sharing::Forbid,
            Reflink::Auto => Sharing::Allow,
            Reflink::Always => Sharing::Require,
        }
    }
}

/// What happens to an existing destination.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Create {
    /// The destination must not exist: an existing one is `EEXIST` before any data moves, and
    /// one that appears during the copy is left alone (the link fails with `EEXIST` and the
    /// copy vanishes).
    #[default]
    Exclusive,
    /// The complete copy replaces the destination's name in one `rename(2)`: readers see the
    /// old file or the new one. The destination's inode is replaced, not rewritten: other
    /// hard links to it keep the old data, and a symlink at the destination is replaced
    /// itself rather than followed.
    Replace,
}

/// Which metadata of the source the destination gets (GNU cp's `--preserve=` list).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Preserve {
    /// Permission bits including set-user-ID, set-group-ID and sticky (a set-ID bit only
    /// with the owner or group it belongs to), and POSIX ACLs. Without it the destination
    /// gets the source's `rwx` bits less the umask, as with cp.
    pub mode: bool,
    /// Access and modification times, with nanoseconds.
    pub timestamps: bool,
    /// Extended attributes (`user.*`, `trusted.*` and `security.*` where permitted, but not
    /// the SELinux/IMA/EVM labels, which cp skips too). Any failure to set one is an error.
    pub xattr: bool,
    /// Owner and group. As with GNU cp, a caller without the privilege to chown (not root)
    /// gets no error for `EPERM`/`EINVAL`: the group alone is tried, and set-ID bits are
    /// dropped where the owner or group could not be kept.
    pub ownership: bool,
}

impl Preserve {
    /// Nothing but the data.
    pub const NONE: Preserve = Preserve {
        mode: false,
        timestamps: false,
        xattr: false,
        ownership: false,
    };
    /// Everything this crate can preserve.
    pub const ALL: Preserve = Preserve {
        mode: true,
        timestamps: true,
        xattr: true,
        ownership: true,
    };
}

/// Progress of one file, passed to the [`ProgressFn`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the file done so far (holes count as done when passed).
    pub copied: u64,
    /// The file's size.
    pub total: u64,
}

/// A progress callback, called from the copying thread between chunks (every few MiB) and
/// once at the end.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// A flag that stops a copy between chunks: the copy then fails with `ECANCELED`
/// ([`io::ErrorKind`] `Other`; see [`error_errno`]) and its temporary file is discarded.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }
    /// Cancels every copy that holds a clone of this token.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// How to copy a file.
#[derive(Clone)]
pub struct CopyOptions {
    /// The sharing policy.
    pub reflink: Reflink,
    /// Exclusive creation or an atomic replace.
    pub create: Create,
    /// Metadata to carry over.
    pub preserve: Preserve,
    /// Called as the copy progresses.
    pub progress: Option<ProgressFn>,
    /// Checked between chunks; cancels the copy.
    pub cancel: Option<CancelToken>,
    /// Use `/dev/copy_range` when it exists (default `true`). When `false`, or when the node
    /// is absent, the fallback paths (FICLONE, copy_file_range(2), read/write) are used.
    pub use_module: bool,
    /// Create the destination as an unnamed `O_TMPFILE` (default `true`). When `false`, or
    /// where the filesystem has no `O_TMPFILE`, a hidden `.#NAME.XXXXXX` in the same
    /// directory is used instead: removed on any failure, but left behind by a crash.
    pub unnamed_temp: bool,
    /// Make the data durable before linking it in (default `true`), so the name never points
    /// at data that a crash can lose: [`FileCopy::commit`] `fsync(2)`s the file,
    /// [`FileCopy::commit_batch`] `syncfs(2)`s its filesystem once for the whole batch. The
    /// directory is *not* fsynced: a crash right after the copy may lose the new name (and
    /// leave the old destination), never expose a partial file. Callers that need the name
    /// durable fsync the directory.
    pub fsync: bool,
    /// Measure the destination's extents with FIEMAP after linking it in (default `true`),
    /// for [`CopyReport::bytes_mapped`] and a measured [`CopyReport::bytes_shared`]. One
    /// ioctl per file (with `FIEMAP_FLAG_SYNC`, which also writes back delayed allocations
    /// when [`fsync`](Self::fsync) is off): callers that do not look at those fields turn it
    /// off, and the report then says what the policy guarantees, as on filesystems without
    /// FIEMAP.
    pub measure_sharing: bool,
    /// How often a module job is polled for progress and cancellation (default 100 ms).
    pub poll_interval: Duration,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self {
            reflink: Reflink::default(),
            create: Create::default(),
            preserve: Preserve::NONE,
            progress: None,
            cancel: None,
            use_module: true,
            unnamed_temp: true,
            fsync: true,
            measure_sharing: true,
            poll_interval: Duration::from_millis(100),
        }
    }
}

impl fmt::Debug for CopyOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CopyOptions")
            .field("reflink", &self.reflink)
            .field("create", &self.create)
            .field("preserve", &self.preserve)
            .field("progress", &self.progress.as_ref().map(|_| "Fn"))
            .field("cancel", &self.cancel)
            .field("use_module", &self.use_module)
            .field("unnamed_temp", &self.unnamed_temp)
            .field("fsync", &self.fsync)
            .field("measure_sharing", &self.measure_sharing)
            .field("poll_interval", &self.poll_interval)
            .finish()
    }
}

/// How the data got there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CopyPath {
    /// A `/dev/copy_range` job (or synchronous copies when no job could be submitted).
    Module,
    /// One `FICLONE`: every extent shared.
    Ficlone,
    /// `copy_file_range(2)` moved at least part of the data.
    CopyFileRange,
    /// `pread`/`pwrite` in this process (or nothing to move: an empty or all-hole file).
    ReadWrite,
}

/// What a finished copy did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyReport {
    /// The file's size.
    pub bytes: u64,
    /// Bytes of the destination's data extents (FIEMAP), where measured.
    pub bytes_mapped: Option<u64>,
    /// Bytes of the destination shared with another file. Measured with FIEMAP
    /// (`FIEMAP_EXTENT_SHARED`) on the destination when the filesystem supports it and
    /// [`CopyOptions::measure_sharing`] asks for it
    /// ([`shared_measured`](Self::shared_measured)); otherwise what the policy guarantees:
    /// `Some(0)` under [`Reflink::Never`], `None` (unknown) under the others.
    pub bytes_shared: Option<u64>,
    /// Whether `bytes_shared` was measured rather than inferred from the policy.
    pub shared_measured: bool,
    /// The path taken.
    pub path: CopyPath,
    /// Wall time from [`FileCopy::begin`] to the end of its [`FileCopy::commit`] (or of its
    /// part of [`FileCopy::commit_batch`]: up to its link).
    pub elapsed: Duration,
    /// Whether the destination was created as an unnamed `O_TMPFILE` (else a hidden name).
    pub unnamed_temp: bool,
}

/// The step of a copy that failed, so that a tool can word its message the way cp does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Opening or examining the source (`cannot open 'a' for reading`).
    OpenSource,
    /// Source and destination are the same file.
    SameFile,
    /// Creating the destination's temporary file, or finding the destination existing under
    /// [`Create::Exclusive`] (`cannot create regular file 'b'`).
    CreateDestination,
    /// A required clone was refused (`failed to clone 'b' from 'a'`).
    Clone,
    /// Moving the data, or a cancel.
    Copy,
    /// Setting the permissions.
    Permissions,
    /// Setting the timestamps.
    Timestamps,
    /// Copying an extended attribute; [`StageError::detail`] names it.
    Xattr,
    /// Setting the owner.
    Ownership,
    /// `fsync(2)` of the destination (in a batch: `fsync(2)` after its filesystem's
    /// `syncfs(2)` failed, or the `fstat(2)` that finds its filesystem).
    Sync,
    /// Giving the complete copy its name (`EEXIST` under [`Create::Exclusive`]).
    Link,
}

/// An error with the [`Stage`] it happened in. Errors of this crate's whole-file functions are
/// `io::Error`s wrapping one: the kind is the underlying error's, the message is the
/// underlying error's; [`error_stage`] and [`error_errno`] get at the rest.
#[derive(Debug)]
pub struct StageError {
    /// Where it happened.
    pub stage: Stage,
    /// The error itself (usually an OS error).
    pub error: io::Error,
    /// More about where: the attribute's name for [`Stage::Xattr`].
    pub detail: Option<String>,
}

impl fmt::Display for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for StageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

pub(crate) fn staged(stage: Stage, error: io::Error) -> io::Error {
    if error.get_ref().is_some_and(|e| e.is::<StageError>()) {
        return error;
    }
    io::Error::new(
        error.kind(),
        StageError {
            stage,
            error,
            detail: None,
        },
    )
}

pub(crate) fn staged_detail(stage: Stage, error: io::Error, detail: &str) -> io::Error {
    io::Error::new(
        error.kind(),
        StageError {
            stage,
            error,
            detail: Some(detail.to_string()),
        },
    )
}

fn stage_error(e: &io::Error) -> Option<&StageError> {
    e.get_ref().and_then(|e| e.downcast_ref::<StageError>())
}

/// The [`Stage`] an error of [`copyfile`] or [`FileCopy`] happened in.
pub fn error_stage(e: &io::Error) -> Option<Stage> {
    stage_error(e).map(|s| s.stage)
}

/// The errno behind an error of this crate, looking through [`StageError`].
pub fn error_errno(e: &io::Error) -> Option<i32> {
    e.raw_os_error()
        .or_else(|| stage_error(e).and_then(|s| s.error.raw_os_error()))
}

fn errno(e: i32) -> io::Error {
    io::Error::from_raw_os_error(e)
}

fn path_cstr(p: &OsStr) -> io::Result<CString> {
    CString::new(p.as_bytes()).map_err(|_| errno(libc::EINVAL))
}

/// The destination while it is being written: an unnamed file, or a hidden name.
struct Staged {
    file: File,
    dir: File,
    name: OsString,
    temp_name: Option<OsString>,
    linked: bool,
    /// When `file` was opened, in the order of [`STAGED_SEQ`] (taken after the open).
    seq: u64,
}

/// Numbers the staged files in the order they were opened, for [`FileCopy::commit_batch`]:
/// `syncfs(2)` reports the filesystem's writeback errors since the descriptor it is called on
/// was opened, so it is called on the batch's earliest one.
static STAGED_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn next_seq() -> u64 {
    STAGED_SEQ.fetch_add(1, Ordering::SeqCst)
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let (false, Some(t)) = (self.linked, &self.temp_name) {
            if let Ok(c) = path_cstr(t) {
                // SAFETY: A plain system call with a NUL-terminated name.
                unsafe { libc::unlinkat(self.dir.as_raw_fd(), c.as_ptr(), 0) };
            }
        }
    }
}

/// A hidden temporary name for an entry to be called `name`, to create beside it and then
/// rename over it: `.#NAME.XXXXXX`, six random characters at the end, and `NAME` cut (at a
/// byte) so that the whole always fits in `NAME_MAX` (255 bytes) however long `name` is.
/// Each call draws a new suffix: create the entry exclusively and, on `EEXIST`, try another.
/// This is the name [`FileCopy`] uses without `O_TMPFILE` and for an atomic replace.
///
/// ```
/// use std::{ffi::OsStr, os::unix::ffi::OsStrExt};
/// let long = "x".repeat(255);
/// let t = copy_range::hidden_name(OsStr::new(&long));
/// assert!(t.len() <= 255 && t.as_bytes().starts_with(b".#xxx"));
/// assert_ne!(t, copy_range::hidden_name(OsStr::new(&long)));
/// ```
pub fn hidden_name(name: &OsStr) -> OsString {
    let bytes = name.as_bytes();
    let keep = bytes.len().min(255 - 10);
    let mut s = OsString::from(".#");
    s.push(OsStr::from_bytes(&bytes[..keep]));
    s.push(".");
    s.push(fsops::random_suffix());
    s
}

fn openat(dir: &File, name: &OsStr, flags: i32, mode: u32) -> io::Result<File> {
    let c = path_cstr(name)?;
    // SAFETY: A NUL-terminated name relative to a valid directory descriptor.
    let fd = fsops::cvt(unsafe {
        libc::openat(dir.as_raw_fd(), c.as_ptr(), flags | libc::O_CLOEXEC, mode)
    })?;
    // SAFETY: A new descriptor that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd) })
}

fn fstatat(dir: &File, name: &OsStr, flags: i32) -> io::Result<libc::stat> {
    let c = path_cstr(name)?;
    // SAFETY: An all-zero `struct stat` is a valid value of it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: A NUL-terminated name relative to a valid directory descriptor, and a
    // `struct stat` to fill in.
    fsops::cvt(unsafe { libc::fstatat(dir.as_raw_fd(), c.as_ptr(), &mut st, flags) })?;
    Ok(st)
}

fn fstat(f: &File) -> io::Result<libc::stat> {
    // SAFETY: An all-zero `struct stat` is a valid value of it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: A valid descriptor and a `struct stat` to fill in.
    fsops::cvt(unsafe { libc::fstat(f.as_raw_fd(), &mut st) })?;
    Ok(st)
}

impl Staged {
    fn create(dst: &Path, mode: u32, opts: &CopyOptions, src: &libc::stat) -> io::Result<Staged> {
        let cd = |e| staged(Stage::CreateDestination, e);
        let name = dst
            .file_name()
            .ok_or_else(|| cd(errno(libc::EINVAL)))?
            .to_os_string();
        let parent = match dst.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = File::options()
            .read(true)
            .custom_flags_path(parent)
            .map_err(cd)?;
        let nofollow = match opts.create {
            Create::Exclusive => libc::AT_SYMLINK_NOFOLLOW,
            Create::Replace => 0,
        };
        match fstatat(&dir, &name, nofollow) {
            Ok(st) => match opts.create {
                Create::Exclusive => return Err(cd(errno(libc::EEXIST))),
                Create::Replace => {
                    if st.st_dev == src.st_dev && st.st_ino == src.st_ino {
                        return Err(staged(
                            Stage::SameFile,
                            io::Error::new(
                                io::ErrorKind::InvalidInput,
                                "source and destination are the same file",
                            ),
                        ));
                    }
                    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                        return Err(cd(errno(libc::EISDIR)));
                    }
                }
            },
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            // A dangling symlink under Replace: it is replaced, like any name.
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(cd(e)),
            Err(e) => return Err(cd(e)),
        }
        if opts.unnamed_temp {
            match openat(&dir, OsStr::new("."), libc::O_TMPFILE | libc::O_RDWR, mode) {
                Ok(file) => {
                    return Ok(Staged {
                        file,
                        dir,
                        name,
                        temp_name: None,
                        linked: false,
                        seq: next_seq(),
                    })
                }
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EOPNOTSUPP) | Some(libc::EISDIR) | Some(libc::EINVAL)
                    ) => {}
                Err(e) => return Err(cd(e)),
            }
        }
        for _ in 0..100 {
            let t = hidden_name(&name);
            match openat(
                &dir,
                &t,
                libc::O_CREAT | libc::O_EXCL | libc::O_RDWR | libc::O_NOFOLLOW,
                mode,
            ) {
                Ok(file) => {
                    return Ok(Staged {
                        file,
                        dir,
                        name,
                        temp_name: Some(t),
                        linked: false,
                        seq: next_seq(),
                    })
                }
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
                Err(e) => return Err(cd(e)),
            }
        }
        Err(cd(errno(libc::EEXIST)))
    }

    fn linkat_tmpfile(&self, to: &OsStr) -> io::Result<()> {
        let to = path_cstr(to)?;
        let proc = CString::new(format!("/proc/self/fd/{}", self.file.as_raw_fd())).unwrap();
        // SAFETY: NUL-terminated names and valid descriptors.
        let r = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                proc.as_ptr(),
                self.dir.as_raw_fd(),
                to.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOENT) {
            return Err(e);
        }
        // No /proc: AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH, but may work.
        // SAFETY: As above.
        let r = unsafe {
            libc::linkat(
                self.file.as_raw_fd(),
                c"".as_ptr(),
                self.dir.as_raw_fd(),
                to.as_ptr(),
                libc::AT_EMPTY_PATH,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(e)
        }
    }

    fn renameat(&self, from: &OsStr, to: &OsStr, flags: libc::c_uint) -> io::Result<()> {
        let (f, t) = (path_cstr(from)?, path_cstr(to)?);
        let d = self.dir.as_raw_fd();
        // SAFETY: NUL-terminated names relative to a valid directory descriptor.
        fsops::cvt(unsafe { libc::renameat2(d, f.as_ptr(), d, t.as_ptr(), flags) }).map(drop)
    }

    fn unlinkat(&self, name: &OsStr) {
        if let Ok(c) = path_cstr(name) {
            // SAFETY: As above.
            unsafe { libc::unlinkat(self.dir.as_raw_fd(), c.as_ptr(), 0) };
        }
    }

    /// Gives the complete file its name.
    fn link(&mut self, create: Create) -> io::Result<()> {
        let name = self.name.clone();
        match (&self.temp_name, create) {
            (None, Create::Exclusive) => self.linkat_tmpfile(&name)?,
            (None, Create::Replace) => match self.linkat_tmpfile(&name) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                    // Link at a hidden name, then one rename over the destination.
                    let mut hidden = None;
                    for _ in 0..100 {
                        let t = hidden_name(&name);
                        match self.linkat_tmpfile(&t) {
                            Ok(()) => {
                                hidden = Some(t);
                                break;
                            }
                            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
                            Err(e) => return Err(e),
                        }
                    }
                    let hidden = hidden.ok_or_else(|| errno(libc::EEXIST))?;
                    if let Err(e) = self.renameat(&hidden, &name, 0) {
                        self.unlinkat(&hidden);
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            },
            (Some(t), Create::Replace) => self.renameat(&t.clone(), &name, 0)?,
            (Some(t), Create::Exclusive) => {
                let t = t.clone();
                match self.renameat(&t, &name, libc::RENAME_NOREPLACE) {
                    Ok(()) => {}
                    Err(e)
                        if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) =>
                    {
                        // No RENAME_NOREPLACE here: link(2) fails on an existing name too.
                        let (a, b) = (path_cstr(&t)?, path_cstr(&name)?);
                        let d = self.dir.as_raw_fd();
                        // SAFETY: NUL-terminated names relative to a valid directory.
                        fsops::cvt(unsafe { libc::linkat(d, a.as_ptr(), d, b.as_ptr(), 0) })?;
                        self.unlinkat(&t);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        self.linked = true;
        Ok(())
    }
}

/// `OpenOptions` for a directory to use as an `*at` base.
trait DirOpen {
    fn custom_flags_path(&mut self, p: &Path) -> io::Result<File>;
}

impl DirOpen for std::fs::OpenOptions {
    fn custom_flags_path(&mut self, p: &Path) -> io::Result<File> {
        use std::os::unix::fs::OpenOptionsExt;
        self.read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(p)
    }
}

/// One whole-file copy, in steps, for callers that drive many at once (`crcp -j`):
/// [`begin`](Self::begin) opens the source and creates the invisible destination,
/// [`submit`](Self::submit) starts a module job (poll [`job`](Self::job)'s descriptor) or
/// [`run`](Self::run) copies the data in this thread, and [`commit`](Self::commit) applies the
/// metadata, fsyncs and links the file in ([`commit_batch`](Self::commit_batch) does the same
/// for many copies with one `syncfs(2)` per filesystem). Dropping a `FileCopy` before its
/// commit cancels its job and discards the destination: nothing partial is ever visible.
pub struct FileCopy {
    // Dropped first: closing the job cancels it and waits before the file goes.
    job: Option<Job>,
    staged: Staged,
    src: File,
    src_stat: libc::stat,
    opts: CopyOptions,
    started: Instant,
    path: Option<CopyPath>,
    /// Where a data copy stopped short (the source shrank), for the final size.
    end: Option<u64>,
}

impl fmt::Debug for FileCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileCopy")
            .field("job", &self.job)
            .field("size", &self.len())
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

const CHUNK: u64 = 8 << 20;
const RW_BUF: usize = 1 << 20;

fn fallback_errno(e: &io::Error) -> bool {
    // GNU cp's and Go's lists of "copy_file_range cannot do this here" errors.
    matches!(
        e.raw_os_error(),
        Some(libc::EXDEV)
            | Some(libc::EOPNOTSUPP)
            | Some(libc::EINVAL)
            | Some(libc::ENOSYS)
            | Some(libc::ENOTTY)
            | Some(libc::EBADF)
            | Some(libc::EPERM)
            | Some(libc::ETXTBSY)
    )
}

impl FileCopy {
    /// Opens `src` (following symlinks; it must be a regular file: `EISDIR` for a directory,
    /// `EINVAL` for anything else) and creates the destination's temporary file in `dst`'s
    /// directory. Under [`Create::Exclusive`] an existing `dst` is `EEXIST` here, before any
    /// data moves.
    pub fn begin(src: &Path, dst: &Path, opts: &CopyOptions) -> io::Result<FileCopy> {
        let started = Instant::now();
        let os = |e| staged(Stage::OpenSource, e);
        let src_file = File::options()
            .read(true)
            .custom_flags_nonblock()
            .open(src)
            .map_err(os)?;
        let st = fstat(&src_file).map_err(os)?;
        match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => {}
            libc::S_IFDIR => return Err(os(errno(libc::EISDIR))),
            _ => return Err(os(errno(libc::EINVAL))),
        }
        // SAFETY: Plain fcntl calls on a valid descriptor.
        unsafe {
            let fl = libc::fcntl(src_file.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(src_file.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK);
        }
        let staged = Staged::create(dst, st.st_mode & 0o777, opts, &st)?;
        Ok(FileCopy {
            job: None,
            staged,
            src: src_file,
            src_stat: st,
            opts: opts.clone(),
            started,
            path: None,
            end: None,
        })
    }

    /// The source's size when the copy began: the bytes this copy will produce.
    pub fn len(&self) -> u64 {
        self.src_stat.st_size as u64
    }

    /// Whether the source is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The source, open for reading.
    pub fn source(&self) -> &File {
        &self.src
    }

    /// The destination's temporary file, open for reading and writing.
    pub fn destination(&self) -> &File {
        &self.staged.file
    }

    /// The module job, once [`submit`](Self::submit)ted.
    pub fn job(&self) -> Option<&Job> {
        self.job.as_ref()
    }

    fn data_stage(&self) -> Stage {
        if self.opts.reflink == Reflink::Always {
            Stage::Clone
        } else {
            Stage::Copy
        }
    }

    /// Submits the whole file as one module job with the options' policy. The caller polls
    /// [`job`](Self::job) (or calls [`run`](Self::run), which does) and then
    /// [`commit`](Self::commit)s. Errors are the module's: under [`Reflink::Always`],
    /// `EOPNOTSUPP`/`EXDEV`/`EINVAL` (stage [`Stage::Clone`]) before anything is copied.
    pub fn submit(&mut self, dev: &CopyRange) -> io::Result<&Job> {
        let job = dev
            .submit(
                &self.src,
                0,
                &self.staged.file,
                0,
                self.len(),
                self.opts.reflink.sharing(),
            )
            .map_err(|e| {
                let s = self.data_stage();
                staged(s, e)
            })?;
        self.path = Some(CopyPath::Module);
        Ok(self.job.insert(job))
    }

    fn cancelled(&self) -> bool {
        self.opts.cancel.as_ref().is_some_and(|c| c.is_cancelled())
    }

    fn progress(&self, copied: u64) {
        if let Some(p) = &self.opts.progress {
            p(Progress {
                copied,
                total: self.len(),
            });
        }
    }

    fn check_cancel(&self) -> io::Result<()> {
        if self.cancelled() {
            Err(staged(Stage::Copy, errno(libc::ECANCELED)))
        } else {
            Ok(())
        }
    }

    /// Copies the data in this thread, blocking until done: with `dev`, a module job polled
    /// every [`CopyOptions::poll_interval`] for progress and cancellation (synchronous module
    /// copies in 64 MiB steps when no job can be submitted: `EAGAIN`, or a module without
    /// jobs); without, the fallback paths chosen by the policy. A job already submitted is
    /// driven to its end.
    pub fn run(&mut self, dev: Option<&CopyRange>) -> io::Result<()> {
        if self.job.is_none() {
            if let Some(dev) = dev {
                match self.submit(dev) {
                    Ok(_) => {}
                    Err(e)
                        if matches!(error_errno(&e), Some(libc::EAGAIN) | Some(libc::ENOTTY)) =>
                    {
                        return self.run_sync(dev)
                    }
                    Err(e) => return Err(e),
                }
            } else {
                return self.run_fallback();
            }
        }
        let job = self.job.as_ref().expect("submitted");
        let mut cancelled = false;
        loop {
            if !cancelled && self.cancelled() {
                job.cancel().map_err(|e| staged(Stage::Copy, e))?;
                cancelled = true;
            }
            match job
                .wait_timeout(self.opts.poll_interval)
                .map_err(|e| staged(Stage::Copy, e))?
            {
                Some(_) => return Ok(()),
                None => {
                    if let Ok(st) = job.status() {
                        self.progress(st.copied);
                    }
                }
            }
        }
    }

    fn run_sync(&mut self, dev: &CopyRange) -> io::Result<()> {
        self.path = Some(CopyPath::Module);
        let len = self.len();
        let mut done = 0;
        while done < len {
            self.check_cancel()?;
            let want = (len - done).min(64 << 20);
            match dev.copy(
                &self.src,
                done,
                &self.staged.file,
                done,
                want,
                self.opts.reflink.sharing(),
            ) {
                Ok(0) => {
                    self.end = Some(done);
                    break;
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(staged(self.data_stage(), e)),
            }
            self.progress(done);
        }
        Ok(())
    }

    fn run_fallback(&mut self) -> io::Result<()> {
        let len = self.len();
        match self.opts.reflink {
            Reflink::Always => {
                fsops::ficlone(&self.staged.file, &self.src)
                    .map_err(|e| staged(Stage::Clone, e))?;
                self.path = Some(CopyPath::Ficlone);
                self.progress(len);
                return Ok(());
            }
            Reflink::Auto => {
                if fsops::ficlone(&self.staged.file, &self.src).is_ok() {
                    self.path = Some(CopyPath::Ficlone);
                    self.progress(len);
                    return Ok(());
                }
            }
            Reflink::Never => {}
        }
        // copy_file_range(2) may share extents on its own (btrfs, xfs, NFS, ...), so under
        // Never it is used only where the filesystem certainly cannot share.
        let cfr = match self.opts.reflink {
            Reflink::Auto => true,
            _ => fsops::cannot_share(&self.src, &self.staged.file),
        };
        self.copy_data(cfr).map_err(|e| staged(Stage::Copy, e))
    }

    /// Copies the data segments of the source (SEEK_DATA/SEEK_HOLE), leaving holes as holes.
    fn copy_data(&mut self, mut cfr: bool) -> io::Result<()> {
        let len = self.len();
        let mut cfr_used = false;
        let mut buf = Vec::new();
        let mut off = 0u64;
        'segments: while off < len {
            let data = match fsops::seek(&self.src, off, libc::SEEK_DATA) {
                Ok(Some(d)) => d,
                Ok(None) => break,
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EINVAL) | Some(libc::EOPNOTSUPP)
                    ) =>
                {
                    off
                }
                Err(e) => return Err(e),
            };
            if data >= len {
                break;
            }
            let hole = match fsops::seek(&self.src, data, libc::SEEK_HOLE) {
                Ok(Some(h)) => h.min(len),
                _ => len,
            };
            let mut pos = data;
            while pos < hole {
                self.check_cancel()?;
                let want = (hole - pos).min(CHUNK);
                if cfr {
                    match fsops::copy_file_range(
                        &self.src,
                        pos,
                        &self.staged.file,
                        pos,
                        want as usize,
                    ) {
                        Ok(0) if !cfr_used => cfr = false,
                        Ok(0) => {
                            self.end = Some(pos);
                            break 'segments;
                        }
                        Ok(n) => {
                            cfr_used = true;
                            pos += n as u64;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) if fallback_errno(&e) => cfr = false,
                        Err(e) => return Err(e),
                    }
                } else {
                    if buf.is_empty() {
                        buf = vec![0u8; RW_BUF];
                    }
                    let want = (want as usize).min(buf.len());
                    let n = fsops::pread(&self.src, &mut buf[..want], pos)?;
                    if n == 0 {
                        self.end = Some(pos);
                        break 'segments;
                    }
                    fsops::pwrite_all(&self.staged.file, &buf[..n], pos)?;
                    pos += n as u64;
                }
                self.progress(pos);
            }
            off = hole;
        }
        let size = self.end.unwrap_or(len);
        self.staged.file.set_len(size)?;
        self.path = Some(if cfr_used {
            CopyPath::CopyFileRange
        } else {
            CopyPath::ReadWrite
        });
        self.progress(size);
        Ok(())
    }

    /// Finishes the copy: checks the job's outcome (if any), applies the requested metadata,
    /// fsyncs (if asked) and links the file in under its name. On any error the temporary
    /// file is discarded. A job still running is `EBUSY`. To finish many copies with one
    /// sync instead of one each, see [`commit_batch`](Self::commit_batch).
    pub fn commit(mut self) -> io::Result<CopyReport> {
        let path = self.complete()?;
        if self.opts.fsync {
            sync_file(&self.staged.file).map_err(|e| staged(Stage::Sync, e))?;
        }
        self.link_in(path)
    }

    /// Finishes many copies together, like [`commit`](Self::commit) each, but with one
    /// `syncfs(2)` per filesystem for the whole batch instead of one `fsync(2)` per file:
    ///
    /// 1. each copy's job outcome is checked (`EBUSY` for a job still running), a copy whose
    ///    source shrank is cut to what was read, and the requested metadata is applied;
    /// 2. the copies that got this far and whose options ask for
    ///    [`fsync`](CopyOptions::fsync) are grouped by filesystem (the `st_dev` of their
    ///    temporary files), and each filesystem gets one `syncfs(2)`, called on the batch's
    ///    earliest-opened temporary file there. If it fails, every one of those files is
    ///    `fsync`ed instead, so that an error lands on the file it belongs to (a failure of
    ///    someone else's writeback on that filesystem then costs only the per-file syncs);
    /// 3. each copy is linked in under its name, as [`commit`](Self::commit) does.
    ///
    /// The result for each copy is in the order of `copies`. A copy that fails at any step
    /// fails alone (its temporary file is discarded) and the others go on. The cancel token is
    /// checked before each link: a cancel in the middle of the batch leaves the files linked
    /// so far, complete, and discards the rest.
    ///
    /// # The same crash guarantee as `fsync`
    ///
    /// `syncfs(2)` writes back every dirty inode of the filesystem and waits for it, then has
    /// the filesystem commit its journal (or, on btrfs, its transaction) before it returns.
    /// The temporary files are inodes of that filesystem like any other, named or not: an
    /// unnamed `O_TMPFILE` is dirty and on the filesystem's writeback lists exactly as a
    /// named file is (and held by its orphan record until linked), so its data, size and
    /// metadata are on disk when `syncfs` returns, as after an `fsync` of it. Only then are
    /// the names linked. A crash before a link leaves the old destination (or none), and the
    /// orphaned temporary is reclaimed at mount; a crash after it leaves the complete file.
    /// Errors: since Linux 5.8 `syncfs` reports the filesystem's writeback errors that
    /// happened since the descriptor it is called on was opened, which is why it is called on
    /// the earliest-opened temporary file (any member's data was written after that open);
    /// older kernels report no writeback errors from `syncfs`, a gap that an `fsync` per file
    /// does not have.
    ///
    /// # Cost
    ///
    /// One journal commit (and one disk cache flush) for the batch instead of one per file,
    /// which is most of the cost of copying small files to a disk filesystem. But `syncfs`
    /// also writes back every *other* dirty file of that filesystem, the caller's or anyone
    /// else's: on a filesystem with much unrelated dirty data, a batch can take longer than
    /// its own files' `fsync`s would.
    pub fn commit_batch(copies: Vec<FileCopy>) -> Vec<io::Result<CopyReport>> {
        let mut results: Vec<Option<io::Result<CopyReport>>> = Vec::with_capacity(copies.len());
        let mut ready: Vec<(usize, FileCopy, CopyPath)> = Vec::new();
        for (i, mut fc) in copies.into_iter().enumerate() {
            results.push(None);
            match fc.complete() {
                Ok(path) => ready.push((i, fc, path)),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        // Which filesystem each copy to sync is on; `ready` indices, in input order.
        let mut filesystems: Vec<(libc::dev_t, Vec<usize>)> = Vec::new();
        let mut failed = vec![false; ready.len()];
        for (k, (i, fc, _)) in ready.iter().enumerate() {
            if !fc.opts.fsync {
                continue;
            }
            match fstat(&fc.staged.file) {
                Ok(st) => match filesystems.iter_mut().find(|(dev, _)| *dev == st.st_dev) {
                    Some((_, members)) => members.push(k),
                    None => filesystems.push((st.st_dev, vec![k])),
                },
                Err(e) => {
                    results[*i] = Some(Err(staged(Stage::Sync, e)));
                    failed[k] = true;
                }
            }
        }
        for (_, members) in &filesystems {
            let first = members
                .iter()
                .copied()
                .min_by_key(|&k| ready[k].1.staged.seq)
                .expect("a filesystem has members");
            if sync_filesystem(&ready[first].1.staged.file).is_ok() {
                continue;
            }
            for &k in members {
                if let Err(e) = sync_file(&ready[k].1.staged.file) {
                    results[ready[k].0] = Some(Err(staged(Stage::Sync, e)));
                    failed[k] = true;
                }
            }
        }
        for ((i, fc, path), failed) in ready.into_iter().zip(failed) {
            if !failed {
                results[i] = Some(fc.link_in(path));
            }
        }
        results
            .into_iter()
            .map(|r| r.expect("every copy has a result"))
            .collect()
    }

    /// The first part of a commit, up to the sync: the job's outcome, the size of a copy whose
    /// source shrank, a last cancel check and the metadata. The path the data took.
    fn complete(&mut self) -> io::Result<CopyPath> {
        if let Some(job) = &self.job {
            let st = job.status().map_err(|e| staged(Stage::Copy, e))?;
            match st.state {
                JobState::Running => return Err(staged(Stage::Copy, errno(libc::EBUSY))),
                JobState::Done => {
                    if st.copied < self.len() {
                        // The source shrank during the copy: keep what it had.
                        self.staged
                            .file
                            .set_len(st.copied)
                            .map_err(|e| staged(Stage::Copy, e))?;
                    }
                }
                JobState::Failed => {
                    let e = st.error().unwrap_or_else(|| errno(libc::EIO));
                    return Err(staged(self.data_stage(), e));
                }
                JobState::Cancelled => return Err(staged(Stage::Copy, errno(libc::ECANCELED))),
            }
            self.progress(st.copied);
        }
        let path = match self.path {
            Some(p) => p,
            None => return Err(staged(Stage::Copy, errno(libc::EINVAL))),
        };
        self.check_cancel()?;
        meta::apply(
            self.src.as_raw_fd(),
            self.staged.file.as_raw_fd(),
            &self.src_stat,
            &self.opts.preserve,
        )?;
        Ok(path)
    }

    /// The last part of a commit, once the data is durable (or need not be): a last cancel
    /// check, the link, and the report.
    fn link_in(mut self, path: CopyPath) -> io::Result<CopyReport> {
        self.check_cancel()?;
        self.staged
            .link(self.opts.create)
            .map_err(|e| staged(Stage::Link, e))?;
        let measured = if self.opts.measure_sharing {
            fsops::fiemap_summary(&self.staged.file).ok()
        } else {
            None
        };
        let (mapped, shared, measured) = match measured {
            Some(s) => (Some(s.mapped), Some(s.shared), true),
            None => (
                None,
                (self.opts.reflink == Reflink::Never).then_some(0),
                false,
            ),
        };
        Ok(CopyReport {
            bytes: self.end.unwrap_or(self.len()),
            bytes_mapped: mapped,
            bytes_shared: shared,
            shared_measured: measured,
            path,
            elapsed: self.started.elapsed(),
            unnamed_temp: self.staged.temp_name.is_none(),
        })
    }
}

/// `fsync(2)` of one file (a test can make it fail for one inode).
fn sync_file(file: &File) -> io::Result<()> {
    #[cfg(test)]
    if let Some(e) = fault::fsync(file) {
        return Err(e);
    }
    file.sync_all()
}

/// `syncfs(2)` of the filesystem `file` is on (a test can make it fail).
fn sync_filesystem(file: &File) -> io::Result<()> {
    #[cfg(test)]
    if let Some(e) = fault::syncfs() {
        return Err(e);
    }
    // SAFETY: A plain system call on a valid descriptor.
    fsops::cvt(unsafe { libc::syncfs(file.as_raw_fd()) }).map(drop)
}

/// Injected failures of the syncs, per thread, for the unit tests.
#[cfg(test)]
mod fault {
    use std::{cell::Cell, fs::File, io};

    thread_local! {
        /// The errno every `syncfs` fails with, and how many were called.
        pub(super) static SYNCFS: Cell<(Option<i32>, u32)> = const { Cell::new((None, 0)) };
        /// The inode whose `fsync` fails, with which errno; and how many were called.
        pub(super) static FSYNC: Cell<(Option<(u64, i32)>, u32)> = const { Cell::new((None, 0)) };
    }

    pub(super) fn syncfs() -> Option<io::Error> {
        let (fail, n) = SYNCFS.get();
        SYNCFS.set((fail, n + 1));
        fail.map(io::Error::from_raw_os_error)
    }

    pub(super) fn fsync(file: &File) -> Option<io::Error> {
        use std::os::unix::fs::MetadataExt;
        let (fail, n) = FSYNC.get();
        FSYNC.set((fail, n + 1));
        let (ino, e) = fail?;
        (file.metadata().ok()?.ino() == ino).then(|| io::Error::from_raw_os_error(e))
    }
}

trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlock for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        // A FIFO would block the open; it is refused right after, by type.
        self.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
    }
}

/// Applies the metadata `preserve` asks for, from `src_stat` (the source's `stat`, taken
/// before the copy read it, so the access time is the old one) and the open `src` (for its
/// extended attributes), to the open `dst`: what [`FileCopy::commit`] does to a file, for
/// callers that copy directories or other objects themselves. Errors carry a [`Stage`].
pub fn apply_metadata(
    src: &impl std::os::fd::AsFd,
    src_stat: &libc::stat,
    dst: &impl std::os::fd::AsFd,
    preserve: &Preserve,
) -> io::Result<()> {
    meta::apply(
        src.as_fd().as_raw_fd(),
        dst.as_fd().as_raw_fd(),
        src_stat,
        preserve,
    )
}

/// Opens `/dev/copy_range` if the module is there: `Ok(None)` when the node is absent (any
/// stock kernel) or no driver is behind it.
pub fn open_device() -> io::Result<Option<CopyRange>> {
    match CopyRange::open() {
        Ok(d) => Ok(Some(d)),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOENT) | Some(libc::ENXIO) | Some(libc::ENODEV)
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Copies the regular file `src` to `dst` as a whole, atomically: the data goes to an unnamed
/// file in `dst`'s directory (`O_TMPFILE`), which gets its name only once complete, with its
/// metadata and fsynced. A crash or kill at any moment leaves the old destination (or none)
/// or the complete new one, never a partial one (see [`CopyOptions::unnamed_temp`] for the
/// filesystems without `O_TMPFILE`).
///
/// With the module (`/dev/copy_range`, unless [`CopyOptions::use_module`] is off) the data is
/// one asynchronous job with the policy's flags. Without it:
///
/// - [`Reflink::Never`]: `pread`/`pwrite` of the data segments (SEEK_DATA/SEEK_HOLE), or
///   `copy_file_range(2)` where both files are on one ext2/3/4, tmpfs or ramfs, which cannot
///   share extents;
/// - [`Reflink::Auto`]: `FICLONE`, else `copy_file_range(2)` per data segment (falling back to
///   read/write on `EXDEV`, `EOPNOTSUPP`, `EINVAL`, `ENOSYS`, ..., or on 0 at the first call),
///   else read/write;
/// - [`Reflink::Always`]: `FICLONE` or the module's errors: `EOPNOTSUPP` where the filesystem
///   cannot share, `EXDEV` across filesystems.
///
/// Holes stay holes on every path. The [`CopyReport`] says which path was taken.
pub fn copyfile(src: &Path, dst: &Path, options: &CopyOptions) -> io::Result<CopyReport> {
    let dev = if options.use_module {
        open_device()?
    } else {
        None
    };
    let mut fc = FileCopy::begin(src, dst, options)?;
    fc.run(dev.as_ref())?;
    fc.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflink_maps_to_module_policy() {
        assert_eq!(Reflink::Never.sharing(), Sharing::Forbid);
        assert_eq!(Reflink::Auto.sharing(), Sharing::Allow);
        assert_eq!(Reflink::Always.sharing(), Sharing::Require);
        assert_eq!(Reflink::default(), Reflink::Never);
    }

    #[test]
    fn hidden_names_fit_name_max() {
        for len in [1, 240, 245, 246, 250, 255] {
            let long = "x".repeat(len);
            let h = hidden_name(OsStr::new(&long));
            assert!(h.len() <= 255, "{len}: {}", h.len());
            assert!(h.to_string_lossy().starts_with(".#x"));
        }
        let h = hidden_name(OsStr::new("name"));
        assert!(h.to_string_lossy().starts_with(".#name."), "{h:?}");
        assert_eq!(h.len(), ".#name.".len() + 6);
    }

    /// A fresh directory with `n` small sources `s0`.. and copies of them begun and run
    /// (without the module) to `d0`..: the directory and the copies.
    fn batch_of(name: &str, n: usize, opts: &CopyOptions) -> (std::path::PathBuf, Vec<FileCopy>) {
        let dir =
            std::env::temp_dir().join(format!("copy-range-unit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let copies = (0..n)
            .map(|i| {
                let src = dir.join(format!("s{i}"));
                std::fs::write(&src, vec![i as u8; 3000 + i]).unwrap();
                let mut fc = FileCopy::begin(&src, &dir.join(format!("d{i}")), opts).unwrap();
                fc.run(None).unwrap();
                fc
            })
            .collect();
        (dir, copies)
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn no_modules() -> CopyOptions {
        CopyOptions {
            use_module: false,
            ..CopyOptions::default()
        }
    }

    #[test]
    fn a_batch_syncs_each_filesystem_once_and_fsyncs_nothing() {
        fault::SYNCFS.set((None, 0));
        fault::FSYNC.set((None, 0));
        let (dir, copies) = batch_of("one-syncfs", 4, &no_modules());
        let results = FileCopy::commit_batch(copies);
        assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
        assert_eq!((fault::SYNCFS.get().1, fault::FSYNC.get().1), (1, 0));
        // Copies that ask for no sync get none.
        let opts = CopyOptions {
            fsync: false,
            ..no_modules()
        };
        let (dir2, copies) = batch_of("no-sync", 3, &opts);
        assert!(FileCopy::commit_batch(copies).iter().all(|r| r.is_ok()));
        assert_eq!((fault::SYNCFS.get().1, fault::FSYNC.get().1), (1, 0));
        // A single commit fsyncs its file, as it always did.
        let (dir3, mut copies) = batch_of("single", 1, &no_modules());
        copies.pop().unwrap().commit().unwrap();
        assert_eq!((fault::SYNCFS.get().1, fault::FSYNC.get().1), (1, 1));
        for d in [dir, dir2, dir3] {
            std::fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn a_failed_syncfs_falls_back_to_fsync_and_the_error_lands_on_its_file() {
        for unnamed in [true, false] {
            let opts = CopyOptions {
                unnamed_temp: unnamed,
                ..no_modules()
            };
            let (dir, copies) = batch_of(&format!("syncfs-fails-{unnamed}"), 3, &opts);
            let bad =
                std::os::unix::fs::MetadataExt::ino(&copies[1].destination().metadata().unwrap());
            fault::SYNCFS.set((Some(libc::EIO), 0));
            fault::FSYNC.set((Some((bad, libc::EIO)), 0));
            let results = FileCopy::commit_batch(copies);
            let (syncfs_calls, fsync_calls) = (fault::SYNCFS.get().1, fault::FSYNC.get().1);
            fault::SYNCFS.set((None, 0));
            fault::FSYNC.set((None, 0));
            assert_eq!((syncfs_calls, fsync_calls), (1, 3));
            assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
            let e = results[1].as_ref().unwrap_err();
            assert_eq!(error_stage(e), Some(Stage::Sync));
            assert_eq!(error_errno(e), Some(libc::EIO));
            // The failed one is discarded, hidden temporary and all.
            assert_eq!(names(&dir), ["d0", "d2", "s0", "s1", "s2"]);
            assert_eq!(std::fs::read(dir.join("d2")).unwrap(), vec![2u8; 3002]);
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    #[test]
    fn staged_errors_keep_kind_errno_and_stage() {
        let e = staged(Stage::Clone, errno(libc::EOPNOTSUPP));
        assert_eq!(error_stage(&e), Some(Stage::Clone));
        assert_eq!(error_errno(&e), Some(libc::EOPNOTSUPP));
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        // Not wrapped twice.
        let e = staged(Stage::Copy, e);
        assert_eq!(error_stage(&e), Some(Stage::Clone));
        assert_eq!(e.to_string(), errno(libc::EOPNOTSUPP).to_string());
    }
}
