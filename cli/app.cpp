#include "app.hpp"

#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

#include "socklab/args.hpp"
#include "socklab/error.hpp"
#include "socklab/helper_client.hpp"
#include "socklab/i18n.hpp"

namespace socklab::cli {
namespace {
// What the user typed can hold newlines or escape sequences (a script's stray "\n"); the
// error stays one line and harmless for the terminal.
std::string printable(std::string_view text) {
    std::string out(text);
    for (auto& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return out;
}
}  // namespace

SocklabCli::SocklabCli()
    : app_(_("socklab: see what the kernel does with your TCP and UDP sockets"), "socklab") {
    app_.require_subcommand(1);
    add_version_flag(app_);
    add_lang_option(app_);
    app_.fallthrough();  // --lang may follow the command too: socklab who 8080 --lang ko
    set_examples(app_,
                 _("  socklab list --state TIME_WAIT        sockets waiting out TIME_WAIT\n"
                 "  socklab who 8080                      which process holds port 8080\n"
                 "  socklab why 8080                      why bind() on 8080 fails\n"
                 "  socklab lab run close-wait-leak       a lab, one step at a time\n"));
    // Which way tracing and acting on other users' sockets would go (docs/privileges.md).
    app_.footer([] { return _("\nPRIVILEGES\n  in use now: ") + privilege_path_text(); });
    register_list(app_, run_);
    register_who(app_, run_);
    register_why(app_, run_);
    register_free(app_, run_);
    register_trace(app_, run_);
    register_run(app_, run_);
    register_export(app_, run_);
    register_lab(app_, run_);
    localize_help(app_);  // the subcommands' help too
}

std::optional<int> SocklabCli::parse(int argc, const char* const* argv, std::ostream& out,
                                     std::ostream& err) {
    try {
        app_.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help, --help-all: CLI11 prints them and says exit 0.
        if (e.get_exit_code() == 0) return app_.exit(e, out, err);
        // One clear line, then exit 2 whatever CLI11's own code would have been. A misspelt
        // command would otherwise read as "A subcommand is required", which hides the typo.
        if (const std::string word = command_word(argc, argv); !word.empty()) {
            bool known = false;
            std::string names;
            for (const auto* sub : app_.get_subcommands([](CLI::App*) { return true; })) {
                known = known || sub->get_name() == word;
                names += (names.empty() ? "" : ", ") + sub->get_name();
            }
            if (!known) {
                err << i18n::format(_("socklab: unknown command '{}': use one of {}"), printable(word), names) << '\n';
                return kExitUsage;
            }
        }
        err << "socklab: " << printable(parse_error_text(e)) << _("\nRun 'socklab --help' for usage.\n");
        return kExitUsage;
    }
    if (!run_) {
        err << _("socklab: no command given\nRun 'socklab --help' for usage.\n");
        return kExitUsage;
    }
    return std::nullopt;
}

int SocklabCli::run() {
    try {
        return run_ ? run_() : kExitUsage;
    } catch (const socklab::Error& e) {
        std::fprintf(stderr, "socklab: %s\n", e.what());
        return kExitNothing;
    } catch (const std::exception& e) {
        std::fprintf(stderr, _("socklab: unexpected error: %s\n"), e.what());
        return kExitNothing;
    }
}

}  // namespace socklab::cli
