/* store_cache.c - a generation-checked read cache for shared state stores
 * (see store_cache.h). */
#include "store_cache.h"

#include "pattern.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GEN_FILE_SIZE 4096
#define GEN_MAGIC     0x6161676e65723031ULL /* "aagener01" */
/* Past this many entries a shard starts over: lookups of ids that do not
 * exist (or of many pairs) cannot make it grow without bound. */
#define MAX_ENTRIES 65536
/* Entries are spread over shards by key hash, each with its own
 * reader-writer lock on its own cache line: threads looking things up
 * never wait for each other, and writers only block their shard. */
#define NSHARDS 16

typedef struct gen_page {
    uint64_t magic;
    _Atomic uint64_t gen;
} gen_page;

/* A session as a lookup reads it: the id in the entry itself (ids are
 * UUIDs) and the three strings in one block, with their lengths, so that
 * an answer touches few cache lines and copies with one memcpy. */
#define SESS_INLINE 96 /* bytes of strings kept in the entry itself */
typedef struct sess_entry {
    uint64_t gen;
    bool found;
    char keybuf[39];
    char *key;  /* the id: keybuf, or allocated when longer */
    char *text; /* agent NUL user NUL scope NUL (when found): inl, or
                   allocated when longer */
    size_t textlen;
    size_t len[2]; /* of agent and user */
    aa_session s;  /* agent, user, scope point into text */
    char inl[SESS_INLINE];
} sess_entry;

static void sess_text_free(sess_entry *e) {
    if (e->text != e->inl)
        free(e->text);
    e->text = NULL;
}

static void sess_entry_free(sess_entry *e) {
    sess_text_free(e);
    if (e->key != e->keybuf)
        free(e->key);
    free(e);
}

/* Copies what s says into e (strings NULL as ""); false when out of
 * memory (e then holds no strings). */
static bool sess_entry_set(sess_entry *e, const aa_session *s) {
    const char *src[3] = {s->agent ? s->agent : "", s->user ? s->user : "",
                          s->scope ? s->scope : ""};
    size_t len[3] = {strlen(src[0]), strlen(src[1]), strlen(src[2])};
    size_t total = len[0] + len[1] + len[2] + 3;
    sess_text_free(e);
    e->text = total <= sizeof e->inl ? e->inl : malloc(total);
    if (!e->text) {
        memset(&e->s, 0, sizeof e->s);
        return false;
    }
    char *p = e->text;
    char *dst[3];
    for (int i = 0; i < 3; i++) {
        dst[i] = p;
        memcpy(p, src[i], len[i] + 1);
        p += len[i] + 1;
    }
    e->s = *s;
    e->s.agent = dst[0];
    e->s.user = dst[1];
    e->s.scope = dst[2];
    e->textlen = total;
    e->len[0] = len[0];
    e->len[1] = len[1];
    return true;
}

/* A pair's grants: the key in the entry when it fits, the grants and
 * their patterns in one block (pack_grants), for few cache lines a
 * lookup. */
#define DELEG_INLINE 192 /* bytes of grants kept in the entry itself */
typedef struct deleg_entry {
    char *key; /* agent '\0' user: keybuf, or allocated when longer */
    size_t keylen;
    uint64_t gen;
    aa__cache_grant *grants; /* one block (pack_grants): inl, or allocated */
    size_t n;
    char keybuf[48];
    _Alignas(aa__cache_grant) char inl[DELEG_INLINE];
} deleg_entry;

static void deleg_grants_free(deleg_entry *e) {
    if ((char *)e->grants != e->inl)
        free(e->grants);
    e->grants = NULL;
}

static void deleg_entry_free(deleg_entry *e) {
    deleg_grants_free(e);
    if (e->key != e->keybuf)
        free(e->key);
    free(e);
}

/* The n grants copied into one block (the array, then every pattern
 * blob): inl (cap bytes) when they fit, else allocated; their own memory
 * freed either way. NULL when out of memory (or n is 0). */
static aa__cache_grant *pack_grants(aa__cache_grant *grants, size_t n,
                                    char *inl, size_t cap, bool *ok) {
    size_t total = n * sizeof *grants;
    for (size_t i = 0; i < n; i++)
        total += grants[i].len;
    aa__cache_grant *block = !n             ? NULL
                             : total <= cap ? (aa__cache_grant *)inl
                                            : malloc(total);
    *ok = block || !n;
    if (block) {
        char *p = (char *)(block + n);
        for (size_t i = 0; i < n; i++) {
            block[i] = grants[i];
            block[i].patterns = p;
            if (grants[i].len)
                memcpy(p, grants[i].patterns, grants[i].len);
            p += grants[i].len;
        }
    }
    aa__cache_grants_free(grants, n);
    return block;
}

typedef struct shard {
    _Alignas(64) pthread_rwlock_t lock;
    aa__map sessions; /* id -> sess_entry* */
    aa__map delegs;   /* agent\0user -> deleg_entry* */
    /* The sessions map's slots and cap - 1 as last published under the
     * write lock, read without the lock only to prefetch a slot (a stale
     * value prefetches a useless line, nothing worse). */
    _Atomic(aa__map_slot *) sess_slots;
    _Atomic size_t sess_mask;
    _Atomic(aa__map_slot *) deleg_slots; /* the same for delegs */
    _Atomic size_t deleg_mask;
} shard;

/* After a change to sh's maps, under its write lock. */
static void publish_slots(shard *sh) {
    atomic_store_explicit(&sh->sess_slots, sh->sessions.slots,
                          memory_order_relaxed);
    atomic_store_explicit(&sh->sess_mask,
                          sh->sessions.cap ? sh->sessions.cap - 1 : 0,
                          memory_order_relaxed);
    atomic_store_explicit(&sh->deleg_slots, sh->delegs.slots,
                          memory_order_relaxed);
    atomic_store_explicit(&sh->deleg_mask,
                          sh->delegs.cap ? sh->delegs.cap - 1 : 0,
                          memory_order_relaxed);
}

struct aa__cache {
    gen_page *page;
    bool local; /* page is this process's own (calloc), not a mapped file */
    shard shards[NSHARDS];
};

/* The shard of key[0, len), and the key's hash for the shard's maps. */
static shard *shard_of(aa__cache *c, const char *key, size_t len,
                       uint64_t *hash) {
    *hash = aa__hash(key, len);
    return &c->shards[(*hash >> 59) % NSHARDS]; /* high bits: the map's
                                                   probe uses the low ones */
}

void aa__cache_grants_free(aa__cache_grant *grants, size_t n) {
    for (size_t k = 0; k < n; k++)
        free(grants[k].patterns);
    free(grants);
}

aa__cache *aa__cache_open(const char *db_path) {
    size_t n = strlen(db_path) + 5;
    char *path = malloc(n);
    if (!path)
        return NULL;
    snprintf(path, n, "%s-gen", db_path);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    free(path);
    if (fd < 0)
        return NULL;
    struct stat st;
    void *map = MAP_FAILED;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        (st.st_size >= GEN_FILE_SIZE || ftruncate(fd, GEN_FILE_SIZE) == 0))
        map = mmap(NULL, GEN_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                   0);
    close(fd);
    if (map == MAP_FAILED)
        return NULL;
    aa__cache *c = aligned_alloc(64, sizeof *c);
    if (c)
        memset(c, 0, sizeof *c);
    if (!c) {
        munmap(map, GEN_FILE_SIZE);
        return NULL;
    }
    c->page = map;
    /* A new (zeroed) file: stamp it. Two first openers writing the same
     * magic at once is harmless. */
    if (c->page->magic != GEN_MAGIC)
        c->page->magic = GEN_MAGIC;
    for (size_t i = 0; i < NSHARDS; i++) {
        pthread_rwlock_init(&c->shards[i].lock, NULL);
        aa__map_init(&c->shards[i].sessions);
        aa__map_init(&c->shards[i].delegs);
    }
    return c;
}

aa__cache *aa__cache_new_local(void) {
    gen_page *page = calloc(1, sizeof *page);
    aa__cache *c = page ? aligned_alloc(64, sizeof *c) : NULL;
    if (!c) {
        free(page);
        return NULL;
    }
    memset(c, 0, sizeof *c);
    c->page = page;
    c->local = true;
    page->magic = GEN_MAGIC;
    for (size_t i = 0; i < NSHARDS; i++) {
        pthread_rwlock_init(&c->shards[i].lock, NULL);
        aa__map_init(&c->shards[i].sessions);
        aa__map_init(&c->shards[i].delegs);
    }
    return c;
}

static void drop_entries(shard *sh) {
    for (size_t i = 0; i < sh->sessions.cap; i++) {
        sess_entry *e = sh->sessions.slots[i].value;
        if (!sh->sessions.slots[i].key || !e)
            continue;
        sess_entry_free(e);
    }
    for (size_t i = 0; i < sh->delegs.cap; i++) {
        deleg_entry *e = sh->delegs.slots[i].value;
        if (!sh->delegs.slots[i].key || !e)
            continue;
        deleg_entry_free(e);
    }
    aa__map_free(&sh->sessions);
    aa__map_free(&sh->delegs);
}

void aa__cache_close(aa__cache *c) {
    if (!c)
        return;
    for (size_t i = 0; i < NSHARDS; i++) {
        drop_entries(&c->shards[i]);
        pthread_rwlock_destroy(&c->shards[i].lock);
    }
    if (c->local)
        free(c->page);
    else
        munmap(c->page, GEN_FILE_SIZE);
    free(c);
}

uint64_t aa__cache_gen(const aa__cache *c) {
    return atomic_load_explicit(&c->page->gen, memory_order_acquire);
}

void aa__cache_bump(aa__cache *c) {
    atomic_fetch_add_explicit(&c->page->gen, 1, memory_order_acq_rel);
}

static bool copy_session(const aa_session *from, aa_session *to) {
    *to = *from;
    to->agent = strdup(from->agent ? from->agent : "");
    to->user = strdup(from->user ? from->user : "");
    to->scope = strdup(from->scope ? from->scope : "");
    if (to->agent && to->user && to->scope)
        return true;
    aa_session_clear(to);
    return false;
}

/* Looks the session up under the shard's read lock and, on a hit, copies
 * it out with buf (cap bytes) or, when buf is NULL, into new strings. */
static bool session_lookup(aa__cache *c, const char *id, uint64_t gen,
                           bool *found, aa_session *out, char *buf,
                           size_t cap) {
    bool hit = false;
    size_t len = strlen(id);
    uint64_t h;
    shard *sh = shard_of(c, id, len, &h);
    pthread_rwlock_rdlock(&sh->lock);
    sess_entry *e = aa__map_get_h(&sh->sessions, id, len, h);
    if (e && e->gen == gen) {
        *found = e->found;
        if (!e->found)
            hit = true;
        else if (!buf)
            hit = copy_session(&e->s, out);
        else if (e->textlen <= cap) { /* the three strings, as one block */
            memcpy(buf, e->text, e->textlen);
            *out = e->s;
            out->agent = buf;
            out->user = buf + e->len[0] + 1;
            out->scope = out->user + e->len[1] + 1;
            hit = true;
        }
    }
    pthread_rwlock_unlock(&sh->lock);
    return hit;
}

bool aa__cache_session_get(aa__cache *c, const char *id, uint64_t gen,
                           bool *found, aa_session *out) {
    return session_lookup(c, id, gen, found, out, NULL, 0);
}

bool aa__cache_session_get_into(aa__cache *c, const char *id, uint64_t gen,
                                bool *found, aa_session *out, char *buf,
                                size_t cap) {
    return buf && session_lookup(c, id, gen, found, out, buf, cap);
}

bool aa__cache_session_answer(aa__cache *c, const char *id, uint64_t gen,
                              int64_t now, aa_session *out, int *status) {
    bool found;
    if (!aa__cache_session_get(c, id, gen, &found, out))
        return false;
    if (!found) {
        *status = AA_ENOTFOUND;
        return true;
    }
    if (out->status != AA_GRANT_ACTIVE || now < out->expires_at) {
        *status = AA_OK;
        return true;
    }
    aa_session_clear(out); /* expired: the store marks it */
    return false;
}

bool aa__cache_session_answer_into(aa__cache *c, const char *id, int64_t now,
                                   aa_session *out, char *buf, size_t cap,
                                   int *status) {
    bool found;
    if (!aa__cache_session_get_into(c, id, aa__cache_gen(c), &found, out, buf,
                                    cap))
        return false;
    if (!found) {
        *status = AA_ENOTFOUND;
        return true;
    }
    if (out->status != AA_GRANT_ACTIVE || now < out->expires_at) {
        *status = AA_OK;
        return true;
    }
    return false; /* expired since it was cached: the read marks it */
}

uint64_t aa__cache_session_prefetch(aa__cache *c, const char *id,
                                    size_t idlen) {
    uint64_t h;
    shard *sh = shard_of(c, id, idlen, &h);
    aa__map_slot *slots =
        atomic_load_explicit(&sh->sess_slots, memory_order_relaxed);
    size_t mask = atomic_load_explicit(&sh->sess_mask, memory_order_relaxed);
    if (slots)
        __builtin_prefetch(&slots[h & mask]);
    return h;
}

bool aa__cache_session_view(aa__cache *c, const char *id, size_t idlen,
                            uint64_t h, int64_t now, aa_session *out,
                            size_t len[3], int *status, void **held) {
    uint64_t gen = aa__cache_gen(c);
    shard *sh = &c->shards[(h >> 59) % NSHARDS]; /* as shard_of */
    pthread_rwlock_rdlock(&sh->lock);
    sess_entry *e = aa__map_get_h(&sh->sessions, id, idlen, h);
    *held = NULL;
    if (!e || e->gen != gen) {
        pthread_rwlock_unlock(&sh->lock);
        return false;
    }
    if (!e->found) {
        pthread_rwlock_unlock(&sh->lock);
        *status = AA_ENOTFOUND;
        return true;
    }
    if (e->s.status == AA_GRANT_ACTIVE && now >= e->s.expires_at) {
        pthread_rwlock_unlock(&sh->lock); /* expired since: the read marks it */
        return false;
    }
    *out = e->s;
    len[0] = e->len[0];
    len[1] = e->len[1];
    len[2] = e->textlen - e->len[0] - e->len[1] - 3;
    *status = AA_OK;
    *held = &sh->lock;
    return true;
}

void aa__cache_release(void *held) {
    if (held)
        pthread_rwlock_unlock(held);
}

int aa__store_session_get_into(aa_store *s, aa__cache *c, const char *id,
                               int64_t now, aa_session *out, char *buf,
                               size_t cap, aa_error *err) {
    if (!id || !out || !buf)
        return aa__fail(err, AA_EINVAL, "session_get: missing argument");
    int status;
    if (c && aa__cache_session_answer_into(c, id, now, out, buf, cap, &status))
        return status;
    /* Not in memory, or expired since it was cached: the full read. */
    aa_session full;
    int rc = s->ops->session_get(s, id, now, &full, err);
    if (rc != AA_OK)
        return rc;
    rc = aa__session_copy_into(&full, out, buf, cap) ? AA_OK : AA_ELIMIT;
    aa_session_clear(&full);
    return rc;
}

/* Makes room: at the limit, the whole shard goes (cheap, and rare). */
static void make_room(shard *sh) {
    if (sh->sessions.count + sh->delegs.count >= MAX_ENTRIES / NSHARDS)
        drop_entries(sh);
}

void aa__cache_session_put(aa__cache *c, const char *id, uint64_t gen,
                           const aa_session *s) {
    size_t len = strlen(id);
    uint64_t h;
    shard *sh = shard_of(c, id, len, &h);
    pthread_rwlock_wrlock(&sh->lock);
    sess_entry *e = aa__map_get_h(&sh->sessions, id, len, h);
    if (!e) {
        make_room(sh);
        e = calloc(1, sizeof *e);
        if (e) {
            e->key = len < sizeof e->keybuf ? e->keybuf : malloc(len + 1);
            if (e->key)
                memcpy(e->key, id, len + 1);
        }
        if (e && (!e->key || !aa__map_put(&sh->sessions, e->key, len, e))) {
            sess_entry_free(e);
            e = NULL;
        }
    }
    if (e) { /* new, or refreshed in place */
        e->gen = gen;
        e->found = s != NULL;
        if (!s) {
            sess_text_free(e);
            e->textlen = 0;
        } else if (!sess_entry_set(e, s)) {
            e->found = false;
            e->gen = gen - 1; /* could not copy: never answer from it */
        }
    }
    publish_slots(sh);
    pthread_rwlock_unlock(&sh->lock);
}

bool aa__grant_patterns_match(const char *blob, size_t len, const char *action,
                              size_t alen, aa__deleg_hit *hit) {
    for (size_t i = 0; i < len;) {
        const char *pat = blob + i;
        size_t plen = strnlen(pat, len - i);
        if (aa__glob_match(pat, plen, action, alen)) {
            size_t cut =
                plen < sizeof hit->pattern ? plen : sizeof hit->pattern - 1;
            memcpy(hit->pattern, pat, cut);
            hit->pattern[cut] = 0;
            return true;
        }
        i += plen + 1;
    }
    return false;
}

/* A pair's hash, from the hashes of its agent and user (which the engine
 * has made already). */
static uint64_t pair_hash(uint64_t agent_hash, uint64_t user_hash) {
    uint64_t h = agent_hash ^ (user_hash * 0x9e3779b97f4a7c15ULL);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 29);
}

/* The pair's key and hash into p; false when out of memory. */
static bool pair_make(const char *agent, size_t aglen, uint64_t agent_hash,
                      const char *user, size_t ulen, uint64_t user_hash,
                      aa__cache_pair *p) {
    p->len = aglen + 1 + ulen;
    p->key = p->len < sizeof p->buf ? p->buf : malloc(p->len + 1);
    if (!p->key)
        return false;
    memcpy(p->key, agent, aglen + 1);
    memcpy(p->key + aglen + 1, user, ulen + 1);
    p->hash = pair_hash(agent_hash, user_hash);
    return true;
}

void aa__cache_pair_done(aa__cache_pair *p) {
    if (p->key != p->buf)
        free(p->key);
    p->key = NULL;
}

/* The grants of pair p for generation gen, under the shard's read lock:
 * true when cached; then the oldest live one matching action is in *hit. */
static bool deleg_lookup(aa__cache *c, const aa__cache_pair *p,
                         const char *action, size_t alen, int64_t now,
                         uint64_t gen, bool *found, aa__deleg_hit *hit) {
    bool answered = false;
    shard *sh = &c->shards[(p->hash >> 59) % NSHARDS]; /* as shard_of */
    pthread_rwlock_rdlock(&sh->lock);
    deleg_entry *e = aa__map_get_h(&sh->delegs, p->key, p->len, p->hash);
    if (e && e->gen == gen) {
        answered = true;
        *found = false;
        for (size_t i = 0; i < e->n && !*found; i++) {
            const aa__cache_grant *g = &e->grants[i];
            if (now >= g->expires_at) /* expired since it was cached */
                continue;
            if (aa__grant_patterns_match(g->patterns, g->len, action, alen,
                                         hit)) {
                memcpy(hit->delegation_id, g->id, sizeof g->id);
                hit->expires_at = g->expires_at;
                *found = true;
            }
        }
    }
    pthread_rwlock_unlock(&sh->lock);
    return answered;
}

bool aa__cache_deleg_find(aa__cache *c, const char *agent, const char *user,
                          const char *action, int64_t now, uint64_t gen,
                          bool *found, aa__deleg_hit *hit) {
    aa__cache_pair p;
    size_t aglen = strlen(agent), ulen = strlen(user);
    if (!pair_make(agent, aglen, aa__hash(agent, aglen), user, ulen,
                   aa__hash(user, ulen), &p))
        return false;
    bool answered =
        deleg_lookup(c, &p, action, strlen(action), now, gen, found, hit);
    aa__cache_pair_done(&p);
    return answered;
}

bool aa__cache_deleg_prefetch(aa__cache *c, const char *agent, size_t aglen,
                              uint64_t agent_hash, const char *user,
                              size_t ulen, uint64_t user_hash,
                              aa__cache_pair *p) {
    if (!pair_make(agent, aglen, agent_hash, user, ulen, user_hash, p))
        return false;
    shard *sh = &c->shards[(p->hash >> 59) % NSHARDS];
    aa__map_slot *slots =
        atomic_load_explicit(&sh->deleg_slots, memory_order_relaxed);
    size_t mask = atomic_load_explicit(&sh->deleg_mask, memory_order_relaxed);
    if (slots)
        __builtin_prefetch(&slots[p->hash & mask]);
    return true;
}

bool aa__cache_deleg_answer(aa__cache *c, const aa__cache_pair *p,
                            const char *action, size_t alen, int64_t now,
                            aa__deleg_hit *hit, int *status) {
    bool found;
    if (!deleg_lookup(c, p, action, alen, now, aa__cache_gen(c), &found, hit))
        return false;
    *status = found ? AA_OK : AA_ENOTFOUND;
    return true;
}

void aa__cache_deleg_put(aa__cache *c, const char *agent, const char *user,
                         uint64_t gen, aa__cache_grant *grants, size_t n) {
    char buf[256];
    size_t klen;
    char *key = aa__pair_key(agent, user, buf, sizeof buf, &klen);
    if (!key) { /* out of memory: not cached */
        aa__cache_grants_free(grants, n);
        return;
    }
    size_t aglen = strlen(agent);
    uint64_t h =
        pair_hash(aa__hash(agent, aglen), aa__hash(user, klen - aglen - 1));
    shard *sh = &c->shards[(h >> 59) % NSHARDS]; /* as shard_of */
    pthread_rwlock_wrlock(&sh->lock);
    deleg_entry *e = aa__map_get_h(&sh->delegs, key, klen, h);
    if (e) {
        deleg_grants_free(e);
    } else {
        make_room(sh);
        e = calloc(1, sizeof *e);
        if (e) {
            e->keylen = klen;
            e->key = klen < sizeof e->keybuf ? e->keybuf : malloc(klen + 1);
            if (e->key)
                memcpy(e->key, key, klen + 1);
        }
        if (e && (!e->key || !aa__map_put_h(&sh->delegs, e->key, klen, h, e))) {
            e->grants = NULL;
            deleg_entry_free(e);
            e = NULL;
        }
    }
    if (e) {
        bool ok;
        e->grants = pack_grants(grants, n, e->inl, sizeof e->inl, &ok);
        e->n = ok ? n : 0;
        e->gen = ok ? gen : gen - 1; /* could not copy: never answer */
    } else {
        aa__cache_grants_free(grants, n);
    }
    publish_slots(sh); /* make_room may have emptied the shard */
    pthread_rwlock_unlock(&sh->lock);
    if (key != buf)
        free(key);
}
