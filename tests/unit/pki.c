/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#include <stdio.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "pki.h"

static int pki_write(struct pki_cert *c, const char *dir, const char *name)
{
	FILE *f;

	snprintf(c->cert_file, sizeof(c->cert_file), "%s/%s.pem", dir, name);
	snprintf(c->key_file, sizeof(c->key_file), "%s/%s.key", dir, name);
	f = fopen(c->cert_file, "w");
	if (!f || !PEM_write_X509(f, c->cert))
		return -1;
	fclose(f);
	f = fopen(c->key_file, "w");
	if (!f || !PEM_write_PrivateKey(f, c->key, NULL, NULL, 0, NULL, NULL))
		return -1;
	fclose(f);
	return 0;
}

static int pki_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!ext)
		return -1;
	X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return 0;
}

static int pki_make(struct pki_cert *c, const struct pki_cert *ca, const char *cn,
		    const char *dns, int is_ca)
{
	static long serial = 1;
	X509_NAME *name;
	char san[300];

	c->key = EVP_EC_gen("P-256");
	c->cert = X509_new();
	if (!c->key || !c->cert)
		return -1;
	X509_set_version(c->cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c->cert), serial++);
	X509_gmtime_adj(X509_getm_notBefore(c->cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(c->cert), 86400);
	X509_set_pubkey(c->cert, c->key);
	name = X509_get_subject_name(c->cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(c->cert, ca ? X509_get_subject_name(ca->cert) : name);
	if (is_ca) {
		pki_ext(c->cert, c->cert, NID_basic_constraints, "critical,CA:TRUE");
		pki_ext(c->cert, c->cert, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else if (dns) {
		snprintf(san, sizeof(san), "DNS:%s", dns);
		pki_ext(c->cert, ca ? ca->cert : c->cert, NID_subject_alt_name, san);
	}
	if (!X509_sign(c->cert, ca ? ca->key : c->key, EVP_sha256()))
		return -1;
	return 0;
}

int pki_ca(struct pki_cert *ca, const char *dir, const char *name, const char *cn)
{
	memset(ca, 0, sizeof(*ca));
	if (pki_make(ca, NULL, cn, NULL, 1) < 0)
		return -1;
	return pki_write(ca, dir, name);
}

int pki_leaf(struct pki_cert *leaf, const struct pki_cert *ca, const char *dir,
	     const char *name, const char *cn, const char *dns)
{
	memset(leaf, 0, sizeof(*leaf));
	if (pki_make(leaf, ca, cn, dns, 0) < 0)
		return -1;
	return pki_write(leaf, dir, name);
}

void pki_free(struct pki_cert *c)
{
	EVP_PKEY_free(c->key);
	X509_free(c->cert);
	c->key = NULL;
	c->cert = NULL;
}
