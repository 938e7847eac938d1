/*
 * fuzz_request_parse.c - the batch request reader, differentially: every
 * line the fast scanner accepts must be accepted by jansson and
 * cli_request_from_json too, with exactly the same request (fields,
 * metadata keys, types and values). Lines it gives up on are read by that
 * slow path itself, so they need no second opinion.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void same_str(const char *a, const char *b) {
    if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    static cli_reqbuf rb;
    aa_request req;
    const char *id;
    size_t idlen;
    char msg[256];
    const char *bad = cli_request_parse(&rb, (const char *)data, size, &req,
                                        &id, &idlen, msg, sizeof msg);
    if (bad || !rb.fast)
        return 0;

    json_t *obj =
        json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!obj)
        abort(); /* the fast path accepted what JSON does not */
    aa_request slow = {0};
    aa_meta *meta = NULL;
    size_t cap = 0;
    if (cli_request_from_json(obj, &slow, &meta, &cap, msg, sizeof msg))
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
    if ((id != NULL) != (json_object_get(obj, "id") != NULL))
        abort();
    if (id) { /* the echoed id is the same JSON value */
        json_t *mine = json_loadb(id, idlen, JSON_DECODE_ANY, NULL);
        if (!mine || !json_equal(mine, json_object_get(obj, "id")))
            abort();
        json_decref(mine);
    }
    free(meta);
    json_decref(obj);
    return 0;
}
