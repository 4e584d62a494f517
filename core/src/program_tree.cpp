// The running half of `socklab run` / `socklab check` (see program_tree.hpp for why the tree is
// followed this way).
#include "socklab/program_tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <unordered_map>

#include "procfs.hpp"
#include "socklab/error.hpp"
#include "socklab/state.hpp"

namespace socklab::program {

Spawned::Spawned(const std::vector<std::string>& argv, SpawnOptions opts)
    : own_group_(opts.own_process_group) {
    if (argv.empty()) throw Error("failed to start the program: no command given");
    int go[2], ex[2];
    if (::pipe2(go, O_CLOEXEC) != 0 || ::pipe2(ex, O_CLOEXEC) != 0)
        throw Error(std::string("failed to create a pipe: ") + std::strerror(errno));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw Error(std::string("failed to fork: ") + std::strerror(errno));
    if (pid == 0) {
        ::close(go[1]);
        ::close(ex[0]);
        if (opts.own_process_group) ::setpgid(0, 0);
        if (opts.quiet) {
            const int null = ::open("/dev/null", O_RDWR);
            if (null >= 0) {
                ::dup2(null, 0);
                ::dup2(null, 1);
                ::dup2(null, 2);
            }
        } else if (opts.output_fd >= 0) {
            const int null = ::open("/dev/null", O_RDONLY);
            if (null >= 0) ::dup2(null, 0);
            ::dup2(opts.output_fd, 1);
            ::dup2(opts.output_fd, 2);
        }
        // socklab's own handlers and blocked signals are not the program's.
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        for (int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD}) ::sigaction(s, &dfl, nullptr);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        char c = 0;
        if (::read(go[0], &c, 1) != 1) ::_exit(127);  // socklab went away before go()
        ::execvp(args[0], args.data());
        const int err = errno;
        (void)!::write(ex[1], &err, sizeof err);
        ::_exit(127);
    }
    pid_ = pid;
    if (opts.own_process_group) ::setpgid(pid, pid);  // both sides: no race with kill(-pid)
    ::close(go[0]);
    ::close(ex[1]);
    go_write_.reset(go[1]);
    exec_read_.reset(ex[0]);
    pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
}

Spawned::~Spawned() {
    if (reaped_) {
        if (own_group_) ::kill(-pid_, SIGKILL);  // children it left behind
        return;
    }
    if (own_group_) ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
}

int Spawned::go() {
    const char c = 'g';
    if (::write(go_write_.get(), &c, 1) != 1) return errno;
    go_write_.reset();
    int err = 0;
    ssize_t n;
    do n = ::read(exec_read_.get(), &err, sizeof err);
    while (n < 0 && errno == EINTR);
    exec_read_.reset();
    if (n == static_cast<ssize_t>(sizeof err)) {
        wait_exit(2000);
        return err;
    }
    return 0;
}

bool Spawned::poll_exit() {
    if (reaped_) return true;
    int status = 0;
    pid_t r;
    do r = ::waitpid(pid_, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r != pid_) return false;
    reaped_ = true;
    ending_.exited = true;
    if (WIFEXITED(status)) ending_.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) {
        ending_.signal = WTERMSIG(status);
        ending_.exit_code = 128 + ending_.signal;
    }
    return true;
}

bool Spawned::wait_exit(int timeout_ms) {
    for (int waited = 0; !poll_exit(); waited += 10) {
        if (waited >= timeout_ms) return false;
        if (pidfd_) {
            pollfd p{pidfd_.get(), POLLIN, 0};
            ::poll(&p, 1, 10);
        } else {
            ::usleep(10'000);
        }
    }
    return true;
}

void Spawned::stop(int grace_ms) {
    if (reaped_) return;
    ending_.stopped_by_us = true;
    const auto tree = process_tree(pid_);
    if (own_group_) ::kill(-pid_, SIGTERM);
    for (const int p : tree) ::kill(p, SIGTERM);
    if (wait_exit(grace_ms)) return;
    if (own_group_) ::kill(-pid_, SIGKILL);
    for (const int p : process_tree(pid_)) ::kill(p, SIGKILL);
    wait_exit(2000);
}

std::vector<int> process_tree(int root) {
    std::vector<int> out{root};
    std::set<int> seen{root};
    for (std::size_t i = 0; i < out.size() && out.size() < 4096; ++i) {
        const std::string task_dir = "/proc/" + std::to_string(out[i]) + "/task";
        DIR* d = ::opendir(task_dir.c_str());
        if (!d) continue;
        while (const dirent* e = ::readdir(d)) {
            if (e->d_name[0] == '.') continue;
            std::ifstream in(task_dir + "/" + e->d_name + "/children");
            int child = 0;
            while (in >> child)
                if (seen.insert(child).second) out.push_back(child);
        }
        ::closedir(d);
    }
    return out;
}

namespace {
// PF_EXITING (include/linux/sched.h): do_exit() sets it in exit_signals(), before exit_files().
constexpr unsigned long kPfExiting = 0x00000004;
}  // namespace

bool ending(int pid) {
    const std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
    DIR* d = ::opendir(task_dir.c_str());
    if (!d) return true;
    bool any = false, all_ending = true;
    while (const dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        int tid = 0;
        if (std::sscanf(e->d_name, "%d", &tid) != 1) continue;
        const auto st = procfs::read_stat(tid, task_dir);  // <pid>/task/<tid>/stat
        if (!st) continue;  // the thread is gone
        any = true;
        all_ending = all_ending && (st->state == 'Z' || st->state == 'X' || (st->flags & kPfExiting) != 0);
    }
    ::closedir(d);
    return !any || all_ending;
}

Observation observe(const std::vector<int>& pids, Source& source) {
    Observation o;
    // Descriptors first, then the table: a socket opened in between is simply seen next time.
    std::unordered_map<std::uint64_t, std::pair<int, int>> held;  // inode -> (pid, fd)
    for (const int pid : pids) {
        const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
        DIR* d = ::opendir(dir.c_str());
        if (!d) continue;
        char link[64];
        while (const dirent* e = ::readdir(d)) {
            if (e->d_name[0] == '.') continue;
            const ssize_t n = ::readlinkat(::dirfd(d), e->d_name, link, sizeof link - 1);
            if (n <= 0) continue;
            const auto inode = procfs::socket_inode_of_link(std::string_view(link, static_cast<std::size_t>(n)));
            if (inode == 0) continue;
            held.emplace(inode, std::make_pair(pid, std::atoi(e->d_name)));
        }
        ::closedir(d);
    }
    Query q;
    q.udp = false;
    const auto snap = source.snapshot(q);
    o.time_ns = snap.taken_ns;
    for (const auto& r : snap.sockets) {
        const auto it = held.find(r.inode);
        if (r.inode == 0 || it == held.end()) continue;
        o.sockets.push_back(HeldSocket{it->second.first, it->second.second, r});
    }
    return o;
}

std::optional<std::uint16_t> listening_port(const Observation& o) {
    for (const auto& h : o.sockets)
        if (h.record.state == static_cast<std::uint8_t>(TcpState::listen)) return h.record.local_port;
    return std::nullopt;
}

}  // namespace socklab::program
