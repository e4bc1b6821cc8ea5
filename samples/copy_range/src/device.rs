// SPDX-License-Identifier: GPL-2.0

//! `/dev/copy_range` itself: [`CopyRange`], ranged and vector copies between two open files
//! with a [`Sharing`] policy, synchronous or as [`Job`]s.

use crate::{ioctl, sys, Job};
use std::{
    fs::{File, OpenOptions},
    io,
    os::fd::{AsFd, AsRawFd},
    os::unix::fs::OpenOptionsExt,
};

/// One range of a vector copy: `len` bytes from `src_off` in the source to `dst_off` in the
/// destination (`struct copy_range_seg`).
pub type Segment = sys::copy_range_seg;

/// Where a synchronous vector copy stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VecCopied {
    /// Segments copied completely.
    pub done_segs: u32,
    /// Bytes copied over all segments.
    pub copied: u64,
}

/// Path of the device node.
pub const DEVICE_PATH: &str = "/dev/copy_range";

/// What the filesystem may do with extents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Sharing {
    /// An independent copy: nothing of the destination shares extents with the source.
    #[default]
    Forbid,
    /// Share where the filesystem can, copy the rest (`COPY_RANGE_SHARE_ALLOW`).
    Allow,
    /// Share everything or fail without copying (`COPY_RANGE_SHARE_REQUIRE`).
    Require,
}

impl Sharing {
    /// The `flags` word of the ioctl.
    pub fn flags(self) -> u64 {
        match self {
            Sharing::Forbid => 0,
            Sharing::Allow => u64::from(sys::COPY_RANGE_SHARE_ALLOW),
            Sharing::Require => u64::from(sys::COPY_RANGE_SHARE_REQUIRE),
        }
    }
}

/// An open `/dev/copy_range`. Any number of threads may share one.
#[derive(Debug)]
pub struct CopyRange {
    dev: File,
}

impl CopyRange {
    /// Opens the device: `ENOENT` when the module is not loaded.
    pub fn open() -> io::Result<Self> {
        let dev = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(DEVICE_PATH)?;
        Ok(Self { dev })
    }

    /// Another handle on the same open device (a duplicate of its descriptor), for another
    /// thread or a [`CopyRing`](crate::CopyRing).
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(Self {
            dev: self.dev.try_clone()?,
        })
    }

    /// The open device.
    pub(crate) fn file(&self) -> &File {
        &self.dev
    }

    /// Copies up to `len` bytes from `src` at `src_off` to `dst` at `dst_off`, without touching
    /// either file's position. Returns the bytes copied: fewer than `len` means "call again",
    /// 0 means `len` was 0 or `src_off` is at or past the source's end.
    pub fn copy(
        &self,
        src: &impl AsFd,
        src_off: u64,
        dst: &impl AsFd,
        dst_off: u64,
        len: u64,
        sharing: Sharing,
    ) -> io::Result<u64> {
        self.copy_flags(src, src_off, dst, dst_off, len, sharing.flags())
    }

    /// [`copy`](Self::copy) with a raw `flags` word, for callers (and tests) that need bits
    /// this crate does not name.
    pub fn copy_flags(
        &self,
        src: &impl AsFd,
        src_off: u64,
        dst: &impl AsFd,
        dst_off: u64,
        len: u64,
        flags: u64,
    ) -> io::Result<u64> {
        let mut args = sys::copy_range_args {
            src_fd: src.as_fd().as_raw_fd(),
            dst_fd: dst.as_fd().as_raw_fd(),
            src_off,
            dst_off,
            len,
            flags,
            copied: 0,
        };
        ioctl::copy(self.dev.as_fd(), &mut args)?;
        // `copied` holds the full 64-bit count; the return value is an `int` in glibc.
        Ok(args.copied)
    }

    /// Copies the whole range, calling again after short counts, until `len` bytes are done or
    /// the source ends. Returns the bytes copied.
    pub fn copy_all(
        &self,
        src: &impl AsFd,
        src_off: u64,
        dst: &impl AsFd,
        dst_off: u64,
        len: u64,
        sharing: Sharing,
    ) -> io::Result<u64> {
        let mut done = 0;
        while done < len {
            match self.copy(
                src,
                src_off + done,
                dst,
                dst_off + done,
                len - done,
                sharing,
            ) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// Starts an asynchronous copy of `len` bytes (clamped to the source's end of file) and
    /// returns its [`Job`]. Every check a synchronous copy makes is made here, so a bad
    /// descriptor, range or policy fails the submit, not the job. `EAGAIN`: the user already
    /// has the module's maximum number of jobs in flight.
    pub fn submit(
        &self,
        src: &impl AsFd,
        src_off: u64,
        dst: &impl AsFd,
        dst_off: u64,
        len: u64,
        sharing: Sharing,
    ) -> io::Result<Job> {
        let args = sys::copy_range_args {
            src_fd: src.as_fd().as_raw_fd(),
            dst_fd: dst.as_fd().as_raw_fd(),
            src_off,
            dst_off,
            len,
            flags: sharing.flags(),
            copied: 0,
        };
        ioctl::submit(self.dev.as_fd(), &args).map(Job::from_owned)
    }

    /// The arguments of a vector copy, but the segments: [`ioctl`] adds those.
    fn vec_args(src: &impl AsFd, dst: &impl AsFd, sharing: Sharing) -> sys::copy_range_vec {
        sys::copy_range_vec {
            src_fd: src.as_fd().as_raw_fd(),
            dst_fd: dst.as_fd().as_raw_fd(),
            flags: sharing.flags(),
            ..Default::default()
        }
    }

    /// Copies many ranges between the same two files synchronously (`COPY_RANGE_IOC_COPYV`),
    /// in order, stopping at the first that comes up short. At most
    /// [`sys::COPY_RANGE_VEC_MAX_SEGS`] segments; destination ranges must not overlap.
    ///
    /// Like every synchronous call, one call moves at most `MAX_RW_COUNT` bytes (just under
    /// 2 GiB) in all, so a larger vector comes back short: `done_segs` whole segments, and
    /// `copied` bytes, of which those past the whole segments are the start of the next one.
    /// Resume from there, or use [`submit_vec`](Self::submit_vec), whose job has no cap.
    pub fn copy_vec(
        &self,
        src: &impl AsFd,
        dst: &impl AsFd,
        segs: &[Segment],
        sharing: Sharing,
    ) -> io::Result<VecCopied> {
        let mut args = Self::vec_args(src, dst, sharing);
        ioctl::copy_vec(self.dev.as_fd(), &mut args, segs)?;
        Ok(VecCopied {
            done_segs: args.done_segs,
            copied: args.copied,
        })
    }

    /// Submits many ranges between the same two files as one [`Job`]
    /// (`COPY_RANGE_IOC_SUBMITV`); its `total` is the sum of the segments.
    pub fn submit_vec(
        &self,
        src: &impl AsFd,
        dst: &impl AsFd,
        segs: &[Segment],
        sharing: Sharing,
    ) -> io::Result<Job> {
        let args = Self::vec_args(src, dst, sharing);
        ioctl::submit_vec(self.dev.as_fd(), &args, segs).map(Job::from_owned)
    }
}

/// Opens `/dev/copy_range` if the module is there: `Ok(None)` when the node is absent (any
/// stock kernel) or no driver is behind it.
pub fn open_device() -> io::Result<Option<CopyRange>> {
    match CopyRange::open() {
        Ok(d) => Ok(Some(d)),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOENT) | Some(libc::ENXIO) | Some(libc::ENODEV)
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharing_maps_to_flags() {
        assert_eq!(Sharing::Forbid.flags(), 0);
        assert_eq!(Sharing::Allow.flags(), 1);
        assert_eq!(Sharing::Require.flags(), 2);
        assert_eq!(Sharing::default(), Sharing::Forbid);
    }

    #[test]
    fn open_without_module_is_enoent_or_works() {
        // On a host without the module the node is absent: the error must say so plainly.
        match CopyRange::open() {
            Ok(_) => assert!(std::path::Path::new(DEVICE_PATH).exists()),
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::NotFound),
        }
    }
}
