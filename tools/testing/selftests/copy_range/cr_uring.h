/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Just enough io_uring for the tests of the device's io_uring commands, on
 * the raw system calls: the test VM has no liburing.  A ring is set up and
 * mapped by cr_ring_init(), SQEs are taken with cr_ring_sqe() and filled
 * with the cr_prep_*() helpers, cr_ring_submit() hands them to the kernel
 * and cr_ring_wait() reaps completions, never waiting past its timeout.
 *
 * Single-threaded use only, and no SQPOLL: the application side of the
 * rings is kept here without locks.  The kernel's side is read and written
 * with acquire and release ordering, as io_uring(7) asks.
 *
 * Like the rest of the helpers, everything returns plain values (-errno on
 * failure) so that the tests do the asserting.
 */
#ifndef CR_URING_H
#define CR_URING_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/io_uring.h>
#include <linux/time_types.h>

#include "cr_ioctl.h"

/* What an older linux/io_uring.h may not have yet. */
#ifndef IORING_SETUP_SQE128
#define IORING_SETUP_SQE128		(1U << 10)
#endif
#ifndef IORING_SETUP_CQSIZE
#define IORING_SETUP_CQSIZE		(1U << 3)
#endif
#ifndef IORING_ENTER_EXT_ARG
#define IORING_ENTER_EXT_ARG		(1U << 3)
#endif
#ifndef IORING_FEAT_SINGLE_MMAP
#define IORING_FEAT_SINGLE_MMAP		(1U << 0)
#endif
#ifndef IOSQE_CQE_SKIP_SUCCESS
#define IOSQE_CQE_SKIP_SUCCESS		(1U << 6)
#endif
#ifndef IORING_URING_CMD_FIXED
#define IORING_URING_CMD_FIXED		(1U << 0)
#endif
#ifndef IORING_URING_CMD_MULTISHOT
#define IORING_URING_CMD_MULTISHOT	(1U << 1)
#endif
/*
 * Mixed rings (Linux 6.18): 64-byte SQEs, and 128-byte operations that
 * take two slots.  The opcodes came with the flag, and are enum values,
 * hence the test on the flag.
 */
#ifndef IORING_SETUP_SQE_MIXED
#define IORING_SETUP_SQE_MIXED		(1U << 19)
#define CR_OP_URING_CMD128		64
#else
#define CR_OP_URING_CMD128		IORING_OP_URING_CMD128
#endif

/* The size of the command area of a 64-byte SQE and of a 128-byte one. */
#define CR_SQE_CMD_OFF		offsetof(struct io_uring_sqe, addr3)
#define CR_SQE_CMD_SMALL	(sizeof(struct io_uring_sqe) - CR_SQE_CMD_OFF)
#define CR_SQE_CMD_BIG		(2 * sizeof(struct io_uring_sqe) - CR_SQE_CMD_OFF)

struct cr_ring {
	int fd;
	unsigned int flags;		/* IORING_SETUP_* it was made with */
	unsigned int features;		/* IORING_FEAT_* the kernel gave */
	unsigned int sq_entries;
	unsigned int cq_entries;
	size_t sqe_size;		/* of one slot: 64, or 128 with SQE128 */
	/* The mappings, for cr_ring_exit(). */
	void *sq_map, *cq_map, *sqe_map;
	size_t sq_map_len, cq_map_len, sqe_map_len;
	/* The kernel's SQ ring */
	unsigned int *sq_head, *sq_tail, *sq_mask, *sq_array;
	/* The kernel's CQ ring */
	unsigned int *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
	unsigned char *sqes;
	/* SQEs handed out by cr_ring_sqe() but not yet made visible */
	unsigned int sq_local_tail;
};

static inline int cr_io_uring_setup(unsigned int entries,
				    struct io_uring_params *p)
{
	return syscall(SYS_io_uring_setup, entries, p);
}

static inline int cr_io_uring_enter(int fd, unsigned int to_submit,
				    unsigned int min_complete,
				    unsigned int flags, void *arg, size_t argsz)
{
	return syscall(SYS_io_uring_enter, fd, to_submit, min_complete, flags,
		       arg, argsz);
}

static inline int cr_io_uring_register(int fd, unsigned int opcode,
				       void *arg, unsigned int nr_args)
{
	return syscall(SYS_io_uring_register, fd, opcode, arg, nr_args);
}

/* Everything cr_ring_init() may have made, undone; safe on a zeroed ring. */
static inline void cr_ring_exit(struct cr_ring *r)
{
	if (r->sqe_map && r->sqe_map != MAP_FAILED)
		munmap(r->sqe_map, r->sqe_map_len);
	if (r->cq_map && r->cq_map != MAP_FAILED && r->cq_map != r->sq_map)
		munmap(r->cq_map, r->cq_map_len);
	if (r->sq_map && r->sq_map != MAP_FAILED)
		munmap(r->sq_map, r->sq_map_len);
	if (r->fd > 0)
		close(r->fd);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

/*
 * A ring of @entries SQ slots with the IORING_SETUP_* @flags (and, when
 * @cq_entries is not 0, that many CQ slots), mapped.  0, or -errno with
 * nothing left behind.  The ring's descriptor is close-on-exec, like every
 * io_uring descriptor.
 */
static inline int cr_ring_init_cq(struct cr_ring *r, unsigned int entries,
				  unsigned int cq_entries, unsigned int flags)
{
	struct io_uring_params p;
	unsigned char *sq, *cq;
	int err;

	memset(r, 0, sizeof(*r));
	memset(&p, 0, sizeof(p));
	p.flags = flags;
	if (cq_entries) {
		p.flags |= IORING_SETUP_CQSIZE;
		p.cq_entries = cq_entries;
	}
	r->fd = cr_io_uring_setup(entries, &p);
	if (r->fd < 0) {
		err = -errno;
		r->fd = -1;
		return err;
	}
	r->flags = p.flags;
	r->features = p.features;
	r->sq_entries = p.sq_entries;
	r->cq_entries = p.cq_entries;
	r->sqe_size = sizeof(struct io_uring_sqe);
	if (p.flags & IORING_SETUP_SQE128)
		r->sqe_size *= 2;

	r->sq_map_len = p.sq_off.array + p.sq_entries * sizeof(unsigned int);
	r->cq_map_len = p.cq_off.cqes +
			p.cq_entries * sizeof(struct io_uring_cqe);
	if (p.features & IORING_FEAT_SINGLE_MMAP) {
		if (r->cq_map_len > r->sq_map_len)
			r->sq_map_len = r->cq_map_len;
		r->cq_map_len = r->sq_map_len;
	}
	r->sq_map = mmap(NULL, r->sq_map_len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
	if (r->sq_map == MAP_FAILED)
		goto fail;
	if (p.features & IORING_FEAT_SINGLE_MMAP) {
		r->cq_map = r->sq_map;
	} else {
		r->cq_map = mmap(NULL, r->cq_map_len, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_POPULATE, r->fd,
				 IORING_OFF_CQ_RING);
		if (r->cq_map == MAP_FAILED)
			goto fail;
	}
	r->sqe_map_len = r->sqe_size * p.sq_entries;
	r->sqe_map = mmap(NULL, r->sqe_map_len, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
	if (r->sqe_map == MAP_FAILED)
		goto fail;

	sq = r->sq_map;
	cq = r->cq_map;
	r->sq_head = (unsigned int *)(sq + p.sq_off.head);
	r->sq_tail = (unsigned int *)(sq + p.sq_off.tail);
	r->sq_mask = (unsigned int *)(sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned int *)(sq + p.sq_off.array);
	r->cq_head = (unsigned int *)(cq + p.cq_off.head);
	r->cq_tail = (unsigned int *)(cq + p.cq_off.tail);
	r->cq_mask = (unsigned int *)(cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	r->sqes = r->sqe_map;
	r->sq_local_tail = *r->sq_tail;
	return 0;
fail:
	err = -errno;
	cr_ring_exit(r);
	return err;
}

static inline int cr_ring_init(struct cr_ring *r, unsigned int entries,
			       unsigned int flags)
{
	return cr_ring_init_cq(r, entries, 0, flags);
}

/*
 * A zeroed SQE, or NULL when the SQ ring is full.  @big asks for a
 * 128-byte SQE in a mixed ring (IORING_SETUP_SQE_MIXED), which takes two
 * slots that must not wrap around the end of the ring (a NOP fills the
 * last slot then).  In an SQE128 ring every SQE is 128 bytes; in any
 * other ring @big makes no difference.
 */
static inline struct io_uring_sqe *cr_ring_sqe(struct cr_ring *r, bool big)
{
	unsigned int head = __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE);
	unsigned int slots = big && (r->flags & IORING_SETUP_SQE_MIXED) ? 2 : 1;
	unsigned int idx = r->sq_local_tail & *r->sq_mask;
	unsigned int i;
	unsigned char *sqe;

	if (r->sq_local_tail - head + slots > r->sq_entries)
		return NULL;
	if (slots == 2 && idx + 1 >= r->sq_entries) {
		/* A NOP that posts no CQE fills the last slot. */
		if (r->sq_local_tail - head + 3 > r->sq_entries)
			return NULL;
		sqe = r->sqes + idx * r->sqe_size;
		memset(sqe, 0, r->sqe_size);
		((struct io_uring_sqe *)sqe)->opcode = IORING_OP_NOP;
		((struct io_uring_sqe *)sqe)->flags = IOSQE_CQE_SKIP_SUCCESS;
		r->sq_array[r->sq_local_tail & *r->sq_mask] = idx;
		r->sq_local_tail++;
		idx = 0;
	}
	sqe = r->sqes + idx * r->sqe_size;
	memset(sqe, 0, slots * r->sqe_size);
	for (i = 0; i < slots; i++)
		r->sq_array[(r->sq_local_tail + i) & *r->sq_mask] = idx + i;
	r->sq_local_tail += slots;
	return (struct io_uring_sqe *)sqe;
}

/* The command area: 16 bytes in a 64-byte SQE, 80 in a 128-byte one. */
static inline void *cr_sqe_cmd(struct io_uring_sqe *sqe)
{
	return (unsigned char *)sqe + CR_SQE_CMD_OFF;
}

/* IORING_OP_URING_CMD @cmd_op on @dev, the command area left to the caller. */
static inline void cr_prep_cmd(struct io_uring_sqe *sqe, int dev,
			       uint32_t cmd_op, uint64_t user_data)
{
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = dev;
	sqe->cmd_op = cmd_op;
	sqe->user_data = user_data;
}

/* The bytes of command area of an SQE from cr_ring_sqe(@r, @big). */
static inline size_t cr_sqe_cmd_room(const struct cr_ring *r, bool big)
{
	if ((r->flags & IORING_SETUP_SQE128) ||
	    (big && (r->flags & IORING_SETUP_SQE_MIXED)))
		return CR_SQE_CMD_BIG;
	return CR_SQE_CMD_SMALL;
}

/*
 * COPY_RANGE_URING_CMD_COPY of @args: as much of them as the SQE's
 * command area has @room for (cr_sqe_cmd_room()).
 */
static inline void cr_prep_copy_room(struct io_uring_sqe *sqe, int dev,
				     const struct copy_range_args *args,
				     uint64_t user_data, size_t room)
{
	cr_prep_cmd(sqe, dev, COPY_RANGE_URING_CMD_COPY, user_data);
	memcpy(cr_sqe_cmd(sqe), args,
	       room < sizeof(*args) ? room : sizeof(*args));
}

/* COPY_RANGE_URING_CMD_COPY of @args, in a 128-byte SQE. */
static inline void cr_prep_copy(struct io_uring_sqe *sqe, int dev,
				const struct copy_range_args *args,
				uint64_t user_data)
{
	cr_prep_copy_room(sqe, dev, args, user_data, CR_SQE_CMD_BIG);
}

/* COPY_RANGE_URING_CMD_COPYV of the vector at @v, in an SQE of any size. */
static inline void cr_prep_copyv(struct io_uring_sqe *sqe, int dev,
				 const struct copy_range_vec *v,
				 uint64_t user_data)
{
	uint64_t ptr = (uintptr_t)v;

	cr_prep_cmd(sqe, dev, COPY_RANGE_URING_CMD_COPYV, user_data);
	memcpy(cr_sqe_cmd(sqe), &ptr, sizeof(ptr));
}

/* IORING_OP_ASYNC_CANCEL of the request whose user_data is @target. */
static inline void cr_prep_cancel(struct io_uring_sqe *sqe, uint64_t target,
				  uint64_t user_data)
{
	sqe->opcode = IORING_OP_ASYNC_CANCEL;
	sqe->fd = -1;
	sqe->addr = target;
	sqe->user_data = user_data;
}

/*
 * Makes every SQE taken so far visible and submits them: the number of
 * slots the kernel consumed (a 128-byte SQE in a mixed ring counts two),
 * or -errno.
 */
static inline int cr_ring_submit(struct cr_ring *r)
{
	unsigned int head = __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE);
	unsigned int n = r->sq_local_tail - head;
	int ret;

	__atomic_store_n(r->sq_tail, r->sq_local_tail, __ATOMIC_RELEASE);
	if (!n)
		return 0;
	do {
		ret = cr_io_uring_enter(r->fd, n, 0, 0, NULL, 0);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : ret;
}

/* Takes up to @max CQEs that are there already into @out: how many. */
static inline unsigned int cr_ring_reap(struct cr_ring *r,
					struct io_uring_cqe *out,
					unsigned int max)
{
	unsigned int head = *r->cq_head;
	unsigned int tail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
	unsigned int n = 0;

	while (head != tail && n < max) {
		out[n++] = r->cqes[head & *r->cq_mask];
		head++;
	}
	__atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
	return n;
}

/*
 * Reaps @nr CQEs into @out, waiting at most @timeout_ms in all: how many
 * it got (fewer than @nr when the time ran out), or -errno when
 * io_uring_enter failed otherwise.
 */
static inline int cr_ring_wait(struct cr_ring *r, struct io_uring_cqe *out,
			       unsigned int nr, int timeout_ms)
{
	double end = now_s() + timeout_ms / 1000.0;
	unsigned int got = 0;

	for (;;) {
		struct __kernel_timespec ts;
		struct io_uring_getevents_arg arg;
		double left;
		int ret;

		got += cr_ring_reap(r, out + got, nr - got);
		if (got == nr)
			return got;
		left = end - now_s();
		if (left <= 0)
			return got;
		ts.tv_sec = (long long)left;
		ts.tv_nsec = (long long)((left - ts.tv_sec) * 1e9);
		memset(&arg, 0, sizeof(arg));
		arg.ts = (uintptr_t)&ts;
		ret = cr_io_uring_enter(r->fd, 0, 1,
					IORING_ENTER_GETEVENTS |
					IORING_ENTER_EXT_ARG,
					&arg, sizeof(arg));
		if (ret < 0 && errno != ETIME && errno != EINTR &&
		    errno != EAGAIN && errno != EBUSY)
			return -errno;
	}
}

/*
 * Submits what was taken and waits for exactly one CQE, whose res goes to
 * @res: 0, or -ETIMEDOUT after @timeout_ms, or -errno from the kernel.
 * @user_data is checked against the CQE's: -EPROTO if they differ.
 */
static inline int cr_ring_run1(struct cr_ring *r, uint64_t user_data,
			       int timeout_ms, int32_t *res)
{
	struct io_uring_cqe cqe;
	int ret = cr_ring_submit(r);

	if (ret < 0)
		return ret;
	ret = cr_ring_wait(r, &cqe, 1, timeout_ms);
	if (ret < 0)
		return ret;
	if (ret == 0)
		return -ETIMEDOUT;
	if (cqe.user_data != user_data)
		return -EPROTO;
	*res = cqe.res;
	return 0;
}

#endif /* CR_URING_H */
