/*
 * audit.c - the audit log writer (contract section 10; line format and
 * hash in audit.h; reading, verifying and rotating in audit_read.c).
 *
 * Durability, audit.fsync:
 *   never     (default) the line is in the kernel page cache when the call
 *             returns: it survives the process crashing, not the machine
 *             losing power. Cost: one write(2) per line.
 *   always    fdatasync(2) per line before the call returns: no decision is
 *             acted on before its line is on disk, at the price of a disk
 *             flush per decision (milliseconds on real disks, three or more
 *             orders of magnitude above the write itself), serialised.
 *   interval  group commit: a background thread fdatasyncs while lines are
 *             pending, at most once per AUDIT_SYNC_INTERVAL_MS, so a line is
 *             on disk within that interval plus one flush. A power loss may
 *             lose the lines of the last interval; per-line cost stays
 *             close to `never`. A failed background flush is reported by
 *             the next write (fail closed).
 *
 * Concurrency: a mutex serialises the threads sharing one aa__audit; an
 * exclusive flock(2) serialises processes, held only while the previous
 * hash is found and the line written. Each process must open its own
 * aa__audit (flock belongs to the open file, which fork shares).
 *
 * The previous hash: the writer remembers the file size after its own last
 * write and the hash of that line. Under the lock, an unchanged size means
 * no one else wrote, so the cached hash is the previous one; otherwise the
 * tail of the file is read back to the last line that ends with a well
 * formed `"hash":"<64 hex>"}`.
 *
 * Torn lines: a writer killed in the middle of write(2), or a short write
 * on a full disk, can leave a fragment without its '\n'. The next writer
 * then starts its line with '\n', so the fragment stays on its own line,
 * and chains to the last whole line before it. Readers skip the fragment
 * as malformed; aa_audit_verify accepts it with a warning, because the
 * chain visibly runs over it and its call never returned a decision (see
 * audit_read.c).
 *
 * Rotation (aa_audit_rotate) replaces the file by rename while holding the
 * lock; a writer that finds its file unlinked (st_nlink == 0) once it holds
 * the lock reopens the path and continues the chain from the new file (a
 * removed log is recreated the same way, with a new chain). A log renamed
 * away by another tool is not noticed: the writer follows the open file.
 */
#include "audit.h"
#include "fsafe.h"

#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define AUDIT_SYNC_INTERVAL_MS 100
/* Longest line written; audit_read.c reads lines up to 4 MiB. */
#define AUDIT_MAX_LINE (1u << 20)
#define HASH_HEX       64

static const char zero_hash[HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

struct aa__audit {
    char *path;
    int fd;
    bool regular; /* a regular file: sizes and tails mean something */
    aa__fsync_mode mode;
    pthread_mutex_t mu; /* everything below, and the chain step */
    aa__buf line;       /* '\n' + the line being written */
    aa__buf scratch;    /* a string being repaired */
    char last_hash[HASH_HEX + 1];
    off_t known_size; /* size after our last write; -1 unknown */

    /* interval mode */
    pthread_cond_t cv;
    pthread_t syncer;
    bool syncer_running;
    bool dirty; /* written since the last flush */
    bool stop;
    int sync_errno; /* a failed background flush, reported once */

    /* Random bytes for event ids, drawn 4 KiB at a time: getrandom per
     * line would be a system call per decision. The page is wiped in a
     * forked child (MADV_WIPEONFORK), so `filled` reads 0 there and the
     * child draws its own bytes instead of repeating the parent's ids. */
    struct rnd_pool *rnd;
};

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

static int fail_errno(aa__audit *a, aa_error *err, int e) {
    return aa__fail(err, AA_EAUDIT, "audit log '%s': %s", a->path, strerror(e));
}

static bool is_hex64(const char *s) {
    for (int i = 0; i < HASH_HEX; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

/* Length of the well-formed UTF-8 sequence at s (1-4), or 0 when the byte
 * at s does not start one (RFC 3629: no overlongs, no surrogates). */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

/* Appends s (NULL as "") as a JSON string. Bytes that are not well-formed
 * UTF-8 become U+FFFD, so the line always stays valid JSON. */
static void put_str(aa__audit *a, const char *s) {
    if (!s)
        s = "";
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s), i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(u + i, n - i);
        if (k == 0)
            break;
        i += k;
    }
    if (i == n) {
        aa__buf_json_string(&a->line, s, n);
        return;
    }
    aa__buf_reset(&a->scratch);
    aa__buf_append(&a->scratch, s, i);
    while (i < n) {
        size_t k = utf8_seq(u + i, n - i);
        if (k == 0) {
            aa__buf_append(&a->scratch, "\xef\xbf\xbd", 3);
            i++;
        } else {
            aa__buf_append(&a->scratch, s + i, k);
            i += k;
        }
    }
    if (a->scratch.oom) {
        a->line.oom = true;
        return;
    }
    aa__buf_json_string(&a->line, a->scratch.data, a->scratch.len);
}

static void put_optional(aa__audit *a, const char *s) {
    if (aa__empty(s))
        aa__buf_append(&a->line, "null", 4);
    else
        put_str(a, s);
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
    memcpy(a->last_hash, zero_hash, sizeof zero_hash);
    return AA_OK;
}

static void *syncer_main(void *arg);

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
    aa__buf_init(&a->line);
    aa__buf_init(&a->scratch);
    pthread_mutex_init(&a->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cv, &ca);
    pthread_condattr_destroy(&ca);

    int rc = open_file(a, err);
    if (rc == AA_OK && fsync == AA__FSYNC_INTERVAL) {
        int e = pthread_create(&a->syncer, NULL, syncer_main, a);
        if (e != 0)
            rc = aa__fail(err, AA_EAUDIT,
                          "audit log '%s': cannot start the sync thread: %s",
                          path, strerror(e));
        else
            a->syncer_running = true;
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
    if (a->syncer_running) {
        pthread_mutex_lock(&a->mu);
        a->stop = true;
        pthread_cond_signal(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->syncer, NULL); /* it flushes what is pending */
    }
    if (a->fd >= 0)
        close(a->fd);
    if (a->rnd)
        munmap(a->rnd, sizeof *a->rnd);
    aa__buf_free(&a->line);
    aa__buf_free(&a->scratch);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    free(a->path);
    free(a);
}

/* ---- group commit -------------------------------------------------------- */

static void *syncer_main(void *arg) {
    aa__audit *a = arg;
    pthread_mutex_lock(&a->mu);
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

/* True when s (75 bytes) reads `,"hash":"<64 hex>"}`. */
static bool hash_suffix(const char *s) {
    return s[0] == ',' && memcmp(s + 1, "\"hash\":\"", 8) == 0 &&
           is_hex64(s + 9) && s[73] == '"' && s[74] == '}';
}
#define HASH_SUFFIX_LEN 75

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
        if (end >= HASH_SUFFIX_LEN) {
            char s[HASH_SUFFIX_LEN];
            e = pread_full(fd, s, sizeof s, end - HASH_SUFFIX_LEN);
            if (e)
                return e;
            if (hash_suffix(s)) {
                memcpy(out, s + 9, HASH_HEX);
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

static int lock_file(int fd) {
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
        int e = lock_file(a->fd);
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
        int rc = open_file(a, err); /* sets a->fd only on success */
        if (rc != AA_OK) {
            flock(old, LOCK_UN);
            return rc;
        }
        close(old); /* releases its lock */
    }
}

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (w == 0)
            return ENOSPC;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* a->line holds '\n', then the line up to the prev_hash value's closing
 * quote with placeholders for the timestamp (at ts_off) and prev_hash. Fills
 * them in under the lock, hashes, appends the hash and writes. */
static int commit(aa__audit *a, size_t ts_off, aa_error *err) {
    if (a->sync_errno) {
        int e = a->sync_errno;
        a->sync_errno = 0;
        return aa__fail(err, AA_EAUDIT,
                        "audit log '%s': a background fsync failed: %s",
                        a->path, strerror(e));
    }
    size_t prev_off = a->line.len - HASH_HEX - 1;
    aa__buf_append(&a->line, ",\"hash\":\"", 9);
    size_t hash_off = a->line.len;
    aa__buf_append(&a->line, zero_hash, HASH_HEX);
    aa__buf_append(&a->line, "\"}\n", 3);
    if (a->line.oom)
        return aa__fail(err, AA_EAUDIT, "audit log '%s': out of memory",
                        a->path);
    if (a->line.len - 1 > AUDIT_MAX_LINE)
        return aa__fail(err, AA_EAUDIT,
                        "audit log '%s': line too long (%zu bytes, at most "
                        "%u)",
                        a->path, a->line.len - 1, AUDIT_MAX_LINE);

    struct stat st;
    int rc = lock_current(a, &st, err);
    if (rc != AA_OK)
        return rc;
    char *buf = a->line.data;
    bool need_nl = false;
    if (a->regular && st.st_size != a->known_size) {
        int e = tail_hash(a->fd, st.st_size, a->last_hash, &need_nl);
        if (e) {
            flock(a->fd, LOCK_UN);
            return aa__fail(err, AA_EAUDIT,
                            "audit log '%s': cannot read the previous hash: "
                            "%s",
                            a->path, strerror(e));
        }
    }
    char ts[33];
    aa_format_time(aa__now_us(), ts);
    memcpy(buf + ts_off, ts, 32);
    memcpy(buf + prev_off, a->last_hash, HASH_HEX);

    /* hash = SHA-256(line up to prev_hash's closing quote + "}") */
    size_t cut = hash_off - 9; /* the ',' of ,"hash": */
    buf[cut] = '}';
    char hash[HASH_HEX + 1];
    bool ok = aa__sha256_hex(buf + 1, cut, hash);
    buf[cut] = ',';
    if (!ok) {
        flock(a->fd, LOCK_UN);
        return aa__fail(err, AA_EAUDIT, "audit log '%s': SHA-256 failed",
                        a->path);
    }
    memcpy(buf + hash_off, hash, HASH_HEX);

    const char *p = need_nl ? buf : buf + 1;
    size_t n = need_nl ? a->line.len : a->line.len - 1;
    int e = write_all(a->fd, p, n);
    if (e == 0) {
        memcpy(a->last_hash, buf + hash_off, HASH_HEX);
        a->known_size = st.st_size + (off_t)n;
    } else {
        a->known_size = -1; /* a part may be there: read the tail next time */
    }
    flock(a->fd, LOCK_UN);
    if (e != 0)
        return fail_errno(a, err, e);

    if (a->mode == AA__FSYNC_ALWAYS) {
        if (fdatasync(a->fd) != 0 && errno != EINVAL)
            return aa__fail(err, AA_EAUDIT, "audit log '%s': fsync: %s",
                            a->path, strerror(errno));
    } else if (a->mode == AA__FSYNC_INTERVAL && !a->dirty) {
        a->dirty = true;
        pthread_cond_signal(&a->cv);
    }
    return AA_OK;
}

/* Starts a line: '\n' (sent only after a torn fragment), the timestamp
 * placeholder, event_id and event. Returns the timestamp's offset. */
static size_t begin_line(aa__audit *a, const char *event, bool *ok) {
    aa__buf_reset(&a->line);
    aa__buf_append(&a->line, "\n{\"timestamp\":\"", 15);
    size_t ts_off = a->line.len;
    aa__buf_append(&a->line, zero_hash, 32);
    aa__buf_append(&a->line, "\",\"event_id\":\"", 14);
    char id[37];
    unsigned char r[16];
    *ok = next_random16(a, r) == AA_OK;
    aa__uuid4_format(r, id);
    aa__buf_append(&a->line, id, 36);
    aa__buf_append(&a->line, "\",\"event\":", 10);
    put_str(a, event);
    return ts_off;
}

static void end_fields(aa__audit *a) {
    aa__buf_append(&a->line, ",\"prev_hash\":\"", 14);
    aa__buf_append(&a->line, zero_hash, HASH_HEX);
    aa__buf_putc(&a->line, '"');
}

int aa__audit_write_decision(aa__audit *a, const aa__audit_decision *d,
                             aa_error *err) {
    if (!a || !d || !d->req)
        return aa__fail(err, AA_EAUDIT, "audit log: no log or no decision");
    const aa_request *r = d->req;
    pthread_mutex_lock(&a->mu);
    bool ok;
    size_t ts_off = begin_line(a, "authorize", &ok);
    aa__buf *b = &a->line;
    aa__buf_append(b, ",\"agent\":", 9);
    put_str(a, r->agent);
    aa__buf_append(b, ",\"user\":", 8);
    put_str(a, r->user);
    aa__buf_append(b, ",\"action\":", 10);
    put_str(a, r->action);
    aa__buf_append(b, ",\"resource\":", 12);
    put_str(a, r->resource);
    aa__buf_puts(b, d->allowed ? ",\"allowed\":true" : ",\"allowed\":false");
    aa__buf_append(b, ",\"tier\":", 8);
    put_str(a, aa_tier_name(d->tier));
    aa__buf_append(b, ",\"reason\":", 10);
    put_str(a, d->reason);
    aa__buf_puts(b, d->requires_approval ? ",\"requires_approval\":true"
                                         : ",\"requires_approval\":false");
    aa__buf_append(b, ",\"approval_policy\":", 19);
    put_str(a, d->approval_policy);
    aa__buf_append(b, ",\"session_id\":", 14);
    put_optional(a, r->session_id);
    aa__buf_append(b, ",\"scope\":", 9);
    put_str(a, r->scope);
    aa__buf_append(b, ",\"target_agent\":", 16);
    put_optional(a, r->target_agent);
    double ms = d->evaluation_time_ms;
    aa__buf_printf(b, ",\"evaluation_time_ms\":%.3f",
                   isfinite(ms) && ms > -1e15 && ms < 1e15 ? ms : 0.0);
    aa__buf_append(b, ",\"config_name\":", 15);
    put_str(a, d->config_name);
    aa__buf_append(b, ",\"config_version\":", 18);
    put_str(a, d->config_version);
    end_fields(a);
    int rc = ok ? commit(a, ts_off, err)
                : aa__fail(err, AA_EAUDIT,
                           "audit log '%s': no random bytes for an event id",
                           a->path);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

int aa__audit_write_event(aa__audit *a, const char *event, const char *fields,
                          aa_error *err) {
    if (!a || aa__empty(event))
        return aa__fail(err, AA_EAUDIT, "audit log: no log or no event");
    pthread_mutex_lock(&a->mu);
    bool ok;
    size_t ts_off = begin_line(a, event, &ok);
    if (!aa__empty(fields)) {
        aa__buf_putc(&a->line, ',');
        size_t at = a->line.len;
        aa__buf_puts(&a->line, fields);
        for (size_t i = at; i < a->line.len && !a->line.oom; i++)
            if (a->line.data[i] == '\n' || a->line.data[i] == '\r')
                a->line.data[i] = ' '; /* JSON whitespace; one line stays one */
    }
    end_fields(a);
    int rc = ok ? commit(a, ts_off, err)
                : aa__fail(err, AA_EAUDIT,
                           "audit log '%s': no random bytes for an event id",
                           a->path);
    pthread_mutex_unlock(&a->mu);
    return rc;
}
