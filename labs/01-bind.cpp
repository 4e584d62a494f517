// Lab 1 — socket + bind: a bound socket is not yet listening; binding alone creates nothing
// to connect to.
#include <netinet/tcp.h>
#include <unistd.h>

#include <fmt/format.h>

#include "labkit.hpp"
#include "socklab/i18n.hpp"

using namespace socklab;
using namespace socklab::lab;

int main(int argc, char** argv) {
    Lab runner("bind", argc, argv);
    return runner.run(5, [](Lab& lab) {
        const Endpoint server = lab.endpoint();
        const auto port = lab.port();
        UniqueFd s;

        lab.step({.title = _("Create a TCP socket"),
                  .call = fmt::format("socket({}, SOCK_STREAM, 0)", server.family_name()),
                  .explain = socklab::i18n::format(_("The kernel made a socket and gave us a descriptor, nothing more: "
                             "it has no address and no port yet, so the table shows nothing "
                             "on port {}."), port),
                  .expect = {{.local_port = port, .state = "LISTEN", .absent = true}}},
                 [&] {
                     s.reset(::socket(server.family, SOCK_STREAM, 0));
                     return Result::of(s.get());
                 });

        lab.step({.title = socklab::i18n::format(_("Bind it to {}"), server.str()),
                  .call = describe_socket_call("bind", s.get(), server),
                  .explain = _("bind() reserved the address and port for this socket: bound, but "
                             "neither listening nor connected. ") + bound_only_text(),
                  .expect = concat(expect_bound_only(port),
                                   {{.local_port = port, .state = "LISTEN", .absent = true}})},
                 [&] { return Result::of(::bind(s.get(), server.sa(), server.len)); });

        lab.step({.title = _("Ask the socket its own state"),
                  .call = fmt::format("getsockopt({}, IPPROTO_TCP, TCP_INFO, &info, &len)",
                                      s.get()),
                  .explain = _("TCP_INFO reports the socket's TCP state: CLOSE. Binding moves no "
                             "TCP state; only listen() or connect() do."),
                  .expect = expect_bound_only(port),
                  .verify = [](const Result& r) {
                      return r.detail == "tcpi_state = CLOSE" ? std::string()
                                                               : _("TCP_INFO should say CLOSE");
                  }},
                 [&] {
                     tcp_info info{};
                     socklen_t len = sizeof info;
                     const int rc = ::getsockopt(s.get(), IPPROTO_TCP, TCP_INFO, &info, &len);
                     return Result::of(rc, "tcpi_state = " + tcp_info_state(s.get()));
                 });

        UniqueFd c;
        lab.step({.title = _("Try to connect to the bound port"),
                  .call = fmt::format("connect({}, {})", _("<new socket>"), server.str()),
                  .explain = _("Nothing listens on the port, so the kernel answered the SYN with "
                             "RST and connect() failed with ECONNREFUSED. A bound socket is not "
                             "something you can connect to."),
                  .expect = concat(expect_bound_only(port),
                                   {{.local_port = port, .state = "ESTABLISHED", .absent = true}}),
                  .fails_with = ECONNREFUSED},
                 [&] {
                     c.reset(::socket(server.family, SOCK_STREAM, 0));
                     return Result::of(::connect(c.get(), server.sa(), server.len));
                 });

        lab.step({.title = _("Close the bound socket"),
                  .call = fmt::format("close({})", s.get()),
                  .explain = _("The port is free again at once: a socket that never connected "
                             "leaves no TIME_WAIT behind. (The lab checks it with a fresh bind() "
                             "of the same port, without SO_REUSEADDR.)"),
                  .expect = concat(bound_sockets_listed()
                                       ? std::vector<Expect>{{.local_port = port,
                                                              .state = "BOUND_INACTIVE",
                                                              .absent = true}}
                                       : std::vector<Expect>{},
                                   {{.local_port = port, .state = "TIME_WAIT", .absent = true}}),
                  .verify = [](const Result& r) {
                      return r.detail == _("then bind() of a new socket to the port: 0")
                                 ? std::string()
                                 : _("the port should be free for a new bind()");
                  }},
                 [&] {
                     const int rc = ::close(s.release());
                     UniqueFd probe(::socket(server.family, SOCK_STREAM, 0));
                     const int b = ::bind(probe.get(), server.sa(), server.len);
                     const int err = errno;
                     return Result::of(rc, b == 0 ? _("then bind() of a new socket to the port: 0")
                                                  : socklab::i18n::format(_("then bind() of a new socket to the port: -1 {}"),
                                                        errno_name(err)));
                 });
    });
}
