/*
 * Who is on the other end of a connection (SO_PEERCRED), and what that
 * caller may do: root is admin and trusted PAM caller; [mfad] pam_uids are
 * trusted PAM callers; members of admin_group are admins; anyone else may
 * authenticate only themselves (a screen locker running as the user).
 */
#ifndef MFAD_PEER_H
#define MFAD_PEER_H

#include <sys/types.h>

#include "mfad_conf.h"
#include "mss_proto.h"
#include "mss_err.h"

#define MFAD_ROLE_ADMIN	0x01
#define MFAD_ROLE_PAM	0x02	/* may authenticate any user */
#define MFAD_ROLE_SELF	0x04	/* may authenticate its own user */

struct mfad_peer {
	uid_t		uid;
	gid_t		gid;
	pid_t		pid;
	unsigned	roles;
	char		name[64];	/* the peer's user name, or "" */
	/* Descriptors that came with the request (SCM_RIGHTS, BACKUP only):
	 * the server owns and closes them; a handler only uses them. */
	int		fds[MSS_BACKUP_FDS];
	int		nfds;
};

/* Reads the peer's credentials and works out its roles. The name and
 * admin_group membership of a (uid, gid) are looked up at most once every
 * 10 seconds, and again under a new configuration snapshot. Called by the
 * event loop only. */
int mfad_peer_get(int fd, const struct mfad_conf *conf, struct mfad_peer *p)
    MSS_WUR;
/* Drops what mfad_peer_get keeps (a reload may change admin_group). */
void mfad_peer_forget(void);
/* 1 when the peer may act for user. */
int mfad_peer_may_act_for(const struct mfad_peer *p, const char *user);

#endif /* MFAD_PEER_H */
