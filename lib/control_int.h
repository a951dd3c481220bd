/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* control_int.h — shared by control.c (server) and control_client.c. */
#ifndef SL_CONTROL_INT_H
#define SL_CONTROL_INT_H

#include <sys/un.h>

/* path into sun; -ENAMETOOLONG when it does not fit. */
int sl_control_sun_fill(const char *path, struct sockaddr_un *sun);

#endif
