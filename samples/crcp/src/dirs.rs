// SPDX-License-Identifier: GPL-2.0

//! Directories' final metadata, set once every file copy has ended (children before
//! parents, in the walk's order): the mode of the directories we made, and whatever
//! `--preserve` asks for.

use crate::{
    report::{errtext, meta_message, quote},
    Crcp,
};
use copy_range::Preserve;
use std::{fs, os::fd::AsRawFd, path::Path};

impl Crcp {
    /// Metadata of a directory we made (or of an existing directory when
    /// preserving).
    fn fix_metadata(
        &mut self,
        src: &Path,
        dst: &Path,
        d: &fs::File,
        st: &libc::stat,
        created: bool,
    ) {
        let p = self.o.preserve;
        if created && !p.mode {
            // SAFETY: A plain system call on an open descriptor.
            unsafe { libc::fchmod(d.as_raw_fd(), st.st_mode & 0o777 & !self.umask) };
        }
        if p == Preserve::NONE {
            return;
        }
        // Extended attributes need a real descriptor of the source (not O_PATH).
        let s = if p.xattr || p.mode {
            fs::File::open(src).ok()
        } else {
            None
        };
        let r = match &s {
            Some(s) => copy_range::apply_metadata(s, st, d, &p),
            None => copy_range::apply_metadata(d, st, d, &Preserve { xattr: false, ..p }),
        };
        if let Err(e) = r {
            self.error(meta_message(dst, &e));
        }
    }

    /// Sets the final metadata of every directory the walk recorded.
    pub(crate) fn fix_dirs(&mut self) {
        let dirs = std::mem::take(&mut self.dirs);
        for fix in dirs.iter() {
            if !fix.created && self.o.preserve == Preserve::NONE {
                continue;
            }
            match fs::File::open(&fix.dst) {
                Ok(d) => self.fix_metadata(&fix.src, &fix.dst, &d, &fix.st, fix.created),
                Err(e) => self.error(format!(
                    "cannot open directory {}: {}",
                    quote(&fix.dst),
                    errtext(&e)
                )),
            }
        }
    }
}
