/*
 * mfad.conf: an INI file (see mfad.conf(5)). Every key of every section is
 * validated; an unknown section or key, a bad value or a duplicate is an
 * error reported as "file:line: reason".
 */
#ifndef MFAD_CONF_H
#define MFAD_CONF_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mss_err.h"

#define MFAD_DEFAULT_CONF	SYSCONFDIR "/mfad/mfad.conf"
/* [mail] connections: the most SMTP sessions mfad holds at once. */
#define MFAD_MAIL_CONNECTIONS_MAX	32

enum mfad_tls {
	MFAD_TLS_STARTTLS = 0,
	MFAD_TLS_NONE = 1,
};

/* [directory] uri: at most this many providers. */
#define MFAD_CONF_DIR_URIS_MAX	8
/* [directory] bind_pw_file: the bytes of a bind password. */
#define MFAD_CONF_DIR_PW_MAX	512

enum mfad_device_scope {
	MFAD_DEVICE_SCOPE_HOST = 0,	/* a device works on the host that
					   remembered it (kept locally) */
	MFAD_DEVICE_SCOPE_FLEET = 1,	/* on every host (in the directory) */
};

/* [password] implementation: whose argon2id code checks and makes the
 * hashes (both give the same strings). */
enum mfad_pw_impl {
	MFAD_PW_IMPL_AUTO = 0,		/* the faster here, timed at start */
	MFAD_PW_IMPL_LIBARGON2 = 1,	/* libargon2, memory kept mapped */
	MFAD_PW_IMPL_LIBSODIUM = 2,	/* libsodium, its code for this
					   processor, memory mapped afresh */
};

enum mfad_strength {
	MFAD_STRENGTH_INTERACTIVE = 0,
	MFAD_STRENGTH_MODERATE = 1,
	MFAD_STRENGTH_SENSITIVE = 2,
};

struct mfad_conf {
	char		*path;		/* the file read, for messages */
	unsigned	 refs;		/* holders of a published snapshot, */
	uint64_t	 gen;		/* and its number: see mfad_snap.h */

	/* [mfad] */
	char		*socket;	/* MSS_DEFAULT_SOCKET */
	char		*database;	/* LOCALSTATEDIR "/lib/mfad" */
	uint64_t	 map_size;	/* bytes; 1 GiB; accepts K, M, G, T */
	char		*user;		/* run as; NULL stays root */
	char		*admin_group;	/* NULL: root only */
	uid_t		*pam_uids;	/* trusted PAM callers besides root */
	size_t		 n_pam_uids;
	unsigned	 audit_days;	/* audit retention; 90 */

	/* [code] */
	unsigned	 code_length;		/* 6..10, 6 */
	unsigned	 code_ttl;		/* 1..3600 s, 300 */
	unsigned	 code_max_attempts;	/* 1..100, 5 */
	unsigned	 code_resend_interval;	/* 0..3600 s, 30 */
	unsigned	 code_max_sends;	/* 1..1000 per hour, 5 */

	/* [device] */
	unsigned	 remember_days;		/* 0..365, 30; 0 = off */
	enum mfad_device_scope device_scope;	/* host; fleet only with
						   [directory] */

	/* [password] */
	unsigned	 pw_min_length;		/* 8..1024, 12 */
	unsigned	 pw_max_length;		/* min_length..1024, 256 */
	enum mfad_strength pw_strength;		/* interactive */
	unsigned long long pw_opslimit;		/* from strength, or set */
	size_t		 pw_memlimit;		/* bytes; from strength, or set */
	int		 pw_weak;		/* explicit limits under 19 MiB/t=2 */
	char		*pw_blocklist;		/* file, or NULL */
	enum mfad_pw_impl pw_impl;		/* auto */

	/* [lockout] */
	unsigned	 lock_threshold;	/* 1..100, 10 */
	unsigned	 lock_duration;		/* seconds, 1..604800, 900 */

	/* [policy] */
	time_t		 reenroll_before;	/* UTC midnight of the date, or 0 */

	/* [mail] */
	char		*smtp;			/* "host:port", "localhost:25" */
	char		*smtp_host;		/* split from smtp */
	char		*smtp_port;
	enum mfad_tls	 tls;			/* starttls */
	char		*ca_file;		/* NULL: system CAs */
	char		*auth_file;		/* NULL: no SMTP AUTH */
	char		*from;			/* "mfad@<hostname>", or NULL
						 * when that is no address */
	char		*language;		/* "fr" or "en"; "en" */
	char		*templates;		/* PKGDATADIR "/templates" */
	unsigned	 mail_max_per_minute;	/* global ceiling; 600 */
	unsigned	 mail_connections;	/* parallel SMTP sessions; 16 */

	/* [directory]: fleet mode when dir_nuris > 0 (doc/STORE.md);
	 * absent, everything stays in the local LMDB. */
	char		*dir_uris[MFAD_CONF_DIR_URIS_MAX];	/* ldaps:// or
						   ldap:// (STARTTLS), in
						   the order tried */
	size_t		 dir_nuris;
	char		*dir_base;		/* DN the accounts are under:
						   uid=USER,<base> */
	char		*dir_bind_dn;
	char		*dir_bind_pw_file;	/* checked as auth_file */
	char		*dir_ca_file;		/* NULL: system CAs */
	unsigned	 dir_timeout_ms;	/* connect and each operation;
						   2000 */
	char		*dir_key_file;		/* the fleet key, the same on
						   every host: keys the hashes
						   kept in the directory */
	char		*dir_host;		/* this host's name in the
						   values it writes;
						   gethostname() */
};

/*
 * Loads path into a new config (defaults, then the file's keys). On error
 * returns MSS_ERR_CONFIG (or MSS_ERR_NOMEM) and writes "file:line: reason"
 * (or "file: reason" when not tied to a line) into err.
 */
int mfad_conf_load(const char *path, struct mfad_conf **out, char *err,
    size_t errlen) MSS_WUR;
/*
 * Reads only [mfad] socket from path, with the grammar of mfad_conf_load
 * but nothing else checked, so that mfadctl finds the socket even when
 * another key has a mistake. 0 with the value in buf (and its line in
 * *line); MSS_ERR_NOTFOUND when the file does not set it; MSS_ERR_SYSTEM
 * (errno set) when the file cannot be opened or read; MSS_ERR_TOOBIG
 * when the value does not fit in len.
 */
int mfad_conf_socket(const char *path, char *buf, size_t len,
    unsigned *line) MSS_WUR;
/* The same for any key of [mfad] (mfadctl reads "user" too). */
int mfad_conf_peek(const char *path, const char *key, char *buf, size_t len,
    unsigned *line) MSS_WUR;
/* A config holding only defaults; NULL on memory failure. */
struct mfad_conf *mfad_conf_new(void) MSS_WUR;
void mfad_conf_free(struct mfad_conf *conf);

#endif /* MFAD_CONF_H */
