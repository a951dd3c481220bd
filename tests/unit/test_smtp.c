/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_smtp.c — the SMTP codec: line buffer (limits, line ends, pipelined
 * bytes), reply parser (multi-line, limits, garbage), EHLO parsing and the
 * outbound capability filter, the inbound command parser, reply
 * formatting.  Every table runs each input whole and byte by byte: an
 * incremental parser must not care how the bytes arrive.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sasl.h"
#include "smtp.h"
#include "tap.h"

static const char *err_tag(int r)
{
	switch (-r) {
	case SL_SMTP_E_LINE_TOO_LONG: return "!TOO_LONG";
	case SL_SMTP_E_BARE_LF: return "!BARE_LF";
	case SL_SMTP_E_BARE_CR: return "!BARE_CR";
	case SL_SMTP_E_NUL: return "!NUL";
	case SL_SMTP_E_BAD_CODE: return "!BAD_CODE";
	case SL_SMTP_E_BAD_SEPARATOR: return "!BAD_SEP";
	case SL_SMTP_E_CODE_MISMATCH: return "!MISMATCH";
	case SL_SMTP_E_REPLY_TOO_BIG: return "!TOO_BIG";
	case SL_SMTP_E_TOO_MANY_LINES: return "!TOO_MANY";
	case SL_SMTP_E_SYNTAX: return "!SYNTAX";
	case SL_SMTP_E_NOT_EHLO: return "!NOT_EHLO";
	}
	return "!OTHER";
}

static void cat(char *dst, size_t cap, const char *s)
{
	size_t n = strlen(dst);

	snprintf(dst + n, cap - n, "%s%s", n ? "|" : "", s);
}

/* ---------------------------------------------------------------------- */
/* Line buffer                                                             */

static const struct linebuf_case {
	const char *name;
	size_t max_line;
	unsigned flags;
	const char *in;
	size_t in_len;			/* 0 = strlen(in) */
	const char *want;		/* lines and !ERRORS joined with | */
	size_t pending;			/* bytes left after the last event */
} linebuf_cases[] = {
	{ "one CRLF line", 512, 0, "EHLO a.example\r\n", 0, "EHLO a.example", 0 },
	{ "two lines", 512, 0, "NOOP\r\nQUIT\r\n", 0, "NOOP|QUIT", 0 },
	{ "partial line stays pending", 512, 0, "NOOP\r\nQU", 0, "NOOP", 2 },
	{ "empty line", 512, 0, "\r\n", 0, "", 0 },
	{ "bare LF refused for peers", 512, 0, "EHLO a\nQUIT\r\n", 0, "!BARE_LF|QUIT", 0 },
	{ "bare LF accepted when allowed", 512, SL_SMTP_LINE_BARE_LF, "EHLO a\nQUIT\r\n", 0,
	  "EHLO a|QUIT", 0 },
	{ "bare CR inside a line", 512, SL_SMTP_LINE_BARE_LF, "EHLO a\rb\r\nNOOP\r\n", 0,
	  "!BARE_CR|NOOP", 0 },
	{ "NUL inside a line", 512, 0, "EHLO a\0b\r\nNOOP\r\n", 16, "!NUL|NOOP", 0 },
	{ "line of exactly max_line (CRLF included)", 8, 0, "123456\r\n", 0, "123456", 0 },
	{ "one byte over max_line", 8, 0, "1234567\r\nNOOP\r\n", 0, "!TOO_LONG|NOOP", 0 },
	{ "long line is skipped through its LF", 8, 0, "0123456789abcdefghij\r\nOK\r\n", 0,
	  "!TOO_LONG|OK", 0 },
	{ "bare-LF line of max_line", 8, SL_SMTP_LINE_BARE_LF, "1234567\n", 0, "1234567", 0 },
	{ "STARTTLS with pipelined plaintext", 512, 0, "STARTTLS\r\nMAIL FROM:<a@b>\r\n", 0,
	  "STARTTLS|MAIL FROM:<a@b>", 0 },
};

static void run_linebuf(const struct linebuf_case *c, bool bytewise)
{
	struct sl_smtp_linebuf lb;
	size_t len = c->in_len ? c->in_len : strlen(c->in), off = 0, n;
	char got[2048] = "";
	const char *line;
	size_t ll;
	int r;

	if (!tap_int(sl_smtp_linebuf_init(&lb, c->max_line, c->flags), 0, "linebuf init: %s", c->name))
		return;
	while (off < len) {
		n = sl_smtp_linebuf_feed(&lb, c->in + off, bytewise ? 1 : len - off);
		off += n;
		while ((r = sl_smtp_linebuf_next(&lb, &line, &ll)) != 0) {
			if (r > 0) {
				tap_ok(strlen(line) == ll, "%s: line length matches NUL (%s)", c->name,
				       bytewise ? "bytewise" : "whole");
				cat(got, sizeof(got), line);
				if (!got[0])
					strcpy(got, "");
			} else {
				cat(got, sizeof(got), err_tag(r));
			}
		}
	}
	tap_str(got, c->want, "linebuf %s (%s)", c->name, bytewise ? "bytewise" : "whole");
	tap_int((long long)sl_smtp_linebuf_pending(&lb), (long long)c->pending,
		"linebuf %s: pending bytes (%s)", c->name, bytewise ? "bytewise" : "whole");
	sl_smtp_linebuf_done(&lb);
}

/* The STARTTLS check itself: pending bytes right after the command. */
static void test_starttls_pipelining(void)
{
	static const struct {
		const char *name, *in;
		bool injected;
	} cases[] = {
		{ "clean STARTTLS", "STARTTLS\r\n", false },
		{ "STARTTLS + MAIL in one segment", "STARTTLS\r\nMAIL FROM:<x@y>\r\n", true },
		{ "STARTTLS + one byte", "STARTTLS\r\nM", true },
	};
	struct sl_smtp_linebuf lb;
	const char *line, *peek;
	size_t i, ll;

	for (i = 0; i < TAP_NELEM(cases); i++) {
		sl_smtp_linebuf_init(&lb, SL_SMTP_CMD_LINE_MAX, 0);
		sl_smtp_linebuf_feed(&lb, cases[i].in, strlen(cases[i].in));
		tap_int(sl_smtp_linebuf_next(&lb, &line, &ll), 1, "%s: line", cases[i].name);
		tap_str(line, "STARTTLS", "%s: command", cases[i].name);
		tap_ok((sl_smtp_linebuf_pending(&lb) > 0) == cases[i].injected,
		       "%s: pipelined bytes %s", cases[i].name,
		       cases[i].injected ? "detected" : "absent");
		tap_int((long long)sl_smtp_linebuf_peek(&lb, &peek),
			(long long)(strlen(cases[i].in) - 10), "%s: peek length", cases[i].name);
		sl_smtp_linebuf_reset(&lb);
		tap_int((long long)sl_smtp_linebuf_pending(&lb), 0, "%s: reset drops them",
			cases[i].name);
		sl_smtp_linebuf_done(&lb);
	}
}

/* Back-pressure: a full buffer takes fewer bytes; _next() frees room. */
static void test_linebuf_backpressure(void)
{
	struct sl_smtp_linebuf lb;
	char big[4096], *space;
	const char *line;
	size_t n, ll, lines = 0, off = 0;
	int r;

	for (n = 0; n + 10 <= sizeof(big); n += 10)
		memcpy(big + n, "NOOP 1234\n", 10);
	sl_smtp_linebuf_init(&lb, 16, SL_SMTP_LINE_BARE_LF);
	n = sl_smtp_linebuf_feed(&lb, big, sizeof(big));
	tap_int((long long)n, 1024, "backpressure: buffer takes its capacity only");
	off = n;
	while (off < sizeof(big) - sizeof(big) % 10) {
		off += sl_smtp_linebuf_feed(&lb, big + off, sizeof(big) - sizeof(big) % 10 - off);
		while ((r = sl_smtp_linebuf_next(&lb, &line, &ll)) > 0)
			lines++;
		if (r < 0)
			break;
	}
	tap_int((long long)lines, (long long)(sizeof(big) / 10), "backpressure: every line arrives");
	n = sl_smtp_linebuf_space(&lb, &space);
	tap_int((long long)n, 1024, "backpressure: space is whole again when drained");
	memcpy(space, "QUIT\r\n", 6);
	sl_smtp_linebuf_commit(&lb, 6);
	tap_int(sl_smtp_linebuf_next(&lb, &line, &ll), 1, "space/commit: line");
	tap_str(line, "QUIT", "space/commit: text");
	sl_smtp_linebuf_done(&lb);
	tap_int(sl_smtp_linebuf_init(&lb, 2, 0), -EINVAL, "max_line below 3 refused");
}

/* ---------------------------------------------------------------------- */
/* Reply parser                                                            */

static const struct reply_case {
	const char *name;
	const char *in;
	const char *want;	/* replies "CODE[esc](n):l1/l2" and !ERRORS, | joined */
	size_t pending;
	struct sl_smtp_reply_limits lim;
} reply_cases[] = {
	{ "single line", "220 mx.example ESMTP Postfix\r\n", "220[](1):mx.example ESMTP Postfix", 0, { 0 } },
	{ "enhanced status", "421 4.7.0 Try again later\r\n", "421[4.7.0](1):4.7.0 Try again later", 0, { 0 } },
	{ "esc class must match code", "250 4.7.0 odd\r\n", "250[](1):4.7.0 odd", 0, { 0 } },
	{ "esc with 3-digit parts", "550 5.123.456 x\r\n", "550[5.123.456](1):5.123.456 x", 0, { 0 } },
	{ "esc with leading zero is none", "550 5.01.1 x\r\n", "550[](1):5.01.1 x", 0, { 0 } },
	{ "esc must end at a space", "250 2.0.0.1 x\r\n", "250[](1):2.0.0.1 x", 0, { 0 } },
	{ "code alone", "250\r\n", "250[](1):", 0, { 0 } },
	{ "code and space", "250 \r\n", "250[](1):", 0, { 0 } },
	{ "multi-line EHLO",
	  "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n",
	  "250[](4):mx.example/PIPELINING/SIZE 10240000/8BITMIME", 0, { 0 } },
	{ "empty continuation", "250-\r\n250 ok\r\n", "250[](2):/ok", 0, { 0 } },
	{ "two replies back to back", "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n",
	  "250[2.1.0](1):2.1.0 Ok|250[2.1.5](1):2.1.5 Ok|354[](1):End data", 0, { 0 } },
	{ "bare LF accepted in replies", "220 a\n250-b\n250 c\n", "220[](1):a|250[](2):b/c", 0, { 0 } },
	{ "incomplete multi-line is pending", "250-a\r\n250-b\r\n250 c",
	  "", 19, { 0 } },
	{ "bare-LF lines count as received (fuzz regression)", "250-b\n2", "", 7, { 0 } },
	{ "STARTTLS reply with injected reply", "220 2.0.0 Ready\r\n250 injected\r\n",
	  "220[2.0.0](1):2.0.0 Ready|250[](1):injected", 0, { 0 } },
	{ "non-digit code", "2x0 oops\r\n", "!BAD_CODE", 0, { 0 } },
	{ "code too short", "25\r\n", "!BAD_CODE", 0, { 0 } },
	{ "1xx is not SMTP", "150 go\r\n", "!BAD_CODE", 0, { 0 } },
	{ "6xx is not SMTP", "600 no\r\n", "!BAD_CODE", 0, { 0 } },
	{ "second digit above 5", "260 no\r\n", "!BAD_CODE", 0, { 0 } },
	{ "missing separator", "250ok\r\n", "!BAD_SEP", 0, { 0 } },
	{ "tab separator", "250\tok\r\n", "!BAD_SEP", 0, { 0 } },
	{ "code changes mid-reply", "250-a\r\n251 b\r\n", "!MISMATCH", 0, { 0 } },
	{ "error is sticky", "250 fine\r\n2x0 bad\r\n250 never\r\n", "250[](1):fine|!BAD_CODE", 0, { 0 } },
	{ "empty line is garbage", "\r\n", "!BAD_CODE", 0, { 0 } },
	{ "NUL in reply", "250 a\0b\r\n", "!NUL", 0, { 0 } },
	{ "line over the limit", "250 0123456789012345678901234567890\r\n", "!TOO_LONG", 0,
	  { .max_line = 16 } },
	{ "too many lines", "250-a\r\n250-b\r\n250-c\r\n250 d\r\n", "!TOO_MANY", 0,
	  { .max_lines = 3 } },
	{ "exactly max lines", "250-a\r\n250-b\r\n250 c\r\n", "250[](3):a/b/c", 0,
	  { .max_lines = 3 } },
	{ "reply over size limit", "250-aaaaaaaaaa\r\n250-bbbbbbbbbb\r\n250 c\r\n", "!TOO_BIG", 0,
	  { .max_line = 20, .max_size = 38 } },
	{ "reply at size limit", "250-aaaaaaaaaa\r\n250-bbbbbbbbbb\r\n250 \r\n", "250[](3):aaaaaaaaaa/bbbbbbbbbb/", 0,
	  { .max_line = 20, .max_size = 38 } },
	{ "bare LF refused when asked", "250 a\n", "!BARE_LF", 0, { .flags = 0, .max_line = 512 } },
};

static void fmt_reply(const struct sl_smtp_reply *r, char *buf, size_t cap)
{
	size_t i, n;

	n = (size_t)snprintf(buf, cap, "%u[%s](%zu):", r->code, r->esc, r->n_lines);
	for (i = 0; i < r->n_lines && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? "/" : "", r->lines[i]);
}

static void run_reply(const struct reply_case *c, bool bytewise)
{
	struct sl_smtp_reply_parser p;
	const struct sl_smtp_reply *rep;
	const struct sl_smtp_reply_limits *lim = NULL;
	size_t len = strlen(c->in), off = 0, n;
	char got[4096] = "", one[1024];
	bool stop = false;
	int r;

	/* strlen stops at the NUL case's NUL: use the known full length */
	if (strcmp(c->name, "NUL in reply") == 0)
		len = 9;
	if (c->lim.max_line || c->lim.max_lines || c->lim.max_size)
		lim = &c->lim;
	if (!tap_int(sl_smtp_reply_parser_init(&p, lim), 0, "reply init: %s", c->name))
		return;
	while (off < len && !stop) {
		n = sl_smtp_reply_parser_feed(&p, c->in + off, bytewise ? 1 : len - off);
		off += n;
		while ((r = sl_smtp_reply_parser_next(&p, &rep)) > 0) {
			fmt_reply(rep, one, sizeof(one));
			cat(got, sizeof(got), one);
		}
		if (r < 0) {
			cat(got, sizeof(got), err_tag(r));
			tap_int(sl_smtp_reply_parser_next(&p, &rep), r, "%s: error is sticky (%s)",
				c->name, bytewise ? "bytewise" : "whole");
			stop = true;
		}
	}
	tap_str(got, c->want, "reply %s (%s)", c->name, bytewise ? "bytewise" : "whole");
	if (!stop)
		tap_int((long long)sl_smtp_reply_parser_pending(&p), (long long)c->pending,
			"reply %s: pending (%s)", c->name, bytewise ? "bytewise" : "whole");
	sl_smtp_reply_parser_done(&p);
}

/* Outbound STARTTLS check: after the 220 to STARTTLS nothing may remain. */
static void test_reply_pending_after_starttls(void)
{
	struct sl_smtp_reply_parser p;
	const struct sl_smtp_reply *rep;
	static const char in[] = "220 2.0.0 Ready to start TLS\r\n250-fake\r\n";

	sl_smtp_reply_parser_init(&p, NULL);
	sl_smtp_reply_parser_feed(&p, in, sizeof(in) - 1);
	tap_int(sl_smtp_reply_parser_next(&p, &rep), 1, "injection: 220 parsed");
	tap_int(rep->code, 220, "injection: code");
	tap_int((long long)sl_smtp_reply_parser_pending(&p), 10,
		"injection: a partial injected reply counts as pending");
	tap_int(sl_smtp_reply_parser_next(&p, &rep), 0, "injection: injected reply incomplete");
	tap_int((long long)sl_smtp_reply_parser_pending(&p), 10,
		"injection: its consumed line still counts as pending");
	sl_smtp_reply_parser_reset(&p);
	tap_int((long long)sl_smtp_reply_parser_pending(&p), 0, "reset: nothing pending");
	sl_smtp_reply_parser_feed(&p, "250 ok\r\n", 8);
	tap_int(sl_smtp_reply_parser_next(&p, &rep), 1, "reset: parser usable again");
	sl_smtp_reply_parser_done(&p);
}

static void test_reply_summary(void)
{
	static const char *lines[] = { "5.7.8 Error: authentication failed", "second\r\nline" };
	struct sl_smtp_reply r = { .code = 535, .n_lines = 2, .lines = lines };
	char buf[128], small[16];

	sl_smtp_reply_summary(&r, buf, sizeof(buf));
	tap_str(buf, "535 5.7.8 Error: authentication failed / second line",
		"summary joins lines and cleans CR LF");
	sl_smtp_reply_summary(&r, small, sizeof(small));
	tap_str(small, "535 5.7.8 Er...", "summary is cut with ...");
}

/* ---------------------------------------------------------------------- */
/* EHLO                                                                    */

static int parse_one(const char *text, struct sl_smtp_reply_parser *p,
		     const struct sl_smtp_reply **rep)
{
	sl_smtp_reply_parser_init(p, NULL);
	sl_smtp_reply_parser_feed(p, text, strlen(text));
	return sl_smtp_reply_parser_next(p, rep);
}

static const char postfix_ehlo[] =
	"250-mx1.partner.example\r\n"
	"250-PIPELINING\r\n"
	"250-SIZE 10240000\r\n"
	"250-VRFY\r\n"
	"250-ETRN\r\n"
	"250-AUTH PLAIN LOGIN SCRAM-SHA-256\r\n"
	"250-AUTH=PLAIN LOGIN\r\n"
	"250-ENHANCEDSTATUSCODES\r\n"
	"250-8BITMIME\r\n"
	"250-DSN\r\n"
	"250-SMTPUTF8\r\n"
	"250 CHUNKING\r\n";

static const char exchange_ehlo[] =
	"250-EX01.partner.example Hello [192.0.2.7]\r\n"
	"250-SIZE 37748736\r\n"
	"250-PIPELINING\r\n"
	"250-DSN\r\n"
	"250-ENHANCEDSTATUSCODES\r\n"
	"250-STARTTLS\r\n"
	"250-X-ANONYMOUSTLS\r\n"
	"250-AUTH NTLM\r\n"
	"250-X-EXPS GSSAPI NTLM\r\n"
	"250-8BITMIME\r\n"
	"250-BINARYMIME\r\n"
	"250-CHUNKING\r\n"
	"250 XRDST\r\n";

static const struct ehlo_case {
	const char *name, *in, *greeting;
	int ret;
	const char *want;
} ehlo_filter_cases[] = {
	{ "Postfix after TLS: AUTH lines dropped", postfix_ehlo, "mx1.partner.example", 0,
	  "250-mx1.partner.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n"
	  "250-ETRN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n"
	  "250-SMTPUTF8\r\n250 CHUNKING\r\n" },
	{ "Exchange: STARTTLS, X-ANONYMOUSTLS, AUTH, X-EXPS dropped", exchange_ehlo, "ex01.partner.example", 0,
	  "250-ex01.partner.example\r\n250-SIZE 37748736\r\n250-PIPELINING\r\n250-DSN\r\n"
	  "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n"
	  "250 XRDST\r\n" },
	{ "last line dropped: new last line gets the space",
	  "250-mx\r\n250-SIZE 100\r\n250 STARTTLS\r\n", "mx.example", 0,
	  "250-mx.example\r\n250 SIZE 100\r\n" },
	{ "only dropped lines: one-line reply", "250-mx\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n",
	  "mx.example", 0, "250 mx.example\r\n" },
	{ "greeting only", "250 mx.example\r\n", "relay.local", 0, "250 relay.local\r\n" },
	{ "XCLIENT and XFORWARD dropped",
	  "250-mx\r\n250-XCLIENT NAME ADDR PROTO HELO\r\n250-XFORWARD NAME ADDR\r\n250 DSN\r\n",
	  "mx", 0, "250-mx\r\n250 DSN\r\n" },
	{ "case-insensitive keywords", "250-mx\r\n250-starttls\r\n250-auth=login\r\n250 size\r\n",
	  "mx", 0, "250-mx\r\n250 size\r\n" },
	{ "malformed keyword lines dropped",
	  "250-mx\r\n250--BAD\r\n250-SIZE\t1\r\n250-X=1\r\n250-\r\n250 REQUIRETLS\r\n", "mx", 0,
	  "250-mx\r\n250 REQUIRETLS\r\n" },
	{ "unknown extensions kept", "250-mx\r\n250-X-FOO bar baz\r\n250 LIMITS RCPTMAX=100\r\n",
	  "mx", 0, "250-mx\r\n250-X-FOO bar baz\r\n250 LIMITS RCPTMAX=100\r\n" },
	{ "partner's name when none given", "250-mx.partner.example Hello you\r\n250 DSN\r\n", NULL, 0,
	  "250-mx.partner.example\r\n250 DSN\r\n" },
	{ "not a 250", "554 5.7.1 go away\r\n", "mx", -SL_SMTP_E_NOT_EHLO, NULL },
	{ "greeting name with a space refused", "250 mx\r\n", "bad name", -EINVAL, NULL },
};

static void test_ehlo_filter(void)
{
	struct sl_smtp_reply_parser p;
	const struct sl_smtp_reply *rep;
	char out[2048];
	size_t i;
	int r;

	for (i = 0; i < TAP_NELEM(ehlo_filter_cases); i++) {
		const struct ehlo_case *c = &ehlo_filter_cases[i];

		if (!tap_int(parse_one(c->in, &p, &rep), 1, "ehlo %s: reply parses", c->name))
			continue;
		r = sl_ehlo_filter(rep, c->greeting, out, sizeof(out));
		if (c->want) {
			tap_int(r, (long long)strlen(c->want), "ehlo filter %s: length", c->name);
			tap_str(r > 0 ? out : NULL, c->want, "ehlo filter %s", c->name);
		} else {
			tap_int(r, c->ret, "ehlo filter %s: error", c->name);
		}
		sl_smtp_reply_parser_done(&p);
	}

	/* Output too small: an error, never a cut reply. */
	parse_one(postfix_ehlo, &p, &rep);
	tap_int(sl_ehlo_filter(rep, "mx", out, 40), -ENOSPC, "ehlo filter: -ENOSPC when small");
	sl_smtp_reply_parser_done(&p);

	/* The filter's output is itself a valid EHLO reply without STARTTLS/AUTH. */
	{
		struct sl_smtp_reply_parser q;
		const struct sl_smtp_reply *rep2;
		struct sl_ehlo e;

		parse_one(exchange_ehlo, &p, &rep);
		r = sl_ehlo_filter(rep, "relay.example", out, sizeof(out));
		tap_int(parse_one(out, &q, &rep2), 1, "filtered reply re-parses");
		tap_int(sl_ehlo_parse(rep2, &e), 0, "filtered reply is an EHLO reply");
		tap_int(e.caps & (SL_EHLO_STARTTLS | SL_EHLO_AUTH), 0, "filtered: no STARTTLS, no AUTH");
		tap_ok((e.caps & SL_EHLO_CHUNKING) && (e.caps & SL_EHLO_SIZE), "filtered: CHUNKING, SIZE kept");
		tap_int((long long)sl_smtp_reply_parser_pending(&q), 0, "filtered: nothing trailing");
		sl_smtp_reply_parser_done(&q);
		sl_smtp_reply_parser_done(&p);
	}
}

static void test_ehlo_parse(void)
{
	static const struct {
		const char *name, *in;
		unsigned caps, mechs;
		unsigned long long size;
		const char *domain;
	} cases[] = {
		{ "Postfix", postfix_ehlo,
		  SL_EHLO_PIPELINING | SL_EHLO_SIZE | SL_EHLO_AUTH | SL_EHLO_ENHANCEDSTATUSCODES |
		  SL_EHLO_8BITMIME | SL_EHLO_DSN | SL_EHLO_SMTPUTF8 | SL_EHLO_CHUNKING,
		  SL_SASL_MASK(SL_SASL_PLAIN) | SL_SASL_MASK(SL_SASL_LOGIN) |
		  SL_SASL_MASK(SL_SASL_SCRAM_SHA_256), 10240000, "mx1.partner.example" },
		{ "Exchange before TLS", exchange_ehlo,
		  SL_EHLO_SIZE | SL_EHLO_PIPELINING | SL_EHLO_DSN | SL_EHLO_ENHANCEDSTATUSCODES |
		  SL_EHLO_STARTTLS | SL_EHLO_AUTH | SL_EHLO_8BITMIME | SL_EHLO_BINARYMIME |
		  SL_EHLO_CHUNKING, 0, 37748736, "EX01.partner.example" },
		{ "Exim, legacy AUTH= only",
		  "250-mail.partner.example Hello relay [10.0.0.1]\r\n250-SIZE 52428800\r\n"
		  "250-8BITMIME\r\n250-PIPELINING\r\n250-AUTH=LOGIN\r\n250-STARTTLS\r\n250 HELP\r\n",
		  SL_EHLO_SIZE | SL_EHLO_8BITMIME | SL_EHLO_PIPELINING | SL_EHLO_AUTH |
		  SL_EHLO_STARTTLS, SL_SASL_MASK(SL_SASL_LOGIN), 52428800, "mail.partner.example" },
		{ "SIZE without a number", "250-mx\r\n250 SIZE\r\n", SL_EHLO_SIZE, 0, 0, "mx" },
		{ "SIZE overflowing", "250-mx\r\n250 SIZE 99999999999999999999999\r\n", SL_EHLO_SIZE,
		  0, 0, "mx" },
		{ "unknown mechanisms ignored", "250-mx\r\n250 AUTH CRAM-MD5 XOAUTH2 plain\r\n",
		  SL_EHLO_AUTH, SL_SASL_MASK(SL_SASL_PLAIN), 0, "mx" },
		{ "XCLIENT seen", "250-mx\r\n250 XCLIENT ADDR\r\n", SL_EHLO_XCLIENT, 0, 0, "mx" },
		{ "control bytes in name cleaned", "250 m\x01x\r\n", 0, 0, 0, "m?x" },
	};
	struct sl_smtp_reply_parser p;
	const struct sl_smtp_reply *rep;
	struct sl_ehlo e;
	size_t i;

	for (i = 0; i < TAP_NELEM(cases); i++) {
		if (!tap_int(parse_one(cases[i].in, &p, &rep), 1, "ehlo parse %s: reply", cases[i].name))
			continue;
		tap_int(sl_ehlo_parse(rep, &e), 0, "ehlo parse %s", cases[i].name);
		tap_int(e.caps, cases[i].caps, "ehlo parse %s: caps", cases[i].name);
		tap_int(e.auth_mechs, cases[i].mechs, "ehlo parse %s: AUTH mechanisms", cases[i].name);
		tap_int((long long)e.size, (long long)cases[i].size, "ehlo parse %s: SIZE", cases[i].name);
		tap_str(e.domain, cases[i].domain, "ehlo parse %s: name", cases[i].name);
		sl_smtp_reply_parser_done(&p);
	}
	parse_one("501 5.5.4 bad\r\n", &p, &rep);
	tap_int(sl_ehlo_parse(rep, &e), -SL_SMTP_E_NOT_EHLO, "ehlo parse of a 501");
	sl_smtp_reply_parser_done(&p);
}

/* ---------------------------------------------------------------------- */
/* Commands                                                                */

static const struct cmd_case {
	const char *name, *line;
	int ret;
	enum sl_smtp_verb verb;
	const char *args;
	const char *extra;	/* AUTH: "MECH/mech#/initial"; BDAT: "size/last"; EHLO "L" literal */
} cmd_cases[] = {
	{ "EHLO domain", "EHLO mx.partner.example", 0, SL_SMTP_EHLO, "mx.partner.example", "" },
	{ "ehlo lower case", "ehlo a.b", 0, SL_SMTP_EHLO, "a.b", "" },
	{ "HELO", "HeLo relay", 0, SL_SMTP_HELO, "relay", "" },
	{ "EHLO IPv4 literal", "EHLO [192.0.2.1]", 0, SL_SMTP_EHLO, "[192.0.2.1]", "L" },
	{ "EHLO IPv6 literal", "EHLO [IPv6:2001:db8::1]", 0, SL_SMTP_EHLO, "[IPv6:2001:db8::1]", "L" },
	{ "EHLO general literal", "EHLO [x-tag:abc]", 0, SL_SMTP_EHLO, "[x-tag:abc]", "L" },
	{ "EHLO bad IPv4 literal", "EHLO [192.0.2.256]", -SL_SMTP_E_SYNTAX, SL_SMTP_EHLO, NULL, NULL },
	{ "EHLO bad IPv6 literal", "EHLO [IPv6:2001:db8:::1]", -SL_SMTP_E_SYNTAX, SL_SMTP_EHLO, NULL, NULL },
	{ "EHLO unclosed literal", "EHLO [192.0.2.1", -SL_SMTP_E_SYNTAX, SL_SMTP_EHLO, NULL, NULL },
	{ "EHLO without argument", "EHLO", -SL_SMTP_E_SYNTAX, SL_SMTP_EHLO, NULL, NULL },
	{ "EHLO with two arguments", "EHLO a.example b", -SL_SMTP_E_SYNTAX, SL_SMTP_EHLO, NULL, NULL },
	{ "EHLO label starting with hyphen", "EHLO -a.example", -SL_SMTP_E_SYNTAX, SL_SMTP_EHLO, NULL, NULL },
	{ "EHLO empty label", "EHLO a..example", -SL_SMTP_E_SYNTAX, SL_SMTP_EHLO, NULL, NULL },
	{ "EHLO trailing dot", "EHLO a.example.", -SL_SMTP_E_SYNTAX, SL_SMTP_EHLO, NULL, NULL },
	{ "EHLO label of 64", "EHLO a234567890123456789012345678901234567890123456789012345678901234.x",
	  -SL_SMTP_E_SYNTAX, SL_SMTP_EHLO, NULL, NULL },
	{ "EHLO underscore tolerated", "EHLO WIN_HOST.corp", 0, SL_SMTP_EHLO, "WIN_HOST.corp", "" },
	{ "EHLO non-ASCII", "EHLO m\xc3\xa4il.example", -SL_SMTP_E_SYNTAX, SL_SMTP_EHLO, NULL, NULL },
	{ "trailing spaces trimmed", "EHLO a.example  ", 0, SL_SMTP_EHLO, "a.example", "" },
	{ "STARTTLS", "STARTTLS", 0, SL_SMTP_STARTTLS, "", "" },
	{ "starttls with argument", "STARTTLS now", -SL_SMTP_E_SYNTAX, SL_SMTP_STARTTLS, NULL, NULL },
	{ "AUTH PLAIN with initial response", "AUTH PLAIN AHVzZXIAcGFzcw==", 0, SL_SMTP_AUTH,
	  "PLAIN AHVzZXIAcGFzcw==", "PLAIN/2/AHVzZXIAcGFzcw==" },
	{ "auth login lower case", "auth login", 0, SL_SMTP_AUTH, "login", "LOGIN/3/" },
	{ "AUTH empty initial response", "AUTH PLAIN =", 0, SL_SMTP_AUTH, "PLAIN =", "PLAIN/2/=" },
	{ "AUTH unknown mechanism", "AUTH CRAM-MD5", 0, SL_SMTP_AUTH, "CRAM-MD5", "CRAM-MD5/0/" },
	{ "AUTH SCRAM name", "AUTH SCRAM-SHA-256 biws", 0, SL_SMTP_AUTH, "SCRAM-SHA-256 biws",
	  "SCRAM-SHA-256/1/biws" },
	{ "AUTH without mechanism", "AUTH", -SL_SMTP_E_SYNTAX, SL_SMTP_AUTH, NULL, NULL },
	{ "AUTH mechanism too long", "AUTH ABCDEFGHIJKLMNOPQRSTU", -SL_SMTP_E_SYNTAX, SL_SMTP_AUTH, NULL, NULL },
	{ "AUTH bad mechanism char", "AUTH PL@IN", -SL_SMTP_E_SYNTAX, SL_SMTP_AUTH, NULL, NULL },
	{ "AUTH initial response not base64", "AUTH PLAIN a*b", -SL_SMTP_E_SYNTAX, SL_SMTP_AUTH, NULL, NULL },
	{ "AUTH two responses", "AUTH PLAIN abcd efgh", -SL_SMTP_E_SYNTAX, SL_SMTP_AUTH, NULL, NULL },
	{ "MAIL FROM", "MAIL FROM:<a@b.example> SIZE=100", 0, SL_SMTP_MAIL, "FROM:<a@b.example> SIZE=100", "" },
	{ "mail from lower case", "mail from:<>", 0, SL_SMTP_MAIL, "from:<>", "" },
	{ "MAIL without FROM:", "MAIL <a@b>", -SL_SMTP_E_SYNTAX, SL_SMTP_MAIL, NULL, NULL },
	{ "RCPT TO", "RCPT TO:<x@y.example>", 0, SL_SMTP_RCPT, "TO:<x@y.example>", "" },
	{ "RCPT without TO:", "RCPT <x@y>", -SL_SMTP_E_SYNTAX, SL_SMTP_RCPT, NULL, NULL },
	{ "DATA", "DATA", 0, SL_SMTP_DATA, "", "" },
	{ "DATA with argument", "DATA x", -SL_SMTP_E_SYNTAX, SL_SMTP_DATA, NULL, NULL },
	{ "BDAT", "BDAT 1024", 0, SL_SMTP_BDAT, "1024", "1024/0" },
	{ "BDAT LAST", "BDAT 0 last", 0, SL_SMTP_BDAT, "0 last", "0/1" },
	{ "BDAT no size", "BDAT LAST", -SL_SMTP_E_SYNTAX, SL_SMTP_BDAT, NULL, NULL },
	{ "BDAT huge size", "BDAT 99999999999999999999", -SL_SMTP_E_SYNTAX, SL_SMTP_BDAT, NULL, NULL },
	{ "BDAT junk after size", "BDAT 10 FIRST", -SL_SMTP_E_SYNTAX, SL_SMTP_BDAT, NULL, NULL },
	{ "RSET", "RSET", 0, SL_SMTP_RSET, "", "" },
	{ "NOOP with text", "NOOP hello", 0, SL_SMTP_NOOP, "hello", "" },
	{ "QUIT", "quit", 0, SL_SMTP_QUIT, "", "" },
	{ "HELP", "HELP", 0, SL_SMTP_HELP, "", "" },
	{ "VRFY", "VRFY postmaster", 0, SL_SMTP_VRFY, "postmaster", "" },
	{ "VRFY without argument", "VRFY", -SL_SMTP_E_SYNTAX, SL_SMTP_VRFY, NULL, NULL },
	{ "EXPN", "EXPN list", 0, SL_SMTP_EXPN, "list", "" },
	{ "unknown verb", "XYZZY plugh", 0, SL_SMTP_UNKNOWN, "plugh", "" },
	{ "verb prefix is not the verb", "EHLOX a", 0, SL_SMTP_UNKNOWN, "a", "" },
	{ "empty line", "", 0, SL_SMTP_UNKNOWN, "", "" },
	{ "HTTP request", "GET / HTTP/1.1", 0, SL_SMTP_UNKNOWN, "/ HTTP/1.1", "" },
	{ "CR inside", "NOOP a\rb", -SL_SMTP_E_BARE_CR, SL_SMTP_UNKNOWN, NULL, NULL },
};

static void test_cmd(void)
{
	struct sl_smtp_cmd c;
	char extra[128], args[SL_SMTP_AUTH_LINE_MAX];
	size_t i;
	int r;

	for (i = 0; i < TAP_NELEM(cmd_cases); i++) {
		const struct cmd_case *k = &cmd_cases[i];

		memset(&c, 0xa5, sizeof(c));
		r = sl_smtp_cmd_parse(k->line, strlen(k->line), &c);
		tap_int(r, k->ret, "cmd %s: result", k->name);
		tap_str(sl_smtp_verb_name(c.verb), sl_smtp_verb_name(k->verb), "cmd %s: verb", k->name);
		if (!k->args)
			continue;
		snprintf(args, sizeof(args), "%.*s", (int)c.args_len, c.args);
		tap_str(args, k->args, "cmd %s: args", k->name);
		extra[0] = '\0';
		if (c.verb == SL_SMTP_AUTH)
			snprintf(extra, sizeof(extra), "%s/%d/%.*s", c.mech_name, c.mech,
				 c.initial ? (int)c.initial_len : 0, c.initial ? c.initial : "");
		else if (c.verb == SL_SMTP_BDAT)
			snprintf(extra, sizeof(extra), "%llu/%d", (unsigned long long)c.bdat_size,
				 c.bdat_last);
		else if ((c.verb == SL_SMTP_EHLO || c.verb == SL_SMTP_HELO) && c.literal)
			strcpy(extra, "L");
		tap_str(extra, k->extra, "cmd %s: details", k->name);
	}
}

static void test_cmd_limits(void)
{
	char line[SL_SMTP_AUTH_LINE_MAX + 8];
	struct sl_smtp_cmd c;

	/* 510 bytes + CRLF = 512: the RFC limit, accepted */
	memset(line, 'a', sizeof(line));
	memcpy(line, "NOOP ", 5);
	tap_int(sl_smtp_cmd_parse(line, 510, &c), 0, "cmd limit: 510 + CRLF accepted");
	tap_int(sl_smtp_cmd_parse(line, 511, &c), -SL_SMTP_E_LINE_TOO_LONG, "cmd limit: 511 + CRLF refused");
	memcpy(line, "AUTH PLAIN ", 11);
	tap_int(sl_smtp_cmd_parse(line, 1500, &c), 0, "cmd limit: AUTH line of 1500 accepted");
	tap_int(sl_smtp_cmd_parse(line, SL_SMTP_AUTH_LINE_MAX - 1, &c), -SL_SMTP_E_LINE_TOO_LONG,
		"cmd limit: AUTH line over SL_SMTP_AUTH_LINE_MAX refused");
	memcpy(line, "EHLO ", 5);
	line[5 + 256] = '\0';
	memset(line + 5, 'a', 256);
	for (int i = 1; i < 5; i++)
		line[5 + i * 60] = '.';
	tap_int(sl_smtp_cmd_parse(line, 5 + 256, &c), -SL_SMTP_E_SYNTAX, "cmd limit: domain of 256 refused");
	tap_int(sl_smtp_cmd_parse(line, 5 + 255, &c), 0, "cmd limit: domain of 255 accepted");
}

/* ---------------------------------------------------------------------- */
/* Formatting                                                              */

static void test_format(void)
{
	char buf[1024], small[24], long_reason[800];
	const char *lines[] = { "relay.example", "PIPELINING", "SIZE 1000" };
	int r;

	r = sl_smtp_format_failure(buf, sizeof(buf), 421, "4.7.0", "ntsol.com",
				   "peer offered no STARTTLS");
	tap_str(buf, "421 4.7.0 smtplock: ntsol.com: peer offered no STARTTLS\r\n", "failure reply");
	tap_int(r, (long long)strlen(buf), "failure reply: length");
	sl_smtp_format_failure(buf, sizeof(buf), 421, "4.7.8", "ntsol.com",
			       "AUTH rejected: 535 5.7.8 bad\r\n250 injected");
	tap_str(buf, "421 4.7.8 smtplock: ntsol.com: AUTH rejected: 535 5.7.8 bad 250 injected\r\n",
		"failure reply: CR LF in peer text cannot start a line");
	sl_smtp_format_failure(buf, sizeof(buf), 554, "5.7.0", NULL, "no\x01" "pe\xff");
	tap_str(buf, "554 5.7.0 smtplock: no?pe?\r\n", "failure reply: no domain, controls cleaned");
	sl_smtp_format_failuref(buf, sizeof(buf), 421, "4.7.0", "d.example",
				"peer offered %s, policy requires %s", "TLSv1.2", "TLSv1.3");
	tap_str(buf, "421 4.7.0 smtplock: d.example: peer offered TLSv1.2, policy requires TLSv1.3\r\n",
		"failuref");
	memset(long_reason, 'x', sizeof(long_reason) - 1);
	long_reason[sizeof(long_reason) - 1] = '\0';
	r = sl_smtp_format_failure(buf, sizeof(buf), 421, "4.7.0", "d", long_reason);
	tap_int(r, SL_SMTP_OUT_LINE_MAX, "long reason cut to the line limit");
	tap_ok(r > 5 && memcmp(buf + r - 5, "...\r\n", 5) == 0, "long reason ends with ...CRLF");
	r = sl_smtp_format_failure(small, sizeof(small), 421, "4.7.0", "d", "a long reason here");
	tap_str(small, "421 4.7.0 smtplock...\r\n", "small buffer cut");
	tap_int(r, 23, "small buffer: length");
	tap_int(sl_smtp_format_reply(buf, sizeof(buf), 421, "5.7.0", "x"), -EINVAL,
		"esc class must match the code");
	tap_int(sl_smtp_format_reply(buf, sizeof(buf), 199, NULL, "x"), -EINVAL, "code 199 refused");
	tap_int(sl_smtp_format_reply(buf, sizeof(buf), 421, "4.7", "x"), -EINVAL, "malformed esc refused");
	sl_smtp_format_reply(buf, sizeof(buf), 530, "5.7.0", "Must issue a STARTTLS command first");
	tap_str(buf, "530 5.7.0 Must issue a STARTTLS command first\r\n", "plain reply");
	sl_smtp_format_reply(buf, sizeof(buf), 250, NULL, "");
	tap_str(buf, "250\r\n", "reply without text");
	sl_smtp_format_reply(buf, sizeof(buf), 235, "2.7.0", NULL);
	tap_str(buf, "235 2.7.0\r\n", "reply with status only");
	r = sl_smtp_format_multiline(buf, sizeof(buf), 250, lines, 3);
	tap_str(buf, "250-relay.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n", "multiline");
	tap_int(r, (long long)strlen(buf), "multiline: length");
	tap_int(sl_smtp_format_multiline(buf, 20, 250, lines, 3), -ENOSPC, "multiline: -ENOSPC");
	tap_int(sl_smtp_format_multiline(buf, sizeof(buf), 250, lines, 0), -EINVAL, "multiline: no lines");
}

static void test_printable(void)
{
	static const struct {
		const char *name, *in;
		size_t in_len, cap;
		const char *want;
	} cases[] = {
		{ "plain", "hello world", 0, 64, "hello world" },
		{ "CR LF TAB", "a\r\nb\tc", 0, 64, "a\\r\\nb\\tc" },
		{ "quote and backslash", "say \"x\\y\"", 0, 64, "say \\\"x\\\\y\\\"" },
		{ "8-bit and control", "\xff\x01z", 0, 64, "\\xff\\x01z" },
		{ "NUL", "a\0b", 3, 64, "a\\x00b" },
		{ "cut with ...", "abcdefghijklmnop", 0, 10, "abcdef..." },
		{ "escape never split", "abcd\x01\x02\x03", 0, 12, "abcd\\x01..." },
		{ "escape that does not fit is left out", "abcde\x01\x02\x03", 0, 12, "abcde..." },
		{ "exact fit", "abc", 0, 4, "abc" },
		{ "tiny buffer", "abcdef", 0, 3, "ab" },
	};
	char buf[128];
	size_t i, n;

	for (i = 0; i < TAP_NELEM(cases); i++) {
		n = sl_smtp_printable(buf, cases[i].cap, cases[i].in,
				      cases[i].in_len ? cases[i].in_len : strlen(cases[i].in));
		tap_str(buf, cases[i].want, "printable %s", cases[i].name);
		tap_int((long long)n, (long long)strlen(cases[i].want), "printable %s: length",
			cases[i].name);
	}
	tap_int((long long)sl_smtp_printable(buf, 0, "x", 1), 0, "printable: zero-size buffer");
	tap_str(sl_smtp_strerror(-SL_SMTP_E_LINE_TOO_LONG), "line too long", "strerror of a codec error");
	tap_str(sl_smtp_strerror(-ENOMEM), strerror(ENOMEM), "strerror of an errno");
}

int main(void)
{
	size_t i;

	for (i = 0; i < TAP_NELEM(linebuf_cases); i++) {
		run_linebuf(&linebuf_cases[i], false);
		run_linebuf(&linebuf_cases[i], true);
	}
	test_starttls_pipelining();
	test_linebuf_backpressure();
	for (i = 0; i < TAP_NELEM(reply_cases); i++) {
		run_reply(&reply_cases[i], false);
		run_reply(&reply_cases[i], true);
	}
	test_reply_pending_after_starttls();
	test_reply_summary();
	test_ehlo_parse();
	test_ehlo_filter();
	test_cmd();
	test_cmd_limits();
	test_format();
	test_printable();
	return tap_done();
}
