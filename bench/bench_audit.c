/*
 * bench_audit.c - nanoseconds per decision line written to the audit log,
 * for each audit.fsync mode (median of 5 runs, to a file under /tmp), and
 * the cost of each step of one line, to show what dominates.
 *
 * What dominates: with fsync never, a line written alone (one line per
 * group, as here) is an fstat and a writev, plus the flock pair once per
 * lease on the lock (audit.c); building, escaping and hashing the line
 * take well under a microsecond together. The figure therefore follows
 * the machine's system-call cost (the "null system call" step). With
 * fsync always, the disk flush dwarfs everything; interval costs what
 * never costs, plus a flush per 100 ms in another thread. Lines written
 * in groups (aa_authorize_many) are scenario 2 of bench_engine.
 *
 * Usage: bench_audit [lines]   (default 200000; fsync always writes
 * lines/500, at least 100, since each line waits for the disk)
 */
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "audit.h"

#define RUNS 5

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* One run: ns per line for n lines (the close, which flushes a pending
 * group commit, is not counted). */
static double run(const char *path, aa__fsync_mode mode, long n) {
    unlink(path);
    aa__audit *a = NULL;
    aa_error *err = aa_error_new();
    if (aa__audit_open(path, mode, &a, err) != AA_OK) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    aa_request r = {.agent = "claude-code",
                    .user = "alice@example.com",
                    .action = "read_file",
                    .resource = "/home/alice/project/src/main.c",
                    .scope = "project:agent-auth"};
    aa__audit_decision d = {.req = &r,
                            .allowed = true,
                            .tier = AA_TIER_AUTONOMOUS,
                            .reason = "Allowed by role 'developer'",
                            .approval_policy = "",
                            .evaluation_time_ms = 0.004,
                            .config_name = "enterprise",
                            .config_version = "1.0"};
    uint64_t t0 = aa__mono_ns();
    for (long i = 0; i < n; i++) {
        if (aa__audit_write_decision(a, &d, err) != AA_OK) {
            fprintf(stderr, "write failed\n");
            exit(1);
        }
    }
    uint64_t t1 = aa__mono_ns();
    aa__audit_close(a);
    aa_error_free(err);
    return (double)(t1 - t0) / (double)n;
}

/* ---- the steps of one line, alone ---------------------------------------- */

#define STEP(name, n, body)                                                    \
    do {                                                                       \
        uint64_t s0 = aa__mono_ns();                                           \
        for (long i_ = 0; i_ < (n); i_++) {                                    \
            body;                                                              \
        }                                                                      \
        printf("  %-34s %8.0f ns\n", name,                                     \
               (double)(aa__mono_ns() - s0) / (double)(n));                    \
    } while (0)

static void steps(const char *path, long n) {
    char line[512];
    memset(line, 'x', sizeof line);
    line[sizeof line - 1] = '\n';
    size_t len = 0;
    {
        /* the length of a real line, for the write and hash steps */
        unlink(path);
        run(path, AA__FSYNC_NEVER, 1);
        struct stat st;
        if (stat(path, &st) == 0 && st.st_size > 0 &&
            (size_t)st.st_size <= sizeof line)
            len = (size_t)st.st_size;
        else
            len = 450;
        printf("  (one decision line is %zu bytes)\n", len);
    }
    char id[37], ts[33];
    volatile long sink = 0;
    STEP("null system call (getppid)", n, sink += syscall(SYS_getppid));
    STEP("uuid4 (getrandom)", n, sink += aa__uuid4(id));
    STEP("clock + aa_format_time", n, aa_format_time(aa__now_us(), ts));
    EVP_MD *sha = EVP_MD_fetch(NULL, "SHA256", NULL);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int olen;
    STEP("SHA-256 of the line (EVP)", n, EVP_DigestInit_ex(md, sha, NULL);
         EVP_DigestUpdate(md, line, len - 76);
         EVP_DigestFinal_ex(md, out, &olen));
    EVP_MD_CTX_free(md);
    EVP_MD_free(sha);
    aa__buf b;
    aa__buf_init(&b);
    STEP("JSON escaping of 10 strings", n, {
        aa__buf_reset(&b);
        for (int k = 0; k < 10; k++)
            aa__buf_json_string(&b, "/home/alice/project/src", 23);
    });
    aa__buf_free(&b);
    unlink(path);
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    struct stat st;
    STEP("flock(LOCK_EX) + flock(LOCK_UN)", n, {
        sink += flock(fd, LOCK_EX);
        sink += flock(fd, LOCK_UN);
    });
    STEP("fstat", n, sink += fstat(fd, &st));
    STEP("write(2) of one line, O_APPEND", n,
         sink += (int)write(fd, line, len));
    close(fd);
    unlink(path);
    (void)sink;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 200000;
    if (n < 100)
        n = 100;
    char dir[] = "/tmp/aa-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char path[64];
    snprintf(path, sizeof path, "%s/audit.jsonl", dir);

    struct {
        const char *name;
        aa__fsync_mode mode;
        long lines;
    } modes[] = {
        {"never", AA__FSYNC_NEVER, n},
        {"interval", AA__FSYNC_INTERVAL, n},
        {"always", AA__FSYNC_ALWAYS, n / 500 > 100 ? n / 500 : 100},
    };
    printf("audit log: ns per decision line (median of %d runs, %s)\n", RUNS,
           path);
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        double v[RUNS];
        for (int i = 0; i < RUNS; i++)
            v[i] = run(path, modes[m].mode, modes[m].lines);
        double lo = v[0], hi = v[0];
        for (int i = 1; i < RUNS; i++) {
            lo = v[i] < lo ? v[i] : lo;
            hi = v[i] > hi ? v[i] : hi;
        }
        printf("  fsync %-9s %10.0f ns/line   (%ld lines; runs %.0f-%.0f)\n",
               modes[m].name, median(v, RUNS), modes[m].lines, lo, hi);
    }
    printf("steps of one line, alone (%ld iterations each):\n", n);
    steps(path, n);
    unlink(path);
    rmdir(dir);
    return 0;
}
