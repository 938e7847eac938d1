/*
 * yaml_json.c - reads a small YAML document (a policy test file) into
 * jansson values. Every mapping also gets a "__line__" member with the line
 * it starts on, so messages can point at a test case. Scalars stay strings
 * unless plain and spelled as a boolean, null or number.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "yaml_json.h"

#define MAX_DEPTH 64

static json_t *plain_scalar(const char *v, size_t len,
                            yaml_scalar_style_t style) {
    if (style != YAML_PLAIN_SCALAR_STYLE)
        return json_stringn(v, len);
    if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "yes"))
        return json_true();
    if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "no"))
        return json_false();
    if (!strcmp(v, "null") || !strcmp(v, "~") || len == 0)
        return json_null();
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (*v && !*end && !errno)
        return json_integer(n);
    double d = strtod(v, &end);
    if (*v && !*end &&
        (v[0] == '-' || v[0] == '.' || (v[0] >= '0' && v[0] <= '9')))
        return json_real(d);
    return json_stringn(v, len);
}

static json_t *parse_node(yaml_parser_t *p, yaml_event_t *ev, int depth,
                          char *msg, size_t msglen);

static json_t *fail(char *msg, size_t msglen, const yaml_mark_t *m,
                    const char *what) {
    snprintf(msg, msglen, "%zu:%zu: %s", m->line + 1, m->column + 1, what);
    return NULL;
}

static json_t *parse_node(yaml_parser_t *p, yaml_event_t *ev, int depth,
                          char *msg, size_t msglen) {
    if (depth > MAX_DEPTH)
        return fail(msg, msglen, &ev->start_mark, "nested too deeply");
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return plain_scalar((const char *)ev->data.scalar.value,
                            ev->data.scalar.length, ev->data.scalar.style);
    case YAML_ALIAS_EVENT:
        return fail(msg, msglen, &ev->start_mark,
                    "aliases are not supported in test files");
    case YAML_SEQUENCE_START_EVENT: {
        json_t *arr = json_array();
        for (;;) {
            yaml_event_t e;
            if (!yaml_parser_parse(p, &e)) {
                json_decref(arr);
                return fail(msg, msglen, &p->problem_mark,
                            p->problem ? p->problem : "syntax error");
            }
            if (e.type == YAML_SEQUENCE_END_EVENT) {
                yaml_event_delete(&e);
                return arr;
            }
            json_t *item = parse_node(p, &e, depth + 1, msg, msglen);
            yaml_event_delete(&e);
            if (!item) {
                json_decref(arr);
                return NULL;
            }
            json_array_append_new(arr, item);
        }
    }
    case YAML_MAPPING_START_EVENT: {
        json_t *obj = json_object();
        json_object_set_new(obj, "__line__",
                            json_integer((json_int_t)ev->start_mark.line + 1));
        for (;;) {
            yaml_event_t k;
            if (!yaml_parser_parse(p, &k)) {
                json_decref(obj);
                return fail(msg, msglen, &p->problem_mark,
                            p->problem ? p->problem : "syntax error");
            }
            if (k.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&k);
                return obj;
            }
            if (k.type != YAML_SCALAR_EVENT) {
                json_decref(obj);
                json_t *r = fail(msg, msglen, &k.start_mark,
                                 "mapping keys must be plain text");
                yaml_event_delete(&k);
                return r;
            }
            char *key = strdup((const char *)k.data.scalar.value);
            yaml_mark_t km = k.start_mark;
            yaml_event_delete(&k);
            if (json_object_get(obj, key)) {
                free(key);
                json_decref(obj);
                return fail(msg, msglen, &km, "duplicate key");
            }
            yaml_event_t v;
            if (!yaml_parser_parse(p, &v)) {
                free(key);
                json_decref(obj);
                return fail(msg, msglen, &p->problem_mark,
                            p->problem ? p->problem : "syntax error");
            }
            json_t *val = parse_node(p, &v, depth + 1, msg, msglen);
            yaml_event_delete(&v);
            if (!val) {
                free(key);
                json_decref(obj);
                return NULL;
            }
            json_object_set_new(obj, key, val);
            free(key);
        }
    }
    default:
        return fail(msg, msglen, &ev->start_mark, "unexpected YAML event");
    }
}

json_t *yaml_json_load(const char *path, char *msg, size_t msglen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, msglen, "cannot read '%s': %s", path, strerror(errno));
        return NULL;
    }
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    json_t *root = NULL;
    char inner[400] = "";
    bool done = false;
    while (!done) {
        yaml_event_t e;
        if (!yaml_parser_parse(&p, &e)) {
            snprintf(inner, sizeof inner, "%zu:%zu: %s",
                     p.problem_mark.line + 1, p.problem_mark.column + 1,
                     p.problem ? p.problem : "syntax error");
            json_decref(root);
            root = NULL;
            break;
        }
        switch (e.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
        case YAML_SCALAR_EVENT:
        case YAML_ALIAS_EVENT:
            if (root) { /* a second document: ignore */
                break;
            }
            root = parse_node(&p, &e, 0, inner, sizeof inner);
            if (!root)
                done = true;
            break;
        default:
            break;
        }
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&p);
    fclose(f);
    if (!root && inner[0])
        snprintf(msg, msglen, "%s:%s", path, inner);
    else if (!root)
        snprintf(msg, msglen, "%s: the file is empty", path);
    return root;
}
