// SPDX-License-Identifier: GPL-2.0
/* The ioctl numbers as the C compiler computes them from the header. */
#include <linux/copy_range.h>

const unsigned int copy_range_c_ioc_copy = COPY_RANGE_IOC_COPY;
