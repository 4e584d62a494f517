// `socklab trace` end to end: JSON lines for a loopback connection, the message and exit 1
// without tracing, Ctrl-C ends cleanly and the instance is gone.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <cerrno>
#include <cstring>
#include <functional>
#include <future>
#include <sstream>
#include <string>
#include <vector>

#include "child.hpp"
#include "confined.hpp"
#include "prepare.hpp"
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

// The name of an instance made by process `pid`, or "".
std::string instance_name_of_pid(int pid) {
    const std::string prefix = "socklab-" + std::to_string(pid) + "-";
    const auto r = test::run_command({"ls", test::tracing_instances_dir()});
    std::istringstream in(r.out);
    std::string name;
    while (in >> name)
        if (name.rfind(prefix, 0) == 0) return name;
    return {};
}

// Has process `pid` finished setting up its instance (the event is enabled last)?
bool instance_of_pid_ready(int pid) {
    const std::string prefix = "socklab-" + std::to_string(pid) + "-";
    const auto r = test::run_command({"ls", test::tracing_instances_dir()});
    std::istringstream in(r.out);
    std::string name;
    while (in >> name) {
        if (name.rfind(prefix, 0) != 0) continue;
        // A new instance starts with tracing_on = 1 before socklab turns it off to set it up:
        // ready is tracing on *and* the event enabled (socklab enables it before tracing_on).
        const std::string dir = test::tracing_instances_dir() + "/" + name;
        const auto on = test::run_command({"cat", dir + "/tracing_on",
                                           dir + "/events/sock/inet_sock_set_state/enable"});
        return on.out == "1\n1\n";
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
            // Let it remove its instance (also when a test stopped it), else kill it.
            ::kill(pid, SIGCONT);
            ::kill(pid, SIGINT);
            wait_exit(5s);  // kills it when it does not end in time
        }
        ::unlink(out_path.c_str());
        ::unlink(err_path.c_str());
    }
};

TEST(TraceCli, NoTraceSaysWhyAndExits1) {
    const auto r = test::run_command({test::bin("socklab"), "trace", "--no-trace"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_TRUE(r.out.empty());
    EXPECT_EQ(r.err.rfind("socklab: state transitions are not traced: tracing was turned off with "
                          "--no-trace; leave it out to trace them;",
                          0),
              0u)
        << r.err;
    // The switch is the reason, whoever runs it: no advice to become root.
    EXPECT_EQ(r.err.find("run as root"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// The messages of a tracer that cannot start, as the people who meet them run socklab:
// an ordinary user, root on a kernel without tracefs, root with a read-only tracefs, and
// uid 0 of a container. Each runs in a child of its own; the host's mounts stay as they are.
std::string trace_failure(const std::function<bool()>& prepare) {
    const auto r = test::run_confined({test::bin("socklab"), "trace", "--port", "9"},
                                      test::prepared_by(prepare), 20s);
    EXPECT_NE(r.exit_code, test::kSetupFailed) << r.err;
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    return r.err;
}

TEST(TraceCli, AnOrdinaryUserIsToldItNeedsRoot) {
    SOCKLAB_REQUIRE_ROOT();  // to become uid 65534
    const auto err = trace_failure(test::become_nobody);
    EXPECT_EQ(err,
              "socklab: state transitions are not traced: the tracepoint sock:inet_sock_set_state "
              "needs root; run as root (e.g. 'sudo socklab trace'); the table, the labs and the "
              "doctor keep working on polling alone\n");
}

TEST(TraceCli, WithoutTracefsItSaysTheMountFailed) {
    SOCKLAB_REQUIRE_ROOT();
    const auto err = trace_failure(test::hide_tracefs);
    EXPECT_EQ(err.rfind("socklab: state transitions are not traced: failed to mount tracefs on "
                        "/sys/kernel/tracing: No such file or directory; is CONFIG_TRACING "
                        "enabled? try 'mount -t tracefs nodev /sys/kernel/tracing'",
                        0),
              0u)
        << err;
}

TEST(TraceCli, AReadOnlyTracefsSaysTheInstanceCannotBeMade) {
    SOCKLAB_REQUIRE_ROOT();
    const auto err = trace_failure(test::read_only_tracefs);
    const std::string dir = test::tracing_instances_dir() + "/socklab-";
    EXPECT_EQ(err.rfind("socklab: state transitions are not traced: failed to create the tracing "
                        "instance " + dir,
                        0),
              0u)
        << err;
    EXPECT_NE(err.find(": Read-only file system\n"), std::string::npos) << err;
}

TEST(TraceCli, Uid0OfAContainerIsNotToldToBecomeRoot) {
    SOCKLAB_REQUIRE_ROOT();
    const auto r = test::run_command(
        test::as_root_of_a_user_namespace({test::bin("socklab"), "trace", "--port", "9"}), {},
        20s);
    if (r.exit_code != 1 && r.err.find(test::kNoUserNamespaces) != std::string::npos)
        GTEST_SKIP() << "this machine does not allow user namespaces: " << r.err;
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("failed to create the tracing instance " +
                         test::tracing_instances_dir() + "/socklab-"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find(": Permission denied; uid 0 here is not root over tracefs (a container "
                         "or a user namespace?): trace from the host, e.g. 'sudo socklab trace' "
                         "there;"),
              std::string::npos)
        << r.err;
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

// A program whose main() called Tracer::remove_instances_on_exit() and is killed by a signal
// it does not catch leaves no tracing instance behind. A lab program (labkit's Lab::run makes
// the call) catches Ctrl-C and SIGTERM itself, not SIGHUP (a closed terminal): it dies of it,
// and the instance goes with it.
TEST(TraceCli, ALabKilledBySighupLeavesNoInstance) {
    SOCKLAB_REQUIRE_ROOT();
    test::PrivateNetns ns;  // the lab's fixed port is this test's alone
    // Step mode with --json: the lab waits for a control line on stdin (kept open by Child).
    test::Child lab({test::bin("socklab-lab-bind"), "--json"});
    ASSERT_TRUE(test::wait_until([&] { return instance_of_pid_ready(lab.pid()); }, 10s))
        << lab.out() << lab.err();
    ASSERT_TRUE(lab.read_until([](const std::string& out) { return out.find("\"waiting\"") != std::string::npos; },
                               10s))
        << lab.out() << lab.err();
    const int lab_pid = lab.pid();
    lab.signal(SIGHUP);
    EXPECT_FALSE(lab.wait(10s).has_value()) << "the lab should die of SIGHUP: " << lab.err();
    EXPECT_FALSE(instance_of_pid_exists(lab_pid)) << "the lab's tracing instance was left behind";
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

// A buffer too small for a burst: socklab trace is stopped while thousands of transitions
// arrive, so the kernel overwrites what it did not read, and socklab says so and what to do.
TEST(TraceCli, AFullBufferIsReportedWithWhatToDo) {
    SOCKLAB_REQUIRE_ROOT();
    auto listener = test::tcp_listen("127.0.0.1", 0, 64);
    const auto port = test::local_port(listener.get());
    TraceChild child({"--port", std::to_string(port), "--buffer-kb", "64"});
    ASSERT_TRUE(test::wait_until([&] { return instance_of_pid_ready(child.pid); }, 5s))
        << TraceChild::slurp(child.err_path);
    ASSERT_EQ(::kill(child.pid, SIGSTOP), 0);
    // About 6 transitions each (an RST ends them, so no TIME_WAIT is left): 18,000 records
    // against a buffer of 64 KiB per cpu, which holds about a thousand.
    for (int i = 0; i < 3000; ++i) {
        auto c = test::tcp_connect("127.0.0.1", port);
        auto a = test::tcp_accept(listener.get());
        const linger abort_on_close{1, 0};
        ::setsockopt(c.get(), SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
        c.reset();
    }
    ASSERT_EQ(::kill(child.pid, SIGCONT), 0);
    ASSERT_EQ(::kill(child.pid, SIGINT), 0);
    EXPECT_EQ(child.wait_exit(), 0) << TraceChild::slurp(child.err_path);
    const auto err = TraceChild::slurp(child.err_path);
    const auto at = err.find("socklab: the kernel dropped ");
    ASSERT_NE(at, std::string::npos) << err;
    EXPECT_NE(err.find(" transitions because the trace buffer was full; narrow it with --port or "
                       "use --buffer-kb to enlarge it\n",
                       at),
              std::string::npos)
        << err;
    EXPECT_EQ(err.find(" 0 lost"), std::string::npos) << "the summary counts them too: " << err;
}

// The kernel's trace buffer cannot be read, or waited on, in the middle of a trace: a seccomp
// filter makes that one call fail. The step is named, socklab exits 1, and its tracing
// instance is removed all the same.
test::CommandResult expect_trace_fails_cleanly(const test::DeniedCall& deny, const std::string& message) {
    test::Confinement sandbox;
    sandbox.deny.push_back(deny);
    test::ConfinedProcess trace({test::bin("socklab"), "trace", "--port", "9", "--duration", "5"},
                                sandbox);
    const pid_t pid = trace.pid();
    const auto r = trace.finish(30s);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
    EXPECT_FALSE(instance_of_pid_exists(pid)) << "the tracing instance was left behind";
    return r;
}

// Every read() of exactly one page fails: socklab trace reads its per-cpu buffers a page at a
// time and reads nothing else in pages (strace shows 832, 1024, 8191 and 8192 bytes elsewhere).
TEST(TraceCli, AFailingReadOfTheTraceBufferIsNamedAndCleanedUp) {
    SOCKLAB_REQUIRE_ROOT();
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "AddressSanitizer reads /proc/self/maps a page at a time, so the filter "
                    "breaks the sanitizer before socklab (the dev and tsan builds run it)";
#endif
    const auto page = static_cast<std::uint32_t>(::sysconf(_SC_PAGESIZE));
    const auto r = expect_trace_fails_cleanly({SYS_read, EIO, 2, page},
                                              "socklab: failed to read the trace buffer of cpu ");
    EXPECT_NE(r.err.find(": Input/output error\n"), std::string::npos) << r.err;
}

// Every poll() fails: the tracer's wait for its buffers is the only poll socklab trace makes.
TEST(TraceCli, AFailingWaitForTraceEventsIsNamedAndCleanedUp) {
    SOCKLAB_REQUIRE_ROOT();
    expect_trace_fails_cleanly({SYS_poll, ENOMEM},
                               "socklab: failed to wait for trace events: Cannot allocate memory\n");
}

// A step of setting up the tracing instance fails: a seccomp filter fails the one call that
// step makes, picked by an argument no other call of socklab trace has (strace: the writes are
// "0" (1 byte, the first is tracing_on), "mono", the buffer size, "0", the filter, and the
// per-cpu buffers are the only files opened O_RDONLY|O_NONBLOCK|O_CLOEXEC). Each step is
// named with what it wrote or opened, socklab exits 1 and removes the instance.
TEST(TraceCli, EachFailingSetUpStepIsNamedAndCleanedUp) {
    SOCKLAB_REQUIRE_ROOT();
    const std::string filter = "protocol == 6 && (sport == 9 || dport == 9)";
    struct Case {
        test::DeniedCall deny;
        std::vector<std::string> words;
    };
    for (const auto& c : std::vector<Case>{
             {{SYS_write, EIO, 2, 1}, {"failed to write '0' to ", "/tracing_on: Input/output error"}},
             {{SYS_write, ENOMEM, 2, 5},
              {"failed to set the trace buffer to 12345 KiB per cpu: Cannot allocate memory"}},
             {{SYS_write, EINVAL, 2, static_cast<std::uint32_t>(filter.size())},
              {"failed to set the kernel filter '" + filter + "': Invalid argument"}},
             {{SYS_openat, EMFILE, 2, O_RDONLY | O_NONBLOCK | O_CLOEXEC},
              {"failed to open ", "/per_cpu/cpu0/trace_pipe_raw: Too many open files"}}}) {
        test::Confinement sandbox;
        sandbox.deny.push_back(c.deny);
        test::ConfinedProcess trace({test::bin("socklab"), "trace", "--port", "9", "--duration", "5",
                                     "--buffer-kb", "12345"},
                                    sandbox);
        const pid_t pid = trace.pid();
        const auto r = trace.finish(30s);
        EXPECT_EQ(r.exit_code, 1) << c.words[0] << "\n" << r.err;
        for (const auto& w : c.words) EXPECT_NE(r.err.find(w), std::string::npos) << r.err;
        EXPECT_FALSE(instance_of_pid_exists(pid)) << c.words[0] << ": the tracing instance was left behind";
    }
}

// Something else holds a file of the instance open when socklab trace ends: it cannot remove
// the instance, says so, and names the command that does once the file is closed.
TEST(TraceCli, AnInstanceThatCannotBeRemovedIsNamedWithTheCommand) {
    SOCKLAB_REQUIRE_ROOT();
    TraceChild child({"--port", "9"});
    ASSERT_TRUE(test::wait_until([&] { return instance_of_pid_ready(child.pid); }, 5s))
        << TraceChild::slurp(child.err_path);
    const int child_pid = child.pid;
    const std::string dir = test::tracing_instances_dir() + "/" + instance_name_of_pid(child_pid);
    // Holds the instance's "trace" file open; removes the instance whatever happens.
    struct Holder {
        std::string dir;
        int fd = -1;
        void release() {
            if (fd >= 0) ::close(fd);
            fd = -1;
        }
        ~Holder() {
            release();
            ::rmdir(dir.c_str());
        }
    } holder{dir, ::open((dir + "/trace").c_str(), O_RDONLY | O_CLOEXEC)};
    ASSERT_GE(holder.fd, 0) << dir << ": " << std::strerror(errno);
    ASSERT_EQ(::kill(child.pid, SIGINT), 0);
    EXPECT_EQ(child.wait_exit(), 0);
    const auto err = TraceChild::slurp(child.err_path);
    EXPECT_NE(err.find("socklab: failed to remove the tracing instance " + dir +
                       ": Device or resource busy; remove it with 'rmdir " + dir + "'\n"),
              std::string::npos)
        << err;
    // The advice works once nothing holds the instance (or a later socklab already did it).
    holder.release();
    EXPECT_TRUE(::rmdir(dir.c_str()) == 0 || errno == ENOENT) << std::strerror(errno);
    EXPECT_FALSE(instance_of_pid_exists(child_pid));
}

}  // namespace
}  // namespace socklab
