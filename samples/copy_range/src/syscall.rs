// SPDX-License-Identifier: GPL-2.0

//! The system calls this crate makes that std does not (or not at explicit offsets, or not
//! relative to a directory descriptor), as safe functions: one call each, its `-1` turned
//! into the `io::Error` of `errno`, no retries (those are the callers' policy). With
//! [`crate::ioctl`], the only module that calls libc.

use std::{
    ffi::{CStr, CString, OsStr},
    fs::File,
    io,
    os::{
        fd::{AsRawFd, BorrowedFd, FromRawFd},
        unix::ffi::OsStrExt,
    },
};

/// `-1` (or any negative return) as the error in `errno`.
pub(crate) fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A byte count, or the error in `errno`.
fn check_size(ret: isize) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// `name` as a C string: `EINVAL` if it holds a NUL byte, as the kernel would say of it.
pub(crate) fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// `openat(2)` of `name` in `dir`, always `O_CLOEXEC`.
pub(crate) fn openat(dir: BorrowedFd<'_>, name: &CStr, flags: i32, mode: u32) -> io::Result<File> {
    // SAFETY: A NUL-terminated name relative to a valid directory descriptor.
    let fd = check(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode,
        )
    })?;
    // SAFETY: A new descriptor that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// An all-zero `struct stat`, for a call to fill in.
fn empty_stat() -> libc::stat {
    // SAFETY: An all-zero `struct stat` is a valid value of it (plain integers).
    unsafe { std::mem::zeroed() }
}

/// `fstatat(2)` of `name` in `dir`.
pub(crate) fn fstatat(dir: BorrowedFd<'_>, name: &CStr, flags: i32) -> io::Result<libc::stat> {
    let mut st = empty_stat();
    // SAFETY: A NUL-terminated name relative to a valid directory descriptor, and a
    // `struct stat` to fill in.
    check(unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), &mut st, flags) })?;
    Ok(st)
}

/// `fstat(2)`.
pub(crate) fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    let mut st = empty_stat();
    // SAFETY: A valid descriptor and a `struct stat` to fill in.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

/// `linkat(2)`: `old` relative to `old_dir` (the working directory when `None`), the new
/// name `new` in `new_dir`.
pub(crate) fn linkat(
    old_dir: Option<BorrowedFd<'_>>,
    old: &CStr,
    new_dir: BorrowedFd<'_>,
    new: &CStr,
    flags: i32,
) -> io::Result<()> {
    let old_dir = old_dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: NUL-terminated names and valid descriptors (or AT_FDCWD).
    check(unsafe {
        libc::linkat(
            old_dir,
            old.as_ptr(),
            new_dir.as_raw_fd(),
            new.as_ptr(),
            flags,
        )
    })
    .map(drop)
}

/// `renameat2(2)` of `from` to `to`, both in `dir`.
pub(crate) fn renameat2(
    dir: BorrowedFd<'_>,
    from: &CStr,
    to: &CStr,
    flags: libc::c_uint,
) -> io::Result<()> {
    let d = dir.as_raw_fd();
    // SAFETY: NUL-terminated names relative to a valid directory descriptor.
    check(unsafe { libc::renameat2(d, from.as_ptr(), d, to.as_ptr(), flags) }).map(drop)
}

/// `unlinkat(2)` of `name` in `dir`.
pub(crate) fn unlinkat(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    // SAFETY: A NUL-terminated name relative to a valid directory descriptor.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) }).map(drop)
}

/// `syncfs(2)` of the filesystem `fd` is on.
pub(crate) fn syncfs(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: A plain system call on a valid descriptor.
    check(unsafe { libc::syncfs(fd.as_raw_fd()) }).map(drop)
}

/// Clears `O_NONBLOCK` from the file status flags (`fcntl(2)` `F_GETFL`, `F_SETFL`).
pub(crate) fn clear_nonblock(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: Plain fcntl calls on a valid descriptor.
    let flags = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: As above.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK) })
        .map(drop)
}

/// One `copy_file_range(2)` call at explicit offsets (the files' positions are not used).
pub(crate) fn copy_file_range(
    src: BorrowedFd<'_>,
    src_off: u64,
    dst: BorrowedFd<'_>,
    dst_off: u64,
    len: usize,
) -> io::Result<usize> {
    let mut a = src_off as libc::loff_t;
    let mut b = dst_off as libc::loff_t;
    // SAFETY: Two valid descriptors and two offsets that live across the call.
    check_size(unsafe {
        libc::copy_file_range(src.as_raw_fd(), &mut a, dst.as_raw_fd(), &mut b, len, 0)
    })
}

/// `lseek(2)`: the new offset.
pub(crate) fn lseek(fd: BorrowedFd<'_>, off: u64, whence: libc::c_int) -> io::Result<u64> {
    // SAFETY: A plain system call on a valid descriptor.
    let r = unsafe { libc::lseek(fd.as_raw_fd(), off as libc::off_t, whence) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r as u64)
}

/// The filesystem type (`f_type`) of `fstatfs(2)`.
pub(crate) fn fs_type(fd: BorrowedFd<'_>) -> io::Result<i64> {
    // SAFETY: An all-zero `struct statfs` is a valid value of it.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: A valid descriptor and a `struct statfs` to fill in.
    check(unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) })?;
    Ok(st.f_type as i64)
}

/// One `pread(2)` into `buf`.
pub(crate) fn pread(fd: BorrowedFd<'_>, buf: &mut [u8], off: u64) -> io::Result<usize> {
    // SAFETY: `buf` is writable for its length.
    check_size(unsafe {
        libc::pread(
            fd.as_raw_fd(),
            buf.as_mut_ptr() as *mut libc::c_void,
            buf.len(),
            off as libc::off_t,
        )
    })
}

/// One `pwrite(2)` from `buf`.
pub(crate) fn pwrite(fd: BorrowedFd<'_>, buf: &[u8], off: u64) -> io::Result<usize> {
    // SAFETY: `buf` is readable for its length.
    check_size(unsafe {
        libc::pwrite(
            fd.as_raw_fd(),
            buf.as_ptr() as *const libc::c_void,
            buf.len(),
            off as libc::off_t,
        )
    })
}

/// `getrandom(2)` into `buf`: how many bytes it filled.
pub(crate) fn getrandom(buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for its length.
    check_size(unsafe { libc::getrandom(buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) })
}

/// `flistxattr(2)` into `buf`: the length of the NUL-separated list, or with an empty `buf`
/// the size it needs.
pub(crate) fn flistxattr(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for its length (a length of 0 asks for the size only).
    check_size(unsafe {
        libc::flistxattr(
            fd.as_raw_fd(),
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
        )
    })
}

/// `fgetxattr(2)` of `name` into `buf`: the value's length, or with an empty `buf` the size
/// it needs.
pub(crate) fn fgetxattr(fd: BorrowedFd<'_>, name: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `name` is NUL-terminated, `buf` writable for its length (a length of 0 asks for
    // the size only).
    check_size(unsafe {
        libc::fgetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr() as *mut libc::c_void,
            buf.len(),
        )
    })
}

/// `fsetxattr(2)` of `name` to `value`.
pub(crate) fn fsetxattr(fd: BorrowedFd<'_>, name: &CStr, value: &[u8]) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated, `value` readable for its length.
    check(unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr() as *const libc::c_void,
            value.len(),
            0,
        )
    })
    .map(drop)
}

/// `fchown(2)`; `u32::MAX` (-1) keeps the owner or the group.
pub(crate) fn fchown(fd: BorrowedFd<'_>, uid: libc::uid_t, gid: libc::gid_t) -> io::Result<()> {
    // SAFETY: A plain system call on a valid descriptor.
    check(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) }).map(drop)
}

/// `fchmod(2)`.
pub(crate) fn fchmod(fd: BorrowedFd<'_>, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: A plain system call on a valid descriptor.
    check(unsafe { libc::fchmod(fd.as_raw_fd(), mode) }).map(drop)
}

/// `futimens(2)` with the access and the modification time.
pub(crate) fn futimens(fd: BorrowedFd<'_>, times: &[libc::timespec; 2]) -> io::Result<()> {
    // SAFETY: A valid descriptor and two valid timespecs.
    check(unsafe { libc::futimens(fd.as_raw_fd(), times.as_ptr()) }).map(drop)
}

/// The effective user and group IDs.
pub(crate) fn effective_ids() -> (libc::uid_t, libc::gid_t) {
    // SAFETY: Plain system calls that cannot fail.
    unsafe { (libc::geteuid(), libc::getegid()) }
}

/// `poll(2)` of `fds` for up to `timeout_ms`: how many are ready.
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `fds` is a valid array of pollfds for its length.
    let n = check(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) })?;
    Ok(n as usize)
}
