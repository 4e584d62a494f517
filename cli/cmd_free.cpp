// Placeholder until the 'free' subcommand lands: says so and exits 1.
#include <cstdio>

#include "command.hpp"

namespace socklab::cli {

void register_free(CLI::App& root, Runner& run) {
    auto* sub = root.add_subcommand("free", "(not built yet)");
    sub->allow_extras();
    sub->callback([&run] {
        run = [] {
            std::fputs("socklab: 'free' is not built yet\n", stderr);
            return kExitNothing;
        };
    });
}

}  // namespace socklab::cli
