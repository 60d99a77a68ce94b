#include "config.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "mfad_log.h"
#include "mfad_pw.h"
#include "mss_err.h"

static pthread_mutex_t mfad_pw_lock = PTHREAD_MUTEX_INITIALIZER;
static char mfad_pw_dummy[crypto_pwhash_STRBYTES];

int
mfad_pw_hash(const struct mfad_conf *conf, const char *pw,
    char out[MFAD_HASH_MAX])
{
	char h[crypto_pwhash_STRBYTES];

	if (crypto_pwhash_str_alg(h, pw, strlen(pw), conf->pw_opslimit,
	    conf->pw_memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
		mfad_log(LOG_ERR, "password hashing failed (out of memory?)");
		return MSS_ERR_NOMEM;
	}
	memcpy(out, h, sizeof(h) < MFAD_HASH_MAX ? sizeof(h) : MFAD_HASH_MAX);
	out[MFAD_HASH_MAX - 1] = '\0';
	sodium_memzero(h, sizeof(h));
	return 0;
}

int
mfad_pw_init(const struct mfad_conf *conf)
{
	char pw[33], h[MFAD_HASH_MAX];
	unsigned char rnd[16];
	int r;

	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(pw, sizeof(pw), rnd, sizeof(rnd));
	if ((r = mfad_pw_hash(conf, pw, h)) != 0)
		return r;
	pthread_mutex_lock(&mfad_pw_lock);
	memcpy(mfad_pw_dummy, h, sizeof(mfad_pw_dummy));
	mfad_pw_dummy[sizeof(mfad_pw_dummy) - 1] = '\0';
	pthread_mutex_unlock(&mfad_pw_lock);
	sodium_memzero(pw, sizeof(pw));
	return 0;
}

int
mfad_pw_verify(const struct mfad_conf *conf, const char *hash, const char *pw)
{
	char dummy[crypto_pwhash_STRBYTES];
	int ok;

	(void)conf;
	if (hash == NULL || hash[0] == '\0') {
		pthread_mutex_lock(&mfad_pw_lock);
		memcpy(dummy, mfad_pw_dummy, sizeof(dummy));
		pthread_mutex_unlock(&mfad_pw_lock);
		/* Spend the same time as a real check, then say no. */
		if (crypto_pwhash_str_verify(dummy, pw, strlen(pw)) == 0)
			mfad_log(LOG_DEBUG, "dummy hash matched");
		return 0;
	}
	ok = crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
	return ok;
}

int
mfad_pw_needs_rehash(const struct mfad_conf *conf, const char *hash)
{
	return crypto_pwhash_str_needs_rehash(hash, conf->pw_opslimit,
	    conf->pw_memlimit) != 0;
}

int
mfad_pw_policy(const struct mfad_conf *conf, const char *user,
    const char *email, const char *pw, const char **why)
{
	size_t n = strlen(pw), llen;
	const char *at;

	*why = NULL;
	if (n < conf->pw_min_length) {
		*why = "too short";
		return MSS_ERR_REFUSED;
	}
	if (n > conf->pw_max_length) {
		*why = "too long";
		return MSS_ERR_REFUSED;
	}
	if (strcasecmp(pw, user) == 0 || strcasecmp(pw, email) == 0) {
		*why = "same as the user name or address";
		return MSS_ERR_REFUSED;
	}
	if ((at = strchr(email, '@')) != NULL) {
		llen = (size_t)(at - email);
		if (llen == n && strncasecmp(pw, email, n) == 0) {
			*why = "same as the user name or address";
			return MSS_ERR_REFUSED;
		}
	}
	return 0;
}
