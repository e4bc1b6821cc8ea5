// SPDX-License-Identifier: GPL-2.0

//! Copies through io_uring: [`CopyRing`] keeps many copies in flight on one ring, each an
//! `IORING_OP_URING_CMD` request to `/dev/copy_range` (`COPY_RANGE_URING_CMD_COPY` or
//! `COPY_RANGE_URING_CMD_COPYV`) known by a token of the caller's, and resumed after short
//! counts until its whole range is done. One thread waits for all of them.

use crate::{errors::errno, sys, CopyRange, Segment, Sharing};
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use std::{
    collections::HashMap,
    fmt, io,
    mem::offset_of,
    os::fd::{AsFd, AsRawFd, OwnedFd},
    time::{Duration, Instant},
};

/// Segments one vector request carries at most; a longer vector goes in several requests.
const MAX_SEGS: usize = sys::COPY_RANGE_VEC_MAX_SEGS as usize;

/// Bytes of the command area of a 128-byte SQE.
const CMD_BYTES: usize = 80;

/// The `user_data` bit of the ring's own requests (cancels, the probe): their completions
/// are nobody's copy.
const OWN: u64 = 1 << 63;

/// The `user_data` of the probe.
const PROBE: u64 = OWN | 1;

/// A slot's generation is kept to 31 bits, below [`OWN`].
const GEN_MASK: u32 = 0x7fff_ffff;

/// The `user_data` of a copy's request: its slot in the table and the slot's generation, so
/// that a cancel that arrives late can never stop a later copy in the same slot.
fn request_data(slot: usize, gen: u32) -> u64 {
    (u64::from(gen & GEN_MASK) << 32) | slot as u64
}

/// The slot and generation in a copy's `user_data` (see [`request_data`]).
fn slot_of(user_data: u64) -> (usize, u32) {
    (
        (user_data & 0xffff_ffff) as usize,
        (user_data >> 32) as u32 & GEN_MASK,
    )
}

/// Stores `bytes` at `off` in a command area.
fn put(cmd: &mut [u8; CMD_BYTES], off: usize, bytes: &[u8]) {
    cmd[off..off + bytes.len()].copy_from_slice(bytes);
}

/// The command area of `COPY_RANGE_URING_CMD_COPY`: a `struct copy_range_args`, field by field
/// at the offsets of its C layout.
fn copy_cmd(args: &sys::copy_range_args) -> [u8; CMD_BYTES] {
    type A = sys::copy_range_args;
    let mut cmd = [0u8; CMD_BYTES];
    put(&mut cmd, offset_of!(A, src_fd), &args.src_fd.to_ne_bytes());
    put(&mut cmd, offset_of!(A, dst_fd), &args.dst_fd.to_ne_bytes());
    put(
        &mut cmd,
        offset_of!(A, src_off),
        &args.src_off.to_ne_bytes(),
    );
    put(
        &mut cmd,
        offset_of!(A, dst_off),
        &args.dst_off.to_ne_bytes(),
    );
    put(&mut cmd, offset_of!(A, len), &args.len.to_ne_bytes());
    put(&mut cmd, offset_of!(A, flags), &args.flags.to_ne_bytes());
    put(&mut cmd, offset_of!(A, copied), &args.copied.to_ne_bytes());
    cmd
}

/// Drops from `segs` what a vector request copied: `done` whole segments, and `copied` bytes
/// in all, of which those past the whole segments are the start of the next one.
fn advance(segs: &mut Vec<Segment>, done: u32, copied: u64) {
    let done = (done as usize).min(segs.len());
    let whole: u64 = segs[..done].iter().map(|s| s.len).sum();
    segs.drain(..done);
    if let Some(s) = segs.first_mut() {
        let part = copied.saturating_sub(whole).min(s.len);
        s.src_off = s.src_off.wrapping_add(part);
        s.dst_off = s.dst_off.wrapping_add(part);
        s.len -= part;
    }
}

/// What a copy on the ring copies.
enum Work {
    /// One range; what is left of it starts `copied` bytes in.
    Range {
        src_off: u64,
        dst_off: u64,
        len: u64,
    },
    /// Segments: what is left of them (the first may be cut at the front), and the
    /// `struct copy_range_vec` that the request in flight points at, which the kernel reads
    /// and writes back to. Neither is touched while a request is in flight.
    Vec {
        segs: Vec<Segment>,
        args: Box<sys::copy_range_vec>,
    },
}

/// One copy in flight.
struct Op {
    token: u64,
    gen: u32,
    /// The ring's own duplicates of the caller's descriptors, whose numbers go in the requests.
    src: OwnedFd,
    dst: OwnedFd,
    flags: u64,
    work: Work,
    /// Bytes copied by the requests completed so far.
    copied: u64,
    /// Requests completed so far.
    requests: u32,
    /// Whether [`CopyRing::cancel`] asked it to stop.
    cancelled: bool,
}

/// A finished copy of a [`CopyRing`]: complete, failed or cancelled.
#[derive(Debug)]
pub struct RingCompletion {
    /// The token the copy was submitted with.
    pub token: u64,
    /// Bytes copied in all: the whole range (or, for a vector, the sum of its segments) when
    /// complete, less where the source ended first; after an error or a cancel, exactly the
    /// bytes copied before it (the destination holds them, the rest is as it was).
    pub copied: u64,
    /// Why the copy stopped short: the module's error as the ioctl would give it (an OS
    /// error), or `ECANCELED` after [`CopyRing::cancel`]. `None` when complete.
    pub error: Option<io::Error>,
    /// The requests it took: more than one where a request came back short (the module's
    /// cap of just under 2 GiB a call, or [`CopyRing::set_max_request`]) or a vector held
    /// more than `COPY_RANGE_VEC_MAX_SEGS` segments.
    pub requests: u32,
}

impl RingCompletion {
    /// Whether the copy is complete: the whole range, or up to the source's end of file.
    pub fn is_complete(&self) -> bool {
        self.error.is_none()
    }

    /// The outcome as a `Result`: the bytes copied, or the error.
    pub fn into_result(self) -> io::Result<u64> {
        match self.error {
            None => Ok(self.copied),
            Some(e) => Err(e),
        }
    }
}

/// Many copies in flight through io_uring on one `/dev/copy_range`.
///
/// Each [`copy`](Self::copy) or [`copy_vec`](Self::copy_vec) is one copy, known by a token of
/// the caller's (any `u64`, unique among the copies in flight). The ring sends it to the
/// module as `IORING_OP_URING_CMD` requests, where an io-wq worker of this process copies
/// with this process's credentials and file-size limit. A short count is resumed where it
/// stopped, so a copy completes only when its whole range is done (or the source ends: a
/// count of 0); [`wait`](Self::wait) returns each finished copy once, as a
/// [`RingCompletion`] with the caller's token. [`cancel`](Self::cancel) stops one copy at its
/// next chunk, with an exact count.
///
/// The module looks a copy's descriptors up by number when it runs the copy, in a worker,
/// maybe much later, so the ring holds its own duplicates of them until the copy completes
/// (two descriptors per copy in flight): the caller may close its own at any time, and a
/// number reused meanwhile never names another file to the copy.
///
/// Requests are handed to the kernel by [`submit`](Self::submit), [`wait`](Self::wait),
/// [`cancel`](Self::cancel), and whenever the submission queue fills.
///
/// Dropping the ring cancels every copy in flight and waits for each to stop (at most a
/// chunk each) before the memory they use is freed.
pub struct CopyRing {
    ring: IoUring<squeue::Entry128, cqueue::Entry>,
    dev: OwnedFd,
    /// Copies in flight by slot, and the slots' generations.
    ops: Vec<Option<Op>>,
    gens: Vec<u32>,
    free: Vec<usize>,
    /// Slots by token.
    tokens: HashMap<u64, usize>,
    /// Finished copies not yet returned by [`wait`](Self::wait).
    ready: Vec<RingCompletion>,
    /// Copies in flight at most.
    capacity: usize,
    /// Bytes one request of a ranged copy asks for at most.
    max_request: u64,
}

impl fmt::Debug for CopyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CopyRing")
            .field("dev", &self.dev)
            .field("in_flight", &self.in_flight())
            .field("capacity", &self.capacity)
            .field("max_request", &self.max_request)
            .finish_non_exhaustive()
    }
}

/// What the probe's result says: `Ok` for `EBADF`, the answer of a module with the
/// commands to a copy between two invalid descriptors. Otherwise its error: io_uring without
/// `IORING_OP_URING_CMD` (`EINVAL`), a file without `->uring_cmd`, such as a module built
/// without it (`EOPNOTSUPP`), or one that does not know the command (`ENOTTY`); any other
/// answer comes from some other file (`/dev/null` takes every command and returns 0), and is
/// `EOPNOTSUPP` too.
fn probe_answer(res: i32) -> io::Result<()> {
    match -res {
        libc::EBADF => Ok(()),
        e @ (libc::EINVAL | libc::ENOTTY) => Err(errno(e)),
        _ => Err(errno(libc::EOPNOTSUPP)),
    }
}

impl CopyRing {
    /// A ring for up to `capacity` copies in flight on `dev`, or the reason there can be none:
    /// the kernel has no io_uring (`ENOSYS`), it is disabled (`EPERM`, sysctl
    /// `kernel.io_uring_disabled`), too old for 128-byte SQEs (`EINVAL`) or for timed waits
    /// (`ENOSYS`), or the module takes no io_uring commands (`EOPNOTSUPP`). Any error means:
    /// use [`Job`](crate::Job)s or synchronous copies instead.
    ///
    /// The ring is probed once, here, with a copy between two invalid descriptors, which a
    /// module with the commands refuses with `EBADF` and copies nothing.
    pub fn new(dev: &CopyRange, capacity: u32) -> io::Result<Self> {
        Self::with_device(dev.file().as_fd().try_clone_to_owned()?, capacity)
    }

    /// [`new`](Self::new), for a `/dev/copy_range` opened some other way (passed in by a
    /// parent, say). The ring keeps `dev`. Any other file fails the probe (`EOPNOTSUPP` for
    /// a file without `->uring_cmd`).
    pub fn with_device(dev: OwnedFd, capacity: u32) -> io::Result<Self> {
        let capacity = capacity.max(1);
        let ring = IoUring::<squeue::Entry128, cqueue::Entry>::builder()
            .dontfork()
            .setup_submit_all()
            .build(capacity)?;
        let mut ring = Self {
            ring,
            dev,
            ops: Vec::new(),
            gens: Vec::new(),
            free: Vec::new(),
            tokens: HashMap::new(),
            ready: Vec::new(),
            capacity: capacity as usize,
            max_request: u64::MAX,
        };
        ring.probe()?;
        Ok(ring)
    }

    /// The probe of [`new`](Self::new): `Ok` if the module answers a uring command.
    fn probe(&mut self) -> io::Result<()> {
        if !self.ring.params().is_feature_ext_arg() {
            // Before 5.11: no timed waits. (No such kernel has SQE128 anyway.)
            return Err(errno(libc::ENOSYS));
        }
        let args = sys::copy_range_args {
            src_fd: -1,
            dst_fd: -1,
            ..Default::default()
        };
        let sqe = opcode::UringCmd80::new(
            types::Fd(self.dev.as_raw_fd()),
            sys::COPY_RANGE_URING_CMD_COPY,
        )
        .cmd(copy_cmd(&args))
        .build()
        .user_data(PROBE);
        self.push(&sqe)?;
        loop {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if let Some(cqe) = self.ring.completion().find(|c| c.user_data() == PROBE) {
                return probe_answer(cqe.result());
            }
        }
    }

    /// Copies in flight at most: [`copy`](Self::copy) fails with `EBUSY` beyond.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Copies in flight: submitted, and not yet returned by [`wait`](Self::wait).
    pub fn in_flight(&self) -> usize {
        self.tokens.len()
    }

    /// Bounds the bytes one request of a ranged copy asks for (default: no bound but the
    /// module's, just under 2 GiB a request). Smaller requests mean finer
    /// [`copied`](Self::copied) progress; a cancel stops a copy at its next chunk either way.
    /// Takes effect from each copy's next request.
    pub fn set_max_request(&mut self, bytes: u64) {
        self.max_request = bytes.max(1);
    }

    /// Whether a copy with this token is in flight.
    pub fn contains(&self, token: u64) -> bool {
        self.tokens.contains_key(&token)
    }

    /// Bytes copied so far by the copy with this token, counted when each of its requests
    /// completes; `None` if no such copy is in flight.
    pub fn copied(&self, token: u64) -> Option<u64> {
        let slot = *self.tokens.get(&token)?;
        self.ops[slot].as_ref().map(|op| op.copied)
    }

    /// Starts a copy of `len` bytes from `src` at `src_off` to `dst` at `dst_off` with the
    /// `sharing` policy, known by `token`. It completes when the whole range is copied, or
    /// at the source's end of file: `len` may be `u64::MAX` for "to the end". The checks and
    /// errors are those of [`CopyRange::copy`], reported in the completion. `EEXIST`: a copy
    /// with this token is in flight; `EBUSY`: [`capacity`](Self::capacity) copies are.
    ///
    /// The ring duplicates `src` and `dst` (`EMFILE` if it cannot) and holds them until the
    /// copy completes.
    #[allow(clippy::too_many_arguments)]
    pub fn copy(
        &mut self,
        token: u64,
        src: &impl AsFd,
        src_off: u64,
        dst: &impl AsFd,
        dst_off: u64,
        len: u64,
        sharing: Sharing,
    ) -> io::Result<()> {
        let work = Work::Range {
            src_off,
            dst_off,
            len,
        };
        self.start(token, src, dst, sharing.flags(), work)
    }

    /// Starts a vector copy of `segs` from `src` to `dst`, known by `token`: the segments are
    /// copied in order, as by [`CopyRange::copy_vec`], and a short count is resumed; the copy
    /// ends at the first segment that the source's end cuts short, or when every segment is
    /// done. Any number of segments: more than `COPY_RANGE_VEC_MAX_SEGS` go in several
    /// requests (the module then checks the overlap of destination ranges per request only).
    /// Errors as for [`copy`](Self::copy); the descriptors are held as there.
    pub fn copy_vec(
        &mut self,
        token: u64,
        src: &impl AsFd,
        dst: &impl AsFd,
        segs: &[Segment],
        sharing: Sharing,
    ) -> io::Result<()> {
        let work = Work::Vec {
            segs: segs.to_vec(),
            args: Box::default(),
        };
        self.start(token, src, dst, sharing.flags(), work)
    }

    /// Takes a slot for a new copy and queues its first request.
    fn start(
        &mut self,
        token: u64,
        src: &impl AsFd,
        dst: &impl AsFd,
        flags: u64,
        work: Work,
    ) -> io::Result<()> {
        if self.tokens.contains_key(&token) {
            return Err(errno(libc::EEXIST));
        }
        if self.in_flight() >= self.capacity {
            return Err(errno(libc::EBUSY));
        }
        let src = src.as_fd().try_clone_to_owned()?;
        let dst = dst.as_fd().try_clone_to_owned()?;
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.ops.push(None);
                self.gens.push(0);
                self.ops.len() - 1
            }
        };
        self.gens[slot] = self.gens[slot].wrapping_add(1) & GEN_MASK;
        self.ops[slot] = Some(Op {
            token,
            gen: self.gens[slot],
            src,
            dst,
            flags,
            work,
            copied: 0,
            requests: 0,
            cancelled: false,
        });
        self.tokens.insert(token, slot);
        if let Err(e) = self.issue(slot) {
            self.ops[slot] = None;
            self.tokens.remove(&token);
            self.free.push(slot);
            return Err(e);
        }
        Ok(())
    }

    /// Queues the next request of the copy in `slot`: what is left of its range or segments.
    fn issue(&mut self, slot: usize) -> io::Result<()> {
        let max_request = self.max_request;
        let dev = types::Fd(self.dev.as_raw_fd());
        let op = self.ops[slot].as_mut().expect("a copy in the slot");
        let (cmd_op, cmd) = match &mut op.work {
            Work::Range {
                src_off,
                dst_off,
                len,
            } => {
                let args = sys::copy_range_args {
                    src_fd: op.src.as_raw_fd(),
                    dst_fd: op.dst.as_raw_fd(),
                    src_off: src_off.wrapping_add(op.copied),
                    dst_off: dst_off.wrapping_add(op.copied),
                    len: (*len - op.copied).min(max_request),
                    flags: op.flags,
                    copied: 0,
                };
                (sys::COPY_RANGE_URING_CMD_COPY, copy_cmd(&args))
            }
            Work::Vec { segs, args } => {
                **args = sys::copy_range_vec {
                    src_fd: op.src.as_raw_fd(),
                    dst_fd: op.dst.as_raw_fd(),
                    flags: op.flags,
                    segs: segs.as_ptr() as u64,
                    nr_segs: segs.len().min(MAX_SEGS) as u32,
                    done_segs: 0,
                    copied: 0,
                };
                let mut cmd = [0u8; CMD_BYTES];
                let ptr: *mut sys::copy_range_vec = &mut **args;
                put(&mut cmd, 0, &(ptr as u64).to_ne_bytes());
                (sys::COPY_RANGE_URING_CMD_COPYV, cmd)
            }
        };
        let sqe = opcode::UringCmd80::new(dev, cmd_op)
            .cmd(cmd)
            .build()
            .user_data(request_data(slot, op.gen));
        self.push(&sqe)
    }

    /// Puts an entry on the submission queue, handing the queue to the kernel first if full.
    fn push(&mut self, sqe: &squeue::Entry128) -> io::Result<()> {
        loop {
            // SAFETY: What an entry points to outlives its request. A ranged copy's entry
            // holds its arguments inline (its descriptors are the op's own, open until the
            // op ends). A vector copy's entry points at the op's boxed
            // `copy_range_vec`, which points at the op's segment array; neither is moved,
            // changed or freed until the request's completion is reaped (`complete`), and
            // `Drop` waits for every completion, or leaks the op when it cannot. Cancels and
            // the probe point at nothing.
            if unsafe { self.ring.submission().push(sqe) }.is_ok() {
                return Ok(());
            }
            self.submit()?;
        }
    }

    /// Hands every queued request to the kernel, without waiting.
    pub fn submit(&mut self) -> io::Result<()> {
        loop {
            match self.ring.submit() {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The completion queue is full (no such kernel has SQE128, but cheap to
                // handle): make room.
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => self.reap()?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Asks the copy known by `token` to stop (`IORING_OP_ASYNC_CANCEL`): the module stops at
    /// its next chunk, and its completion has an exact `copied` and `ECANCELED`, unless it had
    /// completed anyway. `Ok(false)` if no copy with this token is in flight (it may have
    /// finished: its completion is then returned, or was, by [`wait`](Self::wait)).
    pub fn cancel(&mut self, token: u64) -> io::Result<bool> {
        let Some(&slot) = self.tokens.get(&token) else {
            return Ok(false);
        };
        let op = self.ops[slot].as_mut().expect("a copy in the slot");
        if !op.cancelled {
            op.cancelled = true;
            let target = request_data(slot, op.gen);
            let sqe =
                squeue::Entry128::from(opcode::AsyncCancel::new(target).build().user_data(OWN));
            self.push(&sqe)?;
            self.submit()?;
        }
        Ok(true)
    }

    /// [`cancel`](Self::cancel)s every copy in flight.
    pub fn cancel_all(&mut self) -> io::Result<()> {
        let tokens: Vec<u64> = self.tokens.keys().copied().collect();
        for t in tokens {
            self.cancel(t)?;
        }
        Ok(())
    }

    /// Processes every completion posted: resumes copies that came back short, finishes the
    /// others into `ready`.
    fn reap(&mut self) -> io::Result<()> {
        loop {
            let cqes: Vec<(u64, i32)> = self
                .ring
                .completion()
                .map(|c| (c.user_data(), c.result()))
                .collect();
            if cqes.is_empty() {
                return Ok(());
            }
            for (user_data, res) in cqes {
                if user_data & OWN == 0 {
                    self.complete(user_data, res)?;
                }
            }
        }
    }

    /// A request of a copy has completed with `res`: the copy goes on or is finished.
    fn complete(&mut self, user_data: u64, res: i32) -> io::Result<()> {
        let (slot, gen) = slot_of(user_data);
        let Some(op) = self.ops.get_mut(slot).and_then(|o| o.as_mut()) else {
            return Ok(());
        };
        if op.gen != gen {
            return Ok(());
        }
        let cancelled = op.cancelled;
        op.requests += 1;
        let more = if res < 0 {
            match -res {
                // The ioctl's retry, as `copy_all` does it; not after a cancel.
                libc::EINTR if !cancelled => true,
                libc::EINTR => return self.finish(slot, Some(errno(libc::ECANCELED))),
                e => return self.finish(slot, Some(errno(e))),
            }
        } else {
            match &mut op.work {
                Work::Range { len, .. } => {
                    let n = (res as u64).min(*len - op.copied);
                    op.copied += n;
                    n > 0 && op.copied < *len
                }
                Work::Vec { segs, args } => {
                    let (done, copied) = (args.done_segs, args.copied);
                    op.copied += copied;
                    advance(segs, done, copied);
                    (copied > 0 || done > 0) && !segs.is_empty()
                }
            }
        };
        if !more {
            self.finish(slot, None)
        } else if cancelled {
            self.finish(slot, Some(errno(libc::ECANCELED)))
        } else {
            self.issue(slot)
        }
    }

    /// Ends the copy in `slot`: its completion goes to `ready`, its slot and token are free.
    fn finish(&mut self, slot: usize, error: Option<io::Error>) -> io::Result<()> {
        let op = self.ops[slot].take().expect("a copy in the slot");
        self.free.push(slot);
        self.tokens.remove(&op.token);
        self.ready.push(RingCompletion {
            token: op.token,
            copied: op.copied,
            error,
            requests: op.requests,
        });
        Ok(())
    }

    /// Hands the queued requests to the kernel and returns the copies that have finished: at
    /// least one, unless none is in flight, `timeout` (if any) passes first, or a signal
    /// interrupts the wait (then possibly none: check for the signal and call again). Each
    /// finished copy is returned once.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<Vec<RingCompletion>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            self.reap()?;
            if !self.ready.is_empty() || self.in_flight() == 0 {
                self.submit()?;
                return Ok(std::mem::take(&mut self.ready));
            }
            let waited = match deadline {
                None => self.ring.submit_and_wait(1),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        self.submit()?;
                        self.reap()?;
                        return Ok(std::mem::take(&mut self.ready));
                    }
                    let ts = types::Timespec::from(left);
                    let args = types::SubmitArgs::new().timespec(&ts);
                    self.ring.submitter().submit_with_args(1, &args)
                }
            };
            match waited {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ETIME) => {}
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    self.reap()?;
                    return Ok(std::mem::take(&mut self.ready));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits for every copy in flight to finish and returns their completions (with those
    /// finished earlier and not yet returned). With [`cancel_all`](Self::cancel_all) first:
    /// stops everything.
    pub fn drain(&mut self) -> io::Result<Vec<RingCompletion>> {
        let mut all = Vec::new();
        loop {
            all.extend(self.wait(None)?);
            if self.in_flight() == 0 {
                all.append(&mut self.ready);
                return Ok(all);
            }
        }
    }
}

impl AsFd for CopyRing {
    /// The ring's descriptor: `poll(2)` reports `POLLIN` when completions are posted (call
    /// [`wait`](CopyRing::wait) with a zero timeout then).
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.ring.as_fd()
    }
}

impl Drop for CopyRing {
    fn drop(&mut self) {
        if self.in_flight() == 0 {
            return;
        }
        if self.cancel_all().and_then(|_| self.drain()).is_err() {
            // The kernel may still write to the vectors of the copies in flight: leak them
            // rather than free memory it writes to.
            for op in self.ops.drain(..) {
                std::mem::forget(op);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    extern "C" {
        static copy_range_c_uring_cmd_copy: u32;
        static copy_range_c_uring_cmd_copyv: u32;
    }

    #[test]
    fn uring_cmd_numbers_match_c_header() {
        // SAFETY: Immutable C constants from `abi.c`.
        unsafe {
            assert_eq!(sys::COPY_RANGE_URING_CMD_COPY, copy_range_c_uring_cmd_copy);
            assert_eq!(
                sys::COPY_RANGE_URING_CMD_COPYV,
                copy_range_c_uring_cmd_copyv
            );
        }
    }

    #[test]
    fn copy_args_fill_the_command_area_as_c_lays_them_out() {
        let args = sys::copy_range_args {
            src_fd: 3,
            dst_fd: -1,
            src_off: 0x1122_3344_5566_7788,
            dst_off: 5,
            len: 6,
            flags: 2,
            copied: 0,
        };
        let cmd = copy_cmd(&args);
        assert_eq!(&cmd[0..4], &3i32.to_ne_bytes());
        assert_eq!(&cmd[4..8], &(-1i32).to_ne_bytes());
        assert_eq!(&cmd[8..16], &0x1122_3344_5566_7788u64.to_ne_bytes());
        assert_eq!(&cmd[16..24], &5u64.to_ne_bytes());
        assert_eq!(&cmd[24..32], &6u64.to_ne_bytes());
        assert_eq!(&cmd[32..40], &2u64.to_ne_bytes());
        assert!(cmd[40..].iter().all(|&b| b == 0));
    }

    #[test]
    fn request_data_round_trips_and_is_never_the_rings_own() {
        for (slot, gen) in [(0, 0), (1, 1), (255, 7), (0xffff_ffff, GEN_MASK)] {
            let d = request_data(slot, gen);
            assert_eq!(slot_of(d), (slot, gen));
            assert_eq!(d & OWN, 0);
        }
        // The generation wraps within its 31 bits.
        assert_eq!(slot_of(request_data(3, GEN_MASK.wrapping_add(1))), (3, 0));
    }

    fn seg(src_off: u64, dst_off: u64, len: u64) -> Segment {
        Segment {
            src_off,
            dst_off,
            len,
        }
    }

    /// The segments as tuples, which compare.
    fn t(segs: &[Segment]) -> Vec<(u64, u64, u64)> {
        segs.iter().map(|s| (s.src_off, s.dst_off, s.len)).collect()
    }

    #[test]
    fn a_short_vector_resumes_in_the_segment_it_stopped_in() {
        let mut segs = vec![seg(0, 100, 10), seg(50, 0, 20), seg(10, 200, 5)];
        // Nothing done.
        advance(&mut segs, 0, 0);
        assert_eq!(segs.len(), 3);
        // The first whole and 7 bytes of the second.
        advance(&mut segs, 1, 17);
        assert_eq!(t(&segs), [(57, 7, 13), (10, 200, 5)]);
        // 3 more bytes into the (cut) first.
        advance(&mut segs, 0, 3);
        assert_eq!(t(&segs), [(60, 10, 10), (10, 200, 5)]);
        // Everything.
        advance(&mut segs, 2, 15);
        assert!(segs.is_empty());
        // A count that says more than the segments hold cannot underflow.
        let mut segs = vec![seg(0, 0, 4), seg(4, 4, 4)];
        advance(&mut segs, 1, 100);
        assert_eq!(t(&segs), [(8, 8, 0)]);
        advance(&mut segs, 9, 0);
        assert!(segs.is_empty());
    }

    #[test]
    fn only_the_modules_answer_passes_the_probe() {
        assert!(probe_answer(-libc::EBADF).is_ok());
        for (res, want) in [
            (-libc::EOPNOTSUPP, libc::EOPNOTSUPP),
            (-libc::EINVAL, libc::EINVAL),
            (-libc::ENOTTY, libc::ENOTTY),
            // Some other file's answers.
            (0, libc::EOPNOTSUPP),
            (48, libc::EOPNOTSUPP),
            (-libc::EPERM, libc::EOPNOTSUPP),
        ] {
            let e = probe_answer(res).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(want), "{res}");
        }
    }

    /// io_uring as the host has it: `None` where the kernel refuses a ring at all.
    fn host_ring(dev: OwnedFd) -> Option<io::Result<CopyRing>> {
        match CopyRing::with_device(dev, 4) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) => {
                eprintln!("skipped: no io_uring here ({e})");
                None
            }
            r => Some(r),
        }
    }

    #[test]
    fn files_other_than_the_module_fail_the_probe() {
        // A regular file and a device without ->uring_cmd, as a module built without the
        // commands looks to the ring; and /dev/null, whose ->uring_cmd (Linux 6.x) returns
        // 0 to any command.
        let exe = std::env::current_exe().unwrap();
        for p in [exe.as_path(), "/dev/zero".as_ref(), "/dev/null".as_ref()] {
            let f = File::open(p).unwrap();
            let Some(r) = host_ring(f.into()) else { return };
            let e = r.unwrap_err();
            assert_eq!(
                e.raw_os_error(),
                Some(libc::EOPNOTSUPP),
                "{}: {e}",
                p.display()
            );
        }
    }
}
