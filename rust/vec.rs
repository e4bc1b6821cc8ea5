// SPDX-License-Identifier: GPL-2.0

//! Vectors of ranges between the same two files (`COPY_RANGE_IOC_COPYV`, `..._SUBMITV`).
//!
//! Every segment is checked as a single call would be, and destination ranges may not overlap
//! each other (the result would depend on the order of the copy), before anything is copied.
//! Segments are copied in order; the copy stops at the first one that comes up short.

use kernel::{
    alloc::{
        KVVec,
        KVec, //
    },
    prelude::*,
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

use crate::{
    copy::Files,
    progress::CopyControl,
    range::MAX_RW_COUNT,
    uapi::{
        CopyRangeSeg,
        CopyRangeVec,
        COPY_RANGE_VEC_MAX_SEGS, //
    },
    vfs::signal_pending,
};

/// One range of a vector or a job, as submitted (offsets as `loff_t`), once checked.
#[derive(Clone, Copy)]
pub(crate) struct Segment {
    /// Offset in the source.
    pub(crate) src_off: i64,
    /// Offset in the destination.
    pub(crate) dst_off: i64,
    /// Bytes requested.
    pub(crate) len: u64,
    /// Bytes requested, clamped to the source's end of file when the range was checked: a job
    /// copies no more than this, even from a source that grows meanwhile.
    pub(crate) to_eof: u64,
}

/// A checked vector.
pub(crate) struct VecRequest {
    /// The files and the policy.
    pub(crate) files: Files,
    /// The segments, in the caller's order.
    pub(crate) segments: KVVec<Segment>,
    /// Bytes requested over all segments, each clamped to the source's end of file.
    pub(crate) total: u64,
}

impl VecRequest {
    /// A vector of one segment, for `COPY_RANGE_IOC_SUBMIT`.
    pub(crate) fn one(files: Files, src_off: i64, dst_off: i64, len: u64) -> Result<Self> {
        let to_eof = files.check(src_off, dst_off, len)?;
        let mut segments = KVVec::with_capacity(1, GFP_KERNEL_ACCOUNT)?;
        segments.push(
            Segment {
                src_off,
                dst_off,
                len,
                to_eof,
            },
            GFP_KERNEL_ACCOUNT,
        )?;
        Ok(Self {
            files,
            segments,
            total: to_eof,
        })
    }

    /// Reads the segments `args` points to and checks them.
    pub(crate) fn from_user(args: &CopyRangeVec) -> Result<Self> {
        let files = Files::from_fds(args.src_fd, args.dst_fd, args.flags)?;
        if args.nr_segs > COPY_RANGE_VEC_MAX_SEGS {
            return Err(EINVAL);
        }
        let nr = args.nr_segs as usize;
        let seg_size = core::mem::size_of::<CopyRangeSeg>();
        let mut reader =
            UserSlice::new(UserPtr::from_addr(args.segs as usize), nr * seg_size).reader();
        // Sized by the caller, and kept by a job until it ends: charged to the caller's memory
        // cgroup, and from vmalloc when large rather than an order-3 page allocation.
        let mut segments = KVVec::with_capacity(nr, GFP_KERNEL_ACCOUNT)?;
        let mut total = 0u64;
        for _ in 0..nr {
            let seg: CopyRangeSeg = reader.read()?;
            let (src_off, dst_off) = (seg.src_off as i64, seg.dst_off as i64);
            let to_eof = files.check(src_off, dst_off, seg.len)?;
            let seg = Segment {
                src_off,
                dst_off,
                len: seg.len,
                to_eof,
            };
            total = total.saturating_add(to_eof);
            segments.push(seg, GFP_KERNEL_ACCOUNT)?;
        }
        check_no_dst_overlap(&segments)?;
        Ok(Self {
            files,
            segments,
            total,
        })
    }

    /// Copies the segments in order, at most `MAX_RW_COUNT` bytes in all, stopping at the
    /// first short one or between segments on a signal. Returns the segments copied completely,
    /// the bytes copied and the error that stopped the copy, if any.
    pub(crate) fn copy(&self, ctl: &dyn CopyControl) -> (u32, u64, Option<Error>) {
        let mut copied = 0u64;
        let mut done_segs = 0u32;
        for seg in self.segments.iter() {
            if copied > 0 && signal_pending() {
                return (done_segs, copied, Some(EINTR));
            }
            // `copied` never passes the budget: every count comes from a call asked for at most
            // what was left of it, and the VFS wrappers turn a larger claim into `EIO`.
            let budget = MAX_RW_COUNT.saturating_sub(copied);
            let want = seg.len.min(budget);
            let n = if want == 0 {
                0
            } else {
                match self.files.copy(seg.src_off, seg.dst_off, want, ctl) {
                    Ok(n) => n,
                    Err(e) => return (done_segs, copied, Some(e)),
                }
            };
            copied += n;
            if n < seg.len {
                return (done_segs, copied, None);
            }
            done_segs += 1;
        }
        (done_segs, copied, None)
    }
}

/// `EINVAL` if two destination ranges overlap.
fn check_no_dst_overlap(segments: &[Segment]) -> Result {
    let mut ranges = KVec::with_capacity(segments.len(), GFP_KERNEL)?;
    for seg in segments.iter().filter(|s| s.len > 0) {
        // Offsets were checked: not negative, and `offset + len` does not wrap.
        ranges.push((seg.dst_off as u64, seg.len), GFP_KERNEL)?;
    }
    ranges.sort_unstable_by_key(|r| r.0);
    for pair in ranges.windows(2) {
        if pair[0].0 + pair[0].1 > pair[1].0 {
            return Err(EINVAL);
        }
    }
    Ok(())
}
