/*
 * Rendering: mail templates filled in and built into complete MIME
 * messages (headers and body, CRLF line ends), ready for mfad_smtp.
 * Nothing here speaks to the relay.
 *
 * Templates: <templates>/<lang>/<kind>.txt, UTF-8. The first line is
 * "Subject: ...", the second is empty, the rest is the body. Placeholders
 * are {code} {minutes} {masked} {host} {service} {rhost} {user} {time}
 * {duration} {until}; "{{" is a literal "{". {duration} and {until} are
 * worded in the template's language: "1 minute", "5 minutes" (French:
 * 0 and 1 are singular), and a lock's end. {code} may appear in the body
 * only. Errors are reported as "file:line: reason".
 *
 * The message carries its own Date, From, Message-ID and To headers:
 * libESMTP passes them through and adds only missing ones, so a rendered
 * message goes out with exactly one of each.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "mss_buf.h"
#include "mss_err.h"
#include "mss_ident.h"
#include "mfad_clock.h"
#include "mfad_conf.h"
#include "mfad_acct.h"
#include "mfad_mail.h"
#include "mfad_render.h"
#include "mfad_str.h"

#define RENDER_TEMPLATE_MAX	(32 * 1024)	/* bytes of one template */
#define RENDER_SUBJECT_MAX	1024		/* rendered subject */
#define RENDER_WORD_BYTES	39	/* text bytes per encoded-word */
#define RENDER_QP_LINE		76	/* RFC 2045 line limit */

static const char *const render_langs[] = { "en", "fr" };

enum render_ph {
	RENDER_PH_CODE,
	RENDER_PH_MINUTES,
	RENDER_PH_MASKED,
	RENDER_PH_HOST,
	RENDER_PH_SERVICE,
	RENDER_PH_RHOST,
	RENDER_PH_USER,
	RENDER_PH_TIME,
	RENDER_PH_DURATION,
	RENDER_PH_UNTIL,
};

static const struct {
	const char	*name;
	enum render_ph	 ph;
} render_placeholders[] = {
	{ "code", RENDER_PH_CODE },
	{ "minutes", RENDER_PH_MINUTES },
	{ "masked", RENDER_PH_MASKED },
	{ "host", RENDER_PH_HOST },
	{ "service", RENDER_PH_SERVICE },
	{ "rhost", RENDER_PH_RHOST },
	{ "user", RENDER_PH_USER },
	{ "time", RENDER_PH_TIME },
	{ "duration", RENDER_PH_DURATION },
	{ "until", RENDER_PH_UNTIL },
};

/* A template file, read and checked. */
struct render_tmpl {
	char		 path[PATH_MAX];
	char		*text;		/* the file, CRs before LFs removed */
	size_t		 len;
	const char	*subj;		/* the subject, within text */
	size_t		 subj_len;
	const char	*body;		/* the body, within text */
	size_t		 body_len;
	unsigned	 body_line;	/* line number of the body's start */
};

/*
 * Length of the UTF-8 character at s[0..n), or 0 when it is not valid
 * UTF-8 (overlong forms, surrogates and values past U+10FFFF included).
 */
static size_t
render_utf8_len(const unsigned char *s, size_t n)
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
render_has_crlf(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

/* "1 minute", "5 minutes" in lang: French has 0 and 1 singular. */
static void
render_duration(const char *lang, unsigned minutes, char *buf, size_t len)
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
static int MSS_WUR
render_until(const char *lang, const struct mfad_mail_vars *vars, char *buf,
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
	    (time_t)vars->until : (vars->time != 0 ? vars->time :
	    (time_t)mfad_clock_real_s());
	if (gmtime_r(&t, &tm) == NULL || strftime(when, sizeof(when),
	    fr ? "%d/%m/%Y à %H:%M UTC" : "%Y-%m-%d %H:%M UTC", &tm) == 0)
		return -1;
	render_duration(lang, vars->minutes, dur, sizeof(dur));
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
static int MSS_WUR
render_value(enum render_ph ph, const char *name, const char *lang,
    const struct mfad_mail_vars *vars, char *tmp, size_t tmplen,
    const char **val, char *err, size_t errlen)
{
	const char *v = NULL;
	struct tm tm;
	time_t t;

	switch (ph) {
	case RENDER_PH_CODE:
		v = vars->code;
		break;
	case RENDER_PH_MASKED:
		v = vars->masked;
		break;
	case RENDER_PH_HOST:
		v = vars->host;
		break;
	case RENDER_PH_SERVICE:
		v = vars->service;
		break;
	case RENDER_PH_RHOST:
		v = vars->rhost;
		break;
	case RENDER_PH_USER:
		v = vars->user;
		break;
	case RENDER_PH_MINUTES:
		snprintf(tmp, tmplen, "%u", vars->minutes);
		v = tmp;
		break;
	case RENDER_PH_TIME:
		/* Time 0 means "now": messages are rendered when queued. */
		t = vars->time != 0 ? vars->time : (time_t)mfad_clock_real_s();
		if (gmtime_r(&t, &tm) == NULL ||
		    strftime(tmp, tmplen, "%Y-%m-%d %H:%M UTC", &tm) == 0) {
			mfad_str_err(err, errlen, "mail: cannot format {%s}",
			    name);
			return MSS_ERR_INVAL;
		}
		v = tmp;
		break;
	case RENDER_PH_DURATION:
		render_duration(lang, vars->minutes, tmp, tmplen);
		v = tmp;
		break;
	case RENDER_PH_UNTIL:
		if (render_until(lang, vars, tmp, tmplen) != 0) {
			mfad_str_err(err, errlen, "mail: cannot format {%s}",
			    name);
			return MSS_ERR_INVAL;
		}
		v = tmp;
		break;
	}
	if (v == NULL)
		v = "";
	if (render_has_crlf(v)) {
		mfad_str_err(err, errlen,
		    "mail: value of {%s} holds a line break", name);
		return MSS_ERR_INVAL;
	}
	*val = v;
	return 0;
}

static int MSS_WUR
render_put(struct mss_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	return mss_buf_put(b, p, n);
}

static int MSS_WUR
render_puts(struct mss_buf *b, const char *s)
{
	return render_put(b, s, strlen(s));
}

/*
 * Walks s[0..n), which starts at `line` of t->path, and appends it to out
 * with its placeholders replaced. With out == NULL it only checks the
 * syntax. Returns 0, MSS_ERR_MAIL for a template error ("file:line:
 * reason" in err), MSS_ERR_INVAL for a bad value, or a buffer error.
 */
static int MSS_WUR
render_expand(const struct render_tmpl *t, const char *s, size_t n,
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
			if (out != NULL &&
			    (r = render_put(out, s + i, j - i)) != 0)
				return r;
			i = j;
			continue;
		}
		if (i + 1 < n && s[i + 1] == '{') {
			if (out != NULL && (r = render_put(out, "{", 1)) != 0)
				return r;
			i += 2;
			continue;
		}
		for (j = i + 1; j < n && s[j] != '}' && s[j] != '{' &&
		    s[j] != '\n'; j++)
			;
		if (j >= n || s[j] != '}') {
			mfad_str_err(err, errlen,
			    "%s:%u: unterminated placeholder", t->path, line);
			return MSS_ERR_MAIL;
		}
		nlen = j - i - 1;
		for (k = 0; k < sizeof(render_placeholders) /
		    sizeof(render_placeholders[0]); k++)
			if (strlen(render_placeholders[k].name) == nlen &&
			    memcmp(render_placeholders[k].name, s + i + 1,
			    nlen) == 0)
				break;
		if (k == sizeof(render_placeholders) /
		    sizeof(render_placeholders[0])) {
			mfad_str_err(err, errlen, "%s:%u: unknown placeholder "
			    "{%.*s}", t->path, line, nlen > 32 ? 32 : (int)nlen,
			    s + i + 1);
			return MSS_ERR_MAIL;
		}
		if (subject && render_placeholders[k].ph == RENDER_PH_CODE) {
			mfad_str_err(err, errlen,
			    "%s:%u: {code} is not allowed "
			    "in the subject", t->path, line);
			return MSS_ERR_MAIL;
		}
		if (out != NULL) {
			if ((r = render_value(render_placeholders[k].ph,
			    render_placeholders[k].name, lang, vars, tmp,
			    sizeof(tmp), &val, err, errlen)) != 0)
				return r;
			if ((r = render_puts(out, val)) != 0)
				return r;
		}
		i = j + 1;
	}
	return 0;
}

static void
render_tmpl_free(struct render_tmpl *t)
{
	if (t->text != NULL) {
		sodium_memzero(t->text, t->len);
		free(t->text);
	}
	memset(t, 0, sizeof(*t));
}

/* Reads the whole file at t->path into t->text. */
static int MSS_WUR
render_tmpl_read(struct render_tmpl *t, char *err, size_t errlen)
{
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd;

	if ((fd = open(t->path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		mfad_str_err(err, errlen, "%s: %s", t->path, strerror(errno));
		return MSS_ERR_MAIL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > RENDER_TEMPLATE_MAX) {
		mfad_str_err(err, errlen,
		    "%s: not a regular file of at most %d "
		    "bytes", t->path, RENDER_TEMPLATE_MAX);
		close(fd);
		return MSS_ERR_MAIL;
	}
	if ((t->text = malloc(RENDER_TEMPLATE_MAX + 1)) == NULL) {
		close(fd);
		return MSS_ERR_NOMEM;
	}
	for (;;) {
		n = read(fd, t->text + len, RENDER_TEMPLATE_MAX + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			mfad_str_err(err, errlen, "%s: %s", t->path,
			    strerror(errno));
			close(fd);
			return MSS_ERR_MAIL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > RENDER_TEMPLATE_MAX) {
			mfad_str_err(err, errlen, "%s: longer than %d bytes",
			    t->path, RENDER_TEMPLATE_MAX);
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
static int MSS_WUR
render_tmpl_parse(struct render_tmpl *t, char *err, size_t errlen)
{
	unsigned char *s = (unsigned char *)t->text;
	size_t i, o, clen, n = t->len;
	unsigned line = 1;
	char *nl, *p;
	int r;

	for (i = o = 0; i < n; i += clen) {
		clen = render_utf8_len(s + i, n - i);
		if (clen == 0) {
			mfad_str_err(err, errlen,
			    "%s:%u: invalid UTF-8", t->path,
			    line);
			return MSS_ERR_MAIL;
		}
		if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
			continue;
		if (s[i] == '\n')
			line++;
		else if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f) {
			mfad_str_err(err, errlen,
			    "%s:%u: control character 0x%02x", t->path, line,
			    s[i]);
			return MSS_ERR_MAIL;
		}
		memmove(s + o, s + i, clen);
		o += clen;
	}
	s[o] = '\0';
	t->len = n = o;

	if (strncmp(t->text, "Subject:", 8) != 0) {
		mfad_str_err(err, errlen, "%s:1: the first line must be "
		    "\"Subject: ...\"", t->path);
		return MSS_ERR_MAIL;
	}
	if ((nl = strchr(t->text, '\n')) == NULL) {
		mfad_str_err(err, errlen, "%s:1: no body after the subject",
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
		mfad_str_err(err, errlen, "%s:1: empty subject", t->path);
		return MSS_ERR_MAIL;
	}
	if (nl[1] != '\n') {
		mfad_str_err(err, errlen, "%s:2: an empty line must follow the "
		    "subject", t->path);
		return MSS_ERR_MAIL;
	}
	t->body = nl + 2;
	t->body_len = n - (size_t)(t->body - t->text);
	t->body_line = 3;
	if (t->body_len == 0) {
		mfad_str_err(err, errlen, "%s:3: empty body", t->path);
		return MSS_ERR_MAIL;
	}
	if ((r = render_expand(t, t->subj, t->subj_len, 1, 1, "en", NULL, NULL,
	    err, errlen)) != 0)
		return r;
	return render_expand(t, t->body, t->body_len, t->body_line, 0, "en",
	    NULL, NULL, err, errlen);
}

/* Loads and checks the template for kind in lang ("en" or "fr"). */
static int MSS_WUR
render_tmpl_load(const struct mfad_conf *conf, enum mfad_mail_kind kind,
    const char *lang, struct render_tmpl *t, char *err, size_t errlen)
{
	int n, r;

	memset(t, 0, sizeof(*t));
	if (conf->templates == NULL) {
		mfad_str_err(err, errlen, "mail: no templates directory set");
		return MSS_ERR_MAIL;
	}
	n = snprintf(t->path, sizeof(t->path), "%s/%s/%s.txt",
	    conf->templates, lang, mfad_mail_kind_name(kind));
	if (n < 0 || (size_t)n >= sizeof(t->path)) {
		mfad_str_err(err, errlen, "%s: path too long", conf->templates);
		return MSS_ERR_MAIL;
	}
	if ((r = render_tmpl_read(t, err, errlen)) != 0 ||
	    (r = render_tmpl_parse(t, err, errlen)) != 0) {
		render_tmpl_free(t);
		return r;
	}
	return 0;
}

static const char *
render_lang(const struct mfad_conf *conf, const char *lang)
{
	size_t i;

	for (i = 0; i < sizeof(render_langs) / sizeof(render_langs[0]); i++)
		if (lang != NULL && strcmp(lang, render_langs[i]) == 0)
			return render_langs[i];
	for (i = 0; i < sizeof(render_langs) / sizeof(render_langs[0]); i++)
		if (conf->language != NULL &&
		    strcmp(conf->language, render_langs[i]) == 0)
			return render_langs[i];
	return "en";
}

/*
 * Renders one message of every kind in every language with sample values
 * of the right shape, so that what would make a real message fail (a
 * sender that is no address, a text that grows too long once filled in)
 * shows when the configuration is checked rather than at the first login.
 */
int
mfad_render_check(const struct mfad_conf *conf, char *err,
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
		mfad_str_err(err, errlen, "%s: [mail] from is not set and "
		    "the host name \"%.64s\" has no domain, so mfad@%.64s "
		    "is no mail address: set [mail] from", conf->path != NULL ?
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
	vars.time = (time_t)mfad_clock_real_s();
	for (l = 0; l < sizeof(render_langs) / sizeof(render_langs[0]); l++)
		for (k = 0; k < MFAD_MAIL_NKINDS; k++) {
			why[0] = '\0';
			r = mfad_render_message(conf, (enum mfad_mail_kind)k,
			    render_langs[l], "alice@example.org", &vars, &msg,
			    &len, why, sizeof(why));
			if (msg != NULL) {
				sodium_memzero(msg, len);
				free(msg);
				msg = NULL;
			}
			if (r != 0) {
				mfad_str_err(err, errlen,
				    "cannot render the %s "
				    "mail in %s: %s",
				    mfad_mail_kind_name((enum mfad_mail_kind)k),
				    render_langs[l], why[0] ? why :
				    "unknown error");
				return r == MSS_ERR_NOMEM ? r : MSS_ERR_MAIL;
			}
		}
	return 0;
}

/* "Date:" in RFC 5322 form, in UTC, with English names whatever the
 * locale. */
static int MSS_WUR
render_put_date(struct mss_buf *b, time_t now)
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
	return render_puts(b, buf);
}

/* "Message-ID: <32 random hex digits@domain of From>". */
static int MSS_WUR
render_put_msgid(struct mss_buf *b, const char *from)
{
	unsigned char rnd[16];
	char hex[sizeof(rnd) * 2 + 1];
	int r;

	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
	if ((r = render_puts(b, "Message-ID: <")) != 0 ||
	    (r = render_puts(b, hex)) != 0 ||
	    (r = render_puts(b, strrchr(from, '@'))) != 0 ||
	    (r = render_puts(b, ">\r\n")) != 0)
		return r;
	return 0;
}

/*
 * "Subject:" as is when it is short printable ASCII, else as RFC 2047
 * B encoded-words of at most RENDER_WORD_BYTES bytes each, cut between
 * UTF-8 characters, one per line: "Subject: =?UTF-8?B?<52>?=" is 73
 * characters, each continuation line 65.
 */
static int MSS_WUR
render_put_subject(struct mss_buf *b, const char *s, size_t n)
{
	char b64[sodium_base64_ENCODED_LEN(RENDER_WORD_BYTES,
	    sodium_base64_VARIANT_ORIGINAL)];
	size_t i, j, clen;
	int encode = 0, r;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			encode = 1;
	if (sizeof("Subject: ") - 1 + n > RENDER_QP_LINE ||
	    memmem(s, n, "=?", 2) != NULL)
		encode = 1;
	if (!encode) {
		if ((r = render_puts(b, "Subject: ")) != 0 ||
		    (r = render_put(b, s, n)) != 0)
			return r;
		return render_puts(b, "\r\n");
	}
	if ((r = render_puts(b, "Subject:")) != 0)
		return r;
	for (i = 0; i < n; i = j) {
		for (j = i; j < n; j += clen) {
			clen = render_utf8_len((const unsigned char *)s + j,
			    n - j);
			if (clen == 0)
				clen = 1;
			if (j + clen - i > RENDER_WORD_BYTES)
				break;
		}
		sodium_bin2base64(b64, sizeof(b64),
		    (const unsigned char *)s + i, j - i,
		    sodium_base64_VARIANT_ORIGINAL);
		if ((r = render_puts(b, i == 0 ? " =?UTF-8?B?" :
		    "\r\n =?UTF-8?B?")) != 0 ||
		    (r = render_puts(b, b64)) != 0 ||
		    (r = render_puts(b, "?=")) != 0)
			return r;
	}
	return render_puts(b, "\r\n");
}

/*
 * The body in quoted-printable (RFC 2045 6.7): lines of at most 76
 * characters with "=" soft breaks, "=" and all but printable ASCII
 * escaped, a space or tab ending a line escaped, and a "." or "From "
 * starting a line escaped too so no transport can mangle it. Line ends
 * become CRLF.
 */
static int MSS_WUR
render_put_qp(struct mss_buf *b, const char *s, size_t n)
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
			if (col + tl > (last ? RENDER_QP_LINE :
			    RENDER_QP_LINE - 1)) {
				if ((r = render_puts(b, "=\r\n")) != 0)
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
			if ((r = render_put(b, tok, tl)) != 0)
				return r;
			col += tl;
		}
		if ((r = render_puts(b, "\r\n")) != 0)
			return r;
	}
	return 0;
}

static int MSS_WUR
render_put_header(struct mss_buf *b, const char *name, const char *value)
{
	int r;

	if ((r = render_puts(b, name)) != 0 ||
	    (r = render_puts(b, ": ")) != 0 ||
	    (r = render_puts(b, value)) != 0)
		return r;
	return render_puts(b, "\r\n");
}

/* Buffer errors, as the contract's codes. */
static int MSS_WUR
render_buf_error(int r, char *err, size_t errlen)
{
	if (r == MSS_ERR_NOMEM)
		return r;
	if (r == MSS_ERR_TOOBIG) {
		mfad_str_err(err, errlen, "mail: message larger than %d bytes",
		    MFAD_MAIL_MSG_MAX);
		return MSS_ERR_MAIL;
	}
	return r;
}

int
mfad_render_message(const struct mfad_conf *conf, enum mfad_mail_kind kind,
    const char *lang, const char *to, const struct mfad_mail_vars *vars,
    char **msg, size_t *len, char *err, size_t errlen)
{
	static const struct mfad_mail_vars novars;
	struct render_tmpl t;
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
		mfad_str_err(err, errlen, "mail: bad arguments");
		return MSS_ERR_INVAL;
	}
	if (vars == NULL)
		vars = &novars;
	if (to == NULL || render_has_crlf(to) || !mss_email_valid(to)) {
		mfad_str_err(err, errlen, "mail: bad recipient address");
		return MSS_ERR_INVAL;
	}
	if (conf->from == NULL || render_has_crlf(conf->from) ||
	    !mss_email_valid(conf->from)) {
		mfad_str_err(err, errlen, "mail: bad sender address (from)");
		return MSS_ERR_INVAL;
	}
	/* libsodium draws the Message-ID; sodium_init() is idempotent and
	 * safe from any thread. */
	if (sodium_init() < 0) {
		mfad_str_err(err, errlen,
		    "mail: library initialisation failed");
		return MSS_ERR_MAIL;
	}
	lang = render_lang(conf, lang);
	if ((r = render_tmpl_load(conf, kind, lang, &t, err, errlen)) != 0)
		return r;

	if ((subj = mss_buf_new(RENDER_SUBJECT_MAX)) == NULL ||
	    (body = mss_buf_new(MFAD_MAIL_MSG_MAX)) == NULL ||
	    (out = mss_buf_new(MFAD_MAIL_MSG_MAX)) == NULL) {
		r = MSS_ERR_NOMEM;
		goto out;
	}
	if ((r = render_expand(&t, t.subj, t.subj_len, 1, 1, lang, vars, subj,
	    err, errlen)) != 0 ||
	    (r = render_expand(&t, t.body, t.body_len, t.body_line, 0, lang,
	    vars, body, err, errlen)) != 0) {
		if (r == MSS_ERR_TOOBIG)
			mfad_str_err(err, errlen, "%s: rendered text too long",
			    t.path);
		r = r == MSS_ERR_TOOBIG ? MSS_ERR_MAIL : r;
		goto out;
	}
	/* Values were checked already; the subject goes into a header, so
	 * check what is actually there once more. */
	if (memchr(mss_buf_ptr(subj), '\r', mss_buf_avail(subj)) != NULL ||
	    memchr(mss_buf_ptr(subj), '\n', mss_buf_avail(subj)) != NULL ||
	    memchr(mss_buf_ptr(subj), '\0', mss_buf_avail(subj)) != NULL) {
		mfad_str_err(err, errlen, "mail: subject holds CR, LF or NUL");
		r = MSS_ERR_INVAL;
		goto out;
	}

	if ((r = render_put_date(out, (time_t)mfad_clock_real_s())) != 0 ||
	    (r = render_put_msgid(out, conf->from)) != 0 ||
	    (r = render_put_header(out, "From", conf->from)) != 0 ||
	    (r = render_put_header(out, "To", to)) != 0 ||
	    (r = render_put_subject(out, (const char *)mss_buf_ptr(subj),
	    mss_buf_avail(subj))) != 0 ||
	    (r = render_puts(out, "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=UTF-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "Auto-Submitted: auto-generated\r\n"
	    "\r\n")) != 0 ||
	    (r = render_put_qp(out, (const char *)mss_buf_ptr(body),
	    mss_buf_avail(body))) != 0) {
		r = render_buf_error(r, err, errlen);
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
	render_tmpl_free(&t);
	return r;
}
