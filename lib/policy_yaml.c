/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policy_yaml.c — the libyaml event reader and the schema engine.
 *
 * The policy is read as a stream of libyaml events (never the document
 * API): yp_map() walks a mapping against a table of keys, calling one
 * handler per key with the value's first event; handlers consume the rest
 * of their value through yp_next().  Anything that does not fit — an
 * unknown or repeated key, a list where a string is due, an alias — is
 * reported with the position of its token and the value is skipped, so one
 * pass finds every problem of a file.  Only a YAML syntax error ends the
 * file early (libyaml cannot resume after one).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

/* ---- diagnostics ------------------------------------------------------ */

/*
 * Messages quote values from the file, and a plain scalar may span lines
 * or hold control characters: each diagnostic must stay one line of
 * "FILE:LINE:COL: error: message" (policy check, the reload's caller,
 * the log), so C0 controls and DEL are escaped (\n, \r, \t, \xNN).
 * Takes msg; NULL when out of memory.
 */
static char *ld_one_line(char *msg)
{
	size_t n = 0;
	char *out, *o;

	for (const unsigned char *c = (const unsigned char *)msg; *c; c++)
		n += *c < 0x20 || *c == 0x7f ? 4 : 1;
	if (n == strlen(msg))
		return msg;
	out = malloc(n + 1);
	if (out) {
		o = out;
		for (const unsigned char *c = (const unsigned char *)msg; *c; c++) {
			if (*c == '\n' || *c == '\r' || *c == '\t') {
				*o++ = '\\';
				*o++ = *c == '\n' ? 'n' : *c == '\r' ? 'r' : 't';
			} else if (*c < 0x20 || *c == 0x7f) {
				o += sprintf(o, "\\x%02x", *c);
			} else {
				*o++ = (char)*c;
			}
		}
		*o = 0;
	}
	free(msg);
	return out;
}

void ld_err(struct ld *ld, unsigned fidx, unsigned line, unsigned col,
	    enum sl_diag_class cls, const char *fmt, ...)
{
	struct ld_diag *d;
	va_list ap;
	char *msg;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0 || !(msg = ld_one_line(msg))) {
		ld->oom = true;
		return;
	}
	/* The same error at the same place once (an inherited default
	 * that is wrong for several partners). */
	for (size_t i = 0; i < ld->n_diags; i++) {
		d = &ld->diags[i];
		if (d->fidx == fidx && d->d.line == line && d->d.col == col &&
		    !strcmp(d->d.msg, msg)) {
			free(msg);
			return;
		}
	}
	if (ld->n_diags == SL_DIAG_MAX) {
		ld->dropped++;
		free(msg);
		return;
	}
	if (!ld->diags) {
		ld->diags = calloc(SL_DIAG_MAX, sizeof(*ld->diags));
		if (!ld->diags) {
			ld->oom = true;
			free(msg);
			return;
		}
	}
	d = &ld->diags[ld->n_diags];
	d->fidx = fidx;
	d->seq = (unsigned)ld->n_diags;
	d->d.line = line;
	d->d.col = col;
	d->d.cls = cls;
	d->d.msg = msg;
	ld->n_diags++;
}

struct sl_pos yp_pos(const struct yp *y, const yaml_event_t *ev)
{
	return (struct sl_pos){
		.file = y->ld->files[y->fidx].name,
		.line = (unsigned)ev->start_mark.line + 1,
		.col = (unsigned)ev->start_mark.column + 1,
	};
}

static void yp_verr(struct yp *y, struct sl_pos pos, enum sl_diag_class cls,
		    const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

static void yp_verr(struct yp *y, struct sl_pos pos, enum sl_diag_class cls,
		    const char *fmt, va_list ap)
{
	char *msg;

	if (vasprintf(&msg, fmt, ap) < 0) {
		y->ld->oom = true;
		return;
	}
	ld_err(y->ld, y->fidx, pos.line, pos.col, cls, "%s", msg);
	free(msg);
}

void yp_err_at(struct yp *y, struct sl_pos pos, enum sl_diag_class cls, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	yp_verr(y, pos, cls, fmt, ap);
	va_end(ap);
}

void yp_err(struct yp *y, const yaml_event_t *ev, enum sl_diag_class cls, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	yp_verr(y, yp_pos(y, ev), cls, fmt, ap);
	va_end(ap);
}

/* ---- events ------------------------------------------------------------ */

/* Line and column of a byte offset (reader errors carry no mark). */
static void yp_offset_pos(const struct yp *y, size_t off, unsigned *line, unsigned *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && i < y->len; i++) {
		if (y->buf[i] == '\n') {
			++*line;
			*col = 1;
		} else if (((unsigned char)y->buf[i] & 0xc0) != 0x80) {
			++*col;
		}
	}
}

static void yp_syntax_error(struct yp *y)
{
	yaml_parser_t *p = &y->parser;
	unsigned line, col;

	if (p->error == YAML_MEMORY_ERROR) {
		y->ld->oom = true;
		return;
	}
	if (p->error == YAML_READER_ERROR) {
		yp_offset_pos(y, p->problem_offset, &line, &col);
		ld_err(y->ld, y->fidx, line, col, SL_DIAG_SYNTAX, "invalid input: %s",
		       p->problem ? p->problem : "unreadable");
		return;
	}
	line = (unsigned)p->problem_mark.line + 1;
	col = (unsigned)p->problem_mark.column + 1;
	if (p->context)
		ld_err(y->ld, y->fidx, line, col, SL_DIAG_SYNTAX,
		       "YAML syntax: %s (%s at line %zu)", p->problem ? p->problem : "error",
		       p->context, p->context_mark.line + 1);
	else
		ld_err(y->ld, y->fidx, line, col, SL_DIAG_SYNTAX, "YAML syntax: %s",
		       p->problem ? p->problem : "error");
}

bool yp_next(struct yp *y, yaml_event_t *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (y->dead)
		return false;
	if (!yaml_parser_parse(&y->parser, ev)) {
		memset(ev, 0, sizeof(*ev));
		yp_syntax_error(y);
		y->dead = true;
		return false;
	}
	return true;
}

/* Consume the rest of a value whose first event is ev. */
void yp_skip(struct yp *y, const yaml_event_t *ev)
{
	yaml_event_t e;
	int depth;

	if (ev->type != YAML_SEQUENCE_START_EVENT && ev->type != YAML_MAPPING_START_EVENT)
		return;
	for (depth = 1; depth > 0;) {
		if (!yp_next(y, &e))
			return;
		if (e.type == YAML_SEQUENCE_START_EVENT || e.type == YAML_MAPPING_START_EVENT)
			depth++;
		else if (e.type == YAML_SEQUENCE_END_EVENT || e.type == YAML_MAPPING_END_EVENT)
			depth--;
		yaml_event_delete(&e);
	}
}

bool yp_is_null(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;

	if (ev->type != YAML_SCALAR_EVENT || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

static const char *yp_kind(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_MAPPING_START_EVENT:	return "a mapping";
	case YAML_SEQUENCE_START_EVENT:	return "a list";
	case YAML_ALIAS_EVENT:		return "an alias";
	case YAML_SCALAR_EVENT:		return yp_is_null(ev) ? "nothing (null)" : "a scalar";
	default:			return "something else";
	}
}

/* ---- scalars -------------------------------------------------------------- */

const char *yp_scalar(struct yp *y, const yaml_event_t *ev, const char *what)
{
	if (ev->type != YAML_SCALAR_EVENT || yp_is_null(ev)) {
		yp_err(y, ev, SL_DIAG_TYPE, "%s: expected a string, found %s", what, yp_kind(ev));
		yp_skip(y, ev);
		return NULL;
	}
	if (strlen((const char *)ev->data.scalar.value) != ev->data.scalar.length) {
		yp_err(y, ev, SL_DIAG_VALUE, "%s: contains a NUL character", what);
		return NULL;
	}
	return (const char *)ev->data.scalar.value;
}

bool yp_uint(struct yp *y, const yaml_event_t *ev, const char *what,
	     const struct yrange *r, unsigned long *ret)
{
	const char *s = (const char *)ev->data.scalar.value;
	unsigned long v = 0;
	bool big = false;

	if (ev->type != YAML_SCALAR_EVENT || yp_is_null(ev) ||
	    ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || !*s) {
		yp_err(y, ev, SL_DIAG_TYPE, "%s: expected an integer, found %s", what,
		       ev->type == YAML_SCALAR_EVENT && !yp_is_null(ev) ? "a quoted string" : yp_kind(ev));
		yp_skip(y, ev);
		return false;
	}
	for (const char *c = s; *c; c++) {
		if (*c < '0' || *c > '9') {
			yp_err(y, ev, SL_DIAG_TYPE, "%s: expected an integer, found '%s'",
			       what, s);
			return false;
		}
		if (v > 1000000000ul)
			big = true;
		else
			v = v * 10 + (unsigned long)(*c - '0');
	}
	if (big || v < r->min || v > r->max) {
		yp_err(y, ev, SL_DIAG_VALUE, "%s: %s is out of range (%lu-%lu)", what, s,
		       r->min, r->max);
		return false;
	}
	*ret = v;
	return true;
}

bool yp_enum(struct yp *y, const yaml_event_t *ev, const char *what,
	     const struct yenum *names, unsigned *ret)
{
	const char *s = yp_scalar(y, ev, what);
	char list[256] = "";
	size_t n = 0;

	if (!s)
		return false;
	for (const struct yenum *e = names; e->name; e++) {
		if (!strcmp(e->name, s)) {
			*ret = e->val;
			return true;
		}
	}
	for (const struct yenum *e = names; e->name; e++)
		n += (size_t)snprintf(list + n, n < sizeof(list) ? sizeof(list) - n : 0,
				      "%s%s", e == names ? "" : (e[1].name ? ", " : " or "),
				      e->name);
	yp_err(y, ev, SL_DIAG_VALUE, "%s: invalid value '%s' (expected %s)", what, s, list);
	return false;
}

/* ---- mappings and lists ------------------------------------------------------ */

/* Edit distance of two short keys, for "did you mean". */
static unsigned yp_distance(const char *a, const char *b)
{
	unsigned row[32], la = (unsigned)strlen(a), lb = (unsigned)strlen(b);

	if (la >= 31 || lb >= 31)
		return 99;
	for (unsigned j = 0; j <= lb; j++)
		row[j] = j;
	for (unsigned i = 1; i <= la; i++) {
		unsigned diag = row[0];

		row[0] = i;
		for (unsigned j = 1; j <= lb; j++) {
			unsigned up = row[j], best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static void yp_unknown_key(struct yp *y, const yaml_event_t *kev, const struct ytable *t)
{
	const char *key = (const char *)kev->data.scalar.value;
	const char *best = NULL;
	unsigned bestd = 3;

	for (size_t i = 0; i < t->n; i++) {
		unsigned d = yp_distance(key, t->keys[i].name);

		if (d < bestd) {
			bestd = d;
			best = t->keys[i].name;
		}
	}
	if (best)
		yp_err(y, kev, SL_DIAG_UNKNOWN_KEY, "unknown key '%s' in %s (did you mean '%s'?)",
		       key, t->where, best);
	else
		yp_err(y, kev, SL_DIAG_UNKNOWN_KEY, "unknown key '%s' in %s", key, t->where);
}

void yp_map(struct yp *y, yaml_event_t *ev, const struct ytable *t, void *obj)
{
	struct ymeta *m = obj;
	yaml_event_t kev, vev;

	m->present = true;
	m->fidx = y->fidx;
	m->start = yp_pos(y, ev);
	if (ev->type != YAML_MAPPING_START_EVENT && !yp_is_null(ev)) {
		yp_err(y, ev, SL_DIAG_TYPE, "%s: expected a mapping, found %s", t->where, yp_kind(ev));
		yp_skip(y, ev);
		return;
	}
	while (ev->type == YAML_MAPPING_START_EVENT) {
		const struct ykey *k = NULL;
		size_t i;

		if (!yp_next(y, &kev))
			return;
		if (kev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&kev);
			break;
		}
		if (kev.type != YAML_SCALAR_EVENT) {
			yp_err(y, &kev, SL_DIAG_TYPE, "%s: a key must be a string, found %s",
			       t->where, yp_kind(&kev));
			yp_skip(y, &kev);
		}
		if (!yp_next(y, &vev)) {
			yaml_event_delete(&kev);
			return;
		}
		if (kev.type != YAML_SCALAR_EVENT) {
			yp_skip(y, &vev);
			goto next;
		}
		for (i = 0; i < t->n; i++) {
			if (!strcmp(t->keys[i].name, (const char *)kev.data.scalar.value)) {
				k = &t->keys[i];
				break;
			}
		}
		if (!k) {
			yp_unknown_key(y, &kev, t);
			yp_skip(y, &vev);
		} else if (m->seen & (1u << i)) {
			yp_err(y, &kev, SL_DIAG_DUPLICATE, "duplicate key '%s' in %s (first at line %u)",
			       k->name, t->where, m->key[i].line);
			yp_skip(y, &vev);
		} else {
			size_t before = y->ld->n_diags + y->ld->dropped;

			m->seen |= 1u << i;
			m->key[i] = yp_pos(y, &kev);
			m->val[i] = yp_pos(y, &vev);
			if (vev.type == YAML_ALIAS_EVENT)
				yp_err(y, &vev, SL_DIAG_SYNTAX, "YAML aliases are not supported");
			else
				k->fn(y, &vev, k, obj);
			/* Rules that span keys skip values already reported. */
			if (y->ld->n_diags + y->ld->dropped != before)
				m->bad |= 1u << i;
		}
next:
		yaml_event_delete(&kev);
		yaml_event_delete(&vev);
		if (y->dead)
			return;
	}
	for (size_t i = 0; i < t->n; i++)
		if ((t->keys[i].flags & YK_REQUIRED) && !(m->seen & (1u << i)))
			yp_err_at(y, m->start, SL_DIAG_MISSING, "%s: missing required key '%s'",
				  t->where, t->keys[i].name);
}

bool yp_seq(struct yp *y, yaml_event_t *ev, const char *what, yitem item, void *ctx)
{
	yaml_event_t e;
	size_t idx = 0;

	if (yp_is_null(ev))
		return true;
	if (ev->type != YAML_SEQUENCE_START_EVENT) {
		yp_err(y, ev, SL_DIAG_TYPE, "%s: expected a list, found %s", what, yp_kind(ev));
		yp_skip(y, ev);
		return false;
	}
	for (;;) {
		if (!yp_next(y, &e))
			return true;
		if (e.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&e);
			return true;
		}
		if (e.type == YAML_ALIAS_EVENT)
			yp_err(y, &e, SL_DIAG_SYNTAX, "YAML aliases are not supported");
		else
			item(y, &e, idx, ctx);
		idx++;
		yaml_event_delete(&e);
		if (y->dead)
			return true;
	}
}

/* ---- files ------------------------------------------------------------------ */

void yp_file(struct ld *ld, unsigned fidx, const char *buf, size_t len, yitem root, void *ctx)
{
	struct yp y = { .ld = ld, .fidx = fidx, .buf = buf, .len = len };
	yaml_event_t ev;

	if (!yaml_parser_initialize(&y.parser)) {
		ld->oom = true;
		return;
	}
	yaml_parser_set_input_string(&y.parser, (const unsigned char *)buf, len);
	if (!yp_next(&y, &ev))			/* STREAM-START */
		goto out;
	yaml_event_delete(&ev);
	if (!yp_next(&y, &ev))
		goto out;
	if (ev.type == YAML_STREAM_END_EVENT) {
		ld_err(ld, fidx, 0, 0, SL_DIAG_MISSING, "the file is empty");
		yaml_event_delete(&ev);
		goto out;
	}
	yaml_event_delete(&ev);			/* DOCUMENT-START */
	if (!yp_next(&y, &ev))
		goto out;
	if (ev.type == YAML_ALIAS_EVENT)
		yp_err(&y, &ev, SL_DIAG_SYNTAX, "YAML aliases are not supported");
	else
		root(&y, &ev, 0, ctx);
	yaml_event_delete(&ev);
	if (!yp_next(&y, &ev))			/* DOCUMENT-END */
		goto out;
	yaml_event_delete(&ev);
	if (!yp_next(&y, &ev))
		goto out;
	if (ev.type == YAML_DOCUMENT_START_EVENT)
		yp_err(&y, &ev, SL_DIAG_SYNTAX, "only one YAML document per file");
	yaml_event_delete(&ev);
out:
	ld->files[fidx].dead = y.dead;
	yaml_parser_delete(&y.parser);
}
