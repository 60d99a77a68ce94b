/*
 * mfadctl's side of the socket: which socket and whose, one request and
 * its reply, results and errors reported with the exit status they map
 * to, and lists fetched page by page.
 */
#include "config.h"

#include <sys/un.h>

#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mss_client.h"
#include "mss_err.h"
#include "mss_ident.h"
#include "mss_proto.h"
#include "mfad_conf.h"
#include "mfadctl_client.h"
#include "mfadctl_out.h"

/* "mfadctl: <command>: <message>" on stderr. */
void __attribute__((format(printf, 2, 3)))
ctl_warnx(const struct ctl *ctl, const char *fmt, ...)
{
	va_list ap;

	fputs("mfadctl: ", stderr);
	if (ctl != NULL && ctl->name[0] != '\0')
		fprintf(stderr, "%s: ", ctl->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A bad argument: the reason, then this command's usage line. */
int __attribute__((format(printf, 2, 3)))
ctl_bad_usage(const struct ctl *ctl, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mfadctl: %s: ", ctl->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: mfadctl %s%s%s\n", ctl->name,
	    ctl->cmd->usage[0] != '\0' ? " " : "", ctl->cmd->usage);
	return CTL_EXIT_USAGE;
}

int
ctl_malformed(const struct ctl *ctl)
{
	ctl_warnx(ctl, "malformed reply from mfad");
	return CTL_EXIT_UNAVAIL;
}

/*
 * Talking to mfad.
 */

int
ctl_valid_socket(const char *path)
{
	return path[0] == '/' &&
	    strlen(path) < CTL_SUN_PATH_MAX;
}

/*
 * Settles which socket to use: -s; else [mfad] socket of the config file
 * when mfadctl can read it; else the built-in default. Only that key is
 * read: an admin_group member cannot read the daemon's file (0640
 * root:mfad), and a mistake elsewhere in it is mfad's to report, not a
 * reason to leave the admin without mfadctl. Done on the first call, so
 * that usage errors come before configuration errors.
 */
int
ctl_resolve_socket(struct ctl *ctl)
{
	const char *path;
	char buf[CTL_SUN_PATH_MAX + 1];
	unsigned line = 0;
	int r;

	if (ctl->socket != NULL)
		return CTL_EXIT_OK;
	path = ctl->conf_path != NULL ? ctl->conf_path : MFAD_DEFAULT_CONF;
	r = mfad_conf_socket(path, buf, sizeof(buf), &line);
	if (r == MSS_ERR_SYSTEM && errno == ENOENT && ctl->conf_path != NULL) {
		ctl_warnx(NULL, "%s: %s", path, strerror(errno));
		return CTL_EXIT_USAGE;
	}
	if (r == MSS_ERR_SYSTEM || r == MSS_ERR_NOTFOUND) {
		ctl->socket = MSS_DEFAULT_SOCKET;
		return CTL_EXIT_OK;
	}
	if (r != 0 || !ctl_valid_socket(buf)) {
		ctl_warnx(NULL, "%s:%u: [mfad] socket must be an absolute path "
		    "shorter than %zu bytes", path, line, CTL_SUN_PATH_MAX);
		return CTL_EXIT_USAGE;
	}
	if ((ctl->conf_socket = strdup(buf)) == NULL) {
		ctl_warnx(NULL, "%s", mss_strerror(MSS_ERR_NOMEM));
		return CTL_EXIT_REFUSED;
	}
	ctl->socket = ctl->conf_socket;
	return CTL_EXIT_OK;
}

static int
ctl_exit_for(uint32_t code)
{
	if (code == 0)
		return CTL_EXIT_OK;
	if (code == (uint32_t)-MSS_ERR_PERM)
		return CTL_EXIT_PERM;
	/* Fleet mode: mfad answers but its directory does not. Like mfad
	 * down, a state to wait out, not a refusal of this command. */
	if (code == (uint32_t)-MSS_ERR_UNAVAIL)
		return CTL_EXIT_UNAVAIL;
	return CTL_EXIT_REFUSED;
}

static const char *
ctl_code_str(uint32_t code)
{
	if (code > MSS_ERR_MAX)
		return "unknown error";
	return mss_strerror(-(int)code);
}

/*
 * Reads and reports an MSS_REP_RESULT held in rep: the JSON object on
 * stdout with --json; the message on stdout (success) or stderr (failure)
 * otherwise. ok_only: a success is itself a malformed answer (the
 * command expected data). Returns the exit status.
 */
int
ctl_result(struct ctl *ctl, struct mss_buf *rep, int ok_only)
{
	char *msg = NULL;
	uint32_t code;
	int first = 1, ex;

	if (mss_buf_get_u32(rep, &code) != 0 ||
	    mss_buf_get_str(rep, &msg, MSS_STR_MAX) != 0 ||
	    mss_buf_end(rep) != 0 || (ok_only && code == 0)) {
		ex = ctl_malformed(ctl);
		goto out;
	}
	ex = ctl_exit_for(code);
	if (ctl->json) {
		putchar('{');
		ctl_json_key(&first, "ok");
		fputs(code == 0 ? "true" : "false", stdout);
		ctl_json_knum(&first, "code", code);
		if (code != 0)
			ctl_json_kstr(&first, "error", ctl_code_str(code));
		ctl_json_kstr(&first, "message", msg);
		puts("}");
	}
	if (code == 0) {
		if (!ctl->json && msg[0] != '\0') {
			ctl_text(stdout, msg);
			putchar('\n');
		}
	} else {
		fprintf(stderr, "mfadctl: %s: ", ctl->name);
		ctl_text(stderr, msg[0] != '\0' ? msg : ctl_code_str(code));
		fputc('\n', stderr);
	}
out:
	mss_str_free(msg);
	return ex;
}

/*
 * Besides root, who may own the socket and the directories to it and
 * answer on it: the user mfad runs as, [mfad] user of the config file
 * (-c or the default), whether or not -s named the socket. A file that
 * cannot be read (an admin_group member and the file of mode 0640
 * root:mfad) stands for the shipped one, which names the unit's user.
 * No key, or a user that does not exist: root only.
 */
static void
ctl_resolve_owner(struct ctl *ctl)
{
	const char *path;
	char buf[256];
	struct passwd *pw;
	unsigned line = 0;
	int r;

	ctl->owner = 0;
	path = ctl->conf_path != NULL ? ctl->conf_path : MFAD_DEFAULT_CONF;
	r = mfad_conf_peek(path, "user", buf, sizeof(buf), &line);
	if (r == MSS_ERR_SYSTEM)
		snprintf(buf, sizeof(buf), "%s", CTL_UNIT_USER);
	else if (r != 0)
		return;
	if ((pw = getpwnam(buf)) != NULL)
		ctl->owner = pw->pw_uid;
}

/*
 * Sends one request and reads the reply into *repp (new; the caller
 * frees it). Returns CTL_EXIT_OK when the reply has type want; otherwise
 * reports (unreachable, refusal, unexpected reply) and returns the exit
 * status, with *repp NULL.
 */
int
ctl_call_fds(struct ctl *ctl, uint8_t type, const struct mss_buf *req,
    const int *fds, int nfds, int timeout_ms, uint8_t want,
    struct mss_buf **repp)
{
	struct mss_buf *rep;
	char why[256];
	uint8_t rtype;
	int ex, r;

	*repp = NULL;
	if ((ex = ctl_resolve_socket(ctl)) != CTL_EXIT_OK)
		return ex;
	if ((rep = mss_buf_new(MSS_MSG_MAX)) == NULL) {
		ctl_warnx(ctl, "%s", mss_strerror(MSS_ERR_NOMEM));
		return CTL_EXIT_REFUSED;
	}
	ctl_resolve_owner(ctl);
	r = mss_client_call_fds(ctl->socket, ctl->owner, type, req, fds, nfds,
	    &rtype, rep, timeout_ms);
	if ((r == MSS_ERR_PEER || r == MSS_ERR_INVAL) &&
	    mss_client_check_path(ctl->socket, ctl->owner, why,
	    sizeof(why)) != 0)
		ctl_warnx(ctl, "%s: not trusted: %s", ctl->socket, why);
	else if (r == MSS_ERR_SYSTEM)
		ctl_warnx(ctl, "%s: %s", ctl->socket, strerror(errno));
	else if (r != 0)
		ctl_warnx(ctl, "%s: %s", ctl->socket, mss_strerror(r));
	if (r != 0) {
		ex = CTL_EXIT_UNAVAIL;
		goto fail;
	}
	if (rtype == want) {
		*repp = rep;
		return CTL_EXIT_OK;
	}
	if (rtype == MSS_REP_RESULT) {
		ex = ctl_result(ctl, rep, 1);
		goto fail;
	}
	ctl_warnx(ctl, "unexpected reply type %u from mfad", (unsigned)rtype);
	ex = CTL_EXIT_UNAVAIL;
fail:
	mss_buf_free(rep);
	return ex;
}

int
ctl_call(struct ctl *ctl, uint8_t type, const struct mss_buf *req,
    uint8_t want, struct mss_buf **repp)
{
	return ctl_call_fds(ctl, type, req, NULL, 0, MSS_IO_TIMEOUT_MS, want,
	    repp);
}

/* Sends a request answered by MSS_REP_RESULT and reports the answer. */
int
ctl_call_result(struct ctl *ctl, uint8_t type, const struct mss_buf *req)
{
	struct mss_buf *rep;
	int ex;

	if ((ex = ctl_call(ctl, type, req, MSS_REP_RESULT, &rep)) != 0)
		return ex;
	ex = ctl_result(ctl, rep, 0);
	mss_buf_free(rep);
	return ex;
}

/* A new request buffer holding the given strings. */
int
ctl_req_strs(struct ctl *ctl, struct mss_buf **reqp, const char *a,
    const char *b)
{
	struct mss_buf *req;

	if ((req = mss_buf_new(MSS_MSG_MAX)) == NULL ||
	    mss_buf_put_str(req, a) != 0 ||
	    (b != NULL && mss_buf_put_str(req, b) != 0)) {
		mss_buf_free(req);
		ctl_warnx(ctl, "%s", mss_strerror(MSS_ERR_NOMEM));
		return CTL_EXIT_REFUSED;
	}
	*reqp = req;
	return CTL_EXIT_OK;
}

void
ctl_pages_free(const struct ctl_pager *pg, void *recs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		pg->clear((char *)recs + i * pg->rec_size);
	free(recs);
}

int
ctl_fetch_pages(struct ctl *ctl, const struct ctl_pager *pg, void *arg,
    void **recsp, size_t *np)
{
	struct mss_buf *req = NULL, *rep = NULL;
	char *recs = NULL, *nr, *rec;
	size_t nrecs = 0, last = SIZE_MAX;	/* SIZE_MAX: no page yet */
	uint32_t n, k;
	uint8_t more;
	int ex;

#define CTL_REC(i)	(recs + (i) * pg->rec_size)
	*recsp = NULL;
	*np = 0;
	for (;;) {
		mss_buf_free(req);
		mss_buf_free(rep);
		rep = NULL;
		if ((req = mss_buf_new(MSS_MSG_MAX)) == NULL ||
		    pg->request(req, last == SIZE_MAX ? NULL : CTL_REC(last),
		    pg->limit - nrecs, arg) != 0) {
			ctl_warnx(ctl, "%s", mss_strerror(MSS_ERR_NOMEM));
			ex = CTL_EXIT_REFUSED;
			goto out;
		}
		if ((ex = ctl_call(ctl, pg->req_type, req, pg->rep_type,
		    &rep)) != 0)
			goto out;
		if (mss_buf_get_u32(rep, &n) != 0 ||
		    n > mss_buf_avail(rep) / pg->rec_min ||
		    n > pg->limit - nrecs) {
			ex = ctl_malformed(ctl);
			goto out;
		}
		if ((nr = reallocarray(recs, nrecs + n + 1,
		    pg->rec_size)) == NULL) {
			ctl_warnx(ctl, "%s", mss_strerror(MSS_ERR_NOMEM));
			ex = CTL_EXIT_REFUSED;
			goto out;
		}
		recs = nr;
		for (k = 0; k < n; k++) {
			rec = CTL_REC(nrecs);
			if (pg->get(rep, rec) != 0) {
				ex = ctl_malformed(ctl);
				goto out;
			}
			nrecs++;
			if (pg->follows != NULL && !pg->follows(nrecs > 1 ?
			    CTL_REC(nrecs - 2) : NULL, rec, arg)) {
				ex = ctl_malformed(ctl);
				goto out;
			}
		}
		if (mss_buf_get_u8(rep, &more) != 0 ||
		    mss_buf_end(rep) != 0) {
			ex = ctl_malformed(ctl);
			goto out;
		}
		if (!more || nrecs >= pg->limit)
			break;
		if (n == 0 || !pg->advances(last == SIZE_MAX ? NULL :
		    CTL_REC(last), CTL_REC(nrecs - 1), arg)) {
			ex = ctl_malformed(ctl);
			goto out;
		}
		last = nrecs - 1;
	}
#undef CTL_REC
	*recsp = recs;
	*np = nrecs;
	recs = NULL;
	nrecs = 0;
	ex = CTL_EXIT_OK;
out:
	if (recs != NULL)
		ctl_pages_free(pg, recs, nrecs);
	mss_buf_free(req);
	mss_buf_free(rep);
	return ex;
}
