// The doctor's view of one process: start time, kernel-thread flag, "does it still hold this
// socket?", and its pidfd. Everything here reads /proc/<pid> of exactly one process.
#include <poll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "doctor_detail.hpp"
#include "procfs.hpp"
#include "socklab/i18n.hpp"

namespace socklab {
namespace {

// PF_KTHREAD from include/linux/sched.h: the task is a kernel thread.
constexpr unsigned long kPfKthread = 0x00200000;

}  // namespace

namespace doctor_detail {

bool fill_process_info(OwnerProcess& p) {
    const auto st = procfs::read_stat(p.pid);
    if (!st) return false;
    p.kernel_thread = (st->flags & kPfKthread) != 0;
    const long hz = ::sysconf(_SC_CLK_TCK);
    timespec boot{}, real{};
    ::clock_gettime(CLOCK_BOOTTIME, &boot);
    ::clock_gettime(CLOCK_REALTIME, &real);
    if (hz > 0) {
        const auto started_after_boot = static_cast<std::int64_t>(st->start_time) / hz;
        const std::int64_t up = boot.tv_sec;
        p.age_s = up > started_after_boot ? static_cast<std::uint64_t>(up - started_after_boot) : 0;
        p.start_time = real.tv_sec - static_cast<std::int64_t>(p.age_s);
    }
    return true;
}

UniqueFd open_pidfd(int pid, int& err) {
    UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0u)));  // see doctor_act.cpp
    err = fd ? 0 : errno;
    return fd;
}

bool pidfd_exited(int pidfd) {
    // A pidfd becomes readable when its process exits; zombies included.
    pollfd p{pidfd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP)) != 0;
}

std::string describe(const OwnerProcess& p) {
    return "pid " + std::to_string(p.pid) + " (" + (p.command.empty() ? "?" : p.command) +
           ", user " + p.user + ")";
}

std::string describe(const SocketRecord& s) {
    std::string out = std::string(proto_name(s.proto)) + " " +
                      format_endpoint(s.local_addr, s.local_port);
    if (s.remote_port != 0) out += " -> " + format_endpoint(s.remote_addr, s.remote_port);
    out += " ";
    out += s.state_name();
    return out;
}

}  // namespace doctor_detail

std::optional<std::uint64_t> process_start_ticks(int pid) {
    if (pid <= 0) return std::nullopt;
    const auto st = procfs::read_stat(pid);
    if (!st) return std::nullopt;
    return st->start_time;
}

bool process_holds(int pid, std::uint64_t inode) { return procfs::holds_socket(pid, inode); }

std::string refusal_reason(int pid) {
    if (pid <= 0) return _("not a process id");
    if (pid == 1) return _("pid 1 is init: signalling it could take the whole system down");
    if (pid == ::getpid()) return _("this is socklab itself");
    if (pid == ::getppid()) return _("this is socklab's parent (the shell or program that ran it)");
    OwnerProcess p;
    p.pid = pid;
    if (doctor_detail::fill_process_info(p) && p.kernel_thread)
        return "pid " + std::to_string(pid) + _(" is a kernel thread: signals cannot stop it");
    return {};
}

}  // namespace socklab
