/*
 * The masked form of an address shown in prompts: the first four
 * characters of the local part (fewer when it is short), five stars, '@',
 * the first label of the domain, five stars: melk*****@gmail*****.
 */
#ifndef MSS_MASK_H
#define MSS_MASK_H

#include <stddef.h>

#include "mss_err.h"

/* Writes the mask into out (NUL-terminated); MSS_ERR_INVAL for a string
 * that is not local@domain, MSS_ERR_TOOBIG when out is too small. */
int mss_mask_email(const char *email, char *out, size_t outlen)
    MSS_WUR;

#endif /* MSS_MASK_H */
