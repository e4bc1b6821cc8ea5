// SPDX-License-Identifier: GPL-2.0

//! The module's own workqueue for jobs.
//!
//! A job descriptor pins the module, but the worker may still be returning through module code
//! after the descriptor is gone. Destroying a private workqueue on unload drains every work
//! item, so the module text outlives all of them. It is unbound: jobs are long and block on I/O.

use kernel::{
    bindings,
    prelude::*,
    sync::atomic::{
        Acquire,
        Atomic,
        Release, //
    },
    workqueue::Queue,
};

/// The queue, published for `queue()` while the module is live.
static QUEUE: Atomic<*mut bindings::workqueue_struct> = Atomic::new(core::ptr::null_mut());

/// Owns the workqueue; dropping it drains and destroys it.
pub(crate) struct JobQueue(());

impl JobQueue {
    /// Allocates the workqueue.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: A static, NUL-terminated name without format directives; no variadic
        // arguments are read.
        let wq = unsafe {
            bindings::alloc_workqueue_noprof(
                c"copy_range_jobs".as_char_ptr(),
                bindings::wq_flags_WQ_UNBOUND,
                0,
            )
        };
        if wq.is_null() {
            return Err(ENOMEM);
        }
        QUEUE.store(wq, Release);
        Ok(Self(()))
    }
}

impl Drop for JobQueue {
    fn drop(&mut self) {
        let wq = QUEUE.xchg(core::ptr::null_mut(), Acquire);
        // SAFETY: `wq` was allocated by `new` and is destroyed once, in module exit: no open
        // device or job descriptor exists then (each holds a module reference), so nothing
        // queues on it any more; this waits for every queued and running job to return.
        unsafe { bindings::destroy_workqueue(wq) };
    }
}

/// The job queue. Only called from the device's ioctls.
pub(crate) fn queue() -> &'static Queue {
    let wq = QUEUE.load(Acquire);
    // SAFETY: The queue is published before the device is registered. An ioctl runs on an open
    // `/dev/copy_range`, which holds a reference to the module (`fops->owner`), so the module's
    // exit, which destroys the queue, cannot have started.
    unsafe { Queue::from_raw(wq) }
}
