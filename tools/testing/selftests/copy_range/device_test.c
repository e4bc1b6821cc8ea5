// SPDX-License-Identifier: GPL-2.0
/*
 * The device node: present once the module is loaded, a misc character
 * device, and an ioctl it does not know is ENOTTY.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/copy_range.h>

#include "kselftest_harness.h"

#define DEVICE_PATH "/dev/" COPY_RANGE_DEVICE_NAME
#define MISC_MAJOR 10U

TEST(node_is_a_misc_char_device)
{
	struct stat st;

	ASSERT_EQ(0, stat(DEVICE_PATH, &st));
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	ASSERT_EQ(MISC_MAJOR, major(st.st_rdev));
}

TEST(node_is_listed_as_misc_device)
{
	char line[128];
	int found = 0;
	FILE *f = fopen("/proc/misc", "r");

	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, " " COPY_RANGE_DEVICE_NAME "\n"))
			found = 1;
	fclose(f);
	ASSERT_EQ(1, found);
}

TEST(unknown_ioctl_is_enotty)
{
	int fd = open(DEVICE_PATH, O_RDWR | O_CLOEXEC);
	char buf[64] = {};

	ASSERT_LE(0, fd);
	/* Right magic, unassigned number. */
	ASSERT_EQ(-1, ioctl(fd, _IOWR(COPY_RANGE_IOC_MAGIC, 0x7f, buf), buf));
	ASSERT_EQ(ENOTTY, errno);
	/* Another driver's magic. */
	ASSERT_EQ(-1, ioctl(fd, _IO('|', 0x80)));
	ASSERT_EQ(ENOTTY, errno);
	close(fd);
}

TEST_HARNESS_MAIN
