// Segment decoder: link layer -> IPv4/IPv6 -> TCP header, reading only inside the frame.
// Every length is checked before the bytes it covers are read; nothing throws.
//
// Two lengths travel down together: the bytes the capture kept (`have`: the snap length cuts
// a data segment after its headers) and the length on the wire (`wire`, pcap's `len`). Fields
// are read from the first; the payload length comes from the IP header, checked against the
// second — so a 64 KiB segment on lo captured as 256 bytes decodes with len 65483.
#include "socklab/segment.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <utility>

namespace socklab {

std::vector<std::string_view> flag_names(std::uint8_t flags) {
    static constexpr std::array<std::pair<std::uint8_t, std::string_view>, 8> kOrder{{
        {tcp_flag::SYN, "SYN"}, {tcp_flag::ACK, "ACK"}, {tcp_flag::FIN, "FIN"},
        {tcp_flag::RST, "RST"}, {tcp_flag::PSH, "PSH"}, {tcp_flag::URG, "URG"},
        {tcp_flag::ECE, "ECE"}, {tcp_flag::CWR, "CWR"},
    }};
    std::vector<std::string_view> out;
    for (const auto& [bit, name] : kOrder)
        if (flags & bit) out.push_back(name);
    return out;
}

std::string flags_label(std::uint8_t flags) {
    // ACK last, as people say it: SYN-ACK, FIN-ACK, PSH-ACK, RST-ACK; ACK alone is ACK.
    std::string out;
    for (const auto name : flag_names(static_cast<std::uint8_t>(flags & ~tcp_flag::ACK))) {
        if (!out.empty()) out += '-';
        out += name;
    }
    if (flags & tcp_flag::ACK) out += out.empty() ? "ACK" : "-ACK";
    return out.empty() ? std::string("none") : out;
}

namespace pkt {
namespace {

using Bytes = std::span<const std::byte>;

std::uint8_t u8(Bytes b, std::size_t at) { return static_cast<std::uint8_t>(b[at]); }
std::uint16_t be16(Bytes b, std::size_t at) {
    return static_cast<std::uint16_t>((u8(b, at) << 8) | u8(b, at + 1));
}
std::uint32_t be32(Bytes b, std::size_t at) {
    return (static_cast<std::uint32_t>(be16(b, at)) << 16) | be16(b, at + 2);
}
std::uint32_t le32(Bytes b, std::size_t at) {
    return static_cast<std::uint32_t>(u8(b, at)) | (static_cast<std::uint32_t>(u8(b, at + 1)) << 8) |
           (static_cast<std::uint32_t>(u8(b, at + 2)) << 16) |
           (static_cast<std::uint32_t>(u8(b, at + 3)) << 24);
}

DecodeResult fail(std::string why) { return DecodeResult{std::nullopt, std::move(why), {}}; }

constexpr std::uint16_t kEtherIpv4 = 0x0800;
constexpr std::uint16_t kEtherIpv6 = 0x86DD;
constexpr std::uint16_t kEtherVlan = 0x8100;
constexpr std::uint16_t kEtherQinQ = 0x88A8;

DecodeResult by_ethertype(std::uint16_t type, Bytes rest, std::size_t wire, std::uint64_t t) {
    if (type == kEtherIpv4 || type == kEtherIpv6) return decode_ip(rest, t, wire);
    return fail("not an IP packet (link type 0x" + [type] {
        static constexpr char kHex[] = "0123456789abcdef";
        std::string s(4, '0');
        for (int i = 0; i < 4; ++i) s[static_cast<std::size_t>(3 - i)] = kHex[(type >> (4 * i)) & 0xf];
        return s;
    }() + ")");
}

// TCP header at the start of `seg`, the captured bytes of an IP payload that is `wire` bytes
// long (wire >= seg.size()).
DecodeResult decode_tcp(Bytes seg, std::size_t wire, Segment s) {
    if (seg.size() < 20) return fail("truncated TCP header");
    const std::size_t hlen = static_cast<std::size_t>(u8(seg, 12) >> 4) * 4;
    if (hlen < 20) return fail("TCP header length below 20 bytes");
    if (hlen > wire) return fail("TCP header longer than the packet");
    if (hlen > seg.size()) return fail("TCP header cut short by the capture length");
    s.src_port = be16(seg, 0);
    s.dst_port = be16(seg, 2);
    s.seq = be32(seg, 4);
    s.ack = be32(seg, 8);
    s.rel_seq = s.seq;
    s.rel_ack = s.ack;
    s.flags = u8(seg, 13);
    s.win = be16(seg, 14);
    s.len = static_cast<std::uint32_t>(wire - hlen);
    // Options (RFC 9293 3.1): kind 0 ends, kind 1 pads, others carry a length >= 2.
    std::size_t at = 20;
    while (at < hlen) {
        const std::uint8_t kind = u8(seg, at);
        if (kind == 0) break;
        if (kind == 1) {
            ++at;
            continue;
        }
        if (at + 1 >= hlen) return fail("TCP option without its length");
        const std::size_t olen = u8(seg, at + 1);
        if (olen < 2 || at + olen > hlen) return fail("TCP option length out of bounds");
        switch (kind) {
            case 2:
                if (olen == 4) s.options.mss = be16(seg, at + 2);
                break;
            case 3:
                if (olen == 3) s.options.wscale = u8(seg, at + 2);
                break;
            case 4:
                if (olen == 2) s.options.sack_permitted = true;
                break;
            case 8:
                if (olen == 10) {
                    s.options.ts_val = be32(seg, at + 2);
                    s.options.ts_ecr = be32(seg, at + 6);
                }
                break;
            default: break;
        }
        at += olen;
    }
    const std::size_t kept = std::min<std::size_t>(seg.size() - hlen, s.len);  // no link padding
    return DecodeResult{std::move(s), {}, seg.subspan(hlen, kept)};
}

DecodeResult decode_v4(Bytes p, std::size_t wire, std::uint64_t t) {
    if (p.size() < 20) return fail("truncated IPv4 header");
    const std::size_t ihl = static_cast<std::size_t>(u8(p, 0) & 0x0f) * 4;
    if (ihl < 20 || ihl > p.size()) return fail("bad IPv4 header length");
    const std::size_t total = be16(p, 2);
    // A packet may carry link padding after the IP datagram, or (BIG TCP: a GSO packet
    // larger than 64 KiB) say 0; trust total length only when it is consistent.
    std::size_t end = wire;
    if (total != 0) {
        if (total < ihl) return fail("IPv4 total length below its header length");
        if (total > wire) return fail("truncated IPv4 packet");
        end = total;
    }
    const std::size_t have = std::min(end, p.size());
    if (u8(p, 9) != IPPROTO_TCP) return fail("not TCP");
    const std::uint16_t frag = be16(p, 6);
    if ((frag & 0x1fff) != 0) return fail("IPv4 fragment other than the first");
    Segment s;
    s.time_ns = t;
    s.family = AF_INET;
    s.src_addr = IpAddr::v4(p.data() + 12);
    s.dst_addr = IpAddr::v4(p.data() + 16);
    return decode_tcp(p.subspan(ihl, have - ihl), end - ihl, s);
}

DecodeResult decode_v6(Bytes p, std::size_t wire, std::uint64_t t) {
    if (p.size() < 40) return fail("truncated IPv6 header");
    const std::size_t payload = be16(p, 4);
    std::size_t end = wire;
    if (payload != 0) {  // 0: jumbogram or a BIG TCP packet on lo; take its length on the wire
        if (40 + payload > wire) return fail("truncated IPv6 packet");
        end = 40 + payload;
    }
    const std::size_t have = std::min(end, p.size());  // what can be read
    Segment s;
    s.time_ns = t;
    s.family = AF_INET6;
    s.src_addr = IpAddr::v6(p.data() + 8);
    s.dst_addr = IpAddr::v6(p.data() + 24);
    std::uint8_t next = u8(p, 6);
    std::size_t at = 40;
    // Extension headers: hop-by-hop (0), routing (43), destination options (60) share the
    // (next, length in 8-octet units beyond the first) form; a fragment header (44) is 8
    // bytes; only the first fragment carries the TCP header.
    for (int hops = 0; hops < 16; ++hops) {
        if (next == IPPROTO_TCP) return decode_tcp(p.subspan(at, have - at), end - at, s);
        if (next == 0 || next == 43 || next == 60) {
            if (at + 2 > have) return fail("truncated IPv6 extension header");
            const std::size_t len = (static_cast<std::size_t>(u8(p, at + 1)) + 1) * 8;
            if (at + len > end) return fail("IPv6 extension header out of bounds");
            if (at + len > have) return fail("truncated IPv6 extension header");
            next = u8(p, at);
            at += len;
            continue;
        }
        if (next == 44) {
            if (at + 8 > have) return fail("truncated IPv6 fragment header");
            if ((be16(p, at + 2) & 0xfff8) != 0) return fail("IPv6 fragment other than the first");
            next = u8(p, at);
            at += 8;
            continue;
        }
        return fail("not TCP");
    }
    return fail("too many IPv6 extension headers");
}

}  // namespace

DecodeResult decode_ip(std::span<const std::byte> packet, std::uint64_t time_ns,
                       std::size_t wire_len) noexcept {
    if (packet.empty()) return fail("empty IP packet");
    const std::size_t wire = std::max(wire_len, packet.size());
    switch (u8(packet, 0) >> 4) {
        case 4: return decode_v4(packet, wire, time_ns);
        case 6: return decode_v6(packet, wire, time_ns);
        default: return fail("not an IPv4 or IPv6 packet");
    }
}

DecodeResult decode_frame(std::span<const std::byte> frame, int dlt, std::uint64_t time_ns,
                          std::size_t wire_len) noexcept {
    const std::size_t wire = std::max(wire_len, frame.size());
    // The IP packet after a link header of `n` bytes: its captured bytes and wire length.
    const auto after = [&](std::size_t n) { return std::pair{frame.subspan(n), wire - n}; };
    switch (dlt) {
        case kDltEthernet: {
            if (frame.size() < 14) return fail("truncated Ethernet header");
            std::size_t at = 12;
            std::uint16_t type = be16(frame, at);
            for (int tags = 0; (type == kEtherVlan || type == kEtherQinQ) && tags < 2; ++tags) {
                at += 4;
                if (frame.size() < at + 2) return fail("truncated VLAN tag");
                type = be16(frame, at);
            }
            const auto [ip, ip_wire] = after(at + 2);
            return by_ethertype(type, ip, ip_wire, time_ns);
        }
        case kDltNull: {
            // 4-byte address family in the capturing host's byte order (BSD loopback).
            if (frame.size() < 4) return fail("truncated loopback header");
            std::uint32_t af = le32(frame, 0);
            if (af > 0xffff) af = be32(frame, 0);
            if (af != 2 && af != 10 && af != 24 && af != 28 && af != 30)
                return fail("not an IP packet (loopback family " + std::to_string(af) + ")");
            const auto [ip, ip_wire] = after(4);
            return decode_ip(ip, time_ns, ip_wire);
        }
        case kDltRaw:
        case kDltRawAlt: return decode_ip(frame, time_ns, wire);
        case kDltLinuxSll: {
            if (frame.size() < 16) return fail("truncated Linux cooked header");
            const auto [ip, ip_wire] = after(16);
            return by_ethertype(be16(frame, 14), ip, ip_wire, time_ns);
        }
        case kDltLinuxSll2: {
            if (frame.size() < 20) return fail("truncated Linux cooked v2 header");
            const auto [ip, ip_wire] = after(20);
            return by_ethertype(be16(frame, 0), ip, ip_wire, time_ns);
        }
        default: return fail("link type " + std::to_string(dlt) + " is not decoded");
    }
}

}  // namespace pkt
}  // namespace socklab
