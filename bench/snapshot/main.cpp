// socklab_core_bench [SOCKETS] [ROUNDS] — in a private network namespace, build about SOCKETS
// TCP sockets (80% ESTABLISHED pairs held by worker processes, 20% TIME_WAIT), then
// time, interleaved ROUNDS times: one netlink snapshot through the core API, `ss -tan`,
// `socklab list` and `socklab list --json` (both with stdout to /dev/null). Prints medians.
// Needs root. Defaults: 100000 sockets, 7 rounds. SOCKLAB=/path/to/socklab picks the binary
// (use a release build: a Debug socklab is several times slower).
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "socklab/error.hpp"
#include "socklab/source.hpp"
#include "testsupport.hpp"

namespace {

using socklab::UniqueFd;
using Clock = std::chrono::steady_clock;

void sysctl(const std::string& name, const std::string& value) {
    std::ofstream f("/proc/sys/net/ipv4/" + name);
    f << value;
    if (!f) throw socklab::Error("failed to set net.ipv4." + name);
}

// fork+exec with stdout on /dev/null; returns the wall time in ms.
double time_command(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const auto t0 = Clock::now();
    const pid_t pid = ::fork();
    if (pid < 0) throw socklab::sys_error("fork", errno);
    if (pid == 0) {
        const int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 1);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    const auto ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw socklab::Error("failed to run " + argv[0] + ": exit status " + std::to_string(status));
    return ms;
}

// Child processes that each hold `pairs` ESTABLISHED loopback pairs until the parent goes.
class Workers {
public:
    void start(long pairs) {
        int ready[2], stop[2];
        if (::pipe2(ready, O_CLOEXEC) != 0 || ::pipe2(stop, O_CLOEXEC) != 0)
            throw socklab::sys_error("create pipes", errno);
        const pid_t pid = ::fork();
        if (pid < 0) throw socklab::sys_error("fork", errno);
        if (pid == 0) {
            ::close(ready[0]);
            ::close(stop[1]);
            try {
                std::vector<UniqueFd> keep;
                auto l = socklab::test::tcp_listen("127.0.0.1", 0, 4096);
                const auto lp = socklab::test::local_port(l.get());
                for (long i = 0; i < pairs; ++i) {
                    keep.push_back(socklab::test::tcp_connect("127.0.0.1", lp));
                    keep.push_back(socklab::test::tcp_accept(l.get()));
                }
                (void)!::write(ready[1], "k", 1);
                char c;
                (void)!::read(stop[0], &c, 1);  // returns when the parent closes or dies
                ::_exit(0);
            } catch (const std::exception& e) {
                std::fprintf(stderr, "worker: %s\n", e.what());
                ::_exit(1);
            }
        }
        ::close(ready[1]);
        ::close(stop[0]);
        kids_.push_back({pid, UniqueFd(ready[0]), UniqueFd(stop[1])});
    }
    void wait_ready() {
        for (auto& k : kids_) {
            char c;
            if (::read(k.ready.get(), &c, 1) != 1)
                throw socklab::Error("failed to build the population: a worker died");
        }
    }
    ~Workers() {
        for (auto& k : kids_) k.stop.reset();
        for (auto& k : kids_) ::waitpid(k.pid, nullptr, 0);
    }

private:
    struct Kid {
        pid_t pid;
        UniqueFd ready, stop;
    };
    std::vector<Kid> kids_;
};

// The floor: one raw TCP dump per family, bytes read and thrown away, nothing parsed.
double time_raw_dump() {
    const auto t0 = Clock::now();
    std::vector<char> buf(64 * 1024);
    for (const std::uint8_t family : {AF_INET, AF_INET6}) {
        const UniqueFd nl = socklab::test::request_sock_diag_dump(family, IPPROTO_TCP, socklab::kAllStates);
        for (bool done = false; !done;) {
            const ssize_t n = ::recv(nl.get(), buf.data(), buf.size(), 0);
            if (n <= 0) break;
            const auto* h = reinterpret_cast<const nlmsghdr*>(buf.data());
            int left = static_cast<int>(n);
            for (; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left))
                if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) done = true;
        }
    }
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const long want = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 100000;
        const int rounds = argc > 2 ? std::atoi(argv[2]) : 7;
        if (want < 1000 || want > 500000 || rounds < 1 || rounds > 100) {
            std::fprintf(stderr, "usage: %s [SOCKETS 1000..500000] [ROUNDS 1..100]\n", argv[0]);
            return 2;
        }
        socklab::test::PrivateNetns ns;
        sysctl("ip_local_port_range", "1024 65535");
        sysctl("tcp_tw_reuse", "0");
        sysctl("tcp_max_tw_buckets", "1000000");

        // ESTABLISHED pairs held by worker processes (at most 19,800 descriptors each: the
        // limit here is 20,000), then 20% TIME_WAIT, made last because they expire after 60 s.
        const long tw = want / 5;
        const long pairs = (want - tw) / 2;
        constexpr long kPairsPerWorker = 9900;
        Workers workers;
        for (long done = 0; done < pairs; done += kPairsPerWorker)
            workers.start(std::min(kPairsPerWorker, pairs - done));
        workers.wait_ready();
        std::vector<UniqueFd> tw_listeners;
        for (long i = 0; i < tw; ++i) {
            if (i % 60000 == 0)
                tw_listeners.push_back(socklab::test::tcp_listen("127.0.0.1", 0, 4096));
            const int tl = tw_listeners.back().get();
            auto c = socklab::test::tcp_connect("127.0.0.1", socklab::test::local_port(tl));
            auto s = socklab::test::tcp_accept(tl);
            c.reset();
            s.reset();
        }
        auto src = socklab::make_netlink_source();
        socklab::Query q;
        q.udp = false;
        socklab::Snapshot snap;
        src->snapshot_into(q, snap);
        std::printf("population: %zu TCP sockets (%ld ESTABLISHED pairs, %ld TIME_WAIT asked)\n",
                    snap.sockets.size(), pairs, tw);
        std::fflush(stdout);

        // SOCKLAB=path times another build's socklab (e.g. a release build of the same tree).
        const char* env_bin = std::getenv("SOCKLAB");
        const std::string socklab_bin = env_bin ? env_bin : socklab::test::bin("socklab");
        std::printf("socklab: %s\n", socklab_bin.c_str());
        std::vector<double> raw, cold, core, ss, list, list_json;
        for (int r = 0; r < rounds; ++r) {
            raw.push_back(time_raw_dump());
            {
                // What a one-shot `socklab list` pays: a new source, a new vector.
                const auto t0 = Clock::now();
                const auto once = socklab::make_netlink_source()->snapshot(q);
                cold.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
            }
            const auto t0 = Clock::now();
            src->snapshot_into(q, snap);
            core.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
            ss.push_back(time_command({"ss", "-tan"}));
            list.push_back(time_command({socklab_bin, "list", "--tcp"}));
            list_json.push_back(time_command({socklab_bin, "list", "--tcp", "--json"}));
        }
        std::printf("median of %d, ms:  raw dump, no parsing %.1f | core snapshot cold %.1f, reused %.1f | ss -tan %.1f | socklab list --tcp %.1f "
                    "(%.2fx ss) | socklab list --tcp --json %.1f (%.2fx ss)\n",
                    rounds, median(raw), median(cold), median(core), median(ss), median(list), median(list) / median(ss),
                    median(list_json), median(list_json) / median(ss));
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "socklab_core_bench: %s\n", e.what());
        return 1;
    }
}
