/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Out-of-line wrappers of static inline kernel helpers that the Rust
 * bindings cannot call, for vfs.rs.  Nothing else in the module uses them.
 */
#ifndef COPY_RANGE_VFS_HELPERS_H
#define COPY_RANGE_VFS_HELPERS_H

#include <linux/types.h>

struct file;

loff_t copy_range_i_size_read(struct file *file);
bool copy_range_is_immutable(struct file *file);
bool copy_range_is_swapfile(struct file *file);
bool copy_range_is_pseudo_fs(struct file *file);
int copy_range_is_nocow(struct file *file);

#endif /* COPY_RANGE_VFS_HELPERS_H */
