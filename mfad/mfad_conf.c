/*
 * mfad.conf reader.
 *
 * The file is read by a small INI reader of our own rather than inih: the
 * Debian build of inih does not pass line numbers to the handler, reads an
 * indented line as the continuation of the previous key, cuts lines at 200
 * bytes, accepts "key: value" and never reports a section without keys.
 * Working around each of those would re-implement most of the parser, and
 * every one of them hides a mistake in the file instead of naming its line.
 *
 * Grammar, line by line: blanks around everything are ignored; an empty
 * line or one whose first non-blank is '#' or ';' is a comment; "[name]"
 * opens a section; "key = value" sets a key of the current section. A value
 * is everything after the first '=', trimmed; quotes are not special.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "mss_addr.h"
#include "mss_err.h"
#include "mss_ident.h"
#include "mss_proto.h"
#include "mfad_conf.h"
#include "mfad_keys.h"
#include "mfad_secret.h"

#define CONF_MAX_LINE		4096		/* longest line read */
#define CONF_WEAK_MEMLIMIT	(19ULL << 20)	/* below: pw_weak */
#define CONF_WEAK_OPSLIMIT	2ULL
#define CONF_MAX_MEMLIMIT	(4ULL << 30)
#define CONF_MAX_OPSLIMIT	100ULL
#define CONF_MIN_MAP_SIZE	(1ULL << 20)
#define CONF_MAX_MAP_SIZE	(1ULL << 40)
#define CONF_MAX_UID		((uid_t)-2)	/* (uid_t)-1 is "no uid" */

struct conf_ctx;
struct conf_key;

typedef int (*conf_setter)(struct conf_ctx *, const struct conf_key *,
    const char *);

struct conf_key {
	const char		*section;
	const char		*name;
	conf_setter		 set;
	size_t			 off;	/* field in struct mfad_conf */
	unsigned long long	 min;
	unsigned long long	 max;
};

static int MSS_WUR conf_set_uint(struct conf_ctx *, const struct conf_key *,
    const char *);
static int MSS_WUR conf_set_map_size(struct conf_ctx *, const struct conf_key *,
    const char *);
static int MSS_WUR conf_set_path(struct conf_ctx *, const struct conf_key *,
    const char *);
static int MSS_WUR conf_set_socket(struct conf_ctx *, const struct conf_key *,
    const char *);
static int MSS_WUR conf_set_user(struct conf_ctx *, const struct conf_key *,
    const char *);
static int MSS_WUR conf_set_group(struct conf_ctx *, const struct conf_key *,
    const char *);
static int MSS_WUR conf_set_pam_uids(struct conf_ctx *, const struct conf_key *,
    const char *);
static int MSS_WUR conf_set_strength(struct conf_ctx *, const struct conf_key *,
    const char *);
static int MSS_WUR conf_set_opslimit(struct conf_ctx *, const struct conf_key *,
    const char *);
static int MSS_WUR conf_set_memlimit(struct conf_ctx *, const struct conf_key *,
    const char *);
static int MSS_WUR conf_set_date(struct conf_ctx *, const struct conf_key *,
    const char *);
static int MSS_WUR conf_set_smtp(struct conf_ctx *, const struct conf_key *,
    const char *);
static int MSS_WUR conf_set_tls(struct conf_ctx *, const struct conf_key *,
    const char *);
static int MSS_WUR conf_set_from(struct conf_ctx *, const struct conf_key *,
    const char *);
static int MSS_WUR conf_set_language(struct conf_ctx *, const struct conf_key *,
    const char *);
static int MSS_WUR conf_set_scope(struct conf_ctx *, const struct conf_key *,
    const char *);
static int MSS_WUR conf_set_pw_impl(struct conf_ctx *,
    const struct conf_key *, const char *);
static int MSS_WUR conf_set_dir_uris(struct conf_ctx *,
    const struct conf_key *, const char *);
static int MSS_WUR conf_set_dn(struct conf_ctx *, const struct conf_key *,
    const char *);
static int MSS_WUR conf_set_readable(struct conf_ctx *,
    const struct conf_key *, const char *);
static int MSS_WUR conf_set_timeout_ms(struct conf_ctx *,
    const struct conf_key *, const char *);
static int MSS_WUR conf_set_dir_host(struct conf_ctx *,
    const struct conf_key *, const char *);

#define OFF(f)	offsetof(struct mfad_conf, f)

/* Every key the file may set; the index is also the slot in ctx->lines. */
static const struct conf_key conf_keys[] = {
	{ "mfad", "socket", conf_set_socket, OFF(socket), 0, 0 },
	{ "mfad", "database", conf_set_path, OFF(database), 0, 0 },
	{ "mfad", "map_size", conf_set_map_size, OFF(map_size),
	    CONF_MIN_MAP_SIZE, CONF_MAX_MAP_SIZE },
	{ "mfad", "user", conf_set_user, OFF(user), 0, 0 },
	{ "mfad", "admin_group", conf_set_group, OFF(admin_group), 0, 0 },
	{ "mfad", "pam_uids", conf_set_pam_uids, 0, 0, 0 },
	{ "mfad", "audit_days", conf_set_uint, OFF(audit_days), 1, 3650 },
	{ "code", "length", conf_set_uint, OFF(code_length), 6, 10 },
	{ "code", "ttl", conf_set_uint, OFF(code_ttl), 1, 3600 },
	{ "code", "max_attempts", conf_set_uint, OFF(code_max_attempts),
	    1, 100 },
	{ "code", "resend_interval", conf_set_uint,
	    OFF(code_resend_interval), 0, 3600 },
	/* The store keeps the times of at most 64 mails per account
	 * (MFAD_SENDS_MAX): a larger limit could not be counted. */
	{ "code", "max_sends", conf_set_uint, OFF(code_max_sends), 1, 64 },
	{ "device", "remember_days", conf_set_uint, OFF(remember_days),
	    0, 365 },
	{ "device", "scope", conf_set_scope, 0, 0, 0 },
	{ "password", "min_length", conf_set_uint, OFF(pw_min_length),
	    8, 1024 },
	{ "password", "max_length", conf_set_uint, OFF(pw_max_length),
	    8, 1024 },
	{ "password", "strength", conf_set_strength, 0, 0, 0 },
	{ "password", "opslimit", conf_set_opslimit, 0,
	    crypto_pwhash_OPSLIMIT_MIN, CONF_MAX_OPSLIMIT },
	{ "password", "memlimit", conf_set_memlimit, 0,
	    crypto_pwhash_MEMLIMIT_MIN, CONF_MAX_MEMLIMIT },
	{ "password", "blocklist", conf_set_path, OFF(pw_blocklist), 0, 0 },
	{ "password", "implementation", conf_set_pw_impl, 0, 0, 0 },
	{ "lockout", "threshold", conf_set_uint, OFF(lock_threshold),
	    1, 100 },
	{ "lockout", "duration", conf_set_uint, OFF(lock_duration),
	    1, 604800 },
	{ "policy", "reenroll_before", conf_set_date, 0, 0, 0 },
	{ "mail", "smtp", conf_set_smtp, 0, 0, 0 },
	{ "mail", "tls", conf_set_tls, 0, 0, 0 },
	{ "mail", "ca_file", conf_set_path, OFF(ca_file), 0, 0 },
	{ "mail", "auth_file", conf_set_path, OFF(auth_file), 0, 0 },
	{ "mail", "from", conf_set_from, 0, 0, 0 },
	{ "mail", "language", conf_set_language, 0, 0, 0 },
	{ "mail", "templates", conf_set_path, OFF(templates), 0, 0 },
	{ "mail", "max_per_minute", conf_set_uint, OFF(mail_max_per_minute),
	    1, 100000 },
	/* 32 is MFAD_MAIL_CONNECTIONS_MAX, written out for the docs' check
	 * (tests/pam/test_docs.py reads this table). */
	{ "mail", "connections", conf_set_uint, OFF(mail_connections),
	    1, 32 },
	/* 8 is MFAD_CONF_DIR_URIS_MAX; the timeout's bounds are in ms. */
	{ "directory", "uri", conf_set_dir_uris, 0, 1, 8 },
	{ "directory", "base", conf_set_dn, OFF(dir_base), 0, 0 },
	{ "directory", "bind_dn", conf_set_dn, OFF(dir_bind_dn), 0, 0 },
	{ "directory", "bind_pw_file", conf_set_path, OFF(dir_bind_pw_file),
	    0, 0 },
	{ "directory", "ca_file", conf_set_readable, OFF(dir_ca_file), 0, 0 },
	{ "directory", "timeout", conf_set_timeout_ms, OFF(dir_timeout_ms),
	    100, 60000 },
	{ "directory", "key_file", conf_set_path, OFF(dir_key_file), 0, 0 },
	{ "directory", "host", conf_set_dir_host, 0, 0, 0 },
};

#define CONF_NKEYS	(sizeof(conf_keys) / sizeof(conf_keys[0]))
_Static_assert(MFAD_MAIL_CONNECTIONS_MAX == 32,
    "[mail] connections: the range in conf_keys is 1 to 32");
_Static_assert(MFAD_CONF_DIR_URIS_MAX == 8,
    "[directory] uri: at most 8 in conf_keys");

static const char *const conf_sections[] = {
	"mfad", "code", "device", "password", "lockout", "policy", "mail",
	"directory",
};

struct conf_ctx {
	struct mfad_conf	*conf;
	const char		*path;
	unsigned		 line;		/* line being read, from 1 */
	unsigned		 lines[CONF_NKEYS]; /* where each key was set */
	unsigned		 dir_line;	/* first "[directory]", or 0 */
	char			*err;
	size_t			 errlen;
	char			 show[300];	/* a value, quoted for a message */
};

/* Formats "path:line: reason" into ctx->err; returns MSS_ERR_CONFIG. */
static int MSS_WUR __attribute__((format(printf, 3, 4)))
conf_error(struct conf_ctx *ctx, unsigned line, const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (ctx->errlen > 0)
		snprintf(ctx->err, ctx->errlen, "%s:%u: %s", ctx->path, line,
		    reason);
	return MSS_ERR_CONFIG;
}

static int MSS_WUR
conf_nomem(struct conf_ctx *ctx)
{
	if (ctx->errlen > 0)
		snprintf(ctx->err, ctx->errlen, "%s: %s", ctx->path,
		    mss_strerror(MSS_ERR_NOMEM));
	return MSS_ERR_NOMEM;
}

/*
 * Copies s into buf for a message: at most 64 bytes, with control and
 * non-ASCII bytes, quotes and backslashes as \xNN, so that a stray byte in
 * the file shows up in the message rather than garbling a terminal or log.
 */
static const char *
conf_show(const char *s, char *buf, size_t len)
{
	size_t i, o;

	for (i = 0, o = 0; s[i] != '\0' && o + 8 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i == 64) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return buf;
}

#define SHOW(s)	conf_show((s), ctx->show, sizeof(ctx->show))

/* Strict unsigned decimal: digits only, no sign, no blanks, no overflow. */
static int MSS_WUR
conf_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return MSS_ERR_INVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return MSS_ERR_INVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return MSS_ERR_INVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* A byte count: digits, then optionally one of K, M, G, T (powers of 1024). */
static int MSS_WUR
conf_parse_bytes(const char *s, uint64_t *out)
{
	char digits[32];
	size_t n = strlen(s);
	unsigned shift = 0;
	uint64_t v;

	if (n == 0 || n >= sizeof(digits))
		return MSS_ERR_INVAL;
	switch (s[n - 1]) {
	case 'K': case 'k':
		shift = 10;
		break;
	case 'M': case 'm':
		shift = 20;
		break;
	case 'G': case 'g':
		shift = 30;
		break;
	case 'T': case 't':
		shift = 40;
		break;
	}
	memcpy(digits, s, n + 1);
	if (shift != 0)
		digits[--n] = '\0';
	if (conf_parse_u64(digits, &v) != 0)
		return MSS_ERR_INVAL;
	if (v > (UINT64_MAX >> shift))
		return MSS_ERR_INVAL;
	*out = v << shift;
	return 0;
}

/* Stores a copy of value in the char * field at off, freeing the old one. */
static int MSS_WUR
conf_store_str(struct conf_ctx *ctx, size_t off, const char *value)
{
	char **field = (char **)(void *)((char *)ctx->conf + off);
	char *copy;

	if ((copy = strdup(value)) == NULL)
		return conf_nomem(ctx);
	free(*field);
	*field = copy;
	return 0;
}

static int MSS_WUR
conf_set_uint(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value)
{
	uint64_t v;

	if (conf_parse_u64(value, &v) != 0 || v < key->min || v > key->max)
		return conf_error(ctx, ctx->line,
		    "[%s] %s must be an integer from %llu to %llu, not \"%s\"",
		    key->section, key->name, key->min, key->max, SHOW(value));
	*(unsigned *)(void *)((char *)ctx->conf + key->off) = (unsigned)v;
	return 0;
}

static int MSS_WUR
conf_bytes_error(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value, const char *min, const char *max)
{
	return conf_error(ctx, ctx->line,
	    "[%s] %s must be a byte count from %s to %s (suffix K, M, G or "
	    "T allowed), not \"%s\"", key->section, key->name, min, max,
	    SHOW(value));
}

static int MSS_WUR
conf_set_map_size(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value)
{
	uint64_t v;

	if (conf_parse_bytes(value, &v) != 0 || v < key->min ||
	    v > key->max || v > SIZE_MAX)
		return conf_bytes_error(ctx, key, value, "1M", "1T");
	ctx->conf->map_size = v;
	return 0;
}

static int MSS_WUR
conf_set_memlimit(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value)
{
	uint64_t v;

	if (conf_parse_bytes(value, &v) != 0 || v < key->min ||
	    v > key->max || v > SIZE_MAX)
		return conf_bytes_error(ctx, key, value, "8K", "4G");
	ctx->conf->pw_memlimit = (size_t)v;
	return 0;
}

static int MSS_WUR
conf_set_opslimit(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value)
{
	uint64_t v;

	if (conf_parse_u64(value, &v) != 0 || v < key->min || v > key->max)
		return conf_error(ctx, ctx->line,
		    "[%s] %s must be an integer from %llu to %llu, not \"%s\"",
		    key->section, key->name, key->min, key->max, SHOW(value));
	ctx->conf->pw_opslimit = v;
	return 0;
}

static int MSS_WUR
conf_set_path(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value)
{
	if (value[0] != '/')
		return conf_error(ctx, ctx->line,
		    "[%s] %s must be an absolute path, not \"%s\"",
		    key->section, key->name, SHOW(value));
	return conf_store_str(ctx, key->off, value);
}

static int MSS_WUR
conf_set_socket(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value)
{
	struct sockaddr_un sun;

	if (strlen(value) >= sizeof(sun.sun_path))
		return conf_error(ctx, ctx->line,
		    "[%s] %s must be at most %zu bytes long, not \"%s\"",
		    key->section, key->name, sizeof(sun.sun_path) - 1,
		    SHOW(value));
	return conf_set_path(ctx, key, value);
}

/*
 * Looks up a user with getpwnam_r. Returns 0 and sets *uid, MSS_ERR_NOTFOUND
 * for no such user, MSS_ERR_SYSTEM (errno set) when the lookup failed.
 */
static int MSS_WUR
conf_lookup_user(const char *name, uid_t *uid)
{
	struct passwd pw, *res = NULL;
	char *buf = NULL, *nbuf;
	size_t len = 1024;
	int r;

	for (;;) {
		if ((nbuf = realloc(buf, len)) == NULL) {
			free(buf);
			return MSS_ERR_NOMEM;
		}
		buf = nbuf;
		r = getpwnam_r(name, &pw, buf, len, &res);
		if (r != ERANGE || len >= (1U << 20))
			break;
		len *= 4;
	}
	if (res != NULL)
		*uid = pw.pw_uid;
	free(buf);
	if (res != NULL)
		return 0;
	/* glibc reports "not found" as 0 or as one of these. */
	if (r == 0 || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM)
		return MSS_ERR_NOTFOUND;
	errno = r;
	return MSS_ERR_SYSTEM;
}

static int MSS_WUR
conf_lookup_group(const char *name)
{
	struct group gr, *res = NULL;
	char *buf = NULL, *nbuf;
	size_t len = 1024;
	int r;

	for (;;) {
		if ((nbuf = realloc(buf, len)) == NULL) {
			free(buf);
			return MSS_ERR_NOMEM;
		}
		buf = nbuf;
		r = getgrnam_r(name, &gr, buf, len, &res);
		if (r != ERANGE || len >= (1U << 20))
			break;
		len *= 4;
	}
	free(buf);
	if (res != NULL)
		return 0;
	if (r == 0 || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM)
		return MSS_ERR_NOTFOUND;
	errno = r;
	return MSS_ERR_SYSTEM;
}

/* Reports a failed user or group lookup of value; r from conf_lookup_*. */
static int MSS_WUR
conf_lookup_error(struct conf_ctx *ctx, const struct conf_key *key,
    const char *what, const char *value, int r)
{
	if (r == MSS_ERR_NOMEM)
		return conf_nomem(ctx);
	if (r == MSS_ERR_NOTFOUND)
		return conf_error(ctx, ctx->line,
		    "[%s] %s must name an existing %s, not \"%s\"",
		    key->section, key->name, what, SHOW(value));
	return conf_error(ctx, ctx->line, "[%s] %s: cannot look up %s "
	    "\"%s\": %s", key->section, key->name, what, SHOW(value),
	    strerror(errno));
}

static int MSS_WUR
conf_set_user(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value)
{
	uid_t uid;
	int r;

	if ((r = conf_lookup_user(value, &uid)) != 0)
		return conf_lookup_error(ctx, key, "user", value, r);
	return conf_store_str(ctx, key->off, value);
}

static int MSS_WUR
conf_set_group(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value)
{
	int r;

	if ((r = conf_lookup_group(value)) != 0)
		return conf_lookup_error(ctx, key, "group", value, r);
	return conf_store_str(ctx, key->off, value);
}

/* "root, 1000,www-data": user names or uids; the same uid counts once. */
static int MSS_WUR
conf_set_pam_uids(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value)
{
	const char *p, *end;
	char item[256];
	uid_t *uids = NULL, *nuids, uid;
	size_t n = 0, i, len;
	uint64_t v;
	int r;

	for (p = value;; p = end + 1) {
		if ((end = strchr(p, ',')) == NULL)
			end = p + strlen(p);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		len = (size_t)(end - p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0 || len >= sizeof(item)) {
			free(uids);
			return conf_error(ctx, ctx->line,
			    "[%s] %s must be a comma-separated list of user "
			    "names or uids, not \"%s\"", key->section,
			    key->name, SHOW(value));
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (item[0] >= '0' && item[0] <= '9') {
			if (conf_parse_u64(item, &v) != 0 || v > CONF_MAX_UID) {
				free(uids);
				return conf_error(ctx, ctx->line,
				    "[%s] %s: \"%s\" is not a uid from 0 to "
				    "%llu", key->section, key->name,
				    SHOW(item),
				    (unsigned long long)CONF_MAX_UID);
			}
			uid = (uid_t)v;
		} else if ((r = conf_lookup_user(item, &uid)) != 0) {
			free(uids);
			return conf_lookup_error(ctx, key, "user", item, r);
		}
		for (i = 0; i < n && uids[i] != uid; i++)
			;
		if (i == n) {
			if ((nuids = reallocarray(uids, n + 1,
			    sizeof(*uids))) == NULL) {
				free(uids);
				return conf_nomem(ctx);
			}
			uids = nuids;
			uids[n++] = uid;
		}
		if (*end == '\0')
			break;
	}
	free(ctx->conf->pam_uids);
	ctx->conf->pam_uids = uids;
	ctx->conf->n_pam_uids = n;
	return 0;
}

/* value as one of words (a NULL-ended list), its index in *out; else
 * an error that names them all ("a, b or c"). */
static int MSS_WUR
conf_word(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value, const char *const *words, int *out)
{
	char list[128];
	size_t n, len = 0;

	for (n = 0; words[n] != NULL; n++)
		if (strcmp(value, words[n]) == 0) {
			*out = (int)n;
			return 0;
		}
	list[0] = '\0';
	for (n = 0; words[n] != NULL && len < sizeof(list); n++)
		len += (size_t)snprintf(list + len, sizeof(list) - len,
		    "%s%s", n == 0 ? "" : words[n + 1] == NULL ? " or " : ", ",
		    words[n]);
	return conf_error(ctx, ctx->line, "[%s] %s must be %s, not \"%s\"",
	    key->section, key->name, list, SHOW(value));
}

static int MSS_WUR
conf_set_strength(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value)
{
	static const char *const words[] = { "interactive", "moderate",
	    "sensitive", NULL };
	static const enum mfad_strength to[] = { MFAD_STRENGTH_INTERACTIVE,
	    MFAD_STRENGTH_MODERATE, MFAD_STRENGTH_SENSITIVE };
	int i, r;

	if ((r = conf_word(ctx, key, value, words, &i)) != 0)
		return r;
	ctx->conf->pw_strength = to[i];
	return 0;
}

/* YYYY-MM-DD from 2000-01-01 to 9999-12-31, a real calendar day. */
static int MSS_WUR
conf_parse_date(const char *s, time_t *out)
{
	static const unsigned mdays[12] =
	    { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned y = 0, m = 0, d = 0;
	struct tm tm;
	time_t t;
	int i;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return MSS_ERR_INVAL;
	for (i = 0; i < 10; i++) {
		if (i == 4 || i == 7)
			continue;
		if (s[i] < '0' || s[i] > '9')
			return MSS_ERR_INVAL;
		if (i < 4)
			y = y * 10 + (unsigned)(s[i] - '0');
		else if (i < 7)
			m = m * 10 + (unsigned)(s[i] - '0');
		else
			d = d * 10 + (unsigned)(s[i] - '0');
	}
	if (y < 2000 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return MSS_ERR_INVAL;
	if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 ||
	    y % 400 == 0)))
		return MSS_ERR_INVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (int)y - 1900;
	tm.tm_mon = (int)m - 1;
	tm.tm_mday = (int)d;
	if ((t = timegm(&tm)) == (time_t)-1 || t <= 0)
		return MSS_ERR_INVAL;
	*out = t;
	return 0;
}

static int MSS_WUR
conf_set_date(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value)
{
	time_t t;

	if (value[0] == '\0') {
		ctx->conf->reenroll_before = 0;
		return 0;
	}
	if (conf_parse_date(value, &t) != 0)
		return conf_error(ctx, ctx->line, "[%s] %s must be a date "
		    "YYYY-MM-DD from 2000-01-01 to 9999-12-31, or empty, "
		    "not \"%s\"", key->section, key->name, SHOW(value));
	ctx->conf->reenroll_before = t;
	return 0;
}

/* A host name: letters, digits, '-', '.' and '_', not starting with '-'. */
static int
conf_host_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 253 || s[0] == '-' || s[0] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '-' || s[i] == '.' || s[i] == '_'))
			return 0;
	}
	return 1;
}

/* The inside of "[...]": hex digits, ':' and '.' (an embedded IPv4). */
static int
conf_v6_ok(const char *s, size_t len)
{
	size_t i, colons = 0;

	if (len < 2 || len > 45)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] == ':')
			colons++;
		else if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f') ||
		    (s[i] >= 'A' && s[i] <= 'F') || s[i] == '.'))
			return 0;
	}
	return colons >= 2;
}

static int MSS_WUR
conf_set_smtp(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value)
{
	char portbuf[8];
	const char *host, *colon;
	size_t hostlen;
	char *h = NULL, *p = NULL, *s = NULL;
	uint64_t port;
	int ok;

	if (value[0] == '[') {
		host = value + 1;
		colon = strstr(value, "]:");
		hostlen = colon != NULL ? (size_t)(colon - host) : 0;
		ok = colon != NULL && conf_v6_ok(host, hostlen);
		if (colon != NULL)
			colon++;
	} else {
		host = value;
		colon = strrchr(value, ':');
		hostlen = colon != NULL ? (size_t)(colon - host) : 0;
		ok = colon != NULL && conf_host_ok(host, hostlen);
	}
	if (!ok || conf_parse_u64(colon + 1, &port) != 0 || port < 1 ||
	    port > 65535)
		return conf_error(ctx, ctx->line, "[%s] %s must be host:port "
		    "or [IPv6 address]:port with a port from 1 to 65535, "
		    "not \"%s\"", key->section, key->name, SHOW(value));
	snprintf(portbuf, sizeof(portbuf), "%u", (unsigned)port);
	if ((h = strndup(host, hostlen)) == NULL ||
	    (p = strdup(portbuf)) == NULL || (s = strdup(value)) == NULL) {
		free(h);
		free(p);
		return conf_nomem(ctx);
	}
	free(ctx->conf->smtp);
	free(ctx->conf->smtp_host);
	free(ctx->conf->smtp_port);
	ctx->conf->smtp = s;
	ctx->conf->smtp_host = h;
	ctx->conf->smtp_port = p;
	return 0;
}

static int MSS_WUR
conf_set_tls(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value)
{
	if (strcmp(value, "starttls") == 0)
		ctx->conf->tls = MFAD_TLS_STARTTLS;
	else if (strcmp(value, "none") == 0)
		ctx->conf->tls = MFAD_TLS_NONE;
	else
		return conf_error(ctx, ctx->line, "[%s] %s must be starttls "
		    "or none, not \"%s\"", key->section, key->name,
		    SHOW(value));
	return 0;
}

static int MSS_WUR
conf_set_from(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value)
{
	char addr[MSS_EMAIL_MAX + 1], why[MSS_ADDR_WHY_MAX];

	/* A Unicode domain is kept as its A-labels, as for any address. */
	if (mss_addr_normalize(value, addr, sizeof(addr), why,
	    sizeof(why)) != 0)
		return conf_error(ctx, ctx->line, "[%s] %s must be a mail "
		    "address local@domain.tld (ASCII before the @, no blanks, "
		    "quotes or angle brackets), not \"%s\": %s",
		    key->section, key->name, SHOW(value), why);
	return conf_store_str(ctx, OFF(from), addr);
}

static int MSS_WUR
conf_set_language(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value)
{
	static const char *const words[] = { "fr", "en", NULL };
	int i, r;

	if ((r = conf_word(ctx, key, value, words, &i)) != 0)
		return r;
	return conf_store_str(ctx, OFF(language), value);
}

static int MSS_WUR
conf_set_scope(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value)
{
	static const char *const words[] = { "host", "fleet", NULL };
	static const enum mfad_device_scope to[] = {
	    MFAD_DEVICE_SCOPE_HOST, MFAD_DEVICE_SCOPE_FLEET };
	int i, r;

	if ((r = conf_word(ctx, key, value, words, &i)) != 0)
		return r;
	ctx->conf->device_scope = to[i];
	return 0;
}

static int MSS_WUR
conf_set_pw_impl(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value)
{
	static const char *const words[] = { "auto", "libargon2",
	    "libsodium", NULL };
	static const enum mfad_pw_impl to[] = { MFAD_PW_IMPL_AUTO,
	    MFAD_PW_IMPL_LIBARGON2, MFAD_PW_IMPL_LIBSODIUM };
	int i, r;

	if ((r = conf_word(ctx, key, value, words, &i)) != 0)
		return r;
	ctx->conf->pw_impl = to[i];
	return 0;
}

/*
 * One provider: ldaps://HOST[:PORT][/] or ldap://HOST[:PORT][/] (then
 * STARTTLS, verified as ldaps://). No DN, attributes or extensions:
 * the base is [directory] base, and nothing else of an LDAP URL means
 * anything to mfad.
 */
static int
conf_dir_uri_ok(const char *s, size_t len)
{
	size_t i, skip;

	if (len > 7 && strncmp(s, "ldap://", 7) == 0)
		skip = 7;
	else if (len > 8 && strncmp(s, "ldaps://", 8) == 0)
		skip = 8;
	else
		return 0;
	if (s[len - 1] == '/')
		len--;
	if (len <= skip || len > 255)
		return 0;
	for (i = skip; i < len; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		    s[i] == '.' || s[i] == '_' || s[i] == ':' ||
		    s[i] == '[' || s[i] == ']'))
			return 0;
	}
	return s[skip] != ':';
}

/* "ldaps://a.example ldaps://b.example": tried in that order. */
static int MSS_WUR
conf_set_dir_uris(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value)
{
	char *uris[MFAD_CONF_DIR_URIS_MAX];
	const char *p = value, *end;
	size_t n = 0, i, len;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		for (end = p; *end != '\0' && *end != ' ' && *end != '\t';
		    end++)
			;
		len = (size_t)(end - p);
		if (!conf_dir_uri_ok(p, len) || n == key->max) {
			for (i = 0; i < n; i++)
				free(uris[i]);
			if (n == key->max)
				return conf_error(ctx, ctx->line, "[%s] %s: at "
				    "most %llu URIs", key->section, key->name,
				    key->max);
			return conf_error(ctx, ctx->line, "[%s] %s must be a "
			    "list of ldaps://HOST[:PORT] or ldap://HOST[:PORT]"
			    " (STARTTLS) separated by blanks, not \"%s\"",
			    key->section, key->name, SHOW(value));
		}
		if ((uris[n] = strndup(p, len)) == NULL) {
			for (i = 0; i < n; i++)
				free(uris[i]);
			return conf_nomem(ctx);
		}
		n++;
		p = end;
	}
	for (i = 0; i < ctx->conf->dir_nuris; i++)
		free(ctx->conf->dir_uris[i]);
	for (i = 0; i < n; i++)
		ctx->conf->dir_uris[i] = uris[i];
	ctx->conf->dir_nuris = n;
	return 0;
}

/* A DN: "attr=value" parts; its syntax is the directory's to check, but
 * a value with no '=' or with a control byte is a mistake here. */
static int MSS_WUR
conf_set_dn(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value)
{
	size_t i;

	for (i = 0; value[i] != '\0'; i++)
		if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
			break;
	if (value[i] != '\0' || strchr(value, '=') == NULL || i > 1024)
		return conf_error(ctx, ctx->line, "[%s] %s must be a DN such "
		    "as dc=example,dc=org, not \"%s\"", key->section,
		    key->name, SHOW(value));
	return conf_store_str(ctx, key->off, value);
}

/* A file mfad reads at each connection: there and readable now. */
static int MSS_WUR
conf_set_readable(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value)
{
	struct stat sb;
	int fd;

	if (value[0] != '/')
		return conf_set_path(ctx, key, value);
	if ((fd = open(value, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return conf_error(ctx, ctx->line, "[%s] %s: cannot read "
		    "\"%s\": %s", key->section, key->name, SHOW(value),
		    strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return conf_error(ctx, ctx->line, "[%s] %s: \"%s\" is not a "
		    "regular file", key->section, key->name, SHOW(value));
	}
	close(fd);
	return conf_set_path(ctx, key, value);
}

/* Seconds with up to three decimals ("2", "0.5"), kept in ms. */
static int MSS_WUR
conf_set_timeout_ms(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value)
{
	char whole[16];
	const char *dot = strchr(value, '.');
	uint64_t s, ms = 0;
	size_t n, i;

	n = dot != NULL ? (size_t)(dot - value) : strlen(value);
	if (n == 0 || n >= sizeof(whole))
		goto bad;
	memcpy(whole, value, n);
	whole[n] = '\0';
	if (conf_parse_u64(whole, &s) != 0 || s > key->max / 1000)
		goto bad;
	if (dot != NULL) {
		/* "0.5" is 500 ms: the digits, then as many zeros as the
		 * three decimals lack. */
		if ((n = strlen(dot + 1)) == 0 || n > 3)
			goto bad;
		for (i = 1; i <= 3; i++) {
			ms *= 10;
			if (i <= n) {
				if (dot[i] < '0' || dot[i] > '9')
					goto bad;
				ms += (uint64_t)(dot[i] - '0');
			}
		}
	}
	ms += s * 1000;
	if (ms < key->min || ms > key->max)
		goto bad;
	*(unsigned *)(void *)((char *)ctx->conf + key->off) = (unsigned)ms;
	return 0;
bad:
	return conf_error(ctx, ctx->line, "[%s] %s must be a number of "
	    "seconds from 0.1 to 60 (up to three decimals), not \"%s\"",
	    key->section, key->name, SHOW(value));
}

static int MSS_WUR
conf_set_dir_host(struct conf_ctx *ctx, const struct conf_key *key,
    const char *value)
{
	if (!conf_host_ok(value, strlen(value)))
		return conf_error(ctx, ctx->line, "[%s] %s must be a host "
		    "name (letters, digits, '.', '-' and '_'), not \"%s\"",
		    key->section, key->name, SHOW(value));
	return conf_store_str(ctx, OFF(dir_host), value);
}

static char *
conf_trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
	    s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

/* Handles one line; *section is the current section, NULL before any. */
static int MSS_WUR
conf_line(struct conf_ctx *ctx, char *line, const char **section)
{
	char *s, *eq, *name, *value, *end;
	size_t i;

	s = conf_trim(line);
	if (*s == '\0' || *s == '#' || *s == ';')
		return 0;
	if (*s == '[') {
		end = s + strlen(s) - 1;
		if (*end != ']')
			return conf_error(ctx, ctx->line, "expected \"[section]\""
			    ", not \"%s\"", SHOW(s));
		*end = '\0';
		name = conf_trim(s + 1);
		for (i = 0; i < sizeof(conf_sections) /
		    sizeof(conf_sections[0]); i++) {
			if (strcmp(name, conf_sections[i]) == 0) {
				*section = conf_sections[i];
				if (strcmp(name, "directory") == 0 &&
				    ctx->dir_line == 0)
					ctx->dir_line = ctx->line;
				return 0;
			}
		}
		return conf_error(ctx, ctx->line, "unknown section [%s]; "
		    "known: [mfad], [code], [device], [password], [lockout], "
		    "[policy], [mail], [directory]", SHOW(name));
	}
	if ((eq = strchr(s, '=')) == NULL)
		return conf_error(ctx, ctx->line, "expected \"key = value\", "
		    "\"[section]\" or a comment, not \"%s\"", SHOW(s));
	*eq = '\0';
	name = conf_trim(s);
	value = conf_trim(eq + 1);
	if (*name == '\0')
		return conf_error(ctx, ctx->line, "missing key name before "
		    "'='");
	if (*section == NULL)
		return conf_error(ctx, ctx->line, "key \"%s\" comes before any "
		    "[section]", SHOW(name));
	for (i = 0; i < CONF_NKEYS; i++) {
		if (strcmp(conf_keys[i].section, *section) == 0 &&
		    strcmp(conf_keys[i].name, name) == 0)
			break;
	}
	if (i == CONF_NKEYS)
		return conf_error(ctx, ctx->line, "unknown key \"%s\" in [%s]",
		    SHOW(name), *section);
	if (ctx->lines[i] != 0)
		return conf_error(ctx, ctx->line, "[%s] %s is already set on "
		    "line %u", *section, conf_keys[i].name, ctx->lines[i]);
	ctx->lines[i] = ctx->line;
	/* Only reenroll_before has a meaning for "empty": no date. */
	if (*value == '\0' && conf_keys[i].set != conf_set_date)
		return conf_error(ctx, ctx->line, "[%s] %s must not be empty",
		    *section, conf_keys[i].name);
	return conf_keys[i].set(ctx, &conf_keys[i], value);
}

static unsigned
conf_key_line(const struct conf_ctx *ctx, const char *section,
    const char *name)
{
	size_t i;

	for (i = 0; i < CONF_NKEYS; i++) {
		if (strcmp(conf_keys[i].section, section) == 0 &&
		    strcmp(conf_keys[i].name, name) == 0)
			return ctx->lines[i];
	}
	return 0;
}

/*
 * Who must own the directory's secret files: the user mfad runs as, as
 * for [mail] auth_file (root reading the file for "mfad -t" or before it
 * drops to [mfad] user checks them against that user).
 */
static int MSS_WUR
conf_secret_owner(struct conf_ctx *ctx, uid_t *owner)
{
	int r;

	*owner = geteuid();
	if (ctx->conf->user == NULL || *owner != 0)
		return 0;
	if ((r = conf_lookup_user(ctx->conf->user, owner)) != 0)
		return conf_error(ctx, conf_key_line(ctx, "mfad", "user"),
		    "[mfad] user %s: cannot look it up", ctx->conf->user);
	return 0;
}

/*
 * [directory]: every key it needs, and its secret files readable by
 * mfad's user alone, checked now so that a mistake is named with its
 * line by "mfad -t" rather than found at the first login. [device] scope
 * = fleet needs the directory.
 */
static int MSS_WUR
conf_finish_dir(struct conf_ctx *ctx)
{
	static const char *const required[] = {
		"uri", "base", "bind_dn", "bind_pw_file", "key_file",
	};
	struct mfad_conf *conf = ctx->conf;
	char buf[MFAD_CONF_DIR_PW_MAX + 2], why[512];
	uint8_t key[MFAD_FLEET_KEY_LEN];
	size_t i, len;
	uid_t owner;
	int r;

	if (ctx->dir_line == 0) {
		if (conf->device_scope == MFAD_DEVICE_SCOPE_FLEET)
			return conf_error(ctx, conf_key_line(ctx, "device",
			    "scope"), "[device] scope = fleet needs a "
			    "[directory] section");
		return 0;
	}
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (conf_key_line(ctx, "directory", required[i]) == 0)
			return conf_error(ctx, ctx->dir_line, "[directory] "
			    "%s is required", required[i]);
	if ((r = conf_secret_owner(ctx, &owner)) != 0)
		return r;
	r = mfad_secret_read(conf->dir_bind_pw_file, owner,
	    "the user mfad runs as", buf, sizeof(buf), &len, why, sizeof(why));
	if (r == 0 && (len == 0 || len > MFAD_CONF_DIR_PW_MAX)) {
		snprintf(why, sizeof(why), "%s: must hold the password, at "
		    "most %d bytes", conf->dir_bind_pw_file, MFAD_CONF_DIR_PW_MAX);
		r = MSS_ERR_CONFIG;
	}
	sodium_memzero(buf, sizeof(buf));
	if (r != 0)
		return conf_error(ctx, conf_key_line(ctx, "directory",
		    "bind_pw_file"), "[directory] bind_pw_file: %s", why);
	r = mfad_keys_fleet_read(conf->dir_key_file, owner, key, why,
	    sizeof(why));
	sodium_memzero(key, sizeof(key));
	if (r != 0)
		return conf_error(ctx, conf_key_line(ctx, "directory",
		    "key_file"), "[directory] key_file: %s", why);
	if (!conf_host_ok(conf->dir_host, strlen(conf->dir_host)))
		return conf_error(ctx, ctx->dir_line, "this host's name "
		    "\"%s\" cannot be written to the directory: set "
		    "[directory] host", SHOW(conf->dir_host));
	return 0;
}

/* Checks between keys, once the whole file is read. */
static int MSS_WUR
conf_finish(struct conf_ctx *ctx)
{
	struct mfad_conf *conf = ctx->conf;
	unsigned lmin, lmax;

	/* PLAIN and LOGIN send the password as it is; libESMTP 1.1.0 as
	 * Debian packages it has no CRAM-MD5 (it looks for its plugin as
	 * sasl-cram-md5.so, which the package names sasl-crammd5.so), so
	 * without TLS the relay would see mfad's password or no AUTH at
	 * all, every mail refused. */
	if (conf->auth_file != NULL && conf->tls == MFAD_TLS_NONE)
		return conf_error(ctx, conf_key_line(ctx, "mail", "auth_file"),
		    "[mail] auth_file needs tls = starttls: mfad sends its "
		    "SMTP AUTH password only inside TLS");
	if (conf->pw_max_length < conf->pw_min_length) {
		lmin = conf_key_line(ctx, "password", "min_length");
		lmax = conf_key_line(ctx, "password", "max_length");
		return conf_error(ctx, lmin > lmax ? lmin : lmax,
		    "[password] max_length (%u) must be at least min_length "
		    "(%u)", conf->pw_max_length, conf->pw_min_length);
	}
	/* Presets first; an explicit opslimit or memlimit overrides one. */
	if (conf_key_line(ctx, "password", "opslimit") == 0 ||
	    conf_key_line(ctx, "password", "memlimit") == 0) {
		unsigned long long ops;
		size_t mem;

		switch (conf->pw_strength) {
		case MFAD_STRENGTH_MODERATE:
			ops = crypto_pwhash_OPSLIMIT_MODERATE;
			mem = crypto_pwhash_MEMLIMIT_MODERATE;
			break;
		case MFAD_STRENGTH_SENSITIVE:
			ops = crypto_pwhash_OPSLIMIT_SENSITIVE;
			mem = crypto_pwhash_MEMLIMIT_SENSITIVE;
			break;
		case MFAD_STRENGTH_INTERACTIVE:
		default:
			ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
			mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
			break;
		}
		if (conf_key_line(ctx, "password", "opslimit") == 0)
			conf->pw_opslimit = ops;
		if (conf_key_line(ctx, "password", "memlimit") == 0)
			conf->pw_memlimit = mem;
	}
	conf->pw_weak = conf->pw_memlimit < CONF_WEAK_MEMLIMIT ||
	    conf->pw_opslimit < CONF_WEAK_OPSLIMIT;
	return conf_finish_dir(ctx);
}

struct mfad_conf *
mfad_conf_new(void)
{
	struct mfad_conf *conf;
	char host[HOST_NAME_MAX + 1];
	char from[sizeof(host) + 8];

	if ((conf = calloc(1, sizeof(*conf))) == NULL)
		return NULL;
	/* The default sender is mfad@HOST when that is a mail address; on a
	 * host whose name has no domain it stays unset, and the check of the
	 * mail (mfad -t, start, reload) asks for [mail] from. */
	if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(from, sizeof(from), "mfad@%s", host);

	conf->map_size = 1ULL << 30;
	conf->audit_days = 90;
	conf->code_length = 6;
	conf->code_ttl = 300;
	conf->code_max_attempts = 5;
	conf->code_resend_interval = 30;
	conf->code_max_sends = 5;
	conf->remember_days = 30;
	conf->pw_min_length = 12;
	conf->pw_max_length = 256;
	conf->pw_strength = MFAD_STRENGTH_INTERACTIVE;
	conf->pw_impl = MFAD_PW_IMPL_AUTO;
	conf->pw_opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
	conf->pw_memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;
	conf->pw_weak = 0;
	conf->lock_threshold = 10;
	conf->lock_duration = 900;
	conf->reenroll_before = 0;
	conf->tls = MFAD_TLS_STARTTLS;
	conf->mail_max_per_minute = 600;
	conf->mail_connections = 16;
	conf->device_scope = MFAD_DEVICE_SCOPE_HOST;
	conf->dir_timeout_ms = 2000;
	if ((conf->socket = strdup(MSS_DEFAULT_SOCKET)) == NULL ||
	    (conf->database = strdup(LOCALSTATEDIR "/lib/mfad")) == NULL ||
	    (conf->smtp = strdup("localhost:25")) == NULL ||
	    (conf->smtp_host = strdup("localhost")) == NULL ||
	    (conf->smtp_port = strdup("25")) == NULL ||
	    (mss_email_valid(from) && (conf->from = strdup(from)) == NULL) ||
	    (conf->language = strdup("en")) == NULL ||
	    (conf->templates = strdup(PKGDATADIR "/templates")) == NULL ||
	    (conf->dir_host = strdup(host)) == NULL) {
		mfad_conf_free(conf);
		return NULL;
	}
	return conf;
}

void
mfad_conf_free(struct mfad_conf *conf)
{
	size_t i;

	if (conf == NULL)
		return;
	free(conf->path);
	free(conf->socket);
	free(conf->database);
	free(conf->user);
	free(conf->admin_group);
	free(conf->pam_uids);
	free(conf->pw_blocklist);
	free(conf->smtp);
	free(conf->smtp_host);
	free(conf->smtp_port);
	free(conf->ca_file);
	free(conf->auth_file);
	free(conf->from);
	free(conf->language);
	free(conf->templates);
	for (i = 0; i < conf->dir_nuris; i++)
		free(conf->dir_uris[i]);
	free(conf->dir_base);
	free(conf->dir_bind_dn);
	free(conf->dir_bind_pw_file);
	free(conf->dir_ca_file);
	free(conf->dir_key_file);
	free(conf->dir_host);
	free(conf);
}

int
mfad_conf_socket(const char *path, char *buf, size_t len, unsigned *linep)
{
	return mfad_conf_peek(path, "socket", buf, len, linep);
}

int
mfad_conf_peek(const char *path, const char *key, char *buf, size_t len,
    unsigned *linep)
{
	char *line = NULL, *s, *eq, *end;
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0;
	int in_mfad = 0, r = MSS_ERR_NOTFOUND, saved;
	FILE *fp;

	if ((fp = fopen(path, "re")) == NULL)
		return MSS_ERR_SYSTEM;
	errno = 0;
	while ((n = getline(&line, &cap, fp)) != -1) {
		lineno++;
		if (lineno == 1 && strncmp(line, "\xef\xbb\xbf", 3) == 0)
			memmove(line, line + 3, (size_t)n - 2);
		s = conf_trim(line);
		if (*s == '[') {
			end = s + strlen(s) - 1;
			if (*end == ']') {
				*end = '\0';
				in_mfad = strcmp(conf_trim(s + 1), "mfad") == 0;
			}
			continue;
		}
		if (!in_mfad || (eq = strchr(s, '=')) == NULL)
			continue;
		*eq = '\0';
		if (strcmp(conf_trim(s), key) != 0)
			continue;
		/* The first one counts, as mfad refuses a second. */
		s = conf_trim(eq + 1);
		*linep = lineno;
		r = (size_t)snprintf(buf, len, "%s", s) >= len ?
		    MSS_ERR_TOOBIG : 0;
		break;
	}
	saved = errno;
	if (r == MSS_ERR_NOTFOUND && ferror(fp)) {
		r = MSS_ERR_SYSTEM;
		saved = saved != 0 ? saved : EIO;
	}
	free(line);
	fclose(fp);
	errno = saved;
	return r;
}

int
mfad_conf_load(const char *path, struct mfad_conf **out, char *err,
    size_t errlen)
{
	struct conf_ctx ctx;
	const char *section = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *fp = NULL;
	int r = 0;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	memset(&ctx, 0, sizeof(ctx));
	ctx.path = path;
	ctx.err = err;
	ctx.errlen = errlen;

	if ((ctx.conf = mfad_conf_new()) == NULL ||
	    (ctx.conf->path = strdup(path)) == NULL) {
		r = conf_nomem(&ctx);
		goto out;
	}
	if ((fp = fopen(path, "re")) == NULL) {
		if (errlen > 0)
			snprintf(err, errlen, "%s: cannot open: %s", path,
			    strerror(errno));
		r = MSS_ERR_CONFIG;
		goto out;
	}
	errno = 0;
	while ((n = getline(&line, &cap, fp)) != -1) {
		ctx.line++;
		if (strlen(line) != (size_t)n) {
			r = conf_error(&ctx, ctx.line, "NUL byte in line");
			goto out;
		}
		if (n > CONF_MAX_LINE) {
			r = conf_error(&ctx, ctx.line, "line longer than %d "
			    "bytes", CONF_MAX_LINE);
			goto out;
		}
		/* A UTF-8 byte order mark some editors put first. */
		if (ctx.line == 1 && strncmp(line, "\xef\xbb\xbf", 3) == 0)
			memmove(line, line + 3, (size_t)n - 2);
		if ((r = conf_line(&ctx, line, &section)) != 0)
			goto out;
		errno = 0;
	}
	if (ferror(fp) || errno == ENOMEM) {
		if (errno == ENOMEM) {
			r = conf_nomem(&ctx);
		} else {
			if (errlen > 0)
				snprintf(err, errlen, "%s: cannot read: %s",
				    path, strerror(errno != 0 ? errno : EIO));
			r = MSS_ERR_CONFIG;
		}
		goto out;
	}
	if ((r = conf_finish(&ctx)) != 0)
		goto out;
	*out = ctx.conf;
	ctx.conf = NULL;
 out:
	free(line);
	if (fp != NULL)
		fclose(fp);
	mfad_conf_free(ctx.conf);
	return r;
}
