// Lab 6 — "Address already in use": restart a server while TIME_WAIT holds its port. bind()
// fails with EADDRINUSE unless the old and the new server both set SO_REUSEADDR (Linux rule).
#include <unistd.h>

#include <fmt/format.h>

#include "labkit.hpp"
#include "socklab/i18n.hpp"

using namespace socklab;
using namespace socklab::lab;

int main(int argc, char** argv) {
    Lab runner("address-in-use", argc, argv);
    return runner.run(9, [](Lab& lab) {
        const Endpoint server = lab.endpoint();
        const auto port = lab.port();
        // The old server sets SO_REUSEADDR on its listener (connect_pair does); accepted
        // sockets inherit it, and so does the TIME_WAIT they leave.
        Connection old = connect_pair(lab);
        const auto cport = old.client_port;

        lab.step({.title = _("The server closes its connection first"),
                  .call = fmt::format("close({})", old.server.get()),
                  .explain = _("Servers often close first (HTTP/1.0, a timeout, a shutdown). The "
                             "server side is now FIN_WAIT2 and the client CLOSE_WAIT."),
                  .expect = {{.local_port = port, .remote_port = cport, .state = "FIN_WAIT2"},
                             {.local_port = cport, .remote_port = port, .state = "CLOSE_WAIT"}}},
                 [&] { return Result::of(::close(old.server.release())); });

        lab.step({.title = _("The client closes too"),
                  .call = fmt::format("close({})", old.client.get()),
                  .explain = socklab::i18n::format(_("The side that sent the first FIN — the server — is now TIME_WAIT, "
                             "and "
                             "that TIME_WAIT has the server's own address and port: {}. It will "
                             "hold them for 60 s."), server.str()),
                  .expect = {{.local_port = port, .remote_port = cport, .state = "TIME_WAIT"}}},
                 [&] { return Result::of(::close(old.client.release())); });

        lab.step({.title = _("Stop the server (close its listener)"),
                  .call = fmt::format("close({})", old.listener.get()),
                  .explain = _("No process holds the port any more, yet the TIME_WAIT still uses "
                             "it: this is the moment a restarted server fails."),
                  .expect = {{.local_port = port, .state = "LISTEN", .absent = true},
                             {.local_port = port, .remote_port = cport, .state = "TIME_WAIT"}}},
                 [&] { return Result::of(::close(old.listener.release())); });

        UniqueFd plain;
        lab.step({.title = _("Restart without SO_REUSEADDR"),
                  .call = fmt::format("socket({}, SOCK_STREAM, 0) + bind(fd, {})",
                                      server.family_name(), server.str()),
                  .explain = socklab::i18n::format(_("EADDRINUSE: \"Address already in use\". Nothing listens, but the "
                             "TIME_WAIT entry still owns {} and a socket "
                             "without SO_REUSEADDR may not share it."), server.str()),
                  .expect = {{.local_port = port, .remote_port = cport, .state = "TIME_WAIT"}},
                  .fails_with = EADDRINUSE},
                 [&] {
                     plain.reset(::socket(server.family, SOCK_STREAM, 0));
                     return Result::of(::bind(plain.get(), server.sa(), server.len));
                 });

        UniqueFd fresh;
        lab.step({.title = _("Restart with SO_REUSEADDR"),
                  .call = fmt::format("socket() + setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1) + "
                                      "bind(fd, {})",
                                      server.str()),
                  .explain = _("Bound. Linux allows it because BOTH the new socket and the socket "
                             "that left the TIME_WAIT set SO_REUSEADDR; if the old server had "
                             "not set it, this bind() would fail too. Set it on every server. ") +
                             bound_only_text(),
                  .expect = concat(expect_bound_only(port),
                                   {{.local_port = port, .remote_port = cport,
                                     .state = "TIME_WAIT"}})},
                 [&] {
                     fresh.reset(::socket(server.family, SOCK_STREAM, 0));
                     set_int_option(fresh.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
                     return Result::of(::bind(fresh.get(), server.sa(), server.len),
                                       fmt::format("(fd {})", fresh.get()));
                 });

        UniqueFd twin;
        lab.step({.title = _("A second SO_REUSEADDR socket binds the same port"),
                  .call = fmt::format("socket() + setsockopt(SO_REUSEADDR) + bind(fd, {})",
                                      server.str()),
                  .explain = _("Also allowed: SO_REUSEADDR lets sockets share a port as long as "
                             "none of them is listening. It does not let two servers listen."),
                  .expect = expect_bound_only(port, 2)},
                 [&] {
                     twin.reset(::socket(server.family, SOCK_STREAM, 0));
                     set_int_option(twin.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
                     return Result::of(::bind(twin.get(), server.sa(), server.len),
                                       fmt::format("(fd {})", twin.get()));
                 });

        lab.step({.title = _("The restarted server listens"),
                  .call = fmt::format("listen({}, 16)", fresh.get()),
                  .explain = _("LISTEN, right beside the TIME_WAIT of the old connection: the "
                             "restart worked."),
                  .expect = {{.local_port = port, .state = "LISTEN"},
                             {.local_port = port, .remote_port = cport, .state = "TIME_WAIT"}}},
                 [&] { return Result::of(::listen(fresh.get(), 16)); });

        lab.step({.title = _("The second socket tries to listen too"),
                  .call = fmt::format("listen({}, 16)", twin.get()),
                  .explain = _("EADDRINUSE: only one socket may listen on an address and port "
                             "(SO_REUSEPORT, lab 14, is the option that shares a listening "
                             "port)."),
                  .expect = {{.local_port = port, .state = "LISTEN", .count = 1}},
                  .fails_with = EADDRINUSE},
                 [&] { return Result::of(::listen(twin.get(), 16)); });
    });
}
