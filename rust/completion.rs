// SPDX-License-Identifier: GPL-2.0

//! A completion with a killable wait.
//!
//! The kernel crate's `Completion` waits only uninterruptibly. A job's release waits for its
//! worker, and a task that is killed while it waits must not stay in D state: this waits in
//! `TASK_KILLABLE`, so `SIGKILL` ends the wait.
//!
//! C header: [`include/linux/completion.h`](srctree/include/linux/completion.h).

use kernel::{
    bindings,
    error::to_result,
    prelude::*,
    types::Opaque, //
};

/// A `struct completion`.
///
/// # Invariants
///
/// `inner` is initialised by `init_completion()` and stays pinned.
#[pin_data]
pub(crate) struct KillableCompletion {
    /// The C completion.
    #[pin]
    inner: Opaque<bindings::completion>,
}

// SAFETY: A `struct completion` may be completed and waited for from any thread.
unsafe impl Send for KillableCompletion {}
// SAFETY: Every method takes `&self` and the C functions synchronise internally.
unsafe impl Sync for KillableCompletion {}

impl KillableCompletion {
    /// A completion that has not completed.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid and pinned; `init_completion()` initialises it in place.
            inner <- Opaque::ffi_init(|slot: *mut bindings::completion| unsafe {
                bindings::init_completion(slot)
            }),
        })
    }

    /// Completes it for every waiter, present and future.
    pub(crate) fn complete_all(&self) {
        // SAFETY: `inner` is an initialised completion by the type invariant.
        unsafe { bindings::complete_all(self.inner.get()) };
    }

    /// Waits until it is completed, or until a fatal signal (`ERESTARTSYS`).
    pub(crate) fn wait_killable(&self) -> Result {
        // SAFETY: `inner` is an initialised completion by the type invariant.
        to_result(unsafe { bindings::wait_for_completion_killable(self.inner.get()) })
    }
}
