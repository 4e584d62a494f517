// libFuzzer target: the `socklab` command line. The input is a list of argument words
// separated by NUL bytes. Every list goes through the same SocklabCli::parse() that `socklab`
// uses (no command is ever run), then every word through the port, state and number checks
// directly. What must hold, for any input:
//  - parse() never crashes or throws; it chooses a command, or returns 0 after --help, or 2
//    after an error that is "socklab: <one line>" plus the usage hint, nothing on stdout;
//  - a value the checks accept is one that an independent reading also accepts (a port is
//    1..65535 in decimal digits, a state names known state bits, a number is in range);
//    a value they refuse gets a one-line message that quotes it;
//  - --lang takes exactly "ko" and "en"; a locale name means Korean exactly when its language
//    part (before '_', '.' or '@') is "ko".
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "app.hpp"
#include "socklab/args.hpp"
#include "socklab/i18n.hpp"
#include "socklab/state.hpp"

namespace {

void require(bool ok) {
    if (!ok) __builtin_trap();
}

bool one_line(const std::string& s) { return s.find('\n') == std::string::npos && !s.empty(); }

bool all_digits(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

void check_words(const std::string& w) {
    // Language: --lang ko|en, and the language of a locale name (LANG=ko_KR.UTF-8).
    {
        const std::string err = socklab::cli::check_lang(w);
        require(err.empty() == (w == "ko" || w == "en"));
        if (!err.empty()) require(one_line(err) && err.front() == '\'');
        const auto lang = socklab::i18n::language_of_locale(w);
        const auto code = std::string_view(w).substr(0, w.find_first_of("_.@"));
        require(lang == (code == "ko" ? "ko" : "en"));
    }
    // Port: decimal digits only, value 1..65535 (leading zeros allowed, as from_chars does).
    {
        const std::string err = socklab::cli::check_port(w);
        errno = 0;
        const unsigned long long v = all_digits(w) ? std::strtoull(w.c_str(), nullptr, 10) : 0;
        const bool independent = all_digits(w) && errno == 0 && v >= 1 && v <= 65535;
        require(err.empty() == independent);
        if (!err.empty()) require(one_line(err) && err.front() == '\'');
    }
    // State: accepted names map to known state bits only.
    {
        const std::string err = socklab::cli::check_state(w);
        const auto mask = socklab::parse_state_mask(w);
        require(err.empty() == mask.has_value());
        if (mask) require(*mask != 0 && (*mask & ~socklab::kAllStates) == 0);
        else require(one_line(err));
    }
    // Whole number in a range (as `lab run --delay`).
    {
        const std::string err = socklab::cli::check_whole(w, 0, 600000, "milliseconds");
        if (err.empty()) {
            const std::string_view digits = w.front() == '-' ? std::string_view(w).substr(1) : w;
            require(all_digits(digits));
            const long long v = std::strtoll(w.c_str(), nullptr, 10);
            require(v >= 0 && v <= 600000);
        } else {
            require(one_line(err));
        }
    }
    // Decimal number in a range (as `trace --duration`).
    {
        const std::string err = socklab::cli::check_decimal(w, 0.001, 31'536'000, "seconds");
        if (err.empty()) {
            char* end = nullptr;
            const double v = std::strtod(w.c_str(), &end);
            require(end == w.c_str() + w.size());
            require(v >= 0.001 && v <= 31'536'000);
        } else {
            require(one_line(err));
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    constexpr std::size_t kMaxWords = 12;
    std::vector<std::string> words;
    std::string current;
    for (std::size_t i = 0; i < size && words.size() < kMaxWords; ++i) {
        if (data[i] == 0) {
            words.push_back(std::move(current));
            current.clear();
        } else {
            current += static_cast<char>(data[i]);
        }
    }
    if (words.size() < kMaxWords && (!current.empty() || size == 0)) words.push_back(current);

    std::vector<const char*> argv{"socklab"};
    for (const auto& w : words) argv.push_back(w.c_str());

    socklab::cli::SocklabCli cli;
    std::ostringstream out, err;
    const auto code = cli.parse(static_cast<int>(argv.size()), argv.data(), out, err);
    const std::string e = err.str();
    if (!code) {
        require(e.empty());  // a command was chosen; it is not run here
    } else if (*code == 0) {
        require(e.empty() && !out.str().empty());  // --help
    } else {
        require(*code == 2);
        require(out.str().empty());
        require(e.rfind("socklab: ", 0) == 0);
        // One line of error, then at most the usage hint.
        const auto first = e.find('\n');
        require(first != std::string::npos);
        const std::string rest = e.substr(first + 1);
        require(rest.empty() || rest == "Run 'socklab --help' for usage.\n");
    }

    for (const auto& w : words) check_words(w);
    return 0;
}
