/* common.c - output helpers and opening the policy, store and engine. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* ---- errors -------------------------------------------------------------- */

/* With -o json, every error is also kept here and printed as one JSON
 * object on stdout when the command ends (cli_flush_error_json). */
static struct {
    bool on;
    const char *code; /* the first specific code, else "ERROR" */
    char *message;    /* every error line so far, '\n' between */
    size_t len;
} jerr;

void cli_json_errors(bool on) {
    jerr.on = on;
}

void cli_note_error(const char *code, const char *text) {
    if (!jerr.on)
        return;
    if (!jerr.code || (strcmp(jerr.code, "ERROR") == 0 && code))
        jerr.code = code ? code : "ERROR";
    size_t n = strlen(text);
    char *m = realloc(jerr.message, jerr.len + n + 2);
    if (!m)
        return;
    if (jerr.len)
        m[jerr.len++] = '\n';
    memcpy(m + jerr.len, text, n + 1);
    jerr.message = m;
    jerr.len += n;
}

void cli_flush_error_json(int rc) {
    if (jerr.on && jerr.message && rc != EXIT_OK) {
        json_t *e = json_object();
        json_object_set_new(e, "code", cli_jstr(jerr.code));
        json_object_set_new(e, "message", cli_jstr(jerr.message));
        json_t *o = json_object();
        json_object_set_new(o, "error", e);
        cli_print_json(o);
    }
    free(jerr.message);
    memset(&jerr, 0, sizeof jerr);
}

int cli_error(const char *fmt, ...) {
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "Error: %s\n", msg);
    cli_note_error(NULL, msg);
    return EXIT_FAIL;
}

int cli_fail(aa_error *err, int status) {
    if (aa_error_count(err) == 0) {
        cli_note_error(aa_status_name(status), aa_strerror(status));
        fprintf(stderr, "Error: %s\n", aa_strerror(status));
    }
    cli_print_errors(err, "Error: ");
    aa_error_free(err);
    return EXIT_FAIL;
}

void cli_print_errors(const aa_error *err, const char *prefix) {
    bool error_prefix = strcmp(prefix, "Error: ") == 0;
    for (size_t i = 0; i < aa_error_count(err); i++) {
        const aa_diag *d = aa_error_get(err, i);
        char line[4096], noted[4200];
        aa_diag_format(d, line, sizeof line);
        fprintf(stderr, "%s%s\n", prefix, line);
        snprintf(noted, sizeof noted, "%s%s", error_prefix ? "" : prefix, line);
        if (d->severity == AA_SEVERITY_ERROR)
            cli_note_error(aa_status_name(d->status), noted);
    }
}

#define COLOR(fn, code)                                                        \
    const char *fn(const cli_ctx *ctx) {                                       \
        return ctx->color ? code : "";                                         \
    }
COLOR(cli_green, "\033[32m")
COLOR(cli_red, "\033[31m")
COLOR(cli_yellow, "\033[33m")
COLOR(cli_bold, "\033[1m")
COLOR(cli_dim, "\033[2m")
COLOR(cli_reset, "\033[0m")
#undef COLOR

/* Length of the control character at s (0 if none): C0 and DEL, and C1
 * written in UTF-8 (U+0080..U+009F, which some terminals obey). */
static size_t control_len(const unsigned char *s) {
    if (*s < 0x20 || *s == 0x7f)
        return 1;
    return s[0] == 0xC2 && s[1] >= 0x80 && s[1] <= 0x9f ? 2 : 0;
}

void cli_put_text(const char *s, FILE *out) {
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        size_t n = control_len(p);
        fputc(n ? '?' : *p, out);
        p += n ? n : 1;
    }
}

json_t *cli_jstr(const char *s) {
    if (!s)
        return json_string("");
    json_t *j = json_string(s);
    if (j)
        return j;
    /* Not UTF-8: keep what is valid, replace each bad byte with U+FFFD. */
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80         ? 1
                     : (c >> 5) == 6  ? 2
                     : (c >> 4) == 14 ? 3
                     : (c >> 3) == 30 ? 4
                                      : 0;
        bool ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++)
            ok = ((unsigned char)s[i + k] & 0xC0) == 0x80;
        if (ok && len > 1) { /* reject overlong forms and surrogates */
            char tmp[5] = {0};
            memcpy(tmp, s + i, len);
            json_t *probe = json_string(tmp);
            ok = probe != NULL;
            json_decref(probe);
        }
        if (ok) {
            memcpy(out + o, s + i, len);
            o += len;
            i += len;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    out[o] = 0;
    json_t *j2 = json_string(out);
    free(out);
    return j2 ? j2 : json_string("");
}

void cli_print_json(json_t *v) {
    if (!v) {
        cli_error("out of memory");
        return;
    }
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
                                JSON_REAL_PRECISION(6));
    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(v);
}

/* ---- tables -------------------------------------------------------------- */

void cli_table_init(cli_table *t, size_t ncols, const char *const *headers) {
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    cli_table_add(t, headers);
}

void cli_table_add(cli_table *t, const char *const *row) {
    char **cells = realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof *cells);
    if (!cells)
        return;
    t->cells = cells;
    for (size_t c = 0; c < t->ncols; c++) {
        char *cell = strdup(row[c] ? row[c] : "");
        /* Cells show the log and the store: no control characters. */
        if (cell) {
            char *in = cell, *o = cell;
            while (*in) {
                size_t n = control_len((unsigned char *)in);
                *o++ = n ? '?' : *in;
                in += n ? n : 1;
            }
            *o = 0;
        }
        cells[t->nrows * t->ncols + c] = cell;
    }
    t->nrows++;
}

/* Display width of UTF-8 text: counts code points, not bytes. */
static size_t text_width(const char *s) {
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

void cli_table_print(const cli_ctx *ctx, const cli_table *t, FILE *out) {
    size_t width[16] = {0};
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols && c < 16; c++) {
            size_t w = text_width(
                t->cells[r * t->ncols + c] ? t->cells[r * t->ncols + c] : "");
            if (w > width[c])
                width[c] = w;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        if (r == 0)
            fputs(cli_bold(ctx), out);
        for (size_t c = 0; c < t->ncols; c++) {
            const char *cell =
                t->cells[r * t->ncols + c] ? t->cells[r * t->ncols + c] : "";
            fputs(cell, out);
            if (c + 1 < t->ncols)
                for (size_t k = text_width(cell); k < width[c] + 2; k++)
                    fputc(' ', out);
        }
        if (r == 0)
            fputs(cli_reset(ctx), out);
        fputc('\n', out);
    }
}

void cli_table_free(cli_table *t) {
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

void cli_relative_time(int64_t at, int64_t now, char *buf, size_t n) {
    int64_t d = (at - now) / 1000000;
    bool past = d < 0;
    if (past)
        d = -d;
    char span[32];
    if (d < 60)
        snprintf(span, sizeof span, "%llds", (long long)d);
    else if (d < 3600)
        snprintf(span, sizeof span, "%lldm %02llds", (long long)(d / 60),
                 (long long)(d % 60));
    else if (d < 86400)
        snprintf(span, sizeof span, "%lldh %02lldm", (long long)(d / 3600),
                 (long long)(d % 3600 / 60));
    else
        snprintf(span, sizeof span, "%lldd %02lldh", (long long)(d / 86400),
                 (long long)(d % 86400 / 3600));
    snprintf(buf, n, past ? "%s ago" : "in %s", span);
}

/* ---- standard descriptors ------------------------------------------------ */

void cli_keep_std_fds(void) {
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        /* Read-only: a write to a closed stdout still fails (EBADF), but
         * the number is taken, so no file opened later can become fd 1
         * and receive the output. */
        int n = open("/dev/null", O_RDONLY | O_NOCTTY);
        if (n >= 0 && n != fd) {
            dup2(n, fd);
            close(n);
        }
    }
}

/* ---- policy, store, engine ----------------------------------------------- */

bool cli_unreadable(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int e = fd < 0 ? errno : 0;
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
        e = EISDIR;
    else if (fd >= 0) {
        char c;
        if (read(fd, &c, 1) < 0)
            e = errno;
    }
    if (fd >= 0)
        close(fd);
    if (!e)
        return false;
    char msg[4200];
    snprintf(msg, sizeof msg, "%s: %s", path, strerror(e));
    fprintf(stderr, "Error: %s\n", msg);
    cli_note_error("EIO", msg);
    return true;
}

aa_policy *cli_load_policy(const cli_ctx *ctx) {
    aa_error *err = aa_error_new();
    aa_policy *p = NULL;
    aa_load_options opts = {0};
    opts.strict = ctx->strict;
    int rc = aa_policy_load_file(ctx->config_path, &opts, &p, err);
    for (size_t i = 0; rc == AA_OK && i < aa_error_count(err); i++) {
        char line[4096];
        aa_diag_format(aa_error_get(err, i), line, sizeof line);
        fprintf(stderr, "Warning: %s\n", line);
    }
    if (rc != AA_OK) {
        if (rc == AA_EIO && cli_unreadable(ctx->config_path)) {
            /* said: "Error: <path>: <reason>" */
        } else if (aa_error_count_severity(err, AA_SEVERITY_ERROR) <= 1 &&
                   rc != AA_EPOLICY) {
            const aa_diag *d = aa_error_get(err, 0);
            char line[4096];
            if (d)
                aa_diag_format(d, line, sizeof line);
            cli_error("%s", d ? line : aa_strerror(rc));
        } else {
            fprintf(stderr, "Error: invalid policy '%s':\n", ctx->config_path);
            char head[4200];
            snprintf(head, sizeof head,
                     "invalid policy '%s':", ctx->config_path);
            cli_note_error(aa_status_name(rc), head);
            for (size_t i = 0; i < aa_error_count(err); i++) {
                const aa_diag *d = aa_error_get(err, i);
                if (d->severity != AA_SEVERITY_ERROR)
                    continue;
                char line[4096];
                aa_diag_format(d, line, sizeof line);
                fprintf(stderr, "  - %s\n", line);
                snprintf(head, sizeof head, "  - %s", line);
                cli_note_error(aa_status_name(rc), head);
            }
        }
    }
    aa_error_free(err);
    return p;
}

/* Does the directory that would hold path exist? */
static bool dir_exists(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        return true; /* the working directory */
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path),
             path);
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

int cli_check_agent(const cli_ctx *ctx, const aa_policy *p, const char *agent,
                    bool refuse) {
    if (!agent || !*agent || aa_policy_has_profile(p, agent))
        return EXIT_OK;
    const char *near = aa_policy_suggest_profile(p, agent);
    bool fail = refuse && ctx->strict;
    /* One write, so that the lines of processes sharing stderr stay whole. */
    char *msg = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&msg, &len);
    FILE *out = m ? m : stderr;
    fprintf(out, "%s: agent '", fail ? "Error" : "Warning");
    cli_put_text(agent, out);
    fprintf(out, "' has no profile in %s", ctx->config_path);
    if (near) {
        fprintf(out, " (did you mean '");
        cli_put_text(near, out);
        fprintf(out, "'?)");
    }
    fprintf(out, fail ? "; refused under --strict\n" : "\n");
    if (m) {
        fclose(m);
        fwrite(msg, 1, len, stderr);
        free(msg);
    }
    return fail ? EXIT_FAIL : EXIT_OK;
}

int cli_open(const cli_ctx *ctx, cli_store_mode store, aa_audit_mode audit,
             cli_engine *ce) {
    memset(ce, 0, sizeof *ce);
    ce->policy = cli_load_policy(ctx);
    if (!ce->policy)
        return EXIT_FAIL;
    aa_error *err = aa_error_new();
    int rc = AA_OK;
    aa_store_options so;
    aa_store_options_init(&so);
    so.url = ctx->state_path;
    so.policy = ce->policy;
    so.lazy = store != CLI_STORE_CREATE; /* opened once the file exists */
    so.consistency = store == CLI_STORE_LONG ? AA_CONSISTENCY_DEFAULT
                                             : AA_CONSISTENCY_STRICT;
    char where[1024];
    if (aa_store_location(&so, where, sizeof where) != AA_OK) {
        cli_error("%s%s", where, ctx->state_path ? " (--state)" : "");
        aa_error_free(err);
        cli_close(ce);
        return EXIT_FAIL;
    }
    const char *path = ctx->state_path;
    if (path && strncmp(path, "sqlite:", 7) == 0)
        path += 7;
    if (store != CLI_STORE_CREATE && path && strstr(where, "://") == NULL &&
        !dir_exists(path)) {
        /* an explicit path is never silently "no state store" */
        cli_error("state store '%s' (--state): its directory does not exist",
                  path);
        aa_error_free(err);
        cli_close(ce);
        return EXIT_FAIL;
    }
    rc = aa_store_open(&so, &ce->store, err);
    if (rc == AA_OK) {
        aa_engine_options o = {0};
        o.store = ce->store;
        o.audit_mode = audit;
        rc = aa_engine_new(ce->policy, &o, &ce->engine, err);
    }
    if (rc != AA_OK) {
        cli_print_errors(err, "Error: ");
        if (aa_error_count(err) == 0)
            cli_error("%s", aa_strerror(rc));
        aa_error_free(err);
        cli_close(ce);
        return EXIT_FAIL;
    }
    aa_error_free(err);
    return EXIT_OK;
}

void cli_close(cli_engine *ce) {
    aa_engine_free(ce->engine);
    aa_store_free(ce->store);
    aa_policy_free(ce->policy);
    memset(ce, 0, sizeof *ce);
}

/* ---- JSON shapes --------------------------------------------------------- */

json_t *cli_decision_json(const aa_decision *d, bool with_trace) {
    json_t *o = json_object();
    json_object_set_new(o, "allowed", json_boolean(aa_decision_allowed(d)));
    json_object_set_new(o, "tier", cli_jstr(aa_tier_name(aa_decision_tier(d))));
    json_object_set_new(o, "reason", cli_jstr(aa_decision_reason(d)));
    json_object_set_new(o, "requires_approval",
                        json_boolean(aa_decision_requires_approval(d)));
    json_object_set_new(o, "approval_policy",
                        cli_jstr(aa_decision_approval_policy(d)));
    json_object_set_new(
        o, "evaluation_time_ms",
        json_real((double)(long long)(aa_decision_time_ms(d) * 1000 + 0.5) /
                  1000));
    if (with_trace) {
        json_t *tr = json_array();
        for (size_t i = 0; i < aa_decision_trace_count(d); i++) {
            const aa_trace_step *s = aa_decision_trace_get(d, i);
            json_t *st = json_object();
            json_object_set_new(st, "step", cli_jstr(s->step));
            json_object_set_new(st, "outcome",
                                cli_jstr(s->outcome > 0   ? "pass"
                                         : s->outcome < 0 ? "deny"
                                                          : "no match"));
            json_object_set_new(st, "detail", cli_jstr(s->detail));
            json_array_append_new(tr, st);
        }
        json_object_set_new(o, "trace", tr);
    }
    return o;
}

static json_t *time_json(int64_t us) {
    char t[33];
    aa_format_time(us, t);
    return cli_jstr(t);
}

json_t *cli_session_json(const aa_session *s) {
    json_t *o = json_object();
    json_object_set_new(o, "session_id", cli_jstr(s->session_id));
    json_object_set_new(o, "agent", cli_jstr(s->agent));
    json_object_set_new(o, "user", cli_jstr(s->user));
    json_object_set_new(o, "scope", cli_jstr(s->scope ? s->scope : ""));
    json_object_set_new(o, "created_at", time_json(s->created_at));
    json_object_set_new(o, "expires_at", time_json(s->expires_at));
    json_object_set_new(o, "status", cli_jstr(aa_grant_status_name(s->status)));
    return o;
}

json_t *cli_delegation_json(const aa_delegation *g) {
    json_t *o = json_object();
    json_object_set_new(o, "delegation_id", cli_jstr(g->delegation_id));
    json_object_set_new(o, "from_user", cli_jstr(g->from_user));
    json_object_set_new(o, "to_agent", cli_jstr(g->to_agent));
    json_t *a = json_array();
    for (size_t i = 0; i < g->action_count; i++)
        json_array_append_new(a, cli_jstr(g->actions[i]));
    json_object_set_new(o, "actions", a);
    json_object_set_new(o, "granted_at", time_json(g->granted_at));
    json_object_set_new(o, "expires_at", time_json(g->expires_at));
    json_object_set_new(o, "reason", cli_jstr(g->reason ? g->reason : ""));
    json_object_set_new(o, "status", cli_jstr(aa_grant_status_name(g->status)));
    return o;
}
