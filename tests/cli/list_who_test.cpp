// `socklab who` and `socklab list` end to end: the built binary against real loopback
// sockets on kernel-chosen ports (other tests run beside us, so we only look at our ports).
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "socklab/source.hpp"
#include "testsupport.hpp"

using namespace socklab;
using socklab::test::bin;
using socklab::test::run_command;

namespace {

test::CommandResult socklab_cmd(std::vector<std::string> args) {
    args.insert(args.begin(), bin("socklab"));
    return run_command(args);
}

nlohmann::json parse_json(const std::string& text) {
    try {
        return nlohmann::json::parse(text);
    } catch (const std::exception& e) {
        ADD_FAILURE() << "not JSON: " << e.what() << "\n" << text;
        return {};
    }
}

std::uint64_t inode_of(int fd) {
    struct stat st {};
    return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

// A forked child that makes a listener on a kernel-chosen port, optionally forks a
// grandchild sharing it, reports the port and pids through a pipe, then waits to be killed.
class ListenerChild {
public:
    explicit ListenerChild(bool with_grandchild) {
        int pipefd[2];
        if (::pipe(pipefd) != 0) throw std::runtime_error("pipe failed");
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            ::close(pipefd[0]);
            ::prctl(PR_SET_NAME, "who-child");
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            int report[3] = {0, 0, 0};
            try {
                UniqueFd l = test::tcp_listen("127.0.0.1", 0);
                report[0] = test::local_port(l.get());
                report[2] = l.get();
                if (with_grandchild) {
                    int ready[2];
                    if (::pipe(ready) != 0) ::_exit(3);
                    const pid_t g = ::fork();
                    if (g == 0) {
                        // Renamed before it says so, so /proc shows the final name.
                        ::prctl(PR_SET_NAME, "who-grandchild");
                        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
                        (void)!::write(ready[1], "x", 1);
                        for (;;) ::pause();
                    }
                    char c = 0;
                    if (g < 0 || ::read(ready[0], &c, 1) != 1) ::_exit(3);
                    report[1] = g;
                }
                (void)!::write(pipefd[1], report, sizeof report);
                for (;;) ::pause();
            } catch (...) {
                ::_exit(3);
            }
        }
        ::close(pipefd[1]);
        int report[3] = {0, 0, 0};
        const bool ok = ::read(pipefd[0], report, sizeof report) == sizeof report;
        ::close(pipefd[0]);
        if (!ok || report[0] == 0) throw std::runtime_error("child did not listen");
        port_ = static_cast<std::uint16_t>(report[0]);
        grandchild_ = report[1];
        fd_ = report[2];
    }
    ~ListenerChild() {
        if (grandchild_ > 0) ::kill(grandchild_, SIGKILL);  // reaped by init once its parent dies
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    ListenerChild(const ListenerChild&) = delete;
    ListenerChild& operator=(const ListenerChild&) = delete;

    int pid_ = -1;
    int grandchild_ = 0;
    int fd_ = -1;
    std::uint16_t port_ = 0;
};

// Column starts of a header line, by header name.
std::size_t column(const std::string& header, const std::string& name) {
    const auto at = header.find(name);
    EXPECT_NE(at, std::string::npos) << "no column " << name << " in: " << header;
    return at;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

}  // namespace

TEST(Who, NamesTheChildAndGrandchildHoldingAListener) {
    const ListenerChild child(/*with_grandchild=*/true);
    auto source = make_default_source();
    ASSERT_TRUE(test::wait_for_state(*source, child.port_, 0, 10 /*LISTEN*/));

    const auto res = socklab_cmd({"who", std::to_string(child.port_), "--json"});
    ASSERT_EQ(res.exit_code, 0) << res.err << res.out;
    const auto j = parse_json(res.out);
    EXPECT_EQ(j["port"], child.port_);
    EXPECT_EQ(j["held"], true);
    ASSERT_EQ(j["processes"].size(), 2u) << res.out;
    bool saw_child = false, saw_grandchild = false;
    for (const auto& p : j["processes"]) {
        EXPECT_EQ(p["state"], "LISTEN");
        EXPECT_EQ(p["local_port"], child.port_);
        EXPECT_EQ(p["fd"], child.fd_);
        if (p["pid"] == child.pid_) {
            saw_child = true;
            EXPECT_EQ(p["command"], "who-child");
        }
        if (p["pid"] == child.grandchild_) {
            saw_grandchild = true;
            EXPECT_EQ(p["command"], "who-grandchild");
        }
    }
    EXPECT_TRUE(saw_child) << res.out;
    EXPECT_TRUE(saw_grandchild) << res.out;

    const auto text = socklab_cmd({"who", std::to_string(child.port_)});
    EXPECT_EQ(text.exit_code, 0) << text.err;
    EXPECT_NE(text.out.find("held by 2 processes"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find(std::to_string(child.pid_)), std::string::npos) << text.out;
}

TEST(Who, ExitsOneOnAFreePort) {
    std::uint16_t port = 0;
    {
        // A port the kernel just handed out and we gave back without connecting: free, and
        // not in TIME_WAIT.
        const UniqueFd s = test::tcp_listen("127.0.0.1", 0);
        port = test::local_port(s.get());
    }
    const auto res = socklab_cmd({"who", std::to_string(port)});
    EXPECT_EQ(res.exit_code, 1) << res.out << res.err;
    EXPECT_NE(res.out.find("Nobody holds port " + std::to_string(port)), std::string::npos)
        << res.out;
    const auto js = socklab_cmd({"who", std::to_string(port), "--json"});
    EXPECT_EQ(js.exit_code, 1);
    const auto j = parse_json(js.out);
    EXPECT_EQ(j["held"], false);
    EXPECT_TRUE(j["processes"].empty());
}

TEST(Who, SaysTimeWaitBelongsToTheKernel) {
    // Alone on its ports where it can be (root): `who` counts every socket on the port, and a
    // test running beside it once left a TIME_WAIT on the port this client was then given.
    std::optional<test::PrivateNetns> alone;
    if (::geteuid() == 0) alone.emplace();
    const UniqueFd listener = test::tcp_listen("127.0.0.1", 0);
    const auto lport = test::local_port(listener.get());
    UniqueFd client = test::tcp_connect("127.0.0.1", lport);
    const auto cport = test::local_port(client.get());
    UniqueFd server = test::tcp_accept(listener.get());
    client.reset();  // active close: the client's end goes to TIME_WAIT
    server.reset();
    auto source = make_default_source();
    ASSERT_TRUE(test::wait_for_state(*source, cport, lport, 6 /*TIME_WAIT*/));

    const auto res = socklab_cmd({"who", std::to_string(cport), "--json"});
    EXPECT_EQ(res.exit_code, 1) << res.out << res.err;
    const auto j = parse_json(res.out);
    EXPECT_EQ(j["held"], false);
    EXPECT_TRUE(j["processes"].empty());
    EXPECT_EQ(j["kernel_only"]["TIME_WAIT"], 1) << res.out;

    const auto text = socklab_cmd({"who", std::to_string(cport)});
    EXPECT_EQ(text.exit_code, 1);
    EXPECT_NE(text.out.find("No process holds it"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("1 in TIME_WAIT"), std::string::npos) << text.out;
}

TEST(Who, BadInputExitsTwoWithOneClearLine) {
    for (const std::string bad : {"abc", "70000", "-5", "0", "65536", "8080x", ""}) {
        const auto res = socklab_cmd({"who", bad});
        EXPECT_EQ(res.exit_code, 2) << "'" << bad << "': " << res.err;
        EXPECT_TRUE(res.out.empty()) << res.out;
        EXPECT_NE(res.err.find("is not a port"), std::string::npos) << "'" << bad << "': " << res.err;
    }
    const auto missing = socklab_cmd({"who"});
    EXPECT_EQ(missing.exit_code, 2) << missing.err;
    EXPECT_NE(missing.err.find("PORT"), std::string::npos) << missing.err;
    const auto extra = socklab_cmd({"who", "80", "81"});
    EXPECT_EQ(extra.exit_code, 2) << extra.err;
}

TEST(Cli, MisspeltCommandIsNamedAndExitsTwo) {
    const auto res = socklab_cmd({"lsit"});
    EXPECT_EQ(res.exit_code, 2) << res.err;
    EXPECT_TRUE(res.out.empty()) << res.out;
    EXPECT_NE(res.err.find("unknown command 'lsit'"), std::string::npos) << res.err;
    EXPECT_NE(res.err.find("list"), std::string::npos) << res.err;
    const auto none = socklab_cmd({});
    EXPECT_EQ(none.exit_code, 2) << none.err;
    EXPECT_NE(none.err.find("subcommand is required"), std::string::npos) << none.err;
}

TEST(List, BadInputExitsTwo) {
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"list", "--state", "bogus"},
          std::vector<std::string>{"list", "--port", "0"},
          std::vector<std::string>{"list", "--port", "abc"},
          std::vector<std::string>{"list", "--port", "70000"},
          std::vector<std::string>{"list", "--port=-5"},
          std::vector<std::string>{"list", "--no-such-flag"}}) {
        const auto res = socklab_cmd(args);
        EXPECT_EQ(res.exit_code, 2) << args.back() << ": " << res.err;
        EXPECT_TRUE(res.out.empty()) << res.out;
        EXPECT_FALSE(res.err.empty());
    }
}

TEST(List, JsonFiltersByStateAndPort) {
    const UniqueFd listener = test::tcp_listen("127.0.0.1", 0);
    const auto port = test::local_port(listener.get());
    const UniqueFd client = test::tcp_connect("127.0.0.1", port);
    const UniqueFd server = test::tcp_accept(listener.get());
    const UniqueFd udp = test::udp_bind("127.0.0.1", 0);
    const auto uport = test::local_port(udp.get());

    const auto p = std::to_string(port);
    auto res = socklab_cmd({"list", "--json", "--state", "LISTEN", "--port", p});
    ASSERT_EQ(res.exit_code, 0) << res.err;
    auto j = parse_json(res.out);
    ASSERT_EQ(j.size(), 1u) << res.out;
    EXPECT_EQ(j[0]["state"], "LISTEN");
    EXPECT_EQ(j[0]["proto"], "tcp");
    EXPECT_EQ(j[0]["family"], "ipv4");
    EXPECT_EQ(j[0]["local_addr"], "127.0.0.1");
    EXPECT_EQ(j[0]["local_port"], port);
    EXPECT_EQ(j[0]["inode"], inode_of(listener.get()));
    EXPECT_EQ(j[0]["uid"], ::geteuid());
    EXPECT_TRUE(j[0]["processes"].empty()) << "no --processes, no owners";

    res = socklab_cmd({"list", "--json", "--state", "established", "--port", p});
    j = parse_json(res.out);
    ASSERT_EQ(j.size(), 2u) << res.out;
    std::vector<std::uint64_t> inodes;
    for (const auto& r : j) {
        EXPECT_EQ(r["state"], "ESTABLISHED");
        EXPECT_TRUE(r["local_port"] == port || r["remote_port"] == port);
        inodes.push_back(r["inode"]);
    }
    std::sort(inodes.begin(), inodes.end());
    std::vector<std::uint64_t> ours{inode_of(client.get()), inode_of(server.get())};
    std::sort(ours.begin(), ours.end());
    EXPECT_EQ(inodes, ours);

    res = socklab_cmd({"list", "--json", "-s", "LISTEN", "-s", "ESTABLISHED", "-p", p});
    EXPECT_EQ(parse_json(res.out).size(), 3u) << res.out;
    res = socklab_cmd({"list", "--json", "--state", "TIME_WAIT", "--port", p});
    EXPECT_EQ(res.exit_code, 0) << "empty is not an error";
    EXPECT_TRUE(parse_json(res.out).empty()) << res.out;

    const auto u = std::to_string(uport);
    res = socklab_cmd({"list", "--json", "--udp", "--port", u});
    j = parse_json(res.out);
    ASSERT_EQ(j.size(), 1u) << res.out;
    EXPECT_EQ(j[0]["proto"], "udp");
    EXPECT_EQ(j[0]["state"], "UNCONN");
    EXPECT_TRUE(parse_json(socklab_cmd({"list", "--json", "--tcp", "--port", u}).out).empty());
    EXPECT_TRUE(parse_json(socklab_cmd({"list", "--json", "--udp", "--port", p}).out).empty());
}

TEST(List, ProcessesNamesOurOwnPid) {
    const UniqueFd listener = test::tcp_listen("127.0.0.1", 0);
    const auto p = std::to_string(test::local_port(listener.get()));
    auto res = socklab_cmd({"list", "--tcp", "--port", p, "--processes", "--json"});
    ASSERT_EQ(res.exit_code, 0) << res.err;
    const auto j = parse_json(res.out);
    ASSERT_EQ(j.size(), 1u) << res.out;
    ASSERT_EQ(j[0]["processes"].size(), 1u) << res.out;
    EXPECT_EQ(j[0]["processes"][0]["pid"], ::getpid());
    EXPECT_EQ(j[0]["processes"][0]["fd"], listener.get());

    res = socklab_cmd({"list", "--tcp", "--port", p, "--processes"});
    ASSERT_EQ(res.exit_code, 0) << res.err;
    const auto want = "pid=" + std::to_string(::getpid()) + ",fd=" + std::to_string(listener.get());
    EXPECT_NE(res.out.find(want), std::string::npos) << res.out;
}

TEST(List, TextColumnsLineUpWithTheirHeaders) {
    // Sockets whose cells differ in width: IPv4 and IPv6, LISTEN and ESTABLISHED, queued bytes.
    const UniqueFd l4 = test::tcp_listen("127.0.0.1", 0);
    const auto port = test::local_port(l4.get());
    const UniqueFd client = test::tcp_connect("127.0.0.1", port);
    const UniqueFd server = test::tcp_accept(l4.get());
    // The same port on ::1: a wider Local Address cell than any IPv4 one.
    const UniqueFd l6 = test::tcp_listen("::1", port);
    ASSERT_EQ(::write(client.get(), "hello, queue", 12), 12);
    auto source = make_default_source();
    ASSERT_TRUE(test::wait_until([&] {
        for (const auto& r : test::sockets_on_port(*source, port))
            if (r.local_port == port && r.state == 1 && r.recv_q == 12) return true;
        return false;
    }));

    const auto res = socklab_cmd({"list", "--tcp", "--port", std::to_string(port), "-P", "-o"});
    ASSERT_EQ(res.exit_code, 0) << res.err;
    const auto lines = lines_of(res.out);
    ASSERT_EQ(lines.size(), 5u) << res.out;
    EXPECT_NE(res.out.find("[::1]:" + std::to_string(port) + " "), std::string::npos) << res.out;
    const auto& h = lines[0];
    const std::vector<std::string> names{"Netid", "State", "Recv-Q", "Send-Q",
                                         "Local Address:Port", "Peer Address:Port", "Timer",
                                         "Process"};
    std::vector<std::size_t> starts;
    for (const auto& n : names) starts.push_back(column(h, n));
    ASSERT_TRUE(std::is_sorted(starts.begin(), starts.end())) << h;
    bool saw_queue = false;
    for (std::size_t i = 1; i < lines.size(); ++i) {
        const auto& row = lines[i];
        for (std::size_t c = 0; c < names.size(); ++c) {
            const auto at = starts[c];
            ASSERT_LT(at, row.size()) << names[c] << " missing in: " << row << "\n" << res.out;
            EXPECT_NE(row[at], ' ') << names[c] << " does not start under its header:\n"
                                    << h << "\n" << row;
            if (c > 0) {
                EXPECT_EQ(row[at - 1], ' ') << names[c] << ":\n" << h << "\n" << row;
            }
        }
        // Each cell is what its header says.
        EXPECT_EQ(row.substr(starts[0], 3), "tcp") << row;
        if (row.substr(starts[2], 3) == "12 ") saw_queue = true;
        EXPECT_NE(row.find("pid=" + std::to_string(::getpid())), std::string::npos) << row;
    }
    EXPECT_TRUE(saw_queue) << res.out;
}

TEST(List, HelpEndsWithExamples) {
    for (const std::string cmd : {"list", "who"}) {
        const auto res = socklab_cmd({cmd, "--help"});
        EXPECT_EQ(res.exit_code, 0);
        const auto at = res.out.rfind("EXAMPLES");
        ASSERT_NE(at, std::string::npos) << res.out;
        EXPECT_NE(res.out.find("socklab " + cmd, at), std::string::npos) << res.out;
    }
}
