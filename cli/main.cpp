// socklab — see the kernel's socket table, run the labs, ask the port doctor.
#include <cstdio>
#include <exception>
#include <string>

#include "command.hpp"
#include "socklab/error.hpp"

int main(int argc, char** argv) {
    using namespace socklab::cli;
    CLI::App app{"socklab: see what the kernel does with your TCP and UDP sockets"};
    app.name("socklab");
    app.require_subcommand(1);
    set_examples(app,
                 "  socklab list --state TIME_WAIT        sockets waiting out TIME_WAIT\n"
                 "  socklab who 8080                      which process holds port 8080\n"
                 "  socklab why 8080                      why bind() on 8080 fails\n"
                 "  socklab lab run passive-close         a lab, one step at a time\n");

    Runner run;
    register_list(app, run);
    register_who(app, run);
    register_why(app, run);
    register_free(app, run);
    register_trace(app, run);
    register_lab(app, run);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        // One clear line, then exit 2 whatever CLI11's own code would have been. A misspelt
        // command would otherwise read as "A subcommand is required", which hides the typo.
        if (argc > 1 && argv[1][0] != '-') {
            bool known = false;
            std::string names;
            for (const auto* sub : app.get_subcommands([](CLI::App*) { return true; })) {
                known = known || sub->get_name() == argv[1];
                names += (names.empty() ? "" : ", ") + sub->get_name();
            }
            if (!known) {
                std::fprintf(stderr, "socklab: unknown command '%s': use one of %s\n", argv[1],
                             names.c_str());
                return kExitUsage;
            }
        }
        std::fprintf(stderr, "socklab: %s\nRun 'socklab --help' for usage.\n", e.what());
        return kExitUsage;
    }
    try {
        return run ? run() : kExitUsage;
    } catch (const socklab::Error& e) {
        std::fprintf(stderr, "socklab: %s\n", e.what());
        return kExitNothing;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "socklab: unexpected error: %s\n", e.what());
        return kExitNothing;
    }
}
