#include "config.h"

#include <sys/socket.h>

#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mfad_peer.h"
#include "mss_err.h"
#include "mfad_clock.h"

/*
 * A user name and admin_group membership take a lookup through NSS (a
 * read of /etc/passwd and /etc/group, or a round trip to sssd), and every
 * connection needs them: they are kept per (uid, gid) for a few seconds.
 * Only the event loop calls mfad_peer_get, so the cache has no lock.
 */
#define MFAD_PEER_CACHE	32		/* callers remembered */
#define MFAD_PEER_TTL	10		/* seconds a lookup stands */

static struct mfad_peer_ent {
	int		valid;
	uid_t		uid;
	gid_t		gid;
	time_t		until;		/* CLOCK_MONOTONIC seconds */
	int		admin;
	char		name[64];
} mfad_peer_cache[MFAD_PEER_CACHE];
static unsigned mfad_peer_next;
static uint64_t mfad_peer_gen;		/* the snapshot the cache is from */

void
mfad_peer_forget(void)
{
	memset(mfad_peer_cache, 0, sizeof(mfad_peer_cache));
}

static int
mfad_peer_in_group(const struct mfad_peer *p, const char *group)
{
	struct group gr, *grp = NULL;
	struct passwd pw, *pwp = NULL;
	char buf[16384];
	gid_t gids[256], gid;
	int n = 256, i;

	if (getgrnam_r(group, &gr, buf, sizeof(buf), &grp) != 0 ||
	    grp == NULL)
		return 0;
	gid = grp->gr_gid;
	if (p->gid == gid)
		return 1;
	if (getpwuid_r(p->uid, &pw, buf, sizeof(buf), &pwp) != 0 ||
	    pwp == NULL)
		return 0;
	if (getgrouplist(pwp->pw_name, pwp->pw_gid, gids, &n) < 0)
		return 0;
	for (i = 0; i < n; i++)
		if (gids[i] == gid)
			return 1;
	return 0;
}

int
mfad_peer_get(int fd, const struct mfad_conf *conf, struct mfad_peer *p)
{
	struct passwd pw, *pwp = NULL;
	struct mfad_peer_ent *e;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char buf[16384];
	time_t now;
	size_t i;

	memset(p, 0, sizeof(*p));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
	    len != sizeof(cred))
		return MSS_ERR_SYSTEM;
	p->uid = cred.uid;
	p->gid = cred.gid;
	p->pid = cred.pid;
	/* A reload may change admin_group: it applies at once. */
	if (conf->gen != mfad_peer_gen) {
		mfad_peer_forget();
		mfad_peer_gen = conf->gen;
	}
	now = (time_t)mfad_clock_mono_s();
	for (i = 0, e = NULL; i < MFAD_PEER_CACHE; i++)
		if (mfad_peer_cache[i].valid && mfad_peer_cache[i].uid == p->uid &&
		    mfad_peer_cache[i].gid == p->gid &&
		    mfad_peer_cache[i].until > now) {
			e = &mfad_peer_cache[i];
			break;
		}
	if (e == NULL) {
		e = &mfad_peer_cache[mfad_peer_next++ % MFAD_PEER_CACHE];
		memset(e, 0, sizeof(*e));
		e->uid = p->uid;
		e->gid = p->gid;
		if (getpwuid_r(p->uid, &pw, buf, sizeof(buf), &pwp) == 0 &&
		    pwp != NULL && strlen(pwp->pw_name) < sizeof(e->name))
			memcpy(e->name, pwp->pw_name,
			    strlen(pwp->pw_name) + 1);
		e->admin = p->uid != 0 && conf->admin_group != NULL &&
		    mfad_peer_in_group(p, conf->admin_group);
		e->until = now + MFAD_PEER_TTL;
		e->valid = 1;
	}
	memcpy(p->name, e->name, sizeof(p->name));
	p->roles = MFAD_ROLE_SELF;
	if (p->uid == 0) {
		p->roles |= MFAD_ROLE_ADMIN | MFAD_ROLE_PAM;
		return 0;
	}
	for (i = 0; i < conf->n_pam_uids; i++)
		if (conf->pam_uids[i] == p->uid)
			p->roles |= MFAD_ROLE_PAM;
	if (e->admin)
		p->roles |= MFAD_ROLE_ADMIN;
	return 0;
}

int
mfad_peer_may_act_for(const struct mfad_peer *p, const char *user)
{
	if (p->roles & MFAD_ROLE_PAM)
		return 1;
	return p->name[0] != '\0' && strcmp(p->name, user) == 0;
}
