/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * smtp.c — SMTP line buffer and reply parser.
 *
 * Everything a peer controls is bounded here: line length (an error, never
 * a silent truncation), reply size and line count; malformed replies are
 * typed errors.  Formatting is smtp_text.c.  See smtp.h for the contracts.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"

static const char *const sl_smtp_err_names[] = {
	[SL_SMTP_E_LINE_TOO_LONG - SL_SMTP_E_BASE] = "line too long",
	[SL_SMTP_E_BARE_LF - SL_SMTP_E_BASE] = "bare LF in line",
	[SL_SMTP_E_BARE_CR - SL_SMTP_E_BASE] = "bare CR in line",
	[SL_SMTP_E_NUL - SL_SMTP_E_BASE] = "NUL byte in line",
	[SL_SMTP_E_BAD_CODE - SL_SMTP_E_BASE] = "malformed reply code",
	[SL_SMTP_E_BAD_SEPARATOR - SL_SMTP_E_BASE] = "malformed reply line (no separator after code)",
	[SL_SMTP_E_CODE_MISMATCH - SL_SMTP_E_BASE] = "reply code changes within a multi-line reply",
	[SL_SMTP_E_REPLY_TOO_BIG - SL_SMTP_E_BASE] = "reply too large",
	[SL_SMTP_E_TOO_MANY_LINES - SL_SMTP_E_BASE] = "reply has too many lines",
	[SL_SMTP_E_SYNTAX - SL_SMTP_E_BASE] = "syntax error in command arguments",
	[SL_SMTP_E_NOT_EHLO - SL_SMTP_E_BASE] = "EHLO not accepted (reply is not 250)",
};

const char *sl_smtp_strerror(int err)
{
	int e = err < 0 ? -err : err;

	if (e > SL_SMTP_E_BASE && e < SL_SMTP_E_MAX)
		return sl_smtp_err_names[e - SL_SMTP_E_BASE];
	if (e == 0)
		return "success";
	return strerror(e);
}

/* ---------------------------------------------------------------------- */
/* Line buffer                                                             */

int sl_smtp_linebuf_init(struct sl_smtp_linebuf *lb, size_t max_line, unsigned flags)
{
	size_t cap;

	memset(lb, 0, sizeof(*lb));
	if (max_line < 3 || max_line > (1u << 24) || (flags & ~SL_SMTP_LINE_BARE_LF))
		return -EINVAL;
	cap = 2 * max_line < 1024 ? 1024 : 2 * max_line;
	lb->buf = malloc(cap);
	if (!lb->buf)
		return -ENOMEM;
	lb->cap = cap;
	lb->max_line = max_line;
	lb->flags = flags;
	return 0;
}

void sl_smtp_linebuf_done(struct sl_smtp_linebuf *lb)
{
	free(lb->buf);
	memset(lb, 0, sizeof(*lb));
}

void sl_smtp_linebuf_reset(struct sl_smtp_linebuf *lb)
{
	lb->start = lb->len = 0;
	lb->discarding = false;
}

static void sl_linebuf_compact(struct sl_smtp_linebuf *lb)
{
	if (lb->start == 0)
		return;
	if (lb->start < lb->len)
		memmove(lb->buf, lb->buf + lb->start, lb->len - lb->start);
	lb->len -= lb->start;
	lb->start = 0;
}

size_t sl_smtp_linebuf_space(struct sl_smtp_linebuf *lb, char **ret)
{
	sl_linebuf_compact(lb);
	*ret = lb->buf + lb->len;
	return lb->cap - lb->len;
}

void sl_smtp_linebuf_commit(struct sl_smtp_linebuf *lb, size_t n)
{
	if (n > lb->cap - lb->len)	/* caller bug: never write past the space */
		n = lb->cap - lb->len;
	lb->len += n;
}

size_t sl_smtp_linebuf_feed(struct sl_smtp_linebuf *lb, const void *data, size_t len)
{
	char *p;
	size_t room = sl_smtp_linebuf_space(lb, &p);

	if (len > room)
		len = room;
	if (len)
		memcpy(p, data, len);
	lb->len += len;
	return len;
}

int sl_smtp_linebuf_next(struct sl_smtp_linebuf *lb, const char **line, size_t *len)
{
	char *s, *lf, *end;
	size_t avail, window;

	if (lb->discarding) {
		lf = memchr(lb->buf + lb->start, '\n', lb->len - lb->start);
		if (!lf) {
			lb->start = lb->len;
			return 0;
		}
		lb->start = (size_t)(lf - lb->buf) + 1;
		lb->discarding = false;
	}
	s = lb->buf + lb->start;
	avail = lb->len - lb->start;
	window = avail < lb->max_line ? avail : lb->max_line;
	lf = memchr(s, '\n', window);
	if (!lf) {
		if (avail < lb->max_line)
			return 0;
		/* max_line bytes and no line end: refuse, then resynchronise
		 * at the next LF so a server can answer and read on. */
		lb->start += lb->max_line;
		lb->discarding = true;
		return -SL_SMTP_E_LINE_TOO_LONG;
	}
	lb->start = (size_t)(lf - lb->buf) + 1;	/* the line is consumed either way */
	if (lf > s && lf[-1] == '\r') {
		end = lf - 1;
	} else {
		if (!(lb->flags & SL_SMTP_LINE_BARE_LF))
			return -SL_SMTP_E_BARE_LF;
		end = lf;
	}
	if (memchr(s, '\r', (size_t)(end - s)))
		return -SL_SMTP_E_BARE_CR;
	if (memchr(s, '\0', (size_t)(end - s)))
		return -SL_SMTP_E_NUL;
	*end = '\0';
	*line = s;
	*len = (size_t)(end - s);
	return 1;
}

size_t sl_smtp_linebuf_pending(const struct sl_smtp_linebuf *lb)
{
	return lb->len - lb->start;
}

size_t sl_smtp_linebuf_peek(const struct sl_smtp_linebuf *lb, const char **ret)
{
	*ret = lb->buf + lb->start;
	return lb->len - lb->start;
}

void sl_smtp_linebuf_consume(struct sl_smtp_linebuf *lb, size_t n)
{
	if (n > lb->len - lb->start)
		n = lb->len - lb->start;
	lb->start += n;
}

/* ---------------------------------------------------------------------- */
/* Replies                                                                 */

bool sl_smtp_code_valid(unsigned code)
{
	/* RFC 5321 4.2: first digit 2..5, second 0..5. */
	return code >= 200 && code <= 599 && (code / 10) % 10 <= 5;
}

static bool sl_isdigit(char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 3463: subject/detail = "0" / ("1"-"9" 0*2DIGIT). */
static size_t sl_esc_number(const char *s)
{
	size_t n = 0;

	while (n < 4 && sl_isdigit(s[n]))
		n++;
	if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
		return 0;
	return n;
}

size_t sl_smtp_esc_parse(unsigned code, const char *text, char esc[SL_SMTP_ESC_MAX])
{
	size_t n, i = 0;

	if (text[0] < '2' || text[0] > '5' || (unsigned)(text[0] - '0') != code / 100 ||
	    text[1] != '.')
		return 0;
	i = 2;
	if (!(n = sl_esc_number(text + i)))
		return 0;
	i += n;
	if (text[i] != '.')
		return 0;
	i++;
	if (!(n = sl_esc_number(text + i)))
		return 0;
	i += n;
	if (text[i] != '\0' && text[i] != ' ')
		return 0;
	if (esc) {
		memcpy(esc, text, i);
		esc[i] = '\0';
	}
	return i;
}

int sl_smtp_reply_parser_init(struct sl_smtp_reply_parser *p,
			      const struct sl_smtp_reply_limits *lim)
{
	int r;

	memset(p, 0, sizeof(*p));
	if (lim)
		p->lim = *lim;
	else
		p->lim.flags = SL_SMTP_LINE_BARE_LF;
	if (!p->lim.max_line)
		p->lim.max_line = SL_SMTP_REPLY_LINE_MAX;
	if (!p->lim.max_size)
		p->lim.max_size = SL_SMTP_REPLY_SIZE_MAX;
	if (!p->lim.max_lines)
		p->lim.max_lines = SL_SMTP_REPLY_LINES_MAX;
	if (p->lim.max_size < p->lim.max_line || p->lim.max_lines > 65536)
		return -EINVAL;
	r = sl_smtp_linebuf_init(&p->lb, p->lim.max_line, p->lim.flags);
	if (r < 0)
		return r;
	p->store = malloc(p->lim.max_size);
	p->lines = calloc(p->lim.max_lines, sizeof(*p->lines));
	if (!p->store || !p->lines) {
		sl_smtp_reply_parser_done(p);
		return -ENOMEM;
	}
	return 0;
}

void sl_smtp_reply_parser_done(struct sl_smtp_reply_parser *p)
{
	sl_smtp_linebuf_done(&p->lb);
	free(p->store);
	free(p->lines);
	memset(p, 0, sizeof(*p));
}

static void sl_reply_clear(struct sl_smtp_reply_parser *p)
{
	memset(&p->cur, 0, sizeof(p->cur));
	p->store_len = 0;
	p->in_reply = false;
	p->returned = false;
}

void sl_smtp_reply_parser_reset(struct sl_smtp_reply_parser *p)
{
	sl_smtp_linebuf_reset(&p->lb);
	sl_reply_clear(p);
	p->err = 0;
}

size_t sl_smtp_reply_parser_feed(struct sl_smtp_reply_parser *p, const void *data, size_t len)
{
	return sl_smtp_linebuf_feed(&p->lb, data, len);
}

size_t sl_smtp_reply_parser_space(struct sl_smtp_reply_parser *p, char **ret)
{
	return sl_smtp_linebuf_space(&p->lb, ret);
}

void sl_smtp_reply_parser_commit(struct sl_smtp_reply_parser *p, size_t n)
{
	sl_smtp_linebuf_commit(&p->lb, n);
}

/* One reply line into the reply being built: 1 = reply complete, 0 = more
 * lines follow, < 0 malformed. */
static int sl_reply_add_line(struct sl_smtp_reply_parser *p, const char *line, size_t len,
			     size_t raw)
{
	struct sl_smtp_reply *cur = &p->cur;
	const char *text;
	size_t text_len;
	unsigned code;
	bool last;

	if (len < 3 || !sl_isdigit(line[0]) || !sl_isdigit(line[1]) || !sl_isdigit(line[2]))
		return -SL_SMTP_E_BAD_CODE;
	code = (unsigned)(line[0] - '0') * 100 + (unsigned)(line[1] - '0') * 10 +
	       (unsigned)(line[2] - '0');
	if (!sl_smtp_code_valid(code))
		return -SL_SMTP_E_BAD_CODE;
	if (len == 3) {
		last = true;
	} else if (line[3] == ' ' || line[3] == '-') {
		last = line[3] == ' ';
	} else {
		return -SL_SMTP_E_BAD_SEPARATOR;
	}
	if (p->in_reply && code != cur->code)
		return -SL_SMTP_E_CODE_MISMATCH;
	if (cur->n_lines >= p->lim.max_lines)
		return -SL_SMTP_E_TOO_MANY_LINES;
	if (cur->size + raw > p->lim.max_size)
		return -SL_SMTP_E_REPLY_TOO_BIG;

	text = len > 3 ? line + 4 : "";
	text_len = len > 3 ? len - 4 : 0;
	/* store_len + text_len + 1 <= size + raw - 3 <= max_size */
	memcpy(p->store + p->store_len, text, text_len);
	p->store[p->store_len + text_len] = '\0';
	p->lines[cur->n_lines++] = p->store + p->store_len;
	p->store_len += text_len + 1;
	cur->size += raw;
	if (!p->in_reply) {
		cur->code = code;
		sl_smtp_esc_parse(code, text, cur->esc);
		p->in_reply = true;
	}
	if (!last)
		return 0;
	cur->lines = p->lines;
	p->in_reply = false;
	return 1;
}

int sl_smtp_reply_parser_next(struct sl_smtp_reply_parser *p, const struct sl_smtp_reply **ret)
{
	const char *line;
	size_t len;
	int r;

	if (p->err)
		return p->err;
	if (p->returned)
		sl_reply_clear(p);
	for (;;) {
		size_t before = p->lb.start;

		r = sl_smtp_linebuf_next(&p->lb, &line, &len);
		if (r == 0)
			return 0;
		/* next() only advances start: the difference is the line as
		 * received, line end included */
		if (r > 0)
			r = sl_reply_add_line(p, line, len, p->lb.start - before);
		if (r < 0) {
			p->err = r;
			return r;
		}
		if (r > 0) {
			p->returned = true;
			*ret = &p->cur;
			return 1;
		}
	}
}

size_t sl_smtp_reply_parser_pending(const struct sl_smtp_reply_parser *p)
{
	return sl_smtp_linebuf_pending(&p->lb) + (p->in_reply ? p->cur.size : 0);
}
