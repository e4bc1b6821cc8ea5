// SPDX-License-Identifier: GPL-2.0

//! Entries that are not regular files, made directly while planning (`-R`): symlinks
//! copied as symlinks (an existing one replaced atomically), FIFOs, sockets and device
//! nodes recreated, each with the metadata asked for, by path.

use crate::{
    report::{errtext, quote},
    sys::{cstr, lstat, set_times},
    Crcp,
};
use std::{fs, io, path::Path};

impl Crcp {
    /// Makes `dst` a symlink to what `src` points to, with `src`'s ownership and times
    /// when preserving them.
    pub(crate) fn copy_symlink(&mut self, src: &Path, dst: &Path, st: &libc::stat) {
        let target = match fs::read_link(src) {
            Ok(t) => t,
            Err(e) => {
                return self.error(format!(
                    "cannot read symbolic link {}: {}",
                    quote(src),
                    errtext(&e)
                ))
            }
        };
        let made = match std::os::unix::fs::symlink(&target, dst) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) && !self.o.no_clobber => {
                // Replace atomically: a hidden symlink renamed over the old name.
                let name = dst.file_name().unwrap_or_default().to_string_lossy();
                let tmp = dst.with_file_name(format!(".#{name}.{}", std::process::id()));
                let _ = fs::remove_file(&tmp);
                std::os::unix::fs::symlink(&target, &tmp)
                    .and_then(|_| fs::rename(&tmp, dst))
                    .inspect_err(|_| {
                        let _ = fs::remove_file(&tmp);
                    })
            }
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => return,
            r => r,
        };
        if let Err(e) = made {
            return self.error(format!(
                "cannot create symbolic link {}: {}",
                quote(dst),
                errtext(&e)
            ));
        }
        let c = cstr(dst);
        if self.o.preserve.ownership {
            // SAFETY: A NUL-terminated path.
            if unsafe { libc::lchown(c.as_ptr(), st.st_uid, st.st_gid) } < 0 {
                let e = io::Error::last_os_error();
                // SAFETY: A plain system call.
                if unsafe { libc::geteuid() } == 0
                    || !matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EINVAL))
                {
                    self.error(format!(
                        "failed to preserve ownership for {}: {}",
                        quote(dst),
                        errtext(&e)
                    ));
                }
            }
        }
        if self.o.preserve.timestamps {
            if let Err(e) = set_times(&c, st, libc::AT_SYMLINK_NOFOLLOW) {
                self.error(format!(
                    "preserving times for {}: {}",
                    quote(dst),
                    errtext(&e)
                ));
            }
        }
    }

    /// Recreates a FIFO, socket or device node with `mknod(2)`, then its mode, and its
    /// ownership and times when preserving them.
    pub(crate) fn copy_special(&mut self, src: &Path, dst: &Path, st: &libc::stat) {
        if lstat(dst).is_ok() {
            if self.o.no_clobber {
                return;
            }
            let _ = fs::remove_file(dst);
        }
        let c = cstr(dst);
        // SAFETY: A NUL-terminated path; FIFOs and sockets need no privilege, devices do.
        if unsafe { libc::mknod(c.as_ptr(), st.st_mode, st.st_rdev) } < 0 {
            let e = io::Error::last_os_error();
            return self.error(format!(
                "cannot create special file {}: {}",
                quote(dst),
                errtext(&e)
            ));
        }
        // Path-based metadata: opening a device could have side effects.
        let p = self.o.preserve;
        let mode = if p.mode {
            st.st_mode & 0o7777
        } else {
            st.st_mode & 0o777 & !self.umask
        };
        if p.ownership {
            // SAFETY: A NUL-terminated path.
            unsafe { libc::lchown(c.as_ptr(), st.st_uid, st.st_gid) };
        }
        // SAFETY: As above.
        unsafe { libc::chmod(c.as_ptr(), mode) };
        if p.timestamps {
            if let Err(e) = set_times(&c, st, 0) {
                self.error(format!(
                    "preserving times for {}: {}",
                    quote(dst),
                    errtext(&e)
                ));
            }
        }
        let _ = src;
    }
}
