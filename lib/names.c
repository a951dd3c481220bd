/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* names.c — enum → name tables of the policy model, for logs and dumps. */
#include "policy.h"

const char *sl_tls_version_name(uint16_t v)
{
	switch (v) {
	case 0x0300: return "SSLv3";
	case 0x0301: return "TLSv1";
	case 0x0302: return "TLSv1.1";
	case SL_TLS_1_2: return "TLSv1.2";
	case SL_TLS_1_3: return "TLSv1.3";
	default: return "unknown";
	}
}
