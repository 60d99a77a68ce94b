/*
 * What the fuzzers share: a scratch directory removed at exit, a daemon
 * context on a real LMDB store in it (tiny argon2id limits, a relay that
 * refuses at once, the source tree's templates), and a syslog that
 * writes nothing, so that millions of refused inputs do not flood the
 * machine's log.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "mfad_dispatch.h"

/* Aborts (a finding) with a message when cond is false. */
#define FUZZ_CHECK(cond) do {						\
	if (!(cond))							\
		fuzz_fail(__FILE__, __LINE__, #cond);			\
} while (0)

void fuzz_fail(const char *file, int line, const char *what)
    __attribute__((noreturn));
/* A new directory under $TMPDIR, removed with its contents at exit. */
const char *fuzz_tmpdir(void);
/* Writes len bytes to path (created or truncated); aborts on failure. */
void fuzz_write_file(const char *path, const void *data, size_t len);
/* The templates of the source tree (FUZZ_TEMPLATES, or the build's). */
const char *fuzz_templates(void);
/* A config for a scratch store in dir; aborts on failure. */
struct mfad_conf *fuzz_conf(const char *dir);
/* Opens ctx on a new store in a scratch directory; aborts on failure. */
void fuzz_ctx_open(struct mfad_ctx *ctx);

#endif /* FUZZ_COMMON_H */
