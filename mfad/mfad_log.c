#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "mfad_log.h"

static int mfad_log_fg;
static int mfad_log_debug;

void
mfad_log_init(int foreground, int debug)
{
	mfad_log_fg = foreground;
	mfad_log_debug = debug;
	openlog("mfad", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

static void
mfad_vlog(int fac, int prio, const char *fmt, va_list ap)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;

	if (prio == LOG_DEBUG && !mfad_log_debug)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	syslog(fac | prio, "%s", line);
	if (mfad_log_fg) {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ mfad: %s\n",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, line);
	}
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
