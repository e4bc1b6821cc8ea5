// SPDX-License-Identifier: GPL-2.0

//! How to copy a file: the policy, the creation of the destination, the metadata to keep,
//! progress and cancellation ([`CopyOptions`] and its parts).

#[cfg(doc)]
use crate::{error_errno, CopyReport, FileCopy};
use crate::{
    errors::{errno, staged, Stage},
    Sharing,
};
use std::{
    fmt, io,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
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

impl CopyOptions {
    /// Whether the cancel token, if any, was cancelled.
    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|c| c.is_cancelled())
    }

    /// `ECANCELED` (at [`Stage::Copy`]) once the cancel token was cancelled.
    pub(crate) fn check_cancel(&self) -> io::Result<()> {
        if self.cancelled() {
            Err(staged(Stage::Copy, errno(libc::ECANCELED)))
        } else {
            Ok(())
        }
    }

    /// Tells the progress callback, if any, that `copied` bytes of `total` are done.
    pub(crate) fn report_progress(&self, copied: u64, total: u64) {
        if let Some(p) = &self.progress {
            p(Progress { copied, total });
        }
    }
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
}
