/* test_audit_procs.c - several processes writing one audit log, and
 * writers killed in the middle of their work. */
#include "testutil.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"

typedef tu_dir_file fixture; /* dir, and path: dir/audit.jsonl */

/* In a child: opens its own log (flock belongs to the open file, so a
 * handle must not cross fork) and writes n decisions (forever if n < 0).
 * Never returns. */
static void child_writer(const char *path, int id, int n) {
    aa__audit *a = NULL;
    if (aa__audit_open(path, AA__FSYNC_NEVER, &a, NULL) != AA_OK)
        _exit(3);
    char agent[32];
    snprintf(agent, sizeof agent, "proc-%d", id);
    for (int i = 0; n < 0 || i < n; i++) {
        char res[32];
        snprintf(res, sizeof res, "file-%d", i);
        aa_request r = {.agent = agent,
                        .user = "alice",
                        .action = "read_file",
                        .resource = res};
        aa__audit_decision d = {.req = &r,
                                .allowed = i % 2 == 0,
                                .tier = AA_TIER_AUTONOMOUS,
                                .reason = "test",
                                .approval_policy = "",
                                .evaluation_time_ms = 0.02,
                                .config_name = "procs",
                                .config_version = "1.0"};
        if (aa__audit_write_decision(a, &d, NULL) != AA_OK)
            _exit(4);
    }
    aa__audit_close(a);
    _exit(0);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_eight_processes(void **state) {
    fixture *f = *state;
    enum { PROCS = 8, EACH = 25 };
    pid_t pids[PROCS];
    for (int i = 0; i < PROCS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0)
            child_writer(f->path, i, EACH);
    }
    for (int i = 0; i < PROCS; i++) {
        int status;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }

    size_t len;
    char *text = tu_read_file(f->path, &len);
    assert_non_null(text);
    assert_true(len > 0 && text[len - 1] == '\n');
    char *ids[PROCS * EACH];
    int per_proc[PROCS] = {0};
    size_t n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        assert_true(n < PROCS * EACH);
        json_t *j = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
        assert_non_null(j); /* whole and parseable */
        const char *id = json_string_value(json_object_get(j, "event_id"));
        const char *agent = json_string_value(json_object_get(j, "agent"));
        assert_non_null(id);
        assert_non_null(agent);
        int who = -1;
        assert_int_equal(sscanf(agent, "proc-%d", &who), 1);
        assert_true(who >= 0 && who < PROCS);
        per_proc[who]++;
        ids[n++] = strdup(id);
        json_decref(j);
    }
    assert_int_equal(n, PROCS * EACH);
    for (int i = 0; i < PROCS; i++)
        assert_int_equal(per_proc[i], EACH);
    qsort(ids, n, sizeof *ids, cmp_str);
    for (size_t i = 1; i < n; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(text);

    aa_error *err = aa_error_new();
    size_t lines = 0, bad = 0;
    assert_int_equal(aa_audit_verify(f->path, &lines, &bad, err), AA_OK);
    assert_int_equal(lines, PROCS * EACH);
    assert_int_equal(aa_error_count(err), 0);
    aa_error_free(err);
}

static off_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

/* Does the line start like one of ours (a torn write keeps the start)? */
static bool torn_looking(const char *line) {
    const char *start = "{\"timestamp\":\"";
    size_t n = strlen(line), m = strlen(start);
    return n > 0 && strncmp(line, start, n < m ? n : m) == 0;
}

/* Writers SIGKILLed in a tight loop, 20 times. Every other time the last
 * line is also cut short afterwards, as a crash of the machine can leave
 * it (a killed process alone does not tear a write this small). The file
 * must hold whole lines and, at most, torn fragments on lines of their
 * own; the chain must verify across them, with one warning each. */
static void test_killed_writers(void **state) {
    fixture *f = *state;
    enum { ROUNDS = 20 };
    int cut = 0;
    for (int round = 0; round < ROUNDS; round++) {
        off_t before = file_size(f->path);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            child_writer(f->path, round, -1);
        /* Let it write some lines (bounded wait, no timing assertion). */
        for (int i = 0; i < 20000 && file_size(f->path) < before + 4096; i++)
            usleep(100);
        assert_int_equal(kill(pid, SIGKILL), 0);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
        assert_true(file_size(f->path) > before);
        if (round % 2 == 1) {
            assert_int_equal(truncate(f->path, file_size(f->path) - 25), 0);
            cut++;
        }
    }
    /* One more writer, then check. */
    pid_t pid = fork();
    if (pid == 0)
        child_writer(f->path, 99, 3);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);

    size_t len;
    char *text = tu_read_file(f->path, &len);
    assert_true(len > 0 && text[len - 1] == '\n');
    size_t whole = 0, torn = 0, last_whole_agent99 = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *j = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
        if (j) {
            whole++;
            const char *agent = json_string_value(json_object_get(j, "agent"));
            if (agent && strcmp(agent, "proc-99") == 0)
                last_whole_agent99++;
            json_decref(j);
        } else {
            assert_true(torn_looking(line));
            torn++;
        }
    }
    free(text);
    assert_true(torn >= (size_t)cut);
    assert_int_equal(last_whole_agent99, 3);

    aa_error *err = aa_error_new();
    size_t lines = 0, bad = 0;
    int rc = aa_audit_verify(f->path, &lines, &bad, err);
    if (rc != AA_OK) {
        char *t = tu_error_text(err);
        fail_msg("verify: %s", t);
    }
    assert_int_equal(lines, whole);
    size_t warnings = 0;
    for (size_t i = 0; i < aa_error_count(err); i++) {
        const aa_diag *d = aa_error_get(err, i);
        assert_int_equal(d->severity, AA_SEVERITY_WARNING);
        assert_non_null(strstr(d->message, "torn line"));
        warnings++;
    }
    assert_int_equal(warnings, torn); /* no two fragments in a row here */
    aa_error_free(err);

    size_t matched = 0, skipped = 0;
    aa_audit_filter all = {.limit = (size_t)-1};
    assert_int_equal(
        aa_audit_read(f->path, &all, NULL, NULL, &matched, &skipped, NULL),
        AA_OK);
    assert_int_equal(matched, whole);
    assert_int_equal(skipped, torn);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_eight_processes, tu_setup_audit_file, tu_teardown_dir_file),
        cmocka_unit_test_setup_teardown(
            test_killed_writers, tu_setup_audit_file, tu_teardown_dir_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
