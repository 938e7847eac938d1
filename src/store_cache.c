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

typedef struct sess_entry {
    char *key; /* the id */
    uint64_t gen;
    bool found;
    aa_session s; /* strings owned */
} sess_entry;

typedef struct deleg_entry {
    char *key; /* agent '\0' user */
    size_t keylen;
    uint64_t gen;
    aa__cache_grant *grants;
    size_t n;
} deleg_entry;

typedef struct shard {
    _Alignas(64) pthread_rwlock_t lock;
    aa__map sessions; /* id -> sess_entry* */
    aa__map delegs;   /* agent\0user -> deleg_entry* */
} shard;

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
        aa_session_clear(&e->s);
        free(e->key);
        free(e);
    }
    for (size_t i = 0; i < sh->delegs.cap; i++) {
        deleg_entry *e = sh->delegs.slots[i].value;
        if (!sh->delegs.slots[i].key || !e)
            continue;
        aa__cache_grants_free(e->grants, e->n);
        free(e->key);
        free(e);
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
        hit = !e->found || (buf ? aa__session_copy_into(&e->s, out, buf, cap)
                                : copy_session(&e->s, out));
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

int aa__store_session_get_into(aa_store *s, aa__cache *c, const char *id,
                               int64_t now, aa_session *out, char *buf,
                               size_t cap, aa_error *err) {
    if (!id || !out || !buf)
        return aa__fail(err, AA_EINVAL, "session_get: missing argument");
    if (c) {
        bool found;
        if (aa__cache_session_get_into(c, id, aa__cache_gen(c), &found, out,
                                       buf, cap)) {
            if (!found)
                return AA_ENOTFOUND;
            if (out->status != AA_GRANT_ACTIVE || now < out->expires_at)
                return AA_OK;
        }
    }
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
    if (e) { /* refresh in place */
        aa_session_clear(&e->s);
        memset(&e->s, 0, sizeof e->s);
    } else {
        make_room(sh);
        e = calloc(1, sizeof *e);
        if (e && !(e->key = strdup(id))) {
            free(e);
            e = NULL;
        }
        if (e && !aa__map_put(&sh->sessions, e->key, len, e)) {
            free(e->key);
            free(e);
            e = NULL;
        }
    }
    if (e) {
        e->gen = gen;
        e->found = s != NULL;
        if (s && !copy_session(s, &e->s)) {
            e->found = false;
            e->gen = gen - 1; /* could not copy: never answer from it */
        }
    }
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

bool aa__cache_deleg_find(aa__cache *c, const char *agent, const char *user,
                          const char *action, int64_t now, uint64_t gen,
                          bool *found, aa__deleg_hit *hit) {
    char buf[256];
    size_t klen;
    char *key = aa__pair_key(agent, user, buf, sizeof buf, &klen);
    if (!key)
        return false;
    bool answered = false;
    size_t alen = strlen(action);
    uint64_t h;
    shard *sh = shard_of(c, key, klen, &h);
    pthread_rwlock_rdlock(&sh->lock);
    deleg_entry *e = aa__map_get_h(&sh->delegs, key, klen, h);
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
    if (key != buf)
        free(key);
    return answered;
}

void aa__cache_deleg_put(aa__cache *c, const char *agent, const char *user,
                         uint64_t gen, aa__cache_grant *grants, size_t n) {
    size_t klen;
    char *key = aa__pair_key(agent, user, NULL, 0, &klen);
    if (!key) { /* out of memory: not cached */
        aa__cache_grants_free(grants, n);
        return;
    }
    uint64_t h;
    shard *sh = shard_of(c, key, klen, &h);
    pthread_rwlock_wrlock(&sh->lock);
    deleg_entry *e = aa__map_get_h(&sh->delegs, key, klen, h);
    if (e) {
        aa__cache_grants_free(e->grants, e->n);
        free(key);
        key = NULL;
    } else {
        make_room(sh);
        e = calloc(1, sizeof *e);
        if (e) {
            e->key = key;
            e->keylen = klen;
            key = NULL;
            if (!aa__map_put(&sh->delegs, e->key, e->keylen, e)) {
                free(e->key);
                free(e);
                e = NULL;
            }
        }
    }
    if (e) {
        e->gen = gen;
        e->grants = grants;
        e->n = n;
    } else {
        aa__cache_grants_free(grants, n);
    }
    free(key);
    pthread_rwlock_unlock(&sh->lock);
}
