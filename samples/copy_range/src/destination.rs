// SPDX-License-Identifier: GPL-2.0

//! The destination while it is being written: an unnamed `O_TMPFILE` in the destination's
//! directory, or a hidden name beside it ([`hidden_name`]); and how it gets its name once
//! complete, exclusively or replacing what is there in one `rename(2)`. Until then it is
//! invisible, and dropping it discards it.

use crate::{
    errors::{errno, staged, Stage},
    options::{CopyOptions, Create},
    syscall::{self, c_name},
};
use std::{
    ffi::{CString, OsStr, OsString},
    fs::File,
    io,
    os::{
        fd::{AsFd, AsRawFd},
        unix::{ffi::OsStrExt, fs::OpenOptionsExt},
    },
    path::Path,
    sync::atomic::{AtomicU64, Ordering},
};

/// How many names [`hidden_name`] draws before giving up with `EEXIST`.
const HIDDEN_NAME_TRIES: usize = 100;

/// The destination while it is being written: an unnamed file, or a hidden name.
pub(crate) struct Destination {
    /// The file, open for reading and writing.
    pub(crate) file: File,
    dir: File,
    name: OsString,
    temp_name: Option<OsString>,
    linked: bool,
    /// When `file` was opened, in the order of [`OPEN_SEQ`] (taken after the open).
    pub(crate) seq: u64,
}

/// Numbers the destinations in the order they were opened, for
/// [`FileCopy::commit_batch`](crate::FileCopy::commit_batch): `syncfs(2)` reports the
/// filesystem's writeback errors since the descriptor it is called on was opened, so it is
/// called on the batch's earliest one.
static OPEN_SEQ: AtomicU64 = AtomicU64::new(0);

fn next_seq() -> u64 {
    OPEN_SEQ.fetch_add(1, Ordering::SeqCst)
}

impl Drop for Destination {
    fn drop(&mut self) {
        if let (false, Some(t)) = (self.linked, &self.temp_name) {
            self.unlink(t);
        }
    }
}

/// A hidden temporary name for an entry to be called `name`, to create beside it and then
/// rename over it: `.#NAME.XXXXXX`, six random characters at the end, and `NAME` cut (at a
/// byte) so that the whole always fits in `NAME_MAX` (255 bytes) however long `name` is.
/// Each call draws a new suffix: create the entry exclusively and, on `EEXIST`, try another.
/// This is the name [`FileCopy`](crate::FileCopy) uses without `O_TMPFILE` and for an atomic
/// replace.
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
    s.push(random_suffix());
    s
}

/// Six characters for a temporary name, unpredictable enough to make collisions rare (a
/// collision is retried anyway: names are created with `O_EXCL`/`linkat` semantics).
fn random_suffix() -> String {
    let mut bytes = [0u8; 8];
    let mut v = if syscall::getrandom(&mut bytes).ok() == Some(8) {
        u64::from_ne_bytes(bytes)
    } else {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        (t.as_nanos() as u64) ^ ((std::process::id() as u64) << 32)
    };
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..6)
        .map(|_| {
            let c = CHARS[(v % CHARS.len() as u64) as usize] as char;
            v /= CHARS.len() as u64;
            c
        })
        .collect()
}

/// The directory `p`, opened as a base for `*at` calls.
fn open_dir(p: &Path) -> io::Result<File> {
    File::options()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(p)
}

impl Destination {
    /// Creates the destination of a copy to `dst` with `mode`, as `opts` say: checks what is
    /// at `dst` now (`EEXIST` under [`Create::Exclusive`], the same file as the source `src`,
    /// a directory), then opens an unnamed file or, without one, a hidden name.
    pub(crate) fn create(
        dst: &Path,
        mode: u32,
        opts: &CopyOptions,
        src: &libc::stat,
    ) -> io::Result<Destination> {
        let cd = |e| staged(Stage::CreateDestination, e);
        let name = dst
            .file_name()
            .ok_or_else(|| cd(errno(libc::EINVAL)))?
            .to_os_string();
        let parent = match dst.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = open_dir(parent).map_err(cd)?;
        let nofollow = match opts.create {
            Create::Exclusive => libc::AT_SYMLINK_NOFOLLOW,
            Create::Replace => 0,
        };
        let existing = c_name(&name).and_then(|c| syscall::fstatat(dir.as_fd(), &c, nofollow));
        match existing {
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
            match syscall::openat(dir.as_fd(), c".", libc::O_TMPFILE | libc::O_RDWR, mode) {
                Ok(file) => {
                    return Ok(Destination {
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
        for _ in 0..HIDDEN_NAME_TRIES {
            let t = hidden_name(&name);
            let flags = libc::O_CREAT | libc::O_EXCL | libc::O_RDWR | libc::O_NOFOLLOW;
            match c_name(&t).and_then(|c| syscall::openat(dir.as_fd(), &c, flags, mode)) {
                Ok(file) => {
                    return Ok(Destination {
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

    /// Whether the file is an unnamed `O_TMPFILE` (else it has a hidden name).
    pub(crate) fn is_unnamed(&self) -> bool {
        self.temp_name.is_none()
    }

    /// Links the unnamed file in at `to`.
    fn link_unnamed(&self, to: &OsStr) -> io::Result<()> {
        let to = c_name(to)?;
        let proc = CString::new(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
            .expect("no NUL in a number");
        let e = match syscall::linkat(None, &proc, self.dir.as_fd(), &to, libc::AT_SYMLINK_FOLLOW) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() != Some(libc::ENOENT) => return Err(e),
            Err(e) => e,
        };
        // No /proc: AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH, but may work.
        syscall::linkat(
            Some(self.file.as_fd()),
            c"",
            self.dir.as_fd(),
            &to,
            libc::AT_EMPTY_PATH,
        )
        .map_err(|_| e)
    }

    fn rename(&self, from: &OsStr, to: &OsStr, flags: libc::c_uint) -> io::Result<()> {
        syscall::renameat2(self.dir.as_fd(), &c_name(from)?, &c_name(to)?, flags)
    }

    /// Removes `name` from the directory, if it can.
    fn unlink(&self, name: &OsStr) {
        if let Ok(c) = c_name(name) {
            let _ = syscall::unlinkat(self.dir.as_fd(), &c);
        }
    }

    /// Gives the complete file its name.
    pub(crate) fn link(&mut self, create: Create) -> io::Result<()> {
        let name = self.name.clone();
        match (&self.temp_name, create) {
            (None, Create::Exclusive) => self.link_unnamed(&name)?,
            (None, Create::Replace) => match self.link_unnamed(&name) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                    // Link at a hidden name, then one rename over the destination.
                    let mut hidden = None;
                    for _ in 0..HIDDEN_NAME_TRIES {
                        let t = hidden_name(&name);
                        match self.link_unnamed(&t) {
                            Ok(()) => {
                                hidden = Some(t);
                                break;
                            }
                            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
                            Err(e) => return Err(e),
                        }
                    }
                    let hidden = hidden.ok_or_else(|| errno(libc::EEXIST))?;
                    if let Err(e) = self.rename(&hidden, &name, 0) {
                        self.unlink(&hidden);
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            },
            (Some(t), Create::Replace) => self.rename(&t.clone(), &name, 0)?,
            (Some(t), Create::Exclusive) => {
                let t = t.clone();
                match self.rename(&t, &name, libc::RENAME_NOREPLACE) {
                    Ok(()) => {}
                    Err(e)
                        if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) =>
                    {
                        // No RENAME_NOREPLACE here: link(2) fails on an existing name too.
                        let (a, b) = (c_name(&t)?, c_name(&name)?);
                        syscall::linkat(Some(self.dir.as_fd()), &a, self.dir.as_fd(), &b, 0)?;
                        self.unlink(&t);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        self.linked = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn random_suffixes_differ() {
        let a = random_suffix();
        assert_eq!(a.len(), 6);
        assert_ne!(a, random_suffix());
    }
}
