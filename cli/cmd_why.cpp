// `socklab why PORT [--json]`: can PORT be bound now, and if not, why — in plain words with
// the evidence. Exit 0 when it can be bound, 1 when it cannot, 2 on bad input.
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "command.hpp"
#include "socklab/doctor.hpp"
#include "socklab/helper_client.hpp"
#include "socklab/source.hpp"
#include "socklab/i18n.hpp"

namespace socklab::cli {
namespace {

// Word-wrap `text` to `width` columns; the first line starts with `first`, later ones with
// `indent` (a hanging indent for numbered findings).
std::string wrap(const std::string& text, const std::string& indent, std::size_t width = 92,
                 const std::optional<std::string>& first = std::nullopt) {
    std::string out, line = first.value_or(indent);
    bool has_words = false;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto end = text.find(' ', pos);
        const std::string word = text.substr(pos, end == std::string::npos ? end : end - pos);
        pos = end == std::string::npos ? text.size() : end + 1;
        if (word.empty()) continue;
        if (has_words && line.size() + 1 + word.size() > width) {
            out += line + "\n";
            line = indent;
            has_words = false;
        }
        if (has_words) line += ' ';
        line += word;
        has_words = true;
    }
    if (has_words) out += line + "\n";
    return out;
}

std::string pad(std::string s, std::size_t n) {
    if (s.size() < n) s.append(n - s.size(), ' ');
    return s;
}

std::string probe_cell(const Diagnosis& d, const std::string& addr, bool reuse) {
    for (const auto& p : d.probes)
        if (p.address == addr && p.reuseaddr == reuse)
            return p.ok() ? "binds" : std::strerror(p.error);
    return "?";
}

std::string socket_line(const Diagnosis& d, const SocketRecord& s) {
    std::string line = std::string(proto_name(s.proto)) + " " + std::string(s.state_name()) + " " +
                       format_endpoint(s.local_addr, s.local_port);
    if (s.remote_port != 0) line += " <-> " + format_endpoint(s.remote_addr, s.remote_port);
    if (s.timer != TimerKind::none && s.timer_ms > 0)
        line += "  timer " + std::string(timer_name(s.timer)) + " " +
                std::to_string((s.timer_ms + 999) / 1000) + " s";
    if (s.inode == 0) {
        line += _("  owner: none (kernel mini-socket)");
    } else {
        line += "  inode " + std::to_string(s.inode);
        for (const auto& o : d.owners)
            for (std::size_t i = 0; i < o.inodes.size(); ++i)
                if (o.inodes[i] == s.inode)
                    line += "  pid " + std::to_string(o.pid) + " (" + o.command + ") fd " +
                            std::to_string(o.fds[i]);
    }
    return line;
}

}  // namespace

// Shared with cmd_free.cpp (declared there): the diagnosis as text for people.
std::string diagnosis_text(const Diagnosis& d, bool explain) {
    const std::string port = std::to_string(d.port);
    std::string out;
    if (d.bindable())
        out += i18n::format(_("Port {}/tcp can be bound now.\n"), port);
    else if (d.bindable_with_reuseaddr())
        out += i18n::format(_("Port {}/tcp cannot be bound now — only by a server that sets SO_REUSEADDR.\n"), port);
    else
        out += i18n::format(_("Port {}/tcp cannot be bound now.\n"), port);
    out += "\n  " + pad("bind() to", 12) + pad("plain", 26) + "with SO_REUSEADDR\n";
    for (const char* addr : {"127.0.0.1", "0.0.0.0", "::"})
        out += "  " + pad(addr, 12) + pad(probe_cell(d, addr, false), 26) +
               probe_cell(d, addr, true) + "\n";
    if (d.findings.empty()) {
        out += i18n::format(_("\nNothing holds port {}.\n"), port);
        return out;
    }
    out += "\n";
    int n = 0;
    for (const auto& f : d.findings) {
        ++n;
        out += wrap(std::to_string(n) + ". [" + std::string(finding_kind_name(f.kind)) + "] " +
                        f.summary + (f.blocks ? "" : _(" (does not block)")),
                    "   ", 92, std::string());
        if (explain) out += wrap(f.explanation, "   ");
        std::size_t shown = 0;
        for (const auto& s : f.sockets) {
            if (++shown > 8) {
                out += i18n::format(_("   ... and {} more\n"), f.sockets.size() - 8);
                break;
            }
            out += "   - " + socket_line(d, s) + "\n";
        }
        out += "\n";
    }
    if (d.hidden_owners > 0 && d.euid != 0)
        out += wrap(i18n::format(_("Some owners are hidden from uid {}: run as root (sudo socklab why {}) "
                                   "to see every process."), d.euid, port),
                    "");
    return out;
}

void register_why(CLI::App& root, Runner& run) {
    struct Opts {
        std::uint16_t port = 0;
        bool json = false;
    };
    auto opts = std::make_shared<Opts>();
    auto* sub = root.add_subcommand(
        "why", _("Can PORT be bound now? If not, why: the listener, TIME_WAIT, CLOSE_WAIT, ..."));
    sub->add_option("PORT", opts->port, _("TCP port to diagnose (1-65535)"))
        ->required()
        ->check(port_validator());
    sub->add_flag("--json", opts->json, "one JSON object: probes, findings, processes");
    set_examples(*sub,
                 _("  socklab why 8080           why does bind() on 8080 fail?\n"
                 "  socklab why 8080 --json    the same diagnosis for scripts\n"
                 "  socklab why 8080 && ./server --port 8080   start only when the port is free\n"
                 "\nExit status: 0 the port can be bound, 1 it cannot, 2 bad input.\n"));
    sub->callback([&run, opts] {
        run = [opts] {
            // A member of group socklab: socklab-helper names the owners /proc hides from us.
            const auto helper = helper_for_member(_("socklab: owners through %s\n"));
            const Diagnosis d = [&] {
                if (!helper) return diagnose(opts->port);
                auto source = make_default_source();
                return diagnose(opts->port, *source, helper_owners(*helper));
            }();
            if (opts->json)
                // Command names are any bytes a process chose: replace what is not UTF-8.
                std::printf("%s\n", to_json(d)
                                         .dump(2, ' ', false,
                                               nlohmann::json::error_handler_t::replace)
                                         .c_str());
            else
                std::fputs(diagnosis_text(d, true).c_str(), stdout);
            return d.bindable() ? kExitOk : kExitNothing;
        };
    });
}

}  // namespace socklab::cli
