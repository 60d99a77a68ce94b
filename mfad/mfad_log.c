#include "config.h"

#include <sys/stat.h>

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mfad_log.h"
#include "mfad_clock.h"
#include "mfad_syslog.h"

/*
 * Lines are written by a thread of their own once mfad_log_start has run:
 * a write to syslog is a system call or several (a reconnect each time
 * when no syslog daemon listens), and the thread that commits logins must
 * not wait for it. The queue keeps the order; when it is full, the caller
 * waits, so that no line is ever dropped. The thread sends what it takes
 * from the queue in batches (mfad_syslog_send): one wake-up of the
 * syslog daemon for many lines.
 */
#define MFAD_LOG_QUEUE	4096		/* lines waiting, at most */
/* Under load, the thread lets lines gather before it wakes again: one
 * wake-up and one write to stderr for many lines, not one for each. */
#define MFAD_LOG_BURST	16		/* lines in a drain that mean load */
#define MFAD_LOG_GATHER_NS 2000000L	/* then this long a pause */

struct mfad_log_line {
	struct mfad_log_line	*next;
	int			 prio;		/* facility | priority */
	struct timespec		 ts;
	char			 text[];
};

static int mfad_log_fg;
static int mfad_log_debug;
/* "mfad[PID]": the same bytes as glibc's LOG_PID gives, without a
 * getpid() call at every line; set again once mfad has its final pid
 * (mfad_log_start). */
static char mfad_log_ident[32];

/* The tag of this process's lines, from its pid now. */
static void
mfad_log_ident_set(void)
{
	snprintf(mfad_log_ident, sizeof(mfad_log_ident), "mfad[%ld]",
	    (long)getpid());
	mfad_syslog_open(mfad_log_ident, LOG_DAEMON);
}

static pthread_mutex_t	 mfad_log_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 mfad_log_more = PTHREAD_COND_INITIALIZER;
static pthread_cond_t	 mfad_log_room = PTHREAD_COND_INITIALIZER;
static struct mfad_log_line *mfad_log_head, *mfad_log_tail;
static unsigned		 mfad_log_queued;
static int		 mfad_log_running, mfad_log_stopping;
static pthread_t	 mfad_log_thread;

/* Whether stderr is systemd's journal (JOURNAL_STREAM names its device
 * and inode), which already gets every syslog line. */
static int
mfad_stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	    fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
mfad_log_init(int foreground, int debug)
{
	mfad_log_fg = foreground && !mfad_stderr_is_journal();
	mfad_log_debug = debug;
	mfad_log_ident_set();
}

/* A batch of stderr lines, written with one call (stderr has no buffer
 * of its own). */
struct mfad_log_out {
	char	buf[1 << 15];
	size_t	len;
};

static void
mfad_log_flush(struct mfad_log_out *o)
{
	if (o->len > 0)
		fwrite(o->buf, 1, o->len, stderr);
	o->len = 0;
}

/* In the foreground, line to stderr: at once, or into o to be written
 * with the rest of a batch. */
static void
mfad_log_stderr(const struct timespec *ts, const char *line,
    struct mfad_log_out *o)
{
	char stamped[2200];
	struct tm tm;
	int n;

	if (!mfad_log_fg)
		return;
	gmtime_r(&ts->tv_sec, &tm);
	n = snprintf(stamped, sizeof(stamped),
	    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ mfad: %s\n",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts->tv_nsec / 1000000, line);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(stamped))
		n = sizeof(stamped) - 1;
	if (o == NULL) {
		fwrite(stamped, 1, (size_t)n, stderr);
		return;
	}
	if (o->len + (size_t)n > sizeof(o->buf))
		mfad_log_flush(o);
	memcpy(o->buf + o->len, stamped, (size_t)n);
	o->len += (size_t)n;
}

/* One line, written by the caller: to syslog and to stderr. */
static void
mfad_log_write(int prio, const struct timespec *ts, const char *line)
{
	struct mfad_syslog_line sl = { prio, *ts, line };

	mfad_syslog_send(&sl, 1);
	mfad_log_stderr(ts, line, NULL);
}

static void *
mfad_log_main(void *arg)
{
	static struct mfad_log_out out;		/* this thread's only */
	const struct timespec gather = { 0, MFAD_LOG_GATHER_NS };
	struct mfad_syslog_line batch[MFAD_SYSLOG_BATCH];
	struct mfad_log_line *l, *next, *sent, *gone;
	unsigned n, k;

	(void)arg;
	/* Named for top -H and ps -L. */
	pthread_setname_np(pthread_self(), "mfad-log");
	pthread_mutex_lock(&mfad_log_lock);
	for (;;) {
		while (mfad_log_head == NULL && !mfad_log_stopping)
			pthread_cond_wait(&mfad_log_more, &mfad_log_lock);
		if ((l = mfad_log_head) == NULL)
			break;
		mfad_log_head = mfad_log_tail = NULL;
		mfad_log_queued = 0;
		pthread_cond_broadcast(&mfad_log_room);
		pthread_mutex_unlock(&mfad_log_lock);
		for (n = k = 0, sent = l; l != NULL; l = next, n++) {
			next = l->next;
			mfad_log_stderr(&l->ts, l->text, &out);
			batch[k].prio = l->prio;
			batch[k].ts = l->ts;
			batch[k++].text = l->text;
			if (k < MFAD_SYSLOG_BATCH && next != NULL)
				continue;
			/* The batch's texts are freed once sent. */
			mfad_syslog_send(batch, k);
			while (sent != next) {
				gone = sent;
				sent = sent->next;
				free(gone);
			}
			k = 0;
		}
		mfad_log_flush(&out);
		if (n >= MFAD_LOG_BURST)
			nanosleep(&gather, NULL);
		pthread_mutex_lock(&mfad_log_lock);
	}
	pthread_mutex_unlock(&mfad_log_lock);
	return NULL;
}

int
mfad_log_start(void)
{
	sigset_t all, old;
	int rc;

	/* After daemon(), before any other thread logs. */
	mfad_log_ident_set();
	/* The thread takes no signal: mfad reads them from a signalfd. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&mfad_log_thread, NULL, mfad_log_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return -1;
	pthread_mutex_lock(&mfad_log_lock);
	mfad_log_running = 1;
	mfad_log_stopping = 0;
	pthread_mutex_unlock(&mfad_log_lock);
	return 0;
}

void
mfad_log_stop(void)
{
	pthread_mutex_lock(&mfad_log_lock);
	if (!mfad_log_running) {
		pthread_mutex_unlock(&mfad_log_lock);
		return;
	}
	mfad_log_stopping = 1;
	pthread_cond_signal(&mfad_log_more);
	pthread_mutex_unlock(&mfad_log_lock);
	/* Every line queued is written before this returns. */
	pthread_join(mfad_log_thread, NULL);
	pthread_mutex_lock(&mfad_log_lock);
	mfad_log_running = 0;
	pthread_mutex_unlock(&mfad_log_lock);
}

/* The format attribute lets compilers check the callers' formats (and
 * tells clang's -Wformat-nonliteral that fmt is one). */
static void mfad_vlog(int, int, const char *, va_list)
    __attribute__((format(printf, 3, 0)));

static void
mfad_vlog(int fac, int prio, const char *fmt, va_list ap)
{
	struct mfad_log_line *l;
	struct timespec ts;
	char line[2048];
	size_t n;
	int wake;

	if (prio == LOG_DEBUG && !mfad_log_debug)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	n = strlen(line) + 1;
	pthread_mutex_lock(&mfad_log_lock);
	if (!mfad_log_running || mfad_log_stopping ||
	    (l = malloc(sizeof(*l) + n)) == NULL) {
		/* No thread yet (or no memory): written here, in order
		 * with nothing queued since none can be. */
		pthread_mutex_unlock(&mfad_log_lock);
		mfad_log_write(fac | prio, &ts, line);
		return;
	}
	while (mfad_log_queued >= MFAD_LOG_QUEUE)
		pthread_cond_wait(&mfad_log_room, &mfad_log_lock);
	l->next = NULL;
	l->prio = fac | prio;
	l->ts = ts;
	memcpy(l->text, line, n);
	/* The thread sleeps only on an empty queue: a line behind others
	 * needs no wake-up, and one is sent once the lock is free. */
	wake = mfad_log_head == NULL;
	if (mfad_log_tail != NULL)
		mfad_log_tail->next = l;
	else
		mfad_log_head = l;
	mfad_log_tail = l;
	mfad_log_queued++;
	pthread_mutex_unlock(&mfad_log_lock);
	if (wake)
		pthread_cond_signal(&mfad_log_more);
}

void
mfad_log(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mfad_vlog(LOG_DAEMON, prio, fmt, ap);
	va_end(ap);
}

void
mfad_log_auth(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mfad_vlog(LOG_AUTHPRIV, prio, fmt, ap);
	va_end(ap);
}

int
mfad_log_limited(struct mfad_log_limit *lim, int prio, const char *fmt, ...)
{
	unsigned long skipped;
	long long now;
	char line[1800];
	va_list ap;

	now = mfad_clock_mono_ms();
	pthread_mutex_lock(&lim->lock);
	if (lim->next_ms != 0 && now < lim->next_ms) {
		lim->skipped++;
		pthread_mutex_unlock(&lim->lock);
		return 0;
	}
	skipped = lim->skipped;
	lim->skipped = 0;
	lim->next_ms = now + (long long)lim->interval * 1000;
	pthread_mutex_unlock(&lim->lock);

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (skipped > 0)
		mfad_log(prio, "%s (and %lu more like it, not logged, "
		    "since the last one)", line, skipped);
	else
		mfad_log(prio, "%s", line);
	return 1;
}
