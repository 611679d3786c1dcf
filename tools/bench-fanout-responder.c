/* The node side of tools/bench-fanout: COUNT TLS endpoints that answer
 * every node RPC request with one fixed answer DELAY_US microseconds
 * after it arrived, from one thread.
 *
 * It stands in, for that benchmark only, for nodes that each have CPUs
 * of their own and a network between them and the master: the answer
 * costs the responder a few microseconds of CPU (decrypt, encrypt), the
 * delay is the single-node latency, and the fan-out's time is then the
 * master's.  It is not a node daemon and answers nothing else.
 *
 * Usage: bench-fanout-responder CERT PREFIX COUNT PORT DELAY_US BODY
 *   CERT: key and certificate (PEM), presented and required of clients
 *   PREFIX: listens on PREFIX1 .. PREFIX<COUNT> (e.g. 127.201.0.)
 * Prints "ready" once listening; ends at SIGTERM or when stdin closes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_LISTEN 250
#define MAX_CONN 4096

struct conn {
    int fd;
    SSL *ssl;
    int handshaken;
    char buf[16384];
    size_t have;
    double due; /* 0: no answer pending */
};

static struct conn *conns[MAX_CONN];
static const char *answer;
static int answer_len;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void drop(int fd) {
    struct conn *c = conns[fd];
    if (c == NULL)
        return;
    SSL_free(c->ssl);
    close(fd);
    free(c);
    conns[fd] = NULL;
}

/* A whole request (head and Content-Length body) is in the buffer:
 * its length, else 0. */
static size_t request_length(struct conn *c) {
    char *end = memmem(c->buf, c->have, "\r\n\r\n", 4), *len;
    size_t head, body = 0;
    if (end == NULL)
        return 0;
    head = (size_t)(end - c->buf) + 4;
    len = memmem(c->buf, head, "Content-Length:", 15);
    if (len != NULL)
        body = strtoul(len + 15, NULL, 10);
    return head + body <= c->have ? head + body : 0;
}

static void readable(struct conn *c, double delay) {
    for (;;) {
        int got;
        if (!c->handshaken) {
            int rc = SSL_accept(c->ssl);
            if (rc != 1) {
                int err = SSL_get_error(c->ssl, rc);
                if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
                    drop(c->fd);
                ERR_clear_error();
                return;
            }
            c->handshaken = 1;
        }
        if (c->have == sizeof c->buf) {
            drop(c->fd);
            return;
        }
        got = SSL_read(c->ssl, c->buf + c->have, (int)(sizeof c->buf - c->have));
        if (got <= 0) {
            if (SSL_get_error(c->ssl, got) != SSL_ERROR_WANT_READ)
                drop(c->fd);
            ERR_clear_error();
            return;
        }
        c->have += (size_t)got;
        size_t used = request_length(c);
        if (used > 0) {
            memmove(c->buf, c->buf + used, c->have - used);
            c->have -= used;
            c->due = now() + delay;
        }
    }
}

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv) {
    SSL_CTX *ctx;
    int ep, count, port, i;
    double delay;
    struct epoll_event evs[256], ev;
    if (argc != 7) {
        fprintf(stderr, "usage: bench-fanout-responder CERT PREFIX COUNT "
                        "PORT DELAY_US BODY\n");
        return 2;
    }
    count = atoi(argv[3]);
    port = atoi(argv[4]);
    delay = atof(argv[5]) / 1e6;
    if (count < 1 || count > MAX_LISTEN || port < 1 || port > 65535 ||
        delay < 0) {
        fprintf(stderr, "bench-fanout-responder: bad COUNT, PORT or DELAY\n");
        return 2;
    }
    static char buf[4096];
    answer_len = snprintf(buf, sizeof buf,
                          "HTTP/1.1 200 OK\r\nContent-Type: application/json"
                          "\r\nContent-Length: %zu\r\n\r\n%s",
                          strlen(argv[6]), argv[6]);
    answer = buf;
    prctl(PR_SET_TIMERSLACK, 1UL); /* wake when asked, not up to 50 us later */
    signal(SIGTERM, on_term);
    signal(SIGPIPE, SIG_IGN);
    ctx = SSL_CTX_new(TLS_server_method());
    if (SSL_CTX_use_certificate_chain_file(ctx, argv[1]) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, argv[1], SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(ctx, argv[1], NULL) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       NULL);
    ep = epoll_create1(0);
    ev.events = EPOLLIN;
    ev.data.fd = 0;
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev); /* stdin: its end is ours */
    for (i = 1; i <= count; i++) {
        char host[64];
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        snprintf(host, sizeof host, "%s%d", argv[2], i);
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
            bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
            listen(fd, 128) != 0) {
            fprintf(stderr, "bench-fanout-responder: %s:%d: %s\n", host, port,
                    strerror(errno));
            return 1;
        }
        ev.events = EPOLLIN;
        ev.data.fd = fd | (1 << 30); /* a listener */
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    printf("ready\n");
    fflush(stdout);
    while (!stop) {
        double t = now(), soonest = 0;
        struct timespec wait;
        int k, j, fd;
        for (fd = 0; fd < MAX_CONN; fd++) {
            struct conn *c = conns[fd];
            if (c == NULL || c->due == 0)
                continue;
            if (c->due <= t) {
                c->due = 0;
                if (SSL_write(c->ssl, answer, answer_len) != answer_len) {
                    drop(fd);
                    ERR_clear_error();
                }
            } else if (soonest == 0 || c->due < soonest) {
                soonest = c->due;
            }
        }
        if (soonest != 0 && soonest - t < 0.002) {
            /* An answer due within 2 ms: poll without sleeping, so that
             * it leaves on time (waking a sleeping CPU of a virtual
             * machine takes tens to hundreds of microseconds). */
            wait.tv_sec = 0;
            wait.tv_nsec = 0;
        } else if (soonest != 0) {
            double left = soonest - t - 0.001;
            wait.tv_sec = (time_t)left;
            wait.tv_nsec = (long)((left - (double)wait.tv_sec) * 1e9);
        } else {
            wait.tv_sec = 1;
            wait.tv_nsec = 0;
        }
        /* Nanosecond timeouts: the delay is kept to the microsecond. */
        k = epoll_pwait2(ep, evs, 256, &wait, NULL);
        for (j = 0; j < k; j++) {
            int tag = evs[j].data.fd;
            if (tag == 0) {
                char drain[64];
                if (read(0, drain, sizeof drain) <= 0)
                    stop = 1;
                continue;
            }
            if (tag & (1 << 30)) {
                int cfd, one = 1;
                while ((cfd = accept4(tag & ~(1 << 30), NULL, NULL,
                                      SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    struct conn *c;
                    if (cfd >= MAX_CONN) {
                        close(cfd);
                        continue;
                    }
                    c = calloc(1, sizeof *c);
                    c->fd = cfd;
                    c->ssl = SSL_new(ctx);
                    SSL_set_fd(c->ssl, cfd);
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conns[cfd] = c;
                    ev.events = EPOLLIN;
                    ev.data.fd = cfd;
                    epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
                    readable(c, delay);
                }
                continue;
            }
            if (conns[tag] != NULL)
                readable(conns[tag], delay);
        }
    }
    return 0;
}
