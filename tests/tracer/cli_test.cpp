// `socklab trace` end to end: JSON lines for a loopback connection, the message and exit 1
// without tracing, Ctrl-C ends cleanly and the instance is gone.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <future>
#include <sstream>
#include <string>
#include <vector>

#include "socklab/json.hpp"
#include "socklab/state.hpp"
#include "testsupport.hpp"
#include "tracer_test_util.hpp"

namespace socklab {
namespace {

using namespace std::chrono_literals;

// Is there an instance made by process `pid`?
bool instance_of_pid_exists(int pid) {
    const std::string prefix = "socklab-" + std::to_string(pid) + "-";
    const auto r = test::run_command({"ls", test::tracing_instances_dir()});
    std::istringstream in(r.out);
    std::string name;
    while (in >> name)
        if (name.rfind(prefix, 0) == 0) return true;
    return false;
}

// Has process `pid` finished setting up its instance (the event is enabled last)?
bool instance_of_pid_ready(int pid) {
    const std::string prefix = "socklab-" + std::to_string(pid) + "-";
    const auto r = test::run_command({"ls", test::tracing_instances_dir()});
    std::istringstream in(r.out);
    std::string name;
    while (in >> name) {
        if (name.rfind(prefix, 0) != 0) continue;
        const auto on = test::run_command(
            {"cat", test::tracing_instances_dir() + "/" + name + "/tracing_on"});
        return on.out == "1\n";
    }
    return false;
}

// socklab trace in a child we can signal; stdout and stderr go to files.
struct TraceChild {
    pid_t pid = -1;
    std::string out_path, err_path;
    explicit TraceChild(const std::vector<std::string>& args) {
        char out_t[] = "/tmp/socklab-trace-out-XXXXXX";
        char err_t[] = "/tmp/socklab-trace-err-XXXXXX";
        const int out = ::mkstemp(out_t), err = ::mkstemp(err_t);
        out_path = out_t;
        err_path = err_t;
        std::vector<std::string> argv{test::bin("socklab"), "trace"};
        argv.insert(argv.end(), args.begin(), args.end());
        pid = ::fork();
        if (pid == 0) {
            ::dup2(out, 1);
            ::dup2(err, 2);
            std::vector<char*> a;
            for (auto& s : argv) a.push_back(s.data());
            a.push_back(nullptr);
            ::execv(a[0], a.data());
            ::_exit(127);
        }
        ::close(out);
        ::close(err);
    }
    int wait_exit(std::chrono::milliseconds timeout = 10s) {
        int status = 0;
        const bool done = test::wait_until(
            [&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, timeout, 5ms);
        if (!done) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
        }
        pid = -1;
        return done && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    static std::string slurp(const std::string& p) {
        const auto r = test::run_command({"cat", p});
        return r.out;
    }
    ~TraceChild() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        ::unlink(out_path.c_str());
        ::unlink(err_path.c_str());
    }
};

TEST(TraceCli, NoTraceSaysWhyAndExits1) {
    const auto r = test::run_command({test::bin("socklab"), "trace", "--no-trace"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_TRUE(r.out.empty());
    EXPECT_NE(r.err.find("root"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(TraceCli, BadInputIsOneLineAndExit2) {
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"--port", "0"}, {"--port", "http"}, {"--duration", "-1"},
          {"--duration", "soon"}, {"--bogus"}}) {
        std::vector<std::string> argv{test::bin("socklab"), "trace"};
        argv.insert(argv.end(), args.begin(), args.end());
        const auto r = test::run_command(argv);
        EXPECT_EQ(r.exit_code, 2) << args[0] << ": " << r.err;
        EXPECT_NE(r.err.find("socklab:"), std::string::npos) << r.err;
    }
}

TEST(TraceCli, JsonLinesForOneConnection) {
    SOCKLAB_REQUIRE_ROOT();
    auto listener = test::tcp_listen("127.0.0.1", 0);
    const auto port = test::local_port(listener.get());
    TraceChild child({"--port", std::to_string(port), "--json", "--duration", "4"});
    ASSERT_TRUE(test::wait_until([&] { return instance_of_pid_ready(child.pid); }, 5s))
        << TraceChild::slurp(child.err_path);
    std::uint16_t client_port = 0;
    // A command name that needs escaping in JSON: the lines must stay valid whatever it is.
    char saved_comm[17] = {};
    ::prctl(PR_GET_NAME, saved_comm);
    ::prctl(PR_SET_NAME, "we\"ird\\name\t");
    {
        auto c = test::tcp_connect("127.0.0.1", port);
        auto s = test::tcp_accept(listener.get());
        client_port = test::local_port(c.get());
    }
    const int child_pid = child.pid;
    const int exit_code = child.wait_exit();
    ::prctl(PR_SET_NAME, saved_comm);
    EXPECT_EQ(exit_code, 0) << TraceChild::slurp(child.err_path);
    EXPECT_FALSE(instance_of_pid_exists(child_pid));

    std::istringstream out(TraceChild::slurp(child.out_path));
    std::string line;
    std::vector<nlohmann::json> events;
    while (std::getline(out, line)) events.push_back(nlohmann::json::parse(line));
    ASSERT_EQ(events.size(), 10u) << TraceChild::slurp(child.out_path);
    const auto& first = events.front();
    for (const char* field : {"time_ns", "pid", "comm", "family", "local_addr", "local_port",
                              "remote_addr", "remote_port", "old_state", "new_state",
                              "old_state_ns"})
        EXPECT_TRUE(first.contains(field)) << field;
    EXPECT_EQ(first["old_state"], "CLOSE");
    EXPECT_EQ(first["new_state"], "SYN_SENT");
    EXPECT_EQ(first["local_port"], 0);
    EXPECT_EQ(first["remote_port"], port);
    EXPECT_EQ(first["pid"], ::getpid());
    EXPECT_EQ(first["family"], "ipv4");
    EXPECT_EQ(first["comm"], "we\"ird\\name\t");
    // The same fields as socklab::to_json(TransitionEvent), which the CLI's fast path mirrors.
    const auto reference = to_json(TransitionEvent{});
    for (const auto& e : events) {
        EXPECT_EQ(e.size(), reference.size()) << e.dump();
        for (const auto& [key, value] : reference.items()) {
            ASSERT_TRUE(e.contains(key)) << key;
            EXPECT_EQ(e[key].is_number(), value.is_number()) << key;
            EXPECT_EQ(e[key].is_string(), value.is_string()) << key;
        }
    }
    int closes = 0;
    for (const auto& e : events) {
        EXPECT_TRUE(e["local_port"] == port || e["remote_port"] == port);
        if (e["local_port"] == client_port) {
            EXPECT_EQ(e["remote_port"], port);
        }
        if (e["new_state"] == "CLOSE") ++closes;
    }
    EXPECT_EQ(closes, 2);
    const auto err = TraceChild::slurp(child.err_path);
    EXPECT_NE(err.find("10 transitions shown, 0 lost"), std::string::npos) << err;
}

TEST(TraceCli, CtrlCEndsCleanlyAndRemovesTheInstance) {
    SOCKLAB_REQUIRE_ROOT();
    TraceChild child({"--port", "9"});
    ASSERT_TRUE(test::wait_until([&] { return instance_of_pid_exists(child.pid); }, 5s))
        << TraceChild::slurp(child.err_path);
    const int child_pid = child.pid;
    ASSERT_EQ(::kill(child.pid, SIGINT), 0);
    EXPECT_EQ(child.wait_exit(), 0) << TraceChild::slurp(child.err_path);
    EXPECT_FALSE(instance_of_pid_exists(child_pid));
    const auto out = TraceChild::slurp(child.out_path);
    EXPECT_EQ(out.rfind("TIME", 0), 0u) << "the header line comes first: " << out;
    EXPECT_NE(TraceChild::slurp(child.err_path).find("0 lost"), std::string::npos);
}

TEST(TraceCli, KilledTraceIsCleanedUpByTheNextOne) {
    SOCKLAB_REQUIRE_ROOT();
    TraceChild killed({"--port", "9"});
    ASSERT_TRUE(test::wait_until([&] { return instance_of_pid_exists(killed.pid); }, 5s));
    const int killed_pid = killed.pid;
    ::kill(killed.pid, SIGKILL);
    killed.wait_exit();
    ASSERT_TRUE(instance_of_pid_exists(killed_pid)) << "SIGKILL leaves the instance behind";

    TraceChild next({"--port", "9", "--duration", "0.2"});
    EXPECT_EQ(next.wait_exit(), 0) << TraceChild::slurp(next.err_path);
    EXPECT_FALSE(instance_of_pid_exists(killed_pid));
}

}  // namespace
}  // namespace socklab
