/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policy.h — the policy model (schema v1) and its loader.
 *
 * The YAML policy (main file plus one partner per file in policies.d/ next
 * to it) is parsed once into an immutable struct sl_policy:
 *
 *	load → lookup → free
 *
 * Reload builds a whole new model and swaps one pointer; nothing ever
 * mutates a loaded policy.  Defaults are merged into every partner at load
 * time, so a consumer reads a partner's effective settings directly.
 *
 * Validation reports every problem (up to SL_DIAG_MAX), each with
 * FILE:LINE:COL pointing at the offending token; a policy with any error
 * is never returned.
 *
 * Decisions the schema leaves open (reference: man/smtplock-policy.5):
 *  - min_version is "1.2" or "1.3"; the plain YAML floats 1.2/1.3 read the
 *    same (their text is compared, so 1.20 is an error); quoting is advised.
 *  - integers (version, ports, limits) must be plain scalars: "25" is not 25.
 *  - a prefix with bits set beyond its length (192.0.2.1/24) is an error,
 *    and so is a /0.
 *  - relative paths, in the main file and in drop-ins, are relative to the
 *    main file's directory and are stored absolute; every named file must
 *    exist; password_file must not be accessible by group/other.
 *  - built-in defaults: direction outbound, verify ca with no built-in
 *    ca_file (an outbound verify-ca partner without one is an error),
 *    min_version 1.2, ktls preferred, announce none, mechanisms
 *    SCRAM-SHA-256, PLAIN, LOGIN; inbound.min_version defaults to the
 *    effective defaults.tls.min_version; inbound.require always has TLS.
 *  - null (an empty value) is an empty list or mapping where one is due.
 */
#ifndef SL_POLICY_H
#define SL_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "smtplock.h"

#define SL_DIAG_MAX		64	/* errors collected before giving up */
#define SL_PIN_LEN		32	/* SHA-256 */
#define SL_POLICY_DEFAULT_LISTEN "127.0.0.1:10025"

/* Further built-in defaults (extension; see smtplock-policy(5)). */
#define SL_POLICY_DEFAULT_CONTROL	"/run/smtplock/control"
#define SL_POLICY_DEFAULT_MAX_SESSIONS	1000
#define SL_POLICY_DEFAULT_MAX_PER_SOURCE 100
#define SL_POLICY_DEFAULT_TIMEOUT_MS	300000	/* 300 s */
#define SL_POLICY_DEFAULT_INBOUND_PORT	25
#define SL_POLICY_DROPIN_DIR		"policies.d"	/* next to the main file */
#define SL_POLICY_MAX_BYTES		(1 << 20)	/* per file */
#define SL_POLICY_MAX_LISTEN		4	/* controller.listen entries */
#define SL_PIN_TEXT_LEN			(7 + 2 * SL_PIN_LEN + 1) /* "sha256:" hex NUL */

enum sl_tls_version {
	SL_TLS_1_2 = 0x0303,
	SL_TLS_1_3 = 0x0304,
};

enum sl_verify_mode {
	SL_VERIFY_NONE = 0,		/* encrypt only */
	SL_VERIFY_CA = 1,		/* chain to ca_file + host name = MX name */
	SL_VERIFY_FINGERPRINT = 2,	/* SHA-256 of cert or SPKI in pins */
	SL_VERIFY_DANE = 3,		/* TLSA via DNSSEC-validated answers */
};

enum sl_on_failure {
	SL_FAIL_DEFER = 0,		/* 4xx: mail stays queued */
	SL_FAIL_REJECT = 1,		/* 5xx: mail bounces */
};

enum sl_ktls_mode {
	SL_KTLS_PREFERRED = 0,		/* kernel TLS when the kernel offers it */
	SL_KTLS_REQUIRED = 1,		/* no kTLS = session fails */
	SL_KTLS_OFF = 2,		/* always the userspace relay */
};

enum sl_announce {
	SL_ANNOUNCE_NONE = 0,
	SL_ANNOUNCE_PROXY_V1 = 1,
	SL_ANNOUNCE_PROXY_V2 = 2,
	SL_ANNOUNCE_XCLIENT = 3,
};

/* partners[].inbound.require: a bit set. */
#define SL_REQUIRE_TLS		(1u << 0)
#define SL_REQUIRE_AUTH		(1u << 1)
#define SL_REQUIRE_CLIENT_CERT	(1u << 2)

/* partners[].auth.mechanisms: a set; the strongest offered is used,
 * SCRAM-SHA-256 > PLAIN > LOGIN (sl_sasl_choose). */
enum sl_sasl_mech {
	SL_SASL_SCRAM_SHA_256 = 1,
	SL_SASL_PLAIN = 2,
	SL_SASL_LOGIN = 3,
};

/* Where something was written: for errors and `domain remove`. */
struct sl_pos {
	const char *file;		/* points into sl_policy.files[] */
	unsigned line, col;		/* 1-based */
};

/* An address or prefix.  IPv4 is stored IPv4-mapped (::ffff:a.b.c.d)
 * with plen = 96 + IPv4 prefix length, exactly like the BPF LPM key. */
struct sl_prefix {
	int family;			/* AF_INET or AF_INET6 (as written) */
	uint8_t addr[16];
	uint8_t plen;			/* 0..128 in the mapped space */
};

struct sl_endpoint {
	int family;			/* AF_INET or AF_INET6 */
	uint8_t addr[16];		/* IPv4-mapped for AF_INET */
	uint16_t port;
};

struct sl_pin {
	uint8_t sha256[SL_PIN_LEN];	/* of the DER certificate or its SPKI */
};

struct sl_tls_policy {
	uint16_t min_version;		/* enum sl_tls_version */
	enum sl_verify_mode verify;
	char *ca_file;			/* verify: ca (and chain for dane-ta) */
	struct sl_pin *pins;		/* verify: fingerprint */
	size_t n_pins;
	char *client_cert, *client_key;	/* optional mutual TLS */
	char *ciphers;			/* optional, TLS <= 1.2 (OpenSSL syntax) */
	char *ciphersuites;		/* optional, TLS 1.3 (OpenSSL syntax) */
	enum sl_ktls_mode ktls;
};

struct sl_auth_policy {
	char *username;
	char *password_file;		/* absolute path; mode 0600 or 0400 */
	enum sl_sasl_mech mechanisms[3];/* allowed (a set) */
	size_t n_mechanisms;
};

struct sl_account {
	char *username;
	char *password_hash;		/* crypt(3): $y$, $6$, $5$, $2b$ … */
};

struct sl_inbound_policy {
	struct sl_prefix *sources;
	size_t n_sources;
	bool sources_mx;		/* "mx" keyword: the partner's MX addresses */
	unsigned require;		/* SL_REQUIRE_* */
	uint16_t min_version;
	struct sl_account *accounts;
	size_t n_accounts;
	char *client_ca_file;
	struct sl_pin *client_pins;	/* optional pins of the client cert */
	size_t n_client_pins;
};

struct sl_partner {
	char *domain;			/* lower-case A-labels, no trailing dot */
	enum sl_direction direction;
	enum sl_mode mode;
	enum sl_on_failure on_failure;
	uint16_t ports[SL_MAX_PORTS];
	size_t n_ports;
	char **mx;			/* optional: skip the MX lookup */
	size_t n_mx;
	struct sl_prefix *addresses;	/* optional fixed addresses/prefixes */
	size_t n_addresses;
	struct sl_tls_policy tls;	/* defaults.tls merged in */
	bool has_auth;
	struct sl_auth_policy auth;
	bool has_inbound;
	struct sl_inbound_policy inbound;
	struct sl_pos pos;		/* the "domain:" key */
	bool dropin;			/* defined in policies.d/ */
};

struct sl_controller {
	char *hostname;			/* EHLO name toward partners */
	struct sl_endpoint listen[4];
	size_t n_listen;
	char *cgroup;			/* "auto" or a cgroup v2 directory */
	char *pin_path;			/* default SL_PIN_DEFAULT */
	char *control_socket;		/* default /run/smtplock/control */
	char *user;			/* drop to this user; NULL = stay root */
	char *group;			/* may read status; NULL = root only */
	unsigned max_sessions;		/* global cap */
	unsigned max_sessions_per_source;
	unsigned timeout_ms;		/* per SMTP state */
};

struct sl_defaults {
	enum sl_mode mode;
	uint16_t ports[SL_MAX_PORTS];
	size_t n_ports;
	enum sl_on_failure on_failure;
	struct sl_tls_policy tls;
};

struct sl_inbound_global {
	bool present;
	struct sl_endpoint listen;
	struct sl_endpoint backend;
	enum sl_announce announce;
	char *cert, *key;
	uint16_t port;			/* local SMTP port steered; default 25 */
};

struct sl_policy {
	char *path;			/* the main file as given */
	char **files;			/* every file read, main file first */
	size_t n_files;
	uint8_t sha256[32];		/* over the contents of files[] in order */
	unsigned version;
	struct sl_controller controller;
	struct sl_defaults defaults;
	struct sl_partner *partners;	/* in file order: main, then drop-ins */
	size_t n_partners;
	struct sl_inbound_global inbound;
};

/* Error classes: tests assert on these, messages may change. */
enum sl_diag_class {
	SL_DIAG_SYNTAX = 1,		/* not YAML, or not the expected shape */
	SL_DIAG_UNKNOWN_KEY,
	SL_DIAG_TYPE,			/* scalar where a list is due, … */
	SL_DIAG_MISSING,		/* a required key is absent */
	SL_DIAG_VALUE,			/* a value outside its domain */
	SL_DIAG_DUPLICATE,		/* a key or domain given twice */
	SL_DIAG_FILE,			/* I/O, permissions */
};

struct sl_diag {
	char *file;
	unsigned line, col;		/* 1-based; 0 = whole file */
	enum sl_diag_class cls;
	char *msg;
};

struct sl_diags {
	struct sl_diag *v;
	size_t n;
	size_t dropped;			/* errors beyond SL_DIAG_MAX */
};

/*
 * Load and validate the policy at path (and path's directory/policies.d/).
 * Returns 0 and *ret, or -EINVAL (validation errors in *diags) or another
 * -errno; *ret is untouched on failure.  diags may be NULL; otherwise it
 * must be zero-initialised (or have been through sl_diags_done): its old
 * content is freed and it receives every error, sorted by file (main file
 * first, then drop-ins in order) and position.  When the main file cannot
 * be read the -errno is returned and diags also holds one SL_DIAG_FILE
 * entry for it (line 0).
 */
int sl_policy_load(const char *path, struct sl_policy **ret, struct sl_diags *diags);

/*
 * The same, validating a change before it is made (`domain add|remove`):
 * extra_name/extra_text add a drop-in that is not on disk yet (the name is
 * used in diagnostics, e.g. "policies.d/ntsol.com.yaml"); skip_file leaves
 * out one existing drop-in (a path as it appears in sl_policy.files, or
 * any path to the same file).  The extra drop-in takes the place of the
 * on-disk drop-in with the same basename, if any (an edit), else its
 * sorted place; its basename must end in ".yaml" (else -EINVAL).
 */
struct sl_policy_opts {
	const char *extra_name;
	const char *extra_text;
	const char *skip_file;
};
int sl_policy_load_opts(const char *path, const struct sl_policy_opts *opts,
			struct sl_policy **ret, struct sl_diags *diags);

struct sl_policy *sl_policy_free(struct sl_policy *p);	/* returns NULL */

const struct sl_partner *sl_policy_find(const struct sl_policy *p, const char *domain);

/* Counts for `policy check`. */
void sl_policy_count(const struct sl_policy *p, size_t *outbound, size_t *inbound);

/* A canonical, stable text dump of the effective model (golden tests). */
void sl_policy_dump(const struct sl_policy *p, FILE *f);

/* "FILE:LINE:COL: error: message" lines, one per diag. */
void sl_diags_print(const struct sl_diags *d, FILE *f);
void sl_diags_done(struct sl_diags *d);
const char *sl_diag_class_name(enum sl_diag_class c);

/* Names, for logs and dumps. */
const char *sl_verify_name(enum sl_verify_mode v);
const char *sl_tls_version_name(uint16_t v);	/* "TLSv1.2" */
const char *sl_direction_name(enum sl_direction d);
const char *sl_mode_name(enum sl_mode m);

/* Read a partner's password file (trailing newline stripped).  Returns
 * 0 and a malloc'd string in *ret, or -errno: -EPERM when the file is
 * accessible by group or other, -EINVAL when it is empty, holds a NUL or
 * is longer than 1024 bytes. */
int sl_policy_read_secret(const char *path, char **ret);

/* Extension: more names, for dumps and the CLI. */
const char *sl_on_failure_name(enum sl_on_failure f);	/* "defer" */
const char *sl_ktls_name(enum sl_ktls_mode k);		/* "preferred" */
const char *sl_announce_name(enum sl_announce a);	/* "proxy-v2" */

/*
 * Extension: the value checks of the loader, for the CLI (`domain add`).
 *
 * sl_domain_normalize: a DNS name of LDH labels (1-63 octets, total <= 253,
 * A-labels "xn--..." accepted), lower-cased, one trailing dot dropped, into
 * out (>= SL_DOMAIN_MAX).  -EILSEQ for non-ASCII (a U-label: use the
 * A-label), -EINVAL otherwise malformed, -ENAMETOOLONG for length.
 *
 * sl_pin_parse: "sha256:" (any case) + 64 hex digits, optionally as 32
 * colon-separated pairs.  sl_pin_format writes "sha256:<64 lower hex>"
 * into buf (>= SL_PIN_TEXT_LEN).
 *
 * sl_crypt_hash_check: a crypt(3) hash we can verify later without ever
 * calling crypt() here: libxcrypt's crypt_checksalt() plus the shape of
 * the hash for $y$ (yescrypt), $6$/$5$ (SHA-crypt) and $2b$/$2y$
 * (bcrypt).  0, -EINVAL malformed, -EPROTONOSUPPORT another or a legacy
 * method (DES, MD5, ...).
 */
int sl_domain_normalize(const char *in, char *out, size_t len);
int sl_pin_parse(const char *s, struct sl_pin *ret);
void sl_pin_format(const struct sl_pin *pin, char *buf, size_t len);
int sl_crypt_hash_check(const char *hash);

/* Prefix helpers shared with the map sync and the CLI.
 * sl_prefix_parse: "ADDR" or "ADDR/LEN"; -EINVAL malformed, -ERANGE a
 * length beyond the family's, -EDOM bits set beyond the prefix length
 * ("192.0.2.1/24": write 192.0.2.0/24).  sl_endpoint_parse: "ADDR:PORT"
 * or "[ADDR6]:PORT", port 1-65535; -EINVAL otherwise. */
int sl_prefix_parse(const char *s, struct sl_prefix *ret);
int sl_endpoint_parse(const char *s, struct sl_endpoint *ret);
/* "192.0.2.0/24", "2001:db8::/64", "192.0.2.10" (plen full = no suffix). */
void sl_prefix_format(const struct sl_prefix *p, char *buf, size_t len);
void sl_endpoint_format(const struct sl_endpoint *e, char *buf, size_t len);

#endif /* SL_POLICY_H */
