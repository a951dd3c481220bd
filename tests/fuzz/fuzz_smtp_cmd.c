/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * fuzz_smtp_cmd.c — the inbound server's command path on hostile bytes:
 * line buffer (peer policy: no bare LF) → command parser → for AUTH the
 * server-side SASL exchange on the following lines; and printable() on
 * every line, as the log would see it.
 *
 * Checked: parsed arguments point inside the line, EHLO/HELO arguments
 * accepted only when valid, AUTH results are consistent, decoded
 * credentials respect their 255-octet bound, log text is printable.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sasl.h"
#include "smtp.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)

static void check_creds(const struct sl_sasl_creds *c)
{
	CHECK(strlen(c->username) > 0 && strlen(c->username) <= SL_SASL_FIELD_MAX);
	CHECK(strlen(c->password) > 0 && strlen(c->password) <= SL_SASL_FIELD_MAX);
	CHECK(strlen(c->authzid) <= SL_SASL_FIELD_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_smtp_linebuf lb;
	struct sl_sasl_server srv;
	bool in_auth = false;
	char log[256], out[256];
	const char *line;
	size_t off = 0, n, i, ll;
	int r;

	if (size < 1)
		return 0;
	CHECK(sl_smtp_linebuf_init(&lb, SL_SMTP_AUTH_LINE_MAX,
				   (data[0] & 1) ? SL_SMTP_LINE_BARE_LF : 0) == 0);
	data++;
	size--;
	sl_sasl_server_init(&srv);
	while (off < size) {
		n = sl_smtp_linebuf_feed(&lb, data + off, size - off);
		off += n;
		while ((r = sl_smtp_linebuf_next(&lb, &line, &ll)) != 0) {
			struct sl_smtp_cmd c;

			if (r < 0)
				continue;
			CHECK(strlen(line) == ll);
			n = sl_smtp_printable(log, sizeof(log), line, ll);
			for (i = 0; i < n; i++)
				CHECK(log[i] >= 0x20 && log[i] < 0x7f);
			if (in_auth) {
				r = sl_sasl_server_step(&srv, line, ll, out, sizeof(out));
				if (r == 0)
					check_creds(&srv.creds);
				in_auth = r > 0;
				if (!in_auth) {
					sl_sasl_server_done(&srv);
					sl_sasl_server_init(&srv);
				}
				continue;
			}
			r = sl_smtp_cmd_parse(line, ll, &c);
			if (r != 0 && r != -SL_SMTP_E_SYNTAX) {
				CHECK(r == -SL_SMTP_E_LINE_TOO_LONG);
				continue;
			}
			CHECK(c.verb < SL_SMTP_VERB_MAX);
			CHECK(c.args >= line && c.args + c.args_len <= line + ll);
			if (r == 0 && (c.verb == SL_SMTP_EHLO || c.verb == SL_SMTP_HELO))
				CHECK(c.literal ? sl_smtp_literal_valid(c.args, c.args_len)
						: sl_smtp_domain_valid(c.args, c.args_len));
			if (r == 0 && c.verb == SL_SMTP_AUTH) {
				CHECK(strlen(c.mech_name) > 0 && strlen(c.mech_name) < SL_SASL_MECH_NAME_MAX);
				if (c.initial)
					CHECK(c.initial > line && c.initial + c.initial_len <= line + ll);
				r = sl_sasl_server_start(&srv, &c, out, sizeof(out));
				if (r == 0)
					check_creds(&srv.creds);
				if (r > 0)
					CHECK(strncmp(out, "334 ", 4) == 0 && (size_t)r == strlen(out));
				in_auth = r > 0;
				if (!in_auth) {
					sl_sasl_server_done(&srv);
					sl_sasl_server_init(&srv);
				}
			}
		}
	}
	sl_sasl_server_done(&srv);
	sl_smtp_linebuf_done(&lb);
	return 0;
}
