/*
 * The login handlers: AUTH_START (password, remembered device, code
 * mail), CODE, RESEND, REMEMBER and ACCT. Each follows DESIGN §3 and the
 * code, lockout and device rules of SECURITY.md; every decision is
 * audited inside the transaction that makes it.
 */
#ifndef MFAD_AUTH_H
#define MFAD_AUTH_H

#include "mfad_acct.h"
#include "mfad_keys.h"
#include "mfad_login.h"
#include "mfad_mail.h"
#include "mfad_auth_shared.h"
#include "mfad_ctx.h"

int mfad_auth_start(struct mfad_rq *) MSS_WUR;

/*
 * AUTH_START in two halves, so that the slow one (the password check,
 * and a rehash) runs on a worker and the quick one (every change to the
 * store) joins a group commit. prepare fills *c (free it with
 * mfad_auth_cont_free); finish writes the reply. mfad_auth_start runs
 * both in a row.
 */
struct mfad_auth_cont;
int mfad_auth_start_prepare(struct mfad_rq *rq, struct mfad_auth_cont **c)
    MSS_WUR;
int mfad_auth_start_finish(struct mfad_rq *rq, struct mfad_auth_cont *c)
    MSS_WUR;
void mfad_auth_cont_free(struct mfad_auth_cont *c);
/*
 * A remembered device whose login changes nothing but its record
 * (last login and use, the audit copy): mfad_auth_cont_early says so
 * after prepare, and the worker answers it with mfad_auth_start_early.
 * Once that reply is made, finish only records the login, lazily
 * (mfad_rq_lazy), whatever happened to the account meanwhile; when
 * it could not be made, finish goes the whole way.
 */
int mfad_auth_cont_early(const struct mfad_auth_cont *c);
int mfad_auth_start_early(struct mfad_rq *rq, struct mfad_auth_cont *c)
    MSS_WUR;
int mfad_auth_code(struct mfad_rq *) MSS_WUR;
int mfad_auth_resend(struct mfad_rq *) MSS_WUR;
int mfad_auth_remember(struct mfad_rq *) MSS_WUR;
int mfad_auth_acct(struct mfad_rq *) MSS_WUR;


#endif /* MFAD_AUTH_H */
