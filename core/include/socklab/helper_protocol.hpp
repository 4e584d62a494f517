#pragma once
// The socklab-helper protocol: what an unprivileged front end and the privileged helper say
// to each other over their socketpair. One definition, used by both sides.
//
// A frame is   [u32 length, big-endian][u8 version][u8 verb][payload]
// where length counts version + verb + payload (2 .. kMaxFrame). Integers are big-endian;
// a string is [u16 length][bytes] (at most kMaxString); an address is [u8 family][16 bytes].
// The decoder is a pure function over bytes: it never reads past what it was given, and
// any frame it cannot take whole is an error, never a guess.
//
// Growing it within version 1: a new verb is a new frame (a side that does not know it
// answers unknown_verb and goes on), and a request may gain a trailing section that is sent
// only when it asks for something new, so every frame an older side makes or reads stays
// byte for byte what it was. The version changes only when an existing frame must change.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "socklab/address.hpp"
#include "socklab/event.hpp"
#include "socklab/syscall_event.hpp"

namespace socklab::helper {

inline constexpr std::uint8_t kVersion = 1;
inline constexpr std::size_t kHeaderSize = 4;          // the length word
inline constexpr std::uint32_t kMaxFrame = 64 * 1024;  // version + verb + payload
inline constexpr std::size_t kMaxString = 4096;
// The fd on which the helper finds its end of the socketpair (set up by HelperClient).
inline constexpr int kChannelFd = 3;

enum class Verb : std::uint8_t {
    // requests (front end -> helper)
    trace = 1,    // start streaming transitions; ends with `stop` or when the channel closes
    owners = 2,   // which processes hold these socket inodes (all sockets when none given)
    destroy = 3,  // SOCK_DESTROY one TCP socket named by 4-tuple and cookie
    signal = 4,   // signal one process named by pid and start time
    stop = 5,     // end the running trace (or capture)
    capture = 6,  // start streaming captured frames; ends with `stop` or when the channel closes
    // replies (helper -> front end)
    ok = 0x80,            // the request was done; `message` says what
    error = 0x81,         // refused or failed; `code` says which, `message` why
    event = 0x82,         // one transition (trace)
    owners_batch = 0x83,  // some owner entries (owners); an `ok` ends the list
    packets = 0x84,       // some captured frames, raw, for the front end's decoder (capture)
    syscall = 0x85,       // one system call of the caller's own processes (trace with syscalls)
    data_calls = 0x86,    // the data calls on one socket of the caller's own processes so far
};

enum class ErrorCode : std::uint8_t {
    bad_frame = 1,      // the frame could not be read (the helper then closes the channel)
    unknown_verb = 2,   // a frame it does not serve
    refused = 3,        // a check said no (pid 1, socket changed, ...)
    no_permission = 4,  // the kernel said EPERM/EACCES: a capability is missing
    gone = 5,           // the process or socket is not there (any more)
    failed = 6,         // anything else; the message says what
    busy = 7,           // a request arrived while a trace or capture runs (only `stop` is served)
};
[[nodiscard]] std::string_view error_code_name(ErrorCode c) noexcept;

// System calls in a trace (TracerOptions::syscalls, pids, follow_children). On the wire they
// are a section after the port, [u8 flags][u16 count][i32 pid]*, sent only when `syscalls`,
// `pids` or `follow_children` is set: a trace of transitions alone is the frame it always
// was. flags: bit 0 syscalls (a section without it is refused: it would ask for nothing),
// bit 1 follow_children, bit 2 data_calls (only with bit 0); any other bit is refused.
// data_calls is newer than the section: a request without it is byte for byte what it was,
// and a helper that does not know the bit refuses the request (bad_frame) instead of
// tracing without the counts asked for.
inline constexpr std::size_t kMaxTracePids = 64;
inline constexpr std::int32_t kMaxPid = 4 * 1024 * 1024;  // the kernel's PID_MAX_LIMIT

struct TraceRequest {
    std::optional<std::uint16_t> port;  // kernel-side filter: either end on this port
    // Also stream the lifecycle system calls, as `syscall` frames. The helper sends only the
    // calls of the caller's own processes (docs/privileges.md), whatever is asked here.
    bool syscalls = false;
    std::vector<std::int32_t> pids;  // with syscalls: only these (1..kMaxPid, at most kMaxTracePids)
    bool follow_children = false;    // with pids: and every task they fork
    // With syscalls: also the data calls (send/recv/read/write...), counted per socket in the
    // helper after another user's calls are dropped, as `data_calls` frames.
    bool data_calls = false;
    friend bool operator==(const TraceRequest&, const TraceRequest&) = default;
};
struct OwnersRequest {
    std::vector<std::uint64_t> inodes;  // empty: every socket of every process
    friend bool operator==(const OwnersRequest&, const OwnersRequest&) = default;
};
struct DestroyRequest {
    IpAddr local_addr;  // the family of the socket is local_addr.family
    std::uint16_t local_port = 0;
    IpAddr remote_addr;
    std::uint16_t remote_port = 0;
    std::uint64_t cookie = 0;  // sock_diag's idiag_cookie; must match right before the act
    friend bool operator==(const DestroyRequest&, const DestroyRequest&) = default;
};
struct SignalRequest {
    std::int32_t pid = 0;
    std::uint64_t start_ticks = 0;  // field 22 of /proc/<pid>/stat: who the pid must still be
    std::int32_t signal = 0;        // SIGTERM or SIGKILL; anything else is refused
    friend bool operator==(const SignalRequest&, const SignalRequest&) = default;
};
// Capture limits, checked by the decoder (and again by the helper before it acts).
inline constexpr std::size_t kMaxInterfaceName = 15;   // IFNAMSIZ - 1
inline constexpr std::size_t kMaxCapturePorts = 32;
inline constexpr std::uint32_t kMinCaptureBufferKb = 64;
inline constexpr std::uint32_t kMaxCaptureBufferKb = 64 * 1024;
// The helper captures headers only: a frame carries at most this many bytes (Ethernet + IPv6
// + a 60-byte TCP header fit), whatever the front end would like.
inline constexpr std::size_t kMaxCaptureBytes = 256;

struct CaptureRequest {
    std::string interface = "lo";      // an interface of the caller's network namespace, or "any"
    std::vector<std::uint16_t> ports;  // 1..65535 each; empty: every TCP segment
    std::uint32_t buffer_kb = 8192;    // the kernel ring, kMinCaptureBufferKb..kMaxCaptureBufferKb
    friend bool operator==(const CaptureRequest&, const CaptureRequest&) = default;
};
struct StopRequest {
    friend bool operator==(const StopRequest&, const StopRequest&) = default;
};
struct OkReply {
    std::string message;
    std::uint64_t count = 0;  // trace: events lost by the kernel; owners: entries sent;
                              // capture: frames the kernel dropped (ps_drop + ps_ifdrop)
    friend bool operator==(const OkReply&, const OkReply&) = default;
};
struct ErrorReply {
    ErrorCode code = ErrorCode::failed;
    std::string message;
    friend bool operator==(const ErrorReply&, const ErrorReply&) = default;
};
struct EventReply {
    TransitionEvent event;
    friend bool operator==(const EventReply& a, const EventReply& b);
};
// One system call (the whole SyscallEvent). On the wire: time_ns, enter_ns, pid, tid, comm
// (16 bytes, NUL-terminated), call (u8, a SyscallKind), fd, result (i64), error (0..4095),
// arg0..arg3 (i64), inode, then [u8 has_key] and, when 1, the key: proto (u8: tcp or udp),
// family (u8: 0, AF_INET or AF_INET6), local address, local port, remote address, remote port.
inline constexpr std::int32_t kMaxErrno = 4095;  // the kernel's MAX_ERRNO

struct SyscallReply {
    SyscallEvent call;
    friend bool operator==(const SyscallReply& a, const SyscallReply& b);
};
// The data calls on one socket of the caller's own processes since the trace began (trace
// with data_calls); sent again, whole, whenever a count grew, so the newest frame of an inode
// is what it stands at. On the wire: inode (u64, not 0), pid and tid (i32, 1..kMaxPid) and fd
// (i32, >= 0) of the latest call, then sends, send_bytes, receives, receive_bytes,
// receive_zero (at most receives), errors, first_ns and last_ns (at least first_ns), all u64.
// The results of the first reads (DataCallCounts::first_reads) are not carried: they serve the
// framing hints, which need the payload the helper never captures.
struct DataCallsReply {
    std::uint64_t inode = 0;
    DataCallCounts counts;  // pid, tid and fd included; first_reads and reads_kept stay 0
    friend bool operator==(const DataCallsReply&, const DataCallsReply&) = default;
};
struct OwnerEntry {
    std::uint64_t inode = 0;
    std::int32_t pid = 0;
    std::int32_t fd = -1;
    std::uint32_t uid = 0;
    std::string command;
    friend bool operator==(const OwnerEntry&, const OwnerEntry&) = default;
};
struct OwnersBatch {
    std::vector<OwnerEntry> entries;
    friend bool operator==(const OwnersBatch&, const OwnersBatch&) = default;
};

// One captured frame as libpcap gave it: link-layer header included, at most
// kMaxCaptureBytes of it. The helper does not decode it: the front end does (pkt::decode_frame).
struct CapturedFrame {
    std::uint64_t time_ns = 0;  // CLOCK_MONOTONIC (converted in the helper, the tracer's clock)
    std::uint32_t wire_len = 0; // length on the wire
    std::vector<std::byte> bytes;
    friend bool operator==(const CapturedFrame&, const CapturedFrame&) = default;
};
struct PacketBatch {
    std::uint32_t datalink = 0;            // DLT_* of the capture (pcap_datalink)
    std::uint64_t kernel_dropped = 0;      // pcap_stats so far: ps_drop
    std::uint64_t interface_dropped = 0;   // ... and ps_ifdrop
    std::vector<CapturedFrame> frames;
    friend bool operator==(const PacketBatch&, const PacketBatch&) = default;
};
// How many frames fit one packets frame for sure (each at most kMaxCaptureBytes).
inline constexpr std::size_t kFramesPerBatch = 128;

using Message = std::variant<TraceRequest, OwnersRequest, DestroyRequest, SignalRequest,
                             StopRequest, OkReply, ErrorReply, EventReply, OwnersBatch,
                             CaptureRequest, PacketBatch, SyscallReply, DataCallsReply>;

[[nodiscard]] Verb verb_of(const Message& m) noexcept;

// One whole frame, length word included. Throws std::length_error when the message does not
// fit in kMaxFrame or a string is longer than kMaxString (the sender's bug, never input).
[[nodiscard]] std::vector<std::byte> encode(const Message& m);

// How many owner entries fit one owners_batch frame for sure.
inline constexpr std::size_t kOwnersPerBatch = 256;

struct Decoded {
    enum class Status : std::uint8_t {
        complete,      // `message` holds the frame, `consumed` bytes were used
        need_more,     // not a whole frame yet: read more and call again
        unknown_verb,  // a well-framed frame with a verb this version does not know;
                       // `consumed` skips it, `error` says which
        bad_frame,     // the stream cannot be trusted from here on; `error` says why
    };
    Status status = Status::need_more;
    std::optional<Message> message;
    std::size_t consumed = 0;
    std::string error;
};

// Decode the first frame at the start of `buf`. Never throws, never reads outside `buf`.
[[nodiscard]] Decoded decode(std::span<const std::byte> buf) noexcept;

}  // namespace socklab::helper
