#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "mfad_log.h"
#include "mfad_notify.h"

void
mfad_notify(const char *state)
{
	static int warned;
	struct sockaddr_un sa;
	const char *path = getenv("NOTIFY_SOCKET");
	socklen_t len;
	size_t n;
	int fd;

	if (path == NULL || *path == '\0')
		return;
	n = strlen(path);
	/* A path, or an abstract address written with a leading '@'. */
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sa.sun_path)) {
		if (!warned++)
			mfad_log(LOG_WARNING, "NOTIFY_SOCKET is not a socket "
			    "address: not telling systemd");
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
	    (path[0] == '/'));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
	    sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sa, len) < 0) {
		if (!warned++)
			mfad_log(LOG_WARNING, "cannot tell systemd %s: %s",
			    state, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
}
