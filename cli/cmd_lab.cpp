// `socklab lab list|run`: find the lab programs (socklab-lab-<id>) and run one. Each lab is its
// own executable, so `run` only resolves the id and replaces itself with the lab (exec), which
// keeps the terminal, Ctrl-C and the exit code the lab's own.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "socklab/catalog.hpp"
#include "socklab/i18n.hpp"

namespace socklab::cli {
namespace {

namespace fs = std::filesystem;

// Where an installed socklab keeps the lab programs, relative to its own directory
// (${CMAKE_INSTALL_LIBEXECDIR}/socklab seen from ${CMAKE_INSTALL_BINDIR}: "../libexec/socklab"),
// so a staged or moved install tree finds them too. Set by cli/CMakeLists.txt.
#ifndef SOCKLAB_LABS_FROM_BINDIR
#error "SOCKLAB_LABS_FROM_BINDIR must be defined by the build"
#endif
constexpr const char* kLabsFromBindir = SOCKLAB_LABS_FROM_BINDIR;

// Beside our own executable (the build tree's bin/, where every program is built), else the
// installed lab directory.
std::optional<fs::path> find_lab_program(std::string_view id) {
    std::error_code ec;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (ec) return std::nullopt;
    const std::string name = "socklab-lab-" + std::string(id);
    for (const auto& dir : {self.parent_path(), self.parent_path() / kLabsFromBindir}) {
        const auto candidate = dir / name;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return std::nullopt;
}

int run_list(bool json) {
    if (json) {
        auto arr = nlohmann::json::array();
        for (const auto& e : lab::kLabs)
            arr.push_back({{"id", e.id},
                           {"number", e.number},
                           {"title", e.title},
                           {"summary", e.summary},
                           {"default_port", lab::default_port(e.number)},
                           {"roles", e.two_roles ? nlohmann::json{"both", "server", "client"}
                                                 : nlohmann::json{"both"}},
                           {"installed", find_lab_program(e.id).has_value()}});
        std::puts(arr.dump().c_str());
        return kExitOk;
    }
    std::printf("%-3s %-16s %-5s %s\n", "NO", "ID", "PORT", "WHAT IT SHOWS");
    for (const auto& e : lab::kLabs)
        std::printf("%-3d %-16s %-5u %s\n", e.number, std::string(e.id).c_str(),
                    unsigned{lab::default_port(e.number)}, _(e.summary.data()));
    std::puts(_("\nRun one with: socklab lab run ID|NUMBER [--auto] [--json] ..."));
    return kExitOk;
}

struct RunArgs {
    std::string id;
    bool auto_mode = false;
    std::optional<int> delay_ms;
    bool json = false;
    std::optional<std::uint16_t> port;
    std::optional<std::string> role;
    std::optional<std::string> host;
    bool predict = false;
    std::optional<std::string> answers;
};

int run_lab(const RunArgs& a) {
    const auto* entry = lab::find_lab(a.id);
    if (!entry) {
        std::fprintf(stderr,
                     _("socklab: no lab '%s': give an id or a number from 1 to %d "
                     "(see 'socklab lab list')\n"),
                     a.id.c_str(), lab::kLabs.back().number);
        return kExitUsage;
    }
    const auto program = find_lab_program(entry->id);
    if (!program) {
        std::fprintf(stderr,
                     _("socklab: failed to find the lab program socklab-lab-%s: it is neither "
                     "beside socklab nor in %s; build the 'socklab-labs' target "
                     "or install socklab\n"),
                     std::string(entry->id).c_str(), kLabsFromBindir);
        return kExitNothing;
    }
    std::vector<std::string> args{program->string()};
    if (a.auto_mode) args.emplace_back("--auto");
    if (a.delay_ms) args.insert(args.end(), {"--delay", std::to_string(*a.delay_ms)});
    if (a.json) args.emplace_back("--json");
    if (a.port) args.insert(args.end(), {"--port", std::to_string(*a.port)});
    if (a.role) args.insert(args.end(), {"--role", *a.role});
    if (a.host) args.insert(args.end(), {"--host", *a.host});
    if (a.predict) args.emplace_back("--predict");
    if (a.answers) args.insert(args.end(), {"--answers", *a.answers});
    args.insert(args.end(), {"--lang", std::string(i18n::language())});
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    std::fflush(stdout);
    ::execv(argv[0], argv.data());
    std::fprintf(stderr, _("socklab: failed to run %s: %s\n"), argv[0], std::strerror(errno));
    return kExitNothing;
}

}  // namespace

void register_lab(CLI::App& root, Runner& run) {
    auto* sub = root.add_subcommand("lab", _("run the labs: each one system call at a time"));
    sub->require_subcommand(1);
    set_examples(*sub,
                 _("  socklab lab list                       the labs, in order\n"
                 "  socklab lab run bind                   lab 1, one step per Enter\n"
                 "  socklab lab run 5 --auto --delay 2000  lab 5, paced for a class\n"
                 "  socklab lab run chat --role server --host 0.0.0.0\n"));

    auto* list = sub->add_subcommand("list", _("list the labs"));
    static bool list_json = false;
    list->add_flag("--json", list_json, "one JSON array: id, number, title, summary, default_port");
    list->callback([&run] { run = [] { return run_list(list_json); }; });

    auto* lab_run = sub->add_subcommand("run", _("run one lab (by id or number)"));
    static RunArgs args;
    lab_run->add_option("ID", args.id, _("lab id (e.g. close-wait-leak) or number (see socklab lab list)"))
        ->required();
    lab_run->add_flag("--auto", args.auto_mode, _("run every step without waiting for Enter"));
    lab_run->add_option("--delay", args.delay_ms, _("pause MS milliseconds between steps in --auto"))
        ->check(whole_number(0, 600000, "milliseconds"))
        ->option_text("MS");
    lab_run->add_flag("--json", args.json,
                      _("the step protocol on stdout; in step mode read next/auto/quit on stdin"));
    lab_run->add_option("--port", args.port, _("the lab's port (default 9000 + lab number)"))
        ->check(port_validator())
        ->option_text("N");
    lab_run->add_option("--role", args.role, _("both ends here, or only the server / the client"))
        ->check(CLI::IsMember({"both", "server", "client"}))
        ->option_text("both|server|client");
    lab_run->add_option("--host", args.host, _("address to bind (server) or connect to (client)"))
        ->option_text("H");
    auto* predict = lab_run->add_flag(
        "--predict", args.predict,
        _("before each step with a state to check, hide its title and ask what the table will "
          "show; score the answers at the end"));
    lab_run->add_option("--answers", args.answers,
                        _("with --predict: the picks for the questions in order, e.g. 1,3,2 (for --auto; "
                          "without it --auto shows each question and its answer)"))
        ->needs(predict)
        ->option_text("N,N,...");
    set_examples(*lab_run,
                 _("  socklab lab run close-wait-leak\n"
                 "  socklab lab run 7 --auto --json\n"
                 "  socklab lab run active-close --predict\n"
                 "  socklab lab run chat --role client --host 192.0.2.7\n"));
    lab_run->callback([&run] { run = [] { return run_lab(args); }; });
}

}  // namespace socklab::cli
