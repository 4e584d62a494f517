#include "socklab/args.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <cmath>
#include <system_error>

#include "socklab/state.hpp"
#include "socklab/version.hpp"

namespace socklab::cli {
namespace {

// Quote what the user typed, but keep the line one line: control characters (a stray
// newline from a script) are shown as '?', and very long values are cut.
std::string quoted(std::string_view text) {
    constexpr std::size_t kMax = 40;
    std::string out = "'";
    for (std::size_t i = 0; i < text.size() && i < kMax; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
    }
    if (text.size() > kMax) out += "...";
    out += '\'';
    return out;
}

template <typename T>
bool parse_all(std::string_view text, T& value) {
    if (text.empty()) return false;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return ec == std::errc{} && end == text.data() + text.size();
}

}  // namespace

std::string check_port(std::string_view text) {
    unsigned value = 0;
    if (!parse_all(text, value) || value < 1 || value > 65535)
        return quoted(text) + " is not a port: give a whole number from 1 to 65535";
    return {};
}

// The state names a filter takes, as ss prints them: the --state help and its error list them.
constexpr std::string_view kStateNames[] = {"LISTEN",    "SYN_SENT",   "SYN_RECV", "ESTABLISHED",
                                            "FIN_WAIT1", "FIN_WAIT2",  "CLOSE_WAIT", "CLOSING",
                                            "LAST_ACK",  "TIME_WAIT",  "CLOSE",    "UNCONN"};

std::string check_state(std::string_view text) {
    if (parse_state_mask(text)) return {};
    std::string names;
    for (std::size_t i = 0; i < std::size(kStateNames); ++i)
        names += fmt::format("{}{}", i == 0 ? "" : i + 1 == std::size(kStateNames) ? " or " : ", ",
                             kStateNames[i]);
    return quoted(text) + " is not a socket state: use " + names;
}

std::string check_whole(std::string_view text, long long min, long long max,
                        std::string_view what) {
    long long value = 0;
    if (!parse_all(text, value))
        return fmt::format("{} is not a whole number of {}: give one from {} to {}", quoted(text),
                           what, min, max);
    if (value < min || value > max)
        return fmt::format("{} is out of range: give {} to {} {}", quoted(text), min, max, what);
    return {};
}

std::string check_decimal(std::string_view text, double min, double max, std::string_view what) {
    double value = 0;
    if (!parse_all(text, value) || !std::isfinite(value))
        return fmt::format("{} is not a number of {}: give one from {} to {}", quoted(text), what,
                           min, max);
    if (value < min || value > max)
        return fmt::format("{} is out of range: give {} to {} {}", quoted(text), min, max, what);
    return {};
}

void add_version_flag(CLI::App& app) {
    app.set_version_flag("--version", std::string(kVersionLine), "print the version and exit");
}

const CLI::Validator& port_validator() {
    static const CLI::Validator v([](std::string& s) { return check_port(s); }, "PORT", "port");
    return v;
}

const CLI::Validator& state_validator() {
    // The help shows the names, "{LISTEN,SYN_SENT,...}", as it does for other choices; any
    // case and '-' for '_' are accepted too.
    static const CLI::Validator v([](std::string& s) { return check_state(s); },
                                  fmt::format("{{{}}}", fmt::join(kStateNames, ",")), "state");
    return v;
}

CLI::Validator whole_number(long long min, long long max, std::string what) {
    return CLI::Validator(
        [min, max, what = std::move(what)](std::string& s) {
            return check_whole(s, min, max, what);
        },
        fmt::format("{}-{}", min, max), "whole number");
}

CLI::Validator decimal_number(double min, double max, std::string what) {
    return CLI::Validator(
        [min, max, what = std::move(what)](std::string& s) {
            return check_decimal(s, min, max, what);
        },
        fmt::format("{}-{}", min, max), "decimal number");
}

}  // namespace socklab::cli
