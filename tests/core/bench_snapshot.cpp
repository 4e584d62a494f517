// socklab_core_bench [SOCKETS] [ROUNDS] — in a private network namespace, build about SOCKETS
// TCP sockets (9,000 ESTABLISHED pairs, the rest TIME_WAIT, which hold no descriptor), then
// time, interleaved ROUNDS times: one netlink snapshot through the core API, `ss -tan`,
// `socklab list` and `socklab list --json` (both with stdout to /dev/null). Prints medians.
// Needs root. Defaults: 100000 sockets, 7 rounds.
#include <fcntl.h>
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

        std::vector<UniqueFd> keep;
        const long pairs = std::min<long>(9000, want / 4);
        auto l = socklab::test::tcp_listen("127.0.0.1", 0, 4096);
        const auto lp = socklab::test::local_port(l.get());
        for (long i = 0; i < pairs; ++i) {
            keep.push_back(socklab::test::tcp_connect("127.0.0.1", lp));
            keep.push_back(socklab::test::tcp_accept(l.get()));
        }
        // TIME_WAIT: the client closes first. One listener per 60,000 so ports never run out.
        const long tw = want - 2 * pairs;
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

        const std::string socklab_bin = socklab::test::bin("socklab");
        std::vector<double> core, ss, list, list_json;
        for (int r = 0; r < rounds; ++r) {
            const auto t0 = Clock::now();
            src->snapshot_into(q, snap);
            core.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
            ss.push_back(time_command({"ss", "-tan"}));
            list.push_back(time_command({socklab_bin, "list", "--tcp"}));
            list_json.push_back(time_command({socklab_bin, "list", "--tcp", "--json"}));
        }
        std::printf("median of %d, ms:  core snapshot %.1f | ss -tan %.1f | socklab list --tcp %.1f "
                    "(%.2fx ss) | socklab list --tcp --json %.1f (%.2fx ss)\n",
                    rounds, median(core), median(ss), median(list), median(list) / median(ss),
                    median(list_json), median(list_json) / median(ss));
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "socklab_core_bench: %s\n", e.what());
        return 1;
    }
}
