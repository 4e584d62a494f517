// Lab 7 — the CLOSE_WAIT leak: a server that ignores recv() == 0 keeps the socket in
// CLOSE_WAIT (nothing but close() or a peer's RST ends it), while the other side's orphaned
// FIN_WAIT2 times out. Then the fix.
// The client half-closes before it closes: an orphan whose FIN was acknowledged before
// close() always expires silently; one that reached FIN_WAIT2 on the keepalive-timer path
// sends RST at expiry and would end the CLOSE_WAIT early (tcp_keepalive_timer).
// Writing to a peer that is gone gives EPIPE (and SIGPIPE, unless MSG_NOSIGNAL).
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <fmt/format.h>

#include "labkit.hpp"
#include "socklab/i18n.hpp"

using namespace socklab;
using namespace socklab::lab;

int main(int argc, char** argv) {
    Lab runner("close-wait-leak", argc, argv);
    return runner.run(12, [](Lab& lab) {
        const auto port = lab.port();
        constexpr int kLinger2 = 1;
        Connection c = connect_pair(lab);
        const auto cport = c.client_port;

        lab.step({.title = _("Shorten the client's orphan timeout to 1 s"),
                  .call = fmt::format("setsockopt({}, IPPROTO_TCP, TCP_LINGER2, {})",
                                      c.client.get(), kLinger2),
                  .explain = _("An orphaned FIN_WAIT2 (its program closed it, the peer has not "
                             "sent FIN) lives tcp_fin_timeout seconds, 60 by default. "
                             "TCP_LINGER2 sets it for this socket, so the lab does not take a "
                             "minute."),
                  .expect = {{.local_port = cport, .remote_port = port, .state = "ESTABLISHED"}}},
                 [&] {
                     const int v = kLinger2;
                     return Result::of(::setsockopt(c.client.get(), IPPROTO_TCP, TCP_LINGER2, &v,
                                                    sizeof v));
                 });

        lab.step({.title = _("The client is done: it sends FIN with shutdown(SHUT_WR)"),
                  .call = fmt::format("shutdown({}, SHUT_WR)", c.client.get()),
                  .explain = _("Client FIN_WAIT2 (its FIN was acknowledged), server CLOSE_WAIT: "
                             "the server's kernel waits for the server program to close. The "
                             "client still holds its descriptor, so no timer runs on its "
                             "FIN_WAIT2 yet."),
                  .expect = {{.local_port = cport, .remote_port = port, .state = "FIN_WAIT2"},
                             {.local_port = port, .remote_port = cport, .state = "CLOSE_WAIT"}}},
                 [&] { return Result::of(::shutdown(c.client.get(), SHUT_WR)); });

        lab.step({.title = _("The leaky server reads 0 — and ignores it"),
                  .call = fmt::format("recv({}, buf, 4096, 0)", c.server.get()),
                  .explain = _("recv() == 0 means \"the peer closed\". The bug: this server just "
                             "goes on (maybe it only checks for -1) and never calls close(). "
                             "Its socket will sit in CLOSE_WAIT until something ends it; "
                             "enough of them and the program runs out of descriptors."),
                  .expect = {{.local_port = port, .remote_port = cport, .state = "CLOSE_WAIT"}},
                  .verify = [](const Result& r) {
                      return r.value == 0 ? std::string() : _("recv() should return 0");
                  }},
                 [&] {
                     char buf[4096];
                     return Result::of(::recv(c.server.get(), buf, sizeof buf, 0));
                 });

        lab.step({.title = _("The client closes its descriptor"),
                  .call = fmt::format("close({})", c.client.get()),
                  .explain = _("The FIN_WAIT2 is now an orphan: the kernel swapped the socket for "
                             "a timewait mini-socket (no descriptor, inode 0) that lives "
                             "TCP_LINGER2 seconds. Because the FIN was acknowledged before "
                             "close(), this ending is certain. Had close() sent the FIN itself, "
                             "the ACK could arrive while close() still held the socket; the "
                             "kernel then times the orphan with its keepalive timer, and when "
                             "that timer fires the orphan sends RST — which would end the "
                             "server's CLOSE_WAIT too."),
                  .expect = {{.local_port = cport, .remote_port = port, .state = "FIN_WAIT2",
                              .kernel_only = true},
                             {.local_port = port, .remote_port = cport, .state = "CLOSE_WAIT"}}},
                 [&] { return Result::of(::close(c.client.release())); });

        lab.step({.title = _("Wait: the client's FIN_WAIT2 times out, CLOSE_WAIT does not"),
                  .call = _("(no call: wait up to 10 s for the FIN_WAIT2 timer)"),
                  .explain = _("The orphaned FIN_WAIT2 gave up after its 1 s and vanished "
                             "silently. The server's CLOSE_WAIT has no timer at all: only "
                             "close() — or an RST from the peer — ends it. That asymmetry is "
                             "why leaks show up as piles of CLOSE_WAIT."),
                  .expect = {{.local_port = cport, .remote_port = port, .state = "FIN_WAIT2",
                              .absent = true},
                             {.local_port = port, .remote_port = cport, .state = "CLOSE_WAIT"}},
                  .wait = std::chrono::seconds(10)},
                 [&] { return Result::note(_("(waiting)")); });

        lab.step({.title = _("The server writes to the vanished client"),
                  .call = socklab::i18n::format(_("send({}, \"late reply\", 10, MSG_NOSIGNAL)"),
                                      c.server.get()),
                  .explain = _("send() succeeded: it only queues bytes. The client's end is gone, "
                             "so its kernel answered the data with RST, and the RST finished "
                             "our socket: it left CLOSE_WAIT for CLOSE and left the table."),
                  .expect = {{.local_port = port, .remote_port = cport, .state = "CLOSE_WAIT",
                              .absent = true}}},
                 [&] {
                     return Result::of(::send(c.server.get(), _("late reply"), 10, MSG_NOSIGNAL));
                 });

        lab.step({.title = _("The server writes again"),
                  .call = fmt::format("send({}, \"hello?\", 6, MSG_NOSIGNAL)", c.server.get()),
                  .explain = _("EPIPE: the connection is dead. Without MSG_NOSIGNAL (or SIGPIPE "
                             "ignored) the kernel would also send SIGPIPE, whose default action "
                             "kills the process — a classic surprise crash of servers."),
                  .expect = {},
                  .fails_with = EPIPE},
                 [&] {
                     // The RST may still be on its way from the last step: wait for it (bounded).
                     pollfd p{c.server.get(), POLLERR, 0};
                     (void)::poll(&p, 1, 2000);
                     return Result::of(::send(c.server.get(), "hello?", 6, MSG_NOSIGNAL));
                 });

        lab.step({.title = _("Close the dead socket"),
                  .call = fmt::format("close({})", c.server.get()),
                  .explain = _("Only now is the descriptor free. Now the fix."),
                  .expect = {{.local_port = port, .state = "LISTEN"}}},
                 [&] { return Result::of(::close(c.server.release())); });

        Pair second = connect_again(lab, c.listener.get(), _("A second connection, for the fixed server"),
                                    _("Same listener, a new client port."));
        UniqueFd& client2 = second.client;
        UniqueFd& conn2 = second.server;
        const std::uint16_t cport2 = second.client_port;

        lab.step({.title = _("The client closes"),
                  .call = fmt::format("close({})", client2.get()),
                  .explain = _("This time the client just calls close(): FIN_WAIT2 on the client "
                             "(an orphan at once, with the default 60 s timeout), CLOSE_WAIT on "
                             "the server."),
                  .expect = {{.local_port = cport2, .remote_port = port, .state = "FIN_WAIT2"},
                             {.local_port = port, .remote_port = cport2, .state = "CLOSE_WAIT"}}},
                 [&] { return Result::of(::close(client2.release())); });

        lab.step({.title = _("The fixed server: recv() == 0, so close()"),
                  .call = fmt::format("recv({0}, buf, 4096, 0) == 0 → close({0})", conn2.get()),
                  .explain = _("The fix is one line: when recv() returns 0, close the socket. The "
                             "server passes through LAST_ACK, the client ends in TIME_WAIT, and "
                             "no CLOSE_WAIT is left."),
                  .expect = {{.local_port = port, .remote_port = cport2, .state = "CLOSE_WAIT",
                              .absent = true},
                             {.local_port = cport2, .remote_port = port, .state = "TIME_WAIT"}}},
                 [&] {
                     char buf[4096];
                     const auto n = ::recv(conn2.get(), buf, sizeof buf, 0);
                     if (n != 0) return Result::of(n < 0 ? -1 : n, "(expected 0)");
                     return Result::of(::close(conn2.release()));
                 });
    });
}
