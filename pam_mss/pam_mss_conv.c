#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <security/pam_modules.h>

#include "mss_buf.h"
#include "pam_mss_conv.h"

int
pam_mss_conv_converse(pam_handle_t *pamh, int style, const char *text,
    char **answer)
{
	const struct pam_conv *conv;
	const struct pam_message *msgp;
	struct pam_message msg;
	struct pam_response *resp = NULL;
	const void *item = NULL;
	int r;

	if (answer != NULL)
		*answer = NULL;
	if (pam_get_item(pamh, PAM_CONV, &item) != PAM_SUCCESS ||
	    (conv = item) == NULL || conv->conv == NULL)
		return PAM_CONV_ERR;
	msg.msg_style = style;
	msg.msg = text;
	msgp = &msg;
	if (conv->conv(1, &msgp, &resp, conv->appdata_ptr) != PAM_SUCCESS) {
		r = PAM_CONV_ERR;
		goto out;
	}
	if (answer != NULL) {
		if (resp == NULL || resp->resp == NULL) {
			r = PAM_CONV_ERR;
			goto out;
		}
		*answer = resp->resp;
		resp->resp = NULL;
	}
	r = PAM_SUCCESS;
out:
	if (resp != NULL) {
		mss_str_free(resp->resp);
		free(resp);
	}
	return r;
}

int
pam_mss_conv_say(pam_handle_t *pamh, enum pam_mss_lang lang, int style,
    enum pam_mss_msg_id id, const char *s, unsigned int n)
{
	char text[PAM_MSS_MSG_LEN];

	pam_mss_msg_format(text, sizeof(text), lang, id, s, n);
	return pam_mss_conv_converse(pamh, style, text, NULL);
}

int
pam_mss_conv_ask(pam_handle_t *pamh, enum pam_mss_lang lang, int style,
    enum pam_mss_msg_id id, unsigned int n, char **answer)
{
	char text[PAM_MSS_MSG_LEN];

	pam_mss_msg_format(text, sizeof(text), lang, id, NULL, n);
	return pam_mss_conv_converse(pamh, style, text, answer);
}

void
pam_mss_conv_trim(char *s)
{
	size_t b = 0, n = strlen(s), e = n;

	while (s[b] == ' ' || s[b] == '\t')
		b++;
	while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' ||
	    s[e - 1] == '\r' || s[e - 1] == '\n'))
		e--;
	memmove(s, s + b, e - b);
	mss_wipe(s + (e - b), n - (e - b));
}

void
pam_mss_conv_strip(char *s)
{
	size_t i, j, n = strlen(s);

	for (i = j = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' &&
		    s[i] != '\n')
			s[j++] = s[i];
	mss_wipe(s + j, n - j);
}
