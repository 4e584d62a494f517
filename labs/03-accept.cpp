// Lab 3 — connect and accept: both ends are ESTABLISHED before accept() is called. The kernel
// completes the handshake; accept() only hands over the new socket, and the listener stays.
#include <unistd.h>

#include <fmt/format.h>

#include "labkit.hpp"
#include "socklab/i18n.hpp"

using namespace socklab;
using namespace socklab::lab;

int main(int argc, char** argv) {
    Lab runner("accept", argc, argv);
    return runner.run(5, [](Lab& lab) {
        const Endpoint server = lab.endpoint();
        const auto port = lab.port();
        UniqueFd listener;

        lab.step({.title = socklab::i18n::format(_("A listener on {}"), server.str()),
                  .call = fmt::format("socket({}, SOCK_STREAM, 0) + setsockopt(SO_REUSEADDR) + "
                                      "bind(fd, {}) + listen(fd, 16)",
                                      server.family_name(), server.str()),
                  .explain = _("Lab 2 in one step: a LISTEN socket with an empty accept queue."),
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 0}}},
                 [&] {
                     listener.reset(::socket(server.family, SOCK_STREAM, 0));
                     if (!listener) return Result::of(-1);
                     set_int_option(listener.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
                     if (::bind(listener.get(), server.sa(), server.len) != 0)
                         return Result::of(-1);
                     return Result::of(::listen(listener.get(), 16),
                                       socklab::i18n::format(_("(listener fd {})"), listener.get()));
                 });

        UniqueFd client;
        std::uint16_t cport = 0;
        lab.step({.title = _("The client connects — and we do NOT call accept() yet"),
                  .call = socklab::i18n::format(_("connect(<new socket>, {})"), server.str()),
                  .explain = _("connect() sent SYN, the kernel answered SYN+ACK for the listener, "
                             "the client ACKed: SYN_SENT → ESTABLISHED on the client, SYN_RECV → "
                             "ESTABLISHED on the server. Both ends are ESTABLISHED although the "
                             "server program has done nothing: the connection waits in the "
                             "listener's accept queue (Recv-Q 1)."),
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 1}},
                  .expect_after = [&] {
                      return std::vector<Expect>{
                          {.local_port = cport, .remote_port = port, .state = "ESTABLISHED"},
                          {.local_port = port, .remote_port = cport, .state = "ESTABLISHED"}};
                  }},
                 [&] {
                     client.reset(::socket(server.family, SOCK_STREAM, 0));
                     const int rc = ::connect(client.get(), server.sa(), server.len);
                     cport = local_port_of(client.get());
                     return Result::of(rc, socklab::i18n::format(_("(client fd {}, port {})"), client.get(),
                                                       cport));
                 });

        UniqueFd conn;
        lab.step({.title = _("Now accept()"),
                  .call = fmt::format("accept({}, NULL, NULL)", listener.get()),
                  .explain = _("accept() moved nothing in the kernel's table: the server end was "
                             "already ESTABLISHED. It took the connection off the accept queue "
                             "(Recv-Q back to 0) and gave it a descriptor. The listener stays "
                             "LISTEN, ready for the next client."),
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 0},
                             {.local_port = port, .remote_port = cport, .state = "ESTABLISHED"},
                             {.local_port = cport, .remote_port = port, .state = "ESTABLISHED"}}},
                 [&] {
                     conn.reset(::accept(listener.get(), nullptr, nullptr));
                     return Result::of(conn.get(), socklab::i18n::format(_("(the new socket; local port {} "
                                                               "like the listener's)"),
                                                               local_port_of(conn.get())));
                 });

        lab.step({.title = _("Close the listener"),
                  .call = fmt::format("close({})", listener.get()),
                  .explain = _("The accepted connection does not need its listener: it stays "
                             "ESTABLISHED. New clients would now be refused."),
                  .expect = {{.local_port = port, .state = "LISTEN", .absent = true},
                             {.local_port = port, .remote_port = cport, .state = "ESTABLISHED"}}},
                 [&] { return Result::of(::close(listener.release())); });

        lab.step({.title = _("The client closes first, then the server"),
                  .call = fmt::format("close({}); close({})", client.get(), conn.get()),
                  .explain = _("The side that sends the first FIN ends in TIME_WAIT (lab 5 takes "
                             "this apart): here the client, so the server's port is free at "
                             "once."),
                  .expect = {{.local_port = cport, .remote_port = port, .state = "TIME_WAIT"},
                             {.local_port = port, .remote_port = cport, .state = "LAST_ACK",
                              .absent = true}}},
                 [&] {
                     const int rc = ::close(client.release());
                     return Result::of(rc == 0 ? ::close(conn.release()) : rc);
                 });
    });
}
