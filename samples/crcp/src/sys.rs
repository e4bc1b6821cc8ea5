// SPDX-License-Identifier: GPL-2.0

//! The system calls crcp makes itself (the library makes the copies' own), as safe
//! functions: the only module of crcp that calls libc. Paths are taken as `CStr` or `Path`,
//! and each `-1` becomes the `io::Error` of `errno`.

use std::{
    ffi::{CStr, CString},
    fs::File,
    io,
    os::{fd::AsRawFd, unix::ffi::OsStrExt},
    path::Path,
};

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `p` as a C string (paths from the command line and directories hold no NUL).
pub(crate) fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap_or_default()
}

/// An all-zero `struct stat`, for a call to fill in.
fn empty_stat() -> libc::stat {
    // SAFETY: An all-zero `struct stat` is a valid value of it (plain integers).
    unsafe { std::mem::zeroed() }
}

/// `lstat(2)`: the entry itself, a symlink not followed.
pub(crate) fn lstat(p: &Path) -> io::Result<libc::stat> {
    let c = CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut st = empty_stat();
    // SAFETY: A NUL-terminated path and a `struct stat` to fill in.
    check(unsafe { libc::lstat(c.as_ptr(), &mut st) })?;
    Ok(st)
}

/// `stat(2)`: what `p` names, symlinks followed.
pub(crate) fn stat(p: &Path) -> io::Result<libc::stat> {
    let c = cstr(p);
    let mut st = empty_stat();
    // SAFETY: A NUL-terminated path and a `struct stat` to fill in.
    check(unsafe { libc::stat(c.as_ptr(), &mut st) })?;
    Ok(st)
}

/// `mkdir(2)`.
pub(crate) fn mkdir(p: &Path, mode: libc::mode_t) -> io::Result<()> {
    let c = cstr(p);
    // SAFETY: A NUL-terminated path.
    check(unsafe { libc::mkdir(c.as_ptr(), mode) })
}

/// `mknod(2)`: a FIFO, socket or device node.
pub(crate) fn mknod(p: &Path, mode: libc::mode_t, dev: libc::dev_t) -> io::Result<()> {
    let c = cstr(p);
    // SAFETY: A NUL-terminated path.
    check(unsafe { libc::mknod(c.as_ptr(), mode, dev) })
}

/// `chmod(2)`.
pub(crate) fn chmod(c: &CStr, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: A NUL-terminated path.
    check(unsafe { libc::chmod(c.as_ptr(), mode) })
}

/// `fchmod(2)`.
pub(crate) fn fchmod(f: &File, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: A plain system call on an open descriptor.
    check(unsafe { libc::fchmod(f.as_raw_fd(), mode) })
}

/// `lchown(2)`; `u32::MAX` (-1) keeps the owner or the group.
pub(crate) fn lchown(c: &CStr, uid: libc::uid_t, gid: libc::gid_t) -> io::Result<()> {
    // SAFETY: A NUL-terminated path.
    check(unsafe { libc::lchown(c.as_ptr(), uid, gid) })
}

/// Sets the access and modification times of `c` to those in `st`; `flags` as for
/// `utimensat(2)`.
pub(crate) fn set_times(c: &CStr, st: &libc::stat, flags: i32) -> io::Result<()> {
    let times = [
        libc::timespec {
            tv_sec: st.st_atime,
            tv_nsec: st.st_atime_nsec,
        },
        libc::timespec {
            tv_sec: st.st_mtime,
            tv_nsec: st.st_mtime_nsec,
        },
    ];
    // SAFETY: A NUL-terminated path and two timespecs.
    check(unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), flags) })
}

/// The effective user and group IDs.
pub(crate) fn effective_ids() -> (libc::uid_t, libc::gid_t) {
    // SAFETY: Plain system calls that cannot fail.
    unsafe { (libc::geteuid(), libc::getegid()) }
}

/// The process's umask, read by setting it and setting it back at once (so call it while
/// single-threaded).
pub(crate) fn umask() -> u32 {
    // SAFETY: Plain system calls that cannot fail.
    let m = unsafe {
        let m = libc::umask(0);
        libc::umask(m);
        m
    };
    m as u32
}

/// `poll(2)` of `fds` for up to `timeout_ms`: how many are ready, or the error (`EINTR`
/// included).
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `fds` is a valid array of pollfds for its length.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// The width of the terminal on standard error (`TIOCGWINSZ`), if it is one.
pub(crate) fn stderr_columns() -> Option<usize> {
    // SAFETY: An all-zero `struct winsize` is a valid value of it.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ fills in a `winsize`.
    let ok = unsafe { libc::ioctl(2, libc::TIOCGWINSZ, &mut ws) } == 0;
    ok.then_some(ws.ws_col as usize)
}

/// Makes `handler` the action of `sig`, without `SA_RESTART`: a system call that the signal
/// interrupts fails with `EINTR`.
pub(crate) fn set_signal_handler(sig: libc::c_int, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: An all-zero `struct sigaction` is a valid value of it; its handler and mask are
    // set below. The handler is a plain `extern "C"` function, which the callers keep
    // async-signal-safe (they store to atomics only).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

/// Restores the default action of `sig` and raises it: the process dies of it, unless it is
/// one whose default is to go on.
pub(crate) fn raise_default(sig: libc::c_int) {
    // SAFETY: Plain system calls; the default action needs no handler.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

fn get_nofile() -> Option<libc::rlimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: A plain system call filling `lim`.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0).then_some(lim)
}

/// Raises the soft limit on open descriptors (`RLIMIT_NOFILE`) to the hard limit: every
/// copy waiting to be committed holds descriptors. crcp uses poll(2), never select(2), so
/// descriptors above 1024 are fine.
pub(crate) fn raise_nofile_limit() {
    if let Some(mut lim) = get_nofile() {
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            // SAFETY: A plain system call reading a valid `rlimit`.
            unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
        }
    }
}

/// The soft limit on open descriptors.
pub(crate) fn nofile_limit() -> u64 {
    get_nofile().map_or(1024, |lim| lim.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_errors_are_returned() {
        let mut none = [libc::pollfd {
            fd: -1,
            events: libc::POLLIN,
            revents: 0,
        }];
        assert_eq!(poll(&mut none, 0).unwrap(), 0);
        // More descriptors than RLIMIT_NOFILE: EINVAL, every time.
        let nofile = nofile_limit();
        if nofile > 1 << 22 {
            eprintln!("skipped: RLIMIT_NOFILE too large to exceed");
            return;
        }
        let mut many = vec![none[0]; nofile as usize + 1];
        let e = poll(&mut many, 0).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    }
}
