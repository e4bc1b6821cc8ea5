// SPDX-License-Identifier: GPL-2.0
/*
 * Signals during a long copy.  A handler installed without SA_RESTART and
 * an interval timer firing every few milliseconds interrupt the copy; the
 * call must then return a short count, or -1/EINTR if it had copied
 * nothing, and in either case the destination must hold exactly what the
 * count says: no byte past it, no byte missing, no size beyond it.
 * Calling again from where it stopped must finish the copy exactly.
 *
 * Whether a signal lands inside a call is up to timing, which a test must
 * not depend on: each try stops as soon as one interruption was seen, a
 * few tries with ever shorter intervals are made, and when none of them
 * was interrupted the data is still checked byte for byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "cr_fixture.h"

#define SEED_A		0x5eed0000051c0a11ULL
#define SRC_POS		5
#define DST_POS		7

/* A signal storm that copies nothing at all would be a livelock. */
#define MAX_EINTR_IN_A_ROW	200
#define TRIES			2

FIXTURE(signals) {
	struct cr_env e;	/* src: size bytes of SEED_A; dst: empty */
};

FIXTURE_VARIANT(signals) {
	struct cr_fs fs;
	int64_t size;
};

/*
 * Sizes are modest for an emulated CPU, yet many chunks long: the module
 * looks for signals between chunks.
 */
FIXTURE_VARIANT_ADD(signals, tmpfs) {
	.fs = CR_FS_TMPFS, .size = 64 * MIB + 4097,
};

FIXTURE_VARIANT_ADD(signals, ext4) {
	.fs = CR_FS_EXT4, .size = 48 * MIB + 4097,
};

FIXTURE_SETUP(signals)
{
	if (!cr_env_setup_on(_metadata, &self->e, &variant->fs, variant->size,
			     SEED_A))
		return;
	ASSERT_EQ(SRC_POS, lseek(self->e.src_fd, SRC_POS, SEEK_SET));
	ASSERT_EQ(DST_POS, lseek(self->e.dst_fd, DST_POS, SEEK_SET));
}

FIXTURE_TEARDOWN(signals)
{
	struct itimerval off = {};

	setitimer(ITIMER_REAL, &off, NULL);
	cr_env_teardown(&self->e);
}

static volatile sig_atomic_t ticks;

static void tick(int sig)
{
	(void)sig;
	ticks++;
}

static int set_timer(long usec)
{
	struct itimerval it = {
		.it_interval = { .tv_sec = 0, .tv_usec = usec },
		.it_value = { .tv_sec = 0, .tv_usec = usec },
	};

	return setitimer(ITIMER_REAL, &it, NULL);
}

TEST_F_TIMEOUT(signals, interrupted_copy_is_exact, 240)
{
	static const long period_us[TRIES] = { 2000, 200 };
	struct sigaction sa = { .sa_handler = tick };	/* no SA_RESTART */
	const int64_t size = variant->size;
	int interrupted = 0, try;

	ASSERT_EQ(0, sigemptyset(&sa.sa_mask));
	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));

	for (try = 0; try < TRIES && !interrupted; try++) {
		int64_t done = 0, n, calls = 0, shorts = 0, eintrs = 0;
		int in_a_row = 0;
		bool checked_first = false;

		ASSERT_EQ(0, ftruncate(self->e.dst_fd, 0));
		ticks = 0;
		ASSERT_EQ(0, set_timer(period_us[try]));
		while (done < size) {
			calls++;
			n = copy_range(self->e.src_fd, done, self->e.dst_fd,
				       done, size - done, 0);
			if (n < 0) {
				/* Anything else would make this loop spin. */
				ASSERT_EQ(EINTR, errno)
					TH_LOG("at %jd: %s", (intmax_t)done,
					       strerror(errno));
				eintrs++;
				/* -1 means nothing was copied, not "some". */
				EXPECT_EQ(done, file_size(self->e.dst_fd));
				if (++in_a_row == MAX_EINTR_IN_A_ROW) {
					TH_LOG("%d EINTRs in a row, timer off",
					       in_a_row);
					ASSERT_EQ(0, set_timer(0));
				}
				continue;
			}
			in_a_row = 0;
			/* 0 would mean EOF, and EOF is further on. */
			ASSERT_LT(0, n);
			ASSERT_GE(size - done, n);
			done += n;
			/* Exactly `copied` bytes are there, and no more. */
			EXPECT_EQ(done, file_size(self->e.dst_fd));
			if (done < size) {
				shorts++;
				if (!checked_first) {
					/* The first stop, byte for byte. */
					EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd,
								       0, done,
								       SEED_A, 0));
					checked_first = true;
				}
			}
		}
		ASSERT_EQ(0, set_timer(0));
		TH_LOG("try %d (%ld us): %jd calls, %jd short, %jd EINTR, %d signals",
		       try, period_us[try], (intmax_t)calls, (intmax_t)shorts,
		       (intmax_t)eintrs, (int)ticks);
		interrupted = shorts || eintrs;

		EXPECT_EQ(size, file_size(self->e.dst_fd));
		EXPECT_EQ(-1, pattern_mismatch(self->e.dst_fd, 0, size, SEED_A, 0));
	}
	if (!interrupted)
		TH_LOG("no call was interrupted; checked the data only");
	EXPECT_EQ(SRC_POS, file_pos(self->e.src_fd));
	EXPECT_EQ(DST_POS, file_pos(self->e.dst_fd));
}

TEST_HARNESS_MAIN
