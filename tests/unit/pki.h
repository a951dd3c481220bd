/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pki.h — a throw-away PKI for unit tests, built with OpenSSL's API in
 * memory and written to PEM files in a temporary directory.
 */
#ifndef SL_TEST_PKI_H
#define SL_TEST_PKI_H

#include <openssl/evp.h>
#include <openssl/x509.h>

struct pki_cert {
	EVP_PKEY *key;
	X509 *cert;
	char cert_file[256];
	char key_file[256];
};

/* A self-signed CA named cn, written to dir/<name>.pem/.key. */
int pki_ca(struct pki_cert *ca, const char *dir, const char *name, const char *cn);
/* A leaf signed by ca (NULL = self-signed) with DNS SAN dns (may be NULL). */
int pki_leaf(struct pki_cert *leaf, const struct pki_cert *ca, const char *dir,
	     const char *name, const char *cn, const char *dns);
void pki_free(struct pki_cert *c);

#endif
