/*
 * Unit tests for pam_mss/pam_mss_msg.c and the French table compiled from
 * po/fr.po: every message exists in both languages with the same
 * placeholders, the key words of DESIGN.md section 3 are there, and the
 * language is chosen from lang=, then the PAM environment, then the
 * process environment.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <security/pam_appl.h>

#include "mss_proto.h"
#include "pam_mss/pam_mss_msg.h"

#define PROMPT(id)	{ id, #id }

static const struct {
	enum pam_mss_msg_id	 id;
	const char		*name;
} prompts[] = {
	PROMPT(PAM_MSS_M_EMAIL_PROMPT),
	PROMPT(PAM_MSS_M_PASS_PROMPT),
	PROMPT(PAM_MSS_M_CODE_PROMPT),
	PROMPT(PAM_MSS_M_REMEMBER_PROMPT),
	PROMPT(PAM_MSS_M_NEWPASS_PROMPT),
	PROMPT(PAM_MSS_M_NEWPASS_AGAIN),
	PROMPT(PAM_MSS_M_OLDPASS_PROMPT),
};

/* Counts of "%s", "%u" and "%%" in t; *bad is -1 for any other '%'. */
static void
count_placeholders(const char *t, int counts[3], int *bad)
{
	const char *p;

	counts[0] = counts[1] = counts[2] = 0;
	*bad = 0;
	for (p = t; (p = strchr(p, '%')) != NULL; p += 2) {
		if (p[1] == 's')
			counts[0]++;
		else if (p[1] == 'u')
			counts[1]++;
		else if (p[1] == '%')
			counts[2]++;
		else {
			*bad = -1;
			return;
		}
	}
}

static void
clear_locale_env(void)
{
	assert_int_equal(unsetenv("LC_ALL"), 0);
	assert_int_equal(unsetenv("LC_MESSAGES"), 0);
	assert_int_equal(unsetenv("LANG"), 0);
}

static int
conv_none(int n, const struct pam_message **msg, struct pam_response **resp,
    void *data)
{
	(void)n;
	(void)msg;
	(void)resp;
	(void)data;
	return PAM_CONV_ERR;
}

/*
 * A PAM handle for its environment only. Its stack, in a scratch
 * configuration directory, is never run.
 */
static int
setup_pamh(void **state)
{
	static const struct pam_conv conv = { conv_none, NULL };
	char dir[] = "/tmp/test_msg.XXXXXX", path[64];
	pam_handle_t *pamh = NULL;
	FILE *f;
	int r = -1, ok;

	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/pam_mss_test", dir);
	if ((f = fopen(path, "w")) == NULL)
		goto out;
	ok = fputs("auth required pam_deny.so\n", f) >= 0;
	if (fclose(f) != 0 || !ok)
		goto out;
	if (pam_start_confdir("pam_mss_test", "nobody", &conv, dir,
	    &pamh) == PAM_SUCCESS)
		r = 0;
out:
	(void)unlink(path);
	(void)rmdir(dir);
	*state = pamh;
	return r;
}

static int
teardown_pamh(void **state)
{
	clear_locale_env();
	return pam_end(*state, PAM_SUCCESS) == PAM_SUCCESS ? 0 : -1;
}

static void
test_msg_every_id_in_both_languages(void **state)
{
	const char *en, *fr;
	int cen[3], cfr[3], bad;
	unsigned int id;

	(void)state;
	for (id = 0; id < PAM_MSS_M_COUNT; id++) {
		en = pam_mss_msg_text(PAM_MSS_LANG_EN, id);
		fr = pam_mss_msg_text(PAM_MSS_LANG_FR, id);
		assert_non_null(en);
		assert_non_null(fr);
		assert_true(en[0] != '\0');
		assert_true(fr[0] != '\0');
		/* Equal texts would mean the catalogue lacks this one. */
		if (strcmp(en, fr) == 0)
			fail_msg("no French for \"%s\"", en);
		count_placeholders(en, cen, &bad);
		assert_int_equal(bad, 0);
		count_placeholders(fr, cfr, &bad);
		assert_int_equal(bad, 0);
		assert_memory_equal(cen, cfr, sizeof(cen));
	}
}

static void
test_msg_prompts_differ(void **state)
{
	const char *en, *fr;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(prompts) / sizeof(prompts[0]); i++) {
		en = pam_mss_msg_text(PAM_MSS_LANG_EN, prompts[i].id);
		fr = pam_mss_msg_text(PAM_MSS_LANG_FR, prompts[i].id);
		if (en == NULL || fr == NULL || strcmp(en, fr) == 0)
			fail_msg("%s: no distinct French prompt",
			    prompts[i].name);
	}
}

/*
 * The table compiled from po/fr.po is sorted for bsearch() and holds only
 * the module's texts, so a stale entry would show here.
 */
static void
test_msg_catalogue_sorted_and_current(void **state)
{
	const char *en;
	unsigned int id;
	size_t i;
	int found;

	(void)state;
	assert_int_equal(pam_mss_msg_fr_count, PAM_MSS_M_COUNT);
	for (i = 0; i < pam_mss_msg_fr_count; i++) {
		assert_true(pam_mss_msg_fr[i].msgstr[0] != '\0');
		if (i > 0)
			assert_true(strcmp(pam_mss_msg_fr[i - 1].msgid,
			    pam_mss_msg_fr[i].msgid) < 0);
		found = 0;
		for (id = 0; id < PAM_MSS_M_COUNT; id++) {
			en = pam_mss_msg_text(PAM_MSS_LANG_EN, id);
			if (strcmp(en, pam_mss_msg_fr[i].msgid) == 0)
				found = 1;
		}
		if (!found)
			fail_msg("stale msgid \"%s\"", pam_mss_msg_fr[i].msgid);
	}
}

static void
check_format(enum pam_mss_lang lang, enum pam_mss_msg_id id, const char *s,
    unsigned int n, const char *want)
{
	char out[PAM_MSS_MSG_LEN];

	pam_mss_msg_format(out, sizeof(out), lang, id, s, n);
	assert_string_equal(out, want);
}

static void
test_msg_design_key_words(void **state)
{
	(void)state;
	check_format(PAM_MSS_LANG_FR, PAM_MSS_M_EMAIL_PROMPT, NULL, 0,
	    "Adresse e-mail : ");
	check_format(PAM_MSS_LANG_FR, PAM_MSS_M_PASS_PROMPT, NULL, 0,
	    "Mot de passe : ");
	check_format(PAM_MSS_LANG_FR, PAM_MSS_M_CODE_PROMPT, NULL, 0,
	    "Code d'authentification : ");
	check_format(PAM_MSS_LANG_FR, PAM_MSS_M_REMEMBER_PROMPT, NULL, 30,
	    "Se souvenir de cet appareil pendant 30 jours ? [o/N] ");
	check_format(PAM_MSS_LANG_EN, PAM_MSS_M_EMAIL_PROMPT, NULL, 0,
	    "Email address: ");
	check_format(PAM_MSS_LANG_EN, PAM_MSS_M_PASS_PROMPT, NULL, 0,
	    "Password: ");
	check_format(PAM_MSS_LANG_EN, PAM_MSS_M_CODE_PROMPT, NULL, 0,
	    "Authentication code: ");
	check_format(PAM_MSS_LANG_EN, PAM_MSS_M_REMEMBER_PROMPT, NULL, 30,
	    "Remember this device for 30 days? [y/N] ");
}

static void
test_msg_format_substitutes(void **state)
{
	(void)state;
	check_format(PAM_MSS_LANG_FR, PAM_MSS_M_CODE_SENT,
	    "al*****@example*****", 10,
	    "Un code a été envoyé à al*****@example*****. Il est valable "
	    "10 minutes. Validez une ligne vide pour en recevoir un "
	    "nouveau.");
	check_format(PAM_MSS_LANG_EN, PAM_MSS_M_CODE_RESENT,
	    "al*****@example*****", 5,
	    "A new code was sent to al*****@example*****. It is valid for "
	    "5 minutes.");
	/* A "%s" in the argument is text, not a placeholder. */
	check_format(PAM_MSS_LANG_FR, PAM_MSS_M_CODE_RESENT, "50%s %u", 1,
	    "Un nouveau code a été envoyé à 50%s %u. Il est valable "
	    "1 minute.");
	check_format(PAM_MSS_LANG_EN, PAM_MSS_M_CODE_RESENT, NULL, 1,
	    "A new code was sent to . It is valid for 1 minute.");
}

static void
test_msg_unknown_id(void **state)
{
	char out[8] = "x";

	(void)state;
	assert_null(pam_mss_msg_text(PAM_MSS_LANG_FR, PAM_MSS_M_COUNT));
	pam_mss_msg_format(out, sizeof(out), PAM_MSS_LANG_FR,
	    PAM_MSS_M_COUNT, NULL, 0);
	assert_string_equal(out, "");
}

/* A cut result ends on a character boundary (é is two bytes). */
static void
test_msg_format_cuts_whole_characters(void **state)
{
	char out[12];

	(void)state;
	memset(out, 'Z', sizeof(out));
	/* "Un code a é" would need 13 bytes with the NUL. */
	pam_mss_msg_format(out, sizeof(out), PAM_MSS_LANG_FR,
	    PAM_MSS_M_CODE_SENT, "x", 1);
	assert_string_equal(out, "Un code a ");
}

static void
test_msg_lang_explicit_wins(void **state)
{
	pam_handle_t *pamh = *state;

	clear_locale_env();
	assert_int_equal(setenv("LANG", "fr_FR.UTF-8", 1), 0);
	assert_int_equal(pam_putenv(pamh, "LANG=fr_FR.UTF-8"), PAM_SUCCESS);
	assert_int_equal(pam_mss_msg_lang(pamh, PAM_MSS_LANG_EN),
	    PAM_MSS_LANG_EN);
	assert_int_equal(pam_mss_msg_lang(NULL, PAM_MSS_LANG_EN),
	    PAM_MSS_LANG_EN);
	assert_int_equal(setenv("LANG", "en_US.UTF-8", 1), 0);
	assert_int_equal(pam_putenv(pamh, "LANG=en_US.UTF-8"), PAM_SUCCESS);
	assert_int_equal(pam_mss_msg_lang(pamh, PAM_MSS_LANG_FR),
	    PAM_MSS_LANG_FR);
}

static void
test_msg_lang_pam_env_over_process(void **state)
{
	pam_handle_t *pamh = *state;

	clear_locale_env();
	assert_int_equal(setenv("LC_ALL", "en_US.UTF-8", 1), 0);
	assert_int_equal(pam_putenv(pamh, "LANG=fr_CA.UTF-8"), PAM_SUCCESS);
	assert_int_equal(pam_mss_msg_lang(pamh, PAM_MSS_LANG_AUTO),
	    PAM_MSS_LANG_FR);

	assert_int_equal(setenv("LC_ALL", "fr_FR.UTF-8", 1), 0);
	assert_int_equal(pam_putenv(pamh, "LANG=C.UTF-8"), PAM_SUCCESS);
	assert_int_equal(pam_mss_msg_lang(pamh, PAM_MSS_LANG_AUTO),
	    PAM_MSS_LANG_EN);

	/* LC_ALL, then LC_MESSAGES, then LANG, within the PAM environment. */
	assert_int_equal(pam_putenv(pamh, "LC_MESSAGES=fr_BE"), PAM_SUCCESS);
	assert_int_equal(pam_mss_msg_lang(pamh, PAM_MSS_LANG_AUTO),
	    PAM_MSS_LANG_FR);
	assert_int_equal(pam_putenv(pamh, "LC_ALL=en_GB"), PAM_SUCCESS);
	assert_int_equal(pam_mss_msg_lang(pamh, PAM_MSS_LANG_AUTO),
	    PAM_MSS_LANG_EN);

	/* Without locale variables there, the process decides. */
	assert_int_equal(pam_putenv(pamh, "LC_ALL"), PAM_SUCCESS);
	assert_int_equal(pam_putenv(pamh, "LC_MESSAGES"), PAM_SUCCESS);
	assert_int_equal(pam_putenv(pamh, "LANG"), PAM_SUCCESS);
	assert_null(pam_getenv(pamh, "LANG"));
	assert_int_equal(pam_mss_msg_lang(pamh, PAM_MSS_LANG_AUTO),
	    PAM_MSS_LANG_FR);
}

static void
test_msg_lang_process_env(void **state)
{
	(void)state;
	clear_locale_env();
	assert_int_equal(pam_mss_msg_lang(NULL, PAM_MSS_LANG_AUTO),
	    PAM_MSS_LANG_EN);
	assert_int_equal(setenv("LANG", "fr_FR.UTF-8", 1), 0);
	assert_int_equal(pam_mss_msg_lang(NULL, PAM_MSS_LANG_AUTO),
	    PAM_MSS_LANG_FR);
	assert_int_equal(setenv("LC_MESSAGES", "en_US.UTF-8", 1), 0);
	assert_int_equal(pam_mss_msg_lang(NULL, PAM_MSS_LANG_AUTO),
	    PAM_MSS_LANG_EN);
	assert_int_equal(setenv("LC_ALL", "FR", 1), 0);
	assert_int_equal(pam_mss_msg_lang(NULL, PAM_MSS_LANG_AUTO),
	    PAM_MSS_LANG_FR);
	/* An empty variable does not count. */
	assert_int_equal(setenv("LC_ALL", "", 1), 0);
	assert_int_equal(pam_mss_msg_lang(NULL, PAM_MSS_LANG_AUTO),
	    PAM_MSS_LANG_EN);
	clear_locale_env();
}

static void
test_msg_lang_code(void **state)
{
	(void)state;
	assert_string_equal(pam_mss_msg_lang_code(PAM_MSS_LANG_FR), "fr");
	assert_string_equal(pam_mss_msg_lang_code(PAM_MSS_LANG_EN), "en");
}

/*
 * Every reason mfad may give for refusing a password has words of its
 * own in both languages; reason 0 and any reason this module does not
 * know get the generic refusal, never an empty line.
 */
static void
test_msg_every_pw_reason_in_both_languages(void **state)
{
	static const uint32_t unknown[] = { MSS_PW_REASON_MAX + 1, 1000,
	    UINT32_MAX };
	enum pam_mss_msg_id id, seen[MSS_PW_REASON_MAX + 1];
	const char *en, *fr;
	uint32_t reason, j;

	(void)state;
	for (reason = 0; reason <= MSS_PW_REASON_MAX; reason++) {
		id = pam_mss_msg_pw_reason(reason);
		assert_true(id < PAM_MSS_M_COUNT);
		en = pam_mss_msg_text(PAM_MSS_LANG_EN, id);
		fr = pam_mss_msg_text(PAM_MSS_LANG_FR, id);
		assert_non_null(en);
		assert_non_null(fr);
		assert_true(*en != '\0' && *fr != '\0');
		assert_string_not_equal(en, fr);
		assert_null(strchr(en, '%'));
		assert_null(strchr(fr, '%'));
		/* A known reason says more than the generic refusal. */
		if (reason != MSS_PW_REFUSED)
			assert_int_not_equal(id, PAM_MSS_M_PW_REFUSED);
		for (j = 0; j < reason; j++)
			assert_int_not_equal(id, seen[j]);
		seen[reason] = id;
	}
	assert_int_equal(pam_mss_msg_pw_reason(MSS_PW_REFUSED),
	    PAM_MSS_M_PW_REFUSED);
	for (j = 0; j < sizeof(unknown) / sizeof(unknown[0]); j++)
		assert_int_equal(pam_mss_msg_pw_reason(unknown[j]),
		    PAM_MSS_M_PW_REFUSED);
}

/* Counts take the form their language asks for: French 0 and 1 are
 * singular, English only 1. */
static void
test_msg_plural_forms(void **state)
{
	const char *one, *many;
	unsigned int id;

	(void)state;
	assert_int_equal(pam_mss_msg_plural(PAM_MSS_LANG_EN, 0), 1);
	assert_int_equal(pam_mss_msg_plural(PAM_MSS_LANG_EN, 1), 0);
	assert_int_equal(pam_mss_msg_plural(PAM_MSS_LANG_EN, 2), 1);
	assert_int_equal(pam_mss_msg_plural(PAM_MSS_LANG_FR, 0), 0);
	assert_int_equal(pam_mss_msg_plural(PAM_MSS_LANG_FR, 1), 0);
	assert_int_equal(pam_mss_msg_plural(PAM_MSS_LANG_FR, 2), 1);
	check_format(PAM_MSS_LANG_EN, PAM_MSS_M_CODE_RESENT, "a*****@b*****", 1,
	    "A new code was sent to a*****@b*****. It is valid for 1 minute.");
	check_format(PAM_MSS_LANG_EN, PAM_MSS_M_CODE_RESENT, "a*****@b*****", 5,
	    "A new code was sent to a*****@b*****. It is valid for 5 minutes.");
	check_format(PAM_MSS_LANG_FR, PAM_MSS_M_CODE_RESENT, "a*****@b*****", 1,
	    "Un nouveau code a été envoyé à a*****@b*****. Il est valable "
	    "1 minute.");
	check_format(PAM_MSS_LANG_FR, PAM_MSS_M_CODE_RESENT, "a*****@b*****", 5,
	    "Un nouveau code a été envoyé à a*****@b*****. Il est valable "
	    "5 minutes.");
	check_format(PAM_MSS_LANG_EN, PAM_MSS_M_REMEMBER_PROMPT, NULL, 1,
	    "Remember this device for 1 day? [y/N] ");
	check_format(PAM_MSS_LANG_FR, PAM_MSS_M_REMEMBER_PROMPT, NULL, 1,
	    "Se souvenir de cet appareil pendant 1 jour ? [o/N] ");
	check_format(PAM_MSS_LANG_EN, PAM_MSS_M_RESEND_WAIT, NULL, 0,
	    "Please wait 0 seconds before asking for a new code.");
	check_format(PAM_MSS_LANG_FR, PAM_MSS_M_RESEND_WAIT, NULL, 0,
	    "Veuillez patienter 0 seconde avant de demander un nouveau code.");
	check_format(PAM_MSS_LANG_EN, PAM_MSS_M_THROTTLED, NULL, 1,
	    "Too many codes were requested. Please try again in 1 second.");
	/* Every message with a count has a French plural of its own. */
	for (id = 0; id < PAM_MSS_M_COUNT; id++) {
		one = pam_mss_msg_text_n(PAM_MSS_LANG_FR, id, 1);
		many = pam_mss_msg_text_n(PAM_MSS_LANG_FR, id, 2);
		if (strstr(pam_mss_msg_text(PAM_MSS_LANG_EN, id), "%u") !=
		    NULL && strcmp(one, many) == 0)
			fail_msg("one form only for \"%s\"", one);
		assert_string_equal(pam_mss_msg_text_n(PAM_MSS_LANG_EN, id, 1),
		    pam_mss_msg_text(PAM_MSS_LANG_EN, id));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msg_every_id_in_both_languages),
		cmocka_unit_test(test_msg_prompts_differ),
		cmocka_unit_test(test_msg_catalogue_sorted_and_current),
		cmocka_unit_test(test_msg_design_key_words),
		cmocka_unit_test(test_msg_format_substitutes),
		cmocka_unit_test(test_msg_unknown_id),
		cmocka_unit_test(test_msg_plural_forms),
		cmocka_unit_test(test_msg_every_pw_reason_in_both_languages),
		cmocka_unit_test(test_msg_format_cuts_whole_characters),
		cmocka_unit_test_setup_teardown(test_msg_lang_explicit_wins,
		    setup_pamh, teardown_pamh),
		cmocka_unit_test_setup_teardown(
		    test_msg_lang_pam_env_over_process, setup_pamh,
		    teardown_pamh),
		cmocka_unit_test(test_msg_lang_process_env),
		cmocka_unit_test(test_msg_lang_code),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
