/*
 * Unit tests for pam_mss/pam_mss_rep.c: what the module takes from
 * mfad's replies. No text mfad writes is ever shown to the person: a
 * password reply gives codes only (its English message is read and
 * dropped), and what is shown comes from the module's own catalogue,
 * chosen by those codes. The one string shown, the masked address, has
 * its control characters made '?' and is cut to PAM_MSS_MASK_MAX.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "mss_buf.h"
#include "mss_err.h"
#include "mss_proto.h"
#include "pam_mss/pam_mss_msg.h"
#include "pam_mss/pam_mss_rep.h"

#define MFAD_TEXT	"password refused: call the help desk on 555"

/* A RESULT as mfad writes it: code, message, then what follows. */
static struct mss_buf *
result(uint32_t code, const char *msg)
{
	struct mss_buf *b = mss_buf_new(MSS_MSG_MAX);

	assert_non_null(b);
	assert_int_equal(mss_buf_put_u32(b, code), 0);
	assert_int_equal(mss_buf_put_str(b, msg), 0);
	return b;
}

/* The text the module shows for a refusal with reason, in lang. */
static void
shown(enum pam_mss_lang lang, uint32_t reason, char *out, size_t len)
{
	pam_mss_msg_format(out, len, lang, pam_mss_msg_pw_reason(reason),
	    NULL, 0);
	assert_true(out[0] != '\0');
}

static void
test_password_ok(void **state)
{
	struct mss_buf *b = result(0, MFAD_TEXT);
	enum pam_mss_lang lang;
	uint32_t code = 99, reason = 99;

	(void)state;
	assert_int_equal(mss_buf_put_str(b, "fr"), 0);
	assert_int_equal(pam_mss_rep_password(b, &code, &reason, &lang), 0);
	assert_int_equal(code, 0);
	assert_int_equal(reason, 0);
	assert_int_equal(lang, PAM_MSS_LANG_FR);
	mss_buf_free(b);
}

/* Each reason is shown as the catalogue's words for it, in the
 * conversation's language; mfad's own words never. */
static void
test_password_refused_by_code(void **state)
{
	static const struct {
		uint32_t		reason;
		enum pam_mss_msg_id	id;
	} map[] = {
		{ MSS_PW_REFUSED, PAM_MSS_M_PW_REFUSED },
		{ MSS_PW_TOO_SHORT, PAM_MSS_M_PW_TOO_SHORT },
		{ MSS_PW_TOO_LONG, PAM_MSS_M_PW_TOO_LONG },
		{ MSS_PW_LIKE_NAME, PAM_MSS_M_PW_LIKE_NAME },
		{ MSS_PW_BLOCKLISTED, PAM_MSS_M_PW_BLOCKLISTED },
		{ MSS_PW_SAME_AS_OLD, PAM_MSS_M_PW_SAME_AS_OLD },
		{ 42, PAM_MSS_M_PW_REFUSED },
	};
	char text[1024], want[1024];
	enum pam_mss_lang lang, l;
	uint32_t code, reason;
	struct mss_buf *b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		b = result((uint32_t)-MSS_ERR_REFUSED, MFAD_TEXT);
		assert_int_equal(mss_buf_put_u32(b, map[i].reason), 0);
		assert_int_equal(mss_buf_put_str(b, "en"), 0);
		assert_int_equal(pam_mss_rep_password(b, &code, &reason,
		    &lang), 0);
		mss_buf_free(b);
		assert_int_equal(code, 19);
		assert_int_equal(reason, map[i].reason);
		assert_int_equal(lang, PAM_MSS_LANG_EN);
		assert_int_equal(pam_mss_msg_pw_reason(reason), map[i].id);
		for (l = PAM_MSS_LANG_EN; l <= PAM_MSS_LANG_FR; l++) {
			shown(l, reason, text, sizeof(text));
			pam_mss_msg_format(want, sizeof(want), l, map[i].id,
			    NULL, 0);
			assert_string_equal(text, want);
			assert_null(strstr(text, "help desk"));
		}
	}
}

/* The message is read whole and dropped whatever it holds. */
static void
test_password_text_ignored(void **state)
{
	char big[MSS_STR_MAX + 1];
	enum pam_mss_lang lang;
	uint32_t code, reason;
	struct mss_buf *b;

	(void)state;
	b = result((uint32_t)-MSS_ERR_REFUSED, "\x1b]0;owned\x07\r\nlogin: ");
	assert_int_equal(mss_buf_put_u32(b, MSS_PW_TOO_SHORT), 0);
	assert_int_equal(pam_mss_rep_password(b, &code, &reason, &lang), 0);
	mss_buf_free(b);
	assert_int_equal(reason, MSS_PW_TOO_SHORT);
	assert_int_equal(lang, PAM_MSS_LANG_AUTO);
	/* The longest message a string field may hold, and one more. */
	memset(big, 'x', MSS_STR_MAX);
	big[MSS_STR_MAX] = '\0';
	b = result(0, big);
	assert_int_equal(pam_mss_rep_password(b, &code, &reason, &lang), 0);
	mss_buf_free(b);
	b = mss_buf_new(MSS_MSG_MAX);
	assert_non_null(b);
	assert_int_equal(mss_buf_put_u32(b, 0), 0);
	assert_int_equal(mss_buf_put_u32(b, MSS_STR_MAX + 1), 0);
	assert_int_equal(mss_buf_put(b, big, MSS_STR_MAX), 0);
	assert_int_equal(mss_buf_put_u8(b, 'x'), 0);
	assert_int_not_equal(pam_mss_rep_password(b, &code, &reason, &lang),
	    0);
	mss_buf_free(b);
}

/* Strict: bytes past the fields a code has are a malformed reply, and
 * nothing of it is kept. */
static void
test_password_strict(void **state)
{
	enum pam_mss_lang lang;
	uint32_t code, reason;
	struct mss_buf *b;

	(void)state;
	/* Another refusal has neither reason nor language. */
	b = result((uint32_t)-MSS_ERR_NOTFOUND, "no such login");
	assert_int_equal(pam_mss_rep_password(b, &code, &reason, &lang), 0);
	assert_int_equal(code, 7);
	assert_int_equal(reason, 0);
	mss_buf_free(b);
	b = result((uint32_t)-MSS_ERR_NOTFOUND, "no such login");
	assert_int_equal(mss_buf_put_str(b, "fr"), 0);
	assert_int_equal(pam_mss_rep_password(b, &code, &reason, &lang),
	    MSS_ERR_PROTO);
	assert_int_equal(reason, 0);
	assert_int_equal(lang, PAM_MSS_LANG_AUTO);
	mss_buf_free(b);
	/* A refusal without its reason. */
	b = result((uint32_t)-MSS_ERR_REFUSED, "refused");
	assert_int_not_equal(pam_mss_rep_password(b, &code, &reason, &lang),
	    0);
	assert_int_equal(reason, 0);
	mss_buf_free(b);
	/* A language, then more. */
	b = result((uint32_t)-MSS_ERR_REFUSED, "refused");
	assert_int_equal(mss_buf_put_u32(b, MSS_PW_LIKE_NAME), 0);
	assert_int_equal(mss_buf_put_str(b, "fr"), 0);
	assert_int_equal(mss_buf_put_u8(b, 0), 0);
	assert_int_equal(pam_mss_rep_password(b, &code, &reason, &lang),
	    MSS_ERR_PROTO);
	assert_int_equal(reason, 0);
	assert_int_equal(lang, PAM_MSS_LANG_AUTO);
	mss_buf_free(b);
	/* A language the module does not know is none. */
	b = result(0, "");
	assert_int_equal(mss_buf_put_str(b, "de"), 0);
	assert_int_equal(pam_mss_rep_password(b, &code, &reason, &lang), 0);
	assert_int_equal(lang, PAM_MSS_LANG_AUTO);
	mss_buf_free(b);
}

/* An AUTH reply with the masked address given. */
static struct mss_buf *
auth(const char *masked)
{
	struct mss_buf *b = mss_buf_new(MSS_MSG_MAX);

	assert_non_null(b);
	assert_int_equal(mss_buf_put_u8(b, MSS_AUTH_CODE_SENT), 0);
	assert_int_equal(mss_buf_put_str(b, "ab12"), 0);
	assert_int_equal(mss_buf_put_str(b, masked), 0);
	assert_int_equal(mss_buf_put_u32(b, 5), 0);
	assert_int_equal(mss_buf_put_u8(b, MSS_MAIL_QUEUED), 0);
	assert_int_equal(mss_buf_put_u32(b, 0), 0);
	return b;
}

static void
test_masked_sanitized(void **state)
{
	struct pam_mss_rep_auth a;
	struct mss_buf *b;
	char text[1024];

	(void)state;
	b = auth("al\x1b[2J**@ex\r\n**\x7f");
	assert_int_equal(pam_mss_rep_auth(b, 0, &a), 0);
	mss_buf_free(b);
	assert_string_equal(a.masked, "al?[2J**@ex??**?");
	/* Shown inside the catalogue's sentence, as data. */
	pam_mss_msg_format(text, sizeof(text), PAM_MSS_LANG_EN,
	    PAM_MSS_M_CODE_SENT, a.masked, a.minutes);
	assert_non_null(strstr(text, "al?[2J**@ex??**?"));
	assert_null(strpbrk(text, "\x1b\r\n\x7f"));
	pam_mss_rep_auth_free(&a);
}

/* Cut to PAM_MSS_MASK_MAX bytes, never inside a UTF-8 character. */
static void
test_masked_cut(void **state)
{
	char m[400];
	struct pam_mss_rep_auth a;
	struct mss_buf *b;
	size_t i;

	(void)state;
	assert_int_equal(PAM_MSS_MASK_MAX, 128);
	/* "a" then two-byte letters: byte 128 is the second of one. */
	m[0] = 'a';
	for (i = 1; i + 2 < sizeof(m); i += 2)
		memcpy(m + i, "\xc3\xa9", 2);
	m[i] = '\0';
	b = auth(m);
	assert_int_equal(pam_mss_rep_auth(b, 0, &a), 0);
	mss_buf_free(b);
	assert_int_equal(strlen(a.masked), 127);
	assert_int_equal((unsigned char)a.masked[126], 0xa9);
	pam_mss_rep_auth_free(&a);
	/* Plain ASCII: exactly the bound. */
	memset(m, 'x', 300);
	m[300] = '\0';
	b = auth(m);
	assert_int_equal(pam_mss_rep_auth(b, 0, &a), 0);
	mss_buf_free(b);
	assert_int_equal(strlen(a.masked), PAM_MSS_MASK_MAX);
	pam_mss_rep_auth_free(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_password_ok),
		cmocka_unit_test(test_password_refused_by_code),
		cmocka_unit_test(test_password_text_ignored),
		cmocka_unit_test(test_password_strict),
		cmocka_unit_test(test_masked_sanitized),
		cmocka_unit_test(test_masked_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
