#pragma once
// Command-line validators shared by every socklab program (socklab, the lab programs,
// socklab-viewer), so a bad value reads the same everywhere: one line that quotes what was
// typed and says what is wanted. Each returns a CLI11 validator; CLI11 prefixes the option
// name ("--port: ...") and the program prints it and exits 2.
#include <CLI/CLI.hpp>
#include <string>
#include <string_view>

namespace socklab::cli {

// --version: prints "socklab <version>" (the project version, socklab/version.hpp) and exits 0.
// Every program adds it, so the line reads the same whichever program is asked.
void add_version_flag(CLI::App& app);

// --lang ko|en: the language of every text the program prints. It must be chosen before the
// help texts are written, so a program calls init_language(argc, argv) first thing in main
// (it finds --lang on the command line, else asks LC_ALL / LC_MESSAGES / LANG), builds its
// CLI11 app, and adds this option so --help lists it and a bad value is one clear line.
void init_language(int argc, const char* const* argv);
void add_lang_option(CLI::App& app);
// CLI11's own words in --help (Usage, Options, Subcommands, the -h line) from the catalogue;
// for `app` and every subcommand it has now. add_lang_option calls it for the root.
void localize_help(CLI::App& app);
// A CLI11 parse error as one line in the chosen language: the forms a user meets (an unknown
// option or extra word, a missing argument or command, an option that needs or excludes
// another) from the catalogue, with CLI11's own English words as the source; any other form,
// and our validators' messages (translated already), as CLI11 gives them.
[[nodiscard]] std::string parse_error_text(const CLI::ParseError& e);
// The command word of a socklab command line: the first argument that is neither an option
// nor the value of --lang (empty when there is none), for naming a misspelt command.
[[nodiscard]] std::string command_word(int argc, const char* const* argv);

// "'fr' is not a language socklab speaks: use ko or en" (empty: valid).
[[nodiscard]] std::string check_lang(std::string_view text);

// A TCP/UDP port: a whole number from 1 to 65535 ("'0' is not a port: give ...").
const CLI::Validator& port_validator();

// A state name as `ss` prints it, any case, '_' or '-': LISTEN, TIME_WAIT, time-wait, UNCONN.
const CLI::Validator& state_validator();

// A whole number from `min` to `max`; `what` names it in the message ("milliseconds").
// "'soon' is not a whole number of milliseconds: give one from 0 to 600000".
CLI::Validator whole_number(long long min, long long max, std::string what);

// A decimal number (fractions allowed) from `min` to `max`, e.g. seconds.
CLI::Validator decimal_number(double min, double max, std::string what);

// The checks behind the validators, for tests and fuzzers: an empty string means "valid",
// anything else is the message a user sees.
[[nodiscard]] std::string check_port(std::string_view text);
[[nodiscard]] std::string check_state(std::string_view text);
[[nodiscard]] std::string check_whole(std::string_view text, long long min, long long max,
                                      std::string_view what);
[[nodiscard]] std::string check_decimal(std::string_view text, double min, double max,
                                        std::string_view what);

}  // namespace socklab::cli
