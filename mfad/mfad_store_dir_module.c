/*
 * The directory backend's table (mfad_store_dir.h): the one symbol
 * mfad_store_dir.so exports. Everything else in the module is built
 * hidden, so that its calls to its own functions stay inside it and
 * never land on mfad's forwarders of the same name.
 */
#include "config.h"

#include "mfad_store_dir.h"

__attribute__((visibility("default")))
const struct mfad_sdir_ops mfad_sdir_module = {
	.abi = MFAD_SDIR_ABI,
	.size = sizeof(struct mfad_sdir_ops),
	.open_dir = mfad_sdir_open,
	.close_dir = mfad_sdir_close,
	.check_dir = mfad_sdir_check,
	.acct_get = mfad_sdir_acct_get,
	.acct_put = mfad_sdir_acct_put,
	.acct_del = mfad_sdir_acct_del,
	.acct_by_email = mfad_sdir_acct_by_email,
	.acct_list = mfad_sdir_acct_list,
	.acct_count = mfad_sdir_acct_count,
	.acct_get_many = mfad_sdir_acct_get_many,
	.acct_by_email_many = mfad_sdir_acct_by_email_many,
	.acct_put_many = mfad_sdir_acct_put_many,
	.acct_fail_add = mfad_sdir_acct_fail_add,
	.acct_failures_clear = mfad_sdir_acct_failures_clear,
	.acct_login_clear = mfad_sdir_acct_login_clear,
	.acct_send_add = mfad_sdir_acct_send_add,
	.acct_sends_clear = mfad_sdir_acct_sends_clear,
	.acct_recovery_take = mfad_sdir_acct_recovery_take,
	.acct_notice_set = mfad_sdir_acct_notice_set,
	.device_get = mfad_sdir_device_get,
	.device_put = mfad_sdir_device_put,
	.device_del = mfad_sdir_device_del,
	.device_list_after = mfad_sdir_device_list_after,
	.device_revoke_all = mfad_sdir_device_revoke_all,
	.device_sweep = mfad_sdir_device_sweep,
	.uris = mfad_sdir_uris,
	.throttle_get = mfad_sdir_throttle_get,
	.throttle_send_add = mfad_sdir_throttle_send_add,
	.throttle_sweep = mfad_sdir_throttle_sweep,
};
