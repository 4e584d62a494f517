#pragma once
// One lifecycle system call on a socket (socket, bind, listen, accept, connect, shutdown,
// close, setsockopt) as the syscalls tracepoints report it: the entry's arguments joined with
// the exit's result. Data calls (send/recv/read/write...) are not one event each: they are
// counted per socket (DataCallCounts). Plain records, filled by the call tracer and by the
// pure decoder of recorded tracepoint records; read by the conversation, the CLI and the views.
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "socklab/record.hpp"

namespace socklab {

enum class SyscallKind : std::uint8_t {
    socket, bind, listen, accept, accept4, connect, shutdown, close, setsockopt,
    // data calls: counted, not reported one by one
    sendto, recvfrom, sendmsg, recvmsg, read, write,
};
inline constexpr std::size_t kSyscallKinds = 15;

// "connect", "accept4", ... (the system call's name, as in the JSON "call" field).
[[nodiscard]] std::string_view syscall_name(SyscallKind k) noexcept;
[[nodiscard]] std::optional<SyscallKind> syscall_from_name(std::string_view name) noexcept;
[[nodiscard]] bool is_data_call(SyscallKind k) noexcept;
[[nodiscard]] bool is_receive(SyscallKind k) noexcept;  // recvfrom, recvmsg, read
// socket, accept, accept4: the result is the descriptor the call made (when >= 0).
[[nodiscard]] bool makes_descriptor(SyscallKind k) noexcept;
// socket(domain, type, protocol) makes a TCP socket: AF_INET or AF_INET6, SOCK_STREAM (the
// flags SOCK_NONBLOCK and SOCK_CLOEXEC aside), protocol 0 or IPPROTO_TCP — socket(2), tcp(7).
// The others (AF_UNIX, UDP, netlink: a name lookup makes several) are not socklab's to show.
[[nodiscard]] bool makes_tcp_socket(std::int64_t domain, std::int64_t type, std::int64_t protocol) noexcept;

struct SyscallEvent {
    std::uint64_t time_ns = 0;     // of the exit (the result is known), CLOCK_MONOTONIC
    std::uint64_t enter_ns = 0;    // of the entry (0 when the entry was not seen)
    std::int32_t pid = 0;          // thread group id (the process)
    std::int32_t tid = 0;          // the thread that made the call
    std::array<char, 16> comm{};   // NUL-terminated
    SyscallKind call = SyscallKind::close;
    std::int32_t fd = -1;          // the socket's descriptor (socket(): the new one, if any)
    std::int64_t result = 0;       // the return value (accept/socket: the new fd)
    std::int32_t error = 0;        // errno when result < 0, else 0
    // Arguments worth showing, by call: socket: domain, type, protocol; listen: backlog;
    // shutdown: how; setsockopt: level, optname (the value lives in the caller's memory,
    // which the tracepoint does not copy).
    std::int64_t arg0 = 0, arg1 = 0, arg2 = 0, arg3 = 0;
    // Resolved socket (pid, fd) -> inode -> 4-tuple, when known. For accept/accept4 the key
    // is the new connection's (the fd returned), not the listener's.
    std::uint64_t inode = 0;
    std::optional<SocketKey> key;

    [[nodiscard]] std::string_view comm_view() const noexcept;
    [[nodiscard]] bool failed() const noexcept { return result < 0; }
};

// The descriptor a call is about: the one socket()/accept() made, else its fd argument (the
// listener's for a failed accept()).
[[nodiscard]] std::int32_t call_descriptor(const SyscallEvent& e) noexcept;

// errno as its name ("ECONNREFUSED"); "E<number>" for one this table does not know.
[[nodiscard]] std::string errno_name(int err);

// Data calls on one socket: how many, how many bytes, and the receives that returned 0 (the
// peer's FIN: end of stream) counted on their own.
struct DataCallCounts {
    std::uint64_t sends = 0, send_bytes = 0;
    std::uint64_t receives = 0, receive_bytes = 0;
    std::uint64_t receive_zero = 0;  // recv/read returned 0
    std::uint64_t errors = 0;        // returned -1 (EAGAIN included)
    std::uint64_t first_ns = 0, last_ns = 0;
    // The results of the first receives that returned >= 0, in order (the framing hint lays
    // them over the captured stream); bounded, the rest are only counted.
    static constexpr std::size_t kReadsKept = 64;
    std::array<std::uint32_t, kReadsKept> first_reads{};
    std::uint8_t reads_kept = 0;
    // Who made the latest call (the tracer fills these; add() leaves them alone).
    std::int32_t pid = 0, tid = 0, fd = -1;

    void add(SyscallKind k, std::int64_t result, std::uint64_t time_ns) noexcept;
    friend bool operator==(const DataCallCounts&, const DataCallCounts&) = default;
};

}  // namespace socklab
