/*
 * fuzz_request_check.c - aa__request_check (the request check on the
 * decision path, a word at a time for ASCII text) against a plain
 * reference: the input is cut into a request's seven fields and some
 * metadata, each string in a buffer of its own exact size (so that a read
 * past it is a sanitizer report), NULs and all. The check must name the
 * same field as the reference does (the first field, in order, that is not
 * well-formed UTF-8 up to its NUL), agree with the byte-by-byte check on
 * metadata, and measure and hash the fields as strlen and aa__hash do.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/unit/ref_utf8.h"
#include "util.h"

#define NSTR 12 /* 7 fields, then metadata strings */

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    /* Each string: a length byte (high bit: the field is NULL), then that
     * many bytes (mod 64), then the terminating NUL added here. */
    char *str[NSTR] = {0};
    size_t at = 0;
    for (int i = 0; i < NSTR && at < size; i++) {
        unsigned lb = data[at++];
        if (lb & 0x80)
            continue;
        size_t n = lb % 64;
        if (n > size - at)
            n = size - at;
        str[i] = malloc(n + 1);
        if (!str[i])
            abort();
        memcpy(str[i], data + at, n);
        str[i][n] = 0;
        at += n;
    }
    aa_request r = {.agent = str[0],
                    .user = str[1],
                    .action = str[2],
                    .resource = str[3],
                    .scope = str[4],
                    .session_id = str[5],
                    .target_agent = str[6]};
    aa_meta items[2] = {{.type = AA_VALUE_STRING, .string = str[10]},
                        {.type = AA_VALUE_NUMBER, .number = 1}};
    aa_meta meta[2] = {
        {.key = str[7], .type = AA_VALUE_STRING, .string = str[8]},
        {.key = str[9], .type = AA_VALUE_LIST, .items = items, .count = 2}};
    if (str[11]) {
        r.metadata = meta;
        r.metadata_count = (unsigned char)str[11][0] % 3;
    }

    static const char *const names[7] = {
        "'agent'", "'user'",       "'action'",      "'resource'",
        "'scope'", "'session_id'", "'target_agent'"};
    const char *want = NULL;
    for (int i = 0; i < 7 && !want; i++)
        if (str[i] && !ref_utf8(str[i]))
            want = names[i];
    char buf[96], buf2[96];
    aa__req_text t;
    const char *got = aa__request_check(&r, buf, &t);
    if (want) {
        if (!got || strcmp(got, want) != 0)
            abort();
    } else {
        /* The fields are fine: metadata decides, as the byte-by-byte
         * check says (its own test compares it with the reference). */
        bool meta_ok = true;
        for (size_t i = 0; i < r.metadata_count; i++) {
            const aa_meta *m = &meta[i];
            if (m->key && !ref_utf8(m->key))
                meta_ok = false;
            if (m->type == AA_VALUE_STRING && m->string && !ref_utf8(m->string))
                meta_ok = false;
            if (m->type == AA_VALUE_LIST && items[0].string &&
                !ref_utf8(items[0].string))
                meta_ok = false;
        }
        const char *slow = aa__request_bad_utf8(&r, buf2);
        if ((got == NULL) != meta_ok || (got == NULL) != (slow == NULL) ||
            (got && strcmp(got, slow) != 0))
            abort();
    }
    for (int i = 0; i < 7; i++)
        if (t.len[i] != (str[i] ? strlen(str[i]) : 0))
            abort();
    if (t.agent_hash != aa__hash(str[0] ? str[0] : "", t.len[0]) ||
        t.action_hash != aa__hash(str[2] ? str[2] : "", t.len[2]) ||
        t.user_hash != aa__hash(str[1] ? str[1] : "", t.len[1]))
        abort();
    for (int i = 0; i < NSTR; i++)
        free(str[i]);
    return 0;
}
