#pragma once
// Run a program the way a user in another situation would: as an ordinary user, inside a
// private mount namespace with tracefs hidden or read-only, under a small descriptor limit.
// `prepare` runs in the forked child just before exec; the machine's own mounts, users and
// limits are never touched. Used by the tracer, lab and viewer tests for their error paths.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "testsupport.hpp"

namespace socklab::test {

// Exit code of a child whose `prepare` failed; its stderr says which step.
inline constexpr int kPrepareFailed = 125;

// fork, run `prepare` in the child (false: it failed and said why on stderr), exec `argv`
// (PATH searched), collect stdout and stderr. The child is killed after `timeout`.
inline CommandResult run_prepared(const std::vector<std::string>& argv,
                                  const std::function<bool()>& prepare,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    CommandResult res;
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return res;
    if (::pipe2(err, O_CLOEXEC) != 0) {
        ::close(out[0]);
        ::close(out[1]);
        return res;
    }
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int devnull = ::open("/dev/null", O_RDONLY);
        if (devnull < 0 || ::dup2(devnull, 0) < 0 || ::dup2(out[1], 1) < 0 || ::dup2(err[1], 2) < 0)
            ::_exit(kPrepareFailed);
        // Nothing of the test process but stdin/stdout/stderr reaches the program.
        ::syscall(SYS_close_range, 3u, ~0u, 0u);
        if (prepare && !prepare()) ::_exit(kPrepareFailed);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        std::fprintf(stderr, "run_prepared: failed to run %s: %s\n", args[0], std::strerror(errno));
        ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    if (pid < 0) {
        ::close(out[0]);
        ::close(err[0]);
        return res;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int fds[2] = {out[0], err[0]};
    std::string* sinks[2] = {&res.out, &res.err};
    while (fds[0] >= 0 || fds[1] >= 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            res.timed_out = true;
            break;
        }
        pollfd p[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
        if (::poll(p, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; ++i) {
            if (fds[i] < 0 || p[i].revents == 0) continue;
            char buf[4096];
            const ssize_t n = ::read(fds[i], buf, sizeof buf);
            if (n > 0) {
                sinks[i]->append(buf, static_cast<std::size_t>(n));
            } else if (n == 0 || errno != EINTR) {
                ::close(fds[i]);
                fds[i] = -1;
            }
        }
    }
    for (const int fd : fds)
        if (fd >= 0) ::close(fd);
    int status = 0;
    if (res.timed_out) ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    res.exit_code = !res.timed_out && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return res;
}

// For `prepare`: say what failed on stderr (the test prints it) and fail.
inline bool prepare_failed(const char* what) {
    std::fprintf(stderr, "prepare: failed to %s: %s\n", what, std::strerror(errno));
    return false;
}

// Become uid/gid 65534 (nobody), with no supplementary groups. Needs root.
inline bool become_nobody() {
    if (::setgroups(0, nullptr) != 0) return prepare_failed("drop the supplementary groups");
    if (::setresgid(65534, 65534, 65534) != 0) return prepare_failed("become gid 65534");
    if (::setresuid(65534, 65534, 65534) != 0) return prepare_failed("become uid 65534");
    return true;
}

// uid 0 that is not the host's root, as in a container: uid 65534 outside, mapped to 0 in a
// user namespace of its own. Needs root (to become 65534) and user namespaces.
inline constexpr const char* kNoUserNamespaces = "failed to unshare a user namespace";
inline bool root_of_a_user_namespace() {
    if (!become_nobody()) return false;
    // Changing uid made the process undumpable, and /proc/self/*_map root's: undo that.
    if (::prctl(PR_SET_DUMPABLE, 1) != 0) return prepare_failed("set dumpable");
    if (::unshare(CLONE_NEWUSER) != 0) {
        std::fprintf(stderr, "prepare: %s: %s\n", kNoUserNamespaces, std::strerror(errno));
        return false;
    }
    for (const auto& [file, text] : {std::pair{"/proc/self/setgroups", "deny"},
                                     std::pair{"/proc/self/uid_map", "0 65534 1"},
                                     std::pair{"/proc/self/gid_map", "0 65534 1"}}) {
        std::ofstream f(file);
        f << text;
        f.close();
        if (!f) return prepare_failed(file);
    }
    return true;
}

// A mount namespace of the child's own, where nothing it mounts propagates back. Needs root.
inline bool private_mounts() {
    if (::unshare(CLONE_NEWNS) != 0) return prepare_failed("unshare the mount namespace");
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        return prepare_failed("make the mounts private");
    return true;
}

// In a private mount namespace: an empty read-only tmpfs over /sys/kernel, so neither
// /sys/kernel/tracing nor /sys/kernel/debug/tracing exists, as on a kernel without tracing.
inline bool hide_tracefs() {
    if (!private_mounts()) return false;
    if (::mount("socklab-test", "/sys/kernel", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV,
                "size=4k,mode=0755") != 0)
        return prepare_failed("mount an empty tmpfs over /sys/kernel");
    return true;
}

// In a private mount namespace: /sys/kernel/tracing as a read-only bind of itself.
inline bool read_only_tracefs() {
    if (!private_mounts()) return false;
    if (::mount("/sys/kernel/tracing", "/sys/kernel/tracing", nullptr, MS_BIND, nullptr) != 0)
        return prepare_failed("bind /sys/kernel/tracing");
    if (::mount(nullptr, "/sys/kernel/tracing", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY,
                nullptr) != 0)
        return prepare_failed("remount /sys/kernel/tracing read-only");
    return true;
}

// At most `fds` descriptors: 0, 1 and 2 plus fds - 3 more.
inline bool limit_descriptors(rlim_t fds) {
    const rlimit lim{fds, fds};
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) return prepare_failed("set RLIMIT_NOFILE");
    return true;
}

// Replace newlines (and the indentation after them) by one space: for messages a program
// wraps to the terminal's width.
inline std::string unwrapped(std::string_view text) {
    std::string out;
    bool space = false;
    for (const char c : text) {
        if (c == '\n' || c == ' ') {
            space = true;
            continue;
        }
        if (space && !out.empty()) out += ' ';
        space = false;
        out += c;
    }
    return out;
}

}  // namespace socklab::test
