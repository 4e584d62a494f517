#pragma once
// The lab pages carry a transcript of a real run (docs/labs/transcripts.py writes it between
// "<!-- generated: transcript -->" markers). A page must not drift from its lab: the steps it
// shows — titles and calls, in order — must be the ones the lab runs today. Numbers (ports the
// kernel chose, descriptor numbers) differ between runs and are compared as "#".
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "socklab/catalog.hpp"

namespace socklab::test {

struct ShownStep {
    std::string title;
    std::string call;
};

inline std::string digits_as_hash(const std::string& s) {
    static const std::regex digits("[0-9]+");
    static const std::regex spaces("\\s+");
    return std::regex_replace(std::regex_replace(s, digits, "#"), spaces, " ");
}

inline std::string lab_page_path(const lab::LabEntry& e) {
    char name[64];
    std::snprintf(name, sizeof name, "%02d-", e.number);
    return std::string(SOCKLAB_SOURCE_DIR) + "/docs/labs/" + name + std::string(e.id) + ".md";
}

// The steps of the page's transcript; empty when the page has none. `error` says what is wrong
// with the page when it cannot be read.
inline std::vector<ShownStep> steps_shown_on_page(const std::string& path, std::string& error) {
    std::ifstream in(path);
    if (!in) {
        error = "cannot read " + path;
        return {};
    }
    std::vector<ShownStep> out;
    bool inside = false, in_call = false;
    static const std::regex header("^── Step [0-9]+/[0-9]+: (.*)$");
    for (std::string line; std::getline(in, line);) {
        if (line == "<!-- generated: transcript -->") inside = true;
        else if (line == "<!-- /generated -->") inside = false;
        if (!inside) continue;
        std::smatch m;
        if (std::regex_match(line, m, header)) {
            out.push_back({m[1].str(), {}});
            in_call = false;
        } else if (!out.empty() && line.rfind("  $ ", 0) == 0) {
            out.back().call = line.substr(4);
            in_call = true;
        } else if (in_call && line.rfind("    ", 0) == 0 && !out.empty()) {
            out.back().call += " " + line.substr(4);  // the call wrapped at the page's width
        } else {
            in_call = false;
        }
    }
    return out;
}

}  // namespace socklab::test
