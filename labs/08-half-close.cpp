// Lab 8 — half-close: shutdown(SHUT_WR) sends FIN but keeps the socket open for reading.
// FIN_WAIT2 on one side, CLOSE_WAIT on the other — and the CLOSE_WAIT side can still send.
// The TIME_WAIT that follows is a new, ownerless mini-socket; the descriptor's socket is CLOSE.
#include <poll.h>
#include <unistd.h>

#include <fmt/format.h>

#include "labkit.hpp"
#include "socklab/i18n.hpp"

using namespace socklab;
using namespace socklab::lab;

int main(int argc, char** argv) {
    Lab runner("half-close", argc, argv);
    return runner.run(7, [](Lab& lab) {
        const auto port = lab.port();
        Connection c = connect_pair(lab);
        const auto cport = c.client_port;
        const int cfd = c.client.get(), sfd = c.server.get();

        lab.step({.title = _("The client is done sending: shutdown(SHUT_WR)"),
                  .call = fmt::format("shutdown({}, SHUT_WR)", cfd),
                  .explain = _("Like close(), shutdown(SHUT_WR) sends FIN — but the client keeps "
                             "its descriptor and can still read. FIN_WAIT2 on the client (not "
                             "orphaned, so no timeout), CLOSE_WAIT on the server. This is how a "
                             "client says \"that was my whole request\" (think `nc -N`)."),
                  .expect = {{.local_port = cport, .remote_port = port, .state = "FIN_WAIT2"},
                             {.local_port = port, .remote_port = cport, .state = "CLOSE_WAIT"}}},
                 [&] { return Result::of(::shutdown(cfd, SHUT_WR)); });

        lab.step({.title = _("The server reads the end of the request"),
                  .call = fmt::format("recv({}, buf, 4096, 0)", sfd),
                  .explain = _("0: end of the client's stream. The server knows the request is "
                             "complete, without any length field."),
                  .expect = {{.local_port = port, .remote_port = cport, .state = "CLOSE_WAIT"}},
                  .verify = [](const Result& r) {
                      return r.value == 0 ? std::string() : _("recv() should return 0");
                  }},
                 [&] {
                     char buf[4096];
                     return Result::of(::recv(sfd, buf, sizeof buf, 0));
                 });

        lab.step({.title = _("CLOSE_WAIT can still send: the server answers"),
                  .call = socklab::i18n::format(_("send({}, \"answer after your FIN\", 21, 0)"), sfd),
                  .explain = _("CLOSE_WAIT means \"the peer will send no more\", not \"the "
                             "connection is over\": here it is normal, because this server "
                             "still has an answer to send. (The bug of lab 7 is a CLOSE_WAIT "
                             "that sits idle for a long time.) The answer waits in the "
                             "client's receive queue (Recv-Q 21)."),
                  .expect = {{.local_port = cport, .remote_port = port, .state = "FIN_WAIT2",
                              .recv_q = 21}}},
                 [&] { return Result::of(::send(sfd, _("answer after your FIN"), 21, 0)); });

        lab.step({.title = _("The half-closed client reads the answer"),
                  .call = fmt::format("recv({}, buf, 4096, 0)", cfd),
                  .explain = _("Shutting down writing did not stop reading."),
                  .expect = {{.local_port = cport, .remote_port = port, .state = "FIN_WAIT2",
                              .recv_q = 0}},
                  .verify = [](const Result& r) {
                      return r.value == 21 ? std::string() : _("expected the 21-byte answer");
                  }},
                 [&] {
                     char buf[4096];
                     const auto n = ::recv(cfd, buf, sizeof buf, 0);
                     return Result::of(n, n > 0 ? fmt::format("\"{}\"", std::string(buf, static_cast<std::size_t>(n)))
                                                : std::string());
                 });

        lab.step({.title = _("The server closes"),
                  .call = fmt::format("close({})", sfd),
                  .explain = _("The server's FIN (via LAST_ACK) ends the exchange. The client "
                             "sent the first FIN, so its end of the connection is now TIME_WAIT "
                             "— but look at the OWNER column: the TIME_WAIT row has no "
                             "descriptor (inode 0). The kernel replaced the client's socket by "
                             "a timewait mini-socket; the socket the client still holds is "
                             "CLOSE, as TCP_INFO on it says."),
                  .expect = {{.local_port = cport, .remote_port = port, .state = "TIME_WAIT",
                              .kernel_only = true},
                             {.local_port = port, .remote_port = cport, .state = "CLOSE_WAIT",
                              .absent = true}},
                  .verify = [](const Result& r) {
                      return r.detail == _("client's own socket: tcpi_state = CLOSE")
                                 ? std::string()
                                 : _("TCP_INFO of the client's socket should say CLOSE");
                  }},
                 [&] {
                     const int rc = ::close(c.server.release());
                     // The FIN reaches the client within microseconds; wait for it (bounded)
                     // before asking the client's socket for its state.
                     pollfd p{cfd, POLLIN, 0};
                     (void)::poll(&p, 1, 2000);
                     for (int i = 0; i < 200 && tcp_info_state(cfd) != "CLOSE"; ++i)
                         (void)::poll(nullptr, 0, 5);
                     return Result::of(rc, socklab::i18n::format(_("client's own socket: tcpi_state = {}"),
                                               tcp_info_state(cfd)));
                 });

        lab.step({.title = _("The client reads EOF and closes"),
                  .call = fmt::format("recv({0}, buf, 4096, 0) == 0; close({0})", cfd),
                  .explain = _("close() on the CLOSE socket changes nothing in the table: the "
                             "TIME_WAIT mini-socket was never this descriptor's, and it stays "
                             "for its 60 s either way."),
                  .expect = {{.local_port = cport, .remote_port = port, .state = "TIME_WAIT"}}},
                 [&] {
                     char buf[16];
                     const auto n = ::recv(cfd, buf, sizeof buf, 0);
                     if (n != 0) return Result::of(-1, "(expected EOF)");
                     return Result::of(::close(c.client.release()));
                 });
    });
}
