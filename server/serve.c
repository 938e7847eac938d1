/*
 * serve.c - `agent-auth serve`: options, the listening socket,
 * libmicrohttpd, signals (SIGTERM/SIGINT drain, SIGHUP reload) and --watch.
 *
 * libmicrohttpd runs a pool of --threads threads, each with its own epoll
 * set over the shared listening socket. Limits (docs/server.md): at most
 * SERVE_MAX_CONNECTIONS connections, an idle or slow connection is closed
 * after SERVE_TIMEOUT_S seconds, a body over --max-body gets 413.
 *
 * libmicrohttpd is loaded when `serve` starts (dlopen of AA_MHD_SONAME,
 * taken from the library at configure time), so that the other commands
 * do not load it, nor the TLS libraries it pulls in; its header gives the
 * types and constants at build time. AGENT_AUTH_LIBMICROHTTPD names
 * another file to load instead (docs/server.md).
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "cli.h"
#include "server.h"

#define SERVE_MAX_CONNECTIONS   1024
#define SERVE_TIMEOUT_S         30
#define SERVE_DRAIN_MS          5000
#define SERVE_WATCH_DEBOUNCE_MS 200

#ifndef AA_MHD_SONAME
#define AA_MHD_SONAME "libmicrohttpd.so.12"
#endif
#ifndef AA_MHD_PACKAGE
#define AA_MHD_PACKAGE "libmicrohttpd12"
#endif

/* ---- libmicrohttpd, loaded when serve starts ------------------------------
 */

typedef struct mhd_api {
    struct MHD_Daemon *(*start_daemon)(unsigned int, uint16_t,
                                       MHD_AcceptPolicyCallback, void *,
                                       MHD_AccessHandlerCallback, void *, ...);
    MHD_socket (*quiesce_daemon)(struct MHD_Daemon *);
    void (*stop_daemon)(struct MHD_Daemon *);
    const char *(*lookup_connection_value)(struct MHD_Connection *,
                                           enum MHD_ValueKind, const char *);
    enum MHD_Result (*queue_response)(struct MHD_Connection *, unsigned int,
                                      struct MHD_Response *);
    struct MHD_Response *(*create_response_from_buffer)(
        size_t, void *, enum MHD_ResponseMemoryMode);
    void (*destroy_response)(struct MHD_Response *);
    enum MHD_Result (*add_response_header)(struct MHD_Response *, const char *,
                                           const char *);
} mhd_api;

static mhd_api mhd;
static char mhd_load_error[PATH_MAX + 512];
static pthread_once_t mhd_once = PTHREAD_ONCE_INIT;

static void mhd_load(void) {
    const char *file = getenv("AGENT_AUTH_LIBMICROHTTPD");
    if (!file || !*file)
        file = AA_MHD_SONAME;
    void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(mhd_load_error, sizeof mhd_load_error,
                 "serve needs libmicrohttpd (Debian: apt-get install %s): "
                 "%s",
                 AA_MHD_PACKAGE, dlerror());
        return;
    }
    mhd_api a;
#define SYM(field, name)                                                       \
    do {                                                                       \
        *(void **)&a.field = dlsym(h, name);                                   \
        if (!a.field) {                                                        \
            snprintf(mhd_load_error, sizeof mhd_load_error,                    \
                     "%s lacks %s: serve needs libmicrohttpd (%s)", file,      \
                     name, AA_MHD_SONAME);                                     \
            return;                                                            \
        }                                                                      \
    } while (0)
    SYM(start_daemon, "MHD_start_daemon");
    SYM(quiesce_daemon, "MHD_quiesce_daemon");
    SYM(stop_daemon, "MHD_stop_daemon");
    SYM(lookup_connection_value, "MHD_lookup_connection_value");
    SYM(queue_response, "MHD_queue_response");
    SYM(create_response_from_buffer, "MHD_create_response_from_buffer");
    SYM(destroy_response, "MHD_destroy_response");
    SYM(add_response_header, "MHD_add_response_header");
#undef SYM
    mhd = a;
}

static const opt_spec serve_opts[] = {
    {"listen", 0, OPT_STRING, "HOST:PORT",
     "address to listen on (default 127.0.0.1:8181; port 0 picks a free "
     "port)",
     0},
    {"unix", 0, OPT_STRING, "PATH",
     "listen on a Unix socket instead (mode 0660)", 0},
    {"token-file", 0, OPT_STRING, "FILE",
     "require 'Authorization: Bearer <token>' on /v1/ (else "
     "AGENT_AUTH_TOKEN)",
     0},
    {"threads", 0, OPT_INT, "N", "worker threads (default: number of CPUs)", 1},
    {"watch", 0, OPT_FLAG, NULL, "reload when the policy file changes", 0},
    {"max-body", 0, OPT_INT, "BYTES",
     "largest request body accepted (default 1048576)", 1},
    {"log-format", 0, OPT_STRING, "FORMAT", "log lines: text (default) or json",
     0},
    {"insecure", 0, OPT_FLAG, NULL,
     "allow a non-loopback address without a token", 0},
};

/* ---- the listening socket ------------------------------------------------ */

static bool is_loopback(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >>
                24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a =
            &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) ||
               (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return sa->sa_family == AF_UNIX;
}

/* Binds and listens on HOST:PORT ([v6]:PORT); fills shown with the real
 * address (the port picked when 0 was asked). -1 (cannot) or -2 (not an
 * address: a usage error) with a message in err. */
static int listen_tcp(const char *spec, char *shown, size_t shown_len,
                      bool *loopback, char *err, size_t errlen) {
    char host[256], port[16];
    const char *colon = strrchr(spec, ':');
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':') {
            snprintf(err, errlen, "--listen '%s': expected [ADDRESS]:PORT",
                     spec);
            return -2;
        }
        snprintf(host, sizeof host, "%.*s", (int)(close - spec - 1), spec + 1);
        colon = close + 1;
    } else if (!colon) {
        snprintf(err, errlen, "--listen '%s': expected HOST:PORT", spec);
        return -2;
    } else {
        snprintf(host, sizeof host, "%.*s", (int)(colon - spec), spec);
    }
    snprintf(port, sizeof port, "%s", colon + 1);
    if (!*port || port[strspn(port, "0123456789")] || atoi(port) > 65535) {
        snprintf(err, errlen, "--listen '%s': the port must be 0..65535", spec);
        return -2;
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(*host ? host : NULL, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "--listen '%s': %s", spec, gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
            break;
        snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return -1;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *loopback = is_loopback((struct sockaddr *)&ss);
    char addr[INET6_ADDRSTRLEN] = "?";
    int p = 0;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, addr, sizeof addr);
        p = ntohs(a->sin_port);
        snprintf(shown, shown_len, "http://%s:%d", addr, p);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, addr, sizeof addr);
        p = ntohs(a->sin6_port);
        snprintf(shown, shown_len, "http://[%s]:%d", addr, p);
    }
    return fd;
}

static int listen_unix(const char *path, char *err, size_t errlen) {
    struct sockaddr_un sa = {0};
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "--unix '%s': the path is too long", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    struct stat st;
    /* A socket left by a previous run is replaced; anything else is kept. */
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "--unix '%s' exists and is not a socket",
                     path);
            return -1;
        }
        unlink(path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    mode_t old = umask(0117); /* the socket is born 0660 */
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    umask(old);
    if (ok && chmod(path, 0660) == 0 && listen(fd, 1024) == 0)
        return fd;
    snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

/* ---- libmicrohttpd glue -------------------------------------------------- */

typedef struct serve_state {
    srv s;
    atomic_int inflight;
} serve_state;

/* One request's body as it arrives. */
typedef struct conn_req {
    char *body;
    size_t len, cap;
    bool too_big;
} conn_req;

static const char *mhd_header(void *ud, const char *name) {
    return mhd.lookup_connection_value(ud, MHD_HEADER_KIND, name);
}

static const char *mhd_query(void *ud, const char *name) {
    return mhd.lookup_connection_value(ud, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result send_resp(serve_state *st, struct MHD_Connection *c,
                                 srv_http_resp *o) {
    struct MHD_Response *r =
        o->body ? mhd.create_response_from_buffer(o->len, o->body,
                                                  MHD_RESPMEM_MUST_FREE)
                : mhd.create_response_from_buffer(0, (void *)"",
                                                  MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(o->body);
        return MHD_NO;
    }
    mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            o->content_type ? o->content_type
                                            : "application/json");
    if (o->allow)
        mhd.add_response_header(r, MHD_HTTP_HEADER_ALLOW, o->allow);
    if (o->www_auth)
        mhd.add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (o->auth_headers) {
        mhd.add_response_header(r, "X-Agent-Auth-Tier", o->tier);
        mhd.add_response_header(r, "X-Agent-Auth-Reason", o->reason);
    }
    if (atomic_load_explicit(&st->s.draining, memory_order_relaxed))
        mhd.add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = mhd.queue_response(c, (unsigned)o->status, r);
    mhd.destroy_response(r);
    return ret;
}

static enum MHD_Result too_large(serve_state *st, struct MHD_Connection *c) {
    srv_http_resp o = {0};
    o.status = 413;
    char msg[128];
    snprintf(msg, sizeof msg,
             "{\"error\":\"the request body is over the limit of %zu bytes\"}",
             st->s.max_body);
    o.body = strdup(msg);
    o.len = o.body ? strlen(o.body) : 0;
    atomic_fetch_add(&st->s.m.http[413], 1);
    return send_resp(st, c, &o);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
    serve_state *st = cls;
    conn_req *k = *con_cls;
    if (!k) {
        k = calloc(1, sizeof *k);
        if (!k)
            return MHD_NO;
        *con_cls = k;
        atomic_fetch_add(&st->inflight, 1);
        const char *cl =
            mhd.lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > st->s.max_body) {
            k->too_big = true;
            return too_large(st, c);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!k->too_big && k->len + *upload_size > st->s.max_body)
            k->too_big = true;
        if (!k->too_big) {
            if (k->len + *upload_size + 1 > k->cap) {
                size_t cap = (k->len + *upload_size + 1) * 2;
                if (cap > st->s.max_body + 1)
                    cap = st->s.max_body + 1;
                char *nb = realloc(k->body, cap);
                if (!nb)
                    return MHD_NO;
                k->body = nb;
                k->cap = cap;
            }
            memcpy(k->body + k->len, upload, *upload_size);
            k->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (k->too_big)
        return too_large(st, c);
    srv_http_req r = {0};
    r.method = method;
    r.path = url;
    r.body = k->body ? k->body : "";
    r.body_len = k->len;
    r.header = mhd_header;
    r.query = mhd_query;
    r.ud = c;
    srv_http_resp o;
    srv_handle(&st->s, &r, &o);
    return send_resp(st, c, &o);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    serve_state *st = cls;
    conn_req *k = *con_cls;
    if (!k)
        return;
    free(k->body);
    free(k);
    *con_cls = NULL;
    atomic_fetch_sub(&st->inflight, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = 0;
    srv_log(cls, "warn", "http: %s", msg);
}

/* ---- the command --------------------------------------------------------- */

static char *read_token(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "cannot read --token-file '%s': %s", path,
                 strerror(errno));
        return NULL;
    }
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
                 buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        buf[--n] = 0;
    if (!n) {
        snprintf(err, errlen, "--token-file '%s' is empty", path);
        return NULL;
    }
    return strdup(buf);
}

static long ms_since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void reload(srv *s, const char *why) {
    aa_error *err = aa_error_new();
    char reason[1024];
    if (srv_reload(s, err, reason, sizeof reason) == AA_OK) {
        srv_log(s, "info", "policy reloaded (%s)", why);
    } else {
        srv_log(s, "error",
                "policy reload (%s) failed; the previous policy "
                "keeps serving: %s",
                why, reason);
        for (size_t i = 0; i < aa_error_count(err); i++) {
            char line[1024];
            aa_diag_format(aa_error_get(err, i), line, sizeof line);
            srv_log(s, "error", "  %s", line);
        }
    }
    aa_error_free(err);
}

/* --watch. The policy file's directory is watched, not the file: editors
 * and config managers replace a file by renaming another over it, and a
 * Kubernetes ConfigMap volume swaps a `..data` symlink to a new directory
 * (the policy, `agent_auth.yaml -> ..data/agent_auth.yaml`, never changes
 * as a name). So any change in the directory is a hint; after the debounce
 * the file the path resolves to now is compared with the one last loaded
 * (device, inode, mtime, size), and only a different file is reloaded.
 * The directory of the resolved file is watched too when it is elsewhere
 * (a symlink to a file in another directory, edited in place). */
typedef struct watcher {
    int fd;
    const char *path; /* the policy path as given */
    const char *name; /* its last component */
    int own_wd;       /* the watch on the policy path's directory */
    int target_wd;    /* the watch on the resolved file's directory, or -1 */
    char target_dir[PATH_MAX];
    srv_file_id seen; /* the file last loaded or tried */
    bool have_seen;
} watcher;

static int watch_dir(int fd, const char *dir) {
    return inotify_add_watch(fd, dir,
                             IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
                                 IN_CREATE | IN_DELETE | IN_ATTRIB |
                                 IN_DELETE_SELF | IN_MOVE_SELF);
}

/* Watches the directory of the file the policy path resolves to now, when
 * that is not the policy's own directory. */
static void watch_target(watcher *w, const char *own_dir) {
    char real[PATH_MAX], own[PATH_MAX];
    if (!realpath(w->path, real) || !realpath(own_dir, own))
        return;
    char *slash = strrchr(real, '/');
    if (!slash)
        return;
    *slash = 0;
    const char *dir = *real ? real : "/";
    if (strcmp(dir, own) == 0 || strcmp(dir, w->target_dir) == 0)
        return;
    if (w->target_wd >= 0)
        inotify_rm_watch(w->fd, w->target_wd);
    w->target_wd = watch_dir(w->fd, dir);
    snprintf(w->target_dir, sizeof w->target_dir, "%s", dir);
}

static int watch_policy(watcher *w, const char *path, const srv_file_id *id) {
    memset(w, 0, sizeof *w);
    w->target_wd = -1;
    w->path = path;
    w->seen = *id;
    w->have_seen = true;
    w->fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (w->fd < 0)
        return -1;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    w->name = slash ? path + (slash - dir) + 1 : path;
    if (slash)
        *slash = 0;
    const char *d = slash ? (*dir ? dir : "/") : ".";
    if ((w->own_wd = watch_dir(w->fd, d)) < 0) {
        close(w->fd);
        w->fd = -1;
        return -1;
    }
    watch_target(w, d);
    return w->fd;
}

/* Reads the events: 2 when one names the policy file in its own directory
 * (reload it whatever its identity: an edit in place within one clock tick
 * keeps mtime and size), 1 for any other change in a watched directory
 * (the file's identity decides), else 0. */
static int watch_events(watcher *w) {
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    int hit = 0;
    ssize_t n;
    while ((n = read(w->fd, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            if (ev->wd == w->own_wd && ev->len &&
                strcmp(ev->name, w->name) == 0)
                hit = 2;
            else if (hit == 0)
                hit = 1;
            if (ev->wd == w->target_wd && (ev->mask & IN_IGNORED)) {
                w->target_wd = -1; /* that directory is gone */
                w->target_dir[0] = 0;
            }
            p += sizeof *ev + ev->len;
        }
    }
    return hit;
}

/* After the debounce: reloads when the policy path names another file
 * than the one serving and the one last tried (a broken file is tried
 * once, not at every event), or when `force`; then follows the new file's
 * directory. */
static void watch_settle(watcher *w, srv *s, bool force) {
    srv_file_id now;
    bool have = srv_file_id_of(w->path, &now);
    srv_snap *snap = srv_snap_get(s);
    bool changed = have && !srv_file_id_equal(&now, &snap->file) &&
                   !(w->have_seen && srv_file_id_equal(&now, &w->seen));
    srv_snap_put(snap);
    if (force || changed) {
        reload(s, "the file changed");
        w->seen = now;
        w->have_seen = have;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", w->path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    watch_target(w, slash ? (*dir ? dir : "/") : ".");
}

/* Decodes the %XX escapes of a URL path or argument in place, except those
 * of NUL, '/', '\\', '?', '#' and '%', which stay as written: decoded, a NUL
 * would cut the text short and the others would change what the path says
 * (forward-auth then refuses a path with a '%' in it). */
static size_t unescape_keeping(void *cls, struct MHD_Connection *c, char *s) {
    (void)cls;
    (void)c;
    char *w = s;
    for (const char *r = s; *r;) {
        int hi = r[0] == '%' ? srv_hexval(r[1]) : -1;
        int lo = hi >= 0 ? srv_hexval(r[2]) : -1;
        int b = lo >= 0 ? hi << 4 | lo : -1;
        if (b > 0 && b != '/' && b != '\\' && b != '?' && b != '#' &&
            b != '%') {
            *w++ = (char)b;
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
    return (size_t)(w - s);
}

static int run_serve(cli_ctx *ctx) {
    const char *listen_spec = cli_str(ctx, "listen");
    const char *unix_path = cli_str(ctx, "unix");
    const char *token_file = cli_str(ctx, "token-file");
    const char *log_format = cli_str(ctx, "log-format");
    bool insecure = cli_opt(ctx, "insecure")->set;
    bool watch = cli_opt(ctx, "watch")->set;
    long threads = sysconf(_SC_NPROCESSORS_ONLN);
    if (cli_opt(ctx, "threads")->set)
        threads = (long)cli_opt(ctx, "threads")->num;
    if (threads < 1)
        threads = 1;
    if (threads > 256)
        return cli_usage_error(ctx, "--threads must be at most 256");
    if (listen_spec && unix_path)
        return cli_usage_error(ctx, "--listen and --unix exclude each other");
    if (log_format && strcmp(log_format, "text") != 0 &&
        strcmp(log_format, "json") != 0)
        return cli_usage_error(ctx, "--log-format must be text or json");

    pthread_once(&mhd_once, mhd_load);
    if (!mhd.start_daemon)
        return cli_error("%s", mhd_load_error);

    /* Past a file size limit a write fails (and the decision is denied);
     * it must not end the process. */
    signal(SIGXFSZ, SIG_IGN);
    serve_state *st = calloc(1, sizeof *st);
    if (!st)
        return cli_error("out of memory");
    char msg[1024] = "";
    char *token = NULL;
    if (token_file) {
        token = read_token(token_file, msg, sizeof msg);
        if (!token) {
            free(st);
            return cli_error("%s", msg);
        }
    } else if (getenv("AGENT_AUTH_TOKEN") && *getenv("AGENT_AUTH_TOKEN")) {
        token = strdup(getenv("AGENT_AUTH_TOKEN"));
    }

    /* Signals are taken by the main thread only: block them before any
     * thread starts (the state store's listener and the audit writer's
     * start with the engine, the HTTP workers later), so that every thread
     * inherits the mask and none is ended by a SIGTERM meant for the
     * drain. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    aa_error *err = aa_error_new();
    if (srv_init(&st->s, ctx->config_path, ctx->state_path, false, err) !=
        AA_OK) {
        int rc = cli_fail(err, AA_EPOLICY);
        srv_free(&st->s);
        free(token);
        free(st);
        return rc;
    }
    aa_error_free(err);
    st->s.token = token;
    st->s.token_len = token ? strlen(token) : 0;
    st->s.log_json = log_format && strcmp(log_format, "json") == 0;
    if (st->s.start_store_error[0])
        srv_log(&st->s, "warning",
                "serving without the state store for now (decisions that "
                "need it are denied; /readyz says 503 until it answers): %s",
                st->s.start_store_error);
    if (cli_opt(ctx, "max-body")->set)
        st->s.max_body = (size_t)cli_opt(ctx, "max-body")->num;

    char shown[PATH_MAX + 16];
    bool loopback = true;
    int lfd;
    if (unix_path) {
        lfd = listen_unix(unix_path, msg, sizeof msg);
        snprintf(shown, sizeof shown, "unix:%s", unix_path);
    } else {
        lfd = listen_tcp(listen_spec ? listen_spec : "127.0.0.1:8181", shown,
                         sizeof shown, &loopback, msg, sizeof msg);
    }
    int rc = EXIT_FAIL;
    if (lfd == -2) {
        rc = cli_usage_error(ctx, "%s", msg);
        goto out;
    }
    if (lfd < 0) {
        cli_error("%s", msg);
        goto out;
    }
    if (!loopback && !token && !insecure) {
        close(lfd);
        rc = cli_usage_error(ctx,
                             "refusing to listen on %s without a token: set "
                             "--token-file or AGENT_AUTH_TOKEN, or pass "
                             "--insecure",
                             shown);
        goto out;
    }
    fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);

    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);

    struct MHD_Daemon *d = mhd.start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
            MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_request, st, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
        &st->s, MHD_OPTION_LISTEN_SOCKET, lfd, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)SERVE_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)SERVE_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        st, MHD_OPTION_UNESCAPE_CALLBACK, unescape_keeping, NULL,
        MHD_OPTION_END);
    if (!d || sfd < 0) {
        cli_error("cannot start the HTTP server on %s", shown);
        close(lfd);
        if (unix_path)
            unlink(unix_path);
        if (sfd >= 0)
            close(sfd);
        goto out;
    }
    watcher w = {.fd = -1};
    srv_snap *first = srv_snap_get(&st->s);
    int ifd = watch ? watch_policy(&w, ctx->config_path, &first->file) : -1;
    srv_snap_put(first);
    if (watch && ifd < 0)
        srv_log(&st->s, "warn", "cannot watch %s: %s; reload with SIGHUP",
                ctx->config_path, strerror(errno));
    printf("listening on %s\n", shown);
    fflush(stdout);
    srv_log(&st->s, "info", "serving %s on %s with %ld threads",
            ctx->config_path, shown, threads);

    struct timespec changed;
    bool pending = false, force = false;
    for (;;) {
        struct pollfd pfd[2] = {{sfd, POLLIN, 0}, {ifd, POLLIN, 0}};
        int timeout = -1;
        if (pending) {
            long left = SERVE_WATCH_DEBOUNCE_MS - ms_since(&changed);
            timeout = left > 0 ? (int)left : 0;
        }
        int n = poll(pfd, ifd >= 0 ? 2 : 1, timeout);
        if (n < 0 && errno != EINTR)
            break;
        if (pending && ms_since(&changed) >= SERVE_WATCH_DEBOUNCE_MS) {
            pending = false;
            watch_settle(&w, &st->s, force);
            force = false;
        }
        int hit = ifd >= 0 && (pfd[1].revents & POLLIN) ? watch_events(&w) : 0;
        /* Writes to the policy file postpone the reload until they settle;
         * other changes in its directory (which may be busy) do not. */
        if (hit == 2 || (hit == 1 && !pending))
            clock_gettime(CLOCK_MONOTONIC, &changed);
        if (hit) {
            pending = true;
            force = force || hit == 2;
        }
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) != sizeof si)
                continue;
            if (si.ssi_signo == SIGHUP) {
                reload(&st->s, "SIGHUP");
                continue;
            }
            break;
        }
    }

    /* Drain: stop accepting, let what is in flight finish (bounded). */
    srv_log(&st->s, "info", "stopping: finishing requests in flight");
    atomic_store(&st->s.draining, true);
    MHD_socket q = mhd.quiesce_daemon(d);
    if (q != MHD_INVALID_SOCKET)
        close(q);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (atomic_load(&st->inflight) > 0 && ms_since(&t0) < SERVE_DRAIN_MS) {
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&st->inflight) > 0)
        srv_log(&st->s, "warn", "%d requests still in flight after %d ms",
                atomic_load(&st->inflight), SERVE_DRAIN_MS);
    mhd.stop_daemon(d);
    if (ifd >= 0)
        close(ifd);
    close(sfd);
    if (unix_path)
        unlink(unix_path);
    srv_log(&st->s, "info", "stopped");
    rc = EXIT_OK;
out:
    srv_free(&st->s);
    free(st);
    return rc;
}

const cli_command cmd_serve = {
    .name = "serve",
    .summary = "Answer authorization requests over HTTP (docs/server.md)",
    .usage = "serve [--listen HOST:PORT | --unix PATH] [--token-file FILE] "
             "[--threads N] [--watch] [--max-body BYTES] [--log-format "
             "text|json] [--insecure]",
    .examples =
        "  agent-auth -c agent_auth.yaml serve --listen 127.0.0.1:8181\n"
        "  curl -s localhost:8181/v1/authorize -d "
        "'{\"agent\":\"a\",\"user\":\"u\",\"action\":\"read:x\"}'\n",
    .opts = serve_opts,
    .nopts = sizeof serve_opts / sizeof serve_opts[0],
    .run = run_serve,
};
