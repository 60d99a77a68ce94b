/*
 * mfad's log: syslog (facility daemon, authpriv for audit), and stderr
 * when running in the foreground. Never pass a secret to these.
 */
#ifndef MFAD_LOG_H
#define MFAD_LOG_H

#include <pthread.h>
#include <syslog.h>

#include "mss_err.h"

/* foreground: also write to stderr; debug: let LOG_DEBUG through. */
void mfad_log_init(int foreground, int debug);
/* From here lines are written by a thread of their own (after any fork);
 * mfad_log_stop writes what is queued and ends it. Before and after,
 * lines are written by the caller. */
int mfad_log_start(void) MSS_WUR;
void mfad_log_stop(void);
void mfad_log(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Audit lines go to authpriv. */
void mfad_log_auth(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * A line that a flood can repeat (a full connection table, a full store,
 * a refused caller): written at most once per interval for each limiter;
 * the next line written says how many were left out in between, so that
 * an attack costs one line a minute, not one per request.
 */
struct mfad_log_limit {
	pthread_mutex_t	 lock;
	unsigned	 interval;	/* seconds between two lines */
	long long	 next_ms;	/* monotonic; 0: the next is written */
	unsigned long	 skipped;	/* left out since the last written */
};
#define MFAD_LOG_LIMIT_INIT(secs) \
	{ PTHREAD_MUTEX_INITIALIZER, (secs), 0, 0 }

/* Returns 1 when the line was written, 0 when it was only counted. */
int mfad_log_limited(struct mfad_log_limit *lim, int prio,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif /* MFAD_LOG_H */
