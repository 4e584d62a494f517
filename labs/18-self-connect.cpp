// Lab 18 — simultaneous open and self-connect: a socket that connects to its own address
// receives its own SYN while in SYN_SENT — TCP's simultaneous open (RFC 9293 §3.5) — and
// ends up ESTABLISHED with itself. The same thing happens by accident to a client that
// retries connect() to a local port in the ephemeral range while nothing listens there.
#include <arpa/inet.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>
#include <string>

#include <fmt/format.h>

#include "labkit.hpp"
#include "socklab/i18n.hpp"

using namespace socklab;
using namespace socklab::lab;

namespace {

std::string expect_state(int fd, const char* state) {
    const auto s = tcp_info_state(fd);
    return s == state ? std::string() : i18n::format(_("TCP_INFO says {}, not {}"), s, state);
}
}  // namespace

int main(int argc, char** argv) {
    Lab runner("self-connect", argc, argv);
    return runner.run(8, [](Lab& lab) {
        const auto port = lab.port();
        const Endpoint ep = lab.endpoint();
        // The second half needs a port inside net.ipv4.ip_local_port_range, other than the
        // first half's, whose TIME_WAIT holds port <-> port.
        const auto port2 = port_in_local_range(port, 1000);
        const Endpoint ep2 = Endpoint::parse(lab.options().host, port2);
        lab.watch(port2);
        UniqueFd s;

        lab.step({.title = _("A socket bound to the lab's port"),
                  .call = fmt::format("socket(); setsockopt(SO_REUSEADDR); bind({})", ep.str()),
                  .explain = _("Nothing listens anywhere in this lab. (SO_REUSEADDR lets a class "
                               "re-run the lab while the last run's TIME_WAIT holds the port.)"),
                  .expect = expect_bound_only(port, 1),
                  .verify = [&](const Result&) { return expect_state(s.get(), "CLOSE"); }},
                 [&] {
                     s.reset(::socket(ep.family, SOCK_STREAM, 0));
                     if (!s) return Result::of(-1);
                     set_int_option(s.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
                     return Result::of(::bind(s.get(), ep.sa(), ep.len));
                 });

        lab.step({.title = _("connect() to its own address"),
                  .call = describe_socket_call("connect", s.get(), ep),
                  .explain = _("It succeeds. The socket sent a SYN to its own address and, in "
                               "SYN_SENT, received that SYN: a simultaneous open (RFC 9293 "
                               "§3.5, Figure 8). It answered with SYN-ACK and went to SYN_RECV — "
                               "a full SYN_RECV socket, not the NEW_SYN_RECV request a listener "
                               "keeps — then received its own SYN-ACK: ESTABLISHED. One row, the "
                               "same port on both sides."),
                  .expect = {{.local_port = port, .remote_port = port, .state = "ESTABLISHED",
                              .count = 1}},
                  .verify = [&](const Result&) { return expect_state(s.get(), "ESTABLISHED"); }},
                 [&] { return Result::of(::connect(s.get(), ep.sa(), ep.len)); });

        lab.step({.title = _("It talks to itself"),
                  .call = fmt::format("send({0}, \"hello\", 5, 0); recv({0}, buf, 64, 0)", s.get()),
                  .explain = _("What it sends comes back on the same socket: the peer is itself."),
                  .expect = {{.local_port = port, .remote_port = port, .state = "ESTABLISHED"}},
                  .verify = [](const Result& r) {
                      return r.detail == "\"hello\"" ? std::string()
                                                    : std::string(_("it should read \"hello\""));
                  }},
                 [&] {
                     if (::send(s.get(), "hello", 5, 0) != 5) return Result::of(-1);
                     pollfd p{s.get(), POLLIN, 0};
                     (void)::poll(&p, 1, 2000);
                     char buf[64];
                     const auto n = ::recv(s.get(), buf, sizeof buf, MSG_DONTWAIT);
                     return Result::of(n, n > 0 ? "\"" + std::string(buf, static_cast<std::size_t>(n)) + "\""
                                                : std::string());
                 });

        lab.step({.title = _("close(): a simultaneous close with itself"),
                  .call = fmt::format("close({})", s.get()),
                  .explain = _("Its FIN reaches itself in FIN_WAIT1 before the ACK of that FIN: "
                               "CLOSING (RFC 9293 §3.10.7.4); the ACK follows: TIME_WAIT. Both "
                               "ends sent a FIN — both ends are this one socket."),
                  .expect = {{.local_port = port, .remote_port = port, .state = "TIME_WAIT"}}},
                 [&] { return Result::of(::close(s.release())); });

        // ---- the accident ----
        UniqueFd client;
        lab.step({.title = _("A client whose ephemeral ports are one port only"),
                  .call = fmt::format("socket(); setsockopt(IP_LOCAL_PORT_RANGE, {0}-{0})", port2),
                  .explain = _("IP_LOCAL_PORT_RANGE narrows, for this socket, the range the "
                               "kernel picks a local port from (net.ipv4.ip_local_port_range for "
                               "everyone; a per-socket range is clamped to it). It stands for a "
                               "client whose server's port lies in the ephemeral range, as the "
                               "ports from 32768 to 60999 do by default."),
                  .expect = {}},
                 [&] {
                     client.reset(::socket(ep2.family, SOCK_STREAM, 0));
                     if (!client) return Result::of(-1);
                     const std::uint32_t range = (std::uint32_t{port2} << 16) | port2;
                     // The option is per family (IPPROTO_IP also serves dual-stack sockets).
                     return Result::of(::setsockopt(client.get(), IPPROTO_IP, IP_LOCAL_PORT_RANGE,
                                                    &range, sizeof range));
                 });

        lab.step({.title = _("The client connects to a server that is not running"),
                  .call = describe_socket_call("connect", client.get(), ep2),
                  .explain = _("Nothing listens on that port, yet connect() succeeds: the kernel "
                               "chose the local port equal to the destination port, and the "
                               "socket connected to itself. A client that retries connect() in "
                               "a loop while its local server restarts can hit this by chance."),
                  .expect = {{.local_port = port2, .remote_port = port2, .state = "ESTABLISHED",
                              .count = 1}},
                  .verify = [&](const Result&) {
                      return local_port_of(client.get()) == port2
                                 ? std::string()
                                 : std::string(_("the local port should be the destination port"));
                  }},
                 [&] { return Result::of(::connect(client.get(), ep2.sa(), ep2.len)); });

        UniqueFd server;
        lab.step({.title = _("The real server starts: EADDRINUSE"),
                  .call = fmt::format("socket(); setsockopt(SO_REUSEADDR); bind({})", ep2.str()),
                  .explain = _("The server's port is taken by the client's connection to itself. "
                               "The fix: servers listen on ports outside ip_local_port_range (or "
                               "list them in net.ipv4.ip_local_reserved_ports), and a client "
                               "checks that getsockname() differs from getpeername()."),
                  .expect = {{.local_port = port2, .remote_port = port2, .state = "ESTABLISHED"}},
                  .fails_with = EADDRINUSE},
                 [&] {
                     server.reset(::socket(ep2.family, SOCK_STREAM, 0));
                     if (!server) return Result::of(-1);
                     set_int_option(server.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
                     return Result::of(::bind(server.get(), ep2.sa(), ep2.len));
                 });

        lab.step({.title = _("Close the accidental connection"),
                  .call = fmt::format("close({}); close({})", client.get(), server.get()),
                  .explain = _("Again CLOSING, then TIME_WAIT, on the one port."),
                  .expect = {{.local_port = port2, .remote_port = port2, .state = "TIME_WAIT"}}},
                 [&] {
                     const int a = ::close(client.release());
                     const int b = ::close(server.release());
                     return Result::of(a != 0 ? a : b);
                 });
    });
}
