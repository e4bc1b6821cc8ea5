// SPDX-License-Identifier: GPL-2.0

//! Directories' final metadata, set once every file copy has ended (children before
//! parents, in the walk's order): the mode of the directories we made, and whatever
//! `--preserve` asks for.

use crate::{
    outcome::Outcome,
    plan::DirFix,
    report::{errtext, meta_message, quote},
    sys,
};
use copy_range::Preserve;
use std::fs;

/// Metadata of a directory we made (or of an existing directory when preserving): `dir`,
/// open, from the planned `fix`.
fn fix_metadata(fix: &DirFix, dir: &fs::File, preserve: Preserve, umask: u32, out: &mut Outcome) {
    let st = &fix.st;
    if fix.created && !preserve.mode {
        let _ = sys::fchmod(dir, st.st_mode & 0o777 & !umask);
    }
    if preserve == Preserve::NONE {
        return;
    }
    // Extended attributes need a real descriptor of the source (not O_PATH).
    let src = if preserve.xattr || preserve.mode {
        fs::File::open(&fix.src).ok()
    } else {
        None
    };
    let r = match &src {
        Some(src) => copy_range::apply_metadata(src, st, dir, &preserve),
        None => copy_range::apply_metadata(
            dir,
            st,
            dir,
            &Preserve {
                xattr: false,
                ..preserve
            },
        ),
    };
    if let Err(e) = r {
        out.error(meta_message(&fix.dst, &e));
    }
}

/// Sets the final metadata of every directory the walk recorded: the mode of those made
/// (the source's less `umask`, unless preserved) and what `preserve` asks for.
pub(crate) fn fix_dirs(dirs: Vec<DirFix>, preserve: Preserve, umask: u32, out: &mut Outcome) {
    for fix in &dirs {
        if !fix.created && preserve == Preserve::NONE {
            continue;
        }
        match fs::File::open(&fix.dst) {
            Ok(dir) => fix_metadata(fix, &dir, preserve, umask, out),
            Err(e) => out.error(format!(
                "cannot open directory {}: {}",
                quote(&fix.dst),
                errtext(&e)
            )),
        }
    }
}
