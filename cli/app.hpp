#pragma once
// The whole `socklab` command line: the root app with every subcommand, how bad input becomes
// one clear line and exit 2, and how a chosen command runs. main() is two calls into this; the
// CLI fuzzer drives parse() with arbitrary argument lists.
#include <CLI/CLI.hpp>
#include <optional>
#include <ostream>

#include "command.hpp"

namespace socklab::cli {

class SocklabCli {
public:
    SocklabCli();
    SocklabCli(const SocklabCli&) = delete;
    SocklabCli& operator=(const SocklabCli&) = delete;

    // nullopt: a command was chosen, call run(). Otherwise the exit code to return now: 0 after
    // --help (written to `out`), 2 after one error line plus a usage hint (written to `err`).
    [[nodiscard]] std::optional<int> parse(int argc, const char* const* argv, std::ostream& out,
                                           std::ostream& err);
    // Runs the chosen command; a socklab::Error becomes "socklab: <message>" and exit 1.
    [[nodiscard]] int run();

private:
    CLI::App app_;
    Runner run_;
};

}  // namespace socklab::cli
