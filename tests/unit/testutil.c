/* testutil.c - helpers shared by the unit tests. */
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

const char *tu_source_dir(void) {
    const char *d = getenv("AA_SOURCE_DIR");
    return d && *d ? d : ".";
}

char *tu_path(const char *rel) {
    const char *d = tu_source_dir();
    size_t n = strlen(d) + strlen(rel) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", d, rel);
    return p;
}

char *tu_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

int tu_write_file(const char *path, const char *data) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = strlen(data);
    int rc = fwrite(data, 1, n, f) == n ? 0 : -1;
    return fclose(f) == 0 ? rc : -1;
}

char *tu_tmpdir(void) {
    char tmpl[] = "/tmp/aa-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

void tu_rmdir(const char *dir) {
    if (!dir || strncmp(dir, "/tmp/aa-test-", 13) != 0)
        return;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        /* best effort */
    }
}

char *tu_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

tu_dir_file *tu_dir_file_new(const char *name) {
    tu_dir_file *f = calloc(1, sizeof *f);
    f->dir = tu_tmpdir();
    f->path = tu_join(f->dir, name);
    return f;
}

void tu_dir_file_free(tu_dir_file *f) {
    tu_rmdir(f->dir);
    free(f->dir);
    free(f->path);
    free(f);
}

int tu_setup_audit_file(void **state) {
    *state = tu_dir_file_new("audit.jsonl");
    return 0;
}

int tu_teardown_dir_file(void **state) {
    tu_dir_file_free(*state);
    return 0;
}

char *tu_error_text(const aa_error *err) {
    size_t cap = 256, len = 0;
    char *out = malloc(cap);
    out[0] = 0;
    for (size_t i = 0; i < aa_error_count(err); i++) {
        char line[2048];
        int n = aa_diag_format(aa_error_get(err, i), line, sizeof line);
        if (n < 0)
            continue;
        size_t ln = strlen(line);
        while (len + ln + 2 > cap)
            out = realloc(out, cap *= 2);
        memcpy(out + len, line, ln);
        len += ln;
        out[len++] = '\n';
        out[len] = 0;
    }
    return out;
}

static struct rlimit saved_fsize;

void tu_fsize_zero(void) {
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &saved_fsize);
    struct rlimit r = saved_fsize;
    r.rlim_cur = 0;
    if (setrlimit(RLIMIT_FSIZE, &r) != 0)
        fail_msg("cannot set RLIMIT_FSIZE");
}

void tu_fsize_restore(void) {
    setrlimit(RLIMIT_FSIZE, &saved_fsize);
}
