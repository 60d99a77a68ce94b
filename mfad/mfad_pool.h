/*
 * The worker pool and the group committer. Requests of trusted callers
 * go first; the others wait in one queue per uid, served in turn. Quick
 * changes run on one committing thread, many in one write transaction
 * and one disk sync; reads on a reader thread with read-only
 * transactions; the relay's test and backups on two threads of their
 * own; the rest (password checks and hashing) on workers. Finished jobs
 * go back to the loop through a pipe.
 *
 * The committer passes its batch transaction to mfad_dispatch_run, which
 * gives it to the request (struct mfad_rq, mfad_ctx.h): mfad_rq_begin
 * opens a child of it there, and a top-level transaction everywhere
 * else. No thread-local carries it.
 */
#ifndef MFAD_POOL_H
#define MFAD_POOL_H

#include <sys/types.h>

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "mfad_ctx.h"
#include "mfad_dispatch.h"
#include "mss_err.h"

/* A request (or housekeeping) between the loop and the threads. */
struct mfad_job {
	struct mfad_job		*next;
	size_t			 slot;
	uint64_t		 gen;
	int			 sweep;	/* housekeeping, no connection */
	int			 trusted; /* PAM caller or admin: first */
	int			 has_sock; /* sock: the connection's socket */
	int			 sock;	/* open while the job is out (BUSY) */
	int			 record;  /* an early answer's record: no
					   * connection, freed once run */
	struct mfad_req		 req;
};

/* The jobs of one unprivileged uid, waiting for a worker. */
struct mfad_flow {
	struct mfad_flow	*next;
	uid_t			 uid;
	struct mfad_job		*head, *tail;
};

/* Threads of their own for one kind of request, served in turn, each
 * once the carried batch is on disk. */
#define MFAD_LANE_MAX	2
struct mfad_lane {
	struct mfad_pool	*pool;
	const char		*name;	/* the threads', for top -H */
	pthread_t		 threads[MFAD_LANE_MAX];
	size_t			 started;
	pthread_cond_t		 cond;
	struct mfad_job		*todo, *todo_tail;
};

/*
 * Jobs of trusted callers (and housekeeping) wait in todo and go first;
 * those of other callers wait in one queue per uid, served in turn, and
 * at most urun_max of them run at once (all workers but one, which
 * stays free for trusted callers). A flood from one uid thus delays
 * others by about one hash, never by the length of its queue.
 */
struct mfad_pool {
	struct mfad_ctx		*ctx;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct mfad_job		*todo, *todo_tail;
	struct mfad_flow	*flows, *flows_tail;	/* round robin */
	size_t			 urun, urun_max;
	struct mfad_job		*done;
	int			 stop;
	int			 wake[2];	/* workers -> loop */
	pthread_t		*threads;
	size_t			 nthreads;
	/* Requests that only read (MFAD_H_READ): one thread of their own,
	 * which never hashes, so that they wait neither for the group
	 * commit nor for the password checks on the workers. Requests that
	 * wait on something outside (MFAD_H_SLOW: the relay, a backup's
	 * copy): two more, so that the workers are for password checks and
	 * a long backup holds up no relay test. */
	struct mfad_lane	 reader, slow;
	/* Group commit: jobs for the committing thread. */
	pthread_t		 committer;
	int			 has_committer;
	pthread_cond_t		 ccond;
	struct mfad_job		*ctodo, *ctodo_tail;
	int			 cstop;
	/* A batch carried open with replies already given (see
	 * mfad_committer): cflush asks for its commit, cflushed tells of
	 * each commit and each round of records run. */
	int			 ccarry, cflush;
	pthread_cond_t		 cflushed;
	/* Records of early answers queued and not yet run (they wake the
	 * committer only when no batch is carried): readers wait for them
	 * as for a carried batch. */
	size_t			 crecords;
};

/* Starts the committer and the workers; on failure, mfad_pool_stop
 * still releases what started. */
int mfad_pool_start(struct mfad_pool *p, struct mfad_ctx *ctx) MSS_WUR;
/* Lets the workers finish, commits what is queued or carried, frees the
 * jobs left. */
void mfad_pool_stop(struct mfad_pool *p);

/* Queues j where its type runs: the committing thread or a worker. On
 * failure j is still the caller's. */
int mfad_pool_submit(struct mfad_pool *p, struct mfad_job *j) MSS_WUR;
/* Queues the housekeeping (expired records, audit summaries). */
int mfad_pool_sweep(struct mfad_pool *p) MSS_WUR;

/* Readable when jobs are done. */
int mfad_pool_wake_fd(const struct mfad_pool *p);
/* The finished jobs (a list through next), each to mfad_job_free. */
struct mfad_job *mfad_pool_done(struct mfad_pool *p);

void mfad_job_free(struct mfad_job *j);

#endif /* MFAD_POOL_H */
