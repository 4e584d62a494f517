// Lab 13 — UDP: an unconnected socket is UNCONN; connect() on UDP sends no packet, it only
// fixes the peer (ESTABLISHED). Message boundaries are kept. An ICMP port-unreachable comes
// back as ECONNREFUSED on a later call.
#include <poll.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <fmt/format.h>

#include "labkit.hpp"
#include "socklab/i18n.hpp"

using namespace socklab;
using namespace socklab::lab;

namespace {
Result recv_one(int fd) {
    pollfd p{fd, POLLIN, 0};
    (void)::poll(&p, 1, 2000);
    char buf[2048];
    const auto n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    return Result::of(n, n >= 0 ? fmt::format("\"{}\"", std::string(buf, static_cast<std::size_t>(n)))
                                : std::string());
}
std::string want(const Result& r, std::string_view text) {
    return r.detail == fmt::format("\"{}\"", text) ? std::string()
                                                   : socklab::i18n::format(_("expected exactly \"{}\""), text);
}
}  // namespace

int main(int argc, char** argv) {
    Lab runner("udp", argc, argv);
    return runner.run(8, [](Lab& lab) {
        const Endpoint server = lab.endpoint();
        const auto port = lab.port();
        UniqueFd srv, cli;
        std::uint16_t cport = 0;

        lab.step({.title = _("A UDP server socket, bound"),
                  .call = fmt::format("socket({}, SOCK_DGRAM, 0) + bind(fd, {})",
                                      server.family_name(), server.str()),
                  .explain = _("UDP has no listen(), no handshake and no connection states. A "
                             "bound UDP socket shows as UNCONN: it takes datagrams from anyone."),
                  .expect = {{.proto = "udp", .local_port = port, .state = "UNCONN"}}},
                 [&] {
                     srv.reset(::socket(server.family, SOCK_DGRAM, 0));
                     return Result::of(::bind(srv.get(), server.sa(), server.len),
                                       fmt::format("(fd {})", srv.get()));
                 });

        lab.step({.title = _("A client socket, connect()ed to the server"),
                  .call = fmt::format("socket({}, SOCK_DGRAM, 0) + connect(fd, {})",
                                      server.family_name(), server.str()),
                  .explain = _("connect() on UDP sends nothing — the server's Recv-Q stays 0. It "
                             "picks a local port and records the peer, so send() needs no "
                             "address and only that peer's datagrams are let in. ss calls that "
                             "ESTABLISHED."),
                  .expect = {{.proto = "udp", .local_port = port, .state = "UNCONN", .recv_q = 0}},
                  .expect_after = [&] {
                      return std::vector<Expect>{
                          {.proto = "udp", .local_port = cport, .remote_port = port, .state = "ESTABLISHED"}};
                  }},
                 [&] {
                     cli.reset(::socket(server.family, SOCK_DGRAM, 0));
                     const int rc = ::connect(cli.get(), server.sa(), server.len);
                     cport = local_port_of(cli.get());
                     return Result::of(rc, socklab::i18n::format(_("(fd {}, port {})"), cli.get(), cport));
                 });

        lab.step({.title = _("Send three datagrams"),
                  .call = fmt::format("send({0}, \"one\", 3, 0); send({0}, \"two\", 3, 0); "
                                      "send({0}, \"three\", 5, 0)",
                                      cli.get()),
                  .explain = _("Three datagrams wait at the server (UDP's Recv-Q counts kernel "
                             "memory, not just payload bytes)."),
                  .expect = {{.proto = "udp", .local_port = port, .state = "UNCONN", .min_recv_q = 1}}},
                 [&] {
                     long total = 0;
                     for (const std::string_view m : {"one", "two", "three"}) {
                         const auto n = ::send(cli.get(), m.data(), m.size(), 0);
                         if (n < 0) return Result::of(-1);
                         total += n;
                     }
                     return Result::of(total, _("bytes in 3 datagrams"));
                 });

        lab.step({.title = _("The server reads with a big buffer"),
                  .call = fmt::format("recv({}, buf, 2048, 0)", srv.get()),
                  .explain = _("Just \"one\": each recv() returns exactly one datagram, however "
                             "big the buffer. Compare lab 4, where TCP merged three sends."),
                  .expect = {{.proto = "udp", .local_port = port, .state = "UNCONN", .min_recv_q = 1}},
                  .verify = [](const Result& r) { return want(r, "one"); }},
                 [&] { return recv_one(srv.get()); });

        lab.step({.title = _("Read the other two"),
                  .call = fmt::format("recv({0}, buf, 2048, 0); recv({0}, buf, 2048, 0)",
                                      srv.get()),
                  .explain = _("\"two\", then \"three\": boundaries kept, order kept (on loopback; "
                             "across a network UDP may also lose or reorder)."),
                  .expect = {{.proto = "udp", .local_port = port, .state = "UNCONN", .recv_q = 0}},
                  .verify = [](const Result& r) { return want(r, "three"); }},
                 [&] {
                     const Result two = recv_one(srv.get());
                     if (two.err || two.detail != "\"two\"") return two;
                     return recv_one(srv.get());
                 });

        lab.step({.title = _("The server goes away"),
                  .call = fmt::format("close({})", srv.get()),
                  .explain = _("Nothing is sent: UDP has nobody to tell."),
                  .expect = {{.proto = "udp", .local_port = port, .state = "UNCONN", .absent = true}}},
                 [&] { return Result::of(::close(srv.release())); });

        lab.step({.title = _("The client sends anyway"),
                  .call = fmt::format("send({}, \"anyone?\", 7, 0)", cli.get()),
                  .explain = _("send() succeeds: the datagram left. No socket took it, so the "
                             "kernel answered with ICMP \"port unreachable\", and because this "
                             "socket is connected the kernel keeps that as a pending error."),
                  .expect = {{.proto = "udp", .local_port = cport, .remote_port = port, .state = "ESTABLISHED"}}},
                 [&] { return Result::of(::send(cli.get(), "anyone?", 7, 0)); });

        lab.step({.title = _("The next call reports it: ECONNREFUSED"),
                  .call = fmt::format("recv({}, buf, 2048, MSG_DONTWAIT)", cli.get()),
                  .explain = _("The ICMP error surfaces on a later call, not on the send() that "
                             "caused it. An unconnected UDP socket would never hear of it."),
                  .expect = {},
                  .fails_with = ECONNREFUSED},
                 [&] {
                     pollfd p{cli.get(), POLLIN, 0};  // POLLERR is reported without asking
                     (void)::poll(&p, 1, 2000);
                     char buf[2048];
                     return Result::of(::recv(cli.get(), buf, sizeof buf, MSG_DONTWAIT));
                 });
    });
}
