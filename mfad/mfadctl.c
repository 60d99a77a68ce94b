/*
 * mfadctl: the administration client of mfad.
 *
 * Each command is one row of a table (name, argument counts, handler,
 * request type, usage), as in smtpctl. Arguments are checked here before
 * anything is sent, so that a typo never reaches the daemon; mfad checks
 * them again and decides. Exit status is part of the interface (see
 * mfadctl(8)): 0 done, 1 refused or not found, 2 usage, 3 mfad (or, in
 * fleet mode, its directory) unreachable or answering nonsense, 4
 * permission denied.
 *
 * Output is either text for a person (aligned, control characters made
 * harmless) or, with --json, exactly one JSON value on stdout.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "mss_addr.h"
#include "mss_buf.h"
#include "mss_client.h"
#include "mss_err.h"
#include "mss_ident.h"
#include "mss_proto.h"
#include "mfad_conf.h"
#include "mfad_csv.h"
#include "mfadctl_client.h"
#include "mfadctl_out.h"

/* Smallest encodings, to bound a count before allocating for it. */
#define CTL_USER_REC_MIN \
	(4 * 4 + 1 + 8 + 8 + 4 + 8 + 8 + 4 + 4 + 8 + 8 + 4)
#define CTL_DEVICE_REC_MIN	(3 * 4 + 3 * 8)
#define CTL_AUDIT_REC_MIN	(8 + 6 * 4)

#define CTL_AUDIT_USER_MAX	64	/* what an audit record keeps */
#define CTL_AUDIT_LIMIT_DEF	100
#define CTL_AUDIT_LIMIT_MAX	100000
#define CTL_RECOVERY_DEF	10	/* recovery codes in a new set */

/* The account record of MSS_REP_USER and MSS_REP_USER_LIST. */
struct ctl_user {
	char		*user;
	char		*email;
	char		*masked;
	char		*lang;
	uint8_t		 state;
	uint64_t	 created;
	uint64_t	 enrolled;
	uint32_t	 failures;
	uint64_t	 locked_until;
	uint64_t	 last_login;
	uint32_t	 devices;
	uint32_t	 mails;		/* mailed in the last hour */
	uint64_t	 resend_until;	/* resend_interval wait, or 0 */
	uint64_t	 mails_until;	/* max_sends reached: until, or 0 */
	uint32_t	 recovery;	/* recovery codes left */
};

/* One record of MSS_REP_AUDIT_LIST; time in microseconds. */
struct ctl_audit {
	uint64_t	 time_us;
	char		*event;
	char		*user;
	char		*service;
	char		*rhost;
	char		*result;
	char		*detail;
};

/* Audit records as a table shows them. */
struct ctl_audit_rows {
	const struct ctl_audit *recs;
	size_t		 n;
};

/* One entry of MSS_REP_DEVICE_LIST. */
struct ctl_device {
	char		*id;
	char		*kind;
	char		*service;
	uint64_t	 created;
	uint64_t	 expires;
	uint64_t	 last_used;
};

static int ctl_status(struct ctl *, int, char **);
static int ctl_metrics(struct ctl *, int, char **);
static int ctl_user_add(struct ctl *, int, char **);
static int ctl_user_set(struct ctl *, int, char **);
static int ctl_user_simple(struct ctl *, int, char **);
static int ctl_user_show(struct ctl *, int, char **);
static int ctl_user_list(struct ctl *, int, char **);
static int ctl_user_recovery(struct ctl *, int, char **);
static int ctl_device_list(struct ctl *, int, char **);
static int ctl_device_revoke(struct ctl *, int, char **);
static int ctl_mail_test(struct ctl *, int, char **);
static int ctl_audit(struct ctl *, int, char **);
static int ctl_backup(struct ctl *, int, char **);
static int ctl_import(struct ctl *, int, char **);

static const struct ctl_cmd ctl_cmds[] = {
	{ "status", NULL, 0, 0, ctl_status, MSS_REQ_STATUS, "" },
	{ "metrics", NULL, 0, 0, ctl_metrics, MSS_REQ_METRICS, "" },
	{ "user", "add", 1, 6, ctl_user_add, MSS_REQ_USER_ADD,
	    "USER --email ADDR [--lang fr|en] [--password-stdin]" },
	{ "user", "set", 1, 5, ctl_user_set, MSS_REQ_USER_SET,
	    "USER [--email ADDR] [--lang fr|en]" },
	{ "user", "del", 1, 1, ctl_user_simple, MSS_REQ_USER_DEL, "USER" },
	{ "user", "show", 0, 1, ctl_user_show, MSS_REQ_USER_SHOW, "[USER]" },
	{ "user", "lock", 1, 1, ctl_user_simple, MSS_REQ_USER_LOCK, "USER" },
	{ "user", "unlock", 1, 1, ctl_user_simple, MSS_REQ_USER_UNLOCK,
	    "USER" },
	{ "user", "reenroll", 1, 1, ctl_user_simple, MSS_REQ_USER_REENROLL,
	    "USER" },
	{ "user", "disable", 1, 1, ctl_user_simple, MSS_REQ_USER_DISABLE,
	    "USER" },
	{ "user", "enable", 1, 1, ctl_user_simple, MSS_REQ_USER_ENABLE,
	    "USER" },
	{ "user", "recovery", 1, 3, ctl_user_recovery, MSS_REQ_USER_RECOVERY,
	    "USER [--count N] [--revoke]" },
	{ "user", "list", 0, 0, ctl_user_list, MSS_REQ_USER_LIST, "" },
	{ "device", "list", 0, 1, ctl_device_list, MSS_REQ_DEVICE_LIST,
	    "[USER]" },
	{ "device", "revoke", 1, 2, ctl_device_revoke, MSS_REQ_DEVICE_REVOKE,
	    "[USER] (ID | --all)" },
	{ "audit", NULL, 0, 6, ctl_audit, MSS_REQ_AUDIT,
	    "[--user USER] [--since TIME] [--limit N]" },
	{ "mail", "test", 1, 1, ctl_mail_test, MSS_REQ_MAIL_TEST, "ADDR" },
	{ "backup", NULL, 1, 1, ctl_backup, MSS_REQ_BACKUP, "DIR" },
	{ "import", NULL, 0, 1, ctl_import, MSS_REQ_USER_IMPORT,
	    "[FILE | -]" },
};
#define CTL_NCMDS	(sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

/*
 * Messages and usage.
 */

static void
ctl_usage(FILE *fp)
{
	size_t i;

	fputs("usage: mfadctl [-c FILE] [-s SOCKET] [--json] COMMAND ...\n"
	    "       mfadctl --version | --help\n"
	    "commands:\n", fp);
	for (i = 0; i < CTL_NCMDS; i++)
		fprintf(fp, "\t%s%s%s%s%s\n", ctl_cmds[i].group,
		    ctl_cmds[i].verb != NULL ? " " : "",
		    ctl_cmds[i].verb != NULL ? ctl_cmds[i].verb : "",
		    ctl_cmds[i].usage[0] != '\0' ? " " : "", ctl_cmds[i].usage);
}

/*
 * Local checks of arguments. mfad has the last word; these catch typos
 * before a round trip and keep odd bytes out of requests.
 */

/* Device ids come from "device list": printable, no spaces. */
static int
ctl_valid_id(const char *s)
{
	const unsigned char *p;
	size_t len = strlen(s);

	if (len == 0 || len > MSS_STR_MAX)
		return 0;
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

/*
 * Reply records.
 */

/* What mfad shows of a recovery code: lowercase letters, digits and
 * dashes, so that printing it cannot drive the terminal. */
static int
ctl_recovery_text(const char *s)
{
	if (*s == '\0' || strlen(s) > 64)
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		    *s == '-'))
			return 0;
	return 1;
}

static void
ctl_user_clear(struct ctl_user *u)
{
	mss_str_free(u->user);
	mss_str_free(u->email);
	mss_str_free(u->masked);
	mss_str_free(u->lang);
	memset(u, 0, sizeof(*u));
}

static int MSS_WUR
ctl_user_get(struct mss_buf *b, struct ctl_user *u)
{
	int r;

	memset(u, 0, sizeof(*u));
	if ((r = mss_buf_get_str(b, &u->user, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(b, &u->email, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(b, &u->masked, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(b, &u->lang, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_u8(b, &u->state)) != 0 ||
	    (r = mss_buf_get_u64(b, &u->created)) != 0 ||
	    (r = mss_buf_get_u64(b, &u->enrolled)) != 0 ||
	    (r = mss_buf_get_u32(b, &u->failures)) != 0 ||
	    (r = mss_buf_get_u64(b, &u->locked_until)) != 0 ||
	    (r = mss_buf_get_u64(b, &u->last_login)) != 0 ||
	    (r = mss_buf_get_u32(b, &u->devices)) != 0 ||
	    (r = mss_buf_get_u32(b, &u->mails)) != 0 ||
	    (r = mss_buf_get_u64(b, &u->resend_until)) != 0 ||
	    (r = mss_buf_get_u64(b, &u->mails_until)) != 0 ||
	    (r = mss_buf_get_u32(b, &u->recovery)) != 0) {
		ctl_user_clear(u);
		return r;
	}
	return 0;
}

static void
ctl_user_json(const struct ctl_user *u)
{
	char sbuf[16];
	int first = 1;

	putchar('{');
	ctl_json_kstr(&first, "user", u->user);
	ctl_json_kstr(&first, "email", u->email);
	ctl_json_kstr(&first, "masked", u->masked);
	ctl_json_kstr(&first, "lang", u->lang);
	ctl_json_kstr(&first, "state",
	    ctl_state_name(u->state, sbuf, sizeof(sbuf)));
	ctl_json_ktime(&first, "created", u->created);
	ctl_json_ktime(&first, "enrolled", u->enrolled);
	ctl_json_knum(&first, "failures", u->failures);
	ctl_json_ktime(&first, "locked_until", u->locked_until);
	ctl_json_ktime(&first, "last_login", u->last_login);
	ctl_json_knum(&first, "devices", u->devices);
	ctl_json_knum(&first, "mails_last_hour", u->mails);
	ctl_json_ktime(&first, "resend_until", u->resend_until);
	ctl_json_ktime(&first, "max_sends_until", u->mails_until);
	ctl_json_knum(&first, "recovery_codes", u->recovery);
	putchar('}');
}

static void
ctl_device_clear(struct ctl_device *d)
{
	mss_str_free(d->id);
	mss_str_free(d->kind);
	mss_str_free(d->service);
	memset(d, 0, sizeof(*d));
}

static int MSS_WUR
ctl_device_get(struct mss_buf *b, struct ctl_device *d)
{
	int r;

	memset(d, 0, sizeof(*d));
	if ((r = mss_buf_get_str(b, &d->id, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(b, &d->kind, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(b, &d->service, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_u64(b, &d->created)) != 0 ||
	    (r = mss_buf_get_u64(b, &d->expires)) != 0 ||
	    (r = mss_buf_get_u64(b, &d->last_used)) != 0) {
		ctl_device_clear(d);
		return r;
	}
	return 0;
}

/*
 * Commands.
 */

static int MSS_WUR
ctl_status(struct ctl *ctl, int argc, char **argv)
{
	struct mss_buf *req, *rep = NULL;
	char *version = NULL, *mailerr = NULL, *dir = NULL, *where = NULL;
	char buf[64], *p, *save;
	uint64_t uptime, accounts, outbox, oldest;
	int first = 1, ex, unknown, n;

	if ((req = mss_buf_new(MSS_MSG_MAX)) == NULL) {
		ctl_warnx(ctl, "%s", mss_strerror(MSS_ERR_NOMEM));
		return CTL_EXIT_REFUSED;
	}
	if ((ex = ctl_call(ctl, MSS_REQ_STATUS, req, MSS_REP_STATUS,
	    &rep)) != 0)
		goto out;
	if (mss_buf_get_str(rep, &version, MSS_STR_MAX) != 0 ||
	    mss_buf_get_u64(rep, &uptime) != 0 ||
	    mss_buf_get_u64(rep, &accounts) != 0 ||
	    mss_buf_get_u64(rep, &outbox) != 0 ||
	    mss_buf_get_u64(rep, &oldest) != 0 ||
	    mss_buf_get_str(rep, &mailerr, MSS_STR_MAX) != 0 ||
	    (mss_buf_avail(rep) > 0 &&
	    mss_buf_get_str(rep, &dir, MSS_STR_MAX) != 0) ||
	    (mss_buf_avail(rep) > 0 &&
	    mss_buf_get_str(rep, &where, MSS_STR_MAX) != 0) ||
	    mss_buf_end(rep) != 0) {
		ex = ctl_malformed(ctl);
		goto out;
	}
	/* Fleet mode: the directory's state, and no count without it. */
	unknown = dir != NULL && strcmp(dir, "unreachable") == 0;
	if (ctl->json) {
		putchar('{');
		ctl_json_kstr(&first, "version", version);
		ctl_json_knum(&first, "uptime", uptime);
		if (unknown) {
			ctl_json_key(&first, "accounts");
			fputs("null", stdout);
		} else
			ctl_json_knum(&first, "accounts", accounts);
		ctl_json_knum(&first, "outbox", outbox);
		ctl_json_knum(&first, "oldest", oldest);
		ctl_json_kstr_null(&first, "last_mail_error", mailerr);
		if (dir != NULL)
			ctl_json_kstr(&first, "directory", dir);
		/* Where: the provider that answered, or those tried (URIs
		 * hold no space). */
		if (dir != NULL && where != NULL && !unknown)
			ctl_json_kstr_null(&first, "directory_uri", where);
		else if (dir != NULL && where != NULL) {
			ctl_json_key(&first, "directory_uri");
			fputs("null", stdout);
			ctl_json_key(&first, "directory_tried");
			putchar('[');
			for (n = 0, p = strtok_r(where, " ", &save); p != NULL;
			    p = strtok_r(NULL, " ", &save), n++) {
				if (n > 0)
					putchar(',');
				ctl_json_str(p);
			}
			putchar(']');
		}
		puts("}");
		goto out;
	}
	fputs("version          ", stdout);
	ctl_text(stdout, version);
	printf("\nuptime           %s\n",
	    ctl_duration(uptime, buf, sizeof(buf)));
	if (unknown)
		printf("accounts         -\n");
	else
		printf("accounts         %" PRIu64 "\n", accounts);
	printf("outbox           %" PRIu64 "\n", outbox);
	printf("oldest           %s\n", outbox == 0 && oldest == 0 ? "-" :
	    ctl_duration(oldest, buf, sizeof(buf)));
	fputs("last mail error  ", stdout);
	ctl_text(stdout, mailerr[0] != '\0' ? mailerr : "-");
	putchar('\n');
	if (dir != NULL) {
		fputs("directory        ", stdout);
		ctl_text(stdout, dir);
		if (where != NULL && where[0] != '\0') {
			fputs(unknown ? " (tried " : " (", stdout);
			for (n = 0, p = strtok_r(where, " ", &save); p != NULL;
			    p = strtok_r(NULL, " ", &save), n++) {
				if (n > 0)
					fputs(", ", stdout);
				ctl_text(stdout, p);
			}
			putchar(')');
		}
		putchar('\n');
	}
out:
	mss_str_free(version);
	mss_str_free(mailerr);
	mss_str_free(dir);
	mss_str_free(where);
	mss_buf_free(req);
	mss_buf_free(rep);
	return ex;
}

/* ASCII letters, digits and '_', whatever the locale. */
static int
ctl_metric_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_';
}

/* A metric's name, and its label (key="value" or ""), as the Prometheus
 * text format allows them: nothing from mfad can start another line. */
static int
ctl_metric_ok(const char *name, const char *label)
{
	const char *p;

	if (name[0] == '\0' || (name[0] >= '0' && name[0] <= '9'))
		return 0;
	for (p = name; *p != '\0'; p++)
		if (!ctl_metric_char(*p))
			return 0;
	if (label[0] == '\0')
		return 1;
	for (p = label; *p != '\0' && *p != '='; p++)
		if (!ctl_metric_char(*p))
			return 0;
	if (p == label || strncmp(p, "=\"", 2) != 0)
		return 0;
	for (p += 2; *p != '\0' && *p != '"'; p++)
		if (!ctl_metric_char(*p))
			return 0;
	return p[0] == '"' && p[1] == '\0';
}

static const struct {
	const char	*name, *help;
} ctl_metric_help[] = {
	{ "mfad_events_total", "Audited events since mfad started, by event "
	    "(see mfad(8))." },
	{ "mfad_uptime_seconds", "Seconds since mfad started." },
	{ "mfad_accounts", "Accounts in the store." },
	{ "mfad_directory_up", "Fleet mode: 1 when the directory answers, "
	    "0 when it does not." },
	{ "mfad_outbox_mails", "Mails waiting in the outbox." },
	{ "mfad_outbox_oldest_seconds", "Age of the oldest mail waiting." },
	{ "mfad_worker_queue", "Requests waiting for a worker (password "
	    "hashing)." },
	{ "mfad_store_map_bytes", "Size of the store's map (map_size)." },
	{ "mfad_store_used_bytes", "Bytes of the map in use." },
};

/* Prometheus text format (node_exporter's textfile collector), or with
 * --json an array of {name, label, type, value}. */
static int MSS_WUR
ctl_metrics(struct ctl *ctl, int argc, char **argv)
{
	struct mss_buf *req, *rep = NULL;
	char *name = NULL, *label = NULL, last[128];
	uint32_t n, i;
	uint64_t val;
	uint8_t counter;
	size_t k;
	int first = 1, ex;

	(void)argc;
	(void)argv;
	last[0] = '\0';
	if ((req = mss_buf_new(MSS_MSG_MAX)) == NULL) {
		ctl_warnx(ctl, "%s", mss_strerror(MSS_ERR_NOMEM));
		return CTL_EXIT_REFUSED;
	}
	if ((ex = ctl_call(ctl, MSS_REQ_METRICS, req, MSS_REP_METRICS,
	    &rep)) != 0)
		goto out;
	if (mss_buf_get_u32(rep, &n) != 0) {
		ex = ctl_malformed(ctl);
		goto out;
	}
	if (ctl->json)
		putchar('[');
	for (i = 0; i < n; i++) {
		if (mss_buf_get_str(rep, &name, 100) != 0 ||
		    mss_buf_get_str(rep, &label, 100) != 0 ||
		    mss_buf_get_u8(rep, &counter) != 0 ||
		    mss_buf_get_u64(rep, &val) != 0 ||
		    !ctl_metric_ok(name, label)) {
			ex = ctl_malformed(ctl);
			goto out;
		}
		if (ctl->json) {
			if (i > 0)
				putchar(',');
			first = 1;
			putchar('{');
			ctl_json_kstr(&first, "name", name);
			ctl_json_kstr(&first, "label", label);
			ctl_json_kstr(&first, "type", counter ? "counter" :
			    "gauge");
			ctl_json_knum(&first, "value", val);
			putchar('}');
		} else {
			if (strcmp(name, last) != 0) {
				for (k = 0; k < sizeof(ctl_metric_help) /
				    sizeof(ctl_metric_help[0]); k++)
					if (strcmp(name,
					    ctl_metric_help[k].name) == 0)
						printf("# HELP %s %s\n", name,
						    ctl_metric_help[k].help);
				printf("# TYPE %s %s\n", name, counter ?
				    "counter" : "gauge");
				snprintf(last, sizeof(last), "%s", name);
			}
			printf("%s%s%s%s %" PRIu64 "\n", name,
			    label[0] ? "{" : "", label, label[0] ? "}" : "",
			    val);
		}
		mss_str_free(name);
		mss_str_free(label);
		name = label = NULL;
	}
	if (mss_buf_end(rep) != 0) {
		ex = ctl_malformed(ctl);
		goto out;
	}
	if (ctl->json)
		puts("]");
out:
	mss_str_free(name);
	mss_str_free(label);
	mss_buf_free(req);
	mss_buf_free(rep);
	return ex;
}

/*
 * Reads the first line of stdin into pass (size MSS_PASS_MAX + 1), one
 * byte at a time so that no copy is left in a stdio buffer. The newline
 * (and a CR before it) is not part of the password.
 */
static int MSS_WUR
ctl_read_password(struct ctl *ctl, char *pass)
{
	size_t len = 0;
	ssize_t n;
	char c;

	for (;;) {
		n = read(STDIN_FILENO, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ctl_warnx(ctl, "standard input: %s", strerror(errno));
			return CTL_EXIT_USAGE;
		}
		if (n == 0 || c == '\n')
			break;
		if (len == MSS_PASS_MAX) {
			ctl_warnx(ctl, "password longer than %d bytes",
			    MSS_PASS_MAX);
			return CTL_EXIT_USAGE;
		}
		pass[len++] = c;
	}
	c = '\0';
	if (len > 0 && pass[len - 1] == '\r')
		len--;
	pass[len] = '\0';
	if (len == 0) {
		ctl_warnx(ctl, "empty password on standard input");
		return CTL_EXIT_USAGE;
	}
	if (memchr(pass, '\0', len) != NULL) {
		ctl_warnx(ctl, "password contains a NUL byte");
		return CTL_EXIT_USAGE;
	}
	return CTL_EXIT_OK;
}

/* "fr" or "en" for any case of either (spreadsheets write "FR"), else
 * NULL. */
static const char *
ctl_lang(const char *s)
{
	if (strcasecmp(s, "fr") == 0)
		return "fr";
	if (strcasecmp(s, "en") == 0)
		return "en";
	return NULL;
}

/*
 * --email ADDR and --lang fr|en of `user add` and `user set`, at argv[*i]:
 * 0 when argv[*i] is neither, CTL_OPT_TAKEN when it was taken (and *i
 * moved to its value), or the usage exit status.
 */
#define CTL_OPT_TAKEN	(-1)
static int MSS_WUR
ctl_email_lang_opt(const struct ctl *ctl, int argc, char **argv, int *i,
    const char **email, const char **lang)
{
	const char **dst;

	if (strcmp(argv[*i], "--email") == 0)
		dst = email;
	else if (strcmp(argv[*i], "--lang") == 0)
		dst = lang;
	else
		return 0;
	if (*i + 1 == argc)
		return ctl_bad_usage(ctl, "%s needs a value", argv[*i]);
	if (*dst != NULL)
		return ctl_bad_usage(ctl, "%s given twice", argv[*i]);
	*dst = argv[++*i];
	return CTL_OPT_TAKEN;
}

/*
 * An address argument in the form mfad stores (mss_addr.h), into out:
 * a Unicode domain becomes its A-labels. A non-ASCII local part is an
 * address mfad would refuse, not a typo: its reason and exit status 1.
 * Anything else that is no address is a bad argument, as always.
 */
static int MSS_WUR
ctl_email_arg(const struct ctl *ctl, const char *in, char *out,
    size_t outlen)
{
	char why[MSS_ADDR_WHY_MAX];
	int r;

	if ((r = mss_addr_normalize(in, out, outlen, why, sizeof(why))) == 0)
		return CTL_EXIT_OK;
	if (r == MSS_ERR_INVAL)
		return ctl_bad_usage(ctl, "%s", why);
	ctl_warnx(ctl, "%s", r == MSS_ERR_REFUSED ? why : mss_strerror(r));
	return CTL_EXIT_REFUSED;
}

/* user set USER [--email ADDR] [--lang fr|en]: a new address mails a
 * notice to the old one and the new one (mfad does it). */
static int MSS_WUR
ctl_user_set(struct ctl *ctl, int argc, char **argv)
{
	const char *user = NULL, *email = NULL, *lang = NULL;
	char addr[MSS_EMAIL_MAX + 1];
	struct mss_buf *req = NULL;
	int i, ex;

	for (i = 0; i < argc; i++) {
		if ((ex = ctl_email_lang_opt(ctl, argc, argv, &i, &email,
		    &lang)) != 0) {
			if (ex != CTL_OPT_TAKEN)
				return ex;
		} else if (argv[i][0] == '-')
			return ctl_bad_usage(ctl, "unknown option %s",
			    argv[i]);
		else if (user != NULL)
			return ctl_bad_usage(ctl, "unexpected argument %s",
			    argv[i]);
		else
			user = argv[i];
	}
	if (user == NULL)
		return ctl_bad_usage(ctl, "missing USER");
	if (!mss_user_valid(user))
		return ctl_bad_usage(ctl, "invalid user name");
	if (email == NULL && lang == NULL)
		return ctl_bad_usage(ctl, "nothing to set: give --email "
		    "or --lang");
	if (email != NULL && (ex = ctl_email_arg(ctl, email, addr,
	    sizeof(addr))) != CTL_EXIT_OK)
		return ex;
	if (lang != NULL && (lang = ctl_lang(lang)) == NULL)
		return ctl_bad_usage(ctl, "--lang must be fr or en");
	if ((req = mss_buf_new(MSS_MSG_MAX)) == NULL ||
	    mss_buf_put_str(req, user) != 0 ||
	    mss_buf_put_str(req, email != NULL ? addr : "") != 0 ||
	    mss_buf_put_str(req, lang != NULL ? lang : "") != 0) {
		ctl_warnx(ctl, "%s", mss_strerror(MSS_ERR_NOMEM));
		mss_buf_free(req);
		return CTL_EXIT_REFUSED;
	}
	ex = ctl_call_result(ctl, MSS_REQ_USER_SET, req);
	mss_buf_free(req);
	return ex;
}

/* A name getpwnam does not know: only worth a warning, as mfad may
 * serve other hosts. */
static int
ctl_no_unix_user(const char *user)
{
	return getpwnam(user) == NULL;
}

static int MSS_WUR
ctl_user_add(struct ctl *ctl, int argc, char **argv)
{
	const char *user = NULL, *email = NULL, *lang = NULL;
	char pass[MSS_PASS_MAX + 1], addr[MSS_EMAIL_MAX + 1];
	struct mss_buf *req = NULL;
	int i, from_stdin = 0, ex;

	pass[0] = '\0';
	for (i = 0; i < argc; i++) {
		if ((ex = ctl_email_lang_opt(ctl, argc, argv, &i, &email,
		    &lang)) != 0) {
			if (ex != CTL_OPT_TAKEN)
				return ex;
		} else if (strcmp(argv[i], "--password-stdin") == 0) {
			if (from_stdin)
				return ctl_bad_usage(ctl, "%s given twice",
				    argv[i]);
			from_stdin = 1;
		} else if (argv[i][0] == '-')
			return ctl_bad_usage(ctl, "unknown option %s",
			    argv[i]);
		else if (user != NULL)
			return ctl_bad_usage(ctl, "unexpected argument %s",
			    argv[i]);
		else
			user = argv[i];
	}
	if (user == NULL)
		return ctl_bad_usage(ctl, "missing USER");
	if (!mss_user_valid(user))
		return ctl_bad_usage(ctl, "invalid user name (1 to %d of "
		    "A-Z a-z 0-9 . _ @ -, not starting with . - or @, not "
		    "only digits)", MSS_USER_MAX);
	if (email == NULL)
		return ctl_bad_usage(ctl, "missing --email");
	if ((ex = ctl_email_arg(ctl, email, addr, sizeof(addr))) !=
	    CTL_EXIT_OK)
		return ex;
	if (lang != NULL && (lang = ctl_lang(lang)) == NULL)
		return ctl_bad_usage(ctl, "--lang must be fr or en");

	if (from_stdin && (ex = ctl_read_password(ctl, pass)) != CTL_EXIT_OK)
		goto out;
	/* An empty password makes it an invitation. */
	if ((req = mss_buf_new(MSS_MSG_MAX)) == NULL ||
	    mss_buf_put_str(req, user) != 0 ||
	    mss_buf_put_str(req, addr) != 0 ||
	    mss_buf_put_str(req, lang != NULL ? lang : "") != 0 ||
	    mss_buf_put_str(req, pass) != 0) {
		ctl_warnx(ctl, "%s", mss_strerror(MSS_ERR_NOMEM));
		ex = CTL_EXIT_REFUSED;
		goto out;
	}
	sodium_memzero(pass, sizeof(pass));
	ex = ctl_call_result(ctl, MSS_REQ_USER_ADD, req);
	if (ex == CTL_EXIT_OK && ctl_no_unix_user(user))
		ctl_warnx(ctl, "warning: %s has no Unix account on this host",
		    user);
out:
	sodium_memzero(pass, sizeof(pass));
	mss_buf_free(req);
	return ex;
}

/* user del|lock|unlock|reenroll|disable|enable USER: the table gives the
 * request. */
static int MSS_WUR
ctl_user_simple(struct ctl *ctl, int argc, char **argv)
{
	struct mss_buf *req;
	int ex;

	if (!mss_user_valid(argv[0]))
		return ctl_bad_usage(ctl, "invalid user name");
	if ((ex = ctl_req_strs(ctl, &req, argv[0], NULL)) != 0)
		return ex;
	ex = ctl_call_result(ctl, ctl->cmd->type, req);
	mss_buf_free(req);
	return ex;
}

/*
 * The account an optional USER argument names: argv[0] when argc is 1,
 * else the caller's own (a plain user may see only that one). 0, or the
 * usage exit status.
 */
static int MSS_WUR
ctl_user_arg(const struct ctl *ctl, int argc, char **argv, const char **user)
{
	static char self[MSS_USER_MAX + 1];
	struct passwd *pw;

	if (argc > 0) {
		if (!mss_user_valid(argv[0]))
			return ctl_bad_usage(ctl, "invalid user name");
		*user = argv[0];
		return 0;
	}
	if ((pw = getpwuid(getuid())) == NULL || !mss_user_valid(pw->pw_name) ||
	    strlen(pw->pw_name) >= sizeof(self)) {
		ctl_warnx(ctl, "no user name for uid %u: give USER",
		    (unsigned)getuid());
		return CTL_EXIT_USAGE;
	}
	snprintf(self, sizeof(self), "%s", pw->pw_name);
	*user = self;
	return 0;
}

static int MSS_WUR
ctl_user_show(struct ctl *ctl, int argc, char **argv)
{
	struct mss_buf *req, *rep = NULL;
	struct ctl_user u;
	char buf[64], sbuf[16], disp[MSS_STR_MAX + 1];
	const char *user;
	int ex;

	memset(&u, 0, sizeof(u));
	if ((ex = ctl_user_arg(ctl, argc, argv, &user)) != 0)
		return ex;
	if ((ex = ctl_req_strs(ctl, &req, user, NULL)) != 0)
		return ex;
	if ((ex = ctl_call(ctl, MSS_REQ_USER_SHOW, req, MSS_REP_USER,
	    &rep)) != 0)
		goto out;
	if (ctl_user_get(rep, &u) != 0 || mss_buf_end(rep) != 0) {
		ex = ctl_malformed(ctl);
		goto out;
	}
	if (ctl->json) {
		ctl_user_json(&u);
		putchar('\n');
		goto out;
	}
	fputs("user          ", stdout);
	ctl_text(stdout, u.user);
	fputs("\nemail         ", stdout);
	ctl_text(stdout, u.email);
	/* The stored A-labels are what mail goes to; the Unicode form is
	 * what its owner would recognise. */
	mss_addr_display(u.email, disp, sizeof(disp));
	if (strcmp(disp, u.email) != 0) {
		fputs(" (", stdout);
		ctl_text(stdout, disp);
		putchar(')');
	}
	fputs("\nmasked        ", stdout);
	ctl_text(stdout, u.masked);
	fputs("\nlang          ", stdout);
	ctl_text(stdout, u.lang[0] != '\0' ? u.lang : "-");
	printf("\nstate         %s\n",
	    ctl_state_name(u.state, sbuf, sizeof(sbuf)));
	printf("created       %s\n", ctl_time(u.created, buf, sizeof(buf)));
	printf("enrolled      %s\n", ctl_time(u.enrolled, buf, sizeof(buf)));
	printf("failures      %" PRIu32 "\n", u.failures);
	/* An admin lock has no end of its own: say what ends it. */
	if (u.state == MSS_ACCT_LOCKED &&
	    u.locked_until <= (uint64_t)time(NULL))
		printf("locked until  unlocked (user unlock)\n");
	else
		printf("locked until  %s\n",
		    ctl_time(u.locked_until, buf, sizeof(buf)));
	printf("last login    %s\n", ctl_time(u.last_login, buf, sizeof(buf)));
	printf("devices       %" PRIu32 "\n", u.devices);
	printf("mails (1 h)   %" PRIu32 "\n", u.mails);
	printf("resend after  %s\n",
	    ctl_time(u.resend_until, buf, sizeof(buf)));
	printf("mail limit    %s\n",
	    ctl_time(u.mails_until, buf, sizeof(buf)));
	printf("recovery      %" PRIu32 " left\n", u.recovery);
out:
	ctl_user_clear(&u);
	mss_buf_free(req);
	mss_buf_free(rep);
	return ex;
}

/*
 * user recovery USER [--count N] | --revoke: a new set, printed once
 * (the reply buffer is wiped when freed), or none.
 */
static int MSS_WUR
ctl_user_recovery(struct ctl *ctl, int argc, char **argv)
{
	struct mss_buf *req = NULL, *rep = NULL;
	const char *user = NULL, *count = NULL;
	char *code = NULL, *end;
	unsigned long long v = CTL_RECOVERY_DEF;
	uint32_t n, i;
	int ex, revoke = 0;

	for (i = 0; i < (uint32_t)argc; i++) {
		if (strcmp(argv[i], "--revoke") == 0) {
			if (revoke)
				return ctl_bad_usage(ctl, "--revoke given "
				    "twice");
			revoke = 1;
		} else if (strcmp(argv[i], "--count") == 0) {
			if (i + 1 == (uint32_t)argc)
				return ctl_bad_usage(ctl, "--count needs a "
				    "value");
			if (count != NULL)
				return ctl_bad_usage(ctl, "--count given "
				    "twice");
			count = argv[++i];
		} else if (argv[i][0] == '-')
			return ctl_bad_usage(ctl, "unknown option %s",
			    argv[i]);
		else if (user != NULL)
			return ctl_bad_usage(ctl, "unexpected argument %s",
			    argv[i]);
		else
			user = argv[i];
	}
	if (user == NULL)
		return ctl_bad_usage(ctl, "missing USER");
	if (!mss_user_valid(user))
		return ctl_bad_usage(ctl, "invalid user name");
	if (revoke && count != NULL)
		return ctl_bad_usage(ctl, "--count and --revoke exclude each "
		    "other");
	if (count != NULL) {
		errno = 0;
		v = strtoull(count, &end, 10);
		if (count[0] < '0' || count[0] > '9' || *end != '\0' ||
		    errno != 0 || v < 1 || v > MSS_RECOVERY_MAX)
			return ctl_bad_usage(ctl, "--count must be a number "
			    "from 1 to %d", MSS_RECOVERY_MAX);
	}
	if ((ex = ctl_req_strs(ctl, &req, user, NULL)) != 0)
		return ex;
	if (mss_buf_put_u32(req, revoke ? 0 : (uint32_t)v) != 0) {
		ctl_warnx(ctl, "%s", mss_strerror(MSS_ERR_NOMEM));
		ex = CTL_EXIT_REFUSED;
		goto out;
	}
	if (revoke) {
		ex = ctl_call_result(ctl, MSS_REQ_USER_RECOVERY, req);
		goto out;
	}
	if ((ex = ctl_call(ctl, MSS_REQ_USER_RECOVERY, req, MSS_REP_RECOVERY,
	    &rep)) != 0)
		goto out;
	/* Check the whole answer before printing any of it. */
	if (mss_buf_get_u32(rep, &n) != 0 || n != v) {
		ex = ctl_malformed(ctl);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (mss_buf_get_str(rep, &code, MSS_STR_MAX) != 0 ||
		    !ctl_recovery_text(code)) {
			ex = ctl_malformed(ctl);
			goto out;
		}
		mss_str_free(code);
		code = NULL;
	}
	if (mss_buf_end(rep) != 0) {
		ex = ctl_malformed(ctl);
		goto out;
	}
	rep->off = 0;
	if (mss_buf_get_u32(rep, &n) != 0) {
		ex = ctl_malformed(ctl);
		goto out;
	}
	if (ctl->json) {
		int first = 1;

		putchar('{');
		ctl_json_kstr(&first, "user", user);
		ctl_json_key(&first, "codes");
		putchar('[');
	}
	for (i = 0; i < n; i++) {
		if (mss_buf_get_str(rep, &code, MSS_STR_MAX) != 0)
			break;
		if (ctl->json) {
			if (i > 0)
				putchar(',');
			ctl_json_str(code);
		} else
			printf("%s\n", code);
		mss_str_free(code);
		code = NULL;
	}
	if (ctl->json)
		puts("]}");
	fflush(stdout);
out:
	mss_str_free(code);
	mss_buf_free(req);
	mss_buf_free(rep);
	return ex;
}

static const char *
ctl_user_cell(const void *arg, size_t row, size_t col, char *buf, size_t len)
{
	const struct ctl_user *u = (const struct ctl_user *)arg + row;

	switch (col) {
	case 0:
		return u->user;
	case 1:
		return u->email;
	case 2:
		return ctl_state_name(u->state, buf, len);
	case 3:
		return ctl_dash(u->lang);
	case 4:
		snprintf(buf, len, "%" PRIu32, u->devices);
		return buf;
	default:
		return ctl_time(u->last_login, buf, len);
	}
}

static void
ctl_user_table(const struct ctl_user *users, size_t n)
{
	static const char *const head[] = {
		"USER", "EMAIL", "STATE", "LANG", "DEVICES", "LAST-LOGIN",
	};

	ctl_table(head, 6, n, ctl_user_cell, users);
}

static void
ctl_user_clear_rec(void *rec)
{
	ctl_user_clear(rec);
}

static int MSS_WUR
ctl_user_get_rec(struct mss_buf *rep, void *rec)
{
	return ctl_user_get(rep, rec);
}

/* Each request names the last user of the page before. */
static int MSS_WUR
ctl_user_list_req(struct mss_buf *req, const void *last, size_t left,
    void *arg)
{
	const struct ctl_user *u = last;

	return mss_buf_put_str(req, u != NULL ? u->user : "");
}

/* Names come in increasing byte order, as LMDB keeps them. */
static int
ctl_user_list_advances(const void *prev, const void *last, void *arg)
{
	const struct ctl_user *p = prev, *l = last;

	return strcmp(l->user, p != NULL ? p->user : "") > 0;
}

static const struct ctl_pager ctl_user_pager = {
	MSS_REQ_USER_LIST, MSS_REP_USER_LIST, sizeof(struct ctl_user),
	CTL_USER_REC_MIN, SIZE_MAX, ctl_user_list_req, ctl_user_get_rec,
	NULL, ctl_user_list_advances, ctl_user_clear_rec,
};

/* user list: every page of MSS_REP_USER_LIST. */
static int MSS_WUR
ctl_user_list(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_user *users;
	void *recs;
	size_t nusers, i;
	int ex;

	if ((ex = ctl_fetch_pages(ctl, &ctl_user_pager, NULL, &recs,
	    &nusers)) != 0)
		return ex;
	users = recs;
	if (ctl->json) {
		putchar('[');
		for (i = 0; i < nusers; i++) {
			if (i > 0)
				putchar(',');
			ctl_user_json(&users[i]);
		}
		puts("]");
	} else
		ctl_user_table(users, nusers);
	ctl_pages_free(&ctl_user_pager, recs, nusers);
	return CTL_EXIT_OK;
}

static const char *
ctl_device_cell(const void *arg, size_t row, size_t col, char *buf,
    size_t len)
{
	const struct ctl_device *d = (const struct ctl_device *)arg + row;

	switch (col) {
	case 0:
		return d->id;
	case 1:
		return d->kind;
	case 2:
		return ctl_dash(d->service);
	case 3:
		return ctl_time(d->created, buf, len);
	case 4:
		return ctl_time(d->expires, buf, len);
	default:
		return ctl_time(d->last_used, buf, len);
	}
}

static void
ctl_device_table(const struct ctl_device *devs, size_t n)
{
	static const char *const head[] = {
		"ID", "KIND", "SERVICE", "CREATED", "EXPIRES", "LAST-USED",
	};

	ctl_table(head, 6, n, ctl_device_cell, devs);
}

static void
ctl_device_clear_rec(void *rec)
{
	ctl_device_clear(rec);
}

static int MSS_WUR
ctl_device_get_rec(struct mss_buf *rep, void *rec)
{
	return ctl_device_get(rep, rec);
}

/* Each request names the user (empty: all) and the last id of the page
 * before. */
static int MSS_WUR
ctl_device_list_req(struct mss_buf *req, const void *last, size_t left,
    void *arg)
{
	const struct ctl_device *d = last;
	int r;

	if ((r = mss_buf_put_str(req, arg)) != 0)
		return r;
	return mss_buf_put_str(req, d != NULL ? d->id : "");
}

/* Ids come in increasing order, as mfad keeps them. */
static int
ctl_device_list_advances(const void *prev, const void *last, void *arg)
{
	const struct ctl_device *p = prev, *l = last;

	return strcmp(l->id, p != NULL ? p->id : "") > 0;
}

static const struct ctl_pager ctl_device_pager = {
	MSS_REQ_DEVICE_LIST, MSS_REP_DEVICE_LIST, sizeof(struct ctl_device),
	CTL_DEVICE_REC_MIN, SIZE_MAX, ctl_device_list_req,
	ctl_device_get_rec, NULL, ctl_device_list_advances,
	ctl_device_clear_rec,
};

/* device list [USER]: every page of MSS_REP_DEVICE_LIST. */
static int MSS_WUR
ctl_device_list(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_device *devs;
	const char *user;
	void *recs;
	size_t ndevs, i;
	int first, ex;

	if ((ex = ctl_user_arg(ctl, argc, argv, &user)) != 0)
		return ex;
	if ((ex = ctl_fetch_pages(ctl, &ctl_device_pager, (void *)user,
	    &recs, &ndevs)) != 0)
		return ex;
	devs = recs;
	if (!ctl->json) {
		ctl_device_table(devs, ndevs);
		goto out;
	}
	putchar('[');
	for (i = 0; i < ndevs; i++) {
		first = 1;
		fputs(i > 0 ? ",{" : "{", stdout);
		ctl_json_kstr(&first, "id", devs[i].id);
		ctl_json_kstr(&first, "kind", devs[i].kind);
		ctl_json_kstr(&first, "service", devs[i].service);
		ctl_json_ktime(&first, "created", devs[i].created);
		ctl_json_ktime(&first, "expires", devs[i].expires);
		ctl_json_ktime(&first, "last_used", devs[i].last_used);
		putchar('}');
	}
	puts("]");
out:
	ctl_pages_free(&ctl_device_pager, recs, ndevs);
	return CTL_EXIT_OK;
}

/* device revoke [USER] (ID | --all); --all travels as the empty id, so
 * an empty ID argument is refused rather than taken for "all". */
static int MSS_WUR
ctl_device_revoke(struct ctl *ctl, int argc, char **argv)
{
	struct mss_buf *req;
	const char *id, *user;
	int ex;

	if ((ex = ctl_user_arg(ctl, argc - 1, argv, &user)) != 0)
		return ex;
	id = argv[argc - 1];
	if (strcmp(id, "--all") == 0)
		id = "";
	else if (id[0] == '-')
		return ctl_bad_usage(ctl, "unknown option %s", id);
	else if (!ctl_valid_id(id))
		return ctl_bad_usage(ctl, "invalid device id");
	if ((ex = ctl_req_strs(ctl, &req, user, id)) != 0)
		return ex;
	ex = ctl_call_result(ctl, MSS_REQ_DEVICE_REVOKE, req);
	mss_buf_free(req);
	return ex;
}

static int MSS_WUR
ctl_mail_test(struct ctl *ctl, int argc, char **argv)
{
	struct mss_buf *req;
	char addr[MSS_EMAIL_MAX + 1];
	int ex;

	if ((ex = ctl_email_arg(ctl, argv[0], addr, sizeof(addr))) !=
	    CTL_EXIT_OK)
		return ex;
	if ((ex = ctl_req_strs(ctl, &req, addr, NULL)) != 0)
		return ex;
	ex = ctl_call_result(ctl, MSS_REQ_MAIL_TEST, req);
	mss_buf_free(req);
	return ex;
}

/*
 * audit [--user USER] [--since TIME] [--limit N]
 */

static void
ctl_audit_clear(struct ctl_audit *a)
{
	mss_str_free(a->event);
	mss_str_free(a->user);
	mss_str_free(a->service);
	mss_str_free(a->rhost);
	mss_str_free(a->result);
	mss_str_free(a->detail);
	memset(a, 0, sizeof(*a));
}

static int MSS_WUR
ctl_audit_get(struct mss_buf *b, struct ctl_audit *a)
{
	int r;

	memset(a, 0, sizeof(*a));
	if ((r = mss_buf_get_u64(b, &a->time_us)) != 0 ||
	    (r = mss_buf_get_str(b, &a->event, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(b, &a->user, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(b, &a->service, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(b, &a->rhost, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(b, &a->result, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(b, &a->detail, MSS_STR_MAX)) != 0) {
		ctl_audit_clear(a);
		return r;
	}
	return 0;
}

/* A user name to look for: audit records also keep names that are not
 * valid accounts (a mistyped login), so any printable word will do. */
static int
ctl_valid_audit_user(const char *s)
{
	return strlen(s) <= CTL_AUDIT_USER_MAX && ctl_valid_id(s);
}

/* Reads exactly n digits at *sp into *v and moves past them. */
static int MSS_WUR
ctl_digits(const char **sp, int n, int *v)
{
	const char *s = *sp;
	int i, x = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		x = x * 10 + (s[i] - '0');
	}
	*sp = s + n;
	*v = x;
	return 0;
}

/*
 * TIME for --since, into seconds since the epoch: YYYY-MM-DD (midnight),
 * YYYY-MM-DDTHH:MM[:SS][Z], both UTC, or Ns, Nm, Nh, Nd ago. A time
 * before the epoch is 0, which is no bound at all.
 */
static int MSS_WUR
ctl_parse_time(const char *s, time_t now, uint64_t *secs)
{
	struct tm tm, chk;
	const char *p = s;
	uint64_t n = 0, unit;
	time_t t;
	int y, mo, d, h = 0, mi = 0, sec = 0;

	while (*p >= '0' && *p <= '9') {
		if (n > UINT64_MAX / 10 - 1)
			return -1;
		n = n * 10 + (uint64_t)(*p++ - '0');
	}
	if (p != s && p[0] != '\0' && p[1] == '\0' &&
	    strchr("smhd", p[0]) != NULL) {
		unit = p[0] == 's' ? 1 : p[0] == 'm' ? 60 : p[0] == 'h' ?
		    3600 : 86400;
		if (now <= 0 || n > (uint64_t)now / unit)
			*secs = 0;
		else
			*secs = (uint64_t)now - n * unit;
		return 0;
	}
	p = s;
	if (ctl_digits(&p, 4, &y) != 0 || *p++ != '-' ||
	    ctl_digits(&p, 2, &mo) != 0 || *p++ != '-' ||
	    ctl_digits(&p, 2, &d) != 0)
		return -1;
	if (*p == 'T') {
		p++;
		if (ctl_digits(&p, 2, &h) != 0 || *p++ != ':' ||
		    ctl_digits(&p, 2, &mi) != 0)
			return -1;
		if (*p == ':') {
			p++;
			if (ctl_digits(&p, 2, &sec) != 0)
				return -1;
		}
		if (*p == 'Z')
			p++;
	}
	if (*p != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 ||
	    d > 31 || h > 23 || mi > 59 || sec > 59)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	/* timegm carries 31 February into March: refuse such dates. */
	if ((t = timegm(&tm)) == (time_t)-1 || t < 0 ||
	    gmtime_r(&t, &chk) == NULL || chk.tm_mday != d ||
	    chk.tm_mon != mo - 1)
		return -1;
	*secs = (uint64_t)t;
	return 0;
}

/* Records are newest first in recs; the table lists the oldest first. */
static const char *
ctl_audit_cell(const void *arg, size_t row, size_t col, char *buf,
    size_t len)
{
	const struct ctl_audit_rows *t = arg;
	const struct ctl_audit *a = &t->recs[t->n - 1 - row];

	switch (col) {
	case 0:
		return ctl_time(a->time_us / 1000000, buf, len);
	case 1:
		return ctl_dash(a->event);
	case 2:
		return ctl_dash(a->user);
	case 3:
		return ctl_dash(a->service);
	case 4:
		return ctl_dash(a->rhost);
	case 5:
		return ctl_dash(a->result);
	default:
		return ctl_dash(a->detail);
	}
}

static void
ctl_audit_table(const struct ctl_audit *recs, size_t n)
{
	static const char *const head[] = {
		"TIME", "EVENT", "USER", "SERVICE", "RHOST", "RESULT", "DETAIL",
	};
	struct ctl_audit_rows t = { recs, n };

	ctl_table(head, 7, n, ctl_audit_cell, &t);
}

static void
ctl_audit_json(const struct ctl_audit *recs, size_t n)
{
	size_t i;
	int first;

	putchar('[');
	for (i = n; i-- > 0;) {
		first = 1;
		fputs(i + 1 < n ? ",{" : "{", stdout);
		ctl_json_ktime(&first, "time", recs[i].time_us / 1000000);
		ctl_json_kstr(&first, "event", recs[i].event);
		ctl_json_kstr(&first, "user", recs[i].user);
		ctl_json_kstr(&first, "service", recs[i].service);
		ctl_json_kstr(&first, "rhost", recs[i].rhost);
		ctl_json_kstr(&first, "result", recs[i].result);
		ctl_json_kstr(&first, "detail", recs[i].detail);
		putchar('}');
	}
	puts("]");
}

/*
 * Pages of MSS_REP_AUDIT_LIST, newest first, each request asking for
 * what is older than the oldest record so far, until mfad has no more
 * or the limit is reached. Times must go down, so a confused daemon
 * cannot keep us looping.
 */
struct ctl_audit_query {
	const char	*user;		/* "": everyone's */
	uint64_t	 since_us;
	uint64_t	 before_us;	/* the page before ended there; 0 */
};

static void
ctl_audit_clear_rec(void *rec)
{
	ctl_audit_clear(rec);
}

static int MSS_WUR
ctl_audit_get_rec(struct mss_buf *rep, void *rec)
{
	return ctl_audit_get(rep, rec);
}

static int MSS_WUR
ctl_audit_req(struct mss_buf *req, const void *last, size_t left, void *arg)
{
	const struct ctl_audit *l = last;
	struct ctl_audit_query *q = arg;
	int r;

	q->before_us = l != NULL ? l->time_us : 0;
	if ((r = mss_buf_put_str(req, q->user)) != 0 ||
	    (r = mss_buf_put_u64(req, q->since_us)) != 0 ||
	    (r = mss_buf_put_u64(req, q->before_us)) != 0 ||
	    (r = mss_buf_put_u32(req, (uint32_t)left)) != 0)
		return r;
	return 0;
}

/* Newest first, inside the bounds asked for. */
static int
ctl_audit_follows(const void *prev, const void *rec, void *arg)
{
	const struct ctl_audit *p = prev, *a = rec;
	const struct ctl_audit_query *q = arg;

	return a->time_us <= (p != NULL ? p->time_us : UINT64_MAX) &&
	    a->time_us >= q->since_us &&
	    (q->before_us == 0 || a->time_us < q->before_us);
}

/* The next page asks for what is older than last: 0 would mean none. */
static int
ctl_audit_advances(const void *prev, const void *last, void *arg)
{
	const struct ctl_audit *l = last;

	return l->time_us != 0;
}

static const struct ctl_pager ctl_audit_pager = {
	MSS_REQ_AUDIT, MSS_REP_AUDIT_LIST, sizeof(struct ctl_audit),
	CTL_AUDIT_REC_MIN, CTL_AUDIT_LIMIT_DEF, ctl_audit_req,
	ctl_audit_get_rec, ctl_audit_follows, ctl_audit_advances,
	ctl_audit_clear_rec,
};

static int MSS_WUR
ctl_audit(struct ctl *ctl, int argc, char **argv)
{
	const char *user = NULL, *since = NULL, *limit = NULL, **opt;
	struct ctl_audit_query q;
	struct ctl_pager pg;
	struct ctl_audit *recs;
	void *v_recs;
	uint64_t since_us = 0, secs;
	size_t nrecs, i, want = CTL_AUDIT_LIMIT_DEF;
	char *end;
	unsigned long long v;
	int ex;

	for (i = 0; i < (size_t)argc; i++) {
		if (strcmp(argv[i], "--user") == 0)
			opt = &user;
		else if (strcmp(argv[i], "--since") == 0)
			opt = &since;
		else if (strcmp(argv[i], "--limit") == 0)
			opt = &limit;
		else if (argv[i][0] == '-')
			return ctl_bad_usage(ctl, "unknown option %s",
			    argv[i]);
		else
			return ctl_bad_usage(ctl, "unexpected argument %s",
			    argv[i]);
		if (i + 1 == (size_t)argc)
			return ctl_bad_usage(ctl, "%s needs a value",
			    argv[i]);
		if (*opt != NULL)
			return ctl_bad_usage(ctl, "%s given twice", argv[i]);
		*opt = argv[++i];
	}
	if (user != NULL && !ctl_valid_audit_user(user))
		return ctl_bad_usage(ctl, "invalid user name");
	if (since != NULL) {
		if (ctl_parse_time(since, time(NULL), &secs) != 0)
			return ctl_bad_usage(ctl, "invalid TIME %s "
			    "(YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS][Z] in UTC, "
			    "or Ns, Nm, Nh, Nd ago)", since);
		if (secs > UINT64_MAX / 1000000)
			return ctl_bad_usage(ctl, "TIME out of range");
		since_us = secs * 1000000;
	}
	if (limit != NULL) {
		errno = 0;
		v = strtoull(limit, &end, 10);
		if (limit[0] < '0' || limit[0] > '9' || *end != '\0' ||
		    errno != 0 || v < 1 || v > CTL_AUDIT_LIMIT_MAX)
			return ctl_bad_usage(ctl, "--limit must be a number "
			    "from 1 to %d", CTL_AUDIT_LIMIT_MAX);
		want = (size_t)v;
	}

	q.user = user != NULL ? user : "";
	q.since_us = since_us;
	q.before_us = 0;
	pg = ctl_audit_pager;
	pg.limit = want;
	if ((ex = ctl_fetch_pages(ctl, &pg, &q, &v_recs, &nrecs)) != 0)
		return ex;
	recs = v_recs;
	if (ctl->json)
		ctl_audit_json(recs, nrecs);
	else
		ctl_audit_table(recs, nrecs);
	ctl_pages_free(&pg, v_recs, nrecs);
	return CTL_EXIT_OK;
}

/*
 * backup DIR: mfadctl makes DIR (0700) when it does not exist, creates
 * DIR/data.mdb and DIR/mfad.key itself (O_EXCL, 0600) and hands them to
 * mfad, which writes the copy into them. So a backup goes wherever the
 * admin may write, whatever mfad's user or sandbox. DIR must belong to
 * root or to the caller and be writable by nobody else: the copy is
 * restored from there as the store. On any failure the files (and a DIR
 * made here) are removed.
 */
#define CTL_BACKUP_TIMEOUT_MS	(30 * 60 * 1000)	/* compacting a big store */

static int MSS_WUR
ctl_backup_errno(struct ctl *ctl, const char *what, int err)
{
	ctl_warnx(ctl, "%s: %s", what, strerror(err));
	return err == EACCES || err == EPERM || err == EROFS ?
	    CTL_EXIT_PERM : CTL_EXIT_REFUSED;
}

static int MSS_WUR
ctl_backup(struct ctl *ctl, int argc, char **argv)
{
	static const char *const names[MSS_BACKUP_FDS] = { "data.mdb",
	    "mfad.key" };
	struct mss_buf *req = NULL, *rep = NULL;
	struct stat sb;
	char *dir = NULL, path[PATH_MAX];
	int fds[MSS_BACKUP_FDS], made[MSS_BACKUP_FDS] = { 0, 0 };
	int dfd = -1, mkd = 0, ex, i;

	for (i = 0; i < MSS_BACKUP_FDS; i++)
		fds[i] = -1;
	if (argv[0][0] == '\0')
		return ctl_bad_usage(ctl, "empty DIR");
	if (argv[0][0] == '-')
		return ctl_bad_usage(ctl, "unknown option %s", argv[0]);
	/* Usage and the socket first: nothing is made for a call that
	 * cannot be sent. */
	if ((ex = ctl_resolve_socket(ctl)) != CTL_EXIT_OK)
		return ex;
	if (mkdir(argv[0], 0700) == 0)
		mkd = 1;
	else if (errno != EEXIST)
		return ctl_backup_errno(ctl, argv[0], errno);
	if ((dir = realpath(argv[0], NULL)) == NULL) {
		ex = ctl_backup_errno(ctl, argv[0], errno);
		goto out;
	}
	if (strlen(dir) > MSS_STR_MAX) {
		ctl_warnx(ctl, "DIR longer than %d bytes", MSS_STR_MAX);
		ex = CTL_EXIT_USAGE;
		goto out;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		ex = ctl_backup_errno(ctl, dir, errno);
		goto out;
	}
	if (fstat(dfd, &sb) != 0) {
		ex = ctl_backup_errno(ctl, dir, errno);
		goto out;
	}
	if (sb.st_uid != 0 && sb.st_uid != geteuid()) {
		ctl_warnx(ctl, "%s: must be owned by root or by you", dir);
		ex = CTL_EXIT_REFUSED;
		goto out;
	}
	if ((sb.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		ctl_warnx(ctl, "%s: must not be writable by group or others",
		    dir);
		ex = CTL_EXIT_REFUSED;
		goto out;
	}
	for (i = 0; i < MSS_BACKUP_FDS; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if ((fds[i] = openat(dfd, names[i], O_WRONLY | O_CREAT |
		    O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
			if (errno == EEXIST)
				ctl_warnx(ctl, "%s: already holds %s", dir,
				    names[i]);
			ex = errno == EEXIST ? CTL_EXIT_REFUSED :
			    ctl_backup_errno(ctl, path, errno);
			goto out;
		}
		made[i] = 1;
	}
	if ((req = mss_buf_new(MSS_MSG_MAX)) == NULL ||
	    mss_buf_put_str(req, dir) != 0) {
		ctl_warnx(ctl, "%s", mss_strerror(MSS_ERR_NOMEM));
		ex = CTL_EXIT_REFUSED;
		goto out;
	}
	if ((ex = ctl_call_fds(ctl, MSS_REQ_BACKUP, req, fds, MSS_BACKUP_FDS,
	    CTL_BACKUP_TIMEOUT_MS, MSS_REP_RESULT, &rep)) != CTL_EXIT_OK)
		goto out;
	ex = ctl_result(ctl, rep, 0);
out:
	for (i = 0; i < MSS_BACKUP_FDS; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		if (ex != CTL_EXIT_OK && made[i])
			unlinkat(dfd, names[i], 0);
	}
	if (dfd >= 0)
		close(dfd);
	if (ex != CTL_EXIT_OK && mkd)
		rmdir(argv[0]);
	mss_buf_free(req);
	mss_buf_free(rep);
	free(dir);
	return ex;
}

/*
 * import: CSV rows USER,EMAIL[,LANG[,PASSWORD_HASH[,DEVICE...]]] sent in
 * batches (one transaction each in mfad); one result per input line, in
 * line order. mfad checks the hash and the devices.
 */

#define CTL_IMPORT_BYTES	(60 * 1024)	/* request payload, at most */
#define CTL_IMPORT_FIELDS	(4 + MSS_IMPORT_ROW_DEVICES) /* user to hash */

struct ctl_import_res {
	uint32_t	 line;
	int		 ok;
	char		*user;		/* NULL for a line that did not parse */
	char		*text;		/* "added", ..., or the error */
};

struct ctl_import {
	struct ctl_import_res	*res;
	size_t			 n, cap;
	struct mss_buf		*req;
	uint32_t		 rows;		/* in req */
	uint32_t		 devices;	/* in req */
	uint32_t		 first;		/* index in res of req's first */
	int			 failed;
};

static int MSS_WUR
ctl_import_add(struct ctl_import *im, uint32_t line, const char *user,
    int ok, const char *text)
{
	struct ctl_import_res *nr;

	if (im->n == im->cap) {
		im->cap = im->cap ? im->cap * 2 : 256;
		if ((nr = realloc(im->res, im->cap * sizeof(*nr))) == NULL)
			return MSS_ERR_NOMEM;
		im->res = nr;
	}
	nr = &im->res[im->n];
	nr->line = line;
	nr->ok = ok;
	nr->user = user != NULL ? strdup(user) : NULL;
	nr->text = strdup(text);
	if (nr->text == NULL || (user != NULL && nr->user == NULL))
		return MSS_ERR_NOMEM;
	im->n++;
	if (!ok)
		im->failed = 1;
	return 0;
}

/* Sends the rows held in im->req; fills in their results. */
static int MSS_WUR
ctl_import_flush(struct ctl *ctl, struct ctl_import *im)
{
	struct mss_buf *req = NULL, *rep = NULL;
	uint32_t n, i, line, code;
	char *msg = NULL;
	size_t k;
	int ex;

	if (im->rows == 0)
		return CTL_EXIT_OK;
	if ((req = mss_buf_new(MSS_MSG_MAX)) == NULL ||
	    mss_buf_put_u32(req, im->rows) != 0 ||
	    mss_buf_put(req, mss_buf_ptr(im->req), mss_buf_avail(im->req))
	    != 0) {
		mss_buf_free(req);
		ctl_warnx(ctl, "%s", mss_strerror(MSS_ERR_NOMEM));
		return CTL_EXIT_REFUSED;
	}
	ex = ctl_call(ctl, MSS_REQ_USER_IMPORT, req, MSS_REP_IMPORT, &rep);
	mss_buf_free(req);
	if (ex != CTL_EXIT_OK)
		return ex;
	if (mss_buf_get_u32(rep, &n) != 0 || n != im->rows) {
		ex = ctl_malformed(ctl);
		goto out;
	}
	/* The answers come in the order of the rows sent, which were queued
	 * in res as placeholders from im->first on. */
	for (i = 0, k = im->first; i < n; i++, k++) {
		while (k < im->n && im->res[k].text != NULL)
			k++;
		if (mss_buf_get_u32(rep, &line) != 0 ||
		    mss_buf_get_u32(rep, &code) != 0 ||
		    mss_buf_get_str(rep, &msg, MSS_STR_MAX) != 0 ||
		    k >= im->n || im->res[k].line != line) {
			ex = ctl_malformed(ctl);
			goto out;
		}
		im->res[k].ok = code == 0;
		if (code != 0)
			im->failed = 1;
		im->res[k].text = msg;
		msg = NULL;
	}
	if (mss_buf_end(rep) != 0) {
		ex = ctl_malformed(ctl);
		goto out;
	}
	mss_buf_reset(im->req);
	im->rows = 0;
	im->devices = 0;
	im->first = (uint32_t)im->n;
out:
	mss_str_free(msg);
	mss_buf_free(rep);
	return ex;
}

static int MSS_WUR
ctl_import_line(struct ctl *ctl, struct ctl_import *im, uint32_t lineno,
    char *line)
{
	char *f[CTL_IMPORT_FIELDS], why[MSS_ADDR_WHY_MAX];
	char addr[MSS_EMAIL_MAX + 1];
	const char *lang, *pwhash;
	size_t need;
	int n, i, ndev, ex;

	f[0] = NULL;
	n = mfad_csv_split(line, f, CTL_IMPORT_FIELDS);
	if (n == -2) {
		snprintf(why, sizeof(why), "unbalanced double quote");
		goto bad;
	}
	if (n < 0) {
		snprintf(why, sizeof(why), "too many devices (at most %d)",
		    CTL_IMPORT_FIELDS - 4);
		goto bad;
	}
	if (n < 2) {
		snprintf(why, sizeof(why), "expected "
		    "USER,EMAIL[,LANG[,PASSWORD_HASH[,DEVICE...]]]");
		goto bad;
	}
	lang = n >= 3 ? f[2] : "";
	pwhash = n >= 4 ? f[3] : "";
	ndev = n > 4 ? n - 4 : 0;
	if (strncmp(pwhash, "$argon2", 7) == 0 && ndev > 0 &&
	    strncmp(f[4], "t=", 2) == 0) {
		snprintf(why, sizeof(why), "put the password hash in double "
		    "quotes: it holds commas");
		goto bad;
	}
	if (!mss_user_valid(f[0])) {
		snprintf(why, sizeof(why), "invalid user name");
		goto bad;
	}
	if (mss_addr_normalize(f[1], addr, sizeof(addr), why,
	    sizeof(why)) != 0)
		goto bad;
	if (*lang != '\0' && (lang = ctl_lang(lang)) == NULL) {
		snprintf(why, sizeof(why), "language must be fr or en");
		goto bad;
	}
	for (i = 0, need = 32; i < n; i++) {
		if (strlen(f[i]) > MSS_STR_MAX) {
			snprintf(why, sizeof(why), "field %d is longer than %d "
			    "bytes", i + 1, MSS_STR_MAX);
			goto bad;
		}
		if (i >= 4 && *f[i] == '\0') {
			snprintf(why, sizeof(why), "device %d is empty",
			    i - 3);
			goto bad;
		}
		need += strlen(f[i]) + 4;
	}
	if (im->rows == MSS_IMPORT_ROWS ||
	    im->devices + (uint32_t)ndev > MSS_IMPORT_DEVICES ||
	    mss_buf_avail(im->req) + need > CTL_IMPORT_BYTES)
		if ((ex = ctl_import_flush(ctl, im)) != CTL_EXIT_OK)
			return ex;
	if (mss_buf_put_u32(im->req, lineno) != 0 ||
	    mss_buf_put_str(im->req, f[0]) != 0 ||
	    mss_buf_put_str(im->req, addr) != 0 ||
	    mss_buf_put_str(im->req, lang) != 0 ||
	    mss_buf_put_str(im->req, pwhash) != 0 ||
	    mss_buf_put_u32(im->req, (uint32_t)ndev) != 0)
		goto nomem;
	for (i = 0; i < ndev; i++)
		if (mss_buf_put_str(im->req, f[4 + i]) != 0)
			goto nomem;
	if (ctl_import_add(im, lineno, f[0], 1, "") != 0)
		goto nomem;
	/* A placeholder until mfad answers. */
	free(im->res[im->n - 1].text);
	im->res[im->n - 1].text = NULL;
	im->rows++;
	im->devices += (uint32_t)ndev;
	return CTL_EXIT_OK;
bad:
	if (ctl_import_add(im, lineno, f[0] != NULL && mss_user_valid(f[0]) ?
	    f[0] : NULL, 0, why) != 0)
		goto nomem;
	return CTL_EXIT_OK;
nomem:
	ctl_warnx(ctl, "%s", mss_strerror(MSS_ERR_NOMEM));
	return CTL_EXIT_REFUSED;
}

static void
ctl_import_print(const struct ctl *ctl, const struct ctl_import *im)
{
	const struct ctl_import_res *r;
	size_t i;
	int first;

	if (ctl->json)
		putchar('[');
	for (i = 0; i < im->n; i++) {
		r = &im->res[i];
		if (ctl->json) {
			first = 1;
			printf("%s{", i ? "," : "");
			ctl_json_knum(&first, "line", r->line);
			if (r->user != NULL)
				ctl_json_kstr(&first, "user", r->user);
			else
				ctl_json_kstr_null(&first, "user", "");
			ctl_json_kstr(&first, r->ok ? "result" : "error",
			    r->text);
			putchar('}');
			continue;
		}
		printf("line %u: ", (unsigned)r->line);
		if (r->user != NULL) {
			ctl_text(stdout, r->user);
			fputs(": ", stdout);
		}
		if (!r->ok)
			fputs("error: ", stdout);
		ctl_text(stdout, r->text);
		putchar('\n');
	}
	if (ctl->json)
		puts("]");
}

/* One line for every imported name getpwnam does not know, not one a
 * name: an import may hold hundreds. Only lines that changed something
 * are looked up (an unchanged one was warned about when it was added),
 * and the lookups stop at MFADCTL_NO_UNIX_MAX unknown names: a name that
 * no NSS source knows is the slowest lookup there is (each source is
 * asked in turn), and a file of names unknown here, imported on the
 * wrong host, would otherwise spend minutes on them. */
#define MFADCTL_NO_UNIX_MAX	100

static void
ctl_import_no_unix(const struct ctl *ctl, const struct ctl_import *im)
{
	const char *first = NULL;
	size_t i, n = 0;

	for (i = 0; i < im->n && n < MFADCTL_NO_UNIX_MAX; i++) {
		if (!im->res[i].ok || im->res[i].user == NULL ||
		    (im->res[i].text != NULL &&
		    strcmp(im->res[i].text, "unchanged") == 0) ||
		    !ctl_no_unix_user(im->res[i].user))
			continue;
		if (n++ == 0)
			first = im->res[i].user;
	}
	if (n == 1)
		ctl_warnx(ctl, "warning: 1 user has no Unix account on this "
		    "host: %s", first);
	else if (n >= MFADCTL_NO_UNIX_MAX && i < im->n)
		ctl_warnx(ctl, "warning: %zu users have no Unix account on "
		    "this host, the first %s; no more names were looked up",
		    n, first);
	else if (n > 1)
		ctl_warnx(ctl, "warning: %zu users have no Unix account on "
		    "this host, the first %s", n, first);
}

/* A data line of the file, kept until every line was read. */
struct ctl_import_src {
	uint32_t	 line;
	char		*text;		/* NULL: the line held a NUL byte */
	size_t		 len;
	char		*user;		/* its USER field when valid, else NULL */
};

static int
ctl_import_src_cmp(const void *a, const void *b)
{
	const struct ctl_import_src *x = *(const struct ctl_import_src *const *)a;
	const struct ctl_import_src *y = *(const struct ctl_import_src *const *)b;
	int c = strcmp(x->user, y->user);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

/*
 * Two rows for one user would undo each other at every run, so the same
 * file would never settle: every such row after the first is an error
 * naming both lines, and then nothing is sent. Returns how many.
 */
static int
ctl_import_dups(struct ctl_import *im, struct ctl_import_src *src, size_t n,
    int *nomem)
{
	struct ctl_import_src **v;
	char why[160];
	size_t i, k = 0;
	int dups = 0;

	*nomem = 0;
	if ((v = calloc(n ? n : 1, sizeof(*v))) == NULL) {
		*nomem = 1;
		return 0;
	}
	for (i = 0; i < n; i++)
		if (src[i].user != NULL)
			v[k++] = &src[i];
	qsort(v, k, sizeof(*v), ctl_import_src_cmp);
	for (i = 1; i < k; i++) {
		if (strcmp(v[i]->user, v[i - 1]->user) != 0)
			continue;
		snprintf(why, sizeof(why), "same user as line %u; nothing "
		    "was imported", (unsigned)v[i - 1]->line);
		if (ctl_import_add(im, v[i]->line, v[i]->user, 0, why) != 0) {
			*nomem = 1;
			break;
		}
		dups++;
	}
	free(v);
	return dups;
}

/* The user field of a line, for the duplicate check: NULL when the line
 * does not parse or the name is not valid (the line's own error then
 * says why). */
static char *
ctl_import_user_of(const char *text)
{
	char *copy, *f[CTL_IMPORT_FIELDS], *user = NULL;
	size_t len = strlen(text);
	int n;

	if ((copy = strdup(text)) == NULL)
		return NULL;
	n = mfad_csv_split(copy, f, CTL_IMPORT_FIELDS);
	if (n >= 2 && mss_user_valid(f[0]))
		user = strdup(f[0]);
	sodium_memzero(copy, len);	/* may hold a password hash */
	free(copy);
	return user;
}

static int MSS_WUR
ctl_import(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_import im;
	struct ctl_import_src *src = NULL, *ns;
	char *line = NULL, *p;
	size_t cap = 0, i, nsrc = 0, srccap = 0;
	ssize_t got;
	uint32_t lineno = 0;
	FILE *fp = stdin;
	int ex = CTL_EXIT_OK, kind, nomem;

	memset(&im, 0, sizeof(im));
	if (argc == 1 && strcmp(argv[0], "-") != 0 &&
	    (fp = fopen(argv[0], "re")) == NULL) {
		ctl_warnx(ctl, "%s: %s", argv[0], strerror(errno));
		return CTL_EXIT_REFUSED;
	}
	if ((im.req = mss_buf_new(MSS_MSG_MAX)) == NULL) {
		ex = CTL_EXIT_REFUSED;
		goto out;
	}
	/* The whole file first: duplicates must be found before a batch is
	 * sent. */
	while ((got = getline(&line, &cap, fp)) != -1) {
		lineno++;
		if ((kind = mfad_csv_line(line, (size_t)got, lineno,
		    &p)) == MFAD_CSV_SKIP)
			continue;
		if (nsrc == srccap) {
			srccap = srccap ? srccap * 2 : 256;
			if ((ns = realloc(src, srccap * sizeof(*ns))) == NULL)
				goto nomem;
			src = ns;
		}
		memset(&src[nsrc], 0, sizeof(src[nsrc]));
		src[nsrc].line = lineno;
		if (kind == MFAD_CSV_ROW) {
			src[nsrc].len = strlen(p);
			if ((src[nsrc].text = strdup(p)) == NULL)
				goto nomem;
			src[nsrc].user = ctl_import_user_of(p);
		}
		nsrc++;
	}
	if (ferror(fp)) {
		ctl_warnx(ctl, "read error: %s", strerror(errno));
		ex = CTL_EXIT_REFUSED;
		goto out;
	}
	if (ctl_import_dups(&im, src, nsrc, &nomem) > 0 || nomem) {
		if (nomem)
			goto nomem;
		ctl_import_print(ctl, &im);
		ex = CTL_EXIT_REFUSED;
		goto out;
	}
	for (i = 0; i < nsrc; i++) {
		if (src[i].text == NULL)
			ex = ctl_import_add(&im, src[i].line, NULL, 0,
			    "NUL byte in line") == 0 ? CTL_EXIT_OK :
			    CTL_EXIT_REFUSED;
		else
			ex = ctl_import_line(ctl, &im, src[i].line,
			    src[i].text);
		if (ex != CTL_EXIT_OK)
			goto out;
	}
	if ((ex = ctl_import_flush(ctl, &im)) != CTL_EXIT_OK)
		goto out;
	ctl_import_print(ctl, &im);
	ctl_import_no_unix(ctl, &im);
	ex = im.failed ? CTL_EXIT_REFUSED : CTL_EXIT_OK;
	goto out;
nomem:
	ctl_warnx(ctl, "%s", mss_strerror(MSS_ERR_NOMEM));
	ex = CTL_EXIT_REFUSED;
out:
	for (i = 0; i < im.n; i++) {
		free(im.res[i].user);
		mss_str_free(im.res[i].text);
	}
	free(im.res);
	for (i = 0; i < nsrc; i++) {
		if (src[i].text != NULL) {
			sodium_memzero(src[i].text, src[i].len);
			free(src[i].text);
		}
		free(src[i].user);
	}
	free(src);
	if (line != NULL)
		sodium_memzero(line, cap);	/* may hold password hashes */
	free(line);
	mss_buf_free(im.req);
	if (fp != stdin)
		fclose(fp);
	return ex;
}

/*
 * Finds the command named by the first words of argv; sets *words to how
 * many it used. NULL when none matches.
 */
static const struct ctl_cmd *
ctl_find(int argc, char **argv, int *words)
{
	size_t i;

	for (i = 0; i < CTL_NCMDS; i++) {
		if (strcmp(argv[0], ctl_cmds[i].group) != 0)
			continue;
		if (ctl_cmds[i].verb == NULL) {
			*words = 1;
			return &ctl_cmds[i];
		}
		if (argc > 1 && strcmp(argv[1], ctl_cmds[i].verb) == 0) {
			*words = 2;
			return &ctl_cmds[i];
		}
	}
	return NULL;
}

static int
ctl_known_group(const char *word)
{
	size_t i;

	for (i = 0; i < CTL_NCMDS; i++)
		if (strcmp(word, ctl_cmds[i].group) == 0)
			return 1;
	return 0;
}

/* Command options whose next word is their value, so never read as one
 * of mfadctl's own options wherever they appear. */
static const char *const ctl_valued_opts[] = {
	"--email", "--lang", "--user", "--since", "--limit", "--count",
};

static int
ctl_valued_opt(const char *a)
{
	size_t i;

	for (i = 0; i < sizeof(ctl_valued_opts) / sizeof(ctl_valued_opts[0]);
	    i++)
		if (strcmp(a, ctl_valued_opts[i]) == 0)
			return 1;
	return 0;
}

static void
ctl_version(void)
{
	printf("mfadctl (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
}

/* -c or -s with its value: 0, or the usage exit status. */
static int MSS_WUR
ctl_global_value(struct ctl *ctl, int opt, const char *val)
{
	if (opt == 'c') {
		ctl->conf_path = val;
		return 0;
	}
	if (!ctl_valid_socket(val)) {
		ctl_warnx(NULL, "-s: socket must be an absolute path shorter "
		    "than %zu bytes", CTL_SUN_PATH_MAX);
		return CTL_EXIT_USAGE;
	}
	ctl->socket = val;
	return 0;
}

/*
 * mfadctl's own options after the command words: takes them out of
 * argv[from..argc) and leaves the command's arguments at argv[from..),
 * *nargs of them. "--" ends the options (it is dropped; what follows is
 * left as it is), and the value of a command option is never taken for
 * one of ours. Sets *help for --help; -1 for --version (printed), else
 * 0 or the usage exit status.
 */
static int MSS_WUR
ctl_late_opts(struct ctl *ctl, int argc, char **argv, int from, int *nargs,
    int *help)
{
	const char *a;
	int i, k, ex;

	for (i = k = from; i < argc; i++) {
		a = argv[i];
		if (strcmp(a, "--") == 0) {
			while (++i < argc)
				argv[k++] = argv[i];
			break;
		}
		if (ctl_valued_opt(a)) {
			argv[k++] = argv[i];
			if (i + 1 < argc)
				argv[k++] = argv[++i];
		} else if (strcmp(a, "--json") == 0)
			ctl->json = 1;
		else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			*help = 1;
		else if (strcmp(a, "--version") == 0) {
			ctl_version();
			return -1;
		} else if (a[0] == '-' && (a[1] == 'c' || a[1] == 's')) {
			if (a[2] == '\0' && i + 1 >= argc) {
				ctl_warnx(NULL, "option -%c needs an argument",
				    a[1]);
				ctl_usage(stderr);
				return CTL_EXIT_USAGE;
			}
			if ((ex = ctl_global_value(ctl, a[1], a[2] != '\0' ?
			    a + 2 : argv[++i])) != 0)
				return ex;
		} else
			argv[k++] = argv[i];
	}
	*nargs = k - from;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl ctl;
	int ch, words, nargs, ex, help = 0;

	memset(&ctl, 0, sizeof(ctl));
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:c:hs:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
		case 's':
			if ((ex = ctl_global_value(&ctl, ch, optarg)) != 0)
				return ex;
			break;
		case 'h':
			help = 1;
			break;
		case 'j':
			ctl.json = 1;
			break;
		case 'V':
			ctl_version();
			return CTL_EXIT_OK;
		case ':':
			ctl_warnx(NULL, "option -%c needs an argument", optopt);
			ctl_usage(stderr);
			return CTL_EXIT_USAGE;
		default:
			if (optopt != 0)
				ctl_warnx(NULL, "unknown option -%c", optopt);
			else
				ctl_warnx(NULL, "unknown option %s",
				    argv[optind - 1]);
			ctl_usage(stderr);
			return CTL_EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	/* The options after the command words (or after a group word that
	 * names no command, so that "user --help" helps). */
	ctl.cmd = argc > 0 ? ctl_find(argc, argv, &words) : NULL;
	if (ctl.cmd == NULL)
		words = argc > 0 ? 1 : 0;
	if ((ex = ctl_late_opts(&ctl, argc, argv, words, &nargs, &help)) != 0)
		return ex < 0 ? CTL_EXIT_OK : ex;
	argc = words + nargs;
	if (ctl.cmd == NULL && argc > 1)
		ctl.cmd = ctl_find(argc, argv, &words);
	if (help) {
		if (ctl.cmd == NULL)
			ctl_usage(stdout);
		else
			printf("usage: mfadctl %s%s%s%s%s\n", ctl.cmd->group,
			    ctl.cmd->verb != NULL ? " " : "",
			    ctl.cmd->verb != NULL ? ctl.cmd->verb : "",
			    ctl.cmd->usage[0] != '\0' ? " " : "",
			    ctl.cmd->usage);
		return CTL_EXIT_OK;
	}
	if (argc == 0) {
		ctl_warnx(NULL, "missing command");
		ctl_usage(stderr);
		return CTL_EXIT_USAGE;
	}
	if (ctl.cmd == NULL) {
		if (argc == 1 && ctl_known_group(argv[0]))
			ctl_warnx(NULL, "%s: missing command", argv[0]);
		else if (argc > 1 && ctl_known_group(argv[0]))
			ctl_warnx(NULL, "%s %s: unknown command", argv[0],
			    argv[1]);
		else
			ctl_warnx(NULL, "%s: unknown command", argv[0]);
		ctl_usage(stderr);
		return CTL_EXIT_USAGE;
	}
	snprintf(ctl.name, sizeof(ctl.name), "%s%s%s", ctl.cmd->group,
	    ctl.cmd->verb != NULL ? " " : "",
	    ctl.cmd->verb != NULL ? ctl.cmd->verb : "");
	nargs = argc - words;
	if (nargs < ctl.cmd->minargs)
		return ctl_bad_usage(&ctl, "missing argument");
	if (nargs > ctl.cmd->maxargs)
		return ctl_bad_usage(&ctl, "too many arguments");

	ex = ctl.cmd->handler(&ctl, nargs, argv + words);
	free(ctl.conf_socket);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_warnx(NULL, "standard output: %s", strerror(errno));
		if (ex == CTL_EXIT_OK)
			ex = CTL_EXIT_REFUSED;
	}
	return ex;
}
