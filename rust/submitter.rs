// SPDX-License-Identifier: GPL-2.0

//! What a job borrows from the task that submitted it.
//!
//! A job runs in a kernel worker, which has kernel credentials, no `RLIMIT_FSIZE` and the root
//! cgroups. Without care, the LSM hooks of every read and write would see the wrong subject, a
//! user could write past its file-size limit by submitting instead of copying, and the page
//! cache a job fills and the I/O it does would be charged to nobody's memory and io cgroup.
//! So the submitter's credentials, limit and cgroups are captured at submit time and applied
//! while the job copies. (An io_uring copy needs none of this: its io-wq worker is a thread of
//! the submitting process.)

use core::ptr::NonNull;
use kernel::{
    cred::Credential,
    sync::aref::ARef, //
};

use crate::helpers;

/// The submitting task's credentials, file-size limit and cgroups.
pub(crate) struct Submitter {
    /// `current_cred()` at submit time.
    cred: ARef<Credential>,
    /// `RLIMIT_FSIZE` at submit time; `u64::MAX` for none.
    pub(crate) fsize_limit: u64,
    /// The memory and io cgroups at submit time.
    cgroups: Cgroups,
}

/// Counted references to a task's memory and io cgroups.
///
/// # Invariants
///
/// `raw` holds the references `copy_range_cgroups_get()` took, dropped once, by `drop`.
struct Cgroups {
    /// The cgroups.
    raw: helpers::copy_range_cgroups,
}

// SAFETY: The references may be dropped from any thread, and `&Cgroups` only reads them.
unsafe impl Send for Cgroups {}
// SAFETY: See `Send`.
unsafe impl Sync for Cgroups {}

impl Cgroups {
    /// The current task's cgroups.
    fn current() -> Self {
        let mut raw = helpers::copy_range_cgroups {
            memcg: core::ptr::null_mut(),
            blkcg: core::ptr::null_mut(),
        };
        // SAFETY: `raw` is writable; process context.
        unsafe { helpers::copy_range_cgroups_get(&mut raw) };
        // INVARIANT: `raw` holds the references just taken.
        Self { raw }
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the references are held, and dropped only here.
        unsafe { helpers::copy_range_cgroups_put(&mut self.raw) };
    }
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
        Self {
            cred,
            fsize_limit,
            cgroups: Cgroups::current(),
        }
    }

    /// The submitter's credentials, which the per-user limits are charged to.
    pub(crate) fn cred(&self) -> &ARef<Credential> {
        &self.cred
    }

    /// Runs `f` on the current task (a kernel worker) with the submitter's credentials, and with
    /// the memory and I/O it causes charged to the submitter's cgroups.
    ///
    /// A closure rather than a guard: a guard could be leaked (`mem::forget` is safe), which
    /// would leave the override on a shared kernel worker after the credentials are freed.
    pub(crate) fn act_for<R>(&self, f: impl FnOnce() -> R) -> R {
        // SAFETY: The credentials are kept alive by `self`, which outlives the override; it is
        // undone below, on this task, before this function returns.
        let old_cred = unsafe { helpers::copy_range_override_creds(self.cred.as_ptr()) };
        // SAFETY: The cgroups are kept alive by `self` for the scope, which ends below, on
        // this task (the association takes a reference of its own).
        let old_memcg = unsafe { helpers::copy_range_cgroups_enter(&self.cgroups.raw) };
        let result = f();
        // SAFETY: `old_memcg` came from the enter above, on this task; undone here once.
        unsafe { helpers::copy_range_cgroups_leave(old_memcg) };
        // SAFETY: `old_cred` came from `override_creds()` on this task, undone here once. The
        // kernel does not unwind, so `f` cannot skip this.
        unsafe { helpers::copy_range_revert_creds(old_cred) };
        result
    }
}
