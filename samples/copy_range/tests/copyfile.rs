// SPDX-License-Identifier: GPL-2.0

//! `copyfile` without the module (stock kernel, `use_module: false`): each policy's path and
//! errors, atomic creation, holes, metadata, cancellation, batched commits. Runs as any user; the ownership
//! check needs root and says so when it is skipped.

mod common;

use common::{blocks, can_reflink, pattern, sys, TestDir};
use copy_range::{
    copyfile, error_errno, error_stage, CancelToken, CopyOptions, CopyPath, Create, FileCopy,
    Preserve, Reflink, Stage,
};
use std::{
    fs,
    io::Write,
    os::unix::fs::MetadataExt,
    path::Path,
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc,
    },
};

fn opts(reflink: Reflink) -> CopyOptions {
    CopyOptions {
        reflink,
        use_module: false,
        ..CopyOptions::default()
    }
}

/// A sparse file: `size` bytes, with 64 KiB of data at each offset in `data_at`.
fn sparse_file(p: &Path, size: u64, data_at: &[u64]) -> Vec<u8> {
    let f = fs::File::create(p).unwrap();
    f.set_len(size).unwrap();
    let mut expect = vec![0u8; size as usize];
    for (i, &off) in data_at.iter().enumerate() {
        let chunk = pattern(64 << 10, i as u64);
        std::os::unix::fs::FileExt::write_all_at(&f, &chunk, off).unwrap();
        expect[off as usize..off as usize + chunk.len()].copy_from_slice(&chunk);
    }
    f.sync_all().unwrap();
    expect
}

#[test]
fn never_is_independent_and_keeps_holes() {
    let d = TestDir::new("never");
    let expect = sparse_file(&d.path("src"), 64 << 20, &[0, 10 << 20, 40 << 20]);
    let r = copyfile(&d.path("src"), &d.path("dst"), &opts(Reflink::Never)).unwrap();
    assert_eq!(fs::read(d.path("dst")).unwrap(), expect);
    assert_eq!(r.bytes, 64 << 20);
    // Never: read/write, or copy_file_range(2) only on a filesystem that cannot share.
    assert!(
        matches!(r.path, CopyPath::ReadWrite | CopyPath::CopyFileRange),
        "{:?}",
        r.path
    );
    if can_reflink(&d) {
        assert_eq!(r.path, CopyPath::ReadWrite);
    }
    assert_eq!(r.bytes_shared, Some(0));
    // 192 KiB of data: far below the 64 MiB a filled copy would take.
    assert!(
        blocks(&d.path("dst")) <= blocks(&d.path("src")) + 64,
        "holes were filled"
    );
    assert!(r.unnamed_temp);
    assert_eq!(d.names(), ["dst", "src"]);
}

#[test]
fn never_uses_read_write_where_sharing_is_possible_or_unknown() {
    // /dev/shm (tmpfs) to the test directory: two filesystems, no copy_file_range.
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        eprintln!("skipped: no /dev/shm");
        return;
    }
    let d = TestDir::new("never-xdev");
    let src = shm.join(format!("copy-range-test-{}", std::process::id()));
    let expect = sparse_file(&src, 8 << 20, &[1 << 20]);
    let r = copyfile(&src, &d.path("dst"), &opts(Reflink::Never));
    let _ = fs::remove_file(&src);
    let r = r.unwrap();
    assert_eq!(fs::read(d.path("dst")).unwrap(), expect);
    assert_eq!(r.path, CopyPath::ReadWrite);
    assert!(blocks(&d.path("dst")) <= 2 * 128 + 64, "holes were filled");
}

#[test]
fn auto_clones_or_copies_in_the_kernel() {
    let d = TestDir::new("auto");
    let expect = sparse_file(&d.path("src"), 16 << 20, &[0, 8 << 20]);
    let r = copyfile(&d.path("src"), &d.path("dst"), &opts(Reflink::Auto)).unwrap();
    assert_eq!(fs::read(d.path("dst")).unwrap(), expect);
    if can_reflink(&d) {
        assert_eq!(r.path, CopyPath::Ficlone);
        assert!(r.bytes_shared.unwrap() > 0);
    } else {
        // ext4 and friends: FICLONE is EOPNOTSUPP, copy_file_range(2) copies.
        assert_eq!(r.path, CopyPath::CopyFileRange);
    }
    assert!(
        blocks(&d.path("dst")) <= blocks(&d.path("src")) + 64,
        "holes were filled"
    );
}

#[test]
fn always_shares_or_fails_like_the_module() {
    let d = TestDir::new("always");
    fs::write(d.path("src"), pattern(1 << 20, 1)).unwrap();
    let r = copyfile(&d.path("src"), &d.path("dst"), &opts(Reflink::Always));
    if can_reflink(&d) {
        let r = r.unwrap();
        assert_eq!(r.path, CopyPath::Ficlone);
        return;
    }
    let e = r.unwrap_err();
    assert_eq!(error_errno(&e), Some(libc::EOPNOTSUPP), "{e}");
    assert_eq!(error_stage(&e), Some(Stage::Clone));
    // Nothing visible, not even a temporary.
    assert_eq!(d.names(), ["src"]);
}

#[test]
fn always_across_filesystems_is_exdev() {
    let shm = Path::new("/dev/shm");
    let d = TestDir::new("always-xdev");
    if !shm.is_dir() || fs::metadata(shm).unwrap().dev() == fs::metadata(&d.0).unwrap().dev() {
        eprintln!("skipped: no second filesystem at /dev/shm");
        return;
    }
    let src = shm.join(format!("copy-range-test-x-{}", std::process::id()));
    fs::write(&src, b"data").unwrap();
    let r = copyfile(&src, &d.path("dst"), &opts(Reflink::Always));
    let _ = fs::remove_file(&src);
    let e = r.unwrap_err();
    assert_eq!(error_errno(&e), Some(libc::EXDEV), "{e}");
    assert_eq!(d.names(), Vec::<String>::new());
}

#[test]
fn exclusive_existing_destination_is_eexist_before_data_moves() {
    let d = TestDir::new("excl");
    fs::write(d.path("src"), pattern(4 << 20, 2)).unwrap();
    fs::write(d.path("dst"), b"old").unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let o = CopyOptions {
        progress: Some(Arc::new(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        })),
        ..opts(Reflink::Never)
    };
    let e = copyfile(&d.path("src"), &d.path("dst"), &o).unwrap_err();
    assert_eq!(error_errno(&e), Some(libc::EEXIST));
    assert_eq!(error_stage(&e), Some(Stage::CreateDestination));
    assert_eq!(calls.load(Ordering::SeqCst), 0, "data moved before EEXIST");
    assert_eq!(fs::read(d.path("dst")).unwrap(), b"old");
    // A dangling symlink is a name too.
    std::os::unix::fs::symlink("nowhere", d.path("link")).unwrap();
    let e = copyfile(&d.path("src"), &d.path("link"), &o).unwrap_err();
    assert_eq!(error_errno(&e), Some(libc::EEXIST));
}

#[test]
fn exclusive_does_not_overwrite_a_destination_that_appears_during_the_copy() {
    for unnamed in [true, false] {
        let d = TestDir::new("excl-race");
        fs::write(d.path("src"), pattern(20 << 20, 3)).unwrap();
        let dst = d.path("dst");
        let racer = dst.clone();
        let o = CopyOptions {
            unnamed_temp: unnamed,
            progress: Some(Arc::new(move |_| {
                if !racer.exists() {
                    fs::write(&racer, b"theirs").unwrap();
                }
            })),
            ..opts(Reflink::Never)
        };
        let e = copyfile(&d.path("src"), &dst, &o).unwrap_err();
        assert_eq!(error_errno(&e), Some(libc::EEXIST), "{e}");
        assert_eq!(error_stage(&e), Some(Stage::Link));
        assert_eq!(fs::read(&dst).unwrap(), b"theirs");
        assert_eq!(d.names(), ["dst", "src"], "temporary left behind");
    }
}

#[test]
fn replace_swaps_the_name_in_one_rename() {
    for unnamed in [true, false] {
        let d = TestDir::new("replace");
        let new = pattern(3 << 20, 4);
        fs::write(d.path("src"), &new).unwrap();
        fs::write(d.path("dst"), b"old contents").unwrap();
        fs::hard_link(d.path("dst"), d.path("other-link")).unwrap();
        let old_ino = fs::metadata(d.path("dst")).unwrap().ino();
        let o = CopyOptions {
            create: Create::Replace,
            unnamed_temp: unnamed,
            ..opts(Reflink::Auto)
        };
        let r = copyfile(&d.path("src"), &d.path("dst"), &o).unwrap();
        assert_eq!(r.unnamed_temp, unnamed);
        assert_eq!(fs::read(d.path("dst")).unwrap(), new);
        // A new inode took the name; the old one is untouched under its other name.
        assert_ne!(fs::metadata(d.path("dst")).unwrap().ino(), old_ino);
        assert_eq!(fs::read(d.path("other-link")).unwrap(), b"old contents");
        assert_eq!(d.names(), ["dst", "other-link", "src"]);
        // Onto itself: refused, nothing touched.
        let e = copyfile(&d.path("src"), &d.path("src"), &o).unwrap_err();
        assert_eq!(error_stage(&e), Some(Stage::SameFile));
        assert_eq!(fs::read(d.path("src")).unwrap(), new);
    }
}

#[test]
fn named_temporary_fallback_works_and_cleans_up() {
    let d = TestDir::new("named");
    let expect = sparse_file(&d.path("src"), 32 << 20, &[16 << 20]);
    let o = CopyOptions {
        unnamed_temp: false,
        ..opts(Reflink::Never)
    };
    let r = copyfile(&d.path("src"), &d.path("dst"), &o).unwrap();
    assert!(!r.unnamed_temp);
    assert_eq!(fs::read(d.path("dst")).unwrap(), expect);
    assert!(
        blocks(&d.path("dst")) <= blocks(&d.path("src")) + 64,
        "holes were filled"
    );
    assert_eq!(d.names(), ["dst", "src"]);
    // A failure removes the hidden temporary.
    if !can_reflink(&d) {
        let o = CopyOptions {
            reflink: Reflink::Always,
            ..o
        };
        copyfile(&d.path("src"), &d.path("dst2"), &o).unwrap_err();
        assert_eq!(d.names(), ["dst", "src"]);
    }
}

#[test]
fn cancel_discards_the_copy() {
    for (create, unnamed) in [
        (Create::Exclusive, true),
        (Create::Replace, true),
        (Create::Replace, false),
    ] {
        let d = TestDir::new("cancel");
        fs::write(d.path("src"), pattern(40 << 20, 5)).unwrap();
        if create == Create::Replace {
            fs::write(d.path("dst"), b"old").unwrap();
        }
        let token = CancelToken::new();
        let t = token.clone();
        let o = CopyOptions {
            create,
            unnamed_temp: unnamed,
            cancel: Some(token),
            // Cancel after the first chunk, in the middle of the data.
            progress: Some(Arc::new(move |p| {
                if p.copied > 0 && p.copied < p.total {
                    t.cancel();
                }
            })),
            ..opts(Reflink::Never)
        };
        let e = copyfile(&d.path("src"), &d.path("dst"), &o).unwrap_err();
        assert_eq!(error_errno(&e), Some(libc::ECANCELED), "{e}");
        if create == Create::Replace {
            assert_eq!(fs::read(d.path("dst")).unwrap(), b"old");
            assert_eq!(d.names(), ["dst", "src"]);
        } else {
            assert_eq!(d.names(), ["src"]);
        }
    }
}

#[test]
fn metadata_is_preserved_on_request() {
    use std::os::unix::fs::PermissionsExt;
    let d = TestDir::new("meta");
    let src = d.path("src");
    fs::File::create(&src)
        .unwrap()
        .write_all(&pattern(100_000, 6))
        .unwrap();
    fs::set_permissions(&src, fs::Permissions::from_mode(0o751)).unwrap();
    let xattrs = sys::set_xattr(&src, "user.crcp.test", b"value\0with nul");
    if !xattrs {
        eprintln!("note: no user.* xattrs on this filesystem; that part is skipped");
    }
    sys::set_times(
        &src,
        (1_000_000_000, 123_456_789),
        (1_200_000_000, 987_654_321),
    );
    let root = sys::is_root();
    if root {
        std::os::unix::fs::chown(&src, Some(12345), Some(23456)).unwrap();
    }

    // Nothing preserved: cp's mode (source rwx less the umask), our times, our owner.
    copyfile(&src, &d.path("plain"), &opts(Reflink::Never)).unwrap();
    let m = fs::metadata(d.path("plain")).unwrap();
    let umask = sys::umask();
    assert_eq!(m.mode() & 0o7777, 0o751 & !umask);
    assert_ne!(m.mtime(), 1_200_000_000);
    assert_eq!(sys::get_xattr(&d.path("plain"), "user.crcp.test"), None);

    // That copy read the source, which moved its atime (relatime): set it again. The copy
    // below reads it too, and must carry the time from before its own read.
    sys::set_times(
        &src,
        (1_000_000_000, 123_456_789),
        (1_200_000_000, 987_654_321),
    );
    let o = CopyOptions {
        preserve: Preserve::ALL,
        ..opts(Reflink::Never)
    };
    copyfile(&src, &d.path("all"), &o).unwrap();
    let m = fs::metadata(d.path("all")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o751);
    assert_eq!((m.atime(), m.atime_nsec()), (1_000_000_000, 123_456_789));
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_200_000_000, 987_654_321));
    if xattrs {
        assert_eq!(
            sys::get_xattr(&d.path("all"), "user.crcp.test").as_deref(),
            Some(&b"value\0with nul"[..])
        );
    }
    if root {
        assert_eq!((m.uid(), m.gid()), (12345, 23456));
    } else {
        eprintln!("note: not root; ownership EPERM is ignored like GNU cp, not checked");
    }
    // Only xattrs: no mode, no times.
    let o = CopyOptions {
        preserve: Preserve {
            xattr: true,
            ..Preserve::NONE
        },
        ..opts(Reflink::Never)
    };
    copyfile(&src, &d.path("x"), &o).unwrap();
    if xattrs {
        assert!(sys::get_xattr(&d.path("x"), "user.crcp.test").is_some());
    }
    assert_ne!(fs::metadata(d.path("x")).unwrap().mtime(), 1_200_000_000);
}

#[test]
fn sources_that_are_not_regular_files_are_refused() {
    let d = TestDir::new("src-errors");
    let e = copyfile(&d.path("missing"), &d.path("dst"), &opts(Reflink::Auto)).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(error_stage(&e), Some(Stage::OpenSource));
    let e = copyfile(&d.0, &d.path("dst"), &opts(Reflink::Auto)).unwrap_err();
    assert_eq!(error_errno(&e), Some(libc::EISDIR));
    sys::mkfifo(&d.path("fifo"), 0o600).unwrap();
    let e = copyfile(&d.path("fifo"), &d.path("dst"), &opts(Reflink::Auto)).unwrap_err();
    assert_eq!(error_errno(&e), Some(libc::EINVAL));
    let e = copyfile(&d.path("fifo"), &d.path("nodir/dst"), &opts(Reflink::Auto)).unwrap_err();
    assert_eq!(
        error_errno(&e),
        Some(libc::EINVAL),
        "the source is checked first"
    );
    fs::write(d.path("f"), b"x").unwrap();
    let e = copyfile(&d.path("f"), &d.path("nodir/dst"), &opts(Reflink::Auto)).unwrap_err();
    assert_eq!(error_stage(&e), Some(Stage::CreateDestination));
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn empty_files_copy_on_every_policy_that_can() {
    let d = TestDir::new("empty");
    fs::write(d.path("src"), b"").unwrap();
    for (i, r) in [Reflink::Never, Reflink::Auto].into_iter().enumerate() {
        let dst = d.path(&format!("dst{i}"));
        let rep = copyfile(&d.path("src"), &dst, &opts(r)).unwrap();
        assert_eq!(rep.bytes, 0);
        assert_eq!(fs::metadata(&dst).unwrap().len(), 0);
    }
}

/// Begins and runs (without the module) a copy of `src` to `dst`.
fn begun(src: &Path, dst: &Path, o: &CopyOptions) -> FileCopy {
    let mut fc = FileCopy::begin(src, dst, o).unwrap();
    fc.run(None).unwrap();
    fc
}

#[test]
fn a_batch_links_every_copy_with_its_data_and_metadata() {
    use std::os::unix::fs::PermissionsExt;
    for unnamed in [true, false] {
        let d = TestDir::new("batch");
        let o = CopyOptions {
            preserve: Preserve {
                mode: true,
                timestamps: true,
                ..Preserve::NONE
            },
            unnamed_temp: unnamed,
            ..opts(Reflink::Auto)
        };
        let replace = CopyOptions {
            create: Create::Replace,
            ..o.clone()
        };
        // The third replaces an existing file, the fourth skips the sync.
        fs::write(d.path("d2"), b"old").unwrap();
        let mut copies = Vec::new();
        for i in 0..5u8 {
            let src = d.path(&format!("s{i}"));
            fs::write(&src, pattern(1000 * i as u64 + 1, i.into())).unwrap();
            fs::set_permissions(&src, fs::Permissions::from_mode(0o600 + i as u32)).unwrap();
            sys::set_times(
                &src,
                (1_000_000_000, i as i64),
                (1_100_000_000 + i as i64, 7),
            );
            let o = match i {
                2 => replace.clone(),
                3 => CopyOptions {
                    fsync: false,
                    ..o.clone()
                },
                _ => o.clone(),
            };
            copies.push(begun(&src, &d.path(&format!("d{i}")), &o));
        }
        let visible: Vec<String> = d
            .names()
            .into_iter()
            .filter(|n| !n.starts_with(".#"))
            .collect();
        assert_eq!(
            visible,
            ["d2", "s0", "s1", "s2", "s3", "s4"],
            "visible before the commit"
        );
        assert_eq!(fs::read(d.path("d2")).unwrap(), b"old");
        let results = FileCopy::commit_batch(copies);
        assert_eq!(results.len(), 5);
        for (i, r) in results.into_iter().enumerate() {
            let r = r.unwrap();
            assert_eq!(r.bytes, 1000 * i as u64 + 1);
            assert_eq!(r.unnamed_temp, unnamed);
            let dst = d.path(&format!("d{i}"));
            assert_eq!(
                fs::read(&dst).unwrap(),
                pattern(1000 * i as u64 + 1, i as u64)
            );
            let m = fs::metadata(&dst).unwrap();
            assert_eq!(m.mode() & 0o7777, 0o600 + i as u32);
            assert_eq!((m.mtime(), m.mtime_nsec()), (1_100_000_000 + i as i64, 7));
        }
        assert_eq!(
            d.names(),
            ["d0", "d1", "d2", "d3", "d4", "s0", "s1", "s2", "s3", "s4"]
        );
        // An empty batch is nothing to do.
        assert!(FileCopy::commit_batch(Vec::new()).is_empty());
    }
}

#[test]
fn a_failing_member_of_a_batch_fails_alone() {
    for unnamed in [true, false] {
        let d = TestDir::new("batch-fail");
        let o = CopyOptions {
            unnamed_temp: unnamed,
            ..opts(Reflink::Never)
        };
        for i in 0..3u8 {
            fs::write(d.path(&format!("s{i}")), pattern(5000, i.into())).unwrap();
        }
        let copies: Vec<FileCopy> = (0..3)
            .map(|i| begun(&d.path(&format!("s{i}")), &d.path(&format!("d{i}")), &o))
            .collect();
        // Under Exclusive, a destination that appears after begin wins.
        fs::write(d.path("d1"), b"theirs").unwrap();
        let results = FileCopy::commit_batch(copies);
        let e = results[1].as_ref().unwrap_err();
        assert_eq!(error_errno(e), Some(libc::EEXIST), "{e}");
        assert_eq!(error_stage(e), Some(Stage::Link));
        assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
        assert_eq!(fs::read(d.path("d0")).unwrap(), pattern(5000, 0));
        assert_eq!(fs::read(d.path("d1")).unwrap(), b"theirs");
        assert_eq!(fs::read(d.path("d2")).unwrap(), pattern(5000, 2));
        assert_eq!(d.names(), ["d0", "d1", "d2", "s0", "s1", "s2"]);
    }
}

#[test]
fn a_cancel_before_a_batch_commits_nothing() {
    let d = TestDir::new("batch-cancel");
    let token = CancelToken::new();
    let o = CopyOptions {
        cancel: Some(token.clone()),
        unnamed_temp: false,
        ..opts(Reflink::Never)
    };
    fs::write(d.path("s"), pattern(5000, 1)).unwrap();
    let copies = vec![
        begun(&d.path("s"), &d.path("a"), &o),
        begun(&d.path("s"), &d.path("b"), &o),
    ];
    token.cancel();
    for r in FileCopy::commit_batch(copies) {
        assert_eq!(error_errno(&r.unwrap_err()), Some(libc::ECANCELED));
    }
    assert_eq!(d.names(), ["s"]);
}

#[test]
fn dropping_uncommitted_copies_leaves_nothing() {
    let d = TestDir::new("batch-drop");
    fs::write(d.path("s"), pattern(5000, 1)).unwrap();
    fs::write(d.path("b"), b"old").unwrap();
    let mut copies = Vec::new();
    for (name, unnamed, create) in [
        ("a", true, Create::Exclusive),
        ("b", true, Create::Replace),
        ("c", false, Create::Exclusive),
        ("b", false, Create::Replace),
    ] {
        let o = CopyOptions {
            unnamed_temp: unnamed,
            create,
            ..opts(Reflink::Never)
        };
        copies.push(begun(&d.path("s"), &d.path(name), &o));
    }
    assert_eq!(
        d.names().len(),
        4,
        "two hidden temporaries: {:?}",
        d.names()
    );
    drop(copies);
    assert_eq!(d.names(), ["b", "s"]);
    assert_eq!(fs::read(d.path("b")).unwrap(), b"old");
}

#[test]
fn sharing_is_measured_only_on_request() {
    let d = TestDir::new("measure");
    fs::write(d.path("s"), pattern(100_000, 1)).unwrap();
    let o = CopyOptions {
        measure_sharing: false,
        ..opts(Reflink::Never)
    };
    let r = copyfile(&d.path("s"), &d.path("a"), &o).unwrap();
    assert!(!r.shared_measured);
    assert_eq!((r.bytes_mapped, r.bytes_shared), (None, Some(0)));
    let o = CopyOptions {
        reflink: Reflink::Auto,
        ..o
    };
    let r = FileCopy::commit_batch(vec![begun(&d.path("s"), &d.path("b"), &o)])
        .pop()
        .unwrap()
        .unwrap();
    assert!(!r.shared_measured);
    assert_eq!((r.bytes_mapped, r.bytes_shared), (None, None));
    // On by default, where the filesystem has FIEMAP (not tmpfs).
    let r = copyfile(&d.path("s"), &d.path("c"), &opts(Reflink::Never)).unwrap();
    if let Ok(sum) = copy_range::fiemap_summary(&fs::File::open(d.path("c")).unwrap()) {
        assert!(r.shared_measured);
        assert_eq!(r.bytes_mapped, Some(sum.mapped));
    }
}
