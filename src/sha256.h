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

/* A digest begun over the start of a message, to be finished later with
 * the rest: the audit writer hashes most of a line in the deciding thread
 * and only its last bytes (the previous hash) under its lock. */
typedef struct aa__sha256_mid {
    _Alignas(16) unsigned char state[128];
} aa__sha256_mid;

/* Begins *m over data[0, len). False when this libcrypto cannot keep a
 * partial digest (then hash the whole message with aa__sha256_hex). */
bool aa__sha256_begin(aa__sha256_mid *m, const void *data, size_t len);
/* The digest, as aa__sha256_hex writes it, of the message begun in *m
 * followed by rest[0, n); *m is left as it was. */
bool aa__sha256_finish(const aa__sha256_mid *m, const void *rest, size_t n,
                       char out[65]);

#endif /* AA_SHA256_H */
