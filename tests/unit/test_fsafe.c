/*
 * test_fsafe.c - the one place that decides whether a state or audit file
 * may be used (src/fsafe.c): ownership and mode of the file and of its
 * directory, symlinks, special files, and directories made 0700.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsafe.h"

static char *dir;

static int setup(void **state) {
    (void)state;
    dir = tu_tmpdir();
    return dir ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    tu_rmdir(dir);
    free(dir);
    return 0;
}

static char *at(const char *name) {
    static char buf[4][600];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

/* Opens path with how; returns the status, and the messages in *text. */
static int try_open(const char *path, int how, char **text) {
    aa__fs_target t = {.what = "thing",
                       .path = path,
                       .status = AA_EIO,
                       .refused = AA_EREFUSED,
                       .hint = "a hint"};
    aa_error *err = aa_error_new();
    int fd = -7;
    int rc = aa__fs_open(&t, how, &fd, NULL, err);
    if (rc == AA_OK)
        close(fd);
    else
        assert_int_equal(fd, -1);
    *text = tu_error_text(err);
    aa_error_free(err);
    return rc;
}

static void expect(const char *path, int how, int want, const char *says) {
    char *text;
    int rc = try_open(path, how, &text);
    if (rc != want || (says && !strstr(text, says)))
        fail_msg("'%s': status %d (want %d), says: %s", path, rc, want, text);
    free(text);
}

static void test_creates_private(void **state) {
    (void)state;
    const char *p = at("a/b/c/file");
    expect(p, AA__FS_WRITE | AA__FS_CREATE, AA_OK, NULL);
    struct stat st;
    assert_int_equal(stat(at("a"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(at("a/b/c"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* without AA__FS_CREATE, a missing file is "not found" */
    expect(at("a/b/c/other"), AA__FS_WRITE, AA_ENOTFOUND, "No such file");
    expect(at("nodir/other"), AA__FS_WRITE, AA_ENOTFOUND, "does not exist");
    expect(at("nodir/other"), AA__FS_READ, AA_ENOTFOUND, NULL);
}

static void test_foreign_and_shared(void **state) {
    (void)state;
    assert_int_equal(mkdir(at("g"), 0700), 0);
    assert_int_equal(tu_write_file(at("g/file"), "x"), 0);
    assert_int_equal(chmod(at("g/file"), 0600), 0);
    expect(at("g/file"), AA__FS_WRITE, AA_OK, NULL);
    assert_int_equal(chmod(at("g"), 0770), 0);
    expect(at("g/file"), AA__FS_WRITE, AA_EREFUSED, "writable by its group");
    expect(at("g/new"), AA__FS_WRITE | AA__FS_CREATE, AA_EREFUSED,
           "writable by its group");
    assert_int_equal(access(at("g/new"), F_OK), -1); /* nothing made */
    expect(at("g/file"), AA__FS_READ, AA_OK, NULL);  /* reading is fine */
    assert_int_equal(chmod(at("g"), 0700), 0);
    assert_int_equal(chmod(at("g/file"), 0602), 0);
    expect(at("g/file"), AA__FS_WRITE, AA_EREFUSED, "writable by others");
    assert_int_equal(chmod(at("g/file"), 0600), 0);
    if (geteuid() == 0) { /* root too: another user's is refused */
        assert_int_equal(chown(at("g/file"), 65534, 65534), 0);
        expect(at("g/file"), AA__FS_WRITE, AA_EREFUSED,
               "belongs to another user (uid 65534");
        assert_int_equal(chown(at("g/file"), 0, 0), 0);
        assert_int_equal(chown(at("g"), 65534, 65534), 0);
        expect(at("g/file"), AA__FS_WRITE, AA_EREFUSED,
               "directory '" /* the directory is named */);
        assert_int_equal(chown(at("g"), 0, 0), 0);
    }
}

static void test_symlinks_and_special_files(void **state) {
    (void)state;
    assert_int_equal(mkdir(at("s"), 0700), 0);
    assert_int_equal(tu_write_file(at("s/target"), "keep"), 0);
    assert_int_equal(symlink(at("s/target"), at("s/link")), 0);
    expect(at("s/link"), AA__FS_WRITE | AA__FS_CREATE | AA__FS_APPEND,
           AA_EREFUSED, "symbolic link");
    expect(at("s/link"), AA__FS_READ, AA_EREFUSED, "symbolic link");
    assert_int_equal(symlink(at("s/missing"), at("s/dangling")), 0);
    expect(at("s/dangling"), AA__FS_WRITE | AA__FS_CREATE, AA_EREFUSED,
           "symbolic link");
    assert_int_equal(access(at("s/missing"), F_OK), -1); /* not created */
    char *t = tu_read_file(at("s/target"), NULL);
    assert_string_equal(t, "keep");
    free(t);

    assert_int_equal(mkfifo(at("s/fifo"), 0600), 0); /* no reader: no hang */
    expect(at("s/fifo"), AA__FS_READ, AA_EREFUSED, "a FIFO, not a regular");
    expect(at("s/fifo"), AA__FS_WRITE, AA_EREFUSED, "; a hint");
    expect("/dev/zero", AA__FS_READ, AA_EREFUSED, "a character device");
    expect(at("s"), AA__FS_READ, AA_EREFUSED, "a directory");
}

static void test_siblings(void **state) {
    (void)state;
    assert_int_equal(mkdir(at("w"), 0700), 0);
    aa__fs_target t = {.what = "db",
                       .path = at("w/db"),
                       .status = AA_EIO,
                       .refused = AA_EREFUSED};
    const char *const sfx[] = {"-wal", "-shm", NULL};
    assert_int_equal(aa__fs_check_siblings(&t, sfx, NULL), AA_OK);
    assert_int_equal(tu_write_file(at("w/db-wal"), ""), 0);
    assert_int_equal(chmod(at("w/db-wal"), 0600), 0);
    assert_int_equal(aa__fs_check_siblings(&t, sfx, NULL), AA_OK);
    assert_int_equal(symlink("/etc/passwd", at("w/db-shm")), 0);
    aa_error *err = aa_error_new();
    assert_int_equal(aa__fs_check_siblings(&t, sfx, err), AA_EREFUSED);
    char *text = tu_error_text(err);
    assert_non_null(strstr(text, "db-shm' is a symbolic link"));
    free(text);
    aa_error_free(err);
}

/* Between the check of the directory and the open of the file, the
 * directory is renamed away and a symlink to another directory takes its
 * place: the file must still be opened in the directory that was checked,
 * never in the other one. */
static void swap_dir_for_symlink(const char *d) {
    char moved[700];
    snprintf(moved, sizeof moved, "%s.moved", d);
    assert_int_equal(rename(d, moved), 0);
    assert_int_equal(symlink(at("other"), d), 0);
}

static void test_dir_swapped_after_check(void **state) {
    (void)state;
    assert_int_equal(mkdir(at("real"), 0700), 0);
    assert_int_equal(mkdir(at("other"), 0700), 0);
    assert_int_equal(tu_write_file(at("other/log"), "other\n"), 0);
    assert_int_equal(chmod(at("other/log"), 0600), 0);
    char path[700];
    snprintf(path, sizeof path, "%s", at("real/log"));
    aa__fs_target t = {.what = "thing",
                       .path = path,
                       .status = AA_EIO,
                       .refused = AA_EREFUSED};
    int fd = -1;
    aa__fs_test_hook = swap_dir_for_symlink;
    int rc = aa__fs_open(&t, AA__FS_WRITE | AA__FS_CREATE | AA__FS_APPEND, &fd,
                         NULL, NULL);
    aa__fs_test_hook = NULL;
    assert_int_equal(rc, AA_OK);
    assert_int_equal(write(fd, "mine\n", 5), 5);
    close(fd);
    char *mine = tu_read_file(at("real.moved/log"), NULL);
    char *other = tu_read_file(at("other/log"), NULL);
    assert_non_null(mine);
    assert_string_equal(mine, "mine\n");   /* in the checked directory */
    assert_string_equal(other, "other\n"); /* the other one untouched */
    free(mine);
    free(other);

    /* An existing file, not created: the same. */
    assert_int_equal(unlink(at("real")), 0);
    assert_int_equal(rename(at("real.moved"), at("real")), 0);
    aa__fs_test_hook = swap_dir_for_symlink;
    rc = aa__fs_open(&t, AA__FS_WRITE, &fd, NULL, NULL);
    aa__fs_test_hook = NULL;
    assert_int_equal(rc, AA_OK);
    assert_int_equal(write(fd, "again", 5), 5);
    close(fd);
    other = tu_read_file(at("other/log"), NULL);
    assert_string_equal(other, "other\n");
    free(other);
}

/* A directory that is a symlink when it is opened is refused: what it
 * points to could change after the check. */
static void test_dir_symlink_refused(void **state) {
    (void)state;
    assert_int_equal(mkdir(at("target"), 0700), 0);
    assert_int_equal(symlink(at("target"), at("linked")), 0);
    expect(at("linked/log"), AA__FS_WRITE | AA__FS_CREATE, AA_EREFUSED,
           "is a symbolic link");
    assert_int_equal(access(at("target/log"), F_OK), -1); /* nothing made */
    expect(at("linked/log"), AA__FS_READ, AA_ENOTFOUND, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_creates_private, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_and_shared, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_symlinks_and_special_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_siblings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dir_swapped_after_check, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dir_symlink_refused, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
