/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * smtp_ehlo.c — EHLO reply parsing and the outbound capability filter.
 *
 * The filter is where the local MTA learns what it may do through us: it
 * must never see STARTTLS (it would try TLS with us, and we hold TLS with
 * the partner) nor AUTH (we already logged in with our account), and it
 * must not get extensions that rewrite who the partner thinks is talking
 * (XCLIENT, XFORWARD).  See sl_ehlo_filter() in smtp.h for the list and why.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "sasl.h"
#include "smtp.h"

/* The parts of one capability line. */
struct sl_ehlo_line {
	const char *kw;
	size_t kw_len;
	const char *params;		/* after "KW " or "KW=", may be "" */
	size_t params_len;
};

static bool sl_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool sl_kw_is(const struct sl_ehlo_line *l, const char *name)
{
	return l->kw_len == strlen(name) && strncasecmp(l->kw, name, l->kw_len) == 0;
}

/*
 * RFC 5321 4.1.1.1: ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"),
 * params of printable non-space characters separated by SP.  "KW=params"
 * is accepted only for the legacy AUTH= and X-EXPS= forms.
 */
static bool sl_ehlo_line_split(const char *s, struct sl_ehlo_line *ret)
{
	size_t i = 0, n = strlen(s);

	if (n == 0 || !sl_alnum(s[0]))
		return false;
	while (i < n && (sl_alnum(s[i]) || s[i] == '-'))
		i++;
	ret->kw = s;
	ret->kw_len = i;
	if (i == n) {
		ret->params = s + n;
		ret->params_len = 0;
		return true;
	}
	if (s[i] == '=') {
		if (!sl_kw_is(ret, "AUTH") && !sl_kw_is(ret, "X-EXPS"))
			return false;
	} else if (s[i] != ' ') {
		return false;
	}
	ret->params = s + i + 1;
	ret->params_len = n - i - 1;
	for (i = 0; i < ret->params_len; i++) {
		unsigned char c = (unsigned char)ret->params[i];

		if (c != ' ' && (c < 33 || c > 126))
			return false;
	}
	return true;
}

static const struct {
	const char *kw;
	unsigned cap;
} sl_ehlo_caps[] = {
	{ "STARTTLS", SL_EHLO_STARTTLS },
	{ "AUTH", SL_EHLO_AUTH },
	{ "PIPELINING", SL_EHLO_PIPELINING },
	{ "SIZE", SL_EHLO_SIZE },
	{ "8BITMIME", SL_EHLO_8BITMIME },
	{ "SMTPUTF8", SL_EHLO_SMTPUTF8 },
	{ "CHUNKING", SL_EHLO_CHUNKING },
	{ "BINARYMIME", SL_EHLO_BINARYMIME },
	{ "ENHANCEDSTATUSCODES", SL_EHLO_ENHANCEDSTATUSCODES },
	{ "DSN", SL_EHLO_DSN },
	{ "REQUIRETLS", SL_EHLO_REQUIRETLS },
	{ "XCLIENT", SL_EHLO_XCLIENT },
	{ "XFORWARD", SL_EHLO_XFORWARD },
};

/* Never passed on to the local MTA (why: smtp.h, sl_ehlo_filter). */
static const char *const sl_ehlo_dropped[] = {
	"STARTTLS", "AUTH", "XCLIENT", "XFORWARD", "X-EXPS", "X-ANONYMOUSTLS",
};

static unsigned sl_ehlo_cap_of(const struct sl_ehlo_line *l)
{
	size_t i;

	for (i = 0; i < sizeof(sl_ehlo_caps) / sizeof(sl_ehlo_caps[0]); i++)
		if (sl_kw_is(l, sl_ehlo_caps[i].kw))
			return sl_ehlo_caps[i].cap;
	return 0;
}

/* SIZE's parameter: decimal, no overflow; anything else = no limit known. */
static uint64_t sl_ehlo_size(const char *s, size_t len)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 19)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	return v;
}

/* The first word of line 1 (the server's name), or "" . */
static size_t sl_ehlo_name(const struct sl_smtp_reply *r, const char **ret)
{
	const char *s = r->lines[0];
	size_t n = strcspn(s, " ");

	*ret = s;
	return n;
}

int sl_ehlo_parse(const struct sl_smtp_reply *r, struct sl_ehlo *ret)
{
	struct sl_ehlo_line l;
	const char *name;
	size_t i, n;

	memset(ret, 0, sizeof(*ret));
	if (r->code != 250 || r->n_lines < 1)
		return -SL_SMTP_E_NOT_EHLO;
	n = sl_ehlo_name(r, &name);
	sl_smtp_text_clean(ret->domain, sizeof(ret->domain), name, n);
	for (i = 1; i < r->n_lines; i++) {
		unsigned cap;

		if (!sl_ehlo_line_split(r->lines[i], &l))
			continue;
		ret->n_keywords++;
		cap = sl_ehlo_cap_of(&l);
		ret->caps |= cap;
		if (cap == SL_EHLO_AUTH)
			ret->auth_mechs |= sl_sasl_mechs_parse(l.params, l.params_len);
		else if (cap == SL_EHLO_SIZE)
			ret->size = sl_ehlo_size(l.params, l.params_len);
	}
	return 0;
}

/* A greeting name we can show: printable, no spaces, 1..255 bytes. */
static bool sl_ehlo_name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > SL_SMTP_DOMAIN_MAX - 1)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126)
			return false;
	return true;
}

/* Whether capability line s goes to the local MTA. */
static bool sl_ehlo_keep(const char *s)
{
	struct sl_ehlo_line l;
	size_t i;

	/* "250-" + line + CRLF must stay within what any MTA reads. */
	if (strlen(s) + 6 > SL_SMTP_OUT_LINE_MAX)
		return false;
	if (!sl_ehlo_line_split(s, &l))
		return false;
	for (i = 0; i < sizeof(sl_ehlo_dropped) / sizeof(sl_ehlo_dropped[0]); i++)
		if (sl_kw_is(&l, sl_ehlo_dropped[i]))
			return false;
	return true;
}

static int sl_ehlo_put(char *buf, size_t len, size_t *off, bool last, const char *s, size_t n)
{
	if (*off + 4 + n + 2 + 1 > len)
		return -ENOSPC;
	memcpy(buf + *off, last ? "250 " : "250-", 4);
	memcpy(buf + *off + 4, s, n);
	memcpy(buf + *off + 4 + n, "\r\n", 3);
	*off += 4 + n + 2;
	return 0;
}

int sl_ehlo_filter(const struct sl_smtp_reply *r, const char *name, char *buf, size_t len)
{
	size_t i, last = 0, off = 0, n;
	int ret;

	if (r->code != 250 || r->n_lines < 1)
		return -SL_SMTP_E_NOT_EHLO;
	if (name)
		n = strlen(name);
	else
		n = sl_ehlo_name(r, &name);
	if (!sl_ehlo_name_ok(name, n))
		return -EINVAL;
	for (i = 1; i < r->n_lines; i++)
		if (sl_ehlo_keep(r->lines[i]))
			last = i;
	ret = sl_ehlo_put(buf, len, &off, last == 0, name, n);
	for (i = 1; ret == 0 && i <= last; i++)
		if (sl_ehlo_keep(r->lines[i]))
			ret = sl_ehlo_put(buf, len, &off, i == last, r->lines[i],
					  strlen(r->lines[i]));
	return ret < 0 ? ret : (int)off;
}
