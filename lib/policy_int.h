/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policy_int.h — what the policy loader's files share (not a public API).
 *
 *   policy.c           load / free / find / count; files, drop-ins, hashing
 *   policy_yaml.c      the libyaml event reader and the table-driven schema
 *                      engine (mappings, lists, scalars, diagnostics)
 *   policy_schema.c    the schema v1 key tables
 *   policy_keys.c      value handlers: scalars, names, addresses, files
 *   policy_keys_tls.c  value handlers: pins, ciphers, SASL, crypt hashes
 *   policy_value.c     stand-alone value checks (public: domain, pin, hash)
 *   policy_dump.c      the canonical dump
 *   addr.c             addresses, prefixes, endpoints
 *   policy_validate.c  built-in defaults, the defaults → partner merge and
 *                      the checks that span several keys
 *
 * Parsing fills "raw" objects: the model's struct plus a ymeta recording
 * which keys were written and where, so the merge can tell "unset" from
 * "set to the default" and point every error at the token that caused it.
 * All memory of one load lives in one arena: the model is freed at once.
 */
#ifndef SL_POLICY_INT_H
#define SL_POLICY_INT_H

#include <stdarg.h>
#include <yaml.h>

#include "policy.h"

/* ---- arena ------------------------------------------------------------ */

struct sl_arena_chunk;
struct sl_arena {
	struct sl_arena_chunk *head;
};

void *sl_arena_alloc(struct sl_arena *a, size_t n);	/* zeroed, or NULL */
char *sl_arena_strdup(struct sl_arena *a, const char *s);
/* Grow an array of n elements of size sz by one; NULL on ENOMEM. */
void *sl_arena_push(struct sl_arena *a, void *v, size_t n, size_t sz);
void sl_arena_done(struct sl_arena *a);

/* ---- the loader's context ----------------------------------------------- */

struct ld_diag {
	unsigned fidx, seq;
	struct sl_diag d;
};

struct ld_file {
	const char *name;		/* as in diagnostics and sl_policy.files */
	const char *base;		/* absolute directory for relative paths */
	bool dropin;
	bool dead;			/* a YAML syntax error cut it short */
};

struct raw_root;
struct ld {
	struct sl_arena *a;
	struct ld_diag *diags;		/* malloc'd; at most SL_DIAG_MAX */
	size_t n_diags;
	size_t dropped;
	bool oom;
	struct ld_file *files;		/* arena */
	size_t n_files;
	struct raw_root *root;
	void *ssl_ctx;			/* SSL_CTX for cipher checks, lazily */
};

void ld_err(struct ld *ld, unsigned fidx, unsigned line, unsigned col,
	    enum sl_diag_class cls, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* ---- raw objects ------------------------------------------------------ */

#define YK_MAX 16

struct ymeta {
	bool present;			/* the mapping was written */
	unsigned fidx;
	uint32_t seen;			/* bit k: key k of the table was given */
	uint32_t bad;			/* bit k: ... and its value had errors */
	struct sl_pos start;		/* the mapping's first token */
	struct sl_pos key[YK_MAX];	/* each given key */
	struct sl_pos val[YK_MAX];	/* first token of each given value */
};

struct raw_tls {
	struct ymeta m;
	struct sl_tls_policy t;
};

struct raw_limits {
	struct ymeta m;
	unsigned max_sessions, max_per_source, timeout_ms;
};

struct raw_controller {
	struct ymeta m;
	struct sl_controller c;
	struct raw_limits limits;
};

struct raw_defaults {
	struct ymeta m;
	struct sl_defaults d;
	struct raw_tls tls;
};

struct raw_auth {
	struct ymeta m;
	struct sl_auth_policy a;
};

struct raw_account {
	struct ymeta m;
	struct sl_account a;
};

struct raw_pinbound {			/* partners[].inbound */
	struct ymeta m;
	struct sl_inbound_policy in;
	struct raw_account **accounts;
	size_t n_accounts;
	struct sl_pos require_pos[3];	/* each require item, by bit */
};

struct raw_partner {
	struct ymeta m;
	struct sl_partner p;
	struct raw_tls tls;
	struct raw_auth auth;
	struct raw_pinbound in;
};

struct raw_ginbound {			/* the top-level inbound: */
	struct ymeta m;
	struct sl_inbound_global g;
};

struct raw_root {
	struct ymeta m;
	unsigned version;
	struct raw_controller ctl;
	struct raw_defaults defs;
	struct raw_ginbound in;
	struct raw_partner **partners;
	size_t n_partners;
};

/* Key indexes, used by the merge to ask "was it written, and where". */
enum { RK_VERSION, RK_CONTROLLER, RK_DEFAULTS, RK_PARTNERS, RK_INBOUND };
enum { CK_HOSTNAME, CK_LISTEN, CK_CGROUP, CK_PIN_PATH, CK_CONTROL_SOCKET,
       CK_USER, CK_GROUP, CK_LIMITS };
enum { LK_MAX_SESSIONS, LK_MAX_PER_SOURCE, LK_TIMEOUT };
enum { DK_MODE, DK_PORTS, DK_ON_FAILURE, DK_TLS };
enum { TK_MIN_VERSION, TK_VERIFY, TK_CA_FILE, TK_FINGERPRINTS, TK_CLIENT_CERT,
       TK_CLIENT_KEY, TK_CIPHERS, TK_CIPHERSUITES, TK_KTLS };
enum { PK_DOMAIN, PK_DIRECTION, PK_MODE, PK_PORTS, PK_ON_FAILURE, PK_MX,
       PK_ADDRESSES, PK_TLS, PK_AUTH, PK_INBOUND };
enum { AK_USERNAME, AK_PASSWORD_FILE, AK_MECHANISMS };
enum { IK_SOURCES, IK_REQUIRE, IK_MIN_VERSION, IK_ACCOUNTS, IK_CLIENT_CA_FILE,
       IK_FINGERPRINTS };
enum { UK_USERNAME, UK_PASSWORD_HASH };
enum { GK_LISTEN, GK_BACKEND, GK_ANNOUNCE, GK_CERT, GK_KEY, GK_PORT };

#define YSEEN(obj, k) (((obj)->m.seen >> (k)) & 1u)
#define YBAD(obj, k) (((obj)->m.bad >> (k)) & 1u)

/* ---- the YAML reader and schema engine (policy_yaml.c) ------------------ */

struct yp {
	struct ld *ld;
	unsigned fidx;
	yaml_parser_t parser;
	const char *buf;
	size_t len;
	bool dead;			/* a syntax error ended this file */
};

struct ykey;
typedef void (*yhandler)(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj);

#define YK_REQUIRED	(1u << 0)

struct ykey {
	const char *name;
	yhandler fn;
	size_t off, off2;		/* fields of obj the handler fills */
	const void *aux;		/* enum names, a sub-table, bounds ... */
	unsigned flags;
};

struct ytable {
	const char *where;		/* for messages: "partners[].tls" */
	const struct ykey *keys;	/* the key at index k has bit k */
	size_t n;
};

struct yenum {
	const char *name;
	unsigned val;
};

struct yrange {
	unsigned long min, max;
};

bool yp_next(struct yp *y, yaml_event_t *ev);
void yp_skip(struct yp *y, const yaml_event_t *ev);
struct sl_pos yp_pos(const struct yp *y, const yaml_event_t *ev);
void yp_err(struct yp *y, const yaml_event_t *ev, enum sl_diag_class cls,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void yp_err_at(struct yp *y, struct sl_pos pos, enum sl_diag_class cls,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
bool yp_is_null(const yaml_event_t *ev);

/* A non-null scalar's text, or a TYPE error (and the value skipped). */
const char *yp_scalar(struct yp *y, const yaml_event_t *ev, const char *what);
/* An unsigned integer (plain scalar) within r, or an error. */
bool yp_uint(struct yp *y, const yaml_event_t *ev, const char *what,
	     const struct yrange *r, unsigned long *ret);
/* Map a scalar onto a name table, or a VALUE error listing the names. */
bool yp_enum(struct yp *y, const yaml_event_t *ev, const char *what,
	     const struct yenum *names, unsigned *ret);

/* Walk a mapping against a table: unknown, duplicate and missing keys are
 * reported here; a null value counts as an empty mapping. */
void yp_map(struct yp *y, yaml_event_t *ev, const struct ytable *t, void *obj);
/* Walk a list, calling item() for each element; null = empty list.
 * Returns false when the value was not a list. */
typedef void (*yitem)(struct yp *y, yaml_event_t *ev, size_t idx, void *ctx);
bool yp_seq(struct yp *y, yaml_event_t *ev, const char *what, yitem item, void *ctx);

/* Parse one file (one YAML document): root() gets its top node. */
void yp_file(struct ld *ld, unsigned fidx, const char *buf, size_t len,
	     yitem root, void *ctx);

/* ---- value handlers (policy_keys.c) --------------------------------------- */

#define FLD(T, obj, off) ((T *)(void *)((char *)(obj) + (off)))

void *yp_push(struct yp *y, void *v, size_t n, size_t sz);	/* sl_arena_push */
char *yp_strdup(struct yp *y, const char *s);
/* A DNS name, normalised (sl_domain_normalize), or an error and NULL. */
char *yp_domain(struct yp *y, yaml_event_t *ev, const char *what);

extern const struct yrange yr_sessions;

/* The context of a list handler's items. */
struct ylist {
	void *obj;
	const struct ykey *k;
	size_t n;			/* items seen, valid or not */
	bool *mx;			/* addresses: the "mx" keyword is allowed */
};

/* off/off2 are the fields filled; aux as noted. */
void yh_str(struct yp *, yaml_event_t *, const struct ykey *, void *);	 /* char * */
void yh_enum(struct yp *, yaml_event_t *, const struct ykey *, void *);	 /* aux: yenum[] */
void yh_uint(struct yp *, yaml_event_t *, const struct ykey *, void *);	 /* aux: yrange */
void yh_port(struct yp *, yaml_event_t *, const struct ykey *, void *);	 /* uint16_t */
void yh_version(struct yp *, yaml_event_t *, const struct ykey *, void *);
void yh_tlsver(struct yp *, yaml_event_t *, const struct ykey *, void *); /* uint16_t */
void yh_timeout(struct yp *, yaml_event_t *, const struct ykey *, void *);/* unsigned ms */
void yh_hostname(struct yp *, yaml_event_t *, const struct ykey *, void *);
void yh_hosts(struct yp *, yaml_event_t *, const struct ykey *, void *);	 /* char **, n */
void yh_prefixes(struct yp *, yaml_event_t *, const struct ykey *, void *);/* sl_prefix *, n */
void yh_sources(struct yp *, yaml_event_t *, const struct ykey *, void *); /* raw_pinbound */
void yh_endpoint(struct yp *, yaml_event_t *, const struct ykey *, void *);
void yh_endpoints(struct yp *, yaml_event_t *, const struct ykey *, void *);/* array, n */
void yh_ports(struct yp *, yaml_event_t *, const struct ykey *, void *);	 /* array, n */
void yh_file(struct yp *, yaml_event_t *, const struct ykey *, void *);	 /* readable */
void yh_secret(struct yp *, yaml_event_t *, const struct ykey *, void *); /* mode 600 */
void yh_abspath(struct yp *, yaml_event_t *, const struct ykey *, void *);/* aux: "auto" ok */
void yh_pins(struct yp *, yaml_event_t *, const struct ykey *, void *);	 /* sl_pin *, n */
void yh_ciphers(struct yp *, yaml_event_t *, const struct ykey *, void *);
void yh_ciphersuites(struct yp *, yaml_event_t *, const struct ykey *, void *);
void yh_mechs(struct yp *, yaml_event_t *, const struct ykey *, void *);	 /* raw_auth */
void yh_hash(struct yp *, yaml_event_t *, const struct ykey *, void *);	 /* crypt(3) */
void yh_require(struct yp *, yaml_event_t *, const struct ykey *, void *);/* raw_pinbound */

/* ---- schema (policy_schema.c) -------------------------------------------- */

/* The main file's top mapping, into a struct raw_root. */
void sl_schema_main(struct yp *y, yaml_event_t *ev, size_t idx, void *root);
/* One partner mapping: an item of partners[], or a whole drop-in file. */
void sl_schema_partner(struct yp *y, yaml_event_t *ev, size_t idx, void *root);

/* ---- merge and cross-key checks (policy_validate.c) ----------------------- */

/* Fill p (whose arena is ld->a) from ld->root; errors go to ld. */
void sl_policy_build(struct ld *ld, struct sl_policy *p);

#endif /* SL_POLICY_INT_H */
