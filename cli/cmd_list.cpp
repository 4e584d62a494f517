// Placeholder until the 'list' subcommand lands: says so and exits 1.
#include <cstdio>

#include "command.hpp"

namespace socklab::cli {

void register_list(CLI::App& root, Runner& run) {
    auto* sub = root.add_subcommand("list", "(not built yet)");
    sub->allow_extras();
    sub->callback([&run] {
        run = [] {
            std::fputs("socklab: 'list' is not built yet\n", stderr);
            return kExitNothing;
        };
    });
}

}  // namespace socklab::cli
