/*
 * `mfadctl import`: a batch of (line, user, email, lang, password hash,
 * devices) rows applied in one transaction, so that thousands of rows
 * cost a few disk syncs. Without a hash a new account is an invitation;
 * with one (an argon2id string made elsewhere, e.g. by the portal the
 * accounts come from) it is active, and the row's device identities are
 * remembered for [device] remember_days. Each row gets its own answer
 * ("added", "unchanged", "email changed", ...) or an error; a bad row
 * never stops the others, and applying the same rows twice changes
 * nothing.
 */
#ifndef MFAD_IMPORT_H
#define MFAD_IMPORT_H

#include "mfad_ctx.h"

int mfad_import(struct mfad_rq *) MSS_WUR;

#endif /* MFAD_IMPORT_H */
