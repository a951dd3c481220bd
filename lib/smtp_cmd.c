/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * smtp_cmd.c — the inbound server's SMTP command parser.
 *
 * One table row per verb: its name, how its arguments are checked, and
 * its line limit (RFC 5321 4.5.3.1.4: 512 octets; AUTH, MAIL and RCPT get
 * SL_SMTP_AUTH_LINE_MAX because RFC 4954 and the MAIL/RCPT parameter
 * extensions raise theirs).  The parser classifies and validates; the
 * session decides what each verb may do in each state.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "sasl.h"
#include "smtp.h"

enum sl_cmd_args {
	SL_ARGS_NONE,		/* nothing may follow */
	SL_ARGS_ANY,		/* optional free text */
	SL_ARGS_SOME,		/* required free text */
	SL_ARGS_HELO,		/* domain or address literal */
	SL_ARGS_AUTH,		/* mechanism [initial-response] */
	SL_ARGS_MAIL,		/* "FROM:" … */
	SL_ARGS_RCPT,		/* "TO:" … */
	SL_ARGS_BDAT,		/* size [LAST] */
};

static const struct {
	const char *name;
	enum sl_cmd_args args;
	size_t max_line;
} sl_verbs[SL_SMTP_VERB_MAX] = {
	[SL_SMTP_UNKNOWN] = { "unknown", SL_ARGS_ANY, SL_SMTP_CMD_LINE_MAX },
	[SL_SMTP_EHLO] = { "EHLO", SL_ARGS_HELO, SL_SMTP_CMD_LINE_MAX },
	[SL_SMTP_HELO] = { "HELO", SL_ARGS_HELO, SL_SMTP_CMD_LINE_MAX },
	[SL_SMTP_STARTTLS] = { "STARTTLS", SL_ARGS_NONE, SL_SMTP_CMD_LINE_MAX },
	[SL_SMTP_AUTH] = { "AUTH", SL_ARGS_AUTH, SL_SMTP_AUTH_LINE_MAX },
	[SL_SMTP_MAIL] = { "MAIL", SL_ARGS_MAIL, SL_SMTP_AUTH_LINE_MAX },
	[SL_SMTP_RCPT] = { "RCPT", SL_ARGS_RCPT, SL_SMTP_AUTH_LINE_MAX },
	[SL_SMTP_DATA] = { "DATA", SL_ARGS_NONE, SL_SMTP_CMD_LINE_MAX },
	[SL_SMTP_BDAT] = { "BDAT", SL_ARGS_BDAT, SL_SMTP_CMD_LINE_MAX },
	[SL_SMTP_RSET] = { "RSET", SL_ARGS_NONE, SL_SMTP_CMD_LINE_MAX },
	[SL_SMTP_NOOP] = { "NOOP", SL_ARGS_ANY, SL_SMTP_CMD_LINE_MAX },
	[SL_SMTP_QUIT] = { "QUIT", SL_ARGS_NONE, SL_SMTP_CMD_LINE_MAX },
	[SL_SMTP_HELP] = { "HELP", SL_ARGS_ANY, SL_SMTP_CMD_LINE_MAX },
	[SL_SMTP_VRFY] = { "VRFY", SL_ARGS_SOME, SL_SMTP_CMD_LINE_MAX },
	[SL_SMTP_EXPN] = { "EXPN", SL_ARGS_SOME, SL_SMTP_CMD_LINE_MAX },
};

const char *sl_smtp_verb_name(enum sl_smtp_verb v)
{
	return (unsigned)v < SL_SMTP_VERB_MAX ? sl_verbs[v].name : "unknown";
}

static bool sl_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool sl_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Let-dig [Ldh-str], with '_' tolerated (real Windows host names). */
static bool sl_label_valid(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (i = 0; i < n; i++)
		if (!sl_alpha(s[i]) && !sl_digit(s[i]) && s[i] != '-' && s[i] != '_')
			return false;
	return true;
}

bool sl_smtp_domain_valid(const char *s, size_t len)
{
	size_t i = 0, j;

	if (len == 0 || len > 255)
		return false;
	while (i <= len) {
		for (j = i; j < len && s[j] != '.'; j++)
			;
		if (!sl_label_valid(s + i, j - i))
			return false;
		i = j + 1;
	}
	return true;
}

/* RFC 5321 4.1.3: [IPv4], [IPv6:…], [tag:dcontent]. */
bool sl_smtp_literal_valid(const char *s, size_t len)
{
	char tmp[64];
	unsigned char addr[16];
	const char *in, *colon;
	size_t n, i;

	if (len < 3 || s[0] != '[' || s[len - 1] != ']')
		return false;
	in = s + 1;
	n = len - 2;
	if (n >= 5 && strncasecmp(in, "IPv6:", 5) == 0) {
		if (n - 5 >= sizeof(tmp))
			return false;
		memcpy(tmp, in + 5, n - 5);
		tmp[n - 5] = '\0';
		return inet_pton(AF_INET6, tmp, addr) == 1;
	}
	colon = memchr(in, ':', n);
	if (!colon) {
		if (n >= sizeof(tmp))
			return false;
		memcpy(tmp, in, n);
		tmp[n] = '\0';
		return inet_pton(AF_INET, tmp, addr) == 1;
	}
	/* General-address-literal: Standardized-tag ":" 1*dcontent */
	if (!sl_label_valid(in, (size_t)(colon - in)) || colon == in + n - 1)
		return false;
	for (i = (size_t)(colon - in) + 1; i < n; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < 33 || c > 126 || c == '[' || c == '\\' || c == ']')
			return false;
	}
	return true;
}

static bool sl_prefix_ci(const char *s, size_t n, const char *prefix)
{
	size_t p = strlen(prefix);

	return n >= p && strncasecmp(s, prefix, p) == 0;
}

static int sl_parse_auth(struct sl_smtp_cmd *c)
{
	const char *s = c->args, *sp;
	size_t n = c->args_len, mlen, i;

	sp = memchr(s, ' ', n);
	mlen = sp ? (size_t)(sp - s) : n;
	if (mlen == 0 || mlen >= SL_SASL_MECH_NAME_MAX)
		return -SL_SMTP_E_SYNTAX;
	for (i = 0; i < mlen; i++) {
		char ch = s[i];

		if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		if (!(ch >= 'A' && ch <= 'Z') && !sl_digit(ch) && ch != '-' && ch != '_')
			return -SL_SMTP_E_SYNTAX;
		c->mech_name[i] = ch;
	}
	c->mech_name[mlen] = '\0';
	c->mech = sl_sasl_mech_from_name(c->mech_name, mlen);
	if (!sp)
		return 0;
	c->initial = sp + 1;
	c->initial_len = n - mlen - 1;
	if (c->initial_len == 0)
		return -SL_SMTP_E_SYNTAX;
	for (i = 0; i < c->initial_len; i++) {
		char ch = c->initial[i];

		if (!sl_alpha(ch) && !sl_digit(ch) && ch != '+' && ch != '/' && ch != '=')
			return -SL_SMTP_E_SYNTAX;	/* also a second argument */
	}
	return 0;
}

static int sl_parse_bdat(struct sl_smtp_cmd *c)
{
	const char *s = c->args;
	size_t n = c->args_len, i = 0;
	uint64_t v = 0;

	while (i < n && sl_digit(s[i])) {
		if (i >= 18)
			return -SL_SMTP_E_SYNTAX;	/* > 10^18 octets: no */
		v = v * 10 + (uint64_t)(s[i] - '0');
		i++;
	}
	if (i == 0)
		return -SL_SMTP_E_SYNTAX;
	c->bdat_size = v;
	if (i == n)
		return 0;
	if (n - i == 5 && s[i] == ' ' && strncasecmp(s + i + 1, "LAST", 4) == 0) {
		c->bdat_last = true;
		return 0;
	}
	return -SL_SMTP_E_SYNTAX;
}

static int sl_parse_args(struct sl_smtp_cmd *c)
{
	switch (sl_verbs[c->verb].args) {
	case SL_ARGS_NONE:
		return c->args_len == 0 ? 0 : -SL_SMTP_E_SYNTAX;
	case SL_ARGS_ANY:
		return 0;
	case SL_ARGS_SOME:
		return c->args_len > 0 ? 0 : -SL_SMTP_E_SYNTAX;
	case SL_ARGS_HELO:
		if (c->args_len > 0 && c->args[0] == '[') {
			c->literal = true;
			return sl_smtp_literal_valid(c->args, c->args_len) ? 0 : -SL_SMTP_E_SYNTAX;
		}
		return sl_smtp_domain_valid(c->args, c->args_len) ? 0 : -SL_SMTP_E_SYNTAX;
	case SL_ARGS_AUTH:
		return sl_parse_auth(c);
	case SL_ARGS_MAIL:
		return sl_prefix_ci(c->args, c->args_len, "FROM:") ? 0 : -SL_SMTP_E_SYNTAX;
	case SL_ARGS_RCPT:
		return sl_prefix_ci(c->args, c->args_len, "TO:") ? 0 : -SL_SMTP_E_SYNTAX;
	case SL_ARGS_BDAT:
		return sl_parse_bdat(c);
	}
	return -SL_SMTP_E_SYNTAX;
}

int sl_smtp_cmd_parse(const char *line, size_t len, struct sl_smtp_cmd *ret)
{
	struct sl_smtp_cmd c = { .verb = SL_SMTP_UNKNOWN };
	size_t vlen = 0, i;
	int v, r;

	if (len + 2 > SL_SMTP_AUTH_LINE_MAX)
		return -SL_SMTP_E_LINE_TOO_LONG;
	if (memchr(line, '\0', len))
		return -SL_SMTP_E_NUL;
	if (memchr(line, '\r', len) || memchr(line, '\n', len))
		return -SL_SMTP_E_BARE_CR;
	while (vlen < len && line[vlen] != ' ')
		vlen++;
	for (v = SL_SMTP_UNKNOWN + 1; v < SL_SMTP_VERB_MAX; v++)
		if (vlen == strlen(sl_verbs[v].name) &&
		    strncasecmp(line, sl_verbs[v].name, vlen) == 0)
			c.verb = (enum sl_smtp_verb)v;
	if (len + 2 > sl_verbs[c.verb].max_line)
		return -SL_SMTP_E_LINE_TOO_LONG;
	i = vlen;
	while (i < len && line[i] == ' ')
		i++;
	c.args = line + i;
	c.args_len = len - i;
	while (c.args_len > 0 && (c.args[c.args_len - 1] == ' ' || c.args[c.args_len - 1] == '\t'))
		c.args_len--;
	r = sl_parse_args(&c);
	*ret = c;
	return r;
}
