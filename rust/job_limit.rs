// SPDX-License-Identifier: GPL-2.0

//! Jobs in flight: bounded per user, across user namespaces, and in all.
//!
//! Every job holds two open files, a turn on the job queue and memory until it ends, and a
//! submit costs the caller nothing. nfsd learned that an unbounded number of asynchronous copies
//! lets one client exhaust the server (it answers `NFS4ERR_DELAY` past a limit); the same holds
//! for local users here. Past a limit, `SUBMIT` fails with `EAGAIN` until a job ends.
//!
//! - Per user (`max_jobs_per_user`), counted the way ucounts count: a job charges its
//!   submitter's euid in the submitter's user namespace, and then the owner of each namespace in
//!   the one above, up to the initial namespace. A user who maps many ids in a namespace of its
//!   own (subordinate ids) therefore still has one budget: every job of every id there is charged
//!   to that user too.
//! - In all (`max_jobs`): jobs of every user together. The job queue runs this many work items
//!   at once, so a job that is admitted is never stuck behind others that stall (a FUSE daemon
//!   that never answers holds its own jobs only).

use kernel::{
    alloc::KVec,
    cred::Credential,
    prelude::*,
    sync::aref::ARef, //
};

use crate::helpers;

/// One level of a submitter's place in the user namespace tree: a namespace (compared, never
/// dereferenced) and the user charged there.
#[derive(Clone, Copy, PartialEq, Eq)]
struct UserKey {
    /// The namespace's address.
    ns: usize,
    /// The kuid charged there.
    uid: u32,
}

/// User namespaces nest at most 32 deep, under the initial one.
const LEVELS: usize = helpers::COPY_RANGE_USER_NS_LEVELS as usize;

/// Jobs in flight, in all and per (user namespace, user).
struct Table {
    /// Every user's jobs.
    total: u32,
    /// Jobs charged to each key; keys without jobs are removed.
    users: KVec<(UserKey, u32)>,
}

kernel::sync::global_lock! {
    // SAFETY: Initialised by `init()` in the module initialiser, before the device exists.
    unsafe(uninit) static TABLE: Mutex<Table> = Table {
        total: 0,
        users: KVec::new(),
    };
}

/// Initialises the table. Called once, from the module initialiser.
pub(crate) fn init() {
    // SAFETY: Called exactly once, before any other use.
    unsafe { TABLE.init() };
}

/// The most jobs in flight in all: the `max_jobs` parameter, within what the queue runs at once.
pub(crate) fn max_jobs() -> u32 {
    crate::module_parameters::max_jobs
        .value()
        .clamp(1, crate::job_queue::MAX_ACTIVE)
}

/// Who a job of `cred` is charged to, one key per user namespace level.
fn user_keys(cred: &Credential) -> ([UserKey; LEVELS], usize) {
    let mut raw: [helpers::copy_range_user_key; LEVELS] =
        core::array::from_fn(|_| helpers::copy_range_user_key {
            ns: core::ptr::null(),
            uid: 0,
        });
    // SAFETY: `cred` is valid for the call and `raw` has room for `LEVELS` entries.
    let n =
        unsafe { helpers::copy_range_user_keys(cred.as_ptr(), raw.as_mut_ptr(), LEVELS as i32) };
    let n = (n.max(0) as usize).min(LEVELS);
    let mut keys = [UserKey { ns: 0, uid: 0 }; LEVELS];
    for (key, raw) in keys.iter_mut().zip(raw.iter()).take(n) {
        *key = UserKey {
            ns: raw.ns as usize,
            uid: raw.uid,
        };
    }
    (keys, n)
}

/// One job's place in the limits; given back when dropped.
///
/// # Invariants
///
/// While `self` exists, `TABLE.total` and the count of each key of `user_keys(&self.cred)`
/// include this slot. (Credentials are immutable, so the keys computed on drop are those that
/// were charged.)
pub(crate) struct JobSlot {
    /// The submitter's credentials.
    cred: ARef<Credential>,
}

impl JobSlot {
    /// Takes a slot for a job submitted with `cred`: `EAGAIN` if the limit in all, or that of
    /// the user at any level, is reached.
    pub(crate) fn acquire(cred: &ARef<Credential>) -> Result<Self> {
        let per_user = crate::module_parameters::max_jobs_per_user.value();
        let (keys, n) = user_keys(cred);
        let keys = &keys[..n];
        let mut table = TABLE.lock();
        if table.total >= max_jobs() {
            return Err(EAGAIN);
        }
        let mut new_keys = 0;
        for key in keys {
            match table.users.iter().find(|(k, _)| k == key) {
                Some((_, count)) if *count >= per_user => return Err(EAGAIN),
                Some(_) => {}
                None if per_user == 0 => return Err(EAGAIN),
                None => new_keys += 1,
            }
        }
        // Room first, so that nothing is charged if the allocation fails.
        table.users.reserve(new_keys, GFP_KERNEL)?;
        for key in keys {
            match table.users.iter_mut().find(|(k, _)| k == key) {
                Some((_, count)) => *count += 1,
                // Cannot fail: there is room.
                None => table.users.push((*key, 1), GFP_KERNEL)?,
            }
        }
        table.total += 1;
        // INVARIANT: The total and every key of `cred` now include this slot.
        Ok(Self { cred: cred.clone() })
    }
}

impl Drop for JobSlot {
    fn drop(&mut self) {
        let (keys, n) = user_keys(&self.cred);
        let mut table = TABLE.lock();
        for key in &keys[..n] {
            if let Some((_, count)) = table.users.iter_mut().find(|(k, _)| k == key) {
                *count -= 1;
            }
        }
        table.users.retain(|(_, count)| *count > 0);
        table.total -= 1;
        if table.users.is_empty() {
            // Free the buffer, so that nothing is left allocated when the module goes away.
            table.users = KVec::new();
        }
    }
}
