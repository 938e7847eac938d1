/*
 * audit_read.c - reading, verifying and rotating the audit log (the public
 * aa_audit_* functions; the format and the hash are defined in audit.h).
 *
 * All three stream the file line by line through a 64 KiB buffer; a line
 * is held whole only while it is looked at, up to MAX_LINE bytes (longer
 * ones count as malformed), so memory stays constant whatever the size of
 * the file.
 *
 * What verify accepts (everything else is AA_ETAMPER at the first line that
 * breaks, with the kind of break in err):
 *   - every line is a JSON object ending in ,"prev_hash":"<64 hex>",
 *     "hash":"<64 hex>"} whose hash is SHA-256 of the line with the hash
 *     field left out ("edited" otherwise);
 *   - the first line's prev_hash is 64 zeros, or the first line is an
 *     audit.rotate record (written by aa_audit_rotate) whose
 *     archive_last_hash equals its prev_hash;
 *   - every other line's prev_hash is the hash of the line before it
 *     ("inserted" / "deleted" otherwise); the line right after a leading
 *     audit.rotate record may instead link to that record's prev_hash:
 *     rotation keeps the lines it does not archive byte for byte, so the
 *     first of them still links to the last archived line (the rotate
 *     record is a signpost beside the chain, itself hashed and linked to the
 *     archive's last line);
 *   - torn lines: a fragment that starts like one of our lines but is not
 *     whole, either at the end of the file or followed by a line that links
 *     to the last whole line before it (which is what the writer does after
 *     an interrupted write, see audit.c). Such a fragment is never a
 *     decision that was returned to a caller (the call that wrote it died or
 *     failed with AA_EAUDIT), and the chain around it is intact, so verify
 *     reports it as a warning in err and still returns AA_OK. A fragment
 *     the chain does not run over (a whole line cut short, say) is a
 *     malformed line and a break.
 */
#include "audit.h"
#include "fsafe.h"
#include "sha256.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CHUNK 65536
#define MAX_LINE   (4u << 20) /* the writer writes at most 1 MiB */
#define HASH_HEX   64
#define SUFFIX_LEN 75 /* ,"hash":"<64>"} */
#define PREV_LEN   79 /* ,"prev_hash":"<64>" */
#define LINE_START "{\"timestamp\":\""

static const char zero_hash[HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/* ---- a line reader over a file descriptor -------------------------------- */

typedef struct reader {
    int fd;
    char *buf; /* READ_CHUNK + 1 */
    size_t start, end;
    bool eof;
    aa__buf spill;  /* a line that crosses the buffer's end */
    off_t consumed; /* file offset of the next line */
    /* the current line: */
    bool newline; /* it ended in '\n' */
    bool toolong; /* longer than MAX_LINE: its text is not kept */
    char empty[1];
} reader;

static bool reader_init(reader *r, int fd) {
    memset(r, 0, sizeof *r);
    r->fd = fd;
    aa__buf_init(&r->spill);
    r->buf = malloc(READ_CHUNK + 1);
    return r->buf != NULL;
}

static void reader_free(reader *r) {
    free(r->buf);
    aa__buf_free(&r->spill);
}

/* 1 with the next line (NUL-terminated, without its '\n'), 0 at the end of
 * the file, or -1 with errno set. */
static int reader_next(reader *r, char **line, size_t *len) {
    bool spilled = false, toolong = false;
    size_t total = 0;
    aa__buf_reset(&r->spill);
    for (;;) {
        if (r->start < r->end) {
            char *s = r->buf + r->start;
            size_t avail = r->end - r->start;
            char *nl = memchr(s, '\n', avail);
            size_t n = nl ? (size_t)(nl - s) : avail;
            total += n;
            r->start += n + (nl != NULL);
            r->consumed += (off_t)(n + (nl != NULL));
            if (nl && !spilled) {
                *nl = 0;
                *line = s;
                *len = n;
                r->newline = true;
                r->toolong = false;
                return 1;
            }
            spilled = true;
            if (!toolong && total > MAX_LINE) {
                toolong = true;
                aa__buf_reset(&r->spill);
            } else if (!toolong) {
                aa__buf_append(&r->spill, s, n);
                if (r->spill.oom) {
                    errno = ENOMEM;
                    return -1;
                }
            }
            if (nl) {
                r->newline = true;
                break;
            }
        }
        if (r->eof) {
            if (!spilled)
                return 0;
            r->newline = false;
            break;
        }
        ssize_t got = read(r->fd, r->buf, READ_CHUNK);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        r->start = 0;
        r->end = (size_t)got;
        r->eof = got == 0;
    }
    r->toolong = toolong;
    *line = r->spill.data ? r->spill.data : r->empty;
    *len = toolong ? 0 : r->spill.len;
    return 1;
}

/* Opens the log for reading (fsafe.h): a regular file, not through a
 * symlink, without blocking on a FIFO. */
static int open_log(const char *path, int flags, aa_error *err) {
    (void)flags;
    aa__fs_target t = {.what = "audit log",
                       .path = path,
                       .status = AA_EIO,
                       .refused = AA_EIO,
                       .hint = AA__AUDIT_OFF_HINT};
    int fd;
    aa__fs_open(&t, AA__FS_READ, &fd, NULL, err);
    return fd;
}

/* ---- hashing ------------------------------------------------------------- */

static bool is_hex64(const char *s) {
    for (int i = 0; i < HASH_HEX; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

/* True when the line ends in ,"hash":"<64 hex>"}; *hash points at the hex. */
static bool hash_suffix(const char *line, size_t len, const char **hash) {
    if (len < SUFFIX_LEN)
        return false;
    const char *s = line + len - SUFFIX_LEN;
    if (s[0] != ',' || memcmp(s + 1, "\"hash\":\"", 8) != 0 ||
        !is_hex64(s + 9) || s[73] != '"' || s[74] != '}')
        return false;
    *hash = s + 9;
    return true;
}

/* True when the line ends in ,"prev_hash":"<64>","hash":"<64>"}. */
static bool chain_suffix(const char *line, size_t len, const char **prev,
                         const char **hash) {
    if (len < 1 + PREV_LEN + SUFFIX_LEN || !hash_suffix(line, len, hash))
        return false;
    const char *p = line + len - SUFFIX_LEN - PREV_LEN;
    if (memcmp(p, ",\"prev_hash\":\"", 14) != 0 || !is_hex64(p + 14) ||
        p[78] != '"')
        return false;
    *prev = p + 14;
    return true;
}

/* SHA-256 of line[0, len - SUFFIX_LEN) + "}" as hex: the line as it reads
 * without its hash field. The line must be writable; it is restored. */
static bool line_hash(char *line, size_t len, char out[HASH_HEX + 1]) {
    size_t cut = len - SUFFIX_LEN;
    char saved = line[cut];
    line[cut] = '}';
    bool ok = aa__sha256_hex(line, cut + 1, out);
    line[cut] = saved;
    return ok;
}

/* ---- entries ------------------------------------------------------------- */

/* A JSON object with a timestamp aa_parse_time accepts, or NULL. */
static json_t *parse_entry(const char *line, size_t len, int64_t *ts) {
    json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
    if (!j)
        return NULL;
    const char *t = json_string_value(json_object_get(j, "timestamp"));
    if (!json_is_object(j) || !t || aa_parse_time(t, ts) != AA_OK) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static bool str_field_is(json_t *j, const char *key, const char *want) {
    const char *v = json_string_value(json_object_get(j, key));
    return v && strcmp(v, want) == 0;
}

static bool is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

/* ---- reading ------------------------------------------------------------- */

int aa_audit_read(const char *path, const aa_audit_filter *filter,
                  aa_audit_entry_fn fn, void *userdata, size_t *matched,
                  size_t *skipped, aa_error *err) {
    size_t nmatch = 0, nskip = 0;
    if (matched)
        *matched = 0;
    if (skipped)
        *skipped = 0;
    if (aa__empty(path))
        return aa__fail(err, AA_EINVAL, "audit log: no path");
    aa_audit_filter f = {.allowed = AA_AUDIT_ANY};
    if (filter)
        f = *filter;
    size_t limit = f.limit ? f.limit : 1000;
    int64_t since = 0;
    if (!aa__empty(f.since) && aa_parse_time(f.since, &since) != AA_OK)
        return aa__fail(err, AA_EINVAL,
                        "invalid --since timestamp '%s' (expected ISO 8601)",
                        f.since);

    int fd = open_log(path, O_RDONLY, err);
    if (fd < 0)
        return AA_EIO;
    reader r;
    if (!reader_init(&r, fd)) {
        close(fd);
        return aa__fail(err, AA_ENOMEM, "audit log '%s': out of memory", path);
    }
    int rc = AA_OK, got = 0;
    char *line;
    size_t len;
    while (nmatch < limit && (got = reader_next(&r, &line, &len)) == 1) {
        if (!r.toolong && is_blank(line, len))
            continue;
        int64_t ts;
        json_t *j = r.toolong ? NULL : parse_entry(line, len, &ts);
        if (!j) {
            nskip++;
            continue;
        }
        bool ok = true;
        if (!aa__empty(f.since) && ts < since)
            ok = false;
        if (ok && !aa__empty(f.agent))
            ok = str_field_is(j, "agent", f.agent);
        if (ok && !aa__empty(f.user))
            ok = str_field_is(j, "user", f.user);
        if (ok && !aa__empty(f.action))
            ok = str_field_is(j, "action", f.action);
        if (ok && !aa__empty(f.event))
            ok = str_field_is(j, "event", f.event);
        if (ok && f.allowed != AA_AUDIT_ANY) {
            json_t *a = json_object_get(j, "allowed");
            ok = json_is_boolean(a) &&
                 json_is_true(a) == (f.allowed == AA_AUDIT_ALLOWED_ONLY);
        }
        json_decref(j);
        if (!ok)
            continue;
        nmatch++;
        if (fn && fn(userdata, line, len) != 0)
            break;
    }
    if (got < 0 && nmatch < limit)
        rc = aa__fail(err, AA_EIO, "audit log '%s': %s", path, strerror(errno));
    reader_free(&r);
    close(fd);
    if (matched)
        *matched = nmatch;
    if (skipped)
        *skipped = nskip;
    return rc;
}

/* ---- verifying ----------------------------------------------------------- */

/* Could this be one of our lines cut short? It starts like one, and it is
 * not JSON (no proper prefix of an object is), so readers never show it. */
static bool torn_prefix(const char *line, size_t len, bool toolong) {
    size_t n = strlen(LINE_START);
    if (toolong || len == 0 || memcmp(line, LINE_START, len < n ? len : n))
        return false;
    json_t *j = json_loadb(line, len, 0, NULL);
    json_decref(j);
    return j == NULL;
}

/* A well-formed chained line: the suffix, and a JSON object whose own
 * prev_hash and hash are the suffix's (no second copy hidden earlier). */
static json_t *chained_line(const char *line, size_t len, bool toolong,
                            const char **prev, const char **hash) {
    if (toolong || !chain_suffix(line, len, prev, hash))
        return NULL;
    json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
    if (j && json_is_object(j)) {
        const char *p = json_string_value(json_object_get(j, "prev_hash"));
        const char *h = json_string_value(json_object_get(j, "hash"));
        if (p && h && strlen(p) == HASH_HEX && strlen(h) == HASH_HEX &&
            memcmp(p, *prev, HASH_HEX) == 0 && memcmp(h, *hash, HASH_HEX) == 0)
            return j;
    }
    json_decref(j);
    return NULL;
}

/* An audit.rotate record that may open a file with a nonzero prev_hash. */
static bool rotate_record(json_t *j, const char *prev) {
    const char *alh =
        json_string_value(json_object_get(j, "archive_last_hash"));
    return str_field_is(j, "event", "audit.rotate") &&
           json_is_string(json_object_get(j, "archive")) && alh &&
           strlen(alh) == HASH_HEX && memcmp(alh, prev, HASH_HEX) == 0;
}

typedef struct chain {
    const char *path;
    aa_error *err;
    size_t good;    /* whole lines verified */
    size_t last_no; /* line number of the last whole line, 0: none */
    char last[HASH_HEX + 1];
    size_t before_no; /* the whole line before that one, 0: none */
    char before[HASH_HEX + 1];
    bool after_rotate; /* the last whole line is a leading rotate record */
    char rotate_prev[HASH_HEX + 1];
    size_t torn_first; /* first line of a run of torn fragments, 0: none */
    size_t torn_last;
} chain;

static int broken(chain *c, size_t lineno, size_t *bad_line, const char *fmt,
                  ...) AA__PRINTF(4, 5);
static int broken(chain *c, size_t lineno, size_t *bad_line, const char *fmt,
                  ...) {
    va_list ap;
    va_start(ap, fmt);
    aa__error_vadd(c->err, AA_SEVERITY_ERROR, AA_ETAMPER, c->path, (int)lineno,
                   0, fmt, ap);
    va_end(ap);
    if (bad_line)
        *bad_line = lineno;
    return AA_ETAMPER;
}

static void torn_warning(chain *c, bool at_end) {
    if (c->torn_first == 0)
        return;
    const char *what =
        at_end ? "not part of the chain"
               : "skipped: the next line links to the last whole line";
    if (c->torn_first == c->torn_last)
        aa__error_add(c->err, AA_SEVERITY_WARNING, AA_ETAMPER, c->path,
                      (int)c->torn_first, 0,
                      "torn line (an incomplete write, e.g. by an "
                      "interrupted writer): %s",
                      what);
    else
        aa__error_add(c->err, AA_SEVERITY_WARNING, AA_ETAMPER, c->path,
                      (int)c->torn_first, 0,
                      "torn lines %zu-%zu (incomplete writes, e.g. by "
                      "interrupted writers): %s",
                      c->torn_first, c->torn_last, what);
    c->torn_first = c->torn_last = 0;
}

/* Checks one whole line's link; AA_OK or AA_ETAMPER. */
static int check_link(chain *c, size_t lineno, json_t *j, const char *prev,
                      size_t *bad_line) {
    if (c->last_no == 0) {
        if (memcmp(prev, zero_hash, HASH_HEX) == 0)
            return AA_OK;
        if (rotate_record(j, prev)) {
            c->after_rotate = true;
            memcpy(c->rotate_prev, prev, HASH_HEX);
            return AA_OK;
        }
        if (c->torn_first)
            return broken(c, c->torn_first, bad_line,
                          "malformed line (not a whole JSON line with "
                          "prev_hash and hash)");
        return broken(c, lineno, bad_line,
                      "deleted: the first line's prev_hash is not 64 zeros "
                      "(and the line is no audit.rotate record), so lines "
                      "before it were removed");
    }
    if (memcmp(prev, c->last, HASH_HEX) == 0 ||
        (c->after_rotate && memcmp(prev, c->rotate_prev, HASH_HEX) == 0))
        return AA_OK;
    if (c->torn_first) /* the chain does not run over the fragment */
        return broken(c, c->torn_first, bad_line,
                      "malformed line (not a whole JSON line with prev_hash "
                      "and hash), and line %zu does not link to line %zu",
                      lineno, c->last_no);
    if (c->before_no && memcmp(prev, c->before, HASH_HEX) == 0)
        return broken(c, c->last_no, bad_line,
                      "inserted: line %zu links to line %zu, not to this "
                      "line",
                      lineno, c->before_no);
    return broken(c, lineno, bad_line,
                  "deleted or replaced: prev_hash is not the hash of line "
                  "%zu, so a line before this one was removed or line %zu "
                  "was replaced",
                  c->last_no, c->last_no);
}

int aa_audit_verify(const char *path, size_t *lines, size_t *bad_line,
                    aa_error *err) {
    if (lines)
        *lines = 0;
    if (bad_line)
        *bad_line = 0;
    if (aa__empty(path))
        return aa__fail(err, AA_EINVAL, "audit log: no path");
    int fd = open_log(path, O_RDONLY, err);
    if (fd < 0)
        return AA_EIO;
    reader r;
    if (!reader_init(&r, fd)) {
        reader_free(&r);
        close(fd);
        return aa__fail(err, AA_ENOMEM, "audit log '%s': out of memory", path);
    }
    chain c = {.path = path, .err = err};
    int rc = AA_OK, got = 0;
    size_t lineno = 0;
    char *line;
    size_t len;
    while (rc == AA_OK && (got = reader_next(&r, &line, &len)) == 1) {
        lineno++;
        const char *prev, *hash;
        json_t *j = chained_line(line, len, r.toolong, &prev, &hash);
        if (!j) {
            if (torn_prefix(line, len, r.toolong)) {
                if (!c.torn_first)
                    c.torn_first = lineno;
                c.torn_last = lineno;
                continue;
            }
            rc = broken(&c, lineno, bad_line,
                        "malformed line (not a whole JSON line with "
                        "prev_hash and hash)");
            break;
        }
        char want[HASH_HEX + 1];
        if (!line_hash(line, len, want)) {
            json_decref(j);
            rc = aa__fail(err, AA_EIO, "audit log '%s': SHA-256 failed", path);
            break;
        }
        if (memcmp(want, hash, HASH_HEX) != 0) {
            json_decref(j);
            rc = broken(&c, lineno, bad_line,
                        "edited: the line's content does not match its hash");
            break;
        }
        bool was_first = c.last_no == 0;
        rc = check_link(&c, lineno, j, prev, bad_line);
        json_decref(j);
        if (rc != AA_OK)
            break;
        torn_warning(&c, false);
        if (!was_first)
            c.after_rotate = false;
        memcpy(c.before, c.last, sizeof c.last);
        c.before_no = c.last_no;
        memcpy(c.last, hash, HASH_HEX);
        c.last[HASH_HEX] = 0;
        c.last_no = lineno;
        c.good++;
    }
    if (rc == AA_OK && got < 0)
        rc = aa__fail(err, AA_EIO, "audit log '%s': %s", path, strerror(errno));
    if (rc == AA_OK)
        torn_warning(&c, true);
    reader_free(&r);
    close(fd);
    if (lines)
        *lines = c.good;
    return rc;
}

/* ---- rotating ------------------------------------------------------------ */

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copies [from, to) of src to the end of dst. */
static int copy_range(int src, int dst, off_t from, off_t to, char *buf) {
    while (from < to) {
        size_t want = to - from < READ_CHUNK ? (size_t)(to - from) : READ_CHUNK;
        ssize_t got = pread(src, buf, want, from);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return got < 0 ? errno : EIO;
        int e = write_all(dst, buf, (size_t)got);
        if (e)
            return e;
        from += got;
    }
    return 0;
}

/* What a first pass over the log found. */
typedef struct split {
    off_t at;         /* first byte kept */
    size_t moved;     /* lines before it */
    size_t entries;   /* entries among them, leading rotate record aside */
    bool add_newline; /* the moved part lacks its final '\n' */
    char last_hash[HASH_HEX + 1]; /* of the last whole moved line */
} split;

static int find_split(int fd, int64_t cutoff, split *s) {
    reader r;
    if (!reader_init(&r, fd))
        return ENOMEM;
    memset(s, 0, sizeof *s);
    memcpy(s->last_hash, zero_hash, sizeof zero_hash);
    char *line;
    size_t len;
    int got, e = 0;
    while ((got = reader_next(&r, &line, &len)) == 1) {
        int64_t ts = 0;
        json_t *j = r.toolong ? NULL : parse_entry(line, len, &ts);
        if (j && ts >= cutoff) {
            json_decref(j);
            break;
        }
        const char *hash;
        if (!r.toolong && hash_suffix(line, len, &hash)) {
            memcpy(s->last_hash, hash, HASH_HEX);
            s->last_hash[HASH_HEX] = 0;
        }
        if (j && !(s->moved == 0 && str_field_is(j, "event", "audit.rotate")))
            s->entries++;
        json_decref(j);
        s->moved++;
        s->at = r.consumed;
        s->add_newline = !r.newline;
    }
    if (got < 0)
        e = errno ? errno : EIO;
    reader_free(&r);
    return e;
}

/* The audit.rotate record that opens the new file. */
static bool rotate_line(aa__buf *b, const char *archive_name,
                        const char *last_hash, int64_t now_us) {
    char ts[33], id[37], hash[HASH_HEX + 1];
    aa_format_time(now_us, ts);
    if (aa__uuid4(id) != AA_OK)
        return false;
    json_t *name = json_string(archive_name); /* NULL: not UTF-8 */
    if (!name)
        return false;
    json_decref(name);
    aa__buf_printf(b,
                   "{\"timestamp\":\"%s\",\"event_id\":\"%s\","
                   "\"event\":\"audit.rotate\",\"archive\":",
                   ts, id);
    aa__buf_json_string(b, archive_name, strlen(archive_name));
    aa__buf_printf(b, ",\"archive_last_hash\":\"%s\",\"prev_hash\":\"%s\"",
                   last_hash, last_hash);
    aa__buf_printf(b, ",\"hash\":\"%s\"}", zero_hash);
    bool ok = !b->oom && line_hash(b->data, b->len, hash);
    if (ok) {
        memcpy(b->data + b->len - 2 - HASH_HEX, hash, HASH_HEX);
        aa__buf_putc(b, '\n');
    }
    return ok && !b->oom;
}

static int lock_file(int fd) {
    while (flock(fd, LOCK_EX) != 0)
        if (errno != EINTR)
            return errno;
    return 0;
}

static int sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int e = fsync(fd) == 0 ? 0 : errno;
    close(fd);
    return e;
}

/* Makes a temporary file beside the log: its descriptor, with *tmp its
 * malloc'd path, or -1 and errno. */
static int make_temp(const char *dir, const char *base, mode_t mode,
                     char **tmp) {
    size_t n = strlen(dir) + strlen(base) + 16;
    char *p = malloc(n);
    if (!p) {
        errno = ENOMEM;
        return -1;
    }
    snprintf(p, n, "%s/.%s.XXXXXX", dir, base);
    int fd = mkostemp(p, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        free(p);
        errno = e;
        return -1;
    }
    if (fchmod(fd, mode & 0777) != 0) {
        /* mkostemp's 0600 stays: stricter is fine */
    }
    *tmp = p;
    return fd;
}

typedef struct rot {
    const char *path;
    char *dir, *base;      /* of the log */
    char *arch_tmp, *arch; /* archive: temporary and final path */
    char *log_tmp;
    int fd, afd, lfd;
    aa__buf line;
    char *buf;
} rot;

static void rot_free(rot *r, bool keep_archive) {
    if (r->afd >= 0)
        close(r->afd);
    if (r->lfd >= 0)
        close(r->lfd);
    if (r->fd >= 0)
        close(r->fd); /* releases the lock */
    if (r->arch_tmp)
        unlink(r->arch_tmp);
    if (r->log_tmp)
        unlink(r->log_tmp);
    if (r->arch && !keep_archive)
        unlink(r->arch);
    free(r->arch_tmp);
    free(r->log_tmp);
    free(r->arch);
    free(r->dir);
    free(r->base);
    free(r->buf);
    aa__buf_free(&r->line);
}

/* Links the archive's temporary file to a free dated name:
 * <stem>.<YYYY-MM-DDTHHMMSS>[-N]<ext>. */
static int link_archive(rot *r, int64_t now_us) {
    char ts[33], stamp[20];
    aa_format_time(now_us, ts);
    snprintf(stamp, sizeof stamp, "%.13s%.2s%.2s", ts, ts + 14, ts + 17);
    const char *dot = strrchr(r->base, '.');
    size_t stem =
        dot && dot != r->base ? (size_t)(dot - r->base) : strlen(r->base);
    const char *ext = r->base + stem;
    size_t n = strlen(r->dir) + strlen(r->base) + 48;
    for (int i = 1; i < 1000; i++) {
        char *p = malloc(n);
        if (!p)
            return ENOMEM;
        char num[16] = "";
        if (i > 1)
            snprintf(num, sizeof num, "-%d", i);
        snprintf(p, n, "%s/%.*s.%s%s%s", r->dir, (int)stem, r->base, stamp, num,
                 ext);
        if (link(r->arch_tmp, p) == 0) {
            r->arch = p;
            return 0;
        }
        int e = errno;
        free(p);
        if (e != EEXIST)
            return e;
    }
    return EEXIST;
}

int aa_audit_rotate(const char *path, int retention_days, int64_t now_us,
                    char **archive, size_t *moved, aa_error *err) {
    if (archive)
        *archive = NULL;
    if (moved)
        *moved = 0;
    if (aa__empty(path) || retention_days < 0)
        return aa__fail(err, AA_EINVAL,
                        "audit rotate: a path and a retention of 0 days or "
                        "more are needed");
    rot r = {.path = path, .fd = -1, .afd = -1, .lfd = -1};
    aa__buf_init(&r.line);
    const char *slash = strrchr(path, '/');
    r.dir = slash ? (slash == path ? strdup("/")
                                   : strndup(path, (size_t)(slash - path)))
                  : strdup(".");
    r.base = strdup(slash ? slash + 1 : path);
    r.buf = malloc(READ_CHUNK);
    if (!r.dir || !r.base || !r.buf) {
        rot_free(&r, false);
        return aa__fail(err, AA_ENOMEM, "audit log '%s': out of memory", path);
    }

    /* Lock the file that is at path now (a rotation may just replace it). */
    struct stat st;
    const char *what = "cannot open";
    int e = 0;
    for (int tries = 0;; tries++) {
        /* Only a log of our own, in a directory of our own (fsafe.h). */
        aa__fs_target t = {.what = "audit log",
                           .path = path,
                           .status = AA_EIO,
                           .refused = AA_EIO,
                           .hint = AA__AUDIT_OFF_HINT};
        int rc = aa__fs_open(&t, AA__FS_WRITE, &r.fd, NULL, err);
        if (rc != AA_OK) {
            rot_free(&r, false);
            return AA_EIO;
        }
        if ((e = lock_file(r.fd)) != 0 || fstat(r.fd, &st) != 0) {
            e = e ? e : errno;
            goto fail;
        }
        if (st.st_nlink > 0 || aa__fs_same_file(path, &st))
            break;
        close(r.fd);
        r.fd = -1;
        if (tries == 16) {
            e = EAGAIN;
            goto fail;
        }
    }
    if (!S_ISREG(st.st_mode)) {
        e = EINVAL;
        what = "not a regular file";
        goto fail;
    }

    /* A retention too long for the clock keeps everything (no overflow). */
    const int64_t day_us = INT64_C(86400000000);
    int64_t keep = retention_days > INT64_MAX / day_us
                       ? INT64_MAX
                       : retention_days * day_us;
    int64_t cutoff;
    if (__builtin_sub_overflow(now_us, keep, &cutoff))
        cutoff = INT64_MIN;
    split s;
    what = "cannot read";
    if ((e = find_split(r.fd, cutoff, &s)) != 0)
        goto fail;
    if (s.entries == 0) { /* nothing old enough (a lone rotate record aside) */
        rot_free(&r, false);
        return AA_OK;
    }

    /* The archive: the moved lines as they are. */
    what = "cannot write the archive";
    r.afd = make_temp(r.dir, r.base, st.st_mode, &r.arch_tmp);
    if (r.afd < 0 || (e = copy_range(r.fd, r.afd, 0, s.at, r.buf)) != 0 ||
        (s.add_newline && (e = write_all(r.afd, "\n", 1)) != 0) ||
        fsync(r.afd) != 0 || (e = link_archive(&r, now_us)) != 0) {
        e = e ? e : errno;
        goto fail;
    }

    /* The new log: the rotate record, then the kept lines as they are. */
    what = "cannot write the new log";
    const char *name = strrchr(r.arch, '/') + 1;
    if (!rotate_line(&r.line, name, s.last_hash, now_us)) {
        e = EINVAL;
        what = "cannot build the rotate record (file name not UTF-8?)";
        goto fail;
    }
    r.lfd = make_temp(r.dir, r.base, st.st_mode, &r.log_tmp);
    if (r.lfd < 0 || (e = write_all(r.lfd, r.line.data, r.line.len)) != 0 ||
        (e = copy_range(r.fd, r.lfd, s.at, st.st_size, r.buf)) != 0 ||
        fsync(r.lfd) != 0 || rename(r.log_tmp, path) != 0) {
        e = e ? e : errno;
        goto fail;
    }
    free(r.log_tmp);
    r.log_tmp = NULL;
    if ((e = sync_dir(r.dir)) != 0) {
        /* renamed already: the rotation happened, only its sync failed */
        aa__error_add(err, AA_SEVERITY_WARNING, AA_EIO, path, 0, 0,
                      "cannot sync directory '%s': %s", r.dir, strerror(e));
    }
    if (archive)
        *archive = strdup(r.arch);
    if (moved)
        *moved = s.moved;
    rot_free(&r, true);
    return AA_OK;

fail:
    aa__fail(err, AA_EIO, "audit log '%s': %s: %s", path, what, strerror(e));
    rot_free(&r, false);
    return AA_EIO;
}
