/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * sasl.h — SMTP AUTH (RFC 4954) mechanisms, both sides, no I/O.
 *
 * Client (outbound, our account at a partner): PLAIN (RFC 4616), LOGIN,
 * SCRAM-SHA-256 (RFC 5802 / RFC 7677, without channel binding: "n,,").
 * The SCRAM client VERIFIES the server signature: a 235 before a valid
 * "v=" is a failure, so a server that does not know the password (a
 * man in the middle) cannot pass.  SASLprep: only its ASCII subset is
 * implemented — for printable ASCII SASLprep is the identity (RFC 4013:
 * no ASCII character is mapped; ASCII controls are prohibited), so ASCII
 * control characters and any non-ASCII byte in a SCRAM username or
 * password are refused with -SL_SASL_E_SASLPREP instead of being hashed
 * in a form the server might compute differently.  PLAIN and LOGIN send
 * UTF-8 as is.  The PBKDF2 of SCRAM runs inside sl_sasl_client_step():
 * the iteration count is bounded (SL_SCRAM_ITER_MIN..MAX), so a hostile
 * server can neither weaken the exchange nor stall the caller for long.
 *
 * Server (inbound, a partner logging in to us): PLAIN and LOGIN decoded
 * into (authzid, username, password), each at most 255 octets; SCRAM is
 * not served (accounts are stored as crypt(3) hashes, which SCRAM cannot
 * use).  sl_sasl_verify_crypt() checks a password against a crypt(3) hash
 * (yescrypt, SHA-512-crypt, …); it blocks (~160 ms for yescrypt) and is
 * thread-safe, for a worker thread.
 *
 * Secrets are copied in, and wiped (OPENSSL_cleanse) when no longer
 * needed and when the object is freed.  Lines produced for the wire carry
 * encoded secrets: the caller wipes its out buffer after sending.
 *
 * Returns: >= 0 success, -errno, or -SL_SASL_E_* (sl_sasl_strerror()).
 */
#ifndef SL_SASL_H
#define SL_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"		/* enum sl_sasl_mech */
#include "smtp.h"

#define SL_SASL_MASK(m)		(1u << (m))	/* a set of enum sl_sasl_mech */
#define SL_SASL_FIELD_MAX	255	/* octets: authzid, username, password */
#define SL_SASL_LINE_MAX	SL_SMTP_AUTH_LINE_MAX	/* enough for any line we build */

#define SL_SCRAM_ITER_MIN	4096	/* RFC 7677 5: at least 4096 */
#define SL_SCRAM_ITER_MAX	100000	/* PBKDF2 cost we accept from a server */
#define SL_SCRAM_SALT_MAX	128	/* decoded salt bytes */
#define SL_SCRAM_NONCE_MAX	256	/* whole nonce (ours + server's) */
#define SL_SCRAM_MSG_MAX	1024	/* a decoded server message */
#define SL_SCRAM_KEY_LEN	32	/* SHA-256 */

enum sl_sasl_err {
	SL_SASL_E_BASE = 4352,		/* above errno and SL_SMTP_E_* */
	SL_SASL_E_REJECTED,		/* the server answered 4xx/5xx */
	SL_SASL_E_PROTO,		/* unexpected reply or malformed message */
	SL_SASL_E_BASE64,		/* not strict base64 */
	SL_SASL_E_TOO_LONG,		/* a field over SL_SASL_FIELD_MAX */
	SL_SASL_E_CREDS,		/* malformed credentials (PLAIN layout, empty user) */
	SL_SASL_E_SASLPREP,		/* SCRAM: non-ASCII or control character */
	SL_SASL_E_NONCE,		/* SCRAM: server nonce does not extend ours */
	SL_SASL_E_ITER,			/* SCRAM: iteration count out of bounds */
	SL_SASL_E_EXTENSION,		/* SCRAM: mandatory extension (m=) */
	SL_SASL_E_SERVER_ERROR,		/* SCRAM: server-final "e=…" */
	SL_SASL_E_SERVER_SIG,		/* SCRAM: server signature wrong: not the real server */
	SL_SASL_E_NO_SERVER_SIG,	/* SCRAM: 235 without a verified server signature */
	SL_SASL_E_CANCELLED,		/* the client sent "*" */
	SL_SASL_E_MECH,			/* mechanism not supported */
	SL_SASL_E_MAX
};

/* Name of any return value of this module (falls back to smtp/errno). */
const char *sl_sasl_strerror(int err);

/* ---------------------------------------------------------------------- */
/* Mechanisms                                                              */

const char *sl_sasl_mech_name(enum sl_sasl_mech m);	/* "SCRAM-SHA-256"; NULL if unknown */
/* Case-insensitive; returns the mechanism or 0 for one we do not know. */
int sl_sasl_mech_from_name(const char *name, size_t len);
/* A space-separated list ("PLAIN LOGIN CRAM-MD5") to a SL_SASL_MASK set. */
unsigned sl_sasl_mechs_parse(const char *list, size_t len);

/*
 * The strongest mechanism that the partner offers and the policy allows,
 * in our fixed order SCRAM-SHA-256 > PLAIN > LOGIN (the policy's list is a
 * set: its order cannot make us pick a weaker mechanism).  Returns the
 * mechanism or -ENOENT when there is none in common.
 */
int sl_sasl_choose(unsigned offered, const enum sl_sasl_mech *allowed, size_t n_allowed);

/* ---------------------------------------------------------------------- */
/* Base64 (strict: RFC 4648 alphabet, padded, no whitespace)               */

/* Returns the encoded length (NUL-terminated) or -ENOSPC. */
int sl_sasl_b64_encode(const void *in, size_t inlen, char *out, size_t outcap);
/* Returns the decoded length or -SL_SASL_E_BASE64 / -ENOSPC. */
int sl_sasl_b64_decode(const char *in, size_t inlen, unsigned char *out, size_t outcap);

/* ---------------------------------------------------------------------- */
/* Client                                                                  */

struct sl_sasl_client;

/*
 * A client for one AUTH exchange.  username 1..255 octets, password
 * 0..255 octets (both copied); SCRAM additionally requires printable
 * ASCII (-SL_SASL_E_SASLPREP).  Returns 0 and *ret, or -errno/-SL_SASL_E_*.
 */
int sl_sasl_client_new(enum sl_sasl_mech mech, const char *username, const char *password,
		       struct sl_sasl_client **ret);
struct sl_sasl_client *sl_sasl_client_free(struct sl_sasl_client *c);	/* wipes; NULL */

/* Tests only: the SCRAM client nonce to use instead of a random one
 * (printable ASCII but ',', 1..64 bytes).  Before _start(). */
int sl_sasl_client_set_nonce(struct sl_sasl_client *c, const char *nonce);

/*
 * The AUTH command: "AUTH PLAIN <ir>\r\n", "AUTH LOGIN\r\n",
 * "AUTH SCRAM-SHA-256 <client-first>\r\n".  Returns its length
 * (NUL-terminated in out) or -ENOSPC / -EINVAL (called twice).
 */
int sl_sasl_client_start(struct sl_sasl_client *c, char *out, size_t outlen);

/*
 * Feed the server's reply to what was last sent.  Returns
 *   > 0   the length of the next line to send, in out (a 334 was answered);
 *   0     authenticated (235; for SCRAM after the server proved itself);
 *   < 0   -SL_SASL_E_REJECTED (4xx/5xx: quote the reply to the MTA),
 *         -SL_SASL_E_SERVER_SIG / _NO_SERVER_SIG (treat as an attack),
 *         -SL_SASL_E_PROTO, _BASE64, _NONCE, _ITER, _EXTENSION,
 *         _SERVER_ERROR, -ENOSPC, -ENOMEM.
 * After 0 or an error the exchange is over; further calls return -EINVAL.
 */
int sl_sasl_client_step(struct sl_sasl_client *c, const struct sl_smtp_reply *reply,
			char *out, size_t outlen);

/* ---------------------------------------------------------------------- */
/* SCRAM messages (exposed for tests and fuzzing)                          */

struct sl_scram_server_first {
	const char *nonce;		/* into the message */
	size_t nonce_len;
	unsigned char salt[SL_SCRAM_SALT_MAX];
	size_t salt_len;
	unsigned iter;
};

/*
 * Parse "r=<nonce>,s=<salt>,i=<count>[,ext…]": the nonce must extend
 * client_nonce by at least one printable character; the salt is 1..128
 * bytes of strict base64; the count is within SL_SCRAM_ITER_MIN..MAX.
 * A leading "m=" is -SL_SASL_E_EXTENSION.
 */
int sl_scram_parse_server_first(const char *msg, size_t len, const char *client_nonce,
				struct sl_scram_server_first *ret);

/* Parse "v=<base64 signature>[,ext…]" into sig; "e=…" is
 * -SL_SASL_E_SERVER_ERROR. */
int sl_scram_parse_server_final(const char *msg, size_t len,
				unsigned char sig[SL_SCRAM_KEY_LEN]);

/* ---------------------------------------------------------------------- */
/* Server                                                                  */

struct sl_sasl_creds {
	char authzid[SL_SASL_FIELD_MAX + 1];
	char username[SL_SASL_FIELD_MAX + 1];
	char password[SL_SASL_FIELD_MAX + 1];
};

void sl_sasl_creds_clear(struct sl_sasl_creds *c);	/* wipes */

/*
 * Decode a PLAIN response (base64 of authzid NUL username NUL password):
 * each field at most 255 octets and free of NUL, username and password
 * non-empty.  "=" (empty) is -SL_SASL_E_CREDS.  On error *ret is wiped.
 */
int sl_sasl_plain_decode(const char *b64, size_t len, struct sl_sasl_creds *ret);

struct sl_sasl_server {
	int mech;			/* enum sl_sasl_mech */
	int state;			/* internal */
	struct sl_sasl_creds creds;	/* valid once a call returned 0 */
};

void sl_sasl_server_init(struct sl_sasl_server *s);
void sl_sasl_server_done(struct sl_sasl_server *s);	/* wipes */

/*
 * Start from a parsed AUTH command (cmd->verb == SL_SMTP_AUTH).  Returns
 *   > 0   length of a "334 <challenge>\r\n" line written to out;
 *   0     credentials complete in s->creds (PLAIN with initial response);
 *   < 0   -SL_SASL_E_MECH (answer 504 5.5.4), -SL_SASL_E_BASE64 /
 *         _CREDS / _TOO_LONG (501 5.5.2), -ENOSPC.
 */
int sl_sasl_server_start(struct sl_sasl_server *s, const struct sl_smtp_cmd *cmd,
			 char *out, size_t outlen);
/*
 * The client's response line (without CRLF) to our last 334.  Returns as
 * _start(); "*" is -SL_SASL_E_CANCELLED (answer 501 5.0.0).
 */
int sl_sasl_server_step(struct sl_sasl_server *s, const char *line, size_t len,
			char *out, size_t outlen);

/*
 * Check password against a crypt(3) hash, in constant time over the hash
 * string.  hash NULL: run a dummy yescrypt check and fail, so an unknown
 * account costs the same time as a wrong password.  Thread-safe (crypt_rn
 * with per-call state), blocking.  Returns 0 (match), -EACCES (no match),
 * -EINVAL (hash unusable: "*", "!", unknown method) or -ENOMEM.
 */
int sl_sasl_verify_crypt(const char *password, const char *hash);

/*
 * A new crypt(3) hash of password: prefix "$y$" (yescrypt), "$6$"
 * (SHA-512-crypt), …; count 0 = the method's default.  For `smtplock
 * passwd` and tests.  Returns 0 or -EINVAL / -ENOSPC / -errno.
 */
int sl_sasl_hash_password(const char *password, const char *prefix, unsigned long count,
			  char *out, size_t outlen);

#endif /* SL_SASL_H */
