#include "config.h"

#include <sys/socket.h>

#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "mfad_peer.h"
#include "mss_err.h"

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
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char buf[16384];
	size_t i;

	memset(p, 0, sizeof(*p));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
	    len != sizeof(cred))
		return MSS_ERR_SYSTEM;
	p->uid = cred.uid;
	p->gid = cred.gid;
	p->pid = cred.pid;
	if (getpwuid_r(p->uid, &pw, buf, sizeof(buf), &pwp) == 0 &&
	    pwp != NULL && strlen(pwp->pw_name) < sizeof(p->name))
		memcpy(p->name, pwp->pw_name, strlen(pwp->pw_name) + 1);
	p->roles = MFAD_ROLE_SELF;
	if (p->uid == 0) {
		p->roles |= MFAD_ROLE_ADMIN | MFAD_ROLE_PAM;
		return 0;
	}
	for (i = 0; i < conf->n_pam_uids; i++)
		if (conf->pam_uids[i] == p->uid)
			p->roles |= MFAD_ROLE_PAM;
	if (conf->admin_group != NULL &&
	    mfad_peer_in_group(p, conf->admin_group))
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
