// `socklab export`: the socket table as Prometheus metrics on http://ADDR:PORT/metrics.
//
// prometheus-cpp's Exposer (civetweb) serves HTTP; at every scrape it calls Collect() below,
// which takes a fresh snapshot (netlink) while a second thread refreshes the owners
// (incremental), and hands both to the pure mapping in core/exporter. With root a Tracer counts state changes in a thread of its
// own between scrapes.
#include <fmt/format.h>
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "command.hpp"
#include "socklab/error.hpp"
#include "socklab/exporter.hpp"
#include "socklab/fd.hpp"
#include "socklab/owners.hpp"
#include "socklab/source.hpp"
#include "socklab/tracer.hpp"
#include "socklab/i18n.hpp"

namespace socklab::cli {
namespace {

struct ExportOptions {
    std::string listen{exporter::kDefaultListen};
    std::size_t top = exporter::kDefaultTop;
    bool no_processes = false;
    bool no_trace = false;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The tracer and the thread that drains it into counts between scrapes.
class TransitionFeed {
public:
    explicit TransitionFeed(bool disabled) : tracer_(options(disabled)) {
        if (tracer_.status().active)
            thread_ = std::jthread([this](std::stop_token stop) { drain(stop); });
    }
    ~TransitionFeed() {
        if (thread_.joinable()) {
            thread_.request_stop();
            thread_.join();
        }
        stop_tracer(tracer_);
    }
    TransitionFeed(const TransitionFeed&) = delete;
    TransitionFeed& operator=(const TransitionFeed&) = delete;

    [[nodiscard]] const TracerStatus& status() const noexcept { return tracer_.status(); }
    [[nodiscard]] std::vector<prometheus::MetricFamily> families() const {
        std::lock_guard lock(mutex_);
        return exporter::tracer_families({tracer_.status().active, &counts_, lost_});
    }

private:
    static TracerOptions options(bool disabled) {
        TracerOptions o;
        o.force_unprivileged = disabled;
        return o;
    }
    void drain(const std::stop_token& stop) {
        std::vector<TransitionEvent> events;
        while (!stop.stop_requested()) {
            events.clear();
            tracer_.poll(events, std::chrono::milliseconds(200));
            const auto lost = tracer_.lost_events();
            std::lock_guard lock(mutex_);
            for (const auto& e : events) counts_.add(e);
            lost_ = lost;
        }
    }

    Tracer tracer_;
    mutable std::mutex mutex_;
    exporter::TransitionCounts counts_;
    std::uint64_t lost_ = 0;
    std::jthread thread_;  // last: stops before the members it uses
};

// Called by the HTTP server's threads at each scrape; one scrape at a time.
class SocketCollector : public prometheus::Collectable {
public:
    SocketCollector(const ExportOptions& o, const TransitionFeed* feed)
        : source_(make_default_source()), processes_(!o.no_processes), feed_(feed) {
        limits_.ports = limits_.listeners = limits_.processes = o.top;
    }

    std::vector<prometheus::MetricFamily> Collect() const override {
        std::lock_guard lock(mutex_);
        std::vector<prometheus::MetricFamily> out;
        exporter::ScrapeCost cost;
        try {
            // The owner walk does not need the dump, and both are mostly kernel work on one
            // cpu each: run the walk on a thread of its own while this one dumps, so a scrape
            // costs the longer of the two, not their sum. The walk's thread is joined before
            // owners_ is read (get()), or when `walk` goes out of scope if the dump throws.
            std::future<double> walk;
            if (processes_) {
                walk = std::async(std::launch::async, [this] {
                    const auto start = std::chrono::steady_clock::now();
                    owners_.refresh_all();
                    return seconds_since(start);
                });
            }
            auto t0 = std::chrono::steady_clock::now();
            Query q;  // TCP and UDP, every state `ss -a` shows
            source_->snapshot_into(q, snap_);
            cost.dump_seconds = seconds_since(t0);
            cost.sockets = snap_.sockets.size();
            if (walk.valid()) {
                cost.owners_seconds = walk.get();
                cost.unreadable_processes = owners_.stats().unreadable;
            }
            t0 = std::chrono::steady_clock::now();
            close_wait_.update(snap_.sockets, snap_.taken_ns);
            exporter::SocketInputs in;
            in.sockets = snap_.sockets;
            if (processes_)
                in.owners = [this](std::uint64_t inode) { return owners_.owners_of(inode); };
            in.close_wait = &close_wait_;
            in.now_ns = snap_.taken_ns;
            in.ephemeral = exporter::read_ephemeral_range();
            in.limits = limits_;
            out = exporter::socket_families(in);
            cost.map_seconds = seconds_since(t0);
        } catch (const std::exception& e) {
            // The HTTP server must not see an exception; the scrape says it failed instead.
            std::fprintf(stderr, _("socklab: this scrape has no socket metrics: %s\n"), e.what());
            cost.ok = false;
        }
        if (feed_ != nullptr) {
            auto t = feed_->families();
            out.insert(out.end(), std::make_move_iterator(t.begin()),
                       std::make_move_iterator(t.end()));
        }
        auto c = exporter::cost_families(cost);
        out.insert(out.end(), std::make_move_iterator(c.begin()), std::make_move_iterator(c.end()));
        return out;
    }

private:
    mutable std::mutex mutex_;
    mutable std::unique_ptr<Source> source_;
    mutable Snapshot snap_;
    mutable OwnerIndex owners_;
    mutable exporter::FirstSeen close_wait_{static_cast<std::uint8_t>(TcpState::close_wait)};
    bool processes_;
    exporter::Limits limits_;
    const TransitionFeed* feed_;
};

// Why the HTTP server could not listen: bind the address ourselves (as civetweb does, with
// SO_REUSEADDR) to learn the kernel's reason.
std::string listen_failure(const exporter::ListenAddress& a) {
    const std::string where = a.to_string();
    UniqueFd fd(::socket(a.addr.family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int err = 0;
    if (!fd) {
        err = errno;
    } else {
        const int one = 1;
        ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_storage ss{};
        socklen_t len = 0;
        if (a.addr.family == AF_INET) {
            auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
            sin->sin_family = AF_INET;
            sin->sin_port = htons(a.port);
            std::memcpy(&sin->sin_addr, a.addr.bytes.data(), 4);
            len = sizeof *sin;
        } else {
            auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
            sin6->sin6_family = AF_INET6;
            sin6->sin6_port = htons(a.port);
            std::memcpy(&sin6->sin6_addr, a.addr.bytes.data(), 16);
            len = sizeof *sin6;
        }
        if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) err = errno;
    }
    if (err == EADDRINUSE)
        return socklab::i18n::format(_("failed to listen on {}: {}: 'socklab why {}' tells who holds the "
                           "port; or choose another with --listen"),
                           where, std::strerror(err), a.port);
    if (err == EADDRNOTAVAIL)
        return socklab::i18n::format(_("failed to listen on {}: {}: the address is not one of this "
                           "machine's; use 127.0.0.1, 0.0.0.0 or an address 'ip addr' shows"),
                           where, std::strerror(err));
    if (err == EACCES)
        return socklab::i18n::format(_("failed to listen on {}: {}: ports below "
                           "net.ipv4.ip_unprivileged_port_start need root; choose a higher port"),
                           where, std::strerror(err));
    if (err != 0) return socklab::i18n::format(_("failed to listen on {}: {}"), where, std::strerror(err));
    return socklab::i18n::format(_("failed to listen on {}: the HTTP server did not start"), where);
}

int run_export(const ExportOptions& o) {
    const auto addr = exporter::parse_listen_address(o.listen);
    if (!addr) return kExitUsage;  // the validator has already refused it

    // Stop signals are taken by sigwait() below. Blocked before any thread starts, so every
    // thread (HTTP server, tracer) inherits the mask and none is interrupted.
    sigset_t stop;
    sigemptyset(&stop);
    for (const int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&stop, sig);
    sigset_t old;
    ::pthread_sigmask(SIG_BLOCK, &stop, &old);
    struct Unblock {
        sigset_t* old;
        ~Unblock() { ::pthread_sigmask(SIG_SETMASK, old, nullptr); }
    } unblock{&old};

    // mg_check_feature(8): IPv6. Debian builds civetweb without it.
    if (addr->addr.family == AF_INET6 && ::mg_check_feature(8) == 0)
        throw Error(socklab::i18n::format(_("failed to listen on {}: the HTTP server (civetweb) was built "
                                "without IPv6: listen on an IPv4 address, e.g. 127.0.0.1:{}"),
                                addr->to_string(), addr->port));
    const auto feed = std::make_unique<TransitionFeed>(o.no_trace);
    const auto collector = std::make_shared<SocketCollector>(o, feed.get());
    std::unique_ptr<prometheus::Exposer> exposer;
    try {
        exposer = std::make_unique<prometheus::Exposer>(addr->to_string(), 2);
    } catch (const std::exception&) {
        throw Error(listen_failure(*addr));
    }
    exposer->RegisterCollectable(collector);
    const auto ports = exposer->GetListeningPorts();
    const exporter::ListenAddress bound{addr->addr, ports.empty()
                                                        ? addr->port
                                                        : static_cast<std::uint16_t>(ports.front())};
    std::printf(_("serving metrics on http://%s/metrics (Ctrl-C stops)\n"), bound.to_string().c_str());
    std::fflush(stdout);
    if (!feed->status().active && !o.no_trace)
        std::fprintf(stderr, _("socklab: socklab_transitions_total is not exported: %s\n"),
                     feed->status().message.c_str());

    int sig = 0;
    while (::sigwait(&stop, &sig) != 0) {
    }
    return kExitOk;
}

}  // namespace

void register_export(CLI::App& root, Runner& run) {
    auto opts = std::make_shared<ExportOptions>();
    auto* sub = root.add_subcommand(
        "export",
        _("Serve the socket table as Prometheus metrics on http://ADDR:PORT/metrics: sockets per\n"
        "state, per service port and per process, listeners' accept queues, the oldest\n"
        "CLOSE_WAIT and TIME_WAIT per port, state changes (as root). docs/exporter.md lists them."));
    sub->add_option("--listen,-l", opts->listen,
                    _("Address and port to serve on: IPv4 or [IPv6], port 0 lets the kernel choose"))
        ->check(CLI::Validator(
            [](std::string& text) -> std::string {
                std::string why;
                if (exporter::parse_listen_address(text, &why)) return {};
                std::string shown = text;
                for (auto& c : shown)
                    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
                return i18n::format(_("'{}' is not ADDR:PORT ({}): give e.g. 127.0.0.1:9469 or [::1]:9469"),
                                    shown, why);
            },
            ""))
        ->type_name("ADDR:PORT")
        ->capture_default_str();
    sub->add_option("--top", opts->top,
                    _("Ports, listeners and processes that get series of their own (each); the "
                    "rest are summed under \"other\""))
        ->check(whole_number(1, static_cast<long long>(exporter::kMaxTop), "series"))
        ->capture_default_str();
    sub->add_flag("--no-processes", opts->no_processes,
                  _("Do not look for the processes holding sockets (no socklab_process_sockets; "
                  "cheaper scrapes)"));
    sub->add_flag("--no-trace", opts->no_trace,
                  _("Do not trace state changes (no socklab_transitions_total)"));
    set_examples(*sub,
                 _("  socklab export                            http://127.0.0.1:9469/metrics\n"
                 "  sudo socklab export --listen 0.0.0.0:9469 for Prometheus on another host,\n"
                 "                                            with state changes counted\n"
                 "  socklab export --top 50 --no-processes    more ports, no /proc walk\n"
                 "  curl -s localhost:9469/metrics | grep CLOSE_WAIT\n"));
    sub->callback([&run, opts] { run = [opts] { return run_export(*opts); }; });
}

}  // namespace socklab::cli
