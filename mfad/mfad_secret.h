/*
 * Files that hold a secret for mfad (the SMTP AUTH file, the directory's
 * bind password): one reader with one set of checks, so that every such
 * file is refused for the same reasons.
 */
#ifndef MFAD_SECRET_H
#define MFAD_SECRET_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Reads path into buf (size buflen, NUL-terminated; *len gets the bytes
 * read). The file must be a regular file (no symbolic link), neither
 * readable nor writable by group or others, owned by owner, shorter than
 * buflen and free of NUL bytes. what names the file's role in messages
 * ("the user mfad sends mail as"). On error err gets a line that names
 * the file and never its content, buf is wiped, and MSS_ERR_CONFIG is
 * returned (MSS_ERR_SYSTEM when it cannot be read). The caller wipes buf
 * when done.
 */
int mfad_secret_read(const char *path, uid_t owner, const char *what,
    char *buf, size_t buflen, size_t *len, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif /* MFAD_SECRET_H */
