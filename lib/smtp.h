/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * smtp.h — the SMTP codec: pure functions over bytes, no sockets, no I/O.
 *
 *   line buffer     bytes in, complete lines out; a hard line-length limit
 *                   reported as an error (never truncated); knows whether
 *                   bytes remain buffered after a line (the STARTTLS
 *                   pipelining check, CVE-2011-0411 class).
 *   reply parser    incremental, multi-line, limits on line length, total
 *                   size and line count; malformed input is a typed error.
 *   EHLO            capability parsing, and the filter that turns the
 *                   partner's post-TLS EHLO reply into what the local MTA
 *                   is told (smtp_ehlo.c).
 *   commands        the inbound server's command parser (smtp_cmd.c).
 *   formatting      reply builders that make peer text safe, and a
 *                   printable() for logging peer text.
 *
 * Conventions: functions return >= 0 on success, -errno for system-level
 * failures (-ENOMEM, -EINVAL for a bad argument, -ENOSPC for a too small
 * output buffer) and -SL_SMTP_E_* (below) for malformed peer input.
 * sl_smtp_strerror() names both.  Nothing here prints or logs.
 *
 * Line-ending policy (decided here, once):
 *   - CRLF is the line end everywhere.
 *   - A bare LF (LF not preceded by CR) is accepted only when the buffer
 *     was set up with SL_SMTP_LINE_BARE_LF: for replies from MTAs and for
 *     commands from the LOCAL MTA (a script with `nc` sends bare LF, and
 *     the local side is trusted as much as the host itself).  Commands
 *     from remote peers (the inbound server) are read without the flag, so
 *     a bare LF is -SL_SMTP_E_BARE_LF: ambiguous line ends are what SMTP
 *     smuggling is built from, and a conforming MTA never sends one.
 *   - A CR not followed by LF inside a line, and a NUL byte anywhere, are
 *     always errors: command and reply lines are text without either.
 */
#ifndef SL_SMTP_H
#define SL_SMTP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 5321 4.5.3.1: sizes include the trailing CRLF. */
#define SL_SMTP_CMD_LINE_MAX	512	/* command line */
#define SL_SMTP_REPLY_LINE_RFC	512	/* reply line, as the RFC says */
#define SL_SMTP_TEXT_LINE_MAX	1000	/* text line */
/* RFC 4954 4: an AUTH command line (with its initial response) may be
 * longer; our credentials are bounded (255 octets each), so 2048 is ample. */
#define SL_SMTP_AUTH_LINE_MAX	2048

/*
 * Defaults of the reply parser.  Real servers send reply lines longer than
 * the RFC's 512 (long 5xx texts with URLs), so replies are read with the
 * text-line limit; a whole reply is bounded in size and in lines.
 */
#define SL_SMTP_REPLY_LINE_MAX	SL_SMTP_TEXT_LINE_MAX
#define SL_SMTP_REPLY_SIZE_MAX	16384
#define SL_SMTP_REPLY_LINES_MAX	64

/* What we send: every reply line we build is at most this long (CRLF
 * included), so any MTA accepts it. */
#define SL_SMTP_OUT_LINE_MAX	SL_SMTP_REPLY_LINE_RFC

#define SL_SMTP_ESC_MAX		16	/* "5.999.999" + NUL, with room */
#define SL_SMTP_DOMAIN_MAX	256	/* 255 + NUL */

/* Errors for malformed peer input, returned negated (-SL_SMTP_E_…).
 * They start above any errno value so the two never collide. */
enum sl_smtp_err {
	SL_SMTP_E_BASE = 4096,
	SL_SMTP_E_LINE_TOO_LONG,	/* no line end within the limit */
	SL_SMTP_E_BARE_LF,		/* LF without CR (buffer without _BARE_LF) */
	SL_SMTP_E_BARE_CR,		/* CR not followed by LF */
	SL_SMTP_E_NUL,			/* NUL byte in a line */
	SL_SMTP_E_BAD_CODE,		/* reply code not 3 digits in 2xx..5xx */
	SL_SMTP_E_BAD_SEPARATOR,	/* reply code followed by neither SP, '-' nor end */
	SL_SMTP_E_CODE_MISMATCH,	/* multi-line reply changes its code */
	SL_SMTP_E_REPLY_TOO_BIG,	/* reply larger than its size limit */
	SL_SMTP_E_TOO_MANY_LINES,	/* reply with more lines than allowed */
	SL_SMTP_E_SYNTAX,		/* command arguments malformed (501) */
	SL_SMTP_E_NOT_EHLO,		/* EHLO parse of a reply that is not 250 */
	SL_SMTP_E_MAX
};

/* Name of a return value: "-SL_SMTP_E_*" or "-errno" ("line too long"). */
const char *sl_smtp_strerror(int err);

/* ---------------------------------------------------------------------- */
/* Line buffer                                                             */

#define SL_SMTP_LINE_BARE_LF	(1u << 0)	/* accept LF alone as a line end */

struct sl_smtp_linebuf {
	char *buf;
	size_t cap;		/* allocated */
	size_t start;		/* first unconsumed byte */
	size_t len;		/* end of buffered data */
	size_t max_line;	/* limit, line end included */
	unsigned flags;		/* SL_SMTP_LINE_* */
	bool discarding;	/* after LINE_TOO_LONG: skip through the next LF */
};

/*
 * Set up a buffer for lines of at most max_line bytes, line end included
 * (>= 3).  It holds 2 × max_line bytes (at least 1024), so a pipelining
 * peer can have several short lines buffered.  Returns 0 or -ENOMEM/-EINVAL.
 */
int sl_smtp_linebuf_init(struct sl_smtp_linebuf *lb, size_t max_line, unsigned flags);
void sl_smtp_linebuf_done(struct sl_smtp_linebuf *lb);	/* takes a zeroed lb too */
/* Forget everything buffered (e.g. across STARTTLS). */
void sl_smtp_linebuf_reset(struct sl_smtp_linebuf *lb);

/*
 * Copy bytes in.  Returns how many were taken (<= len): fewer when the
 * buffer is full, which happens only while complete lines wait to be taken
 * with _next() — call it, then feed the rest.
 */
size_t sl_smtp_linebuf_feed(struct sl_smtp_linebuf *lb, const void *data, size_t len);

/* Zero-copy alternative to _feed(): a place to read() into, then commit. */
size_t sl_smtp_linebuf_space(struct sl_smtp_linebuf *lb, char **ret);
void sl_smtp_linebuf_commit(struct sl_smtp_linebuf *lb, size_t n);

/*
 * Take the next complete line.  Returns 1 and the line without its line
 * end in *line and *len (NUL-terminated in place, valid until the next call on
 * lb), 0 when no complete line is buffered, or a negative error:
 *   -SL_SMTP_E_LINE_TOO_LONG  max_line bytes without a line end; the
 *                             buffer then drops bytes through the next LF,
 *                             so a server may answer 500 and go on;
 *   -SL_SMTP_E_BARE_LF, -SL_SMTP_E_BARE_CR, -SL_SMTP_E_NUL
 *                             the offending line is consumed.
 */
int sl_smtp_linebuf_next(struct sl_smtp_linebuf *lb, const char **line, size_t *len);

/*
 * Bytes buffered beyond the lines taken so far.  Non-zero right after a
 * STARTTLS command (server) or the 220 reply to it (client) means the peer
 * pipelined plaintext across the TLS switch: refuse the session.
 */
size_t sl_smtp_linebuf_pending(const struct sl_smtp_linebuf *lb);
/* Look at / drop the pending bytes (to relay what a peer pipelined after
 * the command we parsed, once that is allowed). */
size_t sl_smtp_linebuf_peek(const struct sl_smtp_linebuf *lb, const char **ret);
void sl_smtp_linebuf_consume(struct sl_smtp_linebuf *lb, size_t n);

/* ---------------------------------------------------------------------- */
/* Replies                                                                 */

struct sl_smtp_reply {
	unsigned code;			/* 200..599 */
	char esc[SL_SMTP_ESC_MAX];	/* enhanced status of line 1 ("4.7.0"), or "" */
	size_t n_lines;			/* >= 1 */
	const char **lines;		/* text after "NNN-" / "NNN ", NUL-terminated */
	size_t size;			/* bytes received, line ends included */
};

struct sl_smtp_reply_limits {
	size_t max_line;		/* 0 = SL_SMTP_REPLY_LINE_MAX */
	size_t max_size;		/* 0 = SL_SMTP_REPLY_SIZE_MAX */
	unsigned max_lines;		/* 0 = SL_SMTP_REPLY_LINES_MAX */
	unsigned flags;			/* SL_SMTP_LINE_*; replies: BARE_LF is usual */
};

struct sl_smtp_reply_parser {
	struct sl_smtp_linebuf lb;
	struct sl_smtp_reply_limits lim;
	char *store;			/* line texts, NUL-separated */
	size_t store_len;
	const char **lines;		/* max_lines entries into store */
	struct sl_smtp_reply cur;
	bool in_reply;			/* lines of an incomplete reply are held */
	bool returned;			/* cur was handed out: reset before reuse */
	int err;			/* sticky: a malformed reply ends parsing */
};

/* lim may be NULL (defaults, with SL_SMTP_LINE_BARE_LF). */
int sl_smtp_reply_parser_init(struct sl_smtp_reply_parser *p,
			      const struct sl_smtp_reply_limits *lim);
void sl_smtp_reply_parser_done(struct sl_smtp_reply_parser *p);
/* Drop all state, buffered bytes and a sticky error (after STARTTLS). */
void sl_smtp_reply_parser_reset(struct sl_smtp_reply_parser *p);

/* As sl_smtp_linebuf_feed/_space/_commit. */
size_t sl_smtp_reply_parser_feed(struct sl_smtp_reply_parser *p, const void *data, size_t len);
size_t sl_smtp_reply_parser_space(struct sl_smtp_reply_parser *p, char **ret);
void sl_smtp_reply_parser_commit(struct sl_smtp_reply_parser *p, size_t n);

/*
 * Take the next complete reply: 1 and *ret (valid until the next call on
 * p), 0 when more bytes are needed, or a negative error, which is sticky:
 * every later call returns it again (a malformed reply ends the session).
 *
 * Non-blocking use:
 *	while (len > 0) {
 *		n = sl_smtp_reply_parser_feed(p, data, len); data += n; len -= n;
 *		while ((r = sl_smtp_reply_parser_next(p, &reply)) > 0)
 *			handle(reply);
 *		if (r < 0) fail(r);
 *	}
 */
int sl_smtp_reply_parser_next(struct sl_smtp_reply_parser *p, const struct sl_smtp_reply **ret);

/* Bytes received but not yet part of a returned reply (buffered bytes and
 * the lines of an incomplete reply).  See sl_smtp_linebuf_pending(). */
size_t sl_smtp_reply_parser_pending(const struct sl_smtp_reply_parser *p);

/*
 * Parse a reply line's enhanced status code (RFC 3463) at the start of
 * text, "class.subject.detail" followed by SP or the end; class must match
 * the first digit of code.  Returns its length (copied to esc, NUL-ended)
 * or 0 when there is none.  esc may be NULL.
 */
size_t sl_smtp_esc_parse(unsigned code, const char *text, char esc[SL_SMTP_ESC_MAX]);

/*
 * A one-line, printable summary of a reply for messages and logs:
 * "535 5.7.8 Error: authentication failed" (lines joined with " / ").
 * Always NUL-terminates; returns the length written.
 */
size_t sl_smtp_reply_summary(const struct sl_smtp_reply *r, char *buf, size_t len);

/* ---------------------------------------------------------------------- */
/* EHLO (smtp_ehlo.c)                                                       */

enum sl_ehlo_cap {
	SL_EHLO_STARTTLS		= 1u << 0,
	SL_EHLO_AUTH			= 1u << 1,
	SL_EHLO_PIPELINING		= 1u << 2,
	SL_EHLO_SIZE			= 1u << 3,
	SL_EHLO_8BITMIME		= 1u << 4,
	SL_EHLO_SMTPUTF8		= 1u << 5,
	SL_EHLO_CHUNKING		= 1u << 6,
	SL_EHLO_BINARYMIME		= 1u << 7,
	SL_EHLO_ENHANCEDSTATUSCODES	= 1u << 8,
	SL_EHLO_DSN			= 1u << 9,
	SL_EHLO_REQUIRETLS		= 1u << 10,
	SL_EHLO_XCLIENT			= 1u << 11,
	SL_EHLO_XFORWARD		= 1u << 12,
};

struct sl_ehlo {
	char domain[SL_SMTP_DOMAIN_MAX];	/* first word of line 1, printable */
	unsigned caps;				/* SL_EHLO_* */
	unsigned auth_mechs;			/* SL_SASL_MASK(enum sl_sasl_mech) bits */
	uint64_t size;				/* SIZE parameter; 0 = none/unlimited */
	size_t n_keywords;			/* well-formed keyword lines */
};

/*
 * Parse a 250 reply to EHLO.  Keyword lines that do not follow RFC 5321's
 * ehlo-line syntax are ignored (and dropped by the filter).  AUTH is read
 * from "AUTH m1 m2" and the legacy "AUTH=m1 m2".  Returns 0, or
 * -SL_SMTP_E_NOT_EHLO when the reply is not a 250.
 */
int sl_ehlo_parse(const struct sl_smtp_reply *r, struct sl_ehlo *ret);

/*
 * The outbound capability filter: from the partner's post-TLS EHLO reply,
 * the 250 reply the local MTA gets (CRLF line ends), written to buf:
 *
 *	250-<name>
 *	250-<each kept keyword line>
 *	250 <last kept keyword line>
 *
 * Dropped: STARTTLS (TLS toward the partner is ours; the local leg is on
 * this host), AUTH and AUTH= (we authenticate; the local MTA must not try),
 * XCLIENT and XFORWARD (they let the client rewrite the identity the
 * partner records for the session, which is our authenticated account:
 * the local MTA must not be able to speak for anyone else through it, and
 * Postfix grants them per client address, which is ours, not the MTA's),
 * the Exchange variants X-EXPS (more AUTH) and X-ANONYMOUSTLS (more
 * STARTTLS), and lines that are not well-formed keyword lines or would be
 * longer than SL_SMTP_OUT_LINE_MAX.  Everything else is kept as the
 * partner wrote it (SIZE, PIPELINING, 8BITMIME, SMTPUTF8, CHUNKING,
 * BINARYMIME, ENHANCEDSTATUSCODES, DSN, REQUIRETLS, unknown extensions:
 * the partner, not us, enforces what they mean).
 *
 * name: the greeting name to show (a domain or address literal, printable,
 * no spaces, <= 255 bytes), or NULL for the partner's own (r's line 1).
 * Returns the length written (NUL-terminated), -SL_SMTP_E_NOT_EHLO,
 * -EINVAL for a bad name, or -ENOSPC.
 */
int sl_ehlo_filter(const struct sl_smtp_reply *r, const char *name, char *buf, size_t len);

/* ---------------------------------------------------------------------- */
/* Commands (smtp_cmd.c)                                                    */

enum sl_smtp_verb {
	SL_SMTP_UNKNOWN = 0,
	SL_SMTP_EHLO,
	SL_SMTP_HELO,
	SL_SMTP_STARTTLS,
	SL_SMTP_AUTH,
	SL_SMTP_MAIL,
	SL_SMTP_RCPT,
	SL_SMTP_DATA,
	SL_SMTP_BDAT,
	SL_SMTP_RSET,
	SL_SMTP_NOOP,
	SL_SMTP_QUIT,
	SL_SMTP_HELP,
	SL_SMTP_VRFY,
	SL_SMTP_EXPN,
	SL_SMTP_VERB_MAX
};

#define SL_SASL_MECH_NAME_MAX	21	/* RFC 4422: 1..20 characters + NUL */

struct sl_smtp_cmd {
	enum sl_smtp_verb verb;
	const char *args;		/* after the verb and spaces; into the line */
	size_t args_len;		/* trailing spaces excluded */
	/* EHLO / HELO */
	bool literal;			/* args is an address literal "[…]" */
	/* AUTH */
	int mech;			/* enum sl_sasl_mech, 0 = one we do not know */
	char mech_name[SL_SASL_MECH_NAME_MAX];	/* upper case */
	const char *initial;		/* initial response, or NULL; "=" = empty */
	size_t initial_len;
	/* BDAT */
	uint64_t bdat_size;
	bool bdat_last;
};

/*
 * Parse one command line (without its line end).  Verbs are
 * case-insensitive; an unrecognised verb is SL_SMTP_UNKNOWN and not an
 * error (the server answers 500).  Returns 0 with *ret filled, or
 *   -SL_SMTP_E_LINE_TOO_LONG  over SL_SMTP_CMD_LINE_MAX (AUTH:
 *                             SL_SMTP_AUTH_LINE_MAX), counting a CRLF;
 *   -SL_SMTP_E_SYNTAX         arguments malformed (501), with ret->verb set;
 *   -SL_SMTP_E_NUL / _BARE_CR control bytes in the line.
 * Arguments checked: EHLO/HELO a domain (letters, digits, '-', '_'; labels
 * of 1..63, at most 255) or an address literal ([IPv4], [IPv6:…] checked
 * with inet_pton, [tag:text]) and nothing else; STARTTLS, DATA, RSET,
 * QUIT none; AUTH a mechanism name and an optional base64 (or "=")
 * initial response; MAIL "FROM:", RCPT "TO:"; BDAT a size and optional
 * LAST; VRFY/EXPN something.  ret's pointers point into line.
 */
int sl_smtp_cmd_parse(const char *line, size_t len, struct sl_smtp_cmd *ret);

const char *sl_smtp_verb_name(enum sl_smtp_verb v);	/* "EHLO", "unknown" */

/* ---------------------------------------------------------------------- */
/* Formatting                                                              */

/*
 * Peer text for a log: printable ASCII is copied, except '\\' and '"'
 * (escaped), CR LF TAB become \r \n \t, any other byte \xHH.  Output is
 * NUL-terminated and cut (with "...") rather than overflowing; escapes are
 * never split.  Returns the length written.
 */
size_t sl_smtp_printable(char *dst, size_t dstlen, const void *src, size_t srclen);

/*
 * Peer text for a reply we send: CR, LF and TAB become one space (runs
 * collapsed), other control and non-ASCII bytes '?'.  Bounded by dstlen;
 * returns the length written.
 */
size_t sl_smtp_text_clean(char *dst, size_t dstlen, const void *src, size_t srclen);

/*
 * "CODE[ ESC] TEXT\r\n": code 200..599, esc NULL/"" or a status code whose
 * class matches the code, text cleaned (above).  The line is cut to
 * SL_SMTP_OUT_LINE_MAX (and to len) with "...".  Returns the length
 * written (NUL-terminated) or -EINVAL / -ENOSPC (len too small for the
 * code and status).
 */
int sl_smtp_format_reply(char *buf, size_t len, unsigned code, const char *esc,
			 const char *text);

/*
 * The failure reply of the contract: "421 4.7.0 smtplock: <domain>: <reason>".
 * domain may be NULL ("smtplock: <reason>"); both are cleaned.
 */
int sl_smtp_format_failure(char *buf, size_t len, unsigned code, const char *esc,
			   const char *domain, const char *reason);
int sl_smtp_format_failuref(char *buf, size_t len, unsigned code, const char *esc,
			    const char *domain, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/*
 * A multi-line reply "CODE-l1\r\n … CODE ln\r\n" (n >= 1), each line
 * cleaned and cut to SL_SMTP_OUT_LINE_MAX.  -ENOSPC rather than a partial
 * reply.
 */
int sl_smtp_format_multiline(char *buf, size_t len, unsigned code,
			     const char *const *lines, size_t n);

/* Helpers shared by the codec files. */
bool sl_smtp_code_valid(unsigned code);
bool sl_smtp_domain_valid(const char *s, size_t len);
bool sl_smtp_literal_valid(const char *s, size_t len);

#endif /* SL_SMTP_H */
