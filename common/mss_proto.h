/*
 * The protocol between pam_mss / mfadctl and mfad; doc/PROTOCOL.md is the
 * prose version. Each request is one frame on a new connection, answered
 * by one frame, then the connection closes.
 *
 * Frame: u32 length (big-endian, of what follows), u8 version, u8 type,
 * then the payload. The payload is the fields listed below, in order,
 * encoded by mss_buf (u8, u32, u64, str = u32 length + bytes, no NUL).
 * A frame with trailing bytes, a short field, an unknown type or a field
 * over its bound is malformed: the receiver drops the connection.
 */
#ifndef MSS_PROTO_H
#define MSS_PROTO_H

#define MSS_PROTO_VERSION	1
#define MSS_FRAME_HDR		6		/* u32 length + version + type */
#define MSS_MSG_MAX		(64 * 1024)	/* payload bound, both ways */
#define MSS_STR_MAX		1024		/* any one string field */
#define MSS_READ_AHEAD		4096		/* read with a header at once */

/*
 * USER_IMPORT bounds. mfad applies one request in one transaction: these
 * bound the pages it dirties, which LMDB keeps as page buffers in mfad's
 * memory for later transactions.
 */
#define MSS_IMPORT_ROWS		64		/* rows in one request */
#define MSS_IMPORT_DEVICES	128		/* devices in one request */
#define MSS_IMPORT_ROW_DEVICES	16		/* devices in one row */
#define MSS_PASS_MAX		1024		/* password field */
#define MSS_TOKEN_LEN		64		/* login id: 32 bytes as hex */
#define MSS_CODE_ANSWER_MAX	64		/* a typed code, MSS_REQ_CODE */
#define MSS_RECOVERY_MAX	100		/* recovery codes per account */

#define MSS_DEFAULT_SOCKET	"/run/mfad/mfad.sock"
/* The user the shipped unit runs mfad as, owner of the socket's directory. */
#define MSS_UNIT_USER		"mfad"
#define MSS_IO_TIMEOUT_MS	10000		/* one request, client side */

/*
 * Requests (client to mfad). Fields:
 *
 * MSS_REQ_STATUS      -
 * MSS_REQ_METRICS     -
 * MSS_REQ_AUTH_START  str service, str user, str email, str password,
 *                     str device, str rhost, str tty, str lang, u32 flags
 * MSS_REQ_CODE        str login, str code (at most MSS_CODE_ANSWER_MAX:
 *                     the mailed code or a recovery code)
 * MSS_REQ_RESEND      str login
 * MSS_REQ_REMEMBER    str login
 * MSS_REQ_ACCT        str service, str user
 * MSS_REQ_RESET_START str service, str user, str email, str device,
 *                     str rhost, str tty, str lang, u32 flags (an empty
 *                     password: a reset or an enrollment, as mfad finds)
 * MSS_REQ_SET_PASSWORD  str login, str password (after a code answered
 *                     with next ENROLL or RESET)
 * MSS_REQ_CHANGE_PASSWORD  str service, str user, str old, str new
 * MSS_REQ_USER_IMPORT u32 n, n times: u32 line, str user, str email,
 *                     str lang, str hash ("" or argon2id), u32 ndev,
 *                     ndev times str device
 * MSS_REQ_USER_ADD    str user, str email, str lang, str password
 *                     (empty password: an invitation)
 * MSS_REQ_USER_SET    str user, str email, str lang ("" keeps either;
 *                     a new address mails a notice to the old and new)
 * MSS_REQ_USER_RECOVERY  str user, u32 count (1..MSS_RECOVERY_MAX: a new
 *                     set replacing any earlier one, answered with
 *                     MSS_REP_RECOVERY; 0: revoke them, answered with
 *                     MSS_REP_RESULT)
 * MSS_REQ_USER_DEL, MSS_REQ_USER_SHOW, MSS_REQ_USER_LOCK,
 * MSS_REQ_USER_UNLOCK, MSS_REQ_USER_REENROLL, MSS_REQ_USER_DISABLE,
 * MSS_REQ_USER_ENABLE
 *                     str user
 * MSS_REQ_DEVICE_LIST str user, str after (id of the last device of the
 *                     previous page, or "")
 * MSS_REQ_USER_LIST   str after (last user of the previous page, or "")
 * MSS_REQ_DEVICE_REVOKE  str user, str id ("" revokes all)
 * MSS_REQ_MAIL_TEST   str address
 * MSS_REQ_AUDIT       str user ("" for all), u64 since_us (0: no bound),
 *                     u64 before_us (0: now), u32 limit (0: as many as fit)
 * MSS_REQ_BACKUP      str dir (where the client made the files: for the
 *                     audit trail and the reply only, never opened), and
 *                     MSS_BACKUP_FDS descriptors sent with the frame
 *                     (SCM_RIGHTS): data.mdb, then mfad.key, new empty
 *                     regular files open for writing, mode 0600.
 *                     Descriptors with any other request drop the
 *                     connection.
 */
#define MSS_BACKUP_FDS		2
enum mss_req_type {
	MSS_REQ_STATUS = 1,
	MSS_REQ_AUTH_START = 2,
	MSS_REQ_CODE = 3,
	MSS_REQ_RESEND = 4,
	MSS_REQ_REMEMBER = 5,
	MSS_REQ_ACCT = 6,
	MSS_REQ_RESET_START = 8,
	MSS_REQ_SET_PASSWORD = 9,
	MSS_REQ_CHANGE_PASSWORD = 10,
	MSS_REQ_USER_ADD = 20,
	MSS_REQ_USER_DEL = 21,
	MSS_REQ_USER_SHOW = 22,
	MSS_REQ_USER_LIST = 23,
	MSS_REQ_USER_LOCK = 24,
	MSS_REQ_USER_UNLOCK = 25,
	MSS_REQ_USER_REENROLL = 26,
	MSS_REQ_DEVICE_LIST = 27,
	MSS_REQ_DEVICE_REVOKE = 28,
	MSS_REQ_MAIL_TEST = 29,
	MSS_REQ_AUDIT = 30,
	MSS_REQ_BACKUP = 31,
	MSS_REQ_USER_IMPORT = 32,
	MSS_REQ_USER_SET = 40,
	MSS_REQ_METRICS = 41,
	MSS_REQ_USER_RECOVERY = 42,
	MSS_REQ_USER_DISABLE = 43,
	MSS_REQ_USER_ENABLE = 44,
};

/* MSS_REQ_AUTH_START and MSS_REQ_RESET_START flags, from the module's
 * arguments. */
#define MSS_AUTH_F_NOENROLL	0x01
#define MSS_AUTH_F_NORESET	0x02
#define MSS_AUTH_F_EMAIL_SKIP	0x04

/*
 * Replies (mfad to client). Fields:
 *
 * MSS_REP_RESULT  u32 code (0 or -MSS_ERR_*, sent as its absolute value),
 *                 str message (for the admin; never a secret); in answer
 *                 to SET_PASSWORD and CHANGE_PASSWORD, a code of 19
 *                 (MSS_ERR_REFUSED) is followed by u32 reason
 *                 (mss_pw_reason); in answer to CHANGE_PASSWORD, a code
 *                 of 0 or 19 (the old password was right) then ends
 *                 with str lang (the account's "fr" or "en", as in AUTH)
 * MSS_REP_AUTH    u8 result (mss_auth_result), str login, str masked,
 *                 u32 minutes, u8 mail (mss_mail_state), u32 wait
 *                 (seconds before a resend is allowed), str lang (the
 *                 account's "fr" or "en", only in AUTH_START's answers
 *                 to the right password, else "")
 * MSS_REP_CODE    u8 result (mss_code_result), u32 tries_left,
 *                 u8 may_remember, u32 remember_days, u8 mail, u8 next
 *                 (mss_code_next: what follows a right code), str lang
 *                 (the account's, with MSS_CODE_OK only, else "")
 * MSS_REP_ACCT    u8 state (mss_acct_state), u64 reenroll_before (the
 *                 policy date that requires re-enrollment, or 0)
 * MSS_REP_IMPORT  u32 n, n times: u32 line, u32 code (as in RESULT),
 *                 str message ("added", "unchanged", "email changed" or
 *                 the reason of an error)
 * MSS_REP_STATUS  str version, u64 uptime, u64 accounts, u64 outbox,
 *                 u64 oldest (seconds), str last_mail_error; in fleet
 *                 mode only, then str directory ("answering" or
 *                 "unreachable", when accounts is 0 for unknown)
 * MSS_REP_METRICS  u32 n, n times: str name, str label (key="value",
 *                 or ""), u8 counter (1: counter, 0: gauge), u64 value
 * MSS_REP_USER    user record (below)
 * MSS_REP_RECOVERY  u32 n, n times str code (shown once, never stored)
 * MSS_REP_USER_LIST  u32 n, n user records, u8 more
 * MSS_REP_DEVICE_LIST  u32 n, n times: str id, str kind, str service,
 *                 u64 created, u64 expires, u64 last_used; then u8 more
 *                 (devices left: ask again after the last id)
 * MSS_REP_AUDIT_LIST  u32 n, n records newest first: u64 time_us,
 *                 str event, str user, str service, str rhost, str result,
 *                 str detail; then u8 more (older records left: ask again
 *                 with before_us = the oldest time_us received)
 *
 * User record: str user, str email, str masked, str lang, u8 state,
 * u64 created, u64 enrolled, u32 failures, u64 locked_until,
 * u64 last_login, u32 devices, u32 mails (in the last hour),
 * u64 resend_until, u64 max_sends_until (0: that throttle does not hold),
 * u32 recovery (recovery codes left).
 */
enum mss_rep_type {
	MSS_REP_RESULT = 100,
	MSS_REP_AUTH = 101,
	MSS_REP_CODE = 102,
	MSS_REP_ACCT = 103,
	MSS_REP_STATUS = 104,
	MSS_REP_USER = 105,
	MSS_REP_USER_LIST = 106,
	MSS_REP_DEVICE_LIST = 107,
	MSS_REP_AUDIT_LIST = 108,
	MSS_REP_IMPORT = 109,
	MSS_REP_METRICS = 110,
	MSS_REP_RECOVERY = 111,
};

enum mss_auth_result {
	MSS_AUTH_DENIED = 0,	/* the one generic failure */
	MSS_AUTH_OK = 1,	/* remembered device: done */
	MSS_AUTH_CODE_SENT = 2,	/* a code is queued for mail */
	MSS_AUTH_THROTTLED = 3,	/* too many mails; try later */
	MSS_AUTH_EXPIRED = 6,	/* the login is gone: start again */
	MSS_AUTH_CODE_VALID = 7, /* this login took over the account's live
				   code: minutes is what is left of it */
};

enum mss_code_result {
	MSS_CODE_OK = 0,
	MSS_CODE_WRONG = 1,	/* another try allowed */
	MSS_CODE_EXPIRED = 2,	/* ttl passed or resent: ask for a new one */
	MSS_CODE_DEAD = 3,	/* max_attempts reached or account locked */
	MSS_CODE_BADLOGIN = 4,	/* no such login */
	MSS_CODE_MOVED = 5,	/* a newer login took this code over */
};

/* What a right code leads to. */
enum mss_code_next {
	MSS_NEXT_DONE = 0,	/* signed in */
	MSS_NEXT_ENROLL = 1,	/* set a password, then signed in */
	MSS_NEXT_RESET = 2,	/* set a password, then log in again */
};

enum mss_mail_state {
	MSS_MAIL_QUEUED = 0,	/* not tried yet */
	MSS_MAIL_SENT = 1,	/* the relay accepted it */
	MSS_MAIL_RETRYING = 2,	/* the relay failed; retrying */
	MSS_MAIL_FAILED = 3,	/* given up */
};

/*
 * Why the password policy refused a new password. The module words each
 * one in the user's language; the message of RESULT is English, for logs.
 * A reason the module does not know is shown as a plain refusal.
 */
enum mss_pw_reason {
	MSS_PW_REFUSED = 0,	/* no more precise reason */
	MSS_PW_TOO_SHORT = 1,	/* under [password] min_length */
	MSS_PW_TOO_LONG = 2,	/* over [password] max_length */
	MSS_PW_LIKE_NAME = 3,	/* the user name, address or its local part */
	MSS_PW_BLOCKLISTED = 4,	/* on [password] blocklist */
	MSS_PW_SAME_AS_OLD = 5,	/* CHANGE_PASSWORD: the current one again */
};
#define MSS_PW_REASON_MAX	MSS_PW_SAME_AS_OLD

enum mss_acct_state {
	MSS_ACCT_ACTIVE = 0,
	MSS_ACCT_INVITED = 1,
	MSS_ACCT_LOCKED = 2,
	MSS_ACCT_DISABLED = 3,
	MSS_ACCT_UNKNOWN = 4,
	MSS_ACCT_REENROLL = 5,
};

#endif /* MSS_PROTO_H */
