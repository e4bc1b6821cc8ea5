/* SPDX-License-Identifier: GPL-2.0 */
/* ABI constants computed by the C compiler, for the Rust side to check. */
#ifndef COPY_RANGE_UAPI_C_H
#define COPY_RANGE_UAPI_C_H

#include <linux/types.h>

extern const u32 copy_range_c_ioc[9];
extern const u32 copy_range_c_args_size;
extern const u32 copy_range_c_args_offsets[7];
extern const u32 copy_range_c_sizes[3];

#endif /* COPY_RANGE_UAPI_C_H */
