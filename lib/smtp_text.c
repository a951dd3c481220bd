/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * smtp_text.c — text that crosses a trust boundary: peer text going into
 * a reply we send is cleaned (no CR/LF can reach the other side and start
 * a line of its own; controls and 8-bit bytes become '?'), cut to the
 * line limit with "..." rather than overflowing; peer text going into a
 * log is escaped (printable()).  See smtp.h for the contracts.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "smtp.h"

/* A bounded writer: text is appended while it fits in cap - 1 bytes; on
 * the first byte that does not fit it is marked cut, and _end() replaces
 * the tail with "..." (units are single bytes here). */
struct sl_wr {
	char *p;
	size_t cap, len;
	bool cut;
};

static void sl_wr_put(struct sl_wr *w, char c)
{
	if (w->cut)
		return;
	if (w->len + 1 >= w->cap) {
		w->cut = true;
		return;
	}
	w->p[w->len++] = c;
}

static void sl_wr_lit(struct sl_wr *w, const char *s)
{
	while (*s)
		sl_wr_put(w, *s++);
}

static void sl_wr_clean(struct sl_wr *w, const void *src, size_t n)
{
	const unsigned char *s = src;
	size_t i;

	for (i = 0; i < n && !w->cut; i++) {
		unsigned char c = s[i];

		if (c == '\r' || c == '\n' || c == '\t') {
			if (w->len > 0 && w->p[w->len - 1] == ' ')
				continue;
			sl_wr_put(w, ' ');
		} else if (c < 0x20 || c >= 0x7f) {
			sl_wr_put(w, '?');
		} else {
			sl_wr_put(w, (char)c);
		}
	}
}

/* Finish: "..." over the tail if cut (not before keep), NUL-terminate. */
static size_t sl_wr_end(struct sl_wr *w, size_t keep)
{
	if (w->cap == 0)
		return 0;
	if (w->cut) {
		size_t at = w->len >= keep + 3 ? w->len - 3 : w->len;

		if (at + 3 < w->cap) {
			memcpy(w->p + at, "...", 3);
			w->len = at + 3;
		}
	}
	w->p[w->len] = '\0';
	return w->len;
}

size_t sl_smtp_text_clean(char *dst, size_t dstlen, const void *src, size_t srclen)
{
	struct sl_wr w = { .p = dst, .cap = dstlen };

	sl_wr_clean(&w, src, srclen);
	return sl_wr_end(&w, 0);
}

/* The escaped form of one byte for logs; returns its length (1..4). */
static size_t sl_printable_unit(unsigned char c, char out[4])
{
	static const char hex[] = "0123456789abcdef";

	switch (c) {
	case '\\': out[0] = '\\'; out[1] = '\\'; return 2;
	case '"': out[0] = '\\'; out[1] = '"'; return 2;
	case '\r': out[0] = '\\'; out[1] = 'r'; return 2;
	case '\n': out[0] = '\\'; out[1] = 'n'; return 2;
	case '\t': out[0] = '\\'; out[1] = 't'; return 2;
	}
	if (c >= 0x20 && c < 0x7f) {
		out[0] = (char)c;
		return 1;
	}
	out[0] = '\\';
	out[1] = 'x';
	out[2] = hex[c >> 4];
	out[3] = hex[c & 15];
	return 4;
}

size_t sl_smtp_printable(char *dst, size_t dstlen, const void *src, size_t srclen)
{
	const unsigned char *s = src;
	size_t i, total = 0, room, len = 0, n;
	char u[4];

	if (dstlen == 0)
		return 0;
	for (i = 0; i < srclen && total <= dstlen - 1; i++)
		total += sl_printable_unit(s[i], u);
	/* Everything fits, or leave room for "..." and never split a unit. */
	room = total <= dstlen - 1 || dstlen - 1 < 3 ? dstlen - 1 : dstlen - 1 - 3;
	for (i = 0; i < srclen; i++) {
		n = sl_printable_unit(s[i], u);
		if (len + n > room)
			break;
		memcpy(dst + len, u, n);
		len += n;
	}
	if (i < srclen && len + 3 <= dstlen - 1) {
		memcpy(dst + len, "...", 3);
		len += 3;
	}
	dst[len] = '\0';
	return len;
}

static bool sl_esc_ok_for(unsigned code, const char *esc)
{
	char tmp[SL_SMTP_ESC_MAX];

	return strlen(esc) < SL_SMTP_ESC_MAX && sl_smtp_esc_parse(code, esc, tmp) == strlen(esc);
}

/* "CODE[ ESC] " into w; -EINVAL for a bad code or status. */
static int sl_wr_code(struct sl_wr *w, unsigned code, const char *esc, char sep)
{
	char num[8];

	if (!sl_smtp_code_valid(code))
		return -EINVAL;
	if (esc && *esc && !sl_esc_ok_for(code, esc))
		return -EINVAL;
	snprintf(num, sizeof(num), "%u%c", code, sep);
	sl_wr_lit(w, num);
	if (esc && *esc) {
		sl_wr_lit(w, esc);
		sl_wr_put(w, ' ');
	}
	return w->cut ? -ENOSPC : 0;
}

/* A line "CODE<sep>[ESC ]<cleaned parts>" + CRLF, cut (with "...") to
 * SL_SMTP_OUT_LINE_MAX and to len. */
static int sl_format_line(char *buf, size_t len, unsigned code, const char *esc, char sep,
			  const char *const *parts, size_t n_parts)
{
	/* line + CRLF <= SL_SMTP_OUT_LINE_MAX, + the NUL */
	size_t cap = len < SL_SMTP_OUT_LINE_MAX + 1 ? len : SL_SMTP_OUT_LINE_MAX + 1;
	struct sl_wr w;
	size_t keep, i;
	int r;

	if (cap < 4 + 2 + 1)
		return -ENOSPC;
	w = (struct sl_wr){ .p = buf, .cap = cap - 2 };	/* keep room for CRLF */
	r = sl_wr_code(&w, code, esc, sep);
	if (r < 0)
		return r;
	keep = w.len;
	for (i = 0; i < n_parts; i++)
		sl_wr_clean(&w, parts[i], strlen(parts[i]));
	sl_wr_end(&w, keep);
	/* No text: "250" / "421 4.7.0", not a trailing space. */
	if (w.len == keep && w.p[w.len - 1] == ' ')
		w.len--;
	memcpy(buf + w.len, "\r\n", 3);
	return (int)(w.len + 2);
}

int sl_smtp_format_reply(char *buf, size_t len, unsigned code, const char *esc,
			 const char *text)
{
	const char *parts[] = { text ? text : "" };

	return sl_format_line(buf, len, code, esc, ' ', parts, 1);
}

int sl_smtp_format_failure(char *buf, size_t len, unsigned code, const char *esc,
			   const char *domain, const char *reason)
{
	const char *parts[] = { "smtplock: ", domain ? domain : "", domain ? ": " : "",
				reason ? reason : "" };

	return sl_format_line(buf, len, code, esc, ' ', parts, 4);
}

int sl_smtp_format_failuref(char *buf, size_t len, unsigned code, const char *esc,
			    const char *domain, const char *fmt, ...)
{
	char reason[SL_SMTP_OUT_LINE_MAX * 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	return sl_smtp_format_failure(buf, len, code, esc, domain, reason);
}

int sl_smtp_format_multiline(char *buf, size_t len, unsigned code,
			     const char *const *lines, size_t n)
{
	char line[SL_SMTP_OUT_LINE_MAX + 1];
	size_t i, off = 0;
	int r;

	if (n == 0)
		return -EINVAL;
	if (len == 0)
		return -ENOSPC;
	for (i = 0; i < n; i++) {
		const char *parts[] = { lines[i] ? lines[i] : "" };

		r = sl_format_line(line, sizeof(line), code, NULL, i + 1 < n ? '-' : ' ',
				   parts, 1);
		if (r < 0)
			return r;
		if (off + (size_t)r + 1 > len)
			return -ENOSPC;
		memcpy(buf + off, line, (size_t)r + 1);
		off += (size_t)r;
	}
	return (int)off;
}

size_t sl_smtp_reply_summary(const struct sl_smtp_reply *r, char *buf, size_t len)
{
	struct sl_wr w = { .p = buf, .cap = len };
	char num[8];
	size_t i;

	if (len == 0)
		return 0;
	snprintf(num, sizeof(num), "%u", r->code);
	sl_wr_lit(&w, num);
	for (i = 0; i < r->n_lines; i++) {
		if (!r->lines[i][0])
			continue;
		sl_wr_lit(&w, i == 0 ? " " : " / ");
		sl_wr_clean(&w, r->lines[i], strlen(r->lines[i]));
	}
	return sl_wr_end(&w, 0);
}
