/*
 * audit.c - the audit log writer (contract section 10; line format and
 * hash in audit.h; reading, verifying and rotating in audit_read.c).
 *
 * Group commit: a caller builds its line in a buffer of its own (the
 * decision's), outside every lock: fields, timestamp (the decision's
 * time), event id, and the SHA-256 of everything before prev_hash. Then it
 * queues the line (aa__audit_commit). The caller at the head of the queue
 * leads: it takes every line queued at that moment as one group, and with
 * the mutex released (others queue the next group meanwhile) takes the
 * file lock once, finds the previous hash once, chains and seals the lines
 * in queue order, writes them with one writev(2) and applies the fsync mode
 * once; then it wakes each caller of the group and hands the lead to the
 * next head. aa_authorize_many queues all its lines at once. A caller
 * returns only when its own line is in the file (and on disk, with fsync
 * always), or with the failure: when a write fails part-way, the lines
 * written whole stand, and every later line of the group fails (with
 * on_failure deny, its decision is denied).
 *
 * Durability, audit.fsync:
 *   never     (default) a line is in the kernel page cache when its caller
 *             returns: it survives the process crashing, not the machine
 *             losing power. Cost: one writev(2) per group.
 *   always    fdatasync(2) once per group before any caller of the group
 *             returns: no decision is acted on before its line is on disk.
 *             A flush takes milliseconds on real disks; the lines that
 *             arrive meanwhile share the next one.
 *   interval  a background thread fdatasyncs while lines are pending, at
 *             most once per AUDIT_SYNC_INTERVAL_MS, so a line is on disk
 *             within that interval plus one flush. A power loss may lose
 *             the lines of the last interval; the cost stays close to
 *             `never`. A failed background flush fails the next group
 *             (fail closed).
 *
 * Processes: an exclusive flock(2) serialises the processes sharing the
 * file. flock belongs to the open file, which fork shares: a forked child
 * reopens the log before its first group (see "fork" below). The lock is
 * held while a group is chained and
 * written. A writer that keeps writing keeps it between its groups (from
 * its second group on, a releaser thread gives it up once it went unused
 * for LEASE_NS, and it is retaken after HOLD_NS in any case), so that a
 * stream of single decisions takes the lock once per lease, not per
 * decision: while it is held no cooperating writer can append, and one
 * fstat per group (which tools that ignore the lock, such as rm or
 * truncate, make necessary) proves the file unchanged. An idle writer
 * holds it for at most two lease periods.
 *
 * The previous hash: the writer remembers the file size after its own last
 * write and the hash of that line. Having taken the lock, an unchanged
 * size means no one else wrote, so the cached hash is the previous one;
 * otherwise the tail of the file is read back to the last line that ends
 * with a well formed `"hash":"<64 hex>"}`.
 *
 * Torn lines: a writer killed in the middle of writev(2), or a short write
 * on a full disk, can leave a fragment without its '\n'. The next writer
 * then starts its group with '\n', so the fragment stays on its own line,
 * and chains to the last whole line before it. Readers skip the fragment
 * as malformed; verify accepts it with a warning, because it is a prefix
 * of a line (the JSON parser runs out of input), the chain visibly runs
 * over it and its call never returned a decision (see audit_read.c).
 *
 * Rotation (aa_audit_rotate) replaces the file by rename while holding the
 * lock; a leader that finds its file unlinked (st_nlink == 0) once it
 * holds the lock reopens the path and continues the chain from the new
 * file (a removed log is recreated the same way, with a new chain). A log
 * renamed away by another tool is not noticed: the writer follows the open
 * file.
 */
#include "audit.h"
#include "fsafe.h"

#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define AUDIT_SYNC_INTERVAL_MS 100
/* Longest line written; audit_read.c reads lines up to 4 MiB. */
#define AUDIT_MAX_LINE (1u << 20)
#define HASH_HEX       AA__AUDIT_HASH_HEX
#define SUFFIX_LEN     AA__AUDIT_SUFFIX_LEN
#define PREV_LEN       AA__AUDIT_PREV_LEN
#define zero_hash      aa__audit_zero_hash

/* A caller waiting for its lines to be written (group commit). */
typedef struct waiter {
    aa__audit_line *const *lines;
    size_t n;
    size_t written; /* lines [0, written) are in the file */
    int rc;
    aa_error *err; /* the caller's */
    bool done;
    pthread_cond_t cv;
    struct waiter *next;
} waiter;

struct aa__audit {
    char *path;
    aa__fsync_mode mode;
    pthread_mutex_t mu;  /* the queue, the random pool, fd swaps, below */
    waiter *head, *tail; /* callers in order; the head leads its group */

    /* The chain step, owned by the leader of the group being written (one
     * at a time: the head of the queue); fd is swapped under mu too. */
    int fd;
    bool regular;   /* a regular file: sizes and tails mean something */
    bool lock_held; /* flock held from one group to the next one */
    unsigned held_groups;
    uint64_t held_since; /* CLOCK_MONOTONIC ns when the lock was taken */

    /* The lease (see release_main), under mu: */
    bool leading;    /* a leader is writing: the lock is its to use */
    bool lease_used; /* a group was written since the releaser looked */
    bool lease_stop;
    bool releaser_running;
    pid_t releaser_pid; /* a forked child has no releaser to stop */
    pid_t opener_pid;   /* a forked child leaves the lock to its parent */
    /* Set in a forked child (see on_fork_child): the open file and its
     * lock are the parent's, so the next group reopens the log first. */
    bool reopen;
    /* Threads created and not yet running their main function (under mu):
     * fork waits for them (see on_fork_prepare). */
    unsigned starting;
    pthread_cond_t started_cv;
    struct aa__audit *reg_prev, *reg_next; /* the registry, below */
    unsigned groups;                       /* groups written, up to 2 */
    pthread_t releaser;
    pthread_cond_t lease_cv;
    char last_hash[HASH_HEX + 1];
    off_t known_size; /* size after our last write; -1 unknown */

    /* Head tracking (anchoring), the leader's: the file's line count as of
     * known_size, and its identity. */
    bool track;
    bool lines_known;
    int64_t lines;
    char identity[HASH_HEX + 1]; /* "" unknown or not a chain start */
    bool head_new;               /* the group moved the head */
    /* ... and the slot the anchoring thread reads, under mu. */
    aa__audit_head slot;
    uint64_t slot_seq;
    void (*notify)(void *ud);
    void *notify_ud;
    aa_error *gerr; /* the leader's: why its group failed */

    /* interval mode */
    pthread_cond_t cv;
    pthread_t syncer;
    bool syncer_running;
    bool dirty; /* written since the last flush */
    bool stop;
    int sync_errno; /* a failed background flush, reported once */

    /* CLOCK_REALTIME minus CLOCK_MONOTONIC (microseconds), as read at
     * CLOCK_MONOTONIC time wall_at (ns): see aa__audit_wall_us. */
    _Atomic int64_t wall_offset;
    _Atomic uint64_t wall_at;

    /* Random bytes for event ids, drawn 4 KiB at a time: getrandom per
     * line would be a system call per decision. The page is wiped in a
     * forked child (MADV_WIPEONFORK), so `filled` reads 0 there and the
     * child draws its own bytes instead of repeating the parent's ids. */
    struct rnd_pool *rnd;
};

/* A line being built by its caller, outside every lock. */
struct aa__audit_line {
    aa__buf text; /* '\n', the line, '\n' */
    aa__map seen; /* metadata keys of a line, when there are many */
    /* The line's hash begun up to its prev_hash value (see seal_line). */
    aa__sha256_mid mid;
    bool has_mid;
    /* The last timestamp written, and its second: a line in the same
     * second only changes the microseconds. */
    char ts[33];
    int64_t ts_sec;
};

aa__audit_line *aa__audit_line_new(void) {
    aa__audit_line *l = calloc(1, sizeof *l);
    if (l) {
        aa__buf_init(&l->text);
        aa__map_init(&l->seen);
    }
    return l;
}

void aa__audit_line_free(aa__audit_line *l) {
    if (!l)
        return;
    aa__buf_free(&l->text);
    aa__map_free(&l->seen);
    free(l);
}

struct rnd_pool {
    unsigned char filled; /* 1 once bytes were drawn in this process */
    size_t used;
    unsigned char bytes[4096 - 2 * sizeof(size_t)];
};

/* 16 fresh random bytes for an event id (mutex held). */
static int next_random16(aa__audit *a, unsigned char out[16]) {
    struct rnd_pool *p = a->rnd;
    if (!p)
        return aa__random(out, 16);
    if (!p->filled || p->used + 16 > sizeof p->bytes) {
        if (aa__random(p->bytes, sizeof p->bytes) != AA_OK)
            return AA_EIO;
        p->filled = 1;
        p->used = 0;
    }
    memcpy(out, p->bytes + p->used, 16);
    memset(p->bytes + p->used, 0, 16); /* used bytes do not linger */
    p->used += 16;
    return AA_OK;
}

/* ---- small helpers ------------------------------------------------------- */

/* How long a measured offset between the two clocks is used: NTP slews
 * the wall clock by at most 500 ppm, so a timestamp is off by at most
 * 5 us for it, and a step of the wall clock shows within this time. */
#define WALL_RESYNC_NS 10000000

int64_t aa__audit_wall_us(aa__audit *a, uint64_t mono_ns) {
    if (!a || mono_ns == 0)
        return aa__now_us();
    uint64_t at = atomic_load_explicit(&a->wall_at, memory_order_relaxed);
    int64_t age = (int64_t)(mono_ns - at);
    if (at == 0 || age > WALL_RESYNC_NS || age < -WALL_RESYNC_NS) {
        int64_t wall = aa__now_us();
        uint64_t mono = aa__mono_ns();
        atomic_store_explicit(&a->wall_offset, wall - (int64_t)(mono / 1000),
                              memory_order_relaxed);
        atomic_store_explicit(&a->wall_at, mono, memory_order_relaxed);
    }
    return (int64_t)(mono_ns / 1000) +
           atomic_load_explicit(&a->wall_offset, memory_order_relaxed);
}

const char aa__audit_zero_hash[HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

static int fail_errno(aa__audit *a, aa_error *err, int e) {
    return aa__fail(err, AA_EAUDIT, "audit log '%s': %s", a->path, strerror(e));
}

bool aa__audit_is_hex64(const char *s) {
    for (int i = 0; i < HASH_HEX; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

bool aa__audit_chain_fields(const char *line, size_t len, const char **prev,
                            const char **hash) {
    if (len < SUFFIX_LEN)
        return false;
    const char *s = line + len - SUFFIX_LEN;
    if (s[0] != ',' || memcmp(s + 1, "\"hash\":\"", 8) != 0 ||
        !aa__audit_is_hex64(s + 9) || s[73] != '"' || s[74] != '}')
        return false;
    *hash = s + 9;
    if (!prev)
        return true;
    if (len < 1 + PREV_LEN + SUFFIX_LEN)
        return false;
    const char *p = s - PREV_LEN;
    if (memcmp(p, ",\"prev_hash\":\"", 14) != 0 ||
        !aa__audit_is_hex64(p + 14) || p[78] != '"')
        return false;
    *prev = p + 14;
    return true;
}

bool aa__audit_line_hash(char *line, size_t len, char out[HASH_HEX + 1]) {
    size_t cut = len - SUFFIX_LEN; /* the ',' of ,"hash": */
    char saved = line[cut];
    line[cut] = '}';
    bool ok = aa__sha256_hex(line, cut + 1, out);
    line[cut] = saved;
    return ok;
}

/* Appends s (NULL as "") as a JSON string (invalid UTF-8 as U+FFFD). */
static void put_str(aa__buf *b, const char *s) {
    aa__buf_json_string(b, s ? s : "", s ? strlen(s) : 0);
}

/* "" and NULL as null. */
static void put_optional(aa__buf *b, const char *s) {
    if (aa__empty(s))
        aa__buf_append(b, "null", 4);
    else
        put_str(b, s);
}

/* Bytes a JSON string may hold as they are (printable ASCII but '"' and
 * '\\'): keys made of them are written in one piece. */
static bool plain_byte(unsigned char c) {
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* ,"key": -- in one piece when the key needs no escaping, as the keys of
 * the fields written are. */
static void put_key(aa__buf *b, const char *key) {
    size_t n = 0;
    while (plain_byte((unsigned char)key[n]))
        n++;
    if (key[n] == 0 && aa__buf_reserve(b, n + 4)) {
        char *p = b->data + b->len;
        p[0] = ',';
        p[1] = '"';
        memcpy(p + 2, key, n);
        p[n + 2] = '"';
        p[n + 3] = ':';
        b->len += n + 4;
        b->data[b->len] = 0;
        return;
    }
    aa__buf_putc(b, ',');
    put_str(b, key);
    aa__buf_putc(b, ':');
}

/* ---- opening and closing ------------------------------------------------- */

/* Opens (creating) the log through fsafe.c: a file of our own in a
 * directory of our own, never a symlink, a FIFO or a device. */
static int open_file(aa__audit *a, aa_error *err) {
    aa__fs_target t = {.what = "audit log",
                       .path = a->path,
                       .status = AA_EAUDIT,
                       .refused = AA_EREFUSED,
                       .hint = AA__AUDIT_OFF_HINT};
    struct stat st;
    int fd;
    int rc = aa__fs_open(&t, AA__FS_WRITE | AA__FS_CREATE | AA__FS_APPEND, &fd,
                         &st, err);
    if (rc != AA_OK)
        return rc == AA_EREFUSED ? rc : AA_EAUDIT;
    a->fd = fd;
    a->regular = S_ISREG(st.st_mode);
    a->known_size = -1;
    a->lines_known = false;
    memcpy(a->last_hash, zero_hash, sizeof zero_hash);
    return AA_OK;
}

static void *syncer_main(void *arg);

/* ---- fork ------------------------------------------------------------------
 * A process that forks (a server forking its workers after making its
 * engine) leaves each child a copy of every writer. Every open writer is
 * in a registry; around fork(2) its mutex is taken, so that no copy is
 * made in the middle of a change, and in the child each copy starts over:
 * no queue (its waiters were threads of the parent), no leader, no
 * releaser or sync thread (threads are not copied), and a reopened file,
 * since the open file description, and with it the flock, is shared with
 * the parent: writers sharing one would all hold the lock at once.
 *
 * The writer starts its threads itself, from calls that return at once
 * (aa_engine_new starts the sync thread, the second group the releaser),
 * and a process may fork the moment such a call returns. A thread that is
 * still starting may be inside malloc: the C library's allocator is
 * fork-safe, but an allocator that is not (AddressSanitizer's before LLVM
 * 18 takes no lock around fork, and its thread start allocates) leaves
 * the child a lock nobody will release, and the child hangs in its first
 * malloc. So fork waits until every thread of a writer has started, that
 * is, runs its main function (thread_started); from then on these threads
 * only wait on their condition variable or make system calls, and never
 * allocate. */
static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static aa__audit *registry;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_prepare(void) {
    pthread_mutex_lock(&registry_mu);
    for (aa__audit *a = registry; a; a = a->reg_next) {
        pthread_mutex_lock(&a->mu);
        while (a->starting > 0) /* a thread of its own may be in malloc */
            pthread_cond_wait(&a->started_cv, &a->mu);
    }
}

static void on_fork_parent(void) {
    for (aa__audit *a = registry; a; a = a->reg_next)
        pthread_mutex_unlock(&a->mu);
    pthread_mutex_unlock(&registry_mu);
}

static void on_fork_child(void) {
    for (aa__audit *a = registry; a; a = a->reg_next) {
        a->head = a->tail = NULL;
        a->leading = false;
        a->lease_used = false;
        a->lease_stop = false;
        a->releaser_running = false;
        a->groups = 0;
        a->held_groups = 0;
        a->lock_held = false; /* the parent's; never released from here */
        a->syncer_running = false;
        a->stop = false;
        a->dirty = false;
        a->reopen = true;
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&a->cv, &ca);
        pthread_cond_init(&a->lease_cv, &ca);
        pthread_condattr_destroy(&ca);
        pthread_cond_init(&a->started_cv, NULL); /* `starting` is 0 here */
        pthread_mutex_unlock(&a->mu);
    }
    pthread_mutex_unlock(&registry_mu);
}

/* Starts one of the writer's threads, counted in `starting` until it runs
 * (see "fork" above). Called with mu held. */
static int start_thread(aa__audit *a, pthread_t *t, void *(*fn)(void *)) {
    a->starting++;
    int e = pthread_create(t, NULL, fn, a);
    if (e != 0)
        a->starting--;
    return e;
}

/* The first thing a writer's thread does, with mu held: it has started. */
static void thread_started(aa__audit *a) {
    if (--a->starting == 0)
        pthread_cond_broadcast(&a->started_cv);
}

static void atfork_init(void) {
    pthread_atfork(on_fork_prepare, on_fork_parent, on_fork_child);
}

static void registry_add(aa__audit *a) {
    pthread_once(&atfork_once, atfork_init);
    pthread_mutex_lock(&registry_mu);
    a->reg_prev = NULL;
    a->reg_next = registry;
    if (registry)
        registry->reg_prev = a;
    registry = a;
    pthread_mutex_unlock(&registry_mu);
}

static void registry_remove(aa__audit *a) {
    pthread_mutex_lock(&registry_mu);
    if (a->reg_prev)
        a->reg_prev->reg_next = a->reg_next;
    else if (registry == a)
        registry = a->reg_next;
    if (a->reg_next)
        a->reg_next->reg_prev = a->reg_prev;
    a->reg_prev = a->reg_next = NULL;
    pthread_mutex_unlock(&registry_mu);
}

/* In a forked child, before its first group: the log reopened (a new open
 * file of its own, to lock), and the sync thread of fsync interval
 * started again. Called by the leader with the mutex held. */
static int after_fork(aa__audit *a, aa_error *err) {
    int old = a->fd;
    int rc = open_file(a, err); /* sets a->fd only on success */
    if (rc != AA_OK)
        return rc;
    if (old >= 0)
        close(old); /* the parent's lock stays the parent's */
    a->reopen = false;
    a->opener_pid = getpid();
    if (a->mode == AA__FSYNC_INTERVAL && !a->syncer_running &&
        start_thread(a, &a->syncer, syncer_main) == 0)
        a->syncer_running = true;
    return AA_OK;
}

int aa__audit_open(const char *path, aa__fsync_mode fsync, aa__audit **out,
                   aa_error *err) {
    if (!out)
        return aa__fail(err, AA_EINVAL, "audit log: no result pointer");
    *out = NULL;
    if (aa__empty(path))
        return aa__fail(err, AA_EAUDIT, "audit log: no path configured");
    aa__audit *a = calloc(1, sizeof *a);
    if (!a || !(a->path = strdup(path))) {
        free(a);
        return aa__fail(err, AA_ENOMEM, "audit log '%s': out of memory", path);
    }
    a->fd = -1;
    a->mode = fsync;
    a->opener_pid = getpid();
    /* Without MADV_WIPEONFORK (old kernels) the pool is not used at all:
     * a forked child must never repeat its parent's event ids. */
    void *pool = mmap(NULL, sizeof *a->rnd, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pool != MAP_FAILED) {
        if (madvise(pool, sizeof *a->rnd, MADV_WIPEONFORK) == 0)
            a->rnd = pool;
        else
            munmap(pool, sizeof *a->rnd);
    }
    pthread_mutex_init(&a->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cv, &ca);
    pthread_cond_init(&a->lease_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&a->started_cv, NULL);

    int rc = (a->gerr = aa_error_new()) ? open_file(a, err)
                                        : aa__fail(err, AA_ENOMEM,
                                                   "audit log '%s': out of "
                                                   "memory",
                                                   path);
    if (rc == AA_OK)
        registry_add(a); /* before the sync thread starts: fork waits for it */
    if (rc == AA_OK && fsync == AA__FSYNC_INTERVAL) {
        pthread_mutex_lock(&a->mu); /* a fork may read `starting` now */
        int e = start_thread(a, &a->syncer, syncer_main);
        if (e == 0)
            a->syncer_running = true;
        pthread_mutex_unlock(&a->mu);
        if (e != 0)
            rc = aa__fail(err, AA_EAUDIT,
                          "audit log '%s': cannot start the sync thread: %s",
                          path, strerror(e));
    }
    if (rc != AA_OK) {
        aa__audit_close(a);
        return rc;
    }
    *out = a;
    return AA_OK;
}

void aa__audit_close(aa__audit *a) {
    if (!a)
        return;
    registry_remove(a);
    if (a->syncer_running) {
        pthread_mutex_lock(&a->mu);
        a->stop = true;
        pthread_cond_signal(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->syncer, NULL); /* it flushes what is pending */
    }
    if (a->releaser_running && a->releaser_pid == getpid()) {
        pthread_mutex_lock(&a->mu);
        a->lease_stop = true;
        pthread_cond_signal(&a->lease_cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->releaser, NULL);
    }
    /* A lock still held is given up explicitly: close(2) alone leaves it
     * to a child forked meanwhile, whose copy of the descriptor shares it,
     * and every other writer would wait for that child to exit. */
    if (a->fd >= 0 && a->lock_held && a->opener_pid == getpid())
        flock(a->fd, LOCK_UN); /* (in such a child the lock is its parent's) */
    if (a->fd >= 0)
        close(a->fd);
    if (a->rnd)
        munmap(a->rnd, sizeof *a->rnd);
    aa_error_free(a->gerr);
    pthread_cond_destroy(&a->cv);
    pthread_cond_destroy(&a->lease_cv);
    pthread_cond_destroy(&a->started_cv);
    pthread_mutex_destroy(&a->mu);
    free(a->path);
    free(a);
}

/* ---- interval mode: the background flush -------------------------------- */

static void *syncer_main(void *arg) {
    aa__audit *a = arg;
    pthread_mutex_lock(&a->mu);
    thread_started(a);
    for (;;) {
        while (!a->dirty && !a->stop)
            pthread_cond_wait(&a->cv, &a->mu);
        if (!a->dirty)
            break; /* stopping with nothing pending */
        a->dirty = false;
        int fd = dup(a->fd); /* the writer may reopen a->fd meanwhile */
        pthread_mutex_unlock(&a->mu);
        int e = 0;
        if (fd < 0 || fdatasync(fd) != 0)
            e = errno;
        if (fd >= 0)
            close(fd);
        pthread_mutex_lock(&a->mu);
        if (e != 0 && e != EINVAL) /* EINVAL: a file that cannot sync */
            a->sync_errno = e;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += AUDIT_SYNC_INTERVAL_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (!a->stop &&
               pthread_cond_timedwait(&a->cv, &a->mu, &until) != ETIMEDOUT)
            ; /* at most one flush per interval; stop cuts the wait short */
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* ---- the chain step ------------------------------------------------------ */

static int pread_full(int fd, void *buf, size_t n, off_t off) {
    char *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (r == 0)
            return EIO; /* shrank under us */
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

/* Position of the last '\n' before `end`, or -1; errno-style result. */
static int prev_newline(int fd, off_t end, off_t *pos) {
    char buf[4096];
    while (end > 0) {
        off_t start = end > (off_t)sizeof buf ? end - (off_t)sizeof buf : 0;
        int e = pread_full(fd, buf, (size_t)(end - start), start);
        if (e)
            return e;
        char *nl = memrchr(buf, '\n', (size_t)(end - start));
        if (nl) {
            *pos = start + (nl - buf);
            return 0;
        }
        end = start;
    }
    *pos = -1;
    return 0;
}

/* Reads back the hash of the last line of the file that ends like a line of
 * ours, skipping torn fragments; zeros when there is none. *need_nl tells
 * whether the file lacks its final '\n'. */
static int tail_hash(int fd, off_t size, char out[HASH_HEX + 1],
                     bool *need_nl) {
    memcpy(out, zero_hash, sizeof zero_hash);
    *need_nl = false;
    if (size == 0)
        return 0;
    char c;
    int e = pread_full(fd, &c, 1, size - 1);
    if (e)
        return e;
    *need_nl = c != '\n';
    off_t end = *need_nl ? size : size - 1; /* end of the candidate line */
    for (;;) {
        if (end >= SUFFIX_LEN) {
            char s[SUFFIX_LEN];
            const char *h;
            e = pread_full(fd, s, sizeof s, end - SUFFIX_LEN);
            if (e)
                return e;
            if (aa__audit_chain_fields(s, sizeof s, NULL, &h)) {
                memcpy(out, h, HASH_HEX);
                return 0;
            }
        }
        off_t nl;
        if ((e = prev_newline(fd, end, &nl)) != 0)
            return e;
        if (nl < 0)
            return 0; /* no whole line: a new chain */
        end = nl;
    }
}

/* ---- head tracking --------------------------------------------------------
 */

/* Adds the '\n's of [from, to) to *n: 0 or an errno value. */
static int count_lines(int fd, off_t from, off_t to, int64_t *n) {
    char buf[65536];
    while (from < to) {
        size_t want =
            (size_t)(to - from) < sizeof buf ? (size_t)(to - from) : sizeof buf;
        int e = pread_full(fd, buf, want, from);
        if (e)
            return e;
        for (char *p = buf, *end = buf + want;
             (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
            (*n)++;
        from += (off_t)want;
    }
    return 0;
}

/* Offset of the event's string in a line (begin_line's fixed layout). */
#define EVENT_AT (14 + 32 + 14 + 36 + 10)

/* The identity of the file of size bytes: the hash of its first line when
 * that line is whole and starts a chain (prev_hash of zeros, or an
 * audit.rotate record); "" otherwise. */
static int read_identity(int fd, off_t size, char out[HASH_HEX + 1]) {
    out[0] = 0;
    off_t nl = -1;
    char buf[4096];
    for (off_t at = 0; at < size && nl < 0 && at <= (off_t)AUDIT_MAX_LINE;) {
        size_t want =
            (size_t)(size - at) < sizeof buf ? (size_t)(size - at) : sizeof buf;
        int e = pread_full(fd, buf, want, at);
        if (e)
            return e;
        char *p = memchr(buf, '\n', want);
        if (p)
            nl = at + (p - buf);
        at += (off_t)want;
    }
    if (nl < 1 + SUFFIX_LEN + PREV_LEN + EVENT_AT)
        return 0;
    char tail[1 + PREV_LEN + SUFFIX_LEN], head[EVENT_AT + 14];
    const char *prev, *hash;
    int e = pread_full(fd, tail, sizeof tail, nl - (off_t)sizeof tail);
    if (!e)
        e = pread_full(fd, head, sizeof head, 0);
    if (e)
        return e;
    if (!aa__audit_chain_fields(tail, sizeof tail, &prev, &hash))
        return 0;
    if (memcmp(prev, zero_hash, HASH_HEX) == 0 ||
        memcmp(head + EVENT_AT, "\"audit.rotate\"", 14) == 0) {
        memcpy(out, hash, HASH_HEX);
        out[HASH_HEX] = 0;
    }
    return 0;
}

/* Brings lines (and identity) to the file's size before a group: counts
 * only what others appended since our last write, or the whole file. */
static int track_before(aa__audit *a, off_t size) {
    if (a->lines_known && a->known_size >= 0 && size == a->known_size)
        return 0;
    if (a->lines_known && a->known_size >= 0 && size > a->known_size)
        return count_lines(a->fd, a->known_size, size, &a->lines);
    a->lines = 0;
    a->lines_known = false;
    int e = count_lines(a->fd, 0, size, &a->lines);
    if (!e)
        e = read_identity(a->fd, size, a->identity);
    if (!e)
        a->lines_known = true;
    return e;
}

void aa__audit_track_head(aa__audit *a, void (*notify)(void *ud), void *ud) {
    pthread_mutex_lock(&a->mu);
    a->track = true;
    a->notify = notify;
    a->notify_ud = ud;
    pthread_mutex_unlock(&a->mu);
}

bool aa__audit_head_get(aa__audit *a, aa__audit_head *out, uint64_t *seq) {
    pthread_mutex_lock(&a->mu);
    bool fresh = a->slot_seq != *seq;
    if (fresh) {
        *out = a->slot;
        *seq = a->slot_seq;
    }
    pthread_mutex_unlock(&a->mu);
    return fresh;
}

const char *aa__audit_path(const aa__audit *a) {
    return a->path;
}

int aa__audit_lock(int fd) {
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR)
            return errno;
    }
    return 0;
}

/* Takes the lock on the file that is at a->path now, reopening when it was
 * replaced (rotated) or removed. On success *st describes it. */
static int lock_current(aa__audit *a, struct stat *st, aa_error *err) {
    for (int tries = 0;; tries++) {
        int e = aa__audit_lock(a->fd);
        if (e == 0 && fstat(a->fd, st) != 0)
            e = errno;
        if (e != 0)
            return fail_errno(a, err, e);
        if (!a->regular || st->st_nlink > 0 || aa__fs_same_file(a->path, st))
            return AA_OK; /* (an unlinked file may still be at the path:
                             /proc/self/fd/N of a memfd) */
        if (tries == 16)
            return aa__fail(err, AA_EAUDIT,
                            "audit log '%s': the file keeps being replaced",
                            a->path);
        int old = a->fd;            /* replaced: continue in the new file */
        pthread_mutex_lock(&a->mu); /* the sync thread reads a->fd */
        int rc = open_file(a, err); /* sets a->fd only on success */
        pthread_mutex_unlock(&a->mu);
        if (rc != AA_OK) {
            flock(old, LOCK_UN);
            return rc;
        }
        close(old); /* releases its lock */
    }
}

/* Writes iov[0, cnt) whole: 0, or an errno value with *done the bytes that
 * were written before the failure. */
static int writev_all(int fd, struct iovec *iov, int cnt, size_t *done) {
    *done = 0;
    while (cnt > 0) {
        ssize_t w = writev(fd, iov, cnt);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (w == 0)
            return ENOSPC;
        *done += (size_t)w;
        size_t left = (size_t)w;
        while (cnt > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

int aa__audit_write_all(int fd, const char *p, size_t n) {
    if (n == 0)
        return 0;
    struct iovec iov = {.iov_base = (void *)p, .iov_len = n};
    size_t done;
    return writev_all(fd, &iov, 1, &done);
}

/* ---- building a line ------------------------------------------------------
 * A line is built with placeholders for its timestamp, prev_hash and hash
 * (begin_line ... end_line); seal() fills them in and computes the hash. The
 * writer seals under its lock, once it knows the previous hash. */

/* '{"timestamp":"<ts>","event_id":"<id>","event":<event>' */
static void begin_line(aa__buf *b, const char *ts, const char *event_id,
                       const char *event) {
    aa__buf_append(b, "{\"timestamp\":\"", 14);
    aa__buf_append(b, ts, 32);
    aa__buf_append(b, "\",\"event_id\":\"", 14);
    aa__buf_append(b, event_id, 36);
    aa__buf_append(b, "\",\"event\":", 10);
    put_str(b, event);
}

static void put_fields(aa__buf *b, const aa__audit_field *f, size_t n) {
    for (size_t i = 0; i < n; i++) {
        put_key(b, f[i].key);
        switch (f[i].kind) {
        case AA__AF_TIME: {
            char t[33];
            aa_format_time(f[i].time_us, t);
            put_str(b, t);
            break;
        }
        case AA__AF_STRLIST:
            aa__buf_putc(b, '[');
            for (size_t k = 0; k < f[i].count; k++) {
                if (k)
                    aa__buf_putc(b, ',');
                put_str(b, f[i].list[k]);
            }
            aa__buf_putc(b, ']');
            break;
        case AA__AF_TEXT:
            put_str(b, f[i].str);
            break;
        case AA__AF_OPT:
            put_optional(b, f[i].str);
            break;
        case AA__AF_BOOL:
            aa__buf_puts(b, f[i].flag ? "true" : "false");
            break;
        case AA__AF_JSON:
            aa__buf_puts(b, f[i].str);
            break;
        default:
            if (f[i].str)
                put_str(b, f[i].str);
            else
                aa__buf_append(b, "null", 4);
        }
    }
}

/* ',"prev_hash":"<placeholder>","hash":"<placeholder>"}' */
static void end_line(aa__buf *b) {
    aa__buf_append(b, ",\"prev_hash\":\"", 14);
    aa__buf_append(b, zero_hash, HASH_HEX);
    aa__buf_append(b, "\",\"hash\":\"", 10);
    aa__buf_append(b, zero_hash, HASH_HEX);
    aa__buf_append(b, "\"}", 2);
}

/* Fills in the prev_hash of line[0, len) (which ends with end_line's
 * placeholders) and its hash. False when SHA-256 fails. */
static bool seal(char *line, size_t len, const char *prev) {
    memcpy(line + len - SUFFIX_LEN - PREV_LEN + 14, prev, HASH_HEX);
    char hash[HASH_HEX + 1];
    if (!aa__audit_line_hash(line, len, hash))
        return false;
    memcpy(line + len - SUFFIX_LEN + 9, hash, HASH_HEX);
    return true;
}

bool aa__audit_format_line(aa__buf *out, int64_t ts_us, const char *event,
                           const aa__audit_field *fields, size_t n,
                           const char *prev) {
    char id[37], ts[33];
    if (aa__uuid4(id) != AA_OK)
        return false;
    aa_format_time(ts_us, ts);
    size_t start = out->len;
    begin_line(out, ts, id, event);
    put_fields(out, fields, n);
    end_line(out);
    if (out->oom || !seal(out->data + start, out->len - start, prev))
        return false;
    aa__buf_putc(out, '\n');
    return !out->oom;
}

/* ---- group commit ---------------------------------------------------------
 * Callers build their lines first, each in its own aa__audit_line and in
 * parallel (prepare_*), then queue them (aa__audit_commit). The caller at
 * the head of the queue leads: it takes every line queued so far as one
 * group, and with the mutex released (so that others queue the next group
 * meanwhile) takes the file lock once, finds the previous hash once,
 * chains and seals the lines in queue order, writes them with one
 * writev(2), releases the lock and applies the fsync mode once. Then it
 * wakes each caller of the group with its result and hands the lead to the
 * next head. A caller returns only once its own lines are in the file (and
 * on disk, with fsync always), or with the failure. */

/* aa_format_time(us, ts), from l's last timestamp when in its second. */
static void line_time(aa__audit_line *l, int64_t us, char ts[33]) {
    int64_t sec = us / 1000000;
    if (us < 0 || sec != l->ts_sec || l->ts[0] == 0) {
        aa_format_time(us, l->ts);
        l->ts_sec = us < 0 || l->ts[4] != '-' ? -1 : sec;
        memcpy(ts, l->ts, 33);
        return;
    }
    memcpy(ts, l->ts, 33);
    int frac = (int)(us - sec * 1000000);
    for (int i = 25; i >= 20; i--, frac /= 10)
        ts[i] = (char)('0' + frac % 10);
}

/* Starts l: '\n' (sent only after a torn fragment), then the line's
 * beginning with a fresh event id. *ok is false without random bytes. */
static void start_line(aa__audit *a, aa__audit_line *l, int64_t ts_us,
                       const char *event, bool *ok) {
    unsigned char r[16];
    pthread_mutex_lock(&a->mu);
    *ok = next_random16(a, r) == AA_OK;
    pthread_mutex_unlock(&a->mu);
    char id[37], ts[33];
    aa__uuid4_format(r, id);
    line_time(l, ts_us ? ts_us : aa__now_us(), ts);
    aa__buf_reset(&l->text);
    aa__buf_putc(&l->text, '\n');
    begin_line(&l->text, ts, id, event);
}

/* Ends l with the chain placeholders and its '\n'. */
static int finish_line(aa__audit *a, aa__audit_line *l, bool ok,
                       aa_error *err) {
    end_line(&l->text);
    aa__buf_putc(&l->text, '\n');
    if (!ok)
        return aa__fail(err, AA_EAUDIT,
                        "audit log '%s': no random bytes for an event id",
                        a->path);
    if (l->text.oom)
        return aa__fail(err, AA_EAUDIT, "audit log '%s': out of memory",
                        a->path);
    if (l->text.len - 2 > AUDIT_MAX_LINE)
        return aa__fail(err, AA_EAUDIT,
                        "audit log '%s': line too long (%zu bytes, at most "
                        "%u)",
                        a->path, l->text.len - 2, AUDIT_MAX_LINE);
    /* Everything before the prev_hash value is known now: hash it here,
     * in the caller's thread, not under the writer's lock. */
    size_t len = l->text.len - 2;
    l->has_mid = aa__sha256_begin(&l->mid, l->text.data + 1,
                                  len - SUFFIX_LEN - PREV_LEN + 14);
    return AA_OK;
}

/* Fills in l's prev_hash and hash (the group's leader, in chain order):
 * only the previous hash and the closing '}' are left to hash. */
static bool seal_line(aa__audit_line *l, const char *prev) {
    size_t len = l->text.len - 2;
    char *line = l->text.data + 1;
    if (!l->has_mid)
        return seal(line, len, prev);
    memcpy(line + len - SUFFIX_LEN - PREV_LEN + 14, prev, HASH_HEX);
    char rest[HASH_HEX + 2], hash[HASH_HEX + 1];
    memcpy(rest, prev, HASH_HEX); /* the value, its quote, then "}" */
    rest[HASH_HEX] = '"';
    rest[HASH_HEX + 1] = '}';
    if (!aa__sha256_finish(&l->mid, rest, sizeof rest, hash))
        return false;
    memcpy(line + len - SUFFIX_LEN + 9, hash, HASH_HEX);
    return true;
}

/* The line of l without its '\n's. */
static char *line_of(aa__audit_line *l, size_t *len) {
    *len = l->text.len - 2;
    return l->text.data + 1;
}

/* Releases the file lock the leader holds. */
static void unlock(aa__audit *a) {
    if (a->lock_held)
        flock(a->fd, LOCK_UN);
    a->lock_held = false;
}

/* Groups written one after the other under one hold of the file lock, at
 * most, before the lease starts: then it is released, so that other
 * processes get their turn. */
#define HOLD_GROUPS 16
/* The lease: a writer that keeps writing keeps the lock between its groups
 * and gives it up once it wrote nothing for LEASE_NS to 2 * LEASE_NS, and
 * after holding it for HOLD_NS in any case. */
#define LEASE_NS 1000000
#define HOLD_NS  10000000

/* The releaser: gives the file lock up when no group used it for a lease
 * period, or once it was held for HOLD_NS, while no leader is writing.
 * Started by the second group: a process that writes one group never
 * holds the lock after it. */
static void *release_main(void *arg) {
    aa__audit *a = arg;
    pthread_mutex_lock(&a->mu);
    thread_started(a);
    while (!a->lease_stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += LEASE_NS;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (!a->lease_stop && pthread_cond_timedwait(&a->lease_cv, &a->mu,
                                                        &until) != ETIMEDOUT)
            ;
        if (!a->leading && a->lock_held &&
            (!a->lease_used || aa__mono_ns() - a->held_since >= HOLD_NS))
            unlock(a); /* unused, or held long enough: others' turn */
        a->lease_used = false;
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

#define GROUP_IOV 256 /* lines per writev(2); more take more calls */

/* The leader's I/O for the group first..last (mutex not held): sets each
 * waiter's `written`; AA_OK when every line is written (and synced). */
static int write_group(aa__audit *a, waiter *first, waiter *last,
                       aa_error *err) {
    bool need_nl = false;
    struct stat st;
    if (a->lock_held) { /* kept from the last group: only tools that ignore
                           the lock (rm, truncate) can have changed it */
        if (fstat(a->fd, &st) != 0) {
            int e = errno;
            unlock(a);
            return fail_errno(a, err, e);
        }
        if (a->regular && st.st_nlink == 0 && !aa__fs_same_file(a->path, &st))
            unlock(a); /* removed or replaced: lock_current reopens */
    }
    if (!a->lock_held) {
        int rc = lock_current(a, &st, err);
        if (rc != AA_OK)
            return rc;
        a->lock_held = true;
        a->held_groups = 0;
        a->held_since = aa__mono_ns();
    }
    off_t size = st.st_size;
    a->head_new = false;
    if (a->track && a->regular && track_before(a, size) != 0)
        a->lines_known = false; /* unknown: this group records no head */
    int e = a->regular && st.st_size != a->known_size
                ? tail_hash(a->fd, st.st_size, a->last_hash, &need_nl)
                : 0;
    if (e) {
        unlock(a);
        return aa__fail(err, AA_EAUDIT,
                        "audit log '%s': cannot read the previous hash: "
                        "%s",
                        a->path, strerror(e));
    }
    /* Chain and seal every line, in queue order. */
    const char *prev = a->last_hash;
    for (waiter *w = first;; w = w->next) {
        for (size_t i = 0; i < w->n; i++) {
            size_t len;
            char *line = line_of(w->lines[i], &len);
            if (!seal_line(w->lines[i], prev)) {
                unlock(a);
                return aa__fail(err, AA_EAUDIT,
                                "audit log '%s': SHA-256 failed", a->path);
            }
            prev = line + len - SUFFIX_LEN + 9;
        }
        if (w == last)
            break;
    }
    /* Write them, GROUP_IOV lines per writev(2). */
    struct iovec iov[GROUP_IOV];
    waiter *owner[GROUP_IOV];
    e = 0;
    size_t total = 0;
    waiter *w = first;
    size_t i = 0;
    bool lead_nl = need_nl;
    while (e == 0 && w) {
        int cnt = 0;
        for (; w && cnt < GROUP_IOV; w = w == last ? NULL : w->next, i = 0) {
            for (; i < w->n && cnt < GROUP_IOV; i++, cnt++) {
                aa__audit_line *l = w->lines[i];
                iov[cnt].iov_base = lead_nl ? l->text.data : l->text.data + 1;
                iov[cnt].iov_len = lead_nl ? l->text.len : l->text.len - 1;
                owner[cnt] = w;
                lead_nl = false;
            }
            if (i < w->n)
                break; /* this waiter continues in the next writev */
        }
        size_t lens[GROUP_IOV], done;
        for (int k = 0; k < cnt; k++)
            lens[k] = iov[k].iov_len;
        e = writev_all(a->fd, iov, cnt, &done);
        for (int k = 0; k < cnt && done >= lens[k]; k++) { /* whole lines */
            done -= lens[k];
            total += lens[k];
            owner[k]->written++;
        }
    }
    int rc = AA_OK;
    if (e == 0) {
        memcpy(a->last_hash, prev, HASH_HEX);
        a->known_size = size + (off_t)total;
        if (a->track && a->lines_known) {
            size_t n = 0;
            for (w = first;; w = w->next) {
                n += w->n;
                if (w == last)
                    break;
            }
            if (size == 0) { /* a new file: its first line names it */
                size_t len;
                char *line = line_of(first->lines[0], &len);
                memcpy(a->identity, line + len - SUFFIX_LEN + 9, HASH_HEX);
                a->identity[HASH_HEX] = 0;
            }
            a->lines += (int64_t)n + (need_nl ? 1 : 0);
            a->head_new = a->identity[0] != 0;
        }
    } else {
        a->lines_known = false;
        a->known_size = -1; /* a part may be there: read the tail next time */
        unlock(a);
        rc = fail_errno(a, err, e);
    }
    if (a->mode == AA__FSYNC_ALWAYS && total > 0 && fdatasync(a->fd) != 0 &&
        errno != EINVAL) {
        int se = errno;
        unlock(a);
        rc = aa__fail(err, AA_EAUDIT, "audit log '%s': fsync: %s", a->path,
                      strerror(se));
        for (w = first;; w = w->next) { /* nothing is known to be on disk */
            w->written = 0;
            if (w == last)
                break;
        }
    }
    return rc;
}

/* Called by the head of the queue with the mutex held; returns with it
 * held, its group written and every caller of the group woken. */
static void lead(aa__audit *a, waiter *first) {
    waiter *last = a->tail;
    int sync_e = a->sync_errno;
    a->sync_errno = 0;
    aa_error_clear(a->gerr);
    int fork_rc = a->reopen ? after_fork(a, a->gerr) : AA_OK;
    a->leading = true;
    pthread_mutex_unlock(&a->mu);

    for (waiter *w = first;; w = w->next) {
        w->written = 0;
        if (w == last)
            break;
    }
    int rc = fork_rc != AA_OK ? fork_rc
             : sync_e         ? aa__fail(a->gerr, AA_EAUDIT,
                                         "audit log '%s': a background fsync failed: "
                                                 "%s",
                                         a->path, strerror(sync_e))
                              : write_group(a, first, last, a->gerr);

    pthread_mutex_lock(&a->mu);
    if (rc == AA_OK && a->head_new) { /* for the anchoring thread */
        memcpy(a->slot.identity, a->identity, sizeof a->slot.identity);
        memcpy(a->slot.hash, a->last_hash, HASH_HEX);
        a->slot.hash[HASH_HEX] = 0;
        a->slot.lines = a->lines;
        a->slot_seq++;
        if (a->notify)
            a->notify(a->notify_ud);
    }
    bool wrote = false;
    a->head = last->next;
    if (!a->head)
        a->tail = NULL;
    for (waiter *w = first, *next;; w = next) {
        next = w->next;
        wrote |= w->written > 0;
        w->rc = AA_OK;
        if (w->written < w->n) {
            w->rc = rc != AA_OK ? rc : AA_EAUDIT;
            const aa_diag *dg = aa_error_get(a->gerr, 0);
            aa__fail(w->err, w->rc, "%s",
                     dg ? dg->message : "audit log: line not written");
        }
        w->done = true;
        if (w != first)
            pthread_cond_signal(&w->cv);
        if (w == last)
            break;
    }
    /* The file lock stays held for the next group, which then skips
     * flock (its fstat still runs): before the lease, when that group is
     * queued already (at most HOLD_GROUPS in a row); with the lease, until
     * the releaser finds it unused or held for HOLD_NS. Otherwise it is
     * released, under the mutex, before the next leader can start. */
    if (a->groups < 2 && ++a->groups == 2 &&
        start_thread(a, &a->releaser, release_main) == 0) {
        a->releaser_running = true;
        a->releaser_pid = getpid();
    }
    bool keep =
        a->releaser_running || (a->head && ++a->held_groups < HOLD_GROUPS);
    if (a->lock_held && !keep)
        unlock(a);
    a->lease_used = true;
    a->leading = false;
    if (a->head)
        pthread_cond_signal(&a->head->cv); /* the next group's leader */
    if (wrote && a->mode == AA__FSYNC_INTERVAL && !a->dirty) {
        a->dirty = true;
        pthread_cond_signal(&a->cv);
    }
}

int aa__audit_commit(aa__audit *a, aa__audit_line *const *lines, size_t n,
                     size_t *written, aa_error *err) {
    if (written)
        *written = 0;
    if (!a || (n && !lines))
        return aa__fail(err, AA_EAUDIT, "audit log: no log or no lines");
    if (n == 0)
        return AA_OK;
    waiter w = {.lines = lines, .n = n, .err = err};
    pthread_cond_init(&w.cv, NULL);
    pthread_mutex_lock(&a->mu);
    if (a->tail)
        a->tail->next = &w;
    else
        a->head = &w;
    a->tail = &w;
    while (!w.done && a->head != &w)
        pthread_cond_wait(&w.cv, &a->mu);
    if (!w.done)
        lead(a, &w);
    pthread_mutex_unlock(&a->mu);
    pthread_cond_destroy(&w.cv);
    if (written)
        *written = w.written;
    return w.rc;
}

/* ---- metadata ------------------------------------------------------------ */

static void put_number(aa__buf *b, double v) {
    if (!isfinite(v)) { /* JSON has no NaN or Infinity */
        aa__buf_append(b, "null", 4);
        return;
    }
    char t[32];
    for (int prec = 15; prec <= 17; prec++) { /* the shortest exact form */
        snprintf(t, sizeof t, "%.*g", prec, v);
        if (strtod(t, NULL) == v)
            break;
    }
    aa__buf_puts(b, t);
}

static void put_scalar(aa__buf *b, const aa_meta *m) {
    switch (m->type) {
    case AA_VALUE_BOOL:
        aa__buf_puts(b, m->boolean ? "true" : "false");
        break;
    case AA_VALUE_NUMBER:
        put_number(b, m->number);
        break;
    case AA_VALUE_STRING:
        if (m->string) {
            put_str(b, m->string);
            break;
        }
        /* fall through */
    default:
        aa__buf_append(b, "null", 4);
    }
}

static bool redacted(const aa_policy *p, const char *key) {
    if (!p)
        return false;
    for (size_t i = 0; i < p->audit.redact.count; i++) {
        const char *r = p->audit.redact.items[i];
        if (r[0] == key[0] && strcmp(r, key) == 0)
            return true;
    }
    return false;
}

/* Was key written before entry i? Few keys: a look back; many: a map. */
#define SEEN_LINEAR 16
static bool seen_before(aa__audit_line *l, const aa_meta *meta, size_t i,
                        size_t n) {
    const char *key = meta[i].key;
    if (n <= SEEN_LINEAR) {
        for (size_t k = 0; k < i; k++)
            if (meta[k].key && strcmp(meta[k].key, key) == 0)
                return true;
        return false;
    }
    size_t len = strlen(key);
    if (aa__map_get(&l->seen, key, len))
        return true;
    if (!aa__map_put(&l->seen, key, len, (void *)key))
        l->text.oom = true; /* fails the line */
    return false;
}

static void put_metadata(aa__audit_line *l, const aa_request *r,
                         const aa_policy *policy) {
    aa__buf *b = &l->text;
    size_t n = r->metadata ? r->metadata_count : 0;
    bool first = true;
    aa__buf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        const aa_meta *m = &r->metadata[i];
        if (!m->key || seen_before(l, r->metadata, i, n))
            continue;
        if (!first)
            aa__buf_putc(b, ',');
        first = false;
        put_str(b, m->key);
        aa__buf_putc(b, ':');
        if (redacted(policy, m->key)) {
            aa__buf_append(b, "\"[redacted]\"", 12);
        } else if (m->type == AA_VALUE_LIST) {
            aa__buf_putc(b, '[');
            for (size_t k = 0; k < m->count && m->items; k++) {
                if (k)
                    aa__buf_putc(b, ',');
                put_scalar(b, &m->items[k]); /* lists do not nest */
            }
            aa__buf_putc(b, ']');
        } else {
            put_scalar(b, m);
        }
    }
    aa__buf_putc(b, '}');
    if (n > SEEN_LINEAR) { /* the keys are the caller's: forget them */
        aa__map_free(&l->seen);
        aa__map_init(&l->seen);
    }
}

/* ---- the two kinds of line ----------------------------------------------- */

/* v with three decimals, as "%.3f" writes it (not finite: 0.000). The
 * common case, a small positive time not at a tie, without printf. */
static void format_ms(double v, char out[32]) {
    if (!(isfinite(v) && v > -1e15 && v < 1e15))
        v = 0.0;
    double x = v * 1000.0, f = floor(x);
    if (v < 0 || x >= 1e15 || fabs(x - f - 0.5) < 1e-6) {
        snprintf(out, 32, "%.3f", v);
        return;
    }
    unsigned long long us = (unsigned long long)f + (x - f > 0.5);
    char t[32], *e = t + sizeof t, *p = e;
    for (int i = 0; i < 3; i++, us /= 10)
        *--p = (char)('0' + us % 10);
    *--p = '.';
    do
        *--p = (char)('0' + us % 10);
    while (us /= 10);
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = 0;
}

int aa__audit_prepare_decision(aa__audit *a, const aa__audit_decision *d,
                               aa__audit_line *l, aa_error *err) {
    if (!a || !d || !d->req || !l)
        return aa__fail(err, AA_EAUDIT, "audit log: no log or no decision");
    const aa_request *r = d->req;
    const aa__audit_field request[] = {
        {"agent", AA__AF_TEXT, .str = r->agent},
        {"user", AA__AF_TEXT, .str = r->user},
        {"action", AA__AF_TEXT, .str = r->action},
        {"resource", AA__AF_TEXT, .str = r->resource},
        {"allowed", AA__AF_BOOL, .flag = d->allowed},
        {"tier", AA__AF_TEXT, .str = aa_tier_name(d->tier)},
        {"reason", AA__AF_TEXT, .str = d->reason},
        {"requires_approval", AA__AF_BOOL, .flag = d->requires_approval},
        {"approval_policy", AA__AF_TEXT, .str = d->approval_policy},
        {"session_id", AA__AF_OPT, .str = r->session_id},
        {"scope", AA__AF_TEXT, .str = r->scope},
        {"target_agent", AA__AF_OPT, .str = r->target_agent},
    };
    char ms[32];
    format_ms(d->evaluation_time_ms, ms);
    const aa__audit_field policy[] = {
        {"evaluation_time_ms", AA__AF_JSON, .str = ms},
        {"config_name", AA__AF_TEXT, .str = d->config_name},
        {"config_version", AA__AF_TEXT, .str = d->config_version},
        {"policy_sha256", AA__AF_OPT,
         .str = d->policy ? d->policy->sha256 : NULL},
    };
    bool ok;
    start_line(a, l, d->time_us, "authorize", &ok);
    put_fields(&l->text, request, AA__ARRAY_LEN(request));
    put_key(&l->text, "metadata");
    put_metadata(l, r, d->policy);
    put_fields(&l->text, policy, AA__ARRAY_LEN(policy));
    return finish_line(a, l, ok, err);
}

/* Builds a line with `build` into a line of its own and commits it. */
static int write_one(aa__audit *a, const void *what,
                     int (*build)(aa__audit *, const void *, aa__audit_line *,
                                  aa_error *),
                     aa_error *err) {
    aa__audit_line *l = aa__audit_line_new();
    if (!l)
        return aa__fail(err, AA_EAUDIT, "audit log '%s': out of memory",
                        a->path);
    int rc = build(a, what, l, err);
    if (rc == AA_OK)
        rc = aa__audit_commit(a, &l, 1, NULL, err);
    aa__audit_line_free(l);
    return rc;
}

static int build_decision(aa__audit *a, const void *d, aa__audit_line *l,
                          aa_error *err) {
    return aa__audit_prepare_decision(a, d, l, err);
}

int aa__audit_write_decision(aa__audit *a, const aa__audit_decision *d,
                             aa_error *err) {
    if (!a || !d || !d->req)
        return aa__fail(err, AA_EAUDIT, "audit log: no log or no decision");
    return write_one(a, d, build_decision, err);
}

typedef struct event_args {
    const char *event;
    const aa__audit_field *fields;
    size_t n;
} event_args;

static int build_event(aa__audit *a, const void *p, aa__audit_line *l,
                       aa_error *err) {
    const event_args *ev = p;
    bool ok;
    start_line(a, l, 0, ev->event, &ok);
    put_fields(&l->text, ev->fields, ev->n);
    return finish_line(a, l, ok, err);
}

int aa__audit_write_event(aa__audit *a, const char *event,
                          const aa__audit_field *fields, size_t n,
                          aa_error *err) {
    if (!a || aa__empty(event))
        return aa__fail(err, AA_EAUDIT, "audit log: no log or no event");
    event_args ev = {event, fields, n};
    return write_one(a, &ev, build_event, err);
}
