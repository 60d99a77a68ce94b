/*
 * Mail: templates rendered into complete MIME messages, sent over SMTP with
 * libESMTP, several in one session.
 *
 * Templates: <templates>/<lang>/<kind>.txt, UTF-8. The first line is
 * "Subject: ...", the second is empty, the rest is the body. Placeholders
 * are {code} {minutes} {masked} {host} {service} {rhost} {user} {time}
 * {duration} {until}; "{{" is a literal "{". {duration} and {until} are
 * worded in the template's language: "1 minute", "5 minutes" (French:
 * 0 and 1 are singular), and a lock's end. {code} may appear in the body only. Errors are
 * reported as "file:line: reason".
 *
 * SMTP AUTH: [mail] auth_file holds two lines, the user name on the first
 * and the password on the second (a password may hold any character but a
 * line break; a CR before the line break is ignored). The file must be a
 * regular file owned by the user mfad sends mail as ([mfad] user, else
 * root), with no permission at all for group or others. Mechanisms that
 * send the password in the clear (PLAIN, LOGIN) are allowed only inside
 * STARTTLS; with tls=none only CRAM-MD5 can be used.
 *
 * mfad_mail_check_templates(), which `mfad -t` and the start both run,
 * also checks the relay set-up that can be checked without the relay:
 * the auth file (so a file readable by others stops mfad at once, named)
 * and ca_file.
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
 *   mail_probe().
 * - Given several messages, one smtp_start_session() sends them all in
 *   turn over one connection (MAIL FROM waits for its answer, RCPT TO
 *   and DATA go together when the relay offers PIPELINING) and keeps a
 *   status for each: a 2xx to one message's final dot stays, whatever
 *   happens to the session after it.
 * - Sessions on several threads share only the list of SASL plugins,
 *   which it guards with a mutex (built with pthreads, as Debian's is).
 * - It looks for a client certificate under $HOME (~/.authenticate), so
 *   mfad should run with HOME pointing at a directory only root can write.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

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

#include "mss_buf.h"
#include "mss_err.h"
#include "mss_ident.h"
#include "mfad_conf.h"
#include "mfad_lockout.h"
#include "mfad_mail.h"

#define MAIL_TEMPLATE_MAX	(32 * 1024)	/* bytes of one template */
#define MAIL_SUBJECT_MAX	1024		/* rendered subject */
#define MAIL_MSG_MAX		(256 * 1024)	/* a whole message */
#define MAIL_AUTH_MAX		4096		/* the auth file */
#define MAIL_WORD_BYTES		39	/* text bytes per encoded-word */
#define MAIL_QP_LINE		76	/* RFC 2045 line limit */
#define MAIL_TIMEOUT_MS		15000	/* each SMTP reply */
#define MAIL_DATA_TIMEOUT_MS	20000	/* the reply to the final "." */
#define MAIL_CONNECT_MS		10000	/* reaching the relay */

static const char *const mail_kind_names[MFAD_MAIL_NKINDS] = {
	[MFAD_MAIL_LOGIN_CODE] = "login_code",
	[MFAD_MAIL_ENROLL_CODE] = "enroll_code",
	[MFAD_MAIL_RESET_CODE] = "reset_code",
	[MFAD_MAIL_DEVICE] = "device",
	[MFAD_MAIL_PASSWORD_CHANGED] = "password_changed",
	[MFAD_MAIL_LOCKED] = "locked",
	[MFAD_MAIL_TEST] = "test",
	[MFAD_MAIL_EMAIL_CHANGED] = "email_changed",
	[MFAD_MAIL_CODE_TAKEN] = "code_taken",
	[MFAD_MAIL_THROTTLED] = "throttled",
	[MFAD_MAIL_INVITE] = "invite",
	[MFAD_MAIL_RECOVERY_USED] = "recovery_used",
	[MFAD_MAIL_RECOVERY_SET] = "recovery_set",
	[MFAD_MAIL_ENROLLED] = "enrolled",
};

static const char *const mail_langs[] = { "en", "fr" };

enum mail_ph {
	MAIL_PH_CODE,
	MAIL_PH_MINUTES,
	MAIL_PH_MASKED,
	MAIL_PH_HOST,
	MAIL_PH_SERVICE,
	MAIL_PH_RHOST,
	MAIL_PH_USER,
	MAIL_PH_TIME,
	MAIL_PH_DURATION,
	MAIL_PH_UNTIL,
};

static const struct {
	const char	*name;
	enum mail_ph	 ph;
} mail_placeholders[] = {
	{ "code", MAIL_PH_CODE },
	{ "minutes", MAIL_PH_MINUTES },
	{ "masked", MAIL_PH_MASKED },
	{ "host", MAIL_PH_HOST },
	{ "service", MAIL_PH_SERVICE },
	{ "rhost", MAIL_PH_RHOST },
	{ "user", MAIL_PH_USER },
	{ "time", MAIL_PH_TIME },
	{ "duration", MAIL_PH_DURATION },
	{ "until", MAIL_PH_UNTIL },
};

/* A template file, read and checked. */
struct mail_tmpl {
	char		 path[PATH_MAX];
	char		*text;		/* the file, CRs before LFs removed */
	size_t		 len;
	const char	*subj;		/* the subject, within text */
	size_t		 subj_len;
	const char	*body;		/* the body, within text */
	size_t		 body_len;
	unsigned	 body_line;	/* line number of the body's start */
};

/* SMTP AUTH credentials, wiped after each session. */
struct mail_cred {
	char	user[256];
	char	pass[1024];
};

/* The message handed to libESMTP's reader callback. */
struct mail_src {
	const char	*msg;
	size_t		 len;
	int		 done;
	int		 data_sent;	/* its lines were written */
};

/* What the session's callbacks saw. */
struct mail_events {
	int	tls_ok;		/* STARTTLS completed and accepted */
	int	tls_event;	/* last STARTTLS problem reported, or 0 */
	long	verify_err;	/* first certificate error from OpenSSL */
	int	data_sent;	/* the message's lines were written */
	int	connected;	/* libESMTP reached the relay */
	char	refusal[160];	/* the relay's last 4xx or 5xx line, cleaned */
};

static pthread_once_t mail_once = PTHREAD_ONCE_INIT;
static int mail_init_ok;

static void mail_err(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
mail_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* OpenSSL, libsodium (Message-ID randomness) and the SASL plugins are
 * set up once per process, whatever thread gets here first. */
static void
mail_init(void)
{
	if (sodium_init() < 0)
		return;
	if (OPENSSL_init_ssl(0, NULL) != 1)
		return;
	auth_client_init();
	mail_init_ok = 1;
}

static int
mail_ready(char *err, size_t errlen)
{
	if (pthread_once(&mail_once, mail_init) != 0 || !mail_init_ok) {
		mail_err(err, errlen, "mail: library initialisation failed");
		return MSS_ERR_MAIL;
	}
	return 0;
}

const char *
mfad_mail_kind_name(enum mfad_mail_kind kind)
{
	if ((unsigned)kind >= MFAD_MAIL_NKINDS)
		return NULL;
	return mail_kind_names[kind];
}

/*
 * Length of the UTF-8 character at s[0..n), or 0 when it is not valid
 * UTF-8 (overlong forms, surrogates and values past U+10FFFF included).
 */
static size_t
mail_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len, i;
	unsigned long cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

static int
mail_has_crlf(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

/* "1 minute", "5 minutes" in lang: French has 0 and 1 singular. */
static void
mail_duration(const char *lang, unsigned minutes, char *buf, size_t len)
{
	int fr = strcmp(lang, "fr") == 0;
	int one = fr ? minutes <= 1 : minutes == 1;

	snprintf(buf, len, "%u %s", minutes, one ? "minute" : "minutes");
}

/*
 * A lock's end in lang: "until 2026-11-30 17:05 UTC (in 15 minutes)", or
 * for a lock that only an administrator ends, that. Returns -1 when the
 * time cannot be shown.
 */
static int
mail_until(const char *lang, const struct mfad_mail_vars *vars, char *buf,
    size_t len)
{
	int fr = strcmp(lang, "fr") == 0;
	char when[48], dur[32];
	struct tm tm;
	time_t t;

	if (vars->until == MFAD_LOCK_FOREVER) {
		snprintf(buf, len, "%s", fr ? "jusqu'à ce qu'un administrateur "
		    "le déverrouille" : "until an administrator unlocks it");
		return 0;
	}
	/* 0: no end to tell of (a sample, or another kind's mail). */
	t = vars->until != 0 && vars->until <= (uint64_t)INT64_MAX ?
	    (time_t)vars->until : (vars->time != 0 ? vars->time : time(NULL));
	if (gmtime_r(&t, &tm) == NULL || strftime(when, sizeof(when),
	    fr ? "%d/%m/%Y à %H:%M UTC" : "%Y-%m-%d %H:%M UTC", &tm) == 0)
		return -1;
	mail_duration(lang, vars->minutes, dur, sizeof(dur));
	snprintf(buf, len, fr ? "jusqu'au %s (dans %s)" : "until %s (in %s)",
	    when, dur);
	return 0;
}

/*
 * Writes the value of a placeholder into tmp (or points *val at the
 * caller's string), worded in lang where words are needed. A value with
 * a line break is refused wherever it would go: nothing legitimate holds
 * one.
 */
static int
mail_value(enum mail_ph ph, const char *name, const char *lang,
    const struct mfad_mail_vars *vars, char *tmp, size_t tmplen,
    const char **val, char *err, size_t errlen)
{
	const char *v = NULL;
	struct tm tm;
	time_t t;

	switch (ph) {
	case MAIL_PH_CODE:
		v = vars->code;
		break;
	case MAIL_PH_MASKED:
		v = vars->masked;
		break;
	case MAIL_PH_HOST:
		v = vars->host;
		break;
	case MAIL_PH_SERVICE:
		v = vars->service;
		break;
	case MAIL_PH_RHOST:
		v = vars->rhost;
		break;
	case MAIL_PH_USER:
		v = vars->user;
		break;
	case MAIL_PH_MINUTES:
		snprintf(tmp, tmplen, "%u", vars->minutes);
		v = tmp;
		break;
	case MAIL_PH_TIME:
		/* Time 0 means "now": messages are rendered when queued. */
		t = vars->time != 0 ? vars->time : time(NULL);
		if (gmtime_r(&t, &tm) == NULL ||
		    strftime(tmp, tmplen, "%Y-%m-%d %H:%M UTC", &tm) == 0) {
			mail_err(err, errlen, "mail: cannot format {%s}", name);
			return MSS_ERR_INVAL;
		}
		v = tmp;
		break;
	case MAIL_PH_DURATION:
		mail_duration(lang, vars->minutes, tmp, tmplen);
		v = tmp;
		break;
	case MAIL_PH_UNTIL:
		if (mail_until(lang, vars, tmp, tmplen) != 0) {
			mail_err(err, errlen, "mail: cannot format {%s}", name);
			return MSS_ERR_INVAL;
		}
		v = tmp;
		break;
	}
	if (v == NULL)
		v = "";
	if (mail_has_crlf(v)) {
		mail_err(err, errlen, "mail: value of {%s} holds a line break",
		    name);
		return MSS_ERR_INVAL;
	}
	*val = v;
	return 0;
}

static int
mail_put(struct mss_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	return mss_buf_put(b, p, n);
}

static int
mail_puts(struct mss_buf *b, const char *s)
{
	return mail_put(b, s, strlen(s));
}

/*
 * Walks s[0..n), which starts at `line` of t->path, and appends it to out
 * with its placeholders replaced. With out == NULL it only checks the
 * syntax. Returns 0, MSS_ERR_MAIL for a template error ("file:line:
 * reason" in err), MSS_ERR_INVAL for a bad value, or a buffer error.
 */
static int
mail_expand(const struct mail_tmpl *t, const char *s, size_t n,
    unsigned line, int subject, const char *lang,
    const struct mfad_mail_vars *vars, struct mss_buf *out, char *err,
    size_t errlen)
{
	char tmp[128];
	const char *val;
	size_t i = 0, j, k, nlen;
	int r;

	while (i < n) {
		if (s[i] != '{') {
			for (j = i; j < n && s[j] != '{'; j++)
				if (s[j] == '\n')
					line++;
			if (out != NULL && (r = mail_put(out, s + i, j - i)) != 0)
				return r;
			i = j;
			continue;
		}
		if (i + 1 < n && s[i + 1] == '{') {
			if (out != NULL && (r = mail_put(out, "{", 1)) != 0)
				return r;
			i += 2;
			continue;
		}
		for (j = i + 1; j < n && s[j] != '}' && s[j] != '{' &&
		    s[j] != '\n'; j++)
			;
		if (j >= n || s[j] != '}') {
			mail_err(err, errlen, "%s:%u: unterminated placeholder",
			    t->path, line);
			return MSS_ERR_MAIL;
		}
		nlen = j - i - 1;
		for (k = 0; k < sizeof(mail_placeholders) /
		    sizeof(mail_placeholders[0]); k++)
			if (strlen(mail_placeholders[k].name) == nlen &&
			    memcmp(mail_placeholders[k].name, s + i + 1,
			    nlen) == 0)
				break;
		if (k == sizeof(mail_placeholders) /
		    sizeof(mail_placeholders[0])) {
			mail_err(err, errlen, "%s:%u: unknown placeholder "
			    "{%.*s}", t->path, line, nlen > 32 ? 32 : (int)nlen,
			    s + i + 1);
			return MSS_ERR_MAIL;
		}
		if (subject && mail_placeholders[k].ph == MAIL_PH_CODE) {
			mail_err(err, errlen, "%s:%u: {code} is not allowed in "
			    "the subject", t->path, line);
			return MSS_ERR_MAIL;
		}
		if (out != NULL) {
			if ((r = mail_value(mail_placeholders[k].ph,
			    mail_placeholders[k].name, lang, vars, tmp,
			    sizeof(tmp), &val, err, errlen)) != 0)
				return r;
			if ((r = mail_puts(out, val)) != 0)
				return r;
		}
		i = j + 1;
	}
	return 0;
}

static void
mail_tmpl_free(struct mail_tmpl *t)
{
	if (t->text != NULL) {
		sodium_memzero(t->text, t->len);
		free(t->text);
	}
	memset(t, 0, sizeof(*t));
}

/* Reads the whole file at t->path into t->text. */
static int
mail_tmpl_read(struct mail_tmpl *t, char *err, size_t errlen)
{
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd;

	if ((fd = open(t->path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		mail_err(err, errlen, "%s: %s", t->path, strerror(errno));
		return MSS_ERR_MAIL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > MAIL_TEMPLATE_MAX) {
		mail_err(err, errlen, "%s: not a regular file of at most %d "
		    "bytes", t->path, MAIL_TEMPLATE_MAX);
		close(fd);
		return MSS_ERR_MAIL;
	}
	if ((t->text = malloc(MAIL_TEMPLATE_MAX + 1)) == NULL) {
		close(fd);
		return MSS_ERR_NOMEM;
	}
	for (;;) {
		n = read(fd, t->text + len, MAIL_TEMPLATE_MAX + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			mail_err(err, errlen, "%s: %s", t->path,
			    strerror(errno));
			close(fd);
			return MSS_ERR_MAIL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > MAIL_TEMPLATE_MAX) {
			mail_err(err, errlen, "%s: longer than %d bytes",
			    t->path, MAIL_TEMPLATE_MAX);
			close(fd);
			return MSS_ERR_MAIL;
		}
	}
	close(fd);
	t->text[len] = '\0';
	t->len = len;
	return 0;
}

/*
 * Checks the text is UTF-8 without control characters (but tabs and line
 * ends), drops a CR before each LF, and splits subject from body.
 */
static int
mail_tmpl_parse(struct mail_tmpl *t, char *err, size_t errlen)
{
	unsigned char *s = (unsigned char *)t->text;
	size_t i, o, clen, n = t->len;
	unsigned line = 1;
	char *nl, *p;
	int r;

	for (i = o = 0; i < n; i += clen) {
		clen = mail_utf8_len(s + i, n - i);
		if (clen == 0) {
			mail_err(err, errlen, "%s:%u: invalid UTF-8", t->path,
			    line);
			return MSS_ERR_MAIL;
		}
		if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
			continue;
		if (s[i] == '\n')
			line++;
		else if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f) {
			mail_err(err, errlen, "%s:%u: control character 0x%02x",
			    t->path, line, s[i]);
			return MSS_ERR_MAIL;
		}
		memmove(s + o, s + i, clen);
		o += clen;
	}
	s[o] = '\0';
	t->len = n = o;

	if (strncmp(t->text, "Subject:", 8) != 0) {
		mail_err(err, errlen, "%s:1: the first line must be "
		    "\"Subject: ...\"", t->path);
		return MSS_ERR_MAIL;
	}
	if ((nl = strchr(t->text, '\n')) == NULL) {
		mail_err(err, errlen, "%s:1: no body after the subject",
		    t->path);
		return MSS_ERR_MAIL;
	}
	for (p = t->text + 8; *p == ' ' || *p == '\t'; p++)
		;
	t->subj = p;
	t->subj_len = (size_t)(nl - p);
	while (t->subj_len > 0 && (p[t->subj_len - 1] == ' ' ||
	    p[t->subj_len - 1] == '\t'))
		t->subj_len--;
	if (t->subj_len == 0) {
		mail_err(err, errlen, "%s:1: empty subject", t->path);
		return MSS_ERR_MAIL;
	}
	if (nl[1] != '\n') {
		mail_err(err, errlen, "%s:2: an empty line must follow the "
		    "subject", t->path);
		return MSS_ERR_MAIL;
	}
	t->body = nl + 2;
	t->body_len = n - (size_t)(t->body - t->text);
	t->body_line = 3;
	if (t->body_len == 0) {
		mail_err(err, errlen, "%s:3: empty body", t->path);
		return MSS_ERR_MAIL;
	}
	if ((r = mail_expand(t, t->subj, t->subj_len, 1, 1, "en", NULL, NULL,
	    err, errlen)) != 0)
		return r;
	return mail_expand(t, t->body, t->body_len, t->body_line, 0, "en",
	    NULL, NULL, err, errlen);
}

/* Loads and checks the template for kind in lang ("en" or "fr"). */
static int
mail_tmpl_load(const struct mfad_conf *conf, enum mfad_mail_kind kind,
    const char *lang, struct mail_tmpl *t, char *err, size_t errlen)
{
	int n, r;

	memset(t, 0, sizeof(*t));
	if (conf->templates == NULL) {
		mail_err(err, errlen, "mail: no templates directory set");
		return MSS_ERR_MAIL;
	}
	n = snprintf(t->path, sizeof(t->path), "%s/%s/%s.txt",
	    conf->templates, lang, mail_kind_names[kind]);
	if (n < 0 || (size_t)n >= sizeof(t->path)) {
		mail_err(err, errlen, "%s: path too long", conf->templates);
		return MSS_ERR_MAIL;
	}
	if ((r = mail_tmpl_read(t, err, errlen)) != 0 ||
	    (r = mail_tmpl_parse(t, err, errlen)) != 0) {
		mail_tmpl_free(t);
		return r;
	}
	return 0;
}

static const char *
mail_lang(const struct mfad_conf *conf, const char *lang)
{
	size_t i;

	for (i = 0; i < sizeof(mail_langs) / sizeof(mail_langs[0]); i++)
		if (lang != NULL && strcmp(lang, mail_langs[i]) == 0)
			return mail_langs[i];
	for (i = 0; i < sizeof(mail_langs) / sizeof(mail_langs[0]); i++)
		if (conf->language != NULL &&
		    strcmp(conf->language, mail_langs[i]) == 0)
			return mail_langs[i];
	return "en";
}

static int mail_check_relay(const struct mfad_conf *, char *, size_t);

/*
 * Renders one message of every kind in every language with sample values
 * of the right shape, so that what would make a real message fail (a
 * sender that is no address, a text that grows too long once filled in)
 * shows when the configuration is checked rather than at the first login.
 */
int
mfad_mail_check_render(const struct mfad_conf *conf, char *err,
    size_t errlen)
{
	struct mfad_mail_vars vars;
	char host[256], code[16], why[768], *msg = NULL;
	size_t l, len;
	unsigned i;
	int k, r;

	if (conf == NULL)
		return MSS_ERR_INVAL;
	if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	if (conf->from == NULL) {
		/* The default mfad@HOST needs a host name with a domain. */
		mail_err(err, errlen, "%s: [mail] from is not set and the host "
		    "name \"%.64s\" has no domain, so mfad@%.64s is no mail "
		    "address: set [mail] from", conf->path != NULL ?
		    conf->path : "mfad.conf", host, host);
		return MSS_ERR_MAIL;
	}
	for (i = 0; i < conf->code_length && i < sizeof(code) - 1; i++)
		code[i] = (char)('0' + i % 10);
	code[i] = '\0';
	memset(&vars, 0, sizeof(vars));
	vars.code = code;
	vars.masked = "alic*****@example*****";
	vars.host = host;
	vars.service = "sshd";
	vars.rhost = "192.0.2.1";
	vars.user = "alice";
	vars.minutes = (conf->code_ttl + 59) / 60;
	vars.time = time(NULL);
	for (l = 0; l < sizeof(mail_langs) / sizeof(mail_langs[0]); l++)
		for (k = 0; k < MFAD_MAIL_NKINDS; k++) {
			why[0] = '\0';
			r = mfad_mail_render(conf, (enum mfad_mail_kind)k,
			    mail_langs[l], "alice@example.org", &vars, &msg,
			    &len, why, sizeof(why));
			if (msg != NULL) {
				sodium_memzero(msg, len);
				free(msg);
				msg = NULL;
			}
			if (r != 0) {
				mail_err(err, errlen, "cannot render the %s "
				    "mail in %s: %s", mail_kind_names[k],
				    mail_langs[l], why[0] ? why :
				    "unknown error");
				return r == MSS_ERR_NOMEM ? r : MSS_ERR_MAIL;
			}
		}
	return 0;
}

int
mfad_mail_check_templates(const struct mfad_conf *conf, char *err,
    size_t errlen)
{
	int r;

	if (conf == NULL)
		return MSS_ERR_INVAL;
	if ((r = mail_check_relay(conf, err, errlen)) != 0)
		return r;
	return mfad_mail_check_render(conf, err, errlen);
}

/* "Date:" in RFC 5322 form, in UTC, with English names whatever the
 * locale. */
static int
mail_put_date(struct mss_buf *b, time_t now)
{
	static const char *const days[] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
	};
	static const char *const months[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
	};
	char buf[64];
	struct tm tm;

	if (gmtime_r(&now, &tm) == NULL || tm.tm_wday < 0 || tm.tm_wday > 6 ||
	    tm.tm_mon < 0 || tm.tm_mon > 11)
		return MSS_ERR_INVAL;
	snprintf(buf, sizeof(buf), "Date: %s, %02d %s %04d %02d:%02d:%02d "
	    "+0000\r\n", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return mail_puts(b, buf);
}

/* "Message-ID: <32 random hex digits@domain of From>". */
static int
mail_put_msgid(struct mss_buf *b, const char *from)
{
	unsigned char rnd[16];
	char hex[sizeof(rnd) * 2 + 1];
	int r;

	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
	if ((r = mail_puts(b, "Message-ID: <")) != 0 ||
	    (r = mail_puts(b, hex)) != 0 ||
	    (r = mail_puts(b, strrchr(from, '@'))) != 0 ||
	    (r = mail_puts(b, ">\r\n")) != 0)
		return r;
	return 0;
}

/*
 * "Subject:" as is when it is short printable ASCII, else as RFC 2047
 * B encoded-words of at most MAIL_WORD_BYTES bytes each, cut between
 * UTF-8 characters, one per line: "Subject: =?UTF-8?B?<52>?=" is 73
 * characters, each continuation line 65.
 */
static int
mail_put_subject(struct mss_buf *b, const char *s, size_t n)
{
	char b64[sodium_base64_ENCODED_LEN(MAIL_WORD_BYTES,
	    sodium_base64_VARIANT_ORIGINAL)];
	size_t i, j, clen;
	int encode = 0, r;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			encode = 1;
	if (sizeof("Subject: ") - 1 + n > MAIL_QP_LINE ||
	    memmem(s, n, "=?", 2) != NULL)
		encode = 1;
	if (!encode) {
		if ((r = mail_puts(b, "Subject: ")) != 0 ||
		    (r = mail_put(b, s, n)) != 0)
			return r;
		return mail_puts(b, "\r\n");
	}
	if ((r = mail_puts(b, "Subject:")) != 0)
		return r;
	for (i = 0; i < n; i = j) {
		for (j = i; j < n; j += clen) {
			clen = mail_utf8_len((const unsigned char *)s + j,
			    n - j);
			if (clen == 0)
				clen = 1;
			if (j + clen - i > MAIL_WORD_BYTES)
				break;
		}
		sodium_bin2base64(b64, sizeof(b64),
		    (const unsigned char *)s + i, j - i,
		    sodium_base64_VARIANT_ORIGINAL);
		if ((r = mail_puts(b, i == 0 ? " =?UTF-8?B?" :
		    "\r\n =?UTF-8?B?")) != 0 ||
		    (r = mail_puts(b, b64)) != 0 ||
		    (r = mail_puts(b, "?=")) != 0)
			return r;
	}
	return mail_puts(b, "\r\n");
}

/*
 * The body in quoted-printable (RFC 2045 6.7): lines of at most 76
 * characters with "=" soft breaks, "=" and all but printable ASCII
 * escaped, a space or tab ending a line escaped, and a "." or "From "
 * starting a line escaped too so no transport can mangle it. Line ends
 * become CRLF.
 */
static int
mail_put_qp(struct mss_buf *b, const char *s, size_t n)
{
	static const char hexd[] = "0123456789ABCDEF";
	const unsigned char *u = (const unsigned char *)s;
	size_t i, e, k, col, tl;
	char tok[3];
	int r, last;

	for (i = 0; i < n; i = e + 1) {
		const char *nl = memchr(s + i, '\n', n - i);

		e = nl != NULL ? (size_t)(nl - s) : n;
		col = 0;
		for (k = i; k < e; k++) {
			unsigned char c = u[k];
			int esc;

			last = k + 1 == e;
			esc = c == '=' || c > 0x7e || (c < 0x20 && c != '\t') ||
			    ((c == ' ' || c == '\t') && last);
			tl = esc ? 3 : 1;
			/* Room is kept for the "=" of a soft break unless
			 * this is the line's last token. */
			if (col + tl > (last ? MAIL_QP_LINE : MAIL_QP_LINE - 1)) {
				if ((r = mail_puts(b, "=\r\n")) != 0)
					return r;
				col = 0;
			}
			/* First on a line, a soft break's next one included. */
			if (col == 0 && (c == '.' || (e - k >= 5 &&
			    memcmp(s + k, "From ", 5) == 0)))
				esc = 1;
			if (esc) {
				tok[0] = '=';
				tok[1] = hexd[c >> 4];
				tok[2] = hexd[c & 0x0f];
				tl = 3;
			} else {
				tok[0] = (char)c;
				tl = 1;
			}
			if ((r = mail_put(b, tok, tl)) != 0)
				return r;
			col += tl;
		}
		if ((r = mail_puts(b, "\r\n")) != 0)
			return r;
	}
	return 0;
}

static int
mail_put_header(struct mss_buf *b, const char *name, const char *value)
{
	int r;

	if ((r = mail_puts(b, name)) != 0 || (r = mail_puts(b, ": ")) != 0 ||
	    (r = mail_puts(b, value)) != 0)
		return r;
	return mail_puts(b, "\r\n");
}

/* Buffer errors, as the contract's codes. */
static int
mail_buf_error(int r, char *err, size_t errlen)
{
	if (r == MSS_ERR_NOMEM)
		return r;
	if (r == MSS_ERR_TOOBIG) {
		mail_err(err, errlen, "mail: message larger than %d bytes",
		    MAIL_MSG_MAX);
		return MSS_ERR_MAIL;
	}
	return r;
}

int
mfad_mail_render(const struct mfad_conf *conf, enum mfad_mail_kind kind,
    const char *lang, const char *to, const struct mfad_mail_vars *vars,
    char **msg, size_t *len, char *err, size_t errlen)
{
	static const struct mfad_mail_vars novars;
	struct mail_tmpl t;
	struct mss_buf *subj = NULL, *body = NULL, *out = NULL;
	int r;

	memset(&t, 0, sizeof(t));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (msg != NULL)
		*msg = NULL;
	if (len != NULL)
		*len = 0;
	if (conf == NULL || msg == NULL || len == NULL ||
	    (unsigned)kind >= MFAD_MAIL_NKINDS) {
		mail_err(err, errlen, "mail: bad arguments");
		return MSS_ERR_INVAL;
	}
	if (vars == NULL)
		vars = &novars;
	if (to == NULL || mail_has_crlf(to) || !mss_email_valid(to)) {
		mail_err(err, errlen, "mail: bad recipient address");
		return MSS_ERR_INVAL;
	}
	if (conf->from == NULL || mail_has_crlf(conf->from) ||
	    !mss_email_valid(conf->from)) {
		mail_err(err, errlen, "mail: bad sender address (from)");
		return MSS_ERR_INVAL;
	}
	if ((r = mail_ready(err, errlen)) != 0)
		return r;
	lang = mail_lang(conf, lang);
	if ((r = mail_tmpl_load(conf, kind, lang, &t, err, errlen)) != 0)
		return r;

	if ((subj = mss_buf_new(MAIL_SUBJECT_MAX)) == NULL ||
	    (body = mss_buf_new(MAIL_MSG_MAX)) == NULL ||
	    (out = mss_buf_new(MAIL_MSG_MAX)) == NULL) {
		r = MSS_ERR_NOMEM;
		goto out;
	}
	if ((r = mail_expand(&t, t.subj, t.subj_len, 1, 1, lang, vars, subj,
	    err, errlen)) != 0 ||
	    (r = mail_expand(&t, t.body, t.body_len, t.body_line, 0, lang,
	    vars, body, err, errlen)) != 0) {
		if (r == MSS_ERR_TOOBIG)
			mail_err(err, errlen, "%s: rendered text too long",
			    t.path);
		r = r == MSS_ERR_TOOBIG ? MSS_ERR_MAIL : r;
		goto out;
	}
	/* Values were checked already; the subject goes into a header, so
	 * check what is actually there once more. */
	if (memchr(mss_buf_ptr(subj), '\r', mss_buf_avail(subj)) != NULL ||
	    memchr(mss_buf_ptr(subj), '\n', mss_buf_avail(subj)) != NULL ||
	    memchr(mss_buf_ptr(subj), '\0', mss_buf_avail(subj)) != NULL) {
		mail_err(err, errlen, "mail: subject holds CR, LF or NUL");
		r = MSS_ERR_INVAL;
		goto out;
	}

	if ((r = mail_put_date(out, time(NULL))) != 0 ||
	    (r = mail_put_msgid(out, conf->from)) != 0 ||
	    (r = mail_put_header(out, "From", conf->from)) != 0 ||
	    (r = mail_put_header(out, "To", to)) != 0 ||
	    (r = mail_put_subject(out, (const char *)mss_buf_ptr(subj),
	    mss_buf_avail(subj))) != 0 ||
	    (r = mail_puts(out, "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=UTF-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "Auto-Submitted: auto-generated\r\n"
	    "\r\n")) != 0 ||
	    (r = mail_put_qp(out, (const char *)mss_buf_ptr(body),
	    mss_buf_avail(body))) != 0) {
		r = mail_buf_error(r, err, errlen);
		goto out;
	}

	if ((*msg = malloc(mss_buf_avail(out) + 1)) == NULL) {
		r = MSS_ERR_NOMEM;
		goto out;
	}
	memcpy(*msg, mss_buf_ptr(out), mss_buf_avail(out));
	(*msg)[mss_buf_avail(out)] = '\0';
	*len = mss_buf_avail(out);
	r = 0;
 out:
	mss_buf_free(subj);
	mss_buf_free(body);
	mss_buf_free(out);
	mail_tmpl_free(&t);
	return r;
}

/* Copies a relay's text into err-friendly form: no control characters. */
static void
mail_clean(char *dst, size_t dstlen, const char *src)
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
static int
mail_read_auth(const char *path, uid_t owner, struct mail_cred *cred,
    char *err, size_t errlen)
{
	char buf[MAIL_AUTH_MAX + 1];
	struct stat st;
	char *p, *line[2], *nl;
	size_t len = 0, i;
	ssize_t n;
	int fd, r = MSS_ERR_MAIL;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW))
	    == -1) {
		mail_err(err, errlen, "%s: %s", path, strerror(errno));
		return MSS_ERR_MAIL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		mail_err(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		mail_err(err, errlen, "%s: accessible by group or others "
		    "(mode %03o); it must be 0600", path,
		    (unsigned)(st.st_mode & 0777));
		goto out;
	}
	if (st.st_uid != owner) {
		mail_err(err, errlen, "%s: owned by uid %u; it must be owned "
		    "by uid %u, the user mfad sends mail as", path,
		    (unsigned)st.st_uid, (unsigned)owner);
		goto out;
	}
	for (;;) {
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			mail_err(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len >= sizeof(buf) - 1) {
			mail_err(err, errlen, "%s: too long", path);
			goto out;
		}
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		mail_err(err, errlen, "%s: holds a NUL byte", path);
		goto out;
	}
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
		mail_err(err, errlen, "%s: expected two lines, user then "
		    "password", path);
		goto out;
	}
	if (line[0][0] == '\0' || line[1][0] == '\0' ||
	    strlen(line[0]) >= sizeof(cred->user) ||
	    strlen(line[1]) >= sizeof(cred->pass) ||
	    strchr(line[0], '\r') != NULL || strchr(line[1], '\r') != NULL) {
		mail_err(err, errlen, "%s: expected two lines, user then "
		    "password", path);
		goto out;
	}
	memcpy(cred->user, line[0], strlen(line[0]) + 1);
	memcpy(cred->pass, line[1], strlen(line[1]) + 1);
	r = 0;
 out:
	sodium_memzero(buf, sizeof(buf));
	close(fd);
	return r;
}

/* SASL plugins ask for the user and the password through this. */
static int
mail_auth_interact(auth_client_request_t req, char **result, int fields,
    void *arg)
{
	static char empty[1];
	struct mail_cred *cred = arg;
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
mail_msg_cb(void **ctx, int *len, void *arg)
{
	struct mail_src *src = arg;

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

/* Records what happened; never sets libESMTP's "ok" flags, so a bad
 * certificate or a missing STARTTLS always ends the session. */
static void
mail_event_cb(smtp_session_t session, int event_no, void *arg, ...)
{
	struct mail_events *ev = arg;
	struct mail_src *src;
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
mail_monitor_cb(const char *buf, int buflen, int writing, void *arg)
{
	struct mail_events *ev = arg;
	const char *p, *end, *nl;
	char line[sizeof(ev->refusal)];
	size_t n;

	if (writing != SMTP_CB_READING || buf == NULL || buflen <= 0)
		return;
	for (p = buf, end = buf + buflen; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl != NULL ? nl : end) - p);
		/* The last line of a refusal: three digits and a space. */
		if (n >= 4 && (p[0] == '4' || p[0] == '5') &&
		    p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9' &&
		    p[3] == ' ') {
			if (n >= sizeof(line))
				n = sizeof(line) - 1;
			memcpy(line, p, n);
			line[n] = '\0';
			mail_clean(ev->refusal, sizeof(ev->refusal), line);
		}
		if (nl == NULL)
			break;
	}
}

/* Keeps the first certificate error for the message; the verdict is
 * OpenSSL's, unchanged. */
static int
mail_verify_cb(int ok, X509_STORE_CTX *xs)
{
	struct mail_events *ev;
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
mail_tls_ctx(const struct mfad_conf *conf, struct mail_events *ev,
    char *err, size_t errlen)
{
	unsigned char addr[sizeof(struct in6_addr)];
	X509_VERIFY_PARAM *param;
	SSL_CTX *ctx;
	int ok;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		mail_err(err, errlen, "mail: cannot create a TLS context");
		return NULL;
	}
	ok = SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
	    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) == 1;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, mail_verify_cb);
	if (ok && SSL_CTX_set_ex_data(ctx, 0, ev) != 1)
		ok = 0;
	if (ok && conf->ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, conf->ca_file, NULL)
		    != 1) {
			mail_err(err, errlen, "%s: cannot load CA "
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
		mail_err(err, errlen, "mail: cannot set up TLS for %s",
		    conf->smtp_host);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/*
 * libESMTP connects with a blocking connect(), which waits minutes for a
 * relay that drops packets. Reaching the relay first with a deadline
 * makes a dead relay fail in MAIL_CONNECT_MS; the connection is closed
 * at once, before the greeting.
 */
static int
mail_probe(const char *host, const char *port, char *err, size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	struct timespec start, now;
	struct pollfd pfd;
	socklen_t sl;
	long left;
	int fd, gai, soerr, last = ETIMEDOUT, ok = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((gai = getaddrinfo(host, port, &hints, &res)) != 0) {
		mail_err(err, errlen, "relay %s:%s: %s", host, port,
		    gai_strerror(gai));
		return MSS_ERR_MAIL;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
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
				clock_gettime(CLOCK_MONOTONIC, &now);
				left = MAIL_CONNECT_MS -
				    ((now.tv_sec - start.tv_sec) * 1000L +
				    (now.tv_nsec - start.tv_nsec) / 1000000L);
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
		mail_err(err, errlen, "relay %s:%s: %s", host, port,
		    strerror(last));
		return MSS_ERR_MAIL;
	}
	return 0;
}

static const char *
mail_tls_event_name(int ev)
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
mail_explain(const struct mfad_conf *conf, smtp_message_t message,
    smtp_recipient_t rcpt, const struct mail_events *ev, char *err,
    size_t errlen)
{
	const smtp_status_t *st;
	char text[256], buf[128];
	unsigned long e;

	if (ev->verify_err != X509_V_OK) {
		mail_err(err, errlen, "relay %s: certificate refused: %s",
		    conf->smtp_host,
		    X509_verify_cert_error_string(ev->verify_err));
		return;
	}
	if (ev->tls_event != 0) {
		mail_err(err, errlen, "relay %s: %s; nothing sent",
		    conf->smtp_host, mail_tls_event_name(ev->tls_event));
		return;
	}
	if ((st = smtp_reverse_path_status(message)) != NULL &&
	    st->code >= 400) {
		mail_clean(text, sizeof(text), st->text);
		/* libESMTP goes on after a refused AUTH; the relay then
		 * refuses MAIL with 530 (RFC 4954). */
		mail_err(err, errlen, "relay %s refused the sender: %d %s%s%s",
		    conf->smtp_host, st->code, text,
		    st->code == 530 && conf->auth_file != NULL ?
		    "; check the credentials in " : "",
		    st->code == 530 && conf->auth_file != NULL ?
		    conf->auth_file : "");
		return;
	}
	if ((st = smtp_recipient_status(rcpt)) != NULL && st->code >= 400) {
		mail_clean(text, sizeof(text), st->text);
		mail_err(err, errlen, "relay %s refused the recipient: %d %s",
		    conf->smtp_host, st->code, text);
		return;
	}
	if ((st = smtp_message_transfer_status(message)) != NULL &&
	    st->code >= 400) {
		mail_clean(text, sizeof(text), st->text);
		mail_err(err, errlen, "relay %s refused the message: %d %s",
		    conf->smtp_host, st->code, text);
		return;
	}
	if (conf->tls == MFAD_TLS_STARTTLS && !ev->tls_ok &&
	    (e = ERR_peek_last_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		mail_err(err, errlen, "relay %s: TLS failed: %s; nothing sent",
		    conf->smtp_host, buf);
		return;
	}
	smtp_strerror(smtp_errno(), buf, sizeof(buf));
	mail_clean(text, sizeof(text), buf);
	if (ev->data_sent) {
		/* The message was written after DATA's 354, but the answer
		 * to its end never came: the relay may hold it. */
		mail_err(err, errlen, "relay %s: no answer to the end of the "
		    "message (%s); the relay may still deliver it",
		    conf->smtp_host, text);
		return;
	}
	if (ev->refusal[0] != '\0') {
		mail_err(err, errlen, "relay %s refused the session: %s; "
		    "nothing sent", conf->smtp_host, ev->refusal);
		return;
	}
	mail_err(err, errlen, "relay %s: message not accepted: %s",
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
mail_refused(smtp_message_t message, smtp_recipient_t rcpt)
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

int
mfad_mail_send(const struct mfad_conf *conf, const char *to,
    const char *msg, size_t len, char *err, size_t errlen)
{
	struct mfad_mail_out one;
	int r;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (msg == NULL || len == 0 || len > MAIL_MSG_MAX) {
		mail_err(err, errlen, "mail: bad arguments");
		return MSS_ERR_MAIL;
	}
	if (to == NULL || !mss_email_valid(to)) {
		mail_err(err, errlen, "mail: bad sender or recipient address");
		return MSS_ERR_MAIL;
	}
	memset(&one, 0, sizeof(one));
	one.to = to;
	one.msg = msg;
	one.len = len;
	if ((r = mfad_mail_send_session(conf, &one, 1, 1)) == 0)
		r = one.result;
	mail_err(err, errlen, "%s", one.err);
	return r;
}

/* Sets every message's outcome to the session's failure. */
static void
mail_fail_all(struct mfad_mail_out *out, size_t n, const char *why)
{
	size_t i;

	for (i = 0; i < n; i++) {
		out[i].result = MSS_ERR_MAIL;
		mail_err(out[i].err, sizeof(out[i].err), "%s", why);
	}
}

int
mfad_mail_send_session(const struct mfad_conf *conf,
    struct mfad_mail_out *out, size_t n, int probe)
{
	static const int which[] = {
		Timeout_GREETING, Timeout_ENVELOPE, Timeout_DATA,
		Timeout_TRANSFER, Timeout_DATA2
	};
	struct mail_cred cred;
	struct mail_src *src = NULL;
	struct mail_events ev;
	const smtp_status_t *st;
	smtp_session_t session = NULL;
	smtp_message_t *message = NULL;
	smtp_recipient_t *rcpt = NULL;
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
		mail_fail_all(out, n, "mail: bad arguments");
		return MSS_ERR_MAIL;
	}
	k = snprintf(server, sizeof(server), "%s:%s", conf->smtp_host,
	    conf->smtp_port);
	if (k < 0 || (size_t)k >= sizeof(server)) {
		mail_fail_all(out, n, "mail: relay name too long");
		return MSS_ERR_MAIL;
	}
	if (conf->from == NULL || !mss_email_valid(conf->from)) {
		mail_fail_all(out, n, "mail: bad sender or recipient address");
		return MSS_ERR_MAIL;
	}
	if ((r = mail_ready(why, sizeof(why))) != 0) {
		mail_fail_all(out, n, why);
		return r;
	}
	r = MSS_ERR_MAIL;
	if ((src = calloc(n, sizeof(*src))) == NULL ||
	    (message = calloc(n, sizeof(*message))) == NULL ||
	    (rcpt = calloc(n, sizeof(*rcpt))) == NULL) {
		snprintf(why, sizeof(why), "mail: out of memory");
		goto fail;
	}
	if (conf->auth_file != NULL &&
	    mail_read_auth(conf->auth_file, geteuid(), &cred, why,
	    sizeof(why)) != 0)
		goto fail;
	if (conf->tls != MFAD_TLS_NONE &&
	    (ctx = mail_tls_ctx(conf, &ev, why, sizeof(why))) == NULL)
		goto fail;
	/* Only when the relay is not known to answer: see mail_probe(). */
	if (probe && mail_probe(conf->smtp_host, conf->smtp_port, why,
	    sizeof(why)) != 0)
		goto fail;

	if ((session = smtp_create_session()) == NULL ||
	    smtp_set_server(session, server) == 0 ||
	    smtp_set_eventcb(session, mail_event_cb, &ev) == 0 ||
	    smtp_set_monitorcb(session, mail_monitor_cb, &ev, 0) == 0) {
		snprintf(why, sizeof(why), "mail: cannot set up the SMTP "
		    "session");
		goto fail;
	}
	for (i = 0; i < sizeof(which) / sizeof(which[0]); i++)
		if (smtp_set_timeout(session,
		    which[i] | Timeout_OVERRIDE_RFC2822_MINIMUM,
		    which[i] == Timeout_DATA2 ? MAIL_DATA_TIMEOUT_MS :
		    MAIL_TIMEOUT_MS) == 0) {
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
		    auth_set_interact_cb(auth, mail_auth_interact, &cred) == 0 ||
		    smtp_auth_set_context(session, auth) == 0) {
			snprintf(why, sizeof(why), "mail: cannot set up SMTP "
			    "AUTH");
			goto fail;
		}
	}
	/*
	 * Every message of the batch in this one session: libESMTP sends
	 * them in turn, pipelining each one's MAIL, RCPT and DATA when the
	 * relay offers PIPELINING, and keeps a status per message.
	 */
	ok = 0;
	for (i = 0; i < n; i++) {
		if (out[i].to == NULL || !mss_email_valid(out[i].to) ||
		    out[i].msg == NULL || out[i].len == 0 ||
		    out[i].len > MAIL_MSG_MAX) {
			out[i].result = MSS_ERR_REFUSED;
			mail_err(out[i].err, sizeof(out[i].err),
			    "mail: bad recipient address or message");
			continue;
		}
		src[i].msg = out[i].msg;
		src[i].len = out[i].len;
		if ((message[i] = smtp_add_message(session)) == NULL ||
		    smtp_set_reverse_path(message[i], conf->from) == 0 ||
		    (rcpt[i] = smtp_add_recipient(message[i],
		    out[i].to)) == NULL ||
		    smtp_set_messagecb(message[i], mail_msg_cb,
		    &src[i]) == 0) {
			snprintf(why, sizeof(why), "mail: cannot set up the "
			    "message");
			goto fail;
		}
		smtp_message_set_application_data_release(message[i], &src[i],
		    NULL);
		ok++;
	}
	if (ok == 0) {
		r = 0;		/* nothing to send: each says why */
		goto out;
	}

	ERR_clear_error();
	(void)smtp_start_session(session);
	/*
	 * Each message on its own: a message whose final dot got a 2xx is
	 * the relay's, whatever happened to the session after it (a later
	 * message refused, the connection dropped).
	 */
	for (i = 0; i < n; i++) {
		if (message[i] == NULL)
			continue;
		if ((st = smtp_recipient_status(rcpt[i])) != NULL &&
		    st->code / 100 == 2 &&
		    (st = smtp_message_transfer_status(message[i])) != NULL &&
		    st->code / 100 == 2 &&
		    (ctx == NULL || ev.tls_ok)) {
			out[i].result = 0;
			continue;
		}
		ev.data_sent = src[i].data_sent;
		mail_explain(conf, message[i], rcpt[i], &ev, out[i].err,
		    sizeof(out[i].err));
		/* Refused for good (5xx): trying again cannot help. */
		out[i].result = mail_refused(message[i], rcpt[i]) ?
		    MSS_ERR_REFUSED : MSS_ERR_MAIL;
	}
	ERR_clear_error();
	/* Whether libESMTP reached the relay: its health, for the next. */
	r = ev.connected ? 0 : MSS_ERR_MAIL;
	goto out;
 fail:
	mail_fail_all(out, n, why[0] ? why : "mail: cannot send");
	r = MSS_ERR_MAIL;
 out:
	if (session != NULL)
		smtp_destroy_session(session);
	if (auth != NULL)
		auth_destroy_context(auth);
	SSL_CTX_free(ctx);
	sodium_memzero(&cred, sizeof(cred));
	free(src);
	free(message);
	free(rcpt);
	return r;
}

/*
 * What can be checked of the relay set-up without the relay: the auth
 * file, owned by the user that will read it (mfad's [mfad] user once
 * root has dropped to it) and closed to group and others, and ca_file.
 */
static int
mail_check_relay(const struct mfad_conf *conf, char *err, size_t errlen)
{
	struct mail_cred cred;
	struct mail_events ev;
	struct passwd pwd, *pw = NULL;
	char pwbuf[4096];
	SSL_CTX *ctx;
	uid_t owner = geteuid();
	int r;

	if ((r = mail_ready(err, errlen)) != 0)
		return r;
	if (conf->auth_file != NULL) {
		if (conf->user != NULL && owner == 0) {
			if (getpwnam_r(conf->user, &pwd, pwbuf, sizeof(pwbuf),
			    &pw) != 0 || pw == NULL) {
				mail_err(err, errlen, "[mfad] user %s does not "
				    "exist", conf->user);
				return MSS_ERR_MAIL;
			}
			owner = pw->pw_uid;
		}
		memset(&cred, 0, sizeof(cred));
		r = mail_read_auth(conf->auth_file, owner, &cred, err, errlen);
		sodium_memzero(&cred, sizeof(cred));
		sodium_memzero(pwbuf, sizeof(pwbuf));
		if (r != 0)
			return r;
	}
	if (conf->tls != MFAD_TLS_NONE && conf->smtp_host != NULL) {
		memset(&ev, 0, sizeof(ev));
		if ((ctx = mail_tls_ctx(conf, &ev, err, errlen)) == NULL)
			return MSS_ERR_MAIL;
		SSL_CTX_free(ctx);
	}
	return 0;
}
