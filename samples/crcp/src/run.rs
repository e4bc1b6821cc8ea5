// SPDX-License-Identifier: GPL-2.0

//! Copying the planned files: with the module, jobs kept in flight by one poll(2) loop;
//! without it, the library's fallback in worker threads. Both draw the progress bar, stop
//! on a signal, and hand each file's outcome to [`Crcp::finish`]. If poll(2) itself fails
//! (other than `EINTR`), the files not yet copied fail, their jobs cancelled.

use crate::{
    plan::FileTask,
    progress::Counts,
    report::{errtext, file_message},
    signals::interrupted,
    Crcp,
};
use copy_range::{
    error_errno, error_stage, CancelToken, CopyOptions, CopyRange, CopyReport, Create, FileCopy,
    Stage,
};
use std::{
    collections::VecDeque,
    io,
    os::fd::AsRawFd,
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc, Arc, Mutex,
    },
    time::Duration,
};

impl Crcp {
    /// The library's options for each file, from the command line's.
    fn copy_options(&self) -> CopyOptions {
        CopyOptions {
            reflink: self.o.reflink,
            create: if self.o.no_clobber {
                Create::Exclusive
            } else {
                Create::Replace
            },
            preserve: self.o.preserve,
            use_module: !self.o.no_module,
            ..CopyOptions::default()
        }
    }

    /// Reports one file's outcome.
    fn finish(&mut self, task: &FileTask, r: io::Result<CopyReport>) {
        match r {
            Ok(rep) => self.stats.record(rep),
            Err(e) => {
                let errno = error_errno(&e);
                if errno == Some(libc::ECANCELED) && interrupted() {
                    return;
                }
                let stage = error_stage(&e);
                if self.o.no_clobber
                    && errno == Some(libc::EEXIST)
                    && matches!(stage, Some(Stage::CreateDestination) | Some(Stage::Link))
                {
                    return;
                }
                self.error(file_message(&task.src, &task.dst, &e));
            }
        }
    }
}

/// Copies with module jobs: up to `jobs` in flight, one poll(2) loop over their descriptors.
pub(crate) fn run_module(c: &mut Crcp, dev: &CopyRange, tasks: Vec<FileTask>, counts: &mut Counts) {
    let opts = c.copy_options();
    let mut queue: VecDeque<FileTask> = tasks.into();
    let mut inflight: Vec<(FileTask, FileCopy)> = Vec::new();
    let mut backoff = false;
    loop {
        if interrupted() {
            // Cancel every job at once, then close them all (each close waits for its
            // worker to stop); the unnamed destinations vanish with their descriptors.
            for (_, fc) in &inflight {
                if let Some(j) = fc.job() {
                    let _ = j.cancel();
                }
            }
            inflight.clear();
            return;
        }
        while inflight.len() < c.o.jobs && !backoff {
            let Some(task) = queue.pop_front() else { break };
            let mut fc = match FileCopy::begin(&task.src, &task.dst, &opts) {
                Ok(fc) => fc,
                Err(e) => {
                    c.finish(&task, Err(e));
                    counts.files_done += 1;
                    counts.bytes_done += task.size;
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
                Err(e) => {
                    c.finish(&task, Err(e));
                    counts.files_done += 1;
                    counts.bytes_done += task.size;
                }
            }
        }
        if inflight.is_empty() {
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
        match poll_jobs(&mut fds, 100) {
            Ok(_) => {}
            // A signal: the top of the loop notices it.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Anything else would come back at once, every time: give up on what is left.
            Err(e) => {
                let e = io::Error::new(e.kind(), format!("poll: {}", errtext(&e)));
                let (inflight, queue) = (std::mem::take(&mut inflight), std::mem::take(&mut queue));
                return fail_remaining(c, inflight, queue, counts, &e);
            }
        }
        for i in (0..fds.len()).rev() {
            if fds[i].revents != 0 {
                let (task, fc) = inflight.swap_remove(i);
                let r = fc.commit();
                c.finish(&task, r);
                counts.files_done += 1;
                counts.bytes_done += task.size;
                backoff = false;
            }
        }
        let running: u64 = inflight
            .iter()
            .filter_map(|(_, fc)| fc.job().and_then(|j| j.status().ok()).map(|s| s.copied))
            .sum();
        c.bar.draw(
            &Counts {
                bytes_done: counts.bytes_done + running,
                ..*counts
            },
            false,
        );
    }
}

/// `poll(2)` on the jobs' descriptors for up to `timeout_ms`: how many are ready, or the
/// error (`EINTR` included).
fn poll_jobs(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `fds` is a valid array of pollfds for its length.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Ends the module loop after an error that stops it: every job in flight is cancelled
/// and its unfinished destination discarded (dropping a [`FileCopy`] closes its job, which
/// waits for the job to stop, then drops the unnamed or hidden file), and every file not
/// copied, in flight or still queued, is reported as failed with `e`.
fn fail_remaining(
    c: &mut Crcp,
    inflight: Vec<(FileTask, FileCopy)>,
    queue: VecDeque<FileTask>,
    counts: &mut Counts,
    e: &io::Error,
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
        c.finish(&task, Err(io::Error::new(e.kind(), errtext(e))));
        counts.files_done += 1;
        counts.bytes_done += task.size;
    }
}

/// Copies without the module: `jobs` threads, each running whole-file copies through the
/// library's fallback paths; results come back over a channel to this thread.
pub(crate) fn run_threads(c: &mut Crcp, tasks: Vec<FileTask>, counts: &mut Counts) {
    let cancel = CancelToken::new();
    let mut opts = c.copy_options();
    opts.use_module = false;
    opts.cancel = Some(cancel.clone());
    let nthreads = c.o.jobs.min(tasks.len()).max(1);
    let queue = Arc::new(Mutex::new(VecDeque::from(tasks)));
    let running = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::channel::<(FileTask, io::Result<CopyReport>)>();
    let mut workers = Vec::new();
    for _ in 0..nthreads {
        let (queue, running, tx, opts, cancel) = (
            queue.clone(),
            running.clone(),
            tx.clone(),
            opts.clone(),
            cancel.clone(),
        );
        workers.push(std::thread::spawn(move || loop {
            let Some(task) = queue.lock().unwrap().pop_front() else {
                break;
            };
            if cancel.is_cancelled() {
                break;
            }
            let last = Arc::new(AtomicU64::new(0));
            let mut o = opts.clone();
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
                fc.run(None)?;
                fc.commit()
            });
            running.fetch_sub(last.load(Ordering::Relaxed), Ordering::Relaxed);
            if tx.send((task, res)).is_err() {
                break;
            }
        }));
    }
    drop(tx);
    loop {
        if interrupted() {
            cancel.cancel();
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok((task, r)) => {
                c.finish(&task, r);
                counts.files_done += 1;
                counts.bytes_done += task.size;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        c.bar.draw(
            &Counts {
                bytes_done: counts.bytes_done + running.load(Ordering::Relaxed),
                ..*counts
            },
            false,
        );
    }
    for w in workers {
        let _ = w.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{fs, path::PathBuf};

    #[test]
    fn poll_errors_are_returned() {
        let mut none = [libc::pollfd {
            fd: -1,
            events: libc::POLLIN,
            revents: 0,
        }];
        assert_eq!(poll_jobs(&mut none, 0).unwrap(), 0);
        // More descriptors than RLIMIT_NOFILE: EINVAL, every time.
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: A plain system call filling `lim`.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        if lim.rlim_cur > 1 << 22 {
            eprintln!("skipped: RLIMIT_NOFILE too large to exceed");
            return;
        }
        let mut many = vec![none[0]; lim.rlim_cur as usize + 1];
        let e = poll_jobs(&mut many, 0).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
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
        let mut c = Crcp::for_tests(&["a", "b"]);
        let mut opts = c.copy_options();
        opts.use_module = false;
        // Hidden names, which only a proper discard removes.
        opts.unnamed_temp = false;
        let inflight: Vec<(FileTask, FileCopy)> = (1..3)
            .map(|i| {
                let t = task(i);
                let fc = FileCopy::begin(&t.src, &t.dst, &opts).unwrap();
                (t, fc)
            })
            .collect();
        let queue: VecDeque<FileTask> = (3..5).map(task).collect();
        let mut counts = Counts::default();
        let e = io::Error::from_raw_os_error(libc::ENOMEM);
        fail_remaining(&mut c, inflight, queue, &mut counts, &e);
        assert!(c.failed);
        assert_eq!((counts.files_done, counts.bytes_done), (4, 1000));
        let mut names: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into())
            .collect();
        names.sort();
        assert_eq!(names, ["s1", "s2", "s3", "s4"].map(PathBuf::from));
        fs::remove_dir_all(&dir).unwrap();
    }
}
