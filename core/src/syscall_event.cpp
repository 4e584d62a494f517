#include "socklab/syscall_event.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>

namespace socklab {
namespace {

constexpr std::array<std::string_view, kSyscallKinds> kNames{
    "socket", "bind",     "listen",  "accept",  "accept4", "connect", "shutdown", "close",
    "setsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg", "read", "write",
};

}  // namespace

std::string_view syscall_name(SyscallKind k) noexcept {
    const auto i = static_cast<std::size_t>(k);
    return i < kNames.size() ? kNames[i] : std::string_view("?");
}

std::optional<SyscallKind> syscall_from_name(std::string_view name) noexcept {
    for (std::size_t i = 0; i < kNames.size(); ++i)
        if (kNames[i] == name) return static_cast<SyscallKind>(i);
    return std::nullopt;
}

bool is_data_call(SyscallKind k) noexcept {
    return static_cast<std::size_t>(k) >= static_cast<std::size_t>(SyscallKind::sendto);
}

bool makes_descriptor(SyscallKind k) noexcept {
    return k == SyscallKind::socket || k == SyscallKind::accept || k == SyscallKind::accept4;
}

std::int32_t call_descriptor(const SyscallEvent& e) noexcept {
    return makes_descriptor(e.call) && e.result >= 0 ? static_cast<std::int32_t>(e.result) : e.fd;
}

bool makes_tcp_socket(std::int64_t domain, std::int64_t type, std::int64_t protocol) noexcept {
    constexpr std::int64_t kTypeMask = 0xf;  // the flags live above the type's low bits
    return (domain == AF_INET || domain == AF_INET6) && (type & kTypeMask) == SOCK_STREAM &&
           (protocol == 0 || protocol == IPPROTO_TCP);
}

bool is_receive(SyscallKind k) noexcept {
    return k == SyscallKind::recvfrom || k == SyscallKind::recvmsg || k == SyscallKind::read;
}

std::string_view SyscallEvent::comm_view() const noexcept {
    return {comm.data(), ::strnlen(comm.data(), comm.size())};
}

std::string errno_name(int err) {
    // The errors a socket's lifecycle calls return (see the man pages of each call).
    switch (err) {
#define SOCKLAB_ERRNO(e) case e: return #e;
        SOCKLAB_ERRNO(EPERM) SOCKLAB_ERRNO(ENOENT) SOCKLAB_ERRNO(EINTR) SOCKLAB_ERRNO(EIO)
        SOCKLAB_ERRNO(EBADF) SOCKLAB_ERRNO(EAGAIN) SOCKLAB_ERRNO(ENOMEM) SOCKLAB_ERRNO(EACCES)
        SOCKLAB_ERRNO(EFAULT) SOCKLAB_ERRNO(EINVAL) SOCKLAB_ERRNO(ENFILE) SOCKLAB_ERRNO(EMFILE)
        SOCKLAB_ERRNO(EPIPE) SOCKLAB_ERRNO(ENOTSOCK) SOCKLAB_ERRNO(EDESTADDRREQ)
        SOCKLAB_ERRNO(EPROTOTYPE) SOCKLAB_ERRNO(ENOPROTOOPT) SOCKLAB_ERRNO(EPROTONOSUPPORT)
        SOCKLAB_ERRNO(EOPNOTSUPP) SOCKLAB_ERRNO(EAFNOSUPPORT) SOCKLAB_ERRNO(EADDRINUSE)
        SOCKLAB_ERRNO(EADDRNOTAVAIL) SOCKLAB_ERRNO(ENETDOWN) SOCKLAB_ERRNO(ENETUNREACH)
        SOCKLAB_ERRNO(ECONNABORTED) SOCKLAB_ERRNO(ECONNRESET) SOCKLAB_ERRNO(ENOBUFS)
        SOCKLAB_ERRNO(EISCONN) SOCKLAB_ERRNO(ENOTCONN) SOCKLAB_ERRNO(ETIMEDOUT)
        SOCKLAB_ERRNO(ECONNREFUSED) SOCKLAB_ERRNO(EHOSTUNREACH) SOCKLAB_ERRNO(EALREADY)
        SOCKLAB_ERRNO(EINPROGRESS) SOCKLAB_ERRNO(ESHUTDOWN)
#undef SOCKLAB_ERRNO
        // The kernel's own restart codes (include/linux/errno.h): a call a signal interrupted
        // exits with one in the tracepoint; the program never sees it (the call is restarted,
        // or returns EINTR, or the signal ends the process).
        case 512: return "ERESTARTSYS";
        case 513: return "ERESTARTNOINTR";
        case 514: return "ERESTARTNOHAND";
        case 516: return "ERESTART_RESTARTBLOCK";
        default: return "E" + std::to_string(err);
    }
}

void DataCallCounts::add(SyscallKind k, std::int64_t result, std::uint64_t time_ns) noexcept {
    if (first_ns == 0) first_ns = time_ns;
    last_ns = time_ns;
    if (result < 0) {
        ++errors;
        return;
    }
    const auto bytes = static_cast<std::uint64_t>(result);
    if (is_receive(k)) {
        ++receives;
        receive_bytes += bytes;
        if (reads_kept < kReadsKept)
            first_reads[reads_kept++] = static_cast<std::uint32_t>(std::min<std::uint64_t>(bytes, UINT32_MAX));
        if (result == 0) ++receive_zero;
    } else {
        ++sends;
        send_bytes += bytes;
    }
}

}  // namespace socklab
