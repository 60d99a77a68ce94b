#include "config.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <sodium.h>

#include "mfad_keys.h"
#include "mfad_log.h"
#include "mfad_pw.h"
#include "mfad_snap.h"
#include "mfad_store.h"
#include "mss_err.h"
#include "fuzz_common.h"

/* The fuzzers' own syslog: the daemon and libpam log every refusal. */
void
openlog(const char *ident, int option, int facility)
{
	(void)ident;
	(void)option;
	(void)facility;
}

void
closelog(void)
{
}

void
syslog(int prio, const char *fmt, ...)
{
	(void)prio;
	(void)fmt;
}

void
vsyslog(int prio, const char *fmt, va_list ap)
{
	(void)prio;
	(void)fmt;
	(void)ap;
}

void __syslog_chk(int, int, const char *, ...);
void __vsyslog_chk(int, int, const char *, va_list);

void
__syslog_chk(int prio, int flag, const char *fmt, ...)
{
	(void)prio;
	(void)flag;
	(void)fmt;
}

void
__vsyslog_chk(int prio, int flag, const char *fmt, va_list ap)
{
	(void)prio;
	(void)flag;
	(void)fmt;
	(void)ap;
}

void
fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
	abort();
}

static char fuzz_dir[4096];

static int
fuzz_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
fuzz_cleanup(void)
{
	if (fuzz_dir[0] != '\0')
		nftw(fuzz_dir, fuzz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

const char *
fuzz_tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	if (fuzz_dir[0] != '\0')
		return fuzz_dir;
	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/mss-fuzz.XXXXXX",
	    t != NULL && *t != '\0' ? t : "/tmp");
	if (mkdtemp(fuzz_dir) == NULL) {
		perror(fuzz_dir);
		abort();
	}
	atexit(fuzz_cleanup);
	return fuzz_dir;
}

void
fuzz_write_file(const char *path, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1) {
		perror(path);
		abort();
	}
	while (len > 0) {
		if ((n = write(fd, p, len)) <= 0) {
			perror(path);
			abort();
		}
		p += n;
		len -= (size_t)n;
	}
	close(fd);
}

const char *
fuzz_templates(void)
{
	const char *t = getenv("FUZZ_TEMPLATES");

	return t != NULL && *t != '\0' ? t : FUZZ_TEMPLATES;
}

static void
fuzz_set(char **field, const char *value)
{
	free(*field);
	if ((*field = strdup(value)) == NULL)
		abort();
}

struct mfad_conf *
fuzz_conf(const char *dir)
{
	struct mfad_conf *conf;
	char db[4200];

	if ((conf = mfad_conf_new()) == NULL)
		abort();
	snprintf(db, sizeof(db), "%s/db", dir);
	if (mkdir(db, 0700) != 0)
		abort();
	fuzz_set(&conf->database, db);
	fuzz_set(&conf->templates, fuzz_templates());
	/* Port 1 on the loopback refuses at once: "mail test" answers. */
	fuzz_set(&conf->smtp, "127.0.0.1:1");
	fuzz_set(&conf->smtp_host, "127.0.0.1");
	fuzz_set(&conf->smtp_port, "1");
	fuzz_set(&conf->from, "mfad@example.org");
	conf->tls = MFAD_TLS_NONE;
	conf->map_size = 64ULL << 20;
	/* The cheapest argon2id: a million logins, not a thousand. */
	conf->pw_opslimit = crypto_pwhash_OPSLIMIT_MIN;
	conf->pw_memlimit = crypto_pwhash_MEMLIMIT_MIN;
	conf->pw_weak = 1;
	return conf;
}

void
fuzz_ctx_open(struct mfad_ctx *ctx)
{
	int r;

	if (sodium_init() < 0)
		abort();
	mfad_log_init(0, 0);
	memset(ctx, 0, sizeof(*ctx));
	/* Published as mfad publishes its configuration: requests hold it. */
	mfad_snap_publish(ctx, fuzz_conf(fuzz_tmpdir()));
	snprintf(ctx->hostname, sizeof(ctx->hostname), "fuzz.example.org");
	ctx->started = time(NULL);
	if ((r = mfad_store_open(ctx->conf, &ctx->store)) != 0 ||
	    (r = mfad_keys_load(ctx->conf->database, &ctx->keys)) != 0 ||
	    (r = mfad_pw_init(ctx->conf)) != 0) {
		fprintf(stderr, "fuzz: cannot open the store: %s\n",
		    mss_strerror(r));
		abort();
	}
}
