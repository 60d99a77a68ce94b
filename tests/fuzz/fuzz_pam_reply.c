/*
 * The module's readers of mfad's replies: whatever a daemon (or what
 * poses as one) answers, each reader either refuses it, leaving nothing
 * allocated, or gives values within the protocol's ranges and strings
 * without control characters for the terminal. The first byte picks the
 * reply (AUTH with or without a login held, CODE, ACCT, RESULT, RESULT
 * to a password request); the rest is its payload. A password refusal's
 * reason always leads to a message with words in both languages.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "mss_buf.h"
#include "mss_err.h"
#include "mss_proto.h"
#include "pam_mss_rep.h"
#include "fuzz_common.h"

static void
no_controls(const char *s)
{
	for (; *s != '\0'; s++)
		FUZZ_CHECK((unsigned char)*s >= 0x20 &&
		    (unsigned char)*s != 0x7f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pam_mss_rep_auth a;
	struct pam_mss_rep_code c;
	struct mss_buf *rep;
	uint64_t date;
	uint32_t code, reason;
	enum pam_mss_msg_id id;
	enum pam_mss_lang lang;
	uint8_t state;
	char *msg;
	int r;

	if (size < 1 || size - 1 > MSS_MSG_MAX)
		return 0;
	if ((rep = mss_buf_new(MSS_MSG_MAX)) == NULL)
		abort();
	if (size > 1 && mss_buf_put(rep, data + 1, size - 1) != 0)
		abort();
	switch (data[0] % 6) {
	case 0:
	case 1:
		r = pam_mss_rep_auth(rep, data[0] % 6, &a);
		if (r != 0) {
			FUZZ_CHECK(a.login == NULL && a.masked == NULL);
			break;
		}
		FUZZ_CHECK(a.login != NULL && strlen(a.login) <=
		    MSS_TOKEN_LEN);
		FUZZ_CHECK(a.masked != NULL && strlen(a.masked) <=
		    PAM_MSS_MASK_MAX);
		no_controls(a.masked);
		FUZZ_CHECK(a.result <= MSS_AUTH_CODE_VALID &&
		    a.mail <= MSS_MAIL_FAILED);
		FUZZ_CHECK(a.lang == PAM_MSS_LANG_AUTO ||
		    a.lang == PAM_MSS_LANG_EN || a.lang == PAM_MSS_LANG_FR);
		if (data[0] % 6 == 0 && (a.result == MSS_AUTH_CODE_SENT ||
		    a.result == MSS_AUTH_CODE_VALID))
			FUZZ_CHECK(*a.login != '\0');
		pam_mss_rep_auth_free(&a);
		break;
	case 2:
		if (pam_mss_rep_code(rep, &c) == 0)
			FUZZ_CHECK(c.result <= MSS_CODE_MOVED &&
			    c.mail <= MSS_MAIL_FAILED &&
			    c.next <= MSS_NEXT_RESET &&
			    (c.lang == PAM_MSS_LANG_AUTO ||
			    c.lang == PAM_MSS_LANG_EN ||
			    c.lang == PAM_MSS_LANG_FR));
		break;
	case 3:
		if (pam_mss_rep_acct(rep, &state, &date) == 0)
			FUZZ_CHECK(state <= MSS_ACCT_REENROLL);
		break;
	case 5:
		r = pam_mss_rep_password(rep, &code, &reason, &lang);
		/* A language only after a change or a refusal by policy. */
		FUZZ_CHECK(lang == PAM_MSS_LANG_AUTO || (r == 0 &&
		    (code == 0 || code == (uint32_t)-MSS_ERR_REFUSED)));
		if (r != 0 || code != (uint32_t)-MSS_ERR_REFUSED) {
			FUZZ_CHECK(reason == 0);
			break;
		}
		id = pam_mss_msg_pw_reason(reason);
		FUZZ_CHECK(id < PAM_MSS_M_COUNT);
		FUZZ_CHECK(*pam_mss_msg_text(PAM_MSS_LANG_EN, id) != '\0' &&
		    *pam_mss_msg_text(PAM_MSS_LANG_FR, id) != '\0');
		break;
	default:
		r = pam_mss_rep_result(rep, &code, &msg);
		if (r == 0) {
			FUZZ_CHECK(msg != NULL && strlen(msg) <= MSS_STR_MAX);
			pam_mss_sanitize(msg);
			no_controls(msg);
			mss_str_free(msg);
		} else
			FUZZ_CHECK(msg == NULL);
		break;
	}
	mss_buf_free(rep);
	return 0;
}
