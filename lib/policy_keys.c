/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policy_keys.c — the value handlers of the schema's keys.
 *
 * A handler gets the first event of one key's value, checks it where it
 * stands (type, range, syntax, the file it names) and stores it in the raw
 * object at the offset its table row gives (policy_schema.c).  Every error
 * names the key and points at the offending token; a bad value is reported
 * and left unset, and the walk goes on.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy_int.h"

#define ARENA(y) ((y)->ld->a)

/* Enums are stored through an unsigned; they must have its size. */
_Static_assert(sizeof(enum sl_mode) == sizeof(unsigned), "enum size");
_Static_assert(sizeof(enum sl_verify_mode) == sizeof(unsigned), "enum size");
_Static_assert(sizeof(enum sl_direction) == sizeof(unsigned), "enum size");
_Static_assert(sizeof(enum sl_on_failure) == sizeof(unsigned), "enum size");
_Static_assert(sizeof(enum sl_ktls_mode) == sizeof(unsigned), "enum size");
_Static_assert(sizeof(enum sl_announce) == sizeof(unsigned), "enum size");

void *yp_push(struct yp *y, void *v, size_t n, size_t sz)
{
	void *r = sl_arena_push(ARENA(y), v, n, sz);

	if (!r)
		y->ld->oom = true;
	return r;
}

char *yp_strdup(struct yp *y, const char *s)
{
	char *r = sl_arena_strdup(ARENA(y), s);

	if (!r)
		y->ld->oom = true;
	return r;
}

/* ---- simple values ------------------------------------------------------------ */

void yh_str(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	const char *s = yp_scalar(y, ev, k->name);

	if (!s)
		return;
	if (!*s) {
		yp_err(y, ev, SL_DIAG_VALUE, "%s: must not be empty", k->name);
		return;
	}
	*FLD(char *, obj, k->off) = yp_strdup(y, s);
}

void yh_enum(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	unsigned v;

	if (yp_enum(y, ev, k->name, k->aux, &v))
		memcpy(FLD(unsigned, obj, k->off), &v, sizeof(v));
}

void yh_uint(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	unsigned long v;

	if (yp_uint(y, ev, k->name, k->aux, &v))
		*FLD(unsigned, obj, k->off) = (unsigned)v;
}

static const struct yrange r_port = { 1, 65535 };
const struct yrange yr_sessions = { 1, 1000000 };

void yh_port(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	unsigned long v;

	if (yp_uint(y, ev, k->name, &r_port, &v))
		*FLD(uint16_t, obj, k->off) = (uint16_t)v;
}

void yh_version(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	static const struct yrange any = { 0, UINT_MAX };
	unsigned long v;

	if (!yp_uint(y, ev, k->name, &any, &v))
		return;
	if (v != 1)
		yp_err(y, ev, SL_DIAG_VALUE,
		       "version: unsupported policy version %lu (this smtplock reads version 1)", v);
	*FLD(unsigned, obj, k->off) = (unsigned)v;
}

/* TLS version: "1.2" or "1.3"; the plain YAML float 1.2 reads the same. */
static bool yp_tlsver(struct yp *y, yaml_event_t *ev, const char *what, uint16_t *ret)
{
	const char *s = yp_scalar(y, ev, what);

	if (!s)
		return false;
	if (!strcmp(s, "1.2")) {
		*ret = SL_TLS_1_2;
	} else if (!strcmp(s, "1.3")) {
		*ret = SL_TLS_1_3;
	} else if (!strcmp(s, "1.0") || !strcmp(s, "1.1") || !strcmp(s, "1")) {
		yp_err(y, ev, SL_DIAG_VALUE, "%s: TLS %s is not allowed (write \"1.2\" or \"1.3\")",
		       what, s);
		return false;
	} else {
		yp_err(y, ev, SL_DIAG_VALUE, "%s: invalid value '%s' (expected \"1.2\" or \"1.3\")",
		       what, s);
		return false;
	}
	return true;
}

void yh_tlsver(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	uint16_t v;

	if (yp_tlsver(y, ev, k->name, &v))
		*FLD(uint16_t, obj, k->off) = v;
}

/* Timeout: an integer of seconds, or a number with ms, s or m. */
void yh_timeout(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	const char *s = yp_scalar(y, ev, k->name);
	unsigned long v = 0, mult = 1000;
	const char *p;

	if (!s)
		return;
	for (p = s; *p >= '0' && *p <= '9' && v < 100000000ul; p++)
		v = v * 10 + (unsigned long)(*p - '0');
	if (p == s || (*p >= '0' && *p <= '9'))
		goto bad;
	if (!strcmp(p, "ms"))
		mult = 1;
	else if (!strcmp(p, "m"))
		mult = 60000;
	else if (*p && strcmp(p, "s"))
		goto bad;
	v *= mult;
	if (v < 1000 || v > 3600000) {
		yp_err(y, ev, SL_DIAG_VALUE, "%s: %s is out of range (1s-3600s)", k->name, s);
		return;
	}
	*FLD(unsigned, obj, k->off) = (unsigned)v;
	return;
bad:
	yp_err(y, ev, SL_DIAG_VALUE,
	       "%s: invalid duration '%s' (seconds, or a number with ms, s or m)", k->name, s);
}

/* ---- names and addresses ------------------------------------------------------- */

char *yp_domain(struct yp *y, yaml_event_t *ev, const char *what)
{
	const char *s = yp_scalar(y, ev, what);
	char out[SL_DOMAIN_MAX];
	int err;

	if (!s)
		return NULL;
	err = sl_domain_normalize(s, out, sizeof(out));
	if (err == -EILSEQ)
		yp_err(y, ev, SL_DIAG_VALUE,
		       "%s: '%s' is not ASCII: write its IDNA A-label (xn--...), e.g. from `idn2`",
		       what, s);
	else if (err == -ENAMETOOLONG)
		yp_err(y, ev, SL_DIAG_VALUE,
		       "%s: '%s' is too long (labels of at most 63, names of at most 253 characters)",
		       what, s);
	else if (err)
		yp_err(y, ev, SL_DIAG_VALUE,
		       "%s: '%s' is not a valid domain name (dot-separated labels of letters, digits and inner hyphens)",
		       what, s);
	return err ? NULL : yp_strdup(y, out);
}

void yh_hostname(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	char *s = yp_domain(y, ev, k->name);

	if (s)
		*FLD(char *, obj, k->off) = s;
}

/* A list of host names: char **off, size_t off2. */
static void i_host(struct yp *y, yaml_event_t *ev, size_t idx, void *ctx)
{
	struct ylist *l = ctx;
	char ***v = FLD(char **, l->obj, l->k->off);
	size_t *n = FLD(size_t, l->obj, l->k->off2);
	char *s = yp_domain(y, ev, l->k->name), **nv;

	if (!s)
		return;
	for (size_t i = 0; i < *n; i++) {
		if (!strcmp((*v)[i], s)) {
			yp_err(y, ev, SL_DIAG_DUPLICATE, "%s: '%s' is listed twice", l->k->name, s);
			return;
		}
	}
	nv = yp_push(y, *v, *n, sizeof(**v));
	if (!nv)
		return;
	nv[(*n)++] = s;
	*v = nv;
}

void yh_hosts(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	struct ylist l = { obj, k, 0, NULL };

	yp_seq(y, ev, k->name, i_host, &l);
}

/* Parse one prefix with the loader's messages; false on error. */
static bool yp_prefix(struct yp *y, yaml_event_t *ev, const char *what, const char *s,
		      struct sl_prefix *p)
{
	int err = sl_prefix_parse(s, p);

	if (err == -ERANGE)
		yp_err(y, ev, SL_DIAG_VALUE, "%s: prefix length out of range in '%s'", what, s);
	else if (err == -EDOM)
		yp_err(y, ev, SL_DIAG_VALUE,
		       "%s: '%s' has bits set beyond its prefix length (write the network address)",
		       what, s);
	else if (err)
		yp_err(y, ev, SL_DIAG_VALUE, "%s: '%s' is not an IPv4 or IPv6 address or prefix",
		       what, s);
	else if (p->plen == 0 || (p->family == AF_INET && p->plen == 96))
		yp_err(y, ev, SL_DIAG_VALUE, "%s: '%s' would match every address", what, s);
	else
		return true;
	return false;
}

/* Address lists: struct sl_prefix *off, size_t off2. */
static void i_prefix(struct yp *y, yaml_event_t *ev, size_t idx, void *ctx)
{
	struct ylist *l = ctx;
	struct sl_prefix **v = FLD(struct sl_prefix *, l->obj, l->k->off), *nv, p;
	size_t *n = FLD(size_t, l->obj, l->k->off2);
	const char *s = yp_scalar(y, ev, l->k->name);

	l->n++;
	if (!s)
		return;
	if (l->mx && !strcmp(s, "mx")) {
		*l->mx = true;
		return;
	}
	if (!yp_prefix(y, ev, l->k->name, s, &p))
		return;
	nv = yp_push(y, *v, *n, sizeof(p));
	if (!nv)
		return;
	nv[(*n)++] = p;
	*v = nv;
}

void yh_prefixes(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	struct ylist l = { obj, k, 0, NULL };

	yp_seq(y, ev, k->name, i_prefix, &l);
}

/* partners[].inbound.sources: addresses, prefixes or "mx"; not empty. */
void yh_sources(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	struct raw_pinbound *in = obj;
	struct ylist l = { obj, k, 0, &in->in.sources_mx };

	if (yp_seq(y, ev, k->name, i_prefix, &l) && l.n == 0)
		yp_err(y, ev, SL_DIAG_MISSING, "%s: the list is empty", k->name);
}

static bool yp_endpoint(struct yp *y, yaml_event_t *ev, const char *what, struct sl_endpoint *e)
{
	const char *s = yp_scalar(y, ev, what);

	if (!s)
		return false;
	if (sl_endpoint_parse(s, e) == 0)
		return true;
	yp_err(y, ev, SL_DIAG_VALUE,
	       "%s: '%s' is not ADDRESS:PORT (IPv6 as [ADDRESS]:PORT, port 1-65535)", what, s);
	return false;
}

void yh_endpoint(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	yp_endpoint(y, ev, k->name, FLD(struct sl_endpoint, obj, k->off));
}

/* controller.listen: struct sl_endpoint [SL_POLICY_MAX_LISTEN] off, size_t off2. */
static void i_endpoint(struct yp *y, yaml_event_t *ev, size_t idx, void *ctx)
{
	struct ylist *l = ctx;
	struct sl_endpoint *v = FLD(struct sl_endpoint, l->obj, l->k->off), e;
	size_t *n = FLD(size_t, l->obj, l->k->off2);

	l->n++;
	if (!yp_endpoint(y, ev, l->k->name, &e))
		return;
	for (size_t i = 0; i < *n; i++) {
		if (!memcmp(&v[i], &e, sizeof(e))) {
			yp_err(y, ev, SL_DIAG_DUPLICATE, "%s: '%s' is listed twice", l->k->name,
			       (const char *)ev->data.scalar.value);
			return;
		}
	}
	if (*n == SL_POLICY_MAX_LISTEN) {
		yp_err(y, ev, SL_DIAG_VALUE, "%s: at most %d addresses", l->k->name,
		       SL_POLICY_MAX_LISTEN);
		return;
	}
	v[(*n)++] = e;
}

void yh_endpoints(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	struct ylist l = { obj, k, 0, NULL };

	if (yp_seq(y, ev, k->name, i_endpoint, &l) && l.n == 0)
		yp_err(y, ev, SL_DIAG_MISSING, "%s: the list is empty", k->name);
}

/* ports: uint16_t [SL_MAX_PORTS] off, size_t off2. */
static void i_port(struct yp *y, yaml_event_t *ev, size_t idx, void *ctx)
{
	struct ylist *l = ctx;
	uint16_t *v = FLD(uint16_t, l->obj, l->k->off);
	size_t *n = FLD(size_t, l->obj, l->k->off2);
	unsigned long port;

	l->n++;
	if (!yp_uint(y, ev, "port", &r_port, &port))
		return;
	for (size_t i = 0; i < *n; i++) {
		if (v[i] == port) {
			yp_err(y, ev, SL_DIAG_DUPLICATE, "%s: port %lu is listed twice", l->k->name,
			       port);
			return;
		}
	}
	if (*n == SL_MAX_PORTS) {
		yp_err(y, ev, SL_DIAG_VALUE, "%s: at most %d ports", l->k->name, SL_MAX_PORTS);
		return;
	}
	v[(*n)++] = (uint16_t)port;
}

void yh_ports(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	struct ylist l = { obj, k, 0, NULL };

	if (yp_seq(y, ev, k->name, i_port, &l) && l.n == 0)
		yp_err(y, ev, SL_DIAG_MISSING, "%s: the list is empty", k->name);
}

/* ---- files ------------------------------------------------------------------- */

/* A path from the policy, absolute (relative to the file's directory). */
static char *yp_path(struct yp *y, yaml_event_t *ev, const char *what)
{
	const char *s = yp_scalar(y, ev, what);
	char *abs;

	if (!s)
		return NULL;
	if (!*s) {
		yp_err(y, ev, SL_DIAG_VALUE, "%s: must not be empty", what);
		return NULL;
	}
	if (s[0] == '/')
		return yp_strdup(y, s);
	if (asprintf(&abs, "%s/%s", y->ld->files[y->fidx].base, s) < 0) {
		y->ld->oom = true;
		return NULL;
	}
	s = yp_strdup(y, abs);
	free(abs);
	return (char *)s;
}

/* A file the controller will read: certificates, keys, CA bundles. */
void yh_file(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	char *path = yp_path(y, ev, k->name);
	struct stat st;

	if (!path)
		return;
	if (stat(path, &st) < 0 || access(path, R_OK) < 0)
		yp_err(y, ev, SL_DIAG_FILE, "%s: cannot read '%s': %s", k->name, path,
		       strerror(errno));
	else if (!S_ISREG(st.st_mode))
		yp_err(y, ev, SL_DIAG_FILE, "%s: '%s' is not a regular file", k->name, path);
	*FLD(char *, obj, k->off) = path;
}

/* A password file: readable, and by nobody but its owner. */
void yh_secret(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	char *path = yp_path(y, ev, k->name), *secret = NULL;
	struct stat st;
	int err;

	if (!path)
		return;
	err = sl_policy_read_secret(path, &secret);
	if (err == -EPERM && stat(path, &st) == 0)
		yp_err(y, ev, SL_DIAG_FILE,
		       "%s: '%s' is accessible by group or other (mode %04o): chmod 600 it",
		       k->name, path, (unsigned)(st.st_mode & 07777));
	else if (err == -EINVAL)
		yp_err(y, ev, SL_DIAG_FILE,
		       "%s: '%s' must be a regular file holding one password (1-1024 bytes, no NUL)",
		       k->name, path);
	else if (err)
		yp_err(y, ev, SL_DIAG_FILE, "%s: cannot read '%s': %s", k->name, path,
		       strerror(-err));
	if (secret) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	*FLD(char *, obj, k->off) = path;
}

/* A cgroup v2 directory or "auto"; pin and socket paths: absolute. */
void yh_abspath(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	const char *s = yp_scalar(y, ev, k->name);

	if (!s)
		return;
	if (s[0] != '/' && !(k->aux && !strcmp(s, "auto"))) {
		yp_err(y, ev, SL_DIAG_VALUE, "%s: '%s' must be an absolute path%s", k->name, s,
		       k->aux ? " or auto" : "");
		return;
	}
	*FLD(char *, obj, k->off) = yp_strdup(y, s);
}
