#include "socklab/args.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <cmath>
#include <optional>
#include <system_error>

#include "socklab/i18n.hpp"
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
        return quoted(text) + _(" is not a port: give a whole number from 1 to 65535");
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
    return quoted(text) + _(" is not a socket state: use ") + names;
}

std::string check_whole(std::string_view text, long long min, long long max,
                        std::string_view what) {
    long long value = 0;
    if (!parse_all(text, value))
        return socklab::i18n::format(_("{} is not a whole number of {}: give one from {} to {}"), quoted(text),
                           what, min, max);
    if (value < min || value > max)
        return socklab::i18n::format(_("{} is out of range: give {} to {} {}"), quoted(text), min, max, what);
    return {};
}

std::string check_decimal(std::string_view text, double min, double max, std::string_view what) {
    double value = 0;
    if (!parse_all(text, value) || !std::isfinite(value))
        return socklab::i18n::format(_("{} is not a number of {}: give one from {} to {}"), quoted(text), what,
                           min, max);
    if (value < min || value > max)
        return socklab::i18n::format(_("{} is out of range: give {} to {} {}"), quoted(text), min, max, what);
    return {};
}

void add_version_flag(CLI::App& app) {
    app.set_version_flag("--version", std::string(kVersionLine), _("print the version and exit"));
}

std::string check_lang(std::string_view text) {
    if (i18n::is_language(text)) return {};
    return i18n::format(_("{} is not a language socklab speaks: use ko or en"), quoted(text));
}

void init_language(int argc, const char* const* argv) {
    std::string_view lang;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--") break;
        if (arg == "--lang" && i + 1 < argc) lang = argv[i + 1];
        else if (arg.starts_with("--lang=")) lang = arg.substr(7);
    }
    // A bad value: the environment's language, and CLI11 rejects the option (exit 2).
    if (!i18n::is_language(lang)) lang = {};
    i18n::init(lang);
}

std::string parse_error_text(const CLI::ParseError& e) {
    const std::string what = e.what();
    const auto rest_after = [&](std::string_view prefix) -> std::optional<std::string> {
        if (what.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
        return what.substr(prefix.size());
    };
    const auto before = [&](std::string_view suffix) -> std::optional<std::string> {
        if (what.size() <= suffix.size() ||
            what.compare(what.size() - suffix.size(), suffix.size(), suffix) != 0)
            return std::nullopt;
        return what.substr(0, what.size() - suffix.size());
    };
    if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr) {
        // CLI11's English words are matched here, then told from the catalogue.
        if (const auto args = rest_after("The following argument was not expected: "))  // i18n: allow
            return i18n::format(_("The following argument was not expected: {}"), *args);
        if (const auto args = rest_after("The following arguments were not expected: "))  // i18n: allow
            return i18n::format(_("The following arguments were not expected: {}"), *args);
    } else if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr) {
        if (what == "A subcommand is required") return _("A subcommand is required");  // i18n: allow
        if (const auto name = before(" is required"); name && name->find(' ') == std::string::npos)  // i18n: allow
            return i18n::format(_("{} is required"), *name);
    } else if (dynamic_cast<const CLI::RequiresError*>(&e) != nullptr) {
        const auto at = what.find(" requires ");
        if (at != std::string::npos)
            return i18n::format(_("{} requires {}"), what.substr(0, at), what.substr(at + 10));
    } else if (dynamic_cast<const CLI::ExcludesError*>(&e) != nullptr) {
        const auto at = what.find(" excludes ");
        if (at != std::string::npos)
            return i18n::format(_("{} excludes {}"), what.substr(0, at), what.substr(at + 10));
    }
    return what;
}

std::string command_word(int argc, const char* const* argv) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--lang") {
            ++i;  // its value
            continue;
        }
        if (!a.empty() && a[0] == '-') continue;
        return std::string(a);
    }
    return {};
}

void localize_help(CLI::App& app) {
    auto fmt = app.get_formatter();
    fmt->label("Usage", _("Usage"));
    fmt->label("OPTIONS", _("OPTIONS"));
    fmt->label("REQUIRED", _("REQUIRED"));
    fmt->label("Positionals", _("Positionals"));
    fmt->label("Env", _("Env"));
    fmt->label("Needs", _("Needs"));
    fmt->label("Excludes", _("Excludes"));
    app.set_help_flag("-h,--help", _("Print this help message and exit"));
    app.option_defaults()->group(_("Options"));
    for (auto* opt : app.get_options())
        if (opt->get_group() == "Options") opt->group(_("Options"));
    for (auto* sub : app.get_subcommands([](CLI::App*) { return true; })) {
        if (sub->get_group() == "Subcommands") sub->group(_("Subcommands"));
        localize_help(*sub);
    }
}

void add_lang_option(CLI::App& app) {
    localize_help(app);
    static std::string lang;
    app.add_option("--lang", lang, _("the language to speak: ko (Korean) or en (English); "
                                      "default from LC_ALL, LC_MESSAGES or LANG"))
        ->check(CLI::Validator([](std::string& s) { return check_lang(s); }, "ko|en", "language"))
        ->option_text("ko|en");
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
        fmt::format("{}-{}", min, max), _("whole number"));
}

CLI::Validator decimal_number(double min, double max, std::string what) {
    return CLI::Validator(
        [min, max, what = std::move(what)](std::string& s) {
            return check_decimal(s, min, max, what);
        },
        fmt::format("{}-{}", min, max), _("decimal number"));
}

}  // namespace socklab::cli
