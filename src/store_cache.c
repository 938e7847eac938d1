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
/* Past this many entries the cache starts over: lookups of ids that do not
 * exist (or of many pairs) cannot make it grow without bound. */
#define MAX_ENTRIES 65536

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

struct aa__cache {
    gen_page *page;
    pthread_mutex_t mu;
    aa__map sessions; /* id -> sess_entry* */
    aa__map delegs;   /* agent\0user -> deleg_entry* */
};

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
    aa__cache *c = calloc(1, sizeof *c);
    if (!c) {
        munmap(map, GEN_FILE_SIZE);
        return NULL;
    }
    c->page = map;
    /* A new (zeroed) file: stamp it. Two first openers writing the same
     * magic at once is harmless. */
    if (c->page->magic != GEN_MAGIC)
        c->page->magic = GEN_MAGIC;
    pthread_mutex_init(&c->mu, NULL);
    aa__map_init(&c->sessions);
    aa__map_init(&c->delegs);
    return c;
}

static void drop_entries(aa__cache *c) {
    for (size_t i = 0; i < c->sessions.cap; i++) {
        sess_entry *e = c->sessions.slots[i].value;
        if (!c->sessions.slots[i].key || !e)
            continue;
        aa_session_clear(&e->s);
        free(e->key);
        free(e);
    }
    for (size_t i = 0; i < c->delegs.cap; i++) {
        deleg_entry *e = c->delegs.slots[i].value;
        if (!c->delegs.slots[i].key || !e)
            continue;
        for (size_t k = 0; k < e->n; k++)
            free(e->grants[k].patterns);
        free(e->grants);
        free(e->key);
        free(e);
    }
    aa__map_free(&c->sessions);
    aa__map_free(&c->delegs);
}

void aa__cache_close(aa__cache *c) {
    if (!c)
        return;
    drop_entries(c);
    pthread_mutex_destroy(&c->mu);
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

bool aa__cache_session_get(aa__cache *c, const char *id, uint64_t gen,
                           bool *found, aa_session *out) {
    bool hit = false;
    pthread_mutex_lock(&c->mu);
    sess_entry *e = aa__map_get(&c->sessions, id, strlen(id));
    if (e && e->gen == gen) {
        *found = e->found;
        hit = !e->found || copy_session(&e->s, out);
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

/* Makes room: at the limit, everything goes (cheap, and rare). */
static void make_room(aa__cache *c) {
    if (c->sessions.count + c->delegs.count >= MAX_ENTRIES)
        drop_entries(c);
}

void aa__cache_session_put(aa__cache *c, const char *id, uint64_t gen,
                           const aa_session *s) {
    pthread_mutex_lock(&c->mu);
    sess_entry *e = aa__map_get(&c->sessions, id, strlen(id));
    if (e) { /* refresh in place */
        aa_session_clear(&e->s);
        memset(&e->s, 0, sizeof e->s);
    } else {
        make_room(c);
        e = calloc(1, sizeof *e);
        if (e && !(e->key = strdup(id))) {
            free(e);
            e = NULL;
        }
        if (e && !aa__map_put(&c->sessions, e->key, strlen(e->key), e)) {
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
    pthread_mutex_unlock(&c->mu);
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
    pthread_mutex_lock(&c->mu);
    deleg_entry *e = aa__map_get(&c->delegs, key, klen);
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
    pthread_mutex_unlock(&c->mu);
    if (key != buf)
        free(key);
    return answered;
}

void aa__cache_deleg_put(aa__cache *c, const char *agent, const char *user,
                         uint64_t gen, aa__cache_grant *grants, size_t n) {
    size_t klen;
    char *key = aa__pair_key(agent, user, NULL, 0, &klen);
    pthread_mutex_lock(&c->mu);
    deleg_entry *e = key ? aa__map_get(&c->delegs, key, klen) : NULL;
    if (e) {
        for (size_t k = 0; k < e->n; k++)
            free(e->grants[k].patterns);
        free(e->grants);
        free(key);
        key = NULL;
    } else if (key) {
        make_room(c);
        e = calloc(1, sizeof *e);
        if (e) {
            e->key = key;
            e->keylen = klen;
            key = NULL;
            if (!aa__map_put(&c->delegs, e->key, e->keylen, e)) {
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
        for (size_t k = 0; k < n; k++)
            free(grants[k].patterns);
        free(grants);
    }
    free(key);
    pthread_mutex_unlock(&c->mu);
}
