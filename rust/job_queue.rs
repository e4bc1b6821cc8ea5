// SPDX-License-Identifier: GPL-2.0

//! The module's own workqueue for jobs.
//!
//! - A job descriptor pins the module, but a worker may still be returning through module code
//!   after the descriptor is gone, or finishing the step of a job whose descriptor was closed by
//!   a task that could not wait (see `job.rs`). Destroying a private workqueue on unload drains
//!   every work item, so the module text outlives all of them.
//! - Unbound: jobs are long and block on I/O.
//! - Freezable: a job runs as a series of bounded steps, each a separate run of its work item,
//!   so the freezer (suspend, hibernation) waits for the step in progress and no step starts
//!   until the system thaws. Nothing is written after a hibernation image is taken.
//! - It runs [`MAX_ACTIVE`] work items at once, and the module admits no more jobs than that
//!   (`job_limit::max_jobs()`): a job that is admitted never waits behind others.

use kernel::{
    bindings,
    prelude::*,
    sync::{
        atomic::{
            Acquire,
            Atomic,
            Release, //
        },
        Arc,
    },
    workqueue::{
        HasWork,
        Queue,
        Work,
        WorkItem, //
    },
};

/// Work items the queue runs at once: the kernel's `WQ_DFL_ACTIVE`.
pub(crate) const MAX_ACTIVE: u32 = bindings::wq_consts_WQ_DFL_ACTIVE;

/// The queue, published for `queue()` while the module is live.
static QUEUE: Atomic<*mut bindings::workqueue_struct> = Atomic::new(core::ptr::null_mut());

/// Owns the workqueue; dropping it drains and destroys it.
///
/// # Invariants
///
/// `QUEUE` holds a live workqueue from `new` until this is dropped.
pub(crate) struct JobQueue(());

impl JobQueue {
    /// Allocates the workqueue.
    pub(crate) fn new() -> Result<Self> {
        let flags = bindings::wq_flags_WQ_UNBOUND | bindings::wq_flags_WQ_FREEZABLE;
        // SAFETY: A static, NUL-terminated name without format directives; no variadic
        // arguments are read.
        let wq = unsafe {
            bindings::alloc_workqueue_noprof(
                c"copy_range_jobs".as_char_ptr(),
                flags,
                MAX_ACTIVE as i32,
            )
        };
        if wq.is_null() {
            return Err(ENOMEM);
        }
        QUEUE.store(wq, Release);
        // INVARIANT: Published above.
        Ok(Self(()))
    }
}

impl Drop for JobQueue {
    fn drop(&mut self) {
        let wq = QUEUE.load(Acquire);
        // SAFETY: `wq` was allocated by `new` and is destroyed once, in module exit: no open
        // device or job descriptor exists then (each holds a module reference), so nothing
        // queues on it from outside. A job whose descriptor is gone may still be between
        // steps; draining lets its work item queue its next step (chained work), which sees the
        // cancel and ends. This returns when every work item has.
        unsafe { bindings::destroy_workqueue(wq) };
        QUEUE.store(core::ptr::null_mut(), Release);
    }
}

/// The job queue. Called from the device's ioctls and from job work items.
pub(crate) fn queue() -> &'static Queue {
    let wq = QUEUE.load(Acquire);
    // SAFETY: The queue is published before the device is registered and unpublished only after
    // `destroy_workqueue()` has returned. An ioctl runs on an open `/dev/copy_range`, which holds
    // a reference to the module, so its exit has not started; a work item runs before
    // `destroy_workqueue()` returns.
    unsafe { Queue::from_raw(wq) }
}

/// Takes `item`'s work off the queue if it is waiting there, and returns the reference the
/// queue held. `None` if it is not waiting: running, or not queued at all.
pub(crate) fn cancel_queued<T>(item: &Arc<T>) -> Option<Arc<T>>
where
    T: WorkItem<Pointer = Arc<T>> + HasWork<T>,
{
    let ptr = Arc::as_ptr(item).cast_mut();
    // SAFETY: `ptr` points into a live `Arc<T>`, and `T: HasWork<T>` gives its `Work` field.
    let work = unsafe { Work::raw_get(T::raw_get_work(ptr)) };
    // SAFETY: `work` is the initialised `work_struct` of a live item.
    if unsafe { bindings::cancel_work(work) } {
        // SAFETY: The work was pending and is no longer: its function will not run, so the
        // reference that `Queue::enqueue` made with `Arc::into_raw()` of this very pointer
        // comes back to us.
        Some(unsafe { Arc::from_raw(ptr) })
    } else {
        None
    }
}
