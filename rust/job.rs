// SPDX-License-Identifier: GPL-2.0

//! Asynchronous copies: a job per `COPY_RANGE_IOC_SUBMIT`, run by a worker, with a file
//! descriptor as its cookie.
//!
//! The descriptor answers `read(2)` and `COPY_RANGE_JOB_IOC_STATUS` with the status, `poll(2)`
//! with `POLLIN` once the job has ended, `COPY_RANGE_JOB_IOC_WAIT` by blocking until then, and
//! `COPY_RANGE_JOB_IOC_CANCEL` by asking the job to stop at the next chunk. Closing it cancels
//! a running job and waits for the worker to let go of the files (a queued job is simply
//! dropped), and releases the files itself, so no job outlives its descriptor and the files are
//! closed by the task that closed the descriptor. The descriptor pins the module.
//!
//! All checks happen at submit time, in the submitter's context; the worker copies with the
//! submitter's credentials and stops with `EFBIG` where the submitter's `RLIMIT_FSIZE` would have
//! stopped a synchronous copy.

use kernel::{
    alloc::KVec,
    fs::File,
    new_mutex, new_work,
    prelude::*,
    sync::{
        atomic::{
            Atomic,
            Relaxed, //
        },
        poll::{
            PollCondVarBox,
            PollTable, //
        },
        Arc,
        ArcBorrow,
        Mutex, //
    },
    task::Kuid,
    uaccess::{
        UserPtr,
        UserSlice,
        UserSliceWriter, //
    },
    workqueue::{
        Work,
        WorkItem, //
    },
};

use crate::{
    anon_file::{
        self,
        AnonFile, //
    },
    copy::Files,
    data_copy::CopyControl,
    job_limit,
    submitter::Submitter,
    uapi::{
        CopyRangeStatus,
        COPY_RANGE_JOB_CANCELLED,
        COPY_RANGE_JOB_DONE,
        COPY_RANGE_JOB_FAILED,
        COPY_RANGE_JOB_IOC_CANCEL,
        COPY_RANGE_JOB_IOC_STATUS,
        COPY_RANGE_JOB_IOC_WAIT,
        COPY_RANGE_JOB_RUNNING, //
    },
};

/// One range of a job, as submitted (offsets as `loff_t`).
#[derive(Clone, Copy)]
pub(crate) struct Segment {
    /// Offset in the source.
    pub(crate) src_off: i64,
    /// Offset in the destination.
    pub(crate) dst_off: i64,
    /// Bytes requested.
    pub(crate) len: u64,
    /// Bytes requested, clamped to the source's end of file when the range was checked: a job
    /// copies no more than this, even from a source that grows meanwhile.
    pub(crate) to_eof: u64,
}

/// Bytes a job hands to one call of the copy: bounds how long a cancel waits when the whole
/// call is one clone, which has no chunk boundaries of its own. A multiple of every block size.
const JOB_STEP: u64 = 64 << 20;

/// How a job ended, or that it has not.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Waiting for a worker: not touching the files yet.
    Queued,
    /// Copying.
    Running,
    /// Copied everything (up to the source's end of file).
    Done,
    /// Stopped by an error.
    Failed(Error),
    /// Stopped by a cancel.
    Cancelled,
}

/// A job.
///
/// # Invariants
///
/// `copied` only grows while `outcome` is `Running`, and never changes afterwards.
#[pin_data(PinnedDrop)]
pub(crate) struct Job {
    /// The files and the policy. The worker takes them while it copies and puts them back;
    /// `release` drops them, in the task that closes the descriptor.
    #[pin]
    files: Mutex<Option<Files>>,
    /// The ranges to copy, in order.
    segments: KVec<Segment>,
    /// Credentials and file-size limit to copy with.
    submitter: Submitter,
    /// Whose in-flight count this job holds a slot of; cleared when the slot is given back.
    slot: Atomic<bool>,
    /// The user the slot belongs to.
    uid: Kuid,
    /// Bytes requested, after clamping to the source's end of file at submit time.
    total: u64,
    /// Bytes copied so far.
    copied: Atomic<u64>,
    /// Set by a cancel, or by closing the descriptor; read by the worker between chunks.
    cancel: Atomic<bool>,
    /// How the job ended.
    #[pin]
    outcome: Mutex<Outcome>,
    /// Notified when `outcome` leaves `Running`; `WAIT` and `poll` wait on it. Boxed, so that
    /// dropping a job frees it after an RCU grace period instead of waiting for one.
    ended: PollCondVarBox,
    /// The worker's work item.
    #[pin]
    work: Work<Job>,
}

kernel::impl_has_work! {
    impl HasWork<Self> for Job { self.work }
}

impl WorkItem for Job {
    type Pointer = Arc<Job>;

    fn run(this: Arc<Job>) {
        // A job cancelled while queued was ended by `release`: leave the files alone.
        let files = {
            let mut outcome = this.outcome.lock();
            if *outcome != Outcome::Queued {
                return;
            }
            *outcome = Outcome::Running;
            this.files.lock().take()
        };
        let Some(files) = files else {
            return this.finish(Outcome::Failed(EBADF));
        };
        let outcome = this.submitter.with_creds(|| this.copy_all(&files));
        *this.files.lock() = Some(files);
        this.finish(outcome);
    }
}

/// A job's view of its own chunk loop: stop on cancel, publish progress.
struct JobControl<'a> {
    /// The job.
    job: &'a Job,
    /// Bytes the job had copied before the current call.
    base: u64,
}

impl CopyControl for JobControl<'_> {
    fn keep_going(&self) -> Result {
        if self.job.cancel.load(Relaxed) {
            Err(ECANCELED)
        } else {
            Ok(())
        }
    }

    fn progress(&self, done: u64) {
        self.job.copied.store(self.base + done, Relaxed);
    }
}

impl Job {
    /// Checks are done: creates the job, takes one of the submitter's in-flight slots
    /// (`EAGAIN` when none is left), and returns its descriptor with the worker started.
    pub(crate) fn submit(files: Files, segments: KVec<Segment>, total: u64) -> Result<isize> {
        let submitter = Submitter::current();
        let uid = submitter.euid();
        job_limit::acquire(uid)?;
        let ended =
            match PollCondVarBox::new(c"copy_range_job::ended", kernel::static_lock_class!()) {
                Ok(ended) => ended,
                Err(e) => {
                    job_limit::release(uid);
                    return Err(e.into());
                }
            };
        let job = Arc::pin_init(
            try_pin_init!(Self {
                files <- new_mutex!(Some(files), "copy_range_job::files"),
                segments,
                submitter,
                slot: Atomic::new(true),
                uid,
                total,
                copied: Atomic::new(0),
                cancel: Atomic::new(false),
                outcome <- new_mutex!(Outcome::Queued, "copy_range_job::outcome"),
                ended,
                work <- new_work!("copy_range_job::work"),
            }),
            GFP_KERNEL,
        );
        let job = match job {
            Ok(job) => job,
            Err(e) => {
                job_limit::release(uid);
                return Err(e);
            }
        };
        let fd = anon_file::install(job, |job| {
            if let Err(job) = crate::job_queue::queue().enqueue(job) {
                // Impossible for a new work item; if it happened, end the job rather than
                // leave a descriptor that waits forever.
                job.finish(Outcome::Failed(EBUSY));
            }
        })?;
        Ok(fd as isize)
    }

    /// Copies every segment; returns how it ended. Runs in the worker.
    fn copy_all(&self, files: &Files) -> Outcome {
        let limit = self.submitter.fsize_limit;
        for seg in self.segments.iter() {
            let mut done = 0u64;
            while done < seg.to_eof {
                if self.cancel.load(Relaxed) {
                    return Outcome::Cancelled;
                }
                // The submitter's RLIMIT_FSIZE, as generic_write_check_limits() applies it to
                // a synchronous copy (no SIGXFSZ: the submitter may be gone).
                let pos = (seg.dst_off as u64).saturating_add(done);
                if pos >= limit {
                    return Outcome::Failed(EFBIG);
                }
                let len = (seg.to_eof - done).min(limit - pos).min(JOB_STEP);
                let ctl = JobControl {
                    job: self,
                    base: self.copied.load(Relaxed),
                };
                let at = done as i64;
                match files.copy(seg.src_off + at, seg.dst_off + at, len, &ctl) {
                    // The source ends earlier than at submit time.
                    Ok(0) => return Outcome::Done,
                    Ok(n) => {
                        done += n;
                        self.copied.store(ctl.base + n, Relaxed);
                    }
                    Err(e) if e == ECANCELED => return Outcome::Cancelled,
                    Err(e) => return Outcome::Failed(e),
                }
            }
            // A segment cut short by the source's end of file ends the vector, as for COPYV.
            if seg.to_eof < seg.len {
                return Outcome::Done;
            }
        }
        Outcome::Done
    }

    /// Publishes how the job ended and wakes its waiters. The slot goes back first, so that a
    /// caller woken by the end of a job can submit the next one at once.
    fn finish(&self, outcome: Outcome) {
        self.give_back_slot();
        *self.outcome.lock() = outcome;
        self.ended.notify_all();
    }

    /// Gives the in-flight slot back, once.
    fn give_back_slot(&self) {
        if self.slot.xchg(false, Relaxed) {
            job_limit::release(self.uid);
        }
    }

    /// The status userspace sees.
    fn status(&self) -> CopyRangeStatus {
        let outcome = *self.outcome.lock();
        let (state, error) = match outcome {
            Outcome::Queued | Outcome::Running => (COPY_RANGE_JOB_RUNNING, 0),
            Outcome::Done => (COPY_RANGE_JOB_DONE, 0),
            Outcome::Failed(e) => (COPY_RANGE_JOB_FAILED, e.to_errno()),
            Outcome::Cancelled => (COPY_RANGE_JOB_CANCELLED, 0),
        };
        CopyRangeStatus {
            // Read after the outcome: once that is final, so is this.
            copied: self.copied.load(Relaxed),
            total: self.total,
            state: state as i32,
            error,
        }
    }

    /// Blocks until the job has ended; `EINTR` if a signal comes first (the job goes on).
    fn wait(&self) -> Result<CopyRangeStatus> {
        let mut guard = self.outcome.lock();
        while is_live(*guard) {
            if self.ended.wait_interruptible(&mut guard) {
                return Err(EINTR);
            }
        }
        drop(guard);
        Ok(self.status())
    }

    /// Writes the status to `writer`.
    fn write_status(&self, mut writer: UserSliceWriter) -> Result<usize> {
        writer.write(&self.status())?;
        Ok(core::mem::size_of::<CopyRangeStatus>())
    }
}

#[pinned_drop]
impl PinnedDrop for Job {
    fn drop(self: Pin<&mut Self>) {
        // A job that never reached the worker still holds its slot.
        self.give_back_slot();
    }
}

/// Whether a job has not ended yet.
fn is_live(outcome: Outcome) -> bool {
    matches!(outcome, Outcome::Queued | Outcome::Running)
}

impl AnonFile for Job {
    const NAME: &'static CStr = c"[copy_range_job]";

    fn read(this: ArcBorrow<'_, Self>, writer: UserSliceWriter, count: usize) -> Result<usize> {
        if count < core::mem::size_of::<CopyRangeStatus>() {
            return Err(EINVAL);
        }
        this.write_status(writer)
    }

    fn poll(this: ArcBorrow<'_, Self>, file: &File, table: PollTable<'_>) -> u32 {
        table.register_wait(file, &this.ended);
        if is_live(*this.outcome.lock()) {
            0
        } else {
            kernel::bindings::POLLIN | kernel::bindings::POLLRDNORM
        }
    }

    fn ioctl(this: ArcBorrow<'_, Self>, cmd: u32, arg: UserPtr) -> Result<isize> {
        let size = core::mem::size_of::<CopyRangeStatus>();
        match cmd {
            COPY_RANGE_JOB_IOC_STATUS => {
                UserSlice::new(arg, size).writer().write(&this.status())?
            }
            COPY_RANGE_JOB_IOC_WAIT => {
                let status = this.wait()?;
                UserSlice::new(arg, size).writer().write(&status)?;
            }
            COPY_RANGE_JOB_IOC_CANCEL => this.cancel.store(true, Relaxed),
            _ => return Err(ENOTTY),
        }
        Ok(0)
    }

    fn release(this: Arc<Self>) {
        // Stop the job. A queued one ends here and its worker will not touch the files; a
        // running one stops at its next chunk (4 MiB of data, or one clone of `JOB_STEP`), and
        // the worker hands the files back before it says so.
        this.cancel.store(true, Relaxed);
        let mut guard = this.outcome.lock();
        if *guard == Outcome::Queued {
            drop(guard);
            this.finish(Outcome::Cancelled);
        } else {
            while *guard == Outcome::Running {
                this.ended.wait(&mut guard);
            }
            drop(guard);
        }
        // Close the files here, in the task that closed the descriptor, rather than later from
        // a worker: a `close()` followed by `umount` must not find them still open.
        drop(this.files.lock().take());
    }
}
