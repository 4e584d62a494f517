// socklab-churn: open and close loopback TCP connections at a chosen rate, inside a private
// network namespace it creates (and the kernel removes when it exits), so the tracer's
// benchmark has a known number of transitions: 10 per connection plus the listener's 2.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "socklab/error.hpp"
#include "socklab/fd.hpp"

namespace {

using socklab::UniqueFd;

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true); }

void enter_private_netns() {
    if (::unshare(CLONE_NEWNET) != 0)
        throw socklab::sys_error("create a private network namespace (needs root)", errno);
    UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (!s || ::ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0)
        throw socklab::sys_error("read the flags of lo", errno);
    ifr.ifr_flags |= IFF_UP;
    if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0) throw socklab::sys_error("bring lo up", errno);
}

struct Options {
    double rate = 5000;  // connections per second; 0: as fast as possible
    double duration_s = 10;
    std::uint64_t connections = 0;  // 0: no limit but the duration
    std::uint16_t port = 40999;
    bool server_closes_first = false;
    bool host_netns = false;
    bool json = false;
    int threads = 1;
};

struct Result {
    std::uint64_t connections = 0;
    std::uint64_t errors = 0;
    double elapsed_s = 0;
};

// One connection: connect, accept, close both ends; who closes first is chosen.
bool one_connection(int listener, const sockaddr_in& addr, bool server_first) {
    UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!c) return false;
    if (::connect(c.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        return false;
    UniqueFd s(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    if (!s) return false;
    if (server_first) {
        s.reset();
        c.reset();
    } else {
        c.reset();
        s.reset();
    }
    return true;
}

// One worker: paced by the clock, it catches up to where its share of the rate says it
// should be, then sleeps a millisecond. Small bursts, the steady rate asked for.
void worker(int listener, const sockaddr_in& addr, const Options& o, double rate,
            std::uint64_t limit, std::chrono::steady_clock::time_point start,
            std::chrono::steady_clock::time_point end, Result& r) {
    for (;;) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= end || g_stop.load()) break;
        if (limit && r.connections + r.errors >= limit) break;
        std::uint64_t due = UINT64_MAX;
        if (rate > 0) {
            const double elapsed = std::chrono::duration<double>(now - start).count();
            due = static_cast<std::uint64_t>(elapsed * rate) + 1;
        }
        if (limit) due = std::min(due, limit);
        std::uint64_t batch = 0;
        while (r.connections + r.errors < due && batch < 256 && !g_stop.load()) {
            if (one_connection(listener, addr, o.server_closes_first)) ++r.connections;
            else ++r.errors;
            ++batch;
        }
        if (rate > 0 && r.connections + r.errors >= due) {
            const timespec ts{0, 1'000'000};
            ::nanosleep(&ts, nullptr);
        }
    }
}

Result churn(const Options& o) {
    UniqueFd l(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!l) throw socklab::sys_error("create the listening socket", errno);
    const int one = 1;
    ::setsockopt(l.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(o.port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(l.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        throw socklab::sys_error("bind 127.0.0.1:" + std::to_string(o.port), errno);
    if (::listen(l.get(), 4096) != 0) throw socklab::sys_error("listen", errno);

    // Workers share the listener: each connects, then accepts whichever connection is first
    // in the queue (its own or another's) and closes both. Every connection still makes its
    // ten transitions; only who closes first may vary between workers.
    const auto n = static_cast<std::size_t>(o.threads);
    std::vector<Result> results(n);
    const auto start = std::chrono::steady_clock::now();
    const auto end = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                 std::chrono::duration<double>(o.duration_s));
    {
        std::vector<std::jthread> threads;
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint64_t limit =
                o.connections ? o.connections / n + (i < o.connections % n ? 1 : 0) : 0;
            if (o.connections && limit == 0) continue;
            threads.emplace_back([&, i, limit] {
                worker(l.get(), addr, o, o.rate / static_cast<double>(n), limit, start, end,
                       results[i]);
            });
        }
    }
    Result total;
    for (const auto& r : results) {
        total.connections += r.connections;
        total.errors += r.errors;
    }
    total.elapsed_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return total;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"socklab-churn: open and close loopback TCP connections at a steady rate, in a "
                 "private network namespace (needs root)"};
    app.name("socklab-churn");
    Options o;
    app.add_option("--rate", o.rate, "Connections per second; 0 = as fast as possible")
        ->check(CLI::Range(0.0, 1e7));
    app.add_option("--duration", o.duration_s, "Stop after SECONDS")->check(CLI::Range(0.01, 3600.0));
    app.add_option("--connections", o.connections, "Stop after N connections (0 = no limit)");
    app.add_option("--port", o.port, "Listening port inside the namespace")
        ->check(CLI::Range(1, 65535));
    app.add_option("--threads", o.threads, "Workers sharing the rate (more CPU share on a busy machine)")
        ->check(CLI::Range(1, 64));
    app.add_flag("--server-closes-first", o.server_closes_first,
                 "The accepted socket closes first (default: the client does)");
    app.add_flag("--host-netns", o.host_netns, "Stay in the current namespace (debugging only)");
    app.add_flag("--json", o.json, "Print the summary as one JSON object");
    app.footer("\nEXAMPLES\n"
               "  socklab-churn --rate 5000 --duration 10      50,000 connections, 5k/s\n"
               "  socklab-churn --rate 0 --connections 40000   as fast as possible\n");
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "socklab-churn: %s\n", e.what());
        return 2;
    }
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    try {
        if (!o.host_netns) enter_private_netns();
        const Result r = churn(o);
        // The listener's CLOSE -> LISTEN and LISTEN -> CLOSE, and ten per connection.
        const std::uint64_t expected = r.connections * 10 + 2;
        if (o.json)
            std::printf("%s\n",
                        fmt::format("{{\"connections\":{},\"errors\":{},\"elapsed_s\":{:.3f},"
                                    "\"rate\":{:.0f},\"port\":{},\"expected_transitions\":{}}}",
                                    r.connections, r.errors, r.elapsed_s,
                                    r.elapsed_s > 0 ? r.connections / r.elapsed_s : 0.0, o.port,
                                    expected)
                            .c_str());
        else
            std::printf("%llu connections (%llu failed) in %.3f s = %.0f/s; port %u; expect %llu "
                        "transitions\n",
                        static_cast<unsigned long long>(r.connections),
                        static_cast<unsigned long long>(r.errors), r.elapsed_s,
                        r.elapsed_s > 0 ? r.connections / r.elapsed_s : 0.0, o.port,
                        static_cast<unsigned long long>(expected));
        return r.errors == 0 ? 0 : 1;
    } catch (const socklab::Error& e) {
        std::fprintf(stderr, "socklab-churn: %s\n", e.what());
        return 1;
    }
}
