// SPDX-License-Identifier: GPL-2.0

//! The plan: each source is stat'ed and directories are walked (sorted, symlinks not
//! followed; a signal stops the walk), destination directories made on the way; regular
//! files become [`FileTask`]s for the copy loops, symlinks and special files are made at
//! once, and each directory leaves a [`DirFix`] for its final metadata.

use crate::{
    args::Options,
    outcome::Outcome,
    report::{errtext, quote},
    signals::interrupted,
    special,
    sys::{self, lstat},
};
use std::{
    ffi::OsString,
    fs, io,
    path::{Path, PathBuf},
};

/// A regular file to copy, and its size when planned.
pub(crate) struct FileTask {
    pub(crate) src: PathBuf,
    pub(crate) dst: PathBuf,
    pub(crate) size: u64,
}

/// A destination directory whose metadata is set once its contents are copied.
pub(crate) struct DirFix {
    pub(crate) src: PathBuf,
    pub(crate) dst: PathBuf,
    pub(crate) st: libc::stat,
    pub(crate) created: bool,
}

/// What the walk leaves to do after it.
#[derive(Default)]
pub(crate) struct Plan {
    /// The regular files to copy.
    pub(crate) files: Vec<FileTask>,
    /// The directories to give their final metadata at the end, children before parents.
    pub(crate) dirs: Vec<DirFix>,
}

/// Plans the command-line sources, one [`source`](Self::source) at a time, and reports what
/// cannot be copied to the outcome.
pub(crate) struct Planner<'a> {
    opts: &'a Options,
    /// The process's umask, for the special files made on the way.
    umask: u32,
    out: &'a mut Outcome,
    plan: Plan,
}

impl<'a> Planner<'a> {
    pub(crate) fn new(opts: &'a Options, umask: u32, out: &'a mut Outcome) -> Planner<'a> {
        Planner {
            opts,
            umask,
            out,
            plan: Plan::default(),
        }
    }

    /// The plan of every source given.
    pub(crate) fn finish(self) -> Plan {
        self.plan
    }

    /// Plans one command-line source.
    pub(crate) fn source(&mut self, src: &Path, dst: &Path) {
        let st = if self.opts.recursive {
            lstat(src)
        } else {
            fs::metadata(src).and_then(|_| sys::stat(src))
        };
        let st = match st {
            Ok(st) => st,
            Err(e) => {
                return self
                    .out
                    .error(format!("cannot stat {}: {}", quote(src), errtext(&e)))
            }
        };
        match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                if !self.opts.recursive {
                    return self.out.error(format!(
                        "-r not specified; omitting directory {}",
                        quote(src)
                    ));
                }
                if let (Ok(s), Some(d)) = (fs::canonicalize(src), canonical_dest(dst)) {
                    if d.starts_with(&s) {
                        return self.out.error(format!(
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
                return self.out.error(format!(
                    "cannot overwrite directory {} with non-directory",
                    quote(dst)
                ));
            }
            if self.opts.no_clobber {
                return;
            }
            if d.st_dev == st.st_dev && d.st_ino == st.st_ino {
                return self.out.error(format!(
                    "{} and {} are the same file",
                    quote(src),
                    quote(dst)
                ));
            }
        }
        match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => self.plan.files.push(FileTask {
                src: src.to_path_buf(),
                dst: dst.to_path_buf(),
                size: st.st_size as u64,
            }),
            libc::S_IFLNK => special::copy_symlink(src, dst, &st, self.opts, self.out),
            _ if self.opts.recursive => {
                special::copy_special(dst, &st, self.opts, self.umask, self.out)
            }
            _ => self.out.error(format!(
                "cannot copy special file {}: only regular files are copied without -R",
                quote(src)
            )),
        }
    }

    /// Plans a directory: checks or makes `dst`, then plans each entry in name order.
    fn walk(&mut self, src: &Path, dst: &Path, st: libc::stat) {
        let created = match lstat(dst) {
            Ok(d) if d.st_mode & libc::S_IFMT == libc::S_IFDIR => false,
            Ok(_) => {
                return self.out.error(format!(
                    "cannot overwrite non-directory {} with directory {}",
                    quote(dst),
                    quote(src)
                ))
            }
            Err(_) => {
                // Owner rwx while we fill it; the final mode is set at the end.
                if let Err(e) = sys::mkdir(dst, (st.st_mode & 0o777) | 0o700) {
                    return self.out.error(format!(
                        "cannot create directory {}: {}",
                        quote(dst),
                        errtext(&e)
                    ));
                }
                true
            }
        };
        let entries = fs::read_dir(src).map(|rd| rd.map(|e| e.map(|e| e.file_name())));
        for name in self.dir_names(src, entries) {
            if interrupted() {
                break;
            }
            let s = src.join(&name);
            let d = dst.join(&name);
            match lstat(&s) {
                Ok(cst) if cst.st_mode & libc::S_IFMT == libc::S_IFDIR => self.walk(&s, &d, cst),
                Ok(cst) => self.plan_entry(&s, &d, cst),
                Err(e) => self
                    .out
                    .error(format!("cannot stat {}: {}", quote(&s), errtext(&e))),
            }
        }
        self.plan.dirs.push(DirFix {
            src: src.to_path_buf(),
            dst: dst.to_path_buf(),
            st,
            created,
        });
    }

    /// The names in directory `src`, sorted, from `entries` (`read_dir`'s): a failure to
    /// open or to read it is reported in GNU cp's words (its `savedir` failing: "cannot
    /// access"), makes the exit status 1, and leaves the names read before it.
    fn dir_names(
        &mut self,
        src: &Path,
        entries: io::Result<impl Iterator<Item = io::Result<OsString>>>,
    ) -> Vec<OsString> {
        let mut names = Vec::new();
        let failed = match entries {
            Ok(entries) => {
                let mut failed = None;
                for e in entries {
                    match e {
                        Ok(name) => names.push(name),
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                failed
            }
            Err(e) => Some(e),
        };
        if let Some(e) = failed {
            self.out
                .error(format!("cannot access {}: {}", quote(src), errtext(&e)));
        }
        names.sort();
        names
    }
}

/// Where `dst` is, or would be if created, with symlinks resolved.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The names `dir_names` returns for `entries`, and whether it reported a failure.
    fn names_of(
        entries: io::Result<impl Iterator<Item = io::Result<OsString>>>,
    ) -> (Vec<OsString>, bool) {
        let opts = Options::for_tests(&["-R", "a", "b"]);
        let mut out = Outcome::for_tests();
        let names = Planner::new(&opts, 0o022, &mut out).dir_names(Path::new("src"), entries);
        (names, out.failed())
    }

    #[test]
    fn directories_that_cannot_be_read_are_reported_and_the_rest_kept() {
        // Opening fails: nothing to plan, exit status 1.
        let open_failed: io::Result<std::vec::IntoIter<io::Result<OsString>>> =
            Err(io::Error::from_raw_os_error(libc::EACCES));
        assert_eq!(names_of(open_failed), (vec![], true));
        // Reading fails half-way (getdents: EIO): what was read is planned, sorted, and
        // the failure is reported.
        let entries = vec![
            Ok(OsString::from("b")),
            Ok(OsString::from("a")),
            Err(io::Error::from_raw_os_error(libc::EIO)),
        ];
        assert_eq!(
            names_of(Ok(entries.into_iter())),
            (vec![OsString::from("a"), OsString::from("b")], true)
        );
        let entries = vec![Ok(OsString::from("a"))];
        assert_eq!(
            names_of(Ok(entries.into_iter())),
            (vec![OsString::from("a")], false)
        );
    }
}
