// SPDX-License-Identifier: GPL-2.0

//! The `copy_range` operation as a table of per-filesystem implementations.
//!
//! The RFC proposes `copy_range` as a new `file_operations` member. A module cannot add one, so
//! it models the member as this table: [`select`] picks the implementation by the destination's
//! filesystem, the way the VFS would call `file_out->f_op->copy_range`. To add a filesystem,
//! write a [`CopyRangeOps`] implementation and add a line to [`BY_FS_NAME`] (and
//! [`IMPLEMENTATIONS`], which lists them for the counters).

use kernel::prelude::*;

use crate::{
    data_copy::{
        copy_data,
        CopyControl,
        Offset,
        Progress, //
    },
    range::split_for_sharing,
    stats::Stats,
    vfs::{
        clone_range,
        fs_copy,
        CopyFile,
        CLONE_STEP, //
    },
};

/// Bytes handed to a filesystem's own `->copy_file_range` per call.
const OFFLOAD_CHUNK: u64 = 64 << 20;

/// A checked copy request: both files, the offsets and the count after every VFS check, the
/// clamp to the source's end of file and the per-call cap.
pub(crate) struct Request<'a> {
    /// The source, open for reading.
    pub(crate) src: &'a CopyFile,
    /// The destination, open for writing.
    pub(crate) dst: &'a CopyFile,
    /// Offset in the source.
    pub(crate) src_off: i64,
    /// Offset in the destination.
    pub(crate) dst_off: i64,
    /// Bytes to copy, more than 0.
    pub(crate) count: u64,
    /// The range ends at the source's end of file and at or past the destination's, so a
    /// partial last block may be shared (`generic_remap_checks()`).
    pub(crate) ends_at_eof_past_dst_eof: bool,
}

/// How one filesystem implements `copy_range`.
///
/// The data copy is common to all; what differs is whether and how extents can be shared, and
/// what "share where you can" means on that filesystem.
pub(crate) trait CopyRangeOps: Sync {
    /// Name in the counters table.
    fn name(&self) -> &'static str;

    /// The implementation's counters.
    fn stats(&self) -> &Stats;

    /// Whether this filesystem can share extents between these two files at all:
    /// `EOPNOTSUPP` if not. Asked before anything is copied.
    fn can_share(&self, _src: &CopyFile, _dst: &CopyFile) -> Result {
        Err(EOPNOTSUPP)
    }

    /// Shares up to `len` bytes at the given offsets, stopping between steps when `ctl` says so.
    /// Returns the bytes shared from the start of the range; an error only if none were.
    fn share(
        &self,
        _req: &Request<'_>,
        _src_off: i64,
        _dst_off: i64,
        _len: u64,
        _ctl: &dyn CopyControl,
    ) -> Result<u64> {
        Err(EOPNOTSUPP)
    }

    /// `COPY_RANGE_SHARE_ALLOW`: shares the block-aligned body of the range and copies the
    /// unaligned head and tail, so the caller gets the whole count in one call. A body the
    /// filesystem declines to share is copied.
    fn copy_allowing_sharing(&self, req: &Request<'_>, ctl: &dyn CopyControl) -> Progress {
        if self.can_share(req.src, req.dst).is_err() {
            return copy_data(req.src, req.src_off, req.dst, req.dst_off, req.count, ctl);
        }
        let split = split_for_sharing(
            req.src_off as u64,
            req.dst_off as u64,
            req.count,
            req.dst.block_size(),
            req.ends_at_eof_past_dst_eof,
        );
        let mut progress = copy_data(req.src, req.src_off, req.dst, req.dst_off, split.head, ctl);
        if progress.done < split.head {
            return progress;
        }
        if split.body > 0 {
            let (s, d) = (
                req.src_off + split.head as i64,
                req.dst_off + split.head as i64,
            );
            let body_ctl = Offset {
                outer: ctl,
                base: split.head,
            };
            match self.share(req, s, d, split.body, &body_ctl) {
                Ok(n) => {
                    progress.extend(Progress {
                        done: n,
                        shared: n,
                        ..Progress::default()
                    });
                    ctl.progress(progress.done);
                }
                // The filesystem declined these extents (for instance btrfs for inline ones):
                // "share where you can" means copy them.
                Err(e) if e == EOPNOTSUPP || e == EINVAL || e == EXDEV => {
                    progress.extend(copy_data(req.src, s, req.dst, d, split.body, &body_ctl))
                }
                Err(e) => {
                    progress.error = Some(e);
                    return progress;
                }
            }
            if progress.done < split.head + split.body {
                return progress;
            }
        }
        if split.tail > 0 {
            let at = split.head + split.body;
            let tail_ctl = Offset {
                outer: ctl,
                base: at,
            };
            progress.extend(copy_data(
                req.src,
                req.src_off + at as i64,
                req.dst,
                req.dst_off + at as i64,
                split.tail,
                &tail_ctl,
            ));
        }
        progress
    }
}

/// The btrfs reference implementation: forwards to btrfs clone (`btrfs_remap_file_range()`,
/// through `vfs_clone_file_range()`).
///
/// btrfs shares extents in units of its sector size, which is `s_blocksize`, and refuses to
/// share between a NOCOW file (`chattr +C`, no data checksums) and a checksummed one.
pub(crate) struct BtrfsClone {
    /// Counters.
    stats: Stats,
}

impl CopyRangeOps for BtrfsClone {
    fn name(&self) -> &'static str {
        "btrfs"
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }

    fn can_share(&self, src: &CopyFile, dst: &CopyFile) -> Result {
        if !src.same_sb(dst) {
            return Err(EXDEV);
        }
        if src.nocow()? != dst.nocow()? {
            return Err(EOPNOTSUPP);
        }
        Ok(())
    }

    fn share(
        &self,
        req: &Request<'_>,
        src_off: i64,
        dst_off: i64,
        len: u64,
        ctl: &dyn CopyControl,
    ) -> Result<u64> {
        remap_share(req, src_off, dst_off, len, ctl)
    }
}

/// Whether two files can share extents through `->remap_file_range`: same superblock, and the
/// destination's filesystem has the method (which may still refuse, see the RFC).
fn remap_can_share(src: &CopyFile, dst: &CopyFile) -> Result {
    if !src.same_sb(dst) {
        return Err(EXDEV);
    }
    if !dst.has_remap() {
        return Err(EOPNOTSUPP);
    }
    Ok(())
}

/// Shares a range through `->remap_file_range`, [`CLONE_STEP`] at a time, asking `ctl` between
/// steps. Returns the bytes shared from the start of the range, exactly: each step reports how
/// far it got, or fails; an error is returned only if nothing was shared. When a step fails
/// after earlier ones succeeded, the count covers those, and the failed step's range may already
/// be partly shared (btrfs does not say how much): as with a short write, bytes past the count
/// hold either their old contents or the source's.
fn remap_share(
    req: &Request<'_>,
    src_off: i64,
    dst_off: i64,
    len: u64,
    ctl: &dyn CopyControl,
) -> Result<u64> {
    let mut done = 0u64;
    while done < len {
        if done > 0 && ctl.keep_going().is_err() {
            break;
        }
        let step = (len - done).min(CLONE_STEP);
        let at = done as i64;
        match clone_range(req.src, src_off + at, req.dst, dst_off + at, step) {
            Ok(n) => {
                done += n;
                ctl.progress(done);
                if n < step {
                    break;
                }
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// Any other filesystem that can share extents (`->remap_file_range`): xfs with reflink, ocfs2,
/// bcachefs... The filesystem itself refuses with `EOPNOTSUPP` where it cannot (xfs without
/// reflink).
pub(crate) struct Remap {
    /// Counters.
    stats: Stats,
}

impl CopyRangeOps for Remap {
    fn name(&self) -> &'static str {
        "remap"
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }

    fn can_share(&self, src: &CopyFile, dst: &CopyFile) -> Result {
        remap_can_share(src, dst)
    }

    fn share(
        &self,
        req: &Request<'_>,
        src_off: i64,
        dst_off: i64,
        len: u64,
        ctl: &dyn CopyControl,
    ) -> Result<u64> {
        remap_share(req, src_off, dst_off, len, ctl)
    }
}

/// Filesystems with their own `->copy_file_range`: NFS (server-side COPY), CIFS (copychunk),
/// FUSE, ceph, overlayfs. Under `COPY_RANGE_SHARE_ALLOW` the copy is theirs to do, sharing
/// or not; an independent copy (no flag) never reaches them.
pub(crate) struct FsCopy {
    /// Counters.
    stats: Stats,
}

impl FsCopy {
    /// Hands the range to the filesystem in chunks; on `EOPNOTSUPP`/`EXDEV` before any progress
    /// the module copies the data itself.
    fn offload(&self, req: &Request<'_>, ctl: &dyn CopyControl) -> Progress {
        let mut progress = Progress::default();
        while progress.done < req.count {
            if progress.done > 0 {
                if let Err(e) = ctl.keep_going() {
                    progress.error = Some(e);
                    break;
                }
            }
            let at = progress.done as i64;
            // Larger than the data path's chunks: each call may be a round trip to a server
            // (NFS COPY, CIFS copychunk), whose point is to move much at once.
            let len = (req.count - progress.done).min(OFFLOAD_CHUNK);
            match fs_copy(req.src, req.src_off + at, req.dst, req.dst_off + at, len) {
                Ok(0) => break,
                Ok(n) => {
                    progress.done += n;
                    ctl.progress(progress.done);
                }
                Err(e) if progress.done == 0 && (e == EOPNOTSUPP || e == EXDEV) => {
                    return copy_data(req.src, req.src_off, req.dst, req.dst_off, req.count, ctl);
                }
                Err(e) => {
                    progress.error = Some(e);
                    break;
                }
            }
        }
        progress.offloaded = progress.done;
        progress
    }
}

impl CopyRangeOps for FsCopy {
    fn name(&self) -> &'static str {
        "fs_copy"
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }

    fn can_share(&self, src: &CopyFile, dst: &CopyFile) -> Result {
        remap_can_share(src, dst)
    }

    fn share(
        &self,
        req: &Request<'_>,
        src_off: i64,
        dst_off: i64,
        len: u64,
        ctl: &dyn CopyControl,
    ) -> Result<u64> {
        remap_share(req, src_off, dst_off, len, ctl)
    }

    fn copy_allowing_sharing(&self, req: &Request<'_>, ctl: &dyn CopyControl) -> Progress {
        self.offload(req, ctl)
    }
}

/// Everything else (ext4, tmpfs, ...) and every copy across filesystems: data only.
pub(crate) struct Generic {
    /// Counters.
    stats: Stats,
}

impl CopyRangeOps for Generic {
    fn name(&self) -> &'static str {
        "generic"
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }
}

/// The btrfs implementation.
static BTRFS: BtrfsClone = BtrfsClone {
    stats: Stats::new(),
};
/// The remap implementation.
static REMAP: Remap = Remap {
    stats: Stats::new(),
};
/// The implementation for filesystems with their own copy.
static FS_COPY: FsCopy = FsCopy {
    stats: Stats::new(),
};
/// The data-copy implementation.
static GENERIC: Generic = Generic {
    stats: Stats::new(),
};

/// Filesystems with an implementation of their own, by `file_system_type.name`.
static BY_FS_NAME: [(&CStr, &dyn CopyRangeOps); 1] = [(c"btrfs", &BTRFS)];

/// Every implementation, for the counters.
pub(crate) static IMPLEMENTATIONS: [&dyn CopyRangeOps; 4] = [&BTRFS, &REMAP, &FS_COPY, &GENERIC];

/// Picks the implementation for a copy from `src` to `dst`: the destination filesystem's own
/// entry, else by what its file operations offer. A copy between two filesystems is generic,
/// unless both share one `->copy_file_range` (two NFS mounts), which the VFS allows.
pub(crate) fn select(src: &CopyFile, dst: &CopyFile) -> &'static dyn CopyRangeOps {
    if !src.same_sb(dst) {
        return if src.same_copy_file_range(dst) {
            &FS_COPY
        } else {
            &GENERIC
        };
    }
    let name = dst.fs_name();
    for (fs, ops) in BY_FS_NAME.iter() {
        if name.to_bytes() == fs.to_bytes() {
            return *ops;
        }
    }
    if dst.has_copy_file_range() {
        &FS_COPY
    } else if dst.has_remap() {
        &REMAP
    } else {
        &GENERIC
    }
}
