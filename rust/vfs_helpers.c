// SPDX-License-Identifier: GPL-2.0
/*
 * Out-of-line wrappers of static inline kernel helpers for vfs.rs, and the
 * one judgement that is a table of C constants: which filesystems are
 * pseudo filesystems whose file sizes do not describe their contents.
 */
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/fileattr.h>
#include <linux/magic.h>
#include <linux/sched/signal.h>

#include "vfs_helpers.h"

loff_t copy_range_i_size_read(struct file *file)
{
	return i_size_read(file_inode(file));
}

bool copy_range_is_immutable(struct file *file)
{
	return IS_IMMUTABLE(file_inode(file));
}

bool copy_range_is_swapfile(struct file *file)
{
	return IS_SWAPFILE(file_inode(file));
}

/*
 * Files on these filesystems are "regular" but generated on read: their
 * i_size is 0 or a page, whatever they hold, so a size-bounded copy would
 * silently return 0 or a truncated count.  copy_file_range(2) avoids that
 * by refusing cross-filesystem copies (EXDEV, since 5.19); copy_range does
 * copy across filesystems, so it must recognise them.  No superblock flag
 * says "sizes lie", hence the list.
 */
bool copy_range_is_pseudo_fs(struct file *file)
{
	switch (file_inode(file)->i_sb->s_magic) {
	case PROC_SUPER_MAGIC:
	case SYSFS_MAGIC:
	case DEBUGFS_MAGIC:
	case TRACEFS_MAGIC:
	case SECURITYFS_MAGIC:
	case CGROUP_SUPER_MAGIC:
	case CGROUP2_SUPER_MAGIC:
	case BPF_FS_MAGIC:
	case PSTOREFS_MAGIC:
	case EFIVARFS_MAGIC:
	case BINFMTFS_MAGIC:
	case SELINUX_MAGIC:
	case SMACK_MAGIC:
	case CONFIGFS_MAGIC:
	case NSFS_MAGIC:
		return true;
	default:
		return false;
	}
}

/*
 * 1 if the file has the NOCOW attribute (chattr +C), 0 if not, or -errno.
 * btrfs refuses to share extents between a NOCOW file and a checksummed one.
 */
int copy_range_is_nocow(struct file *file)
{
	struct file_kattr fa = {};
	int ret = vfs_fileattr_get(file->f_path.dentry, &fa);

	if (ret == -ENOIOCTLCMD || ret == -EOPNOTSUPP)
		return 0;
	if (ret)
		return ret;
	return !!(fa.flags & FS_NOCOW_FL);
}

/*
 * A job runs in a kernel worker, which has neither the submitter's
 * credentials nor its RLIMIT_FSIZE: the job captures both at submit time
 * and puts the credentials on while it copies.
 */
const struct cred *copy_range_get_current_cred(void)
{
	return get_current_cred();
}

const struct cred *copy_range_override_creds(const struct cred *cred)
{
	return override_creds(cred);
}

void copy_range_revert_creds(const struct cred *old)
{
	revert_creds(old);
}

u64 copy_range_rlimit_fsize(void)
{
	unsigned long limit = rlimit(RLIMIT_FSIZE);

	return limit == RLIM_INFINITY ? U64_MAX : limit;
}
