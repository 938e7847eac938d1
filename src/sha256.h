/*
 * sha256.h - SHA-256 for the audit log's hash chain, from OpenSSL's
 * libcrypto. Internal.
 */
#ifndef AA_SHA256_H
#define AA_SHA256_H

#include <stdbool.h>
#include <stddef.h>

/* SHA-256 of data[0, len) as 64 lower-case hex digits and a NUL. Returns
 * false when libcrypto fails (out is then an empty string). */
bool aa__sha256_hex(const void *data, size_t len, char out[65]);

#endif /* AA_SHA256_H */
