// socklab-population: builds N TCP sockets inside a network namespace it creates and removes
// itself — ESTABLISHED pairs spread over several worker processes, CLOSE_WAIT/FIN_WAIT2 pairs,
// TIME_WAIT sockets kept topped up, and one known listener — so socklab can be timed against
// ss, netstat and lsof, and the viewer can be loaded, on a realistic table. See bench/README.md.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "netns.hpp"
#include "plan.hpp"
#include "socklab/error.hpp"
#include "socklab/source.hpp"
#include "socklab/state.hpp"
#include "sockets.hpp"

namespace socklab::bench {
namespace {

using namespace std::chrono_literals;

// A timewait socket lives 60 s (TCP_TIMEWAIT_LEN) plus timer-wheel slack; replacing a batch
// a little before that keeps the count at or slightly above the target instead of dipping.
constexpr auto kTimeWaitRefresh = 59'500ms;
// Batches of the TIME_WAIT population: one is replaced every 60 s / kTimeWaitBatches.
constexpr std::size_t kTimeWaitBatches = 60;
constexpr int kBacklog = 1024;

struct Options {
    std::size_t sockets = 0;
    std::string netns;
    bool hold = false;
    bool until_signal = false;
    unsigned listen_port = 8080;
    unsigned time_wait_percent = 20;
    unsigned closing_percent = 10;
    std::size_t fds_per_process = 19'000;
    unsigned min_workers = 4;
    unsigned setup_timeout_s = 300;
    unsigned max_hold_s = 3600;
};

class Interrupted : public Error {
public:
    Interrupted() : Error("interrupted by a signal before the population was ready") {}
};

// ---- children --------------------------------------------------------------------------

void report(int fd, const std::string& line) {
    const std::string text = line + "\n";
    (void)!::write(fd, text.data(), text.size());
}

[[noreturn]] void hold_forever() {
    // The coordinator ends us with SIGTERM; PR_SET_PDEATHSIG and alarm() bound our life even
    // if it cannot.
    for (;;) ::pause();
}

void run_known_listener(int report_fd, Endpoint where) {
    UniqueFd fd = listen_on(where, kBacklog);
    report(report_fd, "ok");
    ::close(report_fd);
    hold_forever();
}

void run_worker(int report_fd, WorkerPlan plan, Clock::time_point deadline) {
    UniqueFd listener = listen_on(plan.listen, kBacklog);
    std::vector<Pair> established;
    connect_pairs(listener.get(), plan.listen, plan.established_pairs, established, deadline);
    std::vector<Pair> closing;
    connect_pairs(listener.get(), plan.listen, plan.closing_pairs, closing, deadline);
    half_close(closing, deadline);
    report(report_fd, "ok");
    ::close(report_fd);
    hold_forever();
}

void run_time_wait(int report_fd, std::vector<Endpoint> listen, std::size_t count, Clock::time_point deadline) {
    std::vector<UniqueFd> listeners;
    for (auto& e : listen) listeners.push_back(listen_on(e, kBacklog));
    // Batches are created one after another and each replaced once it is about to expire, so
    // the kernel always holds about `count` timewait sockets.
    struct Batch {
        std::size_t size;
        std::size_t listener;
        Clock::time_point made;
    };
    std::deque<Batch> batches;
    const std::size_t per_batch = std::max<std::size_t>(1, (count + kTimeWaitBatches - 1) / kTimeWaitBatches);
    std::size_t made = 0;
    for (std::size_t b = 0; made < count; ++b) {
        const std::size_t size = std::min(per_batch, count - made);
        const std::size_t k = b % listeners.size();
        make_time_wait(listeners[k].get(), listen[k], size, deadline);
        batches.push_back(Batch{size, k, Clock::now()});
        made += size;
    }
    report(report_fd, "ok");
    ::close(report_fd);
    if (batches.empty()) hold_forever();
    for (;;) {
        Batch next = batches.front();
        batches.pop_front();
        std::this_thread::sleep_until(next.made + kTimeWaitRefresh);  // a timer, not a wait on state
        make_time_wait(listeners[next.listener].get(), listen[next.listener], next.size,
                       Clock::now() + 30s);
        next.made = Clock::now();
        batches.push_back(next);
    }
}

// ---- the coordinator's view of one child -------------------------------------------------

class Child {
public:
    Child(std::string role, pid_t pid, UniqueFd report) : role_(std::move(role)), pid_(pid), report_(std::move(report)) {}
    Child(Child&& o) noexcept
        : role_(std::move(o.role_)), pid_(std::exchange(o.pid_, -1)), report_(std::move(o.report_)) {}
    Child& operator=(Child&&) = delete;
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child() { stop(); }

    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    [[nodiscard]] const std::string& role() const noexcept { return role_; }
    [[nodiscard]] int report_fd() const noexcept { return report_.get(); }
    void close_report() noexcept { report_.reset(); }

    // Has the child exited (reaps it if so)?
    bool exited() noexcept {
        if (pid_ < 0) return true;
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return true;
        }
        return false;
    }

    // SIGTERM, a bounded wait, then SIGKILL: a worker closing 19,000 sockets takes a moment.
    void stop() noexcept {
        if (pid_ < 0) return;
        ::kill(pid_, SIGTERM);
        const auto deadline = Clock::now() + 10s;
        while (!exited() && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
        if (pid_ >= 0) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            ::waitpid(pid_, &status, 0);
            pid_ = -1;
        }
    }

private:
    std::string role_;
    pid_t pid_ = -1;
    UniqueFd report_;
};

Child spawn(const std::string& role, unsigned life_s, const std::function<void(int)>& body) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw sys_error("create a pipe", errno);
    UniqueFd read_end(fds[0]);
    UniqueFd write_end(fds[1]);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) throw sys_error("fork the " + role + " process", errno);
    if (pid == 0) {
        sigset_t all;
        sigfillset(&all);
        ::sigprocmask(SIG_UNBLOCK, &all, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(1);
        ::prctl(PR_SET_NAME, role.c_str());
        ::alarm(life_s);
        // Keep only stdio (stdin from /dev/null) and the report pipe, as fd 3.
        const int devnull = ::open("/dev/null", O_RDONLY);
        if (devnull >= 0) ::dup2(devnull, 0);
        if (::dup2(write_end.get(), 3) < 0) ::_exit(1);
        ::close_range(4, ~0u, 0);
        try {
            body(3);
        } catch (const std::exception& e) {
            report(3, std::string("error ") + e.what());
        }
        ::_exit(1);
    }
    return Child(role, pid, std::move(read_end));
}

// Wait for one report line from each child. Throws on an error report, an early exit, a
// signal to us, or the deadline.
void wait_ready(std::vector<Child*> children, int sig_fd, Clock::time_point deadline) {
    std::map<int, std::string> lines;
    while (!children.empty()) {
        std::vector<pollfd> fds{{sig_fd, POLLIN, 0}};
        for (const Child* c : children) fds.push_back(pollfd{c->report_fd(), POLLIN, 0});
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0)
            throw Error("failed to build the population: timed out waiting for " + children.front()->role() +
                        "; give --setup-timeout more seconds");
        const int n = ::poll(fds.data(), fds.size(), static_cast<int>(left.count()));
        if (n < 0 && errno != EINTR) throw sys_error("wait for the worker processes", errno);
        if (fds[0].revents & POLLIN) {
            signalfd_siginfo si{};
            if (::read(sig_fd, &si, sizeof si) == sizeof si && si.ssi_signo != SIGCHLD) throw Interrupted();
        }
        for (std::size_t i = children.size(); i-- > 0;) {
            if (!(fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            Child* c = children[i];
            char buf[512];
            const ssize_t got = ::read(c->report_fd(), buf, sizeof buf);
            std::string& line = lines[c->report_fd()];
            if (got > 0) line.append(buf, static_cast<std::size_t>(got));
            if (line.find('\n') == std::string::npos && got > 0) continue;
            if (line.rfind("ok", 0) == 0) {
                c->close_report();
                children.erase(children.begin() + static_cast<std::ptrdiff_t>(i));
                continue;
            }
            while (!line.empty() && line.back() == '\n') line.pop_back();
            throw Error("failed to build the population in " + c->role() + ": " +
                        (line.rfind("error ", 0) == 0 ? line.substr(6) : std::string("it exited early")));
        }
    }
}

// ---- counting ----------------------------------------------------------------------------

using StateCounts = std::map<std::string, std::size_t>;

StateCounts count_states(Source& src) {
    Query q;
    q.udp = false;
    const Snapshot snap = src.snapshot(q);
    StateCounts counts;
    for (const auto& r : snap.sockets) ++counts[std::string(r.state_name())];
    return counts;
}

std::size_t total(const StateCounts& c) {
    std::size_t n = 0;
    for (const auto& [state, k] : c) n += k;
    return n;
}

std::size_t at(const StateCounts& c, const std::string& state) {
    const auto it = c.find(state);
    return it == c.end() ? 0 : it->second;
}

nlohmann::json to_json(const StateCounts& c) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [state, k] : c) j[state] = k;
    return j;
}

void print_line(const nlohmann::json& j) {
    const std::string text = j.dump() + "\n";
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
}

// ---- the coordinator ---------------------------------------------------------------------

void tune_netns(const Plan& plan) {
    // Room for ~64k client ports per destination instead of ~28k.
    write_sysctl("net/ipv4/ip_local_port_range", "1024 65535");
    // With the default tcp_tw_reuse=2 (loopback only) connect() would recycle our own
    // TIME_WAIT sockets and the population would shrink.
    write_sysctl("net/ipv4/tcp_tw_reuse", "0");
    const std::size_t tw_needed = plan.time_wait * 2 + 1024;
    if (std::stoull(read_sysctl("net/ipv4/tcp_max_tw_buckets")) < tw_needed)
        write_sysctl("net/ipv4/tcp_max_tw_buckets", std::to_string(tw_needed));
    if (std::stoull(read_sysctl("net/core/somaxconn")) < static_cast<unsigned>(kBacklog))
        write_sysctl("net/core/somaxconn", std::to_string(kBacklog));
}

void raise_fd_limit(std::size_t wanted) {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) throw sys_error("read RLIMIT_NOFILE", errno);
    if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < wanted)
        throw Error("failed to raise the descriptor limit: the hard limit is " + std::to_string(lim.rlim_max) +
                    " and a worker needs " + std::to_string(wanted) +
                    "; give a smaller --fds-per-process or raise 'ulimit -Hn'");
    lim.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) throw sys_error("raise RLIMIT_NOFILE", errno);
}

int run(const Options& opt) {
    if (::geteuid() != 0) {
        std::fputs("socklab-population: needs root to create a network namespace; run it with sudo\n", stderr);
        return 1;
    }
    const auto started = Clock::now();
    const auto deadline = started + std::chrono::seconds(opt.setup_timeout_s);

    PlanRequest req;
    req.sockets = opt.sockets;
    req.time_wait_percent = opt.time_wait_percent;
    req.closing_percent = opt.closing_percent;
    req.fds_per_process = opt.fds_per_process;
    req.min_workers = opt.min_workers;
    req.listen_port = static_cast<std::uint16_t>(opt.listen_port);
    const Plan plan = make_plan(req);
    raise_fd_limit(opt.fds_per_process);

    // Signals arrive through a signalfd so setup, hold and teardown see them at safe points.
    sigset_t sigs;
    sigemptyset(&sigs);
    for (const int s : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&sigs, s);
    if (::sigprocmask(SIG_BLOCK, &sigs, nullptr) != 0) throw sys_error("block signals", errno);
    ::signal(SIGPIPE, SIG_IGN);
    const UniqueFd sig_fd(::signalfd(-1, &sigs, SFD_CLOEXEC));
    if (!sig_fd) throw sys_error("create a signalfd", errno);

    // Declared before the children so it is destroyed after them: workers first, then the netns.
    NamedNetns netns(opt.netns);
    netns.enter();
    tune_netns(plan);
    if (run_program({"ip", "link", "set", "lo", "up"}) != 0)
        throw Error("failed to bring up lo in " + opt.netns + ": 'ip link set lo up' failed");

    const unsigned life_s = opt.setup_timeout_s + (opt.hold ? opt.max_hold_s : 0) + 60;
    std::vector<Child> children;
    children.reserve(plan.workers.size() + 2);
    // The known listener binds first, before any connect() could take its port as an
    // ephemeral one.
    children.push_back(spawn("pop-listen", life_s, [&](int fd) { run_known_listener(fd, plan.known_listener); }));
    wait_ready({&children.back()}, sig_fd.get(), deadline);
    for (std::size_t w = 0; w < plan.workers.size(); ++w)
        children.push_back(spawn("pop-worker" + std::to_string(w), life_s,
                                 [&, w](int fd) { run_worker(fd, plan.workers[w], deadline); }));
    children.push_back(spawn("pop-timewait", life_s, [&](int fd) {
        run_time_wait(fd, plan.time_wait_listeners, plan.time_wait, deadline);
    }));
    std::vector<Child*> pending;
    for (std::size_t i = 1; i < children.size(); ++i) pending.push_back(&children[i]);
    wait_ready(pending, sig_fd.get(), deadline);

    // Check the kernel's table, not our own bookkeeping: every state at its planned count.
    auto source = make_netlink_source();
    const std::size_t want_est = 2 * plan.established_pairs();
    const std::size_t want_closing = plan.closing_pairs();
    StateCounts counts;
    const auto settle = Clock::now() + 10s;
    for (;;) {
        counts = count_states(*source);
        const bool ok = at(counts, "ESTABLISHED") == want_est && at(counts, "CLOSE_WAIT") == want_closing &&
                        at(counts, "FIN_WAIT2") == want_closing && at(counts, "LISTEN") == plan.listeners();
        if (ok) break;
        if (Clock::now() > settle)
            throw Error("failed to build the population: the kernel shows " + to_json(counts).dump() +
                        " but the plan wanted ESTABLISHED " + std::to_string(want_est) + ", CLOSE_WAIT and FIN_WAIT2 " +
                        std::to_string(want_closing) + ", LISTEN " + std::to_string(plan.listeners()));
        std::this_thread::sleep_for(20ms);
    }
    const std::size_t tw = at(counts, "TIME_WAIT");
    if (tw * 100 < plan.time_wait * 95)
        std::fprintf(stderr,
                     "socklab-population: warning: only %zu of %zu TIME_WAIT sockets exist; "
                     "net.ipv4.tcp_max_tw_buckets in %s is %s\n",
                     tw, plan.time_wait, opt.netns.c_str(), read_sysctl("net/ipv4/tcp_max_tw_buckets").c_str());

    nlohmann::json pids = nlohmann::json::array();
    for (const auto& c : children) pids.push_back(c.pid());
    print_line({{"ready", true},
                {"netns", opt.netns},
                {"sockets", total(counts)},
                {"requested", opt.sockets},
                {"listen_port", opt.listen_port},
                {"listen_pid", children.front().pid()},
                {"pids", pids},
                {"states", to_json(counts)},
                {"tcp_max_tw_buckets", std::stoull(read_sysctl("net/ipv4/tcp_max_tw_buckets"))},
                {"setup_ms", std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count()}});
    if (!opt.hold) return 0;

    // Hold: until stdin closes (unless --until-signal), a signal, a child dies, or --max-hold.
    // A line "status" on stdin prints the current counts as one JSON line.
    const auto hold_end = Clock::now() + std::chrono::seconds(opt.max_hold_s);
    std::string input;
    bool stdin_open = !opt.until_signal;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(hold_end - Clock::now());
        if (left.count() <= 0) {
            std::fputs("socklab-population: --max-hold reached, tearing down\n", stderr);
            return 0;
        }
        pollfd fds[2] = {{sig_fd.get(), POLLIN, 0}, {stdin_open ? 0 : -1, POLLIN, 0}};
        if (::poll(fds, 2, static_cast<int>(std::min<long long>(left.count(), 60'000))) < 0 && errno != EINTR)
            throw sys_error("wait while holding the population", errno);
        if (fds[0].revents & POLLIN) {
            signalfd_siginfo si{};
            if (::read(sig_fd.get(), &si, sizeof si) == sizeof si) {
                if (si.ssi_signo != SIGCHLD) return 0;
                for (auto& c : children)
                    if (c.exited())
                        throw Error("failed to hold the population: " + c.role() +
                                    " exited; the population is incomplete, start again");
            }
        }
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            char buf[256];
            const ssize_t got = ::read(0, buf, sizeof buf);
            if (got <= 0) return 0;
            input.append(buf, static_cast<std::size_t>(got));
            for (std::size_t nl; (nl = input.find('\n')) != std::string::npos; input.erase(0, nl + 1)) {
                if (input.compare(0, nl, "status") != 0) continue;
                const StateCounts now = count_states(*source);
                print_line({{"status", true}, {"sockets", total(now)}, {"states", to_json(now)}});
            }
            if (input.size() > 4096) input.clear();  // no line that long means anything
        }
    }
}

}  // namespace
}  // namespace socklab::bench

int main(int argc, char** argv) {
    using socklab::bench::Options;
    Options opt;
    CLI::App app{"socklab-population: N TCP sockets in a network namespace of their own, for benchmarks"};
    app.name("socklab-population");
    app.add_option("--sockets", opt.sockets, "How many TCP sockets to build (10 to 500000)")
        ->required()
        ->check(CLI::Range(std::size_t{10}, std::size_t{500'000}));
    app.add_option("--netns", opt.netns, "Name of the network namespace to create (must not exist)")
        ->required()
        ->check(CLI::Validator(
            [](std::string& s) -> std::string {
                return socklab::bench::valid_netns_name(s)
                           ? std::string{}
                           : "'" + s + "' is not a namespace name: use 1-64 of A-Z a-z 0-9 _ . -";
            },
            "NAME", "netns name"));
    app.add_flag("--hold", opt.hold, "After the ready line, hold until stdin closes or SIGTERM/SIGINT");
    app.add_flag("--until-signal", opt.until_signal, "With --hold: ignore stdin, hold until SIGTERM/SIGINT");
    app.add_option("--listen-port", opt.listen_port, "The known listener's port, on 127.0.0.1")
        ->check(CLI::Range(1u, 65535u))
        ->capture_default_str();
    app.add_option("--time-wait-percent", opt.time_wait_percent, "Share of sockets in TIME_WAIT")
        ->check(CLI::Range(0u, 90u))
        ->capture_default_str();
    app.add_option("--closing-percent", opt.closing_percent, "Share in CLOSE_WAIT + FIN_WAIT2 pairs")
        ->check(CLI::Range(0u, 90u))
        ->capture_default_str();
    app.add_option("--fds-per-process", opt.fds_per_process, "Descriptor budget of one worker process")
        ->check(CLI::Range(std::size_t{64}, std::size_t{19'000}))
        ->capture_default_str();
    app.add_option("--min-processes", opt.min_workers, "Spread sockets over at least this many workers")
        ->check(CLI::Range(1u, 64u))
        ->capture_default_str();
    app.add_option("--setup-timeout", opt.setup_timeout_s, "Seconds allowed for building the population")
        ->check(CLI::Range(1u, 3600u))
        ->capture_default_str();
    app.add_option("--max-hold", opt.max_hold_s, "With --hold: tear down after this many seconds anyway")
        ->check(CLI::Range(1u, 86'400u))
        ->capture_default_str();
    app.footer(
        "\nEXAMPLES\n"
        "  socklab-population --sockets 10000 --netns pop10k          build, print the ready line, tear down\n"
        "  socklab-population --sockets 100000 --netns pop --hold     hold until stdin closes (Ctrl-D)\n"
        "  ip netns exec pop ss -tan state time-wait | wc -l          look at it from another shell\n");
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "socklab-population: %s\nRun 'socklab-population --help' for usage.\n", e.what());
        return 2;
    }
    if (opt.until_signal) opt.hold = true;
    try {
        return socklab::bench::run(opt);
    } catch (const socklab::bench::Interrupted& e) {
        std::fprintf(stderr, "socklab-population: %s; tore everything down\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "socklab-population: %s\n", e.what());
        return 1;
    }
}
