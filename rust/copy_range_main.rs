// SPDX-License-Identifier: GPL-2.0

//! `copy_range`: a prototype of a copy-offload VFS operation.
//!
//! `copy_range(src_fd, src_off, dst_fd, dst_off, len, flags)` copies a range of bytes between two
//! open files inside the kernel and lets the filesystem share extents or copy on its own where
//! the caller's sharing policy allows. The operation is reached through ioctls on the misc device
//! `/dev/copy_range`; the ABI is in `include/uapi/linux/copy_range.h`.

use kernel::{
    fs::File,
    miscdevice::{
        MiscDevice,
        MiscDeviceOptions,
        MiscDeviceRegistration, //
    },
    prelude::*,
};

mod uapi;

module! {
    type: CopyRangeModule,
    name: "copy_range",
    authors: ["The copy_range developers"],
    description: "copy_range: ranged copy offload between open files",
    license: "GPL",
}

/// The module: owns the `/dev/copy_range` registration.
#[pin_data]
struct CopyRangeModule {
    /// Deregistered on unload, before anything else in the module goes away.
    #[pin]
    _misc: MiscDeviceRegistration<CopyRangeDevice>,
}

impl kernel::InPlaceModule for CopyRangeModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        let options = MiscDeviceOptions {
            name: c"copy_range",
        };
        try_pin_init!(Self {
            _misc <- MiscDeviceRegistration::register(options),
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

    // No operation yet: the copy ioctls come with the copy_range operation itself.
    fn ioctl(_device: (), _file: &File, _cmd: u32, _arg: usize) -> Result<isize> {
        Err(ENOTTY)
    }
}
