// SPDX-License-Identifier: GPL-2.0

//! The VFS as `copy_range` uses it: the one place in the module that calls raw bindings for
//! files. Everything here is a thin, safe wrapper; the rest of the module is safe Rust.
//!
//! C headers: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/fileattr.h`](srctree/include/linux/fileattr.h).

use kernel::{
    bindings,
    error::{
        from_err_ptr,
        to_result, //
    },
    fs::{
        file::flags::{
            O_APPEND,
            O_DIRECT, //
        },
        File,
        LocalFile, //
    },
    prelude::*,
    sync::aref::ARef,
};

use core::{
    mem::ManuallyDrop,
    ptr::NonNull, //
};

use crate::{
    helpers,
    ops::Range, //
};

/// `FMODE_READ` (`include/linux/fs.h`): a cast macro, so bindgen does not emit it.
const FMODE_READ: u32 = 1 << 0;
/// `FMODE_WRITE` (`include/linux/fs.h`).
const FMODE_WRITE: u32 = 1 << 1;

/// Converts an `ssize_t`/`loff_t` return value (a count, or a negative errno) into a `Result`.
fn count_result(ret: i64) -> Result<u64> {
    if ret < 0 {
        // The VFS returns errnos in `-MAX_ERRNO..0`, which fit an `i32`.
        Err(Error::from_errno(ret as i32))
    } else {
        Ok(ret as u64)
    }
}

/// Like [`count_result`], for a call asked to move at most `asked` bytes: a filesystem that
/// claims more (a FUSE daemon, or an NFS client passing a server's count through) is lying, and
/// trusting it would push every count computed from it past the range that was checked. That is
/// `EIO`, as a read that returns more than was asked would be.
fn count_at_most(ret: i64, asked: u64) -> Result<u64> {
    match count_result(ret)? {
        n if n > asked => Err(EIO),
        n => Ok(n),
    }
}

/// Filesystems whose files are "regular" but generated on read: their `i_size` is 0 or a page,
/// whatever they hold, so a copy bounded by the size would silently return 0 or a short count.
/// `copy_file_range(2)` is spared by refusing copies across filesystems (`EXDEV`, since 5.19);
/// `copy_range` copies across filesystems, so it must recognise them, and no superblock flag
/// says "sizes lie": hence the list, by `s_magic`.
const PSEUDO_FS_MAGICS: [u32; 15] = [
    bindings::PROC_SUPER_MAGIC,
    bindings::SYSFS_MAGIC,
    bindings::DEBUGFS_MAGIC,
    bindings::TRACEFS_MAGIC,
    bindings::SECURITYFS_MAGIC,
    bindings::CGROUP_SUPER_MAGIC,
    bindings::CGROUP2_SUPER_MAGIC,
    bindings::BPF_FS_MAGIC,
    bindings::PSTOREFS_MAGIC,
    bindings::EFIVARFS_MAGIC,
    bindings::BINFMTFS_MAGIC,
    bindings::SELINUX_MAGIC,
    bindings::SMACK_MAGIC,
    bindings::CONFIGFS_MAGIC,
    bindings::NSFS_MAGIC,
];

/// What kind of inode a file is, as far as copying goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InodeKind {
    /// `S_IFREG`.
    Regular,
    /// `S_IFDIR`.
    Directory,
    /// Anything else: pipes, sockets, devices, symlinks.
    Other,
}

/// A counted reference to an open file: one taken from the caller's descriptor table for a
/// copy, or a private one the module opened.
///
/// Dropping it puts the reference. In a user task that is `fput()`, whose final `__fput()` runs
/// before the task returns to userspace (so a `close()` followed by `umount` finds the file
/// closed). In a kernel thread (a job's worker, or the delayed `fput` of a job descriptor),
/// `fput()` would hand the final close to `delayed_fput`, to run some time later, and an
/// `umount` right after the job ended could fail with `EBUSY`; there the reference is put with
/// `__fput_sync()`, which closes at once. That is safe here: the module's workers are not
/// needed by any unmount, and they hold no lock when they drop a file.
///
/// # Invariants
///
/// `self.0` holds a reference to a valid `struct file`, so the file, its inode and its
/// superblock stay valid for as long as `self` exists.
pub(crate) struct CopyFile(ManuallyDrop<ARef<File>>);

impl CopyFile {
    /// Looks up `fd` in the current task's descriptor table: `EBADF` if it is not open (or is an
    /// `O_PATH` descriptor, which `fget()` skips, as `copy_file_range(2)` does).
    pub(crate) fn from_fd(fd: i32) -> Result<Self> {
        let fd = u32::try_from(fd).map_err(|_| EBADF)?;
        let file = LocalFile::fget(fd)?;
        // SAFETY: This runs from an ioctl on `/dev/copy_range`, and this module never calls
        // `fdget_pos()`, so there is no active `fdget_pos()` region on this thread.
        // INVARIANT: `fget()` returned a counted reference.
        Ok(Self(ManuallyDrop::new(unsafe {
            LocalFile::assume_no_fdget_pos(file)
        })))
    }

    /// The underlying `struct file`, for the calls below.
    ///
    /// This is the pointer `File::as_ptr()` returns, computed here because that goes through
    /// `Opaque::get()`, which is not inlined across crates: the checks of one copy would pay
    /// for a dozen calls.
    #[inline]
    fn raw(&self) -> *mut bindings::file {
        let file: &File = &self.0;
        // `File` is `#[repr(transparent)]` over `Opaque<bindings::file>`, itself transparent over
        // the C struct, so both point to the same address; `Opaque` allows mutation through a
        // shared reference, which C does.
        core::ptr::from_ref(file).cast_mut().cast()
    }

    /// The inode; valid for as long as `self` by the type invariant.
    #[inline]
    fn inode(&self) -> *mut bindings::inode {
        // SAFETY: `f_inode` is set when the file is opened and never changes afterwards.
        unsafe { (*self.raw()).f_inode }
    }

    /// The superblock of the file's inode.
    #[inline]
    fn sb(&self) -> *mut bindings::super_block {
        // SAFETY: An inode's `i_sb` is set at allocation and never changes.
        unsafe { (*self.inode()).i_sb }
    }

    /// The file's operations.
    #[inline]
    fn fops(&self) -> &bindings::file_operations {
        // SAFETY: `f_op` of an open file points to a static `file_operations` that lives at least
        // as long as the file (its module is pinned by the open file).
        unsafe { &*(*self.raw()).f_op }
    }

    /// `f_mode`, read once as `READ_ONCE()` would.
    #[inline]
    fn f_mode(&self) -> u32 {
        // SAFETY: The file is valid; `f_mode` is a plain integer that C reads without locks.
        unsafe { core::ptr::addr_of!((*self.raw()).f_mode).read_volatile() }
    }

    /// The credentials the file was opened with.
    pub(crate) fn cred(&self) -> &kernel::cred::Credential {
        self.0.cred()
    }

    /// Opened for reading (`FMODE_READ`).
    #[inline]
    pub(crate) fn readable(&self) -> bool {
        self.f_mode() & FMODE_READ != 0
    }

    /// Opened for writing (`FMODE_WRITE`).
    #[inline]
    pub(crate) fn writable(&self) -> bool {
        self.f_mode() & FMODE_WRITE != 0
    }

    /// The open flags, as they are now (`fcntl(F_SETFL)` may change some at any time).
    #[inline]
    fn open_flags(&self) -> u32 {
        // SAFETY: The file is valid; `f_flags` is a plain integer that C reads without locks
        // (`File::flags()` reads it the same way, through a call).
        unsafe { core::ptr::addr_of!((*self.raw()).f_flags).read_volatile() }
    }

    /// Opened with `O_APPEND`.
    #[inline]
    pub(crate) fn append_only(&self) -> bool {
        self.open_flags() & O_APPEND != 0
    }

    /// Writes and reads go around the page cache (`O_DIRECT`), now.
    #[inline]
    pub(crate) fn direct_io(&self) -> bool {
        self.open_flags() & O_DIRECT != 0
    }

    /// The kind of inode behind the file.
    #[inline]
    pub(crate) fn kind(&self) -> InodeKind {
        // SAFETY: `i_mode`'s type bits never change after the inode is set up.
        let mode = u32::from(unsafe { (*self.inode()).i_mode });
        match mode & bindings::S_IFMT {
            bindings::S_IFREG => InodeKind::Regular,
            bindings::S_IFDIR => InodeKind::Directory,
            _ => InodeKind::Other,
        }
    }

    /// The inode's `S_*` flags, read once as `READ_ONCE()` would (`chattr` may change them).
    #[inline]
    fn inode_flags(&self) -> u32 {
        // SAFETY: The inode is valid by the type invariant; `i_flags` is a plain integer that C
        // reads without locks.
        unsafe { core::ptr::addr_of!((*self.inode()).i_flags).read_volatile() }
    }

    /// `IS_IMMUTABLE()`.
    pub(crate) fn immutable(&self) -> bool {
        self.inode_flags() & bindings::S_IMMUTABLE != 0
    }

    /// `IS_SWAPFILE()`: an active swap file.
    pub(crate) fn swapfile(&self) -> bool {
        self.inode_flags() & bindings::S_SWAPFILE != 0
    }

    /// On a pseudo filesystem whose file sizes do not describe their contents (procfs, sysfs…):
    /// see [`PSEUDO_FS_MAGICS`].
    pub(crate) fn on_pseudo_fs(&self) -> bool {
        // SAFETY: `s_magic` is set when the superblock is filled and does not change while it is
        // mounted, which it is while a file on it is open.
        let magic = unsafe { (*self.sb()).s_magic };
        PSEUDO_FS_MAGICS
            .iter()
            .any(|&m| magic == m as kernel::ffi::c_ulong)
    }

    /// Has the NOCOW attribute (`chattr +C`).
    pub(crate) fn nocow(&self) -> Result<bool> {
        // SAFETY: The file is valid by the type invariant.
        let ret = unsafe { helpers::copy_range_is_nocow(self.raw()) };
        kernel::error::to_result(ret.min(0))?;
        Ok(ret > 0)
    }

    /// `i_size_read()`.
    pub(crate) fn size(&self) -> i64 {
        // SAFETY: The file is valid by the type invariant.
        unsafe { helpers::copy_range_i_size_read(self.raw()) }
    }

    /// Whether the file may have holes: fewer bytes allocated than its size. A file whose
    /// blocks cover its size is copied without looking for holes, which saves opening a second
    /// file on every call. (Blocks allocated beyond the end of file can hide a hole; such a
    /// hole is then copied as zeros, as `copy_file_range(2)` does with every hole.)
    pub(crate) fn may_have_holes(&self) -> bool {
        // Read without `i_lock`, as `generic_fillattr()` does for stat(2): a racing allocation
        // can only make the answer stale, and a stale answer costs a lookup or keeps a hole
        // dense, never wrong data.
        // SAFETY: The inode is valid by the type invariant; `i_blocks` is a plain integer.
        let blocks = unsafe { core::ptr::addr_of!((*self.inode()).i_blocks).read_volatile() };
        let allocated = i64::try_from(blocks)
            .unwrap_or(i64::MAX)
            .saturating_mul(512);
        allocated < self.size()
    }

    /// Both files reach the same bytes: the same inode, or, through a stacked filesystem
    /// (overlayfs), the same inode below. An overlayfs file and its upper file are two inodes on
    /// two superblocks, but one set of bytes, so a copy between overlapping ranges of them would
    /// read what it has just written.
    #[inline]
    pub(crate) fn same_data(&self, other: &CopyFile) -> bool {
        if self.inode() == other.inode() {
            return true;
        }
        // SAFETY: Both files are valid by the type invariant; `d_real_inode()` of an open file's
        // dentry is valid while the file is.
        unsafe {
            helpers::copy_range_real_inode(self.raw())
                == helpers::copy_range_real_inode(other.raw())
        }
    }

    /// Both files are on the same superblock.
    #[inline]
    pub(crate) fn same_sb(&self, other: &CopyFile) -> bool {
        self.sb() == other.sb()
    }

    /// The filesystem's block size (`s_blocksize`): the unit extents are shared in. A stacked
    /// filesystem (overlayfs) has none of its own; then it is that of the filesystem that holds
    /// the file's data, which is the one that shares.
    #[inline]
    pub(crate) fn block_size(&self) -> u64 {
        // SAFETY: `s_blocksize` is set when the superblock is filled and does not change while
        // it is mounted, which it is while a file on it is open.
        let own = unsafe { (*self.sb()).s_blocksize };
        if own != 0 {
            return u64::from(own as u32);
        }
        // SAFETY: The file is valid by the type invariant; the inode that holds its data, and
        // that inode's superblock, stay valid while the file is open.
        u64::from(
            unsafe { (*(*helpers::copy_range_real_inode(self.raw())).i_sb).s_blocksize } as u32,
        )
    }

    /// The filesystem type's name (`"btrfs"`, `"xfs"`…).
    pub(crate) fn fs_name(&self) -> &CStr {
        // SAFETY: `s_type` points to the registered `file_system_type`, whose `name` is a static
        // NUL-terminated string; the filesystem module is pinned while the superblock exists.
        unsafe { CStr::from_char_ptr((*(*self.sb()).s_type).name) }
    }

    /// The filesystem implements `->remap_file_range` (clone/reflink).
    pub(crate) fn has_remap(&self) -> bool {
        self.fops().remap_file_range.is_some()
    }

    /// The filesystem implements its own `->copy_file_range` (server-side or stacked copies).
    pub(crate) fn has_copy_file_range(&self) -> bool {
        self.fops().copy_file_range.is_some()
    }

    /// Whether both files share one `->copy_file_range`, the condition under which the VFS lets
    /// a filesystem copy between two of its superblocks (two NFS mounts, say).
    pub(crate) fn same_copy_file_range(&self, other: &CopyFile) -> bool {
        self.has_copy_file_range()
            && self.fops().copy_file_range.map(|f| f as usize)
                == other.fops().copy_file_range.map(|f| f as usize)
    }
}

impl Drop for CopyFile {
    fn drop(&mut self) {
        // SAFETY: `self.0` is taken once, here, and never used again.
        let file = unsafe { ManuallyDrop::take(&mut self.0) };
        if in_kthread() {
            let raw = ARef::into_raw(file);
            // SAFETY: The reference `ARef` owned is now ours to put; nothing uses `raw` after.
            unsafe { bindings::__fput_sync(raw.as_ptr().cast()) };
        } else {
            drop(file);
        }
    }
}

/// The current task is a kernel thread (see [`CopyFile`]'s drop).
pub(crate) fn in_kthread() -> bool {
    // SAFETY: Reads the current task's flags; always safe.
    unsafe { helpers::copy_range_in_kthread() }
}

/// The current task may wait for a job when it closes the job's descriptor: it is neither a
/// kernel thread nor exiting (an exiting task closes its descriptors after its `SIGKILL` was
/// dequeued, so a killable wait would never end on it).
pub(crate) fn can_wait_for_jobs() -> bool {
    // SAFETY: Reads the current task's flags; always safe.
    unsafe { helpers::copy_range_can_wait_for_jobs() }
}

/// A freezer is under way (suspend or hibernation freezing tasks, or a cgroup v1 freezer): the
/// freezer waits for the running items of a freezable workqueue, for 20 s at most before a
/// suspend fails, so a job ends its step at the next chunk.
pub(crate) fn freezer_active() -> bool {
    // SAFETY: Reads a static key; always safe.
    unsafe { helpers::copy_range_freezer_active() }
}

/// `generic_write_check_limits()`: `EFBIG` (and `SIGXFSZ`) past `RLIMIT_FSIZE` or the
/// filesystem's maximum size; shortens `count` to the limit otherwise.
#[inline]
pub(crate) fn write_check_limits(dst: &CopyFile, pos: i64, count: &mut u64) -> Result {
    // `count` is at most the source's size plus one (for a negative offset, as in C), and the
    // wrap check bounds it below 2^63, so it fits a `loff_t`.
    let mut c = *count as i64;
    // SAFETY: `dst` is valid by its type invariant; `c` is a valid `loff_t` to update.
    to_result(unsafe { bindings::generic_write_check_limits(dst.raw(), pos, &mut c) })?;
    *count = c as u64;
    Ok(())
}

/// `rw_verify_area()`: `EINVAL` for negative offsets, plus mandatory locks and the LSM and
/// fanotify permission hooks for reading (`write == false`) or writing `count` bytes at `pos`.
#[inline]
pub(crate) fn verify_area(file: &CopyFile, write: bool, pos: i64, count: u64) -> Result {
    let rw = if write { 1 } else { 0 };
    // SAFETY: `file` is valid by its type invariant and `pos` lives across the call.
    to_result(unsafe { bindings::rw_verify_area(rw, file.raw(), &pos, count as usize) })
}

/// Copies data through the page cache with `do_splice_direct()`, never sharing an extent and
/// never calling a filesystem's own copy method: what `vfs_copy_file_range(...,
/// COPY_FILE_SPLICE)` does once its checks have passed. At most `MAX_RW_COUNT` bytes.
///
/// It does not run the VFS checks again: the range must lie inside one that passed
/// [`verify_area`] and the other checks of `copy_file_range(2)` in this call, as
/// `do_splice_direct()` requires (`crate::copy` runs them once per call).
pub(crate) fn splice_copy(
    src: &CopyFile,
    src_pos: i64,
    dst: &CopyFile,
    dst_pos: i64,
    len: u64,
) -> Result<u64> {
    // SAFETY: Both files are valid by their type invariants and no lock is held;
    // `do_splice_direct()` itself refuses a destination not open for writing or in append mode.
    let ret =
        unsafe { helpers::copy_range_splice(src.raw(), src_pos, dst.raw(), dst_pos, len as usize) };
    count_at_most(ret as i64, len)
}

/// The fsnotify events and I/O accounting of a data copy of `copied` bytes, as
/// `vfs_copy_file_range()` emits them: once for the whole call, however many chunks it took.
pub(crate) fn notify_copied(src: &CopyFile, dst: &CopyFile, copied: u64) {
    // SAFETY: Both files are valid by their type invariants; `copied` is at most
    // `MAX_RW_COUNT`.
    unsafe { helpers::copy_range_notify(src.raw(), dst.raw(), copied as usize) };
}

/// Lets the filesystem copy in its own way (`vfs_copy_file_range(..., 0)`): its
/// `->copy_file_range` (which may share extents or copy on a server), else a same-superblock
/// clone that may be shortened, else a data copy. Only for `COPY_RANGE_SHARE_ALLOW`.
pub(crate) fn fs_copy(range: &Range<'_>) -> Result<u64> {
    // SAFETY: Both files are valid by their type invariants; no lock is held; the flags are 0.
    let ret = unsafe {
        bindings::vfs_copy_file_range(
            range.src.raw(),
            range.src_off,
            range.dst.raw(),
            range.dst_off,
            range.len as usize,
            0,
        )
    };
    count_at_most(ret as i64, range.len)
}

/// Shares up to `range.len` bytes of extents (`vfs_clone_file_range()` with
/// `REMAP_FILE_CAN_SHORTEN`). Returns the bytes shared, from the start of the range: a
/// filesystem that stops part way (xfs on a fatal signal, `ENOSPC` or `EDQUOT`) says how far it
/// got instead of failing a range it has partly changed. btrfs cannot say: it fails the whole
/// call, with some of the range possibly shared already; callers bound that by asking for
/// `range::CLONE_STEP` at most. The length must not be 0 (0 means "to EOF" there).
pub(crate) fn clone_range(range: &Range<'_>) -> Result<u64> {
    if range.len == 0 {
        return Err(EINVAL);
    }
    let flags = bindings::REMAP_FILE_CAN_SHORTEN;
    // SAFETY: Both files are valid by their type invariants; no lock is held. The flags are the
    // module's own, never `REMAP_FILE_DEDUP` (which warns) and never anything from userspace.
    let ret = unsafe {
        bindings::vfs_clone_file_range(
            range.src.raw(),
            range.src_off,
            range.dst.raw(),
            range.dst_off,
            range.len as i64,
            flags,
        )
    };
    count_at_most(ret, range.len)
}

/// A private open file of a copy's source, to find its holes with `SEEK_DATA`/`SEEK_HOLE`
/// without moving the caller's file position (every `->llseek` sets `f_pos`). Closed like any
/// [`CopyFile`]: at once, also when a job's worker drops it.
pub(crate) struct HoleFinder(CopyFile);

impl HoleFinder {
    /// Opens the source's path again, read-only, with the credentials it was opened with.
    pub(crate) fn new(src: &CopyFile) -> Result<Self> {
        let flags = (bindings::O_RDONLY | bindings::O_LARGEFILE) as i32;
        // SAFETY: `f_path` of an open file is valid and stays so while `src` is held; the
        // credentials are those the source was opened with, kept alive by the file.
        let file = unsafe {
            bindings::dentry_open(
                &(*src.raw()).__bindgen_anon_1.f_path,
                flags,
                src.cred().as_ptr(),
            )
        };
        let file = NonNull::new(from_err_ptr(file)?).ok_or(EINVAL)?;
        // SAFETY: `dentry_open()` returned a new, valid file with one reference, which the
        // `ARef` now owns.
        // INVARIANT: A counted reference to a valid file.
        let file = unsafe { ARef::from_raw(NonNull::from(File::from_raw_file(file.as_ptr()))) };
        Ok(Self(CopyFile(ManuallyDrop::new(file))))
    }

    /// Calls `vfs_llseek()` on the private file.
    fn seek(&self, pos: i64, whence: u32) -> Result<i64> {
        // SAFETY: The file is valid by `CopyFile`'s invariant, and private to `self`.
        let ret = unsafe { bindings::vfs_llseek(self.0.raw(), pos, whence as i32) };
        count_result(ret).map(|p| p as i64)
    }

    /// The first byte of data at or after `pos`, or `None` if only a hole follows up to EOF.
    pub(crate) fn next_data(&self, pos: i64) -> Result<Option<i64>> {
        match self.seek(pos, bindings::SEEK_DATA) {
            Ok(p) => Ok(Some(p)),
            Err(e) if e == ENXIO => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The first hole at or after `pos` (EOF counts as a hole).
    pub(crate) fn next_hole(&self, pos: i64) -> Result<i64> {
        self.seek(pos, bindings::SEEK_HOLE)
    }
}

/// Whether the current task has a signal pending.
pub(crate) fn signal_pending() -> bool {
    kernel::current!().signal_pending()
}

#[kunit_tests(copy_range_vfs)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_errnos_convert() {
        assert_eq!(count_result(0), Ok(0));
        assert_eq!(count_result(4096), Ok(4096));
        assert_eq!(count_result(-i64::from(bindings::EINVAL)), Err(EINVAL));
    }

    /// The over-report check, which no in-tree filesystem reaches from a test: FUSE refuses a
    /// daemon's over-report itself (`fuse_copy_file_range()` returns `EIO`), and only an NFS
    /// server could send one to a client that passes it through.
    #[test]
    fn a_count_past_the_request_is_eio() {
        assert_eq!(count_at_most(4096, 4096), Ok(4096));
        assert_eq!(count_at_most(0, 4096), Ok(0));
        assert_eq!(count_at_most(4097, 4096), Err(EIO));
        assert_eq!(count_at_most(i64::MAX, 0), Err(EIO));
        assert_eq!(count_at_most(-i64::from(bindings::EIO), 4096), Err(EIO));
    }
}
