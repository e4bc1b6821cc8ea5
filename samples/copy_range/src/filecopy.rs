// SPDX-License-Identifier: GPL-2.0

//! Whole-file copies: [`FileCopy`], in steps (begin, submit or run, commit), and
//! [`copyfile`], all of them at once. The data goes by a module job or by the fallback paths
//! ([`crate::fallback`]) into an invisible destination ([`Destination`]), which gets its
//! metadata ([`crate::meta`]) and its name only once complete. [`batch`] commits many copies
//! with one sync per filesystem.

mod batch;

#[cfg(doc)]
use crate::Create;
use crate::{
    destination::Destination,
    device::open_device,
    errors::{errno, error_errno, staged, Stage},
    fallback, meta,
    options::{CopyOptions, Reflink},
    report::{CopyPath, CopyReport},
    syscall, CopyRange, CopyRing, Job, JobState, RingCompletion,
};
use std::{
    fmt,
    fs::File,
    io,
    os::{fd::AsFd, unix::fs::OpenOptionsExt},
    path::Path,
    time::Instant,
};

/// One whole-file copy, in steps, for callers that drive many at once (`crcp -j`):
/// [`begin`](Self::begin) opens the source and creates the invisible destination,
/// [`submit`](Self::submit) starts a module job (poll [`job`](Self::job)'s descriptor),
/// [`submit_ring`](Self::submit_ring) a copy on a [`CopyRing`], or [`run`](Self::run) copies
/// the data in this thread, and [`commit`](Self::commit) applies the
/// metadata, fsyncs and links the file in ([`commit_batch`](Self::commit_batch) does the same
/// for many copies with one `syncfs(2)` per filesystem). Dropping a `FileCopy` before its
/// commit cancels its job and discards the destination: nothing partial is ever visible.
pub struct FileCopy {
    // Dropped first: closing the job cancels it and waits before the file goes.
    job: Option<Job>,
    dest: Destination,
    src: File,
    src_stat: libc::stat,
    opts: CopyOptions,
    started: Instant,
    path: Option<CopyPath>,
    /// Where a data copy stopped short (the source shrank), for the final size.
    end: Option<u64>,
    /// The token of the copy on a [`CopyRing`] until its completion is in.
    ring_token: Option<u64>,
}

impl fmt::Debug for FileCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileCopy")
            .field("job", &self.job)
            .field("ring_token", &self.ring_token)
            .field("size", &self.len())
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Opens the source for reading, non-blocking so that a FIFO cannot block the open (it is
/// refused right after, by type), and without taking a terminal.
fn open_source(src: &Path) -> io::Result<File> {
    File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(src)
}

impl FileCopy {
    /// Opens `src` (following symlinks; it must be a regular file: `EISDIR` for a directory,
    /// `EINVAL` for anything else) and creates the destination's temporary file in `dst`'s
    /// directory. Under [`Create::Exclusive`] an existing `dst` is `EEXIST` here, before any
    /// data moves.
    pub fn begin(src: &Path, dst: &Path, opts: &CopyOptions) -> io::Result<FileCopy> {
        let started = Instant::now();
        let os = |e| staged(Stage::OpenSource, e);
        let src_file = open_source(src).map_err(os)?;
        let st = syscall::fstat(src_file.as_fd()).map_err(os)?;
        match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => {}
            libc::S_IFDIR => return Err(os(errno(libc::EISDIR))),
            _ => return Err(os(errno(libc::EINVAL))),
        }
        // A regular file: its reads block again, as the copy expects.
        let _ = syscall::clear_nonblock(src_file.as_fd());
        let dest = Destination::create(dst, st.st_mode & 0o777, opts, &st)?;
        Ok(FileCopy {
            job: None,
            dest,
            src: src_file,
            src_stat: st,
            opts: opts.clone(),
            started,
            path: None,
            end: None,
            ring_token: None,
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
        &self.dest.file
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
                &self.dest.file,
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

    /// Starts the data copy (the whole file, with the options' policy) on `ring`, as its copy
    /// known by `token`. Hand the [`RingCompletion`] that [`CopyRing::wait`] returns for it to
    /// [`ring_completed`](Self::ring_completed), then commit. Dropping the `FileCopy` before
    /// then discards the destination as ever; the ring's copy, which holds the files itself,
    /// still runs to its end into the discarded file (so [`CopyRing::cancel`] it). Errors are
    /// the ring's (`EEXIST` for a token in use, `EBUSY` for a full ring, `EMFILE`); the
    /// module's come with the completion.
    pub fn submit_ring(&mut self, ring: &mut CopyRing, token: u64) -> io::Result<()> {
        if self.job.is_some() || self.ring_token.is_some() || self.path.is_some() {
            return Err(staged(Stage::Copy, errno(libc::EBUSY)));
        }
        ring.copy(
            token,
            &self.src,
            0,
            &self.dest.file,
            0,
            self.len(),
            self.opts.reflink.sharing(),
        )
        .map_err(|e| staged(Stage::Copy, e))?;
        self.ring_token = Some(token);
        Ok(())
    }

    /// The token of the copy on a [`CopyRing`] whose completion is not yet in.
    pub fn ring_token(&self) -> Option<u64> {
        self.ring_token
    }

    /// Takes the completion of the ring's copy ([`submit_ring`](Self::submit_ring)): `Ok` if
    /// the data is all there (a source that shrank is cut where it ended), and the copy can be
    /// committed; otherwise the module's error, staged as a job's would be (`ECANCELED` after
    /// a cancel). `EINVAL` for a completion of another copy.
    pub fn ring_completed(&mut self, done: RingCompletion) -> io::Result<()> {
        if self.ring_token != Some(done.token) {
            return Err(staged(Stage::Copy, errno(libc::EINVAL)));
        }
        self.ring_token = None;
        if let Some(e) = done.error {
            let stage = if e.raw_os_error() == Some(libc::ECANCELED) {
                Stage::Copy
            } else {
                self.data_stage()
            };
            return Err(staged(stage, e));
        }
        if done.copied < self.len() {
            // The source shrank during the copy: keep what it had.
            self.dest
                .file
                .set_len(done.copied)
                .map_err(|e| staged(Stage::Copy, e))?;
            self.end = Some(done.copied);
        }
        self.path = Some(CopyPath::Module);
        self.progress(done.copied);
        Ok(())
    }

    fn progress(&self, copied: u64) {
        self.opts.report_progress(copied, self.len());
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
            if !cancelled && self.opts.cancelled() {
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

    /// Copies the data in this thread with synchronous module copies
    /// ([`CopyRange::copy`]) of 64 MiB at most each, checking the cancel token and reporting
    /// progress between them: no job, no ring. [`run`](Self::run) falls back to this when no
    /// job can be submitted.
    pub fn run_sync(&mut self, dev: &CopyRange) -> io::Result<()> {
        self.path = Some(CopyPath::Module);
        let len = self.len();
        let mut done = 0;
        while done < len {
            self.opts.check_cancel()?;
            let want = (len - done).min(64 << 20);
            match dev.copy(
                &self.src,
                done,
                &self.dest.file,
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
        let copied = fallback::copy(&self.src, &self.dest.file, self.len(), &self.opts)?;
        self.path = Some(copied.path);
        self.end = copied.end;
        Ok(())
    }

    /// Finishes the copy: checks the job's outcome (if any), applies the requested metadata,
    /// fsyncs (if asked) and links the file in under its name. On any error the temporary
    /// file is discarded. A job still running is `EBUSY`. To finish many copies with one
    /// sync instead of one each, see [`commit_batch`](Self::commit_batch).
    pub fn commit(mut self) -> io::Result<CopyReport> {
        let path = self.complete()?;
        if self.opts.fsync {
            batch::sync_file(&self.dest.file).map_err(|e| staged(Stage::Sync, e))?;
        }
        self.link_in(path)
    }

    /// The first part of a commit, up to the sync: the job's outcome, the size of a copy whose
    /// source shrank, a last cancel check and the metadata. The path the data took.
    fn complete(&mut self) -> io::Result<CopyPath> {
        if self.ring_token.is_some() {
            return Err(staged(Stage::Copy, errno(libc::EBUSY)));
        }
        if let Some(job) = &self.job {
            let st = job.status().map_err(|e| staged(Stage::Copy, e))?;
            match st.state {
                JobState::Running => return Err(staged(Stage::Copy, errno(libc::EBUSY))),
                JobState::Done => {
                    if st.copied < self.len() {
                        // The source shrank during the copy: keep what it had.
                        self.dest
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
        self.opts.check_cancel()?;
        meta::apply(
            self.src.as_fd(),
            self.dest.file.as_fd(),
            &self.src_stat,
            &self.opts.preserve,
        )?;
        Ok(path)
    }

    /// The last part of a commit, once the data is durable (or need not be): a last cancel
    /// check, the link, and the report.
    fn link_in(mut self, path: CopyPath) -> io::Result<CopyReport> {
        self.opts.check_cancel()?;
        self.dest
            .link(self.opts.create)
            .map_err(|e| staged(Stage::Link, e))?;
        let measured = if self.opts.measure_sharing {
            crate::fiemap_summary(&self.dest.file).ok()
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
            unnamed_temp: self.dest.is_unnamed(),
        })
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
