/*
 * store_cache.h - a read cache in front of a state store that several
 * processes share.
 *
 * Every process that writes the store bumps a generation counter kept in a
 * small shared file beside it (`<db>-gen`, mapped into memory) after each
 * committed change. A reader loads the counter before it reads the store
 * and tags what it caches with that value; a cached answer is used only
 * while the counter still has it. So a lookup that nobody invalidated costs
 * one atomic load and a hash probe instead of a SQLite statement (whose
 * file locks alone are two system calls), and a revocation made by any
 * process is seen by every other as soon as the revoking call returns.
 * Expiry is still decided against the clock at every lookup.
 *
 * Writers that bypass the library (the sqlite3 shell) do not bump the
 * counter: processes then see their change only once something else does.
 */
#ifndef AA_STORE_CACHE_H
#define AA_STORE_CACHE_H

#include "store.h"

typedef struct aa__cache aa__cache;

/* Maps `<db_path>-gen` (created 0600 when missing). NULL when it cannot:
 * the store then works uncached. */
aa__cache *aa__cache_open(const char *db_path);
/* A cache whose generation lives in this process only: its owner bumps
 * it when it learns of a change some other way (PostgreSQL notifications,
 * store_pg.c). NULL when out of memory. */
aa__cache *aa__cache_new_local(void);
void aa__cache_close(aa__cache *c);

/* The current generation (load before reading the store). */
uint64_t aa__cache_gen(const aa__cache *c);
/* After a committed write. */
void aa__cache_bump(aa__cache *c);

/* Session by id: returns true when the cache answers for generation gen;
 * then *found says whether the session exists and, if so, *out is filled
 * (strings allocated, as from the store). */
bool aa__cache_session_get(aa__cache *c, const char *id, uint64_t gen,
                           bool *found, aa_session *out);
/* The same with the strings copied into buf (cap bytes), allocating
 * nothing; no answer either when they do not fit. */
bool aa__cache_session_get_into(aa__cache *c, const char *id, uint64_t gen,
                                bool *found, aa_session *out, char *buf,
                                size_t cap);
/* The cached answer a store's session_get gives without reading: true
 * when there is one, *status then AA_OK (*out filled, live or no longer
 * active) or AA_ENOTFOUND. False when the store must be read (*out left
 * zeroed), which includes an active session cached but since expired by
 * the clock, so that the read marks it. */
bool aa__cache_session_answer(aa__cache *c, const char *id, uint64_t gen,
                              int64_t now, aa_session *out, int *status);
/* What a store's session_get_into answers from cache c alone: true when
 * it answers, *status then AA_OK (*out filled, its strings in buf) or
 * AA_ENOTFOUND. False when the store must be read: not cached, not for
 * the current generation, the strings do not fit, or an active session
 * that expired since (the read marks it). */
bool aa__cache_session_answer_into(aa__cache *c, const char *id, int64_t now,
                                   aa_session *out, char *buf, size_t cap,
                                   int *status);
/* The same without a copy, for the engine (hash: from
 * aa__cache_session_prefetch): when the cache answers AA_OK,
 * *out's strings point into the cache (len[] has the lengths of agent,
 * user and scope) and the cache's read lock stays held (*held) until
 * aa__cache_release(*held), which the caller must call soon (the lock
 * keeps writers of that part of the cache waiting). *held is NULL
 * otherwise: false (read the store) or AA_ENOTFOUND. */
bool aa__cache_session_view(aa__cache *c, const char *id, size_t idlen,
                            uint64_t hash, int64_t now, aa_session *out,
                            size_t len[3], int *status, void **held);
/* Starts loading the cache line where session id would be found (so that
 * it arrives while the caller reads the clock) and returns the id's hash,
 * which aa__cache_session_view takes. */
uint64_t aa__cache_session_prefetch(aa__cache *c, const char *id, size_t idlen);
void aa__cache_release(void *held);
/* A store's session_get_into: from cache c (NULL: the store has none in
 * use now) when it answers and the session did not expire since, else
 * s->ops->session_get with the strings copied into buf. */
int aa__store_session_get_into(aa_store *s, aa__cache *c, const char *id,
                               int64_t now, aa_session *out, char *buf,
                               size_t cap, aa_error *err);
/* Remembers what the store said (s NULL: no such session). */
void aa__cache_session_put(aa__cache *c, const char *id, uint64_t gen,
                           const aa_session *s);

/* One live grant of an (agent, user) pair, as delegation_find needs it. */
typedef struct aa__cache_grant {
    char id[37];
    int64_t expires_at;
    char *patterns; /* NUL-separated, owned by the cache once put */
    size_t len;
} aa__cache_grant;

/* Returns true when the cache holds the pair's grants for generation gen;
 * then the oldest live one whose pattern matches `action` is put in *hit
 * and *found set. */
bool aa__cache_deleg_find(aa__cache *c, const char *agent, const char *user,
                          const char *action, int64_t now, uint64_t gen,
                          bool *found, aa__deleg_hit *hit);
/* An (agent, user) pair's key (agent NUL user) and its hash. */
typedef struct aa__cache_pair {
    char *key; /* buf, or allocated: aa__cache_pair_done frees it */
    size_t len;
    uint64_t hash;
    char buf[128];
} aa__cache_pair;
/* Makes *p for the pair (lengths and aa__hash of agent and user given)
 * and starts loading the cache
 * line where it would be found, so that it arrives while the caller
 * reads the clock. False when out of memory (nothing to free). */
bool aa__cache_deleg_prefetch(aa__cache *c, const char *agent, size_t aglen,
                              uint64_t agent_hash, const char *user,
                              size_t ulen, uint64_t user_hash,
                              aa__cache_pair *p);
void aa__cache_pair_done(aa__cache_pair *p);
/* What a store's delegation_find answers from cache c alone (for the
 * current generation) for pair p: true when it answers, *status then
 * AA_OK (*hit filled) or AA_ENOTFOUND; false when the store must be
 * read. */
bool aa__cache_deleg_answer(aa__cache *c, const aa__cache_pair *p,
                            const char *action, size_t alen, int64_t now,
                            aa__deleg_hit *hit, int *status);
/* Frees n grants and the array that holds them. */
void aa__cache_grants_free(aa__cache_grant *grants, size_t n);

/* Remembers a pair's live grants, oldest first; takes the patterns. */
void aa__cache_deleg_put(aa__cache *c, const char *agent, const char *user,
                         uint64_t gen, aa__cache_grant *grants, size_t n);

/* Tests each NUL-separated pattern of blob against action; on a match
 * fills hit->pattern and returns true. Shared with the uncached path. */
bool aa__grant_patterns_match(const char *blob, size_t len, const char *action,
                              size_t alen, aa__deleg_hit *hit);

#endif /* AA_STORE_CACHE_H */
