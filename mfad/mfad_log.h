/*
 * mfad's log: syslog (facility daemon, authpriv for audit), or stderr
 * when running in the foreground. Never pass a secret to these.
 */
#ifndef MFAD_LOG_H
#define MFAD_LOG_H

#include <syslog.h>

/* foreground: also write to stderr; debug: let LOG_DEBUG through. */
void mfad_log_init(int foreground, int debug);
void mfad_log(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Audit lines go to authpriv. */
void mfad_log_auth(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* MFAD_LOG_H */
