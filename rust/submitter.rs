// SPDX-License-Identifier: GPL-2.0

//! What a job borrows from the task that submitted it.
//!
//! A job runs in a kernel worker, which has kernel credentials and no `RLIMIT_FSIZE`. Without
//! care, the LSM hooks of every read and write would see the wrong subject, and a user could
//! write past its file-size limit by submitting instead of copying. So the submitter's
//! credentials and limit are captured at submit time and applied while the job copies.

use core::ptr::NonNull;
use kernel::{
    bindings,
    cred::Credential,
    sync::aref::ARef,
    task::Kuid, //
};

/// The module's C wrappers of static inline helpers (`vfs_helpers.c`).
mod ffi {
    use kernel::bindings;

    // Only pointers to these structures cross the boundary (see `vfs.rs`).
    #[allow(improper_ctypes)]
    extern "C" {
        pub(super) fn copy_range_get_current_cred() -> *const bindings::cred;
        pub(super) fn copy_range_override_creds(
            cred: *const bindings::cred,
        ) -> *const bindings::cred;
        pub(super) fn copy_range_revert_creds(old: *const bindings::cred);
        pub(super) fn copy_range_rlimit_fsize() -> u64;
    }
}

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
        let raw = unsafe { ffi::copy_range_get_current_cred() };
        // SAFETY: `get_current_cred()` never returns NULL, and the reference it took is handed
        // to the `ARef`, which drops it with `put_cred()`.
        let cred = unsafe { ARef::from_raw(NonNull::from(Credential::from_ptr(raw))) };
        // SAFETY: Reads the current task's limit.
        let fsize_limit = unsafe { ffi::copy_range_rlimit_fsize() };
        Self { cred, fsize_limit }
    }

    /// The effective user the submitter acted as, for per-user limits.
    pub(crate) fn euid(&self) -> Kuid {
        self.cred.euid()
    }

    /// Puts the submitter's credentials on the current task until the guard is dropped.
    pub(crate) fn act_as(&self) -> ActingAs<'_> {
        // SAFETY: The credentials are kept alive by `self`, which the guard borrows, so they
        // outlive the override.
        let old = unsafe { ffi::copy_range_override_creds(self.cred.as_ptr()) };
        ActingAs {
            old,
            _submitter: self,
        }
    }
}

/// The current task acts with a submitter's credentials; dropping this reverts them.
pub(crate) struct ActingAs<'a> {
    /// The credentials to restore.
    old: *const bindings::cred,
    /// Keeps the overriding credentials alive.
    _submitter: &'a Submitter,
}

impl Drop for ActingAs<'_> {
    fn drop(&mut self) {
        // SAFETY: `old` came from `override_creds()` on this task, which is undone here once.
        unsafe { ffi::copy_range_revert_creds(self.old) };
    }
}
