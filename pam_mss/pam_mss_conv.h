/*
 * The module's side of the PAM conversation: one message at a time
 * through the application's conversation function, in the language the
 * caller chose, and the clean-up of what the user typed. Knows nothing
 * of mfad.
 */
#ifndef PAM_MSS_CONV_H
#define PAM_MSS_CONV_H

#include <security/pam_modules.h>

#include "mss_err.h"
#include "pam_mss_msg.h"

/*
 * One message of style style. For a prompt, *answer gets the reply (the
 * caller frees it with mss_str_free); a missing reply is a conversation
 * error. Returns PAM_SUCCESS or PAM_CONV_ERR; whatever the application
 * returned is wiped and freed.
 */
int pam_mss_conv_converse(pam_handle_t *pamh, int style, const char *text,
    char **answer) MSS_WUR;
/* Shows message id (an info or error line) formatted with s and n;
 * PAM_SUCCESS or PAM_CONV_ERR. */
int pam_mss_conv_say(pam_handle_t *pamh, enum pam_mss_lang lang, int style,
    enum pam_mss_msg_id id, const char *s, unsigned int n) MSS_WUR;
/* Asks prompt id (with n); *answer as for pam_mss_conv_converse. */
int pam_mss_conv_ask(pam_handle_t *pamh, enum pam_mss_lang lang, int style,
    enum pam_mss_msg_id id, unsigned int n, char **answer) MSS_WUR;
/* Removes leading and trailing blanks in place; what is cut is wiped. */
void pam_mss_conv_trim(char *s);
/* Removes every blank in place ("123 456" is 123456); the tail is
 * wiped. */
void pam_mss_conv_strip(char *s);

#endif /* PAM_MSS_CONV_H */
