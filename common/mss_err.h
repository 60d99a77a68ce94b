/*
 * Error codes shared by pam_mss, mfad and mfadctl.
 *
 * Functions return 0 on success or one of these negative values; errno
 * values are positive, so the two ranges cannot collide.
 */
#ifndef MSS_ERR_H
#define MSS_ERR_H

/* On every function that can fail: a caller that drops the result is a
 * compile error under -Werror. */
#ifndef MSS_WUR
#define MSS_WUR __attribute__((warn_unused_result))
#endif

#define MSS_OK			0
#define MSS_ERR_SYSTEM		-1	/* a system call failed; see errno */
#define MSS_ERR_NOMEM		-2
#define MSS_ERR_PROTO		-3	/* malformed message */
#define MSS_ERR_TOOBIG		-4	/* message or field over its bound */
#define MSS_ERR_TIMEOUT		-5	/* an I/O deadline passed */
#define MSS_ERR_EOF		-6	/* peer closed the connection */
#define MSS_ERR_NOTFOUND	-7
#define MSS_ERR_EXISTS		-8
#define MSS_ERR_PERM		-9	/* caller not allowed */
#define MSS_ERR_INVAL		-10	/* bad argument or value */
#define MSS_ERR_STORE		-11	/* LMDB failure */
#define MSS_ERR_MAPFULL		-12	/* LMDB map full */
#define MSS_ERR_MAIL		-13	/* mail could not be built or sent */
#define MSS_ERR_THROTTLED	-14	/* rate limit reached */
#define MSS_ERR_CONFIG		-15
#define MSS_ERR_UNAVAIL		-16	/* mfad unreachable */
#define MSS_ERR_PEER		-17	/* peer is not who it must be */
#define MSS_ERR_CRYPTO		-18
#define MSS_ERR_REFUSED		-19	/* refused by policy */
#define MSS_ERR_LOCKED		-20	/* account locked */
#define MSS_ERR_MAX		20

/* Returns a static English string for an MSS_ERR_* code; never NULL. */
const char *mss_strerror(int err);

#endif /* MSS_ERR_H */
