// SPDX-License-Identifier: GPL-2.0

//! Registration of a misc device whose node gets an explicit mode.
//!
//! `/dev/copy_range` must be usable by every user, like a syscall: each call's permission
//! checks come from the file descriptors it is given, so opening the device grants nothing.
//! The kernel's [`MiscDeviceRegistration`] has no field for the node's mode, which devtmpfs then
//! creates as 0600. This registers the same `struct miscdevice`, built by
//! [`MiscDeviceOptions::into_raw`], plus `mode`, and with the file operations of
//! [`crate::uring_cmd`] (the kernel's, plus `uring_cmd`). Both are obvious additions to
//! `MiscDeviceOptions` and `MiscDevice` upstream, after which this file goes away.
//!
//! C header: [`include/linux/miscdevice.h`](srctree/include/linux/miscdevice.h).

use core::marker::PhantomData;
use kernel::{
    bindings,
    error::to_result,
    miscdevice::{
        MiscDevice,
        MiscDeviceOptions,
        MiscDeviceRegistration, //
    },
    prelude::*,
    types::Opaque,
};

use crate::uring_cmd::{
    self,
    UringCmd, //
};

/// A registered misc device with node mode `mode`.
///
/// # Invariants
///
/// - `inner` is a `struct miscdevice` built by `MiscDeviceOptions::into_raw::<T>()` with the
///   file operations of `uring_cmd::file_operations::<T>()`, registered
///   with `misc_register()` for the whole life of `self`, and deregistered once, on drop.
/// - The layout is that of [`MiscDeviceRegistration<T>`] (`#[repr(transparent)]` over an
///   `Opaque<bindings::miscdevice>` in both), because the file operations of `T` find the
///   registration from the `struct miscdevice` pointer that `misc_open()` stores in the file.
#[repr(transparent)]
#[pin_data(PinnedDrop)]
pub(crate) struct MiscDeviceWithMode<T> {
    /// The `struct miscdevice` registered with `misc_register()`.
    #[pin]
    inner: Opaque<bindings::miscdevice>,
    /// The device's file operations are `T`'s.
    _t: PhantomData<T>,
}

// SAFETY: `misc_deregister()` may be called from any thread.
unsafe impl<T> Send for MiscDeviceWithMode<T> {}
// SAFETY: No method takes `&self` to change anything.
unsafe impl<T> Sync for MiscDeviceWithMode<T> {}

// The layout dependency on `MiscDeviceRegistration` (see the type's invariants), checked as far
// as the compiler can: same size and alignment.
const _: () = assert!(
    core::mem::size_of::<MiscDeviceWithMode<()>>()
        == core::mem::size_of::<MiscDeviceRegistration<()>>()
);
const _: () = assert!(
    core::mem::align_of::<MiscDeviceWithMode<()>>()
        == core::mem::align_of::<MiscDeviceRegistration<()>>()
);

impl<T: MiscDevice + UringCmd> MiscDeviceWithMode<T> {
    /// Registers the device described by `opts` with node mode `mode` (permission bits) and
    /// `T`'s io_uring commands.
    pub(crate) fn register(opts: MiscDeviceOptions, mode: u16) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            inner <- Opaque::try_ffi_init(move |slot: *mut bindings::miscdevice| {
                let mut raw = opts.into_raw::<T>();
                raw.mode = mode;
                raw.fops = uring_cmd::file_operations::<T>();
                // SAFETY: The initializer may write to `slot`.
                unsafe { slot.write(raw) };
                // SAFETY: `slot` holds a fully built `struct miscdevice` whose memory is pinned
                // and outlives the registration, which drop ends.
                // INVARIANT: On success the device is registered.
                to_result(unsafe { bindings::misc_register(slot) })
            }),
            _t: PhantomData,
        })
    }
}

#[pinned_drop]
impl<T> PinnedDrop for MiscDeviceWithMode<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: By the type invariant the device is registered, and this is the only place
        // that deregisters it.
        unsafe { bindings::misc_deregister(self.inner.get()) };
    }
}
