// SPDX-License-Identifier: GPL-2.0

//! The setup of the tests against the module, which run in the test VM: the device and a
//! fresh directory on one of its scratch filesystems (`/mnt/{btrfs,xfs,ext4,tmpfs}`), and
//! [`device_test!`], which writes a test's preamble.

use super::{sys, TestDir};
use copy_range::{CopyRange, DEVICE_PATH};
use std::path::Path;

/// Whether this is the VM run, where nothing may be skipped.
fn in_vm() -> bool {
    std::env::var("COPY_RANGE_VM").as_deref() == Ok("1")
}

/// A test cannot run here: fails in the VM, where that means the environment is broken and the
/// test would otherwise pass without testing anything; elsewhere says why and skips.
fn unavailable<T>(why: &str) -> Option<T> {
    assert!(
        !in_vm(),
        "{why}, and COPY_RANGE_VM=1: this run must not skip"
    );
    eprintln!("skipped: {why} (set COPY_RANGE_VM=1 to make this a failure)");
    None
}

/// The scratch filesystems of the test VM.
#[derive(Clone, Copy, Debug)]
pub enum Fs {
    Btrfs,
    Xfs,
    Ext4,
    Tmpfs,
}

impl Fs {
    fn root(self) -> &'static str {
        match self {
            Fs::Btrfs => "/mnt/btrfs",
            Fs::Xfs => "/mnt/xfs",
            Fs::Ext4 => "/mnt/ext4",
            Fs::Tmpfs => "/mnt/tmpfs",
        }
    }

    fn magic(self) -> i64 {
        match self {
            Fs::Btrfs => 0x9123_683e,
            Fs::Xfs => 0x5846_5342,
            Fs::Ext4 => 0xef53,
            Fs::Tmpfs => 0x0102_1994,
        }
    }
}

/// The device and a fresh directory on `fs` for the test `name`, or `None` (skip) outside
/// the VM when either is missing.
pub fn setup(fs: Fs, name: &str) -> Option<(CopyRange, TestDir)> {
    if !Path::new(DEVICE_PATH).exists() {
        return unavailable(&format!("{DEVICE_PATH} is missing (module not loaded)"));
    }
    let root = Path::new(fs.root());
    if sys::fs_magic(root) != Some(fs.magic()) {
        return unavailable(&format!("no {fs:?} mounted on {}", fs.root()));
    }
    let dev = CopyRange::open().expect("open /dev/copy_range");
    Some((dev, TestDir::under(root, name)))
}

/// `device_test!(NAME, FS, |dev, dir| { ... })`: the test `NAME` with the device `dev` and a
/// fresh directory `dir` on the scratch filesystem `FS` ([`setup`]). It is `#[ignore]`d, so
/// that a plain `cargo test` on the host, which has no module, lists it as ignored instead
/// of counting it as passed; `tools/testing/vm/library_test.sh` runs it in the VM with
/// `--include-ignored`.
// Unused in the test binaries other than `device`.
#[allow(unused_macros)]
macro_rules! device_test {
    ($name:ident, $fs:expr, |$dev:ident, $dir:ident| $body:block) => {
        #[test]
        #[ignore = "needs /dev/copy_range: run in the VM by tools/testing/vm/library_test.sh"]
        fn $name() {
            if let Some(($dev, $dir)) = $crate::common::device::setup($fs, stringify!($name)) {
                $body
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use device_test;
