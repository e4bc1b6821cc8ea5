// SPDX-License-Identifier: GPL-2.0

//! What a job borrows from the task that submitted it.
//!
//! A job runs in a kernel worker, which has kernel credentials and no `RLIMIT_FSIZE`. Without
//! care, the LSM hooks of every read and write would see the wrong subject, and a user could
//! write past its file-size limit by submitting instead of copying. So the submitter's
//! credentials and limit are captured at submit time and applied while the job copies.

use core::ptr::NonNull;
use kernel::{
    cred::Credential,
    sync::aref::ARef, //
};

use crate::helpers;

/// The submitting task's credentials and file-size limit.
pub(crate) struct Submitter {
    /// `current_cred()` at submit time.
    cred: ARef<Credential>,
    /// `RLIMIT_FSIZE` at submit time; `u64::MAX` for none.
    pub(crate) fsize_limit: u64,
}

impl Submitter {
    /// Captures the current task's credentials and limit.
    pub(crate) fn current() -> Self {
        // SAFETY: Always safe in process context; returns a counted reference.
        let raw = unsafe { helpers::copy_range_get_current_cred() };
        // SAFETY: `get_current_cred()` never returns NULL, and the reference it took is handed
        // to the `ARef`, which drops it with `put_cred()`.
        let cred = unsafe { ARef::from_raw(NonNull::from(Credential::from_ptr(raw))) };
        // SAFETY: Reads the current task's limit.
        let fsize_limit = unsafe { helpers::copy_range_rlimit_fsize() };
        Self { cred, fsize_limit }
    }

    /// The submitter's credentials, which the per-user limits are charged to.
    pub(crate) fn cred(&self) -> &ARef<Credential> {
        &self.cred
    }

    /// Runs `f` with the submitter's credentials on the current task.
    ///
    /// A closure rather than a guard: a guard could be leaked (`mem::forget` is safe), which
    /// would leave the override on a shared kernel worker after the credentials are freed.
    pub(crate) fn with_creds<R>(&self, f: impl FnOnce() -> R) -> R {
        // SAFETY: The credentials are kept alive by `self`, which outlives the override; it is
        // undone below, on this task, before this function returns.
        let old = unsafe { helpers::copy_range_override_creds(self.cred.as_ptr()) };
        let result = f();
        // SAFETY: `old` came from `override_creds()` on this task, undone here once. The kernel
        // does not unwind, so `f` cannot skip this.
        unsafe { helpers::copy_range_revert_creds(old) };
        result
    }
}
