/*
 * The connection to the directory (OpenLDAP providers) of fleet mode:
 * URIs tried in order, TLS always verified, a simple bind with a password
 * read from its file at each connection, timeouts on every step, and a
 * new connection (to whichever provider answers first in the list) when
 * one is lost. One struct mfad_dir is used by one thread at a time. The
 * process ignores SIGPIPE (mfad does): libldap writes to a socket whose
 * provider may be gone.
 *
 * Results are MSS_ERR_* codes: MSS_ERR_UNAVAIL when no provider could be
 * reached, bound or trusted (each failure is logged with its URI), the
 * mapping of mfad_dir_err() for the result of an operation.
 */
#ifndef MFAD_DIR_H
#define MFAD_DIR_H

#include <stddef.h>
#include <sys/types.h>

#include <ldap.h>

struct mfad_log_limit;

#define MFAD_DIR_URIS_MAX	8
#define MFAD_DIR_PW_MAX		512	/* bytes of a bind password */

struct mfad_dir_params {
	const char	*uris[MFAD_DIR_URIS_MAX];	/* ldaps:// or ldap://
							   (then STARTTLS) */
	size_t		 nuris;
	const char	*base;
	const char	*bind_dn;
	const char	*bind_pw_file;	/* the password, one line */
	uid_t		 bind_pw_owner;	/* who must own that file */
	const char	*ca_file;	/* NULL: the system's CAs */
	int		 net_timeout_ms;	/* connect, TLS handshake */
	int		 op_timeout_ms;		/* each operation */
	struct mfad_log_limit	*fail_limit;	/* failures' lines go through
						   it; NULL: all written */
};

struct mfad_dir {
	struct mfad_dir_params	 p;
	LDAP			*ld;	/* NULL: not connected */
	size_t			 cur;	/* index of the URI in use */
};

/* Checks the parameters (schemes, timeouts, count) and copies the
 * pointers, which must outlive d. Connects nothing. */
int mfad_dir_init(struct mfad_dir *d, const struct mfad_dir_params *p)
    __attribute__((warn_unused_result));
/* Connects and binds to the first URI that answers, if not connected. */
int mfad_dir_connect(struct mfad_dir *d)
    __attribute__((warn_unused_result));
/* The connected handle, connecting first if needed. */
int mfad_dir_handle(struct mfad_dir *d, LDAP **ld)
    __attribute__((warn_unused_result));
/*
 * After an operation that returned the LDAP result code rc: when rc says
 * the connection is gone (or the operation timed out), drops it and
 * returns 1, so that the caller runs the operation once more on a new
 * connection; else 0. The first try may have been applied: a write run
 * again must be harmless (adding a value that is there answers
 * LDAP_TYPE_OR_VALUE_EXISTS, deleting one that is gone
 * LDAP_NO_SUCH_ATTRIBUTE; the caller takes those as done).
 */
int mfad_dir_lost(struct mfad_dir *d, int rc);
/* A read of the base entry; reconnects once if the connection is gone.
 * 0: the directory answers. */
int mfad_dir_check(struct mfad_dir *d)
    __attribute__((warn_unused_result));
/* The URI in use, or NULL when not connected. */
const char *mfad_dir_uri(const struct mfad_dir *d);
/* Unbinds and closes. */
void mfad_dir_close(struct mfad_dir *d);
/* An LDAP result code as an MSS_ERR_* code (0 for LDAP_SUCCESS). */
int mfad_dir_err(int rc);

#endif /* MFAD_DIR_H */
