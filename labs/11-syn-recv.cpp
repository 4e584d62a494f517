// Lab 11 — SYN_RECV: with TCP_DEFER_ACCEPT the server keeps a connection in SYN_RECV until
// data arrives, while the client already says ESTABLISHED. The two ends disagree.
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <fmt/format.h>

#include "labkit.hpp"
#include "socklab/source.hpp"
#include "socklab/state.hpp"
#include "socklab/i18n.hpp"

using namespace socklab;
using namespace socklab::lab;

namespace {

// What the kernel holds for local:remote. sock_diag reports a request socket (kernel state
// NEW_SYN_RECV, 12) as SYN_RECV (3), like a full socket; but only a full socket has TCP_INFO,
// so a SYN_RECV row without it is a request socket.
std::string kernel_state_of(std::uint16_t local, std::uint16_t remote) {
    const auto src = make_default_source();
    Query q;
    q.port = local;
    q.udp = false;
    q.tcp_info = true;
    for (int i = 0; i < 100; ++i) {  // the request appears with the client's ACK: bounded wait
        for (const auto& r : src->snapshot(q).sockets)
            if (r.local_port == local && r.remote_port == remote)
                return r.state == static_cast<std::uint8_t>(TcpState::syn_recv) && !r.tcp_info &&
                               r.inode == 0
                           ? _("NEW_SYN_RECV (state 12): no inode, no TCP_INFO")
                           : fmt::format("{} (state {}{})", r.state_name(), r.state,
                                         r.tcp_info ? ", with TCP_INFO" : "");
        pollfd none{-1, 0, 0};
        (void)::poll(&none, 1, 10);
    }
    return _("not in the table");
}

}  // namespace

int main(int argc, char** argv) {
    Lab runner("syn-recv", argc, argv);
    return runner.run(6, [](Lab& lab) {
        const Endpoint server = lab.endpoint();
        const auto port = lab.port();
        constexpr int kDeferSeconds = 30;
        UniqueFd listener;

        lab.step({.title = socklab::i18n::format(_("A socket bound to {}"), server.str()),
                  .call = fmt::format("socket() + setsockopt(SO_REUSEADDR) + bind(fd, {})",
                                      server.str()),
                  .explain = std::string(_("As in lab 1. ")) + bound_only_text(),
                  .expect = expect_bound_only(port)},
                 [&] {
                     listener.reset(::socket(server.family, SOCK_STREAM, 0));
                     set_int_option(listener.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
                     return Result::of(::bind(listener.get(), server.sa(), server.len),
                                       fmt::format("(fd {})", listener.get()));
                 });

        lab.step({.title = _("Defer accepting until the client sends data"),
                  .call = fmt::format("setsockopt({}, IPPROTO_TCP, TCP_DEFER_ACCEPT, {})",
                                      listener.get(), kDeferSeconds),
                  .explain = _("A server that always waits for a request (HTTP) can ask the kernel "
                             "not to bother it with connections that have sent nothing yet."),
                  .expect = expect_bound_only(port)},
                 [&] {
                     const int v = kDeferSeconds;
                     return Result::of(::setsockopt(listener.get(), IPPROTO_TCP,
                                                    TCP_DEFER_ACCEPT, &v, sizeof v));
                 });

        lab.step({.title = _("Listen"),
                  .call = fmt::format("listen({}, 16)", listener.get()),
                  .explain = _("LISTEN, as usual."),
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 0}}},
                 [&] { return Result::of(::listen(listener.get(), 16)); });

        UniqueFd client;
        std::uint16_t cport = 0;
        lab.step({.title = _("The client connects and sends nothing"),
                  .call = socklab::i18n::format(_("connect(<new socket>, {})"), server.str()),
                  .explain = _("The client got SYN+ACK and sent its ACK: for the client the "
                             "handshake is done, ESTABLISHED. The server's kernel dropped that "
                             "bare ACK on purpose and keeps the connection as a half-open "
                             "request, outside the accept queue (Recv-Q 0). Same connection, "
                             "two different states. ss and socklab say SYN_RECV; the kernel's "
                             "own name for such a request socket is NEW_SYN_RECV (state 12) — a "
                             "small record, not yet a full socket: sock_diag reports it as "
                             "SYN_RECV, but without the TCP_INFO every full socket has. (A full socket in SYN_RECV, "
                             "state 3, is rare: a TCP Fast Open child, a simultaneous open, or "
                             "the instant after the final ACK.)"),
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 0}},
                  .verify = [](const Result& r) {
                      return r.detail.find(_("server side: NEW_SYN_RECV (state 12)")) !=
                                     std::string::npos
                                 ? std::string()
                                 : _("the kernel should hold the server side as a request socket "
                                   "(NEW_SYN_RECV)");
                  },
                  .expect_after = [&] {
                      return std::vector<Expect>{
                          {.local_port = cport, .remote_port = port, .state = "ESTABLISHED"},
                          {.local_port = port, .remote_port = cport, .state = "SYN_RECV"}};
                  }},
                 [&] {
                     client.reset(::socket(server.family, SOCK_STREAM, 0));
                     const int rc = ::connect(client.get(), server.sa(), server.len);
                     const Result r = Result::of(rc);
                     cport = local_port_of(client.get());
                     return Result{r.value, r.err,
                                   socklab::i18n::format(_("(client fd {}, port {}; server side: {})"),
                                               client.get(), cport, kernel_state_of(port, cport))};
                 });

        lab.step({.title = _("The client sends its request"),
                  .call = fmt::format("send({}, \"GET /\\n\", 6, 0)", client.get()),
                  .explain = _("Data carries an ACK too, and this one the server accepts: the "
                             "request becomes a full ESTABLISHED socket in the accept queue "
                             "(Recv-Q 1), with the 6 bytes already waiting in it."),
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 1},
                             {.local_port = port, .remote_port = cport, .state = "ESTABLISHED",
                              .recv_q = 6}}},
                 [&] { return Result::of(::send(client.get(), "GET /\n", 6, 0)); });

        UniqueFd conn;
        lab.step({.title = _("accept() — and the request is already there"),
                  .call = fmt::format("accept({}, NULL, NULL) + recv(fd, buf, 64, MSG_DONTWAIT)",
                                      listener.get()),
                  .explain = _("The first recv() after accept() does not have to wait: that was "
                             "the point of TCP_DEFER_ACCEPT."),
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 0},
                             {.local_port = port, .remote_port = cport, .state = "ESTABLISHED",
                              .recv_q = 0}},
                  .verify = [](const Result& r) {
                      return r.value == 6 ? std::string() : _("the 6-byte request should be there");
                  }},
                 [&] {
                     conn.reset(::accept(listener.get(), nullptr, nullptr));
                     char buf[64];
                     return Result::of(::recv(conn.get(), buf, sizeof buf, MSG_DONTWAIT),
                                       socklab::i18n::format(_("bytes (accepted fd {})"), conn.get()));
                 });
    });
}
