// socklab-helper as it is meant to run: a copy with the file capabilities of
// docs/privileges.md, started by an unprivileged user in group socklab. Root sets the stage
// (group, users, the copy, tracefs) and removes all of it again, even when a test fails;
// the requests themselves run in a child that has become that user, with no capabilities.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "socklab/doctor.hpp"
#include "socklab/helper_client.hpp"
#include "socklab/source.hpp"
#include "socklab/state.hpp"
#include "testsupport.hpp"
#include "../viewer/xvfb.hpp"

namespace h = socklab::helper;
using namespace std::chrono_literals;

namespace {

constexpr const char* kCaps =
    "cap_dac_override,cap_dac_read_search,cap_sys_ptrace,cap_kill,cap_net_admin,cap_net_raw=p";
constexpr long kTracefsMagic = 0x74726163;

struct Account {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
};

bool run_ok(const std::vector<std::string>& argv) {
    const auto r = socklab::test::run_command(argv);
    if (r.exit_code != 0) ADD_FAILURE() << argv[0] << " failed: " << r.err;
    return r.exit_code == 0;
}

Account lookup(const std::string& name) {
    const passwd* pw = ::getpwnam(name.c_str());
    if (pw == nullptr) throw std::runtime_error("no user " + name);
    return {name, pw->pw_uid, pw->pw_gid};
}

// Run `fn` in a child that has become `who` (groups from the group file, no capabilities
// left) and return what it returned; "EXCEPTION: ..." when it threw.
std::string run_as(const Account& who, const std::function<std::string()>& fn) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return "pipe failed";
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(p[0]);
        std::string out;
        if (::initgroups(who.name.c_str(), who.gid) != 0 || ::setgid(who.gid) != 0 ||
            ::setuid(who.uid) != 0) {
            out = "failed to become " + who.name;
        } else {
            try {
                out = fn();
            } catch (const std::exception& e) {
                out = std::string("EXCEPTION: ") + e.what();
            }
        }
        std::size_t off = 0;
        while (off < out.size()) {
            const ssize_t n = ::write(p[1], out.data() + off, out.size() - off);
            if (n <= 0) break;
            off += static_cast<std::size_t>(n);
        }
        ::_exit(0);
    }
    ::close(p[1]);
    socklab::UniqueFd r(p[0]);
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd pf{r.get(), POLLIN, 0};
        if (left.count() <= 0 || ::poll(&pf, 1, static_cast<int>(left.count())) <= 0) {
            ::kill(pid, SIGKILL);
            out += "\nTIMEOUT";
            break;
        }
        char buf[4096];
        const ssize_t n = ::read(r.get(), buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
    return out;
}

std::string cap_eff() {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("CapEff:", 0) == 0) return line.substr(line.find_first_not_of(" \t", 7));
    return "?";
}

std::string answer_text(const socklab::HelperClient::Answer& a) {
    return (a.ok ? std::string("ok") : std::string(h::error_code_name(a.code))) + ": " + a.message;
}

class HelperPriv : public ::testing::Test {
protected:
    void SetUp() override {
        SOCKLAB_REQUIRE_ROOT();
        if (!socklab::test::have_program("setcap") || !socklab::test::have_program("useradd"))
            GTEST_SKIP() << "needs setcap (libcap2-bin) and useradd (passwd)";
        // Another run of these tests (or anything else that follows this lock) waits here.
        lock_.reset(::open("/tmp/socklab-group-socklab.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600));
        ASSERT_TRUE(lock_.valid());
        ASSERT_EQ(::flock(lock_.get(), LOCK_EX), 0);
        armed_ = true;
        if (::getgrnam("socklab") == nullptr) {
            ASSERT_TRUE(run_ok({"groupadd", "socklab"}));
            made_group_ = true;
        }
        const std::string tag = std::to_string(::getpid());
        member_name_ = "slhm" + tag;
        outsider_name_ = "slho" + tag;
        ASSERT_TRUE(run_ok({"useradd", "-M", "-N", "-g", "nogroup", "-G", "socklab", "-s",
                            "/usr/sbin/nologin", member_name_}));
        made_member_ = true;
        ASSERT_TRUE(run_ok({"useradd", "-M", "-N", "-g", "nogroup", "-s", "/usr/sbin/nologin",
                            outsider_name_}));
        made_outsider_ = true;
        member_ = lookup(member_name_);
        outsider_ = lookup(outsider_name_);

        dir_ = std::make_unique<socklab::test::TempDir>("socklab-helper-test");
        ASSERT_EQ(::chmod(dir_->path.c_str(), 0755), 0);
        helper_ = dir_->path / "socklab-helper";
        bare_ = dir_->path / "socklab-helper-nocaps";
        for (const auto& p : {helper_, bare_})
            std::filesystem::copy_file(socklab::test::bin("socklab-helper"), p);
        ASSERT_TRUE(run_ok({"setcap", kCaps, helper_.string()}));
        // tracefs: mounted where the tracer looks, as a booted system has it.
        struct statfs fs {};
        if (!(::statfs("/sys/kernel/tracing", &fs) == 0 &&
              static_cast<long>(fs.f_type) == kTracefsMagic)) {
            ASSERT_EQ(::mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr), 0)
                << std::strerror(errno);
            mounted_tracefs_ = true;
        }
    }

    void TearDown() override {
        if (!armed_) return;
        // Whatever the test users still run (an X server winding down after xvfb-run, a
        // child left by a failed test) ends before the users go: userdel refuses otherwise.
        for (const Account* a : {&member_, &outsider_})
            if (a->uid != 0) end_processes_of(a->uid);
        dir_.reset();
        if (made_member_) run_ok({"userdel", member_name_});
        if (made_outsider_) run_ok({"userdel", outsider_name_});
        if (made_group_) run_ok({"groupdel", "socklab"});
        if (mounted_tracefs_) ::umount2("/sys/kernel/tracing", MNT_DETACH);
        EXPECT_EQ(::getpwnam(member_name_.c_str()), nullptr);
        EXPECT_EQ(::getpwnam(outsider_name_.c_str()), nullptr);
        if (made_group_) {
            EXPECT_EQ(::getgrnam("socklab"), nullptr);
        }
    }

    Account member_, outsider_;
    std::filesystem::path helper_, bare_;

    // The pids whose real uid is `uid`.
    static std::vector<pid_t> processes_of(uid_t uid) {
        std::vector<pid_t> out;
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
            const auto name = e.path().filename().string();
            if (name.find_first_not_of("0123456789") != std::string::npos) continue;
            std::ifstream in(e.path() / "status");
            for (std::string line; std::getline(in, line);)
                if (line.rfind("Uid:", 0) == 0) {
                    if (std::stoul(line.substr(4)) == uid) out.push_back(std::stoi(name));
                    break;
                }
        }
        return out;
    }
    // Give the user's processes a few seconds to end on their own, then SIGKILL them.
    static void end_processes_of(uid_t uid) {
        if (socklab::test::wait_until([&] { return processes_of(uid).empty(); }, 5s)) return;
        for (const pid_t pid : processes_of(uid)) ::kill(pid, SIGKILL);
        socklab::test::wait_until([&] { return processes_of(uid).empty(); }, 5s);
    }

private:
    socklab::UniqueFd lock_;
    bool armed_ = false, made_group_ = false, made_member_ = false, made_outsider_ = false;
    bool mounted_tracefs_ = false;
    std::string member_name_, outsider_name_;
    std::unique_ptr<socklab::test::TempDir> dir_;
};

// ---- what the helper gives a member -----------------------------------------------------

TEST_F(HelperPriv, CopyHoldsExactlyTheDocumentedCapabilities) {
    const auto r = socklab::test::run_command({helper_.string(), "--capabilities"});
    EXPECT_EQ(r.out, "cap_dac_override,cap_dac_read_search,cap_sys_ptrace,cap_kill,"
                     "cap_net_admin,cap_net_raw\n");
    const auto g = socklab::test::run_command({"getcap", helper_.string()});
    EXPECT_NE(g.out.find("=p"), std::string::npos) << g.out;  // permitted only, never +e
}

TEST_F(HelperPriv, MemberTracesLoopbackTransitions) {
    const auto out = run_as(member_, [&]() -> std::string {
        std::string r = "capeff=" + cap_eff() + "\n";
        auto listener = socklab::test::tcp_listen("127.0.0.1", 0);
        const auto port = socklab::test::local_port(listener.get());
        socklab::TracerOptions opts;
        opts.port = port;
        socklab::HelperTracer tracer(helper_, opts);
        if (!tracer.status().active) return r + "inactive: " + tracer.status().message;
        r += "active\n";
        std::vector<socklab::TransitionEvent> events;
        {
            auto client = socklab::test::tcp_connect("127.0.0.1", port);
            auto server = socklab::test::tcp_accept(listener.get());
            client.reset();  // the client closes first: FIN_WAIT1/2 here, CLOSE_WAIT there
            socklab::test::wait_until([&] {
                tracer.poll(events, 50ms);
                for (const auto& e : events)
                    if (e.new_state == static_cast<std::uint8_t>(socklab::TcpState::close_wait))
                        return true;
                return false;
            });
        }  // the server closes: LAST_ACK -> CLOSE
        socklab::test::wait_until([&] {
            tracer.poll(events, 50ms);
            for (const auto& e : events)
                if (e.old_state == static_cast<std::uint8_t>(socklab::TcpState::last_ack))
                    return true;
            return false;
        });
        tracer.finish(events);
        for (const auto& e : events)
            r += std::string(socklab::state_name(e.old_state)) + ">" +
                 std::string(socklab::state_name(e.new_state)) + "\n";
        return r;
    });
    EXPECT_NE(out.find("capeff=0000000000000000\n"), std::string::npos) << out;
    ASSERT_NE(out.find("active\n"), std::string::npos) << out;
    for (const char* t : {"CLOSE>SYN_SENT", "SYN_SENT>ESTABLISHED", "LISTEN>SYN_RECV",
                          "SYN_RECV>ESTABLISHED", "ESTABLISHED>FIN_WAIT1", "FIN_WAIT1>FIN_WAIT2",
                          "ESTABLISHED>CLOSE_WAIT", "CLOSE_WAIT>LAST_ACK", "LAST_ACK>CLOSE"})
        EXPECT_NE(out.find(std::string(t) + "\n"), std::string::npos) << t << " missing in\n" << out;
    // The helper's tracing instance went with it.
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/sys/kernel/tracing/instances", ec)) {
        const auto owner = socklab::trace::parse_instance_name(e.path().filename().string());
        EXPECT_FALSE(owner && !socklab::trace::owner_alive(*owner)) << e.path();
    }
}

TEST_F(HelperPriv, MemberSeesOwnersOfRootsSockets) {
    auto listener = socklab::test::tcp_listen("127.0.0.1", 0);
    const auto port = socklab::test::local_port(listener.get());
    auto src = socklab::make_netlink_source();
    std::uint64_t inode = 0;
    for (const auto& s : socklab::test::sockets_on_port(*src, port))
        if (s.local_port == port) inode = s.inode;
    ASSERT_NE(inode, 0u);
    const auto out = run_as(member_, [&]() -> std::string {
        socklab::HelperClient c(helper_);
        socklab::HelperClient::Answer a;
        const std::uint64_t want[] = {inode};
        const auto owners = c.owners(want, a);
        std::string r = answer_text(a) + "\n";
        for (const auto& o : owners)
            r += std::to_string(o.inode) + " " + std::to_string(o.pid) + " " +
                 std::to_string(o.fd) + " " + std::to_string(o.uid) + "\n";
        return r;
    });
    EXPECT_EQ(out.rfind("ok: ", 0), 0u) << out;
    EXPECT_NE(out.find(std::to_string(inode) + " " + std::to_string(::getpid()) + " " +
                       std::to_string(listener.get()) + " 0\n"),
              std::string::npos)
        << out;
}

TEST_F(HelperPriv, MemberDestroysExactlyTheSocketNamed) {
    socklab::test::PrivateNetns ns;
    auto listener = socklab::test::tcp_listen("127.0.0.1", 0);
    const auto port = socklab::test::local_port(listener.get());
    auto client = socklab::test::tcp_connect("127.0.0.1", port);
    auto server = socklab::test::tcp_accept(listener.get());
    const auto cport = socklab::test::local_port(client.get());
    auto src = socklab::make_netlink_source();
    socklab::SocketRecord target;
    for (const auto& s : socklab::test::sockets_on_port(*src, port))
        if (s.local_port == cport) target = s;
    ASSERT_NE(target.cookie, 0u);

    const auto out = run_as(member_, [&]() -> std::string {
        socklab::HelperClient c(helper_);
        auto changed = target;
        changed.cookie += 1;  // same 4-tuple, another socket: what a reuse in between looks like
        std::string r = answer_text(c.destroy(changed)) + "\n";
        r += answer_text(c.destroy(target)) + "\n";
        r += answer_text(c.destroy(target)) + "\n";  // gone now
        return r;
    });
    std::istringstream lines(out);
    std::string changed, done, again;
    std::getline(lines, changed);
    std::getline(lines, done);
    std::getline(lines, again);
    EXPECT_EQ(changed.rfind("refused: refused to destroy", 0), 0u) << out;
    EXPECT_NE(changed.find("no socket with this 4-tuple and cookie exists now"), std::string::npos);
    EXPECT_EQ(done.rfind("ok: destroyed 127.0.0.1:" + std::to_string(cport), 0), 0u) << out;
    EXPECT_EQ(again.rfind("refused: ", 0), 0u) << out;
    // The kernel agrees: the client's socket was aborted; the listener on the same port,
    // not named, still stands.
    char byte;
    EXPECT_EQ(::recv(client.get(), &byte, 1, MSG_DONTWAIT), -1);
    EXPECT_EQ(errno, ECONNABORTED);
    bool listener_there = false, client_there = false;
    for (const auto& s : socklab::test::sockets_on_port(*src, port)) {
        if (s.local_port == cport) client_there = true;
        if (s.local_port == port && s.state == static_cast<std::uint8_t>(socklab::TcpState::listen))
            listener_there = true;
    }
    EXPECT_FALSE(client_there);
    EXPECT_TRUE(listener_there);
}

TEST_F(HelperPriv, MemberSignalsRootsProcessOnlyWhenItIsStillTheSame) {
    const pid_t victim = ::fork();
    if (victim == 0) {
        for (;;) ::pause();
    }
    ASSERT_GT(victim, 0);
    std::optional<std::uint64_t> ticks;
    socklab::test::wait_until([&] { return (ticks = socklab::process_start_ticks(victim)).has_value(); });
    ASSERT_TRUE(ticks);
    const auto init_ticks = socklab::process_start_ticks(1).value_or(0);
    const auto out = run_as(member_, [&]() -> std::string {
        socklab::HelperClient c(helper_);
        std::string r;
        r += answer_text(c.signal(victim, *ticks + 1, SIGTERM)) + "\n";  // another process
        r += answer_text(c.signal(1, init_ticks, SIGTERM)) + "\n";
        r += answer_text(c.signal(c.pid(), 0, SIGTERM)) + "\n";          // the helper itself
        r += answer_text(c.signal(::getpid(), 0, SIGTERM)) + "\n";       // its parent
        r += answer_text(c.signal(victim, *ticks, SIGHUP)) + "\n";       // not TERM or KILL
        r += answer_text(c.signal(victim, *ticks, SIGTERM)) + "\n";
        return r;
    });
    int st = 0;
    const bool reaped = socklab::test::wait_until([&] { return ::waitpid(victim, &st, WNOHANG) == victim; });
    if (!reaped) {
        ::kill(victim, SIGKILL);
        ::waitpid(victim, &st, 0);
    }
    std::istringstream lines(out);
    std::vector<std::string> l;
    for (std::string s; std::getline(lines, s);) l.push_back(s);
    ASSERT_EQ(l.size(), 6u) << out;
    EXPECT_NE(l[0].find("refused: refused to signal pid " + std::to_string(victim) + ": it started at tick"), std::string::npos) << l[0];
    EXPECT_EQ(l[1], "refused: refused to signal pid 1: pid 1 is init: signalling it could take the whole system down");
    EXPECT_EQ(l[2].rfind("refused: ", 0), 0u) << l[2];
    EXPECT_EQ(l[3].rfind("refused: ", 0), 0u) << l[3];
    EXPECT_EQ(l[4].rfind("refused: refused to send signal 1", 0), 0u) << l[4];
    EXPECT_EQ(l[5], "ok: sent TERM to pid " + std::to_string(victim)) << out;
    ASSERT_TRUE(reaped);
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
}

// ---- refusals ---------------------------------------------------------------------------

TEST_F(HelperPriv, UserOutsideTheGroupIsRefused) {
    const auto out = run_as(outsider_, [&]() -> std::string {
        socklab::HelperClient c(helper_);
        const auto a = c.start_trace(std::nullopt);
        return answer_text(a) + "\nexit=" + std::to_string(c.wait_exit(5s));
    });
    EXPECT_NE(out.find("failed: socklab-helper: refused: user " + outsider_.name +
                       " is not in group socklab"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("\nexit=1"), std::string::npos) << out;
}

TEST_F(HelperPriv, CopyWithoutCapabilitiesSaysWhichIsMissing) {
    const auto out = run_as(member_, [&]() -> std::string {
        socklab::HelperClient c(bare_);
        return answer_text(c.start_trace(std::nullopt));
    });
    EXPECT_EQ(out.rfind("no_permission: socklab-helper does not hold CAP_DAC_OVERRIDE, which "
                        "trace needs",
                        0),
              0u)
        << out;
}

TEST_F(HelperPriv, MalformedFramesAreRefusedAndEndTheSession) {
    struct Case {
        const char* name;
        std::vector<std::byte> bytes;
        const char* reply;
    };
    auto bytes = [](std::initializer_list<int> v) {
        std::vector<std::byte> out;
        for (int b : v) out.push_back(static_cast<std::byte>(b));
        return out;
    };
    const std::vector<Case> cases = {
        {"wrong version", bytes({0, 0, 0, 2, 9, 5}), "bad frame: protocol version 9 (this side speaks 1)"},
        {"oversized", bytes({0x7f, 0, 0, 0}), "bad frame: frame of 2130706432 bytes (at most 65536)"},
        {"truncated", bytes({0, 0, 0, 5, 1, 4, 0, 0, 0}), "bad frame: verb 4: truncated integer: 4 bytes wanted, 3 left"},
    };
    for (const auto& c : cases) {
        const auto out = run_as(member_, [&]() -> std::string {
            socklab::HelperClient hc(helper_);
            hc.send_bytes(c.bytes);
            auto m = hc.receive(10s);
            std::string r;
            if (const auto* e = m ? std::get_if<h::ErrorReply>(&*m) : nullptr)
                r = std::string(h::error_code_name(e->code)) + ": " + e->message;
            else
                r = "no error frame";
            r += m && !hc.receive(10s) ? "\nclosed" : "\nstill open";
            return r;
        });
        EXPECT_EQ(out, std::string("bad_frame: ") + c.reply + "\nclosed") << c.name;
    }
}

TEST_F(HelperPriv, UnknownVerbsAreRefusedAndTheSessionGoesOn) {
    const auto out = run_as(member_, [&]() -> std::string {
        socklab::HelperClient hc(helper_);
        std::string r;
        auto error_of = [&] {
            auto m = hc.receive(10s);
            const auto* e = m ? std::get_if<h::ErrorReply>(&*m) : nullptr;
            return e ? std::string(h::error_code_name(e->code)) + ": " + e->message : "none";
        };
        const std::byte unknown[] = {std::byte{0}, std::byte{0}, std::byte{0}, std::byte{3},
                                     std::byte{1}, std::byte{0x42}, std::byte{7}};
        hc.send_bytes(unknown);
        r += error_of() + "\n";
        hc.send(h::OkReply{"a reply is not a request", 0});
        r += error_of() + "\n";
        socklab::SocketRecord none;  // cookie 0
        none.family = AF_INET;
        none.local_addr = none.remote_addr = *socklab::parse_ip("127.0.0.1");
        r += answer_text(hc.destroy(none)) + "\n";
        return r;
    });
    EXPECT_EQ(out,
              "unknown_verb: refused: unknown verb 66\n"
              "unknown_verb: refused: verb 128 is not a request this helper serves\n"
              "refused: refused to destroy 127.0.0.1:0 -> 127.0.0.1:0 (cookie 0): no cookie "
              "names the socket exactly\n");
}

TEST_F(HelperPriv, PeerThatIsNotTheParentIsRefused) {
    // The helper started by hand, its fd 3 a socketpair made by another process (a shell
    // passing it on): SO_PEERCRED names that process, not the helper's parent.
    const auto out = run_as(member_, [&]() -> std::string {
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return "socketpair failed";
        const pid_t middle = ::fork();
        if (middle == 0) {
            // The middle process starts the helper; the socketpair was made by its parent.
            const pid_t child = ::fork();
            if (child == 0) {
                ::dup2(sv[1], 3);
                ::execl(helper_.c_str(), "socklab-helper", nullptr);
                ::_exit(127);
            }
            int st = 0;
            ::waitpid(child, &st, 0);
            ::_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 126);
        }
        ::close(sv[1]);
        int st = 0;
        ::waitpid(middle, &st, 0);
        ::close(sv[0]);
        return "exit=" + std::to_string(WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    });
    EXPECT_EQ(out, "exit=1");
}

TEST_F(HelperPriv, CaptureChecksWhatItIsSentBeforeOpeningAnything) {
    const auto out = run_as(member_, [&]() -> std::string {
        std::string r;
        {
            socklab::HelperClient c(helper_);
            r += answer_text(c.start_capture({"nosuch0", {80}, 1024})) + "\n";
            r += answer_text(c.start_capture({"lo/../x", {}, 1024})) + "\n";
            // The session goes on after a refusal; a port 0 never leaves the encoder's side
            // unnoticed: the helper's decoder refuses the frame and ends the session.
            r += answer_text(c.start_capture({"lo", {0}, 1024})) + "\n";
        }
        socklab::HelperClient bare(bare_);
        r += answer_text(bare.start_capture({"lo", {}, 1024})) + "\n";
        return r;
    });
    std::istringstream lines(out);
    std::vector<std::string> l;
    for (std::string x; std::getline(lines, x);) l.push_back(x);
    ASSERT_EQ(l.size(), 4u) << out;
    EXPECT_EQ(l[0], "refused: refused to capture on 'nosuch0': no such interface in this network "
                    "namespace (see 'ip link')");
    EXPECT_EQ(l[1], "refused: refused to capture on 'lo/../x': not an interface name");
    EXPECT_EQ(l[2], "bad_frame: bad frame: verb 6: capture port 0");
    EXPECT_EQ(l[3].rfind("no_permission: socklab-helper does not hold CAP_NET_RAW, which capture "
                         "needs",
                         0),
              0u)
        << l[3];
}

// A trace of system calls may name processes of the caller only: another user's pid is
// refused, a pid that is gone says so, and the session goes on to trace the member's own.
TEST_F(HelperPriv, TraceOfSystemCallsNamesOnlyTheCallersProcesses) {
    const pid_t roots = ::getpid();
    const auto out = run_as(member_, [&]() -> std::string {
        socklab::HelperClient c(helper_);
        std::string r;
        r += answer_text(c.start_trace(h::TraceRequest{std::nullopt, true, {roots}, false, false})) + "\n";
        // pid_max is at most kMaxPid and pids stay below it: no process has this one.
        r += answer_text(c.start_trace(h::TraceRequest{std::nullopt, true, {h::kMaxPid}, true, false})) + "\n";
        const auto own = c.start_trace(h::TraceRequest{std::nullopt, true, {::getpid()}, true, false});
        r += answer_text(own) + " count=" + std::to_string(own.count) + "\n";
        std::vector<socklab::TransitionEvent> tail;
        r += answer_text(c.stop_trace(tail)) + "\n";
        return r;
    });
    std::istringstream lines(out);
    std::vector<std::string> l;
    for (std::string x; std::getline(lines, x);) l.push_back(x);
    ASSERT_EQ(l.size(), 4u) << out;
    EXPECT_EQ(l[0], "refused: refused to trace the system calls of pid " + std::to_string(roots) +
                        ": it is not a process of uid " + std::to_string(member_.uid));
    EXPECT_EQ(l[1], "gone: pid 4194304 has exited: nothing traced");
    EXPECT_EQ(l[2].rfind("ok: tracing sock:inet_sock_set_state in instance socklab-", 0), 0u) << l[2];
    EXPECT_NE(l[2].find(" count=1"), std::string::npos) << l[2];  // the calls are traced
    EXPECT_EQ(l[3].rfind("ok: trace stopped; ", 0), 0u) << l[3];
}

}  // namespace

// ---- the CLI on the helper path -----------------------------------------------------------

namespace {

struct Running {
    pid_t pid = -1;
    socklab::UniqueFd out, err;
    socklab::UniqueFd in;  // with_stdin: its standard input (closing it is its end of file)
};

// Start argv as `who` (setpriv, groups from the group file), stdout and stderr on pipes, and
// stdin too when asked.
Running start_as(const Account& who, const std::vector<std::string>& argv, bool with_stdin = false) {
    int o[2], e[2], i[2] = {-1, -1};
    if (::pipe2(o, O_CLOEXEC) != 0 || ::pipe2(e, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    if (with_stdin && ::pipe2(i, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    Running r;
    r.pid = ::fork();
    if (r.pid == 0) {
        ::dup2(o[1], 1);
        ::dup2(e[1], 2);
        if (with_stdin) ::dup2(i[0], 0);
        std::vector<std::string> full = {"setpriv", "--reuid=" + std::to_string(who.uid),
                                         "--regid=" + std::to_string(who.gid), "--init-groups",
                                         "--"};
        full.insert(full.end(), argv.begin(), argv.end());
        std::vector<char*> args;
        for (auto& a : full) args.push_back(a.data());
        args.push_back(nullptr);
        ::execvp("setpriv", args.data());
        ::_exit(127);
    }
    ::close(o[1]);
    ::close(e[1]);
    r.out.reset(o[0]);
    r.err.reset(e[0]);
    if (with_stdin) {
        ::close(i[0]);
        r.in.reset(i[1]);
    }
    return r;
}

// Read `fd` until `needle` shows up, EOF, or the timeout. Returns what was read.
std::string read_until(int fd, std::string_view needle, std::chrono::milliseconds timeout) {
    std::string got;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (needle.empty() || got.find(needle) == std::string::npos) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd p{fd, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
        char buf[4096];
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
    }
    return got;
}

int reap(pid_t pid) {
    int st = 0;
    if (!socklab::test::wait_until([&] { return ::waitpid(pid, &st, WNOHANG) == pid; }, 20s)) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &st, 0);
        return -1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

class HelperCli : public HelperPriv {
protected:
    void SetUp() override {
        HelperPriv::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        ::setenv("SOCKLAB_HELPER", helper_.c_str(), 1);
    }
    void TearDown() override {
        ::unsetenv("SOCKLAB_HELPER");
        HelperPriv::TearDown();
    }
};

TEST_F(HelperCli, MemberRunsSocklabTraceThroughTheHelper) {
    auto listener = socklab::test::tcp_listen("127.0.0.1", 0);
    const auto port = socklab::test::local_port(listener.get());
    auto r = start_as(member_, {socklab::test::bin("socklab"), "trace", "--json", "--duration",
                                "3", "--port", std::to_string(port)});
    const std::string started = read_until(r.err.get(), "\n", 10s);
    EXPECT_EQ(started.rfind("socklab: tracing through socklab-helper (" + helper_.string() + ")", 0),
              0u)
        << started;
    {
        auto client = socklab::test::tcp_connect("127.0.0.1", port);
        auto server = socklab::test::tcp_accept(listener.get());
    }
    const std::string out = read_until(r.out.get(), "", 10s);
    const std::string err = started + read_until(r.err.get(), "", 10s);
    EXPECT_EQ(reap(r.pid), 0) << err;
    for (const char* t : {R"("old_state":"CLOSE","new_state":"SYN_SENT")",
                          R"("old_state":"SYN_SENT","new_state":"ESTABLISHED")",
                          R"("old_state":"LISTEN","new_state":"SYN_RECV")"})
        EXPECT_NE(out.find(t), std::string::npos) << t << "\n" << out;
    EXPECT_NE(err.find(" lost\n"), std::string::npos) << err;
}

// The member's `socklab trace --packets --json` sees the handshake of a connection this test
// makes: the helper captured it, the member's socklab decoded it. The client port (known
// from getsockname) and the kernel's own numbering (ISN-relative seq/ack) are the oracle.
TEST_F(HelperCli, MemberCapturesALoopbackHandshakeThroughTheHelper) {
    socklab::test::PrivateNetns ns;
    auto listener = socklab::test::tcp_listen("127.0.0.1", 0);
    const auto port = socklab::test::local_port(listener.get());
    auto r = start_as(member_, {socklab::test::bin("socklab"), "trace", "--packets", "--syscalls",
                                "--json", "--duration", "3", "--port", std::to_string(port)});
    const std::string started = read_until(r.err.get(), "capturing through socklab-helper", 10s);
    ASSERT_NE(started.find("socklab: capturing through socklab-helper (" + helper_.string() +
                           "): capturing 'tcp and (port " + std::to_string(port) + ")' on lo"),
              std::string::npos)
        << started;
    std::uint16_t cport = 0;
    {
        auto client = socklab::test::tcp_connect("127.0.0.1", port);
        auto server = socklab::test::tcp_accept(listener.get());
        cport = socklab::test::local_port(client.get());
    }
    const std::string out = read_until(r.out.get(), "", 15s);
    const std::string err = started + read_until(r.err.get(), "", 10s);
    EXPECT_EQ(reap(r.pid), 0) << err;
    std::vector<nlohmann::json> segs;
    bool saw_transition = false;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        const auto j = nlohmann::json::parse(line);
        if (j["kind"] == "segment") segs.push_back(j);
        if (j["kind"] == "transition") saw_transition = true;
    }
    ASSERT_GE(segs.size(), 3u) << out << err;
    const auto is = [&](const nlohmann::json& j, std::uint16_t from, std::uint16_t to,
                        std::vector<std::string> flags, int seq, int ack) {
        return j["src_port"] == from && j["dst_port"] == to && j["flags"] == flags &&
               j["seq"] == seq && (ack < 0 || j["ack"] == ack) && j["src_addr"] == "127.0.0.1";
    };
    EXPECT_TRUE(is(segs[0], cport, port, {"SYN"}, 0, -1)) << segs[0].dump();
    EXPECT_TRUE(is(segs[1], port, cport, {"SYN", "ACK"}, 0, 1)) << segs[1].dump();
    EXPECT_TRUE(is(segs[2], cport, port, {"ACK"}, 1, 1)) << segs[2].dump();
    // Transitions came through the helper's trace beside it.
    EXPECT_TRUE(saw_transition) << out;
    EXPECT_NE(err.find("segments dropped by the capture"), std::string::npos) << err;
    // System calls come through the helper's trace too: no line says they are missing.
    EXPECT_EQ(err.find("system calls are not traced"), std::string::npos) << err;
}

// A member's `socklab trace --syscalls --json` shows the calls of the member's own program,
// each with its descriptor; the calls root makes meanwhile on the same connections (a
// connect() to the member's listener, an accept() of the member's connect(), the close()s)
// are left out by the helper, as is every call of any other user's process.
TEST_F(HelperCli, MemberTracesItsOwnSystemCallsAndNotRoots) {
    socklab::test::PrivateNetns ns;
    auto root_listener = socklab::test::tcp_listen("127.0.0.1", 0);
    const auto root_port = socklab::test::local_port(root_listener.get());
    auto r = start_as(member_, {socklab::test::bin("socklab"), "trace", "--syscalls", "--json",
                                "--duration", "60"});
    bool reaped = false;
    const auto end_trace = [&] {  // whatever happens below, the trace does not outlive us
        if (!reaped) {
            ::kill(r.pid, SIGKILL);
            ::waitpid(r.pid, nullptr, 0);
        }
    };
    std::unique_ptr<decltype(end_trace), void (*)(decltype(end_trace)*)> guard(
        &end_trace, [](decltype(end_trace)* k) { (*k)(); });
    const std::string started = read_until(r.err.get(), "\n", 10s);
    ASSERT_EQ(started.rfind("socklab: tracing through socklab-helper (" + helper_.string() + ")", 0), 0u)
        << started;

    // The member's program: its own connection, then one to root's listener; it closes them
    // all when told, and stays until its stdin ends (a process already gone when the helper
    // reads its calls would have them dropped: its owner could no longer be read).
    auto prog = start_as(member_,
                         {"/usr/bin/python3", "-c",
                          "import socket, sys\n"
                          "l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen()\n"
                          "c = socket.socket(); c.connect(l.getsockname())\n"
                          "a, _ = l.accept()\n"
                          "r = socket.socket(); r.connect(('127.0.0.1', int(sys.argv[1])))\n"
                          "print(l.getsockname()[1], l.fileno(), c.fileno(), a.fileno(), r.fileno(), flush=True)\n"
                          "sys.stdin.readline()\n"
                          "for s in (c, a, r, l): s.close()\n"
                          "print('closed', flush=True)\n"
                          "sys.stdin.readline()\n",
                          std::to_string(root_port)},
                         true);
    const auto end_prog = [&] {
        prog.in.reset();
        return reap(prog.pid);
    };
    std::unique_ptr<decltype(end_prog), void (*)(decltype(end_prog)*)> prog_guard(
        &end_prog, [](decltype(end_prog)* k) { (void)(*k)(); });
    std::istringstream said(read_until(prog.out.get(), "\n", 10s));
    int lport = 0, lfd = -1, cfd = -1, afd = -1, rfd = -1;
    ASSERT_TRUE(said >> lport >> lfd >> cfd >> afd >> rfd) << read_until(prog.err.get(), "", 1s);

    // The calls socklab shows, read as they come until `want` holds (or 20 s have passed).
    std::vector<nlohmann::json> calls;
    std::string out;
    const auto shown = [&](const char* call, int fd) {
        for (const auto& j : calls)
            if (j["pid"] == prog.pid && j["call"] == call && j["fd"] == fd) return true;
        return false;
    };
    const auto read_calls_until = [&](const std::function<bool()>& want) {
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        while (!want() && std::chrono::steady_clock::now() < deadline) {
            const auto chunk = read_until(r.out.get(), "\n", 1s);
            if (chunk.empty()) continue;
            out += chunk;
            calls.clear();
            std::istringstream lines(out);
            for (std::string line; std::getline(lines, line);) {
                if (lines.eof()) break;  // a line not whole yet
                const auto j = nlohmann::json::parse(line);
                if (j["kind"] == "syscall") calls.push_back(j);
            }
        }
        return want();
    };
    // The tracer names a descriptor by reading /proc after the call: the program's last
    // connect() shown means its sockets were named while they were open.
    EXPECT_TRUE(read_calls_until([&] { return shown("connect", rfd); })) << out;

    // Root, meanwhile: a connect() to the member's listener, the accept() of the member's
    // connection to root's, and both close()d.
    {
        auto to_member = socklab::test::tcp_connect("127.0.0.1", static_cast<std::uint16_t>(lport));
        auto from_member = socklab::test::tcp_accept(root_listener.get());
    }
    // After root's calls, the member's close()s: once the last is shown, root's calls (earlier,
    // and released in time order) have been through the helper's filter.
    ASSERT_EQ(::write(prog.in.get(), "\n", 1), 1);
    ASSERT_NE(read_until(prog.out.get(), "closed\n", 10s).find("closed\n"), std::string::npos);
    const auto closed_listener = [&] { return shown("close", lfd); };
    read_calls_until(closed_listener);
    EXPECT_EQ(end_prog(), 0);
    prog_guard.release();
    ::kill(r.pid, SIGINT);
    out += read_until(r.out.get(), "", 10s);
    const std::string err = started + read_until(r.err.get(), "", 10s);
    EXPECT_NE(reap(r.pid), -1) << err;
    reaped = true;
    ASSERT_TRUE(closed_listener()) << out << err;
    EXPECT_EQ(err.find("system calls are not traced"), std::string::npos) << err;

    const auto has = [&](const char* call, int fd, std::optional<long> result = std::nullopt) {
        for (const auto& j : calls)
            if (j["pid"] == prog.pid && j["call"] == call && j["fd"] == fd &&
                (!result || j["result"] == *result))
                return true;
        return false;
    };
    EXPECT_TRUE(has("listen", lfd, 0)) << out;
    EXPECT_TRUE(has("connect", cfd, 0)) << out;
    EXPECT_TRUE(has("connect", rfd, 0)) << out;  // to root's listener: the member's own call
    EXPECT_TRUE(has("accept4", lfd, afd) || has("accept", lfd, afd)) << out;
    for (const int fd : {cfd, afd, rfd, lfd}) EXPECT_TRUE(has("close", fd, 0)) << fd << "\n" << out;
    // Every call shown is the member's program's: none of root's (this test's connect(),
    // accept() and close()s), none of any other process of any other user.
    for (const auto& j : calls) {
        EXPECT_NE(j["pid"], ::getpid()) << j.dump();
        EXPECT_EQ(j["pid"], prog.pid) << j.dump();
    }
}

// Outside the group: socklab does not use the helper, captures itself and is refused by the
// kernel, saying how to join; the helper, started anyway, refuses the user by name.
TEST_F(HelperCli, NonMemberIsRefusedWithTheWayIntoTheGroup) {
    auto r = start_as(outsider_, {socklab::test::bin("socklab"), "trace", "--packets", "--json",
                                  "--duration", "1", "--port", "9"});
    const std::string out = read_until(r.out.get(), "", 10s);
    const std::string err = read_until(r.err.get(), "", 10s);
    EXPECT_EQ(reap(r.pid), 1) << err;
    EXPECT_EQ(out, "");
    EXPECT_NE(err.find("socklab: segments are not captured: capturing on lo needs CAP_NET_RAW ("),
              std::string::npos)
        << err;
    EXPECT_NE(err.find("or join group socklab where socklab-helper is installed (as root: "
                       "'usermod -aG socklab $USER', then log in again)"),
              std::string::npos)
        << err;
    const auto direct = run_as(outsider_, [&]() -> std::string {
        socklab::HelperClient c(helper_);
        return answer_text(c.start_capture({"lo", {}, 1024}));
    });
    EXPECT_EQ(direct, "failed: socklab-helper: refused: user " + outsider_.name +
                          " is not in group socklab; as root run 'usermod -aG socklab " +
                          outsider_.name + "' and log in again");
}

// `socklab free PORT --signal TERM --yes` by a member, on a port held by a listener of
// another unprivileged user: the helper names the owner (the member cannot read that user's
// /proc/<pid>/fd) and signals it; the listener ends and a real bind() works again.
// A listener of `owner`'s on a kernel-chosen loopback port (the system's python3: one first
// on PATH may live in root's home, out of reach). Killed and reaped when it goes, whatever
// the test did; `ended()` waits for an exit the test caused.
class ListenerOf {
public:
    explicit ListenerOf(const Account& owner)
        : proc_(start_as(owner, {"/usr/bin/python3", "-c",
                                 "import socket, time\n"
                                 "s = socket.socket()\n"
                                 "s.bind(('127.0.0.1', 0))\n"
                                 "s.listen()\n"
                                 "print(s.getsockname()[1], flush=True)\n"
                                 "time.sleep(60)\n"})) {
        const std::string line = read_until(proc_.out.get(), "\n", 10s);
        port_ = line.substr(0, line.find('\n'));
        if (port_.empty()) why_ = read_until(proc_.err.get(), "", 1s);
    }
    ~ListenerOf() {
        if (!reaped_) {
            ::kill(proc_.pid, SIGKILL);
            ::waitpid(proc_.pid, nullptr, 0);
        }
    }
    ListenerOf(const ListenerOf&) = delete;
    ListenerOf& operator=(const ListenerOf&) = delete;

    [[nodiscard]] const std::string& port() const { return port_; }
    [[nodiscard]] const std::string& why_no_port() const { return why_; }
    [[nodiscard]] pid_t pid() const { return proc_.pid; }
    // Waits for the process to end; its wait status, or nullopt when it is still running.
    std::optional<int> ended(std::chrono::milliseconds within) {
        int st = 0;
        reaped_ = socklab::test::wait_until(
            [&] { return ::waitpid(proc_.pid, &st, WNOHANG) == proc_.pid; }, within);
        return reaped_ ? std::optional<int>(st) : std::nullopt;
    }

private:
    Running proc_;
    std::string port_, why_;
    bool reaped_ = false;
};

TEST_F(HelperCli, MemberFreesAnotherUsersPortWithSignal) {
    socklab::test::PrivateNetns ns;
    ListenerOf holder(outsider_);
    ASSERT_FALSE(holder.port().empty()) << holder.why_no_port();
    auto r = start_as(member_, {socklab::test::bin("socklab"), "free", holder.port(), "--signal",
                                "TERM", "--yes"});
    const std::string out = read_until(r.out.get(), "", 20s);
    const std::string err = read_until(r.err.get(), "", 5s);
    EXPECT_EQ(reap(r.pid), 0) << out << err;
    const auto st = holder.ended(10s);
    ASSERT_TRUE(st) << out << err;
    EXPECT_TRUE(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGTERM) << *st;
    EXPECT_NE(err.find("socklab: acting through socklab-helper (" + helper_.string() + ")"),
              std::string::npos)
        << err;
    EXPECT_NE(out.find("user " + outsider_.name), std::string::npos) << out;  // the owner named
    EXPECT_NE(out.find("exited after SIGTERM"), std::string::npos) << out;
    EXPECT_NE(out.find("can be bound now (checked with a real bind())"), std::string::npos) << out;
}

// `who` and `why` for a member name another user's process through the helper, as root's do.
TEST_F(HelperCli, MemberWhoAndWhyNameAnotherUsersHolder) {
    socklab::test::PrivateNetns ns;
    ListenerOf holder(outsider_);
    ASSERT_FALSE(holder.port().empty()) << holder.why_no_port();
    const std::string pid = std::to_string(holder.pid());
    const std::string through = "socklab: owners through socklab-helper (" + helper_.string() + ")";

    auto who = start_as(member_, {socklab::test::bin("socklab"), "who", holder.port(), "--json"});
    const std::string who_out = read_until(who.out.get(), "", 20s);
    const std::string who_err = read_until(who.err.get(), "", 5s);
    EXPECT_EQ(reap(who.pid), 0) << who_out << who_err;
    EXPECT_NE(who_err.find(through), std::string::npos) << who_err;
    const auto j = nlohmann::json::parse(who_out);
    ASSERT_EQ(j["processes"].size(), 1u) << who_out;
    EXPECT_EQ(j["processes"][0]["pid"], holder.pid()) << who_out;
    EXPECT_EQ(j["processes"][0]["user"], outsider_.name) << who_out;
    EXPECT_EQ(j["processes"][0]["state"], "LISTEN") << who_out;
    EXPECT_EQ(j["unseen"], 0) << who_out;
    ASSERT_EQ(j["sockets"].size(), 1u) << who_out;
    EXPECT_EQ(j["sockets"][0]["processes"][0]["pid"], holder.pid()) << who_out;

    auto why = start_as(member_, {socklab::test::bin("socklab"), "why", holder.port()});
    const std::string why_out = read_until(why.out.get(), "", 20s);
    const std::string why_err = read_until(why.err.get(), "", 5s);
    EXPECT_EQ(reap(why.pid), 1) << why_out << why_err;  // held: it cannot be bound
    EXPECT_NE(why_err.find(through), std::string::npos) << why_err;
    EXPECT_NE(why_out.find("pid " + pid + " (python3)"), std::string::npos) << why_out;
    EXPECT_TRUE(holder.ended(std::chrono::milliseconds(0)) == std::nullopt) << "why must not act";
}

// A helper that ends without answering (here /usr/bin/true in its place): the member's `why`
// says so in one line and exits 1, having done nothing.
TEST_F(HelperCli, AHelperThatEndsWithoutAnsweringIsOneLine) {
    socklab::test::PrivateNetns ns;
    ListenerOf holder(outsider_);
    ASSERT_FALSE(holder.port().empty()) << holder.why_no_port();
    auto why = start_as(member_, {"env", "SOCKLAB_HELPER=/usr/bin/true", socklab::test::bin("socklab"),
                                  "why", holder.port()});
    const std::string out = read_until(why.out.get(), "", 20s);
    const std::string err = read_until(why.err.get(), "", 5s);
    EXPECT_EQ(reap(why.pid), 1) << out << err;
    EXPECT_EQ(out, "");
    // The path line, then the one error line.
    const auto first_nl = err.find('\n');
    ASSERT_NE(first_nl, std::string::npos) << err;
    EXPECT_EQ(err.substr(0, first_nl), "socklab: owners through socklab-helper (/usr/bin/true)") << err;
    const std::string rest = err.substr(first_nl + 1);
    EXPECT_EQ(rest.rfind("socklab: failed to ask socklab-helper for the owners: ", 0), 0u) << err;
    EXPECT_EQ(std::count(rest.begin(), rest.end(), '\n'), 1) << err;
}

// Without the helper (not a member) the same free cannot even see the owner: nothing done.
TEST_F(HelperCli, NonMemberCannotFreeAnotherUsersPort) {
    socklab::test::PrivateNetns ns;
    auto listener = socklab::test::tcp_listen("127.0.0.1", 0);  // root's
    const auto port = socklab::test::local_port(listener.get());
    auto r = start_as(outsider_, {socklab::test::bin("socklab"), "free", std::to_string(port),
                                  "--signal", "TERM", "--yes"});
    const std::string out = read_until(r.out.get(), "", 20s);
    const std::string err = read_until(r.err.get(), "", 5s);
    EXPECT_EQ(reap(r.pid), 1) << out << err;
    EXPECT_EQ(err.find("acting through socklab-helper"), std::string::npos) << err;
    EXPECT_NE(err.find("nothing socklab can do to free port " + std::to_string(port)),
              std::string::npos)
        << err;
    // The kernel agrees: root's listener still stands.
    auto src = socklab::make_netlink_source();
    bool listening = false;
    for (const auto& s : socklab::test::sockets_on_port(*src, port))
        if (s.local_port == port && s.state == static_cast<std::uint8_t>(socklab::TcpState::listen))
            listening = true;
    EXPECT_TRUE(listening);
}

// The viewer's status bar names the path a member's privileged work takes (--dump-state).
TEST_F(HelperCli, ViewerStatusBarNamesTheHelperPathForAMember) {
    if (!socklab::test::have_program("xvfb-run")) GTEST_SKIP() << "xvfb-run is not installed (apt install xvfb)";
    socklab::test::TempDir dir("socklab-viewer-member");
    ASSERT_EQ(::chmod(dir.path.c_str(), 0777), 0);  // the member writes its dump here
    const auto dump = dir.path / "state.json";
    auto r = start_as(member_, socklab::test::xvfb_run({socklab::test::bin("socklab-viewer"),
                                                        "--frames", "3", "--dump-state",
                                                        dump.string(), "--interval", "5000"}));
    const std::string out = read_until(r.out.get(), "", 90s);
    const std::string err = read_until(r.err.get(), "", 10s);
    ASSERT_EQ(reap(r.pid), 0) << out << err;
    std::ifstream in(dump);
    const auto j = nlohmann::json::parse(in);
    const auto& status = j.at("panels").at("status");
    EXPECT_EQ(status.at("privilege_path"), "helper") << status.dump();
    EXPECT_EQ(status.at("privilege_path_text"), "socklab-helper (" + helper_.string() + ")");
    EXPECT_EQ(status.at("root"), false);
    // The helper traces the member's transitions (the poller asks it, as socklab trace does).
    EXPECT_EQ(status.at("tracer_active"), true) << status.dump();
}

TEST_F(HelperCli, MemberFreesRootsPortWithDestroy) {
    socklab::test::PrivateNetns ns;
    auto listener = socklab::test::tcp_listen("127.0.0.1", 0);
    const auto port = socklab::test::local_port(listener.get());
    auto client = socklab::test::tcp_connect("127.0.0.1", port);
    auto server = socklab::test::tcp_accept(listener.get());
    auto r = start_as(member_, {socklab::test::bin("socklab"), "free", std::to_string(port),
                                "--destroy", "--yes"});
    const std::string out = read_until(r.out.get(), "", 20s);
    const std::string err = read_until(r.err.get(), "", 5s);
    EXPECT_EQ(reap(r.pid), 0) << out << err;
    EXPECT_NE(err.find("socklab: acting through socklab-helper (" + helper_.string() + ")"),
              std::string::npos)
        << err;
    EXPECT_NE(out.find("[done] destroyed tcp 127.0.0.1:" + std::to_string(port) + " LISTEN"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("can be bound now (checked with a real bind())"), std::string::npos) << out;
}


// ---- socklab run and check as a member ----------------------------------------------------
// The run/check tests' programs (tests/run/programs) on their port: these tests take the
// run/check tests' lock as well (member_run_locks.cmake), since the transition tracepoint
// reports the connections of every network namespace.

constexpr std::uint16_t kRunPort = 9301;

std::string run_program(const std::string& name) {
    return std::string(SOCKLAB_RUN_PROGRAMS) + "/" + name;
}

const nlohmann::json* finding_in(const nlohmann::json& report, const std::string& kind) {
    for (const auto& f : report["findings"])
        if (f["kind"] == kind) return &f;
    return nullptr;
}

nlohmann::json read_json(const std::filesystem::path& path) {
    std::ifstream in(path);
    return nlohmann::json::parse(in, nullptr, false);
}

std::string text_of(const std::filesystem::path& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The line socklab run and check print on the helper path.
std::string helper_path_line(const std::filesystem::path& helper) {
    return "socklab: system calls through socklab-helper (" + helper.string() +
           "), of your own processes only\n";
}

// `socklab check --json` as `who` on a command: the score card, and stderr.
std::pair<nlohmann::json, std::string> check_as(const Account& who, const std::vector<std::string>& command) {
    std::vector<std::string> argv{socklab::test::bin("socklab"), "check", "--json", "--"};
    argv.insert(argv.end(), command.begin(), command.end());
    auto r = start_as(who, argv);
    std::string out, err;
    // Both pipes, until both end (stderr stays small; stdout is one line at the end).
    const auto deadline = std::chrono::steady_clock::now() + 100s;
    bool out_open = true, err_open = true;
    while ((out_open || err_open) && std::chrono::steady_clock::now() < deadline) {
        pollfd p[2] = {{out_open ? r.out.get() : -1, POLLIN, 0}, {err_open ? r.err.get() : -1, POLLIN, 0}};
        if (::poll(p, 2, 1000) <= 0) continue;
        for (int i = 0; i < 2; ++i) {
            if (p[i].revents == 0) continue;
            char buf[4096];
            const ssize_t n = ::read(p[i].fd, buf, sizeof buf);
            if (n <= 0) (i == 0 ? out_open : err_open) = false;
            else (i == 0 ? out : err).append(buf, static_cast<std::size_t>(n));
        }
    }
    if (reap(r.pid) == -1) ADD_FAILURE() << "socklab check did not end\n" << err;
    auto card = nlohmann::json::parse(out, nullptr, false);
    if (card.is_discarded()) ADD_FAILURE() << "not a score card: " << out << "\n" << err;
    return {card, err};
}

std::set<std::string> failed_ids(const nlohmann::json& card) {
    std::set<std::string> ids;
    if (card.contains("scenarios"))
        for (const auto& s : card["scenarios"])
            if (!s["ok"].get<bool>()) ids.insert(s["id"].get<std::string>());
    return ids;
}

std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
}

// What the member may write: a directory of its own for the report and the log.
std::unique_ptr<socklab::test::TempDir> member_dir(const Account& who) {
    auto dir = std::make_unique<socklab::test::TempDir>("socklab-member-run");
    if (::chown(dir->path.c_str(), who.uid, who.gid) != 0) ADD_FAILURE() << "chown " << dir->path;
    return dir;
}

// The run test's CLOSE_WAIT, made by root against the member's server: a client says hello,
// reads the echo and closes first; the server, which ignores EOF, keeps its end. ss (the
// oracle) names the pid and fd holding it; {0, -1} when any of that does not happen.
std::pair<int, int> leave_a_close_wait(socklab::Source& src) {
    auto c = socklab::test::tcp_connect("127.0.0.1", kRunPort);
    const std::string hello = "hello\n";
    std::string got;
    if (::send(c.get(), hello.data(), hello.size(), MSG_NOSIGNAL) != 6) return {0, -1};
    socklab::test::wait_until([&] {
        char buf[256];
        const ssize_t n = ::recv(c.get(), buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) got.append(buf, static_cast<std::size_t>(n));
        return got.find('\n') != std::string::npos;
    }, 3s, 5ms);
    if (got.find("hello") == std::string::npos) return {0, -1};
    const auto peer = socklab::test::local_port(c.get());
    c.reset();
    if (!socklab::test::wait_for_state(src, kRunPort, peer,
                                       static_cast<std::uint8_t>(socklab::TcpState::close_wait), 3s))
        return {0, -1};
    const auto ss = socklab::test::run_command(
        {"ss", "-tanpH", "state", "close-wait", "sport = :" + std::to_string(kRunPort)});
    const auto at = ss.out.find("pid=");
    const auto fd_at = ss.out.find(",fd=", at);
    if (at == std::string::npos || fd_at == std::string::npos) return {0, -1};
    return {std::stoi(ss.out.substr(at + 4)), std::stoi(ss.out.substr(fd_at + 4))};
}

TEST_F(HelperCli, MemberRunNamesTheCloseWaitLeakAndTheRecvZeroLoopWithPidAndFd) {
    socklab::test::PrivateNetns ns;
    const auto dir = member_dir(member_);
    const auto report_path = dir->path / "report.json";
    auto r = start_as(member_, {socklab::test::bin("socklab"), "run", "--duration", "3", "--report",
                                report_path.string(), "--log", (dir->path / "log").string(), "--",
                                "/usr/bin/python3", run_program("chat_threaded.py"),
                                std::to_string(kRunPort), "ignores-eof"});
    const std::string started = read_until(r.err.get(), "\n", 10s);
    EXPECT_EQ(started, helper_path_line(helper_)) << started;
    auto src = socklab::make_netlink_source();
    ASSERT_TRUE(socklab::test::wait_for_state(*src, kRunPort, 0,
                                              static_cast<std::uint8_t>(socklab::TcpState::listen), 10s));
    const auto owner = leave_a_close_wait(*src);
    EXPECT_GT(owner.first, 0);
    const std::string err = started + read_until(r.err.get(), "", 30s);
    EXPECT_NE(reap(r.pid), -1) << err;
    const auto report = read_json(report_path);
    ASSERT_FALSE(report.is_discarded()) << err;
    EXPECT_EQ(report["exit_code"], 128 + SIGTERM);  // --duration ended it
    EXPECT_EQ(err.find("polling"), std::string::npos) << err;
    const auto* leak = finding_in(report, "close_wait_leak");
    ASSERT_NE(leak, nullptr) << report.dump(2);
    EXPECT_EQ((*leak)["pid"], owner.first);
    EXPECT_EQ((*leak)["fd"], owner.second);
    EXPECT_EQ((*leak)["local_port"], kRunPort);
    // The data calls, counted in the helper: the loop on recv() == 0, by the worker thread.
    const auto* loop = finding_in(report, "recv_zero_loop");
    ASSERT_NE(loop, nullptr) << report.dump(2) << text_of(dir->path / "log");
    EXPECT_EQ((*loop)["pid"], owner.first);
    EXPECT_EQ((*loop)["fd"], owner.second);
    EXPECT_GE((*loop)["count"].get<std::uint64_t>(), 10u);
    EXPECT_NE((*loop)["tid"], owner.first);
    // No framing hints for a member: the helper captures no payload, and the report says so.
    bool said_missing = false;
    for (const auto& m : report["missing"])
        said_missing = said_missing || m.get<std::string>().find("framing hints") != std::string::npos;
    EXPECT_TRUE(said_missing) << report.dump(2);
}

TEST_F(HelperCli, MemberCheckFailsPeerClosesFirstWithTheRecvZeroEvidence) {
    socklab::test::PrivateNetns ns;
    const auto [card, err] = check_as(member_, {"/usr/bin/python3", run_program("chat_threaded.py"),
                                                std::to_string(kRunPort), "ignores-eof"});
    EXPECT_EQ(count_of(err, helper_path_line(helper_)), 1u) << err;  // once, not per scenario
    EXPECT_EQ(failed_ids(card), (std::set<std::string>{"peer-closes-first", "half-close"})) << card.dump(2);
    for (const auto& s : card.value("scenarios", nlohmann::json::array()))
        if (s["id"] == "peer-closes-first") {
            EXPECT_EQ(s["findings"], nlohmann::json::array({"close_wait_leak", "recv_zero_loop"})) << s.dump();
            EXPECT_NE(s["evidence"].get<std::string>().find("recv() returned 0 "), std::string::npos)
                << s.dump();
        }
}

TEST_F(HelperCli, MemberCheckPassesTheCarefulServerOnEveryScenario) {
    socklab::test::PrivateNetns ns;
    const auto [card, err] = check_as(member_, {"/usr/bin/python3", run_program("chat_threaded.py"),
                                                std::to_string(kRunPort)});
    EXPECT_EQ(count_of(err, helper_path_line(helper_)), 1u) << err;
    EXPECT_EQ(card["total"], 8);
    EXPECT_EQ(card["passed"], 8) << card.dump(2) << err;
}

// A setuid program in the member's tree runs as another user (its effective and saved uid are
// the outsider's): socklab run shows none of its calls, counts none of its data calls, and
// still shows those of the member's own processes around it.
TEST_F(HelperCli, MemberRunLeavesOutTheCallsOfAnotherUsersProcessInItsTree) {
    socklab::test::PrivateNetns ns;
    const auto dir = member_dir(member_);
    ASSERT_EQ(::chmod(dir->path.c_str(), 0755), 0);
    // Another user's python: a copy owned by the outsider, setuid.
    const auto theirs = dir->path / "python3-of-another-user";
    std::filesystem::copy_file(std::filesystem::canonical("/usr/bin/python3"), theirs);
    ASSERT_EQ(::chown(theirs.c_str(), outsider_.uid, outsider_.gid), 0);
    ASSERT_EQ(::chmod(theirs.c_str(), 04755), 0);
    const std::string script =
        "import os, socket, subprocess, sys, time\n"
        "l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "l.bind(('127.0.0.1', int(sys.argv[2]))); l.listen()\n"
        "child = subprocess.Popen([sys.argv[1], '-c', 'import os, socket, sys\\n"
        "s = socket.create_connection((\"127.0.0.1\", int(sys.argv[1])))\\n"
        "s.sendall(b\"theirs\\\\n\"); s.recv(1); s.recv(1); s.close()\\n"
        "print(os.getpid(), os.geteuid(), flush=True)\\n', sys.argv[2]], stdout=subprocess.PIPE)\n"
        "a, _ = l.accept()\n"
        "got = a.recv(100); a.sendall(b'ok')\n"
        // The tracer names a descriptor by its /proc link when it reads the call (every
        // 100 ms in the helper): the connection stays open past that, as a chat's would.
        "time.sleep(0.5); a.close()\n"
        "line = child.stdout.readline().decode().split()\n"
        "child.wait()\n"
        "print('mine', os.getpid(), 'theirs', line[0], line[1], flush=True)\n"
        "l.close()\n";
    const auto report_path = dir->path / "report.json";
    const auto log_path = dir->path / "log";
    auto r = start_as(member_, {socklab::test::bin("socklab"), "run", "--report", report_path.string(),
                                "--log", log_path.string(), "--", "/usr/bin/python3", "-c", script,
                                theirs.string(), std::to_string(kRunPort)});
    const std::string out = read_until(r.out.get(), "", 30s);
    const std::string err = read_until(r.err.get(), "", 10s);
    EXPECT_EQ(reap(r.pid), 0) << out << err;
    EXPECT_EQ(err.rfind(helper_path_line(helper_), 0), 0u) << err;
    std::istringstream said(out.substr(std::min(out.find("mine "), out.size())));
    std::string mine_word, theirs_word;
    int mine = 0, child = 0;
    unsigned euid = 0;
    ASSERT_TRUE(said >> mine_word >> mine >> theirs_word >> child >> euid) << out << err;
    EXPECT_EQ(euid, outsider_.uid);  // the child really ran as the other user
    const auto log = text_of(log_path);
    // The member's own calls are there: its listener, its accept, its close of both.
    EXPECT_NE(log.find("[" + std::to_string(mine) + "/" + std::to_string(mine) + "] listen("),
              std::string::npos) << log;
    EXPECT_NE(log.find("[" + std::to_string(mine) + "/"), std::string::npos) << log;
    // None of the other user's process: not its connect(), not its close().
    EXPECT_EQ(log.find("[" + std::to_string(child) + "/"), std::string::npos) << log;
    const auto report = read_json(report_path);
    ASSERT_FALSE(report.is_discarded()) << err;
    for (const auto& s : report["sockets"]) EXPECT_NE(s["pid"], child) << s.dump();
    for (const auto& f : report["findings"]) EXPECT_NE(f["pid"], child) << f.dump();
    // The member's accepted connection: closed by it, with its one receive and one send
    // counted (the data calls through the helper); the other user's send is not among them.
    bool counted = false;
    for (const auto& s : report["sockets"])
        counted = counted || (s["pid"] == mine && s["remote_port"] != 0 &&
                              s["closed_by_program"] == true && s["receives"] == 1 && s["sends"] == 1);
    EXPECT_TRUE(counted) << report.dump(2) << log;
    EXPECT_NE(log.find("] accept4("), std::string::npos) << log;
}

}  // namespace
