/*
 * mfadctl's side of the socket to mfad: settling the socket and whom to
 * trust on it, one request and its reply, results and errors reported
 * on stdout or stderr, and lists fetched page by page. Functions that
 * return int return the exit status (enum ctl_exit, see mfadctl(8)).
 */
#ifndef MFADCTL_CLIENT_H
#define MFADCTL_CLIENT_H

#include <sys/types.h>
#include <sys/un.h>

#include <stddef.h>
#include <stdint.h>

#include "mss_buf.h"
#include "mss_err.h"

enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_REFUSED = 1,	/* refused or not found */
	CTL_EXIT_USAGE = 2,	/* bad arguments or configuration */
	CTL_EXIT_UNAVAIL = 3,	/* mfad down, its reply malformed, or
				   its directory unreachable */
	CTL_EXIT_PERM = 4,	/* mfad says we may not */
};

#define CTL_SUN_PATH_MAX	sizeof(((struct sockaddr_un *)0)->sun_path)

/* The user the shipped unit runs mfad as (conf/systemd, sysusers). */
#define CTL_UNIT_USER		MSS_UNIT_USER

struct ctl;

struct ctl_cmd {
	const char	*group;		/* first word */
	const char	*verb;		/* second word, or NULL */
	int		 minargs;	/* arguments after the words */
	int		 maxargs;
	int		(*handler)(struct ctl *, int, char **);
	uint8_t		 type;		/* request sent, for shared handlers */
	const char	*usage;		/* what follows the words */
};

struct ctl {
	const struct ctl_cmd *cmd;
	char		 name[32];	/* "user add", for messages */
	const char	*conf_path;	/* -c, or NULL for the default */
	const char	*socket;	/* -s, or resolved from the config */
	char		*conf_socket;	/* owned copy from the config */
	uid_t		 owner;		/* [mfad] user's uid, or 0 */
	int		 json;
};

/* "mfadctl: <command>: <message>" on stderr (ctl NULL: no command). */
void ctl_warnx(const struct ctl *ctl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A bad argument: the reason, then the command's usage line, on stderr.
 * Returns CTL_EXIT_USAGE. */
int ctl_bad_usage(const struct ctl *ctl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3))) MSS_WUR;
/* Says the reply was malformed; returns CTL_EXIT_UNAVAIL. */
int ctl_malformed(const struct ctl *ctl) MSS_WUR;

/* An absolute path that fits a socket address. */
int ctl_valid_socket(const char *path) MSS_WUR;
/* Settles ctl->socket: -s, else [mfad] socket of the config file when
 * readable, else the default. */
int ctl_resolve_socket(struct ctl *ctl) MSS_WUR;

/*
 * Sends one request (with fds passed along, and timeout_ms for the whole
 * exchange) and reads the reply into *repp (new; the caller frees it).
 * Returns CTL_EXIT_OK when the reply has type want; otherwise reports
 * (unreachable, refusal, unexpected reply) and returns the exit status,
 * with *repp NULL.
 */
int ctl_call_fds(struct ctl *ctl, uint8_t type, const struct mss_buf *req,
    const int *fds, int nfds, int timeout_ms, uint8_t want,
    struct mss_buf **repp) MSS_WUR;
/* ctl_call_fds without descriptors, with the usual timeout. */
int ctl_call(struct ctl *ctl, uint8_t type, const struct mss_buf *req,
    uint8_t want, struct mss_buf **repp) MSS_WUR;
/* Reads and reports an MSS_REP_RESULT held in rep; ok_only: a success
 * is itself malformed (data was expected). */
int ctl_result(struct ctl *ctl, struct mss_buf *rep, int ok_only) MSS_WUR;
/* Sends a request answered by MSS_REP_RESULT and reports the answer. */
int ctl_call_result(struct ctl *ctl, uint8_t type,
    const struct mss_buf *req) MSS_WUR;
/* A new request (*reqp, the caller frees it) holding a, then b unless
 * NULL. */
int ctl_req_strs(struct ctl *ctl, struct mss_buf **reqp, const char *a,
    const char *b) MSS_WUR;

/*
 * A list mfad answers page by page: each request names where the last
 * page ended, each reply is a count, the records and a "more" byte. The
 * checks keep a confused daemon from feeding a loop forever: a page
 * that asks for more must hold records and move past the one before.
 */
struct ctl_pager {
	uint8_t		 req_type;
	uint8_t		 rep_type;
	size_t		 rec_size;	/* one record in memory */
	size_t		 rec_min;	/* smallest encoding of one record */
	size_t		 limit;		/* most records wanted; SIZE_MAX: all */
	/* Writes the request for the page after last (NULL: the first
	 * page), for at most left records. 0 or an MSS_ERR_*. */
	int		(*request)(struct mss_buf *req, const void *last,
			    size_t left, void *arg);
	/* Reads one record; on error rec holds nothing to clear. */
	int		(*get)(struct mss_buf *rep, void *rec);
	/* Nonzero when rec may follow prev (NULL: rec comes first); NULL
	 * for no check. */
	int		(*follows)(const void *prev, const void *rec,
			    void *arg);
	/* Nonzero when a page ending at last moved past the page before,
	 * which ended at prev (NULL: none before). */
	int		(*advances)(const void *prev, const void *last,
			    void *arg);
	void		(*clear)(void *rec);
};

/*
 * Fetches every page (up to pg->limit records) into *recsp (n in *np;
 * free with ctl_pages_free). On error reports it, frees what came and
 * returns the exit status.
 */
int ctl_fetch_pages(struct ctl *ctl, const struct ctl_pager *pg, void *arg,
    void **recsp, size_t *np) MSS_WUR;
void ctl_pages_free(const struct ctl_pager *pg, void *recs, size_t n);

#endif /* MFADCTL_CLIENT_H */
