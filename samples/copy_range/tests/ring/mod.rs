// SPDX-License-Identifier: GPL-2.0

//! [`CopyRing`] against the module: many copies in flight through io_uring with their data
//! checked, short counts resumed, cancels by token, errors as the ioctl gives them, the probe,
//! and [`FileCopy`] and crcp on the ring. Part of the `device` test binary, run in the VM.

use super::*;
use copy_range::{CopyRing, RingCompletion};
use std::{collections::HashMap, os::fd::OwnedFd, process::Command};

const GIB: u64 = 1 << 30;

/// A ring of `capacity` on `dev`: the module must take io_uring commands.
fn ring(dev: &copy_range::CopyRange, capacity: u32) -> CopyRing {
    CopyRing::new(dev, capacity).expect("a ring on /dev/copy_range (module: io_uring commands)")
}

/// Waits until every copy on `ring` has finished: their completions by token, each returned
/// once.
fn wait_all(ring: &mut CopyRing) -> HashMap<u64, RingCompletion> {
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut all = HashMap::new();
    while ring.in_flight() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} copies stuck",
            ring.in_flight()
        );
        for c in ring.wait(Some(Duration::from_secs(1))).unwrap() {
            assert!(!ring.contains(c.token));
            let token = c.token;
            assert!(
                all.insert(token, c).is_none(),
                "token {token} completed twice"
            );
        }
    }
    // Nothing in flight: nothing left to return, and no wait.
    assert!(ring.wait(None).unwrap().is_empty());
    all
}

/// The one completion of `token` on `ring`, waiting for it (and for nothing else).
fn wait_one(ring: &mut CopyRing, token: u64) -> RingCompletion {
    let mut all = wait_all(ring);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(&token).expect("the copy's completion")
}

device_test!(
    ring_256_copies_in_flight_with_their_data,
    Fs::Ext4,
    |dev, dir| {
        const N: usize = 256;
        let mut ring = ring(&dev, N as u32);
        assert_eq!(ring.capacity(), N);
        // 16 sources (the ring holds two descriptors per copy: 256 sources would need more than
        // 1024); 256 destinations, each a ranged copy of a part of a source at an odd offset, or
        // every fourth a vector of three segments in reverse order.
        let srcs: Vec<(File, Vec<u8>)> = (0..16u64)
            .map(|i| {
                let data = pattern(256 * KIB + 4099 * i, 100 + i);
                (file_with(&dir.path(&format!("src{i}")), &data), data)
            })
            .collect();
        let mut want = Vec::new();
        let mut dsts = Vec::new();
        for i in 0..N as u64 {
            let (src, data) = &srcs[i as usize % 16];
            let old = pattern(64 * KIB + i, 1000 + i);
            let dst = file_with(&dir.path(&format!("dst{i}")), &old);
            let token = 5000 + 3 * i;
            let size = data.len() as u64;
            if i % 4 == 3 {
                let third = size / 3;
                let segs = [
                    seg(2 * third, i, size - 2 * third),
                    seg(third, i + size - 2 * third, third),
                    seg(0, i + size - third, third),
                ];
                ring.copy_vec(token, src, &dst, &segs, Sharing::Forbid)
                    .unwrap();
                want.push((token, after_vec(&old, data, &segs, size), size));
            } else {
                let (off, len) = (i * 511 % 4096, size / 2 + i);
                ring.copy(token, src, off, &dst, i * 3, len, Sharing::Forbid)
                    .unwrap();
                let mut w = old.clone();
                let end = (i * 3 + len) as usize;
                if w.len() < end {
                    w.resize(end, 0);
                }
                w[(i * 3) as usize..end].copy_from_slice(&data[off as usize..(off + len) as usize]);
                want.push((token, w, len));
            }
            dsts.push(dst);
        }
        assert_eq!(ring.in_flight(), N);
        // Full: one more is EBUSY; a token in flight is EEXIST.
        let (src, _) = &srcs[0];
        let e = ring.copy(1, src, 0, &dsts[0], 0, 1, Sharing::Forbid);
        assert_eq!(errno(e), libc::EBUSY);
        let t0 = Instant::now();
        let done = wait_all(&mut ring);
        eprintln!("{N} copies through the ring in {:?}", t0.elapsed());
        assert_eq!(done.len(), N);
        for ((token, w, len), dst) in want.iter().zip(&dsts) {
            let c = &done[token];
            assert!(c.is_complete(), "copy {token}: {c:?}");
            assert_eq!(c.copied, *len, "copy {token}");
            assert_same(&format!("copy {token}"), &contents(dst), w);
        }
        // The tokens are free again; a token in flight is refused.
        ring.copy(5000, src, 0, &dsts[0], 0, 10, Sharing::Forbid)
            .unwrap();
        assert_eq!(
            errno(ring.copy(5000, src, 0, &dsts[1], 0, 10, Sharing::Forbid)),
            libc::EEXIST
        );
        assert!(wait_one(&mut ring, 5000).is_complete());
    }
);

device_test!(
    ring_copies_to_the_end_of_the_source,
    Fs::Btrfs,
    |dev, dir| {
        let data = pattern(3 * MIB + 5, 40);
        let src = file_with(&dir.path("src"), &data);
        let dst = empty_file(&dir.path("dst"));
        let mut ring = ring(&dev, 4);
        // u64::MAX: to the end; small requests, resumed one after the other.
        ring.set_max_request(MIB / 3);
        ring.copy(1, &src, 0, &dst, 0, u64::MAX, Sharing::Forbid)
            .unwrap();
        let c = wait_one(&mut ring, 1);
        assert!(c.is_complete(), "{c:?}");
        assert_eq!(c.copied, data.len() as u64);
        // 10 requests of a third of a MiB, the one that finds the end, and the 0 past it.
        assert_eq!(c.requests, 11, "{c:?}");
        assert_same("dst", &contents(&dst), &data);
        // A range past the end copies nothing, completely.
        ring.copy(2, &src, data.len() as u64 + 1, &dst, 0, 100, Sharing::Allow)
            .unwrap();
        let c = wait_one(&mut ring, 2);
        assert!(c.is_complete() && c.copied == 0 && c.requests == 1, "{c:?}");
    }
);

device_test!(
    ring_resumes_the_modules_short_count,
    Fs::Tmpfs,
    |dev, dir| {
        // A sparse 5 GiB source: the module copies at most MAX_RW_COUNT (just under 2 GiB) a
        // call, holes or not, so the first request comes back short, and the ring goes on.
        let size = 5 * GIB + 12345;
        let src = empty_file(&dir.path("src"));
        src.set_len(size).unwrap();
        let islands = [
            (0, pattern(MIB, 41)),
            (2 * GIB - 4096, pattern(8192, 42)),
            (4 * GIB + 77, pattern(100 * KIB, 43)),
            (size - 5000, pattern(5000, 44)),
        ];
        for (off, d) in &islands {
            src.write_all_at(d, *off).unwrap();
        }
        let dst = empty_file(&dir.path("dst"));
        assert!(
            dev.copy(&src, 0, &dst, 0, size, Sharing::Forbid).unwrap() < size,
            "one call copied it all: no short count to resume"
        );
        dst.set_len(0).unwrap();
        let mut ring = ring(&dev, 4);
        ring.copy(7, &src, 0, &dst, 0, size, Sharing::Forbid)
            .unwrap();
        let c = wait_one(&mut ring, 7);
        assert!(c.is_complete(), "{c:?}");
        assert_eq!(c.copied, size);
        // At least three requests of at most MAX_RW_COUNT each.
        assert!(c.requests >= 3, "{c:?}");
        assert_eq!(dst.metadata().unwrap().len(), size);
        for (off, d) in &islands {
            let mut got = vec![0u8; d.len()];
            dst.read_exact_at(&mut got, *off).unwrap();
            assert_same(&format!("island at {off}"), &got, d);
        }
        let mut hole = vec![1u8; 4096];
        dst.read_exact_at(&mut hole, 3 * GIB).unwrap();
        assert!(hole.iter().all(|&b| b == 0), "the hole is not zeros");
    }
);

device_test!(ring_vectors_longer_than_one_request, Fs::Xfs, |dev, dir| {
    // 1500 segments of 1 KiB, in reverse order: two requests (1024 + 476).
    let n = 1500u64;
    let data = pattern(n * KIB, 45);
    let src = file_with(&dir.path("src"), &data);
    let old = pattern(n * KIB + 100, 46);
    let dst = file_with(&dir.path("dst"), &old);
    let segs: Vec<Segment> = (0..n)
        .map(|i| seg(i * KIB, (n - 1 - i) * KIB + 100, KIB))
        .collect();
    let mut ring = ring(&dev, 4);
    ring.copy_vec(9, &src, &dst, &segs, Sharing::Forbid)
        .unwrap();
    let c = wait_one(&mut ring, 9);
    assert!(c.is_complete(), "{c:?}");
    assert_eq!((c.copied, c.requests), (n * KIB, 2), "{c:?}");
    assert_same(
        "dst",
        &contents(&dst),
        &after_vec(&old, &data, &segs, n * KIB),
    );
    // A vector that the source's end cuts short stops there, complete.
    let segs = [seg(0, 0, 10), seg(n * KIB - 5, 10, 10), seg(0, 30, 10)];
    ring.copy_vec(10, &src, &dst, &segs, Sharing::Forbid)
        .unwrap();
    let c = wait_one(&mut ring, 10);
    assert!(c.is_complete(), "{c:?}");
    assert_eq!(c.copied, 15, "{c:?}");
});

device_test!(ring_errors_are_the_ioctls, Fs::Tmpfs, |dev, dir| {
    let data = pattern(64 * KIB, 47);
    let src = file_with(&dir.path("src"), &data);
    let dst = empty_file(&dir.path("dst"));
    let ro = File::open(dir.path("dst")).unwrap();
    let mut ring = ring(&dev, 8);
    let cases: [(&File, &File, u64, Sharing); 4] = [
        // Not open for writing.
        (&src, &ro, 0, Sharing::Forbid),
        // tmpfs cannot share.
        (&src, &dst, 0, Sharing::Require),
        // The same range of the same file.
        (&src, &src, 0, Sharing::Forbid),
        // An offset that is negative as a loff_t.
        (&src, &dst, 1 << 63, Sharing::Forbid),
    ];
    for (i, (s, d, off, sharing)) in cases.iter().enumerate() {
        let want = errno(dev.copy(*s, *off, *d, 0, 4096, *sharing));
        ring.copy(i as u64, *s, *off, *d, 0, 4096, *sharing)
            .unwrap();
        let c = wait_one(&mut ring, i as u64);
        assert_eq!(c.copied, 0, "{c:?}");
        assert_eq!(
            c.error.as_ref().and_then(|e| e.raw_os_error()),
            Some(want),
            "case {i}: {c:?}"
        );
    }
    assert!(contents(&dst).is_empty());
});

device_test!(
    ring_cancel_stops_a_request_in_the_module,
    Fs::Ext4,
    |dev, dir| {
        let data = pattern(BIG, 48);
        let src = file_with(&dir.path("src"), &data);
        let dst = empty_file(&dir.path("dst"));
        let small_src = file_with(&dir.path("small"), &data[..100_000]);
        let small_dst = empty_file(&dir.path("smalldst"));
        let mut ring = ring(&dev, 4);
        // One request for the whole range: only the module can stop it part way.
        ring.copy(77, &src, 0, &dst, 0, BIG, Sharing::Forbid)
            .unwrap();
        ring.submit().unwrap();
        let deadline = Instant::now() + Duration::from_secs(90);
        while dst.metadata().unwrap().len() < CHUNK {
            assert!(Instant::now() < deadline, "the copy does not start");
            assert!(ring
                .wait(Some(Duration::from_millis(1)))
                .unwrap()
                .is_empty());
        }
        ring.copy(78, &small_src, 0, &small_dst, 0, 100_000, Sharing::Forbid)
            .unwrap();
        assert!(ring.cancel(77).unwrap());
        // Twice is once.
        assert!(ring.cancel(77).unwrap());
        let done = wait_all(&mut ring);
        let c = &done[&77];
        eprintln!("cancelled at >= {CHUNK} bytes: {c:?}");
        assert_eq!(
            c.error.as_ref().and_then(|e| e.raw_os_error()),
            Some(libc::ECANCELED),
            "{c:?}"
        );
        assert!(c.copied >= CHUNK && c.copied < BIG, "{c:?}");
        assert_eq!(c.requests, 1);
        // Exactly `copied` bytes of the source; nothing written after the completion.
        let got = contents(&dst);
        assert_eq!(got.len() as u64, c.copied);
        assert_same("prefix", &got, &data[..got.len()]);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            dst.metadata().unwrap().len(),
            c.copied,
            "written after the end"
        );
        // The other copy is untouched by the cancel.
        assert!(done[&78].is_complete(), "{:?}", done[&78]);
        assert_same("small", &contents(&small_dst), &data[..100_000]);
        // Nothing to cancel any more.
        assert!(!ring.cancel(77).unwrap());
        assert!(!ring.cancel(12345).unwrap());
    }
);

device_test!(
    ring_cancel_between_requests_keeps_an_exact_prefix,
    Fs::Xfs,
    |dev, dir| {
        let data = pattern(BIG, 49);
        let old = pattern(BIG, 50);
        let src = file_with(&dir.path("src"), &data);
        let dst = file_with(&dir.path("dst"), &old);
        let mut ring = ring(&dev, 4);
        ring.set_max_request(CHUNK);
        ring.copy(3, &src, 0, &dst, 0, BIG, Sharing::Forbid)
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(90);
        while ring.copied(3).unwrap() < CHUNK {
            assert!(Instant::now() < deadline, "the copy does not move");
            assert!(ring
                .wait(Some(Duration::from_millis(1)))
                .unwrap()
                .is_empty());
        }
        assert!(ring.cancel(3).unwrap());
        let c = wait_one(&mut ring, 3);
        eprintln!("{c:?}");
        assert_eq!(
            c.error.as_ref().and_then(|e| e.raw_os_error()),
            Some(libc::ECANCELED),
            "{c:?}"
        );
        assert!(c.copied >= CHUNK && c.copied < BIG, "{c:?}");
        let got = contents(&dst);
        let n = c.copied as usize;
        assert_eq!(got.len(), old.len());
        assert_same("before copied", &got[..n], &data[..n]);
        assert_same("after copied", &got[n..], &old[n..]);
    }
);

device_test!(dropping_a_ring_stops_its_copies, Fs::Tmpfs, |dev, dir| {
    let data = pattern(BIG, 51);
    let src = file_with(&dir.path("src"), &data);
    let dst = empty_file(&dir.path("dst"));
    let mut ring = ring(&dev, 4);
    ring.copy(1, &src, 0, &dst, 0, BIG, Sharing::Forbid)
        .unwrap();
    ring.submit().unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while dst.metadata().unwrap().len() < CHUNK {
        assert!(Instant::now() < deadline, "the copy does not start");
        std::thread::sleep(Duration::from_millis(1));
    }
    // Drop cancels the copy and waits for it to stop.
    drop(ring);
    let len = dst.metadata().unwrap().len();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(dst.metadata().unwrap().len(), len, "written after drop");
    assert!(len < BIG, "the copy ran to the end");
    assert_same("prefix", &contents(&dst), &data[..len as usize]);
});

device_test!(
    ring_holds_the_descriptors_it_was_given,
    Fs::Btrfs,
    |dev, dir| {
        let data = pattern(MIB + 3, 52);
        let mut ring = ring(&dev, 4);
        {
            let src = file_with(&dir.path("src"), &data);
            let dst = empty_file(&dir.path("dst"));
            ring.copy(1, &src, 0, &dst, 0, u64::MAX, Sharing::Forbid)
                .unwrap();
            // Closed before the copy is even submitted.
        }
        // The numbers, reused: the copy must not land here.
        let decoy = empty_file(&dir.path("decoy"));
        let decoy2 = empty_file(&dir.path("decoy2"));
        let c = wait_one(&mut ring, 1);
        assert!(c.is_complete(), "{c:?}");
        assert_same("dst", &fs::read(dir.path("dst")).unwrap(), &data);
        assert!(contents(&decoy).is_empty() && contents(&decoy2).is_empty());
    }
);

device_test!(
    the_probe_passes_on_the_module_only,
    Fs::Tmpfs,
    |dev, dir| {
        assert!(CopyRing::new(&dev, 1).is_ok());
        // Another file in the device's place: the probe fails, and callers use jobs instead.
        let f: OwnedFd = empty_file(&dir.path("plain")).into();
        let e = CopyRing::with_device(f, 1).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EOPNOTSUPP), "{e}");
        let f: OwnedFd = File::open("/dev/null").unwrap().into();
        let e = CopyRing::with_device(f, 1).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EOPNOTSUPP), "{e}");
    }
);

device_test!(file_copies_on_the_ring, Fs::Btrfs, |dev, dir| {
    let mut ring = ring(&dev, 8);
    let opts = CopyOptions {
        reflink: Reflink::Auto,
        ..CopyOptions::default()
    };
    let mut copies = Vec::new();
    let mut want = Vec::new();
    for i in 0..5u64 {
        let data = pattern(200 * KIB + i * 1000, 60 + i);
        file_with(&dir.path(&format!("s{i}")), &data);
        let mut fc = FileCopy::begin(
            &dir.path(&format!("s{i}")),
            &dir.path(&format!("d{i}")),
            &opts,
        )
        .unwrap();
        fc.submit_ring(&mut ring, 100 + i).unwrap();
        assert_eq!(fc.ring_token(), Some(100 + i));
        // Submitted once only.
        let e = fc.submit_ring(&mut ring, 200 + i).unwrap_err();
        assert_eq!(error_errno(&e), Some(libc::EBUSY));
        copies.push(fc);
        want.push(data);
    }
    let mut done = wait_all(&mut ring);
    // Another copy's completion is refused.
    let other = done.remove(&101).unwrap();
    let e = copies[0].ring_completed(other).unwrap_err();
    assert_eq!(error_errno(&e), Some(libc::EINVAL));
    // A copy whose completion is not in is not committed (EBUSY), and is discarded.
    let pending = copies.remove(1);
    for (i, fc) in copies.iter_mut().enumerate() {
        let i = if i == 0 { 0 } else { i + 1 };
        fc.ring_completed(done.remove(&(100 + i as u64)).unwrap())
            .unwrap();
        assert_eq!(fc.ring_token(), None);
    }
    copies.insert(1, pending);
    let results = FileCopy::commit_batch(copies);
    let e = results[1].as_ref().unwrap_err();
    assert_eq!(error_errno(e), Some(libc::EBUSY));
    assert!(!dir.path("d1").exists());
    for i in [0, 2, 3, 4] {
        let r = results[i].as_ref().unwrap();
        assert_eq!(r.path, CopyPath::Module);
        assert_eq!(r.bytes, want[i].len() as u64);
        assert_same(
            &format!("d{i}"),
            &fs::read(dir.path(&format!("d{i}"))).unwrap(),
            &want[i],
        );
    }
    // Under --reflink=always on tmpfs the module's EOPNOTSUPP comes as a failed clone.
    let Some((_, tmp)) = setup(Fs::Tmpfs, "file_copies_on_the_ring") else {
        return;
    };
    file_with(&tmp.path("s"), b"data");
    let always = CopyOptions {
        reflink: Reflink::Always,
        ..CopyOptions::default()
    };
    let mut fc = FileCopy::begin(&tmp.path("s"), &tmp.path("d"), &always).unwrap();
    fc.submit_ring(&mut ring, 1).unwrap();
    let e = fc.ring_completed(wait_one(&mut ring, 1)).unwrap_err();
    assert_eq!(error_errno(&e), Some(libc::EOPNOTSUPP));
    assert_eq!(copy_range::error_stage(&e), Some(copy_range::Stage::Clone));
});

/// crcp, built beside this test binary (`cargo build --release` puts it in `target/release`,
/// this binary in `target/release/deps`), or `None` (a failure in the VM) when it is not there.
fn crcp() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent()?.parent()?.join("crcp");
    if bin.exists() {
        return Some(bin);
    }
    assert!(
        std::env::var("COPY_RANGE_VM").as_deref() != Ok("1"),
        "no crcp at {} (cargo build --release first)",
        bin.display()
    );
    eprintln!("skipped: no crcp at {}", bin.display());
    None
}

device_test!(crcp_engines_copy_alike, Fs::Btrfs, |_dev, dir| {
    let Some(crcp) = crcp() else { return };
    let src = dir.path("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    let mut files = Vec::new();
    // Small files: what is compared is the engines, not the data path (a few seconds each
    // under the debug kernel).
    for i in 0..30u64 {
        let p = if i % 3 == 0 {
            format!("sub/f{i}")
        } else {
            format!("f{i}")
        };
        let data = pattern(i * 7777 + (i % 5) * 64 * KIB, 70 + i);
        fs::write(src.join(&p), &data).unwrap();
        files.push((p, data));
    }
    for (engine, flags) in [
        ("ring", "--reflink=never"),
        ("jobs", "--reflink=never"),
        ("sync", "--reflink=auto"),
    ] {
        let dst = dir.path(engine);
        let t0 = Instant::now();
        let out = Command::new(&crcp)
            .args(["-R", "-j", "8", "--stats", flags])
            .arg(format!("--engine={engine}"))
            .arg(&src)
            .arg(&dst)
            .output()
            .unwrap();
        eprintln!("crcp --engine={engine}: {:?}", t0.elapsed());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{engine}: {}{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("crcp: engine: {engine}\n")),
            "{engine}: {stdout}"
        );
        assert!(
            stdout.contains("paths: module 30, ficlone 0, copy_file_range 0, read/write 0"),
            "{engine}: {stdout}"
        );
        for (p, data) in &files {
            assert_same(
                &format!("{engine}: {p}"),
                &fs::read(dst.join(p)).unwrap(),
                data,
            );
        }
    }
    // Without --engine: the ring.
    let out = Command::new(&crcp)
        .args(["--stats", "--reflink=never"])
        .arg(src.join("f1"))
        .arg(dir.path("one"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("crcp: engine: ring\n"), "{stdout}");
});
