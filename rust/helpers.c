// SPDX-License-Identifier: GPL-2.0
/*
 * Out-of-line wrappers of static inline kernel helpers, and structure walks
 * that Rust cannot make through the bindings (see helpers.h).
 */
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/fileattr.h>
#include <linux/dcache.h>
#include <linux/freezer.h>
#include <linux/fsnotify.h>
#include <linux/io_uring/cmd.h>
#include <linux/kthread.h>
#include <linux/memcontrol.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/xacct.h>
#include <linux/splice.h>
#include <linux/user_namespace.h>

#include "helpers.h"

/*
 * The data path of vfs_copy_file_range(..., COPY_FILE_SPLICE) without its
 * checks: copy_range has run them, once for the whole range of the call, as
 * copy_file_range(2) does, and do_splice_direct() asks no more: running
 * them again for every chunk is work every call would pay for.  The
 * notifications and I/O accounting come once per call, from
 * copy_range_notify().
 */
ssize_t copy_range_splice(struct file *in, loff_t pos_in, struct file *out,
			  loff_t pos_out, size_t len)
{
	return do_splice_direct(in, &pos_in, out, &pos_out, len, 0);
}

/*
 * What vfs_copy_file_range() does after a copy of @copied bytes: one
 * access and one modify event, the task's I/O accounting, one read and
 * one write system call.  Once per copy_range call, however many chunks
 * it took.
 */
void copy_range_notify(struct file *in, struct file *out, size_t copied)
{
	if (copied > 0) {
		fsnotify_access(in);
		add_rchar(current, copied);
		fsnotify_modify(out);
		add_wchar(current, copied);
	}
	inc_syscr(current);
	inc_syscw(current);
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
 * The inode that holds the file's data: for an overlayfs file, the inode of
 * the layer below; for any other, its own.  Two files whose data inodes are
 * the same share their bytes, whichever superblocks they were opened on.
 */
struct inode *copy_range_real_inode(struct file *file)
{
	return d_real_inode(file->f_path.dentry);
}

/* A kernel thread: a worker, or the delayed fput of a descriptor. */
bool copy_range_in_kthread(void)
{
	return current->flags & PF_KTHREAD;
}

/*
 * Whether the current task may wait for a job to let go of its files: not
 * a kernel thread, and not a task that is exiting.  An exiting task (killed,
 * say) closes its descriptors with its SIGKILL already dequeued, so a
 * killable wait would not end on it, and nothing can kill it again.
 */
bool copy_range_can_wait_for_jobs(void)
{
	return !(current->flags & (PF_KTHREAD | PF_EXITING));
}

/*
 * Whether a system freeze (suspend, hibernation) or a cgroup v1 freezer is
 * under way.  The freezer waits for the running items of a freezable
 * workqueue, for 20 s at most before the suspend fails: a job step that
 * sees this ends at its next chunk instead of running its whole step.
 */
bool copy_range_freezer_active(void)
{
	return static_branch_unlikely(&freezer_active);
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

/*
 * The submitter's memory and block cgroups, which a job's page cache,
 * memory and I/O are charged to, as loop.c charges a loop worker's: with
 * set_active_memcg() and kthread_associate_blkcg().  Without this, a
 * worker's reads and writes would charge the root cgroups, and a user in a
 * small cgroup could fill the page cache by submitting instead of copying.
 */
void copy_range_cgroups_get(struct copy_range_cgroups *cg)
{
	/* NULL: the active memcg, else current->mm's, as a charge picks it. */
	cg->memcg = get_mem_cgroup_from_mm(NULL);
#ifdef CONFIG_BLK_CGROUP
	cg->blkcg = task_get_css(current, io_cgrp_id);
#else
	cg->blkcg = NULL;
#endif
}

void copy_range_cgroups_put(struct copy_range_cgroups *cg)
{
	mem_cgroup_put(cg->memcg);
	if (cg->blkcg)
		css_put(cg->blkcg);
}

/* Charges the current kernel thread's work to @cg until the matching leave. */
struct mem_cgroup *copy_range_cgroups_enter(const struct copy_range_cgroups *cg)
{
	kthread_associate_blkcg(cg->blkcg);
	return set_active_memcg(cg->memcg);
}

void copy_range_cgroups_leave(struct mem_cgroup *old)
{
	set_active_memcg(old);
	kthread_associate_blkcg(NULL);
}

u64 copy_range_rlimit_fsize(void)
{
	unsigned long limit = rlimit(RLIMIT_FSIZE);

	return limit == RLIM_INFINITY ? U64_MAX : limit;
}

/*
 * Who is charged for a job of @cred, from its own user namespace up to the
 * initial one, as ucounts charge: (its namespace, its euid), then for each
 * namespace (the parent, the namespace's owner).  So a user's jobs count
 * against that user at every level above, however many ids the user maps
 * in namespaces of its own.  Returns the number of keys written.
 */
int copy_range_user_keys(const struct cred *cred,
			 struct copy_range_user_key *keys, int max)
{
	const struct user_namespace *ns = cred->user_ns;
	int n = 0;

	if (n < max) {
		keys[n].ns = ns;
		keys[n].uid = __kuid_val(cred->euid);
		n++;
	}
	while (ns->parent && n < max) {
		keys[n].ns = ns->parent;
		keys[n].uid = __kuid_val(ns->owner);
		ns = ns->parent;
		n++;
	}
	return n;
}

/*
 * io_uring commands (uring_cmd.rs).  The layout of struct io_uring_cmd and
 * of the SQE, and the issue flags, live in io_uring's headers, which the
 * Rust bindings do not include.
 */
u32 copy_range_uring_cmd_op(const struct io_uring_cmd *cmd)
{
	return cmd->cmd_op;
}

/*
 * Copies @len bytes of the SQE's command area into @buf, once: the SQE may
 * still be in the ring that user space shares, so every later look must be
 * at the copy.  The area is 16 bytes in a 64-byte SQE and 80 in a 128-byte
 * one.  Returns false, copying nothing, if the area is shorter than @len.
 */
bool copy_range_uring_cmd_read(const struct io_uring_cmd *cmd,
			       unsigned int issue_flags, void *buf, size_t len)
{
	size_t sqe = sizeof(struct io_uring_sqe);
	size_t area = (issue_flags & IO_URING_F_SQE128 ? 2 * sqe : sqe) -
		      offsetof(struct io_uring_sqe, cmd);

	if (len > area)
		return false;
	memcpy(buf, cmd->sqe->cmd, len);
	return true;
}

/*
 * Whether io_uring issued the command from the submitter's own context,
 * where it must not block: -EAGAIN then hands it to an io-wq worker.
 */
bool copy_range_uring_nonblocking(unsigned int issue_flags)
{
	return issue_flags & IO_URING_F_NONBLOCK;
}
