#include "config.h"

#include "mss_err.h"

static const char *const mss_errstr[MSS_ERR_MAX + 1] = {
	"success",
	"system error",
	"out of memory",
	"malformed message",
	"message too large",
	"timed out",
	"connection closed",
	"not found",
	"already exists",
	"permission denied",
	"invalid value",
	"storage error",
	"storage full",
	"mail error",
	"rate limit reached",
	"configuration error",
	"mfad unreachable",
	"unexpected peer",
	"cryptographic failure",
	"refused by policy",
	"account locked",
};

const char *
mss_strerror(int err)
{
	if (err > 0 || -err > MSS_ERR_MAX)
		return "unknown error";
	return mss_errstr[-err];
}
