/*
 * Readiness for systemd (Type=notify): the sd_notify datagram protocol,
 * which systemd documents as stable, spoken directly so that mfad needs
 * no libsystemd (and none of the libraries it pulls in).
 */
#ifndef MFAD_NOTIFY_H
#define MFAD_NOTIFY_H

/* Sends state ("READY=1", ...) to $NOTIFY_SOCKET; nothing when it is not
 * set. A failure is logged once and never stops mfad. */
void mfad_notify(const char *state);

#endif /* MFAD_NOTIFY_H */
