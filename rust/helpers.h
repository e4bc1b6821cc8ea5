/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The module's C side: out-of-line wrappers of static inline kernel helpers
 * and structure walks that the Rust bindings cannot reach, for files
 * (vfs.rs), the submitter's credentials and limits (submitter.rs), the
 * current task (vfs.rs), user namespaces (job_limit.rs) and io_uring
 * commands (uring_cmd.rs); and the kernel
 * functions Rust calls whose headers the kernel's bindings leave out
 * (anon_file.rs).
 *
 * The Rust declarations of everything here are generated from this header
 * by bindgen (tools/kernel/module.sh, into rust/helpers_generated.rs), so
 * they cannot drift from these prototypes.
 */
#ifndef COPY_RANGE_HELPERS_H
#define COPY_RANGE_HELPERS_H

#include <linux/anon_inodes.h>
#include <linux/types.h>

struct cgroup_subsys_state;
struct cred;
struct file;
struct inode;
struct io_uring_cmd;
struct mem_cgroup;

ssize_t copy_range_splice(struct file *in, loff_t pos_in, struct file *out,
			  loff_t pos_out, size_t len);
void copy_range_notify(struct file *in, struct file *out, size_t copied);
loff_t copy_range_i_size_read(struct file *file);
int copy_range_is_nocow(struct file *file);
struct inode *copy_range_real_inode(struct file *file);
bool copy_range_in_kthread(void);
bool copy_range_can_wait_for_jobs(void);
bool copy_range_freezer_active(void);
const struct cred *copy_range_get_current_cred(void);
const struct cred *copy_range_override_creds(const struct cred *cred);
void copy_range_revert_creds(const struct cred *old);
u64 copy_range_rlimit_fsize(void);

/**
 * struct copy_range_cgroups - the cgroups a job's work is charged to
 * @memcg: the submitter's memory cgroup (counted reference; NULL when
 *	memory cgroups are disabled)
 * @blkcg: the submitter's io cgroup (counted reference, or NULL)
 */
struct copy_range_cgroups {
	struct mem_cgroup *memcg;
	struct cgroup_subsys_state *blkcg;
};

void copy_range_cgroups_get(struct copy_range_cgroups *cg);
void copy_range_cgroups_put(struct copy_range_cgroups *cg);
struct mem_cgroup *copy_range_cgroups_enter(const struct copy_range_cgroups *cg);
void copy_range_cgroups_leave(struct mem_cgroup *old);
u32 copy_range_uring_cmd_op(const struct io_uring_cmd *cmd);
bool copy_range_uring_cmd_read(const struct io_uring_cmd *cmd,
			       unsigned int issue_flags, void *buf, size_t len);
bool copy_range_uring_nonblocking(unsigned int issue_flags);

/**
 * struct copy_range_user_key - one level of a user's place in the user
 * namespace tree: who is charged for a job at that level
 * @ns: the user namespace (only compared, never dereferenced by Rust)
 * @uid: the kuid charged there
 */
struct copy_range_user_key {
	const void *ns;
	u32 uid;
};

/*
 * User namespaces nest at most 32 deep (kernel/user_namespace.c), under the
 * initial one.  An enum, not a macro, so that bindgen sees it in the
 * preprocessed source.
 */
enum { COPY_RANGE_USER_NS_LEVELS = 33 };

int copy_range_user_keys(const struct cred *cred,
			 struct copy_range_user_key *keys, int max);

#endif /* COPY_RANGE_HELPERS_H */
