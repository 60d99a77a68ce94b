/*
 * The masked address shown in prompts: never more than half of the
 * local part (at most four characters) nor more than the domain's first
 * label, always NUL-terminated within the room given.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "mss_err.h"
#include "mss_mask.h"
#include "fuzz_common.h"

static size_t
chars(const char *s, size_t n)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			c++;
	return c;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *email, out[128], *star;
	const char *at, *dot;
	size_t room, shown;
	int r;

	if (size < 1)
		return 0;
	/* The first byte picks the room, the rest is the address. */
	room = data[0] % sizeof(out) + 1;
	if ((email = malloc(size)) == NULL)
		abort();
	memcpy(email, data + 1, size - 1);
	email[size - 1] = '\0';
	memset(out, 'X', sizeof(out));
	r = mss_mask_email(email, out, room);
	FUZZ_CHECK(r == 0 || r == MSS_ERR_INVAL || r == MSS_ERR_TOOBIG);
	if (r == 0) {
		FUZZ_CHECK(memchr(out, '\0', room) != NULL);
		at = strrchr(email, '@');
		FUZZ_CHECK(at != NULL);
		FUZZ_CHECK((star = strstr(out, "*****@")) != NULL);
		shown = (size_t)(star - out);
		FUZZ_CHECK(memcmp(out, email, shown) == 0);
		FUZZ_CHECK(chars(out, shown) <= 4);
		FUZZ_CHECK(chars(out, shown) * 2 <=
		    chars(email, (size_t)(at - email)));
		dot = strchr(at + 1, '.');
		FUZZ_CHECK(strlen(star + 6) >= 5);
		FUZZ_CHECK(strcmp(star + 6 + strlen(star + 6) - 5, "*****")
		    == 0);
		FUZZ_CHECK(strlen(star + 6) - 5 == (dot != NULL ?
		    (size_t)(dot - at - 1) : strlen(at + 1)));
		FUZZ_CHECK(strncmp(star + 6, at + 1, strlen(star + 6) - 5)
		    == 0);
	}
	free(email);
	return 0;
}
