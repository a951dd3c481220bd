/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policy.c — load → lookup → free of the policy model.
 *
 * A load reads the main file and every policies.d/ *.yaml drop-in next to
 * it (sorted by name, one partner each), hashes their bytes for `status`,
 * parses each with the event reader (policy_yaml.c, policy_schema.c),
 * builds the effective model (policy_validate.c) and returns it only if no
 * error was found anywhere.  The model and everything it points to live in
 * one arena, so the loaded policy is immutable and freed in one call.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy_int.h"

/* ---- arena ------------------------------------------------------------ */

struct sl_arena_chunk {
	struct sl_arena_chunk *next;
	size_t used, size;
	max_align_t data[];
};

#define SL_ARENA_CHUNK (64 * 1024)
#define SL_ALIGN(n) (((n) + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1))

void *sl_arena_alloc(struct sl_arena *a, size_t n)
{
	struct sl_arena_chunk *c = a->head;
	void *p;

	if (n > SIZE_MAX / 2)
		return NULL;
	n = SL_ALIGN(n ? n : 1);
	if (!c || c->size - c->used < n) {
		size_t size = n > SL_ARENA_CHUNK ? n : SL_ARENA_CHUNK;

		c = malloc(sizeof(*c) + size);
		if (!c)
			return NULL;
		c->used = 0;
		c->size = size;
		c->next = a->head;
		a->head = c;
	}
	p = (char *)c->data + c->used;
	c->used += n;
	memset(p, 0, n);
	return p;
}

char *sl_arena_strdup(struct sl_arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *r = sl_arena_alloc(a, n);

	if (r)
		memcpy(r, s, n);
	return r;
}

/* Arrays grown one element at a time keep a power-of-two capacity. */
void *sl_arena_push(struct sl_arena *a, void *v, size_t n, size_t sz)
{
	void *nv;

	if (n && (n & (n - 1)))
		return v;			/* room left */
	if (n > SIZE_MAX / 2 / sz)
		return NULL;
	nv = sl_arena_alloc(a, (n ? 2 * n : 1) * sz);
	if (nv && n)
		memcpy(nv, v, n * sz);
	return nv;
}

void sl_arena_done(struct sl_arena *a)
{
	while (a->head) {
		struct sl_arena_chunk *c = a->head;

		a->head = c->next;
		free(c);
	}
}

/* ---- files ------------------------------------------------------------ */

struct sl_policy_full {
	struct sl_policy pub;
	struct sl_arena arena;
};

static int sl_read_file(const char *path, char **ret, size_t *ret_len)
{
	struct stat st;
	size_t n = 0;
	char *buf = NULL;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		err = -EISDIR;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		goto out;
	}
	if (st.st_size > SL_POLICY_MAX_BYTES) {
		err = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > (size_t)st.st_size) {	/* grew while we read */
			err = -EFBIG;
			goto out;
		}
	}
	*ret = buf;
	*ret_len = n;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return err;
}

static void sl_file_error(struct ld *ld, unsigned fidx, int err)
{
	if (err == -EFBIG)
		ld_err(ld, fidx, 0, 0, SL_DIAG_FILE, "larger than %d bytes", SL_POLICY_MAX_BYTES);
	else if (err == -EINVAL)
		ld_err(ld, fidx, 0, 0, SL_DIAG_FILE, "not a regular file");
	else
		ld_err(ld, fidx, 0, 0, SL_DIAG_FILE, "cannot read: %s", strerror(-err));
}

/* The absolute directory of a path, for the paths written in it. */
static char *sl_abs_dir(struct sl_arena *a, const char *path)
{
	char *slash = strrchr(path, '/'), *dir, *real, *r;

	if (slash == path)
		return sl_arena_strdup(a, "/");
	dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
	if (!dir)
		return NULL;
	real = realpath(dir, NULL);
	r = sl_arena_strdup(a, real ? real : dir);
	free(real);
	free(dir);
	return r;
}

static bool sl_same_file(const char *a, const char *b)
{
	char *ra, *rb;
	bool same;

	if (!strcmp(a, b))
		return true;
	ra = realpath(a, NULL);
	rb = realpath(b, NULL);
	same = ra && rb && !strcmp(ra, rb);
	free(ra);
	free(rb);
	return same;
}

static int sl_cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool sl_is_dropin_name(const char *n)
{
	size_t len = strlen(n);

	return n[0] != '.' && len > 5 && !strcmp(n + len - 5, ".yaml");
}

/* The sorted basenames of policies.d/ *.yaml, the extra drop-in merged in;
 * in the arena.  *ret_n = 0 when the directory does not exist. */
static int sl_dropin_names(struct ld *ld, const char *dir, const char *extra,
			   char ***ret, size_t *ret_n)
{
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	d = opendir(dir);
	if (!d && errno != ENOENT && errno != ENOTDIR)
		return -errno;
	while (d && (de = readdir(d))) {
		if (!sl_is_dropin_name(de->d_name) || (extra && !strcmp(de->d_name, extra)))
			continue;
		names = sl_arena_push(ld->a, names, n, sizeof(*names));
		if (!names || !(names[n++] = sl_arena_strdup(ld->a, de->d_name))) {
			closedir(d);
			return -ENOMEM;
		}
	}
	if (d)
		closedir(d);
	if (extra) {
		names = sl_arena_push(ld->a, names, n, sizeof(*names));
		if (!names || !(names[n++] = sl_arena_strdup(ld->a, extra)))
			return -ENOMEM;
	}
	if (n)
		qsort(names, n, sizeof(*names), sl_cmp_name);
	*ret = names;
	*ret_n = n;
	return 0;
}

static int sl_add_file(struct ld *ld, const char *name, const char *base, bool dropin)
{
	struct ld_file *f = sl_arena_push(ld->a, ld->files, ld->n_files, sizeof(*f));

	if (!f)
		return -ENOMEM;
	ld->files = f;
	f = &ld->files[ld->n_files++];
	f->name = sl_arena_strdup(ld->a, name);
	f->base = base;
	f->dropin = dropin;
	return f->name ? 0 : -ENOMEM;
}

/* ---- diagnostics out ------------------------------------------------------ */

static int sl_cmp_diag(const void *pa, const void *pb)
{
	const struct ld_diag *a = pa, *b = pb;

	if (a->fidx != b->fidx)
		return a->fidx < b->fidx ? -1 : 1;
	if (a->d.line != b->d.line)
		return a->d.line < b->d.line ? -1 : 1;
	if (a->d.col != b->d.col)
		return a->d.col < b->d.col ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Hand the errors to the caller (or drop them); frees ld's copies. */
static int sl_diags_out(struct ld *ld, struct sl_diags *out)
{
	int err = 0;

	if (ld->n_diags)
		qsort(ld->diags, ld->n_diags, sizeof(*ld->diags), sl_cmp_diag);
	if (out && ld->n_diags) {
		out->v = calloc(ld->n_diags, sizeof(*out->v));
		if (!out->v)
			err = -ENOMEM;
	}
	for (size_t i = 0; i < ld->n_diags; i++) {
		struct sl_diag *d = &ld->diags[i].d;

		if (out && out->v) {
			out->v[out->n] = *d;
			out->v[out->n].file = strdup(ld->files[ld->diags[i].fidx].name);
			if (!out->v[out->n].file) {
				err = -ENOMEM;
				free(d->msg);
				continue;
			}
			out->n++;
		} else {
			free(d->msg);
		}
	}
	if (out)
		out->dropped = ld->dropped;
	free(ld->diags);
	ld->diags = NULL;
	return err;
}

void sl_diags_done(struct sl_diags *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}

void sl_diags_print(const struct sl_diags *d, FILE *f)
{
	for (size_t i = 0; d && i < d->n; i++) {
		const struct sl_diag *g = &d->v[i];

		if (g->line)
			fprintf(f, "%s:%u:%u: error: %s\n", g->file, g->line, g->col, g->msg);
		else
			fprintf(f, "%s: error: %s\n", g->file, g->msg);
	}
}

/* ---- load ---------------------------------------------------------------- */

static int sl_load_files(struct ld *ld, const char *path, const struct sl_policy_opts *o,
			 EVP_MD_CTX *md)
{
	const char *slash = strrchr(path, '/');
	const char *extra = NULL, *base;
	char *dir = NULL, *name = NULL, **names = NULL, *buf;
	size_t n_names = 0, len;
	int err;

	base = sl_abs_dir(ld->a, path);
	if (!base || sl_add_file(ld, path, base, false))
		return -ENOMEM;
	err = sl_read_file(path, &buf, &len);
	if (err) {
		sl_file_error(ld, 0, err);
		return err;
	}
	EVP_DigestUpdate(md, buf, len);
	yp_file(ld, 0, buf, len, sl_schema_main, ld->root);
	free(buf);

	if (o && o->extra_text) {
		extra = o->extra_name ? strrchr(o->extra_name, '/') : NULL;
		extra = extra ? extra + 1 : o->extra_name;
		if (!extra || !sl_is_dropin_name(extra))
			return -EINVAL;
	}
	if (asprintf(&dir, "%.*s" SL_POLICY_DROPIN_DIR, slash ? (int)(slash - path + 1) : 0,
		     path) < 0)
		return -ENOMEM;
	err = sl_dropin_names(ld, dir, extra, &names, &n_names);
	if (err == -ENOMEM)
		goto out;
	if (err) {
		ld_err(ld, 0, 0, 0, SL_DIAG_FILE, "cannot read %s/: %s", dir, strerror(-err));
		err = 0;
	}
	for (size_t i = 0; i < n_names; i++) {
		bool is_extra = extra && !strcmp(names[i], extra);
		unsigned fidx = (unsigned)ld->n_files;

		free(name);
		if (asprintf(&name, "%s/%s", dir, names[i]) < 0) {
			name = NULL;
			err = -ENOMEM;
			goto out;
		}
		if (!is_extra && o && o->skip_file && sl_same_file(o->skip_file, name))
			continue;
		/* Relative paths in a drop-in are relative to the main file's
		 * directory too: the drop-ins are parts of one policy. */
		if (sl_add_file(ld, is_extra ? o->extra_name : name, base, true)) {
			err = -ENOMEM;
			goto out;
		}
		if (is_extra) {
			EVP_DigestUpdate(md, o->extra_text, strlen(o->extra_text));
			yp_file(ld, fidx, o->extra_text, strlen(o->extra_text),
				sl_schema_partner, ld->root);
			continue;
		}
		err = sl_read_file(name, &buf, &len);
		if (err == -ENOMEM)
			goto out;
		if (err) {
			sl_file_error(ld, fidx, err);
			err = 0;
			continue;
		}
		EVP_DigestUpdate(md, buf, len);
		yp_file(ld, fidx, buf, len, sl_schema_partner, ld->root);
		free(buf);
	}
out:
	free(name);
	free(dir);
	return err;
}

int sl_policy_load_opts(const char *path, const struct sl_policy_opts *opts,
			struct sl_policy **ret, struct sl_diags *diags)
{
	struct sl_policy_full *full;
	struct ld ld = { 0 };
	EVP_MD_CTX *md = NULL;
	int err, derr;

	sl_diags_done(diags);
	if (!path || !ret || (opts && opts->extra_text && !opts->extra_name))
		return -EINVAL;
	full = calloc(1, sizeof(*full));
	if (!full)
		return -ENOMEM;
	ld.a = &full->arena;
	ld.root = sl_arena_alloc(ld.a, sizeof(*ld.root));
	md = EVP_MD_CTX_new();
	if (!ld.root || !md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		err = -ENOMEM;
		goto out;
	}
	err = sl_load_files(&ld, path, opts, md);
	if (err)
		goto out;
	full->pub.path = sl_arena_strdup(ld.a, path);
	full->pub.files = sl_arena_alloc(ld.a, ld.n_files * sizeof(char *));
	if (!full->pub.path || !full->pub.files) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ld.n_files; i++)
		full->pub.files[i] = (char *)ld.files[i].name;
	full->pub.n_files = ld.n_files;
	EVP_DigestFinal_ex(md, full->pub.sha256, NULL);
	sl_policy_build(&ld, &full->pub);
	if (ld.oom)
		err = -ENOMEM;
	else if (ld.n_diags || ld.dropped)
		err = -EINVAL;
out:
	derr = sl_diags_out(&ld, diags);
	if (!err && derr)
		err = derr;
	SSL_CTX_free(ld.ssl_ctx);
	EVP_MD_CTX_free(md);
	if (err) {
		sl_arena_done(&full->arena);
		free(full);
		return err;
	}
	*ret = &full->pub;
	return 0;
}

int sl_policy_load(const char *path, struct sl_policy **ret, struct sl_diags *diags)
{
	return sl_policy_load_opts(path, NULL, ret, diags);
}

struct sl_policy *sl_policy_free(struct sl_policy *p)
{
	struct sl_policy_full *full;

	if (!p)
		return NULL;
	full = (struct sl_policy_full *)p;	/* pub is the first member */
	sl_arena_done(&full->arena);
	free(full);
	return NULL;
}

/* ---- lookup ---------------------------------------------------------------- */

const struct sl_partner *sl_policy_find(const struct sl_policy *p, const char *domain)
{
	char d[SL_DOMAIN_MAX];

	if (!p || !domain || sl_domain_normalize(domain, d, sizeof(d)))
		return NULL;
	for (size_t i = 0; i < p->n_partners; i++)
		if (!strcmp(p->partners[i].domain, d))
			return &p->partners[i];
	return NULL;
}

void sl_policy_count(const struct sl_policy *p, size_t *outbound, size_t *inbound)
{
	size_t o = 0, in = 0;

	for (size_t i = 0; p && i < p->n_partners; i++) {
		o += (p->partners[i].direction & SL_DIR_OUTBOUND) != 0;
		in += (p->partners[i].direction & SL_DIR_INBOUND) != 0;
	}
	if (outbound)
		*outbound = o;
	if (inbound)
		*inbound = in;
}
