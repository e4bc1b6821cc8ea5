// SPDX-License-Identifier: GPL-2.0

//! Asynchronous copies: the job descriptor returned by `COPY_RANGE_IOC_SUBMIT`.

use crate::{
    ioctl::{self, StatusCmd},
    sys, syscall,
};
use std::{
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd},
    time::Duration,
};

/// Where a job stands (`COPY_RANGE_JOB_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    /// Queued or copying.
    Running,
    /// Copied everything it could: `copied == total`, unless the source shrank.
    Done,
    /// Stopped by an error, in [`JobStatus::error`].
    Failed,
    /// Stopped by [`Job::cancel`] (or by closing its descriptor).
    Cancelled,
}

impl JobState {
    fn from_raw(state: i32) -> io::Result<Self> {
        Ok(match state as u32 {
            sys::COPY_RANGE_JOB_RUNNING => JobState::Running,
            sys::COPY_RANGE_JOB_DONE => JobState::Done,
            sys::COPY_RANGE_JOB_FAILED => JobState::Failed,
            sys::COPY_RANGE_JOB_CANCELLED => JobState::Cancelled,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unknown copy_range job state {state}"),
                ))
            }
        })
    }
}

/// A job's status (`struct copy_range_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobStatus {
    /// Bytes copied so far; exact, also after a failure or a cancel.
    pub copied: u64,
    /// Bytes requested, after clamping to the source's end of file at submit time.
    pub total: u64,
    /// Running, done, failed or cancelled.
    pub state: JobState,
    /// The positive errno that stopped a failed job, 0 otherwise.
    pub errno: i32,
}

impl JobStatus {
    fn from_raw(raw: &sys::copy_range_status) -> io::Result<Self> {
        Ok(Self {
            copied: raw.copied,
            total: raw.total,
            state: JobState::from_raw(raw.state)?,
            errno: -raw.error,
        })
    }

    /// Whether the job has ended (done, failed or cancelled).
    pub fn is_finished(&self) -> bool {
        self.state != JobState::Running
    }

    /// The error that stopped a failed job.
    pub fn error(&self) -> Option<io::Error> {
        (self.state == JobState::Failed && self.errno != 0)
            .then(|| io::Error::from_raw_os_error(self.errno))
    }
}

/// A running or finished asynchronous copy, owned through its file descriptor.
///
/// Dropping the job closes the descriptor, which cancels a running job and waits (at most one
/// chunk) for it to let go of the files. [`as_fd`](AsFd::as_fd) gives the descriptor to callers
/// with their own `poll`/`epoll` loop: it reports `POLLIN` once the job has ended.
#[derive(Debug)]
pub struct Job {
    fd: OwnedFd,
}

/// `timeout` in `poll(2)`'s milliseconds, rounded up and capped at its largest.
fn poll_timeout_ms(timeout: Duration) -> i32 {
    let ms = timeout.as_nanos().div_ceil(1_000_000);
    ms.min(i32::MAX as u128) as i32
}

impl Job {
    /// Wraps a job descriptor returned by a submit ioctl.
    pub fn from_owned(fd: OwnedFd) -> Self {
        Self { fd }
    }

    /// The current status (`COPY_RANGE_JOB_IOC_STATUS`); never blocks.
    pub fn status(&self) -> io::Result<JobStatus> {
        JobStatus::from_raw(&ioctl::job_status(self.fd.as_fd(), StatusCmd::Now)?)
    }

    /// The current status through `read(2)` on the descriptor, the other documented way to
    /// ask; never blocks.
    pub fn read_status(&self) -> io::Result<JobStatus> {
        let (raw, n) = ioctl::job_read_status(self.fd.as_fd())?;
        if n != std::mem::size_of::<sys::copy_range_status>() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "short read of a copy_range job status",
            ));
        }
        JobStatus::from_raw(&raw)
    }

    /// Blocks until the job has ended and returns its final status
    /// (`COPY_RANGE_JOB_IOC_WAIT`). A signal interrupts the wait, not the job: the error's
    /// kind is then [`io::ErrorKind::Interrupted`], and retrying is the caller's choice.
    pub fn wait(&self) -> io::Result<JobStatus> {
        JobStatus::from_raw(&ioctl::job_status(self.fd.as_fd(), StatusCmd::Wait)?)
    }

    /// Waits at most `timeout` for the job to end (with `poll(2)`, whose unit is the
    /// millisecond: a timeout between two whole milliseconds is rounded up, never down to no
    /// wait at all): `Some(final status)` if it has, `None` if it is still running. A signal
    /// ends the wait early with `None`.
    pub fn wait_timeout(&self, timeout: Duration) -> io::Result<Option<JobStatus>> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        match syscall::poll(std::slice::from_mut(&mut pfd), poll_timeout_ms(timeout)) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(None),
            Err(e) => return Err(e),
        }
        let st = self.status()?;
        Ok(st.is_finished().then_some(st))
    }

    /// Asks the job to stop at the next chunk (`COPY_RANGE_JOB_IOC_CANCEL`); returns at once.
    /// The job then ends [`JobState::Cancelled`] with an exact `copied`. Cancelling a finished
    /// job changes nothing.
    pub fn cancel(&self) -> io::Result<()> {
        ioctl::job_cancel(self.fd.as_fd())
    }
}

impl AsFd for Job {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Job {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl IntoRawFd for Job {
    fn into_raw_fd(self) -> RawFd {
        self.fd.into_raw_fd()
    }
}

impl From<Job> for OwnedFd {
    fn from(job: Job) -> OwnedFd {
        job.fd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_timeouts_round_up_to_the_millisecond() {
        assert_eq!(poll_timeout_ms(Duration::ZERO), 0);
        assert_eq!(poll_timeout_ms(Duration::from_nanos(1)), 1);
        assert_eq!(poll_timeout_ms(Duration::from_micros(500)), 1);
        assert_eq!(poll_timeout_ms(Duration::from_millis(2)), 2);
        assert_eq!(poll_timeout_ms(Duration::from_micros(2001)), 3);
        assert_eq!(poll_timeout_ms(Duration::from_secs(u64::MAX)), i32::MAX);
    }
}
