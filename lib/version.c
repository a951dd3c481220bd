/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#include "smtplock.h"

/* The ABI version this library was built against (bpf/smtplock.h). */
const unsigned sl_abi_version = SL_ABI_VERSION;
