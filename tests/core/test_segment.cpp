// The segment decoder on hand-built frames of every link type it reads (Ethernet as `lo`
// gives on Linux, BSD loopback, Linux cooked v1/v2, raw IP), IPv4 and IPv6 (with extension
// headers), every option of note, and on truncated and malformed input.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstdint>
#include <vector>

#include "socklab/segment.hpp"

namespace socklab {
namespace {

using Bytes = std::vector<std::byte>;

void put8(Bytes& b, unsigned v) { b.push_back(static_cast<std::byte>(v & 0xff)); }
void put16(Bytes& b, unsigned v) {
    put8(b, v >> 8);
    put8(b, v);
}
void put32(Bytes& b, std::uint32_t v) {
    put16(b, v >> 16);
    put16(b, v & 0xffff);
}

struct TcpSpec {
    std::uint16_t sport = 41000, dport = 9005;
    std::uint32_t seq = 1000, ack = 0;
    std::uint8_t flags = tcp_flag::SYN;
    std::uint16_t win = 65495;
    Bytes options;  // padded to 4 bytes here
    std::size_t payload = 0;
};

Bytes tcp(const TcpSpec& t) {
    Bytes opts = t.options;
    while (opts.size() % 4) put8(opts, 0);
    Bytes b;
    put16(b, t.sport);
    put16(b, t.dport);
    put32(b, t.seq);
    put32(b, t.ack);
    put8(b, static_cast<unsigned>((20 + opts.size()) / 4) << 4);
    put8(b, t.flags);
    put16(b, t.win);
    put16(b, 0);  // checksum: not checked (lo leaves it to offload)
    put16(b, 0);
    b.insert(b.end(), opts.begin(), opts.end());
    for (std::size_t i = 0; i < t.payload; ++i) put8(b, 'x');
    return b;
}

Bytes ipv4(const Bytes& l4, std::uint8_t proto = 6, std::uint16_t frag = 0x4000) {
    Bytes b;
    put8(b, 0x45);
    put8(b, 0);
    put16(b, static_cast<unsigned>(20 + l4.size()));
    put16(b, 1);
    put16(b, frag);
    put8(b, 64);
    put8(b, proto);
    put16(b, 0);
    put32(b, 0x7f000001);
    put32(b, 0x7f000002);
    b.insert(b.end(), l4.begin(), l4.end());
    return b;
}

Bytes ipv6(const Bytes& l4, Bytes ext = {}, std::uint8_t first_next = 6) {
    Bytes b;
    put32(b, 0x60000000);
    put16(b, static_cast<unsigned>(ext.size() + l4.size()));
    put8(b, first_next);
    put8(b, 64);
    for (int i = 0; i < 15; ++i) put8(b, 0);
    put8(b, 1);  // ::1
    for (int i = 0; i < 15; ++i) put8(b, 0);
    put8(b, 1);
    b.insert(b.end(), ext.begin(), ext.end());
    b.insert(b.end(), l4.begin(), l4.end());
    return b;
}

Bytes ethernet(const Bytes& ip, std::uint16_t type = 0x0800) {
    Bytes b(12, std::byte{0});  // lo: all-zero MAC addresses
    put16(b, type);
    b.insert(b.end(), ip.begin(), ip.end());
    return b;
}

Bytes syn_options() {
    Bytes o;
    put8(o, 2); put8(o, 4); put16(o, 65495);             // MSS
    put8(o, 4); put8(o, 2);                               // SACK permitted
    put8(o, 8); put8(o, 10); put32(o, 111); put32(o, 0);  // timestamps
    put8(o, 1);                                           // NOP
    put8(o, 3); put8(o, 3); put8(o, 7);                   // window scale 7
    return o;
}

TEST(SegmentDecode, LoopbackEthernetSynWithEveryOption) {
    TcpSpec t;
    t.options = syn_options();
    const auto frame = ethernet(ipv4(tcp(t)));
    const auto r = pkt::decode_frame(frame, pkt::kDltEthernet, 42);
    ASSERT_TRUE(r) << r.error;
    const Segment& s = *r.segment;
    EXPECT_EQ(s.time_ns, 42u);
    EXPECT_EQ(s.family, AF_INET);
    EXPECT_EQ(s.src_addr.to_string(), "127.0.0.1");
    EXPECT_EQ(s.dst_addr.to_string(), "127.0.0.2");
    EXPECT_EQ(s.src_port, 41000);
    EXPECT_EQ(s.dst_port, 9005);
    EXPECT_EQ(s.seq, 1000u);
    EXPECT_EQ(s.flags, tcp_flag::SYN);
    EXPECT_EQ(s.win, 65495);
    EXPECT_EQ(s.len, 0u);
    EXPECT_EQ(s.options.mss, 65495);
    EXPECT_EQ(s.options.wscale, 7);
    EXPECT_TRUE(s.options.sack_permitted);
    EXPECT_EQ(s.options.ts_val, 111u);
    EXPECT_EQ(s.options.ts_ecr, 0u);
    EXPECT_FALSE(s.relative);
}

TEST(SegmentDecode, PayloadLengthAndLinkPaddingIgnored) {
    TcpSpec t;
    t.flags = tcp_flag::PSH | tcp_flag::ACK;
    t.payload = 5;
    auto frame = ethernet(ipv4(tcp(t)));
    frame.resize(frame.size() + 6, std::byte{0});  // Ethernet minimum-frame padding
    const auto r = pkt::decode_frame(frame, pkt::kDltEthernet, 0);
    ASSERT_TRUE(r) << r.error;
    EXPECT_EQ(r.segment->len, 5u);
    EXPECT_EQ(flag_names(r.segment->flags), (std::vector<std::string_view>{"ACK", "PSH"}));
    EXPECT_EQ(flags_label(tcp_flag::SYN | tcp_flag::ACK), "SYN-ACK");
    EXPECT_EQ(flags_label(tcp_flag::FIN | tcp_flag::ACK), "FIN-ACK");
    EXPECT_EQ(flags_label(tcp_flag::ACK), "ACK");
    EXPECT_EQ(flags_label(0), "none");
}

TEST(SegmentDecode, Ipv6WithExtensionHeaders) {
    TcpSpec t;
    t.flags = tcp_flag::FIN | tcp_flag::ACK;
    t.payload = 3;
    Bytes ext;
    // hop-by-hop (8 bytes) -> destination options (8 bytes) -> TCP
    put8(ext, 60); put8(ext, 0); for (int i = 0; i < 6; ++i) put8(ext, 0);
    put8(ext, 6); put8(ext, 0); put8(ext, 1); put8(ext, 4); for (int i = 0; i < 4; ++i) put8(ext, 0);
    const auto r = pkt::decode_frame(ethernet(ipv6(tcp(t), ext, 0), 0x86DD), pkt::kDltEthernet, 0);
    ASSERT_TRUE(r) << r.error;
    EXPECT_EQ(r.segment->family, AF_INET6);
    EXPECT_EQ(r.segment->src_addr.to_string(), "::1");
    EXPECT_EQ(r.segment->len, 3u);
    EXPECT_TRUE(r.segment->has(tcp_flag::FIN));
}

TEST(SegmentDecode, EveryLinkType) {
    TcpSpec t;
    const auto ip = ipv4(tcp(t));
    Bytes null_hdr;  // AF_INET in host (little-endian) order
    put8(null_hdr, 2); put8(null_hdr, 0); put8(null_hdr, 0); put8(null_hdr, 0);
    null_hdr.insert(null_hdr.end(), ip.begin(), ip.end());
    EXPECT_TRUE(pkt::decode_frame(null_hdr, pkt::kDltNull, 0));

    Bytes sll(14, std::byte{0});
    put16(sll, 0x0800);
    sll.insert(sll.end(), ip.begin(), ip.end());
    EXPECT_TRUE(pkt::decode_frame(sll, pkt::kDltLinuxSll, 0));

    Bytes sll2;
    put16(sll2, 0x0800);
    for (int i = 0; i < 18; ++i) put8(sll2, 0);
    sll2.insert(sll2.end(), ip.begin(), ip.end());
    EXPECT_TRUE(pkt::decode_frame(sll2, pkt::kDltLinuxSll2, 0));

    EXPECT_TRUE(pkt::decode_frame(ip, pkt::kDltRaw, 0));

    Bytes vlan(12, std::byte{0});
    put16(vlan, 0x8100); put16(vlan, 5); put16(vlan, 0x0800);
    vlan.insert(vlan.end(), ip.begin(), ip.end());
    EXPECT_TRUE(pkt::decode_frame(vlan, pkt::kDltEthernet, 0));

    const auto unknown = pkt::decode_frame(ip, 999, 0);
    EXPECT_FALSE(unknown);
    EXPECT_EQ(unknown.error, "link type 999 is not decoded");
}

TEST(SegmentDecode, RejectsWhatIsNotATcpSegment) {
    TcpSpec t;
    EXPECT_EQ(pkt::decode_frame(ethernet(ipv4(tcp(t), 17)), pkt::kDltEthernet, 0).error, "not TCP");
    EXPECT_EQ(pkt::decode_frame(ethernet(ipv4(tcp(t)), 0x0806), pkt::kDltEthernet, 0).error,
              "not an IP packet (link type 0x0806)");
    EXPECT_EQ(pkt::decode_frame(ethernet(ipv4(tcp(t), 6, 0x2001)), pkt::kDltEthernet, 0).error,
              "IPv4 fragment other than the first");
}

TEST(SegmentDecode, EveryTruncationIsAnErrorNeverARead) {
    TcpSpec t;
    t.options = syn_options();
    t.payload = 4;
    const auto frame = ethernet(ipv4(tcp(t)));
    // Cut anywhere inside the headers: an error, never a crash (ASan checks the reads).
    const std::size_t headers = 14 + 20 + 20 + 20;
    for (std::size_t n = 0; n < headers; ++n) {
        const auto r = pkt::decode_frame(std::span(frame).first(n), pkt::kDltEthernet, 0);
        EXPECT_FALSE(r) << "cut at " << n;
        EXPECT_FALSE(r.error.empty());
    }
}

// The capture keeps a frame's first bytes only (snap length 256): a data segment's payload is
// not captured, and its length comes from the IP header, checked against the length on the
// wire. (Before: every segment longer than the snap length was refused as "truncated", and
// the ladders of the data labs lost their data segments.)
// The payload view is what the capture kept of the payload, never a header or link padding.
TEST(SegmentDecode, ThePayloadViewHoldsTheKeptPayloadOnly) {
    TcpSpec t;
    t.flags = tcp_flag::ACK | tcp_flag::PSH;
    t.options = syn_options();
    t.payload = 5;
    auto frame = ethernet(ipv4(tcp(t)));
    const std::size_t headers = frame.size() - t.payload;
    auto r = pkt::decode_frame(frame, pkt::kDltEthernet, 0);
    ASSERT_TRUE(r) << r.error;
    ASSERT_EQ(r.payload.size(), 5u);
    EXPECT_EQ(r.payload.data(), frame.data() + headers);
    // Ethernet padding after the datagram is captured but is not payload.
    auto padded = frame;
    padded.resize(frame.size() + 20, std::byte{0x55});
    r = pkt::decode_frame(padded, pkt::kDltEthernet, 0);
    ASSERT_TRUE(r) << r.error;
    EXPECT_EQ(r.segment->len, 5u);
    EXPECT_EQ(r.payload.size(), 5u);
    // Cut by the snap length: the first bytes only; cut at the headers: none.
    r = pkt::decode_frame(std::span(frame).first(headers + 2), pkt::kDltEthernet, 0, frame.size());
    ASSERT_TRUE(r) << r.error;
    EXPECT_EQ(r.segment->len, 5u);
    EXPECT_EQ(r.payload.size(), 2u);
    r = pkt::decode_frame(std::span(frame).first(headers), pkt::kDltEthernet, 0, frame.size());
    ASSERT_TRUE(r) << r.error;
    EXPECT_TRUE(r.payload.empty());
}

TEST(SegmentDecode, ASegmentCutByTheSnapLengthKeepsItsPayloadLength) {
    for (const bool v6 : {false, true}) {
        TcpSpec t;
        t.flags = tcp_flag::ACK | tcp_flag::PSH;
        t.payload = 65483 - (v6 ? 20 : 0);  // a 64 KiB GSO segment on lo
        const auto frame = v6 ? ethernet(ipv6(tcp(t)), 0x86DD) : ethernet(ipv4(tcp(t)));
        const std::size_t snap = 256;
        const auto cut = std::span(frame).first(snap);
        const auto r = pkt::decode_frame(cut, pkt::kDltEthernet, 0, frame.size());
        ASSERT_TRUE(r) << r.error;
        EXPECT_EQ(r.segment->len, t.payload);
        EXPECT_EQ(r.segment->flags, t.flags);
        // The same frame without its wire length is what it looks like: cut short.
        EXPECT_EQ(pkt::decode_frame(cut, pkt::kDltEthernet, 0).error,
                  v6 ? "truncated IPv6 packet" : "truncated IPv4 packet");
        // A wire length shorter than the IP header says: the header lies.
        EXPECT_EQ(pkt::decode_frame(cut, pkt::kDltEthernet, 0, frame.size() - 1).error,
                  v6 ? "truncated IPv6 packet" : "truncated IPv4 packet");
        // Link padding after the datagram on the wire is not payload.
        const auto padded = pkt::decode_frame(cut, pkt::kDltEthernet, 0, frame.size() + 6);
        ASSERT_TRUE(padded);
        EXPECT_EQ(padded.segment->len, t.payload);
    }
    // The headers themselves must be captured.
    TcpSpec t;
    t.options = syn_options();
    t.payload = 1000;
    const auto frame = ethernet(ipv4(tcp(t)));
    EXPECT_EQ(pkt::decode_frame(std::span(frame).first(14 + 20 + 30), pkt::kDltEthernet, 0, frame.size()).error,
              "TCP header cut short by the capture length");
    // Every other link type carries the wire length down past its own header.
    auto ip = ipv4(tcp(t));
    const auto raw = pkt::decode_frame(std::span(ip).first(100), pkt::kDltRaw, 0, ip.size());
    ASSERT_TRUE(raw) << raw.error;
    EXPECT_EQ(raw.segment->len, 1000u);
    Bytes sll(16, std::byte{0});
    sll[14] = std::byte{0x08};
    sll.insert(sll.end(), ip.begin(), ip.end());
    const auto cooked = pkt::decode_frame(std::span(sll).first(120), pkt::kDltLinuxSll, 0, sll.size());
    ASSERT_TRUE(cooked) << cooked.error;
    EXPECT_EQ(cooked.segment->len, 1000u);
}

TEST(SegmentDecode, BadHeaderLengthsAndOptions) {
    TcpSpec t;
    auto seg = tcp(t);
    seg[12] = std::byte{0x40};  // data offset 4 words: below the minimum
    EXPECT_EQ(pkt::decode_ip(ipv4(seg), 0).error, "TCP header length below 20 bytes");
    seg[12] = std::byte{0xf0};  // 60 bytes: beyond the packet
    EXPECT_EQ(pkt::decode_ip(ipv4(seg), 0).error, "TCP header longer than the packet");

    TcpSpec bad;
    put8(bad.options, 2); put8(bad.options, 40);  // MSS claiming 40 bytes
    EXPECT_EQ(pkt::decode_ip(ipv4(tcp(bad)), 0).error, "TCP option length out of bounds");
    TcpSpec zero;
    put8(zero.options, 5); put8(zero.options, 0);  // length 0 would loop forever
    EXPECT_EQ(pkt::decode_ip(ipv4(tcp(zero)), 0).error, "TCP option length out of bounds");

    auto ip = ipv4(tcp(t));
    ip[0] = std::byte{0x44};  // IHL 16 bytes
    EXPECT_EQ(pkt::decode_ip(ip, 0).error, "bad IPv4 header length");
    ip = ipv4(tcp(t));
    ip[2] = std::byte{0xff};  // total length beyond the capture
    EXPECT_EQ(pkt::decode_ip(ip, 0).error, "truncated IPv4 packet");
    EXPECT_EQ(pkt::decode_ip({}, 0).error, "empty IP packet");
}

}  // namespace
}  // namespace socklab
