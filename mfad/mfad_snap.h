/*
 * The configuration in force is an immutable snapshot. A reload parses
 * the file into a new struct mfad_conf and publishes it; each request and
 * each mail session holds the snapshot that was current when it started
 * and lets it go when done; an old snapshot is freed by its last holder.
 * The lock behind these is held for a pointer copy and a count only, so a
 * reload never waits for a relay or a password hash, nor they for it.
 */
#ifndef MFAD_SNAP_H
#define MFAD_SNAP_H

#include "mfad_conf.h"
#include "mfad_ctx.h"

/* Makes conf (owned from now on, never changed again) the snapshot every
 * later hold gets, and lets go of ctx's previous one. */
void mfad_snap_publish(struct mfad_ctx *ctx, struct mfad_conf *conf);
/* The current snapshot, held until mfad_snap_release. */
struct mfad_conf *mfad_snap_hold(struct mfad_ctx *ctx);
/* Lets go of a held snapshot (NULL: nothing); frees it when it was the
 * last holder of one a reload replaced. */
void mfad_snap_release(struct mfad_conf *conf);
/* Fills view with a copy of ctx and the current snapshot, held: what a
 * request runs with (ctx's other fields must be set by then). Ends with
 * mfad_snap_view_end. */
void mfad_snap_view(struct mfad_ctx *ctx, struct mfad_ctx *view);
void mfad_snap_view_end(struct mfad_ctx *view);

#endif /* MFAD_SNAP_H */
