/*
 * fuzz_audit_read.c - the audit log reader and verifier on arbitrary files,
 * and the writer on arbitrary strings.
 *
 * Input: one byte of options, then the file's bytes.
 *   bits 0-1  allowed filter: 0 any, 1 denied, 2 allowed, 3 any
 *   bit 2     agent filter "claude"
 *   bit 3     since filter
 *   bit 4     limit 2
 *   bit 5     also append a decision, its strings cut from the input, and
 *             check that the appended line is whole, valid JSON, read back
 *   bit 6     start from an empty file and write two lines from the input
 *             (with metadata: strings, numbers that may not be finite, a
 *             list, a key given twice, a redacted key): both must read
 *             back and verify, anchored at the head verify reports
 * Whatever verify says of a file, a verification anchored at the head it
 * reports must pass, and one anchored elsewhere must not.
 * The file is a regular file in a private temporary directory (a memfd's
 * /proc/self/fd path is a symlink, which the log refuses to follow).
 */
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "audit.h"

static aa_policy *redacting_policy(void) {
    static aa_policy *p;
    static const char yaml[] = "version: \"1.0\"\n"
                               "audit: {redact: [secret]}\n";
    if (!p && aa_policy_load_buffer(yaml, sizeof yaml - 1, "fuzz.yaml", NULL,
                                    &p, NULL) != AA_OK)
        abort();
    return p;
}

static int on_entry(void *ud, const char *line, size_t len) {
    size_t *n = ud;
    if (strlen(line) != len) /* handed over NUL-terminated, without '\n' */
        abort();
    json_t *j = json_loadb(line, len, 0, NULL);
    if (!j) /* only entries that parse are passed on */
        abort();
    json_decref(j);
    (*n)++;
    return 0;
}

/* A NUL-free string made from up to `max` bytes of the input. */
static char *take(const uint8_t **p, size_t *left, size_t max) {
    size_t n = *left < max ? *left : max;
    char *s = malloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if ((*p)[i])
            s[k++] = (char)(*p)[i];
    s[k] = 0;
    *p += n;
    *left -= n;
    return s;
}

static void fill(int fd, const uint8_t *data, size_t size) {
    if (ftruncate(fd, 0) != 0)
        abort();
    size_t off = 0;
    while (off < size) {
        ssize_t w = pwrite(fd, data + off, size - off, (off_t)off);
        if (w <= 0)
            abort();
        off += (size_t)w;
    }
}

/* The last line of the file (after the last-but-one '\n'), malloc'd. */
static char *last_line(int fd) {
    off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0)
        abort();
    char *buf = malloc((size_t)size + 1);
    if (pread(fd, buf, (size_t)size, 0) != size)
        abort();
    buf[size] = 0;
    if (buf[size - 1] != '\n')
        abort(); /* a line always ends the file */
    buf[size - 1] = 0;
    char *nl = memrchr(buf, '\n', (size_t)size - 1);
    char *line = strdup(nl ? nl + 1 : buf);
    free(buf);
    return line;
}

static void write_from(const char *path, const uint8_t *p, size_t left,
                       aa__fsync_mode mode) {
    char *agent = take(&p, &left, 24), *user = take(&p, &left, 24);
    char *resource = take(&p, &left, 48), *reason = take(&p, &left, 48);
    char *event = take(&p, &left, 16);
    double num = 0;
    if (left >= sizeof num)
        memcpy(&num, p, sizeof num); /* any bits: NaN, infinities too */
    const aa_meta items[] = {{.type = AA_VALUE_STRING, .string = reason},
                             {.type = AA_VALUE_NUMBER, .number = num},
                             {.type = AA_VALUE_LIST}}; /* nested: null */
    const aa_meta meta[] = {
        {.key = user, .type = AA_VALUE_STRING, .string = resource},
        {.key = "n", .type = AA_VALUE_NUMBER, .number = num},
        {.key = "secret", .type = AA_VALUE_STRING, .string = agent},
        {.key = "l", .type = AA_VALUE_LIST, .items = items, .count = 3},
        {.key = user, .type = AA_VALUE_BOOL, .boolean = 1},
    };
    aa_request r = {.agent = agent,
                    .user = user,
                    .action = "act",
                    .resource = resource,
                    .session_id = reason,
                    .metadata = meta,
                    .metadata_count = AA__ARRAY_LEN(meta)};
    aa__audit_decision d = {.req = &r,
                            .allowed = true,
                            .reason = reason,
                            .approval_policy = user,
                            .evaluation_time_ms = (double)left / 7.0,
                            .config_name = event,
                            .config_version = agent,
                            .policy = redacting_policy()};
    aa__audit *a = NULL;
    if (aa__audit_open(path, mode, &a, NULL) != AA_OK)
        abort();
    if (aa__audit_write_decision(a, &d, NULL) != AA_OK)
        abort();
    const char *const list[] = {agent, user};
    /* A key from the input, escaped as any; the 'k' keeps it apart from the
     * other keys of the line (callers name their fields uniquely). */
    char key[64];
    snprintf(key, sizeof key, "k%s", reason);
    const aa__audit_field fields[] = {
        {"n", AA__AF_STR, .str = resource},
        {key, AA__AF_STRLIST, .list = list, .count = 2},
        {"t", AA__AF_TIME, .time_us = (int64_t)left * 1000003},
    };
    if (aa__audit_write_event(a, aa__empty(event) ? "e" : event, fields,
                              AA__ARRAY_LEN(fields), NULL) != AA_OK)
        abort();
    aa__audit_close(a);
    free(agent);
    free(user);
    free(resource);
    free(reason);
    free(event);
}

/* An intact chain verifies anchored at its own head, and not at a hash
 * that differs from it in one digit (no line has that). */
static void check_anchor(const char *path) {
    aa_audit_verify_result res;
    if (aa_audit_verify_chain(path, NULL, &res, NULL) != AA_OK)
        abort();
    if (!res.head[0])
        return; /* no whole line */
    aa_audit_verify_options o = {.anchor = res.head};
    aa_audit_verify_result got;
    if (aa_audit_verify_chain(path, &o, &got, NULL) != AA_OK ||
        !got.anchor_found)
        abort();
    char other[65];
    memcpy(other, res.head, sizeof other);
    other[7] = other[7] == '0' ? '1' : '0';
    o.anchor = other;
    if (aa_audit_verify_chain(path, &o, &got, NULL) != AA_ETAMPER ||
        got.anchor_found)
        abort();
}

static char tmp_dir[32], tmp_path[64];

static void remove_tmp(void) {
    unlink(tmp_path);
    rmdir(tmp_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int fd = -1;
    const char *path = tmp_path;
    if (fd < 0) {
        snprintf(tmp_dir, sizeof tmp_dir, "/tmp/fuzz-audit-XXXXXX");
        if (!mkdtemp(tmp_dir))
            abort();
        snprintf(tmp_path, sizeof tmp_path, "%s/audit.jsonl", tmp_dir);
        fd = open(tmp_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            abort();
        atexit(remove_tmp);
    }
    if (size == 0)
        return 0;
    uint8_t opt = data[0];
    data++;
    size--;

    if (opt & 0x40) { /* written by us: must read and verify */
        fill(fd, NULL, 0);
        write_from(path, data, size, AA__FSYNC_NEVER);
        size_t m = 0, s = 0, lines = 0, bad = 0, seen = 0;
        if (aa_audit_read(path, NULL, on_entry, &seen, &m, &s, NULL) != AA_OK ||
            m != 2 || s != 0 || seen != 2)
            abort();
        if (aa_audit_verify(path, &lines, &bad, NULL) != AA_OK || lines != 2)
            abort();
        check_anchor(path);
        return 0;
    }

    fill(fd, data, size);
    aa_audit_filter f = {.allowed = AA_AUDIT_ANY};
    int al = opt & 3;
    f.allowed = al == 1   ? AA_AUDIT_DENIED_ONLY
                : al == 2 ? AA_AUDIT_ALLOWED_ONLY
                          : AA_AUDIT_ANY;
    if (opt & 4)
        f.agent = "claude";
    if (opt & 8)
        f.since =
            (opt & 0x80) ? "2026-01-01T12:00:00+02:00" : "2026-11-28T17:00:00Z";
    if (opt & 16)
        f.limit = 2;
    aa_error *err = aa_error_new();
    size_t m = 0, s = 0, seen = 0, limit = f.limit ? f.limit : 1000;
    if (aa_audit_read(path, &f, on_entry, &seen, &m, &s, err) != AA_OK ||
        seen != (m > limit ? limit : m))
        abort();
    size_t lines = 0, bad = 0;
    int rc = aa_audit_verify(path, &lines, &bad, err);
    if (rc != AA_OK && (rc != AA_ETAMPER || bad == 0))
        abort();
    if (rc == AA_OK && bad != 0)
        abort();
    aa_error_free(err);
    if (rc == AA_OK)
        check_anchor(path);

    if (opt & 0x20) { /* append: the new line is whole and valid */
        write_from(path, data, size, AA__FSYNC_NEVER);
        char *line = last_line(fd);
        json_t *j = json_loads(line, 0, NULL);
        if (!j || !json_is_object(j) ||
            !json_is_string(json_object_get(j, "hash")))
            abort();
        json_decref(j);
        free(line);
    }
    return 0;
}
