// SPDX-License-Identifier: GPL-2.0

//! Error messages in GNU cp's words: names quoted, strerror's text, the wording for each
//! stage of a failed copy. [`Outcome::error`](crate::outcome::Outcome::error) prints them.

use copy_range::{error_stage, Stage, StageError};
use std::{io, path::Path};

/// A name as messages show it: `'NAME'`.
pub(crate) fn quote(p: &Path) -> String {
    format!("'{}'", p.display())
}

/// strerror's text, without Rust's " (os error N)".
pub(crate) fn errtext(e: &io::Error) -> String {
    let inner = e
        .get_ref()
        .and_then(|i| i.downcast_ref::<StageError>())
        .map(|s| &s.error)
        .unwrap_or(e);
    let s = inner.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// cp's wording for a failure to apply metadata to `dst`.
pub(crate) fn meta_message(dst: &Path, e: &io::Error) -> String {
    let detail = e
        .get_ref()
        .and_then(|i| i.downcast_ref::<StageError>())
        .and_then(|s| s.detail.clone());
    match error_stage(e) {
        Some(Stage::Permissions) => {
            format!("preserving permissions for {}: {}", quote(dst), errtext(e))
        }
        Some(Stage::Timestamps) => format!("preserving times for {}: {}", quote(dst), errtext(e)),
        Some(Stage::Ownership) => format!(
            "failed to preserve ownership for {}: {}",
            quote(dst),
            errtext(e)
        ),
        Some(Stage::Xattr) => match detail {
            Some(name) => format!(
                "setting attribute '{name}' for {}: {}",
                quote(dst),
                errtext(e)
            ),
            None => format!("setting attributes for {}: {}", quote(dst), errtext(e)),
        },
        _ => format!("cannot copy metadata to {}: {}", quote(dst), errtext(e)),
    }
}

/// cp's wording for a failed file copy.
pub(crate) fn file_message(src: &Path, dst: &Path, e: &io::Error) -> String {
    let (s, d, t) = (quote(src), quote(dst), errtext(e));
    match error_stage(e) {
        Some(Stage::OpenSource) => format!("cannot open {s} for reading: {t}"),
        Some(Stage::SameFile) => format!("{s} and {d} are the same file"),
        Some(Stage::CreateDestination) | Some(Stage::Link) => {
            format!("cannot create regular file {d}: {t}")
        }
        Some(Stage::Clone) => format!("failed to clone {d} from {s}: {t}"),
        Some(Stage::Sync) => format!("error writing {d}: {t}"),
        Some(Stage::Permissions)
        | Some(Stage::Timestamps)
        | Some(Stage::Ownership)
        | Some(Stage::Xattr) => meta_message(dst, e),
        Some(Stage::Copy) | None => format!("cannot copy {s} to {d}: {t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_use_strerror_text() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(errtext(&e), "No such file or directory");
    }
}
