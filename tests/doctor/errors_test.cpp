// The port doctor's messages (docs/errors.md sections 3, 4 and the doctor part of 7), each
// made to appear for real and checked for its words: `socklab why` and `socklab free` run as
// another user, on a terminal, or under a seccomp filter that makes one system call fail
// (tests/support/confined.hpp); internal guards through the core API. Every port is
// kernel-chosen; every child is killed and reaped by a destructor.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mount.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "confined.hpp"
#include "socklab/doctor.hpp"
#include "socklab/error.hpp"
#include "socklab/owners.hpp"
#include "socklab/source.hpp"
#include "socklab/state.hpp"
#include "testsupport.hpp"

namespace socklab {
namespace {

using namespace std::chrono_literals;
using test::bin;
using test::CommandResult;
using test::ConfinedProcess;
using test::Confinement;

CommandResult socklab_as(std::vector<std::string> args, const Confinement& c = {}) {
    args.insert(args.begin(), bin("socklab"));
    return test::run_confined(args, c);
}

std::string user_name(unsigned uid) {
    const passwd* pw = ::getpwuid(uid);
    return pw ? pw->pw_name : std::to_string(uid);
}

// doctor_holder (listen on 127.0.0.1:0 or leak a CLOSE_WAIT) under `c`; port() is its port.
class Holder {
  public:
    explicit Holder(std::vector<std::string> args, const Confinement& c = {})
        : proc_((args.insert(args.begin(), bin("doctor_holder")), args), c) {
        const auto line = proc_.read_line();
        if (!line || line->empty()) throw Error("failed to start doctor_holder");
        port_ = static_cast<std::uint16_t>(std::stoi(*line));
    }
    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] std::string port_text() const { return std::to_string(port_); }
    [[nodiscard]] pid_t pid() const { return proc_.pid(); }
    [[nodiscard]] bool alive() const { return ::kill(proc_.pid(), 0) == 0 && !zombie(); }

  private:
    bool zombie() const {
        std::ifstream stat("/proc/" + std::to_string(proc_.pid()) + "/stat");
        std::string pid, comm, state;
        stat >> pid >> comm >> state;
        return state == "Z";
    }
    ConfinedProcess proc_;
    std::uint16_t port_ = 0;
};

// ---- 3. why -----------------------------------------------------------------------------

TEST(WhyMessages, ABlockedPortSaysSoAndShowsTheKernelsReason) {
    const UniqueFd l = test::tcp_listen("127.0.0.1", 0);
    const auto port = std::to_string(test::local_port(l.get()));
    const auto r = socklab_as({"why", port});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(r.out.rfind("Port " + port + "/tcp cannot be bound now.\n", 0), 0u) << r.out;
    // The probe table: each cell is the errno of a real bind(), as strerror words.
    EXPECT_NE(
        test::unwrapped(r.out).find("127.0.0.1 Address already in use Address already in use"),
        std::string::npos)
        << r.out;
}

TEST(WhyMessages, TimeWaitSaysOnlyASoReuseaddrServerCanBind) {
    const auto port = std::to_string(test::make_time_wait(/*reuseaddr=*/true));
    const auto r = socklab_as({"why", port});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(r.out.rfind("Port " + port +
                              "/tcp cannot be bound now — only by a server that sets "
                              "SO_REUSEADDR.\n",
                          0),
              0u)
        << r.out;
}

TEST(WhyMessages, NonRootIsToldSomeOwnersAreHidden) {
    SOCKLAB_REQUIRE_ROOT();  // a root process holds the port; user nobody asks
    const UniqueFd l = test::tcp_listen("127.0.0.1", 0);
    const auto port = std::to_string(test::local_port(l.get()));
    Confinement nobody;
    nobody.uid = test::kNobodyUid;
    const auto r = socklab_as({"why", port}, nobody);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(test::unwrapped(r.out).find(
                  "Some owners are hidden from uid 65534: run as root (sudo socklab "
                  "why " +
                  port + ") to see every process."),
              std::string::npos)
        << r.out;
}

// ---- 4.1 free, before acting --------------------------------------------------------------

TEST(FreeMessages, AFreePortNeedsNothing) {
    std::uint16_t p = 0;
    {
        const UniqueFd l = test::tcp_listen("127.0.0.1", 0);
        p = test::local_port(l.get());
    }
    const auto port = std::to_string(p);
    const auto r = socklab_as({"free", port, "--yes"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "Port " + port + "/tcp can be bound already: nothing to do.\n");
}

TEST(FreeMessages, TimeWaitHasNobodyToSignal) {
    const auto port = std::to_string(test::make_time_wait(/*reuseaddr=*/false));
    const auto r = socklab_as({"free", port, "--yes"});
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_NE(r.out.find("  (no action)\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("  note: 1 socket(s) on the port (TIME_WAIT or orphaned FIN_WAIT2) have "
                         "no owner: no signal can clear them. They expire within "),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find(" s, or use --destroy (root).\n"), std::string::npos) << r.out;
    const std::string prefix = "socklab: nothing socklab can do to free port " + port;
    if (test::is_root())
        EXPECT_EQ(r.err, prefix + " by signalling (see the notes; --destroy may help)\n");
    else
        EXPECT_EQ(r.err, prefix + " by signalling (see the notes; as root, 'sudo socklab free " +
                             port + " --destroy' may help)\n");
}

TEST(FreeMessages, NonRootIsNotToldToUseDestroyWithoutSudo) {
    SOCKLAB_REQUIRE_ROOT();  // drops to user nobody for the command
    const auto port = std::to_string(test::make_time_wait(/*reuseaddr=*/false));
    Confinement nobody;
    nobody.uid = test::kNobodyUid;
    const auto r = socklab_as({"free", port, "--yes"}, nobody);
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_EQ(r.err, "socklab: nothing socklab can do to free port " + port +
                         " by signalling (see the notes; as root, 'sudo socklab free " + port +
                         " --destroy' may help)\n");
}

TEST(FreeMessages, AnOnlyBoundSocketCannotBeDestroyed) {
    // bind() without listen(): held, but sock_diag cannot look it up by its address.
    UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    const auto port = std::to_string(test::local_port(s.get()));
    const auto r = socklab_as({"free", port, "--destroy", "--yes"});
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_NE(
        r.out.find("  note: tcp 127.0.0.1:" + port +
                   " BOUND_INACTIVE is only bound: SOCK_DESTROY cannot reach it. Stop its program "
                   "instead (socklab free " +
                   port + ").\n"),
        std::string::npos)
        << r.out;
    EXPECT_EQ(r.err, "socklab: nothing socklab can do to free port " + port +
                         " by destroying sockets (see the notes)\n");
}

TEST(FreeMessages, DestroyRefusesASocketTableWithoutCookies) {
    const Holder holder({"listen", "127.0.0.1"});
    Confinement no_netlink;  // as in a sandbox: the table comes from /proc
    no_netlink.deny.push_back(test::deny_netlink_sockets());
    const auto r = socklab_as({"free", holder.port_text(), "--destroy", "--yes"}, no_netlink);
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_NE(r.out.find("(refused) destroy tcp 127.0.0.1:" + holder.port_text() +
                         " LISTEN (SOCK_DESTROY)"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find(" — the socket table came from /proc, without socket cookies: the "
                         "socket cannot be named exactly\n"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.err.find("by destroying sockets (see the notes)"), std::string::npos) << r.err;
    EXPECT_TRUE(holder.alive());
}

TEST(FreeMessages, NothingIsDoneWhenTheAnswerIsNo) {
    const Holder holder({"listen", "127.0.0.1"});
    Confinement tty;
    tty.stdin_terminal = true;
    tty.answer = "n\n";
    const auto r = socklab_as({"free", holder.port_text()}, tty);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_EQ(r.err, "Do this? [y/N] socklab: nothing done.\n");
    EXPECT_EQ(r.out.find("Result:"), std::string::npos) << r.out;
    EXPECT_TRUE(holder.alive());
}

// ---- 4.2 refusals -----------------------------------------------------------------------

TEST(FreeRefusals, NotAProcessIdIsAnInternalGuard) {
    // The owner index never reports pid <= 0; the guard is reachable only through the API.
    EXPECT_EQ(refusal_reason(0), "not a process id");
    EXPECT_EQ(refusal_reason(-42), "not a process id");
}

// A /proc made for the test that names `pid` as the holder of socket `inode`, while in truth
// that process does not hold it: as if it let go between the owner scan and the pidfd.
class FakeProcRoot {
  public:
    FakeProcRoot(pid_t pid, std::uint64_t inode) {
        char tmpl[] = "/tmp/socklab-fakeproc-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) throw sys_error("create a temporary directory", errno);
        root_ = tmpl;
        const auto dir = root_ / std::to_string(pid);
        std::filesystem::create_directories(dir / "fd");
        std::filesystem::create_symlink("socket:[" + std::to_string(inode) + "]", dir / "fd" / "7");
        std::ofstream(dir / "comm") << "lets-go\n";
        std::ofstream(dir / "status") << "Name:\tlets-go\nUid:\t0\t0\t0\t0\n";
    }
    ~FakeProcRoot() {
        std::error_code ec;
        std::filesystem::remove_all(root_, ec);
    }
    FakeProcRoot(const FakeProcRoot&) = delete;
    FakeProcRoot& operator=(const FakeProcRoot&) = delete;
    [[nodiscard]] const std::filesystem::path& path() const { return root_; }

  private:
    std::filesystem::path root_;
};

std::uint64_t inode_of(int fd) {
    struct stat st {};
    return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

TEST(FreeRefusals, AnOwnerThatCannotBePinnedIsRefusedAndNeverSignalled) {
    // The named owner is a live process (our own child: its pid cannot be reused) that does
    // not hold the socket, so its pidfd is not kept.
    ConfinedProcess bystander({"/bin/sleep", "60"}, Confinement{});
    const UniqueFd l = test::tcp_listen("127.0.0.1", 0);
    const auto port = test::local_port(l.get());
    const FakeProcRoot proc(bystander.pid(), inode_of(l.get()));
    auto source = make_netlink_source();
    OwnerIndex owners(proc.path());
    const Diagnosis d = diagnose(port, *source, owners);
    ASSERT_NE(d.owner(bystander.pid()), nullptr);
    const Plan plan = make_plan(d);
    ASSERT_EQ(plan.actions.size(), 1u);
    EXPECT_EQ(plan.actions[0].refused,
              "it could not be pinned with a pidfd at diagnosis time (it exited, or stopped "
              "holding the socket)");
    EXPECT_EQ(plan.runnable(), 0u);

    // A plan edited to run it anyway still signals nobody: there is no pidfd to signal through.
    Plan forced = plan;
    forced.actions[0].refused.clear();
    const FreeResult r = execute(forced);
    ASSERT_EQ(r.results.size(), 1u);
    EXPECT_EQ(r.results[0].outcome, Outcome::gone);
    EXPECT_EQ(r.results[0].message, "pid " + std::to_string(bystander.pid()) +
                                        " (lets-go, user root) could not be pinned with a pidfd: "
                                        "nothing signalled");
    EXPECT_EQ(::kill(bystander.pid(), 0), 0) << "the bystander must be untouched";
}

// ---- 4.4 results --------------------------------------------------------------------------

TEST(FreeResults, AnotherUsersProcessNeedsCapKill) {
    SOCKLAB_REQUIRE_ROOT();  // makes two users: the holder is nobody, the caller uid 65533
    Confinement holder_user;
    holder_user.uid = test::kNobodyUid;
    const Holder holder({"listen", "127.0.0.1"}, holder_user);
    // uid 65533 with the capabilities to read other users' /proc/<pid>/fd (as some
    // monitoring tools are given) sees whose socket it is, but may not signal it.
    Confinement caller;
    caller.uid = 65533;
    caller.ambient_caps = {CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH};
    const auto r = socklab_as({"free", holder.port_text(), "--yes"}, caller);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    const std::string who = user_name(test::kNobodyUid);
    const std::string msg = "failed to signal pid " + std::to_string(holder.pid()) +
                            " (doctor_holder, user " + who +
                            "): Operation not permitted. It "
                            "belongs to user " +
                            who +
                            "; signalling another user's process "
                            "needs root (CAP_KILL): run sudo socklab free " +
                            holder.port_text() + ", or run it as " + who;
    EXPECT_NE(r.out.find("  [no_permission] " + msg + "\n"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("socklab: " + msg + "\n"), std::string::npos) << r.err;
    EXPECT_TRUE(holder.alive());
}

TEST(FreeResults, ASignalThatCannotBeSentSaysWhy) {
    const Holder holder({"listen", "127.0.0.1"});
    Confinement sandbox;  // a sandbox without pidfd_send_signal, as old container profiles
    sandbox.deny.push_back({SYS_pidfd_send_signal, ENOSYS});
    const auto r = socklab_as({"free", holder.port_text(), "--yes"}, sandbox);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("  [failed] failed to signal pid " + std::to_string(holder.pid()) +
                         " (doctor_holder, user "),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("): Function not implemented\n"), std::string::npos) << r.out;
    EXPECT_TRUE(holder.alive());
}

TEST(FreeResults, ASigkillThatCannotBeSentSaysWhy) {
    const Holder holder({"listen", "127.0.0.1", "--ignore-term"});
    Confinement sandbox;  // SIGTERM goes through, SIGKILL does not
    sandbox.deny.push_back({SYS_pidfd_send_signal, EPERM, 1, SIGKILL});
    const auto r = socklab_as(
        {"free", holder.port_text(), "--yes", "--signal", "KILL", "--grace", "0.2"}, sandbox);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("  [failed] failed to send SIGKILL to pid " +
                         std::to_string(holder.pid()) + " (doctor_holder, user "),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("): Operation not permitted\n"), std::string::npos) << r.out;
    EXPECT_TRUE(holder.alive());
}

// A holder that even SIGKILL cannot end, for real: it waits in the kernel (state D) for a
// FUSE daemon that read its request and will never answer (see doctor_holder.cpp).
TEST(FreeResults, AProcessStuckInTheKernelIsStillThereAfterSigkill) {
    SOCKLAB_REQUIRE_ROOT();  // mounting a FUSE file system
    if (!std::filesystem::exists("/dev/fuse")) GTEST_SKIP() << "no /dev/fuse (modprobe fuse)";
    const test::TempDir dir("socklab-stall");
    ConfinedProcess stall({bin("doctor_holder"), "fuse-stall", dir.path.string()}, {});
    ASSERT_EQ(stall.read_line().value_or("(nothing)"), "ready");
    // Whatever happens below: the daemon goes first (its end aborts the FUSE connection, so
    // the stuck holder can die and be reaped), then the mount.
    struct Release {
        ConfinedProcess& stall;
        const std::filesystem::path& dir;
        ~Release() {
            ::kill(stall.pid(), SIGKILL);
            ::umount2(dir.c_str(), MNT_DETACH);
        }
    };
    const Holder holder({"listen", "127.0.0.1", "--stuck-in", (dir.path / "x").string()});
    const Release release{stall, dir.path};
    const auto request = stall.read_line();
    ASSERT_TRUE(request && request->rfind("request ", 0) == 0)
        << "the holder's stat() never reached the FUSE daemon: " << request.value_or("(nothing)");

    const auto r = socklab_as({"free", holder.port_text(), "--yes", "--signal", "KILL", "--grace", "0.2"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("  [failed] pid " + std::to_string(holder.pid()) + " (doctor_holder, user "),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find(") is still there 2 s after SIGKILL (stuck in the kernel, state D?)\n"),
              std::string::npos)
        << r.out;
    // The kernel agrees: the process is in uninterruptible sleep, with SIGKILL pending.
    std::ifstream stat("/proc/" + std::to_string(holder.pid()) + "/stat");
    std::string pid, comm, state;
    stat >> pid >> comm >> state;
    EXPECT_EQ(state, "D") << "the holder is not stuck in the kernel";
}

// The SOCK_DESTROY plan for the one listener on `port`, from a real diagnosis through
// sock_diag (call it inside ASSERT_NO_FATAL_FAILURE).
void destroy_plan_for(std::uint16_t port, Plan& plan) {
    const Diagnosis d = diagnose(port);
    ASSERT_EQ(d.source, "netlink");
    PlanOptions destroy;
    destroy.mode = ActionMode::destroy;
    plan = make_plan(d, destroy);
    ASSERT_EQ(plan.runnable(), 1u);
}

TEST(FreeResults, ASocketGoneBeforeTheActionIsNotDestroyed) {
    UniqueFd l = test::tcp_listen("127.0.0.1", 0);
    const auto port = test::local_port(l.get());
    Plan plan;
    ASSERT_NO_FATAL_FAILURE(destroy_plan_for(port, plan));
    ActHooks hooks;
    hooks.before_recheck = [&](const PlannedAction&) { l.reset(); };  // gone in between
    const FreeResult r = execute(plan, hooks);
    ASSERT_EQ(r.results.size(), 1u);
    EXPECT_EQ(r.results[0].outcome, Outcome::gone);
    EXPECT_EQ(r.results[0].message, "tcp 127.0.0.1:" + std::to_string(port) +
                                        " LISTEN is gone already: nothing destroyed");
}

// SOCK_DESTROY answers this kernel never gives for a live TCP socket, given through the
// ActHooks::destroy seam after the real re-check found the socket: each becomes its own
// result line, and the socket (not destroyed) still holds the port.
TEST(FreeResults, EachAnswerOfSockDestroyHasItsOwnResultLine) {
    SOCKLAB_REQUIRE_ROOT();  // the re-check looks the socket up through sock_diag
    UniqueFd l = test::tcp_listen("127.0.0.1", 0);
    const auto port = test::local_port(l.get());
    const std::string p = std::to_string(port);
    const std::string what = "tcp 127.0.0.1:" + p + " LISTEN";
    Plan plan;
    ASSERT_NO_FATAL_FAILURE(destroy_plan_for(port, plan));
    struct Case {
        int err;
        Outcome outcome;
        std::string message;
    };
    for (const Case& c : std::vector<Case>{
             {EOPNOTSUPP, Outcome::failed,
              "failed to destroy " + what + ": " + std::strerror(EOPNOTSUPP) +
                  ". This kernel is built without CONFIG_INET_DIAG_DESTROY: signal the owner "
                  "instead (socklab free " + p + ")"},
             {ENOENT, Outcome::gone, what + " went away just before SOCK_DESTROY: nothing destroyed"},
             {EBUSY, Outcome::failed, "failed to destroy " + what + ": " + std::strerror(EBUSY)}}) {
        ActHooks hooks;
        int calls = 0;
        hooks.destroy = [&](const SocketRecord& s) {
            ++calls;
            EXPECT_EQ(s.local_port, port);
            return c.err;
        };
        const FreeResult r = execute(plan, hooks);
        EXPECT_EQ(calls, 1) << "SOCK_DESTROY is tried once, after the re-check";
        ASSERT_EQ(r.results.size(), 1u);
        EXPECT_EQ(r.results[0].outcome, c.outcome) << c.message;
        EXPECT_EQ(r.results[0].message, c.message);
        EXPECT_FALSE(r.after.bindable()) << "nothing was destroyed: the listener still holds it";
    }
}

TEST(FreeResults, ALookUpTheKernelRefusesIsAFailureWithItsReason) {
    // The re-check before SOCK_DESTROY asks sock_diag about the exact socket. For a TCP or UDP
    // socket the kernel answers "exists" or ENOENT; any other answer is shown with its reason.
    // Only the API can ask about a record of another family (here AF_NETLINK, whose sock_diag
    // handler cannot look one socket up), so this runs at the library level.
    SocketRecord odd;
    odd.proto = Proto::tcp;
    odd.family = AF_NETLINK;
    odd.state = static_cast<std::uint8_t>(TcpState::listen);
    odd.local_port = 9;
    odd.cookie = 1;
    Plan plan;
    plan.port = 9;
    plan.mode = ActionMode::destroy;
    PlannedAction a;
    a.kind = PlannedAction::Kind::destroy_socket;
    a.socket = odd;
    plan.actions.push_back(a);
    const FreeResult r = execute(plan);
    ASSERT_EQ(r.results.size(), 1u);
    EXPECT_EQ(r.results[0].outcome, Outcome::failed);
    EXPECT_EQ(r.results[0].message.rfind("failed to look up socket tcp ", 0), 0u)
        << r.results[0].message;
    EXPECT_NE(r.results[0].message.find(" LISTEN: Operation not supported"), std::string::npos)
        << r.results[0].message;
}

// ---- 7. the doctor's own sock_diag requests ------------------------------------------------

// In a forked child: a listener, found in the socket table with its cookie; then one system
// call made to fail (seccomp) and `act` run on the listener's record. Returns what `act`
// returned, or the message of the socklab::Error it threw.
std::string in_child_when_failing(const test::DeniedCall& call,
                                  const std::function<std::string(const SocketRecord&)>& act) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw sys_error("create a pipe", errno);
    UniqueFd rd(p[0]), wr(p[1]);
    const pid_t pid = ::fork();
    if (pid < 0) throw sys_error("fork", errno);
    if (pid == 0) {
        std::string line;
        try {
            const auto l = test::tcp_listen("127.0.0.1", 0);
            const auto port = test::local_port(l.get());
            auto src = make_netlink_source();
            std::optional<SocketRecord> rec;
            for (const auto& r : test::sockets_on_port(*src, port))
                if (r.local_port == port) rec = r;
            if (!rec) throw Error("no record of the listener");
            test::confined_detail::install_filter({call});
            line = act(*rec);
        } catch (const Error& e) {
            line = e.what();
        }
        (void)!::write(wr.get(), line.data(), line.size());
        ::_exit(0);
    }
    wr.reset();
    std::string out;
    char buf[1024];
    for (;;) {
        pollfd pf{rd.get(), POLLIN, 0};
        if (::poll(&pf, 1, 20000) <= 0) break;
        const ssize_t n = ::read(rd.get(), buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return out;
}

std::string look_up(const SocketRecord& r) {
    return socket_exists(r) ? "exists" : "gone";
}

TEST(DoctorNetlinkErrors, EachFailingStepOfALookupIsNamed) {
    EXPECT_EQ(in_child_when_failing(test::deny_netlink_sockets(EAFNOSUPPORT), look_up),
              "failed to open a NETLINK_SOCK_DIAG socket: Address family not supported by "
              "protocol");
    EXPECT_EQ(in_child_when_failing({SYS_bind, EADDRINUSE}, look_up),
              "failed to bind the NETLINK_SOCK_DIAG socket: Address already in use");
    EXPECT_EQ(in_child_when_failing({SYS_sendto, EPERM}, look_up),
              "failed to send a sock_diag request: Operation not permitted");
    EXPECT_EQ(in_child_when_failing({SYS_recvmsg, EIO}, look_up),
              "failed to read the sock_diag answer: Input/output error");
}

TEST(DoctorNetlinkErrors, FreeDestroyShowsTheFailureAsTheActionsResult) {
    // The diagnosis had netlink; by the time it acts, sock_diag cannot be opened. The check
    // after acting falls back to /proc, so the failure is this action's result line.
    const auto line =
        in_child_when_failing(test::deny_netlink_sockets(EAFNOSUPPORT), [](const SocketRecord& r) {
            Plan plan;
            plan.port = r.local_port;
            plan.mode = ActionMode::destroy;
            PlannedAction a;
            a.kind = PlannedAction::Kind::destroy_socket;
            a.socket = r;
            plan.actions.push_back(a);
            const FreeResult res = execute(plan);
            return "[" + std::string(outcome_name(res.results.at(0).outcome)) + "] " +
                   res.results.at(0).message;
        });
    EXPECT_EQ(line,
              "[failed] failed to open a NETLINK_SOCK_DIAG socket: Address family not supported "
              "by protocol");
}

TEST(DoctorNetlinkErrors, PortZeroIsAnInternalGuard) {
    // The CLI refuses port 0 before the doctor runs; only the API can ask.
    try {
        (void)diagnose(0);
        ADD_FAILURE() << "port 0 must be refused";
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "failed to diagnose port 0: give a port from 1 to 65535");
    }
}

}  // namespace
}  // namespace socklab
