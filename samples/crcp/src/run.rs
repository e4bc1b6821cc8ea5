// SPDX-License-Identifier: GPL-2.0

//! Copying the planned files, by one of three engines: with the module, copies on one
//! io_uring ([`run_ring`]) or jobs kept in flight by one poll(2) loop ([`run_module`]);
//! worker threads making synchronous calls, the module's or, without it, the library's
//! fallback ([`run_threads`]). All collect the copied files in a
//! [`Batch`] and commit it with [`FileCopy::commit_batch`] (one `syncfs(2)` per filesystem
//! instead of an fsync per file), draw the progress bar, stop on a signal (dropping the
//! uncommitted copies, which discards them), and hand each file's outcome to
//! [`Outcome::file_done`]. If poll(2) or the ring's wait itself fails (other than `EINTR`),
//! the files not yet copied fail, their copies cancelled.

use crate::{
    args::Options,
    outcome::Outcome,
    plan::FileTask,
    report::errtext,
    signals::{cancel_token, interrupted},
    sys::{self, nofile_limit},
};
use copy_range::{error_errno, CopyOptions, CopyRange, CopyRing, Create, FileCopy};
use std::{
    collections::{BTreeMap, VecDeque},
    io,
    os::fd::AsRawFd,
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc, Arc, Mutex,
    },
    time::{Duration, Instant},
};

/// The library's options for each file, from the command line's.
fn copy_options(opts: &Options) -> CopyOptions {
    CopyOptions {
        reflink: opts.reflink,
        create: if opts.no_clobber {
            Create::Exclusive
        } else {
            Create::Replace
        },
        preserve: opts.preserve,
        use_module: !opts.no_module,
        cancel: Some(cancel_token()),
        // Only --stats prints what FIEMAP finds.
        measure_sharing: opts.print_stats,
        ..CopyOptions::default()
    }
}

/// Files committed together at most. A batch pays one `syncfs(2)` (a journal commit and a
/// cache flush) where each file used to pay an fsync; at 64 that cost is spread thin (under
/// 2% of a per-file fsync each), a larger batch gains little more, and it keeps what waits
/// uncommitted small: 64 copies hold 256 descriptors, and the progress bar's file count
/// moves in steps of at most 64. No bound by bytes: the data has to be written back either
/// way, and a batch's `syncfs` costs the same as its files' fsyncs in bytes written.
const BATCH_FILES: usize = 64;

/// How long a copied file waits for its batch to fill at most, so that files done keep
/// being committed (and counted) while long copies are in flight.
const BATCH_WAIT: Duration = Duration::from_secs(1);

/// Descriptors an uncommitted copy holds: the source, the temporary file, its directory,
/// and the job (none on the ring).
const FDS_PER_COPY: u64 = 4;

/// The batch size that fits in `nofile` descriptors with `in_flight` copies in flight and as
/// many more waiting to be handed over (the worker threads' channel), 64 set aside for the
/// rest.
fn batch_limit(nofile: u64, in_flight: usize) -> usize {
    let copies = nofile.saturating_sub(64) / FDS_PER_COPY;
    (copies.saturating_sub(2 * in_flight as u64) as usize).clamp(1, BATCH_FILES)
}

/// Copied files waiting to be committed together.
struct Batch {
    items: Vec<(FileTask, FileCopy)>,
    /// Their bytes, for the progress bar (copied, though not yet counted as done).
    bytes: u64,
    /// When the first of them came.
    since: Option<Instant>,
    limit: usize,
}

impl Batch {
    fn new(in_flight: usize) -> Batch {
        let limit = batch_limit(nofile_limit(), in_flight);
        Batch {
            items: Vec::with_capacity(limit),
            bytes: 0,
            since: None,
            limit,
        }
    }

    fn push(&mut self, task: FileTask, fc: FileCopy) {
        self.since.get_or_insert_with(Instant::now);
        self.bytes += task.size;
        self.items.push((task, fc));
    }

    /// Full, or waiting too long.
    fn due(&self) -> bool {
        self.items.len() >= self.limit || self.since.is_some_and(|t| t.elapsed() >= BATCH_WAIT)
    }

    /// Commits every copy in the batch and reports each; a file is done when this returns.
    fn commit(&mut self, opts: &Options, out: &mut Outcome) {
        let (tasks, copies): (Vec<FileTask>, Vec<FileCopy>) =
            std::mem::take(&mut self.items).into_iter().unzip();
        self.bytes = 0;
        self.since = None;
        if tasks.is_empty() {
            return;
        }
        for (task, r) in tasks.iter().zip(FileCopy::commit_batch(copies)) {
            out.file_done(task, r, opts.no_clobber);
        }
    }

    /// Drops every copy in the batch: their temporary files are discarded.
    fn discard(&mut self) {
        self.items.clear();
        self.bytes = 0;
        self.since = None;
    }
}

/// Copies with module jobs: up to [`Options::copies_in_flight`], one poll(2) loop over their
/// descriptors.
/// A finished job's file joins the batch, which is committed when full, when it has waited
/// [`BATCH_WAIT`], and whenever no job is in flight (at the end, or while other processes
/// hold every job slot).
pub(crate) fn run_module(dev: &CopyRange, tasks: Vec<FileTask>, opts: &Options, out: &mut Outcome) {
    let copy_opts = copy_options(opts);
    let mut queue: VecDeque<FileTask> = tasks.into();
    let mut inflight: Vec<(FileTask, FileCopy)> = Vec::new();
    let mut batch = Batch::new(opts.copies_in_flight);
    let mut backoff = false;
    loop {
        if interrupted() {
            // Cancel every job at once, then close them all (each close waits for its
            // worker to stop); the unnamed destinations vanish with their descriptors, and
            // so do those of the copies not yet committed.
            for (_, fc) in &inflight {
                if let Some(j) = fc.job() {
                    let _ = j.cancel();
                }
            }
            inflight.clear();
            batch.discard();
            return;
        }
        while inflight.len() < opts.copies_in_flight && !backoff {
            let Some(task) = queue.pop_front() else { break };
            let mut fc = match FileCopy::begin(&task.src, &task.dst, &copy_opts) {
                Ok(fc) => fc,
                Err(e) => {
                    out.file_done(&task, Err(e), opts.no_clobber);
                    continue;
                }
            };
            match fc.submit(dev) {
                Ok(_) => inflight.push((task, fc)),
                Err(e) if error_errno(&e) == Some(libc::EAGAIN) => {
                    // The user's job limit: wait for one of ours to end.
                    queue.push_front(task);
                    backoff = true;
                }
                Err(e) => out.file_done(&task, Err(e), opts.no_clobber),
            }
        }
        if inflight.is_empty() {
            // Nothing in flight to wait for.
            batch.commit(opts, out);
            if queue.is_empty() {
                return;
            }
            // Other processes hold every job slot.
            std::thread::sleep(Duration::from_millis(20));
            backoff = false;
            continue;
        }
        let mut fds: Vec<libc::pollfd> = inflight
            .iter()
            .map(|(_, fc)| libc::pollfd {
                fd: fc.job().map_or(-1, |j| j.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        match sys::poll(&mut fds, 100) {
            Ok(_) => {}
            // A signal: the top of the loop notices it.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Anything else would come back at once, every time: give up on what is left.
            Err(e) => {
                let e = io::Error::new(e.kind(), format!("poll: {}", errtext(&e)));
                // The copied files are complete: they still go in.
                batch.commit(opts, out);
                let (inflight, queue) = (std::mem::take(&mut inflight), std::mem::take(&mut queue));
                return fail_remaining(inflight, queue, &e, opts, out);
            }
        }
        for i in (0..fds.len()).rev() {
            if fds[i].revents != 0 {
                let (task, fc) = inflight.swap_remove(i);
                batch.push(task, fc);
                backoff = false;
            }
        }
        if batch.due() {
            batch.commit(opts, out);
        }
        let running: u64 = inflight
            .iter()
            .filter_map(|(_, fc)| fc.job().and_then(|j| j.status().ok()).map(|s| s.copied))
            .sum();
        out.draw_progress(batch.bytes + running);
    }
}

/// Copies on one io_uring: up to [`Options::copies_in_flight`] copies in flight (the ring's
/// capacity), each known by a token, and one wait for all of them. A completed copy's file
/// joins the batch, which is committed as in [`run_module`]. On a signal every copy is
/// cancelled and waited for (a copy stops at its next chunk) before the files go.
pub(crate) fn run_ring(
    ring: &mut CopyRing,
    tasks: Vec<FileTask>,
    opts: &Options,
    out: &mut Outcome,
) {
    let copy_opts = copy_options(opts);
    let mut queue: VecDeque<FileTask> = tasks.into();
    // By token, which is the order of submission.
    let mut inflight: BTreeMap<u64, (FileTask, FileCopy)> = BTreeMap::new();
    let mut batch = Batch::new(opts.copies_in_flight);
    let max_in_flight = opts.copies_in_flight.min(ring.capacity());
    let mut next_token = 0u64;
    loop {
        if interrupted() {
            // Stop every copy before their files go.
            stop_ring(ring);
            inflight.clear();
            batch.discard();
            return;
        }
        while inflight.len() < max_in_flight {
            let Some(task) = queue.pop_front() else { break };
            let mut fc = match FileCopy::begin(&task.src, &task.dst, &copy_opts) {
                Ok(fc) => fc,
                Err(e) => {
                    out.file_done(&task, Err(e), opts.no_clobber);
                    continue;
                }
            };
            let token = next_token;
            next_token += 1;
            match fc.submit_ring(ring, token) {
                Ok(()) => {
                    inflight.insert(token, (task, fc));
                }
                Err(e) => out.file_done(&task, Err(e), opts.no_clobber),
            }
        }
        if inflight.is_empty() {
            batch.commit(opts, out);
            return;
        }
        match ring.wait(Some(Duration::from_millis(100))) {
            Ok(done) => {
                for c in done {
                    let Some((task, mut fc)) = inflight.remove(&c.token) else {
                        continue;
                    };
                    match fc.ring_completed(c) {
                        Ok(()) => batch.push(task, fc),
                        Err(e) => out.file_done(&task, Err(e), opts.no_clobber),
                    }
                }
            }
            Err(e) => {
                let e = io::Error::new(e.kind(), format!("io_uring: {}", errtext(&e)));
                stop_ring(ring);
                batch.commit(opts, out);
                let inflight = std::mem::take(&mut inflight).into_values().collect();
                return fail_remaining(inflight, std::mem::take(&mut queue), &e, opts, out);
            }
        }
        if batch.due() {
            batch.commit(opts, out);
        }
        let running: u64 = inflight.keys().filter_map(|&t| ring.copied(t)).sum();
        out.draw_progress(batch.bytes + running);
    }
}

/// Cancels every copy on the ring and waits until each has stopped, so that none still
/// writes once its file is discarded. If the wait fails, copies may run on into their
/// discarded files (the ring holds its own descriptors of them) until they end.
fn stop_ring(ring: &mut CopyRing) {
    let _ = ring.cancel_all();
    let _ = ring.drain();
}

/// Ends the module loop after an error that stops it: every job in flight is cancelled
/// and its unfinished destination discarded (dropping a [`FileCopy`] closes its job, which
/// waits for the job to stop, then drops the unnamed or hidden file), and every file not
/// copied, in flight or still queued, is reported as failed with `e`.
fn fail_remaining(
    inflight: Vec<(FileTask, FileCopy)>,
    queue: VecDeque<FileTask>,
    e: &io::Error,
    opts: &Options,
    out: &mut Outcome,
) {
    for (_, fc) in &inflight {
        if let Some(j) = fc.job() {
            let _ = j.cancel();
        }
    }
    let not_copied = inflight
        .into_iter()
        .map(|(task, fc)| {
            drop(fc);
            task
        })
        .chain(queue);
    for task in not_copied {
        out.file_done(
            &task,
            Err(io::Error::new(e.kind(), errtext(e))),
            opts.no_clobber,
        );
    }
}

/// Copies with synchronous calls: [`Options::copies_in_flight`] threads, each running
/// whole-file copies, with the module's synchronous copies when `dev` is given
/// ([`FileCopy::run_sync`]), else through the library's fallback paths, and handing the
/// copied files over a channel to this thread,
/// which commits them in batches: when full, when one has waited [`BATCH_WAIT`], and at the
/// end. The channel holds as many copies as there are threads at most, so a thread that finishes while a batch is
/// being committed waits, and the descriptors held stay bounded.
pub(crate) fn run_threads(
    dev: Option<&CopyRange>,
    tasks: Vec<FileTask>,
    opts: &Options,
    out: &mut Outcome,
) {
    // One more handle on the device, shared by the threads.
    let dev = match dev.map(CopyRange::try_clone).transpose() {
        Ok(dev) => dev.map(Arc::new),
        Err(e) => {
            let e = io::Error::new(
                e.kind(),
                format!("{}: {}", copy_range::DEVICE_PATH, errtext(&e)),
            );
            return fail_remaining(Vec::new(), tasks.into(), &e, opts, out);
        }
    };
    let cancel = cancel_token();
    let mut copy_opts = copy_options(opts);
    copy_opts.use_module = false;
    let nthreads = opts.copies_in_flight.min(tasks.len()).max(1);
    let queue = Arc::new(Mutex::new(VecDeque::from(tasks)));
    let running = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::sync_channel::<(FileTask, io::Result<FileCopy>)>(nthreads);
    let mut batch = Batch::new(nthreads);
    let mut workers = Vec::new();
    for _ in 0..nthreads {
        let (queue, running, tx, copy_opts, cancel, dev) = (
            queue.clone(),
            running.clone(),
            tx.clone(),
            copy_opts.clone(),
            cancel.clone(),
            dev.clone(),
        );
        workers.push(std::thread::spawn(move || loop {
            let Some(task) = queue.lock().unwrap().pop_front() else {
                break;
            };
            if cancel.is_cancelled() {
                break;
            }
            let last = Arc::new(AtomicU64::new(0));
            let mut o = copy_opts.clone();
            let (l, r) = (last.clone(), running.clone());
            o.progress = Some(Arc::new(move |p: copy_range::Progress| {
                let prev = l.swap(p.copied, Ordering::Relaxed);
                if p.copied >= prev {
                    r.fetch_add(p.copied - prev, Ordering::Relaxed);
                } else {
                    r.fetch_sub(prev - p.copied, Ordering::Relaxed);
                }
            }));
            let res = FileCopy::begin(&task.src, &task.dst, &o).and_then(|mut fc| {
                match &dev {
                    Some(dev) => fc.run_sync(dev)?,
                    None => fc.run(None)?,
                }
                Ok(fc)
            });
            // Counted as running until the batch has it.
            let sent = tx.send((task, res));
            running.fetch_sub(last.load(Ordering::Relaxed), Ordering::Relaxed);
            if sent.is_err() {
                break;
            }
        }));
    }
    drop(tx);
    loop {
        if interrupted() {
            cancel.cancel();
            // Copied but not committed: discarded, as a copy in flight is.
            batch.discard();
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok((task, Ok(fc))) if !interrupted() => batch.push(task, fc),
            Ok((_, Ok(_))) => {}
            Ok((task, Err(e))) => out.file_done(&task, Err(e), opts.no_clobber),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                if !interrupted() {
                    batch.commit(opts, out);
                }
                break;
            }
        }
        if batch.due() && !interrupted() {
            batch.commit(opts, out);
        }
        out.draw_progress(batch.bytes + running.load(Ordering::Relaxed));
    }
    batch.discard();
    for w in workers {
        let _ = w.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{fs, path::PathBuf};

    #[test]
    fn batches_fit_the_descriptor_limit() {
        assert_eq!(batch_limit(1024, 16), BATCH_FILES);
        assert_eq!(batch_limit(1 << 20, 16), BATCH_FILES);
        // 256 descriptors: 48 copies, 32 of them in flight or handed over.
        assert_eq!(batch_limit(256, 16), 16);
        assert_eq!(batch_limit(64, 16), 1);
        assert_eq!(batch_limit(0, 1000), 1);
    }

    #[test]
    fn threads_commit_every_file_in_batches() {
        let dir = std::env::temp_dir().join(format!("crcp-unit-{}-batches", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("s")).unwrap();
        fs::create_dir(dir.join("d")).unwrap();
        // More files than a batch holds, and under -n some destinations already there.
        let n = BATCH_FILES * 2 + 7;
        let tasks: Vec<FileTask> = (0..n)
            .map(|i| {
                let src = dir.join(format!("s/{i}"));
                fs::write(&src, vec![i as u8; i * 10]).unwrap();
                FileTask {
                    src,
                    dst: dir.join(format!("d/{i}")),
                    size: i as u64 * 10,
                }
            })
            .collect();
        for i in (0..n).step_by(10) {
            fs::write(dir.join(format!("d/{i}")), b"old").unwrap();
        }
        let opts = Options::for_tests(&["-n", "-j", "4", "a", "b"]);
        let mut out = Outcome::for_tests();
        run_threads(None, tasks, &opts, &mut out);
        assert!(!out.failed(), "-n skips silently");
        assert_eq!(out.counts.files_done, n as u64);
        assert_eq!(
            out.counts.bytes_done,
            (0..n as u64).map(|i| i * 10).sum::<u64>()
        );
        for i in 0..n {
            let got = fs::read(dir.join(format!("d/{i}"))).unwrap();
            if i % 10 == 0 {
                assert_eq!(got, b"old");
            } else {
                assert_eq!(got, vec![i as u8; i * 10], "{i}");
            }
        }
        assert_eq!(fs::read_dir(dir.join("d")).unwrap().count(), n);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failing_the_remaining_copies_leaves_no_destination() {
        let dir = std::env::temp_dir().join(format!("crcp-unit-{}-fail", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        let task = |i: usize| {
            let src = dir.join(format!("s{i}"));
            fs::write(&src, vec![7u8; 100 * i]).unwrap();
            FileTask {
                src,
                dst: dir.join(format!("d{i}")),
                size: 100 * i as u64,
            }
        };
        let opts = Options::for_tests(&["a", "b"]);
        let mut copy_opts = copy_options(&opts);
        copy_opts.use_module = false;
        // Hidden names, which only a proper discard removes.
        copy_opts.unnamed_temp = false;
        let inflight: Vec<(FileTask, FileCopy)> = (1..3)
            .map(|i| {
                let t = task(i);
                let fc = FileCopy::begin(&t.src, &t.dst, &copy_opts).unwrap();
                (t, fc)
            })
            .collect();
        let queue: VecDeque<FileTask> = (3..5).map(task).collect();
        let mut out = Outcome::for_tests();
        let e = io::Error::from_raw_os_error(libc::ENOMEM);
        fail_remaining(inflight, queue, &e, &opts, &mut out);
        assert!(out.failed());
        assert_eq!((out.counts.files_done, out.counts.bytes_done), (4, 1000));
        let mut names: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into())
            .collect();
        names.sort();
        assert_eq!(names, ["s1", "s2", "s3", "s4"].map(PathBuf::from));
        fs::remove_dir_all(&dir).unwrap();
    }
}
