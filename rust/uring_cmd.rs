// SPDX-License-Identifier: GPL-2.0

//! io_uring commands (`IORING_OP_URING_CMD`) on a misc device: the `uring_cmd` file operation,
//! which the kernel's [`MiscDevice`] has no hook for yet. All the raw plumbing is here, so that
//! the commands themselves (`uring_copy.rs`) stay safe Rust.
//!
//! C headers: [`include/linux/io_uring/cmd.h`](srctree/include/linux/io_uring/cmd.h),
//! [`include/linux/fs.h`](srctree/include/linux/fs.h) (`file_operations::uring_cmd`). The
//! in-tree model is ublk's control device: a command that cannot finish without blocking
//! returns `EAGAIN` when issued non-blocking, and io_uring issues it again from an io-wq worker,
//! a thread of the submitting process.

use crate::helpers;
use core::marker::PhantomData;
use kernel::{
    bindings,
    ffi::{
        c_int,
        c_uint, //
    },
    miscdevice::{
        MiscDevice,
        MiscDeviceOptions, //
    },
    prelude::*,
    transmute::FromBytes,
};

/// A device that takes io_uring commands.
pub(crate) trait UringCmd {
    /// Runs `cmd`. The result is the completion's `res`: a count, or an error. `EAGAIN` from a
    /// non-blocking issue ([`Command::nonblocking`]) sends the command to an io-wq worker,
    /// which issues it again, blocking.
    fn uring_cmd(cmd: &Command) -> Result<i32>;
}

/// One issue of an io_uring command.
///
/// # Invariants
///
/// `raw` is the `struct io_uring_cmd` io_uring passed to `uring_cmd`, valid for the duration of
/// that call, and `issue_flags` the flags it passed with it.
pub(crate) struct Command {
    /// The command.
    raw: *const bindings::io_uring_cmd,
    /// `IO_URING_F_*`.
    issue_flags: c_uint,
}

impl Command {
    /// The `cmd_op` of the SQE.
    pub(crate) fn op(&self) -> u32 {
        // SAFETY: By the type invariant `raw` is valid.
        unsafe { helpers::copy_range_uring_cmd_op(self.raw) }
    }

    /// Whether this issue runs in the submitter's context, where it must not block.
    pub(crate) fn nonblocking(&self) -> bool {
        // SAFETY: Reads nothing but its argument.
        unsafe { helpers::copy_range_uring_nonblocking(self.issue_flags) }
    }

    /// A copy of the first `size_of::<T>()` bytes of the SQE's command area: `EINVAL` if the
    /// area is shorter (a 64-byte SQE holds 16 bytes, a 128-byte one 80).
    pub(crate) fn read<T: FromBytes + Default>(&self) -> Result<T> {
        let mut value = T::default();
        // SAFETY: By the type invariant `raw` is valid; `value` is writable for its size, and
        // any bytes are a valid `T` (`FromBytes`).
        let ok = unsafe {
            helpers::copy_range_uring_cmd_read(
                self.raw,
                self.issue_flags,
                (&raw mut value).cast(),
                core::mem::size_of::<T>(),
            )
        };
        if ok {
            Ok(value)
        } else {
            Err(EINVAL)
        }
    }
}

/// The `file_operations` of a misc device `T`: those the kernel's [`MiscDevice`] builds, plus
/// `uring_cmd`.
struct VTable<T>(PhantomData<T>);

impl<T: MiscDevice + UringCmd> VTable<T> {
    const FOPS: bindings::file_operations = {
        // `into_raw` is where the kernel crate hands out `T`'s table; the name is not used.
        let misc = MiscDeviceOptions { name: c"" }.into_raw::<T>();
        // SAFETY: `into_raw` points `fops` at `T`'s table, a promoted constant.
        let mut fops = unsafe { *misc.fops };
        fops.uring_cmd = Some(Self::uring_cmd);
        fops
    };

    /// # Safety
    ///
    /// Called by io_uring with a command on a file of ours and the flags of this issue.
    unsafe extern "C" fn uring_cmd(cmd: *mut bindings::io_uring_cmd, issue_flags: c_uint) -> c_int {
        // INVARIANT: io_uring keeps `cmd` valid for the call.
        let cmd = Command {
            raw: cmd,
            issue_flags,
        };
        match T::uring_cmd(&cmd) {
            Ok(res) => res,
            Err(e) => e.to_errno(),
        }
    }
}

/// The file operations of `T` with `uring_cmd`: a `'static` reference through constant
/// promotion, as `miscdevice.rs` makes its own.
pub(crate) const fn file_operations<T: MiscDevice + UringCmd>() -> &'static bindings::file_operations
{
    &VTable::<T>::FOPS
}
