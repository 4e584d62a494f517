#include <charconv>
#include <string>

#include "command.hpp"
#include "socklab/state.hpp"

namespace socklab::cli {

const CLI::Validator& port_validator() {
    static const CLI::Validator v(
        [](std::string& s) -> std::string {
            unsigned value = 0;
            const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
            if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || value < 1 ||
                value > 65535)
                return "'" + s + "' is not a port: give a whole number from 1 to 65535";
            return {};
        },
        "PORT", "port");
    return v;
}

const CLI::Validator& state_validator() {
    static const CLI::Validator v(
        [](std::string& s) -> std::string {
            if (parse_state_mask(s)) return {};
            return "'" + s +
                   "' is not a socket state: use LISTEN, SYN_SENT, SYN_RECV, ESTABLISHED, "
                   "FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT, CLOSE or UNCONN";
        },
        "STATE", "state");
    return v;
}

void set_examples(CLI::App& app, const std::string& examples) {
    app.footer("\nEXAMPLES\n" + examples);
}

}  // namespace socklab::cli
