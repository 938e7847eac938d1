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
typedef struct sess_entry {
    char *key; /* the id: keybuf, or allocated when longer */
    uint64_t gen;
    bool found;
    char keybuf[40];
    aa_session s; /* agent, user, scope point into text */
    char *text;   /* agent NUL user NUL scope NUL (when found) */
    size_t textlen;
    size_t len[2]; /* of agent and user */
} sess_entry;

static void sess_entry_free(sess_entry *e) {
    free(e->text);
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
    free(e->text);
    e->text = malloc(total);
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
typedef struct deleg_entry {
    char *key; /* agent '\0' user: keybuf, or allocated when longer */
    size_t keylen;
    uint64_t gen;
    aa__cache_grant *grants; /* one block: free(grants) frees it all */
    size_t n;
    char keybuf[48];
} deleg_entry;

static void deleg_entry_free(deleg_entry *e) {
    free(e->grants);
    if (e->key != e->keybuf)
        free(e->key);
    free(e);
}

/* The n grants copied into one block (the array, then every pattern
 * blob), their own memory freed either way; NULL when out of memory (or
 * n is 0). */
static aa__cache_grant *pack_grants(aa__cache_grant *grants, size_t n,
                                    bool *ok) {
    size_t total = n * sizeof *grants;
    for (size_t i = 0; i < n; i++)
        total += grants[i].len;
    aa__cache_grant *block = n ? malloc(total) : NULL;
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
            free(e->text);
            e->text = NULL;
            e->textlen = 0;
        } else if (!sess_entry_set(e, s)) {
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

bool aa__cache_deleg_answer(aa__cache *c, const char *agent, const char *user,
                            const char *action, int64_t now, aa__deleg_hit *hit,
                            int *status) {
    bool found;
    if (!aa__cache_deleg_find(c, agent, user, action, now, aa__cache_gen(c),
                              &found, hit))
        return false;
    *status = found ? AA_OK : AA_ENOTFOUND;
    return true;
}

void aa__cache_deleg_put(aa__cache *c, const char *agent, const char *user,
                         uint64_t gen, aa__cache_grant *grants, size_t n) {
    bool ok;
    aa__cache_grant *block = pack_grants(grants, n, &ok);
    char buf[256];
    size_t klen;
    char *key = ok ? aa__pair_key(agent, user, buf, sizeof buf, &klen) : NULL;
    if (!key) { /* out of memory: not cached */
        free(block);
        return;
    }
    uint64_t h;
    shard *sh = shard_of(c, key, klen, &h);
    pthread_rwlock_wrlock(&sh->lock);
    deleg_entry *e = aa__map_get_h(&sh->delegs, key, klen, h);
    if (e) {
        free(e->grants);
    } else {
        make_room(sh);
        e = calloc(1, sizeof *e);
        if (e) {
            e->keylen = klen;
            e->key = klen < sizeof e->keybuf ? e->keybuf : malloc(klen + 1);
            if (e->key)
                memcpy(e->key, key, klen + 1);
        }
        if (e && (!e->key || !aa__map_put(&sh->delegs, e->key, klen, e))) {
            e->grants = NULL;
            deleg_entry_free(e);
            e = NULL;
        }
    }
    if (e) {
        e->gen = gen;
        e->grants = block;
        e->n = n;
    } else {
        free(block);
    }
    pthread_rwlock_unlock(&sh->lock);
    if (key != buf)
        free(key);
}
