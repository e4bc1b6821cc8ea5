// SPDX-License-Identifier: GPL-2.0
/*
 * Out-of-line wrappers of static inline kernel helpers for vfs.rs.
 */
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/fileattr.h>
#include <linux/fsnotify.h>
#include <linux/sched/signal.h>
#include <linux/sched/xacct.h>
#include <linux/splice.h>

#include "vfs_helpers.h"

/*
 * The data path of vfs_copy_file_range(..., COPY_FILE_SPLICE) without its
 * checks: copy_range has run them, once for the whole range of the call, as
 * copy_file_range(2) does, and do_splice_direct() asks no more: running
 * them again for every chunk is work every call would pay for.  The
 * notifications and I/O accounting are those of vfs_copy_file_range().
 */
ssize_t copy_range_splice(struct file *in, loff_t pos_in, struct file *out,
			  loff_t pos_out, size_t len)
{
	ssize_t ret = do_splice_direct(in, &pos_in, out, &pos_out, len, 0);

	if (ret > 0) {
		fsnotify_access(in);
		add_rchar(current, ret);
		fsnotify_modify(out);
		add_wchar(current, ret);
	}
	inc_syscr(current);
	inc_syscw(current);
	return ret;
}

loff_t copy_range_i_size_read(struct file *file)
{
	return i_size_read(file_inode(file));
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
