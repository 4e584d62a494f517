#include "ss.hpp"

#include <chrono>
#include <map>
#include <sstream>
#include <stdexcept>

#include "socklab/error.hpp"
#include "testsupport.hpp"

namespace socklab::test {
namespace {

std::uint16_t port_of(const std::string& endpoint) {
    const auto colon = endpoint.rfind(':');
    if (colon == std::string::npos) throw std::runtime_error("ss endpoint without ':': " + endpoint);
    const auto port = endpoint.substr(colon + 1);
    return port == "*" ? 0 : static_cast<std::uint16_t>(std::stoul(port));
}

}  // namespace

std::string state_from_ss(std::string_view state, std::string_view proto) {
    static const std::map<std::string, std::string, std::less<>> names = {
        {"ESTAB", "ESTABLISHED"},    {"SYN-SENT", "SYN_SENT"},     {"SYN-RECV", "SYN_RECV"},
        {"FIN-WAIT-1", "FIN_WAIT1"}, {"FIN-WAIT-2", "FIN_WAIT2"}, {"TIME-WAIT", "TIME_WAIT"},
        {"CLOSE-WAIT", "CLOSE_WAIT"}, {"LAST-ACK", "LAST_ACK"},   {"LISTEN", "LISTEN"},
        {"CLOSING", "CLOSING"}};
    if (state == "UNCONN") return proto == "udp" ? "UNCONN" : "CLOSE";
    const auto it = names.find(state);
    if (it == names.end()) throw std::runtime_error("ss printed an unknown state: " + std::string(state));
    return it->second;
}

std::vector<SsRow> parse_ss(std::string_view text) {
    std::vector<SsRow> rows;
    std::istringstream in{std::string(text)};
    for (std::string line; std::getline(in, line);) {
        std::istringstream f(line);
        SsRow r;
        std::string state;
        if (!(f >> r.proto >> state >> r.recv_q >> r.send_q >> r.local >> r.peer)) continue;
        r.state = state_from_ss(state, r.proto);
        r.local_port = port_of(r.local);
        r.remote_port = port_of(r.peer);
        r.owned = line.find("users:(") != std::string::npos;
        r.line = line;
        rows.push_back(std::move(r));
    }
    return rows;
}

std::vector<SsRow> ss_rows() {
    const auto res = run_command({"ss", "-tuanpH"}, {}, std::chrono::seconds(10));
    if (res.exit_code != 0) throw Error("failed to run ss -tuanpH: " + res.err);
    return parse_ss(res.out);
}

}  // namespace socklab::test
