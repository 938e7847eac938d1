/*
 * loadgen.c - an open-loop HTTP load generator for bench/server_bench.sh:
 * it sends requests at a fixed rate, whatever the server does, over
 * keep-alive connections, and measures each latency from the time the
 * request was *scheduled*, not from when it could be sent. So a server
 * that stalls is charged for every request that waited behind the stall
 * (no "coordinated omission", which a closed loop such as wrk has: its
 * clients stop asking while they wait, so a stall shows as one slow
 * request instead of many).
 *
 * Usage: loadgen HOST PORT PATH BODYFILE RATE SECONDS CONNECTIONS
 *   Request k is due at start + k / RATE and goes to connection
 *   k % CONNECTIONS; a connection carries one request at a time, so a
 *   request due while its connection is busy waits (and the wait counts).
 *   The first second is a warm-up and is not recorded.
 * Prints one line:
 *   measured=N rate=R/s p50=X p90=X p99=X p999=X max=X (ms) errors=N late=N
 *   errors: answers other than 2xx and broken connections; late: requests
 *   still waiting when the run ended (counted as errors too).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#define QCAP 4096 /* requests waiting per connection */

typedef struct conn {
    int fd;
    double queue[QCAP]; /* due times of the requests waiting */
    size_t qhead, qlen;
    bool busy;       /* a request is on the wire */
    double due;      /* of the request on the wire */
    size_t sent_off; /* bytes of the request written */
    char in[65536];
    size_t inlen;
} conn;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int connect_to(const char *host, int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (fd < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("loadgen: connect");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The length of a whole response at the start of buf, its status in
 * *status; 0 when it is not all there yet, -1 when it cannot be read. */
static long response_len(const char *buf, size_t len, int *status) {
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end)
        return len >= sizeof((conn *)0)->in ? -1 : 0;
    size_t head = (size_t)(end - buf) + 4;
    if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0)
        return -1;
    *status = atoi(buf + 9);
    long body = -1;
    for (const char *p = buf; p < end;) {
        const char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
        if (!eol)
            break;
        if (eol - p > 15 && strncasecmp(p, "Content-Length:", 15) == 0)
            body = atol(p + 15);
        p = eol + 2;
    }
    if (body < 0)
        return -1; /* every answer here has a Content-Length */
    return len >= head + (size_t)body ? (long)(head + (size_t)body) : 0;
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: loadgen HOST PORT PATH BODYFILE RATE SECONDS "
                        "CONNECTIONS\n");
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    const char *path = argv[3];
    double rate = atof(argv[5]), secs = atof(argv[6]);
    int nconn = atoi(argv[7]);
    if (rate <= 0 || secs <= 0 || nconn < 1) {
        fprintf(stderr, "loadgen: RATE, SECONDS and CONNECTIONS must be > 0\n");
        return 2;
    }
    FILE *f = fopen(argv[4], "rb");
    if (!f) {
        perror(argv[4]);
        return 1;
    }
    static char body[1 << 20];
    size_t blen = fread(body, 1, sizeof body, f);
    fclose(f);
    char *req = malloc(blen + 512);
    int hl = snprintf(req, 512,
                      "POST %s HTTP/1.1\r\nHost: %s:%d\r\n"
                      "Content-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      path, host, port, blen);
    memcpy(req + hl, body, blen);
    size_t reqlen = (size_t)hl + blen;

    conn *cs = calloc((size_t)nconn, sizeof *cs);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < nconn; i++) {
        cs[i].fd = connect_to(host, port);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET,
                                 .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }

    const double warm = 1.0;
    size_t total = (size_t)((warm + secs) * rate);
    size_t cap = (size_t)(secs * rate) + 16, nlat = 0;
    double *lat = malloc(cap * sizeof *lat);
    unsigned long errors = 0, late = 0;
    double t0 = now_s() + 0.01, end = t0 + warm + secs;
    size_t next = 0; /* the next request to schedule */

    for (;;) {
        double t = now_s();
        /* Due requests join their connection's queue. */
        while (next < total && t0 + (double)next / rate <= t) {
            conn *c = &cs[next % (size_t)nconn];
            if (c->qlen < QCAP) {
                c->queue[(c->qhead + c->qlen) % QCAP] =
                    t0 + (double)next / rate;
                c->qlen++;
            } else {
                errors++; /* the server is this far behind */
            }
            next++;
        }
        if (next >= total && t > end + 2.0)
            break; /* two seconds for the last answers */
        bool idle = next >= total;
        for (int i = 0; i < nconn; i++) {
            conn *c = &cs[i];
            if (c->busy || c->qlen)
                idle = false;
            if (!c->busy && c->qlen) { /* start the next one */
                c->due = c->queue[c->qhead];
                c->qhead = (c->qhead + 1) % QCAP;
                c->qlen--;
                c->busy = true;
                c->sent_off = 0;
            }
            while (c->busy && c->sent_off < reqlen) {
                ssize_t w = send(c->fd, req + c->sent_off, reqlen - c->sent_off,
                                 MSG_NOSIGNAL);
                if (w <= 0)
                    break;
                c->sent_off += (size_t)w;
            }
        }
        if (idle)
            break;
        /* Sleep until the next request is due (to the microsecond: a
         * millisecond's rounding would show in the latencies) or an answer
         * comes. */
        double wait = next < total ? t0 + (double)next / rate - now_s() : 0.01;
        if (wait < 0)
            wait = 0;
        struct timespec ts = {(time_t)wait,
                              (long)((wait - (double)(time_t)wait) * 1e9)};
        struct epoll_event evs[256];
        int n = epoll_pwait2(ep, evs, 256, &ts, NULL);
        for (int k = 0; k < n; k++) {
            conn *c = &cs[evs[k].data.u32];
            for (;;) {
                ssize_t r =
                    recv(c->fd, c->in + c->inlen, sizeof c->in - c->inlen, 0);
                if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                    fprintf(stderr, "loadgen: a connection closed\n");
                    return 1;
                }
                if (r < 0)
                    break;
                c->inlen += (size_t)r;
                int status = 0;
                long used;
                while (c->busy &&
                       (used = response_len(c->in, c->inlen, &status)) != 0) {
                    if (used < 0) {
                        fprintf(stderr, "loadgen: an unreadable answer\n");
                        return 1;
                    }
                    double done = now_s();
                    if (status < 200 || status > 299)
                        errors++;
                    else if (c->due >= t0 + warm && nlat < cap)
                        lat[nlat++] = (done - c->due) * 1000.0;
                    memmove(c->in, c->in + used, c->inlen - (size_t)used);
                    c->inlen -= (size_t)used;
                    c->busy = false;
                }
            }
        }
    }
    for (int i = 0; i < nconn; i++) {
        late += cs[i].qlen + (cs[i].busy ? 1 : 0);
        close(cs[i].fd);
    }
    errors += late;
    qsort(lat, nlat, sizeof *lat, cmp_double);
#define PCT(p) (nlat ? lat[(size_t)((double)(nlat - 1) * (p))] : 0.0)
    printf("measured=%zu rate=%.0f/s p50=%.3f p90=%.3f p99=%.3f p999=%.3f "
           "max=%.3f errors=%lu late=%lu\n",
           nlat, (double)nlat / secs, PCT(0.50), PCT(0.90), PCT(0.99),
           PCT(0.999), nlat ? lat[nlat - 1] : 0.0, errors, late);
    free(lat);
    free(cs);
    free(req);
    return 0;
}
