/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * fuzz_ehlo.c — EHLO capability parsing and the outbound filter.
 *
 * Input: a partner's reply bytes.  For every 250 reply the filter's
 * output must itself parse as exactly one 250 reply with nothing after
 * it, every line within SL_SMTP_OUT_LINE_MAX, and carry none of
 * STARTTLS, AUTH, XCLIENT, XFORWARD — whatever the partner sent.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)

static void check_filtered(const char *out, size_t len)
{
	struct sl_smtp_reply_parser q;
	const struct sl_smtp_reply *rep;
	struct sl_ehlo e;
	size_t i;

	CHECK(sl_smtp_reply_parser_init(&q, NULL) == 0);
	CHECK(sl_smtp_reply_parser_feed(&q, out, len) == len);
	CHECK(sl_smtp_reply_parser_next(&q, &rep) == 1);
	CHECK(rep->code == 250);
	CHECK(sl_smtp_reply_parser_pending(&q) == 0);
	CHECK(sl_ehlo_parse(rep, &e) == 0);
	CHECK((e.caps & (SL_EHLO_STARTTLS | SL_EHLO_AUTH | SL_EHLO_XCLIENT | SL_EHLO_XFORWARD)) == 0);
	CHECK(e.auth_mechs == 0);
	for (i = 0; i < rep->n_lines; i++) {
		const char *l = rep->lines[i];
		size_t kw = strcspn(l, " =");

		CHECK(strlen(l) + 6 <= SL_SMTP_OUT_LINE_MAX);
		if (i == 0)
			continue;	/* the greeting name */
		CHECK(!(kw == 8 && strncasecmp(l, "STARTTLS", 8) == 0));
		CHECK(!(kw == 4 && strncasecmp(l, "AUTH", 4) == 0));
		CHECK(!(kw == 7 && strncasecmp(l, "XCLIENT", 7) == 0));
		CHECK(!(kw == 8 && strncasecmp(l, "XFORWARD", 8) == 0));
		CHECK(!(kw == 6 && strncasecmp(l, "X-EXPS", 6) == 0));
	}
	sl_smtp_reply_parser_done(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[65536];
	struct sl_smtp_reply_parser p;
	const struct sl_smtp_reply *rep;
	struct sl_ehlo e;
	size_t off = 0, n;
	int r = 0, len;

	CHECK(sl_smtp_reply_parser_init(&p, NULL) == 0);
	while (off < size && r >= 0) {
		n = sl_smtp_reply_parser_feed(&p, data + off, size - off);
		off += n;
		while ((r = sl_smtp_reply_parser_next(&p, &rep)) > 0) {
			int pr = sl_ehlo_parse(rep, &e);

			CHECK(pr == (rep->code == 250 ? 0 : -SL_SMTP_E_NOT_EHLO));
			CHECK(strlen(e.domain) < sizeof(e.domain));
			len = sl_ehlo_filter(rep, "relay.example", out, sizeof(out));
			CHECK(rep->code == 250 ? len > 0 : len == -SL_SMTP_E_NOT_EHLO);
			if (len > 0) {
				CHECK((size_t)len == strlen(out));
				CHECK(strncmp(out, "250", 3) == 0 && strncmp(out + 4, "relay.example\r\n", 15) == 0);
				check_filtered(out, (size_t)len);
			}
			/* The partner's own name: valid or refused, never a broken reply. */
			len = sl_ehlo_filter(rep, NULL, out, sizeof(out));
			if (len > 0)
				check_filtered(out, (size_t)len);
			else
				CHECK(len == -EINVAL || len == -SL_SMTP_E_NOT_EHLO);
		}
	}
	sl_smtp_reply_parser_done(&p);
	return 0;
}
