// socklab-step-latency: from a lab step's system call to the viewer's table showing its
// result. It runs the viewer's own poller (the thread that feeds the table, with the tracer
// and the owner scan, at the viewer's default interval) in a network namespace of its own and
// makes the calls a lab makes — listen(), connect(), close() — one step at a time, at random
// moments relative to the poll interval. For each step it measures the time from just before
// the call to the publication of the first frame whose table shows the new state. The same
// steps run a second time with the tracer off (polling alone), the viewer's behaviour without
// root, for comparison. Prints percentiles; --json writes them as one object.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "model/frame_bench.hpp"
#include "model/poller.hpp"
#include "netns.hpp"
#include "socklab/error.hpp"
#include "socklab/fd.hpp"
#include "socklab/state.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using socklab::TcpState;
using socklab::UniqueFd;
using socklab::viewer::Frame;
using socklab::viewer::Poller;

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

UniqueFd tcp_socket() {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw socklab::sys_error("create a socket", errno);
    return fd;
}

std::uint16_t local_port(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        throw socklab::sys_error("read a socket's address", errno);
    return ntohs(a.sin_port);
}

bool shows(const Frame& f, std::uint16_t local, std::uint16_t remote, TcpState state) {
    for (const auto& row : f.rows)
        if (row.closed_ns == 0 && row.rec.local_port == local && row.rec.remote_port == remote)
            return row.rec.state == static_cast<std::uint8_t>(state);
    return false;
}

struct Percentiles {
    double p50 = 0, p90 = 0, p99 = 0, max = 0;
    std::size_t missed = 0;  // not shown within the wait
};

Percentiles percentiles(const std::vector<double>& v, std::size_t missed) {
    using socklab::viewer::percentile;
    return {percentile(v, 0.50), percentile(v, 0.90), percentile(v, 0.99), percentile(v, 1.0), missed};
}

struct Run {
    std::vector<double> ms;
    std::size_t missed = 0;
    bool tracer_active = false;
};

// `steps` lab steps against a fresh poller. A step: listen() on a new port, connect() to it
// (and accept()), then close() the client — three calls, each timed until the table shows
// LISTEN, ESTABLISHED (the client's row) and CLOSE_WAIT (the server's row).
Run run_steps(int steps, std::chrono::milliseconds interval, bool trace, unsigned seed) {
    socklab::viewer::PollerOptions o;
    o.interval = interval;
    o.trace = trace;
    o.owners = true;
    Poller poller(o);
    poller.start();
    if (!poller.wait_for_frame(0, std::chrono::seconds(30)))
        throw socklab::Error("the poller published no frame in 30 s");
    Run run;
    run.tracer_active = poller.latest()->privileges.tracer_active;
    std::minstd_rand rng(seed);
    std::uniform_int_distribution<int> pause_ms(0, static_cast<int>(interval.count()));
    const auto wait_limit = interval * 3;

    const auto timed = [&](auto&& call, auto&& done) {
        std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(rng)));  // a random phase
        const auto t0 = Clock::now();
        call();
        const auto give_up = t0 + wait_limit;
        for (;;) {
            const auto f = poller.latest();
            if (done(*f)) {
                run.ms.push_back(ms_between(t0, Clock::now()));
                return;
            }
            if (Clock::now() >= give_up) {
                ++run.missed;
                return;
            }
            (void)poller.wait_for_frame(f->seq, std::chrono::milliseconds(100));
        }
    };

    for (int i = 0; i < steps; i += 3) {
        auto listener = tcp_socket();
        std::uint16_t port = 0;
        timed(
            [&] {
                const int one = 1;
                ::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                const auto a = loopback(0);
                if (::bind(listener.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 ||
                    ::listen(listener.get(), 8) != 0)
                    throw socklab::sys_error("listen on 127.0.0.1", errno);
                port = local_port(listener.get());
            },
            [&](const Frame& f) { return shows(f, port, 0, TcpState::listen); });
        auto client = tcp_socket();
        UniqueFd server;
        std::uint16_t cport = 0;
        timed(
            [&] {
                const auto a = loopback(port);
                if (::connect(client.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0)
                    throw socklab::sys_error("connect to 127.0.0.1", errno);
                cport = local_port(client.get());
                server = UniqueFd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
            },
            [&](const Frame& f) { return shows(f, cport, port, TcpState::established); });
        timed([&] { client.reset(); },
              [&](const Frame& f) { return shows(f, port, cport, TcpState::close_wait); });
    }
    poller.stop();
    return run;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"socklab-step-latency: from a lab step's system call to the viewer's table "
                 "showing it (root)"};
    int steps = 60;
    int interval_ms = 1000;
    bool json = false;
    unsigned seed = 1;
    app.add_option("--steps", steps, "system calls timed per run (multiples of 3)")
        ->check(CLI::Range(3, 3000));
    app.add_option("--interval", interval_ms, "the poll interval in ms (the viewer's default: 1000)")
        ->check(CLI::Range(100, 5000));
    app.add_option("--seed", seed, "seed of the random pauses between steps");
    app.add_flag("--json", json, "one JSON object on stdout");
    CLI11_PARSE(app, argc, argv);
    if (::geteuid() != 0) {
        std::fprintf(stderr, "socklab-step-latency: needs root (the tracer and a network namespace)\n");
        return 1;
    }
    try {
        socklab::bench::NamedNetns ns("socklab-step-latency-" + std::to_string(::getpid()));
        ns.enter();
        if (socklab::bench::run_program({"ip", "link", "set", "lo", "up"}) != 0)
            throw socklab::Error("failed to bring up lo: 'ip link set lo up' failed");
        const auto interval = std::chrono::milliseconds(interval_ms);
        const auto traced = run_steps(steps, interval, true, seed);
        const auto polled = run_steps(steps, interval, false, seed);
        ns.leave();
        if (!traced.tracer_active)
            throw socklab::Error("the tracer did not start; this measures nothing without it");
        const auto t = percentiles(traced.ms, traced.missed);
        const auto p = percentiles(polled.ms, polled.missed);
        if (json) {
            const auto obj = [](const Percentiles& x) {
                return fmt::format(R"({{"p50_ms":{:.1f},"p90_ms":{:.1f},"p99_ms":{:.1f},"max_ms":{:.1f},"missed":{}}})",
                                   x.p50, x.p90, x.p99, x.max, x.missed);
            };
            fmt::print(R"({{"steps":{},"interval_ms":{},"traced":{},"polling_alone":{}}})" "\n",
                       traced.ms.size() + traced.missed, interval_ms, obj(t), obj(p));
        } else {
            fmt::print("{} steps, poll interval {} ms; from the system call to the table showing it:\n",
                       traced.ms.size() + traced.missed, interval_ms);
            fmt::print("  {:<26} p50 {:7.1f} ms  p90 {:7.1f} ms  p99 {:7.1f} ms  max {:7.1f} ms  missed {}\n",
                       "tracer wakes the poller", t.p50, t.p90, t.p99, t.max, t.missed);
            fmt::print("  {:<26} p50 {:7.1f} ms  p90 {:7.1f} ms  p99 {:7.1f} ms  max {:7.1f} ms  missed {}\n",
                       "polling alone (--no-trace)", p.p50, p.p90, p.p99, p.max, p.missed);
        }
        return t.missed == 0 ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "socklab-step-latency: %s\n", e.what());
        return 1;
    }
}
