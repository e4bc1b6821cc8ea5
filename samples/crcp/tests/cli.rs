// SPDX-License-Identifier: GPL-2.0

//! The `crcp` binary on the host (no module: the library's fallback): cp's messages and exit
//! statuses, tree copies with metadata, and no partial destination after SIGKILL or Ctrl-C.
//! Runs as any user; as root, the permission cases run crcp as `nobody`.

#[path = "../../copy_range/tests/common/mod.rs"]
mod common;

use common::{can_reflink, sys, TestDir};
use std::{
    fs,
    io::Write,
    os::unix::{
        fs::{MetadataExt, PermissionsExt},
        process::{CommandExt, ExitStatusExt},
    },
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

const CRCP: &str = env!("CARGO_BIN_EXE_crcp");

fn crcp(dir: &TestDir, args: &[&str]) -> Output {
    Command::new(CRCP)
        .args(args)
        .current_dir(&dir.0)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A copy of crcp that `nobody` can reach and run. The build's own binary lives under the
/// checkout, which may sit in a 0700 home directory or be built with a 0077 umask; a test that
/// ran it as `nobody` would then test the loader's EACCES instead of crcp. The copy goes into a
/// fresh 0755 directory under the system's temporary directory, once per test process, and is
/// removed at exit.
fn crcp_for_nobody() -> &'static Path {
    static COPY: OnceLock<PathBuf> = OnceLock::new();
    COPY.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("crcp-test-bin-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let bin = dir.join("crcp");
        fs::copy(CRCP, &bin).unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        // Every directory above it must let `nobody` through, or every permission test below
        // would fail for a reason that has nothing to do with crcp.
        for a in dir.ancestors().skip(1) {
            let mode = fs::metadata(a).unwrap().mode();
            assert!(
                mode & 0o001 != 0,
                "{} (mode {:o}) is not searchable by nobody: set TMPDIR to a directory \
                 that is",
                a.display(),
                mode & 0o7777
            );
        }
        extern "C" fn remove_copy() {
            if let Some(p) = COPY.get() {
                let _ = fs::remove_dir_all(p.parent().unwrap());
            }
        }
        sys::at_exit(remove_copy);
        bin
    })
}

/// Runs crcp as `nobody` when we are root (so permissions apply), as ourselves otherwise.
fn crcp_unprivileged(dir: &TestDir, args: &[&str]) -> Output {
    let mut c = if sys::is_root() {
        let mut c = Command::new(crcp_for_nobody());
        c.uid(65534).gid(65534);
        c
    } else {
        Command::new(CRCP)
    };
    c.args(args).current_dir(&dir.0);
    c.output().unwrap()
}

#[test]
fn nonexistent_source_is_cannot_stat() {
    let d = TestDir::open_to_all("nosrc");
    let o = crcp(&d, &["missing", "dst"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "crcp: cannot stat 'missing': No such file or directory\n"
    );
}

#[test]
fn directory_without_r_is_omitted_and_others_still_copy() {
    let d = TestDir::open_to_all("nor");
    fs::create_dir(d.path("dir")).unwrap();
    fs::write(d.path("file"), b"data").unwrap();
    fs::create_dir(d.path("out")).unwrap();
    let o = crcp(&d, &["dir", "missing", "file", "out"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "crcp: -r not specified; omitting directory 'dir'\n\
         crcp: cannot stat 'missing': No such file or directory\n"
    );
    assert_eq!(fs::read(d.path("out/file")).unwrap(), b"data");
}

#[test]
fn unreadable_source_is_cannot_open_for_reading() {
    let d = TestDir::open_to_all("unreadable");
    fs::write(d.path("secret"), b"x").unwrap();
    fs::set_permissions(d.path("secret"), fs::Permissions::from_mode(0o000)).unwrap();
    let o = crcp_unprivileged(&d, &["secret", "copy"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "crcp: cannot open 'secret' for reading: Permission denied\n"
    );
    assert!(!d.path("copy").exists());
}

#[test]
fn unwritable_destination_directory_is_cannot_create() {
    let d = TestDir::open_to_all("unwritable");
    fs::write(d.path("src"), b"x").unwrap();
    fs::set_permissions(d.path("src"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::create_dir(d.path("ro")).unwrap();
    fs::set_permissions(d.path("ro"), fs::Permissions::from_mode(0o555)).unwrap();
    let o = crcp_unprivileged(&d, &["src", "ro"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "crcp: cannot create regular file 'ro/src': Permission denied\n"
    );
    assert!(fs::read_dir(d.path("ro")).unwrap().next().is_none());
}

#[test]
fn no_clobber_skips_an_existing_destination() {
    // GNU cp >= 9.5 (and <= 9.1): -n skips silently and exits 0.
    let d = TestDir::open_to_all("noclobber");
    fs::write(d.path("src"), b"new").unwrap();
    fs::write(d.path("dst"), b"old").unwrap();
    let o = crcp(&d, &["-n", "src", "dst"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    assert_eq!(fs::read(d.path("dst")).unwrap(), b"old");
    // Without -n it is replaced.
    let o = crcp(&d, &["src", "dst"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(fs::read(d.path("dst")).unwrap(), b"new");
}

#[test]
fn reflink_always_without_reflink_fails_cleanly() {
    let d = TestDir::open_to_all("always");
    if can_reflink(&d) {
        eprintln!("skipped: this filesystem can reflink");
        return;
    }
    fs::write(d.path("a"), vec![9u8; 1 << 20]).unwrap();
    let o = crcp(&d, &["--reflink=always", "a", "b"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "crcp: failed to clone 'b' from 'a': Operation not supported\n"
    );
    assert_eq!(d.names(), ["a"]);
}

#[test]
fn usage_errors_look_like_cp() {
    let d = TestDir::open_to_all("usage");
    let o = crcp(&d, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("crcp: missing file operand\n"));
    let o = crcp(&d, &["a"]);
    assert!(stderr(&o).starts_with("crcp: missing destination file operand after 'a'\n"));
    let o = crcp(&d, &["--reflink=sometimes", "a", "b"]);
    assert!(stderr(&o).starts_with("crcp: invalid argument 'sometimes' for '--reflink'\n"));
    fs::write(d.path("a"), b"1").unwrap();
    fs::write(d.path("b"), b"2").unwrap();
    let o = crcp(&d, &["a", "b", "c"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "crcp: target 'c': No such file or directory\n");
    let o = crcp(&d, &["a", "a"]);
    assert_eq!(stderr(&o), "crcp: 'a' and 'a' are the same file\n");
    fs::create_dir(d.path("dir")).unwrap();
    let o = crcp(&d, &["-R", "dir", "dir/sub"]);
    assert_eq!(
        stderr(&o),
        "crcp: cannot copy a directory, 'dir', into itself, 'dir/sub'\n"
    );
    assert!(crcp(&d, &["--help"]).status.success());
}

#[test]
fn tree_copy_keeps_links_holes_modes_times_and_xattrs() {
    let d = TestDir::open_to_all("tree");
    let src = d.path("src");
    fs::create_dir_all(src.join("a/b")).unwrap();
    for i in 0..50 {
        fs::write(
            src.join(format!("a/f{i}")),
            format!("file {i}\n").repeat(i * 10),
        )
        .unwrap();
    }
    let sparse = fs::File::create(src.join("a/b/sparse")).unwrap();
    sparse.set_len(256 << 20).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&sparse, &[0x5a; 65536], 100 << 20).unwrap();
    drop(sparse);
    std::os::unix::fs::symlink("../f1", src.join("a/b/link")).unwrap();
    fs::set_permissions(src.join("a/f3"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::set_permissions(src.join("a/b"), fs::Permissions::from_mode(0o750)).unwrap();
    let xattr = Command::new("setfattr")
        .args(["-n", "user.crcp", "-v", "hello"])
        .arg(src.join("a/f2"))
        .status()
        .is_ok_and(|s| s.success());
    sys::set_times(
        &src.join("a/f4"),
        (1_111_111_111, 222_333_444),
        (1_111_111_111, 222_333_444),
    );
    sys::set_times(&src.join("a/b"), (1_000_000_000, 5), (1_000_000_000, 5));

    let o = crcp(
        &d,
        &[
            "-R",
            "-j",
            "4",
            "--preserve=mode,timestamps,xattr",
            "--stats",
            "src",
            "dst",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "",
        "no progress bar when stderr is not a terminal"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("crcp: 51 files"), "{out}");
    assert!(out.contains("paths: module 0"), "{out}");

    let diff = Command::new("diff")
        .arg("-r")
        .arg(&src)
        .arg(d.path("dst"))
        .output()
        .unwrap();
    assert!(
        diff.status.success(),
        "{}",
        String::from_utf8_lossy(&diff.stdout)
    );
    let dst = d.path("dst");
    assert_eq!(
        fs::read_link(dst.join("a/b/link")).unwrap(),
        Path::new("../f1")
    );
    let m = |p: &str| fs::symlink_metadata(dst.join(p)).unwrap();
    assert_eq!(m("a/f3").mode() & 0o7777, 0o600);
    assert_eq!(m("a/b").mode() & 0o7777, 0o750);
    assert_eq!(
        (m("a/f4").mtime(), m("a/f4").mtime_nsec()),
        (1_111_111_111, 222_333_444)
    );
    assert_eq!(
        (m("a/b").mtime(), m("a/b").mtime_nsec()),
        (1_000_000_000, 5)
    );
    assert!(
        m("a/b/sparse").blocks() < 1024,
        "the sparse file was filled"
    );
    if xattr {
        let g = Command::new("getfattr")
            .args(["--only-values", "-n", "user.crcp"])
            .arg(dst.join("a/f2"))
            .output()
            .unwrap();
        assert_eq!(g.stdout, b"hello");
    }
    // Into an existing directory: dst/src.
    let o = crcp(&d, &["-r", "src", "dst"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(d.path("dst/src/a/b/sparse").exists());
}

/// A 1 GiB file with 512 MiB of data in it: long enough a copy to kill in the middle.
fn big_file(p: &Path) -> u64 {
    let mut f = fs::File::create(p).unwrap();
    let chunk: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 7 + 3) as u8).collect();
    for i in 0..512u64 {
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(i * (2 << 20))).unwrap();
        f.write_all(&chunk).unwrap();
    }
    f.set_len(1 << 30).unwrap();
    1 << 30
}

/// Waits until `pid` has an unnamed (O_TMPFILE) or hidden destination open with some data
/// in it, i.e. the copy is under way. False if the process ended first.
fn wait_until_copying(pid: u32, total: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
            return false;
        };
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else {
                continue;
            };
            let t = target.to_string_lossy();
            if t.contains("(deleted)") || t.contains("/.#") {
                if let Ok(m) = fs::metadata(fd.path()) {
                    if m.len() > 0 && m.len() < total {
                        return true;
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    false
}

#[test]
fn killed_or_interrupted_copies_leave_no_partial_destination() {
    let d = TestDir::open_to_all("kill");
    let total = big_file(&d.path("big"));
    // Each case: options, signal, whether an old destination exists.
    let cases: [(&[&str], i32, bool); 4] = [
        (&["-n", "--reflink=never"], libc::SIGKILL, false),
        (&["--reflink=never"], libc::SIGKILL, true),
        (&["--reflink=auto"], libc::SIGKILL, false),
        (&["--reflink=never"], libc::SIGINT, true),
    ];
    for (args, sig, old) in cases {
        let dst = d.path("dst");
        let _ = fs::remove_file(&dst);
        if old {
            fs::write(&dst, b"old").unwrap();
        }
        let mut child = Command::new(CRCP)
            .args(args)
            .arg("big")
            .arg("dst")
            .current_dir(&d.0)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let caught = wait_until_copying(child.id(), total);
        sys::kill(child.id(), sig).unwrap();
        let status = child.wait().unwrap();
        assert!(
            caught,
            "{args:?}: the copy ended before it could be interrupted"
        );
        assert_eq!(status.signal(), Some(sig), "{args:?}: {status:?}");
        if old {
            assert_eq!(fs::read(&dst).unwrap(), b"old", "{args:?}");
            assert_eq!(d.names(), ["big", "dst"], "{args:?}");
        } else {
            assert!(!dst.exists(), "{args:?}: a partial destination is visible");
            assert_eq!(d.names(), ["big"], "{args:?}");
        }
    }
}

#[test]
fn p_adds_to_what_archive_or_preserve_asked_for() {
    // GNU cp: -p is --preserve=mode,ownership,timestamps added to the set, in any order.
    let d = TestDir::open_to_all("padds");
    fs::write(d.path("f"), b"data").unwrap();
    if !sys::set_xattr(&d.path("f"), "user.crcp", b"kept") {
        eprintln!("skipped: no user.* attributes here");
        return;
    }
    fs::set_permissions(d.path("f"), fs::Permissions::from_mode(0o640)).unwrap();
    sys::set_times(&d.path("f"), (1_234_567_890, 123), (1_234_567_890, 123));
    for (i, args) in [
        &["-a", "-p"][..],
        &["-ap"],
        &["--archive", "--preserve"],
        &["--preserve=xattr", "-p"],
        &["-p", "--preserve=xattr"],
        &["--preserve=xattr", "--preserve"],
    ]
    .iter()
    .enumerate()
    {
        let g = format!("g{i}");
        let o = crcp(&d, &[args, &["f", &g][..]].concat());
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        let g = d.path(&g);
        assert_eq!(
            sys::get_xattr(&g, "user.crcp").as_deref(),
            Some(&b"kept"[..]),
            "{args:?}"
        );
        let m = fs::metadata(&g).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o640, "{args:?}");
        assert_eq!(
            (m.mtime(), m.mtime_nsec()),
            (1_234_567_890, 123),
            "{args:?}"
        );
    }
}

/// A name of `len` bytes.
fn long_name(prefix: &str, len: usize) -> String {
    format!("{prefix}{}", "n".repeat(len - prefix.len()))
}

#[test]
fn replacing_long_names_stays_within_name_max() {
    // The temporary name of an atomic replace must fit in NAME_MAX (255) too.
    let d = TestDir::open_to_all("longname");
    fs::create_dir(d.path("src")).unwrap();
    fs::create_dir(d.path("dst")).unwrap();
    let link = long_name("l", 250);
    let fifo = long_name("p", 250);
    std::os::unix::fs::symlink("new", d.path("src").join(&link)).unwrap();
    std::os::unix::fs::symlink("old", d.path("dst").join(&link)).unwrap();
    sys::mkfifo(&d.path("src").join(&fifo), 0o640).unwrap();
    fs::write(d.path("dst").join(&fifo), b"old").unwrap();
    for name in [&link, &fifo] {
        let (s, t) = (format!("src/{name}"), format!("dst/{name}"));
        let o = crcp(&d, &["-R", &s, &t]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(stderr(&o), "");
    }
    assert_eq!(
        fs::read_link(d.path("dst").join(&link)).unwrap(),
        Path::new("new")
    );
    let m = fs::symlink_metadata(d.path("dst").join(&fifo)).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type()));
    let mut names: Vec<String> = fs::read_dir(d.path("dst"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [link, fifo], "a temporary name was left behind");
}

/// Runs crcp as `nobody` in a private mount namespace whose `/dev/copy_range` exists but
/// cannot be opened (`EACCES`). None where that cannot be set up (not root).
fn crcp_with_unopenable_device(dir: &TestDir, args: &[&str]) -> Option<Output> {
    if !sys::is_root() {
        return None;
    }
    let script = "mount -t tmpfs crcp-test /dev && : >/dev/copy_range && \
                  chmod 0 /dev/copy_range && \
                  exec setpriv --reuid=65534 --regid=65534 --clear-groups -- \"$0\" \"$@\"";
    let o = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            script,
        ])
        .arg(crcp_for_nobody())
        .args(args)
        .current_dir(&dir.0)
        .output()
        .ok()?;
    if String::from_utf8_lossy(&o.stderr).contains("unshare:")
        || String::from_utf8_lossy(&o.stderr).contains("mount:")
    {
        return None;
    }
    Some(o)
}

#[test]
fn an_unopenable_device_means_no_module() {
    // An accelerator that is there but refuses us is no reason to fail a copy: crcp copies
    // without it, and says so only under --stats.
    let d = TestDir::open_to_all("nodev");
    let src = d.path("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::set_permissions(src.join("sub"), fs::Permissions::from_mode(0o705)).unwrap();
    std::os::unix::fs::symlink("nowhere", src.join("sub/link")).unwrap();
    fs::set_permissions(&src, fs::Permissions::from_mode(0o555)).unwrap();
    // Symlinks and directories only: no file for the device to copy.
    let Some(o) = crcp_with_unopenable_device(&d, &["-R", "src", "dst"]) else {
        eprintln!("skipped: needs root and mount namespaces");
        return;
    };
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    let m = |p: &str| fs::symlink_metadata(d.path(p)).unwrap().mode() & 0o7777;
    assert_eq!(m("dst"), 0o555);
    assert_eq!(m("dst/sub"), 0o705);
    assert_eq!(
        fs::read_link(d.path("dst/sub/link")).unwrap(),
        Path::new("nowhere")
    );
    // With a file, and --stats: the fallback copies it, and the summary says why.
    fs::write(d.path("file"), b"data").unwrap();
    fs::set_permissions(d.path("file"), fs::Permissions::from_mode(0o644)).unwrap();
    let o = crcp_with_unopenable_device(&d, &["--stats", "file", "copy"]).unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    assert_eq!(fs::read(d.path("copy")).unwrap(), b"data");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("crcp: module not used: cannot open /dev/copy_range: Permission denied\n"),
        "{out}"
    );
    assert!(out.contains("paths: module 0"), "{out}");
}

#[test]
fn an_interrupted_tree_copy_still_sets_directory_modes() {
    let d = TestDir::open_to_all("intdirs");
    let src = d.path("src");
    fs::create_dir(&src).unwrap();
    let total = big_file(&src.join("big"));
    fs::set_permissions(&src, fs::Permissions::from_mode(0o555)).unwrap();
    let mut child = Command::new(CRCP)
        .args(["-R", "--reflink=never", "src", "dst"])
        .current_dir(&d.0)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let caught = wait_until_copying(child.id(), total);
    sys::kill(child.id(), libc::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert!(caught, "the copy ended before it could be interrupted");
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
    assert!(!d.path("dst/big").exists());
    let m = fs::metadata(d.path("dst")).unwrap();
    assert_eq!(
        m.mode() & 0o7777,
        0o555,
        "the directory kept its working mode"
    );
    fs::set_permissions(&src, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn unreadable_directory_is_cannot_access_and_the_rest_still_copies() {
    let d = TestDir::open_to_all("unreadabledir");
    let src = d.path("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("a"), b"a").unwrap();
    fs::write(src.join("sub/hidden"), b"h").unwrap();
    fs::write(src.join("z"), b"z").unwrap();
    for f in ["a", "z"] {
        fs::set_permissions(src.join(f), fs::Permissions::from_mode(0o644)).unwrap();
    }
    fs::set_permissions(src.join("sub"), fs::Permissions::from_mode(0o300)).unwrap();
    let o = crcp_unprivileged(&d, &["-R", "src", "dst"]);
    assert_eq!(o.status.code(), Some(1));
    // GNU cp's words for a directory it cannot list (savedir failing to open or to read).
    assert_eq!(
        stderr(&o),
        "crcp: cannot access 'src/sub': Permission denied\n"
    );
    assert_eq!(fs::read(d.path("dst/a")).unwrap(), b"a");
    assert_eq!(fs::read(d.path("dst/z")).unwrap(), b"z");
    let m = fs::metadata(d.path("dst/sub")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o300);
}

/// Runs crcp as root of a new user namespace in which only our own uid is mapped (to 0):
/// owners outside it cannot be given, and chown says `EINVAL` even to root. None where user
/// namespaces are not allowed.
fn crcp_in_user_namespace(dir: &TestDir, args: &[&str]) -> Option<Output> {
    let o = Command::new("unshare")
        .args(["--user", "--map-root-user", "--", CRCP])
        .args(args)
        .current_dir(&dir.0)
        .output()
        .ok()?;
    if String::from_utf8_lossy(&o.stderr).starts_with("unshare:") {
        return None;
    }
    Some(o)
}

#[test]
fn ownership_failures_of_special_files_are_reported_as_for_symlinks() {
    // GNU cp (chown_failure_ok): a failure to chown is an error for root; for anyone else
    // EPERM and EINVAL are silent.
    let d = TestDir::open_to_all("specialown");
    let src = d.path("src");
    fs::create_dir(&src).unwrap();
    sys::mkfifo(&src.join("fifo"), 0o644).unwrap();
    std::os::unix::fs::symlink("fifo", src.join("link")).unwrap();
    if !sys::is_root() {
        eprintln!("skipped: needs root to give the sources another owner");
        return;
    }
    for p in ["fifo", "link"] {
        std::os::unix::fs::lchown(src.join(p), Some(1234), Some(1234)).unwrap();
    }
    // Not root: silent, and the copies are there.
    let o = crcp_unprivileged(&d, &["-R", "-p", "src", "quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    assert!(fs::symlink_metadata(d.path("quiet/fifo")).is_ok());
    assert!(fs::symlink_metadata(d.path("quiet/link")).is_ok());
    // Root (of a user namespace) where the owner cannot be given: an error for each.
    let Some(o) = crcp_in_user_namespace(&d, &["-R", "--preserve=ownership", "src", "dst"]) else {
        eprintln!("skipped: needs user namespaces");
        return;
    };
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "crcp: failed to preserve ownership for 'dst/fifo': Invalid argument\n\
         crcp: failed to preserve ownership for 'dst/link': Invalid argument\n"
    );
}

#[test]
fn engines_that_need_the_module_fail_without_it_and_sync_copies() {
    // The host has no /dev/copy_range: ring and jobs cannot be had, and say so before
    // anything is made; sync is the library's fallback, as without --engine.
    if Path::new("/dev/copy_range").exists() {
        eprintln!("skipped: this host has /dev/copy_range");
        return;
    }
    let d = TestDir::new("engines");
    fs::create_dir(d.path("src")).unwrap();
    fs::write(d.path("src/f"), b"data").unwrap();
    for engine in ["ring", "jobs"] {
        let o = crcp(&d, &["-R", &format!("--engine={engine}"), "src", "dst"]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert_eq!(
            stderr(&o),
            format!("crcp: --engine={engine}: /dev/copy_range is not available\n")
        );
        assert!(!d.path("dst").exists());
    }
    for args in [
        &["--engine=sync"][..],
        &[],
        &["--no-module", "--engine=sync"],
    ] {
        let _ = fs::remove_dir_all(d.path("dst"));
        let o = crcp(&d, &[args, &["-R", "--stats", "src", "dst"]].concat());
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains("crcp: engine: sync (without the module)\n"),
            "{args:?}: {out}"
        );
        assert_eq!(fs::read(d.path("dst/f")).unwrap(), b"data");
    }
    // --no-module forbids the engines that need it.
    let o = crcp(&d, &["--no-module", "--engine=ring", "src/f", "g"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("crcp: --engine=ring needs the module; --no-module forbids it\n"),
        "{}",
        stderr(&o)
    );
}

/// Runs crcp in a private mount namespace whose `/dev/copy_range` is a plain file that
/// anyone may open: what a module without io_uring commands looks like to the ring's probe
/// (a uring command on it is `EOPNOTSUPP`). None where that cannot be set up (not root).
fn crcp_with_plain_file_device(dir: &TestDir, args: &[&str]) -> Option<Output> {
    if !sys::is_root() {
        return None;
    }
    let script = "mount -t tmpfs crcp-test /dev && : >/dev/copy_range && \
                  chmod 0666 /dev/copy_range && exec \"$0\" \"$@\"";
    let o = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            script,
        ])
        .arg(CRCP)
        .args(args)
        .current_dir(&dir.0)
        .output()
        .ok()?;
    if String::from_utf8_lossy(&o.stderr).contains("unshare:")
        || String::from_utf8_lossy(&o.stderr).contains("mount:")
    {
        return None;
    }
    Some(o)
}

#[test]
fn without_the_rings_commands_crcp_falls_back_to_jobs() {
    let d = TestDir::new("noring");
    fs::create_dir(d.path("src")).unwrap();
    // No file: the choice of engine is all there is to see (the plain file takes no job).
    let Some(o) = crcp_with_plain_file_device(&d, &["-R", "--stats", "src", "dst"]) else {
        eprintln!("skipped: needs root and mount namespaces");
        return;
    };
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("crcp: engine: jobs (io_uring: Operation not supported)\n"),
        "{out}"
    );
    // Asked for, the ring is an error, before anything is made.
    let o = crcp_with_plain_file_device(&d, &["-R", "--engine=ring", "src", "dst2"]).unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "crcp: --engine=ring: cannot use io_uring: Operation not supported\n"
    );
    assert!(!d.path("dst2").exists());
}
