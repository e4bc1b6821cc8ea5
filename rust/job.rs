// SPDX-License-Identifier: GPL-2.0

//! Asynchronous copies: a job per `COPY_RANGE_IOC_SUBMIT`/`SUBMITV`, run by a worker in bounded
//! steps, with a file descriptor as its cookie.
//!
//! The descriptor answers `read(2)` and `COPY_RANGE_JOB_IOC_STATUS` with the status, `poll(2)`
//! with `POLLIN` once the job has ended, `COPY_RANGE_JOB_IOC_WAIT` by blocking until then, and
//! `COPY_RANGE_JOB_IOC_CANCEL` by asking the job to stop at the next chunk.
//!
//! All checks happen at submit time, in the submitter's context; the worker copies with the
//! submitter's credentials and stops with `EFBIG` where the submitter's `RLIMIT_FSIZE` would have
//! stopped a synchronous copy.
//!
//! # Steps
//!
//! A job is a work item that copies at most [`JOB_STEP`] bytes per run and queues itself again
//! while there is more to do. So a worker is never held longer than one step and jobs take turns.
//! The freezer waits for the running work items of a freezable queue, for 20 s at most before a
//! suspend fails; once it is under way a step ends at its next chunk (see `job_queue.rs`), so a
//! slow device or server makes it wait for one chunk, not one step.
//!
//! # Ending and closing
//!
//! When a job ends, its worker closes the files and frees the segments before anybody can see
//! that it has ended: an ended job holds nothing but its status, and a `close()` or `umount`
//! after `WAIT` returns finds the files closed.
//!
//! Closing the descriptor (the last reference to it) cancels the job:
//! - a job waiting on the queue is taken off it and its files are closed there and then;
//! - for a step in progress, a user task waits for the worker to end the job, killably: a task
//!   that is killed stops waiting, and the worker closes the files at the end of its step
//!   instead. A task that is exiting does not wait at all: it closes its descriptors after its
//!   `SIGKILL` was dequeued, so a killable wait would not end on it;
//! - a kernel thread never waits: the last reference to a descriptor can be dropped by one
//!   (`delayed_fput`, the garbage collection of descriptors in flight over a unix socket), and a
//!   wait there would stall every other file closed that way. The worker closes the files.
//!
//! The descriptor pins the module; a job whose descriptor is gone may still finish its step,
//! which unloading waits for (`job_queue.rs`).

use kernel::{
    alloc::KVVec,
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
    completion::KillableCompletion,
    copy::Files,
    job_limit::JobSlot,
    job_queue,
    progress::CopyControl,
    range::JOB_STEP,
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
    vec::Segment,
    vfs,
};

/// How a job ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Copied everything (up to the source's end of file).
    Done,
    /// Stopped by an error.
    Failed(Error),
    /// Stopped by a cancel, or by closing the descriptor.
    Cancelled,
}

/// Where a job stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Its work item is on the queue: waiting for its first step or its next.
    Queued,
    /// A worker is running a step.
    Running,
    /// It has ended, and its files are closed.
    Ended(Outcome),
}

/// What a job works on: dropped, which closes the files, when the job ends.
struct Todo {
    /// The files and the policy.
    files: Files,
    /// The ranges to copy, in order.
    segments: KVVec<Segment>,
    /// The segment being copied.
    seg: usize,
    /// Bytes of it copied.
    done: u64,
}

impl Todo {
    /// Moves past segments that are complete. Returns `false` when nothing is left: every
    /// segment is done, or one was cut short by the source's end of file, which ends the vector
    /// as it ends a `COPYV`.
    fn advance(&mut self) -> bool {
        while let Some(seg) = self.segments.get(self.seg) {
            if self.done < seg.to_eof {
                return true;
            }
            if seg.to_eof < seg.len {
                return false;
            }
            self.seg += 1;
            self.done = 0;
        }
        false
    }
}

/// The state a job's operations share.
struct Inner {
    /// Where the job stands.
    state: State,
    /// The work, while the job is queued; the worker holds it during a step. `None` once ended.
    todo: Option<Todo>,
    /// The submitter's in-flight slot, given back when the job ends.
    slot: Option<JobSlot>,
}

/// A job.
///
/// # Invariants
///
/// - `copied` only grows, and only while the job has not ended.
/// - `stopped` is completed exactly when `inner.state` becomes `Ended`, after the files were
///   dropped.
///
/// Lock order: `inner`, then the limits' table (`job_limit.rs`), which a slot takes when it is
/// given back.
#[pin_data]
pub(crate) struct Job {
    /// The state, the work and the slot.
    #[pin]
    inner: Mutex<Inner>,
    /// Credentials and file-size limit to copy with.
    submitter: Submitter,
    /// Bytes requested, after clamping to the source's end of file at submit time.
    total: u64,
    /// Bytes copied so far. An atomic rather than part of `inner`, because the copy publishes
    /// it from inside a step, between chunks, where the worker holds no lock.
    copied: Atomic<u64>,
    /// Set by a cancel or a close; read by the worker between chunks, like `copied` outside
    /// `inner`.
    cancel: Atomic<bool>,
    /// Notified when the job ends; `WAIT` and `poll` wait on it. Boxed, so that dropping a job
    /// frees it after an RCU grace period instead of waiting for one.
    ended: PollCondVarBox,
    /// Completed when the job ends: what a closing task waits for, killably.
    #[pin]
    stopped: KillableCompletion,
    /// The worker's work item.
    #[pin]
    work: Work<Job>,
}

kernel::impl_has_work! {
    impl HasWork<Self> for Job { self.work }
}

/// What one step leads to.
enum Step {
    /// More to copy: queue the next step.
    More,
    /// The job is over.
    End(Outcome),
}

impl WorkItem for Job {
    type Pointer = Arc<Job>;

    fn run(this: Arc<Job>) {
        let mut todo = {
            let mut inner = this.inner.lock();
            if inner.state != State::Queued {
                // Ended by its release while this run was starting.
                return;
            }
            inner.state = State::Running;
            match inner.todo.take() {
                Some(todo) => todo,
                None => {
                    drop(inner);
                    return this.end(None, Outcome::Failed(EBADF));
                }
            }
        };
        let step = this.submitter.act_for(|| this.step(&mut todo));
        match step {
            Step::More => {
                {
                    let mut inner = this.inner.lock();
                    inner.todo = Some(todo);
                    inner.state = State::Queued;
                }
                // This item has just run, so it is not pending and queueing cannot fail; if it
                // did, ending the job beats a descriptor that waits forever.
                if let Err(this) = job_queue::queue().enqueue(this) {
                    let todo = this.inner.lock().todo.take();
                    this.end(todo, Outcome::Failed(EBUSY));
                }
            }
            Step::End(outcome) => this.end(Some(todo), outcome),
        }
    }
}

/// A job's view of its own chunk loop: stop on cancel, publish progress.
struct JobControl<'a> {
    /// The job whose chunk loop this steers.
    job: &'a Job,
    /// Bytes the job had copied before the current call.
    base: u64,
}

impl CopyControl for JobControl<'_> {
    fn keep_going(&self) -> Result {
        if self.job.cancel.load(Relaxed) {
            Err(ECANCELED)
        } else if vfs::freezer_active() {
            // The step ends here, with what it copied; `step()` queues the rest.
            Err(EAGAIN)
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
    /// (`EAGAIN` when none is left), and returns its descriptor with its first step queued.
    pub(crate) fn submit(files: Files, segments: KVVec<Segment>, total: u64) -> Result<isize> {
        let submitter = Submitter::current();
        let slot = JobSlot::acquire(submitter.cred())?;
        let ended = PollCondVarBox::new(c"copy_range_job::ended", kernel::static_lock_class!())?;
        let todo = Todo {
            files,
            segments,
            seg: 0,
            done: 0,
        };
        // Charged to the submitter's memory cgroup, as the descriptor's file is: a job that has
        // ended still holds this until its descriptor is closed.
        let job = Arc::pin_init(
            try_pin_init!(Self {
                inner <- new_mutex!(
                    Inner {
                        state: State::Queued,
                        todo: Some(todo),
                        slot: Some(slot),
                    },
                    "copy_range_job::inner"
                ),
                submitter,
                total,
                copied: Atomic::new(0),
                cancel: Atomic::new(false),
                ended,
                stopped <- KillableCompletion::new(),
                work <- new_work!("copy_range_job::work"),
            }),
            GFP_KERNEL_ACCOUNT,
        )?;
        let fd = anon_file::install(job, |job| {
            if let Err(job) = job_queue::queue().enqueue(job) {
                // Impossible for a new work item; if it happened, end the job rather than
                // leave a descriptor that waits forever.
                let todo = job.inner.lock().todo.take();
                job.end(todo, Outcome::Failed(EBUSY));
            }
        })?;
        Ok(fd as isize)
    }

    /// Copies up to [`JOB_STEP`] bytes, from where the last step stopped. Runs in the worker,
    /// with the submitter's credentials.
    fn step(&self, todo: &mut Todo) -> Step {
        let limit = self.submitter.fsize_limit;
        let mut budget = JOB_STEP;
        while budget > 0 {
            if self.cancel.load(Relaxed) {
                return Step::End(Outcome::Cancelled);
            }
            if !todo.advance() {
                return Step::End(Outcome::Done);
            }
            let seg = todo.segments[todo.seg];
            // The submitter's RLIMIT_FSIZE, as generic_write_check_limits() applies it to
            // a synchronous copy (no SIGXFSZ: the submitter may be gone).
            let pos = (seg.dst_off as u64).saturating_add(todo.done);
            if pos >= limit {
                return Step::End(Outcome::Failed(EFBIG));
            }
            let len = (seg.to_eof - todo.done).min(limit - pos).min(budget);
            let ctl = JobControl {
                job: self,
                base: self.copied.load(Relaxed),
            };
            let at = todo.done as i64;
            match todo
                .files
                .copy(seg.src_off + at, seg.dst_off + at, len, &ctl)
            {
                // The source ends earlier than at submit time.
                Ok(0) => return Step::End(Outcome::Done),
                Ok(n) => {
                    todo.done += n;
                    budget -= n;
                    self.copied.store(ctl.base + n, Relaxed);
                    // A short step while the system freezes: the freezer waits for this item,
                    // so it should not wait for a whole step (see `JobControl`).
                    if vfs::freezer_active() {
                        break;
                    }
                }
                Err(e) if e == ECANCELED => return Step::End(Outcome::Cancelled),
                // Stopped for the freezer before it copied anything (a range that began with
                // a hole): the rest is queued like any other step's.
                Err(e) if e == EAGAIN && vfs::freezer_active() => break,
                Err(e) => return Step::End(Outcome::Failed(e)),
            }
        }
        if todo.advance() {
            Step::More
        } else {
            Step::End(Outcome::Done)
        }
    }

    /// Ends the job: closes its files and frees its segments (`todo`), gives back its slot,
    /// then publishes the outcome and wakes everybody waiting.
    fn end(&self, todo: Option<Todo>, outcome: Outcome) {
        // Before anybody can see the end: a close or an umount after WAIT must find the files
        // closed. In a worker, `CopyFile` closes them synchronously.
        drop(todo);
        {
            let mut inner = self.inner.lock();
            // The slot goes back before the end is published, so that a caller woken by it can
            // submit the next job at once.
            drop(inner.slot.take());
            inner.state = State::Ended(outcome);
        }
        self.stopped.complete_all();
        self.ended.notify_all();
    }

    /// The status userspace sees.
    fn status(&self) -> CopyRangeStatus {
        let state = self.inner.lock().state;
        let (state, error) = match state {
            State::Queued | State::Running => (COPY_RANGE_JOB_RUNNING, 0),
            State::Ended(Outcome::Done) => (COPY_RANGE_JOB_DONE, 0),
            State::Ended(Outcome::Failed(e)) => (COPY_RANGE_JOB_FAILED, e.to_errno()),
            State::Ended(Outcome::Cancelled) => (COPY_RANGE_JOB_CANCELLED, 0),
        };
        CopyRangeStatus {
            // Read after the state: once that is final, so is this.
            copied: self.copied.load(Relaxed),
            total: self.total,
            state: state as i32,
            error,
        }
    }

    /// Blocks until the job has ended; `EINTR` if a signal comes first (the job goes on).
    fn wait(&self) -> Result<CopyRangeStatus> {
        let mut inner = self.inner.lock();
        while !matches!(inner.state, State::Ended(_)) {
            if self.ended.wait_interruptible(&mut inner) {
                return Err(EINTR);
            }
        }
        drop(inner);
        Ok(self.status())
    }
}

impl AnonFile for Job {
    const NAME: &'static CStr = c"[copy_range_job]";

    fn read(this: ArcBorrow<'_, Self>, mut writer: UserSliceWriter, count: usize) -> Result<usize> {
        if count < core::mem::size_of::<CopyRangeStatus>() {
            return Err(EINVAL);
        }
        writer.write(&this.status())?;
        Ok(core::mem::size_of::<CopyRangeStatus>())
    }

    fn poll(this: ArcBorrow<'_, Self>, file: &File, table: PollTable<'_>) -> u32 {
        table.register_wait(file, &this.ended);
        if matches!(this.inner.lock().state, State::Ended(_)) {
            kernel::bindings::POLLIN | kernel::bindings::POLLRDNORM
        } else {
            0
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
        this.cancel.store(true, Relaxed);
        let todo = {
            let mut inner = this.inner.lock();
            match inner.state {
                State::Ended(_) => return,
                // The transition happens under the lock that saw `Queued`: a worker that is
                // about to run the job finds it ended and leaves it alone.
                State::Queued => match job_queue::cancel_queued(&this) {
                    Some(_queued) => {
                        drop(inner.slot.take());
                        inner.state = State::Ended(Outcome::Cancelled);
                        Some(inner.todo.take())
                    }
                    // A worker has just taken it, or it is about to queue its next step: it
                    // will see the cancel.
                    None => None,
                },
                State::Running => None,
            }
        };
        if let Some(todo) = todo {
            // Closed here, by the task that closed the descriptor.
            drop(todo);
            this.stopped.complete_all();
            this.ended.notify_all();
            return;
        }
        // A worker has the job and stops at its next chunk. Wait for it to close the files,
        // unless this is a kernel thread or an exiting task, and only for as long as nobody
        // kills this task.
        if vfs::can_wait_for_jobs() {
            let _ = this.stopped.wait_killable();
        }
    }
}
