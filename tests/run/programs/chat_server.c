/* A careful chat server in C, for socklab check: one poll() loop, SO_REUSEADDR, newline
 * framing per client, close on recv() == 0 or "/quit", MSG_NOSIGNAL on every send.
 * Usage: chat_server PORT */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CLIENTS 64
#define LINE_MAX_LEN 4096

struct client {
    int fd;
    size_t used;
    char buf[LINE_MAX_LEN];
};

static struct client clients[MAX_CLIENTS];

static void drop(struct client *c) {
    close(c->fd);
    c->fd = -1;
    c->used = 0;
}

static void broadcast(const char *line, size_t len) {
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (clients[i].fd >= 0 && send(clients[i].fd, line, len, MSG_NOSIGNAL) < 0)
            drop(&clients[i]); /* EPIPE / ECONNRESET: that client is gone */
}

/* Handle the complete lines in c->buf; returns 0 when the client asked to quit. */
static int lines(struct client *c) {
    char *nl;
    while ((nl = memchr(c->buf, '\n', c->used)) != NULL) {
        size_t len = (size_t)(nl - c->buf) + 1;
        if (len == 6 && memcmp(c->buf, "/quit\n", 6) == 0) return 0;
        broadcast(c->buf, len);
        memmove(c->buf, c->buf + len, c->used - len);
        c->used -= len;
    }
    if (c->used == sizeof c->buf) c->used = 0; /* an overlong line: dropped */
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: chat_server PORT\n");
        return 2;
    }
    int srv = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(srv, (struct sockaddr *)&a, sizeof a) != 0 || listen(srv, 16) != 0) {
        perror("bind/listen");
        return 1;
    }
    for (int i = 0; i < MAX_CLIENTS; i++) clients[i].fd = -1;
    for (;;) {
        struct pollfd p[MAX_CLIENTS + 1];
        p[0] = (struct pollfd){.fd = srv, .events = POLLIN};
        for (int i = 0; i < MAX_CLIENTS; i++) p[i + 1] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
        if (poll(p, MAX_CLIENTS + 1, -1) < 0) continue;
        if (p[0].revents & POLLIN) {
            int fd = accept(srv, NULL, NULL);
            int placed = 0;
            for (int i = 0; fd >= 0 && i < MAX_CLIENTS && !placed; i++)
                if (clients[i].fd < 0) {
                    clients[i].fd = fd;
                    placed = 1;
                }
            if (fd >= 0 && !placed) close(fd); /* full: refused cleanly */
        }
        for (int i = 0; i < MAX_CLIENTS; i++) {
            struct client *c = &clients[i];
            if (c->fd < 0 || p[i + 1].fd != c->fd || !(p[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = recv(c->fd, c->buf + c->used, sizeof c->buf - c->used, 0);
            if (n <= 0) { /* 0: the peer closed (end of stream); < 0: reset */
                drop(c);
                continue;
            }
            c->used += (size_t)n;
            if (!lines(c)) drop(c);
        }
    }
}
