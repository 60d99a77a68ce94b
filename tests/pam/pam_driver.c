/*
 * pam_driver: runs a real PAM transaction through Linux-PAM's
 * pam_start_confdir so the integration tests exercise pam_mss.so exactly
 * as sshd or login would, with a stack taken from a scratch directory.
 *
 * The conversation is a line protocol, one message a line on stdout:
 *
 *	ECHO_ON <text>		then one answer line is read from stdin
 *	ECHO_OFF <text>		then one answer line is read from stdin
 *	INFO <text>
 *	ERROR <text>
 *	RESULT <step> <number> <pam_strerror text>
 *
 * In <text>, a backslash is written "\\", a newline "\n" and a carriage
 * return "\r", so every message stays on one line. End of input while an
 * answer is awaited makes the conversation fail (PAM_CONV_ERR), which is
 * what a client that hangs up does.
 *
 * With -c it runs pam_chauthtok (as passwd does) instead of
 * pam_authenticate; its result line is "RESULT chauthtok ...".
 *
 * With -T two transactions run at once in two threads (same arguments):
 * every output line is prefixed with "1 " or "2 ", and every answer line
 * must start with the number of the transaction it is for.
 *
 * With -d the application sets PAM_FAIL_DELAY to a delay function that
 * does not sleep but prints what Linux-PAM hands it when pam_authenticate
 * returns (it is called on success too, with the status):
 *
 *	DELAY <retval> <usec>
 *
 * With -F the entries of /proc/self/fd are counted before pam_start and
 * after pam_end of each transaction, then
 *
 *	FDS <before> <after>
 *	FDNEW <fd> <target>	for each descriptor open after and not before
 *
 * where <target> is what /proc/self/fd/<fd> names, followed for a Unix
 * socket by " peer=<path>" when it is connected to a named socket. Like
 * sshd and login, the driver opens its syslog connection (openlog with
 * LOG_NDELAY) before any transaction: where a syslog daemon listens on
 * /dev/log, that socket is then part of every count, and one that a
 * module leaves open, or closes, still shows. -L (with -F) leaves a
 * descriptor open inside each transaction, so that the tests can check
 * that the count sees a leak.
 *
 * -F cannot be combined with -T (the other thread's descriptors would
 * count).
 *
 * With -l every syslog line (the module's pam_syslog included) is copied
 * to standard error (LOG_PERROR), so that a test reads what the module
 * logged whether or not a syslog daemon listens.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <security/pam_appl.h>

#define DRIVER_MAXENV	32
#define DRIVER_THREADS	2
#define DRIVER_MAXFD	4096

struct driver_opts {
	const char	*confdir;
	const char	*service;
	const char	*user;
	const char	*rhost;
	const char	*tty;
	const char	*env[DRIVER_MAXENV];
	int		 nenv;
	int		 acct;
	int		 passwd;	/* -c: pam_chauthtok instead */
	int		 count;
	int		 threads;
	int		 delay;		/* -d: report the fail delay */
	int		 fds;		/* -F: count descriptors */
	int		 leak;		/* -L: leave one open, for -F */
	int		 perror;	/* -l: syslog lines to stderr too */
};

/* One transaction's state; with -T, answers are handed over here. */
struct driver_tx {
	const struct driver_opts *opts;
	int		 id;		/* 0 without -T, else 1 or 2 */
	char		*answer;	/* next answer, owned until taken */
	int		 have_answer;
};

static pthread_mutex_t driver_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t driver_cond = PTHREAD_COND_INITIALIZER;
static int driver_eof;

static void usage(void) __attribute__((noreturn));

static void
usage(void)
{
	fprintf(stderr, "usage: pam_driver -D confdir -s service -u user "
	    "[-r rhost] [-t tty] [-e NAME=VALUE]...\n"
	    "\t[-a | -c] [-n count] [-d] [-l] [-F [-L] | -T]\n");
	exit(2);
}

/* Prints one protocol line; the caller holds driver_lock. */
static void
driver_print(const struct driver_tx *tx, const char *tag, const char *text)
{
	const char *p;

	if (tx->id != 0)
		printf("%d ", tx->id);
	fputs(tag, stdout);
	putchar(' ');
	for (p = text == NULL ? "" : text; *p != '\0'; p++) {
		switch (*p) {
		case '\\':
			fputs("\\\\", stdout);
			break;
		case '\n':
			fputs("\\n", stdout);
			break;
		case '\r':
			fputs("\\r", stdout);
			break;
		default:
			putchar(*p);
		}
	}
	putchar('\n');
	fflush(stdout);
}

static void
driver_wipe_free(char *s)
{
	volatile char *p;

	if (s == NULL)
		return;
	for (p = s; *p != '\0'; p++)
		*p = '\0';
	free(s);
}

/* Reads one line from stdin without its newline; NULL at end of input. */
static char *
driver_readline(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if ((n = getline(&line, &cap, stdin)) < 0) {
		free(line);
		return NULL;
	}
	if (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	if (n > 0 && line[n - 1] == '\r')
		line[--n] = '\0';
	return line;
}

/*
 * Gets the answer for tx. Without -T it is simply the next line. With -T
 * a reader thread files lines by their prefix, and this waits for one.
 */
static char *
driver_answer(struct driver_tx *tx)
{
	char *a;

	if (tx->id == 0)
		return driver_readline();
	pthread_mutex_lock(&driver_lock);
	while (!tx->have_answer && !driver_eof)
		pthread_cond_wait(&driver_cond, &driver_lock);
	a = NULL;
	if (tx->have_answer) {
		a = tx->answer;
		tx->answer = NULL;
		tx->have_answer = 0;
	}
	pthread_mutex_unlock(&driver_lock);
	return a;
}

static int
driver_conv(int num_msg, const struct pam_message **msg,
    struct pam_response **resp, void *appdata)
{
	struct driver_tx *tx = appdata;
	struct pam_response *r;
	const char *tag;
	char *a;
	int i, prompt;

	*resp = NULL;
	if (num_msg <= 0 || num_msg > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;
	if ((r = calloc((size_t)num_msg, sizeof(*r))) == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < num_msg; i++) {
		prompt = 0;
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_ON:
			tag = "ECHO_ON";
			prompt = 1;
			break;
		case PAM_PROMPT_ECHO_OFF:
			tag = "ECHO_OFF";
			prompt = 1;
			break;
		case PAM_TEXT_INFO:
			tag = "INFO";
			break;
		case PAM_ERROR_MSG:
			tag = "ERROR";
			break;
		default:
			goto fail;
		}
		pthread_mutex_lock(&driver_lock);
		driver_print(tx, tag, msg[i]->msg);
		pthread_mutex_unlock(&driver_lock);
		if (!prompt)
			continue;
		if ((a = driver_answer(tx)) == NULL)
			goto fail;
		r[i].resp = a;
	}
	*resp = r;
	return PAM_SUCCESS;

 fail:
	for (i = 0; i < num_msg; i++)
		driver_wipe_free(r[i].resp);
	free(r);
	return PAM_CONV_ERR;
}

static void
driver_result(struct driver_tx *tx, pam_handle_t *pamh, const char *step,
    int rc)
{
	char line[512];

	snprintf(line, sizeof(line), "%s %d %s", step, rc,
	    pamh != NULL ? pam_strerror(pamh, rc) : "pam_start failed");
	pthread_mutex_lock(&driver_lock);
	driver_print(tx, "RESULT", line);
	pthread_mutex_unlock(&driver_lock);
}

/*
 * -d: the PAM_FAIL_DELAY item. Linux-PAM calls it as pam_authenticate
 * returns, with the status and the delay it would have slept.
 */
static void
driver_delay(int retval, unsigned int usec, void *appdata)
{
	struct driver_tx *tx = appdata;
	char line[64];

	snprintf(line, sizeof(line), "%d %u", retval, usec);
	pthread_mutex_lock(&driver_lock);
	driver_print(tx, "DELAY", line);
	pthread_mutex_unlock(&driver_lock);
}

/*
 * -F: counts the open descriptors (the directory's own aside); when mark
 * is not NULL, marks each one below DRIVER_MAXFD there. Returns -1 when
 * /proc/self/fd cannot be read.
 */
static int
driver_count_fds(unsigned char *mark)
{
	struct dirent *de;
	DIR *d;
	char *end;
	long fd;
	int n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		errno = 0;
		fd = strtol(de->d_name, &end, 10);
		if (errno != 0 || *end != '\0' || fd < 0 || fd == dirfd(d))
			continue;
		if (mark != NULL && fd < DRIVER_MAXFD)
			mark[fd] = 1;
		n++;
	}
	closedir(d);
	return n;
}

/* -F: " peer=<path>" into buf when fd is a Unix socket connected to a
 * named socket, else "". */
static void
driver_peer(int fd, char *buf, size_t size)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);

	buf[0] = '\0';
	memset(&sun, 0, sizeof(sun));
	if (getpeername(fd, (struct sockaddr *)&sun, &len) != 0 ||
	    sun.sun_family != AF_UNIX ||
	    len <= offsetof(struct sockaddr_un, sun_path) ||
	    sun.sun_path[0] == '\0')
		return;
	snprintf(buf, size, " peer=%.*s",
	    (int)(len - offsetof(struct sockaddr_un, sun_path)), sun.sun_path);
}

/* -F: FDS, then FDNEW for each descriptor not open at the start. */
static void
driver_report_fds(struct driver_tx *tx, int before,
    const unsigned char *was)
{
	unsigned char now[DRIVER_MAXFD];
	char line[PATH_MAX + 160], path[64], target[PATH_MAX];
	char peer[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	ssize_t len;
	int after, fd;

	memset(now, 0, sizeof(now));
	after = driver_count_fds(now);
	snprintf(line, sizeof(line), "%d %d", before, after);
	pthread_mutex_lock(&driver_lock);
	driver_print(tx, "FDS", line);
	for (fd = 0; fd < DRIVER_MAXFD; fd++) {
		if (!now[fd] || was[fd])
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if ((len = readlink(path, target, sizeof(target) - 1)) < 0)
			len = 0;
		target[len] = '\0';
		driver_peer(fd, peer, sizeof(peer));
		snprintf(line, sizeof(line), "%d %s%s", fd, target, peer);
		driver_print(tx, "FDNEW", line);
	}
	pthread_mutex_unlock(&driver_lock);
}

/* One full transaction; returns 0, or 1 when PAM could not even start. */
static int
driver_run(struct driver_tx *tx)
{
	const struct driver_opts *o = tx->opts;
	struct pam_conv conv = { driver_conv, tx };
	pam_handle_t *pamh = NULL;
	unsigned char was[DRIVER_MAXFD];
	int before = 0, i, rc;

	if (o->fds) {
		memset(was, 0, sizeof(was));
		before = driver_count_fds(was);
	}
	rc = pam_start_confdir(o->service, o->user, &conv, o->confdir, &pamh);
	if (rc != PAM_SUCCESS) {
		driver_result(tx, pamh, "start", rc);
		return 1;
	}
	/* -L: a leak for -F to find; never closed. */
	if (o->leak && open("/dev/null", O_RDONLY) == -1) {
		driver_result(tx, pamh, "leak", PAM_SYSTEM_ERR);
		goto out;
	}
	if (o->delay &&
	    (rc = pam_set_item(pamh, PAM_FAIL_DELAY,
	    (const void *)driver_delay)) != PAM_SUCCESS) {
		driver_result(tx, pamh, "set_item", rc);
		goto out;
	}
	if (o->rhost != NULL &&
	    (rc = pam_set_item(pamh, PAM_RHOST, o->rhost)) != PAM_SUCCESS) {
		driver_result(tx, pamh, "set_item", rc);
		goto out;
	}
	if (o->tty != NULL &&
	    (rc = pam_set_item(pamh, PAM_TTY, o->tty)) != PAM_SUCCESS) {
		driver_result(tx, pamh, "set_item", rc);
		goto out;
	}
	for (i = 0; i < o->nenv; i++) {
		if ((rc = pam_putenv(pamh, o->env[i])) != PAM_SUCCESS) {
			driver_result(tx, pamh, "putenv", rc);
			goto out;
		}
	}
	if (o->passwd) {
		/* As passwd(1) does: Linux-PAM runs the preliminary check,
		 * then the update, through every password module. */
		rc = pam_chauthtok(pamh, 0);
		driver_result(tx, pamh, "chauthtok", rc);
		goto out;
	}
	rc = pam_authenticate(pamh, 0);
	driver_result(tx, pamh, "authenticate", rc);
	if (o->acct) {
		rc = pam_acct_mgmt(pamh, 0);
		driver_result(tx, pamh, "acct_mgmt", rc);
	}
 out:
	pam_end(pamh, rc);
	if (o->fds)
		driver_report_fds(tx, before, was);
	return 0;
}

static void *
driver_thread(void *arg)
{
	struct driver_tx *tx = arg;
	int n;

	for (n = 0; n < tx->opts->count; n++)
		(void)driver_run(tx);
	return NULL;
}

/*
 * -T: files each input line "N answer" into transaction N until input
 * ends; main does not wait for this thread, which may sit in a read. A
 * line for a transaction that already holds an unread answer, or with a
 * bad prefix, is a protocol error: it ends input.
 */
static void *
driver_dispatch(void *arg)
{
	struct driver_tx *tx = arg;
	char *line, *rest;
	int id;

	for (;;) {
		line = driver_readline();
		pthread_mutex_lock(&driver_lock);
		id = line == NULL ? 0 : line[0] - '0';
		if (id < 1 || id > DRIVER_THREADS || line[1] != ' ' ||
		    tx[id - 1].have_answer) {
			driver_wipe_free(line);
			driver_eof = 1;
			pthread_cond_broadcast(&driver_cond);
			pthread_mutex_unlock(&driver_lock);
			return NULL;
		}
		rest = strdup(line + 2);
		driver_wipe_free(line);
		tx[id - 1].answer = rest;
		tx[id - 1].have_answer = rest != NULL;
		if (rest == NULL)
			driver_eof = 1;
		pthread_cond_broadcast(&driver_cond);
		pthread_mutex_unlock(&driver_lock);
	}
}

int
main(int argc, char *argv[])
{
	struct driver_opts o;
	struct driver_tx tx[DRIVER_THREADS];
	pthread_t th[DRIVER_THREADS], reader;
	char *end;
	long n;
	int ch, i, rc = 0;

	memset(&o, 0, sizeof(o));
	o.count = 1;
	while ((ch = getopt(argc, argv, "D:s:u:r:t:e:acn:TdFLl")) != -1) {
		switch (ch) {
		case 'D':
			o.confdir = optarg;
			break;
		case 's':
			o.service = optarg;
			break;
		case 'u':
			o.user = optarg;
			break;
		case 'r':
			o.rhost = optarg;
			break;
		case 't':
			o.tty = optarg;
			break;
		case 'e':
			if (o.nenv == DRIVER_MAXENV || strchr(optarg, '=') ==
			    NULL)
				usage();
			o.env[o.nenv++] = optarg;
			break;
		case 'a':
			o.acct = 1;
			break;
		case 'c':
			o.passwd = 1;
			break;
		case 'n':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || n < 1 || n > 100000)
				usage();
			o.count = (int)n;
			break;
		case 'T':
			o.threads = 1;
			break;
		case 'd':
			o.delay = 1;
			break;
		case 'F':
			o.fds = 1;
			break;
		case 'L':
			o.leak = 1;
			break;
		case 'l':
			o.perror = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || o.confdir == NULL || o.service == NULL ||
	    o.user == NULL || (o.fds && o.threads) || (o.leak && !o.fds))
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* As an application does before PAM (see the header comment). */
	openlog(NULL, LOG_NDELAY | (o.perror ? LOG_PERROR : 0), LOG_AUTHPRIV);

	memset(tx, 0, sizeof(tx));
	if (!o.threads) {
		tx[0].opts = &o;
		for (i = 0; i < o.count; i++)
			rc |= driver_run(&tx[0]);
		return rc;
	}
	for (i = 0; i < DRIVER_THREADS; i++) {
		tx[i].opts = &o;
		tx[i].id = i + 1;
		if (pthread_create(&th[i], NULL, driver_thread, &tx[i]) != 0) {
			fprintf(stderr, "pam_driver: pthread_create failed\n");
			return 1;
		}
	}
	if (pthread_create(&reader, NULL, driver_dispatch, tx) != 0) {
		fprintf(stderr, "pam_driver: pthread_create failed\n");
		return 1;
	}
	pthread_detach(reader);
	for (i = 0; i < DRIVER_THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_lock(&driver_lock);
	for (i = 0; i < DRIVER_THREADS; i++) {
		driver_wipe_free(tx[i].answer);
		tx[i].answer = NULL;
		tx[i].have_answer = 0;
	}
	/* _exit holding the lock: the reader can no longer file answers. */
	fflush(stdout);
	_exit(0);
}
