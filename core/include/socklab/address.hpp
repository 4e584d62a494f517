#pragma once
// IPv4/IPv6 address value type shared by records, events and filters.
#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace socklab {

struct IpAddr {
    std::uint8_t family = 0;            // AF_INET or AF_INET6; 0 = unset
    std::array<std::uint8_t, 16> bytes{};  // network order; IPv4 uses the first 4

    [[nodiscard]] static IpAddr v4(const void* four_bytes_network_order) noexcept;
    [[nodiscard]] static IpAddr v6(const void* sixteen_bytes) noexcept;

    [[nodiscard]] bool is_v4_mapped() const noexcept;  // ::ffff:a.b.c.d
    [[nodiscard]] bool is_any() const noexcept;        // 0.0.0.0 or ::
    [[nodiscard]] bool is_loopback() const noexcept;   // 127/8, ::1, ::ffff:127/104
    // The IPv4 address a v4-mapped IPv6 address stands for; itself otherwise.
    [[nodiscard]] IpAddr unmapped() const noexcept;

    [[nodiscard]] std::string to_string() const;  // "127.0.0.1", "::1", "::ffff:127.0.0.1"

    friend auto operator<=>(const IpAddr&, const IpAddr&) = default;
};

[[nodiscard]] std::optional<IpAddr> parse_ip(std::string_view text);

// "127.0.0.1:80", "[::1]:80"
[[nodiscard]] std::string format_endpoint(const IpAddr& addr, std::uint16_t port);

}  // namespace socklab
