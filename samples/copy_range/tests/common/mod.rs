// SPDX-License-Identifier: GPL-2.0

//! What the integration tests share: fresh directories removed on drop, test data, and the
//! system calls they make themselves ([`sys`]). [`device`] is the setup of the tests against
//! the module.
//!
//! Each test binary compiles this module for itself and uses a part of it; crcp's tests
//! include it too (by path).
#![allow(dead_code)]

pub mod device;
pub mod sys;

use std::{
    fs,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
};

/// A fresh directory, removed (with everything in it) on drop.
pub struct TestDir(pub PathBuf);

impl TestDir {
    /// A fresh directory for the test `name` under the system's temporary directory.
    pub fn new(name: &str) -> Self {
        Self::under(&std::env::temp_dir(), name)
    }

    /// A fresh directory for the test `name` under the system's temporary directory, that
    /// every user can write in: for tests that run a program as another user.
    pub fn open_to_all(name: &str) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = Self::new(name);
        fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o777)).unwrap();
        dir
    }

    /// A fresh directory for the test `name` in `parent`.
    pub fn under(parent: &Path, name: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = parent.join(format!(
            "copy-range-test-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        TestDir(p)
    }

    /// `name` in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Every name in the directory, hidden ones included, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `len` bytes that differ per offset and per seed, so a misplaced or stale byte shows.
pub fn pattern(len: u64, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut v = Vec::with_capacity(len as usize + 8);
    while (v.len() as u64) < len {
        // xorshift64: cheap enough for 64 MiB in a debug build under emulation.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len as usize);
    v
}

/// Whether the filesystem of `dir` can share extents: a FICLONE between two files there.
pub fn can_reflink(dir: &TestDir) -> bool {
    let a = dir.path(".probe-a");
    let b = dir.path(".probe-b");
    fs::write(&a, vec![7u8; 4096]).unwrap();
    let fa = fs::File::open(&a).unwrap();
    let fb = fs::File::create(&b).unwrap();
    let ok = sys::ficlone(&fb, &fa).is_ok();
    let _ = fs::remove_file(&a);
    let _ = fs::remove_file(&b);
    ok
}

/// The 512-byte blocks allocated to `p`.
pub fn blocks(p: &Path) -> u64 {
    fs::metadata(p).unwrap().blocks()
}
