/*
 * mfad's log: syslog (facility daemon, authpriv for audit), and stderr
 * when running in the foreground. Never pass a secret to these.
 */
#ifndef MFAD_LOG_H
#define MFAD_LOG_H

#include <syslog.h>

/* foreground: also write to stderr; debug: let LOG_DEBUG through. */
void mfad_log_init(int foreground, int debug);
/* From here lines are written by a thread of their own (after any fork);
 * mfad_log_stop writes what is queued and ends it. Before and after,
 * lines are written by the caller. */
int mfad_log_start(void);
void mfad_log_stop(void);
void mfad_log(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Audit lines go to authpriv. */
void mfad_log_auth(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* MFAD_LOG_H */
