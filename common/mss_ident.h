/*
 * The one rule for an email address and the one rule for a user name,
 * used wherever one is read: the config reader ([mail] from), mfad's
 * admin and import handlers, the mail code and mfadctl. Pure functions of
 * a string, no locale.
 */
#ifndef MSS_IDENT_H
#define MSS_IDENT_H

#define MSS_EMAIL_MAX	254	/* RFC 5321 path, less the angle brackets */
#define MSS_EMAIL_LOCAL_MAX 64	/* RFC 5321 local part */
#define MSS_USER_MAX	64	/* as the store's MFAD_USER_MAX */

/*
 * 1 when s is a mailbox mfad can put in a header and an SMTP envelope,
 * else 0 (NULL included):
 *  - local@domain, one '@', at most MSS_EMAIL_MAX bytes in all;
 *  - the local part is a dot-atom of 1..64 bytes: letters, digits and
 *    !#$%&'*+-/=?^_`{|}~ with single dots between them (no leading,
 *    trailing or double dot, no quoted form);
 *  - the domain is labels of 1..63 letters, digits and '-' (not at either
 *    end of a label) with at least one dot, or exactly "localhost";
 *    no trailing dot, no address literal;
 *  - ASCII only: no blank, control character (CR, LF, NUL, ...) or byte
 *    above 0x7e anywhere. An internationalised domain is given in its
 *    A-label form (xn--...; mss_addr_normalize() makes it from Unicode);
 *    a UTF-8 local part is refused because the mail library does not
 *    speak SMTPUTF8.
 * Case is kept; comparisons of addresses are the caller's business.
 */
int mss_email_valid(const char *s);

/*
 * 1 when s is a user name mfad will keep, else 0 (NULL included):
 * 1..MSS_USER_MAX bytes of [A-Za-z0-9_.@-], the first one not '.', '-'
 * or '@', optionally ending in '$' (machine accounts); not only digits,
 * which would read as a uid. Wider than useradd(8)'s names, so that the
 * names of a directory (sssd's "John.Doe", "jdoe@corp.example") fit;
 * no blank, ':', '/', control character or byte above 0x7e.
 */
int mss_user_valid(const char *s);

#endif /* MSS_IDENT_H */
