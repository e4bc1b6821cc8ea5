// SPDX-License-Identifier: GPL-2.0

//! `copy_range`: a prototype of a copy-offload VFS operation.
//!
//! `copy_range(src_fd, src_off, dst_fd, dst_off, len, flags)` copies a range of bytes between two
//! open files inside the kernel and lets the filesystem share extents or copy on its own where
//! the caller's sharing policy allows. The operation is reached through ioctls on the misc device
//! `/dev/copy_range`; the ABI is in `include/uapi/linux/copy_range.h`, the design and its reasons
//! in `Documentation/`.
//!
//! Layout, from the ioctls down:
//!
//! - [`uapi`]: the ABI, generated from the C header.
//! - The ioctls below, and the same copies as io_uring commands: [`uring_copy`].
//! - [`copy`]: one call's files and checks; [`vec`]: vectors of ranges; [`job`]: asynchronous
//!   copies, with [`job_queue`] (where they run), [`job_limit`] (how many) and [`submitter`]
//!   (whose credentials and limits they copy with); [`anon_file`]: the job descriptors.
//! - [`policy`]: the sharing policy, decided in one place; [`ops`]: what each filesystem can do
//!   (one implementation per file under `ops/`); [`data_copy`]: the in-kernel data copy.
//! - Shared vocabulary: [`progress`] (how far a copy got, how its caller steers it), [`range`]
//!   (pure arithmetic and the chunk sizes, under KUnit), [`stats`] (the debugfs counters).
//! - The only raw kernel calls: [`vfs`] (files), [`completion`] (a killable wait),
//!   [`misc_mode`] (the device node's mode), [`uring_cmd`] (io_uring commands), [`helpers`]
//!   (bindgen output for the C helpers in `helpers.c`).

use kernel::{
    debugfs,
    fs::File,
    miscdevice::{
        MiscDevice,
        MiscDeviceOptions,
        MiscDeviceRegistration, //
    },
    prelude::*,
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

mod anon_file;
mod completion;
mod copy;
mod data_copy;
mod helpers;
mod job;
mod job_limit;
mod job_queue;
mod misc_mode;
mod ops;
mod policy;
mod progress;
mod range;
mod stats;
mod submitter;
mod uapi;
mod uring_cmd;
mod uring_copy;
mod vec;
mod vfs;

use misc_mode::MiscDeviceWithMode;

module! {
    type: CopyRangeModule,
    name: "copy_range",
    authors: ["The copy_range developers"],
    description: "copy_range: ranged copy offload between open files",
    license: "GPL",
    params: {
        max_jobs_per_user: u32 {
            default: 64,
            description: "Asynchronous copies one user may have in flight, counted across user namespaces (EAGAIN past it)",
        },
        max_jobs: u32 {
            default: 256,
            description: "Asynchronous copies in flight in all (EAGAIN past it; at most 1024)",
        },
    },
}

/// Mode of `/dev/copy_range`: every user may open it; each copy's permission checks come from
/// the file descriptors it names, as for a syscall.
const DEVICE_MODE: u16 = 0o666;

/// The module. Fields drop in declaration order: the device goes first, so that no new call
/// starts, then the job queue, which waits for every worker to return, then the counters' file
/// and its directory.
#[pin_data]
struct CopyRangeModule {
    /// `/dev/copy_range`.
    #[pin]
    _misc: MiscDeviceWithMode<CopyRangeDevice>,
    /// The workqueue jobs run on.
    _jobs: job_queue::JobQueue,
    /// `/sys/kernel/debug/copy_range/stats`.
    #[pin]
    _stats: debugfs::File<ops::StatsTable>,
    /// `/sys/kernel/debug/copy_range/`.
    _debugfs: debugfs::Dir,
}

impl kernel::InPlaceModule for CopyRangeModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        job_limit::init();
        let debugfs = debugfs::Dir::new(c"copy_range");
        let options = MiscDeviceOptions {
            name: c"copy_range",
        };
        try_pin_init!(Self {
            // Before the device: an ioctl may submit a job as soon as it exists.
            _jobs: job_queue::JobQueue::new()?,
            _stats <- debugfs.read_only_file(c"stats", ops::StatsTable),
            _debugfs: debugfs,
            _misc <- MiscDeviceWithMode::register(options, DEVICE_MODE),
        })
    }
}

/// An open `/dev/copy_range`. It carries no state: every call names its files by descriptor,
/// so one open device serves any number of threads, like a syscall.
struct CopyRangeDevice;

#[vtable]
impl MiscDevice for CopyRangeDevice {
    type Ptr = ();

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result {
        Ok(())
    }

    fn ioctl(_device: (), _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let arg = UserPtr::from_addr(arg);
        match cmd {
            uapi::COPY_RANGE_IOC_COPY => ioctl_copy(arg),
            uapi::COPY_RANGE_IOC_SUBMIT => ioctl_submit(arg),
            uapi::COPY_RANGE_IOC_COPYV => copyv(arg),
            uapi::COPY_RANGE_IOC_SUBMITV => ioctl_submitv(arg),
            _ => Err(ENOTTY),
        }
    }
}

/// `COPY_RANGE_IOC_COPY`: one synchronous copy; the count goes to `copied` and is returned.
fn ioctl_copy(arg: UserPtr) -> Result<isize> {
    let size = core::mem::size_of::<uapi::CopyRangeArgs>();
    let args: uapi::CopyRangeArgs = UserSlice::new(arg, size).reader().read()?;
    let copied = copy_args(&args)?;
    // Only `copied` is written back: the other fields are the caller's and stay as they are.
    let field = arg.wrapping_byte_add(core::mem::offset_of!(uapi::CopyRangeArgs, copied));
    // As for copy_file_range(2), a fault here after data was copied is still EFAULT.
    UserSlice::new(field, core::mem::size_of_val(&copied))
        .writer()
        .write(&copied)?;
    // At most MAX_RW_COUNT, so it fits.
    Ok(copied as isize)
}

/// One synchronous copy as `args` describe it, on behalf of the current task: what
/// `COPY_RANGE_IOC_COPY` and `COPY_RANGE_URING_CMD_COPY` do. Returns the bytes copied.
fn copy_args(args: &uapi::CopyRangeArgs) -> Result<u64> {
    let files = copy::Files::from_fds(args.src_fd, args.dst_fd, args.flags)?;
    // `loff_t`, as `copy_file_range(2)` reads its offsets.
    let (src_off, dst_off) = (args.src_off as i64, args.dst_off as i64);
    files.copy(src_off, dst_off, args.len, &progress::Interruptible)
}

/// `COPY_RANGE_IOC_SUBMIT`: checks as `COPY_RANGE_IOC_COPY` does, then starts a job: a
/// `SUBMITV` of one segment.
fn ioctl_submit(arg: UserPtr) -> Result<isize> {
    let size = core::mem::size_of::<uapi::CopyRangeArgs>();
    let args: uapi::CopyRangeArgs = UserSlice::new(arg, size).reader().read()?;
    let files = copy::Files::from_fds(args.src_fd, args.dst_fd, args.flags)?;
    let (src_off, dst_off) = (args.src_off as i64, args.dst_off as i64);
    let req = vec::VecRequest::one(files, src_off, dst_off, args.len)?;
    job::Job::submit(req.files, req.segments, req.total)
}

/// `COPY_RANGE_IOC_COPYV` and `COPY_RANGE_URING_CMD_COPYV`: a synchronous vector copy of the
/// `struct copy_range_vec` at `arg`, whose `done_segs` and `copied` are written back.
fn copyv(arg: UserPtr) -> Result<isize> {
    let size = core::mem::size_of::<uapi::CopyRangeVec>();
    let (mut reader, mut writer) = UserSlice::new(arg, size).reader_writer();
    let mut args: uapi::CopyRangeVec = reader.read()?;
    let req = vec::VecRequest::from_user(&args)?;
    let (done_segs, copied, error) = req.copy(&progress::Interruptible);
    if let (0, Some(e)) = (copied, error) {
        return Err(e);
    }
    args.done_segs = done_segs;
    args.copied = copied;
    writer.write(&args)?;
    // At most MAX_RW_COUNT, so it fits.
    Ok(copied as isize)
}

/// `COPY_RANGE_IOC_SUBMITV`: checks every segment, then starts one job for all of them.
fn ioctl_submitv(arg: UserPtr) -> Result<isize> {
    let size = core::mem::size_of::<uapi::CopyRangeVec>();
    let args: uapi::CopyRangeVec = UserSlice::new(arg, size).reader().read()?;
    let req = vec::VecRequest::from_user(&args)?;
    job::Job::submit(req.files, req.segments, req.total)
}
