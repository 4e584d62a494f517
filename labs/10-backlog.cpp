// Lab 10 — the listen backlog: listen(fd, 1) and no accept(). backlog + 1 connections become
// ESTABLISHED; further clients wait in SYN_SENT, and get in on a retransmission once accept()
// makes room.
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <chrono>
#include <fstream>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "labkit.hpp"
#include "socklab/i18n.hpp"

using namespace socklab;
using namespace socklab::lab;

namespace {

std::optional<int> read_sysctl(const char* path) {
    std::ifstream in(path);
    int v = 0;
    if (in >> v) return v;
    return std::nullopt;
}

// When this kernel sends the SYN retransmissions, in seconds after connect(): the initial RTO
// is 1 s (TCP_TIMEOUT_INIT). Since Linux 6.5, tcp_syn_linear_timeouts = N keeps the RTO at 1 s
// for the first N + 1 timeouts, then doubles it; before, it doubles from the start.
struct SynSchedule {
    std::optional<int> linear;  // tcp_syn_linear_timeouts, absent before Linux 6.5
    int retries = 6;            // tcp_syn_retries
    std::vector<int> at;        // seconds after connect() of retransmission 1, 2, ...

    static SynSchedule of_this_kernel() {
        SynSchedule s;
        s.linear = read_sysctl("/proc/sys/net/ipv4/tcp_syn_linear_timeouts");
        s.retries = read_sysctl("/proc/sys/net/ipv4/tcp_syn_retries").value_or(6);
        int t = 0, rto = 1;
        for (int k = 1; k <= s.retries; ++k) {
            t += rto;
            s.at.push_back(t);
            if (!s.linear || k > *s.linear) rto *= 2;
        }
        return s;
    }
    [[nodiscard]] std::string text() const {
        std::string times;
        for (std::size_t i = 0; i < at.size(); ++i)
            times += fmt::format("{}{} s", i ? ", " : "", at[i]);
        return linear ? socklab::i18n::format(_("This kernel has tcp_syn_linear_timeouts = {} and "
                                    "tcp_syn_retries = {}: the SYN is retransmitted {} after "
                                    "connect() — 1 s apart for the first {}, then doubling — "
                                    "and then connect() gives up with ETIMEDOUT."),
                                    *linear, retries, times, *linear + 1)
                      : socklab::i18n::format(_("This kernel has no tcp_syn_linear_timeouts (it came with "
                                    "Linux 6.5) and tcp_syn_retries = {}: the SYN is "
                                    "retransmitted {} after connect(), the wait doubling each "
                                    "time, and then connect() gives up with ETIMEDOUT."),
                                    retries, times);
    }
};

}  // namespace

int main(int argc, char** argv) {
    Lab runner("backlog", argc, argv);
    return runner.run(7, [](Lab& lab) {
        const Endpoint server = lab.endpoint();
        const auto port = lab.port();
        UniqueFd listener;
        std::array<UniqueFd, 3> clients;
        std::array<std::uint16_t, 3> cport{};

        lab.step({.title = _("A listener with a backlog of 1"),
                  .call = fmt::format("socket() + setsockopt(SO_REUSEADDR) + bind(fd, {}) + "
                                      "listen(fd, 1)",
                                      server.str()),
                  .explain = _("Send-Q of a listener shows the backlog: 1."),
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 0, .send_q = 1}}},
                 [&] {
                     listener.reset(::socket(server.family, SOCK_STREAM, 0));
                     set_int_option(listener.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
                     if (::bind(listener.get(), server.sa(), server.len) != 0)
                         return Result::of(-1);
                     return Result::of(::listen(listener.get(), 1),
                                       socklab::i18n::format(_("(listener fd {})"), listener.get()));
                 });

        // Non-blocking connects, so a client that cannot get in does not stop the lab.
        auto connect_client = [&](int i) {
            clients[i].reset(::socket(server.family, SOCK_STREAM | SOCK_NONBLOCK, 0));
            const int rc = ::connect(clients[i].get(), server.sa(), server.len);
            const Result r = Result::of(rc);
            cport[i] = local_port_of(clients[i].get());
            return Result{r.value, r.err, socklab::i18n::format(_("(client fd {}, port {})"),
                                                      clients[i].get(), cport[i])};
        };

        for (int i = 0; i < 2; ++i) {
            lab.step({.title = socklab::i18n::format(_("Client {} connects; nobody accepts"), i + 1),
                      .call = socklab::i18n::format(_("connect(<new non-blocking socket>, {})"), server.str()),
                      .explain = i == 0 ? _("The handshake completes in the kernel and the "
                                          "connection waits in the accept queue: Recv-Q 1. "
                                          "(A non-blocking connect() reports EINPROGRESS even "
                                          "when it completes a moment later.)")
                                        : _("Recv-Q 2 with a backlog of 1: Linux lets the queue "
                                          "hold backlog + 1 connections."),
                      .expect = {{.local_port = port, .state = "LISTEN",
                                  .recv_q = static_cast<std::uint32_t>(i + 1)}},
                      .fails_with = EINPROGRESS,
                      .expect_after = [&, i] {
                          return std::vector<Expect>{{.local_port = cport[i], .remote_port = port,
                                                      .state = "ESTABLISHED"}};
                      }},
                     [&, i] { return connect_client(i); });
        }

        const SynSchedule syn = SynSchedule::of_this_kernel();
        std::chrono::steady_clock::time_point connected_at;
        lab.step({.title = _("Client 3 connects: the queue is full"),
                  .call = socklab::i18n::format(_("connect(<new non-blocking socket>, {})"), server.str()),
                  .explain = _("The listener's queue is full, so its kernel drops the SYN without "
                             "an answer. Client 3 stays in SYN_SENT and retransmits its SYN. ") +
                             syn.text() +
                             _(" This is what an overloaded server looks like from the client."),
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 2}},
                  .fails_with = EINPROGRESS,
                  .expect_after = [&] {
                      return std::vector<Expect>{
                          {.local_port = cport[2], .remote_port = port, .state = "SYN_SENT"}};
                  }},
                 [&] {
                     connected_at = std::chrono::steady_clock::now();
                     return connect_client(2);
                 });

        lab.step({.title = _("Watch client 3 retransmit its SYN twice"),
                  .call = socklab::i18n::format(_("getsockopt({}, IPPROTO_TCP, TCP_INFO) every 10 ms until "
                                      "tcpi_total_retrans has grown by 2"),
                                      clients[2].get()),
                  .explain = _("TCP_INFO counts the client's retransmissions; the lab noted when "
                             "each of the next two happened. They match the schedule the "
                             "sysctls above give (±0.3 s): run without pauses, the second "
                             "retransmission tells a linear schedule (2 s) from an exponential "
                             "one (3 s)."),
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 2}},
                  .wait = std::chrono::milliseconds(100),
                  .verify = [&](const Result& r) {
                      return r.value == 2 ? std::string()
                                          : _("the retransmissions did not come when the "
                                            "schedule says");
                  },
                  .expect_after = [&] {
                      return std::vector<Expect>{
                          {.local_port = cport[2], .remote_port = port, .state = "SYN_SENT"}};
                  }},
                 [&] {
                     // Time the next two retransmissions as they happen (the ones before this
                     // step, in step mode, cannot be timed any more).
                     auto total_retrans = [&]() -> long {
                         tcp_info info{};
                         socklen_t len = sizeof info;
                         if (::getsockopt(clients[2].get(), IPPROTO_TCP, TCP_INFO, &info, &len) != 0)
                             return -1;
                         return info.tcpi_total_retrans;
                     };
                     const long before = total_retrans();
                     if (before < 0) return Result::of(-1);
                     std::vector<std::pair<long, double>> seen;  // (number, seconds after connect)
                     long last = before;
                     for (int i = 0; i < 2000 && last < before + 2; ++i) {  // ≤ 20 s
                         (void)::poll(nullptr, 0, 10);
                         const long now = total_retrans();
                         if (now < 0) return Result::of(-1);
                         const double t = std::chrono::duration<double>(
                                              std::chrono::steady_clock::now() - connected_at)
                                              .count();
                         while (last < now) seen.emplace_back(++last, t);
                     }
                     int matching = 0;
                     std::string when;
                     for (const auto& [k, t] : seen) {
                         if (k < 1 || k > static_cast<long>(syn.at.size())) continue;
                         const int want = syn.at[static_cast<std::size_t>(k - 1)];
                         if (!when.empty()) when += ", ";
                         when += socklab::i18n::format(_("#{} at {:.1f} s (expected {} s)"), k, t, want);
                         if (std::abs(t - want) <= 0.3) ++matching;
                     }
                     return Result{matching, 0, when};
                 });

        UniqueFd first;
        lab.step({.title = _("accept() one connection — client 3 gets in on its next SYN"),
                  .call = fmt::format("accept({}, NULL, NULL)", listener.get()),
                  .explain = _("accept() made room in the queue. Nothing tells client 3: it gets "
                             "in when its next retransmitted SYN arrives (see the schedule "
                             "above), and the queue is full again."),
                  .expect = {{.local_port = cport[2], .remote_port = port, .state = "ESTABLISHED"},
                             {.local_port = port, .state = "LISTEN", .recv_q = 2}},
                  .wait = std::chrono::seconds(10)},
                 [&] {
                     first.reset(::accept(listener.get(), nullptr, nullptr));
                     return Result::of(first.get());
                 });

        std::array<UniqueFd, 2> rest;
        lab.step({.title = _("accept() the other two"),
                  .call = fmt::format("accept({0}, NULL, NULL); accept({0}, NULL, NULL)",
                                      listener.get()),
                  .explain = _("The accept queue is empty again (Recv-Q 0); three connections are "
                             "now owned by descriptors."),
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 0},
                             {.local_port = port, .remote_port = cport[2], .state = "ESTABLISHED"}}},
                 [&] {
                     for (auto& r : rest) {
                         r.reset(::accept(listener.get(), nullptr, nullptr));
                         if (!r) return Result::of(-1);
                     }
                     return Result::of(rest[1].get());
                 });
    });
}
