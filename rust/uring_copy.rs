// SPDX-License-Identifier: GPL-2.0

//! The io_uring commands of `/dev/copy_range`: `COPY_RANGE_URING_CMD_COPY` and
//! `COPY_RANGE_URING_CMD_COPYV`, the synchronous copies of the ioctls as `IORING_OP_URING_CMD`
//! requests.
//!
//! A copy takes inode locks and does I/O, so it cannot run where io_uring first issues a
//! command, which must not block. That issue makes the checks that read only the files' modes
//! and flags, so that a request that is wrong from the start completes there, without a worker;
//! every other one returns `EAGAIN`, and io_uring issues it again from an io-wq worker. The
//! worker is a thread of the submitting process, so the copy runs with the submitter's
//! credentials, `RLIMIT_FSIZE` and cgroups, and needs nothing the job engine borrows. A cancel
//! (`IORING_OP_ASYNC_CANCEL`, the ring's close, the process's exit) sets a notification on the
//! worker, which `signal_pending()` sees: the copy stops at its next chunk, as an ioctl stops
//! for a signal.

use kernel::{
    prelude::*,
    uaccess::UserPtr, //
};

use crate::{
    copy, uapi,
    uring_cmd::{
        Command,
        UringCmd, //
    },
    CopyRangeDevice,
};

impl UringCmd for CopyRangeDevice {
    fn uring_cmd(cmd: &Command) -> Result<i32> {
        match cmd.op() {
            uapi::COPY_RANGE_URING_CMD_COPY => uring_copy(cmd),
            uapi::COPY_RANGE_URING_CMD_COPYV => uring_copyv(cmd),
            _ => Err(ENOTTY),
        }
    }
}

/// `COPY_RANGE_URING_CMD_COPY`: the command area holds a `struct copy_range_args`, which needs
/// a 128-byte SQE; its `copied` is not written.
fn uring_copy(cmd: &Command) -> Result<i32> {
    let args: uapi::CopyRangeArgs = cmd.read()?;
    if cmd.nonblocking() {
        let files = copy::Files::from_fds(args.src_fd, args.dst_fd, args.flags)?;
        files.check_without_blocking(args.src_off as i64, args.dst_off as i64, args.len)?;
        return Err(EAGAIN);
    }
    let copied = crate::copy_args(&args).map_err(interrupted_is_cancelled)?;
    // At most MAX_RW_COUNT, so it fits.
    Ok(copied as i32)
}

/// `COPY_RANGE_URING_CMD_COPYV`: the command area's first 8 bytes hold a user pointer to a
/// `struct copy_range_vec`, read when the copy runs (in the worker) and written back there.
fn uring_copyv(cmd: &Command) -> Result<i32> {
    let vec: u64 = cmd.read()?;
    if cmd.nonblocking() {
        return Err(EAGAIN);
    }
    let arg = UserPtr::from_addr(usize::try_from(vec).map_err(|_| EFAULT)?);
    let copied = crate::copyv(arg).map_err(interrupted_is_cancelled)?;
    // At most MAX_RW_COUNT, so it fits.
    Ok(copied as i32)
}

/// In an io-wq worker the only "signal" is io_uring's cancel notification: a copy it stopped
/// before anything was copied is `ECANCELED`. The restart codes, which mean "interrupted" from
/// a wait below, must not reach user space: a completion is not a system call to restart.
fn interrupted_is_cancelled(e: Error) -> Error {
    if [
        EINTR,
        ERESTARTSYS,
        ERESTARTNOINTR,
        ERESTARTNOHAND,
        ERESTART_RESTARTBLOCK,
    ]
    .contains(&e)
    {
        ECANCELED
    } else {
        e
    }
}

#[kunit_tests(copy_range_uring)]
mod tests {
    use super::*;

    #[test]
    fn interruptions_complete_as_cancelled() {
        for e in [
            EINTR,
            ERESTARTSYS,
            ERESTARTNOINTR,
            ERESTARTNOHAND,
            ERESTART_RESTARTBLOCK,
        ] {
            assert_eq!(interrupted_is_cancelled(e), ECANCELED);
        }
    }

    #[test]
    fn other_errors_pass_through() {
        for e in [EBADF, EINVAL, EFBIG, EIO, ENOSPC, ECANCELED, EAGAIN] {
            assert_eq!(interrupted_is_cancelled(e), e);
        }
    }
}
