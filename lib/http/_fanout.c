/* Node RPC fan-out in C: many HTTPS requests at once, outside the
 * interpreter lock.
 *
 * The C twin of the request loop of ganeti/http/client.py, reduced to
 * what node RPC needs: mutual TLS with the peer pinned to a set of
 * SHA-256 certificate fingerprints, kept-alive connections in a pool
 * shared by threads, one epoll loop per call, the same limits
 * (connect / call timeouts, head and answer sizes) and the same
 * one-line failures.  ganeti/http/fanout.py wraps it; see
 * doc/design/rpc.rst for why it exists (the master's CPU per node
 * answer) and how it is chosen.
 *
 * Engine(cert_file, ca_pem, pins, connect_timeout, max_idle_age,
 *        max_response)
 *   cert_file: key and certificate presented to the nodes;
 *   ca_pem:    the certificates a node may present (verified by OpenSSL:
 *              validity dates included);
 *   pins:      SHA-256 digests (32 bytes each) the node's certificate
 *              must have after the handshake (empty: no pin check).
 * Engine.request_many([(host, port, head, body, timeout), ...])
 *   -> [(status, body, seconds) | (kind, message, errno, seconds)]
 *   where kind is one of "unreachable", "tls", "timeout", "protocol".
 * Engine.close(), Engine.connections_opened.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEAD (64 * 1024)
#define MAX_PINS 8
#define HOST_MAX 256
#define FIRST_BUF (16 * 1024)
#define MSG_MAX 320
/* Idle connections kept per server (the Python client's default): more
 * are in use only while that many threads talk to one node at once. */
#define MAX_IDLE_PER_HOST 8

typedef struct conn {
    int fd;
    SSL *ssl;
    char host[HOST_MAX];
    int port;
    double since;
    struct conn *next;
} Conn;

typedef struct {
    PyObject_HEAD
    SSL_CTX *ctx;
    pthread_mutex_t lock;
    Conn *idle;
    unsigned char pins[MAX_PINS][32];
    int npins;
    double connect_timeout;
    double max_idle_age;
    long long max_response;
    long long opened;
    int closed;
} Engine;

enum { ST_CONNECT, ST_HANDSHAKE, ST_SEND, ST_RECV, ST_DONE };
enum { K_OK, K_UNREACHABLE, K_TLS, K_TIMEOUT, K_PROTOCOL };
static const char *KIND_NAMES[] = {"ok", "unreachable", "tls", "timeout",
                                   "protocol"};

typedef struct {
    char host[HOST_MAX];
    int port;
    const char *head;
    Py_ssize_t head_len;
    const char *body;
    Py_ssize_t body_len;
    double timeout;
    Conn *conn;
    int reused;     /* the connection came from the pool */
    int fresh_only; /* the retry after a failed reuse */
    int stage;
    int registered;  /* with this call's epoll (one-shot) */
    int armed;       /* registered and not fired since */
    unsigned events; /* what it waits for when armed */
    double started;
    double deadline;
    Py_ssize_t sent;
    char *buf;
    size_t have, cap;
    long long body_at; /* -1: no head yet */
    long long length;  /* -1: until the connection ends */
    int will_close;
    int status;
    int kind;
    int err;
    char msg[MSG_MAX];
    double seconds;
} Ex;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* --- the pool --------------------------------------------------------- */

static void conn_free(Conn *c) {
    if (c == NULL)
        return;
    if (c->ssl != NULL)
        SSL_free(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

/* An idle connection to host:port young enough to reuse (NULL: none);
 * connections past their age are closed on the way. */
static Conn *pool_take(Engine *e, const char *host, int port, double t) {
    Conn *found = NULL, **link;
    pthread_mutex_lock(&e->lock);
    link = &e->idle;
    while (*link != NULL) {
        Conn *c = *link;
        if (t - c->since > e->max_idle_age) {
            *link = c->next;
            conn_free(c);
            continue;
        }
        if (found == NULL && c->port == port && strcmp(c->host, host) == 0) {
            *link = c->next;
            found = c;
            continue;
        }
        link = &c->next;
    }
    pthread_mutex_unlock(&e->lock);
    if (found != NULL)
        found->next = NULL;
    return found;
}

static void pool_give(Engine *e, Conn *c, double t) {
    Conn *p;
    int same = 0;
    pthread_mutex_lock(&e->lock);
    for (p = e->idle; p != NULL && same < MAX_IDLE_PER_HOST; p = p->next)
        if (p->port == c->port && strcmp(p->host, c->host) == 0)
            same++;
    if (e->closed || same >= MAX_IDLE_PER_HOST) {
        pthread_mutex_unlock(&e->lock);
        conn_free(c);
        return;
    }
    c->since = t;
    c->next = e->idle;
    e->idle = c;
    pthread_mutex_unlock(&e->lock);
}

/* Every idle connection to host:port: a server that closed one (it
 * restarted) closed them all. */
static void pool_drop(Engine *e, const char *host, int port) {
    Conn **link;
    pthread_mutex_lock(&e->lock);
    link = &e->idle;
    while (*link != NULL) {
        Conn *c = *link;
        if (c->port == port && strcmp(c->host, host) == 0) {
            *link = c->next;
            conn_free(c);
        } else {
            link = &c->next;
        }
    }
    pthread_mutex_unlock(&e->lock);
}

/* Every idle connection closed; with closing, the pool is closed too
 * (connections given back later are closed at once). */
static void pool_clear(Engine *e, int closing) {
    Conn *c;
    pthread_mutex_lock(&e->lock);
    if (closing)
        e->closed = 1;
    c = e->idle;
    e->idle = NULL;
    pthread_mutex_unlock(&e->lock);
    while (c != NULL) {
        Conn *next = c->next;
        conn_free(c);
        c = next;
    }
}

/* --- one exchange ----------------------------------------------------- */

static void fail(Ex *x, int kind, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(Ex *x, int kind, int err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->msg, sizeof x->msg, fmt, ap);
    va_end(ap);
    x->kind = kind;
    x->err = err;
    x->stage = ST_DONE;
    x->seconds = now() - x->started;
    conn_free(x->conn); /* closing the socket unregisters it */
    x->conn = NULL;
}

static void fail_errno(Ex *x, int err) {
    fail(x, K_UNREACHABLE, err, "Error %d: %s", err, strerror(err));
}

/* Wait for events on x's socket.  Registrations are one-shot: a
 * connection whose answer is complete goes back to the pool disarmed, so
 * this call's epoll never wakes for it again (another thread may use it
 * meanwhile), and it costs no removal. */
static int want(Ex *x, int ep, unsigned events) {
    struct epoll_event ev;
    if (x->armed && x->events == events)
        return 0;
    ev.events = events | EPOLLONESHOT;
    ev.data.ptr = x;
    if (epoll_ctl(ep, x->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
                  x->conn->fd, &ev) != 0) {
        fail_errno(x, errno);
        return -1;
    }
    x->registered = x->armed = 1;
    x->events = events;
    return 0;
}

/* 1 when OpenSSL's err asks to wait for the socket (now registered for
 * that; a failed registration failed x), else 0. */
static int tls_wait(Ex *x, int ep, int err) {
    if (err == SSL_ERROR_WANT_READ) {
        want(x, ep, EPOLLIN);
        return 1;
    }
    if (err == SSL_ERROR_WANT_WRITE) {
        want(x, ep, EPOLLOUT);
        return 1;
    }
    return 0;
}

static void start(Engine *e, Ex *x, int ep, double t);

/* A kept-alive connection the server had closed (nothing of the answer
 * came): the request never reached it, so it goes again once, on a new
 * connection.  Anything else is the failure given. */
static int retry_on_reuse(Engine *e, Ex *x, int ep) {
    if (!x->reused || x->have != 0)
        return 0;
    conn_free(x->conn);
    x->conn = NULL;
    pool_drop(e, x->host, x->port);
    x->fresh_only = 1;
    start(e, x, ep, now());
    return 1;
}

static int retryable_errno(int err) {
    return err == ECONNRESET || err == EPIPE || err == ECONNABORTED;
}

/* The one-line text of a TLS failure (the queue of OpenSSL errors is
 * emptied). */
static void tls_failure(Ex *x, int ssl_err) {
    long verify = x->conn != NULL && x->conn->ssl != NULL
                      ? SSL_get_verify_result(x->conn->ssl)
                      : X509_V_OK;
    unsigned long code = ERR_get_error();
    int sys_err = errno;
    ERR_clear_error();
    if (verify != X509_V_OK) {
        fail(x, K_TLS, 0, "TLS error: certificate verify failed: %s",
             X509_verify_cert_error_string(verify));
    } else if (code != 0) {
        const char *reason = ERR_reason_error_string(code);
        fail(x, K_TLS, 0, "TLS error: %s", reason ? reason : "failure");
    } else if (ssl_err == SSL_ERROR_SYSCALL && sys_err != 0) {
        fail_errno(x, sys_err);
    } else {
        fail(x, K_TLS, 0, "TLS error: unexpected end of the connection");
    }
}

static int check_pin(Engine *e, Ex *x) {
    unsigned char digest[32];
    unsigned int len = 0;
    X509 *peer;
    int i;
    if (e->npins == 0)
        return 0;
    peer = SSL_get1_peer_certificate(x->conn->ssl);
    if (peer == NULL) {
        fail(x, K_TLS, 0,
             "TLS error: peer certificate is not the cluster certificate "
             "(sha256 none)");
        return -1;
    }
    X509_digest(peer, EVP_sha256(), digest, &len);
    X509_free(peer);
    for (i = 0; i < e->npins; i++)
        if (len == 32 && memcmp(digest, e->pins[i], 32) == 0)
            return 0;
    fail(x, K_TLS, 0,
         "TLS error: peer certificate is not the cluster certificate "
         "(sha256 %02x%02x%02x%02x%02x%02x%02x%02x...)",
         digest[0], digest[1], digest[2], digest[3], digest[4], digest[5],
         digest[6], digest[7]);
    return -1;
}

static void start(Engine *e, Ex *x, int ep, double t) {
    struct addrinfo hints, *res = NULL;
    char port[16];
    int fd, rc, one = 1;
    Conn *c = x->fresh_only ? NULL : pool_take(e, x->host, x->port, t);
    x->registered = x->armed = 0;
    if (c != NULL) {
        x->conn = c;
        x->reused = 1;
        x->stage = ST_SEND;
        x->deadline = t + x->timeout;
        return; /* the caller steps it: sending needs no wait */
    }
    x->reused = 0;
    __atomic_add_fetch(&e->opened, 1, __ATOMIC_RELAXED);
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST;
    snprintf(port, sizeof port, "%d", x->port);
    rc = getaddrinfo(x->host, port, &hints, &res);
    if (rc == EAI_NONAME) {
        hints.ai_flags = 0;
        rc = getaddrinfo(x->host, port, &hints, &res);
    }
    if (rc != 0) {
        fail(x, K_UNREACHABLE, 0, "Cannot resolve %s: %s", x->host,
             gai_strerror(rc));
        return;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                0);
    if (fd < 0) {
        freeaddrinfo(res);
        fail_errno(x, errno);
        return;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        close(fd);
        freeaddrinfo(res);
        fail(x, K_UNREACHABLE, ENOMEM, "Error %d: %s", ENOMEM,
             strerror(ENOMEM));
        return;
    }
    c->fd = fd;
    c->port = x->port;
    snprintf(c->host, sizeof c->host, "%s", x->host);
    x->conn = c;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc != 0 && errno != EINPROGRESS) {
        fail_errno(x, errno);
        return;
    }
    x->stage = ST_CONNECT;
    x->deadline = t + (e->connect_timeout < x->timeout ? e->connect_timeout
                                                       : x->timeout);
    want(x, ep, EPOLLOUT);
}

/* 0: the head is not complete yet; 1: parsed; -1: failed. */
static int parse_head(Engine *e, Ex *x) {
    char *buf = x->buf, *end, *line, *eol;
    long long length = -1;
    int close_conn = 0, keep_alive = 0, http10;
    end = memmem(buf, x->have, "\r\n\r\n", 4);
    if (end == NULL) {
        if (x->have > MAX_HEAD) {
            fail(x, K_PROTOCOL, 0, "Answer headers longer than %d bytes",
                 MAX_HEAD);
            return -1;
        }
        return 0;
    }
    eol = memmem(buf, (size_t)(end - buf) + 2, "\r\n", 2);
    if ((size_t)(eol - buf) < 12 || memcmp(buf, "HTTP/1.", 7) != 0 ||
        buf[8] != ' ' || buf[9] < '0' || buf[9] > '9' || buf[10] < '0' ||
        buf[10] > '9' || buf[11] < '0' || buf[11] > '9' ||
        ((size_t)(eol - buf) > 12 && buf[12] != ' ')) {
        int n = (int)(eol - buf) < 100 ? (int)(eol - buf) : 100;
        fail(x, K_PROTOCOL, 0, "Invalid HTTP answer: %.*s", n, buf);
        return -1;
    }
    http10 = buf[7] == '0';
    x->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    for (line = eol + 2; line < end + 2; line = eol + 2) {
        char *colon, *value, *vend;
        size_t name_len;
        eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
        colon = memchr(line, ':', (size_t)(eol - line));
        if (colon == NULL) {
            int n = (int)(eol - line) < 40 ? (int)(eol - line) : 40;
            fail(x, K_PROTOCOL, 0,
                 "Invalid HTTP answer: invalid header line '%.*s'", n, line);
            return -1;
        }
        name_len = (size_t)(colon - line);
        while (name_len > 0 && (line[name_len - 1] == ' ' ||
                                line[name_len - 1] == '\t'))
            name_len--;
        value = colon + 1;
        vend = eol;
        while (value < vend && (*value == ' ' || *value == '\t'))
            value++;
        while (vend > value && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        if (name_len == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
            char *p;
            if (value == vend || vend - value > 18) {
                fail(x, K_PROTOCOL, 0,
                     "Invalid HTTP answer: invalid Content-Length '%.*s'",
                     (int)(vend - value < 20 ? vend - value : 20), value);
                return -1;
            }
            length = 0;
            for (p = value; p < vend; p++) {
                if (*p < '0' || *p > '9') {
                    fail(x, K_PROTOCOL, 0,
                         "Invalid HTTP answer: invalid Content-Length "
                         "'%.*s'",
                         (int)(vend - value < 20 ? vend - value : 20),
                         value);
                    return -1;
                }
                length = length * 10 + (*p - '0');
            }
        } else if (name_len == 10 &&
                   strncasecmp(line, "Connection", 10) == 0) {
            close_conn = vend - value == 5 &&
                         strncasecmp(value, "close", 5) == 0;
            keep_alive = vend - value == 10 &&
                         strncasecmp(value, "keep-alive", 10) == 0;
        } else if (name_len == 17 &&
                   strncasecmp(line, "Transfer-Encoding", 17) == 0) {
            char *p;
            for (p = value; p + 7 <= vend; p++)
                if (strncasecmp(p, "chunked", 7) == 0) {
                    fail(x, K_PROTOCOL, 0,
                         "Chunked answers are not supported");
                    return -1;
                }
        }
    }
    x->will_close = close_conn || (http10 && !keep_alive);
    if (x->status == 204 || x->status == 304 ||
        (x->status >= 100 && x->status < 200)) {
        length = 0;
    } else if (length > e->max_response) {
        fail(x, K_PROTOCOL, 0,
             "Answer of %lld bytes exceeds the limit of %lld bytes", length,
             e->max_response);
        return -1;
    } else if (length < 0) {
        x->will_close = 1;
    }
    x->length = length;
    x->body_at = end + 4 - buf;
    return 1;
}

/* Room for need bytes: doubling while the size is unknown, exactly
 * need once the head gave it. */
static int grow(Ex *x, size_t need, int exact) {
    size_t cap = x->cap ? x->cap : FIRST_BUF;
    char *buf;
    if (exact && need > cap)
        cap = need;
    while (cap < need)
        cap *= 2;
    if (cap == x->cap)
        return 0;
    buf = realloc(x->buf, cap);
    if (buf == NULL) {
        fail(x, K_PROTOCOL, ENOMEM, "Answer too large for memory");
        return -1;
    }
    x->buf = buf;
    x->cap = cap;
    return 0;
}

static void finished(Engine *e, Ex *x, double t) {
    size_t end = x->length < 0 ? x->have : (size_t)(x->body_at + x->length);
    /* Bytes beyond the answer, here or still in OpenSSL: out of step. */
    if (end != x->have || SSL_has_pending(x->conn->ssl))
        x->will_close = 1;
    x->have = end;
    x->kind = K_OK;
    x->stage = ST_DONE;
    x->seconds = t - x->started;
    if (x->will_close)
        conn_free(x->conn);
    else
        pool_give(e, x->conn, t);
    x->conn = NULL;
}

static void receive(Engine *e, Ex *x, int ep) {
    int eof = 0;
    for (;;) {
        int got, err;
        size_t room;
        if (x->length >= 0 && x->body_at >= 0) {
            size_t need = (size_t)(x->body_at + x->length);
            if (x->have >= need)
                break;
            if (grow(x, need, 1) < 0)
                return;
        } else if (x->have == x->cap && grow(x, x->cap + 1, 0) < 0) {
            return;
        }
        room = x->cap - x->have;
        ERR_clear_error();
        errno = 0;
        got = SSL_read(x->conn->ssl, x->buf + x->have,
                       room > INT_MAX ? INT_MAX : (int)room);
        if (got <= 0) {
            err = SSL_get_error(x->conn->ssl, got);
            if (tls_wait(x, ep, err)) {
                if (x->stage == ST_DONE) /* the registration failed */
                    return;
                break;
            }
            if (err == SSL_ERROR_ZERO_RETURN ||
                (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 &&
                 errno == 0) ||
                (err == SSL_ERROR_SSL &&
                 ERR_GET_REASON(ERR_peek_error()) ==
                     SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
                ERR_clear_error();
                eof = 1;
                break;
            }
            if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
                int sys_err = errno;
                if (retryable_errno(sys_err) && retry_on_reuse(e, x, ep))
                    return;
                fail_errno(x, sys_err);
                return;
            }
            tls_failure(x, err);
            return;
        }
        x->have += (size_t)got;
        if (x->body_at < 0) {
            int rc = parse_head(e, x);
            if (rc < 0)
                return;
        }
        if (x->body_at >= 0 && x->length < 0 &&
            (long long)x->have - x->body_at > e->max_response) {
            fail(x, K_PROTOCOL, 0, "Answer exceeds the limit of %lld bytes",
                 e->max_response);
            return;
        }
    }
    x->deadline = now() + x->timeout;
    if (x->body_at >= 0 &&
        ((x->length >= 0 && x->have >= (size_t)(x->body_at + x->length)) ||
         (eof && x->length < 0))) {
        finished(e, x, now());
        return;
    }
    if (eof) {
        if (x->have == 0) {
            if (retry_on_reuse(e, x, ep))
                return;
            fail(x, K_UNREACHABLE, 0,
                 "Connection closed by the server before it answered");
        } else {
            fail(x, K_PROTOCOL, 0, "Answer cut short by the server");
        }
    }
}

/* Advance x as far as its socket allows. */
static void step(Engine *e, Ex *x, int ep) {
    if (x->stage == ST_CONNECT) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(x->conn->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err != 0) {
            fail_errno(x, err);
            return;
        }
        x->conn->ssl = SSL_new(e->ctx);
        if (x->conn->ssl == NULL || !SSL_set_fd(x->conn->ssl, x->conn->fd)) {
            tls_failure(x, SSL_ERROR_SSL);
            return;
        }
        x->stage = ST_HANDSHAKE;
    }
    if (x->stage == ST_HANDSHAKE) {
        int rc, err;
        ERR_clear_error();
        errno = 0;
        rc = SSL_connect(x->conn->ssl);
        if (rc != 1) {
            err = SSL_get_error(x->conn->ssl, rc);
            if (!tls_wait(x, ep, err))
                tls_failure(x, err);
            return;
        }
        if (check_pin(e, x) < 0)
            return;
        x->stage = ST_SEND;
        x->sent = 0;
        x->deadline = now() + x->timeout;
    }
    if (x->stage == ST_SEND) {
        Py_ssize_t total = x->head_len + x->body_len;
        while (x->sent < total) {
            const char *from;
            Py_ssize_t left;
            int rc, err;
            if (x->sent < x->head_len) {
                from = x->head + x->sent;
                left = x->head_len - x->sent;
            } else {
                from = x->body + (x->sent - x->head_len);
                left = total - x->sent;
            }
            ERR_clear_error();
            errno = 0;
            rc = SSL_write(x->conn->ssl, from,
                           left > INT_MAX ? INT_MAX : (int)left);
            if (rc <= 0) {
                err = SSL_get_error(x->conn->ssl, rc);
                x->deadline = now() + x->timeout;
                if (tls_wait(x, ep, err))
                    return;
                if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 &&
                    (retryable_errno(errno) || errno == 0) &&
                    retry_on_reuse(e, x, ep))
                    return;
                if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 &&
                    errno != 0) {
                    fail_errno(x, errno);
                    return;
                }
                tls_failure(x, err);
                return;
            }
            x->sent += rc;
        }
        x->stage = ST_RECV;
        x->deadline = now() + x->timeout;
        x->have = 0;
        x->body_at = -1;
        x->length = -1;
        /* No read before the node could answer: it would only say
         * "not yet" and cost a system call per answer. */
        want(x, ep, EPOLLIN);
        return;
    }
    receive(e, x, ep);
}

static void timed_out(Engine *e, Ex *x) {
    if (x->stage == ST_CONNECT || x->stage == ST_HANDSHAKE) {
        double limit = e->connect_timeout < x->timeout ? e->connect_timeout
                                                       : x->timeout;
        fail(x, K_TIMEOUT, 0, "Timeout after %gs connecting (%s limit)",
             limit, limit < x->timeout ? "connect" : "call");
    } else {
        fail(x, K_TIMEOUT, 0, "Timeout after %gs %s (call limit)",
             x->timeout,
             x->stage == ST_SEND ? "sending the request"
                                 : "waiting for the answer");
    }
}

/* The whole loop, without the interpreter lock. */
static void run(Engine *e, Ex *xs, Py_ssize_t n) {
    Py_ssize_t i, active = n;
    struct epoll_event *evs;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        int err = errno;
        for (i = 0; i < n; i++)
            fail_errno(&xs[i], err);
        return;
    }
    if (n <= 0) {
        close(ep);
        return;
    }
    evs = calloc(n < 256 ? (size_t)n : 256, sizeof *evs);
    if (evs == NULL) {
        for (i = 0; i < n; i++)
            fail_errno(&xs[i], ENOMEM);
        close(ep);
        return;
    }
    for (i = 0; i < n; i++) {
        Ex *x = &xs[i];
        if (x->stage == ST_DONE) /* refused before the loop */
            continue;
        start(e, x, ep, now());
        if (x->stage == ST_SEND)
            step(e, x, ep);
    }
    while (active > 0) {
        double t = now(), soonest = 0;
        int k, j, wait_ms;
        active = 0;
        for (i = 0; i < n; i++) {
            Ex *x = &xs[i];
            if (x->stage == ST_DONE)
                continue;
            if (x->deadline <= t)
                timed_out(e, x);
            else if (active++ == 0 || x->deadline < soonest)
                soonest = x->deadline;
        }
        if (active == 0)
            break;
        /* At most a minute per wait: deadlines far away (or infinite)
         * do not overflow the milliseconds. */
        wait_ms = soonest - t > 60.0 ? 60000
                                     : (int)((soonest - t) * 1000.0) + 1;
        k = epoll_wait(ep, evs, n < 256 ? (int)n : 256, wait_ms);
        if (k < 0 && errno != EINTR) {
            int err = errno;
            for (i = 0; i < n; i++)
                if (xs[i].stage != ST_DONE)
                    fail_errno(&xs[i], err);
            break;
        }
        for (j = 0; j < k; j++) {
            Ex *x = evs[j].data.ptr;
            x->armed = 0; /* one-shot: fired */
            if (x->stage != ST_DONE)
                step(e, x, ep);
        }
    }
    free(evs);
    close(ep);
}

/* --- Python ----------------------------------------------------------- */

static PyObject *Engine_request_many(Engine *self, PyObject *args) {
    PyObject *reqs, *seq, *out = NULL;
    Py_ssize_t n, i;
    Ex *xs;
    double started = now();
    if (!PyArg_ParseTuple(args, "O:request_many", &reqs))
        return NULL;
    if (self->ctx == NULL) {
        PyErr_SetString(PyExc_ValueError, "engine is closed");
        return NULL;
    }
    /* A tuple of its own: nothing another thread does to the caller's
     * list while the lock is released can free the bytes read. */
    seq = PySequence_Tuple(reqs);
    if (seq == NULL)
        return NULL;
    n = PyTuple_GET_SIZE(seq);
    xs = calloc(n > 0 ? (size_t)n : 1, sizeof *xs);
    if (xs == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (i = 0; i < n; i++) {
        Ex *x = &xs[i];
        const char *host;
        Py_ssize_t host_len;
        PyObject *item = PyTuple_GET_ITEM(seq, i), *head, *body;
        if (!PyArg_ParseTuple(item, "s#iSSd", &host, &host_len, &x->port,
                              &head, &body, &x->timeout))
            goto done;
        if (host_len >= HOST_MAX || strlen(host) != (size_t)host_len ||
            x->port <= 0 || x->port > 65535 || !(x->timeout > 0)) {
            PyErr_Format(PyExc_ValueError,
                         "bad request %zd: host, port or timeout", i);
            goto done;
        }
        memcpy(x->host, host, (size_t)host_len);
        /* The bytes objects live in the tuples held by seq. */
        x->head = PyBytes_AS_STRING(head);
        x->head_len = PyBytes_GET_SIZE(head);
        x->body = PyBytes_AS_STRING(body);
        x->body_len = PyBytes_GET_SIZE(body);
        x->body_at = -1;
        x->length = -1;
        x->stage = ST_CONNECT;
        x->started = started;
    }
    Py_BEGIN_ALLOW_THREADS
    run(self, xs, n);
    Py_END_ALLOW_THREADS
    out = PyList_New(n);
    if (out == NULL)
        goto done;
    for (i = 0; i < n; i++) {
        Ex *x = &xs[i];
        PyObject *res;
        if (x->kind == K_OK)
            res = Py_BuildValue("(iy#d)", x->status, x->buf + x->body_at,
                                (Py_ssize_t)(x->have - (size_t)x->body_at),
                                x->seconds);
        else
            res = Py_BuildValue("(ssid)", KIND_NAMES[x->kind], x->msg,
                                x->err, x->seconds);
        if (res == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, i, res);
    }
done:
    for (i = 0; i < n; i++) {
        conn_free(xs[i].conn);
        free(xs[i].buf);
    }
    free(xs);
    Py_DECREF(seq);
    return out;
}

static PyObject *Engine_close(Engine *self, PyObject *unused) {
    (void)unused;
    pool_clear(self, 1);
    Py_RETURN_NONE;
}

static PyObject *Engine_drop_idle(Engine *self, PyObject *unused) {
    (void)unused;
    pool_clear(self, 0);
    Py_RETURN_NONE;
}

static PyObject *Engine_opened(Engine *self, void *unused) {
    (void)unused;
    return PyLong_FromLongLong(
        __atomic_load_n(&self->opened, __ATOMIC_RELAXED));
}

static int load_ca(SSL_CTX *ctx, const char *pem, Py_ssize_t len) {
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    X509 *cert;
    int count = 0;
    if (bio == NULL)
        return -1;
    while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        X509_STORE_add_cert(store, cert);
        X509_free(cert);
        count++;
    }
    ERR_clear_error(); /* the end of the data */
    BIO_free(bio);
    return count > 0 ? 0 : -1;
}

static int Engine_init(Engine *self, PyObject *args, PyObject *kw) {
    static char *names[] = {"cert_file",    "ca_pem",       "pins",
                            "connect_timeout", "max_idle_age", "max_response",
                            NULL};
    const char *cert_file, *ca_pem;
    Py_ssize_t ca_len, i;
    PyObject *pins;
    if (self->ctx != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "engine already initialised");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sy#OddL:Engine", names,
                                     &cert_file, &ca_pem, &ca_len, &pins,
                                     &self->connect_timeout,
                                     &self->max_idle_age,
                                     &self->max_response))
        return -1;
    pins = PySequence_Fast(pins, "pins must be a sequence");
    if (pins == NULL)
        return -1;
    if (PySequence_Fast_GET_SIZE(pins) > MAX_PINS) {
        Py_DECREF(pins);
        PyErr_Format(PyExc_ValueError, "at most %d pins", MAX_PINS);
        return -1;
    }
    for (i = 0; i < PySequence_Fast_GET_SIZE(pins); i++) {
        PyObject *pin = PySequence_Fast_GET_ITEM(pins, i);
        if (!PyBytes_Check(pin) || PyBytes_GET_SIZE(pin) != 32) {
            Py_DECREF(pins);
            PyErr_SetString(PyExc_ValueError,
                            "a pin is a SHA-256 digest of 32 bytes");
            return -1;
        }
        memcpy(self->pins[i], PyBytes_AS_STRING(pin), 32);
    }
    self->npins = (int)PySequence_Fast_GET_SIZE(pins);
    Py_DECREF(pins);
    self->ctx = SSL_CTX_new(TLS_client_method());
    if (self->ctx == NULL)
        goto tls_error;
    SSL_CTX_set_min_proto_version(self->ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(self->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Whole records in one read where the kernel has them. */
    SSL_CTX_set_read_ahead(self->ctx, 1);
    SSL_CTX_set_default_read_buffer_len(self->ctx, 64 * 1024);
    if (SSL_CTX_use_certificate_chain_file(self->ctx, cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(self->ctx, cert_file, SSL_FILETYPE_PEM) !=
            1 ||
        SSL_CTX_check_private_key(self->ctx) != 1)
        goto tls_error;
    if (load_ca(self->ctx, ca_pem, ca_len) < 0) {
        PyErr_SetString(PyExc_ValueError, "ca_pem holds no certificate");
        goto fail;
    }
    SSL_CTX_set_verify(self->ctx, SSL_VERIFY_PEER, NULL);
    if (pthread_mutex_init(&self->lock, NULL) != 0) {
        PyErr_SetString(PyExc_OSError, "cannot create the pool lock");
        goto fail;
    }
    return 0;
tls_error: {
        unsigned long code = ERR_get_error();
        const char *reason = code ? ERR_reason_error_string(code) : NULL;
        ERR_clear_error();
        PyErr_Format(PyExc_ValueError, "Cannot load certificate file %s: %s",
                     cert_file, reason ? reason : "TLS setup failed");
    }
fail:
    if (self->ctx != NULL)
        SSL_CTX_free(self->ctx);
    self->ctx = NULL;
    return -1;
}

static void Engine_dealloc(Engine *self) {
    if (self->ctx != NULL) {
        pool_clear(self, 1);
        SSL_CTX_free(self->ctx);
        pthread_mutex_destroy(&self->lock);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Engine_methods[] = {
    {"request_many", (PyCFunction)Engine_request_many, METH_VARARGS,
     "Send every request at once; one result tuple per request."},
    {"close", (PyCFunction)Engine_close, METH_NOARGS,
     "Close the idle connections; later answers are not kept."},
    {"drop_idle", (PyCFunction)Engine_drop_idle, METH_NOARGS,
     "Close the idle connections; the pool stays in use."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Engine_getset[] = {
    {"connections_opened", (getter)Engine_opened, NULL,
     "Connections opened so far.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject EngineType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ganeti.http._fanout.Engine",
    .tp_basicsize = sizeof(Engine),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "HTTPS fan-out with pinned mutual TLS and a keep-alive pool.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Engine_init,
    .tp_dealloc = (destructor)Engine_dealloc,
    .tp_methods = Engine_methods,
    .tp_getset = Engine_getset,
};

static struct PyModuleDef fanout_module = {
    PyModuleDef_HEAD_INIT, "_fanout",
    "Node RPC fan-out outside the interpreter lock (see fanout.py).", -1,
    NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fanout(void) {
    PyObject *m;
    if (PyType_Ready(&EngineType) < 0)
        return NULL;
    m = PyModule_Create(&fanout_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&EngineType);
    if (PyModule_AddObject(m, "Engine", (PyObject *)&EngineType) < 0) {
        Py_DECREF(&EngineType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
