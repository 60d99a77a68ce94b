/*
 * `mfadctl import`: the CSV reader (mfad_csv_split) on each line of the
 * input, then the rows that split, sent as mfadctl sends them to mfad's
 * import handler (mfad_import.c) as an admin, on a real store holding one
 * account. As in fuzz_dispatch, each input's changes are dropped after.
 *
 * Checked: the fields a row splits into lie within the line, unquoted
 * ones hold no quote or comma and no blank at either end; mfad answers
 * one result per row sent, for the same lines, in order.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "mfad_csv.h"
#include "mfad_store.h"
#include "mss_buf.h"
#include "mss_err.h"
#include "mss_io.h"
#include "mss_proto.h"
#include "fuzz_common.h"

#define FUZZ_FIELDS	(4 + MSS_IMPORT_ROW_DEVICES)
#define FUZZ_BYTES	(60 * 1024)	/* as mfadctl's batches */

/* One input's requests run in one batch, aborted at its end, as the
 * committing thread runs them: the store stays as it was. */
static struct mfad_txn *batch;

static struct mfad_ctx ctx;
static struct mfad_peer admin;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct mss_buf *req, *out;

	(void)argc;
	(void)argv;
	fuzz_ctx_open(&ctx);
	admin.roles = MFAD_ROLE_ADMIN | MFAD_ROLE_PAM;
	memcpy(admin.name, "root", 5);
	/* One account, so that rows may also change one. */
	FUZZ_CHECK((req = mss_buf_new(MSS_MSG_MAX)) != NULL);
	FUZZ_CHECK(mss_buf_put_str(req, "alice") == 0 &&
	    mss_buf_put_str(req, "alice@example.org") == 0 &&
	    mss_buf_put_str(req, "en") == 0 &&
	    mss_buf_put_str(req, "") == 0);
	FUZZ_CHECK((out = mfad_server_dispatch(&ctx, batch, &admin,
	    MSS_REQ_USER_ADD, req)) != NULL);
	mss_buf_free(out);
	mss_buf_free(req);
	return 0;
}

/* Checks the fields that copy (of orig, len bytes) was split into. */
static void
check_fields(const char *orig, const char *copy, size_t len, char **f,
    int n)
{
	size_t off, flen;
	int i;

	for (i = 0; i < n; i++) {
		FUZZ_CHECK(f[i] >= copy && f[i] <= copy + len);
		off = (size_t)(f[i] - copy);
		flen = strlen(f[i]);
		FUZZ_CHECK(off + flen <= len);
		if (orig[off] == '"')
			continue;	/* quoted: may hold anything */
		FUZZ_CHECK(strchr(f[i], ',') == NULL &&
		    strchr(f[i], '"') == NULL);
		FUZZ_CHECK(flen == 0 || (f[i][0] != ' ' && f[i][0] != '\t' &&
		    f[i][flen - 1] != ' ' && f[i][flen - 1] != '\t'));
	}
}

static void
send_rows(struct mss_buf *rows, uint32_t n, const uint32_t *lines)
{
	struct mss_buf *req, *out, rep;
	uint32_t len, got, i, line, code;
	uint8_t rtype;
	char *msg;

	FUZZ_CHECK((req = mss_buf_new(MSS_MSG_MAX)) != NULL);
	FUZZ_CHECK(mss_buf_put_u32(req, n) == 0);
	FUZZ_CHECK(mss_buf_put(req, mss_buf_ptr(rows), mss_buf_avail(rows))
	    == 0);
	out = mfad_server_dispatch(&ctx, batch, &admin, MSS_REQ_USER_IMPORT,
	    req);
	FUZZ_CHECK(out != NULL);
	FUZZ_CHECK(mss_frame_header(mss_buf_ptr(out), &rtype, &len) == 0);
	memset(&rep, 0, sizeof(rep));
	rep.data = (unsigned char *)mss_buf_ptr(out) + MSS_FRAME_HDR;
	rep.len = rep.cap = rep.max = len;
	if (rtype == MSS_REP_IMPORT) {
		FUZZ_CHECK(mss_buf_get_u32(&rep, &got) == 0 && got == n);
		for (i = 0; i < n; i++) {
			FUZZ_CHECK(mss_buf_get_u32(&rep, &line) == 0 &&
			    line == lines[i]);
			FUZZ_CHECK(mss_buf_get_u32(&rep, &code) == 0);
			FUZZ_CHECK(mss_buf_get_str(&rep, &msg, MSS_STR_MAX)
			    == 0);
			mss_str_free(msg);
		}
		FUZZ_CHECK(mss_buf_end(&rep) == 0);
	} else
		FUZZ_CHECK(rtype == MSS_REP_RESULT);
	mss_buf_free(out);
	mss_buf_free(req);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t lines[MSS_IMPORT_ROWS], nrows = 0, ndevs = 0, lineno = 0;
	char *buf, *line, *next, *copy, *f[FUZZ_FIELDS];
	struct mss_buf *rows;
	size_t len, need;
	int n, i, ok;

	if ((buf = malloc(size + 1)) == NULL ||
	    (rows = mss_buf_new(MSS_MSG_MAX)) == NULL)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (mfad_txn_begin(ctx.store, 0, &batch) != 0)
		abort();
	for (line = buf; line != NULL && line < buf + size; line = next) {
		lineno++;
		if ((next = memchr(line, '\n', (size_t)(buf + size - line)))
		    != NULL)
			*next++ = '\0';
		len = strlen(line);
		while (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (*line == '#' || *line == '\0')
			continue;
		if ((copy = strdup(line)) == NULL)
			abort();
		n = mfad_csv_split(copy, f, FUZZ_FIELDS);
		FUZZ_CHECK(n >= -2 && n != 0 && n <= FUZZ_FIELDS);
		if (n > 0)
			check_fields(line, copy, len, f, n);
		for (i = 0, ok = n >= 2, need = 32; ok && i < n; i++) {
			ok = strlen(f[i]) <= MSS_STR_MAX;
			need += strlen(f[i]) + 4;
		}
		if (ok && (nrows == MSS_IMPORT_ROWS ||
		    ndevs + (uint32_t)(n > 4 ? n - 4 : 0) >
		    MSS_IMPORT_DEVICES ||
		    mss_buf_avail(rows) + need > FUZZ_BYTES)) {
			send_rows(rows, nrows, lines);
			mss_buf_reset(rows);
			nrows = ndevs = 0;
		}
		if (ok) {
			FUZZ_CHECK(mss_buf_put_u32(rows, lineno) == 0 &&
			    mss_buf_put_str(rows, f[0]) == 0 &&
			    mss_buf_put_str(rows, f[1]) == 0 &&
			    mss_buf_put_str(rows, n > 2 ? f[2] : "") == 0 &&
			    mss_buf_put_str(rows, n > 3 ? f[3] : "") == 0 &&
			    mss_buf_put_u32(rows, n > 4 ? (uint32_t)n - 4 : 0)
			    == 0);
			for (i = 4; i < n; i++)
				FUZZ_CHECK(mss_buf_put_str(rows, f[i]) == 0);
			lines[nrows++] = lineno;
			ndevs += n > 4 ? (uint32_t)n - 4 : 0;
		}
		free(copy);
	}
	if (nrows > 0)
		send_rows(rows, nrows, lines);
	mfad_txn_abort(&batch);
	mss_buf_free(rows);
	free(buf);
	return 0;
}
