/*
 * audit_read.c - reading, verifying and rotating the audit log (the public
 * aa_audit_* functions): the one reader of the format audit.c writes.
 *
 * All three stream the file line by line through a 64 KiB buffer; a line
 * is held whole only while it is looked at, up to MAX_LINE bytes (longer
 * ones count as malformed), so memory stays constant whatever the size of
 * the file.
 *
 * The rotation set: a log that rotation opened with an audit.rotate record
 * is verified together with the archive the record names (a file beside
 * it), whose own first record may name an older one, and so on; the walk
 * runs from the oldest file on, carrying the chain from each file to the
 * next. When the oldest file found still opens with a rotate record (its
 * archive is missing, or the name is no file beside the log), the lines
 * before it cannot be checked: "start not anchored", AA_ETAMPER, reported
 * only when nothing else broke first.
 *
 * What verify accepts (everything else is AA_ETAMPER at the first line that
 * breaks, with the kind of break in err):
 *   - every line is a JSON object ending in ,"prev_hash":"<64 hex>",
 *     "hash":"<64 hex>"} whose hash is SHA-256 of the line with the hash
 *     field left out ("edited" otherwise);
 *   - the first line of the oldest file has a prev_hash of 64 zeros, or is
 *     an audit.rotate record (written by aa_audit_rotate) whose
 *     archive_last_hash equals its prev_hash; the first line of each later
 *     file is such a record, and its prev_hash is the hash of the last
 *     whole line of the file before it;
 *   - every other line's prev_hash is the hash of the line before it
 *     ("inserted" / "deleted" otherwise); the line right after a leading
 *     audit.rotate record may instead link to that record's prev_hash:
 *     rotation keeps the lines it does not archive byte for byte, so the
 *     first of them still links to the last archived line (the rotate
 *     record is a signpost beside the chain, itself hashed and linked to the
 *     archive's last line);
 *   - torn lines: a fragment that starts like one of our lines and is a
 *     prefix of one (the JSON parser runs out of input, a multi-byte
 *     character cut in two aside), either at the end of the file or
 *     followed by a line that links to the last whole line before it (which
 *     is what the writer does after an interrupted write, see audit.c).
 *     Such a fragment is never a decision that was returned to a caller
 *     (the call that wrote it died or failed with AA_EAUDIT), and the chain
 *     around it is intact, so verify reports it as a warning in err and
 *     still returns AA_OK. A fragment the chain does not run over (a whole
 *     line cut short, say), and a whole line the parser rejects (NaN,
 *     Infinity, a lone surrogate escape, invalid UTF-8, a duplicate key),
 *     is a malformed line and a break.
 *
 * An anchor (a line hash kept elsewhere) must be the hash of a verified
 * line of the set, else "anchor not found".
 */
#include "audit.h"
#include "audit_anchor.h"
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
#define HASH_HEX   AA__AUDIT_HASH_HEX
#define SUFFIX_LEN AA__AUDIT_SUFFIX_LEN
#define LINE_START "{\"timestamp\":\""
#define zero_hash  aa__audit_zero_hash

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
static int open_log(const char *path, aa_error *err) {
    aa__fs_target t = {.what = "audit log",
                       .path = path,
                       .status = AA_EIO,
                       .refused = AA_EIO,
                       .hint = AA__AUDIT_OFF_HINT};
    int fd;
    aa__fs_open(&t, AA__FS_READ, &fd, NULL, err);
    return fd;
}

/* ---- entries ------------------------------------------------------------- */

/* Parses one line as JSON. A NUL byte anywhere makes it no record: the
 * writer never writes one (it escapes control characters), and jansson
 * would read past it as if it were not there. */
static json_t *load_line(const char *line, size_t len, json_error_t *e) {
    if (memchr(line, 0, len)) {
        if (e)
            memset(e, 0, sizeof *e); /* not "premature end": no torn write */
        return NULL;
    }
    return json_loadb(line, len, JSON_REJECT_DUPLICATES, e);
}

/* A JSON object with a timestamp aa_parse_time accepts, or NULL. */
static json_t *parse_entry(const char *line, size_t len, int64_t *ts) {
    json_t *j = load_line(line, len, NULL);
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

/* aa_audit_read, handing each entry to fn or (when set) to lfn with its
 * line number in the file. */
static int read_log(const char *path, const aa_audit_filter *filter,
                    aa_audit_entry_fn fn, aa__audit_line_fn lfn, void *userdata,
                    size_t *matched, size_t *skipped, aa_error *err) {
    size_t nmatch = 0, nskip = 0, lineno = 0;
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
    const char *text[] = {f.agent, f.user, f.action, f.event};
    const char *name[] = {"agent", "user", "action", "event"};
    for (size_t i = 0; i < 4; i++)
        if (text[i] && !aa__utf8_valid(text[i], strlen(text[i])))
            return aa__fail(err, AA_EINVAL, "the %s filter is not valid UTF-8",
                            name[i]);

    int fd = open_log(path, err);
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
    /* Past the limit, the walk goes on only to count for *matched. */
    while ((nmatch < limit || matched) &&
           (got = reader_next(&r, &line, &len)) == 1) {
        lineno++; /* a line too long is read whole, as one */
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
        if (++nmatch <= limit && (lfn  ? lfn(userdata, lineno, line, len) != 0
                                  : fn ? fn(userdata, line, len) != 0
                                       : false))
            break;
    }
    if (got < 0)
        rc = aa__fail(err, AA_EIO, "audit log '%s': %s", path, strerror(errno));
    reader_free(&r);
    close(fd);
    if (matched)
        *matched = nmatch;
    if (skipped)
        *skipped = nskip;
    return rc;
}

int aa_audit_read(const char *path, const aa_audit_filter *filter,
                  aa_audit_entry_fn fn, void *userdata, size_t *matched,
                  size_t *skipped, aa_error *err) {
    return read_log(path, filter, fn, NULL, userdata, matched, skipped, err);
}

int aa__audit_read_lines(const char *path, const aa_audit_filter *filter,
                         aa__audit_line_fn fn, void *userdata, aa_error *err) {
    return read_log(path, filter, NULL, fn, userdata, NULL, NULL, err);
}

/* ---- verifying ----------------------------------------------------------- */

/* How many bytes at the end of s[0, n) are the start of a UTF-8 sequence
 * that the end cuts short (0 to 3). */
static size_t cut_utf8_tail(const unsigned char *s, size_t n) {
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        unsigned char c = s[n - k];
        if (c < 0x80)
            return 0;
        if (c < 0xc0)
            continue; /* a continuation byte: look further back */
        size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (need <= k)
            return 0;
        unsigned char whole[4] = {0x80, 0x80, 0x80, 0x80};
        memcpy(whole, s + n - k, k);
        if (k == 1) /* any second byte the lead allows */
            whole[1] = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
        return aa__utf8_decode((const char *)whole, need, NULL) == need ? k : 0;
    }
    return 0;
}

/* Is the end of line[0, len) a token cut short: a prefix of true, false or
 * null, of a JSON number, or of an escape inside a string? */
static bool cut_token(const char *line, size_t len) {
    size_t i = len;
    while (
        i > 0 &&
        strchr("abcdefghijklmnopqrstuvwxyzABCDEF0123456789.+-", line[i - 1]) &&
        line[i - 1] != '\0')
        i--;
    const char *t = line + i;
    size_t n = len - i;
    if (i > 0 && line[i - 1] == '\\') /* an escape: \\ then up to uXXX */
        return n == 0 || (t[0] == 'u' && n <= 4 &&
                          strspn(t + 1, "0123456789abcdefABCDEF") >= n - 1);
    if (n == 0)
        return false;
    static const char *const words[] = {"true", "false", "null"};
    for (size_t k = 0; k < 3; k++)
        if (n < strlen(words[k]) && memcmp(t, words[k], n) == 0)
            return true;
    /* -?(0|[1-9][0-9]*)(\.[0-9]*)?([eE][+-]?[0-9]*)? cut anywhere */
    size_t k = t[0] == '-';
    k += strspn(t + k, "0123456789");
    if (k < n && t[k] == '.')
        k += 1 + strspn(t + k + 1, "0123456789");
    if (k < n && (t[k] == 'e' || t[k] == 'E')) {
        k++;
        if (k < n && (t[k] == '+' || t[k] == '-'))
            k++;
        k += strspn(t + k, "0123456789");
    }
    return k == n;
}

/* Is this one of our lines cut short, as an interrupted write leaves it?
 * It starts like one, and the JSON parser runs out of input before it finds
 * anything wrong (a multi-byte character cut in two aside). A line that is
 * whole but unreadable (NaN, Infinity, a lone surrogate escape, bad UTF-8,
 * a duplicate key...) is no torn write. */
static bool torn_prefix(const char *line, size_t len, bool toolong) {
    size_t n = strlen(LINE_START);
    if (toolong || len == 0 || memcmp(line, LINE_START, len < n ? len : n))
        return false;
    len -= cut_utf8_tail((const unsigned char *)line, len);
    json_error_t e;
    json_t *j = load_line(line, len, &e);
    if (j) {
        json_decref(j);
        return false;
    }
    if (json_error_code(&e) == json_error_premature_end_of_input)
        return true;
    /* The parser stops at a token the cut left unfinished ("tr", "0.",
     * "-", "\\u00") with "invalid token/escape" at the very end. */
    return json_error_code(&e) == json_error_invalid_syntax &&
           e.position == (int)len && cut_token(line, len);
}

/* A well-formed chained line: the suffix, and a JSON object whose own
 * prev_hash and hash are the suffix's (no second copy hidden earlier). */
static json_t *chained_line(const char *line, size_t len, bool toolong,
                            const char **prev, const char **hash) {
    if (toolong || !aa__audit_chain_fields(line, len, prev, hash))
        return NULL;
    json_t *j = load_line(line, len, NULL);
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

/* The state of the walk, carried from each file of a rotation set to the
 * next (oldest first). */
typedef struct chain {
    const char *path; /* the file being walked */
    aa_error *err;
    const char *anchor; /* 64 hex, or NULL */
    bool anchor_found;
    bool earlier_file; /* a file of the set was walked before this one */
    size_t good;       /* whole lines verified in this file */
    size_t last_no;    /* line number of the last whole line, 0: none yet */
    char last[HASH_HEX + 1]; /* its hash (the last file's, at a file start) */
    bool have_last;          /* last[] holds a hash */
    size_t before_no;        /* the whole line before that one, 0: none */
    char before[HASH_HEX + 1];
    bool after_rotate; /* the last whole line is a leading rotate record */
    char rotate_prev[HASH_HEX + 1];
    bool start_zero;   /* the oldest file starts with a zero prev_hash */
    size_t torn_first; /* first line of a run of torn fragments, 0: none */
    size_t torn_last;
    size_t bad_line;
} chain;

static int broken(chain *c, size_t lineno, const char *fmt, ...)
    AA__PRINTF(3, 4);
static int broken(chain *c, size_t lineno, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    aa__error_vadd(c->err, AA_SEVERITY_ERROR, AA_ETAMPER, c->path, (int)lineno,
                   0, fmt, ap);
    va_end(ap);
    c->bad_line = lineno;
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

/* The first whole line of a file: it starts the chain (prev_hash of 64
 * zeros, or an audit.rotate record), or, after an earlier file of the set,
 * is the audit.rotate record that links to that file's last line. */
static int check_first(chain *c, size_t lineno, json_t *j, const char *prev) {
    bool rotate = rotate_record(j, prev);
    if (c->earlier_file) {
        if (rotate && c->have_last && memcmp(prev, c->last, HASH_HEX) == 0)
            return AA_OK;
        if (rotate)
            return broken(c, lineno,
                          "deleted or replaced: the audit.rotate record names "
                          "the archive's last hash as %.12s..., but the "
                          "archive's last whole line has %.12s...",
                          prev, c->have_last ? c->last : zero_hash);
    } else if (memcmp(prev, zero_hash, HASH_HEX) == 0 || rotate) {
        c->start_zero = !rotate;
        return AA_OK;
    }
    if (c->torn_first)
        return broken(c, c->torn_first,
                      "malformed line (not a whole JSON line with prev_hash "
                      "and hash)");
    return broken(c, lineno,
                  "deleted: the first line's prev_hash is not 64 zeros (and "
                  "the line is no audit.rotate record), so lines before it "
                  "were removed");
}

/* Checks one whole line's link; AA_OK or AA_ETAMPER. */
static int check_link(chain *c, size_t lineno, json_t *j, const char *prev) {
    if (c->last_no == 0) {
        int rc = check_first(c, lineno, j, prev);
        c->after_rotate = rc == AA_OK && rotate_record(j, prev);
        if (c->after_rotate)
            memcpy(c->rotate_prev, prev, HASH_HEX);
        return rc;
    }
    if (memcmp(prev, c->last, HASH_HEX) == 0 ||
        (c->after_rotate && memcmp(prev, c->rotate_prev, HASH_HEX) == 0))
        return AA_OK;
    if (c->torn_first) /* the chain does not run over the fragment */
        return broken(c, c->torn_first,
                      "malformed line (not a whole JSON line with prev_hash "
                      "and hash), and line %zu does not link to line %zu",
                      lineno, c->last_no);
    if (c->before_no && memcmp(prev, c->before, HASH_HEX) == 0)
        return broken(c, c->last_no,
                      "inserted: line %zu links to line %zu, not to this "
                      "line",
                      lineno, c->before_no);
    return broken(c, lineno,
                  "deleted or replaced: prev_hash is not the hash of line "
                  "%zu, so a line before this one was removed or line %zu "
                  "was replaced",
                  c->last_no, c->last_no);
}

/* Walks one file of the set, continuing the chain in c. */
static int walk_file(chain *c, const char *path) {
    c->path = path;
    c->good = c->last_no = c->before_no = 0;
    c->after_rotate = false;
    c->torn_first = c->torn_last = 0;
    int fd = open_log(path, c->err);
    if (fd < 0)
        return AA_EIO;
    reader r;
    if (!reader_init(&r, fd)) {
        reader_free(&r);
        close(fd);
        return aa__fail(c->err, AA_ENOMEM, "audit log '%s': out of memory",
                        path);
    }
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
                if (!c->torn_first)
                    c->torn_first = lineno;
                c->torn_last = lineno;
                continue;
            }
            rc = broken(c, lineno,
                        "malformed line (not a whole JSON line with "
                        "prev_hash and hash that a JSON reader accepts)");
            break;
        }
        char want[HASH_HEX + 1];
        if (!aa__audit_line_hash(line, len, want)) {
            json_decref(j);
            rc = aa__fail(c->err, AA_EIO, "audit log '%s': SHA-256 failed",
                          path);
            break;
        }
        if (memcmp(want, hash, HASH_HEX) != 0) {
            json_decref(j);
            rc = broken(c, lineno,
                        "edited: the line's content does not match its hash");
            break;
        }
        bool was_first = c->last_no == 0;
        rc = check_link(c, lineno, j, prev);
        json_decref(j);
        if (rc != AA_OK)
            break;
        torn_warning(c, false);
        if (!was_first)
            c->after_rotate = false;
        memcpy(c->before, c->last, sizeof c->last);
        c->before_no = c->last_no;
        memcpy(c->last, hash, HASH_HEX);
        c->last[HASH_HEX] = 0;
        c->have_last = true;
        c->last_no = lineno;
        c->good++;
        if (c->anchor && memcmp(hash, c->anchor, HASH_HEX) == 0)
            c->anchor_found = true;
    }
    if (rc == AA_OK && got < 0)
        rc = aa__fail(c->err, AA_EIO, "audit log '%s': %s", path,
                      strerror(errno));
    if (rc == AA_OK)
        torn_warning(c, true);
    reader_free(&r);
    close(fd);
    return rc;
}

/* ---- the rotation set -----------------------------------------------------
 */

/* The archive that the audit.rotate record on the first line of `path`
 * names (malloc'd), or NULL: the first line is no such record, or the file
 * cannot be read (its walk says why). */
static char *rotated_from(const char *path) {
    int fd = open_log(path, NULL); /* never a FIFO or a device */
    if (fd < 0)
        return NULL;
    reader r;
    char *name = NULL, *line;
    size_t len;
    const char *prev, *hash;
    if (reader_init(&r, fd) && reader_next(&r, &line, &len) == 1) {
        json_t *j = chained_line(line, len, r.toolong, &prev, &hash);
        const char *a = json_string_value(json_object_get(j, "archive"));
        if (j && str_field_is(j, "event", "audit.rotate") && a &&
            memcmp(prev, zero_hash, HASH_HEX) != 0)
            name = strdup(a);
        json_decref(j);
    }
    reader_free(&r);
    close(fd);
    return name;
}

typedef struct fileset {
    char **paths; /* newest (the log) first */
    dev_t *dev;
    ino_t *ino;
    size_t n, cap;
} fileset;

static void fileset_free(fileset *s) {
    for (size_t i = 0; i < s->n; i++)
        free(s->paths[i]);
    free(s->paths);
    free(s->dev);
    free(s->ino);
}

static bool fileset_add(fileset *s, char *path, const struct stat *st) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        char **p = realloc(s->paths, cap * sizeof *p);
        if (p)
            s->paths = p;
        dev_t *d = realloc(s->dev, cap * sizeof *d);
        if (d)
            s->dev = d;
        ino_t *i = realloc(s->ino, cap * sizeof *i);
        if (i)
            s->ino = i;
        if (!p || !d || !i) {
            free(path);
            return false;
        }
        s->cap = cap;
    }
    s->paths[s->n] = path;
    s->dev[s->n] = st->st_dev;
    s->ino[s->n] = st->st_ino;
    s->n++;
    return true;
}

/* Collects the log and, following the audit.rotate record that opens each
 * file, the archives before it. When the oldest file found still opens with
 * such a record, the start cannot be proved: AA_ETAMPER, err says why (the
 * caller reports it only if nothing else breaks first, see below), with
 * *unanchored set. */
static int collect_set(const char *path, fileset *s, bool *unanchored,
                       aa_error *note) {
    *unanchored = false;
    struct stat st;
    if (stat(path, &st) != 0)
        return AA_OK; /* the walk reports it */
    char *p = strdup(path);
    if (!p || !fileset_add(s, p, &st))
        return AA_ENOMEM;
    for (;;) {
        const char *cur = s->paths[s->n - 1];
        char *name = rotated_from(cur);
        if (!name)
            return AA_OK;
        *unanchored = true;
        const char *why = NULL;
        char *arch = NULL;
        if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 ||
            strcmp(name, "..") == 0) {
            why = "names no file beside the log";
        } else {
            const char *slash = strrchr(cur, '/');
            int dir = slash ? (int)(slash - cur + 1) : 0;
            size_t n = (size_t)dir + strlen(name) + 1;
            if (!(arch = malloc(n))) {
                free(name);
                return AA_ENOMEM;
            }
            snprintf(arch, n, "%.*s%s", dir, cur, name);
            if (stat(arch, &st) != 0)
                why = errno == ENOENT ? "missing" : strerror(errno);
            else if (!S_ISREG(st.st_mode))
                why = "not a regular file";
            for (size_t i = 0; !why && i < s->n; i++)
                if (s->dev[i] == st.st_dev && s->ino[i] == st.st_ino)
                    why = "already in the set (the audit.rotate records "
                          "form a loop)";
        }
        if (why) {
            aa__error_add(note, AA_SEVERITY_ERROR, AA_ETAMPER, cur, 1, 0,
                          "start not anchored: previous file '%s' %s, so "
                          "lines removed before this one could not be told "
                          "(the audit.rotate record on line 1 names it; "
                          "keep archives beside the log to verify from the "
                          "start)",
                          name, why);
            free(arch);
            free(name);
            return AA_ETAMPER;
        }
        free(name);
        *unanchored = false;
        if (!fileset_add(s, arch, &st))
            return AA_ENOMEM;
    }
}

static bool hex_anchor(const char *a, char out[HASH_HEX + 1]) {
    if (strlen(a) != HASH_HEX)
        return false;
    for (int i = 0; i < HASH_HEX; i++) {
        char ch = a[i];
        if (ch >= 'A' && ch <= 'F')
            ch = (char)(ch - 'A' + 'a');
        out[i] = ch;
    }
    out[HASH_HEX] = 0;
    return aa__audit_is_hex64(out);
}

/* ---- the head recorded in a state store (audit anchoring) -----------------
 */

/* The hash field of the file's first line ("" when it has none) and
 * whether that line is an audit.rotate record. */
static void first_record(const char *path, char out[HASH_HEX + 1],
                         bool *rotate) {
    out[0] = 0;
    *rotate = false;
    int fd = open_log(path, NULL);
    if (fd < 0)
        return;
    reader r;
    char *line;
    size_t len;
    const char *prev, *hash;
    if (reader_init(&r, fd) && reader_next(&r, &line, &len) == 1) {
        json_t *j = chained_line(line, len, r.toolong, &prev, &hash);
        if (j) {
            memcpy(out, hash, HASH_HEX);
            out[HASH_HEX] = 0;
            *rotate = str_field_is(j, "event", "audit.rotate");
        }
        json_decref(j);
    }
    reader_free(&r);
    close(fd);
}

/* Counts the file's lines ('\n's, as the writer does) into *lines and puts
 * the hash field of line `want` (from 1) in out ("" when that line has
 * none or is not there). AA_OK or AA_EIO. */
static int line_hash_at(const char *path, int64_t want, int64_t *lines,
                        char out[HASH_HEX + 1]) {
    *lines = 0;
    out[0] = 0;
    int fd = open_log(path, NULL);
    if (fd < 0)
        return AA_EIO;
    char buf[65536], tail[SUFFIX_LEN];
    size_t tlen = 0; /* bytes of tail[] used: the current line's last ones */
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            close(fd);
            return AA_EIO;
        }
        char *p = buf, *end = buf + n;
        while (p < end) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t seg = (size_t)((nl ? nl : end) - p);
            if (seg >= SUFFIX_LEN) {
                memcpy(tail, (nl ? nl : end) - SUFFIX_LEN, SUFFIX_LEN);
                tlen = SUFFIX_LEN;
            } else if (seg > 0) {
                size_t keep = tlen + seg > SUFFIX_LEN ? SUFFIX_LEN - seg : tlen;
                memmove(tail, tail + tlen - keep, keep);
                memcpy(tail + keep, p, seg);
                tlen = keep + seg;
            }
            if (!nl)
                break;
            const char *h;
            if (++*lines == want && tlen == SUFFIX_LEN &&
                aa__audit_chain_fields(tail, SUFFIX_LEN, NULL, &h)) {
                memcpy(out, h, HASH_HEX);
                out[HASH_HEX] = 0;
            }
            tlen = 0;
            p = nl + 1;
        }
    }
    close(fd);
    return AA_OK;
}

/* Checks the file at path against the head the store recorded for it. */
static int check_recorded(const char *path, const aa_audit_verify_options *opts,
                          aa_audit_anchor_info *info, aa_error *err) {
    aa_store *st = opts->store;
    if (!st->ops->anchor_get) {
        if (!opts->require_record)
            return AA_OK;
        return aa__fail(err, AA_ETAMPER,
                        "audit log '%s': no head recorded: a %s state store "
                        "records none (audit anchoring needs a PostgreSQL "
                        "state)",
                        path, st->ops->kind);
    }
    info->store_records = 1;
    char ident[HASH_HEX + 1], abs[4096];
    bool rotate;
    first_record(path, ident, &rotate);
    aa__anchor_abs_path(path, abs, sizeof abs);
    aa__anchor by_id, by_path;
    bool found_id, found_path;
    int rc = st->ops->anchor_get(st, ident[0] ? ident : "-", abs, &by_id,
                                 &found_id, &by_path, &found_path, err);
    if (rc != AA_OK)
        return rc;
    if (found_id) {
        info->recorded = 1;
        info->lines = (size_t)by_id.lines;
        memcpy(info->head, by_id.hash, sizeof info->head);
        info->updated_at = by_id.updated_at;
        int64_t lines;
        char have[HASH_HEX + 1], when[33];
        aa_format_time(by_id.updated_at, when);
        if (line_hash_at(path, by_id.lines, &lines, have) != AA_OK)
            return aa__fail(err, AA_EIO, "audit log '%s': %s", path,
                            strerror(errno));
        if (lines < by_id.lines)
            return aa__fail(err, AA_ETAMPER,
                            "audit log '%s': truncated: the file has %lld "
                            "lines, but the state store recorded %lld "
                            "(head %.12s..., at %s): lines after line %lld "
                            "were removed",
                            path, (long long)lines, (long long)by_id.lines,
                            by_id.hash, when, (long long)lines);
        if (strcmp(have, by_id.hash) != 0)
            return aa__fail(err, AA_ETAMPER,
                            "audit log '%s': truncated or rewritten: line "
                            "%lld does not have the hash the state store "
                            "recorded for it (%.12s..., at %s)",
                            path, (long long)by_id.lines, by_id.hash, when);
        return AA_OK;
    }
    if (found_path && !rotate)
        return aa__fail(err, AA_ETAMPER,
                        "audit log '%s': head deleted or log replaced: the "
                        "state store recorded this path for the log whose "
                        "first record has hash %.12s... (%lld lines), but "
                        "the file's first line %s",
                        path, by_path.identity, (long long)by_path.lines,
                        ident[0] ? "has another hash" : "is no record");
    if (opts->require_record)
        return aa__fail(err, AA_ETAMPER,
                        "audit log '%s': no head recorded in the state store "
                        "for this log",
                        path);
    return AA_OK;
}

/* A log that is not there, with a store that records heads: AA_ETAMPER
 * when the store recorded one for its path (the log was deleted or moved),
 * else AA_ENOTFOUND. */
static int check_missing(const char *path, const aa_audit_verify_options *opts,
                         aa_audit_anchor_info *info, aa_error *err) {
    aa_store *st = opts->store;
    if (!st->ops->anchor_get)
        return AA_ENOTFOUND;
    info->store_records = 1;
    char abs[4096];
    aa__anchor_abs_path(path, abs, sizeof abs);
    aa__anchor by_id, by_path;
    bool found_id, found_path;
    int rc = st->ops->anchor_get(st, "-", abs, &by_id, &found_id, &by_path,
                                 &found_path, err);
    if (rc != AA_OK)
        return rc;
    if (!found_path)
        return AA_ENOTFOUND;
    info->recorded = 1;
    info->lines = (size_t)by_path.lines;
    memcpy(info->head, by_path.hash, sizeof info->head);
    info->updated_at = by_path.updated_at;
    char when[33];
    aa_format_time(by_path.updated_at, when);
    return aa__fail(err, AA_ETAMPER,
                    "audit log '%s': missing: the state store recorded %lld "
                    "lines for this log (head %.12s..., at %s): it was "
                    "deleted or moved",
                    path, (long long)by_path.lines, by_path.hash, when);
}

int aa_audit_verify_chain(const char *path,
                          const aa_audit_verify_options *options,
                          aa_audit_verify_result *result, aa_error *err) {
    aa_audit_verify_result res;
    memset(&res, 0, sizeof res);
    if (result)
        *result = res;
    if (aa__empty(path))
        return aa__fail(err, AA_EINVAL, "audit log: no path");
    char anchor[HASH_HEX + 1];
    aa_audit_verify_options own;
    options = aa__options_copy(&own, sizeof own, options);
    const char *want = options ? options->anchor : NULL;
    if (!aa__empty(want) && !hex_anchor(want, anchor))
        return aa__fail(err, AA_EINVAL,
                        "anchor '%.80s' is not a hash (64 hex digits)", want);
    struct stat sb;
    if (lstat(path, &sb) != 0 && errno == ENOENT &&
        (options && (options->store || options->missing_ok))) {
        aa_audit_anchor_info info;
        memset(&info, 0, sizeof info);
        int mrc = options->store ? check_missing(path, options, &info, err)
                                 : AA_ENOTFOUND;
        if (options->recorded)
            *options->recorded = info;
        if (mrc != AA_ENOTFOUND)
            return mrc;
        if (options->missing_ok && !options->require_record && aa__empty(want))
            return AA_OK; /* not written yet: nothing to prove */
    }
    chain c = {.err = err, .anchor = aa__empty(want) ? NULL : anchor};
    fileset set = {0};
    bool unanchored;
    aa_error *note = aa_error_new();
    int rc = note ? collect_set(path, &set, &unanchored, note) : AA_ENOMEM;
    if (rc == AA_ENOMEM) {
        aa__fail(err, AA_ENOMEM, "audit log '%s': out of memory", path);
    } else {
        rc = AA_OK;
        if (set.n == 0) /* not there: the walk says so */
            rc = walk_file(&c, path);
        for (size_t i = set.n; rc == AA_OK && i-- > 0;) { /* oldest first */
            c.earlier_file = i + 1 < set.n;
            rc = walk_file(&c, set.paths[i]);
            if (i > 0) {
                res.archives++;
                res.archive_lines += c.good;
            } else {
                res.lines = c.good;
            }
        }
    }
    res.bad_line = c.bad_line;
    res.start_anchored = c.start_zero;
    if (rc == AA_OK && c.have_last)
        memcpy(res.head, c.last, sizeof res.head);
    if (rc == AA_OK && unanchored) { /* nothing else broke: say this */
        const aa_diag *d = aa_error_get(note, 0);
        aa__error_add(err, AA_SEVERITY_ERROR, AA_ETAMPER, d->file, d->line, 0,
                      "%s", d->message);
        res.bad_line = 1;
        rc = AA_ETAMPER;
    }
    if (rc == AA_OK && c.anchor && !c.anchor_found) {
        aa__error_add(err, AA_SEVERITY_ERROR, AA_ETAMPER, path, 0, 0,
                      "anchor not found: no line of the chain has the hash "
                      "%s: the log was cut short before that line, lost its "
                      "start up to it, or was rewritten and re-chained",
                      anchor);
        rc = AA_ETAMPER;
    }
    res.anchor_found = c.anchor_found;
    if (options && options->store && rc != AA_ENOMEM && rc != AA_EINVAL) {
        aa_audit_anchor_info info;
        memset(&info, 0, sizeof info);
        int arc = check_recorded(path, options, &info, err);
        if (arc != AA_OK && (rc == AA_OK || arc == AA_ETAMPER))
            rc = arc;
        if (options->recorded)
            *options->recorded = info;
    }
    aa_error_free(note);
    fileset_free(&set);
    if (result)
        *result = res;
    return rc;
}

int aa_audit_verify(const char *path, size_t *lines, size_t *bad_line,
                    aa_error *err) {
    aa_audit_verify_result res;
    int rc = aa_audit_verify_chain(path, NULL, &res, err);
    if (lines)
        *lines = res.lines;
    if (bad_line)
        *bad_line = res.bad_line;
    return rc;
}

/* ---- rotating ------------------------------------------------------------ */

/* Copies [from, to) of src to the end of dst. */
static int copy_range(int src, int dst, off_t from, off_t to, char *buf) {
    while (from < to) {
        size_t want = to - from < READ_CHUNK ? (size_t)(to - from) : READ_CHUNK;
        ssize_t got = pread(src, buf, want, from);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return got < 0 ? errno : EIO;
        int e = aa__audit_write_all(dst, buf, (size_t)got);
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
        if (!r.toolong && aa__audit_chain_fields(line, len, NULL, &hash)) {
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
    if (!aa__utf8_valid(archive_name, strlen(archive_name)))
        return false; /* the record must name the file as it is */
    const aa__audit_field f[] = {
        {"archive", AA__AF_STR, .str = archive_name},
        {"archive_last_hash", AA__AF_STR, .str = last_hash},
    };
    return aa__audit_format_line(b, now_us, "audit.rotate", f, AA__ARRAY_LEN(f),
                                 last_hash);
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
        if ((e = aa__audit_lock(r.fd)) != 0 || fstat(r.fd, &st) != 0) {
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
        (s.add_newline && (e = aa__audit_write_all(r.afd, "\n", 1)) != 0) ||
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
    if (r.lfd < 0 ||
        (e = aa__audit_write_all(r.lfd, r.line.data, r.line.len)) != 0 ||
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
