// Lab 20 — connect() failures: ECONNREFUSED (a RST answers the SYN), ETIMEDOUT (nothing
// answers: a listener whose accept queue is full drops the SYN), and the non-blocking
// connect() that reports either through poll() and SO_ERROR.
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>

#include <fmt/format.h>

#include "labkit.hpp"
#include "socklab/i18n.hpp"

using namespace socklab;
using namespace socklab::lab;

namespace {
// Wait for a non-blocking connect() to finish (bounded), then read SO_ERROR: the outcome.
// value: milliseconds waited; err: SO_ERROR (0: connected).
Result wait_and_so_error(int fd, int timeout_ms, long& waited) {
    const auto t0 = std::chrono::steady_clock::now();
    pollfd p{fd, POLLOUT, 0};
    const int n = ::poll(&p, 1, timeout_ms);
    if (n < 0) return Result::of(-1);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - t0)
                        .count();
    if (n == 0) return Result::of(0, _("(poll timed out)"));
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return Result::of(-1);
    Result r;
    r.value = 0;
    r.err = err;
    r.detail = i18n::format(_("SO_ERROR {}, after {} ms in poll()"),
                            err ? errno_name(err) : std::string("0"), ms);
    waited = ms;
    return r;
}

// TCP_INFO's tcpi_total_retrans: the retransmissions this socket sent (kept after it closed).
int total_retrans(int fd) {
    tcp_info info{};
    socklen_t len = sizeof info;
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return -1;
    return static_cast<int>(info.tcpi_total_retrans);
}

}  // namespace

int main(int argc, char** argv) {
    Lab runner("connect-fail", argc, argv);
    return runner.run(9, [](Lab& lab) {
        const auto port = lab.port();
        const Endpoint ep = lab.endpoint();
        UniqueFd refused, listener, first, blocked, later, accepted;
        std::uint16_t first_port = 0, blocked_port = 0;
        long waited = 0;

        // ---- ECONNREFUSED ----
        lab.step({.title = _("connect() to a port where nothing listens"),
                  .call = fmt::format("socket(); {}", describe_socket_call("connect", 3, ep)),
                  .explain = _("The SYN reached a host (this one) with no socket listening on "
                               "the port; TCP answered with RST (RFC 9293 §3.10.7.1), and "
                               "connect() failed at once with ECONNREFUSED. On loopback it takes "
                               "microseconds; no socket is left behind."),
                  .expect = {{.local_port = port, .state = "LISTEN", .absent = true}},
                  .fails_with = ECONNREFUSED},
                 [&] {
                     refused.reset(::socket(ep.family, SOCK_STREAM, 0));
                     if (!refused) return Result::of(-1);
                     return Result::of(::connect(refused.get(), ep.sa(), ep.len));
                 });

        // ---- a SYN nobody answers ----
        lab.step({.title = _("A listener with backlog 0, never accepting"),
                  .call = fmt::format("socket(); bind({}); listen(fd, 0)", ep.str()),
                  .explain = _("The accept queue of listen(fd, 0) holds one connection (backlog "
                               "+ 1, lab 10)."),
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 0}}},
                 [&] {
                     listener.reset(::socket(ep.family, SOCK_STREAM, 0));
                     if (!listener) return Result::of(-1);
                     set_int_option(listener.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
                     if (::bind(listener.get(), ep.sa(), ep.len) != 0) return Result::of(-1);
                     return Result::of(::listen(listener.get(), 0));
                 });

        lab.step({.title = _("A first client fills the accept queue"),
                  .call = describe_socket_call("connect", 5, ep),
                  .explain = _("The handshake completed in the kernel; the connection waits in "
                               "the accept queue, which is now full (Recv-Q 1)."),
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 1}},
                  .expect_after = [&] {
                      return std::vector<Expect>{{.local_port = first_port, .remote_port = port,
                                                  .state = "ESTABLISHED"}};
                  }},
                 [&] {
                     first.reset(::socket(ep.family, SOCK_STREAM, 0));
                     if (!first) return Result::of(-1);
                     const int r = ::connect(first.get(), ep.sa(), ep.len);
                     first_port = local_port_of(first.get());
                     return Result::of(r);
                 });

        const int syn_retries = 1;
        const int linear = sysctl_int("/proc/sys/net/ipv4/tcp_syn_linear_timeouts", 0);
        // Linux turns the retry count into a time budget: what `syn_retries` retransmissions
        // take with exponential backoff from the initial RTO of 1 s, (2^(n+1) - 1) s
        // (tcp_model_timeout()), and gives up at the first retransmission timer past it. The
        // retransmissions themselves come 1 s apart for the first tcp_syn_linear_timeouts + 1
        // (Linux >= 6.5), then twice as far apart each time.
        const long budget_ms = ((2L << syn_retries) - 1) * 1000;
        int expected_retrans = 0;
        for (long k = 1, t = 0, rto = 1000; k < 64; ++k) {
            t += rto;
            if (t >= budget_ms) break;
            ++expected_retrans;
            if (k > linear) rto *= 2;
        }

        lab.step({.title = _("A non-blocking connect() with TCP_SYNCNT 1"),
                  .call = fmt::format("socket(SOCK_NONBLOCK); setsockopt(TCP_SYNCNT, {}); {}",
                                      syn_retries, describe_socket_call("connect", 6, ep)),
                  .explain = i18n::format(
                      _("A non-blocking connect() returns -1 EINPROGRESS at once: the SYN is "
                        "sent, the socket is SYN_SENT. The listener's accept queue is full, so "
                        "it drops the SYN without an answer — whether or not syncookies are on "
                        "(they stand in for a full SYN queue, not a full accept queue). "
                        "TCP_SYNCNT {0} replaces net.ipv4.tcp_syn_retries for this socket "
                        "(tcp(7)). Linux turns it into a time budget — what {0} retransmission "
                        "would take with doubling timeouts from 1 s: {1} ms — and gives up after "
                        "it. Retransmissions come 1 s apart at first (tcp_syn_linear_timeouts is "
                        "{2} here), so {3} of them fit in the budget."),
                      syn_retries, budget_ms, linear, expected_retrans),
                  .expect = {},
                  .fails_with = EINPROGRESS,
                  .expect_after = [&] {
                      return std::vector<Expect>{{.local_port = blocked_port, .remote_port = port,
                                                  .state = "SYN_SENT"}};
                  }},
                 [&] {
                     blocked.reset(::socket(ep.family, SOCK_STREAM | SOCK_NONBLOCK, 0));
                     if (!blocked) return Result::of(-1);
                     set_int_option(blocked.get(), IPPROTO_TCP, TCP_SYNCNT, syn_retries,
                                    "TCP_SYNCNT");
                     const int r = ::connect(blocked.get(), ep.sa(), ep.len);
                     const int saved = errno;
                     blocked_port = local_port_of(blocked.get());
                     errno = saved;
                     return Result::of(r);
                 });

        lab.step({.title = _("poll() for writability, then SO_ERROR: ETIMEDOUT"),
                  .call = fmt::format("poll({{6, POLLOUT}}, 10000); getsockopt(6, SOL_SOCKET, "
                                      "SO_ERROR)"),
                  .explain = _("When a non-blocking connect() ends, one way or the other, the "
                               "socket becomes writable; SO_ERROR then says how it ended "
                               "(connect(2), EINPROGRESS). No SYN-ACK came: the kernel gave up "
                               "and the socket is closed — nothing of it is left in the table."),
                  .expect = {{.local_port = blocked_port, .remote_port = port, .state = "SYN_SENT",
                              .absent = true}},
                  .fails_with = ETIMEDOUT,
                  .verify = [&](const Result&) {
                      const long ms = waited;
                      if (ms < budget_ms - 200 || ms > budget_ms + 800)
                          return i18n::format(_("it took {} ms, not about {} ms"), ms, budget_ms);
                      const int retrans = total_retrans(blocked.get());
                      return retrans == expected_retrans
                                 ? std::string()
                                 : i18n::format(_("{} SYN retransmissions, not {}"), retrans,
                                                expected_retrans);
                  }},
                 [&] {
                     auto r = wait_and_so_error(blocked.get(), 10000, waited);
                     r.detail += "; " + i18n::format(_("{} SYN retransmissions (TCP_INFO)"),
                                                    total_retrans(blocked.get()));
                     return r;
                 });

        // ---- success, the non-blocking way ----
        lab.step({.title = _("The server accepts: the queue has room again"),
                  .call = fmt::format("accept({})", listener.get()),
                  .explain = _("accept() took the first connection off the queue (Recv-Q 0)."),
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 0}}},
                 [&] {
                     accepted.reset(::accept(listener.get(), nullptr, nullptr));
                     return Result::of(accepted ? accepted.get() : -1);
                 });

        std::uint16_t later_port = 0;
        lab.step({.title = _("Another non-blocking connect()"),
                  .call = fmt::format("socket(SOCK_NONBLOCK); {}",
                                      describe_socket_call("connect", 6, ep)),
                  .explain = _("EINPROGRESS again: a non-blocking TCP connect() never waits for "
                               "the handshake, even on loopback where it is already done."),
                  .expect = {},
                  .fails_with = EINPROGRESS},
                 [&] {
                     later.reset(::socket(ep.family, SOCK_STREAM | SOCK_NONBLOCK, 0));
                     if (!later) return Result::of(-1);
                     const int r = ::connect(later.get(), ep.sa(), ep.len);
                     const int saved = errno;
                     later_port = local_port_of(later.get());
                     errno = saved;
                     return Result::of(r);
                 });

        lab.step({.title = _("poll(), then SO_ERROR: 0 — connected"),
                  .call = "poll({6, POLLOUT}, 10000); getsockopt(6, SOL_SOCKET, SO_ERROR)",
                  .explain = _("SO_ERROR 0: the connection is established. Writable alone does "
                               "not mean connected; always read SO_ERROR (or call getpeername())."),
                  .expect = {},
                  .expect_after = [&] {
                      return std::vector<Expect>{{.local_port = later_port, .remote_port = port,
                                                  .state = "ESTABLISHED"}};
                  }},
                 [&] { return wait_and_so_error(later.get(), 10000, waited); });

        lab.step({.title = _("Close everything"),
                  .call = _("close() every descriptor"),
                  .explain = _("The listener's close resets the connection it never accepted "
                               "(lab 2); the accepted one and the first client end normally."),
                  .expect = {{.local_port = port, .state = "LISTEN", .absent = true}}},
                 [&] {
                     later.reset();
                     accepted.reset();
                     first.reset();
                     listener.reset();
                     refused.reset();
                     blocked.reset();
                     return Result::of(0);
                 });
    });
}
