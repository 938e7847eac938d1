/*
 * request_json.h - the request reader's internals (request_json.c): the
 * buffer behind the public aa_request_buf, and the reader of a request that
 * is already a jansson value, for callers inside the library that hold one
 * (the policy-test runner, a server reading an array of requests).
 */
#ifndef AA_REQUEST_JSON_H
#define AA_REQUEST_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "agent_auth.h"

typedef struct aa__keyslot {
    uint32_t gen; /* the line that wrote it; older slots are empty */
    uint32_t idx; /* index into meta */
} aa__keyslot;

struct aa_request_buf {
    char *scratch; /* decoded strings of the fast path, the id text */
    size_t cap;
    aa_meta *meta; /* the request's metadata entries */
    size_t metacap;
    aa_meta *items; /* the elements of every list value, in order */
    size_t itemcap;
    aa__keyslot *set; /* metadata keys seen on this line, by hash */
    size_t setcap;    /* power of two, or 0 */
    uint32_t gen;
    json_t *fallback; /* the slow path's parse: its strings are in it */
    const char *id;   /* the JSON text of "id", or NULL */
    size_t idlen;
    bool fast; /* the last request was read by the fast scanner */
};

/* Fills out from obj (a request object: the fields of aa_request, an
 * optional "id", nothing else), with the same checks and messages as
 * aa_request_from_json. Strings stay owned by obj, which must outlive
 * *out; metadata goes to buf. The id member is not copied (read it from
 * obj). AA_OK, or AA_EINVAL with a message naming the field. */
int aa__request_from_jansson(const json_t *obj, aa_request_buf *buf,
                             aa_request *out, aa_error *err);

/* For a reader of another format (a policy test's YAML request): room for
 * n metadata entries (NULL when out of memory), room for n list elements in
 * all, and, once every entry and element is written (lists take their
 * elements from the items in order), pointing each list at its elements.
 * The pointers returned stay valid until the next call with buf. */
aa_meta *aa__request_buf_meta(aa_request_buf *buf, size_t n);
aa_meta *aa__request_buf_items(aa_request_buf *buf, size_t n);
void aa__request_buf_link_lists(aa_request_buf *buf, size_t nmeta);

#endif /* AA_REQUEST_JSON_H */
