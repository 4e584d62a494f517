// Placeholder until the 'trace' subcommand lands: says so and exits 1.
#include <cstdio>

#include "command.hpp"

namespace socklab::cli {

void register_trace(CLI::App& root, Runner& run) {
    auto* sub = root.add_subcommand("trace", "(not built yet)");
    sub->allow_extras();
    sub->callback([&run] {
        run = [] {
            std::fputs("socklab: 'trace' is not built yet\n", stderr);
            return kExitNothing;
        };
    });
}

}  // namespace socklab::cli
