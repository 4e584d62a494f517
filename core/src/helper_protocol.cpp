// The socklab-helper protocol: encoder and the bounds-checked decoder (see helper_protocol.hpp).
#include "socklab/helper_protocol.hpp"

#include <sys/socket.h>

#include <cstring>
#include <stdexcept>
#include <type_traits>

namespace socklab::helper {
namespace {

class Writer {
public:
    void u8(std::uint8_t v) { out_.push_back(static_cast<std::byte>(v)); }
    void u16(std::uint16_t v) { be(v, 2); }
    void u32(std::uint32_t v) { be(v, 4); }
    void u64(std::uint64_t v) { be(v, 8); }
    void i32(std::int32_t v) { u32(static_cast<std::uint32_t>(v)); }
    void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
    void bytes(const void* p, std::size_t n) {
        const auto* b = static_cast<const std::byte*>(p);
        out_.insert(out_.end(), b, b + n);
    }
    void str(std::string_view s) {
        if (s.size() > kMaxString) throw std::length_error("helper protocol: string too long");
        u16(static_cast<std::uint16_t>(s.size()));
        bytes(s.data(), s.size());
    }
    void addr(const IpAddr& a) {
        u8(a.family);
        bytes(a.bytes.data(), a.bytes.size());
    }
    std::vector<std::byte>& out() { return out_; }

private:
    void be(std::uint64_t v, int n) {
        for (int i = n - 1; i >= 0; --i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
    }
    std::vector<std::byte> out_;
};

// Reads the payload of one frame; every read checks what is left. A failed read sets the
// error once and then returns zeros, so a decoder body reads straight through and the
// result is checked at the end.
class Reader {
public:
    explicit Reader(std::span<const std::byte> p) : p_(p) {}
    std::uint8_t u8() { return static_cast<std::uint8_t>(be(1)); }
    std::uint16_t u16() { return static_cast<std::uint16_t>(be(2)); }
    std::uint32_t u32() { return static_cast<std::uint32_t>(be(4)); }
    std::uint64_t u64() { return be(8); }
    std::int32_t i32() { return static_cast<std::int32_t>(u32()); }
    std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
    void bytes(void* dst, std::size_t n) {
        if (!take(n, "bytes")) {
            std::memset(dst, 0, n);
            return;
        }
        std::memcpy(dst, p_.data() + pos_ - n, n);
    }
    std::string str() {
        const std::size_t n = u16();
        if (n > kMaxString) {
            fail("string of " + std::to_string(n) + " bytes (at most " +
                 std::to_string(kMaxString) + ")");
            return {};
        }
        if (!take(n, "string")) return {};
        return std::string(reinterpret_cast<const char*>(p_.data() + pos_ - n), n);
    }
    IpAddr addr() {
        IpAddr a;
        a.family = u8();
        bytes(a.bytes.data(), a.bytes.size());
        if (ok() && a.family != AF_INET && a.family != AF_INET6)
            fail("address family " + std::to_string(a.family) + " (want AF_INET or AF_INET6)");
        if (ok() && a.family == AF_INET)
            for (std::size_t i = 4; i < a.bytes.size(); ++i)
                if (a.bytes[i] != 0) {
                    fail("IPv4 address with bytes beyond the fourth");
                    break;
                }
        return a;
    }
    std::size_t left() const { return p_.size() - pos_; }
    bool ok() const { return error_.empty(); }
    void fail(std::string why) {
        if (error_.empty()) error_ = std::move(why);
    }
    const std::string& error() const { return error_; }

private:
    bool take(std::size_t n, const char* what) {
        if (!ok()) return false;
        if (n > left()) {
            fail(std::string("truncated ") + what + ": " + std::to_string(n) + " bytes wanted, " +
                 std::to_string(left()) + " left");
            return false;
        }
        pos_ += n;
        return true;
    }
    std::uint64_t be(std::size_t n) {
        if (!take(n, "integer")) return 0;
        std::uint64_t v = 0;
        for (std::size_t i = pos_ - n; i < pos_; ++i) v = (v << 8) | std::to_integer<std::uint8_t>(p_[i]);
        return v;
    }
    std::span<const std::byte> p_;
    std::size_t pos_ = 0;
    std::string error_;
};

constexpr std::uint8_t kTraceSyscalls = 1;
constexpr std::uint8_t kTraceFollow = 2;
constexpr std::uint8_t kTraceDataCalls = 4;

void put(Writer& w, const TraceRequest& m) {
    w.u8(m.port ? 1 : 0);
    w.u16(m.port.value_or(0));
    // The system-call section only when it asks for something: a trace of transitions alone
    // stays the frame older helpers read.
    if (!m.syscalls && m.pids.empty() && !m.follow_children && !m.data_calls) return;
    if (m.pids.size() > kMaxTracePids)
        throw std::length_error("helper protocol: too many pids for one trace request");
    w.u8(static_cast<std::uint8_t>((m.syscalls ? kTraceSyscalls : 0) |
                                   (m.follow_children ? kTraceFollow : 0) |
                                   (m.data_calls ? kTraceDataCalls : 0)));
    w.u16(static_cast<std::uint16_t>(m.pids.size()));
    for (auto p : m.pids) w.i32(p);
}
void put(Writer& w, const OwnersRequest& m) {
    if (m.inodes.size() > (kMaxFrame - 8) / 8)
        throw std::length_error("helper protocol: too many inodes for one owners request");
    w.u32(static_cast<std::uint32_t>(m.inodes.size()));
    for (auto i : m.inodes) w.u64(i);
}
void put(Writer& w, const DestroyRequest& m) {
    w.addr(m.local_addr);
    w.u16(m.local_port);
    w.addr(m.remote_addr);
    w.u16(m.remote_port);
    w.u64(m.cookie);
}
void put(Writer& w, const SignalRequest& m) {
    w.i32(m.pid);
    w.u64(m.start_ticks);
    w.i32(m.signal);
}
void put(Writer&, const StopRequest&) {}
void put(Writer& w, const OkReply& m) {
    w.u64(m.count);
    w.str(m.message);
}
void put(Writer& w, const ErrorReply& m) {
    w.u8(static_cast<std::uint8_t>(m.code));
    w.str(m.message);
}
void put(Writer& w, const EventReply& m) {
    const auto& e = m.event;
    w.u64(e.time_ns);
    w.u32(e.cpu);
    w.i32(e.pid);
    w.bytes(e.comm.data(), e.comm.size());
    w.u64(e.skaddr);
    w.u8(e.family);
    w.u8(e.protocol);
    w.addr(e.local_addr);
    w.u16(e.local_port);
    w.addr(e.remote_addr);
    w.u16(e.remote_port);
    w.u8(e.old_state);
    w.u8(e.new_state);
    w.u64(e.old_state_ns);
}
void put(Writer& w, const SyscallReply& m) {
    const auto& c = m.call;
    w.u64(c.time_ns);
    w.u64(c.enter_ns);
    w.i32(c.pid);
    w.i32(c.tid);
    w.bytes(c.comm.data(), c.comm.size());
    w.u8(static_cast<std::uint8_t>(c.call));
    w.i32(c.fd);
    w.i64(c.result);
    w.i32(c.error);
    for (auto a : {c.arg0, c.arg1, c.arg2, c.arg3}) w.i64(a);
    w.u64(c.inode);
    w.u8(c.key ? 1 : 0);
    if (!c.key) return;
    w.u8(static_cast<std::uint8_t>(c.key->proto));
    w.u8(c.key->family);
    w.addr(c.key->local_addr);
    w.u16(c.key->local_port);
    w.addr(c.key->remote_addr);
    w.u16(c.key->remote_port);
}
void put(Writer& w, const DataCallsReply& m) {
    const auto& c = m.counts;
    w.u64(m.inode);
    w.i32(c.pid);
    w.i32(c.tid);
    w.i32(c.fd);
    for (auto v : {c.sends, c.send_bytes, c.receives, c.receive_bytes, c.receive_zero, c.errors,
                   c.first_ns, c.last_ns})
        w.u64(v);
}
void put(Writer& w, const OwnersBatch& m) {
    if (m.entries.size() > 0xffff) throw std::length_error("helper protocol: owners batch too big");
    w.u16(static_cast<std::uint16_t>(m.entries.size()));
    for (const auto& o : m.entries) {
        w.u64(o.inode);
        w.i32(o.pid);
        w.i32(o.fd);
        w.u32(o.uid);
        w.str(o.command);
    }
}

void put(Writer& w, const CaptureRequest& m) {
    if (m.ports.size() > kMaxCapturePorts)
        throw std::length_error("helper protocol: too many ports for one capture request");
    w.str(m.interface);
    w.u32(m.buffer_kb);
    w.u16(static_cast<std::uint16_t>(m.ports.size()));
    for (auto p : m.ports) w.u16(p);
}
void put(Writer& w, const PacketBatch& m) {
    if (m.frames.size() > kFramesPerBatch)
        throw std::length_error("helper protocol: packet batch too big");
    w.u32(m.datalink);
    w.u64(m.kernel_dropped);
    w.u64(m.interface_dropped);
    w.u16(static_cast<std::uint16_t>(m.frames.size()));
    for (const auto& f : m.frames) {
        if (f.bytes.size() > kMaxCaptureBytes)
            throw std::length_error("helper protocol: captured frame over kMaxCaptureBytes");
        w.u64(f.time_ns);
        w.u32(f.wire_len);
        w.u16(static_cast<std::uint16_t>(f.bytes.size()));
        if (!f.bytes.empty()) w.bytes(f.bytes.data(), f.bytes.size());
    }
}

// An event address may be unset (family 0) when the record had none; any other family
// than the two IP ones is not something the tracer makes.
IpAddr event_addr(Reader& r) {
    IpAddr a;
    a.family = r.u8();
    r.bytes(a.bytes.data(), a.bytes.size());
    if (r.ok() && a.family != 0 && a.family != AF_INET && a.family != AF_INET6)
        r.fail("event address family " + std::to_string(a.family));
    return a;
}

std::optional<Message> get(Verb v, Reader& r) {
    switch (v) {
        case Verb::trace: {
            TraceRequest m;
            const auto has = r.u8();
            const auto port = r.u16();
            if (has > 1) r.fail("trace port flag " + std::to_string(has) + " (want 0 or 1)");
            if (has == 1) m.port = port;
            else if (port != 0) r.fail("trace port given without its flag");
            if (!r.ok() || r.left() == 0) return m;  // transitions only
            const auto flags = r.u8();
            const auto n = r.u16();
            if (!r.ok()) return m;
            if ((flags & ~(kTraceSyscalls | kTraceFollow | kTraceDataCalls)) != 0)
                r.fail("trace flags " + std::to_string(flags) + " (want bits 0 to 2 only)");
            else if ((flags & kTraceSyscalls) == 0)
                r.fail("trace system-call section without its syscalls flag");
            else if (n > kMaxTracePids)
                r.fail("trace request says " + std::to_string(n) + " pids (at most " +
                       std::to_string(kMaxTracePids) + ")");
            else if ((flags & kTraceFollow) != 0 && n == 0)
                r.fail("trace asks to follow the children of no pid");
            m.syscalls = (flags & kTraceSyscalls) != 0;
            m.follow_children = (flags & kTraceFollow) != 0;
            m.data_calls = (flags & kTraceDataCalls) != 0;
            for (std::uint16_t i = 0; i < n && r.ok(); ++i) {
                const auto p = r.i32();
                if (r.ok() && (p < 1 || p > kMaxPid))
                    r.fail("trace pid " + std::to_string(p) + " (want 1 to " +
                           std::to_string(kMaxPid) + ")");
                m.pids.push_back(p);
            }
            return m;
        }
        case Verb::owners: {
            OwnersRequest m;
            const auto n = r.u32();
            if (static_cast<std::uint64_t>(n) * 8 > r.left()) {
                r.fail("owners request says " + std::to_string(n) + " inodes, " +
                       std::to_string(r.left()) + " bytes left");
                return m;
            }
            m.inodes.reserve(n);
            for (std::uint32_t i = 0; i < n; ++i) m.inodes.push_back(r.u64());
            return m;
        }
        case Verb::destroy: {
            DestroyRequest m;
            m.local_addr = r.addr();
            m.local_port = r.u16();
            m.remote_addr = r.addr();
            m.remote_port = r.u16();
            m.cookie = r.u64();
            if (r.ok() && m.local_addr.family != m.remote_addr.family)
                r.fail("destroy request with two address families");
            return m;
        }
        case Verb::signal: {
            SignalRequest m;
            m.pid = r.i32();
            m.start_ticks = r.u64();
            m.signal = r.i32();
            return m;
        }
        case Verb::stop: return StopRequest{};
        case Verb::ok: {
            OkReply m;
            m.count = r.u64();
            m.message = r.str();
            return m;
        }
        case Verb::error: {
            ErrorReply m;
            const auto c = r.u8();
            if (r.ok() && (c < 1 || c > static_cast<std::uint8_t>(ErrorCode::busy)))
                r.fail("error code " + std::to_string(c));
            m.code = static_cast<ErrorCode>(c);
            m.message = r.str();
            return m;
        }
        case Verb::event: {
            EventReply m;
            auto& e = m.event;
            e.time_ns = r.u64();
            e.cpu = r.u32();
            e.pid = r.i32();
            r.bytes(e.comm.data(), e.comm.size());
            if (r.ok() && e.comm.back() != '\0') r.fail("event command not NUL-terminated");
            e.skaddr = r.u64();
            e.family = r.u8();
            e.protocol = r.u8();
            e.local_addr = event_addr(r);
            e.local_port = r.u16();
            e.remote_addr = event_addr(r);
            e.remote_port = r.u16();
            e.old_state = r.u8();
            e.new_state = r.u8();
            e.old_state_ns = r.u64();
            return m;
        }
        case Verb::syscall: {
            SyscallReply m;
            auto& c = m.call;
            c.time_ns = r.u64();
            c.enter_ns = r.u64();
            c.pid = r.i32();
            c.tid = r.i32();
            r.bytes(c.comm.data(), c.comm.size());
            if (r.ok() && c.comm.back() != '\0') r.fail("system call command not NUL-terminated");
            const auto kind = r.u8();
            if (r.ok() && kind >= kSyscallKinds) r.fail("system call kind " + std::to_string(kind));
            c.call = static_cast<SyscallKind>(kind);
            c.fd = r.i32();
            c.result = r.i64();
            c.error = r.i32();
            if (r.ok() && (c.error < 0 || c.error > kMaxErrno))
                r.fail("system call errno " + std::to_string(c.error) + " (want 0 to " +
                       std::to_string(kMaxErrno) + ")");
            c.arg0 = r.i64();
            c.arg1 = r.i64();
            c.arg2 = r.i64();
            c.arg3 = r.i64();
            c.inode = r.u64();
            const auto has_key = r.u8();
            if (!r.ok() || has_key == 0) return m;
            if (has_key != 1) {
                r.fail("system call key flag " + std::to_string(has_key) + " (want 0 or 1)");
                return m;
            }
            SocketKey k;
            const auto proto = r.u8();
            if (r.ok() && proto > static_cast<std::uint8_t>(Proto::udp))
                r.fail("system call key protocol " + std::to_string(proto));
            k.proto = static_cast<Proto>(proto);
            k.family = r.u8();
            if (r.ok() && k.family != 0 && k.family != AF_INET && k.family != AF_INET6)
                r.fail("system call key family " + std::to_string(k.family));
            k.local_addr = event_addr(r);
            k.local_port = r.u16();
            k.remote_addr = event_addr(r);
            k.remote_port = r.u16();
            c.key = k;
            return m;
        }
        case Verb::data_calls: {
            DataCallsReply m;
            auto& c = m.counts;
            m.inode = r.u64();
            c.pid = r.i32();
            c.tid = r.i32();
            c.fd = r.i32();
            c.sends = r.u64();
            c.send_bytes = r.u64();
            c.receives = r.u64();
            c.receive_bytes = r.u64();
            c.receive_zero = r.u64();
            c.errors = r.u64();
            c.first_ns = r.u64();
            c.last_ns = r.u64();
            if (!r.ok()) return m;
            if (m.inode == 0) r.fail("data calls on inode 0");
            else if (c.pid < 1 || c.pid > kMaxPid || c.tid < 1 || c.tid > kMaxPid)
                r.fail("data calls of pid " + std::to_string(c.pid) + ", thread " +
                       std::to_string(c.tid) + " (want 1 to " + std::to_string(kMaxPid) + ")");
            else if (c.fd < 0) r.fail("data calls on fd " + std::to_string(c.fd));
            else if (c.receive_zero > c.receives)
                r.fail("data calls: " + std::to_string(c.receive_zero) + " receives returned 0 of " +
                       std::to_string(c.receives));
            else if (c.last_ns < c.first_ns) r.fail("data calls: the last before the first");
            return m;
        }
        case Verb::owners_batch: {
            OwnersBatch m;
            const auto n = r.u16();
            // Each entry is at least 22 bytes: never reserve more than the frame could hold.
            if (static_cast<std::size_t>(n) * 22 > r.left()) {
                r.fail("owners batch says " + std::to_string(n) + " entries, " +
                       std::to_string(r.left()) + " bytes left");
                return m;
            }
            m.entries.reserve(n);
            for (std::uint16_t i = 0; i < n && r.ok(); ++i) {
                OwnerEntry o;
                o.inode = r.u64();
                o.pid = r.i32();
                o.fd = r.i32();
                o.uid = r.u32();
                o.command = r.str();
                m.entries.push_back(std::move(o));
            }
            return m;
        }
        case Verb::capture: {
            CaptureRequest m;
            m.interface = r.str();
            m.buffer_kb = r.u32();
            const auto n = r.u16();
            if (!r.ok()) return m;
            if (m.interface.empty() || m.interface.size() > kMaxInterfaceName)
                r.fail("interface name of " + std::to_string(m.interface.size()) +
                       " bytes (want 1 to " + std::to_string(kMaxInterfaceName) + ")");
            if (m.buffer_kb < kMinCaptureBufferKb || m.buffer_kb > kMaxCaptureBufferKb)
                r.fail("capture buffer of " + std::to_string(m.buffer_kb) + " KiB (want " +
                       std::to_string(kMinCaptureBufferKb) + " to " +
                       std::to_string(kMaxCaptureBufferKb) + ")");
            if (n > kMaxCapturePorts)
                r.fail("capture request says " + std::to_string(n) + " ports (at most " +
                       std::to_string(kMaxCapturePorts) + ")");
            for (std::uint16_t i = 0; i < n && r.ok(); ++i) {
                const auto p = r.u16();
                if (r.ok() && p == 0) r.fail("capture port 0");
                m.ports.push_back(p);
            }
            return m;
        }
        case Verb::packets: {
            PacketBatch m;
            m.datalink = r.u32();
            m.kernel_dropped = r.u64();
            m.interface_dropped = r.u64();
            const auto n = r.u16();
            if (!r.ok()) return m;
            // Each frame is at least 14 bytes: never reserve more than the frame could hold.
            if (n > kFramesPerBatch || static_cast<std::size_t>(n) * 14 > r.left()) {
                r.fail("packet batch says " + std::to_string(n) + " frames, " +
                       std::to_string(r.left()) + " bytes left");
                return m;
            }
            m.frames.reserve(n);
            for (std::uint16_t i = 0; i < n && r.ok(); ++i) {
                CapturedFrame f;
                f.time_ns = r.u64();
                f.wire_len = r.u32();
                const std::size_t len = r.u16();
                if (r.ok() && len > kMaxCaptureBytes) {
                    r.fail("captured frame of " + std::to_string(len) + " bytes (at most " +
                           std::to_string(kMaxCaptureBytes) + ")");
                    break;
                }
                if (r.ok() && len > r.left()) {
                    r.fail("truncated frame: " + std::to_string(len) + " bytes wanted, " +
                           std::to_string(r.left()) + " left");
                    break;
                }
                f.bytes.resize(len);
                if (len != 0) r.bytes(f.bytes.data(), len);
                m.frames.push_back(std::move(f));
            }
            return m;
        }
    }
    return std::nullopt;
}

}  // namespace

bool operator==(const EventReply& a, const EventReply& b) {
    const auto& x = a.event;
    const auto& y = b.event;
    return x.time_ns == y.time_ns && x.cpu == y.cpu && x.pid == y.pid && x.comm == y.comm &&
           x.skaddr == y.skaddr && x.family == y.family && x.protocol == y.protocol &&
           x.local_addr == y.local_addr && x.local_port == y.local_port &&
           x.remote_addr == y.remote_addr && x.remote_port == y.remote_port &&
           x.old_state == y.old_state && x.new_state == y.new_state &&
           x.old_state_ns == y.old_state_ns;
}

bool operator==(const SyscallReply& a, const SyscallReply& b) {
    const auto& x = a.call;
    const auto& y = b.call;
    return x.time_ns == y.time_ns && x.enter_ns == y.enter_ns && x.pid == y.pid &&
           x.tid == y.tid && x.comm == y.comm && x.call == y.call && x.fd == y.fd &&
           x.result == y.result && x.error == y.error && x.arg0 == y.arg0 &&
           x.arg1 == y.arg1 && x.arg2 == y.arg2 && x.arg3 == y.arg3 && x.inode == y.inode &&
           x.key == y.key;
}

std::string_view error_code_name(ErrorCode c) noexcept {
    switch (c) {
        case ErrorCode::bad_frame: return "bad_frame";
        case ErrorCode::unknown_verb: return "unknown_verb";
        case ErrorCode::refused: return "refused";
        case ErrorCode::no_permission: return "no_permission";
        case ErrorCode::gone: return "gone";
        case ErrorCode::failed: return "failed";
        case ErrorCode::busy: return "busy";
    }
    return "unknown";
}

Verb verb_of(const Message& m) noexcept {
    static constexpr Verb kVerbs[] = {Verb::trace, Verb::owners, Verb::destroy,
                                      Verb::signal, Verb::stop, Verb::ok,
                                      Verb::error, Verb::event, Verb::owners_batch,
                                      Verb::capture, Verb::packets, Verb::syscall,
                                      Verb::data_calls};
    static_assert(std::size(kVerbs) == std::variant_size_v<Message>);
    return kVerbs[m.index()];
}

std::vector<std::byte> encode(const Message& m) {
    Writer w;
    w.u32(0);  // length, filled in below
    w.u8(kVersion);
    w.u8(static_cast<std::uint8_t>(verb_of(m)));
    std::visit([&](const auto& body) { put(w, body); }, m);
    auto& out = w.out();
    const std::size_t len = out.size() - kHeaderSize;
    if (len > kMaxFrame) throw std::length_error("helper protocol: frame over kMaxFrame");
    for (int i = 0; i < 4; ++i)
        out[static_cast<std::size_t>(i)] = static_cast<std::byte>(len >> (8 * (3 - i)));
    return std::move(out);
}

Decoded decode(std::span<const std::byte> buf) noexcept {
    Decoded d;
    try {
        if (buf.size() < kHeaderSize) return d;  // need_more
        std::uint32_t len = 0;
        for (std::size_t i = 0; i < kHeaderSize; ++i)
            len = (len << 8) | std::to_integer<std::uint8_t>(buf[i]);
        if (len > kMaxFrame) {
            d.status = Decoded::Status::bad_frame;
            d.error = "frame of " + std::to_string(len) + " bytes (at most " +
                      std::to_string(kMaxFrame) + ")";
            return d;
        }
        if (len < 2) {
            d.status = Decoded::Status::bad_frame;
            d.error = "frame of " + std::to_string(len) + " bytes (version and verb need 2)";
            return d;
        }
        if (buf.size() - kHeaderSize < len) return d;  // need_more
        const auto version = std::to_integer<std::uint8_t>(buf[4]);
        const auto verb = std::to_integer<std::uint8_t>(buf[5]);
        if (version != kVersion) {
            d.status = Decoded::Status::bad_frame;
            d.error = "protocol version " + std::to_string(version) + " (this side speaks " +
                      std::to_string(kVersion) + ")";
            return d;
        }
        Reader r(buf.subspan(6, len - 2));
        auto m = get(static_cast<Verb>(verb), r);
        if (!m) {
            d.status = Decoded::Status::unknown_verb;
            d.consumed = kHeaderSize + len;
            d.error = "unknown verb " + std::to_string(verb);
            return d;
        }
        if (r.ok() && r.left() != 0)
            r.fail(std::to_string(r.left()) + " bytes after the fields");
        if (!r.ok()) {
            d.status = Decoded::Status::bad_frame;
            d.error = "verb " + std::to_string(verb) + ": " + r.error();
            return d;
        }
        d.status = Decoded::Status::complete;
        d.message = std::move(m);
        d.consumed = kHeaderSize + len;
    } catch (const std::exception& e) {  // std::bad_alloc from a string: report, never throw
        d = Decoded{};
        d.status = Decoded::Status::bad_frame;
        d.error = e.what();
    }
    return d;
}

}  // namespace socklab::helper
