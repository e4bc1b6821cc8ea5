// SPDX-License-Identifier: GPL-2.0

//! Metadata of a copy, applied to the destination's descriptor before it is linked in:
//! extended attributes, ownership, permissions, timestamps (in that order, so that a chown
//! cannot clear bits that chmod set, and nothing after futimens changes the times).

use crate::copyfile::{staged, staged_detail, Preserve, Stage};
use crate::fsops::cvt;
use std::{ffi::CString, io, os::fd::RawFd};

/// Attributes GNU cp never copies as attributes (libattr's `/etc/xattr.conf`): the SELinux,
/// IMA and EVM labels belong to the destination's context, not to the data.
const SKIP: &[&str] = &["security.selinux", "security.ima", "security.evm"];

/// ACLs travel with the permissions (`--preserve=mode`), not with `--preserve=xattr`, as in
/// GNU cp.
const ACLS: &[&str] = &[
    "system.posix_acl_access",
    "system.posix_acl_default",
    "system.nfs4_acl",
    "system.nfs4acl",
];

fn unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTSUP) | Some(libc::ENOSYS))
}

fn list_xattrs(fd: RawFd) -> io::Result<Vec<CString>> {
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: `buf` is writable for its length.
        let n = unsafe { libc::flistxattr(fd, buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
        if n >= 0 {
            buf.truncate(n as usize);
            break;
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ERANGE) {
            return Err(e);
        }
        // SAFETY: A size query.
        let need = unsafe { libc::flistxattr(fd, std::ptr::null_mut(), 0) };
        buf.resize((need.max(0) as usize).max(buf.len() * 2), 0);
    }
    Ok(buf
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| CString::new(s).expect("split at NUL"))
        .collect())
}

fn get_xattr(fd: RawFd, name: &CString) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: `name` is NUL-terminated, `buf` writable for its length.
        let n = unsafe {
            libc::fgetxattr(
                fd,
                name.as_ptr(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
            )
        };
        if n >= 0 {
            buf.truncate(n as usize);
            return Ok(buf);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ERANGE) {
            return Err(e);
        }
        // SAFETY: A size query.
        let need = unsafe { libc::fgetxattr(fd, name.as_ptr(), std::ptr::null_mut(), 0) };
        buf.resize((need.max(0) as usize).max(buf.len() * 2), 0);
    }
}

/// Copies the extended attributes of `src` to `dst`: the ACLs when `acls`, every other one
/// (but the [`SKIP`] labels) when `others`. Errors name the attribute.
fn copy_xattrs(src: RawFd, dst: RawFd, acls: bool, others: bool) -> io::Result<()> {
    let names = match list_xattrs(src) {
        Ok(names) => names,
        // A source filesystem without attributes has none to copy.
        Err(e) if unsupported(&e) => return Ok(()),
        Err(e) => return Err(staged(Stage::Xattr, e)),
    };
    for name in names {
        let text = name.to_string_lossy();
        if SKIP.contains(&text.as_ref()) {
            continue;
        }
        let is_acl = ACLS.contains(&text.as_ref());
        if (is_acl && !acls) || (!is_acl && !others) {
            continue;
        }
        let value = match get_xattr(src, &name) {
            Ok(v) => v,
            // Removed since the listing.
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => continue,
            Err(e) => return Err(staged_detail(Stage::Xattr, e, &text)),
        };
        // SAFETY: `name` is NUL-terminated, `value` readable for its length.
        let ret = unsafe {
            libc::fsetxattr(
                dst,
                name.as_ptr(),
                value.as_ptr() as *const libc::c_void,
                value.len(),
                0,
            )
        };
        if ret < 0 {
            let e = io::Error::last_os_error();
            // ACLs on a destination filesystem without them: the mode still carries the
            // permission bits, and GNU cp is silent here too.
            if is_acl && !others && unsupported(&e) {
                continue;
            }
            return Err(staged_detail(Stage::Xattr, e, &text));
        }
    }
    Ok(())
}

/// Applies what `preserve` asks for from `st` (the source's `stat` before the copy) to the
/// open destination `dst`.
pub(crate) fn apply(
    src: RawFd,
    dst: RawFd,
    st: &libc::stat,
    preserve: &Preserve,
) -> io::Result<()> {
    if preserve.xattr || preserve.mode {
        copy_xattrs(src, dst, preserve.mode, preserve.xattr)?;
    }
    let mut mode = st.st_mode & 0o7777;
    // SAFETY: Plain system calls.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let mut owner_kept = (st.st_uid == euid, st.st_gid == egid);
    if preserve.ownership {
        // SAFETY: A plain system call on a valid descriptor.
        match cvt(unsafe { libc::fchown(dst, st.st_uid, st.st_gid) }) {
            Ok(_) => owner_kept = (true, true),
            Err(e) => {
                // GNU cp (set_owner/chown_failure_ok): without the privilege to chown,
                // EPERM and EINVAL are not errors; it then tries the group alone.
                let ignorable = matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EINVAL));
                if !ignorable || euid == 0 {
                    return Err(staged(Stage::Ownership, e));
                }
                // SAFETY: As above; -1 keeps the owner.
                if unsafe { libc::fchown(dst, u32::MAX, st.st_gid) } == 0 {
                    owner_kept.1 = true;
                }
            }
        }
    }
    if preserve.mode {
        // A set-user-ID (set-group-ID) bit is only kept with the owner (group) it was set for.
        if !owner_kept.0 {
            mode &= !libc::S_ISUID;
        }
        if !owner_kept.1 {
            mode &= !libc::S_ISGID;
        }
        // SAFETY: A plain system call on a valid descriptor.
        cvt(unsafe { libc::fchmod(dst, mode) }).map_err(|e| staged(Stage::Permissions, e))?;
    }
    if preserve.timestamps {
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
        // SAFETY: Two valid timespecs.
        cvt(unsafe { libc::futimens(dst, times.as_ptr()) })
            .map_err(|e| staged(Stage::Timestamps, e))?;
    }
    Ok(())
}
