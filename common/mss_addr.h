/*
 * The one normaliser of an email address typed by a person or read from
 * a file: mfadctl's arguments and import lines, the address typed at the
 * login prompt (mfad normalises it; the module sends it as typed), the
 * configured [mail] from. Its result is what mfad stores, compares and
 * mails to, and always passes mss_email_valid().
 *
 * Built into mfad and mfadctl only (libidn2): pam_mss.so does not need
 * it, as mfad has the last word on every address.
 */
#ifndef MSS_ADDR_H
#define MSS_ADDR_H

#include <stddef.h>

#include "mss_ident.h"
#include "mss_err.h"

#define MSS_ADDR_WHY_MAX	160	/* room for a reason, NUL included */

/*
 * Writes the stored form of in into out (at least MSS_EMAIL_MAX + 1
 * bytes):
 *  - blanks (space, tab, CR, LF) at either end are dropped;
 *  - the local part is kept as given, case included; it must be ASCII:
 *    the mail library does not speak SMTPUTF8, so no relay could be
 *    asked to deliver to a UTF-8 mailbox;
 *  - a domain with a byte above 0x7e, or with an xn-- label, goes
 *    through IDNA2008 with the UTS #46 non-transitional mapping (NFC
 *    first): the Unicode form becomes its A-labels (exämple.org is
 *    xn--exmple-cua.org), letter case folded; an all-ASCII domain
 *    without xn-- label is only lowercased, so that every address an
 *    earlier version stored comes out the same but for case;
 *  - the result must pass mss_email_valid().
 * Returns 0; MSS_ERR_REFUSED for a local part with a non-ASCII byte;
 * MSS_ERR_INVAL for anything else that is not an address (a domain that
 * IDNA refuses included); MSS_ERR_NOMEM. On an error, why (whylen bytes;
 * NULL for none) gets a lowercase English reason for a person, and out
 * is the empty string.
 */
int mss_addr_normalize(const char *in, char *out, size_t outlen, char *why,
    size_t whylen) MSS_WUR;

/*
 * The address for a person to read: when the domain holds A-labels that
 * IDNA2008 accepts, they are written as Unicode (melk@exämple.org);
 * otherwise, or when it does not fit, addr itself. out is always
 * NUL-terminated (outlen > 0) and never ends in half a UTF-8 character.
 * Only for display: mail goes to, and comparisons use, the stored form.
 */
void mss_addr_display(const char *addr, char *out, size_t outlen);

/*
 * mss_mask_email() of the display form, so that a person who typed
 * exämple.org recognises "melk*****@exämple*****"; the A-label form when
 * the Unicode one does not fit. Same returns as mss_mask_email().
 */
int mss_addr_mask(const char *addr, char *out, size_t outlen)
    MSS_WUR;

#endif /* MSS_ADDR_H */
