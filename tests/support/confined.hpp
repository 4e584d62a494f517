#pragma once
// Run a program the way a student's machine might run it, not the way the test suite does:
// as another user, with some system calls failing (a seccomp filter, as a sandbox or
// container would have), with stdout on a full disk, on a terminal, in a pid namespace of
// its own — or in any other situation a test sets up with a `prepare` step (prepare.hpp has
// the common ones: uid 0 of a container, tracefs hidden, a descriptor limit). Everything is
// set up in a forked child just before exec: the test process itself is never changed. Used
// to make socklab's error messages appear for real.
//
// Header-only on purpose: the shared test library stays as it is.
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "socklab/error.hpp"
#include "socklab/fd.hpp"
#include "testsupport.hpp"

namespace socklab::test {

// One system call that fails with `err` instead of running. With `arg_index` >= 0 only when
// that argument's low 32 bits equal `arg_value` (socket(AF_NETLINK, ...), a given signal).
struct DeniedCall {
    long nr = -1;
    int err = EPERM;
    int arg_index = -1;
    std::uint32_t arg_value = 0;
};

// Exit code of a child whose set-up failed before the program ran (a step of the Confinement,
// its `prepare`, or the exec itself); its stderr says which step. socklab's programs never
// exit with it, so a test can tell a broken set-up from the program's own failure.
inline constexpr int kSetupFailed = 120;

// argv[0] is searched in PATH when it has no slash. The child's steps, in order: stdin,
// stdout and stderr; every other descriptor closed; the pid namespace; env; prepare; the uid;
// the seccomp filter; exec.
struct Confinement {
    std::optional<unsigned> uid;     // run as this uid (and gid), with no extra groups
    std::vector<int> ambient_caps;   // keep these capabilities across the uid change
    std::vector<DeniedCall> deny;    // seccomp: these calls fail
    std::string stdout_path;         // stdout goes to this file (e.g. /dev/full)
    bool own_pid_namespace = false;  // a new pid namespace with its own /proc
    bool stdin_terminal = false;     // stdin is a pseudo-terminal (else /dev/null)
    std::string answer;              // written to the terminal once stderr shows "[y/N]"
    std::vector<std::pair<std::string, std::string>> env;  // extra environment
    // Run in the child, still as root and unfiltered. False means it failed and said why on
    // stderr (prepare_failed() does both); the child then exits with kSetupFailed.
    std::function<bool()> prepare;
};

// For a set-up step or a `prepare`: say on stderr which step failed and why, return false.
inline bool prepare_failed(const char* what) {
    std::fprintf(stderr, "confined: failed to %s: %s\n", what, std::strerror(errno));
    return false;
}

namespace confined_detail {

[[noreturn]] inline void setup_failed(const char* what) {
    prepare_failed(what);
    ::_exit(kSetupFailed);
}

inline void install_filter(const std::vector<DeniedCall>& deny) {
    if (deny.empty()) return;
    std::vector<sock_filter> prog;
    const auto stmt = [&](std::uint16_t code, std::uint32_t k) {
        prog.push_back(sock_filter{code, 0, 0, k});
    };
    const auto jump = [&](std::uint16_t code, std::uint32_t k, std::uint8_t jt, std::uint8_t jf) {
        prog.push_back(sock_filter{code, jt, jf, k});
    };
    // Another architecture's calls have other numbers: let them through untouched.
    stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch));
    jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
    stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    for (const auto& d : deny) {
        const std::uint32_t fail = SECCOMP_RET_ERRNO | (static_cast<std::uint32_t>(d.err) & 0xffff);
        stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
        if (d.arg_index < 0) {
            jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(d.nr), 0, 1);
            stmt(BPF_RET | BPF_K, fail);
        } else {
            jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(d.nr), 0, 3);
            // The low half of a 64-bit argument (x86_64 is little-endian).
            stmt(BPF_LD | BPF_W | BPF_ABS,
                 static_cast<std::uint32_t>(offsetof(seccomp_data, args) +
                                            8 * static_cast<std::size_t>(d.arg_index)));
            jump(BPF_JMP | BPF_JEQ | BPF_K, d.arg_value, 0, 1);
            stmt(BPF_RET | BPF_K, fail);
        }
    }
    stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    sock_fprog fprog{static_cast<unsigned short>(prog.size()), prog.data()};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) setup_failed("set no_new_privs");
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) != 0)
        setup_failed("install the seccomp filter");
}

// uid and gid `uid`, no supplementary groups, and of root's capabilities only `caps`.
inline bool change_user(unsigned uid, const std::vector<int>& caps) {
    if (!caps.empty() && ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
        return prepare_failed("keep capabilities");
    if (::setgroups(0, nullptr) != 0 || ::setresgid(uid, uid, uid) != 0 ||
        ::setresuid(uid, uid, uid) != 0)
        return prepare_failed("change the user");
    if (caps.empty()) return true;
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    for (const int cap : caps) {
        const auto bit = static_cast<unsigned>(cap);
        data[bit / 32].effective |= 1u << (bit % 32);
        data[bit / 32].permitted |= 1u << (bit % 32);
        data[bit / 32].inheritable |= 1u << (bit % 32);
    }
    if (::syscall(SYS_capset, &hdr, data) != 0) return prepare_failed("set the capabilities");
    for (const int cap : caps)
        if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0)
            return prepare_failed("raise an ambient capability");
    return true;
}

// In a new pid namespace the first child is its init; it mounts the namespace's own /proc
// in a private mount namespace, so processes outside are invisible there. The caller (the
// intermediate process) waits for it and passes its exit status on.
inline void enter_own_pid_namespace() {
    if (::unshare(CLONE_NEWPID | CLONE_NEWNS) != 0) setup_failed("unshare the pid namespace");
    const pid_t inner = ::fork();
    if (inner < 0) setup_failed("fork into the pid namespace");
    if (inner == 0) {
        if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
            setup_failed("make the mounts private");
        if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
            setup_failed("mount the namespace's /proc");
        return;
    }
    int st = 0;
    while (::waitpid(inner, &st, 0) < 0 && errno == EINTR) {
    }
    ::_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

}  // namespace confined_detail

// A program started under a Confinement. Its output is collected by finish(); the destructor
// kills and reaps whatever is left, so a failed assertion leaves no process behind.
class ConfinedProcess {
  public:
    ConfinedProcess(const std::vector<std::string>& argv, const Confinement& c)
        : answer_(c.answer) {
        int out[2], err[2];
        if (::pipe2(out, O_CLOEXEC) != 0) throw sys_error("create a pipe", errno);
        out_.reset(out[0]);
        UniqueFd out_w(out[1]);
        if (::pipe2(err, O_CLOEXEC) != 0) throw sys_error("create a pipe", errno);
        err_.reset(err[0]);
        UniqueFd err_w(err[1]);
        std::string tty_name;
        if (c.stdin_terminal) {
            terminal_.reset(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
            if (!terminal_ || ::grantpt(terminal_.get()) != 0 || ::unlockpt(terminal_.get()) != 0)
                throw sys_error("open a pseudo-terminal", errno);
            tty_name = ::ptsname(terminal_.get());
        }
        std::vector<std::string> env_strings;
        for (const auto& [k, v] : c.env) env_strings.push_back(k + "=" + v);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);

        pid_ = ::fork();
        if (pid_ < 0) throw sys_error("fork", errno);
        if (pid_ != 0) return;
        // The child: only async-signal-safe work from here would be ideal; the test process
        // is single-threaded when it forks, so the few library calls below are fine.
        using namespace confined_detail;
        if (c.stdin_terminal) {
            if (::setsid() < 0) setup_failed("start a session");
            const int tty = ::open(tty_name.c_str(), O_RDWR);  // becomes the controlling tty
            if (tty < 0 || ::dup2(tty, 0) < 0) setup_failed("open the terminal");
        } else {
            ::setpgid(0, 0);
            const int null = ::open("/dev/null", O_RDONLY);
            if (null < 0 || ::dup2(null, 0) < 0) setup_failed("open /dev/null");
        }
        if (!c.stdout_path.empty()) {
            const int fd = ::open(c.stdout_path.c_str(), O_WRONLY);
            if (fd < 0 || ::dup2(fd, 1) < 0) setup_failed("open the stdout file");
        } else if (::dup2(out_w.get(), 1) < 0) {
            setup_failed("redirect stdout");
        }
        if (::dup2(err_w.get(), 2) < 0) setup_failed("redirect stderr");
        // Nothing of the test process but stdin, stdout and stderr reaches the program, so a
        // descriptor limit set by `prepare` counts from 3.
        ::syscall(SYS_close_range, 3u, ~0u, 0u);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (c.own_pid_namespace) enter_own_pid_namespace();
        for (const auto& e : env_strings) ::putenv(const_cast<char*>(e.c_str()));
        if (c.prepare && !c.prepare()) ::_exit(kSetupFailed);
        if (c.uid && !change_user(*c.uid, c.ambient_caps)) ::_exit(kSetupFailed);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a uid change clears it
        install_filter(c.deny);
        ::execvp(args[0], args.data());
        const int exec_errno = errno;
        const std::string what = "run " + argv[0];
        errno = exec_errno;
        setup_failed(what.c_str());
    }
    ~ConfinedProcess() {
        if (pid_ > 0) {
            ::kill(-pid_, SIGKILL);
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    ConfinedProcess(const ConfinedProcess&) = delete;
    ConfinedProcess& operator=(const ConfinedProcess&) = delete;

    [[nodiscard]] pid_t pid() const { return pid_; }

    // The next line of stdout, waiting at most `timeout`; nullopt at end of output or timeout.
    std::optional<std::string> read_line(
        std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            const auto nl = pending_.find('\n');
            if (nl != std::string::npos) {
                std::string line = pending_.substr(0, nl);
                pending_.erase(0, nl + 1);
                return line;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0 || !out_) return std::nullopt;
            pollfd p{out_.get(), POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char buf[512];
            const ssize_t n = ::read(out_.get(), buf, sizeof buf);
            if (n <= 0) {
                out_.reset();
                continue;
            }
            pending_.append(buf, static_cast<std::size_t>(n));
        }
    }

    // All remaining output and the exit status (exit_code -1 when killed or timed out).
    CommandResult finish(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
        CommandResult res;
        res.out = std::move(pending_);
        pending_.clear();
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        bool answered = false;
        while (out_ || err_) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                res.timed_out = true;
                break;
            }
            pollfd fds[2] = {{out_ ? out_.get() : -1, POLLIN, 0},
                             {err_ ? err_.get() : -1, POLLIN, 0}};
            if (::poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
            for (int i = 0; i < 2; ++i) {
                if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
                char buf[4096];
                const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
                if (n <= 0) {
                    (i == 0 ? out_ : err_).reset();
                    continue;
                }
                (i == 0 ? res.out : res.err).append(buf, static_cast<std::size_t>(n));
            }
            if (!answered && terminal_ && !answer_.empty() &&
                res.err.find("[y/N]") != std::string::npos) {
                answered = ::write(terminal_.get(), answer_.data(), answer_.size()) ==
                           static_cast<ssize_t>(answer_.size());
            }
        }
        if (res.timed_out) ::kill(-pid_, SIGKILL);
        int st = 0;
        ::waitpid(pid_, &st, 0);
        pid_ = -1;
        if (!res.timed_out && WIFEXITED(st)) res.exit_code = WEXITSTATUS(st);
        return res;
    }

  private:
    pid_t pid_ = -1;
    UniqueFd out_, err_, terminal_;
    std::string pending_;
    std::string answer_;
};

// Run to the end under `c`.
inline CommandResult run_confined(const std::vector<std::string>& argv, const Confinement& c,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    ConfinedProcess p(argv, c);
    return p.finish(timeout);
}

inline constexpr unsigned kNobodyUid = 65534;

// socket(AF_NETLINK, ...) fails: socklab's socket table falls back to /proc.
inline DeniedCall deny_netlink_sockets(int err = EPERM) {
    return DeniedCall{SYS_socket, err, 0, 16 /* AF_NETLINK */};
}

// Output as one line: each run of newlines and spaces becomes a single space, for messages a
// program wraps to the terminal's width.
inline std::string unwrapped(std::string_view text) {
    std::string out;
    bool space = false;
    for (const char ch : text) {
        if (ch == '\n' || ch == ' ') {
            space = true;
            continue;
        }
        if (space && !out.empty()) out += ' ';
        space = false;
        out += ch;
    }
    return out;
}

}  // namespace socklab::test
