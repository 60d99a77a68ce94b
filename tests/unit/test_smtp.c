/*
 * Unit tests for mfad_smtp: sending to a scripted SMTP peer on the
 * loopback (plain, STARTTLS required, a refused recipient, no relay, the
 * auth file's mode; SECURITY.md item 28) and the relay check run by
 * `mfad -t`. The messages sent are rendered by mfad_render from the
 * shipped templates: $MSS_TEMPLATES, else $srcdir/conf/templates (make
 * check sets srcdir), else ./conf/templates.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>

#include "mss_err.h"
#include "mfad_conf.h"
#include "mfad_mail.h"
#include "mfad_render.h"
#include "mfad_smtp.h"
#include "test_mail_msg.h"

#define CODE		"493817"
#define WHEN		((time_t)1714572180)	/* 2024-05-01 14:03:00 UTC */

static char templates[PATH_MAX];
static char scratch[64];		/* a private temporary directory */

static const struct mfad_mail_vars vars = {
	.code = CODE,
	.masked = "alic*****@example*****",
	.host = "srv1.example.org",
	.service = "sshd",
	.rhost = "192.0.2.7",
	.user = "alice",
	.minutes = 5,
	.time = WHEN,
};

static void
conf_init(struct mfad_conf *c, const char *dir)
{
	memset(c, 0, sizeof(*c));
	c->templates = (char *)dir;
	c->from = (char *)"mfad@mail.example.org";
	c->language = (char *)"en";
	c->smtp_host = (char *)"127.0.0.1";
	c->smtp_port = (char *)"25";
	c->tls = MFAD_TLS_NONE;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* A one-template tree under scratch: <scratch>/t/en/login_code.txt. */

/* What `mfad -t` checks of the relay without reaching it: an auth file
 * open to group or others is refused, named; closed, it is accepted. */
static void
test_smtp_check(void **state)
{
	struct mfad_conf conf;
	char path[PATH_MAX], err[512];

	(void)state;
	assert_int_equal(mfad_smtp_check(NULL, err, sizeof(err)),
	    MSS_ERR_INVAL);
	conf_init(&conf, templates);
	err[0] = '\0';
	if (mfad_smtp_check(&conf, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	snprintf(path, sizeof(path), "%s/auth", scratch);
	write_file(path, "mfad\nsecret password\n");
	assert_int_equal(chmod(path, 0644), 0);
	conf.auth_file = path;
	assert_int_equal(mfad_smtp_check(&conf, err, sizeof(err)),
	    MSS_ERR_MAIL);
	assert_non_null(strstr(err, path));
	assert_int_equal(chmod(path, 0600), 0);
	if (mfad_smtp_check(&conf, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	unlink(path);
}

/*
 * A scripted SMTP peer on 127.0.0.1: one thread, one session at a time
 * (mfad_smtp_send first opens and closes a probe connection, which the
 * peer skips). It records whether MAIL FROM was seen and the DATA.
 */
struct peer {
	int		 lfd;
	char		 port[16];
	int		 starttls;	/* advertise STARTTLS (then refuse it) */
	int		 reject_rcpt;
	int		 saw_mail;
	int		 saw_auth;
	char		 data[65536];
	size_t		 dlen;
	pthread_t	 thread;
};

static int
peer_gets(int fd, char *buf, size_t size)
{
	size_t n = 0;
	char c;

	while (n + 1 < size) {
		ssize_t r = read(fd, &c, 1);

		if (r <= 0)
			return -1;
		buf[n++] = c;
		if (c == '\n')
			break;
	}
	buf[n] = '\0';
	return (int)n;
}

static void
peer_puts(int fd, const char *s)
{
	ssize_t r = write(fd, s, strlen(s));

	(void)r;
}

static void *
peer_main(void *arg)
{
	struct peer *p = arg;
	char line[2048];
	int fd, conns, cmds;

	for (conns = 0; conns < 3; conns++) {
		struct timeval tv = { 10, 0 };

		if ((fd = accept(p->lfd, NULL, NULL)) == -1)
			break;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		peer_puts(fd, "220 peer ESMTP\r\n");
		cmds = 0;
		while (peer_gets(fd, line, sizeof(line)) > 0) {
			cmds++;
			if (strncasecmp(line, "EHLO", 4) == 0)
				peer_puts(fd, p->starttls ?
				    "250-peer\r\n250-STARTTLS\r\n250 8BITMIME\r\n" :
				    "250-peer\r\n250 8BITMIME\r\n");
			else if (strncasecmp(line, "STARTTLS", 8) == 0)
				peer_puts(fd, "454 4.7.0 TLS not available\r\n");
			else if (strncasecmp(line, "AUTH", 4) == 0) {
				p->saw_auth = 1;
				peer_puts(fd, "504 no\r\n");
			} else if (strncasecmp(line, "MAIL", 4) == 0) {
				p->saw_mail = 1;
				peer_puts(fd, "250 2.1.0 ok\r\n");
			} else if (strncasecmp(line, "RCPT", 4) == 0)
				peer_puts(fd, p->reject_rcpt ?
				    "550 5.1.1 no such user here\r\n" :
				    "250 2.1.5 ok\r\n");
			else if (strncasecmp(line, "DATA", 4) == 0) {
				peer_puts(fd, "354 go on\r\n");
				while (peer_gets(fd, line, sizeof(line)) > 0 &&
				    strcmp(line, ".\r\n") != 0) {
					size_t n = strlen(line);

					if (p->dlen + n < sizeof(p->data)) {
						memcpy(p->data + p->dlen, line,
						    n);
						p->dlen += n;
					}
				}
				peer_puts(fd, "250 2.0.0 queued as 42\r\n");
			} else if (strncasecmp(line, "QUIT", 4) == 0) {
				peer_puts(fd, "221 bye\r\n");
				break;
			} else if (strncasecmp(line, "RSET", 4) == 0)
				peer_puts(fd, "250 ok\r\n");
			else
				peer_puts(fd, "500 what\r\n");
		}
		close(fd);
		if (cmds > 0)
			break;
	}
	p->data[p->dlen] = '\0';
	return NULL;
}

static void
peer_start(struct peer *p)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((p->lfd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(p->lfd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	assert_int_equal(listen(p->lfd, 4), 0);
	assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&sin, &sl),
	    0);
	snprintf(p->port, sizeof(p->port), "%u", ntohs(sin.sin_port));
	assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
}

static void
peer_stop(struct peer *p)
{
	shutdown(p->lfd, SHUT_RDWR);
	assert_int_equal(pthread_join(p->thread, NULL), 0);
	close(p->lfd);
}

static void
render_test(const struct mfad_conf *conf, char **msg, size_t *len)
{
	char err[512];

	assert_int_equal(mfad_render_message(conf, MFAD_MAIL_LOGIN_CODE, "fr",
	    "bob@example.org", &vars, msg, len, err, sizeof(err)), 0);
}

static void
test_send_plain(void **state)
{
	struct peer *p = calloc(1, sizeof(*p));
	struct mfad_conf conf;
	char err[512], *msg, *hdrs, *text;
	const char *body;
	size_t len;

	assert_non_null(p);
	peer_start(p);
	conf_init(&conf, templates);
	conf.smtp_port = p->port;
	render_test(&conf, &msg, &len);
	if (mfad_smtp_send(&conf, "bob@example.org", msg, len, err,
	    sizeof(err)) != 0)
		fail_msg("send: %s", err);
	peer_stop(p);
	assert_int_equal(p->saw_mail, 1);
	/* libESMTP added no header of its own and dropped none. */
	split(p->data, &hdrs, &body);
	assert_int_equal(count_header(hdrs, "Date"), 1);
	assert_int_equal(count_header(hdrs, "Message-ID"), 1);
	assert_int_equal(count_header(hdrs, "From"), 1);
	assert_int_equal(count_header(hdrs, "To"), 1);
	assert_int_equal(count_header(hdrs, "Subject"), 1);
	assert_int_equal(count_header(hdrs, "Auto-Submitted"), 1);
	assert_int_equal(strlen(p->data), len);
	assert_memory_equal(p->data, msg, len);
	text = qp_decode(body);
	assert_non_null(strstr(text, CODE));
	free(text);
	free(hdrs);
	free(msg);
	free(p);
}

/* SECURITY 26: tls=starttls and no STARTTLS offered, or STARTTLS
 * refused: nothing is sent. */
static void
test_send_starttls_required(void **state)
{
	struct peer *p;
	struct mfad_conf conf;
	char err[512], *msg;
	size_t len;
	int advertise;

	for (advertise = 0; advertise < 2; advertise++) {
		p = calloc(1, sizeof(*p));
		assert_non_null(p);
		p->starttls = advertise;
		peer_start(p);
		conf_init(&conf, templates);
		conf.smtp_port = p->port;
		conf.tls = MFAD_TLS_STARTTLS;
		render_test(&conf, &msg, &len);
		err[0] = '\0';
		assert_int_equal(mfad_smtp_send(&conf, "bob@example.org", msg,
		    len, err, sizeof(err)), MSS_ERR_MAIL);
		peer_stop(p);
		assert_int_equal(p->saw_mail, 0);
		assert_int_equal(p->dlen, 0);
		assert_true(strlen(err) > 0);
		if (!advertise)
			assert_non_null(strstr(err, "STARTTLS"));
		free(msg);
		free(p);
	}
}

static void
test_send_rcpt_refused(void **state)
{
	struct peer *p = calloc(1, sizeof(*p));
	struct mfad_conf conf;
	char err[512], *msg;
	size_t len;

	assert_non_null(p);
	p->reject_rcpt = 1;
	peer_start(p);
	conf_init(&conf, templates);
	conf.smtp_port = p->port;
	render_test(&conf, &msg, &len);
	/* A 5xx on the recipient is for good: not worth a retry. */
	assert_int_equal(mfad_smtp_send(&conf, "bob@example.org", msg, len,
	    err, sizeof(err)), MSS_ERR_REFUSED);
	peer_stop(p);
	assert_int_equal(p->dlen, 0);
	assert_non_null(strstr(err, "550"));
	assert_non_null(strstr(err, "no such user"));
	free(msg);
	free(p);
}

/* A relay that is not there fails at once, not after minutes. */
static void
test_send_no_relay(void **state)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	struct mfad_conf conf;
	char port[16], err[512], *msg;
	size_t len;
	time_t t0;
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	snprintf(port, sizeof(port), "%u", ntohs(sin.sin_port));
	close(fd);		/* nobody listens there now */

	conf_init(&conf, templates);
	conf.smtp_port = port;
	render_test(&conf, &msg, &len);
	t0 = time(NULL);
	err[0] = '\0';
	assert_int_equal(mfad_smtp_send(&conf, "bob@example.org", msg, len,
	    err, sizeof(err)), MSS_ERR_MAIL);
	assert_true(time(NULL) - t0 < 5);
	assert_non_null(strstr(err, port));
	free(msg);
}

/* The SMTP AUTH file must not be readable by group or others. */
static void
test_send_auth_file_mode(void **state)
{
	struct peer *p = calloc(1, sizeof(*p));
	struct mfad_conf conf;
	char path[PATH_MAX], err[512], *msg;
	size_t len;

	assert_non_null(p);
	snprintf(path, sizeof(path), "%s/auth", scratch);
	write_file(path, "mfad\nsecret password\n");
	assert_int_equal(chmod(path, 0640), 0);
	peer_start(p);
	conf_init(&conf, templates);
	conf.smtp_port = p->port;
	conf.auth_file = path;
	render_test(&conf, &msg, &len);
	err[0] = '\0';
	assert_int_equal(mfad_smtp_send(&conf, "bob@example.org", msg, len,
	    err, sizeof(err)), MSS_ERR_MAIL);
	assert_non_null(strstr(err, path));

	/* With mode 0600 it is read and the session goes ahead (the peer
	 * offers no AUTH, so none is tried, and it takes the message). */
	assert_int_equal(chmod(path, 0600), 0);
	if (mfad_smtp_send(&conf, "bob@example.org", msg, len, err,
	    sizeof(err)) != 0)
		fail_msg("send: %s", err);
	peer_stop(p);
	assert_int_equal(p->saw_mail, 1);
	assert_int_equal(p->saw_auth, 0);
	unlink(path);
	free(msg);
	free(p);
}
static int
setup(void **state)
{
	const char *env = getenv("MSS_TEMPLATES");
	const char *srcdir = getenv("srcdir");
	char tmpl[] = "/tmp/test_smtp.XXXXXX";

	if (env != NULL)
		snprintf(templates, sizeof(templates), "%s", env);
	else
		snprintf(templates, sizeof(templates), "%s/conf/templates",
		    srcdir != NULL ? srcdir : ".");
	if (mkdtemp(tmpl) == NULL)
		return -1;
	snprintf(scratch, sizeof(scratch), "%s", tmpl);
	signal(SIGPIPE, SIG_IGN);
	return sodium_init() < 0 ? -1 : 0;
}
static int
teardown(void **state)
{
	rmdir(scratch);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smtp_check),
		cmocka_unit_test(test_send_plain),
		cmocka_unit_test(test_send_starttls_required),
		cmocka_unit_test(test_send_rcpt_refused),
		cmocka_unit_test(test_send_no_relay),
		cmocka_unit_test(test_send_auth_file_mode),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
