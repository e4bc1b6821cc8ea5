// SPDX-License-Identifier: GPL-2.0

//! Ctrl-C and friends: SIGINT, SIGTERM and SIGHUP only record the signal and set the
//! library's cancel token; the loops poll it, cancel, and crcp then dies of the same signal,
//! as cp does.

use crate::sys;
use copy_range::CancelToken;
use std::sync::{
    atomic::{AtomicI32, Ordering},
    OnceLock,
};

/// The signal that interrupted us, or 0.
static INTERRUPTED: AtomicI32 = AtomicI32::new(0);

/// Cancelled by the handler: every copy's options hold it, so that a batch being committed
/// when a signal comes links no more files (the copies in flight notice it too).
static CANCEL: OnceLock<CancelToken> = OnceLock::new();

extern "C" fn on_signal(sig: libc::c_int) {
    INTERRUPTED.store(sig, Ordering::SeqCst);
    // Set before the handlers are installed: get() is one atomic load, cancel() one store.
    if let Some(t) = CANCEL.get() {
        t.cancel();
    }
}

/// The token the signal handlers cancel.
pub(crate) fn cancel_token() -> CancelToken {
    CANCEL.get_or_init(CancelToken::new).clone()
}

/// The signal that interrupted us, or 0.
pub(crate) fn signal() -> i32 {
    INTERRUPTED.load(Ordering::SeqCst)
}

pub(crate) fn interrupted() -> bool {
    signal() != 0
}

/// Makes SIGINT, SIGTERM and SIGHUP record themselves and cancel the token. The handler only
/// stores to atomics; without SA_RESTART, poll(2) and waits return EINTR and the loops notice
/// at once.
pub(crate) fn install_signal_handlers() {
    cancel_token();
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        sys::set_signal_handler(sig, on_signal);
    }
}

/// Dies of the signal that interrupted us, so that the caller (a shell) sees it.
pub(crate) fn die_of_signal(sig: i32) -> ! {
    sys::raise_default(sig);
    std::process::exit(128 + sig);
}
