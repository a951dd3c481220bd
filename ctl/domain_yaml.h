/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * domain_yaml.h — `smtplock domain add`'s options and the drop-in file
 * they become.  Every value is checked here (a clear message, exit 2)
 * before the loader validates the whole policy.
 */
#ifndef SL_CTL_DOMAIN_YAML_H
#define SL_CTL_DOMAIN_YAML_H

#include <stddef.h>

#include "smtplock.h"

#define SL_SPEC_MAX_LIST 32

struct sl_domain_spec {
	const char *policy, *sock;
	char domain[SL_DOMAIN_MAX];
	const char *direction, *mode, *min_tls, *verify, *on_failure, *auth_user;
	char *ca_file, *password_file, *client_ca;	/* absolute, malloc'd */
	const char *pins[SL_SPEC_MAX_LIST];
	const char *mx[SL_SPEC_MAX_LIST];
	const char *addresses[SL_SPEC_MAX_LIST];
	const char *sources[SL_SPEC_MAX_LIST];
	const char *require[3];
	const char *accounts[SL_SPEC_MAX_LIST];		/* USER:HASH */
	size_t n_pins, n_mx, n_addresses, n_sources, n_require, n_accounts;
	char require_buf[64];
};

/* argv[0] = "add".  SL_EXIT_OK or SL_EXIT_USAGE (printed). */
int sl_domain_spec_parse(int argc, char **argv, struct sl_domain_spec *s);
void sl_domain_spec_done(struct sl_domain_spec *s);

/* The drop-in's text (malloc'd), or NULL. */
char *sl_domain_spec_yaml(const struct sl_domain_spec *s);

#endif
