// Lab 23 — dual stack: an IPv6 listener on [::] also takes IPv4 connections, whose peers it
// sees as v4-mapped addresses (::ffff:a.b.c.d), unless IPV6_V6ONLY is set; then an IPv4
// listener can share the port.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include <fmt/format.h>

#include "labkit.hpp"
#include "socklab/i18n.hpp"

using namespace socklab;
using namespace socklab::lab;

namespace {
// The peer address accept() reported, as text ("::ffff:127.0.0.1", "::1", "127.0.0.1").
std::string peer_text(const sockaddr_storage& ss) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET6)
        ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr, buf, sizeof buf);
    else
        ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, buf, sizeof buf);
    return buf;
}

UniqueFd listener6(const Endpoint& any6, int v6only) {
    UniqueFd fd(::socket(AF_INET6, SOCK_STREAM, 0));
    if (!fd) return fd;
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) != 0 ||
        ::bind(fd.get(), any6.sa(), any6.len) != 0 || ::listen(fd.get(), 16) != 0)
        return UniqueFd();
    return fd;
}

struct Accepted {
    UniqueFd client, server;
    std::uint16_t client_port = 0;
    std::string peer;
};

// connect() from `family` to `to`, then accept() on `listener`: the peer as accept() saw it.
Result connect_and_accept(int family, const Endpoint& to, int listener, Accepted& a) {
    a.client.reset(::socket(family, SOCK_STREAM, 0));
    if (!a.client || ::connect(a.client.get(), to.sa(), to.len) != 0) return Result::of(-1);
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    a.server.reset(::accept(listener, reinterpret_cast<sockaddr*>(&peer), &len));
    if (!a.server) return Result::of(-1);
    a.client_port = local_port_of(a.client.get());
    a.peer = peer_text(peer);
    return Result::of(a.server.get(),
                      i18n::format(_("accept() says the peer is {} port {} ({})"), a.peer,
                                   a.client_port,
                                   peer.ss_family == AF_INET6 ? "AF_INET6" : "AF_INET"));
}
}  // namespace

int main(int argc, char** argv) {
    Lab runner("dual-stack", argc, argv);
    return runner.run(9, [](Lab& lab) {
        const auto port = lab.port();
        const Endpoint any6 = Endpoint::parse("::", port);
        const Endpoint loop6 = Endpoint::parse("::1", port);
        const Endpoint any4 = Endpoint::parse("0.0.0.0", port);
        const Endpoint loop4 = Endpoint::parse("127.0.0.1", port);
        UniqueFd dual, only6, only4, refused, clash;
        Accepted a6, a4, b4;

        lab.step({.title = _("An IPv6 listener on [::], IPV6_V6ONLY off"),
                  .call = fmt::format("socket(AF_INET6); setsockopt(IPV6_V6ONLY, 0); bind({}); "
                                      "listen(fd, 16)",
                                      any6.str()),
                  .explain = _("[::] is every IPv6 address. With IPV6_V6ONLY off — the default "
                               "while net.ipv6.bindv6only is 0 — the socket is dual-stack: it "
                               "also takes IPv4 connections to any IPv4 address (ipv6(7))."),
                  .expect = {{.local_port = port, .state = "LISTEN", .count = 1}}},
                 [&] {
                     dual = listener6(any6, 0);
                     return Result::of(dual ? 0 : -1);
                 });

        lab.step({.title = _("An IPv6 client connects to [::1]"),
                  .call = fmt::format("socket(AF_INET6); connect({}); accept()", loop6.str()),
                  .explain = _("A plain IPv6 connection over loopback ::1."),
                  .expect = {},
                  .verify = [&](const Result&) {
                      return a6.peer == "::1" ? std::string()
                                              : i18n::format(_("the peer is {}, not ::1"), a6.peer);
                  },
                  .expect_after = [&] {
                      return std::vector<Expect>{
                          {.local_port = port, .remote_port = a6.client_port, .state = "ESTABLISHED"}};
                  }},
                 [&] { return connect_and_accept(AF_INET6, loop6, dual.get(), a6); });

        lab.step({.title = _("An IPv4 client connects to 127.0.0.1"),
                  .call = fmt::format("socket(AF_INET); connect({}); accept()", loop4.str()),
                  .explain = i18n::format(
                      _("The IPv6 listener took it. An IPv6 socket can only hold IPv6 "
                        "addresses, so the IPv4 peer 127.0.0.1 appears as the v4-mapped address "
                        "::ffff:127.0.0.1 (RFC 4291 §2.5.5.2); on the wire this is plain IPv4. "
                        "`ss` shows the server's side as [::ffff:127.0.0.1]:{}. Code that "
                        "compares peer addresses with \"127.0.0.1\" must handle the mapped "
                        "form."),
                      port),
                  .expect = {},
                  .verify = [&](const Result&) {
                      return a4.peer == "::ffff:127.0.0.1"
                                 ? std::string()
                                 : i18n::format(_("the peer is {}, not ::ffff:127.0.0.1"), a4.peer);
                  },
                  .expect_after = [&] {
                      return std::vector<Expect>{
                          {.local_port = port, .remote_port = a4.client_port, .state = "ESTABLISHED"},
                          {.local_port = a4.client_port, .remote_port = port,
                           .state = "ESTABLISHED"}};
                  }},
                 [&] { return connect_and_accept(AF_INET, loop4, dual.get(), a4); });

        lab.step({.title = _("Replace it by an IPv6-only listener"),
                  .call = fmt::format("close({}); socket(AF_INET6); setsockopt(IPV6_V6ONLY, 1); "
                                      "bind({}); listen(fd, 16)",
                                      dual.get(), any6.str()),
                  .explain = _("With IPV6_V6ONLY on, [::] means IPv6 addresses only. (The two "
                               "accepted connections stay: closing a listener does not touch "
                               "connections already accepted.)"),
                  .expect = {{.local_port = port, .state = "LISTEN", .count = 1},
                             {.local_port = port, .remote_port = a4.client_port,
                              .state = "ESTABLISHED"}}},
                 [&] {
                     dual.reset();
                     only6 = listener6(any6, 1);
                     return Result::of(only6 ? 0 : -1);
                 });

        lab.step({.title = _("The IPv4 client tries again: ECONNREFUSED"),
                  .call = fmt::format("socket(AF_INET); connect({})", loop4.str()),
                  .explain = _("No socket listens for IPv4 on the port any more: RST, "
                               "ECONNREFUSED."),
                  .expect = {{.local_port = port, .state = "LISTEN", .count = 1}},
                  .fails_with = ECONNREFUSED},
                 [&] {
                     refused.reset(::socket(AF_INET, SOCK_STREAM, 0));
                     if (!refused) return Result::of(-1);
                     return Result::of(::connect(refused.get(), loop4.sa(), loop4.len));
                 });

        lab.step({.title = _("An IPv4 listener shares the port"),
                  .call = fmt::format("socket(AF_INET); bind({}); listen(fd, 16)", any4.str()),
                  .explain = i18n::format(
                      _("0.0.0.0:{0} and an IPv6-only [::]:{0} do not overlap, so both may "
                        "listen: two LISTEN rows on one port, one per family."),
                      port),
                  .expect = {{.local_port = port, .state = "LISTEN", .count = 2}}},
                 [&] {
                     only4.reset(::socket(AF_INET, SOCK_STREAM, 0));
                     if (!only4) return Result::of(-1);
                     const int one = 1;
                     ::setsockopt(only4.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                     if (::bind(only4.get(), any4.sa(), any4.len) != 0) return Result::of(-1);
                     return Result::of(::listen(only4.get(), 16));
                 });

        lab.step({.title = _("A dual-stack listener next to them: EADDRINUSE"),
                  .call = fmt::format("socket(AF_INET6); setsockopt(IPV6_V6ONLY, 0); "
                                      "setsockopt(SO_REUSEADDR); bind({})",
                                      any6.str()),
                  .explain = _("A dual-stack [::] covers 0.0.0.0 too, which is taken by a "
                               "listener: EADDRINUSE, SO_REUSEADDR or not. This is why a server "
                               "that opens both an IPv4 and an IPv6 listener sets IPV6_V6ONLY on "
                               "the IPv6 one — or opens only a dual-stack one."),
                  .expect = {{.local_port = port, .state = "LISTEN", .count = 2}},
                  .fails_with = EADDRINUSE},
                 [&] {
                     clash.reset(::socket(AF_INET6, SOCK_STREAM, 0));
                     if (!clash) return Result::of(-1);
                     const int zero = 0, one = 1;
                     ::setsockopt(clash.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                     ::setsockopt(clash.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
                     return Result::of(::bind(clash.get(), any6.sa(), any6.len));
                 });

        lab.step({.title = _("IPv4 now reaches the IPv4 listener"),
                  .call = fmt::format("socket(AF_INET); connect({}); accept()", loop4.str()),
                  .explain = _("The peer is a plain AF_INET 127.0.0.1 this time."),
                  .expect = {},
                  .verify = [&](const Result&) {
                      return b4.peer == "127.0.0.1"
                                 ? std::string()
                                 : i18n::format(_("the peer is {}, not 127.0.0.1"), b4.peer);
                  },
                  .expect_after = [&] {
                      return std::vector<Expect>{
                          {.local_port = port, .remote_port = b4.client_port, .state = "ESTABLISHED"}};
                  }},
                 [&] { return connect_and_accept(AF_INET, loop4, only4.get(), b4); });

        lab.step({.title = _("The clients close, then everything else"),
                  .call = _("close() every descriptor, clients first"),
                  .explain = _("The clients sent the first FIN: their TIME_WAITs stay, IPv6 and "
                               "IPv4 alike."),
                  .expect = {{.local_port = port, .state = "LISTEN", .absent = true}},
                  .expect_after = [&] {
                      return std::vector<Expect>{
                          {.local_port = a6.client_port, .remote_port = port, .state = "TIME_WAIT"},
                          {.local_port = a4.client_port, .remote_port = port, .state = "TIME_WAIT"},
                          {.local_port = b4.client_port, .remote_port = port, .state = "TIME_WAIT"}};
                  }},
                 [&] {
                     for (auto* a : {&a6, &a4, &b4}) a->client.reset();
                     for (auto* a : {&a6, &a4, &b4}) a->server.reset();
                     clash.reset();
                     refused.reset();
                     only4.reset();
                     only6.reset();
                     return Result::of(0);
                 });
    });
}
