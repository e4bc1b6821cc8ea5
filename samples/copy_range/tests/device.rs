// SPDX-License-Identifier: GPL-2.0

//! The library against the real module: [`CopyRange::copy`] and [`CopyRange::copy_all`] with
//! each sharing policy, vectors ([`CopyRange::copy_vec`], [`CopyRange::submit_vec`]),
//! [`Job`]s and, in [`ring`], copies through io_uring, on the test VM's scratch filesystems
//! (`/mnt/{btrfs,xfs,ext4,tmpfs}`).
//!
//! They need `/dev/copy_range`, which the host does not have, so they are `#[ignore]`d (each
//! is a [`device_test!`]): a plain `cargo test` lists them as ignored instead of counting them
//! as passed.
//! `tools/testing/vm/library_test.sh` runs them in the VM with `--include-ignored`. Without
//! the device or a scratch filesystem a test fails when `COPY_RANGE_VM=1` (the VM sets it) and
//! otherwise returns early with a note on standard error:
//!
//!   cargo test --release --manifest-path samples/Cargo.toml -p copy-range --test device --no-run
//!   make vm CMD="$PWD/tools/testing/vm/library_test.sh $PWD/samples/target/release/deps/device-<hash>"

mod common;
mod ring;

use common::{
    device::{device_test, setup, Fs},
    pattern,
};
use copy_range::{
    error_errno, fiemap_summary, CopyOptions, CopyPath, ExtentSummary, FileCopy, Job, JobState,
    JobStatus, Reflink, Segment, Sharing, VecCopied,
};
use std::{
    fs::{self, File, OpenOptions},
    io::{self, Seek, SeekFrom},
    os::unix::fs::FileExt,
    path::Path,
    time::{Duration, Instant},
};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
/// The module's data chunk: a job checks for a cancel between chunks.
const CHUNK: u64 = 4 * MIB;
/// The block size of the scratch filesystems (4 KiB pages, mkfs defaults).
const BLOCK: u64 = 4096;
/// Big enough to keep a data-copying job busy for seconds under the debug kernel (about
/// 20 MiB/s under TCG with KASAN), so that it is caught running, as the C selftests do.
const BIG: u64 = 64 * MIB + 4097;

/// Creates `path` with `data` in it, on disk (so that FIEMAP and clones see real extents),
/// open for reading and writing.
fn file_with(path: &Path, data: &[u8]) -> File {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    f.write_all_at(data, 0).unwrap();
    f.sync_all().unwrap();
    f
}

fn empty_file(path: &Path) -> File {
    file_with(path, &[])
}

fn contents(f: &File) -> Vec<u8> {
    let len = f.metadata().unwrap().len();
    let mut buf = vec![0u8; len as usize];
    f.read_exact_at(&mut buf, 0).unwrap();
    buf
}

/// Asserts that `got` is `want`, naming the first differing offset rather than printing
/// megabytes.
#[track_caller]
fn assert_same(what: &str, got: &[u8], want: &[u8]) {
    if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!(
            "{what}: first difference at byte {i} ({:#04x}, expected {:#04x}); {} bytes, expected {}",
            got[i],
            want[i],
            got.len(),
            want.len()
        );
    }
    assert_eq!(got.len(), want.len(), "{what}: size");
}

fn extents(f: &File) -> ExtentSummary {
    fiemap_summary(f).expect("FIEMAP")
}

fn errno(r: io::Result<impl std::fmt::Debug>) -> i32 {
    match r {
        Ok(v) => panic!("succeeded ({v:?}), expected an error"),
        Err(e) => e
            .raw_os_error()
            .unwrap_or_else(|| panic!("not an OS error: {e}")),
    }
}

/// What the destination must hold after a vector copy that copied exactly `copied` bytes: the
/// segments in order, each clamped to the source's end, stopping at the first that comes up
/// short; everything else as it was in `old`.
fn after_vec(old: &[u8], src: &[u8], segs: &[Segment], mut copied: u64) -> Vec<u8> {
    let mut v = old.to_vec();
    for s in segs {
        let avail = (src.len() as u64).saturating_sub(s.src_off);
        let n = s.len.min(avail).min(copied);
        if n > 0 {
            let (so, d) = (s.src_off as usize, s.dst_off as usize);
            if v.len() < d + n as usize {
                v.resize(d + n as usize, 0);
            }
            v[d..d + n as usize].copy_from_slice(&src[so..so + n as usize]);
        }
        copied -= n;
        if n < s.len {
            break;
        }
    }
    assert_eq!(copied, 0, "the count is more than the segments hold");
    v
}

fn seg(src_off: u64, dst_off: u64, len: u64) -> Segment {
    Segment {
        src_off,
        dst_off,
        len,
    }
}

/// Polls `job` until it has copied at least `bytes` or has ended; checks that the status is
/// sane on every sample.
fn wait_copied(job: &Job, bytes: u64) -> JobStatus {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = 0;
    loop {
        let st = job.status().unwrap();
        assert!(st.copied <= st.total, "{st:?}");
        assert!(st.copied >= last, "copied went back: {st:?} after {last}");
        last = st.copied;
        if st.is_finished() || st.copied >= bytes {
            return st;
        }
        assert!(Instant::now() < deadline, "job stuck: {st:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Every other way to read a finished job's status agrees with `fin`, and a cancel after the
/// end changes nothing.
fn check_final(job: &Job, fin: &JobStatus) {
    assert!(fin.is_finished(), "{fin:?}");
    assert_eq!(&job.status().unwrap(), fin);
    assert_eq!(&job.read_status().unwrap(), fin);
    assert_eq!(
        job.wait_timeout(Duration::ZERO).unwrap().as_ref(),
        Some(fin)
    );
    job.cancel().unwrap();
    assert_eq!(
        &job.wait().unwrap(),
        fin,
        "a cancel after the end changed the job"
    );
}

// ---- Single ranges: copy, copy_all and the policies ----

device_test!(btrfs_forbid_copies_independently, Fs::Btrfs, |dev, dir| {
    let size = 3 * MIB + 333;
    let data = pattern(size, 1);
    let mut src = file_with(&dir.path("src"), &data);
    let mut dst = empty_file(&dir.path("dst"));
    src.seek(SeekFrom::Start(11)).unwrap();
    dst.seek(SeekFrom::Start(13)).unwrap();

    // One call at odd offsets copies the whole range: no signal, less than a chunk.
    let n = dev
        .copy(&src, 3, &dst, 5, MIB + 7, Sharing::Forbid)
        .unwrap();
    assert_eq!(n, MIB + 7);
    let got = contents(&dst);
    assert_same("odd range", &got[5..], &data[3..3 + (MIB + 7) as usize]);
    assert_eq!(&got[..5], &[0; 5]);
    // Neither file's position is used or moved.
    assert_eq!(src.stream_position().unwrap(), 11);
    assert_eq!(dst.stream_position().unwrap(), 13);

    // copy_all over the whole file: the count is the file, the copy shares nothing.
    let whole = empty_file(&dir.path("whole"));
    assert_eq!(
        dev.copy_all(&src, 0, &whole, 0, size, Sharing::Forbid)
            .unwrap(),
        size
    );
    assert_same("whole file", &contents(&whole), &data);
    for (what, f) in [("odd range", &dst), ("whole file", &whole)] {
        let e = extents(f);
        assert!(e.mapped >= (MIB + 7), "{what}: {e:?}");
        assert_eq!(
            e.shared, 0,
            "{what}: an independent copy shares extents: {e:?}"
        );
    }
    assert_eq!(extents(&src).shared, 0, "the source shares extents");

    // At and past the source's end: 0, nothing written.
    assert_eq!(
        dev.copy(&src, size, &whole, 0, 10, Sharing::Forbid)
            .unwrap(),
        0
    );
    assert_eq!(
        dev.copy_all(&src, size + 1, &whole, size, 4096, Sharing::Forbid)
            .unwrap(),
        0
    );
    assert_eq!(whole.metadata().unwrap().len(), size);
});

device_test!(
    btrfs_allow_shares_the_aligned_body,
    Fs::Btrfs,
    |dev, dir| {
        let size = 3 * MIB + 333;
        let data = pattern(size, 2);
        let src = file_with(&dir.path("src"), &data);

        // The whole file in one call: cloned, unaligned end of file included.
        let whole = empty_file(&dir.path("whole"));
        assert_eq!(
            dev.copy(&src, 0, &whole, 0, size, Sharing::Allow).unwrap(),
            size
        );
        assert_same("whole file", &contents(&whole), &data);
        let e = extents(&whole);
        assert!(e.mapped >= size, "{e:?}");
        assert_eq!(e.shared, e.mapped, "not every extent is shared: {e:?}");

        // An unaligned range: one call returns all of it, the block-aligned body shared and the
        // head and tail copied.
        let part = empty_file(&dir.path("part"));
        let (off, len) = (2 * BLOCK + 100, MIB);
        assert_eq!(
            dev.copy(&src, off, &part, off, len, Sharing::Allow)
                .unwrap(),
            len
        );
        let got = contents(&part);
        assert_eq!(got.len() as u64, off + len);
        assert_same(
            "unaligned range",
            &got[off as usize..],
            &data[off as usize..(off + len) as usize],
        );
        let body = (off + len) / BLOCK * BLOCK - off.div_ceil(BLOCK) * BLOCK;
        let e = extents(&part);
        assert_eq!(e.shared, body, "shared bytes of the unaligned range: {e:?}");
        assert!(e.mapped > e.shared, "head and tail were not copied: {e:?}");
    }
);

device_test!(
    btrfs_require_shares_everything_or_nothing,
    Fs::Btrfs,
    |dev, dir| {
        let size = 9 * MIB + 4097;
        let data = pattern(size, 3);
        let src = file_with(&dir.path("src"), &data);

        // len 0: "could these two share?", yes.
        let whole = empty_file(&dir.path("whole"));
        assert_eq!(
            dev.copy(&src, 0, &whole, 0, 0, Sharing::Require).unwrap(),
            0
        );
        assert_eq!(
            dev.copy_all(&src, 0, &whole, 0, size, Sharing::Require)
                .unwrap(),
            size
        );
        assert_same("whole file", &contents(&whole), &data);
        let e = extents(&whole);
        assert!(e.mapped >= size, "{e:?}");
        assert_eq!(e.shared, e.mapped, "REQUIRE left bytes unshared: {e:?}");

        // An unaligned range cannot be shared: EINVAL, and nothing is copied.
        let part = empty_file(&dir.path("part"));
        let r = dev.copy(
            &src,
            BLOCK + 1,
            &part,
            BLOCK + 1,
            2 * BLOCK,
            Sharing::Require,
        );
        assert_eq!(errno(r), libc::EINVAL);
        let r = dev.copy_all(
            &src,
            BLOCK + 1,
            &part,
            BLOCK + 1,
            2 * BLOCK,
            Sharing::Require,
        );
        assert_eq!(errno(r), libc::EINVAL);
        assert_eq!(
            part.metadata().unwrap().len(),
            0,
            "REQUIRE wrote after EINVAL"
        );
    }
);

device_test!(
    ext4_require_is_eopnotsupp_and_nothing_is_copied,
    Fs::Ext4,
    |dev, dir| {
        let data = pattern(MIB, 4);
        let src = file_with(&dir.path("src"), &data);
        let dst = empty_file(&dir.path("dst"));
        let is_unsupported = |r: io::Result<u64>| match r {
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EOPNOTSUPP), "{e}");
                assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{e}");
            }
            Ok(n) => panic!("REQUIRE on ext4 copied {n} bytes"),
        };
        is_unsupported(dev.copy(&src, 0, &dst, 0, MIB, Sharing::Require));
        // The capability check comes first: even len 0 says no.
        is_unsupported(dev.copy(&src, 0, &dst, 0, 0, Sharing::Require));
        is_unsupported(dev.copy_all(&src, 0, &dst, 0, MIB, Sharing::Require));
        // A submit makes the same check: no job.
        let r = dev.submit(&src, 0, &dst, 0, MIB, Sharing::Require);
        assert_eq!(errno(r), libc::EOPNOTSUPP);
        let segs = [seg(0, 0, 64 * KIB), seg(64 * KIB, MIB, 64 * KIB)];
        let r = dev.copy_vec(&src, &dst, &segs, Sharing::Require);
        assert_eq!(errno(r), libc::EOPNOTSUPP);
        let r = dev.submit_vec(&src, &dst, &segs, Sharing::Require);
        assert_eq!(errno(r), libc::EOPNOTSUPP);
        assert_eq!(dst.metadata().unwrap().len(), 0, "a failed REQUIRE wrote");
    }
);

device_test!(
    ext4_forbid_and_allow_copy_data_over_several_chunks,
    Fs::Ext4,
    |dev, dir| {
        let size = 2 * CHUNK + MIB + 4097;
        let data = pattern(size, 5);
        let src = file_with(&dir.path("src"), &data);
        for sharing in [Sharing::Forbid, Sharing::Allow] {
            let dst = empty_file(&dir.path(&format!("{sharing:?}")));
            // More than the module copies between signal checks: copy_all may need several calls.
            assert_eq!(
                dev.copy_all(&src, 0, &dst, 0, size, sharing).unwrap(),
                size,
                "{sharing:?}"
            );
            assert_same(&format!("{sharing:?}"), &contents(&dst), &data);
            let e = extents(&dst);
            assert!(e.mapped >= size, "{sharing:?}: {e:?}");
            assert_eq!(e.shared, 0, "{sharing:?} on ext4 shares: {e:?}");
        }
    }
);

// ---- Vectors ----

device_test!(copy_vec_copies_every_segment, Fs::Btrfs, |dev, dir| {
    let data = pattern(2 * MIB + 333, 6);
    let old = pattern(MIB, 7);
    let src = file_with(&dir.path("src"), &data);
    // Unaligned and aligned, touching, empty, overlapping in the source, past the
    // destination's end, not in destination order.
    let segs = [
        seg(0, 200_000, 10_000),
        seg(5_000, 0, 70_000),
        seg(1_000_000, 100_000, 0),
        seg(3, 300_001, 4097),
        seg(32 * BLOCK, 100 * BLOCK, 32 * BLOCK),
        seg(777, 70_000, 1),
        seg(2 * MIB, MIB + 12_345, 333),
    ];
    let sum: u64 = segs.iter().map(|s| s.len).sum();
    for sharing in [Sharing::Forbid, Sharing::Allow] {
        let dst = file_with(&dir.path(&format!("{sharing:?}")), &old);
        let r = dev.copy_vec(&src, &dst, &segs, sharing).unwrap();
        assert_eq!(
            r,
            VecCopied {
                done_segs: segs.len() as u32,
                copied: sum
            },
            "{sharing:?}"
        );
        assert_same(
            &format!("{sharing:?}"),
            &contents(&dst),
            &after_vec(&old, &data, &segs, sum),
        );
        // Only the aligned segment can be shared, and ALLOW shares it.
        let e = extents(&dst);
        match sharing {
            Sharing::Forbid => assert_eq!(e.shared, 0, "{e:?}"),
            _ => assert!(e.shared >= 32 * BLOCK, "{e:?}"),
        }
    }

    // No segments: nothing to do, successfully.
    let dst = empty_file(&dir.path("none"));
    assert_eq!(
        dev.copy_vec(&src, &dst, &[], Sharing::Forbid).unwrap(),
        VecCopied {
            done_segs: 0,
            copied: 0
        }
    );
    assert_eq!(dst.metadata().unwrap().len(), 0);
});

device_test!(
    copy_vec_is_in_order_and_stops_at_a_short_segment,
    Fs::Ext4,
    |dev, dir| {
        let size = MIB + 333;
        let data = pattern(size, 8);
        let old = pattern(MIB, 9);
        let src = file_with(&dir.path("src"), &data);
        // The third segment crosses the source's end: the copy stops there, so the fourth, which
        // lies before it in the destination, is never copied.
        let segs = [
            seg(0, 10, 10_000),
            seg(5_000, 20_000, 70_000),
            seg(size - 100, 600_000, 1_000),
            seg(7, 200_000, 4096),
        ];
        let dst = file_with(&dir.path("dst"), &old);
        let r = dev.copy_vec(&src, &dst, &segs, Sharing::Forbid).unwrap();
        assert_eq!(
            r,
            VecCopied {
                done_segs: 2,
                copied: 80_100
            }
        );
        let want = after_vec(&old, &data, &segs, 80_100);
        assert_same("copy_vec", &contents(&dst), &want);
        assert_same(
            "the fourth segment's range",
            &want[200_000..204_096],
            &old[200_000..204_096],
        );

        // As a job: the same bytes, DONE, total counting each segment up to the source's end.
        let dst2 = file_with(&dir.path("dst2"), &old);
        let job = dev.submit_vec(&src, &dst2, &segs, Sharing::Forbid).unwrap();
        let fin = job.wait().unwrap();
        assert_eq!(fin.state, JobState::Done, "{fin:?}");
        assert_eq!(fin.copied, 80_100);
        assert_eq!(fin.total, 10_000 + 70_000 + 100 + 4096);
        check_final(&job, &fin);
        assert_same("submit_vec", &contents(&dst2), &want);
    }
);

device_test!(
    vec_with_overlapping_destinations_is_einval_and_copies_nothing,
    Fs::Tmpfs,
    |dev, dir| {
        let data = pattern(MIB, 10);
        let old = pattern(256 * KIB, 11);
        let src = file_with(&dir.path("src"), &data);
        let dst = file_with(&dir.path("dst"), &old);
        let good = [
            seg(1, 3, 5_000),
            seg(8_193, 10_003, 5_000),
            seg(16_385, 20_003, 5_000),
            seg(24_577, 30_003, 5_000),
        ];
        let mut by_a_byte = good;
        by_a_byte[3].dst_off = good[1].dst_off + good[1].len - 1;
        let mut inside = good;
        inside[3] = seg(0, good[0].dst_off + 100, 10);
        let mut twice = good;
        twice[3] = good[1];
        for (what, segs) in [
            ("overlap by a byte", &by_a_byte),
            ("one inside another", &inside),
            ("the same segment twice", &twice),
        ] {
            let r = dev.copy_vec(&src, &dst, segs, Sharing::Forbid);
            match r {
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{what}: {e}");
                    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{what}: {e}");
                }
                Ok(v) => panic!("{what}: copy_vec accepted it: {v:?}"),
            }
            let r = dev.submit_vec(&src, &dst, segs, Sharing::Forbid);
            if let Ok(job) = &r {
                panic!(
                    "{what}: submit_vec accepted it; the job ended {:?}",
                    job.wait()
                );
            }
            assert_eq!(errno(r), libc::EINVAL, "{what}");
            assert_same(what, &contents(&dst), &old);
        }
        // More segments than a vector may hold: EINVAL from the module, not from the library.
        let max = copy_range::sys::COPY_RANGE_VEC_MAX_SEGS as u64;
        let many: Vec<Segment> = (0..=max).map(|i| seg(i * 5, i * 7 + 1, 3)).collect();
        assert_eq!(
            errno(dev.copy_vec(&src, &dst, &many, Sharing::Forbid)),
            libc::EINVAL
        );
        assert_same("too many segments", &contents(&dst), &old);
        // And the good vector works on the same files, so the errors were about the segments.
        let sum: u64 = good.iter().map(|s| s.len).sum();
        assert_eq!(
            dev.copy_vec(&src, &dst, &many[..max as usize], Sharing::Forbid)
                .unwrap(),
            VecCopied {
                done_segs: max as u32,
                copied: 3 * max
            }
        );
        let dst2 = file_with(&dir.path("dst2"), &old);
        assert_eq!(
            dev.copy_vec(&src, &dst2, &good, Sharing::Forbid).unwrap(),
            VecCopied {
                done_segs: 4,
                copied: sum
            }
        );
        assert_same(
            "good vector",
            &contents(&dst2),
            &after_vec(&old, &data, &good, sum),
        );
    }
);

device_test!(
    submit_vec_wait_status_and_sharing_on_xfs,
    Fs::Xfs,
    |dev, dir| {
        let data = pattern(8 * MIB + 5, 12);
        let old = pattern(2 * MIB, 13);
        let src = file_with(&dir.path("src"), &data);
        let dst = file_with(&dir.path("dst"), &old);
        let segs = [
            seg(4 * MIB, 0, MIB),
            seg(17, MIB + 3, 2 * MIB + 11),
            seg(0, 4 * MIB, 2 * MIB),
            seg(8 * MIB - 1, 7 * MIB, 6),
        ];
        let sum: u64 = segs.iter().map(|s| s.len).sum();
        let job = dev.submit_vec(&src, &dst, &segs, Sharing::Allow).unwrap();
        let st = job.status().unwrap();
        assert_eq!(st.total, sum, "{st:?}");
        assert!(st.copied <= st.total, "{st:?}");
        assert!(
            matches!(st.state, JobState::Running | JobState::Done),
            "{st:?}"
        );
        let fin = job.wait().unwrap();
        assert_eq!(fin.state, JobState::Done, "{fin:?}");
        assert_eq!((fin.copied, fin.total, fin.errno), (sum, sum, 0));
        assert!(fin.error().is_none());
        check_final(&job, &fin);
        drop(job);
        assert_same(
            "submit_vec",
            &contents(&dst),
            &after_vec(&old, &data, &segs, sum),
        );
        // The two aligned segments (3 MiB) are shared, on xfs as on btrfs.
        let e = extents(&dst);
        assert!(e.shared >= 3 * MIB, "{e:?}");

        // A single-range job on the same filesystem: DONE, whole file shared.
        let clone = empty_file(&dir.path("clone"));
        let job = dev
            .submit(&src, 0, &clone, 0, u64::MAX, Sharing::Require)
            .unwrap();
        let fin = job.wait().unwrap();
        assert_eq!(fin.state, JobState::Done, "{fin:?}");
        assert_eq!(
            (fin.copied, fin.total),
            (data.len() as u64, data.len() as u64)
        );
        check_final(&job, &fin);
        assert_same("submit", &contents(&clone), &data);
        let e = extents(&clone);
        assert_eq!(e.shared, e.mapped, "{e:?}");
        assert!(e.shared >= data.len() as u64, "{e:?}");
    }
);

// ---- Cancelling jobs ----

device_test!(
    submit_then_cancel_keeps_an_exact_prefix,
    Fs::Ext4,
    |dev, dir| {
        let data = pattern(BIG, 14);
        let old = pattern(BIG, 15);
        let src = file_with(&dir.path("src"), &data);
        let dst = file_with(&dir.path("dst"), &old);
        let job = dev.submit(&src, 0, &dst, 0, BIG, Sharing::Forbid).unwrap();
        let running = wait_copied(&job, CHUNK);
        assert_eq!(
            running.state,
            JobState::Running,
            "the job ended before it could be cancelled: {running:?}"
        );
        let t0 = Instant::now();
        job.cancel().unwrap();
        assert!(t0.elapsed() < Duration::from_millis(500), "cancel blocked");
        let fin = job.wait().unwrap();
        eprintln!("cancelled at {} bytes, stopped at {fin:?}", running.copied);
        assert_eq!(fin.state, JobState::Cancelled, "{fin:?}");
        assert_eq!(fin.total, BIG);
        assert!(fin.copied >= running.copied, "{fin:?}");
        assert!(fin.copied < BIG, "{fin:?}");
        assert_eq!(fin.errno, 0);
        assert!(fin.error().is_none());
        check_final(&job, &fin);
        drop(job);
        // Exactly `copied` bytes of the source, then the old contents, at the old size.
        let got = contents(&dst);
        let c = fin.copied as usize;
        assert_eq!(got.len(), old.len());
        assert_same("before copied", &got[..c], &data[..c]);
        assert_same("after copied", &got[c..], &old[c..]);
    }
);

device_test!(
    submit_vec_then_cancel_keeps_exact_segments,
    Fs::Ext4,
    |dev, dir| {
        let data = pattern(BIG, 16);
        let old = pattern(BIG, 17);
        let src = file_with(&dir.path("src"), &data);
        let dst = file_with(&dir.path("dst"), &old);
        // Four quarters of the file, copied to the destination in reverse order and at other
        // offsets, so that a byte in the wrong place shows.
        let q = BIG / 4;
        let segs = [
            seg(0, 3 * q + 1, q - 1),
            seg(q, 2 * q, q),
            seg(2 * q, q + 7, q - 7),
            seg(3 * q, 0, q),
        ];
        let sum: u64 = segs.iter().map(|s| s.len).sum();
        let job = dev.submit_vec(&src, &dst, &segs, Sharing::Forbid).unwrap();
        // Past the first segment, so that the count spans a whole segment and part of the next.
        let running = wait_copied(&job, q + CHUNK);
        assert_eq!(
            running.state,
            JobState::Running,
            "the job ended before it could be cancelled: {running:?}"
        );
        job.cancel().unwrap();
        let fin = job.wait().unwrap();
        eprintln!("cancelled at {} bytes, stopped at {fin:?}", running.copied);
        assert_eq!(fin.state, JobState::Cancelled, "{fin:?}");
        assert_eq!(fin.total, sum);
        assert!(fin.copied >= running.copied && fin.copied < sum, "{fin:?}");
        assert!(fin.copied > segs[0].len, "{fin:?}");
        check_final(&job, &fin);
        drop(job);
        assert_same(
            "destination after the cancel",
            &contents(&dst),
            &after_vec(&old, &data, &segs, fin.copied),
        );
    }
);

device_test!(dropping_a_running_job_stops_it, Fs::Tmpfs, |dev, dir| {
    let data = pattern(BIG, 18);
    let src = file_with(&dir.path("src"), &data);
    let dst = empty_file(&dir.path("dst"));
    let job = dev.submit(&src, 0, &dst, 0, BIG, Sharing::Forbid).unwrap();
    let running = wait_copied(&job, CHUNK);
    assert_eq!(running.state, JobState::Running, "{running:?}");
    // Drop closes the only descriptor: the job stops before drop returns, so the destination
    // no longer changes, and holds a prefix of the source.
    drop(job);
    let got = contents(&dst);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        dst.metadata().unwrap().len(),
        got.len() as u64,
        "written after drop"
    );
    assert!((got.len() as u64) < BIG, "the job ran to the end");
    assert!(got.len() as u64 >= running.copied);
    assert_same("prefix", &got, &data[..got.len()]);
});

device_test!(
    commit_batch_of_module_jobs_across_filesystems,
    Fs::Btrfs,
    |dev, btrfs| {
        let Some((_, ext4)) = setup(Fs::Ext4, "commit_batch_of_module_jobs_across_filesystems")
        else {
            return;
        };
        let opts = CopyOptions {
            reflink: Reflink::Auto,
            ..CopyOptions::default()
        };
        let mut copies = Vec::new();
        let mut want = Vec::new();
        for (i, dir) in [&btrfs, &ext4, &btrfs, &ext4].into_iter().enumerate() {
            let data = pattern(100 * KIB + i as u64, 30 + i as u64);
            let src = dir.path(&format!("src{i}"));
            file_with(&src, &data);
            let mut fc = FileCopy::begin(&src, &dir.path(&format!("dst{i}")), &opts).unwrap();
            fc.submit(&dev).unwrap();
            fc.job().unwrap().wait().unwrap();
            copies.push(fc);
            want.push(data);
        }
        // A job still running fails alone (EBUSY), and is discarded.
        let big = pattern(BIG, 35);
        file_with(&btrfs.path("big"), &big);
        let never = CopyOptions {
            reflink: Reflink::Never,
            ..opts.clone()
        };
        let mut fc = FileCopy::begin(&btrfs.path("big"), &btrfs.path("bigdst"), &never).unwrap();
        fc.submit(&dev).unwrap();
        copies.insert(2, fc);
        let results = FileCopy::commit_batch(copies);
        assert_eq!(results.len(), 5);
        match &results[2] {
            // Under TCG the job is still running; on a fast machine it may be done.
            Err(e) => assert_eq!(error_errno(e), Some(libc::EBUSY), "{e}"),
            Ok(r) => assert_eq!(r.bytes, BIG),
        }
        let ok: Vec<_> = results
            .into_iter()
            .enumerate()
            .filter(|(i, _)| *i != 2)
            .map(|(_, r)| r.unwrap())
            .collect();
        for (i, (r, dir)) in ok.iter().zip([&btrfs, &ext4, &btrfs, &ext4]).enumerate() {
            assert_eq!(r.path, CopyPath::Module);
            assert_eq!(r.bytes, want[i].len() as u64);
            let got = fs::read(dir.path(&format!("dst{i}"))).unwrap();
            assert_same(&format!("dst{i}"), &got, &want[i]);
        }
    }
);
