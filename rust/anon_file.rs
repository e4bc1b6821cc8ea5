// SPDX-License-Identifier: GPL-2.0

//! File descriptors backed by an anonymous inode whose private data is an `Arc<T>`: the job
//! descriptors. All the raw `file_operations` plumbing is here, so that `job.rs` stays safe.
//!
//! C header: [`include/linux/anon_inodes.h`](srctree/include/linux/anon_inodes.h). The kernel
//! crate has no abstraction for anonymous inodes yet; this is the shape of one.

use crate::helpers;
use core::{
    marker::PhantomData,
    ptr::NonNull, //
};
use kernel::{
    bindings,
    error::from_err_ptr,
    ffi::{
        c_int,
        c_long,
        c_uint,
        c_ulong, //
    },
    fs::{
        file::FileDescriptorReservation,
        File, //
    },
    prelude::*,
    sync::{
        aref::ARef,
        poll::PollTable,
        Arc,
        ArcBorrow, //
    },
    types::ForeignOwnable,
    uaccess::{
        UserPtr,
        UserSlice,
        UserSliceWriter, //
    },
};

/// The operations of an anonymous file whose private data is an `Arc<Self>`.
pub(crate) trait AnonFile: Send + Sync + Sized + 'static {
    /// Name of the anonymous inode, shown in `/proc/<pid>/fd` as `anon_inode:<name>`.
    const NAME: &'static CStr;

    /// `read(2)`: `count` bytes at most are wanted; never blocks.
    fn read(this: ArcBorrow<'_, Self>, writer: UserSliceWriter, count: usize) -> Result<usize>;

    /// `poll(2)`: registers `table` on the object's wait queue and returns the ready mask.
    fn poll(this: ArcBorrow<'_, Self>, file: &File, table: PollTable<'_>) -> u32;

    /// `ioctl(2)`.
    fn ioctl(this: ArcBorrow<'_, Self>, cmd: u32, arg: UserPtr) -> Result<isize>;

    /// The last reference to the file is gone.
    fn release(this: Arc<Self>);
}

/// The `file_operations` of an [`AnonFile`].
struct VTable<T: AnonFile>(PhantomData<T>);

impl<T: AnonFile> VTable<T> {
    const FOPS: bindings::file_operations = bindings::file_operations {
        owner: kernel::module::this_module::<crate::LocalModule>().as_ptr(),
        read: Some(Self::read),
        poll: Some(Self::poll),
        unlocked_ioctl: Some(Self::ioctl),
        compat_ioctl: bindings::compat_ptr_ioctl,
        release: Some(Self::release),
        ..pin_init::zeroed()
    };

    /// A `'static` reference through constant promotion, as `miscdevice.rs` does.
    const fn fops() -> &'static bindings::file_operations {
        &Self::FOPS
    }

    /// Borrows the private data.
    ///
    /// # Safety
    ///
    /// `file` must be a file created by [`install`] for `T` that has not been released.
    unsafe fn data<'a>(file: *mut bindings::file) -> ArcBorrow<'a, T> {
        // SAFETY: `private_data` is an `Arc<T>` made foreign by `install`, reclaimed only in
        // `release`, which the caller guarantees has not run.
        unsafe { <Arc<T> as ForeignOwnable>::borrow((*file).private_data) }
    }

    /// # Safety
    ///
    /// Called by the VFS with a file of ours and a user buffer of `count` bytes.
    unsafe extern "C" fn read(
        file: *mut bindings::file,
        buf: *mut u8,
        count: usize,
        _pos: *mut bindings::loff_t,
    ) -> isize {
        // `read` runs inside `fdget_pos()`, so no `&File` may be made here; the private data
        // is all that is needed.
        // SAFETY: The VFS calls `read` on a live file of ours.
        let this = unsafe { Self::data(file) };
        let writer = UserSlice::new(UserPtr::from_ptr(buf.cast()), count).writer();
        match T::read(this, writer, count) {
            Ok(n) => n as isize,
            Err(e) => e.to_errno() as isize,
        }
    }

    /// # Safety
    ///
    /// Called by the VFS with a file of ours and a valid (or null) poll table.
    unsafe extern "C" fn poll(
        file: *mut bindings::file,
        wait: *mut bindings::poll_table_struct,
    ) -> bindings::__poll_t {
        // SAFETY: The VFS calls `poll` on a live file of ours.
        let this = unsafe { Self::data(file) };
        // SAFETY: `poll` is not called under `fdget_pos()`, and the file outlives the call.
        let file = unsafe { File::from_raw_file(file) };
        // SAFETY: `wait` is null or a valid poll table for the duration of the call.
        let table = unsafe { PollTable::from_raw(wait) };
        T::poll(this, file, table)
    }

    /// # Safety
    ///
    /// Called by the VFS with a file of ours.
    unsafe extern "C" fn ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
        // SAFETY: The VFS calls `unlocked_ioctl` on a live file of ours.
        let this = unsafe { Self::data(file) };
        match T::ioctl(this, cmd, UserPtr::from_addr(arg)) {
            Ok(n) => n as c_long,
            Err(e) => e.to_errno() as c_long,
        }
    }

    /// # Safety
    ///
    /// Called by the VFS once, when the last reference to a file of ours is gone.
    unsafe extern "C" fn release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: `release` is called once, after every other operation on the file, so the
        // reference `install` made foreign can be taken back.
        let this = unsafe { <Arc<T> as ForeignOwnable>::from_foreign((*file).private_data) };
        T::release(this);
        0
    }
}

/// Creates an anonymous file for `data`, read-only and `O_CLOEXEC`, runs `start` once nothing
/// can fail any more, and installs the file in the caller's descriptor table. Returns the
/// descriptor.
///
/// If anything fails, no descriptor is installed and `data` is dropped; `start` has not run.
pub(crate) fn install<T: AnonFile>(data: Arc<T>, start: impl FnOnce(Arc<T>)) -> Result<u32> {
    let reservation = FileDescriptorReservation::get_unused_fd_flags(bindings::O_CLOEXEC)?;
    let started = data.clone();
    let private = data.into_foreign();
    // SAFETY: `NAME` is NUL-terminated and static, the vtable is static, and the file takes
    // over the reference in `private`.
    let raw = unsafe {
        helpers::anon_inode_getfile(
            T::NAME.as_char_ptr(),
            VTable::<T>::fops(),
            private,
            bindings::O_RDONLY as c_int,
        )
    };
    let raw = match from_err_ptr(raw) {
        Ok(raw) => raw,
        Err(e) => {
            // SAFETY: No file was created, so the reference is still ours.
            drop(unsafe { <Arc<T> as ForeignOwnable>::from_foreign(private) });
            return Err(e);
        }
    };
    // SAFETY: `anon_inode_getfile()` returned a new file with one reference, which the `ARef`
    // now owns.
    let file = unsafe { ARef::from_raw(NonNull::from(File::from_raw_file(raw))) };
    start(started);
    let fd = reservation.reserved_fd();
    reservation.fd_install(file);
    Ok(fd)
}
