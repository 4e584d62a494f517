// The kernel-free half of the tracer: the tracepoint's format file, the raw record decoder,
// instance names and per-socket bookkeeping. Everything here is fed recorded bytes in tests
// and in the fuzzer, so every read is bounds-checked against the record it came from.
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <string>

#include "procfs.hpp"
#include "socklab/error.hpp"
#include "socklab/state.hpp"
#include "socklab/syscall_trace.hpp"
#include "socklab/tracer.hpp"

namespace socklab::trace {
namespace {

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

template <typename T>
bool parse_number(std::string_view s, T& out) noexcept {
    s = trim(s);
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
}

// "ID: 1376" of a format file: the event id; nullopt when the line is something else.
// `what` names the format in the error ("tracepoint format", "syscall tracepoint format").
std::optional<std::uint16_t> parse_id_line(std::string_view line, std::string_view what) {
    if (line.substr(0, 3) != "ID:") return std::nullopt;
    unsigned id = 0;
    if (!parse_number(line.substr(3), id) || id == 0 || id > 0xffff)
        throw ParseError("failed to parse the " + std::string(what) + ": bad ID line '" +
                         std::string(line) + "'");
    return static_cast<std::uint16_t>(id);
}

// "field:__u16 sport;\toffset:24;\tsize:2;\tsigned:0;" -> name "sport", offset 24, size 2.
// Array fields keep their name without the brackets ("saddr[4]" -> "saddr").
bool parse_field_line(std::string_view line, std::string_view& name, FieldSpec& spec) {
    line = trim(line);
    if (line.substr(0, 6) != "field:") return false;
    const auto decl_end = line.find(';');
    if (decl_end == std::string_view::npos) return false;
    std::string_view decl = trim(line.substr(6, decl_end - 6));
    const auto bracket = decl.find('[');
    if (bracket != std::string_view::npos) decl = decl.substr(0, bracket);
    const auto space = decl.find_last_of(" *");
    name = space == std::string_view::npos ? decl : decl.substr(space + 1);

    bool have_offset = false, have_size = false;
    std::string_view rest = line.substr(decl_end + 1);
    while (!rest.empty()) {
        const auto semi = rest.find(';');
        const std::string_view item = trim(rest.substr(0, semi));
        rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
        const auto colon = item.find(':');
        if (colon == std::string_view::npos) continue;
        const auto key = item.substr(0, colon);
        const auto value = item.substr(colon + 1);
        if (key == "offset") have_offset = parse_number(value, spec.offset);
        if (key == "size") have_size = parse_number(value, spec.size);
    }
    return have_offset && have_size && !name.empty();
}

struct Required {
    std::string_view name;
    FieldSpec RecordLayout::*member;
    std::uint32_t size_a;  // accepted sizes
    std::uint32_t size_b;
};

// The fields the decoder reads and the sizes it knows how to read.
constexpr Required kRequired[] = {
    {"common_type", &RecordLayout::common_type, 2, 2},
    {"common_pid", &RecordLayout::common_pid, 4, 4},
    {"skaddr", &RecordLayout::skaddr, 8, 4},
    {"oldstate", &RecordLayout::oldstate, 4, 4},
    {"newstate", &RecordLayout::newstate, 4, 4},
    {"sport", &RecordLayout::sport, 2, 2},
    {"dport", &RecordLayout::dport, 2, 2},
    {"family", &RecordLayout::family, 2, 2},
    {"protocol", &RecordLayout::protocol, 2, 2},
    {"saddr", &RecordLayout::saddr, 4, 4},
    {"daddr", &RecordLayout::daddr, 4, 4},
    {"saddr_v6", &RecordLayout::saddr_v6, 16, 16},
    {"daddr_v6", &RecordLayout::daddr_v6, 16, 16},
};

// Reads little helpers: the caller has already checked offset + size against the record.
// Walk a tracepoint format file line by line (trimmed). The "ID:" line fills `event_id`;
// every other line goes to `on_line(line, is_field, name, spec)`, with the field's name and
// spec when it is a "field:" line. Returns whether an ID line was seen.
template <typename OnLine>
bool walk_format(std::string_view text, std::string_view what, std::uint16_t& event_id,
                 OnLine&& on_line) {
    bool have_id = false;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view line = trim(text.substr(pos, end - pos));
        pos = end + 1;
        if (const auto id = parse_id_line(line, what)) {
            event_id = *id;
            have_id = true;
            continue;
        }
        std::string_view name;
        FieldSpec spec;
        const bool is_field = parse_field_line(line, name, spec);
        on_line(line, is_field, name, spec);
    }
    return have_id;
}

std::uint64_t read_uint(const std::byte* p, std::uint32_t size) noexcept {
    switch (size) {
        case 1: { std::uint8_t v; std::memcpy(&v, p, 1); return v; }
        case 2: { std::uint16_t v; std::memcpy(&v, p, 2); return v; }
        case 4: { std::uint32_t v; std::memcpy(&v, p, 4); return v; }
        case 8: { std::uint64_t v; std::memcpy(&v, p, 8); return v; }
        default: return 0;
    }
}

bool fits(const FieldSpec& f, std::size_t record_size) noexcept {
    return f.size != 0 && f.offset <= record_size && f.size <= record_size - f.offset;
}

DecodeResult fail(std::string why) {
    DecodeResult r;
    r.error = std::move(why);
    return r;
}

}  // namespace

RecordLayout parse_format(std::string_view text) {
    RecordLayout layout;
    bool seen[std::size(kRequired)] = {};
    const bool have_id = walk_format(
        text, "tracepoint format", layout.event_id,
        [&](std::string_view, bool is_field, std::string_view name, const FieldSpec& spec) {
            if (!is_field) return;
            for (std::size_t i = 0; i < std::size(kRequired); ++i) {
                if (kRequired[i].name != name) continue;
                if (spec.size != kRequired[i].size_a && spec.size != kRequired[i].size_b)
                    throw ParseError("failed to parse the tracepoint format: field '" +
                                     std::string(name) + "' has size " +
                                     std::to_string(spec.size) + ", this socklab reads " +
                                     std::to_string(kRequired[i].size_a));
                layout.*(kRequired[i].member) = spec;
                seen[i] = true;
            }
        });
    if (!have_id) throw ParseError("failed to parse the tracepoint format: no ID line");
    for (std::size_t i = 0; i < std::size(kRequired); ++i)
        if (!seen[i])
            throw ParseError("failed to parse the tracepoint format: field '" +
                             std::string(kRequired[i].name) +
                             "' is missing (is this sock:inet_sock_set_state?)");
    return layout;
}

DecodeResult decode_record(std::span<const std::byte> record, const RecordLayout& layout,
                           std::uint64_t time_ns, std::uint32_t cpu) noexcept {
    const std::size_t n = record.size();
    for (const auto& req : kRequired) {
        const FieldSpec& f = layout.*(req.member);
        if (f.size != req.size_a && f.size != req.size_b) return fail("invalid field layout");
        if (!fits(f, n))
            return fail("truncated record: " + std::to_string(n) + " bytes, field '" +
                        std::string(req.name) + "' needs " +
                        std::to_string(std::uint64_t{f.offset} + f.size));
    }
    const std::byte* p = record.data();
    const auto type = read_uint(p + layout.common_type.offset, layout.common_type.size);
    if (layout.event_id != 0 && type != layout.event_id)
        return fail("not an inet_sock_set_state record (event id " + std::to_string(type) + ")");

    TransitionEvent e;
    e.time_ns = time_ns;
    e.cpu = cpu;
    e.pid = static_cast<std::int32_t>(
        static_cast<std::uint32_t>(read_uint(p + layout.common_pid.offset, 4)));
    e.skaddr = read_uint(p + layout.skaddr.offset, layout.skaddr.size);

    const auto old_state = static_cast<std::int32_t>(
        static_cast<std::uint32_t>(read_uint(p + layout.oldstate.offset, 4)));
    const auto new_state = static_cast<std::int32_t>(
        static_cast<std::uint32_t>(read_uint(p + layout.newstate.offset, 4)));
    // Numbers the kernel may add later still fit a byte and print as UNKNOWN; anything
    // outside a byte is not a state.
    if (old_state < 0 || old_state > 0xff || new_state < 0 || new_state > 0xff)
        return fail("state number out of range (" + std::to_string(old_state) + " -> " +
                    std::to_string(new_state) + ")");
    e.old_state = static_cast<std::uint8_t>(old_state);
    e.new_state = static_cast<std::uint8_t>(new_state);

    const auto family = read_uint(p + layout.family.offset, 2);
    const auto protocol = read_uint(p + layout.protocol.offset, 2);
    if (protocol > 0xff) return fail("protocol number out of range: " + std::to_string(protocol));
    e.protocol = static_cast<std::uint8_t>(protocol);
    e.local_port = static_cast<std::uint16_t>(read_uint(p + layout.sport.offset, 2));
    e.remote_port = static_cast<std::uint16_t>(read_uint(p + layout.dport.offset, 2));
    if (family == AF_INET) {
        e.family = AF_INET;
        e.local_addr = IpAddr::v4(p + layout.saddr.offset);
        e.remote_addr = IpAddr::v4(p + layout.daddr.offset);
    } else if (family == AF_INET6) {
        e.family = AF_INET6;
        e.local_addr = IpAddr::v6(p + layout.saddr_v6.offset);
        e.remote_addr = IpAddr::v6(p + layout.daddr_v6.offset);
    } else {
        return fail("unknown address family " + std::to_string(family));
    }
    DecodeResult r;
    r.event = e;
    return r;
}

std::string instance_name(const InstanceOwner& owner) {
    return std::string(kInstancePrefix) + std::to_string(owner.pid) + "-" +
           std::to_string(owner.start_time) + "-" + std::to_string(owner.seq);
}

std::optional<InstanceOwner> parse_instance_name(std::string_view name) noexcept {
    if (name.substr(0, kInstancePrefix.size()) != kInstancePrefix) return std::nullopt;
    name.remove_prefix(kInstancePrefix.size());
    // Exactly three decimal numbers separated by '-', nothing else.
    std::uint64_t parts[3] = {};
    for (int i = 0; i < 3; ++i) {
        const auto dash = i < 2 ? name.find('-') : name.size();
        if (dash == std::string_view::npos || dash == 0) return std::nullopt;
        const auto piece = name.substr(0, dash);
        if (!std::all_of(piece.begin(), piece.end(), [](char c) { return c >= '0' && c <= '9'; }))
            return std::nullopt;
        // Canonical numbers only, so a name maps to one owner and back to the same name.
        if (piece.size() > 1 && piece[0] == '0') return std::nullopt;
        const auto [ptr, ec] = std::from_chars(piece.data(), piece.data() + piece.size(), parts[i]);
        if (ec != std::errc{} || ptr != piece.data() + piece.size()) return std::nullopt;
        name.remove_prefix(i < 2 ? dash + 1 : dash);
    }
    if (parts[0] == 0 || parts[0] > 0x3fffffff) return std::nullopt;
    return InstanceOwner{static_cast<int>(parts[0]), parts[1], parts[2]};
}

bool owner_alive(const InstanceOwner& owner, std::string_view proc_root) {
    const auto stat = procfs::read_stat(owner.pid, std::filesystem::path(proc_root));
    return stat && stat->start_time == owner.start_time;
}

SocketKey key_of(const TransitionEvent& e) noexcept {
    return SocketKey{Proto::tcp, e.family, e.local_addr, e.local_port, e.remote_addr,
                     e.remote_port};
}

bool seen_by_polling(std::uint64_t entered_ns, std::uint64_t left_ns,
                     std::span<const std::uint64_t> snapshot_ns) noexcept {
    if (left_ns <= entered_ns) return false;
    const auto it = std::lower_bound(snapshot_ns.begin(), snapshot_ns.end(), entered_ns);
    return it != snapshot_ns.end() && *it < left_ns;
}

void SocketTracker::observe(TransitionEvent& e) {
    // Bounded: sockets that never reach CLOSE (a lost event) must not grow this forever.
    constexpr std::size_t kMaxTracked = 1u << 20;
    if (sockets_.size() >= kMaxTracked) sockets_.clear();

    auto [it, inserted] = sockets_.try_emplace(e.skaddr);
    Entry& entry = it->second;
    e.old_state_ns = (!inserted && entry.state == e.old_state && e.time_ns >= entry.since_ns)
                         ? e.time_ns - entry.since_ns
                         : 0;
    if (e.new_state == static_cast<std::uint8_t>(TcpState::close)) {
        // The socket is finished (or gone to a timewait mini-socket the tracepoint does not
        // report); its address may be reused by the next socket.
        sockets_.erase(it);
        return;
    }
    entry.state = e.new_state;
    entry.since_ns = e.time_ns;
    if (e.local_port != 0) entry.key = trace::key_of(e);
}

std::optional<SocketKey> SocketTracker::key_of_socket(std::uint64_t skaddr) const {
    const auto it = sockets_.find(skaddr);
    if (it == sockets_.end()) return std::nullopt;
    return it->second.key;
}

std::size_t SocketTracker::tracked() const noexcept { return sockets_.size(); }

namespace {
// Bounds: a busy host must not grow these without end (events lost, accepts not traced).
constexpr std::size_t kMaxHinted = 1u << 16;
constexpr std::size_t kMaxPerThread = 256;  // named connects kept per thread
constexpr auto kSynSent = static_cast<std::uint8_t>(TcpState::syn_sent);
constexpr auto kSynRecv = static_cast<std::uint8_t>(TcpState::syn_recv);
constexpr auto kEstablished = static_cast<std::uint8_t>(TcpState::established);
constexpr auto kClose = static_cast<std::uint8_t>(TcpState::close);
}  // namespace

void CallSocketHints::observe(const TransitionEvent& e) {
    if (e.new_state == kSynSent) {
        if (syn_sent_.size() >= kMaxHinted) syn_sent_.clear();
        syn_sent_[e.skaddr] = Seen{{}, e.time_ns, e.pid};
        return;
    }
    if (const auto it = syn_sent_.find(e.skaddr); it != syn_sent_.end() && e.local_port != 0) {
        Seen named = it->second;
        named.key = key_of(e);
        syn_sent_.erase(it);
        if (connects_.size() >= kMaxHinted && !connects_.count(named.tid)) connects_.clear();
        auto& mine = connects_[named.tid];
        if (mine.size() >= kMaxPerThread) mine.pop_front();
        mine.push_back(named);
    } else if (it != syn_sent_.end() && e.new_state == kClose) {
        syn_sent_.erase(it);
    }
    if (e.old_state == kSynRecv && e.new_state == kEstablished && e.local_port != 0) {
        if (ready_.size() >= kMaxHinted && !ready_.count(e.local_port)) ready_.clear();
        auto& q = ready_[e.local_port];
        if (q.size() >= kMaxHinted) q.pop_front();
        q.push_back(Seen{key_of(e), e.time_ns, e.pid});
    } else if (e.old_state == static_cast<std::uint8_t>(TcpState::listen) && e.new_state == kClose) {
        // The listener closed: what still waited is reset, never accepted. (A connection
        // that ends while it waits stays in the queue, and accept() returns it.)
        ready_.erase(e.local_port);
    }
}

std::optional<SocketKey> CallSocketHints::connected_by(std::int32_t tid, std::uint64_t enter_ns,
                                                       std::uint64_t exit_ns) const {
    const auto mine = connects_.find(tid);
    if (mine == connects_.end()) return std::nullopt;
    for (auto it = mine->second.rbegin(); it != mine->second.rend(); ++it) {
        if (it->time_ns > exit_ns) continue;
        if (enter_ns != 0 && it->time_ns < enter_ns) continue;  // an earlier call's
        return it->key;
    }
    return std::nullopt;
}

std::optional<std::uint64_t> CallSocketHints::syn_sent_by(std::int32_t tid, std::uint64_t enter_ns,
                                                          std::uint64_t exit_ns) const {
    for (const auto& [skaddr, seen] : syn_sent_)
        if (seen.tid == tid && seen.time_ns <= exit_ns && (enter_ns == 0 || seen.time_ns >= enter_ns))
            return skaddr;
    return std::nullopt;
}

std::optional<SocketKey> CallSocketHints::take_accepted(std::uint16_t port, std::uint64_t exit_ns) {
    const auto it = ready_.find(port);
    if (it == ready_.end() || it->second.empty() || it->second.front().time_ns > exit_ns)
        return std::nullopt;
    const SocketKey k = it->second.front().key;
    it->second.pop_front();
    return k;
}

void CallSocketHints::accepted(const SocketKey& k) {
    const auto it = ready_.find(k.local_port);
    if (it == ready_.end()) return;
    auto& q = it->second;
    const auto at = std::find_if(q.begin(), q.end(), [&](const Seen& s) { return s.key == k; });
    if (at != q.end()) q.erase(at);
    if (q.empty()) ready_.erase(it);
}

std::size_t CallSocketHints::waiting(std::uint16_t port) const {
    const auto it = ready_.find(port);
    return it == ready_.end() ? 0 : it->second.size();
}

}  // namespace socklab::trace

// --- syscalls tracepoints ------------------------------------------------------------------
namespace socklab::trace {

SyscallLayout parse_syscall_format(std::string_view text) {
    SyscallLayout layout;
    bool have_name = false, have_type = false, have_pid = false, have_ret = false;
    std::size_t nargs = 0;
    const auto on_line = [&](std::string_view line, bool is_field, std::string_view name,
                             const FieldSpec& spec) {
        if (!is_field) {
            if (line.substr(0, 5) != "name:") return;
            std::string_view event = trim(line.substr(5));
            if (event.substr(0, 10) == "sys_enter_") {
                event.remove_prefix(10);
            } else if (event.substr(0, 9) == "sys_exit_") {
                event.remove_prefix(9);
                layout.exit = true;
            } else {
                throw ParseError("failed to parse the syscall tracepoint format: '" +
                                 std::string(event) + "' is not a syscalls event");
            }
            const auto kind = syscall_from_name(event);
            if (!kind)
                throw ParseError("failed to parse the syscall tracepoint format: socklab does "
                                 "not trace '" + std::string(event) + "'");
            layout.call = *kind;
            have_name = true;
            return;
        }
        const auto want = [&](std::uint32_t size) {
            if (spec.size != size)
                throw ParseError("failed to parse the syscall tracepoint format: field '" +
                                 std::string(name) + "' has size " + std::to_string(spec.size) +
                                 ", this socklab reads " + std::to_string(size));
        };
        if (name == "common_type") {
            want(2);
            layout.common_type = spec;
            have_type = true;
        } else if (name == "common_pid") {
            want(4);
            layout.common_pid = spec;
            have_pid = true;
        } else if (name.substr(0, 6) == "common" || name == "__syscall_nr") {
            return;
        } else if (name == "ret") {
            want(8);
            layout.ret = spec;
            have_ret = true;
        } else if (nargs < layout.args.size()) {
            want(8);
            layout.args[nargs++] = spec;
        }
    };
    const bool have_id = walk_format(text, "syscall tracepoint format", layout.event_id, on_line);
    if (!have_name || !have_id || !have_type || !have_pid)
        throw ParseError("failed to parse the syscall tracepoint format: name, ID, common_type "
                         "or common_pid missing");
    if (layout.exit && !have_ret)
        throw ParseError("failed to parse the syscall tracepoint format: exit without 'ret'");
    if (!layout.exit && nargs == 0)
        throw ParseError("failed to parse the syscall tracepoint format: entry without arguments");
    return layout;
}

SyscallDecodeResult decode_syscall_record(std::span<const std::byte> record,
                                          const SyscallLayout& layout,
                                          std::uint64_t time_ns) noexcept {
    SyscallDecodeResult r;
    const std::size_t n = record.size();
    if (layout.common_type.size != 2 || layout.common_pid.size != 4 || !fits(layout.common_type, n) ||
        !fits(layout.common_pid, n)) {
        r.error = "truncated syscall record: " + std::to_string(n) + " bytes";
        return r;
    }
    const std::byte* p = record.data();
    const auto type = read_uint(p + layout.common_type.offset, 2);
    if (type != layout.event_id) {
        r.error = "not a " + std::string(syscall_name(layout.call)) + " record (event id " +
                  std::to_string(type) + ")";
        return r;
    }
    RawSyscall s;
    s.time_ns = time_ns;
    s.call = layout.call;
    s.exit = layout.exit;
    s.tid = static_cast<std::int32_t>(static_cast<std::uint32_t>(read_uint(p + layout.common_pid.offset, 4)));
    if (layout.exit) {
        if (layout.ret.size != 8 || !fits(layout.ret, n)) {
            r.error = "truncated syscall record: no room for 'ret'";
            return r;
        }
        s.ret = static_cast<std::int64_t>(read_uint(p + layout.ret.offset, 8));
    } else {
        for (std::size_t i = 0; i < layout.args.size(); ++i) {
            const auto& f = layout.args[i];
            if (f.size == 0) break;
            if (f.size != 8 || !fits(f, n)) {
                r.error = "truncated syscall record: no room for argument " + std::to_string(i);
                return r;
            }
            s.args[i] = static_cast<std::int64_t>(read_uint(p + f.offset, 8));
        }
    }
    r.record = s;
    return r;
}

TaskLayout parse_task_format(std::string_view text) {
    TaskLayout layout;
    bool have_name = false;
    const auto on_line = [&](std::string_view line, bool is_field, std::string_view name,
                             const FieldSpec& spec) {
        if (!is_field) {
            if (line.substr(0, 5) != "name:") return;
            const std::string_view event = trim(line.substr(5));
            if (event == "task_newtask") layout.kind = TaskLayout::Kind::new_task;
            else if (event == "task_rename") layout.kind = TaskLayout::Kind::rename;
            else
                throw ParseError("failed to parse the task tracepoint format: '" + std::string(event) +
                                 "' is neither task_newtask nor task_rename");
            have_name = true;
            return;
        }
        if (name == "common_type") layout.common_type = spec;
        else if (name == "common_pid") layout.common_pid = spec;
        else if (name == "pid") layout.pid = spec;
        else if (name == "clone_flags") layout.clone_flags = spec;
        else if (name == "comm" || name == "newcomm") layout.comm = spec;
        else if (name == "oldcomm") layout.old_comm = spec;
    };
    const bool have_id = walk_format(text, "task tracepoint format", layout.event_id, on_line);
    if (!have_name || !have_id)
        throw ParseError("failed to parse the task tracepoint format: name or ID missing");
    const auto want = [](const FieldSpec& f, std::uint32_t size, std::string_view field) {
        if (f.size != size)
            throw ParseError("failed to parse the task tracepoint format: field '" + std::string(field) +
                             "' " + (f.size == 0 ? std::string("is missing")
                                                 : "has size " + std::to_string(f.size)) +
                             ", this socklab reads " + std::to_string(size));
    };
    want(layout.common_type, 2, "common_type");
    want(layout.common_pid, 4, "common_pid");
    want(layout.pid, 4, "pid");
    want(layout.comm, 16, layout.kind == TaskLayout::Kind::rename ? "newcomm" : "comm");
    if (layout.kind == TaskLayout::Kind::new_task) want(layout.clone_flags, 8, "clone_flags");
    else want(layout.old_comm, 16, "oldcomm");
    return layout;
}

TaskDecodeResult decode_task_record(std::span<const std::byte> record, const TaskLayout& layout,
                                    std::uint64_t time_ns) noexcept {
    TaskDecodeResult r;
    const std::size_t n = record.size();
    const bool new_task = layout.kind == TaskLayout::Kind::new_task;
    if (layout.common_type.size != 2 || layout.common_pid.size != 4 || layout.pid.size != 4 ||
        layout.comm.size != 16 || !fits(layout.common_type, n) || !fits(layout.common_pid, n) ||
        !fits(layout.pid, n) || !fits(layout.comm, n) ||
        (new_task && (layout.clone_flags.size != 8 || !fits(layout.clone_flags, n))) ||
        (!new_task && (layout.old_comm.size != 16 || !fits(layout.old_comm, n)))) {
        r.error = "truncated task record: " + std::to_string(n) + " bytes";
        return r;
    }
    const std::byte* p = record.data();
    if (read_uint(p + layout.common_type.offset, 2) != layout.event_id) {
        r.error = "not a task record of event id " + std::to_string(layout.event_id);
        return r;
    }
    RawTask t;
    t.kind = layout.kind;
    t.time_ns = time_ns;
    t.by_tid = static_cast<std::int32_t>(static_cast<std::uint32_t>(read_uint(p + layout.common_pid.offset, 4)));
    t.pid = static_cast<std::int32_t>(static_cast<std::uint32_t>(read_uint(p + layout.pid.offset, 4)));
    if (new_task) t.clone_flags = read_uint(p + layout.clone_flags.offset, 8);
    std::memcpy(t.comm.data(), p + layout.comm.offset, t.comm.size() - 1);
    t.comm.back() = '\0';
    if (!new_task) {
        std::memcpy(t.old_comm.data(), p + layout.old_comm.offset, t.old_comm.size() - 1);
        t.old_comm.back() = '\0';
    }
    r.record = t;
    return r;
}

void TaskNames::learn(const RawTask& t) {
    if (t.pid <= 0) return;
    if (by_tid_.size() > 65536 && !by_tid_.count(t.pid)) by_tid_.clear();
    auto& n = by_tid_[t.pid];
    auto* first = n.kept.data();
    auto* at = std::upper_bound(first, first + n.count, t.time_ns,
                                [](std::uint64_t ns, const Naming& m) { return ns < m.from_ns; });
    if (n.count < kKept) {
        std::move_backward(at, first + n.count, first + n.count + 1);
        ++n.count;
    } else {
        if (at == first) return;  // older than every naming kept
        std::move(first + 1, at, first);  // the oldest gives way
        --at;
    }
    *at = Naming{t.time_ns, t.kind == TaskLayout::Kind::rename ? t.old_comm : std::array<char, 16>{},
                 t.comm};
}

std::optional<std::array<char, 16>> TaskNames::name_at(std::int32_t tid, std::uint64_t time_ns,
                                                       std::uint64_t ttl_ns) const {
    const auto it = by_tid_.find(tid);
    if (it == by_tid_.end()) return std::nullopt;
    const auto* first = it->second.kept.data();
    const auto* last = first + it->second.count;
    const auto* next = std::upper_bound(first, last, time_ns,
                                        [](std::uint64_t t, const Naming& m) { return t < m.from_ns; });
    if (next != first && time_ns - (next - 1)->from_ns < ttl_ns) return (next - 1)->name;
    if (next != last && next->before[0] != '\0' && next->from_ns - time_ns < ttl_ns) return next->before;
    return std::nullopt;
}

void SyscallJoiner::feed_in_time_order(std::vector<RawSyscall>& held, std::uint64_t before_ns,
                                       std::vector<SyscallEvent>& out) {
    std::stable_sort(held.begin(), held.end(),
                     [](const RawSyscall& a, const RawSyscall& b) { return a.time_ns < b.time_ns; });
    const auto cut = std::partition_point(held.begin(), held.end(),
                                          [before_ns](const RawSyscall& r) { return r.time_ns < before_ns; });
    for (auto it = held.begin(); it != cut; ++it)
        if (auto call = feed(*it)) out.push_back(*call);
    held.erase(held.begin(), cut);
}

std::optional<SyscallEvent> SyscallJoiner::feed(const RawSyscall& r) {
    if (!r.exit) {
        // A thread makes one call at a time; an entry without exit (killed) is replaced.
        open_[r.tid] = r;
        if (open_.size() > 65536) open_.clear();  // threads that died mid-call
        return std::nullopt;
    }
    const auto it = open_.find(r.tid);
    if (it == open_.end() || it->second.call != r.call) {
        ++unmatched_;
        return std::nullopt;
    }
    const RawSyscall enter = it->second;
    open_.erase(it);
    SyscallEvent e;
    e.time_ns = r.time_ns;
    e.enter_ns = enter.time_ns;
    e.pid = r.tid;
    e.tid = r.tid;
    e.call = r.call;
    // int arguments travel as 8-byte fields: keep the low 32 bits, signed.
    e.fd = r.call == SyscallKind::socket
               ? static_cast<std::int32_t>(r.ret >= 0 ? r.ret : -1)
               : static_cast<std::int32_t>(static_cast<std::uint32_t>(enter.args[0]));
    e.result = r.ret;
    if (r.ret < 0 && r.ret >= -4095) e.error = static_cast<std::int32_t>(-r.ret);
    switch (r.call) {
        case SyscallKind::socket:  // domain, type, protocol
            e.arg0 = enter.args[0];
            e.arg1 = enter.args[1];
            e.arg2 = enter.args[2];
            break;
        case SyscallKind::listen:    // backlog
        case SyscallKind::shutdown:  // how
            e.arg0 = static_cast<std::int32_t>(static_cast<std::uint32_t>(enter.args[1]));
            break;
        case SyscallKind::setsockopt:  // level, optname
            e.arg0 = static_cast<std::int32_t>(static_cast<std::uint32_t>(enter.args[1]));
            e.arg1 = static_cast<std::int32_t>(static_cast<std::uint32_t>(enter.args[2]));
            break;
        default: break;
    }
    return e;
}

}  // namespace socklab::trace
