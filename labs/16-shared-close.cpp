// Lab 16 — close() vs shutdown() on a shared socket: a socket is closed when its last
// descriptor is, so close() sends no FIN while a forked child (or a dup) still holds one;
// shutdown() acts on the socket itself and sends the FIN at once.
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include <fmt/format.h>

#include "labkit.hpp"
#include "socklab/i18n.hpp"

using namespace socklab;
using namespace socklab::lab;

namespace {
// recv() with MSG_DONTWAIT: what is there now (EAGAIN when nothing, 0 at end of stream).
Result recv_dontwait(int fd) {
    char buf[64];
    return Result::of(::recv(fd, buf, sizeof buf, MSG_DONTWAIT));
}

// recv() once something arrived (bounded wait): data, 0 at end of stream, or an error.
Result recv_wait(int fd) {
    pollfd p{fd, POLLIN, 0};
    (void)::poll(&p, 1, 3000);
    char buf[64];
    const auto n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    return Result::of(n, n == 0 ? _("(end of stream: the peer sent FIN)") : "");
}

// The forked child: holds its copy of the accepted socket until the parent writes to (or
// closes) the pipe. Only async-signal-safe calls after fork().
[[noreturn]] void child_holds(int pipe_rd) {
    char c;
    while (::read(pipe_rd, &c, 1) < 0 && errno == EINTR) {
    }
    ::_exit(0);
}
}  // namespace

int main(int argc, char** argv) {
    Lab runner("shared-close", argc, argv);
    return runner.run(13, [](Lab& lab) {
        const auto port = lab.port();
        Connection c = connect_pair(lab);
        const auto cport = c.client_port;
        const int cfd = c.client.get(), sfd = c.server.get();
        UniqueFd pipe_wr;
        pid_t child = -1;

        // ---- fork: two processes, one socket ----
        lab.step({.title = _("fork(): the child gets a copy of every descriptor"),
                  .call = "fork()",
                  .explain = _("The classic forking server: the child inherits the accepted "
                               "socket (and everything else open). There are now two "
                               "descriptors, in two processes, for one socket. The child "
                               "closes what it does not need and waits."),
                  .expect = {{.local_port = port, .remote_port = cport, .state = "ESTABLISHED"}},
                  .verify = [&](const Result& r) {
                      return r.value > 0 ? std::string() : std::string(_("fork() failed"));
                  }},
                 [&] {
                     int fds[2];
                     if (::pipe2(fds, O_CLOEXEC) != 0) return Result::of(-1);
                     UniqueFd rd(fds[0]);
                     pipe_wr.reset(fds[1]);
                     child = ::fork();
                     if (child == 0) {
                         // The child keeps only its copy of the accepted socket and the pipe.
                         ::close(fds[1]);
                         ::close(c.listener.get());
                         ::close(cfd);
                         child_holds(fds[0]);
                     }
                     return Result::of(child, i18n::format(_("child pid {}"), child));
                 });

        lab.step({.title = _("The parent closes its copy of the accepted socket"),
                  .call = fmt::format("close({})", sfd),
                  .explain = _("close() removes a descriptor; the socket is closed only when its "
                               "last descriptor goes (close(2)). The child still holds one, so "
                               "no FIN was sent: both ends are still ESTABLISHED."),
                  .expect = {{.local_port = port, .remote_port = cport, .state = "ESTABLISHED"},
                             {.local_port = cport, .remote_port = port, .state = "ESTABLISHED"}}},
                 [&] { return Result::of(::close(c.server.release())); });

        lab.step({.title = _("The client reads: nothing, not end of stream"),
                  .call = fmt::format("recv({}, buf, 64, MSG_DONTWAIT)", cfd),
                  .explain = _("EAGAIN, not 0: the client has no idea the parent is done. A "
                               "forking server whose child (or parent) forgets to close its "
                               "copy leaves clients waiting for an end that never comes."),
                  .expect = {{.local_port = cport, .remote_port = port, .state = "ESTABLISHED"}},
                  .fails_with = EAGAIN},
                 [&] { return recv_dontwait(cfd); });

        lab.step({.title = _("The child exits: the last descriptor is closed"),
                  .call = fmt::format("(child) _exit(0); waitpid({})", child),
                  .explain = _("Exit closes every descriptor of the child, the last one of the "
                               "socket among them: now the kernel closes the socket and sends "
                               "FIN. The server side goes FIN_WAIT2 (an orphan: no descriptor "
                               "left), the client CLOSE_WAIT."),
                  .expect = {{.local_port = port, .remote_port = cport, .state = "FIN_WAIT2"},
                             {.local_port = cport, .remote_port = port, .state = "CLOSE_WAIT"}}},
                 [&] {
                     pipe_wr.reset();  // EOF on the child's pipe: it exits
                     int status = 0;
                     const pid_t r = ::waitpid(child, &status, 0);
                     child = -1;
                     return Result::of(r, _("child reaped"));
                 });

        lab.step({.title = _("The client reads: end of stream"),
                  .call = fmt::format("recv({}, buf, 64, 0)", cfd),
                  .explain = _("recv() returns 0 only now."),
                  .expect = {{.local_port = cport, .remote_port = port, .state = "CLOSE_WAIT"}},
                  .verify = [](const Result& r) {
                      return r.value == 0 ? std::string() : std::string(_("recv() should return 0"));
                  }},
                 [&] { return recv_wait(cfd); });

        lab.step({.title = _("The client closes"),
                  .call = fmt::format("close({})", cfd),
                  .explain = _("CLOSE_WAIT, LAST_ACK, gone; the server side, which sent the "
                               "first FIN, keeps the TIME_WAIT."),
                  .expect = {{.local_port = port, .remote_port = cport, .state = "TIME_WAIT"}}},
                 [&] { return Result::of(::close(c.client.release())); });

        // ---- dup + shutdown ----
        Pair second = connect_again(lab, c.listener.get(), _("A second connection"),
                                    _("Now two descriptors in one process, and shutdown()."));
        const auto cport2 = second.client_port;
        const int cfd2 = second.client.get(), sfd2 = second.server.get();
        UniqueFd copy;

        lab.step({.title = _("dup(): a second descriptor for the accepted socket"),
                  .call = fmt::format("dup({})", sfd2),
                  .explain = _("dup() is what fork() does to every descriptor, inside one "
                               "process: two numbers, one socket."),
                  .expect = {{.local_port = port, .remote_port = cport2, .state = "ESTABLISHED"}},
                  .verify = [](const Result& r) {
                      return r.value >= 0 ? std::string() : std::string(_("dup() failed"));
                  }},
                 [&] {
                     copy.reset(::dup(sfd2));
                     return Result::of(copy.get(), i18n::format(_("new fd {}"), copy.get()));
                 });

        lab.step({.title = _("shutdown(SHUT_WR) on one of them: the FIN goes at once"),
                  .call = fmt::format("shutdown({}, SHUT_WR)", sfd2),
                  .explain = _("shutdown() acts on the socket, not on a descriptor: it does not "
                               "care how many descriptors there are (shutdown(2)). FIN sent and "
                               "acknowledged: server FIN_WAIT2, client CLOSE_WAIT — while both "
                               "descriptors are still open."),
                  .expect = {{.local_port = port, .remote_port = cport2, .state = "FIN_WAIT2"},
                             {.local_port = cport2, .remote_port = port, .state = "CLOSE_WAIT"}}},
                 [&] { return Result::of(::shutdown(sfd2, SHUT_WR)); });

        lab.step({.title = _("The client reads: end of stream"),
                  .call = fmt::format("recv({}, buf, 64, 0)", cfd2),
                  .explain = _("0 at once: this is why a forking server that must signal the "
                               "end while a child still holds the socket calls shutdown()."),
                  .expect = {{.local_port = cport2, .remote_port = port, .state = "CLOSE_WAIT"}},
                  .verify = [](const Result& r) {
                      return r.value == 0 ? std::string() : std::string(_("recv() should return 0"));
                  }},
                 [&] { return recv_wait(cfd2); });

        lab.step({.title = _("The client answers; the server reads it through the copy"),
                  .call = fmt::format("send({}, \"bye\", 3, 0); recv({}, buf, 64, 0)", cfd2,
                                      copy.get()),
                  .explain = _("Only the server's sending side is shut: it still receives, on "
                               "either descriptor (a half-close, lab 8)."),
                  .expect = {{.local_port = port, .remote_port = cport2, .state = "FIN_WAIT2"}},
                  .verify = [](const Result& r) {
                      return r.value == 3 ? std::string() : std::string(_("3 bytes should arrive"));
                  }},
                 [&] {
                     if (::send(cfd2, "bye", 3, 0) != 3) return Result::of(-1);
                     return recv_wait(copy.get());
                 });

        lab.step({.title = _("The client closes; the server closes both descriptors"),
                  .call = fmt::format("close({}); close({}); close({})", cfd2, sfd2, copy.get()),
                  .explain = _("The client's FIN ends the server's FIN_WAIT2 in TIME_WAIT; the "
                               "two descriptors then free a socket that is already closed."),
                  .expect = {{.local_port = port, .remote_port = cport2, .state = "TIME_WAIT"},
                             {.local_port = cport2, .remote_port = port, .state = "CLOSE_WAIT",
                              .absent = true}}},
                 [&] {
                     const int a = ::close(second.client.release());
                     const int b = ::close(second.server.release());
                     const int d = ::close(copy.release());
                     return Result::of(a != 0 ? a : b != 0 ? b : d);
                 });
        (void)child;
    });
}
