/*
 * _core.c - the CPython extension module agent_auth._core: a thin layer
 * over the public C API of libagentauth (include/agent_auth.h only).
 *
 * Objects:
 *   Policy(source, name, from_file, strict)  a loaded, immutable policy
 *   Engine(policy, store_path, audit_mode, user_permission)
 *   Expr(source, a2a, variables)            a standalone condition
 *
 * Every call that decides releases the GIL while the C engine works. Each
 * thread keeps its own aa_decision (a pthread key frees it when the thread
 * ends); a nested call on the same thread (a user permission callback that
 * decides again) gets a decision of its own.
 *
 * Requests are read from any object with the AuthRequest attributes. Bad
 * input (wrong types, invalid text, oversize values) raises TypeError or
 * ValueError naming the field; it never reaches the engine.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agent_auth.h"

/* Limits on request input (documented in docs/python.md). */
#define FIELD_MAX_BYTES 65536
#define META_MAX_KEYS   1024
#define META_MAX_LIST   4096
#define META_STACK      16

static PyObject *CoreError;     /* CoreError(status, name, messages) */
static PyObject *DecisionType;  /* agent_auth.types.AuthDecision */
static PyObject *ExplainedType; /* agent_auth.types.ExplainedDecision */
static PyObject *TierNames[3];
static PyObject *EmptyStr;
static PyObject *S_agent, *S_user, *S_action, *S_resource, *S_session_id,
    *S_scope, *S_target_agent, *S_metadata, *S_allowed, *S_tier, *S_reason,
    *S_requires_approval, *S_approval_policy, *S_evaluation_time_ms, *S_trace,
    *S_dict;

/* ---- errors -------------------------------------------------------------- */

static PyObject *messages_of(const aa_error *err, int severity) {
    PyObject *list = PyList_New(0);
    if (!list || !err)
        return list;
    for (size_t i = 0; i < aa_error_count(err); i++) {
        const aa_diag *d = aa_error_get(err, i);
        if (severity >= 0 && (int)d->severity != severity)
            continue;
        char buf[1024];
        int n = aa_diag_format(d, buf, sizeof buf);
        PyObject *s;
        if (n >= (int)sizeof buf) {
            char *big = malloc((size_t)n + 1);
            if (!big) {
                Py_DECREF(list);
                return PyErr_NoMemory();
            }
            aa_diag_format(d, big, (size_t)n + 1);
            s = PyUnicode_DecodeUTF8(big, n, "replace");
            free(big);
        } else {
            s = PyUnicode_DecodeUTF8(buf, n < 0 ? 0 : n, "replace");
        }
        if (!s || PyList_Append(list, s) < 0) {
            Py_XDECREF(s);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(s);
    }
    return list;
}

/* Raises CoreError(status, name, [messages]) and returns NULL. */
static PyObject *raise_status(int status, const aa_error *err) {
    PyObject *msgs = messages_of(err, AA_SEVERITY_ERROR);
    if (!msgs)
        return NULL;
    if (PyList_GET_SIZE(msgs) == 0) {
        PyObject *m = PyUnicode_FromString(aa_strerror(status));
        if (m) {
            PyList_Append(msgs, m);
            Py_DECREF(m);
        }
    }
    PyObject *args =
        Py_BuildValue("(isN)", status, aa_status_name(status), msgs);
    if (args) {
        PyErr_SetObject(CoreError, args);
        Py_DECREF(args);
    }
    return NULL;
}

/* ---- text in ------------------------------------------------------------- */

/* Why a str cannot be passed on (TEXT_OK when it can). */
enum { TEXT_OK, TEXT_INVALID, TEXT_LONG, TEXT_NUL };

/* UTF-8 of a str without raising: *why says what is wrong when NULL. */
static const char *text_raw(PyObject *obj, Py_ssize_t *len_out, int *why) {
    Py_ssize_t len;
    const char *s;
    if (PyUnicode_IS_COMPACT_ASCII(obj)) { /* the common case: no encoding */
        len = PyUnicode_GET_LENGTH(obj);
        s = (const char *)PyUnicode_DATA(obj);
    } else {
        s = PyUnicode_AsUTF8AndSize(obj, &len);
        if (!s) {
            PyErr_Clear();
            *why = TEXT_INVALID;
            return NULL;
        }
    }
    if (len > FIELD_MAX_BYTES) {
        *why = TEXT_LONG;
        *len_out = len;
        return NULL;
    }
    if (memchr(s, 0, (size_t)len)) {
        *why = TEXT_NUL;
        return NULL;
    }
    *why = TEXT_OK;
    *len_out = len;
    return s;
}

/* Raises the ValueError of a text_raw failure, naming `what` (a printf
 * format with its arguments). Returns NULL. */
static const char *text_error(int why, Py_ssize_t len, const char *fmt, ...) {
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (why == TEXT_INVALID)
        PyErr_Format(PyExc_ValueError,
                     "%s is not valid text (it holds a lone surrogate)", what);
    else if (why == TEXT_LONG)
        PyErr_Format(PyExc_ValueError, "%s is too long (%zd bytes; at most %d)",
                     what, len, FIELD_MAX_BYTES);
    else
        PyErr_Format(PyExc_ValueError, "%s contains a NUL character", what);
    return NULL;
}

/* UTF-8 of a str, or NULL with TypeError/ValueError naming `what`. None is
 * allowed (giving "") when `optional`. The pointer lives as long as obj. */
static const char *text_of(PyObject *obj, const char *what, int optional,
                           Py_ssize_t *len_out) {
    if (obj == Py_None && optional) {
        if (len_out)
            *len_out = 0;
        return "";
    }
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be a str%s, not %.100s", what,
                     optional ? " or None" : "", Py_TYPE(obj)->tp_name);
        return NULL;
    }
    Py_ssize_t len = 0;
    int why;
    const char *s = text_raw(obj, &len, &why);
    if (!s)
        return text_error(why, len, "%s", what);
    if (len_out)
        *len_out = len;
    return s;
}

/* ---- requests ------------------------------------------------------------ */

/* Slot offsets of the dataclasses (slots=True): the fields are read and
 * written directly for objects of exactly these types; anything else goes
 * through getattr/setattr. -1 when a field is not a slot. */
enum {
    R_AGENT,
    R_USER,
    R_ACTION,
    R_RESOURCE,
    R_SCOPE,
    R_SESSION,
    R_TARGET,
    R_METADATA,
    R_COUNT
};
enum {
    D_ALLOWED,
    D_TIER,
    D_REASON,
    D_REQUIRES,
    D_POLICY,
    D_TIME,
    D_TRACE,
    D_COUNT
};
static PyTypeObject *RequestType;
static Py_ssize_t RequestOff[R_COUNT];
static Py_ssize_t DecisionOff[D_COUNT], ExplainedOff[D_COUNT];

/* What converted requests borrow: references to the Python objects whose
 * text they point at, and the memory of their metadata. One holder serves
 * one request, or a whole batch. */
typedef struct holder {
    PyObject **refs;
    size_t nrefs, caprefs;
    PyObject *inline_refs[32];
    void **blocks;
    size_t nblocks, capblocks;
} holder;

static void holder_init(holder *h) {
    h->refs = h->inline_refs;
    h->nrefs = 0;
    h->caprefs = sizeof h->inline_refs / sizeof h->inline_refs[0];
    h->blocks = NULL;
    h->nblocks = h->capblocks = 0;
}

static void holder_release(holder *h) {
    for (size_t i = 0; i < h->nrefs; i++)
        Py_DECREF(h->refs[i]);
    if (h->refs != h->inline_refs)
        free(h->refs);
    for (size_t i = 0; i < h->nblocks; i++)
        free(h->blocks[i]);
    free(h->blocks);
    holder_init(h);
}

/* Keeps a new reference to o until the holder is released, so that the
 * text it lends stays valid while the GIL is released, whatever other
 * threads do to the request, dict or list it came from. */
static int hold(holder *h, PyObject *o) {
    if (h->nrefs == h->caprefs) {
        size_t cap = h->caprefs * 2;
        PyObject **n = malloc(cap * sizeof *n);
        if (!n) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(n, h->refs, h->nrefs * sizeof *n);
        if (h->refs != h->inline_refs)
            free(h->refs);
        h->refs = n;
        h->caprefs = cap;
    }
    h->refs[h->nrefs++] = Py_NewRef(o);
    return 0;
}

/* Zeroed memory freed with the holder; NULL with MemoryError. */
static void *holder_alloc(holder *h, size_t bytes) {
    if (h->nblocks == h->capblocks) {
        size_t cap = h->capblocks ? h->capblocks * 2 : 8;
        void **n = realloc(h->blocks, cap * sizeof *n);
        if (!n) {
            PyErr_NoMemory();
            return NULL;
        }
        h->blocks = n;
        h->capblocks = cap;
    }
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) {
        PyErr_NoMemory();
        return NULL;
    }
    h->blocks[h->nblocks++] = p;
    return p;
}

/* One request converted to C, with its own holder. */
typedef struct creq {
    aa_request req;
    holder h;
} creq;

static void creq_release(creq *c) {
    holder_release(&c->h);
}

/* One scalar into m; returns 0, or -1 with an exception naming
 * metadata['key'] (and [idx] for a list item, idx >= 0). The names are
 * formatted only when something is wrong. */
static int scalar_of(PyObject *v, aa_meta *m, const char *key, Py_ssize_t idx) {
    char where[32] = "";
    if (PyUnicode_Check(v)) {
        Py_ssize_t len = 0;
        int why;
        const char *s = text_raw(v, &len, &why);
        if (!s) {
            if (idx >= 0)
                snprintf(where, sizeof where, "[%zd]", idx);
            text_error(why, len, "metadata['%.100s']%s", key, where);
            return -1;
        }
        m->type = AA_VALUE_STRING;
        m->string = s;
        return 0;
    }
    if (v == Py_None) {
        m->type = AA_VALUE_NULL;
        return 0;
    }
    if (PyBool_Check(v)) {
        m->type = AA_VALUE_BOOL;
        m->boolean = v == Py_True;
        return 0;
    }
    if (idx >= 0)
        snprintf(where, sizeof where, "[%zd]", idx);
    if (PyLong_Check(v) || PyFloat_Check(v)) {
        double x = PyFloat_Check(v) ? PyFloat_AS_DOUBLE(v) : PyLong_AsDouble(v);
        if (x == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError,
                         "metadata['%s']%s: number out of range", key, where);
            return -1;
        }
        if (!isfinite(x)) {
            PyErr_Format(PyExc_ValueError,
                         "metadata['%s']%s: a number must be finite", key,
                         where);
            return -1;
        }
        m->type = AA_VALUE_NUMBER;
        m->number = x;
        return 0;
    }
    PyErr_Format(PyExc_TypeError,
                 "metadata['%s']%s must be a str, int, float, bool or "
                 "None%s, not %.100s",
                 key, where, idx >= 0 ? "" : " (or a list of those)",
                 Py_TYPE(v)->tp_name);
    return -1;
}

/* metadata (a dict) into c->meta, using buf (cap entries) when it fits.
 * Every key, value and list item is held (see hold()). */
static int metadata_of(aa_request *req, holder *h, PyObject *md, aa_meta *buf,
                       size_t cap) {
    if (md == Py_None || (PyDict_Check(md) && PyDict_GET_SIZE(md) == 0))
        return 0;
    if (!PyDict_Check(md)) {
        PyErr_Format(PyExc_TypeError, "metadata must be a dict, not %.100s",
                     Py_TYPE(md)->tp_name);
        return -1;
    }
    Py_ssize_t n = PyDict_GET_SIZE(md);
    if (n > META_MAX_KEYS) {
        PyErr_Format(PyExc_ValueError,
                     "metadata has too many keys (%zd; at most %d)", n,
                     META_MAX_KEYS);
        return -1;
    }
    aa_meta *meta = (size_t)n <= cap && buf
                        ? buf
                        : holder_alloc(h, (size_t)n * sizeof *meta);
    if (!meta)
        return -1;
    Py_ssize_t pos = 0, i = 0;
    PyObject *k, *v;
    /* Nothing below runs Python code, so the dict cannot change while it
     * is walked. */
    while (PyDict_Next(md, &pos, &k, &v) && i < n) {
        aa_meta *m = &meta[i];
        memset(m, 0, sizeof *m);
        if (!PyUnicode_Check(k)) {
            PyErr_Format(PyExc_TypeError,
                         "metadata keys must be str, not %.100s",
                         Py_TYPE(k)->tp_name);
            return -1;
        }
        const char *key = text_of(k, "a metadata key", 0, NULL);
        if (!key)
            return -1;
        if (!*key) {
            PyErr_SetString(PyExc_ValueError, "a metadata key is empty");
            return -1;
        }
        if (hold(h, k) < 0 || hold(h, v) < 0)
            return -1;
        m->key = key;
        if (PyList_Check(v) || PyTuple_Check(v)) {
            Py_ssize_t cnt = PySequence_Fast_GET_SIZE(v);
            if (cnt > META_MAX_LIST) {
                PyErr_Format(PyExc_ValueError,
                             "metadata['%s'] is too long (%zd items; at most "
                             "%d)",
                             key, cnt, META_MAX_LIST);
                return -1;
            }
            aa_meta *items = holder_alloc(h, (size_t)cnt * sizeof *items);
            if (!items)
                return -1;
            for (Py_ssize_t j = 0; j < cnt; j++) {
                PyObject *item = PySequence_Fast_GET_ITEM(v, j);
                if (hold(h, item) < 0 || scalar_of(item, &items[j], key, j) < 0)
                    return -1;
            }
            m->type = AA_VALUE_LIST;
            m->items = items;
            m->count = (size_t)cnt;
        } else if (scalar_of(v, m, key, -1) < 0) {
            return -1;
        }
        i++;
    }
    req->metadata = meta;
    req->metadata_count = (size_t)i;
    return 0;
}

static const char *const RequestNames[R_COUNT] = {
    "agent", "user",       "action",       "resource",
    "scope", "session_id", "target_agent", "metadata"};

/* Reads a request object into req, holding what it borrows in h
 * (metadata into buf, cap entries, when it fits). 0, or -1 with an
 * exception (h must be released either way). */
static int request_from(aa_request *req, holder *h, PyObject *obj, aa_meta *buf,
                        size_t cap) {
    memset(req, 0, sizeof *req);
    const char **dst[R_METADATA] = {
        &req->agent, &req->user,       &req->action,      &req->resource,
        &req->scope, &req->session_id, &req->target_agent};
    int fast = Py_TYPE(obj) == RequestType;
    for (int i = 0; i < R_COUNT; i++) {
        PyObject *v;
        if (fast) {
            v = *(PyObject **)((char *)obj + RequestOff[i]);
            if (v)
                Py_INCREF(v);
            else
                PyErr_SetString(PyExc_AttributeError, RequestNames[i]);
        } else {
            PyObject *keys[R_COUNT] = {S_agent,        S_user,    S_action,
                                       S_resource,     S_scope,   S_session_id,
                                       S_target_agent, S_metadata};
            v = PyObject_GetAttr(obj, keys[i]);
        }
        if (!v) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError))
                return -1;
            PyErr_Clear();
            if (i < 3) {
                PyErr_Format(PyExc_TypeError,
                             "request must be an AuthRequest (%.100s has no "
                             "'%s')",
                             Py_TYPE(obj)->tp_name, RequestNames[i]);
                return -1;
            }
            continue;
        }
        /* the reference moves into the holder */
        if (hold(h, v) < 0) {
            Py_DECREF(v);
            return -1;
        }
        Py_DECREF(v);
        if (i == R_METADATA)
            return metadata_of(req, h, v, buf, cap);
        const char *s = text_of(v, RequestNames[i], i >= 3, NULL);
        if (!s)
            return -1;
        *dst[i] = s;
    }
    return 0;
}

/* 0, or -1 with an exception and nothing held. */
static int creq_from(creq *c, PyObject *obj, aa_meta *buf, size_t cap) {
    holder_init(&c->h);
    if (request_from(&c->req, &c->h, obj, buf, cap) < 0) {
        creq_release(c);
        return -1;
    }
    return 0;
}

/* ---- decisions ----------------------------------------------------------- */

static pthread_key_t decision_key;

static void decision_destroy(void *p) {
    aa_decision_free(p);
}

/* The calling thread's decision; *own is set when the caller must free it
 * (a nested call while the thread's decision is in use). */
static __thread int decision_busy;

static aa_decision *decision_take(int *own) {
    *own = 0;
    if (decision_busy) {
        *own = 1;
        return aa_decision_new();
    }
    aa_decision *d = pthread_getspecific(decision_key);
    if (!d) {
        d = aa_decision_new();
        if (!d)
            return NULL;
        if (pthread_setspecific(decision_key, d) != 0) {
            *own = 1;
            return d;
        }
    }
    decision_busy = 1;
    return d;
}

static void decision_give(aa_decision *d, int own) {
    if (own)
        aa_decision_free(d);
    else
        decision_busy = 0;
}

/* Reasons repeat: a small cache of recent reason strings (guarded by the
 * GIL, like every use of it) saves decoding and allocating one per
 * decision. Direct-mapped by an FNV-1a hash of the text. */
#define REASON_CACHE         128
#define REASON_CACHE_MAX_LEN 512
static PyObject *ReasonCache[REASON_CACHE];

static PyObject *reason_str(const char *s, size_t n) {
    if (n > REASON_CACHE_MAX_LEN)
        return PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, "replace");
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    PyObject **slot = &ReasonCache[h % REASON_CACHE];
    if (*slot) {
        Py_ssize_t len;
        const char *u = PyUnicode_AsUTF8AndSize(*slot, &len);
        if (u && (size_t)len == n && memcmp(u, s, n) == 0)
            return Py_NewRef(*slot);
        PyErr_Clear();
    }
    PyObject *o = PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, "replace");
    if (o)
        Py_XSETREF(*slot, Py_NewRef(o));
    return o;
}

static int set_field_at(PyObject *obj, const Py_ssize_t *off, int i,
                        PyObject *name, PyObject *v) {
    if (off[i] >= 0) {
        PyObject **slot = (PyObject **)((char *)obj + off[i]);
        Py_XSETREF(*slot, v);
        return 0;
    }
    int rc = PyObject_GenericSetAttr(obj, name, v);
    Py_DECREF(v);
    return rc;
}

/* Makes an AuthDecision (or ExplainedDecision) from plain values without
 * running the dataclass's __init__ (the fields are set directly). */
static PyObject *decision_object(PyObject *type, int allowed, aa_tier tier,
                                 const char *reason, size_t reason_len,
                                 int requires_approval, const char *policy,
                                 double ms) {
    PyTypeObject *tp = (PyTypeObject *)type;
    const Py_ssize_t *off = type == ExplainedType ? ExplainedOff : DecisionOff;
    PyObject *obj = tp->tp_alloc(tp, 0);
    if (!obj)
        return NULL;
    PyObject *r =
        PyUnicode_DecodeUTF8(reason, (Py_ssize_t)reason_len, "replace");
    if (!r)
        goto fail;
    if (set_field_at(obj, off, D_REASON, S_reason, r) < 0)
        goto fail;
    PyObject *p =
        *policy ? reason_str(policy, strlen(policy)) : Py_NewRef(EmptyStr);
    if (!p || set_field_at(obj, off, D_POLICY, S_approval_policy, p) < 0)
        goto fail;
    PyObject *t = PyFloat_FromDouble(ms);
    if (!t || set_field_at(obj, off, D_TIME, S_evaluation_time_ms, t) < 0)
        goto fail;
    if (set_field_at(obj, off, D_ALLOWED, S_allowed,
                     Py_NewRef(allowed ? Py_True : Py_False)) < 0 ||
        set_field_at(obj, off, D_TIER, S_tier,
                     Py_NewRef(TierNames[(unsigned)tier < 3 ? tier : 0])) < 0 ||
        set_field_at(obj, off, D_REQUIRES, S_requires_approval,
                     Py_NewRef(requires_approval ? Py_True : Py_False)) < 0)
        goto fail;
    return obj;
fail:
    Py_DECREF(obj);
    return NULL;
}

static PyObject *decision_from(PyObject *type, const aa_decision *d) {
    const char *reason = aa_decision_reason(d);
    return decision_object(
        type, aa_decision_allowed(d), aa_decision_tier(d), reason,
        strlen(reason), aa_decision_requires_approval(d),
        aa_decision_approval_policy(d), aa_decision_time_ms(d));
}

/* ---- Policy -------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD aa_policy *policy;
    PyObject *warnings; /* list of str */
} PolicyObject;

static const char *no_env(void *ud, const char *name) {
    (void)ud;
    (void)name;
    return NULL;
}

static int Policy_init(PolicyObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"source", "name",        "from_file",
                             "strict", "environment", NULL};
    const char *src;
    Py_ssize_t len;
    const char *name = "<config>";
    int from_file = 0, strict = 0, env = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s#|zppp", kwlist, &src, &len,
                                     &name, &from_file, &strict, &env))
        return -1;
    if (self->policy) {
        PyErr_SetString(PyExc_RuntimeError, "Policy is already loaded");
        return -1;
    }
    aa_load_options opts = {.strict = strict};
    if (!env)
        opts.getenv_fn = no_env;
    aa_error *err = aa_error_new();
    if (!err) {
        PyErr_NoMemory();
        return -1;
    }
    aa_policy *p = NULL;
    int rc;
    char *srccopy = NULL;
    if (from_file) {
        Py_BEGIN_ALLOW_THREADS rc = aa_policy_load_file(src, &opts, &p, err);
        Py_END_ALLOW_THREADS
    } else {
        srccopy = malloc((size_t)len + 1);
        if (!srccopy) {
            aa_error_free(err);
            PyErr_NoMemory();
            return -1;
        }
        memcpy(srccopy, src, (size_t)len + 1);
        Py_BEGIN_ALLOW_THREADS rc = aa_policy_load_buffer(
            srccopy, (size_t)len, name ? name : "<config>", &opts, &p, err);
        Py_END_ALLOW_THREADS
    }
    free(srccopy);
    if (rc != AA_OK) {
        raise_status(rc, err);
        aa_error_free(err);
        return -1;
    }
    self->warnings = messages_of(err, AA_SEVERITY_WARNING);
    aa_error_free(err);
    if (!self->warnings) {
        aa_policy_free(p);
        return -1;
    }
    self->policy = p;
    return 0;
}

static void Policy_dealloc(PolicyObject *self) {
    aa_policy_free(self->policy);
    Py_XDECREF(self->warnings);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int policy_ready(PolicyObject *self) {
    if (!self->policy) {
        PyErr_SetString(PyExc_RuntimeError, "Policy is not loaded");
        return 0;
    }
    return 1;
}

static PyObject *Policy_describe(PolicyObject *self, PyObject *unused) {
    if (!policy_ready(self))
        return NULL;
    char *s = aa_policy_describe_json(self->policy);
    if (!s)
        return PyErr_NoMemory();
    PyObject *r = PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
    free(s);
    return r;
}

static PyObject *str_or_none(const char *s) {
    if (!s)
        Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

static PyObject *Policy_get(PolicyObject *self, void *which) {
    if (!policy_ready(self))
        return NULL;
    switch ((intptr_t)which) {
    case 0:
        return str_or_none(aa_policy_name(self->policy));
    case 1:
        return str_or_none(aa_policy_version(self->policy));
    case 2:
        return str_or_none(aa_policy_audit_path(self->policy));
    case 3:
        return str_or_none(aa_policy_state_path(self->policy));
    case 4:
        return PyBool_FromLong(aa_policy_audit_enabled(self->policy));
    case 5:
        return Py_NewRef(self->warnings);
    case 6:
        return Py_BuildValue(
            "{s:n,s:n,s:n,s:n}", "roles",
            (Py_ssize_t)aa_policy_role_count(self->policy), "profiles",
            (Py_ssize_t)aa_policy_profile_count(self->policy),
            "approval_policies",
            (Py_ssize_t)aa_policy_approval_count(self->policy), "a2a_policies",
            (Py_ssize_t)aa_policy_a2a_count(self->policy));
    }
    Py_RETURN_NONE;
}

static PyMethodDef Policy_methods[] = {
    {"describe", (PyCFunction)Policy_describe, METH_NOARGS,
     "describe() -> str: the loaded policy as JSON (aa_policy_describe_json)."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Policy_getset[] = {
    {"name", (getter)Policy_get, NULL, "metadata.name", (void *)0},
    {"version", (getter)Policy_get, NULL, "the policy version", (void *)1},
    {"audit_path", (getter)Policy_get, NULL, "audit.path", (void *)2},
    {"state_path", (getter)Policy_get, NULL, "the state store path", (void *)3},
    {"audit_enabled", (getter)Policy_get, NULL, "audit.enabled", (void *)4},
    {"warnings", (getter)Policy_get, NULL, "load warnings", (void *)5},
    {"counts", (getter)Policy_get, NULL, "numbers of rules", (void *)6},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject PolicyType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "agent_auth._core.Policy",
    .tp_basicsize = sizeof(PolicyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Policy(source, name='<config>', from_file=False, strict=False, "
              "environment=True): a loaded policy.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Policy_init,
    .tp_dealloc = (destructor)Policy_dealloc,
    .tp_methods = Policy_methods,
    .tp_getset = Policy_getset,
};

/* ---- Engine -------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD aa_engine *engine;
    aa_store *store;
    PyObject *policy;   /* PolicyObject, kept alive */
    PyObject *userperm; /* callable user -> collection of actions, or NULL */
} EngineObject;

/* The user permission callback: runs the Python provider with the GIL.
 * Any error counts as "does not hold" (fail closed) and is reported as an
 * unraisable exception. */
static int userperm_cb(void *ud, const char *user, const char *action) {
    PyGILState_STATE g = PyGILState_Ensure();
    int held = 0;
    PyObject *fn = ud;
    PyObject *res = PyObject_CallFunction(fn, "s", user);
    if (res) {
        PyObject *a = PyUnicode_FromString(action);
        if (a) {
            int r = PySequence_Contains(res, a);
            held = r == 1;
            Py_DECREF(a);
        }
        Py_DECREF(res);
    }
    if (PyErr_Occurred())
        PyErr_WriteUnraisable(fn);
    PyGILState_Release(g);
    return held;
}

static int Engine_init(EngineObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"policy",     "store_path",      "audit_mode",
                             "audit_path", "user_permission", NULL};
    PyObject *policy, *userperm = Py_None;
    const char *store_path = NULL, *audit_path = NULL;
    int audit_mode = AA_AUDIT_FROM_POLICY;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!|zizO", kwlist, &PolicyType,
                                     &policy, &store_path, &audit_mode,
                                     &audit_path, &userperm))
        return -1;
    if (self->engine) {
        PyErr_SetString(PyExc_RuntimeError, "Engine is already made");
        return -1;
    }
    PolicyObject *po = (PolicyObject *)policy;
    if (!policy_ready(po))
        return -1;
    if (userperm != Py_None && !PyCallable_Check(userperm)) {
        PyErr_SetString(PyExc_TypeError, "user_permission must be callable");
        return -1;
    }
    aa_error *err = aa_error_new();
    if (!err) {
        PyErr_NoMemory();
        return -1;
    }
    int rc = AA_OK;
    aa_store *store = NULL;
    if (store_path) {
        if (strcmp(store_path, ":memory:") == 0)
            rc = aa_store_open_memory(&store, err);
        else {
            /* a path, sqlite:PATH or a postgresql:// URL */
            aa_store_options so;
            aa_store_options_init(&so);
            so.policy = po->policy;
            /* the policy's own state path: let AGENT_AUTH_STATE_URL and
             * state.url choose, as the command does */
            if (strcmp(store_path, aa_policy_state_path(po->policy)) != 0)
                so.url = store_path;
            Py_BEGIN_ALLOW_THREADS rc = aa_store_open(&so, &store, err);
            Py_END_ALLOW_THREADS
        }
        if (rc != AA_OK) {
            raise_status(rc, err);
            aa_error_free(err);
            return -1;
        }
    }
    aa_engine_options opts = {.store = store,
                              .audit_mode = (aa_audit_mode)audit_mode,
                              .audit_path = audit_path};
    if (userperm != Py_None) {
        opts.user_permission = userperm_cb;
        opts.user_permission_userdata = userperm;
    }
    aa_engine *e = NULL;
    Py_BEGIN_ALLOW_THREADS rc = aa_engine_new(po->policy, &opts, &e, err);
    Py_END_ALLOW_THREADS if (rc != AA_OK) {
        raise_status(rc, err);
        aa_error_free(err);
        aa_store_free(store);
        return -1;
    }
    aa_error_free(err);
    self->engine = e;
    self->store = store;
    self->policy = Py_NewRef(policy);
    if (userperm != Py_None)
        self->userperm = Py_NewRef(userperm);
    return 0;
}

static void Engine_dealloc(EngineObject *self) {
    PyObject_GC_UnTrack(self);
    if (self->engine) {
        Py_BEGIN_ALLOW_THREADS aa_engine_free(self->engine);
        Py_END_ALLOW_THREADS
    }
    aa_store_free(self->store);
    Py_XDECREF(self->policy);
    Py_XDECREF(self->userperm);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Engine_traverse(EngineObject *self, visitproc visit, void *arg) {
    Py_VISIT(self->policy);
    Py_VISIT(self->userperm);
    return 0;
}

static int engine_ready(EngineObject *self) {
    if (!self->engine) {
        PyErr_SetString(PyExc_RuntimeError, "Engine is not made");
        return 0;
    }
    return 1;
}

static int decision_types_ready(void) {
    if (!DecisionType || !ExplainedType) {
        PyErr_SetString(PyExc_RuntimeError,
                        "agent_auth._core.set_types() was not called");
        return 0;
    }
    return 1;
}

/* The request of a decision call in c (metadata in mbuf, META_STACK
 * entries, when it fits); 0, or -1 with an exception and nothing held. */
static int engine_request(EngineObject *self, PyObject *request, creq *c,
                          aa_meta *mbuf) {
    if (!engine_ready(self) || !decision_types_ready())
        return -1;
    return creq_from(c, request, mbuf, META_STACK);
}

static PyObject *Engine_authorize(EngineObject *self, PyObject *request) {
    creq c;
    aa_meta mbuf[META_STACK];
    if (engine_request(self, request, &c, mbuf) < 0)
        return NULL;
    int own;
    aa_decision *d = decision_take(&own);
    if (!d) {
        creq_release(&c);
        return PyErr_NoMemory();
    }
    aa_decision_set_explain(d, 0);
    Py_BEGIN_ALLOW_THREADS aa_authorize(self->engine, &c.req, d);
    Py_END_ALLOW_THREADS PyObject *r = decision_from(DecisionType, d);
    decision_give(d, own);
    creq_release(&c);
    return r;
}

static PyObject *Engine_explain(EngineObject *self, PyObject *request) {
    creq c;
    aa_meta mbuf[META_STACK];
    if (engine_request(self, request, &c, mbuf) < 0)
        return NULL;
    aa_decision *d = aa_decision_new();
    if (!d) {
        creq_release(&c);
        return PyErr_NoMemory();
    }
    aa_decision_set_explain(d, 1);
    Py_BEGIN_ALLOW_THREADS aa_authorize(self->engine, &c.req, d);
    Py_END_ALLOW_THREADS creq_release(&c);
    PyObject *r = decision_from(ExplainedType, d);
    PyObject *trace = r ? PyList_New(0) : NULL;
    for (size_t i = 0; trace && i < aa_decision_trace_count(d); i++) {
        const aa_trace_step *s = aa_decision_trace_get(d, i);
        PyObject *t = Py_BuildValue("(ssi)", s->step, s->detail, s->outcome);
        if (!t || PyList_Append(trace, t) < 0) {
            Py_XDECREF(t);
            Py_CLEAR(trace);
            break;
        }
        Py_DECREF(t);
    }
    aa_decision_free(d);
    if (!trace || set_field_at(r, ExplainedOff, D_TRACE, S_trace, trace) < 0) {
        Py_XDECREF(r);
        return NULL;
    }
    return r;
}

/* Requests decided together by authorize_many. */
#define MANY_GROUP 64

/* One decision of a batch, copied out while the GIL is released. */
typedef struct bres {
    int allowed, requires_approval;
    aa_tier tier;
    double ms;
    size_t reason_off, reason_len, policy_off;
} bres;

static PyObject *Engine_authorize_many(EngineObject *self, PyObject *requests) {
    if (!engine_ready(self) || !decision_types_ready())
        return NULL;
    PyObject *seq = PySequence_Fast(requests, "requests must be a sequence");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject *out = NULL;
    aa_request *cs = malloc((n ? (size_t)n : 1) * sizeof *cs);
    bres *rs = malloc((n ? (size_t)n : 1) * sizeof *rs);
    holder h;
    holder_init(&h);
    if (!cs || !rs) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t ready = 0; ready < n; ready++) {
        if (request_from(&cs[ready], &h, PySequence_Fast_GET_ITEM(seq, ready),
                         NULL, 0) < 0) {
            /* name the request */
            PyObject *et, *ev, *tb;
            PyErr_Fetch(&et, &ev, &tb);
            PyErr_NormalizeException(&et, &ev, &tb);
            PyObject *msg = ev ? PyObject_Str(ev) : NULL;
            if (msg) {
                PyErr_Format(et, "requests[%zd]: %U", ready, msg);
                Py_DECREF(msg);
                Py_XDECREF(et);
                Py_XDECREF(ev);
                Py_XDECREF(tb);
            } else {
                PyErr_Restore(et, ev, tb);
            }
            goto done;
        }
    }
    {
        /* Decided MANY_GROUP at a time: each group's audit lines go out
         * with one lock and one write (aa_authorize_many). */
        aa_decision *ds[MANY_GROUP];
        size_t g = (size_t)n < MANY_GROUP ? (size_t)n : MANY_GROUP;
        size_t made = 0;
        while (made < g && (ds[made] = aa_decision_new()))
            made++;
        if (made < g) {
            while (made > 0)
                aa_decision_free(ds[--made]);
            PyErr_NoMemory();
            goto done;
        }
        char *text = NULL;
        size_t used = 0, cap = 0;
        int oom = 0;
        Py_BEGIN_ALLOW_THREADS for (size_t at = 0; at < (size_t)n && !oom;
                                    at += g) {
            size_t m = (size_t)n - at < g ? (size_t)n - at : g;
            aa_authorize_many(self->engine, &cs[at], m, ds);
            for (size_t k = 0; k < m && !oom; k++) {
                const aa_decision *d = ds[k];
                const char *reason = aa_decision_reason(d);
                const char *pol = aa_decision_approval_policy(d);
                size_t rl = strlen(reason), pl = strlen(pol);
                if (used + rl + pl + 2 > cap) {
                    size_t nc = cap ? cap * 2 : 4096;
                    while (nc < used + rl + pl + 2)
                        nc *= 2;
                    char *nt = realloc(text, nc);
                    if (!nt) {
                        oom = 1;
                        break;
                    }
                    text = nt;
                    cap = nc;
                }
                bres *b = &rs[at + k];
                b->allowed = aa_decision_allowed(d);
                b->requires_approval = aa_decision_requires_approval(d);
                b->tier = aa_decision_tier(d);
                b->ms = aa_decision_time_ms(d);
                b->reason_off = used;
                b->reason_len = rl;
                memcpy(text + used, reason, rl + 1);
                used += rl + 1;
                b->policy_off = used;
                memcpy(text + used, pol, pl + 1);
                used += pl + 1;
            }
        }
        Py_END_ALLOW_THREADS for (size_t k = 0; k < g; k++)
            aa_decision_free(ds[k]);
        if (oom) {
            free(text);
            PyErr_NoMemory();
            goto done;
        }
        out = PyList_New(n);
        for (Py_ssize_t i = 0; out && i < n; i++) {
            bres *b = &rs[i];
            PyObject *o = decision_object(DecisionType, b->allowed, b->tier,
                                          text + b->reason_off, b->reason_len,
                                          b->requires_approval,
                                          text + b->policy_off, b->ms);
            if (!o) {
                Py_CLEAR(out);
            } else {
                /* A batch's decisions hold only str, bool and float: the
                 * cycle collector need not walk them (as for tuples of
                 * atomic values); see authorize_many's documentation. */
                if (PyObject_GC_IsTracked(o))
                    PyObject_GC_UnTrack(o);
                PyList_SET_ITEM(out, i, o);
            }
        }
        free(text);
    }
done:
    holder_release(&h);
    free(cs);
    free(rs);
    Py_DECREF(seq);
    return out;
}

/* ---- sessions and delegations -------------------------------------------- */

static PyObject *time_str(int64_t us) {
    char buf[33];
    aa_format_time(us, buf);
    return PyUnicode_FromString(buf);
}

static PyObject *session_tuple(const void *p) {
    const aa_session *s = p;
    return Py_BuildValue("(ssssNNs)", s->session_id, s->agent, s->user,
                         s->scope ? s->scope : "", time_str(s->created_at),
                         time_str(s->expires_at),
                         aa_grant_status_name(s->status));
}

static PyObject *delegation_tuple(const void *p) {
    const aa_delegation *d = p;
    PyObject *acts = PyList_New((Py_ssize_t)d->action_count);
    if (!acts)
        return NULL;
    for (size_t i = 0; i < d->action_count; i++) {
        PyObject *a = PyUnicode_FromString(d->actions[i]);
        if (!a) {
            Py_DECREF(acts);
            return NULL;
        }
        PyList_SET_ITEM(acts, (Py_ssize_t)i, a);
    }
    return Py_BuildValue("(sssNNNss)", d->delegation_id, d->from_user,
                         d->to_agent, acts, time_str(d->granted_at),
                         time_str(d->expires_at), d->reason ? d->reason : "",
                         aa_grant_status_name(d->status));
}

/* A list of tuple(items[i]) for n items of size bytes; NULL with an
 * exception. */
static PyObject *tuple_list(const void *items, size_t n, size_t size,
                            PyObject *(*tuple)(const void *)) {
    PyObject *r = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; r && i < n; i++) {
        PyObject *t = tuple((const char *)items + i * size);
        if (!t)
            Py_CLEAR(r);
        else
            PyList_SET_ITEM(r, (Py_ssize_t)i, t);
    }
    return r;
}

/* An optional text argument: *out is NULL for None; 0, or -1 with an
 * exception naming what. */
static int optional_text(PyObject *o, const char *what, const char **out) {
    *out = o == Py_None ? NULL : text_of(o, what, 0, NULL);
    return o != Py_None && !*out ? -1 : 0;
}

static int64_t duration_of(PyObject *o, int *bad) {
    *bad = 0;
    if (o == Py_None)
        return AA_DURATION_DEFAULT;
    if (PyBool_Check(o) || !PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError,
                     "duration must be an int or None, not %.100s",
                     Py_TYPE(o)->tp_name);
        *bad = 1;
        return 0;
    }
    long long v = PyLong_AsLongLong(o);
    if (v == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "duration is out of range");
        *bad = 1;
        return 0;
    }
    if (v < 1) {
        PyErr_Format(PyExc_ValueError,
                     "duration must be at least 1 second (got %lld)", v);
        *bad = 1;
        return 0;
    }
    return (int64_t)v;
}

#define WITH_ERR(...)                                                          \
    aa_error *err = aa_error_new();                                            \
    if (!err)                                                                  \
        return PyErr_NoMemory();                                               \
    __VA_ARGS__;                                                               \
    aa_error_free(err);

static PyObject *Engine_session_create(EngineObject *self, PyObject *args) {
    PyObject *ao, *uo, *so, *dobj;
    if (!engine_ready(self) ||
        !PyArg_ParseTuple(args, "OOOO", &ao, &uo, &so, &dobj))
        return NULL;
    const char *agent = text_of(ao, "agent", 0, NULL);
    const char *user = agent ? text_of(uo, "user", 0, NULL) : NULL;
    const char *scope = user ? text_of(so, "scope", 1, NULL) : NULL;
    if (!scope)
        return NULL;
    int bad;
    int64_t dur = duration_of(dobj, &bad);
    if (bad)
        return NULL;
    PyObject *r = NULL;
    WITH_ERR({
        aa_session s;
        int rc;
        Py_BEGIN_ALLOW_THREADS rc =
            aa_session_create(self->engine, agent, user, scope, dur, &s, err);
        Py_END_ALLOW_THREADS if (rc != AA_OK) raise_status(rc, err);
        else {
            r = session_tuple(&s);
            aa_session_clear(&s);
        }
    })
    return r;
}

static PyObject *Engine_session_validate(EngineObject *self, PyObject *arg) {
    if (!engine_ready(self))
        return NULL;
    const char *id = text_of(arg, "session_id", 0, NULL);
    if (!id)
        return NULL;
    PyObject *r = NULL;
    WITH_ERR({
        aa_session s;
        memset(&s, 0, sizeof s);
        int valid = 0, rc;
        Py_BEGIN_ALLOW_THREADS rc =
            aa_session_validate(self->engine, id, &valid, &s, err);
        Py_END_ALLOW_THREADS if (rc == AA_ENOTFOUND || (rc == AA_OK && !valid))
            r = Py_NewRef(Py_None);
        else if (rc != AA_OK) raise_status(rc, err);
        else r = session_tuple(&s);
        if (rc == AA_OK)
            aa_session_clear(&s);
    })
    return r;
}

typedef int (*revoke_fn)(aa_engine *, const char *, int *, aa_error *);

static PyObject *revoke_common(EngineObject *self, PyObject *arg, revoke_fn fn,
                               const char *what) {
    if (!engine_ready(self))
        return NULL;
    const char *id = text_of(arg, what, 0, NULL);
    if (!id)
        return NULL;
    PyObject *r = NULL;
    WITH_ERR({
        int done = 0, rc;
        Py_BEGIN_ALLOW_THREADS rc = fn(self->engine, id, &done, err);
        Py_END_ALLOW_THREADS if (rc == AA_ENOTFOUND) r = Py_NewRef(Py_False);
        else if (rc != AA_OK) raise_status(rc, err);
        else r = PyBool_FromLong(done);
    })
    return r;
}

static PyObject *Engine_session_revoke(EngineObject *self, PyObject *arg) {
    return revoke_common(self, arg, aa_session_revoke, "session_id");
}

static PyObject *Engine_delegation_revoke(EngineObject *self, PyObject *arg) {
    return revoke_common(self, arg, aa_delegation_revoke, "delegation_id");
}

static PyObject *Engine_session_list(EngineObject *self, PyObject *args) {
    PyObject *ao = Py_None, *uo = Py_None;
    if (!engine_ready(self) || !PyArg_ParseTuple(args, "|OO", &ao, &uo))
        return NULL;
    const char *agent, *user;
    if (optional_text(ao, "agent", &agent) < 0 ||
        optional_text(uo, "user", &user) < 0)
        return NULL;
    PyObject *r = NULL;
    WITH_ERR({
        aa_session *list = NULL;
        size_t n = 0;
        int rc;
        Py_BEGIN_ALLOW_THREADS rc =
            aa_session_list(self->engine, agent, user, &list, &n, err);
        Py_END_ALLOW_THREADS if (rc != AA_OK) raise_status(rc, err);
        else {
            r = tuple_list(list, n, sizeof *list, session_tuple);
            aa_session_list_free(list, n);
        }
    })
    return r;
}

static PyObject *Engine_delegation_create(EngineObject *self, PyObject *args) {
    PyObject *fo, *to, *acts, *dobj, *ro;
    if (!engine_ready(self) ||
        !PyArg_ParseTuple(args, "OOOOO", &fo, &to, &acts, &dobj, &ro))
        return NULL;
    const char *from = text_of(fo, "from_user", 0, NULL);
    const char *agent = from ? text_of(to, "to_agent", 0, NULL) : NULL;
    const char *reason = agent ? text_of(ro, "reason", 1, NULL) : NULL;
    if (!reason)
        return NULL;
    if (PyUnicode_Check(acts)) {
        PyErr_SetString(PyExc_TypeError,
                        "actions must be a list of str, not a str");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(acts, "actions must be a list of str");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    const char **arr = calloc(n ? (size_t)n : 1, sizeof *arr);
    if (!arr) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        char what[40];
        snprintf(what, sizeof what, "actions[%zd]", i);
        arr[i] = text_of(PySequence_Fast_GET_ITEM(seq, i), what, 0, NULL);
        if (!arr[i]) {
            free(arr);
            Py_DECREF(seq);
            return NULL;
        }
    }
    int bad;
    int64_t dur = duration_of(dobj, &bad);
    PyObject *r = NULL;
    if (!bad) {
        aa_error *err = aa_error_new();
        if (!err)
            r = PyErr_NoMemory();
        else {
            aa_delegation g;
            int rc;
            Py_BEGIN_ALLOW_THREADS rc =
                aa_delegation_create(self->engine, from, agent, arr, (size_t)n,
                                     dur, *reason ? reason : NULL, &g, err);
            Py_END_ALLOW_THREADS if (rc != AA_OK) raise_status(rc, err);
            else {
                r = delegation_tuple(&g);
                aa_delegation_clear(&g);
            }
            aa_error_free(err);
        }
    }
    free(arr);
    Py_DECREF(seq);
    return r;
}

static PyObject *Engine_delegation_list(EngineObject *self, PyObject *args) {
    PyObject *ao = Py_None;
    if (!engine_ready(self) || !PyArg_ParseTuple(args, "|O", &ao))
        return NULL;
    const char *agent;
    if (optional_text(ao, "agent", &agent) < 0)
        return NULL;
    PyObject *r = NULL;
    WITH_ERR({
        aa_delegation *list = NULL;
        size_t n = 0;
        int rc;
        Py_BEGIN_ALLOW_THREADS rc =
            aa_delegation_list(self->engine, agent, &list, &n, err);
        Py_END_ALLOW_THREADS if (rc != AA_OK) raise_status(rc, err);
        else {
            r = tuple_list(list, n, sizeof *list, delegation_tuple);
            aa_delegation_list_free(list, n);
        }
    })
    return r;
}

static PyObject *Engine_state_cleanup(EngineObject *self, PyObject *args) {
    long long retention = 0;
    if (!engine_ready(self) || !PyArg_ParseTuple(args, "|L", &retention))
        return NULL;
    PyObject *r = NULL;
    WITH_ERR({
        size_t marked = 0, purged = 0;
        int rc;
        Py_BEGIN_ALLOW_THREADS rc = aa_state_cleanup(
            self->engine, (int64_t)retention, &marked, &purged, err);
        Py_END_ALLOW_THREADS if (rc != AA_OK) raise_status(rc, err);
        else r = Py_BuildValue("(nn)", (Py_ssize_t)marked, (Py_ssize_t)purged);
    })
    return r;
}

static PyObject *Engine_get_policy(EngineObject *self, void *unused) {
    if (!engine_ready(self))
        return NULL;
    return Py_NewRef(self->policy);
}

static PyMethodDef Engine_methods[] = {
    {"authorize", (PyCFunction)Engine_authorize, METH_O,
     "authorize(request) -> AuthDecision"},
    {"explain", (PyCFunction)Engine_explain, METH_O,
     "explain(request) -> ExplainedDecision"},
    {"authorize_many", (PyCFunction)Engine_authorize_many, METH_O,
     "authorize_many(requests) -> list[AuthDecision]"},
    {"session_create", (PyCFunction)Engine_session_create, METH_VARARGS,
     "session_create(agent, user, scope, duration) -> tuple"},
    {"session_validate", (PyCFunction)Engine_session_validate, METH_O,
     "session_validate(id) -> tuple | None"},
    {"session_revoke", (PyCFunction)Engine_session_revoke, METH_O,
     "session_revoke(id) -> bool"},
    {"session_list", (PyCFunction)Engine_session_list, METH_VARARGS,
     "session_list(agent=None, user=None) -> list[tuple]"},
    {"delegation_create", (PyCFunction)Engine_delegation_create, METH_VARARGS,
     "delegation_create(from_user, to_agent, actions, duration, reason) -> "
     "tuple"},
    {"delegation_revoke", (PyCFunction)Engine_delegation_revoke, METH_O,
     "delegation_revoke(id) -> bool"},
    {"delegation_list", (PyCFunction)Engine_delegation_list, METH_VARARGS,
     "delegation_list(agent=None) -> list[tuple]"},
    {"state_cleanup", (PyCFunction)Engine_state_cleanup, METH_VARARGS,
     "state_cleanup(retention_s=0) -> (marked, purged)"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Engine_getset[] = {
    {"policy", (getter)Engine_get_policy, NULL, "the Policy", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject EngineType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "agent_auth._core.Engine",
    .tp_basicsize = sizeof(EngineObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Engine(policy, store_path=None, audit_mode=0, audit_path=None, "
              "user_permission=None)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Engine_init,
    .tp_dealloc = (destructor)Engine_dealloc,
    .tp_traverse = (traverseproc)Engine_traverse,
    .tp_methods = Engine_methods,
    .tp_getset = Engine_getset,
};

/* ---- module -------------------------------------------------------------- */

/* The slot offset of attribute `name` of `type`, or -1 when it is not a
 * plain object slot. */
static Py_ssize_t slot_offset(PyObject *type, PyObject *name) {
    PyObject *d = PyObject_GetAttr(type, name);
    Py_ssize_t off = -1;
    if (!d) {
        PyErr_Clear();
        return -1;
    }
    if (Py_IS_TYPE(d, &PyMemberDescr_Type)) {
        PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
        if (m->type == T_OBJECT_EX && !(m->flags & READONLY))
            off = m->offset;
    }
    Py_DECREF(d);
    return off;
}

static PyObject *mod_set_types(PyObject *m, PyObject *args) {
    PyObject *dt, *et, *rt = NULL;
    if (!PyArg_ParseTuple(args, "O!O!|O!", &PyType_Type, &dt, &PyType_Type, &et,
                          &PyType_Type, &rt))
        return NULL;
    if (!PyType_IsSubtype((PyTypeObject *)et, (PyTypeObject *)dt)) {
        PyErr_SetString(PyExc_TypeError,
                        "ExplainedDecision must subclass AuthDecision");
        return NULL;
    }
    PyObject *dnames[D_COUNT] = {S_allowed,
                                 S_tier,
                                 S_reason,
                                 S_requires_approval,
                                 S_approval_policy,
                                 S_evaluation_time_ms,
                                 S_trace};
    for (int i = 0; i < D_COUNT; i++) {
        DecisionOff[i] = i == D_TRACE ? -1 : slot_offset(dt, dnames[i]);
        ExplainedOff[i] = slot_offset(et, dnames[i]);
    }
    Py_XSETREF(DecisionType, Py_NewRef(dt));
    Py_XSETREF(ExplainedType, Py_NewRef(et));
    if (rt) {
        PyObject *rnames[R_COUNT] = {S_agent,        S_user,    S_action,
                                     S_resource,     S_scope,   S_session_id,
                                     S_target_agent, S_metadata};
        int all = 1;
        for (int i = 0; i < R_COUNT; i++) {
            RequestOff[i] = slot_offset(rt, rnames[i]);
            all &= RequestOff[i] >= 0;
        }
        Py_XSETREF(RequestType, all ? (PyTypeObject *)Py_NewRef(rt) : NULL);
    }
    Py_RETURN_NONE;
}

static PyObject *mod_version(PyObject *m, PyObject *unused) {
    return PyUnicode_FromString(aa_version());
}

static PyObject *mod_check_request(PyObject *m, PyObject *request) {
    creq c;
    aa_meta mbuf[META_STACK];
    if (creq_from(&c, request, mbuf, META_STACK) < 0)
        return NULL;
    creq_release(&c);
    Py_RETURN_NONE;
}

static PyObject *mod_format_time(PyObject *m, PyObject *arg) {
    long long us = PyLong_AsLongLong(arg);
    if (us == -1 && PyErr_Occurred())
        return NULL;
    return time_str((int64_t)us);
}

static PyObject *mod_parse_time(PyObject *m, PyObject *arg) {
    const char *s = text_of(arg, "time", 0, NULL);
    if (!s)
        return NULL;
    int64_t us;
    if (aa_parse_time(s, &us) != AA_OK) {
        PyErr_Format(PyExc_ValueError, "not an ISO 8601 time: '%s'", s);
        return NULL;
    }
    return PyLong_FromLongLong((long long)us);
}

static PyObject *mod_now(PyObject *m, PyObject *unused) {
    return PyLong_FromLongLong((long long)aa_now());
}

/* audit_read(path, since, agent, user, action, event, allowed, limit)
 * -> (list of JSON lines, skipped) */
typedef struct {
    PyObject *list;
    int failed;
} read_ctx;

static int read_cb(void *ud, const char *line, size_t len) {
    read_ctx *c = ud;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *s = PyUnicode_DecodeUTF8(line, (Py_ssize_t)len, "replace");
    if (!s || PyList_Append(c->list, s) < 0) {
        PyErr_Clear();
        c->failed = 1;
    }
    Py_XDECREF(s);
    PyGILState_Release(g);
    return c->failed;
}

static PyObject *mod_audit_read(PyObject *m, PyObject *args) {
    const char *path, *since, *agent, *user, *action, *event;
    int allowed;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "szzzzzin", &path, &since, &agent, &user,
                          &action, &event, &allowed, &limit))
        return NULL;
    aa_audit_filter f = {.since = since,
                         .agent = agent,
                         .user = user,
                         .action = action,
                         .event = event,
                         .allowed = (aa_audit_which)allowed,
                         .limit = limit < 0 ? 0 : (size_t)limit};
    read_ctx c = {PyList_New(0), 0};
    if (!c.list)
        return NULL;
    PyObject *r = NULL;
    WITH_ERR({
        size_t matched = 0, skipped = 0;
        int rc;
        Py_BEGIN_ALLOW_THREADS rc =
            aa_audit_read(path, &f, read_cb, &c, &matched, &skipped, err);
        Py_END_ALLOW_THREADS if (c.failed) PyErr_NoMemory();
        else if (rc != AA_OK) raise_status(rc, err);
        else r = Py_BuildValue("(On)", c.list, (Py_ssize_t)skipped);
    })
    Py_DECREF(c.list);
    return r;
}

/* audit_verify(path, policy=None, state=None, require_record=False): the
 * chain of the log at path, and the head a PostgreSQL state recorded for
 * it (audit anchoring), as `agent-auth audit --verify` checks them. The
 * state is `state` (a path, sqlite:PATH or postgresql:// URL), else
 * AGENT_AUTH_STATE_URL, else the policy's, as for an engine over that
 * policy; a SQLite state records no heads and is not opened. */
static PyObject *mod_audit_verify(PyObject *m, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"path", "policy", "state", "require_record", NULL};
    const char *path, *state = NULL;
    PyObject *policy = Py_None;
    int require = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|Ozp", kwlist, &path, &policy,
                                     &state, &require))
        return NULL;
    PolicyObject *po = NULL;
    if (policy != Py_None) {
        if (!PyObject_TypeCheck(policy, &PolicyType)) {
            PyErr_SetString(PyExc_TypeError, "policy must be a Policy");
            return NULL;
        }
        po = (PolicyObject *)policy;
        if (!policy_ready(po))
            return NULL;
    }
    PyObject *r = NULL;
    WITH_ERR({
        aa_store_options so;
        aa_store_options_init(&so);
        so.policy = po ? po->policy : NULL;
        so.url = state;
        aa_store *store = NULL;
        aa_audit_anchor_info rec;
        memset(&rec, 0, sizeof rec);
        aa_audit_verify_options opts = {
            .size = sizeof opts, .require_record = require, .recorded = &rec};
        aa_audit_verify_result res;
        memset(&res, 0, sizeof res);
        int rc;
        Py_BEGIN_ALLOW_THREADS rc = aa_store_open_anchoring(&so, &store, err);
        if (rc == AA_OK) {
            opts.store = store;
            rc = aa_audit_verify_chain(path, &opts, &res, err);
            aa_store_free(store);
        }
        Py_END_ALLOW_THREADS if (rc == AA_OK || rc == AA_ETAMPER) {
            PyObject *msgs = messages_of(err, -1);
            PyObject *recorded =
                rec.recorded
                    ? Py_BuildValue("{s:n,s:s}", "lines", (Py_ssize_t)rec.lines,
                                    "head", rec.head)
                    : Py_NewRef(Py_None);
            if (msgs && recorded)
                r = Py_BuildValue("(OnnNN)", rc == AA_OK ? Py_True : Py_False,
                                  (Py_ssize_t)res.lines,
                                  (Py_ssize_t)res.bad_line, msgs, recorded);
            else {
                Py_XDECREF(msgs);
                Py_XDECREF(recorded);
            }
        }
        else raise_status(rc, err);
    })
    return r;
}

/* ---- standalone conditions ----------------------------------------------- */

typedef struct {
    PyObject_HEAD aa_expr *expr;
} ExprObject;

/* CoreError(status, name, message, column) of a condition's first
 * diagnostic. */
static void raise_expr_error(int rc, const aa_error *err) {
    const aa_diag *d = aa_error_get(err, 0);
    PyObject *a =
        Py_BuildValue("(isNi)", rc, aa_status_name(rc),
                      PyUnicode_FromString(d ? d->message : aa_strerror(rc)),
                      d ? d->column : 0);
    if (a) {
        PyErr_SetObject(CoreError, a);
        Py_DECREF(a);
    }
}

/* variables: None (syntax check: every $name reads null) or a dict. */
static int Expr_init(ExprObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"source", "a2a", "variables", NULL};
    PyObject *srco, *vars = Py_None;
    int a2a = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|pO", kwlist, &srco, &a2a,
                                     &vars))
        return -1;
    if (self->expr) {
        PyErr_SetString(PyExc_RuntimeError, "Expr is already compiled");
        return -1;
    }
    if (!PyUnicode_Check(srco)) {
        PyErr_Format(PyExc_TypeError, "source must be a str, not %.100s",
                     Py_TYPE(srco)->tp_name);
        return -1;
    }
    Py_ssize_t len;
    const char *src = PyUnicode_AsUTF8AndSize(srco, &len);
    if (!src) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "source is not valid text");
        return -1;
    }
    if ((Py_ssize_t)strlen(src) != len) {
        PyErr_SetString(PyExc_ValueError, "source contains a NUL character");
        return -1;
    }
    creq c;
    memset(&c.req, 0, sizeof c.req);
    holder_init(&c.h);
    if (vars != Py_None && metadata_of(&c.req, &c.h, vars, NULL, 0) < 0) {
        creq_release(&c);
        return -1;
    }
    static const aa_meta none[1];
    aa_error *err = aa_error_new();
    if (!err) {
        creq_release(&c);
        PyErr_NoMemory();
        return -1;
    }
    aa_expr *e = NULL;
    int rc = aa_expr_compile(src, a2a ? AA_EXPR_A2A : AA_EXPR_APPROVAL,
                             vars == Py_None  ? NULL
                             : c.req.metadata ? c.req.metadata
                                              : none,
                             c.req.metadata_count, &e, err);
    creq_release(&c);
    if (rc != AA_OK) {
        raise_expr_error(rc, err);
        aa_error_free(err);
        return -1;
    }
    aa_error_free(err);
    self->expr = e;
    return 0;
}

static void Expr_dealloc(ExprObject *self) {
    aa_expr_free(self->expr);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

typedef struct {
    PyObject *matchers;
    int failed;
} expr_match_ctx;

/* Runs matchers[name].match(value, name) (or matchers[name](value)). */
static int expr_matcher(void *ud, const char *name, const char *value,
                        int *result) {
    expr_match_ctx *m = ud;
    *result = 0;
    if (!m->matchers || m->matchers == Py_None)
        return AA_ENOTFOUND;
    PyObject *fn = PyMapping_GetItemString(m->matchers, name);
    if (!fn) {
        PyErr_Clear();
        return AA_ENOTFOUND;
    }
    PyObject *r;
    if (PyObject_HasAttrString(fn, "match"))
        r = PyObject_CallMethod(fn, "match", "zs", value, name);
    else
        r = PyObject_CallFunction(fn, "z", value);
    Py_DECREF(fn);
    if (!r) {
        m->failed = 1;
        return AA_EEVAL;
    }
    int t = PyObject_IsTrue(r);
    Py_DECREF(r);
    if (t < 0) {
        m->failed = 1;
        return AA_EEVAL;
    }
    *result = t;
    return AA_OK;
}

/* evaluate(request, matchers=None) -> bool; CoreError(status, name,
 * message, column) when it cannot be evaluated. The GIL is held (the
 * matchers are Python code). */
static PyObject *Expr_evaluate(ExprObject *self, PyObject *args) {
    PyObject *req, *matchers = Py_None;
    if (!PyArg_ParseTuple(args, "O|O", &req, &matchers))
        return NULL;
    creq c;
    aa_meta mbuf[META_STACK];
    if (creq_from(&c, req, mbuf, META_STACK) < 0)
        return NULL;
    aa_error *err = aa_error_new();
    if (!err) {
        creq_release(&c);
        return PyErr_NoMemory();
    }
    expr_match_ctx mc = {matchers, 0};
    int result = 0;
    int rc = aa_expr_eval(self->expr, &c.req, expr_matcher, &mc, &result, err);
    creq_release(&c);
    PyObject *out = NULL;
    if (mc.failed && PyErr_Occurred()) {
        /* the matcher raised: that exception, the condition is unusable */
    } else if (rc != AA_OK) {
        PyErr_Clear();
        raise_expr_error(rc, err);
    } else {
        out = PyBool_FromLong(result);
    }
    aa_error_free(err);
    return out;
}

static PyMethodDef Expr_methods[] = {
    {"evaluate", (PyCFunction)Expr_evaluate, METH_VARARGS,
     "evaluate(request, matchers=None) -> bool"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject ExprType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "agent_auth._core.Expr",
    .tp_basicsize = sizeof(ExprObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Expr(source, a2a=False, variables=None): a compiled condition",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Expr_init,
    .tp_dealloc = (destructor)Expr_dealloc,
    .tp_methods = Expr_methods,
};

/* audit_append(path, request, allowed, tier, reason, requires_approval,
 *              approval_policy, ms, config_name, config_version) */
static PyObject *mod_audit_append(PyObject *m, PyObject *args) {
    const char *path, *tier, *reason, *policy, *cname, *cver;
    PyObject *req;
    int allowed, requires;
    double ms;
    if (!PyArg_ParseTuple(args, "sOpsspsdss", &path, &req, &allowed, &tier,
                          &reason, &requires, &policy, &ms, &cname, &cver))
        return NULL;
    aa_tier t;
    if (aa_tier_parse(tier, &t) != AA_OK) {
        PyErr_Format(PyExc_ValueError,
                     "tier must be autonomous, soft or "
                     "strong, not '%s'",
                     tier);
        return NULL;
    }
    creq c;
    aa_meta mbuf[META_STACK];
    if (creq_from(&c, req, mbuf, META_STACK) < 0)
        return NULL;
    aa_audit_record rec = {.allowed = allowed,
                           .tier = t,
                           .reason = reason,
                           .requires_approval = requires,
                           .approval_policy = policy,
                           .evaluation_time_ms = ms,
                           .config_name = cname,
                           .config_version = cver};
    PyObject *r = NULL;
    WITH_ERR({
        int rc;
        Py_BEGIN_ALLOW_THREADS rc =
            aa_audit_append_decision(path, &c.req, &rec, err);
        Py_END_ALLOW_THREADS if (rc != AA_OK) raise_status(rc, err);
        else r = Py_NewRef(Py_None);
    })
    creq_release(&c);
    return r;
}

static PyMethodDef module_methods[] = {
    {"audit_append", mod_audit_append, METH_VARARGS,
     "audit_append(path, request, allowed, tier, reason, requires_approval, "
     "approval_policy, ms, config_name, config_version)"},
    {"set_types", mod_set_types, METH_VARARGS,
     "set_types(AuthDecision, ExplainedDecision): the classes decisions are "
     "made of"},
    {"version", mod_version, METH_NOARGS, "the library version (aa_version)"},
    {"check_request", mod_check_request, METH_O,
     "check_request(request): raises TypeError/ValueError for bad input"},
    {"format_time", mod_format_time, METH_O,
     "format_time(us) -> ISO 8601 text"},
    {"parse_time", mod_parse_time, METH_O, "parse_time(text) -> us"},
    {"now", mod_now, METH_NOARGS, "now() -> us since the epoch"},
    {"audit_read", mod_audit_read, METH_VARARGS,
     "audit_read(path, since, agent, user, action, event, allowed, limit)"},
    {"audit_verify", (PyCFunction)(void (*)(void))mod_audit_verify,
     METH_VARARGS | METH_KEYWORDS,
     "audit_verify(path, policy=None, state=None, require_record=False) -> "
     "(ok, lines, bad_line, messages, recorded)"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    "agent_auth._core",
    "The C core of agent_auth: libagentauth's public API.",
    -1,
    module_methods,
    NULL,
    NULL,
    NULL,
    NULL};

PyMODINIT_FUNC PyInit__core(void);

PyMODINIT_FUNC PyInit__core(void) {
    if (pthread_key_create(&decision_key, decision_destroy) != 0)
        return PyErr_NoMemory();
    if (PyType_Ready(&PolicyType) < 0 || PyType_Ready(&EngineType) < 0 ||
        PyType_Ready(&ExprType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&core_module);
    if (!m)
        return NULL;
#define INTERN(var, text)                                                      \
    if (!(var = PyUnicode_InternFromString(text)))                             \
        return NULL;
    INTERN(S_agent, "agent");
    INTERN(S_user, "user");
    INTERN(S_action, "action");
    INTERN(S_resource, "resource");
    INTERN(S_session_id, "session_id");
    INTERN(S_scope, "scope");
    INTERN(S_target_agent, "target_agent");
    INTERN(S_metadata, "metadata");
    INTERN(S_allowed, "allowed");
    INTERN(S_tier, "tier");
    INTERN(S_reason, "reason");
    INTERN(S_requires_approval, "requires_approval");
    INTERN(S_approval_policy, "approval_policy");
    INTERN(S_evaluation_time_ms, "evaluation_time_ms");
    INTERN(S_trace, "trace");
    INTERN(S_dict, "__dict__");
    INTERN(EmptyStr, "");
    for (int i = 0; i < 3; i++)
        INTERN(TierNames[i], aa_tier_name((aa_tier)i));
#undef INTERN
    CoreError = PyErr_NewExceptionWithDoc(
        "agent_auth._core.CoreError",
        "A library error: args are (status, status_name, messages).", NULL,
        NULL);
    if (!CoreError || PyModule_AddObjectRef(m, "CoreError", CoreError) < 0 ||
        PyModule_AddObjectRef(m, "Policy", (PyObject *)&PolicyType) < 0 ||
        PyModule_AddObjectRef(m, "Engine", (PyObject *)&EngineType) < 0 ||
        PyModule_AddObjectRef(m, "Expr", (PyObject *)&ExprType) < 0 ||
        PyModule_AddIntConstant(m, "AUDIT_FROM_POLICY", AA_AUDIT_FROM_POLICY) <
            0 ||
        PyModule_AddIntConstant(m, "AUDIT_OFF", AA_AUDIT_OFF) < 0 ||
        PyModule_AddIntConstant(m, "AUDIT_ON", AA_AUDIT_ON) < 0 ||
        PyModule_AddIntConstant(m, "FIELD_MAX_BYTES", FIELD_MAX_BYTES) < 0 ||
        PyModule_AddIntConstant(m, "META_MAX_KEYS", META_MAX_KEYS) < 0 ||
        PyModule_AddIntConstant(m, "META_MAX_LIST", META_MAX_LIST) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
