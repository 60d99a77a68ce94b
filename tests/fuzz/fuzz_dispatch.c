/*
 * The frame decoder and every request handler, on a real store, as each
 * caller role. An input is a conversation: up to 8 requests, each a role
 * byte then a frame (header and payload) as a client writes it. Each
 * input starts from the same store (a few accounts made at start): its
 * requests run inside one transaction that is dropped afterwards, as
 * mfad's group commit runs them inside one it commits.
 *
 * Checked besides memory and undefined behaviour: every reply is a frame
 * mfad could send, and a RESULT reply parses.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "mfad_store.h"
#include "mss_buf.h"
#include "mss_err.h"
#include "mss_io.h"
#include "mss_proto.h"
#include "fuzz_common.h"

#define FUZZ_REQUESTS	8

/* One input's requests run in one batch, aborted at its end, as the
 * committing thread runs them: the store stays as it was. */
static struct mfad_txn *batch;

static struct mfad_ctx ctx;
static int verbose;	/* FUZZ_VERBOSE set: each request and its reply */

/* The roles a request may come with: root (admin and trusted PAM), sshd
 * as a trusted PAM caller, a user with an account acting for itself, and
 * one without. */
static struct mfad_peer peers[4];

static void
peer_set(struct mfad_peer *p, uid_t uid, unsigned roles, const char *name)
{
	memset(p, 0, sizeof(*p));
	p->uid = uid;
	p->gid = uid;
	p->pid = 4242;
	p->roles = roles;
	snprintf(p->name, sizeof(p->name), "%s", name);
}

/* Runs one request and checks its reply; returns its reply type, or 0
 * when mfad would drop the connection. */
static uint8_t
run(const struct mfad_peer *peer, uint8_t type, struct mss_buf *req)
{
	struct mss_buf *out, rep;
	uint32_t len, code, reason;
	uint8_t rtype = 0;
	char *msg = NULL;

	if ((out = mfad_server_dispatch(&ctx, batch, peer, type, req)) == NULL)
		return 0;
	FUZZ_CHECK(mss_buf_avail(out) >= MSS_FRAME_HDR);
	FUZZ_CHECK(mss_frame_header(mss_buf_ptr(out), &rtype, &len) == 0);
	FUZZ_CHECK(len == mss_buf_avail(out) - MSS_FRAME_HDR);
	FUZZ_CHECK(rtype >= MSS_REP_RESULT);
	if (rtype == MSS_REP_RESULT) {
		memset(&rep, 0, sizeof(rep));
		rep.data = (unsigned char *)mss_buf_ptr(out) + MSS_FRAME_HDR;
		rep.len = rep.cap = rep.max = len;
		FUZZ_CHECK(mss_buf_get_u32(&rep, &code) == 0);
		FUZZ_CHECK(mss_buf_get_str(&rep, &msg, MSS_STR_MAX) == 0);
		mss_str_free(msg);
		msg = NULL;
		/* A password refused by policy carries its reason; a change
		 * the old password proved, the account's language. */
		if ((type == MSS_REQ_SET_PASSWORD ||
		    type == MSS_REQ_CHANGE_PASSWORD) &&
		    code == (uint32_t)-MSS_ERR_REFUSED)
			FUZZ_CHECK(mss_buf_get_u32(&rep, &reason) == 0);
		if (type == MSS_REQ_CHANGE_PASSWORD &&
		    (code == 0 || code == (uint32_t)-MSS_ERR_REFUSED)) {
			FUZZ_CHECK(mss_buf_get_str(&rep, &msg,
			    MSS_STR_MAX) == 0);
			mss_str_free(msg);
		}
		FUZZ_CHECK(mss_buf_end(&rep) == 0);
	}
	if (verbose)
		fprintf(stderr, "request %u from %s: reply %u%s%.*s\n",
		    (unsigned)type, peer->name, (unsigned)rtype,
		    rtype == MSS_REP_RESULT ? " " : "",
		    rtype == MSS_REP_RESULT ? (int)(len - 8) : 0,
		    (const char *)mss_buf_ptr(out) + MSS_FRAME_HDR + 8);
	mss_buf_free(out);
	return rtype;
}

static void
put_str(struct mss_buf *b, const char *s)
{
	FUZZ_CHECK(mss_buf_put_str(b, s) == 0);
}

/* The accounts every input starts with: alice active with a password
 * and a remembered device, bob invited, carol active and locked. */
static void
fixtures(void)
{
	static const char *const rows[][4] = {
		{ "alice", "alice@example.org", "en", "hash" },
		{ "bob", "bob@example.org", "fr", "" },
		{ "carol", "carol@example.org", "", "hash" },
	};
	char hash[crypto_pwhash_STRBYTES];
	struct mss_buf *req;
	size_t i;

	FUZZ_CHECK(crypto_pwhash_str(hash, "correct horse battery staple",
	    28, crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN) == 0);
	FUZZ_CHECK((req = mss_buf_new(MSS_MSG_MAX)) != NULL);
	FUZZ_CHECK(mss_buf_put_u32(req, 3) == 0);
	for (i = 0; i < 3; i++) {
		FUZZ_CHECK(mss_buf_put_u32(req, (uint32_t)i + 1) == 0);
		put_str(req, rows[i][0]);
		put_str(req, rows[i][1]);
		put_str(req, rows[i][2]);
		put_str(req, *rows[i][3] != '\0' ? hash : "");
		FUZZ_CHECK(mss_buf_put_u32(req, i == 0 ? 1 : 0) == 0);
		if (i == 0)
			put_str(req, "rhost:192.0.2.7");
	}
	FUZZ_CHECK(run(&peers[0], MSS_REQ_USER_IMPORT, req) ==
	    MSS_REP_IMPORT);
	mss_buf_reset(req);
	put_str(req, "carol");
	FUZZ_CHECK(run(&peers[0], MSS_REQ_USER_LOCK, req) == MSS_REP_RESULT);
	mss_buf_free(req);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	fuzz_ctx_open(&ctx);
	peer_set(&peers[0], 0, MFAD_ROLE_ADMIN | MFAD_ROLE_PAM, "root");
	peer_set(&peers[1], 105, MFAD_ROLE_PAM, "sshd");
	peer_set(&peers[2], 1000, MFAD_ROLE_SELF, "alice");
	peer_set(&peers[3], 65534, MFAD_ROLE_SELF, "nobody");
	fixtures();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mss_buf *req;
	uint32_t len;
	uint8_t type;
	int n;

	if (mfad_txn_begin(ctx.store, 0, &batch) != 0)
		abort();
	for (n = 0; n < FUZZ_REQUESTS && size >= 1 + MSS_FRAME_HDR; n++) {
		const struct mfad_peer *peer = &peers[data[0] & 3];

		/* The daemon's own check, before it allocates anything. */
		if (mss_frame_header(data + 1, &type, &len) != 0 ||
		    len > size - 1 - MSS_FRAME_HDR)
			break;
		data += 1 + MSS_FRAME_HDR;
		size -= 1 + MSS_FRAME_HDR;
		if ((req = mss_buf_new(len)) == NULL)
			abort();
		if (len > 0 && mss_buf_put(req, data, len) != 0)
			abort();
		data += len;
		size -= len;
		run(peer, type, req);
		mss_buf_free(req);
	}
	mfad_txn_abort(&batch);
	return 0;
}
