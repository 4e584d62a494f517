// Lab 11 — SYN_RECV: with TCP_DEFER_ACCEPT the server keeps a connection in SYN_RECV until
// data arrives, while the client already says ESTABLISHED. The two ends disagree.
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <fmt/format.h>

#include "labkit.hpp"

using namespace socklab;
using namespace socklab::lab;

int main(int argc, char** argv) {
    Lab runner("syn-recv", argc, argv);
    return runner.run(6, [](Lab& lab) {
        const Endpoint server = lab.endpoint();
        const auto port = lab.port();
        constexpr int kDeferSeconds = 30;
        UniqueFd listener;

        lab.step({.title = "A socket bound to " + server.str(),
                  .call = fmt::format("socket() + setsockopt(SO_REUSEADDR) + bind(fd, {})",
                                      server.str()),
                  .explain = "As in lab 1.",
                  .expect = {{.local_port = port, .state = "BOUND_INACTIVE"}}},
                 [&] {
                     listener.reset(::socket(server.family, SOCK_STREAM, 0));
                     set_int_option(listener.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
                     return Result::of(::bind(listener.get(), server.sa(), server.len),
                                       fmt::format("(fd {})", listener.get()));
                 });

        lab.step({.title = "Defer accepting until the client sends data",
                  .call = fmt::format("setsockopt({}, IPPROTO_TCP, TCP_DEFER_ACCEPT, {})",
                                      listener.get(), kDeferSeconds),
                  .explain = "A server that always waits for a request (HTTP) can ask the kernel "
                             "not to bother it with connections that have sent nothing yet.",
                  .expect = {{.local_port = port, .state = "BOUND_INACTIVE"}}},
                 [&] {
                     const int v = kDeferSeconds;
                     return Result::of(::setsockopt(listener.get(), IPPROTO_TCP,
                                                    TCP_DEFER_ACCEPT, &v, sizeof v));
                 });

        lab.step({.title = "Listen",
                  .call = fmt::format("listen({}, 16)", listener.get()),
                  .explain = "LISTEN, as usual.",
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 0}}},
                 [&] { return Result::of(::listen(listener.get(), 16)); });

        UniqueFd client;
        std::uint16_t cport = 0;
        lab.step({.title = "The client connects and sends nothing",
                  .call = "connect(<new socket>, " + server.str() + ")",
                  .explain = "The client got SYN+ACK and sent its ACK: for the client the "
                             "handshake is done, ESTABLISHED. The server's kernel dropped that "
                             "bare ACK on purpose and keeps the connection as a half-open "
                             "request in SYN_RECV, outside the accept queue (Recv-Q 0). Same "
                             "connection, two different states.",
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 0}},
                  .expect_after = [&] {
                      return std::vector<Expect>{
                          {.local_port = cport, .remote_port = port, .state = "ESTABLISHED"},
                          {.local_port = port, .remote_port = cport, .state = "SYN_RECV"}};
                  }},
                 [&] {
                     client.reset(::socket(server.family, SOCK_STREAM, 0));
                     const int rc = ::connect(client.get(), server.sa(), server.len);
                     cport = local_port_of(client.get());
                     return Result::of(rc, fmt::format("(client fd {}, port {})", client.get(),
                                                       cport));
                 });

        lab.step({.title = "The client sends its request",
                  .call = fmt::format("send({}, \"GET /\\n\", 6, 0)", client.get()),
                  .explain = "Data carries an ACK too, and this one the server accepts: the "
                             "request becomes a full ESTABLISHED socket in the accept queue "
                             "(Recv-Q 1), with the 6 bytes already waiting in it.",
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 1},
                             {.local_port = port, .remote_port = cport, .state = "ESTABLISHED",
                              .recv_q = 6}}},
                 [&] { return Result::of(::send(client.get(), "GET /\n", 6, 0)); });

        UniqueFd conn;
        lab.step({.title = "accept() — and the request is already there",
                  .call = fmt::format("accept({}, NULL, NULL) + recv(fd, buf, 64, MSG_DONTWAIT)",
                                      listener.get()),
                  .explain = "The first recv() after accept() does not have to wait: that was "
                             "the point of TCP_DEFER_ACCEPT.",
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 0},
                             {.local_port = port, .remote_port = cport, .state = "ESTABLISHED",
                              .recv_q = 0}},
                  .verify = [](const Result& r) {
                      return r.value == 6 ? std::string() : "the 6-byte request should be there";
                  }},
                 [&] {
                     conn.reset(::accept(listener.get(), nullptr, nullptr));
                     char buf[64];
                     return Result::of(::recv(conn.get(), buf, sizeof buf, MSG_DONTWAIT),
                                       fmt::format("bytes (accepted fd {})", conn.get()));
                 });
    });
}
