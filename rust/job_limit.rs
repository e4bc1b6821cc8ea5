// SPDX-License-Identifier: GPL-2.0

//! Jobs in flight per user, bounded by the `max_jobs_per_user` module parameter.
//!
//! Every job holds two open files, a worker and memory until it ends, and a submit costs the
//! caller nothing. nfsd learned that an unbounded number of asynchronous copies lets one client
//! exhaust the server (it now answers `NFS4ERR_DELAY` past a limit); the same holds for local
//! users here, so past the limit `SUBMIT` fails with `EAGAIN` until one of the user's jobs ends.

use kernel::{
    alloc::KVec,
    prelude::*,
    task::Kuid, //
};

kernel::sync::global_lock! {
    // SAFETY: Initialised by `init()` in the module initialiser, before the device exists.
    unsafe(uninit) static IN_FLIGHT: Mutex<KVec<(Kuid, u32)>> = KVec::new();
}

/// Initialises the table. Called once, from the module initialiser.
pub(crate) fn init() {
    // SAFETY: Called exactly once, before any other use.
    unsafe { IN_FLIGHT.init() };
}

/// Takes a slot for `uid`: `EAGAIN` if it has `max_jobs_per_user` jobs in flight.
pub(crate) fn acquire(uid: Kuid) -> Result {
    let max = crate::module_parameters::max_jobs_per_user.value();
    let mut table = IN_FLIGHT.lock();
    if let Some(entry) = table.iter_mut().find(|(u, _)| *u == uid) {
        if entry.1 >= max {
            return Err(EAGAIN);
        }
        entry.1 += 1;
        return Ok(());
    }
    if max == 0 {
        return Err(EAGAIN);
    }
    table.push((uid, 1), GFP_KERNEL)?;
    Ok(())
}

/// Gives back a slot of `uid`.
pub(crate) fn release(uid: Kuid) {
    let mut table = IN_FLIGHT.lock();
    if let Some(entry) = table.iter_mut().find(|(u, _)| *u == uid) {
        entry.1 -= 1;
    }
    table.retain(|(_, n)| *n > 0);
    if table.is_empty() {
        // Free the buffer, so that nothing is left allocated when the module goes away.
        *table = KVec::new();
    }
}
