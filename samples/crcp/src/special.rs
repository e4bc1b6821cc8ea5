// SPDX-License-Identifier: GPL-2.0

//! Entries that are not regular files, made directly while planning (`-R`): symlinks
//! copied as symlinks, FIFOs, sockets and device nodes recreated, each with the metadata
//! asked for, by path. An existing destination is replaced atomically: the new entry is
//! made at a hidden name beside it and renamed over it once complete.

use crate::{
    args::Options,
    outcome::Outcome,
    report::{errtext, quote},
    sys::{self, cstr, set_times},
};
use std::{
    ffi::CString,
    fs, io,
    path::{Path, PathBuf},
};

/// Makes a new entry at `dst` with `make`: at `dst` itself when the name is free, else
/// (`replace`) at a hidden name beside it, [`copy_range::hidden_name`], which always fits
/// in NAME_MAX, to be renamed over `dst` by [`put_in_place`] once complete. Returns the
/// path made, or `Ok(None)` when `dst` exists and is to be kept (`-n`).
fn make_entry(
    dst: &Path,
    replace: bool,
    make: impl Fn(&Path) -> io::Result<()>,
) -> io::Result<Option<PathBuf>> {
    match make(dst) {
        Ok(()) => return Ok(Some(dst.to_path_buf())),
        Err(e) if e.raw_os_error() != Some(libc::EEXIST) => return Err(e),
        Err(_) if !replace => return Ok(None),
        Err(_) => {}
    }
    let name = dst.file_name().unwrap_or_default();
    for _ in 0..100 {
        let tmp = dst.with_file_name(copy_range::hidden_name(name));
        match make(&tmp) {
            Ok(()) => return Ok(Some(tmp)),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::from_raw_os_error(libc::EEXIST))
}

/// Renames the entry made at `made` over `dst`, if it is not `dst` already; on failure the
/// entry is removed and the old `dst` stays.
fn put_in_place(made: &Path, dst: &Path) -> io::Result<()> {
    if made == dst {
        return Ok(());
    }
    fs::rename(made, dst).inspect_err(|_| {
        let _ = fs::remove_file(made);
    })
}

/// Whether a failure to chown is an error: as GNU cp's `chown_failure_ok`, always for root,
/// and for anyone else unless `EPERM` or `EINVAL` (no privilege to give the owner away).
fn chown_failure_matters(e: &io::Error) -> bool {
    let root = sys::effective_ids().0 == 0;
    root || !matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EINVAL))
}

/// Whether an entry we make has `st`'s owner and group without a chown: (owner, group).
fn owned_by_us(st: &libc::stat) -> (bool, bool) {
    let (euid, egid) = sys::effective_ids();
    (st.st_uid == euid, st.st_gid == egid)
}

/// Gives the entry at `c` (named `dst` in messages) `st`'s owner and group, without
/// following a symlink. As GNU cp: a failure is reported where [`chown_failure_matters`],
/// and otherwise the group alone is tried. Returns whether the owner and the group are now
/// `st`'s, for the set-ID bits.
fn preserve_ownership(c: &CString, dst: &Path, st: &libc::stat, out: &mut Outcome) -> (bool, bool) {
    let e = match sys::lchown(c, st.st_uid, st.st_gid) {
        Ok(()) => return (true, true),
        Err(e) => e,
    };
    let mut kept = owned_by_us(st);
    if chown_failure_matters(&e) {
        out.error(format!(
            "failed to preserve ownership for {}: {}",
            quote(dst),
            errtext(&e)
        ));
        return kept;
    }
    // -1 keeps the owner.
    if sys::lchown(c, u32::MAX, st.st_gid).is_ok() {
        kept.1 = true;
    }
    kept
}

/// Gives the entry at `c` (named `dst` in messages) `st`'s access and modification times,
/// without following a symlink.
fn preserve_times(c: &CString, dst: &Path, st: &libc::stat, out: &mut Outcome) {
    if let Err(e) = set_times(c, st, libc::AT_SYMLINK_NOFOLLOW) {
        out.error(format!(
            "preserving times for {}: {}",
            quote(dst),
            errtext(&e)
        ));
    }
}

/// Makes `dst` a symlink to what `src` points to (an existing `dst` replaced
/// atomically), with `src`'s ownership and times when preserving them.
pub(crate) fn copy_symlink(
    src: &Path,
    dst: &Path,
    st: &libc::stat,
    opts: &Options,
    out: &mut Outcome,
) {
    let target = match fs::read_link(src) {
        Ok(t) => t,
        Err(e) => {
            return out.error(format!(
                "cannot read symbolic link {}: {}",
                quote(src),
                errtext(&e)
            ))
        }
    };
    let made = match make_entry(dst, !opts.no_clobber, |p| {
        std::os::unix::fs::symlink(&target, p)
    }) {
        Ok(Some(p)) => p,
        Ok(None) => return,
        Err(e) => {
            return out.error(format!(
                "cannot create symbolic link {}: {}",
                quote(dst),
                errtext(&e)
            ))
        }
    };
    let c = cstr(&made);
    if opts.preserve.ownership {
        preserve_ownership(&c, dst, st, out);
    }
    if opts.preserve.timestamps {
        preserve_times(&c, dst, st, out);
    }
    if let Err(e) = put_in_place(&made, dst) {
        out.error(format!(
            "cannot create symbolic link {}: {}",
            quote(dst),
            errtext(&e)
        ));
    }
}

/// Recreates a FIFO, socket or device node with `mknod(2)` (an existing `dst` replaced
/// atomically), then its ownership when preserving it, its mode (without `--preserve=mode`,
/// the source's less `umask`), and its times when preserving them; failures reported in GNU
/// cp's words.
pub(crate) fn copy_special(
    dst: &Path,
    st: &libc::stat,
    opts: &Options,
    umask: u32,
    out: &mut Outcome,
) {
    // FIFOs and sockets need no privilege, devices do. Owner-only until the chmod below.
    let kind = (st.st_mode & libc::S_IFMT) | 0o600;
    let made = match make_entry(dst, !opts.no_clobber, |p| sys::mknod(p, kind, st.st_rdev)) {
        Ok(Some(p)) => p,
        Ok(None) => return,
        Err(e) => {
            return out.error(format!(
                "cannot create special file {}: {}",
                quote(dst),
                errtext(&e)
            ))
        }
    };
    // Path-based metadata: opening a device could have side effects.
    let c = cstr(&made);
    let p = opts.preserve;
    let owner_kept = if p.ownership {
        preserve_ownership(&c, dst, st, out)
    } else {
        owned_by_us(st)
    };
    let mode = if p.mode {
        // A set-user-ID (set-group-ID) bit only with the owner (group) it was set for,
        // as the library does for files.
        let mut m = st.st_mode & 0o7777;
        if !owner_kept.0 {
            m &= !libc::S_ISUID;
        }
        if !owner_kept.1 {
            m &= !libc::S_ISGID;
        }
        m
    } else {
        st.st_mode & 0o777 & !umask
    };
    if let Err(e) = sys::chmod(&c, mode) {
        let what = if p.mode { "preserving" } else { "setting" };
        out.error(format!(
            "{what} permissions for {}: {}",
            quote(dst),
            errtext(&e)
        ));
    }
    if p.timestamps {
        preserve_times(&c, dst, st, out);
    }
    if let Err(e) = put_in_place(&made, dst) {
        out.error(format!(
            "cannot create special file {}: {}",
            quote(dst),
            errtext(&e)
        ));
    }
}
