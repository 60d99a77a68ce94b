/*
 * mfad's syslog client: the datagrams glibc's syslog() sends to /dev/log,
 * byte for byte ("<PRI>Mmm dd hh:mm:ss IDENT: text"), with a batch of
 * lines in one system call. Each syslog() call is a send that wakes the
 * syslog daemon; a batch wakes it once.
 */
#ifndef MFAD_SYSLOG_H
#define MFAD_SYSLOG_H

#include <stddef.h>
#include <time.h>

struct mfad_syslog_line {
	int			 prio;	/* facility | priority */
	struct timespec		 ts;	/* CLOCK_REALTIME, when logged */
	const char		*text;
};

/* The most lines mfad_syslog_send takes in one call. */
#define MFAD_SYSLOG_BATCH	64

/* The tag before ": " (the program's name and its pid, "mfad[123]"),
 * and the facility of lines that name none. */
void mfad_syslog_open(const char *ident, int facility);
/* Sends n lines (at most MFAD_SYSLOG_BATCH), in order. Connects, or
 * reconnects once after an error, as glibc does; with no daemon
 * listening the lines are dropped, as glibc drops them. */
void mfad_syslog_send(const struct mfad_syslog_line *lines, size_t n);
void mfad_syslog_close(void);

#endif /* MFAD_SYSLOG_H */
