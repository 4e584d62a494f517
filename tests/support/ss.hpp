#pragma once
// `ss` as an independent oracle: its table read into rows, states in socklab's spelling. The
// one reader of ss output for every test.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace socklab::test {

// One socket as `ss -tuanpH` prints it.
struct SsRow {
    std::string proto;  // "tcp" or "udp"
    std::string state;  // socklab's spelling: ESTABLISHED, FIN_WAIT2, UNCONN (UDP), CLOSE (TCP)
    std::uint32_t recv_q = 0;
    std::uint32_t send_q = 0;
    std::string local;  // as ss prints them: "127.0.0.1:5001", "[::ffff:127.0.0.1]:6002", "*:*"
    std::string peer;
    std::uint16_t local_port = 0;  // 0 for "*"
    std::uint16_t remote_port = 0;
    bool owned = false;  // ss -p names a process holding it
    std::string line;  // the whole line, for failure messages
};

// ss's state name in socklab's spelling: "ESTAB" -> "ESTABLISHED", "FIN-WAIT-1" -> "FIN_WAIT1";
// "UNCONN" is UNCONN for UDP and CLOSE (bound, not listening) for TCP. Throws
// std::runtime_error on a name ss is not known to print.
[[nodiscard]] std::string state_from_ss(std::string_view state, std::string_view proto);

// The output of `ss -tuanH` (Netid first, no header). Lines that do not have the six columns
// are skipped; an unknown state throws std::runtime_error.
[[nodiscard]] std::vector<SsRow> parse_ss(std::string_view text);

// Run `ss -tuanpH` (10 s at most) in the caller's network namespace and parse it. Throws
// socklab::Error when ss fails.
[[nodiscard]] std::vector<SsRow> ss_rows();

}  // namespace socklab::test
