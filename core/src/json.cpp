#include "socklab/json.hpp"

#include <sys/socket.h>

#include <iterator>

#include <fmt/format.h>

#include "socklab/error.hpp"
#include "socklab/utf8.hpp"

namespace socklab {

std::string_view family_name(std::uint8_t family) noexcept {
    switch (family) {
        case AF_INET: return "ipv4";
        case AF_INET6: return "ipv6";
        default: return "unknown";
    }
}

nlohmann::json to_json(const SocketRecord& r, std::span<const ProcessRef> owners) {
    nlohmann::json j{
        {"proto", proto_name(r.proto)},
        {"family", family_name(r.family)},
        {"state", r.state_name()},
        {"local_addr", r.local_addr.to_string()},
        {"local_port", r.local_port},
        {"remote_addr", r.remote_addr.to_string()},
        {"remote_port", r.remote_port},
        {"recv_q", r.recv_q},
        {"send_q", r.send_q},
        {"inode", r.inode},
        {"uid", r.uid},
        {"timer", timer_name(r.timer)},
        {"timer_ms", r.timer_ms},
    };
    // Only netlink knows the cookie; /proc records leave the field out rather than print 0.
    if (r.cookie != 0) j["cookie"] = r.cookie;
    auto procs = nlohmann::json::array();
    for (const auto& p : owners)
        procs.push_back({{"pid", p.pid}, {"command", p.command}, {"user", p.user}, {"fd", p.fd}});
    j["processes"] = std::move(procs);
    if (r.tcp_info) {
        j["tcp_info"] = {{"state", state_name(r.tcp_info->state)},
                         {"rtt_us", r.tcp_info->rtt_us},
                         {"rttvar_us", r.tcp_info->rttvar_us},
                         {"retransmits", r.tcp_info->retransmits},
                         {"total_retrans", r.tcp_info->total_retrans},
                         {"snd_cwnd", r.tcp_info->snd_cwnd},
                         {"unacked", r.tcp_info->unacked}};
    }
    return j;
}

nlohmann::json to_json(const TransitionEvent& e) {
    return {
        {"time_ns", e.time_ns},
        {"pid", e.pid},
        {"comm", std::string(e.comm_view())},
        {"family", family_name(e.family)},
        {"local_addr", e.local_addr.to_string()},
        {"local_port", e.local_port},
        {"remote_addr", e.remote_addr.to_string()},
        {"remote_port", e.remote_port},
        {"old_state", state_name(e.old_state)},
        {"new_state", state_name(e.new_state)},
        {"old_state_ns", e.old_state_ns},
        {"skaddr", e.skaddr},
        {"cpu", e.cpu},
    };
}

nlohmann::json to_json(const Segment& s) {
    auto flags = nlohmann::json::array();
    for (const auto name : flag_names(s.flags)) flags.push_back(name);
    return {
        {"kind", "segment"},
        {"time_ns", s.time_ns},
        {"src_addr", s.src_addr.to_string()},
        {"src_port", s.src_port},
        {"dst_addr", s.dst_addr.to_string()},
        {"dst_port", s.dst_port},
        {"flags", std::move(flags)},
        {"seq", s.rel_seq},
        {"ack", s.rel_ack},
        {"len", s.len},
        {"win", s.win},
    };
}

nlohmann::json to_json(const SyscallEvent& c) {
    nlohmann::json j{
        {"kind", "syscall"},
        {"time_ns", c.time_ns},
        {"pid", c.pid},
        {"tid", c.tid},
        {"comm", std::string(c.comm_view())},
        {"call", syscall_name(c.call)},
        {"fd", c.fd},
        {"result", c.result},
    };
    if (c.error != 0) j["error"] = errno_name(c.error);
    if (c.key) {
        j["local_port"] = c.key->local_port;
        j["remote_port"] = c.key->remote_port;
    }
    return j;
}

void append_json_string(std::string& out, std::string_view s) {
    out += '"';
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
            ++i;
        } else if (c < 0x20 || c == 0x7f) {
            fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
            ++i;
        } else if (c < 0x80) {
            out += static_cast<char>(c);
            ++i;
        } else if (const auto n = utf8::sequence_at(s, i); n != 0) {
            out.append(s.substr(i, n));
            i += n;
        } else {
            out += "\\ufffd";
            ++i;
        }
    }
    out += '"';
}

void append_json(std::string& out, const TransitionEvent& e, bool with_kind) {
    auto it = std::back_inserter(out);
    fmt::format_to(it, "{{{}\"time_ns\":{},\"pid\":{},\"comm\":", with_kind ? "\"kind\":\"transition\"," : "",
                   e.time_ns, e.pid);
    append_json_string(out, e.comm_view());
    fmt::format_to(std::back_inserter(out),
                   ",\"family\":\"{}\",\"local_addr\":\"{}\",\"local_port\":{},"
                   "\"remote_addr\":\"{}\",\"remote_port\":{},\"old_state\":\"{}\","
                   "\"new_state\":\"{}\",\"old_state_ns\":{},\"skaddr\":{},\"cpu\":{}}}",
                   family_name(e.family), e.local_addr.to_string(), e.local_port,
                   e.remote_addr.to_string(), e.remote_port, state_name(e.old_state),
                   state_name(e.new_state), e.old_state_ns, e.skaddr, e.cpu);
}

void append_json(std::string& out, const Segment& s) {
    auto it = std::back_inserter(out);
    fmt::format_to(it,
                   "{{\"kind\":\"segment\",\"time_ns\":{},\"src_addr\":\"{}\",\"src_port\":{},"
                   "\"dst_addr\":\"{}\",\"dst_port\":{},\"flags\":[",
                   s.time_ns, s.src_addr.to_string(), s.src_port, s.dst_addr.to_string(), s.dst_port);
    bool first = true;
    for (const auto name : flag_names(s.flags)) {
        fmt::format_to(std::back_inserter(out), "{}\"{}\"", first ? "" : ",", name);
        first = false;
    }
    fmt::format_to(std::back_inserter(out), "],\"seq\":{},\"ack\":{},\"len\":{},\"win\":{}}}",
                   s.rel_seq, s.rel_ack, s.len, s.win);
}

void append_json(std::string& out, const SyscallEvent& c) {
    fmt::format_to(std::back_inserter(out), "{{\"kind\":\"syscall\",\"time_ns\":{},\"pid\":{},\"tid\":{},\"comm\":",
                   c.time_ns, c.pid, c.tid);
    append_json_string(out, c.comm_view());
    fmt::format_to(std::back_inserter(out), ",\"call\":\"{}\",\"fd\":{},\"result\":{}",
                   syscall_name(c.call), c.fd, c.result);
    if (c.error != 0) fmt::format_to(std::back_inserter(out), ",\"error\":\"{}\"", errno_name(c.error));
    if (c.key)
        fmt::format_to(std::back_inserter(out), ",\"local_port\":{},\"remote_port\":{}",
                       c.key->local_port, c.key->remote_port);
    out += '}';
}

Segment segment_from_json(const nlohmann::json& j) {
    try {
        Segment s;
        s.time_ns = j.at("time_ns").get<std::uint64_t>();
        const auto src = parse_ip(j.at("src_addr").get<std::string>());
        const auto dst = parse_ip(j.at("dst_addr").get<std::string>());
        if (!src || !dst) throw ParseError("failed to read a segment: bad address");
        s.src_addr = *src;
        s.dst_addr = *dst;
        s.family = src->family;
        s.src_port = j.at("src_port").get<std::uint16_t>();
        s.dst_port = j.at("dst_port").get<std::uint16_t>();
        for (const auto& f : j.at("flags")) {
            const auto name = f.get<std::string>();
            std::uint8_t bit = 0;
            for (unsigned b = 0; b < 8; ++b) {
                const auto n = flag_names(static_cast<std::uint8_t>(1u << b));
                if (!n.empty() && n[0] == name) bit = static_cast<std::uint8_t>(1u << b);
            }
            if (bit == 0) throw ParseError("failed to read a segment: unknown flag '" + name + "'");
            s.flags |= bit;
        }
        s.seq = s.rel_seq = j.at("seq").get<std::uint32_t>();
        s.ack = s.rel_ack = j.at("ack").get<std::uint32_t>();
        s.relative = true;
        s.len = j.at("len").get<std::uint32_t>();
        s.win = j.at("win").get<std::uint16_t>();
        return s;
    } catch (const nlohmann::json::exception& e) {
        throw ParseError(std::string("failed to read a segment: ") + e.what());
    }
}

}  // namespace socklab
