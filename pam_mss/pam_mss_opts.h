/*
 * pam_mss module arguments (pam_mss(8), DESIGN §4).
 *
 * pam_mss_opts_parse starts from the defaults and applies each argument
 * in order, so a later one wins. An unknown argument or a bad value is
 * logged at LOG_ERR and the whole call fails with PAM_SERVICE_ERR: a typo
 * in a pam.d file must never quietly weaken a login.
 */
#ifndef PAM_MSS_OPTS_H
#define PAM_MSS_OPTS_H

#include <sys/types.h>

#include <security/pam_modules.h>

#include "mss_err.h"
#include "pam_mss_msg.h"

enum pam_mss_failmode {
	PAM_MSS_FAIL_SECURE = 0,	/* mfad down: PAM_AUTHINFO_UNAVAIL */
	PAM_MSS_FAIL_SAFE,		/* mfad down: PAM_IGNORE, logged */
};

enum pam_mss_dev {
	PAM_MSS_DEV_SSHKEY = 1,
	PAM_MSS_DEV_RHOST,
	PAM_MSS_DEV_TTY,
};
#define PAM_MSS_DEV_MAX		3

struct pam_mss_opts {
	const char		*socket;	/* default or into argv */
	uid_t			 socket_owner;	/* besides root; 0: none */
	int			 owner_default;	/* not named: the unit user's,
						 * looked up when needed */
	enum pam_mss_failmode	 failmode;
	enum pam_mss_dev	 device[PAM_MSS_DEV_MAX];	/* in order */
	unsigned int		 ndevice;	/* 0: device=none */
	int			 email_skip;
	unsigned int		 tries;		/* 1..PAM_MSS_TRIES_MAX */
	enum pam_mss_lang	 lang;		/* AUTO unless lang= */
	int			 use_first_pass;
	int			 try_first_pass;
	int			 noenroll;
	int			 noreset;
	int			 unenrolled_ignore;	/* unenrolled=ignore */
	int			 debug;
	int			 audit;
};

#define PAM_MSS_TRIES_DEFAULT	3
#define PAM_MSS_TRIES_MAX	10

/*
 * Fills opts from argv. Returns PAM_SUCCESS, or PAM_SERVICE_ERR after
 * logging the offending argument. opts->socket may point into argv, which
 * PAM keeps alive for the duration of the call.
 */
int pam_mss_opts_parse(pam_handle_t *pamh, int argc, const char **argv,
    struct pam_mss_opts *opts) MSS_WUR;

/*
 * The uid of the user the shipped unit runs mfad as (MSS_UNIT_USER): 0
 * when the system has no such user. The default socket_owner, looked up
 * only when a check finds something not owned by root: a name service
 * lookup costs more than the rest of a remembered-device login.
 */
uid_t pam_mss_opts_unit_owner(void);

#endif /* PAM_MSS_OPTS_H */
