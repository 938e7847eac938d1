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
 *   bit 6     start from an empty file and write two lines from the input:
 *             both must read back and verify
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
    aa_request r = {.agent = agent,
                    .user = user,
                    .action = "act",
                    .resource = resource,
                    .session_id = reason};
    aa__audit_decision d = {.req = &r,
                            .allowed = true,
                            .reason = reason,
                            .approval_policy = user,
                            .evaluation_time_ms = (double)left / 7.0,
                            .config_name = event,
                            .config_version = agent};
    aa__audit *a = NULL;
    if (aa__audit_open(path, mode, &a, NULL) != AA_OK)
        abort();
    if (aa__audit_write_decision(a, &d, NULL) != AA_OK)
        abort();
    if (aa__audit_write_event(a, aa__empty(event) ? "e" : event, "\"n\":1",
                              NULL) != AA_OK)
        abort();
    aa__audit_close(a);
    free(agent);
    free(user);
    free(resource);
    free(reason);
    free(event);
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
    size_t m = 0, s = 0, seen = 0;
    if (aa_audit_read(path, &f, on_entry, &seen, &m, &s, err) != AA_OK ||
        m != seen || (f.limit && m > f.limit))
        abort();
    size_t lines = 0, bad = 0;
    int rc = aa_audit_verify(path, &lines, &bad, err);
    if (rc != AA_OK && (rc != AA_ETAMPER || bad == 0))
        abort();
    if (rc == AA_OK && bad != 0)
        abort();
    aa_error_free(err);

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
