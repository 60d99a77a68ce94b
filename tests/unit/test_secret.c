/*
 * Unit tests for mfad/mfad_secret.c, the reader of files that hold a
 * secret (the SMTP AUTH file, the directory's bind password): every
 * refusal, and a refused file's bytes never left in the buffer.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mss_err.h"
#include "mfad_secret.h"

struct dir {
	char	path[64];
	char	file[96];
};

static int
setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return -1;
	snprintf(d->path, sizeof(d->path), "/tmp/test_secret.XXXXXX");
	if (mkdtemp(d->path) == NULL) {
		free(d);
		return -1;
	}
	snprintf(d->file, sizeof(d->file), "%s/pw", d->path);
	*state = d;
	return 0;
}

static int
teardown(void **state)
{
	struct dir *d = *state;
	char link[128];

	snprintf(link, sizeof(link), "%s/link", d->path);
	unlink(link);
	unlink(d->file);
	rmdir(d->path);
	free(d);
	return 0;
}

static void
write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* Reads path; on a refusal checks that err names it and buf is wiped. */
static int
read_it(const char *path, char *buf, size_t buflen, size_t *len, char *err)
{
	size_t i;
	int r;

	memset(buf, 'x', buflen);
	r = mfad_secret_read(path, geteuid(), "the test", buf, buflen, len,
	    err, 256);
	if (r != 0) {
		assert_non_null(strstr(err, path));
		for (i = 0; i < buflen; i++)
			assert_int_equal(buf[i], 0);
		assert_int_equal(*len, 0);
	}
	return r;
}

static void
test_reads_a_private_file(void **state)
{
	struct dir *d = *state;
	char buf[64], err[256];
	size_t len;

	write_file(d->file, "s3cret\n", 7, 0600);
	assert_int_equal(read_it(d->file, buf, sizeof(buf), &len, err), 0);
	assert_int_equal(len, 7);
	assert_string_equal(buf, "s3cret\n");
	write_file(d->file, "s3cret\n", 7, 0400);
	assert_int_equal(read_it(d->file, buf, sizeof(buf), &len, err), 0);
}

static void
test_refuses_group_or_others(void **state)
{
	struct dir *d = *state;
	const mode_t modes[] = { 0640, 0604, 0620, 0602, 0644, 0666 };
	char buf[64], err[256];
	size_t len, i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		write_file(d->file, "s3cret\n", 7, modes[i]);
		assert_int_equal(read_it(d->file, buf, sizeof(buf), &len,
		    err), MSS_ERR_CONFIG);
		assert_non_null(strstr(err, "group or others"));
		assert_null(strstr(err, "s3cret"));
	}
}

static void
test_refuses_link_dir_missing(void **state)
{
	struct dir *d = *state;
	char buf[64], err[256], link[128];
	size_t len;

	write_file(d->file, "s3cret\n", 7, 0600);
	snprintf(link, sizeof(link), "%s/link", d->path);
	assert_int_equal(symlink(d->file, link), 0);
	assert_int_equal(read_it(link, buf, sizeof(buf), &len, err),
	    MSS_ERR_SYSTEM);
	assert_int_equal(read_it(d->path, buf, sizeof(buf), &len, err),
	    MSS_ERR_CONFIG);
	assert_non_null(strstr(err, "not a regular file"));
	unlink(d->file);
	assert_int_equal(read_it(d->file, buf, sizeof(buf), &len, err),
	    MSS_ERR_SYSTEM);
}

static void
test_refuses_nul_and_too_long(void **state)
{
	struct dir *d = *state;
	char buf[16], err[256];
	size_t len;

	write_file(d->file, "ab\0cd\n", 6, 0600);
	assert_int_equal(read_it(d->file, buf, sizeof(buf), &len, err),
	    MSS_ERR_CONFIG);
	assert_non_null(strstr(err, "NUL"));
	/* 14 bytes fit a 16-byte buffer; 15 do not. */
	write_file(d->file, "0123456789abcd", 14, 0600);
	assert_int_equal(read_it(d->file, buf, sizeof(buf), &len, err), 0);
	assert_int_equal(len, 14);
	write_file(d->file, "0123456789abcde", 15, 0600);
	assert_int_equal(read_it(d->file, buf, sizeof(buf), &len, err),
	    MSS_ERR_CONFIG);
	assert_non_null(strstr(err, "too long"));
}

static void
test_refuses_another_owner(void **state)
{
	struct dir *d = *state;
	char buf[64], err[256];
	size_t len;

	write_file(d->file, "s3cret\n", 7, 0600);
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(mfad_secret_read(d->file, geteuid() + 1, "the test",
	    buf, sizeof(buf), &len, err, sizeof(err)), MSS_ERR_CONFIG);
	assert_non_null(strstr(err, "the test"));
	assert_int_equal(buf[0], 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reads_a_private_file,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_group_or_others,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_link_dir_missing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_nul_and_too_long,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_another_owner,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
