// Lab 2 — listen: LISTEN; for a listener Send-Q is the backlog and Recv-Q the length of the
// accept queue.
#include <poll.h>
#include <unistd.h>

#include <fmt/format.h>

#include "labkit.hpp"
#include "socklab/i18n.hpp"

using namespace socklab;
using namespace socklab::lab;

int main(int argc, char** argv) {
    Lab runner("listen", argc, argv);
    return runner.run(7, [](Lab& lab) {
        const Endpoint server = lab.endpoint();
        const auto port = lab.port();
        constexpr int kBacklog = 5;
        UniqueFd s;

        lab.step({.title = socklab::i18n::format(_("Create a socket and bind it to {}"), server.str()),
                  .call = fmt::format("socket({}, SOCK_STREAM, 0) + setsockopt(SO_REUSEADDR) + "
                                      "bind(fd, {})",
                                      server.family_name(), server.str()),
                  .explain = _("As in lab 1: bound, not listening. Nobody can connect yet. "
                             "(SO_REUSEADDR lets you re-run the lab while the TIME_WAIT of the "
                             "last run still holds the port; lab 6 explains.) ") +
                             bound_only_text(),
                  .expect = expect_bound_only(port)},
                 [&] {
                     s.reset(::socket(server.family, SOCK_STREAM, 0));
                     if (!s) return Result::of(-1);
                     set_int_option(s.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
                     return Result::of(::bind(s.get(), server.sa(), server.len));
                 });

        lab.step({.title = _("Start listening"),
                  .call = fmt::format("listen({}, {})", s.get(), kBacklog),
                  .explain = _("The socket is now LISTEN: the kernel answers SYNs on this port by "
                             "itself. For a listener ss reuses the queue columns: Send-Q is "
                             "the backlog (5) and Recv-Q the connections waiting for accept() "
                             "(none yet)."),
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 0,
                              .send_q = kBacklog}}},
                 [&] { return Result::of(::listen(s.get(), kBacklog)); });

        UniqueFd c1, c2;
        std::uint16_t p1 = 0, p2 = 0;
        lab.step({.title = _("Connect a first client"),
                  .call = socklab::i18n::format(_("connect(<new socket>, {})"), server.str()),
                  .explain = _("connect() returned at once: the kernel completed the handshake "
                             "with the listener and put the new connection in its accept "
                             "queue. Recv-Q of the listener is now 1."),
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 1,
                              .send_q = kBacklog}},
                  .expect_after = [&] {
                      return std::vector<Expect>{
                          {.local_port = p1, .remote_port = port, .state = "ESTABLISHED"}};
                  }},
                 [&] {
                     c1.reset(::socket(server.family, SOCK_STREAM, 0));
                     const int rc = ::connect(c1.get(), server.sa(), server.len);
                     p1 = local_port_of(c1.get());
                     return Result::of(rc, socklab::i18n::format(_("(client fd {}, port {})"), c1.get(), p1));
                 });

        lab.step({.title = _("Connect a second client"),
                  .call = socklab::i18n::format(_("connect(<new socket>, {})"), server.str()),
                  .explain = _("Two finished connections wait in the accept queue: Recv-Q 2. "
                             "Nobody has called accept() yet."),
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 2,
                              .send_q = kBacklog}},
                  .expect_after = [&] {
                      return std::vector<Expect>{
                          {.local_port = p2, .remote_port = port, .state = "ESTABLISHED"}};
                  }},
                 [&] {
                     c2.reset(::socket(server.family, SOCK_STREAM, 0));
                     const int rc = ::connect(c2.get(), server.sa(), server.len);
                     p2 = local_port_of(c2.get());
                     return Result::of(rc, socklab::i18n::format(_("(client fd {}, port {})"), c2.get(), p2));
                 });

        UniqueFd a;
        lab.step({.title = _("Accept one connection"),
                  .call = fmt::format("accept({}, NULL, NULL)", s.get()),
                  .explain = _("accept() took the oldest connection off the queue and gave it a "
                             "descriptor: Recv-Q drops to 1. The listener itself is unchanged."),
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 1,
                              .send_q = kBacklog},
                             {.local_port = port, .remote_port = p1, .state = "ESTABLISHED"}}},
                 [&] {
                     a.reset(::accept(s.get(), nullptr, nullptr));
                     return Result::of(a.get());
                 });

        lab.step({.title = _("Close the listener"),
                  .call = fmt::format("close({})", s.get()),
                  .explain = _("Closing a listener resets the connections still in its accept "
                             "queue — the second client gets RST, and its next recv() fails "
                             "with ECONNRESET — but leaves accepted connections alone: they are "
                             "sockets of their own. The accept queue is the sockets API's, not "
                             "TCP's: RFC 9293 has no such queue, and this is how Linux (like "
                             "the BSDs) disposes of it."),
                  .expect = {{.local_port = port, .state = "LISTEN", .absent = true},
                             {.local_port = port, .remote_port = p1, .state = "ESTABLISHED"},
                             {.local_port = port, .remote_port = p2, .state = "ESTABLISHED",
                              .absent = true}},
                  .verify = [](const Result& r) {
                      return r.detail == _("second client: recv() = -1 ECONNRESET")
                                 ? std::string()
                                 : _("the second client should have been reset");
                  }},
                 [&] {
                     const int rc = ::close(s.release());
                     // The RST reaches the second client within microseconds (bounded wait).
                     pollfd p{c2.get(), POLLIN, 0};
                     (void)::poll(&p, 1, 2000);
                     char byte = 0;
                     const auto n = ::recv(c2.get(), &byte, 1, MSG_DONTWAIT);
                     const int err = errno;
                     return Result::of(rc, n < 0 ? socklab::i18n::format(_("second client: recv() = -1 {}"), errno_name(err))
                                                 : socklab::i18n::format(_("second client: recv() = {}"), n));
                 });

        lab.step({.title = _("Close the accepted connection, then its client"),
                  .call = fmt::format("close({}); close({})", a.get(), c1.get()),
                  .explain = _("The server side sent the first FIN, so it is the one left in "
                             "TIME_WAIT "
                             "(60 s, no descriptor). The port stays taken until then: lab 6 "
                             "shows why that matters."),
                  .expect = {{.local_port = port, .remote_port = p1, .state = "TIME_WAIT"}}},
                 [&] {
                     const int rc = ::close(a.release());
                     return Result::of(rc == 0 ? ::close(c1.release()) : rc);
                 });
    });
}
