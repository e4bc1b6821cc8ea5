// SPDX-License-Identifier: GPL-2.0

//! The generic implementation's engine: a data copy inside the kernel, through the page cache
//! with `do_splice_direct()`, in bounded chunks, that keeps the source's holes.
//!
//! Every policy falls back to it for what is not shared or done by the filesystem.

use crate::{
    ops::Range,
    progress::{
        CopyControl,
        Progress, //
    },
    range::{
        direct_io_chunk,
        may_keep_a_hole,
        next_chunk, //
    },
    vfs::{
        splice_copy,
        HoleFinder, //
    },
};

/// Copies `range` as data.
///
/// Where the destination range lies past the destination's end of file, holes of the source
/// are skipped and stay holes; below it, every byte is written, zeros included, since the old
/// contents must go. A range that ends in a hole gets its last byte written so that the
/// destination's size covers it.
pub(crate) fn copy_data(range: &Range<'_>, ctl: &dyn CopyControl) -> Progress {
    let Range {
        src,
        dst,
        src_off,
        dst_off,
        len: count,
    } = *range;
    let mut progress = Progress::default();
    let dst_eof = dst.size();
    // `count` is at most `MAX_RW_COUNT` and the offsets were checked not to wrap.
    let past_dst_eof = dst_off + count as i64 > dst_eof;
    // Without a hole finder the copy is simply dense: holes read as zeros.
    let mut holes = if past_dst_eof
        && may_keep_a_hole(dst_off as u64, count, dst.block_size())
        && src.may_have_holes()
    {
        HoleFinder::new(src).ok()
    } else {
        None
    };

    // Bytes of the range dealt with: written, or skipped as a hole.
    let mut pos = 0u64;
    while pos < count {
        if pos > 0 {
            if let Err(e) = ctl.keep_going() {
                progress.error = Some(e);
                return progress;
            }
        }
        let (s, d) = (src_off + pos as i64, dst_off + pos as i64);
        let mut len = next_chunk(count - pos);
        if d < dst_eof {
            // Stay dense up to the destination's EOF; the rest is handled past it.
            len = len.min((dst_eof - d) as u64);
        } else if let Some(finder) = &holes {
            match finder.next_data(s) {
                // Only a hole is left up to the source's EOF.
                Ok(None) => break,
                Ok(Some(data)) if data > s => {
                    pos = count.min(pos + (data - s) as u64);
                    continue;
                }
                Ok(Some(_)) => match finder.next_hole(s) {
                    Ok(hole) if hole > s => len = len.min((hole - s) as u64),
                    Ok(_) => {}
                    // Holes are an optimisation: a file that cannot say where they are (a FUSE
                    // file without seeking, say) is copied densely, never failed.
                    Err(_) => holes = None,
                },
                Err(_) => holes = None,
            }
        }
        if dst.direct_io() {
            len = direct_io_chunk(d as u64, len, dst.block_size());
        }
        match splice_copy(src, s, dst, d, len) {
            // The source was truncated under us: what is there is copied.
            Ok(0) => return progress,
            Ok(n) => {
                pos += n;
                progress.done = pos;
                ctl.progress(progress.done);
            }
            Err(e) => {
                progress.error = Some(e);
                return progress;
            }
        }
    }

    if progress.done < count {
        // The range ends in a hole that was skipped: give the destination its size by writing
        // the last byte (a zero, read from the hole).
        let last = count as i64 - 1;
        match splice_copy(src, src_off + last, dst, dst_off + last, 1) {
            Ok(1) => {
                progress.done = count;
                ctl.progress(progress.done);
            }
            Ok(_) => {}
            Err(e) => progress.error = Some(e),
        }
    }
    progress
}
