// SPDX-License-Identifier: GPL-2.0

//! Metadata of a copy, applied to the destination's descriptor before it is linked in:
//! extended attributes, ownership, permissions, timestamps (in that order, so that a chown
//! cannot clear bits that chmod set, and nothing after futimens changes the times).

use crate::{
    errors::{staged, staged_detail, Stage},
    options::Preserve,
    syscall,
};
use std::{
    ffi::CString,
    io,
    os::fd::{AsFd, BorrowedFd},
};

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

/// Calls `get` with a buffer, and again with a larger one while it says `ERANGE` (the value
/// grew since the size query): the bytes it filled. `get` with an empty buffer is the size
/// query.
fn read_growing(
    mut buf: Vec<u8>,
    get: impl Fn(&mut [u8]) -> io::Result<usize>,
) -> io::Result<Vec<u8>> {
    loop {
        match get(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(e) if e.raw_os_error() != Some(libc::ERANGE) => return Err(e),
            Err(_) => {
                let need = get(&mut []).unwrap_or(0);
                buf.resize(need.max(buf.len() * 2), 0);
            }
        }
    }
}

fn list_xattrs(fd: BorrowedFd<'_>) -> io::Result<Vec<CString>> {
    let buf = read_growing(vec![0u8; 1024], |b| syscall::flistxattr(fd, b))?;
    Ok(buf
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| CString::new(s).expect("split at NUL"))
        .collect())
}

fn get_xattr(fd: BorrowedFd<'_>, name: &CString) -> io::Result<Vec<u8>> {
    read_growing(vec![0u8; 256], |b| syscall::fgetxattr(fd, name, b))
}

/// Copies the extended attributes of `src` to `dst`: the ACLs when `acls`, every other one
/// (but the [`SKIP`] labels) when `others`. Errors name the attribute.
fn copy_xattrs(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    acls: bool,
    others: bool,
) -> io::Result<()> {
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
        if let Err(e) = syscall::fsetxattr(dst, &name, &value) {
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
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    st: &libc::stat,
    preserve: &Preserve,
) -> io::Result<()> {
    if preserve.xattr || preserve.mode {
        copy_xattrs(src, dst, preserve.mode, preserve.xattr)?;
    }
    let mut mode = st.st_mode & 0o7777;
    let (euid, egid) = syscall::effective_ids();
    let mut owner_kept = (st.st_uid == euid, st.st_gid == egid);
    if preserve.ownership {
        match syscall::fchown(dst, st.st_uid, st.st_gid) {
            Ok(_) => owner_kept = (true, true),
            Err(e) => {
                // GNU cp (set_owner/chown_failure_ok): without the privilege to chown,
                // EPERM and EINVAL are not errors; it then tries the group alone.
                let ignorable = matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EINVAL));
                if !ignorable || euid == 0 {
                    return Err(staged(Stage::Ownership, e));
                }
                // -1 keeps the owner.
                if syscall::fchown(dst, u32::MAX, st.st_gid).is_ok() {
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
        syscall::fchmod(dst, mode).map_err(|e| staged(Stage::Permissions, e))?;
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
        syscall::futimens(dst, &times).map_err(|e| staged(Stage::Timestamps, e))?;
    }
    Ok(())
}

/// Applies the metadata `preserve` asks for, from `src_stat` (the source's `stat`, taken
/// before the copy read it, so the access time is the old one) and the open `src` (for its
/// extended attributes), to the open `dst`: what [`FileCopy::commit`](crate::FileCopy::commit)
/// does to a file, for callers that copy directories or other objects themselves. Errors carry
/// a [`Stage`].
pub fn apply_metadata(
    src: &impl AsFd,
    src_stat: &libc::stat,
    dst: &impl AsFd,
    preserve: &Preserve,
) -> io::Result<()> {
    apply(src.as_fd(), dst.as_fd(), src_stat, preserve)
}
