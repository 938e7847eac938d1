/* sha256.c - SHA-256 through libcrypto (see sha256.h).
 *
 * libcrypto's SHA256_Init/Update/Final run the digest directly. Its EVP
 * interface (and the one-shot SHA256(), which OpenSSL 3 routes through it)
 * first loads the configuration and the default provider: about 2 ms, paid
 * by every short-lived process that writes one audit line, such as
 * `agent-auth check` (9 ms in all). The direct functions are deprecated
 * since OpenSSL 3.0 but present in every 3.x; a libcrypto built without
 * them gets the EVP path. The digest is the same either way
 * (tests/unit/test_audit.c checks known vectors). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "sha256.h"

#include <openssl/evp.h>
#include <openssl/opensslconf.h>
#include <openssl/sha.h>
#include <string.h>

static void to_hex(const unsigned char d[32], char out[65]) {
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[64] = 0;
}

bool aa__sha256_hex(const void *data, size_t len, char out[65]) {
    unsigned char d[32];
    bool ok;
#ifndef OPENSSL_NO_DEPRECATED_3_0
    SHA256_CTX c;
    ok = SHA256_Init(&c) && SHA256_Update(&c, data, len) && SHA256_Final(d, &c);
#else
    size_t n = 0;
    ok = EVP_Q_digest(NULL, "SHA256", NULL, data, len, d, &n) && n == 32;
#endif
    if (ok)
        to_hex(d, out);
    else
        out[0] = 0;
    return ok;
}

#ifndef OPENSSL_NO_DEPRECATED_3_0
_Static_assert(sizeof(SHA256_CTX) <= sizeof(((aa__sha256_mid *)0)->state),
               "a SHA256_CTX fits in aa__sha256_mid");

bool aa__sha256_begin(aa__sha256_mid *m, const void *data, size_t len) {
    SHA256_CTX *c = (SHA256_CTX *)m->state;
    return SHA256_Init(c) && SHA256_Update(c, data, len);
}

bool aa__sha256_finish(const aa__sha256_mid *m, const void *rest, size_t n,
                       char out[65]) {
    SHA256_CTX c;
    memcpy(&c, m->state, sizeof c);
    unsigned char d[32];
    bool ok = SHA256_Update(&c, rest, n) && SHA256_Final(d, &c);
    if (ok)
        to_hex(d, out);
    else
        out[0] = 0;
    return ok;
}
#else
bool aa__sha256_begin(aa__sha256_mid *m, const void *data, size_t len) {
    (void)m;
    (void)data;
    (void)len;
    return false;
}

bool aa__sha256_finish(const aa__sha256_mid *m, const void *rest, size_t n,
                       char out[65]) {
    (void)m;
    (void)rest;
    (void)n;
    out[0] = 0;
    return false;
}
#endif
