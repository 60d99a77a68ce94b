/*
 * mfad: accounts, codes, remembered devices and mail for pam_mss.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "mfad_audit.h"
#include "mfad_keys.h"
#include "mfad_conf.h"
#include "mfad_log.h"
#include "mfad_render.h"
#include "mfad_outbox.h"
#include "mfad_pw.h"
#include "mfad_server.h"
#include "mfad_smtp.h"
#include "mfad_snap.h"
#include "mfad_store.h"
#include "mfad_store_dir.h"
#include "mss_err.h"

#define MFAD_USAGE \
	"usage: mfad [-c FILE] [-f] [-d] [-t] [--version] [--help]\n"

static void
usage(void)
{
	fputs(MFAD_USAGE, stderr);
	exit(2);
}

/* The socket's directory: created if missing, never used when anyone but
 * root or mfad's own user could write to it. */
static int MSS_WUR
mfad_socket_dir(const char *sock)
{
	char copy[4096], *dir;
	struct stat st;

	snprintf(copy, sizeof(copy), "%s", sock);
	dir = dirname(copy);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "mfad: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) != 0 || (st.st_uid != 0 && st.st_uid != geteuid()) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		fprintf(stderr, "mfad: %s: the socket directory must be owned "
		    "by root or by mfad's user and writable by nobody else\n",
		    dir);
		return -1;
	}
	return 0;
}

/*
 * The database directory and its files, when they exist: a directory of
 * root or of mfad's user (uid), writable by nobody else; data.mdb and
 * mfad.key readable by nobody else. 0, or -1 with the reason in err.
 */
static int MSS_WUR
mfad_check_database(const struct mfad_conf *conf, uid_t uid, char *err,
    size_t errlen)
{
	static const char *const files[] = { "data.mdb", "mfad.key" };
	char path[4096];
	struct stat st;
	size_t i;

	if (lstat(conf->database, &st) != 0)
		return errno == ENOENT ? 0 : (snprintf(err, errlen, "%.900s: %s",
		    conf->database, strerror(errno)), -1);
	if (!S_ISDIR(st.st_mode) || (st.st_uid != 0 && st.st_uid != uid) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		/* Without [mfad] user, a check run as root cannot know that
		 * another uid is mfad's own: say what tells it. */
		snprintf(err, errlen, "%.800s: the database must be a directory of "
		    "root or of mfad's user (uid %u), writable by nobody else%s",
		    conf->database, (unsigned)uid, conf->user == NULL &&
		    st.st_uid != 0 && uid == 0 ? "; if mfad runs as another "
		    "user (the shipped unit: User=mfad), name it in [mfad] "
		    "user" : "");
		return -1;
	}
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", conf->database, files[i]);
		if (lstat(path, &st) != 0)
			continue;
		if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
			snprintf(err, errlen, "%.900s: must be a regular file that "
			    "group and others cannot read or write (mode 0600)",
			    path);
			return -1;
		}
	}
	return 0;
}

/* tls = none is for a relay on this host; say so loudly otherwise. */
static void
mfad_warn_plain_mail(const struct mfad_conf *conf)
{
	const char *h = conf->smtp_host != NULL ? conf->smtp_host : "";

	if (conf->tls != MFAD_TLS_NONE || strcmp(h, "localhost") == 0 ||
	    strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0 ||
	    strcmp(h, "[::1]") == 0)
		return;
	mfad_log(LOG_WARNING, "[mail] tls = none: codes go in clear text to "
	    "%s, which is not on this host", h);
}

static int MSS_WUR
mfad_drop_privileges(const struct mfad_conf *conf, const struct passwd *pw)
{
	if (chown(conf->database, pw->pw_uid, pw->pw_gid) != 0 &&
	    errno != ENOENT) {
		fprintf(stderr, "mfad: %s: %s\n", conf->database,
		    strerror(errno));
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) != 0 ||
	    setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
		fprintf(stderr, "mfad: cannot become %s: %s\n", pw->pw_name,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Fleet mode: the hashes kept in the directory are keyed by the fleet
 * key, the same on every host (mfad_keys.h). Local mode changes nothing.
 */
static int MSS_WUR
mfad_start_fleet(const struct mfad_conf *conf, struct mfad_keys *keys)
{
	char err[512];
	int r;

	if (conf->dir_nuris == 0)
		return 0;
	if ((r = mfad_keys_fleet(keys, conf->dir_key_file,
	    conf->device_scope == MFAD_DEVICE_SCOPE_FLEET, err,
	    sizeof(err))) != 0) {
		mfad_log(LOG_ERR, "[directory] key_file: %s", err);
		return r;
	}
	mfad_log(LOG_NOTICE, "fleet mode: accounts in the directory at %s%s "
	    "(base %s, this host %s), devices %s", conf->dir_uris[0],
	    conf->dir_nuris > 1 ? " and more" : "", conf->dir_base,
	    conf->dir_host, conf->device_scope == MFAD_DEVICE_SCOPE_FLEET ?
	    "in the directory" : "on this host");
	return 0;
}

/*
 * Everything after the configuration: the socket, the store, the threads,
 * then the event loop until a signal stops it. Returns the exit status;
 * *confp is the configuration in force at the end (a reload replaces it),
 * for the caller to free.
 */
static int MSS_WUR
mfad_start(struct mfad_conf **confp, struct passwd *pw, int fg, int debug)
{
	struct mfad_conf *conf = *confp;
	struct mfad_ctx ctx;
	char err[1024];
	sigset_t mask;
	int lfd = -1, sigfd = -1, r;

	mfad_log_init(fg, debug);
	/* Keys and codes must not end up in a core file. */
	prctl(PR_SET_DUMPABLE, 0);
	if (conf->pw_weak)
		mfad_log(LOG_WARNING, "[password] opslimit/memlimit are below "
		    "19 MiB at t=2: acceptable for tests only");
	mfad_warn_plain_mail(conf);
	if (pw == NULL && geteuid() != 0)
		mfad_log(LOG_WARNING, "[mfad] user is not set but mfad runs as "
		    "uid %u: set it to this user, so that \"mfad -t\" run as "
		    "root checks the database against it",
		    (unsigned)geteuid());
	if ((r = mfad_smtp_check_apart(conf, err, sizeof(err))) != 0 ||
	    (r = mfad_render_check(conf, err, sizeof(err))) != 0 ||
	    (r = mfad_check_database(conf, pw != NULL ? pw->pw_uid :
	    geteuid(), err, sizeof(err))) != 0 ||
	    (r = mfad_sdir_ready(conf, err, sizeof(err))) != 0) {
		mfad_log(LOG_ERR, "%s", err);
		return 1;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		mfad_log(LOG_ERR, "signals: %s", strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);

	if (mfad_socket_dir(conf->socket) != 0)
		return 1;
	/*
	 * Root gives the socket to [mfad] user before it becomes that user.
	 * Started as that user already (the unit's User=), mfad owns it: no
	 * chown, which the unit's system-call filter forbids.
	 */
	if (mfad_server_listen(conf->socket, pw != NULL && geteuid() == 0 ?
	    pw->pw_uid : (uid_t)-1, &lfd) != 0)
		return 1;
	if (pw != NULL && getuid() == 0) {
		if (mkdir(conf->database, 0700) != 0 && errno != EEXIST) {
			mfad_log(LOG_ERR, "%s: %s", conf->database,
			    strerror(errno));
			return 1;
		}
		if (mfad_drop_privileges(conf, pw) != 0)
			return 1;
	}
	/* Fork before any thread exists. */
	if (!fg && daemon(0, 0) != 0) {
		mfad_log(LOG_ERR, "daemon: %s", strerror(errno));
		return 1;
	}

	if (mfad_log_start() != 0)
		mfad_log(LOG_WARNING, "no log thread: logging inline");
	memset(&ctx, 0, sizeof(ctx));
	/* From here a reload may replace it: hand back the one in use. */
	mfad_snap_publish(&ctx, conf);
	ctx.started = time(NULL);
	if (gethostname(ctx.hostname, sizeof(ctx.hostname) - 1) != 0)
		snprintf(ctx.hostname, sizeof(ctx.hostname), "localhost");
	if ((r = mfad_store_open(conf, &ctx.store)) != 0 ||
	    (r = mfad_keys_load(conf->database, &ctx.keys)) != 0 ||
	    (r = mfad_start_fleet(conf, ctx.keys)) != 0 ||
	    (r = mfad_pw_init(conf)) != 0) {
		mfad_log(LOG_ERR, "cannot start: %s", mss_strerror(r));
		mfad_store_close(ctx.store);
		mfad_keys_free(ctx.keys);
		unlink(conf->socket);
		mfad_log_stop();
		return 1;
	}
	if ((r = mfad_outbox_start(&ctx, &ctx.outbox)) != 0) {
		mfad_log(LOG_ERR, "cannot start the mail sender: %s",
		    mss_strerror(r));
		mfad_store_close(ctx.store);
		mfad_keys_free(ctx.keys);
		unlink(conf->socket);
		mfad_log_stop();
		return 1;
	}
	r = mfad_server_run(&ctx, lfd, sigfd);
	/* Refusals only counted so far get their record; a summary the
	 * store refuses has its line in the log, and the stop says so. */
	if (mfad_audit_agg_flush(&ctx, 1) != 0)
		mfad_log(LOG_ERR, "stop: not every audit summary was stored");
	if (mfad_outbox_stop(ctx.outbox) != 0) {
		/* A sender still talks to a slow relay and will record its
		 * session in the store: end here, without closing what it
		 * uses. What it has not recorded is sent again next start. */
		close(lfd);
		unlink(ctx.conf->socket);
		mfad_log(LOG_NOTICE, "stopped");
		mfad_log_stop();
		_exit(r == 0 ? 0 : 1);
	}
	close(lfd);
	unlink(ctx.conf->socket);
	mfad_store_close(ctx.store);
	mfad_keys_free(ctx.keys);
	*confp = ctx.conf;
	mfad_log(LOG_NOTICE, "stopped");
	mfad_log_stop();
	return r == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = MFAD_DEFAULT_CONF;
	struct mfad_conf *conf = NULL;
	struct passwd *pw = NULL;
	char err[1024];
	int ch, fg = 0, debug = 0, test = 0, r;

	while ((ch = getopt_long(argc, argv, "c:fdth", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			fg = 1;
			break;
		case 'd':
			debug = 1;
			break;
		case 't':
			test = 1;
			break;
		case 'V':
			printf("mfad (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return 0;
		case 'h':
			/* Asked for: the standard output, and success. */
			fputs(MFAD_USAGE, stdout);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	/* libESMTP looks for client certificates under $HOME: never let the
	 * environment choose where a root process reads from. */
	if (setenv("HOME", "/", 1) != 0)
		return 1;
	if (sodium_init() < 0) {
		fprintf(stderr, "mfad: libsodium failed to start\n");
		return 1;
	}
	if (mfad_conf_load(path, &conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "mfad: %s\n", err);
		return 1;
	}
	if (conf->user != NULL && (pw = getpwnam(conf->user)) == NULL) {
		fprintf(stderr, "mfad: [mfad] user %s does not exist\n",
		    conf->user);
		mfad_conf_free(conf);
		return 1;
	}
	if (test) {
		r = mfad_smtp_check(conf, err, sizeof(err));
		if (r == 0)
			r = mfad_render_check(conf, err, sizeof(err));
		if (r == 0)
			r = mfad_check_database(conf, pw != NULL ? pw->pw_uid :
			    geteuid(), err, sizeof(err));
		if (r == 0)
			r = mfad_sdir_ready(conf, err, sizeof(err));
		if (r != 0)
			fprintf(stderr, "mfad: %s\n", err);
		else
			printf("%s: configuration OK\n", path);
		mfad_conf_free(conf);
		return r == 0 ? 0 : 1;
	}
	r = mfad_start(&conf, pw, fg, debug);
	mfad_conf_free(conf);
	return r;
}
