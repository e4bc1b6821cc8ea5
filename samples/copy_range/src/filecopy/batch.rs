// SPDX-License-Identifier: GPL-2.0

//! [`FileCopy::commit_batch`]: many copies committed together, with one `syncfs(2)` per
//! filesystem instead of an `fsync(2)` per file; and the two syncs, which the unit tests can
//! make fail.

use super::FileCopy;
#[cfg(doc)]
use crate::CopyOptions;
use crate::{
    errors::{staged, Stage},
    report::{CopyPath, CopyReport},
    syscall,
};
use std::{fs::File, io, os::fd::AsFd};

impl FileCopy {
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
            match syscall::fstat(fc.dest.file.as_fd()) {
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
                .min_by_key(|&k| ready[k].1.dest.seq)
                .expect("a filesystem has members");
            if sync_filesystem(&ready[first].1.dest.file).is_ok() {
                continue;
            }
            for &k in members {
                if let Err(e) = sync_file(&ready[k].1.dest.file) {
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
}

/// `fsync(2)` of one file (a test can make it fail for one inode).
pub(super) fn sync_file(file: &File) -> io::Result<()> {
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
    syscall::syncfs(file.as_fd())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{error_errno, error_stage, CopyOptions};
    use std::path::Path;

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
}
