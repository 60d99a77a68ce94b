/*
 * `mfadctl import`: a batch of (line, user, email, lang) rows applied in
 * one transaction, so that thousands of rows cost a few disk syncs. Each
 * row gets its own answer: "added" (an invitation), "unchanged", "email
 * changed", or an error; a bad row never stops the others, and applying
 * the same rows twice changes nothing.
 */
#ifndef MFAD_IMPORT_H
#define MFAD_IMPORT_H

#include "mfad_server.h"

#define MFAD_IMPORT_BATCH	500	/* rows in one request, at most */

int mfad_import(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *);

#endif /* MFAD_IMPORT_H */
