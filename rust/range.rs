// SPDX-License-Identifier: GPL-2.0

//! Pure arithmetic of a copy request: flags, offsets, EOF, overlap, the split of a range into
//! a block-aligned body that can be shared and an unaligned head and tail that must be copied,
//! and chunking. No file is touched here, so all of it is covered by KUnit.
//!
//! Offsets arrive from userspace as `__u64` and are read as `loff_t`, exactly as
//! `copy_file_range(2)` reads them, and the checks use the same mixed signed/unsigned arithmetic
//! as `generic_copy_file_checks()` in `fs/read_write.c`, so that every input gets the same errno.

use kernel::prelude::*;

use crate::uapi::{
    COPY_RANGE_FLAGS_ALL,
    COPY_RANGE_SHARE_ALLOW,
    COPY_RANGE_SHARE_REQUIRE, //
};

/// `MAX_RW_COUNT` from `include/linux/fs.h` (`INT_MAX & PAGE_MASK`), a cast macro bindgen skips.
///
/// No call copies more than this, whatever the path: glibc's `ioctl()` returns an `int`.
pub(crate) const MAX_RW_COUNT: u64 = (i32::MAX as u64) & !(kernel::page::PAGE_SIZE as u64 - 1);

/// Bytes of data copied between two checks for signals (and, for jobs, for cancellation).
///
/// Large enough that the per-chunk cost vanishes, small enough that a signal or a cancel is
/// seen within milliseconds.
pub(crate) const CHUNK: u64 = 4 << 20;

/// The most one clone call is asked to share. A clone has no chunk boundaries of its own: it
/// is as long as the filesystem makes it, and when btrfs fails one (a fatal signal, `ENOSPC`),
/// the caller cannot tell how much of its range is already shared. Asking for this much at a
/// time bounds both the wait for a signal or a cancel and the part of a range whose state an
/// error leaves unknown.
pub(crate) const CLONE_STEP: u64 = 64 << 20;

/// Bytes handed to a filesystem's own `->copy_file_range` per call: more than [`CHUNK`], because
/// each call may be a round trip to a server (NFS COPY, CIFS copychunk), whose point is to move
/// much at once.
pub(crate) const OFFLOAD_CHUNK: u64 = 64 << 20;

/// Bytes a job copies per step (one run of its work item), so that jobs take turns on the
/// workqueue: 64 MiB of data, or one clone step. A cancel or close is seen at the next chunk, and
/// a step ends at its next chunk while a freezer is under way.
pub(crate) const JOB_STEP: u64 = 64 << 20;

// Every piece but the last of a shared range must stay aligned: the steps are multiples of
// every block size (at most 64 KiB).
const _: () = assert!(CLONE_STEP % (64 << 10) == 0 && JOB_STEP % (64 << 10) == 0);

/// What the caller allows the filesystem to do with extents, from `copy_range_args.flags`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SharePolicy {
    /// No flag: an independent copy; no extent of the destination may be shared.
    Forbid,
    /// `COPY_RANGE_SHARE_ALLOW`: share where the filesystem can, copy the rest.
    Allow,
    /// `COPY_RANGE_SHARE_REQUIRE`: share everything or fail without copying.
    Require,
}

impl SharePolicy {
    /// Decodes `flags`; unknown bits, or both policies at once, are `EINVAL`.
    pub(crate) fn from_flags(flags: u64) -> Result<Self> {
        if flags & !COPY_RANGE_FLAGS_ALL != 0 {
            return Err(EINVAL);
        }
        match (
            flags & COPY_RANGE_SHARE_ALLOW != 0,
            flags & COPY_RANGE_SHARE_REQUIRE != 0,
        ) {
            (false, false) => Ok(Self::Forbid),
            (true, false) => Ok(Self::Allow),
            (false, true) => Ok(Self::Require),
            (true, true) => Err(EINVAL),
        }
    }
}

/// `EOVERFLOW` if `pos + len` wraps for either file, as `pos_in + count < pos_in` does in C
/// (`loff_t` plus `u64` is computed as `u64` there, so negative offsets wrap with small lengths).
pub(crate) fn check_wrap(src_off: i64, dst_off: i64, len: u64) -> Result {
    let wraps = |pos: i64| (pos as u64).checked_add(len).is_none();
    if wraps(src_off) || wraps(dst_off) {
        return Err(EOVERFLOW);
    }
    Ok(())
}

/// Shortens `len` to the source's end of file: 0 at or past it.
pub(crate) fn clamp_to_eof(src_off: i64, len: u64, src_size: i64) -> u64 {
    if src_off >= src_size {
        0
    } else {
        len.min((src_size as u64).wrapping_sub(src_off as u64))
    }
}

/// Whether `[src_off, +count)` and `[dst_off, +count)` overlap, compared as the VFS does.
pub(crate) fn ranges_overlap(src_off: i64, dst_off: i64, count: u64) -> bool {
    let (src, dst) = (src_off as u64, dst_off as u64);
    dst.wrapping_add(count) > src && dst < src.wrapping_add(count)
}

/// Rounds `count` down so that one call never returns more than [`MAX_RW_COUNT`], keeping the
/// end of a shortened range on a block boundary so that what is left can still be shared.
/// A `block` of 0 (a stacked filesystem without a block size of its own) counts as a page.
pub(crate) fn cap_per_call(count: u64, block: u64) -> u64 {
    let unit = if block == 0 {
        kernel::page::PAGE_SIZE as u64
    } else {
        block
    };
    if count <= MAX_RW_COUNT {
        count
    } else {
        MAX_RW_COUNT - MAX_RW_COUNT % unit
    }
}

/// A range cut into what must be copied and what can be shared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Split {
    /// Bytes from the start up to the first block boundary: copied.
    pub(crate) head: u64,
    /// Block-aligned bytes after the head: shared where possible.
    pub(crate) body: u64,
    /// The rest: copied.
    pub(crate) tail: u64,
}

/// Splits `count` bytes at `src_off`/`dst_off` for a filesystem that shares whole blocks of
/// `block` bytes.
///
/// Both offsets must sit at the same distance from a block boundary for anything to be shared.
/// `ends_at_eof_past_dst_eof` says the range ends at the source's end of file and at or past the
/// destination's: then a partial last block can be shared as well, as `generic_remap_checks()`
/// allows.
pub(crate) fn split_for_sharing(
    src_off: u64,
    dst_off: u64,
    count: u64,
    block: u64,
    ends_at_eof_past_dst_eof: bool,
) -> Split {
    let copy_all = Split {
        head: count,
        body: 0,
        tail: 0,
    };
    if block == 0 || src_off % block != dst_off % block {
        return copy_all;
    }
    let head = match src_off % block {
        0 => 0,
        rem => block - rem,
    };
    if head >= count {
        return copy_all;
    }
    let rest = count - head;
    let tail = if ends_at_eof_past_dst_eof {
        0
    } else {
        rest % block
    };
    Split {
        head,
        body: rest - tail,
        tail,
    }
}

/// Whether a range of `count` bytes ends at the source's end of file and at or past the
/// destination's: then a partial last block may be shared as well, as `generic_remap_checks()`
/// allows. The offsets are those `rw_verify_area()` accepted with `count`, so the sums fit; they
/// wrap rather than trap all the same.
pub(crate) fn ends_at_eof_past_dst_eof(
    src_off: i64,
    dst_off: i64,
    count: u64,
    src_size: i64,
    dst_size: i64,
) -> bool {
    let count = count as i64;
    src_off.wrapping_add(count) == src_size && dst_off.wrapping_add(count) >= dst_size
}

/// Whether a range can be shared as a whole, by the rules of `generic_remap_checks()`: both
/// offsets on a block boundary, and whole blocks unless the range ends at the source's end of
/// file and at or past the destination's.
pub(crate) fn sharable_as_whole(
    src_off: u64,
    dst_off: u64,
    count: u64,
    block: u64,
    ends_at_eof_past_dst_eof: bool,
) -> bool {
    block != 0
        && src_off % block == 0
        && dst_off % block == 0
        && (count % block == 0 || ends_at_eof_past_dst_eof)
}

/// Whether a data copy of `count` bytes to `dst_off` could leave a destination block of `block`
/// bytes unallocated where the source has a hole. Holes are kept in whole blocks, and the last
/// byte of the range is always written (data, or a zero that gives the file its size), so the
/// range must hold a whole block before that byte; for smaller ranges, such as most small files,
/// looking for holes is work for nothing. A block size of 0 (a stacked filesystem) is unknown:
/// then the answer is yes.
pub(crate) fn may_keep_a_hole(dst_off: u64, count: u64, block: u64) -> bool {
    if block == 0 {
        return count > 0;
    }
    let first_whole_block = dst_off.div_ceil(block).saturating_mul(block);
    count > 0 && first_whole_block.saturating_add(block) < dst_off.saturating_add(count)
}

/// Length of the next chunk of a copy that has `remaining` bytes to go.
pub(crate) fn next_chunk(remaining: u64) -> u64 {
    remaining.min(CHUNK)
}

/// Length of a chunk of `len` bytes written at `dst_pos` to a destination opened with
/// `O_DIRECT`, whose blocks are `block` bytes: the chunk ends on a block boundary unless it lies
/// inside one block.
///
/// A direct write goes to the filesystem one extent at a time, and the alignment of each piece
/// is checked when it is reached, so a write that ends off a block boundary can land its first
/// extents and then fail with EINVAL, reporting nothing for bytes it changed. Ended on a block
/// boundary, every piece but one inside a single block is aligned as the start is; a write inside
/// one block is one piece, all done or refused untouched.
pub(crate) fn direct_io_chunk(dst_pos: u64, len: u64, block: u64) -> u64 {
    if block == 0 {
        return len;
    }
    let end = dst_pos.saturating_add(len);
    let aligned_end = end - end % block;
    if aligned_end > dst_pos {
        aligned_end - dst_pos
    } else {
        len
    }
}

#[kunit_tests(copy_range_range)]
mod tests {
    use super::*;

    #[test]
    fn flags_decode_to_policies() {
        assert_eq!(SharePolicy::from_flags(0), Ok(SharePolicy::Forbid));
        assert_eq!(
            SharePolicy::from_flags(COPY_RANGE_SHARE_ALLOW),
            Ok(SharePolicy::Allow)
        );
        assert_eq!(
            SharePolicy::from_flags(COPY_RANGE_SHARE_REQUIRE),
            Ok(SharePolicy::Require)
        );
    }

    #[test]
    fn bad_flags_are_einval() {
        assert_eq!(
            SharePolicy::from_flags(COPY_RANGE_SHARE_ALLOW | COPY_RANGE_SHARE_REQUIRE),
            Err(EINVAL)
        );
        assert_eq!(SharePolicy::from_flags(1 << 2), Err(EINVAL));
        assert_eq!(SharePolicy::from_flags(1 << 63), Err(EINVAL));
        assert_eq!(
            SharePolicy::from_flags(COPY_RANGE_SHARE_ALLOW | 1 << 40),
            Err(EINVAL)
        );
    }

    #[test]
    fn wrapping_ranges_are_eoverflow() {
        assert_eq!(check_wrap(0, 0, u64::MAX), Ok(()));
        assert_eq!(check_wrap(1, 0, u64::MAX), Err(EOVERFLOW));
        assert_eq!(check_wrap(0, 1, u64::MAX), Err(EOVERFLOW));
        // A negative offset is a huge unsigned one: it wraps with a small length...
        assert_eq!(check_wrap(-1, 0, 10), Err(EOVERFLOW));
        // ...but not with length 0 (rw_verify_area() rejects it later, with EINVAL).
        assert_eq!(check_wrap(-1, 0, 0), Ok(()));
        assert_eq!(check_wrap(i64::MAX, i64::MAX, 1 << 62), Ok(()));
    }

    #[test]
    fn eof_clamps_length() {
        assert_eq!(clamp_to_eof(0, 100, 1000), 100);
        assert_eq!(clamp_to_eof(950, 100, 1000), 50);
        assert_eq!(clamp_to_eof(1000, 100, 1000), 0);
        assert_eq!(clamp_to_eof(5000, 100, 1000), 0);
        assert_eq!(clamp_to_eof(0, u64::MAX, 1000), 1000);
        assert_eq!(clamp_to_eof(0, 100, 0), 0);
        // As in C: a negative offset is below any size, and size - offset wraps to size + 1.
        assert_eq!(clamp_to_eof(-1, 10, 1000), 10);
        assert_eq!(clamp_to_eof(-1, u64::MAX, 1000), 1001);
    }

    #[test]
    fn overlap_matches_vfs() {
        assert!(ranges_overlap(0, 0, 1));
        assert!(ranges_overlap(0, 99, 100));
        assert!(ranges_overlap(99, 0, 100));
        assert!(!ranges_overlap(0, 100, 100));
        assert!(!ranges_overlap(100, 0, 100));
        assert!(!ranges_overlap(0, 0, 0));
    }

    #[test]
    fn per_call_cap_keeps_block_alignment() {
        assert_eq!(cap_per_call(4096, 4096), 4096);
        assert_eq!(cap_per_call(MAX_RW_COUNT, 4096), MAX_RW_COUNT);
        assert_eq!(cap_per_call(u64::MAX, 4096), MAX_RW_COUNT);
        assert_eq!(cap_per_call(u64::MAX, 65536) % 65536, 0);
        assert!(cap_per_call(u64::MAX, 65536) > MAX_RW_COUNT - 65536);
        assert_eq!(MAX_RW_COUNT, 0x7fff_f000);
        // No block size (overlayfs): no division by zero, a page-aligned cap.
        assert_eq!(cap_per_call(u64::MAX, 0), MAX_RW_COUNT);
        assert_eq!(cap_per_call(100, 0), 100);
    }

    #[test]
    fn split_aligned_range_is_all_body() {
        let s = split_for_sharing(0, 8192, 1 << 20, 4096, false);
        assert_eq!(
            s,
            Split {
                head: 0,
                body: 1 << 20,
                tail: 0
            }
        );
    }

    #[test]
    fn split_unaligned_range_has_head_and_tail() {
        let s = split_for_sharing(100, 100, 1 << 20, 4096, false);
        assert_eq!(s.head, 3996);
        assert_eq!(s.tail, (1 << 20) - 3996 - s.body);
        assert_eq!(s.body % 4096, 0);
        assert_eq!(s.head + s.body + s.tail, 1 << 20);
        assert_eq!(s.tail, 100);
    }

    #[test]
    fn split_eof_tail_is_shared_only_past_dst_eof() {
        let at_eof = split_for_sharing(0, 0, 10_000, 4096, true);
        assert_eq!(
            at_eof,
            Split {
                head: 0,
                body: 10_000,
                tail: 0
            }
        );
        let mid_file = split_for_sharing(0, 0, 10_000, 4096, false);
        assert_eq!(mid_file.body, 8192);
        assert_eq!(mid_file.tail, 1808);
    }

    #[test]
    fn split_different_phase_copies_everything() {
        let s = split_for_sharing(100, 200, 1 << 20, 4096, false);
        assert_eq!(
            s,
            Split {
                head: 1 << 20,
                body: 0,
                tail: 0
            }
        );
    }

    #[test]
    fn split_range_inside_one_block_copies_everything() {
        let s = split_for_sharing(1, 1, 4000, 4096, false);
        assert_eq!(s.head, 4000);
        assert_eq!(s.body + s.tail, 0);
        let s = split_for_sharing(4095, 4095, 1, 4096, false);
        assert_eq!(s.head, 1);
        assert_eq!(s.body + s.tail, 0);
    }

    #[test]
    fn whole_range_sharability() {
        assert!(sharable_as_whole(0, 4096, 8192, 4096, false));
        assert!(!sharable_as_whole(100, 100, 8192, 4096, false));
        assert!(!sharable_as_whole(0, 100, 8192, 4096, false));
        assert!(!sharable_as_whole(0, 0, 8000, 4096, false));
        assert!(sharable_as_whole(0, 0, 8000, 4096, true));
        assert!(!sharable_as_whole(0, 0, 4096, 0, false));
    }

    #[test]
    fn holes_need_a_whole_block_before_the_last_byte() {
        // One block, aligned or not: its last byte is written, so it is allocated.
        assert!(!may_keep_a_hole(0, 4096, 4096));
        assert!(!may_keep_a_hole(100, 4096, 4096));
        assert!(!may_keep_a_hole(0, 1, 4096));
        assert!(!may_keep_a_hole(0, 0, 4096));
        // A whole block, then at least the byte that is always written.
        assert!(may_keep_a_hole(0, 4097, 4096));
        assert!(may_keep_a_hole(0, 8192, 4096));
        assert!(may_keep_a_hole(4095, 4098, 4096));
        assert!(!may_keep_a_hole(4095, 4097, 4096));
        assert!(may_keep_a_hole(100, 8192, 4096));
        // Unknown block size: look.
        assert!(may_keep_a_hole(0, 1, 0));
        assert!(!may_keep_a_hole(0, 0, 0));
        // No overflow at the top of the range.
        assert!(!may_keep_a_hole(u64::MAX - 10, 5, 4096));
    }

    #[test]
    fn eof_tail_sharing_needs_both_ends() {
        // Ends at the source's EOF, past the destination's: a partial block may be shared.
        assert!(ends_at_eof_past_dst_eof(0, 0, 10_000, 10_000, 0));
        assert!(ends_at_eof_past_dst_eof(4096, 8192, 5904, 10_000, 14_096));
        // Not at the source's EOF.
        assert!(!ends_at_eof_past_dst_eof(0, 0, 9_999, 10_000, 0));
        // Ends before the destination's EOF: that block holds data of the destination.
        assert!(!ends_at_eof_past_dst_eof(0, 0, 10_000, 10_000, 10_001));
    }

    #[test]
    fn direct_io_chunks_end_on_a_block() {
        // Aligned already.
        assert_eq!(direct_io_chunk(0, 8192, 4096), 8192);
        // The unaligned tail is left for a chunk of its own.
        assert_eq!(direct_io_chunk(0, 5000, 4096), 4096);
        assert_eq!(direct_io_chunk(4096, 904, 4096), 904);
        // An unaligned start keeps its first partial block.
        assert_eq!(direct_io_chunk(100, 5000, 4096), 3996);
        assert_eq!(direct_io_chunk(100, 3000, 4096), 3000);
        // No known block size: unchanged.
        assert_eq!(direct_io_chunk(100, 5000, 0), 5000);
    }

    #[test]
    fn chunks_are_bounded() {
        assert_eq!(next_chunk(1), 1);
        assert_eq!(next_chunk(CHUNK), CHUNK);
        assert_eq!(next_chunk(CHUNK + 1), CHUNK);
        assert_eq!(next_chunk(u64::MAX), CHUNK);
    }
}
