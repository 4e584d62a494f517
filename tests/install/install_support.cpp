#include "install_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>

#include "socklab/catalog.hpp"

namespace socklab::test {

std::string project_version_from_source() {
    std::ifstream in(std::string(SOCKLAB_SOURCE_DIR) + "/CMakeLists.txt");
    std::stringstream text;
    text << in.rdbuf();
    std::smatch m;
    const std::string s = text.str();
    if (!std::regex_search(s, m, std::regex(R"(project\s*\(\s*socklab\s+VERSION\s+([0-9][0-9.]*))")))
        return {};
    return m[1];
}

std::vector<std::string> program_names() {
    std::vector<std::string> names{"socklab"};
    if (SOCKLAB_HAVE_VIEWER) names.emplace_back("socklab-viewer");
    if (SOCKLAB_HAVE_HELPER) names.emplace_back("socklab-helper");
    for (const auto& lab : lab::kLabs) names.push_back("socklab-lab-" + std::string(lab.id));
    return names;
}

CommandResult staged_install(const std::filesystem::path& destdir) {
    return run_command({"env", "DESTDIR=" + destdir.string(), SOCKLAB_CMAKE, "--install",
                        SOCKLAB_BUILD_DIR},
                       {}, std::chrono::seconds(120));
}

std::filesystem::path staged_prefix(const std::filesystem::path& destdir) {
    return destdir / std::filesystem::path(SOCKLAB_INSTALL_PREFIX).relative_path();
}

std::vector<std::string> bash_complete(const std::filesystem::path& script,
                                       const std::string& function,
                                       const std::vector<std::string>& words) {
    // Each word single-quoted for bash.
    std::string array;
    for (const auto& w : words) {
        std::string q = "'";
        for (char c : w) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
        array += q + "' ";
    }
    const std::string program = "source '" + script.string() + "' && COMP_WORDS=(" + array +
                                ") && COMP_CWORD=" + std::to_string(words.size() - 1) + " && " +
                                function + " && printf '%s\\n' \"${COMPREPLY[@]}\"";
    const auto r = run_command({"bash", "--norc", "--noprofile", "-c", program});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<std::string> out;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);)
        if (!line.empty()) out.push_back(line);
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::string> help_subcommands(const std::string& help) {
    std::vector<std::string> names;
    std::istringstream lines(help);
    bool in_section = false;
    for (std::string line; std::getline(lines, line);) {
        if (line == "Subcommands:") {
            in_section = true;
        } else if (in_section && line.empty()) {
            break;
        } else if (in_section && line.rfind("  ", 0) == 0 && line.size() > 2 && line[2] != ' ') {
            names.push_back(line.substr(2, line.find(' ', 2) - 2));
        }
    }
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace socklab::test
