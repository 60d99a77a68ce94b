/*
 * The checks come first so that a file anyone could have read is refused
 * even when its content is right: its secret must be taken as known.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "mss_err.h"
#include "mfad_secret.h"
#include "mfad_str.h"

int
mfad_secret_read(const char *path, uid_t owner, const char *what,
    char *buf, size_t buflen, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	size_t n = 0;
	ssize_t got;
	int fd, r = MSS_ERR_CONFIG;

	*len = 0;
	/* Wiped on every refusal alike; the reads below fill it anew. */
	sodium_memzero(buf, buflen);
	if (buflen < 2) {
		mfad_str_err(err, errlen, "%s: no room to read it", path);
		return MSS_ERR_INVAL;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW))
	    == -1) {
		mfad_str_err(err, errlen, "%s: %s", path, strerror(errno));
		return MSS_ERR_SYSTEM;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		mfad_str_err(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		mfad_str_err(err, errlen, "%s: accessible by group or others "
		    "(mode %03o); it must be 0600", path,
		    (unsigned)(st.st_mode & 0777));
		goto out;
	}
	if (st.st_uid != owner) {
		mfad_str_err(err, errlen,
		    "%s: owned by uid %u; it must be owned "
		    "by uid %u, %s", path, (unsigned)st.st_uid,
		    (unsigned)owner, what);
		goto out;
	}
	for (;;) {
		got = read(fd, buf + n, buflen - 1 - n);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1) {
			mfad_str_err(err, errlen, "%s: %s", path,
			    strerror(errno));
			r = MSS_ERR_SYSTEM;
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n >= buflen - 1) {
			mfad_str_err(err, errlen, "%s: too long", path);
			goto out;
		}
	}
	buf[n] = '\0';
	if (memchr(buf, '\0', n) != NULL) {
		mfad_str_err(err, errlen, "%s: holds a NUL byte", path);
		goto out;
	}
	*len = n;
	r = 0;
 out:
	if (r != 0)
		sodium_memzero(buf, buflen);
	close(fd);
	return r;
}
