// SPDX-License-Identifier: GPL-2.0
/*
 * cr_fuse - a FUSE filesystem that misbehaves on purpose, for the copy_range
 * selftests: a server that never answers, and one that lies about counts.
 *
 *   cr_fuse MOUNTPOINT [--overreport BYTES] [--hold-job DST]
 *
 * Files in the root:
 *   stall  64 MiB; READ requests are never answered, so whatever reads it
 *          (a job's worker, say) waits until the connection goes away
 *   data   16 MiB of the selftests' data pattern (seed CR_FUSE_SEED)
 *   sink   writable; keeps its size, drops the data
 *
 * COPY_FILE_RANGE from data to sink is answered with the length asked for
 * plus BYTES (--overreport): a filesystem that claims to have copied more
 * than it was asked to.
 *
 * With --hold-job DST, the daemon itself submits a copy_range job from its
 * own stall file to DST and keeps the job's descriptor as HELD_JOB_FD,
 * above every other: a daemon that dies holding a job stuck on its own
 * filesystem, whose release comes before the connection's when it exits.
 *
 * It stays in the foreground, prints "ready" on stdout once mounted, and
 * runs until killed or unmounted.
 */
#define FUSE_USE_VERSION 34

#include <fuse_lowlevel.h>
#include <pthread.h>

#include "copy_range_helpers.h"

#define CR_FUSE_SEED	7ULL
#define HELD_JOB_FD	900
#define INO_STALL	2
#define INO_DATA	3
#define INO_SINK	4
#define STALL_SIZE	(64 * MIB)
#define DATA_SIZE	(16 * MIB)

static const char *const names[] = {
	[INO_STALL] = "stall",
	[INO_DATA] = "data",
	[INO_SINK] = "sink",
};

static uint64_t overreport;
static uint64_t sink_size;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void fill_stat(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = 0;
	st->st_gid = 0;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return;
	}
	st->st_nlink = 1;
	st->st_mode = S_IFREG | (ino == INO_SINK ? 0666 : 0444);
	st->st_blksize = 4096;
	pthread_mutex_lock(&lock);
	st->st_size = ino == INO_STALL ? STALL_SIZE :
		      ino == INO_DATA ? DATA_SIZE : (off_t)sink_size;
	pthread_mutex_unlock(&lock);
	st->st_blocks = (st->st_size + 511) / 512;
}

static bool known(fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID || ino == INO_STALL || ino == INO_DATA ||
	       ino == INO_SINK;
}

static void cr_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e = { 0 };
	fuse_ino_t ino;

	if (parent != FUSE_ROOT_ID) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	for (ino = INO_STALL; ino <= INO_SINK; ino++) {
		if (!strcmp(name, names[ino])) {
			e.ino = ino;
			fill_stat(ino, &e.attr);
			fuse_reply_entry(req, &e);
			return;
		}
	}
	fuse_reply_err(req, ENOENT);
}

static void cr_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	if (!known(ino)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_stat(ino, &st);
	fuse_reply_attr(req, &st, 0);
}

static void cr_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	if (ino != INO_SINK) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		pthread_mutex_lock(&lock);
		sink_size = attr->st_size;
		pthread_mutex_unlock(&lock);
	}
	fill_stat(ino, &st);
	fuse_reply_attr(req, &st, 0);
}

static void cr_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (!known(ino) || ino == FUSE_ROOT_ID) {
		fuse_reply_err(req, ino == FUSE_ROOT_ID ? EISDIR : ENOENT);
		return;
	}
	if (ino != INO_SINK && (fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}
	fuse_reply_open(req, fi);
}

static void cr_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	char *buf;

	(void)fi;
	if (ino == INO_STALL)
		return;	/* Never answered: the reader waits. */
	if (ino != INO_DATA) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if ((uint64_t)off >= DATA_SIZE) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if ((uint64_t)off + size > DATA_SIZE)
		size = DATA_SIZE - off;
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pattern_fill(buf, size, CR_FUSE_SEED, off);
	fuse_reply_buf(req, buf, size);
	free(buf);
}

static void cr_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)buf;
	(void)fi;
	if (ino != INO_SINK) {
		fuse_reply_err(req, EBADF);
		return;
	}
	pthread_mutex_lock(&lock);
	if ((uint64_t)off + size > sink_size)
		sink_size = off + size;
	pthread_mutex_unlock(&lock);
	fuse_reply_write(req, size);
}

static void cr_copy_file_range(fuse_req_t req, fuse_ino_t ino_in,
			       off_t off_in, struct fuse_file_info *fi_in,
			       fuse_ino_t ino_out, off_t off_out,
			       struct fuse_file_info *fi_out, size_t len,
			       int flags)
{
	(void)off_in;
	(void)fi_in;
	(void)fi_out;
	(void)flags;
	if (ino_in != INO_DATA || ino_out != INO_SINK) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	pthread_mutex_lock(&lock);
	if ((uint64_t)off_out + len > sink_size)
		sink_size = off_out + len;
	pthread_mutex_unlock(&lock);
	/* The lie: more than was asked for. */
	fuse_reply_write(req, len + overreport);
}

static void cr_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	char buf[1024];
	size_t used = 0;
	fuse_ino_t i;

	(void)fi;
	if (ino != FUSE_ROOT_ID) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	for (i = INO_STALL + off; i <= INO_SINK; i++) {
		struct stat st = { .st_ino = i, .st_mode = S_IFREG };
		size_t n = fuse_add_direntry(req, buf + used,
					     sizeof(buf) - used, names[i], &st,
					     i - INO_STALL + 1);

		if (used + n > size || used + n > sizeof(buf))
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = cr_lookup,
	.getattr = cr_getattr,
	.setattr = cr_setattr,
	.open = cr_open,
	.read = cr_read,
	.write = cr_write,
	.readdir = cr_readdir,
	.copy_file_range = cr_copy_file_range,
};

struct hold_job {
	const char *mnt;
	const char *dst;
};

/*
 * Submits a job from MOUNTPOINT/stall to @dst and keeps its descriptor as
 * HELD_JOB_FD.  Runs beside the session loop, which must be serving for the
 * open to succeed.
 */
static void *hold_job(void *arg)
{
	struct hold_job *h = arg;
	char path[PATH_MAX];
	int src, dst, job;

	snprintf(path, sizeof(path), "%s/stall", h->mnt);
	src = open(path, O_RDONLY | O_CLOEXEC);
	dst = open(h->dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (src < 0 || dst < 0) {
		perror("cr_fuse: hold-job open");
		exit(1);
	}
	job = cr_submit(src, 0, dst, 0, STALL_SIZE, 0);
	if (job < 0 || dup2(job, HELD_JOB_FD) != HELD_JOB_FD) {
		perror("cr_fuse: hold-job submit");
		exit(1);
	}
	close(job);
	close(src);
	close(dst);
	printf("holding\n");
	fflush(stdout);
	return NULL;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct hold_job hold = { 0 };
	struct fuse_session *se;
	pthread_t thread;
	int i, ret;

	if (argc < 2) {
		fprintf(stderr, "usage: %s MOUNTPOINT [--overreport BYTES] [--hold-job DST]\n",
			argv[0]);
		return 2;
	}
	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--overreport") && i + 1 < argc)
			overreport = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--hold-job") && i + 1 < argc)
			hold.dst = argv[++i];
		else
			return 2;
	}
	if (fuse_opt_add_arg(&args, argv[0]) ||
	    fuse_opt_add_arg(&args, "-oallow_other"))
		return 1;
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se || fuse_session_mount(se, argv[1])) {
		fprintf(stderr, "cr_fuse: cannot mount on %s\n", argv[1]);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	if (hold.dst) {
		hold.mnt = argv[1];
		if (pthread_create(&thread, NULL, hold_job, &hold))
			return 1;
		pthread_detach(thread);
	}
	ret = fuse_session_loop(se);
	fuse_session_unmount(se);
	fuse_session_destroy(se);
	return ret ? 1 : 0;
}
