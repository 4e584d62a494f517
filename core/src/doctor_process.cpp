// The doctor's view of one process: start time, kernel-thread flag, "does it still hold this
// socket?", and its pidfd. Everything here reads /proc/<pid> of exactly one process.
#include <poll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <filesystem>
#include <optional>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "doctor_detail.hpp"

namespace socklab {
namespace {

// PF_KTHREAD from include/linux/sched.h: the task is a kernel thread.
constexpr unsigned long kPfKthread = 0x00200000;

std::string read_first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

struct StatFields {
    unsigned long flags = 0;
    unsigned long long start_ticks = 0;
};

// /proc/<pid>/stat: the command may hold spaces and ')', so the fields start after the last ')'.
std::optional<StatFields> read_stat(int pid) {
    const std::string line = read_first_line("/proc/" + std::to_string(pid) + "/stat");
    const auto close = line.rfind(')');
    if (close == std::string::npos) return std::nullopt;
    std::istringstream rest(line.substr(close + 1));
    std::vector<std::string> f;
    for (std::string word; rest >> word;) f.push_back(word);
    // After ')': state(3) ppid(4) ... flags(9) ... starttime(22) -> indices 0, 1, 6, 19.
    if (f.size() < 20) return std::nullopt;
    StatFields s;
    std::from_chars(f[6].data(), f[6].data() + f[6].size(), s.flags);
    std::from_chars(f[19].data(), f[19].data() + f[19].size(), s.start_ticks);
    return s;
}

}  // namespace

namespace doctor_detail {

bool fill_process_info(OwnerProcess& p) {
    const auto st = read_stat(p.pid);
    if (!st) return false;
    p.kernel_thread = (st->flags & kPfKthread) != 0;
    const long hz = ::sysconf(_SC_CLK_TCK);
    timespec boot{}, real{};
    ::clock_gettime(CLOCK_BOOTTIME, &boot);
    ::clock_gettime(CLOCK_REALTIME, &real);
    if (hz > 0) {
        const auto started_after_boot = static_cast<std::int64_t>(st->start_ticks) / hz;
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
    const auto st = read_stat(pid);
    if (!st) return std::nullopt;
    return static_cast<std::uint64_t>(st->start_ticks);
}

bool process_holds(int pid, std::uint64_t inode) {
    if (pid <= 0 || inode == 0) return false;
    const std::string want = "socket:[" + std::to_string(inode) + "]";
    std::error_code ec;
    const std::filesystem::path dir = "/proc/" + std::to_string(pid) + "/fd";
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end;
         it.increment(ec)) {
        std::error_code link_ec;
        const auto target = std::filesystem::read_symlink(it->path(), link_ec);
        if (!link_ec && target.native() == want) return true;
    }
    return false;
}

std::string refusal_reason(int pid) {
    if (pid <= 0) return "not a process id";
    if (pid == 1) return "pid 1 is init: signalling it could take the whole system down";
    if (pid == ::getpid()) return "this is socklab itself";
    if (pid == ::getppid()) return "this is socklab's parent (the shell or program that ran it)";
    OwnerProcess p;
    p.pid = pid;
    if (doctor_detail::fill_process_info(p) && p.kernel_thread)
        return "pid " + std::to_string(pid) + " is a kernel thread: signals cannot stop it";
    return {};
}

}  // namespace socklab
