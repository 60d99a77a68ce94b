#include "config.h"

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <security/pam_ext.h>

#include "mss_proto.h"
#include "pam_mss_dev.h"

char *
pam_mss_dev_sshkey(pam_handle_t *pamh)
{
	const char *info, *line, *type, *key, *p;
	size_t tlen, klen;
	char *out;

	if ((info = pam_getenv(pamh, "SSH_AUTH_INFO_0")) == NULL)
		return NULL;
	for (line = info; *line != '\0'; line = p + (*p == '\n')) {
		p = line + strcspn(line, "\n");
		if (strncmp(line, "publickey ", 10) != 0)
			continue;
		type = line + 10;
		tlen = strspn(type, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@.-_");
		if (tlen == 0 || type[tlen] != ' ')
			continue;
		key = type + tlen + 1;
		klen = strspn(key, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=");
		if (klen == 0 || (key[klen] != ' ' && key[klen] != '\n' &&
		    key[klen] != '\0'))
			continue;
		if (7 + tlen + 1 + klen > MSS_STR_MAX)
			continue;
		if ((out = malloc(7 + tlen + 1 + klen + 1)) == NULL)
			return NULL;
		snprintf(out, 7 + tlen + 1 + klen + 1, "sshkey:%.*s %.*s",
		    (int)tlen, type, (int)klen, key);
		return out;
	}
	return NULL;
}

char *
pam_mss_dev_tty(const char *tty)
{
	char path[256], *out;
	struct stat st;
	int n;

	if (*tty == '\0' || strcmp(tty, "ssh") == 0 ||
	    strstr(tty, "..") != NULL)
		return NULL;
	n = snprintf(path, sizeof(path), "%s%s",
	    strncmp(tty, "/dev/", 5) == 0 ? "" : "/dev/", tty);
	if (n < 0 || (size_t)n >= sizeof(path))
		return NULL;
	if (stat(path, &st) != 0 || !S_ISCHR(st.st_mode))
		return NULL;
	if ((out = malloc(4 + (size_t)n + 1)) == NULL)
		return NULL;
	snprintf(out, 4 + (size_t)n + 1, "tty:%s", path);
	return out;
}

int
pam_mss_dev_identity(pam_handle_t *pamh, const struct pam_mss_opts *opts,
    const char *rhost, const char *tty, char **out, const char **kind)
{
	char *dev = NULL;
	unsigned int i;
	size_t n;

	*out = NULL;
	*kind = "none";
	for (i = 0; i < opts->ndevice && dev == NULL; i++) {
		switch (opts->device[i]) {
		case PAM_MSS_DEV_SSHKEY:
			dev = pam_mss_dev_sshkey(pamh);
			*kind = "sshkey";
			break;
		case PAM_MSS_DEV_RHOST:
			n = strlen(rhost);
			if (n == 0 || 6 + n > MSS_STR_MAX)
				break;
			if ((dev = malloc(6 + n + 1)) != NULL)
				snprintf(dev, 6 + n + 1, "rhost:%s", rhost);
			*kind = "rhost";
			break;
		case PAM_MSS_DEV_TTY:
			dev = pam_mss_dev_tty(tty);
			*kind = "tty";
			break;
		}
	}
	if (dev == NULL) {
		*kind = "none";
		if ((dev = strdup("")) == NULL)
			return PAM_BUF_ERR;
	}
	*out = dev;
	return PAM_SUCCESS;
}
