#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <security/pam_ext.h>

#include "mss_err.h"
#include "mss_proto.h"
#include "pam_mss_opts.h"

#define PAM_MSS_SUN_PATH	sizeof(((struct sockaddr_un *)0)->sun_path)

/* The value of "name=value" when arg starts with name=, else NULL. */
static const char *
pam_mss_opt_value(const char *arg, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(arg, name, n) != 0 || arg[n] != '=')
		return NULL;
	return arg + n + 1;
}

/* device=LIST: sshkey, rhost, tty in any order, each once, or none. */
static int MSS_WUR
pam_mss_opt_device(const char *v, struct pam_mss_opts *o)
{
	static const struct {
		const char		*name;
		enum pam_mss_dev	 dev;
	} kinds[] = {
		{ "sshkey", PAM_MSS_DEV_SSHKEY },
		{ "rhost", PAM_MSS_DEV_RHOST },
		{ "tty", PAM_MSS_DEV_TTY },
	};
	const char *p = v, *e;
	unsigned int i, j, n = 0;
	size_t len;

	if (strcmp(v, "none") == 0) {
		o->ndevice = 0;
		return 0;
	}
	for (;;) {
		e = strchr(p, ',');
		len = e == NULL ? strlen(p) : (size_t)(e - p);
		for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (strlen(kinds[i].name) == len &&
			    strncmp(p, kinds[i].name, len) == 0)
				break;
		if (i == sizeof(kinds) / sizeof(kinds[0]) ||
		    n == PAM_MSS_DEV_MAX)
			return -1;
		for (j = 0; j < n; j++)
			if (o->device[j] == kinds[i].dev)
				return -1;
		o->device[n++] = kinds[i].dev;
		if (e == NULL)
			break;
		p = e + 1;
	}
	o->ndevice = n;
	return 0;
}

/* tries=N: a plain decimal number, 1..PAM_MSS_TRIES_MAX. */
static int MSS_WUR
pam_mss_opt_tries(const char *v, struct pam_mss_opts *o)
{
	unsigned int n = 0;

	if (*v == '\0' || strlen(v) > 2)
		return -1;
	for (; *v != '\0'; v++) {
		if (*v < '0' || *v > '9')
			return -1;
		n = n * 10 + (unsigned int)(*v - '0');
	}
	if (n < 1 || n > PAM_MSS_TRIES_MAX)
		return -1;
	o->tries = n;
	return 0;
}

/* A user's uid, by name; -1 when there is no such user. */
static int MSS_WUR
pam_mss_opt_uid(const char *name, uid_t *uid)
{
	struct passwd pw, *res = NULL;
	char *buf;
	long sz;
	int r;

	if ((sz = sysconf(_SC_GETPW_R_SIZE_MAX)) < 1024)
		sz = 16384;
	if ((buf = malloc((size_t)sz)) == NULL)
		return -1;
	r = getpwnam_r(name, &pw, buf, (size_t)sz, &res);
	if (r == 0 && res != NULL)
		*uid = pw.pw_uid;
	free(buf);
	return r == 0 && res != NULL ? 0 : -1;
}

/*
 * socket_owner=USER: a user name or a decimal uid, besides root, that may
 * own the socket and the directories to it and answer on it (the user
 * mfad runs as when it creates its socket itself).
 */
static int MSS_WUR
pam_mss_opt_owner(const char *v, struct pam_mss_opts *o)
{
	char *end;
	unsigned long n;

	if (*v == '\0')
		return -1;
	if (*v >= '0' && *v <= '9') {
		errno = 0;
		n = strtoul(v, &end, 10);
		if (*end != '\0' || errno != 0 || n >= (uid_t)-1)
			return -1;
		o->socket_owner = (uid_t)n;
		return 0;
	}
	return pam_mss_opt_uid(v, &o->socket_owner);
}

static void
pam_mss_opts_defaults(struct pam_mss_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->socket = MSS_DEFAULT_SOCKET;
	o->failmode = PAM_MSS_FAIL_SECURE;
	o->device[0] = PAM_MSS_DEV_SSHKEY;
	o->device[1] = PAM_MSS_DEV_RHOST;
	o->device[2] = PAM_MSS_DEV_TTY;
	o->ndevice = 3;
	o->tries = PAM_MSS_TRIES_DEFAULT;
	o->lang = PAM_MSS_LANG_AUTO;
}

int
pam_mss_opts_parse(pam_handle_t *pamh, int argc, const char **argv,
    struct pam_mss_opts *o)
{
	const char *arg, *v;
	int i, owner_named = 0;

	pam_mss_opts_defaults(o);
	for (i = 0; i < argc; i++) {
		if ((arg = argv[i]) == NULL)
			continue;
		if ((v = pam_mss_opt_value(arg, "socket")) != NULL) {
			/* Absolute, and short enough for sun_path. */
			if (v[0] != '/' || strlen(v) >= PAM_MSS_SUN_PATH)
				goto bad;
			o->socket = v;
		} else if ((v = pam_mss_opt_value(arg, "socket_owner")) !=
		    NULL) {
			if (pam_mss_opt_owner(v, o) != 0)
				goto bad;
			owner_named = 1;
		} else if ((v = pam_mss_opt_value(arg, "failmode")) != NULL) {
			if (strcmp(v, "secure") == 0)
				o->failmode = PAM_MSS_FAIL_SECURE;
			else if (strcmp(v, "safe") == 0)
				o->failmode = PAM_MSS_FAIL_SAFE;
			else
				goto bad;
		} else if ((v = pam_mss_opt_value(arg, "device")) != NULL) {
			if (pam_mss_opt_device(v, o) != 0)
				goto bad;
		} else if ((v = pam_mss_opt_value(arg, "email")) != NULL) {
			if (strcmp(v, "prompt") == 0)
				o->email_skip = 0;
			else if (strcmp(v, "skip") == 0)
				o->email_skip = 1;
			else
				goto bad;
		} else if ((v = pam_mss_opt_value(arg, "tries")) != NULL) {
			if (pam_mss_opt_tries(v, o) != 0)
				goto bad;
		} else if ((v = pam_mss_opt_value(arg, "lang")) != NULL) {
			if (strcmp(v, "fr") == 0)
				o->lang = PAM_MSS_LANG_FR;
			else if (strcmp(v, "en") == 0)
				o->lang = PAM_MSS_LANG_EN;
			else
				goto bad;
		} else if ((v = pam_mss_opt_value(arg, "unenrolled")) !=
		    NULL) {
			if (strcmp(v, "deny") == 0)
				o->unenrolled_ignore = 0;
			else if (strcmp(v, "ignore") == 0)
				o->unenrolled_ignore = 1;
			else
				goto bad;
		} else if (strcmp(arg, "use_first_pass") == 0)
			o->use_first_pass = 1;
		else if (strcmp(arg, "try_first_pass") == 0)
			o->try_first_pass = 1;
		else if (strcmp(arg, "noenroll") == 0)
			o->noenroll = 1;
		else if (strcmp(arg, "noreset") == 0)
			o->noreset = 1;
		else if (strcmp(arg, "debug") == 0)
			o->debug = 1;
		else if (strcmp(arg, "audit") == 0)
			o->audit = 1;
		else {
			pam_syslog(pamh, LOG_ERR,
			    "unknown argument \"%s\": refusing to run", arg);
			return PAM_SERVICE_ERR;
		}
	}
	/* Unnamed, the owner is the user the shipped unit runs mfad as, if
	 * the system has one (root alone otherwise): looked up when a check
	 * with root alone fails (pam_mss_opts_unit_owner). */
	if (!owner_named) {
		o->socket_owner = 0;
		o->owner_default = 1;
	}
	return PAM_SUCCESS;
bad:
	pam_syslog(pamh, LOG_ERR, "bad value in argument \"%s\": "
	    "refusing to run", arg);
	return PAM_SERVICE_ERR;
}

uid_t
pam_mss_opts_unit_owner(void)
{
	uid_t uid;

	if (pam_mss_opt_uid(MSS_UNIT_USER, &uid) != 0)
		return 0;
	return uid;
}
