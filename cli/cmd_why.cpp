// Placeholder until the 'why' subcommand lands: says so and exits 1.
#include <cstdio>

#include "command.hpp"

namespace socklab::cli {

void register_why(CLI::App& root, Runner& run) {
    auto* sub = root.add_subcommand("why", "(not built yet)");
    sub->allow_extras();
    sub->callback([&run] {
        run = [] {
            std::fputs("socklab: 'why' is not built yet\n", stderr);
            return kExitNothing;
        };
    });
}

}  // namespace socklab::cli
