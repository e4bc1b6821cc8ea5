/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Out-of-line wrappers of static inline kernel helpers that the Rust
 * bindings cannot call, for vfs.rs.  Nothing else in the module uses them.
 */
#ifndef COPY_RANGE_VFS_HELPERS_H
#define COPY_RANGE_VFS_HELPERS_H

#include <linux/types.h>

struct cred;
struct file;

ssize_t copy_range_splice(struct file *in, loff_t pos_in, struct file *out,
			  loff_t pos_out, size_t len);
loff_t copy_range_i_size_read(struct file *file);
int copy_range_is_nocow(struct file *file);
const struct cred *copy_range_get_current_cred(void);
const struct cred *copy_range_override_creds(const struct cred *cred);
void copy_range_revert_creds(const struct cred *old);
u64 copy_range_rlimit_fsize(void);

#endif /* COPY_RANGE_VFS_HELPERS_H */
