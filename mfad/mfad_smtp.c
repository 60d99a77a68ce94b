/*
 * Sending: messages already built (mfad_render) handed to the relay over
 * SMTP with libESMTP, several in one session. Nothing here knows
 * templates or mail kinds.
 *
 * SMTP AUTH: [mail] auth_file holds two lines, the user name on the first
 * and the password on the second (a password may hold any character but a
 * line break; a CR before the line break is ignored). The file must be a
 * regular file owned by the user mfad sends mail as ([mfad] user, else
 * root), with no permission at all for group or others. Mechanisms that
 * send the password in the clear (PLAIN, LOGIN) are allowed only inside
 * STARTTLS, and the configuration refuses auth_file with tls = none
 * (mfad_conf.c: Debian's libESMTP has no CRAM-MD5).
 *
 * mfad_smtp_check(), which `mfad -t` and the start both run, checks the
 * relay set-up that can be checked without the relay: the auth file (so
 * a file readable by others stops mfad at once, named) and ca_file.
 *
 * What libESMTP 1.1.0 does, read from its sources:
 * - Date, From, Message-ID and To headers already in the message are
 *   passed through; it only adds the ones that are missing, so a rendered
 *   message goes out with exactly one of each.
 * - smtp_starttls_set_ctx takes its own reference on our SSL_CTX; the
 *   session drops it. After the handshake libESMTP checks the verify
 *   result and the certificate's DNS names against the relay's canonical
 *   name itself, and gives up unless the event callback sets its "ok"
 *   flag. Our callback only records events and never changes that
 *   verdict. Our context also sets SSL_VERIFY_PEER and the expected name,
 *   so OpenSSL already fails the handshake on a bad certificate.
 * - It connects with a blocking connect() without a deadline; see
 *   relay_probe().
 * - Given several messages, one smtp_start_session() sends them all in
 *   turn over one connection (MAIL FROM waits for its answer, RCPT TO
 *   and DATA go together when the relay offers PIPELINING) and keeps a
 *   status for each: a 2xx to one message's final dot stays, whatever
 *   happens to the session after it.
 * - With a relay that offers CHUNKING (Postfix and Exim do by default) it
 *   sends each message in BDAT chunks, the last "BDAT 0 LAST", pipelined
 *   with RCPT TO: two round trips a message instead of three. The
 *   message's status is then the last BDAT reply it read, which is the
 *   250 of a chunk when the reply to BDAT LAST never comes: only its
 *   SMTP_EV_MESSAGESENT says that reply was read.
 * - Sessions on several threads share only the list of SASL plugins,
 *   which it guards with a mutex (built with pthreads, as Debian's is).
 * - It looks for a client certificate under $HOME (~/.authenticate), so
 *   mfad should run with HOME pointing at a directory only root can write.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sodium.h>
/* auth-client.h and openssl/ssl.h before libesmtp.h: they enable the
 * declarations of smtp_auth_set_context and smtp_starttls_set_ctx. */
#include <auth-client.h>
#include <libesmtp.h>

#include "mss_err.h"
#include "mss_ident.h"
#include "mfad_clock.h"
#include "mfad_conf.h"
#include "mfad_mail.h"
#include "mfad_secret.h"
#include "mfad_smtp.h"
#include "mfad_str.h"

#define RELAY_AUTH_MAX		4096		/* the auth file */
#define RELAY_TIMEOUT_MS	15000	/* each SMTP reply */
#define RELAY_DATA_TIMEOUT_MS	20000	/* the reply to the final "." */
#define RELAY_CONNECT_MS	10000	/* reaching the relay */

/* SMTP AUTH credentials, wiped after each session. */
struct relay_cred {
	char	user[256];
	char	pass[1024];
};

/* The message handed to libESMTP's reader callback. */
struct relay_src {
	const char	*msg;
	size_t		 len;
	int		 done;
	int		 data_sent;	/* its lines were written */
	int		 answered;	/* libESMTP read the reply to its end */
};

/*
 * Messages added to a session together: the caller's outcomes and what
 * libESMTP points into until the session is destroyed.
 */
struct relay_batch {
	struct relay_batch	*next;		/* the one added before */
	struct mfad_smtp_out	*out;
	size_t			 n;
	struct relay_src	*src;
	smtp_message_t		*message;
	smtp_recipient_t	*rcpt;
};

/* What the session's callbacks saw, and what they need to go on. */
struct relay_events {
	int	tls_ok;		/* STARTTLS completed and accepted */
	int	tls_event;	/* last STARTTLS problem reported, or 0 */
	long	verify_err;	/* first certificate error from OpenSSL */
	int	data_sent;	/* the message's lines were written */
	int	connected;	/* libESMTP reached the relay */
	int	greeting;	/* the code of the relay's first reply */
	char	refusal[160];	/* the relay's last 4xx or 5xx line, cleaned */
	/* For more messages in the same session (mfad_smtp_send_stream): */
	const struct mfad_conf	*conf;
	smtp_session_t		 session;
	int			 tls;		/* STARTTLS required */
	mfad_smtp_more_fn	 more;
	void			*more_arg;
	struct relay_batch	*batches;	/* the newest first */
	smtp_message_t		 last;		/* the last message added */
	int			 broken;	/* adding failed: no more */
};

static pthread_once_t relay_once = PTHREAD_ONCE_INIT;
static int relay_init_ok;
static pthread_once_t relay_tls_once = PTHREAD_ONCE_INIT;
static int relay_tls_init_ok;

/* libsodium and the SASL plugins are set up once per process, whatever
 * thread gets here first. */
static void
relay_init(void)
{
	if (sodium_init() < 0)
		return;
	auth_client_init();
	relay_init_ok = 1;
}

/* OpenSSL, only for a relay reached with STARTTLS: its set-up maps and
 * touches about 2 MiB of libcrypto, of no use to tls = none. */
static void
relay_tls_init(void)
{
	relay_tls_init_ok = OPENSSL_init_ssl(0, NULL) == 1;
}

static int MSS_WUR
relay_ready(char *err, size_t errlen)
{
	if (pthread_once(&relay_once, relay_init) != 0 || !relay_init_ok) {
		mfad_str_err(err, errlen,
		    "mail: library initialisation failed");
		return MSS_ERR_MAIL;
	}
	return 0;
}


static void
relay_clean(char *dst, size_t dstlen, const char *src)
{
	size_t i;

	if (dstlen == 0)
		return;
	if (src == NULL)
		src = "";
	for (i = 0; i + 1 < dstlen && src[i] != '\0'; i++)
		dst[i] = ((unsigned char)src[i] < 0x20 ||
		    (unsigned char)src[i] == 0x7f) ? ' ' : src[i];
	while (i > 0 && dst[i - 1] == ' ')
		i--;
	dst[i] = '\0';
}

/*
 * Reads the SMTP AUTH file (see the top of this file). owner is the uid
 * that reads it when mail is sent; root may own it when owner is root.
 */
static int MSS_WUR
relay_read_auth(const char *path, uid_t owner, struct relay_cred *cred,
    char *err, size_t errlen)
{
	char buf[RELAY_AUTH_MAX + 1];
	char *p, *line[2], *nl;
	size_t len, i;
	int r = MSS_ERR_MAIL;

	if (mfad_secret_read(path, owner, "the user mfad sends mail as", buf,
	    sizeof(buf), &len, err, errlen) != 0)
		return MSS_ERR_MAIL;
	p = buf;
	for (i = 0; i < 2; i++) {
		line[i] = p;
		if ((nl = strchr(p, '\n')) != NULL) {
			*nl = '\0';
			p = nl + 1;
		} else
			p += strlen(p);
		if ((nl = strchr(line[i], '\r')) != NULL && nl[1] == '\0')
			*nl = '\0';
	}
	if (*p != '\0' && strspn(p, "\r\n") != strlen(p)) {
		mfad_str_err(err, errlen, "%s: expected two lines, user then "
		    "password", path);
		goto out;
	}
	if (line[0][0] == '\0' || line[1][0] == '\0' ||
	    strlen(line[0]) >= sizeof(cred->user) ||
	    strlen(line[1]) >= sizeof(cred->pass) ||
	    strchr(line[0], '\r') != NULL || strchr(line[1], '\r') != NULL) {
		mfad_str_err(err, errlen, "%s: expected two lines, user then "
		    "password", path);
		goto out;
	}
	memcpy(cred->user, line[0], strlen(line[0]) + 1);
	memcpy(cred->pass, line[1], strlen(line[1]) + 1);
	r = 0;
 out:
	sodium_memzero(buf, sizeof(buf));
	return r;
}

/* SASL plugins ask for the user and the password through this. */
static int
relay_auth_interact(auth_client_request_t req, char **result, int fields,
    void *arg)
{
	static char empty[1];
	struct relay_cred *cred = arg;
	int i;

	for (i = 0; i < fields; i++) {
		if (req[i].flags & AUTH_PASS)
			result[i] = cred->pass;
		else if (req[i].flags & AUTH_USER)
			result[i] = cred->user;
		else if (req[i].flags & AUTH_REALM)
			result[i] = empty;
		else
			return 0;
	}
	return 1;
}

/* Gives libESMTP the whole message in one piece. */
static const char *
relay_msg_cb(void **ctx, int *len, void *arg)
{
	struct relay_src *src = arg;

	if (len == NULL) {
		src->done = 0;
		return NULL;
	}
	if (src->done) {
		*len = 0;
		return NULL;
	}
	src->done = 1;
	*len = (int)src->len;
	return src->msg;
}

static void relay_continue(struct relay_events *ev, smtp_message_t message);

/* Records what happened; never sets libESMTP's "ok" flags, so a bad
 * certificate or a missing STARTTLS always ends the session. */
static void
relay_event_cb(smtp_session_t session, int event_no, void *arg, ...)
{
	struct relay_events *ev = arg;
	struct relay_src *src;
	smtp_message_t message;
	va_list ap;

	switch (event_no) {
	case SMTP_EV_CONNECT:
		ev->connected = 1;
		break;
	case SMTP_EV_STARTTLS_OK:
		ev->tls_ok = 1;
		break;
	case SMTP_EV_MESSAGEDATA:
		/* Which message: a session carries several. */
		va_start(ap, arg);
		message = va_arg(ap, smtp_message_t);
		va_end(ap);
		ev->data_sent = 1;
		if (message != NULL &&
		    (src = smtp_message_get_application_data(message)) != NULL)
			src->data_sent = 1;
		break;
	case SMTP_EV_MESSAGESENT:
		va_start(ap, arg);
		message = va_arg(ap, smtp_message_t);
		va_end(ap);
		if (message != NULL &&
		    (src = smtp_message_get_application_data(message)) != NULL)
			src->answered = 1;
		relay_continue(ev, message);
		break;
	case SMTP_EV_EXTNA_STARTTLS:
	case SMTP_EV_WEAK_CIPHER:
	case SMTP_EV_INVALID_PEER_CERTIFICATE:
	case SMTP_EV_NO_PEER_CERTIFICATE:
	case SMTP_EV_WRONG_PEER_CERTIFICATE:
	case SMTP_EV_NO_CLIENT_CERTIFICATE:
	case SMTP_EV_UNUSABLE_CLIENT_CERTIFICATE:
	case SMTP_EV_UNUSABLE_CA_LIST:
		ev->tls_event = event_no;
		break;
	default:
		break;
	}
}

/*
 * Keeps the relay's last refusal (4xx or 5xx), which names the fault when
 * no status of the message does: a refused greeting, EHLO or STARTTLS,
 * answered later by QUIT's 221. Only what the relay sends is looked at:
 * what mfad writes holds the AUTH credentials.
 */
static void
relay_monitor_cb(const char *buf, int buflen, int writing, void *arg)
{
	struct relay_events *ev = arg;
	const char *p, *end, *nl;
	char line[sizeof(ev->refusal)];
	size_t n;
	int code;

	if (writing != SMTP_CB_READING || buf == NULL || buflen <= 0)
		return;
	for (p = buf, end = buf + buflen; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl != NULL ? nl : end) - p);
		/* The last line of a reply: three digits and a space. */
		code = n >= 4 && p[0] >= '1' && p[0] <= '5' &&
		    p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9' &&
		    p[3] == ' ' ? (p[0] - '0') * 100 + (p[1] - '0') * 10 +
		    (p[2] - '0') : 0;
		if (code != 0 && ev->greeting == 0)
			ev->greeting = code;
		if (code >= 400) {
			if (n >= sizeof(line))
				n = sizeof(line) - 1;
			memcpy(line, p, n);
			line[n] = '\0';
			relay_clean(ev->refusal, sizeof(ev->refusal), line);
		}
		if (nl == NULL)
			break;
	}
}

/* Keeps the first certificate error for the message; the verdict is
 * OpenSSL's, unchanged. */
static int
relay_verify_cb(int ok, X509_STORE_CTX *xs)
{
	struct relay_events *ev;
	SSL *ssl;

	if (ok)
		return ok;
	ssl = X509_STORE_CTX_get_ex_data(xs,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	if (ssl != NULL &&
	    (ev = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), 0)) != NULL &&
	    ev->verify_err == X509_V_OK)
		ev->verify_err = X509_STORE_CTX_get_error(xs);
	return ok;
}

/*
 * A client context for one session: TLS 1.2, the relay's certificate
 * verified against ca_file (or the system's CAs) and matched against the
 * configured relay name.
 *
 * Why not TLS 1.3: a TLS 1.3 server sends its session tickets after the
 * handshake, unasked. libESMTP 1.1.0 writes the EHLO that follows
 * STARTTLS into its buffer, then polls for "readable or writable" and
 * serves a readable socket first: when the tickets are already there it
 * waits for the EHLO's answer before it has sent the EHLO, until the
 * reply timeout, and the mail is not sent. That is a race any relay
 * (Postfix, Exim, ...) can trigger. TLS 1.2 has no such messages.
 */
static SSL_CTX *
relay_tls_ctx(const struct mfad_conf *conf, struct relay_events *ev,
    char *err, size_t errlen)
{
	unsigned char addr[sizeof(struct in6_addr)];
	X509_VERIFY_PARAM *param;
	SSL_CTX *ctx;
	int ok;

	if (pthread_once(&relay_tls_once, relay_tls_init) != 0 ||
	    !relay_tls_init_ok) {
		mfad_str_err(err, errlen, "mail: TLS library initialisation "
		    "failed");
		return NULL;
	}
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		mfad_str_err(err, errlen, "mail: cannot create a TLS context");
		return NULL;
	}
	ok = SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
	    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) == 1;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, relay_verify_cb);
	if (ok && SSL_CTX_set_ex_data(ctx, 0, ev) != 1)
		ok = 0;
	if (ok && conf->ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, conf->ca_file, NULL)
		    != 1) {
			mfad_str_err(err, errlen, "%s: cannot load CA "
			    "certificates", conf->ca_file);
			SSL_CTX_free(ctx);
			return NULL;
		}
	} else if (ok && SSL_CTX_set_default_verify_paths(ctx) != 1)
		ok = 0;
	param = SSL_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_hostflags(param,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (ok) {
		if (inet_pton(AF_INET, conf->smtp_host, addr) == 1 ||
		    inet_pton(AF_INET6, conf->smtp_host, addr) == 1)
			ok = X509_VERIFY_PARAM_set1_ip_asc(param,
			    conf->smtp_host) == 1;
		else
			ok = X509_VERIFY_PARAM_set1_host(param,
			    conf->smtp_host, 0) == 1;
	}
	if (!ok) {
		mfad_str_err(err, errlen, "mail: cannot set up TLS for %s",
		    conf->smtp_host);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/*
 * libESMTP connects with a blocking connect(), which waits minutes for a
 * relay that drops packets. Reaching the relay first with a deadline
 * makes a dead relay fail in RELAY_CONNECT_MS; the connection is closed
 * at once, before the greeting.
 */
static int MSS_WUR
relay_probe(const char *host, const char *port, char *err, size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	long long start;
	struct pollfd pfd;
	socklen_t sl;
	long long left;
	int fd, gai, soerr, last = ETIMEDOUT, ok = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((gai = getaddrinfo(host, port, &hints, &res)) != 0) {
		mfad_str_err(err, errlen, "relay %s:%s: %s", host, port,
		    gai_strerror(gai));
		return MSS_ERR_MAIL;
	}
	start = mfad_clock_mono_ms();
	for (ai = res; ai != NULL && !ok; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1) {
			last = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			ok = 1;
		else if (errno != EINPROGRESS)
			last = errno;
		else {
			for (;;) {
				left = RELAY_CONNECT_MS -
				    (mfad_clock_mono_ms() - start);
				if (left <= 0) {
					last = ETIMEDOUT;
					break;
				}
				pfd.fd = fd;
				pfd.events = POLLOUT;
				pfd.revents = 0;
				if (poll(&pfd, 1, (int)left) == -1) {
					if (errno == EINTR)
						continue;
					last = errno;
					break;
				}
				if (pfd.revents == 0)
					continue;
				sl = sizeof(soerr);
				if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
				    &sl) == -1)
					last = errno;
				else if (soerr != 0)
					last = soerr;
				else
					ok = 1;
				break;
			}
		}
		close(fd);
	}
	freeaddrinfo(res);
	if (!ok) {
		mfad_str_err(err, errlen, "relay %s:%s: %s", host, port,
		    strerror(last));
		return MSS_ERR_MAIL;
	}
	return 0;
}

static const char *
relay_tls_event_name(int ev)
{
	switch (ev) {
	case SMTP_EV_EXTNA_STARTTLS:
		return "the relay does not offer STARTTLS";
	case SMTP_EV_WEAK_CIPHER:
		return "the relay chose a weak cipher";
	case SMTP_EV_INVALID_PEER_CERTIFICATE:
		return "the relay's certificate is not valid";
	case SMTP_EV_NO_PEER_CERTIFICATE:
		return "the relay sent no certificate";
	case SMTP_EV_WRONG_PEER_CERTIFICATE:
		return "the relay's certificate does not name it";
	default:
		return "TLS set-up failed";
	}
}

/* Explains a failed session in err. */
static void
relay_explain(const struct mfad_conf *conf, smtp_message_t message,
    smtp_recipient_t rcpt, const struct relay_events *ev, char *err,
    size_t errlen)
{
	const smtp_status_t *st;
	char text[256], buf[128];
	unsigned long e;

	if (ev->verify_err != X509_V_OK) {
		mfad_str_err(err, errlen, "relay %s: certificate refused: %s",
		    conf->smtp_host,
		    X509_verify_cert_error_string(ev->verify_err));
		return;
	}
	if (ev->tls_event != 0) {
		mfad_str_err(err, errlen, "relay %s: %s; nothing sent",
		    conf->smtp_host, relay_tls_event_name(ev->tls_event));
		return;
	}
	if ((st = smtp_reverse_path_status(message)) != NULL &&
	    st->code >= 400) {
		relay_clean(text, sizeof(text), st->text);
		/* libESMTP goes on after a refused AUTH; the relay then
		 * refuses MAIL with 530 (RFC 4954). */
		mfad_str_err(err, errlen,
		    "relay %s refused the sender: %d %s%s%s",
		    conf->smtp_host, st->code, text,
		    st->code == 530 && conf->auth_file != NULL ?
		    "; check the credentials in " : "",
		    st->code == 530 && conf->auth_file != NULL ?
		    conf->auth_file : "");
		return;
	}
	if ((st = smtp_recipient_status(rcpt)) != NULL && st->code >= 400) {
		relay_clean(text, sizeof(text), st->text);
		mfad_str_err(err, errlen,
		    "relay %s refused the recipient: %d %s",
		    conf->smtp_host, st->code, text);
		return;
	}
	if ((st = smtp_message_transfer_status(message)) != NULL &&
	    st->code >= 400) {
		relay_clean(text, sizeof(text), st->text);
		mfad_str_err(err, errlen, "relay %s refused the message: %d %s",
		    conf->smtp_host, st->code, text);
		return;
	}
	if (conf->tls == MFAD_TLS_STARTTLS && !ev->tls_ok &&
	    (e = ERR_peek_last_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		mfad_str_err(err, errlen,
		    "relay %s: TLS failed: %s; nothing sent",
		    conf->smtp_host, buf);
		return;
	}
	smtp_strerror(smtp_errno(), buf, sizeof(buf));
	relay_clean(text, sizeof(text), buf);
	if (ev->data_sent) {
		/* The message was written after DATA's 354, but the answer
		 * to its end never came: the relay may hold it. */
		mfad_str_err(err, errlen,
		    "relay %s: no answer to the end of the "
		    "message (%s); the relay may still deliver it",
		    conf->smtp_host, text);
		return;
	}
	if (ev->refusal[0] != '\0') {
		mfad_str_err(err, errlen, "relay %s refused the session: %s; "
		    "nothing sent", conf->smtp_host, ev->refusal);
		return;
	}
	mfad_str_err(err, errlen, "relay %s: message not accepted: %s",
	    conf->smtp_host, text);
}

/*
 * Whether a failed session refused this message for good. The first step
 * that failed decides: a 5xx to MAIL FROM refuses its sender, one to RCPT
 * TO its recipient, one to DATA or to the final dot its content. A 4xx,
 * no answer, and a 530 to MAIL FROM (the session is not authenticated,
 * RFC 4954: the relay's set-up, not this message) are temporary. What
 * follows a temporary refusal says nothing more: a relay answers a
 * pipelined DATA with 554 "no valid recipients" after a 4xx to RCPT.
 */
static int
relay_refused(smtp_message_t message, smtp_recipient_t rcpt)
{
	const smtp_status_t *st;

	if ((st = smtp_reverse_path_status(message)) == NULL ||
	    st->code / 100 != 2)
		return st != NULL && st->code / 100 == 5 && st->code != 530;
	if ((st = smtp_recipient_status(rcpt)) == NULL || st->code / 100 != 2)
		return st != NULL && st->code / 100 == 5;
	return (st = smtp_message_transfer_status(message)) != NULL &&
	    st->code / 100 == 5;
}

/* Sets every message's outcome to the session's failure. */
static void
relay_fail_all(struct mfad_smtp_out *out, size_t n, const char *why)
{
	size_t i;

	for (i = 0; i < n; i++) {
		out[i].result = MSS_ERR_MAIL;
		mfad_str_err(out[i].err, sizeof(out[i].err), "%s", why);
	}
}

/*
 * Adds out[0..n) to the session as one batch. A message that cannot be
 * sent gets its outcome at once (MSS_ERR_REFUSED). Returns how many
 * were added, or -1 when libESMTP could not take them (why says so; the
 * batch stays listed, so that its outcomes are still set).
 */
static int
relay_batch_add(struct relay_events *ev, struct mfad_smtp_out *out,
    size_t n, char *why, size_t whylen)
{
	struct relay_batch *b;
	size_t i;
	int ok = 0;

	for (i = 0; i < n; i++) {
		out[i].result = MSS_ERR_MAIL;
		out[i].err[0] = '\0';
	}
	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (b->src = calloc(n, sizeof(*b->src))) == NULL ||
	    (b->message = calloc(n, sizeof(*b->message))) == NULL ||
	    (b->rcpt = calloc(n, sizeof(*b->rcpt))) == NULL) {
		if (b != NULL) {
			free(b->src);
			free(b->message);
			free(b);
		}
		snprintf(why, whylen, "mail: out of memory");
		relay_fail_all(out, n, why);
		return -1;
	}
	b->out = out;
	b->n = n;
	b->next = ev->batches;
	ev->batches = b;
	for (i = 0; i < n; i++) {
		if (out[i].to == NULL || !mss_email_valid(out[i].to) ||
		    out[i].msg == NULL || out[i].len == 0 ||
		    out[i].len > MFAD_MAIL_MSG_MAX) {
			out[i].result = MSS_ERR_REFUSED;
			mfad_str_err(out[i].err, sizeof(out[i].err),
			    "mail: bad recipient address or message");
			continue;
		}
		b->src[i].msg = out[i].msg;
		b->src[i].len = out[i].len;
		if ((b->message[i] = smtp_add_message(ev->session)) == NULL ||
		    smtp_set_reverse_path(b->message[i], ev->conf->from) == 0 ||
		    (b->rcpt[i] = smtp_add_recipient(b->message[i],
		    out[i].to)) == NULL ||
		    smtp_set_messagecb(b->message[i], relay_msg_cb,
		    &b->src[i]) == 0) {
			/* Without a recipient or a reader, libESMTP skips
			 * it; it is tried again later. */
			b->message[i] = NULL;
			snprintf(why, whylen, "mail: cannot set up the "
			    "message");
			for (; i < n; i++)
				if (out[i].result == MSS_ERR_MAIL)
					mfad_str_err(out[i].err,
					    sizeof(out[i].err), "%s", why);
			return -1;
		}
		smtp_message_set_application_data_release(b->message[i],
		    &b->src[i], NULL);
		ev->last = b->message[i];
		ok++;
	}
	return ok;
}

/*
 * The outcome of each message of b that libESMTP was given: a message
 * whose final dot got a 2xx is the relay's, whatever happened to the
 * session after it (a later message refused, the connection dropped).
 */
static void
relay_batch_settle(struct relay_events *ev, struct relay_batch *b)
{
	const smtp_status_t *st;
	size_t i;

	for (i = 0; i < b->n; i++) {
		if (b->message[i] == NULL)
			continue;
		/*
		 * Accepted: a 2xx to the recipient and to the end of the
		 * message, whose reply libESMTP did read (MESSAGESENT).
		 * With CHUNKING, the status is the last BDAT reply read:
		 * when the one to BDAT LAST never comes, it is still the
		 * 250 of the chunk before.
		 */
		if (b->src[i].answered &&
		    (st = smtp_recipient_status(b->rcpt[i])) != NULL &&
		    st->code / 100 == 2 &&
		    (st = smtp_message_transfer_status(b->message[i])) !=
		    NULL && st->code / 100 == 2 && (!ev->tls || ev->tls_ok)) {
			b->out[i].result = 0;
			continue;
		}
		ev->data_sent = b->src[i].data_sent;
		relay_explain(ev->conf, b->message[i], b->rcpt[i], ev,
		    b->out[i].err, sizeof(b->out[i].err));
		/* Refused for good (5xx): trying again cannot help. */
		b->out[i].result = relay_refused(b->message[i], b->rcpt[i]) ?
		    MSS_ERR_REFUSED : MSS_ERR_MAIL;
	}
}

/*
 * The relay has answered the final dot of message. When that is the
 * last message of the session so far, the newest batch is settled and
 * handed to ev->more, and what it gives back joins the same session:
 * libESMTP (1.1) reports the message before it looks for the next one
 * in its list. A message refused before its data was written is
 * reported after that look, so then the session ends as it stands.
 */
static void
relay_continue(struct relay_events *ev, smtp_message_t message)
{
	struct relay_src *src;
	struct mfad_smtp_out *out = NULL;
	char why[512];
	size_t n;

	if (ev->more == NULL || ev->broken || message == NULL ||
	    message != ev->last ||
	    (src = smtp_message_get_application_data(message)) == NULL ||
	    !src->data_sent)
		return;
	relay_batch_settle(ev, ev->batches);
	if ((n = ev->more(ev->more_arg, ev->batches->out, ev->batches->n,
	    &out)) == 0 || out == NULL)
		return;
	if (relay_batch_add(ev, out, n, why, sizeof(why)) < 0)
		ev->broken = 1;
}

int
mfad_smtp_send(const struct mfad_conf *conf, const char *to,
    const char *msg, size_t len, char *err, size_t errlen)
{
	struct mfad_smtp_out one;
	int r;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (msg == NULL || len == 0 || len > MFAD_MAIL_MSG_MAX) {
		mfad_str_err(err, errlen, "mail: bad arguments");
		return MSS_ERR_MAIL;
	}
	if (to == NULL || !mss_email_valid(to)) {
		mfad_str_err(err, errlen,
		    "mail: bad sender or recipient address");
		return MSS_ERR_MAIL;
	}
	memset(&one, 0, sizeof(one));
	one.to = to;
	one.msg = msg;
	one.len = len;
	r = mfad_smtp_send_session(conf, &one, 1, 1);
	if (r == 0 || r == MSS_ERR_THROTTLED)
		r = one.result;
	mfad_str_err(err, errlen, "%s", one.err);
	return r;
}

int
mfad_smtp_send_session(const struct mfad_conf *conf,
    struct mfad_smtp_out *out, size_t n, int probe)
{
	return mfad_smtp_send_stream(conf, out, n, probe, NULL, NULL);
}

int
mfad_smtp_send_stream(const struct mfad_conf *conf,
    struct mfad_smtp_out *out, size_t n, int probe, mfad_smtp_more_fn more,
    void *more_arg)
{
	static const int which[] = {
		Timeout_GREETING, Timeout_ENVELOPE, Timeout_DATA,
		Timeout_TRANSFER, Timeout_DATA2
	};
	struct relay_cred cred;
	struct relay_events ev;
	struct relay_batch *b;
	smtp_session_t session = NULL;
	auth_context_t auth = NULL;
	SSL_CTX *ctx = NULL;
	char server[1024], why[512];
	size_t i;
	int ok, k, r = MSS_ERR_MAIL;

	memset(&cred, 0, sizeof(cred));
	memset(&ev, 0, sizeof(ev));
	ev.verify_err = X509_V_OK;
	why[0] = '\0';
	if (out == NULL || n == 0)
		return MSS_ERR_INVAL;
	for (i = 0; i < n; i++) {
		out[i].result = MSS_ERR_MAIL;
		out[i].err[0] = '\0';
	}
	if (conf == NULL || conf->smtp_host == NULL ||
	    conf->smtp_port == NULL) {
		relay_fail_all(out, n, "mail: bad arguments");
		return MSS_ERR_MAIL;
	}
	k = snprintf(server, sizeof(server), "%s:%s", conf->smtp_host,
	    conf->smtp_port);
	if (k < 0 || (size_t)k >= sizeof(server)) {
		relay_fail_all(out, n, "mail: relay name too long");
		return MSS_ERR_MAIL;
	}
	if (conf->from == NULL || !mss_email_valid(conf->from)) {
		relay_fail_all(out, n, "mail: bad sender or recipient address");
		return MSS_ERR_MAIL;
	}
	if ((r = relay_ready(why, sizeof(why))) != 0) {
		relay_fail_all(out, n, why);
		return r;
	}
	r = MSS_ERR_MAIL;
	if (conf->auth_file != NULL &&
	    relay_read_auth(conf->auth_file, geteuid(), &cred, why,
	    sizeof(why)) != 0)
		goto fail;
	if (conf->tls != MFAD_TLS_NONE &&
	    (ctx = relay_tls_ctx(conf, &ev, why, sizeof(why))) == NULL)
		goto fail;
	/* Only when the relay is not known to answer: see relay_probe(). */
	if (probe && relay_probe(conf->smtp_host, conf->smtp_port, why,
	    sizeof(why)) != 0)
		goto fail;

	if ((session = smtp_create_session()) == NULL ||
	    smtp_set_server(session, server) == 0 ||
	    smtp_set_eventcb(session, relay_event_cb, &ev) == 0 ||
	    smtp_set_monitorcb(session, relay_monitor_cb, &ev, 0) == 0) {
		snprintf(why, sizeof(why), "mail: cannot set up the SMTP "
		    "session");
		goto fail;
	}
	for (i = 0; i < sizeof(which) / sizeof(which[0]); i++)
		if (smtp_set_timeout(session,
		    which[i] | Timeout_OVERRIDE_RFC2822_MINIMUM,
		    which[i] == Timeout_DATA2 ? RELAY_DATA_TIMEOUT_MS :
		    RELAY_TIMEOUT_MS) == 0) {
			snprintf(why, sizeof(why), "mail: cannot set timeouts");
			goto fail;
		}
	if (ctx != NULL) {
		if (smtp_starttls_enable(session, Starttls_REQUIRED) == 0 ||
		    smtp_starttls_set_ctx(session, ctx) == 0) {
			snprintf(why, sizeof(why), "mail: libESMTP lacks "
			    "STARTTLS");
			goto fail;
		}
	} else if (smtp_starttls_enable(session, Starttls_DISABLED) == 0) {
		snprintf(why, sizeof(why), "mail: cannot disable STARTTLS");
		goto fail;
	}
	if (conf->auth_file != NULL) {
		if ((auth = auth_create_context()) == NULL ||
		    auth_set_mechanism_flags(auth,
		    ctx != NULL ? AUTH_PLUGIN_PLAIN : 0,
		    ctx != NULL ? 0 : AUTH_PLUGIN_PLAIN) == 0 ||
		    auth_set_interact_cb(auth, relay_auth_interact,
		    &cred) == 0 ||
		    smtp_auth_set_context(session, auth) == 0) {
			snprintf(why, sizeof(why), "mail: cannot set up SMTP "
			    "AUTH");
			goto fail;
		}
	}
	/*
	 * Every message of the batch in this one session: libESMTP sends
	 * them in turn, pipelining each one's MAIL, RCPT and DATA when the
	 * relay offers PIPELINING, and keeps a status per message. With
	 * more, what is due meanwhile follows in the same session.
	 */
	ev.conf = conf;
	ev.session = session;
	ev.tls = ctx != NULL;
	ev.more = more;
	ev.more_arg = more_arg;
	if ((ok = relay_batch_add(&ev, out, n, why, sizeof(why))) < 0)
		goto fail;
	if (ok == 0) {
		r = 0;		/* nothing to send: each says why */
		goto out;
	}

	/* OpenSSL's error queue is this thread's: clean for the session's
	 * STARTTLS (and untouched without it, which loads no OpenSSL). */
	if (ctx != NULL)
		ERR_clear_error();
	(void)smtp_start_session(session);
	/* The batches before the newest were settled as they ended. */
	relay_batch_settle(&ev, ev.batches);
	if (ctx != NULL)
		ERR_clear_error();
	/*
	 * Whether libESMTP reached the relay: its health, for the next.
	 * A 4xx greeting is the relay turning the session away before
	 * any message (a busy relay, or one over its limit of sessions
	 * from one client, as Postfix and Exim answer it).
	 */
	if (!ev.connected)
		r = MSS_ERR_MAIL;
	else
		r = ev.greeting / 100 == 4 ? MSS_ERR_THROTTLED : 0;
	goto out;
 fail:
	relay_fail_all(out, n, why[0] ? why : "mail: cannot send");
	r = MSS_ERR_MAIL;
 out:
	if (session != NULL)
		smtp_destroy_session(session);
	if (auth != NULL)
		auth_destroy_context(auth);
	SSL_CTX_free(ctx);
	sodium_memzero(&cred, sizeof(cred));
	while ((b = ev.batches) != NULL) {
		ev.batches = b->next;
		free(b->src);
		free(b->message);
		free(b->rcpt);
		free(b);
	}
	return r;
}

/*
 * What can be checked of the relay set-up without the relay: the auth
 * file, owned by the user that will read it (mfad's [mfad] user once
 * root has dropped to it) and closed to group and others, and ca_file.
 */
int
mfad_smtp_check(const struct mfad_conf *conf, char *err, size_t errlen)
{
	struct relay_cred cred;
	struct relay_events ev;
	struct passwd pwd, *pw = NULL;
	char pwbuf[4096];
	SSL_CTX *ctx;
	uid_t owner = geteuid();
	int r;

	if (conf == NULL)
		return MSS_ERR_INVAL;
	if ((r = relay_ready(err, errlen)) != 0)
		return r;
	if (conf->auth_file != NULL) {
		if (conf->user != NULL && owner == 0) {
			if (getpwnam_r(conf->user, &pwd, pwbuf, sizeof(pwbuf),
			    &pw) != 0 || pw == NULL) {
				mfad_str_err(err, errlen,
				    "[mfad] user %s does not exist",
				    conf->user);
				return MSS_ERR_MAIL;
			}
			owner = pw->pw_uid;
		}
		memset(&cred, 0, sizeof(cred));
		r = relay_read_auth(conf->auth_file, owner, &cred, err, errlen);
		sodium_memzero(&cred, sizeof(cred));
		sodium_memzero(pwbuf, sizeof(pwbuf));
		if (r != 0)
			return r;
	}
	if (conf->tls != MFAD_TLS_NONE && conf->smtp_host != NULL) {
		memset(&ev, 0, sizeof(ev));
		if ((ctx = relay_tls_ctx(conf, &ev, err, errlen)) == NULL)
			return MSS_ERR_MAIL;
		SSL_CTX_free(ctx);
	}
	return 0;
}

/*
 * mfad_smtp_check in a child process, for the start: it needs the
 * verdict, not what the check leaves behind. Setting up OpenSSL maps and
 * touches about 2 MiB of its library, which mfad needs only once it
 * sends mail. Without a child (fork refused), the check runs here.
 */
int
mfad_smtp_check_apart(const struct mfad_conf *conf, char *err, size_t errlen)
{
	struct {
		int	r;
		char	err[1024];
	} out;
	size_t got = 0;
	ssize_t n;
	pid_t pid;
	int fds[2], status = 0;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return mfad_smtp_check(conf, err, errlen);
	if ((pid = fork()) < 0) {
		close(fds[0]);
		close(fds[1]);
		return mfad_smtp_check(conf, err, errlen);
	}
	if (pid == 0) {
		close(fds[0]);
		memset(&out, 0, sizeof(out));
		out.r = mfad_smtp_check(conf, out.err, sizeof(out.err));
		/* One write, under PIPE_BUF: whole or not at all. */
		n = write(fds[1], &out, sizeof(out));
		_exit(n == (ssize_t)sizeof(out) ? 0 : 1);
	}
	close(fds[1]);
	while (got < sizeof(out)) {
		n = read(fds[0], (char *)&out + got, sizeof(out) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (got != sizeof(out) || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		mfad_str_err(err, errlen, "mail: the check of the relay set-up "
		    "did not finish (%s %d)", WIFSIGNALED(status) ? "signal" :
		    "status", WIFSIGNALED(status) ? WTERMSIG(status) :
		    WEXITSTATUS(status));
		return MSS_ERR_MAIL;
	}
	out.err[sizeof(out.err) - 1] = '\0';
	if (out.r != 0)
		mfad_str_err(err, errlen, "%s", out.err);
	return out.r;
}
