#include "config.h"

#include "mfad_ctx.h"
#include "mss_proto.h"

int
mfad_reply_result(struct mss_buf *rep, uint8_t *rtype, int code,
    const char *msg)
{
	int r;

	mss_buf_reset(rep);
	*rtype = MSS_REP_RESULT;
	if ((r = mss_buf_put_u32(rep, (uint32_t)(code < 0 ? -code : code)))
	    != 0 || (r = mss_buf_put_str(rep, msg)) != 0)
		return r;
	return 0;
}

static uint64_t mfad_waiting;

uint64_t
mfad_jobs_waiting(void)
{
	return __atomic_load_n(&mfad_waiting, __ATOMIC_RELAXED);
}

void
mfad_jobs_waiting_add(int64_t delta)
{
	__atomic_add_fetch(&mfad_waiting, (uint64_t)delta, __ATOMIC_RELAXED);
}
