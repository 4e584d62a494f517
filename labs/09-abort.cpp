// Lab 9 — abort: SO_LINGER {1, 0}, or close() with unread data, resets the connection: the
// peer gets ECONNRESET and no TIME_WAIT is left anywhere.
#include <poll.h>
#include <unistd.h>

#include <fmt/format.h>

#include "labkit.hpp"
#include "socklab/i18n.hpp"

using namespace socklab;
using namespace socklab::lab;

namespace {
// recv() once the RST has arrived (bounded wait), so the error is there to be read.
Result recv_after_rst(int fd) {
    pollfd p{fd, POLLIN, 0};
    (void)::poll(&p, 1, 2000);
    char buf[64];
    return Result::of(::recv(fd, buf, sizeof buf, MSG_DONTWAIT));
}
}  // namespace

int main(int argc, char** argv) {
    Lab runner("abort", argc, argv);
    return runner.run(10, [](Lab& lab) {
        const auto port = lab.port();
        Connection c = connect_pair(lab);
        const auto cport = c.client_port;

        lab.step({.title = _("Ask for an abortive close: SO_LINGER {on, 0 s}"),
                  .call = fmt::format("setsockopt({}, SOL_SOCKET, SO_LINGER, {{1, 0}})",
                                      c.client.get()),
                  .explain = _("Linger on with a timeout of 0 tells close() not to shut down "
                             "gracefully but to throw the connection away: the sockets API's "
                             "way to ask for TCP's ABORT (UNP §7.5; RFC 9293 §3.10.5)."),
                  .expect = {{.local_port = cport, .remote_port = port, .state = "ESTABLISHED"}}},
                 [&] {
                     const linger l{1, 0};
                     return Result::of(
                         ::setsockopt(c.client.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l));
                 });

        lab.step({.title = _("close() sends RST"),
                  .call = fmt::format("close({})", c.client.get()),
                  .explain = _("No FIN, no FIN_WAIT, no TIME_WAIT: the client's kernel sent RST "
                             "and forgot the connection. The server's side was torn down by the "
                             "RST too; its descriptor still exists, in state CLOSE."),
                  .expect = {{.local_port = cport, .remote_port = port, .state = "TIME_WAIT",
                              .absent = true},
                             {.local_port = port, .remote_port = cport, .state = "ESTABLISHED",
                              .absent = true}}},
                 [&] { return Result::of(::close(c.client.release())); });

        lab.step({.title = _("The server reads: ECONNRESET"),
                  .call = fmt::format("recv({}, buf, 64, MSG_DONTWAIT)", c.server.get()),
                  .explain = _("\"Connection reset by peer\": the error a program sees when the "
                             "other side aborted (or crashed with unread data, see below)."),
                  .expect = {},
                  .fails_with = ECONNRESET},
                 [&] { return recv_after_rst(c.server.get()); });

        lab.step({.title = _("Close the reset socket"),
                  .call = fmt::format("close({})", c.server.get()),
                  .explain = _("Nothing left in the table for this connection, on either side."),
                  .expect = {{.local_port = port, .remote_port = cport, .state = "TIME_WAIT",
                              .absent = true}}},
                 [&] { return Result::of(::close(c.server.release())); });

        Pair second = connect_again(lab, c.listener.get(), _("A second connection"),
                                    _("Now the other way to send RST: close() with unread data."));
        UniqueFd& client2 = second.client;
        UniqueFd& conn2 = second.server;
        const std::uint16_t cport2 = second.client_port;

        lab.step({.title = _("The client sends a request the server will never read"),
                  .call = fmt::format("send({}, \"unread\", 6, 0)", client2.get()),
                  .explain = _("6 bytes wait in the server socket's receive queue."),
                  .expect = {{.local_port = port, .remote_port = cport2, .state = "ESTABLISHED",
                              .recv_q = 6}}},
                 [&] { return Result::of(::send(client2.get(), "unread", 6, 0)); });

        lab.step({.title = _("The server closes with unread data"),
                  .call = fmt::format("close({})", conn2.get()),
                  .explain = _("Data the program never read would be lost without a word, so the "
                             "kernel does not pretend this was a clean close: it sends RST, not "
                             "FIN (RFC 9293 §3.6.1, RFC 2525 §2.17). No TIME_WAIT on the server."),
                  .expect = {{.local_port = port, .remote_port = cport2, .state = "TIME_WAIT",
                              .absent = true},
                             {.local_port = cport2, .remote_port = port, .state = "ESTABLISHED",
                              .absent = true}}},
                 [&] { return Result::of(::close(conn2.release())); });

        lab.step({.title = _("The client reads: ECONNRESET"),
                  .call = fmt::format("recv({}, buf, 64, MSG_DONTWAIT)", client2.get()),
                  .explain = _("The client learns its request was thrown away."),
                  .expect = {},
                  .fails_with = ECONNRESET},
                 [&] { return recv_after_rst(client2.get()); });

        lab.step({.title = _("Close the client"),
                  .call = fmt::format("close({})", client2.get()),
                  .explain = _("An aborted connection leaves nothing behind: no TIME_WAIT, "
                             "anywhere."),
                  .expect = {{.local_port = cport2, .remote_port = port, .state = "TIME_WAIT",
                              .absent = true}}},
                 [&] { return Result::of(::close(client2.release())); });
    });
}
