// The port doctor on the real kernel: `socklab why` names what holds a port and explains it,
// `socklab free` acts only when told to, only through pidfds, and verifies with a real bind().
// Every port is kernel-chosen (bind port 0) and held by this test or its children while it
// is probed; every child is killed and reaped in a destructor, even when a test fails.
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "socklab/doctor.hpp"
#include "socklab/error.hpp"
#include "socklab/state.hpp"
#include "testsupport.hpp"

namespace socklab {
namespace {

using namespace std::chrono_literals;
using test::bin;
using test::CommandResult;
using test::run_command;

constexpr std::uint32_t kNobody = 65534;

// A child process with a pipe from its stdout; SIGKILLed and reaped on destruction.
class Child {
public:
    // Run `body(write_fd)` in a forked child, which then exits.
    static Child fork_run(const std::function<void(int)>& body) {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) throw sys_error("create a pipe", errno);
        const pid_t pid = ::fork();
        if (pid < 0) throw sys_error("fork", errno);
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            ::close(p[0]);
            body(p[1]);
            ::_exit(0);
        }
        ::close(p[1]);
        return Child(pid, p[0]);
    }
    // doctor_holder with these arguments; its stdout is ours to read.
    static Child holder(const std::vector<std::string>& args) {
        const std::string path = bin("doctor_holder");
        std::vector<std::string> argv{path};
        argv.insert(argv.end(), args.begin(), args.end());
        return fork_run([&](int out) {
            std::vector<char*> a;
            for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
            a.push_back(nullptr);
            ::dup2(out, 1);
            ::execv(a[0], a.data());
            ::_exit(127);
        });
    }
    Child(pid_t pid, int out) : pid_(pid), out_(out) {}
    Child(Child&& o) noexcept
        : pid_(std::exchange(o.pid_, -1)), out_(std::move(o.out_)), status_(o.status_) {}
    Child& operator=(Child&&) = delete;
    ~Child() { kill_and_reap(); }

    [[nodiscard]] pid_t pid() const { return pid_; }

    // One line of the child's stdout, waiting at most `timeout`.
    std::string read_line(std::chrono::milliseconds timeout = 5s) {
        std::string line;
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            pollfd p{out_.get(), POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            char c = 0;
            if (::read(out_.get(), &c, 1) != 1) break;
            if (c == '\n') return line;
            line += c;
        }
        throw Error("failed to read a line from child " + std::to_string(pid_));
    }

    // Still running (not exited)? Reaps it when it has exited.
    bool alive() {
        if (pid_ <= 0) return false;
        int st = 0;
        const pid_t r = ::waitpid(pid_, &st, WNOHANG);
        if (r == 0) return true;
        status_ = st;
        pid_ = -1;
        return false;
    }
    // Wait (bounded) for the child to exit; its wait status.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout = 5s) {
        if (!test::wait_until([&] { return !alive(); }, timeout)) return std::nullopt;
        return status_;
    }
    void kill_and_reap() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status_, 0);
        pid_ = -1;
    }

private:
    pid_t pid_ = -1;
    UniqueFd out_;
    int status_ = 0;
};

std::uint16_t to_port(const std::string& s) { return static_cast<std::uint16_t>(std::stoi(s)); }

CommandResult socklab(const std::vector<std::string>& args) {
    std::vector<std::string> argv{bin("socklab")};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv);
}

nlohmann::json why_json(std::uint16_t port, int expect_exit) {
    const auto r = socklab({"why", std::to_string(port), "--json"});
    EXPECT_EQ(r.exit_code, expect_exit) << r.out << r.err;
    return nlohmann::json::parse(r.out);
}

const nlohmann::json* finding(const nlohmann::json& d, const std::string& kind) {
    for (const auto& f : d.at("findings"))
        if (f.at("kind") == kind) return &f;
    return nullptr;
}

const nlohmann::json* probe(const nlohmann::json& d, const std::string& addr, bool reuse) {
    for (const auto& p : d.at("probes"))
        if (p.at("address") == addr && p.at("reuseaddr") == reuse) return &p;
    return nullptr;
}

bool tcp_bind_works(std::uint16_t port) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
}

std::size_t count_local(std::uint16_t port, TcpState state) {
    auto src = make_netlink_source();
    std::size_t n = 0;
    for (const auto& r : test::sockets_on_port(*src, port))
        if (r.local_port == port && r.state == static_cast<std::uint8_t>(state)) ++n;
    return n;
}

// Run a command as user nobody, stdout and stderr together.
CommandResult run_as_nobody(const std::vector<std::string>& argv) {
    auto child = Child::fork_run([&](int out) {
        ::dup2(out, 1);
        ::dup2(out, 2);
        const int devnull = ::open("/dev/null", O_RDONLY);
        ::dup2(devnull, 0);
        if (::setgroups(0, nullptr) != 0 || ::setresgid(kNobody, kNobody, kNobody) != 0 ||
            ::setresuid(kNobody, kNobody, kNobody) != 0)
            ::_exit(126);
        std::vector<char*> a;
        for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
        a.push_back(nullptr);
        ::execv(a[0], a.data());
        ::_exit(127);
    });
    CommandResult r;
    try {
        for (;;) r.out += child.read_line(30s) + "\n";
    } catch (const Error&) {
        // end of output
    }
    const auto st = child.wait_exit(10s);
    if (st && WIFEXITED(*st)) r.exit_code = WEXITSTATUS(*st);
    return r;
}

// ---- why --------------------------------------------------------------------------------

TEST(DoctorWhy, NamesTheListenerWithItsProcess) {
    auto holder = Child::holder({"listen", "127.0.0.1"});
    const auto port = to_port(holder.read_line());
    const auto d = why_json(port, 1);
    EXPECT_FALSE(d.at("bindable").get<bool>());
    const auto* f = finding(d, "listener");
    ASSERT_NE(f, nullptr) << d.dump(2);
    EXPECT_TRUE(f->at("blocks").get<bool>());
    ASSERT_EQ(f->at("pids").size(), 1u);
    EXPECT_EQ(f->at("pids")[0].get<int>(), holder.pid());
    bool named = false;
    for (const auto& p : d.at("processes"))
        if (p.at("pid") == holder.pid()) {
            named = true;
            EXPECT_EQ(p.at("command"), "doctor_holder");
            EXPECT_EQ(p.at("user"), test::is_root() ? "root" : p.at("user"));
            EXPECT_GT(p.at("start_time").get<std::int64_t>(), 0);
            EXPECT_LT(p.at("age_s").get<std::uint64_t>(), 60u);
        }
    EXPECT_TRUE(named) << d.dump(2);
    // A listener stops every probe: 0.0.0.0 and :: overlap 127.0.0.1, SO_REUSEADDR or not.
    for (const auto* addr : {"127.0.0.1", "0.0.0.0", "::"})
        for (bool reuse : {false, true}) {
            const auto* p = probe(d, addr, reuse);
            ASSERT_NE(p, nullptr);
            EXPECT_EQ(p->at("errno").get<int>(), EADDRINUSE) << addr << " reuse=" << reuse;
        }
    // The text names it for a person too.
    const auto text = socklab({"why", std::to_string(port)});
    EXPECT_EQ(text.exit_code, 1);
    EXPECT_NE(text.out.find("pid " + std::to_string(holder.pid()) + " (doctor_holder"),
              std::string::npos) << text.out;
    EXPECT_NE(text.out.find("running since"), std::string::npos) << text.out;
}

TEST(DoctorWhy, FreePortExitsZero) {
    // A port this test just held and released: nothing on it (kernel-chosen, so ours).
    std::uint16_t port = 0;
    {
        auto l = test::tcp_listen("127.0.0.1", 0);
        port = test::local_port(l.get());
    }
    const auto d = why_json(port, 0);
    EXPECT_TRUE(d.at("bindable").get<bool>());
    for (const auto& p : d.at("probes")) EXPECT_TRUE(p.at("ok").get<bool>()) << p.dump();
}

TEST(DoctorWhy, ExplainsTimeWaitAndThatReuseaddrBindsAnyway) {
    const auto port = test::make_time_wait(/*reuseaddr=*/true);
    const auto d = why_json(port, 1);
    const auto* f = finding(d, "time_wait");
    ASSERT_NE(f, nullptr) << d.dump(2);
    EXPECT_TRUE(f->at("pids").empty()) << "TIME_WAIT has no owner";
    const auto left = f->at("seconds_left_max").get<std::uint32_t>();
    EXPECT_GE(left, 1u);
    EXPECT_LE(left, 60u);
    EXPECT_NE(f->at("explanation").get<std::string>().find("SO_REUSEADDR"), std::string::npos);
    // Both reasons for TIME_WAIT, and who gets it: the side that sent the first FIN.
    const auto text = f->at("explanation").get<std::string>();
    EXPECT_NE(text.find("sent the first FIN"), std::string::npos) << text;
    EXPECT_NE(text.find("retransmitted"), std::string::npos) << text;
    EXPECT_NE(text.find("late duplicate"), std::string::npos) << text;
    EXPECT_NE(text.find("RFC 1337"), std::string::npos) << text;
    EXPECT_EQ(probe(d, "127.0.0.1", false)->at("errno").get<int>(), EADDRINUSE);
    EXPECT_TRUE(probe(d, "127.0.0.1", true)->at("ok").get<bool>());
    EXPECT_TRUE(d.at("bindable_with_reuseaddr").get<bool>());
}

TEST(DoctorWhy, TimeWaitOfASocketWithoutReuseaddrBlocksEvenReuseaddr) {
    const auto port = test::make_time_wait(/*reuseaddr=*/false);
    const auto d = why_json(port, 1);
    ASSERT_NE(finding(d, "time_wait"), nullptr) << d.dump(2);
    EXPECT_EQ(probe(d, "127.0.0.1", true)->at("errno").get<int>(), EADDRINUSE);
    EXPECT_FALSE(d.at("bindable_with_reuseaddr").get<bool>());
}

TEST(DoctorWhy, OrphanedFinWait2HasNoOwnerAndATimer) {
    auto src = make_netlink_source();
    auto l = test::tcp_listen("127.0.0.1", 0);
    const auto port = test::local_port(l.get());
    auto c = test::tcp_connect("127.0.0.1", port);
    auto a = test::tcp_accept(l.get());
    a.reset();  // the server closes; the client never does: an orphan in FIN_WAIT2
    l.reset();
    ASSERT_TRUE(test::wait_for_state(*src, port, 0, static_cast<std::uint8_t>(TcpState::fin_wait2)));
    const auto d = why_json(port, 1);
    const auto* f = finding(d, "fin_wait2");
    ASSERT_NE(f, nullptr) << d.dump(2);
    EXPECT_TRUE(f->at("pids").empty());
    EXPECT_NE(f->at("summary").get<std::string>().find("orphaned"), std::string::npos);
    EXPECT_GE(f->at("seconds_left_max").get<std::uint32_t>(), 1u);
}

// An owned FIN_WAIT2 exists only after shutdown(); the doctor says so, and says that the
// peer's FIN turns it into TIME_WAIT — checked against the kernel right after.
TEST(DoctorWhy, OwnedFinWait2ComesFromShutdownAndBecomesTimeWait) {
    auto src = make_netlink_source();
    auto l = test::tcp_listen("127.0.0.1", 0);
    const auto lport = test::local_port(l.get());
    auto c = test::tcp_connect("127.0.0.1", lport);
    auto a = test::tcp_accept(l.get());
    const auto port = test::local_port(c.get());
    ASSERT_EQ(::shutdown(c.get(), SHUT_WR), 0);
    ASSERT_TRUE(test::wait_for_state(*src, port, lport,
                                     static_cast<std::uint8_t>(TcpState::fin_wait2)));
    const auto d = why_json(port, 1);
    const auto* f = finding(d, "fin_wait2");
    ASSERT_NE(f, nullptr) << d.dump(2);
    const auto text = f->at("explanation").get<std::string>();
    EXPECT_NE(text.find("only shutdown() leaves a FIN_WAIT2 that a process still owns"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("becomes TIME_WAIT"), std::string::npos) << text;
    a.reset();  // the peer's FIN
    EXPECT_TRUE(test::wait_for_state(*src, port, lport,
                                     static_cast<std::uint8_t>(TcpState::time_wait)));
    EXPECT_EQ(count_local(port, TcpState::time_wait), 1u);
}

TEST(DoctorWhy, CloseWaitNamesTheHolderAndHowLongThePeerIsGone) {
    auto holder = Child::holder({"closewait"});
    const auto port = to_port(holder.read_line());
    auto src = make_netlink_source();
    {
        auto c = test::tcp_connect("127.0.0.1", port);
        ASSERT_EQ(holder.read_line(), "accepted");
    }  // the client closes: the holder's socket goes CLOSE_WAIT and stays there
    ASSERT_TRUE(test::wait_for_state(*src, port, 0, static_cast<std::uint8_t>(TcpState::close_wait)));
    const auto d = why_json(port, 1);
    const auto* f = finding(d, "close_wait");
    ASSERT_NE(f, nullptr) << d.dump(2);
    ASSERT_EQ(f->at("pids").size(), 1u);
    EXPECT_EQ(f->at("pids")[0].get<int>(), holder.pid());
    if (test::is_root()) {
        ASSERT_TRUE(f->contains("quiet_s")) << f->dump(2);
        EXPECT_LT(f->at("quiet_s").get<std::uint64_t>(), 30u);
    }
}

TEST(DoctorWhy, UdpSocketDoesNotBlockTcp) {
    auto u = test::udp_bind("127.0.0.1", 0);
    const auto port = test::local_port(u.get());
    const auto r = socklab({"why", std::to_string(port), "--json"});
    const auto d = nlohmann::json::parse(r.out);
    const auto* f = finding(d, "udp");
    ASSERT_NE(f, nullptr) << d.dump(2);
    EXPECT_FALSE(f->at("blocks").get<bool>());
    ASSERT_EQ(f->at("pids").size(), 1u);
    EXPECT_EQ(f->at("pids")[0].get<int>(), ::getpid());
    // The UDP socket alone leaves the TCP port free (unless some TCP socket took it meanwhile).
    EXPECT_EQ(r.exit_code, d.at("bindable").get<bool>() ? 0 : 1);
}

TEST(DoctorWhy, DualStackListenerCoversIpv4) {
    SOCKLAB_REQUIRE_ROOT();
    test::PrivateNetns ns;  // children inherit it: the table holds only this test's sockets
    auto l = test::tcp_listen("::", 0);
    const auto port = test::local_port(l.get());
    const auto d = why_json(port, 1);
    ASSERT_NE(finding(d, "dual_stack"), nullptr) << d.dump(2);
    EXPECT_EQ(probe(d, "0.0.0.0", false)->at("errno").get<int>(), EADDRINUSE);
    EXPECT_EQ(probe(d, "127.0.0.1", false)->at("errno").get<int>(), EADDRINUSE);
}

TEST(DoctorWhy, ReuseportGroupOfAnotherUser) {
    SOCKLAB_REQUIRE_ROOT();
    auto group = Child::fork_run([](int out) {
        if (::setresgid(kNobody, kNobody, kNobody) != 0 ||
            ::setresuid(kNobody, kNobody, kNobody) != 0)
            ::_exit(126);
        const int one = 1;
        std::uint16_t port = 0;
        for (int i = 0; i < 2; ++i) {
            const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
            ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons(port);
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 4) != 0)
                ::_exit(125);
            socklen_t len = sizeof a;
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
            port = ntohs(a.sin_port);
        }
        const std::string line = std::to_string(port) + "\n";
        if (::write(out, line.data(), line.size()) < 0) ::_exit(124);
        for (;;) ::pause();
    });
    const auto port = to_port(group.read_line());
    const auto d = why_json(port, 1);
    const auto* f = finding(d, "reuseport_group");
    ASSERT_NE(f, nullptr) << d.dump(2);
    EXPECT_EQ(f->at("sockets").size(), 2u);
    EXPECT_NE(f->at("explanation").get<std::string>().find("uid 65534"), std::string::npos);
    EXPECT_NE(f->at("explanation").get<std::string>().find("another user"), std::string::npos);
}

TEST(DoctorWhy, BadInputIsOneLineAndExitTwo) {
    for (const auto* bad : {"0", "65536", "http", "-5", "80x"}) {
        const auto r = socklab({"why", bad});
        EXPECT_EQ(r.exit_code, 2) << bad;
        EXPECT_NE(r.err.find("not a port"), std::string::npos) << r.err;
        EXPECT_TRUE(r.out.empty());
    }
    const auto r = socklab({"free", "8080", "--signal", "HUP"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    const auto both = socklab({"free", "8080", "--signal", "KILL", "--destroy"});
    EXPECT_EQ(both.exit_code, 2) << both.err;
}

// ---- SOCK_DESTROY ------------------------------------------------------------------------

TEST(DoctorDestroy, EstablishedSocketNamedByTupleAndCookie) {
    SOCKLAB_REQUIRE_ROOT();
    auto src = make_netlink_source();
    auto l = test::tcp_listen("127.0.0.1", 0);
    const auto port = test::local_port(l.get());
    auto c = test::tcp_connect("127.0.0.1", port);
    auto a = test::tcp_accept(l.get());
    std::optional<SocketRecord> rec;
    for (const auto& r : test::sockets_on_port(*src, port))
        if (r.local_port == port && r.state == static_cast<std::uint8_t>(TcpState::established))
            rec = r;
    ASSERT_TRUE(rec.has_value());
    ASSERT_NE(rec->cookie, 0u);
    EXPECT_TRUE(socket_exists(*rec));
    // The same 4-tuple with another cookie is another socket: the kernel refuses to touch it.
    SocketRecord other = *rec;
    other.cookie ^= 1;
    EXPECT_FALSE(socket_exists(other));
    EXPECT_EQ(destroy_socket(other), ENOENT);
    EXPECT_TRUE(socket_exists(*rec));
    EXPECT_EQ(destroy_socket(*rec), 0);
    EXPECT_FALSE(socket_exists(*rec));
    char byte = 0;
    EXPECT_LT(::recv(a.get(), &byte, 1, MSG_DONTWAIT), 0);
    EXPECT_EQ(errno, ECONNABORTED) << "the owner sees its connection aborted";
}

// ---- free -------------------------------------------------------------------------------

TEST(DoctorFree, EndsTheListenerAndThePortBinds) {
    auto holder = Child::holder({"listen", "127.0.0.1"});
    const auto port = to_port(holder.read_line());
    const auto r = socklab({"free", std::to_string(port), "--yes"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("send SIGTERM to pid " + std::to_string(holder.pid())), std::string::npos)
        << r.out;
    const auto st = holder.wait_exit();
    ASSERT_TRUE(st.has_value());
    EXPECT_TRUE(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGTERM);
    EXPECT_TRUE(tcp_bind_works(port));
}

TEST(DoctorFree, NothingWithoutYesOffATerminal) {
    auto holder = Child::holder({"listen", "127.0.0.1"});
    const auto port = to_port(holder.read_line());
    const auto r = socklab({"free", std::to_string(port)});  // stdin is a pipe, no --yes
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "socklab: not on a terminal and no --yes: nothing done. Add --yes to act "
                     "without asking.\n");
    EXPECT_NE(r.out.find("pid " + std::to_string(holder.pid())), std::string::npos) << r.out;
    EXPECT_TRUE(holder.alive());
    EXPECT_FALSE(tcp_bind_works(port));
    // Answering "y" on a pipe is not a terminal either.
    const auto piped = run_command({bin("socklab"), "free", std::to_string(port)}, "y\n");
    EXPECT_EQ(piped.exit_code, 1);
    EXPECT_TRUE(holder.alive());
}

TEST(DoctorFree, KillOnlyWhenAskedAfterTheGracePeriod) {
    auto holder = Child::holder({"listen", "127.0.0.1", "--ignore-term"});
    const auto port = to_port(holder.read_line());
    const auto term = socklab({"free", std::to_string(port), "--yes", "--grace", "0.3"});
    EXPECT_EQ(term.exit_code, 1) << term.out;
    EXPECT_NE(term.out.find("--signal KILL"), std::string::npos) << term.out;
    EXPECT_TRUE(holder.alive());
    const auto kill =
        socklab({"free", std::to_string(port), "--yes", "--signal", "KILL", "--grace", "0.3"});
    EXPECT_EQ(kill.exit_code, 0) << kill.out << kill.err;
    const auto st = holder.wait_exit();
    ASSERT_TRUE(st.has_value());
    EXPECT_TRUE(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGKILL);
    EXPECT_TRUE(tcp_bind_works(port));
}

TEST(DoctorFree, DestroyClearsACloseWaitLeakWhileItsProcessLivesOn) {
    SOCKLAB_REQUIRE_ROOT();
    auto holder = Child::holder({"closewait"});
    const auto port = to_port(holder.read_line());
    auto src = make_netlink_source();
    {
        auto c = test::tcp_connect("127.0.0.1", port);
        ASSERT_EQ(holder.read_line(), "accepted");
    }
    ASSERT_TRUE(test::wait_for_state(*src, port, 0, static_cast<std::uint8_t>(TcpState::close_wait)));
    ASSERT_FALSE(tcp_bind_works(port));
    const auto r = socklab({"free", std::to_string(port), "--destroy", "--yes"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("CLOSE_WAIT"), std::string::npos) << r.out;
    EXPECT_TRUE(holder.alive()) << "--destroy must not kill the program";
    EXPECT_EQ(count_local(port, TcpState::close_wait), 0u);
    EXPECT_TRUE(tcp_bind_works(port));
}

TEST(DoctorFree, DestroyClosesAListenerAndItsProcessLivesOn) {
    SOCKLAB_REQUIRE_ROOT();
    auto holder = Child::holder({"listen", "127.0.0.1"});
    const auto port = to_port(holder.read_line());
    const auto r = socklab({"free", std::to_string(port), "--destroy", "--yes"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("can accept no more connections"), std::string::npos) << r.out;
    EXPECT_TRUE(holder.alive());
    EXPECT_EQ(count_local(port, TcpState::listen), 0u);
    EXPECT_TRUE(tcp_bind_works(port));
}

TEST(DoctorFree, DestroyClearsTimeWait) {
    SOCKLAB_REQUIRE_ROOT();
    const auto port = test::make_time_wait(/*reuseaddr=*/false);
    ASSERT_EQ(count_local(port, TcpState::time_wait), 1u);
    // Signalling cannot help: nobody owns TIME_WAIT. The plan says so and does nothing.
    const auto sig = socklab({"free", std::to_string(port), "--yes"});
    EXPECT_EQ(sig.exit_code, 1);
    EXPECT_NE(sig.out.find("no owner"), std::string::npos) << sig.out;
    const auto r = socklab({"free", std::to_string(port), "--destroy", "--yes"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(count_local(port, TcpState::time_wait), 0u);
    // The plan warns what destroying TIME_WAIT gives up, and names the server's real fix.
    EXPECT_NE(r.out.find("note: destroying 1 TIME_WAIT socket(s) removes what TIME_WAIT is "
                         "for"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("(TIME-WAIT assassination, RFC 1337)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("SO_REUSEADDR on its listening socket"), std::string::npos) << r.out;
    EXPECT_TRUE(tcp_bind_works(port));
}

TEST(DoctorFree, RefusesPid1SelfParentAndKernelThreads) {
    EXPECT_NE(refusal_reason(1).find("pid 1"), std::string::npos);
    EXPECT_NE(refusal_reason(::getpid()).find("itself"), std::string::npos);
    EXPECT_NE(refusal_reason(::getppid()).find("parent"), std::string::npos);
    std::ifstream comm("/proc/2/comm");
    std::string name;
    if (comm >> name && name == "kthreadd") {
        EXPECT_NE(refusal_reason(2).find("kernel thread"), std::string::npos);
    }
    auto holder = Child::holder({"listen", "127.0.0.1"});
    EXPECT_TRUE(refusal_reason(holder.pid()).empty());

    // This process holds a listener: the plan refuses to signal itself, and nothing happens.
    auto l = test::tcp_listen("127.0.0.1", 0);
    const auto port = test::local_port(l.get());
    const Diagnosis d = diagnose(port);
    ASSERT_NE(d.owner(::getpid()), nullptr);
    const Plan plan = make_plan(d);
    ASSERT_EQ(plan.actions.size(), 1u);
    EXPECT_NE(plan.actions[0].refused.find("itself"), std::string::npos);
    EXPECT_EQ(plan.runnable(), 0u);
    const FreeResult res = execute(plan);
    ASSERT_EQ(res.results.size(), 1u);
    EXPECT_EQ(res.results[0].outcome, Outcome::refused);

    // `socklab free` run by this process: its parent holds the port, so it refuses.
    const auto r = socklab({"free", std::to_string(port), "--yes"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.out.find("parent"), std::string::npos) << r.out;
    auto c = test::tcp_connect("127.0.0.1", port);
    EXPECT_NO_THROW(test::tcp_accept(l.get())) << "the listener must still work";

    // A diagnosis naming pid 1 as the owner: refused at plan time and again at execute time.
    Diagnosis fake = d;
    fake.owners.front().pid = 1;
    const Plan p1 = make_plan(fake);
    ASSERT_EQ(p1.actions.size(), 1u);
    EXPECT_NE(p1.actions[0].refused.find("pid 1"), std::string::npos);
    Plan forced = p1;
    forced.actions[0].refused.clear();  // even a plan edited to run it is refused on re-check
    const FreeResult r1 = execute(forced);
    EXPECT_EQ(r1.results.at(0).outcome, Outcome::refused);
}

// clone3() with set_tid: root may choose the pid of its child. That makes "the owner exits and
// another process appears with its pid" deterministic.
struct CloneArgs {
    std::uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
        set_tid, set_tid_size, cgroup;
};

TEST(DoctorFree, PidReuseRaceSignalsNobody) {
    SOCKLAB_REQUIRE_ROOT();
    auto holder = Child::holder({"listen", "127.0.0.1"});
    const auto port = to_port(holder.read_line());
    const pid_t old_pid = holder.pid();
    const Diagnosis d = diagnose(port);
    const Plan plan = make_plan(d);
    ASSERT_EQ(plan.runnable(), 1u);
    ASSERT_EQ(plan.actions[0].process.pid, old_pid);

    std::optional<Child> imposter;
    ActHooks hooks;
    hooks.before_recheck = [&](const PlannedAction&) {
        holder.kill_and_reap();  // the owner exits...
        int p[2];
        ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
        pid_t tid = old_pid;
        CloneArgs args{};
        args.exit_signal = SIGCHLD;
        args.set_tid = reinterpret_cast<std::uintptr_t>(&tid);
        args.set_tid_size = 1;
        const long r = ::syscall(SYS_clone3, &args, sizeof args);
        if (r == 0) {
            // ...and another process appears with its pid, even holding the same port.
            // Raw system calls only: this child was made by clone3 behind glibc's back.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons(port);
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            const char ok = (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                             ::listen(fd, 4) == 0) ? 'y' : 'n';
            const char line[2] = {ok, '\n'};
            if (::write(p[1], line, 2) < 0) ::_exit(1);
            for (;;) ::pause();
        }
        ::close(p[1]);
        ASSERT_EQ(r, old_pid) << "clone3(set_tid) failed: " << std::strerror(errno);
        imposter.emplace(static_cast<pid_t>(r), p[0]);
        ASSERT_EQ(imposter->read_line(), "y");
    };
    const FreeResult res = execute(plan, hooks);
    ASSERT_TRUE(imposter.has_value());
    ASSERT_EQ(res.results.size(), 1u);
    EXPECT_EQ(res.results[0].outcome, Outcome::gone) << res.results[0].message;
    EXPECT_EQ(res.results[0].message, "pid " + std::to_string(old_pid) +
                                          " (doctor_holder, user root) has exited already: "
                                          "nothing signalled");
    EXPECT_TRUE(imposter->alive()) << "the process that took the pid must not be signalled";
    EXPECT_EQ(imposter->pid(), old_pid);
    EXPECT_FALSE(res.bindable()) << "the imposter holds the port; nothing was done to it";
}

// The owner lives on but lets go of the socket between plan and act: nothing is signalled.
int g_held_fd = -1;
extern "C" void close_held_fd(int) { ::close(g_held_fd); }

TEST(DoctorFree, OwnerThatLetGoOfTheSocketIsNotSignalled) {
    auto child = Child::fork_run([](int out) {
        ::signal(SIGUSR1, close_held_fd);
        g_held_fd = test::tcp_listen("127.0.0.1", 0).release();
        const std::string line = std::to_string(test::local_port(g_held_fd)) + "\n";
        if (::write(out, line.data(), line.size()) < 0) ::_exit(1);
        for (;;) ::pause();
    });
    const auto port = to_port(child.read_line());
    const Plan plan = make_plan(diagnose(port));
    ASSERT_EQ(plan.runnable(), 1u);
    ActHooks hooks;
    hooks.before_recheck = [&](const PlannedAction&) {
        ::kill(child.pid(), SIGUSR1);  // our own unreaped child: the pid cannot be reused
        ASSERT_TRUE(test::wait_until([&] { return count_local(port, TcpState::listen) == 0; }));
    };
    const FreeResult res = execute(plan, hooks);
    ASSERT_EQ(res.results.size(), 1u);
    EXPECT_EQ(res.results[0].outcome, Outcome::not_holding) << res.results[0].message;
    EXPECT_EQ(res.results[0].message.rfind("pid " + std::to_string(child.pid()) + " (", 0), 0u)
        << res.results[0].message;
    EXPECT_NE(res.results[0].message.find(") no longer holds its socket on port " +
                                          std::to_string(port) + ": nothing signalled"),
              std::string::npos)
        << res.results[0].message;
    EXPECT_TRUE(child.alive());
    EXPECT_TRUE(res.bindable());
}

TEST(DoctorFree, NonRootPathReportsWhatIsNeeded) {
    SOCKLAB_REQUIRE_ROOT();  // root makes the other user's process and drops to nobody
    auto holder = Child::holder({"listen", "127.0.0.1"});
    const auto port = to_port(holder.read_line());
    const auto why = run_as_nobody({bin("socklab"), "why", std::to_string(port)});
    EXPECT_EQ(why.exit_code, 1) << why.out;
    EXPECT_NE(why.out.find("run as root"), std::string::npos) << why.out;
    const auto sig = run_as_nobody({bin("socklab"), "free", std::to_string(port), "--yes"});
    EXPECT_EQ(sig.exit_code, 1) << sig.out;
    EXPECT_NE(sig.out.find("sudo socklab free"), std::string::npos) << sig.out;
    EXPECT_TRUE(holder.alive());

    const auto tw = test::make_time_wait(false);
    const auto destroy =
        run_as_nobody({bin("socklab"), "free", std::to_string(tw), "--destroy", "--yes"});
    EXPECT_EQ(destroy.exit_code, 1) << destroy.out;
    EXPECT_NE(destroy.out.find("CAP_NET_ADMIN"), std::string::npos) << destroy.out;
    EXPECT_EQ(count_local(tw, TcpState::time_wait), 1u);
}

}  // namespace
}  // namespace socklab
