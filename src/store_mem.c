/*
 * store_mem.c - a private in-memory state store (tests, `agent-auth test`).
 *
 * Behaves as the SQLite store does, under one mutex. Sessions and grants
 * are kept in insertion order and found by id through hash maps; each
 * (to_agent, from_user) pair has its own list of active grants, oldest
 * first, so that delegation_find never looks at another pair. A grant
 * leaves its pair's list when it stops being active.
 */
#include "pattern.h"
#include "store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct mem_sess {
    aa_session s;
    uint64_t seq; /* insertion order, breaks created_at ties */
} mem_sess;

typedef struct mem_pair mem_pair;

typedef struct mem_deleg {
    aa_delegation d;
    uint64_t seq;
    aa__pattern *pats; /* classified once, over d.actions */
    mem_pair *pair;
} mem_deleg;

/* The active grants of one (to_agent, from_user) pair, oldest first. */
struct mem_pair {
    char *key; /* to_agent NUL from_user */
    size_t keylen;
    mem_deleg **items;
    size_t n, cap;
};

typedef struct mem_store {
    aa_store base;
    pthread_mutex_t mu;
    uint64_t seq;
    mem_sess **sess; /* insertion order */
    size_t nsess, capsess;
    aa__map sess_by_id;
    mem_deleg **deleg;
    size_t ndeleg, capdeleg;
    aa__map deleg_by_id;
    mem_pair **pairs;
    size_t npairs, cappairs;
    aa__map pair_by_key;
} mem_store;

static bool grow(void **items, size_t *cap, size_t n, size_t size) {
    if (n < *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 16;
    void *p = realloc(*items, c * size);
    if (!p)
        return false;
    *items = p;
    *cap = c;
    return true;
}

static void free_deleg(mem_deleg *g) {
    if (!g)
        return;
    aa_delegation_clear(&g->d);
    free(g->pats);
    free(g);
}

static void mem_close(aa_store *base) {
    mem_store *m = (mem_store *)base;
    if (!m)
        return;
    for (size_t i = 0; i < m->nsess; i++) {
        aa_session_clear(&m->sess[i]->s);
        free(m->sess[i]);
    }
    for (size_t i = 0; i < m->ndeleg; i++)
        free_deleg(m->deleg[i]);
    for (size_t i = 0; i < m->npairs; i++) {
        free(m->pairs[i]->key);
        free(m->pairs[i]->items);
        free(m->pairs[i]);
    }
    free(m->sess);
    free(m->deleg);
    free(m->pairs);
    aa__map_free(&m->sess_by_id);
    aa__map_free(&m->deleg_by_id);
    aa__map_free(&m->pair_by_key);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static bool live(aa_grant_status st, int64_t expires_at, int64_t now) {
    return st == AA_GRANT_ACTIVE && now < expires_at;
}

/* ---- sessions ------------------------------------------------------------ */

static int copy_session(aa_session *dst, const aa_session *src) {
    *dst = *src;
    dst->agent = strdup(src->agent ? src->agent : "");
    dst->user = strdup(src->user ? src->user : "");
    dst->scope = strdup(src->scope ? src->scope : "");
    if (!dst->agent || !dst->user || !dst->scope) {
        aa_session_clear(dst);
        return AA_ENOMEM;
    }
    return AA_OK;
}

static int mem_session_put(aa_store *base, const aa_session *sess,
                           aa_error *err) {
    mem_store *m = (mem_store *)base;
    if (!sess || !sess->session_id[0] || !sess->agent || !sess->user)
        return aa__fail(err, AA_EINVAL, "session_put: missing field");
    mem_sess *e = calloc(1, sizeof *e);
    if (!e || copy_session(&e->s, sess) != AA_OK) {
        free(e);
        return aa__fail(err, AA_ENOMEM, "out of memory");
    }
    int status = AA_OK;
    pthread_mutex_lock(&m->mu);
    const char *id = e->s.session_id;
    if (aa__map_get(&m->sess_by_id, id, strlen(id))) {
        status =
            aa__fail(err, AA_ESTATE,
                     "state store (memory): session '%s' already exists", id);
    } else if (!grow((void **)&m->sess, &m->capsess, m->nsess,
                     sizeof *m->sess) ||
               !aa__map_put(&m->sess_by_id, id, strlen(id), e)) {
        status = aa__fail(err, AA_ENOMEM, "out of memory");
    } else {
        e->seq = m->seq++;
        m->sess[m->nsess++] = e;
    }
    pthread_mutex_unlock(&m->mu);
    if (status != AA_OK) {
        aa_session_clear(&e->s);
        free(e);
    }
    return status;
}

static mem_sess *find_session(mem_store *m, const char *id) {
    return aa__map_get(&m->sess_by_id, id, strlen(id));
}

static int mem_session_get(aa_store *base, const char *id, int64_t now,
                           aa_session *out, aa_error *err) {
    mem_store *m = (mem_store *)base;
    if (!id || !out)
        return aa__fail(err, AA_EINVAL, "session_get: missing argument");
    memset(out, 0, sizeof *out);
    int status = AA_ENOTFOUND;
    pthread_mutex_lock(&m->mu);
    mem_sess *e = find_session(m, id);
    if (e) {
        if (e->s.status == AA_GRANT_ACTIVE && now >= e->s.expires_at)
            e->s.status = AA_GRANT_EXPIRED;
        status = copy_session(out, &e->s);
    }
    pthread_mutex_unlock(&m->mu);
    if (status == AA_ENOMEM)
        aa__fail(err, AA_ENOMEM, "out of memory");
    return status;
}

static int mem_session_revoke(aa_store *base, const char *id, int64_t now,
                              int *revoked, aa_error *err) {
    mem_store *m = (mem_store *)base;
    if (!id || !revoked)
        return aa__fail(err, AA_EINVAL, "session_revoke: missing argument");
    *revoked = 0;
    pthread_mutex_lock(&m->mu);
    mem_sess *e = find_session(m, id);
    if (e && e->s.status == AA_GRANT_ACTIVE) {
        *revoked = now < e->s.expires_at;
        e->s.status = *revoked ? AA_GRANT_REVOKED : AA_GRANT_EXPIRED;
    }
    pthread_mutex_unlock(&m->mu);
    return AA_OK;
}

static int by_created(const void *a, const void *b) {
    const mem_sess *x = *(mem_sess *const *)a, *y = *(mem_sess *const *)b;
    if (x->s.created_at != y->s.created_at)
        return x->s.created_at < y->s.created_at ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The rows of the k entries at pick (each esize bytes: a pointer to a
 * mem_sess or a mem_deleg), sorted by cmp, copied by copy into a new array
 * of rows of rsize bytes (each emptied by clear): *list, NULL when k is 0.
 * False when out of memory. Called with the store's mutex held. */
static bool sorted_copy(void *pick, size_t k, size_t esize,
                        int (*cmp)(const void *, const void *), size_t rsize,
                        int (*copy)(void *row, const void *entry),
                        void (*clear)(void *row), void **list) {
    *list = NULL;
    if (!k)
        return true;
    qsort(pick, k, esize, cmp);
    char *rows = calloc(k, rsize);
    if (!rows)
        return false;
    for (size_t i = 0; i < k; i++) {
        if (copy(rows + i * rsize, (const char *)pick + i * esize) != AA_OK) {
            while (i-- > 0)
                clear(rows + i * rsize);
            free(rows);
            return false;
        }
    }
    *list = rows;
    return true;
}

static int session_copy_entry(void *row, const void *entry) {
    return copy_session(row, &(*(mem_sess *const *)entry)->s);
}

static void session_clear_row(void *row) {
    aa_session_clear(row);
}

static int mem_session_list(aa_store *base, const char *agent, const char *user,
                            int64_t now, aa_session **out, size_t *n,
                            aa_error *err) {
    mem_store *m = (mem_store *)base;
    if (!out || !n)
        return aa__fail(err, AA_EINVAL, "session_list: missing argument");
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&m->mu);
    mem_sess **pick = malloc((m->nsess ? m->nsess : 1) * sizeof *pick);
    size_t k = 0;
    for (size_t i = 0; pick && i < m->nsess; i++) {
        const aa_session *s = &m->sess[i]->s;
        if (live(s->status, s->expires_at, now) &&
            (!agent || strcmp(agent, s->agent) == 0) &&
            (!user || strcmp(user, s->user) == 0))
            pick[k++] = m->sess[i];
    }
    void *list = NULL;
    bool ok =
        pick && sorted_copy(pick, k, sizeof *pick, by_created, sizeof **out,
                            session_copy_entry, session_clear_row, &list);
    pthread_mutex_unlock(&m->mu);
    free(pick);
    if (!ok)
        return aa__fail(err, AA_ENOMEM, "out of memory");
    *out = list;
    *n = k;
    return AA_OK;
}

/* ---- delegations --------------------------------------------------------- */

static int copy_delegation(aa_delegation *dst, const aa_delegation *src) {
    *dst = *src;
    dst->from_user = strdup(src->from_user ? src->from_user : "");
    dst->to_agent = strdup(src->to_agent ? src->to_agent : "");
    dst->reason = strdup(src->reason ? src->reason : "");
    dst->action_count = 0;
    dst->actions =
        calloc(src->action_count ? src->action_count : 1, sizeof *dst->actions);
    bool ok = dst->from_user && dst->to_agent && dst->reason && dst->actions;
    for (size_t i = 0; ok && i < src->action_count; i++) {
        dst->actions[i] = strdup(src->actions[i] ? src->actions[i] : "");
        ok = dst->actions[i] != NULL;
        dst->action_count = i + 1;
    }
    if (!ok) {
        aa_delegation_clear(dst);
        return AA_ENOMEM;
    }
    return AA_OK;
}

static bool older(const mem_deleg *x, const mem_deleg *y) {
    if (x->d.granted_at != y->d.granted_at)
        return x->d.granted_at < y->d.granted_at;
    return x->seq < y->seq;
}

/* Adds g to its pair's list, creating the pair, keeping oldest first. */
static bool pair_add(mem_store *m, mem_deleg *g) {
    char buf[256];
    size_t len;
    char *key =
        aa__pair_key(g->d.to_agent, g->d.from_user, buf, sizeof buf, &len);
    if (!key)
        return false;
    mem_pair *p = aa__map_get(&m->pair_by_key, key, len);
    if (!p) {
        p = calloc(1, sizeof *p);
        if (p && (p->key = malloc(len + 1)) != NULL)
            memcpy(p->key, key, len + 1);
        if (!p || !p->key ||
            !grow((void **)&m->pairs, &m->cappairs, m->npairs,
                  sizeof *m->pairs) ||
            !aa__map_put(&m->pair_by_key, p->key, len, p)) {
            if (p)
                free(p->key);
            free(p);
            if (key != buf)
                free(key);
            return false;
        }
        p->keylen = len;
        m->pairs[m->npairs++] = p;
    }
    if (key != buf)
        free(key);
    if (!grow((void **)&p->items, &p->cap, p->n, sizeof *p->items))
        return false;
    size_t i = p->n;
    while (i > 0 && older(g, p->items[i - 1])) {
        p->items[i] = p->items[i - 1];
        i--;
    }
    p->items[i] = g;
    p->n++;
    g->pair = p;
    return true;
}

static void pair_remove(mem_deleg *g) {
    mem_pair *p = g->pair;
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        if (p->items[i] == g) {
            memmove(&p->items[i], &p->items[i + 1],
                    (p->n - i - 1) * sizeof *p->items);
            p->n--;
            break;
        }
    }
    g->pair = NULL;
}

/* Sets a grant's status, taking it out of its pair when no longer active. */
static void set_deleg_status(mem_deleg *g, aa_grant_status st) {
    g->d.status = st;
    if (st != AA_GRANT_ACTIVE)
        pair_remove(g);
}

static int mem_delegation_put(aa_store *base, const aa_delegation *d,
                              aa_error *err) {
    mem_store *m = (mem_store *)base;
    if (!d || !d->delegation_id[0] || !d->from_user || !d->to_agent ||
        (d->action_count && !d->actions))
        return aa__fail(err, AA_EINVAL, "delegation_put: missing field");
    mem_deleg *g = calloc(1, sizeof *g);
    if (!g || copy_delegation(&g->d, d) != AA_OK) {
        free(g);
        return aa__fail(err, AA_ENOMEM, "out of memory");
    }
    g->pats = calloc(d->action_count ? d->action_count : 1, sizeof *g->pats);
    if (!g->pats) {
        free_deleg(g);
        return aa__fail(err, AA_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < g->d.action_count; i++)
        aa__pattern_init(&g->pats[i], g->d.actions[i]);

    int status = AA_OK;
    pthread_mutex_lock(&m->mu);
    const char *id = g->d.delegation_id;
    g->seq = m->seq++; /* before pair_add, which orders by it */
    if (aa__map_get(&m->deleg_by_id, id, strlen(id))) {
        status = aa__fail(err, AA_ESTATE,
                          "state store (memory): delegation '%s' already "
                          "exists",
                          id);
    } else if (!grow((void **)&m->deleg, &m->capdeleg, m->ndeleg,
                     sizeof *m->deleg) ||
               (g->d.status == AA_GRANT_ACTIVE && !pair_add(m, g)) ||
               !aa__map_put(&m->deleg_by_id, id, strlen(id), g)) {
        pair_remove(g);
        status = aa__fail(err, AA_ENOMEM, "out of memory");
    } else {
        m->deleg[m->ndeleg++] = g;
    }
    pthread_mutex_unlock(&m->mu);
    if (status != AA_OK)
        free_deleg(g);
    return status;
}

static mem_deleg *find_deleg(mem_store *m, const char *id) {
    return aa__map_get(&m->deleg_by_id, id, strlen(id));
}

static int mem_delegation_get(aa_store *base, const char *id, int64_t now,
                              aa_delegation *out, aa_error *err) {
    mem_store *m = (mem_store *)base;
    if (!id || !out)
        return aa__fail(err, AA_EINVAL, "delegation_get: missing argument");
    memset(out, 0, sizeof *out);
    int status = AA_ENOTFOUND;
    pthread_mutex_lock(&m->mu);
    mem_deleg *g = find_deleg(m, id);
    if (g) {
        if (g->d.status == AA_GRANT_ACTIVE && now >= g->d.expires_at)
            set_deleg_status(g, AA_GRANT_EXPIRED);
        status = copy_delegation(out, &g->d);
    }
    pthread_mutex_unlock(&m->mu);
    if (status == AA_ENOMEM)
        aa__fail(err, AA_ENOMEM, "out of memory");
    return status;
}

static int mem_delegation_find(aa_store *base, const char *agent,
                               const char *user, const char *action,
                               int64_t now, aa__deleg_hit *hit, aa_error *err) {
    mem_store *m = (mem_store *)base;
    if (!agent || !user || !action || !hit)
        return aa__fail(err, AA_EINVAL, "delegation_find: missing argument");
    char buf[256];
    size_t len;
    char *key = aa__pair_key(agent, user, buf, sizeof buf, &len);
    if (!key)
        return aa__fail(err, AA_ENOMEM, "out of memory");
    size_t alen = strlen(action);
    int status = AA_ENOTFOUND;
    pthread_mutex_lock(&m->mu);
    const mem_pair *p = aa__map_get(&m->pair_by_key, key, len);
    for (size_t i = 0; p && i < p->n && status != AA_OK; i++) {
        const mem_deleg *g = p->items[i];
        if (now >= g->d.expires_at) /* expired: never found */
            continue;
        for (size_t j = 0; j < g->d.action_count; j++) {
            if (aa__pattern_match(&g->pats[j], action, alen)) {
                snprintf(hit->delegation_id, sizeof hit->delegation_id, "%s",
                         g->d.delegation_id);
                hit->expires_at = g->d.expires_at;
                snprintf(hit->pattern, sizeof hit->pattern, "%s",
                         g->d.actions[j]);
                status = AA_OK;
                break;
            }
        }
    }
    pthread_mutex_unlock(&m->mu);
    if (key != buf)
        free(key);
    return status;
}

static int mem_delegation_revoke(aa_store *base, const char *id, int64_t now,
                                 int *revoked, aa_error *err) {
    mem_store *m = (mem_store *)base;
    if (!id || !revoked)
        return aa__fail(err, AA_EINVAL, "delegation_revoke: missing argument");
    *revoked = 0;
    pthread_mutex_lock(&m->mu);
    mem_deleg *g = find_deleg(m, id);
    if (g && g->d.status == AA_GRANT_ACTIVE) {
        *revoked = now < g->d.expires_at;
        set_deleg_status(g, *revoked ? AA_GRANT_REVOKED : AA_GRANT_EXPIRED);
    }
    pthread_mutex_unlock(&m->mu);
    return AA_OK;
}

static int by_granted(const void *a, const void *b) {
    const mem_deleg *x = *(mem_deleg *const *)a, *y = *(mem_deleg *const *)b;
    return older(x, y) ? -1 : older(y, x);
}

static int delegation_copy_entry(void *row, const void *entry) {
    return copy_delegation(row, &(*(mem_deleg *const *)entry)->d);
}

static void delegation_clear_row(void *row) {
    aa_delegation_clear(row);
}

static int mem_delegation_list(aa_store *base, const char *agent, int64_t now,
                               aa_delegation **out, size_t *n, aa_error *err) {
    mem_store *m = (mem_store *)base;
    if (!out || !n)
        return aa__fail(err, AA_EINVAL, "delegation_list: missing argument");
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&m->mu);
    mem_deleg **pick = malloc((m->ndeleg ? m->ndeleg : 1) * sizeof *pick);
    size_t k = 0;
    for (size_t i = 0; pick && i < m->ndeleg; i++) {
        const aa_delegation *d = &m->deleg[i]->d;
        if (live(d->status, d->expires_at, now) &&
            (!agent || strcmp(agent, d->to_agent) == 0))
            pick[k++] = m->deleg[i];
    }
    void *list = NULL;
    bool ok =
        pick && sorted_copy(pick, k, sizeof *pick, by_granted, sizeof **out,
                            delegation_copy_entry, delegation_clear_row, &list);
    pthread_mutex_unlock(&m->mu);
    free(pick);
    if (!ok)
        return aa__fail(err, AA_ENOMEM, "out of memory");
    *out = list;
    *n = k;
    return AA_OK;
}

/* ---- cleanup ------------------------------------------------------------- */

static int mem_cleanup(aa_store *base, int64_t now, int64_t retention_us,
                       size_t *marked, size_t *purged, aa_error *err) {
    mem_store *m = (mem_store *)base;
    int64_t cutoff;
    int rc = aa__cleanup_cutoff(now, retention_us, &cutoff, err);
    if (rc != AA_OK)
        return rc;
    size_t nmarked = 0, npurged = 0;
    int status = AA_OK;
    pthread_mutex_lock(&m->mu);
    /* Rebuild the id maps first (they cannot remove), then free. */
    aa__map sess_by_id, deleg_by_id;
    aa__map_init(&sess_by_id);
    aa__map_init(&deleg_by_id);
    for (size_t i = 0; i < m->nsess && status == AA_OK; i++) {
        aa_session *s = &m->sess[i]->s;
        bool mark = s->status == AA_GRANT_ACTIVE && now >= s->expires_at;
        bool purge =
            (mark || s->status != AA_GRANT_ACTIVE) && s->expires_at < cutoff;
        if (!purge && !aa__map_put(&sess_by_id, s->session_id,
                                   strlen(s->session_id), m->sess[i]))
            status = AA_ENOMEM;
    }
    for (size_t i = 0; i < m->ndeleg && status == AA_OK; i++) {
        aa_delegation *d = &m->deleg[i]->d;
        bool mark = d->status == AA_GRANT_ACTIVE && now >= d->expires_at;
        bool purge =
            (mark || d->status != AA_GRANT_ACTIVE) && d->expires_at < cutoff;
        if (!purge && !aa__map_put(&deleg_by_id, d->delegation_id,
                                   strlen(d->delegation_id), m->deleg[i]))
            status = AA_ENOMEM;
    }
    if (status != AA_OK) {
        aa__map_free(&sess_by_id);
        aa__map_free(&deleg_by_id);
    } else {
        size_t k = 0;
        for (size_t i = 0; i < m->nsess; i++) {
            mem_sess *e = m->sess[i];
            if (e->s.status == AA_GRANT_ACTIVE && now >= e->s.expires_at) {
                e->s.status = AA_GRANT_EXPIRED;
                nmarked++;
            }
            if (e->s.status != AA_GRANT_ACTIVE && e->s.expires_at < cutoff) {
                aa_session_clear(&e->s);
                free(e);
                npurged++;
            } else {
                m->sess[k++] = e;
            }
        }
        m->nsess = k;
        k = 0;
        for (size_t i = 0; i < m->ndeleg; i++) {
            mem_deleg *g = m->deleg[i];
            if (g->d.status == AA_GRANT_ACTIVE && now >= g->d.expires_at) {
                set_deleg_status(g, AA_GRANT_EXPIRED);
                nmarked++;
            }
            if (g->d.status != AA_GRANT_ACTIVE && g->d.expires_at < cutoff) {
                free_deleg(g);
                npurged++;
            } else {
                m->deleg[k++] = g;
            }
        }
        m->ndeleg = k;
        aa__map_free(&m->sess_by_id);
        aa__map_free(&m->deleg_by_id);
        m->sess_by_id = sess_by_id;
        m->deleg_by_id = deleg_by_id;
    }
    pthread_mutex_unlock(&m->mu);
    if (marked)
        *marked = nmarked;
    if (purged)
        *purged = npurged;
    if (status != AA_OK)
        return aa__fail(err, AA_ENOMEM, "out of memory");
    return AA_OK;
}

static const aa__store_ops memory_ops = {
    .kind = "memory",
    .close = mem_close,
    .session_put = mem_session_put,
    .session_get = mem_session_get,
    .session_revoke = mem_session_revoke,
    .session_list = mem_session_list,
    .delegation_put = mem_delegation_put,
    .delegation_get = mem_delegation_get,
    .delegation_find = mem_delegation_find,
    .delegation_revoke = mem_delegation_revoke,
    .delegation_list = mem_delegation_list,
    .cleanup = mem_cleanup,
};

int aa_store_open_memory(aa_store **out, aa_error *err) {
    if (!out)
        return aa__fail(err, AA_EINVAL, "aa_store_open_memory: out is NULL");
    mem_store *m = calloc(1, sizeof *m);
    *out = NULL;
    if (!m)
        return aa__fail(err, AA_ENOMEM, "out of memory");
    m->base.ops = &memory_ops;
    pthread_mutex_init(&m->mu, NULL);
    aa__map_init(&m->sess_by_id);
    aa__map_init(&m->deleg_by_id);
    aa__map_init(&m->pair_by_key);
    *out = &m->base;
    return AA_OK;
}
