/*
 * One log field as mfad's audit lines and pam_mss's own lines write it.
 * Fields such as PAM_RHOST come from the client or its DNS: raw, one could
 * forge a field or a line that a log reader (fail2ban) takes for another
 * host's.
 */
#ifndef MSS_ESC_H
#define MSS_ESC_H

#include <stddef.h>

/* Writes s into out (NUL-terminated, cut to fit) with \xNN for controls,
 * quotes and backslashes, and, in a bare field (quoted = 0), for spaces
 * and '=' too. */
void mss_esc_field(const char *s, char *out, size_t outlen, int quoted);

#endif /* MSS_ESC_H */
