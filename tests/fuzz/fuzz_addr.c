/*
 * The address normaliser and its display and masked forms: whatever is
 * typed, the stored form is an ASCII address mss_email_valid() accepts
 * and its own normal form; a refusal for the local part names a non-ASCII
 * byte before the '@'; a display or a mask fits the room given, and
 * never ends in half a UTF-8 character when the input was valid UTF-8.
 * The first byte picks the room, the rest is the address.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "mss_addr.h"
#include "mss_err.h"
#include "mss_ident.h"
#include "fuzz_common.h"

/* 1 when s is well-formed UTF-8 (structure only: lead and continuation
 * bytes), which is all a cut can break. */
static int
utf8_whole(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n, i;

	while (*p != '\0') {
		if (*p < 0x80)
			n = 1;
		else if ((*p & 0xe0) == 0xc0)
			n = 2;
		else if ((*p & 0xf0) == 0xe0)
			n = 3;
		else if ((*p & 0xf8) == 0xf0)
			n = 4;
		else
			return 0;
		for (i = 1; i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return 0;
		p += n;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in, out[MSS_EMAIL_MAX + 1], again[MSS_EMAIL_MAX + 1];
	char why[MSS_ADDR_WHY_MAX], disp[300];
	const char *at, *p;
	size_t room;
	int r, nonascii;

	if (size < 1)
		return 0;
	room = data[0] % sizeof(disp) + 1;
	if ((in = malloc(size)) == NULL)
		abort();
	memcpy(in, data + 1, size - 1);
	in[size - 1] = '\0';

	why[0] = '\0';
	r = mss_addr_normalize(in, out, sizeof(out), why, sizeof(why));
	FUZZ_CHECK(r == 0 || r == MSS_ERR_INVAL || r == MSS_ERR_REFUSED ||
	    r == MSS_ERR_NOMEM);
	FUZZ_CHECK(memchr(why, '\0', sizeof(why)) != NULL);
	if (r == 0) {
		FUZZ_CHECK(mss_email_valid(out));
		FUZZ_CHECK(mss_addr_normalize(out, again, sizeof(again), NULL,
		    0) == 0);
		FUZZ_CHECK(strcmp(out, again) == 0);
		for (p = out; *p != '\0'; p++)
			FUZZ_CHECK((unsigned char)*p < 0x80);
	} else {
		FUZZ_CHECK(out[0] == '\0' && why[0] != '\0');
	}
	if (r == MSS_ERR_REFUSED) {
		at = strchr(in, '@');
		FUZZ_CHECK(at != NULL);
		for (nonascii = 0, p = in; p < at; p++)
			nonascii |= (unsigned char)*p >= 0x80;
		FUZZ_CHECK(nonascii);
	}

	memset(disp, 'X', sizeof(disp));
	mss_addr_display(in, disp, room);
	FUZZ_CHECK(memchr(disp, '\0', room) != NULL);
	if (utf8_whole(in))
		FUZZ_CHECK(utf8_whole(disp));
	if (r == 0) {
		mss_addr_display(out, disp, sizeof(disp));
		FUZZ_CHECK(utf8_whole(disp));
	}

	memset(disp, 'X', sizeof(disp));
	r = mss_addr_mask(in, disp, room);
	FUZZ_CHECK(r == 0 || r == MSS_ERR_INVAL || r == MSS_ERR_TOOBIG);
	if (r == 0) {
		FUZZ_CHECK(memchr(disp, '\0', room) != NULL);
		FUZZ_CHECK(strstr(disp, "*****@") != NULL);
		if (utf8_whole(in))
			FUZZ_CHECK(utf8_whole(disp));
	}
	free(in);
	return 0;
}
