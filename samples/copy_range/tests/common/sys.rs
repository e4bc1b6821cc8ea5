// SPDX-License-Identifier: GPL-2.0

//! The system calls the tests make themselves, as safe functions: the only place in the
//! tests that calls libc.

use std::{
    ffi::CString,
    fs::File,
    io,
    os::{fd::AsRawFd, unix::ffi::OsStrExt},
    path::Path,
};

fn c_path(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `ioctl(dst, FICLONE, src)`, with FICLONE's number as `<linux/fs.h>` has it.
pub fn ficlone(dst: &File, src: &File) -> io::Result<()> {
    // SAFETY: FICLONE (0x40049409) takes the source descriptor as its argument.
    check(unsafe { libc::ioctl(dst.as_raw_fd(), 0x4004_9409, src.as_raw_fd()) })
}

/// Sets the access and modification times of `p` (seconds, nanoseconds), following a symlink.
pub fn set_times(p: &Path, atime: (i64, i64), mtime: (i64, i64)) {
    let c = c_path(p);
    let t = [
        libc::timespec {
            tv_sec: atime.0,
            tv_nsec: atime.1,
        },
        libc::timespec {
            tv_sec: mtime.0,
            tv_nsec: mtime.1,
        },
    ];
    // SAFETY: A NUL-terminated path and two timespecs.
    let ret = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), t.as_ptr(), 0) };
    assert_eq!(ret, 0, "utimensat {}", p.display());
}

/// The extended attribute `name` of `p` (up to 256 bytes), or `None`.
pub fn get_xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let c = c_path(p);
    let n = CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: NUL-terminated strings and a writable buffer.
    let r = unsafe {
        libc::getxattr(
            c.as_ptr(),
            n.as_ptr(),
            buf.as_mut_ptr() as *mut libc::c_void,
            buf.len(),
        )
    };
    (r >= 0).then(|| buf[..r as usize].to_vec())
}

/// Sets the extended attribute `name` of `p`: false where that fails (no `user.*`
/// attributes on the filesystem).
pub fn set_xattr(p: &Path, name: &str, value: &[u8]) -> bool {
    let c = c_path(p);
    let n = CString::new(name).unwrap();
    // SAFETY: NUL-terminated strings and a readable buffer.
    let ret = unsafe {
        libc::setxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr() as *const libc::c_void,
            value.len(),
            0,
        )
    };
    ret == 0
}

/// Makes a FIFO at `p`.
pub fn mkfifo(p: &Path, mode: libc::mode_t) -> io::Result<()> {
    let c = c_path(p);
    // SAFETY: A NUL-terminated path.
    check(unsafe { libc::mkfifo(c.as_ptr(), mode) })
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    // SAFETY: A plain system call that cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The process's umask.
pub fn umask() -> libc::mode_t {
    // SAFETY: Reads the umask by setting it, and sets it back at once.
    unsafe {
        let u = libc::umask(0);
        libc::umask(u);
        u
    }
}

/// The filesystem type of `path`, from statfs(2).
pub fn fs_magic(path: &Path) -> Option<i64> {
    let c = c_path(path);
    // SAFETY: An all-zero `struct statfs` is valid; statfs fills it in.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: A NUL-terminated path and a valid `struct statfs`.
    (unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0).then_some(st.f_type as i64)
}

/// Sends `sig` to the process `pid`.
pub fn kill(pid: u32, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: A plain system call; it only signals.
    check(unsafe { libc::kill(pid as libc::pid_t, sig) })
}

/// Has `f` called when the process exits normally.
pub fn at_exit(f: extern "C" fn()) {
    // SAFETY: Registers a plain function, which runs at exit with nothing else to uphold.
    unsafe { libc::atexit(f) };
}
