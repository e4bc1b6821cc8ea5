// SPDX-License-Identifier: GPL-2.0

//! Path-based system calls that std lacks (or hides behind `Metadata`): `lstat` with the
//! raw `struct stat`, C strings of paths, and `utimensat` with nanoseconds; and the limit
//! on open descriptors.

use std::{ffi::CString, io, os::unix::ffi::OsStrExt, path::Path};

/// `lstat(2)`: the entry itself, a symlink not followed.
pub(crate) fn lstat(p: &Path) -> io::Result<libc::stat> {
    let c = CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: An all-zero `struct stat` is a valid value of it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: A NUL-terminated path and a `struct stat` to fill in.
    if unsafe { libc::lstat(c.as_ptr(), &mut st) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

/// `p` as a C string (paths from the command line and directories hold no NUL).
pub(crate) fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap_or_default()
}

/// Sets the access and modification times of `c` to those in `st`; `flags` as for
/// `utimensat(2)`.
pub(crate) fn set_times(c: &CString, st: &libc::stat, flags: i32) -> io::Result<()> {
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
    if unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Raises the soft limit on open descriptors (`RLIMIT_NOFILE`) to the hard limit: every
/// copy waiting to be committed holds descriptors. crcp uses poll(2), never select(2), so
/// descriptors above 1024 are fine.
pub(crate) fn raise_nofile_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: Plain system calls on a valid `rlimit`.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// The soft limit on open descriptors.
pub(crate) fn nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: A plain system call filling `lim`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    lim.rlim_cur
}
