/*
 * fuzz_request_parse.c - the request reader (aa_request_from_json),
 * differentially: every line its fast scanner accepts must be accepted by
 * jansson and aa__request_from_jansson too, with exactly the same request
 * (fields, metadata keys, types and values, list elements). Lines it gives
 * up on are read by that slow path itself, so they need no second opinion;
 * for those it checks that an error is one message.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "request_json.h"

static void same_str(const char *a, const char *b);
static void same_value(const aa_meta *a, const aa_meta *b) {
    if (a->type != b->type)
        abort();
    if (a->type == AA_VALUE_STRING)
        same_str(a->string, b->string);
    if (a->type == AA_VALUE_BOOL && a->boolean != b->boolean)
        abort();
    if (a->type == AA_VALUE_NUMBER &&
        memcmp(&a->number, &b->number, sizeof a->number) != 0)
        abort();
}

static void same_str(const char *a, const char *b) {
    if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    static aa_request_buf *rb, *rb2;
    static aa_error *err;
    if (!rb && !(rb = aa_request_buf_new()))
        abort();
    if (!rb2 && !(rb2 = aa_request_buf_new()))
        abort();
    if (!err && !(err = aa_error_new()))
        abort();
    aa_request req;
    int rc = aa_request_from_json((const char *)data, size, rb, &req, err);
    if (rc != AA_OK) {
        if (aa_error_count(err) != 1 || !*aa_error_get(err, 0)->message ||
            req.agent || req.metadata)
            abort(); /* one message, and nothing half-filled */
        aa_error_clear(err);
        return 0;
    }
    if (!req.agent || !*req.agent || !req.user || !*req.user || !req.action ||
        !*req.action)
        abort();
    if (!rb->fast)
        return 0;
    size_t idlen;
    const char *id = aa_request_buf_id(rb, &idlen);

    json_t *obj =
        json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!obj)
        abort(); /* the fast path accepted what JSON does not */
    aa_request slow;
    if (aa__request_from_jansson(obj, rb2, &slow, err) != AA_OK)
        abort();
    same_str(req.agent, slow.agent);
    same_str(req.user, slow.user);
    same_str(req.action, slow.action);
    same_str(req.resource, slow.resource);
    same_str(req.scope, slow.scope);
    same_str(req.session_id, slow.session_id);
    same_str(req.target_agent, slow.target_agent);
    if (req.metadata_count != slow.metadata_count)
        abort();
    for (size_t i = 0; i < req.metadata_count; i++) {
        const aa_meta *a = &req.metadata[i], *b = &slow.metadata[i];
        same_str(a->key, b->key);
        same_value(a, b);
        if (a->type == AA_VALUE_LIST) {
            if (a->count != b->count || (a->count && (!a->items || !b->items)))
                abort();
            for (size_t j = 0; j < a->count; j++)
                same_value(&a->items[j], &b->items[j]);
        }
    }
    if ((id != NULL) != (json_object_get(obj, "id") != NULL))
        abort();
    if (id) { /* the echoed id is the same JSON value */
        json_t *mine = json_loadb(id, idlen, JSON_DECODE_ANY, NULL);
        if (!mine || !json_equal(mine, json_object_get(obj, "id")))
            abort();
        json_decref(mine);
    }
    json_decref(obj);
    return 0;
}
