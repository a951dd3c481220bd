/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * fuzz_smtp_reply.c — the outbound reply parser on hostile bytes.
 *
 * Input: byte 0 picks the chunk size (how the bytes arrive) and byte 1
 * the limits; the rest is what a partner sends.  Checked on every reply:
 * the code is valid, the limits hold, lines carry no CR/LF/NUL, the
 * enhanced status agrees with the code, and the summary and failure
 * reply built from it are single clean lines.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)

static void check_reply(const struct sl_smtp_reply *r, const struct sl_smtp_reply_limits *lim)
{
	char buf[1024], esc[SL_SMTP_ESC_MAX];
	size_t i, n, total = 0;
	int len;

	CHECK(sl_smtp_code_valid(r->code));
	CHECK(r->n_lines >= 1 && r->n_lines <= lim->max_lines);
	CHECK(r->size <= lim->max_size);
	for (i = 0; i < r->n_lines; i++) {
		n = strlen(r->lines[i]);
		CHECK(n + 4 <= lim->max_line);
		CHECK(!memchr(r->lines[i], '\r', n) && !memchr(r->lines[i], '\n', n));
		total += n + 6;
	}
	/* size counts each line as received: "NNN" + text + CRLF or LF */
	CHECK(r->size <= total && r->size + 2 * r->n_lines >= total);
	if (r->esc[0]) {
		CHECK(sl_smtp_esc_parse(r->code, r->lines[0], esc) == strlen(r->esc));
		CHECK(strcmp(esc, r->esc) == 0);
		CHECK((unsigned)(r->esc[0] - '0') == r->code / 100);
	}
	n = sl_smtp_reply_summary(r, buf, sizeof(buf));
	CHECK(n == strlen(buf) && n < sizeof(buf));
	for (i = 0; i < n; i++)
		CHECK(buf[i] >= 0x20 && buf[i] < 0x7f);
	len = sl_smtp_format_failure(buf, sizeof(buf), 421, "4.7.0", "partner.example", buf);
	CHECK(len > 0 && len <= SL_SMTP_OUT_LINE_MAX && (size_t)len == strlen(buf));
	CHECK(memchr(buf, '\r', (size_t)len) == buf + len - 2 && buf[len - 1] == '\n');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t lines[] = { 512, 1000, 64, 8 };
	struct sl_smtp_reply_parser p;
	struct sl_smtp_reply_limits lim;
	const struct sl_smtp_reply *rep;
	size_t chunk, off = 0, fed = 0, n, got_bytes = 0;
	int r = 0, zero_feeds = 0;

	if (size < 2)
		return 0;
	chunk = (size_t)data[0] % 64 + 1;
	lim = (struct sl_smtp_reply_limits){
		.max_line = lines[data[1] & 3],
		.max_size = (data[1] & 4) ? 512 : 16384,
		.max_lines = (data[1] & 8) ? 4 : 64,
		.flags = (data[1] & 16) ? SL_SMTP_LINE_BARE_LF : 0,
	};
	if (lim.max_size < lim.max_line)
		lim.max_size = lim.max_line;
	data += 2;
	size -= 2;
	CHECK(sl_smtp_reply_parser_init(&p, &lim) == 0);
	while (off < size && r >= 0) {
		n = sl_smtp_reply_parser_feed(&p, data + off, size - off < chunk ? size - off : chunk);
		off += n;
		fed += n;
		while ((r = sl_smtp_reply_parser_next(&p, &rep)) > 0) {
			check_reply(rep, &lim);
			got_bytes += rep->size;
		}
		if (r < 0)
			CHECK(sl_smtp_reply_parser_next(&p, &rep) == r);	/* sticky */
		/* No stall: a full buffer always yields a line or an error, so
		 * after draining, the next feed takes bytes again. */
		zero_feeds = n == 0 ? zero_feeds + 1 : 0;
		CHECK(zero_feeds < 2);
	}
	if (r == 0)
		CHECK(sl_smtp_reply_parser_pending(&p) <= fed + got_bytes);
	sl_smtp_reply_parser_done(&p);
	return 0;
}
